"""Deliveries with memoised outcomes (`NodeSemantics.fast_successors`, checker/semantics/nodes.py) apply each
outcome from a digest made once per (envelope, receiver's slots): the same successors, in the same order,
with the same errors, as running the handler and applying its `Outcome` every time (`memoize=False`,
the reference). Checked on the reachable states of specs covering every network, fault, timer, time and
history setting the digest handles, on states with random in-flight counts (a full count is an error,
found for one send or several at once), and against each action's labelled `instances`.
"""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Message, Node, Protocol, Role, durable, request
from checker.model import Int
from checker.semantics.nodes import HandlerError, from_protocol
from checker.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]

SPECS = [
    "two_phase_commit_ok",  # a multiset network, a timer, choose
    "two_phase_commit_recovery",  # crashes and restarts
    "three_phase_commit_partition",  # partitions
    "lease_ok",  # a set network, time (timers with due times, clocks), a crash, a partition
    "lease_no_grace",  # time on a multiset network
    "checkpoint_snapshot_unordered",  # loss and duplication
    "active_replication_sequencer",  # history events, a crash
    "replicated_register_primary",  # history events
    "block_store_quorum",  # crashes and restarts of two nodes
    "paxos_ok",
]


def systems(name: str):
    """The spec's transition system with memoised deliveries, and the reference without memos."""
    spec = load_spec(ROOT / "specs" / f"{name}.toml")
    kw = dict(network=spec.network.get("in_flight", "multiset"), faults=spec.faults,
              ordering=spec.network.get("ordering", "unordered"), capacity=spec.network.get("capacity", 4),
              time=spec.time, overflow=spec.network.get("overflow", "error"))
    return from_protocol(spec.instantiate(), **kw), from_protocol(spec.instantiate(), memoize=False, **kw)


def outcome(successors, s):
    """The successors of s, or the error raised."""
    try:
        return successors(s)
    except HandlerError as e:
        return f"HandlerError: {e}"


def explore(system, limit: int) -> list[tuple]:
    seen = dict.fromkeys(system.initial)
    queue = deque(seen)
    while queue and len(seen) < limit:
        s = queue.popleft()
        for a in system.actions:
            for t in a.successors(s):
                if t not in seen:
                    seen[t] = None
                    queue.append(t)
    return list(seen)


@pytest.mark.parametrize("name", SPECS)
def test_memoised_deliveries_equal_the_reference_on_reachable_states(name):
    """Every action, deliveries and timers (whose successors inline `fired`) included."""
    fast, ref = systems(name)
    assert [a.name for a in fast.actions] == [b.name for b in ref.actions]
    states = explore(fast, 1500)
    compared = {"deliver": 0, "timer": 0}
    for s in states:
        for a, b in zip(fast.actions, ref.actions):
            got = outcome(a.successors, s)
            assert got == outcome(b.successors, s), (a.name, s)
            if isinstance(got, list):
                assert [t for _, t in a.instances(s)] == got
                if a.kind in compared:
                    compared[a.kind] += len(got)
    assert compared["deliver"] > 100
    assert compared["timer"] or not any(a.kind == "timer" for a in fast.actions)


@pytest.mark.parametrize("name", ["two_phase_commit_ok", "three_phase_commit_partition", "block_store_quorum"])
def test_random_in_flight_counts_give_the_same_successors_and_errors(name):
    """Counts of 14 and 15 in flight make the sends of an outcome overflow (or just not)."""
    fast, ref = systems(name)
    sem = fast.semantics  # type: ignore[attr-defined]
    NET, bits, one = sem.NET, sem.bits, sem.one
    codes = sem.schema.slot_bounds[NET].bit_length() // bits
    rnd = random.Random(name)
    errors = 0
    for s in explore(fast, 400):
        for _ in range(3):
            net = 0
            for c in rnd.sample(range(codes), min(codes, 12)):
                net |= rnd.choice((1, 2, 14, one, one, one)) << (c * bits)
            t = s[:NET] + (net,) + s[NET + 1:]
            for a, b in zip(fast.actions, ref.actions):
                if a.kind == "deliver":
                    got = outcome(a.successors, t)
                    assert got == outcome(b.successors, t), (a.name, t)
                    errors += isinstance(got, str)
    assert errors  # some full count was found


class Note(Message):
    """A note; the sender sends several in one handler."""

    n = Int(0, 3)


class Writer(Node):
    sent = durable(Int(0, 3), initial=0)

    @request
    def burst(self):
        if self.sent < 3:
            self.sent += 1
        for k in range(4):  # four envelopes, two of them the same
            self.send("reader1", Note(n=min(k, 2)))

    def on_note(self, msg, src):  # four envelopes, three different ones
        for k in (msg.n, 0, 1, 2):
            self.send(src, Note(n=k))


class Reader(Node):
    got = durable(Int(0, 3), initial=0)

    def on_note(self, msg, src):
        self.got = min(self.got + 1, 3)
        self.send(src, Note(n=msg.n))
        self.send(src, Note(n=msg.n))


class Bursts(Protocol):
    writer = Role(Writer, count=1)
    reader = Role(Reader, count=1)
    messages = (Note,)


@settings(max_examples=150, deadline=None)
@given(counts=st.lists(st.integers(0, 15), min_size=8, max_size=8), got=st.integers(0, 3))
def test_an_outcome_sending_several_copies_overflows_exactly_when_one_count_is_full(counts, got):
    """Reader's handler sends two copies of one note back, Writer's four notes of three kinds: a count of
    15 of any of them is an error, 14 is not (each send is checked against the counts before the handler's
    sends, as the reference does)."""
    fast = from_protocol(Bursts())
    ref = from_protocol(Bursts(), memoize=False)
    sem = fast.semantics  # type: ignore[attr-defined]
    s0 = fast.initial[0]
    net = 0
    for k, c in enumerate(counts):  # the first envelope codes: every note between the two nodes
        net |= c << (k * sem.bits)
    reader = sem.node_slices[1].start
    s = s0[:reader] + (got,) + s0[reader + 1:sem.NET] + (net,) + s0[sem.NET + 1:]
    for a, b in zip(fast.actions, ref.actions):
        got = outcome(a.successors, s)
        assert got == outcome(b.successors, s), a.name
        FULL.append(isinstance(got, str))


FULL: list[bool] = []


def test_the_overflow_examples_include_errors_and_successors():
    assert any(FULL) and not all(FULL)
