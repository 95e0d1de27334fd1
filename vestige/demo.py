"""`make demo`: the ledger and the collectors end to end on the embedded SQLite store.

Runs the real CLI in subprocesses so every step shows the command a user
would type: init, append a realistic batch of agent-workspace events,
checkpoint, verify, prove one event and check the proof offline with only the
public key, then tamper with a copy of the store and show the detection; then
ingest a gzipped CloudTrail dump (twice: nothing is appended the second time),
search the events of one ticket and list the record that was quarantined.
Last, the reconstruction: twelve workspaces' trails in six real formats are
ingested, every workspace gets a verdict, a clean one is reconstructed into a
signed report that is checked offline, and a broken one into an HTML page.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vestige.samples import cloudtrail_records
from vestige.scenario import default_plan, generate, write

DEMO_DIR = Path(".vestige-demo")


def sample_events(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Events in the shapes of the sources vestige ingests, from one agent run each.

    Each workspace gets a lifecycle CloudEvent, a CloudTrail AssumeRole and a
    PutObject, a GitHub push and a Kubernetes audit event; deterministic for a seed.
    """
    rng = random.Random(seed)  # noqa: S311  # sample data, not secrets
    start = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    for n in range(count):
        ws = f"ws-{n // 5:05d}"
        at = (start + timedelta(seconds=7 * n)).isoformat().replace("+00:00", "Z")
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        kind = n % 5
        ticket = f"SEC-{100 + n // 5}"
        key_id = f"ASIA{rng.getrandbits(64):016X}"
        role_arn = "arn:aws:sts::123456789012:assumed-role/agent-builder"
        if kind == 0:
            events.append({
                "specversion": "1.0", "type": "dev.vestige.workspace.created", "id": uid,
                "source": "//orchestrator.example/agents", "subject": ws, "time": at,
                "datacontenttype": "application/json",
                "data": {"workspace_id": ws, "task_id": f"task-{n // 5}", "ticket": ticket,
                         "agent": {"spiffe_id": "spiffe://example.org/agent/builder"}},
            })  # fmt: skip
        elif kind == 1:
            events.append({
                "eventVersion": "1.08", "eventTime": at, "eventSource": "sts.amazonaws.com",
                "eventName": "AssumeRole", "awsRegion": "eu-west-1", "eventID": uid,
                "sourceIPAddress": "203.0.113.17", "userAgent": "aws-sdk-go-v2/1.30.3",
                "userIdentity": {"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"},
                "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/agent-builder",
                                      "roleSessionName": ws, "durationSeconds": 900},
                "responseElements": {"credentials": {"accessKeyId": key_id, "expiration": at}},
                "readOnly": True, "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
            })  # fmt: skip
        elif kind == 2:
            events.append({
                "eventVersion": "1.08", "eventTime": at, "eventSource": "s3.amazonaws.com",
                "eventName": "PutObject", "awsRegion": "eu-west-1", "eventID": uid,
                "userIdentity": {"type": "AssumedRole", "principalId": f"AROAEXAMPLE:{ws}",
                                 "arn": f"{role_arn}/{ws}"},
                "requestParameters": {"bucketName": "artifacts", "key": f"{ws}/dist.tar.gz"},
                "responseElements": None, "errorCode": None, "readOnly": False,
            })  # fmt: skip
        elif kind == 3:
            events.append({
                "X-GitHub-Event": "push", "X-GitHub-Delivery": uid,
                "ref": f"refs/heads/agent/{ticket}-fix", "forced": False,
                "before": f"{rng.getrandbits(160):040x}", "after": f"{rng.getrandbits(160):040x}",
                "repository": {"full_name": "example/payments", "private": True},
                "head_commit": {"message": f"{ticket}: rotate webhook secret", "timestamp": at},
                "sender": {"login": "agent-builder[bot]", "type": "Bot"},
            })  # fmt: skip
        else:
            events.append({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": uid, "stage": "ResponseComplete", "verb": "delete",
                "requestURI": f"/api/v1/namespaces/{ws}", "stageTimestamp": at,
                "user": {"username": "system:serviceaccount:agents:builder",
                         "groups": ["system:serviceaccounts"]},
                "objectRef": {"resource": "namespaces", "name": ws, "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
            })  # fmt: skip
    return events


def _run(
    *args: str, home: Path, db: Path | None = None, check: bool = True, show: bool = True
) -> str:
    command = [sys.executable, "-m", "vestige", "--home", str(home)]
    command += ["--db", str(db)] if db else []
    command += list(args)
    shown = ["vestige", *args] if db is None else ["vestige", "--db", str(db), *args]
    print(f"\n$ {' '.join(shown)}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if show:
        print((done.stdout + done.stderr).rstrip())
    if check and done.returncode != 0:
        raise SystemExit(f"demo step failed with exit code {done.returncode}")
    return done.stdout


def main() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    home = DEMO_DIR / "home"
    DEMO_DIR.mkdir()
    events_file = DEMO_DIR / "events.jsonl"
    events = sample_events(1_000)
    events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    print(f"vestige demo in {DEMO_DIR}/ — {len(events)} events from 200 agent workspaces "
          "(lifecycle CloudEvents, CloudTrail, GitHub pushes, Kubernetes audit)")  # fmt: skip

    key = _run("init", "--origin", "demo.vestige.dev/ledger", home=home).strip()
    _run("append", str(events_file), "--json", home=home)
    _run("append", str(events_file), "--json", home=home)  # a rerun appends nothing
    _run("checkpoint", home=home)
    _run("verify", "--json", home=home)

    proof_file = DEMO_DIR / "proof-42.json"
    proof = _run("prove", "inclusion", "42", "--json", home=home, show=False)
    proof_file.write_text(proof)
    fields = json.loads(proof)
    print(f"(wrote {proof_file}: entry {fields['leaf_index']} of {fields['tree_size']}, "
          f"{len(fields['proof'])} hashes of proof and the signed checkpoint)")  # fmt: skip
    _run("verify-proof", str(proof_file), "--key", key, home=home)

    # An administrator edits one stored event in a copy of the store.
    copy = DEMO_DIR / "tampered.db"
    with sqlite3.connect(home / "ledger.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as db:
        db.execute("DROP TRIGGER ledger_entry_no_update")
        row = db.execute("SELECT canonical FROM ledger_entry WHERE seq = 612").fetchone()
        forged = bytes(row[0]).replace(b"PutObject", b"GetObject")
        if forged == bytes(row[0]):
            raise SystemExit("demo data changed: entry 612 is no longer a PutObject")
        db.execute("UPDATE ledger_entry SET canonical = ? WHERE seq = 612", (forged,))
    print("\n# tampered: entry 612 in a copy of the store now says GetObject, not PutObject")
    _run("verify", "--json", home=home, db=copy, check=False)
    print("\nThe original still verifies; the copy is caught at entry 612.")
    _ingest_walkthrough()
    _reconstruction_walkthrough()
    print(f"\nFiles are in {DEMO_DIR}/.")


def _ingest_walkthrough() -> None:
    """Collectors: real formats in, normalized events out, bad records quarantined."""
    home = DEMO_DIR / "collector-home"
    trail = DEMO_DIR / "cloudtrail.json.gz"
    records = list(cloudtrail_records(5_000))
    records[1234]["eventTime"] = "yesterday"  # one broken record: quarantined, not lost
    with gzip.open(trail, "wb") as out:
        out.write(json.dumps({"Records": records}).encode())
    print(f"\n# ingest: {len(records)} CloudTrail records as S3 delivers them ({trail.name})")
    _run("init", "--origin", "demo.vestige.dev/collector", home=home, show=False)
    _run("ingest", "cloudtrail", str(trail), "--json", home=home)
    _run("ingest", "auto", str(trail), "--json", home=home)  # a rerun appends nothing
    _run("events", "--key", "ticket=SEC-1042", "--limit", "5", home=home)
    _run("quarantine", "list", home=home)
    _run("verify", "--json", home=home)


def _reconstruction_walkthrough() -> None:
    """Workspaces that vanished: rebuilt from six sources, judged, reported with proof."""
    home = DEMO_DIR / "forensics-home"
    scenario = generate(12, seed=4, gaps=default_plan(12))
    inputs = DEMO_DIR / "workspaces"
    write(scenario, inputs)
    clean = next(ws for ws, codes in sorted(scenario.truth.items()) if ws and not codes)
    broken = max((ws for ws in scenario.truth if ws), key=lambda ws: len(scenario.truth[ws]))
    print(
        f"\n# reconstruction: 12 agent workspaces, created and destroyed; their trail is spread "
        f"over {', '.join(sorted(scenario.records))} ({inputs}/). Gaps were planted in "
        f"{sum(1 for ws, c in scenario.truth.items() if ws and c)} of them."
    )
    key = _run("init", "--origin", "demo.vestige.dev/forensics", home=home, show=False).strip()
    _run("trust", "add", scenario.signer.verifier.encode(), home=home)  # the orchestrator's key
    _run("ingest", "auto", str(inputs), "--json", home=home)
    _run("verify", "--json", home=home)
    _run("workspaces", home=home)
    report = DEMO_DIR / f"{clean}.json"
    _run("reconstruct", "--workspace", clean, "--sign", "--out", str(report), "--json", home=home)
    print(f"(planted in {clean}: nothing)")
    _run("verify-report", str(report), "--key", key, home=home)
    page = DEMO_DIR / f"{broken}.html"
    _run("reconstruct", "--workspace", broken, "--format", "html", "--out", str(page), "--json",
         home=home, check=False)  # fmt: skip
    print(f"(planted in {broken}: {', '.join(sorted(scenario.truth[broken]))})")
    _run("gaps", "--unattributed", home=home, check=False)
    print(f"\nThe auditor's page for {broken}: open {page.resolve()} in a browser.")


if __name__ == "__main__":
    main()
