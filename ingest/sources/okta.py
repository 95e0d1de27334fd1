"""Okta System Log events (``/api/v1/logs``, event hooks and log streams share the shape).

An event names its actor, its targets, the outcome and the transaction (the HTTP request) it
belongs to; ``authenticationContext.externalSessionId`` is the Okta session, which links a
sign-in to what the same session did later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ingest.fields import dig, require, text, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import MAX_EVENT_ID, Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome

__all__ = ["Okta"]

_CLIP = 512  # longest free-text attribute kept
_TARGET_CAP = 10  # most targets kept in attributes

# actor.type -> who acts. "User" is a person; the rest are Okta itself or OAuth clients.
_KINDS = {
    "User": ActorKind.HUMAN,
    "SystemPrincipal": ActorKind.SERVICE,
    "PublicClientApp": ActorKind.SERVICE,
    "AppInstance": ActorKind.SERVICE,
    "Client": ActorKind.SERVICE,
}

_OUTCOMES = {
    "SUCCESS": Outcome.SUCCESS,
    "ALLOW": Outcome.SUCCESS,
    "FAILURE": Outcome.FAILURE,
    "DENY": Outcome.FAILURE,
}

# OCSF 3001 Account Change activities (1 Create, 2 Enable, 3 Password Change, 4 Password
# Reset, 5 Disable, 6 Delete, 7 Attach Policy, 8 Detach Policy, 9 Lock, 10 MFA Factor
# Enable, 11 MFA Factor Disable); other user.account.*, user.lifecycle.* and
# group.user_membership.* events are 3001 Other (99).
_ACCOUNT_CHANGE = {
    "user.lifecycle.create": 1,
    "user.lifecycle.activate": 2,
    "user.lifecycle.reactivate": 2,
    "user.lifecycle.unsuspend": 2,
    "user.account.update_password": 3,
    "user.account.reset_password": 4,
    "user.lifecycle.deactivate": 5,
    "user.lifecycle.suspend": 5,
    "user.lifecycle.delete.initiated": 6,
    "user.lifecycle.delete.completed": 6,
    "user.account.privilege.grant": 7,
    "user.account.privilege.revoke": 8,
    "user.account.lock": 9,
    "user.mfa.factor.activate": 10,
    "user.mfa.factor.deactivate": 11,
}
_ACCOUNT_PREFIXES = (
    "user.account.",
    "user.lifecycle.",
    "group.user_membership.",
    "user.mfa.factor.",
)

_RISK = {
    "user.account.privilege.grant": ("privilege_change",),
    "group.privilege.grant": ("privilege_change",),
    "user.session.impersonation.grant": ("impersonation",),
    "user.session.impersonation.initiate": ("impersonation",),
    # Okta API tokens act with their creator's rights until revoked or 30 days unused.
    "system.api_token.create": ("credential_issued", "long_lived_credential"),
    "user.mfa.factor.deactivate": ("mfa_disabled",),
    "system.mfa.factor.deactivate": ("mfa_disabled",),
    "application.user_membership.show_password": ("secret_access",),
}


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= _CLIP else value[:_CLIP]


def _known(value: object) -> str | None:
    """Text, except Okta's ``unknown`` placeholder (failed sign-ins, targets without a login)."""
    found = text(value)
    return None if found == "unknown" else found


def _ocsf(event_type: str) -> Ocsf:
    if event_type == "user.session.start":
        return Ocsf(class_uid=3002, activity_id=1)  # Authentication: Logon
    if event_type == "user.session.end":
        return Ocsf(class_uid=3002, activity_id=2)  # Authentication: Logoff
    if event_type == "user.authentication.sso":
        return Ocsf(class_uid=3002, activity_id=1)  # sign-in to an app
    if event_type.startswith("user.authentication."):
        return Ocsf(class_uid=3002, activity_id=99)
    if event_type.startswith(_ACCOUNT_PREFIXES):
        return Ocsf(class_uid=3001, activity_id=_ACCOUNT_CHANGE.get(event_type, 99))
    return Ocsf(class_uid=6003, activity_id=99)


def _targets(record: Mapping[str, Any]) -> list[dict[str, str]]:
    targets = record.get("target")
    if not isinstance(targets, list):
        return []
    found: list[dict[str, str]] = []
    for target in targets[:_TARGET_CAP]:
        entry = {
            field: value
            for field in ("id", "type", "alternateId", "displayName")
            if (value := _clip(text(dig(target, field))))
        }
        if entry:
            found.append(entry)
    return found


class Okta(Source):
    """One Okta System Log event."""

    name: ClassVar[str] = "okta"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        return (
            isinstance(record, Mapping)
            and "uuid" in record
            and "eventType" in record
            and "published" in record
            and isinstance(record.get("actor"), Mapping)
        )

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        if not isinstance(record, Mapping):
            raise InvalidRecord("Okta event is not a JSON object")
        event_id = require(record, "uuid")
        if len(event_id) > MAX_EVENT_ID:
            raise InvalidRecord("uuid is too long")
        event_type = require(record, "eventType")
        occurred_at = utc(record.get("published"), "published")

        # An API token's id says which long-lived credential made the call.
        token = text(dig(record, "transaction", "detail", "requestApiTokenId"))
        actor_type = text(dig(record, "actor", "type"))
        actor = Actor(
            kind=_KINDS.get(actor_type or "", ActorKind.UNKNOWN),
            id=_known(dig(record, "actor", "id")),
            display=_known(dig(record, "actor", "alternateId"))
            or _known(dig(record, "actor", "displayName")),
            credential_id=token,
        )
        targets = _targets(record)
        first = targets[0] if targets else {}
        target = _known(first.get("alternateId")) or first.get("id")

        credentials = [token] if token else []
        if event_type == "system.api_token.create":
            credentials.extend(t["id"] for t in targets if t.get("type") == "Token" and "id" in t)
        session = _known(dig(record, "authenticationContext", "externalSessionId"))

        attributes: dict[str, Any] = {
            "display_message": _clip(text(record.get("displayMessage"))),
            "legacy_event_type": text(record.get("legacyEventType")),
            "severity": text(record.get("severity")),
            "outcome_result": text(dig(record, "outcome", "result")),
            "outcome_reason": _clip(text(dig(record, "outcome", "reason"))),
            "actor_type": actor_type,
            "actor_display_name": _clip(_known(dig(record, "actor", "displayName"))),
            "targets": targets or None,
            "transaction_id": text(dig(record, "transaction", "id")),
            "transaction_type": text(dig(record, "transaction", "type")),
            "client_ip": text(dig(record, "client", "ipAddress")),
            "user_agent": _clip(text(dig(record, "client", "userAgent", "rawUserAgent"))),
            "credential_type": text(dig(record, "authenticationContext", "credentialType")),
            "request_uri": _clip(text(dig(record, "debugContext", "debugData", "requestUri"))),
        }
        return Extracted(
            source=self.name,
            source_event_id=event_id,
            occurred_at=occurred_at,
            actor=actor,
            action=event_type,
            target=target,
            outcome=_OUTCOMES.get(text(dig(record, "outcome", "result")) or "", Outcome.UNKNOWN),
            keys=CorrelationKeys(
                session_id=[session] if session else [],
                credential_id=credentials,
            ),
            risk=list(_RISK.get(event_type, ())),
            ocsf=_ocsf(event_type),
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
