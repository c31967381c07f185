"""Re-replication in a small distributed file system (the name node and data nodes of GFS, Ghemawat,
Gobioff & Leung, SOSP 2003, and of HDFS, Shvachko, Kuang, Radia & Chansler, MSST 2010), with time.

One name node `nn1` and three data nodes `dn1`..`dn3`; blocks placed with
replication factor 2 (`PLACEMENT`: b1 on dn1 and dn2, b2 on dn2 and dn3).
Every data node sends `Alive` to the name node every `PERIOD` units of its
clock. The name node suspects a data node once more than `TIMEOUT` units of
its own clock pass without one (the detector of `protocols.heartbeat`'s
`TimedHeartbeat`: it looks when its `check` timer, armed for the earliest
deadline, fires, and on every `Alive`), and an `Alive` clears the suspicion.
Whenever a block has fewer than 2 unsuspected holders among the locations
it knows (and at least one), it tells the first of them to `Copy` the block
to the first unsuspected data node not yet holding it, and counts that node
as a holder at once (HDFS's pending replications); the holder sends the
`Replica`, and the target stores it. The name node never deletes a replica.

Timing (the specs' `[time]`): PERIOD = 2, max_delay = 1, max_skew = 0, and
TIMEOUT = 3 = PERIOD + max_delay + 4 * max_skew, the accuracy threshold that
`protocols/heartbeat.py` proves: without partitions the name node suspects
only crashed data nodes. Channels are FIFO, capacity 2, overflow "drop": at
most one `Alive` is in flight from a live, connected data node (sends are
PERIOD = 2 apart, each delivered within 1), at most one `Copy` per block to a
holder and one `Replica` per block between two data nodes; only messages to a
crashed node or across a partition pile up, and for them a full channel loses
the newest, as the crash or the partition would.

Promises and what breaks them (the name node does not crash here):
- `rereplication_crash`: one data node crashes. `Accuracy` (only crashed data
  nodes suspected), `NoLoss` (every block on some live data node) and
  `AtMostTwo` (no block on more than 2 live data nodes) hold, and
  `ReReplicates` (liveness, under the default fairness: ticks, timers and
  deliveries weakly fair): a block with fewer than 2 live replicas
  eventually has 2 again.
- `rereplication_partition`: a partition instead of a crash. The name node
  suspects live data nodes cut off from it and has their blocks copied
  elsewhere: a block gets 3 live replicas and `AtMostTwo` fails
  (over-replication: wasted space, not danger). The shortest trace: the name
  node is cut off, suspects all three, the partition heals, the `Alive`s of
  dn1 and dn2 arrive before dn3's, and b2 (on dn2 and dn3) is copied to dn1.
- `rereplication_partition_no_loss`: a partition (two of the seven splits,
  to keep it small) and a crash: `NoLoss` holds.
  Nothing is lost because nothing is deleted: a false suspicion only adds
  replicas, and a single crash leaves one of the 2. What a partition does
  take away is availability through the name node: cut off from both holders
  of a block, it suspects both and knows no live holder to copy from, until
  the partition heals.
- `rereplication_two_crashes`: two crashes are beyond replication factor 2:
  when both holders of a block crash before its copy is made (here, one right
  after the other), the block is lost: `NoLoss` fails.
"""

from checker import (
    Enum,
    Ids,
    Map,
    Message,
    Node,
    Protocol,
    Role,
    Set,
    Time,
    durable,
    invariant,
    leads_to,
    liveness,
    timer,
    volatile,
)

DATA_NODES = ("dn1", "dn2", "dn3")
PLACEMENT = {"b1": ("dn1", "dn2"), "b2": ("dn2", "dn3")}  # each block's initial holders
R = 2  # the replication factor
Block = Enum(*PLACEMENT)


class Alive(Message):
    """Data node -> name node: a heartbeat."""


class Copy(Message):
    """Name node -> a holder: send your replica of `block` to `to`."""

    block = Block
    to = Ids("dn")


class Replica(Message):
    """Data node -> data node: a copy of `block`."""

    block = Block


class DataNode(Node):
    """Holds replicas; heartbeats the name node every PERIOD units; copies a block when told."""

    PERIOD = 2

    holds = durable(Set(Block), initial=frozenset())

    def on_start(self):
        self.holds = frozenset(b for b, where in PLACEMENT.items() if self.id in where)
        self.beat()

    @timer
    def beat(self):
        self.send("nn1", Alive())
        self.set_timer("beat", after=self.PERIOD)

    def on_copy(self, msg, src):
        if msg.block in self.holds:
            self.send(msg.to, Replica(msg.block))

    def on_replica(self, msg, src):
        self.holds = self.holds | {msg.block}


class NameNode(Node):
    """Knows where the blocks are; suspects silent data nodes; has under-replicated blocks copied."""

    TIMEOUT = 3  # PERIOD + max_delay + 4 * max_skew for the specs' [time] (max_delay = 1, max_skew = 0)

    last_heard = volatile(Map(Ids("dn"), Time()), initial=dict.fromkeys(DATA_NODES, 0))
    suspects = volatile(Set(Ids("dn")), initial=frozenset())
    locations = volatile(Map(Block, Set(Ids("dn"))), initial={b: frozenset(w) for b, w in PLACEMENT.items()})

    def on_start(self):
        self.last_heard = {d: self.now() for d in self.nodes("dn")}
        self.review()

    def on_alive(self, msg, src):
        self.last_heard = {**self.last_heard, src: self.now()}
        self.suspects = self.suspects - {src}
        self.review()

    @timer
    def check(self):
        self.review()

    def review(self):
        """Suspect the data nodes silent for more than TIMEOUT; re-replicate; look again at the next deadline."""
        now, dns = self.now(), self.nodes("dn")
        suspects = self.suspects | {d for d in dns if now - self.last_heard[d] > self.TIMEOUT}
        self.suspects = suspects
        locations = dict(self.locations)
        for b, where in self.locations.items():
            live = sorted(where - suspects)
            targets = [d for d in dns if d not in where and d not in suspects]
            if 0 < len(live) < R and targets:
                self.send(live[0], Copy(b, targets[0]))
                locations[b] = where | {targets[0]}
        self.locations = locations
        left = [self.last_heard[d] + self.TIMEOUT + 1 - now for d in dns if d not in suspects]
        if left:
            self.set_timer("check", after=min(left))
        else:
            self.cancel_timer("check")


class Rereplication(Protocol):
    """One name node and three data nodes; two blocks, replication factor 2."""

    nn = Role(NameNode, count=1)
    dn = Role(DataNode, count=len(DATA_NODES))
    messages = (Alive, Copy, Replica)

    @staticmethod
    def live_replicas(state, block: str) -> int:
        down = state.down
        return sum(block in state[d].holds for d in DATA_NODES if d not in down)

    @invariant
    def NoLoss(self, state):
        """Every block has a replica on a live data node."""
        return all(self.live_replicas(state, b) >= 1 for b in PLACEMENT)

    @invariant
    def AtMostTwo(self, state):
        """No block has more than R live replicas (no over-replication)."""
        return all(self.live_replicas(state, b) <= R for b in PLACEMENT)

    @invariant
    def Accuracy(self, state):
        """Every data node the name node suspects has crashed."""
        return state.nn1.suspects <= state.down

    @liveness
    def ReReplicates(self, s):
        """A block with fewer than R live replicas eventually has R again."""

        def full(state):
            return all(self.live_replicas(state, b) >= R for b in PLACEMENT)

        return leads_to(lambda state: not full(state), full)
