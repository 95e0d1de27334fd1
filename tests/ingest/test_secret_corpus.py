"""The secret corpus: every family of the public secret-scanning rule sets that has a
distinctive shape (gitleaks' default rules, detect-secrets' plugins: their documented
formats and test fixtures, as facts), plus secret-like names, name/value pairs and
free-text assignments. Samples are generated here so no live-looking secret is committed.

Every positive must be redacted wherever it stands (a value, an object key, inside free
text, nested; decoded or as bytes that are not JSON) and the prefilter must see it; every
negative must be kept exactly.
"""

from __future__ import annotations

import base64
import random
import string
from typing import Any

import orjson
import pytest

from ingest.redact import Redactor
from ledger import canonicalize

_RNG = random.Random(9)  # noqa: S311  # reproducible fake secrets, not keys
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"


def gen(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def pem(label: str, lines: int = 4, end: bool = True) -> tuple[str, str]:
    """A PEM block of random base64 (optionally without its END line), and one body line."""
    body = [gen(64, B64) for _ in range(lines)]
    text = f"-----BEGIN {label}-----\n" + "\n".join(body)
    if end:
        text += f"\n-----END {label}-----"
    return text, body[1]


AWS_KEY_ID = "AKIA" + gen(16, string.ascii_uppercase + string.digits)
AWS_SECRET = gen(40, B64)
PAIR_SECRET = gen(40, B64)
BEARER = gen(40, URLSAFE)
BASIC = base64.b64encode(b"deploy:" + gen(16).encode()).decode()
PASSWORD = "p@ss" + gen(12)
PUTTY_LINE = gen(64, B64)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    + gen(43, URLSAFE)
)

# (family, text as it would appear, the part that must disappear)
POSITIVES: list[tuple[str, str, str]] = [
    ("aws-session-token", (t := "IQoJb3JpZ2luX2Vj" + gen(300, B64)), t),
    ("aws-session-token-legacy", (t := "FwoGZXIvYXdzE" + gen(200, B64)), t),
    ("aws-key-pair-csv", f"{AWS_KEY_ID},{PAIR_SECRET}", PAIR_SECRET),
    ("aws-key-pair-colon", f"{AWS_KEY_ID}:{PAIR_SECRET}", PAIR_SECRET),
    *[(f"github-{p}", (t := f"{p}_" + gen(36)), t) for p in ("ghp", "gho", "ghu", "ghs", "ghr")],
    ("github-fine-grained", (t := "github_pat_" + gen(22) + "_" + gen(59)), t),
    ("gitlab-pat", (t := "glpat-" + gen(20, URLSAFE)), t),
    ("gitlab-deploy", (t := "gldt-" + gen(20, URLSAFE)), t),
    ("slack-bot", (t := f"xoxb-{gen(12, string.digits)}-{gen(13, string.digits)}-{gen(24)}"), t),
    (
        "slack-user",
        (
            t := f"xoxp-{gen(12, string.digits)}-{gen(12, string.digits)}-{gen(13, string.digits)}"
            f"-{gen(32, HEX)}"
        ),
        t,
    ),  # fmt: skip
    (
        "slack-app",
        (t := f"xapp-1-A{gen(10, string.ascii_uppercase)}-{gen(13, string.digits)}-{gen(64, HEX)}"),
        t,
    ),  # fmt: skip
    (
        "slack-webhook",
        "https://" + (t := f"hooks.slack.com/services/T{gen(8)}/B{gen(8)}/{gen(24)}"),
        t,
    ),
    ("stripe-live", (t := "sk_live_" + gen(24)), t),
    ("stripe-restricted", (t := "rk_live_" + gen(24)), t),
    ("stripe-test", (t := "sk_test_" + gen(24)), t),
    ("stripe-webhook", (t := "whsec_" + gen(32)), t),
    ("google-api-key", (t := "AIza" + gen(35, URLSAFE)), t),
    ("npm", (t := "npm_" + gen(36)), t),
    ("pypi", (t := "pypi-AgEIcHlwaS5vcmc" + gen(70, URLSAFE)), t),
    ("openai-legacy", (t := "sk-" + gen(20) + "T3BlbkFJ" + gen(20)), t),
    ("openai-project", (t := "sk-proj-" + gen(80, URLSAFE)), t),
    ("anthropic", (t := "sk-ant-api03-" + gen(93, URLSAFE) + "AA"), t),
    ("sendgrid", (t := f"SG.{gen(22, URLSAFE)}.{gen(43, URLSAFE)}"), t),
    ("twilio-api-key", (t := "SK" + gen(32, HEX)), t),
    ("twilio-account", (t := "AC" + gen(32, HEX)), t),
    ("jwt", JWT, JWT),
    ("vault-service", (t := "hvs." + gen(90, URLSAFE)), t),
    ("vault-batch", (t := "hvb." + gen(120, URLSAFE)), t),
    *[
        (f"pem-{label}", *pem(label))
        for label in (
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "DSA PRIVATE KEY",
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "PGP PRIVATE KEY BLOCK",
        )
    ],  # fmt: skip
    ("pem-truncated", *pem("RSA PRIVATE KEY", end=False)),
    ("pem-truncated-openssh", *pem("OPENSSH PRIVATE KEY", lines=2, end=False)),
    (
        "putty",
        f"PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: key\nPublic-Lines: 1\n"
        f"{gen(64, B64)}\nPrivate-Lines: 1\n{PUTTY_LINE}\nPrivate-MAC: {gen(40, HEX)}",
        PUTTY_LINE,
    ),
    ("url-basic-auth", f"https://deploy:{PASSWORD}@registry.example.com/v2/", PASSWORD),
    ("bearer-header", f"Authorization: Bearer {BEARER}", BEARER),
    ("basic-header", f"Authorization: Basic {BASIC}", BASIC),
    # Free-text assignments of secret-like names, in the forms configs and chats use.
    ("assign-env", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
    ("assign-yaml-quoted", f'aws_secret_access_key: "{(v := gen(40, B64))}"', v),
    ("assign-single-quoted", f"api_key: '{(v := gen(18))}'", v),
    ("assign-json", f'"client_secret": "{(v := gen(30))}"', v),
    ("assign-spaces", f'DB_PASSWORD = "{(v := "correct horse " + gen(8))}"', v),
    ("assign-flag", f"--password={(v := gen(14))}", v),
    ("assign-query", f"https://x.example/cb?access_token={(v := gen(30))}&state=1", v),
    ("assign-camel", f"sessionToken={(v := gen(50, B64))}", v),
    ("assign-dotted", f"spring.datasource.password={(v := gen(12))}", v),
]
POSITIVE_IDS = [family for family, _, _ in POSITIVES]


def _places(text: str) -> dict[str, Any]:
    """Every place a sample must be found: a value, a key, in free text, nested."""
    return {
        "value": {"field": text},
        "key": {text: "x", "other": 1},
        "free-text": {"comment": f"see below:\n{text} \nthanks"},
        "nested": {"a": [{"b": {"c": [text]}}]},
    }


def _redactor() -> Redactor:
    return Redactor(b"\x0b" * 32)


@pytest.mark.parametrize(("family", "text", "secret"), POSITIVES, ids=POSITIVE_IDS)
def test_every_positive_is_redacted_wherever_it_stands(family: str, text: str, secret: str) -> None:
    assert secret in text
    redactor = _redactor()
    for place, doc in _places(text).items():
        for json_text in (orjson.dumps(doc), canonicalize(doc)):
            assert redactor.needs_walk(json_text), (family, place)  # the prefilter sees it
        cleaned, findings = redactor.redact(doc)
        stored = orjson.dumps(cleaned)
        assert secret.encode() not in stored, (family, place, stored)
        assert findings, (family, place)
        # Quarantined bytes that are not JSON: the text-level detection alone.
        broken = orjson.dumps(doc)[:-1]
        assert secret.encode() not in redactor.redact_bytes(broken), (family, place)
    assert AWS_KEY_ID in orjson.dumps(redactor.redact({"f": f"{AWS_KEY_ID},x"})[0]).decode()


NEGATIVE_TEXTS = [
    "AKIAIOSFODNN7EXAMPLE",  # an access key id identifies; it is not a secret
    "ASIA" + "Q7" * 8,
    gen(40, HEX),  # a git object id
    gen(64, HEX),  # a SHA-256
    "3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6f70",
    base64.b64encode(b"hello world, nothing secret in here at all").decode(),
    "HIDDEN_DUE_TO_SECURITY_REASONS",
    "hmac-sha256:5b1f0c2d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbCdEf",
    "pk_live_" + gen(24),  # a publishable key is public
    "ghp_short",
    "https://api.github.com/repos/corp/payments/keys{/key_id}",
    "git@github.com:corp/payments.git",
    "ssh://git@github.com:22/corp/payments.git",
    "https://registry.example.com:8443/v2/",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTAN\n-----END CERTIFICATE-----",
    "The token expired yesterday; rotate the secret and the password tomorrow.",
    "eyJhbGciOiJIUzI1NiJ9",
    "task-" + gen(48),
    "tokenType Bearer",
    "password: ${DB_PASSWORD}",
    "password: ${{ secrets.DB_PASSWORD }}",
    "api_key: <your-api-key>",
    "secret: ****",
    "GetSecretValue",
]
NEGATIVE_MEMBERS: list[dict[str, Any]] = [
    {"secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"},
    {"secretId": "prod/db/password", "secretName": "default-token-9m2xw"},
    {"passwordLastUsed": "2024-01-01T00:00:00Z", "passwordResetRequired": False},
    {"tokenType": "Bearer", "keyId": "0y8wo8MtY5wrdiIFohx7sHeI5oKDpK5vQhGHI6G+pJY="},
    {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "privateKeyId": "1234abcd"},
    {"nextToken": "AAEAAWTrG1XzfC+I+cBZdv2e1Y6JxbMPL7ueqKuvIWVz", "pageToken": "abc"},
    {"kmsKeyId": "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef"},
    {"password": "HIDDEN_DUE_TO_SECURITY_REASONS", "tokenValue": "Value hidden due to "
     "security reasons.", "client_token": "hmac-sha256:5b1f0c", "secret": "********"},
    {"granular_bot_token": "True", "httpTokens": "required", "secrets": "read"},
    {"env": [{"name": "LOG_LEVEL", "value": "debug"}, {"name": "DB_HOST", "value": "db"}]},
    {"tags": [{"key": "Name", "value": "payments"}, {"Key": "team", "Value": "core"}]},
    {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
]  # fmt: skip


@pytest.mark.parametrize("text", NEGATIVE_TEXTS)
def test_every_negative_is_kept(text: str) -> None:
    redactor = _redactor()
    for doc in _places(text).values():
        cleaned, findings = redactor.redact(doc)
        assert (cleaned, findings) == (doc, []), text
        assert redactor.redact_bytes(orjson.dumps(doc)[:-1]) == orjson.dumps(doc)[:-1]


@pytest.mark.parametrize("doc", NEGATIVE_MEMBERS)
def test_members_that_hold_no_secret_are_kept(doc: dict[str, Any]) -> None:
    assert _redactor().redact(doc) == (doc, [])


# -- the five leaks of issue 9, each of which reached the ledger verbatim -------------------


def test_secret_like_names_match_in_every_spelling() -> None:
    redactor = _redactor()
    for name in ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key", "awsSecretAccessKey",
                 "AwsSecretAccessKey", "aws.secret.access.key", "DB_PASSWORD_2", "x-api-key",
                 "SLACK_BOT_TOKEN", "/prod/db/password"):  # fmt: skip
        variables = {name: AWS_SECRET}
        record = {"eventName": "UpdateFunctionConfiguration",
                  "requestParameters": {"environment": {"variables": variables}}}  # fmt: skip
        cleaned, findings = redactor.redact(record)
        assert AWS_SECRET not in orjson.dumps(cleaned).decode(), name
        assert redactor.needs_walk(canonicalize(record)), name
        assert len(findings) == 1


@pytest.mark.parametrize(
    "pair",
    [
        {"name": "AWS_SECRET_ACCESS_KEY", "value": AWS_SECRET},  # Kubernetes, ECS env
        {"ParameterKey": "DbPassword", "ParameterValue": AWS_SECRET},  # CloudFormation
        {"key": "AWS_SECRET_ACCESS_KEY", "value": AWS_SECRET, "category": "env"},  # Terraform
        {"variable": "db_password", "value": AWS_SECRET},
        {"name": "DEPLOY_TOKEN", "encrypted_value": AWS_SECRET},  # GitHub Actions secrets
        {"Name": "Authorization", "Value": f"Basic {AWS_SECRET}"},  # HAR headers
    ],
)
def test_name_value_pairs(pair: dict[str, str]) -> None:
    redactor = _redactor()
    doc = {"spec": {"containers": [{"env": [{"name": "LOG_LEVEL", "value": "debug"}, pair]}]}}
    cleaned, findings = redactor.redact(doc)
    text = orjson.dumps(cleaned).decode()
    assert AWS_SECRET not in text and "debug" in text
    assert redactor.needs_walk(canonicalize(doc))
    assert len(findings) == 1
    # The same pair pasted as text (a manifest in a comment, YAML, broken JSON).
    name = next(v for k, v in pair.items() if k.lower() in ("name", "key", "parameterkey",
                                                             "variable"))  # fmt: skip
    for text_form in (
        orjson.dumps(pair).decode(),
        f"env:\n- name: {name}\n  value: {AWS_SECRET}\n",
    ):
        if "Basic" in text_form or "encrypted_value" in text_form and "\n" in text_form:
            continue
        assert AWS_SECRET not in redactor.redact_text(text_form), text_form


def test_token_used_as_a_key_and_colliding_keys_lose_nothing() -> None:
    redactor = _redactor()
    token = "ghp_" + gen(36)
    mark = f"[REDACTED:github-token:{redactor.fingerprint(token)}]"
    doc = {token: "first", mark: "second", f"{mark}#2": "third", "plain": "fourth"}
    cleaned, findings = redactor.redact(doc)
    assert token not in orjson.dumps(cleaned).decode()
    assert sorted(cleaned.values()) == ["first", "fourth", "second", "third"]  # none lost
    assert len(cleaned) == 4 and len(findings) == 1
    assert all(token not in f.path for f in findings)  # paths never repeat the secret


def test_a_truncated_private_key_is_redacted() -> None:
    text, line = pem("RSA PRIVATE KEY", end=False)
    comment = f"here is the key:\n{text}"
    redactor = _redactor()
    cleaned, _ = redactor.redact({"body": comment})
    assert line not in cleaned["body"] and cleaned["body"].startswith("here is the key:\n[REDACTED")
    assert line.encode() not in redactor.redact_bytes(orjson.dumps({"body": comment})[:-3])


def test_quarantine_headers() -> None:
    redactor = _redactor()
    token = "ghs_" + gen(36)
    headers = {
        "authorization": f"Bearer {BEARER}",
        "cookie": "session=" + gen(30),
        "x-hub-signature-256": "sha256=" + gen(64, HEX),
        "ce-token": token,
        "x-github-event": "push",
        "user-agent": "GitHub-Hookshot/abc",
    }
    kept = redactor.redact_headers(headers)
    text = orjson.dumps(kept).decode()
    for name in ("authorization", "cookie", "x-hub-signature-256", "ce-token"):
        assert headers[name] not in text and kept[name].startswith("[REDACTED:")
    assert kept["x-github-event"] == "push" and kept["user-agent"] == "GitHub-Hookshot/abc"
