"""tcp.tla as MCtcp checks it (CONSTRAINT and ACTION_CONSTRAINT): TLC's counts, pinned (bench/tla/README.md)."""

import checker
from checker import Verdict
from protocols.tcp_tla import Tcp, TcpOpensRemoved

INVARIANTS = ["TypeOK", "Inv"]


def run(model):
    return checker.check(model, invariants=INVARIANTS, check_deadlock=True, out=None)


def test_counts_equal_tlc():
    # TLC 2.15 on bench/tla/MCtcp.cfg, and the tlaplus Examples manifest: 1,182 distinct, 6,322 generated (the
    # opens that SingleActiveOpen filters and the successors NoRetransmission drops included), depth 14, no deadlock
    r = run(Tcp())
    assert r.verdict is Verdict.HOLDS
    assert (r.stats.distinct, r.stats.generated, r.stats.depth) == (1_182, 6_322, 14)


def view(m, tcb, connstate, network):
    return m.schema.view(m.schema.encode({"tcb": tcb, "connstate": connstate, "network": network}))


def test_the_action_constraint_reads_both_states_of_a_step():
    m = Tcp()
    both = {"A": True, "B": True}
    closed = view(m, {"A": False, "B": True}, {"A": "CLOSED", "B": "LISTEN"}, {"A": (), "B": ()})
    active = view(m, both, {"A": "SYN-SENT", "B": "LISTEN"}, {"A": (), "B": ("SYN",)})
    passive = view(m, both, {"A": "LISTEN", "B": "LISTEN"}, {"A": (), "B": ()})
    sent = view(m, both, {"A": "LISTEN", "B": "SYN-SENT"}, {"A": ("SYN",), "B": ()})
    assert not m.SingleActiveOpen(closed, active)  # ACTIVE_OPEN(A, B)
    assert not m.SingleActiveOpen(closed, passive)  # PASSIVE_OPEN(A, B)
    assert not m.SingleActiveOpen(passive, sent)  # SEND(B, A)
    assert m.SingleActiveOpen(active, closed)  # the reverse step is no open
    assert m.SingleActiveOpen(closed, view(m, {"A": False, "B": True}, {"A": "CLOSED", "B": "CLOSED"},
                                           {"A": (), "B": ()}))  # CLOSE_LISTEN(B, A)


def test_deleting_the_constrained_actions_invents_a_deadlock():
    # the spec without ACTIVE_OPEN, PASSIVE_OPEN and SEND: after CLOSE_SYN_SENT and CLOSE_LISTEN both peers are
    # CLOSED with empty queues and nothing is enabled; MCtcp's action constraint only filters those opens
    r = run(TcpOpensRemoved())
    assert (r.verdict, r.property) == (Verdict.VIOLATED, "deadlock")
    assert len(r.trace.steps) - 1 == 2
    assert {s.label.split("(")[0] for s in r.trace.steps[1:]} == {"CLOSE_SYN_SENT", "CLOSE_LISTEN"}


def test_specs_meet_their_expectations():
    for spec, verdict in (("specs/tcp_tla.toml", "holds"), ("specs/tcp_tla_opens_removed.toml", "violated")):
        r = checker.check(spec, out=None)
        assert r.ok and r.verdict.value == verdict, spec
