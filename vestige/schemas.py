"""Generate the committed JSON Schemas from the models: ``python -m vestige.schemas``.

``tests/test_schemas.py`` fails when a committed file differs from what
this produces, so the schemas cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ingest.lifecycle import json_schemas
from ingest.model import Event
from reconstruct.model import Report

__all__ = ["SCHEMA_DIR", "generate", "render"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_BASE = "https://vestige.dev/schemas/"


def _schema(model: type[Event] | type[Report], name: str, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _BASE + name,
        **model.model_json_schema(by_alias=True, mode="serialization"),
        "title": title,
    }


def generate() -> dict[str, dict[str, Any]]:
    return {
        "event.v1.json": _schema(Event, "event.v1.json", "vestige normalized event v1"),
        "report.v1.json": _schema(Report, "report.v1.json", "vestige workspace report v1"),
        **json_schemas(),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name, schema in generate().items():
        (SCHEMA_DIR / name).write_text(render(schema))
        sys.stderr.write(f"wrote schemas/{name}\n")


if __name__ == "__main__":
    main()
