"""The HTTP collector under attack, in process (FastAPI's TestClient) on real stores.

Deeply nested bodies, floods of unauthenticated requests, an internal error: each
request is answered 4xx or, for an internal error, 500 only after its body is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest import CollectorTokens, Context, Frame, IngestStore, Pipeline, Redactor
from ingest.pipeline import Outcome
from ingest.rejections import RejectionBudget
from ingest.server import ServeConfig, create_app
from ledger import Ledger

SECRET = b"It's a Secret to Everybody"


def _event(n: int, extra: str = "1") -> str:
    """A valid workspace.created CloudEvent whose data carries ``extra`` (raw JSON)."""
    event = {
        "specversion": "1.0", "id": f"evt-{n}", "source": "urn:example:orchestrator",
        "type": "dev.vestige.workspace.created", "time": "2026-11-20T09:00:00Z",
        "data": {"workspace_id": f"ws-{n}", "created_by": {"kind": "service", "id": "o"},
                 "agent": {"kind": "agent", "id": "spiffe://corp.example/agent"},
                 "runtime": "k8s", "extra": "EXTRA"},
    }  # fmt: skip
    return json.dumps(event).replace('"EXTRA"', extra)


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def _client(
    ledger: Ledger, home: Path, pipeline: Pipeline | None = None, **config: Any
) -> tuple[TestClient, str]:
    token = CollectorTokens(home).add("orchestrator")
    pipeline = pipeline or Pipeline(ledger, Redactor(b"\x05" * 32))
    app = create_app(pipeline, CollectorTokens(home), ServeConfig(**config))
    return TestClient(app, raise_server_exceptions=False), token


def _quarantine(ledger: Ledger) -> list[dict[str, Any]]:
    return IngestStore(ledger.store).quarantined(limit=100_000)


@pytest.mark.parametrize("depth", [256, 600, 1021])
def test_deep_body_from_a_valid_token_is_quarantined_not_a_500(
    make_ledger: Callable[..., Ledger], tmp_path: Path, depth: int
) -> None:
    ledger = make_ledger()
    client, token = _client(ledger, tmp_path / "home")
    bearer = {"Authorization": f"Bearer {token}"}
    lone = client.post("/v1/events", content=_event(1, _nested(depth)), headers=bearer)
    # An array of events: its items' bytes are re-encoded for the quarantine.
    listed = f"[{_event(2, _nested(depth))}, {_event(3)}]"
    many = client.post("/v1/events", content=listed, headers=bearer)
    assert lone.status_code in (200, 400), lone.text
    assert many.status_code in (200, 400), many.text
    outcomes = lone.json()["results"] + many.json()["results"]
    assert len(outcomes) == 3
    appended = {o["source_event_id"] for o in outcomes if o["status"] == "appended"}
    quarantined = [o for o in outcomes if o["status"] == "quarantined"]
    assert "urn:example:orchestrator evt-3" in appended
    # Every record is either in the ledger or in the quarantine, with its reason.
    assert ledger.verify().size == len(appended)
    rows = _quarantine(ledger)
    assert len(rows) == len(quarantined) == 3 - len(appended)
    assert all("nested too deeply" in row["reason"] for row in rows)
    if depth > 1000:  # beyond what the canonical encoding takes
        assert len(quarantined) == 2


class _BrokenPipeline(Pipeline):
    """A pipeline with a bug after authentication: the last resort must keep the body."""

    def ingest_values(
        self, name: str, values: Iterable[Frame], context: Context, quarantine: bool = True
    ) -> list[Outcome]:
        raise RuntimeError("a bug")


def test_an_internal_error_quarantines_the_body_before_answering(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    broken = _BrokenPipeline(ledger, Redactor(b"\x05" * 32))
    client, token = _client(ledger, tmp_path / "home", pipeline=broken)
    body = _event(7)
    answer = client.post("/v1/events", content=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 500
    assert answer.json()["quarantined"] is True
    (row,) = _quarantine(ledger)
    assert row["reason"] == "internal error: RuntimeError: a bug"
    assert row["origin"] == "http:/v1/events"
    stored = IngestStore(ledger.store).quarantined_record(row["id"])
    assert stored is not None and json.loads(bytes(stored["raw"])) == json.loads(body)


def test_unauthenticated_rejections_are_stored_within_a_budget_then_counted(
    make_ledger: Callable[..., Ledger], tmp_path: Path
) -> None:
    ledger = make_ledger()
    client, token = _client(
        ledger, tmp_path / "home", github_secret=SECRET, max_body=200_000,
        unauth_records=3, unauth_bytes=150_000, unauth_window_seconds=3600,
    )  # fmt: skip
    big = b'{"pad": "' + b"x" * 100_000 + b'"}'
    for n in range(10):
        forged = client.post(
            "/hooks/github", content=big,
            headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": f"d-{n}",
                     "X-Hub-Signature-256": "sha256=" + "0" * 64},
        )  # fmt: skip
        assert forged.status_code == 401
    for _ in range(5):
        stranger = client.post("/v1/events", content=_event(1), headers={"Authorization": "x"})
        assert stranger.status_code == 401
    rows = _quarantine(ledger)
    # 64 KiB excerpts: two fit the 150,000 bytes; then the three records go to small bodies.
    assert sum(row["size"] for row in rows) <= 2 * 65536 + 5 * len(_event(1))
    assert len(rows) == 3
    health = client.get("/healthz").json()["unauthenticated_rejections"]
    assert health["limited"] is True
    assert health["limit"] == {"records": 3, "bytes": 150_000, "window_seconds": 3600}
    routes = health["by_route"]
    assert routes["/hooks/github"]["stored"] + routes["/v1/events"]["stored"] == 3
    assert routes["/hooks/github"]["counted_only"] + routes["/v1/events"]["counted_only"] == 12

    # An authenticated bad body is quarantined whatever the budget says.
    bad = client.post(
        "/v1/events", content=b'{"specversion": "1.0"', headers={"Authorization": f"Bearer {token}"}
    )
    assert bad.status_code == 400
    assert len(_quarantine(ledger)) == 4


def test_the_budget_opens_again_in_the_next_window() -> None:
    clock = [0.0]
    budget = RejectionBudget(records=2, bytes_=100, window_seconds=60, clock=lambda: clock[0])
    assert [budget.admit("/r", 10) for _ in range(3)] == [True, True, False]
    assert not budget.admit("/r", 1)
    assert budget.limited
    clock[0] = 60.0
    assert not budget.limited
    assert budget.admit("/r", 100) and not budget.admit("/r", 1)  # bytes bound too
    assert budget.to_json()["by_route"] == {"/r": {"stored": 3, "counted_only": 3}}


@pytest.mark.parametrize("secret", [b"", b"  \n"])
def test_a_blank_secret_is_no_configuration(secret: bytes) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        ServeConfig(github_secret=secret)
    with pytest.raises(ValueError, match="must not be empty"):
        ServeConfig(jira_secret=secret)
