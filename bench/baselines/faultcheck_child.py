"""One faultcheck search in a fresh process, for bench/run.py and bench/scale.py: prints one JSON line.

    python3 bench/baselines/faultcheck_child.py SPEC PARAMS_JSON OPTIONS_JSON

Loads SPEC with PARAMS, builds its model once (imports and set-up are not the search's memory),
reads the resident set size, runs `checker.check(spec, params=PARAMS, out=None, lint=False, **OPTIONS)`,
then reads the process's peak resident set size (VmHWM). bytes/state = (peak - before) / distinct
states: all the search added at its peak (visited store, frontier, memo tables), per state. (PARAMS go
to check() as well as to the spec: a Ray search's workers rebuild the spec from check()'s params.)

The processes a search starts are watched from this process, without changing what they do (engine
classes are wrapped here, in code compiled under a pseudo file name so that the engine's guard does not
take it for model code):

- "pools": for each set of shards (forked processes for `sharded=True`, or Ray actors for `ray=...`): the
  seconds its start took (the forks; for Ray the connection, the actors' creation and each actor loading
  the spec), "ray_init" the seconds of the first `ray.init` within that (0 when connected before; Ray's
  import included) and "ray_init_rss" the resident bytes it added to this process, and
  for each shard its pid, Ray node id (Ray only), resident bytes once started ("rss_start": the spec
  built, nothing held yet; a forked shard starts with its parent's pages), and, just before the shards
  are stopped, its resident bytes ("rss_end") and peak ("peak", VmHWM). A shard's process is read in
  /proc: on another machine (a real cluster) these are None.
- "replicas": for `workers=N` without sharding, each forked replica's resident bytes and peak just
  before it is stopped.
  Each shard's and replica's CPU seconds so far (user and system, /proc/PID/stat) are read at the same
  points ("cpu_start", "cpu_end"; a forked process counts from its fork).
- "cpu_seconds": this process's CPU seconds during the search (user and system); "children_cpu_seconds":
  those of its children reaped during it (forked shards and replicas; not Ray actors).
"""
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for protocols/

import checker  # noqa: E402
from checker.spec import load_spec  # noqa: E402


def _status_kb(field: str, pid: str | int = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _kb(field: str, pid: int) -> int | None:
    kb = _status_kb(field, pid)
    return kb * 1024 if kb is not None else None


def _private(pid: int) -> int | None:
    """Bytes resident in this process only (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup): not
    the pages a forked process still shares with its parent, nor shared libraries."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) for line in f if line.startswith(("Private_Clean:", "Private_Dirty:"))) * 1024
    except (OSError, ValueError, IndexError):
        return None


def _cpu(pid: int) -> float | None:
    """CPU seconds (user and system, all threads) a process has used so far, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    return kb * 1024 if kb is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_bytes() -> int:
    kb = _status_kb("VmHWM")  # Linux; else getrusage's maxrss (KiB on Linux, bytes on macOS)
    if kb is not None:
        return kb * 1024
    m = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return m if sys.platform == "darwin" else m * 1024


POOLS: list[dict] = []
REPLICAS: list[dict] = []

# The wrappers are compiled under a pseudo file name: the engine's guard takes code in real files outside
# faultcheck for model code, and a forked shard starts inside LocalPool.__init__ (its exit would be blamed
# on the wrapper's frame).
WATCH = """
def wrap_pool(cls, pids):
    init, close = cls.__init__, cls.close

    def __init__(self, *a, **k):
        t = time.perf_counter()
        init(self, *a, **k)
        rec = {"kind": cls.__name__, "start_seconds": time.perf_counter() - t,
               "ray_init": getattr(self, "_bench_ray_init", (None,))[0],
               "ray_init_rss": getattr(self, "_bench_ray_init", (None, None))[1],
               "shards": [{"pid": p, "rss_start": _kb("VmRSS", p), "private_start": _private(p), "cpu_start": _cpu(p)}
                          for p in pids(self)]}
        for s, node in zip(rec["shards"], self.nodes() if hasattr(self, "nodes") else ()):
            s["node"] = node
        self._bench = rec
        POOLS.append(rec)

    def close_(self, *a, **k):
        for s in getattr(self, "_bench", {"shards": []})["shards"]:
            pid = s["pid"]
            s.update(rss_end=_kb("VmRSS", pid), private_end=_private(pid), peak=_kb("VmHWM", pid), cpu_end=_cpu(pid))
        return close(self, *a, **k)

    cls.__init__, cls.close = __init__, close_


def watch_ray(onray):
    connect, rinit, seconds = onray.connect, onray.RayPool.__init__, []

    def connect_(address, workers):
        t, rss = time.perf_counter(), _kb("VmRSS", "self")
        import ray

        fresh = not ray.is_initialized()
        out = connect(address, workers)
        if fresh:
            seconds.append((time.perf_counter() - t, _kb("VmRSS", "self") - rss))
        return out

    def __init__(self, *a, **k):
        n = len(seconds)
        rinit(self, *a, **k)
        self._bench_ray_init = seconds[-1] if len(seconds) > n else (0.0, 0)

    onray.connect, onray.RayPool.__init__ = connect_, __init__


def watch_team(team):
    close = team.Team.close

    def close_(self):
        for p in self.pids:
            REPLICAS.append({"pid": p, "rss_end": _kb("VmRSS", p), "private_end": _private(p), "peak": _kb("VmHWM", p),
                             "cpu_end": _cpu(p)})
        return close(self)

    team.Team.close = close_
"""


def watch() -> None:
    """Wrap the engine's pools (forked shards, Ray actors) and replica teams to time and read them."""
    import importlib.util

    from checker.engine import distribute, team

    ns = {"time": time, "_kb": _kb, "_cpu": _cpu, "_private": _private, "POOLS": POOLS, "REPLICAS": REPLICAS}
    exec(compile(WATCH, "<faultcheck_child watch>", "exec"), ns)  # noqa: S102
    ns["wrap_pool"](distribute.LocalPool, lambda self: self.pids())
    if importlib.util.find_spec("ray") is not None:
        from checker.engine import onray

        ns["watch_ray"](onray)  # first: RayPool.__init__ sets what the pool's wrapper reads
        ns["wrap_pool"](onray.RayPool, lambda self: self.pids())
    ns["watch_team"](team)


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def main() -> None:
    path, params, options = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    spec = load_spec(path).with_params(params)
    spec.instantiate()  # imports the protocol and builds one model: not the search's cost
    watch()
    before = rss_bytes()
    cpu0, children0 = time.process_time(), _children_cpu()
    t = time.perf_counter()
    # params= again: a Ray search's workers rebuild the spec from check()'s params, not from with_params
    r = checker.check(spec, params=params, out=None, lint=False, **options)
    wall = time.perf_counter() - t
    cpu, children = time.process_time() - cpu0, _children_cpu() - children0
    peak = peak_bytes()
    st = r.stats
    print(json.dumps({
        "verdict": str(r.verdict), "ok": r.ok, "reason": r.reason,
        "distinct": st.distinct, "generated": st.generated, "depth": st.depth,
        "seconds": st.seconds, "call_seconds": wall,
        "rss_before": before, "peak": peak,
        "bytes_per_state": (peak - before) / st.distinct if st.distinct else None,
        "engine_bytes_per_state": st.bytes_per_state,
        "symmetry": r.symmetry, "workers": r.workers,
        "cpu_seconds": cpu, "children_cpu_seconds": children,
        "pools": POOLS, "replicas": REPLICAS,
    }))


if __name__ == "__main__":
    main()
