"""The lease of protocols/lease.py as it had to be written before [time] (issue 17): hand-rolled clocks.

    python bench/lease_hand_ticks.py [--replicas 3]

Each node keeps its clock as a counter field, advanced by a `tick` timer of its own that may fire at
any moment, up to a horizon (the counter cannot grow forever); a `@constraint` keeps the clocks within
2 * MAX_SKEW of each other (each within MAX_SKEW of some global time); every time is an absolute
counter value. The search is then a truncation, not an abstraction: nothing is known about what
happens after the horizon, the horizon multiplies the state space, and a lease longer than the
horizon is never seen to expire. Prints the distinct states, the verdict and the seconds, for the
release note's before/after comparison with `python -m checker check specs/lease_ok.toml`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import checker  # noqa: E402
from checker import Bool, Int, Message, Node, Param, Protocol, Role, constraint, durable, invariant, request, timer  # noqa: E402

HORIZON = 4  # the clocks count 0..HORIZON, then stop
LEASE, MAX_SKEW = 1, 1  # as in protocols/lease.py
GUARD = 4 * MAX_SKEW
Clock = Int(0, HORIZON)
Until = Int(0, HORIZON + LEASE + GUARD)


class Request(Message):
    """Replica -> master: may I hold the lease?"""


class Grant(Message):
    """Master -> replica: yes."""


class TickingNode(Node):
    """A node with a clock counter that its own `tick` timer advances, one unit at a time, up to HORIZON."""

    clock = durable(Clock, initial=0)

    def on_start(self):
        self.set_timer("tick")

    @timer
    def tick(self):
        self.clock += 1
        if self.clock < HORIZON:
            self.set_timer("tick")


class Master(TickingNode):
    expiry = durable(Until, initial=0)  # the lease is free once clock >= expiry

    def on_request(self, msg, src):
        if self.clock >= self.expiry:
            self.expiry = self.clock + LEASE + GUARD
            self.send(src, Grant())


class Replica(TickingNode):
    asked = durable(Bool(), initial=False)
    waiting = durable(Bool(), initial=False)
    asked_at = durable(Clock, initial=0)
    lease_until = durable(Until, initial=0)  # the lease is held while clock < lease_until

    @request
    def acquire(self):
        if not self.asked:
            self.asked, self.waiting, self.asked_at = True, True, self.clock
            self.send("master1", Request())

    def on_grant(self, msg, src):
        if self.waiting:
            self.waiting = False
            if self.clock < self.asked_at + LEASE:
                self.lease_until = self.asked_at + LEASE


class HandTickedLease(Protocol):
    """One master and `replicas` replicas, each with a hand-rolled clock."""

    replicas = Param(3, "number of replicas", lo=1, hi=4)
    master = Role(Master, 1)
    replica = Role(Replica, "replicas")
    messages = (Request, Grant)

    @constraint
    def Drift(self, state):
        """Every clock within MAX_SKEW of a common global time: no two more than 2 * MAX_SKEW apart."""
        clocks = [state.master1.clock] + [r.clock for r in state.role("replica")]
        return max(clocks) - min(clocks) <= 2 * MAX_SKEW

    @invariant
    def LeaseOk(self, state):
        """At most one replica holds an unexpired lease, each judged by its own clock."""
        return sum(1 for r in state.role("replica") if r.clock < r.lease_until) <= 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=3)
    args = ap.parse_args()
    t = time.perf_counter()
    r = checker.check(HandTickedLease, params={"replicas": args.replicas}, out=None)
    seconds = time.perf_counter() - t
    print(f"hand-ticked lease, horizon {HORIZON}, {args.replicas} replicas, 1 request each: "
          f"{r.stats.distinct:,} states, {r.verdict.value}, {seconds:.1f}s")
    return 0 if r.verdict.value == "holds" else 1


if __name__ == "__main__":
    sys.exit(main())
