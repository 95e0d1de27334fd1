"""GitHub webhook deliveries (``X-GitHub-Event`` payloads).

A record reaches this parser in one of three ways:

* over HTTP: the payload is the record and the ``x-github-event`` and
  ``x-github-delivery`` headers name the event and the delivery;
* a saved REST "webhook delivery" object (``GET /repos/{owner}/{repo}/hooks/
  {hook_id}/deliveries/{delivery_id}``): ``guid``, ``event``, ``action``,
  ``delivered_at`` and the payload under ``request.payload``;
* a bare saved payload: the event is read from the payload's shape (``pusher``
  and ``commits`` make a push, a ``workflow_job`` member a workflow_job, ...)
  or, where the shape names none, from the folder it sits in (the
  ``<event>/<action>.payload.json`` layout of octokit/webhooks).

``source_event_id`` is the delivery GUID, which GitHub keeps for redeliveries
and shares between all hooks receiving the same event. A bare payload has none;
its id is then ``"sha256:" + hex SHA-256 of the payload's RFC 8785 bytes``, so
re-ingesting the same file yields the same id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ingest.fields import dig, strings, text, tickets, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import MAX_EVENT_ID, Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome
from ledger import VestigeError, canonicalize

__all__ = ["GitHubWebhook"]

# Webhook event names GitHub documents (github.com and GHES), plus the older
# names still present in octokit/webhooks' examples.
EVENTS = frozenset(
    {
        "branch_protection_configuration",
        "branch_protection_rule",
        "cache_sync",
        "check_run",
        "check_suite",
        "code_scanning_alert",
        "commit_comment",
        "content_reference",
        "create",
        "custom_property",
        "custom_property_values",
        "delete",
        "dependabot_alert",
        "deploy_key",
        "deployment",
        "deployment_protection_rule",
        "deployment_review",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "enterprise",
        "fork",
        "github_app_authorization",
        "gollum",
        "installation",
        "installation_repositories",
        "installation_target",
        "integration_installation",
        "integration_installation_repositories",
        "issue_comment",
        "issues",
        "label",
        "marketplace_purchase",
        "member",
        "membership",
        "merge_group",
        "meta",
        "milestone",
        "org_block",
        "organization",
        "package",
        "page_build",
        "personal_access_token_request",
        "ping",
        "project",
        "project_card",
        "project_column",
        "projects_v2",
        "projects_v2_item",
        "projects_v2_status_update",
        "public",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_review_thread",
        "push",
        "registry_package",
        "release",
        "repository",
        "repository_advisory",
        "repository_dispatch",
        "repository_import",
        "repository_ruleset",
        "repository_vulnerability_alert",
        "secret_scanning_alert",
        "secret_scanning_alert_location",
        "secret_scanning_scan",
        "security_advisory",
        "security_and_analysis",
        "sponsorship",
        "star",
        "status",
        "sub_issues",
        "team",
        "team_add",
        "user",
        "watch",
        "workflow_dispatch",
        "workflow_job",
        "workflow_run",
    }
)

# Payload shapes that tell the event apart where the members alone are ambiguous,
# first match wins: (event, members that must be present, members that must be absent).
# A pull_request_review also carries `pull_request`, a deployment_status also
# `deployment`, an organization event a `membership`, and so on.
_SHAPES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("push", ("ref", "commits"), ()),
    ("push", ("pusher", "commits"), ()),
    ("create", ("ref_type", "master_branch"), ()),
    ("delete", ("ref_type", "ref"), ()),
    ("ping", ("hook", "zen"), ()),
    ("meta", ("hook", "hook_id"), ()),
    ("deployment_status", ("deployment_status",), ()),
    ("deployment_review", ("workflow_job_run",), ()),
    ("workflow_job", ("workflow_job",), ()),
    ("deployment", ("deployment",), ()),
    ("workflow_run", ("workflow_run",), ()),
    ("pull_request_review", ("pull_request", "review"), ()),
    ("pull_request_review_comment", ("pull_request", "comment"), ()),
    ("pull_request_review_thread", ("pull_request", "thread"), ()),
    ("pull_request", ("pull_request",), ()),
    ("issue_comment", ("issue", "comment"), ()),
    ("issues", ("issue",), ()),
    ("discussion_comment", ("discussion", "comment"), ()),
    ("discussion", ("discussion",), ()),
    ("commit_comment", ("comment",), ()),
    ("branch_protection_rule", ("rule",), ()),
    ("membership", ("member", "team", "scope"), ()),
    ("organization", ("membership",), ()),
    ("organization", ("invitation",), ()),
    ("team", ("team", "action"), ()),
    ("team_add", ("team",), ("action",)),
    ("fork", ("forkee",), ()),
    ("gollum", ("pages",), ()),
    ("deploy_key", ("key",), ()),
    ("star", ("starred_at",), ()),
    ("org_block", ("blocked_user",), ()),
    ("code_scanning_alert", ("alert", "commit_oid"), ()),
    ("installation_repositories", ("repositories_added",), ()),
    ("status", ("sha", "state", "context"), ()),
    ("page_build", ("build",), ()),
    ("workflow_dispatch", ("workflow", "inputs"), ()),
    ("repository_dispatch", ("client_payload",), ()),
)
# Members that appear in payloads of many events, so they name the event only
# when nothing else does: (event, its actions, the other members it may have).
_CONTEXT = frozenset({"repository", "installation", "organization", "enterprise", "sender"})
_CONTEXT_EVENTS = (
    (
        "repository",
        frozenset(
            {
                "archived",
                "created",
                "deleted",
                "edited",
                "privatized",
                "publicized",
                "renamed",
                "transferred",
                "unarchived",
            }
        ),
        frozenset({"changes"}),
    ),
    (
        "installation",
        frozenset({"created", "deleted", "new_permissions_accepted", "suspend", "unsuspend"}),
        frozenset({"repositories", "requester"}),
    ),
    ("organization", frozenset({"deleted", "renamed"}), frozenset({"changes"})),
)

# The object a payload is about, where it is not the member named like the event.
_SUBJECT = {
    "branch_protection_rule": "rule",
    "code_scanning_alert": "alert",
    "commit_comment": "comment",
    "dependabot_alert": "alert",
    "deploy_key": "key",
    "discussion_comment": "comment",
    "fork": "forkee",
    "issue_comment": "comment",
    "issues": "issue",
    "pull_request_review": "review",
    "pull_request_review_comment": "comment",
    "pull_request_review_thread": "pull_request",
    "repository_vulnerability_alert": "alert",
    "secret_scanning_alert": "alert",
}

# Timestamps to read, most specific first. For a push, `repository.pushed_at` is
# set by GitHub at the push, while `head_commit.timestamp` is the committer's
# clock (set by whoever pushes, and older than the push for rebased commits).
_TIMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "push": (("repository", "pushed_at"), ("head_commit", "timestamp")),
    "create": (("repository", "pushed_at"), ("repository", "updated_at")),
    "delete": (("repository", "pushed_at"), ("repository", "updated_at")),
    "repository": (("repository", "updated_at"), ("repository", "pushed_at")),
    "workflow_job": (
        ("workflow_job", "completed_at"),
        ("workflow_job", "started_at"),
        ("workflow_job", "created_at"),
    ),
    "check_run": (("check_run", "completed_at"), ("check_run", "started_at")),
    "pull_request_review": (("review", "submitted_at"), ("pull_request", "updated_at")),
    "release": (("release", "published_at"), ("release", "created_at")),
    "star": (("starred_at",),),
    "status": (("updated_at",), ("created_at",)),
}

_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ZERO_SHA = re.compile(r"0{40}|0{64}")

# OCSF 1.x API Activity (6003) activity_id by action: 1 Create, 3 Update, 4 Delete.
_API_CREATE = frozenset({"create", "created", "opened", "added", "requested", "published"})
_API_DELETE = frozenset({"delete", "deleted", "removed"})
_API_UPDATE = frozenset(
    {
        "push",
        "edited",
        "synchronize",
        "renamed",
        "transferred",
        "privatized",
        "publicized",
        "archived",
        "unarchived",
        "closed",
        "reopened",
    }
)
# Workflow conclusions that mean the run did not do what it was asked to.
_FAILED = frozenset({"failure", "timed_out", "startup_failure"})


@dataclass(frozen=True)
class _Delivery:
    event: str
    payload: Mapping[str, Any]
    delivery_id: str | None
    delivered_at: object  # only in a saved REST delivery object


class GitHubWebhook(Source):
    """GitHub repository, organization and App webhook deliveries."""

    name = "github"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        if text(context.headers.get("x-github-event")):
            return True
        if _is_rest_delivery(record):
            return True
        if "object_kind" in record or "webhookEvent" in record:
            return False  # GitLab and Jira webhooks also carry `repository`/`user`
        has_context = isinstance(record.get("sender"), Mapping) or (
            text(dig(record, "repository", "full_name")) is not None
        )
        if has_context:
            return _infer_event(record, context.origin) is not None
        # A global security advisory names no repository or sender; it is
        # recognised when saved under its event's folder.
        return _folder_event(context.origin) == "security_advisory" and isinstance(
            record.get("security_advisory"), Mapping
        )

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        delivery = _unwrap(record, context)
        event, p = delivery.event, delivery.payload
        action_name = text(p.get("action"))
        action = f"{event}.{action_name}" if action_name else event
        repo = text(dig(p, "repository", "full_name"))
        occurred_at, fallback = _occurred_at(delivery, context)
        conclusion = text(dig(p, event, "conclusion")) if event.startswith("workflow_") else None

        keys = CorrelationKeys(
            repo=[v for v in [repo, *_installed_repos(event, p)] if v],
            branch=list(_branches(event, p)),
            commit=[sha for sha in _commits(event, p) if not _ZERO_SHA.fullmatch(sha)],
            ticket=tickets(*_branches(event, p), *_messages(event, p)),
            run_id=strings([dig(p, "workflow_run", "id"), dig(p, "workflow_job", "run_id")]),
        )
        facts = {
            "event": event,
            "delivery_id": delivery.delivery_id,
            "installation_id": text(dig(p, "installation", "id")),
            "conclusion": conclusion,
            "ref_type": text(p.get("ref_type")) if event in ("create", "delete") else None,
            "ref": text(p.get("ref")) if event in ("push", "create", "delete") else None,
            "occurred_at_from": fallback,
            # Where a deployment goes: a production deployment is a high-risk action.
            "environment": text(dig(p, "deployment", "environment")),
        }
        attributes: dict[str, Any] = {k: v for k, v in facts.items() if v is not None}
        if event == "push":
            for flag in ("forced", "created", "deleted"):
                attributes[flag] = p.get(flag) is True
        if event == "pull_request" and isinstance(dig(p, "pull_request", "merged"), bool):
            attributes["merged"] = dig(p, "pull_request", "merged")
        if event == "member" and text(dig(p, "member", "login")):
            attributes["member"] = text(dig(p, "member", "login"))

        return Extracted(
            source=self.name,
            source_event_id=delivery.delivery_id or _digest_id(p),
            occurred_at=occurred_at,
            actor=_actor(p),
            action=action,
            target=repo
            or text(dig(p, "organization", "login"))
            or text(dig(p, "installation", "account", "login")),
            outcome=_outcome(conclusion),
            keys=keys,
            risk=_risk(event, action_name, p),
            ocsf=_ocsf(event, action_name),
            attributes=attributes,
        )


def _is_rest_delivery(record: Mapping[str, Any]) -> bool:
    """The REST API's webhook delivery object: a GUID and the request it made."""
    return text(record.get("guid")) is not None and isinstance(record.get("request"), Mapping)


def _unwrap(record: Mapping[str, Any], context: Context) -> _Delivery:
    """Event name, payload and delivery id, whichever way the record came."""
    if _is_rest_delivery(record):
        payload = dig(record, "request", "payload")
        if not isinstance(payload, Mapping):
            raise InvalidRecord("webhook delivery without an object at request.payload")
        event = text(record.get("event")) or _header(dig(record, "request", "headers"))
        return _Delivery(
            event=_event_name(event),
            payload=payload,
            delivery_id=_delivery_id(text(record.get("guid"))),
            delivered_at=record.get("delivered_at"),
        )
    header_event = text(context.headers.get("x-github-event"))
    event = header_event or _infer_event(record, context.origin)
    if event is None:
        raise InvalidRecord("cannot tell which GitHub webhook event this payload is")
    return _Delivery(
        event=_event_name(event),
        payload=record,
        delivery_id=_delivery_id(text(context.headers.get("x-github-delivery"))),
        delivered_at=None,
    )


def _header(headers: object) -> str | None:
    """``X-GitHub-Event`` from a saved request's headers, whatever their case."""
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(name, str) and name.lower() == "x-github-event":
                return text(value)
    return None


def _event_name(event: str | None) -> str:
    if event is None or not _EVENT_NAME.fullmatch(event):
        raise InvalidRecord(f"not a GitHub webhook event name: {str(event)[:64]!r}")
    return event


def _delivery_id(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_EVENT_ID:
        raise InvalidRecord("delivery id longer than 1024 characters")
    return value


def _digest_id(payload: Mapping[str, Any]) -> str:
    """The documented fallback id: SHA-256 of the payload's RFC 8785 bytes."""
    try:
        return "sha256:" + hashlib.sha256(canonicalize(payload)).hexdigest()
    except VestigeError as exc:
        raise InvalidRecord(str(exc)) from exc


def _infer_event(payload: Mapping[str, Any], origin: str) -> str | None:
    """The event of a bare payload: from its members, else from its folder.

    The members decide first: a folder named ``user`` or ``release`` may just be
    a folder. The folder (``<event>/<action>.payload.json``, octokit/webhooks'
    layout) settles payloads whose members name no event (``watch``, ``public``,
    the ``*_alert`` events).
    """
    for event, present, absent in _SHAPES:
        if all(payload.get(m) is not None for m in present) and not any(
            m in payload for m in absent
        ):
            return event
    named = [
        k
        for k, v in payload.items()
        if k in EVENTS and k not in _CONTEXT and isinstance(v, Mapping)
    ]
    if len(named) == 1:
        return named[0]
    action = text(payload.get("action"))
    for event, actions, extra in _CONTEXT_EVENTS:
        # `p_*` members are a log pipeline's (Panther's) enrichment, not GitHub's.
        others = {k for k in payload if not k.startswith("p_")} - _CONTEXT - extra - {"action"}
        if isinstance(payload.get(event), Mapping) and action in actions and not others:
            if event == "installation" and "repository" in payload:
                continue  # an App's payloads name their installation too
            return event
    return _folder_event(origin)


def _folder_event(origin: str) -> str | None:
    """The event a saved payload's folder names (``.../<event>/<action>.payload.json``)."""
    if not origin or origin.startswith("http:"):
        return None
    folder = PurePath(origin).parent.name
    return folder if folder in EVENTS else None


def _branches(event: str, p: Mapping[str, Any]) -> Iterator[str]:
    ref = text(p.get("ref"))
    if event == "push" and ref and ref.startswith("refs/heads/"):
        yield ref.removeprefix("refs/heads/")
    if event in ("create", "delete") and ref and p.get("ref_type") == "branch":
        yield ref
    for path in (
        ("pull_request", "head", "ref"),
        ("pull_request", "base", "ref"),
        ("workflow_run", "head_branch"),
        ("workflow_job", "head_branch"),
        ("check_suite", "head_branch"),
        ("check_run", "check_suite", "head_branch"),
    ):
        branch = text(dig(p, *path))
        if branch:
            yield branch


def _commits(event: str, p: Mapping[str, Any]) -> Iterator[str]:
    paths: list[tuple[str | int, ...]] = [
        ("pull_request", "head", "sha"),
        ("workflow_run", "head_sha"),
        ("workflow_job", "head_sha"),
        ("check_suite", "head_sha"),
        ("check_run", "head_sha"),
        ("deployment", "sha"),
    ]
    if event == "push":
        # A deleted ref's `after` is all zeros; `before` is what it pointed at.
        paths += [("after",), ("head_commit", "id")]
        if p.get("deleted") is True:
            paths.append(("before",))
    if event == "status":
        paths.append(("sha",))
    if dig(p, "pull_request", "merged") is True:
        paths.append(("pull_request", "merge_commit_sha"))
    yield from strings(dig(p, *path) for path in paths)
    commits = p.get("commits")
    if event == "push" and isinstance(commits, list):
        yield from strings(dig(c, "id") for c in commits)


def _messages(event: str, p: Mapping[str, Any]) -> Iterator[str | None]:
    """Free text that may name a ticket: commit messages, PR and run titles."""
    yield text(dig(p, "head_commit", "message"))
    commits = p.get("commits")
    if event == "push" and isinstance(commits, list):
        yield from (text(dig(c, "message")) for c in commits)
    yield text(dig(p, "pull_request", "title"))
    yield text(dig(p, "workflow_run", "display_title"))
    yield text(dig(p, "workflow_run", "head_commit", "message"))


def _installed_repos(event: str, p: Mapping[str, Any]) -> Iterator[str | None]:
    """Repositories an App installation gained or lost access to."""
    if event in ("installation", "installation_repositories"):
        for member in ("repositories", "repositories_added", "repositories_removed"):
            listed = p.get(member)
            if isinstance(listed, list):
                yield from (text(dig(r, "full_name")) for r in listed)


def _occurred_at(delivery: _Delivery, context: Context) -> tuple[str, str | None]:
    """The payload's own time of the event; else when it was delivered or received.

    Some payloads (``member``, ``installation_repositories``, ...) carry no time of
    their own. A saved REST delivery then gives ``delivered_at``; otherwise the
    pipeline's observation time (``x-vestige-received-at``) is used, and the
    second value says which fallback was taken.
    """
    event, p = delivery.event, delivery.payload
    subject = _SUBJECT.get(event, event)
    paths = _TIMES.get(event, ((subject, "updated_at"), (subject, "created_at")))
    for path in paths:
        value = dig(p, *path)
        if value is not None:
            return utc(value, ".".join(path)), None
    if delivery.delivered_at is not None:
        return utc(delivery.delivered_at, "delivered_at"), "delivered_at"
    received = context.headers.get("x-vestige-received-at")
    if received is not None:
        return utc(received, "x-vestige-received-at"), "received_at"
    raise InvalidRecord(f"{event} payload has no timestamp and no receive time was given")


def actor_kind(login: str | None, account_type: str | None) -> ActorKind:
    """Apps act as ``<slug>[bot]`` accounts of type ``Bot``: a service, not a person."""
    if account_type == "Bot" or (login or "").endswith("[bot]"):
        return ActorKind.SERVICE
    if account_type == "User":
        return ActorKind.HUMAN
    return ActorKind.UNKNOWN


def _actor(p: Mapping[str, Any]) -> Actor:
    login = text(dig(p, "sender", "login"))
    if login is None:
        # Hand-saved push payloads may keep only the pusher (a name, no account type).
        pusher = text(dig(p, "pusher", "name"))
        return Actor(kind=actor_kind(pusher, None), id=pusher, display=pusher)
    return Actor(
        kind=actor_kind(login, text(dig(p, "sender", "type"))),
        id=login,
        display=login,
    )


def _outcome(conclusion: str | None) -> Outcome:
    # A webhook reports something that already happened; only workflow events
    # carry an outcome of their own.
    if conclusion == "success":
        return Outcome.SUCCESS
    if conclusion in _FAILED:
        return Outcome.FAILURE
    return Outcome.UNKNOWN if conclusion else Outcome.SUCCESS


def _risk(event: str, action: str | None, p: Mapping[str, Any]) -> list[str]:
    risk = []
    if event == "push" and p.get("forced") is True:
        risk.append("force_push")
    if event == "branch_protection_rule":
        risk.append("branch_protection_changed")
    if event == "repository" and action == "deleted":
        risk.append("repository_deleted")
    return risk


def _ocsf(event: str, action: str | None) -> Ocsf:
    # A collaborator added to or removed from a repository is a change of access:
    # OCSF User Access Management (3005): 1 Assign Privileges, 2 Revoke Privileges.
    if event == "member":
        activity = {"added": 1, "removed": 2}.get(action or "", 99)
        return Ocsf(class_uid=3005, activity_id=activity)
    verb = action or event
    if verb in _API_CREATE:
        activity = 1
    elif verb in _API_DELETE:
        activity = 4
    elif verb in _API_UPDATE:
        activity = 3
    else:
        activity = 99
    return Ocsf(class_uid=6003, activity_id=activity)
