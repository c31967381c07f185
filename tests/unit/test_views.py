"""Seeing traces: the message-sequence chart (checker/trace/msc.py) as Graphviz lays it out, the SVG
faultcheck draws without Graphviz (checker/trace/svgchart.py; tests/unit/test_svgchart.py checks its
layout), the ITF export (checker/trace/itf.py), the self-contained HTML viewer (checker/trace/html.py, the
static half; tests/unit/test_viewer_browser.py drives it in Chromium) and the state graph of small
specs (checker/spec/graph.py).

Expected values come from the traces themselves (their step labels and networks), from a BFS written
here, from an ITF decoder written here, or from reading the committed counterexamples by hand; never
from `chart()`. Traces with faults are walked step by step through a spec's transition system, so they
hold exactly the drops, copies, crashes and partitions a test needs.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import graphviz
import networkx as nx
import pytest

from checker.spec import SpecError, check
from checker.spec.graph import state_graph
from checker.spec.run import prepare
from checker.trace import Trace, TraceError, build_trace
from checker.trace.html import to_html
from checker.trace.itf import to_itf
from checker.trace.msc import to_dot, to_svg

ROOT = Path(__file__).resolve().parents[2]
CEX = ROOT / "counterexamples"
COMMITTED = sorted(CEX.glob("*.json"))
TPC = CEX / "two_phase_commit_early_commit.json"
ACK_EARLY = CEX / "primary_backup_ack_early.json"
TLA = CEX / "two_phase_commit_tla_early_commit.json"
TLA_SPEC = ROOT / "specs" / "two_phase_commit_tla_early_commit.toml"
ACK_EARLY_SPEC = ROOT / "specs" / "primary_backup_ack_early.toml"

FAULTY_SPEC = """
format = 1
protocol = "protocols.two_phase_commit:EarlyCommit"
invariants = ["Consistent"]
expected = "holds"
[params]
rms = 2
[network]
loss = 1
duplication = 1
{network}
[faults]
crashes = 1
restarts = true
partitions = 1
"""


# -- helpers ----------------------------------------------------------------------------------------------------------


def walk(spec: Path, steps: list, params: dict | None = None) -> Trace:
    """The trace that takes exactly `steps` (labels, or (label, test of the resulting state's JSON))."""
    system, _ = prepare(spec, params)
    path = [system.initial[0]]
    for want in steps:
        label, ok = (want, None) if isinstance(want, str) else want
        options = [t for st, t in system.labelled_successors(path[-1])  # a label without its choice: any choice
                   if label in (st.label, st.without_choice().label) and (ok is None or ok(system.schema.to_json(t)))]
        assert options, f"{label!r} is not enabled after {len(path) - 1} steps"
        path.append(options[0])
    return build_trace(system, path, protocol="walk", property=None, verdict="bounded", spec=str(spec))


def prepares(rm: str):
    """The delivery of Prepare to `rm` after which `rm` has prepared (it may also choose to abort)."""
    return (f"Prepare tm1→{rm} (chose prepare)", lambda s: s[rm]["state"] == "prepared")


FAULT_STEPS = ["duplicate Prepare tm1→rm1",  # 1: a copy of the Prepare to rm1
               prepares("rm1"),  # 2: one Prepare delivered; rm1 sends Prepared
               "drop Prepare tm1→rm1",  # 3: the other one lost
               "crash rm2",  # 4
               "partition {tm1} | {rm1, rm2}",  # 5
               "heal",  # 6
               "restart rm2",  # 7
               "Prepared rm1→tm1"]  # 8: the TM commits: Commit to rm1 and rm2


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("view_specs")
    (d / "faulty.toml").write_text(FAULTY_SPEC.format(network=""))
    (d / "fifo.toml").write_text(FAULTY_SPEC.format(network='ordering = "fifo"'))
    (d / "lossy_crash.toml").write_text(FAULTY_SPEC.format(network="lose_on_crash = true"))
    return d


@pytest.fixture(scope="module")
def faulty(spec_dir) -> Trace:
    return walk(spec_dir / "faulty.toml", FAULT_STEPS)


@pytest.fixture(scope="module")
def fifo(spec_dir) -> Trace:
    return walk(spec_dir / "fifo.toml", FAULT_STEPS)


def msg_text(msg: Any) -> str:
    """A message as the chart should label it: its type, then its fields in their order (Write(1),
    ReadReply(1, 0), NewView(1, server2, [server1]))."""

    def text(v: Any) -> str:
        if isinstance(v, str):
            return v
        if isinstance(v, list):
            return "[" + ", ".join(map(text, v)) + "]"
        return json.dumps(v)

    fields = [text(v) for k, v in msg.items() if k != "type"]
    return msg["type"] + (f"({', '.join(fields)})" if fields else "")


def same_text(label_text: str, text: str) -> bool:
    """A step label's message text names the same message as `text` (labels write sets in braces)."""
    return label_text.replace("{", "[").replace("}", "]") == text


def in_flight(state: dict) -> Counter:
    """(message text, src, dst) -> copies in flight, from "network" (a bag) or "channels" (FIFO queues)."""
    out: Counter = Counter()
    for e in state.get("network", []):
        out[(msg_text(e["msg"]), e["src"], e["dst"])] += 1
    for key, queue in state.get("channels", {}).items():
        src, dst = key.split("→")
        for m in queue:
            out[(msg_text(m), src, dst)] += 1
    return out


def expected_messages(trace: Trace) -> Counter:
    """(label, src, dst, sent row, end row or None, fate) of every message, the end taken from the step
    labels (a deliver or drop step names the message it ends), the sending row from when a copy first
    appears in flight; copies end oldest first."""
    waiting: dict[tuple, list[list]] = {}
    out = []
    before: Counter = Counter()
    for i, st in enumerate(trace.steps):
        now = in_flight(st.state)
        if i and st.kind in ("deliver", "drop"):
            src, dst, text = st.params
            assert st.as_step().without_choice().label.endswith(f"{text} {src}→{dst}")
            (key,) = [k for k in waiting if k[1:] == (src, dst) and same_text(text, k[0]) and waiting[k]]
            m = waiting[key].pop(0)
            m[4], m[5] = i, "delivered" if st.kind == "deliver" else "dropped"
        for key in now:
            ended = i and st.kind in ("deliver", "drop") and key[1:] == st.params[:2] and same_text(st.params[2], key[0])
            for _ in range(now[key] - before[key] + (1 if ended else 0)):
                m = [key[0] + (" (copy)" if st.kind == "duplicate" else ""), key[1], key[2], i, None, "in flight"]
                waiting.setdefault(key, []).append(m)
                out.append(m)
        before = now
    return Counter(tuple(m) for m in out)


class Layout:
    """Graphviz's JSON output of a DOT text: nodes by id and by name, positions, edges by their ends."""

    def __init__(self, dot: str):
        self.raw = json.loads(graphviz.Source(dot).pipe(format="json"))
        objs = {o["_gvid"]: o for o in self.raw["objects"] if "nodes" not in o}  # nodes (not subgraphs)
        self.by_gvid = objs
        self.by_id = {o["id"]: o for o in objs.values() if "id" in o}
        self.by_name = {o["name"]: o for o in objs.values()}
        self.edges = [dict(e, tail=objs[e["tail"]], head=objs[e["head"]]) for e in self.raw.get("edges", [])]
        for e in self.edges:  # a message's text is an external label (xlabel): read it as the label
            if e.get("xlabel") and not e.get("label"):
                e["label"] = e["xlabel"]
                if "xlp" in e:
                    e["lp"] = e["xlp"]

    @staticmethod
    def pos(o: dict) -> tuple[float, float]:
        x, y = o["pos"].split(",")
        return float(x), float(y)

    def ids(self, prefix: str) -> list[str]:
        return [i for i in self.by_id if i.startswith(prefix)]


def cell(o: dict) -> tuple[int, str] | None:
    """(row, lane) of a lane cell, from its id cell-<row>-<lane>."""
    m = re.fullmatch(r"cell-(\d+)-(.+)", o.get("id", ""))
    return (int(m[1]), m[2]) if m else None


def end_of(lay: Layout, o: dict, trace: Trace, lanes: list[str]) -> tuple[int | None, str]:
    """(row, lane) of a message's end: a cell, or (None, lane) for the bottom row below every step."""
    c = cell(o)
    if c is not None:
        return c
    x, y = lay.pos(o)
    last = lay.pos(lay.by_id[f"row-{len(trace.steps) - 1}"])[1]
    assert y < last, f"{o['name']} is neither a lane cell nor below the last row"
    lane = [n for n in lanes if abs(lay.pos(lay.by_id[f"cell-0-{n}"])[0] - x) < 1]
    assert len(lane) == 1, f"{o['name']} is not on one lane's column"
    return None, lane[0]


def drawn_messages(lay: Layout, trace: Trace, lanes: list[str]) -> Counter:
    """What the chart draws, in the shape of expected_messages: read from the message edges' ends, labels
    and arrowheads."""
    out = []
    for e in lay.edges:
        if not e.get("id", "").startswith("msg-"):
            continue
        sent, src = cell(e["tail"])
        end, dst = end_of(lay, e["head"], trace, lanes)
        label = e["label"]
        if e.get("arrowhead") == "tee":
            fate = "dropped"
            assert label.startswith("✕ "), label
            label = label[2:]
        elif end is None:
            fate = "in flight"
            assert e.get("arrowhead") == "empty" and label.endswith(" …"), e
            label = label[:-2]
        else:
            fate = "delivered"
            assert e.get("arrowhead", "normal") == "normal" and e.get("style") != "dotted", e
        out.append((label, src, dst, sent, end, fate))
    return Counter(out)


def lane_order(lay: Layout) -> list[str]:
    heads = sorted(lay.ids("lane-"), key=lambda i: lay.pos(lay.by_id[i])[0])
    return [h[len("lane-"):] for h in heads]


def header_gaps(lay: Layout, lanes: list[str]) -> list[float]:
    """The white space (pt) between neighbouring lanes' header boxes."""
    boxes = [(lay.pos(lay.by_id[f"lane-{n}"])[0], float(lay.by_id[f"lane-{n}"]["width"]) * 72) for n in lanes]
    return [(xb - wb / 2) - (xa + wa / 2) for (xa, wa), (xb, wb) in zip(boxes, boxes[1:])]


def lane_edges(lay: Layout, lane: str) -> dict[int, dict]:
    """The vertical lane segments of `lane`: the row each starts at -> the edge."""
    x = lay.pos(lay.by_id[f"cell-0-{lane}"])[0]
    out = {}
    for e in lay.edges:
        c = cell(e["tail"])
        if c is None or c[1] != lane or e.get("style") == "invis" or e.get("id", "").startswith("msg-"):
            continue
        hx, hy = lay.pos(e["head"])
        below = lay.pos(e["tail"])[1] > hy
        if abs(hx - x) < 1 and below:
            out[c[0]] = e
    return out


# -- the chart, read back from Graphviz's layout -------------------------------------------------------------------------


@pytest.mark.needs_graphviz
def test_committed_2pc_chart_has_its_lanes_rows_and_messages():
    trace = Trace.load(TPC)
    lay = Layout(to_dot(trace))
    lanes = ["tm1", "rm1", "rm2", "rm3"]
    assert lane_order(lay) == lanes
    assert [lay.by_id[f"lane-{n}"]["label"] for n in lanes] == lanes
    # one row per step (the initial state included), each labelled with its index and the step's label
    assert sorted(lay.ids("row-")) == sorted(f"row-{i}" for i in range(5))
    for i, st in enumerate(trace.steps):
        assert lay.by_id[f"row-{i}"]["label"] == f"{i}  {st.label}"
    ys = [lay.pos(lay.by_id[f"row-{i}"])[1] for i in range(5)]
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == 5  # time runs downwards
    # every cell of a row on the row's level
    for i in range(5):
        assert {lay.pos(lay.by_id[f"cell-{i}-{n}"])[1] for n in lanes} == {ys[i]}
    # read by hand from the committed trace: Prepare to all three RMs at the start, rm1 answers Prepared,
    # rm2 aborts (its Abort never arrives), the TM commits on rm1's Prepared and only rm1 hears it
    by_hand = Counter([
        ("Prepare", "tm1", "rm1", 0, 1, "delivered"),
        ("Prepare", "tm1", "rm2", 0, 2, "delivered"),
        ("Prepare", "tm1", "rm3", 0, None, "in flight"),
        ("Prepared", "rm1", "tm1", 1, 3, "delivered"),
        ("Abort", "rm2", "tm1", 2, None, "in flight"),
        ("Commit", "tm1", "rm1", 3, 4, "delivered"),
        ("Commit", "tm1", "rm2", 3, None, "in flight"),
        ("Commit", "tm1", "rm3", 3, None, "in flight"),
    ])
    assert expected_messages(trace) == by_hand  # the test's own reading agrees with the hand's
    assert drawn_messages(lay, trace, lanes) == by_hand


@pytest.mark.needs_graphviz
def test_each_row_marks_the_lane_where_its_step_happens():
    trace = Trace.load(TPC)
    lay = Layout(to_dot(trace))
    for i, st in enumerate(trace.steps[1:], 1):
        dst = st.params[1]  # a delivery happens at its receiver
        assert lay.by_id[f"cell-{i}-{dst}"]["shape"] == "circle", (i, st.label)
        for other in {"tm1", "rm1", "rm2", "rm3"} - {dst}:  # here, nobody else acts or sends
            assert lay.by_id[f"cell-{i}-{other}"]["shape"] == "point", (i, other)


@pytest.mark.needs_graphviz
def test_the_verdict_box_states_the_property_and_its_core():
    trace = Trace.load(TPC)
    raw = json.loads(TPC.read_text())
    lay = Layout(to_dot(trace))
    label = lay.by_id["verdict"]["label"].replace("\\n", "\n")
    assert label.startswith(f"violated: {raw['property']}\n")
    for f in raw["violation_core"]["fields"]:
        assert f"{f['field']}={f['value']}" in label
    last_row = lay.pos(lay.by_id[f"row-{len(trace)}"])[1]
    assert lay.pos(lay.by_id["verdict"])[1] < last_row  # under the chart
    assert "verdict" not in Layout(to_dot(walk(TLA_SPEC, ["TMAbort"]))).by_id  # no violation, no verdict


@pytest.mark.parametrize("name", ["faulty", "fifo"])
@pytest.mark.needs_graphviz
def test_drops_copies_partitions_and_restarts_are_drawn(name, request):
    trace: Trace = request.getfixturevalue(name)
    assert [st.label for st in trace.steps[1:]] == [s if isinstance(s, str) else s[0] for s in FAULT_STEPS]
    lay = Layout(to_dot(trace))
    lanes = ["tm1", "rm1", "rm2"]
    assert lane_order(lay) == lanes
    assert sorted(lay.ids("row-")) == sorted(f"row-{i}" for i in range(len(trace.steps)))
    want = expected_messages(trace)
    assert want[("Prepare (copy)", "tm1", "rm1", 1, 3, "dropped")] == 1  # what the walk was built to show
    assert want[("Prepare", "tm1", "rm1", 0, 2, "delivered")] == 1
    assert want[("Prepared", "rm1", "tm1", 2, 8, "delivered")] == 1
    assert want[("Commit", "tm1", "rm2", 8, None, "in flight")] == 1
    assert drawn_messages(lay, trace, lanes) == want
    edges = {e["id"]: e for e in lay.edges if "id" in e}
    tee = [e for e in edges.values() if e.get("arrowhead") == "tee"]
    assert len(tee) == 1 and cell(tee[0]["head"]) == (3, "rm1") and tee[0]["style"] == "dashed"
    copies = [e for e in edges.values() if "(copy)" in e["label"]]
    assert len(copies) == 1 and cell(copies[0]["tail"]) == (1, "tm1")
    # the crash: a ✕ on rm2's lane at row 4, the lane dashed grey until the restart at row 7
    assert lay.by_id["cell-4-rm2"]["label"] == "✕"
    assert lay.by_id["cell-7-rm2"]["label"] == "↻"
    assert [n for n in lanes if lay.by_id[f"cell-4-{n}"]["label"] == "✕"] == ["rm2"]
    segments = lane_edges(lay, "rm2")
    assert sorted(segments) == list(range(len(trace.steps)))  # one segment per row, the last to the bottom
    for row, e in segments.items():
        down = 4 <= row < 7
        assert (e.get("style") == "dashed" and e["color"] == "#cccccc") == down, (row, e)
    for n in ("tm1", "rm1"):
        assert all(e.get("style") != "dashed" for e in lane_edges(lay, n).values())
    # the partition at row 5, healed at row 6: each a dashed line across its row
    part = [e for e in lay.edges if e["label"].startswith("partition")]
    heal = [e for e in lay.edges if e["label"] == "heal"]
    assert len(part) == 1 and len(heal) == 1
    assert part[0]["label"] == "partition {tm1} | {rm1, rm2}" and part[0]["color"] == "#e08a00"
    assert (cell(part[0]["tail"]), cell(part[0]["head"])) == ((5, "tm1"), (5, "rm2"))
    assert heal[0]["color"] == "#2e7d32"
    assert (cell(heal[0]["tail"]), cell(heal[0]["head"])) == ((6, "tm1"), (6, "rm2"))
    assert {i for i in range(len(trace.steps)) if lay.by_id[f"row-{i}"]["fillcolor"] != "white"} == {5, 6}


@pytest.mark.needs_graphviz
def test_a_crash_without_restart_stays_down_to_the_end():
    trace = Trace.load(ACK_EARLY)
    crash = [i for i, st in enumerate(trace.steps) if st.kind == "crash"]
    assert crash == [4] and trace.steps[4].params == ("server1",)
    lay = Layout(to_dot(trace))
    lanes = ["vs1", "server1", "server2", "client1"]
    assert lane_order(lay) == lanes
    assert lay.by_id["cell-4-server1"]["label"] == "✕"
    segments = lane_edges(lay, "server1")
    assert sorted(segments) == list(range(len(trace.steps)))
    assert [r for r, e in segments.items() if e.get("style") == "dashed"] == [4, 5]
    def ends(msgs: Counter) -> Counter:  # all but the labels (those: the next test)
        return Counter({m[1:]: k for m, k in msgs.items()})

    assert ends(drawn_messages(lay, trace, lanes)) == ends(expected_messages(trace))


@pytest.mark.needs_graphviz
def test_message_labels_keep_their_fields_in_order():
    trace = Trace.load(ACK_EARLY)
    lay = Layout(to_dot(trace))
    labels = {m[0] for m in drawn_messages(lay, trace, ["vs1", "server1", "server2", "client1"])}
    assert "NewView(1, server2, [])" in labels


@pytest.mark.needs_graphviz
def test_a_low_level_model_has_lanes_from_its_steps_and_no_messages():
    trace = Trace.load(TLA)
    lay = Layout(to_dot(trace))
    # the first parameter of each step, in order of appearance; steps without any on "system"
    lanes: list[str] = []
    for st in trace.steps[1:]:
        lane = st.params[0] if st.params else "system"
        lanes += [lane] if lane not in lanes else []
    assert lane_order(lay) == lanes == ["rm1", "system", "rm2"]
    assert min(header_gaps(lay, lanes)) >= 12  # nothing but the spacing keeps these lanes apart
    assert not [e for e in lay.edges if e.get("id", "").startswith("msg-")]
    for i, st in enumerate(trace.steps[1:], 1):
        assert lay.by_id[f"cell-{i}-{st.params[0] if st.params else 'system'}"]["shape"] == "circle"


@pytest.mark.needs_graphviz
def test_a_message_lost_in_a_crash_is_not_drawn_as_delivered(spec_dir):
    trace = walk(spec_dir / "lossy_crash.toml", ["crash rm2"])
    assert in_flight(trace.steps[1].state) == Counter({("Prepare", "tm1", "rm1"): 1})  # lost with the crash
    lay = Layout(to_dot(trace))
    to_rm2 = [e for e in lay.edges if e.get("id", "").startswith("msg-") and e["head"]["name"].endswith("_2")]
    assert len(to_rm2) == 1
    e = to_rm2[0]
    assert e.get("arrowhead") == "tee" or e["label"].startswith("✕"), (e["label"], e.get("arrowhead"), e["color"])


@pytest.mark.needs_graphviz
def test_every_node_has_a_lane_even_one_that_never_messages():
    trace = walk(ACK_EARLY_SPEC, ["write()@client1", "crash server2"])
    lay = Layout(to_dot(trace))
    assert lane_order(lay) == ["vs1", "server1", "server2", "client1"]


# -- legibility of a long chart ------------------------------------------------------------------------------------------


NODES = ["alpha", "bravo", "charlie", "delta", "echo"]


def ring_trace(steps: int = 40) -> Trace:
    """Five nodes pass a token round a ring (each delivery sends it on) and every third receiver also
    sends a note three nodes on; the oldest message in flight is delivered next."""
    seen = dict.fromkeys(NODES, 0)
    net = [{"msg": {"type": "Token", "hop": 0}, "src": "alpha", "dst": "bravo"}]

    def state():
        return {**{n: {"seen": seen[n]} for n in NODES}, "timers": {n: [] for n in NODES},
                "network": [dict(e) for e in net]}

    out = [{"kind": "init", "state": state()}]
    for i in range(1, steps + 1):
        e = net.pop(0)
        dst = e["dst"]
        seen[dst] += 1
        k = NODES.index(dst)
        net.append({"msg": {"type": "Token", "hop": i}, "src": dst, "dst": NODES[(k + 1) % 5]})
        if i % 3 == 0:
            net.append({"msg": {"type": "Note", "hop": i}, "src": dst, "dst": NODES[(k + 3) % 5]})
        out.append({"kind": "deliver", "action": e["msg"]["type"], "params": [e["src"], dst, msg_text(e["msg"])],
                    "state": state()})
    return Trace.from_json({"format": "faultcheck-trace/1", "spec": None, "protocol": "synthetic:Ring", "params": {},
                            "property": None, "verdict": "bounded", "steps": out})


@pytest.fixture(scope="module")
def ring() -> Trace:
    return ring_trace()


@pytest.fixture(scope="module")
def ring_layout(ring) -> Layout:
    return Layout(to_dot(ring))


@pytest.mark.needs_graphviz
def test_a_long_chart_keeps_lanes_in_order_and_rows_in_time(ring, ring_layout):
    lay = ring_layout
    assert len(ring) == 40
    rows = range(len(ring.steps))
    assert lane_order(lay) == NODES
    xs = {n: lay.pos(lay.by_id[f"lane-{n}"])[0] for n in NODES}
    step_x = lay.pos(lay.by_id["row-0"])[0]
    prev_y = None
    for i in rows:
        y = lay.pos(lay.by_id[f"row-{i}"])[1]
        cells = [lay.pos(lay.by_id[f"cell-{i}-{n}"]) for n in NODES]
        assert [c[0] for c in cells] == sorted(c[0] for c in cells), f"row {i}: lanes out of order"
        assert all(abs(c[0] - xs[n]) < 1 for c, n in zip(cells, NODES)), f"row {i}: a lane leaves its column"
        assert all(abs(c[1] - y) < 1 for c in cells), f"row {i}: cells off the row's level"
        assert lay.pos(lay.by_id[f"row-{i}"])[0] < cells[0][0] and abs(lay.pos(lay.by_id[f"row-{i}"])[0] - step_x) < 1
        assert prev_y is None or y < prev_y - 20, f"row {i} is not below row {i - 1}"
        prev_y = y
    gaps = [xs[b] - xs[a] for a, b in zip(NODES, NODES[1:])]
    assert min(gaps) >= 60, gaps
    assert min(header_gaps(lay, NODES)) >= 12  # the lane names never touch
    assert drawn_messages(lay, ring, NODES) == expected_messages(ring)


def test_a_long_chart_is_a_sane_size(ring):
    svg = to_svg(ring)
    root = ET.fromstring(svg[svg.find("<svg"):])
    width, height = (float(root.get(a).removesuffix("pt")) for a in ("width", "height"))
    rows = len(ring.steps)
    # a column per lane plus the step column; every row at least readable, at most a few lines high
    assert 5 * 60 < width <= 2000, width
    assert rows * 20 < height <= rows * 80 + 300, height


@pytest.mark.parametrize("which", ["committed 2PC", "40-step ring"])
@pytest.mark.needs_graphviz
def test_each_message_stays_between_its_lanes(which, ring, ring_layout):
    trace, lay, lanes = ((Trace.load(TPC), None, ["tm1", "rm1", "rm2", "rm3"]) if which == "committed 2PC"
                         else (ring, ring_layout, NODES))
    lay = lay or Layout(to_dot(trace))
    stray = []
    for e in lay.edges:
        if not e.get("id", "").startswith("msg-") or e["label"].endswith("…"):
            continue
        xa, xb = lay.pos(e["tail"])[0], lay.pos(e["head"])[0]
        lo, hi = min(xa, xb) - 60, max(xa, xb) + 60
        points = [float(p.split(",")[0]) for p in e["pos"].replace("e,", "").split()]
        label_x = float(e["lp"].split(",")[0])
        if not (lo <= label_x <= hi and lo <= min(points) and max(points) <= hi):
            stray.append(e["label"])
    assert not stray, f"{len(stray)} messages drawn outside their lanes: {stray}"
    last_lane = lay.pos(lay.by_id[f"lane-{lanes[-1]}"])[0]
    assert float(lay.raw["bb"].split(",")[2]) <= last_lane + 200


# -- SVG -----------------------------------------------------------------------------------------------------------


# the lanes of the committed traces, read by hand (the tests above read them back from Graphviz's layout)
LANES = {TPC: ["tm1", "rm1", "rm2", "rm3"], ACK_EARLY: ["vs1", "server1", "server2", "client1"],
         TLA: ["rm1", "system", "rm2"]}


def svg_lane_order(root: ET.Element) -> list[str]:
    """The lanes of a drawn chart, left to right: the groups lane-<name>, by their header's x."""
    heads = {el.get("id")[len("lane-"):]: float(el.find("{http://www.w3.org/2000/svg}rect").get("x"))
             for el in root.iter() if (el.get("id") or "").startswith("lane-")}
    return sorted(heads, key=heads.get)


@pytest.mark.parametrize("path", [TPC, ACK_EARLY, TLA], ids=lambda p: p.stem)
def test_svg_is_one_svg_document_with_the_charts_ids(path):
    trace = Trace.load(path)
    svg = to_svg(trace)
    body = re.sub(r"<\?xml.*?\?>|<!DOCTYPE[^>]*>|<!--.*?-->", "", svg, flags=re.S).lstrip()
    assert body.startswith("<svg")
    root = ET.fromstring(body)  # well-formed
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    lanes = svg_lane_order(root)
    assert lanes == LANES[path]
    assert {f"lane-{n}" for n in lanes} <= ids
    assert {f"row-{i}" for i in range(len(trace.steps))} <= ids
    assert {f"cell-{i}-{n}" for i in range(len(trace.steps)) for n in lanes} <= ids
    assert "verdict" in ids
    n_msgs = sum(expected_messages(trace).values())
    assert {i for i in ids if i.startswith("msg-")} == {f"msg-{k}" for k in range(n_msgs)}
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert f"violated: {trace.property}" in texts


# -- ITF ---------------------------------------------------------------------------------------------------------


class ItfSet(list):
    pass


class ItfMap(list):
    pass


class Variant(tuple):
    pass


def itf_decode(v: Any) -> Any:
    """ITF -> plain values, written from the ADR (no schema): ints only as {"#bigint": "..."}."""
    if isinstance(v, bool | str):
        return v
    if isinstance(v, int | float) or v is None:
        raise AssertionError(f"a bare {v!r} in ITF (ints are {{'#bigint': ...}}, there is no null)")
    if isinstance(v, list):
        return [itf_decode(x) for x in v]
    assert isinstance(v, dict), v
    if "#bigint" in v:
        assert set(v) == {"#bigint"} and isinstance(v["#bigint"], str) and re.fullmatch(r"-?\d+", v["#bigint"]), v
        return int(v["#bigint"])
    if "#set" in v:
        assert set(v) == {"#set"} and isinstance(v["#set"], list), v
        out = ItfSet(itf_decode(x) for x in v["#set"])
        assert len({json.dumps(x, sort_keys=True) for x in v["#set"]}) == len(out), f"a set with repeats: {v}"
        return out
    if "#map" in v:
        assert set(v) == {"#map"} and all(isinstance(p, list) and len(p) == 2 for p in v["#map"]), v
        return ItfMap((itf_decode(k), itf_decode(x)) for k, x in v["#map"])
    if "#tup" in v:
        assert set(v) == {"#tup"}, v
        return tuple(itf_decode(x) for x in v["#tup"])
    if set(v) == {"tag", "value"}:
        assert isinstance(v["tag"], str), v
        return Variant((v["tag"], itf_decode(v["value"])))
    assert not any(k.startswith("#") for k in v), f"unknown ITF form {v}"
    return {k: itf_decode(x) for k, x in v.items()}


def same(d: Any, j: Any) -> bool:
    """Does the decoded ITF value `d` say what the trace's JSON value `j` says?"""
    if isinstance(d, Variant):
        tag, value = d
        if tag == "None":
            return j is None and value == ()
        if tag == "Some":
            return j is not None and same(value, j)
        return (isinstance(j, dict) and j.get("type") == tag
                and same(value, {k: x for k, x in j.items() if k != "type"}))
    if isinstance(d, ItfSet):
        return isinstance(j, list) and len(j) == len(set(map(_key, j))) and _same_multiset(list(d), j)
    if isinstance(d, ItfMap):
        if isinstance(j, dict):  # a map: keys (node names, enum names) -> values
            return (len(d) == len(j) and all(isinstance(k, str | int) and str(k) in j for k, _ in d)
                    and all(same(x, j[str(k)]) for k, x in d))
        if isinstance(j, list) and len(j) == len(d) and all(isinstance(p, list) and len(p) == 2 for p in j) \
                and all(same(k, jk) and same(x, jx) for (k, x), (jk, jx) in zip(d, j)):
            return True  # a map whose keys are not names (ints, records): JSON [key, value] pairs in key order
        if isinstance(j, list):  # a bag: element -> copies
            assert all(isinstance(n, int) and n >= 1 for _, n in d), d
            return _same_multiset([k for k, n in d for _ in range(n)], j)
        return False
    if isinstance(d, list):
        return isinstance(j, list) and len(d) == len(j) and all(same(a, b) for a, b in zip(d, j))
    if isinstance(d, dict):
        return isinstance(j, dict) and "type" not in j and d.keys() == j.keys() and all(same(d[k], j[k]) for k in d)
    if isinstance(d, bool) or isinstance(j, bool):
        return d is j
    return type(d) is type(j) and d == j


def _key(x: Any) -> str:
    return json.dumps(x, sort_keys=True)


def _same_multiset(ds: list, js: list) -> bool:
    left = list(js)
    for d in ds:
        hit = next((k for k, j in enumerate(left) if same(d, j)), None)
        if hit is None:
            return False
        left.pop(hit)
    return not left


def check_layout(desc: dict, v: Any, where: str) -> None:
    """The ITF form of a value of the (JSON-described) type `desc`, as the ADR and the exporter's docstring say."""
    kind = "record" if "record" in desc else next(iter(desc))
    arg = desc.get(kind)
    if kind == "bool":
        assert isinstance(v, bool), where
    elif kind == "int":
        assert isinstance(v, dict) and set(v) == {"#bigint"} and isinstance(v["#bigint"], str), where
        assert arg[0] <= int(v["#bigint"]) <= arg[1], where
    elif kind in ("enum", "nodeid"):
        assert isinstance(v, str), where
    elif kind == "set":
        assert isinstance(v, dict) and set(v) == {"#set"} and isinstance(v["#set"], list), where
        for k, x in enumerate(v["#set"]):
            check_layout(arg, x, f"{where}[{k}]")
    elif kind in ("map", "bag"):
        assert isinstance(v, dict) and set(v) == {"#map"} and isinstance(v["#map"], list), where
        kt, vt = (arg[0], arg[1]) if kind == "map" else (arg, {"int": [1, 1 << 62]})
        for k, pair in enumerate(v["#map"]):
            assert isinstance(pair, list) and len(pair) == 2, where
            check_layout(kt, pair[0], f"{where}.key{k}")
            check_layout(vt, pair[1], f"{where}.value{k}")
    elif kind in ("seq", "queue"):
        assert isinstance(v, list) and len(v) <= arg[1], where
        for k, x in enumerate(v):
            check_layout(arg[0], x, f"{where}[{k}]")
    elif kind == "option":
        assert isinstance(v, dict) and set(v) == {"tag", "value"} and v["tag"] in ("Some", "None"), where
        if v["tag"] == "Some":
            check_layout(arg, v["value"], f"{where}.Some")
        else:
            assert v["value"] == {"#tup": []}, where
    elif kind == "oneof":
        assert isinstance(v, dict) and set(v) == {"tag", "value"}, where
        variant = [r for r in arg if r["record"] == v["tag"]]
        assert len(variant) == 1, where
        check_layout(variant[0], v["value"], f"{where}.{v['tag']}")
    elif kind == "time":  # ticks from its node's clock, or the string "long ago"
        cut, past, ahead = arg
        assert v == "long ago" or (set(v) == {"#bigint"} and -past < int(v["#bigint"]) <= ahead), where
    elif kind == "due":  # a countdown: an option of ticks left (below 0: overdue)
        most, late = arg
        assert isinstance(v, dict) and set(v) == {"tag", "value"} and v["tag"] in ("Some", "None"), where
        if v["tag"] == "Some":
            assert -late <= int(v["value"]["#bigint"]) <= most, where
    elif kind == "record":
        assert isinstance(v, dict) and set(v) == set(desc["fields"]), where
        for f, ft in desc["fields"].items():
            check_layout(ft, v[f], f"{where}.{f}")
    else:
        raise AssertionError(f"{where}: a type the test does not know: {desc}")


def test_the_itf_decoder_of_this_test_tells_apart_what_it_should():
    assert same(itf_decode({"#set": [{"#bigint": "2"}, {"#bigint": "1"}]}), [1, 2])
    assert not same(itf_decode({"#set": [{"#bigint": "2"}]}), [1, 2])
    assert same(itf_decode({"#map": [["a", {"#bigint": "2"}]]}), ["a", "a"])  # a bag
    assert not same(itf_decode({"#map": [["a", {"#bigint": "2"}]]}), ["a"])
    assert same(itf_decode({"tag": "None", "value": {"#tup": []}}), None)
    assert not same(itf_decode({"tag": "Some", "value": {"#bigint": "0"}}), None)
    assert same(itf_decode({"tag": "Write", "value": {"value": {"#bigint": "1"}}}), {"type": "Write", "value": 1})
    assert not same(itf_decode([{"#bigint": "1"}, {"#bigint": "2"}]), [2, 1])  # sequences keep their order
    assert not same(itf_decode(True), 1)
    with pytest.raises(AssertionError):
        itf_decode({"x": 1})


@pytest.fixture(scope="module", params=[*COMMITTED, "faulty", "fifo"],
                ids=lambda p: p.stem if isinstance(p, Path) else p)
def any_trace(request) -> tuple[Trace, dict]:
    if isinstance(request.param, Path):
        return Trace.load(request.param), json.loads(request.param.read_text())
    t = request.getfixturevalue(request.param)
    return t, json.loads(json.dumps(t.to_json()))


def test_itf_layout_and_round_trip(any_trace):
    trace, raw = any_trace
    itf = json.loads(json.dumps(to_itf(trace)))  # what a file would hold
    loop = raw.get("loop")
    assert set(itf) == {"#meta", "vars", "states"} | ({"loop"} if loop is not None else set())
    if loop is not None:  # a lasso: where its cycle starts, as the trace says
        assert itf["loop"] == loop and 0 <= loop < len(raw["steps"])
    meta = itf["#meta"]
    assert meta["format"] == "ITF" and meta["format-description"].startswith("https://")
    assert meta["source"] == (raw["spec"] or raw["protocol"])
    assert raw["protocol"] in meta["description"]
    assert itf["vars"] == list(raw["steps"][0]["state"])
    assert len(itf["states"]) == len(raw["steps"])
    assert [s["#meta"]["index"] for s in itf["states"]] == list(range(len(raw["steps"])))
    assert "action" not in itf["states"][0]["#meta"]
    assert [s["#meta"]["action"] for s in itf["states"][1:]] == [st.label for st in trace.steps[1:]]
    for i, (s, step) in enumerate(zip(itf["states"], raw["steps"])):
        assert list(s) == ["#meta", *itf["vars"]]
        for name in itf["vars"]:
            check_layout(raw["types"][name], s[name], f"states[{i}].{name}")
            assert same(itf_decode(s[name]), step["state"][name]), f"states[{i}].{name}"


def test_itf_needs_the_types_a_trace_records():
    raw = json.loads(TPC.read_text())
    del raw["types"]
    with pytest.raises(TraceError, match="types"):
        to_itf(Trace.from_json(raw))
    raw = json.loads(TPC.read_text())
    del raw["steps"][2]["state"]["rm3"]
    with pytest.raises(TraceError, match="rm3"):
        to_itf(Trace.from_json(raw))
    raw = json.loads(TPC.read_text())
    raw["steps"][2]["state"]["rm1"]["state"] = "flying"
    with pytest.raises(TraceError, match="flying"):
        to_itf(Trace.from_json(raw))


# -- HTML --------------------------------------------------------------------------------------------------------


class Page(HTMLParser):
    """Every tag and its attributes, and the text of each script and style."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.styles: list[str] = []
        self._in: tuple[str, dict] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = (tag, dict(attrs))
            (self.scripts.append((dict(attrs), "")) if tag == "script" else self.styles.append(""))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        if self._in and self._in[0] == "script":
            self.scripts[-1] = (self.scripts[-1][0], self.scripts[-1][1] + data)
        elif self._in:
            self.styles[-1] += data

    def handle_endtag(self, tag):
        if self._in and tag == self._in[0]:
            self._in = None


def hand_trace(*values: str) -> Trace:
    """A low-level trace whose variable `box.note` takes each of `values` in turn."""
    steps = [{"kind": "init", "state": {"box": {"note": values[0]}, "n": 0}}]
    for k, v in enumerate(values[1:], 1):
        steps.append({"kind": "action", "action": "Write", "params": [], "state": {"box": {"note": v}, "n": k}})
    return Trace.from_json({"format": "faultcheck-trace/1", "spec": None, "protocol": "hand:Made", "params": {},
                            "property": None, "verdict": "bounded", "steps": steps})


def data_of(page: Page) -> dict:
    data = [text for attrs, text in page.scripts if attrs.get("id") == "trace-data"]
    assert len(data) == 1
    return json.loads(data[0])


@pytest.mark.parametrize("path", [TPC, ACK_EARLY], ids=lambda p: p.stem)
def test_html_is_self_contained(path):
    trace = Trace.load(path)
    text = to_html(trace)
    assert text.startswith("<!DOCTYPE html>")
    page = Page(text)
    tags = [t for t, _ in page.tags]
    assert "link" not in tags and "iframe" not in tags and "img" not in tags
    for tag, attrs in page.tags:
        for k, v in attrs.items():
            if k in ("src", "href", "xlink:href", "data", "action", "srcset", "poster"):
                raise AssertionError(f"<{tag} {k}={v!r}>: the page must not load anything")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//|file:)""", text, re.I)
    assert not re.search(r"@import|url\(", "".join(page.styles))
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json", None]
    assert all(script.strip() for _, script in page.scripts) and page.styles and page.styles[0].strip()
    assert tags.count("svg") == 1 and not re.search(r"<\?xml|<!DOCTYPE svg", text)
    for needed in ("first", "back", "next", "last", "step-label", "position", "state", "row-0", "verdict"):
        assert any(a.get("id") == needed for _, a in page.tags), needed
    data = data_of(page)
    assert [s["label"] for s in data["steps"]] == [st.label for st in trace.steps]
    assert [s["state"] for s in data["steps"]] == [st.state for st in trace.steps]
    assert data["lanes"] == LANES[path]
    assert data["core"] == trace.extra.get("violation_core", {}).get("fields", [])
    down = [s["down"] for s in data["steps"]]
    if path == ACK_EARLY:
        assert down == [[], [], [], [], ["server1"], ["server1"]]


@pytest.mark.parametrize("evil", ["</script><script>window.owned = 1</script>", "</SCRIPT >", "<\\/script>", "]]>"])
def test_a_state_holding_a_script_end_tag_stays_data(evil):
    trace = hand_trace("plain", evil)
    page = Page(to_html(trace))
    assert len(page.scripts) == 2  # nothing broke out into a third
    assert data_of(page)["steps"][1]["state"] == {"box": {"note": evil}, "n": 1}


def test_the_data_json_holds_no_html_comment_or_script_opener():
    trace = hand_trace("plain", "<!--<script>")
    page = Page(to_html(trace))
    data = [text for attrs, text in page.scripts if attrs.get("id") == "trace-data"][0]
    assert "<!--" not in data and "<script" not in data.lower()


def test_html_escapes_what_it_writes_as_markup():
    raw = hand_trace("a", "b").to_json()
    raw["protocol"] = "x:<b>bold</b>"
    raw["reason"] = "<i>why</i> & more"
    text = to_html(Trace.from_json(raw))
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text
    assert "<i>why</i>" not in text and "&lt;i&gt;why&lt;/i&gt; &amp; more" in text


# -- the state graph ----------------------------------------------------------------------------------------------------


def bfs(params: dict) -> tuple[set, int]:
    """Every reachable state and the number of (state, action, successor) steps, by brute force."""
    system, _ = prepare(TLA_SPEC, params)
    seen = set(system.initial)
    todo = list(seen)
    steps = 0
    while todo:
        s = todo.pop()
        for a in system.actions:
            succ = list(a.successors(s))
            steps += len(succ)
            for t in succ:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
    return seen, steps


NODE_LINE = re.compile(r"^  s(\d+) \[(.*)\];$")
EDGE_LINE = re.compile(r"^  s(\d+) -> s(\d+)(?: \[(.*)\])?;$")


def dot_graph(dot: str) -> tuple[dict[int, str], list[tuple[int, int, str]]]:
    nodes, edges = {}, []
    for line in dot.splitlines():
        if m := EDGE_LINE.match(line):
            edges.append((int(m[1]), int(m[2]), m[3] or ""))
        elif m := NODE_LINE.match(line):
            nodes[int(m[1])] = m[2]
    return nodes, edges


@pytest.mark.needs_graphviz
def test_graph_has_every_reachable_state():
    states, steps = bfs({"rms": 1})
    dot = state_graph(TLA_SPEC, params={"rms": 1})
    nodes, edges = dot_graph(dot)
    assert len(nodes) == len(states) == 12
    assert len(edges) == steps
    lay = Layout(dot)  # Graphviz reads it as the same graph
    assert len([o for o in lay.by_gvid.values() if re.fullmatch(r"s\d+", o["name"])]) == len(states)
    assert len(lay.edges) == steps
    assert all('label="' in attrs for _, _, attrs in edges)  # small: every step labelled
    assert sum("peripheries=2" in a for a in nodes.values()) == 1  # one initial state
    assert "#b00020" not in dot  # no trace, nothing highlighted


@pytest.mark.needs_graphviz
def test_graph_highlights_the_path_of_a_trace():
    r = check(TLA_SPEC, params={"rms": 2}, out=None)
    trace = r.trace
    assert trace is not None and len(trace) == 5
    states, _ = bfs({"rms": 2})
    dot = state_graph(TLA_SPEC, params={"rms": 2}, trace=trace)
    nodes, edges = dot_graph(dot)
    assert len(nodes) == len(states)
    red = {n for n, a in nodes.items() if "#b00020" in a}
    assert len(red) == len({json.dumps(st.state, sort_keys=True) for st in trace.steps})
    (start,) = [n for n in red if "peripheries=2" in nodes[n]]
    filled = [n for n, a in nodes.items() if "filled" in a]
    at = start
    for st in trace.steps[1:]:  # follow the red steps by the trace's labels
        nxt = [b for a, b, attrs in edges if a == at and f'label="{st.label}"' in attrs and "#b00020" in attrs]
        assert len(nxt) == 1, st.label
        at = nxt[0]
    assert filled == [at]  # the violating state filled
    red_edges = [(a, b) for a, b, attrs in edges if "#b00020" in attrs]
    assert len(red_edges) == len(trace) and all(a in red and b in red for a, b in red_edges)
    svg = state_graph(TLA_SPEC, params={"rms": 2}, trace=trace, fmt="svg")
    assert svg.count('stroke="#b00020"') >= len(red) + len(red_edges)


def test_graphml_is_the_same_graph():
    r = check(TLA_SPEC, params={"rms": 2}, out=None)
    states, steps = bfs({"rms": 2})
    text = state_graph(TLA_SPEC, params={"rms": 2}, trace=r.trace, fmt="graphml")
    g = nx.read_graphml(io.BytesIO(text.encode()))
    assert g.number_of_nodes() == len(states) and g.number_of_edges() == steps
    assert sum(bool(d["on_trace"]) for _, d in g.nodes(data=True)) == len(r.trace.steps)
    assert sum(bool(d["initial"]) for _, d in g.nodes(data=True)) == 1


def test_a_big_graph_is_force_directed_without_step_labels():
    states, steps = bfs({"rms": 3})
    assert len(states) > 150
    dot = state_graph(TLA_SPEC, params={"rms": 3})
    nodes, edges = dot_graph(dot)
    assert len(nodes) == len(states) and len(edges) == steps
    assert "layout=sfdp" in dot
    assert not any("label=" in attrs for _, _, attrs in edges)
    small = state_graph(TLA_SPEC, params={"rms": 2})
    assert "sfdp" not in small


def test_graph_refuses_more_states_than_its_limit():
    n = len(bfs({"rms": 1})[0])
    assert len(dot_graph(state_graph(TLA_SPEC, params={"rms": 1}, limit=n))[0]) == n  # exactly the limit: fine
    with pytest.raises(SpecError) as e:
        state_graph(TLA_SPEC, params={"rms": 1}, limit=n - 1)
    assert str(TLA_SPEC) in str(e.value) and str(n - 1) in str(e.value) and "\n" not in str(e.value)


def test_graph_rejects_a_trace_of_other_parameters():
    with pytest.raises(TraceError):
        state_graph(TLA_SPEC, params={"rms": 2}, trace=Trace.load(TLA))  # a trace of 3 RMs
    with pytest.raises(TraceError):
        state_graph(TLA_SPEC, params={"rms": 3}, trace=Trace.load(TPC))  # another model


@pytest.mark.parametrize("name", ["tcp_tla", "alternating_bit_tla"])
def test_the_graph_explores_as_the_search_does_under_constraints(name):
    """A state beyond a CONSTRAINT is drawn dashed, with no step out of it; a step an ACTION_CONSTRAINT forbids is
    not drawn: the solid states are exactly those the search counts (their successors beyond the bounds would
    overflow the model's queues, which made the graph fail before)."""
    spec = ROOT / "specs" / f"{name}.toml"
    text = state_graph(spec, fmt="graphml", limit=20000)
    g = nx.read_graphml(io.BytesIO(text.encode()))
    outside = {n for n, d in g.nodes(data=True) if d.get("outside")}
    assert outside and all(g.out_degree(n) == 0 for n in outside)
    assert g.number_of_nodes() - len(outside) == check(spec, out=None).stats.distinct
