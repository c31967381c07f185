"""The message-passing form: `Node` classes with typed durable/volatile fields, `Message` types,
handlers that read like a paper, and the `Protocol` that names roles, counts and messages.

Handlers perform no I/O. They read and assign fields of `self` and record
effects — `send`, `broadcast`, `set_timer`, `cancel_timer` — and may branch
with `choose`; whoever drives the node (the checker's semantics, later the
runtime) performs the effects. Definitions are validated when classes are
made, with errors that name the fix. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .lowlevel import ModelError, Param, _check_arity, collect_declarations, set_params
from .schema import FrozenDict, Ids, RecordValue, SchemaError, Symbolic, Type, field_properties

_MISSING = object()


# -- fields ------------------------------------------------------------------------------------


class Field:
    """A typed node field; a descriptor reading and writing the node's current values."""

    def __init__(self, type_: Type, initial: Any, durable: bool):
        if not isinstance(type_, Type):
            raise ModelError(f"a field needs a schema type (Bool(), Int(lo, hi), Enum(...), ...), got {type_!r}")
        self.type, self.initial, self.durable = type_, initial, durable
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, node: Node | None, owner: type) -> Any:
        if node is None:
            return self
        try:
            return node._vals[self.name]
        except (AttributeError, KeyError):
            raise ModelError(f"{owner.__name__}.{self.name} is read outside a handler") from None

    def __set__(self, node: Node, value: Any) -> None:
        node._vals[self.name] = value

    def initial_for(self, t: Type) -> Any:
        """The initial value for the field's bound type `t`: a Map's initial may be one value, for every
        key (`volatile(Map(Ids("n"), Time()), initial=0)`: the ids are not known before the counts are)."""
        from .schema import Map

        if isinstance(t, Map) and not isinstance(self.initial, Mapping):
            return {k: self.initial for k in t.keys}
        return self.initial

    def __repr__(self) -> str:
        kind = "durable" if self.durable else "volatile"
        return f"{kind}({self.type!r}, initial={self.initial!r})"


def durable(type_: Type, initial: Any = _MISSING) -> Any:
    """A field that survives a crash (restored on restart). `initial` is its value at first boot (for a
    Map, a mapping of every key, or one value that every key starts with)."""
    if initial is _MISSING:
        raise ModelError(f"durable({type_!r}) needs an initial value: durable({type_!r}, initial=...)")
    return Field(type_, initial, durable=True)


def volatile(type_: Type, initial: Any = _MISSING) -> Any:
    """A field lost on a crash: it is reset to `initial` on restart."""
    if initial is _MISSING:
        raise ModelError(f"volatile({type_!r}) needs an initial value: volatile({type_!r}, initial=...)")
    return Field(type_, initial, durable=False)


# -- messages ----------------------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _freeze(v: Any) -> Any:
    """A message is hashable: a dict, set or list given for a Map, Set or Seq field is frozen."""
    if isinstance(v, dict) and not isinstance(v, FrozenDict):
        return FrozenDict((k, _freeze(x)) for k, x in v.items())
    if isinstance(v, set):
        return frozenset(_freeze(x) for x in v)
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


class Message(RecordValue):
    """A message type: subclass it, declaring fields as class attributes with schema types.

        class Replicate(Message):
            value = Int(0, 3)
            index = Int(1, 2)

        Replicate(2, 1) == Replicate(value=2, index=1)

    A node handles it with `on_replicate(self, msg, src)` (the class name in snake case).
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _types: ClassVar[dict[str, Type]] = {}
    # Optional: who sends it to whom, as "sender_role -> receiver_role" (or a tuple of such): a handler
    # sending it otherwise is an error naming this rule, and Z3 keeps no other envelope of it.
    route: ClassVar[str | tuple[str, ...] | None] = None
    _routes_: ClassVar[frozenset[tuple[str, str]] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        route = vars(cls).get("route", None)
        if route is not None and not isinstance(route, Type):  # (a field may be called route)
            rules = (route,) if isinstance(route, str) else route
            parsed = []
            for r in rules:
                parts = [p.strip() for p in r.split("->")] if isinstance(r, str) else []
                if len(parts) != 2 or not all(p.isidentifier() for p in parts):
                    raise ModelError(f"message {cls.__name__}.route: expected \"sender_role -> receiver_role\" "
                                     f"(or a tuple of them), got {r!r}")
                parsed.append((parts[0], parts[1]))
            cls._routes_ = frozenset(parsed)
        types: dict[str, Type] = {}
        for base in reversed(cls.__mro__[1:]):
            types.update(getattr(base, "_types", {}))
        for k, v in list(vars(cls).items()):
            if isinstance(v, Type):
                if k.startswith("_"):
                    raise ModelError(f"message {cls.__name__}: field {k!r} must not start with '_'")
                if _holds_time(v):
                    raise ModelError(f"message {cls.__name__}.{k}: a message carries durations (Int), not times: "
                                     "clocks differ between nodes (send now's distance to the time instead)")
                types[k] = v
                delattr(cls, k)
        cls._types = types
        cls._fields = tuple(types)
        for name, prop in field_properties(cls._fields).items():
            setattr(cls, name, prop)

    def __new__(cls, *args: Any, **kwargs: Any) -> Message:
        if len(args) > len(cls._fields):
            raise ModelError(f"{cls.__name__} takes {len(cls._fields)} field(s), got {len(args)}")
        values = dict(zip(cls._fields, args))
        for k, v in kwargs.items():
            if k not in cls._types:
                raise ModelError(f"{cls.__name__} has no field {k!r} (fields: {', '.join(cls._fields) or 'none'})")
            if k in values:
                raise ModelError(f"{cls.__name__}: field {k!r} given twice")
            values[k] = v
        missing = [f for f in cls._fields if f not in values]
        if missing:
            raise ModelError(f"{cls.__name__} is missing field {missing[0]!r}")
        return tuple.__new__(cls, [_freeze(values[f]) for f in cls._fields])

    @classmethod
    def _from_slots(cls, values: Iterable[Any]) -> Message:
        return tuple.__new__(cls, values)

    def __repr__(self) -> str:
        if not self._fields:
            return type(self).__name__
        return f"{type(self).__name__}({', '.join(repr(v) for v in self)})"

    @classmethod
    def handler_name(cls) -> str:
        return "on_" + _snake(cls.__name__)


# -- nodes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice(Exception):
    """Raised by `choose` when the driver must branch: the number of options."""

    n: int


def choice_text(value: Any) -> str:
    """How an option a handler's `choose` returned reads in a step: a str (a node id, an enum value) as
    itself, None as "none", a bool as "true"/"false", a message or record as "Write(1)", a tuple or list
    as "(a1, a2)", a set as "{a1, a2}" (sorted), a mapping as "{k: v}", anything else as str() does.

    >>> choice_text(("a1", "a2")), choice_text("abort"), choice_text(frozenset({"b", "a"}))
    ('(a1, a2)', 'abort', '{a, b}')
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, RecordValue):
        inner = ", ".join(choice_text(v) for v in value)
        return f"{type(value).__name__}({inner})" if value._fields else type(value).__name__
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(choice_text(v) for v in value) + ")"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(choice_text(v) for v in value)) + "}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(sorted(f"{choice_text(k)}: {choice_text(v)}" for k, v in value.items())) + "}"
    return str(value)


def timer(fn: Callable) -> Callable:
    """Declare a timer handler `(self)`: armed by `set_timer("<name>")`, it fires as a step of its own."""
    fn._fc_timer = True  # type: ignore[attr-defined]
    return fn


def request(fn: Callable | None = None, *, over: Type | None = None):
    """Declare a client request handler `(self)` or `(self, value)` with `value` ranging over `over`.

    A request may arrive at any time; the protocol's own fields bound how often it matters.
    """

    def mark(f: Callable) -> Callable:
        f._fc_request = over  # type: ignore[attr-defined]
        return f

    return mark(fn) if fn is not None else mark


class Node:
    """Base of node classes. Fields are `durable(...)`/`volatile(...)` class attributes.

    Handlers: `on_start(self)` at boot (and restart); `on_<message>(self, msg, src)`
    per message type; `@timer` methods; `@request` methods; `on_peer_crash(self, peer)`
    (a failure detector: perfect by default, told only of crashed peers; with the spec's
    `[faults] detector = "partition"` also of live peers a partition cuts off). Inside a handler:
    `self.id`, `self.role`, `self.nodes(role)`, `self.peers(role)`,
    `self.send(dst, msg)`, `self.broadcast(msg, role=...)`, `self.set_timer(name)`,
    `self.cancel_timer(name)`, `self.choose(options)`.
    """

    _fields_: ClassVar[dict[str, Field]] = {}
    _timers_: ClassVar[tuple[str, ...]] = ()
    _requests_: ClassVar[dict[str, Type | None]] = {}
    _handlers_: ClassVar[dict[str, str]] = {}  # method name on_<x> -> method name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        for base in reversed(cls.__mro__):
            for k, v in vars(base).items():
                if isinstance(v, Field):
                    fields[k] = v
                elif base is cls and isinstance(v, Type):
                    raise ModelError(f"{cls.__name__}.{k}: wrap the type as durable({v!r}, initial=...) or volatile(...)")
        for k in fields:
            if k in _RESERVED or k.startswith("_"):
                raise ModelError(f"{cls.__name__}.{k}: the name is reserved by Node; rename the field")
        cls._fields_ = fields
        timers, requests, handlers = [], {}, {}
        for base in reversed(cls.__mro__):
            for k, v in vars(base).items():
                if not callable(v):
                    continue
                if getattr(v, "_fc_timer", False):
                    _check_arity(cls, k, v, 1, "timer handler (self)")
                    if k not in timers:
                        timers.append(k)
                if hasattr(v, "_fc_request"):
                    _check_arity(cls, k, v, 1 if v._fc_request is None else 2,
                                 "request handler (self)" if v._fc_request is None else "request handler (self, value)")
                    requests[k] = v._fc_request
                if k == "on_peer_crash":
                    _check_arity(cls, k, v, 2, "crash-detection handler (self, peer)")
                elif k.startswith("on_") and k != "on_start":
                    _check_arity(cls, k, v, 3, "message handler (self, msg, src)")
                    handlers[k] = k
        if "on_start" in vars(cls):
            _check_arity(cls, "on_start", cls.on_start, 1, "start-up handler (self)")
        cls._timers_, cls._requests_, cls._handlers_ = tuple(timers), requests, handlers

    # -- set by the driver before a handler runs ----------------------------------------------
    _vals: dict[str, Any]
    _effects: list[tuple]
    _script: Sequence[int]
    _pos: int
    _chosen: list[Any] | None = None  # where the driver wants them: the options `choose` returned, in order
    id: str
    role: str
    _ids: dict[str, tuple[str, ...]]
    _now: Callable[[], Any] | None = None  # the clock, when the driver keeps time
    keeps_time: ClassVar[bool | None] = None  # whether this node reads its clock (None: found from its code)

    def on_start(self) -> None:
        """Runs at boot and at every restart (durable fields restored, volatile ones reset)."""

    # A node class may define `on_peer_crash(self, peer)`: a perfect failure detector. When faults
    # crash a node, each live node with this handler is told, once, as a step of its own; never
    # about a node that has not crashed.

    # -- effects ------------------------------------------------------------------------------
    # -- a client's history (Jepsen's shape), for consistency checks ----------------------------
    def invoke(self, f: str, value: Any = None) -> None:
        """Record that this node (a client) invokes operation `f` (`value`: what it writes; for a
        compare-and-set the pair (expected, new)). The protocol declares `history = History(...)`."""
        self._effects.append(("event", "invoke", f, value))

    def complete(self, outcome: str, f: str, value: Any = None) -> None:
        """Record the completion of this client's pending `f`: outcome "ok" (with what a read
        returned), "fail" (it did not take effect) or "info" (unknown: it may have)."""
        self._effects.append(("event", outcome, f, value))

    def send(self, dst: str, msg: Message) -> None:
        """Send `msg` to node `dst`."""
        if not isinstance(msg, Message):
            raise ModelError(f"{self.id}: send(dst, msg) takes a Message, got {msg!r}")
        self._effects.append(("send", dst, msg))

    def broadcast(self, msg: Message, role: str | None = None, *, include_self: bool = False) -> None:
        """Send `msg` to every node (of `role`, if given), itself excepted unless `include_self`."""
        for dst in self.nodes(role):
            if dst != self.id or include_self:
                self.send(dst, msg)

    def set_timer(self, name: str, after: int | None = None) -> None:
        """Arm timer `name` (a @timer method of this node). Without `after` it may fire at any time;
        with `after=d` (the spec needs [time]) it fires when this node's clock has advanced d ticks.
        Arming an armed timer re-arms it (a new deadline)."""
        if name not in type(self)._timers_:
            raise ModelError(f"{self.id}: set_timer({name!r}): {type(self).__name__} has no @timer {name!r}")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
            raise ModelError(f"{self.id}: set_timer({name!r}, after={after!r}): after is a whole number of ticks >= 0")
        self._effects.append(("set_timer", name, after))

    def now(self) -> Any:
        """This node's clock: an Instant to add ticks to and compare with its Time fields (needs [time])."""
        clock = self._now
        if clock is None:
            raise ModelError(f"{self.id}: self.now() reads the clock, but the spec has no [time] section")
        return clock()

    def cancel_timer(self, name: str) -> None:
        if name not in type(self)._timers_:
            raise ModelError(f"{self.id}: cancel_timer({name!r}): {type(self).__name__} has no @timer {name!r}")
        self._effects.append(("cancel_timer", name))

    def choose(self, options: Sequence[Any]) -> Any:
        """One of `options`; the checker explores every one (a nondeterministic choice)."""
        options = list(options)
        if not options:
            raise ModelError(f"{self.id}: choose() needs at least one option")
        if self._pos < len(self._script):
            i = self._script[self._pos]
            self._pos += 1
            if self._chosen is not None:
                self._chosen.append(options[i])
            return options[i]
        raise Choice(len(options))

    # -- who is who -------------------------------------------------------------------------------
    def nodes(self, role: str | None = None) -> tuple[str, ...]:
        """The ids of every node (of `role`), in order."""
        if role is None:
            return tuple(n for ids in self._ids.values() for n in ids)
        try:
            return self._ids[role]
        except KeyError:
            raise ModelError(f"{self.id}: no role {role!r} (roles: {', '.join(self._ids)})") from None

    def peers(self, role: str | None = None) -> tuple[str, ...]:
        """The ids of every other node (of `role`)."""
        return tuple(n for n in self.nodes(role) if n != self.id)


_RESERVED = {n for n in dir(Node) if not n.startswith("__")} | {"id", "role"}


# -- protocols ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """A protocol's client history, kept in the state: at most `max_events` events (invocations and
    completions) of operations `ops` over `values` (a finite type): "read", "write", "cas" on a
    register; or, with `keys`, "get", "put", "append" on a key-value map (a client records
    `invoke("put", (key, value))`, `invoke("get", key)`, `complete("ok", "get", (key, value))`).

    With `transactions=True` (and `keys`), each event is a transaction of at most `max_ops` micro-ops
    (Elle's workloads, `checker.logic.elle`): `ops` ("append", "r") for list-append -- a read returns at
    most `max_read` elements -- or ("w", "r") for rw-register. A client records
    `invoke("txn", [("append", "x", 1), ("r", "y", None)])` and
    `complete("ok", "txn", [("append", "x", 1), ("r", "y", (1,))])`; a spec then says
    `[consistency] history = "serializable"` (or another of Elle's models), `model = "list-append"`."""

    values: Type
    max_events: int = 8
    ops: tuple[str, ...] = ("read", "write", "cas")
    keys: Type | None = None
    transactions: bool = False
    max_ops: int = 2
    max_read: int = 3

    def __post_init__(self) -> None:
        if not self.transactions:
            return
        if self.ops == ("read", "write", "cas"):  # the default: list-append's micro-ops
            object.__setattr__(self, "ops", ("append", "r"))
        if tuple(sorted(self.ops)) not in (("append", "r"), ("r", "w")):
            raise ModelError(f"History(transactions=True): ops are ('append', 'r') (list-append) or ('w', 'r') "
                             f"(rw-register), got {self.ops!r}")
        if self.keys is None:
            raise ModelError("History(transactions=True) needs keys=... (the type of the keys micro-ops name)")
        if self.max_ops < 1 or self.max_read < 0:
            raise ModelError("History(transactions=True): max_ops must be at least 1 and max_read at least 0")


@dataclass(frozen=True)
class Role:
    """`count` nodes of class `node`; `count` is an int or the name of a Param."""

    node: type[Node]
    count: int | str = 1


class Protocol:
    """Base of message-passing protocols: class attributes `Role(...)` per role, `messages`,
    `Param`s, and `@invariant`/`@terminal` methods taking a `StateView` (`state.role("rm")`
    gives that role's node records in order, `state.<node id>` one node's); `@constraint`,
    `@action_constraint`, `@view` and `@reachable` as in the low-level form."""

    messages: ClassVar[tuple[type[Message], ...]] = ()
    symmetry: ClassVar[tuple[str, ...]] = ()  # roles whose nodes are interchangeable (`check --symmetry`)
    _symmetric: ClassVar[frozenset[str]] = frozenset()
    _roles_: ClassVar[dict[str, Role]] = {}
    _params: ClassVar[dict[str, Param]] = {}
    _predicates: ClassVar[dict[str, tuple[str, str]]] = {}
    _actions: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collect_declarations(cls)  # Params and predicates, as the low-level form declares them
        if cls._actions:
            raise ModelError(f"{cls.__name__}: @action belongs to the low-level Model form; nodes have handlers")
        roles = {}
        for base in reversed(cls.__mro__):
            for k, v in vars(base).items():
                if isinstance(v, Role):
                    roles[k] = v
        cls._roles_ = roles
        if not roles:
            return  # an abstract base
        for name, r in roles.items():
            if not (isinstance(r.node, type) and issubclass(r.node, Node)):
                raise ModelError(f"{cls.__name__}.{name}: Role(node) takes a Node subclass, got {r.node!r}")
            if isinstance(r.count, str) and r.count not in cls._params:
                raise ModelError(f"{cls.__name__}.{name}: count {r.count!r} names no Param of {cls.__name__}")
        msgs = tuple(cls.messages)
        for m in msgs:
            if not (isinstance(m, type) and issubclass(m, Message)):
                raise ModelError(f"{cls.__name__}.messages: {m!r} is not a Message subclass")
        names = [m.__name__ for m in msgs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ModelError(f"{cls.__name__}.messages: {dup[0]} is listed twice")
        for m in msgs:
            for a, b in sorted(m._routes_ or ()):
                if a not in roles or b not in roles:
                    raise ModelError(f"message {m.__name__}.route: {a} -> {b} names no role of {cls.__name__} "
                                     f"(roles: {', '.join(roles)})")
        known = {m.handler_name(): m for m in msgs}
        for r in roles.values():
            for h in r.node._handlers_:
                if h not in known:
                    hint = ", ".join(sorted(known)) or "none declared"
                    raise ModelError(
                        f"{r.node.__name__}.{h} handles no message of {cls.__name__}: add its Message class to "
                        f"{cls.__name__}.messages, or rename it (handlers: {hint})"
                    )
            for f in r.node._fields_.values():
                for sym in _symbols(f.type):
                    if sym not in roles:
                        raise ModelError(f"{r.node.__name__}.{f.name}: Ids({sym!r}) names no role of {cls.__name__}")

    def __init__(self, **params: Any):
        cls = type(self)
        if not cls._roles_:
            raise ModelError(f"{cls.__name__} declares no Role")
        set_params(self, params)
        self.counts: dict[str, int] = {}
        for name, r in cls._roles_.items():
            n = self.params[r.count] if isinstance(r.count, str) else r.count
            if not isinstance(n, int) or n < 1:
                raise ModelError(f"{cls.__name__}.{name}: a role needs at least one node, got count {n!r}")
            self.counts[name] = n
        self.setup()

    def setup(self) -> None:
        """Compute constants once the parameters are set."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def predicates(self, kind: str) -> dict[str, Callable]:
        return {n: getattr(self, m) for n, (k, m) in type(self)._predicates.items() if k == kind}


def _holds_time(t: Any) -> bool:
    from .schema import Deferred
    from .time import Time

    if isinstance(t, Time):
        return True
    return isinstance(t, Deferred) and any(_holds_time(a) for a in (*t.args, *t.kwargs.values()))


def _symbols(t: Any) -> set[str]:
    from .schema import Deferred

    if isinstance(t, Ids):
        return {t.role}
    if isinstance(t, Deferred):
        out: set[str] = set()
        for a in (*t.args, *t.kwargs.values()):
            out |= _symbols(a)
        return out
    return set()


__all__ = ["Choice", "Field", "History", "Message", "Node", "Protocol", "Role", "durable", "request", "timer", "volatile",
           "Symbolic", "SchemaError", "choice_text"]
