"""Deterministic scenarios: agent workspaces' audit trails in six real formats, with planted gaps.

A scenario is what vestige would collect from an organisation whose AI agents work in
short-lived workspaces, plus the truth about it: which gap codes were planted in which
workspace. Benchmarks and end-to-end tests ingest the records and compare the
reconstruction's findings with ``truth``. Everything derives from ``seed`` and
``start``: no clock, no network, the same arguments give the same bytes.

Lifecycle of a clean workspace (times from its creation; L, its life, is 6-40 minutes):
Jira ``issue_created`` (before) -> ``workspace.created`` -> ``sts:AssumeRole`` tagged with
the workspace -> Vault JWT login -> signed ``task.recorded`` -> ``credential.issued`` (STS
key, Vault token) [-> ``approval.granted``] -> Jira "In Progress" -> pod create/get ->
Vault database creds read -> CloudTrail calls with the session [-> an approved
``secretsmanager:GetSecretValue``] -> push -> ``pull_request`` opened -> Jira "In Review"
-> ``workflow_run`` completed -> Vault lease revoke -> ``credential.revoked`` x2 ->
``workspace.destroyed`` (at L). Background traffic (noise) belongs to no agent.

The record forms, per source (what the system itself writes; ``ingest/sources`` reads them):

* ``agent``: CloudEvents 1.0, structured JSON, per ``contracts/agent-events.md``; task
  records and approvals signed with Ed25519 over their RFC 8785 bytes
  (``ledger.canonicalize``). ``write`` and ``records`` give ``agent`` first: ingested
  in that order, the ledger receives each approval before the provider logs of the
  actions it covers, as the rules require (README, "Late events").
* ``cloudtrail``: records per the CloudTrail record contents reference
  (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html),
  eventVersion 1.09; STS ``expiration`` in the ``Nov 2, 2026, 9:04:05 AM`` form CloudTrail
  logs. ``sessionToken`` is left out of AssumeRole responses (it is a secret: the
  pipeline would redact it).
* ``github``: saved REST "webhook delivery" objects
  (https://docs.github.com/en/rest/repos/webhooks#get-a-delivery-for-a-repository-webhook)
  whose ``request.payload`` is the ``push`` / ``pull_request`` / ``workflow_run`` payload of
  https://docs.github.com/en/webhooks/webhook-events-and-payloads.
* ``vault``: file audit device JSON lines, response entries
  (https://developer.hashicorp.com/vault/docs/audit); strings HMACed as Vault does, except
  token accessors: the device is taken to run with ``hmac_accessor=false`` so that the
  orchestrator's credential ids match them. Leases are revoked with ``PUT
  sys/leases/revoke/:lease_id`` (the lease id in the path, which Vault does not HMAC).
* ``jira``: Jira webhook payloads (``webhookEvent``, ``timestamp`` in epoch ms,
  ``changelog``; https://developer.atlassian.com/server/jira/platform/webhooks/).
* ``k8s-audit``: ``audit.k8s.io/v1`` ``Event`` objects at stage ResponseComplete, one per
  line as the log backend writes them
  (https://kubernetes.io/docs/reference/config-api/apiserver-audit.v1/).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import string
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

import ledger

__all__ = ["PLANTABLE", "Scenario", "default_plan", "generate", "write"]

Record = dict[str, Any]

PLANTABLE: Final[frozenset[str]] = frozenset(
    {
        "NO_TICKET",
        "NO_BRANCH",
        "NO_TASK_RECORD",
        "TASK_RECORD_UNSIGNED",
        "TASK_RECORD_BAD_SIGNATURE",
        "CREDENTIAL_NOT_REVOKED",
        "LONG_LIVED_CREDENTIAL",
        "ACTION_AFTER_TEARDOWN",
        "LIFECYCLE_INCOMPLETE",
        "EVIDENCE_TAMPERING",
        "UNAPPROVED_HIGH_RISK_ACTION",
        "SELF_PROVISIONED",
        "SCOPE_EXCEEDED",
        "COLLECTOR_SILENCE",
        "UNATTRIBUTED_ACTION",
    }
)
"""The gap codes :func:`generate` can plant; each planted alone leaves only itself.

What each plants in workspace W (everything else of W stays as in a clean workspace):

* NO_TICKET: the task record's ``ticket`` is null; the branch, commits and PR name no
  ticket either, and no Jira event concerns W.
* NO_BRANCH: the task record's ``branch`` is null; W makes no GitHub events and its
  scopes name no github system (else COLLECTOR_SILENCE would follow).
* NO_TASK_RECORD: no ``task.recorded`` (so scopes are not judged).
* TASK_RECORD_UNSIGNED: the record carries no ``signature``.
* TASK_RECORD_BAD_SIGNATURE: the record's ``intent`` is changed after signing.
* CREDENTIAL_NOT_REVOKED: the STS key is never revoked; it expires an hour after issue,
  after the teardown.
* LONG_LIVED_CREDENTIAL: an ``aws-iam-user-key`` (``AKIA...``, no ``expires_at``) is issued,
  named in the task record, used for two in-scope S3 calls and revoked before teardown.
* ACTION_AFTER_TEARDOWN: an in-scope ``s3:GetObject`` with W's STS key 10 minutes after
  ``workspace.destroyed`` (the key is revoked at teardown but has not expired).
* LIFECYCLE_INCOMPLETE: no ``workspace.destroyed``.
* EVIDENCE_TAMPERING: a forced push to W's branch (``push`` is in scope).
* UNAPPROVED_HIGH_RISK_ACTION: ``secretsmanager:GetSecretValue`` by W's session, in scope,
  with no ``approval.granted``.
* SELF_PROVISIONED: ``workspace.created`` with ``created_by`` = W's agent identity.
* SCOPE_EXCEEDED: ``s3:GetObject`` by W's session on a bucket outside its scopes.
* COLLECTOR_SILENCE: none of W's CloudTrail events (no AssumeRole, no calls) though its
  scopes name aws; the STS key is still issued and revoked.
* UNATTRIBUTED_ACTION: organisation-wide, under ``truth[""]``: a CloudTrail call by
  ``spiffe://corp.example/agent/rogue-<n>`` with a key no workspace was given, during W's
  life. W itself is unaffected.

Combinations that cannot be planted together (:func:`generate` refuses them):
NO_TASK_RECORD with NO_TICKET, NO_BRANCH, TASK_RECORD_UNSIGNED or TASK_RECORD_BAD_SIGNATURE
(defects of the record it removes), with SCOPE_EXCEEDED or COLLECTOR_SILENCE (scopes come
from the record) or with EVIDENCE_TAMPERING (the forced push is found through the record's
branch); NO_BRANCH with EVIDENCE_TAMPERING; TASK_RECORD_UNSIGNED with
TASK_RECORD_BAD_SIGNATURE; LIFECYCLE_INCOMPLETE with CREDENTIAL_NOT_REVOKED or
ACTION_AFTER_TEARDOWN (judged against the teardown); COLLECTOR_SILENCE with
ACTION_AFTER_TEARDOWN, SCOPE_EXCEEDED, UNAPPROVED_HIGH_RISK_ACTION or LONG_LIVED_CREDENTIAL
(planted as CloudTrail calls, which the silence removes).

Not plantable: LEDGER_INTEGRITY (a property of the stored ledger, not of the records).
"""


def _pairs(code: str, others: Iterable[str], why: str) -> dict[frozenset[str], str]:
    return {frozenset((code, other)): why for other in others}


_CONFLICTS: Final[dict[frozenset[str], str]] = {
    **_pairs(
        "NO_TASK_RECORD",
        ("NO_TICKET", "NO_BRANCH", "TASK_RECORD_UNSIGNED", "TASK_RECORD_BAD_SIGNATURE"),
        "it is a defect of the task record, which NO_TASK_RECORD removes",
    ),
    **_pairs(
        "NO_TASK_RECORD",
        ("SCOPE_EXCEEDED", "COLLECTOR_SILENCE"),
        "scopes are read from the task record, which NO_TASK_RECORD removes",
    ),
    **_pairs(
        "NO_TASK_RECORD",
        ("EVIDENCE_TAMPERING",),
        "the forced push is found through the task record's branch",
    ),
    **_pairs("NO_BRANCH", ("EVIDENCE_TAMPERING",), "the forced push needs the task's branch"),
    **_pairs(
        "TASK_RECORD_UNSIGNED",
        ("TASK_RECORD_BAD_SIGNATURE",),
        "the one task record is either unsigned or badly signed",
    ),
    **_pairs(
        "LIFECYCLE_INCOMPLETE",
        ("CREDENTIAL_NOT_REVOKED", "ACTION_AFTER_TEARDOWN"),
        "it is judged against the teardown, which LIFECYCLE_INCOMPLETE removes",
    ),
    **_pairs(
        "COLLECTOR_SILENCE",
        (
            "ACTION_AFTER_TEARDOWN",
            "SCOPE_EXCEEDED",
            "UNAPPROVED_HIGH_RISK_ACTION",
            "LONG_LIVED_CREDENTIAL",
        ),
        "it is planted as CloudTrail calls, which COLLECTOR_SILENCE removes",
    ),
}

# Most constrained first, so that default_plan's greedy placement always finds a slot.
_PLAN_ORDER: Final = (
    "NO_TASK_RECORD",
    "TASK_RECORD_UNSIGNED",
    "TASK_RECORD_BAD_SIGNATURE",
    "LIFECYCLE_INCOMPLETE",
    "COLLECTOR_SILENCE",
    "NO_BRANCH",
    "NO_TICKET",
    "CREDENTIAL_NOT_REVOKED",
    "ACTION_AFTER_TEARDOWN",
    "EVIDENCE_TAMPERING",
    "SCOPE_EXCEEDED",
    "UNAPPROVED_HIGH_RISK_ACTION",
    "LONG_LIVED_CREDENTIAL",
    "SELF_PROVISIONED",
    "UNATTRIBUTED_ACTION",
)

SOURCES: Final = ("agent", "cloudtrail", "github", "jira", "k8s-audit", "vault")

ACCOUNT: Final = "111122223333"  # the example account of the AWS documentation
REGION: Final = "us-east-1"
EVENT_SOURCE: Final = "urn:example:orchestrator/prod"
ORCHESTRATOR: Final = "spiffe://corp.example/orchestrator"
AGENT_ROLE: Final = "agent-workspace"
BUCKET: Final = "ws-artifacts"
OUT_OF_SCOPE_BUCKET: Final = "corp-build-cache"
DB_ROLE: Final = "app-readonly"
GITHUB_ORG: Final = "corp"
BOT: Final = "corp-agents[bot]"

_REPOS: Final = ("corp/payments", "corp/ledger-api", "corp/web-portal", "corp/infra-tools")
_TASKS: Final = (
    ("fix-rounding", "Fix rounding in invoice totals"),
    ("bump-deps", "Bump vulnerable dependencies"),
    ("retry-webhooks", "Retry failed webhook deliveries"),
    ("add-latency-metrics", "Add request latency metrics"),
    ("tighten-cors", "Tighten the CORS allow-list"),
    ("fix-flaky-tests", "Fix flaky integration tests"),
)
_PEOPLE: Final = (
    ("dana@corp.example", "Dana Reyes"),
    ("lee@corp.example", "Lee Okafor"),
    ("sam@corp.example", "Sam Lindqvist"),
    ("priya@corp.example", "Priya Natarajan"),
)

_LEAD: Final = timedelta(hours=2)  # background traffic before the first and after the last
_STAGGER: Final = timedelta(minutes=4)  # one workspace starts every few minutes
_HEARTBEAT: Final = timedelta(minutes=10)  # well inside the rules' 1 h collector max_gap
_STS_SECONDS: Final = 3600  # AssumeRole DurationSeconds: longer than any workspace's life
_LATE: Final = timedelta(minutes=10)  # ACTION_AFTER_TEARDOWN: after the 30 s grace, before expiry
_TASK_VALIDITY: Final = timedelta(hours=4)

_B32: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # AWS access key ids use this alphabet
_B62: Final = string.ascii_letters + string.digits
_MONTHS: Final = ("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split()
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CONTROLLER_AGENT: Final = (
    "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/leader-election"
)
_SDK: Final = "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64"


@dataclass(frozen=True)
class Scenario:
    """Records per ingest source, the planted truth, and the key that signed the task records.

    ``records`` maps a source name (``agent``, ``cloudtrail``, ``github``, ``jira``,
    ``k8s-audit``, ``vault``) to its records in time order, each in the form the system
    writes it. ``truth`` maps every workspace id to the gap codes planted in it (empty:
    clean); the organisation-wide UNATTRIBUTED_ACTION is under ``""``, present only when
    planted. Trust ``signer.verifier.encode()`` (``vestige trust add``), or every task
    record's signature fails. Every record's time lies in [``start``, ``end``].
    """

    records: dict[str, list[dict[str, Any]]]
    truth: dict[str, frozenset[str]]
    signer: ledger.Signer
    start: datetime
    end: datetime


# -- plans -------------------------------------------------------------------------------


def _conflict(codes: Iterable[str], code: str) -> str | None:
    """Why ``code`` cannot join ``codes`` in one workspace, or None."""
    for other in codes:
        why = _CONFLICTS.get(frozenset((code, other)))
        if why is not None:
            return f"{code} with {other}: {why}"
    return None


def default_plan(workspaces: int) -> dict[int, list[str]]:
    """A plan that plants every code of :data:`PLANTABLE` and leaves most workspaces clean.

    Every third workspace (indexes 1, 4, 7, ...) is broken. Codes go, most constrained
    first, to the compatible broken workspace with the fewest codes, so each gets one or
    two once there are eight or more broken workspaces (23 workspaces); fewer workspaces
    get more codes each. Broken workspaces left without a code get one, cycling through
    the codes. Every code fits from 8 workspaces up; below that, codes that fit nowhere are
    left out.
    """
    slots = [i for i in range(workspaces) if i % 3 == 1] or list(range(min(workspaces, 1)))
    plan: dict[int, list[str]] = {i: [] for i in slots}
    for code in _PLAN_ORDER:
        fits = [i for i in slots if _conflict(plan[i], code) is None]
        if fits:
            plan[min(fits, key=lambda i: (len(plan[i]), i))].append(code)
    more = itertools.cycle(_PLAN_ORDER)
    for i in slots:
        if not plan[i]:
            plan[i].append(next(more))
    return {i: codes for i, codes in plan.items() if codes}


def _checked(
    workspaces: int, gaps: Mapping[int, Iterable[str]] | None
) -> dict[int, frozenset[str]]:
    """``gaps`` as sets of codes, refused with ValueError if it asks the impossible."""
    if workspaces < 1:
        raise ValueError("a scenario needs at least one workspace")
    plan: dict[int, frozenset[str]] = {}
    for index, wanted in (gaps or {}).items():
        codes = frozenset(wanted)
        if not 0 <= index < workspaces:
            raise ValueError(f"gap plan names workspace {index}, outside 0..{workspaces - 1}")
        unknown = sorted(codes - PLANTABLE)
        if unknown:
            raise ValueError(f"not plantable: {', '.join(unknown)}")
        for code in sorted(codes):
            why = _conflict(codes - {code}, code)
            if why is not None:
                raise ValueError(f"workspace {index}: cannot plant {why}")
        plan[index] = codes
    return plan


# -- small values ----------------------------------------------------------------------


def _rng(seed: int, *parts: object) -> random.Random:
    """An independent, reproducible stream for one part of the scenario (test data, not keys)."""
    return random.Random("/".join(map(str, ("vestige-scenario", seed, *parts))))  # noqa: S311


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _chars(rng: random.Random, alphabet: str, count: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def _access_key(rng: random.Random, prefix: str = "ASIA") -> str:
    """An AWS access key id: ASIA (STS session) or AKIA (IAM user) and 16 base32 characters."""
    return prefix + _chars(rng, _B32, 16)


def _hmac(rng: random.Random) -> str:
    """A value as a Vault audit device writes it: HMAC-SHA256 with the device's salt."""
    return "hmac-sha256:" + _hex(rng, 64)


def _stable(name: str, alphabet: str, count: int) -> str:
    """Characters derived from ``name``: ids that belong to a thing, not to a seed."""
    number = int.from_bytes(hashlib.sha256(name.encode()).digest(), "big")
    chars = []
    for _ in range(count):
        number, digit = divmod(number, len(alphabet))
        chars.append(alphabet[digit])
    return "".join(chars)


def _stable_number(name: str, low: int, high: int) -> int:
    return low + int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % (high - low)


def _role_id(role: str) -> str:
    return "AROA" + _stable(role, _B32, 17)


# -- times ----------------------------------------------------------------------------


def _z(when: datetime) -> str:
    """CloudTrail's eventTime and GitHub's timestamps: whole seconds, Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _us(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ns(rng: random.Random, when: datetime) -> str:
    """Vault writes nanoseconds: a moment within the (whole) second ``when``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{rng.randrange(10**9):09d}Z"


def _epoch(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(seconds=1)


def _epoch_ms(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _jira_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _sts_expiration(when: datetime) -> str:
    """STS expirations as CloudTrail logs them: ``Nov 2, 2026, 9:04:05 AM`` (UTC)."""
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    month = _MONTHS[when.month - 1]
    return f"{month} {when.day}, {when.year}, {hour}:{when:%M:%S} {half}"


# -- collecting records ------------------------------------------------------------------


class _Out:
    """Records per source, kept in time order (ties in the order they were added)."""

    def __init__(self) -> None:
        self._items: dict[str, list[tuple[datetime, int, Record]]] = {s: [] for s in SOURCES}
        self._count = 0
        self.last: datetime | None = None

    def add(self, source: str, when: datetime, record: Record) -> None:
        self._items[source].append((when, self._count, record))
        self._count += 1
        self.last = when if self.last is None else max(self.last, when)

    def records(self) -> dict[str, list[Record]]:
        return {
            source: [record for _, _, record in sorted(items, key=lambda item: item[:2])]
            for source, items in self._items.items()
        }


# -- agent lifecycle CloudEvents (contracts/agent-events.md) ---------------------------------


def _actor(kind: str, actor_id: str) -> Record:
    return {"kind": kind, "id": actor_id}


def _cloudevent(
    rng: random.Random, when: datetime, kind: str, workspace: str, data: Record
) -> Record:
    return {
        "specversion": "1.0",
        "id": _uuid(rng),
        "source": EVENT_SOURCE,
        "type": f"dev.vestige.{kind}",
        "time": _ms(when),
        "subject": workspace,
        "datacontenttype": "application/json",
        "data": data,
    }


def _signed(record: Record, signer: ledger.Signer) -> Record:
    """The task record (or approval) with its Ed25519 signature over the RFC 8785 bytes
    of the rest."""
    value = signer.sign(ledger.canonicalize(record))
    signature = {
        "alg": "ed25519",
        "key_id": signer.verifier.key_id.hex(),
        "value": base64.b64encode(value).decode(),
    }
    return {**record, "signature": signature}


# -- CloudTrail (record contents reference, eventVersion 1.09) -------------------------------


def _role_identity(
    role: str, session: str, key: str, since: datetime, source_identity: str | None = None
) -> Record:
    """``userIdentity`` of a call made with an assumed-role session's key."""
    context: Record = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": _role_id(role),
            "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "accountId": ACCOUNT,
            "userName": role,
        },
        "attributes": {"creationDate": _z(since), "mfaAuthenticated": "false"},
    }
    if source_identity is not None:
        context["sourceIdentity"] = source_identity
    return {
        "type": "AssumedRole",
        "principalId": f"{_role_id(role)}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": context,
    }


def _user_identity(user: str, key: str) -> Record:
    """``userIdentity`` of a call made with an IAM user's access key."""
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + _stable(user, _B32, 17),
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": user,
    }


def _trail(
    rng: random.Random,
    when: datetime,
    identity: Record,
    service: str,
    name: str,
    ip: str,
    *,
    params: Record | None = None,
    response: Record | None = None,
    resources: list[Record] | None = None,
    read_only: bool = True,
    data_event: bool = False,
    user_agent: str = _SDK,
) -> Record:
    """One CloudTrail record of an API call (``eventType`` AwsApiCall)."""
    record: Record = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": _z(when),
        "eventSource": f"{service}.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": user_agent,
        "requestParameters": params,
        "responseElements": response,
    }
    if data_event:  # S3 data events carry transfer details; their request ids are 16 hex
        record["additionalEventData"] = {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0 if read_only else rng.randrange(512, 65536),
            "AuthenticationMethod": "AuthHeader",
            "bytesTransferredOut": rng.randrange(512, 65536) if read_only else 0,
        }
        record["requestID"] = _hex(rng, 16).upper()
    else:
        record["requestID"] = _uuid(rng)
    record["eventID"] = _uuid(rng)
    record["readOnly"] = read_only
    if resources is not None:
        record["resources"] = resources
    record |= {
        "eventType": "AwsApiCall",
        "managementEvent": not data_event,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data" if data_event else "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{service}.{REGION}.amazonaws.com",
        },
    }
    return record


def _s3(
    rng: random.Random, when: datetime, identity: Record, ip: str, name: str, bucket: str, key: str
) -> Record:
    """An S3 object-level data event (GetObject / PutObject)."""
    reads = name.startswith("Get")
    record = _trail(
        rng,
        when,
        identity,
        "s3",
        name,
        ip,
        params={"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com", "key": key},
        response=None if reads else {"x-amz-server-side-encryption": "AES256"},
        # CloudTrail lists the object first, then its bucket.
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        read_only=reads,
        data_event=True,
    )
    record["tlsDetails"]["clientProvidedHostHeader"] = f"{bucket}.s3.{REGION}.amazonaws.com"
    return record


def _assume_role(
    rng: random.Random,
    when: datetime,
    caller: Record,
    ip: str,
    *,
    session: str,
    source_identity: str,
    workspace: str,
    key: str,
    expires: datetime,
) -> Record:
    """The orchestrator's ``sts:AssumeRole`` that mints a workspace's session.

    Tagged ``vestige.dev/workspace-id`` (a session tag), named after the workspace and
    stamped with the agent's SPIFFE ID as source identity, so every call of the session
    carries it in ``sessionContext.sourceIdentity``.
    """
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{AGENT_ROLE}"
    return _trail(
        rng,
        when,
        caller,
        "sts",
        "AssumeRole",
        ip,
        user_agent="Boto3/1.35.24 md/Botocore#1.35.24 ua/2.0 os/linux#6.8.0 lang/python#3.12.6",
        params={
            "roleArn": role_arn,
            "roleSessionName": session,
            "durationSeconds": _STS_SECONDS,
            "tags": [
                {"key": "vestige.dev/workspace-id", "value": workspace},
                {"key": "team", "value": "platform-agents"},
            ],
            "sourceIdentity": source_identity,
        },
        response={
            "credentials": {"accessKeyId": key, "expiration": _sts_expiration(expires)},
            "assumedRoleUser": {
                "assumedRoleId": f"{_role_id(AGENT_ROLE)}:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{AGENT_ROLE}/{session}",
            },
            "packedPolicySize": 4,
            "sourceIdentity": source_identity,
        },
        resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": role_arn}],
    )


def _hourly_session(seed: int, role: str, when: datetime) -> tuple[Record, str]:
    """(identity, source ip) of a service's role session, renewed every hour.

    Pods get role credentials from AssumeRoleWithWebIdentity, which the SDK renews
    before they expire: a key and a session name (``botocore-session-<epoch>``, the
    epoch of its creation) per hour, each service on its own schedule.
    """
    shift = timedelta(seconds=_stable_number(role, 0, 3600))
    began = _EPOCH + shift + (when - _EPOCH - shift) // timedelta(hours=1) * timedelta(hours=1)
    rng = _rng(seed, role, began.isoformat())
    session = f"botocore-session-{_epoch(began)}"
    ip = f"10.24.{_stable_number(role, 0, 250)}.{_stable_number(role, 2, 250)}"
    return _role_identity(role, session, _access_key(rng), began), ip


def _secret_arn(repo: str) -> str:
    # Secrets Manager appends six random characters to a secret's name in its ARN.
    name = f"{repo.split('/')[1]}/ci-deploy-token"
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-{_stable(name, _B62, 6)}"


# -- Vault audit device (response entries) ----------------------------------------------------


@dataclass(frozen=True)
class _Token:
    """A Vault token as audit entries show it (accessor in the clear: hmac_accessor=false)."""

    hmac: str
    accessor: str
    display_name: str
    policies: tuple[str, ...]
    metadata: Mapping[str, str]
    entity_id: str
    ttl: int
    issued: datetime

    def info(self) -> Record:
        """The token's fields, as in a login response's ``auth`` or a caller's ``auth``."""
        return {
            "client_token": self.hmac,
            "accessor": self.accessor,
            "display_name": self.display_name,
            "policies": list(self.policies),
            "token_policies": list(self.policies),
            "metadata": dict(self.metadata),
            "entity_id": self.entity_id,
            "token_type": "service",
            "token_ttl": self.ttl,
            "token_issue_time": _z(self.issued),
        }

    def caller(self) -> Record:
        """The top-level ``auth`` of a request this token made."""
        granting = [{"name": p, "namespace_id": "root", "type": "acl"} for p in self.policies[1:]]
        return {
            **self.info(),
            "policy_results": {"allowed": True, "granting_policies": granting},
        }


_MOUNT_CLASS: Final = {"auth": "auth", "sys": ""}  # the system backend is no mount of a class


def _vault_request(
    rng: random.Random,
    operation: str,
    mount: str,
    mount_type: str,
    path: str,
    ip: str,
    token: _Token | None = None,
    data: Record | None = None,
) -> Record:
    request: Record = {
        "id": _uuid(rng),
        "client_id": "",
        "operation": operation,
        "mount_point": mount,
        "mount_type": mount_type,
        "mount_accessor": f"{mount_type}_{_stable(mount, '0123456789abcdef', 8)}",
        "mount_running_version": "v1.17.3+builtin.vault",
        "mount_class": _MOUNT_CLASS.get(mount.split("/")[0], "secret"),
        "namespace": {"id": "root"},
        "path": path,
    }
    if token is not None:
        request["client_token"] = token.hmac
        request["client_token_accessor"] = token.accessor
    if data is not None:
        request["data"] = data
    request["remote_address"] = ip
    request["remote_port"] = rng.randrange(32768, 61000)
    return request


def _vault_response(
    rng: random.Random, when: datetime, auth: Record, request: Record, response: Record
) -> Record:
    mount = {k: request[k] for k in ("mount_point", "mount_type", "mount_accessor", "mount_class")}
    mount["mount_running_plugin_version"] = request["mount_running_version"]
    return {
        "time": _ns(rng, when),
        "type": "response",
        "auth": auth,
        "request": request,
        "response": {**response, **mount},
    }


def _vault_login(
    rng: random.Random, when: datetime, token: _Token, method: str, path: str, ip: str
) -> Record:
    """A successful login: the request carries no token; the response's ``auth`` is the new one."""
    data = {"jwt": _hmac(rng), "role": _hmac(rng)} if method == "jwt" else {"password": _hmac(rng)}
    request = _vault_request(rng, "update", f"auth/{method}/", method, path, ip, data=data)
    unauthenticated = {"policy_results": {"allowed": True}, "token_type": "default"}
    return _vault_response(rng, when, unauthenticated, request, {"auth": token.info()})


# -- Kubernetes audit (audit.k8s.io/v1 Event) -------------------------------------------------


def _k8s(
    rng: random.Random,
    when: datetime,
    user: Record,
    verb: str,
    uri: str,
    ref: Record,
    code: int,
    *,
    user_agent: str,
    ip: str,
    reason: str,
    bodies: tuple[Record, Record] | None = None,
) -> Record:
    """One audit event at stage ResponseComplete; ``bodies`` (request, response) at level
    RequestResponse, else Metadata."""
    event: Record = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse" if bodies else "Metadata",
        "auditID": _uuid(rng),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": user,
        "sourceIPs": [ip],
        "userAgent": user_agent,
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": code},
    }
    if bodies is not None:
        event["requestObject"], event["responseObject"] = bodies
    latency = timedelta(microseconds=rng.randrange(2000, 40000))
    event |= {
        "requestReceivedTimestamp": _us(when),
        "stageTimestamp": _us(when + latency),
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": reason,
        },
    }
    return event


# -- GitHub (REST webhook delivery objects) -------------------------------------------------


def _account(login: str, kind: str) -> Record:
    number = _stable_number(login, 1_000_000, 190_000_000)
    prefix = {"Bot": "BOT", "User": "U", "Organization": "O"}[kind]
    return {
        "login": login,
        "id": number,
        "node_id": f"{prefix}_kgDO{_stable(login, _B62, 6)}",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


def _repository(repo: str, when: datetime, push: bool = False) -> Record:
    """The ``repository`` object; push payloads give its times as epoch seconds."""
    owner, name = repo.split("/")
    created = datetime(2023, 3, 14, 9, 26, 53, tzinfo=UTC)
    return {
        "id": _stable_number(repo, 600_000_000, 900_000_000),
        "node_id": "R_kgDO" + _stable(repo, _B62, 6),
        "name": name,
        "full_name": repo,
        "private": True,
        "owner": _account(owner, "Organization"),
        "html_url": f"https://github.com/{repo}",
        "url": f"https://api.github.com/repos/{repo}",
        "created_at": _epoch(created) if push else _z(created),
        "updated_at": _z(when - timedelta(days=1)),
        "pushed_at": _epoch(when) if push else _z(when),
        "default_branch": "main",
        "visibility": "private",
        **({"master_branch": "main"} if push else {}),
    }


def _context(repo: str, when: datetime, sender: Record, push: bool = False) -> Record:
    """The members every event payload of an org's App installation carries."""
    return {
        "repository": _repository(repo, when, push),
        "organization": {
            "login": GITHUB_ORG,
            "id": _account(GITHUB_ORG, "Organization")["id"],
            "url": f"https://api.github.com/orgs/{GITHUB_ORG}",
        },
        "installation": {
            "id": 48123456,
            "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDgxMjM0NTY=",
        },
        "sender": sender,
    }


def _commit(rng: random.Random, when: datetime, repo: str, message: str, author: Record) -> Record:
    sha = _hex(rng, 40)
    return {
        "id": sha,
        "tree_id": _hex(rng, 40),
        "distinct": True,
        "message": message,
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "url": f"https://github.com/{repo}/commit/{sha}",
        "author": author,
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": [],
        "removed": [],
        "modified": ["src/app.py"],
    }


def _push(
    rng: random.Random,
    when: datetime,
    repo: str,
    branch: str,
    before: str,
    commits: list[Record],
    sender: Record,
    *,
    forced: bool = False,
) -> Record:
    created = set(before) == {"0"}
    after = commits[-1]["id"]
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": after,
        **_context(repo, when, sender, push=True),
        "pusher": {
            "name": sender["login"],
            "email": f"{sender['id']}+{sender['login']}@users.noreply.github.com",
        },
        "created": created,
        "deleted": False,
        "forced": forced,
        "base_ref": None,
        "compare": f"https://github.com/{repo}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1],
    }


def _delivery(rng: random.Random, when: datetime, event: str, payload: Record) -> Record:
    """A saved delivery: what ``GET /repos/{owner}/{repo}/hooks/{id}/deliveries/{id}`` returns."""
    guid = _uuid(rng)
    action = payload.get("action")
    return {
        "id": rng.randrange(10**10, 10**11),
        "guid": guid,
        "delivered_at": _z(when + timedelta(seconds=1)),
        "redelivery": False,
        "duration": round(rng.uniform(0.05, 0.6), 2),
        "status": "OK",
        "status_code": 202,
        "event": event,
        "action": action,
        "installation_id": payload["installation"]["id"],
        "repository_id": payload["repository"]["id"],
        "throttled_at": None,
        "url": "https://vestige.corp.example/v1/github",
        "request": {
            "headers": {
                "Accept": "*/*",
                "User-Agent": "GitHub-Hookshot/7c1f0a2",
                "X-GitHub-Delivery": guid,
                "X-GitHub-Event": event,
                "X-GitHub-Hook-ID": "478112233",
                "X-GitHub-Hook-Installation-Target-ID": str(payload["organization"]["id"]),
                "X-GitHub-Hook-Installation-Target-Type": "organization",
                "content-type": "application/json",
            },
            "payload": payload,
        },
        "response": {"headers": {"Content-Type": "application/json"}, "payload": '{"accepted":1}'},
    }


# -- Jira webhooks -----------------------------------------------------------------------


def _jira_user(email: str, name: str, kind: str = "atlassian") -> Record:
    account = f"712020:{uuid.UUID(bytes=hashlib.sha256(email.encode()).digest()[:16], version=4)}"
    return {
        "self": f"https://corp.atlassian.net/rest/api/2/user?accountId={account}",
        "accountId": account,
        "displayName": name,
        "active": True,
        "timeZone": "Europe/Berlin",
        "accountType": kind,
    }


_JIRA_APP: Final = _jira_user("orchestrator@corp.example", "Agent Orchestrator", "app")
_STATUSES: Final = {"To Do": "10000", "In Progress": "3", "In Review": "10002"}


def _jira_issue(key: str, summary: str, reporter: Record, opened: datetime, status: str) -> Record:
    project, number = key.split("-")
    # Issue ids are global in a Jira site: give each project its own range.
    issue_id = str(_stable_number(project, 1, 90) * 100_000 + int(number))
    return {
        "id": issue_id,
        "self": f"https://corp.atlassian.net/rest/api/2/issue/{issue_id}",
        "key": key,
        "fields": {
            "summary": summary,
            "issuetype": {"id": "10001", "name": "Task", "subtask": False},
            "project": {
                "id": str(_stable_number(project, 10000, 10100)),
                "key": project,
                "name": {"SEC": "Security Engineering", "OPS": "Operations"}.get(project, project),
                "projectTypeKey": "software",
            },
            "created": _jira_time(opened),
            "updated": _jira_time(opened),
            "status": {"id": _STATUSES[status], "name": status},
            "priority": {"id": "3", "name": "Medium"},
            "reporter": reporter,
            "labels": ["agent"] if project == "SEC" else [],
        },
    }


def _jira_created(when: datetime, issue: Record) -> Record:
    return {
        "timestamp": _epoch_ms(when),
        "webhookEvent": "jira:issue_created",
        "issue_event_type_name": "issue_created",
        "user": issue["fields"]["reporter"],
        "issue": issue,
    }


def _jira_moved(
    rng: random.Random, when: datetime, issue: Record, user: Record, old: str, new: str
) -> Record:
    """``jira:issue_updated`` for a status transition, with its changelog."""
    fields = {
        **issue["fields"],
        "updated": _jira_time(when),
        "status": {"id": _STATUSES[new], "name": new},
    }
    return {
        "timestamp": _epoch_ms(when),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": user,
        "issue": {**issue, "fields": fields},
        "changelog": {
            "id": str(rng.randrange(100000, 999999)),
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": _STATUSES[old],
                    "fromString": old,
                    "to": _STATUSES[new],
                    "toString": new,
                }
            ],
        },
    }


# -- one workspace ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Workspace:
    """A workspace's fixed facts, drawn before any record is built."""

    index: int
    id: str
    number: int  # of its ticket, SEC-<number>
    repo: str
    slug: str
    intent: str
    requester: tuple[str, str]  # e-mail, name
    created: datetime
    life: timedelta
    uses_secret: bool  # reads the repo's CI secret (with approval, unless planted otherwise)
    created_by_orchestrator: bool  # else by its requester
    codes: frozenset[str]

    @property
    def agent(self) -> str:
        return f"spiffe://corp.example/agent/{self.id}"

    @property
    def destroyed(self) -> datetime:
        return self.created + self.life

    @property
    def ticket(self) -> str | None:
        return None if "NO_TICKET" in self.codes else f"SEC-{self.number}"

    @property
    def branch(self) -> str:
        """The branch the agent works on (the task record may still leave it out)."""
        if self.ticket is None:  # no ticket-looking name anywhere, so none can be inferred
            return f"agent/{self.slug}-{self.id.removeprefix('ws-')}"
        return f"agent/{self.ticket}-{self.slug}"

    def at(self, fraction: float, seconds: int = 0) -> datetime:
        """A moment of the workspace's life: ``fraction`` of it, plus ``seconds``."""
        return self.created + timedelta(
            seconds=round(self.life.total_seconds() * fraction) + seconds
        )

    def has(self, code: str) -> bool:
        return code in self.codes


def _workspace_ids(seed: int, count: int) -> list[str]:
    """``ws-`` and six hex digits, from the seed and the index; unique within the scenario."""
    ids: list[str] = []
    taken: set[str] = set()
    for index in range(count):
        for probe in itertools.count():
            candidate = f"ws-{_rng(seed, 'id', index, probe).getrandbits(24):06x}"
            if candidate not in taken:
                break
        taken.add(candidate)
        ids.append(candidate)
    return ids


def _draw(
    seed: int, index: int, workspace_id: str, first: datetime, codes: frozenset[str]
) -> _Workspace:
    rng = _rng(seed, "profile", index)
    slug, intent = rng.choice(_TASKS)
    base = 1000 + _rng(seed, "tickets").randrange(9000)
    uses_secret = rng.random() < 0.25
    return _Workspace(
        index=index,
        id=workspace_id,
        number=base + index,
        repo=rng.choice(_REPOS),
        slug=slug,
        intent=intent,
        requester=rng.choice(_PEOPLE),
        created=first + index * _STAGGER + timedelta(seconds=rng.randrange(90)),
        life=timedelta(seconds=rng.randrange(6 * 60, 40 * 60)),
        uses_secret=uses_secret or "UNAPPROVED_HIGH_RISK_ACTION" in codes,
        created_by_orchestrator=rng.random() < 0.5,
        codes=codes,
    )


def _scopes(ws: _Workspace) -> list[Record]:
    """Exactly what a clean run of ``ws`` does, per the contract's scope globs."""
    scopes: list[Record] = [
        {
            "system": "aws",
            "actions": ["s3:GetObject", "s3:PutObject"],
            "resources": [f"arn:aws:s3:::{BUCKET}/{ws.id}/*"],
        },
        # GetCallerIdentity names no resource: CloudTrail gives it no target.
        {"system": "aws", "actions": ["sts:GetCallerIdentity"], "resources": ["*"]},
    ]
    if ws.uses_secret:
        scopes.append(
            {
                "system": "aws",
                "actions": ["secretsmanager:GetSecretValue"],
                "resources": [_secret_arn(ws.repo)],
            }
        )
    if not ws.has("NO_BRANCH"):
        scopes.append(
            {
                "system": "github",
                "actions": ["push", "pull_request", "workflow_run"],
                "resources": [ws.repo],
            }
        )
    scopes += [
        {"system": "k8s", "actions": ["create:pods", "get:pods"], "resources": [f"{ws.id}/pods/*"]},
        {
            "system": "vault",
            "actions": ["update", "read"],
            "resources": ["auth/jwt/login", f"database/creds/{DB_ROLE}"],
        },
    ]
    return scopes


class _Trail:
    """Builds one workspace's records, clean or with its planted gaps, into ``out``."""

    def __init__(self, ws: _Workspace, seed: int, signer: ledger.Signer, out: _Out) -> None:
        self.ws, self.seed, self.signer, self.out = ws, seed, signer, out
        self.rng = _rng(seed, "trail", ws.index)
        rng = self.rng
        self.sts_key = _access_key(rng)
        self.sts_issued = ws.created + timedelta(seconds=4)
        self.sts_expires = self.sts_issued + timedelta(seconds=_STS_SECONDS)
        self.user_key = _access_key(rng, "AKIA")
        self.lease = f"database/creds/{DB_ROLE}/{_chars(rng, _B62, 24)}"
        self.base_commit = _hex(rng, 40)
        self.pod = f"build-{_chars(rng, string.ascii_lowercase + string.digits, 5)}"
        self.ip = f"10.42.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}"
        login = ws.created + timedelta(seconds=6)
        self.token = _Token(
            hmac=_hmac(rng),
            accessor=_chars(rng, _B62, 24),
            display_name=f"jwt-{ws.agent}",
            policies=("default", "agent-workspace"),
            # The JWT auth role maps the SVID's workspace claim to token metadata.
            metadata={"role": "agent-workspace", "vestige.dev/workspace-id": ws.id},
            entity_id=_uuid(rng),
            ttl=3600,
            issued=login,
        )

    # -- the lifecycle the orchestrator reports ------------------------------------------

    def lifecycle(self) -> None:
        ws = self.ws
        creator = _actor("service", ORCHESTRATOR)
        if not ws.created_by_orchestrator:
            creator = _actor("human", ws.requester[0])
        if ws.has("SELF_PROVISIONED"):
            creator = _actor("agent", ws.agent)
        self._event(
            ws.created,
            "workspace.created",
            {
                "workspace_id": ws.id,
                "created_by": creator,
                "agent": _actor("agent", ws.agent),
                "runtime": "k8s",
                "namespace": ws.id,
            },
        )
        if not ws.has("NO_TASK_RECORD"):
            self._event(ws.created + timedelta(seconds=8), "task.recorded", self._task_record())
        self._issue(ws.created + timedelta(seconds=9), self.sts_key, "aws-sts", self.sts_expires)
        token_expires = self.token.issued + timedelta(seconds=self.token.ttl)
        self._issue(
            ws.created + timedelta(seconds=10), self.token.accessor, "vault-token", token_expires
        )
        if ws.has("LONG_LIVED_CREDENTIAL"):
            self._issue(ws.created + timedelta(seconds=11), self.user_key, "aws-iam-user-key", None)
        if ws.uses_secret and not ws.has("UNAPPROVED_HIGH_RISK_ACTION"):
            self._approval()
        self._teardown()

    def _event(self, when: datetime, kind: str, data: Record) -> None:
        self.out.add("agent", when, _cloudevent(self.rng, when, kind, self.ws.id, data))

    def _task_record(self) -> Record:
        ws = self.ws
        issued = ws.created + timedelta(seconds=8)
        credentials = [self.sts_key, self.token.accessor]
        if ws.has("LONG_LIVED_CREDENTIAL"):
            credentials.append(self.user_key)
        record: Record = {
            "task_id": f"task-{ws.number}",
            "workspace_id": ws.id,
            "ticket": ws.ticket,
            "repo": ws.repo,
            "branch": None if ws.has("NO_BRANCH") else ws.branch,
            "base_commit": self.base_commit,
            "agent": _actor("agent", ws.agent),
            "requested_by": _actor("human", ws.requester[0]),
            "intent": ws.intent,
            "scopes": _scopes(ws),
            "credential_ids": credentials,
            "issued_at": _z(issued),
            "expires_at": _z(issued + _TASK_VALIDITY),
        }
        if ws.has("TASK_RECORD_UNSIGNED"):
            return record
        signed = _signed(record, self.signer)
        if ws.has("TASK_RECORD_BAD_SIGNATURE"):
            signed["intent"] += " and rotate the production database password"  # after signing
        return signed

    def _issue(self, when: datetime, credential: str, kind: str, expires: datetime | None) -> None:
        issuer = ORCHESTRATOR if kind != "vault-token" else "spiffe://corp.example/vault"
        data: Record = {
            "workspace_id": self.ws.id,
            "credential_id": credential,
            "credential_type": kind,
            "issued_by": _actor("service", issuer),
            "issued_to": _actor("agent", self.ws.agent),
        }
        if expires is not None:
            data["expires_at"] = _z(expires)
        self._event(when, "credential.issued", data)

    def _approval(self) -> None:
        ws = self.ws
        when = ws.created + timedelta(seconds=12)
        approval: Record = {
            "workspace_id": ws.id,
            "approval_id": f"apr-{ws.number}",
            "approver": _actor("human", ws.requester[0]),
            "covers": [
                {
                    "system": "aws",
                    "action": "secretsmanager:GetSecretValue",
                    "resource": _secret_arn(ws.repo),
                }
            ],
            "expires_at": _z(ws.destroyed + timedelta(minutes=30)),
        }
        # Signed like the task record: only a trusted approver's approval counts.
        self._event(when, "approval.granted", _signed(approval, self.signer))

    def _teardown(self) -> None:
        ws = self.ws
        revoked = [(30, self.token.accessor)]
        if not ws.has("CREDENTIAL_NOT_REVOKED"):
            revoked.append((25, self.sts_key))
        if ws.has("LONG_LIVED_CREDENTIAL"):
            revoked.append((20, self.user_key))
        for before, credential in revoked:
            self._event(
                ws.destroyed - timedelta(seconds=before),
                "credential.revoked",
                {
                    "workspace_id": ws.id,
                    "credential_id": credential,
                    "revoked_by": _actor("service", ORCHESTRATOR),
                    "reason": "workspace teardown",
                },
            )
        if not ws.has("LIFECYCLE_INCOMPLETE"):
            self._event(
                ws.destroyed,
                "workspace.destroyed",
                {
                    "workspace_id": ws.id,
                    "destroyed_by": _actor("service", ORCHESTRATOR),
                    "reason": "task complete",
                },
            )

    # -- AWS ------------------------------------------------------------------------------

    def aws(self) -> None:
        ws = self.ws
        if ws.has("COLLECTOR_SILENCE"):
            return  # the trail never delivered this workspace's calls
        caller, caller_ip = _hourly_session(self.seed, "vestige-orchestrator", self.sts_issued)
        self._trail_add(
            self.sts_issued,
            _assume_role(
                self.rng,
                self.sts_issued,
                caller,
                caller_ip,
                session=ws.id,
                source_identity=ws.agent,
                workspace=ws.id,
                key=self.sts_key,
                expires=self.sts_expires,
            ),
        )
        identity = _role_identity(AGENT_ROLE, ws.id, self.sts_key, self.sts_issued, ws.agent)
        when = ws.at(0.12)
        self._trail_add(when, _trail(self.rng, when, identity, "sts", "GetCallerIdentity", self.ip))
        for when, name in self._object_calls():
            key = f"{ws.id}/build/{self.rng.randrange(10**6):06d}.tar.gz"
            self._trail_add(when, _s3(self.rng, when, identity, self.ip, name, BUCKET, key))
        if ws.uses_secret:
            when = ws.at(0.3)
            self._trail_add(
                when,
                _trail(
                    self.rng,
                    when,
                    identity,
                    "secretsmanager",
                    "GetSecretValue",
                    self.ip,
                    params={"secretId": _secret_arn(ws.repo)},
                ),
            )
        self._aws_plants(identity)

    def _object_calls(self) -> list[tuple[datetime, str]]:
        fractions = sorted(self.rng.uniform(0.15, 0.8) for _ in range(self.rng.randrange(3, 8)))
        return [(self.ws.at(f), self.rng.choice(("GetObject", "PutObject"))) for f in fractions]

    def _aws_plants(self, identity: Record) -> None:
        ws, rng = self.ws, self.rng
        if ws.has("SCOPE_EXCEEDED"):
            when = ws.at(0.6)
            key = f"{ws.repo.split('/')[1]}/cache/{rng.randrange(10**6):06d}.tar.zst"
            self._trail_add(
                when, _s3(rng, when, identity, self.ip, "GetObject", OUT_OF_SCOPE_BUCKET, key)
            )
        if ws.has("ACTION_AFTER_TEARDOWN"):
            when = ws.destroyed + _LATE  # the key is revoked but STS keys live until expiry
            key = f"{ws.id}/build/{rng.randrange(10**6):06d}.tar.gz"
            self._trail_add(
                when, _s3(rng, when, identity, "203.0.113.77", "GetObject", BUCKET, key)
            )
        if ws.has("LONG_LIVED_CREDENTIAL"):
            user = _user_identity("svc-agent-ci", self.user_key)
            for fraction in (0.5, 0.65):
                when = ws.at(fraction)
                key = f"{ws.id}/build/{rng.randrange(10**6):06d}.tar.gz"
                self._trail_add(when, _s3(rng, when, user, self.ip, "PutObject", BUCKET, key))

    def _trail_add(self, when: datetime, record: Record) -> None:
        self.out.add("cloudtrail", when, record)

    # -- Vault ---------------------------------------------------------------------------

    def vault(self, orchestrator: _Token) -> None:
        ws, rng = self.ws, self.rng
        login = self.token.issued
        self.out.add(
            "vault", login, _vault_login(rng, login, self.token, "jwt", "auth/jwt/login", self.ip)
        )
        when = ws.at(0.1, 15)
        request = _vault_request(
            rng, "read", "database/", "database", f"database/creds/{DB_ROLE}", self.ip, self.token
        )
        response = {
            "secret": {"lease_id": self.lease},
            "data": {"username": _hmac(rng), "password": _hmac(rng)},
        }
        self.out.add(
            "vault", when, _vault_response(rng, when, self.token.caller(), request, response)
        )
        # At teardown the orchestrator revokes the lease, naming it in the path.
        when = ws.destroyed - timedelta(seconds=60)
        path = f"sys/leases/revoke/{self.lease}"
        request = _vault_request(rng, "update", "sys/", "system", path, "10.24.0.9", orchestrator)
        self.out.add("vault", when, _vault_response(rng, when, orchestrator.caller(), request, {}))

    # -- Kubernetes ----------------------------------------------------------------------

    def k8s(self) -> None:
        ws, rng = self.ws, self.rng
        account = f"system:serviceaccount:{ws.id}:agent"
        user = {
            "username": account,
            "uid": _uuid(rng),
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{ws.id}",
                "system:authenticated",
            ],
            "extra": {
                "authentication.kubernetes.io/credential-id": [f"JTI={_uuid(rng)}"],
                "authentication.kubernetes.io/pod-name": ["agent-0"],
                "authentication.kubernetes.io/pod-uid": [_uuid(rng)],
            },
        }
        reason = (
            f'RBAC: allowed by RoleBinding "agent/{ws.id}" of Role "agent" '
            f'to ServiceAccount "agent/{ws.id}"'
        )
        agent = "agent-runner/1.8.2 (linux/amd64) kubernetes/client-go"
        labels = {"app": "build", "vestige.dev/workspace-id": ws.id}
        spec = {"containers": [{"name": "build", "image": f"ghcr.io/{ws.repo}-ci:2026.11"}]}
        asked = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"generateName": "build-", "namespace": ws.id, "labels": labels},
            "spec": spec,
        }
        made = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": self.pod,
                "generateName": "build-",
                "namespace": ws.id,
                "uid": _uuid(rng),
                "resourceVersion": str(rng.randrange(10**6, 10**7)),
                "creationTimestamp": _z(ws.at(0.1)),
                "labels": labels,
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        when = ws.at(0.1)
        self.out.add(
            "k8s-audit",
            when,
            _k8s(
                rng,
                when,
                user,
                "create",
                f"/api/v1/namespaces/{ws.id}/pods",
                {"resource": "pods", "namespace": ws.id, "apiVersion": "v1"},
                201,
                user_agent=agent,
                ip=self.ip,
                reason=reason,
                bodies=(asked, made),
            ),
        )
        when = ws.at(0.1, 5)
        self.out.add(
            "k8s-audit",
            when,
            _k8s(
                rng,
                when,
                user,
                "get",
                f"/api/v1/namespaces/{ws.id}/pods/{self.pod}",
                {"resource": "pods", "namespace": ws.id, "name": self.pod, "apiVersion": "v1"},
                200,
                user_agent=agent,
                ip=self.ip,
                reason=reason,
            ),
        )

    # -- GitHub ----------------------------------------------------------------------------

    def github(self) -> None:
        ws, rng = self.ws, self.rng
        if ws.has("NO_BRANCH"):
            return  # the agent never pushed: nothing to find in git
        bot = _account(BOT, "Bot")
        pushed = ws.at(0.45)
        messages = [self._message(), f"Add tests for {ws.slug.replace('-', ' ')}"]
        count = rng.randrange(1, 3)
        commits = [
            self._commit(pushed - timedelta(seconds=90 - 30 * n), messages[n], bot)
            for n in range(count)
        ]
        push = _push(rng, pushed, ws.repo, ws.branch, "0" * 40, commits, bot)
        self._deliver(pushed, "push", push)
        head = commits[-1]
        opened = pushed + timedelta(seconds=30)
        self._deliver(opened, "pull_request", self._pull_request(opened, head["id"], count, bot))
        if ws.has("EVIDENCE_TAMPERING"):
            forced_at = ws.at(0.55)
            amended = [self._commit(forced_at - timedelta(seconds=20), self._message(), bot)]
            forced = _push(
                rng, forced_at, ws.repo, ws.branch, head["id"], amended, bot, forced=True
            )
            self._deliver(forced_at, "push", forced)
            head = amended[-1]
        done = ws.at(0.7)
        self._deliver(done, "workflow_run", self._workflow_run(pushed, done, head, bot))

    def _message(self) -> str:
        """The first commit's message: the intent, naming the ticket as teams ask."""
        ws = self.ws
        return f"{ws.intent} ({ws.ticket})" if ws.ticket else ws.intent

    def _commit(self, when: datetime, message: str, bot: Record) -> Record:
        author = {
            "name": BOT,
            "email": f"{bot['id']}+{BOT}@users.noreply.github.com",
            "username": BOT,
        }
        return _commit(self.rng, when, self.ws.repo, message, author)

    def _deliver(self, when: datetime, event: str, payload: Record) -> None:
        self.out.add("github", when, _delivery(self.rng, when, event, payload))

    def _pull_request(self, when: datetime, head: str, commits: int, bot: Record) -> Record:
        ws, rng = self.ws, self.rng
        number = rng.randrange(100, 5000)
        title = f"{ws.ticket}: {ws.intent}" if ws.ticket else ws.intent
        side = {"user": _account(GITHUB_ORG, "Organization"), "repo": _repository(ws.repo, when)}
        return {
            "action": "opened",
            "number": number,
            "pull_request": {
                "url": f"https://api.github.com/repos/{ws.repo}/pulls/{number}",
                "id": rng.randrange(10**9, 3 * 10**9),
                "node_id": "PR_kwDO" + _chars(rng, _B62, 12),
                "html_url": f"https://github.com/{ws.repo}/pull/{number}",
                "number": number,
                "state": "open",
                "locked": False,
                "title": title,
                "user": bot,
                "body": f"Opened by the agent of workspace {ws.id}.",
                "created_at": _z(when),
                "updated_at": _z(when),
                "closed_at": None,
                "merged_at": None,
                "merge_commit_sha": None,
                "draft": False,
                "head": {
                    "label": f"{GITHUB_ORG}:{ws.branch}",
                    "ref": ws.branch,
                    "sha": head,
                    **side,
                },
                "base": {
                    "label": f"{GITHUB_ORG}:main",
                    "ref": "main",
                    "sha": self.base_commit,
                    **side,
                },
                "merged": False,
                "mergeable": None,
                "comments": 0,
                "commits": commits,
                "additions": rng.randrange(5, 400),
                "deletions": rng.randrange(0, 120),
                "changed_files": rng.randrange(1, 12),
            },
            **_context(ws.repo, when, bot),
        }

    def _workflow_run(self, started: datetime, done: datetime, head: Record, bot: Record) -> Record:
        ws, rng = self.ws, self.rng
        run = rng.randrange(10**10, 2 * 10**10)
        workflow = _stable_number(ws.repo + "/ci", 10**7, 10**8)
        return {
            "action": "completed",
            "workflow_run": {
                "id": run,
                "name": "ci",
                "node_id": "WFR_kwLO" + _chars(rng, _B62, 12),
                "head_branch": ws.branch,
                "head_sha": head["id"],
                "path": ".github/workflows/ci.yml",
                "display_title": head["message"].splitlines()[0],
                "run_number": rng.randrange(100, 9000),
                "event": "push",
                "status": "completed",
                "conclusion": "success",
                "workflow_id": workflow,
                "url": f"https://api.github.com/repos/{ws.repo}/actions/runs/{run}",
                "html_url": f"https://github.com/{ws.repo}/actions/runs/{run}",
                "created_at": _z(started + timedelta(seconds=5)),
                "updated_at": _z(done),
                "run_attempt": 1,
                "run_started_at": _z(started + timedelta(seconds=5)),
                "actor": bot,
                "triggering_actor": bot,
                "head_commit": {
                    k: head[k]
                    for k in ("id", "tree_id", "message", "timestamp", "author", "committer")
                },
                "pull_requests": [],
            },
            "workflow": {
                "id": workflow,
                "name": "ci",
                "path": ".github/workflows/ci.yml",
                "state": "active",
            },
            **_context(ws.repo, done, bot),
        }

    # -- Jira ------------------------------------------------------------------------------

    def jira(self) -> None:
        ws, rng = self.ws, self.rng
        if ws.ticket is None:
            return
        email, name = ws.requester
        opened = ws.created - timedelta(seconds=rng.randrange(120, 1500))
        issue = _jira_issue(ws.ticket, ws.intent, _jira_user(email, name), opened, "To Do")
        self.out.add("jira", opened, _jira_created(opened, issue))
        started = ws.created + timedelta(seconds=20)
        self.out.add(
            "jira", started, _jira_moved(rng, started, issue, _JIRA_APP, "To Do", "In Progress")
        )
        if not ws.has("NO_BRANCH"):
            review = ws.at(0.45, 60)
            self.out.add(
                "jira",
                review,
                _jira_moved(rng, review, issue, _JIRA_APP, "In Progress", "In Review"),
            )

    def build(self, orchestrator: _Token) -> None:
        self.lifecycle()
        self.aws()
        self.vault(orchestrator)
        self.k8s()
        self.github()
        self.jira()


# -- traffic that belongs to no agent ---------------------------------------------------------


def _orchestrator_token(seed: int, since: datetime) -> _Token:
    """The orchestrator's own Vault token (AppRole), which revokes workspaces' leases."""
    rng = _rng(seed, "orchestrator-vault")
    return _Token(
        hmac=_hmac(rng),
        accessor=_chars(rng, _B62, 24),
        display_name="approle",
        policies=("default", "orchestrator"),
        metadata={"role_name": "orchestrator"},
        entity_id=_uuid(rng),
        ttl=86400,
        issued=since,
    )


def _ticks(rng: random.Random, start: datetime, end: datetime, offset: timedelta) -> list[datetime]:
    """Moments every ``_HEARTBEAT`` (plus up to a minute) from ``start + offset`` to ``end``."""
    moments: list[datetime] = []
    when = start + offset
    while True:
        moment = when + timedelta(seconds=rng.randrange(1, 60))
        if moment > end:
            return moments
        moments.append(moment)
        when += _HEARTBEAT


def _heartbeats(seed: int, out: _Out, start: datetime, end: datetime) -> None:
    """A monitoring role polling EC2 and the controller manager renewing its lease.

    Both streams tick far more often than the collectors' max_gap, so only a planted
    silence is ever a silence.
    """
    rng = _rng(seed, "heartbeat")
    for when in _ticks(rng, start, end, timedelta(0)):
        identity, ip = _hourly_session(seed, "monitoring-readonly", when)
        out.add(
            "cloudtrail",
            when,
            _trail(
                rng,
                when,
                identity,
                "ec2",
                "DescribeInstances",
                ip,
                params={"instancesSet": {}, "filterSet": {}},
            ),
        )
    user = {"username": "system:kube-controller-manager", "groups": ["system:authenticated"]}
    lease = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
    reason = (
        'RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager" of ClusterRole '
        '"system:kube-controller-manager" to User "system:kube-controller-manager"'
    )
    for when in _ticks(rng, start, end, _HEARTBEAT / 2):
        out.add(
            "k8s-audit",
            when,
            _k8s(
                rng,
                when,
                user,
                "get",
                f"{lease}?timeout=5s",
                {
                    "resource": "leases",
                    "namespace": "kube-system",
                    "name": "kube-controller-manager",
                    "apiGroup": "coordination.k8s.io",
                    "apiVersion": "v1",
                },
                200,
                user_agent=_CONTROLLER_AGENT,
                ip="10.0.0.10",
                reason=reason,
            ),
        )


def _people(seed: int, out: _Out, start: datetime, end: datetime) -> None:
    """People at work: pushes to main, Operations tickets moving, Vault logins."""
    rng = _rng(seed, "people")
    for n, when in enumerate(_ticks(rng, start, end, timedelta(minutes=7))):
        if n % 4:
            continue  # one human action every 40 minutes or so
        email, name = _PEOPLE[n // 4 % len(_PEOPLE)]
        login = email.split("@")[0]
        kind = n // 4 % 3
        if kind == 0:
            repo = rng.choice(_REPOS)
            sender = _account(f"{login}-corp", "User")
            author = {"name": name, "email": email, "username": sender["login"]}
            commit = _commit(rng, when - timedelta(minutes=3), repo, "Update the runbook", author)
            push = _push(rng, when, repo, "main", _hex(rng, 40), [commit], sender)
            out.add("github", when, _delivery(rng, when, "push", push))
        elif kind == 1:
            user = _jira_user(email, name)
            issue = _jira_issue(f"OPS-{100 + n}", "Rotate on-call schedule", user, start, "To Do")
            out.add("jira", when, _jira_moved(rng, when, issue, user, "To Do", "In Progress"))
        else:
            token = _Token(
                hmac=_hmac(rng),
                accessor=_chars(rng, _B62, 24),
                display_name=f"userpass-{login}",
                policies=("default", "engineer"),
                metadata={"username": login},
                entity_id=str(
                    uuid.UUID(bytes=hashlib.sha256(email.encode()).digest()[:16], version=4)
                ),
                ttl=2764800,
                issued=when,
            )
            path = f"auth/userpass/login/{login}"
            out.add("vault", when, _vault_login(rng, when, token, "userpass", path, "10.8.1.20"))


def _rogue(seed: int, index: int, when: datetime, out: _Out) -> None:
    """UNATTRIBUTED_ACTION: an agent identity acting with a key no workspace was given."""
    rng = _rng(seed, "rogue", index)
    name = f"rogue-{_hex(rng, 4)}"
    spiffe = f"spiffe://corp.example/agent/{name}"
    identity = _role_identity(
        AGENT_ROLE, name, _access_key(rng), when - timedelta(minutes=5), spiffe
    )
    key = f"shared/{rng.randrange(10**6):06d}.tar.gz"
    out.add("cloudtrail", when, _s3(rng, when, identity, "198.51.100.23", "GetObject", BUCKET, key))


# -- the public surface ------------------------------------------------------------------------


def generate(
    workspaces: int,
    seed: int = 1,
    gaps: Mapping[int, Iterable[str]] | None = None,
    start: datetime = datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
    noise: bool = True,
) -> Scenario:
    """A scenario of ``workspaces`` agent workspaces, with ``gaps`` planted.

    ``gaps`` maps a workspace index (0-based) to the codes to plant in it (see
    :data:`PLANTABLE`); the others are clean. Background traffic starts at ``start``
    (a timezone-aware time); the first workspace is created two hours later and one
    more every four minutes or so, each living 6-40 minutes, so with several they
    overlap. The span ends two hours after the last workspace's last event.

    ``noise`` adds the background: CloudTrail and Kubernetes heartbeats every ten
    minutes over the whole span, and people's pushes, Jira moves and Vault logins.
    Without it, CloudTrail and Kubernetes are silent for hours around the
    workspaces, and a reconstruction reports COLLECTOR_SILENCE that ``truth``
    does not list.

    Raises ValueError for a plan that is out of range, names an unknown code or
    combines codes that cannot be planted together.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    plan = _checked(workspaces, gaps)
    origin = start.astimezone(UTC)
    whole = origin.replace(microsecond=0) + timedelta(seconds=1 if origin.microsecond else 0)
    signer = ledger.Signer("orchestrator.corp.example", _rng(seed, "signer").randbytes(32))
    orchestrator = _orchestrator_token(seed, whole)
    out = _Out()
    truth: dict[str, frozenset[str]] = {}
    for index, workspace_id in enumerate(_workspace_ids(seed, workspaces)):
        codes = plan.get(index, frozenset())
        ws = _draw(seed, index, workspace_id, whole + _LEAD, codes - {"UNATTRIBUTED_ACTION"})
        _Trail(ws, seed, signer, out).build(orchestrator)
        truth[workspace_id] = ws.codes
        if "UNATTRIBUTED_ACTION" in codes:
            _rogue(seed, index, ws.at(0.5), out)
            truth[""] = frozenset({"UNATTRIBUTED_ACTION"})
    end = (out.last or whole) + _LEAD
    if noise:
        _heartbeats(seed, out, whole, end)
        _people(seed, out, whole, end)
    return Scenario(records=out.records(), truth=truth, signer=signer, start=origin, end=end)


def write(scenario: Scenario, directory: Path) -> dict[str, Path]:
    """Write one file per source into ``directory``; returns source -> path.

    CloudTrail as S3 delivers it (``{"Records": [...]}``, ``cloudtrail.json``); every
    other source as JSON lines (``<source>.jsonl``), one record a line.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for source, records in scenario.records.items():
        if source == "cloudtrail":
            path = directory / "cloudtrail.json"
            path.write_bytes(orjson.dumps({"Records": records}))
        else:
            path = directory / f"{source}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
        paths[source] = path
    return paths
