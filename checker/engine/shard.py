"""One worker's part of a sharded breadth-first search: the states whose fingerprint it owns.

The visited set is split by fingerprint among W shards (Stern & Dill's parallel Murphi; TLC's
fingerprint sets). Levels are synchronised by the coordinator (`engine.distribute`): each shard
checks and expands the part of the level it owns, keeps the successors it owns, batches the
others to their owners, and merges what it receives. Every state carries its *global position*
in its level, the place it has in the level of a one-process search; a successor is tagged
`parent position * K + its index among the parent's successors`, and of the copies of a new state
the smallest tag wins. That is the parent one process finds first, and sorting a level's new
states by tag gives one process's order: counts, depths, parents, ties and counterexamples are
those of `search` with one process, not merely equivalent ones.

A shard's `seen` maps a key (the state, its fingerprint or its view's key, as the store says) to
its parent's position in the level before (PREFIX for states the coordinator found before the
search spread out); a state new in the level being merged holds ~tag (negative) until `commit`.
Every method takes and returns plain data (tuples of ints, lists, numpy arrays), so a shard can
live in a forked process or a Ray actor alike. Imports `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..logic import Predicate, fuse
from ..semantics import TransitionSystem
from .checks import Checks, Tlc
from .result import SearchOptions

K = 1 << 22  # a tag is parent position * K + the successor's index among its parent's successors
PREFIX = 1 << 62  # the parent of a state found before the search spread out (the coordinator knows it)
CANDIDATES = 2000  # violating states of a level reported per invariant (one process compares as many)


def stable_hash(key: Any) -> int:
    """A hash of a view's key that is the same in every process (a str in it hashes with a seed)."""
    return int.from_bytes(hashlib.blake2b(pickle.dumps(key, protocol=4), digest_size=8).digest(), "little")


def key_function(system: TransitionSystem, options: SearchOptions, view_key) -> Any:
    """The store's key of a state (None: the state itself), as the one-process search keys it."""
    from .search import fingerprinter

    fp = fingerprinter(system.schema)
    if view_key is None:
        return fp if options.store == "fingerprint" else None
    return (lambda t: fp(view_key(t))) if options.store == "fingerprint" else view_key


def owner_function(system: TransitionSystem, options: SearchOptions, view_key, count: int):
    """key -> the shard that owns it, the same in every process."""
    from .search import fingerprinter

    fp = fingerprinter(system.schema)
    if options.store == "fingerprint":
        return lambda k: k % count
    if view_key is None:
        return lambda k: fp(k) % count
    return lambda k: stable_hash(k) % count


class Shard:
    def __init__(self, system: TransitionSystem, invariants: Sequence[Predicate], constraints: Sequence[Predicate],
                 terminals: Sequence[Predicate], options: SearchOptions, tlc: Tlc, reachable: Sequence[Predicate],
                 index: int, count: int):
        self.system, self.options, self.index, self.count = system, options, index, count
        self.invariants = list(invariants)
        self.c = Checks(system, invariants, constraints, terminals, options, tlc, None)
        self.keyf = key_function(system, options, self.c.view_key)
        self.owner = owner_function(system, options, self.c.view_key, count)
        self.reach_tests = [(p.name, fuse([p], system.schema)) for p in reachable]
        from .search import fingerprinter

        self.plain_hash = fingerprinter(system.schema) is hash  # no slot too wide for a tuple's hash
        self.seen: dict = {}
        self.level: list[tuple] = []  # the states of the current level this shard owns, by position
        self.pos: list[int] = []  # their global positions, ascending
        self.history: list[tuple[int, np.ndarray, list]] = []  # (depth, positions, states) of each level held
        self.fresh: list[tuple] = []  # the states new in the level being merged
        self.fresh_at: dict | None = None if self.keyf is None else {}  # key -> index in fresh (keys not states)
        self.depth = 0
        self.counts = [0] * len(system.actions)
        self.sent_bytes: int | None = None  # counted by `measure` (bench/scale.py), else None
        self.sent_states = 0

    # -- starting ------------------------------------------------------------------------------
    def seed(self, keys: list, states: list[tuple], positions: list[int], depth: int) -> int:
        """Take the keys found before the search spread out and this shard's part of the level to expand."""
        seen = self.seen
        for k in keys:
            seen[k] = PREFIX
        self.level, self.pos, self.depth = list(states), list(positions), depth
        self.history = [(depth, np.asarray(self.pos, dtype=np.int64), self.level)]
        return len(seen)

    # -- one level -----------------------------------------------------------------------------
    def check(self, pending: list[str]) -> tuple[list[tuple[int, int]], dict[str, int], int]:
        """Invariants of the level's states: (position, invariant index) of the violating ones in order,
        at most CANDIDATES per invariant; the first position satisfying each pending reachability
        property; how many states this shard holds in the level."""
        ff = self.c.first_failing
        bad: list[tuple[int, int]] = []
        per: dict[int, int] = {}
        if ff is not None:
            for s, p in zip(self.level, self.pos):
                b = ff(s)
                if b >= 0 and per.get(b, 0) < CANDIDATES:
                    per[b] = per.get(b, 0) + 1
                    bad.append((p, b))
        found: dict[str, int] = {}
        for name, test in self.reach_tests:
            if name in pending:
                p = next((p for s, p in zip(self.level, self.pos) if test(s) < 0), None)
                if p is not None:
                    found[name] = p
        return bad, found, len(self.level)

    def expand(self, limit: int, more: bool) -> dict[str, Any]:
        """Expand the level's states at positions below `limit`, in order: the successors this shard
        owns join `seen` as new (tagged), the others go into one batch per owner (the first tag of each
        key kept). Stops at the first state that deadlocks or whose model code raises."""
        if not self.c.general and self.keyf is None and self.plain_hash:
            return self._expand_plain(limit, more)
        c = self.c
        general = c.general
        acts, terms = c.acts, c.terms
        cons, acons, check_inv, first_bad = c.cons, c.acons, c.invariant_check, c.first_bad
        check_deadlock = self.options.check_deadlock
        keyf, owner, me = self.keyf, self.owner, self.index
        seen = self.seen
        fresh = self.fresh = []
        fresh_at = self.fresh_at = None if keyf is None else {}
        outs: list[dict] = [{} for _ in range(self.count)]
        out_states: list[list] = [[] for _ in range(self.count)]
        counts = [0] * len(acts)
        outside: list[tuple[int, int, int, tuple]] = []  # (tag, invariant, parent position, state)
        dropped_bad: tuple[int, tuple] | None = None
        n_outside = 0
        stop: tuple[int, str, int, str] | None = None  # (position, "deadlock" | "error", action, what)
        i = -1
        for s, p in zip(self.level, self.pos):
            if p >= limit:
                break
            tag = p * K
            enabled = False
            try:
                for i, successors in acts:
                    succs = successors(s)
                    if not succs:
                        if succs is None:
                            raise TypeError("returned None")
                        continue
                    enabled = True
                    counts[i] += len(succs)
                    if len(succs) >= K:
                        raise OverflowError(f"more than {K} successors of one state")
                    for t in succs:
                        tag += 1
                        if t is s and not general:
                            continue
                        if general and ((cons is not None and cons(t) >= 0) or (acons is not None and not acons(s, t))):
                            n_outside += 1
                            if check_inv is not None and (b := check_inv(t)) >= 0 and len(outside) < CANDIDATES:
                                outside.append((tag, b, p, t))
                            if first_bad is not None and dropped_bad is None and first_bad([t]) >= 0:
                                dropped_bad = (tag, t)
                            continue
                        key = t if keyf is None else keyf(t)
                        o = owner(key)
                        if o == me:
                            if key not in seen:
                                seen[key] = ~tag
                                if fresh_at is not None:
                                    fresh_at[key] = len(fresh)
                                fresh.append(t)
                        else:
                            ob = outs[o]
                            if key not in ob:
                                ob[key] = tag
                                out_states[o].append(t)
            except Exception as e:  # model code failed: the coordinator runs this state again to blame it
                stop = (p, "error", i, f"{type(e).__name__}: {e}")
                break
            if not enabled and check_deadlock and not any(term(s) for term in terms):
                stop = (p, "deadlock", -1, "")
                break
        batches: list[Any] = []
        for o in range(self.count):
            if o == me or not outs[o]:
                batches.append(None)
            else:
                keys = None if keyf is None else list(outs[o])
                batches.append((np.fromiter(outs[o].values(), dtype=np.int64, count=len(outs[o])),
                                out_states[o], keys))
        self.counts = counts
        self._count_sent(batches)
        return {"counts": counts, "stop": stop, "batches": batches, "outside": outside, "dropped_bad": dropped_bad,
                "n_outside": n_outside}

    def _expand_plain(self, limit: int, more: bool) -> dict[str, Any]:
        """`expand` for the common case, the exact store without TLC's constraints or a view, whose
        states hash as their fingerprint: the one loop body of the one-process search, plus the owner."""
        c = self.c
        acts, terms = c.acts, c.terms
        check_deadlock = self.options.check_deadlock
        W, me = self.count, self.index
        seen = self.seen
        fresh: list = []
        self.fresh, self.fresh_at = fresh, None
        add = fresh.append
        outs: list[dict] = [{} for _ in range(W)]
        counts = [0] * len(acts)
        stop: tuple[int, str, int, str] | None = None
        i = -1
        for s, p in zip(self.level, self.pos):
            if p >= limit:
                break
            base = p * K
            enabled = False
            try:
                for i, successors in acts:
                    succs = successors(s)
                    if not succs:
                        if succs is None:
                            raise TypeError("returned None")
                        continue
                    enabled = True
                    n = len(succs)
                    counts[i] += n
                    for t in succs:
                        base += 1
                        if t is s:
                            continue
                        o = hash(t) % W
                        if o == me:
                            if t not in seen:
                                seen[t] = ~base
                                add(t)
                        else:
                            ob = outs[o]
                            if t not in ob:
                                ob[t] = base
                    if base - p * K >= K:
                        raise OverflowError(f"more than {K} successors of one state")
            except Exception as e:  # model code failed: the coordinator runs this state again to blame it
                stop = (p, "error", i, f"{type(e).__name__}: {e}")
                break
            if not enabled and check_deadlock and not any(term(s) for term in terms):
                stop = (p, "deadlock", -1, "")
                break
        batches: list[Any] = [None if o == me or not outs[o] else
                              (np.fromiter(outs[o].values(), dtype=np.int64, count=len(outs[o])), list(outs[o]), None)
                              for o in range(W)]
        self._count_sent(batches)
        return {"counts": counts, "stop": stop, "batches": batches, "outside": [], "dropped_bad": None,
                "n_outside": 0}

    def _count_sent(self, batches: list) -> None:
        if self.sent_bytes is not None:
            for b in batches:
                if b is not None:
                    self.sent_bytes += len(pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL))
                    self.sent_states += len(b[1])

    def receive(self, batches: list) -> np.ndarray:
        """Merge the batches other shards sent (None: nothing from that one): a key not seen becomes
        new with its tag, a new one seen again keeps the smaller tag. Returns the tags of the level's
        new states, ascending (the fresh states are sorted so)."""
        seen, fresh, fresh_at = self.seen, self.fresh, self.fresh_at
        for batch in batches:
            if batch is None:
                continue
            tags, states, keys = batch
            for j, (tag, t) in enumerate(zip(tags.tolist(), states)):
                key = t if keys is None else keys[j]
                v = seen.get(key)
                if v is None:
                    seen[key] = ~tag
                    if fresh_at is not None:
                        fresh_at[key] = len(fresh)
                    fresh.append(t)
                elif v < 0 and ~v > tag:  # found first by a state earlier in the level
                    seen[key] = ~tag
                    if fresh_at is not None:  # another concrete state with this key: the first one is kept
                        fresh[fresh_at[key]] = t
        keyf = self.keyf
        tags = np.fromiter((~seen[t if keyf is None else keyf(t)] for t in fresh), dtype=np.int64, count=len(fresh))
        order = np.argsort(tags, kind="stable")
        self.fresh = [fresh[k] for k in order.tolist()]
        self.fresh_at = None
        return tags[order]

    def fresh_bad(self) -> tuple[int, tuple] | None:
        """The first new state (by tag) whose slots break the schema, with its tag; None if none does."""
        first_bad = self.c.first_bad
        if first_bad is None or not self.fresh:
            return None
        k = first_bad(self.fresh)
        return None if k < 0 else (self._tag(self.fresh[k]), self.fresh[k])

    def fresh_violations(self) -> list[tuple[int, int, tuple]]:
        """(tag, invariant, state) of the new states violating an invariant, by tag, at most CANDIDATES each."""
        inv = self.c.invariant_check
        out: list[tuple[int, int, tuple]] = []
        per: dict[int, int] = {}
        if inv is None:
            return out
        for t in self.fresh:
            b = inv(t)
            if b >= 0 and per.get(b, 0) < CANDIDATES:
                per[b] = per.get(b, 0) + 1
                out.append((self._tag(t), b, t))
        return out

    def _tag(self, t: tuple) -> int:
        return ~self.seen[t if self.keyf is None else self.keyf(t)]

    def commit(self, positions: np.ndarray) -> int:
        """The new states become the next level, at these global positions; their parents are recorded."""
        seen, keyf = self.seen, self.keyf
        for t in self.fresh:
            key = t if keyf is None else keyf(t)
            seen[key] = ~seen[key] // K
        self.depth += 1
        self.level, self.pos = self.fresh, positions.tolist()
        self.history.append((self.depth, positions, self.level))
        self.fresh = []
        return len(self.level)

    def rollback(self, limit_tag: int) -> int:
        """Forget the new states tagged `limit_tag` or above (found by states one process never expanded);
        returns how many states this shard has seen."""
        seen, keyf = self.seen, self.keyf
        keep = []
        for t in self.fresh:
            key = t if keyf is None else keyf(t)
            if ~seen[key] >= limit_tag:
                del seen[key]
            else:
                keep.append(t)
        self.fresh = keep
        return len(seen)

    def recount(self, limit: int, action: int) -> list[int]:
        """The successors one process counted before stopping at position `limit` (whose actions before
        `action` it had called): the states before it in full."""
        counts = [0] * len(self.c.acts)
        for s, p in zip(self.level, self.pos):
            if p > limit:
                break
            for i, successors in self.c.acts:
                if p == limit and i >= action:
                    break
                counts[i] += len(successors(s))
        return counts

    # -- paths -----------------------------------------------------------------------------------
    def states_at(self, depth: int, positions: list[int]) -> list[tuple[int, tuple, int] | None]:
        """For each position of level `depth` this shard holds: (position, state, parent position)."""
        out: list[tuple[int, tuple, int] | None] = []
        for d, pos, states in self.history:
            if d != depth:
                continue
            keyf = self.keyf
            for p in positions:
                k = int(np.searchsorted(pos, p))
                if k < len(pos) and int(pos[k]) == p:
                    t = states[k]
                    out.append((p, t, self.seen[t if keyf is None else keyf(t)]))
        return out

    def size(self) -> int:
        return len(self.seen)

    def usage(self) -> dict[str, Any]:
        """What this shard costs, for bench/scale.py: states held, resident memory, CPU seconds, and
        the bytes of the batches it sent (counted only once `measure` turned counting on)."""
        import os
        import time

        try:
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            rss = None
        return {"held": len(self.seen), "rss": rss, "cpu": time.process_time(), "sent_bytes": self.sent_bytes,
                "sent_states": self.sent_states, "pid": os.getpid()}

    def measure(self) -> None:
        self.sent_bytes, self.sent_states = 0, 0

    # -- checkpoints ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """What a checkpoint keeps of this shard, at a level boundary: arrays only (read back without pickle)."""
        from .checkpoint import _Layout

        layout = _Layout(self.system.schema.slot_bounds)
        keys = list(self.seen)
        out: dict[str, Any] = {"parents": np.fromiter(self.seen.values(), dtype=np.int64, count=len(keys)),
                               "levels": np.int64(len(self.history))}
        if self.keyf is not None:
            if self.c.view_key is not None and self.options.store != "fingerprint":
                raise ValueError("a view is not supported with checkpoints")
            out["keys"] = np.fromiter(keys, dtype=np.int64, count=len(keys))
        else:
            out.update({f"keys_{k}": v for k, v in layout.encode(keys).items()})
        for n, (d, pos, states) in enumerate(self.history):
            out[f"h{n}_depth"] = np.int64(d)
            out[f"h{n}_pos"] = np.asarray(pos, dtype=np.int64)
            out.update({f"h{n}_{k}": v for k, v in layout.encode(states).items()})
        return out

    def restore(self, snaps: list[dict[str, Any]], depth: int) -> int:
        """Take this shard's part of a checkpoint written by any number of shards: the keys it owns and
        the states it owns of each level held; the level at `depth` is the one to expand next."""
        from .checkpoint import _Layout

        layout = _Layout(self.system.schema.slot_bounds)
        keyf, owner, me = self.keyf, self.owner, self.index
        seen: dict = {}
        levels: dict[int, list[tuple[int, tuple]]] = {}
        for snap in snaps:
            parents = snap["parents"].tolist()
            if keyf is not None:
                keys = snap["keys"].tolist()
            else:
                keys = layout.decode({k[5:]: v for k, v in snap.items() if k.startswith("keys_")}, len(parents))
            for k, p in zip(keys, parents):
                if owner(k) == me:
                    seen[k] = p
            for n in range(int(snap["levels"])):
                pos = snap[f"h{n}_pos"].tolist()
                prefix = f"h{n}_"
                states = layout.decode({k[len(prefix):]: v for k, v in snap.items()
                                        if k.startswith(prefix) and k not in (prefix + "pos", prefix + "depth")},
                                       len(pos))
                mine = levels.setdefault(int(snap[f"h{n}_depth"]), [])
                for p, t in zip(pos, states):
                    if owner(t if keyf is None else keyf(t)) == me:
                        mine.append((p, t))
        self.seen = seen
        self.history = []
        for d in sorted(levels):
            items = sorted(levels[d])
            self.history.append((d, np.asarray([p for p, _ in items], dtype=np.int64), [t for _, t in items]))
        at = next((h for h in self.history if h[0] == depth), None)
        self.level, self.pos = (at[2], at[1].tolist()) if at is not None else ([], [])
        self.depth = depth
        return len(seen)
