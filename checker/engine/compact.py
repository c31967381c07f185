"""The compact store: breadth-first search holding no Python object per visited state.

The visited set is two flat numpy arrays, sorted 64-bit fingerprints and, aligned
with them, each state's parent's fingerprint (16 bytes a state). The frontier is
packed: each level is a 2-D array of the slots in the narrowest unsigned type
the schema's bounds allow, unpacked to tuples a chunk at a time. Successors are
deduplicated in batches: a chunk's fingerprints are made unique (first
occurrence kept, so the order is breadth-first as in the exact store), those
visited before or earlier in the level are dropped by binary search, and the
level's new fingerprints join the visited arrays once, at its end, by one
merge. Counterexamples are rebuilt from the parent links by re-executing the
steps, as with the fingerprint store; the odds of a fingerprint collision are
reported the same way (TLC's estimate).

`run_compact` is called by `search` for `store="compact"`; it checks invariants,
constraints, terminals and deadlock like the one loop, level by level.
Imports numpy, `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

import numpy as np

from ..semantics import TransitionSystem
from .checks import Checks, Outside, Reach, Stop, Tlc
from .result import Verdict

CHUNK = 16384  # frontier states expanded per batch


def _dtype(bounds) -> np.dtype:
    top = max(bounds, default=1)
    for t in (np.uint8, np.uint16, np.uint32, np.uint64):
        if top <= np.iinfo(t).max + 1:
            return np.dtype(t)
    return np.dtype(object)  # a slot too wide for 64 bits (a large bitmask): kept as Python ints


def _fps(states: list, fp) -> np.ndarray:
    return np.fromiter(map(fp, states), dtype=np.int64, count=len(states)).view(np.uint64)


def from_store(seen: dict, fingerprint: bool, fp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of the compact store from the exact store's dict (state -> parent state) or the
    fingerprint store's (fingerprint -> parent fingerprint): how a search switches stores midway."""
    n = len(seen)
    if fingerprint:
        keys = np.fromiter(seen.keys(), dtype=np.int64, count=n)
        pars = np.fromiter((0 if p is None else p for p in seen.values()), dtype=np.int64, count=n)
    else:
        keys = np.fromiter(map(fp, seen.keys()), dtype=np.int64, count=n)
        pars = np.fromiter((0 if p is None else fp(p) for p in seen.values()), dtype=np.int64, count=n)
    has = np.fromiter((p is not None for p in seen.values()), dtype=bool, count=n)
    o = np.argsort(keys.view(np.uint64), kind="stable")
    return keys.view(np.uint64)[o], pars.view(np.uint64)[o], has[o]


def run_compact(system: TransitionSystem, invariants, constraints, terminals, options, monitor, counts, box, fp,
                start: tuple | None = None, *, tlc: Tlc | None = None, reach: Reach | None = None):
    """Explore breadth first with fingerprints `fp`; returns (visited fingerprints, parent
    fingerprints, has-a-parent flags), sorted by fingerprint. Raises `Stop`. `start` = (visited,
    parents, has_parent, the next level's states, depth) goes on from another store's search.
    Constraints and action constraints as TLC's (see `search`); no view."""
    c = Checks(system, invariants, constraints, terminals, options, tlc, reach)
    first_bad, first_failing, cons, terms, acts = c.first_bad, c.first_failing, c.cons, c.terms, c.acts
    acons, check_inv = c.acons, c.invariant_check
    filtered = cons is not None or acons is not None
    outside: list = []  # the first successor outside the constraints that violates an invariant
    hidden: list = []  # non-empty once the depth bound kept a successor outside the constraints unchecked
    judging: list = [None]  # the successor the constraints are judging, while they do
    dtype = _dtype(system.schema.slot_bounds)
    max_states = options.max_states or 1 << 62
    max_depth = options.max_depth or 1 << 62

    if start is not None:
        visited, parents, has_parent, init, depth = start
    else:
        init = list(dict.fromkeys(system.initial))
        box["generated0"] = len(system.initial)
        if first_bad is not None and init and (bad := first_bad(init)) >= 0:
            raise Stop(Verdict.ERROR, None, reason=f"initial state: {system.schema.check_raw(init[bad])}")
        if cons is not None:  # TLC: an initial state failing a constraint is not stored; its invariants are checked
            if check_inv is not None:
                for s0 in init:
                    if cons(s0) >= 0 and (bad := check_inv(s0)) >= 0:
                        raise Stop(Verdict.VIOLATED, Outside(None, s0), invariants[bad].name)
            init = [s0 for s0 in init if cons(s0) < 0]
        fp0 = _fps(init, fp)
        _, first = np.unique(fp0, return_index=True)
        first.sort()
        init = [init[i] for i in first]
        order = np.argsort(fp0[first], kind="stable")
        visited = fp0[first][order]
        parents = np.zeros(len(visited), dtype=np.uint64)
        has_parent = np.zeros(len(visited), dtype=bool)
        depth = 1 if len(init) else 0
    box["visited"], box["parents"], box["has_parent"] = visited, parents, has_parent
    level = np.array(init, dtype=dtype).reshape(len(init), system.schema.width)
    box["depth"], box["distinct"] = depth, len(visited)

    s, i = None, -1  # the state being checked and the action called last, for the blame
    try:
        while len(level):
            expand = depth < max_depth
            new_fps: list[np.ndarray] = []
            new_par: list[np.ndarray] = []
            new_states: list[np.ndarray] = []
            level_sorted = np.empty(0, dtype=np.uint64)  # this level's new fingerprints so far, sorted
            cut = False
            for lo in range(0, len(level), CHUNK):
                states = list(map(tuple, level[lo:lo + CHUNK].tolist()))
                succ: list = []
                starts: list[int] = []  # where each state's successors begin in `succ`
                start = starts.append
                for s in states:
                    start(len(succ))
                    if first_failing is not None:
                        bad = first_failing(s)
                        if bad >= 0:
                            raise Stop(Verdict.VIOLATED, s, invariants[bad].name)
                    enabled = False
                    for i, successors in acts:
                        ts = successors(s)
                        if not ts:
                            if ts is None:
                                raise c.returned_none(s, i)
                        else:
                            enabled = True
                            counts[i] += len(ts)
                            if filtered:
                                ts = _admitted(s, ts, cons, acons, check_inv, outside, hidden, expand, judging)
                            succ += ts  # self-loops included: they are visited, so membership drops them
                    if not enabled and options.check_deadlock and not any(t(s) for t in terms):
                        raise Stop(Verdict.VIOLATED, s, "deadlock")
                if not succ:
                    continue
                fps = _fps(succ, fp)
                uniq, idx = np.unique(fps, return_index=True)
                old = _member(visited, uniq) | _member(level_sorted, uniq)
                if not expand:
                    cut = cut or bool((~old).any())
                    continue
                keep = np.sort(idx[~old])  # first occurrences, in breadth-first order
                if not len(keep):
                    continue
                fresh = fps[keep]
                new_fps.append(fresh)
                rows = np.searchsorted(np.array(starts), keep, side="right") - 1
                new_par.append(_fps(states, fp)[rows])
                packed = np.array([succ[k] for k in keep], dtype=dtype).reshape(len(keep), system.schema.width)
                if first_bad is not None and (bad := first_bad([succ[k] for k in keep])) >= 0:
                    raise Stop(Verdict.ERROR, None, reason=f"a step produced a state outside the schema: "
                                                           f"{system.schema.check_raw(succ[keep[bad]])}")
                new_states.append(packed)
                add = np.sort(fresh)  # new this level, so disjoint from level_sorted: a merge, not a union
                level_sorted = np.insert(level_sorted, np.searchsorted(level_sorted, add), add)
                box["distinct"] = len(visited) + len(level_sorted)
                why = monitor.tick(box["distinct"], box["generated0"] + sum(counts), depth)
                if why:
                    raise Stop(Verdict.UNDETERMINED, None, reason=why)
                if box["distinct"] >= max_states:
                    raise Stop(Verdict.UNDETERMINED, None, reason=f"max_states {max_states} reached")
            cut = cut or bool(hidden)
            if outside:  # reported once the level is done: a state of this level violating comes first
                bad, p, t = outside[0]
                raise Stop(Verdict.VIOLATED, Outside(p, t), invariants[bad].name)
            if cut:
                raise Stop(Verdict.UNDETERMINED, None, reason=f"max_depth {max_depth} reached")
            if not new_fps:
                break
            fresh = np.concatenate(new_fps)
            par = np.concatenate(new_par)
            o = np.argsort(fresh, kind="stable")
            fresh, par = fresh[o], par[o]
            at = np.searchsorted(visited, fresh)
            visited = np.insert(visited, at, fresh)
            parents = np.insert(parents, at, par)
            has_parent = np.insert(has_parent, at, True)
            box["visited"], box["parents"], box["has_parent"] = visited, parents, has_parent
            level = np.concatenate(new_states)
            depth += 1
            box["depth"], box["distinct"] = depth, len(visited)
    except Stop:
        raise
    except BaseException as e:  # model code failed (or a real Ctrl-C): blamed on what ran
        stop = c.failure(e, s, i)
        if stop is None:
            raise
        if judging[0] is not None and stop.verdict is Verdict.ERROR and stop.state is s:
            stop.state = Outside(s, judging[0])
        raise stop from None
    return visited, parents, has_parent


def _admitted(s: tuple, ts, cons, acons, check_inv, outside: list, hidden: list, expand: bool, judging: list) -> list:
    """The successors `ts` of `s` inside the state and action constraints; the first outside one that
    violates an invariant goes to `outside` (beyond the depth bound it is not checked, as nothing there is)."""
    kept = []
    for t in ts:
        judging[0] = t
        if (cons is not None and cons(t) >= 0) or (acons is not None and not acons(s, t)):
            if not expand:
                if check_inv is not None and not hidden:
                    hidden.append(t)
            elif check_inv is not None and not outside and (bad := check_inv(t)) >= 0:
                outside.append((bad, s, t))
            continue
        kept.append(t)
    judging[0] = None
    return kept


def _member(sorted_arr: np.ndarray, x: np.ndarray) -> np.ndarray:
    if not len(sorted_arr):
        return np.zeros(len(x), dtype=bool)
    pos = np.searchsorted(sorted_arr, x)
    pos[pos == len(sorted_arr)] = 0
    return sorted_arr[pos] == x


def chain(visited: np.ndarray, parents: np.ndarray, has_parent: np.ndarray, last: int) -> list[int]:
    """The fingerprints from an initial state to the one whose fingerprint is `last`, following the parent links."""
    out = [int(np.int64(last).view(np.uint64))]
    while True:
        k = int(np.searchsorted(visited, np.uint64(out[-1])))
        if not has_parent[k]:
            break
        out.append(int(parents[k]))
    out.reverse()
    return [int(np.uint64(f).view(np.int64)) for f in out]  # back to Python's signed hashes


__all__ = ["CHUNK", "chain", "from_store", "run_compact"]
