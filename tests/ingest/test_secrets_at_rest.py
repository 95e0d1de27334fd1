"""No planted secret reaches the store, from any source, appended or quarantined.

A real-format record of each source (the fixtures under tests/assets/ingest/) carries the
five leaks of issue 9 and goes through the real pipeline: appended; quarantined as
invalid JSON (a truncated file); quarantined as a record its source rejects; and a
rejected delivery with credential headers and a reason echoing a token. Then every row of
every table of the store (ledger entries, quarantine, catalogue) is read back and searched
for the secrets' bytes, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from ingest import Context, IngestStore, Pipeline, Redactor
from ingest.framing import Frame
from ledger import Ledger
from tests.ingest.test_secret_corpus import B64, gen, pem

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest"
# One real-format record per source, and the headers its delivery comes with.
FIXTURES: dict[str, tuple[str, dict[str, str]]] = {
    "cloudtrail": ("cloudtrail/create-access-key.json", {}),
    "github": ("github/pull_request.opened.payload.json", {"x-github-event": "pull_request",
                                                           "x-github-delivery": "d-1"}),
    "github-audit": ("github-audit/stream.jsonl", {}),
    "k8s-audit": ("k8s-audit/create-pod-workspace-label.json", {}),
    "vault": ("vault/audit.jsonl", {}),
    "gcp-audit": ("gcp-audit/impersonated-object-get.json", {}),
    "jira": ("jira/comment_created.json", {}),
    "okta": ("okta/session-start.json", {}),
    "agent": ("agent/lifecycle.jsonl", {}),
}  # fmt: skip


def _record(source: str) -> dict[str, Any]:
    text = (ASSETS / FIXTURES[source][0]).read_text()
    if FIXTURES[source][0].endswith(".jsonl"):
        text = text.splitlines()[0]
    record: dict[str, Any] = orjson.loads(text)
    return record


class Planted:
    """The secrets of one test, and where they go in a record."""

    def __init__(self) -> None:
        self.member = gen(40, B64)  # under AWS_SECRET_ACCESS_KEY
        self.env = gen(40, B64)  # a Kubernetes env name/value pair
        self.comment = gen(40, B64)  # aws_secret_access_key: "..." in free text
        self.key_token = "ghp_" + gen(36)  # a token used as an object key
        self.pem, self.pem_line = pem("RSA PRIVATE KEY", end=False)  # no END line
        self.header_token = "ghs_" + gen(36)
        self.bearer = gen(40)

    @property
    def all(self) -> list[str]:
        return [self.member, self.env, self.comment, self.key_token, self.pem_line,
                self.header_token, self.bearer]  # fmt: skip

    def into(self, record: dict[str, Any]) -> dict[str, Any]:
        planted = {
            "AWS_SECRET_ACCESS_KEY": self.member,
            "env": [{"name": "LOG_LEVEL", "value": "debug"},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": self.env}],
            "note": f'creds, do not share:\naws_secret_access_key: "{self.comment}"',
            self.key_token: "seen as a key",
            "key_material": self.pem,
        }  # fmt: skip
        record = {**record, "vestige_test": planted}
        # And where each source's own text is: request parameters, a comment's body.
        if "requestParameters" in record:
            record["requestParameters"] = {**(record["requestParameters"] or {}), **planted}
        if isinstance(record.get("comment"), dict):
            record["comment"] = {**record["comment"], "body": planted["note"]}
        return record


def _store_bytes(ledger: Ledger) -> list[bytes]:
    """Every value of every row of every table of the store, as bytes."""
    found: list[bytes] = []
    engine = ledger.store.engine
    with engine.connect() as conn:
        for name in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')):  # noqa: S608  # reflected names
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        found.append(bytes(value))
                    elif value is not None:
                        found.append(str(value).encode())
    return found


@pytest.mark.parametrize("source", sorted(FIXTURES))
def test_no_planted_secret_is_stored(
    source: str, make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    pipeline = Pipeline(ledger, Redactor(b"\x0c" * 32))
    planted = Planted()
    record = planted.into(_record(source))
    headers = FIXTURES[source][1]
    context = Context(origin="test", headers=headers, trust=pipeline.trust)

    # Appended: the record is valid for its source.
    (appended,) = pipeline.ingest_values(source, [Frame("item 0", record)], context)
    assert appended.status == "appended", appended

    # Quarantined as invalid JSON: the same record cut short, read from a file.
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(orjson.dumps(record)[:-2] + b"\n")
    summary = pipeline.ingest_paths(source, [broken])
    assert summary.total.quarantined == 1

    # Quarantined as a record its source rejects (not a record of that format at all).
    rejected = planted.into({"unrelated": True})
    (outcome,) = pipeline.ingest_values(source, [Frame("item 0", rejected)], context)
    assert outcome.status == "quarantined"

    # A rejected delivery: credential headers, and a reason that echoes a token.
    pipeline.quarantine_only(
        source, "http:/test", planted.header_token, f"bad signature near {planted.header_token}",
        orjson.dumps(record)[:100],
        {**headers, "authorization": f"Bearer {planted.bearer}",
         "x-hub-signature-256": "sha256=" + gen(64, "0123456789abcdef"),
         "ce-token": planted.header_token},
    )  # fmt: skip

    stored = _store_bytes(ledger)
    quarantined = IngestStore(ledger.store).quarantined()
    assert len(quarantined) == 3 and ledger.verify().size == 1
    assert any(b"[REDACTED:" in value for value in stored)
    for secret in planted.all:
        leaks = [value[:200] for value in stored if secret.encode() in value]
        assert leaks == [], (source, secret)
    # Correlation keys survive: the event's own identifiers are still there.
    event = orjson.loads(next(v for v in stored if v.startswith(b'{"') and b'"raw"' in v))
    assert event["attributes"]["secrets"] and "secret_exposed" in event["risk"]
