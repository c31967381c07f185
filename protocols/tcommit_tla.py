"""Transaction commit as Lamport specifies it in TCommit.tla (Gray & Lamport, "Consensus on Transaction
Commit", 2006, section 2; the TLA+ spec in the tlaplus Examples repository): the *specification* that
two-phase commit (`protocols/two_phase_commit_tla.py`, TwoPhase.tla) implements.

There is no transaction manager and there are no messages: only what each resource manager (RM)
may do, stated over the global state.

    Prepare(rm) == /\\ rmState[rm] = "working"
                   /\\ rmState' = [rmState EXCEPT ![rm] = "prepared"]

    Decide(rm)  == \\/ /\\ rmState[rm] = "prepared"
                      /\\ canCommit                    \\* every RM is prepared or committed
                      /\\ rmState' = [rmState EXCEPT ![rm] = "committed"]
                   \\/ /\\ rmState[rm] \\in {"working", "prepared"}
                      /\\ notCommitted                 \\* no RM has committed
                      /\\ rmState' = [rmState EXCEPT ![rm] = "aborted"]

The model's variable, actions and invariants are the TLA+ module's one for one, so its
distinct-state counts and depths equal TLC's (`bench/tla/TCommit.tla`): 34 / 274 / 2,314 states and
depth 7 / 11 / 15 for 3 / 5 / 7 RMs. The RMs whose every one has decided (committed or aborted) are
the only states without a successor; they are declared `@terminal`, so a state stuck short of a
decision would still be reported as a deadlock.

Promises (no faults: this is the abstract specification, which says what may happen, not how):
- `TCTypeOK`: rmState stays a function from RM to the four states (the schema guarantees it; kept
  because the TLA+ module states it);
- `TCConsistent`: no RM has committed while another has aborted.

Broken on purpose: `TCommitHasty`, whose Decide commits an RM as soon as *that RM* has prepared,
without `canCommit`. Another RM that is still working may already have aborted (abort needs only
that nobody has committed yet), and the hasty RM commits anyway. The shortest counterexample has
3 steps: Prepare(rm1), Decide(rm2) (abort), Decide(rm1) (commit).
"""

from checker import Enum, Map, Model, NodeId, Param, action, exists, forall, formula, terminal

RMState = Enum("working", "prepared", "committed", "aborted")
WORKING, PREPARED, COMMITTED, ABORTED = RMState.codes


class TCommit(Model):
    """Lamport's TCommit.tla with `rms` resource managers."""

    rms = Param(3, "number of resource managers", lo=1, hi=30)

    def variables(self):
        self.RM = NodeId("rm", self.rms)
        return {"rmState": Map(self.RM, RMState)}

    def init(self):
        """TCInit == rmState = [rm \\in RM |-> "working"]"""
        return {"rmState": {rm: "working" for rm in self.RM.names}}

    # `self.at.rmState` is the tuple of rmState's slots, one per RM: s[self.at.rmState[r]] is the code of
    # rmState[r] for the RM with code r (checker.model.fields), so no offset is computed here.

    # -- the state predicates the actions test, on the raw tuple ---------------------------------

    def canCommit(self, s):
        """\\A rm \\in RM : rmState[rm] \\in {"prepared", "committed"}"""
        return all(s[i] == PREPARED or s[i] == COMMITTED for i in self.at.rmState)

    def notCommitted(self, s):
        """\\A rm \\in RM : rmState[rm] # "committed" """
        return all(s[i] != COMMITTED for i in self.at.rmState)

    # -- the actions ---------------------------------------------------------------------------

    @action(over="RM")
    def Prepare(self, s, rms):
        """rmState[rm] = "working" /\\ rmState' = [rmState EXCEPT ![rm] = "prepared"]"""
        rmState = self.at.rmState
        return [self.set(s, r, PREPARED) for r in rms if s[rmState[r]] == WORKING]

    @action(over="RM")
    def Decide(self, s, rms):
        """Commit a prepared RM if canCommit; abort a working or prepared RM if notCommitted."""
        rmState = self.at.rmState
        can_commit, not_committed = self.canCommit(s), self.notCommitted(s)
        out = []
        for r in rms:
            state = s[rmState[r]]
            if state == PREPARED and can_commit:
                out.append(self.set(s, r, COMMITTED))
            if (state == WORKING or state == PREPARED) and not_committed:
                out.append(self.set(s, r, ABORTED))
        return out

    def set(self, s, r, state):
        """rmState' = [rmState EXCEPT ![r] = state]"""
        t = list(s)
        t[self.at.rmState[r]] = state
        return tuple(t)

    # -- properties ----------------------------------------------------------------------------

    @formula
    def TCTypeOK(self, s):
        """rmState \\in [RM -> {"working", "prepared", "committed", "aborted"}]"""
        return forall(self.RM, lambda rm: exists(RMState, lambda v: s.rmState[rm] == v))

    @formula
    def TCConsistent(self, s):
        """\\A rm1, rm2 \\in RM : ~ /\\ rmState[rm1] = "aborted" /\\ rmState[rm2] = "committed" """
        return forall(self.RM, lambda i, j: ~((s.rmState[i] == "aborted") & (s.rmState[j] == "committed")))

    @terminal
    def AllDecided(self, state):
        """Every RM has committed or aborted: nothing is left to do."""
        return all(v in ("committed", "aborted") for v in state.rmState.values())


class TCommitHasty(TCommit):
    """Broken on purpose: Decide commits an RM once it has prepared itself, without canCommit."""

    def canCommit(self, s):
        return True
