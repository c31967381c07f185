"""A leader lease: a master grants a time-bounded lease to one replica at a time (Gray & Cheriton,
"Leases: An Efficient Fault-Tolerant Mechanism for Distributed File Cache Consistency", 1989; the
master lease of Chubby, Burrows, 2006; Liskov, "Practical Uses of Synchronized Clocks", 1991).

Time as the checker keeps it (`[time]`): global time G advances in ticks, and every clock is a monotone
function within `max_skew` = s of G, so over any interval a clock may gain or lose up to 2s against G.
The network is asynchronous (a message may wait any time; a partition only makes it wait).

    Replica r (asks at most REQUESTS times):      Master m (one lease at a time):
      acquire:  asked_at := now                     on Request(n) from r:
                send Request(n)                       if lease_expiry has passed:
      on Grant(n) answering request n:                  lease_expiry := now + LEASE + GUARD
                lease_until := asked_at + LEASE         send Grant(n)
      r holds the lease while now < lease_until     on a restart: lease_expiry := now + LEASE + GUARD

Why it is safe, with GUARD = 4s. The replica times its lease from when it *sent* its request, on its
own clock: it believes it holds the lease at most until G = T_ask + LEASE + 2s (its clock may lose 2s),
and the master granted at T_grant >= T_ask. The master grants again only when its own clock has
advanced LEASE + GUARD since T_grant, which takes at least LEASE + GUARD - 2s = LEASE + 2s of global
time (its clock may gain 2s). So the next lease starts no earlier than T_grant + LEASE + 2s >= the end
of the previous one, however long the grant took to arrive (a late grant gives a lease already partly
or wholly over, never too long). The guard is tight: with GUARD = 4s - 1 the checker finds two holders
(the holder's clock stands still across two ticks while the master's runs ahead). A restarted master
has lost `lease_expiry` (volatile: a lease is not worth a disk write per grant) and cannot tell whether
it granted a lease just before crashing, so it keeps the lease to itself for LEASE + GUARD from the
restart, as if it had just granted it. A grant names the request it answers, so that a replica that
crashed and asked again never takes an old grant for its new request. Timers clear a time once it has
passed (`free`, `expire`, `give_up`): the state then forgets when, and the search stays small.

Promise: `LeaseOk`, at most one replica believes, on its own clock, that it holds the lease. It holds
with max_skew = 1, 3 replicas, a crash and restart of the master and a partition between it and the
replicas (`specs/lease_ok.toml`); a crashed replica forgets its lease (tests).

Broken on purpose:
- `IgnoresDrift` (GUARD = 0): the master reuses the lease as soon as its own clock says it expired,
  which is right with perfect clocks only. The shortest counterexample, 7 steps: r1 asks and is granted,
  r2 asks, the master's clock runs ahead one unit, and r2 is granted while r1's lease still runs on r1's
  clock (`specs/lease_ignores_drift.toml`).
- `NoGraceAfterRestart`: a restarted master grants at once. 8 steps, with perfect clocks and no time
  passing at all: r1 is granted, the master crashes and restarts, r2 is granted (`specs/lease_no_grace.toml`).
- `StartsOnArrival` (tests only): the replica times its lease from the grant's arrival. A grant that
  waited in the network gives a lease that outlives the master's record of it, whatever the guard.
"""

from checker import (
    Bool,
    Int,
    Message,
    Node,
    Param,
    Protocol,
    Role,
    Time,
    durable,
    invariant,
    request,
    timer,
    volatile,
)

LEASE = 1  # how long a lease lasts, in units of the holder's clock
MAX_SKEW = 1  # the clock skew the guard is sized for: a spec's [time] max_skew must be at most this
REQUESTS = 1  # how many times each replica asks for the lease
Number = Int(1, REQUESTS)


class Request(Message):
    """Replica -> master: may I hold the lease? (`n`: the replica's n-th request)"""

    n = Number


class Grant(Message):
    """Master -> replica: yes, answering request `n`."""

    n = Number


class Master(Node):
    """Grants the lease to one replica at a time; keeps it LEASE + GUARD units of its own clock."""

    LEASE = LEASE
    GUARD = 4 * MAX_SKEW  # the holder's clock may lose 2 * max_skew against global time, the master's gain as much
    GRACE = True  # after a restart, keep the lease LEASE + GUARD as if it had just been granted
    booted = durable(Bool(), initial=False)
    lease_expiry = volatile(Time(), initial=0)  # until then, the lease may be someone's

    def on_start(self):
        if self.booted and self.GRACE:  # a restart: a lease granted just before the crash may still run
            self.reserve()
        self.booted = True

    def on_request(self, msg, src):
        if self.lease_expiry.passed():
            self.reserve()
            self.send(src, Grant(msg.n))

    def reserve(self):
        self.lease_expiry = self.now() + self.LEASE + self.GUARD
        self.set_timer("free", after=self.LEASE + self.GUARD)

    @timer
    def free(self):
        self.lease_expiry = 0  # it has passed: forget when, so that states differ only in what matters


class Replica(Node):
    """Asks for the lease (a request), and holds it for LEASE units of its own clock from when it asked."""

    LEASE = LEASE
    asks = durable(Int(0, REQUESTS), initial=0)  # requests sent so far (on disk: a number is never reused)
    waiting = volatile(Bool(), initial=False)
    asked_at = volatile(Time(), initial=0)  # when the outstanding request was sent
    lease_until = volatile(Time(), initial=0)  # the lease is held while this has not passed

    @request
    def acquire(self):
        if self.asks < REQUESTS and not self.waiting and self.lease_until.passed():
            self.asks += 1
            self.waiting, self.asked_at = True, self.now()
            self.set_timer("give_up", after=self.LEASE)
            self.send("master1", Request(self.asks))

    def on_grant(self, msg, src):
        if self.waiting and msg.n == self.asks:
            self.hold(self.asked_at + self.LEASE)

    def hold(self, until):
        self.lease_until = until
        self.waiting, self.asked_at = False, 0
        self.cancel_timer("give_up")
        self.set_timer("expire", after=until - self.now())

    @timer
    def give_up(self):
        """A grant arriving from now on would give a lease already over: stop waiting."""
        self.waiting, self.asked_at = False, 0

    @timer
    def expire(self):
        self.lease_until = 0


class Lease(Protocol):
    """One master (master1) and `replicas` replicas asking it for the lease."""

    replicas = Param(3, "number of replicas", lo=1, hi=4)
    master = Role(Master, 1)
    replica = Role(Replica, "replicas")
    messages = (Request, Grant)

    @invariant(symmetric=True)
    def LeaseOk(self, state):
        """At most one replica holds an unexpired lease, each judged by its own clock."""
        return sum(1 for r in state.role("replica") if not r.lease_until.passed()) <= 1


class DriftMaster(Master):
    """Broken on purpose: no guard for clock skew."""

    GUARD = 0


class IgnoresDrift(Lease):
    master = Role(DriftMaster, 1)


class AmnesiacMaster(Master):
    """Broken on purpose: grants right after a restart."""

    GRACE = False


class NoGraceAfterRestart(Lease):
    master = Role(AmnesiacMaster, 1)


class ArrivalReplica(Replica):
    """Broken on purpose: times the lease from the grant's arrival, however late it comes."""

    def on_grant(self, msg, src):
        if self.waiting and msg.n == self.asks:
            self.hold(self.now() + self.LEASE)

    @timer
    def give_up(self):
        """Never: a grant is worth a full lease whenever it arrives."""


class StartsOnArrival(Lease):
    replica = Role(ArrivalReplica, "replicas")


def lease_with_guard(guard: int) -> type[Lease]:
    """A Lease whose master waits LEASE + `guard` units (for exploring how large the guard must be)."""
    master = type(f"Master_{guard}", (Master,), {"GUARD": guard})
    return type(f"Lease_{guard}", (Lease,), {"master": Role(master, 1)})
