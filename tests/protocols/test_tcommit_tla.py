"""TCommit.tla in the low-level form: counts pinned where TLC confirms them (bench/tla/README.md),
the reachable states derived by hand, TwoPhase checked to refine it, and the hasty variant's trace."""

import itertools

import pytest

from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.semantics import from_model
from checker.trace import build_trace, replay
from protocols.tcommit_tla import TCommit, TCommitHasty
from protocols.two_phase_commit_tla import TwoPhase

INVARIANTS = ("TCTypeOK", "TCConsistent")


def run(model, names=INVARIANTS, **options):
    system = from_model(model)
    invs = [compile_predicate(k, system.invariants[k], system.schema) for k in names]
    terminals = [compile_predicate(k, p, system.schema) for k, p in system.terminals.items()]
    return system, search(system, invs, SearchOptions(**options), terminals=terminals)


def reachable(system):
    """Every reachable state and every (state, successor) pair, by a plain search written here."""
    seen, edges, todo = set(system.initial), set(), list(system.initial)
    while todo:
        s = todo.pop()
        for a in system.actions:
            for t in a.successors(s):
                edges.add((s, t))
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
    return seen, edges


def decode_rm_states(system, states):
    return {tuple(system.schema.decode(s)["rmState"].values()) for s in states}


# distinct, generated and depth as TLC 2.15 reports them for bench/tla/TCommit.tla (run with -deadlock:
# the states where every RM has decided have no successor)
@pytest.mark.parametrize(
    "rms, distinct, generated, depth",
    [(3, 34, 94, 7), (5, 274, 1_296, 11), (7, 2_314, 15_758, 15)],
)
def test_counts_equal_tlc(rms, distinct, generated, depth):
    _, r = run(TCommit(rms=rms))
    assert r.verdict is Verdict.HOLDS
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (distinct, generated, depth)


@pytest.mark.parametrize("rms", [1, 2, 3, 4, 6])
def test_reachable_states_are_the_hand_derived_ones(rms):
    """Before any commit, every mix of working, prepared and aborted can be reached (abort needs only
    notCommitted); after one, only prepared and committed: 3^n + 2^n - 1 states. The longest shortest
    path prepares every RM, then commits every RM: 2n steps, depth 2n + 1."""
    expected = {c for c in itertools.product(("working", "prepared", "aborted"), repeat=rms)}
    expected |= {c for c in itertools.product(("prepared", "committed"), repeat=rms) if "committed" in c}
    system, r = run(TCommit(rms=rms))
    assert decode_rm_states(system, reachable(system)[0]) == expected
    assert (r.stats.distinct, r.stats.depth) == (3**rms + 2**rms - 1, 2 * rms + 1)


def test_only_decided_states_have_no_successor():
    # check_deadlock is on: a stuck state that is not @terminal (every RM decided) would be a violation
    system, r = run(TCommit(rms=4))
    assert r.verdict is Verdict.HOLDS
    states, edges = reachable(system)
    stuck = states - {s for s, _ in edges}
    assert stuck and all(set(system.schema.decode(s)["rmState"].values()) <= {"committed", "aborted"} for s in stuck)


@pytest.mark.parametrize("rms", [2, 3])
def test_two_phase_commit_refines_tcommit(rms):
    """TwoPhase.tla implements TCommit.tla: every step of TwoPhase, seen through rmState alone, is a
    step of TCommit or leaves rmState unchanged (the refinement mapping of Gray & Lamport)."""
    spec = from_model(TCommit(rms=rms))
    spec_states, spec_edges = reachable(spec)
    spec_steps = {(spec.schema.decode(s)["rmState"], spec.schema.decode(t)["rmState"]) for s, t in spec_edges}
    impl = from_model(TwoPhase(rms=rms))
    impl_states, impl_edges = reachable(impl)
    assert decode_rm_states(impl, impl_states) == decode_rm_states(spec, spec_states)  # here every state is used
    for s, t in impl_edges:
        before, after = impl.schema.decode(s)["rmState"], impl.schema.decode(t)["rmState"]
        assert before == after or (before, after) in spec_steps, (before, after)


def test_hasty_commit_shortest_counterexample():
    system, r = run(TCommitHasty(rms=3))
    assert r.verdict is Verdict.VIOLATED and r.property == "TCConsistent"
    trace = build_trace(system, r.path, protocol="p:TCommitHasty", property=r.property, verdict="violated")
    assert [s.label for s in trace.steps[1:]] == ["Prepare(rm1)", "Decide(rm2)", "Decide(rm1)"]
    assert replay(system, trace).ok
    last = system.schema.decode(r.path[-1])["rmState"]
    assert (last["rm1"], last["rm2"]) == ("committed", "aborted")


def test_hasty_commit_adds_exactly_the_states_with_a_commit_beside_a_working_or_aborted_rm():
    # without canCommit, a prepared RM commits whatever the others are doing (until an abort is ruled out)
    spec, _ = run(TCommit(rms=3))
    hasty_system, r = run(TCommitHasty(rms=3), names=("TCTypeOK",))
    assert r.verdict is Verdict.HOLDS
    hasty = decode_rm_states(hasty_system, reachable(hasty_system)[0])
    correct = decode_rm_states(spec, reachable(spec)[0])
    assert correct < hasty
    assert all("committed" in c and set(c) - {"prepared", "committed"} for c in hasty - correct)
