"""A replicated, versioned block store: the composition the library builds toward (blocks placed by
consistent hashing, `protocols.placement`; quorum replication as in Gifford, "Weighted Voting for
Replicated Data", SOSP 1979, and DeCandia et al., "Dynamo", SOSP 2007; a metadata node with a
durable checkpoint of the block map, as GFS's master and HDFS's NameNode keep theirs).

A file `f` is split into blocks (`BLOCKS`); block b lives on its preference list
`preference_list(f"f/{b}", stores, REPLICAS)`, computed with the placement
function of `protocols.placement`. The client writes versions 1, 2, ... of a
block and reads it back:

    write(b):  v := written[b] + 1;  send Store(b, v) to every replica of b
               on W Stored(b, v) from distinct replicas:  the write is acknowledged;
                   send Checkpoint(b, v) to the metadata node
    store:     on Store(b, v):  if v > data[b] then data[b] := v (durably);  reply Stored(b, v)
    read(b):   send Fetch(b) to every replica of b
               on R Fetched(b, version) from distinct replicas:  return the newest version
    metadata:  on Checkpoint(b, v):  latest[b] := max(latest[b], v) (durably)

With R + W > REPLICAS every read quorum meets every write quorum, so a read
sees the newest acknowledged version (Gifford's condition).

The correct variant, `QuorumStore` (specs/block_store_quorum.toml): block b1
on two of the three storage nodes (its preference list is store2, store3),
W = 2 and R = 1: read-one/write-all, Gifford's R + W = 3 > 2, and the
acknowledgement rule of GFS's and HDFS's write pipelines.

Promises, with storage nodes that crash and restart with their durable
storage (`[faults] crashes = 2`, `restarts = true`: every replica may crash,
power failure of the whole replica set included), on a network that delays
and reorders but does not lose messages (messages to a down node wait for its
restart):
- `NoLostWrite`: every acknowledged version of a block is held by some
  replica of it, live or down (what it holds durably survives its crash);
- `FreshReads`: a read never returns a version older than the last one
  acknowledged before the read began. This is Lamport's *regular* register,
  checked exactly: a read concurrent with a write may return the old or the
  new version (without a write-back phase, as in ABD, quorum reads are not
  linearizable in general; a single client cannot show the difference here);
- `CheckpointBacked`: the metadata node's checkpoint names only acknowledged
  versions, each held by some replica.

Broken on purpose:
- `OneOneStore`: W = R = 1, so R + W = 2 <= REPLICAS: consistency level ONE
  for writes and reads, Cassandra's default (and Dynamo's configurable N, R,
  W with R + W <= N). A write acknowledged by one replica is missed by a read
  answered by the other: `FreshReads` fails with no fault at all. Shortest
  counterexample (6 steps): write; Store reaches one replica; its Stored
  acknowledges the write; read; the read's Fetch reaches the other replica,
  which has not yet stored the write; it answers version 0.
- `PeriodicSyncStore`: a store acknowledges a write once it is in its
  in-memory commit log (`cache`, volatile) and makes it durable only when its
  `sync` timer fires later: Cassandra's default `commitlog_sync: periodic`,
  whose documentation warns that writes acknowledged within the sync period
  are lost if every replica holding them goes down at once, and HDFS before
  `dfs.datanode.synconclose` (HDFS-1539: acknowledged blocks lost in a
  data-centre power failure). Both replicas crash before syncing: `NoLostWrite`
  fails (7 steps: write, two Stores, two Stored, two crashes). One crash is
  already too many for `FreshReads`: the restarted replica has lost a version
  it acknowledged, so a read quorum no longer meets every write quorum.

Not modelled: re-replication after a permanent failure (protocols.placement
does that), client crashes, a crash of the metadata node, and a second block
(blocks are independent: it multiplies the states, about fivefold, and shows nothing new).
"""

from checker import (
    Bool,
    Enum,
    Ids,
    Int,
    Map,
    Message,
    Node,
    Option,
    Protocol,
    Role,
    Set,
    durable,
    invariant,
    request,
    timer,
    volatile,
)
from protocols.placement import preference_list

FILE = "f"
BLOCKS = ("b1",)  # the file's blocks
WRITES = 2  # versions 1..WRITES of each block, at most WRITES writes in all
READS = 1  # reads in all
Block = Enum(*BLOCKS)
Version = Int(0, WRITES)  # 0: never written
ReadId = Int(1, READS)


def replicas(block: str, stores: tuple[str, ...], r: int) -> tuple[str, ...]:
    """The storage nodes a block lives on: its preference list on the consistent-hashing ring."""
    return preference_list(f"{FILE}/{block}", stores, r)


class Store(Message):
    block = Block
    version = Version


class Stored(Message):
    block = Block
    version = Version


class Fetch(Message):
    block = Block
    id = ReadId


class Fetched(Message):
    block = Block
    id = ReadId  # which read this answers
    version = Version


class Checkpoint(Message):
    block = Block
    version = Version


NONE = dict.fromkeys(BLOCKS, 0)


class StorageNode(Node):
    data = durable(Map(Block, Version), initial=NONE)  # the block versions on disk

    def on_store(self, msg, src):
        if msg.version > self.data[msg.block]:
            self.data = {**self.data, msg.block: msg.version}  # written and synced before the reply
        self.send(src, Stored(msg.block, msg.version))

    def held(self, block):
        return self.data[block]

    def on_fetch(self, msg, src):
        self.send(src, Fetched(msg.block, msg.id, self.held(msg.block)))


class MetadataNode(Node):
    latest = durable(Map(Block, Version), initial=NONE)  # the checkpointed block map of file f

    def on_checkpoint(self, msg, src):
        if msg.version > self.latest[msg.block]:
            self.latest = {**self.latest, msg.block: msg.version}


class Client(Node):
    REPLICAS, W, R = 2, 2, 1  # replicas per block, the write quorum, the read quorum

    written = durable(Map(Block, Version), initial=NONE)  # the last version written of each block
    writing = volatile(Option(Block), initial=None)
    acks = volatile(Set(Ids("store")), initial=frozenset())
    reads = durable(Int(0, READS), initial=0)
    reading = volatile(Option(Block), initial=None)
    answered = volatile(Set(Ids("store")), initial=frozenset())
    newest = volatile(Version, initial=0)
    floor = volatile(Version, initial=0)  # ghost: the version acknowledged when the read began
    acked = durable(Map(Block, Version), initial=NONE)  # ghost: the latest acknowledged version
    stale = durable(Bool(), initial=False)  # ghost: a read returned less than its floor

    def replicas(self, block):
        return replicas(block, self.nodes("store"), self.REPLICAS)

    @request(over=Block)
    def write(self, b):
        if self.writing is None and sum(self.written.values()) < WRITES:
            v = self.written[b] + 1
            self.written = {**self.written, b: v}
            self.writing, self.acks = b, frozenset()
            for s in self.replicas(b):
                self.send(s, Store(b, v))

    def on_stored(self, msg, src):
        if msg.block != self.writing or msg.version != self.written[msg.block]:
            return  # a late acknowledgement of a write already acknowledged
        self.acks = self.acks | {src}
        if len(self.acks) >= self.W:  # a write quorum stored it: acknowledged
            self.acked = {**self.acked, msg.block: msg.version}
            self.send("meta1", Checkpoint(msg.block, msg.version))
            self.writing = None

    @request(over=Block)
    def read(self, b):
        if self.reading is None and self.reads < READS:
            self.reads += 1
            self.reading, self.answered, self.newest, self.floor = b, frozenset(), 0, self.acked[b]
            for s in self.replicas(b):
                self.send(s, Fetch(b, self.reads))

    def on_fetched(self, msg, src):
        if msg.block != self.reading or msg.id != self.reads:
            return  # an answer to an earlier read
        self.answered = self.answered | {src}
        self.newest = max(self.newest, msg.version)
        if len(self.answered) >= self.R:  # a read quorum answered: return the newest version
            if self.newest < self.floor:
                self.stale = True
            self.reading = None


def held(store, block) -> int:
    """The version a storage node's record holds: on disk, or in a commit log not yet synced."""
    cache = getattr(store, "cache", None)
    return max(store.data[block], cache[block] if cache is not None else 0)


class QuorumStore(Protocol):
    """One metadata node, three storage nodes, one client; two replicas per block, W = 2, R = 1."""

    meta = Role(MetadataNode, 1)
    store = Role(StorageNode, 3)
    client = Role(Client, 1)
    messages = (Store, Stored, Fetch, Fetched, Checkpoint)

    def setup(self):
        self.stores = tuple(f"store{i}" for i in range(1, self.counts["store"] + 1))

    def holders(self, state, block):
        """The newest version of `block` that one of its replicas holds, live or down (a down node's volatile
        fields are already lost)."""
        stores = dict(zip(self.stores, state.role("store")))
        return max(held(stores[n], block) for n in replicas(block, self.stores, self.client.node.REPLICAS))

    @invariant
    def NoLostWrite(self, state):
        """Every acknowledged version of a block is held by one of its replicas, live or down."""
        return all(state.client1.acked[b] <= self.holders(state, b) for b in BLOCKS)

    @invariant
    def FreshReads(self, state):
        """No read returned a version older than the last one acknowledged before it began."""
        return not state.client1.stale

    @invariant
    def CheckpointBacked(self, state):
        """The metadata checkpoint names only acknowledged versions, each held by some replica."""
        latest = state.meta1.latest
        return all(latest[b] <= state.client1.acked[b] and latest[b] <= self.holders(state, b) for b in BLOCKS)


class OneOneClient(Client):
    """Broken on purpose: consistency level ONE for writes and reads, R + W = 2 <= 2 replicas."""

    W, R = 1, 1


class OneOneStore(QuorumStore):
    client = Role(OneOneClient, 1)


class PeriodicSyncNode(StorageNode):
    """Broken on purpose: acknowledges from the in-memory commit log; syncs to disk when `sync` fires."""

    cache = volatile(Map(Block, Version), initial=NONE)

    def held(self, block):
        return max(self.data[block], self.cache[block])

    def on_store(self, msg, src):
        if msg.version > self.held(msg.block):
            self.cache = {**self.cache, msg.block: msg.version}
            self.set_timer("sync")
        self.send(src, Stored(msg.block, msg.version))  # before the write is durable

    @timer
    def sync(self):
        self.data = {b: max(self.data[b], self.cache[b]) for b in BLOCKS}


class PeriodicSyncStore(QuorumStore):
    store = Role(PeriodicSyncNode, 3)
