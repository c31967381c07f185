"""Multi-version replication: version vectors keep concurrent writes as siblings; last-writer-wins loses them."""

from dataclasses import replace
from itertools import product
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import checker
import protocols.multi_version as mv
from checker import Role, invariant
from checker.engine import Verdict
from checker.model import FrozenDict
from checker.semantics.nodes import from_protocol
from checker.spec import load_spec
from checker.trace import Trace, replay

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = ("replica1", "replica2")


def spec_of(name):
    return load_spec(ROOT / "specs" / f"{name}.toml")


def labels(r):
    return [s.label for s in r.trace.steps[1:]]


# -- the version-vector order, by itself --------------------------------------------------------------

vectors = st.builds(lambda a, b: FrozenDict({"replica1": a, "replica2": b}), st.integers(0, 3), st.integers(0, 3))


@given(vectors, vectors, vectors)
def test_leq_is_a_partial_order(a, b, c):
    assert mv.leq(a, a)
    if mv.leq(a, b) and mv.leq(b, a):
        assert a == b
    if mv.leq(a, b) and mv.leq(b, c):
        assert mv.leq(a, c)
    assert mv.concurrent(a, b) == (not mv.leq(a, b) and not mv.leq(b, a))


@given(vectors, vectors, vectors)
def test_merge_is_the_least_upper_bound(a, b, c):
    m = mv.merge(a, b)
    assert mv.leq(a, m) and mv.leq(b, m)
    if mv.leq(a, c) and mv.leq(b, c):
        assert mv.leq(m, c)
    # least among all upper bounds in the (small) domain, by brute force
    uppers = [FrozenDict(dict(zip(REPLICAS, x))) for x in product(range(4), repeat=2)]
    uppers = [u for u in uppers if mv.leq(a, u) and mv.leq(b, u)]
    assert all(mv.leq(m, u) for u in uppers) and m in uppers


versions = st.builds(
    lambda value, dot, n, ctx: mv.Version.make(value=value, dot=dot, n=n, context=ctx),
    st.integers(1, 2),
    st.sampled_from(REPLICAS),
    st.integers(1, 2),
    st.builds(lambda a, b: FrozenDict({"replica1": a, "replica2": b}), st.integers(0, 2), st.integers(0, 2)),
)


@given(st.frozensets(versions, max_size=4), st.frozensets(versions, max_size=4))
def test_sync_keeps_exactly_the_versions_nobody_has_seen_past(a, b):
    s = mv.sync(a, b)
    assert s == mv.sync(b, a) and mv.sync(s, s) == s  # in any order, any number of times
    for w in a | b:  # brute force: kept iff no version's context holds its dot
        assert (w in s) == (not any(w.n <= x.context[w.dot] for x in a | b))


def test_a_dot_is_not_a_vector_entry():
    """Folded into the vector, a later blind write at replica1 would dominate an earlier one; as a dot, not."""
    w = mv.Version.make(value=1, dot="replica1", n=1, context=mv.ZERO)
    x = mv.Version.make(value=2, dot="replica1", n=2, context=mv.ZERO)  # its writer read nothing
    assert mv.leq(mv.vector(w), mv.vector(x)) and not mv.obsoletes(x, w)
    assert mv.sync({w}, {x}) == {w, x}  # siblings
    y = mv.Version.make(value=2, dot="replica2", n=1, context=mv.vector(w))  # its writer had read w
    assert mv.obsoletes(y, w) and mv.sync({w}, {y}) == {y}


# -- the protocol -------------------------------------------------------------------------------------


def test_version_vectors_lose_nothing_and_converge(tmp_path):
    r = checker.check(spec_of("multi_version_vectors"), out=tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["duplicate"] > 0 and r.stats.coverage["Replicate"] > 0


class SiblingsSeen(mv.VersionVectors):
    @invariant
    def NoSiblings(self, state):
        return all(len(r.siblings) < 2 for r in state.role("replica"))


def test_concurrent_writes_are_kept_as_siblings_and_a_causal_write_replaces_them():
    r = checker.check(
        replace(spec_of("multi_version_vectors"), model_class=SiblingsSeen, invariants=("NoSiblings",), consistency={}),
        out=None,
    )
    assert r.verdict is Verdict.VIOLATED  # reachable: two siblings at a replica
    last = r.trace.steps[-1].state
    (r1,) = [n for n in REPLICAS if len(last[n]["siblings"]) == 2]
    assert sorted(v["value"] for v in last[r1]["siblings"]) == [1, 2]
    assert last["client1"]["seen"] == [] and last["client2"]["seen"] == []  # both writers were blind


def test_last_writer_wins_discards_an_acknowledged_concurrent_write(tmp_path):
    r = checker.check(spec_of("multi_version_lww"), out=tmp_path)
    assert r.ok and r.property == "NoLostWrite" and len(r.trace.steps) - 1 == 5
    last = r.trace.steps[-1].state
    # write 1 was acknowledged and replica1 heard of it; its only version is now 2, whose writer read nothing
    assert last["client1"]["acked"] and 1 in last["replica1"]["heard"]
    assert [v["value"] for v in last["replica1"]["siblings"]] == [2] and last["client2"]["seen"] == []


def test_the_committed_counterexample_replays():
    spec = spec_of("multi_version_lww")
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    assert replay(system, Trace.load(spec.counterexample_path())).ok


class CausalLoss(mv.LastWriterWins):
    """Reachability: client2 read write 1, wrote 2 (acknowledged), and a replica that heard of 2 keeps 1."""

    @invariant
    def NoCausalLoss(self, state):
        c2 = state.client2
        return not (
            c2.acked
            and 1 in c2.seen
            and any(2 in r.heard and {v.value for v in r.siblings} == {1} for r in state.role("replica"))
        )


def test_with_a_lagging_clock_even_a_causally_later_write_loses():
    r = checker.check(
        replace(
            spec_of("multi_version_lww"),
            model_class=CausalLoss,
            invariants=("NoCausalLoss",),
            consistency={},
            counterexample=None,
            violates="NoCausalLoss",
        ),
        out=None,
    )
    assert r.verdict is Verdict.VIOLATED
    steps = labels(r)
    put1 = next(i for i, s in enumerate(steps) if s.startswith("Put(1") and s.endswith("→replica1"))
    get2 = next(i for i, s in enumerate(steps) if s.startswith("Get client2→replica1"))
    put2 = next(i for i, s in enumerate(steps) if s.startswith("Put(2") and s.endswith("→replica2"))
    assert put1 < get2 < put2  # write 2 was made after reading write 1 ...
    stamps = {v["value"]: v["n"] for n in REPLICAS for v in r.trace.steps[-1].state[n]["siblings"]}
    assert stamps == {1: 2}  # ... at replica2, whose clock stamped it 1 < 2: write 1 wins


class FoldedReplica(mv.Replica):
    """Dynamo's per-server vector clocks: the increment folded into the vector, dominance by vectors."""

    def store(self, version):
        self.heard = self.heard | {version.value}
        union = set(self.siblings) | {version}
        self.siblings = frozenset(
            w for w in union if not any(x != w and mv.leq(mv.vector(w), mv.vector(x)) for x in union)
        )


class Folded(mv.VersionVectors):
    replica = Role(FoldedReplica, mv.REPLICAS)


def test_folding_the_dot_into_the_vector_loses_a_write():
    r = checker.check(replace(spec_of("multi_version_vectors"), model_class=Folded, consistency={}), out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "NoLostWrite"
    last = r.trace.steps[-1].state
    # both writes coordinated by one replica; the blind later one hid the acknowledged earlier one
    (r1,) = [n for n in REPLICAS if last[n]["counter"] == 2]
    assert len(last[r1]["siblings"]) == 1 and last["client1"]["seen"] == [] == last["client2"]["seen"]
