"""A fixed hash seed for the command line, set before anything else is imported (standard library only).

A protocol's handlers are ordinary Python, and node ids are strings. CPython salts the hash of every
str (and bytes) with a random key chosen when the process starts, so the iteration order of a set of
strings differs between runs: a handler doing ``next(iter(self.pool - {self.id}))`` sends to another
peer, and the state space, its counts, the counterexample, even the verdict can change between two
runs of one command. Only fixing the seed fixes every set of strings a handler can build, and the
seed is read when the interpreter starts: `fix_hash_seed` re-executes the same command line with
PYTHONHASHSEED=0. `python -m checker` and the `faultcheck` script call it first thing
(`checker.__main__`), so the interpreter that re-executes has imported almost nothing.
"""

from __future__ import annotations

import os
import sys

REEXEC_MARK = "FAULTCHECK_HASHSEED_REEXEC"  # set on the re-executed process: never re-execute twice


def fix_hash_seed() -> None:
    """Re-execute this very command line with PYTHONHASHSEED=0 unless string hashing already uses seed 0.

    ``sys.orig_argv`` is the interpreter's own command line, so `faultcheck ...` and `python -m checker
    ...` both come back as themselves. Does nothing where the environment cannot take effect (``python
    -E``/``-I``) or after one re-execution already."""
    if sys.flags.hash_randomization == 0 or os.environ.get(REEXEC_MARK) or sys.flags.ignore_environment:
        return
    argv = list(getattr(sys, "orig_argv", []) or [])
    if not sys.executable or not argv or not hasattr(os, "execve"):
        return
    env = {**os.environ, "PYTHONHASHSEED": "0", REEXEC_MARK: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError:
        return  # cannot re-execute (a frozen or embedded interpreter): go on with this seed


__all__ = ["REEXEC_MARK", "fix_hash_seed"]
