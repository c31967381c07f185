"""checker/engine: the search against a naive breadth-first search written here, independently.

Random small transition systems are explicit successor tables (self-loops and
duplicates included) behind a low-level `Model` built on the fly; the engine's
counts, verdicts and counterexamples are compared with a plain BFS over the
same tables. Then bounds, deadlock, constraints, model errors, monitors, and
TLC's numbers for TwoPhase.
"""

from __future__ import annotations

import os
import random
import signal
from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Int, Model, action, constraint, invariant, terminal
from checker.engine import Monitor, SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.semantics import from_model

STORES = ["exact", "fingerprint"]
FEW = settings(max_examples=80, deadline=None)
MANY = settings(max_examples=150, deadline=None)


# -- random systems ----------------------------------------------------------------------------------


@dataclass
class Graph:
    """n states, numbered 0..n-1, each encoded in one slot (`x`, values offset by `lo`) or two (`a`, `b`)."""

    n: int
    layout: str  # "one": {"x": Int(lo, lo + n - 1)}; "two": {"a": ..., "b": Int(0, width - 1)}, id = a * width + b
    lo: int
    width: int
    tables: list  # tables[k][x]: successors of x by the plain action A{k}
    ptables: list  # ptables[p][x]: successors of x by the parameterised action Choose, parameter p
    init: list  # initial state ids, duplicates allowed
    identity_loops: bool  # a self-loop returns `s` itself rather than an equal new tuple

    @property
    def action_names(self) -> list[str]:
        return [f"A{k}" for k in range(len(self.tables))] + ["Choose"]

    def successors(self, x: int) -> dict[str, list[int]]:
        """Successor ids of x by action, in the order the model produces them."""
        out = {f"A{k}": list(t[x]) for k, t in enumerate(self.tables)}
        out["Choose"] = [y for t in self.ptables for y in t[x]]
        return out

    def all_successors(self, x: int) -> list[int]:
        return [y for ys in self.successors(x).values() for y in ys]

    # encoding ------------------------------------------------------------------------------------
    def variables(self) -> dict:
        if self.layout == "one":
            return {"x": Int(self.lo, self.lo + self.n - 1)}
        return {"a": Int(0, (self.n - 1) // self.width), "b": Int(0, self.width - 1)}

    def readable(self, k: int) -> dict:
        if self.layout == "one":
            return {"x": k + self.lo}
        return {"a": k // self.width, "b": k % self.width}

    def enc(self, k: int) -> tuple:
        return (k,) if self.layout == "one" else (k // self.width, k % self.width)

    def dec(self, raw: tuple) -> int:
        return raw[0] if self.layout == "one" else raw[0] * self.width + raw[1]


@st.composite
def graphs(draw, max_n: int = 30) -> Graph:
    """Sizes and densities are drawn (and shrunk) by hypothesis; the edges come from a drawn seed (cheap)."""
    n = draw(st.integers(1, max_n))
    layout = draw(st.sampled_from(["one", "two"]))
    lo = draw(st.sampled_from([0, -3, 7]))
    width = draw(st.integers(1, n))
    n_plain, n_params = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    loops = draw(st.sampled_from([0.0, 0.2, 0.5]))  # how many edges are self-loops
    rng = random.Random(draw(st.integers(0, 2**32)))

    def table():
        """An action as edges (x, y) in order; some repeated, so successor lists hold duplicates."""
        t: list[list[int]] = [[] for _ in range(n)]
        for _ in range(rng.randint(0, 2 * n)):
            x = rng.randrange(n)
            y = x if rng.random() < loops else rng.randrange(n)
            t[x] += [y] * (2 if rng.random() < 0.15 else 1)
        return t

    tables = [table() for _ in range(n_plain)]
    ptables = [table() for _ in range(n_params)]
    init = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4))
    return Graph(n, layout, lo, width, tables, ptables, init, draw(st.booleans()))


def id_sets(draw_n: int, max_size: int = 4):
    return st.sets(st.integers(0, draw_n - 1), max_size=max_size)


def membership(g: Graph, ids, member: bool):
    """A predicate method `(self, state)` true when the state's id is (not) in `ids`; reads the state's variables."""
    ids = frozenset(ids)
    if g.layout == "one":
        lo = g.lo

        def one(self, state):
            return (state.x - lo in ids) == member

        return one
    w = g.width

    def two(self, state):
        return (state.a * w + state["b"] in ids) == member

    return two


def make_model(g: Graph, *, bad=None, cfail=None, terminals=None, extra=None) -> Model:
    """A Model subclass over `g`'s tables, created here; `extra` adds more action methods by name."""

    def plain(k):
        table = g.tables[k]

        def act(self, s):
            x = g.dec(s)
            return [s if y == x and g.identity_loops else g.enc(y) for y in table[x]]

        return action(act, name=f"A{k}")

    def Choose(self, s, ps):
        x = g.dec(s)
        return [s if y == x and g.identity_loops else g.enc(y) for p in ps for y in g.ptables[p][x]]

    def variables(self):
        self.P = Int(0, len(g.ptables) - 1)
        return g.variables()

    def init(self):
        return [g.readable(k) for k in g.init]

    ns: dict = {"variables": variables, "init": init}
    for k in range(len(g.tables)):
        ns[f"A{k}"] = plain(k)
    ns["Choose"] = action(over="P")(Choose)
    for name, fn in (extra or {}).items():
        ns[name] = action(fn, name=name)
    if bad is not None:
        ns["Good"] = invariant(membership(g, bad, False), name="Good")
    if cfail is not None:
        ns["Keep"] = constraint(membership(g, cfail, False), name="Keep")
    if terminals is not None:
        ns["Final"] = terminal(membership(g, terminals, True), name="Final")
    return type("Random", (Model,), ns)()


def run(g: Graph, options: SearchOptions, *, monitor=None, **model_kw):
    system = from_model(make_model(g, **model_kw))

    def compiled(preds):
        return [compile_predicate(k, f, system.schema) for k, f in preds.items()]

    r = search(
        system,
        compiled(system.invariants),
        options,
        constraints=compiled(system.constraints),
        terminals=compiled(system.terminals),
        monitor=monitor,
    )
    return system, r


# -- the reference ---------------------------------------------------------------------------------


@dataclass
class Ref:
    level: dict  # reachable id -> BFS level (initial states: 1)
    generated: int
    coverage: dict
    expanded: set
    outside: dict = field(default_factory=dict)  # id outside the constraint -> the first level it is generated at

    @property
    def depth(self) -> int:
        return max(self.level.values(), default=0)

    def within(self, d: int) -> int:
        return sum(1 for lv in self.level.values() if lv <= d)

    def first_level(self, ids) -> int | None:
        lv = [self.level[x] for x in ids if x in self.level] + [self.outside[x] for x in ids if x in self.outside]
        return min(lv) if lv else None


def naive(g: Graph, cfail=frozenset()) -> Ref:
    """Plain BFS over the tables, with TLC's CONSTRAINT: a state in `cfail` is generated (counted) but never
    stored, levelled or expanded; `outside` keeps the first level at which each such state is generated."""
    level: dict[int, int] = {}
    outside: dict[int, int] = {}
    queue: deque = deque()
    for x in g.init:
        if x in cfail:
            outside.setdefault(x, 1)
        elif x not in level:
            level[x] = 1
            queue.append(x)
    coverage = dict.fromkeys(g.action_names, 0)
    generated = len(g.init)
    expanded = set()
    while queue:
        x = queue.popleft()
        expanded.add(x)
        for name, ys in g.successors(x).items():
            coverage[name] += len(ys)
            generated += len(ys)
            for y in ys:
                if y in cfail:
                    outside.setdefault(y, level[x] + 1)
                elif y not in level:
                    level[y] = level[x] + 1
                    queue.append(y)
    return Ref(level, generated, coverage, expanded, outside)


def assert_real_path(g: Graph, system, path, *, ends_in=None, length=None):
    """path[0] initial, every step an edge of the tables, the last state in `ends_in`, `length` states."""
    assert path, "a violation or error needs a path"
    assert all(system.schema.check_raw(s) is None for s in path)
    ids = [g.dec(s) for s in path]
    assert ids[0] in g.init
    for u, v in zip(ids, ids[1:]):
        assert v in g.all_successors(u), f"{u} -> {v} is no edge"
    if ends_in is not None:
        assert ids[-1] in ends_in
    if length is not None:
        assert len(path) == length


# -- the engine against the reference --------------------------------------------------------------


@MANY
@given(graphs(), st.sampled_from(STORES))
def test_counts_agree_with_a_naive_bfs(g, store):
    ref = naive(g)
    _, r = run(g, SearchOptions(store=store, check_deadlock=False))
    assert r.verdict is Verdict.HOLDS and r.property is None and r.path is None
    assert r.stats.distinct == len(ref.level)
    assert r.stats.depth == ref.depth
    assert r.stats.generated == ref.generated
    assert r.stats.coverage == ref.coverage
    assert list(r.stats.coverage) == g.action_names  # in declaration order
    if store == "fingerprint":
        assert r.stats.collision_probability is not None and r.stats.collision_probability >= 0
    else:
        assert r.stats.collision_probability is None


@MANY
@given(graphs(), st.sampled_from(STORES))
def test_every_reachable_state_is_checked_exactly_once(g, store):
    ref = naive(g)
    system = from_model(make_model(g))
    checked = []

    def remember(view):
        checked.append(view.raw_state)
        return True

    def record(state):  # passes the state on whole: never memoised, called on every state checked
        return remember(state)

    inv = compile_predicate("record", record, system.schema)
    assert inv.reads is None
    r = search(system, [inv], SearchOptions(store=store, check_deadlock=False))
    assert r.verdict is Verdict.HOLDS
    assert len(checked) == len(set(checked)) == r.stats.distinct
    assert {g.dec(s) for s in checked} == set(ref.level)
    # level by level: the order in which states are checked never goes back a level
    levels = [ref.level[g.dec(s)] for s in checked]
    assert levels == sorted(levels)


@MANY
@given(st.data())
def test_an_invariant_fails_iff_a_bad_state_is_reachable_with_a_shortest_path(data):
    g = data.draw(graphs())
    bad = data.draw(id_sets(g.n))
    ref = naive(g)
    first = ref.first_level(bad)
    lengths = []
    for store in STORES:
        system, r = run(g, SearchOptions(store=store, check_deadlock=False), bad=bad)
        if first is None:
            assert r.verdict is Verdict.HOLDS
            assert (r.stats.distinct, r.stats.depth, r.stats.generated) == (len(ref.level), ref.depth, ref.generated)
        else:
            assert r.verdict is Verdict.VIOLATED and r.property == "Good"
            assert_real_path(g, system, r.path, ends_in=bad, length=first)
            lengths.append(len(r.path))
            assert r.stats.distinct <= len(ref.level)
            if store == "fingerprint":
                assert r.stats.collision_probability >= 0
    assert len(set(lengths)) <= 1  # both stores: the same counterexample length


@MANY
@given(st.data())
def test_deadlock_is_the_shortest_state_without_successors_no_terminal_accepts(data):
    g = data.draw(graphs())
    terms = data.draw(st.one_of(st.none(), id_sets(g.n, 6)))
    store = data.draw(st.sampled_from(STORES))
    ref = naive(g)
    dead = {x for x in ref.level if not g.all_successors(x) and (terms is None or x not in terms)}
    system, r = run(g, SearchOptions(store=store), terminals=terms)
    if dead:
        assert r.verdict is Verdict.VIOLATED and r.property == "deadlock"
        assert_real_path(g, system, r.path, ends_in=dead, length=ref.first_level(dead))
    else:
        assert r.verdict is Verdict.HOLDS
        assert (r.stats.distinct, r.stats.generated) == (len(ref.level), ref.generated)
    _, off = run(g, SearchOptions(store=store, check_deadlock=False), terminals=terms)
    assert off.verdict is Verdict.HOLDS and off.stats.distinct == len(ref.level)


@MANY
@given(graphs(), st.integers(1, 8), st.sampled_from(STORES))
def test_a_depth_bound_is_undetermined_iff_states_lie_beyond_it(g, bound, store):
    ref = naive(g)
    _, r = run(g, SearchOptions(store=store, check_deadlock=False, max_depth=bound))
    if ref.depth > bound:
        assert r.verdict is Verdict.UNDETERMINED and f"max_depth {bound}" in r.reason
        assert r.stats.depth == bound
        assert r.stats.distinct == ref.within(bound)
    else:
        assert r.verdict is Verdict.HOLDS
        assert (r.stats.distinct, r.stats.depth, r.stats.generated) == (len(ref.level), ref.depth, ref.generated)


@MANY
@given(st.data())
def test_a_depth_bound_finds_every_violation_within_it(data):
    g = data.draw(graphs())
    bad = data.draw(id_sets(g.n))
    bound = data.draw(st.integers(1, 8))
    store = data.draw(st.sampled_from(STORES))
    ref = naive(g)
    first = ref.first_level(bad)
    system, r = run(g, SearchOptions(store=store, check_deadlock=False, max_depth=bound), bad=bad)
    if first is not None and first <= bound:  # on the last level too, whatever the order of successors
        assert r.verdict is Verdict.VIOLATED and r.property == "Good"
        assert_real_path(g, system, r.path, ends_in=bad, length=first)
    else:
        assert r.verdict is (Verdict.UNDETERMINED if ref.depth > bound else Verdict.HOLDS)


@MANY
@given(st.data())
def test_a_depth_bound_finds_every_deadlock_within_it(data):
    g = data.draw(graphs())
    bound = data.draw(st.integers(1, 8))
    store = data.draw(st.sampled_from(STORES))
    ref = naive(g)
    dead = {x for x in ref.level if not g.all_successors(x) and ref.level[x] <= bound}
    system, r = run(g, SearchOptions(store=store, max_depth=bound))
    if dead:
        assert r.verdict is Verdict.VIOLATED and r.property == "deadlock"
        assert_real_path(g, system, r.path, ends_in=dead, length=ref.first_level(dead))
    else:
        assert r.verdict is (Verdict.UNDETERMINED if ref.depth > bound else Verdict.HOLDS)


@MANY
@given(graphs(), st.integers(1, 32), st.sampled_from(STORES))
def test_a_state_bound_is_undetermined_when_there_are_more_states(g, bound, store):
    ref = naive(g)
    _, r = run(g, SearchOptions(store=store, check_deadlock=False, max_states=bound))
    if r.verdict is Verdict.HOLDS:  # only ever after a complete search
        assert (r.stats.distinct, r.stats.generated) == (len(ref.level), ref.generated)
    if len(ref.level) > bound and ref.depth > 1:
        assert r.verdict is Verdict.UNDETERMINED and f"max_states {bound}" in r.reason
        assert r.stats.distinct >= bound
    elif len(ref.level) < bound:
        assert r.verdict is Verdict.HOLDS and r.stats.distinct == len(ref.level)
    else:  # only initial states (today the bound is first checked after level 1), or exactly `bound` states
        assert r.verdict in (Verdict.HOLDS, Verdict.UNDETERMINED)


@MANY
@given(st.data())
def test_states_failing_a_constraint_are_generated_and_checked_but_not_stored(data):
    g = data.draw(graphs())
    cfail = data.draw(id_sets(g.n, 8))
    bad = data.draw(id_sets(g.n, 3))
    store = data.draw(st.sampled_from(STORES))
    ref = naive(g, cfail)
    _, r = run(g, SearchOptions(store=store, check_deadlock=False), cfail=cfail)
    assert r.verdict is Verdict.HOLDS
    assert (r.stats.distinct, r.stats.depth, r.stats.generated) == (len(ref.level), ref.depth, ref.generated)
    assert r.stats.coverage == ref.coverage
    # the invariant still sees the states the constraint cuts off (TLC checks every generated one)
    system, r = run(g, SearchOptions(store=store, check_deadlock=False), cfail=cfail, bad=bad)
    first = ref.first_level(bad)
    if first is None:
        assert r.verdict is Verdict.HOLDS
    else:
        assert r.verdict is Verdict.VIOLATED and r.property == "Good"
        assert_real_path(g, system, r.path, ends_in=bad, length=first)
    # a state whose successors the constraint all cuts off is not a deadlock
    dead = {x for x in ref.expanded if not g.all_successors(x)}
    system, r = run(g, SearchOptions(store=store), cfail=cfail)
    if dead:
        assert r.verdict is Verdict.VIOLATED and r.property == "deadlock"
        assert_real_path(g, system, r.path, ends_in=dead, length=ref.first_level(dead))
    else:
        assert r.verdict is Verdict.HOLDS


@FEW
@given(st.data())
def test_an_action_that_raises_is_an_error_naming_it_with_the_path_to_the_state(data):
    g = data.draw(graphs())
    boom = data.draw(st.integers(0, g.n - 1))
    store = data.draw(st.sampled_from(STORES))

    def Boom(self, s):
        if g.dec(s) == boom:
            raise RuntimeError(f"boom at {boom}")
        return []

    ref = naive(g)
    system, r = run(g, SearchOptions(store=store, check_deadlock=False), extra={"Boom": Boom})
    if boom in ref.level:
        assert r.verdict is Verdict.ERROR
        assert "Boom" in r.reason and "RuntimeError" in r.reason
        assert r.error is not None and f"boom at {boom}" in r.error
        assert_real_path(g, system, r.path, ends_in={boom}, length=ref.level[boom])
    else:
        assert r.verdict is Verdict.HOLDS and r.stats.distinct == len(ref.level)
        assert r.stats.coverage["Boom"] == 0


@FEW
@given(st.data())
def test_an_action_writing_a_value_outside_its_type_is_an_error_naming_action_and_variable(data):
    g = data.draw(graphs())
    at = data.draw(st.integers(0, g.n - 1))
    store = data.draw(st.sampled_from(STORES))
    names = list(g.variables())
    slot = data.draw(st.integers(0, len(names) - 1))
    bound = g.variables()[names[slot]].cardinality
    value = data.draw(st.sampled_from([bound, bound + 5, -1]))

    def Escape(self, s):
        if g.dec(s) != at:
            return []
        t = list(s)
        t[slot] = value
        return [tuple(t)]

    ref = naive(g)
    system, r = run(g, SearchOptions(store=store, check_deadlock=False), extra={"Escape": Escape})
    if at in ref.level:
        assert r.verdict is Verdict.ERROR
        assert "Escape" in r.reason and f"'{names[slot]}'" in r.reason
        assert_real_path(g, system, r.path, ends_in={at}, length=ref.level[at])
    else:
        assert r.verdict is Verdict.HOLDS and r.stats.coverage["Escape"] == 0


class StopAt(Monitor):
    """Records every tick; on the k-th returns a reason to stop (or raises KeyboardInterrupt)."""

    def __init__(self, k: int, interrupt: bool = False):
        super().__init__()
        self.k, self.interrupt = k, interrupt
        self.ticks: list[tuple[int, int, int]] = []
        self.finished = []

    def tick(self, distinct, generated, depth):
        self.ticks.append((distinct, generated, depth))
        if len(self.ticks) == self.k:
            if self.interrupt:
                raise KeyboardInterrupt
            return "told to stop"
        return None

    def finish(self, stats):
        self.finished.append(stats)


@MANY
@given(graphs(), st.integers(1, 5), st.booleans(), st.sampled_from(STORES))
def test_a_monitor_that_stops_the_search_gives_undetermined_never_holds(g, k, interrupt, store):
    ref = naive(g)
    mon = StopAt(k, interrupt)
    _, r = run(g, SearchOptions(store=store, check_deadlock=False), monitor=mon)
    # small systems: one tick per new level, after the level before it is fully expanded
    for j, (distinct, generated, depth) in enumerate(mon.ticks, start=1):
        assert depth == j + 1
        assert distinct == ref.within(j + 1)
        assert generated == len(g.init) + sum(len(g.all_successors(x)) for x, lv in ref.level.items() if lv <= j)
    if ref.depth > k:
        assert r.verdict is Verdict.UNDETERMINED
        assert ("interrupted" in r.reason) if interrupt else (r.reason == "told to stop")
        assert len(mon.ticks) == k
    else:
        assert r.verdict is Verdict.HOLDS and r.stats.distinct == len(ref.level)
        assert len(mon.ticks) == ref.depth - 1
    assert mon.finished == [r.stats]


@FEW
@given(graphs())
def test_a_time_bound_already_spent_gives_undetermined_when_anything_is_left(g):
    ref = naive(g)
    _, r = run(g, SearchOptions(check_deadlock=False, max_seconds=1e-9))
    if ref.depth > 1:
        assert r.verdict is Verdict.UNDETERMINED and "max_seconds" in r.reason
    else:  # explored completely before the first tick
        assert r.verdict is Verdict.HOLDS


# -- hand-built cases --------------------------------------------------------------------------------


def fork(order):
    """0 -> 1, 2 (in `order`); 1 -> 3; 2 and 3 have no successor; 2 is bad."""

    class Fork(Model):
        def variables(self):
            return {"x": Int(0, 3)}

        def init(self):
            return {"x": 0}

        @action
        def Step(self, s):
            return {0: [(y,) for y in order], 1: [(3,)], 2: [], 3: []}[s[0]]

        @invariant
        def NotTwo(self, state):
            return state.x != 2

    m = Fork()
    system = from_model(m)
    return system, [compile_predicate("NotTwo", m.NotTwo, system.schema)]


def test_a_violation_before_the_depth_bound_is_found():
    system, invs = fork((2, 1))  # 2 is the first state of level 2
    r = search(system, invs, SearchOptions(check_deadlock=False, max_depth=2))
    assert r.verdict is Verdict.VIOLATED and [s[0] for s in r.path] == [0, 2]


def test_a_violation_on_the_depth_bound_level_is_found_whatever_the_successor_order():
    system, invs = fork((1, 2))  # 1 (whose successor lies beyond the bound) comes before the bad state 2
    r = search(system, invs, SearchOptions(check_deadlock=False, max_depth=2))
    assert r.verdict is Verdict.VIOLATED and [s[0] for s in r.path] == [0, 2]


def test_a_deadlock_on_the_depth_bound_level_is_found_whatever_the_successor_order():
    system, _ = fork((1, 2))  # 2 has no successor
    r = search(system, [], SearchOptions(max_depth=2))
    assert r.verdict is Verdict.VIOLATED and r.property == "deadlock" and [s[0] for s in r.path] == [0, 2]


class Guarded(Model):
    """A guard conjunct protects a later conjunct (`y != 0 and x // y ...`), as Python code often does."""

    def variables(self):
        return {"x": Int(0, 3), "y": Int(0, 3), "z": Int(0, 1)}

    def init(self):
        return {"x": 0, "y": 1, "z": 0}

    @action
    def Down(self, s):
        return [(s[0], s[1] - 1, s[2])] if s[1] > 0 else [s]

    @invariant
    def Ratio(self, state):
        return state.x + state.y >= 0 and state.y != 0 and state.x // state.y >= 0


def test_a_guarded_conjunct_is_not_evaluated_when_its_guard_fails():
    m = Guarded()
    system = from_model(m)
    r = search(system, [compile_predicate("Ratio", m.Ratio, system.schema)], SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.VIOLATED and r.property == "Ratio", r.reason
    assert [s[1] for s in r.path] == [1, 0]


class Interrupted(Model):
    def variables(self):
        return {"n": Int(0, 9)}

    def init(self):
        return {"n": 0}

    @action
    def Inc(self, s):
        if s[0] == 3:  # a real Ctrl-C, pressed twice (the first one waits for a clean point to stop at)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return [(s[0] + 1,)]


@pytest.mark.parametrize("store", STORES)
def test_ctrl_c_inside_an_action_is_undetermined_not_an_error(store):
    """A real SIGINT landing in an action (a KeyboardInterrupt that model code raises itself is an
    error: tests/unit/test_guard.py)."""
    r = search(from_model(Interrupted()), [], SearchOptions(store=store))
    assert r.verdict is Verdict.UNDETERMINED and "interrupted" in r.reason
    assert r.stats.distinct == 4 and r.path is None


class OneWay(Model):
    """0 -> 1 -> 2; 2 keeps the schema's range but raises TypeError in an invariant."""

    def variables(self):
        return {"n": Int(0, 2)}

    def init(self):
        return {"n": 0}

    @action
    def Inc(self, s):
        return [(s[0] + 1,)] if s[0] < 2 else [s]

    @invariant
    def Fragile(self, state):
        return 1 // (2 - state.n) >= 0


@pytest.mark.parametrize("store", STORES)
def test_an_invariant_that_raises_is_an_error_naming_no_action(store):
    m = OneWay()
    system = from_model(m)
    r = search(system, [compile_predicate("Fragile", m.Fragile, system.schema)], SearchOptions(store=store))
    assert r.verdict is Verdict.ERROR and "ZeroDivisionError" in r.reason
    assert "action" not in r.reason.split(" raised")[0]
    assert [s[0] for s in r.path] == [0, 1, 2]


# -- TwoPhase: TLC's numbers ---------------------------------------------------------------------------


def two_phase(cls, **params):
    """TwoPhase.tla's own invariants, TypeOK and TCConsistent (the model also declares the lemmas that
    make TCConsistent inductive, which EarlyCommit breaks sooner)."""
    m = cls(**params)
    system = from_model(m)
    return system, [compile_predicate(k, system.invariants[k], system.schema) for k in ("TypeOK", "TCConsistent")]


@pytest.mark.parametrize(
    "rms, distinct, depth, store",
    [(3, 288, 11, "exact"), (3, 288, 11, "fingerprint"), (5, 8832, 17, "exact")],
)
def test_two_phase_counts_equal_tlc(rms, distinct, depth, store):
    from protocols.two_phase_commit_tla import TwoPhase

    system, invs = two_phase(TwoPhase, rms=rms)
    r = search(system, invs, SearchOptions(store=store))
    assert r.verdict is Verdict.HOLDS
    assert (r.stats.distinct, r.stats.depth) == (distinct, depth)
    assert r.stats.generated > r.stats.distinct and r.stats.never_enabled == []


@pytest.mark.parametrize("store", STORES)
def test_early_commit_breaks_tc_consistent_in_five_steps(store):
    from protocols.two_phase_commit_tla import EarlyCommit

    system, invs = two_phase(EarlyCommit, rms=3)
    r = search(system, invs, SearchOptions(store=store))
    assert r.verdict is Verdict.VIOLATED and r.property == "TCConsistent"
    assert len(r.path) == 6
    assert r.path[0] in system.initial
    for s, t in zip(r.path, r.path[1:]):
        assert system.find_step(s, t) is not None
    tc = next(p for p in invs if p.name == "TCConsistent")
    assert not tc.check(r.path[-1]) and all(tc.check(s) for s in r.path[:-1])
    assert set(system.schema.view(r.path[-1]).rmState.values()) >= {"committed", "aborted"}


def test_fewest_faults_prefers_a_longer_story_without_faults():
    """A crash reaches the bad state in one step, normal steps in three: BFS takes the crash, the
    fewest-faults search the three normal steps; and with no fault-free way, the fewest crashes."""
    from checker.engine import fewest_faults
    from checker.model import Int, StateSchema
    from checker.semantics import Action, TransitionSystem

    schema = StateSchema({"x": Int(0, 9)})

    def step(s):
        return [(s[0] + 1,)] if s[0] < 3 else []

    def crash(s):
        return [(3,)] if s[0] == 0 else []

    def system(normal_ok: bool) -> TransitionSystem:
        normal = step if normal_ok else (lambda s: [(s[0] + 1,)] if s[0] < 2 else [])
        return TransitionSystem("t", schema, [(0,)], [
            Action("tick", normal, lambda s: [((), t) for t in normal(s)]),
            Action("crash", crash, lambda s: [(("n1",), t) for t in crash(s)], kind="crash"),
        ])

    bad = compile_predicate("Small", lambda st: st.x < 3, schema)
    short = search(system(True), [bad], SearchOptions())
    assert short.path == ((0,), (3,))  # the shortest uses the crash
    r = fewest_faults(system(True), [bad])
    assert (r.verdict, r.property, r.path) == (Verdict.VIOLATED, "Small", ((0,), (1,), (2,), (3,)))
    r = fewest_faults(system(False), [bad])  # only the crash leads there
    assert r.path == ((0,), (3,))
    assert fewest_faults(system(True), [compile_predicate("T", lambda st: True, schema)]).verdict is Verdict.HOLDS
