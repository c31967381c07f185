"""Handler tables by symbolic execution: a protocol's steps as Z3 relations, no global state enumerated.

A handler sees only its node's fields, the message and the sender, and is deterministic (the API's
contract). So what it does is a table: (node's local state, message, sender) -> (new local state,
messages sent, timers armed and disarmed). Here each handler runs once per path rather than once per
local state: its fields hold symbolic values (`SInt`, `SEnum`, `SSet`, `Cond`, maps and options of them)
over Z3 constants for the node's slots. An operation Z3 can express (a comparison, `prepared | {src}`,
`len`, membership) builds a term; a branch on a symbolic condition (`if self.decision == "undecided"`)
forks, the run replaying its earlier decisions the way `choose` replays its options; anything else
(hashing a value, iterating a set, a call into other code) concretizes the value, forking over the values
the path still allows. Each path ends with a condition on the local slots and the new slots as terms.

`protocol_kinds` turns these tables into `relation.Kind`s: delivering each envelope, firing each timer,
client requests, and the faults crash, restart, loss and duplication. The envelopes a network can hold
are derived at the same time (typed envelopes): those some handler can send, from the boot state and
from every delivery of an envelope already found, whatever the sender's local state. Every reachable
state holds only such envelopes, so the symbolic state keeps a constant for each of them only.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import z3

from ..model import Bool, Enum, Int, Map, ModelError, OneOf, Option, Record, SchemaError, Seq, Set
from ..model.node import Choice
from ..model.schema import Bag, RecordValue
from ..semantics import TransitionSystem
from ..semantics.nodes import route_error
from .lower import slot_kinds
from .relation import Atom, Kind, SymbolicUnsupported, atoms_kind
from .smt import Substitution, SymbolicState, Vec, _type_constraints

MAX_PATHS = 4096  # paths of one handler run on one message; past this the table is too large (say so)
MAX_ENVELOPES = 50_000  # envelopes the typed network may hold; past this, too many to derive


class TableTooLarge(SymbolicUnsupported):
    """A handler has more paths than `MAX_PATHS`, or the network too many envelopes: say so, fall back."""


# -- the run: decisions replayed, forks raised ------------------------------------------------------------


class _Fork(Exception):
    def __init__(self, options: list[tuple[Any, Any]]):
        super().__init__(len(options))
        self.options = options


class _PathError(Exception):
    """The path ends in an error the explicit search would raise (a value outside its field's type)."""


class _Run:
    """One execution of a handler along a script of decisions (the index of the option each fork took)."""

    def __init__(self, script: tuple[int, ...]):
        self.script, self.pos, self.path = script, 0, []

    def decide(self, options: list[tuple[Any, Any]]) -> Any:
        """The value of the option this path takes; `options` are (condition or True, value)."""
        options = [(c, v) for c, v in options if c is not False]
        if len(options) == 1 and options[0][0] is True:
            return options[0][1]
        if self.pos < len(self.script):
            k = self.script[self.pos]
            self.pos += 1
            c, v = options[k]
            if c is not True:
                self.path.append(c)
            return v
        raise _Fork(options)


_RUN: list[_Run] = []  # the run whose symbolic values are live (a stack of one)


def _decide(options: list[tuple[Any, Any]]) -> Any:
    return _RUN[-1].decide(options)


def _bool(c: Any) -> Any:
    """A Python bool stays one; a Z3 term that is a literal true or false becomes one (the solver's
    feasibility check decides the rest: simplifying every condition costs more than it saves)."""
    if isinstance(c, bool):
        return c
    if z3.is_true(c):
        return True
    if z3.is_false(c):
        return False
    return c


# -- symbolic values ------------------------------------------------------------------------------------


class Sym:
    """A symbolic value: what Z3 can say about it builds terms; anything else concretizes it (a fork over
    the values the path allows) and asks the concrete value. Every operator a subclass does not define
    symbolically concretizes its operands."""

    __slots__ = ()

    def concrete(self) -> Any:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.concrete(), name)

    def __hash__(self) -> int:
        return hash(self.concrete())

    def __repr__(self) -> str:
        return repr(self.concrete())

    def __str__(self) -> str:
        return str(self.concrete())

    def __format__(self, spec: str) -> str:
        return format(self.concrete(), spec)

    def __iter__(self):
        return iter(self.concrete())

    def __len__(self) -> int:
        return len(self.concrete())

    def __contains__(self, x: Any) -> bool:
        return x in self.concrete()

    def __getitem__(self, k: Any) -> Any:
        return self.concrete()[k]


def _concrete_operator(name: str) -> Callable:
    op = getattr(operator, name if name not in ("and", "or") else name + "_")

    def apply(self: Sym, *others: Any) -> Any:
        return op(self.concrete(), *(o.concrete() if isinstance(o, Sym) else o for o in others))

    def reflected(self: Sym, other: Any) -> Any:
        return op(other.concrete() if isinstance(other, Sym) else other, self.concrete())

    return apply, reflected


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lshift", "rshift", "and", "or", "xor",
              "matmul"):
    _f, _r = _concrete_operator(_name)
    setattr(Sym, f"__{_name}__", _f)
    setattr(Sym, f"__r{_name}__", _r)
for _name in ("neg", "pos", "abs", "invert", "lt", "le", "gt", "ge"):
    setattr(Sym, f"__{_name}__", _concrete_operator(_name)[0])


class Cond(Sym):
    """A symbolic Boolean (a comparison's result, a Bool field): `if`, `and`, `not` fork on it."""

    __slots__ = ("c",)

    def __init__(self, c: Any):
        self.c = c

    def concrete(self) -> bool:
        return _decide([(self.c, True), (z3.Not(self.c), False)])

    def __bool__(self) -> bool:
        return self.concrete()

    def __invert__(self) -> Cond:
        return Cond(z3.Not(self.c))

    def __and__(self, o: Any) -> Any:
        return Cond(z3.And(self.c, _as_z3_bool(o)))

    __rand__ = __and__

    def __or__(self, o: Any) -> Any:
        return Cond(z3.Or(self.c, _as_z3_bool(o)))

    __ror__ = __or__

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        if isinstance(o, (bool, Cond)):
            return _cond(self.c == _as_z3_bool(o))
        return False

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        r = self.__eq__(o)
        return ~r if isinstance(r, Cond) else not r

    def __hash__(self) -> int:
        return hash(self.concrete())


def _as_z3_bool(o: Any) -> Any:
    if isinstance(o, Cond):
        return o.c
    return z3.BoolVal(bool(o))


def _cond(c: Any) -> Any:
    """A Cond, or the Python bool when Z3 says it is constant."""
    b = _bool(c)
    return b if isinstance(b, bool) else Cond(b)


class SInt(Sym):
    """A symbolic integer in [lo, hi] (the term is the value, not its code)."""

    __slots__ = ("t", "lo", "hi")

    def __init__(self, t: Any, lo: int, hi: int):
        self.t, self.lo, self.hi = t, lo, hi

    def concrete(self) -> int:
        return _decide([(_bool(self.t == v), v) for v in range(self.lo, self.hi + 1)])

    def __index__(self) -> int:
        return self.concrete()

    __int__ = __index__

    def __bool__(self) -> bool:
        return bool(_cond(self.t != 0))

    def _bin(self, o: Any, f: Callable, bounds: Callable) -> Any:
        if isinstance(o, bool):
            o = int(o)
        if isinstance(o, int):
            lo, hi = bounds(self.lo, self.hi, o, o)
            return SInt(f(self.t, o), lo, hi)
        if isinstance(o, SInt):
            lo, hi = bounds(self.lo, self.hi, o.lo, o.hi)
            return SInt(f(self.t, o.t), lo, hi)
        return NotImplemented

    def __add__(self, o: Any) -> Any:
        return self._bin(o, lambda a, b: a + b, lambda a, b, c, d: (a + c, b + d))

    __radd__ = __add__

    def __sub__(self, o: Any) -> Any:
        return self._bin(o, lambda a, b: a - b, lambda a, b, c, d: (a - d, b - c))

    def __rsub__(self, o: Any) -> Any:
        return (-self) + o

    def __neg__(self) -> SInt:
        return SInt(-self.t, -self.hi, -self.lo)

    def __mul__(self, o: Any) -> Any:
        if isinstance(o, int) and not isinstance(o, bool):
            a, b = self.lo * o, self.hi * o
            return SInt(self.t * o, min(a, b), max(a, b))
        return self.concrete() * o

    __rmul__ = __mul__

    def _cmp(self, o: Any, f: Callable) -> Any:
        if isinstance(o, bool):
            o = int(o)
        if isinstance(o, int):
            return _cond(f(self.t, o))
        if isinstance(o, SInt):
            return _cond(f(self.t, o.t))
        return NotImplemented

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        r = self._cmp(o, lambda a, b: a == b)
        return False if r is NotImplemented else r

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        r = self._cmp(o, lambda a, b: a != b)
        return True if r is NotImplemented else r

    def __lt__(self, o: Any) -> Any:
        return self._cmp(o, lambda a, b: a < b)

    def __le__(self, o: Any) -> Any:
        return self._cmp(o, lambda a, b: a <= b)

    def __gt__(self, o: Any) -> Any:
        return self._cmp(o, lambda a, b: a > b)

    def __ge__(self, o: Any) -> Any:
        return self._cmp(o, lambda a, b: a >= b)

    def __hash__(self) -> int:
        return hash(self.concrete())


class SEnum(Sym):
    """A symbolic name of an Enum (a node id, a state): the term is its code."""

    __slots__ = ("t", "enum")

    def __init__(self, t: Any, enum: Enum):
        self.t, self.enum = t, enum

    def concrete(self) -> str:
        return _decide([(_bool(self.t == k), n) for k, n in enumerate(self.enum.names)])

    def _code_eq(self, o: Any) -> Any:
        if isinstance(o, SEnum):
            if o.enum.names == self.enum.names:
                return _cond(self.t == o.t)
            return self.concrete() == o.concrete()
        if isinstance(o, str):
            k = self.enum._index.get(o)
            return False if k is None else _cond(self.t == k)
        return False

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        return self._code_eq(o)

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        r = self._code_eq(o)
        return ~r if isinstance(r, Cond) else not r

    def __lt__(self, o: Any) -> Any:
        return self.concrete() < (o.concrete() if isinstance(o, Sym) else o)

    def __gt__(self, o: Any) -> Any:
        return self.concrete() > (o.concrete() if isinstance(o, Sym) else o)

    def __hash__(self) -> int:
        return hash(self.concrete())


class SSet(Sym):
    """A symbolic subset of a finite type: a bit-vector over the elements' ranks."""

    __slots__ = ("t", "elem", "n")

    def __init__(self, t: Any, elem: Any):
        self.t, self.elem, self.n = t, elem, elem.cardinality

    def _mask(self, o: Any) -> Any:
        if isinstance(o, SSet) and o.elem == self.elem:
            return o.t
        if isinstance(o, (set, frozenset)):
            m = 0
            for x in o:
                x = x.concrete() if isinstance(x, Sym) else x
                try:
                    m |= 1 << self.elem.rank(self.elem.validate(x, "element"))
                except (SchemaError, KeyError, TypeError):
                    return None
            return z3.BitVecVal(m, self.n)
        return None

    def concrete(self) -> frozenset:
        opts = []
        for m in _masks(self.t, self.n):
            opts.append((_bool(self.t == m), self.elem_set(m)))
        return _decide(opts)

    def elem_set(self, m: int) -> frozenset:
        return frozenset(self.elem.unrank(r) for r in range(self.n) if m >> r & 1)

    def _op(self, o: Any, f: Callable) -> Any:
        m = self._mask(o)
        if m is None:
            return NotImplemented
        return SSet(z3.simplify(f(self.t, m)), self.elem)

    def __or__(self, o: Any) -> Any:
        return self._op(o, lambda a, b: a | b)

    __ror__ = __or__

    def __and__(self, o: Any) -> Any:
        return self._op(o, lambda a, b: a & b)

    __rand__ = __and__

    def __xor__(self, o: Any) -> Any:
        return self._op(o, lambda a, b: a ^ b)

    __rxor__ = __xor__

    def __sub__(self, o: Any) -> Any:
        return self._op(o, lambda a, b: a & ~b)

    def __rsub__(self, o: Any) -> Any:
        m = self._mask(o)
        if m is None:
            return NotImplemented
        return SSet(z3.simplify(m & ~self.t), self.elem)

    def union(self, *others: Any) -> Any:
        out = self
        for o in others:
            out = out | (o if isinstance(o, SSet) else frozenset(o))
        return out

    def intersection(self, *others: Any) -> Any:
        out = self
        for o in others:
            out = out & (o if isinstance(o, SSet) else frozenset(o))
        return out

    def difference(self, *others: Any) -> Any:
        out = self
        for o in others:
            out = out - (o if isinstance(o, SSet) else frozenset(o))
        return out

    def _rel(self, o: Any, f: Callable) -> Any:
        m = self._mask(o)
        if m is None:
            return NotImplemented
        return _cond(f(self.t, m))

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        r = self._rel(o, lambda a, b: a == b)
        return False if r is NotImplemented else r

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        r = self._rel(o, lambda a, b: a != b)
        return True if r is NotImplemented else r

    def __le__(self, o: Any) -> Any:
        return self._rel(o, lambda a, b: a & ~b == 0)

    def __lt__(self, o: Any) -> Any:
        return self._rel(o, lambda a, b: z3.And(a & ~b == 0, a != b))

    def __ge__(self, o: Any) -> Any:
        return self._rel(o, lambda a, b: b & ~a == 0)

    def __gt__(self, o: Any) -> Any:
        return self._rel(o, lambda a, b: z3.And(b & ~a == 0, a != b))

    def issubset(self, o: Any) -> Any:
        return self <= (o if isinstance(o, SSet) else frozenset(o))

    def issuperset(self, o: Any) -> Any:
        return self >= (o if isinstance(o, SSet) else frozenset(o))

    def isdisjoint(self, o: Any) -> Any:
        m = self._mask(o if isinstance(o, SSet) else frozenset(o))
        return _cond(self.t & m == 0)

    def _bit(self, r: int) -> Any:
        return z3.Extract(r, r, self.t) == 1

    def __contains__(self, x: Any) -> bool:
        if isinstance(x, SEnum) and isinstance(self.elem, Enum) and x.enum.names == self.elem.names:
            return bool(Cond(z3.Or([z3.And(x.t == r, self._bit(r)) for r in range(self.n)])))
        x = x.concrete() if isinstance(x, Sym) else x
        try:
            r = self.elem.rank(self.elem.validate(x, "element"))
        except (SchemaError, KeyError, TypeError):
            return False
        return bool(_cond(self._bit(r)))

    def __len__(self) -> int:
        count = z3.Sum([z3.If(self._bit(r), 1, 0) for r in range(self.n)]) if self.n else z3.IntVal(0)
        return _decide([(_bool(count == k), k) for k in range(self.n + 1)])

    def __bool__(self) -> bool:
        return bool(_cond(self.t != 0))

    def __hash__(self) -> int:
        return hash(self.concrete())


def _masks(t: Any, n: int) -> Iterator[int]:
    """The masks a bit-vector term may take on this path: every one for a small set, else those Z3
    finds under the path's condition, in order."""
    if n <= 8:
        yield from range(1 << n)
        return
    s = z3.Solver()
    s.add(*_RUN[-1].path)
    found = []
    while s.check() == z3.sat:
        m = s.model().eval(t, model_completion=True).as_long()
        found.append(m)
        s.add(t != m)
        if len(found) > MAX_PATHS:
            raise TableTooLarge(f"a set of {n} elements takes more than {MAX_PATHS} values on one path")
    yield from sorted(found)


class SMap(Mapping):
    """A symbolic map over its (concrete) keys: each value symbolic, made on first read."""

    def __init__(self, t: Map, vs: list):
        self.type, self.vs, self._vals = t, vs, {}

    def __getitem__(self, k: Any) -> Any:
        k = k.concrete() if isinstance(k, Sym) else k
        if k not in self._vals:
            try:
                i = self.type.key.rank(self.type.key.validate(k, "key"))
            except (SchemaError, KeyError, TypeError):
                raise KeyError(k) from None
            w = self.type.value.width
            self._vals[k] = symbolic(self.type.value, self.vs[i * w:(i + 1) * w])
        return self._vals[k]

    def __iter__(self):
        return iter(self.type.keys)

    def __len__(self) -> int:
        return len(self.type.keys)

    def __eq__(self, o: Any) -> Any:
        if isinstance(o, Mapping) and set(o) == set(self):
            out: Any = True
            for k in self:
                r = self[k] == o[k]
                if r is False:
                    return False
                out = r if out is True else (out & r if isinstance(r, Cond) else out)
            return out
        return False

    def __hash__(self) -> int:
        return hash(tuple((k, self[k]) for k in self))


def symbolic(t: Any, vs: list) -> Any:
    """The value of type `t` whose slots are the terms `vs` (codes), as handlers see it."""
    if isinstance(t, Bool):
        return _cond(vs[0] == 1) if not isinstance(vs[0], int) else vs[0] == 1
    if isinstance(t, Int):
        return SInt(vs[0] + t.lo, t.lo, t.hi)
    if isinstance(t, Enum):
        return SEnum(vs[0], t)
    if isinstance(t, Set) and t.elem.cardinality <= 64:
        return SSet(vs[0], t.elem)
    if isinstance(t, Option):
        present = _decide([(_bool(vs[0] == 0), False), (_bool(vs[0] == 1), True)])
        return symbolic(t.inner, vs[1:]) if present else None
    if isinstance(t, Map):
        return SMap(t, vs)
    if isinstance(t, Seq) and not isinstance(t, Bag):
        n = _decide([(_bool(vs[0] == k), k) for k in range(t.max_len + 1)])
        w = t.elem.width
        return tuple(symbolic(t.elem, vs[1 + j * w:1 + (j + 1) * w]) for j in range(n))
    if isinstance(t, OneOf):
        k = _decide([(_bool(vs[0] == k), k) for k in range(len(t.variants))])
        v = t.variants[k]
        return symbolic(v, vs[1:1 + v.width])
    if isinstance(t, Record):
        out, o = [], 0
        for ft in t.fields.values():
            out.append(symbolic(ft, vs[o:o + ft.width]))
            o += ft.width
        return tuple.__new__(t.value_class, out)
    return _concrete_value(t, vs)


def _concrete_value(t: Any, vs: list) -> Any:
    """A value of a type handled by no symbolic class: forked over the values the path allows."""
    s = z3.Solver()
    s.add(*_RUN[-1].path)
    found = []
    while s.check() == z3.sat:
        m = s.model()
        row = tuple(m.eval(v, model_completion=True).as_long() if not isinstance(v, int) else v for v in vs)
        found.append(row)
        s.add(z3.Or([v != x for v, x in zip(vs, row) if not isinstance(v, int)]))
        if len(found) > MAX_PATHS:
            raise TableTooLarge(f"a field of type {t!r} takes more than {MAX_PATHS} values on one path")
    found.sort()
    return _decide([(_bool(z3.And([v == x for v, x in zip(vs, row) if not isinstance(v, int)] or [True])),
                     t.decode(row)) for row in found])


# -- encoding what a handler assigned or sent -----------------------------------------------------------


def encode(t: Any, v: Any, where: str) -> list:
    """The slot terms (codes) of value `v` of type `t`; a value outside the type ends the path in an error."""
    if isinstance(t, Bool):
        if isinstance(v, Cond):
            return [z3.If(v.c, 1, 0)]
        if v is True or v is False:
            return [1 if v else 0]
        raise _PathError(f"{where}: expected a bool, got {v!r}")
    if isinstance(t, Int):
        if isinstance(v, SInt):
            if v.lo < t.lo or v.hi > t.hi:
                inside = _decide([(_bool(z3.And(t.lo <= v.t, v.t <= t.hi)), True),
                                  (_bool(z3.Or(v.t < t.lo, v.t > t.hi)), False)])
                if not inside:
                    raise _PathError(f"{where}: a value outside [{t.lo}, {t.hi}]")
            return [v.t - t.lo]
    if isinstance(t, Enum) and isinstance(v, SEnum):
        if v.enum.names == t.names:
            return [v.t]
        v = v.concrete()
    if isinstance(t, Set) and isinstance(v, SSet) and v.elem == t.elem:
        return [v.t]
    if isinstance(t, Option):
        if v is None:
            return [0] * t.width
        return [1] + encode(t.inner, v, where)
    if isinstance(t, Map) and isinstance(v, SMap) and v.type == t:  # values never read keep their slots
        w = t.value.width
        out: list = []
        for i, k in enumerate(t.keys):
            out += encode(t.value, v._vals[k], where) if k in v._vals else list(v.vs[i * w:(i + 1) * w])
        return out
    if isinstance(t, Map) and isinstance(v, Mapping):
        out = []
        for k in t.keys:
            if k not in v:
                raise _PathError(f"{where}: no value for key {k!r}")
            out += encode(t.value, v[k], where)
        if len(v) != len(t.keys):
            raise _PathError(f"{where}: keys outside the map's key type")
        return out
    if isinstance(t, Seq) and not isinstance(t, Bag) and isinstance(v, (tuple, list)):
        if len(v) > t.max_len:
            raise _PathError(f"{where}: {len(v)} elements, at most {t.max_len}")
        out = [len(v)]
        for x in v:
            out += encode(t.elem, x, where)
        return out + [0] * (t.width - len(out))
    if isinstance(t, OneOf) and isinstance(v, RecordValue):
        for k, var in enumerate(t.variants):
            if type(v) is var.value_class:
                inner = encode(var, v, where)
                return [k] + inner + [0] * (t.width - 1 - len(inner))
        raise _PathError(f"{where}: {type(v).__name__} is not one of the type's variants")
    if isinstance(t, Record) and isinstance(v, tuple) and len(v) == len(t.fields):
        out = []
        for ft, x in zip(t.fields.values(), v):
            out += encode(ft, x, where)
        return out
    v = _concretely(v)
    try:
        return list(t.encode(t.validate(v, where)))
    except SchemaError as e:
        raise _PathError(str(e)) from None


def _leaves(v: Any, out: list) -> None:
    """The symbolic values inside `v` (a message, a node id, tuples and sets of them), in order."""
    if isinstance(v, (SInt, SEnum, Cond, SSet)):
        out.append(v)
    elif isinstance(v, SMap):
        for k in v:
            _leaves(v[k], out)
    elif isinstance(v, (tuple, list, frozenset, set)):
        for x in v:
            _leaves(x, out)
    elif isinstance(v, dict):
        for x in v.values():
            _leaves(x, out)


def _term(x: Sym) -> Any:
    return x.c if isinstance(x, Cond) else x.t  # type: ignore[attr-defined]


def _value(x: Sym, v: Any) -> Any:
    """The Python value of symbolic `x` when its term is the Z3 numeral `v`."""
    if isinstance(x, Cond):
        return z3.is_true(v)
    n = v.as_long()
    if isinstance(x, SInt):
        return n
    if isinstance(x, SEnum):
        return x.enum.names[n]
    return x.elem_set(n)  # type: ignore[union-attr]


def _replace(v: Any, env: dict) -> Any:
    """`v` with each symbolic value replaced by its value in `env` (by identity)."""
    if id(v) in env:
        return env[id(v)]
    if isinstance(v, SMap):
        return {k: _replace(v[k], env) for k in v}
    if isinstance(v, RecordValue):
        return tuple.__new__(type(v), [_replace(x, env) for x in v])
    if isinstance(v, tuple):
        return tuple(_replace(x, env) for x in v)
    if isinstance(v, list):
        return [_replace(x, env) for x in v]
    if isinstance(v, (frozenset, set)):
        return frozenset(_replace(x, env) for x in v)
    if isinstance(v, dict):
        return {k: _replace(x, env) for k, x in v.items()}
    return v


def _concretely(v: Any) -> Any:
    """`v` with every symbolic value in it concretized (a message's fields, a set's elements)."""
    if isinstance(v, Sym):
        return v.concrete()
    if isinstance(v, SMap):
        return {k: _concretely(v[k]) for k in v}
    if isinstance(v, RecordValue):
        return tuple.__new__(type(v), [_concretely(x) for x in v])
    if isinstance(v, tuple):
        return tuple(_concretely(x) for x in v)
    if isinstance(v, (frozenset, set)):
        return frozenset(_concretely(x) for x in v)
    if isinstance(v, dict):
        return {k: _concretely(x) for k, x in v.items()}
    return v


# -- one handler's table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """One path of a handler: where `cond` holds (terms over the node's template constants), the node's
    slots become `slots` (None: the slot keeps its value), it sends the envelope codes `sent` (in order, with repeats) and arms and
    disarms timers; or, with `error`, the explicit search raises that error there."""

    cond: tuple
    slots: tuple
    sent: tuple[int, ...] = ()
    arm: int = 0
    disarm: int = 0
    error: str | None = None


class _LazyVals(dict):
    """A node's field values, each made symbolic on first read (an Option forks then on whether it is set)."""

    def __init__(self, make: Callable[[str], Any]):
        super().__init__()
        self.make = make

    def __missing__(self, name: str) -> Any:
        v = self[name] = self.make(name)
        return v


class Tables:
    """Every handler's table for one protocol instance (its `NodeSemantics`), computed on demand and kept."""

    def __init__(self, sem: Any):
        self.sem = sem
        self.memo: dict[tuple, tuple[Path, ...]] = {}
        self.local: list[list[Any]] = []  # per node: its template constants, one per slot of its record
        self.solvers: list[z3.Solver] = []
        for i, name in enumerate(sem.names):
            rec = sem.records[sem.role_of[i]]
            ks = slot_kinds(rec)
            consts = [z3.BitVec(f"{name}@{j}", k) if k else z3.Int(f"{name}@{j}") for j, k in enumerate(ks)]
            self.local.append(consts)
            self.solvers.append(z3.Solver())
        # per message type: template constants for a delivered message's fields (one table per sender and
        # receiver, not one per message value: a step's envelope puts its values in for them)
        self.msg: list[list[Any]] = []
        for mrec in sem.msg_records:
            ks = slot_kinds(mrec)
            self.msg.append([z3.BitVec(f"{mrec.name}@{j}", b) if b else z3.Int(f"{mrec.name}@{j}")
                             for j, b in enumerate(ks)])
        types = [c for k, mrec in enumerate(sem.msg_records) for c in _type_constraints(mrec, self.msg[k])]
        for i, slv in enumerate(self.solvers):
            slv.add(*_type_constraints(sem.records[sem.role_of[i]], self.local[i]), *types)
        self.runs = 0

    def feasible(self, i: int, path: list) -> bool:
        if not path:
            return True
        c = _bool(z3.And(path))
        if isinstance(c, bool):
            return c
        s = self.solvers[i]
        s.push()
        s.add(c)
        r = s.check()
        s.pop()
        return r != z3.unsat

    def table(self, i: int, handler: str, args: tuple) -> tuple[Path, ...]:
        key = (i, handler, args)
        out = self.memo.get(key)
        if out is None:
            out = self.memo[key] = self._explore(i, handler, lambda: args)
        return out

    def delivery(self, i: int, handler: str, k: int, src: str) -> tuple[Path, ...]:
        """Node i's handler of messages of type k (`sem.msg_records[k]`) from `src`, the message's fields
        symbolic over `self.msg[k]`."""
        key = (i, handler, k, src)
        out = self.memo.get(key)
        if out is None:
            rec = self.sem.msg_records[k]
            out = self.memo[key] = self._explore(i, handler, lambda: (symbolic(rec, self.msg[k]), src))
        return out

    def _explore(self, i: int, handler: str, make_args: Callable[[], tuple]) -> tuple[Path, ...]:
        sem = self.sem
        node = sem.objects[i]
        method = getattr(node, handler)
        role = sem.role_of[i]
        rec = sem.records[role]
        L = self.local[i]

        def make(name: str) -> Any:
            o, ft = rec.offsets[name], rec.fields[name]
            return symbolic(ft, L[o:o + ft.width])

        paths: list[Path] = []
        scripts: list[tuple[tuple[int, ...], tuple[int, ...]]] = [((), ())]
        while scripts:
            decisions, choices = scripts.pop()
            run = _Run(decisions)
            _RUN.append(run)
            vals = _LazyVals(make)
            node._vals = vals
            node._effects = []
            node._script, node._pos, node._chosen = choices, 0, None
            self.runs += 1
            try:
                method(*make_args())
                paths += self._summarize(i, handler, vals, node._effects, run)
            except _Fork as f:
                for k in range(len(f.options) - 1, -1, -1):
                    c = f.options[k][0]
                    if self.feasible(i, run.path + ([] if c is True else [c])):
                        scripts.append((decisions + (k,), choices))
            except Choice as c:
                scripts.extend((decisions, choices + (k,)) for k in range(c.n - 1, -1, -1))
            except _PathError as e:
                paths.append(Path(tuple(run.path), tuple(L), error=f"{rec.name}.{handler} on {sem.names[i]}: {e}"))
            except TableTooLarge as e:
                raise TableTooLarge(f"{type(node).__name__}.{handler} on {sem.names[i]}: {e}") from None
            except SymbolicUnsupported:
                raise
            except (ModelError, Exception) as e:  # the handler's own error on this path: the search raises it too
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                paths.append(Path(tuple(run.path), tuple(L),
                                  error=f"{type(sem.objects[i]).__name__}.{handler} on {sem.names[i]}: "
                                        f"{type(e).__name__}: {e}"))
            finally:
                _RUN.pop()
            if len(paths) + len(scripts) > MAX_PATHS:
                raise TableTooLarge(f"{type(node).__name__}.{handler} on {sem.names[i]} has more than {MAX_PATHS} "
                                    "paths: its table is too large to give Z3")
        return tuple(paths)

    def _summarize(self, i: int, handler: str, vals: dict, effects: list, run: _Run) -> list[Path]:
        sem = self.sem
        role = sem.role_of[i]
        rec = sem.records[role]
        L = self.local[i]
        where = f"{type(sem.objects[i]).__name__}.{handler} on {sem.names[i]}"
        slots: list[Any] = []
        for name, ft, _, _ in sem.fields[role]:
            o = rec.offsets[name]
            if name not in vals:  # never read nor written
                slots += L[o:o + ft.width]
                continue
            slots += encode(ft, vals[name], f"{where}: {sem.names[i]}.{name}")
        sends = [(e[1], e[2]) for e in effects if e[0] == "send"]
        arm = disarm = 0
        for e in effects:
            if e[0] == "send":
                continue
            if e[0] in ("set_timer", "cancel_timer"):
                if e[0] == "set_timer" and e[2] is not None:
                    raise SymbolicUnsupported(f"{where}: set_timer(after=...) needs time, which Z3 is not given here")
                bit = 1 << sem.Timer.code(e[1])
                if e[0] == "set_timer":
                    arm, disarm = arm | bit, disarm & ~bit
                else:
                    arm, disarm = arm & ~bit, disarm | bit
            else:
                raise SymbolicUnsupported(f"{where} records a history event: histories are not given to Z3")
        slots = [None if isinstance(x, z3.ExprRef) and x.eq(L[j]) else _simplify(x) for j, x in enumerate(slots)]
        out = []
        for extra, concrete in self._alternatives(i, run.path, sends):
            try:
                sent = tuple(self._code(i, dst, msg) for dst, msg in concrete)
            except _PathError as err:
                out.append(Path(tuple(run.path) + extra, tuple(L), error=f"{where}: {err}"))
                continue
            out.append(Path(tuple(run.path) + extra, tuple(slots), sent, arm, disarm))
        return out

    def _code(self, i: int, dst: Any, msg: Any) -> int:
        sem = self.sem
        d = sem.index.get(dst)
        if d is None:
            raise _PathError(f"send to {dst!r}, which is no node")
        routes = getattr(type(msg), "_routes_", None)
        if routes is not None and (sem.role_of[i], sem.role_of[d]) not in routes:
            raise _PathError(route_error(type(sem.objects[i]).__name__, "?", sem.names[i], msg, dst, sem.role_of[d])
                             .split(": ", 1)[1])
        try:
            r = sem.Msg.rank(sem.Msg.validate(msg, f"message {msg!r}"))
        except SchemaError as err:
            raise _PathError(str(err)) from None
        return ((r * sem.n + i) * sem.n + d) * sem.A

    def _alternatives(self, i: int, path: list, sends: list) -> list[tuple[tuple, list]]:
        """The sends made concrete: for each combination of values their symbolic parts (a field of a
        message, the destination) may take on this path, the conditions that pick it and the sends. Found
        by Z3 (one query per combination) instead of replaying the handler once per value."""
        leaves: list[Sym] = []
        for v in sends:
            _leaves(v, leaves)
        if not leaves:
            return [((), sends)]
        terms = [_term(x) for x in leaves]
        s = self.solvers[i]
        s.push()
        s.add(*path)
        found = []
        try:
            while s.check() == z3.sat:
                m = s.model()
                values = [m.eval(t, model_completion=True) for t in terms]
                found.append(values)
                s.add(z3.Or([t != v for t, v in zip(terms, values)]))
                if len(found) > MAX_PATHS:
                    raise TableTooLarge(f"the messages sent take more than {MAX_PATHS} values on one path")
        finally:
            s.pop()
        out = []
        for values in sorted(found, key=lambda vs: [str(v) for v in vs]):
            env = {id(x): _value(x, v) for x, v in zip(leaves, values)}
            conds = tuple(t == v for t, v in zip(terms, values))
            out.append((conds, [_replace(v, env) for v in sends]))
        return out


def _simplify(x: Any) -> Any:
    return x if isinstance(x, int) else z3.simplify(x)


def _false(cond: tuple, sub: list) -> bool:
    """Whether `cond` is false once `sub` puts a message's values in (as far as simplifying tells)."""
    if not cond:
        return False
    return z3.is_false(z3.simplify(z3.substitute(z3.And(cond), *sub)))


# -- the protocol's kinds of step ----------------------------------------------------------------------------


def refuse(system: TransitionSystem, sem: Any) -> None:
    """SymbolicUnsupported for what the symbolic relation does not cover (say which, and why)."""
    f = sem.faults
    why = None
    if sem.fifo:
        why = "FIFO channels (queues)"
    elif sem.time is not None:
        why = "time ([time]: clocks and due times)"
    elif sem.HIST is not None:
        why = "a client history"
    elif f.partitions:
        why = "partitions"
    elif sem.DETECTED is not None:
        why = "failure detection (on_peer_crash)"
    elif f.clock_jumps:
        why = "clock jumps"
    elif sem.A != 1:
        why = "message ages"
    if why is not None:
        raise SymbolicUnsupported(f"{system.name}: {why}: not given to Z3 yet; enumerate instead")


class ProtocolRelation:
    """The kinds of step of a protocol under its faults, over the typed network (`envelopes`)."""

    def __init__(self, system: TransitionSystem, sem: Any, progress: Callable[[str], None] | None = None):
        refuse(system, sem)
        self.system, self.sem, self.tables = system, sem, Tables(sem)
        self.schema = sem.schema
        self.NET = sem.NET
        self.bag = sem.bits > 1
        self.node_base = [sem.node_slices[i].start for i in range(sem.n)]
        self.msg_index = {rec.value_class: k for k, rec in enumerate(sem.msg_records)}
        start = time.perf_counter()
        self.envelopes = self._derive(progress)
        self.seconds = time.perf_counter() - start

    # -- typed envelopes ----------------------------------------------------------------------------------
    def _start_tables(self) -> Iterator[tuple[Path, ...]]:
        sem = self.sem
        for i in range(sem.n):
            yield self.tables.table(i, "on_start", ())
            for name in sorted(type(sem.objects[i])._timers_):
                yield self.tables.table(i, name, ())
            for name, args in self.requests(i):
                yield self.tables.table(i, name, args)

    def requests(self, i: int) -> list[tuple[str, tuple]]:
        """Node i's client requests: (handler, arguments) for each value of each request."""
        out = []
        for name, over in type(self.sem.objects[i])._requests_.items():
            for args in [()] if over is None else [(v,) for v in over.values()]:
                out.append((name, args))
        return out

    def delivery(self, code: int) -> tuple[int, str | None, tuple[Path, ...], list]:
        """Delivering envelope `code`: its receiver, handler (None: it has none), the handler's table for the
        message's type and sender, and the substitution putting the message's values for its constants."""
        sem = self.sem
        src, dst, msg = sem.envelope(code)
        handler = type(msg).handler_name()
        if not hasattr(sem.classes[dst], handler):
            return dst, None, (), []
        k = self.msg_index[type(msg)]
        rec = sem.msg_records[k]
        values = rec.encode(msg)
        consts = self.tables.msg[k]
        sub = [(c, z3.BitVecVal(v, c.size()) if z3.is_bv(c) else z3.IntVal(v)) for c, v in zip(consts, values)]
        return dst, handler, self.tables.delivery(dst, handler, k, sem.names[src]), sub

    def _derive(self, progress: Callable[[str], None] | None) -> frozenset[int]:
        """The envelopes some handler can send: from boot, timers and restarts, then from delivering each
        envelope found, in any local state of the receiver (a fixpoint)."""
        found: set[int] = set()
        todo: list[int] = []

        def add(paths: tuple[Path, ...]) -> None:
            for p in paths:
                for c in p.sent:
                    if c not in found:
                        found.add(c)
                        todo.append(c)

        for paths in self._start_tables():
            add(paths)
        done = 0
        while todo:
            code = todo.pop()
            dst, handler, paths, sub = self.delivery(code)
            if handler is not None:  # the paths this message's values allow (all, where Z3 cannot tell)
                add(tuple(p for p in paths if p.sent and not _false(p.cond, sub)))
            done += 1
            if len(found) > MAX_ENVELOPES:
                raise TableTooLarge(f"{self.system.name}: more than {MAX_ENVELOPES} kinds of envelope may be in flight")
            if progress is not None and done % 200 == 0:
                progress(f"typed envelopes: {len(found):,} found, {done:,} deliveries tabulated")
        return frozenset(found)

    def routes(self) -> list[str]:
        """The derived rules as people read them: "Prepare: tm → rm", by message type and roles."""
        sem = self.sem
        seen: dict[str, set[tuple[str, str]]] = {}
        for code in self.envelopes:
            src, dst, msg = sem.envelope(code)
            seen.setdefault(type(msg).__name__, set()).add((sem.role_of[src], sem.role_of[dst]))
        out = []
        for m in [r.name for r in sem.msg_records]:
            if m in seen:
                out.append(f"{m}: " + ", ".join(f"{a} → {b}" for a, b in sorted(seen[m])))
        return out

    def restrict(self) -> dict[str, frozenset[int]]:
        return {"network": frozenset(c * 1 for c in self.envelopes)}

    # -- atoms ----------------------------------------------------------------------------------------------
    def _local(self, pre: SymbolicState, i: int) -> list:
        b = self.node_base[i]
        return pre.slots[b:b + len(self.tables.local[i])]

    def _subst(self, pre: SymbolicState, i: int) -> list[tuple[Any, Any]]:
        return [(c, v) for c, v in zip(self.tables.local[i], self._local(pre, i))]

    def _net(self, pre: SymbolicState) -> Vec:
        v = pre.slots[self.NET]
        assert isinstance(v, Vec), "the network is a wide set"
        return v

    def _path_atom(self, pre: SymbolicState, i: int, p: Path, guard: list, updates: dict,
                   errors: list[Atom], sub: Substitution) -> Atom | None:
        """The atom of path `p` of node i's handler, on top of the step's own guard and updates (None when
        the delivered message's values rule the path out)."""
        g = list(guard)
        if p.cond:
            c = z3.simplify(sub(p.cond[0] if len(p.cond) == 1 else z3.And(p.cond)))
            if z3.is_false(c):
                return None
            if not z3.is_true(c):
                g.append(c)
        if p.error is not None:
            return Atom(tuple(g), {}, p.error)
        up = dict(updates)
        b = self.node_base[i]
        for j, x in enumerate(p.slots):
            if x is not None:  # None: the slot as it was
                up[b + j] = x if isinstance(x, int) else sub(x)
        net = self._net(pre)
        counts: dict[int, int] = {}
        for c in p.sent:
            counts[c] = counts.get(c, 0) + 1
        for c, k in counts.items():
            e = net.elems[c]
            if self.bag:
                before = up.get((self.NET, c), e)
                new = before + k
                if not isinstance(e, int):
                    over = Atom(tuple(g + [new > 15]), {}, f"{self.sem.names[i]}: more than 15 copies of "
                                f"{self.sem.Msg.format(self.sem.envelope(c)[2])} to "
                                f"{self.sem.names[self.sem.envelope(c)[1]]} in flight; bound the protocol")
                    errors.append(over)
                up[(self.NET, c)] = new
            else:
                up[(self.NET, c)] = True
        T = self.sem.TIMERS
        if T is not None and (p.arm or p.disarm):
            nt = self.sem.NT
            cur = up.get(T + i, pre.slots[T + i])
            up[T + i] = z3.simplify((cur & z3.BitVecVal(~p.disarm & ((1 << nt) - 1), nt)) | z3.BitVecVal(p.arm, nt))
        return Atom(tuple(g), up)

    def _run_atoms(self, pre: SymbolicState, i: int, handler: str, args: tuple, guard: list,
                   updates: dict) -> list[Atom]:
        return self._atoms_of(pre, i, self.tables.table(i, handler, args), guard, updates)

    def _atoms_of(self, pre: SymbolicState, i: int, paths: tuple[Path, ...], guard: list, updates: dict,
                  msg: list | None = None) -> list[Atom]:
        errors: list[Atom] = []
        sub = Substitution(self._subst(pre, i) + (msg or []))
        out = [a for p in paths if (a := self._path_atom(pre, i, p, guard, updates, errors, sub)) is not None]
        return out + errors

    def _up(self, pre: SymbolicState, i: int) -> list:
        """Node i is up (no crash bookkeeping: always)."""
        D = self.sem.DOWN
        if D is None:
            return []
        return [z3.Extract(i, i, pre.slots[D]) == 0]

    def kinds(self) -> list[Kind]:
        sem = self.sem
        out: list[Kind] = []
        for code in sorted(self.envelopes):
            out.append(atoms_kind(self._label(code), self._delivery_atoms(code)))
        if sem.Timer is not None:
            for i in range(sem.n):
                for name in sorted(type(sem.objects[i])._timers_):
                    out.append(atoms_kind(f"timer {name}@{sem.names[i]}", self._timer_atoms(i, name)))
        for i in range(sem.n):
            for name, args in self.requests(i):
                over = type(sem.objects[i])._requests_[name]
                shown = ", ".join(over.format(a) for a in args) if over is not None else ""
                out.append(atoms_kind(f"{name}({shown})@{sem.names[i]}", self._request_atoms(i, name, args)))
        f = sem.faults
        if f.crashes:
            for i in range(sem.n):
                if f.may_crash(sem.names[i], sem.role_of[i]):
                    out.append(atoms_kind(f"crash {sem.names[i]}", self._crash_atoms(i)))
            if f.restarts:
                for i in range(sem.n):
                    if f.may_crash(sem.names[i], sem.role_of[i]):
                        out.append(atoms_kind(f"restart {sem.names[i]}", self._restart_atoms(i)))
        if f.loss:
            for code in sorted(self.envelopes):
                out.append(atoms_kind(f"drop {self._label(code)}", self._network_fault_atoms(code, "drops", -1)))
        if f.duplication and self.bag:
            for code in sorted(self.envelopes):
                out.append(atoms_kind(f"duplicate {self._label(code)}",
                                      self._network_fault_atoms(code, "duplicates", +1)))
        return out

    def _label(self, code: int) -> str:
        src, dst, msg = self.sem.envelope(code)
        return f"{self.sem.Msg.format(msg)} {self.sem.names[src]}→{self.sem.names[dst]}"

    def _delivery_atoms(self, code: int) -> Callable[[SymbolicState], list[Atom]]:
        dst, handler, paths, sub = self.delivery(code)

        def atoms(pre: SymbolicState) -> list[Atom]:
            e = self._net(pre).elems[code]
            if self.bag:
                guard, updates = [e >= 1], {(self.NET, code): e - 1}
            else:
                guard, updates = [e], {(self.NET, code): False}
            guard += self._up(pre, dst)
            if handler is None:
                return [Atom(tuple(guard), updates)]
            return self._atoms_of(pre, dst, paths, guard, updates, sub)

        return atoms

    def _timer_atoms(self, i: int, name: str) -> Callable[[SymbolicState], list[Atom]]:
        sem = self.sem
        b = sem.Timer.code(name)
        T, F = sem.TIMERS, sem.FIRINGS

        def atoms(pre: SymbolicState) -> list[Atom]:
            armed = pre.slots[T + i]
            guard = [z3.Extract(b, b, armed) == 1] + self._up(pre, i)
            updates: dict = {T + i: armed & z3.BitVecVal(((1 << sem.NT) - 1) & ~(1 << b), sem.NT)}
            if F is not None:
                guard.append(pre.slots[F] < sem.faults.timer_firings)
                updates[F] = pre.slots[F] + 1
            return self._run_atoms(pre, i, name, (), guard, updates)

        return atoms

    def _request_atoms(self, i: int, name: str, args: tuple) -> Callable[[SymbolicState], list[Atom]]:
        def atoms(pre: SymbolicState) -> list[Atom]:
            return self._run_atoms(pre, i, name, args, self._up(pre, i), {})

        return atoms

    def _crash_atoms(self, i: int) -> Callable[[SymbolicState], list[Atom]]:
        sem = self.sem
        D, USED, T = sem.DOWN, self.schema.offsets["crashes"], sem.TIMERS
        f = sem.faults
        max_down = f.max_down or sem.n
        role = sem.role_of[i]
        b = self.node_base[i]

        def atoms(pre: SymbolicState) -> list[Atom]:
            down = pre.slots[D]
            popc = z3.Sum([z3.If(z3.Extract(j, j, down) == 1, 1, 0) for j in range(sem.n)])
            guard = [z3.Extract(i, i, down) == 0, pre.slots[USED] < f.crashes, popc < max_down]
            updates: dict = {D: down | z3.BitVecVal(1 << i, sem.n), USED: pre.slots[USED] + 1}
            rec = sem.records[role]
            for name, ft, initial, durable in sem.fields[role]:
                if not durable:
                    o = rec.offsets[name]
                    for j, x in enumerate(ft.encode(initial)):
                        updates[b + o + j] = x
            if T is not None:
                updates[T + i] = z3.BitVecVal(0, sem.NT)
            if f.lose_on_crash:  # the messages to it are lost
                for code in self.envelopes:
                    if sem.envelope(code)[1] == i:
                        updates[(self.NET, code)] = 0 if self.bag else False
            return [Atom(tuple(guard), updates)]

        return atoms

    def _restart_atoms(self, i: int) -> Callable[[SymbolicState], list[Atom]]:
        sem = self.sem
        D = sem.DOWN

        def atoms(pre: SymbolicState) -> list[Atom]:
            down = pre.slots[D]
            guard = [z3.Extract(i, i, down) == 1]
            updates = {D: down & z3.BitVecVal(((1 << sem.n) - 1) & ~(1 << i), sem.n)}
            return self._run_atoms(pre, i, "on_start", (), guard, updates)

        return atoms

    def _network_fault_atoms(self, code: int, counter: str, sign: int) -> Callable[[SymbolicState], list[Atom]]:
        USED = self.schema.offsets[counter]
        budget = self.sem.faults.loss if sign < 0 else self.sem.faults.duplication

        def atoms(pre: SymbolicState) -> list[Atom]:
            e = self._net(pre).elems[code]
            guard = [pre.slots[USED] < budget]
            if self.bag:
                guard += [e >= 1] + ([e < 15] if sign > 0 else [])
                updates: dict = {(self.NET, code): e + sign}
            else:
                guard.append(e)
                updates = {(self.NET, code): False}
            updates[USED] = pre.slots[USED] + 1
            return [Atom(tuple(guard), updates)]

        return atoms


def protocol_relation(system: TransitionSystem, sem: Any, progress: Callable[[str], None] | None = None
                      ) -> ProtocolRelation:
    """The protocol's relation, built once per system and kept on it (typed envelopes set on the system)."""
    rel = getattr(system, "_protocol_relation", None)
    if rel is None:
        rel = ProtocolRelation(system, sem, progress)
        system._protocol_relation = rel  # type: ignore[attr-defined]
        system.symbolic_restrict = rel.restrict()  # type: ignore[attr-defined]
    return rel


def protocol_kinds(system: TransitionSystem, sem: Any, progress: Callable[[str], None] | None = None) -> list[Kind]:
    return protocol_relation(system, sem, progress).kinds()


__all__ = ["Path", "ProtocolRelation", "TableTooLarge", "Tables", "protocol_kinds", "protocol_relation"]
