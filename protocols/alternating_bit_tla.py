"""The alternating bit protocol at the abstraction of Lamport's AlternatingBit.tla (Specifying Systems,
section 14.3; tlaplus Examples, specifications/SpecifyingSystems/TLC/AlternatingBit.tla and
MCAlternatingBit.tla, read at commit 9d6d27e97d0a8692df4e5174c8e334d5304e1b46 of the
mkohlhaas/TLAPlus-Examples mirror of that repository). The project's copies, with the model's
.cfg, are in bench/tla/.

A sender passes values from `Data` to a receiver over two lossy FIFO queues: msgQ carries
<<bit, value>> messages, ackQ carries bits back. The sender resends its current value, tagged with
its bit sBit, until an acknowledgement of that bit arrives (sAck = sBit); only then does it take a
new value and flip the bit. The receiver records the bit and value of every message it takes (rBit,
rcvd) and keeps acknowledging the last bit it saw. Any message may be lost at any time.

Variables, actions and the constraint are MCAlternatingBit's, one for one: `SndNewValue(d)`,
`ReSndMsg`, `RcvMsg`, `SndAck`, `RcvAck`, `LoseMsg`, `LoseAck`, with Lose's `\\E i \\in 1..Len(q)`
giving one successor per position (two equal messages lost give the same state twice, as TLC
generates it), and `SeqConstraint` (Len(msgQ) <= msgQLen /\\ Len(ackQ) <= ackQLen) as TLC's
CONSTRAINT: a successor with a longer queue is generated, then dropped. With Data = {d1, d2} and
both lengths 2, TLC 2.15 reports 240 distinct states, 1,392 generated, depth 10 (bench/tla/README.md),
the counts the tlaplus Examples manifest gives for MCAlternatingBit.cfg.

Mapping to the schema: msgQ is `Seq(Msg, msg_q_len + 1)` with Msg a record (bit, data) for the
TLA+ pair <<bit, d>>; ackQ is `Seq(Int(0, 1), ack_q_len + 1)`; the bits are `Int(0, 1)` and Data
an Enum d1, d2, ... (TLC's model values). Each queue holds one element more than the constraint
allows: the Append that the constraint then discards must still be a state. A Seq is a length slot
followed by fixed element blocks (zeros past the length); the actions below edit those slots.

Promises, under any loss of messages and acknowledgements:
- `ABTypeInv`: the variables stay in their types (the schema guarantees it; the TLA+ spec states it);
- `CurrentBitCarriesSent` (the port's, not the TLA+ spec's, which checks the refinement ABCSpec and
  the liveness SentLeadsToRcvd as temporal properties): every message in msgQ tagged with the
  sender's current bit carries the value being sent, which is why the receiver can trust the bit.
Not ported: the refinement of ABCorrectness and the fairness-based liveness property.

Broken on purpose: `SndWithoutAck`, whose sender takes a new value whether or not the previous one
was acknowledged. Three sends put <<1, d1>>, <<0, d1>>, <<1, d2>> in msgQ with sBit = 1 and sent = d2:
CurrentBitCarriesSent fails after 3 steps, in a state past SeqConstraint, which TLC checks too (it
checks the invariants of every new successor, then drops it if it fails the constraint); TLC 2.15
reports the same behaviour.
"""

from checker import Enum, Int, Model, Param, Record, Seq, action, constraint, invariant


def seq_append(s: tuple, off: int, width: int, cap: int, elem: tuple) -> tuple:
    """Append(q, elem) for the Seq whose length slot is s[off] (element blocks of `width`, room for `cap`)."""
    n = s[off]
    if n == cap:
        raise ValueError(f"a queue would hold more than {cap} elements")
    end = off + 1 + cap * width
    return s[:off] + (n + 1,) + s[off + 1:off + 1 + n * width] + elem + (0,) * ((cap - n - 1) * width) + s[end:]


def seq_remove(s: tuple, off: int, width: int, cap: int, i: int) -> tuple:
    """The Seq at `off` without its element i (0-based): Tail(q) for i = 0, Lose's new q otherwise."""
    n = s[off]
    start = off + 1 + i * width
    end = off + 1 + cap * width
    return s[:off] + (n - 1,) + s[off + 1:start] + s[start + width:end] + (0,) * width + s[end:]


class AlternatingBit(Model):
    """MCAlternatingBit: AlternatingBit.tla with `data` values and SeqConstraint's queue lengths."""

    data = Param(2, "number of values in Data (d1, d2, ...)", lo=1, hi=6)
    msg_q_len = Param(2, "msgQLen: SeqConstraint's bound on Len(msgQ)", lo=0, hi=6)
    ack_q_len = Param(2, "ackQLen: SeqConstraint's bound on Len(ackQ)", lo=0, hi=6)

    def variables(self):
        self.Data = Enum(*(f"d{i}" for i in range(1, self.data + 1)))
        self.Bit = Int(0, 1)
        self.Msg = Record("Msg", bit=self.Bit, data=self.Data)  # the TLA+ pair <<bit, d>>
        return {
            "msgQ": Seq(self.Msg, self.msg_q_len + 1),
            "ackQ": Seq(self.Bit, self.ack_q_len + 1),
            "sBit": self.Bit,
            "sAck": self.Bit,
            "rBit": self.Bit,
            "sent": self.Data,
            "rcvd": self.Data,
        }

    def init(self):
        """ABInit: empty queues, sBit \\in {0, 1}, sAck = rBit = sBit, sent and rcvd any values."""
        return [
            {"msgQ": (), "ackQ": (), "sBit": b, "sAck": b, "rBit": b, "sent": s, "rcvd": r}
            for b in (0, 1) for s in self.Data.names for r in self.Data.names
        ]

    def setup(self):
        self.MQ, self.AQ = self.offset("msgQ"), self.offset("ackQ")
        self.MCAP, self.ACAP = self.msg_q_len + 1, self.ack_q_len + 1
        self.SBIT, self.SACK, self.RBIT = self.offset("sBit"), self.offset("sAck"), self.offset("rBit")
        self.SENT, self.RCVD = self.offset("sent"), self.offset("rcvd")

    # An Int(0, 1) is stored as the bit itself and an Enum as its index, so a message block is
    # (bit, data code). Each action returns every successor; a step that changes nothing would be `s`.

    @action(over="Data")
    def SndNewValue(self, s, ds):
        """sAck = sBit /\\ sent' = d /\\ sBit' = 1 - sBit /\\ msgQ' = Append(msgQ, <<sBit', d>>)"""
        if s[self.SACK] != s[self.SBIT]:
            return ()
        return [self.send_new(s, d) for d in ds]

    def send_new(self, s, d):
        bit = 1 - s[self.SBIT]
        t = list(seq_append(s, self.MQ, 2, self.MCAP, (bit, d)))
        t[self.SBIT], t[self.SENT] = bit, d
        return tuple(t)

    @action
    def ReSndMsg(self, s):
        """sAck # sBit /\\ msgQ' = Append(msgQ, <<sBit, sent>>)"""
        if s[self.SACK] == s[self.SBIT]:
            return ()
        return [seq_append(s, self.MQ, 2, self.MCAP, (s[self.SBIT], s[self.SENT]))]

    @action
    def RcvMsg(self, s):
        """msgQ # <<>> /\\ msgQ' = Tail(msgQ) /\\ rBit' = Head(msgQ)[1] /\\ rcvd' = Head(msgQ)[2]"""
        if s[self.MQ] == 0:
            return ()
        t = list(seq_remove(s, self.MQ, 2, self.MCAP, 0))
        t[self.RBIT], t[self.RCVD] = s[self.MQ + 1], s[self.MQ + 2]
        return [tuple(t)]

    @action
    def SndAck(self, s):
        """ackQ' = Append(ackQ, rBit)"""
        return [seq_append(s, self.AQ, 1, self.ACAP, (s[self.RBIT],))]

    @action
    def RcvAck(self, s):
        """ackQ # <<>> /\\ ackQ' = Tail(ackQ) /\\ sAck' = Head(ackQ)"""
        if s[self.AQ] == 0:
            return ()
        t = list(seq_remove(s, self.AQ, 1, self.ACAP, 0))
        t[self.SACK] = s[self.AQ + 1]
        return [tuple(t)]

    @action
    def LoseMsg(self, s):
        """Lose(msgQ): \\E i \\in 1..Len(msgQ) : msgQ' = msgQ without its i-th message"""
        return [seq_remove(s, self.MQ, 2, self.MCAP, i) for i in range(s[self.MQ])]

    @action
    def LoseAck(self, s):
        """Lose(ackQ): \\E i \\in 1..Len(ackQ) : ackQ' = ackQ without its i-th bit"""
        return [seq_remove(s, self.AQ, 1, self.ACAP, i) for i in range(s[self.AQ])]

    @constraint
    def SeqConstraint(self, state):
        """Len(msgQ) <= msgQLen /\\ Len(ackQ) <= ackQLen (TLC's CONSTRAINT)"""
        return len(state.msgQ) <= self.msg_q_len and len(state.ackQ) <= self.ack_q_len

    @invariant
    def ABTypeInv(self, state):
        """msgQ \\in Seq({0,1} \\X Data) /\\ ackQ \\in Seq({0,1}) /\\ the bits in {0, 1} /\\ sent, rcvd \\in Data"""
        data = set(self.Data.names)
        return (
            all(m.bit in (0, 1) and m.data in data for m in state.msgQ)
            and all(b in (0, 1) for b in state.ackQ)
            and all(state[v] in (0, 1) for v in ("sBit", "sAck", "rBit"))
            and state.sent in data and state.rcvd in data
        )

    @invariant
    def CurrentBitCarriesSent(self, state):
        """\\A i \\in 1..Len(msgQ) : msgQ[i][1] = sBit => msgQ[i][2] = sent"""
        return all(m.data == state.sent for m in state.msgQ if m.bit == state.sBit)


class SndWithoutAck(AlternatingBit):
    """Broken on purpose: SndNewValue without its guard sAck = sBit."""

    @action(over="Data")
    def SndNewValue(self, s, ds):
        return [self.send_new(s, d) for d in ds]
