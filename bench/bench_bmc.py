"""Bounded model checking (`faultcheck bmc`): the time per depth on Paxos and message-passing 2PC.

    python3 bench/bench_bmc.py [CASE ...] [--depth K] [--max-seconds S] [--timeout S]

Cases (default: paxos3 paxos5 2pc3 2pc5 2pc8 2pc12): `paxosN` is specs/paxos_lower_ballot.toml (the broken
acceptor: Agreement fails in 14 steps with 3 acceptors) with N acceptors, `okpaxosN` specs/paxos_ok.toml
(holds); `2pcN` is specs/two_phase_commit_ok.toml (holds) with `rms = N`, `early2pcN`
specs/two_phase_commit_early_commit.toml (fails in 4 steps). For each: the seconds spent building the
transition relation's kinds, then one line per depth as `faultcheck bmc` prints it, then the verdict. A
case whose model cannot be set up (a parameter outside its Param's range, a network too large to encode)
prints why and the others go on.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checker.logic import relation  # noqa: E402
from checker.logic.bmc import bmc, depth_line  # noqa: E402
from checker.spec import SpecError, load_spec  # noqa: E402
from checker.spec.run import _predicates, _set_up  # noqa: E402

CASES = {
    "paxos": ("paxos_lower_ballot.toml", "acceptors"),
    "okpaxos": ("paxos_ok.toml", "acceptors"),
    "2pc": ("two_phase_commit_ok.toml", "rms"),
    "early2pc": ("two_phase_commit_early_commit.toml", "rms"),
}


def run(case: str, depth: int, max_seconds: float | None, timeout: float | None) -> None:
    m = re.fullmatch(r"(.+?)(\d+)", case)
    if m is None or m.group(1) not in CASES:
        raise SystemExit(f"unknown case {case!r} (cases: {', '.join(f'{k}N' for k in CASES)})")
    name, param = CASES[m.group(1)]
    n = int(m.group(2))
    print(f"== {case}: specs/{name} with {param} = {n}, depth {depth}", flush=True)
    try:
        spec = load_spec(ROOT / "specs" / name).with_params({param: n})
        model, system = _set_up(spec, False)
    except SpecError as e:
        print(f"   cannot set up: {e}", flush=True)
        return
    invs = _predicates(system, "invariant", spec.invariants, spec.where)
    t = time.perf_counter()
    ks = relation.kinds(system)
    built = time.perf_counter() - t
    print(f"   kinds: {len(ks)} built in {built:.2f} s", flush=True)
    original = relation.kinds
    relation.kinds = lambda _system: ks  # built once, above
    try:
        r = bmc(system, invs, depth, max_seconds=max_seconds, timeout=timeout,
                progress=lambda j, sec, outcome: print(f"   {depth_line(j, sec, outcome)}", flush=True))
    finally:
        relation.kinds = original
    what = f"{r.invariant} violated in {len(r.path) - 1} steps" if r.path is not None else r.reason
    print(f"   {r.verdict}: {what}; {r.total_seconds:.2f} s in all after the kinds", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", default=["paxos3", "paxos5", "2pc3", "2pc5", "2pc8", "2pc12"])
    p.add_argument("--depth", type=int, default=14, help="the bound K (default 14, Paxos' shortest violation)")
    p.add_argument("--max-seconds", type=float, default=None, help="stop each case after S seconds")
    p.add_argument("--timeout", type=float, default=None, help="cut each depth's query off after S seconds")
    args = p.parse_args()
    for case in args.cases:
        run(case, args.depth, args.max_seconds, args.timeout)


if __name__ == "__main__":
    main()
