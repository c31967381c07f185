"""Checkpoints of a long breadth-first search, written atomically as data only, and resuming from one.

A checkpoint holds the visited store, the level being expanded, how far into it the search got, the
part of the next level found so far, and the counts: a resumed run reaches exactly the counts of an
uninterrupted one. It is written at clean points only, every `checkpoint_every` seconds and on
Ctrl-C, to a temporary file in the same folder, fsynced, then renamed over the old one.

The file, `checkpoint.npz`, is a numpy archive read with allow_pickle=False: a JSON header (format,
the model's identity, parameters, the schema's slot layout, the options that matter, counts, depth,
positions and a blake2b checksum of header and arrays) and integer arrays: the visited states (or
their fingerprints, then the frontier's states too) in the order they were found, each one's parent
as a position. The level and the next level are the last states found (breadth-first order), so
positions say where they are. Everything is validated before use (shapes, dtypes, slot ranges, the
parent links forming the breadth-first levels the header claims, counts); a pickle from an older
faultcheck is refused unread. The checksum catches corruption and edits, not a forger who recomputes
it: resume only checkpoints you wrote. Imports numpy and `checker.semantics`.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
import zipfile
from collections.abc import Sequence
from itertools import chain, islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from ..semantics import TransitionSystem

FORMAT = "faultcheck-checkpoint/2"
FILE = "checkpoint.npz"
OLD_FILE = "checkpoint.pickle"  # written by faultcheck before format 2: never loaded
HEADER_LIMIT = 1 << 24  # bytes of JSON header a checkpoint may have
_NPY_SLACK = 1 << 16  # the most bytes an .npy header adds to its array


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed here (one line)."""


def _identity(system: TransitionSystem, invariants: Sequence[Any], options: Any) -> dict[str, Any]:
    """What must be equal for a checkpoint to be resumed: the model, its parameters and state layout,
    and the options that change what is stored or expanded."""
    bounds = json.dumps([str(b) for b in system.schema.slot_bounds]).encode()
    extra: dict[str, Any] = {}
    if system.constraints or system.action_constraints:  # stored under TLC's semantics since release 16
        extra = {"action_constraints": list(system.action_constraints), "constraint_semantics": "tlc"}
    return extra | {"system": system.name, "params": json.loads(json.dumps(dict(system.params), sort_keys=True, default=str)),
            "actions": [a.name for a in system.actions], "invariants": [p.name for p in invariants],
            "constraints": list(system.constraints), "terminals": list(system.terminals), "store": options.store,
            "check_deadlock": bool(options.check_deadlock), "max_depth": options.max_depth,
            "width": system.schema.width, "layout": hashlib.blake2b(bounds, digest_size=16).hexdigest()}


class _Layout:
    """How states become arrays: slots below 2**64 in one 2-D array of the narrowest unsigned type,
    wider slots (large bitmasks) as little-endian bytes in a second one."""

    def __init__(self, bounds: Sequence[int]):
        self.bounds = tuple(bounds)
        self.narrow = [i for i, b in enumerate(self.bounds) if b <= 1 << 64]
        self.wide = [i for i, b in enumerate(self.bounds) if b > 1 << 64]
        self.nbytes = [((self.bounds[i] - 1).bit_length() + 7) // 8 for i in self.wide]
        top = max((self.bounds[i] for i in self.narrow), default=1)
        self.dtype = next(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                          if top <= np.iinfo(t).max + 1)
        self.order = self.narrow + self.wide  # the column each slot of a row (narrow, then wide) comes from
        self.inverse = itemgetter(*sorted(range(len(self.order)), key=self.order.__getitem__))

    def encode(self, states: Sequence[tuple]) -> dict[str, np.ndarray]:
        n, w = len(states), len(self.narrow)
        if self.wide:
            pick = itemgetter(*self.narrow) if w > 1 else (lambda s: (s[self.narrow[0]],)) if w else (lambda s: ())
            flat = chain.from_iterable(map(pick, states))
        else:
            flat = chain.from_iterable(states)
        out = {"narrow": np.fromiter(flat, dtype=self.dtype, count=n * w).reshape(n, w)}
        if self.wide:
            cols = [np.frombuffer(b"".join(s[i].to_bytes(nb, "little") for s in states), dtype=np.uint8)
                    .reshape(n, nb) for i, nb in zip(self.wide, self.nbytes)]
            out["wide"] = np.concatenate(cols, axis=1)
        return out

    def shapes(self, n: int) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        out = {"narrow": (self.dtype, (n, len(self.narrow)))}
        if self.wide:
            out["wide"] = (np.dtype(np.uint8), (n, sum(self.nbytes)))
        return out

    def decode(self, arrays: dict[str, np.ndarray], n: int) -> list[tuple]:
        """The states as tuples; a `ValueError` naming the slot when a value is outside its type."""
        narrow = arrays["narrow"]
        if n and len(self.narrow):
            tops = narrow.max(axis=0).tolist()
            for i, top in zip(self.narrow, tops):
                if top >= self.bounds[i]:
                    raise ValueError(f"slot {i} holds {top}, outside its type (values below {self.bounds[i]})")
        if not self.wide:
            return list(zip(*(narrow[:, j].tolist() for j in range(narrow.shape[1])))) if narrow.shape[1] else \
                [()] * n
        wide = arrays["wide"]
        cols, at = [], 0
        for i, nb in zip(self.wide, self.nbytes):
            raw = wide[:, at:at + nb].tobytes()
            col = [int.from_bytes(raw[k:k + nb], "little") for k in range(0, n * nb, nb)]
            if col and max(col) >= self.bounds[i]:
                raise ValueError(f"slot {i} holds {max(col)}, outside its type (values below {self.bounds[i]})")
            cols.append(col)
            at += nb
        rows = [a + list(w) for a, w in zip(narrow.tolist(), zip(*cols))]
        if len(self.order) == 1:
            return [tuple(r) for r in rows]
        return list(map(self.inverse, rows))


def _digest(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=32)
    h.update(json.dumps({k: v for k, v in header.items() if k != "checksum"}, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


class Checkpointer:
    """Writes `DIR/checkpoint.npz` when one is due (every `checkpoint_every` seconds)."""

    def __init__(self, options: Any, system: TransitionSystem, invariants: Sequence[Any]):
        self.dir = Path(options.checkpoint_dir)
        self.every = options.checkpoint_every
        self.identity = _identity(system, invariants, options)
        self.fingerprint = options.store == "fingerprint"
        self.layout = _Layout(system.schema.slot_bounds)
        if self.fingerprint:
            from .search import fingerprinter  # the search imports this module: not at import time

            self.fp = fingerprinter(system.schema)
        self.last = time.monotonic()
        self.written = 0
        self._cache: dict[str, Any] | None = None  # what the previous save encoded (see `_arrays`)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{self.dir}: cannot create the checkpoint folder: {e.strerror or e}") from None

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every

    def save(self, seen: dict, level: list, nxt: list, at: int, depth: int, counts: list, generated0: int) -> Path:
        header, arrays = self._arrays(seen, level, nxt, at, depth, counts, generated0)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                _write(f, header, arrays)
                f.flush()
                os.fsync(f.fileno())
            target = self.dir / FILE
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.last = time.monotonic()
        self.written += 1
        return target

    def _arrays(self, seen: dict, level: list, nxt: list, at: int, depth: int, counts: list,
                generated0: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The header and arrays of a checkpoint. The store only grows, in order, so the states encoded
        by the previous save are kept and only the ones found since are encoded (their parents lie in
        the level then being expanded or after it); anything unexpected encodes the whole store."""
        n = len(seen)
        c = self._cache
        if not (c is not None and c["seen"] is seen and n >= c["m"] > 0
                and next(islice(seen, c["m"] - 1, None)) is c["last"]):
            c = {"seen": seen, "m": 0, "lo": 0, "arrays": {}}
        m, lo = c["m"], c["lo"]
        tail = list(islice(seen, lo, None))  # the states from the previous save's level on
        new, parents_of_new = tail[m - lo:], list(islice(seen.values(), m, None))
        first = n - len(nxt) - len(level)  # the level and the next level: the last states found
        frontier = list(chain(level, nxt))
        ident = (lambda k: k) if self.fingerprint else id  # an exact store's parent is the key object itself
        pos = dict(zip(map(ident, tail), range(lo, n)))
        pos[ident(None)] = -1  # an initial state's parent
        try:
            parents = np.fromiter(map(pos.__getitem__, map(ident, parents_of_new)), dtype=np.int64,
                                  count=len(new))
        except KeyError:  # a parent before the previous level, or an equal copy (a store built by hand)
            if m:
                self._cache = None
                return self._arrays(seen, level, nxt, at, depth, counts, generated0)
            equal: dict = dict(zip(tail, range(n)))
            equal[None] = -1
            parents = np.fromiter(map(equal.__getitem__, parents_of_new), dtype=np.int64, count=len(new))
        if self.fingerprint:
            ok = first >= lo and list(map(self.fp, frontier)) == tail[first - lo:]
            fresh = {"fingerprints": np.fromiter(new, dtype=np.int64, count=len(new))}
        else:
            ok = first >= lo and tail[first - lo:] == frontier
            fresh = self.layout.encode(new)
        if not ok:
            raise CheckpointError(f"{self.dir}: internal: the frontier is not the last states found")
        fresh["parents"] = parents
        arrays = {k: np.concatenate([c["arrays"][k], v]) if m else v for k, v in fresh.items()}
        self._cache = {"seen": seen, "m": n, "lo": max(first, 0), "arrays": arrays,
                       "last": tail[-1] if tail else None}
        if self.fingerprint:
            arrays = {**arrays, **{f"frontier_{k}": v for k, v in self.layout.encode(frontier).items()}}
        header = {"format": FORMAT, **self.identity, "states": n, "level": len(level), "next": len(nxt), "at": at,
                  "depth": depth, "counts": [int(c) for c in counts], "generated0": int(generated0)}
        header["checksum"] = _digest(header, arrays)
        return header, arrays


def _write(f: Any, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    text = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    np.savez(f, header=text, **arrays)


def load_checkpoint(where: str | os.PathLike, system: TransitionSystem, invariants: Sequence[Any],
                    options: Any) -> dict[str, Any]:
    """The checkpoint in folder `where` (or the file `where`), checked to belong to this model,
    parameters and options and to be whole; a `CheckpointError` (one line naming the file) if not."""
    path = Path(where)
    if path.is_dir():
        if not (path / FILE).is_file() and (path / OLD_FILE).exists():
            path = path / OLD_FILE
        else:
            path = path / FILE
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a device would block or never end
            raise CheckpointError(f"{path}: not a regular file, so not a checkpoint")
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        what = f"{FILE} is missing" if Path(where).is_dir() else "no such folder"
        raise CheckpointError(f"{where}: no checkpoint there ({what})") from None
    except OSError as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e.strerror or type(e).__name__})") from None
    if magic[:1] == b"\x80" or path.name == OLD_FILE:
        raise CheckpointError(f"{path}: a pickled checkpoint of an older faultcheck, not loaded (unpickling can run "
                              "code); delete it and run the search again with --checkpoint-dir")
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{path}: not a faultcheck checkpoint (a numpy .npz archive of format {FORMAT} "
                              "expected)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return _validated(path, npz, system, invariants, options)
    except CheckpointError:
        raise
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, OverflowError, MemoryError,
            zipfile.BadZipFile, zipfile.LargeZipFile, json.JSONDecodeError, UnicodeDecodeError,
            NotImplementedError, RuntimeError) as e:  # zipfile: a flipped flag asks for a method or a password
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:200]})") from None


def _validated(path: Path, npz: Any, system: TransitionSystem, invariants: Sequence[Any],
               options: Any) -> dict[str, Any]:
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: {what}")

    def member_size(name: str) -> int:
        try:
            return npz.zip.getinfo(f"{name}.npy").file_size
        except KeyError:
            raise bad(f"damaged: no array {name!r}") from None

    if member_size("header") > HEADER_LIMIT:
        raise bad("damaged: the header is too large")
    header = json.loads(npz["header"].tobytes().decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else None
        raise bad(f"not a faultcheck checkpoint (format {FORMAT} expected, got {got!r})")
    mine = _identity(system, invariants, options)
    for k, v in mine.items():
        if header.get(k) != v:
            raise bad(f"written for {k} = {header.get(k)!r}, but this run has {v!r}")
    ints = ("states", "level", "next", "at", "depth", "generated0")
    for k in ints:
        if type(header.get(k)) is not int or header[k] < 0:
            raise bad(f"damaged: {k} = {header.get(k)!r} is not a count")
    counts = header.get("counts")
    if not (isinstance(counts, list) and len(counts) == len(system.actions)
            and all(type(c) is int and c >= 0 for c in counts)):
        raise bad(f"damaged: counts must be {len(system.actions)} counts, one per action")
    if not isinstance(header.get("checksum"), str):
        raise bad("damaged: no checksum")

    n, nl, nn = header["states"], header["level"], header["next"]
    fingerprint = options.store == "fingerprint"
    layout = _Layout(system.schema.slot_bounds)
    want: dict[str, tuple[np.dtype, tuple[int, ...]]] = {"parents": (np.dtype(np.int64), (n,))}
    if fingerprint:
        want["fingerprints"] = (np.dtype(np.int64), (n,))
        want.update({f"frontier_{k}": v for k, v in layout.shapes(nl + nn).items()})
    else:
        want.update(layout.shapes(n))
    extra = sorted(set(npz.files) - set(want) - {"header"})
    if extra:
        raise bad(f"damaged: an unexpected array {extra[0]!r}")
    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, shape) in want.items():
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if not nbytes <= member_size(name) <= nbytes + _NPY_SLACK:
            raise bad(f"damaged: array {name!r} does not hold {shape} values of {dtype} (truncated or padded)")
        a = npz[name]
        if a.dtype != dtype or a.shape != shape:
            raise bad(f"damaged: array {name!r} is {a.dtype}{list(a.shape)}, expected {dtype}{list(shape)}")
        arrays[name] = a
    if _digest(header, arrays) != header["checksum"]:
        raise bad("damaged: the checksum does not match its contents (edited or corrupted)")
    return _rebuilt(bad, header, arrays, layout, system, fingerprint)


def _rebuilt(bad: Any, header: dict[str, Any], arrays: dict[str, np.ndarray], layout: _Layout,
             system: TransitionSystem, fingerprint: bool) -> dict[str, Any]:
    """The search's structures from validated arrays, after checking that they are the breadth-first
    levels the header describes: parent links pointing back, this model's initial states first, the
    depths by the links never decreasing, the level and the next level exactly the last states, at
    the checkpoint's depth and the one below, the counts covering every state found."""
    n, nl, nn, at, depth = (header[k] for k in ("states", "level", "next", "at", "depth"))
    parents = arrays["parents"]
    if header["generated0"] != len(system.initial):
        raise bad(f"damaged: generated0 = {header['generated0']}, but the model has {len(system.initial)} initial "
                  "states")
    if at > nl:
        raise bad(f"damaged: at = {at} is past the level's {nl} states")
    if nl + nn > n:
        raise bad(f"damaged: {nl + nn} frontier states, but only {n} states visited")
    if n and ((parents < -1) | (parents >= np.arange(n, dtype=np.int64))).any():
        raise bad("damaged: a parent link does not point to an earlier state")
    roots = int((parents == -1).sum())
    if (parents[:roots] != -1).any():
        raise bad("damaged: the initial states are not the first states visited")
    # every state found was generated, except that a Ctrl-C checkpoint keeps the counts of its last clean
    # point while the next level may already hold what the state being expanded then had produced
    if sum(header["counts"]) < n - roots - nn:
        raise bad(f"damaged: the counts ({sum(header['counts'])} states generated) do not cover the {n - roots} "
                  "states found")
    # every state's depth by its parent links (parents come first: the rounds settle within the chains' length)
    d = np.ones(n, dtype=np.int64)
    has = parents >= 0
    for _ in range(n + 1):
        nd = np.where(has, d[np.maximum(parents, 0)] + 1, 1)
        if np.array_equal(nd, d):
            break
        d = nd
    if n and (np.diff(d) < 0).any():
        raise bad("damaged: the states are not in breadth-first order")
    top = int(d.max()) if n else 0
    lvl, below = d[n - nn - nl:n - nn], d[n - nn:]
    if nl and ((lvl != depth).any() or (below != depth + 1).any() or int((d == depth).sum()) != nl
               or top > depth + 1):
        raise bad(f"damaged: the level and the next level are not the last states, at depth {depth} and below")
    if not nl:  # the search had finished: a loop never saves an empty level (but on a second Ctrl-C)
        raise bad(f"damaged: the level is empty, at depth {depth} of {top}: nothing left to resume")

    try:
        frontier_arrays = {k.removeprefix("frontier_"): v for k, v in arrays.items() if k.startswith("frontier_")}
        rows = layout.decode(frontier_arrays if fingerprint else arrays, nl + nn if fingerprint else n)
    except ValueError as e:
        raise bad(f"damaged: {e}") from None
    init = list(dict.fromkeys(system.initial))
    if fingerprint:
        from .search import fingerprinter

        fp = fingerprinter(system.schema)
        keys = arrays["fingerprints"].tolist()
        if list(map(fp, rows)) != keys[n - nn - nl:]:
            raise bad("damaged: a frontier state is not the visited state it claims to be")
        first = list(dict.fromkeys(map(fp, init)))
        frontier = rows
    else:
        keys = rows
        first = init
        frontier = keys[n - nn - nl:]
    if roots != len(first) or keys[:roots] != first:
        raise bad("damaged: the initial states are not this model's")
    seen = dict(zip(keys, chain(repeat(None, roots), map(keys.__getitem__, parents[roots:].tolist()))))
    if len(seen) != n:
        raise bad("damaged: a state is stored twice")
    return {"seen": seen, "level": frontier[:nl], "next": frontier[nl:], "at": at, "depth": depth,
            "counts": list(header["counts"]), "generated0": header["generated0"]}


__all__ = ["FILE", "OLD_FILE", "CheckpointError", "Checkpointer", "load_checkpoint"]
