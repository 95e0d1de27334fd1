"""Reconstruction benchmark: one workspace's report in ledgers of 100k and 1M events.

Run from the repository root::

    .venv/bin/python bench/reconstruct.py                       # 100,000 and 1,000,000 events
    .venv/bin/python bench/reconstruct.py --sizes 20000         # a smoke run
    .venv/bin/python bench/reconstruct.py --stores sqlite,postgres

Each ledger holds the scenario generator's workspaces (``vestige.scenario``: agent
CloudEvents with signed task records, CloudTrail, GitHub, Vault, Jira and
Kubernetes audit, a third of them with planted gaps; one workspace per 400
events) and, for the rest, background CloudTrail traffic
(``vestige.samples.cloudtrail_records``) over the same hours, all ingested through
the real pipeline. Then, for a sample of workspaces:

- baseline: the indexed read of the entries that name the workspace
  (``workspace_id`` lookup in the catalogue, then their canonical bytes);
- reconstruct: ``build_report`` (linking to a fixpoint, an inclusion proof per
  cited entry, the rules, the collector walk) and its canonical JSON, signed.

It prints the median of each and their ratio (target: reconstruct <= 250 ms at 1M),
and the ``--all`` job's throughput in workspaces/s over every workspace. Results
also go to ``bench/results/reconstruct.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.ingest import drop, fresh_store
from ingest import IngestStore, Pipeline, Redactor
from ledger import Ledger, Store
from reconstruct import FORMATS, Catalog, build_report, default_policy, run_all
from vestige.samples import cloudtrail_records
from vestige.scenario import default_plan, generate, write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "reconstruct.json"
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # cloudtrail_records starts here too
EVENTS_PER_WORKSPACE = 400


def build(ledger: Ledger, size: int, tmp: Path) -> tuple[list[str], dict[str, float]]:
    """Fill ``ledger`` with about ``size`` events; return the workspaces and timings."""
    workspaces = max(24, size // EVENTS_PER_WORKSPACE)
    scenario = generate(workspaces, seed=5, gaps=default_plan(workspaces), start=START)
    files = write(scenario, tmp / "scenario")
    generated = sum(len(records) for records in scenario.records.values())
    noise = tmp / "noise.json"
    with noise.open("wb") as out:
        out.write(b'{"Records": [\n')
        for n, record in enumerate(cloudtrail_records(max(0, size - generated), seed=11)):
            out.write((b",\n" if n else b"") + orjson.dumps(record))
        out.write(b"\n]}\n")
    verifier = scenario.signer.verifier
    IngestStore(ledger.store).add_trust("ed25519", verifier.encode(), key_id=verifier.key_id.hex())
    pipeline = Pipeline(ledger, Redactor(b"\x00" * 32), batch_size=2000)
    started = time.perf_counter()
    for path in [*files.values(), noise]:
        pipeline.ingest_paths("auto", [path])
    ingested = time.perf_counter() - started
    started = time.perf_counter()
    catalog = Catalog.open(ledger.store)
    indexed = time.perf_counter() - started
    names = sorted(ws for ws in scenario.truth if ws)
    return names, {"entries": catalog.size, "ingest_s": ingested, "catalogue_s": indexed}


def measure(ledger: Ledger, workspaces: list[str], sample: int, out: Path) -> dict[str, Any]:
    catalog, policy = Catalog.open(ledger.store), default_policy()
    signer, fmt = ledger.keys.signer(), FORMATS["json"]
    chosen = random.Random(7).sample(workspaces, min(sample, len(workspaces)))  # noqa: S311
    baseline, full, timeline = [], [], []
    for workspace in chosen:
        started = time.perf_counter()
        seqs = catalog.lookup([("workspace_id", workspace)])[("workspace_id", workspace)]
        catalog.canonicals(seqs)
        baseline.append(time.perf_counter() - started)
        started = time.perf_counter()
        report = build_report(workspace, catalog, ledger, policy, signer)
        fmt.render([report])
        full.append(time.perf_counter() - started)
        timeline.append(len(report.timeline))
    started = time.perf_counter()
    job = run_all(ledger, out, policy, "json", signer)
    job_s = time.perf_counter() - started
    return {
        "sample": len(chosen),
        "median_events_per_timeline": statistics.median(timeline),
        "baseline_median_ms": statistics.median(baseline) * 1000,
        "reconstruct_median_ms": statistics.median(full) * 1000,
        "reconstruct_p95_ms": sorted(full)[int(0.95 * (len(full) - 1))] * 1000,
        "ratio": statistics.median(full) / statistics.median(baseline),
        "all_workspaces": job.total,
        "all_seconds": job_s,
        "all_workspaces_per_s": job.total / job_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--stores", default="sqlite")
    parser.add_argument("--sample", type=int, default=40)
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average": os.getloadavg(), "runs": []}
    for kind in args.stores.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            with tempfile.TemporaryDirectory(prefix="vestige-bench-") as tmp_name:
                tmp = Path(tmp_name)
                url, schema = fresh_store(kind, tmp, "ledger")
                try:
                    ledger = Ledger.init(Store(url), tmp / "home", "bench.vestige/reconstruct")
                    sys.stderr.write(f"{kind}: building a ledger of {size:,} events...\n")
                    workspaces, built = build(ledger, size, tmp)
                    sys.stderr.write(f"{kind}: reconstructing ({len(workspaces)} workspaces)...\n")
                    row = {"store": kind, "size": size, **built,
                           **measure(ledger, workspaces, args.sample, tmp / "reports")}  # fmt: skip
                finally:
                    drop(schema)
            results["runs"].append(row)
            print(
                f"{kind} {row['entries']:>9,} entries: one workspace "
                f"{row['reconstruct_median_ms']:.1f} ms median "
                f"(p95 {row['reconstruct_p95_ms']:.1f}, "
                f"{row['median_events_per_timeline']:.0f} events) vs baseline "
                f"{row['baseline_median_ms']:.2f} ms = {row['ratio']:.0f}x; "
                f"--all {row['all_workspaces']} workspaces in {row['all_seconds']:.1f} s = "
                f"{row['all_workspaces_per_s']:.1f}/s (target <= 250 ms at 1M)",
                flush=True,
            )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
