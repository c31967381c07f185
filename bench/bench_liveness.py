"""Memory and time of the liveness graph: `python3 bench/bench_liveness.py [--rms 5 6]`.

Builds the reachable graph of TwoPhase (the state tuples, their ids, the
edges in compact arrays) and checks one leads-to property, reporting bytes
per state (measured with tracemalloc) and states per second.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checker.engine.liveness import Fairness, Graph, check_leads_to  # noqa: E402
from checker.semantics import from_model  # noqa: E402
from protocols.two_phase_commit_tla import TwoPhase  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rms", type=int, nargs="+", default=[5, 6])
    args = ap.parse_args()
    per_state = 0.0
    for n in args.rms:
        system = from_model(TwoPhase(rms=n))
        tracemalloc.start()
        t = time.perf_counter()
        g = Graph(system)
        built = time.perf_counter() - t
        size, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_state = size / len(g)
        tm = system.schema.offsets["tmState"]
        t = time.perf_counter()
        lasso = check_leads_to(g, lambda s, tm=tm: s[tm] == 0, lambda s, tm=tm: s[tm] != 0, Fairness())
        checked = time.perf_counter() - t
        print(f"TwoPhase rms={n}: {len(g):,} states, {len(g.succ):,} edges; {per_state:.0f} bytes per state "
              f"({size / 2**20:.1f} MiB); built in {built:.2f}s ({len(g) / built:,.0f} states/s); "
              f"init ~> decided checked in {checked:.2f}s: {'holds' if lasso is None else 'violated'}")
    print(f"at the last rate, 24 GiB holds about {24 * 2**30 / per_state / 1e6:.0f} million states")


if __name__ == "__main__":
    main()
