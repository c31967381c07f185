"""A check's result in a Jupyter cell: the outcome against what the spec expected, TLC's statistics, the
property violated and, when there is a counterexample, its trace viewer (`checker.trace.notebook`).
Offline: nothing is fetched. Imports the trace layer; only `CheckResult._repr_html_` imports this.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from ..trace.notebook import trace_html

if TYPE_CHECKING:
    from .run import CheckResult

_OK, _BAD, _UNDETERMINED = "#1b7a36", "#b00020", "#8a5a00"
_BOX = ("font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 14px; line-height: 1.45")
_TH = "text-align: left; padding: 2px 14px 2px 0; color: #555; font-weight: normal; white-space: nowrap"
_TD = "text-align: left; padding: 2px 0"


def statistics(result: CheckResult) -> list[tuple[str, str]]:
    """The rows of the statistics table, as (name, value) text: TLC's counts for a search, the states
    examined and successors for an induction check."""
    r, s = result, result.stats
    rows = [("outcome", r.outcome or r.verdict.value), ("expected", r.expected)]
    if r.property:
        rows.append(("property violated", r.property))
    if r.kind == "induct" and r.method == "symbolic":
        rows += [("method", "symbolic (one Z3 query per kind of step)"), ("queries", f"{s.distinct:,}")]
    elif r.kind == "induct":
        rows += [("states examined", f"{s.distinct:,}"), ("successors", f"{s.generated:,}")]
    else:
        rows += [("distinct states", f"{s.distinct:,}"), ("states generated", f"{s.generated:,}"),
                 ("depth", str(s.depth)), ("states / second", f"{s.states_per_second:,.0f}")]
    rows.append(("time", f"{s.seconds:.2f} s"))
    if r.kind != "induct":
        odds = s.collision_probability
        rows.append(("fingerprint collision probability",
                     "none: states stored exactly" if odds is None else f"{odds:.1e}"))
    if r.params:
        rows.append(("parameters", json.dumps(r.params, sort_keys=True)))
    for name, value in (("symmetry", r.symmetry), ("time model", r.time), ("counterexample", r.counterexample)):
        if value:
            rows.append((name, value))
    return rows


def result_html(result: CheckResult) -> str:
    """An HTML fragment for a notebook cell: a headline (the spec and the one-line message, green when the
    outcome is as expected), the statistics table, the notes under the summary (a counterexample to
    induction, lint's warnings, an error) and the counterexample's viewer when there is one.

    `CheckResult._repr_html_` returns it: `check("specs/two_phase_commit_ok.toml")` as the last line of a
    cell shows it.
    """
    r = result
    colour = _OK if r.ok else _UNDETERMINED if r.exit_code == 3 else _BAD
    mark = "✓" if r.ok else "?" if r.exit_code == 3 else "✗"
    rows = "".join(f'<tr><th style="{_TH}">{html.escape(k)}</th><td style="{_TD}">{html.escape(v)}</td></tr>'
                   for k, v in statistics(r))
    notes = [*r.details, *(f"warning: {w}" for w in r.warnings)]
    if r.reason and r.reason not in r.message and (r.trace is None or r.reason != r.trace.reason):
        notes.append(r.reason)
    parts = [
        f'<div class="faultcheck-result" style="{_BOX}">',
        f'<div><b>{html.escape(r.spec)}</b></div>',
        f'<div style="color: {colour}; font-weight: 600">{mark} {html.escape(r.message)}</div>',
        f'<table style="border-collapse: collapse; margin: 6px 0">{rows}</table>',
    ]
    if notes:
        parts.append(f'<pre style="background: #f6f6f6; padding: 6px 10px; margin: 4px 0">'
                     f'{html.escape(chr(10).join(notes))}</pre>')
    if r.error:
        parts.append(f'<details><summary>error</summary><pre>{html.escape(r.error)}</pre></details>')
    if r.trace is not None:
        parts.append(trace_html(r.trace))
    parts.append("</div>")
    return "".join(parts)


__all__ = ["result_html", "statistics"]
