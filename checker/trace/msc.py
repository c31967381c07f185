"""Message-sequence charts of traces: what happened where, read from the trace alone.

`chart(trace)` works out the lanes (one per node, in the order of the state),
each step's row and lane, every message (the row that sent it, the row that
delivered, dropped or duplicated it, or none: still in flight), the rows where
each node is down, the partitions and the lasso's loop; `to_svg` draws it as SVG
with faultcheck's own layout (`svgchart`, no Graphviz needed: `show --format
svg|html` work on a bare `pip install`), and `to_dot` lays it out for Graphviz
(`show --format dot`): time downwards, one column per lane, message arrows
across. Messages are matched by diffing the network between consecutive states,
so nothing is re-run. A low-level model has no messages: its steps sit on the
lane of their first parameter (`RMPrepare(rm1)` on rm1), or on a `system` lane.
With time, a tick is a dashed line across the lanes labelled with global time
("t=3"), and a lane whose node keeps a clock shows the clock "◷" where its
offset from global time changes ("◷ t+1": it reads one more than global time;
a tick leaves the clocks that do not keep pace behind) and where it jumps
("◷ jumps +2", a fault).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .format import Trace

SYSTEM = "system"
BOOKKEEPING = {"timers", "network", "channels", "down", "crashes", "detected", "partition", "partitions", "drops",
               "duplicates", "firings", "clocks", "due_in", "jumps"}
CLOCK = "◷"  # a clock face that DejaVu Sans (Graphviz's default font, and browsers' fallback) has


@dataclass
class Message:
    label: str
    src: str
    dst: str
    sent: int  # the row whose step sent it (0: sent while starting)
    end: int | None = None  # the row that delivered, dropped or duplicated it; None: never
    fate: str = "in flight"  # "delivered" | "dropped" | "lost" (in a crash) | "in flight"
    copy: bool = False  # made by a duplicate step


@dataclass
class Row:
    index: int
    label: str
    kind: str
    lane: str | None  # where it happens; None: across the chart (partition, heal)


@dataclass
class Chart:
    lanes: list[str]
    rows: list[Row]
    messages: list[Message] = field(default_factory=list)
    down: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)  # lane -> [(crash row, restart row)]
    partitions: list[tuple[int, int | None, str]] = field(default_factory=list)  # (row, heal row, sides)
    violation: str = ""  # the property, when the trace ends in a violation
    because: str = ""  # the fields that make it fail, and the failing instance
    time: list[int] = field(default_factory=list)  # per row: global time, the ticks so far
    clocks: dict[str, list[int]] = field(default_factory=dict)  # lane -> per row its clock's offset from global time
    jumps: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> (lane, "+2") of a clock jump
    loop: int | None = None  # a lasso: the row its cycle returns to (the last row's successor)

    def clock_mark(self, lane: str, row: int) -> str | None:
        """What the lane shows of its clock at a row: "◷ jumps +2" where it jumps, "◷ t+1" where its offset
        changes otherwise (and at the start); None elsewhere and on lanes without a clock."""
        offsets = self.clocks.get(lane)
        if offsets is None:
            return None
        jump = self.jumps.get(row)
        if jump is not None and jump[0] == lane:
            return f"{CLOCK} jumps {jump[1]}"
        if row == 0 or offsets[row] != offsets[row - 1]:
            return f"{CLOCK} {offset_text(offsets[row])}"
        return None


def offset_text(offset: int) -> str:
    """A clock reading relative to global time t: "t", "t+1", "t-2"."""
    return "t" if offset == 0 else f"t{offset:+d}"


def _clocks(state: dict) -> dict[str, int]:
    clocks = state.get("clocks")
    if not isinstance(clocks, dict):
        return {}
    return {k: v for k, v in clocks.items() if isinstance(v, int) and not isinstance(v, bool)}


def _envelopes(state: dict, originals: dict[str, dict] | None = None) -> Counter:
    """The messages in flight in a state, as a multiset of canonical JSON strings; `originals` collects
    each one as the trace wrote it (its fields in their order, for labels)."""
    out: Counter = Counter()
    found: list[dict] = []
    net = state.get("network")
    if isinstance(net, list):  # a message's age (with [time] max_delay) is not part of what it is
        found += [{k: v for k, v in e.items() if k != "age"} for e in net
                  if isinstance(e, dict) and {"msg", "src", "dst"} <= set(e)]
    chans = state.get("channels")
    if isinstance(chans, dict):
        for key, msgs in chans.items():
            src, _, dst = key.partition("→")
            found += [{"msg": _unaged(m), "src": src, "dst": dst} for m in (msgs if isinstance(msgs, list) else ())]
    for e in found:
        key = json.dumps(e, sort_keys=True)
        if originals is not None:
            originals.setdefault(key, e)
        out[key] += 1
    return out


def _unaged(m: Any) -> Any:
    """A FIFO channel's entry without its age ({"msg": ..., "age": 2} with [time] max_delay)."""
    return m["msg"] if isinstance(m, dict) and m.keys() == {"msg", "age"} else m


def message_label(msg: Any) -> str:
    """`Write(1)` for {"type": "Write", "value": 1}; a message's own text where it has no fields."""
    if isinstance(msg, dict) and "type" in msg:
        args = [_short(v) for k, v in msg.items() if k != "type"]
        return f"{msg['type']}({', '.join(args)})" if args else str(msg["type"])
    return _short(msg)


def _short(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:  # an empty Option, as step labels and the viewer write it
        return "none"
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    return json.dumps(v)


def lanes_of(trace: Trace) -> list[str]:
    """The nodes: the keys of the timers map, or of messages' ends, or node-shaped variables; for a
    low-level model, the first parameters of its steps (and `system` for steps without any)."""
    first = trace.steps[0].state
    names: list[str] = []
    if "network" in first or "channels" in first:  # a message-passing protocol: every node is a record
        names = [k for k, v in first.items() if k not in BOOKKEEPING and isinstance(v, dict)]
    timers = first.get("timers")
    if not names and isinstance(timers, dict):
        names = list(timers)
    if not names:
        for st in trace.steps:
            for e in _envelopes(st.state):
                d = json.loads(e)
                for n in (d["src"], d["dst"]):
                    if isinstance(n, str) and n not in names:  # a hand-edited file may hold anything
                        names.append(n)
    if names:
        order = [k for k in first if k in names]  # the state's order: roles as declared
        return order + [n for n in names if n not in order]
    out: list[str] = []
    for st in trace.steps[1:]:
        lane = st.params[0] if st.params else SYSTEM
        if lane not in out:
            out.append(lane)
    return out or [SYSTEM]


def _lane_of(kind: str, params: tuple[str, ...], lanes: list[str]) -> str | None:
    if kind in ("deliver",) and len(params) == 3:
        return params[1]
    if kind in ("drop", "duplicate") and len(params) == 3:
        return params[1]
    if kind in ("partition", "heal", "stutter", "tick"):
        return None
    if params and params[0] in lanes:
        return params[0]
    return SYSTEM if SYSTEM in lanes else (lanes[0] if lanes else None)


def chart(trace: Trace) -> Chart:
    """The chart of a trace (see the module's docstring)."""
    lanes = lanes_of(trace)
    rows = [Row(0, "initial state", "init", None)]
    c = Chart(lanes, rows)
    pending: dict[str, list[Message]] = {}  # envelope -> messages in flight, oldest first
    originals: dict[str, dict] = {}

    def send(env: str, row: int, copy: bool = False) -> None:
        d = originals[env]
        m = Message(message_label(d["msg"]), d["src"], d["dst"], row, copy=copy)
        c.messages.append(m)
        pending.setdefault(env, []).append(m)

    c.time.append(0)
    clocked = _clocks(trace.steps[0].state)
    c.clocks = {lane: [clocked[lane]] for lane in lanes if lane in clocked}
    before = _envelopes(trace.steps[0].state, originals)
    for env, k in before.items():
        for _ in range(k):
            send(env, 0)
    for i, st in enumerate(trace.steps[1:], 1):
        rows.append(Row(i, st.label, st.kind, _lane_of(st.kind, st.params, lanes)))
        c.time.append(c.time[-1] + (st.kind == "tick"))
        now = _clocks(st.state)
        for lane, offsets in c.clocks.items():
            offsets.append(now.get(lane, offsets[-1]))
        if st.kind == "clock_jump" and len(st.params) == 2:
            c.jumps[i] = (st.params[0], st.params[1])
        after = _envelopes(st.state, originals)
        gone = before - after
        new = after - before
        for env, k in gone.items():
            for _ in range(k):
                queue = pending.get(env)
                if queue:
                    m = queue.pop(0)
                    m.end = i
                    m.fate = "dropped" if st.kind == "drop" else "lost" if st.kind == "crash" else "delivered"
        for env, k in new.items():
            for _ in range(k):
                send(env, i, copy=st.kind == "duplicate")
        if st.kind == "crash" and st.params:
            c.down.setdefault(st.params[0], []).append((i, None))
        elif st.kind == "restart" and st.params:
            spans = c.down.get(st.params[0], [])
            if spans and spans[-1][1] is None:
                spans[-1] = (spans[-1][0], i)
        elif st.kind == "partition":
            c.partitions.append((i, None, " | ".join(st.params)))
        elif st.kind == "heal" and c.partitions and c.partitions[-1][1] is None:
            c.partitions[-1] = (c.partitions[-1][0], i, c.partitions[-1][2])
        before = after
    loop = trace.extra.get("loop")
    if isinstance(loop, int) and not isinstance(loop, bool) and 0 <= loop < len(rows):
        c.loop = loop
    if trace.verdict == "violated" and trace.property:
        c.violation = trace.property
        why = trace.extra.get("violation_core")
        if isinstance(why, dict):  # as the checker writes it; anything else in a hand-edited file is left out
            parts = []
            fields = why.get("fields")
            fields = [f for f in fields if isinstance(f, dict)] if isinstance(fields, list) else []
            if fields:
                parts.append("because " + ", ".join(f"{f.get('field')}={f.get('value')}" for f in fields))
            instance = why.get("instance")
            if isinstance(instance, list) and instance:
                parts.append("instance " + ", ".join(map(str, instance)))
            c.because = "; ".join(parts)
    return c


# -- DOT ---------------------------------------------------------------------------------------------------------------


def dot_quote(s: str) -> str:
    """A DOT string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _is_down(c: Chart, lane: str, row: int) -> bool:
    return any(a <= row and (b is None or row < b) for a, b in c.down.get(lane, []))


def to_dot(trace: Trace, title: str | None = None) -> str:
    """The chart as a Graphviz digraph: a step column, then one column per lane, one row per step."""
    c = chart(trace)
    n = len(c.rows)
    L = c.lanes
    out = [
        "digraph msc {",
        f"  graph [rankdir=TB, splines=false, forcelabels=true, nodesep=0.35, ranksep=0.18, newrank=true, fontname=Helvetica, "
        f"fontsize=11, label={dot_quote(title or chart_title(trace))}, labelloc=t];",
        "  node [fontname=Helvetica, fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    # the header: the step column and one box per lane
    out.append("  { rank=same; h_step [shape=plaintext, label=\"step\"];")
    for j, lane in enumerate(L):
        out.append(f"    h{j} [shape=box, style=\"rounded,filled\", fillcolor=\"#e8eef9\", label={dot_quote(lane)}, "
                   f"id={dot_quote('lane-' + lane)}];")
    out.append("  }")
    acting: dict[tuple[int, int], str] = {}
    for r in c.rows:
        if r.lane in L:
            acting[(r.index, L.index(r.lane))] = r.kind
    sends = {(m.sent, L.index(m.src)) for m in c.messages if m.src in L}
    in_band = {i for a, b, _ in c.partitions for i in range(a, (b if b is not None else n - 1) + 1)}
    loop = trace.extra.get("loop")
    cycle = set(range(loop, n)) if isinstance(loop, int) and 0 <= loop < n else set()
    for r in c.rows:
        i = r.index
        fill = "#e8e0f8" if i in cycle else "#fde7c8" if i in in_band else "white"
        color = "#b00020" if r.kind in ("crash", "drop", "duplicate", "partition", "clock_jump") else "black"
        out.append(f"  {{ rank=same; s{i} [shape=box, style=filled, fillcolor={dot_quote(fill)}, color=white, "
                   f"fontcolor={dot_quote(color)}, label={dot_quote(f'{i}  {r.label}')}, id={dot_quote(f'row-{i}')}];")
        for j, lane in enumerate(L):
            node = f"n{i}_{j}"
            if r.kind == "crash" and r.lane == lane:
                attrs = 'shape=plaintext, label="✕", fontcolor="#b00020", fontsize=18, width=0.2, height=0.2'
            elif r.kind == "restart" and r.lane == lane:
                attrs = 'shape=circle, label="↻", fontcolor="#1b5e20", fontsize=12, width=0.25, fixedsize=true'
            elif r.kind in ("clock", "clock_jump") and r.lane == lane:  # the clock's own step: the mark is the cell
                color = "#b00020" if r.kind == "clock_jump" else "#6d4c00"  # a jump is a fault
                attrs = (f'shape=plaintext, label={dot_quote(c.clock_mark(lane, i) or CLOCK)}, fontcolor="{color}", '
                         'fontsize=11, width=0.2, height=0.2')
            elif (i, j) in acting or (i, j) in sends:
                attrs = ('shape=circle, style=filled, fillcolor="#1f4e9a", color="#1f4e9a", label="", width=0.12, '
                         'fixedsize=true')
            else:
                attrs = 'shape=point, width=0.01, color="#999999"'
            tip = f"{i}: {lane}"
            own = r.kind in ("clock", "clock_jump") and r.lane == lane
            mark = None if own else c.clock_mark(lane, i)  # the clock's new offset, beside the cell
            if r.kind == "tick" and len(L) == 1:  # no line across one lane: the time is written beside it
                mark = f"t={c.time[i]}" + (f"  {mark}" if mark else "")
            if mark is not None:
                attrs += f', xlabel={dot_quote(mark)}, fontcolor="#6d4c00", fontsize=9'
            if lane in c.clocks:
                tip += f" (clock {offset_text(c.clocks[lane][i])}, t={c.time[i]})"
            out.append(f"    {node} [{attrs}, id={dot_quote(f'cell-{i}-{lane}')}, tooltip={dot_quote(tip)}];")
        out.append("  }")
    # the bottom: messages never delivered end here; the violation is stated here
    end = n
    out.append(f"  {{ rank=same; s{end} [shape=plaintext, label=\"\"];")
    for j in range(len(L)):
        out.append(f"    n{end}_{j} [shape=point, width=0.01, color=\"#999999\"];")
    out.append("  }")
    # left to right: the step column, then the lanes in order, on every row
    for i in ["h", *range(end + 1)]:
        cells = ["h_step", *(f"h{j}" for j in range(len(L)))] if i == "h" else \
            [f"s{i}", *(f"n{i}_{j}" for j in range(len(L)))]
        out.append(f"  {' -> '.join(cells)} [style=invis];")
    # vertical structure: the step column and the lanes (grey while the node is down)
    out.append("  h_step -> s0 [style=invis, weight=100];")
    for i in range(end):
        out.append(f"  s{i} -> s{i + 1} [style=invis, weight=100];")
    for j, lane in enumerate(L):
        out.append(f"  h{j} -> n0_{j} [arrowhead=none, color=\"#999999\", weight=100];")
        for i in range(end):
            down = _is_down(c, lane, i)
            style = 'style=dashed, color="#cccccc", penwidth=3' if down else 'color="#999999"'
            out.append(f"  n{i}_{j} -> n{i + 1}_{j} [arrowhead=none, {style}, weight=100];")
    # messages: from the row that sent them to the row that ended them
    for k, m in enumerate(c.messages):
        if m.src not in L or m.dst not in L:
            continue
        a, b = L.index(m.src), L.index(m.dst)
        label = m.label + (" (copy)" if m.copy else "")
        if m.fate == "delivered":
            attrs = f'color="#1f4e9a", fontcolor="#1f4e9a", xlabel={dot_quote(label)}'
            target = f"n{m.end}_{b}"
        elif m.fate in ("dropped", "lost"):
            why = "✕ " if m.fate == "dropped" else "✕ lost in the crash: "
            attrs = f'color="#b00020", fontcolor="#b00020", arrowhead=tee, style=dashed, xlabel={dot_quote(why + label)}'
            target = f"n{m.end}_{b}"
        else:
            attrs = f'color="#777777", fontcolor="#777777", arrowhead=empty, style=dotted, xlabel={dot_quote(label + " …")}'
            target = f"n{end}_{b}"
        if m.copy:
            attrs += ", penwidth=1.5"
        out.append(f"  n{m.sent}_{a} -> {target} [{attrs}, constraint=false, id={dot_quote(f'msg-{k}')}];")
    # partitions: a band across the chart from the partition to the heal
    for a, b, sides in c.partitions:
        if len(L) > 1:
            out.append(f"  n{a}_0 -> n{a}_{len(L) - 1} [color=\"#e08a00\", penwidth=2, style=dashed, arrowhead=none, "
                       f"constraint=false, label={dot_quote('partition ' + sides)}, fontcolor=\"#e08a00\"];")
            if b is not None:
                out.append(f"  n{b}_0 -> n{b}_{len(L) - 1} [color=\"#2e7d32\", penwidth=2, style=dashed, "
                           f"arrowhead=none, constraint=false, label=\"heal\", fontcolor=\"#2e7d32\"];")
    # ticks: global time advances; a dashed line across the lanes, labelled with the time it reaches
    for r in c.rows:
        if r.kind == "tick":
            i, t = r.index, f"t={c.time[r.index]}"
            if len(L) > 1:
                out.append(f"  n{i}_0 -> n{i}_{len(L) - 1} [color=\"#6d4c00\", style=dashed, arrowhead=none, "
                           f"constraint=false, taillabel={dot_quote(t)}, labelangle=170, labeldistance=2.2, "
                           f"fontcolor=\"#6d4c00\", fontsize=9, id={dot_quote(f'tick-{i}')}];")
    if cycle:  # a lasso: the last step returns to where the cycle starts
        out.append(f"  s{n - 1} -> s{loop} [constraint=false, color=\"#6a3fb5\", fontcolor=\"#6a3fb5\", penwidth=2, "
                   f"label=\"↺ repeats forever\", id=\"loop\"];")
    if c.violation:
        text = f"violated: {c.violation}" + (f"\n{c.because}" if c.because else "")
        out.append(f"  verdict [shape=box, style=\"filled,rounded\", fillcolor=\"#fde0e0\", color=\"#b00020\", "
                   f"fontcolor=\"#b00020\", label={dot_quote(text)}, id=\"verdict\"];")
        out.append(f"  s{end} -> verdict [style=invis];")
    out.append("}")
    return "\n".join(out) + "\n"


def chart_title(trace: Trace) -> str:
    """The chart's heading: "protocols.x:Y — violated: P (4 steps)"."""
    what = f"{trace.verdict}: {trace.property}" if trace.property else trace.verdict
    return f"{trace.protocol} — {what} ({len(trace)} steps)"


def to_svg(trace: Trace, title: str | None = None) -> str:
    """The chart as a standalone SVG document, drawn by faultcheck itself (`svgchart.render`): no Graphviz
    needed."""
    from .svgchart import render

    return render(trace, title)


__all__ = ["CLOCK", "Chart", "Message", "Row", "chart", "chart_title", "dot_quote", "lanes_of", "message_label",
           "offset_text", "to_dot", "to_svg"]
