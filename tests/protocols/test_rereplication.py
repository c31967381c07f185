"""Re-replication in a small DFS with time: one crash is repaired (2 live replicas again, nothing lost, nothing
over-replicated); a partition over-replicates but loses nothing; two crashes lose a block; a timeout below
the heartbeat threshold over-replicates with no partition at all."""

import dataclasses
from pathlib import Path

import checker
from checker import Role
from checker.engine import Verdict
from checker.spec import load_spec
from checker.spec.run import system_of
from checker.trace import Trace, replay
from protocols.rereplication import PLACEMENT, DataNode, NameNode, Rereplication

ROOT = Path(__file__).resolve().parents[2]
DNS = ("dn1", "dn2", "dn3")


def spec_of(name, **changes):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    return dataclasses.replace(spec, **changes) if changes else spec


def live_holders(state, block):
    return {d for d in DNS if d not in state.get("down", []) and block in state[d]["holds"]}


def test_the_timeout_is_the_heartbeat_threshold():
    spec = spec_of("rereplication_crash")
    assert NameNode.TIMEOUT == DataNode.PERIOD + spec.time.max_delay + 4 * spec.time.max_skew


def test_one_crash_is_repaired_without_loss_or_over_replication(tmp_path):
    r = checker.check(spec_of("rereplication_crash"), out=tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0


def test_rereplication_needs_time_to_move_on():
    spec = spec_of("rereplication_crash", fairness={"tick": "none"}, expected="violated", violates="ReReplicates")
    r = checker.check(spec, out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "ReReplicates"


def test_a_partition_over_replicates_a_block(tmp_path):
    spec = spec_of("rereplication_partition")
    r = checker.check(spec, out=tmp_path)
    assert r.ok and r.verdict is Verdict.VIOLATED and r.property == "AtMostTwo"
    labels = [s.label for s in r.trace.steps]
    assert any(x.startswith("partition") for x in labels) and not any(x.startswith("crash") for x in labels)
    final = r.trace.steps[-1].state
    assert any(len(live_holders(final, b)) == 3 for b in PLACEMENT)
    assert replay(system_of(spec, spec.instantiate(), False), Trace.load(spec.counterexample_path())).ok


def test_a_partition_and_a_crash_lose_nothing():
    spec = spec_of("rereplication_partition_no_loss")
    one_split = dataclasses.replace(spec.faults, splits=spec.faults.splits[:1])  # the full spec takes ~15 s
    r = checker.check(dataclasses.replace(spec, faults=one_split), out=None)
    assert r.verdict is Verdict.HOLDS
    assert r.stats.coverage["crash"] > 0 and r.stats.coverage["partition"] > 0


def test_two_crashes_lose_the_block_both_held(tmp_path):
    spec = spec_of("rereplication_two_crashes")
    r = checker.check(spec, out=tmp_path)
    assert r.ok and r.verdict is Verdict.VIOLATED and r.property == "NoLoss"
    crashed = set(r.trace.steps[-1].state["down"])
    assert len(crashed) == 2 and any(crashed == set(where) for where in PLACEMENT.values())
    assert replay(system_of(spec, spec.instantiate(), False), Trace.load(spec.counterexample_path())).ok


class HastyNameNode(NameNode):
    TIMEOUT = NameNode.TIMEOUT - 1


class Hasty(Rereplication):
    nn = Role(HastyNameNode, count=1)


def test_below_the_threshold_slowness_alone_over_replicates():
    spec = spec_of("rereplication_partition", model_class=Hasty)
    r = checker.check(dataclasses.replace(spec, faults=dataclasses.replace(spec.faults, partitions=0)), out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "AtMostTwo"
    assert not any(s.label.startswith(("partition", "crash")) for s in r.trace.steps)
