"""Formulas in Z3: the same lowering as the Python compiler (`lower`), over Z3 terms. Imported only
by the commands that need a solver (induct, lint, the core of a violation), never by a search.

A state is one Z3 constant per slot: an Int for an integer slot, a bit-vector
for a set (one bit per element rank) or a bag (four bits per rank). The
schema's type constraints (`type_constraints`) say exactly which slot tuples
are canonical encodings, so the models Z3 finds are states the checker could
hold. Quantifiers range over finite domains and are expanded.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import z3
from z3.z3 import _to_expr_ref

from ..model import Bag, Map, OneOf, Option, Record, Seq, Set, StateSchema
from ..model.schema import Queue
from .formula import FormulaError, Term
from .lower import Lowering, fold, slot_kinds

SOLVER_TIMEOUT_MS = 20_000


class Unsupported(FormulaError):
    """The state holds something Z3 is not given here (a FIFO queue); the message says what."""


def _c(x: Any) -> bool:
    return isinstance(x, (int, bool))


WIDE = 64  # a set or bag over more elements than this is one Z3 constant per element (`Vec`), not one bit-vector


class Vec:
    """A wide set or bag slot (the network, say) as one Z3 term per element: a Bool for a set, a bounded Int
    count for a bag. A step changes a few elements, and its frame is "every other element equal", which Z3
    takes without bit-blasting a vector of thousands of bits. An element the state can never hold (an
    envelope no handler sends) is the constant False or 0."""

    __slots__ = ("elems", "bag")

    def __init__(self, elems: list, bag: bool):
        self.elems, self.bag = elems, bag

    @staticmethod
    def of(x: Any, n: int, bag: bool) -> Vec:
        """`x` (a Vec, a constant mask, or a bit-vector term) as a Vec of n elements."""
        if isinstance(x, Vec):
            return x
        if _c(x):
            if bag:
                return Vec([x >> 4 * r & 15 for r in range(n)], True)
            return Vec([bool(x >> r & 1) for r in range(n)], False)
        if bag:
            x = _bv(x, 4 * n)
            return Vec([z3.BV2Int(z3.Extract(4 * r + 3, 4 * r, x)) for r in range(n)], True)
        x = _bv(x, n)
        return Vec([z3.Extract(r, r, x) == 1 for r in range(n)], False)

    def value(self, model: Any) -> int:
        out = 0
        for r, e in enumerate(self.elems):
            v = e if _c(e) else model.eval(e, model_completion=True)
            v = int(v) if _c(v) else (1 if z3.is_true(v) else 0 if z3.is_false(v) else v.as_long())
            out |= v << (4 * r if self.bag else r)
        return out


class Z3Algebra:
    """The lowering's algebra over Z3 terms; Python constants fold before they reach Z3."""

    def __init__(self, slots: Sequence[Any]):
        self.slots = slots

    def read(self, i: int) -> Any:
        return self.slots[i]

    def add(self, a, b):
        if _c(a) and _c(b):
            return a + b
        if _c(a) and a == 0:
            return b
        if _c(b) and b == 0:
            return a
        return a + b

    def sub(self, a, b):
        if _c(a) and _c(b):
            return a - b
        if _c(b) and b == 0:
            return a
        return a - b

    def mul(self, a, b):
        if _c(a) and _c(b):
            return a * b
        if (_c(a) and a == 0) or (_c(b) and b == 0):
            return 0
        if _c(a) and a == 1:
            return b
        return a * b

    def div(self, a, b):
        if _c(a) and _c(b):
            return a // b if b else 0
        if _c(b):
            if b == 0:
                return 0
            return a / b if b > 0 else (-a) / (-b)  # Z3's div by a positive divisor rounds down
        return z3.If(b == 0, 0, z3.If(b > 0, a / b, (-a) / (-b)))

    def mod(self, a, b):
        if _c(a) and _c(b):
            return a % b if b else a
        return self.sub(a, self.mul(b, self.div(a, b)))

    def eq(self, a, b):
        if _c(a) and _c(b):
            return a == b
        if isinstance(a, Vec) or isinstance(b, Vec):
            v = a if isinstance(a, Vec) else b
            x, y = Vec.of(a, len(v.elems), v.bag), Vec.of(b, len(v.elems), v.bag)
            return self.and_([self.eq(p, q) if not (isinstance(p, bool) or isinstance(q, bool))
                              else self._beq(p, q) for p, q in zip(x.elems, y.elems)])
        a, b = _same_sort(a, b)
        return a == b

    def _beq(self, p, q):
        if isinstance(p, bool) and isinstance(q, bool):
            return p == q
        if isinstance(q, bool):
            p, q = q, p
        return q if p else self.not_(q)

    def lt(self, a, b):
        return a < b

    def le(self, a, b):
        return a <= b

    def and_(self, xs):
        out = fold(xs, False)
        return out if isinstance(out, bool) else out[0] if len(out) == 1 else z3.And(out)

    def or_(self, xs):
        out = fold(xs, True)
        return out if isinstance(out, bool) else out[0] if len(out) == 1 else z3.Or(out)

    def not_(self, a):
        if isinstance(a, bool):
            return not a
        return z3.Not(a)

    def ite(self, c, a, b):
        if isinstance(c, bool):
            return a if c else b
        if isinstance(a, Vec) or isinstance(b, Vec):
            v = a if isinstance(a, Vec) else b
            x, y = Vec.of(a, len(v.elems), v.bag), Vec.of(b, len(v.elems), v.bag)
            return Vec([self._bite(c, p, q) for p, q in zip(x.elems, y.elems)], v.bag)
        if _c(a) and _c(b) and a == b and type(a) is type(b):
            return a
        if isinstance(a, bool) or isinstance(b, bool):
            a = z3.BoolVal(a) if isinstance(a, bool) else a
            b = z3.BoolVal(b) if isinstance(b, bool) else b
        else:
            a, b = _same_sort(a, b)
        return z3.If(c, a, b)

    def _bite(self, c, p, q):
        if isinstance(p, bool) and isinstance(q, bool) and p == q:
            return p
        if isinstance(p, bool) or isinstance(q, bool):
            p = z3.BoolVal(p) if isinstance(p, bool) else p
            q = z3.BoolVal(q) if isinstance(q, bool) else q
        return self.ite(c, p, q)

    def lookup(self, rows, idx, default, checked):
        if _c(idx):
            return list(rows[idx]) if 0 <= idx < len(rows) else list(default)
        out = []
        for j in range(len(default)):
            last = default[j] if checked else rows[-1][j]
            acc = last
            for k in range(len(rows) - (0 if checked else 1) - 1, -1, -1):
                acc = self.ite(idx == k, rows[k][j], acc)
            out.append(acc)
        return out

    def bit(self, mask, rank, n):
        if _c(rank):
            if not 0 <= rank < n:
                return False
            if isinstance(mask, Vec):
                return mask.elems[rank]
            if _c(mask):
                return bool(mask >> rank & 1)
            return z3.Extract(rank, rank, _bv(mask, n)) == 1
        return self.or_([self.and_([rank == r, self.bit(mask, r, n)]) for r in range(n)])

    def singleton(self, rank, n):
        if _c(rank):
            return 1 << rank if 0 <= rank < n else 0
        acc: Any = z3.BitVecVal(0, n)
        for r in range(n - 1, -1, -1):
            acc = z3.If(rank == r, z3.BitVecVal(1 << r, n), acc)
        return acc

    def bits(self, op, a, b, n):
        if _c(a) and _c(b):
            return a | b if op == "or" else a & b if op == "and" else a & ~b
        if isinstance(a, Vec) or isinstance(b, Vec):
            x, y = Vec.of(a, n, False), Vec.of(b, n, False)
            if op == "or":
                return Vec([self.or_([p, q]) for p, q in zip(x.elems, y.elems)], False)
            if op == "and":
                return Vec([self.and_([p, q]) for p, q in zip(x.elems, y.elems)], False)
            return Vec([self.and_([p, self.not_(q)]) for p, q in zip(x.elems, y.elems)], False)
        a = z3.BitVecVal(a, n) if _c(a) else _bv(a, n)
        b = z3.BitVecVal(b, n) if _c(b) else _bv(b, n)
        return a | b if op == "or" else a & b if op == "and" else a & ~b

    def popcount(self, mask, n):
        if _c(mask):
            return mask.bit_count()
        if isinstance(mask, Vec):
            return z3.Sum([z3.If(e, 1, 0) for e in mask.elems if e is not False] or [z3.IntVal(0)])
        mask = _bv(mask, n)
        return z3.Sum([z3.If(z3.Extract(i, i, mask) == 1, 1, 0) for i in range(n)]) if n else 0

    def nibble(self, bag, rank, n):
        if _c(rank):
            if not 0 <= rank < n:
                return 0
            if isinstance(bag, Vec):
                return bag.elems[rank]
            if _c(bag):
                return bag >> 4 * rank & 15
            bag = _bv(bag, 4 * n)
            return z3.Sum([z3.If(z3.Extract(4 * rank + i, 4 * rank + i, bag) == 1, 1 << i, 0) for i in range(4)])
        acc: Any = 0
        for r in range(n - 1, -1, -1):
            acc = self.ite(rank == r, self.nibble(bag, r, n), acc)
        return acc

    def quantify(self, op, n, rows, members, body):
        parts = []
        for r in range(n):
            b = body([r] if rows is None else list(rows[r]))
            if members is not None:
                inside = self.bit(members, r, n)
                b = self.or_([self.not_(inside), b]) if op == "forall" else self.and_([inside, b])
            parts.append(b)
        return self.and_(parts) if op == "forall" else self.or_(parts)


def _same_sort(a: Any, b: Any) -> tuple[Any, Any]:
    """Make an Int-sorted term meet a bit-vector one (a constant set built by ite, say)."""
    if z3.is_bv(a) and not _c(b) and not z3.is_bv(b):
        return a, z3.Int2BV(b, a.size())
    if z3.is_bv(b) and not _c(a) and not z3.is_bv(a):
        return z3.Int2BV(a, b.size()), b
    return a, b


def _bv(x: Any, n: int) -> Any:
    if z3.is_bv(x):  # a OneOf slot shared with wider sets is constrained below 2**n where this set is read
        return x if x.size() == n else z3.ZeroExt(n - x.size(), x) if x.size() < n else z3.Extract(n - 1, 0, x)
    return z3.Int2BV(x, n)


# -- states in Z3 ----------------------------------------------------------------------------------------


class SymbolicState:
    """One Z3 constant per slot of `schema`, and the constraints that make them a canonical state.

    A wide set or bag (over more than `WIDE` elements) is a `Vec`, one constant per element; `restrict` maps
    a set or bag variable's name to the element ranks it may hold (typed envelopes: a protocol's network),
    making it a `Vec` whose other elements are the constant False (or 0), no constant at all."""

    def __init__(self, schema: StateSchema, prefix: str = "", restrict: dict[str, frozenset[int]] | None = None):
        self.schema, self.restrict = schema, restrict
        kinds: list[int] = []
        for name, t in schema.variables.items():
            if isinstance(t, Queue):
                raise Unsupported(f"variable {name!r} is a FIFO queue ({t!r}); Z3 checks take sets, maps, "
                                  "records, options and sequences, not queues")
            kinds += slot_kinds(t)
        self.kinds = kinds
        restrict = restrict or {}
        wide = {schema.offsets[name]: (name, t) for name, t in schema.variables.items()
                if isinstance(t, (Set, Bag)) and (t.elem.cardinality > WIDE or name in restrict)}
        self.slots: list[Any] = []
        for i, k in enumerate(kinds):
            label = f"{prefix}{schema.slot_owner[i]}#{i}"
            if i in wide:
                name, t = wide[i]
                bag, allowed = isinstance(t, Bag), restrict.get(name)
                self.slots.append(Vec([
                    (z3.Int(f"{label}.{r}") if bag else z3.Bool(f"{label}.{r}"))
                    if allowed is None or r in allowed else (0 if bag else False)
                    for r in range(t.elem.cardinality)], bag))
            else:
                self.slots.append(z3.BitVec(label, k) if k else z3.Int(label))

    def constraints(self) -> list:
        out: list = []
        for name, t in self.schema.variables.items():
            o = self.schema.offsets[name]
            v = self.slots[o]
            if isinstance(v, Vec):
                if v.bag:
                    out += [c for e in v.elems if not _c(e) for c in (e >= 0, e <= 15)]
                continue
            out += _type_constraints(t, self.slots[o:o + t.width])
        return out

    def equals(self, raw: Sequence[int], slots: Sequence[int] | None = None) -> list:
        """The slots (all, or those listed) equal `raw`'s."""
        idx = range(len(self.slots)) if slots is None else slots
        out: list = []
        for i in idx:
            v = self.slots[i]
            if isinstance(v, Vec):
                for r, e in enumerate(v.elems):
                    x = raw[i] >> 4 * r & 15 if v.bag else bool(raw[i] >> r & 1)
                    if _c(e):
                        if e != x:
                            out.append(z3.BoolVal(False))
                    else:
                        out.append(e == x if v.bag else (e if x else z3.Not(e)))
            else:
                out.append(v == raw[i])
        return out

    def pairs(self, raw: Sequence[int]) -> list[tuple[Any, Any]]:
        """Substitution pairs putting `raw`'s values for the constants."""
        out = []
        for v, x, k in zip(self.slots, raw, self.kinds):
            if isinstance(v, Vec):
                for r, e in enumerate(v.elems):
                    if not _c(e):
                        out.append((e, z3.IntVal(x >> 4 * r & 15) if v.bag else z3.BoolVal(bool(x >> r & 1))))
            else:
                out.append((v, z3.BitVecVal(x, k) if k else z3.IntVal(x)))
        return out

    def state_of(self, model: Any) -> tuple[int, ...]:
        """The state tuple a Z3 model assigns."""
        out = []
        for v in self.slots:
            if isinstance(v, Vec):
                out.append(v.value(model))
                continue
            x = model.eval(v, model_completion=True)
            out.append(x.as_long())
        return tuple(out)


def _type_constraints(t: Any, vs: Sequence[Any]) -> list:
    if isinstance(t, (Set, Bag)):
        bits = t.elem.cardinality * (Bag.BITS if isinstance(t, Bag) else 1)
        v = vs[0]
        if z3.is_bv(v):  # wider only where a OneOf slot holds wider sets in other variants
            return [z3.ULT(v, 1 << bits)] if v.size() > bits else []
        return [v >= 0, v < 1 << bits]  # an int slot shared with an Int of another variant
    if isinstance(t, Record):
        out, o = [], 0
        for ft in t.fields.values():
            out += _type_constraints(ft, vs[o:o + ft.width])
            o += ft.width
        return out
    if isinstance(t, Map):
        w = t.value.width
        return [c for i in range(len(t.keys)) for c in _type_constraints(t.value, vs[i * w:(i + 1) * w])]
    if isinstance(t, Queue):  # one int slot: each element's rank + 1 a base-`t.base` digit, the first the lowest
        q, b = vs[0], t.base
        # no empty digit below a used one (the encoding of each queue is unique)
        return [q >= 0, q < b**t.max_len] + [z3.Implies(q >= b ** (i + 1), q / b**i % b != 0)
                                             for i in range(t.max_len - 1)]
    if isinstance(t, Seq):
        n, w = vs[0], t.elem.width
        out = [n >= 0, n <= t.max_len]
        for i in range(t.max_len):
            block = vs[1 + i * w:1 + (i + 1) * w]
            out.append(z3.If(n > i, _all(_type_constraints(t.elem, block)), _all([x == 0 for x in block])))
        return out
    if isinstance(t, Option):
        p, inner = vs[0], vs[1:]
        return [z3.Or(p == 0, p == 1), z3.If(p == 1, _all(_type_constraints(t.inner, inner)),
                                            _all([x == 0 for x in inner]))]
    if isinstance(t, OneOf):
        tag = vs[0]
        out = [tag >= 0, tag < len(t.variants)]
        for k, v in enumerate(t.variants):
            body = _type_constraints(v, vs[1:1 + v.width]) + [x == 0 for x in vs[1 + v.width:]]
            out.append(z3.Implies(tag == k, _all(body)))
        return out
    (b,) = t.bounds()
    return [vs[0] >= 0, vs[0] < b]


class Substitution:
    """Constants replaced by terms, the pairs checked and converted once (z3's `substitute` checks every
    pair on every call, which costs more than the substitution itself)."""

    def __init__(self, pairs: list[tuple[Any, Any]]):
        pairs = [(a, b) for a, b in pairs if not (isinstance(b, z3.ExprRef) and a.eq(b))]
        self.n = len(pairs)
        self.ctx = pairs[0][0].ctx if pairs else z3.main_ctx()
        self.keep = pairs  # the Python objects own the references the arrays point to
        self.frm = (z3.Ast * self.n)(*[a.as_ast() for a, _ in pairs])
        self.to = (z3.Ast * self.n)(*[b.as_ast() for _, b in pairs])

    def __call__(self, t: Any) -> Any:
        if not self.n:
            return t
        return _to_expr_ref(z3.Z3_substitute(self.ctx.ref(), t.as_ast(), self.n, self.frm, self.to), self.ctx)


def _all(xs: list) -> Any:
    return z3.And(xs) if xs else z3.BoolVal(True)


def to_z3(t: Term, st: SymbolicState) -> Any:
    """Formula `t` as a Z3 Boolean over the state's slot constants."""
    out = Lowering(st.schema, Z3Algebra(st.slots)).formula(t)
    return z3.BoolVal(out) if isinstance(out, bool) else out


def evaluate(t: Term, schema: StateSchema, raw: Sequence[int]) -> bool:
    """Z3's truth value of `t` in the concrete state `raw` (substituted and simplified)."""
    st = SymbolicState(schema)
    e = to_z3(t, st)
    r = z3.simplify(z3.substitute(e, *st.pairs(raw)))
    if z3.is_true(r):
        return True
    if z3.is_false(r):
        return False
    raise AssertionError(f"Z3 left {r} unevaluated")


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Hold Ctrl-C while Z3 works, and raise it when the block ends. Left alone, Z3 installs a SIGINT
    handler of its own while it solves, which swallows a Ctrl-C (the query ends `unknown`, and the run
    goes on or fails with an internal error), and a KeyboardInterrupt raised while ctypes converts an
    argument becomes a ctypes ArgumentError. So Z3 is told to leave SIGINT alone (its `ctrl_c`
    parameter), and for the length of the block Python's handler only notes the signal; then the
    handler that was installed before runs (KeyboardInterrupt, or whatever it does). A query lasts at
    most the solver's timeout, so a Ctrl-C waits at most that long."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    z3.set_param("ctrl_c", False)
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if noted:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous != signal.SIG_IGN:  # the default action: stop, as Python's own handler would
                raise KeyboardInterrupt


def solver() -> z3.Solver:
    s = z3.Solver()
    s.set("timeout", SOLVER_TIMEOUT_MS)
    return s


# -- the core of a violation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One field of a state, as a violation's core names it: `rmState[rm1]`, `rm1.state`."""

    label: str
    slots: tuple[int, ...]
    type: Any

    def value(self, raw: Sequence[int]) -> str:
        return self.type.format(self.type.decode(tuple(raw[i] for i in self.slots)))


def atoms(schema: StateSchema) -> list[Atom]:
    """The state's fields, down through records and maps; anything else is one field."""
    out: list[Atom] = []
    for name, t in schema.variables.items():
        _atoms(name, t, schema.offsets[name], out)
    return out


def _atoms(label: str, t: Any, o: int, out: list[Atom]) -> None:
    if isinstance(t, Record):
        for f, ft in t.fields.items():
            _atoms(f"{label}.{f}", ft, o, out)
            o += ft.width
    elif isinstance(t, Map):
        w = t.value.width
        for i, k in enumerate(t.keys):
            _atoms(f"{label}[{t.key.format(k)}]", t.value, o + i * w, out)
    else:
        out.append(Atom(label, tuple(range(o, o + t.width)), t))


def core(t: Term, schema: StateSchema, raw: Sequence[int], reads: Sequence[int] | None = None) -> list[Atom] | None:
    """A minimal set of fields whose values in `raw` already make formula `t` false, whatever the other
    fields hold: an unsat core of their equalities against `t`, then shrunk one field at a time
    (Z3's cores are not minimal). None when `t` holds in `raw` or the solver gives up."""
    st = SymbolicState(schema)
    s = solver()
    s.add(*st.constraints())
    s.add(to_z3(t, st))
    wanted = set(range(schema.width) if reads is None else reads)
    fields = [a for a in atoms(schema) if wanted.intersection(a.slots)]
    marks = [z3.Bool(f"field#{i}") for i in range(len(fields))]
    for m, a in zip(marks, fields):
        s.add(z3.Implies(m, _all(st.equals(raw, a.slots))))
    if s.check(*marks) != z3.unsat:
        return None
    in_core = {str(c) for c in s.unsat_core()}
    keep = [i for i, m in enumerate(marks) if str(m) in in_core]
    for i in list(keep):
        trial = [marks[j] for j in keep if j != i]
        if s.check(*trial) == z3.unsat:
            keep.remove(i)
    return [fields[i] for i in keep]


# -- validity and implication ------------------------------------------------------------------------------


def entails(schema: StateSchema, premises: Sequence[Term], goal: Term) -> bool | None:
    """Whether every canonical state satisfying `premises` satisfies `goal` (None: solver gave up)."""
    st = SymbolicState(schema)
    s = solver()
    s.add(*st.constraints())
    for p in premises:
        s.add(to_z3(p, st))
    s.add(z3.Not(to_z3(goal, st)))
    r = s.check()
    return True if r == z3.unsat else False if r == z3.sat else None


def models(schema: StateSchema, formula: Term, block: Any = None,
           restrict: dict[str, frozenset[int]] | None = None) -> Iterator[tuple[int, ...]]:
    """Every canonical state satisfying `formula`, one at a time. `block(raw)` gives the states to exclude
    once `raw` is found (itself by default; its symmetric images, to break symmetry). `restrict`: as for
    `SymbolicState` (typed envelopes)."""
    st = SymbolicState(schema, restrict=restrict)
    s = solver()
    s.add(*st.constraints())
    s.add(to_z3(formula, st))
    while True:
        r = s.check()
        if r == z3.unknown:
            raise TimeoutError(f"Z3 gave up enumerating states: {s.reason_unknown()}")
        if r == z3.unsat:
            return
        raw = st.state_of(s.model())
        yield raw
        for other in (block(raw) if block is not None else [raw]):
            s.add(z3.Not(z3.And(st.equals(other))))


__all__ = ["Atom", "Substitution", "SymbolicState", "Unsupported", "Vec", "atoms", "core", "entails", "evaluate", "models",
           "to_z3"]
