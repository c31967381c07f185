"""Primary-backup replication with a view service (Alsberg & Day, 1976; Budhiraja, Marzullo,
Schneider & Toueg, "The Primary-Backup Approach", 1993; the view-service design of MIT 6.824).

A client writes values and reads the latest one. The primary of the current
view applies a write to its log, sends it to every backup of its view, and
acknowledges the client once every backup has applied it. A view service,
which the fault model never crashes and which learns of crashes through a
perfect failure detector (`on_peer_crash`), starts a new view, with a
higher epoch, when a member crashes: a crashed primary is replaced by a live
backup, a crashed backup is dropped. Servers act only on messages of their
own epoch, so a deposed primary can no longer complete a write.

Promises, with crash-stop servers (`[faults] crashes`, `crashable = ["server"]`)
on a network that delays and reorders but does not lose messages:
- `NoLostWrite`: every acknowledged write is in the log of the primary of the
  highest-epoch view;
- `AckedReplicated`: ... and in the log of every member of that view;
- `OnePrimaryPerEpoch`: at most one server acts as primary in any epoch;
- `FreshReads`: a read never returns less than a write acknowledged before the
  read began (a read concurrent with a write may return either value).

Broken on purpose:
- `AckEarly`: the primary acknowledges a write before replicating it. With the
  same failover, a primary that crashes right after the acknowledgement takes
  the write with it: the new primary never saw it (`NoLostWrite` fails; the
  shortest counterexample, 5 steps: write, apply, acknowledge, crash, fail over).
- `SplitBrain`: a backup promotes itself when its suspicion timer fires, without
  the view service. A timer cannot tell a crashed primary from a slow or
  partitioned one, so two servers act as primaries at once and a client reads
  from the deposed one a value older than its acknowledged write (`FreshReads`).
  The shortest counterexample needs no partition at all: a primary that is
  merely slow to hear of the new view is enough (7 steps).

Crash-recovery and state transfer (`StateTransfer`; `[faults] restarts = true`).
A server's log and view are durable (on disk); what it was doing (`pending`,
`applied_by`, its joiners) is volatile, and so are the messages in flight to
it when it crashes (`[network] lose_on_crash = true`). A restarted server has
missed every write made while it was out of the view, so it comes back
*recovering*: it serves nothing, applies nothing, and asks the view service to
`Join`. The view service asks the primary to `Transfer` its state; the primary
sends its whole log (`State`), and from then on replicates every new write to
the joiner too and waits for it before acknowledging; the joiner adopts the
log and tells the view service (`Caught`), which only then re-admits it as a
backup, in a new view (`Readmit`). A restart the detector never saw (the
server came back before anyone noticed) is handled the same way: the view
service first drops the server from the view. If the primary itself was the
sole member, it is re-admitted at once: its log on disk holds every
acknowledged write. Promises: `NoLostWrite`, `AckedReplicated` and
`OnePrimaryPerEpoch` with two crashes and restarts of servers (the spec's
client writes once: what a failover can lose is that acknowledged write), and
`FreshReads` with two writes, a read, a crash and a restart (tests).

Broken on purpose:
- `NoTransfer`: the view service re-admits a restarted server as a backup at
  once, with the log it kept on disk. It never receives the writes
  acknowledged while it was out, and after a later failover it is the primary
  with a stale log (`NoLostWrite`). The shortest counterexample, 9 steps: the
  primary applies write 1; server2 crashes (the replication in flight to it is
  lost) and restarts; at its Join the view service drops it (view 1) and at
  once re-admits it (view 2) with its empty log; the primary, told of view 1
  where it is alone, acknowledges write 1; server1 crashes and server2 is
  promoted without write 1.

A recorded history (`LinearizablePrimaryBackup`, `RegisterClient`). The
client above keeps only what its invariants need (`acked`, the ghost
`stale`). `RegisterClient` behaves as a Jepsen process instead: one operation
outstanding at a time, in the order write 1, read, write 2, read (it stops at
the first that never completes), each recorded with `invoke`/`complete`; a
read of an empty log returns the register's initial value, null. With the
same servers and one crash of a server, every history is linearizable
(`[consistency] history = "linearizable"`), and so is the history that
`faultcheck run` records from real processes under SIGKILLs. The runtime's
partitions drop messages, which this model's network never does, and the
client neither retries nor times out: an operation whose request or answer
is cut off stays pending and the workload stops there (still linearizable).
The same client in front of `EarlyServer` records a read of null after
write 1 was acknowledged: not linearizable.

Not modelled here: the majority-vote variant of the view service, and
liveness (the model is safe, not live: a write replicated to a joiner before
its state arrives is ignored on an unordered network, and a primary waits
for a joiner that crashed while catching up).
"""

from checker import (
    Bool,
    History,
    Ids,
    Int,
    Message,
    Node,
    Option,
    Param,
    Protocol,
    Role,
    Seq,
    Set,
    durable,
    invariant,
    request,
    timer,
    volatile,
)

WRITES = 2  # the client writes the values 1, 2 in this order
Value = Int(1, WRITES)
Epoch = Int(0, 3)


class Write(Message):
    value = Value


class Ack(Message):
    value = Value


READS = 2  # the client reads at most this many times
ReadId = Int(1, READS)


class Read(Message):
    id = ReadId


class ReadReply(Message):
    id = ReadId  # which read this answers: a late reply to an earlier read is not this read's answer
    value = Int(0, WRITES)  # 0: the log is empty


class Replicate(Message):
    epoch = Epoch
    value = Value


class Applied(Message):
    epoch = Epoch
    value = Value


class NewView(Message):
    epoch = Epoch
    primary = Ids("server")
    backups = Set(Ids("server"))


class ViewService(Node):
    epoch = durable(Epoch, initial=0)
    primary = durable(Ids("server"), initial="server1")
    backups = durable(Set(Ids("server")), initial=frozenset())
    down = durable(Set(Ids("server")), initial=frozenset())

    def on_start(self):
        self.backups = frozenset(self.nodes("server")[1:])

    def on_peer_crash(self, peer):
        if peer not in self.nodes("server"):
            return  # a client's crash changes no view
        self.down = self.down | {peer}
        live = sorted(self.backups - self.down)
        if peer == self.primary and live:  # promote the first live backup: it applied every acknowledged write
            self.new_view(live[0], frozenset(live[1:]))
        elif peer in self.backups:  # drop the crashed backup, so the primary stops waiting for it
            self.new_view(self.primary, frozenset(live))

    def new_view(self, primary, backups):
        if self.epoch < Epoch.hi:
            self.epoch, self.primary, self.backups = self.epoch + 1, primary, backups
            self.broadcast(NewView(self.epoch, primary, backups), role="server")


class Server(Node):
    epoch = durable(Epoch, initial=0)
    primary = durable(Ids("server"), initial="server1")
    backups = durable(Set(Ids("server")), initial=frozenset())
    log = durable(Seq(Value, max_len=WRITES), initial=())
    pending = volatile(Option(Value), initial=None)  # the write the primary is replicating
    applied_by = volatile(Set(Ids("server")), initial=frozenset())

    def on_start(self):
        if self.epoch == 0:  # the initial view: the first server is the primary
            self.backups = frozenset(self.nodes("server")[1:])

    def is_primary(self):
        return self.primary == self.id

    def on_write(self, msg, src):
        if not self.is_primary() or self.pending is not None or msg.value in self.log:
            return
        self.log = self.log + (msg.value,)
        self.pending, self.applied_by = msg.value, frozenset()
        for b in sorted(self.backups):
            self.send(b, Replicate(self.epoch, msg.value))
        self.ack_if_replicated()

    def on_replicate(self, msg, src):
        if msg.epoch != self.epoch or self.is_primary():
            return  # a deposed primary's write is refused
        if msg.value not in self.log:
            self.log = self.log + (msg.value,)
        self.send(src, Applied(msg.epoch, msg.value))

    def on_applied(self, msg, src):
        if self.is_primary() and msg.epoch == self.epoch and msg.value == self.pending:
            self.applied_by = self.applied_by | {src}
            self.ack_if_replicated()

    def ack_if_replicated(self):
        if self.pending is not None and self.applied_by >= self.backups:  # every backup of the view has it
            self.send("client1", Ack(self.pending))
            self.pending = None

    def on_new_view(self, msg, src):
        if msg.epoch <= self.epoch:
            return
        self.epoch, self.primary, self.backups = msg.epoch, msg.primary, msg.backups
        if not self.is_primary():
            self.pending = None
        elif self.pending is not None:  # replicate the unfinished write again, in the new epoch
            self.applied_by = frozenset()
            for b in sorted(self.backups):
                self.send(b, Replicate(self.epoch, self.pending))
            self.ack_if_replicated()

    def on_read(self, msg, src):
        if self.is_primary():
            self.send(src, ReadReply(msg.id, self.log[-1] if self.log else 0))


class Client(Node):
    max_writes, max_reads = WRITES, READS  # the workload (a subclass may do less)
    next = durable(Int(1, WRITES + 1), initial=1)
    waiting = volatile(Bool(), initial=False)
    reads = durable(Int(0, READS), initial=0)
    reading = volatile(Bool(), initial=False)
    floor = volatile(Int(0, WRITES), initial=0)  # the latest write acknowledged when the read began
    acked = durable(Set(Value), initial=frozenset())
    stale = durable(Bool(), initial=False)  # ghost: a read returned less than a write acknowledged before it

    @request
    def write(self):
        if self.next <= self.max_writes and not self.waiting:
            self.broadcast(Write(self.next), role="server")
            self.next, self.waiting = self.next + 1, True

    def on_ack(self, msg, src):
        self.acked = self.acked | {msg.value}
        self.waiting = False

    @request
    def read(self):
        if not self.reading and self.reads < self.max_reads:
            self.reads += 1
            self.broadcast(Read(self.reads), role="server")
            self.reading, self.floor = True, max(self.acked, default=0)

    def on_read_reply(self, msg, src):
        if not self.reading or msg.id != self.reads:
            return  # an answer to an earlier read
        if msg.value < self.floor:  # a write acknowledged before the read began is missing
            self.stale = True
        self.reading = False


class PrimaryBackup(Protocol):
    """A view service, `servers` servers (server1 the first primary) and one client."""

    servers = Param(3, "number of servers", lo=1, hi=4)
    vs = Role(ViewService, 1)
    server = Role(Server, "servers")
    client = Role(Client, 1)
    messages = (Write, Ack, Read, ReadReply, Replicate, Applied, NewView)

    # The invariants read the nodes' variables only (never the network), so the checker evaluates
    # each once per distinct combination of node states.

    def setup(self):
        self.server_names = [f"server{i}" for i in range(1, self.counts["server"] + 1)]

    @staticmethod
    def newest_view(vs, servers):
        """(epoch, primary, backups) of the highest-epoch view anyone holds (the view service first)."""
        views = [(vs.epoch, vs.primary, vs.backups)] + [(s.epoch, s.primary, s.backups) for s in servers.values()]
        return max(views, key=lambda v: v[0])

    @invariant
    def NoLostWrite(self, state):
        """Every acknowledged write is in the log of the primary of the highest-epoch view."""
        servers = dict(zip(self.server_names, state.role("server")))
        _, primary, _ = self.newest_view(state.vs1, servers)
        return state.client1.acked <= set(servers[primary].log)

    @invariant
    def AckedReplicated(self, state):
        """Every acknowledged write is in the log of every member of the highest-epoch view."""
        servers = dict(zip(self.server_names, state.role("server")))
        _, primary, backups = self.newest_view(state.vs1, servers)
        return all(state.client1.acked <= set(servers[m].log) for m in {primary} | backups)

    @invariant
    def OnePrimaryPerEpoch(self, state):
        """No two servers act as primary in the same epoch."""
        claims = [s.epoch for name, s in zip(self.server_names, state.role("server")) if s.primary == name]
        return len(claims) == len(set(claims))

    @invariant
    def FreshReads(self, state):
        """No read returned less than a write acknowledged before it began."""
        return not state.client1.stale


class EarlyServer(Server):
    """Broken on purpose: acknowledges a write before any backup has it."""

    def on_write(self, msg, src):
        if not self.is_primary() or msg.value in self.log:
            return
        self.log = self.log + (msg.value,)
        self.send(src, Ack(msg.value))
        for b in sorted(self.backups):
            self.send(b, Replicate(self.epoch, msg.value))


class AckEarly(PrimaryBackup):
    server = Role(EarlyServer, "servers")


class SuspiciousServer(Server):
    """Broken on purpose: a backup that suspects the primary promotes itself."""

    def on_start(self):
        super().on_start()
        if not self.is_primary():
            self.set_timer("suspect")

    @timer
    def suspect(self):
        if not self.is_primary() and self.epoch < Epoch.hi:
            others = frozenset(self.peers("server")) - {self.primary}
            self.epoch, self.primary, self.backups = self.epoch + 1, self.id, others
            self.broadcast(NewView(self.epoch, self.id, others), role="server")


class SplitBrain(PrimaryBackup):
    server = Role(SuspiciousServer, "servers")


# -- crash-recovery: a restarted server is re-admitted only after a state transfer ----------------


class Join(Message):
    """A restarted server -> the view service: I am back, with a log that may be stale."""


class Transfer(Message):
    """The view service -> the primary of `epoch`: send your state to `joiner`."""

    epoch = Epoch
    joiner = Ids("server")


class State(Message):
    """The primary -> a joiner: its whole log, as of `epoch`."""

    epoch = Epoch
    log = Seq(Value, max_len=WRITES)


class Caught(Message):
    """A joiner -> the view service: I hold the state of the primary of `epoch`."""

    epoch = Epoch


class Readmit(Message):
    """The view service -> a recovered server: you are a member of this view again."""

    epoch = Epoch
    primary = Ids("server")
    backups = Set(Ids("server"))


class RejoiningViewService(ViewService):
    joining = durable(Set(Ids("server")), initial=frozenset())  # restarted servers waiting for a state transfer

    def on_peer_crash(self, peer):
        self.joining = self.joining - {peer}
        super().on_peer_crash(peer)

    def on_join(self, msg, src):
        self.down = self.down - {src}
        if src == self.primary and not self.backups - self.down:
            self.readmit(src, src, frozenset())  # the sole member is back: its log on disk has every acknowledged write
            return
        if src == self.primary or src in self.backups:  # it restarted before the detector saw it crash
            self.drop(src)
        self.joining = self.joining | {src}
        self.send(self.primary, Transfer(self.epoch, src))

    def on_caught(self, msg, src):
        if msg.epoch == self.epoch and src in self.joining:  # it holds the state of this view's primary
            self.joining = self.joining - {src}
            self.readmit(src, self.primary, self.backups | {src})

    def readmit(self, server, primary, backups):
        epoch = self.epoch
        self.new_view(primary, backups, readmitted=server)
        if self.epoch != epoch:
            self.send(server, Readmit(self.epoch, primary, backups))

    def drop(self, server):
        live = sorted(self.backups - self.down - {server})
        if server == self.primary and live:
            self.new_view(live[0], frozenset(live[1:]))
        elif server in self.backups:
            self.new_view(self.primary, frozenset(live))

    def new_view(self, primary, backups, readmitted=None):
        # Only the members are told: a server left out has crashed (it learns on its return), and a readmitted
        # one gets its Readmit.
        if self.epoch < Epoch.hi:
            self.epoch, self.primary, self.backups = self.epoch + 1, primary, backups
            for member in sorted(({primary} | backups) - {readmitted}):
                self.send(member, NewView(self.epoch, primary, backups))
            for joiner in sorted(self.joining):  # the transfers start afresh, from the primary of the new view
                self.send(primary, Transfer(self.epoch, joiner))


class RecoveringServer(Server):
    booted = durable(Bool(), initial=False)
    recovering = volatile(Bool(), initial=False)  # restarted, not yet re-admitted: serves and applies nothing
    synced = volatile(Bool(), initial=False)  # recovering, and holds the state of the primary of its epoch
    catching_up = volatile(Set(Ids("server")), initial=frozenset())  # a primary's joiners, sent its state

    def on_start(self):
        if not self.booted:
            self.booted = True
            super().on_start()
        else:  # a restart: the log on disk may miss every write made while this server was out
            self.recovering = True
            self.send("vs1", Join())

    def is_primary(self):
        return not self.recovering and self.primary == self.id

    def on_transfer(self, msg, src):
        if self.is_primary() and msg.epoch == self.epoch:
            self.catching_up = self.catching_up | {msg.joiner}  # from now on each write goes to it too
            self.send(msg.joiner, State(self.epoch, self.log))

    def on_state(self, msg, src):
        if self.recovering and not self.synced and msg.epoch >= self.epoch:
            self.log, self.epoch, self.primary, self.synced = msg.log, msg.epoch, src, True
            self.send("vs1", Caught(msg.epoch))

    def on_readmit(self, msg, src):
        if self.recovering and msg.epoch > self.epoch:
            self.recovering = self.synced = False
            self.epoch, self.primary, self.backups = msg.epoch, msg.primary, msg.backups

    def targets(self):
        return self.backups | self.catching_up

    def replicate(self, value):
        for b in sorted(self.targets()):
            self.send(b, Replicate(self.epoch, value))

    def on_write(self, msg, src):
        if not self.is_primary() or self.pending is not None or msg.value in self.log:
            return
        self.log = self.log + (msg.value,)
        self.pending, self.applied_by = msg.value, frozenset()
        self.replicate(msg.value)
        self.ack_if_replicated()

    def on_replicate(self, msg, src):
        if self.recovering and not (self.synced and msg.epoch == self.epoch):
            return  # a joiner applies the primary's writes only on top of the primary's state
        if msg.epoch != self.epoch or self.primary == self.id:
            return
        if msg.value not in self.log:
            self.log = self.log + (msg.value,)
        self.send(src, Applied(msg.epoch, msg.value))

    def ack_if_replicated(self):
        if self.pending is not None and self.applied_by >= self.targets():  # every backup and joiner has it
            self.send("client1", Ack(self.pending))
            self.pending = None

    def on_new_view(self, msg, src):
        if self.recovering:
            return  # only a Readmit makes a recovered server a member again
        if msg.epoch > self.epoch:
            self.catching_up = frozenset()  # the view service asks the new view's primary for the transfers
        super().on_new_view(msg, src)


class OneWrite(Client):
    """The crash-recovery workload: one write, no read (what a failover can lose is the acknowledged write)."""

    max_writes, max_reads = 1, 0


class StateTransfer(PrimaryBackup):
    """Crash-recovery: a restarted server rejoins as a backup once the primary has transferred its log."""

    vs = Role(RejoiningViewService, 1)
    server = Role(RecoveringServer, "servers")
    client = Role(OneWrite, 1)
    messages = PrimaryBackup.messages + (Join, Transfer, State, Caught, Readmit)


class EagerViewService(RejoiningViewService):
    """Broken on purpose: re-admits a restarted server at once, with whatever log it kept on disk."""

    def on_join(self, msg, src):
        self.down = self.down - {src}
        if src == self.primary and not self.backups - self.down:
            self.readmit(src, src, frozenset())
            return
        if src == self.primary or src in self.backups:
            self.drop(src)
        self.readmit(src, self.primary, self.backups | {src})  # no state transfer


class NoTransfer(StateTransfer):
    vs = Role(EagerViewService, 1)


# -- a linearizable history: the client as a Jepsen process ---------------------------------------


class RegisterClient(Client):
    """A Jepsen process: one operation outstanding at a time, in the order write 1, read, write 2, read (it
    stops at the first that never completes), each recorded in the history. A read of an empty log (0)
    returns the register's initial value, Jepsen's null."""

    def idle(self):
        return not self.waiting and not self.reading

    @request
    def write(self):
        if self.idle() and self.reads == self.next - 1 and self.next <= self.max_writes:
            self.invoke("write", self.next)
            super().write()

    def on_ack(self, msg, src):
        if self.waiting and msg.value == self.next - 1:  # the acknowledgement of the outstanding write
            self.complete("ok", "write", msg.value)
            super().on_ack(msg, src)

    @request
    def read(self):
        if self.idle() and self.reads < min(self.next - 1, self.max_reads):  # a read after each write
            self.invoke("read")
            super().read()

    def on_read_reply(self, msg, src):
        if self.reading and msg.id == self.reads:  # the answer to the outstanding read
            self.complete("ok", "read", msg.value or None)
        super().on_read_reply(msg, src)


class LinearizablePrimaryBackup(PrimaryBackup):
    """The correct variant with a client that records its operations: its history is linearizable."""

    client = Role(RegisterClient, 1)
    history = History(values=Value, max_events=2 * (WRITES + READS), ops=("read", "write"))
