"""A trace in a Jupyter cell: a short header (protocol, verdict, length, why) over the step viewer of
`checker.trace.html`, which sits in an `<iframe srcdoc>` so that its ids, styles and script cannot clash
with the notebook's or with another trace's in the same notebook. Nothing is fetched: the page inside
is self-contained, so the output works offline. Imports the trace layer only.
"""

from __future__ import annotations

import html
import json

from .format import Trace
from .html import to_html
from .msc import chart

ROW_PX = 48  # about one step of the chart, at the viewer's scale
MIN_PX, MAX_PX = 460, 760  # the frame's height: room for the state cards, never taller than a screen

# the header above the frame says what the viewer's own header says: hide that one, and give its room to the chart
_INNER_CSS = "<style>body > header { display: none; } main { height: calc(100vh - 46px); }</style>"
_CSS = ("font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 14px; "
        "line-height: 1.45; margin: 0 0 6px")


def frame_height(trace: Trace) -> int:
    """The iframe's height in pixels: grows with the number of steps, between MIN_PX and MAX_PX."""
    return max(MIN_PX, min(MAX_PX, 260 + ROW_PX * len(trace.steps)))


def why_lines(trace: Trace) -> list[str]:
    """What the trace shows beyond its verdict, as plain text lines: the fields and the instance that make
    the property fail, the recorded reason, and where a lasso's cycle starts."""
    lines = []
    because = chart(trace).because
    if because:
        lines.append(f"Why: {because}")
    if trace.reason:
        lines.append(trace.reason)
    loop = trace.extra.get("loop")
    if isinstance(loop, int) and not isinstance(loop, bool):
        lines.append(f"A lasso: from step {loop} on, the steps repeat forever (the last one returns to the state "
                     f"of step {loop}).")
    return lines


def verdict_text(trace: Trace) -> str:
    """"violated: Consistent" for a violation with a named property, else the verdict alone."""
    return f"{trace.verdict}: {trace.property}" if trace.property else trace.verdict


def trace_html(trace: Trace) -> str:
    """An HTML fragment for a notebook cell: the header, then the viewer page in a sandboxed iframe
    (scripts allowed, nothing else: no network, no access to the notebook).

    `Trace._repr_html_` returns it, so a trace that is the value of a cell shows like this::

        Trace.load("counterexamples/two_phase_commit_early_commit.json")   # in a notebook cell
    """
    page = to_html(trace).replace("</head>", _INNER_CSS + "</head>", 1)
    steps = len(trace)
    colour = "#b00020" if trace.verdict in ("violated", "error") else "#1d1d1f"
    params = json.dumps(trace.params, sort_keys=True)
    why = "".join(f'<div class="faultcheck-why">{html.escape(line)}</div>' for line in why_lines(trace))
    spec = f" — {html.escape(trace.spec)}" if trace.spec else ""
    return (
        f'<div class="faultcheck-trace" style="{_CSS}">'
        f'<div><b>{html.escape(trace.protocol)}</b> <code>{html.escape(params)}</code></div>'
        f'<div><span style="color: {colour}; font-weight: 600">{html.escape(verdict_text(trace))}</span>'
        f' after {steps} step{"s" if steps != 1 else ""}{spec}</div>'
        f'{why}'
        f'<iframe class="faultcheck-viewer" sandbox="allow-scripts" title="{html.escape(verdict_text(trace))}" '
        f'style="width: 100%; height: {frame_height(trace)}px; border: 1px solid #ddd; border-radius: 6px; '
        f'margin-top: 6px" srcdoc="{html.escape(page, quote=True)}"></iframe>'
        f'</div>'
    )


__all__ = ["frame_height", "trace_html", "verdict_text", "why_lines"]
