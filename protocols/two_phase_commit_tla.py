"""Two-phase commit at the abstraction of Lamport's TwoPhase.tla (Gray & Lamport, "Consensus on
Transaction Commit", 2006; the TLA+ spec in the tlaplus Examples repository).

A transaction manager (TM) and resource managers (RMs) agree on commit or
abort. Every RM either prepares (sending Prepared) or spontaneously aborts;
the TM commits only once every RM has prepared, or aborts at any time while it
has not decided; RMs follow the TM's Commit or Abort message. Messages are a
*set* that only grows: the network never loses or reorders anything that
matters, and a message may be received any number of times.

Variables, actions and invariants are the TLA+ spec's, one for one:
`TMRcvPrepared(rm)`, `TMCommit`, `TMAbort`, `RMPrepare(rm)`,
`RMChooseToAbort(rm)`, `RMRcvCommitMsg(rm)`, `RMRcvAbortMsg(rm)`, with the same
self-loops (receiving a message twice is a step that changes nothing), so
distinct-state counts and depths equal TLC's: 288 / 8,832 / 296,448 states and
depth 11 / 17 / 23 for 3 / 5 / 7 RMs.

Promises, with no faults beyond the abstraction (no crashes are modelled):
- `TypeOK`: every variable stays in its type (guaranteed by the schema; kept
  because the TLA+ spec states it, and `faultcheck lint` says so);
- `TCConsistent`: no RM has committed while another has aborted.

Both are formulas (`@formula`), so Z3 can reason about them: TCConsistent
alone is not inductive (`specs/two_phase_commit_induct_cti.toml` shows a
counterexample to induction); with the six conjuncts below that relate the
messages sent to the TM's and the RMs' states it is
(`specs/two_phase_commit_induct_proof.toml`).

Broken on purpose: `EarlyCommit`, whose TM commits as soon as *one* Prepared
has arrived instead of waiting for every RM. Another RM, still working, may
then abort on its own, and the TM's Commit makes a third state: one RM
committed, one aborted. The shortest counterexample has 5 steps.
"""

from checker import (
    Enum,
    Map,
    Model,
    NodeId,
    OneOf,
    Param,
    Record,
    Set,
    action,
    exists,
    forall,
    formula,
    iff,
    implies,
    make,
)

RMState = Enum("working", "prepared", "committed", "aborted")
TMState = Enum("init", "committed", "aborted")
WORKING, PREPARED, COMMITTED, ABORTED = RMState.codes
INIT, TM_COMMITTED, TM_ABORTED = TMState.codes


class TwoPhase(Model):
    """Lamport's TwoPhase.tla with `rms` resource managers."""

    rms = Param(3, "number of resource managers", lo=1, hi=30)
    symmetry = ("rm",)  # the RMs are interchangeable (TLC's SYMMETRY Permutations(RM)): `check --symmetry`

    def variables(self):
        self.RM = NodeId("rm", self.rms)
        self.Prepared = Record("Prepared", rm=self.RM)
        self.Commit, self.Abort = Record("Commit"), Record("Abort")
        self.Message = OneOf(self.Prepared, self.Commit, self.Abort)
        return {
            "tmState": TMState,
            "tmPrepared": Set(self.RM),
            "msgs": Set(self.Message),
            "rmState": Map(self.RM, RMState),
        }

    def init(self):
        return {
            "tmState": "init",
            "tmPrepared": set(),
            "msgs": set(),
            "rmState": {rm: "working" for rm in self.RM.names},
        }

    def setup(self):
        # msgs is a Set, one slot holding a bitmask over the messages' ranks: the bit of each message
        def bit(message):
            return 1 << self.Message.rank(message)

        self.PREPARED = [bit(self.Prepared.make(rm=rm)) for rm in self.RM.names]
        self.COMMIT, self.ABORT = bit(self.Commit.make()), bit(self.Abort.make())
        self.ALL_RMS = (1 << self.rms) - 1  # tmPrepared = RM (a Set of RMs is a bitmask too)

    # Each action returns every successor for the RMs (codes 0..rms-1) it is given. `self.at` names
    # the slots: s[at.tmState] is tmState's code, s[at.rmState[r]] that of rmState[r]. A successor is
    # `t = list(s); t[at.var] = code; tuple(t)`, the cheapest way to change a few slots of a tuple.
    # A step that changes nothing (receiving a message twice) returns `s` itself, as TLC counts it.

    # -- the TM -------------------------------------------------------------------------------

    @action(over="RM")
    def TMRcvPrepared(self, s, rms):
        """tmState = "init" /\\ [type |-> "Prepared", rm |-> rm] \\in msgs /\\ tmPrepared' = tmPrepared \\cup {rm}"""
        at = self.at
        if s[at.tmState] != INIT:
            return ()
        msgs, tmPrepared = s[at.msgs], s[at.tmPrepared]
        out = []
        for r in rms:
            if msgs & self.PREPARED[r]:
                if tmPrepared >> r & 1:
                    out.append(s)  # received before: nothing changes
                    continue
                t = list(s)
                t[at.tmPrepared] = tmPrepared | 1 << r
                out.append(tuple(t))
        return out

    @action
    def TMCommit(self, s):
        """tmState = "init" /\\ tmPrepared = RM /\\ tmState' = "committed" /\\ msgs' = msgs \\cup {Commit}"""
        at = self.at
        if s[at.tmState] == INIT and s[at.tmPrepared] == self.ALL_RMS:
            return [self.decide(s, TM_COMMITTED, self.COMMIT)]
        return ()

    @action
    def TMAbort(self, s):
        """tmState = "init" /\\ tmState' = "aborted" /\\ msgs' = msgs \\cup {Abort}"""
        if s[self.at.tmState] == INIT:
            return [self.decide(s, TM_ABORTED, self.ABORT)]
        return ()

    def decide(self, s, tmState, msg):
        """tmState' = tmState /\\ msgs' = msgs \\cup {msg}"""
        at = self.at
        t = list(s)
        t[at.tmState] = tmState
        t[at.msgs] |= msg
        return tuple(t)

    # -- the RMs ------------------------------------------------------------------------------

    @action(over="RM")
    def RMPrepare(self, s, rms):
        """rmState[rm] = "working" /\\ rmState' = [@ EXCEPT ![rm] = "prepared"] /\\ msgs' = msgs \\cup {Prepared(rm)}"""
        at = self.at
        rmState = at.rmState
        out = []
        for r in rms:
            if s[rmState[r]] == WORKING:
                t = list(s)
                t[rmState[r]] = PREPARED
                t[at.msgs] |= self.PREPARED[r]
                out.append(tuple(t))
        return out

    @action(over="RM")
    def RMChooseToAbort(self, s, rms):
        """rmState[rm] = "working" /\\ rmState' = [@ EXCEPT ![rm] = "aborted"]"""
        rmState = self.at.rmState
        out = []
        for r in rms:
            if s[rmState[r]] == WORKING:
                t = list(s)
                t[rmState[r]] = ABORTED
                out.append(tuple(t))
        return out

    @action(over="RM")
    def RMRcvCommitMsg(self, s, rms):
        """[type |-> "Commit"] \\in msgs /\\ rmState' = [@ EXCEPT ![rm] = "committed"]"""
        if s[self.at.msgs] & self.COMMIT:
            return self.set_rms(s, rms, COMMITTED)
        return ()

    @action(over="RM")
    def RMRcvAbortMsg(self, s, rms):
        """[type |-> "Abort"] \\in msgs /\\ rmState' = [@ EXCEPT ![rm] = "aborted"]"""
        if s[self.at.msgs] & self.ABORT:
            return self.set_rms(s, rms, ABORTED)
        return ()

    def set_rms(self, s, rms, state):
        """For each rm: rmState' = [rmState EXCEPT ![rm] = state] (s itself where it already is)."""
        rmState = self.at.rmState
        out = []
        for r in rms:
            if s[rmState[r]] == state:
                out.append(s)
            else:
                t = list(s)
                t[rmState[r]] = state
                out.append(tuple(t))
        return out

    # -- properties ---------------------------------------------------------------------------
    # Formulas (checker.logic): compiled to Python for the search, and given to Z3 by
    # `faultcheck induct` and `faultcheck lint`.

    @formula(symmetric=True)
    def TypeOK(self, s):
        """rmState \\in [RM -> RMState] /\\ tmState \\in TMState /\\ tmPrepared \\subseteq RM /\\ msgs \\subseteq Message"""
        return (
            forall(self.RM, lambda rm: exists(RMState, lambda v: s.rmState[rm] == v))
            & exists(TMState, lambda v: s.tmState == v)
            & (s.tmPrepared <= set(self.RM.names))
            & (s.msgs <= set(self.Message.values()))
        )

    @formula(symmetric=True)
    def TCConsistent(self, s):
        """\\A rm1, rm2 \\in RM : ~ /\\ rmState[rm1] = "aborted" /\\ rmState[rm2] = "committed" """
        return forall(self.RM, lambda i, j: ~((s.rmState[i] == "aborted") & (s.rmState[j] == "committed")))

    # What makes TCConsistent inductive (`specs/two_phase_commit_induct_proof.toml`): how the
    # messages sent relate to the TM's and the RMs' states. Each holds in every reachable state.

    @formula(symmetric=True)
    def PreparedRecorded(self, s):
        """The TM records only RMs whose Prepared was sent."""
        return forall(self.RM, lambda rm: implies(s.tmPrepared.contains(rm), s.msgs.contains(make(self.Prepared, rm=rm))))

    @formula(symmetric=True)
    def PreparedMeansVoted(self, s):
        """An RM that sent Prepared is no longer working."""
        return forall(self.RM, lambda rm: implies(s.msgs.contains(make(self.Prepared, rm=rm)), s.rmState[rm] != "working"))

    @formula(symmetric=True)
    def DecisionSent(self, s):
        """The TM's decision and the decision message go together."""
        return (iff(s.msgs.contains(make(self.Commit)), s.tmState == "committed")
                & iff(s.msgs.contains(make(self.Abort)), s.tmState == "aborted"))

    @formula(symmetric=True)
    def CommitOnlyIfAllPrepared(self, s):
        """Once the TM commits, every RM has prepared (and none has aborted)."""
        return implies(
            s.tmState == "committed",
            (s.tmPrepared == set(self.RM.names))
            & forall(self.RM, lambda rm: (s.rmState[rm] == "prepared") | (s.rmState[rm] == "committed")),
        )

    @formula(symmetric=True)
    def CommittedAfterCommit(self, s):
        """An RM commits only after the Commit message."""
        return forall(self.RM, lambda rm: implies(s.rmState[rm] == "committed", s.msgs.contains(make(self.Commit))))

    @formula(symmetric=True)
    def AbortedAlone(self, s):
        """An RM that voted yes aborts only after the Abort message."""
        return forall(self.RM, lambda rm: implies(
            s.rmState[rm] == "aborted",
            ~s.msgs.contains(make(self.Prepared, rm=rm)) | s.msgs.contains(make(self.Abort)),
        ))


class EarlyCommit(TwoPhase):
    """Broken on purpose: the TM commits as soon as any RM has prepared."""

    @action
    def TMCommit(self, s):
        at = self.at
        if s[at.tmState] == INIT and s[at.tmPrepared] != 0:
            return [self.decide(s, TM_COMMITTED, self.COMMIT)]
        return ()
