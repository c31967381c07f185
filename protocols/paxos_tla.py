"""Paxos consensus at the abstraction of Lamport's Paxos.tla, from the lecture "The Paxos Algorithm or
How to Win a Turing Award" (2019; the TLA+ module in the tlaplus Examples repository,
PaxosHowToWinATuringAward), which refines his Voting.tla; the algorithm is that of "Paxos Made
Simple" (2001).

Acceptors vote on values in numbered ballots; a value is *chosen* at ballot b when a quorum (here:
any majority) of acceptors voted for it in b. Each ballot has a leader that performs two phases:

    Phase1a(b)    the leader of ballot b asks every acceptor to join b (a 1a message).
    Phase1b(a)    acceptor a, on a 1a message m with m.bal > maxBal[a], promises never again to vote
                  in a ballot below m.bal (maxBal[a] := m.bal) and answers with a 1b message carrying
                  its latest vote: <<maxVBal[a], maxVal[a]>> (-1 and None if it never voted).
    Phase2a(b, v) if no 2a message for b was sent, and a quorum Q has all sent 1b messages for b,
                  the leader asks the acceptors to vote for v in b, where v is the value of the
                  highest-ballot vote those 1b messages report, or any value if they report none.
    Phase2b(a)    acceptor a, on a 2a message m with m.bal >= maxBal[a], votes for m.val in m.bal
                  (maxBal[a] := maxVBal[a] := m.bal, maxVal[a] := m.val) and says so in a 2b message.

Messages are a *set* that only grows (msgs): a message may be received any number of times, or
never, so message loss, duplication and reordering are all in the model, and no step is needed
for them; an acceptor that stops taking steps is a crashed one. Ballots are 0..MaxBallot.

The model's variables, actions and invariants are the TLA+ module's one for one (the project's
copy is `bench/tla/Paxos.tla`), with the same self-loops (Phase1a(b) a second time, a vote cast
twice), so distinct-state counts and depths equal TLC's: 3,921 states, depth 17 for 3 acceptors,
MaxBallot 1 and 2 values (`bench/tla/README.md` has more). The set msgs is one slot, a bitmask over
every message the constants allow, and the actions work on it with precomputed bits.

Promises, under any loss, duplication or reordering of messages and any acceptor stopping:
- `TypeOK`: the variables stay in their types (the schema guarantees it; the TLA+ module states it);
- `Consistency`: at most one value is ever chosen (module Consensus's safety property: for any
  values v, w chosen at any ballots, v = w).
It does not promise that a value is ever chosen (no liveness: a new ballot may always interrupt).

Broken on purpose:
- `PaxosAnyValue`: Phase2a proposes *any* value once a quorum has answered, ignoring the votes
  the 1b messages report. The shortest counterexample has 12 steps: v1 is chosen at ballot 0 by a
  majority {a1, a2}; ballot 1 gathers 1b messages from a majority that must include a1 or a2, whose
  1b reports the vote for v1, yet the leader proposes v2, and a majority votes for it.
- `PaxosBrokenPromise`: Phase2b votes on a 2a message of any ballot, ignoring maxBal (and, as its
  EXCEPT says, setting maxBal[a] to that ballot), so an acceptor breaks the promise of its 1b. The
  shortest counterexample has 12 steps: a1 and a2 answer ballot 0's 1a and then ballot 1's, reporting
  no vote to either; both leaders propose (v1 at 0, v2 at 1); a1 and a2 each vote for v1 in ballot 0,
  though they promised ballot 1, then for v2 in ballot 1: both values are chosen.
"""

import itertools

from checker import (
    Enum,
    Int,
    Map,
    Model,
    NodeId,
    OneOf,
    Option,
    Param,
    Record,
    Set,
    action,
    conj,
    disj,
    exists,
    forall,
    formula,
    implies,
    make,
)


class Paxos(Model):
    """Lamport's Paxos.tla with `acceptors` acceptors, ballots 0..`max_ballot` and `values` values."""

    acceptors = Param(3, "number of acceptors", lo=1, hi=7)
    max_ballot = Param(1, "the highest ballot number (ballots are 0..max_ballot)", lo=0, hi=4)
    values = Param(2, "number of values that may be proposed", lo=1, hi=4)

    def variables(self):
        self.Acceptor = NodeId("a", self.acceptors)
        self.Ballot = Int(0, self.max_ballot)
        self.Value = Enum(*(f"v{i}" for i in range(1, self.values + 1)))
        self.BallotOrNone = Int(-1, self.max_ballot)  # Ballot \cup {-1}
        self.ValueOrNone = Option(self.Value)  # Value \cup {None}
        # Message == [type: {"1a"}, bal: Ballot] \cup [type: {"1b"}, acc: Acceptor, bal: Ballot,
        #   mbal: Ballot \cup {-1}, mval: Value \cup {None}] \cup [type: {"2a"}, ...] \cup [type: {"2b"}, ...]
        self.M1a = Record("Msg1a", bal=self.Ballot)
        self.M1b = Record("Msg1b", acc=self.Acceptor, bal=self.Ballot, mbal=self.BallotOrNone, mval=self.ValueOrNone)
        self.M2a = Record("Msg2a", bal=self.Ballot, val=self.Value)
        self.M2b = Record("Msg2b", acc=self.Acceptor, bal=self.Ballot, val=self.Value)
        self.Message = OneOf(self.M1a, self.M1b, self.M2a, self.M2b)
        return {
            "maxBal": Map(self.Acceptor, self.BallotOrNone),
            "maxVBal": Map(self.Acceptor, self.BallotOrNone),
            "maxVal": Map(self.Acceptor, self.ValueOrNone),
            "msgs": Set(self.Message),
        }

    def init(self):
        return {
            "maxBal": {a: -1 for a in self.Acceptor.names},
            "maxVBal": {a: -1 for a in self.Acceptor.names},
            "maxVal": {a: None for a in self.Acceptor.names},
            "msgs": set(),
        }

    def setup(self):
        n, B, V = self.acceptors, self.max_ballot + 1, self.values
        # Slots: maxBal[a] and maxVBal[a] hold ballot + 1 (an Int(-1, .) is stored as value + 1);
        # maxVal[a] is two slots, a presence flag and then the value's code.
        self.MB, self.MVB = self.offset("maxBal"), self.offset("maxVBal")
        self.MV, self.MSGS = self.offset("maxVal"), self.offset("msgs")
        A, vals = self.Acceptor.names, self.Value.names
        rank = self.Message.rank

        # the bit of each message in the msgs bitmask, indexed by codes (ballot b; vote slot codes mb, mv)
        def bit(record, **fields):
            return 1 << rank(record.make(**fields))

        def one_b(a, b, mb, mv):
            return bit(self.M1b, acc=A[a], bal=b, mbal=mb - 1, mval=None if mv == 0 else vals[mv - 1])

        self.B1A = [bit(self.M1a, bal=b) for b in range(B)]
        self.B1B = [
            [[[one_b(a, b, mb, mv) for mv in range(V + 1)] for mb in range(B + 1)] for b in range(B)] for a in range(n)
        ]
        self.B2A = [[bit(self.M2a, bal=b, val=vals[v]) for v in range(V)] for b in range(B)]
        self.B2B = [
            [[bit(self.M2b, acc=A[a], bal=b, val=vals[v]) for v in range(V)] for b in range(B)] for a in range(n)
        ]
        self.ANY2A = [sum(row) for row in self.B2A]  # some 2a message for ballot b
        self.ANY1B = [[sum(sum(x) for x in self.B1B[a][b]) for b in range(B)] for a in range(n)]  # a's 1b for b
        # Quorum == {Q \in SUBSET Acceptor : 2 * Cardinality(Q) > Cardinality(Acceptor)}
        self.QUORUMS = [Q for k in range(n + 1) for Q in itertools.combinations(range(n), k) if 2 * k > n]
        self.QUORUM_SETS = [frozenset(A[a] for a in Q) for Q in self.QUORUMS]

    # Each action returns every successor for the parameters it is given, built as
    # `t = list(s); t[slot] = value; tuple(t)`. Where TLC's \E has several witnesses for the same
    # successor (several quorums, say), the successor is listed once per witness, as TLC generates
    # it, so the states-generated count is TLC's too. A step that changes nothing returns `s`.

    def send(self, s, bit):
        """Send(m) == msgs' = msgs \\cup {m} (and UNCHANGED <<maxBal, maxVBal, maxVal>>)"""
        if s[self.MSGS] & bit:
            return s
        t = list(s)
        t[self.MSGS] |= bit
        return tuple(t)

    @action(over="Ballot")
    def Phase1a(self, s, ballots):
        """Send([type |-> "1a", bal |-> b])"""
        return [self.send(s, self.B1A[b]) for b in ballots]

    @action(over="Acceptor")
    def Phase1b(self, s, accs):
        """\\E m \\in msgs : m.type = "1a" /\\ m.bal > maxBal[a] /\\ maxBal' = [maxBal EXCEPT ![a] = m.bal]
        /\\ Send([type |-> "1b", acc |-> a, bal |-> m.bal, mbal |-> maxVBal[a], mval |-> maxVal[a]])"""
        MB, MVB, MV, MSGS = self.MB, self.MVB, self.MV, self.MSGS
        msgs, b1a, b1b = s[MSGS], self.B1A, self.B1B
        out = []
        for a in accs:
            maxbal = s[MB + a] - 1
            mb = s[MVB + a]  # maxVBal[a] + 1
            mv = s[MV + 2 * a] and s[MV + 2 * a + 1] + 1  # maxVal[a]: 0 for None, else 1 + the value's code
            for b in range(maxbal + 1, len(b1a)):
                if msgs & b1a[b]:
                    t = list(s)
                    t[MB + a] = b + 1
                    t[MSGS] = msgs | b1b[a][b][mb][mv]
                    out.append(tuple(t))
        return out

    @action(over=("Ballot", "Value"))
    def Phase2a(self, s, ballots, values):
        """~ \\E m \\in msgs : m.type = "2a" /\\ m.bal = b
        /\\ \\E Q \\in Quorum : LET Q1b == {m \\in msgs : m.type = "1b" /\\ m.acc \\in Q /\\ m.bal = b}
                                  Q1bv == {m \\in Q1b : m.mbal >= 0}
                              IN /\\ \\A a \\in Q : \\E m \\in Q1b : m.acc = a
                                 /\\ \\/ Q1bv = {}
                                    \\/ \\E m \\in Q1bv : m.mval = v /\\ \\A mm \\in Q1bv : m.mbal >= mm.mbal
        /\\ Send([type |-> "2a", bal |-> b, val |-> v])"""
        msgs, any1b, b1b, b2a = s[self.MSGS], self.ANY1B, self.B1B, self.B2A
        out = []
        for b in ballots:
            if msgs & self.ANY2A[b]:
                continue
            # per acceptor that sent a 1b for b: the vote it reported, as (maxVBal + 1, 1 + value code)
            reported = {}
            for a in range(self.acceptors):
                if msgs & any1b[a][b]:
                    for mb, row in enumerate(b1b[a][b]):
                        for mv, bit in enumerate(row):
                            if msgs & bit:
                                reported[a] = (mb, mv)
            if 2 * len(reported) <= self.acceptors:
                continue
            # for each value: the number of witnesses (Q, m) that let the leader propose it
            witnesses = [0] * self.values
            for Q in self.QUORUMS:
                if not all(a in reported for a in Q):
                    continue
                self.witness(witnesses, [reported[a] for a in Q])
            for v in values:
                if witnesses[v]:
                    t = self.send(s, b2a[b][v])
                    out.extend([t] * witnesses[v])
        return out

    def witness(self, witnesses, votes):
        """Add Q's witnesses to each value: every value if Q1bv = {}, else one for each message of Q1bv
        that reports the highest vote and that value."""
        top = max(mb for mb, _ in votes)
        if top == 0:  # no acceptor of Q reported a vote
            for v in range(self.values):
                witnesses[v] += 1
        else:
            for mb, mv in votes:
                if mb == top:
                    witnesses[mv - 1] += 1

    @action(over="Acceptor")
    def Phase2b(self, s, accs):
        """\\E m \\in msgs : m.type = "2a" /\\ m.bal >= maxBal[a] /\\ maxBal' = [maxBal EXCEPT ![a] = m.bal]
        /\\ maxVBal' = [maxVBal EXCEPT ![a] = m.bal] /\\ maxVal' = [maxVal EXCEPT ![a] = m.val]
        /\\ Send([type |-> "2b", acc |-> a, bal |-> m.bal, val |-> m.val])"""
        MB, MVB, MV, MSGS = self.MB, self.MVB, self.MV, self.MSGS
        msgs, b2b, any2a = s[MSGS], self.B2B, self.ANY2A
        proposals = [
            (b, v) for b, row in enumerate(self.B2A) if msgs & any2a[b] for v, bit in enumerate(row) if msgs & bit
        ]
        if not proposals:
            return ()
        out = []
        for a in accs:
            lowest = self.lowest_vote(s, a)
            for b, v in proposals:
                if b < lowest:
                    continue
                if s[MB + a] == s[MVB + a] == b + 1:  # a voted in b already (for v: one 2a per ballot)
                    out.append(s)
                    continue
                t = list(s)
                t[MB + a] = t[MVB + a] = b + 1
                t[MV + 2 * a], t[MV + 2 * a + 1] = 1, v
                t[MSGS] = msgs | b2b[a][b][v]
                out.append(tuple(t))
        return out

    def lowest_vote(self, s, a):
        """The lowest ballot acceptor a may vote in: m.bal >= maxBal[a]."""
        return max(s[self.MB + a] - 1, 0)

    # -- properties ---------------------------------------------------------------------------

    @formula
    def TypeOK(self, s):
        """maxBal, maxVBal \\in [Acceptor -> Ballot \\cup {-1}] /\\ maxVal \\in [Acceptor -> Value \\cup {None}]
        /\\ msgs \\subseteq Message"""
        return (
            forall(self.Acceptor, lambda a: (s.maxBal[a] >= -1) & (s.maxVBal[a] >= -1))
            & forall(
                self.Acceptor,
                lambda a: implies(s.maxVal[a].is_some(), exists(self.Value, lambda v: s.maxVal[a].value() == v)),
            )
            & (s.msgs <= set(self.Message.values()))
        )

    def ChosenAt(self, s, b, v):
        """\\E Q \\in Quorum : \\A a \\in Q : VotedFor(a, b, v), VotedFor(a, b, v) being the 2b message's
        presence in msgs; unrolled over the finite Quorum, so the compiled check is a few bit tests."""
        return disj(
            *[conj(*[s.msgs.contains(make(self.M2b, acc=a, bal=b, val=v)) for a in Q]) for Q in self.QUORUM_SETS]
        )

    @formula
    def Consistency(self, s):
        """At most one value is chosen: \\A v, w \\in chosen : v = w, where
        chosen == {v \\in Value : \\E b \\in Ballot : ChosenAt(b, v)}"""

        def chosen(v):
            return disj(*[self.ChosenAt(s, b, v) for b in range(self.max_ballot + 1)])

        return forall(self.Value, lambda v, w: implies(chosen(v) & chosen(w), v == w))


class PaxosAnyValue(Paxos):
    """Broken on purpose: Phase2a proposes any value once a quorum answered, ignoring the votes reported."""

    def witness(self, witnesses, votes):
        for v in range(self.values):
            witnesses[v] += 1


class PaxosBrokenPromise(Paxos):
    """Broken on purpose: Phase2b votes in any ballot, ignoring the promise maxBal[a]."""

    def lowest_vote(self, s, a):
        return 0
