"""TwoPhase.tla in the low-level form: counts pinned where TLC confirms them (bench/tla/README.md)."""

import pytest

from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.semantics import from_model
from checker.trace import build_trace, replay
from protocols.two_phase_commit_tla import EarlyCommit, TwoPhase

TLA_INVARIANTS = ("TypeOK", "TCConsistent")  # the TLA+ spec's; the model adds the lemmas of the induct proof
LEMMAS = ("PreparedRecorded", "PreparedMeansVoted", "DecisionSent", "CommitOnlyIfAllPrepared", "CommittedAfterCommit",
          "AbortedAlone")


def run(model, names=TLA_INVARIANTS):
    system = from_model(model)
    invs = [compile_predicate(k, system.invariants[k], system.schema) for k in names]
    return system, search(system, invs, SearchOptions())


# distinct, generated and depth as TLC 2.15 reports them for the project's TwoPhase.tla
@pytest.mark.parametrize(
    "rms, distinct, generated, depth",
    [(3, 288, 1_146, 11), (5, 8_832, 58_146, 17), (7, 296_448, 2_744_706, 23)],
)
def test_counts_equal_tlc(rms, distinct, generated, depth):
    _, r = run(TwoPhase(rms=rms))
    assert r.verdict is Verdict.HOLDS
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (distinct, generated, depth)


def test_every_action_fires():
    _, r = run(TwoPhase(rms=3))
    assert r.stats.never_enabled == []
    assert set(r.stats.coverage) == {
        "TMRcvPrepared", "TMCommit", "TMAbort", "RMPrepare", "RMChooseToAbort", "RMRcvCommitMsg", "RMRcvAbortMsg",
    }


def test_early_commit_shortest_counterexample():
    system, r = run(EarlyCommit(rms=3))
    assert r.verdict is Verdict.VIOLATED and r.property == "TCConsistent"
    trace = build_trace(system, r.path, protocol="p:EarlyCommit", property=r.property, verdict="violated")
    assert [s.label for s in trace.steps[1:]] == [
        "RMPrepare(rm1)", "TMRcvPrepared(rm1)", "TMCommit", "RMChooseToAbort(rm2)", "RMRcvCommitMsg(rm1)",
    ]
    assert replay(system, trace).ok


def test_the_correct_variant_has_no_counterexample_of_any_length():
    _, r = run(TwoPhase(rms=4))
    assert r.verdict is Verdict.HOLDS and r.path is None


@pytest.mark.parametrize("rms", [2, 3, 4])
def test_the_lemmas_of_the_induction_proof_hold_in_every_reachable_state(rms):
    _, r = run(TwoPhase(rms=rms), TLA_INVARIANTS + LEMMAS)
    assert r.verdict is Verdict.HOLDS


def test_the_early_commit_breaks_the_lemma_that_the_tm_commits_only_once_all_prepared():
    _, r = run(EarlyCommit(rms=3), LEMMAS)
    assert (r.verdict, r.property, len(r.path) - 1) == (Verdict.VIOLATED, "CommitOnlyIfAllPrepared", 3)
