"""Checks of upstream signatures: task records and approvals (Ed25519 or Sigstore), bundles.

A failed check is evidence, not an error: every function here returns a
:class:`SignatureCheck` and never raises on what a record contains.

Ed25519 (``contracts/agent-events.md``, "The task record"): the signature is over
the RFC 8785 bytes of the record without its ``signature`` member; ``key_id``
is the 8-hex-digit ID of a verifier key in note form that the store trusts.

Sigstore: a bundle over the RFC 8785 bytes of the record without ``signature``
and ``sigstore_bundle``, verified offline against the Sigstore production
trusted root that sigstore-python keeps in its local TUF cache (offline mode
never refreshes it: the cache is seeded from the copy shipped inside the
package, or holds the last root a networked sigstore client fetched and
verified). The signer's certificate must name one of the trusted
(identity, OIDC issuer) pairs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

import ledger
from ingest.interface import Trust

if TYPE_CHECKING:  # sigstore is imported when a bundle is checked: it is slow to import
    from sigstore.hashes import Hashed
    from sigstore.verify import Verifier as SigstoreVerifier
from ingest.model import SignatureCheck, SignatureStatus

__all__ = ["check_sigstore_bundle", "check_task_record"]

_ED25519_SIGNATURE_BYTES: Final = 64
_MAX_REASON: Final = 300


def _failed(
    method: Literal["ed25519", "sigstore"], reason: str, key_id: str | None = None
) -> SignatureCheck:
    return SignatureCheck(
        status=SignatureStatus.FAILED, method=method, key_id=key_id, reason=reason[:_MAX_REASON]
    )


def check_task_record(record: Mapping[str, Any], trust: Trust) -> SignatureCheck:
    """Is this task record validly signed by a signer ``trust`` names?

    ``record`` is the task record as received (the ``data`` of a
    ``dev.vestige.task.recorded`` event; an approval's ``data`` is signed and
    checked by the same rule), unknown members included: they are
    part of the signed bytes. A record with a ``signature`` is checked as
    Ed25519 (a ``sigstore_bundle`` beside it is then part of the signed bytes);
    otherwise a ``sigstore_bundle`` is checked; with neither it is unsigned.
    """
    signature = record.get("signature")
    bundle = record.get("sigstore_bundle")
    if signature is not None:
        return _check_ed25519(record, signature, trust)
    if bundle is not None:
        unsigned = {k: v for k, v in record.items() if k not in ("signature", "sigstore_bundle")}
        try:
            message = ledger.canonicalize(unsigned)
        except ledger.InputError as exc:
            return _failed("sigstore", f"record is not canonicalizable JSON: {exc}")
        if not isinstance(bundle, Mapping):
            return _failed("sigstore", "sigstore_bundle is not a JSON object")
        return check_sigstore_bundle(message, bundle, trust)
    return SignatureCheck(status=SignatureStatus.UNSIGNED)


def _check_ed25519(record: Mapping[str, Any], signature: object, trust: Trust) -> SignatureCheck:
    if not isinstance(signature, Mapping):
        return _failed("ed25519", "signature is not a JSON object")
    key_id = signature.get("key_id")
    if not isinstance(key_id, str) or len(key_id) != 8 or not _is_hex(key_id):
        return _failed("ed25519", "signature key_id is not 8 hex digits")
    key_id = key_id.lower()
    if signature.get("alg") != "ed25519":
        return _failed("ed25519", "signature alg is not ed25519", key_id=key_id)
    value = signature.get("value")
    if not isinstance(value, str):
        return _failed("ed25519", "signature value is not a base64 string", key_id=key_id)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return _failed("ed25519", "signature value is not valid base64", key_id=key_id)
    if len(raw) != _ED25519_SIGNATURE_BYTES:
        return _failed(
            "ed25519", f"signature is {len(raw)} bytes, an Ed25519 signature is 64", key_id=key_id
        )
    verifiers = _trusted_verifiers(trust, key_id)
    if not verifiers:
        return _failed("ed25519", f"key {key_id} is not trusted", key_id=key_id)
    try:
        message = ledger.canonicalize({k: v for k, v in record.items() if k != "signature"})
    except ledger.InputError as exc:
        return _failed("ed25519", f"record is not canonicalizable JSON: {exc}", key_id=key_id)
    for verifier in verifiers:
        if verifier.verify(message, raw):
            return SignatureCheck(
                status=SignatureStatus.OK, method="ed25519", identity=verifier.name, key_id=key_id
            )
    return _failed("ed25519", f"signature does not verify with trusted key {key_id}", key_id=key_id)


def _is_hex(value: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF" for ch in value)


def _trusted_verifiers(trust: Trust, key_id: str) -> list[ledger.Verifier]:
    """The trusted verifier keys with this key ID; unparsable entries are skipped."""
    found = []
    for encoded in trust.ed25519.get(key_id, ()):
        try:
            verifier = ledger.Verifier.parse(encoded)
        except ledger.InputError:
            continue  # a broken trust entry trusts nothing
        # The trust map's key must be the key's own ID: a mislabelled entry trusts nothing.
        if verifier.key_id.hex() == key_id:
            found.append(verifier)
    return found


@functools.cache
def _sigstore_verifier(staging: bool) -> SigstoreVerifier:
    # Building a verifier parses the trusted root (certificates, log keys): slow, so once.
    from sigstore.verify import Verifier as SigstoreVerifier

    if staging:
        return SigstoreVerifier.staging(offline=True)
    return SigstoreVerifier.production(offline=True)


def check_sigstore_bundle(
    artifact: bytes,
    bundle_json: bytes | str | Mapping[str, Any],
    trust: Trust,
    staging: bool = False,
    *,
    prehashed: bool = False,
) -> SignatureCheck:
    """Does this Sigstore bundle sign ``artifact`` under a trusted identity?

    ``artifact`` is the signed bytes, or with ``prehashed`` their SHA-256
    digest (for large artifacts hashed while streamed). Verification is offline:
    the bundle must carry its transparency log inclusion proof. ``staging``
    selects Sigstore's staging instance instead of production (tests only).
    """
    if not trust.sigstore:
        return _failed("sigstore", "no trusted Sigstore identity configured")
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify import policy
    from sigstore_models.common.v1 import HashAlgorithm

    try:
        raw = json.dumps(bundle_json) if isinstance(bundle_json, Mapping) else bundle_json
        bundle = Bundle.from_json(raw)
    # Any exception: the bundle is untrusted input to a third-party parser, and a bundle
    # that cannot be read is a failed check, whatever the library raises for it.
    except Exception as exc:
        return _failed("sigstore", f"invalid Sigstore bundle: {exc}")
    try:
        verifier = _sigstore_verifier(staging)
    except Exception as exc:  # e.g. an unreadable TUF cache: not verifiable here
        return _failed("sigstore", f"Sigstore trusted root unavailable: {exc}")
    input_: bytes | Hashed = artifact
    if prehashed:
        input_ = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=artifact)
    reasons: list[str] = []
    for identity, issuer in trust.sigstore:
        try:
            verifier.verify_artifact(
                input_, bundle, policy.Identity(identity=identity, issuer=issuer)
            )
        except Exception as exc:  # VerificationError and whatever a hostile bundle triggers
            reasons.append(str(exc) or type(exc).__name__)
            continue
        return SignatureCheck(status=SignatureStatus.OK, method="sigstore", identity=identity)
    # The first reason: with one trusted identity it is the reason; with several, a
    # mismatched identity fails each the same way unless the bundle itself is bad.
    return _failed("sigstore", f"Sigstore bundle does not verify: {reasons[0]}")
