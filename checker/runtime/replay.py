"""Live replay: drive a real cluster step by step through a counterexample trace and compare.

`live_replay(trace, ...)` starts the trace's protocol as real processes on 127.0.0.1, each host
started with ``--replay``: it holds every message that arrives and runs ``on_start`` only when
told, so nothing happens but what the controller says. Then, step by step:

- ``deliver src→dst msg``: the held copy of exactly that message is delivered on dst;
- ``timer n@t``: dst fires that timer (it must be armed on the real node);
- ``request``: the client node runs that @request with the trace's argument;
- ``crash n``: SIGKILL; ``restart n``: the process starts again from its durable file (``on_start``);
- ``detect m n``: m is told (``on_peer_crash``); ``partition`` / ``heal``: the controller's own
  transport (every message is held) does not cross the sides until the heal, as in the model,
  where messages across a partition stay in flight;
- ``drop``: the held copy is discarded; ``duplicate``: the controller sends a second copy of the
  frame to its destination over TCP;
- with [time], every host's clock is virtual (set by the controller) and reads global time plus
  the offset the trace's state gives it (``clocks``): ``tick`` advances global time by `tick` units,
  ``clock`` (a clock runs ahead) and ``clock_jump`` move offsets; a crashed node's clock keeps running. Times are compared relative to their node's clock, as the
  model keeps them, and so are the timers' ``due_in``; a message's age is the model's bookkeeping.

After every step each live node reports its state (its fields, decoded; its armed timers; the
messages held for it) and it is compared with the trace's state: each node's fields (a crashed
node's durable fields are read from its durable file), timers, the in-flight messages, the
clients' history and who is down. A killed process loses the messages held for it, which the
model keeps in flight (unless ``lose_on_crash``): the controller keeps those copies and sends them
again, with their original sender, when the trace delivers one. The first difference is a
divergence (step, field, the real value and the model's). When every step matched, the trace's
property is evaluated on the real final state (the nodes' real fields, timers, in-flight messages
and history) with the model's own predicate; a lasso must end in a state equal to its cycle's start.

The output folder is claimed as `faultcheck run` claims it (`controller.claim_out`); the replay
writes `report.json` (the result) and `history.json` (the clients' events) there, also when Ctrl-C
stops it (`LiveResult.interrupted`), after every process is stopped.

Imports `checker.model`, the trace format and the runtime; the caller (the CLI) supplies the
state schema and the property's predicate, so the engine is never loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.node import choice_text
from ..model.schema import Map, OneOf, SchemaError, Type
from ..model.state import StateSchema
from ..model.time import TimeSlot
from ..trace.format import Trace, TraceStep
from .cluster import CLOCK_BASE, AbsTime, ClusterFile, HandlerFailure, LiveNode, relative_values
from .controller import LOOPBACK, Controller, Interrupted, OutError, RunError, RunOptions, free_ports, sigint_calls

NEVER = 3600.0  # timers never expire on their own in a replay: the trace says when they fire
ARRIVAL_TIMEOUT = 5.0  # seconds to wait for a sent message to be held at its destination


class ReplayError(Exception):
    """A trace that cannot be replayed live (bad input): one line."""


@dataclass(frozen=True)
class Divergence:
    step: int
    label: str
    field: str  # "server1.log", "network", "timers.rm1", "history", ... or "step" when it could not be taken
    real: Any
    model: Any
    note: str = ""

    def __str__(self) -> str:
        if self.field == "step":
            return f"step {self.step} ({self.label}): {self.note}"
        extra = f" ({self.note})" if self.note else ""
        return (
            f"step {self.step} ({self.label}): {self.field} is {_short(self.real)} on the real cluster, "
            f"{_short(self.model)} in the model{extra}"
        )


@dataclass
class LiveResult:
    """reproduced: every step matched and the property's violation holds on the real final state."""

    reproduced: bool
    steps: int  # steps taken (after the initial state)
    divergence: Divergence | None = None
    message: str = ""
    final: dict[str, Any] = field(default_factory=dict)  # the real final state, as the trace writes states
    errors: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None
    interrupted: bool = False  # Ctrl-C stopped it after `steps` steps

    def to_json(self) -> dict[str, Any]:
        d = self.divergence
        return {
            "reproduced": self.reproduced,
            "interrupted": self.interrupted,
            "steps": self.steps,
            "message": self.message,
            "divergence": None
            if d is None
            else {"step": d.step, "label": d.label, "field": d.field, "real": d.real, "model": d.model, "note": d.note},
            "final": self.final,
            "errors": self.errors,
        }


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def envelopes(state: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The messages in flight in a trace's state, as {"msg", "src", "dst"} (a FIFO network's channels
    flattened, each queue head first; with [time] max_delay, the messages' ages left out: a real message
    has none); None when the state has no network."""
    if isinstance(state.get("network"), list):
        return [{k: e[k] for k in ("msg", "src", "dst")} for e in state["network"]]
    if isinstance(state.get("channels"), dict):
        out = []
        for ch, queue in state["channels"].items():
            src, _, dst = ch.partition("→")
            out += [{"msg": _unaged(m), "src": src, "dst": dst} for m in queue]
        return out
    return None


def _unaged(m: Any) -> Any:
    """A FIFO channel's entry without its age (with max_delay an entry is {"msg", "age"})."""
    return m["msg"] if isinstance(m, dict) and set(m) == {"msg", "age"} else m


def _with_ages(real: list[dict[str, Any]], model: list[Any], key: Callable[[Any], str]) -> list[Any]:
    """The real in-flight messages with the ages the model gives the same messages (the controller's
    bookkeeping, as the fault budgets are; 0 for one the model does not have)."""
    ages: dict[str, list[int]] = {}
    for m in model:
        if isinstance(m, dict) and "age" in m:
            ages.setdefault(key(m), []).append(m["age"])
    if not ages:
        return real
    return [{**e, "age": (ages.get(key(e)) or [0]).pop(0)} for e in real]


class _Branch(BaseException):  # past LiveNode.run's `except Exception`
    def __init__(self, n: int):
        self.n = n


class _Diverged(Exception):
    def __init__(self, d: Divergence):
        super().__init__(str(d))
        self.divergence = d


class _Driver(Controller):
    """The controller, with hosts started in replay mode."""

    host_flags = ("--replay",)


class LiveReplay:
    """One live replay of `trace`. `schema` is the model's state schema (to evaluate the property on
    the real state), `judge(raw) -> bool` the property's predicate (None: not a state predicate),
    `impl` the implementation to run ("module:Class"; default the trace's protocol), `paths` folders
    to import it from, `out` where the cluster's files and logs go."""

    def __init__(
        self,
        trace: Trace,
        *,
        schema: StateSchema | None = None,
        judge: Callable[[tuple], bool] | None = None,
        impl: str | None = None,
        paths: tuple[str, ...] = (),
        out: Path = Path(".faultcheck/replay"),
        own_out: bool = False,
        echo: Callable[[str], None] | None = None,
        tick: int | None = None,
    ):
        self.trace, self.schema, self.judge = trace, schema, judge
        self.echo = echo or (lambda line: None)
        self.out = Path(out)
        self.taken = 0
        first = trace.steps[0].state
        # a timed trace (the spec's [time]): every host's clock is virtual, moved as the trace's steps say
        self.timed = tick is not None or "due_in" in first or "clocks" in first
        self.tick = tick or 1  # global time's advance per tick step ([time] tick)
        offsets = self.offsets(first)
        opts = RunOptions(out=self.out, timer_default=NEVER, startup_timeout=20.0, own_out=own_out, timed=self.timed)
        try:
            self.ctl = _Driver(impl or trace.protocol, trace.params, opts, paths=paths)
        except (ValueError, TypeError) as e:  # ClusterError, a bad parameter
            raise ReplayError(str(e)) from None
        self.cluster = self.ctl.cluster
        self.codec = self.cluster.codec
        self.Msg = OneOf(*self.codec.records)
        self.names = self.cluster.names
        self.ctl.offsets = {n: int(offsets.get(n, 0)) for n in self.names} if self.timed else {}
        self.clock = {n: CLOCK_BASE + o for n, o in self.ctl.offsets.items()}  # each host's virtual clock reading
        missing = [n for n in self.names if n not in first]
        if missing:
            raise ReplayError(
                f"the trace's states have no node {missing[0]!r} (nodes of the implementation: {', '.join(self.names)})"
            )
        self.down: set[str] = set()
        self.stash: dict[str, list[dict[str, Any]]] = {n: [] for n in self.names}  # copies the real transport lost
        self.held: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        hist = schema.variables.get("history") if schema is not None else None
        self.event_fields = tuple(hist.elem.fields) if hist is not None else ()  # type: ignore[attr-defined]

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> LiveResult:
        ctl = self.ctl
        try:
            ctl.prepare("faultcheck replay --live")
        except OutError as e:
            raise ReplayError(str(e)) from None
        try:
            result = asyncio.run(self.main())
        finally:
            ctl.stop_all()
        result.errors = list(ctl.errors)
        result.out = self.out
        (self.out / "history.json").write_text(json.dumps(self.history(), indent=1) + "\n", encoding="utf-8")
        doc = {"protocol": self.trace.protocol, **result.to_json()}
        (self.out / "report.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        return result

    async def main(self) -> LiveResult:
        task = asyncio.current_task()
        assert task is not None

        def interrupt() -> None:  # Ctrl-C: stop at the step under way
            self.ctl.interrupted = True
            task.cancel()

        with sigint_calls(interrupt):
            try:
                return await self._main()
            except (asyncio.CancelledError, Interrupted):
                if not self.ctl.interrupted:
                    raise
                self.echo(f"interrupted (Ctrl-C) after step {self.taken}")
                return LiveResult(
                    False,
                    self.taken,
                    message=f"interrupted (Ctrl-C) after step {self.taken} of {len(self.trace.steps) - 1}; "
                    "every process stopped",
                    interrupted=True,
                )

    async def _main(self) -> LiveResult:
        ctl = self.ctl
        ctl.lock = asyncio.Lock()
        server = await asyncio.start_server(ctl.accept, LOOPBACK, 0)
        try:
            ports = free_ports(len(self.names))
            self.ports = dict(zip(self.names, ports))
            ClusterFile(
                protocol=ctl.ref,
                params=ctl.params,
                paths=ctl.paths,
                ports=self.ports,
                control_port=server.sockets[0].getsockname()[1],
                data_dir=str(ctl.data),
                timer_default=NEVER,
                seed=0,
                timed=self.timed,
                clock_offsets=dict(ctl.offsets),
            ).save(ctl.cluster_file)
            for n in self.names:
                ctl.spawn(n)
            await ctl.started(list(self.names))
            self.echo(
                f"{len(self.names)} nodes up, holding every message: "
                + ", ".join(f"{n}:{p}" for n, p in self.ports.items())
            )
            return await self.steps()
        finally:
            if not ctl.interrupted:
                with contextlib.suppress(Exception):
                    await ctl.tell_all("shutdown")
            ctl.stop_all()
            server.close()

    async def steps(self) -> LiveResult:
        trace = self.trace
        taken = 0
        try:
            await self.set_clocks(0, "initial state", list(self.names))
            await self.observe()
            before = {n: list(h) for n, h in self.held.items()}
            sent: list[tuple[str, dict]] = []
            for n in self.names:  # boot: on_start in node order, as the model's initial state
                sent += await self.run_handler(
                    0, "initial state", n, "start", sim=("on_start", (), trace.steps[0], None)
                )
            await self.arrivals(0, "initial state", before, sent, consumed=None)
            self.compare(0, trace.steps[0])
            self.echo("step 0 (initial state): matches")
            for i, st in enumerate(trace.steps[1:], 1):
                if self.ctl.interrupted:  # Ctrl-C whose cancellation asyncio.wait_for swallowed (3.11)
                    raise Interrupted
                await self.take(i, st)
                self.compare(i, st)
                taken = self.taken = i
                self.echo(f"step {i} ({st.label}): matches")
        except _Diverged as e:
            self.echo(f"DIVERGED at {e.divergence}")
            return LiveResult(False, taken, e.divergence, f"the implementation diverged from the model at {e}")
        final = self.real_state(trace.steps[-1].state)
        return LiveResult(*self.verdict(final), final=final)

    def verdict(self, final: dict[str, Any]) -> tuple[bool, int, Divergence | None, str]:
        trace, n = self.trace, len(self.trace)
        loop = trace.extra.get("loop")
        if isinstance(loop, int) and 0 <= loop < len(trace.steps):
            start = trace.steps[loop].state
            if _canon(self.comparable(final)) != _canon(self.comparable(start)):
                d = Divergence(
                    n,
                    trace.steps[-1].label,
                    "state",
                    self.comparable(final),
                    self.comparable(start),
                    f"a lasso must end where its cycle starts (step {loop})",
                )
                return False, n, d, f"the cycle does not close on the real cluster: {d}"
            return (
                True,
                n,
                None,
                (
                    f"reproduced on real processes: {trace.property or 'the liveness property'} fails; the real "
                    f"cluster went through the prefix and one pass of the cycle back to step {loop}'s state"
                ),
            )
        if self.judge is None or self.schema is None:
            what = trace.property or trace.verdict
            return (
                True,
                n,
                None,
                (
                    f"reproduced on real processes: every state matched the model's ({what} is not a state predicate "
                    "evaluated here)"
                ),
            )
        try:
            raw = self.schema.from_json(final, where="the real final state")
            holds = bool(self.judge(raw))
        except SchemaError as e:
            return False, n, None, f"the real final state does not fit the model's schema: {e}"
        except Exception as e:
            return False, n, None, f"{trace.property} raised on the real final state: {type(e).__name__}: {e}"
        if holds:
            d = Divergence(
                n,
                trace.steps[-1].label,
                trace.property or "property",
                True,
                False,
                "the property holds on the real final state",
            )
            return False, n, d, f"not reproduced: {trace.property} holds on the real nodes' final state"
        return True, n, None, f"reproduced on real processes: {trace.property} is violated by the real nodes' states"

    # -- steps ----------------------------------------------------------------------------------
    async def take(self, i: int, st: TraceStep) -> None:
        kind, p, label = st.kind, st.params, st.label
        before = {n: list(h) for n, h in self.held.items()}
        sent: list[tuple[str, dict]] = []
        consumed: tuple[str, dict] | None = None
        if kind == "deliver":
            src, dst, msg = p
            entry = await self.find(i, label, src, dst, msg)
            consumed = (dst, entry)
            args = (self.Msg.from_json(entry["msg"]), src)
            handler = type(args[0]).handler_name()
            sent = await self.run_handler(i, label, dst, "deliver", sim=(handler, args, st, entry), msg=entry["id"])
        elif kind == "timer":
            node, name = p
            sent = await self.run_handler(i, label, node, "fire", sim=(name, (), st, None), timer=name)
        elif kind == "request":
            node, *values = p
            name = (st.action or "").split(".", 1)[-1]
            over = self.cluster.clients().get(node, {}).get(name, "missing")
            if over == "missing":
                self.fail(i, label, f"{node} has no @request {name!r} in the implementation")
            kw: dict[str, Any] = {"name": name}
            args: tuple = ()
            if over is not None:
                found = [v for v in over.values() if over.format(v) == (values[0] if values else "")]
                if not found:
                    self.fail(i, label, f"{values[:1]} is no argument of {name}")
                kw["value"] = over.to_json(found[0])
                args = (found[0],)
            sent = await self.run_handler(i, label, node, "request", sim=(name, args, st, None), **kw)
        elif kind == "crash":
            (node,) = p
            self.ctl.kill(node)
            self.down.add(node)
        elif kind == "restart":
            (node,) = p
            self.ctl.incarnations[node] += 1
            self.ctl.spawn(node)
            try:
                await self.ctl.started([node])
            except RunError as e:
                self.fail(i, label, f"{node} did not restart: {e}")
            self.down.discard(node)
            self.held[node] = []
            before[node] = []
            await self.set_clocks(i, label, [node])  # its clock kept running while it was down
            await self.observe()
            sent = await self.run_handler(i, label, node, "start", sim=("on_start", (), st, None))
        elif kind == "detect":
            watcher, peer = p[0], p[1]
            sent = await self.run_handler(
                i, label, watcher, "peer_crash", sim=("on_peer_crash", (peer,), st, None), peer=peer
            )
        elif kind in ("partition", "heal", "stutter"):
            pass  # the controller holds every message: nothing crosses a partition unless the trace says so
        elif kind in ("tick", "clock", "clock_jump") and self.timed:
            # each clock = global time + its offset (the state's `clocks`); a tick advances global time
            was, now = self.offsets(self.trace.steps[i - 1].state), self.offsets(st.state)
            for n in self.names:
                self.clock[n] += (self.tick if kind == "tick" else 0) + now.get(n, 0) - was.get(n, 0)
            await self.set_clocks(i, label, [n for n in self.names if n not in self.down])
        else:
            self.fail(i, label, f"a step of kind {kind!r} cannot be replayed on processes")
        await self.arrivals(i, label, before, sent, consumed)

    def fail(self, i: int, label: str, note: str) -> None:
        raise _Diverged(Divergence(i, label, "step", None, None, note))

    @staticmethod
    def offsets(state: dict[str, Any]) -> dict[str, int]:
        """Each clock's offset from global time in a trace's state (a node it does not list: 0)."""
        clocks = state.get("clocks")
        return {n: int(v) for n, v in clocks.items()} if isinstance(clocks, dict) else {}

    async def set_clocks(self, i: int, label: str, nodes: list[str]) -> None:
        """Set these hosts' virtual clocks to the readings the trace has come to."""
        if not self.timed:
            return
        for n in nodes:
            try:
                await self.ctl.call(n, "clock", set=self.clock[n])
            except (TimeoutError, ConnectionError, RuntimeError) as e:
                self.fail(i, label, f"{n} did not set its clock: {e or type(e).__name__}")

    async def run_handler(
        self, i: int, label: str, node: str, cmd: str, sim: tuple | None = None, **kw: Any
    ) -> list[tuple[str, dict]]:
        if node in self.down:
            self.fail(i, label, f"{node} is down on the real cluster")
        if sim is not None:
            script = self.choices(i, node, *sim)
            if script is not None:
                kw["choices"] = script
        try:
            reply = await self.ctl.call(node, cmd, timeout=10.0, **kw)
        except (TimeoutError, ConnectionError) as e:
            self.fail(i, label, f"{node} did not answer {cmd}: {e or type(e).__name__}")
        except RuntimeError as e:  # the host refused: a timer not armed, a request it does not have, ...
            self.fail(i, label, str(e))
        if reply.get("error_text"):
            last = reply["error_text"].strip().splitlines()[-1]
            self.fail(i, label, f"{node}: {reply.get('handled')} raised: {last}")
        return [(s["dst"], {"src": node, "msg": s["msg"]}) for s in reply.get("sent", [])]

    def choices(
        self, i: int, node: str, handler: str, args: tuple, st: TraceStep, consumed: dict | None
    ) -> list[int] | None:
        """The options the handler's `choose` calls must take to reach the trace's state (the model
        branches at each; a real node takes one): found by running the implementation's handler on a
        copy of the node's current values, once per branch. A step that records its choice takes the
        branch whose options read the same; one without (an older trace), the first branch that reaches
        the recorded fields and sends. None when it makes no choice."""
        if not callable(getattr(self.cluster.classes[node], handler, None)) or node not in self.reports:
            return None
        live = LiveNode(self.cluster, node, clock=lambda: self.clock[node])  # its times read the node's clock
        values = {f: t.from_json(self.reports[node]["fields"][f], f) for f, t, _, _ in self.cluster.node_fields(node)}
        want_fields = _canon(st.state.get(node))
        want_sent = None
        after = envelopes(st.state)
        if after is not None and i > 0:
            before = Counter(map(_canon, envelopes(self.trace.steps[i - 1].state) or []))
            if consumed is not None:
                before[_canon({"msg": consumed["msg"], "src": consumed["src"], "dst": node})] -= 1
            want_sent = Counter(map(_canon, after)) - before
        scripts: list[tuple[int, ...]] = [()]
        first: list[int] | None = None  # the first branch that reaches the recorded fields
        full: list[int] | None = None  # ... and sends what the trace records (when a recorded choice is not found)
        tried = 0
        while scripts and tried < 512:
            script = scripts.pop(0)
            tried += 1
            pos = [0]
            chosen: list[Any] = []

            def choose(self_: Any, options: Any, script: tuple = script, pos: list = pos, chosen: list = chosen) -> Any:
                options = list(options)
                k = pos[0]
                pos[0] += 1
                if k < len(script):
                    chosen.append(options[script[k]])
                    return options[script[k]]
                raise _Branch(len(options))

            object.__setattr__(live.obj, "choose", types.MethodType(choose, live.obj))
            live.values = dict(values)
            try:
                fx = live.run(handler, *args)
            except _Branch as b:
                scripts += [(*script, k) for k in range(b.n)]
                continue
            except HandlerFailure:
                continue
            if not script:
                return None  # no choice made
            if st.choice and tuple(choice_text(v) for v in chosen) == st.choice:
                return list(script)  # the branch the trace records
            fields = _canon(self.fields_json(node, live.values))
            if fields != want_fields:
                continue
            first = first or list(script)
            sent = Counter(_canon({"msg": self.codec.to_json(m), "src": node, "dst": d}) for d, _, m in fx.sends)
            if (want_sent is None or sent == want_sent) and not st.choice:
                return list(script)
            full = full or (list(script) if want_sent is None or sent == want_sent else None)
        return full or first

    async def find(
        self, i: int, label: str, src: str, dst: str, msg: str, resend: bool = True
    ) -> dict[str, Any] | None:
        """The held entry of the message `msg` (as the trace labels it) from src at dst; a copy the
        controller keeps (lost by a killed process) is sent again first."""
        for e in self.held.get(dst, []):
            if e["src"] == src and self.label(e["msg"]) == msg:
                return e
        for k, e in enumerate(self.stash[dst]):
            if e["src"] == src and self.label(e["msg"]) == msg:
                if not resend:
                    self.stash[dst].pop(k)
                    return None
                if dst in self.down:
                    self.fail(i, label, f"{dst} is down on the real cluster")
                self.stash[dst].pop(k)
                self.resend(src, dst, e["msg"])
                await self.wait_held(
                    dst, Counter(self.keys(self.held.get(dst, []))) + Counter([(src, _canon(e["msg"]))])
                )
                for h in self.held[dst]:
                    if h["src"] == src and self.label(h["msg"]) == msg:
                        return h
        have = ", ".join(f"{self.label(e['msg'])} from {e['src']}" for e in self.held.get(dst, [])) or "nothing"
        self.fail(i, label, f"{msg} from {src} is not in flight to {dst} on the real cluster (held there: {have})")
        return None

    def label(self, msg_json: dict) -> str:
        try:
            return self.Msg.format(self.Msg.from_json(msg_json))
        except SchemaError:
            return _canon(msg_json)

    def resend(self, src: str, dst: str, msg_json: dict) -> None:
        """Send a frame of `msg_json` from `src` to `dst` over TCP, as the transport would have."""
        frame = self.codec.encode(src, dst, self.Msg.from_json(msg_json))
        with socket.create_connection((LOOPBACK, self.ports[dst]), timeout=5) as s:
            s.sendall(frame)

    @staticmethod
    def keys(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(e["src"], _canon(e["msg"])) for e in entries]

    async def arrivals(
        self,
        i: int,
        label: str,
        before: dict[str, list[dict]],
        sent: list[tuple[str, dict]],
        consumed: tuple[str, dict] | None,
    ) -> None:
        """Wait until every message the step sent to a live node is held there, then observe."""
        want: dict[str, Counter] = {}
        for dst, e in sent:
            if dst not in self.down:
                want.setdefault(dst, Counter(self.keys(before.get(dst, []))))[(e["src"], _canon(e["msg"]))] += 1
        if consumed is not None and consumed[0] in want:
            want[consumed[0]][(consumed[1]["src"], _canon(consumed[1]["msg"]))] -= 1
        for dst, counts in want.items():
            await self.wait_held(dst, counts)
        await self.observe()

    async def wait_held(self, dst: str, counts: Counter) -> None:
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while True:
            if self.ctl.interrupted:
                raise Interrupted
            reply = await self.state(dst)
            if reply is None:
                return
            self.held[dst] = reply["held"]
            if not counts - Counter(self.keys(reply["held"])) or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.005)

    async def state(self, node: str) -> dict[str, Any] | None:
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
            return await self.ctl.call(node, "state", timeout=10.0)
        return None

    async def observe(self) -> None:
        self.reports = {}
        for n in self.names:
            if n in self.down:
                self.held[n] = []
                continue
            reply = await self.state(n)
            if reply is None:
                continue
            self.reports[n] = reply
            self.held[n] = reply["held"]

    # -- comparing --------------------------------------------------------------------------------
    def real_state(self, model: dict[str, Any]) -> dict[str, Any]:
        """The real cluster's state in the trace's shape: its nodes' fields, timers, in-flight messages,
        history and who is down; the fault budgets used are the model's (the controller's bookkeeping)."""
        out = dict(model)
        for n in self.names:
            if n in self.down:
                out[n] = self.fields_json(n, self.ctl.durable_state(n))
            elif n in self.reports:
                out[n] = self.reports[n]["fields"]
                if self.timed:
                    types_ = self.cluster.node_fields(n)
                    out[n] = self.fields_json(n, {f: t.from_json(out[n][f], f) for f, t, _, _ in types_})
        if "due_in" in model and isinstance(model["due_in"], dict):
            out["due_in"] = {
                n: {
                    name: (None if n in self.down or n not in self.reports else self.reports[n].get("due_in", {}).get(name))
                    for name in (model["due_in"].get(n) or {})
                }
                for n in model["due_in"]
            }
        if "timers" in model:
            out["timers"] = {
                n: (
                    []
                    if n in self.down or n not in self.reports
                    else sorted(self.reports[n]["timers"] + self.reports[n]["due"])
                )
                for n in self.names
            }
        flight = envelopes(model)
        if flight is not None:
            for n in self.down:  # the real transport lost these; the model keeps them in flight
                self.stash[n] = [e for e in flight if e["dst"] == n]
            net = [{"msg": e["msg"], "src": e["src"], "dst": n} for n in self.names for e in self.stash[n]]
            net += [{"msg": e["msg"], "src": e["src"], "dst": n} for n in self.names for e in self.held.get(n, [])]
            if "network" in model:
                key = lambda e: _canon([e["msg"], e["src"], e["dst"]])  # noqa: E731
                out["network"] = sorted(_with_ages(net, model["network"], key), key=_canon)
            else:  # FIFO channels: the copies the controller keeps are older than what is held; held in arrival order
                out["channels"] = {ch: [] for ch in model["channels"]}
                for e in net:
                    out["channels"].setdefault(f"{e['src']}→{e['dst']}", []).append(e["msg"])
                for ch, queue in out["channels"].items():
                    wrapped = [{"msg": m} for m in queue]
                    aged = _with_ages(wrapped, model["channels"].get(ch, []), lambda e: _canon(e["msg"]))
                    out["channels"][ch] = aged if aged is not wrapped else queue
        if "history" in model:
            out["history"] = self.history()
        if "down" in model:
            out["down"] = sorted(self.down, key=self.names.index)
        return out

    def fields_json(self, node: str, values: dict[str, Any]) -> dict[str, Any]:
        """A real node's fields as the trace writes them: with [time], each time relative to the node's
        clock reading, as the model's state keeps it (exact within its window, else "long ago")."""
        if not self.timed:
            return self.cluster.fields_json(node, values)
        rec = self.schema.variables.get(node) if self.schema is not None else None
        model: dict[str, Type] = getattr(rec, "fields", {})
        out = {}
        for f, t, _, _ in self.cluster.node_fields(node):
            slot = _time_slot(model.get(f))
            if slot is None or not _has_abs_time(t):
                out[f] = t.to_json(values[f])
            else:
                out[f] = model[f].to_json(relative_values(t, values[f], self.clock[node], slot))
        return out

    def history(self) -> list[dict[str, Any]]:
        out = []
        for _, _, node, _, ev in self.ctl.events:
            kind, f, value = ev["kind"], ev["f"], ev.get("value")
            e: dict[str, Any] = {"process": node, "kind": kind, "f": f}
            new = None
            if "key" in self.event_fields:
                if kind == "invoke" and f == "get" and not isinstance(value, list):
                    value = [value, None]
                e["key"], value = value if isinstance(value, list) and len(value) == 2 else (value, None)
            elif f == "cas" and kind == "invoke" and isinstance(value, list) and len(value) == 2:
                value, new = value
            e.update(value=value, new=new)
            out.append(e)
        return out

    def comparable(self, state: dict[str, Any]) -> dict[str, Any]:
        out = dict(state)
        if isinstance(out.get("network"), list):
            out["network"] = sorted(out["network"], key=_canon)
        return out

    def compare(self, i: int, st: TraceStep) -> None:
        model = st.state
        real = self.real_state(model)
        label = st.label
        for n in self.names:
            want, got = model.get(n, {}), real.get(n, {})
            if n not in self.down and n not in self.reports:
                self.fail(i, label, f"{n} does not answer")
            for f in want:
                if _canon(got.get(f)) != _canon(want[f]):
                    note = "read from its durable file: it is down" if n in self.down else ""
                    raise _Diverged(Divergence(i, label, f"{n}.{f}", got.get(f), want[f], note))
        if "timers" in model:
            for n in self.names:
                if sorted(real["timers"][n]) != sorted(model["timers"].get(n, [])):
                    raise _Diverged(Divergence(i, label, f"timers.{n}", real["timers"][n], model["timers"].get(n)))
        if envelopes(model) is not None:
            got_net = Counter(map(_canon, envelopes(real) or []))
            want_net = Counter(map(_canon, envelopes(model) or []))
            if got_net != want_net:
                extra = [json.loads(k) for k in (got_net - want_net).elements()]
                missing = [json.loads(k) for k in (want_net - got_net).elements()]
                raise _Diverged(
                    Divergence(
                        i,
                        label,
                        "network",
                        extra,
                        missing,
                        "real: messages in flight only on the real cluster; model: only in the model",
                    )
                )
        if "due_in" in model and _canon(real.get("due_in")) != _canon(model["due_in"]):
            for n, want_due in (model["due_in"] or {}).items():
                got_due = (real.get("due_in") or {}).get(n)
                if _canon(got_due) != _canon(want_due):
                    raise _Diverged(Divergence(i, label, f"due_in.{n}", got_due, want_due,
                                               "units of the node's clock until each timed timer fires"))
        if "history" in model and _canon(real["history"]) != _canon(model["history"]):
            raise _Diverged(Divergence(i, label, "history", real["history"], model["history"]))
        if "down" in model and real["down"] != model["down"]:
            raise _Diverged(Divergence(i, label, "down", real["down"], model["down"]))


def _time_slot(t: Type | None) -> TimeSlot | None:
    """The model's Time slot type of a field (a Time field, or a Map of times), else None."""
    if isinstance(t, Map):
        t = t.value
    return t if isinstance(t, TimeSlot) else None


def _has_abs_time(t: Type) -> bool:
    return isinstance(t, AbsTime) or (isinstance(t, Map) and isinstance(t.value, AbsTime))


def live_replay(trace: Trace, **kw: Any) -> LiveResult:
    """Replay `trace` on real processes; see `LiveReplay`. Every process is stopped when this returns."""
    return LiveReplay(trace, **kw).run()
