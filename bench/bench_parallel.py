"""How the level-parallel search scales with workers: TwoPhase.tla (low-level) at N resource managers.

    python3 bench/bench_parallel.py --rms 8 --workers 1 2 4 8

Each configuration runs in a fresh process (so memory and caches do not carry over) and prints
distinct states, seconds and the speed-up over one worker measured in the same invocation. Counts
must be equal for every worker count; the script says so when they are not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from checker.engine import SearchOptions, search
from checker.semantics import from_model
from protocols.two_phase_commit_tla import TwoPhase
system = from_model(TwoPhase(rms={rms}))
t = time.perf_counter()
r = search(system, options=SearchOptions(workers={workers}, check_deadlock=False))
dt = time.perf_counter() - t
print(json.dumps({{"distinct": r.stats.distinct, "generated": r.stats.generated, "depth": r.stats.depth,
                  "seconds": dt, "bytes_per_state": r.stats.bytes_per_state}}))
"""


def run(rms: int, workers: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), rms=rms, workers=workers)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rms", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=1, help="best of this many runs per configuration")
    args = p.parse_args()
    print(f"TwoPhase.tla, {args.rms} RMs; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    print(f"{'workers':>7} {'distinct':>10} {'generated':>11} {'seconds':>8} {'speed-up':>8}")
    base, counts = None, None
    for w in args.workers:
        best = min((run(args.rms, w) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        key = (best["distinct"], best["generated"], best["depth"])
        if counts is None:
            counts = key
        elif key != counts:
            print(f"counts differ: {key} against {counts}")
            return 1
        base = base or best["seconds"]
        print(f"{w:>7} {best['distinct']:>10,} {best['generated']:>11,} {best['seconds']:>8.2f} "
              f"{base / best['seconds']:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
