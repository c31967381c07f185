"""Consistent hashing: the placement function against a brute force, its monotonicity on every small ring
and on random rings (hypothesis), and the model's verdicts: available through r - 1 crashes with distinct
nodes, one crash loses a block placed on successive positions, re-replication restores r replicas."""

import dataclasses
import hashlib
import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import checker
from checker.engine import Verdict
from checker.semantics import from_model
from checker.spec import load_spec
from checker.trace import Trace, replay
from protocols.placement import (
    ConsistentHashing,
    clockwise,
    position,
    preference_list,
    successive_positions,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = [f"n{i}" for i in range(1, 7)]
KEYS = [f"b{i}" for i in range(1, 9)]


def naive_preference(key, nodes, r, vnodes, ring_size):
    """Walk the ring one position at a time from the key's hash, taking each new machine met."""
    h = lambda s: int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") % ring_size  # noqa: E731
    at = {}
    for n in nodes:
        for i in range(vnodes):
            at.setdefault(h(f"{n}#{i}"), []).append((n, i))
    out, p = [], h(key)
    for step in range(ring_size):
        for n, _ in sorted(at.get((p + step) % ring_size, [])):
            if n not in out and len(out) < r:
                out.append(n)
    return tuple(out)


def subsets(names, lo=1):
    return [frozenset(c) for k in range(lo, len(names) + 1) for c in itertools.combinations(names, k)]


def test_position_is_a_fixed_hash():
    # blake2b with an 8-byte digest, big-endian, mod the ring: values fixed across processes and runs
    assert position("b5", 64) == int.from_bytes(hashlib.blake2b(b"b5", digest_size=8).digest(), "big") % 64
    assert [position(k) for k in ("b1", "b2", "b3")] == [position(k) for k in ("b1", "b2", "b3")]


def test_preference_list_agrees_with_walking_the_ring_position_by_position():
    for ring_size, vnodes in [(8, 1), (16, 2), (64, 3)]:
        for nodes in subsets(NAMES[:5]):
            for key in KEYS:
                for r in (1, 2, 3):
                    assert preference_list(key, nodes, r, vnodes, ring_size) == naive_preference(
                        key, nodes, r, vnodes, ring_size
                    )


def check_join(key, nodes, new, r, vnodes, ring_size):
    """A join inserts the new node into a preference list and drops the old list's last node, or nothing."""
    old = preference_list(key, nodes, r, vnodes, ring_size)
    now = preference_list(key, nodes | {new}, r, vnodes, ring_size)
    assert len(set(now)) == len(now) == min(r, len(nodes) + 1)
    if old != now:
        assert set(now) - set(old) == {new}
        assert len(old) < r or set(old) - set(now) == {old[-1]}
        assert [n for n in now if n != new] == list(old[: len(now) - 1])  # the others keep their order
    return old != now


def check_leave(key, nodes, gone, r, vnodes, ring_size):
    """A leave removes the node from the lists that had it and appends the next machine clockwise."""
    old = preference_list(key, nodes, r, vnodes, ring_size)
    now = preference_list(key, nodes - {gone}, r, vnodes, ring_size)
    if gone not in old:
        assert now == old
        return False
    assert set(old) - set(now) == {gone}
    assert list(now[: len(old) - 1]) == [n for n in old if n != gone]
    assert len(now) == min(r, len(nodes) - 1)
    return True


def test_joins_and_leaves_move_only_what_they_must_on_every_small_ring():
    moved = 0
    for ring_size, vnodes in [(16, 2), (64, 3)]:
        for nodes in subsets(NAMES[:5]):
            for n in NAMES[:5]:
                for key in KEYS:
                    for r in (1, 2, 3):
                        if n in nodes and len(nodes) > 1:
                            moved += check_leave(key, nodes, n, r, vnodes, ring_size)
                        elif n not in nodes:
                            moved += check_join(key, nodes, n, r, vnodes, ring_size)
    assert moved > 1000  # the property was exercised, not vacuous


@settings(max_examples=300, deadline=None)
@given(
    names=st.sets(st.text("abcxyz0123", min_size=1, max_size=4), min_size=2, max_size=8),
    vnodes=st.integers(1, 6),
    ring_size=st.sampled_from([4, 32, 1 << 10, 1 << 32]),
    r=st.integers(1, 4),
    key=st.text(min_size=0, max_size=6),
    data=st.data(),
)
def test_random_rings(names, vnodes, ring_size, r, key, data):
    names = frozenset(names)
    n = data.draw(st.sampled_from(sorted(names)))
    rest = names - {n}
    check_join(key, rest, n, r, vnodes, ring_size)
    check_leave(key, names, n, r, vnodes, ring_size)
    pref = preference_list(key, names, r, vnodes, ring_size)
    # distinct machines: any r - 1 of them may fail and one holder is left
    assert len(set(pref)) == min(r, len(names))
    assert all(set(pref) - set(dead) for dead in itertools.combinations(pref, len(pref) - 1))
    # the broken placement is a prefix of the same walk, machines repeated
    assert successive_positions(key, names, r, vnodes, ring_size) == tuple(clockwise(key, names, vnodes, ring_size)[:r])


def test_successive_positions_put_b5_twice_on_n2():
    """The spec's ring by hand: b5 at 59; the next positions after it are n2's (at 3 and 9, past 0)."""
    ring = ["n1", "n2", "n3"]
    assert position("b5") == 59
    vpos = {(n, i): position(f"{n}#{i}") for n in ring for i in range(3)}
    after = sorted(vpos, key=lambda v: ((vpos[v] - 59) % 64, v))
    assert [v[0] for v in after[:2]] == ["n2", "n2"] and [vpos[v] for v in after[:2]] == [3, 9]
    assert successive_positions("b5", ring, 2) == ("n2", "n2")
    assert preference_list("b5", ring, 2) == ("n2", "n1")


def run(name, tmp_path, **over):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    if over:
        spec = dataclasses.replace(spec, **over)
    return spec, checker.check(spec, out=tmp_path)


def test_distinct_placement_holds_and_every_step_kind_happens(tmp_path):
    spec, r = run("placement_distinct", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert all(r.stats.coverage[a] > 0 for a in ("Crash", "ReReplicate", "Join", "Leave"))
    # the same count from a plain breadth-first search over the model's actions
    model = spec.instantiate()
    seen, frontier = set(model.initial_states()), list(model.initial_states())
    while frontier:
        frontier = [t for s in frontier for a in model.actions for t in a.fn(s) if not (t in seen or seen.add(t))]
    assert r.stats.distinct == len(seen)


def test_the_model_s_moves_are_the_preference_list_differences(tmp_path):
    """Every join and leave the model takes, checked against the pure function by the test itself."""
    model = ConsistentHashing(nodes=4, members=3, changes=2, crashes=1)
    v = model.schema.view
    seen, frontier, changes = set(model.initial_states()), list(model.initial_states()), 0
    while frontier:
        nxt = []
        for s in frontier:
            for a in (x for x in model.actions if x.name in ("Join", "Leave")):
                for (node,), t in a.instances(s):
                    before, after = v(s), v(t)
                    changes += 1
                    for b in model.Block.names:
                        old, new = set(preference_list(b, before.ring, 2)), set(preference_list(b, after.ring, 2))
                        assert after.holds[b] == new and before.holds[b] == old
                        if a.name == "Join":
                            assert new - old <= {node} and len(old - new) <= 1
                        else:
                            assert old - new <= {node} and len(new - old) <= 1
            for a in model.actions:
                for t in a.fn(s):
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
    assert changes > 10


class ModuloPlacement(ConsistentHashing):
    """Not consistent hashing: position mod the number of machines, so a join reshuffles most blocks."""

    def place(self, block, ring):
        live = sorted(ring)
        i = position(block) % len(live)
        return tuple((live[i:] + live[:i])[: self.r])


def test_moves_only_what_it_must_fails_for_modulo_placement():
    r = checker.check(ModuloPlacement(), out=None, invariants=["BlockAvailable", "MovesOnlyWhatItMust"])
    assert r.verdict is Verdict.VIOLATED and r.property == "MovesOnlyWhatItMust"
    assert r.trace.steps[-1].label.startswith(("Join", "Leave"))


def test_positions_placement_loses_a_block_with_one_crash(tmp_path):
    spec, r = run("placement_positions", tmp_path)
    assert r.ok and r.property == "BlockAvailable"
    assert [s.label for s in r.trace.steps[1:]] == ["Crash(n2)"]
    assert r.trace.steps[0].state["holds"]["b5"] == ["n2"]  # both "replicas" on one machine
    assert r.trace.steps[-1].state["holds"]["b5"] == []
    committed = Trace.load(spec.counterexample_path())
    assert replay(from_model(spec.instantiate()), committed).ok and len(committed.steps) == 2


def test_beyond_the_spec_three_replicas_survive_two_crashes_and_two_replicas_do_not():
    ok = checker.check(ConsistentHashing(nodes=5, members=5, r=3, crashes=2, changes=1), out=None)
    assert ok.verdict is Verdict.HOLDS
    bad = checker.check(ConsistentHashing(nodes=4, members=4, r=2, crashes=2, changes=0), out=None)
    assert bad.verdict is Verdict.VIOLATED and bad.property == "BlockAvailable"
    assert [s.label.split("(")[0] for s in bad.trace.steps[1:]] == ["Crash", "Crash"]


def test_rereplication_restores_r_replicas_only_if_it_is_fair(tmp_path):
    spec, r = run("placement_rereplication", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    unfair = {**spec.fairness, "ReReplicate": "none"}
    _, r = run("placement_rereplication", tmp_path, fairness=unfair, expected="violated", violates="ReReplicates")
    assert r.verdict is Verdict.VIOLATED and r.property == "ReReplicates"
    assert any(s.label.startswith("Crash") for s in r.trace.steps)
