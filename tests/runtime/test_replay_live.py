"""checker/runtime/replay.py and `faultcheck replay --live`: committed counterexamples replayed on real
processes (one per node, every message held by the controller), a diverging implementation reported
with its step and field, bad input refused in one line. No process is left behind."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import hosts_running

import checker
from checker.cli import main

ROOT = Path(__file__).resolve().parents[2]
CX = ROOT / "counterexamples"


def replay_live(capsys, *args: str) -> tuple[int, dict]:
    code = main(["replay", "--live", *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


@pytest.mark.parametrize(
    "name, prop",
    [
        ("primary_backup_ack_early", "NoLostWrite"),  # a crash, a detection
        ("raft_election_volatile_vote", "ElectionSafety"),  # timers, kill, restart from the durable file
        ("three_phase_commit_partition", "Atomicity"),  # a partition, timeouts on unreachable peers
    ],
)
def test_a_committed_counterexample_reproduces_on_real_processes(capsys, tmp_path, name, prop):
    out = tmp_path / "live"
    code, doc = replay_live(capsys, str(CX / f"{name}.json"), "--out", str(out))
    assert hosts_running(str(out)) == []
    assert code == 0, doc
    trace = json.loads((CX / f"{name}.json").read_text())
    assert doc["reproduced"] and doc["steps"] == len(trace["steps"]) - 1
    assert f"{prop} is violated by the real nodes' states" in doc["message"]
    assert not doc["errors"]
    # the real final state is the trace's, field for field (the down node's from its durable file)
    last = trace["steps"][-1]["state"]
    for node in (k for k in last if k in doc["final"] and isinstance(last[k], dict) and k not in ("timers",)):
        if node not in ("detected", "channels"):
            assert doc["final"][node] == last[node], node


def test_the_lost_acknowledged_write_shows_on_real_processes(capsys, tmp_path):
    code, doc = replay_live(capsys, str(CX / "primary_backup_ack_early.json"), "--out", str(tmp_path / "live"))
    assert code == 0
    final = doc["final"]
    assert final["client1"]["acked"] == [1]  # the client was told its write is done
    assert final["down"] == ["server1"]  # the only server that had it was SIGKILLed
    assert final["server1"]["log"] == [1]  # (its durable file: the write died with it)
    assert final["vs1"]["primary"] == "server2" and final["server2"]["log"] == []  # the new primary never saw it


def test_a_lasso_replays_its_prefix_and_one_pass_of_its_cycle(capsys, tmp_path):
    code, doc = replay_live(capsys, str(CX / "two_phase_commit_blocking.json"), "--out", str(tmp_path / "live"))
    assert code == 0, doc
    assert "back to step 3's state" in doc["message"]


PROTOCOL = """
    from checker import Int, Message, Node, Protocol, Role, durable, invariant


    class Bump(Message):
        by = Int(1, 2)


    class Counter(Node):
        count = durable(Int(0, 4), initial=0)

        def on_bump(self, msg, src):
            self.count = min(4, self.count + msg.by)


    class Client(Node):
        def on_start(self):
            self.send("counter1", Bump(1))
            self.send("counter1", Bump(2))


    class Good(Protocol):
        counter = Role(Counter, 1)
        client = Role(Client, 1)
        messages = (Bump,)

        @invariant
        def Small(self, state):
            return state.counter1.count < 3


    class SloppyCounter(Counter):
        def on_bump(self, msg, src):  # the implementation's bug: counts every bump as one
            self.count = min(4, self.count + 1)


    class Sloppy(Good):
        counter = Role(SloppyCounter, 1)
"""


def test_a_diverging_implementation_is_reported_with_its_step_and_field(capsys, tmp_path):
    (tmp_path / "bumps_live.py").write_text(textwrap.dedent(PROTOCOL))
    spec = tmp_path / "bumps.toml"
    spec.write_text(
        'format = 1\nprotocol = "bumps_live:Good"\ninvariants = ["Small"]\nexpected = "violated"\nviolates = "Small"\n'
    )
    r = checker.check(spec, out=tmp_path / "traces")
    assert not r.ok or r.trace is not None
    trace = r.trace
    assert trace is not None and trace.property == "Small"
    trace.spec = str(spec)
    path = trace.save(tmp_path / "bumps.json")
    labels = [s.label for s in trace.steps[1:]]
    # the model's own Node classes reproduce it
    code, doc = replay_live(capsys, str(path), "--out", str(tmp_path / "good"))
    assert code == 0, doc
    # an implementation whose handler differs diverges at the first delivery where it matters
    out = tmp_path / "sloppy"
    code, doc = replay_live(capsys, str(path), "--impl", "bumps_live:Sloppy", "--out", str(out))
    assert hosts_running(str(out)) == []
    assert code == 1
    d = doc["divergence"]
    first_big = next(i for i, lab in enumerate(labels, 1) if lab.startswith("Bump(2)"))
    assert d["field"] == "counter1.count" and d["step"] == first_big
    assert d["real"] == d["model"] - 1
    assert not doc["reproduced"]


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(["replay", "--live", str(CX / "heartbeat_unfair.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "low-level model" in err[0]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "faultcheck-trace/1", "steps": ')
    assert main(["replay", "--live", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not valid JSON" in err[0] and "Traceback" not in err[0]
