"""Checkpoints of a long breadth-first search, written atomically, and resuming from one.

A checkpoint holds the visited store, the level being expanded, how far into it
the search got, the part of the next level found so far, and the counts: a
resumed run reaches exactly the counts of an uninterrupted one. It is written
at clean points only (between two states, where everything before a position
is expanded and counted), every `checkpoint_every` seconds and on Ctrl-C; to a
temporary file in the same folder, fsynced, then renamed over the old one, so
a kill at any moment leaves the old checkpoint or the new one. The file is a
pickle of ints and tuples: resume only checkpoints you wrote yourself.
Imports `checker.semantics`.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..semantics import TransitionSystem

FORMAT = "faultcheck-checkpoint/1"
FILE = "checkpoint.pickle"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed here (one line)."""


def _identity(system: TransitionSystem, invariants: Sequence[Any], store: str) -> dict[str, Any]:
    return {"system": system.name, "params": dict(system.params), "actions": [a.name for a in system.actions],
            "invariants": [p.name for p in invariants], "store": store, "width": system.schema.width}


class Checkpointer:
    """Writes `DIR/checkpoint.pickle` when one is due (every `checkpoint_every` seconds)."""

    def __init__(self, options: Any, system: TransitionSystem, invariants: Sequence[Any]):
        self.dir = Path(options.checkpoint_dir)
        self.every = options.checkpoint_every
        self.identity = _identity(system, invariants, options.store)
        self.last = time.monotonic()
        self.written = 0
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{self.dir}: cannot create the checkpoint folder: {e.strerror or e}") from None

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every

    def save(self, seen: dict, level: list, nxt: list, at: int, depth: int, counts: list, generated0: int) -> Path:
        data = {"format": FORMAT, **self.identity, "seen": seen, "level": level, "next": nxt, "at": at,
                "depth": depth, "counts": list(counts), "generated0": generated0}
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
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


def load_checkpoint(where: str | os.PathLike, system: TransitionSystem, invariants: Sequence[Any],
                    options: Any) -> dict[str, Any]:
    """The checkpoint in folder `where`, checked to belong to this model, parameters and options."""
    path = Path(where)
    if path.is_dir():
        path = path / FILE
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except FileNotFoundError:
        what = f"{FILE} is missing" if Path(where).is_dir() else "no such folder"
        raise CheckpointError(f"{where}: no checkpoint there ({what})") from None
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a faultcheck checkpoint (format {FORMAT} expected)")
    mine = _identity(system, invariants, options.store)
    for k, v in mine.items():
        if data.get(k) != v:
            raise CheckpointError(f"{path}: written for {k} = {data.get(k)!r}, but this run has {v!r}")
    return data


__all__ = ["FILE", "CheckpointError", "Checkpointer", "load_checkpoint"]
