"""The ``vestige`` command line. Exit codes: 0 ok, 1 verification failed, 2 usage or input."""

from __future__ import annotations

import base64
import getpass
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, BinaryIO, NoReturn

import orjson
import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from ledger import (
    DEFAULT_BATCH,
    IntegrityError,
    Ledger,
    Verifier,
    VestigeError,
    verify_inclusion_proof,
)
from vestige.config import Config
from vestige.lines import DEFAULT_MAX_LINE, Rejected, records

app = typer.Typer(
    help="vestige: a tamper-evident audit ledger for AI-agent workspaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Show or rotate the ledger's signing keys.", no_args_is_help=True)
prove_app = typer.Typer(help="Produce inclusion and consistency proofs.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(prove_app, name="prove")

err = Console(stderr=True, soft_wrap=True)
_state: dict[str, Any] = {}

JsonFlag = Annotated[bool, typer.Option("--json", help="Print a JSON document.")]


def _config() -> Config:
    config = _state.get("config")
    if not isinstance(config, Config):
        raise RuntimeError("the CLI callback did not run")
    return config


def _ledger() -> Ledger:
    return _config().ledger()


def _print_json(document: object) -> None:
    sys.stdout.write(orjson.dumps(document).decode() + "\n")


# What a terminal would act on rather than show: C0 and C1 controls (ESC starts the
# sequences that move the cursor or rewrite the screen), DEL, line and paragraph
# separators, and the Unicode bidirectional controls that reorder what is shown
# (Trojan Source, CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def printable(text: object, keep_newlines: bool = False) -> str:
    """``text`` safe to show on a terminal: every control character escaped, so an
    attacker's string stays on its line and cannot repaint the screen or reorder text."""
    if keep_newlines:
        return "\n".join(printable(line) for line in str(text).split("\n"))
    return _UNSAFE.sub(_escape, str(text))


def print_row(*fields: object) -> None:
    """One line of tab-separated text output, each field escaped (a tab inside a field too)."""
    print("\t".join(printable(field) for field in fields))


@contextmanager
def _progress(label: str, total: int | None = None) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal; nothing when stderr is not one."""
    if not err.is_terminal:
        yield None
        return
    columns = (
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def verification_failed(exc: VestigeError, as_json: bool) -> NoReturn:
    """Report a failed check (``{"ok": false, "reason"}`` with --json) and exit 1."""
    if as_json:
        _print_json({"ok": False, "reason": str(exc)})
    else:
        err.print(printable(f"INVALID: {exc}"), markup=False)
    raise typer.Exit(1)


@app.callback()
def main_options(
    home: Annotated[
        Path | None, typer.Option(help="Keys and default store [env: VESTIGE_HOME; ./.vestige]")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="Store: a SQLite path or postgresql://… [env: VESTIGE_DB]"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Tracebacks on errors.")] = False,
) -> None:
    # Everything vestige writes (the SQLite store and the -wal/-shm files SQLite makes
    # later, the witness, salts, tokens, reports) is for its owner only.
    os.umask(0o077)
    _state["config"] = Config.resolve(home, db)
    _state["verbose"] = verbose


@app.command()
def init(
    origin: Annotated[
        str, typer.Option(help="The log's origin line in its checkpoints.")
    ] = "vestige.local/ledger",
) -> None:
    """Create the store and a signing key; print the verifier key."""
    config = _config()
    ledger = Ledger.init(config.ledger().store, config.home, origin)
    _owner_only(config.home)
    err.print(printable(f"ledger {ledger.origin!r} ready in {config.db}"), markup=False)
    print(ledger.keys.verifiers()[-1].encode())


def _owner_only(home: Path) -> None:
    """Tighten a home that others can read, when it is ours; warn when it is not."""
    info = home.stat()
    if info.st_mode & 0o077 == 0:
        return
    if info.st_uid == os.getuid():
        home.chmod(0o700)
        err.print(printable(f"made {home} private (mode 0700)"), markup=False)
    else:
        err.print(printable(f"warning: {home} is readable by others and not ours to change"),
                  markup=False)  # fmt: skip


@app.command()
def append(
    file: Annotated[str, typer.Argument(help="JSON lines, or - for standard input.")],
    as_json: JsonFlag = False,
    key_field: Annotated[
        str | None,
        typer.Option(help="Member whose value is the idempotency key (default: the content)."),
    ] = None,
    max_line_bytes: Annotated[int, typer.Option(help="Longest line accepted.")] = DEFAULT_MAX_LINE,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Entries per atomic batch.")
    ] = DEFAULT_BATCH,
) -> None:
    """Append each JSON object of FILE as one entry; bad lines are reported, not appended."""
    ledger = _ledger()
    rejected: list[Rejected] = []
    with _open_input(file) as stream, _progress("appending") as progress:
        result = ledger.append(
            records(stream, max_line_bytes, key_field, rejected), batch_size, progress
        )
    for bad in rejected:
        err.print(printable(f"line {bad.line}: {bad.error}"), markup=False, highlight=False)
    root = base64.b64encode(result.root).decode()
    if as_json:
        _print_json(
            {
                "appended": result.appended,
                "duplicates": result.duplicates,
                "rejected": [{"line": bad.line, "error": bad.error} for bad in rejected],
                "size": result.size,
                "root": root,
            }
        )
    else:
        print(f"appended {result.appended} ({result.duplicates} already present, "
              f"{len(rejected)} rejected); size {result.size}, root {root}")  # fmt: skip
    if rejected:
        raise typer.Exit(2)


@contextmanager
def _open_input(file: str) -> Iterator[BinaryIO]:
    if file == "-":
        yield sys.stdin.buffer
        return
    try:
        with open(file, "rb") as stream:
            yield stream
    except OSError as exc:
        raise VestigeError(f"cannot read {file}: {exc.strerror}") from None


@keys_app.command("show")
def keys_show() -> None:
    """Print the verifier keys in signed-note form, current first."""
    for verifier in reversed(_ledger().keys.verifiers()):
        print(verifier.encode())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key, announced in the ledger by the current one."""
    print(_ledger().rotate_key().encode())


@app.command()
def checkpoint(as_json: JsonFlag = False) -> None:
    """Sign a checkpoint of the head if it has none; print the latest checkpoint note."""
    latest = _ledger().checkpoint()
    if as_json:
        root = base64.b64encode(latest.root).decode()
        _print_json({"size": latest.size, "root": root, "note": latest.note})
    else:
        sys.stdout.write(latest.note)


@app.command()
def verify(
    as_json: JsonFlag = False,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="A checkpoint note kept elsewhere (repeatable)."),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="Trust this verifier key instead of the home's (repeatable)."),
    ] = None,
) -> None:
    """Replay the whole ledger: chain, tree, nodes, checkpoints and key rotations."""
    ledger = _ledger()
    anchors = [Verifier.parse(text) for text in key or []]
    notes = [_read_text(path) for path in checkpoint or []]
    try:
        with _progress("verifying") as progress:
            result = ledger.verify(anchors, notes, progress)
    except IntegrityError as exc:
        if as_json:
            _print_json({"ok": False, "first_bad_seq": exc.seq, "reason": exc.reason})
        else:
            err.print(printable(f"TAMPERED: first bad entry {exc.seq}: {exc.reason}"), markup=False)
        raise typer.Exit(1) from None
    root = base64.b64encode(result.root).decode()
    if as_json:
        _print_json(
            {
                "ok": True,
                "size": result.size,
                "root": root,
                "checkpoints": result.checkpoints,
                "keys": [v.encode() for v in result.keys],
                "erased": result.erased,
            }  # fmt: skip
        )
    else:
        print(f"ok: {result.size} entries ({result.erased} erased), "
              f"{result.checkpoints} checkpoints verified; root {root}")  # fmt: skip


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VestigeError(f"cannot read {path}: {exc}") from None


@prove_app.command("inclusion")
def prove_inclusion(
    seq: int,
    size: Annotated[
        int | None, typer.Option(help="Tree size (default: latest checkpoint).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove that entry SEQ is in the signed tree."""
    _print_proof(_ledger().prove_inclusion(seq, size).to_json(), as_json)


@prove_app.command("consistency")
def prove_consistency(old: int, new: int, as_json: JsonFlag = False) -> None:
    """Prove that the tree of size NEW extends the tree of size OLD."""
    _print_proof(_ledger().prove_consistency(old, new).to_json(), as_json)


def _print_proof(document: dict[str, object], as_json: bool) -> None:
    """One line with --json (to save as a file); indented for a person otherwise."""
    if as_json:
        _print_json(document)
    else:
        print(json.dumps(document, indent=2))


@app.command("verify-proof")
def verify_proof(
    file: Annotated[Path, typer.Argument(help="Output of `vestige prove inclusion --json`.")],
    key: Annotated[str, typer.Option("--key", help="The ledger's verifier key.")],
    as_json: JsonFlag = False,
) -> None:
    """Check an inclusion proof offline, with only the file and the public key."""
    try:
        document = json.loads(_read_text(file))
    except json.JSONDecodeError as exc:
        raise VestigeError(f"{file} is not JSON: {exc}") from None
    try:
        checked = verify_inclusion_proof(document, Verifier.parse(key))
    except VestigeError as exc:
        verification_failed(exc, as_json)
    cp, tombstone, erasure = checked.checkpoint, checked.tombstone, checked.erasure
    if as_json:
        checked_json: dict[str, object] = {"ok": True, "leaf_index": document["leaf_index"],
                                           "tree_size": cp.size, "origin": cp.origin}  # fmt: skip
        if tombstone is not None:  # present only for an erased entry
            checked_json["erased"] = {"erasure_seq": tombstone.erasure_seq,
                                      "verified": erasure is not None,
                                      **(erasure.facts() if erasure else {})}  # fmt: skip
        _print_json(checked_json)
        return
    print(printable(f"ok: entry {document['leaf_index']} is in {cp.origin!r} at size {cp.size}"))
    if tombstone is None:
        return
    how = (
        "which is not in this tree"
        if erasure is None
        else f"at {erasure.erased_at}, requested by {erasure.requested_by!r}: {erasure.reason!r}"
    )
    print(printable(f"ERASED by entry {tombstone.erasure_seq} ({how}); only its leaf hash "
                    "is proved, its bytes are gone"), flush=True)  # fmt: skip


@app.command()
def erase(
    seq: Annotated[int, typer.Argument(help="The entry whose bytes to remove.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the signed erasure entry).")],
    requested_by: Annotated[
        str | None, typer.Option(help="Who asked for it [default: the OS user].")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace entry SEQ's bytes by a tombstone under a signed erasure entry; proofs stay."""
    result = _ledger().erase(seq, reason, requested_by or getpass.getuser())
    if as_json:
        _print_json({"seq": result.seq, "erasure_seq": result.erasure_seq,
                     "removed_sha256": result.removed_sha256, "size": result.size,
                     "flushed": result.flushed})  # fmt: skip
    else:
        print(f"erased entry {result.seq} by erasure entry {result.erasure_seq} "
              f"(removed sha256 {result.removed_sha256}); size {result.size}")  # fmt: skip
    if not result.flushed:
        err.print("note: a reader kept SQLite's write-ahead log busy; the removed bytes may "
                  "linger in it until its next checkpoint")  # fmt: skip


from vestige import cli_ingest, cli_reconstruct  # noqa: E402, F401  # register their commands


def main() -> None:
    try:
        app()
    except (VestigeError, SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
        if _state.get("verbose"):
            raise
        message = str(exc) if isinstance(exc, VestigeError) else f"database: {exc}"
        first = message.splitlines()[0] if message else ""
        err.print(printable(f"error: {first}"), markup=False, highlight=False)
        sys.exit(2)
