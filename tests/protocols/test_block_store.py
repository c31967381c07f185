"""The block store: placement through protocols.placement, Gifford's R + W > r against the verdicts, and
each broken variant's counterexample read off its final state."""

import dataclasses
from pathlib import Path

import pytest

import checker
from checker import Role
from checker.engine import Verdict
from checker.semantics.nodes import from_protocol
from checker.spec import load_spec
from checker.trace import Trace, replay
from protocols.block_store import Client, PeriodicSyncNode, QuorumStore, replicas
from protocols.placement import preference_list

ROOT = Path(__file__).resolve().parents[2]
STORES = ("store1", "store2", "store3")


def run(name, tmp_path, model_class=None, **faults):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    if model_class is not None:
        spec = dataclasses.replace(spec, model_class=model_class, expected="holds", violates=None, counterexample=None)
    if faults:
        spec = dataclasses.replace(spec, faults=dataclasses.replace(spec.faults, **faults))
    return spec, checker.check(spec, out=tmp_path)


def labels(r):
    return [s.label for s in r.trace.steps[1:]]


def store(r_, w_, rep=2, node=None):
    """A block store with `rep` replicas per block, write quorum `w_` and read quorum `r_`."""
    client = type("C", (Client,), {"REPLICAS": rep, "W": w_, "R": r_})
    roles = {"client": Role(client, 1)}
    if node is not None:
        roles["store"] = Role(node, 3)
    return type(f"Store_R{r_}_W{w_}", (QuorumStore,), roles)


def test_blocks_live_on_their_preference_list():
    assert replicas("b1", STORES, 2) == preference_list("f/b1", STORES, 2) == ("store2", "store3")


def test_the_quorum_store_holds_through_two_crashes_and_restarts(tmp_path):
    spec, r = run("block_store_quorum", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0 and r.stats.coverage["restart"] > 0
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    view = system.schema.view
    seen, frontier = set(system.initial), list(system.initial)
    reads_after_acked_write = both_down = 0
    while frontier:
        nxt = []
        for s in frontier:
            for a in system.actions:
                for t in a.successors(s):
                    if t in seen:
                        continue
                    seen.add(t)
                    nxt.append(t)
                    v, w = view(s), view(t)
                    if v.client1.reading is not None and w.client1.reading is None and v.client1.floor > 0:
                        reads_after_acked_write += 1  # a read that had an acknowledged write to miss, and didn't
                    both_down += {"store2", "store3"} <= set(w.down) and w.client1.acked["b1"] > 0
        frontier = nxt
    assert r.stats.distinct == len(seen)
    assert reads_after_acked_write > 0 and both_down > 0  # FreshReads and NoLostWrite were put to the test


def test_consistency_one_misses_an_acknowledged_write_without_a_fault(tmp_path):
    spec, r = run("block_store_one_one", tmp_path)
    assert r.ok and r.property == "FreshReads"
    assert labels(r) == [
        "write(b1)@client1",
        "Store(b1, 1) client1→store2",
        "Stored(b1, 1) store2→client1",
        "read(b1)@client1",
        "Fetch(b1, 1) client1→store3",
        "Fetched(b1, 1, 0) store3→client1",
    ]
    final = r.trace.steps[-1].state
    assert final["client1"]["acked"]["b1"] == 1 and final["store3"]["data"]["b1"] == 0
    assert final["down"] == [] and final["client1"]["stale"] is True


def test_periodic_sync_loses_the_write_when_both_replicas_crash(tmp_path):
    spec, r = run("block_store_periodic_sync", tmp_path)
    assert r.ok and r.property == "NoLostWrite"
    steps = labels(r)
    assert len(steps) == 7 and steps[0] == "write(b1)@client1" and steps[-2:] == ["crash store2", "crash store3"]
    before_crashes, final = r.trace.steps[-3].state, r.trace.steps[-1].state
    assert before_crashes["client1"]["acked"]["b1"] == 1
    assert [before_crashes[s]["cache"]["b1"] for s in ("store2", "store3")] == [1, 1]  # acknowledged from memory
    assert all(final[s]["data"]["b1"] == 0 and final[s]["cache"]["b1"] == 0 for s in ("store2", "store3"))


@pytest.mark.parametrize("name", ["block_store_one_one", "block_store_periodic_sync"])
def test_committed_counterexamples_replay(name):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    assert replay(system, Trace.load(spec.counterexample_path())).ok


@pytest.mark.parametrize(("r_", "w_"), [(1, 1), (2, 2)])
def test_gifford_reads_are_fresh_exactly_when_read_and_write_quorums_intersect(tmp_path, r_, w_):
    _, r = run("block_store_quorum", tmp_path, model_class=store(r_, w_))
    assert r.verdict is (Verdict.HOLDS if r_ + w_ > 2 else Verdict.VIOLATED)
    if r.verdict is Verdict.VIOLATED:
        assert r.property == "FreshReads"


def test_durable_stores_survive_a_third_crash(tmp_path):
    _, r = run("block_store_quorum", tmp_path, crashes=3)
    assert r.verdict is Verdict.HOLDS and r.stats.coverage["crash"] > 0


def test_periodic_sync_with_one_crash_keeps_the_write_but_serves_a_stale_read(tmp_path):
    """One replica keeps the write (NoLostWrite holds), but the restarted one lost what it acknowledged."""
    _, r = run("block_store_quorum", tmp_path, model_class=store(1, 2, node=PeriodicSyncNode), crashes=1)
    assert r.verdict is Verdict.VIOLATED and r.property == "FreshReads"
    assert sum(s.label.startswith("crash") for s in r.trace.steps) == 1
    assert any(s.label.startswith("restart") for s in r.trace.steps)
