"""The search (checker/engine) against a naive breadth-first search written here, independently,
on random small transition systems; bounds, deadlock, errors, fingerprints."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Int, Model, NodeId, action, constraint, invariant, terminal
from checker.engine import Monitor, SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.semantics import from_model

# -- random systems --------------------------------------------------------------------------------


@st.composite
def graphs(draw):
    """n states; actions as successor tables (lists may repeat and self-loop); initial states; a bad set."""
    n = draw(st.integers(1, 25))
    node = st.integers(0, n - 1)
    n_actions = draw(st.integers(1, 3))
    tables = [[draw(st.lists(node, max_size=3)) for _ in range(n)] for _ in range(n_actions)]
    # one parameterised action: successor (x + p) % n for p in a chosen subset of {1, 2}
    offsets = draw(st.lists(st.sampled_from([1, 2]), max_size=2, unique=True))
    enabled_at = draw(st.sets(node))
    init = draw(st.lists(node, min_size=1, max_size=3))
    bad = draw(st.sets(node, max_size=3))
    return n, tables, offsets, enabled_at, init, bad


def make_model(n, tables, offsets, enabled_at, init, bad):
    P = NodeId("p", 2)

    class Random(Model):
        def variables(self):
            self.P = P
            return {"x": Int(0, n - 1)}

        def init(self):
            return [{"x": i} for i in init]

        @invariant
        def Good(self, state):
            return state.x not in bad

    def make_action(k):
        def act(self, s):
            return [(y,) for y in tables[k][s[0]]]

        act.__name__ = f"A{k}"
        return action(act)

    for k in range(len(tables)):
        setattr(Random, f"A{k}", make_action(k))

    def step(self, s, ps):
        if s[0] not in enabled_at:
            return ()
        return [((s[0] + [1, 2][p]) % n,) for p in ps if [1, 2][p] in offsets]

    Random.Step = action(over="P")(step)
    Random.__init_subclass__()  # re-gather the actions just attached
    return Random()


def naive(n, tables, offsets, enabled_at, init, bad):
    """Plain BFS over the explicit tables: levels, generated count, distance to the nearest bad state."""

    def succ(x):
        out = [y for t in tables for y in t[x]]
        if x in enabled_at:
            out += [(x + d) % n for d in (1, 2) if d in offsets]
        return out

    dist = {}
    q = deque()
    for x in init:
        if x not in dist:
            dist[x] = 1
            q.append(x)
    generated = len(init)
    while q:
        x = q.popleft()
        ys = succ(x)
        generated += len(ys)
        for y in ys:
            if y not in dist:
                dist[y] = dist[x] + 1
                q.append(y)
    bad_levels = [dist[b] for b in bad if b in dist]
    return {
        "reachable": set(dist),
        "generated": generated,
        "depth": max(dist.values()),
        "shortest_bad": min(bad_levels) - 1 if bad_levels else None,
        "deadlocks": {x for x in dist if not succ(x)},
        "succ": succ,
        "levels": dist,
    }


def run(model, **opts):
    system = from_model(model)
    invs = [compile_predicate(k, f, system.schema) for k, f in system.invariants.items()]
    return system, search(system, invs, SearchOptions(check_deadlock=False, **opts))


@settings(max_examples=150, deadline=None)
@given(graphs(), st.sampled_from(["exact", "fingerprint"]))
def test_the_engine_agrees_with_a_naive_search(g, store):
    ref = naive(*g)
    model = make_model(*g)
    system, r = run(model, store=store)
    if ref["shortest_bad"] is None:
        assert r.verdict is Verdict.HOLDS
        assert r.stats.distinct == len(ref["reachable"])
        assert r.stats.generated == ref["generated"]
        assert r.stats.depth == ref["depth"]
        assert sum(r.stats.coverage.values()) == ref["generated"] - len(g[4])
    else:
        assert r.verdict is Verdict.VIOLATED and r.property == "Good"
        path = [s[0] for s in r.path]
        assert len(path) - 1 == ref["shortest_bad"]
        assert path[0] in g[4] and path[-1] in g[5]
        for a, b in zip(path, path[1:]):
            assert b in ref["succ"](a)
    if store == "fingerprint":
        assert r.stats.collision_probability is not None and r.stats.collision_probability >= 0


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_the_exact_reachable_set_equals_the_naive_one(g):
    n, tables, offsets, enabled_at, init, bad = g
    ref = naive(n, tables, offsets, enabled_at, init, set())
    model = make_model(n, tables, offsets, enabled_at, init, set())
    system = from_model(model)
    seen = []

    def record(state):
        seen.append(state.x)
        return True

    r = search(system, [compile_predicate("record", record, system.schema)], SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.HOLDS
    assert set(seen) == ref["reachable"]


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_deadlock_is_the_shortest_state_without_successors(g):
    n, tables, offsets, enabled_at, init, _ = g
    ref = naive(n, tables, offsets, enabled_at, init, set())
    system = from_model(make_model(n, tables, offsets, enabled_at, init, set()))
    r = search(system, [], SearchOptions(check_deadlock=True))
    if not ref["deadlocks"]:
        assert r.verdict is Verdict.HOLDS
    else:
        assert r.verdict is Verdict.VIOLATED and r.property == "deadlock"
        assert r.path[-1][0] in ref["deadlocks"]
        assert len(r.path) == min(ref["levels"][d] for d in ref["deadlocks"])


@settings(max_examples=100, deadline=None)
@given(graphs(), st.integers(1, 6))
def test_a_depth_bound_is_never_a_pass_when_it_hides_states(g, bound):
    n, tables, offsets, enabled_at, init, _ = g
    ref = naive(n, tables, offsets, enabled_at, init, set())
    system = from_model(make_model(n, tables, offsets, enabled_at, init, set()))
    r = search(system, [], SearchOptions(check_deadlock=False, max_depth=bound))
    if ref["depth"] > bound:
        assert r.verdict is Verdict.UNDETERMINED and "max_depth" in r.reason
    else:
        assert r.verdict is Verdict.HOLDS and r.stats.distinct == len(ref["reachable"])


# -- hand-built models -------------------------------------------------------------------------------


class Counter(Model):
    def variables(self):
        return {"n": Int(0, 20)}

    def init(self):
        return {"n": 0}

    @action
    def Inc(self, s):
        return [(s[0] + 1,)] if s[0] < 20 else ()

    @terminal
    def Done(self, state):
        return state.n == 20


def test_a_terminal_state_is_not_a_deadlock_and_a_state_bound_is_undetermined():
    system = from_model(Counter())
    terms = [compile_predicate("Done", Counter().Done, system.schema)]
    assert search(system, [], SearchOptions(), terminals=terms).verdict is Verdict.HOLDS
    assert search(system, [], SearchOptions()).property == "deadlock"
    r = search(system, [], SearchOptions(max_states=5), terminals=terms)
    # the bound is checked every level: never a pass
    assert r.verdict is Verdict.UNDETERMINED and "max_states" in r.reason


class Bounded(Counter):
    @constraint
    def Small(self, state):
        return state.n < 5

    @invariant
    def SeenOnce(self, state):
        return state.n <= 5


def test_states_failing_a_constraint_are_generated_and_checked_but_not_stored():
    m = Bounded()
    system = from_model(m)
    cons = [compile_predicate("Small", m.Small, system.schema)]
    invs = [compile_predicate("SeenOnce", m.SeenOnce, system.schema)]
    r = search(system, invs, SearchOptions(check_deadlock=False), constraints=cons)
    assert r.verdict is Verdict.HOLDS
    # TLC's CONSTRAINT: 0..4 are stored (levels 1..5); 5 is generated (1 initial + 5 steps) and checked, not stored
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (5, 6, 5)


class Raises(Counter):
    @action
    def Boom(self, s):
        if s[0] == 2:
            raise ZeroDivisionError("boom")
        return ()


def test_an_exception_in_model_code_is_an_error_with_the_path_that_reached_it():
    r = search(from_model(Raises()), [], SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.ERROR
    assert "Boom" in r.reason and "ZeroDivisionError" in r.reason
    assert [s[0] for s in r.path] == [0, 1, 2]
    assert "boom" in r.error


class Overflow(Counter):
    @action
    def Jump(self, s):
        return [(s[0] + 30,)] if s[0] == 1 else ()


def test_a_value_outside_its_type_is_an_error_naming_action_and_variable():
    r = search(from_model(Overflow()), [], SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.ERROR
    assert "Jump" in r.reason and "'n'" in r.reason and "31" in r.reason


class Stopper(Monitor):
    def tick(self, distinct, generated, depth):
        raise KeyboardInterrupt


class Slow(Model):
    def variables(self):
        return {"n": Int(0, 9999)}

    def init(self):
        return {"n": 0}

    @action
    def Inc(self, s):
        return [((s[0] + 1) % 10000,)]


def test_ctrl_c_gives_undetermined_with_what_was_explored():
    r = search(from_model(Slow()), [], SearchOptions(), monitor=Stopper())
    assert r.verdict is Verdict.UNDETERMINED and "interrupted" in r.reason
    assert r.stats.distinct >= 1


def test_a_time_bound_gives_undetermined():
    class Clock(Monitor):
        def tick(self, distinct, generated, depth):
            return "max_seconds 0.001 reached"

    r = search(from_model(Slow()), [], SearchOptions(), monitor=Clock())
    assert r.verdict is Verdict.UNDETERMINED and "max_seconds" in r.reason


@pytest.mark.parametrize("bad", [0, -5, 1.5, "3", True])
def test_options_are_validated(bad):
    with pytest.raises(ValueError):
        SearchOptions(max_states=bad)


def test_among_equally_short_counterexamples_the_one_with_fewest_faults_wins():
    from checker.model import StateSchema
    from checker.semantics import Action, TransitionSystem

    schema = StateSchema({"x": Int(0, 3)})

    def step(t):
        return lambda s: [(t,)] if s == (0,) else ()

    def labelled(t):
        return lambda s: [((), u) for u in step(t)(s)]

    def run(kinds):
        actions = [Action(f"a{i}", step(t), labelled(t), kind=k) for i, (t, k) in enumerate(kinds)]
        system = TransitionSystem("t", schema, [(0,)], actions, {"Zero": lambda st: st.x == 0})
        invs = [compile_predicate("Zero", system.invariants["Zero"], schema)]
        return search(system, invs, SearchOptions(check_deadlock=False))

    # breadth-first order meets the crash first; the plain step of the same length is preferred
    assert run([(1, "crash"), (2, "action")]).path == ((0,), (2,))
    # with no fault among them, the first in breadth-first order stays (deterministic: no churn)
    assert run([(1, "action"), (2, "action")]).path == ((0,), (1,))
    assert run([(1, "crash"), (2, "drop")]).path == ((0,), (1,))
