"""Checkpointing and rollback recovery: Chandy-Lamport snapshots, uncoordinated checkpoints and the
domino effect (Chandy & Lamport, "Distributed Snapshots: Determining Global States of Distributed
Systems", ACM TOCS 3(1), 1985; Randell, "System Structure for Software Fault Tolerance", IEEE TSE
1(2), 1975; Elnozahy, Alvisi, Wang & Johnson, "A Survey of Rollback-Recovery Protocols in
Message-Passing Systems", ACM Computing Surveys 34(3), 2002).

A recovery restores a *global* state from the processes' checkpoints, and a
global state is only one the system could have been in if it is a consistent
cut: no message is recorded as received that is not recorded as sent (an
*orphan* message). The application here is the paper's bank: `processes`
processes each start with one token and transfer tokens to each other
(`@request transfer`, at most `SENDS` per process), so the total is conserved.
Every process counts the transfers it sent and received on each channel;
these counters are part of its local state, so a checkpoint saves them, and
whether a set of checkpoints is a consistent cut is a plain comparison:
``saved_recv[j][i] <= saved_sent[i][j]`` for every channel i -> j.

`ChandyLamport` (run on FIFO channels: `[network] ordering = "fifo"`), the
paper's algorithm. Marker-sending rule: a process records its local state,
then sends a marker on every outgoing channel before sending anything else on
it. Marker-receiving rule: on a marker from c, a process that has not
recorded records its state (and the state of channel c as empty); otherwise
it has finished recording channel c, whose state is every message it received
on c after recording its own state and before this marker. Any process may
start a snapshot (`@request snapshot`), several of them concurrently.
Promises, without crashes or message loss (recording must not stop the
application, and does not):
- `ConsistentCut`: the recorded local states of any two processes that have
  recorded form a consistent cut on the channel between them;
- `SnapshotTotal`: once the snapshot is complete (every process has a marker
  from every peer), the recorded tokens (local states plus channel states)
  add up to the conserved total;
- `ChannelStates`: ... and each channel's recorded state holds exactly the
  transfers sent before its sender recorded and received after its receiver did;
- `TokensConserved`: tokens held plus tokens in transit are always the total.
FIFO is what makes the channel recording work (`specs/checkpoint_snapshot_unordered.toml`:
the same code on an unordered network): a transfer sent before the marker may arrive
after it, when the receiver has stopped recording that channel, so the token
is in no recorded state and `SnapshotTotal` fails (4 steps: p1 transfers a
token to p2, p1 starts the snapshot, p1's marker overtakes the transfer to
p2, p2's marker reaches p1). A transfer sent after the marker may as well
arrive before it, at a process that then records its state with the
transfer received: an orphan, and `ConsistentCut` fails too.

Broken on purpose: `Uncoordinated`, where each process checkpoints its local
state whenever it likes (`@request checkpoint`; the initial state is the
first checkpoint), and a recovery restores every process's latest
checkpoint. Nothing ties the checkpoints together, so a receiver's checkpoint
may record a transfer that the sender's latest checkpoint has not sent:
`ConsistentCut` fails, the shortest counterexample in 3 steps (p1 transfers a
token to p2, p2 receives it, p2 checkpoints; restored, p1 still holds the
token p2 already has: a token made out of nothing).

The domino effect (Randell): `Domino` fixes the checkpoint pattern to
*checkpoint after every receive* (a process checkpoints right after each
transfer it receives, and never otherwise) and keeps every checkpoint, so a
recovery may roll back further than the latest one. `recovery_line` computes
the latest consistent combination of checkpoints by the rollback-dependency
algorithm: start from every process's latest checkpoint and, while some
checkpoint records a receive that the sender's chosen checkpoint has not
sent, roll the receiver back one checkpoint. With checkpoints after
receives, each rollback of a receiver un-sends what it sent since, which
orphans the checkpoint of whoever received that, and so on down to the
initial state: `RecoveryLineProgress` ("once every process has taken a
checkpoint, some consistent recovery line other than the initial state
exists") fails, the shortest counterexample in 4 steps: p1 sends to p2, p2
receives and checkpoints, p2 sends to p1, p1 receives and checkpoints. p1's
checkpoint records a receive that p2's (taken before p2 sent) has not sent,
so p1 rolls back to its initial state; that un-sends p1's transfer, which
p2's checkpoint records as received, so p2 rolls back too. Checkpointing
after every *send* instead (`CheckpointAfterSend`) is domino-free: a
process's latest checkpoint records every send it has made, so no checkpoint
records a receive that the sender's latest checkpoint has not sent; the
latest checkpoints are always consistent, and `RecoveryLineProgress` holds.

Not modelled: crashes and the restore itself (a recovery line is judged in
every state, as the states a recovery would restore), and repeated snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import product
from typing import Any, NamedTuple

from checker import (
    Bool,
    Ids,
    Int,
    Map,
    Message,
    Node,
    Param,
    Protocol,
    Record,
    Role,
    Seq,
    Set,
    durable,
    invariant,
    request,
)

SENDS = 2  # transfers each process may send in all: bounds the counters, so the state space is finite
MAX_SENDS = 3  # the counters' range, for node classes that allow more
MAX_PROCESSES = 3
P = Ids("p")
Count = Int(0, MAX_SENDS)
Tokens = Int(0, MAX_PROCESSES)
Counters = Map(P, Count)  # per peer: how many transfers on the channel to (or from) it


class Zeros(Mapping):
    """Zero for every peer: the initial value of a per-peer counter map, whose keys (the node ids) are
    only known once the protocol's node count is (a Map is total; this one answers 0 for any key)."""

    def __getitem__(self, key: Any) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0


ZERO = Zeros()


def bump(counters: Mapping[str, int], key: str) -> dict[str, int]:
    return {**counters, key: counters[key] + 1}


class Transfer(Message):
    """One token, from the sender to the receiver."""


class Marker(Message):
    """Chandy-Lamport's marker: the sender recorded its state before sending anything after this."""


# -- the application: a bank of tokens, with per-channel counters -------------------------------------------------


class Application(Node):
    """A process of the bank: holds tokens, transfers them, counts transfers per channel."""

    sends = SENDS  # transfers this process may send in all
    tokens = durable(Tokens, initial=1)
    sent = durable(Counters, initial=ZERO)  # sent[q]: transfers sent on the channel to q
    recv = durable(Counters, initial=ZERO)  # recv[q]: transfers received on the channel from q

    @request
    def transfer(self):
        if self.tokens > 0 and sum(self.sent.values()) < self.sends:
            to = self.choose(self.peers("p"))
            self.tokens -= 1
            self.sent = bump(self.sent, to)
            self.send(to, Transfer())

    def on_transfer(self, msg, src):
        self.tokens += 1
        self.recv = bump(self.recv, src)


class Process(Application):
    """... that records its local state: the checkpoint a recovery would restore."""

    recorded = durable(Bool(), initial=False)
    saved_tokens = durable(Tokens, initial=0)
    saved_sent = durable(Counters, initial=ZERO)
    saved_recv = durable(Counters, initial=ZERO)

    def record_state(self):
        self.recorded = True
        self.saved_tokens, self.saved_sent, self.saved_recv = self.tokens, self.sent, self.recv


# -- (a) Chandy-Lamport ----------------------------------------------------------------------------------------


class SnapshotProcess(Process):
    marked = durable(Set(P), initial=frozenset())  # incoming channels whose marker has arrived: recorded
    channel = durable(Counters, initial=ZERO)  # channel[q]: transfers recorded as in transit from q

    @request
    def snapshot(self):
        """Any process may initiate the snapshot, by following the marker-sending rule."""
        if not self.recorded:
            self.marker_sending_rule()

    def marker_sending_rule(self):
        self.record_state()
        for q in self.peers("p"):  # a marker on every outgoing channel, before any further message on it
            self.send(q, Marker())

    def on_marker(self, msg, src):
        """The marker-receiving rule."""
        if not self.recorded:  # the state of channel src is recorded as empty
            self.marker_sending_rule()
        self.marked = self.marked | {src}  # recording channel src is finished

    def on_transfer(self, msg, src):
        super().on_transfer(msg, src)
        if self.recorded and src not in self.marked:  # in transit on src when the cut was taken
            self.channel = bump(self.channel, src)


# -- (b) uncoordinated checkpoints -------------------------------------------------------------------------------


class UncoordinatedProcess(Process):
    def on_start(self):
        self.record_state()  # the initial state is the first checkpoint

    @request
    def checkpoint(self):
        """Broken on purpose: a checkpoint whenever this process likes, agreed with nobody."""
        self.record_state()


def messages_in_transit(state) -> list[Message]:
    """Every message in flight, on FIFO channels or in an unordered network."""
    if "channels" in type(state)._schema.variables:
        return [m for q in state.channels.values() for m in q]
    return [e.msg for e in state.network]


class Bank(Protocol):
    """`processes` processes, each starting with one token."""

    processes = Param(2, "number of processes", lo=2, hi=MAX_PROCESSES)
    p = Role(Application, "processes")
    messages = (Transfer,)

    def setup(self):
        self.names = [f"p{i}" for i in range(1, self.counts["p"] + 1)]

    def procs(self, state) -> dict[str, Any]:
        return dict(zip(self.names, state.role("p")))

    @invariant
    def TokensConserved(self, state):
        """The tokens held plus the transfers in transit are the initial total."""
        in_transit = sum(isinstance(m, Transfer) for m in messages_in_transit(state))
        return sum(p.tokens for p in state.role("p")) + in_transit == len(self.names)


class Checkpointing(Bank):
    """... whose processes record their local states."""

    p = Role(Process, "processes")
    messages = (Transfer, Marker)

    @invariant
    def ConsistentCut(self, state):
        """No transfer is recorded as received that its sender has not recorded as sent (no orphan)."""
        ps = self.procs(state)
        return all(
            ps[j].saved_recv[i] <= ps[i].saved_sent[j]
            for i in ps
            for j in ps
            if i != j and ps[i].recorded and ps[j].recorded
        )


class ChandyLamport(Checkpointing):
    p = Role(SnapshotProcess, "processes")

    def complete(self, ps: dict[str, Any]) -> bool:
        """Every process has recorded its state and received a marker from every peer."""
        return all(p.recorded and p.marked == set(ps) - {name} for name, p in ps.items())

    @invariant
    def SnapshotTotal(self, state):
        """Once the snapshot is complete, the recorded local and channel states hold every token."""
        ps = self.procs(state)
        if not self.complete(ps):
            return True
        return sum(p.saved_tokens + sum(p.channel.values()) for p in ps.values()) == len(ps)

    @invariant
    def ChannelStates(self, state):
        """Once complete, each channel's recorded state is what was sent before its sender recorded and
        received after its receiver did."""
        ps = self.procs(state)
        if not self.complete(ps):
            return True
        return all(ps[j].channel[i] == ps[i].saved_sent[j] - ps[j].saved_recv[i] for i in ps for j in ps if i != j)


class Uncoordinated(Checkpointing):
    p = Role(UncoordinatedProcess, "processes")


# -- (c) the domino effect -----------------------------------------------------------------------------------------

Checkpoint = Record("Checkpoint", sent=Counters, recv=Counters)  # the counters a checkpoint saves


class Saved(NamedTuple):
    """A checkpoint as `recovery_line` reads it (a decoded `Checkpoint` record reads the same)."""

    sent: Mapping[str, int]
    recv: Mapping[str, int]


def recovery_line(checkpoints: Mapping[str, Sequence[Any]]) -> dict[str, int]:
    """The latest consistent recovery line: for each process, the index of its checkpoint on the line.

    `checkpoints[p]` lists p's checkpoints oldest first, the initial state (nothing sent or received)
    first. The rollback-dependency algorithm: start from every process's latest checkpoint; while the
    checkpoint of some receiver j records more receives from i than i's chosen checkpoint has sent (an
    orphan), roll j back to its previous checkpoint. Rolling back only lowers the counters, so it stops,
    at the latest consistent line (consistent lines are closed under taking the later checkpoint of
    each process) -- at worst at the initial states, which orphan nothing.
    """
    line = {p: len(cs) - 1 for p, cs in checkpoints.items()}
    rolled_back = True
    while rolled_back:
        rolled_back = False
        for i, j in product(line, line):
            if i != j and checkpoints[j][line[j]].recv[i] > checkpoints[i][line[i]].sent[j]:
                line[j] -= 1  # j's checkpoint holds an orphan from i: j rolls back past the receive
                rolled_back = True
    return line


class DominoProcess(Application):
    """Checkpoints after every receive (and never otherwise); keeps every checkpoint."""

    checkpoints = durable(Seq(Checkpoint, max_len=(MAX_PROCESSES - 1) * SENDS), initial=())

    def on_transfer(self, msg, src):
        super().on_transfer(msg, src)
        self.take_checkpoint()

    def take_checkpoint(self):
        self.checkpoints = self.checkpoints + ({"sent": self.sent, "recv": self.recv},)


class SendCheckpointProcess(DominoProcess):
    """Checkpoints after every send (and never otherwise): every send a checkpoint records is in the
    sender's latest checkpoint."""

    def on_transfer(self, msg, src):
        Application.on_transfer(self, msg, src)

    @request
    def transfer(self):
        before = self.sent
        super().transfer()
        if self.sent != before:
            self.take_checkpoint()


class Domino(Bank):
    """`processes` processes transferring tokens, each checkpointing after every receive."""

    p = Role(DominoProcess, "processes")

    def setup(self):
        super().setup()
        zeros = {n: 0 for n in self.names}
        self.initial = Saved(sent=zeros, recv=zeros)  # nothing sent, nothing received

    def histories(self, state) -> dict[str, list[Any]]:
        """Each process's checkpoints, the initial state first."""
        return {n: [self.initial, *p.checkpoints] for n, p in zip(self.names, state.role("p"))}

    @invariant
    def RecoveryLineProgress(self, state):
        """Once every process has taken a checkpoint, the recovery line is not the initial state."""
        cps = self.histories(state)
        if any(len(cs) == 1 for cs in cps.values()):
            return True
        return any(i > 0 for i in recovery_line(cps).values())


class CheckpointAfterSend(Domino):
    p = Role(SendCheckpointProcess, "processes")
