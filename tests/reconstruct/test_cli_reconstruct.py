"""The reconstruction commands through the real CLI, on events appended to a SQLite ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reconstruct.events import AGENT, KEY, WS, clean, event, heartbeat
from tests.test_cli import ok, one_line_error, vestige


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ok(vestige(home, "init"))
    late = event(30, "cloudtrail", "s3:GetObject", 25, target="arn:aws:s3:::ws-artifacts/ws-1/a",
                 actor={"kind": "agent", "id": "x", "credential_id": "ASIABROKEN0000000001",
                        "spiffe_id": "spiffe://corp.example/agent/ws-2"},
                 keys={"credential_id": ["ASIABROKEN0000000001"]})  # fmt: skip
    broken = [
        event(40, "agent", "workspace.created", 0, target="ws-2", keys={"workspace_id": ["ws-2"]},
              attributes={"workspace_id": "ws-2", "created_by": {"kind": "human", "id": "d"},
                          "agent": {"kind": "agent", "id": "spiffe://corp.example/agent/ws-2"}}),
        late,
    ]  # fmt: skip
    rogue = event(50, "cloudtrail", "s3:ListBuckets", 3, actor={"kind": "agent", "id": "rogue"})
    lines = b"".join(
        json.dumps(dict(e.doc)).encode() + b"\n" for e in clean() + heartbeat() + broken + [rogue]
    )
    ok(vestige(home, "append", "-", stdin=lines))
    return home


def _key(home: Path) -> str:
    return ok(vestige(home, "keys", "show")).out.split()[0]


def test_workspaces_lists_verdicts(home: Path) -> None:
    rows = ok(vestige(home, "workspaces", "--json")).json()
    assert [(r["workspace"], r["recreatable"]) for r in rows] == [(WS, True), ("ws-2", False)]
    assert rows[1]["findings"]["NO_TASK_RECORD"] == 1
    assert rows[0]["ticket"] == "SEC-1" and rows[0]["events"] == 7


def test_reconstruct_signs_and_verify_report_checks_offline(home: Path, tmp_path: Path) -> None:
    report = tmp_path / "ws-1.json"
    ok(vestige(home, "reconstruct", "--workspace", WS, "--sign", "--out", str(report)))
    key = _key(home)
    # Offline: another directory, no home, no database.
    elsewhere = tmp_path / "auditor" / "home"
    elsewhere.parent.mkdir()
    checked = ok(vestige(elsewhere, "verify-report", str(report), "--key", key, "--json")).json()
    assert checked == {
        "ok": True, "workspace": WS, "entries": checked["entries"],
        "tree_size": checked["tree_size"], "recreatable": True, "findings": [],
    }  # fmt: skip
    assert not (elsewhere / "ledger.db").exists()

    data = bytearray(report.read_bytes())
    data[len(data) // 2] ^= 0x20
    report.write_bytes(bytes(data))
    failed = vestige(elsewhere, "verify-report", str(report), "--key", key, "--json")
    assert failed.code == 1 and failed.json()["ok"] is False


def test_selectors_and_exit_codes(home: Path, tmp_path: Path) -> None:
    by_ticket = ok(vestige(home, "reconstruct", "--ticket", "SEC-1"))
    assert json.loads(by_ticket.out)["workspace"] == WS
    by_branch = ok(vestige(home, "reconstruct", "--branch", "corp/payments@agent/SEC-1-fix"))
    assert by_branch.out == by_ticket.out.replace(
        json.loads(by_ticket.out)["generated_at"], json.loads(by_branch.out)["generated_at"]
    )
    ok(vestige(home, "reconstruct", "--task", "task-1", "--format", "md"))
    broken = vestige(home, "reconstruct", "--workspace", "ws-2", "--format", "html",
                     "--out", str(tmp_path / "ws-2.html"))  # fmt: skip
    assert broken.code == 1  # not recreatable
    assert "NO_TASK_RECORD" in (tmp_path / "ws-2.html").read_text()
    assert "branch" in one_line_error(vestige(home, "reconstruct", "--branch", "no-at-sign"))
    assert vestige(home, "reconstruct").code == 2
    assert "no event names" in one_line_error(vestige(home, "reconstruct", "--workspace", "nope"))


def test_all_writes_reports_and_an_index(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    run = vestige(home, "reconstruct", "--all", "--out", str(out), "--sign", "--json")
    assert run.code == 1  # one workspace is not recreatable
    summary = run.json()
    assert (summary["workspaces"], summary["written"], summary["recreatable"]) == (2, 2, 1)
    index = json.loads((out / "index.json").read_text())
    assert {w["workspace"]: w["recreatable"] for w in index["workspaces"]} == {
        WS: True,
        "ws-2": False,
    }
    key = _key(home)
    for name in ("ws-1.json", "ws-2.json"):
        ok(vestige(home, "verify-report", str(out / name), "--key", key))


def test_gaps_unattributed(home: Path) -> None:
    run = vestige(home, "gaps", "--unattributed", "--json")
    assert run.code == 1
    findings = run.json()
    # The rogue identity, and ws-2's agent whose late call is linked to nothing it owns.
    assert {f["code"] for f in findings} == {"UNATTRIBUTED_ACTION"}
    assert any("rogue" in f["explanation"] for f in findings)
    assert all(AGENT not in f["explanation"] for f in findings)
    assert KEY not in run.out
