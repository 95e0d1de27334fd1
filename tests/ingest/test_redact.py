"""Redaction: secrets never stored, the same secret still correlates, nothing else touched."""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.redact import Redactor, load_salt
from ledger import canonicalize
from tests.ingest.test_secret_corpus import POSITIVES as CORPUS
from vestige.samples import cloudtrail_records

INGEST_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ingest"

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


# -- the prefilter: needs_walk must be True whenever the walk finds something -----------


# The member names the first version knew, as its pattern spelled them: each must still be
# caught, in each casing.
_SENSITIVE_MEMBERS = (
    r"secret_?access_?key|aws_?secret(?:_?key)?|session_?token|secret_?key|password|passwd"
    r"|client_?secret|private_?key|api_?key|access_?token|refresh_?token|id_?token|authorization"
)


def _name_spellings() -> list[str]:
    """Every spelling of every sensitive member name (each optional ``_`` both ways)."""
    spellings: list[str] = []
    for name in _SENSITIVE_MEMBERS.split("|"):
        for optional in ("", "_?key") if "(?:_?key)?" in name else (None,):
            base = name if optional is None else name.replace("(?:_?key)?", optional)
            parts = base.split("_?")
            spellings.extend(
                "".join(p + s for p, s in zip(parts, (*seps, ""), strict=True))
                for seps in itertools.product(("", "_"), repeat=len(parts) - 1)
            )
    return spellings


NAMES = _name_spellings()


def _casings(name: str) -> list[str]:
    camel = "".join(p[:1].upper() + p[1:] for p in name.split("_"))
    return [name, name.upper(), camel[:1].lower() + camel[1:]]


def _texts(doc: object) -> list[bytes]:
    return [orjson.dumps(doc), canonicalize(doc)]


def test_every_member_name_spelling_is_caught() -> None:
    redactor = _redactor()
    assert len(NAMES) == 29
    for name in NAMES:
        for key in _casings(name):
            doc = {"outer": {key: "s3cr3t-value", "other": 1}}
            _, findings = redactor.redact(doc)
            assert findings, key  # the walk's own detector agrees it is a member name
            for text in _texts(doc):
                assert redactor.needs_walk(text), (key, text)


SHAPES = [
    *SECRETS[:4],
    "FQoGZXIvYXdzE" + "b" * 40,
    "github_pat_" + "a1" * 12,
    "gho_" + "Z" * 36,
    "hvb." + "x" * 24,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    "Bearer abcdefghijklmnopqrstu",
    "bEaReR\tabcdefghijklmnopqrstu",
    "BEARER \t abcdefghijklmnopqrstu==",
    "aws_secret_access_key = " + SECRETS[4],
    "AWS_SECRET_ACCESS_KEY:" + SECRETS[4],
    *[text for _, text, _ in CORPUS],  # every family of the corpus, in random surroundings
]
ORDINARY_KEYS = ["eventName", "key", "tokenType", "secretId", "accessKeyId", "authorization.k8s.io"]
_keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(ORDINARY_KEYS),
    st.sampled_from([c for name in NAMES for c in _casings(name)]),
)
_strings = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda before, shape, after: before + shape + after,
        st.text(max_size=6),
        st.sampled_from(SHAPES),
        st.text(max_size=6),
    ),
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


def test_every_value_shape_is_caught() -> None:
    redactor = _redactor()
    for shape in SHAPES:
        for doc in ({"field": shape}, {"list": [f"x\n{shape}\t"]}):
            assert redactor.redact(doc)[1], shape
            for text in _texts(doc):
                assert redactor.needs_walk(text), (shape, text)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_keys, _json, max_size=5))
def test_prefilter_never_misses_what_the_walk_finds(doc: dict[str, object]) -> None:
    redactor = _redactor()
    _, findings = redactor.redact(doc)
    if findings:
        for text in _texts(doc):
            assert redactor.needs_walk(text), (findings, text)


def test_ordinary_records_are_not_walked() -> None:
    redactor = _redactor()
    records: list[object] = list(cloudtrail_records(500))
    for pattern in ("cloudtrail/*.json", "github/*.json", "k8s-audit/*.json", "okta/*.json"):
        for path in sorted(INGEST_ASSETS.glob(pattern)):
            record = orjson.loads(path.read_bytes())
            # Left out: known answers, records with a secret, and those that name a secret
            # without holding one (walked, nothing found): CreateAccessKey's "accessKey"
            # object ends like secretAccessKey, Okta's "Create API token" ends in "token".
            skip = path.name.endswith(".expected.json") or path.stem in (
                "create-access-key",
                "api-token-create",
            )
            if not skip and not redactor.redact(record)[1]:
                records.append(record)
    assert len(records) > 520
    assert [r for r in records if redactor.needs_walk(canonicalize(r))] == []


def test_review_cases_member_values_secrets_objects_and_quarantine_bytes() -> None:
    redactor = _redactor()
    doc = {
        "requestObject": {"kind": "Secret", "apiVersion": "v1",
                          "data": {"tls.key": "LS0tLS1CRUdJTg==", "empty": None},
                          "stringData": {"db-url": "postgres://u:p@db/x"}},
        "api_key": 123456789, "password": "!!##$$%%", "placeholder": {"password": "****"},
    }  # fmt: skip
    assert redactor.needs_walk(orjson.dumps(doc))
    cleaned, findings = redactor.redact(doc)
    text = orjson.dumps(cleaned).decode()
    for secret in ("LS0tLS1CRUdJTg==", "postgres://u:p@db/x", "123456789", "!!##$$%%"):
        assert secret not in text
    assert cleaned["placeholder"] == {"password": "****"}  # a placeholder is no exposure
    assert cleaned["requestObject"]["data"]["empty"] is None
    assert {f.kind for f in findings} == {"k8s-secret", "api-key", "password"}
    broken = b'{"user": "x", "Password" : "hunter2-\\"quoted\\"", "note": "' + GITHUB_PAT.encode()
    stored = redactor.redact_bytes(broken)
    assert b"hunter2" not in stored and b"quoted" not in stored
    assert GITHUB_PAT.encode() not in stored
    assert stored.startswith(b'{"user": "x", "Password" : "[REDACTED:password:')
