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

The actions are formulas too (`@action(formula=True)` returning `when(guard, var=value)`, as the TLA+
spec's actions are): compiled to Python for the search, and handed to Z3 as the transition relation.

Both invariants are formulas (`@formula`), so Z3 can reason about them: TCConsistent
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
    when,
)

RMState = Enum("working", "prepared", "committed", "aborted")
TMState = Enum("init", "committed", "aborted")


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

    # Each action is a formula, as in the TLA+ spec: `when(guard, var=new value, ...)` over the state `s`
    # before the step, the variables not named unchanged (UNCHANGED), a map's point update written
    # `rmState={rm: "prepared"}` ([rmState EXCEPT ![rm] = "prepared"]). An action `over="RM"` is called
    # once with `rm` standing for any RM. The checker compiles them to Python for the search, and gives
    # them to Z3 for `faultcheck induct` and `faultcheck bmc`. A step that changes nothing (receiving a
    # message twice) is a self-loop, as TLC counts it.

    # -- the TM -------------------------------------------------------------------------------

    @action(over="RM", formula=True)
    def TMRcvPrepared(self, s, rm):
        """tmState = "init" /\\ [type |-> "Prepared", rm |-> rm] \\in msgs /\\ tmPrepared' = tmPrepared \\cup {rm}"""
        return when((s.tmState == "init") & s.msgs.contains(make(self.Prepared, rm=rm)),
                    tmPrepared=s.tmPrepared | {rm})

    @action(formula=True)
    def TMCommit(self, s):
        """tmState = "init" /\\ tmPrepared = RM /\\ tmState' = "committed" /\\ msgs' = msgs \\cup {Commit}"""
        return when((s.tmState == "init") & (s.tmPrepared == set(self.RM.names)),
                    tmState="committed", msgs=s.msgs | {make(self.Commit)})

    @action(formula=True)
    def TMAbort(self, s):
        """tmState = "init" /\\ tmState' = "aborted" /\\ msgs' = msgs \\cup {Abort}"""
        return when(s.tmState == "init", tmState="aborted", msgs=s.msgs | {make(self.Abort)})

    # -- the RMs ------------------------------------------------------------------------------

    @action(over="RM", formula=True)
    def RMPrepare(self, s, rm):
        """rmState[rm] = "working" /\\ rmState' = [@ EXCEPT ![rm] = "prepared"] /\\ msgs' = msgs \\cup {Prepared(rm)}"""
        return when(s.rmState[rm] == "working",
                    rmState={rm: "prepared"}, msgs=s.msgs | {make(self.Prepared, rm=rm)})

    @action(over="RM", formula=True)
    def RMChooseToAbort(self, s, rm):
        """rmState[rm] = "working" /\\ rmState' = [@ EXCEPT ![rm] = "aborted"]"""
        return when(s.rmState[rm] == "working", rmState={rm: "aborted"})

    @action(over="RM", formula=True)
    def RMRcvCommitMsg(self, s, rm):
        """[type |-> "Commit"] \\in msgs /\\ rmState' = [@ EXCEPT ![rm] = "committed"]"""
        return when(s.msgs.contains(make(self.Commit)), rmState={rm: "committed"})

    @action(over="RM", formula=True)
    def RMRcvAbortMsg(self, s, rm):
        """[type |-> "Abort"] \\in msgs /\\ rmState' = [@ EXCEPT ![rm] = "aborted"]"""
        return when(s.msgs.contains(make(self.Abort)), rmState={rm: "aborted"})

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

    @action(formula=True)
    def TMCommit(self, s):
        """tmState = "init" /\\ tmPrepared # {} /\\ tmState' = "committed" /\\ msgs' = msgs \\cup {Commit}"""
        return when((s.tmState == "init") & (s.tmPrepared != set()),
                    tmState="committed", msgs=s.msgs | {make(self.Commit)})
