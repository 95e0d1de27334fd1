"""Redaction: secrets never stored, the same secret still correlates, nothing else touched."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.redact import Redactor, load_salt

GITHUB_PAT = "ghp_" + "A1b2C3d4E5" * 4  # 40 characters after the prefix, a fake
STS_TOKEN = "IQoJb3JpZ2luX2VjEKn//////////wEaCXVzLWVhc3QtMSJHMEUCIQD" + "x" * 60
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----"
SECRETS = [
    GITHUB_PAT,
    STS_TOKEN,
    PEM,
    "hvs.CAESIJ" + "q" * 30,
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
]


def _redactor() -> Redactor:
    return Redactor(b"\x07" * 32)


def test_secrets_are_replaced_everywhere_and_fingerprinted() -> None:
    record = {
        "responseElements": {
            "credentials": {
                "accessKeyId": "ASIAXAMPLE0000000000",
                "sessionToken": STS_TOKEN,
                "secretAccessKey": SECRETS[4],
            }
        },
        "commits": [{"message": f"oops, pushed {GITHUB_PAT} by mistake"}],
        "config": {"key": PEM, "vault": f"token={SECRETS[3]}"},
        "auth": {
            "client_token": "hmac-sha256:5b1f0c",
            "password": "HIDDEN_DUE_TO_SECURITY_REASONS",
        },
    }
    redactor = _redactor()
    text = orjson.dumps(record)
    assert redactor.needs_walk(text)
    cleaned, findings = redactor.redact(record)
    stored = orjson.dumps(cleaned).decode()
    for secret in SECRETS:
        assert secret not in stored
    assert "ASIAXAMPLE0000000000" in stored  # an access key id identifies, it is not a secret
    assert "hmac-sha256:5b1f0c" in stored  # already an HMAC
    assert "HIDDEN_DUE_TO_SECURITY_REASONS" in stored  # the source withheld it itself
    assert cleaned["commits"][0]["message"].startswith("oops, pushed [REDACTED:github-token:")
    kinds = {f.path: f.kind for f in findings}
    assert kinds == {
        "$.responseElements.credentials.sessionToken": "session-token",
        "$.responseElements.credentials.secretAccessKey": "secret-access-key",
        "$.commits[0].message": "github-token",
        "$.config.key": "private-key",
        "$.config.vault": "vault-token",
    }
    # Same secret, same fingerprint: it still correlates across events.
    again, _ = redactor.redact({"other": {"sessionToken": STS_TOKEN}})
    assert (
        again["other"]["sessionToken"] == cleaned["responseElements"]["credentials"]["sessionToken"]
    )
    # Another salt gives another fingerprint: the mark reveals nothing without it.
    other, _ = Redactor(b"\x08" * 32).redact({"sessionToken": STS_TOKEN})
    assert other["sessionToken"] != again["other"]["sessionToken"]


def test_clean_records_are_not_walked() -> None:
    record = {
        "eventName": "GetObject",
        "userIdentity": {"accessKeyId": "AKIAEXAMPLE000000000"},
        "tokenType": "bearer",
    }
    assert not _redactor().needs_walk(orjson.dumps(record))


def test_bytes_redaction_for_quarantine() -> None:
    raw = f'{{"broken": "{GITHUB_PAT}", "auth": "Bearer abcdefghijklmnopqrstu'.encode()
    cleaned = _redactor().redact_bytes(raw)
    assert GITHUB_PAT.encode() not in cleaned and b"abcdefghijklmnopqrstu" not in cleaned
    assert cleaned.startswith(b'{"broken": "[REDACTED:')


def test_salt_file_is_private_and_stable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = load_salt(home)
    assert len(first) == 32 and load_salt(home) == first
    assert stat.S_IMODE(os.stat(home / "redaction.salt").st_mode) == 0o600


@settings(max_examples=200, deadline=None)
# A bare AWS secret key has no telltale shape; it is caught by its member name only.
@given(st.sampled_from(SECRETS[:4]), st.text(max_size=40), st.text(max_size=40))
def test_an_embedded_secret_never_survives(secret: str, before: str, after: str) -> None:
    value = {"field": f"{before} {secret} {after}"}
    redactor = _redactor()
    cleaned, findings = redactor.redact(value)
    assert secret not in orjson.dumps(cleaned).decode()
    assert findings
