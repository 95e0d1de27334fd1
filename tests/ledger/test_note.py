"""Signed notes and checkpoints against the Go reference implementation's example."""

from __future__ import annotations

import pytest

from ledger.checkpoint import Checkpoint
from ledger.errors import InputError
from ledger.note import Signer, Verifier, open_note, sign_note

# The example key pair and note of golang.org/x/mod/sumdb/note's documentation.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_keys_match_reference_encoding() -> None:
    signer = Signer.parse(GO_SKEY)
    assert signer.encode() == GO_SKEY
    assert signer.verifier.encode() == GO_VKEY
    assert Verifier.parse(GO_VKEY).key_id.hex() == "c74f20a3"


def test_signature_matches_reference_byte_for_byte() -> None:
    # Ed25519 is deterministic, so our note must equal Go's exactly.
    assert sign_note(GO_TEXT, [Signer.parse(GO_SKEY)]) == GO_TEXT + "\n" + GO_SIGNATURE


def test_open_reference_note() -> None:
    verifier = Verifier.parse(GO_VKEY)
    text, valid = open_note(GO_TEXT + "\n" + GO_SIGNATURE, [verifier])
    assert text == GO_TEXT and valid == [verifier]
    with pytest.raises(InputError, match="does not verify"):
        open_note(GO_TEXT.replace("problem", "pr0blem") + "\n" + GO_SIGNATURE, [verifier])


def test_unknown_keys_are_ignored_not_trusted() -> None:
    other = Signer.generate("PeterNeumann")
    _, valid = open_note(GO_TEXT + "\n" + GO_SIGNATURE, [other.verifier])
    assert valid == []


def test_several_signers() -> None:
    a, b = Signer.generate("log.example/a"), Signer.generate("witness.example/b")
    note = sign_note(GO_TEXT, [a, b])
    _, valid = open_note(note, [b.verifier, a.verifier])
    assert valid == [a.verifier, b.verifier]


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+c74f20a3+AhpcAQ==",  # wrong type and length
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann",
    ],
)
def test_bad_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(InputError):
        Verifier.parse(vkey)


def test_signer_repr_hides_the_seed() -> None:
    signer = Signer.parse(GO_SKEY)
    assert "AYEKF" not in repr(signer) and str(signer.seed) not in repr(signer)


def test_checkpoint_round_trip_and_refusals() -> None:
    cp = Checkpoint("example.com/log", 12, bytes(range(32)))
    assert cp.body() == "example.com/log\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert Checkpoint.parse(cp.body()) == cp
    assert Checkpoint.parse(cp.body() + "extension line\n") == cp
    for bad in ["example.com/log\n012\nAA==\n", "example.com/log\n-1\n", "x\n1\nAAAA\n"]:
        with pytest.raises(InputError):
            Checkpoint.parse(bad)
