"""What every process of a running cluster agrees on: the protocol instance, the node ids, each
node's fields with their types bound, the codec, and the cluster file that passes it all on.

`LiveNode` runs a protocol's handlers on one node's current values for real: the node class is
the protocol's own, unchanged; `choose` picks at random (seeded) instead of branching, and the
effects a handler records are checked (field types, destinations, message types) and returned
for the host to perform. Standard library and `checker.model` only.
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import traceback
import types
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model.node import Message, Node, Protocol
from ..model.schema import Deferred, Map, NodeId, SchemaError, Type, bind
from ..model.time import Instant, Time, TimeSlot
from .codec import Codec, CodecError

DEFAULT_TIMER = 0.2  # seconds before an armed timer fires, unless the spec or the command line says otherwise
DEFAULT_TICK = 0.05  # seconds of one time unit (`[runtime] tick_seconds`)
CLOCK_BASE = 1_000_000  # a real clock's reading at the cluster's start: its origin (0) is long before every time
VIEW_HORIZON = 1 << 20  # units kept exact when a real node's times are shown relative to its clock (invariants)


class ClusterError(ValueError):
    """A cluster that cannot be set up (a protocol that does not load, a bad cluster file)."""


@dataclass(frozen=True, kw_only=True)
class ClusterFile:
    """The cluster file each host reads: which protocol, where everyone listens, how long timers run."""

    protocol: str  # "module:Class"
    params: dict[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()  # folders to import the protocol's module from
    ports: dict[str, int] = field(default_factory=dict)  # node id -> its TCP port on 127.0.0.1
    control_port: int = 0  # the controller's port
    data_dir: str = "."  # where the durable-state files live
    timer_default: float = DEFAULT_TIMER
    timers: dict[str, float] = field(default_factory=dict)  # per timer name, seconds
    seed: int = 0
    timed: bool = False  # the spec has a [time] section: every node has a clock (`Node.now()`, timed timers)
    tick_seconds: float = DEFAULT_TICK  # one time unit in real seconds
    epoch_ns: int = 0  # `time.monotonic_ns()` at the cluster's start: every node's clock counts from it
    clock_base: int = CLOCK_BASE  # every clock's reading at the start, before its offset
    clock_offsets: dict[str, int] = field(default_factory=dict)  # node -> its clock's initial offset, in units

    def timer_seconds(self, name: str) -> float:
        return self.timers.get(name, self.timer_default)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ClusterFile:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            data["paths"] = tuple(data.get("paths", ()))
            return cls(**data)
        except (OSError, ValueError, TypeError) as e:
            raise ClusterError(f"{path}: not a cluster file: {e}") from None


class AbsTime(Type):
    """A `Time` field on a real node: an absolute reading of the node's clock, in whole units (JSON: the
    number), or the clock's origin, long before the cluster started (the initial 0; JSON: "long ago").
    `now` (set by the process that runs the node's handlers) is the clock `Instant.passed()` reads.
    Only JSON and validation: a real node's times are never packed into slots (see `relative_values`)."""

    cardinality = None

    def __init__(self) -> None:
        self.now: Callable[[], Instant] | None = None

    def long_ago(self) -> Instant:
        return Instant(None, 0, self.now)

    def _check(self, value: Any, path: str) -> Instant:
        if isinstance(value, Instant):
            if value.lo is None:
                if value.hi > 0:
                    raise SchemaError(f"{path}: keeping a time derived from \"long ago\" ({value!r}) is not determined")
                return self.long_ago()
            if value.lo != value.hi:
                raise SchemaError(f"{path}: keeping a time that is not exact ({value!r})")
            return value if value._now is self.now else Instant.at(value.hi, self.now)
        if value == 0 and type(value) is int:
            return self.long_ago()
        raise SchemaError(f"{path}: a time is an Instant (self.now() + ticks), or 0 for the clock's origin; got {value!r}")

    def to_json(self, value: Instant) -> Any:
        return "long ago" if value.lo is None else value.hi

    def from_json(self, obj: Any, path: str = "value") -> Instant:
        if obj == "long ago":
            return self.long_ago()
        if isinstance(obj, int) and not isinstance(obj, bool):
            return Instant.at(obj, self.now)
        raise SchemaError(f"{path}: expected a clock reading (a whole number) or \"long ago\", got {obj!r}")

    def format(self, value: Instant) -> str:
        return "long ago" if value.lo is None else f"t{value.hi}"

    def __repr__(self) -> str:
        return "Time()"


def keeps_time(protocol: Protocol) -> bool:
    """Whether a node of the protocol holds a time (a `Time` field, or a Map of times) or says it reads its
    clock (`keeps_time = True`): what a launcher without a spec goes by to give the nodes clocks."""

    def timed(t: Any) -> bool:
        return isinstance(t, Time) or (isinstance(t, Deferred) and any(timed(a) for a in t.args))

    nodes = [role.node for role in type(protocol)._roles_.values()]
    return any(n.keeps_time or any(timed(f.type) for f in n._fields_.values()) for n in nodes)


def relative_values(t: Type, value: Any, clock: int, view: TimeSlot) -> Any:
    """`value` (of the bound type `t`, a real node's) with every absolute time made relative to the node's
    clock reading `clock`, as the checker keeps it in `view`: exact within (-past, ahead], "long ago" below
    (a time further ahead than `ahead` is kept as it is, and will not fit the view). Time lives in a
    node's fields and in the values of its Maps only."""
    if isinstance(t, AbsTime):
        if value.lo is None or value.hi - clock <= -view.past:
            return Instant(None, -view.cut)
        return Instant.at(value.hi - clock)
    if isinstance(t, Map) and isinstance(t.value, AbsTime):
        return {k: relative_values(t.value, v, clock, view) for k, v in value.items()}
    return value


def load_protocol(ref: str, params: dict[str, Any], paths: Sequence[str] = ()) -> Protocol:
    """The protocol instance `module:Class` with `params`, its module imported with `paths` first."""
    mod_name, _, cls_name = ref.partition(":")
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        cls = getattr(importlib.import_module(mod_name), cls_name)
    except (ImportError, AttributeError) as e:
        raise ClusterError(f"protocol {ref}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise ClusterError(f"protocol {ref}: not a message-passing Protocol (the runtime runs Node classes)")
    return cls(**params)


class Cluster:
    """A protocol instance's nodes, fields and messages, as every process of the cluster sees them.
    `timed`: the spec has a [time] section, so `Time` fields are allowed (each an `AbsTime`, `self.time`)."""

    def __init__(self, protocol: Protocol, timed: bool = False):
        self.protocol = protocol
        self.timed = timed
        roles = type(protocol)._roles_
        self.id_types: dict[str, Type] = {r: NodeId(r, n) for r, n in protocol.counts.items()}
        self.groups: dict[str, tuple[str, ...]] = {r: t.names for r, t in self.id_types.items()}  # type: ignore[attr-defined]
        self.names: tuple[str, ...] = tuple(n for ns in self.groups.values() for n in ns)
        self.role_of: dict[str, str] = {n: r for r, ns in self.groups.items() for n in ns}
        self.classes: dict[str, type[Node]] = {n: roles[r].node for n, r in self.role_of.items()}
        self.time = AbsTime()
        # the relative times the checker's invariants see (`relative_values`), when a real node's state is judged
        self.view_time = TimeSlot(cut=VIEW_HORIZON, past=VIEW_HORIZON, ahead=VIEW_HORIZON)
        ids = {**self.id_types, Time.KEY: self.time} if timed else self.id_types
        view_ids = {**self.id_types, Time.KEY: self.view_time} if timed else self.id_types
        self.fields: dict[str, list[tuple[str, Type, Any, bool]]] = {}  # role -> (name, type, initial, durable)
        self.view_types: dict[str, dict[str, Type]] = {}  # role -> field -> its type in the judged view
        for r, role in roles.items():
            fs = []
            self.view_types[r] = {}
            for f in role.node._fields_.values():
                where = f"{role.node.__name__}.{f.name}"
                try:
                    t = bind(f.type, ids)
                    self.view_types[r][f.name] = bind(f.type, view_ids)
                except SchemaError as e:
                    raise ClusterError(f"{where}: {e}") from None
                fs.append((f.name, t, t.validate(f.initial_for(t), where), f.durable))
            self.fields[r] = fs
        self.codec = Codec(type(protocol).messages, self.names, self.id_types)

    def node_fields(self, node: str) -> list[tuple[str, Type, Any, bool]]:
        return self.fields[self.role_of[node]]

    def durable_types(self, node: str) -> dict[str, Type]:
        return {f: t for f, t, _, d in self.node_fields(node) if d}

    def initial_values(self, node: str) -> dict[str, Any]:
        return {f: v for f, _, v, _ in self.node_fields(node)}

    def fields_json(self, node: str, values: dict[str, Any]) -> dict[str, Any]:
        return {f: t.to_json(values[f]) for f, t, _, _ in self.node_fields(node)}

    def view_values(self, node: str, values: dict[str, Any], clock: int | None) -> dict[str, Any]:
        """A real node's values as the checker's invariants see them: times relative to its clock reading."""
        if not self.timed or clock is None:
            return values
        return {f: relative_values(t, values[f], clock, self.view_time) for f, t, _, _ in self.node_fields(node)}

    def clients(self) -> dict[str, dict[str, Type | None]]:
        """Nodes with @request methods -> {request name: the type of its argument, or None}."""
        return {n: dict(c._requests_) for n, c in self.classes.items() if c._requests_}


class HandlerFailure(Exception):
    """A handler raised or did something the protocol forbids; `text` has the traceback or the reason."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


@dataclass
class Effects:
    """What one handler run did, checked: frames to send (dst, frame bytes, message), timer changes
    in order (op, name, after: the units of the node's clock a timed timer waits, else None), history
    events, and whether a durable field changed (so the file must be rewritten)."""

    sends: list[tuple[str, bytes, Message]]
    timers: list[tuple[str, str, int | None]]
    events: list[tuple[str, str, Any]]
    durable_changed: bool


class LiveNode:
    """One node's values and handlers, run for real. Not thread-safe; one handler at a time."""

    def __init__(self, cluster: Cluster, node: str, seed: int = 0, clock: Callable[[], int] | None = None):
        self.cluster, self.id = cluster, node
        cls = cluster.classes[node]
        self.cls = cls
        self.fields = cluster.node_fields(node)
        self.rng = random.Random(f"{seed}:{node}")
        obj = cls.__new__(cls)
        object.__setattr__(obj, "id", node)
        object.__setattr__(obj, "role", cluster.role_of[node])
        object.__setattr__(obj, "_ids", cluster.groups)
        rng = self.rng

        def choose(self_: Node, options: Sequence[Any]) -> Any:  # one option at random: the run takes one branch
            options = list(options)
            if not options:
                raise ValueError(f"{node}: choose() needs at least one option")
            return rng.choice(options)

        object.__setattr__(obj, "choose", types.MethodType(choose, obj))
        if cluster.timed and clock is not None:  # `self.now()`: the node's clock, absolute (`Instant.at`)

            def now() -> Instant:
                return Instant.at(clock(), now)

            object.__setattr__(obj, "_now", now)
            cluster.time.now = now  # one node's handlers run at a time in a process: its times read its clock
        self.obj = obj
        self.values: dict[str, Any] = self.canonical(cluster.initial_values(node))

    def canonical(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` validated again (so each time reads this node's clock)."""
        if not self.cluster.timed:
            return values
        return {f: t.validate(values[f], f"{self.id}.{f}") for f, t, _, _ in self.fields}

    def boot(self, durable: dict[str, Any] | None) -> None:
        """Volatile fields at their initial values, durable ones as saved (initial if never saved)."""
        values = self.cluster.initial_values(self.id)
        if durable:
            values.update(durable)
        self.values = self.canonical(values)

    def durable_values(self) -> dict[str, Any]:
        return {f: self.values[f] for f, _, _, d in self.fields if d}

    def has(self, handler: str) -> bool:
        return callable(getattr(self.cls, handler, None))

    def run(self, handler: str, *args: Any) -> Effects:
        """Run `handler(*args)`; on success the node takes the new values. Raises HandlerFailure (the
        node's values unchanged) when the handler raises or breaks a type."""
        obj = self.obj
        obj._vals = dict(self.values)
        obj._effects = []
        obj._script, obj._pos = (), 0
        try:
            getattr(obj, handler)(*args)
        except Exception:
            raise HandlerFailure(traceback.format_exc()) from None
        where = f"{self.cls.__name__}.{handler} on {self.id}"
        new: dict[str, Any] = {}
        for f, t, _, _ in self.fields:
            try:
                new[f] = t.validate(obj._vals[f], f"{self.id}.{f}")
            except SchemaError as e:
                raise HandlerFailure(f"{where}: {e}") from None
        sends, timers, events = [], [], []
        for e in obj._effects:
            if e[0] == "send":
                try:
                    sends.append((e[1], self.cluster.codec.encode(self.id, e[1], e[2]), e[2]))
                except CodecError as err:
                    raise HandlerFailure(f"{where}: send to {e[1]!r}: {err}") from None
            elif e[0] == "event":
                events.append((e[1], e[2], e[3]))
            else:
                timers.append((e[0], e[1], e[2] if len(e) > 2 else None))
        changed = any(t.to_json(new[f]) != t.to_json(self.values[f]) for f, t, _, d in self.fields if d)  # times: by value
        self.values = new
        return Effects(sends, timers, events, changed)


def jsonable(value: Any) -> Any:
    """A history value as JSON: tuples and records as lists, sets as sorted lists."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value
