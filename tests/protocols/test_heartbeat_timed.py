"""The heartbeat detector with time: accuracy exactly from TIMEOUT = PERIOD + max_delay + 4 max_skew (the
bound the protocol's docstring proves, checked here from the formula), completeness under fair time, a
partition breaking accuracy, and the FIFO capacity the docstring derives."""

import dataclasses
from pathlib import Path

import pytest

import checker
from checker.engine import Verdict
from checker.model.faults import Faults
from checker.model.time import TimeSettings
from checker.spec import load_spec
from checker.spec.run import system_of
from checker.trace import Trace, replay
from protocols.heartbeat import EagerMember, Member, timed_heartbeat

ROOT = Path(__file__).resolve().parents[2]


def spec_of(name, **changes):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    return dataclasses.replace(spec, **changes) if changes else spec


def threshold(period, max_delay, max_skew):
    """The docstring's bound: the longest silence between two live, connected members."""
    return period + max_delay + 4 * max_skew


def timed(period, timeout, max_delay, max_skew):
    """The accurate spec with other timing: expected outcome left to the caller."""
    return spec_of("heartbeat_timed_accurate", model_class=timed_heartbeat(period, timeout),
                   time=TimeSettings(max_delay=max_delay, max_skew=max_skew))


@pytest.mark.parametrize("period,max_delay,max_skew", [(1, 1, 0), (2, 2, 0), (3, 1, 0), (1, 3, 0), (2, 1, 1)])
def test_accuracy_holds_exactly_from_the_threshold(period, max_delay, max_skew):
    t = threshold(period, max_delay, max_skew)
    at = checker.check(timed(period, t, max_delay, max_skew), out=None)
    below = checker.check(timed(period, t - 1, max_delay, max_skew), out=None)
    assert at.verdict is Verdict.HOLDS
    assert below.verdict is Verdict.VIOLATED and below.property == "Accuracy"
    assert not any(s.label.startswith("crash") for s in below.trace.steps)  # slowness alone


def test_the_specs_sit_at_the_threshold_and_one_below():
    spec = spec_of("heartbeat_timed_accurate")
    assert (spec.time.max_delay, spec.time.max_skew) == (1, 1)
    assert Member.TIMEOUT == threshold(Member.PERIOD, 1, 1) == 7
    assert EagerMember.TIMEOUT == Member.TIMEOUT - 1


def test_accurate_spec_holds(tmp_path):
    r = checker.check(spec_of("heartbeat_timed_accurate"), out=tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0


def test_eager_spec_suspects_a_live_member_without_any_crash(tmp_path):
    spec = spec_of("heartbeat_timed_eager")
    r = checker.check(spec, out=tmp_path)
    assert r.ok and r.verdict is Verdict.VIOLATED and r.property == "Accuracy"
    final = r.trace.steps[-1].state
    assert final["down"] == [] and any(final[n]["suspects"] for n in ("n1", "n2"))
    assert replay(system_of(spec, spec.instantiate(), False), Trace.load(spec.counterexample_path())).ok


def test_partition_gets_a_live_member_suspected_at_the_threshold(tmp_path):
    spec = spec_of("heartbeat_timed_partition")
    r = checker.check(spec, out=tmp_path)
    assert r.ok and r.verdict is Verdict.VIOLATED and r.property == "Accuracy"
    assert any(s.label.startswith("partition") for s in r.trace.steps)
    assert r.trace.steps[-1].state["partition"] != []  # suspected while cut off
    assert replay(system_of(spec, spec.instantiate(), False), Trace.load(spec.counterexample_path())).ok


@pytest.mark.slow  # 2-3 s; the default run checks this spec as it is (tests/test_specs.py and the plugin)
def test_completeness_holds_under_fair_time(tmp_path):
    spec = spec_of("heartbeat_timed_complete")
    r = checker.check(spec, out=tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok


def test_completeness_fails_when_time_may_stop():
    stopped = spec_of("heartbeat_timed_complete", fairness={"tick": "none"}, expected="violated",
                      violates="Completeness")
    r = checker.check(stopped, out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "Completeness"
    assert any(s.label.startswith("crash") for s in r.trace.steps)


def test_two_beats_in_flight_fit_the_channel_and_one_does_not():
    """Between live, connected members (no faults) the docstring's bound on beats in flight is 2: a
    capacity of 2 never overflows, a capacity of 1 does (overflow = "error" makes it an error)."""
    strict = {"overflow": "error"}
    spec = spec_of("heartbeat_timed_accurate", faults=Faults())
    fits = checker.check(dataclasses.replace(spec, network={**spec.network, **strict, "capacity": 2}), out=None)
    assert fits.verdict is Verdict.HOLDS
    small = checker.check(dataclasses.replace(spec, network={**spec.network, **strict, "capacity": 1}), out=None)
    assert small.verdict is Verdict.ERROR and "Beat does not fit" in small.message
