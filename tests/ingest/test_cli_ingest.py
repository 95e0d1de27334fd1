"""End to end through the real CLI: trust, ingest, events, quarantine show/retry."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson

from ledger import Signer, canonicalize
from tests.test_cli import Run, ok, vestige
from vestige.samples import cloudtrail_records

GITHUB_TOKEN = "ghp_" + "Zq9" * 12  # a fake, shaped like a classic PAT


def _task(signer: Signer | None, task_id: str, ticket: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": task_id, "workspace_id": f"ws-{task_id}", "ticket": ticket,
        "repo": "corp/payments", "branch": f"agent/{ticket}-fix" if ticket else None,
        "base_commit": "9c1e5f0a2b3c4d5e6f708192a3b4c5d6e7f80912",
        "agent": {"kind": "agent", "id": f"spiffe://corp.example/agent/ws-{task_id}"},
        "requested_by": {"kind": "human", "id": "dana@corp.example"},
        "intent": "Fix rounding in invoice totals",
        "scopes": [{"system": "github", "actions": ["push"], "resources": ["corp/payments"]}],
        "credential_ids": ["ASIAEXAMPLE000000001"],
        "issued_at": "2026-11-20T09:00:05Z", "expires_at": "2026-11-20T13:00:05Z",
    }  # fmt: skip
    if signer is not None:
        value = base64.b64encode(signer.sign(canonicalize(data))).decode()
        data["signature"] = {"alg": "ed25519", "key_id": signer.verifier.key_id.hex(),
                             "value": value}  # fmt: skip
    return {
        "specversion": "1.0", "id": f"evt-{task_id}", "source": "urn:example:orchestrator/prod",
        "type": "dev.vestige.task.recorded", "time": "2026-11-20T09:00:06Z",
        "subject": f"ws-{task_id}", "datacontenttype": "application/json", "data": data,
    }  # fmt: skip


def _json(run: Run) -> Any:
    return json.loads(ok(run).out)


def test_ingest_search_and_quarantine_through_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(vestige(home, "init"))
    trusted, stranger = Signer.generate("orchestrator"), Signer.generate("someone-else")
    ok(vestige(home, "trust", "add", trusted.verifier.encode()))
    assert _json(vestige(home, "trust", "list", "--json"))["trusted"][0]["value"] == (
        trusted.verifier.encode()
    )

    agent = tmp_path / "agent.jsonl"
    lines = [_task(trusted, "t1", "SEC-1"), _task(None, "t2", None), _task(stranger, "t3", "SEC-3")]
    k8s_event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                 "auditID": "0b9a3c1e-7d42-4b1f-9a55-2f6f8c1d7e90", "stage": "ResponseComplete",
                 "requestURI": "/api/v1/namespaces/ws-t1/pods", "verb": "create",
                 "user": {"username": "system:serviceaccount:agents:runner"},
                 "objectRef": {"resource": "pods", "namespace": "ws-t1", "name": "agent",
                               "apiVersion": "v1"},
                 "responseStatus": {"code": 201},
                 "requestReceivedTimestamp": "2026-11-20T09:01:00.000000Z",
                 "stageTimestamp": "2026-11-20T09:01:00.100000Z"}  # fmt: skip
    body = b"\n".join(orjson.dumps(line) for line in lines)
    body += b'\n{"specversion": "1.0", "token": "' + GITHUB_TOKEN.encode() + b'", \n'
    agent.write_bytes(body)
    trail = tmp_path / "trail.json"
    trail.write_bytes(orjson.dumps({"Records": [*cloudtrail_records(60), k8s_event]}))

    summary = _json(vestige(home, "ingest", "auto", str(agent), "--json"))
    assert (summary["appended"], summary["quarantined"]) == (3, 1)
    summary = _json(vestige(home, "ingest", "cloudtrail", str(trail), "--json"))
    assert summary["by_source"] == {
        "cloudtrail": {"read": 61, "appended": 60, "duplicates": 0, "quarantined": 1}
    }
    again = _json(vestige(home, "ingest", "auto", str(agent), "--json"))
    assert (again["appended"], again["duplicates"], again["quarantined"]) == (0, 3, 1)
    again = _json(vestige(home, "ingest", "cloudtrail", str(trail), "--json"))
    assert (again["appended"], again["duplicates"], again["quarantined"]) == (0, 60, 1)

    # The responder's search.
    tasks = _json(vestige(home, "events", "--source", "agent", "--json"))["events"]
    status = {e["keys"]["task_id"][0]: e["signature"]["status"] for e in tasks}
    assert status == {"t1": "ok", "t2": "unsigned", "t3": "failed"}
    (t1,) = _json(vestige(home, "events", "--key", "ticket=SEC-1", "--json"))["events"]
    assert t1["keys"]["branch"] == ["agent/SEC-1-fix"]
    session = "agent-SEC-1001-ws-00001"
    found = _json(vestige(home, "events", "--key", f"session_id={session}", "--json"))["events"]
    assert len(found) == 10 and {e["source"] for e in found} == {"cloudtrail"}
    window = _json(
        vestige(
            home,
            "events",
            "--source",
            "cloudtrail",
            "--since",
            "2026-11-20T09:00:02Z",
            "--until",
            "2026-11-20T09:00:04Z",
            "--json",
        )
    )
    assert [e["occurred_at"] for e in window["events"]] == [
        f"2026-11-20T09:00:0{s}.000000Z" for s in (2, 2, 2, 2, 3, 3, 3, 3)
    ]  # fmt: skip
    assert len(_json(vestige(home, "events", "--limit", "5", "--json"))["events"]) == 5
    bad = vestige(home, "events", "--key", "colour=blue")
    assert bad.code == 2 and "KIND=VALUE" in bad.err

    # Quarantine: the broken line, redacted at rest; the k8s record sent as CloudTrail.
    rows = _json(vestige(home, "quarantine", "list", "--json"))["quarantined"]
    assert [r["position"] for r in rows] == ["line 4", "line 1 Records[60]"]
    shown = _json(vestige(home, "quarantine", "show", str(rows[0]["id"]), "--json"))
    assert shown["reason"].startswith("invalid JSON")
    assert GITHUB_TOKEN not in shown["raw"] and "[REDACTED:" in shown["raw"]
    still = _json(vestige(home, "quarantine", "retry", str(rows[1]["id"]), "--json"))
    assert still["results"][0]["status"] == "still quarantined"
    fixed = _json(vestige(home, "quarantine", "retry", str(rows[1]["id"]), "--source", "auto",
                          "--json"))  # fmt: skip
    assert fixed["results"][0]["status"] == "appended"
    assert [r["id"] for r in _json(vestige(home, "quarantine", "list", "--json"))["quarantined"]] \
        == [rows[0]["id"]]  # fmt: skip
    assert len(_json(vestige(home, "quarantine", "list", "--all", "--json"))["quarantined"]) == 2
    (pod,) = _json(vestige(home, "events", "--source", "k8s-audit", "--json"))["events"]
    assert pod["action"] == "create:pods"
    stored = json.loads(ok(vestige(home, "prove", "inclusion", str(pod["seq"]), "--json")).out)
    document = json.loads(base64.b64decode(stored["canonical"]))
    assert document["attributes"]["from_quarantine"] == str(rows[1]["id"])
    assert json.loads(ok(vestige(home, "verify", "--json")).out)["size"] == 64
