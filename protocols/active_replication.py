"""Active replication: a register as a replicated state machine (Schneider, "Implementing
Fault-Tolerant Services Using the State Machine Approach: A Tutorial", ACM Computing Surveys 22(4),
1990), the total order of requests given by a sequencer (the fixed-sequencer class of Défago,
Schiper & Urbán, "Total Order Broadcast and Multicast Algorithms", ACM Computing Surveys, 2004).

Schneider's two requirements on the replicas of a deterministic state machine:
- Agreement: every non-faulty replica receives every request;
- Order: every non-faulty replica processes the requests it receives in the same relative order.

A client sends its command (a read, or a write) to the sequencer, which gives it the next sequence
number and sends `Ordered(seq, cmd)` to every replica (agreement: the network loses nothing). A
replica applies commands strictly in sequence order: one that arrives early waits in a buffer until
every smaller number has been applied (order). Each replica answers the client once it has applied
the command; as every replica applies the same commands in the same order from the same initial
state, all answers to a command agree, and the client takes the first. With fail-stop replicas,
t + 1 replicas tolerate t failures (Schneider, section 3): the client needs one answer.

Reads are commands in the total order too: answering a read from a replica's local copy without
ordering it would let a slow replica answer with an old value. Client i issues one command, a read
or a write of the value i (distinct values, as Jepsen's register tests use), so the history is short
and every write is told apart.

Promises, with crash-stop replicas (`[faults] crashes`: any number up to all but one replica,
`crashable = ["replica"]`) on a network that delays and reorders but does not lose messages; the
sequencer and the clients do not fail (replacing a failed sequencer needs agreement on the new one,
i.e. consensus: not modelled here):
- `LogsArePrefixes`: any two replicas' logs of applied writes are prefixes of one another (they never
  diverge; a slow or crashed replica has applied a prefix of what a faster one applied);
- `Linearizable` (spec `[consistency] history = "linearizable"`, model "register"): the clients'
  history is linearizable;
- `Answered` (liveness, deliveries weakly fair): every command is answered, as long as one replica
  is up. With every replica crashed a client waits forever: t + 1 replicas, no fewer, for t crashes.

Broken on purpose: `ArrivalOrder` replicas ignore the sequence numbers and apply each command as it
arrives. The network reorders, so two replicas may apply the same two writes in different orders and
the state machines diverge. Shortest counterexample (6 steps): client1 writes 1 and client2 writes 2,
the sequencer orders both, replica1 receives and applies write 1 while replica2 receives and applies
write 2 first: neither log is a prefix of the other (`LogsArePrefixes`), replica1 holds 1 and
replica2 holds 2, and each will next apply the other's write: the two replicas end with different
values, and which one a later read sees depends on which replica answers first.
"""

from checker import (
    Enum,
    History,
    Int,
    Map,
    Message,
    Node,
    Option,
    Param,
    Protocol,
    Record,
    Role,
    Seq,
    durable,
    exists,
    invariant,
    leads_to,
    liveness,
    request,
)

MAX_CLIENTS = 3
Value = Int(1, MAX_CLIENTS)  # client i writes the value i
SeqNo = Int(1, MAX_CLIENTS)  # one command per client: at most MAX_CLIENTS commands are ordered
Cmd = Record("Cmd", client=Int(1, MAX_CLIENTS), op=Enum("read", "write"))  # client i's command: a write writes i


class Request(Message):  # client -> sequencer
    cmd = Cmd


class Ordered(Message):  # sequencer -> every replica: the total-order broadcast
    seq = SeqNo
    cmd = Cmd


class Reply(Message):  # replica -> the client that issued the command (one command per client: no id needed)
    value = Option(Value)  # the register after the command (none: never written)


class Sequencer(Node):
    last = durable(Int(0, MAX_CLIENTS), initial=0)  # the last sequence number given out

    def on_request(self, msg, src):
        self.last += 1
        self.broadcast(Ordered(self.last, msg.cmd), role="replica")


class Replica(Node):
    value = durable(Option(Value), initial=None)  # the state machine's state: the register
    log = durable(Seq(Cmd, max_len=MAX_CLIENTS), initial=())  # the writes applied, in order (a read changes nothing)
    next = durable(Int(1, MAX_CLIENTS + 1), initial=1)  # the sequence number of the next command to apply
    buffer = durable(Map(SeqNo, Option(Cmd)), initial={1: None, 2: None, 3: None})  # arrived early, not applied

    def on_ordered(self, msg, src):
        if msg.seq < self.next:
            return  # applied already (a duplicate, where the network duplicates)
        self.buffer = {**self.buffer, msg.seq: msg.cmd}
        while self.next <= SeqNo.hi and self.buffer[self.next] is not None:  # apply in sequence order
            cmd = self.buffer[self.next]
            self.buffer = {**self.buffer, self.next: None}
            self.next += 1
            self.apply(cmd)

    def apply(self, cmd):
        """The state machine's transition, then the answer to the client."""
        if cmd.op == "write":
            self.value = cmd.client
            self.log = self.log + (cmd,)
        self.send(f"client{cmd.client}", Reply(self.value))


class ArrivalOrderReplica(Replica):
    """Broken on purpose: applies each command when it arrives, ignoring its sequence number."""

    def on_ordered(self, msg, src):
        self.apply(msg.cmd)


class Client(Node):
    pending = durable(Option(Cmd), initial=None)  # the command waiting for its first answer
    done = durable(Int(0, 1), initial=0)  # one command per client: the history stays small

    def issue(self, op):
        if self.pending is None and not self.done:
            me = self.nodes("client").index(self.id) + 1
            self.invoke(op, me if op == "write" else None)
            self.pending = Cmd.make(client=me, op=op)
            self.send("sequencer1", Request(self.pending))

    @request
    def write(self):
        self.issue("write")

    @request
    def read(self):
        self.issue("read")

    def on_reply(self, msg, src):
        if self.pending is None:
            return  # another replica's answer to the command answered already: the first one counts
        if self.pending.op == "write":
            self.complete("ok", "write", self.pending.client)
        else:
            self.complete("ok", "read", msg.value)
        self.pending, self.done = None, 1


class ActiveReplication(Protocol):
    """A sequencer, `replicas` replicas of the register and `clients` clients, one command each."""

    replicas = Param(2, "number of replicas", lo=1, hi=3)
    clients = Param(2, "number of clients", lo=1, hi=MAX_CLIENTS)
    sequencer = Role(Sequencer, 1)
    replica = Role(Replica, "replicas")
    client = Role(Client, "clients")
    messages = (Request, Ordered, Reply)
    history = History(values=Value, max_events=2 * MAX_CLIENTS, ops=("read", "write"))

    @invariant
    def LogsArePrefixes(self, state):
        """Any two replicas' logs of applied writes are prefixes of one another: no two replicas diverge."""
        logs = sorted((r.log for r in state.role("replica")), key=len)
        return all(longer[: len(shorter)] == shorter for shorter, longer in zip(logs, logs[1:]))

    @liveness
    def Answered(self, s):
        """A client waiting for an answer eventually gets one (each client issues one command)."""
        waiting = exists(s.role("client"), lambda c: c.pending.is_some())
        return leads_to(waiting, ~waiting)


class ArrivalOrder(ActiveReplication):
    replica = Role(ArrivalOrderReplica, "replicas")
