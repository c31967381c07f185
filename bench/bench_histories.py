"""The consistency checkers on Porcupine's Jepsen histories, against Porcupine's verdicts.

    python3 bench/bench_histories.py [--data DIR] [--fail drop|returned-false] [--shrink none|weaken|delete]
                                     [--sequential SECONDS] [--repeat K] [-v]

Checks every file in DIR/verdicts.tsv (default tests/data/jepsen-histories: Porcupine's histories; provenance in its README) for linearizability
with its model (register from null; kv per key), and prints, per model: files, operations, verdicts
agreeing with Porcupine's, total time and the slowest file. Timing is the check alone (--shrink
none, the default); --shrink weaken (or delete) also times the explanation of every failing
history. With --repeat K each file's best of K runs is kept. With --sequential S, every register
history is also checked for sequential consistency in a child process cut off after S seconds
(the search is exponential: meant for small histories); the counts of verdicts and of cut-offs are
printed. -v prints one line per file. Exit 1 when a verdict disagrees with Porcupine's.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checker.logic.consistency import check_linearizable, check_sequential  # noqa: E402

DATA = ROOT / "tests" / "data" / "jepsen-histories"  # Porcupine's test histories (MIT; see its README)


def _sequential(path: str, model: str, out) -> None:
    history = json.loads(Path(path).read_text(encoding="utf-8"))
    t = time.perf_counter()
    r = check_sequential(history, model, None, shrink="none")
    out.put((r.ok, time.perf_counter() - t))


def sequential_with_limit(path: Path, model: str, seconds: float) -> tuple[bool | None, float]:
    """(sequentially consistent, seconds), or (None, seconds) when cut off."""
    q: multiprocessing.Queue = multiprocessing.Queue()
    p = multiprocessing.Process(target=_sequential, args=(str(path), model, q))
    t = time.perf_counter()
    p.start()
    p.join(seconds)
    if p.is_alive():
        p.terminate()
        p.join()
        return None, time.perf_counter() - t
    return q.get()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="the folder with verdicts.tsv")
    ap.add_argument("--fail", choices=("drop", "returned-false"), default="drop")
    ap.add_argument("--shrink", choices=("none", "weaken", "delete"), default="none")
    ap.add_argument("--repeat", type=int, default=1, metavar="K")
    ap.add_argument("--sequential", type=float, metavar="SECONDS",
                    help="also check register histories for sequential consistency, each cut off after SECONDS")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    table = args.data / "verdicts.tsv"
    if not table.is_file():
        print(f"bench: {table}: not found (--data DIR)", file=sys.stderr)
        return 2
    with open(table, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))

    stats: dict[str, dict] = {}
    disagree = []
    for row in rows:
        path, model = args.data / row["file"], row["model"]
        expected = {"true": True, "false": False, "null": None}[row["expected_linearizable"]]
        history = json.loads(path.read_text(encoding="utf-8"))
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            r = check_linearizable(history, model, None, fail=args.fail, shrink=args.shrink)
            best = min(best, time.perf_counter() - t)
        s = stats.setdefault(model, {"files": 0, "operations": 0, "agree": 0, "asserted": 0, "total": 0.0,
                                     "slowest": (0.0, ""), "false": 0})
        s["files"] += 1
        s["operations"] += r.operations
        s["total"] += best
        s["slowest"] = max(s["slowest"], (best, row["file"]))
        s["false"] += not r.ok
        if expected is not None:
            s["asserted"] += 1
            if r.ok == expected:
                s["agree"] += 1
            else:
                disagree.append(f"{row['file']}: Porcupine says {expected}, the checker {r.ok}")
        if args.verbose:
            verdict = "linearizable" if r.ok else f"not linearizable: {r.message}"
            print(f"  {row['file']:<22} {best * 1000:9.2f} ms  {verdict}")

    print(f"linearizability, fail={args.fail}, shrink={args.shrink}, best of {max(1, args.repeat)}:")
    everything = 0.0
    for model, s in stats.items():
        everything += s["total"]
        print(f"  {model:<8} {s['files']:3} files, {s['operations']:6} operations, {s['false']:3} not linearizable; "
              f"Porcupine's verdict on {s['agree']}/{s['asserted']}; total {s['total']:.3f} s, "
              f"slowest {s['slowest'][0]:.3f} s ({s['slowest'][1]})")
    print(f"  all      total {everything:.3f} s")
    for line in disagree:
        print(f"  DISAGREES {line}")

    if args.sequential:
        counts = {True: 0, False: 0, None: 0}
        total = 0.0
        for row in rows:
            if row["model"] != "register":
                continue
            ok, seconds = sequential_with_limit(args.data / row["file"], row["model"], args.sequential)
            counts[ok] += 1
            total += seconds
            if args.verbose:
                print(f"  {row['file']:<22} {seconds:7.2f} s  sequential: {ok}")
        print(f"sequential consistency (register, each cut off after {args.sequential:g} s): "
              f"{counts[True]} consistent, {counts[False]} not, {counts[None]} cut off; {total:.1f} s")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
