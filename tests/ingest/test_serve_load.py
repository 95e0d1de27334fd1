"""Load on the real `vestige serve`: concurrent clients, the server SIGKILLed mid-load and
restarted on the same store; every acknowledged event ends up in the ledger exactly once.

Bounded in count (400 events) and in time (every request and wait has a timeout), with
no assertion on how long anything took.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.ingest.test_serve import _cli_json, _cloudevent, _free_port
from tests.ledger.test_concurrency import vestige
from tests.test_cli import ENV

pytestmark = pytest.mark.slow

CLIENTS = 6
EVENTS = 400
BATCH = 3  # events per request at most: arrays as well as single events
ATTEMPTS = 400  # per client, so a server that never comes back fails the test, not hangs it
SOURCE = "urn:example:orchestrator/prod"


def _start(home: Path, db: str, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        vestige(home, db, "serve", "--port", str(port)),
        cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    for _ in range(600):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("vestige serve did not come up")


class _Client(threading.Thread):
    """Posts its events until each is acknowledged, retrying whatever was not."""

    def __init__(self, base: str, token: str, numbers: list[int], acked: list[str]) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.pending, self.acked = base, token, numbers, acked
        self.lock = threading.Lock()
        self.errors = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for _ in range(ATTEMPTS):
                if not self.pending:
                    return
                batch = self.pending[:BATCH]
                body: Any = [_cloudevent(n) for n in batch]
                try:
                    response = client.post(
                        "/v1/events", content=orjson.dumps(body), headers=headers
                    )
                except httpx.TransportError:  # the server is down: retry later
                    self.errors += 1
                    time.sleep(0.1)
                    continue
                if response.status_code != 200:
                    self.errors += 1
                    time.sleep(0.1)
                    continue
                results = response.json()["results"]
                for n, result in zip(batch, results, strict=True):
                    if result["status"] in ("appended", "duplicate"):
                        self.pending.remove(n)
                        self.acked.append(f"{SOURCE} evt-{n}")


def test_nothing_acknowledged_is_lost_when_the_server_is_killed(
    store_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    subprocess.run(vestige(home, store_url, "init"), check=True, cwd=tmp_path, env=ENV,
                   capture_output=True, timeout=120)  # fmt: skip
    token = subprocess.run(
        vestige(home, store_url, "collectors", "add", "load"),
        check=True, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    port = _free_port()
    server = _start(home, store_url, port, tmp_path)
    acked: list[str] = []
    clients = [
        _Client(f"http://127.0.0.1:{port}", token, list(range(c, EVENTS, CLIENTS)), acked)
        for c in range(CLIENTS)
    ]
    try:
        for client in clients:
            client.start()
        for _ in range(3000):  # until a good part is in, mid-load
            if len(acked) >= EVENTS // 4 or not any(c.is_alive() for c in clients):
                break
            time.sleep(0.02)
        server.kill()  # SIGKILL: no shutdown, no flush
        server.wait(timeout=60)
        before_kill = list(acked)
        server = _start(home, store_url, port, tmp_path)
        for client in clients:
            client.join(timeout=600)
        assert not any(c.is_alive() for c in clients), "clients still retrying"
    finally:
        server.terminate()
        server.wait(timeout=60)

    assert 0 < len(before_kill) < EVENTS, "the kill came before or after the load"
    assert all(not c.pending for c in clients)
    expected = {f"{SOURCE} evt-{n}" for n in range(EVENTS)}
    assert set(acked) == expected
    events = _cli_json(home, store_url, "events", "--source", "agent", "--limit", "100000",
                       "--json")["events"]  # fmt: skip
    stored = Counter(event["source_event_id"] for event in events)
    assert set(stored) == expected
    assert set(stored.values()) == {1}  # each exactly once
    verified = _cli_json(home, store_url, "verify", "--json")
    assert verified["ok"] is True
    assert verified["size"] == EVENTS  # no entry twice in the ledger itself
