"""Heartbeat failure detection (Chandra & Toueg, "Unreliable Failure Detectors for Reliable
Distributed Systems", 1996; the timeout-based detector of partially synchronous systems,
Dwork, Lynch & Stockmeyer, 1988).

Every live node sends a heartbeat to every other node at each tick of its
clock, counts the ticks since it last heard from each peer, and suspects a
peer once that count reaches `k`; hearing from the peer again clears the
suspicion. Time is explicit, finite and cyclic, so this protocol is written
in the low-level form: counters saturate at `k`, and each heartbeat in flight
carries its age in ticks, at most `d`.

The synchrony assumption, as parameters: a heartbeat between two live,
connected nodes is delivered within `d` ticks and never lost (a tick is not
enabled while such a heartbeat already has age `d`). The order inside one
`Tick` step is fixed: (1) every heartbeat in flight ages by one; (2) every live
node sends a fresh heartbeat (age 0) to each peer; (3) every live node adds one
to its counter for each peer, and suspects the peers whose counter reaches `k`.
Deliveries and crashes are steps of their own, between ticks.

Promises: `Accuracy` — every node a live node suspects has crashed. It holds
with crash-stop nodes and no partition exactly when `k >= d + 2` (found with
the checker: specs `heartbeat_accurate` at k = d + 2 holds, `heartbeat_eager`
at k = d + 1 fails). The worst case: one heartbeat delivered at once, the next
one `d` ticks late, so `d + 1` ticks pass between the two deliveries.

Broken on purpose (each spec says which assumption it drops):
- `heartbeat_eager`: k = d + 1, one less than the bound: a live node is suspected
  when heartbeats are merely slow.
- `heartbeat_partition`: with k = d + 2 but a partition, heartbeats across it are
  not delivered (they age past `d` and are lost): the synchrony assumption fails,
  and a live node is suspected.

Completeness — a crashed node is eventually suspected by every live node — is
a liveness property (the state space is kept cyclic for it): it holds when
ticks and deliveries are fair (`specs/heartbeat_complete.toml`), and fails
without fairness, where time may simply stop (`specs/heartbeat_unfair.toml`).

The message-passing form (`TimedHeartbeat`, specs `heartbeat_timed_*`): the
same detector with time as the checker's `[time]` keeps it (issue 17). Two
members; each has a timer `beat` that sends `Beat` to its peer every `PERIOD`
units of its own clock, starting at boot. A member records
`last_heard[p] = self.now()` on every `Beat` from p (and for every peer at
boot), and suspects p once more than `TIMEOUT` units of its clock have passed
since (`now - last_heard[p] > TIMEOUT`); a later `Beat` clears the suspicion.
It looks when its timer `check` fires, armed for the earliest deadline
`last_heard[p] + TIMEOUT + 1` of the peers it does not suspect (and on every
`Beat`), so the search has no tick-by-tick polling step.

Accuracy holds exactly when `TIMEOUT >= PERIOD + max_delay + 4 * max_skew`
(crash-stop, no partition). Write D = max_delay, S = max_skew, and
C(g) = g + o(g) for a clock at global time g, |o(g)| <= S.
- Upper bound on the silence. A beat's timer fires at the first global time
  g' where the sender's clock reaches C(g) + PERIOD (a tick is not enabled
  while a timer is due), so C(g' - 1) < C(g) + PERIOD, which gives
  g' - g <= PERIOD + o(g) - o(g' - 1) <= PERIOD + 2S. A beat is delivered
  within D of its sending, and FIFO keeps them in order, so two successive
  deliveries at the receiver are at most PERIOD + 2S + D global units apart;
  the receiver's clock, within S of global time at both ends, advances by at
  most PERIOD + 2S + D + 2S = PERIOD + D + 4S between them (and it starts by
  hearing everyone at boot, with the first beat sent then too). So with
  TIMEOUT >= PERIOD + D + 4S the silence never exceeds TIMEOUT.
- The bound is tight: beat k is sent with the sender's clock S ahead and
  delivered at once to a receiver whose clock is S behind; both drift to the
  other side of the band, the next beat leaves PERIOD + 2S global units later
  and takes D to arrive, and the receiver's check, due at the same global
  time, fires first: its silence is PERIOD + D + 4S.
The checker confirms the formula for every PERIOD in 1..3, D in 1..3, S in
0..1 (tests/protocols/test_heartbeat_timed.py checks a sample, from the
formula). The specs: PERIOD = 2, D = 1, S = 1, so the threshold is 7:
`heartbeat_timed_accurate` (TIMEOUT = 7) holds and `heartbeat_timed_eager`
(TIMEOUT = 6) has a counterexample with no crash at all.

Channels: `[network] ordering = "fifo"`, capacity 2, overflow "drop". Between
live, connected members at most 2 beats are ever in flight: successive sends
are at least one global unit apart (the timer needs a tick to come due), and
each is delivered within D = 1, so at most the beats sent at ages 0 and 1 wait
(in general floor(D / g) + 1, with g = max(1, PERIOD - 2S, ceil(PERIOD / 2))
the least gap between sends). Only beats to a crashed member or across a
partition pile up (the checker keeps undeliverable messages, at age D); for
them a full channel loses the newest beat, as a partition or a crash would. A
drop on a FIFO channel is harmless to accuracy anyway: the beat lost is newer
than the two ahead of it, and they arrive no earlier than it was sent.

`heartbeat_timed_complete`: completeness, as a liveness property, under the
default fairness (ticks, timers and deliveries weakly fair): a crashed member
is eventually suspected by the live one. `heartbeat_timed_partition`: at
TIMEOUT = 7, a partition (no delivery across it, so the delay bound fails)
gets a live member suspected.
"""

from checker import (
    Ids,
    Int,
    Map,
    Message,
    Model,
    Node,
    NodeId,
    Param,
    Protocol,
    Role,
    Set,
    Time,
    action,
    forall,
    implies,
    invariant,
    leads_to,
    liveness,
    timer,
    volatile,
)


class Heartbeat(Model):
    """`nodes` nodes heartbeating each other; suspicion after `k` silent ticks; delay at most `d` ticks."""

    nodes = Param(2, "number of nodes", lo=2, hi=4)
    k = Param(4, "ticks of silence before a peer is suspected", lo=1, hi=8)
    d = Param(2, "the most ticks a heartbeat may be in flight", lo=0, hi=5)
    crashes = Param(1, "how many nodes may crash (crash-stop)", lo=0, hi=3)
    partitions = Param(0, "how many times node1 may be cut off from the others (then healed)", lo=0, hi=2)

    def variables(self):
        self.Node = NodeId("n", self.nodes)
        self.Age = Int(0, self.d)
        return {
            "down": Set(self.Node),
            "crashed": Int(0, self.crashes),
            "cut": Set(self.Node),  # the nodes cut off from node n1; empty: connected
            "partitioned": Int(0, self.partitions),
            "silence": Map(self.Node, Map(self.Node, Int(0, self.k))),  # silence[i][j]: ticks since i heard j
            "suspects": Map(self.Node, Set(self.Node)),
            "inflight": Map(self.Node, Map(self.Node, Set(self.Age))),  # inflight[src][dst]: ages of heartbeats
        }

    def init(self):
        ids = self.Node.names
        return {
            "down": set(),
            "crashed": 0,
            "cut": set(),
            "partitioned": 0,
            "silence": {i: {j: 0 for j in ids} for i in ids},
            "suspects": {i: set() for i in ids},
            "inflight": {i: {j: set() for j in ids} for i in ids},
        }

    def setup(self):
        n = self.nodes
        self.N = range(n)
        self.DOWN, self.CRASHED = self.offset("down"), self.offset("crashed")
        self.CUT, self.PARTED = self.offset("cut"), self.offset("partitioned")
        self.SIL, self.SUS, self.FLY = self.offset("silence"), self.offset("suspects"), self.offset("inflight")
        self.OLDEST = 1 << self.d  # the bit of a heartbeat of age d
        self.AGES = (1 << (self.d + 1)) - 1
        self.ALL = (1 << n) - 1

    def connected(self, s, i, j):
        cut = s[self.CUT]
        return (cut >> i & 1) == (cut >> j & 1)

    # -- steps --------------------------------------------------------------------------------

    @action
    def Tick(self, s):
        """Age every heartbeat; every live node sends one to each peer, then counts and suspects."""
        n, down, FLY, SIL, SUS, k = self.nodes, s[self.DOWN], self.FLY, self.SIL, self.SUS, self.k
        for i in self.N:  # synchrony: no tick while a deliverable heartbeat is as old as it may be
            for j in self.N:
                if s[FLY + i * n + j] & self.OLDEST and not down >> j & 1 and self.connected(s, i, j):
                    return ()
        t = list(s)
        for i in self.N:
            for j in self.N:
                if i == j:
                    continue
                c = FLY + i * n + j
                aged = (t[c] << 1) & self.AGES  # past age d: lost (only across a partition or to a crashed node)
                t[c] = aged | 1 if not down >> i & 1 else aged
        for i in self.N:
            if down >> i & 1:
                continue
            for j in self.N:
                if i != j:
                    c = SIL + i * n + j
                    if t[c] < k:
                        t[c] += 1
                    if t[c] == k:
                        t[SUS + i] |= 1 << j
        return [tuple(t)]

    @action(over=("Node", "Node", "Age"))
    def Deliver(self, s, srcs, dsts, ages):
        """A heartbeat from src reaches a live, connected dst: dst's silence about src starts over."""
        n, down, out = self.nodes, s[self.DOWN], []
        for i in srcs:
            for j in dsts:
                c = self.FLY + i * n + j
                if i == j or not s[c] or down >> j & 1 or not self.connected(s, i, j):
                    continue
                for a in ages:
                    if s[c] >> a & 1:
                        t = list(s)
                        t[c] &= ~(1 << a)
                        t[self.SIL + j * n + i] = 0
                        t[self.SUS + j] &= ~(1 << i)
                        out.append(tuple(t))
        return out

    @action(over="Node")
    def Crash(self, s, victims):
        """Crash-stop: the node takes no further step."""
        if s[self.CRASHED] >= self.crashes:
            return ()
        out = []
        for j in victims:
            if not s[self.DOWN] >> j & 1:
                t = list(s)
                t[self.DOWN] |= 1 << j
                t[self.CRASHED] += 1
                out.append(tuple(t))
        return out

    @action
    def Partition(self, s):
        """Cut node n1 off from the others (each other node on the far side)."""
        if s[self.CUT] or s[self.PARTED] >= self.partitions:
            return ()
        t = list(s)
        t[self.CUT] = self.ALL & ~1
        t[self.PARTED] += 1
        return [tuple(t)]

    @action
    def Heal(self, s):
        if not s[self.CUT]:
            return ()
        t = list(s)
        t[self.CUT] = 0
        return [tuple(t)]

    # -- properties ---------------------------------------------------------------------------

    @liveness
    def Completeness(self, s):
        """Once a node has crashed, eventually every live node suspects every crashed node."""
        return leads_to(s.down.card() > 0, forall(self.Node, lambda i: implies(~s.down.contains(i),
                                                                             s.down <= s.suspects[i])))

    @invariant
    def Accuracy(self, state):
        """Every node that a live node suspects has crashed."""
        return all(state.suspects[i] <= state.down for i in state.suspects if i not in state.down)


# -- the message-passing form, with time -----------------------------------------------------------


class Beat(Message):
    """Member -> member: I am alive (sent every PERIOD units of the sender's clock)."""


MEMBERS = ("n1", "n2")


class Member(Node):
    """A member: heartbeats its peer every PERIOD units, suspects it after more than TIMEOUT units of silence."""

    PERIOD = 2
    TIMEOUT = 7  # PERIOD + max_delay + 4 * max_skew for the specs' [time] (max_delay = 1, max_skew = 1)

    last_heard = volatile(Map(Ids("n"), Time()), initial=dict.fromkeys(MEMBERS, 0))
    suspects = volatile(Set(Ids("n")), initial=frozenset())

    def on_start(self):
        self.last_heard = {p: self.now() for p in self.nodes()}
        self.beat()

    @timer
    def beat(self):
        self.broadcast(Beat())
        self.set_timer("beat", after=self.PERIOD)

    def on_beat(self, msg, src):
        self.last_heard = {**self.last_heard, src: self.now()}
        self.suspects = self.suspects - {src}
        self.review()

    @timer
    def check(self):
        self.review()

    def review(self):
        """Suspect every peer silent for more than TIMEOUT; look again at the next deadline."""
        now = self.now()
        suspects = self.suspects | {p for p in self.peers() if now - self.last_heard[p] > self.TIMEOUT}
        self.suspects = suspects
        left = [self.last_heard[p] + self.TIMEOUT + 1 - now for p in self.peers() if p not in suspects]
        if left:
            self.set_timer("check", after=min(left))
        else:
            self.cancel_timer("check")


class TimedHeartbeat(Protocol):
    """Two members heartbeating each other over FIFO channels, with a timeout detector."""

    n = Role(Member, count=len(MEMBERS))
    messages = (Beat,)

    @invariant
    def Accuracy(self, state):
        """Every member that a live member suspects has crashed."""
        down = state.down
        return all(state[i].suspects <= down for i in MEMBERS if i not in down)

    @liveness
    def Completeness(self, s):
        """Once a member has crashed, eventually every live member suspects every crashed one."""

        def suspected(state):
            down = state.down
            return all(down <= state[i].suspects for i in MEMBERS if i not in down)

        return leads_to(lambda state: bool(state.down), suspected)


class EagerMember(Member):
    """Broken on purpose: a timeout one below the threshold."""

    TIMEOUT = Member.TIMEOUT - 1


class EagerTimedHeartbeat(TimedHeartbeat):
    n = Role(EagerMember, count=len(MEMBERS))


def timed_heartbeat(period: int, timeout: int) -> type[TimedHeartbeat]:
    """A TimedHeartbeat whose members beat every `period` and time out after `timeout` (for exploring the bound)."""
    member = type(f"Member_{period}_{timeout}", (Member,), {"PERIOD": period, "TIMEOUT": timeout})
    return type(f"TimedHeartbeat_{period}_{timeout}", (TimedHeartbeat,), {"n": Role(member, count=len(MEMBERS))})
