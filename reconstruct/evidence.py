"""The evidence a workspace is judged on, and the facts derived from it.

:class:`Evidence` holds ledger events as parsed from their canonical bytes, so the
same rules run on a live ledger and, offline, on the entries a report carries.
:func:`facts` reads from it what every rule needs: the lifecycle, the task record,
the workspace's identities and credentials. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from reconstruct.model import ErasedMark

__all__ = [
    "SYSTEM_OF_SOURCE",
    "WORKLOADS",
    "Credential",
    "Evidence",
    "Facts",
    "LinkedEvent",
    "facts",
    "parse_time",
]

# The system a source reports, as task-record scopes and approvals name it.
SYSTEM_OF_SOURCE: Final = {
    "cloudtrail": "aws",
    "github": "github",
    "github-audit": "github",
    "k8s-audit": "k8s",
    "gcp-audit": "gcp",
    "vault": "vault",
    "jira": "jira",
    "okta": "okta",
    "agent": "agent",
}


_CREDS_ROLE: Final = re.compile(r"(?:^|/)creds/([^/]+)")
_RECEIVED: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")  # as ingest writes it


def parse_time(text: str) -> datetime:
    """An RFC 3339 UTC time as ingest writes it (``...Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class LinkedEvent:
    """One ledger event (``schemas/event.v1.json``) and why it belongs to the workspace."""

    seq: int
    doc: Mapping[str, Any]
    why: tuple[str, ...] = ()

    @property
    def time(self) -> str:
        return str(self.doc["occurred_at"])

    @property
    def when(self) -> datetime:
        return parse_time(self.time)

    @property
    def received_at(self) -> str | None:
        """When the ledger received the event (its receipt); None for an entry written
        before receipts were recorded, or one whose receipt is unreadable."""
        receipt = self.doc.get("receipt")
        when = receipt.get("received_at") if isinstance(receipt, Mapping) else None
        return when if isinstance(when, str) and _RECEIVED.fullmatch(when) else None

    @property
    def received(self) -> datetime | None:
        text = self.received_at
        try:
            return None if text is None else parse_time(text)
        except ValueError:  # the right shape, but no such day
            return None

    @property
    def source(self) -> str:
        return str(self.doc["source"])

    @property
    def system(self) -> str:
        return SYSTEM_OF_SOURCE.get(self.source, self.source)

    @property
    def action(self) -> str:
        return str(self.doc["action"])

    @property
    def target(self) -> str | None:
        return _str(self.doc.get("target"))

    @property
    def actor(self) -> Mapping[str, Any]:
        actor = self.doc.get("actor")
        return actor if isinstance(actor, Mapping) else {}

    @property
    def attributes(self) -> Mapping[str, Any]:
        attributes = self.doc.get("attributes")
        return attributes if isinstance(attributes, Mapping) else {}

    @property
    def risk(self) -> list[str]:
        return [r for r in self.doc.get("risk") or () if isinstance(r, str)]

    def keys(self, kind: str) -> list[str]:
        keys = self.doc.get("keys")
        values = keys.get(kind) if isinstance(keys, Mapping) else None
        return [v for v in values or () if isinstance(v, str)]

    def identities(self) -> set[str]:
        """Every name the actor goes by: id, SPIFFE ID, OIDC subject, CloudTrail sourceIdentity."""
        names = (
            self.actor.get("id"),
            self.actor.get("spiffe_id"),
            self.actor.get("oidc_sub"),
            self.attributes.get("source_identity"),
        )
        return {name for name in names if isinstance(name, str) and name}

    @property
    def completed(self) -> bool:
        """Whether the event reports something done, not asked for or refused: a Vault
        request entry is followed by its response; a Kubernetes RequestReceived stage by
        ResponseComplete; a failed call did nothing."""
        if self.doc.get("outcome") == "failure":
            return False
        if self.source == "vault":
            return self.attributes.get("type") != "request"
        if self.source == "k8s-audit":
            return self.attributes.get("stage") in (None, "ResponseComplete", "Panic")
        return True

    def lifecycle(self, kind: str) -> bool:
        """An agent lifecycle event of ``kind`` (``workspace.created``, ``task.recorded``...)."""
        return self.source == "agent" and self.action == kind

    @property
    def data(self) -> Mapping[str, Any]:
        """A lifecycle event's validated ``data`` (ingest keeps it as the attributes)."""
        return self.attributes

    def new_sessions(self) -> list[str]:
        """Role sessions this event starts (CloudTrail AssumeRole*: the requested name)."""
        if self.source != "cloudtrail" or not self.action.startswith("sts:AssumeRole"):
            return []
        raw = self.doc.get("raw")
        params = raw.get("requestParameters") if isinstance(raw, Mapping) else None
        name = params.get("roleSessionName") if isinstance(params, Mapping) else None
        return [name] if isinstance(name, str) and name else []

    def vault_role(self) -> str | None:
        """The dynamic-secret role of a Vault ``<mount>/creds/<role>`` call, if it is one."""
        if self.source != "vault":
            return None
        found = _CREDS_ROLE.search(self.target or "")
        return found.group(1) if found else None

    def handed_to(self, workspace: str) -> bool:
        """Whether what this event issues is the workspace's by its own say: tagged with
        the workspace, or a Vault lease of a role named after it."""
        return workspace in self.keys("workspace_id") or self.vault_role() == workspace

    def issued_credentials(self) -> list[str]:
        """Credentials this event hands out: STS/IAM keys, Vault leases and tokens."""
        if self.lifecycle("credential.issued"):
            return [c for c in (_str(self.data.get("credential_id")),) if c]
        issued = self.attributes.get("issued_credential")
        if isinstance(issued, Mapping) and _str(issued.get("id")):
            return [str(issued["id"])]
        if self.source == "vault" and self.attributes.get("credential_event") == "issued":
            # Everything the entry names but the caller's own token; a login has no caller
            # token, and the token it returns is what it issued.
            caller = self._raw("auth", "accessor")
            return [c for c in self.keys("credential_id") if c != caller]
        return []

    def revoked_credentials(self) -> list[str]:
        """Credentials this event revokes (by what it names, never by who calls)."""
        if self.lifecycle("credential.revoked"):
            return [c for c in (_str(self.data.get("credential_id")),) if c]
        if self.source == "vault" and self.attributes.get("credential_event") == "revoked":
            caller = self._raw("auth", "accessor")
            return [c for c in self.keys("credential_id") if c != caller]
        status = self._raw("requestParameters", "status")
        if self.action == "iam:DeleteAccessKey" or (
            self.action == "iam:UpdateAccessKey" and status == "Inactive"
        ):
            return [c for c in (self._raw("requestParameters", "accessKeyId"),) if c]
        return []

    def _raw(self, *path: str) -> str | None:
        value: object = self.doc.get("raw")
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else None
        return _str(value)


@dataclass(frozen=True)
class Evidence:
    """What a workspace is judged on.

    ``events`` are the linked events in time order; ``context`` are events of the
    workspace's sources around its window, from any workspace (collector silence);
    ``broken`` are seqs whose entry failed verification (their ``doc`` is empty);
    ``erased`` are linked entries whose bytes a valid erasure entry removed.
    """

    workspace: str
    events: tuple[LinkedEvent, ...]
    context: tuple[LinkedEvent, ...] = ()
    broken: frozenset[int] = frozenset()
    erased: Mapping[int, ErasedMark] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        workspace: str,
        events: Iterable[LinkedEvent],
        context: Iterable[LinkedEvent] = (),
        broken: Iterable[int] = (),
        erased: Mapping[int, ErasedMark] | None = None,
    ) -> Evidence:
        ordered = sorted(events, key=lambda e: (e.time, e.seq))
        return cls(
            workspace,
            tuple(ordered),
            tuple(sorted(context, key=lambda e: e.seq)),
            frozenset(broken),
            dict(sorted((erased or {}).items())),
        )


@dataclass
class Credential:
    """A credential of the workspace and what the evidence says of its life."""

    id: str
    issued: list[LinkedEvent] = field(default_factory=list)
    revoked: list[LinkedEvent] = field(default_factory=list)
    expires_at: datetime | None = None

    @property
    def issued_at(self) -> datetime | None:
        return min((e.when for e in self.issued), default=None)

    @property
    def revoked_at(self) -> datetime | None:
        return min((e.when for e in self.revoked), default=None)


@dataclass(frozen=True)
class Facts:
    workspace: str
    created: LinkedEvent | None
    destroyed: LinkedEvent | None
    tasks: tuple[LinkedEvent, ...]
    identities: frozenset[str]  # the workspace's agent identities
    credentials: Mapping[str, Credential]
    namespace: str | None
    start: datetime | None
    end: datetime | None
    branch_commits: frozenset[str] = frozenset()  # commits pushed to the task's branch

    @property
    def task(self) -> LinkedEvent | None:
        """The task record in force: the latest one."""
        return self.tasks[-1] if self.tasks else None

    @property
    def scoped_systems(self) -> list[str]:
        """The systems the task record's scopes name, sorted."""
        scopes = self.task.data.get("scopes") if self.task else None
        listed = scopes if isinstance(scopes, list) else []
        return sorted(
            {str(s["system"]) for s in listed if isinstance(s, Mapping) and s.get("system")}
        )

    def performed_by_workspace(self, event: LinkedEvent, namespace: bool = True) -> bool:
        """Whether the workspace itself acted: with its credential or identity, or (with
        ``namespace``) as a service account of its Kubernetes namespace."""
        if event.source == "agent":
            return False  # the orchestrator's reports about the workspace, not its actions
        if _str(event.actor.get("credential_id")) in self.credentials:
            return True
        if event.identities() & self.identities:
            return True
        account = f"system:serviceaccount:{self.namespace}:"
        return (
            namespace
            and self.namespace is not None
            and str(event.actor.get("id") or "").startswith(account)
        )

    def on_branch(self, event: LinkedEvent, commits: bool = True) -> bool:
        """A GitHub event of the task record's repository, on its branch (or its commits)."""
        task = self.task
        if task is None or event.system != "github":
            return False
        repo, branch = task.data.get("repo"), task.data.get("branch")
        if not isinstance(repo, str) or repo not in event.keys("repo"):
            return False
        if isinstance(branch, str) and branch in event.keys("branch"):
            return True
        return commits and not self.branch_commits.isdisjoint(event.keys("commit"))


# Non-human principals a credential may be issued to: what they do is the workspace's doing.
WORKLOADS: Final = ("agent", "service")
_LONGEST: Final = timedelta(days=366 * 100)  # past this a TTL means "does not expire"


def _expiry(event: LinkedEvent) -> datetime | None:
    """When what ``event`` issued expires, if it says (and says it readably)."""
    issued = event.attributes.get("issued_credential")
    text = (
        _str(event.data.get("expires_at"))
        if event.lifecycle("credential.issued")
        else _str(issued.get("expiration"))
        if isinstance(issued, Mapping)
        else None
    )
    if text is not None:
        try:
            return parse_time(text)
        except ValueError:
            return None  # CloudTrail keeps an expiration it could not read as it was
    ttl = event.attributes.get("lease_ttl")
    if isinstance(ttl, int) and not isinstance(ttl, bool) and 0 < ttl:
        lease = timedelta(seconds=min(ttl, int(_LONGEST.total_seconds())))
        return None if lease >= _LONGEST else event.when + lease
    return None


def facts(evidence: Evidence) -> Facts:
    """The lifecycle, task records, identities and credentials of ``evidence.workspace``."""
    workspace, events = evidence.workspace, evidence.events
    mine = [e for e in events if e.source == "agent" and workspace in e.keys("workspace_id")]
    created = next((e for e in mine if e.lifecycle("workspace.created")), None)
    destroyed = next((e for e in reversed(mine) if e.lifecycle("workspace.destroyed")), None)
    tasks = tuple(e for e in mine if e.lifecycle("task.recorded"))

    # The agent, and any non-human principal credentials were issued to (a GCP or
    # Kubernetes service account made for the workspace): what they do is its doing.
    identities: set[str] = set()
    for event in mine:
        for name in ("agent", "issued_to"):
            party = event.data.get(name)
            if isinstance(party, Mapping) and party.get("kind") in WORKLOADS:
                identities.update(i for i in (_str(party.get("id")),) if i)
    namespace = _str(created.data.get("namespace")) if created else None

    credentials: dict[str, Credential] = {}
    for task in tasks:
        for declared in task.data.get("credential_ids") or ():
            if isinstance(declared, str) and declared:
                credentials.setdefault(declared, Credential(declared))
    # Issuances reach a fixpoint: a credential minted with one of the workspace's belongs to it.
    changed = True
    while changed:
        changed = False
        for event in events:
            ids = event.issued_credentials()
            if not ids:
                continue
            by_us = _str(event.actor.get("credential_id")) in credentials
            if not (event.handed_to(workspace) or by_us):
                continue
            for credential_id in ids:
                credential = credentials.setdefault(credential_id, Credential(credential_id))
                if all(e.seq != event.seq for e in credential.issued):
                    credential.issued.append(event)
                    expiry = _expiry(event)
                    if expiry is not None:
                        credential.expires_at = expiry
                    changed = True
    for event in events:
        for credential_id in event.revoked_credentials():
            if credential_id in credentials:
                credentials[credential_id].revoked.append(event)
        prefix = _str(event.attributes.get("revoked_prefix"))
        if prefix:
            for credential in credentials.values():
                if credential.id.startswith(prefix):
                    credential.revoked.append(event)

    anchors = tasks[-1].data if tasks else {}
    repo, branch = anchors.get("repo"), anchors.get("branch")
    commits = {
        commit
        for e in events
        if e.system == "github" and repo in e.keys("repo") and branch in e.keys("branch")
        for commit in e.keys("commit")
    }
    start = created.when if created else (events[0].when if events else None)
    end = destroyed.when if destroyed else (events[-1].when if events else None)
    return Facts(
        workspace=workspace,
        created=created,
        destroyed=destroyed,
        tasks=tasks,
        identities=frozenset(identities),
        credentials=credentials,
        namespace=namespace,
        start=start,
        end=end,
        branch_commits=frozenset(commits),
    )
