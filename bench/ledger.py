"""Ledger benchmark: append, verify, inclusion proofs and canonicalization.

Run from the repository root::

    .venv/bin/python bench/ledger.py                     # 100k and 1M, SQLite and PostgreSQL
    .venv/bin/python bench/ledger.py --quick             # 10k only: a smoke run
    .venv/bin/python bench/ledger.py --sizes 100000 --stores sqlite --profile

For each size N and store it measures, on N deterministic ~600-byte events
shaped like CloudTrail records, GitHub webhook deliveries and Kubernetes audit
events:

1. the append rate of ``Ledger.append`` fed ``Record.of(event)`` objects
   (canonicalization, hashing, tree nodes and signed checkpoints included;
   default batch size; each event is parsed from its JSON text right before
   ``Record.of``, as in an ingest pipeline, and that parse is timed apart and
   left out: see :class:`Corpus`), against a raw insert of the same entry rows (read back
   from the ledger's store, untimed, so they follow its schema) into a fresh
   store (``Store(url).create()``: same table, same unique index) through the
   same driver method (``Writer.insert_entries``: executemany on SQLite, COPY
   on PostgreSQL), one ``Store.writer()`` transaction per batch of the same size;
2. the rate of a full ``Ledger.verify()``, against a plain read of the rows
   it streams;
3. the median time of ``Ledger.prove_inclusion`` for random entries, against
   ``pymerkle.SqliteTree.prove_inclusion`` on a tree of the same leaves (the
   canonical bytes) built in the same run;

and once per run the canonicalization rate of the fast path
(``ledger.canonical.canonicalize``) against the reference ``rfc8785.dumps``.

Each comparison alternates the two sides (append and raw insert in rounds of
whole batches; proofs in blocks of 100; canonicalization in chunks), so load from
other processes hits both alike; the load average is recorded. Before each
timed phase: a garbage collection, ``os.sync()``, and on PostgreSQL a
``CHECKPOINT``. The prepared events are ``gc.freeze()``-d so the collector does
not rescan them during the timings.

Tables go to stdout, progress to stderr, and everything to
``bench/results/ledger.json``. PostgreSQL is ``VESTIGE_TEST_PG`` (default
postgresql://127.0.0.1:5432/test); each store gets a fresh schema, dropped
afterwards. SQLite stores live in a temporary folder, removed afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python bench/ledger.py` puts bench/ first on sys.path, where this very file
# would shadow the `ledger` package: look in the repository root first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import cProfile
import gc
import hashlib
import io
import json
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import Any

import orjson
import psycopg
import rfc8785
from pymerkle import SqliteTree

from ledger import DEFAULT_BATCH, Ledger, Record, Store, canonicalize, merkle
from ledger import canonical as canonical_module
from ledger import store as store_module
from ledger.tables import EntryRow

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ledger.json"
PG_URL = os.environ.get("VESTIGE_TEST_PG", "postgresql://127.0.0.1:5432/test")
ORIGIN = "bench.vestige/ledger"

APPEND_TARGET = 0.75  # ledger append rate / raw insert rate
VERIFY_TARGET = 200_000.0  # entries/s of a full verify, on SQLite
PROOF_TARGET = 20.0  # pymerkle median / ledger median, at N = 1,000,000
PROOF_TARGET_SIZE = 1_000_000
CANON_TARGET = 20.0  # fast path rate / rfc8785 rate
PROOF_BLOCK = 100  # proofs per alternation of ledger and pymerkle
CANON_BLOCK = 64  # events parsed at a time for the canonicalization comparison
CANON_REPEATS = 3  # passes over the events; each side keeps its best

Event = dict[str, Any]

_T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:8.1f}s] {message}", file=sys.stderr, flush=True)


# -- realistic events ---------------------------------------------------------

_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
_ACCOUNTS = ("123456789012", "210987654321", "555566667777", "998877665544")
_ROLES = ("ci-deployer", "agent-runner", "data-pipeline", "break-glass-admin", "readonly-audit")
_USER_AGENTS = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0",
    "Boto3/1.34.69 Python/3.11.8 Botocore/1.34.69",
    "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1",
    "console.amazonaws.com",
)
_LOGINS = ("octocat", "hubot", "mona", "dependabot[bot]", "renovate[bot]", "josé-dev", "zoë-ops")
_REPOS = ("vestige", "infra-live", "agent-sandbox", "billing-api", "web-console", "mlops-jobs")
_BRANCHES = ("main", "develop", "release/2024.03", "fix/retry-backoff", "feat/audit-export")
_TITLES = (
    "Bump actions/checkout from 3 to 4",
    "Fix race in checkpoint writer",
    "Add retry with jitter to S3 uploader",
    "Déploiement: corriger la rotation des clés",
    "Refactor audit exporter to stream rows",
    "更新依赖并修复测试",
)
_K8S_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
_K8S_RESOURCES = (
    ("pods", "", "v1"),
    ("secrets", "", "v1"),
    ("configmaps", "", "v1"),
    ("deployments", "apps", "v1"),
    ("jobs", "batch", "v1"),
    ("rolebindings", "rbac.authorization.k8s.io", "v1"),
)
_NAMESPACES = ("default", "kube-system", "agents", "monitoring", "payments", "ci")
_K8S_USERS = (
    ("system:serviceaccount:agents:runner", ["system:serviceaccounts", "system:authenticated"]),
    ("system:kube-controller-manager", ["system:authenticated"]),
    ("alice@example.com", ["oidc:platform-admins", "system:authenticated"]),
)

_EPOCH = datetime(2024, 3, 1, tzinfo=UTC)


class EventGenerator:
    """Deterministic, unique events: CloudTrail, GitHub webhook and Kubernetes audit shapes.

    The i-th event depends only on the seed and i, so a smaller run sees a
    prefix of a larger run's events.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.count = 0

    def _hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _ip(self) -> str:
        r = self.rng
        first = r.choice((10, 172, 52, 34, 203))
        return f"{first}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def _time(self) -> tuple[datetime, str]:
        # ~40 ms apart on average, millisecond precision, UTC with a Z.
        when = _EPOCH + timedelta(milliseconds=self.count * 40 + self.rng.randrange(40))
        return when, when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

    def next(self) -> Event:
        kind = self.count % 3
        event = self._cloudtrail() if kind == 0 else self._github() if kind == 1 else self._k8s()
        self.count += 1
        return event

    def _cloudtrail(self) -> Event:
        r = self.rng
        account = r.choice(_ACCOUNTS)
        region = r.choice(_REGIONS)
        role = r.choice(_ROLES)
        session = f"agent-{self._hex(8)}"
        _, at = self._time()
        service, name, read_only, params = self._cloudtrail_call(account, region)
        failed = r.random() < 0.05
        return {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
                "accountId": account,
                "mfaAuthenticated": r.random() < 0.1,
            },
            "eventTime": at[:19] + "Z",
            "eventSource": service,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": self._ip(),
            "userAgent": r.choice(_USER_AGENTS),
            "errorCode": "AccessDenied" if failed else None,
            "requestParameters": params,
            "responseElements": None,
            "requestID": self._hex(16).upper(),
            "eventID": self._uuid(),
            "readOnly": read_only,
        }

    def _cloudtrail_call(self, account: str, region: str) -> tuple[str, str, bool, Event]:
        r = self.rng
        pick = r.randrange(5)
        if pick == 0:
            bucket = f"{r.choice(_REPOS)}-artifacts-{account[-4:]}"
            key = f"builds/{self._hex(12)}/bundle.tar.gz"
            name = r.choice(("GetObject", "PutObject"))
            params: Event = {"bucketName": bucket, "key": key}
            return "s3.amazonaws.com", name, name == "GetObject", params
        if pick == 1:
            role = f"arn:aws:iam::{account}:role/{r.choice(_ROLES)}"
            params = {
                "roleArn": role,
                "roleSessionName": f"s-{self._hex(6)}",
                "durationSeconds": 3600,
            }
            return "sts.amazonaws.com", "AssumeRole", False, params
        if pick == 2:
            key = f"arn:aws:kms:{region}:{account}:key/{self._uuid()}"
            params = {"keyId": key, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
            return "kms.amazonaws.com", "Decrypt", True, params
        if pick == 3:
            fn = f"arn:aws:lambda:{region}:{account}:function:{r.choice(_REPOS)}-handler"
            params = {"functionName": fn, "invocationType": "Event", "qualifier": None}
            return "lambda.amazonaws.com", "Invoke", False, params
        instance = f"i-0{self._hex(16)}"
        params = {"instancesSet": {"items": [{"instanceId": instance}]}, "force": False}
        return "ec2.amazonaws.com", "StopInstances", False, params

    def _github(self) -> Event:
        r = self.rng
        org = r.choice(("acme-corp", "vestige-dev", "agentworks"))
        repo = r.choice(_REPOS)
        login = r.choice(_LOGINS)
        when, at = self._time()
        merged = r.random() < 0.3
        return {
            "action": r.choice(("opened", "synchronize", "closed", "reopened")),
            "number": r.randrange(1, 20_000),
            "pull_request": {
                "id": r.randrange(10**9, 2 * 10**9),
                "title": r.choice(_TITLES),
                "state": "closed" if merged else "open",
                "draft": r.random() < 0.2,
                "merged": merged,
                "merged_at": at[:19] + "Z" if merged else None,
                "head": {"ref": r.choice(_BRANCHES), "sha": self._hex(40)},
                "additions": r.randrange(2000),
                "deletions": r.randrange(800),
            },
            "repository": {
                "id": r.randrange(10**8, 8 * 10**8),
                "full_name": f"{org}/{repo}",
                "private": r.random() < 0.7,
                "default_branch": "main",
            },
            "sender": {"login": login, "id": r.randrange(10**6, 10**8), "type": "User"},
            "installation": {"id": r.randrange(10**7, 6 * 10**7)},
            "delivery": self._uuid(),
            "hook_id": r.randrange(10**8, 5 * 10**8),
            "received_at": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def _k8s(self) -> Event:
        r = self.rng
        resource, group, version = r.choice(_K8S_RESOURCES)
        namespace = r.choice(_NAMESPACES)
        verb = r.choice(_K8S_VERBS)
        name = f"{r.choice(_REPOS)}-{self._hex(10)}"
        username, groups = r.choice(_K8S_USERS)
        when, at = self._time()
        stage_at = (when + timedelta(microseconds=r.randrange(200, 90_000))).isoformat(
            timespec="microseconds"
        )
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        code = 200 if r.random() < 0.93 else 403
        decision = "allow" if code == 200 else "forbid"
        return {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "auditID": self._uuid(),
            "requestURI": f"{prefix}/namespaces/{namespace}/{resource}/{name}",
            "verb": verb,
            "user": {"username": username, "groups": groups},
            "sourceIPs": [self._ip()],
            "userAgent": "kubectl/v1.29.2 (linux/amd64)",
            "objectRef": {
                "resource": resource,
                "namespace": namespace,
                "name": name,
                "apiGroup": group or None,
            },
            "responseStatus": {"metadata": {}, "code": code, "reason": decision},
            "requestReceivedTimestamp": at[:-1] + "000Z",
            "stageTimestamp": stage_at.replace("+00:00", "Z"),
        }


# -- the prepared data set ----------------------------------------------------


@dataclass
class Corpus:
    """The events as JSON text (their keys in arrival order, not sorted) and canonical bytes.

    Events are kept as text and parsed right before use, as an ingest pipeline
    does: a million prepared dicts would be read cold from memory, and on this
    kind of machine that alone makes orjson several times slower (1.1 us per
    event while the event is in cache, 7-8 us once the working set exceeds a
    few hundred events), which would charge the ledger for an artifact of the
    benchmark.
    """

    lines: list[bytes]
    canonical: list[bytes]  # the leaves of the pymerkle tree


def prepare(n: int, seed: int) -> Corpus:
    """The events and their canonical bytes (computed here, untimed, for the baselines)."""
    log(f"generating {n:,} events (seed {seed})")
    gen = EventGenerator(seed)
    lines: list[bytes] = []
    canonical: list[bytes] = []
    for _ in range(n):
        event = gen.next()
        lines.append(orjson.dumps(event))
        canonical.append(canonicalize(event))
    if len({hashlib.sha256(data).digest() for data in canonical}) != n:
        raise SystemExit("the event generator produced duplicate events")
    return Corpus(lines, canonical)


class ParsedRecords:
    """``Record.of(event)`` for each JSON line, parsed just before; parsing is timed apart.

    ``parse_seconds`` accumulates the time spent in ``orjson.loads`` so the
    caller can take it out of the append time: the ledger is charged for
    ``Record.of`` onward, on an event that is in cache as it would be in use.
    """

    def __init__(self, lines: Sequence[bytes]) -> None:
        self.lines = lines
        self.parse_seconds = 0.0

    def __iter__(self) -> Iterator[Record]:
        loads = orjson.loads
        clock = time.perf_counter
        of = Record.of
        parse = 0.0
        try:
            for line in self.lines:
                start = clock()
                event = loads(line)
                parse += clock() - start
                yield of(event)
        finally:
            self.parse_seconds += parse


# -- stores -------------------------------------------------------------------


def pg_server_version() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return None if row is None else str(row[0])
    except psycopg.Error as exc:
        raise SystemExit(
            f"PostgreSQL at {PG_URL} is not reachable ({str(exc).strip().splitlines()[0]}); "
            "start a server, set VESTIGE_TEST_PG, or pass --stores sqlite"
        ) from None


@dataclass
class Place:
    """Where one store lives: a SQLite file or a PostgreSQL schema."""

    kind: str
    url: str
    schema: str | None = None


@contextlib.contextmanager
def place(kind: str, folder: Path, name: str) -> Iterator[Place]:
    """A fresh, empty location for a store; removed afterwards."""
    if kind == "sqlite":
        yield Place(kind, str(folder / f"{name}.db"))
        return
    schema = f"vbench_{name}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield Place(kind, f"{PG_URL}{separator}options=-csearch_path%3D{schema}", schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


LOADS: list[float] = []  # 1-minute load average at the start of each timed phase


def settle(kind: str) -> None:
    """Start each timed phase from the same state: collected, written back, PG checkpointed."""
    gc.collect()
    os.sync()  # the previous phase's dirty pages must not be written back during this one
    LOADS.append(os.getloadavg()[0])
    if kind == "postgres":
        try:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute("CHECKPOINT")
        except psycopg.Error as exc:  # needs superuser or pg_checkpoint; only a nicety
            log(f"CHECKPOINT refused ({exc}); continuing")


# -- measurements ---------------------------------------------------------------


@dataclass
class AppendResultRow:
    store: str
    size: int
    batch_size: int
    ledger_seconds: float  # Ledger.append, input parsing (orjson.loads) taken out
    ledger_rate: float
    parse_seconds_excluded: float
    raw_seconds: float
    raw_rate: float
    ratio: float
    target: float
    passed: bool
    root: str


@dataclass
class VerifyResultRow:
    store: str
    size: int
    seconds: float
    rate: float
    raw_read_seconds: float
    raw_read_rate: float
    ratio_to_raw_read: float
    target: float | None
    passed: bool | None


@dataclass
class ProofResultRow:
    store: str
    size: int
    proofs: int
    ledger_median_ms: float
    ledger_p95_ms: float
    ledger_first_ms: float
    pymerkle_median_ms: float
    pymerkle_p95_ms: float
    pymerkle_first_ms: float
    pymerkle_build_seconds: float
    speedup: float
    target: float
    passed: bool
    target_applies: bool
    roots_agree: bool


@dataclass
class CanonResult:
    events: int
    mean_bytes: float
    fast_seconds: float
    fast_rate: float
    reference_seconds: float
    reference_rate: float
    speedup: float
    target: float
    passed: bool
    identical: bool
    fast_path_fallbacks: int | None  # events the fast path hands to the reference
    fast_passes_seconds: list[float] = field(default_factory=list)
    reference_passes_seconds: list[float] = field(default_factory=list)


@dataclass
class Results:
    meta: dict[str, object]
    corpus: dict[str, object] = field(default_factory=dict)
    canonicalization: CanonResult | None = None
    append: list[AppendResultRow] = field(default_factory=list)
    verify: list[VerifyResultRow] = field(default_factory=list)
    proofs: list[ProofResultRow] = field(default_factory=list)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def written_rows(store: Store, lo: int, hi: int) -> list[tuple[Any, ...]]:
    """Entry rows [lo, hi) as stored, column for column as ``Writer.insert_entries`` takes them."""
    conn = store.engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute(
            f"SELECT {store_module._ENTRY_COLUMNS} FROM {EntryRow.__tablename__} "
            f"WHERE seq >= {int(lo)} AND seq < {int(hi)} ORDER BY seq"
        )
        return [tuple(row) for row in cur.fetchall()]
    finally:
        conn.close()


def make_ledger(url: str, home: Path) -> Ledger:
    return Ledger.init(Store(url), home, ORIGIN)


def chunk_size(n: int) -> int:
    """Entries per alternation of ledger and baseline: ~20 rounds, whole default batches."""
    return max(DEFAULT_BATCH, n // 20 // DEFAULT_BATCH * DEFAULT_BATCH)


def append_and_raw_insert(
    ledger: Ledger, raw: Store, lines: list[bytes], kind: str
) -> tuple[float, float, float, bytes]:
    """Seconds of Ledger.append, of parsing its input, and of the raw insert; the final root.

    The append time excludes the parsing of the JSON lines (see
    :class:`ParsedRecords`). Ledger and raw insert alternate in rounds of whole
    default batches, so both stores grow alike and load from elsewhere on the
    machine hits both alike. Each raw round inserts the rows the ledger has
    just written, read back untimed.
    """
    n = len(lines)
    step = chunk_size(n)
    ledger_seconds = parse_seconds = raw_seconds = 0.0
    root = b""
    for first in range(0, n, step):
        part = lines[first : first + step]
        records = ParsedRecords(part)
        settle(kind)
        start = time.perf_counter()
        result = ledger.append(records)
        ledger_seconds += time.perf_counter() - start - records.parse_seconds
        parse_seconds += records.parse_seconds
        assert result.appended == len(part) and result.size == first + len(part), result
        root = result.root

        rows = written_rows(ledger.store, first, first + len(part))
        assert len(rows) == len(part), "the ledger's rows could not be read back"
        settle(kind)
        start = time.perf_counter()
        for lo in range(0, len(rows), DEFAULT_BATCH):
            with raw.writer() as w:
                w.insert_entries(rows[lo : lo + DEFAULT_BATCH])
        raw_seconds += time.perf_counter() - start
        done = first + len(part)
        log(
            f"  {done:,}/{n:,}: ledger {done / ledger_seconds:,.0f}/s, "
            f"raw insert {done / raw_seconds:,.0f}/s"
        )
    with raw.reader() as r:
        assert r.size() == n, "the raw insert lost rows"
    return ledger_seconds, parse_seconds, raw_seconds, root


def profile_append(url: str, home: Path, lines: list[bytes], label: str) -> None:
    """Append once more, into a fresh store, under cProfile; print the top functions.

    The profile includes the parsing of the input (orjson.loads) that the
    timed append leaves out.
    """
    ledger = make_ledger(url, home)
    try:
        gc.collect()
        profiler = cProfile.Profile()
        profiler.enable()
        ledger.append(ParsedRecords(lines))
        profiler.disable()
    finally:
        ledger.store.engine.dispose()
    out = RESULTS.parent / f"append-{label}.prof"
    out.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(out))
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(25)
        log(f"cProfile of the append ({label}), by {order} (saved to {out}):\n{text.getvalue()}")


def timed_read(store: Store) -> float:
    """Seconds to read every row a verify streams, doing nothing with them."""
    start = time.perf_counter()
    with store.reader() as r:
        deque(r.stream_entries(), maxlen=0)
        stream_nodes = getattr(r, "stream_nodes", None)  # only while nodes had their own table
        if stream_nodes is not None:
            deque(stream_nodes(), maxlen=0)
        r.checkpoints()
    return time.perf_counter() - start


def timed_verify(ledger: Ledger, n: int, root: bytes, kind: str) -> tuple[float, float]:
    """Seconds of Ledger.verify() and of plainly reading the rows it streams (read, verify,
    read: the read time is the mean of the two)."""
    settle(kind)
    read_seconds = timed_read(ledger.store)
    settle(kind)
    start = time.perf_counter()
    result = ledger.verify()
    verify_seconds = time.perf_counter() - start
    assert result.size == n and result.root == root, "verify disagrees with append"
    settle(kind)
    read_seconds = (read_seconds + timed_read(ledger.store)) / 2
    return verify_seconds, read_seconds


@contextlib.contextmanager
def pymerkle_tree(folder: Path, canonical: list[bytes]) -> Iterator[tuple[Any, float, bytes]]:
    """pymerkle's SqliteTree of the same leaves (the canonical bytes): tree, build time, root."""
    n = len(canonical)
    path = folder / "pymerkle.db"
    log(f"building pymerkle SqliteTree of {n:,} leaves")
    start = time.perf_counter()
    tree = SqliteTree(str(path))
    tree.append_entries(canonical)
    build = time.perf_counter() - start
    try:
        assert tree.get_size() == n
        root = bytes(tree.get_root(n))
        log(f"  built in {build:.1f}s")
        yield tree, build, root
    finally:
        tree.close()
        path.unlink()


def timed_proofs(
    ledger: Ledger, tree: Any, n: int, seqs: list[int], root: bytes
) -> tuple[list[float], list[float]]:
    """Seconds of each Ledger.prove_inclusion and pymerkle prove_inclusion.

    The two alternate in blocks of 100 proofs: alternating every proof slows
    the faster side by up to 2x here (each evicts the other's caches), while
    blocks still spread outside load over both. pymerkle's subroot cache
    starts empty for each store, as for a fresh tree object, and fills in the
    same order of entries. Every ledger proof is then checked against ``root``.
    """
    tree.cache_clear()
    ours: list[float] = []
    theirs: list[float] = []
    proofs = []
    for first in range(0, len(seqs), PROOF_BLOCK):
        block = seqs[first : first + PROOF_BLOCK]
        for seq in block:
            start = time.perf_counter()
            proofs.append(ledger.prove_inclusion(seq, n))
            ours.append(time.perf_counter() - start)
        for seq in block:
            start = time.perf_counter()
            tree.prove_inclusion(seq + 1, n)  # pymerkle counts leaves from one
            theirs.append(time.perf_counter() - start)
    for seq, proof in zip(seqs, proofs, strict=True):
        ok = merkle.verify_inclusion(seq, n, proof.leaf_hash, proof.proof, root)
        assert ok, f"the ledger's inclusion proof for {seq} does not verify"
    return ours, theirs


def bench_canonicalization(lines: list[bytes]) -> CanonResult:
    """Fast path and reference on the same events, parsed (untimed) in blocks of 64.

    A block (~64 events, ~130 kB of objects) is still in cache after parsing,
    as an event being ingested is. The fast path runs first on each block; the
    reference second (pure Python, it depends less on the cache, and any
    advantage from running second goes to the baseline). Each side's time is
    the best of CANON_REPEATS passes: the fast path's varies up to 2x from
    pass to pass on a shared VM, the reference's much less.
    """
    log(f"canonicalization: fast path vs rfc8785.dumps on {len(lines):,} events")
    dumps = rfc8785.dumps
    fast: list[bytes] = []
    reference: list[bytes] = []
    fast_passes: list[float] = []
    reference_passes: list[float] = []
    fast_only = getattr(canonical_module, "_fast", None)
    fallbacks: int | None = None if fast_only is None else 0
    for repeat in range(CANON_REPEATS):
        fast, reference = [], []
        fast_seconds = reference_seconds = 0.0
        gc.collect()
        for first in range(0, len(lines), CANON_BLOCK):
            events = [orjson.loads(line) for line in lines[first : first + CANON_BLOCK]]
            start = time.perf_counter()
            fast += [canonicalize(event) for event in events]
            middle = time.perf_counter()
            reference += [dumps(event) for event in events]
            end = time.perf_counter()
            fast_seconds += middle - start
            reference_seconds += end - middle
            if repeat == 0 and fast_only is not None and fallbacks is not None:
                fallbacks += sum(fast_only(event) is None for event in events)
        fast_passes.append(fast_seconds)
        reference_passes.append(reference_seconds)
        log(
            f"  pass {repeat + 1}: fast {len(lines) / fast_seconds:,.0f}/s, "
            f"rfc8785 {len(lines) / reference_seconds:,.0f}/s"
        )
    fast_seconds, reference_seconds = min(fast_passes), min(reference_passes)
    identical = all(a == bytes(b) for a, b in zip(fast, reference, strict=True))
    events_count = len(lines)
    fast_rate = events_count / fast_seconds
    reference_rate = events_count / reference_seconds
    speedup = fast_rate / reference_rate
    return CanonResult(
        events=events_count,
        mean_bytes=sum(map(len, fast)) / len(fast),
        fast_seconds=fast_seconds,
        fast_rate=fast_rate,
        reference_seconds=reference_seconds,
        reference_rate=reference_rate,
        speedup=speedup,
        target=CANON_TARGET,
        passed=speedup >= CANON_TARGET and identical,
        identical=identical,
        fast_path_fallbacks=fallbacks,
        fast_passes_seconds=fast_passes,
        reference_passes_seconds=reference_passes,
    )


def bench_store(
    kind: str,
    corpus: Corpus,
    n: int,
    seqs: list[int],
    tree: tuple[Any, float, bytes] | None,
    results: Results,
    profile: bool,
) -> None:
    lines = corpus.lines[:n]
    folder = Path(tempfile.mkdtemp(prefix=f"vestige-bench-{kind}-"))
    try:
        with place(kind, folder, "ledger") as where, place(kind, folder, "raw") as raw_place:
            ledger = make_ledger(where.url, folder / "home")
            raw = Store(raw_place.url)
            raw.create()
            try:
                log(f"[{kind} N={n:,}] Ledger.append vs raw insert, in rounds of {chunk_size(n):,}")
                append_seconds, parse_seconds, raw_seconds, root = append_and_raw_insert(
                    ledger, raw, lines, kind
                )
                ratio = raw_seconds / append_seconds
                log(f"  ledger {append_seconds:.2f}s, raw {raw_seconds:.2f}s, ratio {ratio:.2f}")
                results.append.append(
                    AppendResultRow(
                        store=kind,
                        size=n,
                        batch_size=DEFAULT_BATCH,
                        ledger_seconds=append_seconds,
                        ledger_rate=n / append_seconds,
                        parse_seconds_excluded=parse_seconds,
                        raw_seconds=raw_seconds,
                        raw_rate=n / raw_seconds,
                        ratio=ratio,
                        target=APPEND_TARGET,
                        passed=ratio >= APPEND_TARGET,
                        root=root.hex(),
                    )
                )
            finally:
                raw.engine.dispose()
            try:
                log(f"[{kind} N={n:,}] Ledger.verify()")
                verify_seconds, read_seconds = timed_verify(ledger, n, root, kind)
                log(f"  verify: {verify_seconds:.2f}s ({n / verify_seconds:,.0f}/s)")
                verify_target = VERIFY_TARGET if kind == "sqlite" else None
                rate = n / verify_seconds
                results.verify.append(
                    VerifyResultRow(
                        store=kind,
                        size=n,
                        seconds=verify_seconds,
                        rate=rate,
                        raw_read_seconds=read_seconds,
                        raw_read_rate=n / read_seconds,
                        ratio_to_raw_read=read_seconds / verify_seconds,
                        target=verify_target,
                        passed=None if verify_target is None else rate >= verify_target,
                    )
                )

                if seqs and tree is not None:
                    pym, build_seconds, pym_root = tree
                    log(f"[{kind} N={n:,}] {len(seqs):,} inclusion proofs, ledger and pymerkle")
                    settle(kind)
                    times, pym_times = timed_proofs(ledger, pym, n, seqs, root)
                    median_ms = statistics.median(times) * 1e3
                    pym_median_ms = statistics.median(pym_times) * 1e3
                    speedup = pym_median_ms / median_ms
                    log(
                        f"  median: ledger {median_ms:.3f} ms, pymerkle {pym_median_ms:.3f} ms "
                        f"({speedup:.1f}x)"
                    )
                    results.proofs.append(
                        ProofResultRow(
                            store=kind,
                            size=n,
                            proofs=len(seqs),
                            ledger_median_ms=median_ms,
                            ledger_p95_ms=p95(times) * 1e3,
                            ledger_first_ms=times[0] * 1e3,
                            pymerkle_median_ms=pym_median_ms,
                            pymerkle_p95_ms=p95(pym_times) * 1e3,
                            pymerkle_first_ms=pym_times[0] * 1e3,
                            pymerkle_build_seconds=build_seconds,
                            speedup=speedup,
                            target=PROOF_TARGET,
                            passed=speedup >= PROOF_TARGET,
                            target_applies=n >= PROOF_TARGET_SIZE,
                            roots_agree=pym_root == root,
                        )
                    )
            finally:
                ledger.store.engine.dispose()
        if profile:
            with place(kind, folder, "profile") as where:
                profile_append(where.url, folder / "profile-home", lines, f"{kind}-{n}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- report -----------------------------------------------------------------------


def verdict(passed: bool | None, applies: bool = True) -> str:
    if passed is None:
        return "n/a"
    word = "PASS" if passed else "MISS"
    return word if applies else f"({word})"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def report(results: Results) -> None:
    meta = results.meta
    print(
        f"vestige ledger benchmark - {meta['started']} - Python {meta['python']}, "
        f"SQLite {meta['sqlite']}, PostgreSQL {meta['postgres'] or '-'}, "
        f"{meta['cpus']} CPUs, batch {DEFAULT_BATCH:,}"
    )
    loads = meta["load_average_at_phase_starts"]
    if isinstance(loads, list) and loads:
        print(
            f"1-minute load average at the timed phases' starts: min {min(loads):.2f}, "
            f"max {max(loads):.2f} (this benchmark counts for about 1; more means other load)"
        )
    corpus = results.corpus
    print(
        f"events: {corpus['events']:,} ({corpus['mix']}), canonical bytes "
        f"mean {corpus['mean_bytes']:.0f}, min {corpus['min_bytes']}, max {corpus['max_bytes']}"
    )
    if results.append:
        print_table(
            "(1) Append rate: Ledger.append(Record.of(event)) vs raw insert of the same rows "
            f"(target ratio >= {APPEND_TARGET}; parsing the input JSON not counted)",
            ["store", "N", "ledger s", "ledger entries/s", "raw s", "raw entries/s", "ratio",
             "target", "result"],
            [
                [a.store, f"{a.size:,}", f"{a.ledger_seconds:.2f}", f"{a.ledger_rate:,.0f}",
                 f"{a.raw_seconds:.2f}", f"{a.raw_rate:,.0f}", f"{a.ratio:.2f}",
                 f">= {a.target}", verdict(a.passed)]
                for a in results.append
            ],
        )  # fmt: skip
    if results.verify:
        print_table(
            "(2) Full verify rate: Ledger.verify() vs a plain read of the rows it streams "
            f"(target >= {VERIFY_TARGET:,.0f} entries/s on SQLite)",
            ["store", "N", "verify s", "verify entries/s", "read s", "read entries/s",
             "ratio", "target", "result"],
            [
                [v.store, f"{v.size:,}", f"{v.seconds:.2f}", f"{v.rate:,.0f}",
                 f"{v.raw_read_seconds:.2f}", f"{v.raw_read_rate:,.0f}",
                 f"{v.ratio_to_raw_read:.2f}",
                 "-" if v.target is None else f">= {v.target:,.0f}/s", verdict(v.passed)]
                for v in results.verify
            ],
        )  # fmt: skip
    if results.proofs:
        print_table(
            "(3) Inclusion proof time: Ledger.prove_inclusion vs pymerkle SqliteTree, same "
            f"random entries (target >= {PROOF_TARGET:.0f}x faster at N = "
            f"{PROOF_TARGET_SIZE:,}; parenthesized results are informative)",
            ["store", "N", "proofs", "ledger median", "ledger p95", "pymerkle median",
             "pymerkle p95", "speedup", "target", "result"],
            [
                [p.store, f"{p.size:,}", f"{p.proofs:,}", f"{p.ledger_median_ms:.3f} ms",
                 f"{p.ledger_p95_ms:.3f} ms", f"{p.pymerkle_median_ms:.3f} ms",
                 f"{p.pymerkle_p95_ms:.3f} ms", f"{p.speedup:.1f}x",
                 f">= {p.target:.0f}x", verdict(p.passed, p.target_applies)]
                for p in results.proofs
            ],
        )  # fmt: skip
        print(
            "    first proof (cold): "
            + "; ".join(
                f"{p.store} N={p.size:,}: ledger {p.ledger_first_ms:.2f} ms, "
                f"pymerkle {p.pymerkle_first_ms:.1f} ms"
                for p in results.proofs
            )
        )
        print(
            "    pymerkle roots equal the ledger's: "
            + ", ".join(f"{p.store} N={p.size:,}: {p.roots_agree}" for p in results.proofs)
        )
    c = results.canonicalization
    if c is not None:
        fallbacks = "?" if c.fast_path_fallbacks is None else f"{c.fast_path_fallbacks:,}"
        print_table(
            "(4) Canonicalization rate: fast path (canonicalize) vs rfc8785.dumps, same events, "
            f"best of {CANON_REPEATS} passes (target >= {CANON_TARGET:.0f}x)",
            ["events", "mean bytes", "fast events/s", "rfc8785 events/s", "speedup",
             "identical", "fallbacks", "target", "result"],
            [[f"{c.events:,}", f"{c.mean_bytes:.0f}", f"{c.fast_rate:,.0f}",
              f"{c.reference_rate:,.0f}", f"{c.speedup:.1f}x", "yes" if c.identical else "NO",
              fallbacks, f">= {c.target:.0f}x", verdict(c.passed)]],
        )  # fmt: skip


def write_json(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = asdict(results)
    document["targets"] = {
        "append_ratio": APPEND_TARGET,
        "verify_entries_per_second_sqlite": VERIFY_TARGET,
        "proof_speedup_vs_pymerkle": PROOF_TARGET,
        "proof_target_size": PROOF_TARGET_SIZE,
        "canonicalization_speedup": CANON_TARGET,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


# -- main ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the vestige ledger (append, verify, proofs, canonicalization)."
    )
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated entry counts (default: 100000,1000000)",
    )
    parser.add_argument(
        "--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    parser.add_argument(
        "--proofs", type=int, default=1000, help="random inclusion proofs per store and size"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: N = 10,000 only")
    parser.add_argument("--seed", type=int, default=20240301, help="seed of the event generator")
    parser.add_argument(
        "--canon-events",
        type=int,
        default=100_000,
        help="events for the canonicalization comparison (default 100,000, at most max N)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run each append once more under cProfile (untimed) and print its top "
        "functions to stderr",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    try:
        args.size_list = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes takes comma-separated integers, not {args.sizes!r}")
    if any(n < 1 for n in args.size_list):
        parser.error("sizes must be positive")
    args.store_list = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(args.store_list) - {"sqlite", "postgres"}
    if unknown or not args.store_list:
        parser.error(f"--stores takes sqlite and/or postgres, not {args.stores!r}")
    if args.proofs < 0:
        parser.error("--proofs must be >= 0")
    return args


def git(*args: str) -> str | None:
    """Output of a git command in the repository, or None."""
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes: list[int] = args.size_list
    stores: list[str] = args.store_list
    pg_version = pg_server_version() if "postgres" in stores else None

    results = Results(
        meta={
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average_at_start": os.getloadavg()[0],
            "argv": sys.argv,
            "sizes": sizes,
            "stores": stores,
            "proofs": args.proofs,
            "seed": args.seed,
            "batch_size": DEFAULT_BATCH,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "sqlite": sqlite3.sqlite_version,
            "postgres": pg_version,
            "postgres_url": PG_URL if pg_version else None,
            "packages": {
                name: metadata.version(name)
                for name in ("pymerkle", "orjson", "rfc8785", "psycopg", "sqlalchemy")
            },
            "git_commit": git("rev-parse", "HEAD"),
            # The library measured is the working tree: list its uncommitted changes.
            "git_uncommitted": (git("status", "--porcelain", "--", "ledger") or "").splitlines(),
            "git_diff_sha256": hashlib.sha256(
                (git("diff", "HEAD", "--", "ledger") or "").encode()
            ).hexdigest(),
        }
    )

    corpus = prepare(max(sizes), args.seed)
    lengths = [len(data) for data in corpus.canonical]
    results.corpus = {
        "events": len(lengths),
        "mix": "1/3 CloudTrail, 1/3 GitHub pull_request webhook, 1/3 Kubernetes audit",
        "mean_bytes": sum(lengths) / len(lengths),
        "min_bytes": min(lengths),
        "max_bytes": max(lengths),
        "seed": args.seed,
    }
    # Everything prepared lives to the end: keep the collector from rescanning it.
    gc.collect()
    gc.freeze()

    results.canonicalization = bench_canonicalization(
        corpus.lines[: max(1, min(args.canon_events, len(corpus.lines)))]
    )
    log(f"  speedup {results.canonicalization.speedup:.1f}x")

    for n in sorted(sizes):
        rng = random.Random(args.seed + n)
        seqs = [rng.randrange(n) for _ in range(args.proofs)]
        folder = Path(tempfile.mkdtemp(prefix="vestige-bench-pymerkle-"))
        try:
            with contextlib.ExitStack() as stack:
                tree = None
                if seqs:
                    tree = stack.enter_context(pymerkle_tree(folder, corpus.canonical[:n]))
                for kind in stores:
                    bench_store(kind, corpus, n, seqs, tree, results, args.profile)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        write_json(results, args.output)  # partial results survive a later failure

    results.meta["load_average_at_phase_starts"] = [round(load, 2) for load in LOADS]
    write_json(results, args.output)
    log(f"results written to {args.output}")
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
