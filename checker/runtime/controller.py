"""Starts a protocol's cluster (one `checker.runtime.host` process per node, each in its own process
group, on free loopback ports), runs a seeded client workload, injects real faults on a seeded
schedule, records the clients' history and takes consistent snapshots to check invariants.

Faults: `crash` (SIGKILL; with restarts, the process is started again later and reloads its
durable file; the controller tells live nodes with `on_peer_crash`, as a perfect failure
detector), `partition` (messages between the sides wait until the heal, as in the model), `drop`
and `duplicate` (a node's next message), and with [time] `clock_jump` (a live node's clock moves by
1..`jump` units, forward or back); every clock also starts off global time by an offset within
`max_skew` (`plan_offsets`), and times are judged relative to their node's clock, as the checker keeps
them. The schedule (`plan_faults`) depends on the seed alone and
never exceeds the options' budget (`budget()`; `faultcheck run` takes it from the spec); real timing
is not reproducible, so neither is the history. A host that exits on its own (not by a SIGKILL the
controller sent) ends the run (`RunReport.unasked`); Ctrl-C ends it too (`interrupted`), with what
was recorded so far. Every process is stopped at the end, on exceptions and Ctrl-C too (try/finally,
an atexit hook, process groups; and a host exits when its controller connection closes). `claim_out`
guards the output folder: faultcheck writes only into a folder it created (a marker file says so).
Judging the history is the caller's (the runtime imports only `checker.model`). Standard library only.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.schema import Record, SchemaError
from ..model.state import StateSchema
from .cluster import CLOCK_BASE, DEFAULT_TICK, Cluster, ClusterFile, load_protocol
from .storage import DurableStore, StorageError

FAULTS = ("crash", "partition", "drop", "duplicate", "clock_jump")
LOOPBACK = "127.0.0.1"
MARKER = ".faultcheck-out"  # in a folder faultcheck created for its output: it may write there again
POLL = 0.05  # seconds between two looks at the hosts' processes
_GROUPS: set[int] = set()  # process groups of hosts still running, for the atexit hook


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    _GROUPS.discard(pgid)


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_GROUPS):
        _kill_group(pgid)


class RunError(Exception):
    """The cluster could not be run (a host that does not start, a bad option): one line."""


class OutError(RunError):
    """The output folder cannot be used (not empty and not faultcheck's): one line naming it."""


class Interrupted(Exception):
    """Ctrl-C while the hosts were starting: the run stops with what it has."""


@contextlib.contextmanager
def sigint_calls(callback: Callable[[], None]) -> Any:
    """Within the running event loop, Ctrl-C calls `callback` instead of raising KeyboardInterrupt
    (where the loop cannot take signals, outside the main thread, nothing changes)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):
        installed = False
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How to run a cluster: for how long, which faults, the seed, where files go, timer durations,
    and the fault model (which nodes may crash, whether they restart, how many may be down)."""

    duration: float = 5.0
    faults: tuple[str, ...] = ()
    seed: int = 0
    out: Path = Path(".faultcheck/run")
    timer_default: float = 0.2
    timers: dict[str, float] = field(default_factory=dict)
    request_interval: float = 0.1  # mean seconds between two requests of one client
    fault_interval: float = 0.6  # mean seconds between two faults
    settle: float = 0.5  # seconds of quiet (no requests, no faults, healed) before the final snapshot
    snapshot_every: float = 0.5  # seconds between two consistent snapshots (invariants checked on each)
    crashable: tuple[str, ...] | None = None  # roles or node ids; None: every node
    restarts: bool = True  # a killed node is started again after a while
    max_crashes: int | None = None  # kills in all (None: no limit)
    max_down: int | None = 1  # nodes down at once (None: no limit but the crashes)
    max_partitions: int | None = None  # partitions in all, each healed (None: no limit)
    max_drops: int | None = None  # messages dropped in all (None: no limit)
    max_duplicates: int | None = None  # messages duplicated in all (None: no limit)
    splits: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] | None = None  # allowed partitions (None: any)
    invariants: tuple[str, ...] | None = None  # None: every invariant of the protocol
    startup_timeout: float = 10.0
    own_out: bool = False  # `out` is faultcheck's own default folder: take it even without the marker
    timed: bool = False  # the spec has a [time] section: every node has a clock
    tick_seconds: float = DEFAULT_TICK  # one time unit in real seconds
    max_skew: int = 0  # each clock starts this many units or fewer off global time
    max_clock_jumps: int | None = None  # clock jumps in all (None: no limit)
    jump: int = 1  # each jump moves one clock by 1..jump units, forward or back

    def budget(self) -> dict[str, Any]:
        """The fault budget as JSON: how many of each fault may be injected (null: no limit)."""
        return {
            "crashes": self.max_crashes,
            "restarts": self.restarts,
            "max_down": self.max_down,
            "crashable": None if self.crashable is None else list(self.crashable),
            "partitions": self.max_partitions,
            "drops": self.max_drops,
            "duplicates": self.max_duplicates,
            **({"clock_jumps": self.max_clock_jumps, "jump": self.jump, "max_skew": self.max_skew} if self.timed else {}),
        }

    def allowed(self, kind: str) -> bool:
        """Whether the budget allows at least one fault of this kind (clock jumps: only with clocks)."""
        if kind == "clock_jump" and not self.timed:
            return False
        limit = {"crash": self.max_crashes, "partition": self.max_partitions, "drop": self.max_drops,
                 "duplicate": self.max_duplicates, "clock_jump": self.max_clock_jumps}[kind]
        return limit is None or limit > 0


@dataclass
class RunReport:
    """What happened in a run."""

    nodes: tuple[str, ...]
    history: list[dict[str, Any]]  # Jepsen-shaped entries in real-time order
    plan: list[dict[str, Any]]  # the fault schedule (from the seed)
    faults: list[dict[str, Any]]  # the faults injected, with when (seconds from the start)
    errors: list[dict[str, Any]]  # handlers that raised: node, handler, context, traceback
    invariants: dict[str, str]  # name -> "holds" | "violated" | "unchecked: why"
    violation: dict[str, Any] | None  # the first snapshot that broke an invariant
    snapshots: int
    final: dict[str, dict[str, Any]]  # node -> fields (JSON) at the end
    down: tuple[str, ...]  # nodes down at the end
    requests: int
    dropped_frames: int
    seconds: float
    out: Path
    budget: dict[str, Any] = field(default_factory=dict)  # RunOptions.budget()
    used: dict[str, int] = field(default_factory=dict)  # faults injected, by kind
    unasked: dict[str, Any] | None = None  # a host that exited on its own: node, status or signal, message
    interrupted: bool = False  # Ctrl-C ended the run early
    clocks: dict[str, Any] | None = None  # with [time]: tick_seconds, max_skew, initial and final clock offsets


def used_faults(done: list[dict[str, Any]]) -> dict[str, int]:
    """How many faults of each kind were injected, in the budget's terms."""
    names = {"crash": "crashes", "restart": "restarts", "partition": "partitions", "drop": "drops",
             "duplicate": "duplicates", "clock_jump": "clock_jumps"}
    out = dict.fromkeys(names.values(), 0)
    for f in done:
        if f["kind"] in names:
            out[names[f["kind"]]] += 1
    return out


def claim_out(out: Path, what: str, *, own: bool = False) -> None:
    """Make `out` faultcheck's output folder, or refuse (RunError): a new or empty folder is created and
    marked (`MARKER`); a non-empty one only if faultcheck marked it earlier (or `own`: the default folder).
    Nothing in it is deleted here; the caller replaces only the files it writes."""
    if out.exists() and not out.is_dir():
        raise OutError(f"{out}: --out: not a folder")
    if out.is_dir() and not (out / MARKER).is_file() and not own and any(out.iterdir()):
        raise OutError(
            f"{out}: --out: the folder is not empty and faultcheck did not create it (no {MARKER} in it); "
            "give a new or empty folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text(f"written by {what}: it may replace its own files here\n", encoding="utf-8")
    except OSError as e:
        raise OutError(f"{out}: --out: {e.strerror or e}") from None


def exit_text(node: str, code: int) -> str:
    """How a process ended, from its Popen return code: "exited with status 3", "died of SIGSEGV"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{node} died of {name}"
    return f"{node} exited with status {code}"


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on the loopback interface (held open together while chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def plan_offsets(cluster: Cluster, options: RunOptions) -> dict[str, int]:
    """Each node's initial clock offset (its skew), in [-max_skew, max_skew]: a function of the seed alone.

    >>> from protocols.two_phase_commit import TwoPhaseCommit
    >>> offsets = plan_offsets(Cluster(TwoPhaseCommit(rms=2)), RunOptions(seed=3, timed=True, max_skew=1))
    >>> len(offsets), all(-1 <= v <= 1 for v in offsets.values())
    (3, True)
    """
    if not options.timed:
        return {}
    rng = random.Random(f"clocks:{options.seed}")
    return {n: rng.randint(-options.max_skew, options.max_skew) for n in cluster.names}


def plan_faults(cluster: Cluster, options: RunOptions) -> list[dict[str, Any]]:
    """The fault schedule: a function of the seed, the cluster and the options alone, within the
    options' budget (crashes, restarts, nodes down at once, partitions, drops, duplicates, clock jumps).

    >>> from protocols.two_phase_commit import TwoPhaseCommit
    >>> c = Cluster(TwoPhaseCommit(rms=2))
    >>> plan = plan_faults(c, RunOptions(duration=2, faults=("crash",), seed=1))
    >>> plan == plan_faults(c, RunOptions(duration=2, faults=("crash",), seed=1)), plan[0]["kind"]
    (True, 'crash')
    """
    rng = random.Random(f"faults:{options.seed}")
    names = cluster.names
    crashable = [
        n
        for n in names
        if options.crashable is None or n in options.crashable or cluster.role_of[n] in options.crashable
    ]
    down: dict[str, float] = {}  # node -> when it restarts (inf: never)
    healed_at = 0.0
    left = {  # what the budget still allows, by kind (None: no limit)
        "crash": options.max_crashes,
        "partition": options.max_partitions if len(names) > 1 else 0,
        "drop": options.max_drops,
        "duplicate": options.max_duplicates,
        "clock_jump": options.max_clock_jumps if options.allowed("clock_jump") else 0,
    }
    max_down = len(names) if options.max_down is None else options.max_down
    plan: list[dict[str, Any]] = []
    kinds = [k for k in FAULTS if k in options.faults and left[k] != 0]
    t = 0.2 + rng.uniform(0.2, 1.0) * options.fault_interval
    while kinds and t < options.duration:
        for n in [n for n, r in down.items() if r <= t]:
            del down[n]
        kind = rng.choice(kinds)
        planned = False
        if kind == "crash":
            live = [n for n in crashable if n not in down]
            if live and len(down) < max_down:
                node = rng.choice(live)
                planned = True
                plan.append({"at": round(t, 3), "kind": "crash", "node": node})
                if options.restarts:
                    back = min(t + rng.uniform(0.3, 0.8), options.duration)
                    plan.append({"at": round(back, 3), "kind": "restart", "node": node})
                    down[node] = back
                else:
                    down[node] = float("inf")
        elif kind == "partition" and t >= healed_at:
            if options.splits:
                a, b = rng.choice(options.splits)
            else:
                order = list(names)
                rng.shuffle(order)
                cut = rng.randint(1, len(order) - 1)
                a, b = order[:cut], order[cut:]
            heal = min(t + rng.uniform(0.3, 0.8), options.duration)
            plan.append({"at": round(t, 3), "kind": "partition", "groups": [sorted(a), sorted(b)]})
            plan.append({"at": round(heal, 3), "kind": "heal"})
            healed_at = heal
            planned = True
        elif kind in ("drop", "duplicate"):
            plan.append({"at": round(t, 3), "kind": kind, "node": rng.choice(names)})
            planned = True
        elif kind == "clock_jump":  # a live node's clock moves by 1..jump units, forward or back (as in the model)
            live = [n for n in names if n not in down]
            if live:
                by = rng.randint(1, options.jump) * rng.choice((-1, 1))
                plan.append({"at": round(t, 3), "kind": "clock_jump", "node": rng.choice(live), "by": by})
                planned = True
        if planned and left[kind] is not None:
            left[kind] -= 1
            if left[kind] == 0:
                kinds.remove(kind)
        t += rng.uniform(0.5, 1.5) * options.fault_interval
    plan.sort(key=lambda e: e["at"])  # stable: a crash and its restart keep their order
    return plan


class _Conn:
    """The control connection of one running host."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, incarnation: int):
        self.reader, self.writer, self.incarnation = reader, writer, incarnation
        self.waiting: dict[int, asyncio.Future] = {}
        self.closed = False


class Controller:
    """Runs one cluster of `protocol` ("module:Class") with `params`; `paths` are folders to import
    its module from. `echo` gets one line per thing that happens (None: silent)."""

    def __init__(
        self,
        protocol: str,
        params: dict[str, Any],
        options: RunOptions,
        paths: tuple[str, ...] = (),
        echo: Callable[[str], None] | None = None,
    ):
        self.ref, self.params, self.options, self.paths = protocol, dict(params), options, tuple(paths)
        self.echo = echo or (lambda line: None)
        self.protocol = load_protocol(protocol, params, paths)
        self.cluster = Cluster(self.protocol, timed=options.timed)
        self.offsets: dict[str, int] = plan_offsets(self.cluster, options)  # each clock's offset now, in units
        self.initial_offsets = dict(self.offsets)
        self.epoch_ns = time.monotonic_ns()  # the clocks' start (set again when the cluster starts)
        self.procs: dict[str, subprocess.Popen] = {}
        self.conns: dict[str, _Conn] = {}
        self.incarnations: dict[str, int] = {n: 0 for n in self.cluster.names}
        self.hello: dict[str, asyncio.Event] = {}
        self.down: set[str] = set()
        self.group_of: dict[str, list[str]] | None = None
        self.events: list[tuple[int, int, str, int, dict]] = []  # (t, arrival, node, incarnation, event)
        self.errors: list[dict[str, Any]] = []
        self.faults_done: list[dict[str, Any]] = []
        self.requests = 0
        self.next_id = 0
        self.t0 = time.monotonic()
        self.lock: asyncio.Lock | None = None
        self.invariant_status: dict[str, str] = {}
        self.violation: dict[str, Any] | None = None
        self.snapshots = 0
        self.final: dict[str, dict[str, Any]] = {}
        self.dropped = 0
        self.unasked: dict[str, Any] | None = None  # the first host that exited on its own
        self.interrupted = False
        self.stop_event: asyncio.Event | None = None
        preds = self.protocol.predicates("invariant")
        wanted = options.invariants if options.invariants is not None else tuple(preds)
        self.invariants = {n: preds[n] for n in wanted if n in preds}
        records = {  # a real node's times are judged relative to its clock, as the checker keeps them
            n: Record(self.cluster.classes[n].__name__, **self.cluster.view_types[self.cluster.role_of[n]])
            for n in self.cluster.names
        }
        self.schema = StateSchema(records, groups=self.cluster.groups)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        self.echo(f"{self.now():6.2f}s  {text}")

    def clock_of(self, node: str) -> int:
        """Node's clock reading now (as its host computes it: the machine's monotonic clock is shared)."""
        tick_ns = max(1, round(self.options.tick_seconds * 1e9))
        return CLOCK_BASE + (time.monotonic_ns() - self.epoch_ns) // tick_ns + self.offsets.get(node, 0)

    # -- processes -------------------------------------------------------------------------------
    host_flags: tuple[str, ...] = ()  # extra arguments of every host (live replay: "--replay")

    def spawn(self, node: str) -> None:
        inc = self.incarnations[node]
        log = open(self.logs / f"{node}.log", "ab")  # noqa: SIM115 (the child keeps it)
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root, *self.paths, *filter(None, [env.get("PYTHONPATH")])])
        self.hello[node] = asyncio.Event()
        clock = ["--clock-offset", str(self.offsets[node])] if self.options.timed else []
        proc = subprocess.Popen(
            [sys.executable, "-m", "checker.runtime.host", str(self.cluster_file), node, "--incarnation", str(inc),
             *clock, *self.host_flags],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            cwd=self.options.out,
        )
        log.close()
        self.procs[node] = proc
        _GROUPS.add(proc.pid)

    def log_tail(self, node: str) -> str:
        """The last line of a node's log ("" when it has none)."""
        with contextlib.suppress(OSError, IndexError):
            return (self.logs / f"{node}.log").read_text(errors="replace").strip().splitlines()[-1]
        return ""

    def note(self, node: str, text: str) -> None:
        """Append a line to a node's log (for what the node cannot write itself: its SIGKILL)."""
        with contextlib.suppress(OSError), open(self.logs / f"{node}.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {node}: {text}\n")

    async def started(self, nodes: list[str]) -> None:
        """Wait for the hosts' hello; RunError if one exits first or is late; `Interrupted` on Ctrl-C."""
        deadline = time.monotonic() + self.options.startup_timeout
        while not all(self.hello[n].is_set() for n in nodes):
            if self.interrupted:
                raise Interrupted
            for n in nodes:
                proc = self.procs.get(n)
                code = None if proc is None else proc.poll()
                if code is not None and not self.hello[n].is_set():
                    tail = self.log_tail(n)
                    raise RunError(f"{exit_text(n, code)} while starting" + (f": {tail}" if tail else ""))
            if time.monotonic() > deadline:
                late = [n for n in nodes if not self.hello[n].is_set()]
                tail = self.log_tail(late[0])
                raise RunError(
                    f"{', '.join(late)} did not start within {self.options.startup_timeout:g} s"
                    + (f": {tail}" if tail else "")
                )
            await asyncio.sleep(POLL)

    def kill(self, node: str) -> None:
        proc = self.procs.pop(node, None)
        if proc is None:
            return
        _kill_group(proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        conn = self.conns.pop(node, None)
        if conn is not None:
            self._close(conn)

    def exited(self) -> dict[str, Any] | None:
        """The first host (in node order) whose process ended without the controller killing it."""
        for node in self.cluster.names:
            proc = self.procs.get(node)
            code = None if proc is None else proc.poll()
            if code is not None:
                self.procs.pop(node)
                _GROUPS.discard(proc.pid)  # type: ignore[union-attr]
                what, tail = exit_text(node, code), self.log_tail(node)
                self.note(node, f"{what.split(' ', 1)[1]} (not a fault faultcheck injected)")
                return {
                    "node": node,
                    "at": round(self.now(), 3),
                    "status": code if code >= 0 else None,
                    "signal": None if code >= 0 else what.rsplit(" ", 1)[-1],
                    "message": f"{what} unasked (not a fault faultcheck injected)",
                    "last_log_line": tail,
                }
        return None

    async def watch(self, stop: asyncio.Event) -> None:
        """Ends the run when a host exits on its own (os._exit in a handler, an uncaught error, a signal
        from elsewhere): the controller's own kills take the process out of `procs` first."""
        while not stop.is_set():
            found = self.exited()
            if found is not None:
                self.unasked = found
                self.say(f"ERROR {found['message']}")
                stop.set()
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL)

    def interrupt(self) -> None:
        """Ctrl-C: stop the run where it is (the loop's SIGINT handler)."""
        self.interrupted = True
        if self.stop_event is not None:
            self.stop_event.set()

    async def pause(self, seconds: float) -> None:
        """Sleep, unless Ctrl-C comes first."""
        deadline = time.monotonic() + seconds
        while not self.interrupted and time.monotonic() < deadline:
            await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    def stop_all(self) -> None:
        for node in list(self.procs):
            self.kill(node)

    # -- control connections ----------------------------------------------------------------------
    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            hello = json.loads(line)
            node = hello["node"]
        except (ValueError, KeyError, TypeError, OSError, asyncio.CancelledError):
            writer.close()
            return
        conn = _Conn(reader, writer, int(hello.get("incarnation", 0)))
        self.conns[node] = conn
        self.hello[node].set()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                with contextlib.suppress(ValueError):
                    self.received(node, conn, json.loads(line))
        except (OSError, ConnectionError, asyncio.CancelledError):
            pass  # cancelled: the run is over (asyncio would report a cancelled connection handler)
        finally:
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        conn.closed = True
        for fut in conn.waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the node went down"))
        conn.waiting.clear()
        conn.writer.close()

    def received(self, node: str, conn: _Conn, msg: dict[str, Any]) -> None:
        if "re" in msg:
            fut = conn.waiting.pop(msg["re"], None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif msg.get("event") == "history":
            self.events.append((int(msg["t"]), len(self.events), node, conn.incarnation, msg))
        elif msg.get("event") == "error":
            err = {
                "at": round(self.now(), 3),
                "node": node,
                **{k: msg.get(k) for k in ("handler", "context", "traceback")},
            }
            self.errors.append(err)
            last = (msg.get("traceback") or "").strip().splitlines()[-1:] or [""]
            self.say(f"ERROR {node}: {msg.get('handler')} ({msg.get('context')}) raised: {last[0]}")

    async def call(self, node: str, cmd: str, timeout: float = 3.0, **kw: Any) -> dict[str, Any]:
        conn = self.conns.get(node)
        if conn is None or conn.closed:
            raise ConnectionError(f"{node} is down")
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        conn.waiting[self.next_id] = fut
        conn.writer.write((json.dumps({"id": self.next_id, "cmd": cmd, **kw}) + "\n").encode())
        reply = await asyncio.wait_for(fut, timeout)
        if not reply.get("ok"):
            raise RuntimeError(f"{node}: {reply.get('error')}")
        return reply

    async def tell_all(self, cmd: str, **kw: Any) -> None:
        for node in [n for n in self.cluster.names if n not in self.down]:
            with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                await self.call(node, cmd, **kw)

    # -- faults ------------------------------------------------------------------------------------
    async def inject(self, event: dict[str, Any]) -> None:
        kind, node = event["kind"], event.get("node")
        done = {**event, "at": round(self.now(), 3), "planned": event["at"]}
        if kind == "crash":
            self.kill(node)
            self.down.add(node)
            self.note(node, "killed (SIGKILL): a crash faultcheck injected")
            self.say(f"crash {node} (SIGKILL)")
            for peer in self.watchers():  # the perfect failure detector
                with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                    await self.call(peer, "peer_crash", peer=node)
        elif kind == "restart":
            self.incarnations[node] += 1
            self.spawn(node)
            await self.started([node])
            self.down.discard(node)
            if self.group_of is not None:
                await self.call(node, "partition", group=self.group_of[node])
            self.say(f"restart {node} from its durable file (incarnation {self.incarnations[node]})")
            if hasattr(self.cluster.classes[node], "on_peer_crash"):
                for peer in sorted(self.down):
                    with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                        await self.call(node, "peer_crash", peer=peer)
        elif kind == "partition":
            a, b = event["groups"]
            self.group_of = {n: (a if n in a else b) for n in self.cluster.names}
            for n in self.cluster.names:
                if n not in self.down:
                    with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                        await self.call(n, "partition", group=self.group_of[n])
            self.say(f"partition {{{', '.join(a)}}} | {{{', '.join(b)}}}")
        elif kind == "heal":
            self.group_of = None
            await self.tell_all("partition", group=None)
            self.say("heal")
        elif kind in ("drop", "duplicate"):
            if node in self.down:
                return
            with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                await self.call(node, f"{kind}_next")
            self.say(f"{kind} the next message {node} sends")
        elif kind == "clock_jump":
            if node in self.down:
                return  # the model jumps live nodes' clocks only
            by = int(event["by"])
            self.offsets[node] += by  # kept for a restart: the clock is the machine's, not the process's
            with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                await self.call(node, "clock", jump=by)
            done["offset"] = self.offsets[node]
            self.say(f"clock jump {node} {by:+d} units (its offset now {self.offsets[node]:+d})")
        self.faults_done.append(done)

    def watchers(self) -> list[str]:
        return [
            n for n in self.cluster.names if n not in self.down and hasattr(self.cluster.classes[n], "on_peer_crash")
        ]

    async def fault_loop(self, plan: list[dict[str, Any]], stop: asyncio.Event) -> None:
        assert self.lock is not None
        for event in plan:
            delay = event["at"] - self.now()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            async with self.lock:
                await self.inject(event)

    # -- workload ------------------------------------------------------------------------------------
    async def client(self, node: str, requests: dict[str, Any], stop: asyncio.Event) -> None:
        rng = random.Random(f"workload:{self.options.seed}:{node}")
        names = sorted(requests)
        values = {n: (None if t is None else list(t.values())) for n, t in requests.items()}
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 1.5) * self.options.request_interval)
            if stop.is_set() or node in self.down:
                continue
            name = rng.choice(names)
            kw: dict[str, Any] = {"name": name}
            if values[name] is not None:
                t = requests[name]
                kw["value"] = t.to_json(rng.choice(values[name]))
            with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                await self.call(node, "request", **kw)
                self.requests += 1

    # -- snapshots and invariants ------------------------------------------------------------------------
    def durable_state(self, node: str) -> dict[str, Any]:
        """A down node's fields as the model has them: durable ones from its file, volatile ones reset."""
        values = self.cluster.initial_values(node)
        store = DurableStore(self.data / f"{node}.json", self.cluster.durable_types(node), node=node)
        with contextlib.suppress(StorageError):
            values.update(store.load() or {})
        return values

    async def snapshot(self, final: bool = False) -> None:
        """Hold every live node in turn (a consistent cut), read every state, release, check."""
        up = [n for n in self.cluster.names if n not in self.down]
        held: list[str] = []
        states: dict[str, dict[str, Any]] = {}
        clocks: dict[str, int] = {}  # each node's clock reading at the cut (its times are judged relative to it)
        try:
            for n in up:
                with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                    await self.call(n, "hold", on=True)
                    held.append(n)
            for n in self.cluster.names:
                values = None
                clocks[n] = self.clock_of(n)
                if n in held:
                    with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                        reply = await self.call(n, "state")
                        values = {f: t.from_json(reply["fields"][f], f) for f, t, _, _ in self.cluster.node_fields(n)}
                        clocks[n] = reply.get("clock", clocks[n])
                        if final:
                            self.dropped += int(reply.get("dropped", 0))
                states[n] = values if values is not None else self.durable_state(n)
        finally:
            for n in held:
                with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
                    await self.call(n, "hold", on=False)
        self.snapshots += 1
        if final:
            self.final = {n: self.cluster.fields_json(n, v) for n, v in states.items()}
        self.judge(states, clocks)

    def judge(self, states: dict[str, dict[str, Any]], clocks: dict[str, int] | None = None) -> None:
        """Evaluate the invariants on a consistent cut: each node's fields, its times relative to its clock."""
        try:
            seen = {n: self.cluster.view_values(n, v, (clocks or {}).get(n)) for n, v in states.items()}
            view = self.schema.view(self.schema.encode(seen))
        except SchemaError as e:
            self.say(f"a snapshot does not fit the schema: {e}")
            return
        for name, inv in self.invariants.items():
            status = self.invariant_status.get(name, "holds")
            if status != "holds":
                continue
            try:
                ok = bool(inv(view))
            except (AttributeError, KeyError) as e:  # reads what a real run has no value for (the network, ...)
                self.invariant_status[name] = f"unchecked: it reads {e} (not part of a real node's state)"
                continue
            except Exception as e:
                self.invariant_status[name] = f"unchecked: it raised {type(e).__name__}: {e}"
                continue
            self.invariant_status[name] = "holds" if ok else "violated"
            if not ok and self.violation is None:
                self.violation = {
                    "invariant": name,
                    "at": round(self.now(), 3),
                    "state": {n: self.cluster.fields_json(n, v) for n, v in states.items()},
                    "down": sorted(self.down),
                    **({"clocks": dict(clocks)} if clocks and self.options.timed else {}),
                }
                self.say(f"VIOLATED {name} in a snapshot")

    async def snapshot_loop(self, stop: asyncio.Event) -> None:
        assert self.lock is not None
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.snapshot_every)
            if stop.is_set():
                return
            async with self.lock:
                await self.snapshot()

    # -- the run ---------------------------------------------------------------------------------------------
    def history(self) -> list[dict[str, Any]]:
        """The recorded events as Jepsen entries, in real-time order; a restarted client is a new process."""
        hist = getattr(type(self.protocol), "history", None)
        keyed = hist is not None and hist.keys is not None
        index = {n: i for i, n in enumerate(self.cluster.names)}
        out = []
        for t, _, node, inc, ev in sorted(self.events):
            value = ev.get("value")
            if keyed and ev["kind"] == "invoke" and ev["f"] == "get" and not isinstance(value, list):
                value = [value, None]
            out.append(
                {
                    "process": index[node] + len(index) * inc,
                    "type": ev["kind"],
                    "f": ev["f"],
                    "value": value,
                    "time": max(0, t - int(self.t0 * 1e9)),
                    "node": node,
                }
            )
        return out

    async def main(self) -> RunReport:
        with sigint_calls(self.interrupt):
            return await self._main()

    async def _main(self) -> RunReport:
        o = self.options
        self.lock = asyncio.Lock()
        stop = self.stop_event = asyncio.Event()
        server = await asyncio.start_server(self.accept, LOOPBACK, 0)
        control_port = server.sockets[0].getsockname()[1]
        ports = free_ports(len(self.cluster.names))
        self.epoch_ns = time.monotonic_ns()
        cfg = ClusterFile(
            protocol=self.ref,
            params=self.params,
            paths=self.paths,
            ports=dict(zip(self.cluster.names, ports)),
            control_port=control_port,
            data_dir=str(self.data),
            timer_default=o.timer_default,
            timers=dict(o.timers),
            seed=o.seed,
            timed=o.timed,
            tick_seconds=o.tick_seconds,
            epoch_ns=self.epoch_ns,
            clock_offsets=dict(self.initial_offsets),
        )
        cfg.save(self.cluster_file)
        plan = plan_faults(self.cluster, o)
        self.save_schedule(plan)
        tasks: list[asyncio.Task] = []
        try:
            self.t0 = time.monotonic()
            for n in self.cluster.names:
                self.spawn(n)
            await self.started(list(self.cluster.names))
            self.t0 = time.monotonic()
            self.say(
                f"{len(self.cluster.names)} nodes up: "
                + ", ".join(f"{n}:{p}" for n, p in zip(self.cluster.names, ports))
            )
            if o.timed:
                self.say(
                    f"clocks: 1 unit = {o.tick_seconds:g} s; offsets (skew within ±{o.max_skew}): "
                    + ", ".join(f"{n} {v:+d}" for n, v in self.initial_offsets.items())
                )
            tasks = [asyncio.create_task(self.fault_loop(plan, stop)), asyncio.create_task(self.snapshot_loop(stop))]
            tasks += [asyncio.create_task(self.client(n, reqs, stop)) for n, reqs in self.cluster.clients().items()]
            tasks.append(asyncio.create_task(self.watch(stop)))
            for t in tasks:  # a task that fails ends the run at once
                t.add_done_callback(lambda t: t.cancelled() or t.exception() is None or stop.set())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), o.duration)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for t in tasks:
                if not t.cancelled() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            if not (self.unasked or self.interrupted):
                if self.group_of is not None:
                    await self.inject({"kind": "heal", "at": round(self.now(), 3)})
                await self.pause(o.settle)
                if not self.interrupted:
                    await self.snapshot(final=True)
                    self.unasked = self.exited()
            if self.unasked or self.interrupted:
                how = "interrupted (Ctrl-C)" if self.interrupted else self.unasked["message"]  # type: ignore[index]
                self.say(f"stopped after {self.now():.2f} s: {how}")
            else:
                self.say(f"stopped after {self.now():.2f} s; {len(self.down)} node(s) down")
                await self.tell_all("shutdown")
        except Interrupted:
            self.say("interrupted (Ctrl-C) while the nodes were starting")
        finally:
            for t in tasks:
                t.cancel()
            self.stop_all()
            server.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)  # the control connections see their ends
        return self.report(plan)

    def save_schedule(self, plan: list[dict[str, Any]]) -> None:
        o = self.options
        doc = {"seed": o.seed, "faults": list(o.faults), "budget": o.budget(), "plan": plan,
               "injected": self.faults_done, "used": used_faults(self.faults_done)}
        if o.timed:
            doc["clocks"] = self.clocks()
        (o.out / "faults.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")

    def report(self, plan: list[dict[str, Any]]) -> RunReport:
        self.save_schedule(plan)
        return RunReport(
            nodes=self.cluster.names,
            history=self.history(),
            plan=plan,
            faults=self.faults_done,
            errors=self.errors,
            invariants={n: self.invariant_status.get(n, "holds") for n in self.invariants},
            violation=self.violation,
            snapshots=self.snapshots,
            final=self.final,
            down=tuple(sorted(self.down)),
            requests=self.requests,
            dropped_frames=self.dropped,
            seconds=round(self.now(), 3),
            out=self.options.out,
            budget=self.options.budget(),
            used=used_faults(self.faults_done),
            unasked=self.unasked,
            interrupted=self.interrupted,
            clocks=self.clocks() if self.options.timed else None,
        )

    def clocks(self) -> dict[str, Any]:
        """The clocks' settings and offsets (units off global time): initial (the seed's skew) and now."""
        o = self.options
        return {"tick_seconds": o.tick_seconds, "max_skew": o.max_skew, "initial_offsets": dict(self.initial_offsets),
                "offsets": dict(self.offsets)}

    def prepare(self, what: str) -> None:
        """Claim the output folder (`claim_out`) and clear this cluster's own files in it: each node's
        durable file (a run starts from the initial states) and log. Nothing else there is touched."""
        out = self.options.out
        claim_out(out, what, own=self.options.own_out)
        self.data, self.logs = (out / "nodes").resolve(), (out / "logs").resolve()
        for d in (self.data, self.logs):
            if d.exists() and not d.is_dir():
                raise OutError(f"{d}: --out: not a folder")
            d.mkdir(exist_ok=True)
        for n in self.cluster.names:
            for f in (self.data / f"{n}.json", self.data / f".{n}.json.tmp"):
                f.unlink(missing_ok=True)
            (self.logs / f"{n}.log").write_bytes(b"")
        self.cluster_file = (out / "cluster.json").resolve()

    def run(self) -> RunReport:
        """Run the cluster to the end (blocking); every process is stopped when this returns or raises."""
        self.prepare("faultcheck run")
        try:
            return asyncio.run(self.main())
        finally:
            self.stop_all()
