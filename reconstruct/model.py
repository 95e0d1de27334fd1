"""What reconstruction produces: findings, verdicts and the report (``schemas/report.v1.json``).

Findings and the report are frozen pydantic models: the report is signed over its
RFC 8785 bytes, so nothing may change it once built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "REPORT_SCHEMA",
    "Anchors",
    "Code",
    "CredentialSpan",
    "Disregarded",
    "EvidenceEntry",
    "EvidenceBundle",
    "ErasedMark",
    "Finding",
    "Report",
    "ReportSignature",
    "Severity",
    "TaskRecordAnchor",
    "TimelineRow",
    "Verdict",
    "Window",
    "code_counts",
]

REPORT_SCHEMA: Final = "vestige.report.v1"


class Code(StrEnum):
    """The gap codes: a fixed vocabulary (DESIGN.md, "Gap codes")."""

    NO_TICKET = "NO_TICKET"
    NO_BRANCH = "NO_BRANCH"
    NO_TASK_RECORD = "NO_TASK_RECORD"
    TASK_RECORD_UNSIGNED = "TASK_RECORD_UNSIGNED"
    TASK_RECORD_BAD_SIGNATURE = "TASK_RECORD_BAD_SIGNATURE"
    UNATTRIBUTED_ACTION = "UNATTRIBUTED_ACTION"
    CREDENTIAL_NOT_REVOKED = "CREDENTIAL_NOT_REVOKED"
    LONG_LIVED_CREDENTIAL = "LONG_LIVED_CREDENTIAL"
    ACTION_AFTER_TEARDOWN = "ACTION_AFTER_TEARDOWN"
    LIFECYCLE_INCOMPLETE = "LIFECYCLE_INCOMPLETE"
    EVIDENCE_TAMPERING = "EVIDENCE_TAMPERING"
    UNAPPROVED_HIGH_RISK_ACTION = "UNAPPROVED_HIGH_RISK_ACTION"
    SELF_PROVISIONED = "SELF_PROVISIONED"
    SCOPE_EXCEEDED = "SCOPE_EXCEEDED"
    COLLECTOR_SILENCE = "COLLECTOR_SILENCE"
    LEDGER_INTEGRITY = "LEDGER_INTEGRITY"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Final = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(_Frozen):
    """One gap in a workspace's trail: the entries behind it and why it is a gap."""

    code: Code
    severity: Severity
    seqs: list[int]  # ledger entries the finding rests on (may be empty: an absence)
    explanation: str


def code_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings there are of each code, in the findings' order."""
    return dict(Counter(finding.code.value for finding in findings))


class Window(_Frozen):
    """From the workspace's creation (else its first event) to its teardown (else its last)."""

    start: str | None
    end: str | None
    created: bool
    destroyed: bool


class TaskRecordAnchor(_Frozen):
    present: bool
    seq: int | None = None
    signed: bool = False
    signature_valid: bool = False
    signer: str | None = None  # key id or Sigstore identity


class Anchors(_Frozen):
    ticket: str | None
    repo: str | None
    branch: str | None
    task_record: TaskRecordAnchor


class ErasedMark(_Frozen):
    """An entry whose bytes were erased, as its signed erasure entry states."""

    erasure_seq: int
    erased_at: str
    requested_by: str
    reason: str
    removed_sha256: str  # hex SHA-256 of the bytes removed


class TimelineRow(_Frozen):
    """One event of the timeline, as the report shows it.

    An erased entry is a row too, never left out: its time, actor and target went
    with its bytes, so ``time`` is None and ``erased`` says who erased it and why.
    """

    seq: int
    time: str | None
    source: str
    actor: str | None
    action: str
    target: str | None
    outcome: str
    risk: list[str]
    why: list[str]  # how the event was linked to the workspace
    received_at: str | None = None  # when the ledger received it (None: before receipts)
    erased: ErasedMark | None = None


class CredentialSpan(_Frozen):
    """A credential of the workspace, from issue to revocation or expiry."""

    id: str
    issued_at: str | None
    expires_at: str | None
    revoked_at: str | None
    seqs: list[int]  # issue and revocation entries


class Disregarded(_Frozen):
    """An approval or a reported revocation the rules did not count, and why.

    ``late``: the ledger received it after the entry it would count for (``against``:
    the action, or the teardown) and more than the teardown grace after that entry's
    time; ``claimed_at`` is the sender's time, ``received_at`` the ledger's (None:
    the entry predates receipts). ``unsigned`` / ``bad_signature``: an approval not
    signed by a trusted approver (``against`` is None).
    """

    seq: int
    kind: Literal["approval", "revocation"]
    reason: Literal["late", "unsigned", "bad_signature"]
    claimed_at: str
    received_at: str | None
    against: int | None
    explanation: str


class Verdict(_Frozen):
    recreatable: bool
    reasons: list[str]


class EvidenceEntry(_Frozen):
    """One ledger entry the report rests on, provable offline against the checkpoint."""

    seq: int
    canonical: str  # base64 of the entry's RFC 8785 bytes
    leaf_hash: str  # base64
    proof: list[str]  # RFC 9162 inclusion path, base64


class EvidenceBundle(_Frozen):
    checkpoint: str  # C2SP signed note of the tree the proofs are against
    tree_size: int
    entries: list[EvidenceEntry]
    # Entries of the workspace's sources around its window, cited for COLLECTOR_SILENCE.
    context: list[int] = Field(default_factory=list)


class ReportSignature(_Frozen):
    """Ed25519 over the RFC 8785 bytes of the report without ``signature``."""

    alg: Literal["ed25519"] = "ed25519"
    key_id: str  # 8 hex digits, as in the signed-note verifier key
    value: str  # base64


class Report(_Frozen):
    schema_: Literal["vestige.report.v1"] = Field(REPORT_SCHEMA, alias="schema")
    workspace: str
    generated_at: str
    window: Window
    anchors: Anchors
    timeline: list[TimelineRow]
    credentials: list[CredentialSpan]
    findings: list[Finding]
    # Approvals and revocations the rules set aside (late, unsigned): shown, not counted.
    disregarded: list[Disregarded] = Field(default_factory=list)
    verdict: Verdict
    policy: dict[str, object]  # the effective policy: verify-report re-runs the rules with it
    evidence: EvidenceBundle
    signature: ReportSignature | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
