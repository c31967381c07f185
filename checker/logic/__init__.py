"""Properties over states. Invariants are Python predicates over a readable `StateView`;
`compile_predicate` makes them cheap to check on raw tuples.

How: the predicate's source is read once. A body `return A and B and ...` is
split into its conjuncts. For each part, the variables it reads (`state.x`
only) are found; its verdict depends only on those variables' slots, so
results are memoised by exactly those slots: most states of a model share
their projection onto a conjunct's variables with many others. A part that
reads every variable is called directly. Predicates whose source cannot be
read, or that pass the state on whole, are correct but uncached; the reason
is recorded. Imports `checker.model` only; Z3 will live in its
own module here, loaded lazily.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import tokenize
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..model import StateSchema, StateView
from . import actions as _actions  # noqa: F401  (installs the compiler of @action(formula=True) in checker.model)
from .formula import FormulaError, Term, build
from .pycode import compile_term, explain

MEMO_LIMIT = 1 << 18  # entries per predicate; past this, misses are evaluated without caching


class PropertyError(Exception):
    """A property is defined wrongly (unknown variable, duplicate name); the message names it."""


class NotABool(Exception):
    """A predicate returned something other than a bool (`"no"`, None, 1): truthiness would read it
    as a verdict it never gave. `kind` ("invariant", ...) when the caller knew it."""

    def __init__(self, name: str, value: object, kind: str | None = None):
        super().__init__(f"{kind or 'property'} {name} returned {value!r}, not a bool")
        self.name, self.value, self.kind = name, value, kind


def _truth(value: object) -> bool | None:
    """A predicate's result as a bool (numpy's bool accepted), or None when it is no bool."""
    if value is True or value is False:
        return value
    t = type(value)
    if t.__module__ == "numpy" and t.__name__ in ("bool_", "bool"):
        return bool(value)
    return None


@dataclass(frozen=True)
class Part:
    """One conjunct of a predicate: `fn(view)` (or `fn(raw)` when `on_raw`), and the slots it reads
    (None: unknown, all)."""

    fn: Callable[[Any], object]
    slots: tuple[int, ...] | None
    on_raw: bool = False


@dataclass(frozen=True)
class Predicate:
    """A compiled state predicate: it holds in a state when every part holds.

    `check(raw)` evaluates it alone; `fuse` compiles several into one fast function.
    """

    name: str
    parts: tuple[Part, ...]
    schema: StateSchema
    reads: tuple[str, ...] | None  # variables read, or None when unknown (uncached)
    note: str = ""  # why the predicate is not cached, when it is not
    formula: Term | None = None  # the formula, for a predicate written in the formula language
    history: Any = None  # for a consistency check of the recorded history: how to read, judge and explain it

    def check(self, raw: tuple) -> bool:
        """Whether the predicate holds in `raw`; raises `NotABool` when a part returns no bool."""
        view = self.schema.view(raw)
        for p in self.parts:
            r = p.fn(raw if p.on_raw else view)
            if r is not True:
                if r is False:
                    return False
                b = _truth(r)
                if b is None:
                    raise NotABool(self.name, r)
                if not b:
                    return False
        return True

    def explain(self, raw: tuple) -> list[str]:
        """The quantifier instance that fails a formula in `raw` ("a=rm1", ...); [] for a plain predicate."""
        if self.formula is None:
            return []
        return explain(self.formula, self.schema, raw)[0]


@dataclass(frozen=True)
class ActionConstraint:
    """A compiled action constraint (TLC's ACTION_CONSTRAINT): `check(s, t)` over raw tuples calls the
    model's method on decoded views of both states. Not memoised: it is evaluated once per step."""

    name: str
    fn: Callable[[StateView, StateView], object]
    schema: StateSchema

    @property
    def parts(self) -> tuple[Part, ...]:
        return (Part(self.fn, None),)  # what the engine's guard reads to name the model code

    def check(self, s: tuple, t: tuple) -> bool:
        view = self.schema.view
        r = self.fn(view(s), view(t))
        if r is True or r is False:
            return r
        b = _truth(r)
        if b is None:
            raise NotABool(self.name, r, "action constraint")
        return b


@dataclass(frozen=True)
class StateFunction:
    """A compiled view (TLC's VIEW): `key(raw)` is the model's method on a decoded view of the state, a
    hashable value; states with equal keys are one state for the visited store."""

    name: str
    fn: Callable[[StateView], Any]
    schema: StateSchema

    @property
    def parts(self) -> tuple[Part, ...]:
        return (Part(self.fn, None),)

    def key(self, raw: tuple) -> Any:
        return self.fn(self.schema.view(raw))


def variables_read(fn: Callable, schema: StateSchema) -> tuple[tuple[str, ...] | None, str]:
    """The variables `fn(state)` reads as `state.name` / `state["name"]`, or (None, why not)."""
    found = _definition(fn)
    if isinstance(found, str):
        return None, found
    node, argnames = found
    return _reads(node, argnames[-1], schema)


def _definition(fn: Callable) -> tuple[ast.FunctionDef | ast.Lambda, list[str]] | str:
    """The AST of `fn`'s definition and its argument names, or why it cannot be had."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return "it is not a Python function"
    argnames = list(code.co_varnames[: code.co_argcount])
    if not argnames:
        return "it takes no argument"
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, ValueError, tokenize.TokenError):
        return "its source cannot be read"
    nodes = [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.Lambda)) and [a.arg for a in n.args.args] == argnames
        and (isinstance(n, ast.Lambda) or n.name == code.co_name)
    ]
    if len(nodes) != 1:
        return "its definition cannot be told apart in its source"
    if not _same_code(nodes[0], code):
        return "its source on disk is not the code that runs (edited since it was imported?)"
    return nodes[0], argnames


def _same_code(node: ast.FunctionDef | ast.Lambda, code: types.CodeType) -> bool:
    """Whether `node`, compiled, is `code`: the source `inspect` found is what runs. The reads the search
    memoises on come from that source, so a stale or misattributed one could hide a read (a false
    "holds"); then the predicate is simply not memoised."""
    try:
        if isinstance(node, ast.Lambda):
            outer = compile(ast.Expression(body=node), "<check>", "eval")
        else:
            fresh = ast.fix_missing_locations(ast.Module(body=[ast.FunctionDef(
                name=node.name, args=node.args, body=node.body, decorator_list=[], returns=None,
                type_comment=None)], type_ignores=[]))
            outer = compile(fresh, "<check>", "exec")
    except (SyntaxError, ValueError, TypeError):
        return False
    found = [c for c in outer.co_consts if isinstance(c, types.CodeType)]
    if len(found) != 1:
        return False
    mine = found[0]
    if mine.co_varnames != code.co_varnames or mine.co_argcount != code.co_argcount:
        return False
    if not code.co_freevars and not code.co_cellvars:
        return mine.co_code == code.co_code and mine.co_names == code.co_names
    # closures load through cells where the fresh compile loads globals: compare the names only
    return set(mine.co_names) | set(mine.co_freevars) == set(code.co_names) | set(code.co_freevars)


def _reads(node: ast.AST, state: str, schema: StateSchema) -> tuple[tuple[str, ...] | None, str]:
    reads: set[str] = set()
    allowed: set[int] = set()
    role_calls = {
        id(n.func)
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "role"
    }
    for n in ast.walk(node):
        if id(n) in role_calls:
            continue
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == state:
            reads.add(n.attr)
            allowed.add(id(n.value))
        elif (
            isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Name)
            and n.value.id == state
            and isinstance(n.slice, ast.Constant)
            and isinstance(n.slice.value, str)
        ):
            reads.add(n.slice.value)
            allowed.add(id(n.value))
        elif (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "role"
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == state
            and len(n.args) == 1
            and isinstance(n.args[0], ast.Constant)
            and n.args[0].value in schema.groups
        ):
            reads.update(schema.groups[n.args[0].value])  # state.role("rm"): every node of the role
            allowed.add(id(n.func.value))
            allowed.add(id(n.func))
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id == state and id(n) not in allowed:
            return None, f"it uses {state!r} other than as {state}.<variable>"
    constants = getattr(schema, "constants", {})
    unknown = sorted(r for r in reads if r not in schema.variables and r not in constants)
    if unknown:
        raise PropertyError(
            f"reads {state}.{unknown[0]}, but the state has no variable {unknown[0]!r} "
            f"(variables: {', '.join(schema.variables)})"
        )
    return tuple(v for v in schema.variables if v in reads), ""


def compile_predicate(name: str, fn: Callable[[StateView], object], schema: StateSchema) -> Predicate:
    """Read `fn`'s source once: its conjuncts, and the variables each one reads.

    >>> from checker.model import StateSchema, Int
    >>> S = StateSchema({"x": Int(0, 9), "y": Int(0, 9)})
    >>> p = compile_predicate("small", lambda st: st.x < 5, S)
    >>> p.reads, p.check((3, 9)), p.check((7, 0))
    (('x',), True, False)
    """
    decl = getattr(fn, "_fc_predicate", None)
    if decl is not None and decl.formula:
        try:
            term = build(fn, schema)
        except FormulaError as e:
            raise PropertyError(str(e)) from None
        except Exception as e:  # the builder's own Python failed (a typo in an attribute, say)
            raise PropertyError(f"building the formula raised {type(e).__name__}: {e}") from None
        return compile_formula(name, term, schema)
    found = _conjuncts(fn, schema) or [(fn, *variables_read(fn, schema))]
    parts, reads_all, notes = [], set(), []
    for part, reads, why in found:
        slots = None
        if reads is not None and len(reads) < len(schema.variables):
            slots = tuple(i for v in reads for i in range(schema.offsets[v], schema.offsets[v] + schema.variables[v].width))
        parts.append(Part(part, slots))
        if reads is None:
            notes.append(why)
            reads_all = None
        elif reads_all is not None:
            reads_all.update(reads)
    note = f"{name} is evaluated on every state: {notes[0]}" if notes else ""
    reads_t = None if reads_all is None else tuple(v for v in schema.variables if v in reads_all)
    return Predicate(name, tuple(parts), schema, reads_t, note)


def compile_formula(name: str, term: Term, schema: StateSchema) -> Predicate:
    """A formula as a predicate: each top-level conjunct compiled to Python over the raw tuple, and
    memoised (by `fuse`) on exactly the slots its code reads.

    >>> from checker.model import StateSchema, Int
    >>> from checker.logic.formula import State
    >>> S = StateSchema({"x": Int(0, 9), "y": Int(0, 9)}); s = State(S)
    >>> p = compile_formula("order", (s.x < 5) & (s.x <= s.y), S)
    >>> [part.slots for part in p.parts], p.check((3, 4)), p.check((3, 2))
    ([(0,), None], True, False)
    """
    conjuncts = term.args if term.op == "and" else (term,)
    parts, read = [], set()
    for c in conjuncts:
        compiled = compile_term(c, schema)
        slots = compiled.reads if len(compiled.reads) < schema.width else None
        parts.append(Part(compiled.fn, slots, on_raw=True))
        read.update(compiled.reads)
    reads = tuple(v for v in schema.variables if any(schema.slot_owner[i] == v for i in read))
    return Predicate(name, tuple(parts), schema, reads, "", term)


TABLE_LIMIT = 1 << 12  # a one-slot part whose slot has at most this many values uses a list, not a dict


def fuse(predicates: Sequence[Predicate], schema: StateSchema) -> Callable[[tuple], int]:
    """One generated function `raw -> index of the first predicate that fails, or -1`.

    Parts (conjuncts) that read the same slots are grouped; each group is
    memoised on exactly those slots: a list indexed by the slot for one small
    slot, else a dict keyed by the slots (at most MEMO_LIMIT entries). Parts
    that read every variable are called directly. When a group fails, the
    predicates are evaluated in order to name the first one that fails. A part returning no bool
    counts as failing there (checked where a result is memoised, at a miss, so a hit costs nothing);
    the predicate evaluated whole, in order, then raises `NotABool` if it really returns no bool.

    >>> from checker.model import StateSchema, Int
    >>> S = StateSchema({"x": Int(0, 9), "y": Int(0, 9)})
    >>> first_failing = fuse([compile_predicate("x<5", lambda st: st.x < 5, S)], S)
    >>> first_failing((3, 9)), first_failing((7, 0))
    (-1, 0)
    """
    groups: dict[tuple[int, ...] | None, list[Part]] = {}
    direct: list[Part] = []
    for pred in predicates:
        for part in pred.parts:
            if part.slots is None:
                direct.append(part)
            else:
                groups.setdefault(part.slots, []).append(part)
    view = schema.view

    def slow(raw: tuple) -> int:
        return next((i for i, p in enumerate(predicates) if not p.check(raw)), -1)

    ns: dict[str, Any] = {"view": view, "slow": slow}
    lines = ["def first_failing(raw):"]
    for gi, (slots, fns) in enumerate(groups.items()):
        holds = _all_of(fns, view)
        if not slots:  # reads no variable: a constant
            if not holds(tuple([0] * schema.width)):
                lines.append("    return slow(raw)")
            continue
        ns[f"holds{gi}"] = holds
        if len(slots) == 1 and schema.slot_bounds[slots[0]] <= TABLE_LIMIT:
            ns[f"t{gi}"] = [None] * schema.slot_bounds[slots[0]]
            lines += [f"    k = raw[{slots[0]}]", f"    r = t{gi}[k]", "    if r is None:",
                      f"        r = t{gi}[k] = holds{gi}(raw)"]
        else:
            memo: dict = {}
            ns[f"m{gi}"] = memo.get
            ns[f"miss{gi}"] = _miss(holds, memo)
            if list(slots) == list(range(slots[0], slots[-1] + 1)):
                key = f"raw[{slots[0]}:{slots[-1] + 1}]"
            else:
                key = "(" + "".join(f"raw[{i}], " for i in slots) + ")"
            lines += [f"    k = {key}", f"    r = m{gi}(k)", "    if r is None:", f"        r = miss{gi}(raw, k)"]
        lines += ["    if not r:", "        return slow(raw)"]
    if direct:
        ns["direct"] = _all_of(direct, view)
        lines += ["    if not direct(raw):", "        return slow(raw)"]
    lines.append("    return -1")
    exec(compile("\n".join(lines) + "\n", "<invariants>", "exec"), ns)
    return ns["first_failing"]


def _all_of(parts: list[Part], view: Callable) -> Callable[[tuple], bool]:
    """Whether every part holds. Parts run here out of their source order, so a part may raise where
    an earlier conjunct would have guarded it (`y != 0 and x // y > 1`), or return no bool where the
    earlier conjunct would have answered (`flag and count`): that counts as "not known to hold", and
    the predicates are then evaluated in order, short-circuits and all, by `slow`."""
    on_view = [p.fn for p in parts if not p.on_raw]
    on_raw = [p.fn for p in parts if p.on_raw]
    if not on_view and len(on_raw) == 1:
        return on_raw[0]  # a compiled formula: total, it never raises, always a bool

    def holds(raw: tuple) -> bool:
        try:
            for fn in on_raw:
                if not fn(raw):
                    return False
            if on_view:
                v = view(raw)
                for fn in on_view:
                    r = fn(v)
                    if r is not True and _truth(r) is not True:
                        return False
            return True
        except Exception:
            return False

    return holds


def _miss(holds: Callable[[tuple], bool], memo: dict) -> Callable[[tuple, Any], bool]:
    def miss(raw: tuple, key: Any) -> bool:
        r = holds(raw)
        if len(memo) < MEMO_LIMIT:
            memo[key] = r
        return r

    return miss


def _conjuncts(fn: Callable, schema: StateSchema) -> list[tuple[Callable, tuple[str, ...] | None, str]] | None:
    """`return A and B and ...` as (function, variables read, why not known) per conjunct, or None."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_freevars or getattr(fn, "__defaults__", None):
        return None
    found = _definition(fn)
    if isinstance(found, str):
        return None
    node, argnames = found
    if isinstance(node, ast.Lambda):
        expr = node.body
    else:
        body = [b for b in node.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
        if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
            return None
        expr = body[0].value
    if not (isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.And)):
        return None
    if any(isinstance(n, ast.NamedExpr) for n in ast.walk(expr)):
        return None  # a name bound in one conjunct (:=) is read by the next: keep them together
    parts = []
    self_ = getattr(fn, "__self__", None)
    for i, conj in enumerate(expr.values):
        name = f"conjunct_{i}"
        src = f"def {name}({', '.join(argnames)}):\n    return {ast.unparse(conj)}\n"
        ns: dict = {}
        exec(compile(src, f"<{code.co_name} conjunct {i + 1}>", "exec"), fn.__globals__, ns)
        part = ns[name] if self_ is None else types.MethodType(ns[name], self_)
        parts.append((part, *_reads(conj, argnames[-1], schema)))
    return parts


__all__ = ["ActionConstraint", "NotABool", "Part", "Predicate", "StateFunction", "PropertyError", "compile_formula", "compile_predicate", "fuse", "variables_read"]
