"""The reachable state graph of a small spec, built with networkx and drawn with Graphviz.

States are labelled compactly: only what differs somewhere in the graph is
shown. A message-passing protocol's state reads as its nodes' fields
(`rm1.state=prepared`, grouped per node), its messages in flight as steps
name them (`Prepare tm1→rm1`), and its bookkeeping (armed timers, crashed
nodes, budgets) in a line each; a low-level model's, as its variables. Steps
are labelled as traces label them, with the options a handler chose. A
trace's path (its states matched to the graph's) is drawn in red, its last
state filled. Specs with more reachable states than the limit are refused:
a picture of thousands of states helps nobody.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx

from ..logic import ActionConstraint, PropertyError, compile_predicate
from ..model import Map, SchemaError
from ..trace import Trace, TraceError
from ..trace.msc import dot_quote
from .load import SpecError
from .run import prepare


def reachable_graph(system: Any, limit: int, constraints: Sequence[Callable[[tuple], bool]] = (),
                    action_constraints: Sequence[Callable[[tuple, tuple], bool]] = ()) -> nx.MultiDiGraph:
    """Every reachable state (node: its raw tuple, in breadth-first order), every step between them (edge:
    its label, with the handler's choice: "Prepare tm1→rm1 (chose abort)"), as the search explores them: a
    state that fails one of the model's `constraints` is a node (`outside=True`) without successors, and a
    step an action constraint forbids is not taken. OverflowError past `limit` states."""
    g = nx.MultiDiGraph()
    order: list[tuple] = []
    for s in system.initial:
        if s not in g:
            g.add_node(s, initial=True)
            order.append(s)
    i = 0
    while i < len(order):
        s = order[i]
        i += 1
        if not all(c(s) for c in constraints):
            g.nodes[s]["outside"] = True
            continue
        for a in system.actions:
            if not a.successors(s):  # ask an action to label its steps only when it has some
                continue
            for step, t in a.steps(s):
                if not all(c(s, t) for c in action_constraints):
                    continue
                if t not in g:
                    if len(order) >= limit:
                        raise OverflowError(f"more than {limit} states")
                    g.add_node(t, initial=False)
                    order.append(t)
                g.add_edge(s, t, label=step.label)
    return g


def state_graph(spec: str | os.PathLike, *, params: dict[str, Any] | None = None, trace: Trace | None = None,
                fmt: str = "dot", limit: int = 5000) -> str:
    """The graph as DOT, SVG or GraphML text."""
    system, _ = prepare(spec, params)
    try:
        constraints = [compile_predicate(n, f, system.schema).check for n, f in system.constraints.items()]
        steps = [ActionConstraint(n, f, system.schema).check for n, f in system.action_constraints.items()]
    except PropertyError as e:
        raise SpecError(f"{spec}: constraint: {e}") from None
    try:
        g = reachable_graph(system, limit, constraints, steps)
    except OverflowError:
        raise SpecError(f"{spec}: more than {limit} reachable states; the state graph is for small models "
                        "(shrink the parameters with --set, or raise --limit)") from None
    schema = system.schema
    path: list[tuple] = []
    if trace is not None:
        try:
            path = [schema.from_json(st.state) for st in trace.steps]
        except (SchemaError, KeyError, TypeError) as e:
            raise TraceError(f"the trace does not fit {spec}: {e}") from None
        missing = [i for i, s in enumerate(path) if s not in g]
        if missing:
            raise TraceError(f"the trace's state {missing[0]} is not a reachable state of {spec} with these parameters")
    label = _protocol_labels(system, g) or _variable_labels(system, g)
    ids = {s: k for k, s in enumerate(g)}
    on_path = set(path)
    path_edges = set(zip(path, path[1:]))
    for s in g:
        g.nodes[s]["label"] = label(s)
        g.nodes[s]["on_trace"] = s in on_path
    for a, b, k in g.edges(keys=True):
        g.edges[a, b, k]["on_trace"] = (a, b) in path_edges
    if fmt == "graphml":
        h = nx.relabel_nodes(g, ids)
        buf = io.BytesIO()
        nx.write_graphml(h, buf)
        return buf.getvalue().decode("utf-8")
    outside = sum(1 for _, d in g.nodes(data=True) if d.get("outside"))
    counted = f"{g.number_of_nodes() - outside} states" + (f" (+{outside} beyond a constraint, dashed)" if outside else "")
    dot = _dot(g, ids, path[-1] if path else None, f"{spec} — {counted}, {g.number_of_edges()} steps")
    if fmt == "dot":
        return dot
    import graphviz

    try:
        return graphviz.Source(dot).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise SpecError("Graphviz's dot is not installed (apt-get install graphviz)") from None


def _variable_labels(system: Any, g: nx.MultiDiGraph) -> Callable[[tuple], str]:
    """A low-level model's state: `name=value` for each variable that differs somewhere in the graph."""
    schema = system.schema
    varying = [n for n in schema.variables if len({s[schema.slice(n)] for s in g}) > 1] or list(schema.variables)

    def label(s: tuple) -> str:
        st = schema.decode(s)
        return "\n".join(f"{n}={schema.variables[n].format(st[n])}" for n in varying)

    return label


IN_FLIGHT = ("network", "channels")


def _protocol_labels(system: Any, g: nx.MultiDiGraph) -> Callable[[tuple], str] | None:
    """A message-passing protocol's state (None for a low-level model): per node, `node.field=value` for
    each of its fields that differs somewhere in the graph; each message in flight as a step names it
    ("Prepare tm1→rm1", "×2" for copies, its age with [time] max_delay; "nothing in flight" when none is
    and some state has one); then each other variable that differs (armed timers as "timers: timeout@tm1",
    the rest as `name=value`, collections without their empty entries)."""
    sem = getattr(system, "semantics", None)
    if sem is None or not hasattr(sem, "names"):
        return None
    schema = system.schema
    fields: list[tuple[str, str, Any]] = []  # (node, field, its type), for the fields that vary (their slots do)
    for n in sem.names:
        rec, base = schema.variables[n], schema.slice(n).start
        for f, t in rec.fields.items():
            a = base + rec.offsets[f]
            if len({s[a:a + t.width] for s in g}) > 1:
                fields.append((n, f, t))
    net = next((v for v in IN_FLIGHT if v in schema.variables), None)
    net_varies = net is not None and len({s[schema.slice(net)] for s in g}) > 1
    rest = [v for v in schema.variables if v not in sem.names and v not in IN_FLIGHT
            and len({s[schema.slice(v)] for s in g}) > 1]

    def label(s: tuple) -> str:
        st = schema.decode(s)
        lines = [f"{n}.{f}={t.format(getattr(st[n], f))}" for n, f, t in fields]
        if net is not None:
            msgs = _in_flight(sem, st[net], net)
            lines += msgs or (["nothing in flight"] if net_varies else [])
        for v in rest:
            lines.append(_bookkeeping(v, schema.variables[v], st[v]))
        return "\n".join(lines) or "(no variable differs)"

    return label


def _in_flight(sem: Any, value: Any, net: str) -> list[str]:
    """The messages in flight, as steps name them: "Prepare tm1→rm1", "Prepare tm1→rm1 ×2" for copies;
    a FIFO channel's in queue order."""
    found: list[str] = []
    if net == "network":  # a multiset or set of envelopes, in code order
        found = [_envelope(sem, e.msg, e.src, e.dst, getattr(e, "age", None)) for e in value]
    else:
        for ch, queue in value.items():
            src, _, dst = ch.partition("→")
            for m in queue:  # with [time] max_delay, each entry is the message and its age
                found.append(_envelope(sem, m.msg, src, dst, m.age) if sem.A > 1 else _envelope(sem, m, src, dst, None))
    counts = Counter(found)
    return [text if counts[text] == 1 else f"{text} ×{counts[text]}" for text in dict.fromkeys(found)]


def _envelope(sem: Any, msg: Any, src: str, dst: str, age: int | None) -> str:
    return f"{sem.Msg.format(msg)} {src}→{dst}" + (f" (age {age})" if age is not None else "")


def _bookkeeping(name: str, t: Any, value: Any) -> str:
    """One line for a variable besides the nodes and the network: armed timers as "timers: timeout@tm1"."""
    if name == "timers" and isinstance(value, Mapping):
        armed = [f"{timer}@{n}" for n, ts in value.items() for timer in sorted(ts)]
        return f"timers: {', '.join(armed) or 'none'}"
    if isinstance(t, Map) and isinstance(value, Mapping):  # a map of collections: its non-empty entries
        kept = {k: v for k, v in value.items() if not (isinstance(v, (frozenset, tuple, Mapping)) and not v)}
        if len(kept) < len(value):
            return f"{name}={{{', '.join(f'{k}: {t.value.format(v)}' for k, v in kept.items())}}}"
    return f"{name}={t.format(value)}"


LAYERED = 150  # above this many states, a force-directed layout (dot's layered one takes minutes) without edge labels


def _dot(g: nx.MultiDiGraph, ids: dict, last: tuple | None, title: str) -> str:
    big = g.number_of_nodes() > LAYERED
    layout = ", layout=sfdp, overlap=prism, splines=false" if big else ""
    if big:
        title += f" (above {LAYERED} states: force-directed, steps unlabelled)"
    out = ["digraph states {", f"  graph [fontname=Helvetica, fontsize=11, label={dot_quote(title)}, labelloc=t{layout}];",
           "  node [shape=box, style=rounded, fontname=Helvetica, fontsize=9];", "  edge [fontname=Helvetica, fontsize=8];"]
    for s, d in g.nodes(data=True):
        attrs = [f"label={dot_quote(d['label'])}"]
        if d["initial"]:
            attrs.append("peripheries=2")
        if d.get("outside"):  # beyond a constraint: checked, not explored further
            attrs.append('style="rounded,dashed"')
        if d["on_trace"]:
            attrs.append('color="#b00020", penwidth=2')
        if s == last:
            attrs.append('style="rounded,filled", fillcolor="#fde0e0"')
        out.append(f"  s{ids[s]} [{', '.join(attrs)}];")
    for a, b, d in g.edges(data=True):
        attrs = [] if big else [f"label={dot_quote(d['label'])}"]
        if d["on_trace"]:
            attrs.append('color="#b00020", fontcolor="#b00020", penwidth=2')
        out.append(f"  s{ids[a]} -> s{ids[b]}" + (f" [{', '.join(attrs)}];" if attrs else ";"))
    out.append("}")
    return "\n".join(out) + "\n"


__all__ = ["reachable_graph", "state_graph"]
