"""CLI commands of the reconstruction stage: reconstruct, workspaces, gaps, verify-report.

Registered on the main app by ``vestige.cli``. Exit codes: ``reconstruct`` 0 when every
workspace reported is recreatable, 1 when one is not; ``gaps`` 1 when a finding is high or
critical; ``verify-report`` 1 when the report fails; ``workspaces`` lists and exits 0; 2 for
usage or input errors everywhere. ``reconstruct`` is imported lazily:
pandas is slow to load and most commands never need it.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger import Verifier, VestigeError
from vestige.cli import (
    JsonFlag,
    _ledger,
    _print_json,
    _progress,
    app,
    err,
    print_row,
    printable,
    verification_failed,
)

if TYPE_CHECKING:
    from reconstruct import Catalog, Policy, Report


class FormatName(StrEnum):
    JSON = "json"
    MD = "md"
    HTML = "html"
    CSV = "csv"
    PARQUET = "parquet"
    TIMESKETCH = "timesketch"


PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="A TOML policy file (defaults: reconstruct/policy.toml)."),
]


def _catalog_and_policy(policy_file: Path | None) -> tuple[Catalog, Policy]:
    from reconstruct import Catalog, load_policy

    policy = load_policy(policy_file)
    ledger = _ledger()
    ledger.origin  # noqa: B018  # fails early, with advice, when there is no ledger
    catalog = Catalog.open(ledger.store)
    if catalog.size == 0:
        raise VestigeError("the ledger has no checkpoint yet: nothing to reconstruct")
    return catalog, policy


def _selected(
    catalog: Catalog, workspace: str | None, ticket: str | None, branch: str | None,
    task: str | None,
) -> list[str]:  # fmt: skip
    from reconstruct import workspaces_naming

    if workspace is not None:
        return [workspace]
    if ticket is not None:
        return workspaces_naming(catalog, "ticket", ticket)
    if task is not None:
        return workspaces_naming(catalog, "task_id", task)
    assert branch is not None  # noqa: S101  # the caller checked one selector was given
    repo, at, name = branch.rpartition("@")
    if not at or not repo or not name:
        raise VestigeError(
            f"--branch takes REPO@BRANCH (corp/payments@agent/SEC-1), not {branch!r}"
        )
    return workspaces_naming(catalog, "branch", name, repo=repo)


@app.command()
def reconstruct(
    workspace: Annotated[str | None, typer.Option(help="One workspace id.")] = None,
    ticket: Annotated[str | None, typer.Option(help="Workspaces whose task names KEY.")] = None,
    branch: Annotated[str | None, typer.Option(help="Workspaces working on REPO@BRANCH.")] = None,
    task: Annotated[str | None, typer.Option(help="The workspace of task record ID.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every workspace, as a resumable job into --out DIR.")
    ] = False,
    format_: Annotated[FormatName, typer.Option("--format", help="Report format.")] = (
        FormatName.JSON
    ),
    out: Annotated[
        Path | None, typer.Option(help="Output file (a directory with --all); default stdout.")
    ] = None,
    sign: Annotated[bool, typer.Option(help="Sign each report with the ledger's key.")] = False,
    policy_file: PolicyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Rebuild workspaces' timelines, flag every gap, and write reports with proofs."""
    from reconstruct import FORMATS, build_report, run_all

    chosen = [x for x in (workspace, ticket, branch, task) if x is not None]
    if len(chosen) + all_ != 1:
        raise typer.BadParameter(
            "give exactly one of --workspace, --ticket, --branch, --task or --all"
        )
    if format_ is FormatName.PARQUET and out is None:
        raise typer.BadParameter("parquet is binary: give --out FILE")
    ledger = _ledger()
    signer = ledger.keys.signer() if sign else None
    if all_:
        if out is None:
            raise typer.BadParameter("--all writes one report per workspace: give --out DIR")
        catalog, policy = _catalog_and_policy(policy_file)
        with _progress("reconstructing (workspaces)", len(catalog.workspaces())) as bar:
            update = (lambda done, total: bar(done)) if bar else None
            summary = run_all(ledger, out, policy, format_.value, signer, update)
        document = {
            "job": summary.job_id,
            "resumed": summary.resumed,
            "tree_size": summary.tree_size,
            "workspaces": summary.total,
            "written": summary.written,
            "recreatable": summary.recreatable,
            "findings": summary.findings,
            "index": str(summary.index),
        }
        if as_json:
            _print_json(document)
        else:
            err.print(
                printable(
                    f"job {summary.job_id}: {summary.total} workspaces "
                    f"({summary.written} written now), {summary.recreatable} recreatable; "
                    f"index: {summary.index}"
                ),
                markup=False,
            )
        raise typer.Exit(0 if summary.recreatable == summary.total else 1)

    catalog, policy = _catalog_and_policy(policy_file)
    workspaces = _selected(catalog, workspace, ticket, branch, task)
    if not workspaces:
        raise VestigeError("no workspace matches")
    reports = [build_report(ws, catalog, ledger, policy, signer) for ws in workspaces]
    if not reports[0].timeline and workspace is not None:
        raise VestigeError(f"no event names workspace {workspace!r}")
    fmt = FORMATS[format_.value]
    data = fmt.render(reports)
    if out is not None:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise VestigeError(f"cannot write {out}: {exc.strerror}") from None
        err.print(printable(f"wrote {out} ({len(reports)} workspace(s))"), markup=False)
    else:
        sys.stdout.buffer.write(data)
    if as_json and out is not None:
        _print_json([_summary(r) for r in reports])
    raise typer.Exit(0 if all(r.verdict.recreatable for r in reports) else 1)


def _summary(report: Report) -> dict[str, Any]:
    from reconstruct import code_counts

    return {
        "workspace": report.workspace,
        "recreatable": report.verdict.recreatable,
        "findings": code_counts(report.findings),
        "events": len(report.timeline),
    }


@app.command()
def workspaces(as_json: JsonFlag = False, policy_file: PolicyOption = None) -> None:
    """List every workspace with its verdict and finding counts (entries are not proved here)."""
    from reconstruct import assess_workspace, code_counts

    catalog, policy = _catalog_and_policy(policy_file)
    rows = []
    for workspace in catalog.workspaces():
        result = assess_workspace(workspace, catalog, policy)
        row: dict[str, Any] = {
            "workspace": workspace,
            "recreatable": result.verdict.recreatable,
            "ticket": result.anchors.ticket,
            "branch": result.anchors.branch,
            "start": result.window.start,
            "end": result.window.end,
            "events": len(result.timeline),
            "findings": code_counts(result.findings),
        }
        rows.append(row)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        verdict = "recreatable" if row["recreatable"] else "NOT recreatable"
        codes = ", ".join(f"{c}×{n}" for c, n in sorted(row["findings"].items())) or "-"
        print_row(row["workspace"], verdict, f"{row['events']} events", codes)


@app.command()
def gaps(
    unattributed: Annotated[
        bool,
        typer.Option(help="Organisation-wide: agent actions that link to no workspace."),
    ] = False,
    as_json: JsonFlag = False,
    policy_file: PolicyOption = None,
) -> None:
    """Every finding of every workspace; with --unattributed, the organisation-wide check."""
    from reconstruct import LinkedEvent, assess_workspace
    from reconstruct import unattributed as orphaned
    from reconstruct.correlate import link

    catalog, policy = _catalog_and_policy(policy_file)
    if unattributed:
        attributed: set[int] = set()
        for workspace in catalog.workspaces():
            attributed.update(e.seq for e in link(workspace, catalog)[0])
        events = (LinkedEvent(seq, doc) for seq, doc in catalog.agent_events())
        findings = orphaned(events, attributed, policy)
        rows = [{"workspace": None, **f.model_dump(mode="json")} for f in findings]
    else:
        rows = [
            {"workspace": workspace, **finding.model_dump(mode="json")}
            for workspace in catalog.workspaces()
            for finding in assess_workspace(workspace, catalog, policy).findings
        ]
    if as_json:
        _print_json(rows)
    else:
        for row in rows:
            where = row["workspace"] or "(organisation)"
            print_row(row["severity"], row["code"], where, row["explanation"])
    high = {"high", "critical"}
    raise typer.Exit(1 if any(row["severity"] in high for row in rows) else 0)


@app.command("verify-report")
def verify_report_command(
    file: Annotated[Path, typer.Argument(help="A JSON report from `vestige reconstruct --sign`.")],
    key: Annotated[
        list[str],
        typer.Option("--key", help="The ledger's verifier key (repeatable: older keys too)."),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Check a signed report offline: signature, every inclusion proof, the verdict re-derived."""
    from reconstruct import verify_report

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise VestigeError(f"cannot read {file}: {exc.strerror}") from None
    verifiers = [Verifier.parse(text) for text in key]
    try:
        report = verify_report(data, verifiers)
    except VestigeError as exc:
        verification_failed(exc, as_json)
    document = {
        "ok": True,
        "workspace": report.workspace,
        "entries": len(report.evidence.entries),
        "tree_size": report.evidence.tree_size,
        "recreatable": report.verdict.recreatable,
        "findings": [f.code.value for f in report.findings],
    }
    if as_json:
        _print_json(document)
    else:
        verdict = "recreatable" if report.verdict.recreatable else "NOT recreatable"
        print(printable(
            f"ok: report for {report.workspace} verifies ({document['entries']} entries proved "
            f"at size {document['tree_size']}); verdict re-derived: {verdict}"
        ))  # fmt: skip
