"""TLC's model-checking options with TLC's semantics: CONSTRAINT, ACTION_CONSTRAINT and VIEW.

Small models whose distinct/generated/depth are derived by hand (in the comments), then random
transition systems with random constraints, action constraints and views, checked against a naive
search written here from TLC's ModelChecker.doNext: every successor counts as generated; one outside
the state or action constraints has its invariants checked but is never stored, levelled or expanded;
deadlock is decided before the constraints filter; states with equal views are one state (the first
reached is expanded).
"""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import (
    Int,
    Message,
    Model,
    Node,
    Protocol,
    Role,
    action,
    action_constraint,
    check,
    constraint,
    durable,
    invariant,
    view,
)
from checker.engine import SearchOptions, Verdict, search
from checker.logic import ActionConstraint, StateFunction, compile_predicate
from checker.semantics import from_model
from checker.semantics.nodes import from_protocol
from checker.spec import SpecError

STORES = ("exact", "fingerprint", "compact")


def run(model, store="exact", **opts):
    """Search a model as `check` would, with its constraints, action constraints and view."""
    system = from_model(model) if isinstance(model, Model) else from_protocol(model)
    schema = system.schema

    def preds(fns):
        return [compile_predicate(n, f, schema) for n, f in fns.items()]

    v = next((StateFunction(n, f, schema) for n, f in system.views.items()), None)
    acs = [ActionConstraint(n, f, schema) for n, f in system.action_constraints.items()]
    return system, search(system, preds(system.invariants), SearchOptions(store=store, **opts),
                          constraints=preds(system.constraints), terminals=preds(system.terminals),
                          action_constraints=acs, view=v)


def counts(r):
    return r.stats.distinct, r.stats.generated, r.stats.depth


# -- CONSTRAINT ---------------------------------------------------------------------------------------------


class TwoCounters(Model):
    """x, y in 0..3, each incremented alone; the constraint keeps x + y <= 2."""

    def variables(self):
        return {"x": Int(0, 3), "y": Int(0, 3)}

    def init(self):
        return [{"x": 0, "y": 0}, {"x": 3, "y": 3}]

    @action
    def IncX(self, s):
        return [(s[0] + 1, s[1])] if s[0] < 3 else []

    @action
    def IncY(self, s):
        return [(s[0], s[1] + 1)] if s[1] < 3 else []

    @constraint
    def Small(self, state):
        return state.x + state.y <= 2

    @invariant
    def Bounded(self, state):
        return state.x + state.y <= 6


class TwoCountersNeverThree(TwoCounters):
    @invariant
    def NotThree(self, state):
        return state.x + state.y != 3


@pytest.mark.parametrize("store", STORES)
def test_a_state_constraint_stores_only_the_states_inside_it(store):
    _, r = run(TwoCounters(), store, check_deadlock=False)
    # stored: the 6 states with x + y <= 2, levels x + y = 0, 1, 2 (depth 3); generated: the 2 initial
    # states (3,3 fails the constraint: generated, not stored) + 2 successors of each stored state = 14
    assert r.verdict is Verdict.HOLDS
    assert counts(r) == (6, 14, 3)


@pytest.mark.parametrize("store", STORES)
def test_invariants_are_checked_on_states_outside_the_constraint(store):
    system, r = run(TwoCountersNeverThree(), store, check_deadlock=False)
    # TLC checks every generated successor, in the model or not: x + y = 3 is generated at level 4;
    # (3,3) fails NotThree? no: 6 != 3. The shortest violation has 4 states.
    assert (r.verdict, r.property) == (Verdict.VIOLATED, "NotThree")
    assert len(r.path) == 4 and sum(r.path[-1]) == 3
    for s, t in zip(r.path, r.path[1:]):
        assert t in [u for a in system.actions for u in a.successors(s)]


class InitialOutside(TwoCounters):
    def init(self):
        return [{"x": 3, "y": 3}, {"x": 0, "y": 0}]

    @invariant
    def NotBoth3(self, state):
        return not (state.x == 3 and state.y == 3)


@pytest.mark.parametrize("store", STORES)
def test_an_initial_state_outside_the_constraint_is_not_stored_but_checked(store):
    _, r = run(InitialOutside(), store, check_deadlock=False)
    assert (r.verdict, r.property, r.path) == (Verdict.VIOLATED, "NotBoth3", ((3, 3),))


# -- ACTION_CONSTRAINT ----------------------------------------------------------------------------------


class Climb(Model):
    """x in 0..3: Up (x + 1) and Reset (to 0); the action constraint forbids the step 2 -> 3."""

    def variables(self):
        return {"x": Int(0, 3)}

    def init(self):
        return {"x": 0}

    @action
    def Up(self, s):
        return [(s[0] + 1,)] if s[0] < 3 else []

    @action
    def Reset(self, s):
        return [(0,)] if s[0] > 0 else []

    @action_constraint
    def NotToThree(self, state, next_state):
        return not (state.x == 2 and next_state.x == 3)


class UpOnly(Model):
    def variables(self):
        return {"x": Int(0, 3)}

    def init(self):
        return {"x": 0}

    @action
    def Up(self, s):
        return [(s[0] + 1,)] if s[0] < 3 else []


class UpOnlyConstrained(UpOnly):
    @action_constraint
    def NotToThree(self, state, next_state):
        return next_state.x != 3

    @invariant
    def Below3(self, state):
        return state.x < 3


@pytest.mark.parametrize("store", STORES)
def test_an_action_constraint_filters_steps_not_states(store):
    _, r = run(Climb(), store)
    # stored 0, 1, 2 (depth 3); generated: 1 initial + Up(0) + Up(1), Reset(1) + Up(2) (filtered), Reset(2) = 6
    assert r.verdict is Verdict.HOLDS
    assert counts(r) == (3, 6, 3)
    assert r.stats.coverage == {"Up": 3, "Reset": 2}


@pytest.mark.parametrize("store", STORES)
def test_a_state_whose_every_step_is_filtered_is_no_deadlock(store):
    _, r = run(UpOnly(), store)
    assert (r.verdict, r.property, len(r.path)) == (Verdict.VIOLATED, "deadlock", 4)  # 3 has no successor
    # 2 -> 3 is filtered: 2 still has a successor (TLC decides deadlock before ACTION_CONSTRAINT filters), and
    # the invariant is checked on 3 all the same
    _, r = run(UpOnlyConstrained(), store)
    assert (r.verdict, r.property, r.path) == (Verdict.VIOLATED, "Below3", ((0,), (1,), (2,), (3,)))


class UpOnlyQuiet(UpOnly):
    @action_constraint
    def NotToThree(self, state, next_state):
        return next_state.x != 3


@pytest.mark.parametrize("store", STORES)
def test_filtered_steps_count_as_generated(store):
    _, r = run(UpOnlyQuiet(), store)
    assert r.verdict is Verdict.HOLDS and counts(r) == (3, 4, 3)  # 0, 1, 2 stored; 1 + 3 steps generated


class Ball(Message):
    pass


class Player(Node):
    hits = durable(Int(0, 3), initial=0)

    def on_start(self):
        if self.id == "p1":
            self.send("p2", Ball())

    def on_ball(self, msg, src):
        self.hits += 1
        if self.hits < 3:
            self.send(src, Ball())


class Rally(Protocol):
    messages = (Ball,)
    p = Role(Player, 2)


class ShortRally(Rally):
    @action_constraint
    def AtMostTwoHits(self, state, next_state):
        return next_state.p2.hits < 2


def naive_tlc(system, cons=None, acons=None, key=None, bad=None, deadlock=False):
    """TLC's breadth-first search, written plainly over raw states (filters take raw states):
    (distinct, generated, depth, length of the first violation or None)."""
    key = key or (lambda s: s)
    seen: dict = {}
    level: list = []
    generated = len(system.initial)
    found = None
    for s in system.initial:
        if cons and not cons(s):
            if bad and bad(s) and found is None:
                found = 1
            continue
        if key(s) not in seen:
            seen[key(s)] = 1
            level.append(s)
    depth = 1 if level else 0
    while level and found is None:
        if bad and any(bad(s) for s in level):
            found = depth
            break
        nxt = []
        for s in level:
            succ = [t for a in system.actions for t in a.successors(s)]
            generated += len(succ)
            if deadlock and not succ:
                found = depth  # shorter than any violation outside the constraints found at depth + 1
            for t in succ:
                if (cons and not cons(t)) or (acons and not acons(s, t)):
                    if bad and bad(t) and found is None:
                        found = depth + 1
                    continue
                if key(t) not in seen:
                    seen[key(t)] = depth + 1
                    nxt.append(t)
        if found is not None:
            break
        level = nxt
        depth += 1 if nxt else 0
    return len(seen), generated, depth, found


@pytest.mark.parametrize("store", STORES)
def test_an_action_constraint_on_a_message_passing_protocol(store):
    system, r = run(ShortRally(), store)
    whole = run(Rally(), store)[1]
    view = system.schema.view
    want = naive_tlc(system, acons=lambda s, t: view(t).p2.hits < 2)
    assert r.verdict is Verdict.HOLDS
    assert counts(r) == want[:3]
    assert r.stats.distinct < whole.stats.distinct and r.stats.generated < whole.stats.generated


# -- VIEW ---------------------------------------------------------------------------------------------


class Walk(Model):
    """x in 0..2 moves up and down; h counts the steps (a history the view leaves out)."""

    def variables(self):
        return {"x": Int(0, 2), "h": Int(0, 5)}

    def init(self):
        return {"x": 0, "h": 0}

    @action
    def Up(self, s):
        return [(s[0] + 1, s[1] + 1)] if s[0] < 2 and s[1] < 5 else []

    @action
    def Down(self, s):
        return [(s[0] - 1, s[1] + 1)] if s[0] > 0 and s[1] < 5 else []


class WalkViewed(Walk):
    @view
    def Position(self, state):
        return state.x


class WalkViewedShort(WalkViewed):
    @invariant
    def FewSteps(self, state):
        return state.h <= 1


@pytest.mark.parametrize("store", ["exact", "fingerprint"])
def test_a_view_merges_states_that_differ_only_outside_it(store):
    _, plain = run(Walk(), store, check_deadlock=False)
    # without the view: (x, h) with h <= 5 and x = h mod 2 parity-bound... many states; with it, one per x:
    # (0,0) expands to (1,1); (1,1) to (2,2) and (0,2) (seen: x = 0); (2,2) to (1,3) (seen): 1 + 1 + 2 + 1
    _, r = run(WalkViewed(), store, check_deadlock=False)
    assert r.verdict is Verdict.HOLDS
    assert counts(r) == (3, 5, 3)
    assert plain.stats.distinct > 3


@pytest.mark.parametrize("store", ["exact", "fingerprint"])
def test_a_counterexample_under_a_view_shows_the_concrete_states(store):
    _, r = run(WalkViewedShort(), store, check_deadlock=False)
    assert (r.verdict, r.property) == (Verdict.VIOLATED, "FewSteps")
    assert r.path == ((0, 0), (1, 1), (2, 2))


def test_a_view_is_refused_where_it_cannot_be_sound():
    system = from_model(WalkViewed())
    v = StateFunction("Position", WalkViewed().Position, system.schema)
    for opts in (dict(store="compact"), dict(strategy="dfs")):
        with pytest.raises(ValueError, match="view"):
            search(system, [], SearchOptions(**opts), view=v)
    with pytest.raises(SpecError) as e:
        check(WalkViewed, out=None, store="compact")
    assert "view" in str(e.value) and "\n" not in str(e.value)


def test_two_views_on_one_model_are_refused():
    from checker.model import ModelError

    with pytest.raises(ModelError, match="view"):
        type("TwoViews", (Walk,), {"A": view(lambda self, s: s.x, name="A"), "B": view(lambda self, s: s.h, name="B")})


# -- random systems against the naive search -----------------------------------------------------------


@st.composite
def systems(draw):
    """A random graph over states 0..n-1 (one slot), 1-3 actions with duplicate and self-loop edges, random
    initial states, a random constraint (failing ids), action constraint (forbidden edges), view (classes)
    and invariant (bad ids)."""
    n = draw(st.integers(1, 14))
    rng = random.Random(draw(st.integers(0, 2**32)))
    tables = []
    for _ in range(draw(st.integers(1, 3))):
        t: list[list[int]] = [[] for _ in range(n)]
        for _ in range(rng.randint(0, 3 * n)):
            x = rng.randrange(n)
            t[x] += [rng.randrange(n)] * (2 if rng.random() < 0.1 else 1)
        tables.append(t)
    init = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
    cfail = frozenset(draw(st.sets(st.integers(0, n - 1), max_size=n // 2))) if draw(st.booleans()) else None
    edges = sorted({(x, y) for t in tables for x in range(n) for y in t[x]})
    forbid = frozenset(x for x in edges if rng.random() < 0.3) if draw(st.booleans()) else None
    k = draw(st.integers(1, n))
    classes = [rng.randrange(k) for _ in range(n)] if draw(st.booleans()) else None
    bad = frozenset(draw(st.sets(st.integers(0, n - 1), max_size=2))) if draw(st.booleans()) else None
    return n, tables, init, cfail, forbid, classes, bad


def build(n, tables, init, cfail, forbid, classes, bad):
    ns: dict = {"variables": lambda self: {"x": Int(0, n - 1)}, "init": lambda self: [{"x": i} for i in init]}

    def act(table):
        return lambda self, s: [(y,) for y in table[s[0]]]

    for k, t in enumerate(tables):
        ns[f"A{k}"] = action(act(t), name=f"A{k}")
    if cfail is not None:
        ns["Keep"] = constraint(lambda self, state: state.x not in cfail, name="Keep")
    if forbid is not None:
        ns["Allowed"] = action_constraint(lambda self, state, next_state: (state.x, next_state.x) not in forbid,
                                          name="Allowed")
    if classes is not None:
        ns["Cls"] = view(lambda self, state: classes[state.x], name="Cls")
    if bad is not None:
        ns["Good"] = invariant(lambda self, state: state.x not in bad, name="Good")
    return type("Random", (Model,), ns)()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems(), st.sampled_from(STORES), st.booleans())
def test_random_systems_agree_with_a_naive_tlc_search(drawn, store, deadlock):
    n, tables, init, cfail, forbid, classes, bad = drawn
    if classes is not None and store == "compact":
        store = "exact"
    system, r = run(build(*drawn), store, check_deadlock=deadlock)
    want = naive_tlc(system,
                     cons=(lambda s: s[0] not in cfail) if cfail is not None else None,
                     acons=(lambda s, t: (s[0], t[0]) not in forbid) if forbid is not None else None,
                     key=(lambda s: classes[s[0]]) if classes is not None else None,
                     bad=(lambda s: s[0] in bad) if bad is not None else None,
                     deadlock=deadlock)
    if want[3] is None:
        assert r.verdict is Verdict.HOLDS
        assert counts(r) == want[:3]
    else:
        assert r.verdict is Verdict.VIOLATED and len(r.path) == want[3]
        assert r.path[0] in system.initial
        for s, t in zip(r.path, r.path[1:]):
            assert t in [u for a in system.actions for u in a.successors(s)]
        # every step but the last is one the search follows (the last may lead outside: TLC checks it too)
        assert all(forbid is None or (s[0], t[0]) not in forbid for s, t in zip(r.path[:-1], r.path[1:-1]))
        assert all(cfail is None or s[0] not in cfail for s in r.path[:-1])
        if r.property == "Good":
            assert r.path[-1][0] in bad


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems())
def test_the_other_orders_keep_tlc_semantics(drawn):
    """Depth-first search explores the same states under constraints and action constraints (no view)."""
    drawn = (*drawn[:5], None, drawn[6])
    system, r = run(build(*drawn), "exact", check_deadlock=False, strategy="dfs")
    n, tables, init, cfail, forbid, _, bad = drawn
    want = naive_tlc(system, cons=(lambda s: s[0] not in cfail) if cfail is not None else None,
                     acons=(lambda s, t: (s[0], t[0]) not in forbid) if forbid is not None else None,
                     bad=(lambda s: s[0] in bad) if bad is not None else None)
    if want[3] is None:
        assert r.verdict is Verdict.HOLDS and r.stats.distinct == want[0]
    else:
        assert r.verdict is Verdict.VIOLATED and r.path[-1][0] in bad


def test_naive_search_reference_is_plain_bfs_without_options():
    system = from_model(UpOnly())
    seen, queue = {system.initial[0]}, deque(system.initial)
    while queue:
        for t in (t for a in system.actions for t in a.successors(queue.popleft())):
            if t not in seen:
                seen.add(t)
                queue.append(t)
    assert naive_tlc(system)[:3] == (len(seen), 4, 4)


def test_a_holds_under_a_view_says_it_is_about_the_states_the_view_keeps_apart():
    """A view is an abstraction: its "holds" must not read like a holds about every concrete state."""
    r = check(WalkViewed, out=None, check_deadlock=False)
    assert r.verdict is Verdict.HOLDS
    assert any("view Position keeps apart" in w for w in r.warnings)
    plain = check(Walk, out=None, check_deadlock=False)
    assert not any("view" in w for w in plain.warnings)
