"""Two-phase commit between real roles: a transaction manager and resource managers exchanging
messages (Gray, "Notes on Data Base Operating Systems", 1978; Bernstein, Hadzilacos & Goodman,
"Concurrency Control and Recovery in Database Systems", 1987, ch. 7).

Phase 1: the TM sends Prepare to every RM. Each RM votes: it either prepares
(and answers Prepared) or aborts on its own (and answers Abort, a no vote).
Phase 2: the TM commits once every RM has answered Prepared, and aborts on a
no vote or when its timeout fires while it is still undecided; it sends its
decision (Commit or Abort) to every RM, which adopts it.

Promises, on a network that may delay and reorder messages arbitrarily but
neither loses nor invents them, with no crashes (those come with the fault
model): `Consistent` — no RM commits while another aborts. And, when every
delivery and the TM's timeout are (weakly) fair, `PreparedRMsDecide`: every RM
that prepared eventually commits or aborts. The decision is durable (a log):
a TM that restarts after deciding tells the RMs again.

Two-phase commit blocks: if the TM crashes and stays down, an RM that voted
yes can neither commit nor abort on its own, and waits forever
(`specs/two_phase_commit_blocking.toml`, a lasso counterexample). With a
restart that is fair (it happens eventually), the durable decision and the
timeout get every prepared RM to a decision (`specs/two_phase_commit_recovery.toml`).

Broken on purpose: `EarlyCommit`, whose TM commits on the *first* Prepared.
An RM that has not voted may still abort on its own, so one RM commits while
another aborts. The shortest counterexample has 4 steps: rm1 prepares, rm2
votes no, the TM commits on rm1's Prepared, rm1 receives the Commit.
"""

from checker import (
    Enum,
    Ids,
    Message,
    Node,
    Param,
    Protocol,
    Role,
    Set,
    conj,
    durable,
    exists,
    forall,
    formula,
    implies,
    leads_to,
    liveness,
    timer,
    volatile,
)


class Prepare(Message):
    """TM -> RM: phase 1, asking for a vote."""

    route = "tm -> rm"


class Prepared(Message):
    """RM -> TM: a yes vote; the RM can no longer abort on its own."""

    route = "rm -> tm"


class Commit(Message):
    """TM -> RM: the decision is commit."""

    route = "tm -> rm"


class Abort(Message):
    """RM -> TM: a no vote. TM -> RM: the decision is abort."""

    route = ("rm -> tm", "tm -> rm")


class TM(Node):
    decision = durable(Enum("undecided", "committed", "aborted"), initial="undecided")
    prepared = volatile(Set(Ids("rm")), initial=frozenset())

    def on_start(self):
        if self.decision != "undecided":  # restarting: the durable decision log says what to tell the RMs again
            self.broadcast(Commit() if self.decision == "committed" else Abort(), role="rm")
            return
        self.broadcast(Prepare(), role="rm")
        self.set_timer("timeout")

    def on_prepared(self, msg, src):
        if self.decision != "undecided":
            return
        self.prepared = self.prepared | {src}
        if self.prepared == set(self.nodes("rm")):  # every RM voted yes: commit is safe
            self.decide("committed", Commit())

    def on_abort(self, msg, src):
        if self.decision == "undecided":  # one no vote is enough to abort
            self.decide("aborted", Abort())

    @timer
    def timeout(self):
        if self.decision == "undecided":  # aborting while undecided is always safe
            self.decide("aborted", Abort())

    def decide(self, decision, msg):
        self.decision = decision
        self.cancel_timer("timeout")
        self.broadcast(msg, role="rm")


class RM(Node):
    state = durable(Enum("working", "prepared", "committed", "aborted"), initial="working")

    def on_prepare(self, msg, src):
        if self.state != "working":
            return
        if self.choose(["prepare", "abort"]) == "prepare":
            self.state = "prepared"
            self.send(src, Prepared())
        else:  # an RM that has not prepared may abort on its own
            self.state = "aborted"
            self.send(src, Abort())

    def on_commit(self, msg, src):
        self.state = "committed"

    def on_abort(self, msg, src):
        self.state = "aborted"


class TwoPhaseCommit(Protocol):
    """One TM and `rms` RMs."""

    rms = Param(3, "number of resource managers", lo=1, hi=16)
    tm = Role(TM, count=1)
    rm = Role(RM, count="rms")
    symmetry = ("rm",)  # the RMs are interchangeable: `faultcheck check --symmetry`
    messages = (Prepare, Prepared, Commit, Abort)

    @formula(symmetric=True)
    def Consistent(self, s):
        """No RM has committed while another has aborted."""
        return forall(s.role("rm"), lambda a, b: ~((a.state == "committed") & (b.state == "aborted")))

    @liveness
    def PreparedRMsDecide(self, s):
        """Every RM that prepared eventually commits or aborts (RMs never go back to prepared)."""
        prepared = exists(s.role("rm"), lambda r: r.state == "prepared")
        return leads_to(prepared, ~prepared)


class TwoPhaseCommitProof(TwoPhaseCommit):
    """What makes Consistent inductive (specs/two_phase_commit_nodes_induct_proof.toml). Consistent holds
    in every reachable state, but a step from some unreachable state satisfying it breaks it (rm1
    committed, rm2 still working and voting no). These lemmas relate what is in flight to the nodes'
    states; each holds in every reachable state, and with them the conjunction is inductive:
    `faultcheck induct` asks Z3, one query per kind of step, for any number of RMs. (A class of its own,
    so the protocol's other specs check Consistent alone by default.)"""


    def each_rm(self, body):
        """`body(rm)` for every RM name, joined by and (the RMs are few and named: rm1, rm2, ...)."""
        return conj(*(body(f"rm{k}") for k in range(1, self.counts["rm"] + 1)))

    @formula(symmetric=True)
    def VoteSentByVoter(self, s):
        """A Prepared in flight comes from an RM that voted yes: it no longer works, and it aborted only
        if the TM did."""
        return self.each_rm(lambda rm: implies(s.in_flight(Prepared(), rm, "tm1") > 0, self.voted_yes(s, rm)))

    @formula(symmetric=True)
    def RecordedVoteSentByVoter(self, s):
        """The TM records only RMs that voted yes."""
        return self.each_rm(lambda rm: implies(s.tm1.prepared.contains(rm), self.voted_yes(s, rm)))

    def voted_yes(self, s, rm):
        return (s[rm].state != "working") & implies(s[rm].state == "aborted", s.tm1.decision == "aborted")

    @formula(symmetric=True)
    def NoVoteSentByVoter(self, s):
        """An RM's Abort (a no vote) in flight comes from an RM that no longer works."""
        return self.each_rm(lambda rm: implies(s.in_flight(Abort(), rm, "tm1") > 0, s[rm].state != "working"))

    @formula(symmetric=True)
    def DecisionSentAfterDeciding(self, s):
        """The TM's Commit and Abort are in flight only once it has decided so."""
        return self.each_rm(lambda rm: implies(s.in_flight(Commit(), "tm1", rm) > 0, s.tm1.decision == "committed")
                            & implies(s.in_flight(Abort(), "tm1", rm) > 0, s.tm1.decision == "aborted"))

    @formula(symmetric=True)
    def CommittedAfterDecision(self, s):
        """An RM commits only after the TM did."""
        return self.each_rm(lambda rm: implies(s[rm].state == "committed", s.tm1.decision == "committed"))

    @formula(symmetric=True)
    def CommitOnlyIfAllPrepared(self, s):
        """Once the TM commits, every RM has prepared or committed."""
        return implies(s.tm1.decision == "committed", self.each_rm(
            lambda rm: (s[rm].state == "prepared") | (s[rm].state == "committed")))


class EarlyTM(TM):
    """Broken on purpose: commits on the first Prepared instead of waiting for every vote."""

    def on_prepared(self, msg, src):
        if self.decision == "undecided":
            self.decide("committed", Commit())


class EarlyCommit(TwoPhaseCommit):
    tm = Role(EarlyTM, count=1)
