"""Search orders besides breadth first: depth-first with a depth bound, random walks, and random
schedules driven (and shrunk) by Hypothesis.

They find violations in spaces too large to exhaust; none proves a property
unless it exhausted the space (depth-first search whose bound hid nothing), so
their verdict is otherwise at best undetermined. They share the breadth-first
loop's pieces: the actions' `successors`, the fused invariant check, the
constraints and terminals, the same statistics. Imports `checker.semantics`
and `checker.logic`.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence

from ..logic import Predicate
from ..semantics import TransitionSystem
from .checks import Checks, Reach, Stop, Tlc, not_successors
from .monitor import Monitor
from .result import SearchOptions, SearchResult, Stats, Verdict

DEFAULT_WALK = 100  # steps per random walk when no max_depth is given


class _Checks(Checks):
    """The shared checks, as calls for orders that are not hot loops, with the successors counted."""

    def __init__(self, system: TransitionSystem, invariants: Sequence[Predicate], constraints: Sequence[Predicate],
                 terminals: Sequence[Predicate], options: SearchOptions, tlc: Tlc | None = None,
                 reach: Reach | None = None):
        super().__init__(system, invariants, constraints, terminals, options, tlc, reach)
        self.counts = [0] * len(system.actions)
        self.at: tuple[tuple | None, int] = (None, -1)  # the state checked last and the action called last
        self.enabled = False  # whether the state expanded last had a successor (before the constraints filter)
        self.outside: tuple[str, tuple] | None = None  # (invariant, successor outside the constraints violating it)

    def violation(self, s: tuple) -> str | None:
        if self.first_failing is None:
            return None
        self.at = (s, -1)
        bad = self.first_failing(s)
        return self.invariants[bad].name if bad >= 0 else None

    def outside_initial(self, s: tuple) -> bool:
        """Whether the initial state `s` fails a constraint (TLC: not stored, its invariants checked)."""
        return self.cons is not None and self.cons(s) >= 0

    def invariant_violated(self, s: tuple) -> str | None:
        """The first invariant `s` violates (no reachability bookkeeping: for states outside the constraints)."""
        if self.invariant_check is None:
            return None
        self.at = (s, -1)
        bad = self.invariant_check(s)
        return self.invariants[bad].name if bad >= 0 else None

    def successors(self, s: tuple) -> list[tuple[int, tuple]]:
        """Every (action index, successor) inside the state and action constraints. `enabled` says whether
        there was any successor before they filtered (deadlock); `outside` the first successor they
        filtered out that violates an invariant."""
        self.at = (s, -1)
        out = []
        self.enabled, self.outside = False, None
        cons, acons = self.cons, self.acons
        for i, succ in self.acts:
            self.at = (s, i)
            ts = succ(s)
            if type(ts) is not list and type(ts) is not tuple and (wrong := not_successors(ts)):
                raise Stop(Verdict.ERROR, s, reason=f"action {self.system.actions[i].name} {wrong}")
            self.counts[i] += len(ts)
            if ts:
                self.enabled = True
            for t in ts:
                if (cons is not None and cons(t) >= 0) or (acons is not None and not acons(s, t)):
                    if self.outside is None and (prop := self.invariant_violated(t)) is not None:
                        self.outside = (prop, t)
                    continue
                out.append((i, t))
        return out

    def deadlocked(self, s: tuple, succs: list | None) -> bool:
        return not self.enabled and self.check_deadlock and not any(t(s) for t in self.terms)


def explore(system: TransitionSystem, invariants: Sequence[Predicate], options: SearchOptions, *,
            constraints: Sequence[Predicate] = (), terminals: Sequence[Predicate] = (),
            monitor: Monitor | None = None, tlc: Tlc | None = None, reach: Reach | None = None) -> SearchResult:
    """Search by `options.strategy` ("dfs", "random" or "hypothesis"). Constraints and action constraints
    as TLC's (see `engine.search`); no view. A reachability property is judged only when depth-first
    search exhausted the space; each one reached gets the path that reached it first."""
    monitor = monitor or Monitor(max_seconds=options.max_seconds)
    checks = _Checks(system, invariants, constraints, terminals, options, tlc, reach)
    start = time.perf_counter()
    monitor.start()
    run = {"dfs": _dfs, "random": _random, "hypothesis": _hypothesis}[options.strategy]
    error = None
    try:
        verdict, prop, path, reason, distinct, depth = run(system, checks, options, monitor)
    except BaseException as e:  # model code failed, a real Ctrl-C, or the time ran out inside Hypothesis
        stop = None if isinstance(e, _OutOfTime) else checks.failure(e, *checks.at)
        if stop is not None:
            verdict, reason, error = stop.verdict, stop.reason, stop.error
        elif isinstance(e, _OutOfTime):
            verdict, reason = Verdict.UNDETERMINED, str(e)
        elif isinstance(e, KeyboardInterrupt):
            verdict, reason = Verdict.UNDETERMINED, "interrupted (Ctrl-C)"
        else:
            raise
        prop, path, distinct, depth = None, None, 0, 0
    seconds = time.perf_counter() - start
    coverage = {a.name: c for a, c in zip(system.actions, checks.counts)}
    stats = Stats(distinct, len(system.initial) + sum(checks.counts), depth, seconds, coverage)
    monitor.finish(stats)
    witnesses = dict(reach.paths) if reach is not None else None
    return SearchResult(verdict, stats, prop, path, reason, error, witnesses=witnesses)


class _OutOfTime(BaseException):
    """Raised through Hypothesis (which lets a BaseException through) when the monitor says stop."""


def _dfs(system, checks: _Checks, options: SearchOptions, monitor: Monitor):
    """Depth first, to `max_depth` levels (unbounded when not given). A state reached again at a
    shallower depth is expanded again, so the bound hides no state within it."""
    bound = options.max_depth or 1 << 62
    max_states = options.max_states or 1 << 62
    depth_of: dict[tuple, int] = {}
    parent: dict[tuple, tuple | None] = {}
    stack: list[tuple[tuple, int]] = []
    if checks.reach is not None:
        checks.reach.path_of = lambda s: _chain(parent, s)
    for s in system.initial:
        if checks.outside_initial(s):
            if (prop := checks.invariant_violated(s)) is not None:
                return Verdict.VIOLATED, prop, (s,), "", 0, 1
            continue
        if s not in depth_of:
            depth_of[s], parent[s] = 1, None
            stack.append((s, 1))
    deepest, ticks = 1 if stack else 0, 0
    hidden: set = set()  # successors of states at the bound, unseen when met: hidden if still unseen at the end
    for s, _ in stack:
        if (prop := checks.violation(s)) is not None:
            return Verdict.VIOLATED, prop, _chain(parent, s), "", len(depth_of), 1
    while stack:
        s, d = stack.pop()
        if depth_of[s] < d:
            continue  # reached again more shallowly since it was pushed: that visit expands it
        ticks += 1
        if not ticks % 2048:
            why = monitor.tick(len(depth_of), len(system.initial) + sum(checks.counts), deepest)
            if why or len(depth_of) >= max_states:
                return Verdict.UNDETERMINED, None, None, why or f"max_states {max_states} reached", len(depth_of), deepest
        succs = checks.successors(s)
        if checks.outside is not None:
            prop, t = checks.outside
            return Verdict.VIOLATED, prop, (*_chain(parent, s), t), "", len(depth_of), max(deepest, d + 1)
        if checks.deadlocked(s, succs):
            return Verdict.VIOLATED, "deadlock", _chain(parent, s), "", len(depth_of), deepest
        if d >= bound:
            hidden.update(t for _, t in succs or () if t not in depth_of)
            continue
        for _, t in reversed(succs or ()):
            if t not in depth_of or depth_of[t] > d + 1:
                new = t not in depth_of
                depth_of[t], parent[t] = d + 1, s
                deepest = max(deepest, d + 1)
                if new and (prop := checks.violation(t)) is not None:
                    return Verdict.VIOLATED, prop, _chain(parent, t), "", len(depth_of), deepest
                stack.append((t, d + 1))
    if any(t not in depth_of for t in hidden):
        return Verdict.UNDETERMINED, None, None, f"max_depth {bound} reached", len(depth_of), deepest
    return Verdict.HOLDS, None, None, "", len(depth_of), deepest


def _chain(parent: dict, s: tuple) -> tuple[tuple, ...]:
    path = [s]
    while (p := parent[path[-1]]) is not None:
        path.append(p)
    return tuple(reversed(path))


def _walk(system, checks: _Checks, choose: Callable[[int], int], length: int, seen: set, taken: Counter,
          kinds: list[str]):
    """One schedule: from an initial state, `choose(n)` picks among the n successors at each step.
    Returns (property violated or None, path)."""
    s = system.initial[choose(len(system.initial))]
    path = [s]
    if checks.reach is not None:
        checks.reach.path_of = lambda _: tuple(path)
    if checks.outside_initial(s):
        return checks.invariant_violated(s), path
    seen.add(s)
    if (prop := checks.violation(s)) is not None:
        return prop, path
    for _ in range(length):
        succs = checks.successors(s)
        if checks.outside is not None:
            prop, t = checks.outside
            return prop, [*path, t]
        if checks.deadlocked(s, succs):
            return "deadlock", path
        if not succs:
            break
        i, s = succs[choose(len(succs))]
        taken[kinds[i]] += 1
        path.append(s)
        seen.add(s)
        if (prop := checks.violation(s)) is not None:
            return prop, path
    return None, path


def _summary(what: str, seen: set, taken: Counter) -> str:
    kinds = ", ".join(f"{k} {n:,}" for k, n in taken.most_common())
    return f"{what}; {len(seen):,} distinct states seen; steps taken: {kinds or 'none'}; not exhaustive"


def _random(system, checks: _Checks, options: SearchOptions, monitor: Monitor):
    """`walks` random walks of up to `max_depth` steps, seeded: the same seed, the same walks."""
    rng = random.Random(options.seed)
    length = options.max_depth or DEFAULT_WALK
    seen: set = set()
    taken: Counter = Counter()
    kinds = [a.kind if a.kind != "action" else a.name for a in system.actions]
    deepest = 0
    for w in range(options.walks):
        prop, path = _walk(system, checks, rng.randrange, length, seen, taken, kinds)
        deepest = max(deepest, len(path))
        if prop is not None:
            return Verdict.VIOLATED, prop, tuple(path), _summary(f"walk {w + 1} of {options.walks}", seen, taken), \
                len(seen), deepest
        why = monitor.tick(len(seen), len(system.initial) + sum(checks.counts), deepest)
        if why:
            return Verdict.UNDETERMINED, None, None, _summary(why, seen, taken), len(seen), deepest
    return (Verdict.UNDETERMINED, None, None, _summary(f"{options.walks:,} random walks of up to {length} steps found "
                                                      f"no violation (seed {options.seed})", seen, taken),
            len(seen), deepest)


def _hypothesis(system, checks: _Checks, options: SearchOptions, monitor: Monitor):
    """Random schedules as a Hypothesis search: a schedule is a list of choices, one per step; a
    failing one is shrunk to a short, simple schedule, then replayed for the trace."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    length = options.max_depth or DEFAULT_WALK
    seen: set = set()
    taken: Counter = Counter()
    kinds = [a.kind if a.kind != "action" else a.name for a in system.actions]

    def run(schedule: list[int]):
        it = iter(schedule)
        return _walk(system, checks, lambda n: (next(it, 0) + options.seed) % n, length, seen, taken, kinds)

    def fails(schedule: list[int]) -> bool:
        why = monitor.tick(len(seen), len(system.initial) + sum(checks.counts), 0)
        if why:
            raise _OutOfTime(why)
        return run(schedule)[0] is not None

    cfg = settings(max_examples=options.walks, database=None, derandomize=True, deadline=None,
                   suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
    try:
        schedule = find(st.lists(st.integers(0, 255), max_size=length + 1), fails, settings=cfg)
    except NoSuchExample:
        return (Verdict.UNDETERMINED, None, None, _summary(f"{options.walks:,} Hypothesis schedules found no violation",
                                                          seen, taken), len(seen), 0)
    prop, path = run(schedule)
    return Verdict.VIOLATED, prop, tuple(path), _summary(f"Hypothesis schedule of {len(path) - 1} steps, shrunk",
                                                         seen, taken), len(seen), len(path)


__all__ = ["explore"]
