"""Google Cloud Audit Logs: a Cloud Logging ``LogEntry`` whose ``protoPayload`` is an ``AuditLog``.

The event id is ``logName#insertId``. Cloud Logging scopes ``insertId`` to a project (entries
of one project with the same timestamp and insertId are duplicates), so the insertId alone is
not unique across the projects, folders and organizations one collector reads; ``logName``
names both the parent and the audit log stream (activity, data_access, system_event, policy).
Cloud Audit Logs writes the insertId itself, so two entries of one log never share one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ingest.fields import dig, require, text, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import MAX_EVENT_ID, Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome

__all__ = ["GcpAudit"]

_AUDIT_LOG = "type.googleapis.com/google.cloud.audit.AuditLog"
_CLIP = 512  # longest free-text attribute kept
_CHAIN_CAP = 10  # longest delegation chain kept

# OCSF 6003 API Activity by the verb a method name starts with (``CreateServiceAccountKey``,
# ``storage.objects.get``, ``v1.compute.instances.insert``, ``SetIamPolicy``).
_VERBS = {
    **dict.fromkeys(("create", "insert", "add"), 1),
    **dict.fromkeys(("get", "list", "read", "search", "lookup", "query", "access"), 2),
    **dict.fromkeys(("update", "patch", "set", "modify", "replace"), 3),
    **dict.fromkeys(("delete", "remove", "destroy"), 4),
}

_LOGGING_DISABLED = frozenset(
    {
        "google.logging.v2.ConfigServiceV2.DeleteSink",
        "google.logging.v2.ConfigServiceV2.UpdateSink",
        "google.logging.v2.ConfigServiceV2.DeleteBucket",
        "google.logging.v2.ConfigServiceV2.UpdateBucket",
        "google.logging.v2.ConfigServiceV2.CreateExclusion",
    }
)
_SECRET_ACCESS = frozenset(
    {"google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion"}
)
# Calls that mint a credential for a service account.
_CREDENTIAL_ISSUE = frozenset(
    {
        "google.iam.admin.v1.CreateServiceAccountKey",
        "GenerateAccessToken",
        "GenerateIdToken",
        "SignJwt",
        "SignBlob",
    }
)


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= _CLIP else value[:_CLIP]


def _verb(method: str) -> str:
    """The leading word of the method's last segment, lower-cased."""
    last = method.rpartition(".")[2]
    end = 1
    while end < len(last) and not last[end].isupper():
        end += 1
    return last[:end].lower()


def _kind_and_ids(email: str | None, subject: str | None) -> tuple[ActorKind, str | None]:
    """Who the caller is, and the OIDC subject of a federated (workload identity) caller."""
    if subject and subject.startswith(("principal://", "principalSet://")):
        # Workload Identity Federation: .../subject/SUBJECT is the external token's sub.
        sub = subject.partition("/subject/")[2] or None
        if sub and sub.startswith("spiffe://"):
            return ActorKind.AGENT, sub
        return ActorKind.SERVICE, sub
    who = email or subject
    if who is None:
        return ActorKind.UNKNOWN, None  # principal redacted for privacy
    if who in ("system:anonymous", "system:unauthenticated"):
        return ActorKind.UNKNOWN, None
    if who.startswith("spiffe://"):
        return ActorKind.AGENT, None
    if (
        who.endswith(".gserviceaccount.com")
        or who.startswith(("serviceAccount:", "system:"))  # GKE: Kubernetes service accounts
    ):
        return ActorKind.SERVICE, None
    return ActorKind.HUMAN, None


def _delegation(auth: Mapping[str, Any]) -> list[str]:
    """The principals a service account acted for, the original authority first."""
    chain = auth.get("serviceAccountDelegationInfo")
    if not isinstance(chain, list):
        return []
    found: list[str] = []
    for link in chain[:_CHAIN_CAP]:
        who = (
            text(dig(link, "firstPartyPrincipal", "principalEmail"))
            or text(dig(link, "principalSubject"))
            or text(dig(link, "thirdPartyPrincipal", "thirdPartyClaims", "sub"))
        )
        if who:
            found.append(who)
    return found


class GcpAudit(Source):
    """One Cloud Audit Logs entry."""

    name: ClassVar[str] = "gcp-audit"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        payload = record.get("protoPayload") if isinstance(record, Mapping) else None
        if not isinstance(payload, Mapping):
            return False
        kind = payload.get("@type")
        if kind is not None:
            return bool(kind == _AUDIT_LOG)
        return "methodName" in payload and "serviceName" in payload

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        if not isinstance(record, Mapping):
            raise InvalidRecord("audit log entry is not a JSON object")
        payload = record.get("protoPayload")
        if not isinstance(payload, Mapping):
            raise InvalidRecord("missing protoPayload")
        insert_id = require(record, "insertId")
        log_name = text(record.get("logName"))
        event_id = f"{log_name}#{insert_id}" if log_name else insert_id
        if len(event_id) > MAX_EVENT_ID:
            raise InvalidRecord("logName and insertId are too long")
        occurred_at = utc(record.get("timestamp"), "timestamp")
        service = require(payload, "serviceName")
        method = require(payload, "methodName")

        auth = payload.get("authenticationInfo")
        auth = auth if isinstance(auth, Mapping) else {}
        email = text(auth.get("principalEmail"))
        subject = text(auth.get("principalSubject"))
        kind, oidc_sub = _kind_and_ids(email, subject)
        key = text(auth.get("serviceAccountKeyName"))
        chain = _delegation(auth)
        actor = Actor(
            kind=kind,
            id=email or subject,
            credential_id=key,
            spiffe_id=oidc_sub if kind is ActorKind.AGENT else None,
            oidc_sub=oidc_sub,
        )

        code = dig(payload, "status", "code")
        failed = isinstance(code, int) and not isinstance(code, bool) and code != 0

        risk: list[str] = []
        if method in _LOGGING_DISABLED:
            risk.append("logging_disabled")
        if method in _SECRET_ACCESS:
            risk.append("secret_access")
        if method.endswith("SetIamPolicy") or method.endswith(".setIamPermissions"):
            risk.append("privilege_change")
        if method in _CREDENTIAL_ISSUE:
            risk.append("credential_issued")
        if method == "google.iam.admin.v1.CreateServiceAccountKey":
            risk.append("long_lived_credential")  # user-managed keys do not expire by default
        if chain:
            risk.append("impersonation")

        log_stream = log_name.rpartition("/")[2].replace("%2F", "/") if log_name else None
        attributes: dict[str, Any] = {
            "service_name": service,
            "method_name": method,
            "audit_log": log_stream,
            "severity": text(record.get("severity")),
            "resource_type": text(dig(record, "resource", "type")),
            "project_id": text(dig(record, "resource", "labels", "project_id")),
            "principal_subject": subject,
            "service_account_key": key,
            "delegation_chain": chain or None,
            # The authority whose credential started the chain (a person or workload).
            "original_principal": chain[0] if chain else None,
            "authority_selector": text(auth.get("authoritySelector")),
            "caller_ip": text(dig(payload, "requestMetadata", "callerIp")),
            "user_agent": _clip(text(dig(payload, "requestMetadata", "callerSuppliedUserAgent"))),
            "status_code": code if isinstance(code, int) and not isinstance(code, bool) else None,
            "status_message": _clip(text(dig(payload, "status", "message"))),
            "operation_id": _clip(text(dig(record, "operation", "id"))),
        }
        return Extracted(
            source=self.name,
            source_event_id=event_id,
            occurred_at=occurred_at,
            actor=actor,
            action=f"{service}:{method}",
            target=text(payload.get("resourceName")),
            outcome=Outcome.FAILURE if failed else Outcome.SUCCESS,
            keys=CorrelationKeys(credential_id=[key] if key else []),
            risk=risk,
            ocsf=Ocsf(class_uid=6003, activity_id=_VERBS.get(_verb(method), 99)),
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
