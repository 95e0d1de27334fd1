"""The gap rules: plain functions from a workspace's evidence to findings, and the verdict.

Each rule takes the derived :class:`~reconstruct.evidence.Facts`, the
:class:`~reconstruct.evidence.Evidence` and the :class:`~reconstruct.policy.Policy`
and returns findings; none does I/O, so ``verify-report`` re-runs them offline on
the entries a report carries. What each code means: README "Gap rules" and
DESIGN.md "Gap codes"; severities are the policy's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from reconstruct.evidence import Evidence, Facts, LinkedEvent, facts, parse_time
from reconstruct.model import Code, Disregarded, Finding, Severity, Verdict
from reconstruct.policy import HighRisk, Policy, matches

__all__ = ["RULES", "disregarded", "judge", "verdict", "unattributed", "within_scope"]

Rule = Callable[[Facts, Evidence, Policy], list[Finding]]


def _finding(policy: Policy, code: Code, events: Iterable[LinkedEvent], why: str) -> Finding:
    seqs = sorted({event.seq for event in events})
    return Finding(code=code, severity=policy.severity[code], seqs=seqs, explanation=why)


def _grace(policy: Policy) -> timedelta:
    return timedelta(seconds=policy.teardown_grace_seconds)


# -- late claims -------------------------------------------------------------------------
# An approval or a revocation the agent runtime reports carries the time its sender
# claims. It counts only when the ledger received it in time (our policy, README "Late
# events"): before the entry it counts for, in ledger order, or by its receipt no later
# than that entry's time plus the teardown grace. Ledger order keeps an archive replayed
# in order whole; receipt time covers a provider log that reaches the ledger after the
# approval. Without a receipt (older entries) only ledger order can show it in time.


def _in_time(claim: LinkedEvent, entry: LinkedEvent, policy: Policy) -> bool:
    received = claim.received
    return claim.seq < entry.seq or (
        received is not None and received <= entry.when + _grace(policy)
    )


def _late(claim: LinkedEvent, entry: LinkedEvent, what: str) -> str:
    received = claim.received_at or "at an unknown time (the entry has no receipt)"
    return (
        f"{what} (seq {claim.seq}) claims {claim.time} but reached the ledger {received}, "
        f"after seq {entry.seq} of {entry.time}"
    )


def _reported_revocation(event: LinkedEvent) -> bool:
    """A revocation the agent runtime reports (its time is a claim); a provider's own log
    of one (CloudTrail DeleteAccessKey, a Vault revoke) keeps the provider's time."""
    return event.lifecycle("credential.revoked")


def _approval_name(approval: LinkedEvent) -> str:
    return f"approval {approval.data.get('approval_id') or '-'}"


def _signature_status(event: LinkedEvent) -> str | None:
    check = event.doc.get("signature")
    status = check.get("status") if isinstance(check, Mapping) else None
    return status if isinstance(status, str) else None


def _unsigned_why(approval: LinkedEvent) -> tuple[str, str]:
    """(reason code, text) of an approval that is not validly signed."""
    status = _signature_status(approval)
    if status == "unsigned":
        return "unsigned", "carries no signature"
    if status is None:  # ingested before approvals were checked
        return "unsigned", "carries no signature check"
    check = approval.doc.get("signature")
    reason = check.get("reason") if isinstance(check, Mapping) else None
    return "bad_signature", f"is not signed by a trusted approver: {reason or 'no check result'}"


# -- the three anchors -----------------------------------------------------------------


def no_task_record(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    if f.tasks:
        return []
    why = f"no task record names workspace {f.workspace}: its intent and scopes are unknown"
    # An absence: cite what shows the workspace existed.
    return [_finding(policy, Code.NO_TASK_RECORD, [e for e in (f.created, f.destroyed) if e], why)]


def _unnamed(f: Facts, policy: Policy, anchor: str, code: Code, so: str) -> list[Finding]:
    task = f.task
    if task is None or task.data.get(anchor):
        return []
    why = f"the task record (seq {task.seq}) names no {anchor}, so {so}"
    return [_finding(policy, code, [task], why)]


def no_ticket(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    return _unnamed(f, policy, "ticket", Code.NO_TICKET, "no request authorises the work")


def no_branch(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    return _unnamed(f, policy, "branch", Code.NO_BRANCH, "the work cannot be found in git")


def task_record_signature(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    findings = []
    for task in f.tasks:
        check = task.doc.get("signature") or {}
        status = check.get("status") if isinstance(check, Mapping) else None
        if status == "unsigned":
            why = f"the task record (seq {task.seq}) carries no signature"
            findings.append(_finding(policy, Code.TASK_RECORD_UNSIGNED, [task], why))
        elif status != "ok":
            reason = check.get("reason") if isinstance(check, Mapping) else None
            why = f"the task record (seq {task.seq}) does not verify: {reason or 'no check result'}"
            findings.append(_finding(policy, Code.TASK_RECORD_BAD_SIGNATURE, [task], why))
    return findings


# -- lifecycle and credentials -----------------------------------------------------------


def lifecycle_incomplete(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    missing = [name for name, e in (("creation", f.created), ("destruction", f.destroyed)) if not e]
    if not missing:
        return []
    why = f"no {' and no '.join(missing)} record for workspace {f.workspace}"
    return [
        _finding(policy, Code.LIFECYCLE_INCOMPLETE, [e for e in (f.created, f.destroyed) if e], why)
    ]


def _late_revocations(f: Facts, policy: Policy) -> list[LinkedEvent]:
    """Reported revocations the ledger received too late for the teardown."""
    destroyed = f.destroyed
    if destroyed is None:
        return []
    late = {
        e.seq: e
        for credential in f.credentials.values()
        for e in credential.revoked
        if _reported_revocation(e) and not _in_time(e, destroyed, policy)
    }
    return [late[seq] for seq in sorted(late)]


def credential_not_revoked(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    if f.destroyed is None:
        return []  # without a teardown there is nothing to be revoked by (LIFECYCLE_INCOMPLETE)
    deadline = f.destroyed.when + _grace(policy)
    late = {e.seq for e in _late_revocations(f, policy)}
    findings = []
    for credential in f.credentials.values():
        counted = [e for e in credential.revoked if e.seq not in late]
        revoked = min((e.when for e in counted), default=None)
        expires = credential.expires_at
        if (revoked and revoked <= deadline) or (expires and expires <= deadline):
            continue
        if revoked:
            state = f"was revoked only at {_iso(revoked)}"
        elif expires:
            state = f"stays valid until {_iso(expires)}"
        else:
            state = "was never revoked and does not expire"
        why = f"credential {credential.id} {state}, after the teardown at {f.destroyed.time}"
        why += "".join(
            f"; its revocation {_late(e, f.destroyed, 'report')}"
            for e in credential.revoked
            if e.seq in late
        )
        cited = [*credential.issued, *credential.revoked, f.destroyed]
        findings.append(_finding(policy, Code.CREDENTIAL_NOT_REVOKED, cited, why))
    return findings


def long_lived_credential(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    # The workspace's own use or issuance: an orchestrator's static key on a linked call is
    # the orchestrator's gap, not the workspace's.
    static = [
        e
        for e in ev.events
        if "long_lived_credential" in e.risk
        and (f.performed_by_workspace(e) or e.lifecycle("credential.issued"))
    ]
    if not static:
        return []
    why = (
        f"workspace {f.workspace} used or was issued a static credential instead of a "
        f"just-in-time one ({_list(static)})"
    )
    return [_finding(policy, Code.LONG_LIVED_CREDENTIAL, static, why)]


def action_after_teardown(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    if f.destroyed is None:
        return []
    deadline = f.destroyed.when + _grace(policy)
    # Only the workspace's own credentials and identity: a namespace may be reused later.
    late = [
        e for e in ev.events if e.when > deadline and f.performed_by_workspace(e, namespace=False)
    ]
    if not late:
        return []
    why = (
        f"the workspace's credentials or identity acted after its teardown at "
        f"{f.destroyed.time} ({_list(late)})"
    )
    return [_finding(policy, Code.ACTION_AFTER_TEARDOWN, [f.destroyed, *late], why)]


def self_provisioned(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    def by_agent(event: LinkedEvent, party: str) -> bool:
        actor = event.data.get(party)
        return isinstance(actor, Mapping) and actor.get("id") in f.identities

    own = [e for e in ev.events if e.lifecycle("workspace.created") and by_agent(e, "created_by")]
    own += [e for e in ev.events if e.lifecycle("credential.issued") and by_agent(e, "issued_by")]
    if not own:
        return []
    why = f"the workspace's own agent identity created it or issued its credentials ({_list(own)})"
    return [_finding(policy, Code.SELF_PROVISIONED, own, why)]


# -- what the workspace did --------------------------------------------------------------


def _tampering(event: LinkedEvent, f: Facts, policy: Policy) -> str | None:
    """Why ``event`` destroys or blinds evidence, or None."""
    if matches(policy.tampering.actions, f"{event.system}:{event.action}"):
        return event.action
    if "audit_device_changed" in event.risk:
        return f"Vault audit device {event.attributes.get('audit_change', 'changed')}"
    if event.action == "cloudtrail:PutEventSelectors" and _drops_management_events(event.doc):
        return "event selectors that drop management events"
    if event.action == "eks:UpdateClusterConfig" and _disables_audit_log(event.doc):
        return "the cluster's Kubernetes audit log turned off"
    if event.action.startswith("s3:Delete") and matches(
        policy.tampering.trail_buckets, event.target
    ):
        return f"deletion in the trail bucket {event.target}"
    if f.on_branch(event, commits=False):
        if event.attributes.get("forced") is True:
            return "a force-push rewriting the workspace's branch"
        if event.attributes.get("deleted") is True or (
            event.action == "delete" and event.attributes.get("ref_type") == "branch"
        ):
            return "deletion of the workspace's branch"
    return None


def _drops_management_events(doc: Mapping[str, Any]) -> bool:
    """A PutEventSelectors call whose selectors leave out management events (or some of them)."""
    raw = doc.get("raw")
    params = raw.get("requestParameters") if isinstance(raw, Mapping) else None
    if not isinstance(params, Mapping):
        return False
    basic = params.get("eventSelectors")
    if isinstance(basic, list) and basic:
        kept = [
            s
            for s in basic
            if isinstance(s, Mapping)
            and s.get("includeManagementEvents", True) is not False
            and s.get("readWriteType", "All") == "All"
        ]
        return not kept
    advanced = params.get("advancedEventSelectors")
    if isinstance(advanced, list) and advanced:
        return "Management" not in str(advanced)
    return False


def _disables_audit_log(doc: Mapping[str, Any]) -> bool:
    """An EKS UpdateClusterConfig whose logging setup disables the ``audit`` log type."""
    raw = doc.get("raw")
    params = raw.get("requestParameters") if isinstance(raw, Mapping) else None
    logging = params.get("logging") if isinstance(params, Mapping) else None
    setups = logging.get("clusterLogging") if isinstance(logging, Mapping) else None
    return any(
        isinstance(setup, Mapping)
        and setup.get("enabled") is False
        and "audit" in (setup.get("types") or ())
        for setup in setups or ()
        if isinstance(setups, list)
    )


def evidence_tampering(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    findings = []
    for event in ev.events:
        what = _tampering(event, f, policy) if event.completed else None
        if what:
            why = f"evidence destruction in the workspace's trail: {what} (seq {event.seq})"
            findings.append(_finding(policy, Code.EVIDENCE_TAMPERING, [event], why))
    return findings


def _high_risk(event: LinkedEvent, policy: Policy) -> HighRisk | None:
    for entry in policy.high_risk:
        if entry.system != event.system or not matches(entry.actions, event.action):
            continue
        resources = [
            pattern
            for r in entry.resources
            for pattern in (policy.sensitive_resources if r == "@sensitive" else [r])
        ]
        if not matches(resources, event.target):
            continue
        if entry.environments and not matches(
            entry.environments, str(event.attributes.get("environment") or "")
        ):
            continue
        return entry
    return None


def _covers(approval: LinkedEvent, event: LinkedEvent) -> bool:
    """Whether the approval, by what it says, covers the action: given before it (by its
    claimed time), not expired, and one of its ``covers`` matches."""
    if approval.when > event.when:
        return False
    expires = approval.data.get("expires_at")
    if isinstance(expires, str) and parse_time(expires) < event.when:
        return False
    return any(
        isinstance(cover, Mapping)
        and matches([str(cover.get("system", ""))], event.system)
        and matches([str(cover.get("action", ""))], event.action)
        and matches([str(cover.get("resource", ""))], event.target)
        for cover in approval.data.get("covers") or ()
    )


def _approvals(f: Facts, ev: Evidence) -> list[LinkedEvent]:
    return [
        e
        for e in ev.events
        if e.lifecycle("approval.granted") and f.workspace in e.keys("workspace_id")
    ]


def _high_risk_actions(
    f: Facts, ev: Evidence, policy: Policy
) -> list[tuple[LinkedEvent, HighRisk]]:
    found = []
    for event in ev.events:
        # A deployment of the workspace's branch is its doing, whoever the webhook names.
        ours = f.performed_by_workspace(event) or f.on_branch(event)
        entry = _high_risk(event, policy) if ours and event.completed else None
        if entry:
            found.append((event, entry))
    return found


def _faults(approval: LinkedEvent, event: LinkedEvent, policy: Policy) -> list[str]:
    """Why the approval does not count for the action (``unsigned``, ``late``); [] if it does."""
    faults = [] if _signature_status(approval) == "ok" else ["unsigned"]
    return faults if _in_time(approval, event, policy) else [*faults, "late"]


def unapproved_high_risk_action(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    approvals = _approvals(f, ev)
    findings = []
    for event, entry in _high_risk_actions(f, ev, policy):
        covering = [(a, _faults(a, event, policy)) for a in approvals if _covers(a, event)]
        if any(not faults for _, faults in covering):
            continue
        why = (
            f"{entry.kind.replace('_', ' ')} {event.action} on {event.target or '-'} "
            f"(seq {event.seq}) without an earlier approval that covers it"
        )
        for approval, faults in covering:
            name = _approval_name(approval)
            if "unsigned" in faults:
                why += f"; {name} (seq {approval.seq}) {_unsigned_why(approval)[1]}, so is ignored"
            if "late" in faults:
                why += f"; {_late(approval, event, name)}"
        cited = [event, *(a for a, _ in covering)]
        findings.append(_finding(policy, Code.UNAPPROVED_HIGH_RISK_ACTION, cited, why))
    return findings


def within_scope(scopes: object, event: LinkedEvent) -> bool:
    """Whether a task record's ``scopes`` allow ``event`` (agent-events.md, "Scope matching").

    For a GitHub action ``event.sub`` (``pull_request.opened``) a scope may name the
    webhook event alone (``pull_request``): the contract's examples do so.
    """
    action = event.action
    names = [action, action.partition(".")[0]] if event.system == "github" else [action]
    for scope in scopes if isinstance(scopes, list) else ():
        if not isinstance(scope, Mapping) or scope.get("system") != event.system:
            continue
        actions = [str(a) for a in scope.get("actions") or ()]
        resources = [str(r) for r in scope.get("resources") or ()]
        if any(matches(actions, name) for name in names) and matches(resources, event.target):
            return True
    return False


def scope_exceeded(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    task = f.task
    if task is None:
        return []  # NO_TASK_RECORD: there are no declared scopes to exceed
    scopes = task.data.get("scopes")
    findings = []
    for event in ev.events:
        if f.performed_by_workspace(event) and event.completed and not within_scope(scopes, event):
            why = (
                f"{event.system} {event.action} on {event.target or '-'} (seq {event.seq}) is "
                f"outside the scopes of the task record (seq {task.seq})"
            )
            findings.append(_finding(policy, Code.SCOPE_EXCEEDED, [event, task], why))
    return findings


# -- the trail itself ------------------------------------------------------------------


def collector_silence(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    task, start, end = f.task, f.start, f.end
    if task is None or start is None or end is None:
        return []
    findings = []
    for system in f.scoped_systems:
        sources = policy.systems.get(system, [])
        if not sources:
            continue
        seen = [e for e in ev.events if e.source in sources and start <= e.when <= end]
        if not seen:
            why = (
                f"the task record scopes {system}, but no {'/'.join(sources)} event of the "
                f"workspace arrived between {_iso(start)} and {_iso(end)}"
            )
            findings.append(_finding(policy, Code.COLLECTOR_SILENCE, [task], why))
        for source in sources:
            hole = _hole(source, ev, policy, start, end)
            if hole:
                findings.append(_finding(policy, Code.COLLECTOR_SILENCE, hole[0], hole[1]))
    return findings


def _hole(
    source: str, ev: Evidence, policy: Policy, start: datetime, end: datetime
) -> tuple[list[LinkedEvent], str] | None:
    """The first gap longer than the source's max_gap in its stream around the window."""
    gap_seconds = policy.max_gap_seconds.get(source)
    if gap_seconds is None:
        return None
    gap = timedelta(seconds=gap_seconds)
    lo, hi = start - gap, end + gap
    stream = {
        e.seq: e for e in (*ev.events, *ev.context) if e.source == source and lo <= e.when <= hi
    }
    ordered = sorted(stream.values(), key=lambda e: (e.when, e.seq))
    times = [lo, *(e.when for e in ordered), hi]
    for i in range(1, len(times)):
        if times[i] - times[i - 1] > gap:
            cited = [ordered[j] for j in (i - 2, i - 1) if 0 <= j < len(ordered)]
            why = (
                f"{source} was silent from {_iso(times[i - 1])} to {_iso(times[i])}, longer than "
                f"{gap_seconds} s, across the workspace's window"
            )
            return cited, why
    return None


def ledger_integrity(f: Facts, ev: Evidence, policy: Policy) -> list[Finding]:
    if not ev.broken:
        return []
    seqs = sorted(ev.broken)
    why = f"ledger entries {', '.join(map(str, seqs))} fail verification and may have been modified"
    return [
        Finding(
            code=Code.LEDGER_INTEGRITY,
            severity=policy.severity[Code.LEDGER_INTEGRITY],
            seqs=seqs,
            explanation=why,
        )
    ]


RULES: Final[tuple[Rule, ...]] = (
    no_task_record,
    no_ticket,
    no_branch,
    task_record_signature,
    lifecycle_incomplete,
    credential_not_revoked,
    long_lived_credential,
    action_after_teardown,
    self_provisioned,
    evidence_tampering,
    unapproved_high_risk_action,
    scope_exceeded,
    collector_silence,
    ledger_integrity,
)


def disregarded(f: Facts, ev: Evidence, policy: Policy) -> list[Disregarded]:
    """The approvals and reported revocations the rules set aside: every approval not
    validly signed, each signed approval that came late for a high-risk action it covers,
    and each reported revocation that came late for the teardown."""
    found: list[Disregarded] = []
    approvals = _approvals(f, ev)
    for approval in approvals:
        if _signature_status(approval) != "ok":
            reason, text = _unsigned_why(approval)
            why = f"{_approval_name(approval)} {text}; it is ignored"
            found.append(_disregarded(approval, "approval", reason, None, why))
    for event, _entry in _high_risk_actions(f, ev, policy):
        for approval in approvals:
            if _covers(approval, event) and "late" in _faults(approval, event, policy):
                name = _approval_name(approval)
                why = f"{_late(approval, event, name)}: it does not count for that action"
                found.append(_disregarded(approval, "approval", "late", event, why))
    if f.destroyed is not None:
        for revocation in _late_revocations(f, policy):
            why = _late(revocation, f.destroyed, "the revocation report")
            found.append(_disregarded(revocation, "revocation", "late", f.destroyed, why))
    return found


def _disregarded(
    claim: LinkedEvent, kind: str, reason: str, against: LinkedEvent | None, why: str
) -> Disregarded:
    return Disregarded.model_validate(
        {
            "seq": claim.seq,
            "kind": kind,
            "reason": reason,
            "claimed_at": claim.time,
            "received_at": claim.received_at,
            "against": None if against is None else against.seq,
            "explanation": why,
        }
    )


def judge(evidence: Evidence, policy: Policy) -> tuple[Facts, list[Finding]]:
    """Every rule over one workspace's evidence; findings ordered by severity, then code."""
    derived = facts(evidence)
    findings = [finding for rule in RULES for finding in rule(derived, evidence, policy)]
    findings.sort(key=lambda x: (-x.severity.rank, x.code.value, x.seqs))
    return derived, findings


def verdict(f: Facts, findings: Sequence[Finding]) -> Verdict:
    """Recreatable only with ticket, branch and a validly signed task record, and no finding
    of severity high or above (DESIGN.md, "Verdict")."""
    reasons = [
        f"{x.code.value} ({x.severity.value})"
        for x in findings
        if x.severity.rank >= Severity.HIGH.rank
    ]
    task = f.task
    signed = task is not None and (task.doc.get("signature") or {}).get("status") == "ok"
    anchored = task is not None and bool(task.data.get("ticket")) and bool(task.data.get("branch"))
    if not (anchored and signed) and not reasons:
        reasons.append("ticket, branch and a validly signed task record are not all linked")
    return Verdict(recreatable=not reasons, reasons=reasons)


def unattributed(
    events: Iterable[LinkedEvent], attributed: set[int], policy: Policy
) -> list[Finding]:
    """Organisation-wide: agent actions that link to no workspace, one finding per identity."""
    by_identity: dict[str, list[LinkedEvent]] = {}
    for event in events:
        if event.seq in attributed or event.source == "agent":
            continue
        if event.actor.get("kind") == "agent":
            name = str(event.actor.get("id") or sorted(event.identities() or {"-"})[0])
            by_identity.setdefault(name, []).append(event)
    return [
        _finding(
            policy,
            Code.UNATTRIBUTED_ACTION,
            found,
            f"agent identity {name} acted {len(found)} time(s) with no workspace to account for it "
            f"({_list(found)})",
        )
        for name, found in sorted(by_identity.items())
    ]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _list(events: Sequence[LinkedEvent], limit: int = 5) -> str:
    shown = ", ".join(f"{e.action} at seq {e.seq}" for e in events[:limit])
    return shown + (f" and {len(events) - limit} more" if len(events) > limit else "")
