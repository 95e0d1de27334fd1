"""Generate the committed JSON Schemas from the models: ``python -m ingest.schemas``.

``tests/ingest/test_schemas.py`` fails when a committed file differs from what
this produces, so the schemas cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ingest.lifecycle import json_schemas
from ingest.model import Event

__all__ = ["SCHEMA_DIR", "generate", "render"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_BASE = "https://vestige.dev/schemas/"


def generate() -> dict[str, dict[str, Any]]:
    event = Event.model_json_schema(by_alias=True, mode="serialization")
    event = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _BASE + "event.v1.json",
        **event,
        "title": "vestige normalized event v1",
    }
    return {"event.v1.json": event, **json_schemas()}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name, schema in generate().items():
        (SCHEMA_DIR / name).write_text(render(schema))
        sys.stderr.write(f"wrote schemas/{name}\n")


if __name__ == "__main__":
    main()
