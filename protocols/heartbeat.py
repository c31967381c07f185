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
"""

from checker import Int, Map, Model, NodeId, Param, Set, action, forall, implies, invariant, leads_to, liveness


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
