"""AWS CloudTrail: one record of a trail (the pipeline unwraps ``{"Records": [...]}``).

Record fields are those of the CloudTrail record contents reference (eventVersion 1.0x):
``eventID``, ``eventTime``, ``eventSource``, ``eventName``, ``userIdentity``,
``requestParameters``, ``responseElements``, ``resources``, ``errorCode``, ...

Extraction is on the hot path (an account writes millions of records a day), so it reads
fields with plain lookups and string methods and copies nothing large.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

from ingest.fields import text, tickets, utc
from ingest.interface import Context, InvalidRecord, Source
from ingest.model import MAX_EVENT_ID, Actor, ActorKind, CorrelationKeys, Extracted, Ocsf, Outcome

__all__ = ["CloudTrail"]

_EMPTY: dict[str, Any] = {}  # never mutated
_CLIP = 512  # longest free-text attribute kept (error messages, user agents)

# eventSource prefixes whose IAM service prefix differs (IAM "Actions, resources, and
# condition keys" reference); every other service uses the eventSource host label.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}

# userIdentity.type -> who acts. IAM users and the root user are people signing in or their
# keys; roles are machines unless IAM Identity Center issued them (see _actor_kind).
_KINDS = {
    "IAMUser": ActorKind.HUMAN,
    "Root": ActorKind.HUMAN,
    "FederatedUser": ActorKind.HUMAN,
    "SAMLUser": ActorKind.HUMAN,
    "IdentityCenterUser": ActorKind.HUMAN,
    "AssumedRole": ActorKind.SERVICE,
    "WebIdentityUser": ActorKind.SERVICE,
    "AWSService": ActorKind.SERVICE,
}

# OCSF 3001 Account Change activity for IAM user and credential changes (OCSF 1.x:
# 1 Create, 3 Password Change, 4 Password Reset, 6 Delete, 7 Attach Policy, 8 Detach Policy,
# 10 MFA Factor Enable, 11 MFA Factor Disable, 99 Other).
_ACCOUNT_CHANGE = {
    name: Ocsf(class_uid=3001, activity_id=activity)
    for name, activity in {
        "CreateUser": 1,
        "DeleteUser": 6,
        "UpdateUser": 99,
        "CreateLoginProfile": 3,
        "UpdateLoginProfile": 4,
        "DeleteLoginProfile": 99,
        "ChangePassword": 3,
        "CreateAccessKey": 99,
        "UpdateAccessKey": 99,
        "DeleteAccessKey": 99,
        "UploadSSHPublicKey": 99,
        "CreateServiceSpecificCredential": 99,
        "AttachUserPolicy": 7,
        "PutUserPolicy": 7,
        "DetachUserPolicy": 8,
        "DeleteUserPolicy": 8,
        "AddUserToGroup": 99,
        "RemoveUserFromGroup": 99,
        "EnableMFADevice": 10,
        "DeactivateMFADevice": 11,
    }.items()
}
_LOGON = Ocsf(class_uid=3002, activity_id=1)  # Authentication: Logon
_API_OTHER = Ocsf(class_uid=6003, activity_id=99)

# OCSF 6003 API Activity by the verb an AWS API name starts with.
_VERBS = tuple(
    (prefixes, Ocsf(class_uid=6003, activity_id=activity))
    for prefixes, activity in (
        (("Create", "Put", "Run", "Add"), 1),
        (("Get", "List", "Describe", "Head", "Lookup", "Search", "BatchGet"), 2),
        (("Update", "Modify", "Attach", "Set"), 3),
        (("Delete", "Remove", "Detach", "Terminate"), 4),
    )
)

# Calls that stop or narrow audit logging: evidence of a trail being cut.
_LOGGING_DISABLED = frozenset(
    {
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:UpdateTrail",
        "cloudtrail:DeleteEventDataStore",
        "cloudtrail:StopEventDataStoreIngestion",
        "ec2:DeleteFlowLogs",
        "route53resolver:DeleteResolverQueryLogConfig",
        "logs:DeleteLogGroup",
    }
)
_SECRET_ACCESS = frozenset(
    {
        "secretsmanager:GetSecretValue",
        "secretsmanager:BatchGetSecretValue",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "ec2:GetPasswordData",
    }
)
_PRIVILEGE_CHANGE = frozenset(
    {
        "iam:AttachUserPolicy",
        "iam:AttachRolePolicy",
        "iam:AttachGroupPolicy",
        "iam:PutUserPolicy",
        "iam:PutRolePolicy",
        "iam:PutGroupPolicy",
        "iam:CreatePolicyVersion",
        "iam:UpdateAssumeRolePolicy",
        "iam:AddUserToGroup",
        "iam:CreateLoginProfile",
        "iam:UpdateLoginProfile",
    }
)

# The tag an orchestrator puts on an AssumeRole session to name the workspace it serves
# (same key as the Kubernetes label vestige reads).
_WORKSPACE_TAG = "vestige.dev/workspace-id"
_KEY_CHANGES = frozenset({"DeleteAccessKey", "UpdateAccessKey"})


def _str(node: object, key: str) -> str | None:
    """``node[key]`` as text, or None: ``text(dig(node, key))`` for the hot path.

    Decoded JSON objects are plain dicts; the exact type test is much cheaper than an
    ``isinstance`` check against the ``Mapping`` ABC.
    """
    if type(node) is not dict:
        return None
    value = node.get(key)
    if type(value) is str:
        return value or None
    return None if value is None else text(value)


def _map(node: object, key: str) -> dict[str, Any]:
    value = node.get(key) if type(node) is dict else None
    return value if type(value) is dict else _EMPTY


# CloudTrail writes eventTime as ``2026-11-20T09:00:00Z``; for that shape ``utc`` only
# appends zero microseconds, so a check of the digits and a ``datetime`` (which rejects
# impossible dates and times exactly as ``utc`` does) replaces its general parse. Years
# before 1000 are left to ``utc``: strftime does not zero-pad them.
_EVENT_TIME = re.compile(r"([1-9][0-9]{3})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def _utc(value: object) -> str:
    """``utc(value, "eventTime")``, with a fast path for CloudTrail's own format."""
    if type(value) is str and len(value) == 20 and (match := _EVENT_TIME.fullmatch(value)):
        year, month, day, hour, minute, second = map(int, match.groups())
        try:
            datetime(year, month, day, hour, minute, second)
        except ValueError:
            pass  # utc() raises InvalidRecord with its own message
        else:
            return value[:19] + ".000000Z"
    return utc(value, "eventTime")


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= _CLIP else value[:_CLIP]


def _key_type(access_key_id: str | None) -> str | None:
    """AKIA = IAM user or root key (long-lived); ASIA = STS session key (temporary)."""
    if access_key_id is None:
        return None
    if access_key_id.startswith("AKIA"):
        return "long-lived"
    if access_key_id.startswith("ASIA"):
        return "temporary"
    return None


def _action(event_source: str, event_name: str) -> str:
    """The IAM action: ``s3.amazonaws.com`` + ``GetObject`` -> ``s3:GetObject``."""
    service = event_source.removesuffix(".amazonaws.com")
    service = _IAM_PREFIX.get(service, service)
    if service == "lambda":
        event_name = _without_api_version(event_name)
    return f"{service}:{event_name}"


def _without_api_version(name: str) -> str:
    """Lambda logs the API version: ``UpdateFunctionCode20150331v2`` -> ``UpdateFunctionCode``."""
    head, v, tail = name.rpartition("v")
    if v and tail.isdigit() and head[-8:].isdigit():
        name = head
    if len(name) > 8 and name[-8:].isdigit():
        return name[:-8]
    return name


def _ocsf(action: str, event_name: str) -> Ocsf:
    if action == "signin:ConsoleLogin":
        return _LOGON
    if action.startswith("iam:") and event_name in _ACCOUNT_CHANGE:
        return _ACCOUNT_CHANGE[event_name]
    for prefixes, ocsf in _VERBS:
        if event_name.startswith(prefixes):
            return ocsf
    return _API_OTHER


# requestParameters naming the resource, in order of preference, when ``resources`` is absent.
_ARN_PARAMS = ("roleArn", "policyArn", "secretId", "functionName")
_IAM_NAME_PARAMS = (("userName", "user"), ("roleName", "role"), ("groupName", "group"))
_NAME_PARAMS = ("instanceId", "target", "modelId", "keyId", "logGroupName", "clusterName", "name")


def _target(
    record: dict[str, Any], action: str, region: str | None, account: str | None
) -> str | None:
    """The first resource ARN, else an ARN or name derived from the request parameters."""
    resources = record.get("resources")
    if type(resources) is list:
        for resource in resources:
            arn = _str(resource, "ARN")
            if arn:
                return arn
    params = _map(record, "requestParameters")
    if not params:
        return None
    bucket = _str(params, "bucketName")
    if bucket:
        key = _str(params, "key")
        return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"
    for field in _ARN_PARAMS:
        value = _str(params, field)
        if value:
            return value
    if action.startswith("cloudtrail:"):
        trail = _str(params, "trailName") or _str(params, "name")
        if trail and not trail.startswith("arn:") and region and account:
            return f"arn:aws:cloudtrail:{region}:{account}:trail/{trail}"
        if trail:
            return trail
    for field, kind in _IAM_NAME_PARAMS:
        value = _str(params, field)
        if value:
            # The IAM ARN without its path: CloudTrail does not log the path here.
            return f"arn:aws:iam::{account}:{kind}/{value}" if account else value
    for field in _NAME_PARAMS:
        value = _str(params, field)
        if value:
            return value
    return None


def _expiration(value: object) -> str | None:
    """STS logs expirations as ``Nov 30, 2024, 8:43:17 PM`` (UTC); give RFC 3339 when we can."""
    raw = text(value)
    if raw is None:
        return None
    for form in ("%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p"):
        try:
            moment = datetime.strptime(raw, form).replace(tzinfo=UTC)
        except ValueError:
            continue
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        return utc(raw)
    except InvalidRecord:
        return _clip(raw)


def _issued(response: dict[str, Any]) -> dict[str, Any] | None:
    """A credential the call handed out: STS ``credentials`` or IAM ``accessKey``."""
    credentials = _map(response, "credentials")
    key_id = _str(credentials, "accessKeyId")
    if key_id:
        return {
            "id": key_id,
            "type": _key_type(key_id) or "temporary",
            "expiration": _expiration(credentials.get("expiration")),
        }
    access_key = _map(response, "accessKey")
    key_id = _str(access_key, "accessKeyId")
    if key_id:
        return {"id": key_id, "type": _key_type(key_id) or "long-lived", "expiration": None}
    return None


def _session_name(identity: dict[str, Any], arn: str | None) -> str | None:
    """The role session name: ``arn:aws:sts::123:assumed-role/ROLE/SESSION``, else principalId."""
    if arn and ":assumed-role/" in arn:
        _, _, rest = arn.partition(":assumed-role/")
        _, _, session = rest.partition("/")
        return session or None
    if identity.get("type") == "AssumedRole":
        principal = _str(identity, "principalId")
        if principal and ":" in principal:
            return principal.partition(":")[2] or None
    return None


def _actor(
    identity: dict[str, Any],
    identity_type: str | None,
    arn: str | None,
    invoked_by: str | None,
    session: str | None,
    issuer: str | None,
    source_identity: str | None,
) -> Actor:
    if source_identity and source_identity.startswith("spiffe://"):
        kind = ActorKind.AGENT  # a workload identity the orchestrator stamped on the session
    elif identity_type == "AssumedRole" and issuer and "/AWSReservedSSO_" in issuer:
        kind = ActorKind.HUMAN  # IAM Identity Center permission-set roles are people
    else:
        kind = _KINDS.get(identity_type or "", ActorKind.UNKNOWN)
    return Actor(
        kind=kind,
        id=arn
        or _str(identity, "principalId")
        or _str(_map(identity, "onBehalfOf"), "userId")
        or invoked_by
        or _str(identity, "accountId"),
        display=_str(identity, "userName")
        or session
        or invoked_by
        or ("root" if identity_type == "Root" else None),
        credential_id=_str(identity, "accessKeyId"),
        spiffe_id=source_identity if kind is ActorKind.AGENT else None,
        # AssumeRoleWithWebIdentity callers: userName is the token's subject.
        oidc_sub=_str(identity, "userName") if identity_type == "WebIdentityUser" else None,
    )


@lru_cache(maxsize=1024)
def _tickets(*texts: str | None) -> tuple[str, ...]:
    """``tickets(*texts)``, remembered: a session's calls all carry the same names."""
    return tuple(tickets(*texts))


def _risk(
    record: dict[str, Any],
    action: str,
    identity_type: str | None,
    key_type: str | None,
    issued: dict[str, Any] | None,
) -> list[str]:
    risk: list[str] = []
    if action in _LOGGING_DISABLED:
        risk.append("logging_disabled")
    if action in _SECRET_ACCESS:
        risk.append("secret_access")
    if action in _PRIVILEGE_CHANGE:
        risk.append("privilege_change")
    if key_type == "long-lived" or (issued and issued["type"] == "long-lived"):
        risk.append("long_lived_credential")
    if issued:
        risk.append("credential_issued")
    if identity_type == "Root":
        risk.append("root_activity")
    if (
        action == "signin:ConsoleLogin"
        and _str(_map(record, "additionalEventData"), "MFAUsed") == "No"
    ):
        risk.append("no_mfa")
    return risk


class CloudTrail(Source):
    """One CloudTrail record."""

    name: ClassVar[str] = "cloudtrail"

    def matches(self, record: Mapping[str, Any], context: Context) -> bool:
        return (
            isinstance(record, Mapping)
            and "eventVersion" in record
            and "eventSource" in record
            and "eventName" in record
        )

    def extract(self, record: Mapping[str, Any], context: Context) -> Extracted:
        if type(record) is not dict:
            if not isinstance(record, Mapping):
                raise InvalidRecord("CloudTrail record is not a JSON object")
            record = dict(record)
        event_id = _str(record, "eventID")
        if event_id is None:
            raise InvalidRecord("missing or non-text field eventID")
        if len(event_id) > MAX_EVENT_ID:
            raise InvalidRecord("eventID is too long")
        event_name = _str(record, "eventName")
        if event_name is None:
            raise InvalidRecord("missing or non-text field eventName")
        event_source = _str(record, "eventSource")
        if event_source is None:
            raise InvalidRecord("missing or non-text field eventSource")
        # Logstash's date filter moves eventTime into @timestamp (OTRF Security-Datasets).
        occurred_at = _utc(record.get("eventTime") or record.get("@timestamp"))
        action = _action(event_source, event_name)

        identity = _map(record, "userIdentity")
        identity_type = _str(identity, "type")
        session_context = _map(identity, "sessionContext")
        issuer = _str(_map(session_context, "sessionIssuer"), "arn")
        arn = _str(identity, "arn")
        invoked_by = _str(identity, "invokedBy")
        session = _session_name(identity, arn)
        source_identity = _str(session_context, "sourceIdentity") or _str(record, "sourceIdentity")
        actor = _actor(identity, identity_type, arn, invoked_by, session, issuer, source_identity)
        key_type = _key_type(actor.credential_id)
        region = _str(record, "awsRegion")
        account = _str(record, "recipientAccountId") or _str(identity, "accountId")

        error_code = _str(record, "errorCode")
        response = _map(record, "responseElements")
        failed = error_code is not None or (
            event_name == "ConsoleLogin" and response.get("ConsoleLogin") == "Failure"
        )

        credential_ids = [actor.credential_id] if actor.credential_id else []
        session_ids = [session] if session else []
        workspace_ids: list[str] = []
        issued = _issued(response) if response else None
        if issued:
            credential_ids.append(issued["id"])
        params = _map(record, "requestParameters")
        if event_name in _KEY_CHANGES:
            # The key deleted or deactivated: links its revocation to whoever held it.
            changed = _str(params, "accessKeyId")
            if changed:
                credential_ids.append(changed)
        requested_identity = None
        if event_name.startswith("AssumeRole") and params:
            # The session this call creates: later calls carry its name, key and tags.
            requested = _str(params, "roleSessionName")
            if requested:
                session_ids.append(requested)
            requested_identity = _str(params, "sourceIdentity")
            tags = params.get("tags")
            if type(tags) is list:
                workspace_ids.extend(
                    value
                    for tag in tags
                    if _str(tag, "key") == _WORKSPACE_TAG and (value := _str(tag, "value"))
                )

        read_only = record.get("readOnly")
        attributes: dict[str, Any] = {
            "event_name": event_name,
            "event_type": _str(record, "eventType"),
            "event_category": _str(record, "eventCategory"),
            "read_only": read_only if type(read_only) is bool else None,
            "source_ip": _clip(_str(record, "sourceIPAddress")),
            "user_agent": _clip(_str(record, "userAgent")),
            "recipient_account": account,
            "aws_region": region,
            "user_type": identity_type,
            "access_key_type": key_type,
            "session_issuer": issuer,
            "source_identity": _clip(source_identity),
            "requested_source_identity": _clip(requested_identity),
            "invoked_by": invoked_by,
            "mfa_authenticated": _str(_map(session_context, "attributes"), "mfaAuthenticated"),
            "federated_provider": _str(
                _map(session_context, "webIdFederationData"), "federatedProvider"
            ),
            "error_code": _clip(error_code),
            "error_message": _clip(_str(record, "errorMessage")),
            "issued_credential": issued,
        }
        return Extracted(
            source=self.name,
            source_event_id=event_id,
            occurred_at=occurred_at,
            actor=actor,
            action=action,
            target=_target(record, action, region, account),
            outcome=Outcome.FAILURE if failed else Outcome.SUCCESS,
            keys=CorrelationKeys(
                credential_id=credential_ids,
                session_id=session_ids,
                workspace_id=workspace_ids,
                ticket=list(_tickets(*session_ids, source_identity, requested_identity)),
            ),
            risk=_risk(record, action, identity_type, key_type, issued),
            ocsf=_ocsf(action, event_name),
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
