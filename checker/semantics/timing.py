"""Time in message-passing protocols: the discrete-time model of partial synchrony, kept finite.

Global time advances by a `tick` step of its own. Every node that reads its
clock has an offset from global time (the state variable `clocks`); a clock
may run ahead on its own (a `clock` step: +1 unit) so long as it stays
within `max_skew` of global time, and a tick carries along every clock that
would otherwise fall more than `max_skew` behind (a clock pushed outside the
band by a clock jump only drifts back toward it). So each clock is any
monotone function within `max_skew` of global time, in whole units; with
`max_skew = 0` every clock is global time. A tick is enabled only when no live node has
a timed timer due and, with `max_delay`, no message that could be delivered
(its receiver up, no partition between) has waited so long that the tick
would take it past `max_delay`: messages carry their age. Messages that
cannot be delivered age up to `max_delay` and wait there. A clock does not
run past a timer of its node that is due.

Times in the state are relative to their node's clock (see `checker.model.time`):
a tick moves them back by the clock's advance, and a time more than `past`
units ago becomes "long ago". `past` is the cut K (one more than the largest
constant the protocol's time-reading code, its parameters and its messages'
integer fields hold, or `[time] horizon`) plus what the clock-jump budget may
take back; timed timers count down the same way. With every constant the
protocol compares times against below K, two states that differ only in how
long ago a "long ago" time was are indistinguishable to the protocol, so the
search over these finitely many states is exact; a handler or invariant whose
answer the cut leaves open is a one-line error naming it (TimeCutError).
Imports `checker.model`.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..model import Int, Map, ModelError, Record, Type
from ..model.node import Node
from ..model.schema import Bag, Deferred, OneOf, Option, Seq, Set
from ..model.time import Time, TimeSettings, TimeSlot
from . import Action
from .faults import kind_action

if TYPE_CHECKING:
    from .nodes import NodeSemantics

CONSTANT_LIMIT = 1000  # larger ints in a protocol's code are not durations (masks, ids): they are not cut points


def uses_time(cls: type[Node]) -> bool:
    """Whether a node class reads its clock: a Time field, or code that calls now() or arms a timer
    `after` some ticks (its class may say so itself with `keeps_time`)."""
    if cls.keeps_time is not None:
        return bool(cls.keeps_time)
    if any(_has_time(f.type) for f in cls._fields_.values()):
        return True
    return any("now" in names or "after" in names for names in (_code_names(c) for c in _codes(cls)))


def has_time_field(cls: type[Node]) -> bool:
    """Whether a node class declares a Time field (directly or inside a Map or Record)."""
    return any(_has_time(f.type) for f in cls._fields_.values())


def _has_time(t: Any) -> bool:
    if isinstance(t, (Time, TimeSlot)):
        return True
    if isinstance(t, Deferred):
        return any(_has_time(a) for a in (*t.args, *t.kwargs.values()))
    return False


def _members(cls: type) -> Iterator[tuple[str, Any, Any]]:
    """(name, attribute, its function or None) for every attribute a class defines itself or inherits from
    bases of the protocol's own (faultcheck's Node, Protocol and object left out)."""
    for klass in cls.__mro__:
        if klass is object or klass.__module__.startswith("checker."):
            continue
        for k, v in vars(klass).items():
            fn = v.__func__ if isinstance(v, (staticmethod, classmethod)) else (v.fget if isinstance(v, property) else v)
            yield k, v, fn if getattr(fn, "__code__", None) is not None else None


def _codes(cls: type) -> Iterator[types.CodeType]:
    """The code objects of a class's own functions, nested ones too."""
    for _, _, fn in _members(cls):
        if fn is not None:
            yield from _nested(fn.__code__)


def _nested(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _nested(c)


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:  # keyword names of calls (set_timer(..., after=...)) are a tuple constant
        if isinstance(c, tuple):
            names.update(x for x in c if isinstance(x, str))
    return names


def _ints(values: Any) -> Iterator[int]:
    for v in values:
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            yield v
        elif isinstance(v, (tuple, frozenset)):
            yield from _ints(v)


def largest_constant(sem: NodeSemantics, clocked: list[type[Node]], settings: TimeSettings) -> int:
    """The largest constant the protocol may compare times against: ints in its clocked classes' code
    (literals, and module or class names it reads), its parameters, its messages' Int fields, and the
    time settings. Values beyond CONSTANT_LIMIT are left out (they are not durations of a checkable model)."""
    found = [settings.tick, settings.max_skew, settings.max_delay or 0]
    for cls in clocked:
        for k, v, fn in _members(cls):
            if not k.startswith("__"):
                found.extend(_ints([v]))
            if fn is None:
                continue
            g = fn.__globals__
            for c in _nested(fn.__code__):
                found.extend(_ints(c.co_consts))
                for name in c.co_names:
                    if name in g:
                        found.extend(_ints([g[name]]))
                    if hasattr(cls, name) and not callable(getattr(cls, name, None)):
                        found.extend(_ints([getattr(cls, name, None)]))
    for c in _codes(type(sem.protocol)):  # its invariants compare times too
        found.extend(_ints(c.co_consts))
    found.extend(_ints(sem.protocol.params.values()))
    for rec in sem.msg_records:
        for t in rec.fields.values():
            if isinstance(t, Int):
                found.extend((t.lo, t.hi))
    return max((abs(v) for v in found if abs(v) <= CONSTANT_LIMIT), default=0)


def time_slots(t: Type, base: int, where: str) -> list[int]:
    """The slots (from `base`) holding times in a value of type `t`: Time fields, directly or as the values
    of Maps and the components of Records. Times inside sets, sequences or options are refused."""
    if isinstance(t, TimeSlot):
        return [base]
    if isinstance(t, Record):
        out = []
        for f, ft in t.fields.items():
            out += time_slots(ft, base + t.offsets[f], f"{where}.{f}")
        return out
    if isinstance(t, Map):
        w = t.value.width
        return [s for k in range(len(t.keys)) for s in time_slots(t.value, base + k * w, where)]
    if isinstance(t, (Set, Seq, Bag, Option, OneOf)) and contains_time(t):
        raise ModelError(f"{where}: a Time inside a {type(t).__name__} is not supported; keep times in a field or "
                         "a Map (e.g. Map(Ids(\"dn\"), Time()))")
    return []


def contains_time(t: Any) -> bool:
    """Whether a (bound) type holds a time anywhere inside it."""
    if isinstance(t, TimeSlot):
        return True
    if not isinstance(t, Type):
        return False
    for attr in ("elem", "inner", "value"):
        if contains_time(getattr(t, attr, None)):
            return True
    if isinstance(t, Record):
        return any(contains_time(ft) for ft in t.fields.values())
    if isinstance(t, OneOf):
        return any(contains_time(r) for r in t.records)
    return False


# -- steps ------------------------------------------------------------------------------------------


def time_actions(sem: NodeSemantics) -> list[Action]:
    """The tick step, a clock running ahead (with skew), and clock jumps when the fault budget allows them."""
    out = [kind_action("tick", _ticks(sem))]
    if sem.CLK is not None:  # clocks may stand off global time (skew, or a jump back to recover from)
        out.append(kind_action("clock", _clock_steps(sem)))
    if sem.faults.clock_jumps and sem.CLK is not None:
        out.append(kind_action("clock_jump", _jumps(sem)))
    return out


def _shift_node(sem: NodeSemantics, t: list, k: int, delta: int) -> None:
    """Node k's clock moved forward `delta` units (back, when negative): its times and timers follow."""
    i = sem.clocked[k]
    if delta > 0:
        for x in sem.time_slots[i]:
            v = t[x]
            t[x] = v - delta if v > delta else 0
    elif delta < 0:
        for x in sem.time_slots[i]:
            if t[x]:
                t[x] -= delta
    if sem.DUE is not None:
        for x in range(sem.DUE + i * sem.NT, sem.DUE + (i + 1) * sem.NT):
            v = t[x]
            if v:
                t[x] = max(v - delta, 1)  # (1: as far past its deadline as the jump budget allows)


def _ticks(sem: NodeSemantics) -> Callable[[tuple], Iterator]:
    """Global time advances `tick` units. A clock that would fall behind the band (or further behind,
    after a jump) is carried along; the others stay where they are, so they fall behind by a tick."""
    g, skew = sem.time.tick, sem.time.max_skew
    CLK, W, DUE, NT, n, DUE_NOW = sem.CLK, sem.W, sem.DUE, sem.NT, sem.n, sem.DUE_NOW
    FIRED, budget = sem.FIRINGS, sem.faults.timer_firings
    age = _aging(sem)
    blocking = sem.fifo and sem.overflow == "block"  # a due timer whose sends do not fit cannot fire
    carried = {o: max(0, min(o, -skew) - (o - g)) for o in range(-W, W + 1)}  # how far a tick carries a clock

    def instances(s: tuple) -> Iterator[tuple[tuple[str, ...], tuple]]:
        if DUE is not None and not (FIRED is not None and s[FIRED] >= budget):
            for i in range(n):
                if sem.is_up(s, i):
                    for b in range(NT):
                        if 0 < s[DUE + i * NT + b] <= DUE_NOW and (not blocking or sem.fire(s, i, b)):
                            return  # a timer is due: it fires before time moves on
        t = age(s)
        if t is None:
            return  # a message must be delivered first
        for k in range(len(sem.clocked)):
            if CLK is None:
                _shift_node(sem, t, k, g)
                continue
            o = s[CLK + k] - W
            d = carried[o]
            t[CLK + k] = o - g + d + W
            if d:
                _shift_node(sem, t, k, d)
        yield (), tuple(t)

    return instances


def _clock_steps(sem: NodeSemantics) -> Callable[[tuple], Iterator]:
    """One node's clock advances a unit on its own (it runs ahead), within the band; not past a due timer."""
    skew, CLK, W, DUE, NT, DUE_NOW = sem.time.max_skew, sem.CLK, sem.W, sem.DUE, sem.NT, sem.DUE_NOW

    def instances(s: tuple) -> Iterator[tuple[tuple[str, ...], tuple]]:
        for k, i in enumerate(sem.clocked):
            o = s[CLK + k] - W
            if o + 1 > max(o, skew):
                continue
            if DUE is not None and any(0 < v <= DUE_NOW for v in s[DUE + i * NT:DUE + (i + 1) * NT]):
                continue  # its timer fires first
            t = list(s)
            t[CLK + k] += 1
            _shift_node(sem, t, k, 1)
            yield (sem.names[i],), tuple(t)

    return instances


def _aging(sem: NodeSemantics) -> Callable[[tuple], list | None]:
    """A function: state -> the state's slots with every in-flight message one tick older, or None when a
    deliverable message would wait longer than max_delay."""
    D, g = sem.time.max_delay, sem.time.tick
    if D is None:
        return list
    A = D + 1
    if sem.fifo:
        return _fifo_aging(sem, A, g)
    NET, bits, one, n = sem.NET, sem.bits, sem.one, sem.n
    codes = sem.Msg.cardinality * n * n  # type: ignore[operator]
    oldest = sum(one << ((c * A + D) * bits) for c in range(codes))  # every envelope's age-D count
    where = {(c * A + D): divmod(c % (n * n), n) for c in range(codes)}
    faulty = sem.DOWN is not None or sem.PART is not None

    def age(s: tuple) -> list | None:
        net = s[NET]
        for _ in range(g):
            top = net & oldest
            if top:
                if not faulty:
                    return None
                x = top
                while x:
                    b = (x & -x).bit_length() - 1
                    x &= ~(one << b)
                    src, dst = where[b // bits]
                    if sem.deliverable(s, src, dst):
                        return None
            shifted = (net & ~oldest) << bits
            if top and bits > 1:
                x = top
                while x:  # messages that cannot be delivered wait at the oldest age: counts add up
                    b = (x & -x).bit_length() - 1
                    x &= ~(one << b)
                    if ((shifted >> b) & one) + ((top >> b) & one) > one:
                        _, dst, msg = sem.envelope(b // bits)
                        raise _overflow(sem, msg, dst)
                shifted += top
            else:
                shifted |= top
            net = shifted
        t = list(s)
        t[NET] = net
        return t

    return age


def _overflow(sem: NodeSemantics, msg: Any, dst: int) -> Exception:
    from .nodes import HandlerError

    return HandlerError(f"more than {sem.one} copies of {sem.Msg.format(msg)} to {sem.names[dst]} in flight; "
                        "bound the protocol")


def _fifo_aging(sem: NodeSemantics, A: int, g: int) -> Callable[[tuple], list | None]:
    CH, B, n, D = sem.CH, sem.B, sem.n, A - 1
    memo: dict[tuple[int, bool], int | None] = {}

    def aged(q: int, deliverable: bool) -> int | None:
        key = (q, deliverable)
        if key in memo:
            return memo[key]
        digits = []
        while q:
            q, d = divmod(q, B)
            digits.append(d)
        out = 0
        for d in reversed(digits):
            m, a = divmod(d - 1, A)
            if a + g > D:
                if deliverable:
                    memo[key] = None
                    return None
                a = D
            else:
                a += g
            out = out * B + m * A + a + 1
        memo[key] = out
        return out

    def age(s: tuple) -> list | None:
        t = list(s)
        for ch in range(n * n):
            q = s[CH + ch]
            if q:
                src, dst = divmod(ch, n)
                q2 = aged(q, sem.head_enabled(s, src, dst))
                if q2 is None:
                    return None
                t[CH + ch] = q2
        return t

    return age


def _jumps(sem: NodeSemantics) -> Callable[[tuple], Iterator]:
    CLK, W, USED = sem.CLK, sem.W, sem.schema.offsets["jumps"]
    budget, J = sem.faults.clock_jumps, sem.faults.jump

    def instances(s: tuple) -> Iterator[tuple[tuple[str, ...], tuple]]:
        if s[USED] >= budget:
            return
        for k, i in enumerate(sem.clocked):
            if not sem.is_up(s, i):
                continue
            o = s[CLK + k] - W
            for m in (*range(-J, 0), *range(1, J + 1)):
                if not -W <= o + m <= W:
                    continue
                t = list(s)
                t[CLK + k] = o + m + W
                t[USED] += 1
                _shift_node(sem, t, k, m)
                yield (sem.names[i], f"{m:+d}"), tuple(t)

    return instances
