"""Time in protocols (checker/semantics/timing.py, nodes.py): the checker's finite, relative-time search
against a naive explicit-time search written here, on random small timed protocols, and the rules around it.

The naive search keeps global time, absolute clocks, absolute times and deadlines, and each message's send
time, and stops advancing time at a horizon; it never calls the checker's tick or aging code.
"""

from __future__ import annotations

import json
import linecache
import os
import subprocess
import sys
import textwrap
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checker import Int, Message, Node, Protocol, Role, Time, durable, invariant, timer, volatile
from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.model import ModelError, SchemaError
from checker.model.faults import Faults
from checker.model.time import Due, Instant, Span, TimeCutError, TimeSettings, TimeSlot
from checker.semantics.nodes import HandlerError, from_protocol

NODES = ("n1", "n2")
NO = "no"  # an arming option: no set_timer at all (None: an untimed timer; an int: after that many ticks)
ORIGIN = -10**6  # the naive search's "clock origin": before every time the protocols compare (0 in the API)
LA = "long ago"
LIMIT = 3000  # checker states in a random example


# -- random small timed protocols --------------------------------------------------------------------------


@dataclass(frozen=True)
class Proto:
    """One protocol of the grammar: two nodes n1, n2 of one class, a Time field t, a counter k of pings sent
    (at most kmax), one timer `go`, one message Ping(d) with d in 0..dmax."""

    durable_t: bool
    dmax: int
    send_d: int
    starters: tuple[str, ...]  # nodes that send a Ping at start
    armers: tuple[str, ...]  # nodes that arm go at start, with `a0`
    a0: int | None | str
    ping_arm: int | None | str  # on_ping: t = now + msg.d; then arm go so
    cond: tuple[str, int]  # go: the comparison of now with t
    kmax: int
    else_reset: int | None  # go, the comparison false: t = now + this (None: nothing)
    rearm: int | None | str  # go, at its end
    inv: tuple[str, int, int]  # ("excl", 0, 0): not both t in the future; ("bound", i, c): t_i <= now_i + c;
    # ("recent", i, c): k_i == 0 or now_i < t_i + c

    def constants(self) -> list[int]:
        """Every int the node class's and the invariant's code hold (what the cut is computed from), and
        Ping.d's bounds."""
        ints = [self.dmax, self.send_d, self.cond[1], self.kmax, 1, self.inv[2]]  # 1: `self.k + 1`
        ints += [a for a in (self.a0, self.ping_arm, self.rearm, self.else_reset) if isinstance(a, int)]
        return ints


COND_CODE = {
    "ge": "self.now() >= self.t + {c}",
    "span": "self.now() - self.t > {c}",
    "passed": "(self.t + {c}).passed()",
    "lt": "self.t < self.now() - {c}",
    "eq": "self.t + {c} == self.now()",
}


def _cond(kind: str, c: int, now: int, t: int) -> bool:
    """The naive meaning of COND_CODE on absolute ints."""
    return {"ge": now >= t + c, "span": now - t > c, "passed": now >= t + c, "lt": t < now - c,
            "eq": t + c == now}[kind]


def _arm(a: int | None | str) -> str:
    if a == NO:
        return "pass"
    return 'self.set_timer("go")' if a is None else f'self.set_timer("go", after={a})'


def source(p: Proto) -> str:
    field = "durable" if p.durable_t else "volatile"
    reset = "pass" if p.else_reset is None else f"self.t = self.now() + {p.else_reset}"
    if p.inv[0] == "excl":
        inv = "not (not state.n1.t.passed() and not state.n2.t.passed())"
    elif p.inv[0] == "bound":
        inv = f"(state.n{p.inv[1] + 1}.t - {p.inv[2]}).passed()"
    else:
        inv = f"state.n{p.inv[1] + 1}.k == 0 or not (state.n{p.inv[1] + 1}.t + {p.inv[2]}).passed()"
    return textwrap.dedent(f"""\
        class Ping(Message):
            d = Int(0, {p.dmax})


        class N(Node):
            t = {field}(Time(), initial=0)
            k = durable(Int(0, {p.kmax}), initial=0)

            def on_start(self):
                if self.id in {p.starters!r}:
                    self.send("n2" if self.id == "n1" else "n1", Ping(d={p.send_d}))
                if self.id in {p.armers!r}:
                    {_arm(p.a0)}

            def on_ping(self, msg, src):
                self.t = self.now() + msg.d
                {_arm(p.ping_arm)}

            @timer
            def go(self):
                if {COND_CODE[p.cond[0]].format(c=p.cond[1])}:
                    if self.k < {p.kmax}:
                        self.k = self.k + 1
                        self.send("n2" if self.id == "n1" else "n1", Ping(d={p.send_d}))
                else:
                    {reset}
                {_arm(p.rearm)}


        class P(Protocol):
            n = Role(N, 2)
            messages = (Ping,)

            @invariant
            def Inv(self, state):
                return {inv}
        """)


_built: dict[Proto, type] = {}


def build(p: Proto) -> type:
    """The protocol class of `p`, from its source (kept in linecache, so the invariant's source can be read)."""
    if p not in _built:
        src = source(p)
        name = f"<timed protocol {len(_built)}>"
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)
        ns = {"Message": Message, "Int": Int, "Node": Node, "Time": Time, "durable": durable, "volatile": volatile,
              "timer": timer, "Protocol": Protocol, "Role": Role, "invariant": invariant}
        exec(compile(src, name, "exec"), ns)
        _built[p] = ns["P"]
    return _built[p]


arming = st.one_of(st.just(NO), st.none(), st.integers(0, 3))
protos = st.builds(
    Proto,
    durable_t=st.booleans(),
    dmax=st.integers(1, 3),
    send_d=st.integers(0, 3),
    starters=st.sampled_from([("n1",), ("n1", "n2"), ()]),
    armers=st.sampled_from([("n1",), ("n1", "n2"), ("n2",)]),
    a0=st.one_of(st.none(), st.integers(0, 3)),
    ping_arm=arming,
    cond=st.tuples(st.sampled_from(sorted(COND_CODE)), st.integers(0, 3)),
    kmax=st.integers(1, 2),
    else_reset=st.one_of(st.none(), st.integers(0, 2)),
    rearm=arming,
    inv=st.one_of(st.just(("excl", 0, 0)), st.tuples(st.sampled_from(["bound", "recent"]), st.integers(0, 1),
                                                      st.integers(0, 3))),
).filter(lambda p: p.send_d <= p.dmax)


@dataclass(frozen=True)
class Config:
    skew: int
    delay: int | None
    crashes: int
    jumps: int

    def system(self, p: Proto, **kw):
        return from_protocol(build(p)(), time=TimeSettings(tick=1, max_skew=self.skew, max_delay=self.delay),
                             faults=Faults(crashes=self.crashes, restarts=bool(self.crashes),
                                           clock_jumps=self.jumps), **kw)


configs = st.builds(Config, skew=st.integers(0, 1), delay=st.one_of(st.none(), st.integers(1, 2)),
                    crashes=st.integers(0, 1), jumps=st.integers(0, 1))


# -- the naive explicit-time search ----------------------------------------------------------------------
#
# A state: (G, clocks, t, k, go, net, down, crashes, jumps) with G global time, clocks the absolute clock of
# each node, t each node's absolute time (ORIGIN at first), go each node's timer: None (not armed), "any"
# (armed, untimed) or its absolute deadline on the node's clock; net a sorted tuple of (d, src, dst, sent)
# with `sent` the global time of sending (None without max_delay), down a tuple of bools.


def _peer(i: int) -> int:
    return 1 - i


class Naive:
    """The naive semantics of one protocol of the grammar under one configuration, time stopped at `horizon`."""

    def __init__(self, p: Proto, cfg: Config, horizon: int):
        self.p, self.cfg, self.H = p, cfg, horizon
        self.W = cfg.skew + cfg.jumps  # jump = 1

    # handlers: a mutable view of one node, plus the sends
    def _run(self, s: tuple, i: int, handler: str, msg_d: int | None = None) -> tuple:
        G, C, T, K, GO, NET, DOWN, CR, J = s
        p, now = self.p, C[i]
        t, k, go = T[i], K[i], GO[i]
        sends: list[int] = []

        def arm(a: int | None | str, go: int | str | None) -> int | str | None:
            if a == NO:
                return go
            return "any" if a is None else now + a

        if handler == "on_start":
            if NODES[i] in p.starters:
                sends.append(p.send_d)
            if NODES[i] in p.armers:
                go = arm(p.a0, go)
        elif handler == "on_ping":
            t = now + msg_d
            go = arm(p.ping_arm, go)
        else:  # the timer go, already disarmed
            if _cond(p.cond[0], p.cond[1], now, t):
                if k < p.kmax:
                    k += 1
                    sends.append(p.send_d)
            elif p.else_reset is not None:
                t = now + p.else_reset
            go = arm(p.rearm, go)
        sent = G if self.cfg.delay is not None else None
        net = tuple(sorted(NET + tuple((d, i, _peer(i), sent) for d in sends), key=_net_key))
        return (G, C, _put(T, i, t), _put(K, i, k), _put(GO, i, go), net, DOWN, CR, J)

    def initial(self) -> tuple:
        s = (0, (0, 0), (ORIGIN, ORIGIN), (0, 0), (None, None), (), (False, False), 0, 0)
        for i in range(2):
            s = self._run(s, i, "on_start")
        return s

    def _due(self, s: tuple, i: int) -> bool:
        go = s[4][i]
        return isinstance(go, int) and s[1][i] >= go

    def successors(self, s: tuple) -> list[tuple]:
        G, C, T, K, GO, NET, DOWN, CR, J = s
        cfg, out = self.cfg, []
        for x in sorted(set(NET), key=_net_key):  # deliver one copy of a message to a live receiver
            if not DOWN[x[2]]:
                rest = list(NET)
                rest.remove(x)
                out.append(self._run((G, C, T, K, GO, tuple(rest), DOWN, CR, J), x[2], "on_ping", x[0]))
        for i in range(2):  # a timer fires: untimed any time, timed once its deadline has come
            if not DOWN[i] and (GO[i] == "any" or self._due(s, i)):
                out.append(self._run((G, C, T, K, _put(GO, i, None), NET, DOWN, CR, J), i, "go"))
        for i in range(2):
            if not DOWN[i] and CR < cfg.crashes:  # crash: volatile t back to the origin, timers cleared
                t = T if self.p.durable_t else _put(T, i, ORIGIN)
                out.append((G, C, t, K, _put(GO, i, None), NET, _put(DOWN, i, True), CR + 1, J))
            if DOWN[i]:  # restart: on_start again
                out.append(self._run((G, C, T, K, GO, NET, _put(DOWN, i, False), CR, J), i, "on_start"))
            if not DOWN[i] and J < cfg.jumps:  # a clock jump of one unit, the clock within W of G
                for m in (-1, 1):
                    if abs(C[i] + m - G) <= self.W:
                        out.append((G, _put(C, i, C[i] + m), T, K, GO, NET, DOWN, CR, J + 1))
        for i in range(2):  # a clock runs ahead a unit, within max_skew of G, not past its due timer
            if C[i] + 1 - G <= max(C[i] - G, cfg.skew) and not self._due(s, i):
                out.append((G, _put(C, i, C[i] + 1), T, K, GO, NET, DOWN, CR, J))
        out += self._ticks(s)
        return out

    def _ticks(self, s: tuple) -> list[tuple]:
        """G advances a unit; a clock that would fall more than max_skew behind G (or further behind than it
        is, after a jump back) is carried along."""
        G, C, T, K, GO, NET, DOWN, CR, J = s
        if G + 1 > self.H:
            return []
        if any(not DOWN[i] and self._due(s, i) for i in range(2)):
            return []
        D = self.cfg.delay
        if D is not None and any(not DOWN[dst] and G + 1 - sent > D for _, _, dst, sent in NET):
            return []
        clocks = tuple(max(c, G + 1 + min(c - G, -self.cfg.skew)) for c in C)
        return [(G + 1, clocks, T, K, GO, NET, DOWN, CR, J)]

    def search(self) -> dict[tuple, int]:
        """Every naive state with global time up to the horizon."""
        first = self.initial()
        seen = {first}
        frontier = [first]
        while frontier:
            nxt = []
            for s in frontier:
                for t in self.successors(s):
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
            frontier = nxt
        return seen

    def holds(self, s: tuple) -> bool:
        """The invariant on absolute times: t in the future means t > the node's clock."""
        kind, i, c = self.p.inv
        C, T = s[1], s[2]
        if kind == "excl":
            return not (T[0] > C[0] and T[1] > C[1])
        if kind == "bound":
            return C[i] >= T[i] - c
        return s[3][i] == 0 or C[i] < T[i] + c


def _net_key(x: tuple) -> tuple:
    return (x[0], x[1], x[2], -1 if x[3] is None else x[3])


def _put(t: tuple, i: int, v) -> tuple:
    return t[:i] + (v,) + t[i + 1:]


# -- the abstraction of a naive state, and the checker's state in the same form ---------------------------------


def abstract_naive(s: tuple, cut: int, delay: int | None) -> tuple:
    """A naive state relative to each clock: times as ticks from now (LA when at least `cut` ago), deadlines
    as ticks left (0: due; below 0: overdue, after a jump forward), messages with their age (at most max_delay), clocks as offsets from G."""
    G, C, T, K, GO, NET, DOWN, CR, J = s
    nodes = tuple((LA if T[i] - C[i] <= -cut else T[i] - C[i], K[i]) for i in range(2))
    timers = tuple(GO[i] if GO[i] in (None, "any") else GO[i] - C[i] for i in range(2))  # (below 0: overdue)
    net = tuple(sorted((d, src, dst, None if delay is None else min(G - sent, delay)) for d, src, dst, sent in NET))
    return (nodes, timers, net, DOWN, CR, tuple(c - G for c in C), J)


def abstract_checker(system, raw: tuple) -> tuple:
    """The checker's state decoded into the form of `abstract_naive` (times at least `cut` ago: LA: a state
    keeps them exact down to `cut` + what clock jumps may take back, which no handler can tell apart)."""
    v = system.schema.decode(raw)
    cut = system.semantics.cut

    def rel(x) -> object:
        return LA if x.lo is None or x.hi <= -cut else x.hi

    nodes = tuple((rel(v[n].t), v[n].k) for n in NODES)
    timers = tuple(None if "go" not in v["timers"][n] else ("any" if v["due_in"][n]["go"] is None
                                                               else v["due_in"][n]["go"]) for n in NODES)
    net = tuple(sorted((e.msg.d, NODES.index(e.src), NODES.index(e.dst), getattr(e, "age", None))
                       for e in v["network"]))
    down = tuple(n in system.schema.view(raw).down for n in NODES)
    clocks = tuple(v["clocks"][n] if "clocks" in v else 0 for n in NODES)
    return (nodes, timers, net, down, v.get("crashes", 0), clocks, v.get("jumps", 0))


def tick_distances(system, limit: int | None = None) -> dict[tuple, int] | None:
    """Every reachable checker state with the fewest tick steps on a path to it (0-1 breadth-first); None
    past `limit` states."""
    dist = {s: 0 for s in system.initial}
    todo = deque(system.initial)
    while todo:
        if limit is not None and len(dist) > limit:
            return None
        s = todo.popleft()
        for a in system.actions:
            w = 1 if a.kind == "tick" else 0
            for t in a.successors(s):
                if t not in dist or dist[s] + w < dist[t]:
                    dist[t] = dist[s] + w
                    (todo.appendleft if w == 0 else todo.append)(t)
    return dist


def compare(p: Proto, cfg: Config, limit: int | None = None) -> int:
    """The checker and the naive search reach the same abstract states within every number of ticks, and
    give the invariant the same verdict; the number of abstract states compared. 0 (nothing compared) when
    the checker finds more than `limit` states."""
    system = cfg.system(p)
    sem = system.semantics
    assert sem.cut == 1 + max(p.constants() + [1, cfg.skew, cfg.delay or 0]), "the cut K: 1 + the largest constant"
    dist = tick_distances(system, limit)
    if dist is None:
        return 0
    T = max(dist.values())
    naive = Naive(p, cfg, horizon=T + 1)
    states = naive.search()
    for h in range(T + 2):
        mine = {abstract_naive(s, sem.cut, cfg.delay) for s in states if s[0] <= h}
        theirs = {abstract_checker(system, s) for s, d in dist.items() if d <= h}
        missing, extra = mine - theirs, theirs - mine
        assert not missing and not extra, (
            f"within {h} ticks: naive states the checker does not reach: {sorted(missing, key=repr)[:3]}; "
            f"checker states no naive run reaches: {sorted(extra, key=repr)[:3]}\n{source(p)}\n{cfg}")
    invs = [compile_predicate(n, f, system.schema) for n, f in system.invariants.items()]
    r = search(system, invs, SearchOptions(check_deadlock=False))
    naive_holds = all(naive.holds(s) for s in states)
    assert r.verdict is (Verdict.HOLDS if naive_holds else Verdict.VIOLATED), (r.verdict, naive_holds, source(p), cfg)
    if naive_holds:  # (a violation stops the search early)
        assert r.stats.distinct == len(dist)
    return len(dist)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(protos, configs)
def test_random_timed_protocols_reach_what_a_naive_explicit_time_search_reaches(p, cfg):
    compared = compare(p, cfg, LIMIT)
    assume(compared)  # small examples: the naive search holds several times as many states
    assert compared >= len(cfg.system(p).initial)


@pytest.mark.slow  # the same comparison on more random protocols (about 20 s)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(protos, configs)
def test_many_random_timed_protocols_reach_what_a_naive_explicit_time_search_reaches(p, cfg):
    compared = compare(p, cfg, LIMIT)
    assume(compared)
    assert compared >= len(cfg.system(p).initial)


# -- core bugs found by the comparison (see /tmp/notes/core-bugs.md): they flip when fixed ----------------------


def test_a_clock_jumped_back_under_max_skew_0_returns_to_global_time():
    p = Proto(durable_t=True, dmax=2, send_d=0, starters=("n1",), armers=("n1", "n2"), a0=None, ping_arm=NO,
              cond=("ge", 2), kmax=1, else_reset=None, rearm=NO, inv=("excl", 0, 0))
    assert compare(p, Config(skew=0, delay=None, crashes=0, jumps=1)) > 0


class Nothing(Message):
    pass


class Keeper(Node):
    t = volatile(Time(), initial=0)

    def on_start(self):
        self.t = self.now() + 3
        self.set_timer("go")

    @timer
    def go(self):
        pass  # t unchanged


class Keep(Protocol):
    n = Role(Keeper, 1)
    messages = (Nothing,)


def test_a_time_pushed_ahead_by_a_jump_back_survives_a_handler_that_keeps_it():
    system = from_protocol(Keep(), time=TimeSettings(), faults=Faults(clock_jumps=1, jump=2))
    assert system.semantics.cut == 4
    r = search(system, [], SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.HOLDS, r.reason


class Alarm(Node):
    def on_start(self):
        self.set_timer("go", after=0)

    @timer
    def go(self):
        pass


class Alarms(Protocol):
    n = Role(Alarm, 1)
    messages = (Nothing,)


def test_an_overdue_timer_is_still_due_after_its_clock_jumps_back():
    system = from_protocol(Alarms(), time=TimeSettings(max_skew=1), faults=Faults(clock_jumps=2))
    seen = tick_distances(system)
    # armed at clock 0 with after=0: whenever the clock is back at offset 0 without a tick, it is due
    for raw, ticks in seen.items():
        v = system.schema.decode(raw)
        if ticks == 0 and v["clocks"]["n1"] == 0 and "go" in v["timers"]["n1"]:
            assert v["due_in"]["n1"]["go"] == 0, v


def test_the_naive_reference_finds_what_the_overdue_timer_bug_hides():
    """The reference itself: after +1 and -1 the naive search has the timer due at its deadline."""
    p = Proto(durable_t=False, dmax=1, send_d=0, starters=(), armers=("n1",), a0=0, ping_arm=NO, cond=("ge", 0),
              kmax=1, else_reset=None, rearm=NO, inv=("excl", 0, 0))
    naive = Naive(p, Config(skew=1, delay=None, crashes=0, jumps=2), horizon=0)
    s = naive.initial()
    assert s[4] == (0, None)  # n1's deadline: its clock's 0
    up = next(t for t in naive.successors(s) if t[1] == (1, 0) and t[8] == 1)
    back = next(t for t in naive.successors(up) if t[1] == (0, 0) and t[8] == 2)
    assert abstract_naive(back, 2, None)[1] == (0, None)


# -- Instant and Span: exact, or they say so ------------------------------------------------------------------------

WINDOW = 40  # concrete values of an unbounded side are drawn this far out (every bound below is within 12 of 0)

bounds = st.integers(-12, 12)


@st.composite
def instants(draw) -> Instant:
    hi = draw(bounds)
    kind = draw(st.sampled_from(["exact", "long ago", "interval"]))
    if kind == "exact":
        return Instant.at(hi)
    if kind == "long ago":
        return Instant(None, hi)
    return Instant(draw(st.integers(hi - 6, hi)), hi)


@st.composite
def spans(draw) -> Span:
    """A duration as arithmetic makes one: two times subtracted, one of them long ago."""
    d = draw(instants()) - draw(instants())
    assume(isinstance(d, Span))
    return d


def concrete(lo: int | None, hi: int | None) -> range:
    """The concrete values an interval stands for (an unbounded side cut at WINDOW)."""
    return range(-WINDOW if lo is None else lo, (WINDOW if hi is None else hi) + 1)


def exact_or_cut(op, a_vals: range, b_vals: range, fn) -> str | None:
    """Why `op()` is wrong, or None: it must equal `fn(a, b)` for every concrete pair, or raise TimeCutError
    exactly where the pairs disagree."""
    truths = {fn(a, b) for a in a_vals for b in b_vals}
    try:
        got = op()
    except TimeCutError:
        return None if len(truths) == 2 else f"undetermined, but every concrete value gives {truths}"
    return None if truths == {got} else f"answered {got}, but concrete values give {truths}"


COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@settings(max_examples=300, deadline=None)
@given(instants(), instants(), st.sampled_from(sorted(COMPARE)))
def test_comparing_instants_is_the_truth_for_every_time_they_stand_for_or_a_cut_error(a, b, op):
    assert exact_or_cut(lambda: COMPARE[op](a, b), concrete(a.lo, a.hi), concrete(b.lo, b.hi), COMPARE[op]) is None


@settings(max_examples=300, deadline=None)
@given(spans(), bounds, st.sampled_from(sorted(COMPARE)))
def test_comparing_a_span_with_a_number_is_the_truth_or_a_cut_error(s, n, op):
    assert exact_or_cut(lambda: COMPARE[op](s, n), concrete(s.lo, s.hi), range(n, n + 1), COMPARE[op]) is None
    flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]
    assert exact_or_cut(lambda: COMPARE[flipped](n, s), concrete(s.lo, s.hi), range(n, n + 1), COMPARE[op]) is None


@settings(max_examples=200, deadline=None)
@given(instants(), instants(), st.integers(-5, 5))
def test_instant_arithmetic_holds_every_concrete_result_and_no_more(a, b, d):
    shifted = a + d
    assert (shifted.lo, shifted.hi) == (None if a.lo is None else a.lo + d, a.hi + d)
    assert (a - d).key() == (a + (-d)).key()
    diff = a - b
    got = concrete(a.lo, a.hi)
    values = {x - y for x in got for y in concrete(b.lo, b.hi)}
    if isinstance(diff, int):
        assert values == {diff}
    else:
        assert isinstance(diff, Span)
        assert all((diff.lo is None or v >= diff.lo) and (diff.hi is None or v <= diff.hi) for v in values)
        if diff.lo is not None:
            assert diff.lo in values  # tight: the bound is a concrete difference
        else:
            assert a.lo is None and min(values) < -WINDOW + 13  # unbounded below only when a reaches long ago
        if diff.hi is not None:
            assert diff.hi in values
        else:
            assert b.lo is None


@settings(max_examples=200, deadline=None)
@given(instants())
def test_passed_is_now_at_or_after_the_time(t):
    assert exact_or_cut(t.passed, range(0, 1), concrete(t.lo, t.hi), lambda now, v: now >= v) is None


def test_a_time_is_no_boolean_and_adds_only_whole_ticks():
    t = Instant.at(3)
    for bad in (lambda: bool(t), lambda: t + 1.5, lambda: t + True, lambda: 2 - t, lambda: t < 3):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(TimeCutError):
        bool(Span(2, None))
    with pytest.raises(TimeCutError):
        int(Span(2, None))


def round_trips(slot: TimeSlot) -> list[int]:
    """The slot values that do not decode to a time encoding back to them (through rank, JSON and slots)."""
    bad = []
    for index in range(slot.cardinality):
        v = slot.unrank(index)
        if not (slot.rank(v) == index and slot.from_json(slot.to_json(v)).key() == v.key()
                and slot.decode_at(slot.encode(v), 0).key() == v.key()):
            bad.append(index)
    return bad


def test_a_time_slot_with_clock_jumps_round_trips_the_times_a_jump_back_puts_ahead():
    assert round_trips(TimeSlot(3, 4, 4, store_ahead=3)) == []


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(0, 3))
def test_a_time_slot_round_trips_every_value_it_holds(cut, jumps):
    past = cut + jumps
    slot = TimeSlot(cut, past, cut + jumps, store_ahead=cut)
    assert slot.cardinality == past + cut + jumps + 1
    if not jumps:
        assert round_trips(slot) == []
    for r in range(-past + 1, cut + 1):  # exact times within the window keep their distance from now
        assert slot.decode_at([slot.slot(Instant.at(r), "t")], 0).key() == (r, r)
    for r in range(-past - 3, -past + 1):  # at least `past` ago: long ago, read as at most `cut` ago
        assert slot.slot(Instant.at(r), "t") == 0
    assert slot.unrank(0).key() == (None, -cut)
    assert slot.slot(Instant(None, -cut - 2), "t") == 0  # long ago minus more: still long ago
    with pytest.raises(TimeCutError):
        slot.slot(Instant(None, -cut + 1), "t")  # long ago plus a tick: no longer surely beyond the cut
    with pytest.raises(TimeCutError):
        slot.slot(Instant(-2, 0), "t")
    with pytest.raises(SchemaError, match="raise \\[time\\] horizon"):
        slot.slot(Instant.at(slot.ahead + 1), "t")
    with pytest.raises(SchemaError):
        slot.from_json(cut + jumps + 1)
    assert slot.validate(0, "t").key() == (None, -cut)  # the initial 0: the clock's origin, long ago


def test_due_round_trips_none_and_every_count():
    due = Due(4)
    for v in (None, 0, 1, 4):
        assert due.unrank(due.rank(v)) == v and due.decode_at(due.encode(v), 0) == v
    for bad in (-1, 5, "1", True):
        with pytest.raises(SchemaError):
            due.validate(bad, "due")


# -- FIFO overflow policies -------------------------------------------------------------------------------------


class Burst(Node):
    def on_start(self):
        if self.id == "n1":
            self.set_timer("burst")

    @timer
    def burst(self):
        self.send("n2", Ping1())
        self.send("n2", Ping2())


class Ping1(Message):
    pass


class Ping2(Message):
    pass


class Bursts(Protocol):
    n = Role(Burst, 2)
    messages = (Ping1, Ping2)


def _fired(overflow: str):
    system = from_protocol(Bursts(), ordering="fifo", capacity=1, overflow=overflow)
    timers = next(a for a in system.actions if a.kind == "timer")
    return system, list(timers.instances(system.initial[0]))


def test_a_full_fifo_channel_is_an_error_by_default_naming_the_channel_and_the_fix():
    with pytest.raises(HandlerError, match="n1: the channel to n2 already holds 1 messages; Ping2.* does not fit"):
        _fired("error")


def test_overflow_drop_loses_the_message_and_the_step_label_says_which():
    system, fired = _fired("drop")
    [(label, t)] = fired
    assert label[:2] == ("n1", "burst")
    assert "lost Ping2" in label[-1] and "n1→n2" in label[-1] and "channel full" in label[-1]
    [queued] = system.schema.decode(t)["channels"]["n1→n2"]
    assert type(queued).__name__ == "Ping1"


def test_overflow_block_leaves_the_sending_step_disabled():
    system, fired = _fired("block")
    assert fired == []
    r = search(system, [], SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.HOLDS and r.stats.distinct == 1


# -- what needs [time], and errors that name their cause -----------------------------------------------------------


class Reader(Node):
    def on_start(self):
        self.now()


class Readers(Protocol):
    r = Role(Reader, 1)
    messages = (Nothing,)


class Timed(Node):
    t = volatile(Time(), initial=0)


class TimedP(Protocol):
    r = Role(Timed, 1)
    messages = (Nothing,)


def test_a_time_field_without_time_settings_is_an_error_naming_the_class():
    with pytest.raises(ModelError, match="Timed has a Time field: add a \\[time\\] section"):
        from_protocol(TimedP())


def test_reading_the_clock_without_time_settings_is_an_error_naming_the_node():
    with pytest.raises(ModelError, match="r1: self.now\\(\\) reads the clock, but the spec has no \\[time\\] section"):
        from_protocol(Readers())


def test_clock_jumps_without_time_settings_are_an_error():
    with pytest.raises(ModelError, match="clock_jumps: clocks need time"):
        from_protocol(Bursts(), faults=Faults(clock_jumps=1))


class Guesser(Node):
    t = volatile(Time(), initial=0)

    def on_start(self):
        self.set_timer("go")

    @timer
    def go(self):
        if self.now() - self.t > 5:  # with horizon = 2, long ago may be 3 ticks ago or 300
            self.t = self.now()


class Guess(Protocol):
    g = Role(Guesser, 1)
    messages = (Nothing,)


def test_a_handler_whose_answer_depends_on_the_cut_is_a_one_line_error_naming_it():
    system = from_protocol(Guess(), time=TimeSettings(horizon=2))
    r = search(system, [], SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.ERROR
    assert "\n" not in r.reason
    assert "Guesser.go on g1" in r.reason and "raise [time] horizon" in r.reason
    # with the cut computed from the code (one past 5), the same handler is exact
    assert from_protocol(Guess(), time=TimeSettings()).semantics.cut == 6
    assert search(from_protocol(Guess(), time=TimeSettings()), [], SearchOptions(check_deadlock=False)).verdict \
        is Verdict.HOLDS


# -- crashes: the clock runs on while down; volatile times are lost ------------------------------------------------


class Leaser(Node):
    held = durable(Time(), initial=0)
    asked = volatile(Time(), initial=0)

    def on_start(self):
        self.set_timer("grant")

    @timer
    def grant(self):
        self.held = self.now() + 2
        self.asked = self.now() + 2


class Leasers(Protocol):
    r = Role(Leaser, 1)
    messages = (Nothing,)


def _step(system, s: tuple, kind: str, label: tuple | None = None) -> tuple:
    return next(t for a in system.actions if a.kind == kind for lab, t in a.instances(s) if label in (None, lab))


def test_a_crashed_node_keeps_its_clock_running_so_its_durable_time_ages_and_a_restart_forgets_volatile_ones():
    system = from_protocol(Leasers(), time=TimeSettings(), faults=Faults(crashes=1, restarts=True))
    view = system.schema.decode
    s = _step(system, system.initial[0], "timer")
    assert view(s)["r1"].held.key() == (2, 2) and view(s)["r1"].asked.key() == (2, 2)
    s = _step(system, s, "crash")
    assert view(s)["down"] == frozenset({"r1"})
    assert view(s)["r1"].held.key() == (2, 2) and view(s)["r1"].asked.long_ago  # volatile: back to the origin
    cut = system.semantics.cut
    for left in (1, 0, -1):  # while down, each tick moves the lease one unit closer on r1's clock
        s = _step(system, s, "tick")
        assert view(s)["r1"].held.key() == (left, left)
    for _ in range(cut):
        s = _step(system, s, "tick")
    assert view(s)["r1"].held.long_ago  # more than the cut ago
    s = _step(system, s, "restart")
    assert view(s)["down"] == frozenset() and view(s)["r1"].asked.long_ago
    assert "grant" in view(s)["timers"]["r1"]  # on_start ran again


def test_a_crashed_nodes_clock_still_drifts_within_the_skew():
    system = from_protocol(Leasers(), time=TimeSettings(max_skew=1), faults=Faults(crashes=1))
    offsets = {(system.schema.decode(s)["clocks"]["r1"], bool(system.schema.decode(s)["down"]))
               for s in tick_distances(system)}
    assert offsets == {(o, d) for o in (-1, 0, 1) for d in (False, True)}


# -- spec files ------------------------------------------------------------------------------------------------

PROTOCOL = '''
from checker import Int, Message, Node, Protocol, Role, Time, durable, invariant, timer, volatile


class Ping(Message):
    d = Int(0, 2)


class N(Node):
    t = volatile(Time(), initial=0)
    k = durable(Int(0, 1), initial=0)

    def on_start(self):
        self.set_timer("go", after=1)
        if self.id == "n1":
            self.send("n2", Ping(2))

    def on_ping(self, msg, src):
        self.t = self.now() + msg.d

    @timer
    def go(self):
        if self.t.passed() and self.k < 1:
            self.k = 1
            self.send("n1" if self.id == "n2" else "n2", Ping(1))
        self.set_timer("go", after=2)


class P(Protocol):
    n = Role(N, 2)
    messages = (Ping,)

    @invariant
    def Fine(self, state):
        return True
'''

SPEC = '''format = 1
protocol = "tproto_{tag}:P"
expected = "holds"
[network]
in_flight = "set"
[time]
{time}
[faults]
{faults}
'''


def _spec(tmp_path: Path, time: str, faults: str = "", tag: str = "a") -> Path:
    (tmp_path / f"tproto_{tag}.py").write_text(PROTOCOL)
    path = tmp_path / f"timed_{tag}.toml"
    path.write_text(SPEC.format(time=time, faults=faults, tag=tag))
    return path


@pytest.mark.parametrize("time, faults, field", [
    ("max_skew = -1", "", "time.max_skew: expected a whole number >= 0, got -1"),
    ("tick = 0", "", "time.tick: expected a whole number >= 1, got 0"),
    ("max_delay = 0", "", "time.max_delay: expected a whole number >= tick (1), got 0"),
    ("horizon = \"long\"", "", "time.horizon: expected \"abstract\" or a whole number >= 1, got 'long'"),
    ("skew = 1", "", "time: unknown key 'skew'"),
])
def test_a_bad_time_key_is_one_line_naming_the_file_and_the_field(tmp_path, time, faults, field):
    from checker.spec.load import SpecError, load_spec

    path = _spec(tmp_path, time, faults)
    with pytest.raises(SpecError) as e:
        load_spec(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and field in msg


def test_clock_jumps_in_a_spec_without_time_is_one_line_naming_the_field(tmp_path):
    from checker.spec.load import SpecError, load_spec

    path = _spec(tmp_path, "", "clock_jumps = 1")
    path.write_text(path.read_text().replace("[time]\n", ""))
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{path}: ")
    assert "clock_jumps: clocks need time" in str(e.value)


def test_the_state_count_of_a_timed_spec_does_not_depend_on_the_hash_seed(tmp_path):
    path = _spec(tmp_path, "max_skew = 1\nmax_delay = 2", "clock_jumps = 1\ncrashes = 1", tag="seed")
    counts = []
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-m", "checker", "check", "--json", str(path)], capture_output=True,
                             text=True, env=env, cwd=Path(__file__).resolve().parents[2], timeout=120)
        assert out.returncode == 0, out.stderr
        counts.append(json.loads(out.stdout.splitlines()[-1]))
    assert counts[0]["verdict"] == "holds"
    assert counts[0]["distinct_states"] == counts[1]["distinct_states"] > 50
    assert counts[0]["states_generated"] == counts[1]["states_generated"]


def test_a_message_cannot_carry_a_time_and_a_time_is_not_a_number():
    from checker import Map, NodeId

    with pytest.raises(ModelError, match="carries durations"):
        class At(Message):  # noqa: F841
            when = Time()
    with pytest.raises(ModelError, match="carries durations"):
        class Ats(Message):  # noqa: F841
            when = Map(NodeId("n", 2), Time())
    with pytest.raises(TypeError, match="compare a time with a time"):
        Instant.at(0) == 0  # noqa: B015
    assert (Instant.at(0) == "x") is False  # not a time, not a number: plainly unequal
