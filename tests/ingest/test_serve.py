"""End to end: `vestige serve` on loopback, real HTTP deliveries, then the ledger checked."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger import Ledger, Store
from tests.ledger.test_concurrency import vestige
from tests.test_cli import ENV

SECRET = b"It's a Secret to Everybody"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _push(n: int) -> dict[str, Any]:
    """A push delivery in GitHub's published shape."""
    after = hashlib.sha1(f"commit {n}".encode()).hexdigest()  # noqa: S324  # a git object id
    return {
        "ref": f"refs/heads/agent/SEC-{40 + n}-fix",
        "before": "0" * 40,
        "after": after,
        "created": True, "deleted": False, "forced": False,
        "repository": {"id": 1296269, "name": "payments", "full_name": "corp/payments",
                       "owner": {"login": "corp", "id": 9919, "type": "Organization"}},
        "pusher": {"name": "agent-bot", "email": "agent@corp.example"},
        "sender": {"login": "agent-bot[bot]", "id": 41898282, "type": "Bot"},
        "commits": [{"id": after, "message": f"SEC-{40 + n}: fix rounding",
                     "timestamp": "2026-11-20T09:10:00Z",
                     "author": {"name": "agent", "email": "agent@corp.example"}}],
        "head_commit": {"id": after, "message": f"SEC-{40 + n}: fix rounding",
                        "timestamp": "2026-11-20T09:10:00Z"},
    }  # fmt: skip


def _cloudevent(n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": f"evt-{n}", "source": "urn:example:orchestrator/prod",
        "type": "dev.vestige.workspace.created", "time": "2026-11-20T09:00:00Z",
        "subject": f"ws-{n}", "datacontenttype": "application/json",
        "data": {"workspace_id": f"ws-{n}",
                 "created_by": {"kind": "service", "id": "urn:example:orchestrator/prod"},
                 "agent": {"kind": "agent", "id": f"spiffe://corp.example/agent/ws-{n}"},
                 "runtime": "k8s", "namespace": f"ws-{n}"},
    }  # fmt: skip


def _cli_json(home: Path, db: str, *args: str) -> Any:
    run = subprocess.run(vestige(home, db, *args), capture_output=True, check=True, env=ENV)
    return json.loads(run.stdout)


def _signed(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, str, str]]:
    home, db = tmp_path / "home", str(tmp_path / "ledger.db")
    subprocess.run(vestige(home, db, "init"), check=True, cwd=tmp_path, env=ENV)
    token = subprocess.run(
        vestige(home, db, "collectors", "add", "orchestrator"),
        check=True, cwd=tmp_path, env=ENV, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = _free_port()
    proc = subprocess.Popen(
        vestige(home, db, "serve", "--port", str(port), "--max-body-bytes", "200000"),
        cwd=tmp_path, env={**ENV, "VESTIGE_GITHUB_SECRET": SECRET.decode()},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "vestige serve did not come up"
            time.sleep(0.1)
        yield base, home, db, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_acks_only_committed_deliveries(server: tuple[str, Path, str, str]) -> None:
    base, home, db, token = server
    client = httpx.Client(base_url=base, timeout=30)

    def github(payload: object, delivery: str, signature: str | None, raw: bytes | None = None
               ) -> httpx.Response:  # fmt: skip
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                   "Content-Type": "application/json"}  # fmt: skip
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature if signature else _signed(body)
        return client.post("/hooks/github", content=body, headers=headers)

    deliveries = [str(uuid.uuid4()) for _ in range(3)]
    for n, delivery in enumerate(deliveries):
        response = github(_push(n), delivery, "")
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["status"] == "appended"
    # GitHub redelivers: acknowledged, not appended twice.
    again = github(_push(0), deliveries[0], "")
    assert (again.status_code, again.json()["results"][0]["status"]) == (200, "duplicate")

    forged = github(_push(9), str(uuid.uuid4()), "sha256=" + "0" * 64)
    unsigned = github(_push(10), str(uuid.uuid4()), None)
    assert (forged.status_code, unsigned.status_code) == (401, 401)
    broken = b'{"ref": "refs/heads/main", "commits": ['
    malformed = github(None, str(uuid.uuid4()), "", raw=broken)
    assert malformed.status_code == 400
    huge = github(None, str(uuid.uuid4()), "", raw=b'{"pad": "' + b"x" * 300_000 + b'"}')
    assert huge.status_code == 413

    bearer = {"Authorization": f"Bearer {token}"}
    single = client.post("/v1/events", json=_cloudevent(1), headers=bearer)
    batch = client.post("/v1/events", json=[_cloudevent(2), _cloudevent(3)], headers=bearer)
    assert (single.status_code, batch.status_code) == (200, 200)
    assert [r["status"] for r in batch.json()["results"]] == ["appended", "appended"]
    stranger = client.post("/v1/events", json=_cloudevent(4),
                           headers={"Authorization": "Bearer vst_not-a-token"})  # fmt: skip
    assert stranger.status_code == 401
    invalid = client.post("/v1/events", json={"specversion": "1.0", "type": "dev.vestige.nope"},
                          headers=bearer)  # fmt: skip
    assert invalid.status_code == 400

    issue = {
        "timestamp": 1763629200000,
        "webhookEvent": "jira:issue_created",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Dana"},
        "issue": {"id": "10042", "key": "SEC-41", "fields": {"summary": "Fix rounding"}},
    }
    anonymous = client.post("/hooks/jira", json=issue)
    assert anonymous.status_code == 401
    jira = client.post("/hooks/jira", json=issue, params={"token": token})
    assert jira.status_code == 200, jira.text

    ledger = Ledger(Store(db), home)
    result = ledger.verify()
    assert result.size == 3 + 3 + 1  # three pushes, three CloudEvents, one Jira issue
    events = _cli_json(home, db, "events", "--json")["events"]
    assert sorted(e["source"] for e in events) == ["agent"] * 3 + ["github"] * 3 + ["jira"]
    assert {e["source_event_id"] for e in events if e["source"] == "github"} == set(deliveries)

    rows = _cli_json(home, db, "quarantine", "list", "--json")["quarantined"]
    reasons = sorted(row["reason"].split(":")[0] for row in rows)
    # forged, unsigned, malformed, oversized, stranger, invalid, anonymous Jira
    assert len(rows) == 7, rows
    assert reasons.count("missing or bad X-Hub-Signature-256") == 2
    assert reasons.count("missing or unknown bearer token") == 1
    assert reasons.count("missing or unknown collector token") == 1
    assert reasons.count("invalid JSON") == 1
    assert any(r.startswith("body exceeds") or r.startswith("body of") for r in reasons)
