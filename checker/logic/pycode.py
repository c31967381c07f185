"""Formulas compiled to Python source over the raw state tuple (generated once, no tree walking per
state), and the Python explanation of a violation: which quantifier instance fails.

>>> from checker.model import StateSchema, Int, Map, NodeId
>>> from checker.logic.formula import State, forall
>>> RM = NodeId("rm", 2); S = StateSchema({"x": Int(0, 9), "m": Map(RM, Int(0, 3))})
>>> s = State(S)
>>> f = compile_term(forall(RM, lambda r: s.m[r] <= s.x), S)
>>> f.source
'def formula(raw):\\n    return all((raw[1 + v0] <= raw[0]) for v0 in range(2))\\n'
>>> f((2, 1, 3)), f((3, 1, 3)), f.reads
(False, True, (0, 1, 2))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..model import StateSchema
from .formula import Term
from .lower import Lowering, fold


class Code(str):
    """A Python expression (parenthesised where it is not atomic)."""


class Read(Code):
    """`raw[i]`: a read of one state slot."""

    index: int

    def __new__(cls, i: int) -> Read:
        r = super().__new__(cls, f"raw[{i}]")
        r.index = i
        return r


def _is_const(x: Any) -> bool:
    return not isinstance(x, str)


class PyAlgebra:
    """Builds Python source; constants (ints, bools) are folded as they meet."""

    def __init__(self) -> None:
        self.reads: set[int] = set()
        self.ns: dict[str, Any] = {}
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count - 1}"

    def read(self, i: int) -> Read:
        self.reads.add(i)
        return Read(i)

    def _bin(self, a: Any, b: Any, sym: str, fold: Callable[[Any, Any], Any]) -> Any:
        if _is_const(a) and _is_const(b):
            return fold(a, b)
        return Code(f"({a} {sym} {b})")

    def add(self, a, b):
        if _is_const(a) and a == 0:
            return b
        if _is_const(b) and b == 0:
            return a
        return self._bin(a, b, "+", lambda x, y: x + y)

    def sub(self, a, b):
        if _is_const(b) and b == 0:
            return a
        return self._bin(a, b, "-", lambda x, y: x - y)

    def mul(self, a, b):
        if _is_const(a) and a == 1:
            return b
        if _is_const(a) and a == 0 or _is_const(b) and b == 0:
            return 0
        return self._bin(a, b, "*", lambda x, y: x * y)

    def div(self, a, b):
        if _is_const(b):
            return 0 if b == 0 else self._bin(a, b, "//", lambda x, y: x // y)
        return Code(f"({a} // {b} if {b} else 0)")

    def mod(self, a, b):
        if _is_const(b):
            return a if b == 0 else self._bin(a, b, "%", lambda x, y: x % y)
        return Code(f"({a} % {b} if {b} else {a})")

    def eq(self, a, b):
        return self._bin(a, b, "==", lambda x, y: x == y)

    def lt(self, a, b):
        return self._bin(a, b, "<", lambda x, y: x < y)

    def le(self, a, b):
        return self._bin(a, b, "<=", lambda x, y: x <= y)

    def and_(self, xs):
        out = fold(xs, False)
        return out if isinstance(out, bool) else out[0] if len(out) == 1 else Code("(" + " and ".join(out) + ")")

    def or_(self, xs):
        out = fold(xs, True)
        return out if isinstance(out, bool) else out[0] if len(out) == 1 else Code("(" + " or ".join(out) + ")")

    def not_(self, a):
        if _is_const(a):
            return not a
        return Code(f"(not {a})")

    def ite(self, c, a, b):
        if _is_const(c):
            return a if c else b
        if a is b or (_is_const(a) and _is_const(b) and a == b and type(a) is type(b)):
            return a
        return Code(f"({a} if {c} else {b})")

    def lookup(self, rows, idx, default, checked):
        if _is_const(idx):
            return list(rows[idx]) if 0 <= idx < len(rows) else list(default)
        n = len(rows)
        w = len(default)
        base = _run_base(rows, w)
        out = []
        for j in range(w):
            if base is not None:
                at = f"{base + j} + {idx}" if w == 1 else f"{base + j} + {idx} * {w}"
                e = f"raw[{at}]" if base + j else f"raw[{idx}]" if w == 1 else f"raw[{idx} * {w}]"
            else:
                e = "(" + ", ".join(str(r[j]) for r in rows) + ",)[" + idx + "]"
            out.append(Code(f"({e} if 0 <= {idx} < {n} else {default[j]})" if checked else e))
        return out

    def bit(self, mask, rank, n):
        if _is_const(mask) and _is_const(rank):
            return bool(mask >> rank & 1) if rank >= 0 else False
        return Code(f"({mask} >> {rank} & 1 == 1)")

    def singleton(self, rank, n):
        if _is_const(rank):
            return 1 << rank
        return Code(f"(1 << {rank})")

    def bits(self, op, a, b, n):
        if op == "or":
            if _is_const(a) and a == 0:
                return b
            return self._bin(a, b, "|", lambda x, y: x | y)
        if op == "and":
            return self._bin(a, b, "&", lambda x, y: x & y)
        if _is_const(a) and _is_const(b):
            return a & ~b
        return Code(f"({a} & ~{b})")

    def popcount(self, mask, n):
        if _is_const(mask):
            return mask.bit_count()
        return Code(f"{mask}.bit_count()")

    def nibble(self, bag, rank, n):
        if _is_const(bag) and _is_const(rank):
            return bag >> 4 * rank & 15
        return Code(f"({bag} >> 4 * {rank} & 15)")

    def quantify(self, op, n, rows, members, body):
        v = self.fresh("v")
        if rows is None:
            slots = [Code(v)]
        else:
            slots = []
            for j in range(len(rows[0])):
                name = self.fresh("T")
                self.ns[name] = tuple(r[j] for r in rows)
                slots.append(Code(f"{name}[{v}]"))
        inner = body(slots)
        if members is None:
            over = f"range({n})"
        elif _is_const(members):
            over = repr(tuple(r for r in range(n) if members >> r & 1))
        else:
            over = f"range({n}) if {members} >> {v} & 1"
        if _is_const(inner):
            if members is None:
                return inner if n else op == "forall"
            inner = "True" if inner else "False"
        fn = "all" if op == "forall" else "any"
        return Code(f"{fn}({inner} for {v} in {over})")


def _run_base(rows: list[list], w: int) -> int | None:
    """If `rows` are consecutive reads of the state (row k = raw[b + k*w : b + (k+1)*w]), b."""
    first = rows[0][0] if rows and rows[0] else None
    if not isinstance(first, Read):
        return None
    base = first.index
    for k, row in enumerate(rows):
        for j, x in enumerate(row):
            if not isinstance(x, Read) or x.index != base + k * w + j:
                return None
    return base


class Compiled:
    """A formula compiled to `fn(raw, *bound slots) -> bool`, with its source and the slots it reads."""

    def __init__(self, fn: Callable[..., bool], source: str, reads: tuple[int, ...]):
        self.fn, self.source, self.reads = fn, source, reads

    def __call__(self, raw: tuple, *args: Any) -> bool:
        return self.fn(raw, *args)


def compile_term(t: Term, schema: StateSchema, free: list[tuple[Term, int]] = ()) -> Compiled:
    """Compile formula `t`; `free` lists bound variables left free (with their widths), which become
    extra arguments: one per slot."""
    return _compile(lambda low, env: low.formula(t, env), schema, free)


def compile_set(t: Term, schema: StateSchema, free: list) -> Compiled:
    """A set term compiled to `fn(raw, *bound slots) -> its bitmask` (for `explain`)."""
    return _compile(lambda low, env: low.slots(t, env)[0], schema, free)


def _compile(lower: Callable[[Lowering, dict], Any], schema: StateSchema, free: Sequence[tuple[Term, int]]) -> Compiled:
    alg = PyAlgebra()
    env: dict = {}
    params = ["raw"]
    for i, (var, width) in enumerate(free):
        names = [f"b{i}_{j}" for j in range(width)]
        params += names
        env[id(var.args[0])] = [Code(n) for n in names]
    expr = lower(Lowering(schema, alg), env)
    src = f"def formula({', '.join(params)}):\n    return {expr}\n"
    ns = dict(alg.ns)
    exec(compile(src, "<formula>", "exec"), ns)
    return Compiled(ns["formula"], src, tuple(sorted(alg.reads)))


# -- explanation: the failing quantifier instance ----------------------------------------------------------


def explain(t: Term, schema: StateSchema, raw: tuple) -> tuple[list[str], Term, bool]:
    """Why formula `t` is false in `raw`: the quantifier instances that make it so, outermost first
    ("a=rm1"), and the innermost sub-formula reached with its truth value under them."""
    bindings: list[str] = []
    where, value = _why(t, schema, raw, [], [], bindings, False)
    return bindings, where, value


def _holds(t: Term, schema: StateSchema, raw: tuple, free: list, vals: list) -> bool:
    return bool(compile_term(t, schema, free)(raw, *vals))


def _why(t: Term, schema: StateSchema, raw: tuple, free: list, vals: list, out: list[str],
         want: bool) -> tuple[Term, bool]:
    """`t` evaluates to `want` under the bound values; descend to the instance that makes it so."""
    op = t.op
    if op == "not":
        inner, v = _why(t.args[0], schema, raw, free, vals, out, not want)
        return (t, want) if inner is t.args[0] else (inner, v)
    if op == "and" and not want or op == "or" and want:
        for x in t.args:
            if _holds(x, schema, raw, free, vals) == want:
                return _why(x, schema, raw, free, vals, out, want)
    if op == "implies" and not want:
        return _why(t.args[1], schema, raw, free, vals, out, False)
    if (op == "forall" and not want) or (op == "exists" and want):
        var, dom, body = t.args
        elem = dom.elem
        members = compile_set(dom.members, schema, free)(raw, *vals) if dom.members is not None else None
        for r, value in enumerate(elem.values()):
            if members is not None and not members >> r & 1:
                continue
            free2 = [*free, (var, elem.width)]
            vals2 = [*vals, *elem.encode(value)]
            if _holds(body, schema, raw, free2, vals2) == want:
                out.append(f"{var.args[1]}={elem.format(value)}")
                return _why(body, schema, raw, free2, vals2, out, want)
    return t, want


__all__ = ["Compiled", "PyAlgebra", "compile_term", "explain"]
