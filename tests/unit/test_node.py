"""The message-passing form: definitions, handler semantics, memoised vs direct execution,
the determinism check (checker/model/node.py, checker/semantics/nodes.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Bool, Enum, Ids, Int, Message, Node, Param, Protocol, Role, Set, durable, invariant, timer, volatile
from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.model import ModelError
from checker.semantics.nodes import HandlerError, NodeSemantics, from_protocol
from protocols.two_phase_commit import EarlyCommit, TwoPhaseCommit

# -- a small protocol used by several tests -------------------------------------------------------


class Ping(Message):
    n = Int(0, 3)


class Pong(Message):
    n = Int(0, 3)


class Pinger(Node):
    sent = durable(Int(0, 3), initial=0)
    got = volatile(Set(Ids("ponger")), initial=frozenset())

    def on_start(self):
        self.broadcast(Ping(0), role="ponger")
        self.set_timer("retry")

    def on_pong(self, msg, src):
        self.got = self.got | {src}
        self.cancel_timer("retry")

    @timer
    def retry(self):
        if self.sent < 2:
            self.sent += 1
            self.broadcast(Ping(self.sent), role="ponger")
            self.set_timer("retry")


class Ponger(Node):
    last = durable(Int(0, 3), initial=0)
    mood = volatile(Enum("calm", "grumpy"), initial="calm")

    def on_ping(self, msg, src):
        self.last = msg.n
        if self.choose(["answer", "sulk"]) == "answer":
            self.send(src, Pong(msg.n))
        else:
            self.mood = "grumpy"


class PingPong(Protocol):
    pongers = Param(2, lo=1, hi=3)
    pinger = Role(Pinger, 1)
    ponger = Role(Ponger, "pongers")
    messages = (Ping, Pong)

    @invariant
    def NeverMoreThanSent(self, state):
        return all(p.last <= state.pinger1.sent for p in state.role("ponger"))


def reachable(system, limit=200_000):
    seen = set(system.initial)
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            for a in system.actions:
                for t in a.successors(s):
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
        assert len(seen) < limit
    return seen


# -- definitions are validated when classes are made ---------------------------------------------


def test_a_field_without_a_durability_is_an_error_naming_the_fix():
    with pytest.raises(ModelError, match=r"durable\(.*\) or volatile"):

        class Bad(Node):
            x = Int(0, 1)


def test_durable_without_initial_value_is_an_error():
    with pytest.raises(ModelError, match="needs an initial value"):
        durable(Bool())


def test_a_handler_for_an_undeclared_message_is_an_error_naming_the_message_list():
    class Lost(Message):
        pass

    class Listener(Node):
        def on_lost(self, msg, src):
            pass

    with pytest.raises(ModelError, match=r"on_lost handles no message .* add its Message class"):

        class P(Protocol):
            a = Role(Listener, 1)
            messages = (Ping,)


def test_a_handler_with_the_wrong_arity_is_an_error():
    with pytest.raises(ModelError, match=r"takes 3 arguments"):

        class Bad(Node):
            def on_ping(self, msg):
                pass


def test_duplicate_messages_and_unknown_roles_are_errors():
    with pytest.raises(ModelError, match="listed twice"):

        class P1(Protocol):
            a = Role(Ponger, 1)
            messages = (Ping, Ping, Pong)

    with pytest.raises(ModelError, match=r"Ids\('nobody'\) names no role"):

        class Odd(Node):
            friends = volatile(Set(Ids("nobody")), initial=frozenset())

        class P2(Protocol):
            a = Role(Odd, 1)
            messages = (Ping,)


def test_a_field_name_reserved_by_node_is_an_error():
    with pytest.raises(ModelError, match="reserved"):

        class Bad(Node):
            send = volatile(Bool(), initial=False)


def test_message_construction_checks_fields():
    assert Ping(2) == Ping(n=2)
    assert Ping(2) != Pong(2)
    with pytest.raises(ModelError, match="no field 'm'"):
        Ping(m=1)
    with pytest.raises(ModelError, match="missing field 'n'"):
        Ping()


# -- handler semantics --------------------------------------------------------------------------


def test_initial_states_boot_every_node_and_branch_on_choose():
    sem = NodeSemantics(PingPong(pongers=2))
    (init,) = sem.initial_states()  # on_start does not choose: one initial state
    view = sem.schema.view(init)
    assert view.pinger1.sent == 0 and view.timers["pinger1"] == {"retry"}
    assert sorted((e.msg.n, e.src, e.dst) for e in view.network) == [(0, "pinger1", "ponger1"), (0, "pinger1", "ponger2")]


def test_a_handler_never_writes_into_the_state_it_was_called_on():
    sem = NodeSemantics(PingPong(pongers=1), memoize=False)
    (init,) = sem.initial_states()
    before = sem.schema.decode(init)
    succs = sem.run(init, 1, "on_ping", (Ping(0), "pinger1"), init[sem.NET])
    assert sem.schema.decode(init) == before
    assert len(succs) == 2  # answer or sulk
    moods = sorted(sem.schema.view(t).ponger1.mood for t in succs)
    assert moods == ["calm", "grumpy"]


def test_effects_are_recorded_in_order_and_a_later_cancel_wins():
    class Flip(Node):
        x = volatile(Bool(), initial=False)

        def on_start(self):
            self.set_timer("t")
            self.cancel_timer("t")
            self.send(self.id, Ping(1))

        @timer
        def t(self):
            pass

        def on_ping(self, msg, src):
            self.x = True

    class P(Protocol):
        a = Role(Flip, 1)
        messages = (Ping,)

    sem = NodeSemantics(P())
    (init,) = sem.initial_states()
    view = sem.schema.view(init)
    assert view.timers["a1"] == frozenset()
    assert [e.msg for e in view.network] == [Ping(1)]


def test_a_value_outside_its_field_type_names_the_handler_field_and_value():
    class Over(Node):
        x = volatile(Int(0, 1), initial=0)

        def on_start(self):
            self.x = 5

    class P(Protocol):
        a = Role(Over, 1)
        messages = (Ping,)

    with pytest.raises(HandlerError, match=r"Over\.on_start on a1: a1\.x: 5 is outside \[0, 1\]"):
        NodeSemantics(P()).initial_states()


def test_a_send_to_no_node_is_an_error():
    class Lost(Node):
        def on_start(self):
            self.send("nobody", Ping(0))

    class P(Protocol):
        a = Role(Lost, 1)
        messages = (Ping,)

    with pytest.raises(HandlerError, match="send to 'nobody', which is no node"):
        NodeSemantics(P()).initial_states()


# -- memoised and direct execution agree ----------------------------------------------------------


@pytest.mark.parametrize(
    "protocol",
    [PingPong(pongers=1), pytest.param(PingPong(pongers=2), marks=pytest.mark.slow),  # slow: 1.5-2 s per network
     TwoPhaseCommit(rms=2), TwoPhaseCommit(rms=3), EarlyCommit(rms=3)],
    ids=lambda p: f"{p.name}{p.params}",
)
@pytest.mark.parametrize("network", ["multiset", "set"])
def test_memoised_and_direct_handlers_give_the_same_successors_everywhere(protocol, network):
    fast = from_protocol(protocol, network=network)
    slow = from_protocol(protocol, network=network, memoize=False)
    states = reachable(fast)
    assert states == reachable(slow)
    for s in states:
        for a, b in zip(fast.actions, slow.actions):
            assert sorted(a.successors(s)) == sorted(b.successors(s))
            assert sorted(a.successors(s)) == sorted(t for _, t in a.instances(s))


@settings(max_examples=60, deadline=None)
@given(rm=st.integers(0, 2), local=st.sampled_from(["working", "prepared", "committed", "aborted"]),
       msg=st.sampled_from(["Prepare", "Commit", "Abort"]))
def test_memoised_outcomes_equal_a_fresh_run_for_random_inputs(rm, local, msg):
    from protocols import two_phase_commit as m

    sem_fast, sem_slow = NodeSemantics(TwoPhaseCommit(rms=3)), NodeSemantics(TwoPhaseCommit(rms=3), memoize=False)
    (init,) = sem_fast.initial_states()
    i = 1 + rm
    slots = sem_fast.records["rm"].encode({"state": local})
    s = list(init)
    s[sem_fast.node_slices[i]] = slots
    s = tuple(s)
    handler = getattr(m, msg).handler_name()
    args = (getattr(m, msg)(), "tm1")
    for _ in range(2):  # the second call is served from the memo
        assert sem_fast.run(s, i, handler, args, s[sem_fast.NET]) == sem_slow.run(s, i, handler, args, s[sem_slow.NET])


# -- the determinism check ----------------------------------------------------------------------


class Elect(Message):
    pass


class Chooser(Node):
    members = volatile(Set(Ids("n")), initial=frozenset())
    leader = volatile(Enum("none", "n1", "n2", "n3"), initial="none")

    def on_start(self):
        self.members = frozenset(self.nodes("n"))
        self.send(self.id, Elect())

    def on_elect(self, msg, src):
        for m in self.members:  # "the first member": depends on set iteration order
            self.leader = m
            break


class Election(Protocol):
    n = Role(Chooser, 3)
    messages = (Elect,)


class SortedChooser(Chooser):
    def on_elect(self, msg, src):
        self.leader = sorted(self.members)[0]


class SortedElection(Protocol):
    n = Role(SortedChooser, 3)
    messages = (Elect,)


def _check(protocol, **kw):
    system = from_protocol(protocol, **kw)
    return search(system, [], SearchOptions(check_deadlock=False))


def test_the_determinism_check_catches_a_handler_that_iterates_a_set_of_strings():
    assert _check(Election()).verdict is Verdict.HOLDS  # unnoticed without the check
    r = _check(Election(), check_determinism=True)
    assert r.verdict is Verdict.ERROR
    assert "Chooser.on_elect" in r.reason and "not deterministic" in r.reason
    assert "iterating a set" in r.reason


def test_the_determinism_check_passes_a_handler_that_sorts_first():
    assert _check(SortedElection(), check_determinism=True).verdict is Verdict.HOLDS


def test_the_determinism_check_catches_module_state():
    calls = []

    class Counter(Node):
        x = volatile(Int(0, 9), initial=0)

        def on_start(self):
            self.send(self.id, Elect())

        def on_elect(self, msg, src):
            calls.append(1)
            self.x = len(calls) % 10

    class P(Protocol):
        a = Role(Counter, 1)
        messages = (Elect,)

    r = _check(P(), check_determinism=True)
    assert r.verdict is Verdict.ERROR and "module or class variable" in r.reason


# -- two-phase commit as nodes --------------------------------------------------------------------


def _run(protocol, **kw):
    system = from_protocol(protocol)
    invs = [compile_predicate(n, f, system.schema) for n, f in system.invariants.items()]
    return system, search(system, invs, SearchOptions(check_deadlock=False, **kw))


def test_two_phase_commit_holds_and_its_count_agrees_with_a_plain_search():
    system, r = _run(TwoPhaseCommit(rms=3))
    assert r.verdict is Verdict.HOLDS
    assert r.stats.distinct == len(reachable(system))


def test_early_commit_counterexample_is_the_four_steps_of_the_docstring():
    from checker.trace import build_trace

    system, r = _run(EarlyCommit(rms=3))
    assert r.verdict is Verdict.VIOLATED and r.property == "Consistent"
    trace = build_trace(system, r.path, protocol="p:EarlyCommit", property=r.property, verdict="violated")
    labels = [s.label for s in trace.steps[1:]]
    assert len(labels) == 4
    # a yes vote, a no vote, the TM commits on the yes, the yes-voter commits
    assert labels[0].startswith("Prepare tm1→") and labels[1].startswith("Prepare tm1→")
    assert labels[2].startswith("Prepared ") and labels[2].endswith("→tm1")
    assert labels[3].startswith("Commit tm1→")
    final = system.schema.view(r.path[-1])
    assert {rm.state for rm in final.role("rm")} >= {"committed", "aborted"}


def test_a_map_field_may_start_with_one_value_for_every_key_of_a_param_sized_role():
    from checker import Ids, Map, Param, Set, volatile
    from checker.semantics.nodes import from_protocol

    class Ping(Message):
        pass

    class Member(Node):
        seen = volatile(Map(Ids("n"), Set(Ids("n"))), initial=frozenset())
        count = volatile(Map(Ids("n"), Int(0, 2)), initial=1)

    class Group(Protocol):
        members = Param(3, "members", lo=1, hi=4)
        n = Role(Member, count="members")
        messages = (Ping,)

    for k in (2, 3):
        system = from_protocol(Group(members=k))
        (s,) = system.initial
        view = system.schema.view(s)
        names = [f"n{i}" for i in range(1, k + 1)]
        assert dict(view.n1.count) == {n: 1 for n in names}
        assert dict(view.n2.seen) == {n: frozenset() for n in names}
