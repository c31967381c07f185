"""How fast the explorer answers, and how large the pictures are.

    python3 bench/bench_explore.py [--spec specs/paxos_ok.toml] [--steps 40] [--seed 1]

1. The explorer's response time per step: `faultcheck explore`'s server (in this process, on 127.0.0.1)
   on a large spec, driven over HTTP as the page drives it: each request takes one enabled step, chosen
   at random, and answers with the whole view (the enabled steps, the invariants, the state and the
   chart of the path so far, as SVG). Restarts at a deadlock. Prints the median, mean, 90th percentile
   and maximum milliseconds per step, and the same for computing the view in-process (no HTTP).
2. The HTML trace viewer's size for the longest committed counterexample (`faultcheck show --format
   html`), and the chart's (SVG) share of it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checker.explorer.server import Server  # noqa: E402
from checker.spec.explore import session  # noqa: E402
from checker.trace import Trace  # noqa: E402
from checker.trace.html import to_html  # noqa: E402
from checker.trace.msc import to_svg  # noqa: E402


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def summary(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=10)[-1] if len(ms) >= 2 else ms[0]
    return (f"median {statistics.median(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms, p90 {q:.1f} ms, "
            f"max {max(ms):.1f} ms over {len(ms)} steps")


def explorer(spec: Path, steps: int, seed: int) -> None:
    t0 = time.perf_counter()
    server = Server(session(spec), idle=600).start()
    print(f"explorer on {spec.relative_to(ROOT)}: session and server up in {time.perf_counter() - t0:.2f} s")
    rng = random.Random(seed)
    ms, depth = [], []
    try:
        with urllib.request.urlopen(server.url + "api/state", timeout=60) as r:
            view = json.load(r)
        while len(ms) < steps:
            if not view["enabled"]:
                view = post(server.url + "api/restart", {})
                continue
            t = time.perf_counter()
            view = post(server.url + "api/take", {"index": rng.randrange(len(view["enabled"]))})
            ms.append((time.perf_counter() - t) * 1000)
            depth.append(view["position"])
    finally:
        server.stop()
    print(f"  per step over HTTP: {summary(ms)} (paths up to {max(depth)} steps; {len(view['enabled'])} steps "
          f"enabled at the end)")
    s = session(spec)
    rng = random.Random(seed)
    ms = []
    while len(ms) < steps:
        if not s.enabled():
            s.restart()
            continue
        t = time.perf_counter()
        s.take(rng.randrange(len(s.enabled())))
        s.view()
        ms.append((time.perf_counter() - t) * 1000)
    print(f"  per step in-process: {summary(ms)}")


def viewer_size() -> None:
    longest = max((Trace.load(p) for p in sorted((ROOT / "counterexamples").glob("*.json"))), key=len)
    t = time.perf_counter()
    page = to_html(longest)
    took = time.perf_counter() - t
    svg = to_svg(longest)
    print(f"viewer page of the longest committed counterexample ({Path(longest.spec or '?').name}, {len(longest)} "
          f"steps): {len(page.encode()):,} bytes ({len(svg.encode()):,} of them the chart), made in {took * 1000:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default=str(ROOT / "specs" / "paxos_ok.toml"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    explorer(Path(a.spec).resolve(), a.steps, a.seed)
    viewer_size()


if __name__ == "__main__":
    main()
