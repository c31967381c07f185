"""Time on real processes (issue 17): `faultcheck run` maps time units to `[runtime] tick_seconds`, fires
timers armed with `after=` on the node's clock, starts each clock within `[time] max_skew` and injects
clock jumps within `[faults] clock_jumps`/`jump`; times survive the durable file; `replay --live` drives
virtual clocks through a timed counterexample (ticks, skew, message ages, clock jumps) to its violation.
No timed assertions: what fired and in which order, never how long it took. No process is left behind."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from conftest import hosts_running
from hypothesis import given, settings
from hypothesis import strategies as st

import checker
from checker.cli import main
from checker.model.time import Instant
from checker.runtime.cluster import CLOCK_BASE, Cluster, load_protocol
from checker.runtime.controller import RunOptions, plan_faults, plan_offsets
from checker.runtime.storage import DurableStore

ALARM = """
    from checker import Int, Message, Node, Protocol, Role, Time, durable, invariant, timer, volatile


    class Noop(Message):
        n = Int(0, 0)


    class Alarm(Node):
        rang = durable(Int(0, 2), initial=0)
        armed_at = volatile(Time(), initial=0)
        last_rang = durable(Time(), initial=0)

        def on_start(self):
            self.armed_at = self.now()
            self.set_timer("ring", after=2)

        @timer
        def ring(self):
            self.rang = min(2, self.rang + 1)
            self.last_rang = self.now()
            if self.rang < 2:
                self.set_timer("ring", after=2)


    class Alarms(Protocol):
        alarm = Role(Alarm, 1)
        messages = (Noop,)

        @invariant
        def RingsOnce(self, state):
            return state.alarm1.rang < 2

        @invariant
        def RangInThePast(self, state):  # a time read relative to its node's clock: never ahead of it
            return state.alarm1.last_rang.passed()
"""

LEASE = """
    from checker import Bool, Int, Message, Node, Protocol, Role, Time, invariant, timer, volatile


    class Grant(Message):
        term = Int(0, 0)


    class Server(Node):
        expired = volatile(Bool(), initial=False)

        def on_start(self):
            self.send("client1", Grant(0))
            self.set_timer("expire", after=3)

        @timer
        def expire(self):
            self.expired = True


    class Client(Node):
        lease_until = volatile(Time(), initial=0)

        def on_grant(self, msg, src):
            self.lease_until = self.now() + 3  # the bug: the lease counts from its receipt, not from the grant


    class Lease(Protocol):
        server = Role(Server, 1)
        client = Role(Client, 1)
        messages = (Grant,)

        @invariant
        def NoOverlap(self, state):
            return not (state.server1.expired and not state.client1.lease_until.passed())


    class PatientServer(Server):
        def on_start(self):  # the implementation waits longer than the model
            self.send("client1", Grant(0))
            self.set_timer("expire", after=4)


    class PatientLease(Lease):
        server = Role(PatientServer, 1)
"""

SPEC_ALARM = """format = 1
protocol = "rt_timed_alarm:Alarms"
invariants = ["RingsOnce", "RangInThePast"]
expected = "violated"
violates = "RingsOnce"

[time]
max_skew = 2

[faults]
clock_jumps = 2
jump = 3

[runtime]
tick_seconds = 0.02
"""

SPEC_LEASE = """format = 1
protocol = "rt_timed_lease:Lease"
invariants = ["NoOverlap"]
expected = "violated"
violates = "NoOverlap"

[time]
max_skew = 1
max_delay = 2
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("timed")
    (d / "rt_timed_alarm.py").write_text(textwrap.dedent(ALARM))
    (d / "rt_timed_lease.py").write_text(textwrap.dedent(LEASE))
    (d / "alarm.toml").write_text(SPEC_ALARM)
    (d / "lease.toml").write_text(SPEC_LEASE)
    return d


def alarm_cluster(project: Path) -> Cluster:
    return Cluster(load_protocol("rt_timed_alarm:Alarms", {}, (str(project),)), timed=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), skew=st.integers(0, 3), budget=st.integers(0, 4), jump=st.integers(1, 4))
def test_clock_skew_and_jumps_are_planned_from_the_seed_within_the_budget(project, seed, skew, budget, jump):
    cluster = Cluster(load_protocol("rt_timed_lease:Lease", {}, (str(project),)), timed=True)
    o = RunOptions(duration=5, faults=("clock_jump", "crash"), seed=seed, timed=True, max_skew=skew,
                   max_clock_jumps=budget, jump=jump, max_crashes=1, fault_interval=0.3)
    offsets = plan_offsets(cluster, o)
    assert set(offsets) == {"server1", "client1"} and all(-skew <= v <= skew for v in offsets.values())
    assert offsets == plan_offsets(cluster, o)  # the seed's
    plan = plan_faults(cluster, o)
    jumps = [e for e in plan if e["kind"] == "clock_jump"]
    assert len(jumps) <= budget
    assert all(1 <= abs(e["by"]) <= jump and e["node"] in offsets for e in jumps)
    down: set[str] = set()
    for e in plan:  # the model jumps live clocks only
        if e["kind"] == "crash":
            down.add(e["node"])
        elif e["kind"] == "restart":
            down.discard(e["node"])
        elif e["kind"] == "clock_jump":
            assert e["node"] not in down
    # without [time] there is no clock to jump, whatever --faults says
    untimed = RunOptions(duration=5, faults=("clock_jump",), seed=seed, max_clock_jumps=budget)
    assert not any(e["kind"] == "clock_jump" for e in plan_faults(cluster, untimed))


@settings(max_examples=40, deadline=None)
@given(reading=st.integers(0, 10**9), rang=st.integers(0, 2))
def test_times_round_trip_through_the_durable_file(project, tmp_path_factory, reading, rang):
    cluster = alarm_cluster(project)
    store = DurableStore(tmp_path_factory.mktemp("store") / "alarm1.json", cluster.durable_types("alarm1"), "alarm1")
    store.save({"rang": rang, "last_rang": Instant.at(reading)})
    back = store.load()
    assert back is not None and back["rang"] == rang
    assert back["last_rang"].exact and back["last_rang"].hi == reading  # absolute, as stored
    assert json.loads(store.path.read_text())["fields"]["last_rang"] == reading
    store.save({"rang": rang, "last_rang": 0})  # the clock's origin: long before every reading
    loaded = store.load()
    assert loaded is not None and loaded["last_rang"].long_ago
    assert json.loads(store.path.read_text())["fields"]["last_rang"] == "long ago"


def test_a_timed_run_fires_timers_on_the_clock_and_injects_skew_and_jumps_within_the_budget(project, capsys):
    out = project / "alarm.run"
    code = main(["run", str(project / "alarm.toml"), "--duration", "1.5", "--faults", "clock_jump", "--seed", "7",
                 "--out", str(out), "--json"])
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert hosts_running(str(out)) == []
    assert code == 1, doc  # the alarm rings twice: RingsOnce is violated, and the run says so
    props = doc["properties"]
    assert props["RingsOnce"]["message"] == "violated"
    assert props["RangInThePast"]["message"] == "holds"  # its time was judged relative to the node's clock
    assert not doc["errors"]
    # the timer armed with after=2 fired, twice (then it was not armed again), after on_start armed it
    log = (out / "logs" / "alarm1.log").read_text().splitlines()
    fired = [k for k, line in enumerate(log) if "timer ring fired" in line]
    armed = next(k for k, line in enumerate(log) if "armed_at: long ago → t" in line)
    assert len(fired) == 2 and armed < fired[0]
    final = doc["final"]["alarm1"]
    assert final["rang"] == 2 and isinstance(final["last_rang"], int) and final["last_rang"] > CLOCK_BASE - 10
    # the clocks: [runtime] tick_seconds, offsets within max_skew, jumps within the budget
    clocks = doc["clocks"]
    assert clocks["tick_seconds"] == 0.02 and clocks["max_skew"] == 2
    assert all(-2 <= v <= 2 for v in clocks["initial_offsets"].values())
    jumps = [f for f in doc["faults"] if f["kind"] == "clock_jump"]
    assert 1 <= len(jumps) <= 2 == doc["budget"]["clock_jumps"] and doc["used"]["clock_jumps"] == len(jumps)
    assert all(1 <= abs(f["by"]) <= 3 for f in jumps)
    moved = Counter()
    for f in jumps:
        moved[f["node"]] += f["by"]
    assert clocks["offsets"] == {n: v + moved[n] for n, v in clocks["initial_offsets"].items()}
    text = "\n".join(log)
    assert all(f"clock jumped {f['by']:+d} units" in text for f in jumps)  # each in the node's log
    schedule = json.loads((out / "faults.json").read_text())
    assert schedule["clocks"]["initial_offsets"] == clocks["initial_offsets"]


@pytest.fixture(scope="module")
def lease_trace(project) -> Path:
    r = checker.check(project / "lease.toml", out=project / "traces")
    assert r.trace is not None and r.trace.property == "NoOverlap"
    trace = r.trace
    trace.spec = str(project / "lease.toml")
    return trace.save(project / "lease.json")


def replay_live(capsys, *args: str) -> tuple[int, dict]:
    code = main(["replay", "--live", *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


def test_live_replay_of_a_timed_counterexample_reaches_its_violation(project, lease_trace, capsys):
    trace = json.loads(lease_trace.read_text())
    kinds = [s["kind"] for s in trace["steps"][1:]]
    assert "tick" in kinds and "deliver" in kinds and "timer" in kinds  # time passes, a message ages on the way
    out = project / "lease.live"
    code, doc = replay_live(capsys, str(lease_trace), "--out", str(out))
    assert hosts_running(str(out)) == []
    assert code == 0, doc
    assert doc["reproduced"] and doc["steps"] == len(trace["steps"]) - 1
    assert "NoOverlap is violated by the real nodes' states" in doc["message"]
    last = trace["steps"][-1]["state"]
    # the real nodes' times, read relative to their virtual clocks, are the model's
    assert doc["final"]["client1"] == last["client1"] and doc["final"]["server1"] == last["server1"]
    assert doc["final"]["due_in"] == last["due_in"]


def test_a_timed_implementation_that_waits_longer_diverges_at_its_timer(project, lease_trace, capsys):
    out = project / "patient.live"
    code, doc = replay_live(capsys, str(lease_trace), "--impl", "rt_timed_lease:PatientLease", "--out", str(out))
    assert hosts_running(str(out)) == []
    assert code == 1, doc
    d = doc["divergence"]
    assert d["step"] == 0 and d["field"] == "due_in.server1"
    assert d["real"]["expire"] == 4 and d["model"]["expire"] == 3


def test_live_replay_moves_a_clock_by_the_traces_jump(project, capsys):
    (project / "alarm_jumps.toml").write_text(SPEC_ALARM.replace("max_skew = 2", "max_skew = 1"))
    r = checker.check(project / "alarm_jumps.toml", out=project / "traces")
    trace = r.trace
    assert trace is not None
    assert any(s.kind == "clock_jump" for s in trace.steps)  # the shortest way to ring twice: jump ahead
    trace.spec = str(project / "alarm_jumps.toml")
    path = trace.save(project / "alarm_jumps.json")
    out = project / "alarm.live"
    code, doc = replay_live(capsys, str(path), "--out", str(out))
    assert hosts_running(str(out)) == []
    assert code == 0, doc
    assert doc["final"]["alarm1"] == trace.steps[-1].state["alarm1"]
