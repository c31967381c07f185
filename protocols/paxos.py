"""Single-decree Paxos (Lamport, "Paxos Made Simple", ACM SIGACT News 32(4), 2001, §2).

Proposers, each with a value of its own (proposer i proposes the value i), try
to get one value chosen by a set of acceptors. Proposal numbers (ballots) are
distinct: proposer i of P uses i, i + P, i + 2P, ..., up to MAX_BALLOT, and
remembers the last one it used in stable storage. An acceptor keeps, in
stable storage, the highest ballot it promised and the ballot and value of the
last proposal it accepted. The algorithm of §2.2:

- Phase 1a: a proposer picks a new ballot n (when its `retry` timer fires) and
  sends prepare(n) to "some set of acceptors": here some majority (the checker
  explores every one).
- Phase 1b: an acceptor receiving prepare(n) with n greater than any prepare it
  has answered promises to accept no proposal numbered less than n, and answers
  with the highest-numbered proposal it has accepted, if any.
- Phase 2a: a proposer with promises for n from a majority sends accept(n, v)
  "to each of those acceptors", where v is the value of the highest-numbered
  proposal among the promises, or its own value if they report none.
- Phase 2b: an acceptor receiving accept(n, v) accepts it unless it has promised
  a ballot greater than n.

A value is *chosen* when a majority of acceptors have accepted it at one
ballot. Learning is left out (it adds messages, not safety): which proposals
an acceptor ever accepted is kept in a ghost field, `votes` (ballot -> value),
that the protocol never reads, and the invariants derive the chosen values
from it (an acceptor's own `accepted_*` fields forget an earlier proposal once
it accepts a later one, so they cannot tell what was chosen). The invariants
are formulas (`@formula`: "some majority voted v at ballot b" unrolled over the
minimal majorities), so Z3 can take them (`faultcheck bmc`, `induct`).

Promises, with acceptors that crash and restart with their state intact
(durable fields), at most a minority down at once, on a network that delays
and reorders messages:
- `Agreement`: at most one value is chosen;
- `Validity`: a chosen value is the own value of a proposer that proposed it
  (nothing is chosen out of thin air).
Liveness is not promised: two proposers can pre-empt each other forever (FLP).
Message loss adds no safety-relevant behaviour (a lost message is one never
delivered, which the search already covers). Duplication is left out of the
spec for its cost: at the spec's bounds without the crash, `[network]
duplication = 1` gives 49,189 states (about 6 s), and Agreement holds.

Bounds in `specs/paxos_ok.toml`: 2 proposers, 3 acceptors, 2 ballots in all
(`timer_firings`), one crash and restart of acceptor1 (the acceptors are
interchangeable and every majority is explored, so one acceptor stands for
any, up to renaming).

Broken on purpose: `LowerBallot`, whose acceptors accept an accept(n, v) even
after promising a ballot greater than n. The promise is what keeps a proposer
with a lower ballot from getting its value chosen behind the back of one with
a higher ballot, which picked its value from promises that could not report the
lower proposal yet. The shortest counterexample (14 steps, no fault needed):
proposer1 takes ballot 1, acceptors 1 and 2 promise it, and it sends
accept(1, 1) to them; proposer2 takes ballot 2, the same two acceptors promise
it — they have accepted nothing, so proposer2 sends accept(2, 2); then both
acceptors accept (1, 1) despite their promise to ballot 2 — 1 is chosen — and
then (2, 2): 2 is chosen too. The correct acceptor refuses accept(1, 1), and
any majority that accepts 1 at ballot 1 before promising ballot 2 reports it,
so proposer2 would propose 1.
"""

from itertools import combinations

from checker import (
    Bool,
    Ids,
    Int,
    Map,
    Message,
    Node,
    Option,
    Param,
    Protocol,
    Role,
    Set,
    conj,
    disj,
    durable,
    formula,
    implies,
    timer,
    volatile,
)

MAX_PROPOSERS = 3
MAX_BALLOT = 4  # proposal numbers 1..4: with 2 proposers, two rounds each
Value = Int(1, MAX_PROPOSERS)  # proposer i's own value is i
Ballot = Int(0, MAX_BALLOT)  # 0: none yet
Number = Int(1, MAX_BALLOT)  # a proposal's number (small message types keep the network's encoding small)


class Prepare(Message):  # phase 1a
    ballot = Number


class Promise(Message):  # phase 1b: the highest-numbered proposal the acceptor accepted, if any
    ballot = Number
    accepted_ballot = Ballot
    accepted_value = Option(Value)


class Accept(Message):  # phase 2a
    ballot = Number
    value = Value


class Proposer(Node):
    ballot = durable(Ballot, initial=0)  # the last ballot used: stable storage, never reused after a restart
    phase = volatile(Int(0, 2), initial=0)  # 0: idle, 1: collecting promises, 2: collecting acceptances
    promised_by = volatile(Set(Ids("acceptor")), initial=frozenset())
    best_ballot = volatile(Ballot, initial=0)  # the highest-numbered proposal among the promises
    best_value = volatile(Option(Value), initial=None)
    value = volatile(Option(Value), initial=None)  # the value proposed at `ballot`
    proposed_own = durable(Bool(), initial=False)  # ghost: this proposer once proposed its own value

    def on_start(self):
        self.set_timer("retry")

    def own_value(self):
        return self.nodes("proposer").index(self.id) + 1

    def next_ballot(self):
        """The next ballot of this proposer's own residue class, or None when they are used up."""
        b = self.own_value() if self.ballot == 0 else self.ballot + len(self.nodes("proposer"))
        return b if b <= MAX_BALLOT else None

    def majority(self, acceptors):
        return 2 * len(acceptors) > len(self.nodes("acceptor"))

    @timer
    def retry(self):  # phase 1a: start a new ballot
        b = self.next_ballot()
        if b is None:
            return
        self.ballot, self.phase = b, 1
        self.promised_by, self.best_ballot, self.best_value = frozenset(), 0, None
        self.value = None
        for a in self.quorum():
            self.send(a, Prepare(b))
        self.set_timer("retry")

    def on_promise(self, msg, src):
        if msg.ballot != self.ballot or self.phase != 1:
            return
        self.promised_by = self.promised_by | {src}
        if msg.accepted_ballot > self.best_ballot:
            self.best_ballot, self.best_value = msg.accepted_ballot, msg.accepted_value
        if self.majority(self.promised_by):  # phase 2a
            if self.best_value is not None:
                self.value = self.best_value  # bound by the highest-numbered proposal a majority reported
            else:
                self.value, self.proposed_own = self.own_value(), True
            self.phase = 2
            for a in sorted(self.promised_by):  # "an accept request to each of those acceptors"
                self.send(a, Accept(self.ballot, self.value))

    def quorum(self):
        """Some majority of the acceptors, each one explored. A larger set only adds promises beyond a
        majority, which make their acceptors refuse lower proposals later: what a message that is
        never delivered does already. So a majority loses no unsafe behaviour, and saves many states."""
        acceptors = self.nodes("acceptor")
        return self.choose(list(combinations(acceptors, len(acceptors) // 2 + 1)))


class Acceptor(Node):
    promised = durable(Ballot, initial=0)  # the highest prepare answered: accept nothing lower
    accepted_ballot = durable(Ballot, initial=0)
    accepted_value = durable(Option(Value), initial=None)
    votes = durable(Map(Number, Option(Value)), initial=dict.fromkeys(range(1, MAX_BALLOT + 1)))  # ghost

    def on_prepare(self, msg, src):  # phase 1b
        if msg.ballot > self.promised:
            self.promised = msg.ballot
            self.send(src, Promise(msg.ballot, self.accepted_ballot, self.accepted_value))

    def on_accept(self, msg, src):  # phase 2b
        if self.may_accept(msg.ballot):
            self.promised = max(self.promised, msg.ballot)
            self.accepted_ballot, self.accepted_value = msg.ballot, msg.value
            self.votes = {**self.votes, msg.ballot: msg.value}

    def may_accept(self, ballot):
        return ballot >= self.promised


class Paxos(Protocol):
    """`proposers` proposers and `acceptors` acceptors; how many ballots are tried is bounded by the
    ballot range and by the spec's `timer_firings` (each firing of `retry` starts one ballot)."""

    proposers = Param(2, "number of proposers", lo=1, hi=MAX_PROPOSERS)
    acceptors = Param(3, "number of acceptors", lo=1, hi=5)
    proposer = Role(Proposer, "proposers")
    acceptor = Role(Acceptor, "acceptors")
    messages = (Prepare, Promise, Accept)

    def chosen(self, state):
        """The values a majority of acceptors accepted at one ballot."""
        acceptors = state.role("acceptor")
        out = set()
        for b in range(1, MAX_BALLOT + 1):
            for v in {a.votes[b] for a in acceptors} - {None}:
                if 2 * sum(a.votes[b] == v for a in acceptors) > len(acceptors):
                    out.add(v)
        return out

    def chosen_formula(self, s, v):
        """`chosen` as a formula: v is chosen when some majority of the acceptors accepted it at one
        ballot; a minimal majority (half of them plus one) is enough, so only those are listed."""
        acceptors = [s[a] for a in self.node_names("acceptor")]
        majorities = list(combinations(acceptors, len(acceptors) // 2 + 1))
        return disj(*[conj(*[a.votes[b].is_some() & (a.votes[b].value() == v) for a in q])
                      for b in range(1, MAX_BALLOT + 1) for q in majorities])

    def node_names(self, role):
        """The node ids of `role`, which name the state's variables (acceptor1, acceptor2, ...)."""
        return [f"{role}{i}" for i in range(1, self.counts[role] + 1)]

    @formula
    def Agreement(self, s):
        """At most one value is chosen."""
        values = range(1, MAX_PROPOSERS + 1)
        return conj(*[~(self.chosen_formula(s, v) & self.chosen_formula(s, w)) for v in values for w in values if v < w])

    @formula
    def Validity(self, s):
        """Every chosen value is a proposer's own value, and that proposer proposed it."""
        proposers = self.node_names("proposer")

        def proposed(v):  # proposer v proposed its own value v (a value no proposer owns never is)
            return s[proposers[v - 1]].proposed_own if v <= len(proposers) else False

        return conj(*[implies(self.chosen_formula(s, v), proposed(v)) for v in range(1, MAX_PROPOSERS + 1)])


class CarelessAcceptor(Acceptor):
    """Broken on purpose: accepts a proposal whatever it promised."""

    def may_accept(self, ballot):
        return True


class LowerBallot(Paxos):
    acceptor = Role(CarelessAcceptor, "acceptors")
