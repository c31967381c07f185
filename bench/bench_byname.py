"""Actions written by field name against the same actions written with slot arithmetic, in one process.

    python3 bench/bench_byname.py [--rms 7] [--repeat 3]

`protocols/two_phase_commit_tla.py` writes its actions as formulas (`@action(formula=True)`, compiled to
Python over the raw tuple; they read and wrote by name, `s[at.rmState[r]]`, before); `TwoPhaseSlots` below
is the same model with the actions written in Python, offsets computed by hand (`s[self.RM0 + r]`). Both
run in this process, one after the other, best of `--repeat` ("by name" is the protocol's own actions):

- actions: every action applied to every reachable state (the successor function alone, what the
  writing style can change);
- search:  the whole breadth-first search through the engine, TypeOK and TCConsistent checked.

Prints seconds and the ratio slot / by-name (1.0: as fast; the target is >= 0.8), and fails (exit 1)
if the two variants disagree on a successor or on the counts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checker import action  # noqa: E402
from checker.engine import SearchOptions, Verdict, search  # noqa: E402
from checker.logic import compile_predicate  # noqa: E402
from checker.semantics import from_model  # noqa: E402
from protocols.two_phase_commit_tla import RMState, TMState, TwoPhase  # noqa: E402

WORKING, PREPARED, COMMITTED, ABORTED = RMState.codes
INIT, TM_COMMITTED, TM_ABORTED = TMState.codes


class TwoPhaseSlots(TwoPhase):
    """TwoPhase with slot arithmetic: offsets from `self.offset(name)`, the RM with code r at RM0 + r."""

    def setup(self):
        def bit(message):  # msgs is one slot, a bitmask over the messages' ranks
            return 1 << self.Message.rank(message)

        self.PREPARED = [bit(self.Prepared.make(rm=rm)) for rm in self.RM.names]
        self.COMMIT, self.ABORT = bit(self.Commit.make()), bit(self.Abort.make())
        self.ALL_RMS = (1 << self.rms) - 1
        self.TM, self.TMP, self.MSGS = self.offset("tmState"), self.offset("tmPrepared"), self.offset("msgs")
        self.RM0 = self.offset("rmState")

    @action(over="RM")
    def TMRcvPrepared(self, s, rms):
        if s[self.TM] != INIT:
            return ()
        TMP, msgs, tmPrepared, prepared = self.TMP, s[self.MSGS], s[self.TMP], self.PREPARED
        out = []
        for r in rms:
            if msgs & prepared[r]:
                if tmPrepared >> r & 1:
                    out.append(s)
                    continue
                t = list(s)
                t[TMP] = tmPrepared | 1 << r
                out.append(tuple(t))
        return out

    @action
    def TMCommit(self, s):
        if s[self.TM] == INIT and s[self.TMP] == self.ALL_RMS:
            return [self.decide(s, TM_COMMITTED, self.COMMIT)]
        return ()

    @action
    def TMAbort(self, s):
        if s[self.TM] == INIT:
            return [self.decide(s, TM_ABORTED, self.ABORT)]
        return ()

    def decide(self, s, tmState, msg):
        t = list(s)
        t[self.TM] = tmState
        t[self.MSGS] |= msg
        return tuple(t)

    @action(over="RM")
    def RMPrepare(self, s, rms):
        RM0, MSGS, prepared = self.RM0, self.MSGS, self.PREPARED
        out = []
        for r in rms:
            if s[RM0 + r] == WORKING:
                t = list(s)
                t[RM0 + r] = PREPARED
                t[MSGS] |= prepared[r]
                out.append(tuple(t))
        return out

    @action(over="RM")
    def RMChooseToAbort(self, s, rms):
        RM0 = self.RM0
        out = []
        for r in rms:
            if s[RM0 + r] == WORKING:
                t = list(s)
                t[RM0 + r] = ABORTED
                out.append(tuple(t))
        return out

    @action(over="RM")
    def RMRcvCommitMsg(self, s, rms):
        if s[self.MSGS] & self.COMMIT:
            return self.set_rms(s, rms, COMMITTED)
        return ()

    @action(over="RM")
    def RMRcvAbortMsg(self, s, rms):
        if s[self.MSGS] & self.ABORT:
            return self.set_rms(s, rms, ABORTED)
        return ()

    def set_rms(self, s, rms, state):
        RM0 = self.RM0
        out = []
        for r in rms:
            if s[RM0 + r] == state:
                out.append(s)
            else:
                t = list(s)
                t[RM0 + r] = state
                out.append(tuple(t))
        return out


def reachable(model) -> list[tuple]:
    """Every reachable state, breadth first, with the model's own actions."""
    fns = [a.fn for a in model.actions]
    seen = set(model.initial_states())
    frontier = list(seen)
    while frontier:
        nxt = []
        for s in frontier:
            for fn in fns:
                for t in fn(s):
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
        frontier = nxt
    return sorted(seen)


def time_actions(model, states: list[tuple]) -> tuple[float, int]:
    fns = [a.fn for a in model.actions]
    t0 = time.perf_counter()
    n = 0
    for s in states:
        for fn in fns:
            n += len(fn(s))
    return time.perf_counter() - t0, n


def time_search(model) -> tuple[float, tuple[int, int, int]]:
    system = from_model(model)
    invs = [compile_predicate(k, system.invariants[k], system.schema) for k in ("TypeOK", "TCConsistent")]
    t0 = time.perf_counter()
    r = search(system, invs, SearchOptions())
    dt = time.perf_counter() - t0
    if r.verdict is not Verdict.HOLDS:
        sys.exit(f"bench: {type(model).__name__}: verdict {r.verdict}")
    return dt, (r.stats.distinct, r.stats.generated, r.stats.depth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rms", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    byname, slots = TwoPhase(rms=args.rms), TwoPhaseSlots(rms=args.rms)
    states = reachable(byname)
    if states != reachable(slots):
        sys.exit("bench: the two variants reach different states")
    for s in states:
        for a, b in zip(byname.actions, slots.actions):
            if list(a.fn(s)) != list(b.fn(s)):
                sys.exit(f"bench: {a.name} differs on {s}")
    print(f"TwoPhase.tla, {args.rms} RMs: {len(states):,} reachable states; best of {args.repeat}, one process")
    ratios = []
    for what, run in (("actions", lambda m: time_actions(m, states)), ("search", time_search)):
        best = {}
        results = {}
        for _ in range(args.repeat):
            for name, m in (("slots", slots), ("by name", byname)):  # alternate, so drift hits both alike
                dt, res = run(m)
                best[name] = min(best.get(name, dt), dt)
                results.setdefault(name, res)
        if results["slots"] != results["by name"]:
            sys.exit(f"bench: {what}: the variants disagree: {results}")
        ratio = best["slots"] / best["by name"]
        ratios.append(ratio)
        print(f"  {what:8} slots {best['slots']:7.3f} s   by name {best['by name']:7.3f} s   "
              f"speed by name / slots {ratio:5.2f}   ({results['slots']})")
    print("target >= 0.80:", "met" if min(ratios) >= 0.8 else "NOT met")


if __name__ == "__main__":
    main()
