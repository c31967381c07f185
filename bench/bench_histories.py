"""The consistency checkers on Porcupine's Jepsen histories, against Porcupine's verdicts.

    python3 bench/bench_histories.py [--data DIR] [--fail drop|returned-false] [--shrink none|weaken|delete]
                                     [--sequential SECONDS] [--repeat K] [--hard DIR] [--timeout S] [-v]

Checks every file in DIR/verdicts.tsv (default tests/data/jepsen-histories: Porcupine's histories; provenance in its README) for linearizability
with its model (register from null; kv per key), and prints, per model: files, operations, verdicts
agreeing with Porcupine's, total time and the slowest file. Timing is the check alone (--shrink
none, the default); --shrink weaken (or delete) also times the explanation of every failing
history. With --repeat K each file's best of K runs is kept. With --sequential S, every register
history is also checked for sequential consistency in a child process cut off after S seconds
(the search is exponential: meant for small histories); the counts of verdicts and of cut-offs are
printed. -v prints one line per file. The median and maximum time per file are printed too.

With --hard DIR (histories written by `bench/hard_histories.py --out DIR`), each of them is also checked in
a child process cut off after --timeout seconds (default 120), with the --shrink given (default none):
seconds, peak memory, verdict against the one known by construction, and the explanation's size.
FAULTCHECK_ROOT=DIR runs the checker of another tree (e.g. the code before a change) with this bench.
Exit 1 when a verdict disagrees with Porcupine's or with the construction's.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("FAULTCHECK_ROOT", str(ROOT)))

from checker.logic.consistency import check_linearizable, check_sequential  # noqa: E402

DATA = ROOT / "tests" / "data" / "jepsen-histories"  # Porcupine's test histories (MIT; see its README)


def _value_nil() -> dict:
    """nil_read="value" where the checker has the option (Porcupine's reading of its data)."""
    return {"nil_read": "value"} if "nil_read" in inspect.signature(check_linearizable).parameters else {}


def one(path: str, shrink: str) -> None:
    """Check one hard history (child process): print a JSON line with the figures."""
    history = json.loads(Path(path).read_text(encoding="utf-8"))
    t = time.perf_counter()
    r = check_linearizable(history, "register", None, shrink=shrink)
    seconds = time.perf_counter() - t
    print(json.dumps({"ok": r.ok, "seconds": seconds, "undetermined": getattr(r, "undetermined", False),
                      "explanation": len(r.indices), "minimal": r.minimal,
                      "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def hard(folder: Path, shrink: str, timeout: float, verbose: bool) -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from hard_histories import HARD
    wrong = 0
    print(f"hard histories ({folder}), shrink={shrink}, cut off after {timeout:g} s:")
    for name, _, linearizable in HARD:
        path = folder / f"{name}.json"
        if not path.is_file():
            print(f"  {name:<20} (missing: python3 bench/hard_histories.py --out {folder})")
            continue
        t = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, __file__, "--one", str(path), "--shrink", shrink],
                                 capture_output=True, text=True, timeout=timeout, env=os.environ)
        except subprocess.TimeoutExpired:
            print(f"  {name:<20} cut off after {time.perf_counter() - t:.0f} s")
            continue
        if out.returncode:
            print(f"  {name:<20} error: {out.stderr.strip().splitlines()[-1:]}")
            continue
        d = json.loads(out.stdout.strip().splitlines()[-1])
        agree = d["ok"] == linearizable and not d["undetermined"]
        wrong += not agree
        print(f"  {name:<20} {d['seconds']:8.2f} s {d['peak_kb'] / 1024:8.0f} MB  "
              f"{'linearizable' if d['ok'] else 'not linearizable'}{'' if agree else ' (WRONG)'}"
              + ("" if d["ok"] else f", explanation {d['explanation']} entries"
                 f"{'' if d['minimal'] else ' (not minimal)'}"))
    return wrong


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
    ap.add_argument("--hard", type=Path, metavar="DIR", help="also time the hard histories written there")
    ap.add_argument("--timeout", type=float, default=120.0, help="cut-off for each hard history (seconds)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.one:
        one(args.one, args.shrink)
        return 0
    table = args.data / "verdicts.tsv"
    if not table.is_file():
        print(f"bench: {table}: not found (--data DIR)", file=sys.stderr)
        return 2
    with open(table, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))

    stats: dict[str, dict] = {}
    disagree = []
    times: list[float] = []
    for row in rows:
        path, model = args.data / row["file"], row["model"]
        expected = {"true": True, "false": False, "null": None}[row["expected_linearizable"]]
        history = json.loads(path.read_text(encoding="utf-8"))
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            r = check_linearizable(history, model, None, fail=args.fail, shrink=args.shrink, **_value_nil())
            best = min(best, time.perf_counter() - t)
        times.append(best)
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
    print(f"  all      total {everything:.3f} s; per file median {statistics.median(times):.4f} s, "
          f"max {max(times):.3f} s")
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
    wrong = hard(args.hard, args.shrink, args.timeout, args.verbose) if args.hard else 0
    return 1 if disagree or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
