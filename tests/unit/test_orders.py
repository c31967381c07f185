"""Search orders and long runs (checker/engine/search.py, orders.py, checkpoint.py) against a naive
breadth-first search written here over `system.initial` and each action's `successors`.

- parallel levels (`workers`): exactly one process's result (counts, verdict, property, path), on
  specs and random systems, violations, deadlocks, errors, the fingerprint store; no child left;
- depth-first search within a bound finds exactly the states within that many BFS levels;
- random walks and Hypothesis schedules: never `holds`, real paths, reproducible per seed;
- checkpoints: an interrupted run resumed reaches exactly the uninterrupted counts; mismatches refused.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import random
import re
import signal
import tempfile
import time
from collections import deque
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Int
from checker.engine import Monitor, SearchOptions, Verdict, search
from checker.engine.checkpoint import FILE, Checkpointer, CheckpointError, load_checkpoint
from checker.logic import compile_predicate
from checker.model import StateSchema
from checker.model.node import Protocol
from checker.semantics import Action, TransitionSystem, from_model
from checker.spec import SpecError, check
from checker.spec.load import load_spec
from checker.spec.run import prepare

engine_search = importlib.import_module("checker.engine.search")  # the module; checker.engine.search is the function
ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
SETTINGS = settings(max_examples=25, deadline=None)

# -- helpers: systems, a naive BFS, paths ------------------------------------------------------------


def table_system(n, tables, init, *, raise_at=None, interrupt=None):
    """States (x,) for x < n; action k leads from x to each of tables[k][x] (repeats and self-loops
    allowed). `raise_at`: action a0 raises ValueError there. `interrupt(x)`: called on each a0 call."""
    schema = StateSchema({"x": Int(0, max(n - 1, 1))})

    def make(k):
        def succ(s):
            if k == 0 and interrupt is not None:
                interrupt(s[0])
            if k == 0 and s[0] == raise_at:
                raise ValueError(f"boom at {s[0]}")
            return [(y,) for y in tables[k][s[0]]]

        return Action(f"a{k}", succ, lambda s: [((), t) for t in succ(s)])

    return TransitionSystem("tables", schema, [(x,) for x in init], [make(k) for k in range(len(tables))])


def good(system, bad):
    def Good(state):
        return state.x not in bad

    return [compile_predicate("Good", Good, system.schema)]


def successors(system, s):
    return [t for a in system.actions for t in a.successors(s)]


def naive_bfs(system, max_depth=None, constraints=()):
    """Shortest distances (initial states at 1), states generated, depth. Successors of states on
    the last level allowed are generated (counted) but not added, as TLC counts them."""
    dist: dict = {}
    queue: deque = deque()
    for s in system.initial:
        if s not in dist:
            dist[s] = 1
            queue.append(s)
    generated = len(system.initial)
    while queue:
        s = queue.popleft()
        if constraints and not all(c.check(s) for c in constraints):
            continue
        succ = successors(system, s)
        generated += len(succ)
        if max_depth is not None and dist[s] >= max_depth:
            continue
        for t in succ:
            if t not in dist:
                dist[t] = dist[s] + 1
                queue.append(t)
    return dist, generated, max(dist.values(), default=0)


def shortest_violation(system, invs, deadlock, constraints=(), terminals=()):
    """The level of the nearest state violating an invariant or (with `deadlock`) deadlocked."""
    seen = set(system.initial)
    level, depth = list(dict.fromkeys(system.initial)), 1
    while level:
        for s in level:
            if any(not p.check(s) for p in invs):
                return depth
        nxt = []
        for s in level:
            if constraints and not all(c.check(s) for c in constraints):
                continue
            succ = successors(system, s)
            if deadlock and not succ and not any(t.check(s) for t in terminals):
                return depth
            for t in succ:
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        level, depth = nxt, depth + 1
    return None


def assert_real_path(system, path):
    assert path, "no path"
    assert path[0] in system.initial
    for p, t in zip(path, path[1:]):
        assert t in successors(system, p), f"{t} is not a successor of {p}"


def assert_ends_in_violation(system, invs, prop, path):
    last = path[-1]
    if prop == "deadlock":
        assert not successors(system, last)
    else:
        assert not next(p for p in invs if p.name == prop).check(last)


def summary(r):
    s = r.stats
    return (r.verdict, r.property, r.path, r.reason, s.distinct, s.generated, s.depth, s.coverage)


def children() -> set[int]:
    """Live or zombie child processes of this process (from /proc/<pid>/stat's ppid)."""
    me, out = os.getpid(), set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == me:
            out.add(int(d))
    return out


@pytest.fixture
def no_leftover_children():
    before = children()
    yield
    assert children() <= before, "a forked worker outlived the search"


@st.composite
def systems(draw, max_n=12):
    n = draw(st.integers(1, max_n))
    node = st.integers(0, n - 1)
    tables = [[draw(st.lists(node, max_size=3)) for _ in range(n)] for _ in range(draw(st.integers(1, 3)))]
    init = draw(st.lists(node, min_size=1, max_size=3))
    return n, tables, init


def spec_system(path, params=None):
    """A spec's system, invariants, constraints, terminals and deadlock default, as `check` uses them."""
    spec = load_spec(path)
    system, invs = prepare(path, params)
    model = spec.instantiate()
    deadlock = spec.check_deadlock if spec.check_deadlock is not None else not isinstance(model, Protocol)
    cons = [compile_predicate(k, f, system.schema) for k, f in system.constraints.items()]
    terms = [compile_predicate(k, f, system.schema) for k, f in system.terminals.items()]
    return system, invs, dict(constraints=cons, terminals=terms), deadlock


def two_phase(rms, cls="TwoPhase"):
    import protocols.two_phase_commit_tla as m

    system = from_model(getattr(m, cls)(rms=rms))
    invs = [compile_predicate(k, f, system.schema) for k, f in system.invariants.items()]
    terms = [compile_predicate(k, f, system.schema) for k, f in system.terminals.items()]
    return system, invs, terms


# -- 1. parallel levels ------------------------------------------------------------------------------

PARALLEL_SPECS = [
    "two_phase_commit_tla.toml",
    "two_phase_commit_tla_early_commit.toml",
    "tcommit_tla_hasty.toml",
    "primary_backup_ack_early.toml",
    "heartbeat_partition.toml",
    "two_phase_commit_early_commit.toml",
    "two_phase_commit_ok.toml",
    "placement_positions.toml",
]


@pytest.mark.parametrize("name", PARALLEL_SPECS)
def test_parallel_levels_give_one_processs_result_on_specs(name, monkeypatch, no_leftover_children):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 8)
    system, invs, extra, deadlock = spec_system(SPECS / name)
    stores = ("exact", "fingerprint") if name in PARALLEL_SPECS[:4] else ("exact",)
    for store in stores:
        one = search(system, invs, SearchOptions(check_deadlock=deadlock, store=store), **extra)
        two = search(system, invs, SearchOptions(check_deadlock=deadlock, store=store, workers=2), **extra)
        assert summary(two) == summary(one)
        if one.verdict is Verdict.VIOLATED:
            assert_real_path(system, two.path)
            assert_ends_in_violation(system, invs, two.property, two.path)
            assert len(two.path) == shortest_violation(system, invs, deadlock, **extra)  # still the shortest
        else:
            assert one.verdict is Verdict.HOLDS and not system.constraints
            dist, generated, depth = naive_bfs(system)
            assert (two.stats.distinct, two.stats.generated, two.stats.depth) == (len(dist), generated, depth)


def test_parallel_levels_on_a_larger_model_with_three_workers(monkeypatch, no_leftover_children):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 64)
    system, invs, terms = two_phase(4)
    one = search(system, invs, terminals=terms)
    dist, generated, depth = naive_bfs(system)
    assert (one.verdict, one.stats.distinct, one.stats.generated, one.stats.depth) == (
        Verdict.HOLDS,
        len(dist),
        generated,
        depth,
    )
    for workers in (2, 3):
        assert summary(search(system, invs, SearchOptions(workers=workers), terminals=terms)) == summary(one)
    system, invs, terms = two_phase(4, "EarlyCommit")
    one = search(system, invs, terminals=terms)
    assert one.verdict is Verdict.VIOLATED
    assert summary(search(system, invs, SearchOptions(workers=3), terminals=terms)) == summary(one)


def fan(n=8, *, bad=(), dead=None, raise_at=None):
    """0 -> 1..n; i -> n+i; n+i -> itself (no deadlock) but for `dead`: two levels of n states each."""
    tables = [
        [list(range(1, n + 1))]
        + [[n + i] for i in range(1, n + 1)]
        + [[] if x == dead else [x] for x in range(n + 1, 2 * n + 1)]
    ]
    system = table_system(2 * n + 1, tables, [0], raise_at=raise_at)
    return system, good(system, set(bad))


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize(
    "case",
    [
        dict(bad={15}),
        dict(bad={15, 16, 11}),
        dict(dead=14),
        dict(raise_at=15),
        dict(raise_at=7),
        dict(bad={12}, raise_at=15),
        dict(dead=13, bad={14}),
    ],
)
def test_a_stop_in_a_childs_slice_is_the_one_process_would_meet(case, workers, monkeypatch, no_leftover_children):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 1)
    system, invs = fan(**case)
    one = search(system, invs)
    many = search(system, invs, SearchOptions(workers=workers))
    assert summary(many) == summary(one)
    assert many.verdict is (Verdict.ERROR if "raise_at" in case and "bad" not in case else Verdict.VIOLATED)
    if many.verdict is Verdict.ERROR:
        assert "raised ValueError: boom at" in many.reason and many.error
    fp = search(system, invs, SearchOptions(workers=workers, store="fingerprint"))
    assert summary(fp)[:2] == summary(one)[:2] and fp.stats.distinct == one.stats.distinct


@SETTINGS
@given(systems(), st.sets(st.integers(0, 11), max_size=2), st.integers(2, 3), st.sampled_from([1, 3]))
@pytest.mark.slow
def test_parallel_levels_on_random_systems_equal_one_process_and_the_naive_bfs(sys_, bad, workers, least):
    n, tables, init = sys_
    system = table_system(n, tables, init)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_search, "PARALLEL_MIN", least)
        before = children()
        for store in ("exact", "fingerprint"):
            r = search(system, [], SearchOptions(workers=workers, check_deadlock=False, store=store))
            dist, generated, depth = naive_bfs(system)
            assert (r.verdict, r.stats.distinct, r.stats.generated, r.stats.depth) == (
                Verdict.HOLDS,
                len(dist),
                generated,
                depth,
            )
            invs = good(system, bad)
            for deadlock in (False, True):
                opts = dict(check_deadlock=deadlock, store=store)
                assert summary(search(system, invs, SearchOptions(workers=workers, **opts))) == summary(
                    search(system, invs, SearchOptions(**opts))
                )
        assert children() <= before


@settings(max_examples=15, deadline=None)
@given(systems(), st.integers(0, 11), st.integers(2, 3))
def test_an_action_raising_in_a_worker_gives_the_same_error(sys_, raise_at, workers):
    n, tables, init = sys_
    system = table_system(n, tables, init, raise_at=raise_at)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_search, "PARALLEL_MIN", 1)
        one = search(system, [], SearchOptions(check_deadlock=False))
        assert summary(search(system, [], SearchOptions(workers=workers, check_deadlock=False))) == summary(one)
    dist = naive_bfs(table_system(n, tables, init))[0]
    assert one.verdict is (Verdict.ERROR if (raise_at,) in dist else Verdict.HOLDS)


def test_ctrl_c_during_a_parallel_level_leaves_no_child_and_no_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 1)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    main = os.getpid()

    def interrupt(x):
        if os.getpid() != main and x == 6:
            time.sleep(3)  # the child is still working when the parent is interrupted
        if os.getpid() == main and x == 2:  # in the parent's own slice of level 2 ([1..4] of [1..8])
            os.kill(main, signal.SIGINT)  # a real Ctrl-C, twice: stop at once (raising it would be the model's)
            os.kill(main, signal.SIGINT)

    n = 8
    tables = [[list(range(1, n + 1))] + [[n + i] for i in range(1, n + 1)] + [[x] for x in range(n + 1, 2 * n + 1)]]
    system = table_system(2 * n + 1, tables, [0], interrupt=interrupt)
    before = children()
    start = time.perf_counter()
    r = search(system, [], SearchOptions(workers=2))
    assert time.perf_counter() - start < 2.5  # the sleeping child was killed, not waited for
    assert (r.verdict, r.reason) == (Verdict.UNDETERMINED, "interrupted (Ctrl-C)")
    assert children() <= before
    assert list(tmp_path.iterdir()) == []


# -- 2. depth-first search ---------------------------------------------------------------------------


def test_dfs_re_expands_a_state_first_reached_deep_then_shallowly():
    # 0 -> [1, 2]; depth first goes 1, 3, 4, 5 (5 at level 5) before 2 -> 5 (level 3) -> 6 -> 7
    nxt = {0: [1, 2], 1: [3], 3: [4], 4: [5], 2: [5], 5: [6], 6: [7], 7: [8], 8: []}
    system = table_system(9, [[nxt[x] for x in range(9)]], [0])
    for bound in range(1, 8):
        dist = naive_bfs(system, bound)[0]
        r = search(system, [], SearchOptions(strategy="dfs", max_depth=bound, check_deadlock=False))
        assert r.stats.distinct == len(dist)
        if bound < 6:  # state 8 lies at level 6: the bound hides it
            assert r.verdict is Verdict.UNDETERMINED and "max_depth" in r.reason
        assert r.verdict is not Verdict.VIOLATED
        for target in range(9):
            found = search(
                system, good(system, {target}), SearchOptions(strategy="dfs", max_depth=bound, check_deadlock=False)
            )
            assert (found.verdict is Verdict.VIOLATED) == ((target,) in dist)
            if found.verdict is Verdict.VIOLATED:
                assert_real_path(system, found.path)
                assert found.path[-1] == (target,) and len(found.path) <= bound


@settings(max_examples=40, deadline=None)
@given(systems(), st.integers(1, 6))
def test_dfs_within_a_bound_finds_exactly_the_states_bfs_finds_within_it(sys_, bound):
    n, tables, init = sys_
    system = table_system(n, tables, init)
    dist = naive_bfs(system, bound)[0]
    dfs = search(system, [], SearchOptions(strategy="dfs", max_depth=bound, check_deadlock=False))
    bfs = search(system, [], SearchOptions(max_depth=bound, check_deadlock=False))
    assert dfs.stats.distinct == bfs.stats.distinct == len(dist)
    assert dfs.verdict is not Verdict.VIOLATED
    if dfs.verdict is Verdict.HOLDS:  # never a pass the breadth-first search would not give
        assert bfs.verdict is Verdict.HOLDS
    if bfs.verdict is Verdict.UNDETERMINED:
        assert dfs.verdict is Verdict.UNDETERMINED and "max_depth" in dfs.reason
    # membership, state by state: a violation of "x != target" is found iff target is within the bound
    for target in range(n):
        r = search(system, good(system, {target}), SearchOptions(strategy="dfs", max_depth=bound, check_deadlock=False))
        assert (r.verdict is Verdict.VIOLATED) == ((target,) in dist)
        if r.verdict is Verdict.VIOLATED:
            assert_real_path(system, r.path)
            assert r.path[-1] == (target,) and len(r.path) <= bound and r.property == "Good"


@settings(max_examples=40, deadline=None)
@given(systems(), st.sets(st.integers(0, 11), max_size=2), st.booleans())
def test_dfs_without_a_bound_agrees_with_bfs(sys_, bad, deadlock):
    n, tables, init = sys_
    system = table_system(n, tables, init)
    invs = good(system, bad)
    dfs = search(system, invs, SearchOptions(strategy="dfs", check_deadlock=deadlock))
    bfs = search(system, invs, SearchOptions(check_deadlock=deadlock))
    assert dfs.verdict is bfs.verdict
    if bfs.verdict is Verdict.HOLDS:
        assert dfs.stats.distinct == bfs.stats.distinct == len(naive_bfs(system)[0])
    else:
        assert_real_path(system, dfs.path)
        assert_ends_in_violation(system, invs, dfs.property, dfs.path)
        if not deadlock:
            assert dfs.property == bfs.property == "Good"


def test_dfs_finds_a_deadlock_at_the_bound():
    system = table_system(2, [[[1], []]], [0])  # 0 -> 1, and 1 has no successor
    bfs = search(system, [], SearchOptions(max_depth=2))
    assert (bfs.verdict, bfs.property) == (Verdict.VIOLATED, "deadlock")
    dfs = search(system, [], SearchOptions(strategy="dfs", max_depth=2))
    assert dfs.verdict is not Verdict.HOLDS  # unsound: a reachable deadlock within the bound
    assert (dfs.verdict, dfs.property, dfs.path) == (Verdict.VIOLATED, "deadlock", ((0,), (1,)))


def test_dfs_whose_bound_hid_nothing_holds():
    # 0 -> [1, 2]; 1 -> 3; 3 -> 4; 2 -> 4: with bound 3, 3 is at the bound and 4 is found via 2 later
    system = table_system(5, [[[1, 2], [3], [4], [4], []]], [0])
    bfs = search(system, [], SearchOptions(max_depth=3, check_deadlock=False))
    assert bfs.verdict is Verdict.HOLDS and bfs.stats.distinct == 5
    dfs = search(system, [], SearchOptions(strategy="dfs", max_depth=3, check_deadlock=False))
    assert dfs.stats.distinct == 5
    assert dfs.verdict is Verdict.HOLDS


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in sorted(SPECS.glob("*.toml"))
                                  if load_spec(p).kind == "search"])
def test_dfs_verdicts_agree_with_bfs_on_every_spec(path):
    system, invs, extra, deadlock = spec_system(path)
    whole = search(system, [], SearchOptions(check_deadlock=False, max_states=4000), **extra)
    bound = None if whole.verdict is Verdict.HOLDS else 5  # a large space: both orders within 5 levels
    bfs = search(system, invs, SearchOptions(check_deadlock=deadlock, max_depth=bound), **extra)
    dfs = search(system, invs, SearchOptions(check_deadlock=deadlock, strategy="dfs", max_depth=bound), **extra)
    assert dfs.verdict is bfs.verdict
    if bound is not None:
        assert dfs.property == bfs.property
        if dfs.path is not None:
            assert_real_path(system, dfs.path)
            assert len(dfs.path) <= bound
    elif bfs.verdict is Verdict.HOLDS:
        assert dfs.stats.distinct == bfs.stats.distinct == whole.stats.distinct
    else:
        assert dfs.property == bfs.property
        assert_real_path(system, dfs.path)
        assert_ends_in_violation(system, invs, dfs.property, dfs.path)
        assert len(dfs.path) >= len(bfs.path)  # breadth first's is the shortest


# -- 3. random walks and Hypothesis schedules --------------------------------------------------------


@pytest.mark.parametrize("strategy", ["random", "hypothesis"])
def test_random_orders_never_say_holds(strategy):
    # a chain 0 -> 1 -> 2 -> 2 that one walk covers entirely: still not a proof
    system = table_system(3, [[[1], [2], [2]]], [0])
    r = search(system, good(system, set()), SearchOptions(strategy=strategy, walks=5, max_depth=10))
    assert r.verdict is Verdict.UNDETERMINED and r.path is None
    assert "not exhaustive" in r.reason and "3 distinct states seen" in r.reason and r.stats.distinct == 3
    system, invs, extra, deadlock = spec_system(SPECS / "tcommit_tla.toml")
    r = search(system, invs, SearchOptions(strategy=strategy, walks=10, check_deadlock=deadlock), **extra)
    assert r.verdict is Verdict.UNDETERMINED and r.path is None


@settings(max_examples=40, deadline=None)
@given(systems(), st.sets(st.integers(0, 11), max_size=2), st.integers(0, 5), st.booleans())
def test_random_walks_on_random_systems(sys_, bad, seed, deadlock):
    check_random_order(table_system(*sys_), bad, "random", seed, deadlock)


def test_hypothesis_schedules_on_random_systems():
    # Hypothesis's own search cannot run inside a @given test (it refuses nesting): systems drawn here
    rng = random.Random(2024)
    for i in range(12):
        n = rng.randint(1, 10)
        tables = [
            [[rng.randrange(n) for _ in range(rng.randint(0, 3))] for _ in range(n)] for _ in range(rng.randint(1, 2))
        ]
        init = [rng.randrange(n) for _ in range(rng.randint(1, 2))]
        bad = {rng.randrange(12) for _ in range(rng.randint(0, 2))}
        check_random_order(table_system(n, tables, init), bad, "hypothesis", i % 3, i % 2 == 0)


def check_random_order(system, bad, strategy, seed, deadlock):
    invs = good(system, bad)
    r = search(system, invs, SearchOptions(strategy=strategy, walks=5, seed=seed, max_depth=8, check_deadlock=deadlock))
    assert r.verdict in (Verdict.UNDETERMINED, Verdict.VIOLATED)
    reachable = naive_bfs(system)[0]
    assert 1 <= r.stats.distinct <= len(reachable)
    if all(s[0] in bad for s in system.initial):  # every walk starts in a violation
        assert r.verdict is Verdict.VIOLATED and len(r.path) == 1
    if r.verdict is Verdict.VIOLATED:
        assert_real_path(system, r.path)
        assert_ends_in_violation(system, invs, r.property, r.path)
        assert all(p.check(s) for s in r.path[:-1] for p in invs)  # the first violation met ends the walk
    else:
        assert r.path is None
        if strategy == "random":
            assert f"random walks of up to 8 steps found no violation (seed {seed})" in r.reason


@pytest.mark.parametrize(
    "name, strategy, walks, seed",
    [
        ("two_phase_commit_tla_early_commit.toml", "random", 10, 3),
        ("two_phase_commit_tla_early_commit.toml", "hypothesis", 10, 1),
        ("primary_backup_ack_early.toml", "random", 60, 2),
    ],
)
def test_random_orders_find_known_violations_reproducibly(name, strategy, walks, seed):
    system, invs, extra, deadlock = spec_system(SPECS / name)
    spec = load_spec(SPECS / name)
    opts = SearchOptions(strategy=strategy, walks=walks, seed=seed, check_deadlock=deadlock)
    r = search(system, invs, opts, **extra)
    assert (r.verdict, r.property) == (Verdict.VIOLATED, spec.violates)
    assert_real_path(system, r.path)
    assert_ends_in_violation(system, invs, r.property, r.path)
    assert len(r.path) >= shortest_violation(system, invs, deadlock, **extra)
    again = search(system, invs, opts, **extra)
    assert (again.path, again.stats.distinct, again.reason) == (r.path, r.stats.distinct, r.reason)
    # the coverage summary: the step kinds taken and the distinct count
    assert f"{r.stats.distinct:,} distinct states seen" in r.reason
    kinds = {a.kind if a.kind != "action" else a.name for a in system.actions}
    taken = re.search(r"steps taken: (.*); not exhaustive", r.reason).group(1)
    named = dict((k, int(v.replace(",", ""))) for k, v in (x.rsplit(" ", 1) for x in taken.split(", ")))
    assert named and set(named) <= kinds
    assert sum(named.values()) >= len(r.path) - 1


def test_a_seed_makes_random_walks_reproducible_and_another_seed_differs():
    system, invs, extra, deadlock = spec_system(SPECS / "two_phase_commit_tla_early_commit.toml")

    def run(seed, strategy="random"):
        r = search(
            system, invs, SearchOptions(strategy=strategy, walks=10, seed=seed, check_deadlock=deadlock), **extra
        )
        return r.verdict, r.path, r.stats.distinct, r.reason

    results = [run(seed) for seed in range(5)]
    assert results == [run(seed) for seed in range(5)]
    assert len(set(results)) > 1


def test_one_walk_summary_counts_its_steps_by_action():
    system = table_system(5, [[[1], [2], [3], [4], [4]]], [0])
    r = search(system, good(system, {3}), SearchOptions(strategy="random", walks=1, seed=7))
    assert r.path == ((0,), (1,), (2,), (3,))
    assert r.reason.startswith("walk 1 of 1; 4 distinct states seen; steps taken: a0 3; not exhaustive")
    assert (r.stats.distinct, r.stats.depth) == (4, 4)


def test_other_orders_refuse_workers_and_checkpoints(tmp_path):
    for strategy in ("dfs", "random", "hypothesis"):
        for extra in (dict(workers=2), dict(checkpoint_dir=str(tmp_path)), dict(resume=str(tmp_path))):
            with pytest.raises(ValueError):
                SearchOptions(strategy=strategy, **extra)
    with pytest.raises(SpecError) as e:
        check(SPECS / "two_phase_commit_tla.toml", strategy="dfs", workers=2, out=None, lint=False)
    assert "\n" not in str(e.value)


# -- 4. checkpoints and resume -----------------------------------------------------------------------


class StopAfter(Monitor):
    """Ctrl-C on the k-th tick of the search."""

    def __init__(self, k: int):
        super().__init__()
        self.k, self.ticks = k, 0

    def tick(self, distinct, generated, depth):
        self.ticks += 1
        if self.ticks >= self.k:
            raise KeyboardInterrupt
        return None


def counts(r):
    return r.verdict, r.property, r.path, r.stats.distinct, r.stats.generated, r.stats.depth, r.stats.coverage


def interrupted(system, invs, where, k, terms=(), **opts):
    r = search(
        system,
        invs,
        SearchOptions(checkpoint_dir=str(where), checkpoint_every=1e-9, **opts),
        terminals=terms,
        monitor=StopAfter(k),
    )
    assert r.verdict is Verdict.UNDETERMINED and r.reason.startswith("interrupted (Ctrl-C)")
    assert f"checkpoint written to {where}" in r.reason
    assert sorted(p.name for p in Path(where).iterdir()) == [FILE]  # no temporary file left
    return r


@pytest.fixture(scope="module")
def twophase5():
    system, invs, terms = two_phase(5)
    return system, invs, terms, search(system, invs, terminals=terms)


@pytest.mark.parametrize("k", [1, 6, 10, 14])
def test_resume_reaches_the_uninterrupted_counts(k, twophase5, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_search, "TICK_EVERY", 512)  # ticks inside levels too, not only between them
    system, invs, terms, whole = twophase5
    assert (whole.stats.distinct, whole.stats.depth) == (8832, 17)  # TLC's count
    part = interrupted(system, invs, tmp_path, k, terms)
    assert part.stats.distinct < whole.stats.distinct
    data = load_checkpoint(tmp_path, system, invs, SearchOptions())
    assert len(data["seen"]) == part.stats.distinct
    assert (data["at"] > 0) == (k > 1)  # these ticks fall inside a level (of 652, 962, 1,425 states)
    resumed = search(system, invs, SearchOptions(resume=str(tmp_path)), terminals=terms)
    assert counts(resumed) == counts(whole)


def test_resume_twice_and_with_workers(twophase5, tmp_path, monkeypatch, no_leftover_children):
    monkeypatch.setattr(engine_search, "TICK_EVERY", 300)
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 16)
    system, invs, terms, whole = twophase5
    interrupted(system, invs, tmp_path, 5, terms)
    # resumed, checkpointing into the same folder, and interrupted again further on
    second = interrupted(system, invs, tmp_path, 6, terms, resume=str(tmp_path))
    assert second.stats.distinct > 0
    resumed = search(system, invs, SearchOptions(resume=str(tmp_path), workers=2), terminals=terms)
    assert counts(resumed) == counts(whole)


def test_resume_finds_the_same_counterexample(tmp_path):
    system, invs, terms = two_phase(5, "EarlyCommit")
    whole = search(system, invs, terminals=terms)
    assert whole.verdict is Verdict.VIOLATED
    interrupted(system, invs, tmp_path, 3, terms)
    assert counts(search(system, invs, SearchOptions(resume=str(tmp_path)), terminals=terms)) == counts(whole)


def test_resume_with_the_fingerprint_store(twophase5, tmp_path):
    system, invs, terms, whole = twophase5
    interrupted(system, invs, tmp_path, 6, terms, store="fingerprint")
    with pytest.raises(CheckpointError, match="store"):
        search(system, invs, SearchOptions(resume=str(tmp_path)), terminals=terms)
    r = search(system, invs, SearchOptions(resume=str(tmp_path), store="fingerprint"), terminals=terms)
    assert counts(r) == counts(whole)


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 40))
def test_resume_from_any_tick(k):
    system, invs, terms = two_phase(4)
    whole = search(system, invs, terminals=terms)
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_search, "TICK_EVERY", 64)
        r = search(
            system, invs, SearchOptions(checkpoint_dir=d, checkpoint_every=1e-9), terminals=terms, monitor=StopAfter(k)
        )
        if r.verdict is Verdict.HOLDS:  # ran out of ticks before the k-th
            return
        resumed = search(system, invs, SearchOptions(resume=d), terminals=terms)
        assert counts(resumed) == counts(whole)


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 6000))
def test_resume_after_ctrl_c_in_the_middle_of_expanding_a_state(calls):
    """A real Ctrl-C lands anywhere, not only at a tick: here inside an action, after some calls."""
    system, invs, terms = two_phase(4)
    whole = search(system, invs, terminals=terms)
    left = [calls]

    def wrap(a):
        def succ(s):
            left[0] -= 1
            if left[0] == 0:
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, twice: stop at once
                os.kill(os.getpid(), signal.SIGINT)
            return a.successors(s)

        return dataclasses.replace(a, successors=succ)

    flaky = dataclasses.replace(system, actions=[wrap(a) for a in system.actions])
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine_search, "TICK_EVERY", 64)
        r = search(flaky, invs, SearchOptions(checkpoint_dir=d, checkpoint_every=1e-9), terminals=terms)
        if r.verdict is Verdict.HOLDS:
            return
        assert r.reason.startswith("interrupted")
        resumed = search(system, invs, SearchOptions(resume=d), terminals=terms)
        assert counts(resumed) == counts(whole)


def test_resume_with_max_seconds_and_periodic_checkpoints(twophase5, tmp_path, monkeypatch):
    """A run stopped by its time bound leaves the last periodic checkpoint; resuming completes it."""
    monkeypatch.setattr(engine_search, "TICK_EVERY", 256)
    system, invs, terms, whole = twophase5

    class Slow(Monitor):
        def tick(self, distinct, generated, depth):
            return "max_seconds 1 reached" if distinct > 3000 else None

    r = search(
        system,
        invs,
        SearchOptions(checkpoint_dir=str(tmp_path), checkpoint_every=1e-9),
        terminals=terms,
        monitor=Slow(),
    )
    assert r.verdict is Verdict.UNDETERMINED and (tmp_path / FILE).is_file()
    assert counts(search(system, invs, SearchOptions(resume=str(tmp_path)), terminals=terms)) == counts(whole)


def test_a_checkpoint_for_other_params_or_invariants_is_refused(tmp_path):
    system, invs, terms = two_phase(4)
    interrupted(system, invs, tmp_path, 3, terms)
    other, other_invs, other_terms = two_phase(3)
    for sys_, inv, what in (
        (other, other_invs, "params"),
        (system, invs[:2], "invariants"),
        (two_phase(4, "EarlyCommit")[0], invs, "system"),
    ):
        with pytest.raises(CheckpointError) as e:
            search(sys_, inv, SearchOptions(resume=str(tmp_path)), terminals=terms)
        assert what in str(e.value) and "\n" not in str(e.value) and str(tmp_path) in str(e.value)
    with pytest.raises(CheckpointError) as e:
        search(system, invs, SearchOptions(resume=str(tmp_path / "nowhere")), terminals=terms)
    assert "no checkpoint" in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as e:
        search(system, invs, SearchOptions(resume=str(tmp_path / "junk")), terminals=terms)
    assert "\n" not in str(e.value)


def test_resume_a_protocol_spec_through_check(tmp_path):
    spec = SPECS / "two_phase_commit_ok.toml"
    whole = check(spec, out=None, lint=False)
    assert whole.verdict is Verdict.HOLDS
    part = check(spec, out=None, lint=False, checkpoint_dir=tmp_path, checkpoint_every=1e-9, monitor=StopAfter(4))
    assert (part.verdict, part.exit_code) == (Verdict.UNDETERMINED, 3)
    assert part.stats.distinct < whole.stats.distinct
    r = check(spec, out=None, lint=False, resume=tmp_path)
    assert (r.verdict, r.exit_code) == (Verdict.HOLDS, 0)
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (
        whole.stats.distinct,
        whole.stats.generated,
        whole.stats.depth,
    )
    system, invs, extra, _ = spec_system(spec)
    dist, generated, depth = naive_bfs(system, constraints=extra["constraints"])
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (len(dist), generated, depth)
    with pytest.raises(SpecError) as e:
        check(spec, out=None, lint=False, resume=tmp_path, params={"rms": 2})
    assert "params" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SpecError) as e:
        check(spec, out=None, lint=False, resume=tmp_path / "missing")
    assert "\n" not in str(e.value)


def test_a_checkpoint_is_replaced_atomically(tmp_path, monkeypatch):
    system, invs, terms = two_phase(3)
    saver = Checkpointer(SearchOptions(checkpoint_dir=str(tmp_path)), system, invs)
    first = saver.save(
        {s: None for s in system.initial},
        list(system.initial),
        [],
        0,
        1,
        [0] * len(system.actions),
        len(system.initial),
    )
    assert first == tmp_path / FILE
    before = first.read_bytes()

    import checker.engine.checkpoint as cp

    def broken(f, header, arrays):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # killed while writing

    monkeypatch.setattr(cp, "_write", broken)
    with pytest.raises(KeyboardInterrupt):
        saver.save({}, [], [], 0, 1, [0] * len(system.actions), 0)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]  # the temporary file is gone
    assert first.read_bytes() == before
    data = load_checkpoint(tmp_path, system, invs, SearchOptions())
    assert (data["level"], data["depth"]) == (list(system.initial), 1)
    # a resumed run from that hand-written checkpoint (level 1, nothing expanded) is a whole run
    whole = search(system, invs, terminals=terms)
    assert counts(search(system, invs, SearchOptions(resume=str(tmp_path)), terminals=terms)) == counts(whole)
