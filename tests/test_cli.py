"""End to end: the real ``vestige`` command line, each command in its own subprocess.

Every test runs ``python -m vestige --home H ...`` with a SQLite store under
``tmp_path`` and an environment without ``VESTIGE_DB``/``VESTIGE_HOME``.
Expected values are computed here, independently of the library: RFC 8785
bytes with the ``rfc8785`` package, Merkle roots and proofs with a direct
transcription of RFC 9162, signatures checked with PyNaCl.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import rfc8785

from ledger import merkle
from ledger.note import Signer

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "vestige.local/ledger"  # the default origin, also the key name
MAX_LINE = 4 * 1024 * 1024  # vestige.lines.DEFAULT_MAX_LINE

_DROPPED = {"VESTIGE_DB", "VESTIGE_HOME", "COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE"}
ENV = {name: value for name, value in os.environ.items() if name not in _DROPPED}
ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

VKEY = re.compile(r"([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})")
SIGNATURE_LINE = re.compile(r"\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})")


# -- running the CLI --------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code in (0, 1, 2), self.err
        return json.loads(self.out)


def vestige(home: Path, *args: str, stdin: bytes = b"", umask: int = -1) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "vestige", "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        env=ENV,
        cwd=home.parent,
        timeout=300,
        umask=umask,
        check=False,
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def ok(run: Run) -> Run:
    assert (run.code, "Traceback" in run.err) == (0, False), run.err
    return run


def vestige_all(home: Path, *commands: Sequence[str]) -> list[Run]:
    """Independent commands, run concurrently."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: vestige(home, *args), commands))


def one_line_error(run: Run) -> str:
    """The message of a usage error: exit 2, no traceback, one ``error: ...`` line."""
    assert run.code == 2, (run.code, run.out, run.err)
    assert "Traceback" not in run.err
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("error: ")
    return lines[0]


# -- independent references: RFC 8785, RFC 9162, signed notes ----------------------------


def jcs(line: bytes) -> bytes:
    """RFC 8785 bytes of a JSON text (parsed by the standard library)."""
    return bytes(rfc8785.dumps(json.loads(line)))


def leaf_hash(canonical: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.1 over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1: PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def consistency_path(m: int, leaves: Sequence[bytes], whole: bool = True) -> list[bytes]:
    """RFC 9162 2.1.4.1: SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = _split(n)
    if m <= k:
        return consistency_path(m, leaves[:k], whole) + [mth(leaves[k:])]
    return consistency_path(m - k, leaves[k:], False) + [mth(leaves[:k])]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public: bytes


def parse_vkey(text: str) -> VerifierKey:
    """A C2SP signed-note verifier key NAME+KEYID+base64(0x01 || Ed25519 key), checked."""
    match = VKEY.fullmatch(text)
    assert match, f"not a verifier key: {text!r}"
    name, key_id, encoded = match.groups()
    raw = unb64(encoded)
    assert (len(raw), raw[:1]) == (33, b"\x01")
    computed = hashlib.sha256(name.encode() + b"\n\x01" + raw[1:]).digest()[:4]
    assert computed.hex() == key_id
    return VerifierKey(name, computed, raw[1:])


@dataclass(frozen=True)
class Note:
    origin: str
    size: int
    root: bytes
    text: str  # the signed body
    signatures: list[tuple[str, bytes, bytes]]  # name, key ID, Ed25519 signature


def parse_checkpoint(note: str) -> Note:
    """A C2SP checkpoint note: origin, size, root, blank line, signature lines."""
    assert note.endswith("\n")
    lines = note[:-1].split("\n")
    origin, size, root, blank, *signature_lines = lines
    assert blank == ""
    assert re.fullmatch(r"[1-9][0-9]*|0", size)
    assert signature_lines
    signatures = []
    for line in signature_lines:
        match = SIGNATURE_LINE.fullmatch(line)
        assert match, f"not a signature line: {line!r}"
        blob = unb64(match.group(2))
        assert len(blob) == 4 + 64
        signatures.append((match.group(1), blob[:4], blob[4:]))
    raw_root = unb64(root)
    assert len(raw_root) == 32
    return Note(origin, int(size), raw_root, f"{origin}\n{size}\n{root}\n", signatures)


def signed_by(note: Note, key: VerifierKey) -> bool:
    for name, key_id, signature in note.signatures:
        if (name, key_id) == (key.name, key.key_id):
            nacl.signing.VerifyKey(key.public).verify(note.text.encode(), signature)
            return True
    return False


# -- fixtures: an initialized home, copied per test ----------------------------------


@dataclass(frozen=True)
class Home:
    path: Path
    key: str  # the verifier key printed by init


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Home:
    path = tmp_path_factory.mktemp("template") / "home"
    run = ok(vestige(path, "init"))
    return Home(path, run.out.strip())


@pytest.fixture
def home(template: Home, tmp_path: Path) -> Home:
    """A fresh copy of an initialized, empty ledger (same key as the template)."""
    path = tmp_path / "home"
    shutil.copytree(template.path, path)
    return Home(path, template.key)


def write_lines(path: Path, lines: Sequence[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


LINES_A = [
    b'{"seq": 0, "action": "s3:PutObject", "actor": "agent-1"}',
    b'{"actor":"agent-2","seq":1,"ratio":1.0,"tags":["a","b"]}',
    '{"seq": 2, "note": "caf\u00e9 \u2028 \U0001f600", "\ue000": true, "\U0001f600": 0}'.encode(),
    b'{"seq": 3, "big": 1e21, "mid": 1e16, "small": 1e-7, "tiny": 1e-6, "zero": -0.0, "n": null}',
    b'{"seq": 4, "nested": {"z": 1, "a": [1.5e16, {"k": "v\\u0001"}]}}',
]
LINES_B = [b'{"seq": %d, "batch": "b", "t": %d.0}' % (i, i) for i in range(5, 8)]
LEAVES = [leaf_hash(jcs(line)) for line in LINES_A + LINES_B]


@dataclass(frozen=True)
class Proved:
    """A ledger of 8 entries appended as 5 then 3, with checkpoints at 5 and 8."""

    home: Home
    cp5: dict[str, Any]
    cp8: dict[str, Any]
    cp8_text: str
    proof6: dict[str, Any]


@pytest.fixture(scope="module")
def proved(template: Home, tmp_path_factory: pytest.TempPathFactory) -> Proved:
    folder = tmp_path_factory.mktemp("proved")
    path = folder / "home"
    shutil.copytree(template.path, path)
    first = ok(vestige(path, "append", str(write_lines(folder / "a.jsonl", LINES_A)), "--json"))
    assert first.json()["size"] == 5
    cp5 = ok(vestige(path, "checkpoint", "--json")).json()
    second = ok(vestige(path, "append", str(write_lines(folder / "b.jsonl", LINES_B)), "--json"))
    assert second.json()["size"] == 8
    cp8_text, cp8, proof6 = (
        ok(run).out
        for run in vestige_all(
            path, ["checkpoint"], ["checkpoint", "--json"], ["prove", "inclusion", "6", "--json"]
        )
    )
    return Proved(Home(path, template.key), cp5, json.loads(cp8), cp8_text, json.loads(proof6))


# -- init and keys ------------------------------------------------------------------------


def test_init_prints_verifier_key_and_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = ok(vestige(home, "init", umask=0))  # the modes must not come from the umask
    assert first.out.count("\n") == 1
    key = parse_vkey(first.out.strip())
    assert key.name == ORIGIN
    assert (home / "ledger.db").is_file()

    second = ok(vestige(home, "init", umask=0))
    assert second.out == first.out

    keys = home / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    private = sorted(keys.glob("*.key"))
    assert [p.name for p in private] == [f"{key.key_id.hex()}.key"]
    assert stat.S_IMODE(private[0].stat().st_mode) == 0o600
    # The file holds the signing key of exactly the printed verifier key.
    text = private[0].read_text().strip()
    prefix = f"PRIVATE+KEY+{ORIGIN}+{key.key_id.hex()}+"
    assert text.startswith(prefix)
    raw = unb64(text[len(prefix) :])
    assert (len(raw), raw[:1]) == (33, b"\x01")
    assert bytes(nacl.signing.SigningKey(raw[1:]).verify_key) == key.public
    assert json.loads((keys / "keyring.json").read_text())["keys"] == [first.out.strip()]


def _secrets(home: Path) -> list[str]:
    """Every spelling of every private key in the home."""
    found = []
    for path in (home / "keys").glob("*.key"):
        text = path.read_text().strip()
        encoded = text.split("+", 4)[4]
        seed = unb64(encoded)[1:]
        found += [text, encoded, b64(seed), seed.hex()]
    assert found
    return found


def test_private_key_is_never_printed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = write_lines(tmp_path / "in.jsonl", LINES_A)
    runs = [ok(vestige(home, "init")), ok(vestige(home, "append", str(data), "--json"))]
    runs += vestige_all(
        home, ["append", str(data)], ["checkpoint"], ["checkpoint", "--json"], ["keys", "show"]
    )
    secrets = _secrets(home)
    runs.append(ok(vestige(home, "keys", "rotate")))
    runs += vestige_all(
        home, ["keys", "show"], ["verify"], ["verify", "--json"], ["prove", "inclusion", "4"]
    )
    assert [run.code for run in runs] == [0] * len(runs)
    secrets += _secrets(home)
    assert len(set(secrets)) == 8  # two keys, four spellings each
    for run in runs:
        for output in (run.out, run.err):
            assert "PRIVATE" not in output
            for secret in secrets:
                assert secret not in output


def test_rotate_lists_new_key_first_and_verify_trusts_both(home: Home, tmp_path: Path) -> None:
    old = home.key
    ok(vestige(home.path, "append", str(write_lines(tmp_path / "a.jsonl", LINES_A[:2]))))
    new = ok(vestige(home.path, "keys", "rotate")).out.strip()
    assert new != old
    assert parse_vkey(new).name == parse_vkey(old).name == ORIGIN
    assert ok(vestige(home.path, "keys", "show")).out == f"{new}\n{old}\n"

    keys = home.path / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    private = sorted(p.name for p in keys.glob("*.key"))
    # The retired private key is deleted; only the new one remains.
    assert private == [f"{parse_vkey(new).key_id.hex()}.key"]
    for name in private:
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600

    # Entries signed after the rotation are signed by the new key only.
    ok(vestige(home.path, "append", str(write_lines(tmp_path / "b.jsonl", LINES_A[2:3]))))
    verified, rotation, latest = (
        ok(run).json()
        for run in vestige_all(
            home.path,
            ["verify", "--json"],
            ["prove", "inclusion", "2", "--size", "3", "--json"],  # the rotation's checkpoint
            ["prove", "inclusion", "3", "--json"],
        )
    )
    assert verified["ok"] is True
    assert (verified["size"], verified["checkpoints"], verified["keys"]) == (4, 3, [old, new])

    entry = json.loads(unb64(rotation["canonical"]))
    assert list(entry) == ["vestige_key_rotation"]
    announced = entry["vestige_key_rotation"]
    assert (announced["origin"], announced["old_key"], announced["new_key"]) == (ORIGIN, old, new)
    # The checkpoint that includes the rotation is signed by both keys.
    rotated = parse_checkpoint(rotation["checkpoint"])
    assert rotated.size == 3
    assert signed_by(rotated, parse_vkey(old)) and signed_by(rotated, parse_vkey(new))

    note = parse_checkpoint(latest["checkpoint"])
    assert signed_by(note, parse_vkey(new)) and not signed_by(note, parse_vkey(old))
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(latest))
    with_new, with_old = vestige_all(
        home.path,
        ["verify-proof", str(path), "--key", new],
        ["verify-proof", str(path), "--key", old],
    )
    assert (with_new.code, with_old.code) == (0, 1)


# -- append ---------------------------------------------------------------------------------

SAME_AS_FIRST = b'{ "actor" : "agent-1", "action": "s3:PutObject", "seq": 0.0 }'


def test_append_json_counts_and_rerun_appends_nothing(home: Home, tmp_path: Path) -> None:
    # Line 3 has the content of line 1 (other order, spacing, 0.0 for 0): a duplicate.
    data = write_lines(
        tmp_path / "in.jsonl", [LINES_A[0], LINES_A[1], SAME_AS_FIRST, b"", LINES_A[2]]
    )
    assert jcs(SAME_AS_FIRST) == jcs(LINES_A[0])
    root = b64(mth([leaf_hash(jcs(line)) for line in LINES_A[:3]]))

    first = ok(vestige(home.path, "append", str(data), "--json")).json()
    assert first == {"appended": 3, "duplicates": 1, "rejected": [], "size": 3, "root": root}

    again = ok(vestige(home.path, "append", str(data), "--json")).json()
    assert again == {"appended": 0, "duplicates": 4, "rejected": [], "size": 3, "root": root}

    text = ok(vestige(home.path, "append", str(data)))
    assert text.out == f"appended 0 (4 already present, 0 rejected); size 3, root {root}\n"


def test_append_reads_stdin(home: Home) -> None:
    data = b"".join(line + b"\n" for line in LINES_B)
    run = ok(vestige(home.path, "append", "-", "--json", stdin=data))
    root = b64(mth([leaf_hash(jcs(line)) for line in LINES_B]))
    assert run.json() == {"appended": 3, "duplicates": 0, "rejected": [], "size": 3, "root": root}


VALID_BEFORE = '{"z": 1.0, "a": "before", "u": "\u00e9\U0001f600", "e": 1e-6}'.encode()
VALID_AFTER = b'{"b": [1e21, 1e16, -0.0], "a": "after"}'

BAD_LINES = {
    "invalid-json": (b'{"action": "put", "n": 1', "invalid JSON"),
    "array": (b'[{"a": 1}]', "expected a JSON object, got an array"),
    "string": (b'"just text"', "expected a JSON object, got a string"),
    "number": (b"42", "expected a JSON object, got a number"),
    "nan": (b'{"v": NaN}', "invalid JSON"),
    "infinity": (b'{"v": Infinity}', "invalid JSON"),
    "minus-infinity": (b'{"v": -Infinity}', "invalid JSON"),
    "int-2**53+1": (b'{"v": 9007199254740993}', ""),
    "int-minus-2**53-1": (b'{"v": -9007199254740993}', ""),
    "int-beyond-64-bits": (b'{"v": 18446744073709551616}', ""),
    "invalid-utf8": (b'{"v": "caf\xc3\x28 \xff\xfe"}', "invalid JSON"),
}


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES.values(), ids=BAD_LINES.keys())
def test_bad_line_is_rejected_and_valid_lines_are_appended(
    home: Home, tmp_path: Path, bad: bytes, reason: str
) -> None:
    # Line 1 valid, line 2 blank, line 3 bad, line 4 valid.
    data = write_lines(tmp_path / "in.jsonl", [VALID_BEFORE, b"", bad, VALID_AFTER])
    run = vestige(home.path, "append", str(data), "--json")
    doc = run.json()
    assert (run.code, [r["line"] for r in doc["rejected"]]) == (2, [3]), run.err
    assert "Traceback" not in run.err
    assert reason in doc["rejected"][0]["error"]
    assert re.findall(r"^line (\d+): ", run.err, re.MULTILINE) == ["3"]
    assert f"line 3: {reason}" in run.err

    expected = [jcs(VALID_BEFORE), jcs(VALID_AFTER)]
    root = b64(mth([leaf_hash(c) for c in expected]))
    assert (doc["appended"], doc["duplicates"], doc["size"], doc["root"]) == (2, 0, 2, root)
    proofs = vestige_all(home.path, *(["prove", "inclusion", str(i), "--json"] for i in (0, 1)))
    stored = [unb64(ok(p).json()["canonical"]) for p in proofs]
    assert stored == expected


def _wait_with_rusage(home: Path, *args: str) -> tuple[Run, int]:
    """Run the CLI; return its result and its peak RSS in bytes."""
    out, err = home.parent / "stdout", home.parent / "stderr"
    with out.open("wb") as out_file, err.open("wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vestige", "--home", str(home), *args],
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=err_file,
            env=ENV,
            cwd=home.parent,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    run = Run(proc.returncode, out.read_text(), err.read_text())
    return run, usage.ru_maxrss * 1024  # kilobytes on Linux


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB on Linux")
def test_50mb_line_is_rejected_without_being_read_whole(home: Home, tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    data = tmp_path / "big.jsonl"
    with data.open("wb") as stream:
        stream.write(VALID_BEFORE + b'\n{"blob": "')
        chunk = b"x" * (1 << 20)
        for _ in range(size // len(chunk)):
            stream.write(chunk)
        stream.write(b'"}\n' + VALID_AFTER + b"\n")

    run, peak = _wait_with_rusage(home.path, "append", str(data), "--json")
    doc = run.json()
    assert run.code == 2, run.err
    assert doc["rejected"] == [{"line": 2, "error": f"line is longer than {MAX_LINE} bytes"}]
    assert f"line 2: line is longer than {MAX_LINE} bytes" in run.err
    root = b64(mth([leaf_hash(jcs(VALID_BEFORE)), leaf_hash(jcs(VALID_AFTER))]))
    assert (doc["appended"], doc["size"], doc["root"]) == (2, 2, root)

    # The same command on a small file: the 50 MB line must cost far less than 50 MB.
    small = write_lines(tmp_path / "small.jsonl", [VALID_BEFORE, VALID_AFTER])
    baseline_run, baseline = _wait_with_rusage(home.path, "append", str(small), "--json")
    assert baseline_run.code == 0
    assert peak - baseline < 24 * 1024 * 1024, (peak, baseline)


def test_rejections_are_reported_one_per_stderr_line(home: Home, tmp_path: Path) -> None:
    """Each rejected line is one stderr line, exactly as in the --json report."""
    data = write_lines(
        tmp_path / "in.jsonl",
        [VALID_BEFORE, b'{"v": NaN}', b"[1, 2]", b'{"v": "\xff"}', b'{"a": 1,,}', VALID_AFTER],
    )
    run = vestige(home.path, "append", str(data), "--json")
    rejected = run.json()["rejected"]
    assert [r["line"] for r in rejected] == [2, 3, 4, 5]
    assert run.err.splitlines() == [f"line {r['line']}: {r['error']}" for r in rejected]


# -- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_note(proved: Proved) -> None:
    key = parse_vkey(proved.home.key)
    root = mth(LEAVES)
    assert proved.cp8_text.startswith(f"{ORIGIN}\n8\n{b64(root)}\n\n\u2014 {ORIGIN} ")
    note = parse_checkpoint(proved.cp8_text)
    assert (note.origin, note.size, note.root) == (ORIGIN, 8, root)
    assert [(name, key_id) for name, key_id, _ in note.signatures] == [(ORIGIN, key.key_id)]
    assert signed_by(note, key)

    assert proved.cp8 == {"size": 8, "root": b64(root), "note": proved.cp8_text}
    assert set(proved.cp5) == {"size", "root", "note"}
    assert (proved.cp5["size"], proved.cp5["root"]) == (5, b64(mth(LEAVES[:5])))
    old = parse_checkpoint(proved.cp5["note"])
    assert (old.size, old.root) == (5, mth(LEAVES[:5]))
    assert signed_by(old, key)


def test_checkpoint_of_an_empty_ledger(home: Home) -> None:
    doc = ok(vestige(home.path, "checkpoint", "--json")).json()
    empty = hashlib.sha256(b"").digest()
    assert (doc["size"], doc["root"]) == (0, b64(empty))
    note = parse_checkpoint(doc["note"])
    assert (note.origin, note.size, note.root) == (ORIGIN, 0, empty)
    assert signed_by(note, parse_vkey(home.key))


# -- inclusion proofs ------------------------------------------------------------------------


def test_prove_inclusion_json(proved: Proved) -> None:
    doc = proved.proof6
    assert list(doc) == ["leaf_index", "tree_size", "leaf_hash", "canonical", "proof", "checkpoint"]
    assert (doc["leaf_index"], doc["tree_size"]) == (6, 8)
    assert unb64(doc["canonical"]) == jcs(LINES_B[1])
    assert doc["leaf_hash"] == b64(LEAVES[6])
    assert doc["proof"] == [b64(h) for h in audit_path(6, LEAVES)]
    assert doc["checkpoint"] == proved.cp8["note"]


def test_prove_inclusion_of_entries_verifies(proved: Proved, tmp_path: Path) -> None:
    seqs = [0, 3, 4, 7]  # left edge, interior, first of the second batch, last
    docs = [
        ok(run).json()
        for run in vestige_all(
            proved.home.path, *(["prove", "inclusion", str(i), "--json"] for i in seqs)
        )
    ]
    lines = LINES_A + LINES_B
    assert [unb64(d["canonical"]) for d in docs] == [jcs(lines[i]) for i in seqs]
    assert [d["proof"] for d in docs] == [[b64(h) for h in audit_path(i, LEAVES)] for i in seqs]
    path = tmp_path / "proof3.json"
    path.write_text(json.dumps(docs[1]))
    plain, as_json = vestige_all(
        proved.home.path,
        ["verify-proof", str(path), "--key", proved.home.key],
        ["verify-proof", str(path), "--key", proved.home.key, "--json"],
    )
    assert ok(plain).out == f"ok: entry 3 is in {ORIGIN!r} at size 8\n"
    assert ok(as_json).json() == {"ok": True, "leaf_index": 3, "tree_size": 8, "origin": ORIGIN}


def test_prove_inclusion_at_an_older_size(proved: Proved, tmp_path: Path) -> None:
    at5, at3 = (
        ok(run).json()
        for run in vestige_all(
            proved.home.path,
            ["prove", "inclusion", "2", "--size", "5", "--json"],
            ["prove", "inclusion", "1", "--size", "3", "--json"],  # no stored checkpoint at 3
        )
    )
    assert (at5["leaf_index"], at5["tree_size"]) == (2, 5)
    assert at5["proof"] == [b64(h) for h in audit_path(2, LEAVES[:5])]
    assert at5["checkpoint"] == proved.cp5["note"]
    assert (at3["leaf_index"], at3["tree_size"]) == (1, 3)
    assert at3["proof"] == [b64(h) for h in audit_path(1, LEAVES[:3])]
    note = parse_checkpoint(at3["checkpoint"])
    assert (note.origin, note.size, note.root) == (ORIGIN, 3, mth(LEAVES[:3]))
    assert signed_by(note, parse_vkey(proved.home.key))

    files = []
    for name, doc in (("at5.json", at5), ("at3.json", at3)):
        files.append(tmp_path / name)
        files[-1].write_text(json.dumps(doc))
    runs = vestige_all(
        proved.home.path, *(["verify-proof", str(f), "--key", proved.home.key] for f in files)
    )
    assert [ok(r).out for r in runs] == [
        f"ok: entry 2 is in {ORIGIN!r} at size 5\n",
        f"ok: entry 1 is in {ORIGIN!r} at size 3\n",
    ]


def _flip(text: str, index: int) -> str:
    raw = bytearray(unb64(text))
    raw[index] ^= 0x01
    return b64(bytes(raw))


def _replace_line(note: str, number: int, line: str) -> str:
    lines = note.split("\n")
    lines[number] = line
    return "\n".join(lines)


def _flip_signature(note: str) -> str:
    lines = note.split("\n")
    prefix, encoded = lines[4].rsplit(" ", 1)
    lines[4] = f"{prefix} {_flip(encoded, 10)}"  # in the signature, not the key ID
    return "\n".join(lines)


def _rehashed(doc: dict[str, Any]) -> dict[str, Any]:
    canonical = bytearray(unb64(doc["canonical"]))
    canonical[2] ^= 0x01
    return {
        **doc,
        "canonical": b64(bytes(canonical)),
        "leaf_hash": b64(leaf_hash(bytes(canonical))),
    }


TAMPERS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "canonical-byte": (lambda d: {**d, "canonical": _flip(d["canonical"], 2)}, "leaf hash"),
    "canonical-and-leaf-hash": (_rehashed, "not proved"),
    "first-proof-element": (
        lambda d: {**d, "proof": [_flip(d["proof"][0], 0), *d["proof"][1:]]},
        "not proved",
    ),
    "last-proof-element": (
        lambda d: {**d, "proof": [*d["proof"][:-1], _flip(d["proof"][-1], 31)]},
        "not proved",
    ),
    "proof-element-dropped": (lambda d: {**d, "proof": d["proof"][:-1]}, "not proved"),
    "leaf-index-down": (lambda d: {**d, "leaf_index": 5}, "not proved"),
    "leaf-index-up": (lambda d: {**d, "leaf_index": 7}, "not proved"),
    "tree-size": (lambda d: {**d, "tree_size": 7}, "size"),
    "checkpoint-root": (
        lambda d: {**d, "checkpoint": _replace_line(d["checkpoint"], 2, b64(mth(LEAVES[:7])))},
        "does not verify",
    ),
    "checkpoint-size": (
        lambda d: {**d, "checkpoint": _replace_line(d["checkpoint"], 1, "9")},
        "does not verify",
    ),
    "checkpoint-origin": (
        lambda d: {**d, "checkpoint": _replace_line(d["checkpoint"], 0, "other.example/log")},
        "does not verify",
    ),
    "checkpoint-signature": (
        lambda d: {**d, "checkpoint": _flip_signature(d["checkpoint"])},
        "does not verify",
    ),
}


def test_verify_proof_accepts_the_untouched_proof(proved: Proved, tmp_path: Path) -> None:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proved.proof6))
    run = ok(vestige(proved.home.path, "verify-proof", str(path), "--key", proved.home.key))
    assert run.out == f"ok: entry 6 is in {ORIGIN!r} at size 8\n"


@pytest.mark.parametrize(("tamper", "reason"), TAMPERS.values(), ids=TAMPERS.keys())
def test_verify_proof_refuses_an_altered_proof(
    proved: Proved,
    tmp_path: Path,
    tamper: Callable[[dict[str, Any]], dict[str, Any]],
    reason: str,
) -> None:
    altered = tamper(dict(proved.proof6))
    assert altered != proved.proof6
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(altered))
    run = vestige(proved.home.path, "verify-proof", str(path), "--key", proved.home.key, "--json")
    assert run.code == 1, (run.out, run.err)
    doc = run.json()
    assert doc["ok"] is False
    assert reason in doc["reason"]


def test_verify_proof_refuses_another_key(proved: Proved, tmp_path: Path) -> None:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proved.proof6))
    # Same name, different key: the signature line does not match it.
    other = Signer.generate(ORIGIN).verifier.encode()
    plain, as_json = vestige_all(
        proved.home.path,
        ["verify-proof", str(path), "--key", other],
        ["verify-proof", str(path), "--key", other, "--json"],
    )
    assert (plain.code, plain.out, "Traceback" in plain.err) == (1, "", False)
    assert plain.err.startswith("INVALID: ")
    assert as_json.code == 1
    assert as_json.json() == {"ok": False, "reason": f"checkpoint is not signed by {other}"}


# -- consistency proofs ---------------------------------------------------------------------


def test_prove_consistency(proved: Proved) -> None:
    doc, from3, same = (
        ok(run).json()
        for run in vestige_all(
            proved.home.path,
            ["prove", "consistency", "5", "8", "--json"],
            ["prove", "consistency", "3", "8", "--json"],
            ["prove", "consistency", "8", "8", "--json"],
        )
    )
    assert list(doc) == ["old_size", "new_size", "proof"]
    assert (doc["old_size"], doc["new_size"]) == (5, 8)
    proof = [unb64(p) for p in doc["proof"]]
    assert proof == consistency_path(5, LEAVES)
    old_root = unb64(proved.cp5["root"])
    new_root = unb64(proved.cp8["root"])
    assert parse_checkpoint(proved.cp5["note"]).root == old_root
    assert parse_checkpoint(proved.cp8["note"]).root == new_root
    assert merkle.verify_consistency(5, 8, old_root, new_root, proof)
    assert not merkle.verify_consistency(5, 8, new_root, old_root, proof)

    proof3 = [unb64(p) for p in from3["proof"]]
    assert (from3["old_size"], from3["new_size"], proof3) == (3, 8, consistency_path(3, LEAVES))
    assert merkle.verify_consistency(3, 8, mth(LEAVES[:3]), new_root, proof3)
    assert same == {"old_size": 8, "new_size": 8, "proof": []}


# -- usage errors ---------------------------------------------------------------------------


def test_verify_proof_of_a_missing_file(proved: Proved, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    run = vestige(proved.home.path, "verify-proof", str(missing), "--key", proved.home.key)
    line = one_line_error(run)
    assert str(missing) in line


def test_verify_proof_of_a_file_that_is_not_json(proved: Proved, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("not json\n")
    line = one_line_error(vestige(proved.home.path, "verify-proof", str(path), "--key", "k"))
    assert "is not JSON" in line


def test_append_of_a_missing_file(home: Home, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    line = one_line_error(vestige(home.path, "append", str(missing)))
    assert line.startswith(f"error: cannot read {missing}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prove", "inclusion", "8"], "error: entry 8 is not in a tree of size 8"),
        (["prove", "inclusion", "9"], "error: entry 9 is not in a tree of size 8"),
        (["prove", "inclusion", "1", "--size", "9"], "error: entry 1 is not in a tree of size 9"),
        (["prove", "consistency", "0", "8"], "error: no consistency proof from 0 to 8"),
        (["prove", "consistency", "5", "9"], "error: no consistency proof from 5 to 9"),
        (["prove", "consistency", "6", "5"], "error: no consistency proof from 6 to 5"),
    ],
)
def test_proofs_outside_the_ledger(proved: Proved, args: list[str], message: str) -> None:
    assert one_line_error(vestige(proved.home.path, *args)).startswith(message)


BEFORE_INIT = [
    ["append", "{data}"],
    ["checkpoint"],
    ["verify"],
    ["keys", "show"],
    ["keys", "rotate"],
    ["prove", "inclusion", "0"],
    ["prove", "consistency", "1", "1"],
]


@pytest.mark.parametrize("home_exists", [False, True], ids=["no-home", "empty-home"])
@pytest.mark.parametrize("args", BEFORE_INIT, ids=" ".join)
def test_commands_before_init(tmp_path: Path, args: list[str], home_exists: bool) -> None:
    home = tmp_path / "home"
    if home_exists:
        home.mkdir()
    data = write_lines(tmp_path / "in.jsonl", LINES_A[:1])
    run = vestige(home, *(a.replace("{data}", str(data)) for a in args))
    assert (run.code, "Traceback" in run.err) == (2, False), run.err
    assert run.out == ""
    assert run.err.startswith("error: ")
    assert "vestige init" in " ".join(run.err.split())  # the hint, however the line wraps


# -- erase -----------------------------------------------------------------------------------


def test_erase_end_to_end(home: Home, tmp_path: Path) -> None:
    secret = b"AKIAIOSFODNN7EXAMPLE-wJalrXUtnFEMI"
    lines = [b'{"n": 0}', b'{"n": 1, "leaked": "' + secret + b'"}', b'{"n": 2}']
    ok(vestige(home.path, "append", str(write_lines(tmp_path / "in.jsonl", lines))))
    refused = vestige(home.path, "erase", "1", "--reason", " ")
    assert "reason" in one_line_error(refused)
    erased = ok(vestige(home.path, "erase", "1", "--reason", "leaked key", "--json")).json()
    removed = hashlib.sha256(jcs(lines[1])).hexdigest()
    assert erased == {"seq": 1, "erasure_seq": 3, "removed_sha256": removed, "size": 4,
                      "flushed": True}  # fmt: skip
    assert secret not in (home.path / "ledger.db").read_bytes()
    again = vestige(home.path, "erase", "1", "--reason", "again")
    assert "already erased" in one_line_error(again)
    verified = ok(vestige(home.path, "verify", "--json")).json()
    assert (verified["ok"], verified["size"], verified["erased"]) == (True, 4, 1)
    assert "(1 erased)" in ok(vestige(home.path, "verify")).out
    proof = ok(vestige(home.path, "prove", "inclusion", "1", "--json")).json()
    assert unb64(proof["leaf_hash"]) == leaf_hash(jcs(lines[1]))  # the leaf hash stays
    erasure = json.loads(unb64(proof["erased"]["erasure"]["canonical"]))["vestige_erasure"]
    user = erasure["requested_by"]
    assert user and (erasure["reason"], erasure["seq"]) == ("leaked key", 1)
    path = tmp_path / "proof1.json"
    path.write_text(json.dumps(proof))
    checked = ok(vestige(home.path, "verify-proof", str(path), "--key", home.key, "--json"))
    assert checked.json()["erased"] == {
        "erasure_seq": 3, "verified": True, "seq": 1, "removed_sha256": removed,
        "reason": "leaked key", "requested_by": user, "erased_at": erasure["erased_at"],
    }  # fmt: skip
    plain = ok(vestige(home.path, "verify-proof", str(path), "--key", home.key)).out
    assert "ERASED by entry 3" in plain and "'leaked key'" in plain
