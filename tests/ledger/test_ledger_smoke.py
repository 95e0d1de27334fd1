"""Append, prove and verify on both backends."""

from __future__ import annotations

from collections.abc import Callable

from ledger import Ledger, Record, merkle
from ledger.proofs import verify_inclusion_proof


def events(n: int, start: int = 0) -> list[Record]:
    return [
        Record.of({"id": i, "action": "s3:PutObject", "actor": f"agent-{i % 7}"})
        for i in range(start, start + n)
    ]


def test_append_prove_verify(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger()
    first = ledger.append(events(37), batch_size=10)
    assert (first.appended, first.size) == (37, 37)
    again = ledger.append(events(40), batch_size=7)
    assert (again.appended, again.duplicates, again.size) == (3, 37, 40)
    result = ledger.verify()
    assert result.size == 40 and result.root == again.root
    key = ledger.keys.verifiers()[-1]
    for seq in (0, 17, 39):
        proof = ledger.prove_inclusion(seq)
        assert verify_inclusion_proof(proof.to_json(), key).checkpoint.size == 40
    for old in (1, 5, 16, 37, 40):
        c = ledger.prove_consistency(old, 40)
        old_root = ledger.prove_inclusion(0, old).checkpoint
        from ledger.checkpoint import Checkpoint
        from ledger.note import split_note

        old_cp = Checkpoint.parse(split_note(old_root)[0])
        assert merkle.verify_consistency(old, 40, old_cp.root, again.root, c.proof)


def test_first_record_of_a_key_wins(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger()
    first = Record.of({"id": "evt-1", "v": "first"}, key="evt-1")
    later = Record.of({"id": "evt-1", "v": "redelivered"}, key="evt-1")
    result = ledger.append([first, Record.of({"id": "evt-2"}), later])
    assert (result.appended, result.duplicates, result.size) == (2, 1, 2)
    assert ledger.prove_inclusion(0).canonical == first.canonical
    again = ledger.append([later])
    assert (again.appended, again.duplicates) == (0, 1)
