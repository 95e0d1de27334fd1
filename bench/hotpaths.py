"""Micro-benchmark of two ingest hot paths, in microseconds per record.

Run from the repository root::

    .venv/bin/python bench/hotpaths.py              # 12,000 records, best of 5
    .venv/bin/python bench/hotpaths.py --count 2000

On ``vestige.samples.cloudtrail_records``: the CloudTrail parser's ``extract`` and the
secret prefilter ``Redactor.needs_walk`` on each record's canonical (RFC 8785) bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import time
from collections.abc import Callable

from ingest.interface import Context
from ingest.redact import Redactor
from ingest.sources import SOURCES
from ledger import canonicalize
from vestige.samples import cloudtrail_records


def per_record(run: Callable[[], object], count: int, repeat: int) -> float:
    """Best of ``repeat`` timings of ``run`` (one pass over ``count`` records), in µs/record."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    records = list(cloudtrail_records(args.count))
    texts = [canonicalize(record) for record in records]
    extract, context = SOURCES["cloudtrail"].extract, Context()
    needs_walk = Redactor(b"\x00" * 32).needs_walk
    walked = sum(map(needs_walk, texts))

    def extract_all() -> None:
        for record in records:
            extract(record, context)

    def prefilter_all() -> None:
        for text in texts:
            needs_walk(text)

    size = sum(map(len, texts)) / len(texts)
    print(f"records: {args.count}, mean canonical size {size:.0f} B, walked {walked}")
    print(f"cloudtrail extract: {per_record(extract_all, args.count, args.repeat):8.2f} µs/record")
    print(
        f"needs_walk:         {per_record(prefilter_all, args.count, args.repeat):8.2f} µs/record"
    )


if __name__ == "__main__":
    main()
