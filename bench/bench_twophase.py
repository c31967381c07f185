"""TwoPhase through faultcheck vs the hand-written reference BFS, in the same run.

    python3 bench/bench_twophase.py [--sizes 7 8] [--nodes 5 6] [--repeat 1]

For each N, runs (as separate processes, alternating) the reference loop
`bench/baselines/twophase_handwritten.py N` and `faultcheck check
specs/two_phase_commit_tla.toml --set rms=N` (TypeOK and TCConsistent checked,
as the spec says). Prints distinct states per second of both, measured two
ways: by each program's own search time, and by the whole process's wall
time; the ratio is faultcheck / reference (higher is better). Then the
message-passing 2PC (`specs/two_phase_commit_ok.toml`) in states generated per
second against the reference's. With --repeat k, the best of k runs is kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "bench" / "baselines" / "twophase_handwritten.py"


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if out.returncode not in (0,):
        sys.exit(f"bench: {' '.join(cmd)} exited {out.returncode}: {out.stderr.strip()[-500:]}")
    return wall, out.stdout


def reference(n: int) -> dict:
    wall, out = timed([sys.executable, str(REFERENCE), str(n)])
    m = re.search(r"distinct=(\d+) generated=(\d+) time=([\d.]+)s", out)
    if not m:
        sys.exit(f"bench: unexpected reference output: {out!r}")
    return {"distinct": int(m[1]), "generated": int(m[2]), "search_s": float(m[3]), "wall_s": wall}


def engine(n: int, extra: list[str], spec: str = "specs/two_phase_commit_tla.toml") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wall, out = timed([sys.executable, "-m", "checker", "check", spec,
                           "--set", f"rms={n}", "--json", "-q", "--out", tmp, *extra])
    r = json.loads(out.strip().splitlines()[-1])
    return {"distinct": r["distinct_states"], "generated": r["states_generated"], "search_s": r["seconds"], "wall_s": wall}


def best(runs: list[dict], key: str) -> dict:
    r = min(runs, key=lambda r: r[key])
    if r[key] <= 0:  # the reference prints its time in hundredths of a second
        sys.exit(f"bench: a run of {r['distinct']} states is too short to time; use a larger N")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[7, 8])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--fingerprint", action="store_true", help="run faultcheck with --fingerprint")
    ap.add_argument("--nodes", type=int, nargs="*", default=[5, 6],
                    help="sizes for the message-passing 2PC (specs/two_phase_commit_ok.toml); none to skip")
    args = ap.parse_args()
    if not REFERENCE.is_file():
        sys.exit(f"bench: the reference loop is not at {REFERENCE}")
    extra = ["--fingerprint"] if args.fingerprint else []
    print(f"{'N':>2} {'distinct':>10} {'ref gen':>10} {'fc gen':>10} | {'ref st/s':>9} {'fc st/s':>9} {'ratio':>6} |"
          f" {'ref wall':>8} {'fc wall':>8} {'ratio':>6}")
    for n in args.sizes:
        refs, fcs = [], []
        for _ in range(args.repeat):
            refs.append(reference(n))
            fcs.append(engine(n, extra))
        if refs[0]["distinct"] != fcs[0]["distinct"]:
            sys.exit(f"bench: distinct states differ at N={n}: reference {refs[0]['distinct']}, faultcheck {fcs[0]['distinct']}")
        r, f = best(refs, "search_s"), best(fcs, "search_s")
        rw, fw = best(refs, "wall_s"), best(fcs, "wall_s")
        d = r["distinct"]
        print(f"{n:>2} {d:>10,} {r['generated']:>10,} {f['generated']:>10,} | {d / r['search_s']:>9,.0f} "
              f"{d / f['search_s']:>9,.0f} {r['search_s'] / f['search_s']:>6.2f} | {rw['wall_s']:>7.2f}s "
              f"{fw['wall_s']:>7.2f}s {rw['wall_s'] / fw['wall_s']:>6.2f}", flush=True)
    print("ratio = faultcheck speed / reference speed (distinct states per second); "
          "faultcheck generates more because TwoPhase.tla's self-loops are kept, as TLC counts them")
    if args.nodes:
        print()
        print("message-passing 2PC (TM and RM nodes, multiset network) vs the reference, in states generated per second")
        print(f"{'N':>2} {'distinct':>10} {'generated':>11} {'seconds':>8} {'fc gen/s':>9} {'ref gen/s':>9} {'ratio':>6}")
        for n in args.nodes:
            refs, fcs = [], []
            for _ in range(args.repeat):
                refs.append(reference(n))
                fcs.append(engine(n, extra, "specs/two_phase_commit_ok.toml"))
            r, f = best(refs, "search_s"), best(fcs, "search_s")
            fc_rate, ref_rate = f["generated"] / f["search_s"], r["generated"] / r["search_s"]
            print(f"{n:>2} {f['distinct']:>10,} {f['generated']:>11,} {f['search_s']:>7.2f}s {fc_rate:>9,.0f} "
                  f"{ref_rate:>9,.0f} {fc_rate / ref_rate:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
