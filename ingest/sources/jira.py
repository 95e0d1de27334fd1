"""Jira webhooks (Jira Cloud and Jira Server/Data Center).

A delivery names its event in ``webhookEvent`` (``jira:issue_created``,
``jira:issue_updated``, ``jira:issue_deleted``, ``comment_created``,
``issuelink_created``, ...), the time in ``timestamp`` (epoch milliseconds), the
acting ``user``, the ``issue`` and, for updates, the ``changelog``.

``source_event_id``: Jira Cloud sends a unique ``X-Atlassian-Webhook-Identifier``
header with each delivery, which is used when present. Otherwise (Jira Server,
saved payloads) the id is ``<webhookEvent>:<id of the issue, comment, link or
project>:<timestamp>``, and for a payload that lacks even those,
``"sha256:" + hex SHA-256 of its RFC 8785 bytes``; all are stable on re-ingest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ingest.fields import dig, text, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import MAX_EVENT_ID, Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome
from ledger import VestigeError, canonicalize

__all__ = ["Jira"]

# `jira:issue_updated`, `comment_created`, `issuelink_deleted`, `worklog_updated`, ...
_EVENT = re.compile(r"(?:jira:)?[a-z][a-z0-9_]{0,63}")
# OCSF 1.x API Activity (6003) activity_id by the event's verb.
_ACTIVITY = {"created": 1, "updated": 3, "deleted": 4}


class Jira(Source):
    """Jira issue, comment and issue link webhooks."""

    name = "jira"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        # GitLab's webhooks (`object_kind`) also carry `issue` and `user`, but never
        # `webhookEvent`.
        event = text(record.get("webhookEvent"))
        return event is not None and _EVENT.fullmatch(event) is not None

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        event = text(record.get("webhookEvent"))
        if event is None or not _EVENT.fullmatch(event):
            raise InvalidRecord("webhookEvent is not a Jira webhook event name")
        issue_key = text(dig(record, "issue", "key"))
        project = text(dig(record, "issue", "fields", "project", "key")) or text(
            dig(record, "project", "key")
        )
        transitions = _transitions(record)
        status = transitions[-1]["to"] if transitions else None
        status = status or text(dig(record, "issue", "fields", "status", "name"))
        occurred_at, fallback = _occurred_at(record, event, context)

        facts = {
            "issue_event_type_name": text(record.get("issue_event_type_name")),
            "issue_id": text(dig(record, "issue", "id")),
            "project": project,
            "status": status,
            "changelog_id": text(dig(record, "changelog", "id")),
            "comment_id": text(dig(record, "comment", "id")),
            "issuelink_id": text(dig(record, "issueLink", "id")),
            "link_type": text(dig(record, "issueLink", "issueLinkType", "name")),
            "source_issue_id": text(dig(record, "issueLink", "sourceIssueId")),
            "destination_issue_id": text(dig(record, "issueLink", "destinationIssueId")),
            "occurred_at_from": fallback,
        }
        attributes: dict[str, Any] = {k: v for k, v in facts.items() if v is not None}
        if transitions:
            attributes["transitions"] = transitions

        return Extracted(
            source=self.name,
            source_event_id=_event_id(record, event, context),
            occurred_at=occurred_at,
            actor=_actor(record),
            action=event,
            target=issue_key or project,
            outcome=Outcome.SUCCESS,  # a webhook reports a change already made
            keys=CorrelationKeys(ticket=[issue_key] if issue_key else []),
            ocsf=Ocsf(class_uid=6003, activity_id=_ACTIVITY.get(event.rpartition("_")[2], 99)),
            attributes=attributes,
        )


def _event_id(record: Mapping[str, Any], event: str, context: Context) -> str:
    header = text(context.headers.get("x-atlassian-webhook-identifier"))
    if event.startswith("comment_"):
        subject = text(dig(record, "comment", "id"))
    else:
        subject = (
            text(dig(record, "issue", "id"))
            or text(dig(record, "issueLink", "id"))
            or text(dig(record, "project", "id"))
        )
    timestamp = text(record.get("timestamp"))
    if header is None and subject is not None and timestamp is not None:
        header = f"{event}:{subject}:{timestamp}"
    if header is not None:
        if len(header) > MAX_EVENT_ID:
            raise InvalidRecord("webhook identifier longer than 1024 characters")
        return header
    try:
        return "sha256:" + hashlib.sha256(canonicalize(record)).hexdigest()
    except VestigeError as exc:
        raise InvalidRecord(str(exc)) from exc


def _occurred_at(record: Mapping[str, Any], event: str, context: Context) -> tuple[str, str | None]:
    """``timestamp``; else the changed object's own time; else the receive time.

    Jira sends ``timestamp`` as a number, epoch milliseconds. Payloads saved by
    some tools have it overwritten by their logger with a local time and no zone
    (``2018-12-20 15:45:59,695``), which would read as UTC and be hours off; so a
    string there is not trusted, and the comment's or issue's ``updated`` time
    (with its offset) is used, then the pipeline's ``x-vestige-received-at``.
    The second value says which fallback was taken.
    """
    stamp = record.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return utc(stamp, "timestamp"), None
    paths: list[tuple[str, ...]] = []
    if event.startswith("comment_"):
        paths = [("comment", "updated"), ("comment", "created")]
    elif event.startswith("jira:issue_"):
        paths = [("issue", "fields", "updated")]
    for path in paths:
        value = dig(record, *path)
        if value is not None:
            return utc(value, ".".join(path)), ".".join(path)
    received = context.headers.get("x-vestige-received-at")
    if received is not None:
        return utc(received, "x-vestige-received-at"), "received_at"
    raise InvalidRecord("Jira webhook has no usable timestamp")


def _actor(record: Mapping[str, Any]) -> Actor:
    """``user`` (who made the change); comment events name the comment's author."""
    user = next(
        (
            u
            for u in (
                record.get("user"),
                dig(record, "comment", "updateAuthor"),
                dig(record, "comment", "author"),
            )
            if isinstance(u, Mapping)
        ),
        None,
    )
    if user is None:
        return Actor()
    # Jira Cloud identifies users by `accountId`; Server by `key` (stable) or `name`.
    user_id = text(user.get("accountId")) or text(user.get("key")) or text(user.get("name"))
    display = text(user.get("displayName"))
    if text(user.get("accountType")) == "app":
        kind = ActorKind.SERVICE  # Connect and Forge apps act as `app` accounts
    elif user_id or display:
        kind = ActorKind.HUMAN
    else:
        kind = ActorKind.UNKNOWN
    return Actor(kind=kind, id=user_id, display=display)


def _transitions(record: Mapping[str, Any]) -> list[dict[str, str | None]]:
    """Status changes in the changelog, by status name (ids where names are missing)."""
    items = dig(record, "changelog", "items")
    if not isinstance(items, list):
        return []
    return [
        {
            "field": "status",
            "from": text(item.get("fromString")) or text(item.get("from")),
            "to": text(item.get("toString")) or text(item.get("to")),
        }
        for item in items
        if isinstance(item, Mapping) and "status" in (item.get("field"), item.get("fieldId"))
    ]
