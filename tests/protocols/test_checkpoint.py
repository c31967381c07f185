"""Checkpointing: Chandy-Lamport records a state the bank could have been in; uncoordinated checkpoints restore an
orphan; checkpointing after every receive collapses the recovery line to the initial state (the domino effect).

The independent yardsticks: the reachable states of the bank alone (no checkpointing), searched here; a brute force
over every combination of checkpoints for the recovery line; and step counts argued from the protocol."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checker
import protocols.checkpoint as ck
from checker import Role
from checker.semantics.nodes import from_protocol
from checker.spec import load_spec
from checker.trace import Trace, replay

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def system_of(spec, protocol=None):
    net = spec.network
    return from_protocol(
        protocol or spec.instantiate(), ordering=net.get("ordering", "unordered"), capacity=net.get("capacity", 4)
    )


def reachable(system):
    """Every reachable state, by a plain breadth-first search over the system's actions."""
    seen, frontier = set(system.initial), list(system.initial)
    while frontier:
        frontier = [
            t for s in frontier for a in system.actions for t in a.successors(s) if not (t in seen or seen.add(t))
        ]
    return seen


def bank_states(processes=2, sends=ck.SENDS):
    """The global states the bank alone can reach, as (tokens, sent, recv per process; transfers per channel)."""
    app = type("App", (ck.Application,), {"sends": sends})
    bank = type("B", (ck.Bank,), {"p": Role(app, "processes")})(processes=processes)
    system = from_protocol(bank, ordering="fifo", capacity=sends + 1)
    names = bank.names
    out = set()
    for s in reachable(system):
        v = system.schema.view(s)
        ps = dict(zip(names, v.role("p")))
        out.add(
            global_state(
                names,
                {n: (p.tokens, p.sent, p.recv) for n, p in ps.items()},
                {(i, j): len(v.channels[f"{i}→{j}"]) for i in names for j in names if i != j},
            )
        )
    return out


def global_state(names, local, channels):
    return (
        tuple((local[n][0], tuple(local[n][1][q] for q in names), tuple(local[n][2][q] for q in names)) for n in names),
        tuple(channels[i, j] for i in names for j in names if i != j),
    )


def final_state(r):
    return r.trace.steps[-1].state


def labels(r):
    return [st.label for st in r.trace.steps[1:]]


# -- (a) Chandy-Lamport ---------------------------------------------------------------------------------------------


def recorded_states(spec, protocol=None):
    """The recorded global state of every reachable state where the snapshot is complete."""
    system = system_of(spec, protocol)
    model = system.semantics.protocol
    names, out, complete = model.names, set(), 0
    for s in reachable(system):
        ps = model.procs(system.schema.view(s))
        if not all(p.recorded and p.marked == set(names) - {n} for n, p in ps.items()):
            continue
        complete += 1
        out.add(
            global_state(
                names,
                {n: (p.saved_tokens, p.saved_sent, p.saved_recv) for n, p in ps.items()},
                {(i, j): ps[j].channel[i] for i in names for j in names if i != j},
            )
        )
    return out, complete


def test_the_snapshot_holds_and_records_only_states_the_bank_could_have_been_in(tmp_path):
    """Chandy and Lamport's theorem: the recorded global state is reachable from the initial state. Checked against
    the bank searched alone, without markers, here."""
    spec = load_spec(SPECS / "checkpoint_snapshot.toml")
    r = checker.check(spec, out=tmp_path)
    assert r.ok and r.verdict.value == "holds"
    assert r.stats.coverage["p.snapshot"] > 0 and r.stats.coverage["Marker"] > 0
    recorded, complete = recorded_states(spec)
    assert complete > 0 and len(recorded) > 1  # snapshots complete, and record different states
    assert recorded <= bank_states()
    # the same count as the engine's, from the plain search
    assert r.stats.distinct == len(reachable(system_of(spec)))


def test_the_snapshot_records_a_token_in_transit_in_a_channel_state(tmp_path):
    """Not every recorded state is a quiescent one: some snapshot records a transfer on a channel."""
    recorded, _ = recorded_states(load_spec(SPECS / "checkpoint_snapshot.toml"))
    assert any(sum(channels) > 0 for _, channels in recorded)


def test_the_snapshot_holds_beyond_the_spec_bound(monkeypatch, tmp_path):
    """Three transfers per process instead of two."""
    proc = type("P3", (ck.SnapshotProcess,), {"sends": 3})
    monkeypatch.setattr(
        ck, "ChandyLamport3", type("ChandyLamport3", (ck.ChandyLamport,), {"p": Role(proc, "processes")}), raising=False
    )
    text = (SPECS / "checkpoint_snapshot.toml").read_text()
    spec_file = tmp_path / "cl3.toml"
    spec_file.write_text(text.replace(":ChandyLamport", ":ChandyLamport3").replace("capacity = 3", "capacity = 4"))
    r = checker.check(spec_file, out=None)
    assert r.ok and r.verdict.value == "holds"
    spec = load_spec(spec_file)
    recorded, complete = recorded_states(spec)
    assert complete > 0 and recorded <= bank_states(sends=3)


def test_without_fifo_a_transfer_overtaken_by_the_marker_is_recorded_nowhere(tmp_path):
    r = checker.check(SPECS / "checkpoint_snapshot_unordered.toml", out=tmp_path)
    assert r.ok and r.property == "SnapshotTotal"
    # four steps at least: a transfer and a marker sent, then both markers delivered for the snapshot to complete
    assert labels(r) == ["transfer()@p1 (chose p2)", "snapshot()@p1", "Marker p1→p2", "Marker p2→p1"]
    last = final_state(r)
    recorded = sum(last[p]["saved_tokens"] + sum(last[p]["channel"].values()) for p in ("p1", "p2"))
    assert recorded == 1  # of 2 tokens: the one still in flight, sent before p1 recorded, is in no recorded state
    assert last["network"] == [{"msg": {"type": "Transfer"}, "src": "p1", "dst": "p2"}]
    assert last["p1"]["saved_sent"]["p2"] == 1 and last["p2"]["saved_recv"]["p1"] == 0


def test_without_fifo_a_transfer_that_overtakes_the_marker_is_an_orphan(tmp_path):
    r = checker.check(SPECS / "checkpoint_snapshot_unordered.toml", invariants=["ConsistentCut"], out=None)
    assert r.verdict.value == "violated" and r.property == "ConsistentCut"
    last = final_state(r)
    # p2 recorded a transfer from p1 as received that p1 recorded as not yet sent
    assert last["p2"]["saved_recv"]["p1"] > last["p1"]["saved_sent"]["p2"]
    assert "snapshot()@p1" in labels(r)  # p1 recorded first, then sent it: the marker was overtaken
    assert labels(r).index("snapshot()@p1") < labels(r).index("transfer()@p1 (chose p2)")


# -- (b) uncoordinated checkpoints ------------------------------------------------------------------------------------


def test_uncoordinated_checkpoints_restore_an_orphan(tmp_path):
    r = checker.check(SPECS / "checkpoint_uncoordinated.toml", out=tmp_path)
    assert r.ok and r.property == "ConsistentCut"
    # the shortest: a send, its receive, and the receiver's checkpoint (a checkpoint before the receive has nothing
    # to orphan, and a receive needs a send first)
    assert labels(r) == ["transfer()@p1 (chose p2)", "Transfer p1→p2", "checkpoint()@p2"]
    last = final_state(r)
    names = ["p1", "p2"]
    restored = global_state(
        names,
        {n: (last[n]["saved_tokens"], last[n]["saved_sent"], last[n]["saved_recv"]) for n in names},
        {(i, j): last[i]["saved_sent"][j] - last[j]["saved_recv"][i] for i in names for j in names if i != j},
    )
    assert restored not in bank_states()  # no state the bank could have been in
    assert sum(last[n]["saved_tokens"] for n in names) == 3  # three tokens restored of two


# -- (c) the domino effect --------------------------------------------------------------------------------------------


def consistent_lines(checkpoints):
    """Brute force: every combination of one checkpoint per process that orphans no message."""
    names = list(checkpoints)
    out = []
    for idx in product(*(range(len(checkpoints[n])) for n in names)):
        line = dict(zip(names, idx))
        if all(
            checkpoints[j][line[j]].recv[i] <= checkpoints[i][line[i]].sent[j] for i in names for j in names if i != j
        ):
            out.append(line)
    return out


def checkpoints_of(state, names):
    zero = {n: 0 for n in names}
    return {
        n: [ck.Saved(zero, zero)] + [ck.Saved(c["sent"], c["recv"]) for c in state[n]["checkpoints"]] for n in names
    }


@pytest.mark.parametrize("processes, steps", [(2, 4), (3, 6)])
def test_checkpointing_after_every_receive_collapses_the_recovery_line(processes, steps, tmp_path):
    """Every process must receive once to checkpoint, and each receive needs a send: 2 steps per process at least."""
    r = checker.check(SPECS / "checkpoint_domino.toml", params={"processes": processes}, out=tmp_path)
    assert r.verdict.value == "violated" and r.property == "RecoveryLineProgress"
    assert len(r.trace.steps) - 1 == steps
    names = [f"p{i}" for i in range(1, processes + 1)]
    cps = checkpoints_of(final_state(r), names)
    assert all(len(cs) > 1 for cs in cps.values())  # everyone has checkpointed ...
    assert consistent_lines(cps) == [dict.fromkeys(names, 0)]  # ... and only the initial state is consistent


def test_the_committed_domino_is_the_two_way_exchange():
    r = checker.check(SPECS / "checkpoint_domino.toml", out=None)
    assert r.ok
    assert labels(r) == ["transfer()@p1 (chose p2)", "Transfer p1→p2", "transfer()@p2 (chose p1)", "Transfer p2→p1"]


def test_checkpointing_after_every_send_has_no_domino_effect(tmp_path):
    spec = load_spec(SPECS / "checkpoint_after_send.toml")
    r = checker.check(spec, out=tmp_path)
    assert r.ok and r.verdict.value == "holds"
    # independently, in every reachable state: the latest checkpoints are consistent
    system = system_of(spec)
    names, seen_all = system.semantics.protocol.names, 0
    for s in reachable(system):
        state = {
            n: {"checkpoints": [c._asdict() for c in p.checkpoints]}
            for n, p in zip(names, system.schema.view(s).role("p"))
        }
        cps = checkpoints_of(state, names)
        assert dict.fromkeys(names, 0) in consistent_lines(cps)
        latest = {n: len(cs) - 1 for n, cs in cps.items()}
        assert latest in consistent_lines(cps)
        seen_all += all(len(cs) > 1 for cs in cps.values())
    assert seen_all > 0  # the property's premise is reached


@pytest.mark.parametrize("name", ["checkpoint_uncoordinated", "checkpoint_domino", "checkpoint_snapshot_unordered"])
def test_committed_counterexamples_replay(name):
    spec = load_spec(SPECS / f"{name}.toml")
    assert replay(system_of(spec), Trace.load(spec.counterexample_path())).ok


# -- the recovery line against a brute force -------------------------------------------------------------------------


@st.composite
def executions(draw, pattern=None):
    """A random run of 2-4 processes on FIFO channels and the checkpoints each took: at random (pattern None),
    after every receive, or after every send. Each process's checkpoints start with the initial state."""
    n = draw(st.integers(2, 4))
    names = [f"p{i}" for i in range(1, n + 1)]
    sent = {p: dict.fromkeys(names, 0) for p in names}
    recv = {p: dict.fromkeys(names, 0) for p in names}
    cps = {p: [ck.Saved(dict(sent[p]), dict(recv[p]))] for p in names}

    def checkpoint(p):
        cps[p].append(ck.Saved(dict(sent[p]), dict(recv[p])))

    events = draw(
        st.lists(
            st.tuples(st.sampled_from(["send", "recv", "ckpt"]), st.sampled_from(names), st.sampled_from(names)),
            max_size=30,
        )
    )
    for kind, i, j in events:
        if i == j:
            continue
        if kind == "send":
            sent[i][j] += 1
            if pattern == "send":
                checkpoint(i)
        elif kind == "recv" and recv[j][i] < sent[i][j]:  # the head of channel i -> j arrives at j
            recv[j][i] += 1
            if pattern == "recv":
                checkpoint(j)
        elif kind == "ckpt" and pattern is None:
            checkpoint(i)
    return cps


@settings(max_examples=300, deadline=None)
@given(executions())
def test_the_recovery_line_is_the_latest_consistent_combination(cps):
    line = ck.recovery_line(cps)
    lines = consistent_lines(cps)
    assert line in lines
    assert all(all(other[p] <= line[p] for p in cps) for other in lines)  # no consistent line is later anywhere


@settings(max_examples=150, deadline=None)
@given(executions(pattern="send"))
def test_after_every_send_the_recovery_line_is_the_latest_checkpoints(cps):
    assert ck.recovery_line(cps) == {p: len(cs) - 1 for p, cs in cps.items()}


def test_the_domino_by_hand():
    """Randell's picture with two processes: p1 sends to p2, p2 checkpoints and sends back, p1 checkpoints and sends
    again, p2 checkpoints: every checkpoint orphans the next one back to the start."""
    z = {"p1": 0, "p2": 0}
    s = ck.Saved
    cps = {
        "p1": [s(z, z), s({"p1": 0, "p2": 1}, {"p1": 0, "p2": 1})],
        "p2": [s(z, z), s({"p1": 0, "p2": 0}, {"p1": 1, "p2": 0}), s({"p1": 1, "p2": 0}, {"p1": 2, "p2": 0})],
    }
    assert ck.recovery_line(cps) == {"p1": 0, "p2": 0}
    # had p1 sent its second transfer before its checkpoint, the latest checkpoints would be consistent
    cps["p1"][1] = s({"p1": 0, "p2": 2}, {"p1": 0, "p2": 1})
    assert ck.recovery_line(cps) == {"p1": 1, "p2": 2}
