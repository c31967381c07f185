"""The counterexample with the fewest faults at any length (`faultcheck check --simplest`).

Breadth-first search gives the fewest steps; a reader often prefers a longer
story with fewer crashes, drops or partitions. This search orders states by
(fault steps on the way, steps) with a priority queue, so the first violating
state it takes has the fewest faults, and the fewest steps among those.
Imports `checker.semantics`, `checker.logic` and the engine's guard.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence

from ..logic import Predicate, fuse
from ..semantics import FAULT_KINDS, TransitionSystem
from .guard import OutOfTime, guarded
from .result import SearchOptions, SearchResult, Stats, Verdict


def fewest_faults(system: TransitionSystem, invariants: Sequence[Predicate],
                  options: SearchOptions = SearchOptions()) -> SearchResult:
    """A violation reached with the fewest fault steps (then the fewest steps); HOLDS when none. Model
    code runs under the guard, as in `search`: its failures are an ERROR naming the action or property."""
    start = time.perf_counter()
    with guarded(options, system, invariant=invariants) as guard:
        try:
            return _fewest(system, invariants, options, start)
        except BaseException as e:
            blamed = guard.blame(e)
            if blamed is None:
                if isinstance(e, OutOfTime):
                    stats = Stats(0, 0, 0, time.perf_counter() - start)
                    return SearchResult(Verdict.UNDETERMINED, stats, None, None, str(e))
                raise
            reason, error = blamed
            stats = Stats(0, 0, 0, time.perf_counter() - start)
            return SearchResult(Verdict.ERROR, stats, None, None, reason or f"raised {type(e).__name__}: {e}", error)


def _fewest(system: TransitionSystem, invariants: Sequence[Predicate], options: SearchOptions,
            start: float) -> SearchResult:
    first_failing = fuse(invariants, system.schema) if invariants else (lambda s: -1)
    acts = [(a.kind in FAULT_KINDS, a.successors) for a in system.actions]
    max_states = options.max_states or 1 << 62
    cost: dict[tuple, tuple[int, int]] = {}
    parent: dict[tuple, tuple | None] = {}
    heap: list = []
    tick = 0
    for s in system.initial:
        if s not in cost:
            cost[s], parent[s] = (0, 0), None
            heap.append((0, 0, tick, s))
            tick += 1
    heapq.heapify(heap)
    generated = len(heap)
    done: set = set()
    while heap:
        f, d, _, s = heapq.heappop(heap)
        if s in done or cost[s] != (f, d):
            continue
        done.add(s)
        bad = first_failing(s)
        if bad >= 0:
            path = [s]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            stats = Stats(len(cost), generated, d + 1, time.perf_counter() - start)
            return SearchResult(Verdict.VIOLATED, stats, invariants[bad].name, tuple(reversed(path)))
        if options.max_depth is not None and d + 1 >= options.max_depth:
            continue
        for is_fault, successors in acts:
            for t in successors(s):
                generated += 1
                c = (f + is_fault, d + 1)
                old = cost.get(t)
                if old is None or c < old:
                    if old is None and len(cost) >= max_states:
                        stats = Stats(len(cost), generated, d + 1, time.perf_counter() - start)
                        return SearchResult(Verdict.UNDETERMINED, stats, None, None, f"max_states {max_states} reached")
                    cost[t], parent[t] = c, s
                    heapq.heappush(heap, (c[0], c[1], tick, t))
                    tick += 1
    return SearchResult(Verdict.HOLDS, Stats(len(cost), generated, 0, time.perf_counter() - start), None, None)


__all__ = ["fewest_faults"]
