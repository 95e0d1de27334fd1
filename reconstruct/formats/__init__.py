"""Report formats: one interface (:class:`Format`), one module per format.

``FORMATS`` maps each format's name (what ``--format`` takes) to an instance.
"""

from __future__ import annotations

from typing import Final

from reconstruct.formats.canonical_json import JsonFormat
from reconstruct.formats.csv_table import CsvFormat
from reconstruct.formats.html_page import HtmlFormat
from reconstruct.formats.interface import Format
from reconstruct.formats.markdown import MarkdownFormat
from reconstruct.formats.parquet_table import ParquetFormat
from reconstruct.formats.timesketch import TimesketchFormat

__all__ = [
    "FORMATS",
    "CsvFormat",
    "Format",
    "HtmlFormat",
    "JsonFormat",
    "MarkdownFormat",
    "ParquetFormat",
    "TimesketchFormat",
]

FORMATS: Final[dict[str, Format]] = {
    fmt.name: fmt
    for fmt in (
        JsonFormat(),
        MarkdownFormat(),
        HtmlFormat(),
        CsvFormat(),
        ParquetFormat(),
        TimesketchFormat(),
    )
}
