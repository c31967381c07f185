"""Primary-backup: the correct variant holds under a crash; each broken one fails as its docstring says."""

from dataclasses import replace

import pytest

import checker
import protocols.primary_backup as pb
from checker import Role, invariant, request
from checker.engine import Verdict
from checker.semantics.nodes import from_protocol
from checker.spec import check, load_spec
from checker.trace import Trace, replay

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def run(name, tmp_path):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    return spec, checker.check(spec, out=tmp_path)


def test_the_correct_variant_holds_with_a_crashed_server_and_counts_agree_with_a_plain_search(tmp_path):
    spec, r = run("primary_backup_ok", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0 and r.stats.coverage["detect"] > 0
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    seen, frontier = set(system.initial), list(system.initial)
    while frontier:
        frontier = [
            t for s in frontier for a in system.actions for t in a.successors(s) if not (t in seen or seen.add(t))
        ]
    assert r.stats.distinct == len(seen)


def labels(r):
    return [st.label for st in r.trace.steps[1:]]


def test_acknowledging_early_loses_the_write_when_the_primary_crashes(tmp_path):
    spec, r = run("primary_backup_ack_early", tmp_path)
    assert r.ok and r.property == "NoLostWrite"
    assert labels(r) == [
        "write()@client1",
        "Write(1) client1→server1",
        "Ack(1) server1→client1",
        "crash server1",
        "vs1 detects the crash of server1",
    ]
    final = r.trace.steps[-1].state
    assert final["client1"]["acked"] == [1] and final["server2"]["log"] == []


def test_self_promotion_gives_a_stale_read(tmp_path):
    spec, r = run("primary_backup_split_brain", tmp_path)
    assert r.ok and r.property == "FreshReads"
    steps = labels(r)
    assert steps[0] == "timer suspect@server2" and steps[-1].startswith("ReadReply(1, 0) server1→")
    final = r.trace.steps[-1].state
    # two servers believe they are primary, in different epochs
    assert final["server1"]["primary"] == "server1" and final["server2"]["primary"] == "server2"


@pytest.mark.parametrize(
    "name", ["primary_backup_ack_early", "primary_backup_split_brain", "primary_backup_no_transfer"]
)
def test_committed_counterexamples_replay(name):
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    assert replay(system, Trace.load(spec.counterexample_path())).ok


def test_the_failure_detector_never_reports_a_live_node(tmp_path):
    spec = load_spec(ROOT / "specs" / "primary_backup_ok.toml")
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    (detect,) = [a for a in system.actions if a.kind == "detect"]
    seen, frontier = set(system.initial), list(system.initial)
    checked = 0
    while frontier and checked < 3000:
        nxt = []
        for s in frontier:
            v = system.schema.view(s)
            for (watcher, peer), t in detect.instances(s):
                checked += 1
                assert peer in v.down and watcher not in v.down
                assert peer in system.schema.view(t).detected[watcher]
            for a in system.actions:
                for t in a.successors(s):
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
    assert checked > 0


def test_a_crashed_client_changes_no_view(tmp_path):
    """The view service is told of every crash; a client's is none of its business."""
    text = (
        (ROOT / "specs" / "primary_backup_ok.toml")
        .read_text()
        .replace('crashable = ["server"]', 'crashable = ["server", "client"]')
    )
    spec = tmp_path / "pb.toml"
    spec.write_text(text)
    r = check(spec, out=None)
    assert r.ok and r.verdict.value == "holds", r.message


# -- crash-recovery and state transfer ---------------------------------------------------------------


def test_restarted_servers_rejoin_through_a_state_transfer_and_lose_nothing(tmp_path):
    spec, r = run("primary_backup_state_transfer", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok
    for step in ("restart", "Join", "Transfer", "State", "Caught", "Readmit"):
        assert r.stats.coverage[step] > 0, step


class PromotedJoiner(pb.StateTransfer):
    """Reachability as a violated invariant: a server re-admitted after a restart becomes primary."""

    @invariant
    def NoPromotedJoiner(self, state):
        return not (
            state.crashes == 2
            and state.vs1.epoch == 3
            and state.vs1.primary == "server2"
            and "server1" in state.down
            and state.client1.acked == {1}
        )


class PromotedJoinerNoTransfer(PromotedJoiner):
    vs = Role(pb.EagerViewService, 1)


@pytest.mark.parametrize("model, log", [(PromotedJoiner, [1]), (PromotedJoinerNoTransfer, [])])
def test_the_rejoined_server_is_promoted_with_the_acknowledged_write_only_after_a_transfer(model, log):
    """The correct variant does reach the dangerous failover (server2 out, back, then primary after server1
    crashes), and there server2 holds write 1; re-admitted without a transfer, it does not."""
    spec = replace(
        load_spec(ROOT / "specs" / "primary_backup_state_transfer.toml"),
        model_class=model,
        invariants=("NoPromotedJoiner",),
    )
    r = checker.check(spec, out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "NoPromotedJoiner"
    final = r.trace.steps[-1].state
    assert final["server2"]["log"] == log and final["client1"]["acked"] == [1]
    steps = labels(r)
    assert steps.index("restart server2") < steps.index("Join server2→vs1") < steps.index("crash server1")
    transferred = [s for s in steps if s.startswith(("State(", "Caught("))]
    assert len(transferred) == (2 if log else 0)  # the log came over, and server2 acknowledged it


def test_readmitted_without_transfer_a_server_is_promoted_with_a_stale_log(tmp_path):
    spec, r = run("primary_backup_no_transfer", tmp_path)
    assert r.ok and r.property == "NoLostWrite" and len(r.trace.steps) - 1 == 9
    steps = labels(r)
    assert steps.index("restart server2") < steps.index("Join server2→vs1") < steps.index("crash server1")
    assert not any(s.startswith(("Transfer(", "State(", "Caught(")) for s in steps)
    final = r.trace.steps[-1].state
    # write 1 was acknowledged while server2 was out; server2, readmitted with its old log, is now the primary
    assert final["client1"]["acked"] == [1] and final["vs1"]["primary"] == "server2"
    assert final["server2"]["log"] == [] and final["server1"]["log"] == [1] and final["down"] == ["server1"]


class WriteTwiceThenRead(pb.Client):
    max_reads = 1

    @request
    def read(self):
        if self.next > self.max_writes and not self.waiting:  # read once both writes are acknowledged
            super().read()


class TwoWritesAndARead(pb.StateTransfer):
    client = Role(WriteTwiceThenRead, 1)


class ServesWhileRecovering(pb.RecoveringServer):
    def on_read(self, msg, src):  # broken: answers from its log on disk before it is re-admitted
        if self.primary == self.id:
            self.send(src, pb.ReadReply(msg.id, self.log[-1] if self.log else 0))


class StaleRecoveringPrimary(TwoWritesAndARead):
    server = Role(ServesWhileRecovering, "servers")


def test_a_recovering_server_serves_no_read_until_readmitted():
    """With reads (two writes, then a read; one crash and restart), reads stay fresh; a restarted former
    primary that answered from its disk before being re-admitted would return a value older than write 2."""
    base = replace(
        load_spec(ROOT / "specs" / "primary_backup_state_transfer.toml"),
        model_class=TwoWritesAndARead,
        invariants=None,
        faults=replace(load_spec(ROOT / "specs" / "primary_backup_state_transfer.toml").faults, crashes=1),
    )
    r = checker.check(base, out=None)
    assert r.verdict is Verdict.HOLDS
    r = checker.check(replace(base, model_class=StaleRecoveringPrimary), out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "FreshReads"
    steps = labels(r)
    assert steps.index("crash server1") < steps.index("restart server1") < steps.index("Ack(2) server2→client1")
    assert steps[-1].startswith("ReadReply(1, ") and "server1→client1" in steps[-1]
    assert r.trace.steps[-1].state["client1"]["acked"] == [1, 2]


# -- a recorded client history: linearizable across a failover ----------------------------------------------------


def reachable(system):
    seen, frontier = set(system.initial), list(system.initial)
    while frontier:
        frontier = [
            t for s in frontier for a in system.actions for t in a.successors(s) if not (t in seen or seen.add(t))
        ]
    return seen


def linearizable_by_brute_force(events, initial=None):
    """Some order of the completed operations and of any subset of the pending ones respects real time (an
    operation completed before another began comes first) and the register's semantics. `events`: the
    state's history, or (process, kind, f, value) tuples."""
    import itertools

    ops, open_ = [], {}
    for i, (process, kind, f, value) in enumerate(tuple(e)[:4] for e in events):
        if kind == "invoke":
            open_[process] = len(ops)
            ops.append([i, float("inf"), f, value])
        else:
            op = ops[open_.pop(process)]
            op[1] = i
            if f == "read":
                op[3] = value
    done = [o for o in ops if o[1] != float("inf")]
    pending = [o for o in ops if o[1] == float("inf")]
    for k in range(len(pending) + 1):
        for extra in itertools.combinations(pending, k):
            for order in itertools.permutations(done + list(extra)):
                if any(b[1] < a[0] for j, a in enumerate(order) for b in order[j + 1 :]):
                    continue  # b completed before a began, yet comes after it
                value, ok = initial, True
                for _, end, f, v in order:
                    if f == "write":
                        value = v
                    elif end != float("inf") and v != value:
                        ok = False
                        break
                if ok:
                    return True
    return False


def test_the_recorded_history_is_linearizable_across_a_failover(tmp_path):
    spec, r = run("primary_backup_linearizable", tmp_path)
    assert r.verdict is Verdict.HOLDS and r.ok and spec.consistency_properties() == ("Linearizable",)
    system = from_protocol(spec.instantiate(), faults=spec.faults)
    states = reachable(system)
    assert r.stats.distinct == len(states)
    views = [system.schema.view(s) for s in states]
    histories = {v.history for v in views}
    assert all(linearizable_by_brute_force(h) for h in histories)
    # the brute force has teeth: a read of the initial value after an acknowledged write is no linearization
    h = next(h for h in histories if len(h) == 4 and h[2].f == "read")
    assert [tuple(e)[:4] for e in h] == [
        ("client1", "invoke", "write", 1),
        ("client1", "ok", "write", 1),
        ("client1", "invoke", "read", None),
        ("client1", "ok", "read", 1),
    ]
    assert not linearizable_by_brute_force([tuple(e)[:4] for e in h[:3]] + [("client1", "ok", "read", None)])
    # the histories that matter are reached: the whole workload, and reads answered by the promoted backup
    assert any(len(h) == 8 and all(e.kind in ("invoke", "ok") for e in h) for h in histories)
    failed_over = [
        v.history for v in views if "server1" in v.down and v.vs1.primary == "server2" and v.client1.reads == 2
    ]
    assert any(h[-1].kind == "ok" and h[-1].f == "read" and h[-1].value == 2 for h in failed_over)


class LinearizableAckEarly(pb.LinearizablePrimaryBackup):
    server = Role(pb.EarlyServer, "servers")


def test_acknowledging_early_gives_a_history_that_is_not_linearizable():
    spec = replace(
        load_spec(ROOT / "specs" / "primary_backup_linearizable.toml"),
        model_class=LinearizableAckEarly,
        invariants=("OnePrimaryPerEpoch",),
    )
    r = checker.check(spec, out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "Linearizable"
    history = r.trace.steps[-1].state["history"]
    assert [(e["kind"], e["f"], e["value"]) for e in history][-2:] == [("invoke", "read", None), ("ok", "read", None)]
    assert "crash server1" in labels(r)
