"""Timeline events as Apache Parquet, for analysis in pandas, DuckDB or Spark.

The same columns as the CSV, typed: ``seq`` is int64 and ``risk``, ``why`` and
``finding_codes`` stay lists of strings. No formula escaping: no spreadsheet reads it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict
from typing import ClassVar, Final

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from reconstruct.formats._shared import COLUMNS, event_records
from reconstruct.formats.interface import Format
from reconstruct.model import Report

__all__ = ["SCHEMA", "ParquetFormat"]

# Fixed, so an empty file or all-empty lists still have the right types
# (pyarrow would otherwise infer null columns).
SCHEMA: Final = pa.schema(
    [
        ("workspace", pa.string()),
        ("seq", pa.int64()),
        ("time", pa.string()),
        ("source", pa.string()),
        ("actor", pa.string()),
        ("action", pa.string()),
        ("target", pa.string()),
        ("outcome", pa.string()),
        ("risk", pa.list_(pa.string())),
        ("why", pa.list_(pa.string())),
        ("finding_codes", pa.list_(pa.string())),
        ("erased_at", pa.string()),
    ]
)


class ParquetFormat(Format):
    """Parquet: one row per event, list columns as ``list<string>``."""

    name: ClassVar[str] = "parquet"
    suffix: ClassVar[str] = ".parquet"
    media_type: ClassVar[str] = "application/vnd.apache.parquet"

    def render(self, reports: Sequence[Report]) -> bytes:
        frame = pd.DataFrame([asdict(event) for event in event_records(reports)], columns=COLUMNS)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, engine="pyarrow", index=False, schema=SCHEMA)
        return buffer.getvalue()
