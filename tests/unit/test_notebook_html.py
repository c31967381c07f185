"""Traces and check results in Jupyter: `Trace._repr_html_` (checker/trace/notebook.py) and
`CheckResult._repr_html_` (checker/spec/notebook.py).

The HTML is read back with the standard library's parser (which decodes the iframe's srcdoc as a browser
does); expected values come from the trace or the result object itself, never from the rendering. Nothing
here needs Graphviz: the chart is faultcheck's own SVG (tests/unit/test_viewer_browser.py drives the page).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from checker.spec import check
from checker.trace import Trace, TraceStep
from checker.trace.notebook import MAX_PX, MIN_PX, frame_height, trace_html

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
EARLY = SPECS / "two_phase_commit_early_commit.toml"
OK = SPECS / "two_phase_commit_ok.toml"
BLOCKING = SPECS / "two_phase_commit_blocking.toml"
CTI = SPECS / "two_phase_commit_induct_cti.toml"
TPC_TRACE = ROOT / "counterexamples" / "two_phase_commit_early_commit.json"
# XML namespace names are identifiers, never fetched; any other http(s) address would be
NAMESPACE = re.compile(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"')


class Page(HTMLParser):
    """Every element's attributes (decoded), the iframes among them, and the text outside any iframe."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.rows: dict[str, str] = {}
        self._cell: list[str] | None = None
        self._row: list[str] = []
        self.feed(source)
        self.close()

    @property
    def iframes(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "iframe"]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and len(self._row) == 2:
            self.rows[self._row[0]] = self._row[1]

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def viewer_data(srcdoc: str) -> dict:
    """The JSON the viewer page steps through."""
    m = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', srcdoc, re.S)
    assert m, "the viewer page carries its trace as JSON"
    return json.loads(m.group(1))


def without_srcdoc(fragment: str) -> str:
    """The fragment with each iframe's page cut out (escaped with quote=True, it holds no '"')."""
    return re.sub(r'srcdoc="[^"]*"', 'srcdoc=""', fragment)


def assert_offline(fragment: str) -> None:
    """Nothing in the fragment, or in the page inside its iframes, points at the network."""
    pages = [without_srcdoc(fragment)] + [a["srcdoc"] or "" for a in Page(fragment).iframes]
    for page in pages:
        rest = NAMESPACE.sub("", page)
        assert not re.search(r"https?://", rest), re.search(r".{40}https?://.{40}", rest, re.S)
        assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", rest)
        assert "<link" not in rest


@pytest.fixture(scope="module")
def early():
    return check(EARLY, out=None)


def test_trace_repr_html_embeds_the_viewer_with_every_step() -> None:
    trace = Trace.load(TPC_TRACE)
    out = trace._repr_html_()
    page = Page(out)
    (frame,) = page.iframes
    assert frame["sandbox"] == "allow-scripts"  # scripts run; no same origin, no access to the notebook
    srcdoc = frame["srcdoc"]
    assert srcdoc is not None and srcdoc.startswith("<!DOCTYPE html>")
    data = viewer_data(srcdoc)
    assert [s["label"] for s in data["steps"]] == [st.label for st in trace.steps]
    assert [s["state"] for s in data["steps"]] == [st.state for st in trace.steps]
    assert "<svg" in srcdoc  # the chart, inline
    # the header, outside the frame, names the protocol, the property and the number of steps
    header = " ".join(page.text)
    assert trace.protocol in header and f"violated: {trace.property}" in header
    assert f"after {len(trace)} steps" in header
    assert_offline(out)


def test_outputs_in_one_notebook_cannot_clash() -> None:
    """Ids, styles and scripts live inside each frame: the fragment around it declares none of them."""
    out = trace_html(Trace.load(TPC_TRACE))
    outside = without_srcdoc(out)
    assert Page(outside).iframes  # the substitution kept the frame
    assert " id=" not in outside and "<style" not in outside and "<script" not in outside


def test_the_why_line_and_the_lasso_are_in_the_header() -> None:
    r = check(BLOCKING, out=None)
    assert r.trace is not None and isinstance(r.trace.extra.get("loop"), int)
    header = " ".join(Page(trace_html(r.trace)).text)
    assert f"from step {r.trace.extra['loop']} on" in header
    assert r.trace.reason and r.trace.reason in header
    core = Page(trace_html(check(EARLY, out=None).trace)).text  # a formula's violation core names the fields
    assert any(t.startswith("Why: because ") for t in core)


def test_markup_in_a_trace_is_escaped() -> None:
    bad = '<b id="x">P&"</b>'
    trace = Trace("m:M", {"n": bad}, [TraceStep("init", {"x": bad}), TraceStep("action", {"x": "</script>"}, "inc")],
                  bad, "violated", reason=bad)
    out = trace_html(trace)
    assert bad not in out  # neither in the header nor, unescaped, in the srcdoc attribute
    page = Page(out)
    assert f"violated: {bad}" in " ".join(page.text)
    (frame,) = page.iframes
    data = viewer_data(frame["srcdoc"] or "")
    assert [s["state"]["x"] for s in data["steps"]] == [bad, "</script>"]


def test_the_frame_grows_with_the_trace_and_stops_at_a_screen() -> None:
    def trace(n: int) -> Trace:
        return Trace("m:M", {}, [TraceStep("init", {"x": 0})] + [TraceStep("action", {"x": i}, "inc")
                                                                  for i in range(1, n + 1)], "P")

    heights = [frame_height(trace(n)) for n in range(0, 40)]
    assert heights == sorted(heights)
    assert heights[0] == MIN_PX and heights[-1] == MAX_PX
    assert f"height: {MAX_PX}px" in trace_html(trace(39))


def test_check_result_of_a_violation(early) -> None:
    out = early._repr_html_()
    page = Page(out)
    s = early.stats
    assert page.rows["distinct states"] == f"{s.distinct:,}"
    assert page.rows["states generated"] == f"{s.generated:,}"
    assert page.rows["depth"] == str(s.depth)
    assert page.rows["outcome"] == "violated" and page.rows["expected"] == early.expected
    assert page.rows["property violated"] == early.property == "Consistent"
    assert early.message in " ".join(page.text)
    (frame,) = page.iframes
    assert len(viewer_data(frame["srcdoc"] or "")["steps"]) == len(early.trace.steps)
    assert_offline(out)


def test_check_result_that_holds_has_no_viewer() -> None:
    r = check(OK, out=None)
    out = r._repr_html_()
    page = Page(out)
    assert r.trace is None and not page.iframes
    assert page.rows["distinct states"] == f"{r.stats.distinct:,}"
    assert page.rows["outcome"] == "holds" and "property violated" not in page.rows
    assert page.rows["fingerprint collision probability"].startswith("none")
    assert_offline(out)


def test_fingerprint_store_shows_the_collision_odds() -> None:
    r = check(OK, out=None, store="fingerprint")
    assert r.stats.collision_probability is not None
    assert Page(r._repr_html_()).rows["fingerprint collision probability"] == f"{r.stats.collision_probability:.1e}"


def test_induct_result_shows_states_examined_and_the_counterexample_to_induction() -> None:
    r = check(CTI, out=None)
    assert r.outcome == "not_inductive" and r.details
    page = Page(r._repr_html_())
    assert page.rows["outcome"] == "not_inductive"
    assert r.method == "symbolic" and page.rows["queries"] == f"{r.stats.distinct:,}"
    assert "states examined" not in page.rows
    e = check(CTI, out=None, method="explicit")
    explicit = Page(e._repr_html_())
    assert explicit.rows["states examined"] == f"{e.stats.distinct:,}" and "queries" not in explicit.rows
    assert "distinct states" not in page.rows and "depth" not in page.rows
    text = "".join(page.text)
    assert all(line in text for line in r.details)
