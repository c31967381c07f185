"""Multi-version replication with version vectors (Parker, Popek, Rudisin, Stoughton, Walker, Kiser,
Edwards & Chow, "Detection of Mutual Inconsistency in Distributed Systems", 1983; DeCandia et al.,
"Dynamo: Amazon's Highly Available Key-value Store", SOSP 2007; the dots of Preguiça, Baquero,
Almeida, Fonte & Gonçalves, "Dotted Version Vectors", 2010).

One key, replicated on two replicas; any replica accepts a write. A client may
first `get` the key from a replica: it receives every version the replica
keeps (the siblings) and remembers their version vectors, merged, as its
*context*. Its `put` carries that context to a coordinating replica, which
increments its own entry: the new version is stamped with the dot
(coordinator, counter) and keeps the client's context apart. A version is
obsolete when another one's context contains its dot: that writer had seen
it, so the new value causally overwrites it. A replica keeps only the
versions no other version makes obsolete, so concurrent writes are *detected*
and kept side by side as siblings, for the reader to reconcile. The
coordinator sends the new version to the other replica, which merges it the
same way (`sync`: the maximal versions of the union, in any order, any number
of times).

Why the dot is kept apart from the context: folding the increment into the
vector (Dynamo's per-server vector clocks) makes a blind write at a
coordinator dominate an earlier write the same coordinator took, though its
writer never saw it; that write would be discarded as "overwritten".

Promises, on a network that delays, reorders and duplicates messages (no
crashes: a replica's versions are durable, and the question here is
concurrency, not failure):
- `NoLostWrite`: no acknowledged write is silently lost: at every replica
  that has heard of it, it is kept as a sibling or causally overwritten (a
  kept version's writer had seen it). A ghost field per client, `seen`, the
  values it read before writing, checks this independently of the vectors;
- `Converges` (`[consistency] converges = "replica.siblings"`): once every
  message is delivered, the replicas keep the same siblings.

Broken on purpose: `LastWriterWins` keeps one version per replica, the one
with the latest timestamp from the coordinator's clock (ties broken by
replica), and the clocks are not synchronised (replica1's runs one tick
ahead). Concurrent writes cannot be kept side by side: the one stamped later
wins and the other vanishes, no sibling left. Shortest counterexample
(`NoLostWrite`, 5 steps): client1 puts 1 at replica1 and is acknowledged;
client2, which has read nothing, puts 2 at replica1, which keeps 2 only. With
the lagging clock, even a write that causally follows another loses to it
(client2 reads 1 at replica1, stamped 2, then writes 2 at replica2, stamped
1; replica2 discards it when 1 arrives: see the tests). The replicas still
converge, to the surviving value.
"""

from checker import (
    Bool,
    FrozenDict,
    Int,
    Map,
    Message,
    Node,
    NodeId,
    Protocol,
    Record,
    Role,
    Set,
    durable,
    invariant,
    request,
    volatile,
)

REPLICAS = 2
CLIENTS = 2  # client i writes the value i, once
Value = Int(1, CLIENTS)
ReplicaId = NodeId("replica", REPLICAS)
Counter = Int(0, CLIENTS + 1)  # writes a replica coordinated (or, last-writer-wins, its clock ahead by one)
Vector = Map(ReplicaId, Int(0, CLIENTS))  # an entry counts the writes a replica coordinated
Version = Record("Version", value=Value, dot=ReplicaId, n=Counter, context=Vector)
ZERO = FrozenDict({r: 0 for r in ReplicaId.values()})


# -- version vectors: pure functions --------------------------------------------------------------


def leq(a, b) -> bool:
    """a <= b: every entry of `a` is at most `b`'s (b has seen everything a has): a partial order."""
    return all(a[k] <= b[k] for k in a)


def merge(a, b):
    """The least upper bound of two version vectors: entrywise maximum."""
    return FrozenDict({k: max(a[k], b[k]) for k in a})


def concurrent(a, b) -> bool:
    """Neither has seen all the other has seen: a conflict."""
    return not leq(a, b) and not leq(b, a)


def vector(v):
    """A version's vector: its writer's context, and its own dot."""
    return merge(v.context, FrozenDict({**ZERO, v.dot: v.n}))


def obsoletes(s, w) -> bool:
    """`s`'s writer had seen `w` (w's dot is in s's context): s causally overwrites w."""
    return w.n <= s.context[w.dot]


def sync(a, b):
    """Merge two sets of siblings: keep every version that no version of either makes obsolete."""
    union = set(a) | set(b)
    return frozenset(w for w in union if not any(obsoletes(s, w) for s in union))


# -- messages ---------------------------------------------------------------------------------------


class Get(Message):
    pass


class GetOk(Message):
    values = Set(Value)  # the siblings' values
    context = Vector  # ... and their vectors, merged: what the reader has seen


class Put(Message):
    value = Value
    context = Vector  # the merged vectors of the versions the client read


class PutOk(Message):
    value = Value


class Replicate(Message):
    version = Version


# -- nodes ------------------------------------------------------------------------------------------


class Replica(Node):
    siblings = durable(Set(Version), initial=frozenset())
    counter = durable(Counter, initial=0)  # the writes this replica coordinated
    heard = durable(Set(Value), initial=frozenset())  # ghost: the writes this replica has received

    def on_get(self, msg, src):
        context = ZERO
        for s in self.siblings:
            context = merge(context, vector(s))
        self.send(src, GetOk(frozenset(s.value for s in self.siblings), context))

    def on_put(self, msg, src):  # coordinate: increment our own entry
        if msg.value in self.heard:
            return  # a duplicated request (the value identifies it: each client writes once)
        self.counter += 1
        version = Version.make(value=msg.value, dot=self.id, n=self.counter, context=msg.context)
        self.store(version)
        self.send(src, PutOk(msg.value))
        for peer in self.peers("replica"):
            self.send(peer, Replicate(version))

    def on_replicate(self, msg, src):
        self.store(msg.version)

    def store(self, version):
        self.heard = self.heard | {version.value}
        self.siblings = sync(self.siblings, {version})


class Client(Node):
    context = durable(Vector, initial=ZERO)
    seen = durable(Set(Value), initial=frozenset())  # ghost: the values this client read before writing
    read = durable(Bool(), initial=False)
    wrote = durable(Bool(), initial=False)
    busy = volatile(Bool(), initial=False)
    acked = durable(Bool(), initial=False)  # ghost: its write was acknowledged

    def value(self):
        return int(self.id.removeprefix("client"))

    @request
    def get(self):
        if not self.busy and not self.read and not self.wrote:
            self.read = self.busy = True
            self.send(self.choose(self.nodes("replica")), Get())

    def on_get_ok(self, msg, src):
        if not self.busy or self.wrote:
            return  # the answer to a duplicated request
        self.context, self.seen, self.busy = msg.context, msg.values, False

    @request
    def put(self):
        if not self.busy and not self.wrote:
            self.wrote = self.busy = True
            self.send(self.choose(self.nodes("replica")), Put(self.value(), self.context))

    def on_put_ok(self, msg, src):
        self.acked, self.busy = True, False


class VersionVectors(Protocol):
    """Two replicas and two clients; each client may read once, then writes its value once."""

    replica = Role(Replica, REPLICAS)
    client = Role(Client, CLIENTS)
    messages = (Get, GetOk, Put, PutOk, Replicate)

    @invariant
    def NoLostWrite(self, state):
        """At every replica that heard of an acknowledged write, it is a sibling or causally overwritten."""
        clients = state.role("client")
        acked = {i for i, c in enumerate(clients, start=1) if c.acked}
        past = {i: causal_past(i, clients) for i in range(1, len(clients) + 1)}
        for r in state.role("replica"):
            for v in acked & r.heard:
                if not any(s.value == v or v in past[s.value] for s in r.siblings):
                    return False
        return True


def causal_past(value, clients):
    """Ghost: the values the writer of `value` had seen, directly or through what it read (client i writes i)."""
    past, todo = set(), [value]
    while todo:
        for v in clients[todo.pop() - 1].seen:
            if v not in past:
                past.add(v)
                todo.append(v)
    return past


# -- broken on purpose: last writer wins, by clocks that are not synchronised -----------------------


class ClockReplica(Replica):
    """Keeps the one version with the latest (timestamp, replica); `counter` is its clock."""

    def on_start(self):
        if self.id == "replica1":
            self.counter = 1  # replica1's clock runs one tick ahead

    def on_get(self, msg, src):  # the values, no vectors: the timestamps order the versions
        self.send(src, GetOk(frozenset(s.value for s in self.siblings), ZERO))

    def store(self, version):
        self.heard = self.heard | {version.value}
        latest = max(set(self.siblings) | {version}, key=lambda v: (v.n, v.dot))
        self.siblings = frozenset({latest})


class LastWriterWins(VersionVectors):
    replica = Role(ClockReplica, REPLICAS)
