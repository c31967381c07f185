"""The ABD atomic register: a read/write register emulated by majority quorums of replicas
(Attiya, Bar-Noy & Dolev, "Sharing Memory Robustly in Message-Passing Systems", JACM 1995), in the
multi-writer form of Lynch & Shvartsman ("Robust Emulation of Shared Memory Using Dynamic
Quorum-Acknowledged Broadcasts", FTCS 1997).

Every replica keeps the value with the highest tag (timestamp, writer id), durably. Clients are
writers and readers, each doing one operation, recorded in the history; each phase of each
operation goes to every replica and waits for **any majority** of replies, never for a particular
replica:

    write(v) by writer w:                       read() by any client:
      query: send Query to all replicas;          query: send Query to all replicas;
             wait for a majority of replies;             wait for a majority of replies;
             ts := the highest timestamp seen            (ts, w, v) := the reply with the highest tag
      store: send Store(ts + 1, w, v) to all;     store: send Store(ts, w, v) to all (the write-back);
             wait for a majority of acks;                wait for a majority of acks;
      return ok                                   return v

    replica, on Query: reply with its (ts, w, v).
    replica, on Store(ts, w, v): if (ts, w) > its own tag, adopt (ts, w, v); ack.

Multi-writer: two writers may write at once, so a writer cannot count timestamps on its own as
ABD's single writer does; its query phase finds the highest timestamp at a majority, and the writer
id breaks ties between writers that picked the same one. The state space allows it (the specs run
one and two writers), because each client does one operation: writer i writes the value i.

Promises, on a network that delays and reorders but loses no message, with a minority of replicas
crashed (crash-stop; `crashes = 1` of 3 replicas):
- `Linearizable` ([consistency]): every history of the clients is linearizable as a register.
  Any two majorities intersect, so a query phase sees every write or write-back that completed
  before it began; the write-back puts a read's value at a majority before the read returns, so no
  later read can return an older one.
- `CompletedAtMajority`: the tag of every completed operation (a write's, or the one a read
  returned) is held, or exceeded, by a majority of the replicas, crashed ones counted with the
  state they crashed with: the lemma behind the above.
- `OperationsComplete` (liveness, replies weakly fair, requests and crashes not): every operation
  that has begun completes, since a majority of replicas always answers. With two of three
  replicas crashed, a client waits forever.

Specs (3 replicas): `quorum_register_abd` (1 writer, 2 readers, no crash: 22,635 states) and
`quorum_register_abd_crash` (1 writer, 1 reader, 1 crash, with liveness: 1,608 states) run in
seconds. Larger, checked once and too slow for the suite: 1 writer, 2 readers, 1 crash: 90,540
states, holds; 2 writers, 1 reader: 47,510 states without a crash, 190,040 with one, holds.

Broken on purpose: `NoWriteBack` reads a majority and returns the value with the highest tag at
once, without the store phase. That value may sit at one replica only, the one a write in progress
has reached: the **new-old inversion**. The shortest counterexample (10 steps, `specs/
quorum_register_no_write_back.toml`): writer1 queries replica1 and replica2 and stores 1 at
replica2 only; reader1 queries replica1 and replica2 and returns 1; reader2, which begins after
reader1 returned, queries replica1 and replica3 and returns nil, the initial value. No order of
the three operations explains it: reader2's read would have to come both after reader1's (real
time) and before the write. Querying a majority does not prevent it; writing the value back to a
majority before returning does. No crash is needed, and the write need not even complete.

Modelling: the low-level form, with a reduced network, because the message-passing form
(`Node`s exchanging Query/QueryReply/Store/StoreAck, 12 messages per operation) has over 3 million
states for one writer and two readers, and over 280,000 for one writer and one reader without
crashes. Two reductions, both exact for linearizability:
- a replica's reply is received in the step that the replica sends it: `QueryReply(c, r)` is r
  answering c's query, `StoreAck(c, r)` is r storing c's value and acknowledging. Receiving a
  reply is a step of the client alone, which commutes with every other node's step; moving it
  earlier can only move the client's completion earlier, which adds real-time order to the
  history and never removes any, so a history of the full model is linearizable whenever the
  reduced one's is. A reply that arrives after its phase has ended is ignored, like a reply that
  never arrives.
- the Store messages stay in flight (`stores`), since a late Store still raises a replica's tag;
  one that can change nothing more is forgotten (`settle`): a Store to a crashed replica, or a
  completed operation's Store to a replica whose tag is already as high (tags only grow).
A crashed replica takes no step (answers nothing, stores nothing); its state is kept, as a crash
does not erase durable state, though no one reads it again.
"""

from checker import (
    Enum,
    History,
    Int,
    Map,
    Model,
    NodeId,
    Option,
    Param,
    Record,
    Seq,
    Set,
    action,
    invariant,
    leads_to,
    liveness,
    terminal,
)

WRITERS = 2  # at most this many writers; writer i writes the value i
Value = Int(1, WRITERS)
Phase = Enum("idle", "query", "store", "done")
IDLE, QUERY, STORE, DONE = Phase.codes
Kind = Enum("invoke", "ok", "fail", "info")
INVOKE, OK = Kind.codes[:2]
Op = Enum("read", "write")
READ, WRITE = Op.codes


class ABD(Model):
    """`replicas` replicas, `writers` writers (writer i writes i, once), `readers` readers (one read each);
    at most `crashes` replicas crash."""

    replicas = Param(3, "number of replicas", lo=1, hi=5)
    writers = Param(1, "number of writers", lo=1, hi=WRITERS)
    readers = Param(2, "number of readers", lo=1, hi=3)
    crashes = Param(1, "replicas that may crash (crash-stop)", lo=0, hi=5)
    history = History(values=Value, ops=("read", "write"))  # the clients' history, a state variable

    def variables(self):
        self.Replica = NodeId("replica", self.replicas)
        self.Writer = NodeId("writer", self.writers)
        self.Reader = NodeId("reader", self.readers)
        self.Client = Enum(*self.Writer.names, *self.Reader.names)
        self.Timestamp = Int(0, self.writers)  # each write adds one to the highest it saw
        self.WriterNo = Int(0, self.writers)  # the tag's writer: 0 for the initial value, else i
        self.Val = Int(0, self.writers)  # 0: nil, the initial value; writer i's value is i
        self.Event = Record("Event", process=self.Client, kind=Kind, f=Op, value=Option(Value), new=Option(Value))
        return {
            # each replica's register: the value with the highest tag (ts, writer)
            "ts": Map(self.Replica, self.Timestamp),
            "writer": Map(self.Replica, self.WriterNo),
            "value": Map(self.Replica, self.Val),
            "down": Set(self.Replica),
            "crashed": Int(0, self.crashes),
            # each client's one operation: its phase, who answered in it, the highest tag seen
            "phase": Map(self.Client, Phase),
            "heard": Map(self.Client, Set(self.Replica)),
            "c_ts": Map(self.Client, self.Timestamp),
            "c_writer": Map(self.Client, self.WriterNo),
            "c_value": Map(self.Client, self.Val),
            "stores": Map(self.Client, Set(self.Replica)),  # the client's Store messages still in flight
            "history": Seq(self.Event, 2 * (self.writers + self.readers)),
        }

    def init(self):
        replicas, clients = self.Replica.names, self.Client.names
        return {
            "ts": dict.fromkeys(replicas, 0),
            "writer": dict.fromkeys(replicas, 0),
            "value": dict.fromkeys(replicas, 0),
            "down": set(),
            "crashed": 0,
            "phase": dict.fromkeys(clients, "idle"),
            "heard": dict.fromkeys(clients, set()),
            "c_ts": dict.fromkeys(clients, 0),
            "c_writer": dict.fromkeys(clients, 0),
            "c_value": dict.fromkeys(clients, 0),
            "stores": dict.fromkeys(clients, set()),
            "history": (),
        }

    def setup(self):
        # every per-node variable is a Map of one-slot values: node i's sits at offset(var) + i
        for var in ("ts", "writer", "value", "phase", "heard", "c_ts", "c_writer", "c_value", "stores"):
            setattr(self, var.upper(), self.offset(var))
        self.DOWN, self.CRASHED, self.HIST = self.offset("down"), self.offset("crashed"), self.offset("history")
        self.EVENT_WIDTH = self.Event.width
        self.majority = self.replicas // 2 + 1
        self.all_replicas = (1 << self.replicas) - 1

    # -- the clients ----------------------------------------------------------------------------

    @action(over="Writer")
    def Write(self, s, writers):
        """Writer w invokes write(w) and sends Query to every replica."""
        return [self.begin(s, w, WRITE, w + 1) for w in writers if s[self.PHASE + w] == IDLE]

    @action(over="Reader")
    def Read(self, s, readers):
        """A reader invokes read() and sends Query to every replica."""
        first = self.writers
        return [self.begin(s, first + r, READ, None) for r in readers if s[self.PHASE + first + r] == IDLE]

    def begin(self, s, c, f, value):
        t = list(s)
        t[self.PHASE + c] = QUERY
        self.record(t, c, INVOKE, f, value)
        return tuple(t)

    @action(over=("Client", "Replica"))
    def QueryReply(self, s, clients, replicas):
        """Replica r answers c's Query with its (ts, writer, value); c keeps the highest tag, and
        once a majority has answered starts its store phase."""
        out = []
        for c in clients:
            if s[self.PHASE + c] != QUERY:
                continue
            for r in replicas:
                heard = s[self.HEARD + c]
                if s[self.DOWN] >> r & 1 or heard >> r & 1:
                    continue
                t = list(s)
                t[self.HEARD + c] = heard | 1 << r
                if (s[self.TS + r], s[self.WRITER + r]) > (s[self.C_TS + c], s[self.C_WRITER + c]):
                    t[self.C_TS + c], t[self.C_WRITER + c] = s[self.TS + r], s[self.WRITER + r]
                    t[self.C_VALUE + c] = s[self.VALUE + r]
                if bin(t[self.HEARD + c]).count("1") == self.majority:
                    self.queried(t, c)
                out.append(self.settle(t))
        return out

    def queried(self, t, c):
        """A majority answered c's query: a writer stores (ts + 1, w, w); a reader writes back what it saw."""
        if c < self.writers:
            t[self.C_TS + c], t[self.C_WRITER + c], t[self.C_VALUE + c] = t[self.C_TS + c] + 1, c + 1, c + 1
        self.store(t, c)

    def store(self, t, c):
        t[self.PHASE + c], t[self.HEARD + c], t[self.STORES + c] = STORE, 0, self.all_replicas

    @action(over=("Client", "Replica"))
    def StoreAck(self, s, clients, replicas):
        """Replica r receives c's Store(ts, writer, value), adopts it if its tag is higher, and acks;
        once a majority has acked, c's operation returns. A Store may arrive after that."""
        out = []
        for c in clients:
            for r in replicas:
                if not s[self.STORES + c] >> r & 1 or s[self.DOWN] >> r & 1:
                    continue
                t = list(s)
                t[self.STORES + c] &= ~(1 << r)
                tag = (s[self.C_TS + c], s[self.C_WRITER + c])
                if tag > (s[self.TS + r], s[self.WRITER + r]):
                    t[self.TS + r], t[self.WRITER + r], t[self.VALUE + r] = tag[0], tag[1], s[self.C_VALUE + c]
                if s[self.PHASE + c] == STORE:
                    t[self.HEARD + c] |= 1 << r
                    if bin(t[self.HEARD + c]).count("1") == self.majority:
                        self.returns(t, c)
                out.append(self.settle(t))
        return out

    def returns(self, t, c):
        t[self.PHASE + c], t[self.HEARD + c] = DONE, 0
        value = t[self.C_VALUE + c]
        self.record(t, c, OK, WRITE if c < self.writers else READ, value or None)

    def settle(self, t):
        """Forget the Stores that can no longer change anything: those to a crashed replica, and
        those of a completed operation to a replica whose tag is already as high (tags only grow)."""
        down = t[self.DOWN]
        for c in range(len(self.Client.names)):
            pending = t[self.STORES + c] & ~down
            if pending and t[self.PHASE + c] == DONE:
                tag = (t[self.C_TS + c], t[self.C_WRITER + c])
                for r in range(self.replicas):
                    if pending >> r & 1 and (t[self.TS + r], t[self.WRITER + r]) >= tag:
                        pending &= ~(1 << r)
            t[self.STORES + c] = pending
        return tuple(t)

    def record(self, t, c, kind, f, value):
        """Append (process c, kind, f, value) to the history."""
        n = t[self.HIST]
        at = self.HIST + 1 + n * self.EVENT_WIDTH
        t[self.HIST] = n + 1
        t[at : at + self.EVENT_WIDTH] = (c, kind, f, 0, 0, 0, 0) if value is None else (c, kind, f, 1, value - 1, 0, 0)

    # -- faults ---------------------------------------------------------------------------------

    @action(over="Replica")
    def Crash(self, s, replicas):
        """Replica r crashes and takes no further step (crash-stop)."""
        if s[self.CRASHED] >= self.crashes:
            return ()
        out = []
        for r in replicas:
            if not s[self.DOWN] >> r & 1:
                t = list(s)
                t[self.DOWN] |= 1 << r
                t[self.CRASHED] += 1
                out.append(self.settle(t))
        return out

    # -- properties -----------------------------------------------------------------------------

    def tags(self, state):
        return {r: (state.ts[r], state.writer[r]) for r in self.Replica.names}

    @invariant
    def CompletedAtMajority(self, state):
        """The tag of every completed operation is held, or exceeded, by a majority of the replicas."""
        held = self.tags(state).values()
        return all(
            sum(tag >= (state.c_ts[c], state.c_writer[c]) for tag in held) >= self.majority
            for c in self.Client.names
            if state.phase[c] == "done"
        )

    @terminal
    def AllDone(self, state):
        """Every client has completed its operation (Stores to crashed replicas stay in flight)."""
        return all(p == "done" for p in state.phase.values())

    @liveness
    def OperationsComplete(self, s):
        """An operation that has begun completes."""

        def pending(state):
            return any(p in ("query", "store") for p in state.phase.values())

        return leads_to(pending, lambda state: not pending(state))


class NoWriteBack(ABD):
    """Broken on purpose: a read returns the highest value of a majority without writing it back."""

    def queried(self, t, c):
        if c < self.writers:
            super().queried(t, c)
        else:
            self.returns(t, c)
