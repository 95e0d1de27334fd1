"""Linking a workspace's events: from its id, through its anchors, to a fixpoint.

Start from the entries that name the workspace; every linked entry may name more
keys to follow (the task record's ticket, branch and credentials; the agent's
identity; credentials minted with the workspace's own). Each link keeps why it
was made, so a report can explain every event's presence. The catalogue is the
only thing read; the rules about which keys to follow are here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Protocol

from ingest.storage import (
    ACTOR_KIND,
    NAMESPACE_KIND,
    REPO_DELETED_KIND,
    REPO_DESTRUCTION,
    VAULT_ROLE_KIND,
)
from ledger import VestigeError
from reconstruct.catalog import Pair, parse_event
from reconstruct.evidence import WORKLOADS, LinkedEvent

__all__ = ["MAX_LINKED", "Index", "TooManyLinks", "link"]

# Most events one workspace may link: a report proves each one, and a workspace whose
# trail is larger than this is almost surely linked through something shared.
MAX_LINKED = 50_000
_LONGEST_SESSION: Final = timedelta(hours=12)  # STS's longest role session

_GITHUB = ("github", "github-audit")
# GitHub events a commit links besides pushes: what ran on it and where it went.
_BUILDS = ("workflow_run", "workflow_job", "check_run", "check_suite", "deployment", "status")


class Index(Protocol):
    """What linking reads: a key index and the entries' bytes (``Catalog`` implements it)."""

    def lookup(self, pairs: Collection[Pair]) -> Mapping[Pair, list[int]]: ...

    def canonicals(self, seqs: Collection[int]) -> Mapping[int, bytes]: ...


Accept = Callable[[LinkedEvent], bool]


@dataclass(frozen=True)
class _Follow:
    """A key to follow, why, and which of the entries carrying it belong to the workspace."""

    pair: Pair
    why: str
    accept: Accept | None = None


def _cloudtrail(event: LinkedEvent) -> bool:
    return event.source == "cloudtrail"


def _vault(event: LinkedEvent) -> bool:
    return event.source == "vault"


def _jira(event: LinkedEvent) -> bool:
    return event.source == "jira"


def _in_repo(repo: str, actions: tuple[str, ...] = ()) -> Accept:
    def accept(event: LinkedEvent) -> bool:
        return (
            event.source in _GITHUB
            and repo in event.keys("repo")
            and (not actions or event.action.startswith(actions))
        )

    return accept


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _follows(workspace: str, event: LinkedEvent, credentials: set[str]) -> Iterator[_Follow]:
    """The keys a linked ``event`` adds to the workspace's trail."""
    tagged = workspace in event.keys("workspace_id")
    mine = event.handed_to(workspace)
    if event.source == "agent" and tagged:
        yield from _lifecycle_follows(event)
        return
    repo = event.keys("repo")
    if event.source in _GITHUB and repo and event.keys("branch"):
        # What was built and deployed from the branch's commits and runs.
        for commit in event.keys("commit"):
            yield _Follow(
                ("commit", commit),
                f"commit {commit[:12]} of seq {event.seq}",
                _in_repo(repo[0], _BUILDS),
            )
        for run in event.keys("run_id"):
            yield _Follow(("run_id", run), f"run {run} of seq {event.seq}", _in_repo(repo[0]))
    issued = event.issued_credentials()
    by_us = _text(event.actor.get("credential_id")) in credentials
    if not (issued and (mine or by_us)) and not (tagged and event.source == "vault"):
        return
    # Only what the event hands out: a CloudTrail AssumeRole tagged with the workspace is
    # made by the orchestrator, whose own key and session are not the workspace's. A Vault
    # entry is tagged through the caller's token metadata, so that token is the workspace's.
    how = (
        f"tagged with {workspace}"
        if tagged
        else f"a lease of role {workspace}"
        if mine
        else "minted with a credential of the workspace"
    )
    handed = [*issued]
    if tagged and event.source == "vault":
        handed += [c for c in (_text(event.actor.get("credential_id")),) if c]
    for credential in handed:
        yield _Follow(
            ("credential_id", credential), f"credential {credential} ({how}, seq {event.seq})"
        )
    for session in event.new_sessions():
        yield _Follow(
            ("session_id", session),
            f"session {session} ({how}, seq {event.seq})",
            _in_session(event),
        )


def _in_session(issuer: LinkedEvent) -> Accept:
    """CloudTrail calls of a role session ``issuer`` started: same account, while it can last.

    Session names are chosen by the caller and reused freely; only calls in the issuing
    account within the longest STS session (12 h) after the AssumeRole are the session's.
    """
    account = issuer.attributes.get("recipient_account")
    start, end = issuer.when, issuer.when + _LONGEST_SESSION

    def accept(event: LinkedEvent) -> bool:
        return (
            event.source == "cloudtrail"
            and event.attributes.get("recipient_account") == account
            and start <= event.when <= end
        )

    return accept


def _destroys_repo(repo: str, since: object, until: object) -> Accept:
    def accept(event: LinkedEvent) -> bool:
        return (
            event.source in _GITHUB
            and event.action in REPO_DESTRUCTION
            and repo in event.keys("repo")
            and isinstance(since, str)
            and isinstance(until, str)
            and since <= event.time <= until
        )

    return accept


def _lifecycle_follows(event: LinkedEvent) -> Iterator[_Follow]:
    data, seq = event.data, event.seq
    if event.lifecycle("task.recorded"):
        ticket, repo, branch = (_text(data.get(k)) for k in ("ticket", "repo", "branch"))
        if ticket:
            yield _Follow(("ticket", ticket), f"ticket {ticket} (task record, seq {seq})", _jira)
        if repo and branch:
            yield _Follow(
                ("branch", branch),
                f"branch {repo}@{branch} (task record, seq {seq})",
                _in_repo(repo),
            )
        if repo:
            # The repository deleted while the task was in force: its trail went with it.
            yield _Follow(
                (REPO_DELETED_KIND, repo),
                f"repository {repo} deleted during the task (task record, seq {seq})",
                _destroys_repo(repo, data.get("issued_at"), data.get("expires_at")),
            )
        for credential in data.get("credential_ids") or ():
            if _text(credential):
                yield _Follow(
                    ("credential_id", credential),
                    f"credential {credential} (task record, seq {seq})",
                )
    if event.lifecycle("workspace.created"):
        namespace = _text(data.get("namespace"))
        if namespace:
            yield _Follow(
                (NAMESPACE_KIND, namespace),
                f"namespace {namespace} (workspace created, seq {seq})",
                lambda e: e.source == "k8s-audit",
            )
    if event.lifecycle("credential.issued"):
        for name in ("credential_id", "lease_id"):
            credential = _text(data.get(name))
            if credential:
                yield _Follow(
                    ("credential_id", credential),
                    f"credential {credential} (issued to the workspace, seq {seq})",
                )
    for party in ("agent", "issued_to"):
        actor = data.get(party)
        if isinstance(actor, Mapping) and actor.get("kind") in WORKLOADS and _text(actor.get("id")):
            yield _Follow(
                (ACTOR_KIND, actor["id"]),
                f"{actor['kind']} identity {actor['id']} ({party}, seq {seq})",
                lambda e: e.source != "agent",
            )


class TooManyLinks(VestigeError):
    """A workspace links more events than a report can carry: a shared key, most likely."""


def link(
    workspace: str, index: Index, limit: int | None = None
) -> tuple[list[LinkedEvent], set[int]]:
    """The workspace's events with why each is linked, and the seqs that are not events.

    A seq whose entry no longer parses as an event is returned in the second set: the
    caller verifies it, and the report names it. More than ``limit`` events raises
    :class:`TooManyLinks` naming the key that brought the most, rather than a report
    that silently leaves some out.
    """
    limit = MAX_LINKED if limit is None else limit
    why: dict[int, list[str]] = {}
    docs: dict[int, dict[str, Any]] = {}
    unreadable: set[int] = set()
    credentials: set[str] = set()
    by_actor_credential: dict[str, list[int]] = {}  # linked seqs by the credential they used
    followed: set[Pair] = set()
    pending = [
        _Follow(("workspace_id", workspace), f"names workspace {workspace}"),
        # A role session or source identity named exactly after the workspace.
        _Follow(("session_id", workspace), f"role session {workspace}", _cloudtrail),
        _Follow((ACTOR_KIND, workspace), f"identity {workspace}", _cloudtrail),
        # Dynamic secrets of a Vault role named after it (…/creds/<workspace>).
        _Follow((VAULT_ROLE_KIND, workspace), f"Vault role {workspace}", _vault),
    ]
    while pending:
        batch = {f.pair: f for f in pending if f.pair not in followed}
        followed.update(batch)
        pending = []
        found = index.lookup(list(batch))
        wanted = {seq for seqs in found.values() for seq in seqs} - docs.keys() - unreadable
        for seq, canonical in index.canonicals(wanted).items():
            doc = parse_event(canonical)
            if doc is None:
                unreadable.add(seq)
            else:
                docs[seq] = doc
        unreadable |= wanted - docs.keys() - unreadable
        fresh: list[int] = []
        known = set(credentials)
        for pair, follow in batch.items():
            for seq in found.get(pair, ()):
                if seq not in docs:
                    continue
                event = LinkedEvent(seq, docs[seq])
                if follow.accept is not None and not follow.accept(event):
                    continue
                if seq not in why:
                    why[seq] = []
                    fresh.append(seq)
                    used = _text(event.actor.get("credential_id"))
                    if used:
                        by_actor_credential.setdefault(used, []).append(seq)
                if follow.why not in why[seq]:
                    why[seq].append(follow.why)
                if pair[0] == "credential_id":
                    credentials.add(pair[1])
        if len(why) > limit:
            busiest = max(batch, key=lambda pair: len(found.get(pair, ())))
            raise TooManyLinks(
                f"workspace {workspace!r} links more than {limit:,} events; "
                f"{busiest[0]} {busiest[1]!r} alone names {len(found.get(busiest, ())):,} "
                "(a credential or identity shared with others?)"
            )
        # Events linked earlier that used a credential only now known to be the
        # workspace's are looked at again: what they minted is the workspace's too.
        added = credentials - known
        again = {seq for c in added for seq in by_actor_credential.get(c, ())} - set(fresh)
        for seq in sorted({*fresh, *again}):
            for follow in _follows(workspace, LinkedEvent(seq, docs[seq]), credentials):
                if follow.pair not in followed:
                    pending.append(follow)
    events = [LinkedEvent(seq, docs[seq], tuple(reasons)) for seq, reasons in why.items()]
    return events, unreadable
