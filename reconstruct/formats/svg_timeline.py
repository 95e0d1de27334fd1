"""The timeline of one report drawn as inline SVG, for the HTML page.

One horizontal lane per source with a mark per event at its time (its tooltip
gives seq, action, actor and target), events cited by findings outlined in red,
one bar per credential from issue to revocation, expiry or the window's end, and
the workspace's creation and teardown as vertical lines. Every text and attribute
value is HTML-escaped: sources and event fields are attacker-controlled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from reconstruct.formats._shared import citations, esc, parse_time
from reconstruct.model import CredentialSpan, Report

__all__ = ["timeline_svg"]

# Geometry of the SVG timeline, in CSS pixels.
_LABEL_W: Final = 190
_PLOT_W: Final = 900
_RIGHT: Final = 30
_TOP: Final = 34  # room for the time axis labels
_LANE_H: Final = 26
_TICKS: Final = 5
_LABEL_CHARS: Final = 26


@dataclass(frozen=True)
class _Scale:
    """Maps times onto the plot's x axis."""

    start: datetime
    end: datetime

    @classmethod
    def around(cls, moments: Sequence[datetime]) -> _Scale | None:
        if not moments:
            return None
        low, high = min(moments), max(moments)
        # Pad so marks at the ends are not cut in half; a single instant gets a second.
        pad = max((high - low) / 40, timedelta(seconds=1))
        try:
            return cls(low - pad, high + pad)
        except OverflowError:  # times at the ends of the calendar (year 1 or 9999)
            return cls(low, max(high, low + timedelta(microseconds=1)))

    def x(self, moment: datetime) -> float:
        moment = min(max(moment, self.start), self.end)
        share = (moment - self.start) / (self.end - self.start)
        return round(_LABEL_W + share * _PLOT_W, 2)

    def label(self, moment: datetime) -> str:
        short = self.end - self.start <= timedelta(days=1)
        return moment.strftime("%H:%M:%S" if short else "%Y-%m-%d %H:%M")


def _lane_label(text: str, y: float) -> str:
    # Long names are cut to fit the label column; the tooltip holds the whole name.
    short = text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"
    return (
        f'<text class="label" x="6" y="{y + _LANE_H * 0.65:.1f}">'
        f"<title>{esc(text)}</title>{esc(short)}</text>"
    )


def _credential_bar(credential: CredentialSpan, report: Report, scale: _Scale, y: float) -> str:
    issued = parse_time(credential.issued_at)
    revoked = parse_time(credential.revoked_at)
    expires = parse_time(credential.expires_at)
    window_start = parse_time(report.window.start)
    window_end = parse_time(report.window.end)
    start = issued or window_start or scale.start
    if revoked is not None:
        end, state, why = revoked, "revoked", f"revoked {credential.revoked_at}"
    elif expires is not None:
        end, state, why = expires, "open", f"not revoked; expires {credential.expires_at}"
    else:
        # Neither revoked nor expiring: drawn to the end of the window, still live.
        end, state, why = window_end or scale.end, "open", "not revoked; no expiry"
    x1, x2 = sorted((scale.x(start), scale.x(end)))
    width = max(x2 - x1, 2.0)  # an instant still shows
    tip = f"credential {credential.id}: issued {credential.issued_at or 'unknown'}, {why}"
    return (
        f'<g class="credential-lane" data-credential="{esc(credential.id)}">'
        + _lane_label(f"credential {credential.id}", y)
        + f'<rect class="credential {state}" x="{x1}" y="{y + 6}" width="{width:.2f}"'
        f' height="{_LANE_H - 12}"><title>{esc(tip)}</title></rect></g>'
    )


def timeline_svg(report: Report) -> str:
    """The timeline drawing, or a note when the report holds no readable time."""
    cited = citations(report)
    events = [(row, parse_time(row.time)) for row in report.timeline]
    # Credential expiry is left out: a year-long token would squeeze the events into a dot.
    texts = [report.window.start, report.window.end]
    texts += [t for c in report.credentials for t in (c.issued_at, c.revoked_at)]
    moments = [at for _, at in events if at is not None]
    moments += [at for at in map(parse_time, texts) if at is not None]
    scale = _Scale.around(moments)
    if scale is None:
        return '<p class="note">No readable times: nothing to draw.</p>'

    sources = list(dict.fromkeys(row.source for row in report.timeline))
    lanes = len(sources) + len(report.credentials)
    bottom = _TOP + lanes * _LANE_H
    width = _LABEL_W + _PLOT_W + _RIGHT
    parts = [
        f'<svg class="timeline" viewBox="0 0 {width} {bottom + 8}" width="{width}"'
        f' height="{bottom + 8}" role="img" aria-label="timeline">'
    ]

    for i in range(_TICKS):
        tick = scale.start + (scale.end - scale.start) * (i / (_TICKS - 1))
        x = scale.x(tick)
        anchor = "start" if i == 0 else "end" if i == _TICKS - 1 else "middle"
        parts.append(
            f'<line class="tick" x1="{x}" y1="{_TOP - 6}" x2="{x}" y2="{bottom}"/>'
            f'<text class="tick-label" x="{x}" y="{_TOP - 10}" text-anchor="{anchor}">'
            f"<title>{esc(tick.isoformat())}</title>{esc(scale.label(tick))}</text>"
        )

    for index, source in enumerate(sources):
        y = _TOP + index * _LANE_H
        stripe = " odd" if index % 2 else ""
        parts.append(
            f'<g class="lane" data-source="{esc(source)}">'
            f'<rect class="lane-bg{stripe}" x="0" y="{y}" width="{width}" height="{_LANE_H}"/>'
            + _lane_label(source, y)
        )
        for row, at in events:
            if row.source != source or at is None:
                continue
            codes = cited.get(row.seq, [])
            tip = (
                f"seq {row.seq} · {row.time}\naction: {row.action}\n"
                f"actor: {row.actor or '(unattributed)'}\ntarget: {row.target or '—'}"
            )
            if codes:
                tip += "\nfindings: " + ", ".join(codes)
            kind = "event cited" if codes else "event"
            parts.append(
                f'<circle class="{kind}" data-seq="{row.seq}"'
                f' cx="{scale.x(at)}" cy="{y + _LANE_H / 2}" r="5">'
                f"<title>{esc(tip)}</title></circle>"
            )
        parts.append("</g>")

    for index, credential in enumerate(report.credentials):
        parts.append(
            _credential_bar(credential, report, scale, _TOP + (len(sources) + index) * _LANE_H)
        )

    window = report.window
    for flag, text, kind in (
        (window.created, window.start, "creation"),
        (window.destroyed, window.end, "teardown"),
    ):
        line_at = parse_time(text) if flag else None
        if line_at is not None:
            x = scale.x(line_at)
            parts.append(
                f'<line class="{kind}" x1="{x}" y1="{_TOP - 4}" x2="{x}" y2="{bottom}">'
                f"<title>{kind} {esc(text)}</title></line>"
            )

    parts.append("</svg>")
    unplaced = sum(1 for _, at in events if at is None)
    if unplaced:
        parts.append(
            f'<p class="note">{unplaced} event(s) have no readable time and appear only'
            " in the table below.</p>"
        )
    return "".join(parts)
