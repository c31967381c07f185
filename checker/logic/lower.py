"""One translation of formulas, over an abstract algebra that `pycode` (Python source) and `smt`
(Z3 terms) implement. Both evaluations share every decision made here, so they cannot disagree.

Values: a Bool term lowers to a boolean of the algebra; an Int term to an
integer (its value, not its code); every other term to its *slots*: the list
of its canonical encoding's ints, exactly as the state tuple holds them.
Partial operations fall back to the all-zero encoding (see `formula`).
Constants are plain Python ints and bools throughout, so both algebras fold
them: with quantifiers expanded (Z3) most lookups become direct slot reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..model import Bag, Bool, Enum, Int, Map, NodeId, OneOf, Option, Record, Seq, Set, StateSchema
from ..model.schema import Queue
from .formula import FormulaError, Integer, Term, is_int


def slot_kinds(t: Any) -> list[int]:
    """Per slot of type `t`: 0 for an integer slot, n > 0 for a bit-vector of n bits (sets, bags)."""
    if isinstance(t, Set):
        return [t.elem.cardinality]
    if isinstance(t, Bag):
        return [Bag.BITS * t.elem.cardinality]
    if isinstance(t, Queue):
        return [0]
    if isinstance(t, Record):
        return [k for f in t.fields.values() for k in slot_kinds(f)]
    if isinstance(t, Map):
        return slot_kinds(t.value) * len(t.keys)
    if isinstance(t, Seq):
        return [0] + slot_kinds(t.elem) * t.max_len
    if isinstance(t, Option):
        return [0] + slot_kinds(t.inner)
    if isinstance(t, OneOf):
        seen: list[set[int]] = [set() for _ in range(t.width)]
        for v in t.variants:
            for i, k in enumerate(slot_kinds(v)):
                seen[1 + i].add(k)
        # a slot that is a set in every variant using it is bits (the widest); one shared with an int is an
        # int, turned into bits where a set reads it
        return [0 if (0 in ks or not ks) else max(ks) for ks in seen]
    return [0]


def fold(xs: list, absorbing: bool) -> bool | list:
    """The operands of an and (absorbing False) or an or (absorbing True) with Python bool constants
    folded away: the absorbing constant if one is present, the other one if nothing is left, else the
    remaining terms, for the backend to join."""
    out = []
    for x in xs:
        if isinstance(x, bool):
            if x == absorbing:
                return absorbing
            continue
        out.append(x)
    return out or (not absorbing)


class Algebra:
    """What a backend provides. Arguments may be plain ints/bools (constants) or backend terms."""

    def read(self, i: int) -> Any: ...
    def add(self, a, b): ...
    def sub(self, a, b): ...
    def mul(self, a, b): ...
    def div(self, a, b): ...  # total: rounds down, x // 0 == 0
    def mod(self, a, b): ...  # total: x % 0 == x
    def eq(self, a, b): ...
    def lt(self, a, b): ...
    def le(self, a, b): ...
    def and_(self, xs: list): ...
    def or_(self, xs: list): ...
    def not_(self, a): ...
    def ite(self, c, a, b): ...
    def lookup(self, rows: list[list], idx, default: list, checked: bool) -> list: ...
    def bit(self, mask, rank, n: int): ...
    def singleton(self, rank, n: int): ...
    def bits(self, op: str, a, b, n: int): ...  # "or" | "and" | "diff"
    def popcount(self, mask, n: int): ...
    def nibble(self, bag, rank, n: int): ...
    def quantify(self, op: str, n: int, rows: list[list[int]] | None, members: Any,
                 body: Callable[[list], Any]) -> Any: ...


class Lowering:
    """Lower terms of one schema through one algebra. `env` maps bound variables to their slots."""

    def __init__(self, schema: StateSchema, algebra: Algebra):
        self.schema, self.A = schema, algebra

    # -- entry points -----------------------------------------------------------------------------------
    def formula(self, t: Term, env: dict | None = None) -> Any:
        return self.val(t, env or {})

    # -- values -------------------------------------------------------------------------------------------
    def val(self, t: Term, env: dict) -> Any:
        A, op, a = self.A, t.op, t.args
        ty = t.type
        if op == "int":
            return a[0]
        if op in ("eq",):
            x, y = a
            if is_int(x.type):
                return A.eq(self.val(x, env), self.val(y, env))
            if isinstance(x.type, Bool):
                return self._iff(self.val(x, env), self.val(y, env))
            return A.and_([A.eq(p, q) for p, q in zip(self.slots(x, env), self.slots(y, env))])
        if op == "lt":
            return A.lt(self.val(a[0], env), self.val(a[1], env))
        if op == "le":
            return A.le(self.val(a[0], env), self.val(a[1], env))
        if op in ("add", "sub", "mul", "div", "mod"):
            return getattr(A, op)(self.val(a[0], env), self.val(a[1], env))
        if op == "and":
            return A.and_([self.val(x, env) for x in a])
        if op == "or":
            return A.or_([self.val(x, env) for x in a])
        if op == "not":
            return A.not_(self.val(a[0], env))
        if op == "implies":
            return A.or_([A.not_(self.val(a[0], env)), self.val(a[1], env)])
        if op == "iff":
            return self._iff(self.val(a[0], env), self.val(a[1], env))
        if op == "member":
            e, s = a
            return self._has(self.slots(s, env)[0], e, s.type.elem, env)
        if op == "subset":
            n = a[0].type.elem.cardinality
            x, y = self.slots(a[0], env)[0], self.slots(a[1], env)[0]
            return A.eq(A.bits("diff", x, y, n), 0)
        if op == "card":
            s = a[0]
            n = s.type.elem.cardinality
            mask = self.slots(s, env)[0]
            if isinstance(s.type, Bag):
                total = 0
                for r in range(n):
                    total = A.add(total, A.nibble(mask, r, n))
                return total
            return A.popcount(mask, n)
        if op == "count":
            e, b = a
            r, inside = self.elem_rank(e, b.type.elem, env)
            n = A.nibble(self.slots(b, env)[0], r, b.type.elem.cardinality)
            return n if inside is True else A.ite(inside, n, 0)
        if op == "length":
            return self.slots(a[0], env)[0]
        if op == "is_some":
            return A.eq(self.slots(a[0], env)[0], 1)
        if op == "is_a":
            return A.eq(self.slots(a[0], env)[0], a[1])
        if op in ("forall", "exists"):
            return self._quantify(t, env)
        if op == "fit":  # an integer stored in a slot of an Int type: its value is the integer's
            return self.val(a[0], env)
        if op == "ite" and (isinstance(ty, (Bool, Integer)) or is_int(ty)):
            return A.ite(self.val(a[0], env), self.val(a[1], env), self.val(a[2], env))
        # read from the state, a bound variable or a constant: decode its slots
        s = self.slots(t, env)
        if isinstance(ty, Bool):
            return A.eq(s[0], 1)
        if isinstance(ty, Int):
            return A.add(s[0], ty.lo)
        return s

    def _iff(self, x: Any, y: Any) -> Any:
        A = self.A
        return A.or_([A.and_([x, y]), A.and_([A.not_(x), A.not_(y)])])

    # -- slots --------------------------------------------------------------------------------------------
    def slots(self, t: Term, env: dict) -> list:
        A, op, a, ty = self.A, t.op, t.args, t.type
        if op == "var":
            o = self.schema.offsets[a[0]]
            return [A.read(o + i) for i in range(ty.width)]
        if op == "bound":
            return env[id(a[0])]
        if op == "const":
            return list(a[0])
        if op == "field":
            rec = a[0].type
            o = 0
            for f, ft in rec.fields.items():
                if f == a[1]:
                    return self.slots(a[0], env)[o:o + ft.width]
                o += ft.width
            raise AssertionError(a[1])
        if op == "node":
            role, idx = a
            names = self.schema.groups[role]
            rows = [self.slots(Term("var", (n,), ty), env) for n in names]
            return A.lookup(rows, self.slots(idx, env)[0], [0] * ty.width, False)
        if op == "get":
            m, k = a
            mt: Map = m.type
            flat = self.slots(m, env)
            w = mt.value.width
            rows = [flat[i * w:(i + 1) * w] for i in range(len(mt.keys))]
            if is_int(k.type):
                code = A.sub(self.val(k, env), mt.key.lo) if isinstance(mt.key, Int) else self.val(k, env)
                inside = isinstance(k.type, Int) and isinstance(mt.key, Int) and mt.key.lo <= k.type.lo \
                    and k.type.hi <= mt.key.hi
                return A.lookup(rows, code, [0] * w, not inside)
            return A.lookup(rows, self.slots(k, env)[0], [0] * w, False)
        if op == "store":  # [m EXCEPT ![k] = v]: the row of k replaced (each row, under k's test, for a variable k)
            m, k, v = a
            mt = m.type
            flat, new = self.slots(m, env), self.slots(v, env)
            w = mt.value.width
            code = (A.sub(self.val(k, env), mt.key.lo) if isinstance(mt.key, Int) else self.val(k, env)) \
                if is_int(k.type) else self.slots(k, env)[0]
            out = []
            for i in range(len(mt.keys)):
                row = flat[i * w:(i + 1) * w]
                if isinstance(code, int):
                    out += new if code == i else row
                else:
                    hit = A.eq(code, i)
                    out += [A.ite(hit, x, y) for x, y in zip(new, row)]
            return out
        if op == "index":
            q, i = a
            qt: Seq = q.type
            flat = self.slots(q, env)
            w = qt.elem.width
            rows = [flat[1 + j * w:1 + (j + 1) * w] for j in range(qt.max_len)]
            return A.lookup(rows, self.val(i, env), [0] * w, True) if rows else [0] * w
        if op == "opt_value":
            return self.slots(a[0], env)[1:]
        if op == "as_a":
            s = self.slots(a[0], env)
            v = ty.width
            is_k = A.eq(s[0], a[1])
            return [A.ite(is_k, x, 0) for x in s[1:1 + v]]
        if op == "record":
            out: list = []
            for v in a[1]:
                out += self.slots(v, env)
            return out
        if op == "inject":
            rec_slots = self.slots(a[0], env)
            return [a[1], *rec_slots] + [0] * (ty.width - 1 - len(rec_slots))
        if op == "setlit":
            n = ty.elem.cardinality
            mask: Any = 0
            for e in a:
                r, inside = self.elem_rank(e, ty.elem, env)
                one = A.singleton(r, n)
                mask = A.bits("or", mask, one if inside is True else A.ite(inside, one, 0), n)
            return [mask]
        if op in ("union", "inter", "diff"):
            n = ty.elem.cardinality
            x, y = self.slots(a[0], env)[0], self.slots(a[1], env)[0]
            return [A.bits({"union": "or", "inter": "and", "diff": "diff"}[op], x, y, n)]
        if op == "ite":
            c = self.val(a[0], env)
            return [A.ite(c, x, y) for x, y in zip(self.slots(a[1], env), self.slots(a[2], env))]
        if isinstance(ty, Bool):
            return [A.ite(self.val(t, env), 1, 0)]
        if isinstance(ty, Int):
            return [A.sub(self.val(t, env), ty.lo)]
        raise FormulaError(f"`{t}` has no stored form (an arithmetic result cannot be used as a value here)")

    def _has(self, mask: Any, e: Term, elem: Any, env: dict) -> Any:
        r, inside = self.elem_rank(e, elem, env)
        bit = self.A.bit(mask, r, elem.cardinality)
        return bit if inside is True else self.A.and_([inside, bit])

    def elem_rank(self, e: Term, elem: Any, env: dict) -> tuple[Any, Any]:
        """The rank of element `e` in the collection's element type `elem`, and whether it lies in that type
        at all (True, or a boolean: an Int element of another range may fall outside)."""
        A = self.A
        if isinstance(elem, Int):
            v = self.val(e, env)
            if isinstance(e.type, Int) and elem.lo <= e.type.lo and e.type.hi <= elem.hi:
                return A.sub(v, elem.lo), True
            return A.sub(v, elem.lo), A.and_([A.le(elem.lo, v), A.le(v, elem.hi)])
        return self.rank(elem, self.slots(e, env)), True

    # -- ranks: an element's position in its type, from its slots ----------------------------------------
    def rank(self, t: Any, s: Sequence) -> Any:
        A = self.A
        if isinstance(t, (Bool, Int, Enum, NodeId, Set)):
            return s[0]
        if isinstance(t, Record):
            r: Any = 0
            o = 0
            for ft in t.fields.values():
                r = A.add(A.mul(r, ft.cardinality), self.rank(ft, s[o:o + ft.width]))
                o += ft.width
            return r
        if isinstance(t, OneOf):
            out: Any = 0
            for k in range(len(t.variants) - 1, -1, -1):
                v = t.variants[k]
                r_k = A.add(t._starts[k], self.rank(v, s[1:1 + v.width]))
                out = r_k if k == len(t.variants) - 1 else A.ite(A.eq(s[0], k), r_k, out)
            return out
        if isinstance(t, Option):
            return A.ite(A.eq(s[0], 1), A.add(1, self.rank(t.inner, s[1:])), 0)
        if isinstance(t, Map):
            r = 0
            w = t.value.width
            for i in range(len(t.keys)):
                r = A.add(A.mul(r, t.value.cardinality), self.rank(t.value, s[i * w:(i + 1) * w]))
            return r
        raise FormulaError(f"{t!r} elements are not supported in set formulas")

    # -- quantifiers --------------------------------------------------------------------------------------
    def _quantify(self, t: Term, env: dict) -> Any:
        var, dom, body = t.args
        elem = dom.elem
        n = elem.cardinality
        rows = None if elem.width == 1 else domain_rows(elem)  # one slot: the slot is the rank
        members = self.slots(dom.members, env)[0] if dom.members is not None else None
        key = id(var.args[0])

        def inside(s: list) -> Any:
            env2 = dict(env)
            env2[key] = s
            return self.val(body, env2)

        return self.A.quantify(t.op, n, rows, members, inside)


_ROWS: dict = {}


def domain_rows(elem: Any) -> list[list[int]]:
    """Every value of a finite type, encoded, in rank order (cached per type)."""
    rows = _ROWS.get(elem)
    if rows is None:
        rows = _ROWS[elem] = [list(elem.encode(v)) for v in elem.values()]
    return rows


__all__ = ["Algebra", "Lowering", "domain_rows", "fold", "slot_kinds"]
