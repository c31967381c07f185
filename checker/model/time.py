"""Time as a protocol sees it: the `Time` field type, the `Instant` values handlers compute with,
and the `[time]` settings of a spec.

A `Time` field holds a point on its own node's clock. The checker keeps it
relative to that clock (ticks from now), exact within a window and cut
below it: a time more than `past` ticks ago is "long ago", one value. An
`Instant` is an interval of such relative points: exact for the times the
window holds; for a time read as "long ago", only an upper bound. Arithmetic
and comparisons work on the intervals, and an answer that the cut leaves
open raises `TimeCutError`, so the abstraction is exact or it says so;
never silently wrong. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .schema import SchemaError, Symbolic, Type


class TimeCutError(Exception):
    """An answer about a time that the abstraction keeps only as "long ago" is not determined."""


def _cut(what: str) -> TimeCutError:
    return TimeCutError(f"{what} depends on how long ago a time beyond the cut was (raise [time] horizon)")


class Instant:
    """A point on a node's clock: the interval [lo, hi] of where it may be (lo None: unbounded below).

    In the checker every instant is relative to its node's clock now (now is 0); a runtime may use
    absolute ones (`Instant.at(ticks)`). Exact instants behave as ints; "long ago" only as a bound.

    >>> now = Instant.at(0); lease = now + 3
    >>> lease > now, lease - now, (lease - 5).passed()
    (True, 3, True)
    """

    __slots__ = ("lo", "hi", "_now")

    def __init__(self, lo: int | None, hi: int, now: Any = None):
        self.lo, self.hi, self._now = lo, hi, now

    @classmethod
    def at(cls, ticks: int, now: Any = None) -> Instant:
        """The exact instant `ticks`; `now` (a callable giving the clock's current Instant) is what
        `passed()` compares with (default: the instant 0, the checker's relative now)."""
        return cls(ticks, ticks, now)

    @property
    def exact(self) -> bool:
        return self.lo == self.hi

    @property
    def long_ago(self) -> bool:
        return self.lo is None

    def key(self) -> tuple:
        """Structural identity (for memo tables), unlike `==`, which compares times."""
        return (self.lo, self.hi)

    # -- arithmetic ----------------------------------------------------------------------------
    def __add__(self, d: Any) -> Instant:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"a time plus {type(d).__name__}: add a whole number of ticks (a duration)")
        return Instant(None if self.lo is None else self.lo + d, self.hi + d, self._now)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, Instant):
            lo = None if self.lo is None else self.lo - other.hi
            hi = None if other.lo is None else self.hi - other.lo
            return lo if lo is not None and lo == hi else Span(lo, hi)
        if isinstance(other, bool) or not isinstance(other, int):
            raise TypeError(f"a time minus {type(other).__name__}: subtract a time or a whole number of ticks")
        return self + (-other)

    def __rsub__(self, other: Any) -> Any:
        raise TypeError("a number minus a time: subtract times from times (the result is a duration)")

    # -- comparisons -----------------------------------------------------------------------------
    def _other(self, other: Any, op: str) -> Instant:
        if not isinstance(other, Instant):
            raise TypeError(f"a time {op} {type(other).__name__}: compare a time with a time "
                            "(self.now(), or a time field, plus a number of ticks)")
        return other

    def __lt__(self, other: Any) -> bool:
        o = self._other(other, "<")
        return _less_open(self.lo, self.hi, o.lo, o.hi, strict=True, what="comparing two times")

    def __le__(self, other: Any) -> bool:
        o = self._other(other, "<=")
        return _less_open(self.lo, self.hi, o.lo, o.hi, strict=False, what="comparing two times")

    def __gt__(self, other: Any) -> bool:
        return self._other(other, ">") < self

    def __ge__(self, other: Any) -> bool:
        return self._other(other, ">=") <= self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (int, float)):  # `t == 0` would be silently false: say what to write
            raise TypeError("a time == a number: compare a time with a time (self.now(), a time field, plus ticks)")
        if not isinstance(other, Instant):
            return NotImplemented
        return _equal(self.lo, self.hi, other.lo, other.hi, "comparing two times")

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(("Instant", self.lo, self.hi))

    def __bool__(self) -> bool:
        raise TypeError("a time is neither true nor false: compare it (self.now() >= t, t.passed())")

    def passed(self) -> bool:
        """Whether this time has come on its node's clock (now >= this)."""
        now = self._now() if self._now is not None else Instant.at(0)
        return now >= self

    def __repr__(self) -> str:
        if self.lo is None:
            return f"Instant(<= {self.hi:+d})" if self._now is None else f"Instant(<= {self.hi})"
        if self._now is None:
            return "Instant(now)" if self.hi == 0 else f"Instant(now{self.hi:+d})"
        return f"Instant({self.hi})"


class Span:
    """A duration between two times, one of them long ago: [lo, hi] ticks (None: unbounded).

    It compares with whole numbers when the answer is determined, as `now - last_heard > TIMEOUT`."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: int | None, hi: int | None):
        self.lo, self.hi = lo, hi

    def _bounds(self, other: Any) -> tuple[int | None, int | None]:
        if isinstance(other, Span):
            return other.lo, other.hi
        if isinstance(other, bool) or not isinstance(other, int):
            raise TypeError(f"a duration compared with {type(other).__name__}: compare it with a whole number")
        return other, other

    def __lt__(self, other: Any) -> bool:
        lo, hi = self._bounds(other)
        return _less_open(self.lo, self.hi, lo, hi, strict=True)

    def __le__(self, other: Any) -> bool:
        lo, hi = self._bounds(other)
        return _less_open(self.lo, self.hi, lo, hi, strict=False)

    def __gt__(self, other: Any) -> bool:
        lo, hi = self._bounds(other)
        return _less_open(lo, hi, self.lo, self.hi, strict=True)

    def __ge__(self, other: Any) -> bool:
        lo, hi = self._bounds(other)
        return _less_open(lo, hi, self.lo, self.hi, strict=False)

    def __eq__(self, other: object) -> bool:
        lo, hi = self._bounds(other)
        if _less_open(self.lo, self.hi, lo, hi, strict=True, ask=False) or \
                _less_open(lo, hi, self.lo, self.hi, strict=True, ask=False):
            return False
        raise _cut("comparing a duration")

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, d: Any) -> Span:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"a duration plus {type(d).__name__}: add a whole number of ticks")
        return Span(None if self.lo is None else self.lo + d, None if self.hi is None else self.hi + d)

    __radd__ = __add__

    def __sub__(self, d: Any) -> Span:
        return self + (-d) if isinstance(d, int) and not isinstance(d, bool) else self.__add__(d)

    def __index__(self) -> int:
        raise _cut("the exact duration")

    __int__ = __index__

    def __bool__(self) -> bool:
        raise _cut("the exact duration")

    def __repr__(self) -> str:
        return f"Span({'-inf' if self.lo is None else self.lo}..{'inf' if self.hi is None else self.hi})"


def _less_open(alo: int | None, ahi: int | None, blo: int | None, bhi: int | None, *, strict: bool,
               what: str = "comparing a duration", ask: bool = True) -> bool:
    """a < b (a <= b) where every bound may be None (unbounded on its side); with `ask` False, only
    whether it is surely true."""
    if ahi is not None and blo is not None and (ahi < blo if strict else ahi <= blo):
        return True
    if not ask:
        return False
    if alo is not None and bhi is not None and (alo >= bhi if strict else alo > bhi):
        return False
    raise _cut(what)


def _equal(alo: int | None, ahi: int, blo: int | None, bhi: int, what: str) -> bool:
    if alo is not None and blo is not None and alo == ahi == blo == bhi:
        return True
    if (blo is not None and ahi < blo) or (alo is not None and bhi < alo):
        return False
    raise _cut(what)


# -- the field type -----------------------------------------------------------------------------


class Time(Symbolic):
    """A point on the owning node's clock: `lease_until = volatile(Time(), initial=0)`.

    The initial value 0 is the clock's origin, which the checker treats as long ago (before every time
    the protocol compares). Bound to a `TimeSlot` when the spec's `[time]` settings are known."""

    KEY = "__time__"  # where `bind` finds the bound slot type

    def bind(self, ids: dict[str, Type]) -> Type:
        try:
            return ids[self.KEY]
        except KeyError:
            raise SchemaError("a Time field needs time: add a [time] section to the spec") from None

    def __repr__(self) -> str:
        return "Time()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Time)

    def __hash__(self) -> int:
        return hash("Time")


class TimeSlot(Type):
    """A Time field in a state: one slot, 0 for "long ago" (at least `past` ticks ago), else
    ticks-from-now + past, exact over (-past, ahead]. Handlers see "long ago" as at most `cut` ticks
    ago (cut <= past: the margin is what clock jumps may take back)."""

    def __init__(self, cut: int, past: int, ahead: int, store_ahead: int | None = None):
        self.cut, self.past, self.ahead = cut, past, ahead
        self.store_ahead = ahead if store_ahead is None else store_ahead  # what a handler may store
        self.cardinality = past + ahead + 1

    def _check(self, value: Any, path: str) -> Instant:
        if isinstance(value, Instant):
            return value
        if value == 0 and type(value) is int:
            return Instant(None, -self.cut)
        raise SchemaError(f"{path}: a time is an Instant (self.now() + ticks), or 0 for the clock's origin; "
                          f"got {value!r}")

    def slot(self, value: Instant, path: str) -> int:
        """The slot of `value`, or SchemaError/TimeCutError when the state cannot keep it exactly."""
        if value.lo is None:
            if value.hi <= -self.cut:
                return 0  # derived from "long ago" by going back further: still long ago
            raise _cut(f"{path}: keeping a time ({value!r})")
        if value.lo != value.hi:
            raise _cut(f"{path}: keeping a time")
        rel = value.hi
        if rel <= -self.past:
            return 0
        if rel > self.ahead:
            raise SchemaError(f"{path}: a time {rel} ticks ahead; the abstraction keeps times at most "
                              f"{self.store_ahead} ahead (raise [time] horizon)")
        return rel + self.past

    def encode_into(self, value: Any, out: list[int]) -> None:
        out.append(self.slot(self._check(value, "time"), "time"))

    def decode_at(self, slots: Any, i: int) -> Instant:
        s = slots[i]
        return Instant(None, -self.cut) if s == 0 else Instant.at(s - self.past)

    def bounds(self) -> list[int]:
        return [self.cardinality]

    def rank(self, value: Instant) -> int:
        return self.slot(value, "time")

    def unrank(self, index: int) -> Instant:
        return self.decode_at((index,), 0)

    def to_json(self, value: Instant) -> Any:
        return "long ago" if value.lo is None else value.hi

    def from_json(self, obj: Any, path: str = "value") -> Instant:
        if obj == "long ago":
            return Instant(None, -self.cut)
        if isinstance(obj, int) and not isinstance(obj, bool) and -self.past < obj <= self.ahead:
            return Instant.at(obj)
        raise SchemaError(f"{path}: expected ticks from now in ({-self.past}, {self.ahead}] or \"long ago\", got {obj!r}")

    def format(self, value: Instant) -> str:
        if value.lo is None:
            return "long ago"
        return "now" if value.hi == 0 else f"now{value.hi:+d}"

    def __repr__(self) -> str:
        return f"Time(cut={self.cut}, past={self.past}, ahead={self.ahead})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeSlot) and (self.cut, self.past, self.ahead) == (other.cut, other.past, other.ahead)

    def __hash__(self) -> int:
        return hash(("TimeSlot", self.cut, self.past, self.ahead))


class Due(Type):
    """When a timed timer fires, in one slot: None (0: untimed or disarmed), else the ticks of its node's
    clock left, from -late (a clock jump took it that far past its deadline) to most; at most 0: due.
    The slot is left + late + 1."""

    def __init__(self, most: int, late: int = 0):
        self.most, self.late = most, late
        self.cardinality = most + late + 2

    def _check(self, value: Any, path: str) -> int | None:
        if value is None or (type(value) is int and -self.late <= value <= self.most):
            return value
        raise SchemaError(f"{path}: expected None or ticks in [{-self.late}, {self.most}], got {value!r}")

    def encode_into(self, value: int | None, out: list[int]) -> None:
        out.append(0 if value is None else value + self.late + 1)

    def decode_at(self, slots: Any, i: int) -> int | None:
        return slots[i] - self.late - 1 if slots[i] else None

    def bounds(self) -> list[int]:
        return [self.cardinality]

    def rank(self, value: int | None) -> int:
        return 0 if value is None else value + self.late + 1

    def unrank(self, index: int) -> int | None:
        return index - self.late - 1 if index else None

    def to_json(self, value: int | None) -> Any:
        return value

    def format(self, value: int | None) -> str:
        return "-" if value is None else (f"in {value}" if value > 0 else "due" if value == 0 else f"due {-value} ago")

    def __repr__(self) -> str:
        return f"Due({self.most}, late={self.late})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Due) and (self.most, self.late) == (other.most, other.late)

    def __hash__(self) -> int:
        return hash(("Due", self.most, self.late))


# -- the settings ---------------------------------------------------------------------------------

OVERFLOWS = ("error", "drop", "block")


@dataclass(frozen=True, kw_only=True)
class TimeSettings:
    """A spec's `[time]`: the unit step, the clocks' bound on skew, the network's bound on delay
    (None: asynchronous), and how far back times are kept exact (None: computed from the protocol)."""

    tick: int = 1
    max_skew: int = 0
    max_delay: int | None = None
    horizon: int | None = None

    def __post_init__(self) -> None:
        for name, low in (("tick", 1), ("max_skew", 0)):
            v = getattr(self, name)
            if type(v) is not int or v < low:
                raise SchemaError(f"{name}: expected a whole number >= {low}, got {v!r}")
        if self.max_delay is not None and (type(self.max_delay) is not int or self.max_delay < self.tick):
            raise SchemaError(f"max_delay: expected a whole number >= tick ({self.tick}), got {self.max_delay!r}")
        if self.horizon is not None and (type(self.horizon) is not int or self.horizon < 1):
            raise SchemaError(f"horizon: expected \"abstract\" or a whole number >= 1, got {self.horizon!r}")
