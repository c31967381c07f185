"""`--workers N` on one machine: long-lived forked workers, each holding a replica of the visited set.

At the first level of `parallel_min` states (4096: smaller ones cost more to share than to expand) this process forks N - 1 workers, which inherit the
visited set and the level. Every level is then cut into N contiguous slices: this process expands
the first, worker k the k-th, each against its own replica (nothing is shared, so nothing is copied
on write, and no process waits on another's memory). Each publishes the states new to it, with
their parents, in a file under a private temporary folder (on tmpfs where there is one); then every
process merges every slice in slice order, so that all replicas end the level equal and equal to
what one process would hold: the first parent found is kept, the next level is in one process's
order, counts and counterexamples are the same. A worker checks its slice's new states against the
schema and reports a slice where anything stopped (a violation, a deadlock, model code failing, a
violation outside the constraints); this process then expands that slice itself, which raises the
same stop, with the same trace, as one process would, and the workers are let go.

Replicas trade memory for speed: each worker holds the whole visited set (`--sharded`, and Ray,
split it instead; see `engine.distribute`). A worker that dies costs nothing but time: this process
holds everything and expands the level alone. Imports nothing beyond the standard library.
"""

from __future__ import annotations

import marshal
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from typing import Any

from .guard import active


class Team:
    """The workers of one search, and the level they all hold."""

    def __init__(self, workers: int, step: Callable, seen: dict, counts: list[int], keyf: Callable | None,
                 fingerprint: bool, child_stops: Callable[[], bool], first_bad: Callable | None, reach: Any):
        self.n, self.step, self.seen, self.counts = workers, step, seen, counts
        self.keyf, self.fingerprint, self.child_stops, self.first_bad, self.reach = (
            keyf, fingerprint, child_stops, first_bad, reach)
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.tmp = tempfile.mkdtemp(prefix="faultcheck-team-", dir=base)
        self.conns: list = []
        self.pids: list[int] = []
        self.level: list | None = None  # the level the workers were forked with
        self.bounds: list[int] | None = None  # the slices of the level to expand next (None: equal ones)
        self.round = 0
        self.me = 0  # which slice this process expands (0: the one that forked the workers)

    # -- this process ---------------------------------------------------------------------------
    def start(self, level: list) -> None:
        """Fork the workers now: they inherit the visited set and `level`."""
        import socket

        self.level = level
        for k in range(1, self.n):
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # a worker: serve levels until told to stop, then leave without cleanup
                status = 1
                try:
                    mine.close()
                    for c in self.conns:
                        c.close()
                    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is this process's to handle
                    if (g := active()) is not None:
                        g.after_fork()
                    self._serve(k, theirs.makefile("rwb", buffering=0))
                    status = 0
                except BaseException:
                    pass
                finally:
                    os._exit(status)
            theirs.close()
            self.conns.append(mine)
            self.pids.append(pid)

    def expand(self, level: list, nxt: list) -> int:
        """Expand `level` (the one the workers hold their parts of) into `nxt` with every worker, as one
        process would; returns how much of `nxt` (its start) this process found, the part whose schema
        check is still to do. Raises the stop one process would raise. Where a worker is gone or a slice
        stopped, this process finishes the level alone, and the team is closed."""
        bounds = self.bounds if self.bounds is not None else self._bounds(len(level))
        self.round += 1
        n0 = len(nxt)
        if not self._tell(b"e"):
            return self._alone(level, bounds, nxt, 0)
        try:
            self.step(level, bounds[0], bounds[1], nxt, True, False)
        except BaseException:
            self.close()  # let the workers go; the stop goes on from here
            raise
        own = len(nxt)
        self._write(0, nxt[n0:], None, None, None)  # the workers keep no parents: only this process rebuilds paths
        answers = self._hear()
        if answers is None:
            return self._alone(level, bounds, nxt, 1)
        self._tidy(self.round - 1)  # every worker has merged the round before: its files can go
        if any(a != b"k" for a in answers):  # merge the slices in order; expand the ones that stopped here
            self._tell(b"x")
            for k in range(1, self.n):
                if answers[k - 1] == b"k":
                    self._take(level, nxt, k)
                else:
                    self.step(level, bounds[k], bounds[k + 1], nxt, True, False)
            self.close()
            return own
        if not self._tell(b"m"):  # the workers merge now, while this process does (nothing more is said)
            return self._alone(level, bounds, nxt, 1)
        for k in range(1, self.n):
            self._take(level, nxt, k)
        self.bounds = self._bounds(len(nxt) - n0)  # every process cuts the next level the same way
        return own

    def _alone(self, level: list, bounds: list[int], nxt: list, k0: int) -> int:
        """A worker is gone: expand the slices from k0 on here (with this process's own, done, they are the
        level), and let the team go."""
        self.close()
        for k in range(k0, self.n):
            self.step(level, bounds[k], bounds[k + 1], nxt, True, False)
        return len(nxt)  # all of it found here: all of it to check

    def _take(self, level: list, nxt: list, k: int) -> None:
        mine, parents, theirs, found = self._read(k)
        for j, c in enumerate(theirs):
            self.counts[j] += c
        if found and self.reach is not None:
            self.reach.merge(found)
        self._merge(level, nxt, mine, parents)

    def close(self) -> None:
        self._tell(b"q")
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        for c in self.conns:
            c.close()
        self.pids, self.conns = [], []
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _tell(self, what: bytes) -> bool:
        try:
            for c in self.conns:
                c.sendall(what)
            return True
        except OSError:
            return False

    def _hear(self) -> list[bytes] | None:
        out = []
        for c in self.conns:
            try:
                b = c.recv(1)
            except OSError:
                b = b""
            if not b:
                return None
            out.append(b)
        return out

    # -- a worker ----------------------------------------------------------------------------------
    def _serve(self, k: int, conn) -> None:
        bounds = self._bounds(len(self.level))
        part, offset = self.level[bounds[k]:bounds[k + 1]], bounds[k]  # the slice of the level it expands
        self.level = None
        seen, keyf = self.seen, self.keyf
        while True:
            cmd = conn.read(1)
            if cmd in (b"", b"q"):
                return
            if cmd == b"x":
                continue
            assert cmd == b"e"
            self.me = k
            self.round += 1
            self.counts[:] = [0] * len(self.counts)
            mine: list = []
            marks: list[int] = []
            try:
                self.step(part, 0, len(part), mine, True, False, marks.append)
                stopped = self.child_stops() or (self.first_bad is not None and bool(mine)
                                                 and self.first_bad(mine) >= 0)
            except BaseException:
                stopped = True
            if stopped:  # this process expands the slice itself; the team is done
                conn.write(b"s")
                return
            if len(marks) == len(mine) and not self.fingerprint:  # the loop said where each parent is
                parents = [offset + m for m in marks]
            else:
                parents = self._parents(part, offset, mine)
            self._write(k, mine, parents, list(self.counts), self.reach.found if self.reach is not None else None)
            conn.write(b"k")
            if conn.read(1) != b"m":
                return
            # the next level is every slice's new states in slice order, less those an earlier slice found:
            # this worker reads them all, keeps their keys, and takes its slice of that level
            found = [mine if j == k else self._read(j)[0] for j in range(self.n)]
            earlier: set = set()
            parts = []
            for j, theirs in enumerate(found):
                keys = theirs if keyf is None else list(map(keyf, theirs))
                if j:
                    parts.append([t for t, key in zip(theirs, keys) if key not in earlier] if earlier else theirs)
                else:
                    parts.append(theirs)
                if j < self.n - 1:
                    earlier.update(keys)
                if j != k:
                    seen.update(dict.fromkeys(keys))  # membership is all a worker's replica keeps
            sizes = [len(p) for p in parts]
            bounds = self._bounds(sum(sizes))
            lo, hi = bounds[k], bounds[k + 1]
            part, at = [], 0
            for p, size in zip(parts, sizes):
                x, y = max(lo, at), min(hi, at + size)
                if x < y:
                    part.extend(p[x - at:y - at])
                at += size
            offset = lo
            self._tidy(self.round - 1)

    # -- both ----------------------------------------------------------------------------------------
    def _bounds(self, n: int) -> list[int]:
        return [n * k // self.n for k in range(self.n + 1)]

    def _parents(self, part: list, offset: int, mine: list) -> list:
        """Each new state's parent, for this process's store: its fingerprint (fingerprint store), else its
        position in the level (found walking the slice: parents come in level order)."""
        seen, keyf = self.seen, self.keyf
        if self.fingerprint:
            return [seen[keyf(t)] for t in mine]  # type: ignore[misc]
        parents = []
        add = parents.append
        j = 0
        for t in mine:
            p = seen[t if keyf is None else keyf(t)]
            while part[j] is not p:
                j += 1
            add(offset + j)
        return parents

    def _merge(self, level: list, nxt: list, mine: list, parents: list) -> None:
        seen, keyf, append = self.seen, self.keyf, nxt.append
        if self.fingerprint:
            for t, p in zip(mine, parents):
                key = keyf(t)  # type: ignore[misc]
                if key not in seen:
                    seen[key] = p
                    append(t)
        elif keyf is None:
            for t, j in zip(mine, parents):
                if t not in seen:
                    seen[t] = level[j]
                    append(t)
        else:
            for t, j in zip(mine, parents):
                key = keyf(t)
                if key not in seen:
                    seen[key] = level[j]
                    append(t)

    def _tidy(self, round_: int) -> None:
        """Remove this process's file of an earlier round (each process removes its own)."""
        try:
            os.unlink(os.path.join(self.tmp, f"{round_}-{self.me}"))
        except OSError:
            pass

    def _path(self, k: int) -> str:
        return os.path.join(self.tmp, f"{self.round}-{k}")

    def _write(self, k: int, mine: list, parents: list, counts: list | None, found: Any) -> None:
        path = self._path(k)
        with open(path + ".part", "wb") as f:  # marshal: three times as fast as pickle for tuples of ints
            f.write(marshal.dumps((mine, parents, counts, found)))
        os.replace(path + ".part", path)

    def _read(self, k: int) -> tuple:
        with open(self._path(k), "rb") as f:
            return marshal.loads(f.read())  # (marshal.load reads a file a few bytes at a time)
