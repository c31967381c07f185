"""The one search loop: level-synchronous breadth-first search over flat int tuples.

Visited states map to their parent (exact store) or a 64-bit fingerprint to
its parent's (fingerprint store); shortest counterexamples are rebuilt from
those links. Time, progress and Ctrl-C reach the loop only through the
`Monitor` it is given; model code runs under `engine.guard` (it may not end,
hijack or hang the search). Imports `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ..logic import ActionConstraint, Predicate, StateFunction
from ..semantics import FAULT_KINDS, TransitionSystem
from .checkpoint import Checkpointer, CheckpointError, load_checkpoint
from .checks import Checks, Outside, Reach, Tlc
from .checks import Stop as _Stop
from .guard import Guard, OutOfTime, guarded, note_sigint
from .monitor import Monitor
from .result import SearchOptions, SearchResult, Stats, Verdict
from .team import Team

TICK_EVERY = 2048  # expanded states between two calls of the monitor


PARALLEL_MIN = 4096  # with workers: levels smaller than this are expanded by one process (sharing costs more)

CANDIDATES = 2000  # violating states of the last level compared for the simplest counterexample


class _Spread(Exception):
    """Raised before expanding a level of `parallel_min` states or more in a sharded search (local shards
    or Ray): it goes on sharded (`engine.distribute`)."""

    def __init__(self, level: list, depth: int):
        self.level, self.depth = level, depth


class _Switch(Exception):
    """Raised between two levels when memory passed `compact_above`: the compact store goes on."""

    def __init__(self, level: list):
        self.level = level


def search(
    system: TransitionSystem,
    invariants: Sequence[Predicate] = (),
    options: SearchOptions = SearchOptions(),
    *,
    constraints: Sequence[Predicate] = (),
    terminals: Sequence[Predicate] = (),
    monitor: Monitor | None = None,
    action_constraints: Sequence[ActionConstraint] = (),
    view: StateFunction | None = None,
    reachable: Sequence[Predicate] = (),
    recipe: Callable[[], dict] | None = None,
) -> SearchResult:
    """Explore every state of `system` reachable from its initial states, breadth first.

    With TLC's semantics: a successor (or initial state) failing a `constraints` predicate, or a step failing
    an `action_constraints` one, counts as generated and has its invariants checked, but is not stored,
    counted as distinct, expanded or given a level; deadlock is decided before they filter. States with
    equal `view` keys are one state. A `reachable` predicate no stored state satisfies makes an exhaustive
    search a violation of it; the shortest path to the first state satisfying each is in `witnesses`.

    >>> from checker.model import Model, Int, action, invariant
    >>> class Counter(Model):
    ...     def variables(self): return {"n": Int(0, 3)}
    ...     def init(self): return {"n": 0}
    ...     @action
    ...     def inc(self, s): return [(s[0] + 1,)] if s[0] < 3 else [s]
    >>> from checker.semantics import from_model
    >>> r = search(from_model(Counter())); (r.verdict.value, r.stats.distinct, r.stats.depth)
    ('holds', 4, 4)

    Model code (actions, handlers, properties) runs under `engine.guard`: `sys.exit`, `os._exit`, a
    KeyboardInterrupt it raises, or a call that runs past `options.hang_seconds` is an error naming it.
    """
    tlc = Tlc(tuple(action_constraints), view, tuple(reachable))
    refused = _refused(options, tlc)
    if refused:
        raise ValueError(refused)
    reach = Reach(tlc.reachable, system.schema) if tlc.reachable else None
    with guarded(options, system, invariant=invariants, constraint=constraints, terminal=terminals,
                 action_constraint=tlc.action_constraints, view=[view] if view is not None else [],
                 reachable=tlc.reachable) as guard:
        try:
            result = _search(system, invariants, options, constraints, terminals, monitor, tlc, reach, recipe)
        except BaseException as e:  # model code failed outside the loops (rebuilding a path, say)
            if isinstance(e, OutOfTime):
                return SearchResult(Verdict.UNDETERMINED, Stats(0, 0, 0, 0.0), reason=str(e))
            found = guard.blame(e)
            if found is None or found[0] is None:
                raise
            return SearchResult(Verdict.ERROR, Stats(0, 0, 0, 0.0), None, None, found[0], found[1])
        return _settle(_reached(result, reach), guard)


def tlc_refusal(options: SearchOptions, view: StateFunction | None, reachable: Sequence[Predicate]) -> str | None:
    """Why `options` cannot search soundly with this view or these reachability properties, or None."""
    return _refused(options, Tlc((), view, tuple(reachable)))


def _refused(options: SearchOptions, tlc: Tlc) -> str | None:
    """Why the options cannot search soundly with a view or reachability properties, or None."""
    if tlc.view is not None:
        if options.store == "compact":
            return "a view is not supported with the compact store (its states are fingerprints of whole states)"
        if options.strategy != "bfs":
            return f"a view is supported by strategy bfs only, not {options.strategy}"
        if options.checkpoint_dir or options.resume:
            return "a view is not supported with checkpoints (a checkpoint stores whole states)"
    if tlc.reachable and (options.checkpoint_dir or options.resume):
        return "reachability properties are not supported with checkpoints (what was reached is not recorded)"
    return None


def _reached(result: SearchResult, reach: Reach | None) -> SearchResult:
    """An exhaustive search that never reached a reachability property is a violation of it."""
    if reach is None:
        return result
    missing = reach.unreached()
    if result.verdict is Verdict.HOLDS and missing:
        return replace(result, verdict=Verdict.VIOLATED, property=missing[0], path=None,
                       reason=f"never reached (no reachable state satisfies {', '.join(missing)})")
    return result


def _settle(result: SearchResult, guard: Guard) -> SearchResult:
    """Model code that swallowed what the guard raised (`except BaseException: pass`) gains nothing:
    the search is an error all the same."""
    if guard.escaped is None or result.verdict is Verdict.ERROR:
        return result
    return SearchResult(Verdict.ERROR, result.stats, None, None,
                        f"{guard.escaped} (and the model code went on after the guard stopped it)")


def _search(system, invariants, options, constraints, terminals, monitor, tlc: Tlc, reach: Reach | None,
            recipe=None) -> SearchResult:
    if options.strategy != "bfs":
        from .orders import explore

        return explore(system, invariants, options, constraints=constraints, terminals=terminals, monitor=monitor,
                       tlc=tlc, reach=reach)
    if options.store == "compact":
        return _search_compact(system, invariants, options, constraints, terminals, monitor, tlc=tlc, reach=reach)
    from .distribute import MANIFEST, PREFIX_DIR, SHARDED

    if options.resume and (Path(options.resume) / SHARDED / MANIFEST).is_file():
        return _resume_sharded(system, invariants, options, constraints, terminals, monitor, tlc, reach, recipe)
    if options.checkpoint_dir and not options.resume:  # a fresh run: an older run's sharded checkpoint goes
        for old in (SHARDED, PREFIX_DIR):
            shutil.rmtree(Path(options.checkpoint_dir) / old, ignore_errors=True)
    monitor = monitor or Monitor(max_seconds=options.max_seconds)
    counts = [0] * len(system.actions)
    seen: dict = {}
    box = {"generated0": 0, "depth": 0}
    rss0 = _rss()
    start = time.perf_counter()
    monitor.start()
    # The search allocates millions of tuples of ints, which can form no reference cycle, and
    # CPython's cyclic collector would rescan the growing visited set again and again (a quarter of
    # the time of TwoPhase with 8 RMs). It is paused while the search runs.
    collecting = gc.isenabled()
    gc.disable()
    ties: list = []
    previous = _defer_sigint(box)
    try:
        _bfs(system, invariants, constraints, terminals, options, monitor, seen, counts, box, tlc, reach)
        verdict, last, prop, reason, error = Verdict.HOLDS, None, None, "", None
    except _Switch as switch:  # memory passed the threshold: go on with the compact store
        from .compact import from_store

        arrays = from_store(seen, options.store == "fingerprint", fingerprinter(system.schema))
        seen.clear()
        if previous is not None:  # the compact store stops on the first Ctrl-C, as a plain search does
            signal.signal(signal.SIGINT, previous)
            previous = None
        if collecting:
            gc.enable()
        return _search_compact(system, invariants, options, constraints, terminals, monitor, tlc=tlc, reach=reach,
                               start=(*arrays, switch.level, box["depth"]), counts=counts, box=box, rss0=rss0,
                               began=start, note=f"switched to the compact store at depth {box['depth']} "
                                                 f"(resident memory above {options.compact_above:,} bytes)")
    except _Spread as spread:  # a large level: the search goes on sharded
        from .distribute import Spread

        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            previous = None
        identity = None
        if options.checkpoint_dir:  # the part before it spread, once: a sharded checkpoint starts from it
            from dataclasses import replace as _with

            from .checkpoint import _identity
            from .distribute import PREFIX_DIR

            prefix = Checkpointer(_with(options, checkpoint_dir=str(Path(options.checkpoint_dir) / PREFIX_DIR)),
                                  system, invariants)
            prefix.save(seen, spread.level, [], 0, spread.depth, counts, box["generated0"])
            identity = _identity(system, invariants, options)
        return _sharded(system, invariants, options, constraints, terminals, monitor, tlc, reach, recipe,
                        Spread(seen, spread.level, spread.depth, counts, box["generated0"], box["checks"], reach,
                               start, rss0, identity))
    except _Stop as stop:
        verdict, last, prop, reason, error = stop.verdict, stop.state, stop.prop, stop.reason, stop.error
        ties = stop.ties
    except KeyboardInterrupt:
        verdict, last, prop, reason, error = Verdict.UNDETERMINED, None, None, "interrupted (Ctrl-C)", None
        saver = box.get("saver")
        if saver is not None:  # the last clean point: resuming from it loses and repeats nothing
            try:
                where = saver.save(seen, box["level"], box["next"], box["at"], box["depth"], box["counts_at"],
                                   box["generated0"])
                reason += f"; checkpoint written to {where.parent} (--resume {where.parent})"
            except CheckpointError as e:  # a second Ctrl-C landed between storing a state and queueing it
                reason += f"; no checkpoint written ({e}); the previous one, if any, is kept"
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if _ENDING is not None:  # this process ends right after: never free the visited set, never scan it
            _ENDING.append(seen)
            gc.freeze()
        if collecting:
            gc.enable()
    seconds = time.perf_counter() - start
    coverage = {a.name: c for a, c in zip(system.actions, counts)}
    distinct, generated = len(seen), box.get("generated0", 0) + sum(counts)
    collision = _collision_odds(distinct, generated) if options.store == "fingerprint" else None
    stats = Stats(distinct, generated, box["depth"], seconds, coverage, collision, _bytes_per_state(rss0, distinct))
    monitor.finish(stats)
    key = tlc.view.key if tlc.view is not None else None
    c = box.get("checks")
    paths = _Paths(system, seen, options.store == "exact", key, c.cons if c else None, c.acons if c else None)
    path = None
    if last is not None and options.store == "exact":
        path = _simplest(system, [paths.to(u) for u in [last, *ties]])
    elif last is not None:
        path = paths.to(last)
    witnesses = {n: paths.to(u) for n, u in reach.found.items()} if reach is not None else None
    return SearchResult(verdict, stats, prop, path, reason, error, witnesses=witnesses)


def _sharded(system, invariants, options, constraints, terminals, monitor, tlc: Tlc, reach: Reach | None, recipe,
             start, restored: dict | None = None) -> SearchResult:
    """Go on sharded from `start` (or from a sharded checkpoint); a shard that dies: start the shards
    again from there, once."""
    from .distribute import WorkerDied
    from .distribute import run as run_spread

    counts0 = list(start.counts)
    for attempt in (1, 2):
        pool, failed = None, True
        try:
            pool = _pool(system, invariants, options, constraints, terminals, tlc, reach, recipe)
            result = run_spread(system, invariants, options, constraints, terminals, monitor, tlc, start, pool,
                                restored)
            failed = False
            return result
        except WorkerDied as e:
            start.counts[:] = counts0
            if attempt == 2:
                stats = Stats(len(start.seen), start.generated0 + sum(start.counts), start.depth,
                              time.perf_counter() - start.started)
                monitor.finish(stats)
                return SearchResult(Verdict.UNDETERMINED, stats,
                                    reason=f"{e}, twice (the shards were started again once): gave up")
        finally:
            if pool is not None:
                pool.close(failed=failed)
    raise AssertionError("unreachable")  # pragma: no cover


def _resume_sharded(system, invariants, options, constraints, terminals, monitor, tlc: Tlc, reach, recipe):
    """--resume of a checkpoint a sharded search wrote: the part before it spread (one process's format),
    then every shard's part, shared out anew among this run's shards (their number may differ)."""
    from .checkpoint import _identity
    from .distribute import PREFIX_DIR, Spread, load_sharded

    if not (options.sharded or options.ray is not None):
        raise CheckpointError(f"{options.resume}: written by a sharded search: resume it with --sharded or --ray")
    folder = Path(options.resume)
    restored = load_sharded(folder, _identity(system, invariants, options))
    pre = load_checkpoint(folder / PREFIX_DIR, system, invariants, options)
    monitor = monitor or Monitor(max_seconds=options.max_seconds)
    monitor.start()
    c = Checks(system, invariants, constraints, terminals, options, tlc, reach)
    collecting = gc.isenabled()
    gc.disable()
    try:
        start = Spread(dict(pre["seen"]), pre["level"], pre["depth"], list(pre["counts"]), pre["generated0"], c,
                       reach, time.perf_counter(), _rss(), restored["identity"])
        return _sharded(system, invariants, options, constraints, terminals, monitor, tlc, reach, recipe, start,
                        restored)
    finally:
        if collecting:
            gc.enable()


_ENDING: list | None = None  # see `process_ends_after_search`


def process_ends_after_search() -> None:
    """This process ends (`os._exit`) right after its search, as the command line's child per spec does:
    its visited set is kept, never freed, and the collector never scans it (half a second at 1.7 million
    states). A library caller must not call this: every search's states would stay in memory."""
    global _ENDING
    _ENDING = []


def _pool(system, invariants, options, constraints, terminals, tlc: Tlc, reach: Reach | None, recipe):
    """The shards a spreading search goes on with: forked processes, or Ray actors."""
    reachable = list(tlc.reachable)
    if options.ray is not None:
        from .onray import RayPool

        return RayPool(options.ray, options.ray_workers or (options.workers if options.workers > 1 else None),
                       recipe, options, tlc)
    from .distribute import LocalPool
    from .shard import Shard

    def make(index: int, count: int) -> Shard:
        return Shard(system, invariants, constraints, terminals, options, tlc, reachable, index, count)

    return LocalPool(make, options.workers)


def _collision_odds(distinct: int, generated: int) -> float:
    """TLC's optimistic estimate of the probability that two of the states share a 64-bit fingerprint."""
    return distinct * max(generated - distinct, 0) / 2.0**64


def fingerprinter(schema) -> Callable[[tuple], int]:
    """A 64-bit fingerprint of a raw state: Python's tuple hash, deterministic across processes for
    ints. An int's hash is its value modulo 2**61 - 1, so slots that can exceed that (a network or
    a set of more than 61 elements, as a bitmask) would collide by construction (bit 61 hashes as
    bit 0): their value modulo a second prime joins the hash."""
    wide = [i for i, b in enumerate(schema.slot_bounds) if b > 1 << 61]
    if not wide:
        return hash
    extra = ", ".join(f"t[{i}] % {_Q}" for i in wide)
    return eval(f"lambda t: hash((hash(t), {extra}))")  # noqa: S307 - generated from slot indices


_Q = (1 << 60) - 93  # a prime below 2**61 - 1, so that its residues hash to themselves


def _bfs(system, invariants, constraints, terminals, options, monitor, seen, counts, box, tlc: Tlc,
         reach: Reach | None) -> None:
    fingerprint = options.store == "fingerprint"
    fp = fingerprinter(system.schema)
    c = Checks(system, invariants, constraints, terminals, options, tlc, reach)
    box["checks"] = c
    first_bad, first_failing, cons, terms, acts = c.first_bad, c.first_failing, c.cons, c.terms, c.acts
    acons, check_inv, vk = c.acons, c.invariant_check, c.view_key
    check_deadlock = options.check_deadlock
    max_states = options.max_states or 1 << 62
    max_depth = options.max_depth or 1 << 62
    saver = Checkpointer(options, system, invariants) if options.checkpoint_dir else None
    compact_above = options.compact_above if c.view_key is None else None  # the compact store has no view
    # the store's key of a state: the state itself (exact), its fingerprint, or either of its view
    if vk is None:
        keyf = fp if fingerprint else None
    else:
        keyf = (lambda t: fp(vk(t))) if fingerprint else vk
    outside: list = []  # (position in the next level, invariant, parent, successor) outside the constraints
    judging: list = [None]  # the successor the constraints or a view are judging, while they do
    dropped: list = []  # this level's successors outside the constraints, for the schema's check

    level: list = []
    nxt: list = []
    at = 0  # where in `level` to go on: 0 but for a resumed run
    resumed = load_checkpoint(options.resume, system, invariants, options) if options.resume else None
    if resumed is not None:
        seen.update(resumed["seen"])
        level, nxt, at, depth = resumed["level"], resumed["next"], resumed["at"], resumed["depth"]
        counts[:] = resumed["counts"]
        box["generated0"] = resumed["generated0"]
    else:
        box["generated0"] = len(system.initial)
        if first_bad is not None and (bad := first_bad(system.initial)) >= 0:
            raise _Stop(Verdict.ERROR, None, reason=f"initial state: {system.schema.check_raw(system.initial[bad])}")
        out_init = False
        for s in system.initial:
            if cons is not None and cons(s) >= 0:  # TLC: not stored, but its invariants are checked
                out_init = True
                continue
            key = s if keyf is None else keyf(s)
            if key not in seen:
                seen[key] = None
                level.append(s)
        if out_init and check_inv is not None:
            for s in system.initial:
                if (bad := check_inv(s)) >= 0:
                    inside = cons is None or cons(s) < 0
                    raise _Stop(Verdict.VIOLATED, s if inside else Outside(None, s), invariants[bad].name)
        depth = 1 if level else 0
    box["depth"] = depth
    box["at"], box["counts_at"] = at, list(counts)  # the last clean point: every state before `at` expanded
    s, i = None, -1

    def stop_if_bounded() -> None:
        if box["sigint"]:  # Ctrl-C, taken here, where everything before `at` is expanded and counted
            raise KeyboardInterrupt
        if len(seen) >= max_states:
            raise _Stop(Verdict.UNDETERMINED, None, reason=f"max_states {max_states} reached")
        why = monitor.tick(len(seen), box["generated0"] + sum(counts), depth)
        if why:
            raise _Stop(Verdict.UNDETERMINED, None, reason=why)

    def tick(level: list, nxt: list, k: int) -> None:
        """Every TICK_EVERY states: the clean point, a checkpoint when one is due, the monitor, Ctrl-C."""
        box["at"], box["counts_at"] = k + 1, list(counts)
        if saver is not None and saver.due():
            saver.save(seen, level, nxt, k + 1, depth, counts, box["generated0"])
        stop_if_bounded()

    def violated(level: list, k: int, bad: int) -> _Stop:
        """level[k] violates invariant `bad`: the stop, with the level's later states that violate it too."""
        rest = level[k + 1 :]
        ties = [u for u in rest if first_failing(u) == bad][:CANDIDATES]
        return _Stop(Verdict.VIOLATED, level[k], invariants[bad].name, ties=ties)

    # the exact store's loop with its actions unrolled (`_unrolled`); the fingerprint store's is below
    unrolled = None if fingerprint else _unrolled(
        [a for _, a in acts], first_failing, terms if check_deadlock else None, seen, counts, tick, violated,
        c.returned_none, lambda st: _Stop(Verdict.VIOLATED, st, "deadlock"))

    def expand(level: list, lo: int, hi: int, nxt: list, expand: bool, ticking: bool, mark=None) -> bool:
        """The one loop body: check and expand level[lo:hi], adding new successors to `seen` and `nxt`.
        Returns whether the depth bound hid a state (only when not `expand`). The state and the action
        being worked on are plain locals here (cheaper than the closure's `s` and `i`), handed over to
        those when anything is raised, for the failure's report. `mark(k)`, where given, is told the
        parent's position k of each new state (the exact store's loop only: `--workers` uses it)."""
        nonlocal s, i
        if expand and unrolled is not None:
            where = [s, i]
            try:
                unrolled(level, lo, hi, nxt, ticking, where, mark)
            finally:
                s, i = where
            return False
        append = nxt.append
        cut = False
        countdown = TICK_EVERY
        st, ai = s, i
        try:
            for k in range(lo, hi):
                st = level[k]
                if first_failing is not None:
                    bad = first_failing(st)
                    if bad >= 0:
                        raise violated(level, k, bad)
                enabled = False
                if fingerprint:
                    hs = fp(st)
                for ai, successors in acts:
                    succs = successors(st)
                    if succs:
                        enabled = True
                        counts[ai] += len(succs)
                        if not expand:  # the last level allowed: checked, not expanded
                            if not cut and any((fp(t) if fingerprint else t) not in seen for t in succs):
                                cut = True
                        elif fingerprint:
                            for t in succs:
                                if t is st:  # a self-loop returning its own state: seen, no need to hash it
                                    continue
                                key = fp(t)
                                if key not in seen:
                                    seen[key] = hs
                                    append(t)
                        else:
                            for t in succs:
                                if t is not st and t not in seen:  # a self-loop's own state is seen: not hashed
                                    seen[t] = st
                                    append(t)
                    elif succs is None:
                        raise c.returned_none(st, ai)
                if not enabled and check_deadlock and not any(t(st) for t in terms):
                    raise _Stop(Verdict.VIOLATED, st, "deadlock")
                countdown -= 1
                if not countdown and ticking:
                    countdown = TICK_EVERY
                    s, i = st, ai
                    tick(level, nxt, k)
        except BaseException:
            s, i = st, ai
            raise
        s, i = st, ai
        return cut

    def expand_tlc(level: list, lo: int, hi: int, nxt: list, expand: bool, ticking: bool, mark=None) -> bool:
        """`expand` with TLC's CONSTRAINT, ACTION_CONSTRAINT or VIEW: a successor outside the constraints
        is generated and has its invariants checked (a violation is kept in `outside` until the level ends,
        so that the counterexample stays a shortest one), never stored; states are stored by `keyf`."""
        nonlocal s, i
        append = nxt.append
        cut = False
        countdown = TICK_EVERY
        for k in range(lo, hi):
            s = level[k]
            if first_failing is not None:
                bad = first_failing(s)
                if bad >= 0:
                    rest = level[k + 1 :]
                    ties = [u for u in rest if first_failing(u) == bad][:CANDIDATES]
                    raise _Stop(Verdict.VIOLATED, s, invariants[bad].name, ties=ties)
            enabled = False
            hs = s if keyf is None or not fingerprint else keyf(s)
            for i, successors in acts:
                succs = successors(s)
                if not succs:
                    if succs is None:
                        raise c.returned_none(s, i)
                    continue
                enabled = True  # deadlock is decided before the constraints filter, as TLC does
                counts[i] += len(succs)
                for t in succs:
                    judging[0] = t  # model code judges it now: a failure's trace ends in it
                    if (cons is not None and cons(t) >= 0) or (acons is not None and not acons(s, t)):
                        if not expand:  # beyond the bound: its invariants are not checked
                            cut = cut or check_inv is not None
                        else:
                            if check_inv is not None and (bad := check_inv(t)) >= 0:
                                outside.append((len(nxt), bad, s, t))
                            if first_bad is not None:
                                dropped.append(t)
                        judging[0] = None
                        continue
                    judging[0] = None
                    key = t if keyf is None else keyf(t)
                    if key not in seen:
                        if not expand:
                            cut = True
                            continue
                        seen[key] = hs
                        append(t)
            if not enabled and check_deadlock and not any(t(s) for t in terms):
                raise _Stop(Verdict.VIOLATED, s, "deadlock")
            countdown -= 1
            if not countdown and ticking:
                countdown = TICK_EVERY
                if not outside:  # a violation found but not yet reported: no clean point past it
                    box["at"], box["counts_at"] = k + 1, list(counts)
                    if saver is not None and saver.due():
                        saver.save(seen, level, nxt, k + 1, depth, counts, box["generated0"])
                stop_if_bounded()
        return cut

    def outside_stop() -> _Stop:
        """The first violation of the next level in the order its states were generated, among the states
        outside the constraints and the new stored ones, with the ties on its invariant."""
        merged: list = []
        o = 0
        for j in range(len(nxt) + 1):
            while o < len(outside) and outside[o][0] == j:
                _, bad, p, t = outside[o]
                merged.append((bad, Outside(p, t)))
                o += 1
            if j < len(nxt):
                merged.append((None, nxt[j]))
        first, ties = None, []
        for bad, u in merged:
            if bad is None:
                bad = check_inv(u)
                if bad < 0:
                    continue
            if first is None:
                first = (bad, u)
            elif bad == first[0]:
                ties.append(u)
                if len(ties) >= CANDIDATES:
                    break
        assert first is not None
        return _Stop(Verdict.VIOLATED, first[1], invariants[first[0]].name, ties=ties)

    def child_stops() -> bool:
        """In a forked worker: whether its slice found what only the parent may report."""
        return bool(outside) or (first_bad is not None and bool(dropped) and first_bad(dropped) >= 0)

    step = expand_tlc if c.general else expand
    team: Team | None = None
    pmin = options.parallel_min if options.parallel_min is not None else PARALLEL_MIN
    spread = options.sharded or options.ray is not None
    box["saver"], box["level"], box["next"] = saver, level, nxt
    try:
        while level:
            more = depth < max_depth
            if spread and at == 0 and len(level) >= pmin and more and not outside:
                raise _Spread(level, depth)
            own = None  # with workers: how much of the next level this process found (the rest is checked)
            if options.workers > 1 and more and at == 0 and not nxt and (team is not None or len(level) >= pmin):
                if team is None:
                    team = Team(options.workers, step, seen, counts, keyf, fingerprint, child_stops, first_bad, reach)
                    team.start(level)
                found_before = dict(reach.found) if reach is not None else None
                own = team.expand(level, nxt)
                if not team.pids:
                    team = None
                cut = False
                if len(seen) >= max_states and not outside:  # one process may stop inside the level: do as it does
                    if team is not None:
                        team.close()
                        team = None
                    for t in nxt:
                        del seen[t if keyf is None else keyf(t)]
                    nxt.clear()
                    counts[:] = box["counts_at"]
                    if reach is not None:
                        reach.found = found_before
                        reach.pending = [k for k in range(len(reach.names)) if reach.names[k] not in reach.found]
                    own = None
                    cut = step(level, at, len(level), nxt, more, True)
            else:
                if team is not None:
                    team.close()
                    team = None
                cut = step(level, at, len(level), nxt, more, True)
            if outside:
                raise outside_stop()
            if dropped:
                if first_bad is not None and (bad := first_bad(dropped)) >= 0:
                    parent = next(p for p in level if dropped[bad] in _all_successors(system, p))
                    raise _Stop(Verdict.ERROR, parent, reason=_bad_state(system, parent, dropped[bad]))
                dropped.clear()
            if cut:
                raise _Stop(Verdict.UNDETERMINED, None, reason=f"max_depth {max_depth} reached")
            if nxt:
                # the schema's check, once per level over whole columns: cheaper than per state
                if first_bad is not None and (bad := first_bad(nxt if own is None else nxt[:own])) >= 0:
                    parent = next(p for p in level if nxt[bad] in _all_successors(system, p))
                    raise _Stop(Verdict.ERROR, parent, reason=_bad_state(system, parent, nxt[bad]))
                depth += 1
                box["depth"] = depth
            level, nxt, at = nxt, [], 0
            box["level"], box["next"], box["at"], box["counts_at"] = level, nxt, 0, list(counts)
            if level and compact_above is not None and (_rss() or 0) > compact_above:
                raise _Switch(level)
            if level:
                if saver is not None and saver.due():
                    saver.save(seen, level, nxt, 0, depth, counts, box["generated0"])
                stop_if_bounded()
    except (_Stop, _Switch, _Spread):
        raise
    except BaseException as e:  # model code failed (or a real Ctrl-C): blamed on what ran, with its trace
        stop = c.failure(e, s, i)
        if stop is None:
            raise
        if judging[0] is not None and stop.verdict is Verdict.ERROR and stop.state is s:
            stop.state = Outside(s, judging[0])
        raise stop from None
    finally:
        if team is not None:
            team.close()


def _unrolled(actions: list, first_failing, terms: list | None, seen: dict, counts: list, tick, violated,
              returned_none, deadlocked) -> Callable:
    """`_bfs`'s loop body for the exact store, generated for these actions: each action's call written out
    with its own local count (added to `counts` at each tick and when the loop ends, however it ends),
    instead of a loop over (index, action) pairs that indexes `counts` per call. `where` holds the state
    and the action index last worked on, as the search's failure report wants them. `terms` is None
    when deadlock is not checked."""
    n = len(actions)
    names = [f"c{j}" for j in range(n)]
    zero = (" = ".join(names) + " = 0") if n else "pass"
    flush = [f"counts[{j}] += c{j}" for j in range(n)]
    body = [
        "def unrolled(level, lo, hi, nxt, ticking, where, mark=None, " + "".join(f"a{j}=a{j}, " for j in range(n))
        + "first_failing=first_failing, seen=seen, counts=counts, terms=terms):",
        "    append = nxt.append",
        "    countdown = TICK_EVERY",
        f"    {zero}",
        "    st, ai = where",
        "    try:",
        "        for k in range(lo, hi):",
        "            st = level[k]",
    ]
    if first_failing is not None:
        body += ["            bad = first_failing(st)", "            if bad >= 0:",
                 "                raise violated(level, k, bad)"]
    if terms is not None:
        body += ["            enabled = False"]
    for j in range(n):
        body += [
            f"            ai = {j}",
            f"            succs = a{j}(st)",
            "            if succs:",
            *(["                enabled = True"] if terms is not None else []),
            f"                c{j} += len(succs)",
            "                for t in succs:",
            "                    if t is not st and t not in seen:  # a self-loop's own state is seen: not hashed",
            "                        seen[t] = st",
            "                        append(t)",
            "                        if mark is not None:  # --workers: where in the level each new state's parent is",
            "                            mark(k)",
            "            elif succs is None:",
            "                raise returned_none(st, ai)",
        ]
    if terms is not None:
        body += ["            if not enabled and not any(t(st) for t in terms):", "                raise deadlocked(st)"]
    body += [
        "            countdown -= 1",
        "            if not countdown and ticking:",
        "                countdown = TICK_EVERY",
        *(f"                {line}" for line in flush),
        f"                {zero}",
        "                where[0], where[1] = st, ai",
        "                tick(level, nxt, k)",
        "    finally:",
        *(f"        {line}" for line in flush),
        "        where[0], where[1] = st, ai",
    ]
    ns: dict = {f"a{j}": a for j, a in enumerate(actions)}
    ns.update(first_failing=first_failing, seen=seen, counts=counts, terms=terms, tick=tick, violated=violated,
              returned_none=returned_none, deadlocked=deadlocked, TICK_EVERY=TICK_EVERY)
    exec(compile("\n".join(body) + "\n", "<search loop>", "exec"), ns)  # noqa: S102 - generated from the action count
    return ns["unrolled"]


def _defer_sigint(box: dict):
    """Ctrl-C during the search stops it at the next clean point (the monitor's tick), so that a
    checkpoint written then loses and repeats nothing; a second Ctrl-C stops it at once. Returns
    the previous handler (None where signals cannot be handled: not the main thread)."""
    box["sigint"] = False
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(signum, frame):
        note_sigint()  # a real Ctrl-C: a KeyboardInterrupt from model code is an error, this one is not
        if box["sigint"]:
            raise KeyboardInterrupt
        box["sigint"] = True

    return signal.signal(signal.SIGINT, on_sigint)


def _rss() -> int | None:
    """This process's resident memory now, in bytes (Linux; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _bytes_per_state(rss0: int | None, distinct: int) -> float | None:
    """Peak resident memory (the process's high-water mark) minus what it held before the search, per
    state: an upper bound on what the visited store costs, as the peak may predate this search."""
    if rss0 is None or not distinct:
        return None
    try:
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return None
    return round(max(peak - rss0, 0) / distinct, 1)


def _all_successors(system: TransitionSystem, s: tuple) -> list[tuple]:
    return [t for a in system.actions for t in a.successors(s)]


def _bad_state(system: TransitionSystem, s: tuple, t: tuple) -> str:
    step = system.find_step(s, t)
    label = step.label if step is not None else "?"
    return f"action {label} produced a state outside the schema: {system.schema.check_raw(t)}"


def _simplest(system: TransitionSystem, paths: list[tuple[tuple, ...]]) -> tuple[tuple, ...]:
    """Among shortest counterexamples of equal length: the fewest fault steps, then the fewest nodes
    involved (named by the steps), then the first in breadth-first order (deterministic, so reruns
    write the same trace; and it reads more naturally than the lowest state tuples, which depend on
    the encoding). A step counts as a fault when no other kind of step leads the same way."""
    if len(paths) == 1:
        return paths[0]
    normal = [a for a in system.actions if a.kind not in FAULT_KINDS]
    faults_on: dict[tuple[tuple, tuple], bool] = {}

    def faults(path: tuple[tuple, ...]) -> int:
        n = 0
        for p, t in zip(path, path[1:]):
            if (p, t) not in faults_on:
                faults_on[(p, t)] = not any(t in a.successors(p) for a in normal)
            n += faults_on[(p, t)]
        return n

    scored = [(faults(p), i, p) for i, p in enumerate(paths)]
    fewest = min(f for f, _, _ in scored)
    tied = [(i, p) for f, i, p in scored if f == fewest][:NODE_CANDIDATES]
    if len(tied) == 1:
        return tied[0][1]
    return min(tied, key=lambda ip: (len(_nodes_involved(system, ip[1])), ip[0]))[1]


NODE_CANDIDATES = 200  # paths tied on faults whose steps are labelled to count the nodes involved


def _nodes_involved(system: TransitionSystem, path: tuple[tuple, ...]) -> set[str]:
    """The nodes (or, in a low-level model, the parameter values) the steps of `path` name."""
    out: set[str] = set()
    for p, t in zip(path, path[1:]):
        step = system.find_step(p, t)
        if step is None:
            continue
        if step.kind in ("deliver", "drop", "duplicate"):
            out.update(step.params[:2])  # the sender and the receiver, not the message's text
        elif step.kind not in ("partition", "heal"):
            out.update(step.params)
    return out


class _Paths:
    """Paths from an initial state to a state found by the breadth-first search, rebuilt from the store's
    parent links: the exact store links states (with a view: the view's key to the concrete parent that
    was expanded); the fingerprint store links fingerprints, and the steps are re-executed (with a view,
    by a backtracking search for concrete states whose keys match, through steps the constraints allow).
    `to(u)` takes a stored state or an `Outside` one (the path to its parent, then it)."""

    def __init__(self, system: TransitionSystem, seen: dict, exact: bool, key: Callable[[tuple], object] | None,
                 cons: Callable[[tuple], int] | None, acons: Callable[[tuple, tuple], bool] | None):
        self.system, self.seen, self.exact, self.key, self.cons, self.acons = system, seen, exact, key, cons, acons
        fp = fingerprinter(system.schema)
        self.fp = fp if key is None else (lambda t: fp(key(t)))

    def to(self, u) -> tuple[tuple, ...]:
        if isinstance(u, Outside):
            return (u.state,) if u.parent is None else (*self.to(u.parent), u.state)
        if self.exact:
            key = self.key or (lambda t: t)
            path = [u]
            while (p := self.seen[key(path[-1])]) is not None:
                path.append(p)
            return tuple(reversed(path))
        chain = [self.fp(u)]
        while (p := self.seen[chain[-1]]) is not None:
            chain.append(p)
        chain.reverse()
        if self.key is None:
            return _path_from_chain(self.system, chain, self.fp)
        return _path_matching(self.system, chain, self.fp, u, self.cons, self.acons)


def _path_matching(system: TransitionSystem, chain: list[int], fp: Callable[[tuple], int], last: tuple,
                   cons, acons) -> tuple[tuple, ...]:
    """Concrete states whose fingerprints (of their views) are `chain`, each a successor of the one before
    by a step the constraints allow, ending in `last` itself: a depth-first search with backtracking (the
    states the search expanded form one such path, so it exists)."""
    n = len(chain)
    dead: set = set()

    def allowed(s: tuple | None, t: tuple) -> bool:
        return (cons is None or cons(t) < 0) and (s is None or acons is None or acons(s, t))

    def extend(path: list) -> bool:
        k = len(path) - 1  # path[0] is a placeholder before the initial state
        if k == n:
            return path[-1] == last
        s = path[-1]
        options = system.initial if s is None else [t for a in system.actions for t in a.successors(s)]
        for t in options:
            if fp(t) == chain[k] and (k, t) not in dead and allowed(s, t) and (k < n - 1 or t == last):
                path.append(t)
                if extend(path):
                    return True
                path.pop()
                dead.add((k, t))
        return False

    path: list = [None]
    if not extend(path):  # cannot happen unless two views' fingerprints collide
        raise RuntimeError("no concrete path matches the stored fingerprints (a fingerprint collision?)")
    return tuple(path[1:])


def _search_compact(system, invariants, options, constraints, terminals, monitor, *, tlc: Tlc, reach: Reach | None,
                    start=None, counts=None, box=None, rss0=None, began=None, note="") -> SearchResult:
    """Breadth first with the compact store (`engine.compact`): the same verdicts and counts. With
    `start`, it goes on from the exact or fingerprint store's search (counts, box, rss0, began)."""
    from .compact import chain, run_compact

    monitor = monitor or Monitor(max_seconds=options.max_seconds)
    counts = counts if counts is not None else [0] * len(system.actions)
    box = box if box is not None else {"generated0": 0, "depth": 0}
    box.setdefault("distinct", 0)
    rss0 = rss0 if start is not None else _rss()
    if began is None:
        began = time.perf_counter()
        monitor.start()
    collecting = gc.isenabled()
    gc.disable()
    last, prop, reason, verdict, error = None, None, "", Verdict.HOLDS, None
    try:
        run_compact(system, invariants, constraints, terminals, options, monitor, counts, box,
                    fingerprinter(system.schema), start, tlc=tlc, reach=reach)
    except _Stop as stop:
        verdict, last, prop, reason, error = stop.verdict, stop.state, stop.prop, stop.reason, stop.error
    except KeyboardInterrupt:
        verdict, reason = Verdict.UNDETERMINED, "interrupted (Ctrl-C)"
    finally:
        if collecting:
            gc.enable()
    seconds = time.perf_counter() - began
    distinct, generated = box["distinct"], box["generated0"] + sum(counts)
    collision = _collision_odds(distinct, generated)
    if note:
        reason = f"{reason}; {note}" if reason else note
    stats = Stats(distinct, generated, box["depth"], seconds, {a.name: c for a, c in zip(system.actions, counts)},
                  collision, _bytes_per_state(rss0, distinct))
    monitor.finish(stats)
    fp = fingerprinter(system.schema)

    def path_to(u) -> tuple[tuple, ...]:
        if isinstance(u, Outside):
            return (u.state,) if u.parent is None else (*path_to(u.parent), u.state)
        return _path_from_chain(system, chain(box["visited"], box["parents"], box["has_parent"], fp(u)), fp)

    path = path_to(last) if last is not None else None
    witnesses = {n: path_to(u) for n, u in reach.found.items()} if reach is not None else None
    return SearchResult(verdict, stats, prop, path, reason, error, witnesses=witnesses)


def _path_from_chain(system: TransitionSystem, chain: list[int], fp: Callable[[tuple], int]) -> tuple[tuple, ...]:
    """The states whose fingerprints are `chain`, found by re-executing the steps from an initial state."""
    state = next(s for s in system.initial if fp(s) == chain[0])
    path = [state]
    for h in chain[1:]:
        state = next(t for a in system.actions for t in a.successors(state) if fp(t) == h)
        path.append(state)
    return tuple(path)
