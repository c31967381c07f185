"""Single-decree Paxos: Agreement and Validity hold with an acceptor crash and restart; breaking the
promise, the durability of the acceptor's state or the choice of value breaks Agreement."""

from dataclasses import replace
from pathlib import Path

import checker
from checker import Option, Role, volatile
from checker.engine import Verdict
from checker.model.faults import Faults
from checker.semantics.nodes import from_protocol
from checker.spec import load_spec
from checker.trace import Trace, replay
from protocols.paxos import Acceptor, Ballot, Paxos, Proposer, Value

ROOT = Path(__file__).resolve().parents[2]


def spec(name):
    return load_spec(ROOT / "specs" / f"{name}.toml")


def chosen_at(state):
    """{(ballot, value)} accepted by a majority of the acceptors, read off the trace's JSON state."""
    acceptors = [v for k, v in state.items() if k.startswith("acceptor")]
    counts = {}
    for a in acceptors:
        for ballot, value in a["votes"]:
            if value is not None:
                counts[ballot, value] = counts.get((ballot, value), 0) + 1
    return {bv for bv, n in counts.items() if 2 * n > len(acceptors)}


def test_the_correct_variant_holds_through_an_acceptor_crash_and_counts_agree_with_a_plain_search():
    s = spec("paxos_ok")
    r = checker.check(s, out=None)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0 and r.stats.coverage["restart"] > 0 and r.stats.coverage["Accept"] > 0
    system = from_protocol(s.instantiate(), faults=s.faults)
    seen, frontier = set(system.initial), list(system.initial)
    while frontier:
        frontier = [
            t for x in frontier for a in system.actions for t in a.successors(x) if not (t in seen or seen.add(t))
        ]
    assert r.stats.distinct == len(seen)


def test_a_value_does_get_chosen_in_the_correct_variant():
    """Agreement is not vacuous: some reachable state has a chosen value (and a second ballot after it)."""

    class Watched(Paxos):
        @checker.invariant
        def NothingChosen(self, state):
            return not self.chosen(state)

    r = checker.check(replace(spec("paxos_ok"), model_class=Watched, invariants=("NothingChosen",)), out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "NothingChosen"
    assert len(chosen_at(r.trace.steps[-1].state)) == 1


def test_breaking_the_promise_chooses_two_values():
    r = checker.check(spec("paxos_lower_ballot"), out=None)
    assert r.ok and r.property == "Agreement"
    # By hand: two ballots (2 timer steps), each needs prepares and promises from a majority (2 + 2 each),
    # and each value needs a majority of accepts (2 each): 2 + 8 + 4 = 14 steps at least.
    assert len(r.trace.steps) - 1 == 14
    final = r.trace.steps[-1].state
    chosen = chosen_at(final)
    assert {v for _, v in chosen} == {1, 2} and {b for b, _ in chosen} == {1, 2}
    # the culprit: an acceptor accepted a ballot lower than the one it had promised just before
    broken = [
        (name, st.state[name]["accepted_ballot"])
        for prev, st in zip(r.trace.steps, r.trace.steps[1:])
        for name in st.state
        if name.startswith("acceptor")
        and st.state[name]["accepted_ballot"] != prev.state[name]["accepted_ballot"]
        and st.state[name]["accepted_ballot"] < prev.state[name]["promised"]
    ]
    assert broken and all(b == 1 for _, b in broken)
    assert not any(st.label.startswith(("crash", "restart")) for st in r.trace.steps[1:])


def test_the_committed_counterexample_replays():
    s = spec("paxos_lower_ballot")
    system = from_protocol(s.instantiate(), faults=s.faults)
    assert replay(system, Trace.load(s.counterexample_path())).ok


class AmnesiacAcceptor(Acceptor):
    """The acceptor keeps its promise and accepted proposal in volatile memory."""

    promised = volatile(Ballot, initial=0)
    accepted_ballot = volatile(Ballot, initial=0)
    accepted_value = volatile(Option(Value), initial=None)


class AmnesiacPaxos(Paxos):
    acceptor = Role(AmnesiacAcceptor, "acceptors")


def test_the_acceptors_state_must_be_durable_a_restart_that_forgets_it_chooses_two_values():
    r = checker.check(replace(spec("paxos_ok"), model_class=AmnesiacPaxos), out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "Agreement"
    labels = [st.label for st in r.trace.steps[1:]]
    assert "crash acceptor1" in labels and "restart acceptor1" in labels
    assert len({v for _, v in chosen_at(r.trace.steps[-1].state)}) == 2
    # the same model without the crash holds: the fault is what breaks it
    r = checker.check(replace(spec("paxos_ok"), model_class=AmnesiacPaxos, faults=Faults(timer_firings=2)), out=None)
    assert r.verdict is Verdict.HOLDS


class StubbornProposer(Proposer):
    """Proposes its own value whatever the promises report."""

    def on_promise(self, msg, src):
        self.best_value = None
        super().on_promise(msg, src)


class StubbornPaxos(Paxos):
    proposer = Role(StubbornProposer, "proposers")


def test_a_proposer_must_adopt_the_highest_accepted_value():
    r = checker.check(replace(spec("paxos_ok"), model_class=StubbornPaxos, faults=Faults(timer_firings=2)), out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "Agreement"
    # value 1 chosen at ballot 1 first; proposer2 then hears of it from the majority's overlap and ignores it
    assert chosen_at(r.trace.steps[-1].state) == {(1, 1), (2, 2)}
    assert any(st.label.startswith("Promise(2, 1, 1)") for st in r.trace.steps)


class BroadcastProposer(Proposer):
    """Sends prepare(n) to every acceptor rather than to some majority."""

    def quorum(self):
        return self.nodes("acceptor")


class BroadcastPaxos(Paxos):
    proposer = Role(BroadcastProposer, "proposers")


def test_agreement_holds_when_prepare_goes_to_every_acceptor():
    """Beyond the spec's modelling choice: prepare(n) broadcast instead of sent to some majority."""
    r = checker.check(replace(spec("paxos_ok"), model_class=BroadcastPaxos, faults=Faults(timer_firings=2)), out=None)
    assert r.verdict is Verdict.HOLDS and r.stats.coverage["Prepare"] > 0


def test_agreement_holds_when_any_acceptor_may_crash():
    """Beyond the spec's bound: the spec crashes acceptor1 only (the acceptors are interchangeable)."""
    s = spec("paxos_ok")
    r = checker.check(replace(s, faults=replace(s.faults, crashable=("acceptor",))), out=None)
    assert r.verdict is Verdict.HOLDS and r.stats.coverage["crash"] > 0
