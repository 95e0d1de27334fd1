"""GitHub organization and enterprise audit log entries.

One entry as the audit log REST API (``GET /orgs/{org}/audit-log``, a page is a
JSON array of entries) and audit log streaming (JSON lines) give it: a
``category.operation`` ``action``, the ``actor`` login, ``@timestamp`` and
``created_at`` in epoch milliseconds, a ``_document_id``, and for programmatic
access ``programmatic_access_type``, ``hashed_token`` (SHA-256 of the token,
base64) and ``token_id``.

``source_event_id`` is ``_document_id``. An entry without one (hand-saved or
trimmed) gets ``"sha256:" + hex SHA-256 of its RFC 8785 bytes``, so re-ingesting
it yields the same id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ingest.fields import strings, text, tickets, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import MAX_EVENT_ID, Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome
from ledger import VestigeError, canonicalize

__all__ = ["GitHubAudit"]

# `category.operation`, sometimes with a sub-category (`enterprise.config.<op>`).
_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")

# Where the time of the entry is, in order. Panther stores `@timestamp` as
# `at_sign_timestamp`; `created_at` is last because some entries (alerts) set it
# to when the object was created rather than when the action happened.
_TIMES = ("@timestamp", "at_sign_timestamp", "created_at")

# OCSF 1.x API Activity (6003) activity_id by the entry's `operation_type`.
_OPERATION = {"create": 1, "access": 2, "modify": 3, "transfer": 3, "remove": 4}
# ... or, for entries without it, by the first verb found in the operation
# (`uninstall` before `install`, so deletions are looked for first).
_VERB = (
    (re.compile(r"destroy|delete|remove|uninstall|revoke"), 4),
    (re.compile(r"create|add|invite|install"), 1),
    (re.compile(r"clone|fetch|download|view"), 2),
    (re.compile(r"update|edit|push|rename|transfer|change|enable|disable|set_|archive|access"), 3),
)
# Membership and role changes: OCSF User Access Management (3005),
# 1 Assign Privileges, 2 Revoke Privileges, 99 Other.
_ACCESS_CATEGORIES = frozenset(
    {"org", "repo", "team", "business", "enterprise", "organization_moderators"}
)
_ACCESS_OP = re.compile(
    r"(add|remove|update|invite|promote|demote)_"
    r"(member|admin|user|maintainer|billing_manager|outside_collaborator)s?"
)
# A token or App granted or refused access (`personal_access_token.access_granted`).
_GRANTS = {"access_granted": 1, "access_revoked": 2}
# A user's own account: OCSF Account Change (3001).
_ACCOUNT = {
    "user.create": 1,
    "user.destroy": 6,
    "user.delete": 6,
    "user.suspend": 5,
    "user.unsuspend": 2,
    "two_factor_authentication.enabled": 10,
    "two_factor_authentication.disabled": 11,
}
_FAILED = frozenset({"failure", "timed_out", "startup_failure"})
# Facts kept as they are: who and how (token, client), and the account affected.
_ATTRIBUTES = (
    "actor_id",
    "user_agent",
    "hashed_token",
    "programmatic_access_type",
    "token_scopes",
    "operation_type",
    "org",
    "business",
    "user",
    "conclusion",
)


class GitHubAudit(Source):
    """GitHub organization/enterprise audit log entries (REST API or streaming)."""

    name = "github-audit"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        action = text(record.get("action"))
        if action is None or not _ACTION.fullmatch(action) or "sender" in record:
            return False  # webhook payloads carry `sender`; their actions have no dot
        # Slack and Atlassian audit logs put an object at `actor`; GitHub a login.
        return isinstance(record.get("actor"), str) or isinstance(record.get("_document_id"), str)

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        action = _action(record)
        login = text(record.get("actor"))
        token_id = text(record.get("token_id"))
        # The token's SHA-256 (base64) is what a credential issuer can know in advance.
        hashed_token = text(record.get("hashed_token"))
        repo = text(record.get("repo")) or text(record.get("repository"))
        branches = [
            b.removeprefix("refs/heads/")
            for b in strings([record.get("branch"), record.get("head_branch")])
        ]
        conclusion = text(record.get("conclusion"))
        occurred_at, fallback = _occurred_at(record, context)

        attributes: dict[str, Any] = {
            name: value for name in _ATTRIBUTES if (value := text(record.get(name))) is not None
        }
        if fallback:
            attributes["occurred_at_from"] = fallback

        return Extracted(
            source=self.name,
            source_event_id=_event_id(record),
            occurred_at=occurred_at,
            actor=Actor(
                kind=_kind(record, login),
                id=login,
                display=login,
                credential_id=token_id or hashed_token,
            ),
            action=action,
            target=repo or text(record.get("org")) or text(record.get("business")),
            outcome=Outcome.FAILURE if conclusion in _FAILED else Outcome.SUCCESS,
            keys=CorrelationKeys(
                repo=[repo] if repo else [],
                branch=branches,
                commit=strings([record.get("head_sha")]),
                ticket=tickets(*branches),
                run_id=strings([record.get("workflow_run_id")]),
                credential_id=[c for c in (token_id, hashed_token) if c],
            ),
            risk=_risk(action, text(record.get("programmatic_access_type"))),
            ocsf=_ocsf(action, text(record.get("operation_type"))),
            attributes=attributes,
        )


def _action(record: Mapping[str, Any]) -> str:
    action = text(record.get("action"))
    if action is None or not _ACTION.fullmatch(action) or len(action) > 256:
        raise InvalidRecord("action is not a GitHub audit action (category.operation)")
    return action


def _event_id(record: Mapping[str, Any]) -> str:
    document_id = text(record.get("_document_id"))
    if document_id is not None:
        if len(document_id) > MAX_EVENT_ID:
            raise InvalidRecord("_document_id longer than 1024 characters")
        return document_id
    try:
        return "sha256:" + hashlib.sha256(canonicalize(record)).hexdigest()
    except VestigeError as exc:
        raise InvalidRecord(str(exc)) from exc


def _occurred_at(record: Mapping[str, Any], context: Context) -> tuple[str, str | None]:
    """The entry's time; else the pipeline's receive time (``x-vestige-received-at``)."""
    for name in _TIMES:
        value = record.get(name)
        if value is not None:
            return utc(value, name), None
    received = context.headers.get("x-vestige-received-at")
    if received is not None:
        return utc(received, "x-vestige-received-at"), "received_at"
    raise InvalidRecord("audit entry has no @timestamp or created_at")


def _kind(record: Mapping[str, Any], login: str | None) -> ActorKind:
    # GitHub marks entries of its coding agent with `actor_is_agent`, and of Apps
    # with `actor_is_bot`; an App installation token (server-to-server) or a deploy
    # key acts for no person.
    access = (text(record.get("programmatic_access_type")) or "").lower().replace("_", " ")
    if record.get("actor_is_agent") is True:
        return ActorKind.AGENT
    if (
        record.get("actor_is_bot") is True
        or (login or "").endswith("[bot]")
        or "server-to-server" in access
        or access in ("github app", "deploy key")
    ):
        return ActorKind.SERVICE
    return ActorKind.HUMAN if login else ActorKind.UNKNOWN


def _risk(action: str, access_type: str | None) -> list[str]:
    category = action.split(".", 1)[0]
    if (access_type or "").lower().startswith("personal access token (classic)"):
        return ["long_lived_credential"]  # classic PATs are static, often without expiry
    if action == "repo.destroy":
        return ["repository_deleted"]
    if action == "protected_branch.policy_override":
        return ["branch_protection_bypassed"]
    if category in ("protected_branch", "repository_ruleset"):
        return ["branch_protection_changed"]
    return []


def _ocsf(action: str, operation_type: str | None) -> Ocsf:
    if action in _ACCOUNT:
        return Ocsf(class_uid=3001, activity_id=_ACCOUNT[action])
    category, operation = action.split(".", 1)[0], action.rsplit(".", 1)[1]
    access = _ACCESS_OP.fullmatch(operation) if category in _ACCESS_CATEGORIES else None
    if access:
        verb = access.group(1)
        activity = 1 if verb in ("add", "promote") else 2 if verb in ("remove", "demote") else 99
        return Ocsf(class_uid=3005, activity_id=activity)
    if operation in _GRANTS:
        return Ocsf(class_uid=3005, activity_id=_GRANTS[operation])
    if operation_type in _OPERATION:
        return Ocsf(class_uid=6003, activity_id=_OPERATION[operation_type])
    for verb, activity in _VERB:
        if verb.search(operation):
            return Ocsf(class_uid=6003, activity_id=activity)
    return Ocsf(class_uid=6003, activity_id=99)
