"""The coordinator of a sharded breadth-first search, and its shards as forked processes.

A sharded search (`sharded=True` on `workers` processes, or Ray: `engine.onray`) starts as one process; once a level holds
`parallel_min` states (4096) it spreads out: the visited set and the level are split among W shards
(`engine.shard`) by fingerprint, and the coordinator drives the levels, one round each:

1. every shard checks the invariants of its part of the level (and the reachability properties);
2. every shard expands its part up to the first violating position, keeping what it owns and
   batching the rest to the owners; the batches are routed; every shard merges what it got and
   answers the tags of its new states, sorted;
3. the coordinator stops where one process would stop (the first violation, deadlock or error in
   level order; a `max_states` bound at the tick one process takes), or merges the tags into the
   next level's global positions and every shard commits.

Stops are settled as one process settles them: the states one process never expanded are rolled
back, their successors recounted, model code that failed in a worker is run again here to blame
it with its trace, and the counterexample is rebuilt across the shards, then through the part the
search found before it spread. So counts, depths, verdicts and counterexamples are those of one
process, always. A shard that dies (its process killed, its host gone) raises WorkerDied: the
search starts its shards again from the point where it spread out, which this process still holds,
and completes with the same counts; a second death ends it undetermined (exit 2).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..semantics import TransitionSystem
from .checks import Checks, Reach, Stop, Tlc
from .guard import active
from .monitor import Monitor
from .result import SearchOptions, SearchResult, Stats, Verdict
from .shard import CANDIDATES, PREFIX, K, Shard, key_function, owner_function

TICK_EVERY = 2048  # as in the one-process loop: where it checks `max_states`


class WorkerDied(Exception):
    """A worker process (or Ray actor) ended while the search needed it."""


class Pool:
    """W shards, each in its own process; `call` runs one method on every shard and gathers the results."""

    count: int

    def call(self, method: str, args: Sequence[tuple]) -> list:
        raise NotImplementedError

    def exchange(self, results: list[dict]) -> list:
        """Route each shard's batches to their owners and merge them there: the sorted tags of each
        shard's new states."""
        inbound = [[r["batches"][w] for r in results] for w in range(self.count)]
        return self.call("receive", [(b,) for b in inbound])

    def close(self, failed: bool = False) -> None:
        pass


class LocalPool(Pool):
    """Shards in forked processes talking over pipes. A child that loses its parent (the pipe closes)
    exits; SIGINT is the coordinator's to handle."""

    def __init__(self, make: Callable[[int, int], Shard], count: int):
        self.count = count
        ctx = mp.get_context("fork")
        self.conns, self.procs = [], []
        for w in range(count):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_serve, args=(make, w, count, child, parent), daemon=True,
                            name=f"faultcheck-shard-{w}")
            p.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(p)

    def call(self, method: str, args: Sequence[tuple]) -> list:
        for conn, a in zip(self.conns, args):
            try:
                conn.send((method, a))
            except (OSError, EOFError):
                raise WorkerDied(self._who_died()) from None
        out = []
        for w, conn in enumerate(self.conns):
            try:
                kind, value = conn.recv()
            except (OSError, EOFError):
                raise WorkerDied(self._who_died()) from None
            if kind == "error":
                raise RuntimeError(f"shard {w}: {value}")
            out.append(value)
        return out

    def _who_died(self) -> str:
        for w, p in enumerate(self.procs):
            p.join(timeout=0.5)
            if p.exitcode is not None:
                how = f"signal {-p.exitcode}" if p.exitcode < 0 else f"exit status {p.exitcode}"
                return f"worker {w} (pid {p.pid}) died ({how})"
        return "a worker stopped answering"

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self, failed: bool = False) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except (OSError, EOFError):
                pass
        for p in self.procs:
            p.join(timeout=2)
            if p.is_alive():
                p.kill()
                p.join()
        for conn in self.conns:
            conn.close()


def _serve(make: Callable[[int, int], Shard], index: int, count: int, conn, parent_end) -> None:
    parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's: it stops at a level boundary
    if (g := active()) is not None:
        g.after_fork()
    try:
        shard = make(index, count)
    except BaseException:
        conn.send(("error", traceback.format_exc(limit=4)))
        os._exit(1)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if msg is None:
            os._exit(0)
        method, args = msg
        try:
            conn.send(("ok", getattr(shard, method)(*args)))
        except BaseException:
            conn.send(("error", traceback.format_exc(limit=6)))


# -- the coordinator --------------------------------------------------------------------------------

class Spread:
    """What the one-process search hands over when a level grows past `parallel_min`."""

    def __init__(self, seen: dict, level: list, depth: int, counts: list[int], generated0: int, checks: Checks,
                 reach: Reach | None, started: float, rss0: int | None, identity: dict | None = None):
        self.seen, self.level, self.depth, self.counts = seen, level, depth, counts
        self.generated0, self.checks, self.reach, self.started, self.rss0 = generated0, checks, reach, started, rss0
        self.identity = identity  # what a checkpoint must match to be resumed


def run(system: TransitionSystem, invariants: Sequence, options: SearchOptions, constraints: Sequence,
        terminals: Sequence, monitor: Monitor, tlc: Tlc, start: Spread, pool: Pool,
        restored: dict[str, Any] | None = None) -> SearchResult:
    """Go on from `start` with the shards of `pool`; the result one process would give."""
    from .search import _bytes_per_state, _collision_odds, _Paths, _simplest

    c, reach = start.checks, start.reach
    W = pool.count
    keyf = key_function(system, options, c.view_key)
    owner = owner_function(system, options, c.view_key, W)
    counts = start.counts
    depth = start.depth
    max_states = options.max_states or 1 << 62
    max_depth = options.max_depth or 1 << 62
    prefix_paths = _Paths(system, start.seen, options.store == "exact", c.view_key, c.cons, c.acons)
    switch_depth = depth
    found: dict[str, tuple[int, int]] = {}  # reachability: name -> (depth, position), found after the spread
    pending = [n for n in (reach.names if reach is not None else []) if reach is None or n not in reach.found]
    sigint = {"hit": False}
    previous = _defer_sigint(sigint)

    keys: list[list] = [[] for _ in range(W)]
    for k in start.seen:
        keys[owner(k)].append(k)
    states: list[list] = [[] for _ in range(W)]
    positions: list[list] = [[] for _ in range(W)]
    for p, s in enumerate(start.level):
        o = owner(s if keyf is None else keyf(s))
        states[o].append(s)
        positions[o].append(p)
    verdict, last, prop, reason, error, ties = Verdict.HOLDS, None, None, "", None, []
    distinct = len(start.seen)

    def path_to(d: int, p: int) -> tuple[tuple, ...]:
        return paths_to(d, [p])[p]

    def paths_to(d: int, ps: list[int]) -> dict[int, tuple[tuple, ...]]:
        """Paths to the states at positions `ps` of level `d`, rebuilt across the shards."""
        tails: dict[int, list[tuple]] = {p: [] for p in ps}
        at = {p: p for p in ps}  # where each path has got to, at level d
        while True:
            want = sorted(set(at.values()))
            got = {}
            for part in pool.call("states_at", [(d, want)] * W):
                for p, t, parent in part:
                    got[p] = (t, parent)
            nxt = {}
            for q, p in at.items():
                t, parent = got[p]
                tails[q].append(t)
                nxt[q] = parent
            if d == switch_depth:
                break
            at, d = nxt, d - 1
        out = {}
        for q, tail in tails.items():
            head = prefix_paths.to(tail[-1])
            out[q] = (*head[:-1], *reversed(tail))
        return out

    report = os.environ.get("FAULTCHECK_SHARD_USAGE")  # bench/scale.py: where to write what each shard cost
    saving = Path(options.checkpoint_dir) if options.checkpoint_dir else None
    last_save = time.monotonic()
    try:
        if restored is not None:  # a checkpoint of a sharded search: its shards' parts, shared out anew
            depth = restored["depth"]
            counts[:] = restored["counts"]
            found.update({n: tuple(v) for n, v in restored["found"].items()})
            pending[:] = [n for n in restored["pending"]]
            sizes = pool.call("restore", [(restored["snaps"], depth)] * W)
        else:
            sizes = pool.call("seed", [(keys[w], states[w], positions[w], depth) for w in range(W)])
        if report:
            pool.call("measure", [()] * W)
        distinct = sum(sizes)
        del keys, states, positions
        while True:
            checked = pool.call("check", [(pending,)] * W)
            n_level = sum(n for _, _, n in checked)
            if not n_level:
                break
            bad = sorted(v for vs, _, _ in checked for v in vs)
            limit = bad[0][0] if bad else 1 << 62
            for name in list(pending):
                ps = [f[name] for _, f, _ in checked if name in f]
                if ps:
                    found[name] = (depth, min(ps))
                    pending.remove(name)
            more = depth < max_depth
            results = pool.call("expand", [(limit, more)] * W)
            tags = pool.exchange(results)
            level_counts = [sum(col) for col in zip(*(r["counts"] for r in results))]
            stops = sorted(r["stop"] for r in results if r["stop"] is not None)
            first_stop = stops[0] if stops else None
            merged = np.sort(np.concatenate(tags)) if tags else np.zeros(0, np.int64)
            # where one process would stop inside this level: max_states at a tick, a violation, a deadlock, an error
            end = min(limit, first_stop[0] if first_stop else 1 << 62)
            tick = _max_states_tick(merged, distinct, max_states, min(end, n_level), options) if more else None
            if tick is not None:
                keep = (tick + 1) * K
                distinct = sum(pool.call("rollback", [(keep,)] * W))
                recounted = pool.call("recount", [(tick + 1, 0)] * W)
                _add(counts, recounted)
                _drop_after(found, depth, tick, pending)
                raise Stop(Verdict.UNDETERMINED, None, reason=f"max_states {max_states} reached")
            if bad and (first_stop is None or limit < first_stop[0]):
                keep = limit * K if more else 0  # on the last level allowed one process stores nothing new
                distinct = sum(pool.call("rollback", [(keep,)] * W))
                _add(counts, pool.call("recount", [(limit, 0)] * W))
                name_index = bad[0][1]
                tie_ps = [p for p, b in bad[1:] if b == name_index][:CANDIDATES]
                got = paths_to(depth, [limit, *tie_ps])
                raise _Found(Verdict.VIOLATED, got[limit], invariants[name_index].name,
                             ties=[got[p] for p in tie_ps])
            if first_stop is not None:
                p, kind, action, what = first_stop
                keep = (p + 1) * K if more else 0
                distinct = sum(pool.call("rollback", [(keep,)] * W))
                _add(counts, pool.call("recount", [(p, action if kind == "error" else len(counts))] * W))
                _drop_after(found, depth, p, pending)
                path = path_to(depth, p)
                if kind == "deadlock":
                    raise _Found(Verdict.VIOLATED, path, "deadlock")
                raise _blame(c, system, path, action, what)
            _add(counts, [level_counts])
            if not more:
                n_outside = sum(r["n_outside"] for r in results)
                cut = len(merged) > 0 or (n_outside > 0 and c.invariant_check is not None)
                distinct = sum(pool.call("rollback", [(0,)] * W))
                if cut:
                    raise Stop(Verdict.UNDETERMINED, None, reason=f"max_depth {max_depth} reached")
                break
            outside = sorted(o for r in results for o in r["outside"])
            if outside:  # one process reports these when the level ends, with the new states' violations
                fresh = sorted(v for part in pool.call("fresh_violations", [()] * W) for v in part)
                cands = sorted([(tag, b, "out", t) for tag, b, _, t in outside]
                               + [(tag, b, "in", t) for tag, b, t in fresh])
                first = cands[0]
                chosen = [first] + [x for x in cands[1:] if x[1] == first[1]][:CANDIDATES]
                parents = paths_to(depth, sorted({tag // K for tag, _, _, _ in chosen}))
                found_paths = [(*parents[tag // K], t) for tag, _, _, t in chosen]
                distinct = sum(pool.call("size", [()] * W))
                raise _Found(Verdict.VIOLATED, found_paths[0], invariants[first[1]].name, ties=found_paths[1:])
            dropped = [r["dropped_bad"] for r in results if r["dropped_bad"] is not None]
            if dropped:
                from .search import _bad_state

                tag, t = min(dropped, key=lambda x: x[0])
                parent = path_to(depth, tag // K)
                distinct = sum(pool.call("size", [()] * W))
                raise _Found(Verdict.ERROR, parent, None, reason=_bad_state(system, parent[-1], t))
            if len(merged):
                bads = [b for b in pool.call("fresh_bad", [()] * W) if b is not None]
                if bads:
                    from .search import _bad_state

                    tag, t = min(bads, key=lambda x: x[0])
                    parent = path_to(depth, tag // K)
                    distinct = sum(pool.call("size", [()] * W))
                    raise _Found(Verdict.ERROR, parent, None, reason=_bad_state(system, parent[-1], t))
                depth += 1
            ranks = [np.searchsorted(merged, t) for t in tags]
            sizes = pool.call("commit", [(r,) for r in ranks])
            distinct += len(merged)
            if not sum(sizes):
                break
            if saving is not None and (sigint["hit"] or time.monotonic() - last_save >= options.checkpoint_every):
                where = save_sharded(saving, pool, W, {
                    "depth": depth, "counts": counts, "generated0": start.generated0, "spread_depth": switch_depth,
                    "found": found, "pending": pending, "identity": start.identity})
                last_save = time.monotonic()
                if sigint["hit"]:
                    raise Stop(Verdict.UNDETERMINED, None,
                               reason=f"interrupted (Ctrl-C); checkpoint written to {where} (--resume {saving})")
            if sigint["hit"]:
                raise KeyboardInterrupt
            if distinct >= max_states:
                raise Stop(Verdict.UNDETERMINED, None, reason=f"max_states {max_states} reached")
            why = monitor.tick(distinct, start.generated0 + sum(counts), depth)
            if why:
                raise Stop(Verdict.UNDETERMINED, None, reason=why)
    except _Found as f:
        verdict, prop, reason, error = f.verdict, f.prop, f.reason, f.error
        last = f.path
        ties = f.ties
    except Stop as stop:
        verdict, prop, reason, error = stop.verdict, stop.prop, stop.reason, stop.error
    except KeyboardInterrupt:
        verdict, reason = Verdict.UNDETERMINED, "interrupted (Ctrl-C)"
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if report:
        import json

        with open(report, "w") as f:
            json.dump({"shards": pool.call("usage", [()] * W), "spread_depth": switch_depth}, f)
    seconds = time.perf_counter() - start.started
    generated = start.generated0 + sum(counts)
    collision = _collision_odds(distinct, generated) if options.store == "fingerprint" else None
    stats = Stats(distinct, generated, depth, seconds, {a.name: n for a, n in zip(system.actions, counts)},
                  collision, _bytes_per_state(start.rss0, distinct))
    monitor.finish(stats)
    path = None
    if last is not None:
        path = _simplest(system, [last, *ties]) if options.store == "exact" and ties else last
    witnesses = None
    if reach is not None:
        witnesses = {n: prefix_paths.to(u) for n, u in reach.found.items()}
        for n, (d, p) in found.items():
            witnesses.setdefault(n, path_to(d, p))
            reach.found.setdefault(n, witnesses[n][-1])
    return SearchResult(verdict, stats, prop, path, reason, error, witnesses=witnesses)


SHARDED = "sharded"  # the folder, inside --checkpoint-dir, of a sharded search's checkpoint
PREFIX_DIR = "sharded-prefix"  # the one-process part before it spread out (engine.checkpoint's format)
MANIFEST = "sharded.json"
SHARDED_FORMAT = "faultcheck-sharded/1"


def save_sharded(folder: Path, pool: Pool, W: int, header: dict[str, Any]) -> Path:
    """Every shard's part, at a level boundary, as `<folder>/sharded/shard-K.npz` (arrays only) and a JSON
    manifest, written to a temporary folder and renamed into place: a crash leaves the previous one."""
    import json
    import shutil

    snaps = pool.call("snapshot", [()] * W)
    tmp = folder / f".{SHARDED}-{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for w, snap in enumerate(snaps):
        with open(tmp / f"shard-{w}.npz", "wb") as f:
            np.savez(f, **snap)
            f.flush()
            os.fsync(f.fileno())
    header = {"format": SHARDED_FORMAT, "shards": W, **header}
    (tmp / MANIFEST).write_text(json.dumps(header, sort_keys=True, default=list))
    final, old = folder / SHARDED, folder / f".{SHARDED}-old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_sharded(folder: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """A sharded search's checkpoint in `folder`, checked to belong to this model and options
    (a `CheckpointError`, one line, if not)."""
    import json

    from .checkpoint import CheckpointError

    where = folder / SHARDED
    try:
        header = json.loads((where / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{where / MANIFEST}: not a readable checkpoint ({type(e).__name__})") from None
    if header.get("format") != SHARDED_FORMAT:
        raise CheckpointError(f"{where / MANIFEST}: not a checkpoint of format {SHARDED_FORMAT}")
    if json.loads(json.dumps(header.get("identity"), default=list)) != json.loads(json.dumps(identity, default=list)):
        raise CheckpointError(f"{where}: written for another model, parameters or options; not resumed")
    snaps = []
    for w in range(int(header["shards"])):
        try:
            with np.load(where / f"shard-{w}.npz", allow_pickle=False) as npz:
                snaps.append({k: npz[k] for k in npz.files})
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise CheckpointError(f"{where}/shard-{w}.npz: not a readable checkpoint ({type(e).__name__})") from None
    return {**header, "snaps": snaps}


class _Found(Exception):
    """A stop whose counterexample is already a path."""

    def __init__(self, verdict: Verdict, path: tuple, prop: str | None, reason: str = "", error: str | None = None,
                 ties: list | None = None):
        self.verdict, self.path, self.prop, self.reason, self.error, self.ties = verdict, path, prop, reason, error, ties or []


def _blame(c: Checks, system: TransitionSystem, path: tuple, action: int, what: str) -> Exception:
    """Model code failed in a worker at the last state of `path`: run it again here, under this process's
    guard, so that the error names the same code with the same trace as one process would."""
    s = path[-1]
    try:
        for i, a in c.acts:
            r = a(s)
            if r is None:
                stop = c.returned_none(s, i)
                return _Found(stop.verdict, path, stop.prop, stop.reason, stop.error)
    except BaseException as e:
        stop = c.failure(e, s, i)
        if stop is not None:
            return _Found(stop.verdict, path, stop.prop, stop.reason, stop.error)
        raise
    name = system.actions[action].name if action >= 0 else "?"
    return _Found(Verdict.ERROR, path, None, reason=f"action {name} raised {what} in a worker (not again here)")


def _add(counts: list[int], parts: list[list[int]]) -> None:
    for part in parts:
        for i, n in enumerate(part):
            counts[i] += n


def _drop_after(found: dict, depth: int, pos: int, pending: list[str]) -> None:
    """One process checks reachability on the states it expands: none after `pos` at this depth.
    (It does check them all where an invariant is violated: its ties are looked for in the whole level.)"""
    for n in list(found):
        d, p = found[n]
        if d == depth and p > pos:
            del found[n]


def _max_states_tick(merged: np.ndarray, before: int, max_states: int, end: int, options: SearchOptions) -> int | None:
    """The position after which one process stops for `max_states` within this level (it looks every
    TICK_EVERY states expanded), or None. `merged`: the sorted tags of the level's new states; `end`:
    how many positions one process expands before it stops (or the level's size)."""
    if options.max_states is None:
        return None
    for k in range(TICK_EVERY - 1, end, TICK_EVERY):
        if before + int(np.searchsorted(merged, (k + 1) * K)) >= max_states:
            return k
    return None


def _defer_sigint(box: dict):
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(signum, frame):
        if box["hit"]:
            raise KeyboardInterrupt
        box["hit"] = True

    return signal.signal(signal.SIGINT, on_sigint)


__all__ = ["PREFIX", "LocalPool", "Pool", "Spread", "WorkerDied", "run"]
