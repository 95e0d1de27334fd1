"""Upstream signature checks: Ed25519 task records and offline Sigstore bundles."""

from __future__ import annotations

import base64
import copy
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

import ledger
from ingest import signatures
from ingest.interface import Trust
from ingest.model import SignatureCheck, SignatureStatus
from ingest.signatures import check_sigstore_bundle, check_task_record
from tests.conftest import realdata

# sigstore-python's test assets (see ../shared/realdata/SOURCES.md).
ASSETS = "sigstore-python/test/assets"
# The rfc8785.py v0.1.2 release wheel, signed in GitHub Actions (certificate SAN and the
# Fulcio OIDC-issuer extension 1.3.6.1.4.1.57264.1.1), production instance.
RFC8785_RELEASE = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
    "https://token.actions.githubusercontent.com",
)
# bundle.txt: signed by a@tny.town through GitHub's OAuth login on the staging instance.
STAGING_SIGNER = ("a@tny.town", "https://github.com/login/oauth")


def task_record() -> dict[str, Any]:
    return {
        "task_id": "task-91",
        "workspace_id": "ws-7f3a",
        "ticket": "SEC-1234",
        "repo": "corp/payments",
        "branch": "agent/SEC-1234-fix-rounding",
        "base_commit": "9c1e4f0a7b2d6c3e8f1a5b9d0c7e2f4a6b8d1c3e",
        "agent": {"kind": "agent", "id": "spiffe://corp.example/agent/ws-7f3a"},
        "requested_by": {"kind": "human", "id": "dana@corp.example"},
        "intent": "Fix rounding in invoice totals",
        "scopes": [{"system": "github", "actions": ["push"], "resources": ["corp/payments"]}],
        "credential_ids": ["ASIAY34FZKBOKMUTVV7A"],
        "issued_at": "2026-11-20T09:00:05Z",
        "expires_at": "2026-11-20T13:00:05Z",
    }


def sign(record: dict[str, Any], signer: ledger.Signer) -> dict[str, Any]:
    """The record with an Ed25519 signature over its RFC 8785 bytes, as the contract says."""
    signature = signer.sign(ledger.canonicalize(record))
    return {
        **record,
        "signature": {
            "alg": "ed25519",
            "key_id": signer.verifier.key_id.hex(),
            "value": base64.b64encode(signature).decode(),
        },
    }


def trusting(*signers: ledger.Signer) -> Trust:
    keys: dict[str, tuple[str, ...]] = {}
    for signer in signers:
        key_id = signer.verifier.key_id.hex()
        keys[key_id] = (*keys.get(key_id, ()), signer.verifier.encode())
    return Trust(ed25519=keys)


@pytest.fixture(scope="module")
def signer() -> ledger.Signer:
    return ledger.Signer.generate("orchestrator.corp.example")


# --- Ed25519 ---------------------------------------------------------------------------


def test_valid_signature_by_trusted_key(signer: ledger.Signer) -> None:
    check = check_task_record(sign(task_record(), signer), trusting(signer))
    assert check.status is SignatureStatus.OK
    assert check.method == "ed25519"
    assert check.identity == "orchestrator.corp.example"
    assert check.key_id == signer.verifier.key_id.hex()
    assert check.reason is None


def test_unknown_members_are_signed_too(signer: ledger.Signer) -> None:
    record = {**task_record(), "x-runtime": {"node": "n1"}}
    signed = sign(record, signer)
    assert check_task_record(signed, trusting(signer)).status is SignatureStatus.OK
    signed["x-runtime"] = {"node": "n2"}
    assert check_task_record(signed, trusting(signer)).status is SignatureStatus.FAILED


def test_key_order_and_whitespace_do_not_matter(signer: ledger.Signer) -> None:
    signed = sign(task_record(), signer)
    reordered = json.loads(json.dumps(dict(reversed(list(signed.items()))), indent=3))
    assert check_task_record(reordered, trusting(signer)).status is SignatureStatus.OK


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("intent", "Exfiltrate the invoices"),
        ("ticket", None),
        ("scopes", [{"system": "aws", "actions": ["*"], "resources": ["*"]}]),
        ("expires_at", "2027-11-20T13:00:05Z"),
    ],
)
def test_modified_record_fails(signer: ledger.Signer, member: str, value: object) -> None:
    signed = {**sign(task_record(), signer), member: value}
    check = check_task_record(signed, trusting(signer))
    assert check.status is SignatureStatus.FAILED
    assert check.reason == f"signature does not verify with trusted key {check.key_id}"


def test_untrusted_key_fails(signer: ledger.Signer) -> None:
    other = ledger.Signer.generate("someone-else")
    check = check_task_record(sign(task_record(), signer), trusting(other))
    key_id = signer.verifier.key_id.hex()
    assert check.status is SignatureStatus.FAILED
    assert check.key_id == key_id
    assert check.reason == f"key {key_id} is not trusted"
    assert check_task_record(sign(task_record(), signer), Trust()).reason == check.reason


def test_signature_by_another_key_under_a_trusted_key_id_fails(signer: ledger.Signer) -> None:
    forger = ledger.Signer.generate("forger")
    forged = sign(task_record(), forger)
    forged["signature"]["key_id"] = signer.verifier.key_id.hex()
    check = check_task_record(forged, trusting(signer))
    assert check.status is SignatureStatus.FAILED
    assert check.reason is not None and "does not verify" in check.reason


def test_mislabelled_or_broken_trust_entries_trust_nothing(signer: ledger.Signer) -> None:
    signed = sign(task_record(), signer)
    key_id = signer.verifier.key_id.hex()
    other = ledger.Signer.generate("other").verifier.encode()
    for entry in (other, "not a verifier key", f"x+{key_id}+AAAA"):
        check = check_task_record(signed, Trust(ed25519={key_id: (entry,)}))
        assert check.status is SignatureStatus.FAILED
        assert check.reason == f"key {key_id} is not trusted"


def test_one_of_several_trusted_keys_under_an_id_suffices(signer: ledger.Signer) -> None:
    key_id = signer.verifier.key_id.hex()
    trust = Trust(ed25519={key_id: ("garbage", signer.verifier.encode())})
    assert check_task_record(sign(task_record(), signer), trust).status is SignatureStatus.OK


def test_upper_case_key_id_is_the_same_key(signer: ledger.Signer) -> None:
    signed = sign(task_record(), signer)
    signed["signature"]["key_id"] = signed["signature"]["key_id"].upper()
    assert check_task_record(signed, trusting(signer)).status is SignatureStatus.OK


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ({"alg": "ed25519", "key_id": "a1b2c3d4", "value": "%%%"}, "not valid base64"),
        ({"alg": "ed25519", "key_id": "a1b2c3d4", "value": 7}, "not a base64 string"),
        (
            {"alg": "ed25519", "key_id": "a1b2c3d4", "value": base64.b64encode(b"x" * 63).decode()},
            "63 bytes",
        ),
        ({"alg": "ecdsa", "key_id": "a1b2c3d4", "value": "AAAA"}, "alg is not ed25519"),
        ({"alg": "ed25519", "key_id": "a1b2c3", "value": "AAAA"}, "not 8 hex digits"),
        ({"alg": "ed25519", "key_id": "a1b2c3zz", "value": "AAAA"}, "not 8 hex digits"),
        ({"alg": "ed25519", "key_id": ["a1b2c3d4"], "value": "AAAA"}, "not 8 hex digits"),
        ("a1b2c3d4:AAAA", "not a JSON object"),
    ],
)
def test_malformed_signatures_fail_with_a_reason(signature: object, reason: str) -> None:
    check = check_task_record({**task_record(), "signature": signature}, Trust())
    assert check.status is SignatureStatus.FAILED
    assert check.method == "ed25519"
    assert check.reason is not None and reason in check.reason


def test_record_that_is_not_json_data_fails(signer: ledger.Signer) -> None:
    signed = sign(task_record(), signer)
    signed["intent"] = float("nan")
    check = check_task_record(signed, trusting(signer))
    assert check.status is SignatureStatus.FAILED
    assert check.reason is not None and "canonicalizable" in check.reason


def test_unsigned() -> None:
    for record in (task_record(), {**task_record(), "signature": None, "sigstore_bundle": None}):
        check = check_task_record(record, Trust())
        assert check.status is SignatureStatus.UNSIGNED
        assert check.method is None and check.reason is None


# --- Sigstore --------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Offline means offline: any connection attempt or name lookup fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access during an offline Sigstore check")

    signatures._sigstore_verifier.cache_clear()  # build the verifier under the patch too
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def _release_bundle() -> tuple[bytes, bytes]:
    """The rfc8785 wheel bundle and the wheel's SHA-256 (the wheel itself is not in the corpus)."""
    raw = (realdata(ASSETS) / "bundle_v3_github.whl.sigstore").read_bytes()
    digest = base64.b64decode(json.loads(raw)["messageSignature"]["messageDigest"]["digest"])
    return raw, digest


@pytest.mark.usefixtures("no_network")
def test_real_production_bundle_with_its_release_identity() -> None:
    bundle, digest = _release_bundle()
    check = check_sigstore_bundle(
        digest, bundle, Trust(sigstore=(RFC8785_RELEASE,)), prehashed=True
    )
    assert check.status is SignatureStatus.OK, check.reason
    assert check.method == "sigstore"
    assert check.identity == RFC8785_RELEASE[0]


@pytest.mark.usefixtures("no_network")
def test_real_bundle_under_another_identity_or_issuer_fails() -> None:
    bundle, digest = _release_bundle()
    wrong_identity = (RFC8785_RELEASE[0].replace("v0.1.2", "v0.1.3"), RFC8785_RELEASE[1])
    wrong_issuer = (RFC8785_RELEASE[0], "https://accounts.google.com")
    for trusted in (wrong_identity, wrong_issuer):
        check = check_sigstore_bundle(digest, bundle, Trust(sigstore=(trusted,)), prehashed=True)
        assert check.status is SignatureStatus.FAILED
        assert check.reason is not None and check.reason.startswith("Sigstore bundle does not")
    # Any one trusted identity that matches is enough.
    several = Trust(sigstore=(wrong_identity, RFC8785_RELEASE))
    assert (
        check_sigstore_bundle(digest, bundle, several, prehashed=True).identity
        == (RFC8785_RELEASE[0])
    )


@pytest.mark.usefixtures("no_network")
def test_real_bundle_over_a_modified_artifact_fails() -> None:
    bundle, digest = _release_bundle()
    modified = bytes([digest[0] ^ 1]) + digest[1:]
    check = check_sigstore_bundle(
        modified, bundle, Trust(sigstore=(RFC8785_RELEASE,)), prehashed=True
    )
    assert check.status is SignatureStatus.FAILED
    assert check.reason is not None and "digest mismatch" in check.reason


@pytest.mark.usefixtures("no_network")
def test_real_staging_bundle_over_artifact_bytes() -> None:
    folder = realdata(ASSETS)
    artifact = (folder / "bundle.txt").read_bytes()
    bundle = json.loads((folder / "bundle.txt.sigstore").read_bytes())
    trust = Trust(sigstore=(STAGING_SIGNER,))
    ok = check_sigstore_bundle(artifact, bundle, trust, staging=True)
    assert ok.status is SignatureStatus.OK, ok.reason
    assert ok.identity == "a@tny.town"
    tampered = check_sigstore_bundle(artifact + b"!", bundle, trust, staging=True)
    assert tampered.status is SignatureStatus.FAILED
    # The production instance does not vouch for a staging certificate.
    assert check_sigstore_bundle(artifact, bundle, trust).status is SignatureStatus.FAILED


def test_no_trusted_identity_configured() -> None:
    check = check_sigstore_bundle(b"artifact", {}, Trust())
    assert check.status is SignatureStatus.FAILED
    assert check.reason == "no trusted Sigstore identity configured"


@pytest.mark.parametrize("bundle", [{}, {"mediaType": "nonsense"}, b"{not json", "[]", b"\xff"])
def test_unreadable_bundles_fail(bundle: object) -> None:
    check = check_sigstore_bundle(b"x", bundle, Trust(sigstore=(STAGING_SIGNER,)))  # type: ignore[arg-type]
    assert check.status is SignatureStatus.FAILED
    assert check.reason is not None and check.reason.startswith("invalid Sigstore bundle")


@pytest.mark.usefixtures("no_network")
def test_task_record_with_a_bundle_over_something_else_fails() -> None:
    bundle = json.loads((realdata(ASSETS) / "bundle.txt.sigstore").read_bytes())
    record = {**task_record(), "sigstore_bundle": bundle}
    check = check_task_record(record, Trust(sigstore=(STAGING_SIGNER,)))
    assert check.status is SignatureStatus.FAILED
    assert check.method == "sigstore"
    assert check_task_record(record, Trust()).reason == "no trusted Sigstore identity configured"


def test_task_record_bundle_must_be_an_object() -> None:
    record = {**task_record(), "sigstore_bundle": "base64..."}
    check = check_task_record(record, Trust(sigstore=(STAGING_SIGNER,)))
    assert check.status is SignatureStatus.FAILED
    assert check.reason == "sigstore_bundle is not a JSON object"


def test_task_record_sigstore_bytes_exclude_both_signature_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bytes] = []

    def spy(artifact: bytes, bundle: object, trust: Trust, staging: bool = False) -> Any:
        seen.append(artifact)
        return SignatureCheck(status=SignatureStatus.OK, method="sigstore")

    monkeypatch.setattr(signatures, "check_sigstore_bundle", spy)
    record = {**task_record(), "sigstore_bundle": {"mediaType": "x"}, "signature": None}
    check_task_record(copy.deepcopy(record), Trust(sigstore=(STAGING_SIGNER,)))
    assert seen == [ledger.canonicalize(task_record())]
