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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model.node import Message, Node, Protocol
from ..model.schema import NodeId, SchemaError, Type, bind
from .codec import Codec, CodecError

DEFAULT_TIMER = 0.2  # seconds before an armed timer fires, unless the spec or the command line says otherwise


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
    """A protocol instance's nodes, fields and messages, as every process of the cluster sees them."""

    def __init__(self, protocol: Protocol):
        self.protocol = protocol
        roles = type(protocol)._roles_
        self.id_types: dict[str, Type] = {r: NodeId(r, n) for r, n in protocol.counts.items()}
        self.groups: dict[str, tuple[str, ...]] = {r: t.names for r, t in self.id_types.items()}  # type: ignore[attr-defined]
        self.names: tuple[str, ...] = tuple(n for ns in self.groups.values() for n in ns)
        self.role_of: dict[str, str] = {n: r for r, ns in self.groups.items() for n in ns}
        self.classes: dict[str, type[Node]] = {n: roles[r].node for n, r in self.role_of.items()}
        self.fields: dict[str, list[tuple[str, Type, Any, bool]]] = {}  # role -> (name, type, initial, durable)
        for r, role in roles.items():
            fs = []
            for f in role.node._fields_.values():
                t = bind(f.type, self.id_types)
                fs.append((f.name, t, t.validate(f.initial, f"{role.node.__name__}.{f.name}"), f.durable))
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
    in order, history events, and whether a durable field changed (so the file must be rewritten)."""

    sends: list[tuple[str, bytes, Message]]
    timers: list[tuple[str, str]]
    events: list[tuple[str, str, Any]]
    durable_changed: bool


class LiveNode:
    """One node's values and handlers, run for real. Not thread-safe; one handler at a time."""

    def __init__(self, cluster: Cluster, node: str, seed: int = 0):
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
        self.obj = obj
        self.values: dict[str, Any] = cluster.initial_values(node)

    def boot(self, durable: dict[str, Any] | None) -> None:
        """Volatile fields at their initial values, durable ones as saved (initial if never saved)."""
        self.values = self.cluster.initial_values(self.id)
        if durable:
            self.values.update(durable)

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
                timers.append((e[0], e[1]))
        changed = any(new[f] != self.values[f] for f, _, _, d in self.fields if d)
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
