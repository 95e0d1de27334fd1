"""Collectors that turn what real systems emit into normalized events.

The HTTP collector is ``ingest.server`` (imported on demand: FastAPI is slow to load).

Stages: framing (files, deliveries) -> a ``Source`` extracts -> the pipeline
redacts secrets and appends to the ledger, or quarantines with a reason.
"""

from ingest.collectors import CollectorTokens
from ingest.framing import Frame
from ingest.interface import Context, InvalidRecord, Source, Trust
from ingest.model import Event, Extracted
from ingest.pipeline import AUTO, Outcome, Pipeline, Summary, idempotency_key
from ingest.redact import Redactor, load_salt
from ingest.sources import SOURCES, detect
from ingest.storage import IngestStore

__all__ = [
    "AUTO",
    "SOURCES",
    "CollectorTokens",
    "Context",
    "Event",
    "Extracted",
    "Frame",
    "IngestStore",
    "InvalidRecord",
    "Outcome",
    "Pipeline",
    "Redactor",
    "Source",
    "Summary",
    "Trust",
    "detect",
    "idempotency_key",
    "load_salt",
]
