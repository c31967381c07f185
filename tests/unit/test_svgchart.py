"""The sequence chart drawn as SVG without Graphviz (checker/trace/svgchart.py): no two texts overlap, on every
committed counterexample, on a 50-step chart over 9 nodes with every kind of mark and on random small traces;
every text lies inside the picture; messages run from their sender's lane to their receiver's; crashes, the
verdict and the lasso are drawn; and `faultcheck show --format svg|html` works with no `dot` anywhere.

Text boxes are computed here from the SVG's own attributes (x, y, font-size, text-anchor and the text) with
a width table written here (an upper bound on DejaVu Sans, the widest of the fonts the chart names); in
Chromium the rendered boxes are checked to lie inside these. Expected messages come from the traces' steps,
not from the layout code.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.trace import Trace
from checker.trace.msc import chart, to_svg
from checker.trace.svgchart import render

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted((ROOT / "counterexamples").glob("*.json"))
TPC = ROOT / "counterexamples" / "two_phase_commit_early_commit.json"
NS = "{http://www.w3.org/2000/svg}"
TOLERANCE = 1.0  # px two text boxes may share (rounding of coordinates to 0.1 px, and the width estimate's slack)


# -- reading an SVG back -------------------------------------------------------------------------------------------


def em(ch: str) -> float:
    """An upper bound on a character's width in DejaVu Sans, in em (Helvetica, Arial and Liberation Sans
    are narrower), by groups of characters of about the same width; 1 for anything beyond ASCII."""
    for chars, w in ((".,:;'|ijl", 0.34), (" ", 0.32), ("!ft()[]-/\\IJr", 0.42), ('"*_`', 0.5), ("csz?", 0.56),
                     ("kvxy", 0.6), ("LFPTY$", 0.62), ("ABCEKRSVXZ", 0.7), ("DGHNOQU&", 0.79), ("w#+<=>^~", 0.84),
                     ("mMW%@", 1.0)):
        if ch in chars:
            return w
    return 0.64 if ch.isascii() else 1.0


def parse(svg: str) -> ET.Element:
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{NS}svg"
    return root


def parents(root: ET.Element) -> dict[ET.Element, ET.Element]:
    return {child: parent for parent in root.iter() for child in parent}


def text_boxes(root: ET.Element) -> list[tuple[tuple[float, float, float, float], str, ET.Element]]:
    """(x0, y0, x1, y1), the text and the element, of every <text> in the SVG."""
    out = []
    for t in root.iter(f"{NS}text"):
        text = "".join(t.itertext())
        size = float(t.get("font-size"))
        x, y = float(t.get("x")), float(t.get("y"))
        w = sum(em(ch) for ch in text) * size
        anchor = t.get("text-anchor", "start")
        x0 = x if anchor == "start" else x - w / 2 if anchor == "middle" else x - w
        out.append(((x0, y - 0.95 * size, x0 + w, y + 0.25 * size), text, t))
    return out


def rect_box(r: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = (float(r.get(a)) for a in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def overlap(a, b) -> float:
    """How far two boxes overlap (the smaller of the two sides), 0 when they are apart."""
    return max(0.0, min(min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])))


def check_legible(svg: str) -> ET.Element:
    """No two texts overlap, no text overlaps a lane header or the verdict box it is not inside, and every
    text lies inside the viewBox."""
    root = parse(svg)
    up = parents(root)
    _, _, vw, vh = (float(v) for v in root.get("viewBox").split())
    boxes = text_boxes(root)
    for (x0, y0, x1, y1), text, _ in boxes:
        assert 0 <= x0 and x1 <= vw and 0 <= y0 and y1 <= vh, f"{text!r} leaves the picture {(x0, y0, x1, y1)}"
    clashes = []
    for i, (a, ta, _) in enumerate(boxes):
        for b, tb, _ in boxes[i + 1:]:
            if overlap(a, b) > TOLERANCE:
                clashes.append((ta, tb, round(overlap(a, b), 1)))
    frames = []  # lane headers and the verdict box, each with the texts inside it
    for g in root.iter(f"{NS}g"):
        if g.get("class") in ("lane", "verdict"):
            rect = g.find(f"{NS}rect")
            frames.append((rect_box(rect), g))
    for i, (a, ga) in enumerate(frames):
        for b, _ in frames[i + 1:]:
            assert overlap(a, b) == 0, f"{ga.get('id')} overlaps another box"
        for box, text, el in boxes:
            if up[el] is not ga and overlap(a, box) > TOLERANCE:
                clashes.append((ga.get("id"), text, round(overlap(a, box), 1)))
    assert not clashes, f"{len(clashes)} overlapping texts, e.g. {clashes[:5]}"
    return root


def by_id(root: ET.Element) -> dict[str, ET.Element]:
    return {el.get("id"): el for el in root.iter() if el.get("id")}


def lane_x(ids: dict[str, ET.Element], lane: str) -> float:
    x0, _, x1, _ = rect_box(ids[f"lane-{lane}"].find(f"{NS}rect"))
    return (x0 + x1) / 2


def ends(el: ET.Element) -> tuple[float, float, float, float]:
    """(x1, y1, x2, y2) of a message's line, or of its path's first and last points."""
    line = el.find(f"{NS}line")
    if line is not None:
        return tuple(float(line.get(a)) for a in ("x1", "y1", "x2", "y2"))
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", el.find(f"{NS}path").get("d"))]
    return nums[0], nums[1], nums[-2], nums[-1]


# -- the committed counterexamples -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_committed_charts_have_no_overlapping_text(path):
    trace = Trace.load(path)
    root = check_legible(to_svg(trace))
    ids = by_id(root)
    assert {f"row-{i}" for i in range(len(trace.steps))} <= set(ids)
    if trace.verdict == "violated":
        verdict = " ".join("".join(t.itertext()) for t in ids["verdict"].iter(f"{NS}text"))
        assert verdict.startswith(f"violated: {trace.property}")
        for f in (trace.extra.get("violation_core") or {}).get("fields", []):
            assert f"{f['field']}={f['value']}" in verdict


def test_the_longest_committed_chart_reads_top_to_bottom():
    path = max(COMMITTED, key=lambda p: len(json.loads(p.read_text())["steps"]))
    trace = Trace.load(path)
    ids = by_id(parse(to_svg(trace)))
    ys = [float(ids[f"row-{i}"].find(f"{NS}rect").get("y")) for i in range(len(trace.steps))]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)  # time runs downwards, a row per step
    for i, step in enumerate(trace.steps):
        texts = ["".join(t.itertext()) for t in ids[f"row-{i}"].iter(f"{NS}text")]
        assert texts[0] == str(i) and " ".join(texts[1:]) == step.label


# -- structure: messages, crashes, the verdict, the lasso -------------------------------------------------------------


def sent_and_ended(trace: Trace) -> Counter:
    """(src, dst, sent row, end row) of every delivered message, read off the deliver steps and the network:
    the row that sent it is the last row before its delivery at which one more copy appeared in flight."""
    def flight(state: dict) -> Counter:
        return Counter((e["src"], e["dst"], json.dumps(e["msg"], sort_keys=True)) for e in state.get("network", []))

    history = [flight(step.state) for step in trace.steps]
    out: Counter = Counter()
    for i, step in enumerate(trace.steps[1:], 1):
        if step.kind != "deliver":
            continue
        (key,) = set(history[i - 1] - history[i])  # the one envelope the delivery took
        born = max(j for j in range(i) if history[j][key] > (history[j - 1][key] if j else 0))
        out[(key[0], key[1], born, i)] += 1
    return out


def test_each_delivered_message_runs_from_its_senders_lane_to_its_receivers():
    trace = Trace.load(TPC)
    root = parse(to_svg(trace))
    ids = by_id(root)
    drawn: Counter = Counter()
    c = chart(trace)
    for k, m in enumerate(c.messages):
        if m.fate != "delivered":
            continue
        x1, y1, x2, y2 = ends(ids[f"msg-{k}"])
        src = [n for n in c.lanes if abs(lane_x(ids, n) - x1) < 0.1]
        dst = [n for n in c.lanes if abs(lane_x(ids, n) - x2) < 0.1]
        assert len(src) == 1 and len(dst) == 1 and y2 > y1, (k, m)
        drawn[(src[0], dst[0], m.sent, m.end)] += 1
        cls = ids[f"msg-{k}"].get("class").split()
        assert cls[:2] == ["msg", "delivered"]
        assert "url(#fc-arrow)" in ET.tostring(ids[f"msg-{k}"], encoding="unicode")
    assert drawn == sent_and_ended(trace)
    assert sum(drawn.values()) == 4  # read by hand: Prepare to rm1 and rm2, Prepared to tm1, Commit to rm1


def test_messages_on_the_synthetic_chart_start_and_end_on_their_lanes(big):
    root = parse(render(big))
    ids = by_id(root)
    c = chart(big)
    cells_y = {}
    for i in range(len(big.steps)):
        circles = [el for lane in c.lanes for el in ids[f"cell-{i}-{lane}"].iter(f"{NS}circle")]
        cells_y[i] = {float(el.get("cy")) for el in circles}
    assert sum(m.fate == "delivered" for m in c.messages) == sum(sent_and_ended(big).values())
    for k, m in enumerate(c.messages):
        x1, y1, x2, y2 = ends(ids[f"msg-{k}"])
        assert abs(x1 - lane_x(ids, m.src)) < 0.1 and abs(x2 - lane_x(ids, m.dst)) < 0.1, (k, m)
        assert y2 > y1
        fate = ids[f"msg-{k}"].get("class").split()[1]
        assert fate == m.fate.replace(" ", "")
        if m.fate == "delivered":
            assert y2 in cells_y[m.end]  # on the receiving cell's dot
        label = [t for t in root.iter(f"{NS}text") if t.get("data-msg") == str(k)]
        assert len(label) == 1 and m.label in label[0].text
        if m.fate in ("dropped", "lost"):
            assert label[0].text.startswith("✕ ")


def test_crashes_restarts_and_the_verdict_are_marked(big):
    root = parse(render(big))
    ids = by_id(root)
    crashes = [(i, st.params[0]) for i, st in enumerate(big.steps) if st.kind == "crash"]
    restarts = [(i, st.params[0]) for i, st in enumerate(big.steps) if st.kind == "restart"]
    assert len(crashes) == 2 and len(restarts) == 1
    for i, lane in crashes:
        assert "✕" in "".join(ids[f"cell-{i}-{lane}"].itertext())
    for i, lane in restarts:
        assert "↻" in "".join(ids[f"cell-{i}-{lane}"].itertext())
    marked = {(i, lane) for i in range(len(big.steps)) for lane in NODES
              if "✕" in "".join(ids[f"cell-{i}-{lane}"].itertext())}
    assert marked == set(crashes)  # a cross nowhere else
    # the lane is dashed grey while its node is down
    (a, lane), (b, _) = crashes[0], restarts[0]
    dashed = [ln for ln in ids[f"lane-{lane}"].iter(f"{NS}line") if ln.get("class") == "down"]
    assert len(dashed) == 1
    rows_y = [float(ids[f"stripe-{i}"].get("y")) for i in range(len(big.steps))]
    y1, y2 = float(dashed[0].get("y1")), float(dashed[0].get("y2"))
    assert rows_y[a] < y1 < rows_y[a + 1] and rows_y[b] < y2 < rows_y[b + 1]
    texts = [t.text for t in ids["verdict"].iter(f"{NS}text")]
    assert texts[0] == "violated: EventuallyAgreed" and "node1.x=3" in " ".join(texts)
    assert "↺ repeats forever" in "".join(ids["loop"].itertext())
    loop_path = ids["loop"].find(f"{NS}path").get("d")
    ys = [float(v) for v in re.findall(r"[\d.]+", loop_path)[1::2]]
    assert min(ys) < rows_y[LOOP + 1] and max(ys) > rows_y[len(big.steps) - 1]  # from the last row to the loop's
    for i in range(len(big.steps)):  # the cycle shaded, and the partition's rows
        fill = ids[f"stripe-{i}"].get("fill")
        assert (fill != "none") == (i >= LOOP or PARTITION <= i <= HEAL), i
    assert "partition {node1, node2, node3, node4} | {node5, node6, node7, node8, node9}" in \
        "".join(ids[f"partition-{PARTITION}"].itertext())
    assert "heal" in "".join(ids[f"heal-{HEAL}"].itertext())
    assert [int(i.split("-")[1]) for i in ids if i.startswith("tick-")] == TICKS
    assert "t=1" in "".join(ids[f"tick-{TICKS[0]}"].itertext())


def test_text_is_escaped():
    raw = json.loads(TPC.read_text())
    raw["protocol"] = 'x:<b a="1">&amp;</b>\x01'
    raw["property"] = "P<&>"
    for step in raw["steps"]:
        for e in step["state"]["network"]:
            e["msg"]["type"] = "A<&>\"'"
    svg = to_svg(Trace.from_json(raw))
    root = parse(svg)  # well-formed
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert 'x:<b a="1">&amp;</b>\ufffd — violated: P<&> (4 steps)' in texts
    assert any(t and t.startswith("A<&>\"'") for t in texts)


# -- a long chart: 50 steps over 9 nodes ------------------------------------------------------------------------------


NODES = [f"node{i}" for i in range(1, 10)]
CRASH, RESTART, CRASH2 = 12, 20, 31
PARTITION, HEAL, LOOP = 15, 24, 42
TICKS = [8, 18, 28, 38]
DROP, DUPLICATE, JUMP, SELF = 10, 5, 33, 26


def synthetic(steps: int = 50, seed: int = 5) -> Trace:
    """Nine nodes pass numbered messages about (each delivery sends one or two on, oldest-first with some
    shuffling), with a copy, a drop, two crashes (one restarts; messages to a crashed node are lost), a
    partition and its heal, ticks and two clocks (node5's falls behind; node1's jumps), a message a node
    sends itself, a lasso from the last step back to step LOOP and a violation."""
    rng = random.Random(seed)
    net: list[dict] = []
    down: set[str] = set()
    clocks = {"node1": 0, "node5": 0}
    count = 0

    def send(src: str, dst: str | None = None) -> None:
        nonlocal count
        count += 1
        kind = rng.choice(["Ping", "Ack", "Replicate", "Vote"])
        dst = dst or rng.choice([n for n in NODES if n != src])
        net.append({"msg": {"type": kind, "n": count}, "src": src, "dst": dst})

    def state() -> dict:
        return {**{n: {"x": i} for i, n in enumerate(NODES)}, "timers": {n: [] for n in NODES},
                "network": [dict(e) for e in net], "clocks": dict(clocks)}

    def text(e: dict) -> str:
        return f"{e['msg']['type']}({e['msg']['n']})"

    for n in NODES[:4]:
        send(n)
    out = [{"kind": "init", "state": state()}]
    for i in range(1, steps + 1):
        kind, action, params = "deliver", "", []
        if i in (CRASH, CRASH2):
            node = "node3" if i == CRASH else "node7"
            down.add(node)
            net[:] = [e for e in net if e["dst"] != node]
            kind, action, params = "crash", "crash", [node]
        elif i == RESTART:
            down.discard("node3")
            kind, action, params = "restart", "restart", ["node3"]
            send("node3")
        elif i == PARTITION:
            kind, action, params = "partition", "partition", ["{node1, node2, node3, node4}",
                                                              "{node5, node6, node7, node8, node9}"]
        elif i == HEAL:
            kind, action = "heal", "heal"
        elif i in TICKS:
            kind, action = "tick", "tick"
            clocks["node5"] -= 1
        elif i == JUMP:
            kind, action, params = "clock_jump", "clock_jump", ["node1", "+2"]
            clocks["node1"] += 2
        elif i in (DROP, DUPLICATE):
            e = net[0]
            kind = "drop" if i == DROP else "duplicate"
            action, params = kind, [e["src"], e["dst"], text(e)]
            if i == DROP:
                net.pop(0)
            else:
                net.append(dict(e))
        if kind == "deliver":
            live = [e for e in net if e["dst"] not in down]
            if not live:
                send(rng.choice([n for n in NODES if n not in down]))
                live = [e for e in net if e["dst"] not in down]
            e = live[min(len(live) - 1, rng.choice([0, 0, 1, 2]))]
            net.remove(e)
            action, params = e["msg"]["type"], [e["src"], e["dst"], text(e)]
            dst = e["dst"]
            if i == SELF:
                send(dst, dst)
            for _ in range(rng.choice([1, 2, 2])):
                send(dst)
        out.append({"kind": kind, "action": action, "params": params, "state": state()})
    return Trace.from_json({
        "format": "faultcheck-trace/1", "spec": None, "protocol": "synthetic:Nine", "params": {},
        "property": "EventuallyAgreed", "verdict": "violated", "steps": out, "loop": LOOP,
        "violation_core": {"fields": [{"field": "node1.x", "value": 3}], "instance": ["a=node1"]}})


@pytest.fixture(scope="module")
def big() -> Trace:
    return synthetic()


def test_a_chart_of_50_steps_over_9_nodes_has_no_overlapping_text(big):
    assert len(big) == 50 and chart(big).lanes == NODES
    c = chart(big)
    assert len(c.messages) > 60 and sum(m.src == m.dst for m in c.messages) == 1
    assert {m.fate for m in c.messages} == {"delivered", "dropped", "lost", "in flight"}
    assert any(m.copy for m in c.messages)
    root = check_legible(render(big))
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    assert width < 9 * 200 + 600 and height < 51 * 80 + 300, (width, height)  # a sane size


# -- random small traces ---------------------------------------------------------------------------------------------


NAMES = ["a", "tm1", "Wide<&>", "é→✕", "node with a long name", "x\"y"]
WORDS = st.text(alphabet="abcXYZ019 <&>\"'→✕()[],.WMil", max_size=14)


@st.composite
def small_traces(draw) -> Trace:
    lanes = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    net: list[dict] = []

    def state() -> dict:
        return {**{n: {"v": 0} for n in lanes}, "timers": {n: [] for n in lanes}, "network": [dict(e) for e in net]}

    def send() -> None:
        net.append({"msg": {"type": draw(st.sampled_from(["M", "Write", "Ack"])), "f": draw(WORDS)},
                    "src": draw(st.sampled_from(lanes)), "dst": draw(st.sampled_from(lanes))})

    for _ in range(draw(st.integers(1, 3))):
        send()
    steps = [{"kind": "init", "state": state()}]
    for _ in range(draw(st.integers(0, 10))):
        if not net:
            break
        e = net.pop(draw(st.integers(0, len(net) - 1)))
        for _ in range(draw(st.integers(0, 2))):
            send()
        steps.append({"kind": "deliver", "action": e["msg"]["type"], "params": [e["src"], e["dst"], draw(WORDS)],
                      "state": state()})
    verdict = draw(st.sampled_from(["violated", "bounded"]))
    return Trace.from_json({"format": "faultcheck-trace/1", "spec": None, "protocol": "random:" + draw(WORDS),
                            "params": {}, "property": draw(WORDS) or "P", "verdict": verdict, "steps": steps})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace=small_traces())
def test_random_small_charts_parse_and_have_no_overlapping_text(trace):
    root = check_legible(to_svg(trace))
    ids = by_id(root)
    c = chart(trace)
    assert {f"msg-{k}" for k in range(len(c.messages))} <= set(ids)
    assert {f"cell-{i}-{lane}" for i in range(len(trace.steps)) for lane in c.lanes} <= set(ids)


# -- no Graphviz -----------------------------------------------------------------------------------------------------


def test_show_svg_and_html_need_no_dot(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}  # no dot, whatever this machine has
    for fmt in ("svg", "html"):
        p = subprocess.run([sys.executable, "-m", "checker", "show", str(TPC), "--format", fmt],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert "<svg" in p.stdout and 'id="verdict"' in p.stdout
    probe = ("import sys; from checker.trace import Trace; from checker.trace.html import to_html; "
             f"to_html(Trace.load({str(TPC)!r})); print('graphviz' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stderr


# -- the boxes hold the rendered text (Chromium) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield d
    finally:
        d.quit()


def rendered_boxes(driver, svg: str, path: Path) -> list[tuple[str, Any]]:
    path.write_text(svg, encoding="utf-8")
    driver.get(path.as_uri())
    return driver.execute_script(
        "return [...document.querySelectorAll('text')].map(t => { const b = t.getBBox();"
        " return [t.textContent, [b.x, b.y, b.x + b.width, b.y + b.height]]; });")


@pytest.mark.needs_chromium
def test_in_chromium_each_text_lies_inside_its_estimated_box(driver, big, tmp_path):
    traces = {"big": big, **{p.stem: Trace.load(p) for p in COMMITTED[:: max(1, len(COMMITTED) // 8)]}}
    for name, trace in traces.items():
        svg = to_svg(trace)
        estimated = [(text, box) for box, text, _ in text_boxes(parse(svg))]
        real = rendered_boxes(driver, svg, tmp_path / f"{name}.svg")
        assert [t for t, _ in real] == [t for t, _ in estimated], name
        for (text, (x0, y0, x1, y1)), (_, (a0, b0, a1, b1)) in zip(estimated, real):
            assert x0 - 1.5 <= a0 and a1 <= x1 + 1.5 and y0 - 1 <= b0 and b1 <= y1 + 1, \
                (name, text, (x0, y0, x1, y1), (a0, b0, a1, b1))
