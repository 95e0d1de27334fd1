"""Ingest benchmark: CloudTrail records/s end to end, against the ledger's raw append rate.

Run from the repository root::

    .venv/bin/python bench/ingest.py                 # 200,000 records, SQLite and PostgreSQL
    .venv/bin/python bench/ingest.py --count 20000   # a smoke run
    .venv/bin/python bench/ingest.py --big-gb 1      # also peak RSS of a 1 GB dump (SQLite)

For each store, two child processes on fresh stores, one after the other:

- baseline: ``Ledger.append`` of N records prepared before the clock starts
  (the canonical bytes of each CloudTrail record, keyed by eventID), so only
  hashing, tree nodes, inserts and checkpoints are timed;
- ingest: ``Pipeline.ingest_paths("cloudtrail", [file])`` over the same N records
  in one ``{"Records": [...]}`` file: streaming parse, normalization, secret
  scan, canonicalization, append and quarantine, as ``vestige ingest`` runs it
  (which then indexes the catalogue: ``bench/reconstruct.py`` times that).

The ratio ingest rate / baseline rate is the target (>= 0.5). Peak RSS is each
child's ``ru_maxrss``. Results go to stdout and ``bench/results/ingest.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
import uuid
from typing import Any

import orjson
import psycopg

from ingest import Pipeline, Redactor
from ledger import Ledger, Record, Store, canonicalize
from vestige.samples import cloudtrail_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ingest.json"
PG_URL = os.environ.get("VESTIGE_TEST_PG", "postgresql://127.0.0.1:5432/test")


def write_dump(path: Path, count: int) -> None:
    with path.open("wb") as out:
        out.write(b'{"Records": [\n')
        for n, record in enumerate(cloudtrail_records(count, seed=11)):
            out.write((b",\n" if n else b"") + orjson.dumps(record))
        out.write(b"\n]}\n")


def child(phase: str, url: str, dump: Path, home: Path) -> dict[str, float]:
    """One timed phase in this process; returns seconds, count and peak RSS."""
    ledger = Ledger.init(Store(url), home, "bench.vestige/ingest")
    if phase == "baseline":
        from ingest.framing import frames, open_input

        with open_input(dump) as (stream, _):
            prepared = [
                Record.keyed(canonicalize(f.value), f.value["eventID"])
                for f in frames(stream)
                if f.value is not None
            ]
        started = time.perf_counter()
        count = ledger.append(prepared, batch_size=1000).appended
    else:
        pipeline = Pipeline(ledger, Redactor(b"\x00" * 32), batch_size=1000)
        started = time.perf_counter()
        count = pipeline.ingest_paths("cloudtrail", [dump]).total.appended
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "count": count, "rate": count / seconds, "peak_rss_mb": rss_mb}


def run_child(phase: str, url: str, dump: Path, home: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", phase, "--url", url, "--dump", str(dump),
         "--home", str(home)],
        capture_output=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def fresh_store(kind: str, tmp: Path, label: str) -> tuple[str, str | None]:
    if kind == "sqlite":
        return str(tmp / f"{label}.db"), None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_URL}?options=-csearch_path%3D{schema}", schema


def drop(schema: str | None) -> None:
    if schema is not None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--big-gb", type=float, default=0.0)
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, args.dump, args.home)))
        return

    results: dict[str, Any] = {"count": args.count, "load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="vestige-bench-") as tmp_name:
        tmp = Path(tmp_name)
        dump = tmp / "trail.json"
        write_dump(dump, args.count)
        results["dump_bytes"] = dump.stat().st_size
        rows = []
        for kind in args.stores.split(","):
            measured = {}
            for phase in ("baseline", "ingest"):
                url, schema = fresh_store(kind, tmp, f"{kind}-{phase}")
                try:
                    sys.stderr.write(f"{kind}: {phase} of {args.count:,} records...\n")
                    measured[phase] = run_child(phase, url, dump, tmp / f"home-{kind}-{phase}")
                finally:
                    drop(schema)
            ratio = measured["ingest"]["rate"] / measured["baseline"]["rate"]
            rows.append({"store": kind, **{f"{p}_{k}": v for p, m in measured.items()
                                           for k, v in m.items()}, "ratio": ratio})  # fmt: skip
        results["stores"] = rows
        if args.big_gb:
            big = tmp / "big.json"
            per_record = dump.stat().st_size / args.count
            write_dump(big, int(args.big_gb * 1e9 / per_record))
            dump.unlink()
            sys.stderr.write(f"peak RSS of a {big.stat().st_size / 1e9:.2f} GB dump...\n")
            url, _ = fresh_store("sqlite", tmp, "big")
            big_run = run_child("ingest", url, big, tmp / "home-big")
            results["big"] = {"bytes": big.stat().st_size, **big_run}

    print(f"CloudTrail ingest, {args.count:,} records ({results['dump_bytes'] / 1e6:.0f} MB):")
    print(f"{'store':10} {'baseline/s':>12} {'ingest/s':>10} {'ratio':>7} {'peak RSS MB':>12}")
    for row in rows:
        print(f"{row['store']:10} {row['baseline_rate']:12,.0f} {row['ingest_rate']:10,.0f} "
              f"{row['ratio']:7.2f} {row['ingest_peak_rss_mb']:12.0f}")  # fmt: skip
    if "big" in results:
        big_result = results["big"]
        assert isinstance(big_result, dict)
        print(f"{big_result['bytes'] / 1e9:.2f} GB dump: {big_result['rate']:,.0f} records/s, "
              f"peak RSS {big_result['peak_rss_mb']:.0f} MB")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
