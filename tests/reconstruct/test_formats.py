"""Report formats: each renders a hand-built report whose event fields are hostile."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pandas as pd
import pytest

from ledger import InputError, canonicalize
from reconstruct.formats import FORMATS, Format
from reconstruct.formats.csv_table import neutralize
from reconstruct.formats.html_page import CSP
from reconstruct.model import (
    Anchors,
    Code,
    CredentialSpan,
    EvidenceBundle,
    EvidenceEntry,
    Finding,
    Report,
    ReportSignature,
    Severity,
    TaskRecordAnchor,
    TimelineRow,
    Verdict,
    Window,
)

SCRIPT = "<script>alert(1)</script>"
PIPE_TARGET = "acme/app|main\nforged | row"
FORMULA = '=HYPERLINK("https://evil.example/x","click")'
IMG = "<img src=https://evil.example/p.png>"
QUOTED_SOURCE = 'github" onload="steal()'  # would add an attribute if left unescaped
COLUMNS = [
    "workspace",
    "seq",
    "time",
    "source",
    "actor",
    "action",
    "target",
    "outcome",
    "risk",
    "why",
    "finding_codes",
    "erased_at",  # empty unless the entry was erased
]


def _row(
    seq: int,
    minute: int,
    source: str,
    actor: str | None,
    action: str,
    target: str | None,
    outcome: str = "success",
    risk: list[str] | None = None,
    why: list[str] | None = None,
) -> TimelineRow:
    return TimelineRow(
        seq=seq,
        time=f"2025-03-01T10:{minute:02d}:00.000000Z",
        source=source,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        risk=risk or [],
        why=why or ["workspace: ws-42"],
    )


def make_report(workspace: str = "ws-42") -> Report:
    return Report(
        workspace=workspace,
        generated_at="2025-03-02T00:00:00.000000Z",
        window=Window(
            start="2025-03-01T10:00:00.000000Z",
            end="2025-03-01T10:30:00.000000Z",
            created=True,
            destroyed=True,
        ),
        anchors=Anchors(
            ticket="ENG-1",
            repo="acme/app",
            branch="agent/eng-1",
            task_record=TaskRecordAnchor(
                present=True, seq=1, signed=True, signature_valid=False, signer="ab12cd34"
            ),
        ),
        timeline=[
            _row(1, 0, "lifecycle", "orchestrator", "workspace.create", workspace),
            _row(2, 1, "vault", "agent-7", "token.issue", "token-a"),
            _row(3, 5, QUOTED_SOURCE, "agent-7", SCRIPT, PIPE_TARGET),
            _row(4, 10, QUOTED_SOURCE, None, "git.push", FORMULA),
            _row(5, 30, "lifecycle", "orchestrator", "workspace.destroy", workspace),
            _row(
                6,
                40,
                "vault",
                "agent-7",
                "secret.read",
                IMG,
                outcome="@SUM(1+1)",
                risk=["high", "exfil"],
                why=["actor: agent-7", "credential: token-a"],
            ),
        ],
        credentials=[
            CredentialSpan(
                id="token-a",
                issued_at="2025-03-01T10:01:00.000000Z",
                expires_at="2025-03-01T11:01:00.000000Z",
                revoked_at=None,
                seqs=[2],
            ),
            CredentialSpan(
                id="token-b",
                issued_at="2025-03-01T10:02:00.000000Z",
                expires_at=None,
                revoked_at="2025-03-01T10:29:00.000000Z",
                seqs=[7, 8],
            ),
        ],
        findings=[
            # Listed least severe first: every human format must put critical first.
            Finding(
                code=Code.UNATTRIBUTED_ACTION,
                severity=Severity.MEDIUM,
                seqs=[4],
                explanation="push by nobody | who?",
            ),
            Finding(
                code=Code.ACTION_AFTER_TEARDOWN,
                severity=Severity.CRITICAL,
                seqs=[6],
                explanation=f"read after teardown {SCRIPT}",
            ),
            Finding(
                code=Code.CREDENTIAL_NOT_REVOKED,
                severity=Severity.HIGH,
                seqs=[2, 6],
                explanation="token-a was never revoked",
            ),
        ],
        verdict=Verdict(recreatable=False, reasons=["critical finding ACTION_AFTER_TEARDOWN"]),
        policy={"max_credential_ttl_s": 3600, "ratio": 0.5, "names": ["a", "b"]},
        evidence=EvidenceBundle(
            checkpoint="example.org/log\n6\nAAAA\n",
            tree_size=6,
            entries=[EvidenceEntry(seq=1, canonical="e30=", leaf_hash="AAAA", proof=[])],
        ),
        signature=ReportSignature(key_id="0a1b2c3d", value="c2ln"),
    )


REPORT = make_report()


def test_formats_have_unique_names_and_suffixes() -> None:
    formats = list(FORMATS.values())
    assert {f.name for f in formats} == {"json", "md", "html", "csv", "parquet", "timesketch"}
    assert all(isinstance(f, Format) and FORMATS[f.name] is f for f in formats)
    assert len({f.name for f in formats}) == len(formats)
    assert len({f.suffix for f in formats}) == len(formats)
    assert FORMATS["timesketch"].suffix == ".jsonl"  # Timesketch refuses other names


# --- json ---


def test_json_is_the_canonical_signed_form() -> None:
    out = FORMATS["json"].render([REPORT])
    dumped = REPORT.model_dump(mode="json", by_alias=True)
    assert out == canonicalize(dumped) + b"\n"
    assert json.loads(out) == dumped
    assert json.loads(out)["schema"] == "vestige.report.v1"
    assert Report.model_validate(json.loads(out)) == REPORT


def test_json_several_reports_are_one_canonical_report_per_line() -> None:
    other = make_report("ws-43")
    lines = FORMATS["json"].render([REPORT, other]).split(b"\n")
    assert lines[-1] == b""
    assert lines[:-1] == [
        canonicalize(r.model_dump(mode="json", by_alias=True)) for r in (REPORT, other)
    ]


# --- markdown ---


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_puts_findings_first_and_escapes_cells() -> None:
    text = FORMATS["md"].render([REPORT]).decode()
    assert text.startswith("# Workspace ws-42: NOT RECREATABLE")
    findings_at = text.index("## Findings (3)")
    timeline_at = text.index("## Timeline (6 events)")
    assert findings_at < text.index("## Anchors") < timeline_at

    findings = text[findings_at : text.index("## Anchors")]
    finding_rows = [line for line in findings.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[1] for row in finding_rows[1:]] == [
        "ACTION_AFTER_TEARDOWN",
        "CREDENTIAL_NOT_REVOKED",
        "UNATTRIBUTED_ACTION",
    ]
    assert "push by nobody \\| who?" in text

    # The hostile pipe and newline stay inside their cell: every row has the header's cells.
    table = [line for line in text[timeline_at:].splitlines() if line.startswith("|")]
    assert len(table) == 2 + 6
    assert {_unescaped_pipes(line) for line in table} == {11}
    assert "acme/app\\|main<br>forged \\| row" in text
    # CommonMark reads "\\<" as a literal "<": the only raw HTML is our own <br>.
    assert "\\<script\\>alert(1)\\</script\\>" in text
    assert re.findall(r"(?<!\\)<[^>]*>", text) == ["<br>"]


def test_markdown_several_reports_have_an_index() -> None:
    text = FORMATS["md"].render([REPORT, make_report("ws|43")]).decode()
    assert text.startswith("# vestige reconstruction: 2 workspaces")
    assert "- ws\\|43: NOT RECREATABLE, 3 findings" in text
    assert text.count("\n## Workspace ") == 2


# --- html ---


class _Page(HTMLParser):
    """Every element with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def having(self, tag: str, cls: str) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and cls in (attrs.get("class") or "").split()
        ]


def _page(reports: list[Report]) -> tuple[str, _Page]:
    text = FORMATS["html"].render(reports).decode()
    page = _Page()
    page.feed(text)
    page.close()
    return text, page


def test_html_escapes_hostile_text_and_loads_nothing() -> None:
    text, page = _page([REPORT])
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the action
    assert "read after teardown &lt;script&gt;" in text  # the explanation
    assert "&lt;img src=https://evil.example/p.png&gt;" in text  # the target, as text

    tags = {tag for tag, _ in page.elements}
    assert not tags & {"script", "img", "link", "iframe", "object", "embed", "base", "image"}
    for _, attrs in page.elements:
        assert "src" not in attrs
        assert not [name for name in attrs if name.startswith("on")]  # no event handler
        href = attrs.get("href")
        assert href is None or href.startswith("#")
    assert "url(" not in text
    metas = [attrs for tag, attrs in page.elements if tag == "meta"]
    assert {"http-equiv": "Content-Security-Policy", "content": CSP} in metas
    assert CSP == "default-src 'none'; style-src 'unsafe-inline'"

    # Every in-page link lands on an element of the page.
    ids = {attrs["id"] for _, attrs in page.elements if attrs.get("id")}
    links = {attrs["href"] for _, attrs in page.elements if attrs.get("href")}
    assert links and {link[1:] for link in links if link} <= ids


def test_html_draws_lanes_credentials_cited_events_and_teardown() -> None:
    text, page = _page([REPORT])
    lanes = page.having("g", "lane")
    assert [lane["data-source"] for lane in lanes] == ["lifecycle", "vault", QUOTED_SOURCE]

    bars = page.having("rect", "credential")
    assert len(bars) == 2
    assert [b["class"] for b in bars] == ["credential open", "credential revoked"]
    assert [g["data-credential"] for g in page.having("g", "credential-lane")] == [
        "token-a",
        "token-b",
    ]

    marks = page.having("circle", "event")
    assert sorted(int(m["data-seq"] or "") for m in marks) == [1, 2, 3, 4, 5, 6]
    assert {int(m["data-seq"] or "") for m in page.having("circle", "cited")} == {2, 4, 6}

    teardown = page.having("line", "teardown")
    assert len(teardown) == 1
    # Drawn at 10:30, between the events of 10:10 (seq 4) and 10:40 (seq 6).
    x = {int(m["data-seq"] or ""): float(m["cx"] or "") for m in marks}
    assert x[4] < float(teardown[0]["x1"] or "") < x[6]
    assert x[5] == pytest.approx(float(teardown[0]["x1"] or ""))

    # Findings come before the drawing and the table, most severe first.
    assert text.index('id="r0-findings"') < text.index("<svg") < text.index('id="r0-seq-1"')
    severities = [f["class"] for f in page.having("tr", "finding")]
    assert severities == ["finding sev-critical", "finding sev-high", "finding sev-medium"]


def test_html_several_reports_have_an_index_and_a_section_each() -> None:
    _, page = _page([REPORT, make_report("<b>ws-43</b>")])
    sections = page.having("section", "report")
    assert [s["id"] for s in sections] == ["r0", "r1"]
    nav = [
        attrs["href"]
        for tag, attrs in page.elements
        if tag == "a"
        and attrs["href"]
        in {
            "#r0",
            "#r1",
        }
    ]
    assert nav == ["#r0", "#r1"]
    assert not [tag for tag, _ in page.elements if tag == "b"]


def test_html_draws_what_it_can_of_unreadable_and_extreme_times() -> None:
    rows = [
        REPORT.timeline[0].model_copy(update={"time": "yesterday"}),
        REPORT.timeline[1].model_copy(update={"time": "0001-01-01T00:00:00Z"}),
        REPORT.timeline[2].model_copy(update={"time": "9999-12-31T23:59:59.999999Z"}),
    ]
    _, page = _page([REPORT.model_copy(update={"timeline": rows})])
    assert sorted(int(m["data-seq"] or "") for m in page.having("circle", "event")) == [2, 3]
    assert len(page.having("tr", "row")) == 3  # the table still lists every event
    assert page.having("p", "note")


# --- csv ---


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_neutralize_prefixes_formula_starts(start: str) -> None:
    assert neutralize(start + "1+1") == "'" + start + "1+1"


def test_neutralize_leaves_plain_text() -> None:
    assert neutralize("git.push") == "git.push"
    assert neutralize(None) is None


def test_csv_reads_back_with_pandas_and_formulas_are_inert() -> None:
    out = FORMATS["csv"].render([REPORT, make_report("ws-43")])
    frame = pd.read_csv(io.BytesIO(out), keep_default_na=False)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 12
    assert list(frame["workspace"]) == ["ws-42"] * 6 + ["ws-43"] * 6
    assert list(frame["seq"]) == [1, 2, 3, 4, 5, 6] * 2

    first = frame[frame["workspace"] == "ws-42"].set_index("seq")
    assert first.at[4, "target"] == "'" + FORMULA
    assert first.at[6, "outcome"] == "'@SUM(1+1)"
    assert first.at[3, "target"] == PIPE_TARGET  # newline kept inside the quoted cell
    assert first.at[3, "action"] == SCRIPT
    assert first.at[4, "actor"] == ""
    assert first.at[6, "risk"] == "high;exfil"
    assert first.at[6, "why"] == "actor: agent-7; credential: token-a"
    assert first.at[6, "finding_codes"] == "ACTION_AFTER_TEARDOWN;CREDENTIAL_NOT_REVOKED"
    assert first.at[4, "finding_codes"] == "UNATTRIBUTED_ACTION"
    assert first.at[1, "finding_codes"] == ""

    # No cell a spreadsheet would evaluate.
    rows = list(csv.reader(io.StringIO(out.decode(), newline="")))
    assert rows[0] == COLUMNS
    for row in rows[1:]:
        assert not [cell for cell in row if cell[:1] in {"=", "+", "-", "@", "\t", "\r"}]


def test_csv_of_no_reports_is_the_header() -> None:
    assert FORMATS["csv"].render([]).decode().splitlines() == [",".join(f'"{c}"' for c in COLUMNS)]


# --- parquet ---


def test_parquet_reads_back_with_list_columns() -> None:
    frame = pd.read_parquet(io.BytesIO(FORMATS["parquet"].render([REPORT])))
    assert list(frame.columns) == COLUMNS
    assert list(frame["seq"]) == [1, 2, 3, 4, 5, 6]
    by_seq = {row["seq"]: row for row in frame.to_dict("records")}
    assert list(by_seq[6]["risk"]) == ["high", "exfil"]
    assert list(by_seq[6]["why"]) == ["actor: agent-7", "credential: token-a"]
    assert list(by_seq[6]["finding_codes"]) == [
        "ACTION_AFTER_TEARDOWN",
        "CREDENTIAL_NOT_REVOKED",
    ]
    assert list(by_seq[1]["risk"]) == []
    assert by_seq[4]["target"] == FORMULA  # typed data: no spreadsheet escaping
    assert pd.isna(by_seq[4]["actor"])


def test_parquet_of_no_reports_keeps_its_columns() -> None:
    frame = pd.read_parquet(io.BytesIO(FORMATS["parquet"].render([])))
    assert list(frame.columns) == COLUMNS
    assert frame.empty


# --- timesketch ---


def test_timesketch_lines_have_the_mandatory_fields() -> None:
    lines = FORMATS["timesketch"].render([REPORT]).decode().splitlines()
    assert len(lines) == 6
    events = [json.loads(line) for line in lines]
    for event in events:
        assert {"message", "datetime", "timestamp", "timestamp_desc"} <= event.keys()
        moment = datetime.fromisoformat(event["datetime"])
        assert moment.utcoffset() is not None
        assert isinstance(event["timestamp"], int)
        assert event["timestamp"] == round(moment.timestamp() * 1_000_000)
        assert event["timestamp_desc"] == "Event Time"
    assert events[0]["timestamp"] == 1_740_823_200_000_000  # 2025-03-01T10:00:00Z
    assert datetime.fromisoformat(events[0]["datetime"]) == datetime(2025, 3, 1, 10, tzinfo=UTC)

    by_seq = {event["seq"]: event for event in events}
    assert by_seq[2]["message"] == "agent-7 token.issue token-a"
    assert by_seq[4]["message"] == f"(unattributed) git.push {FORMULA}"
    assert by_seq[4]["actor"] is None
    assert by_seq[6]["tag"] == ["ACTION_AFTER_TEARDOWN", "CREDENTIAL_NOT_REVOKED"]
    assert by_seq[6]["finding_codes"] == by_seq[6]["tag"]
    assert by_seq[6]["risk"] == ["high", "exfil"]
    assert by_seq[1]["tag"] == []
    assert {event["workspace"] for event in events} == {"ws-42"}


def test_timesketch_refuses_an_unreadable_time() -> None:
    row = REPORT.timeline[0].model_copy(update={"time": "yesterday"})
    report = REPORT.model_copy(update={"timeline": [row]})
    with pytest.raises(InputError, match="timeline entry 1"):
        FORMATS["timesketch"].render([report])
