"""Block placement by consistent hashing (Karger, Lehman, Leighton, Panigrahy, Levine & Lewin,
"Consistent Hashing and Random Trees", STOC 1997; the preference list of DeCandia et al., "Dynamo:
Amazon's Highly Available Key-value Store", SOSP 2007; virtual nodes as in Dynamo and Cassandra).

The placement function (pure, deterministic, importable: `protocols.block_store` uses it):

    position(key)            = blake2b(key) mod ring_size           -- never Python's salted hash()
    points(nodes)            = { (position(f"{n}#{i}"), n, i) : n in nodes, 0 <= i < vnodes }
                               sorted: clockwise, ties broken by name and index
    clockwise(key, nodes)    = the owners of the points, from the first point at or after
                               position(key), once around the ring
    preference_list(key, nodes, r) = the first r *distinct physical* nodes of clockwise(key, nodes)

Each physical node owns `vnodes` positions, so its share of the ring is the sum
of several arcs (Dynamo's virtual nodes): load spreads evenly, and a node that
joins takes a little from many others. A block is stored on its preference
list: r replicas on r different machines.

The model (`ConsistentHashing`, in the low-level form: placement is a global
function of ring membership and what it shows is where the replicas are, so
the state is just which node holds which block; messages would add
interleavings that teach nothing here). `nodes` machines, the first `members`
on the ring, the others spares that may join; `blocks` blocks, each initially
on its preference list. Steps:
- `Crash(n)`: a node on the ring crashes (crash-stop) with its replicas; its
  virtual nodes are skipped from then on. At most `crashes` crashes.
- `ReReplicate(b)`: a block with fewer replicas than its preference list (now
  over the live ring) is copied, from a live holder, to the next distinct live
  node clockwise that lacks it.
- `Join(n)` / `Leave(n)`: a spare joins, or a live member leaves gracefully,
  handing its replicas over; each block then sits on its new preference list.
  One change at a time, on a fully replicated ring (as Cassandra bootstraps one
  node at a time), at most `changes` of them, and a leave never shrinks the
  ring below r plus the crashes still to come.

Promises (`specs/placement_distinct.toml`, `specs/placement_rereplication.toml`),
with at most r - 1 crashes:
- `BlockAvailable`: some live node holds every block;
- `OnPreferenceList`: every replica is on its block's preference list over the live ring;
- `MovesOnlyWhatItMust`: a join or a leave moves one replica for each block
  whose preference list changed, and no other: each from the old list's last
  node to the joining node, or from the leaving node to the new list's last
  node (the monotonicity of consistent hashing);
- `ReReplicates` (liveness, `ReReplicate` weakly fair): a block with fewer than
  r live replicas eventually has r again.

Broken on purpose: `PositionsPlacement` places a block on the owners of r
successive ring *positions*. Two adjacent positions may be virtual nodes of
the same machine, so a block can have all of its "r replicas" on one node and
a single crash makes it unavailable. With the spec's ring (4 nodes, 3 virtual
nodes each, a ring of 64 positions) block b5 hashes to 59, and the next two
positions, 3 and 9, both belong to n2: the shortest counterexample is one step,
`Crash(n2)`.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable
from functools import lru_cache

from checker import Int, Map, Model, NodeId, Option, Param, Set, action, invariant, leads_to, liveness, terminal

RING_SIZE = 64  # positions on the ring: small, so traces and tests can show them
VNODES = 3  # positions (virtual nodes) per physical node


def position(key: str, ring_size: int = RING_SIZE) -> int:
    """The key's position on the ring: a fixed hash (the same in every process and run)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % ring_size


@lru_cache(maxsize=4096)
def points(nodes: frozenset[str], vnodes: int = VNODES, ring_size: int = RING_SIZE) -> tuple[tuple[int, str, int], ...]:
    """Every virtual node (position, node, index), clockwise; equal positions ordered by name and index."""
    return tuple(sorted((position(f"{n}#{i}", ring_size), n, i) for n in nodes for i in range(vnodes)))


def clockwise(key: str, nodes: Iterable[str], vnodes: int = VNODES, ring_size: int = RING_SIZE) -> list[str]:
    """The owners of the ring's points, from the first at or after the key's position, once around."""
    pts = points(frozenset(nodes), vnodes, ring_size)
    start = bisect_left(pts, (position(key, ring_size),))
    return [pts[(start + k) % len(pts)][1] for k in range(len(pts))]


def preference_list(
    key: str, nodes: Iterable[str], r: int, vnodes: int = VNODES, ring_size: int = RING_SIZE
) -> tuple[str, ...]:
    """Dynamo's preference list: the first r distinct physical nodes clockwise from the key (fewer if the
    ring has fewer nodes)."""
    out: list[str] = []
    for n in clockwise(key, nodes, vnodes, ring_size):
        if n not in out:
            out.append(n)
            if len(out) == r:
                break
    return tuple(out)


def successive_positions(
    key: str, nodes: Iterable[str], r: int, vnodes: int = VNODES, ring_size: int = RING_SIZE
) -> tuple[str, ...]:
    """Broken on purpose: the owners of the r positions after the key, one machine possibly several times."""
    return tuple(clockwise(key, nodes, vnodes, ring_size)[:r])


class ConsistentHashing(Model):
    """`blocks` blocks with `r` replicas on a ring of `vnodes` virtual nodes per physical node."""

    nodes = Param(4, "physical nodes (n1..): the first `members` on the ring, the rest spares", lo=1, hi=6)
    members = Param(3, "nodes on the ring initially", lo=1, hi=6)
    vnodes = Param(VNODES, "ring positions per physical node", lo=1, hi=8)
    ring_size = Param(RING_SIZE, "positions on the ring", lo=1, hi=1 << 16)
    blocks = Param(5, "blocks (b1..), each placed by its name", lo=1, hi=8)
    r = Param(2, "replicas per block", lo=1, hi=6)
    crashes = Param(1, "crash-stop failures in all", lo=0, hi=6)
    changes = Param(2, "joins and leaves in all", lo=0, hi=6)

    def place(self, block: str, ring: frozenset[str]) -> tuple[str, ...]:
        """Where a block's replicas belong on this ring, in the order re-replication fills them."""
        return preference_list(block, ring, self.r, self.vnodes, self.ring_size)

    def variables(self):
        self.Node = NodeId("n", self.nodes)
        self.Block = NodeId("b", self.blocks)
        return {
            "ring": Set(self.Node),  # the live nodes whose virtual nodes are on the ring
            "down": Set(self.Node),
            "crashed": Int(0, self.crashes),
            "changed": Int(0, self.changes),
            "holds": Map(self.Block, Set(self.Node)),  # the live nodes holding a replica of each block
            # ghost: the join or leave that led to this state (none after any other step), and its moves
            "change": Option(self.Node),
            "copied_to": Map(self.Block, Set(self.Node)),
            "removed_from": Map(self.Block, Set(self.Node)),
        }

    def init(self):
        ring = frozenset(self.Node.names[: self.members])
        no = {b: set() for b in self.Block.names}
        return {
            "ring": ring,
            "down": set(),
            "crashed": 0,
            "changed": 0,
            "change": None,
            "copied_to": no,
            "removed_from": no,
            "holds": {b: set(self.place(b, ring)) for b in self.Block.names},
        }

    def setup(self):
        if self.members > self.nodes:
            raise ValueError("members must be at most nodes")
        names, nb = self.Node.names, self.blocks
        self.RING, self.DOWN, self.CRASHED = self.offset("ring"), self.offset("down"), self.offset("crashed")
        self.CHANGED, self.HOLDS, self.CHANGE = self.offset("changed"), self.offset("holds"), self.offset("change")
        self.TO, self.FROM = self.offset("copied_to"), self.offset("removed_from")
        self.GHOST = (
            [(self.CHANGE, 0), (self.CHANGE + 1, 0)]
            + [(self.TO + b, 0) for b in range(nb)]
            + [(self.FROM + b, 0) for b in range(nb)]
        )
        # order[ring mask][block]: the codes of the nodes the block belongs on; want: the same as a bitmask
        self.order, self.want = [], []
        for m in range(1 << self.nodes):
            ring = frozenset(n for i, n in enumerate(names) if m >> i & 1)
            codes = [[names.index(n) for n in self.place(b, ring)] if ring else [] for b in self.Block.names]
            self.order.append(codes)
            self.want.append([sum(1 << c for c in set(cs)) for cs in codes])

    def settled(self, s) -> bool:
        want = self.want[s[self.RING]]
        return all(s[self.HOLDS + b] == want[b] for b in range(self.blocks))

    def step(self, s) -> list[int]:
        """A copy of the state with the ghost cleared: the step is not a membership change."""
        t = list(s)
        for i, v in self.GHOST:
            t[i] = v
        return t

    # -- steps --------------------------------------------------------------------------------

    @action(over="Node")
    def Crash(self, s, ns):
        """A live node on the ring stops, and its replicas with it."""
        if s[self.CRASHED] >= self.crashes:
            return ()
        out = []
        for n in ns:
            bit = 1 << n
            if s[self.RING] & bit:
                t = self.step(s)
                t[self.RING] &= ~bit
                t[self.DOWN] |= bit
                t[self.CRASHED] += 1
                for b in range(self.blocks):
                    t[self.HOLDS + b] &= ~bit
                out.append(tuple(t))
        return out

    @action(over="Block")
    def ReReplicate(self, s, bs):
        """Copy an under-replicated block from a live holder to the next node clockwise that lacks it."""
        out = []
        for b in bs:
            holds = s[self.HOLDS + b]
            if not holds:
                continue  # no live copy left to copy from
            for n in self.order[s[self.RING]][b]:
                if not holds >> n & 1:
                    t = self.step(s)
                    t[self.HOLDS + b] = holds | 1 << n
                    out.append(tuple(t))
                    break
        return out

    def rebalance(self, s, ring: int, n: int) -> tuple:
        """Every block onto its preference list over the new ring; the ghost records each move."""
        t = list(s)
        t[self.RING], t[self.CHANGED], t[self.CHANGE], t[self.CHANGE + 1] = ring, s[self.CHANGED] + 1, 1, n
        want = self.want[ring]
        for b in range(self.blocks):
            old = s[self.HOLDS + b]
            t[self.HOLDS + b], t[self.TO + b], t[self.FROM + b] = want[b], want[b] & ~old, old & ~want[b]
        return tuple(t)

    @action(over="Node")
    def Join(self, s, ns):
        """A spare joins the ring and receives the replicas it now owns."""
        if s[self.CHANGED] >= self.changes or not self.settled(s):
            return ()
        return [self.rebalance(s, s[self.RING] | 1 << n, n) for n in ns if not (s[self.RING] | s[self.DOWN]) >> n & 1]

    @action(over="Node")
    def Leave(self, s, ns):
        """A live member leaves, handing each of its replicas to the block's new preference list."""
        if s[self.CHANGED] >= self.changes or not self.settled(s):
            return ()
        if s[self.RING].bit_count() - 1 < self.r + self.crashes - s[self.CRASHED]:
            return ()  # the rest of the ring could not keep r replicas through the crashes still to come
        return [self.rebalance(s, s[self.RING] & ~(1 << n), n) for n in ns if s[self.RING] >> n & 1]

    # -- properties ---------------------------------------------------------------------------

    @invariant
    def BlockAvailable(self, state):
        """Some live node holds every block."""
        return all(state.holds[b] for b in self.Block.names)

    @invariant
    def OnPreferenceList(self, state):
        """Every replica is on its block's preference list over the live ring."""
        return all(state.holds[b] <= set(self.place(b, state.ring)) for b in self.Block.names)

    @invariant
    def MovesOnlyWhatItMust(self, state):
        """After a join (leave) of n: one replica moved per block whose preference list changed, to (from) n."""
        n = state.change
        if n is None:
            return True
        joined = n in state.ring
        before = state.ring - {n} if joined else state.ring | {n}
        changed = sum(set(self.place(b, before)) != set(self.place(b, state.ring)) for b in self.Block.names)
        copies = sum(len(state.copied_to[b]) for b in self.Block.names)
        removals = sum(len(state.removed_from[b]) for b in self.Block.names)
        ends = all((state.copied_to[b] <= {n}) if joined else (state.removed_from[b] <= {n}) for b in self.Block.names)
        return copies == removals == changed and ends

    def fully_replicated(self, state) -> bool:
        return all(len(state.holds[b]) >= self.r for b in self.Block.names)

    @liveness
    def ReReplicates(self, s):
        """A block with fewer than r live replicas eventually has r again."""
        return leads_to(lambda st: not self.fully_replicated(st), self.fully_replicated)

    @terminal
    def Settled(self, state):
        """Every block on its preference list: nothing left to copy (the budgets may be spent)."""
        return all(state.holds[b] == set(self.place(b, state.ring)) for b in self.Block.names)


class PositionsPlacement(ConsistentHashing):
    """Broken on purpose: r successive ring positions, which may be one machine's virtual nodes."""

    def place(self, block: str, ring: frozenset[str]) -> tuple[str, ...]:
        return successive_positions(block, ring, self.r, self.vnodes, self.ring_size)
