"""The sharded search (checker/engine/shard.py, distribute.py): the visited set split by fingerprint among
shards in forked processes, levels driven by a coordinator, as Ray runs it on a cluster.

What must hold, against one process and the naive breadth-first search of test_orders.py:
- counts, depth, verdict, property, counterexample (the path itself) and coverage equal one process's,
  on random systems (Hypothesis), on specs, with violations, deadlocks, errors in model code, TLC's
  constraints, max_depth and max_states bounds, the fingerprint store, 2 and 3 shards;
- a shard whose process is killed mid-run: the shards start again from where the search spread out
  and the run completes with the same counts (never a wrong verdict); no process is left behind.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.engine import SearchOptions, Verdict, search
from checker.engine.shard import Shard, stable_hash
from checker.spec.load import load_spec
from tests.unit.test_orders import (
    assert_ends_in_violation,
    assert_real_path,
    children,
    fan,
    good,
    naive_bfs,
    shortest_violation,
    spec_system,
    summary,
    systems,
    table_system,
    two_phase,
)

SPECS = Path(__file__).resolve().parents[2] / "specs"


def sharded(workers: int = 2, **kw) -> SearchOptions:
    return SearchOptions(workers=workers, sharded=True, parallel_min=1, **kw)


@pytest.fixture
def no_leftover_children():
    before = children()
    yield
    assert children() <= before, "a shard process outlived the search"


@settings(max_examples=30, deadline=None)
@given(systems(), st.sets(st.integers(0, 11), max_size=2), st.integers(2, 3), st.booleans(),
       st.sampled_from(["exact", "fingerprint"]))
def test_sharded_search_on_random_systems_is_one_process_and_the_naive_bfs(sys_, bad, workers, deadlock, store):
    n, tables, init = sys_
    system = table_system(n, tables, init)
    r = search(system, [], sharded(workers, check_deadlock=False, store=store))
    dist, generated, depth = naive_bfs(system)
    assert (r.verdict, r.stats.distinct, r.stats.generated, r.stats.depth) == (
        Verdict.HOLDS, len(dist), generated, depth)
    invs = good(system, bad)
    one = search(system, invs, SearchOptions(check_deadlock=deadlock, store=store))
    many = search(system, invs, sharded(workers, check_deadlock=deadlock, store=store))
    assert summary(many) == summary(one)
    if one.verdict is Verdict.VIOLATED:
        assert_real_path(system, many.path)
        assert_ends_in_violation(system, invs, many.property, many.path)
        assert len(many.path) == shortest_violation(system, invs, deadlock)


@settings(max_examples=20, deadline=None)
@given(systems(), st.integers(0, 11), st.integers(1, 4), st.integers(1, 12))
def test_bounds_and_errors_stop_where_one_process_stops(sys_, raise_at, max_depth, max_states):
    n, tables, init = sys_
    system = table_system(n, tables, init, raise_at=raise_at)
    for opts in (dict(check_deadlock=False), dict(check_deadlock=False, max_depth=max_depth),
                 dict(check_deadlock=False, max_states=max_states)):
        assert summary(search(system, [], sharded(2, **opts))) == summary(search(system, [], SearchOptions(**opts)))


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("case", [dict(bad={15}), dict(bad={15, 16, 11}), dict(dead=14), dict(raise_at=15),
                                  dict(raise_at=7), dict(bad={12}, raise_at=15), dict(dead=13, bad={14})])
def test_a_stop_in_any_shard_is_the_one_process_meets(case, workers, no_leftover_children):
    system, invs = fan(**case)
    one = search(system, invs)
    many = search(system, invs, sharded(workers))
    assert summary(many) == summary(one)
    if many.verdict is Verdict.ERROR:
        assert "raised ValueError: boom at" in many.reason and many.error


def test_max_states_stops_at_the_tick_one_process_takes():
    system, invs, terms = two_phase(5)
    for bound in (3000, 5000, 8000):
        one = search(system, invs, SearchOptions(max_states=bound), terminals=terms)
        assert one.verdict is Verdict.UNDETERMINED
        assert summary(search(system, invs, sharded(2, max_states=bound), terminals=terms)) == summary(one)


SHARDED_SPECS = [
    "two_phase_commit_tla.toml",
    "two_phase_commit_tla_early_commit.toml",
    "tcommit_tla_hasty.toml",
    "primary_backup_ack_early.toml",
    "two_phase_commit_early_commit.toml",
    "alternating_bit_tla_send_without_ack.toml",  # TLC's CONSTRAINT: violations outside it
    "tcp_tla.toml",  # CONSTRAINT and ACTION_CONSTRAINT
    pytest.param("paxos_tla_broken_promise.toml", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name", SHARDED_SPECS)
def test_sharded_search_gives_one_processs_result_on_specs(name, no_leftover_children):
    system, invs, extra, deadlock = spec_system(SPECS / name)
    for store in ("exact", "fingerprint"):
        one = search(system, invs, SearchOptions(check_deadlock=deadlock, store=store), **extra)
        for workers in (2, 3):
            many = search(system, invs, sharded(workers, check_deadlock=deadlock, store=store), **extra)
            assert summary(many) == summary(one), (store, workers)


def test_the_shards_own_disjoint_parts_and_a_view_key_hashes_the_same_everywhere():
    system, invs, terms = two_phase(3)
    shards = [Shard(system, invs, [], terms, SearchOptions(), _no_tlc(), [], w, 3) for w in range(3)]
    owners = {shards[0].owner(s) for s in system.initial}
    assert owners <= {0, 1, 2}
    assert all(sh.owner(s) == shards[0].owner(s) for sh in shards for s in system.initial)
    assert stable_hash(("a", 1)) == stable_hash(("a", 1)) != stable_hash(("a", 2))


def _no_tlc():
    from checker.engine.checks import Tlc

    return Tlc()


class _KillOnce:
    """An action that SIGKILLs the process running it once, in a shard (not the coordinator), at a
    given state: what `kill -9` of a worker does mid-level."""

    def __init__(self, inner, at, flag: Path):
        self.inner, self.at, self.flag, self.main = inner, at, flag, os.getpid()

    def __call__(self, s):
        if s == self.at and os.getpid() != self.main and not self.flag.exists():
            self.flag.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner(s)


@pytest.mark.parametrize("mode", ["sharded", "workers"])
def test_a_killed_worker_never_changes_the_result(mode, tmp_path, no_leftover_children):
    from dataclasses import replace

    system, invs, terms = two_phase(5)
    one = search(system, invs, terminals=terms)
    level = sorted(s for s in naive_bfs(system)[0] if sum(s) == 9)  # some state in the middle of the search
    first = system.actions[0]
    killing = replace(system, actions=(replace(first, successors=_KillOnce(first.successors, level[0],
                                                                           tmp_path / "flag")),
                                       *system.actions[1:]))
    opts = sharded(2) if mode == "sharded" else SearchOptions(workers=2, parallel_min=1)
    many = search(killing, invs, opts, terminals=terms)
    assert (tmp_path / "flag").exists(), "no worker was killed: the test tests nothing"
    assert summary(many) == summary(one)


def _stopping_monitor(at: int):
    from checker.engine import Monitor

    class StopAt(Monitor):
        """Stops the search at its `at`-th look at the clock: an interruption at a known level boundary."""

        def __init__(self):
            super().__init__()
            self.n = 0

        def tick(self, distinct, generated, depth):
            self.n += 1
            return "stopped by the test" if self.n == at else None

    return StopAt()


@pytest.mark.parametrize("store", ["exact", "fingerprint"])
def test_a_sharded_checkpoint_resumes_to_the_uninterrupted_counts_on_any_number_of_shards(store, tmp_path):
    system, invs, terms = two_phase(5)
    one = search(system, invs, SearchOptions(store=store), terminals=terms)
    for stop_at in (2, 6):
        folder = tmp_path / f"ckpt-{stop_at}"
        cut = search(system, invs, sharded(2, store=store, checkpoint_dir=str(folder), checkpoint_every=1e-9),
                     terminals=terms, monitor=_stopping_monitor(stop_at))
        assert cut.verdict is Verdict.UNDETERMINED and "stopped by the test" in cut.reason
        assert (folder / "sharded" / "sharded.json").is_file()
        for workers in (2, 3):
            again = search(system, invs, sharded(workers, store=store, resume=str(folder)), terminals=terms)
            assert summary(again)[:1] + summary(again)[4:] == summary(one)[:1] + summary(one)[4:]


def test_a_sharded_checkpoint_needs_a_sharded_resume_and_the_same_model(tmp_path):
    from checker.engine.checkpoint import CheckpointError

    system, invs, terms = two_phase(4)
    search(system, invs, sharded(2, checkpoint_dir=str(tmp_path), checkpoint_every=1e-9), terminals=terms,
           monitor=_stopping_monitor(3))
    with pytest.raises(CheckpointError, match="resume it with --sharded"):
        search(system, invs, SearchOptions(resume=str(tmp_path)), terminals=terms)
    other, invs5, terms5 = two_phase(5)
    with pytest.raises(CheckpointError):
        search(other, invs5, sharded(2, resume=str(tmp_path)), terminals=terms5)


EVERY_SPEC = [p for p in sorted(SPECS.glob("*.toml")) if load_spec(p).kind != "induct" and not load_spec(p).slow]


def _outcome(r):
    trace = r.trace.to_json() if r.trace is not None else None
    return (r.verdict, r.property, r.stats.distinct, r.stats.generated, r.stats.depth, r.stats.coverage, trace)


@pytest.mark.slow
@pytest.mark.parametrize("path", EVERY_SPEC, ids=[p.stem for p in EVERY_SPEC])
def test_every_search_spec_gives_one_processs_result_with_workers_and_with_shards(path, no_leftover_children):
    from checker.spec import check

    one = _outcome(check(path, out=None, lint=False))
    assert _outcome(check(path, out=None, lint=False, workers=2, parallel_min=1)) == one
    assert _outcome(check(path, out=None, lint=False, workers=2, sharded=True, parallel_min=1)) == one
