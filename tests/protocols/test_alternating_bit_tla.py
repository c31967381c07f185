"""AlternatingBit.tla under MCAlternatingBit's CONSTRAINT: TLC's counts, pinned (bench/tla/README.md)."""

import pytest

import checker
from checker import Verdict
from checker.semantics import from_model
from checker.trace import replay
from protocols.alternating_bit_tla import AlternatingBit, SndWithoutAck

INVARIANTS = ["ABTypeInv", "CurrentBitCarriesSent"]


def run(model):
    return checker.check(model, invariants=INVARIANTS, check_deadlock=True, out=None)


# distinct, generated, depth as TLC 2.15 reports them for MCAlternatingBit.tla (bench/tla/README.md); the first
# row is the tlaplus Examples manifest's MCAlternatingBit.cfg. The old meaning of @constraint (a failing state
# stored, counted and checked) gave 428 states, depth 11 for it. With both lengths 0 every successor fails
# SeqConstraint: 2 initial states, each with 2 successors generated and dropped (SndNewValue, SndAck), and no
# deadlock, since TLC decides deadlock before the constraint filters.
@pytest.mark.parametrize(
    "data, msg_q_len, ack_q_len, distinct, generated, depth",
    [(2, 2, 2, 240, 1_392, 10), (2, 1, 1, 80, 352, 7), (1, 0, 0, 2, 6, 1)],
)
def test_counts_equal_tlc(data, msg_q_len, ack_q_len, distinct, generated, depth):
    r = run(AlternatingBit(data=data, msg_q_len=msg_q_len, ack_q_len=ack_q_len))
    assert r.verdict is Verdict.HOLDS
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (distinct, generated, depth)


def test_every_action_fires():
    r = run(AlternatingBit())
    assert r.stats.never_enabled == []
    assert set(r.stats.coverage) == {"SndNewValue", "ReSndMsg", "RcvMsg", "SndAck", "RcvAck", "LoseMsg", "LoseAck"}


def test_send_without_ack_reuses_a_bit_after_three_sends():
    # TLC 2.15 on the same change (bench/tla/README.md) reports this behaviour: its last state has 3 messages, past
    # SeqConstraint, and is still checked, as TLC checks the invariants of every new successor before the constraint
    model = SndWithoutAck()
    r = run(model)
    assert (r.verdict, r.property) == (Verdict.VIOLATED, "CurrentBitCarriesSent")
    assert [s.label for s in r.trace.steps[1:]] == ["SndNewValue(d1)", "SndNewValue(d1)", "SndNewValue(d2)"]
    assert replay(from_model(model), r.trace).ok


@pytest.mark.parametrize("spec, verdict", [("specs/alternating_bit_tla.toml", "holds"),
                                           ("specs/alternating_bit_tla_send_without_ack.toml", "violated")])
def test_specs_meet_their_expectations(spec, verdict):
    r = checker.check(spec, out=None)
    assert r.ok and r.verdict.value == verdict
