"""Heartbeat failure detection: accuracy holds exactly from k = d + 2 (the bound the docstring derives)."""

import pytest

import checker
from checker import invariant
from checker.engine import Verdict
from protocols.heartbeat import Heartbeat


@pytest.mark.parametrize("d", [0, 1, 2])
def test_accuracy_threshold_is_d_plus_2(d):
    verdicts = {k: checker.check(Heartbeat(nodes=2, d=d, k=k), out=None).verdict for k in range(1, d + 4)}
    assert verdicts == {k: Verdict.HOLDS if k >= d + 2 else Verdict.VIOLATED for k in verdicts}


def test_below_the_threshold_silence_alone_is_enough():
    r = checker.check(Heartbeat(nodes=2, d=2, k=3), out=None)
    assert r.verdict is Verdict.VIOLATED
    assert [s.label for s in r.trace.steps[1:]] == ["Tick", "Tick", "Tick"]  # no crash, no delivery


def test_a_partition_gets_a_live_node_suspected_even_at_the_threshold():
    r = checker.check(Heartbeat(nodes=2, d=2, k=4, crashes=0, partitions=1), out=None)
    assert r.verdict is Verdict.VIOLATED and "Partition" in [s.label for s in r.trace.steps]
    final = r.trace.steps[-1].state
    assert final["down"] == [] and final["suspects"]["n1"] == ["n2"]


class Watched(Heartbeat):
    @invariant
    def NobodySuspected(self, state):
        return not any(state.suspects.values())


def test_a_crashed_node_does_get_suspected():
    r = checker.check(Watched(nodes=2, d=1, k=3), out=None, invariants=["Accuracy", "NobodySuspected"])
    assert r.verdict is Verdict.VIOLATED and r.property == "NobodySuspected"
    final = r.trace.steps[-1].state
    assert final["down"] == ["n1"] and final["suspects"]["n2"] == ["n1"]
    assert r.trace.steps[1].label == "Crash(n1)"
