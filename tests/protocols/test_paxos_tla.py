"""Paxos.tla in the low-level form: counts pinned where TLC confirms them (bench/tla/README.md), the
bitmask actions against a literal transcription of the TLA+ module written here, Consistency against
a brute-force count of the chosen values, and the two broken variants' counterexamples."""

import itertools
from collections import deque

import pytest

from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.semantics import from_model
from checker.trace import build_trace, replay
from protocols.paxos_tla import Paxos, PaxosAnyValue, PaxosBrokenPromise

INVARIANTS = ("TypeOK", "Consistency")


def run(model, names=INVARIANTS):
    system = from_model(model)
    invs = [compile_predicate(k, system.invariants[k], system.schema) for k in names]
    return system, search(system, invs, SearchOptions())


# distinct, generated and depth as TLC 2.15 reports them for bench/tla/Paxos.tla (acceptors, MaxBallot, values)
@pytest.mark.parametrize(
    "acceptors, max_ballot, values, distinct, generated, depth",
    [
        (3, 1, 2, 3_921, 23_839, 17),
        (1, 1, 2, 45, 158, 9),
        (2, 1, 2, 145, 611, 13),
        (3, 0, 2, 73, 316, 9),
        (2, 2, 2, 1_501, 8_222, 19),
        (3, 1, 3, 6_801, 41_833, 17),
    ],
)
def test_counts_equal_tlc(acceptors, max_ballot, values, distinct, generated, depth):
    _, r = run(Paxos(acceptors=acceptors, max_ballot=max_ballot, values=values))
    assert r.verdict is Verdict.HOLDS
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (distinct, generated, depth)


# -- a literal transcription of Paxos.tla over Python sets, as a reference for the bitmask actions ----------


class Reference:
    """Paxos.tla's Next, message by message over a frozenset of tuples. Each successor is listed once per
    witness of the \\E quantifiers that produce it, as TLC enumerates them."""

    def __init__(self, acceptors, max_ballot, values):
        self.A = [f"a{i}" for i in range(1, acceptors + 1)]
        self.B = range(max_ballot + 1)
        self.V = [f"v{i}" for i in range(1, values + 1)]
        self.quorums = [
            set(Q) for k in range(acceptors + 1) for Q in itertools.combinations(self.A, k) if 2 * k > acceptors
        ]

    def init(self):
        n = len(self.A)
        return ((-1,) * n, (-1,) * n, (None,) * n, frozenset())

    def next(self, state):
        maxBal, maxVBal, maxVal, msgs = state
        out = []
        for b in self.B:  # Phase1a(b)
            out.append((maxBal, maxVBal, maxVal, msgs | {("1a", b)}))
        for b, v in itertools.product(self.B, self.V):  # Phase2a(b, v)
            if any(m[0] == "2a" and m[1] == b for m in msgs):
                continue
            for Q in self.quorums:
                q1b = [m for m in msgs if m[0] == "1b" and m[1] in Q and m[2] == b]
                q1bv = [m for m in q1b if m[3] >= 0]
                if not all(any(m[1] == a for m in q1b) for a in Q):
                    continue
                witnesses = [m for m in q1bv if m[4] == v and all(m[3] >= mm[3] for mm in q1bv)]
                for _ in range(1 if not q1bv else len(witnesses)):
                    out.append((maxBal, maxVBal, maxVal, msgs | {("2a", b, v)}))
        for i, a in enumerate(self.A):
            for m in msgs:  # Phase1b(a)
                if m[0] == "1a" and m[1] > maxBal[i]:
                    out.append((put(maxBal, i, m[1]), maxVBal, maxVal, msgs | {("1b", a, m[1], maxVBal[i], maxVal[i])}))
            for m in msgs:  # Phase2b(a)
                if m[0] == "2a" and m[1] >= maxBal[i]:
                    out.append(
                        (
                            put(maxBal, i, m[1]),
                            put(maxVBal, i, m[1]),
                            put(maxVal, i, m[2]),
                            msgs | {("2b", a, m[1], m[2])},
                        )
                    )
        return out


def put(t, i, x):
    return t[:i] + (x,) + t[i + 1 :]


def reference_search(ref):
    """Distinct states, states generated (initial included) and depth, by a breadth-first search."""
    init = ref.init()
    level, seen, generated, depth = {init: 1}, {init}, 1, 1
    todo = deque([init])
    while todo:
        s = todo.popleft()
        for t in ref.next(s):
            generated += 1
            if t not in seen:
                seen.add(t)
                level[t] = level[s] + 1
                depth = max(depth, level[t])
                todo.append(t)
    return seen, generated, depth


def as_reference(system, raw):
    d = system.schema.decode(raw)
    msgs = set()
    for m in d["msgs"]:
        kind = type(m).__name__
        if kind == "Msg1a":
            msgs.add(("1a", m.bal))
        elif kind == "Msg1b":
            msgs.add(("1b", m.acc, m.bal, m.mbal, m.mval))
        elif kind == "Msg2a":
            msgs.add(("2a", m.bal, m.val))
        else:
            msgs.add(("2b", m.acc, m.bal, m.val))
    return (tuple(d["maxBal"].values()), tuple(d["maxVBal"].values()), tuple(d["maxVal"].values()), frozenset(msgs))


def reachable(system):
    seen, todo = set(system.initial), list(system.initial)
    while todo:
        s = todo.pop()
        for a in system.actions:
            for t in a.successors(s):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
    return seen


# MaxBallot 2 is the least where "the value of the highest vote reported" differs from "any value reported"
@pytest.mark.parametrize("params", [(2, 1, 2), (3, 0, 2), (2, 2, 2), (3, 1, 2)])
def test_the_bitmask_actions_are_the_tla_modules(params):
    ref_states, ref_generated, ref_depth = reference_search(Reference(*params))
    system, r = run(Paxos(acceptors=params[0], max_ballot=params[1], values=params[2]))
    assert {as_reference(system, s) for s in reachable(system)} == ref_states
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (len(ref_states), ref_generated, ref_depth)


# -- Consistency, checked by brute force ------------------------------------------------------------------


def chosen(ref_state, ref):
    """The values some quorum voted for in one ballot (module Voting's chosen), from the 2b messages."""
    msgs = ref_state[3]
    return {v for b in ref.B for v in ref.V if any(all(("2b", a, b, v) in msgs for a in Q) for Q in ref.quorums)}


@pytest.mark.parametrize("variant, params", [(PaxosAnyValue, (3, 1, 2)), (Paxos, (2, 2, 2))])
def test_the_consistency_formula_agrees_with_a_brute_force_count_of_chosen_values(variant, params):
    system = from_model(variant(acceptors=params[0], max_ballot=params[1], values=params[2]))
    pred = compile_predicate("Consistency", system.invariants["Consistency"], system.schema)
    ref = Reference(*params)
    answers = {}
    for s in reachable(system):
        answers[s] = pred.check(s)
        assert answers[s] == (len(chosen(as_reference(system, s), ref)) <= 1)
    # the broken variant reaches states with two chosen values: both answers of the formula are exercised
    assert set(answers.values()) == ({True, False} if variant is PaxosAnyValue else {True})


@pytest.mark.parametrize("params", [(3, 1, 2), (2, 2, 2)])
def test_the_lectures_inductive_invariant_holds_in_every_reachable_state(params):
    """Conjuncts of the lecture's Inv: maxBal >= maxVBal; an acceptor's vote is its latest 2b; every 2b
    follows its ballot's 2a; at most one 2a per ballot; a 1b reports a vote below its ballot."""
    system = from_model(Paxos(acceptors=params[0], max_ballot=params[1], values=params[2]))
    for raw in reachable(system):
        maxBal, maxVBal, maxVal, msgs = as_reference(system, raw)
        for i, a in enumerate(f"a{k}" for k in range(1, params[0] + 1)):
            assert maxBal[i] >= maxVBal[i]
            votes = [m for m in msgs if m[0] == "2b" and m[1] == a]
            if maxVBal[i] == -1:
                assert maxVal[i] is None and not votes
            else:
                assert ("2b", a, maxVBal[i], maxVal[i]) in msgs and all(m[2] <= maxVBal[i] for m in votes)
        for m in msgs:
            if m[0] == "2b":
                assert ("2a", m[2], m[3]) in msgs
            if m[0] == "1b":
                assert m[3] < m[2]
        proposals = [m[1] for m in msgs if m[0] == "2a"]
        assert len(proposals) == len(set(proposals))


# -- the broken variants ------------------------------------------------------------------------------------


def counterexample(variant):
    system, r = run(variant(acceptors=3, max_ballot=1, values=2))
    assert r.verdict is Verdict.VIOLATED and r.property == "Consistency"
    trace = build_trace(system, r.path, protocol=f"p:{variant.__name__}", property=r.property, verdict="violated")
    assert replay(system, trace).ok
    ref_states = [as_reference(system, s) for s in r.path]
    assert chosen(ref_states[-1], Reference(3, 1, 2)) == {"v1", "v2"}
    return trace, ref_states[-1][3]


def test_any_value_proposes_v2_although_a_1b_reports_the_vote_for_v1():
    trace, msgs = counterexample(PaxosAnyValue)
    assert len(trace.steps) - 1 == 12
    # ballot 1's 2a ignores the highest vote its quorum's 1b messages report
    assert ("2a", 1, "v2") in msgs
    reports = {m[4] for m in msgs if m[0] == "1b" and m[2] == 1 and m[3] >= 0}
    assert reports == {"v1"}


def test_broken_promise_votes_below_the_ballot_it_promised():
    trace, msgs = counterexample(PaxosBrokenPromise)
    assert len(trace.steps) - 1 == 12
    # some acceptor voted in ballot 0 after promising ballot 1: its 1b for ballot 1 reports no vote
    broken = {m[1] for m in msgs if m[0] == "1b" and m[2] == 1 and m[3] == -1} & {
        m[1] for m in msgs if m[0] == "2b" and m[2] == 0
    }
    assert broken  # impossible in Paxos: once its 1b for ballot 1 is sent, maxBal[a] = 1 forbids a vote in 0


def test_the_correct_variant_keeps_consistency_beyond_the_spec():
    _, r = run(Paxos(acceptors=2, max_ballot=2, values=2))
    assert r.verdict is Verdict.HOLDS and r.path is None
