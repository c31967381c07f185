"""Raft leader election: at most one leader per term with durable currentTerm and votedFor, under a
crash and restart; a volatile votedFor (or currentTerm) lets a restarted server vote twice."""

from dataclasses import replace
from pathlib import Path

import pytest

import checker
from checker import Role, volatile
from checker.engine import Verdict
from checker.model.faults import Faults
from checker.semantics.nodes import from_protocol
from checker.spec import load_spec
from checker.trace import Trace, replay
from protocols.raft_election import RaftElection, Server, Term

ROOT = Path(__file__).resolve().parents[2]


def spec(name):
    return load_spec(ROOT / "specs" / f"{name}.toml")


def servers(state):
    return {k: v for k, v in state.items() if k.startswith("server")}


def double_votes(trace):
    """(voter, term, first candidate, second candidate, steps in between) for every server seen with
    votes for two candidates in one term, read off the trace's states."""
    out, first = [], {}  # (server, term) -> (candidate, step index)
    for i, st in enumerate(trace.steps):
        for name, s in servers(st.state).items():
            if s["votedFor"] is None:
                continue
            key = (name, s["currentTerm"])
            if key not in first:
                first[key] = (s["votedFor"], i)
            elif first[key][0] != s["votedFor"] and all(o[:2] != key for o in out):
                out.append((*key, first[key][0], s["votedFor"], trace.steps[first[key][1] + 1 : i + 1]))
    return out


def test_the_durable_variant_holds_through_a_crash_and_counts_agree_with_a_plain_search():
    s = spec("raft_election_durable")
    r = checker.check(s, out=None)
    assert r.verdict is Verdict.HOLDS and r.ok
    assert r.stats.coverage["crash"] > 0 and r.stats.coverage["restart"] > 0
    system = from_protocol(s.instantiate(), faults=s.faults)
    seen, frontier = set(system.initial), list(system.initial)
    while frontier:
        frontier = [
            t for x in frontier for a in system.actions for t in a.successors(x) if not (t in seen or seen.add(t))
        ]
    assert r.stats.distinct == len(seen)


def test_leaders_are_elected_at_all():
    """ElectionSafety is not vacuous: a leader is elected, in two terms one after the other."""

    class Watched(RaftElection):
        @checker.invariant
        def AtMostOneElection(self, state):
            return sum(len(s.won) for s in state.role("server")) <= 1

    r = checker.check(
        replace(spec("raft_election_durable"), model_class=Watched, invariants=("AtMostOneElection",)), out=None
    )
    assert r.verdict is Verdict.VIOLATED
    won = sorted(t for s in servers(r.trace.steps[-1].state).values() for t in s["won"])
    assert won == [1, 2]


def test_a_volatile_vote_elects_two_leaders_in_one_term():
    r = checker.check(spec("raft_election_volatile_vote"), out=None)
    assert r.ok and r.property == "ElectionSafety"
    # By hand: two timeouts, a RequestVote and its reply for each leader's second vote, a crash and a restart.
    assert len(r.trace.steps) - 1 == 8
    final = servers(r.trace.steps[-1].state)
    leaders = sorted(n for n, s in final.items() if s["won"])
    assert len(leaders) == 2 and final[leaders[0]]["won"] == final[leaders[1]]["won"] == [1]
    # one server voted for two candidates in term 1, and crashed and restarted between the two votes
    ((voter, term, first, second, between),) = double_votes(r.trace)
    assert term == 1 and {first, second} == set(leaders)
    labels = [st.label for st in between]
    assert f"crash {voter}" in labels and f"restart {voter}" in labels
    assert labels.index(f"crash {voter}") < labels.index(f"restart {voter}")


def test_the_committed_counterexample_replays():
    s = spec("raft_election_volatile_vote")
    system = from_protocol(s.instantiate(), faults=s.faults)
    assert replay(system, Trace.load(s.counterexample_path())).ok


def test_without_a_crash_a_volatile_vote_is_harmless():
    s = spec("raft_election_volatile_vote")
    r = checker.check(replace(s, faults=replace(s.faults, crashes=0, restarts=False)), out=None)
    assert r.verdict is Verdict.HOLDS


class ForgetfulTermServer(Server):
    """currentTerm in volatile memory: a restarted server takes an old term's request as news."""

    currentTerm = volatile(Term, initial=0)


class VolatileTerm(RaftElection):
    server = Role(ForgetfulTermServer, "servers")


def test_a_volatile_term_also_elects_two_leaders_in_one_term():
    """Figure 2 makes both currentTerm and votedFor persistent: with the term lost, a restarted server
    sees the request of a term it voted in as a higher term, resets votedFor and votes again."""
    r = checker.check(replace(spec("raft_election_durable"), model_class=VolatileTerm), out=None)
    assert r.verdict is Verdict.VIOLATED and r.property == "ElectionSafety"
    ((voter, term, *_),) = double_votes(r.trace)
    assert term == 1 and {"crash " + voter, "restart " + voter} <= {st.label for st in r.trace.steps}


@pytest.mark.parametrize(
    "faults",
    [
        Faults(timer_firings=2, crashes=1, restarts=True, duplication=1),
        Faults(timer_firings=3),
    ],
    ids=["duplication", "three-timeouts"],
)
def test_election_safety_beyond_the_spec(faults):
    """Beyond the spec's bounds: a duplicated message on top of the crash; three elections (terms up to 2)."""
    r = checker.check(replace(spec("raft_election_durable"), faults=faults), out=None)
    assert r.verdict is Verdict.HOLDS
