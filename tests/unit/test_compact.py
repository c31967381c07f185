"""The compact store (checker/engine/compact.py) and the switch to it midway: the same verdicts, counts
and counterexamples as the exact store, checked against a naive BFS written in tests/unit/test_orders.py
and on every search spec; fingerprints that do not collide by construction on wide slots."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_orders import assert_real_path, good, naive_bfs, spec_system, table_system

from checker.engine import SearchOptions, Verdict, search
from checker.engine.search import fingerprinter
from checker.model import Int, Set, StateSchema
from checker.spec import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"
# the largest spaces (over half a second each on 2 cores) and the specs that say `slow = true` run with
# `pytest -m slow`; the other specs (timed ones among them: heartbeat_timed_eager, lease_*, rereplication_*)
# by default
SLOW_SPECS = {"primary_backup_state_transfer", "quorum_register_abd", "paxos_ok", "multi_version_vectors",
              "block_store_quorum", "chain_replication_head_reads", "chain_replication_tail_reads",
              "primary_backup_ok", "heartbeat_timed_complete", "heartbeat_timed_accurate",
              "heartbeat_timed_partition"}
SEARCH_SPECS = [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] * (p.stem in SLOW_SPECS or load_spec(p).slow))
                for p in sorted(SPECS.glob("*.toml")) if load_spec(p).kind == "search"]


@pytest.mark.parametrize("path", SEARCH_SPECS)
def test_compact_and_switching_agree_with_the_exact_store_on_every_spec(path):
    system, invs, extra, deadlock = spec_system(path)
    exact = search(system, invs, SearchOptions(check_deadlock=deadlock, max_states=60_000), **extra)
    if exact.verdict is Verdict.UNDETERMINED:
        pytest.skip("more than 60,000 states: a benchmark, not a test")  # lease_ok, rereplication_partition_no_loss
    switching = SearchOptions(check_deadlock=deadlock, compact_above=1)  # switches after the first level
    for options in (SearchOptions(check_deadlock=deadlock, store="compact"),
                    *((switching,) if exact.stats.distinct < 5000 else ())):
        r = search(system, invs, options, **extra)
        assert (r.verdict, r.property, r.stats.depth) == (exact.verdict, exact.property, exact.stats.depth)
        if exact.verdict is Verdict.HOLDS:
            assert (r.stats.distinct, r.stats.generated) == (exact.stats.distinct, exact.stats.generated)
        else:  # as short; among equally short ones the exact store prefers the fewest faults, the compact the first
            assert_real_path(system, r.path)
            assert len(r.path) == len(exact.path)
        assert r.stats.collision_probability is not None and 0 <= r.stats.collision_probability < 1e-6


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.lists(st.lists(st.integers(0, n - 1), max_size=3), min_size=n, max_size=n), min_size=1, max_size=3),
    st.lists(st.integers(0, n - 1), min_size=1, max_size=3),
    st.sets(st.integers(0, n - 1), max_size=2),
)))
def test_on_random_systems_the_compact_store_finds_what_a_naive_search_finds(case):
    n, tables, init, bad = case
    system = table_system(n, tables, init)
    dist, generated, depth = naive_bfs(system)
    r = search(system, [], SearchOptions(store="compact", check_deadlock=False))
    assert (r.verdict, r.stats.distinct, r.stats.generated, r.stats.depth) == (Verdict.HOLDS, len(dist), generated, depth)
    if bad & set(x for (x,) in dist):
        v = search(system, good(system, bad), SearchOptions(store="compact", check_deadlock=False))
        assert v.verdict is Verdict.VIOLATED
        assert_real_path(system, v.path)
        assert v.path[-1][0] in bad
        assert len(v.path) == min(dist[(x,)] for x in bad if (x,) in dist)  # shortest


def test_the_compact_store_reports_its_bytes_per_state():
    from test_orders import two_phase

    system, _, terms = two_phase(5)
    r = search(system, [], SearchOptions(store="compact"), terminals=terms)
    assert r.verdict is Verdict.HOLDS and r.stats.distinct == 8832  # TLC's count
    assert r.stats.bytes_per_state is not None and r.stats.bytes_per_state >= 0


def test_wide_slots_do_not_collide_by_construction():
    # an int hashes to its value modulo 2**61 - 1: bit 61 of a bitmask hashes as bit 0
    schema = StateSchema({"s": Set(Int(0, 99))})
    a, b = (1,), (1 << 61,)
    assert hash(a) == hash(b)  # the trap, in CPython
    fp = fingerprinter(schema)
    assert fp(a) != fp(b)
    assert len({fp((1 << k,)) for k in range(100)}) == 100  # every single bit apart
    narrow = StateSchema({"x": Int(0, 9)})
    assert fingerprinter(narrow) is hash  # nothing wide: the fast path


def test_a_violation_found_after_switching_keeps_the_shortest_counterexample():
    from test_orders import two_phase

    system, invs, terms = two_phase(3, "EarlyCommit")
    exact = search(system, invs, SearchOptions(), terminals=terms)
    switched = search(system, invs, SearchOptions(compact_above=1), terminals=terms)
    assert switched.verdict is Verdict.VIOLATED and switched.property == exact.property
    assert switched.path == exact.path
    assert "switched to the compact store" in switched.reason
