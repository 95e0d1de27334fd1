"""``reconstruct --all`` as a job: one report per workspace and an index, resumable.

Lifecycle: find the unfinished job for the output directory, or start one pinned to
the current signed checkpoint -> for each workspace not yet recorded: write its
report (to a temporary name, then renamed), record it -> write the index, mark the
job done. A job killed anywhere resumes where it stopped, against the same
checkpoint, so all its reports agree on one ledger state.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from ingest.storage import now
from ledger import Ledger, Signer, VestigeError, canonicalize
from reconstruct.catalog import Catalog
from reconstruct.correlate import TooManyLinks
from reconstruct.formats import FORMATS
from reconstruct.model import code_counts
from reconstruct.policy import Policy
from reconstruct.report import build_report
from reconstruct.tables import TABLES, JobItemRow, JobRow

__all__ = ["JobSummary", "report_name", "run_all", "JobStore"]

_J = JobRow.__table__  # type: ignore[attr-defined]
_I = JobItemRow.__table__  # type: ignore[attr-defined]
_SAFE = re.compile(r"[a-z0-9][a-z0-9._-]{0,80}")
_RESERVED = frozenset({"index"})


def report_name(workspace: str, suffix: str) -> str:
    """A file name for a workspace's report. Workspace ids come from input: one that is not
    plainly safe (lower case, no path, not the index's name, so no two ids can collide even
    on a case-insensitive file system) gets a digest-based name instead."""
    if _SAFE.fullmatch(workspace) and ".." not in workspace and workspace not in _RESERVED:
        return workspace + suffix
    digest = hashlib.sha256(workspace.encode()).hexdigest()[:16]
    return f"ws-{digest}{suffix}"


class JobStore:
    """Job rows, over the ledger's store (SQLAlchemy Core; every value is bound)."""

    def __init__(self, ledger: Ledger) -> None:
        self.store = ledger.store
        self.engine = ledger.store.engine
        self.store.create_side_tables(TABLES, "vestige_jobs")

    def unfinished(self, out_dir: str) -> dict[str, Any] | None:
        query = sa.select(_J).where(_J.c.out_dir == out_dir, _J.c.status == "running")
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(_J.c.id.desc())).first()
        return None if row is None else dict(row._mapping)

    def start(self, out_dir: str, parameters: dict[str, Any], size: int, note: str) -> int:
        values = {
            "out_dir": out_dir,
            "parameters": orjson.dumps(parameters).decode(),
            "tree_size": size,
            "checkpoint": note,
            "status": "running",
            "started_at": now(),
        }
        with self.store.transaction() as conn:
            return int(conn.execute(sa.insert(_J).values(values).returning(_J.c.id)).scalar_one())

    def done_items(self, job_id: int) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_I).where(_I.c.job_id == job_id))
            return {row.workspace: dict(row._mapping) for row in rows}

    def record(self, item: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(sa.insert(_I).values(item))

    def finish(self, job_id: int, total: int, counts: dict[str, Any]) -> None:
        values = {
            "status": "done",
            "total": total,
            "counts": orjson.dumps(counts).decode(),
            "finished_at": now(),
        }
        with self.store.transaction() as conn:
            conn.execute(sa.update(_J).where(_J.c.id == job_id).values(values))

    def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_J).order_by(_J.c.id.desc()).limit(limit))
            return [dict(row._mapping) for row in rows]

    def items(self, job_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_I).where(_I.c.job_id == job_id).order_by(_I.c.workspace))
            return [dict(row._mapping) for row in rows]


@dataclass(frozen=True)
class JobSummary:
    job_id: int
    resumed: bool
    tree_size: int
    total: int
    written: int  # reports written by this run (the rest were done before it)
    recreatable: int
    findings: dict[str, int]
    index: Path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a new file beside ``path`` (never through a planted link), then rename it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_all(
    ledger: Ledger,
    out_dir: Path,
    policy: Policy,
    format_name: str = "json",
    signer: Signer | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> JobSummary:
    """Reconstruct every workspace into ``out_dir``, resuming an unfinished job there."""
    fmt = FORMATS[format_name]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VestigeError(f"cannot use {out_dir} as the output directory: {exc}") from None
    jobs = JobStore(ledger)
    key = str(out_dir.resolve())
    parameters = {"format": format_name, "sign": signer is not None, "policy": policy.to_json()}
    job = jobs.unfinished(key)
    if job is not None and orjson.loads(job["parameters"]) != parameters:
        raise VestigeError(
            f"an unfinished job (#{job['id']}) in {out_dir} used other options: rerun it with "
            "the same format, --sign and policy, or choose another --out"
        )
    catalog = Catalog.open(ledger.store)
    if job is None:
        if catalog.size == 0:
            raise VestigeError("the ledger has no checkpoint yet: nothing to reconstruct")
        note = ledger.prove_inclusion(0, catalog.size).checkpoint
        job_id = jobs.start(key, parameters, catalog.size, note)
    else:
        job_id = int(job["id"])
        catalog = Catalog(ledger.store, int(job["tree_size"]))
    done: dict[str, dict[str, Any]] = jobs.done_items(job_id)
    workspaces = catalog.workspaces()
    written = 0
    for position, workspace in enumerate(workspaces, 1):
        if workspace not in done:
            item = {"job_id": job_id, "workspace": workspace, "done_at": now()}
            try:
                report = build_report(workspace, catalog, ledger, policy, signer)
            except TooManyLinks as exc:  # recorded, and the job goes on
                item |= {"recreatable": False, "findings": "{}", "path": "", "error": str(exc)}
            else:
                name = report_name(workspace, fmt.suffix)
                try:
                    _write_atomically(out_dir / name, fmt.render([report]))
                except OSError as exc:
                    raise VestigeError(f"cannot write {out_dir / name}: {exc}") from None
                severities = [f.severity for f in report.findings]
                item |= {
                    "recreatable": report.verdict.recreatable,
                    "findings": orjson.dumps(code_counts(report.findings)).decode(),
                    "worst": max(severities, key=lambda s: s.rank).value if severities else None,
                    "path": name,
                }
            jobs.record(item)
            done[workspace] = item
            written += 1
        if progress is not None:
            progress(position, len(workspaces))

    findings: Counter[str] = Counter()
    for item in done.values():
        findings.update(orjson.loads(str(item["findings"])))
    recreatable = sum(1 for item in done.values() if item["recreatable"])
    index = {
        "job": job_id,
        "tree_size": catalog.size,
        "workspaces": [
            {
                "workspace": ws,
                "recreatable": bool(done[ws]["recreatable"]),
                "worst": done[ws].get("worst"),
                "findings": orjson.loads(done[ws]["findings"]),
                "report": done[ws]["path"] or None,
                "error": done[ws].get("error"),
            }
            for ws in workspaces
        ],
        "recreatable": recreatable,
        "findings": dict(sorted(findings.items())),
    }
    index_path = out_dir / "index.json"
    _write_atomically(index_path, canonicalize(index) + b"\n")
    counts = {
        "workspaces": len(workspaces),
        "recreatable": recreatable,
        "findings": index["findings"],
    }
    jobs.finish(job_id, len(workspaces), counts)
    return JobSummary(
        job_id=job_id,
        resumed=job is not None,
        tree_size=catalog.size,
        total=len(workspaces),
        written=written,
        recreatable=recreatable,
        findings=dict(sorted(findings.items())),
        index=index_path,
    )
