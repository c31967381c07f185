"""Three-phase commit with its termination protocol (Skeen, "Nonblocking Commit Protocols", SIGMOD
1981; Skeen & Stonebraker, "A Formal Model of Crash Recovery in a Distributed System", IEEE TSE
1983; Bernstein, Hadzilacos & Goodman, "Concurrency Control and Recovery in Database Systems",
1987, ch. 7).

Two-phase commit blocks: a participant that voted yes and lost its coordinator
cannot tell whether some site already committed. Skeen's 3PC adds a state
between "uncertain" and "committed", *committable* (here `precommitted`), so
that no site commits while another is still uncertain:

    coordinator                            participant
    VoteReq to all                 ->      vote: No (abort), or Yes (uncertain)
    all Yes: PreCommit to all      ->      precommitted; Ack
    every live one acked: commit;
    Commit to all                  ->      committed
    (a No vote, or a participant failing before the votes are in: abort; Abort to all)

Timeouts are failure detection (`on_peer_crash`). A participant that loses
the coordinator before voting aborts on its own. Otherwise it runs the
termination protocol: the lowest-numbered live participant becomes the new
coordinator, asks every live participant for its state (StateReq /
StateReport) and decides by the termination rule:

    TR1  some site aborted                          -> abort
    TR2  some site committed                        -> commit
    TR3  every site uncertain (none precommitted)   -> abort
    TR4  some site precommitted, none decided       -> PreCommit to the uncertain ones;
                                                       once they acked: commit

If the new coordinator fails in turn, the next lowest-numbered live one starts
over. A participant that has answered a new coordinator ignores PreCommits
from the earlier ones (still in flight from before their crash): it has handed
its fate to the newer coordinator, which may already have decided abort from
its report.

Promises, with crash-stop sites (the coordinator and participants may crash
and stay down) and a perfect failure detector, on a network that delays and
reorders but does not lose messages (`specs/three_phase_commit_crash.toml`):
- `Atomicity`: no participant commits while another aborts, counting the
  decisions crashed participants keep in their durable log;
- `AgreesWithCoordinator`: ... nor decides otherwise than the coordinator did;
- `Decides` (liveness, with the default fairness: every delivery and
  detection weakly fair): every live participant eventually commits or
  aborts. 3PC does not block on a crash, as 2PC does
  (`specs/two_phase_commit_blocking.toml`).

Broken on purpose:
- By its fault model (`specs/three_phase_commit_partition.toml`, `[faults]
  detector = "partition"`): a timeout cannot tell a crashed site from an
  unreachable one, and the nonblocking rule assumes it can. The shortest
  counterexample (11 steps, 2 participants, no crash): both vote yes, the
  coordinator sends PreCommit, part1 precommits and acks; the network splits
  {coord1, part1} | {part2}. The coordinator times out on part2 (waiting for
  acks, it goes on without a failed participant), commits, and part1 commits.
  part2 times out on the coordinator and on part1, so it is the new
  coordinator of its side; uncertain, and seeing no one precommitted, it
  aborts by TR3.
- `StalePreCommit`: participants obey a PreCommit from a coordinator they have
  already replaced (`specs/three_phase_commit_stale_precommit.toml`, crash-stop
  and a perfect detector). The shortest counterexample (12 steps, 2
  participants, 2 crashes): the coordinator sends PreCommit to both and
  crashes; part1 takes over and asks part2 for its state; the old PreCommit
  then reaches part2, which precommits, but its report said "uncertain", so
  part1 aborts (TR3) and crashes; part2, now precommitted and alone, commits
  (TR4) while part1's log says aborted.

Not modelled: recovery of a failed site (sites are crash-stop, as the
termination protocol assumes; a recovering site would ask the others, as in
BHG's recovery protocol) and total failure.
"""

from checker import (
    Bool,
    Enum,
    Ids,
    Message,
    Node,
    Option,
    Param,
    Protocol,
    Role,
    Set,
    durable,
    eventually,
    forall,
    formula,
    liveness,
    volatile,
)

SiteState = Enum("working", "uncertain", "precommitted", "committed", "aborted")


class VoteReq(Message):
    """Coordinator -> participant: phase 1, asking for a vote."""


class Yes(Message):
    """Participant -> coordinator: a yes vote; the participant is now uncertain."""


class No(Message):
    """Participant -> coordinator: a no vote; the participant has aborted."""


class PreCommit(Message):
    """(New) coordinator -> participant: every vote was yes; become committable."""


class Ack(Message):
    """Participant -> (new) coordinator: precommitted."""


class Commit(Message):
    """(New) coordinator -> participant: the decision is commit."""


class Abort(Message):
    """(New) coordinator -> participant: the decision is abort."""


class StateReq(Message):
    """New coordinator -> participant (termination protocol): what is your state?"""


class StateReport(Message):
    """Participant -> new coordinator: my state."""

    state = SiteState


class Coordinator(Node):
    state = durable(Enum("voting", "precommitted", "committed", "aborted"), initial="voting")
    votes = volatile(Set(Ids("part")), initial=frozenset())
    acks = volatile(Set(Ids("part")), initial=frozenset())
    failed = volatile(Set(Ids("part")), initial=frozenset())  # participants it timed out on

    def on_start(self):
        self.broadcast(VoteReq(), role="part")

    def on_yes(self, msg, src):
        if self.state != "voting":
            return
        self.votes = self.votes | {src}
        if self.votes == set(self.nodes("part")):  # every vote is yes: the participants may become committable
            self.state = "precommitted"
            self.send_live(PreCommit())
            self.commit_if_acked()

    def on_no(self, msg, src):
        if self.state == "voting":
            self.decide("aborted", Abort())

    def on_ack(self, msg, src):
        if self.state == "precommitted":
            self.acks = self.acks | {src}
            self.commit_if_acked()

    def on_peer_crash(self, peer):
        """A timeout: before every vote is in, abort; waiting for acks, go on without the failed one."""
        self.failed = self.failed | {peer}
        if self.state == "voting":
            self.decide("aborted", Abort())
        elif self.state == "precommitted":
            self.commit_if_acked()

    def commit_if_acked(self):
        if self.acks | self.failed >= set(self.nodes("part")):
            self.decide("committed", Commit())

    def decide(self, decision, msg):
        self.state = decision
        self.send_live(msg)

    def send_live(self, msg):
        for p in self.nodes("part"):
            if p not in self.failed:
                self.send(p, msg)


class Participant(Node):
    state = durable(SiteState, initial="working")
    coord_failed = volatile(Bool(), initial=False)
    failed = volatile(Set(Ids("part")), initial=frozenset())  # participants it timed out on
    leader = volatile(Option(Ids("part")), initial=None)  # the coordinator it obeys; None: the original one
    # as the new coordinator (termination protocol):
    phase = volatile(Enum("follower", "collecting", "precommitting", "finished"), initial="follower")
    waiting = volatile(Set(Ids("part")), initial=frozenset())  # reports (collecting) or acks (precommitting) due
    uncertain = volatile(Set(Ids("part")), initial=frozenset())  # who reported uncertain
    saw_precommitted = volatile(Bool(), initial=False)

    # -- the commit protocol ------------------------------------------------------------------
    def on_vote_req(self, msg, src):
        if self.state != "working":
            return
        if self.choose(["yes", "no"]) == "yes":
            self.state = "uncertain"
            self.send(src, Yes())
        else:  # a participant that has not voted yes may abort on its own
            self.state = "aborted"
            self.send(src, No())

    def on_pre_commit(self, msg, src):
        if self.rank(src) < self.rank(self.leader):
            return  # from a coordinator that failed before the one this participant now obeys
        if self.state == "uncertain":
            self.state = "precommitted"
        if self.state == "precommitted":
            self.send(src, Ack())

    def on_commit(self, msg, src):
        if self.state not in ("committed", "aborted"):
            self.state = "committed"

    def on_abort(self, msg, src):
        if self.state not in ("committed", "aborted"):
            self.state = "aborted"

    # -- failure detection and election ---------------------------------------------------------
    def on_peer_crash(self, peer):
        if peer in self.nodes("coord"):
            self.coord_failed = True
            if self.state == "working":  # it never voted: aborting is safe
                self.state = "aborted"
        else:
            self.failed = self.failed | {peer}
            if self.phase in ("collecting", "precommitting"):  # no report or ack will come from it
                self.waiting = self.waiting - {peer}
                self.uncertain = self.uncertain - {peer}
                self.advance()
        if self.phase == "follower" and self.is_new_coordinator():
            self.start_termination()

    def is_new_coordinator(self):
        """The coordinator and every lower-numbered participant have failed."""
        parts = self.nodes("part")
        return self.coord_failed and set(parts[: parts.index(self.id)]) <= self.failed

    # -- the termination protocol, run by the new coordinator -------------------------------------
    def start_termination(self):
        self.leader = self.id
        if self.state in ("committed", "aborted"):  # TR1 / TR2 on its own state
            self.finish(self.state)
            return
        self.phase = "collecting"
        self.saw_precommitted = self.state == "precommitted"
        self.waiting = frozenset(self.live_peers())
        for p in self.waiting:
            self.send(p, StateReq())
        self.advance()

    def on_state_req(self, msg, src):
        if self.rank(src) < self.rank(self.leader):
            return
        self.leader = src
        if self.state == "working":
            self.state = "aborted"
        self.send(src, StateReport(self.state))

    def on_state_report(self, msg, src):
        if self.phase != "collecting" or src not in self.waiting:
            return
        self.waiting = self.waiting - {src}
        if msg.state in ("committed", "aborted"):  # TR1 / TR2
            self.finish(msg.state)
            return
        if msg.state == "precommitted":
            self.saw_precommitted = True
        else:
            self.uncertain = self.uncertain | {src}
        self.advance()

    def advance(self):
        if self.waiting:
            return
        if self.phase == "collecting":
            if not self.saw_precommitted:  # TR3: every live site uncertain
                self.finish("aborted")
                return
            self.phase = "precommitting"  # TR4: make the uncertain ones committable, then commit
            self.state = "precommitted"
            self.waiting = self.uncertain
            for p in self.uncertain:
                self.send(p, PreCommit())
            self.advance()
        elif self.phase == "precommitting":
            self.finish("committed")

    def on_ack(self, msg, src):
        if self.phase == "precommitting" and src in self.waiting:
            self.waiting = self.waiting - {src}
            self.advance()

    def finish(self, decision):
        self.state = decision
        self.phase = "finished"
        self.waiting = frozenset()
        self.uncertain = frozenset()
        for p in self.live_peers():
            self.send(p, Commit() if decision == "committed" else Abort())

    # -- helpers --------------------------------------------------------------------------------
    def live_peers(self):
        return [p for p in self.nodes("part") if p != self.id and p not in self.failed]

    def rank(self, site):
        """Coordinators in the order they may take over: the original one, then part1, part2, ..."""
        return 0 if site is None or site in self.nodes("coord") else 1 + self.nodes("part").index(site)


class ThreePhaseCommit(Protocol):
    """One coordinator and `parts` participants."""

    parts = Param(3, "number of participants", lo=1, hi=5)
    coord = Role(Coordinator, count=1)
    part = Role(Participant, count="parts")
    messages = (VoteReq, Yes, No, PreCommit, Ack, Commit, Abort, StateReq, StateReport)

    @formula
    def Atomicity(self, s):
        """No participant has committed while another has aborted (crashed ones count: their log is durable)."""
        return forall(s.role("part"), lambda a, b: ~((a.state == "committed") & (b.state == "aborted")))

    @formula
    def AgreesWithCoordinator(self, s):
        """No participant has decided otherwise than the original coordinator."""
        coord = s.coord1.state
        return forall(
            s.role("part"),
            lambda p: (
                ~((p.state == "committed") & (coord == "aborted")) & ~((p.state == "aborted") & (coord == "committed"))
            ),
        )

    @liveness
    def Decides(self, s):
        """Every participant that is up eventually commits or aborts."""
        names = [f"part{i}" for i in range(1, self.parts + 1)]

        def decided(state):
            down = state.down if "down" in type(state)._schema.variables else ()
            return all(state[n].state in ("committed", "aborted") for n in names if n not in down)

        return eventually(decided)


class TrustingParticipant(Participant):
    """Broken on purpose: obeys a PreCommit from a coordinator it has already replaced."""

    def on_pre_commit(self, msg, src):
        if self.state == "uncertain":
            self.state = "precommitted"
        if self.state == "precommitted":
            self.send(src, Ack())


class StalePreCommit(ThreePhaseCommit):
    part = Role(TrustingParticipant, count="parts")
