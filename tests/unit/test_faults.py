"""Fault steps (checker/semantics/faults.py): each fault's semantics pinned on small protocols,
budgets never exceeded, and counterexamples under random budgets replay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Bool, Ids, Int, Message, Node, Protocol, Role, Set, durable, invariant, timer, volatile
from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.model import ModelError
from checker.model.faults import FaultError, Faults
from checker.semantics.nodes import from_protocol
from checker.trace import build_trace, replay


class Token(Message):
    n = Int(0, 2)


class Peer(Node):
    sent = durable(Int(0, 2), initial=0)
    seen = volatile(Set(Ids("peer")), initial=frozenset())
    busy = volatile(Bool(), initial=False)

    def on_start(self):
        self.busy = False
        if self.id == "peer1" and self.sent < 2:
            self.sent += 1
            self.send("peer2", Token(self.sent))
            self.set_timer("tick")

    def on_token(self, msg, src):
        self.seen = self.seen | {src}
        self.busy = True

    @timer
    def tick(self):
        pass


class Pair(Protocol):
    peer = Role(Peer, 2)
    messages = (Token,)

    @invariant
    def Quiet(self, state):
        return not state.peer2.busy


def states(system):
    seen = set(system.initial)
    frontier = list(seen)
    edges = []
    while frontier:
        nxt = []
        for s in frontier:
            for a in system.actions:
                for _, t in a.instances(s):
                    edges.append((s, a.kind, t))
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
    return seen, edges


def view(system, s):
    return system.schema.view(s)


def test_a_crashed_node_takes_no_step_and_receives_nothing():
    system = from_protocol(Pair(), faults=Faults(crashes=1))
    seen, edges = states(system)
    for s, kind, t in edges:
        v, w = view(system, s), view(system, t)
        if "peer2" in v.down:
            assert w.peer2 == v.peer2 or kind == "restart"  # never changed while down
            assert kind != "deliver" or sum(1 for e in w.network if e.dst == "peer2") == sum(
                1 for e in v.network if e.dst == "peer2"
            )
    # messages to a crashed node stay in flight
    assert any("peer2" in view(system, s).down and view(system, s).network for s in seen)


def test_a_crash_clears_timers_and_volatile_fields_and_keeps_durable_ones():
    system = from_protocol(Pair(), faults=Faults(crashes=1))
    _, edges = states(system)
    crashes = [(s, t) for s, kind, t in edges if kind == "crash"]
    assert crashes
    for s, t in crashes:
        (who,) = view(system, t).down - view(system, s).down
        before, after = getattr(view(system, s), who), getattr(view(system, t), who)
        assert after.sent == before.sent  # durable
        assert after.seen == frozenset() and after.busy is False  # volatile: lost
        assert view(system, t).timers[who] == frozenset()
        assert view(system, t).crashes == view(system, s).crashes + 1


def test_a_restart_runs_start_up_code_with_durable_fields_restored():
    system = from_protocol(Pair(), faults=Faults(crashes=2, restarts=True))
    _, edges = states(system)
    restarts = [(s, t) for s, kind, t in edges
                if kind == "restart" and view(system, s).down - view(system, t).down == {"peer1"}]
    assert restarts
    for s, t in restarts:
        b, a = view(system, s).peer1, view(system, t).peer1
        # on_start sends again while the durable counter allows: the counter went on from where it was
        assert a.sent == min(b.sent + 1, 2)
        assert "peer1" not in view(system, t).down


def test_without_restarts_nobody_comes_back_and_budgets_hold():
    system = from_protocol(Pair(), faults=Faults(crashes=2, max_down=1))
    seen, edges = states(system)
    assert not any(kind == "restart" for _, kind, _ in edges)
    assert all(len(view(system, s).down) <= 1 and view(system, s).crashes <= 1 for s in seen)


def test_nothing_crosses_a_partition_until_heal():
    system = from_protocol(Pair(), faults=Faults(partitions=1))
    seen, edges = states(system)
    parted = [s for s in seen if view(system, s).partition]
    assert parted
    for s, kind, _ in edges:
        if view(system, s).partition:
            assert kind != "deliver"  # the only message crosses between the two peers
    labels = {a.kind: [] for a in system.actions}
    for s in seen:
        for a in system.actions:
            for params, _ in a.instances(s):
                labels[a.kind].append(params)
    assert ("{peer1}", "{peer2}") in labels["partition"]
    assert all(view(system, s).partitions <= 1 for s in seen)


def test_loss_and_duplication_are_bounded():
    system = from_protocol(Pair(), faults=Faults(loss=1, duplication=1))
    seen, edges = states(system)
    assert max(view(system, s).drops for s in seen) == 1
    assert max(view(system, s).duplicates for s in seen) == 1
    assert max(len(view(system, s).network) for s in seen) == 2  # one duplicate at most
    assert any(k == "drop" for _, k, _ in edges) and any(k == "duplicate" for _, k, _ in edges)


@pytest.mark.parametrize(
    "faults, needle",
    [
        (Faults(max_down=3), "only 2 nodes"),
        (Faults(crashable=("nobody",)), "'nobody' is no role or node"),
        (Faults(partitions=1, splits=((("peer1",), ("peer3",)),)), "'peer3' is no node"),
        (Faults(partitions=1, splits=((("peer1",), ("peer1", "peer2")),)), "disjoint"),
    ],
)
def test_impossible_fault_settings_are_errors(faults, needle):
    with pytest.raises(ModelError, match=needle):
        from_protocol(Pair(), faults=faults)


def test_fault_budgets_are_validated():
    with pytest.raises(FaultError, match="crashes"):
        Faults(crashes=-1)
    with pytest.raises(ModelError, match="duplication"):
        from_protocol(Pair(), network="set", faults=Faults(duplication=1))


@settings(max_examples=25, deadline=None)
@given(
    crashes=st.integers(0, 2),
    restarts=st.booleans(),
    partitions=st.integers(0, 1),
    loss=st.integers(0, 1),
    duplication=st.integers(0, 1),
)
def test_counterexamples_under_random_fault_budgets_replay(crashes, restarts, partitions, loss, duplication):
    faults = Faults(crashes=crashes, restarts=restarts, partitions=partitions, loss=loss, duplication=duplication)
    system = from_protocol(Pair(), faults=faults)
    invs = [compile_predicate(n, f, system.schema) for n, f in system.invariants.items()]
    r = search(system, invs, SearchOptions(check_deadlock=False))
    assert r.verdict is Verdict.VIOLATED and r.property == "Quiet"
    assert len(r.path) == 2  # deliver the token: the shortest way, whatever the faults
    trace = build_trace(system, r.path, protocol="t:Pair", property=r.property, verdict="violated")
    assert replay(system, trace).ok


@pytest.mark.parametrize(
    "table, needle",
    [
        ("[faults]\ncrash = 1\n", "faults: unknown key 'crash'"),
        ("[faults]\ncrashes = \"one\"\n", "faults.crashes: expected int"),
        ("[faults]\nmax_down = 7\n", "only 4 nodes"),
        ("[faults]\npartitions = 1\nsplits = [[[\"tm1\"], [\"rm9\"]]]\n", "'rm9' is no node"),
        ("[faults]\nsplits = [\"tm1\"]\n", "[[side], [side]]"),
        ("[network]\nloss = -1\n", "network.loss"),
    ],
)
def test_bad_fault_tables_in_a_spec_are_one_line_errors(tmp_path, capsys, table, needle):
    from checker.cli import main

    spec = tmp_path / "f.toml"
    spec.write_text('protocol = "protocols.two_phase_commit:TwoPhaseCommit"\nexpected = "holds"\n' + table)
    assert main(["check", str(spec), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(spec) in err and needle in err


def test_a_spec_with_faults_turns_them_on(tmp_path):
    import checker

    spec = tmp_path / "f.toml"
    spec.write_text('protocol = "protocols.two_phase_commit:TwoPhaseCommit"\nexpected = "holds"\n'
                    "[params]\nrms = 2\n[faults]\ncrashes = 1\n[network]\nloss = 1\n")
    r = checker.check(spec, out=tmp_path)
    assert r.ok and r.stats.coverage["crash"] > 0 and r.stats.coverage["drop"] > 0


def test_timer_firings_can_be_bounded():
    class Ticker(Node):
        n = durable(Int(0, 5), initial=0)

        def on_start(self):
            self.set_timer("tick")

        @timer
        def tick(self):
            self.n = min(self.n + 1, 5)
            self.set_timer("tick")

    class Clock(Protocol):
        ticker = Role(Ticker, 1)
        messages = (Token,)

    free, _ = states(from_protocol(Clock()))
    bounded_system = from_protocol(Clock(), faults=Faults(timer_firings=2))
    bounded, _ = states(bounded_system)
    assert max(view(bounded_system, s).ticker1.n for s in bounded) == 2
    assert len(free) == 6 and len(bounded) == 3


# -- FIFO channels ----------------------------------------------------------------------------------


class Sender(Node):
    def on_start(self):
        if self.id == "end1":
            self.send("end2", Token(1))
            self.send("end2", Token(2))

    def on_token(self, msg, src):
        self.got = self.got + (msg.n,)

    got = volatile(__import__("checker").Seq(Int(0, 2), max_len=3), initial=())


class Line(Protocol):
    end = Role(Sender, 2)
    messages = (Token,)


def received(**kw):
    system = from_protocol(Line(), **kw)
    seen, _ = states(system)
    return {view(system, s).end2.got for s in seen}


def test_fifo_channels_deliver_in_sending_order():
    assert received() == {(), (1,), (2,), (1, 2), (2, 1)}  # unordered: either order
    assert received(ordering="fifo") == {(), (1,), (1, 2)}


def test_fifo_loss_drops_any_message_and_duplication_copies_in_place():
    assert received(ordering="fifo", faults=Faults(loss=1)) == {(), (1,), (2,), (1, 2)}
    assert received(ordering="fifo", faults=Faults(duplication=1)) == {(), (1,), (1, 1), (1, 2), (1, 1, 2), (1, 2, 2)}


def test_a_full_fifo_channel_is_an_error_naming_the_fix():
    from checker.semantics.nodes import HandlerError

    with pytest.raises(HandlerError, match=r"already holds 1 messages.*raise \[network\] capacity"):
        from_protocol(Line(), ordering="fifo", capacity=1)
    with pytest.raises(ModelError, match="ordering"):
        from_protocol(Line(), ordering="lifo")


def test_fifo_traces_replay():
    class Watch(Line):
        @invariant
        def InOrder(self, state):
            return state.end2.got != (2,)

    system = from_protocol(Watch(), ordering="fifo", faults=Faults(loss=1))
    invs = [compile_predicate(n, f, system.schema) for n, f in system.invariants.items()]
    r = search(system, invs, SearchOptions(check_deadlock=False))
    trace = build_trace(system, r.path, protocol="t:Watch", property=r.property, verdict="violated")
    assert [s.label for s in trace.steps[1:]] == ["drop Token(1) end1→end2", "Token(2) end1→end2"]
    assert replay(system, trace).ok


@pytest.mark.parametrize("ordering", ["unordered", "fifo"])
def test_messages_to_a_crashed_node_wait_or_are_lost_per_setting(ordering):
    for lose in (False, True):
        system = from_protocol(Line(), ordering=ordering, faults=Faults(crashes=1, lose_on_crash=lose))
        seen, _ = states(system)
        def in_flight(v):
            return any(v.channels.values()) if ordering == "fifo" else bool(v.network)

        waiting = [s for s in seen if "end2" in view(system, s).down and view(system, s).end2.got == ()
                   and in_flight(view(system, s))]
        assert bool(waiting) is not lose


# -- what on_peer_crash reports: detector = "perfect" | "partition" -----------------------------------


class Watcher(Node):
    heard = volatile(Set(Ids("watcher")), initial=frozenset())

    def on_peer_crash(self, peer):
        self.heard = self.heard | {peer}


class Watchers(Protocol):
    watcher = Role(Watcher, 3)
    messages = (Token,)


def _down(v):
    return getattr(v, "down", frozenset()) if "down" in v._schema.variables else frozenset()


def _suspected(v, i, j, by_partition):
    """Whether node j is down, or (with the partition detector) cut off from node i: from the state alone."""
    if j in _down(v):
        return True
    part = set(getattr(v, "partition", ()) or ())
    return by_partition and bool(part) and ((i in part) != (j in part))


def _check_detections(faults):
    """Every path, with a reference of who was told of whom since the suspicion began, kept beside the state:
    a node is told only of a suspected peer, never twice in one suspicion, and told of every one in the end."""
    by_partition = faults.detector == "partition"
    system = from_protocol(Watchers(), faults=faults)
    names = [f"watcher{k}" for k in (1, 2, 3)]
    start = [(s, frozenset()) for s in system.initial]
    seen, frontier, detections = set(start), list(start), []
    while frontier:
        nxt = []
        for s, told in frontier:
            v = system.schema.view(s)
            enabled_detect = False
            for step, t in system.labelled_successors(s):
                now = set(told)
                if step.kind == "detect":
                    enabled_detect = True
                    i, j, *why = step.params
                    assert i not in _down(v) and (i, j) not in told
                    assert _suspected(v, i, j, by_partition)
                    assert why == ([] if j in _down(v) else ["unreachable"])
                    detections.append((i, j, tuple(why)))
                    now.add((i, j))
                w = system.schema.view(t)
                now = frozenset((i, j) for i, j in now if i not in _down(w) and _suspected(w, i, j, by_partition))
                if (t, now) not in seen:
                    seen.add((t, now))
                    nxt.append((t, now))
            if not enabled_detect:  # complete: every live node has been told of everyone it suspects now
                for i in names:
                    if i not in _down(v):
                        assert {j for j in names if j != i and _suspected(v, i, j, by_partition)} <= {
                            j for a, j in told if a == i
                        }
        frontier = nxt
    return system, detections


def test_the_perfect_detector_reports_only_crashed_peers():
    for faults in (Faults(crashes=2, restarts=True, partitions=1), Faults(crashes=1, partitions=2, detector="perfect")):
        _, detections = _check_detections(faults)
        assert detections and all(why == () for _, _, why in detections)
    assert "detected" not in from_protocol(Watchers(), faults=Faults(partitions=1)).schema.offsets  # nothing to tell


@pytest.mark.parametrize(
    "faults",
    [
        Faults(partitions=2, detector="partition"),
        Faults(crashes=1, partitions=1, detector="partition"),
        Faults(crashes=2, restarts=True, partitions=1, detector="partition"),
        Faults(
            crashes=1, restarts=True, partitions=2, detector="partition", splits=((("watcher1",), ("watcher2", "watcher3")),)
        ),
    ],
)
def test_the_partition_detector_also_reports_each_cut_off_peer_once_per_partition(faults):
    system, detections = _check_detections(faults)
    assert any(why == ("unreachable",) for _, _, why in detections)
    assert any(a.name == "detect" for a in system.actions)


def test_the_partition_detector_without_partitions_behaves_as_the_perfect_one():
    def projected(detector):
        system = from_protocol(Watchers(), faults=Faults(crashes=2, restarts=True, detector=detector))
        seen, edges = states(system)
        keep = [k for k in system.schema.offsets if k != "detected"]
        return {tuple(repr(getattr(system.schema.view(s), k)) for k in keep) for s in seen}, len(edges)

    assert projected("perfect") == projected("partition")


def test_a_partition_cut_off_peer_is_suspected_in_a_trace_and_replays():
    system = from_protocol(Watchers(), faults=Faults(partitions=1, detector="partition"))
    view_of = system.schema.view
    done = {"watcher2", "watcher3"}
    goal = next(s for s in states(system)[0] if view_of(s).watcher1.heard == done and not view_of(s).partition)
    path, s = [goal], goal
    parents = {}
    frontier = list(system.initial)
    reached = set(frontier)
    while goal not in reached:
        nxt = []
        for u in frontier:
            for _, t in system.labelled_successors(u):
                if t not in reached:
                    reached.add(t)
                    parents[t] = u
                    nxt.append(t)
        frontier = nxt
    while s in parents:
        s = parents[s]
        path.append(s)
    path.reverse()
    trace = build_trace(system, path, protocol="t:Watchers", property="P", verdict="violated")
    assert replay(system, trace).ok
    labels = [step["label"] for step in trace.to_json()["steps"][1:]]
    assert labels[0].startswith("partition") and labels[-1] == "heal"
    assert labels.count("watcher1 times out on watcher2 (unreachable)") == 1


def test_the_detector_setting_is_validated(tmp_path, capsys):
    from checker.cli import main

    with pytest.raises(FaultError, match="detector"):
        Faults(detector="psychic")
    for value, needle in (('"psychic"', "'perfect', 'partition'"), ("1", "faults.detector: expected str")):
        spec = tmp_path / "f.toml"
        spec.write_text('protocol = "protocols.two_phase_commit:TwoPhaseCommit"\nexpected = "holds"\n'
                        f"[faults]\npartitions = 1\ndetector = {value}\n")
        assert main(["check", str(spec), "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(spec) in err and needle in err
