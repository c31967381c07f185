"""TCConsistent as a formula against the same invariant hand-written in Python, in one process.

    python3 bench/bench_formula.py [--rms 7] [--repeat 3]

Searches TwoPhase with only TCConsistent checked, alternating the two forms
`--repeat` times each in this process, and prints each run's search time and
the ratio formula / hand-written of the best times (the issue's bound: 1.5).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checker.engine import SearchOptions, search  # noqa: E402
from checker.logic import compile_predicate  # noqa: E402
from checker.model import invariant  # noqa: E402
from checker.semantics import from_model  # noqa: E402
from protocols.two_phase_commit_tla import TwoPhase  # noqa: E402


class HandWritten(TwoPhase):
    """TwoPhase with TCConsistent as a plain Python predicate over the readable state."""

    @invariant
    def TCConsistent(self, state):
        decided = set(state.rmState.values())
        return not ("committed" in decided and "aborted" in decided)


def run(cls: type, rms: int) -> tuple[float, int]:
    system = from_model(cls(rms=rms))
    inv = compile_predicate("TCConsistent", system.invariants["TCConsistent"], system.schema)
    gc.collect()
    t = time.perf_counter()
    r = search(system, [inv], SearchOptions())
    return time.perf_counter() - t, r.stats.distinct


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rms", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    times: dict[str, list[float]] = {"formula": [], "hand-written": []}
    counts = set()
    for _ in range(args.repeat):
        for name, cls in (("hand-written", HandWritten), ("formula", TwoPhase)):
            s, n = run(cls, args.rms)
            counts.add(n)
            times[name].append(s)
            print(f"{name:>12}: {s:.3f}s, {n:,} distinct states", flush=True)
    if len(counts) != 1:
        sys.exit(f"bench: the two forms found different state counts: {sorted(counts)}")
    ratio = min(times["formula"]) / min(times["hand-written"])
    print(f"TwoPhase rms={args.rms}: formula / hand-written search time (best of {args.repeat}) = {ratio:.2f}")


if __name__ == "__main__":
    main()
