"""CLI commands of the ingest stage: ingest, events, quarantine, trust, collectors, serve.

Registered on the main app by ``vestige.cli``; same options, output and exit codes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ingest import (
    AUTO,
    SOURCES,
    CollectorTokens,
    Context,
    Frame,
    IngestStore,
    Pipeline,
    Redactor,
    load_salt,
)
from ingest.framing import DEFAULT_MAX_RECORD, input_files
from ingest.model import KEY_KINDS, Collector
from ingest.pipeline import RETRY_HEADER, os_user
from ingest.rejections import (
    DEFAULT_UNAUTH_BYTES,
    DEFAULT_UNAUTH_RECORDS,
    DEFAULT_WINDOW_SECONDS,
)
from ledger import Verifier, VestigeError
from vestige.cli import (
    JsonFlag,
    _config,
    _ledger,
    _print_json,
    _progress,
    app,
    err,
    print_row,
    printable,
)

quarantine_app = typer.Typer(help="Records that could not be ingested.", no_args_is_help=True)
trust_app = typer.Typer(help="Signers whose task records are trusted.", no_args_is_help=True)
collectors_app = typer.Typer(help="Bearer tokens for POST /v1/events.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(trust_app, name="trust")
app.add_typer(collectors_app, name="collectors")


def _pipeline(batch_size: int = 1000, max_record_bytes: int = DEFAULT_MAX_RECORD) -> Pipeline:
    config = _config()
    ledger = _ledger()
    ledger.origin  # noqa: B018  # fails early, with advice, when there is no ledger
    return Pipeline(
        ledger,
        Redactor(load_salt(config.home)),
        batch_size=batch_size,
        max_record_bytes=max_record_bytes,
    )


def _store() -> IngestStore:
    ledger = _ledger()
    ledger.origin  # noqa: B018
    return IngestStore(ledger.store)


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help=f"{', '.join(SOURCES)} or {AUTO}.")],
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (read recursively).")],
    as_json: JsonFlag = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per atomic batch.")] = 1000,
    max_record_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest single record accepted.")
    ] = DEFAULT_MAX_RECORD,
) -> None:
    """Normalize records from files and append them; bad records go to the quarantine."""
    if source != AUTO and source not in SOURCES:
        raise VestigeError(f"unknown source {source!r}; one of: {', '.join(SOURCES)}, {AUTO}")
    for path in paths:
        if not path.exists():
            raise VestigeError(f"{path}: no such file or directory")
    pipeline = _pipeline(batch_size, max_record_bytes)
    size = sum(path.stat().st_size for path in input_files(paths))
    with _progress("ingesting (bytes read)", total=size or None) as bar:
        progress = None if bar is None else (lambda done, _total: bar(done))
        summary = pipeline.ingest_paths(source, paths, progress)
    # The correlation index is built now, not at the first search after a large ingest.
    with _progress("indexing (entries)") as bar:
        pipeline.store.catch_up(bar)
    document = summary.to_json()
    refused = [skip for skip in summary.skipped if skip.given]
    for skip in refused:  # named on the command line: an input error
        err.print(printable(f"error: {skip.path}: {skip.reason}"), markup=False, highlight=False)
    if as_json:
        _print_json(document)
    else:
        print(
            f"read {document['read']}: appended {document['appended']}, "
            f"duplicates {document['duplicates']}, quarantined {document['quarantined']}, "
            f"skipped {len(summary.skipped)}"
        )
        for name, counts in document["by_source"].items():
            print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        for skip in summary.skipped:
            print_row("  skipped", skip.path, skip.reason)
    if refused:
        raise typer.Exit(2)


def _event_row(seq: int, canonical: bytes) -> dict[str, Any]:
    doc = orjson.loads(canonical)
    keys = {kind: values for kind, values in doc["keys"].items() if values}
    return {
        "seq": seq,
        "source": doc["source"],
        "source_event_id": doc["source_event_id"],
        "occurred_at": doc["occurred_at"],
        "actor": doc["actor"],
        "action": doc["action"],
        "target": doc["target"],
        "outcome": doc["outcome"],
        "keys": keys,
        "risk": doc["risk"],
        "signature": doc["signature"],
        "receipt": doc.get("receipt"),  # absent on entries older than receipts
    }


@app.command()
def events(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(help=f"KIND=VALUE, repeatable, all must match; KIND: {', '.join(KEY_KINDS)}"),
    ] = None,
    since: Annotated[str | None, typer.Option(help="Occurred at or after (RFC 3339).")] = None,
    until: Annotated[str | None, typer.Option(help="Occurred before (RFC 3339).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List normalized events by time: the responder's search."""
    from ingest.fields import utc

    pairs = []
    for item in key or []:
        kind, sep, value = item.partition("=")
        if not sep or kind not in KEY_KINDS or not value:
            raise VestigeError(f"--key {item!r}: expected KIND=VALUE with KIND one of "
                               f"{', '.join(KEY_KINDS)}")  # fmt: skip
        pairs.append((kind, value))
    bounds = [
        None if t is None else utc(t, name) for t, name in ((since, "--since"), (until, "--until"))
    ]
    found = _store().find_events(source, pairs, bounds[0], bounds[1], limit)
    rows = [_event_row(seq, canonical) for seq, canonical in found]
    if as_json:
        _print_json({"events": rows})
        return
    for row in rows:
        actor = row["actor"].get("id") or "-"
        status = (row["signature"] or {}).get("status", "")
        risk = ",".join(row["risk"])
        print_row(row["seq"], row["occurred_at"], row["source"], row["action"],
                  row["target"] or "-", actor, row["outcome"], status, risk)  # fmt: skip


# -- quarantine ---------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    include_resolved: Annotated[
        bool, typer.Option("--all", help="Include records a retry has appended.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many records.")] = 1000,
    after: Annotated[
        int | None, typer.Option(help="Only records with a higher id (the next page).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Quarantined records: id, source, where they came from, and why; by id, a page at a time."""
    store = _store()
    rows = store.quarantined(include_resolved, limit, after)
    last = rows[-1]["id"] if rows else after
    more = store.quarantined_count(include_resolved, last) if rows else 0
    if as_json:
        _print_json({"quarantined": rows, "more": more, "next": last if more else None})
        return
    for row in rows:
        resolved = f"(appended as {row['resolved_as']})" if row["resolved_as"] else None
        fields = (row["id"], row["source"], row["origin"], row["position"], row["reason"])
        print_row(*fields, *filter(None, [resolved]))
    if more:
        print(f"… {more} more; use --after {last}")


@quarantine_app.command("show")
def quarantine_show(record_id: int, as_json: JsonFlag = False) -> None:
    """One quarantined record, with its (redacted) raw bytes."""
    row = _store().quarantined_record(record_id)
    if row is None:
        raise VestigeError(f"no quarantined record {record_id}")
    raw = bytes(row.pop("raw"))
    row["headers"] = orjson.loads(row["headers"])
    row["raw"] = raw.decode("utf-8", "backslashreplace")
    if as_json:
        _print_json(row)
        return
    for name, value in row.items():
        if name != "raw":
            print(printable(f"{name}: {value}"))
    print("raw:")
    print(printable(row["raw"], keep_newlines=True))


@quarantine_app.command("retry")
def quarantine_retry(
    record_ids: Annotated[list[int] | None, typer.Argument(help="Ids (default: all).")] = None,
    source: Annotated[
        str | None, typer.Option(help=f"Parse as this source or {AUTO} (default: as recorded).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Parse quarantined records again (after a fix, or as another source); append what passes."""
    if source is not None and source != AUTO and source not in SOURCES:
        raise VestigeError(f"unknown source {source!r}")
    pipeline = _pipeline()
    store = pipeline.store
    ids = record_ids or [row["id"] for row in store.quarantined(limit=store.quarantined_count())]
    retry = Collector(kind="retry", name="quarantine retry", user=os_user())
    results = []
    for record_id in ids:
        row = store.quarantined_record(record_id)
        if row is None:
            raise VestigeError(f"no quarantined record {record_id}")
        if row["resolved_as"]:
            results.append({"id": record_id, "status": "already appended"})
            continue
        raw = bytes(row["raw"])
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            results.append({"id": record_id, "status": "still quarantined",
                            "reason": f"invalid JSON: {exc}"})  # fmt: skip
            continue
        parse_as = source or (row["source"] if row["source"] in SOURCES else AUTO)
        headers = {**orjson.loads(row["headers"]), RETRY_HEADER: str(record_id)}
        # Received now, by the retry: the receipt says so (the first delivery failed).
        context = Context(row["origin"], headers, pipeline.trust, retry)
        is_object = isinstance(value, dict)
        frame = Frame(row["position"], value if is_object else None,
                      None if is_object else "expected a JSON object", raw)  # fmt: skip
        outcome = pipeline.ingest_values(parse_as, [frame], context, quarantine=False)[0]
        if outcome.source_event_id is not None:
            store.resolve(record_id, outcome.source_event_id)
            results.append({"id": record_id, "status": outcome.status,
                            "source_event_id": outcome.source_event_id})  # fmt: skip
        else:
            results.append({"id": record_id, "status": "still quarantined",
                            "reason": outcome.reason})  # fmt: skip
    if as_json:
        _print_json({"results": results})
    else:
        for result in results:
            print_row(*result.values())


# -- trust ----------------------------------------------------------------------


@trust_app.command("add")
def trust_add(
    verifier_key: Annotated[str, typer.Argument(help="NAME+KEYID+BASE64, as `keys show` prints.")],
) -> None:
    """Trust an Ed25519 signer of task records."""
    verifier = Verifier.parse(verifier_key)
    _store().add_trust("ed25519", verifier.encode(), key_id=verifier.key_id.hex())
    err.print(f"trusted {verifier.name} (key ID {verifier.key_id.hex()})", markup=False)


@trust_app.command("add-sigstore")
def trust_add_sigstore(
    identity: Annotated[str, typer.Argument(help="Certificate identity (e-mail or workflow URI).")],
    issuer: Annotated[str, typer.Option(help="OIDC issuer URL of that identity.")],
) -> None:
    """Trust a Sigstore identity for task records and attestations carried as bundles."""
    _store().add_trust("sigstore", identity, issuer=issuer)
    err.print(printable(f"trusted Sigstore identity {identity} from {issuer}"), markup=False)


@trust_app.command("list")
def trust_list(as_json: JsonFlag = False) -> None:
    """Trusted signers."""
    rows = _store().trust_rows()
    if as_json:
        _print_json({"trusted": rows})
        return
    for row in rows:
        print_row(row["kind"], row["value"], row["issuer"], row["added_at"])


# -- collectors and serve -------------------------------------------------------


@collectors_app.command("add")
def collectors_add(
    name: str,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="CloudEvent source (shell glob) the token may send; repeatable. None: any.",
        ),
    ] = None,
) -> None:
    """Create a collector's bearer token; it is printed once and stored only as a hash."""
    try:
        token = CollectorTokens(_config().home).add(name, source or ())
    except ValueError as exc:
        raise VestigeError(str(exc)) from None
    print(token)


@collectors_app.command("list")
def collectors_list(as_json: JsonFlag = False) -> None:
    """Collectors and the CloudEvent sources each may send (``*`` when unbound)."""
    bindings = CollectorTokens(_config().home).bindings()
    if as_json:
        _print_json({"collectors": [{"name": n, "sources": s} for n, s in bindings.items()]})
        return
    for name, sources in bindings.items():
        print_row(name, " ".join(sources) if sources else "*")


def _secret(path: Path | None, variable: str) -> bytes | None:
    """A webhook secret from a file or the environment, refused when blank.

    HMAC with an empty key is a signature anyone can compute: a blank secret would
    turn the check off while looking configured, so the collector does not start.
    """
    if path is not None:
        try:
            value = path.read_bytes()
        except OSError as exc:
            raise VestigeError(f"cannot read {path}: {exc.strerror}") from None
        where = str(path)
    else:
        text = os.environ.get(variable)
        if text is None:
            return None
        value, where = text.encode(), variable
    if not value.strip():
        raise VestigeError(f"the webhook secret in {where} is empty; refusing to start")
    return value.strip()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    github_secret_file: Annotated[
        Path | None, typer.Option(help="GitHub webhook secret [env: VESTIGE_GITHUB_SECRET].")
    ] = None,
    jira_secret_file: Annotated[
        Path | None, typer.Option(help="Jira webhook secret [env: VESTIGE_JIRA_SECRET].")
    ] = None,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="Larger bodies get 413.")] = (
        25 * 1024 * 1024
    ),
    unauth_quarantine_records: Annotated[
        int, typer.Option(min=0, help="Unauthenticated rejections stored per window.")
    ] = DEFAULT_UNAUTH_RECORDS,
    unauth_quarantine_bytes: Annotated[
        int, typer.Option(min=0, help="Bytes of them stored per window.")
    ] = DEFAULT_UNAUTH_BYTES,
    unauth_window_seconds: Annotated[
        float, typer.Option(min=1, help="The window; past its budget they are only counted.")
    ] = DEFAULT_WINDOW_SECONDS,
) -> None:
    """Run the HTTP collector: /hooks/github, /hooks/jira, /v1/events, /healthz."""
    import uvicorn

    from ingest.server import ServeConfig, create_app

    config = ServeConfig(
        github_secret=_secret(github_secret_file, "VESTIGE_GITHUB_SECRET"),
        jira_secret=_secret(jira_secret_file, "VESTIGE_JIRA_SECRET"),
        max_body=max_body_bytes,
        unauth_records=unauth_quarantine_records,
        unauth_bytes=unauth_quarantine_bytes,
        unauth_window_seconds=unauth_window_seconds,
    )
    if config.github_secret is None:
        err.print("warning: no GitHub secret; /hooks/github answers 503", markup=False)
    application = create_app(_pipeline(batch_size=1000), CollectorTokens(_config().home), config)
    uvicorn.run(application, host=host, port=port, log_level="warning")
