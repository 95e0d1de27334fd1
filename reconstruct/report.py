"""Reports: assess a workspace, prove every entry cited, sign, and check it all offline.

Lifecycle of a report: link (``correlate``) -> prove each entry against one signed
checkpoint -> judge (``rules``) -> sign. ``verify_report`` needs only the file and
the ledger's verifier key: it checks the signature and every proof, rebuilds the
evidence from the entries' bytes and re-runs the rules, and fails unless it gets
the report's own findings and verdict back.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from ledger import InputError, Ledger, Signer, Tombstone, Verifier, canonicalize, merkle
from ledger.checkpoint import Checkpoint
from ledger.note import open_note
from reconstruct.catalog import Catalog, parse_event
from reconstruct.correlate import link
from reconstruct.erased import erased_marks, erasure_seqs
from reconstruct.evidence import Evidence, Facts, LinkedEvent, facts, parse_time
from reconstruct.model import (
    Anchors,
    CredentialSpan,
    Disregarded,
    ErasedMark,
    EvidenceBundle,
    EvidenceEntry,
    Finding,
    Report,
    ReportSignature,
    TaskRecordAnchor,
    TimelineRow,
    Verdict,
    Window,
)
from reconstruct.policy import Policy
from reconstruct.rules import disregarded, judge, verdict

__all__ = [
    "Assessment",
    "ReportInvalid",
    "assess",
    "assess_workspace",
    "build_report",
    "sign_report",
    "verify_report",
    "report_bytes",
]


@dataclass(frozen=True)
class Assessment:
    """Everything a report says about a workspace that follows from its evidence."""

    window: Window
    anchors: Anchors
    timeline: list[TimelineRow]
    credentials: list[CredentialSpan]
    findings: list[Finding]
    disregarded: list[Disregarded]
    verdict: Verdict


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row(event: LinkedEvent) -> TimelineRow:
    actor = event.actor
    return TimelineRow(
        seq=event.seq,
        time=event.time,
        source=event.source,
        actor=actor.get("display") or actor.get("id"),
        action=event.action,
        target=event.target,
        outcome=str(event.doc.get("outcome") or "unknown"),
        risk=event.risk,
        why=list(event.why),
        received_at=event.received_at,
    )


def _erased_row(seq: int, mark: ErasedMark) -> TimelineRow:
    """An erased entry's row: shown, never dropped; what it recorded went with its bytes."""
    return TimelineRow(
        seq=seq,
        time=None,
        source="ledger",
        actor=None,
        action="erased",
        target=None,
        outcome="erased",
        risk=[],
        why=[
            f"bytes erased by ledger entry {mark.erasure_seq} at {mark.erased_at}, "
            f"requested by {mark.requested_by}: {mark.reason}"
        ],
        erased=mark,
    )


def _anchors(f: Facts) -> Anchors:
    task = f.task
    if task is None:
        return Anchors(
            ticket=None, repo=None, branch=None, task_record=TaskRecordAnchor(present=False)
        )
    check = task.doc.get("signature") or {}
    status = check.get("status")
    text = {
        k: v if isinstance(v, str) and v else None
        for k in ("ticket", "repo", "branch")
        for v in [task.data.get(k)]
    }
    return Anchors(
        ticket=text["ticket"],
        repo=text["repo"],
        branch=text["branch"],
        task_record=TaskRecordAnchor(
            present=True,
            seq=task.seq,
            signed=status in ("ok", "failed"),
            signature_valid=status == "ok",
            signer=check.get("identity") or check.get("key_id"),
        ),
    )


def assess(evidence: Evidence, policy: Policy) -> Assessment:
    """The pure part of a report: the same on a live ledger and offline."""
    derived, findings = judge(evidence, policy)
    spans = [
        CredentialSpan(
            id=c.id,
            issued_at=_iso(c.issued_at),
            expires_at=_iso(c.expires_at),
            revoked_at=_iso(c.revoked_at),
            seqs=sorted({e.seq for e in (*c.issued, *c.revoked)}),
        )
        for c in sorted(derived.credentials.values(), key=lambda c: c.id)
    ]
    return Assessment(
        window=Window(
            start=_iso(derived.start),
            end=_iso(derived.end),
            created=derived.created is not None,
            destroyed=derived.destroyed is not None,
        ),
        anchors=_anchors(derived),
        timeline=[_row(e) for e in evidence.events]
        + [_erased_row(seq, mark) for seq, mark in evidence.erased.items()],
        credentials=spans,
        findings=findings,
        disregarded=disregarded(derived, evidence, policy),
        verdict=verdict(derived, findings),
    )


def assess_workspace(workspace: str, catalog: Catalog, policy: Policy) -> Assessment:
    """A quick assessment from the catalogue, without proofs (``vestige workspaces``).

    Entries are not verified here; ``build_report`` proves each one.
    """
    linked, unreadable, context = gather(workspace, catalog, policy)
    around = []
    for seq, canonical in catalog.canonicals(context).items():
        doc = parse_event(canonical)
        if doc is not None:
            around.append(LinkedEvent(seq, doc))
    bytes_of = catalog.canonicals(unreadable)
    bytes_of |= catalog.canonicals(erasure_seqs(bytes_of))
    leaves = catalog.leaves(seq for seq in unreadable if Tombstone.holds(bytes_of.get(seq, b"")))
    stones = {seq: (bytes_of[seq], leaf) for seq, leaf in leaves.items()}
    erased = erased_marks(stones, bytes_of, None, None)
    return assess(
        Evidence.of(workspace, linked, around, unreadable - erased.keys(), erased), policy
    )


# -- building -------------------------------------------------------------------------


def _heartbeat(catalog: Catalog, source: str, lo: datetime, hi: datetime, gap: int) -> set[int]:
    """Entries of ``source`` that show whether its stream has a hole longer than ``gap``
    seconds in [lo, hi]: from each kept entry, the last one within the gap after it.

    Consecutive kept entries are at most ``gap`` apart exactly where the stream has no
    hole, so the rule finds the same holes in them as in the whole stream; a busy
    stream costs about (hi - lo) / gap index seeks, not a scan.
    """
    kept: set[int] = set()
    step = timedelta(seconds=gap)
    cursor = lo
    while cursor + step < hi:
        after = _iso(cursor) or ""
        found = catalog.latest(source, after, _iso(cursor + step) or "")
        if found is None:  # a hole: resume at the first entry after it
            found = catalog.earliest(source, after)
            if found is None or found[1] > (_iso(hi) or ""):
                break
        kept.add(found[0])
        cursor = parse_time(found[1])
    return kept


def _context(catalog: Catalog, f: Facts, policy: Policy, linked: set[int]) -> list[int]:
    """Entries of the workspace's sources around its window, for COLLECTOR_SILENCE."""
    start, end = f.start, f.end
    if start is None or end is None:
        return []
    seqs: set[int] = set()
    for system in f.scoped_systems:
        for source in policy.systems.get(system, []):
            gap = policy.max_gap_seconds.get(source)
            if gap is None:
                continue
            margin = timedelta(seconds=gap)
            seqs |= _heartbeat(catalog, source, start - margin, end + margin, gap)
    return sorted(seqs - linked)


def gather(
    workspace: str, catalog: Catalog, policy: Policy
) -> tuple[list[LinkedEvent], set[int], list[int]]:
    """The linked events, the linked seqs that are not readable events, and the context."""
    linked, unreadable = link(workspace, catalog)
    seqs = {e.seq for e in linked}
    context = _context(catalog, facts(Evidence.of(workspace, linked)), policy, seqs)
    return linked, unreadable, context


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _proves(
    seq: int, size: int, canonical: bytes, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether the bytes hash to the leaf and the path places it at ``seq`` under ``root``:
    the same test when the report is built and when it is verified. An erased entry's
    tombstone cannot be hashed: only its leaf hash is placed (``erased_marks`` then
    demands its signed erasure entry)."""
    return (
        Tombstone.holds(canonical) or merkle.leaf_hash(canonical) == leaf
    ) and merkle.verify_inclusion(seq, size, leaf, path, root)


def _erased(
    candidates: dict[int, tuple[bytes, bytes]],
    entries: dict[int, bytes],
    origin: str,
    keys: Sequence[Verifier],
) -> dict[int, ErasedMark]:
    """The proved tombstones among ``candidates`` that a proved erasure entry covers."""
    stones = {seq: pair for seq, pair in candidates.items() if Tombstone.holds(pair[0])}
    return erased_marks(stones, entries, origin, keys)


def build_report(
    workspace: str,
    catalog: Catalog,
    ledger: Ledger,
    policy: Policy,
    signer: Signer | None = None,
    generated_at: str | None = None,
) -> Report:
    """Reconstruct ``workspace`` as of the catalogue's tree size, proving every entry cited."""
    linked, unreadable, context = gather(workspace, catalog, policy)
    seqs = {e.seq for e in linked}
    # Erased entries are cited with the signed erasure entries that name them.
    erasures = {s for s in erasure_seqs(catalog.canonicals(unreadable)) if s < catalog.size}
    cited = seqs | unreadable | set(context) | erasures
    proofs = ledger.prove_inclusions(sorted(cited), catalog.size)
    note = next(iter(proofs.values())).checkpoint if proofs else ""
    checkpoint = Checkpoint.claimed_by(note) if note else None
    proven = {
        seq
        for seq, p in proofs.items()
        if checkpoint
        and _proves(seq, p.tree_size, p.canonical, p.leaf_hash, p.proof, checkpoint.root)
    }
    broken = (seqs | unreadable | set(context)) - proven
    # The rules see the entries exactly as proved: the bytes in the report.
    docs = {seq: parse_event(proofs[seq].canonical) for seq in proven}
    events = [LinkedEvent(e.seq, doc, e.why) for e in linked if (doc := docs.get(e.seq))]
    around = [LinkedEvent(seq, doc) for seq in context if (doc := docs.get(seq))]
    erased = _erased(
        {seq: (proofs[seq].canonical, proofs[seq].leaf_hash) for seq in proven & unreadable},
        {seq: proofs[seq].canonical for seq in proven},
        checkpoint.origin if checkpoint else "",
        ledger.keys.verifiers(),
    )
    linked_broken = broken | (unreadable - broken)
    evidence = Evidence.of(workspace, events, around, linked_broken - erased.keys(), erased)
    # Cited: what the timeline and findings rest on, and the erasures that cover its erased
    # entries (context without an event, or an erasure covering nothing here, would read
    # as a broken entry offline).
    supports = {mark.erasure_seq for mark in erased.values()}
    shown = seqs | unreadable | {s for s in context if s in docs or s in broken} | supports
    result = assess(evidence, policy)
    report = Report(
        workspace=workspace,
        generated_at=generated_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **vars(result),
        policy=policy.to_json(),
        evidence=EvidenceBundle(
            checkpoint=note,
            tree_size=catalog.size,
            entries=[
                EvidenceEntry(
                    seq=seq,
                    canonical=_b64(p.canonical),
                    leaf_hash=_b64(p.leaf_hash),
                    proof=[_b64(h) for h in p.proof],
                )
                for seq, p in sorted(proofs.items())
                if seq in shown
            ],
            context=[seq for seq in context if seq in docs],
        ),
    )
    return report if signer is None else sign_report(report, signer)


# -- signing and offline verification ----------------------------------------------------


def _unsigned_bytes(document: dict[str, Any]) -> bytes:
    return canonicalize({k: v for k, v in document.items() if k != "signature"})


def report_document(report: Report) -> dict[str, Any]:
    return report.model_dump(mode="json", by_alias=True)


def report_bytes(report: Report) -> bytes:
    """The report file: its RFC 8785 bytes and a newline (what ``verify_report`` expects)."""
    return canonicalize(report_document(report)) + b"\n"


def sign_report(report: Report, signer: Signer) -> Report:
    document = report_document(report)
    signature = ReportSignature(
        key_id=signer.verifier.key_id.hex(),
        value=_b64(signer.sign(_unsigned_bytes(document))),
    )
    return report.model_copy(update={"signature": signature})


class ReportInvalid(InputError):
    """The report fails verification: altered, unsigned, or its verdict does not follow."""


def _decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ReportInvalid(f"{what} is not base64") from None


def _check_signature(document: dict[str, Any], report: Report, keys: Sequence[Verifier]) -> None:
    # Unsigned reports are refused: proofs show each cited entry is in the ledger, never
    # that none was left out, so only the ledger key's signature attests a complete report.
    signature = report.signature
    if signature is None:
        raise ReportInvalid("the report is not signed (reconstruct with --sign)")
    key = next((k for k in keys if k.key_id.hex() == signature.key_id), None)
    if key is None:
        raise ReportInvalid(f"the report is signed by key {signature.key_id}, not by a given key")
    if not key.verify(_unsigned_bytes(document), _decode(signature.value, "signature")):
        raise ReportInvalid("the report's signature does not verify: it has been altered")


def _check_proofs(
    report: Report, keys: Sequence[Verifier]
) -> tuple[dict[int, dict[str, Any]], set[int], dict[int, ErasedMark]]:
    """The entries that prove out, parsed; the seqs that do not; the erased entries."""
    bundle = report.evidence
    if not bundle.entries:
        return {}, set(), {}
    # Any given key will do: after a rotation the checkpoint may carry an older key's.
    text, valid = open_note(bundle.checkpoint, list(keys))
    if not valid:
        raise ReportInvalid("the checkpoint is not signed by any given key")
    checkpoint = Checkpoint.parse(text)
    if checkpoint.size != bundle.tree_size:
        raise ReportInvalid(
            f"the proofs are for size {bundle.tree_size}, the checkpoint for {checkpoint.size}"
        )
    docs: dict[int, dict[str, Any]] = {}
    failed: set[int] = set()
    proved: dict[int, tuple[bytes, bytes]] = {}
    for entry in bundle.entries:
        canonical = _decode(entry.canonical, f"entry {entry.seq}")
        leaf = _decode(entry.leaf_hash, f"leaf hash of entry {entry.seq}")
        path = [_decode(h, f"proof of entry {entry.seq}") for h in entry.proof]
        if not _proves(entry.seq, checkpoint.size, canonical, leaf, path, checkpoint.root):
            failed.add(entry.seq)
            continue
        proved[entry.seq] = (canonical, leaf)
        doc = parse_event(canonical)
        if doc is None:
            failed.add(entry.seq)
        else:
            docs[entry.seq] = doc
    timeline = {row.seq for row in report.timeline}
    candidates = {seq: pair for seq, pair in proved.items() if seq in timeline}
    erased = _erased(
        candidates, {seq: pair[0] for seq, pair in proved.items()}, checkpoint.origin, keys
    )
    # An erasure entry a tombstone names is cited as its support, not as a broken event.
    supports = {mark.erasure_seq for mark in erased.values()}
    return docs, failed - erased.keys() - supports, erased


def verify_report(data: bytes, keys: Sequence[Verifier]) -> Report:
    """Check a report file offline; return it, or raise :class:`ReportInvalid` saying why.

    ``keys`` are the ledger's verifier keys (``vestige keys show``): the report must be
    signed by one, and its checkpoint too.
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReportInvalid(f"the report is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ReportInvalid("a report is one JSON object")
    try:
        report = Report.model_validate(document)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(step) for step in error["loc"])
        raise ReportInvalid(f"the report is malformed: {where}: {error['msg']}") from None
    # One form only, so a changed byte cannot hide in whitespace or key order.
    if data != canonicalize(document) + b"\n":
        raise ReportInvalid("the report is not in its canonical form (RFC 8785): it was edited")
    _check_signature(document, report, keys)
    docs, failed, erased = _check_proofs(report, keys)
    cited = {entry.seq for entry in report.evidence.entries}
    listed = [row.seq for row in report.timeline] + report.evidence.context
    missing = sorted(set(listed) - cited)
    if missing:
        raise ReportInvalid(f"entries {missing} are cited without their bytes and proof")
    why = {row.seq: tuple(row.why) for row in report.timeline}
    events = [LinkedEvent(seq, docs[seq], why[seq]) for seq in why if seq in docs]
    context = [LinkedEvent(seq, docs[seq]) for seq in report.evidence.context if seq in docs]
    supports = {mark.erasure_seq for mark in erased.values()}
    unparsed = {row.seq for row in report.timeline} - docs.keys() - failed
    broken = failed | unparsed | (cited - docs.keys())
    evidence = Evidence.of(
        report.workspace, events, context, broken - erased.keys() - supports, erased
    )
    result = assess(evidence, Policy.from_json(report.policy))
    _compare(report, result)
    return report


def _compare(report: Report, result: Assessment) -> None:
    for name in (field.name for field in fields(Assessment)):
        claimed, derived = getattr(report, name), getattr(result, name)
        if claimed != derived:
            raise ReportInvalid(
                f"the report's {name} does not follow from its evidence: re-running the rules "
                f"gives {_short(derived)}"
            )


def _short(value: object) -> str:
    if isinstance(value, list):
        shown: Iterable[Any] = value[:3]
        text = "; ".join(_short(v) for v in shown)
        return f"[{text}{'; ...' if len(value) > 3 else ''}]"
    if hasattr(value, "model_dump"):
        return orjson.dumps(value.model_dump(mode="json")).decode()[:300]
    return str(value)
