"""The reachable state graph of a small spec, built with networkx and drawn with Graphviz.

States are labelled compactly: only the variables that differ somewhere in
the graph are shown. A trace's path (its states matched to the graph's) is
drawn in red, its last state filled. Specs with more reachable states than
the limit are refused: a picture of thousands of states helps nobody.
"""

from __future__ import annotations

import io
import os
from typing import Any

import networkx as nx

from ..model import SchemaError
from ..trace import Trace, TraceError
from ..trace.msc import dot_quote
from .load import SpecError
from .run import prepare


def reachable_graph(system: Any, limit: int) -> nx.MultiDiGraph:
    """Every reachable state (node: its raw tuple), every step between them (edge: its label): the
    liveness search's graph, as networkx's. OverflowError past `limit` states."""
    from ..engine.liveness import Graph

    h = Graph(system, max_states=limit, per_channel=False)
    g = nx.MultiDiGraph()
    initial = set(h.initial)
    for v, s in enumerate(h.states):
        g.add_node(s, initial=v in initial)
    for v, s in enumerate(h.states):
        for w, c in h.edges(v):
            g.add_edge(s, h.states[w], label=h.classes[c].label)
    return g


def state_graph(spec: str | os.PathLike, *, params: dict[str, Any] | None = None, trace: Trace | None = None,
                fmt: str = "dot", limit: int = 5000) -> str:
    """The graph as DOT, SVG or GraphML text."""
    system, _ = prepare(spec, params)
    try:
        g = reachable_graph(system, limit)
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
    varying = [n for n in schema.variables if len({s[schema.slice(n)] for s in g}) > 1] or list(schema.variables)
    ids = {s: k for k, s in enumerate(g)}
    on_path = set(path)
    path_edges = set(zip(path, path[1:]))
    for s in g:
        st = schema.decode(s)
        g.nodes[s]["label"] = "\n".join(f"{n}={schema.variables[n].format(st[n])}" for n in varying)
        g.nodes[s]["on_trace"] = s in on_path
    for a, b, k in g.edges(keys=True):
        g.edges[a, b, k]["on_trace"] = (a, b) in path_edges
    if fmt == "graphml":
        h = nx.relabel_nodes(g, ids)
        buf = io.BytesIO()
        nx.write_graphml(h, buf)
        return buf.getvalue().decode("utf-8")
    dot = _dot(g, ids, path[-1] if path else None, f"{spec} — {g.number_of_nodes()} states, {g.number_of_edges()} steps")
    if fmt == "dot":
        return dot
    import graphviz

    try:
        return graphviz.Source(dot).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise SpecError("Graphviz's dot is not installed (apt-get install graphviz)") from None


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
