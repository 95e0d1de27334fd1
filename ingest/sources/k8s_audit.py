"""Kubernetes API server audit events (``audit.k8s.io/v1`` ``Event``; v1beta1 and unversioned too).

One request produces one event per stage (RequestReceived, ResponseStarted, ResponseComplete,
Panic), all with the same ``auditID``, so the stage is part of the event id. EKS, GKE and
self-managed clusters write the same shape; EKS adds the caller's AWS identity under
``user.extra``, whose access key and role session name link the event to CloudTrail.

The namespace is an attribute, not a workspace key: a workspace is named only by the
``vestige.dev/workspace-id`` label or annotation on the objects in the request or response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ingest.fields import dig, require, strings, text, tickets, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import MAX_EVENT_ID, Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome

__all__ = ["K8sAudit"]

_CLIP = 512  # longest free-text attribute kept
_LIST_CAP = 20  # longest list attribute kept (groups, source IPs)

# Where an orchestrator marks the objects of a workspace (label or annotation key).
_WORKSPACE_KEY = "vestige.dev/workspace-id"

# OCSF 6003 API Activity by Kubernetes verb.
_OCSF = {
    "create": 1,
    "get": 2,
    "list": 2,
    "watch": 2,
    "update": 3,
    "patch": 3,
    "delete": 4,
    "deletecollection": 4,
}

# Subresources that open an interactive channel into a running container.
_INTERACTIVE = frozenset({"exec", "attach", "portforward"})
_RBAC_BINDINGS = frozenset({"rolebindings", "clusterrolebindings"})
_WRITES = frozenset({"create", "update", "patch"})
_ANONYMOUS = frozenset({"system:anonymous", "system:unauthenticated"})


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= _CLIP else value[:_CLIP]


def _first(value: object) -> str | None:
    """``user.extra`` values are lists of strings; the first one, as text."""
    return text(value[0]) if isinstance(value, list) and value else text(value)


def _kind(username: str | None) -> ActorKind:
    """Who a Kubernetes username is (Kubernetes "Authenticating": ``system:`` is reserved)."""
    if username is None or username in _ANONYMOUS:
        return ActorKind.UNKNOWN
    if username.startswith("spiffe://"):
        return ActorKind.AGENT
    if username.startswith("arn:aws:"):
        # EKS maps IAM principals to their ARN: roles are machines unless IAM Identity
        # Center issued them (as in CloudTrail), IAM users are people.
        if ":assumed-role/" in username or ":role/" in username:
            return ActorKind.HUMAN if "/AWSReservedSSO_" in username else ActorKind.SERVICE
        return ActorKind.HUMAN
    if username.startswith(("system:", "eks:")) or username.endswith(".gserviceaccount.com"):
        # Service accounts, nodes, controllers; EKS's own components; GKE's Google SAs.
        return ActorKind.SERVICE
    return ActorKind.HUMAN


def _workspace_ids(record: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for body in ("requestObject", "responseObject"):
        for where in ("labels", "annotations"):
            value = text(dig(record, body, "metadata", where, _WORKSPACE_KEY))
            if value:
                found.append(value)
    return found


def _target(record: Mapping[str, Any], ref: Mapping[str, Any]) -> str | None:
    """``namespace/resource/name``; cluster-scoped objects are ``resource/name``."""
    resource = text(ref.get("resource"))
    if resource is None:
        return None
    # A create names its object only in the bodies (generateName, server-assigned names).
    name = (
        text(ref.get("name"))
        or text(dig(record, "responseObject", "metadata", "name"))
        or text(dig(record, "requestObject", "metadata", "name"))
    )
    parts = [text(ref.get("namespace")), resource, name]
    return "/".join(p for p in parts if p)


class K8sAudit(Source):
    """One Kubernetes audit event at one stage."""

    name: ClassVar[str] = "k8s-audit"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        return (
            isinstance(record, Mapping)
            and record.get("kind") == "Event"
            and "auditID" in record
            and "verb" in record
        )

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        if not isinstance(record, Mapping):
            raise InvalidRecord("Kubernetes audit event is not a JSON object")
        audit_id = require(record, "auditID")
        stage = text(record.get("stage"))
        event_id = f"{audit_id}:{stage}" if stage else audit_id
        if len(event_id) > MAX_EVENT_ID:
            raise InvalidRecord("auditID is too long")
        verb = require(record, "verb")
        when = (
            record.get("stageTimestamp")
            or record.get("requestReceivedTimestamp")
            or record.get("timestamp")  # v1beta1 and older
        )
        occurred_at = utc(when, "stageTimestamp")

        ref = dig(record, "objectRef")
        ref = ref if isinstance(ref, Mapping) else {}
        resource = text(ref.get("resource"))
        subresource = text(ref.get("subresource"))
        if resource:
            action = f"{verb}:{resource}/{subresource}" if subresource else f"{verb}:{resource}"
        else:
            # Non-resource URLs (/healthz, /version, /apis): the path is what was asked for.
            uri = text(record.get("requestURI"))
            action = f"{verb}:{uri.partition('?')[0]}" if uri else verb

        username = text(dig(record, "user", "username"))
        impersonated = text(dig(record, "impersonatedUser", "username"))
        effective = impersonated or username
        kind = _kind(effective)
        extra = dig(record, "user", "extra")
        extra = extra if isinstance(extra, Mapping) else {}
        # EKS names the caller's AWS access key (the one CloudTrail shows); Kubernetes 1.30+
        # names the credential itself (JTI=... for service account tokens, X509SHA256=...).
        access_key = _first(extra.get("accessKeyId"))
        session = _first(extra.get("sessionName"))  # the role session CloudTrail shows too
        credential = _first(extra.get("authentication.kubernetes.io/credential-id"))
        actor = Actor(
            kind=kind,
            id=effective,
            credential_id=access_key or credential,
            spiffe_id=effective if kind is ActorKind.AGENT else None,
        )

        code = dig(record, "responseStatus", "code")
        if isinstance(code, int) and not isinstance(code, bool):
            outcome = Outcome.SUCCESS if code < 400 else Outcome.FAILURE
        else:
            outcome = Outcome.UNKNOWN  # RequestReceived has no response yet

        risk: list[str] = []
        if subresource in _INTERACTIVE:
            risk.append("interactive_session")
        if resource == "secrets" and verb in {"get", "list", "watch"}:
            risk.append("secret_access")
        if resource in _RBAC_BINDINGS and verb in _WRITES:
            risk.append("privilege_change")
        if impersonated:
            risk.append("impersonation")
        if effective is None or effective in _ANONYMOUS:
            risk.append("anonymous_access")

        groups = dig(record, "user", "groups")
        ips = record.get("sourceIPs")
        annotations = record.get("annotations")
        attributes: dict[str, Any] = {
            "stage": stage,
            "level": text(record.get("level")),
            "namespace": text(ref.get("namespace")),
            "api_group": text(ref.get("apiGroup")),
            "api_version": text(ref.get("apiVersion")),
            "resource": resource,
            "subresource": subresource,
            "response_code": code if isinstance(code, int) and not isinstance(code, bool) else None,
            "response_reason": _clip(text(dig(record, "responseStatus", "reason"))),
            "response_message": _clip(text(dig(record, "responseStatus", "message"))),
            "request_uri": _clip(text(record.get("requestURI"))),
            "user_agent": _clip(text(record.get("userAgent"))),
            "source_ips": strings(ips[:_LIST_CAP]) if isinstance(ips, list) else None,
            "groups": strings(groups[:_LIST_CAP]) if isinstance(groups, list) else None,
            "impersonated_user": impersonated,
            "real_user": username if impersonated else None,
            "authorization_decision": text(dig(annotations, "authorization.k8s.io/decision")),
            "authorization_reason": _clip(text(dig(annotations, "authorization.k8s.io/reason"))),
            "aws_arn": _first(extra.get("arn")),
        }
        return Extracted(
            source=self.name,
            source_event_id=event_id,
            occurred_at=occurred_at,
            actor=actor,
            action=action,
            target=_target(record, ref),
            outcome=outcome,
            keys=CorrelationKeys(
                workspace_id=_workspace_ids(record),
                credential_id=[c for c in (access_key, credential) if c],
                session_id=[session] if session else [],
                ticket=tickets(session),
            ),
            risk=risk,
            ocsf=Ocsf(class_uid=6003, activity_id=_OCSF.get(verb, 99)),
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
