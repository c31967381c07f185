"""A replicated read/write register, for checking the consistency of what its clients see (Herlihy &
Wing, "Linearizability", 1990; Attiya & Welch, "Sequential Consistency versus Linearizability", 1994).

Replicas hold the register's value; replica1 is the primary, which orders the
writes: it applies each write, gives it the next version, sends the value and
version to the other replicas (which apply only newer versions) and answers
the client. Clients each perform up to `ops` operations, one at a time, and
record them in the history (`self.invoke`, `self.complete`), which the checker
keeps in the state and judges with Jepsen's checkers.

Promises, on a network that delays and reorders but does not lose messages,
without crashes: with reads served by the primary (`PrimaryRegister`) every
history is **linearizable** — the primary is the one copy that every operation
meets, in an order consistent with real time. The replicas **converge**: once
every message is delivered, all hold the primary's value.

Broken on purpose: `AnyReplicaRegister` serves reads from any replica. A
backup that has not yet applied a write answers with the older value after
the write was acknowledged: not linearizable (a client's read misses a write
that completed before it began), though sequentially consistent here, since
the clients do one operation each. The replicas still converge.
"""

from checker import History, Int, Message, Node, Option, Param, Protocol, Role, durable, request, volatile

Value = Int(1, 2)
OPS = 1  # operations per client: the workload is bounded so the history is
Version = Int(0, 4)


class Write(Message):
    value = Value


class WriteOk(Message):
    value = Value


class Read(Message):
    pass


class ReadOk(Message):
    value = Option(Value)  # none: never written (Jepsen's null)


class Replicate(Message):
    value = Value
    version = Version


class Replica(Node):
    value = durable(Option(Value), initial=None)
    version = durable(Version, initial=0)

    def on_write(self, msg, src):  # the primary orders the writes
        self.value, self.version = msg.value, self.version + 1
        for peer in self.peers("replica"):
            self.send(peer, Replicate(msg.value, self.version))
        self.send(src, WriteOk(msg.value))

    def on_replicate(self, msg, src):
        if msg.version > self.version:  # versions keep a backup from going back to an older write
            self.value, self.version = msg.value, msg.version

    def on_read(self, msg, src):
        self.send(src, ReadOk(self.value))


class Client(Node):
    done = durable(Int(0, OPS), initial=0)
    busy = volatile(Int(0, 1), initial=0)

    def ready(self) -> bool:
        return not self.busy and self.done < OPS

    @request(over=Value)
    def write(self, v):
        if self.ready():
            self.invoke("write", v)
            self.send("replica1", Write(v))
            self.busy = 1

    @request
    def read(self):
        if self.ready():
            self.invoke("read")
            self.send(self.read_from(), Read())
            self.busy = 1

    def read_from(self) -> str:
        return "replica1"

    def on_write_ok(self, msg, src):
        self.complete("ok", "write", msg.value)
        self.busy, self.done = 0, self.done + 1

    def on_read_ok(self, msg, src):
        self.complete("ok", "read", msg.value)
        self.busy, self.done = 0, self.done + 1


class AnyReplicaClient(Client):
    def read_from(self) -> str:
        return self.choose(self.nodes("replica"))  # broken: a backup may not have the latest write yet


class PrimaryRegister(Protocol):
    """`replicas` replicas (replica1 the primary) and `clients` clients doing OPS operations each."""

    replicas = Param(2, "number of replicas", lo=1, hi=3)
    clients = Param(2, "number of clients", lo=1, hi=3)
    replica = Role(Replica, "replicas")
    client = Role(Client, "clients")
    messages = (Write, WriteOk, Read, ReadOk, Replicate)
    history = History(values=Value, max_events=12, ops=("read", "write"))


class AnyReplicaRegister(PrimaryRegister):
    client = Role(AnyReplicaClient, "clients")
