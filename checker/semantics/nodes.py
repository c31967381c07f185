"""Message-passing protocols as transition systems: nodes + network + timers + client requests.

A global state is one flat tuple: each node's fields (a record per node, in
role order), then one slot per node of armed timers (when any role has
timers), then the network in one slot: a multiset (4 bits per envelope) or a
set (1 bit) of in-flight envelopes; or, with FIFO ordering, one slot per
ordered pair of nodes holding that channel's queue. An envelope's code is
`msg_rank * n*n + src * n + dst`, so each message type owns a contiguous
range of codes and a delivery action finds its messages with one shift.

Steps: deliver an in-flight message (one action per message type), fire an
armed timer, a client request. Faults plug in here (crash, restart,
partition, loss, duplication) as more kinds of step. Imports `checker.model`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..model import (
    Enum,
    History,
    Int,
    Map,
    ModelError,
    NodeId,
    OneOf,
    Option,
    Record,
    SchemaError,
    Seq,
    Set,
    StateSchema,
    Type,
)
from ..model.faults import FaultError, Faults
from ..model.node import Choice, Message, Node, Protocol
from ..model.schema import Bag, Queue, bind
from ..model.time import OVERFLOWS, Due, Instant, Time, TimeCutError, TimeSettings, TimeSlot
from . import Action, TransitionSystem, choice_text
from .timing import contains_time, has_time_field, largest_constant, time_actions, time_slots, uses_time

NETWORKS = ("multiset", "set")
ORDERINGS = ("unordered", "fifo")


MEMO_LIMIT = 1 << 20  # handler outcomes kept; past this, new ones are computed every time


@dataclass(frozen=True)
class Outcome:
    """What one run of a handler did: the node's new slots (None: unchanged), the envelope codes it
    sent (with their sum and union as network deltas), and the timers it armed and disarmed; `choice`,
    the options its `choose` calls returned (for labels only: outcomes compare without it)."""

    slots: tuple[int, ...] | None
    sent: tuple[int, ...]
    add: int
    mask: int
    arm: int
    disarm: int
    events: tuple[tuple[int, ...], ...] = ()  # history events recorded (their slots), in order
    due: tuple[tuple[int, int], ...] = ()  # with time: (timer, its `due_in` slot) for each timer set or cancelled
    choice: tuple[Any, ...] = field(default=(), compare=False)


class ProtocolSchema(StateSchema):
    """A protocol's state layout. Its view always has `down`, the set of crashed nodes: a variable
    when crashes are configured, else the empty set (a constant, reading no slot), so an invariant
    that reads `state.down` means the same whatever the fault settings."""

    def __init__(self, variables: dict[str, Type], groups: dict[str, tuple[str, ...]] | None = None):
        super().__init__(variables, groups)
        self.constants: dict[str, Any] = {}
        if "down" not in self.variables:
            self.constants["down"] = frozenset()
            view = self._view_class
            self._view_class = type(view.__name__, (view,), {"__slots__": (), "down": property(_nobody_down)})


def _nobody_down(view: Any) -> frozenset:
    return frozenset()


class HandlerError(Exception):
    """A handler did something the model forbids (a value outside its field's type, a send to no node)."""


class NodeSemantics:
    """Executes a protocol's handlers on flat states. One instance per checked protocol instance."""

    def __init__(self, protocol: Protocol, *, network: str = "multiset", check_determinism: bool = False,
                 memoize: bool = True, faults: Faults | None = None, ordering: str = "unordered", capacity: int = 4,
                 time: TimeSettings | None = None, overflow: str = "error"):
        if network not in NETWORKS:
            raise ModelError(f"network must be one of {', '.join(NETWORKS)}, got {network!r}")
        self.protocol, self.network, self.check_determinism = protocol, network, check_determinism
        self.memo: dict | None = {} if memoize and not check_determinism else None
        roles = type(protocol)._roles_
        self.ids: dict[str, NodeId] = {r: NodeId(r, n) for r, n in protocol.counts.items()}
        self.names: tuple[str, ...] = tuple(n for t in self.ids.values() for n in t.names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.groups = {r: t.names for r, t in self.ids.items()}
        n = len(self.names)
        self.n = n
        self.role_of = [r for r, t in self.ids.items() for _ in t.names]
        self.classes: list[type[Node]] = [roles[r].node for r in self.role_of]
        id_types: dict[str, Any] = dict(self.ids)
        self.faults = faults or Faults()
        self.time = time
        if overflow not in OVERFLOWS:
            raise ModelError(f"overflow must be one of {', '.join(OVERFLOWS)}, got {overflow!r}")
        self.overflow = overflow
        # time: which nodes read a clock, how far back times stay exact (the cut), and the Time slot type
        self.clocked: list[int] = []
        self._jumps = self.faults.clock_jumps * self.faults.jump  # how far clock jumps may move a clock in all
        self.W = 0  # the largest clock offset
        if time is not None:
            clocked_classes = [c for c in dict.fromkeys(self.classes) if uses_time(c)]
            self.clocked = [i for i, c in enumerate(self.classes) if c in clocked_classes]
            self.W = time.max_skew + self._jumps
        elif any(has_time_field(c) for c in self.classes):
            bad = next(c for c in self.classes if has_time_field(c))
            raise ModelError(f"{bad.__name__} has a Time field: add a [time] section to the spec")

        # messages and envelopes
        msgs = type(protocol).messages
        if not msgs:
            raise ModelError(f"{protocol.name}.messages lists no Message class")
        try:
            self.msg_records = [Record(m.__name__, _value_class=m, **{k: bind(t, id_types) for k, t in m._types.items()})
                                for m in msgs]
            self.Msg = OneOf(*self.msg_records)
        except SchemaError as e:
            raise ModelError(f"{protocol.name}.messages: {e}") from None
        if self.Msg.cardinality is None:
            raise ModelError(f"{protocol.name}.messages: the message values are not a small finite set")
        if time is not None:
            self.cut = time.horizon if time.horizon is not None else \
                largest_constant(self, clocked_classes, time) + 1
            past = self.cut + self._jumps
            # a handler stores times at most cut + (what jumps back took) ahead; jumps back may add as much again
            self.TimeType = TimeSlot(self.cut, past, self.cut + 2 * self._jumps, store_ahead=self.cut + self._jumps)
            id_types[Time.KEY] = self.TimeType

        # each role's fields, with Ids(...) bound; each node is one Record variable
        self.fields: dict[str, list[tuple[str, Type, Any, bool]]] = {}
        for r, role in roles.items():
            fs = []
            for f in role.node._fields_.values():
                try:
                    t = bind(f.type, id_types)
                    initial = t.validate(f.initial_for(t), f"{role.node.__name__}.{f.name} initial value")
                except SchemaError as e:
                    raise ModelError(str(e)) from None
                fs.append((f.name, t, initial, f.durable))
            self.fields[r] = fs
        self._field_times = {(r, f): time_slots(t, 0, f) for r, fs in self.fields.items() for f, t, _, _ in fs
                             if contains_time(t)}  # the fields holding times: where they lie among its slots
        self.records = {r: Record(roles[r].node.__name__, **{f: t for f, t, _, _ in fs}) for r, fs in self.fields.items()}

        self.Node = Enum(*self.names)
        # with a delay bound, an envelope carries its age: code = ((msg * n + src) * n + dst) * A + age
        self.A = 1 if time is None or time.max_delay is None else time.max_delay + 1
        ages = {} if self.A == 1 else {"age": Int(0, self.A - 1)}
        self.Envelope = Record("Envelope", msg=self.Msg, src=self.Node, dst=self.Node, **ages)
        self.bits = Bag.BITS if network == "multiset" else 1
        self.one = (1 << self.bits) - 1  # mask of one envelope's count

        timer_names = sorted({t for c in set(self.classes) for t in c._timers_})
        self.Timer = Enum(*timer_names) if timer_names else None
        variables: dict[str, Type] = {name: self.records[r] for name, r in zip(self.names, self.role_of)}
        if self.Timer is not None:
            variables["timers"] = Map(self.Node, Set(self.Timer))
            if time is not None:  # how long each timed timer has left on its node's clock
                variables["due_in"] = Map(self.Node, Map(self.Timer, Due(self.cut + self._jumps, late=self._jumps)))
        if ordering not in ORDERINGS:
            raise ModelError(f"network ordering must be one of {', '.join(ORDERINGS)}, got {ordering!r}")
        self.fifo = ordering == "fifo"
        if self.fifo:  # one queue per ordered pair of nodes, head first
            self.Channel = Enum(*(f"{a}→{b}" for a in self.names for b in self.names))
            self.capacity, self.B = capacity, self.Msg.cardinality * self.A + 1
            sent = self.Msg if self.A == 1 else Record("Sent", msg=self.Msg, age=Int(0, self.A - 1))
            variables["channels"] = Map(self.Channel, Queue(sent, capacity))
        else:
            variables["network"] = Bag(self.Envelope) if network == "multiset" else Set(self.Envelope)
        # the clients' history, when the protocol declares one: Jepsen-shaped events, in step order
        hist = getattr(type(protocol), "history", None)
        self.Event = None
        if isinstance(hist, History) and hist.transactions:  # a transaction of micro-ops [f, key, value]
            mop = {"f": Enum(*hist.ops), "key": hist.keys, "value": Option(hist.values)}
            if "append" in hist.ops:  # a list-append read returns a list
                mop["list"] = Option(Seq(hist.values, hist.max_read))
            self.Event = Record("Event", process=self.Node, kind=Enum("invoke", "ok", "fail", "info"),
                                f=Enum("txn"), ops=Seq(Record("MicroOp", **mop), hist.max_ops))
            variables["history"] = Seq(self.Event, hist.max_events)
        elif isinstance(hist, History):
            fields = {"process": self.Node, "kind": Enum("invoke", "ok", "fail", "info"), "f": Enum(*hist.ops)}
            if hist.keys is not None:  # a key-value map: each event names its key
                fields["key"] = Option(hist.keys)
            fields.update(value=Option(hist.values), new=Option(hist.values))
            self.Event = Record("Event", **fields)
            variables["history"] = Seq(self.Event, hist.max_events)
        # the fault bookkeeping, when faults are on: who is down, the current partition, budgets used
        try:
            self.faults.check_against(self.groups, network)
        except FaultError as e:
            raise ModelError(f"faults: {e}") from None
        f = self.faults
        if f.crashes:
            variables["down"] = Set(self.Node)
            variables["crashes"] = Int(0, f.crashes)
        suspicious = f.crashes or (f.partitions and f.detector == "partition")  # something to detect
        if suspicious and any(hasattr(c, "on_peer_crash") for c in self.classes):  # who has been told of whom
            variables["detected"] = Map(self.Node, Set(self.Node))
        if f.partitions:
            variables["partition"] = Set(self.Node)  # the side without the first node; empty: healed
            variables["partitions"] = Int(0, f.partitions)
        if f.loss:
            variables["drops"] = Int(0, f.loss)
        if f.duplication:
            variables["duplicates"] = Int(0, f.duplication)
        if f.timer_firings is not None and self.Timer is not None:
            variables["firings"] = Int(0, f.timer_firings)
        if f.clock_jumps and time is None:
            raise ModelError("faults.clock_jumps: clocks need time: add a [time] section to the spec")
        if self.W and self.clocked:  # each clock's offset from global time (a node's clock minus it)
            one = len(self.clocked) == n
            who = self.Node if one else Enum(*(self.names[i] for i in self.clocked))
            variables["clocks"] = Map(who, Int(-self.W, self.W))
            if f.clock_jumps:
                variables["jumps"] = Int(0, f.clock_jumps)
        self.schema = ProtocolSchema(variables, groups=self.groups)
        self.node_slices = [self.schema.slice(name) for name in self.names]
        self.TIMERS = self.schema.offsets.get("timers")
        self.HIST = self.schema.offsets.get("history")
        self.NET = self.schema.offsets.get("network")  # None for FIFO channels
        self.CH = self.schema.offsets.get("channels")
        self.DOWN = self.schema.offsets.get("down")
        self.DETECTED = self.schema.offsets.get("detected")
        self.FIRINGS = self.schema.offsets.get("firings")
        self.PART = self.schema.offsets.get("partition")
        self.DUE = self.schema.offsets.get("due_in")
        self.DUE_NOW = self._jumps + 1  # a `due_in` slot in 1..DUE_NOW: due
        self.NT = len(self.Timer.names) if self.Timer is not None else 0
        self.CLK = self.schema.offsets.get("clocks")
        self.time_slots: list[list[int]] = [[] for _ in self.names]
        if time is not None:
            for i in range(n):
                rec = self.records[self.role_of[i]]
                self.time_slots[i] = time_slots(rec, self.node_slices[i].start, f"{self.classes[i].__name__}")
        self.notes: dict[tuple, str] = {}  # overflow = "drop": what a step's sends lost (for its label)

        # one node object per node id, reused by every handler call
        self.objects: list[Node] = []
        for i, name in enumerate(self.names):
            obj = self.classes[i].__new__(self.classes[i])
            object.__setattr__(obj, "id", name)
            object.__setattr__(obj, "role", self.role_of[i])
            object.__setattr__(obj, "_ids", self.groups)
            if time is not None:
                object.__setattr__(obj, "_now", _relative_now if i in self.clocked else _clockless(self.classes[i]))
            self.objects.append(obj)
        self._decoded: list[dict[tuple, dict[str, Any]]] = [{} for _ in self.names]
        self._encoded: dict[tuple[str, str], dict[Any, tuple]] = {}
        self._msg_rank: dict[Message, int] = {}
        self._envelopes: dict[int, tuple[int, int, Message]] = {}

    # -- encoding ---------------------------------------------------------------------------
    def decode_node(self, key: tuple, i: int) -> dict[str, Any]:
        """Node i's field values from its slots."""
        memo = self._decoded[i]
        vals = memo.get(key)
        if vals is None:
            rec = self.records[self.role_of[i]].decode(key)
            vals = memo[key] = rec._asdict()
        return vals

    def encode_field(self, i: int, name: str, t: Type, value: Any, handler: str) -> tuple:
        """The slots of a value a handler assigned to field `name` of node i (HandlerError if it does not fit)."""
        times = self._field_times.get((self.role_of[i], name))
        timed = times is not None
        memo = self._encoded.setdefault((self.role_of[i], name), {})
        try:
            out = None if timed else memo.get(value)  # (times compare as times, not as memo keys)
        except TypeError:  # unhashable (a list or set assigned): validated below
            out = None
        if out is None:
            try:
                canon = t.validate(value, f"{self.names[i]}.{name}")
                out = tuple(t.encode(canon))
            except (SchemaError, TimeCutError) as e:
                raise HandlerError(f"{self.classes[i].__name__}.{handler} on {self.names[i]}: {e}") from None
            if timed:  # a time the handler computes may lie only so far ahead (jumps back may push it further)
                limit = self.TimeType.past + self.TimeType.store_ahead
                if any(out[x] > limit for x in times):
                    raise HandlerError(f"{self.classes[i].__name__}.{handler} on {self.names[i]}: {name}: a time "
                                       f"more than {self.TimeType.store_ahead} ticks ahead; the abstraction keeps "
                                       "times no further (raise [time] horizon)")
            else:
                try:
                    memo[value] = out
                except TypeError:
                    pass
        return out

    def msg_rank(self, msg: Any, i: int, handler: str) -> int:
        r = self._msg_rank.get(msg)
        if r is None:
            try:
                canon = self.Msg.validate(msg, f"message {msg!r}")
            except SchemaError as e:
                raise HandlerError(f"{self.classes[i].__name__}.{handler} on {self.names[i]}: {e}") from None
            r = self._msg_rank[msg] = self.Msg.rank(canon)
        return r

    def envelope(self, code: int) -> tuple[int, int, Message]:
        """(src, dst, message) of an envelope code (its age, with a delay bound, left out)."""
        e = self._envelopes.get(code)
        if e is None:
            m, rest = divmod(code // self.A, self.n * self.n)
            src, dst = divmod(rest, self.n)
            e = self._envelopes[code] = (src, dst, self.Msg.unrank(m))
        return e

    # -- running handlers ----------------------------------------------------------------------
    #
    # A handler sees only its own node's fields, the message and the sender; it is deterministic
    # (nondeterminism goes through choose). So its outcome is a function of (node, handler,
    # arguments, the node's slots), computed once and kept: an `Outcome` per choose-branch says
    # which slots the node ends with and what it sends and arms. Applying an outcome to a global
    # state is a few int operations. `memoize=False` (and the determinism check) runs every call.
    # Each outcome also keeps the options its `choose` calls returned: only labels read them
    # (`run_labelled`, behind each action's `choices`); the search's `run` never does.

    def run(self, s: tuple, i: int, handler: str, args: tuple, net: int) -> list[tuple]:
        """Every successor of running `handler(*args)` on node i of state s (one per `choose` branch),
        with `net` as the network before the handler's sends."""
        sl = self.node_slices[i]
        local = s[sl]
        if self.memo is not None:
            key = (i, handler, args, local)
            outcomes = self.memo.get(key)
            if outcomes is None:
                outcomes = self.outcomes(i, handler, args, local)
                if len(self.memo) < MEMO_LIMIT:
                    self.memo[key] = outcomes
        else:
            outcomes = self.outcomes(i, handler, args, local)
            if self.check_determinism:
                again = self.outcomes(i, handler, args, local, shuffled=True)
                if again != outcomes:
                    raise HandlerError(_nondeterminism(self.classes[i].__name__, handler, self.names[i]))
        if self.fifo:  # a full channel may block a step
            return [t for t in (self.apply(s, i, o, net, handler) for o in outcomes) if t is not None]
        return [self.apply(s, i, o, net, handler) for o in outcomes]  # type: ignore[misc]

    def outcomes(self, i: int, handler: str, args: tuple, local: tuple, shuffled: bool = False) -> tuple[Outcome, ...]:
        """Run the handler on node i with fields decoded from `local`, once per choose-branch."""
        node = self.objects[i]
        vals = self.decode_node(local, i)
        if shuffled:
            vals = {k: _reorder(v) for k, v in vals.items()}
        method = getattr(node, handler)
        out: list[Outcome] = []
        scripts: list[tuple[int, ...]] = [()]
        while scripts:
            script = scripts.pop()
            node._vals = dict(vals)
            node._effects = []
            node._script = script
            node._pos = 0
            node._chosen = chosen = []
            try:
                method(*args)
            except Choice as c:
                scripts.extend(script + (k,) for k in range(c.n - 1, -1, -1))
                continue
            except TimeCutError as e:
                raise HandlerError(f"{self.classes[i].__name__}.{handler} on {self.names[i]}: {e}") from None
            out.append(self.summarize(i, handler, local, node._vals, node._effects, tuple(chosen)))
        return tuple(out)

    def run_labelled(self, s: tuple, i: int, handler: str, args: tuple,
                     net: int | None) -> list[tuple[tuple[str, ...], tuple]]:
        """`run`'s successors in `run`'s order, each after the options its handler's `choose` calls returned,
        as text (`choice_text`; () when it chose nothing). The slow path, for labels: the search calls `run`."""
        local = s[self.node_slices[i]]
        outcomes = self.memo.get((i, handler, args, local)) if self.memo is not None else None
        if outcomes is None:
            outcomes = self.outcomes(i, handler, args, local)
        out = []
        for o in outcomes:
            t = self.apply(s, i, o, net, handler)
            if t is not None:  # (a full FIFO channel may block the step)
                out.append((tuple(choice_text(v) for v in o.choice), t))
        return out

    def summarize(self, i: int, handler: str, local: tuple, vals: dict[str, Any], effects: list[tuple],
                  choice: tuple[Any, ...] = ()) -> Outcome:
        slots: list[int] = []
        old = self.decode_node(local, i)
        rec = self.records[self.role_of[i]]
        for name, ft, _, _ in self.fields[self.role_of[i]]:
            v = vals[name]
            if v is old[name]:  # not assigned: its slots as they were (a time a jump pushed ahead stays)
                o = rec.offsets[name]
                slots.extend(local[o:o + ft.width])
                continue
            slots.extend(self.encode_field(i, name, ft, v, handler))
        sent: list[int] = []
        events: list[tuple[int, ...]] = []
        due: dict[int, int] = {}
        arm = disarm = 0
        for e in effects:
            if e[0] == "event":
                events.append(self.encode_event(i, handler, e[1], e[2], e[3]))
            elif e[0] == "send":
                dst = self.index.get(e[1])
                if dst is None:
                    raise HandlerError(f"{self.classes[i].__name__}.{handler} on {self.names[i]}: send to {e[1]!r}, "
                                       f"which is no node (nodes: {', '.join(self.names)})")
                routes = type(e[2])._routes_
                if routes is not None and (self.role_of[i], self.role_of[dst]) not in routes:
                    raise HandlerError(route_error(self.classes[i].__name__, handler, self.names[i], e[2],
                                                  self.names[dst], self.role_of[dst]))
                sent.append(((self.msg_rank(e[2], i, handler) * self.n + i) * self.n + dst) * self.A)
            else:
                b = self.Timer.code(e[1])  # type: ignore[union-attr]
                bit = 1 << b
                if e[0] == "set_timer":
                    arm, disarm = arm | bit, disarm & ~bit
                else:
                    arm, disarm = arm & ~bit, disarm | bit
                after = e[2] if e[0] == "set_timer" else None
                if after is not None and i not in self.clocked:
                    raise HandlerError(_clockless_message(self.classes[i], handler))
                if self.DUE is not None:
                    if after is not None and after > self.cut:
                        raise HandlerError(f"{self.classes[i].__name__}.{handler} on {self.names[i]}: "
                                           f"set_timer({e[1]!r}, after={after}): the abstraction keeps times at "
                                           f"most {self.cut} ahead (raise [time] horizon)")
                    due[b] = 0 if after is None else after + self.DUE_NOW
                elif after is not None:
                    raise HandlerError(f"{self.classes[i].__name__}.{handler} on {self.names[i]}: "
                                       f"set_timer({e[1]!r}, after={after}) needs a [time] section in the spec")
        new = tuple(slots)
        add = sum(1 << (c * self.bits) for c in sent) if self.bits > 1 else 0
        mask = 0
        for c in sent:
            mask |= 1 << (c * self.bits)
        return Outcome(None if new == local else new, tuple(sent), add, mask, arm, disarm, tuple(events),
                       tuple(sorted(due.items())), choice)

    def encode_event(self, i: int, handler: str, kind: str, f: str, value: Any) -> tuple[int, ...]:
        where = f"{self.classes[i].__name__}.{handler} on {self.names[i]}"
        if self.Event is None:
            raise HandlerError(f"{where}: records a history event, but {type(self.protocol).__name__} declares no "
                               "history = History(...)")
        new = None
        event = {"process": self.names[i], "kind": kind, "f": f}
        if "ops" in self.Event.fields:  # a transaction: [(f, key, value), ...]; a list-append read's value a list
            if not (isinstance(value, (tuple, list)) and all(isinstance(m, (tuple, list)) and len(m) == 3
                                                             for m in value)):
                raise HandlerError(f"{where}: a transaction records a list of micro-ops (f, key, value), got {value!r}")
            listed = "list" in self.Event.fields["ops"].elem.fields
            event["ops"] = tuple({"f": m, "key": k, "value": None if listed and m == "r" else v,
                                  **({"list": None if v is None else tuple(v)} if listed and m == "r" else
                                     {"list": None} if listed else {})} for m, k, v in value)
            try:
                return self.Event.encode(event)
            except SchemaError as e:
                raise HandlerError(f"{where}: history event: {e}") from None
        if "key" in self.Event.fields:
            if kind == "invoke" and f in ("get", "read") and not isinstance(value, (tuple, list)):
                value = (value, None)  # a get or read names only its key
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise HandlerError(f"{where}: a key-value operation records the pair (key, value), got {value!r}")
            event["key"], value = value
            if f == "cas" and (kind == "invoke" or value is not None):  # (key, (expected, new))
                if not (isinstance(value, (tuple, list)) and len(value) == 2):
                    raise HandlerError(f"{where}: a cas records (key, (expected, new)), got {value!r}")
                value, new = value
        elif f == "cas" and kind == "invoke":
            if not (isinstance(value, (tuple, list)) and len(value) == 2):
                raise HandlerError(f"{where}: a cas invocation records the pair (expected, new), got {value!r}")
            value, new = value
        event.update(value=value, new=new)
        try:
            return self.Event.encode(event)
        except SchemaError as e:
            raise HandlerError(f"{where}: history event: {e}") from None

    def record(self, t: list, events: tuple[tuple[int, ...], ...], i: int) -> None:
        """Append history events to the state's history."""
        h = self.HIST
        seq: Seq = self.schema.variables["history"]  # type: ignore[assignment]
        w = seq.elem.width
        for ev in events:
            n = t[h]
            if n >= seq.max_len:
                raise HandlerError(f"{self.names[i]}: the history holds {seq.max_len} events already; raise "
                                   "History(max_events=...) or bound the clients' workload")
            t[h + 1 + n * w:h + 1 + (n + 1) * w] = ev
            t[h] = n + 1

    def net_of(self, s: tuple) -> int | None:
        """The unordered network of s (None with FIFO channels, which handlers append to in place)."""
        return None if self.NET is None else s[self.NET]

    def enqueue(self, t: list, code: int, i: int) -> str | None:
        """Append the envelope `code` to the tail of its FIFO channel in `t`. A full channel is the
        spec's `[network] overflow`: an error, the message lost (returns what was lost), or the step
        not enabled (returns "block")."""
        m, ch = divmod(code // self.A, self.n * self.n)
        q, length = t[self.CH + ch], 0
        while q:
            q //= self.B
            length += 1
        if length >= self.capacity:
            _, dst, msg = self.envelope(code)
            if self.overflow == "drop":
                return f"lost {self.Msg.format(msg)} {self.names[i]}→{self.names[dst]}: channel full"
            if self.overflow == "block":
                return "block"
            raise HandlerError(f"{self.names[i]}: the channel to {self.names[dst]} already holds {self.capacity} "
                               f"messages; {self.Msg.format(msg)} does not fit (raise [network] capacity, or set "
                               "[network] overflow = \"drop\" or \"block\")")
        t[self.CH + ch] += (m * self.A + 1) * self.B**length
        return None

    def apply(self, s: tuple, i: int, o: Outcome, net: int | None, handler: str) -> tuple | None:
        """The successor of s after outcome o of node i's handler (None: a full channel blocks the step)."""
        t = list(s)
        if o.slots is not None:
            t[self.node_slices[i]] = o.slots
        lost = None
        if o.sent and self.fifo:
            for c in o.sent:  # in the order they were sent
                why = self.enqueue(t, c, i)
                if why == "block":
                    return None
                if why:
                    lost = why if lost is None else f"{lost}; {why}"
        elif o.sent:
            if self.bits == 1:
                net |= o.mask
            else:
                one, bits = self.one, self.bits
                for c in o.sent:
                    if (net >> (c * bits)) & one == one:
                        _, dst, msg = self.envelope(c)
                        raise HandlerError(f"{self.names[i]}: more than {one} copies of {self.Msg.format(msg)} to "
                                           f"{self.names[dst]} in flight; bound the protocol")
                net += o.add
        if o.arm or o.disarm:
            k = self.TIMERS + i  # type: ignore[operator]
            t[k] = (t[k] & ~o.disarm) | o.arm
        for b, v in o.due:
            t[self.DUE + i * self.NT + b] = v  # type: ignore[operator]
        if o.events:
            self.record(t, o.events, i)
        if not self.fifo:
            t[self.NET] = net
        u = tuple(t)
        if lost:
            if len(self.notes) > 4096:  # only the latest matter: they label the steps just computed
                self.notes.clear()
            self.notes[u] = lost
        return u

    # -- steps ------------------------------------------------------------------------------
    def initial_states(self) -> list[tuple]:
        """Every node at its initial field values, then booted (`on_start`) in node order."""
        out: list[int] = []
        for r in self.role_of:
            for _, ft, initial, _ in self.fields[r]:
                ft.encode_into(initial, out)
        if self.TIMERS is not None:
            out.extend([0] * self.n)
        out.extend([0] * (self.schema.width - len(out)))  # the network and the fault bookkeeping: empty
        if self.CLK is not None:  # every clock starts at global time
            for k in range(len(self.clocked)):
                out[self.CLK + k] = self.W
        states = [tuple(out)]
        for i in range(self.n):
            states = [t for s in states for t in self.run(s, i, "on_start", (), self.net_of(s))]
        return list(dict.fromkeys(states))

    def deliveries(self, msg_index: int) -> tuple[Callable[[tuple], list[tuple]], Callable, Callable]:
        """The successors, labelled instances and instances with their choices of delivering messages of one type.

        The hot path of the search: with memos (the default), `fast_successors`; without, every
        in-flight envelope of the type is found by isolating its lowest set bit, and its handler
        is run (`run`) and each outcome applied (`apply`), as in labelled `instances`."""
        rec = self.msg_records[msg_index]
        n2, A = self.n * self.n, self.A
        lo = self.Msg._starts[msg_index] * n2 * A
        width = rec.cardinality * n2 * A  # type: ignore[operator]
        bits, one, NET = self.bits, self.one, self.NET
        shift, mask = lo * bits, (1 << (width * bits)) - 1
        handler = rec.value_class.handler_name()
        info = []  # per envelope of this type: (code, receiver, its slots, handler arguments or None)
        for k in range(width):
            src, dst, msg = self.envelope(lo + k)
            sl = self.node_slices[dst]
            info.append((lo + k, src, dst, sl.start, sl.stop,
                         (msg, self.names[src]) if hasattr(self.classes[dst], handler) else None))
        run = self.run
        # per envelope (every age of it shares one): local slots -> outcomes, digested (`fast_successors`)
        memos = [m for m in ({} for _ in range(width // A)) for _ in range(A)] if self.memo is not None else None

        DOWN, PART = self.DOWN, self.PART
        faulty = DOWN is not None or PART is not None

        def successors(s: tuple) -> list[tuple]:  # without memos: each handler runs, each outcome applied
            net0 = s[NET]
            x = (net0 >> shift) & mask
            out: list[tuple] = []
            if faulty:
                down = s[DOWN] if DOWN is not None else 0
                part = s[PART] if PART is not None else 0
            while x:
                k = ((x & -x).bit_length() - 1) // bits
                x &= ~(one << (k * bits))
                code, src, dst, a, b, args = info[k]
                if faulty and (down >> dst & 1 or (part and (part >> src & 1) != (part >> dst & 1))):
                    continue  # a crashed node receives nothing; nothing crosses a partition
                net = net0 - (1 << (code * bits))  # one copy consumed (for a set: the bit cleared)
                if args is None:  # no handler: the message is consumed and nothing else happens
                    t = list(s)
                    t[NET] = net
                    out.append(tuple(t))
                    continue
                out += run(s, dst, handler, args, net)
            return out

        def pending(s: tuple):
            """Per deliverable envelope of the type: its label, receiver, handler arguments (None: no
            handler) and the network once it is consumed."""
            x = (s[NET] >> shift) & mask
            k = 0
            while x:
                if x & one and self.deliverable(s, info[k][1], info[k][2]):
                    code, src, dst, a, b, args = info[k]
                    _, _, msg = self.envelope(code)
                    label = (self.names[src], self.names[dst], self.Msg.format(msg))
                    yield label, dst, args, s[NET] - (1 << (code * bits))
                x >>= bits
                k += 1

        def consumed(s: tuple, net: int) -> tuple:  # a message without a handler: consumed, nothing else
            t = list(s)
            t[NET] = net
            return tuple(t)

        def instances(s: tuple):
            for label, dst, args, net in pending(s):
                for t in (consumed(s, net),) if args is None else run(s, dst, handler, args, net):
                    yield label, t

        def choices(s: tuple):
            for label, dst, args, net in pending(s):
                for choice, t in (((), consumed(s, net)),) if args is None else \
                        self.run_labelled(s, dst, handler, args, net):
                    yield label, t, choice

        if memos is not None:
            successors = self.fast_successors(info, memos, handler, shift, mask)
        return successors, instances, choices

    def fast_successors(self, info: list, memos: list[dict], handler: str, shift: int,
                        mask: int) -> Callable[[tuple], list[tuple]]:
        """`deliveries`' successors with memoised outcomes, digested once per (envelope, receiver's slots)
        into what applying them takes (`_digest`): the same successors, in the same order, with the same
        errors, as applying each `Outcome` (the reference, used without memos). The envelopes of the type
        in flight are found once per value of the type's part of the network, and kept."""
        bits, one, NET = self.bits, self.one, self.NET
        DOWN, PART, TIMERS = self.DOWN, self.PART, self.TIMERS
        faulty = DOWN is not None or PART is not None
        outcomes_of, digest = self.outcomes, self._digest
        # per envelope: what consuming it takes away, who sends and receives it, the receiver's slots (and
        # whether it has one: then the slot itself is the memo's key), the handler's arguments, the memo
        envs = [(1 << (code * bits), src, dst, a, b, b - a == 1, args, memos[k],
                 None if TIMERS is None else TIMERS + dst) for k, (code, src, dst, a, b, args) in enumerate(info)]
        in_flight: dict[int, tuple] = {}  # the type's part of the network -> its envelopes, in code order

        def envelopes(x: int) -> tuple:
            found, k = [], 0
            while x:
                if x & one:
                    found.append(envs[k])
                x >>= bits
                k += 1
            return tuple(found)

        def overflow(net: int, dst: int, sent: tuple[int, ...]) -> HandlerError:
            for c in sent:
                if (net >> (c * bits)) & one == one:
                    _, d, m = self.envelope(c)
                    return HandlerError(f"{self.names[dst]}: more than {one} copies of {self.Msg.format(m)} to "
                                        f"{self.names[d]} in flight; bound the protocol")
            raise AssertionError("no full count")  # pragma: no cover - the digest's test found one

        def miss(memo: dict, key: Any, dst: int, args: tuple, local: tuple) -> tuple:
            ready = digest(outcomes_of(dst, handler, args, local))
            if len(memo) < MEMO_LIMIT:
                memo[key] = ready
            return ready

        def new_flight(x: int) -> tuple:
            present = envelopes(x)
            if len(in_flight) < MEMO_LIMIT:
                in_flight[x] = present
            return present

        # the loop, generated with what this protocol's settings leave of it (no test of a setting per
        # successor): a set or a multiset network, faults that stop a delivery, timers, due times and history
        multiset, timed, rare = bits > 1, TIMERS is not None, self.DUE is not None or self.HIST is not None
        code = [
            "def successors(s):",
            "    net0 = s[NET]",
            "    x = (net0 >> SHIFT) & MASK",
            "    if not x:",
            "        return []",
            "    present = flight(x)",
            "    if present is None:",
            "        present = new_flight(x)",
            "    out = []",
            "    append = out.append",
        ]
        if faulty:
            code += [f"    down = {'s[DOWN]' if DOWN is not None else '0'}",
                     f"    part = {'s[PART]' if PART is not None else '0'}"]
        code += ["    for dec, src, dst, a, b, single, args, memo, ts in present:"]
        if faulty:
            code += ["        if down >> dst & 1 or (part and (part >> src & 1) != (part >> dst & 1)):",
                     "            continue  # a crashed node receives nothing; nothing crosses a partition"]
        code += [
            "        net = net0 - dec  # one copy consumed (for a set: the bit cleared)",
            "        if args is None:  # no handler: the message is consumed and nothing else happens",
            "            t = list(s)",
            "            t[NET] = net",
            "            append(tuple(t))",
            "            continue",
            "        key = s[a] if single else s[a:b]",
            "        ready = memo.get(key)",
            "        if ready is None:",
            "            ready = miss(memo, key, dst, args, s[a:b])",
            "        for slots, add, full, swar, keep, arm, extra in ready:",
            "            t = list(s)",
            "            if slots is not None:",
            "                t[a:b] = slots",
        ]
        if multiset:
            code += [
                "            if add:",
                "                if full is not None:",
                "                    if net & full == full:",
                "                        raise overflow(net, dst, extra[0])",
                "                elif swar is not None:",
                "                    m, low, high = swar",
                "                    v = ~net & m",
                "                    if (v - low) & ~v & high:",
                "                        raise overflow(net, dst, extra[0])",
                "                t[NET] = net + add",
                "            else:",
                "                t[NET] = net",
            ]
        else:
            code += ["            t[NET] = net | add"]
        if timed:
            code += ["            if keep is not None:", "                t[ts] = (t[ts] & keep) | arm"]
        if rare:
            code += ["            if extra[1] is not None:", "                later(t, dst, extra)"]
        code += ["            append(tuple(t))", "    return out"]
        ns: dict[str, Any] = {"NET": NET, "SHIFT": shift, "MASK": mask, "DOWN": DOWN, "PART": PART,
                              "flight": in_flight.get, "new_flight": new_flight, "miss": miss, "overflow": overflow,
                              "later": self._later}
        exec(compile("\n".join(code) + "\n", f"<deliveries of {handler}>", "exec"), ns)
        return ns["successors"]

    def _later(self, t: list, dst: int, extra: tuple) -> None:
        """An outcome's due times and history events, applied to the successor `t` of node dst's step."""
        for tb, v in extra[1]:
            t[self.DUE + dst * self.NT + tb] = v  # type: ignore[operator]
        if extra[2]:
            self.record(t, extra[2], dst)

    def _digest(self, outcomes: tuple[Outcome, ...]) -> tuple[tuple, ...]:
        """Per outcome, what `fast_successors` applies: (slots or None; what its sends add to the network:
        the sum of their counts, or the union of their bits for a set (0: nothing sent); the one count that
        must not be full before, or None; for several sends (M, L, H): the counts that must not be full as
        a mask, their lowest bits and their highest, for a test of them all at once; the mask of the
        receiver's timers kept, or None when none is armed or disarmed; the timers armed; (sent, due,
        events), with due and events None when there are neither).

        With 4-bit counts, a count c is full (15) exactly when c's field of v = ~net & M is 0, and the
        classic test for a zero field, (v - L) & ~v & H, is nonzero exactly when one is (a borrow starts
        only at the lowest zero field, and there sets the field's highest bit)."""
        bits, one = self.bits, self.one
        out = []
        for o in outcomes:
            add = full = swar = None
            if not o.sent:
                add = 0
            elif bits == 1:
                add = o.mask
            else:
                add = o.add
                fields = sorted(set(o.sent))
                if len(fields) == 1:
                    full = one << (fields[0] * bits)
                else:
                    swar = (sum(one << (c * bits) for c in fields), sum(1 << (c * bits) for c in fields),
                            sum((1 << (bits - 1)) << (c * bits) for c in fields))
            keep = ~o.disarm if o.arm or o.disarm else None
            extra = (o.sent, o.due, o.events) if o.due or o.events else (o.sent, None, None)
            out.append((o.slots, add, full, swar, keep, o.arm, extra))
        return tuple(out)

    def deliverable(self, s: tuple, src: int, dst: int) -> bool:
        """Whether a message from src can reach dst now: dst is up and no partition separates them."""
        if self.DOWN is not None and s[self.DOWN] >> dst & 1:
            return False
        part = s[self.PART] if self.PART is not None else 0
        return not (part and (part >> src & 1) != (part >> dst & 1))

    def is_up(self, s: tuple, i: int) -> bool:
        return self.DOWN is None or not s[self.DOWN] >> i & 1

    def fifo_deliveries(self, msg_index: int) -> tuple[Callable[[tuple], list[tuple]], Callable, Callable]:
        """Delivering the message at the head of a FIFO channel, when it is of this type (as `deliveries`)."""
        rec = self.msg_records[msg_index]
        lo = self.Msg._starts[msg_index]
        hi = lo + rec.cardinality  # type: ignore[operator]
        handler = rec.value_class.handler_name()
        CH, B, n, A = self.CH, self.B, self.n, self.A
        channels = [(a * n + b, a, b, hasattr(self.classes[b], handler)) for a in range(n) for b in range(n)]

        def heads(s: tuple, run: Callable = self.run, labelled: bool = False):
            for ch, src, dst, has in channels:
                q = s[CH + ch]
                if q and lo <= (q % B - 1) // A < hi and self.deliverable(s, src, dst):
                    t = list(s)
                    t[CH + ch] = q // B
                    t = tuple(t)
                    msg = self.Msg.unrank((q % B - 1) // A)
                    succs = run(t, dst, handler, (msg, self.names[src]), None) if has else [((), t) if labelled else t]
                    yield (self.names[src], self.names[dst], self.Msg.format(msg)), succs

        def successors(s: tuple) -> list[tuple]:
            return [t for _, succs in heads(s) for t in succs]

        def instances(s: tuple):
            for label, succs in heads(s):
                for t in succs:
                    yield self.noted(label, t), t

        def choices(s: tuple):
            for label, succs in heads(s, self.run_labelled, True):
                for choice, t in succs:
                    yield self.noted(label, t), t, choice

        return successors, instances, choices

    def noted(self, label: tuple[str, ...], t: tuple) -> tuple[str, ...]:
        """A step's label with what a full channel lost on it (overflow = "drop"), so a trace says so."""
        note = self.notes.get(t) if self.notes else None
        return label if note is None else (*label, note)

    def fire(self, s: tuple, i: int, b: int) -> list[tuple]:
        """The successors of node i's timer b firing in s (none when a full channel blocks its sends)."""
        t = list(s)
        t[self.TIMERS + i] &= ~(1 << b)  # type: ignore[operator]  # a timer fires once; the handler may re-arm it
        if self.DUE is not None:
            t[self.DUE + i * self.NT + b] = 0
        if self.FIRINGS is not None:
            t[self.FIRINGS] += 1
        return self.run(tuple(t), i, self.Timer.names[b], (), self.net_of(s))  # type: ignore[union-attr]

    def fire_labelled(self, s: tuple, i: int, b: int) -> list[tuple[tuple[str, ...], tuple]]:
        """`fire`'s successors, each after its choice (`run_labelled`)."""
        t = list(s)
        t[self.TIMERS + i] &= ~(1 << b)  # type: ignore[operator]
        if self.DUE is not None:
            t[self.DUE + i * self.NT + b] = 0
        if self.FIRINGS is not None:
            t[self.FIRINGS] += 1
        return self.run_labelled(tuple(t), i, self.Timer.names[b], (), self.net_of(s))  # type: ignore[union-attr]

    def head_enabled(self, s: tuple, src: int, dst: int) -> bool:
        """Whether delivering the head of the FIFO channel src→dst is a step now: dst up, no partition
        between, and (overflow = "block") its handler's sends fit."""
        if not self.deliverable(s, src, dst):
            return False
        if self.overflow != "block":
            return True
        ch = src * self.n + dst
        q = s[self.CH + ch]  # type: ignore[operator]
        msg = self.Msg.unrank((q % self.B - 1) // self.A)
        handler = type(msg).handler_name() if hasattr(type(msg), "handler_name") else None
        if handler is None or not hasattr(self.classes[dst], handler):
            return True
        t = list(s)
        t[self.CH + ch] = q // self.B  # type: ignore[operator]
        return bool(self.run(tuple(t), dst, handler, (msg, self.names[src]), None))

    def timers(self) -> tuple[Callable, Callable, Callable]:
        T = self.TIMERS
        timer_names = self.Timer.names if self.Timer else ()

        FIRED, budget = self.FIRINGS, self.faults.timer_firings
        # the timers each node's class declares: a state from elsewhere (Z3's, in induct) may arm others
        own = [sum(1 << b for b, name in enumerate(timer_names) if name in c._timers_) for c in self.classes]

        DUE, NT, DUE_NOW = self.DUE, self.NT, self.DUE_NOW

        def fired(s: tuple) -> Iterator[tuple[int, int]]:
            if FIRED is not None and s[FIRED] >= budget:
                return  # the spec bounds how many timers fire in all
            for i in range(self.n):
                armed = s[T + i] & own[i]
                b = 0
                while armed:
                    if armed & 1 and (DUE is None or s[DUE + i * NT + b] <= DUE_NOW):  # untimed, or due
                        yield i, b
                    armed >>= 1
                    b += 1

        run_timer = self.fire
        timed = [(i, T + i, own[i]) for i in range(self.n) if own[i]]  # nodes whose class has timers

        def successors(s: tuple) -> list[tuple]:  # `fired`, inlined: every state asks (the hot path)
            out: list[tuple] = []
            if FIRED is not None and s[FIRED] >= budget:
                return out
            for i, k, mine in timed:
                armed = s[k] & mine
                b = 0
                while armed:
                    if armed & 1 and (DUE is None or s[DUE + i * NT + b] <= DUE_NOW):  # untimed, or due
                        out += run_timer(s, i, b)
                    armed >>= 1
                    b += 1
            return out

        def instances(s: tuple):
            for i, b in fired(s):
                for t in run_timer(s, i, b):
                    yield self.noted((self.names[i], timer_names[b]), t), t

        def choices(s: tuple):
            for i, b in fired(s):
                for choice, t in self.fire_labelled(s, i, b):
                    yield self.noted((self.names[i], timer_names[b]), t), t, choice

        return successors, instances, choices

    def requests(self, role: str, name: str, over: Type | None) -> tuple[Callable, Callable, Callable]:
        nodes = [i for i, r in enumerate(self.role_of) if r == role]
        values = [()] if over is None else [(v,) for v in over.values()]

        def successors(s: tuple) -> list[tuple]:
            out: list[tuple] = []
            for i in nodes:
                if self.is_up(s, i):
                    for args in values:
                        out += self.run(s, i, name, args, self.net_of(s))
            return out

        def instances(s: tuple):
            for i in nodes:
                if not self.is_up(s, i):
                    continue
                for args in values:
                    for t in self.run(s, i, name, args, self.net_of(s)):
                        yield self.noted((self.names[i], *(over.format(a) for a in args)), t), t  # type: ignore[union-attr]

        def choices(s: tuple):
            for i in nodes:
                if not self.is_up(s, i):
                    continue
                for args in values:
                    params = (self.names[i], *(over.format(a) for a in args))  # type: ignore[union-attr]
                    for choice, t in self.run_labelled(s, i, name, args, self.net_of(s)):
                        yield self.noted(params, t), t, choice

        return successors, instances, choices


_NOW = Instant.at(0)


def _relative_now() -> Instant:
    """The checker's clock reading: every time in a state is relative to its node's clock, so now is 0."""
    return _NOW


def _clockless_message(cls: type[Node], handler: str) -> str:
    return (f"{cls.__name__}.{handler} reads the clock, but faultcheck found no use of time in {cls.__name__}'s "
            "code when it built the model: set keeps_time = True in the class")


def _clockless(cls: type[Node]) -> Callable[[], Instant]:
    def now() -> Instant:
        raise HandlerError(_clockless_message(cls, "a handler"))

    return now


def _reorder(v: Any) -> Any:
    """The same value, with iteration order reversed where Python leaves it unspecified."""
    if isinstance(v, frozenset):
        return _ReversedSet(v)
    return v


class _ReversedSet(frozenset):
    """A frozenset that iterates in the opposite order: exposes handlers that depend on set order."""

    def __iter__(self):
        return reversed(list(frozenset.__iter__(self)))


def route_error(cls: str, handler: str, node: str, msg: Any, dst: str, dst_role: str) -> str:
    """A send that breaks its message type's declared route: the rule it breaks, named."""
    rules = ", ".join(f"{a} -> {b}" for a, b in sorted(type(msg)._routes_))
    return (f"{cls}.{handler} on {node}: sends {type(msg).__name__} to {dst} (role {dst_role}), but "
            f"{type(msg).__name__}.route allows only {rules}")


def _nondeterminism(cls: str, handler: str, node: str) -> str:
    return (
        f"{cls}.{handler} on {node} is not deterministic: run twice on the same state it gave different "
        "successors. Usual causes: iterating a set or dict whose order is unspecified (sort it first), "
        "reading the time, calling random, or keeping state in a module or class variable between calls "
        "(keep it in a field; use self.choose for a real choice)."
    )


def from_protocol(protocol: Protocol, *, network: str = "multiset", check_determinism: bool = False,
                  memoize: bool = True, faults: Faults | None = None, ordering: str = "unordered",
                  capacity: int = 4, time: TimeSettings | None = None, overflow: str = "error") -> TransitionSystem:
    """The transition system of a message-passing protocol, under `faults` (none by default).

    `memoize=False` runs every handler call instead of reusing its outcome for the same local state
    (the same successors, slower; for tests and the determinism check, which implies it)."""
    from .faults import fault_actions

    sem = NodeSemantics(protocol, network=network, check_determinism=check_determinism, memoize=memoize,
                        faults=faults, ordering=ordering, capacity=capacity, time=time, overflow=overflow)
    actions = []
    for k, rec in enumerate(sem.msg_records):
        succ, inst, chosen = sem.fifo_deliveries(k) if sem.fifo else sem.deliveries(k)
        actions.append(Action(rec.name, succ, inst, kind="deliver", choices=chosen))
    if sem.Timer is not None:
        succ, inst, chosen = sem.timers()
        actions.append(Action("timer", succ, inst, kind="timer", choices=chosen))
    for role, cls in {r: c for r, c in zip(sem.role_of, sem.classes)}.items():
        for name, over in cls._requests_.items():
            succ, inst, chosen = sem.requests(role, name, over)
            actions.append(Action(f"{role}.{name}", succ, inst, kind="request", choices=chosen))
    actions += fault_actions(sem)
    if time is not None:
        actions += time_actions(sem)
    system = TransitionSystem(
        name=protocol.name,
        schema=sem.schema,
        initial=sem.initial_states(),
        actions=actions,
        invariants=protocol.predicates("invariant"),
        constraints=protocol.predicates("constraint"),
        terminals=protocol.predicates("terminal"),
        params=dict(protocol.params),
        action_constraints=protocol.predicates("action_constraint"),
        views=protocol.predicates("view"),
        reachables=protocol.predicates("reachable"),
    )
    system.semantics = sem  # type: ignore[attr-defined]
    return system
