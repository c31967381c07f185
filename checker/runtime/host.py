"""Runs one node of a protocol as a real process: `python -m checker.runtime.host CLUSTER.json NODE`.

The node class is the protocol's own, unchanged. The host listens on its TCP port on 127.0.0.1
for frames (`codec`) from the other nodes, delivers each to `on_<message>(msg, src)`, fires
`@timer`s on real time (the cluster file's durations), and performs the effects a handler
records. With [time] (the cluster file's `timed`) the node has a clock (`Clock`): `self.now()` reads
it in whole units (`tick_seconds` each) as an absolute `Instant`, a timer armed with `after=d` fires
when it has advanced d units, and `Time` fields hold absolute readings (the durable file too). After a handler whose run changed a durable field, the host rewrites the node's
durable-state file (`storage`: fsynced, atomic) *before* any message that handler sent leaves.
A malformed frame is dropped and logged; a handler that raises (or breaks a field's type) is
reported to the controller with its traceback and what it was handling, its changes are
discarded, and the node keeps running. Restart = start the process again: durable fields come
from the file, volatile ones are reset, `on_start` runs. The host exits when its controller
connection closes, so a lost controller leaves no process behind. Its log (stderr) has one line
per message received (with its sender), timer fired, request and fault suffered, and each field a
handler changed, before → after. Messages between the two sides of a partition wait (at the
sender, or at the receiver if already on the way) and go on at the heal, as in the model.

Control protocol. The host connects to the controller's port and speaks JSON, one object per
line. First it sends ``{"event": "hello", "node", "pid", "incarnation", "port"}``. Then the
controller sends commands ``{"id": N, "cmd": ..., ...}`` and the host answers each with
``{"re": N, "ok": true, ...}`` or ``{"re": N, "ok": false, "error": "..."}``. Commands:

- ``state``: ``fields`` (every field, decoded, as JSON), ``timers`` (armed, by name), with [time]
  ``clock`` (the reading) and ``due_in`` (armed timer -> units left, null: untimed), ``due``
  (held timers that expired), ``held`` (held messages: id, src, msg as JSON), ``partition``,
  ``hold``, ``incarnation``, ``pid``, ``dropped`` (malformed frames dropped), ``errors``.
- ``request`` (``name``, ``value`` when the request takes one): run that @request method.
- ``peer_crash`` (``peer``): run ``on_peer_crash(peer)`` (the controller is the failure detector).
- ``partition`` (``group``: the node ids on this node's side, or null to heal): traffic to and
  from nodes outside the group is dropped, in both directions.
- ``drop_next`` / ``duplicate_next`` (``count``, default 1): the next messages this node sends
  are dropped / sent twice.
- ``hold`` (``on``: bool): while on, arriving messages are held (each gets an id) and expired
  timers become due instead of firing; turning it off delivers the held messages in arrival
  order and fires the due timers. Holding every node gives the controller a consistent cut.
- ``deliver`` (``msg``: a held id): deliver that held message now; ``discard`` (``msg``): drop it.
- ``fire`` (``timer``): fire an armed (or due) timer now, whatever its duration.
- ``clock`` (``jump``: units, + or -; or ``set``: a reading, for a virtual clock): answers ``clock``.
- ``start``: run ``on_start`` now; only for a host started with ``--replay`` (which defers it).
- ``shutdown``: answer, then exit. (Killing is the controller's SIGKILL.)

With ``--replay`` (live replay of a trace) the host holds from the first arriving message and
waits for ``start`` before ``on_start`` runs, so nothing happens but what the controller says; its
clock is virtual: it reads what the controller ``set``s, as the trace's ticks and jumps say.

Commands that run a handler answer with ``handled`` (the handler's name, or null when the node
has none), ``sent`` (the messages it handed to the transport: ``dst``, ``msg`` as JSON, one entry
per copy) and ``error_text`` (the traceback) if it raised. Any command may carry ``choices`` (a list of
option indices): the handler's `choose` calls take those options in order (live replay follows the
trace's branch), then pick at random again. Unprompted, the host sends
``{"event": "history", "kind", "f", "value", "t"}`` for each `invoke`/`complete` a handler records
(``t``: `time.monotonic_ns()`, one clock for every process of the machine, so the controller
orders events as they really happened) and ``{"event": "error", "handler", "context",
"traceback"}`` for each handler that failed. Standard library and `checker.model` only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import types
from collections.abc import Callable
from typing import Any

from .cluster import Cluster, ClusterError, ClusterFile, Effects, HandlerFailure, LiveNode, jsonable, load_protocol
from .codec import CodecError, read_body
from .storage import DurableStore, StorageError

LOOPBACK = "127.0.0.1"


def log(node: str, text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {node}: {text}", file=sys.stderr, flush=True)


def _show(t: Any, value: Any) -> str:
    try:
        return t.format(value)
    except Exception:  # a display problem never stops a node
        return repr(value)


class Clock:
    """A node's clock in whole time units. Real: `clock_base` + the units (`tick_seconds` each) elapsed since
    the cluster's start (`epoch_ns`, on the machine's monotonic clock, which every process shares, so a
    restarted node's clock has kept running) + the node's offset (its skew, moved by clock jumps).
    Virtual (live replay): the reading the controller sets, as the trace advances time."""

    def __init__(self, cfg: ClusterFile, node: str, offset: int | None = None, virtual: bool = False):
        self.tick_ns = max(1, round(cfg.tick_seconds * 1e9))
        self.epoch, self.base, self.virtual = cfg.epoch_ns, cfg.clock_base, virtual
        self.offset = cfg.clock_offsets.get(node, 0) if offset is None else offset
        self.value = self.base + self.offset  # the virtual reading

    def units(self) -> int:
        if self.virtual:
            return self.value
        return self.base + (time.monotonic_ns() - self.epoch) // self.tick_ns + self.offset

    def seconds_until(self, units: int) -> float | None:
        """Real seconds until the reading is at least `units` (None: a virtual clock, which only the controller moves)."""
        if self.virtual:
            return None
        target = self.epoch + (units - self.base - self.offset) * self.tick_ns
        return max(0.0, (target - time.monotonic_ns()) / 1e9)

    def jump(self, by: int) -> None:
        self.offset += by
        self.value += by


class Host:
    """One node's process: its transport, timers, clock, durable file and control connection."""

    def __init__(
        self,
        cfg: ClusterFile,
        cluster: Cluster,
        node: str,
        incarnation: int = 0,
        replay: bool = False,
        clock_offset: int | None = None,
    ):
        self.cfg, self.cluster, self.id, self.incarnation = cfg, cluster, node, incarnation
        self.replay = replay  # hold from the start; on_start waits for the controller's `start`
        self.started = False
        self.sent: list[tuple[str, Any]] = []  # (dst, message) the last handler run handed to the transport
        self.clock = Clock(cfg, node, clock_offset, virtual=replay)
        self.node = LiveNode(cluster, node, seed=hash((cfg.seed, incarnation)) & 0xFFFFFFFF, clock=self.clock.units)
        self.store = DurableStore(os.path.join(cfg.data_dir, f"{node}.json"), cluster.durable_types(node), node=node)
        self.timers: dict[str, asyncio.TimerHandle | None] = {}  # armed; None: expired while held (due)
        self.due_at: dict[str, int] = {}  # armed timed timers: the clock reading at which each fires
        self.group: frozenset[str] | None = None  # partition: the nodes on this side; None: healed
        self.holding = replay
        self.held: dict[int, tuple[str, Any]] = {}  # id -> (src, message), in arrival order
        self.next_held = 1
        self.drop_next = self.dup_next = 0
        self.parked: list[tuple[str, bytes]] = []  # (dst, frame) sent across the partition: sent at the heal
        self.parked_in: list[tuple[str, Any]] = []  # (src, message) that arrived across it: delivered at the heal
        self.dropped = self.errors = 0
        self.out: dict[str, asyncio.Queue] = {}
        self.tasks: list[asyncio.Task] = []
        self.ctl_writer: asyncio.StreamWriter | None = None
        self.stopping: asyncio.Event | None = None

    # -- running handlers --------------------------------------------------------------------
    def execute(self, handler: str, args: tuple = (), context: str = "") -> str | None:
        """Run a handler and perform its effects; the failure's text if it failed, else None."""
        self.sent = []
        before = self.node.values
        try:
            fx = self.node.run(handler, *args)
        except HandlerFailure as e:
            self.errors += 1
            log(self.id, f"{handler} failed ({context or 'no message'}):\n{e.text}")
            self.emit({"event": "error", "handler": handler, "context": context, "traceback": e.text})
            return e.text
        for f, t, _, _ in self.node.fields:
            if t.to_json(before[f]) != t.to_json(self.node.values[f]):  # (a time "long ago" has no == answer)
                log(self.id, f"  {f}: {_show(t, before[f])} → {_show(t, self.node.values[f])}")
        self.perform(fx)
        return None

    def perform(self, fx: Effects) -> None:
        if fx.durable_changed:  # on disk before anything this handler sent can leave the node
            try:
                self.store.save(self.node.durable_values())
            except (OSError, StorageError) as e:
                log(self.id, f"cannot persist the durable fields: {e}; stopping")
                os._exit(3)
        now = time.monotonic_ns()
        for kind, f, value in fx.events:
            self.emit({"event": "history", "kind": kind, "f": f, "value": jsonable(value), "t": now})
        for op, name, after in fx.timers:
            if op == "set_timer":
                self.arm(name, after)
            else:
                self.disarm(name)
        for dst, frame, msg in fx.sends:
            self.sent += [(dst, msg)] * self.send(dst, frame)

    def arm(self, name: str, after: int | None = None) -> None:
        """Arm a timer: untimed, it fires after its duration in seconds (the cluster file's); timed, when
        this node's clock has advanced `after` units. Re-arming a timed timer (or arming an armed one
        timed) sets a new deadline; re-arming an armed untimed timer untimed changes nothing."""
        if after is None:
            if name in self.timers and name not in self.due_at:
                return
            self.disarm(name)
            loop = asyncio.get_running_loop()
            self.timers[name] = loop.call_later(self.cfg.timer_seconds(name), self.expired, name)
            return
        self.disarm(name)
        self.due_at[name] = self.clock.units() + after
        self.schedule(name)

    def disarm(self, name: str) -> None:
        handle = self.timers.pop(name, None)
        if handle is not None:
            handle.cancel()
        self.due_at.pop(name, None)

    def schedule(self, name: str) -> None:
        """(Re)start the real wait of an armed timed timer, from its deadline and the clock now."""
        handle = self.timers.get(name)
        if handle is not None:
            handle.cancel()
        delay = self.clock.seconds_until(self.due_at[name])
        loop = asyncio.get_running_loop()
        # a virtual clock moves only when the controller says: its timers fire when the controller says
        self.timers[name] = loop.call_later(self.cfg.timer_default if delay is None else delay, self.ripe, name)

    def ripe(self, name: str) -> None:
        """A timed timer's wait ended: it expires if the clock has reached its deadline, else waits on."""
        if name not in self.due_at:
            return
        if self.clock.virtual or self.clock.units() >= self.due_at[name]:
            self.expired(name)
        else:
            self.schedule(name)

    def expired(self, name: str) -> None:
        if self.holding:
            self.timers[name] = None  # due: fires when the hold ends or the controller says so
            return
        self.fire(name)

    def fire(self, name: str) -> str | None:
        self.disarm(name)
        log(self.id, f"timer {name} fired")
        return self.execute(name, (), f"timer {name}")

    def deliver(self, src: str, msg: Any) -> tuple[str | None, str | None]:
        handler = type(msg).handler_name()
        if not self.node.has(handler):
            log(self.id, f"received {msg!r} from {src} (no handler: consumed)")
            return None, None  # no handler: the message is consumed
        log(self.id, f"received {msg!r} from {src}")
        return handler, self.execute(handler, (msg, src), f"{type(msg).__name__} from {src}: {msg!r}")

    # -- transport -----------------------------------------------------------------------------
    def cut_off(self, other: str) -> bool:
        return self.group is not None and other not in self.group

    def send(self, dst: str, frame: bytes) -> int:
        """Queue `frame` for `dst`; the number of copies queued (0: the partition or a drop took it)."""
        if self.cut_off(dst):
            self.parked.append((dst, frame))  # the model keeps it in flight until the heal
            return 1
        if self.drop_next:
            self.drop_next -= 1
            log(self.id, f"dropped a message to {dst} (controller's fault)")
            return 0
        copies = 1
        if self.dup_next:
            self.dup_next -= 1
            copies = 2
            log(self.id, f"duplicated a message to {dst} (controller's fault)")
        q = self.out.get(dst)
        if q is None:
            q = self.out[dst] = asyncio.Queue()
            self.tasks.append(asyncio.get_running_loop().create_task(self.sender(dst, q)))
        for _ in range(copies):
            q.put_nowait(frame)
        return copies

    async def sender(self, dst: str, q: asyncio.Queue) -> None:
        """Keeps one connection to `dst`; a message it cannot hand over is lost, as on a real network."""
        writer: asyncio.StreamWriter | None = None
        reader: asyncio.StreamReader | None = None
        port = self.cfg.ports[dst]
        while True:
            frame = await q.get()
            if writer is not None and reader is not None and reader.at_eof():
                writer.close()  # dst closed it (killed): a write would vanish into the dead socket
                writer = None
            for _ in range(2):
                if writer is None:
                    try:
                        reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, port), 1.0)
                    except (TimeoutError, OSError):
                        writer = None
                        break  # dst is down: the message is lost
                try:
                    writer.write(frame)
                    await writer.drain()
                    break
                except (OSError, ConnectionError):
                    writer.close()
                    writer = None  # dst restarted: reconnect and try once more

    async def peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Reads frames from one incoming connection; a malformed frame is dropped and logged."""
        try:
            while True:
                try:
                    body = await read_body(reader, self.cluster.codec.max_frame)
                except CodecError as e:  # a bad length or a cut: the stream cannot be resynchronised
                    self.dropped += 1
                    log(self.id, f"dropped a connection: {e}")
                    return
                if body is None:
                    return
                try:
                    src, dst, msg = self.cluster.codec.decode(body)
                except CodecError as e:
                    self.dropped += 1
                    log(self.id, f"dropped a malformed frame: {e}")
                    continue
                if dst != self.id:
                    self.dropped += 1
                    log(self.id, f"dropped a frame for {dst}")
                    continue
                if self.cut_off(src):
                    self.parked_in.append((src, msg))  # on the way when the partition began
                    continue
                if self.holding:
                    self.held[self.next_held] = (src, msg)
                    self.next_held += 1
                    continue
                self.deliver(src, msg)
        except (OSError, ConnectionError, asyncio.CancelledError):
            return  # cancelled: the node is stopping (asyncio would report a cancelled connection handler)
        finally:
            writer.close()

    # -- control ---------------------------------------------------------------------------------
    def emit(self, obj: dict[str, Any]) -> None:
        if self.ctl_writer is not None and not self.ctl_writer.is_closing():
            self.ctl_writer.write((json.dumps(obj) + "\n").encode())

    def due_in(self) -> dict[str, int | None]:
        """Armed timers -> units of this node's clock until a timed one fires (0: due), None: untimed."""
        now = self.clock.units()
        return {n: (max(0, self.due_at[n] - now) if n in self.due_at else None) for n in sorted(self.timers)}

    def state(self) -> dict[str, Any]:
        codec = self.cluster.codec
        timed = {"clock": self.clock.units(), "due_in": self.due_in()} if self.cluster.timed else {}
        return {
            **timed,
            "node": self.id,
            "fields": self.cluster.fields_json(self.id, self.node.values),
            "timers": sorted(n for n, h in self.timers.items() if h is not None),
            "due": sorted(n for n, h in self.timers.items() if h is None),
            "held": [{"id": k, "src": s, "msg": codec.to_json(m)} for k, (s, m) in self.held.items()],
            "partition": None if self.group is None else sorted(self.group),
            "hold": self.holding,
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "dropped": self.dropped,
            "errors": self.errors,
        }

    def command(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        handler = getattr(self, f"cmd_{cmd}", None) if isinstance(cmd, str) else None
        if handler is None:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        choices = req.get("choices")
        if isinstance(choices, list):  # live replay: the handler's `choose` calls take these options, in order
            self.script(choices)
        try:
            return {"ok": True, **handler(req)}
        except Exception as e:  # a bad command (or a bug here) is answered, never the end of the node
            return {"ok": False, "error": f"{cmd}: {type(e).__name__}: {e}"}
        finally:
            if isinstance(choices, list):
                self.script(None)

    def script(self, choices: list | None) -> None:
        """Make `choose` take option `choices[k]` at its k-th call (past the end, or None: at random)."""
        obj, rng = self.node.obj, self.node.rng
        left = list(choices or ())

        def choose(self_: Any, options: Any) -> Any:
            options = list(options)
            if not options:
                raise ValueError(f"{self.id}: choose() needs at least one option")
            k = left.pop(0) if left else None
            return options[k] if isinstance(k, int) and 0 <= k < len(options) else rng.choice(options)

        object.__setattr__(obj, "choose", types.MethodType(choose, obj))

    def _ran(self, handler: str | None, error: str | None) -> dict[str, Any]:
        sent = [{"dst": d, "msg": self.cluster.codec.to_json(m)} for d, m in self.sent] if handler else []
        self.sent = []
        return {"handled": handler, "sent": sent, **({"error_text": error} if error else {})}

    def cmd_state(self, req: dict) -> dict:
        return self.state()

    def cmd_request(self, req: dict) -> dict:
        name = req["name"]
        requests = self.node.cls._requests_
        if name not in requests:
            raise ValueError(f"{self.id} has no @request {name!r} (requests: {', '.join(requests) or 'none'})")
        over = requests[name]
        args = () if over is None else (over.from_json(req["value"], "value"),)
        log(self.id, f"request {name}{'' if over is None else f'({over.format(args[0])})'}")
        return self._ran(name, self.execute(name, args, f"request {name}{args!r}"))

    def cmd_peer_crash(self, req: dict) -> dict:
        peer = req["peer"]
        if peer not in self.cluster.names:
            raise ValueError(f"no node {peer!r}")
        log(self.id, f"told that {peer} crashed (the failure detector)")
        if not self.node.has("on_peer_crash"):
            return self._ran(None, None)
        return self._ran("on_peer_crash", self.execute("on_peer_crash", (peer,), f"{peer} crashed"))

    def cmd_partition(self, req: dict) -> dict:
        group = req.get("group")
        self.group = None if group is None else frozenset(group) | {self.id}
        if self.group is None:
            log(self.id, f"partition healed ({len(self.parked)} sent, {len(self.parked_in)} received messages waited)")
        else:
            log(self.id, f"partitioned: this side is {{{', '.join(sorted(self.group))}}} (a fault faultcheck injected)")
        parked, self.parked = self.parked, []
        for dst, frame in parked:  # what may cross now goes on; the rest waits for the heal
            self.send(dst, frame)
        arrived, self.parked_in = self.parked_in, []
        for src, msg in arrived:
            if self.cut_off(src):
                self.parked_in.append((src, msg))
            elif self.holding:
                self.held[self.next_held] = (src, msg)
                self.next_held += 1
            else:
                self.deliver(src, msg)
        return {}

    def cmd_drop_next(self, req: dict) -> dict:
        self.drop_next += int(req.get("count", 1))
        log(self.id, "the next message it sends will be dropped (a fault faultcheck injected)")
        return {}

    def cmd_duplicate_next(self, req: dict) -> dict:
        self.dup_next += int(req.get("count", 1))
        log(self.id, "the next message it sends will be duplicated (a fault faultcheck injected)")
        return {}

    def cmd_hold(self, req: dict) -> dict:
        on = bool(req["on"])
        self.holding = on
        if not on:
            held, self.held = self.held, {}
            for src, msg in held.values():
                self.deliver(src, msg)
            for name in [n for n, h in self.timers.items() if h is None]:
                self.fire(name)
        return {}

    def cmd_deliver(self, req: dict) -> dict:
        src, msg = self.held.pop(int(req["msg"]))
        return self._ran(*self.deliver(src, msg))

    def cmd_discard(self, req: dict) -> dict:
        self.held.pop(int(req["msg"]))
        return {}

    def cmd_fire(self, req: dict) -> dict:
        name = req["timer"]
        if name not in self.timers:
            raise ValueError(f"timer {name!r} is not armed on {self.id}")
        return self._ran(name, self.fire(name))

    def cmd_clock(self, req: dict) -> dict:
        """``jump`` (units, + or -): the clock jumps (a fault); ``set`` (a reading): a virtual clock reads it."""
        if not self.cluster.timed:
            raise ValueError(f"{self.id} keeps no time (the spec has no [time] section)")
        if "jump" in req:
            by = int(req["jump"])
            self.clock.jump(by)
            log(self.id, f"clock jumped {by:+d} units to t{self.clock.units()} (a fault faultcheck injected)")
        if "set" in req:
            if not self.clock.virtual:
                raise ValueError(f"{self.id}'s clock is real: only a jump moves it")
            self.clock.value = int(req["set"])
        for name in [n for n in self.due_at if self.timers.get(n) is not None]:
            self.schedule(name)  # a deadline the jump moved nearer or further
        return {"clock": self.clock.units()}

    def cmd_start(self, req: dict) -> dict:
        if self.started:
            raise ValueError(f"{self.id} has started already")
        self.started = True
        return self._ran("on_start", self.execute("on_start", (), "start" if self.incarnation == 0 else "restart"))

    def cmd_shutdown(self, req: dict) -> dict:
        assert self.stopping is not None
        asyncio.get_running_loop().call_soon(self.stopping.set)
        return {}

    async def control(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break  # the controller is gone: so is this node
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise ValueError("not an object")
                except ValueError as e:
                    self.emit({"re": None, "ok": False, "error": f"bad command line: {e}"})
                    continue
                self.emit({"re": req.get("id"), **self.command(req)})
        except (OSError, ConnectionError):
            pass
        assert self.stopping is not None
        self.stopping.set()

    async def main(self) -> None:
        self.stopping = asyncio.Event()
        durable = self.store.load()
        self.node.boot(durable)
        reader, self.ctl_writer = await asyncio.open_connection(LOOPBACK, self.cfg.control_port)
        server = await asyncio.start_server(self.peer, LOOPBACK, self.cfg.ports[self.id], reuse_address=True)
        self.emit(
            {
                "event": "hello",
                "node": self.id,
                "pid": os.getpid(),
                "incarnation": self.incarnation,
                "port": self.cfg.ports[self.id],
                "restored": durable is not None,
            }
        )
        ctl = asyncio.get_running_loop().create_task(self.control(reader))
        if durable is None:
            log(self.id, f"started (incarnation {self.incarnation}), fields at their initial values")
        else:
            shown = ", ".join(f"{f} = {_show(t, durable[f])}" for f, t in self.cluster.durable_types(self.id).items())
            log(self.id, f"restarted (incarnation {self.incarnation}) from its durable file: {shown}")
        if not self.replay:
            self.started = True
            self.execute("on_start", (), "start" if durable is None else "restart")
        try:
            await self.stopping.wait()
        finally:
            server.close()
            ctl.cancel()
            for t in self.tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                await self.ctl_writer.drain()
                self.ctl_writer.close()


def main(argv: list[str] | None = None, *, run: Callable = asyncio.run) -> int:
    p = argparse.ArgumentParser(prog="python -m checker.runtime.host", description="Run one node of a cluster.")
    p.add_argument("cluster", help="the cluster file (JSON) the controller wrote")
    p.add_argument("node", help="this node's id")
    p.add_argument("--incarnation", type=int, default=0, help="how many times this node has started before")
    p.add_argument(
        "--replay", action="store_true", help="live replay: hold every message; run on_start on the `start` command"
    )
    p.add_argument(
        "--clock-offset", type=int, default=None, help="this node's clock offset in units (default: the cluster file's)"
    )
    args = p.parse_args(argv)
    try:
        cfg = ClusterFile.load(args.cluster)
        cluster = Cluster(load_protocol(cfg.protocol, cfg.params, cfg.paths), timed=cfg.timed)
        if args.node not in cluster.names:
            raise ClusterError(f"no node {args.node!r} (nodes: {', '.join(cluster.names)})")
        host = Host(cfg, cluster, args.node, args.incarnation, replay=args.replay, clock_offset=args.clock_offset)
        run(host.main())
    except (ClusterError, StorageError) as e:
        print(f"host {args.node}: {e}", file=sys.stderr)
        return 2
    except (OSError, ConnectionError) as e:
        print(f"host {args.node}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
