"""Liveness under fairness: `eventually(P)`, `leads_to(P, Q)`, `always_eventually(P)` over the
whole reachable graph, with lasso counterexamples (a prefix, then a cycle repeated forever).

The graph is built once: states get dense int ids (the visited dict, the only
place a state tuple is kept), and edges are stored compressed (CSR: one array
of successor ids and one of step-class ids, indexed by per-state offsets), so
a state costs its dict entry plus 8 bytes per edge. A step's *class* is what
fairness speaks of: a delivery of one message (kind, sender, receiver, the
message; with FIFO channels, any delivery on one channel), one node's timer,
one request, one low-level action instance: its `Step`, interned.

A behaviour violates a property when it is a fair infinite path that never
does what was promised. As in TLA+, a behaviour may stutter (stay in its
state forever) wherever fairness allows it: where no fair step is enabled.
So a state with no enabled step at all stutters, and a system that stops
short of Q violates `eventually(Q)`; with every normal step weakly fair (the
default), behaviours are the maximal paths; with no fairness, a system may
stop anywhere. Fairness, per step class (`Fairness`): weakly fair classes
continuously enabled along the cycle must be taken in it; strongly fair ones
enabled anywhere on it must be taken in it; unfair ones (faults, by default)
need nothing. The search for a fair cycle is the Emerson–Lei scheme: in each
strongly connected component of the states that may loop, a weakly fair class
enabled everywhere but never taken rules the component out; a strongly fair
class enabled somewhere but never taken removes the states that enable it,
and the rest is split again. Building the graph runs model code, under `engine.guard`.
Imports `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..semantics import FAULT_KINDS, Step, TransitionSystem
from .guard import ModelCodeError, OutOfTime, guarded
from .result import SearchOptions

WEAK, STRONG, NONE = "weak", "strong", "none"


@dataclass(frozen=True)
class Fairness:
    """Which step classes are fair, by step kind: "weak", "strong" or "none".

    The default makes message-passing protocols live as their authors expect:
    every delivery, timer and low-level action instance weakly fair, and time passing (tick); client
    requests and every fault (crash, restart, partition, heal, drop,
    duplicate) unfair."""

    kinds: dict[str, str] = field(default_factory=lambda: {"deliver": WEAK, "timer": WEAK, "action": WEAK,
                                                           "detect": WEAK, "tick": WEAK})

    def of(self, step: Step) -> str:
        """A low-level action's own name first (`Crash = "none"`), then its step kind."""
        if step.action in self.kinds and step.kind == "action":
            return self.kinds[step.action]
        if step.kind in FAULT_KINDS and step.kind not in self.kinds:
            return NONE
        return self.kinds.get(step.kind, NONE)


class Graph:
    """The reachable graph of a transition system, compact: ids, CSR edges, interned step classes."""

    def __init__(self, system: TransitionSystem, max_states: int | None = None, per_channel: bool | None = None):
        """`per_channel`: one class for every delivery on a FIFO channel (the default with FIFO channels,
        as fairness wants); False keeps each step as it is (to draw the graph)."""
        self.ids: dict[tuple, int] = {}
        self.states: list[tuple] = []
        self.classes: list[Step] = []
        class_ids: dict[Step, int] = {}
        self.offsets = array("Q", [0])
        self.succ = array("I")
        self.label = array("I")
        self.initial: list[int] = []
        for s in system.initial:
            if s not in self.ids:
                self.ids[s] = len(self.states)
                self.states.append(s)
                self.initial.append(self.ids[s])
        actions = system.actions
        if per_channel is None:
            per_channel = "channels" in system.schema.variables  # FIFO: fairness is per channel, not per message
        i = 0
        while i < len(self.states):
            s = self.states[i]
            for step, t in self._steps(actions, s):
                j = self.ids.get(t)
                if j is None:
                    if max_states is not None and len(self.states) >= max_states:
                        raise OverflowError(f"more than {max_states} states")
                    j = self.ids[t] = len(self.states)
                    self.states.append(t)
                if per_channel and step.kind == "deliver":
                    step = Step("deliver", "channel", step.params[:2])
                c = class_ids.get(step)
                if c is None:
                    c = class_ids[step] = len(self.classes)
                    self.classes.append(step)
                self.succ.append(j)
                self.label.append(c)
            self.offsets.append(len(self.succ))
            i += 1

    @staticmethod
    def _steps(actions, s: tuple):
        """(step, successor) pairs: an action is asked to name its instances only when it is enabled."""
        for a in actions:
            if a.successors(s):
                for params, t in a.instances(s):
                    yield Step(a.kind, a.name, params), t

    def __len__(self) -> int:
        return len(self.states)

    def edges(self, v: int) -> Iterable[tuple[int, int]]:
        """(successor, class) of every step from state v."""
        a, b = self.offsets[v], self.offsets[v + 1]
        return zip(self.succ[a:b], self.label[a:b])

    def stuck(self, v: int) -> bool:
        return self.offsets[v] == self.offsets[v + 1]


def components(g: Graph, inside: bytearray) -> list[list[int]]:
    """Strongly connected components of the subgraph of states v with inside[v] (Tarjan, iterative)."""
    index = [-1] * len(g)
    low = [0] * len(g)
    on = bytearray(len(g))
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(len(g)):
        if not inside[root] or index[root] >= 0:
            continue
        work = [(root, iter(g.edges(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on[root] = 1
        while work:
            v, it = work[-1]
            advanced = False
            for w, _ in it:
                if not inside[w]:
                    continue
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on[w] = 1
                    work.append((w, iter(g.edges(w))))
                    advanced = True
                    break
                if on[w]:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on[w] = 0
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def fair_component(g: Graph, inside: bytearray, fairness: Fairness) -> list[int] | None:
    """Some set of states in `inside` that a fair behaviour can stay in forever, or None."""
    return next(fair_components(g, inside, fairness), None)


def fair_components(g: Graph, inside: bytearray, fairness: Fairness) -> Iterator[list[int]]:
    """Every maximal set of states in `inside` that a fair behaviour can stay in forever."""
    kinds = [fairness.of(c) for c in g.classes]
    todo = [inside]
    while todo:
        region = todo.pop()
        for comp in components(g, region):  # one state is a cycle too: it may stutter
            members = set(comp)
            taken: set[int] = set()
            enabled_somewhere: set[int] = set()
            enabled_everywhere: set[int] | None = None
            for v in comp:
                here = set()
                for w, c in g.edges(v):
                    here.add(c)
                    if w in members:
                        taken.add(c)
                enabled_somewhere |= here
                enabled_everywhere = here if enabled_everywhere is None else enabled_everywhere & here
            if any(kinds[c] == WEAK and c not in taken for c in enabled_everywhere or ()):
                continue  # weakly fair and always enabled, never taken: no fair cycle in here
            unfair = {c for c in enabled_somewhere if kinds[c] == STRONG and c not in taken}
            if not unfair:
                yield comp
                continue
            sub = bytearray(len(g))
            for v in comp:  # drop the states enabling a strongly fair step the component never takes
                if not any(c in unfair for _, c in g.edges(v)):
                    sub[v] = 1
            if any(sub):
                todo.append(sub)


@dataclass
class Lasso:
    """A counterexample to a liveness property: `prefix` leads to `cycle[0]`; the cycle returns to it."""

    prefix: list[tuple]
    cycle: list[tuple]  # the first state repeated at the end; one state twice: it stutters forever


def _path(g: Graph, sources: Iterable[int], targets: set[int], allowed: Callable[[int], bool]) -> list[int] | None:
    """A shortest path (state ids) from some source to some target through allowed states."""
    parent: dict[int, int | None] = {}
    q: deque[int] = deque()
    for s in sources:
        if allowed(s) and s not in parent:
            parent[s] = None
            q.append(s)
    while q:
        v = q.popleft()
        if v in targets:
            out = [v]
            while parent[out[-1]] is not None:
                out.append(parent[out[-1]])  # type: ignore[arg-type]
            return out[::-1]
        for w, _ in g.edges(v):
            if w not in parent and allowed(w):
                parent[w] = v
                q.append(w)
    return None


def _cycle(g: Graph, comp: list[int], start: int, fairness: Fairness) -> list[int]:
    """A cycle from `start` inside the component that takes one step of every fair class taken in it,
    and passes a state disabling each weakly fair class it never takes (fair_component made sure
    there is one)."""
    if len(comp) == 1:
        return [start, start]  # a step that loops back, or stuttering: the state repeats
    members = set(comp)
    inside = members.__contains__
    kinds = [fairness.of(c) for c in g.classes]
    edges: dict[int, tuple[int, int]] = {}
    enabled_at: dict[int, set[int]] = {}
    for v in comp:
        enabled_at[v] = set()
        for w, c in g.edges(v):
            enabled_at[v].add(c)
            if w in members and kinds[c] != NONE and c not in edges:
                edges[c] = (v, w)
    visits = []
    for c in {c for cs in enabled_at.values() for c in cs if kinds[c] == WEAK and c not in edges}:
        visits.append(next(v for v in comp if c not in enabled_at[v]))
    route = [start]
    for v, w in edges.values():
        route += _path(g, [route[-1]], {v}, inside)[1:] + [w]  # type: ignore[index]
    for v in visits:
        route += _path(g, [route[-1]], {v}, inside)[1:]  # type: ignore[index]
    if len(route) == 1:  # nothing to take: stutter
        route.append(start)
    if route[-1] != start:
        route += _path(g, [route[-1]], {start}, inside)[1:]  # type: ignore[index]
    return route


def find_lasso(g: Graph, fairness: Fairness, *, start_ok: Callable[[int], bool], stay: Callable[[int], bool],
               prefix_ok: Callable[[int], bool] = lambda v: True) -> Lasso | None:
    """A fair lasso whose cycle stays in `stay` states, reached from an initial state through
    `prefix_ok` states, entering the `stay` region at a `start_ok` state and staying in it after."""
    # the stay-region reachable from an entry point
    entries = [v for v in range(len(g)) if start_ok(v) and stay(v)]
    if not entries:
        return None
    reach_prefix = _reachable(g, [v for v in g.initial if prefix_ok(v)], prefix_ok)
    entries = [v for v in entries if v in reach_prefix]
    region = _reachable(g, entries, stay)
    inside = bytearray(len(g))
    for v in region:
        inside[v] = 1
    where: dict[int, list[int]] = {}
    for comp in fair_components(g, inside, fairness):
        for v in comp:
            where[v] = comp
    if not where:
        return None
    into = _path(g, entries, set(where), stay)  # from an entry to the nearest fair component, staying
    assert into is not None
    comp = where[into[-1]]
    to_entry = _path(g, g.initial, {into[0]}, prefix_ok)
    assert to_entry is not None
    prefix = to_entry + into[1:]
    cycle = _cycle(g, comp, prefix[-1], fairness)
    return Lasso([g.states[v] for v in prefix[:-1]], [g.states[v] for v in cycle])


def _reachable(g: Graph, sources: Sequence[int], allowed: Callable[[int], bool]) -> set[int]:
    seen = {s for s in sources if allowed(s)}
    todo = list(seen)
    while todo:
        v = todo.pop()
        for w, _ in g.edges(v):
            if w not in seen and allowed(w):
                seen.add(w)
                todo.append(w)
    return seen


def check_eventually(g: Graph, p: Callable[[tuple], bool], fairness: Fairness) -> Lasso | None:
    """<>P: a fair behaviour that never reaches a P state."""
    notp = [not p(s) for s in g.states]
    ok = notp.__getitem__
    return find_lasso(g, fairness, start_ok=lambda v: v in g.initial, stay=ok, prefix_ok=ok)


def check_leads_to(g: Graph, p: Callable[[tuple], bool], q: Callable[[tuple], bool],
                   fairness: Fairness) -> Lasso | None:
    """P ~> Q: a fair behaviour that reaches a P state from which Q never holds."""
    pv = [p(s) for s in g.states]
    notq = [not q(s) for s in g.states]
    return find_lasso(g, fairness, start_ok=pv.__getitem__, stay=notq.__getitem__)


def check_always_eventually(g: Graph, p: Callable[[tuple], bool], fairness: Fairness) -> Lasso | None:
    """[]<>P: a fair behaviour that from some point on never reaches a P state."""
    notp = [not p(s) for s in g.states]
    return find_lasso(g, fairness, start_ok=lambda v: True, stay=notp.__getitem__)


def check_liveness(system: TransitionSystem, properties: Sequence, fairness: Fairness,
                   max_states: int | None = None,
                   options: SearchOptions | None = None) -> tuple[Graph | None, object | None, Lasso | None, str]:
    """Build the graph once and check each property (a `LivenessProperty`): (graph, the first property
    violated, its lasso, why undetermined or ""). Model code runs under the guard (`options` gives its
    limits): a failure of it raises `ModelCodeError`, naming the action or handler."""
    preds = [x for prop in properties for x in (prop.p, prop.q) if x is not None]
    with guarded(options, system, liveness=preds) as guard:
        try:
            return _check_liveness(system, properties, fairness, max_states)
        except BaseException as e:
            if isinstance(e, OutOfTime):
                return None, None, None, str(e)
            found = guard.blame(e)
            if found is None:
                raise
            reason, error = found
            raise ModelCodeError(reason or f"model code raised {type(e).__name__}: {e}", error) from None


def _check_liveness(system: TransitionSystem, properties: Sequence, fairness: Fairness,
                    max_states: int | None) -> tuple[Graph | None, object | None, Lasso | None, str]:
    try:
        g = Graph(system, max_states)
    except OverflowError as e:
        return None, None, None, f"the state graph has {e}; liveness needs all of it (raise max_states)"
    for prop in properties:
        p = prop.p.check
        if prop.kind == "eventually":
            lasso = check_eventually(g, p, fairness)
        elif prop.kind == "leads_to":
            lasso = check_leads_to(g, p, prop.q.check, fairness)
        else:
            lasso = check_always_eventually(g, p, fairness)
        if lasso is not None:
            return g, prop, lasso, ""
    return g, None, None, ""


__all__ = ["check_liveness", "Fairness", "Graph", "Lasso", "check_always_eventually", "check_eventually", "check_leads_to",
           "components", "fair_component", "find_lasso"]
