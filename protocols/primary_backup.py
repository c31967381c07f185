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

Not modelled here: state transfer to a new backup (servers do not restart) and
the majority-vote variant of the view service.
"""

from checker import (
    Bool,
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
    next = durable(Int(1, WRITES + 1), initial=1)
    waiting = volatile(Bool(), initial=False)
    reads = durable(Int(0, READS), initial=0)
    reading = volatile(Bool(), initial=False)
    floor = volatile(Int(0, WRITES), initial=0)  # the latest write acknowledged when the read began
    acked = durable(Set(Value), initial=frozenset())
    stale = durable(Bool(), initial=False)  # ghost: a read returned less than a write acknowledged before it

    @request
    def write(self):
        if self.next <= WRITES and not self.waiting:
            self.broadcast(Write(self.next), role="server")
            self.next, self.waiting = self.next + 1, True

    def on_ack(self, msg, src):
        self.acked = self.acked | {msg.value}
        self.waiting = False

    @request
    def read(self):
        if not self.reading and self.reads < READS:
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
