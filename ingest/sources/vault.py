"""HashiCorp Vault audit devices: one JSON line per request and per response.

Fields are those of Vault's audit log entry schema: ``type`` (``request`` or
``response``), ``time`` (RFC 3339, nanoseconds), ``auth`` (the caller's token:
``accessor``, ``display_name``, ``entity_id``, ``metadata``, ``policies``, ...),
``request`` (``id``, ``operation``, ``path``, ``mount_type``, ``namespace``,
``remote_address``, ``data``), ``response`` (``secret.lease_id``, ``auth`` for a
token the call created, ``data``) and ``error``.

Vault HMACs most strings (tokens, accessors, data values) with the audit
device's salt: ``hmac-sha256:<hex>``. Those are kept as they are, and used as
keys: the same value HMACs the same way on one device, so a token's accessor
still links its login to its uses. Paths, lease IDs and auth metadata are not HMACed.

Mapping: ``action`` = the operation (``read``, ``update``, ...) and ``target`` =
the path (prefixed with the Enterprise namespace path, if any), so a ``vault``
scope with ``actions: ["read"]`` and ``resources: ["aws/creds/*"]`` matches.
The request and the response of one call share ``request.id``: it is the
``session_id`` key, and ``source_event_id`` is ``<request.id>:<type>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from ingest.fields import dig, require, strings, text, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome

__all__ = ["Vault"]

_MAX_ID: Final = 900  # request ids are UUIDs; Extracted.source_event_id holds 1024
_CLIP: Final = 512  # longest error message kept
_MAX_POLICIES: Final = 64  # attributes stay small; a token rarely has more

# The Kubernetes label / AWS session tag vestige reads elsewhere, as token metadata.
_WORKSPACE_TAG: Final = "vestige.dev/workspace-id"

# OCSF 6003 API Activity by Vault operation (1 Create, 2 Read, 3 Update, 4 Delete, 99 Other).
_OPERATIONS: Final = {"create": 1, "read": 2, "list": 2, "update": 3, "patch": 3, "delete": 4}
_LOGON: Final = Ocsf(class_uid=3002, activity_id=1)
_LOGOFF: Final = Ocsf(class_uid=3002, activity_id=2)

# Logins live under the auth method's mount (mounts may nest: auth/team/oidc/login).
_LOGIN = re.compile(r"auth/.+/login(/.*)?")
_TOKEN_CREATE = re.compile(r"auth/token/create(-orphan)?(/.*)?")
# Dynamic-secret engines hand out credentials under <mount>/creds/<role>
# (aws, database, consul, nomad, rabbitmq, ...); aws also under <mount>/sts/<role>.
_CREDS = re.compile(r".+/creds/.+")
_AWS_STS = re.compile(r".+/sts/.+")
# sys/leases/revoke[-prefix|-force][/<lease id or prefix>]; sys/revoke* is the old path.
_LEASE_REVOKE = re.compile(r"sys/(?:leases/)?revoke(?P<how>-prefix|-force)?(?:/(?P<rest>.+))?")
_TOKEN_REVOKE = re.compile(r"auth/token/revoke(-self|-accessor|-orphan)?(/.*)?")
_AUDIT_DEVICE = re.compile(r"sys/audit(/.*)?")  # not sys/audit-hash: that only hashes
_AUDIT_CONFIG = re.compile(r"sys/config/auditing/.*")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _actor(auth: object) -> Actor:
    """Who called: the token's entity, else its display name; kind from its auth method."""
    metadata = dig(auth, "metadata")
    meta: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}
    display = text(dig(auth, "display_name"))
    # Token display names are "<auth mount>-<name>" (jwt-spiffe://...); metadata may hold
    # the SPIFFE ID as a claim or certificate field.
    values = [display, *(text(v) for v in meta.values())]
    spiffe = next((v[v.find("spiffe://") :] for v in values if v and "spiffe://" in v), None)
    if spiffe is not None:
        kind = ActorKind.AGENT  # a workload identity (cert or JWT auth with a SPIFFE ID)
    elif "service_account_name" in meta or "role_name" in meta:
        kind = ActorKind.SERVICE  # Kubernetes service account; AppRole / AWS role login
    elif "username" in meta:
        kind = ActorKind.HUMAN  # userpass, LDAP, GitHub, Okta logins name a person
    else:
        kind = ActorKind.UNKNOWN  # a bare token: whoever holds it
    return Actor(
        kind=kind,
        id=text(dig(auth, "entity_id")) or display,
        display=display,
        credential_id=text(dig(auth, "accessor")),
        spiffe_id=spiffe,
    )


def _credential_event(path: str, operation: str, record: Mapping[str, Any]) -> str | None:
    """``issued`` / ``revoked`` for a successful call that issues or revokes a credential."""
    if _LOGIN.fullmatch(path) or _TOKEN_CREATE.fullmatch(path):
        return "issued"
    if _LEASE_REVOKE.fullmatch(path) or _TOKEN_REVOKE.fullmatch(path):
        return "revoked"
    if text(dig(record, "response", "secret", "lease_id")):
        return "issued"  # a lease is only created for a dynamic secret
    if operation in ("read", "update", "create") and (
        _CREDS.fullmatch(path)
        or (_AWS_STS.fullmatch(path) and text(dig(record, "request", "mount_type")) == "aws")
    ):
        return "issued"
    return None


def _audit_change(path: str, operation: str) -> str | None:
    if operation in ("read", "list"):
        return None
    if _AUDIT_DEVICE.fullmatch(path):
        return "disabled" if operation == "delete" else "enabled"
    if _AUDIT_CONFIG.fullmatch(path):
        return "changed"
    return None


def _ocsf(path: str, operation: str) -> Ocsf:
    if _LOGIN.fullmatch(path):
        return _LOGON
    if path == "auth/token/revoke-self":
        return _LOGOFF
    return Ocsf(class_uid=6003, activity_id=_OPERATIONS.get(operation, 99))


class Vault(Source):
    """HashiCorp Vault audit device entries (file, socket or syslog device; JSON format)."""

    name = "vault"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        return (
            record.get("type") in ("request", "response")
            and "time" in record
            and isinstance(record.get("request"), Mapping)
            and "operation" in record["request"]
        )

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        entry = text(record.get("type"))
        if entry not in ("request", "response"):
            raise InvalidRecord("type: expected 'request' or 'response'")
        request_id = require(record, "request", "id")
        if len(request_id) > _MAX_ID:
            raise InvalidRecord("request.id: too long for a request id")
        operation = require(record, "request", "operation")
        path = text(dig(record, "request", "path")) or ""
        namespace = text(dig(record, "request", "namespace", "path"))
        target = f"{namespace.rstrip('/')}/{path}" if namespace else path
        error = text(record.get("error"))

        if error:
            outcome = Outcome.FAILURE
        elif entry == "response":
            outcome = Outcome.SUCCESS
        else:
            outcome = Outcome.UNKNOWN  # a request entry is written before Vault acts

        auth = record.get("auth")
        # A login is unauthenticated: its caller is the identity the response's token is for.
        if not text(dig(auth, "display_name")) and not text(dig(auth, "entity_id")):
            auth = dig(record, "response", "auth") or auth
        actor = _actor(auth)

        credentials = [
            text(dig(record, "response", "secret", "lease_id")),
            text(dig(record, "auth", "accessor")),
            text(dig(record, "response", "auth", "accessor")),
            # AWS access key IDs are not secret; kept when the mount leaves them un-HMACed,
            # they link the lease to CloudTrail.
            text(dig(record, "response", "data", "access_key")),
        ]
        attributes: dict[str, Any] = {"type": entry}
        lease_revoke = _LEASE_REVOKE.fullmatch(path)
        if lease_revoke or _TOKEN_REVOKE.fullmatch(path):
            # What is revoked: in the path (lease IDs are not HMACed) or in the body.
            credentials.append(text(dig(record, "request", "data", "lease_id")))
            credentials.append(text(dig(record, "request", "data", "accessor")))
        if lease_revoke and lease_revoke["rest"]:
            if lease_revoke["how"]:  # -prefix / -force revoke every lease under a prefix
                attributes["revoked_prefix"] = lease_revoke["rest"]
            else:
                credentials.append(lease_revoke["rest"])

        # What a call did is known from its response; the request entry only asks.
        if entry == "response" and not error:
            event = _credential_event(path, operation, record)
            if event:
                attributes["credential_event"] = event
        ttl = _int(dig(record, "response", "secret", "ttl"))
        ttl = ttl if ttl is not None else _int(dig(record, "response", "secret", "lease_duration"))
        ttl = ttl if ttl is not None else _int(dig(record, "response", "auth", "token_ttl"))
        if ttl is not None:
            attributes["lease_ttl"] = ttl

        risk: list[str] = []
        change = _audit_change(path, operation)
        if change:
            attributes["audit_change"] = change
            risk.append("audit_device_changed")

        facts = {
            "mount_type": text(dig(record, "request", "mount_type")),
            "remote_address": text(dig(record, "request", "remote_address")),
            "error": error[:_CLIP] if error else None,
        }
        attributes.update({name: value for name, value in facts.items() if value})
        policies = dig(record, "auth", "policies")
        if isinstance(policies, list):
            attributes["policies"] = strings(policies[:_MAX_POLICIES])

        metadata = dig(auth, "metadata")
        workspace = text(dig(metadata, _WORKSPACE_TAG))

        return Extracted(
            source=self.name,
            source_event_id=f"{request_id}:{entry}",
            occurred_at=utc(record.get("time"), "time"),
            actor=actor,
            action=operation,
            target=target or None,
            outcome=outcome,
            keys=CorrelationKeys(
                workspace_id=[workspace] if workspace else [],
                session_id=[request_id],
                credential_id=[c for c in credentials if c],
            ),
            risk=risk,
            ocsf=_ocsf(path, operation),
            attributes=attributes,
        )
