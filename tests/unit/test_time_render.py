"""Timed traces in every view (issue 17): the text shows times as "now+2" / "long ago" and countdowns as "in 2",
the sequence chart draws each tick as a line across the lanes labelled with global time and each clock's offset
("◷ t+1") and jump ("◷ jumps -2") on its lane, the HTML viewer shows global time and each node's clock, and ITF
exports "long ago" and disarmed timers. Expected values are read by hand from the steps taken, or from the
trace's own states by code written here."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

from checker.spec import check
from checker.spec.run import prepare
from checker.trace import Trace, build_trace, render_text
from checker.trace.html import step_note, to_html
from checker.trace.itf import to_itf
from checker.trace.msc import chart, to_dot, to_svg

PROTOCOL = '''
from checker import Int, Message, Node, Protocol, Role, Time, invariant, timer, volatile


class Grant(Message):
    duration = Int(0, 3)


class Owner(Node):
    def on_start(self):
        for r in self.peers("r"):
            self.send(r, Grant(duration=2))


class Replica(Node):
    lease_until = volatile(Time(), initial=0)

    def on_grant(self, msg, src):
        self.lease_until = self.now() + msg.duration
        self.set_timer("expire", after=msg.duration)

    @timer
    def expire(self):
        pass


class TLease(Protocol):
    o = Role(Owner, count=1)
    r = Role(Replica, count=2)
    messages = (Grant,)

    @invariant
    def Unexpired(self, s):
        """A lease once granted never runs out (false: clocks advance)."""
        return all(r.lease_until.long_ago or not r.lease_until.passed() for r in s.role("r"))
'''

SPEC = '''format = 1
protocol = "tlease_i17r:TLease"
invariants = ["Unexpired"]
expected = "{expected}"
violates = "Unexpired"
[network]
{network}
[time]
max_skew = 1
max_delay = 3
[faults]
clock_jumps = 1
jump = 2
'''

# the steps walked, and by hand from the drift rules (a tick carries only a clock at the band's bottom, -max_skew;
# the others stay, their offset drops by one; "clock of n +1" runs n's clock one unit ahead): global time after each
# step, each clock's offset from it, the jump
STEPS = ["Grant(2) o1→r1",  # 1: r1's lease until now+2, its timer in 2
         "clock of r1 +1",  # 2: r1 at +1; the lease until now+1, the timer in 1
         "tick",  # 3: t=1; r1 +1 -> 0, r2 0 -> -1 (neither clock moved: times stay); the Grant to r2 ages to 1
         "clock of r1 +1",  # 4: r1 at +1; lease until now, timer due
         "timer expire@r1",  # 5
         "clock of r2 jumps -2",  # 6: r2 -1 -> -3, below the band
         "tick",  # 7: t=2; r1 +1 -> 0; r2 is below the bottom: carried (-3); the Grant to r2 ages to 2
         "Grant(2) o1→r2",  # 8: r2's lease until now+2
         "clock of r2 +1"]  # 9: r2 -3 -> -2; its lease until now+1
TIME = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
CLOCKS = {"r1": [0, 0, 1, 0, 1, 1, 1, 0, 0, 0], "r2": [0, 0, 0, -1, -1, -1, -3, -3, -3, -2]}


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("time_render")
    (d / "tlease_i17r.py").write_text(PROTOCOL)
    (d / "bag.toml").write_text(SPEC.format(expected="violated", network=""))
    (d / "fifo.toml").write_text(SPEC.format(expected="violated", network='ordering = "fifo"'))
    return d


def walk(spec: Path, steps: list[str]) -> Trace:
    system, _ = prepare(spec)
    path = [system.initial[0]]
    for label in steps:
        options = [t for st, t in system.labelled_successors(path[-1]) if st.label == label]
        assert options, f"{label!r} is not enabled after {len(path) - 1} steps"
        path.append(options[0])
    return build_trace(system, path, protocol="walk", property=None, verdict="bounded", spec=str(spec))


@pytest.fixture(scope="module", params=["bag", "fifo"])
def walked(spec_dir, request) -> Trace:
    return Trace.from_json(json.loads(walk(spec_dir / f"{request.param}.toml", STEPS).dumps()))  # as read from a file


@pytest.fixture(scope="module")
def checked(spec_dir) -> Trace:
    r = check(spec_dir / "bag.toml", out=None)
    assert r.verdict.value == "violated" and r.trace is not None, r.message
    return r.trace


# -- text --------------------------------------------------------------------------------------------------------------


def step_block(text: str, i: int) -> list[str]:
    """The lines of step i in the text view: its heading, then its changes."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if re.match(rf"{i}\s", line))
    end = next((k for k in range(start + 1, len(lines)) if re.match(r"\d+\s", lines[k])), len(lines))
    return lines[start:end]


def test_text_writes_times_as_now_plus_and_long_ago_and_countdowns_as_in(walked):
    text = render_text(walked)
    assert "r1 = {lease_until: long ago}" in step_block(text, 0)[1:][1]
    assert "     r1[lease_until]: long ago -> now+2" in step_block(text, 1)
    assert "     due_in[r1][expire]: - -> in 2" in step_block(text, 1)
    assert "     r1[lease_until]: now+2 -> now+1" in step_block(text, 2)  # the clock advanced 1
    assert "     due_in[r1][expire]: in 2 -> in 1" in step_block(text, 2)
    assert not any("lease_until" in line for line in step_block(text, 3))  # a tick that moved no clock
    assert "     r1[lease_until]: now+1 -> now" in step_block(text, 4)
    assert "     due_in[r1][expire]: in 1 -> due" in step_block(text, 4)
    assert "     r2[lease_until]: now+2 -> now+1" in step_block(text, 9)


def test_text_marks_global_time_on_ticks_and_names_the_jump(walked):
    text = render_text(walked)
    heads = [step_block(text, i)[0] for i in range(len(STEPS) + 1)]
    assert [h for h in heads if "(t=" in h] == ["3  tick  (t=1)", "7  tick  (t=2)"]
    assert heads[6] == "6  clock of r2 jumps -2"
    assert "     clocks[r2]: -1 -> -3" in step_block(text, 6)
    assert "     clocks[r1]: 1 -> 0" in step_block(text, 3) and "     clocks[r2]: 0 -> -1" in step_block(text, 3)


def test_text_shows_a_message_age_and_a_tick_only_ages_it(spec_dir):
    trace = walk(spec_dir / "bag.toml", STEPS)
    text = render_text(trace)
    assert "Grant(2) o1→r2 (age 0)" in text
    # step 7 ages the one Grant in flight from 1 to 2: the text says so, not "delivered and sent again"
    assert "     network: [Grant(2) o1→r2 (age 1)] -> [Grant(2) o1→r2 (age 2)]" in step_block(text, 7)


def test_an_untimed_trace_reads_as_before():
    from checker.trace import TraceStep

    t = Trace("m:M", {}, [TraceStep("init", {"x": 0, "e": {"msg": "A", "src": "a", "dst": "b"}}),
                          TraceStep("action", {"x": 1, "e": {"msg": "A", "src": "a", "dst": "b"}}, "inc")], "p")
    assert render_text(t).splitlines() == ["violated: p (1 step)", "0  initial state", "     x = 0",
                                           "     e = A a→b", "1  inc", "     x: 0 -> 1"]


# -- the chart ---------------------------------------------------------------------------------------------------------


def test_the_chart_keeps_time_per_row_and_clocks_per_clocked_lane(walked):
    c = chart(walked)
    assert c.lanes == ["o1", "r1", "r2"]  # clocks and due_in are not nodes
    assert c.time == TIME
    assert c.clocks == CLOCKS  # o1 keeps no clock: no entry
    assert c.jumps == {6: ("r2", "-2")}
    assert [r.lane for r in c.rows] == [None, "r1", "r1", None, "r1", "r1", "r2", None, "r2", "r2"]  # a tick: across


def test_a_message_that_ages_is_one_message(walked):
    c = chart(walked)
    got = sorted((m.label, m.src, m.dst, m.sent, m.end, m.fate) for m in c.messages)
    assert got == [("Grant(2)", "o1", "r1", 0, 1, "delivered"), ("Grant(2)", "o1", "r2", 0, 8, "delivered")]


def clock_marks(c, lanes) -> dict[tuple[int, str], str]:
    return {(i, n): m for i in range(len(c.rows)) for n in lanes if (m := c.clock_mark(n, i)) is not None}


def test_clock_marks_where_an_offset_changes_and_where_a_clock_jumps(walked):
    c = chart(walked)
    want = {(0, "r1"): "◷ t", (0, "r2"): "◷ t",  # the start: every clocked lane
            (2, "r1"): "◷ t+1",
            (3, "r1"): "◷ t", (3, "r2"): "◷ t-1",
            (4, "r1"): "◷ t+1",
            (6, "r2"): "◷ jumps -2",
            (7, "r1"): "◷ t",
            (9, "r2"): "◷ t-2"}
    assert clock_marks(c, c.lanes) == want


def layout(dot: str) -> dict:
    raw = json.loads(graphviz.Source(dot).pipe(format="json"))
    return raw


@pytest.mark.needs_graphviz
def test_dot_draws_ticks_across_the_lanes_and_the_clock_marks(walked):
    raw = layout(to_dot(walked))
    objs = {o["_gvid"]: o for o in raw["objects"] if "nodes" not in o}
    by_id = {o["id"]: o for o in objs.values() if "id" in o}
    y = {i: float(by_id[f"row-{i}"]["pos"].split(",")[1]) for i in range(len(walked.steps))}
    ticks = {}
    for e in raw["edges"]:
        if e.get("id", "").startswith("tick-"):
            tail, head = objs[e["tail"]], objs[e["head"]]
            ticks[int(e["id"][5:])] = (tail["id"], head["id"], e["taillabel"], e["style"])
            # the line lies on its row, from the first lane to the last
            assert {float(tail["pos"].split(",")[1]), float(head["pos"].split(",")[1])} == {y[int(e["id"][5:])]}
    assert ticks == {3: ("cell-3-o1", "cell-3-r2", "t=1", "dashed"), 7: ("cell-7-o1", "cell-7-r2", "t=2", "dashed")}
    drawn = {}
    for o in objs.values():
        m = re.fullmatch(r"cell-(\d+)-(.+)", o.get("id", ""))
        text = o.get("xlabel") or (o.get("label") if o.get("shape") == "plaintext" else None)
        if m and text and "◷" in text:
            drawn[(int(m[1]), m[2])] = text
    assert drawn == clock_marks(chart(walked), ["o1", "r1", "r2"])
    assert by_id["cell-6-r2"]["fontcolor"] == "#b00020"  # a jump is a fault, in the faults' red
    assert by_id["row-6"]["fontcolor"] == "#b00020"
    assert by_id["cell-2-r1"]["shape"] == "plaintext" and by_id["cell-2-r1"]["fontcolor"] != "#b00020"  # drift: not


def test_svg_draws_ticks_across_the_lanes_and_the_clock_marks(walked):
    """The chart drawn without Graphviz (svgchart): the same ticks and clock marks as the DOT chart, read from
    the SVG's elements."""
    root = ET.fromstring(to_svg(walked).encode("utf-8"))
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    ns = "{http://www.w3.org/2000/svg}"

    def lane_x(n: str) -> float:
        r = by_id[f"lane-{n}"].find(f"{ns}rect")
        return float(r.get("x")) + float(r.get("width")) / 2

    ticks = {}
    for i in (k for k in by_id if k.startswith("tick-")):
        line = by_id[i].find(f"{ns}line")
        x1, x2 = float(line.get("x1")), float(line.get("x2"))
        assert x1 < lane_x("o1") and x2 > lane_x("r2") and line.get("y1") == line.get("y2")  # across every lane
        assert line.get("stroke-dasharray")
        ticks[int(i[5:])] = " ".join(t.text for t in by_id[i].iter(f"{ns}text"))
    assert ticks == {3: "t=1", 7: "t=2"}
    drawn = {}
    for key, el in by_id.items():
        m = re.fullmatch(r"cell-(\d+)-(.+)", key)
        for t in el.iter(f"{ns}text"):
            if m and "◷" in (t.text or ""):
                drawn[(int(m[1]), m[2])] = t.text
                if (int(m[1]), m[2]) == (6, "r2"):
                    assert t.get("fill") == "#b00020"  # a jump is a fault, in the faults' red
                elif (int(m[1]), m[2]) == (2, "r1"):
                    assert t.get("fill") != "#b00020"  # drift: not
    assert drawn == clock_marks(chart(walked), ["o1", "r1", "r2"])
    assert "fault" in by_id["row-6"].get("class").split()


@pytest.mark.needs_graphviz
def test_the_clock_glyph_is_in_a_font_graphviz_uses():
    """Graphviz finds a font with the glyph (cairo warns on stderr when it must fall back)."""
    import subprocess

    dot = 'digraph { a [label="◷ t+1", fontname=Helvetica]; }'
    p = subprocess.run(["dot", "-Tpng", "-o", "/dev/null"], input=dot, text=True, capture_output=True, timeout=60)
    assert p.returncode == 0 and "Warning" not in p.stderr, p.stderr


@pytest.mark.needs_graphviz
def test_one_lane_writes_time_beside_it(spec_dir):
    trace = walk(spec_dir / "bag.toml", STEPS)
    raw = trace.to_json()
    for st in raw["steps"]:  # keep r1 alone: its lane, its clock
        st["state"] = {k: v for k, v in st["state"].items() if k in ("r1", "clocks", "timers")}
        st["state"]["clocks"] = {"r1": st["state"]["clocks"]["r1"]}
        st["state"]["timers"] = {"r1": st["state"]["timers"]["r1"]}
    one = Trace.from_json(raw)
    raw_layout = layout(to_dot(one))
    by_id = {o["id"]: o for o in raw_layout["objects"] if "id" in o}
    assert by_id["cell-3-r1"]["xlabel"] == "t=1  ◷ t"
    assert by_id["cell-7-r1"]["xlabel"] == "t=2  ◷ t"
    assert by_id["cell-2-r1"]["label"] == "◷ t+1"
    assert not any(e.get("id", "").startswith("tick-") for e in raw_layout.get("edges", []))


# -- the HTML viewer ---------------------------------------------------------------------------------------------------


def viewer_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page, re.S)
    return json.loads(m[1])


def test_the_viewer_carries_time_clocks_and_readable_times(walked):
    data = viewer_data(to_html(walked, svg="<svg></svg>"))
    assert data["timed"] is True
    assert [s["time"] for s in data["steps"]] == TIME
    for n, offsets in CLOCKS.items():
        assert [s["clocks"][n] for s in data["steps"]] == offsets
    assert all("o1" not in s["clocks"] for s in data["steps"])
    assert [s["jump"] for s in data["steps"]] == [None] * 6 + ["r2"] + [None] * 3
    assert data["steps"][1]["state"]["r1"] == {"lease_until": "now+2"}
    assert data["steps"][0]["state"]["r2"] == {"lease_until": "long ago"}
    assert data["steps"][1]["state"]["due_in"]["r1"] == {"expire": "in 2"}
    assert data["steps"][3]["note"] == "global time advances to t=1; the clocks read r1 t (fell behind), r2 t-1 (fell behind)"
    assert data["steps"][7]["note"] == "global time advances to t=2; the clocks read r1 t (fell behind), r2 t-3"
    assert data["steps"][2]["note"] == "r1's clock runs ahead one unit (it reads t+1; global time t=0)"
    assert data["steps"][6]["note"] == "a fault: r2's clock jumps -2 (it reads t-3; global time stays t=1)"
    assert data["steps"][1]["note"] == ""


def test_the_viewer_script_shows_time_and_a_clock_per_node():
    page = to_html(Trace("m:M", {}, [__import__("checker.trace", fromlist=["TraceStep"]).TraceStep("init", {"x": 0})]),
                   svg="<svg></svg>")
    assert '<span id="time"></span>' in page and '<span id="step-note"></span>' in page
    assert "'◷ '" in page and "st.clocks" in page
    assert viewer_data(page)["timed"] is False  # an untimed trace shows no time


def test_step_notes_read_the_clocks():
    from checker.trace import TraceStep

    assert step_note(TraceStep("tick", {}, "tick", ()), 4, {}, {}) == "global time advances to t=4"
    assert step_note(TraceStep("tick", {}, "tick", ()), 1, {"a": 1, "b": -1}, {"a": 0, "b": -1}) == \
        "global time advances to t=1; the clocks read a t (fell behind), b t-1"
    assert step_note(TraceStep("action", {}, "inc", ()), 1, {}, {}) == ""


# -- ITF ---------------------------------------------------------------------------------------------------------------


def test_itf_exports_times_countdowns_and_ages(walked):
    itf = to_itf(walked)
    s0, s1, s2 = itf["states"][:3]
    assert s0["r1"] == {"lease_until": "long ago"}
    assert s1["r1"] == {"lease_until": {"#bigint": "2"}}
    none = {"tag": "None", "value": {"#tup": []}}
    assert s0["due_in"] == {"#map": [[n, {"#map": [["expire", none]]}] for n in ("o1", "r1", "r2")]}
    assert s1["due_in"]["#map"][1] == ["r1", {"#map": [["expire", {"tag": "Some", "value": {"#bigint": "2"}}]]}]
    assert s2["clocks"] == {"#map": [["r1", {"#bigint": "1"}], ["r2", {"#bigint": "0"}]]}
    assert s2["r1"] == {"lease_until": {"#bigint": "1"}}
    assert "#unserializable" not in json.dumps(itf)


def test_a_checked_timed_counterexample_renders_everywhere(checked):
    """The trace `check` writes: each view renders it, and what they show agrees with its own states."""
    assert checked.property == "Unexpired"
    assert any(st.kind in ("tick", "clock", "clock_jump") for st in checked.steps)
    c = chart(checked)
    ticks = [st.kind == "tick" for st in checked.steps]
    assert c.time == [sum(ticks[:i + 1]) for i in range(len(ticks))]
    assert c.clocks == {n: [st.state["clocks"][n] for st in checked.steps] for n in ("r1", "r2")}
    text = render_text(checked)
    assert "long ago" in text and "violated: Unexpired" in text
    assert "#unserializable" not in json.dumps(to_itf(checked))
    assert viewer_data(to_html(checked, svg="<svg></svg>"))["steps"][-1]["time"] == c.time[-1]


def test_a_tick_that_only_ages_many_messages_says_so():
    from checker.trace import TraceStep

    def net(ages):
        return [{"msg": {"type": "A"}, "src": "a", "dst": d, "age": k} for d, k in zip("bcd", ages)]

    t = Trace("m:M", {}, [TraceStep("init", {"network": net([0, 0, 1])}),
                          TraceStep("tick", {"network": net([1, 1, 2])}, "tick"),
                          TraceStep("deliver", {"network": net([1, 1])}, "A")], "p")
    lines = render_text(t).splitlines()
    assert lines[4] == "     network: aged by the tick (3 in all)"
    assert lines[6] == "     network: -[A a→d (age 2)] (2 in all)"  # a delivery is not ageing
