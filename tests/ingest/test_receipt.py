"""Every entry records when the ledger received it and through which collector; a
collector token bound to CloudEvent sources may send only those (real stores)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from ingest import CollectorTokens, Pipeline, Redactor
from ingest.pipeline import os_user
from ingest.server import ServeConfig, create_app
from ledger import Ledger
from tests.ingest.test_serve import _cloudevent, _push
from tests.test_cli import ok, vestige

SECRET = b"It's a Secret to Everybody"
_RECEIVED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _docs(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.store.reader() as reader:
        found = reader.canonicals(range(reader.size()))
    return [orjson.loads(found[seq]) for seq in sorted(found)]


def _pipeline(ledger: Ledger) -> Pipeline:
    return Pipeline(ledger, Redactor(b"\x07" * 32))


def test_a_file_ingest_records_path_user_and_time(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    path = tmp_path / "agent.jsonl"
    path.write_bytes(b"".join(orjson.dumps(_cloudevent(n)) + b"\n" for n in range(2)))
    assert _pipeline(ledger).ingest_paths("auto", [path]).total.appended == 2

    docs = _docs(ledger)
    assert len(docs) == 2
    for doc in docs:
        receipt = doc["receipt"]
        assert receipt["collector"] == {
            "kind": "cli", "name": None, "path": str(path.absolute()), "user": os_user(),
        }  # fmt: skip
        assert _RECEIVED.fullmatch(receipt["received_at"])
        # The sender claimed 2026-11-20; the ledger received it now.
        assert receipt["received_at"] > doc["occurred_at"]
    # The receipt takes no part in dedupe: a re-ingest appends nothing.
    again = _pipeline(ledger).ingest_paths("auto", [path]).total
    assert (again.appended, again.duplicates) == (0, 2)


@pytest.fixture
def client(make_ledger: Callable[..., Ledger], tmp_path: Path) -> tuple[TestClient, Ledger, str]:
    ledger = make_ledger()
    tokens = CollectorTokens(tmp_path)
    token = tokens.add("orchestrator", ["urn:example:orchestrator/*"])
    app = create_app(_pipeline(ledger), tokens, ServeConfig(github_secret=SECRET))
    return TestClient(app), ledger, token


def test_http_deliveries_record_the_collector(client: tuple[TestClient, Ledger, str]) -> None:
    http, ledger, token = client
    ok = http.post("/v1/events", json=_cloudevent(1), headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    body = json.dumps(_push(1)).encode()
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
               "X-Hub-Signature-256": signature, "Content-Type": "application/json"}  # fmt: skip
    assert http.post("/hooks/github", content=body, headers=headers).status_code == 200

    agent, github = _docs(ledger)
    assert agent["receipt"]["collector"] == {
        "kind": "http", "name": "orchestrator", "path": None, "user": None,
    }  # fmt: skip
    assert github["receipt"]["collector"]["name"] == "github-webhook"
    assert agent["receipt"]["received_at"] <= github["receipt"]["received_at"]


def test_a_token_bound_to_sources_cannot_send_another(
    client: tuple[TestClient, Ledger, str],
) -> None:
    http, ledger, token = client
    forged = {**_cloudevent(2), "source": "urn:example:approvals/prod"}
    refused = http.post("/v1/events", json=forged, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 400
    (result,) = refused.json()["results"]
    assert result["status"] == "quarantined"
    assert "is not a source collector 'orchestrator' may send" in result["reason"]
    assert _docs(ledger) == []
    pipeline = _pipeline(ledger)
    (row,) = pipeline.store.quarantined()
    assert "urn:example:approvals/prod" in row["reason"]


def test_bindings_are_stored_and_unbound_tokens_send_anything(tmp_path: Path) -> None:
    tokens = CollectorTokens(tmp_path)
    bound = tokens.add("runtime", ["urn:a/*", "urn:b"])
    free = tokens.add("legacy")
    assert tokens.bindings() == {"legacy": None, "runtime": ["urn:a/*", "urn:b"]}
    assert tokens.collector_of(bound) == "runtime"
    assert tokens.collector_of(free) == "legacy"
    assert tokens.sources_of("runtime") == ("urn:a/*", "urn:b")
    assert tokens.sources_of("legacy") is None
    # The older file form (name -> digest) still reads, as an unbound token.
    old = {"legacy": hashlib.sha256(free.encode()).hexdigest()}
    (tmp_path / "collectors.json").write_text(json.dumps(old))
    assert (tokens.collector_of(free), tokens.sources_of("legacy")) == ("legacy", None)


def test_cli_collectors_bindings_and_the_receipt_of_a_retry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(vestige(home, "init"))
    token = ok(vestige(home, "collectors", "add", "runtime", "--source", "urn:example:rt/*"))
    assert token.out.startswith("vst_")
    ok(vestige(home, "collectors", "add", "legacy"))
    listed = json.loads(ok(vestige(home, "collectors", "list", "--json")).out)["collectors"]
    assert listed == [
        {"name": "legacy", "sources": None},
        {"name": "runtime", "sources": ["urn:example:rt/*"]},
    ]
    assert ok(vestige(home, "collectors", "list")).out.splitlines() == [
        "legacy\t*", "runtime\turn:example:rt/*",
    ]  # fmt: skip

    # A CloudEvent ingested as another source is quarantined; the retry appends it now.
    path = tmp_path / "event.json"
    path.write_bytes(orjson.dumps(_cloudevent(5)))
    assert json.loads(ok(vestige(home, "ingest", "okta", str(path), "--json")).out)["quarantined"]
    retried = json.loads(ok(vestige(home, "quarantine", "retry", "--source", "auto", "--json")).out)
    assert retried["results"][0]["status"] == "appended"
    (event,) = json.loads(ok(vestige(home, "events", "--json")).out)["events"]
    assert event["receipt"]["collector"] == {
        "kind": "retry", "name": "quarantine retry", "path": None, "user": os_user(),
    }  # fmt: skip
