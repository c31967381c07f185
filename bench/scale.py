"""What one more core, one more shard, one more host costs and gives: the measurements for bench/SCALE.md.

    python3 bench/scale.py                    # TwoPhase.tla N=7 (296,448 states), every configuration
    python3 bench/scale.py --rms 8            # N=8: 1.7 million states (minutes; about 0.5 GB per copy)
    python3 bench/scale.py --no-ray --json /tmp/scale.json

specs/two_phase_commit_tla.toml --set rms=N, checked in each configuration below, each in a fresh child
process (bench/baselines/faultcheck_child.py: fresh memory, and it reads the memory and CPU time of the
processes the search starts):

- one       `checker.check(spec, workers=1)`: one process
- workers2  `workers=2`: 2 forked processes, each holding a replica of the visited set
- sharded1  `sharded=True, workers=1`: the visited set in 1 forked shard (the sharded machinery's cost
            without a second core: the search spreads out as with 2)
- sharded2  `sharded=True, workers=2`: the visited set split by fingerprint between 2 forked shards
- ray2      `ray=ADDRESS, ray_workers=2` on a 2-node Ray cluster on this machine (tests/raycluster.py's
            LocalCluster, one CPU per node): 2 actors, one per node; skipped with --no-ray or without Ray

Printed, and written with --json (every raw figure, per process):

- seconds: the search's, as the engine reports them (for ray2: connecting to Ray and starting the actors
  included); process: the child process's wall-clock seconds (its imports and the spec's loading too)
- speedup: one's seconds over the configuration's
- CPU: the CPU seconds (user and system) of every process of the search while it ran: the coordinator,
  and the forked replicas or shards or Ray actors (an actor from its loading the spec to the search's end);
  per state generated and per distinct state
- memory: the coordinator's peak resident bytes; "B/state" what every process added at its peak over
  distinct states (the coordinator less Ray's import and connection; each shard or actor less its resident
  size once started, the spec built). one's B/state is the single process's (peak - before) / distinct
- per shard (sharded, ray), from FAULTCHECK_SHARD_USAGE (the engine writes it at the search's end) and
  /proc: states held, resident bytes at the end (and per state held), bytes the shard added at its peak
  per state held, private bytes at the end per state held (Private_Clean + Private_Dirty: pages not shared
  with the coordinator or with libraries), CPU seconds per state held, bytes and states sent to the other
  shard (pickled batches, from the level where the search spread out; the coordinator's initial split of
  the states is not counted), per state generated and per distinct state (sum over the shards)
- balance: the most states a shard held over the mean
- ray2: the seconds to start the cluster (not in the search's seconds), to connect (`ray.init`, Ray's
  import included) and to start the actors (creating them, each loading the spec)

Raw numbers only: no projections. The machine's load average is printed at the start and the end; times
on a shared machine are rough, the per-state bytes and the balance do not depend on load.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "bench" / "baselines" / "faultcheck_child.py"
SPEC = "specs/two_phase_commit_tla.toml"
CLUSTER = "<LocalCluster>"

CONFIGS: dict[str, dict] = {
    "one": {"workers": 1},
    "workers2": {"workers": 2},
    "sharded1": {"sharded": True, "workers": 1},
    "sharded2": {"sharded": True, "workers": 2},
    "ray2": {"ray": CLUSTER, "ray_workers": 2},
}
MB = 1 << 20


class Skip(Exception):
    """A configuration that cannot run here: the message says why."""


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def child(params: dict, options: dict, timeout: float, env: dict | None = None) -> dict:
    """One search in a fresh process; its JSON line, with the shards' usage and the process's wall."""
    with tempfile.TemporaryDirectory(prefix="fcscale-") as tmp:
        usage = Path(tmp) / "usage.json"
        env = {**(env or os.environ), "FAULTCHECK_SHARD_USAGE": str(usage)}
        cmd = [sys.executable, str(CHILD), SPEC, json.dumps(params), json.dumps(options)]
        t = time.perf_counter()
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise Skip(f"timed out after {timeout:.0f} s") from None
        wall = time.perf_counter() - t
        if p.returncode != 0:
            tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise Skip(f"the child exited {p.returncode}: {tail[0][:200]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        if r["verdict"] != "holds":
            raise Skip(f"verdict {r['verdict']}: {r['reason'][:200]}")
        r["process_wall"] = wall
        r["usage"] = json.loads(usage.read_text()) if usage.is_file() else None
    return r


def start_cluster():
    """tests/raycluster.py's LocalCluster, entered; and the seconds it took."""
    spec = importlib.util.spec_from_file_location("faultcheck_scale_raycluster", ROOT / "tests" / "raycluster.py")
    if spec is None or spec.loader is None:
        raise Skip("no tests/raycluster.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    why = mod.ray_available()
    if why is not None:
        raise Skip(why)
    t = time.perf_counter()
    cluster = mod.LocalCluster()
    try:
        cluster.__enter__()
    except Exception as e:
        raise Skip(f"the local Ray cluster did not start: {str(e).strip().splitlines()[0][:200]}") from None
    return cluster, time.perf_counter() - t


def figures(name: str, r: dict, one: dict | None) -> dict:
    """The derived figures of one configuration's run (raw numbers, no projections)."""
    distinct, generated = r["distinct"], r["generated"]
    pools = r.get("pools") or []
    shards = [s for p in pools for s in p["shards"]]
    usage = (r.get("usage") or {}).get("shards") or []
    by_pid = {u["pid"]: u for u in usage}
    workers_cpu = r["children_cpu_seconds"]
    if any(p["kind"] == "RayPool" for p in pools):  # actors are no children of the coordinator
        workers_cpu = sum((s.get("cpu_end") or 0) - (s.get("cpu_start") or 0) for s in shards)
    cpu = r["cpu_seconds"] + workers_cpu
    ray_rss = sum(p.get("ray_init_rss") or 0 for p in pools)
    added = r["peak"] - r["rss_before"] - ray_rss
    if shards and all(s.get("peak") is not None and s.get("rss_start") is not None for s in shards):
        added += sum(s["peak"] - s["rss_start"] for s in shards)
    elif shards:
        added = None
    f = {
        "name": name, "distinct": distinct, "generated": generated, "depth": r["depth"],
        "seconds": r["seconds"], "process_seconds": r["process_wall"], "call_seconds": r["call_seconds"],
        "speedup": (one or r)["seconds"] / r["seconds"] if r["seconds"] > 0 else None,
        "cpu_seconds": cpu, "coordinator_cpu_seconds": r["cpu_seconds"], "workers_cpu_seconds": workers_cpu,
        "cpu_us_per_generated": 1e6 * cpu / generated if generated else None,
        "cpu_us_per_distinct": 1e6 * cpu / distinct if distinct else None,
        "coordinator_peak": r["peak"], "coordinator_rss_before": r["rss_before"],
        "bytes_per_state": added / distinct if added is not None and distinct else None,
        "peak_per_state": r["peak"] / distinct if distinct else None,
        "replicas": r.get("replicas") or [],
    }
    if usage:
        held = [u["held"] for u in usage]
        sent = sum(u["sent_bytes"] or 0 for u in usage)
        f.update({
            "spread_depth": r["usage"].get("spread_depth"),
            "balance": max(held) / (sum(held) / len(held)) if sum(held) else None,
            "sent_bytes": sent, "sent_states": sum(u["sent_states"] or 0 for u in usage),
            "sent_bytes_per_generated": sent / generated if generated else None,
            "sent_bytes_per_distinct": sent / distinct if distinct else None,
        })
    per = []
    for s in shards:
        u = by_pid.get(s["pid"], {})
        held = u.get("held")
        shard_cpu = (s["cpu_end"] - s["cpu_start"]) if s.get("cpu_end") is not None and s.get("cpu_start") is not None \
            else None

        def per_held(x, held=held):
            return x / held if x is not None and held else None

        per.append({
            "pid": s["pid"], "node": s.get("node"), "held": held, "share": held / distinct if held is not None else None,
            "rss_end": u.get("rss", s.get("rss_end")), "rss_start": s.get("rss_start"), "peak": s.get("peak"),
            "private_start": s.get("private_start"), "private_end": s.get("private_end"),
            "rss_per_held": per_held(u.get("rss", s.get("rss_end"))),
            "added_per_held": per_held(s["peak"] - s["rss_start"]) if s.get("peak") is not None
            and s.get("rss_start") is not None else None,
            "private_per_held": per_held(s.get("private_end")),
            "cpu_seconds": shard_cpu, "cpu_seconds_usage": u.get("cpu"),
            "cpu_us_per_held": 1e6 * shard_cpu / held if shard_cpu is not None and held else None,
            "sent_bytes": u.get("sent_bytes"), "sent_states": u.get("sent_states"),
            "sent_bytes_per_generated": u["sent_bytes"] / generated if u.get("sent_bytes") is not None else None,
        })
    f["shards"] = per
    if pools:
        f["pool_start_seconds"] = pools[0]["start_seconds"]
        if pools[0]["kind"] == "RayPool":
            f["ray_init_seconds"] = pools[0]["ray_init"]
            f["actor_start_seconds"] = pools[0]["start_seconds"] - (pools[0]["ray_init"] or 0)
            f["ray_init_rss"] = pools[0]["ray_init_rss"]
            f["nodes"] = sorted({s.get("node") for s in shards if s.get("node")})
    return f


def fmt(x, spec: str = ",.0f", none: str = "—") -> str:
    return none if x is None else format(x, spec)


def print_tables(results: dict, skipped: dict) -> None:
    cols = [("configuration", 13, "<"), ("seconds", 8, ">"), ("process s", 9, ">"), ("speedup", 7, ">"),
            ("CPU s", 7, ">"), ("CPU µs/gen", 10, ">"), ("CPU µs/dist", 11, ">"), ("coord peak MB", 13, ">"),
            ("B/state", 8, ">"), ("balance", 7, ">"), ("sent B/gen", 10, ">"), ("sent B/dist", 11, ">")]

    def line(cells):
        return " ".join(f"{c:{a}{w}}" for c, (_, w, a) in zip(cells, cols)).rstrip()

    print(line([c for c, _, _ in cols]))
    print("-" * 130)
    for name in CONFIGS:
        if name in skipped:
            print(f"{name:<13} n/a ({skipped[name]})")
            continue
        if name not in results:
            continue
        f = results[name]
        print(line([name, fmt(f["seconds"], ".2f"), fmt(f["process_seconds"], ".2f"), fmt(f["speedup"], ".2f"),
                    fmt(f["cpu_seconds"], ".2f"), fmt(f["cpu_us_per_generated"], ".2f"),
                    fmt(f["cpu_us_per_distinct"], ".2f"), fmt(f["coordinator_peak"] / MB, ".1f"),
                    fmt(f["bytes_per_state"], ".0f"), fmt(f.get("balance"), ".4f"),
                    fmt(f.get("sent_bytes_per_generated"), ".2f"), fmt(f.get("sent_bytes_per_distinct"), ".2f")]))
    shard_cols = [("shard", 13, "<"), ("held", 9, ">"), ("share", 6, ">"), ("end RSS MB", 10, ">"),
                  ("RSS B/held", 10, ">"), ("added B/held", 12, ">"), ("private B/held", 14, ">"),
                  ("peak MB", 8, ">"), ("CPU s", 7, ">"), ("CPU µs/held", 11, ">"), ("sent MB", 8, ">"),
                  ("sent states", 11, ">")]

    def sline(cells):
        return " ".join(f"{c:{a}{w}}" for c, (_, w, a) in zip(cells, shard_cols)).rstrip()

    rows = [(n, f) for n, f in results.items() if f["shards"]]
    if rows:
        print()
        print(sline([c for c, _, _ in shard_cols]))
        print("-" * 130)
        for name, f in rows:
            for i, s in enumerate(f["shards"]):
                print(sline([f"{name}/{i}", fmt(s["held"]), fmt(s["share"], ".3f"), fmt(_mb(s["rss_end"]), ".1f"),
                             fmt(s["rss_per_held"]), fmt(s["added_per_held"]), fmt(s["private_per_held"]),
                             fmt(_mb(s["peak"]), ".1f"), fmt(s["cpu_seconds"], ".2f"), fmt(s["cpu_us_per_held"], ".2f"),
                             fmt(_mb(s["sent_bytes"]), ".2f"), fmt(s["sent_states"])]))
    for name, f in results.items():
        for i, rep in enumerate(f["replicas"]):
            print(f"{name}: replica {i} (pid {rep['pid']}): peak {fmt(_mb(rep['peak']), '.1f')} MB, resident "
                  f"{fmt(_mb(rep['rss_end']), '.1f')} MB at the end ({fmt(_mb(rep['private_end']), '.1f')} MB private), "
                  f"CPU {fmt(rep['cpu_end'], '.2f')} s; it holds every state too")


def _mb(x):
    return None if x is None else x / MB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rms", type=int, default=7, help="TwoPhase.tla's resource managers (default 7: 296,448 states)")
    ap.add_argument("--no-ray", dest="ray", action="store_false", help="skip ray2 (and the cluster's start)")
    ap.add_argument("--only", nargs="+", choices=list(CONFIGS), help="run only these configurations (one is "
                    "always run: the speedups are against it)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed to each run (default 1800)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure, raw and derived, to FILE as JSON")
    args = ap.parse_args()
    names = [n for n in CONFIGS if not args.only or n in args.only or n == "one"]
    params = {"rms": args.rms}
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    print(f"faultcheck scale — TwoPhase.tla N={args.rms} ({SPEC} --set rms={args.rms}); {os.cpu_count()} cores "
          f"({usable} usable); {platform.python_implementation()} {platform.python_version()}; "
          f"{platform.platform(terse=True)}; load average {load()} at start", flush=True)
    raw: dict[str, dict] = {}
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    cluster, cluster_seconds = None, None
    try:
        for name in names:
            options, env = dict(CONFIGS[name]), None
            if options.get("ray") == CLUSTER:
                if not args.ray:
                    skipped[name] = "--no-ray"
                    continue
                try:
                    if cluster is None:
                        print("starting a 2-node Ray cluster on 127.0.0.1 ...", flush=True)
                        cluster, cluster_seconds = start_cluster()
                except Skip as e:
                    skipped[name] = str(e)
                    continue
                options["ray"], env = cluster.address, cluster.env
            print(f"{name}: {json.dumps(options)} ...", flush=True)
            try:
                raw[name] = child(params, options, args.timeout, env)
            except Skip as e:
                skipped[name] = str(e)
                continue
            results[name] = figures(name, raw[name], results.get("one"))
    finally:
        if cluster is not None:
            try:
                cluster.stop()
            except RuntimeError as e:
                print(f"scale: stopping the local Ray cluster: {e}", file=sys.stderr)
    if "ray2" in results:
        results["ray2"]["cluster_start_seconds"] = cluster_seconds
    counts = {(f["distinct"], f["generated"]) for f in results.values()}
    print(f"load average {load()} at the end\n")
    print_tables(results, skipped)
    print()
    if len(counts) > 1:
        print(f"COUNTS DIFFER between configurations: {sorted(counts)}")
    elif counts:
        (d, g), = counts
        print(f"every configuration: {d:,} distinct states, {g:,} generated")
    for name, f in results.items():
        if (CONFIGS[name].get("sharded") or CONFIGS[name].get("ray")) and not f["shards"]:
            print(f"{name}: did not spread out (no level reached 4,096 states): one process did it all")
    if "ray2" in results and "ray_init_seconds" in results["ray2"]:
        f = results["ray2"]
        print(f"ray2: cluster start {fmt(cluster_seconds, '.1f')} s (not in any figure above); in its seconds: "
              f"ray.init {fmt(f['ray_init_seconds'], '.2f')} s (Ray's import included; it added "
              f"{fmt(_mb(f['ray_init_rss']), '.0f')} MB to the coordinator), actor start and spec loading "
              f"{fmt(f['actor_start_seconds'], '.2f')} s; nodes of the actors: {len(f['nodes'])}")
    for name in ("sharded1", "sharded2", "ray2"):
        if name in results and results[name].get("spread_depth") is not None:
            print(f"{name}: spread out at depth {results[name]['spread_depth']} (the levels before it are "
                  f"expanded by the coordinator alone)")
    print("seconds: the engine's; process s: the child process's wall-clock; CPU: every process of the search "
          "while it ran; B/state: what every process added at its peak, over distinct states; sent: pickled "
          "batches between shards after the spread")
    if args.json:
        out = {"rms": args.rms, "spec": SPEC, "machine": {"cores": os.cpu_count(), "usable_cores": usable,
                                                          "python": platform.python_version()},
               "cluster_start_seconds": cluster_seconds, "skipped": skipped, "figures": results, "raw": raw}
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
