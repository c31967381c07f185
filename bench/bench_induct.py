"""Symbolic against explicit induction: how long each takes to prove the 2PC invariants inductive.

    python3 bench/bench_induct.py [--rms 3 5 8 12] [--explicit-limit 120]

For each number of RMs, in this process:
1. TwoPhase.tla (specs/two_phase_commit_induct_proof.toml, formula actions): symbolic (one Z3 query per
   kind of step) and explicit (Z3 enumerates the states satisfying the invariant, one per class under
   RM symmetry; the model runs on each), the explicit one stopped after --explicit-limit seconds.
2. Message-passing 2PC (specs/two_phase_commit_nodes_induct_proof.toml, handlers run on symbolic fields):
   symbolic on its multiset network (explicit cannot: it refuses a multiset), and both methods on the
   same protocol with a set network, where explicit enumeration is possible at all.
Prints one row per (model, RMs, method): the verdict and the seconds, and the ratio explicit / symbolic.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checker.logic import PropertyError  # noqa: E402
from checker.logic.induct import induct  # noqa: E402
from checker.spec.load import load_spec  # noqa: E402
from checker.spec.run import _predicates, system_of  # noqa: E402


def setup(spec_path: Path, rms: int, network: str | None = None):
    spec = load_spec(spec_path).with_params({"rms": rms})
    if network is not None:
        spec = spec.__class__(**{**spec.__dict__, "network": {**spec.network, "in_flight": network}})
    model = spec.instantiate()
    system = system_of(spec, model, False)
    return system, _predicates(system, "invariant", spec.invariants, spec.where)


def timed(system, invs, method: str, limit: float, symmetry=()) -> tuple[str, float]:
    start = time.perf_counter()

    def tick(*_):
        return f"{limit:g} s" if time.perf_counter() - start > limit else None

    try:
        r = induct(system, invs, method=method, symmetry=symmetry, tick=tick)
    except PropertyError as e:
        return f"refused ({str(e)[:60]})", time.perf_counter() - start
    return r.verdict, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rms", type=int, nargs="+", default=[3, 5, 8, 12])
    ap.add_argument("--explicit-limit", type=float, default=120.0)
    a = ap.parse_args()
    print(f"{'model':<28} {'RMs':>4} {'method':<9} {'verdict':<24} {'seconds':>9} {'explicit/symbolic':>18}")
    rows = [("TwoPhase.tla", ROOT / "specs/two_phase_commit_induct_proof.toml", None, ("rm",)),
            ("2PC nodes, multiset network", ROOT / "specs/two_phase_commit_nodes_induct_proof.toml", None, ()),
            ("2PC nodes, set network", ROOT / "specs/two_phase_commit_nodes_induct_proof.toml", "set", ())]
    for label, path, network, symmetry in rows:
        for rms in a.rms:
            system, invs = setup(path, rms, network)
            v_s, t_s = timed(system, invs, "symbolic", a.explicit_limit)
            print(f"{label:<28} {rms:>4} {'symbolic':<9} {v_s:<24} {t_s:>9.2f}", flush=True)
            system, invs = setup(path, rms, network)
            v_e, t_e = timed(system, invs, "explicit", a.explicit_limit, symmetry)
            ratio = f"{t_e / t_s:>17.0f}x" if v_e == v_s else ""
            print(f"{label:<28} {rms:>4} {'explicit':<9} {v_e:<24} {t_e:>9.2f} {ratio}", flush=True)


if __name__ == "__main__":
    main()
