"""The formula language: typed terms over a state schema, built with ordinary Python operators.

    @formula
    def Agreement(self, s):
        return forall(s.role("rm"), lambda a, b: ~((a.state == "committed") & (b.state == "aborted")))

`s` is the symbolic state: `s.x` a variable, `s.role("rm")` a role's nodes
(quantify over it and `a.state` is node a's field). Terms are typed by the
schema as they are built, so a comparison of an Enum with an Int, an unknown
field or a quantifier over an infinite type fails at once, with the formula's
text in the message. `&`, `|`, `~` are and, or, not (Python's `and`/`or`/`not`
cannot build a formula and raise); `implies`, `iff`, `ite`, `forall`, `exists`
are functions. Sets: `x.contains(e)`, `x.card()`, `|`, `&`, `-`, `<=` (subset).
Maps and sequences: `m[k]`, `q[i]`, `q.length()`; `m.set(k, v)` is the map
with `k` mapped to `v` (TLA+'s EXCEPT). Options: `o.is_some()`,
`o.is_none()`, `o.value()`. Tagged unions: `m.is_a("Prepared")`,
`m.as_a("Prepared").rm`. Records: `make(Prepared, rm=a)`, `r.f` (or
`r.field("f")` when `f` is also a method's name).

Partial operations are total, with one meaning shared by every evaluation
(the Python one in the search and the Z3 one): integer division rounds down
and `x // 0 == 0`, `x % 0 == x` (so `x == (x // y) * y + x % y` always); a map
looked up with a key outside its domain, a sequence indexed outside its
length, the value of an empty Option and the fields of the wrong variant of a
OneOf are the *default* of their type: the value whose encoding is all zeros
(False, an Int's lower bound, an Enum's first name, the first node, the empty
set or sequence, none). Sequences are indexed from 0.

An action written as a formula (`@action(formula=True)`) returns `when(guard,
var=value, ...)`, an `Update`: its guard and the new values of the variables
it changes (built and compiled by `actions`).

Standard library and `checker.model` only: the compilers live in `pycode`
(Python, for the search) and `smt` (Z3, loaded lazily).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from ..model import Bag, Bool, Enum, Int, Map, NodeId, OneOf, Option, Record, SchemaError, Seq, Set, StateSchema, Type
from ..model.schema import Queue, RecordValue


class FormulaError(Exception):
    """A formula is ill-typed or ill-formed; the message says where and why."""


class Integer:
    """The type of arithmetic results: an int of any size (never stored in a state)."""

    width = 1
    cardinality = None

    def __repr__(self) -> str:
        return "Integer"


INTEGER = Integer()
BOOL = Bool()
QUANTIFIER_LIMIT = 1 << 16  # values one quantifier may range over


def is_int(t: Any) -> bool:
    return isinstance(t, (Int, Integer))


def type_name(t: Any) -> str:
    return repr(t)


class Context:
    """What terms need to know about the state: its schema, and each role's nodes (for `a.field`)."""

    def __init__(self, schema: StateSchema):
        self.schema = schema
        self.roles: dict[str, tuple[NodeId, Record, str]] = {}  # role -> (id type, node record, first var)
        for role, names in schema.groups.items():
            types = [schema.variables[n] for n in names]
            if names and all(isinstance(t, Record) and t == types[0] for t in types):
                firsts = [schema.offsets[n] for n in names]
                w = types[0].width
                if all(b - a == w for a, b in zip(firsts, firsts[1:])):
                    self.roles[role] = (NodeId(role, len(names)), types[0], names[0])


class Term:
    """A typed expression over one state. Build with operators; never evaluated by Python directly."""

    __slots__ = ("op", "args", "type", "ctx")

    def __init__(self, op: str, args: tuple, type: Any, ctx: Context | None = None):
        self.op, self.args, self.type, self.ctx = op, args, type, ctx

    __hash__ = object.__hash__

    # -- Python truth: refused -----------------------------------------------------------------------
    def __bool__(self) -> bool:
        raise FormulaError(f"`{self}` is a formula, not a Python truth value: combine formulas with &, |, ~, "
                           "implies() and ite(), not with and/or/not/if")

    def __iter__(self):
        raise FormulaError(f"`{self}` cannot be iterated in Python: quantify over it with forall()/exists()")

    def __len__(self) -> int:
        raise FormulaError(f"len(`{self}`) cannot be a formula: use .card() for sets, .length() for sequences")

    def __contains__(self, item: Any) -> bool:
        raise FormulaError(f"`... in {self}` cannot be a formula: use {self}.contains(...)")

    # -- structure ------------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Term:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.field(name)

    def field(self, name: str) -> Term:
        """A record's field, or (for a node id quantified over `s.role(...)`) the node's field."""
        t = self.type
        if isinstance(t, Record):
            if name not in t.fields:
                raise FormulaError(f"`{self}` is a {t.name} record, which has no field {name!r} "
                                   f"(fields: {', '.join(t.fields) or 'none'})")
            return Term("field", (self, name), t.fields[name], self.ctx)
        if isinstance(t, NodeId):
            ctx = self.ctx
            if ctx is None or t.role not in ctx.roles:
                raise FormulaError(f"`{self}.{name}`: {t.role} ids carry no node fields here; quantify over "
                                   f"s.role({t.role!r}) in a protocol to read its nodes' fields")
            rec = ctx.roles[t.role][1]
            node = Term("node", (t.role, self), rec, ctx)
            return node.field(name)
        raise FormulaError(f"`{self}.{name}`: {type_name(t)} has no fields")

    def __getitem__(self, key: Any) -> Term:
        t = self.type
        if isinstance(t, Map):
            k = coerce(key, t.key, f"the key of `{self}[...]`")
            if not _same_domain(k.type, t.key):
                raise FormulaError(f"`{self}[{k}]`: the map's keys are {type_name(t.key)}, not {type_name(k.type)}")
            return Term("get", (self, k), t.value, self.ctx or k.ctx)
        if isinstance(t, Seq) and not isinstance(t, Queue):
            i = coerce(key, INTEGER, f"the index of `{self}[...]`")
            if not is_int(i.type):
                raise FormulaError(f"`{self}[{i}]`: a sequence index must be an Int, not {type_name(i.type)}")
            return Term("index", (self, i), t.elem, self.ctx or i.ctx)
        raise FormulaError(f"`{self}[...]`: {type_name(t)} cannot be indexed (maps and sequences can)")

    # -- comparison -----------------------------------------------------------------------------------
    def __eq__(self, other: Any) -> Term:  # type: ignore[override]
        a, b = unify(self, other, "==")
        return Term("eq", (a, b), BOOL, a.ctx or b.ctx)

    def __ne__(self, other: Any) -> Term:  # type: ignore[override]
        return ~(self == other)

    def _order(self, other: Any, op: str, flip: bool) -> Term:
        a, b = unify(self, other, op)
        if isinstance(a.type, Set):
            if op not in ("<=", ">="):
                raise FormulaError(f"`{a} {op} {b}`: sets are ordered by inclusion only (<=, >=)")
            x, y = (b, a) if op == ">=" else (a, b)
            return Term("subset", (x, y), BOOL, a.ctx or b.ctx)
        if not is_int(a.type):
            raise FormulaError(f"`{a} {op} {b}`: {type_name(a.type)} values are not ordered (Ints are)")
        x, y = (b, a) if flip else (a, b)
        return Term("lt" if op in ("<", ">") else "le", (x, y), BOOL, a.ctx or b.ctx)

    def __lt__(self, other: Any) -> Term:
        return self._order(other, "<", False)

    def __le__(self, other: Any) -> Term:
        return self._order(other, "<=", False)

    def __gt__(self, other: Any) -> Term:
        return self._order(other, ">", True)

    def __ge__(self, other: Any) -> Term:
        return self._order(other, ">=", True)

    # -- arithmetic -----------------------------------------------------------------------------------
    def _arith(self, other: Any, op: str, reverse: bool = False) -> Term:
        b = coerce(other, INTEGER, f"`{self} {op} ...`")
        x, y = (b, self) if reverse else (self, b)
        for t in (x, y):
            if not is_int(t.type):
                raise FormulaError(f"`{x} {op} {y}`: arithmetic needs Ints, and `{t}` is {type_name(t.type)}")
        name = {"+": "add", "-": "sub", "*": "mul", "//": "div", "%": "mod"}[op]
        return Term(name, (x, y), INTEGER, x.ctx or y.ctx)

    def __add__(self, o: Any) -> Term:
        return self._arith(o, "+")

    def __radd__(self, o: Any) -> Term:
        return self._arith(o, "+", True)

    def __sub__(self, o: Any) -> Term:
        if isinstance(self.type, Set):
            return self._setop(o, "diff", "-")
        return self._arith(o, "-")

    def __rsub__(self, o: Any) -> Term:
        return self._arith(o, "-", True)

    def __mul__(self, o: Any) -> Term:
        return self._arith(o, "*")

    def __rmul__(self, o: Any) -> Term:
        return self._arith(o, "*", True)

    def __floordiv__(self, o: Any) -> Term:
        return self._arith(o, "//")

    def __rfloordiv__(self, o: Any) -> Term:
        return self._arith(o, "//", True)

    def __mod__(self, o: Any) -> Term:
        return self._arith(o, "%")

    def __rmod__(self, o: Any) -> Term:
        return self._arith(o, "%", True)

    def __truediv__(self, o: Any) -> Term:
        raise FormulaError(f"`{self} / ...`: use // (integer division, rounding down)")

    def __neg__(self) -> Term:
        return self._arith(0, "-", True)

    # -- boolean connectives, and set algebra on the same operators -------------------------------
    def _bool(self, what: str) -> Term:
        if not isinstance(self.type, Bool):
            raise FormulaError(f"`{self}` is {type_name(self.type)}, but {what} needs a formula (Bool)")
        return self

    def __and__(self, o: Any) -> Term:
        if isinstance(self.type, Set):
            return self._setop(o, "inter", "&")
        return conj(self, o)

    def __rand__(self, o: Any) -> Term:
        return conj(o, self)

    def __or__(self, o: Any) -> Term:
        if isinstance(self.type, Set):
            return self._setop(o, "union", "|")
        return disj(self, o)

    def __ror__(self, o: Any) -> Term:
        return disj(o, self)

    def __invert__(self) -> Term:
        self._bool("~")
        if self.op == "not":
            return self.args[0]
        return Term("not", (self,), BOOL, self.ctx)

    def __xor__(self, o: Any) -> Term:
        return ~iff(self, o)

    # -- collections ----------------------------------------------------------------------------------
    def _setop(self, other: Any, name: str, sym: str) -> Term:
        a, b = unify(self, other, sym)
        return Term(name, (a, b), a.type, a.ctx or b.ctx)

    def contains(self, elem: Any) -> Term:
        """`elem` is a member of this set (or occurs in this bag)."""
        t = self.type
        if isinstance(t, Bag):
            return self.count(elem) > 0
        if not isinstance(t, Set):
            raise FormulaError(f"`{self}.contains(...)`: {type_name(t)} is not a set")
        e = self._element(elem, t.elem, "contains")
        return Term("member", (e, self), BOOL, self.ctx or e.ctx)

    def _element(self, elem: Any, want: Any, what: str) -> Term:
        """An element for this set or bag: of its element type (any Int for a set of Ints)."""
        e = _inject(coerce(elem, want, f"the element of `{self}.{what}(...)`"), want, f"`{self}.{what}(...)`")
        if not _same_domain(e.type, want):
            raise FormulaError(f"`{self}.{what}({e})`: the elements are {type_name(want)}, not {type_name(e.type)}")
        return e

    def card(self) -> Term:
        """The number of members of a set (of elements, counting copies, of a bag)."""
        if not isinstance(self.type, (Set, Bag)):
            raise FormulaError(f"`{self}.card()`: {type_name(self.type)} is not a set")
        return Term("card", (self,), INTEGER, self.ctx)

    def count(self, elem: Any) -> Term:
        """How many copies of `elem` a bag holds."""
        t = self.type
        if not isinstance(t, Bag):
            raise FormulaError(f"`{self}.count(...)`: {type_name(t)} is not a bag")
        e = self._element(elem, t.elem, "count")
        return Term("count", (e, self), INTEGER, self.ctx or e.ctx)

    def set(self, key: Any, value: Any) -> Term:
        """This map with `key` mapped to `value`, every other key as it was: TLA+'s
        `[m EXCEPT ![key] = value]` (the map unchanged when `key` lies outside its keys)."""
        t = self.type
        if not isinstance(t, Map):
            raise FormulaError(f"`{self}.set(...)`: {type_name(t)} is not a map")
        k = coerce(key, t.key, f"the key of `{self}.set(...)`")
        if not _same_domain(k.type, t.key):
            raise FormulaError(f"`{self}.set({k}, ...)`: the map's keys are {type_name(t.key)}, not {type_name(k.type)}")
        v = assignable(value, t.value, f"the value of `{self}.set({k}, ...)`")
        return Term("store", (self, k, v), t, self.ctx or k.ctx or v.ctx)

    def length(self) -> Term:
        if not isinstance(self.type, Seq) or isinstance(self.type, Queue):
            raise FormulaError(f"`{self}.length()`: {type_name(self.type)} is not a sequence")
        return Term("length", (self,), INTEGER, self.ctx)

    def is_some(self) -> Term:
        if not isinstance(self.type, Option):
            raise FormulaError(f"`{self}.is_some()`: {type_name(self.type)} is not an Option")
        return Term("is_some", (self,), BOOL, self.ctx)

    def is_none(self) -> Term:
        return ~self.is_some()

    def value(self) -> Term:
        """The Option's value (the default of its type when none)."""
        if not isinstance(self.type, Option):
            raise FormulaError(f"`{self}.value()`: {type_name(self.type)} is not an Option")
        return Term("opt_value", (self,), self.type.inner, self.ctx)

    def is_a(self, variant: str | Record) -> Term:
        """This tagged-union value is of `variant` (a Record of the OneOf, or its name)."""
        k = self._variant(variant)
        return Term("is_a", (self, k), BOOL, self.ctx)

    def as_a(self, variant: str | Record) -> Term:
        """This value as `variant`'s record (its fields are defaults when it is another variant)."""
        k = self._variant(variant)
        return Term("as_a", (self, k), self.type.variants[k], self.ctx)

    def _variant(self, variant: str | Record) -> int:
        t = self.type
        if not isinstance(t, OneOf):
            raise FormulaError(f"`{self}`: {type_name(t)} is not a OneOf, so it has no variants")
        name = variant.name if isinstance(variant, Record) else variant
        if name not in t._by_name:
            raise FormulaError(f"`{self}`: no variant {name!r} (variants: {', '.join(t._by_name)})")
        return t._by_name[name]

    def __repr__(self) -> str:
        return show(self)

    __str__ = __repr__


# -- building blocks -----------------------------------------------------------------------------------


def const(value: Any, t: Any) -> Term:
    """A constant of type `t`, checked by the schema (a str for an Enum, a set for a Set, ...)."""
    if isinstance(t, Integer):
        if type(value) is not int:
            raise FormulaError(f"{value!r} is not an int")
        return Term("int", (value,), INTEGER)
    try:
        v = t.validate(value)
    except SchemaError as e:
        raise FormulaError(f"{value!r} is not a {type_name(t)}: {e}") from None
    return Term("const", (tuple(t.encode(v)), v), t)


def coerce(x: Any, want: Any, where: str) -> Term:
    """`x` as a term: terms are returned as they are; Python values become constants of type `want`."""
    if isinstance(x, Term):
        return x
    if isinstance(x, Domain):
        raise FormulaError(f"{where}: {x} is a domain to quantify over, not a value")
    if isinstance(x, (set, frozenset)) and any(isinstance(e, Term) for e in x):
        if not isinstance(want, Set):
            raise FormulaError(f"{where}: a set is not a {type_name(want)}")
        elems = tuple(_inject(coerce(e, want.elem, where), want.elem, where) for e in x)
        for e in elems:
            if not _same_domain(e.type, want.elem):
                raise FormulaError(f"{where}: {e} is {type_name(e.type)}, not {type_name(want.elem)}")
        return Term("setlit", elems, want, next((e.ctx for e in elems if e.ctx), None))
    if isinstance(x, bool):
        want = want if isinstance(want, Bool) else BOOL
        return const(x, want)
    if type(x) is int and isinstance(want, (Integer, Int)):
        return Term("int", (x,), INTEGER)
    if want is None:
        raise FormulaError(f"{where}: {x!r} has no type here; compare it with a term of the state")
    if isinstance(want, OneOf) and isinstance(x, RecordValue):
        return const(x, want)
    return const(x, want)


def assignable(x: Any, want: Any, where: str) -> Term:
    """`x` as a value to store in a slot of type `want` (an action's update, a map's new value): a constant
    is checked now; an Int of another range or an arithmetic result is *fitted* to `want` (op "fit"), and
    whether it lies in range is decided when the step is taken (see `logic.actions`)."""
    if type(x) is int and isinstance(want, Int):
        return const(x, want)
    e = _inject(coerce(x, want, where), want, where)
    if isinstance(want, Int) and is_int(e.type):
        return e if e.type == want else Term("fit", (e,), want, e.ctx)
    if e.type != want:
        raise FormulaError(f"{where}: `{e}` is {type_name(e.type)}, not {type_name(want)}")
    return e


def _inject(e: Term, want: Any, where: str) -> Term:
    """A record term where a OneOf containing its type is wanted: tag it."""
    if isinstance(want, OneOf) and isinstance(e.type, Record) and not isinstance(e.type, OneOf):
        for k, v in enumerate(want.variants):
            if v == e.type:
                return Term("inject", (e, k), want, e.ctx)
        raise FormulaError(f"{where}: {e.type.name} is not a variant of {type_name(want)}")
    return e


def _same_domain(a: Any, b: Any) -> bool:
    if is_int(a) and is_int(b):
        return True
    return a == b


def unify(a: Any, b: Any, op: str) -> tuple[Term, Term]:
    """Two operands of a binary operator, constants typed by the other side; same types required."""
    if not isinstance(a, Term):
        b_t = coerce(b, None, f"`... {op} ...`") if not isinstance(b, Term) else b
        a = coerce(a, b_t.type, f"`{a!r} {op} {b_t}`")
        b = b_t
    elif not isinstance(b, Term):
        b = coerce(b, a.type, f"`{a} {op} {b!r}`")
    a = _inject(a, b.type, f"`{a} {op} {b}`")
    b = _inject(b, a.type, f"`{a} {op} {b}`")
    if not _same_domain(a.type, b.type):
        raise FormulaError(f"`{a} {op} {b}`: cannot compare {type_name(a.type)} with {type_name(b.type)}")
    return a, b


def _as_bool(x: Any, where: str) -> Term:
    t = coerce(x, BOOL, where)
    return t._bool(where)


def conj(*xs: Any) -> Term:
    """Every formula holds (`a & b & ...`)."""
    parts: list[Term] = []
    for x in xs:
        t = _as_bool(x, "&")
        parts.extend(t.args if t.op == "and" else (t,))
    ctx = next((p.ctx for p in parts if p.ctx), None)
    return parts[0] if len(parts) == 1 else Term("and", tuple(parts), BOOL, ctx)


def disj(*xs: Any) -> Term:
    """Some formula holds (`a | b | ...`)."""
    parts: list[Term] = []
    for x in xs:
        t = _as_bool(x, "|")
        parts.extend(t.args if t.op == "or" else (t,))
    ctx = next((p.ctx for p in parts if p.ctx), None)
    return parts[0] if len(parts) == 1 else Term("or", tuple(parts), BOOL, ctx)


def implies(a: Any, b: Any) -> Term:
    """If `a` then `b`."""
    x, y = _as_bool(a, "implies()"), _as_bool(b, "implies()")
    return Term("implies", (x, y), BOOL, x.ctx or y.ctx)


def iff(a: Any, b: Any) -> Term:
    """`a` exactly when `b`."""
    x, y = _as_bool(a, "iff()"), _as_bool(b, "iff()")
    return Term("iff", (x, y), BOOL, x.ctx or y.ctx)


def ite(cond: Any, then: Any, other: Any) -> Term:
    """`then` if `cond` holds, else `other` (both of one type)."""
    c = _as_bool(cond, "ite()")
    a, b = unify(then, other, "ite")
    t = b.type if isinstance(a.type, Integer) else a.type
    if is_int(a.type) and is_int(b.type) and a.type != b.type:
        t = INTEGER
    return Term("ite", (c, a, b), t, c.ctx or a.ctx or b.ctx)


def make(record: Record, **fields: Any) -> Term:
    """A record value built from terms: `make(Prepared, rm=a)`."""
    if not isinstance(record, Record):
        raise FormulaError(f"make() takes a Record type, got {record!r}")
    unknown = [f for f in fields if f not in record.fields]
    if unknown:
        raise FormulaError(f"make({record.name}): no field {unknown[0]!r} (fields: {', '.join(record.fields)})")
    args = []
    for f, ft in record.fields.items():
        if f not in fields:
            raise FormulaError(f"make({record.name}): field {f!r} has no value")
        given = fields[f]
        if type(given) is int and isinstance(ft, Int):
            given = const(given, ft)  # a plain int is a constant of the field's type (checked against its range)
        v = _inject(coerce(given, ft, f"make({record.name}, {f}=...)"), ft, f"make({record.name})")
        if v.type != ft:
            raise FormulaError(f"make({record.name}, {f}={v}): the field is {type_name(ft)}, the value "
                               f"{type_name(v.type)}" + (" (an arithmetic result may fall outside it)"
                                                         if is_int(v.type) and is_int(ft) else ""))
        args.append(v)
    return Term("record", (record, tuple(args)), record, next((a.ctx for a in args if a.ctx), None))


# -- quantifiers ---------------------------------------------------------------------------------------


class Domain:
    """What a quantifier ranges over: every value of a finite type, or the members of a set term."""

    def __init__(self, elem: Any, members: Term | None = None, ctx: Context | None = None, label: str = ""):
        self.elem, self.members, self.ctx, self.label = elem, members, ctx, label

    def __repr__(self) -> str:
        if self.label or self.members is not None:
            return self.label or show(self.members)
        if isinstance(self.elem, NodeId):
            return f"ids {self.elem.role}"
        if isinstance(self.elem, Int):
            return f"range({self.elem.lo}, {self.elem.hi + 1})"
        return type_name(self.elem)


def domain(d: Any) -> Domain:
    if isinstance(d, Domain):
        return d
    if isinstance(d, Term):
        if not isinstance(d.type, Set):
            raise FormulaError(f"cannot quantify over `{d}`: it is {type_name(d.type)}, not a set")
        return Domain(d.type.elem, d, d.ctx)
    if isinstance(d, range):
        if d.step != 1 or len(d) == 0:
            raise FormulaError(f"cannot quantify over {d!r}: use a non-empty range with step 1")
        return Domain(Int(d.start, d.stop - 1), label=f"range({d.start}, {d.stop})")
    if isinstance(d, Type):
        if d.cardinality is None:
            raise FormulaError(f"cannot quantify over {type_name(d)}: its domain is not finite and small")
        if d.cardinality > QUANTIFIER_LIMIT:
            raise FormulaError(f"cannot quantify over {type_name(d)}: {d.cardinality} values (at most "
                               f"{QUANTIFIER_LIMIT})")
        return Domain(d)
    raise FormulaError(f"cannot quantify over {d!r}: give a finite schema type, a range, a set term or s.role(...)")


def _quantifier(op: str, d: Any, body: Callable[..., Any]) -> Term:
    dom = domain(d)
    if not callable(body):
        raise FormulaError(f"{op}({dom}, ...) takes a function of the bound variable(s)")
    try:
        names = [p.name for p in inspect.signature(body).parameters.values()]
    except (TypeError, ValueError):
        names = ["x"]
    if not names:
        raise FormulaError(f"{op}({dom}, ...): the function takes no bound variable")
    return _nest(op, dom, body, [], names)


def _nest(op: str, dom: Domain, body: Callable, bound: list, names: list[str]) -> Term:
    name = names[0]
    var = Term("bound", (object(), name), dom.elem, dom.ctx)
    if len(names) > 1:
        inner = _nest(op, dom, body, [*bound, var], names[1:])
    else:
        inner = _as_bool(body(*bound, var), f"the body of {op}({dom}, ...)")
    ctx = dom.ctx or inner.ctx
    return Term(op, (var, dom, inner), BOOL, ctx)


def forall(d: Any, body: Callable[..., Any]) -> Term:
    """`body(x)` holds for every `x` in `d` (a finite type, `range(lo, hi)`, a set term, or
    `s.role("rm")`); a function of k arguments quantifies k variables over `d`."""
    return _quantifier("forall", d, body)


def exists(d: Any, body: Callable[..., Any]) -> Term:
    """`body(x)` holds for some `x` in `d` (as for `forall`)."""
    return _quantifier("exists", d, body)


# -- the symbolic state ----------------------------------------------------------------------------------


class State:
    """The symbolic state a formula is written over: `s.x`, `s["x"]`, `s.role("rm")`."""

    __slots__ = ("_ctx",)

    def __init__(self, schema: StateSchema):
        object.__setattr__(self, "_ctx", Context(schema))

    def __getattr__(self, name: str) -> Term:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Term:
        schema = self._ctx.schema
        if name not in schema.variables:
            raise FormulaError(f"the state has no variable {name!r} (variables: {', '.join(schema.variables)})")
        return Term("var", (name,), schema.variables[name], self._ctx)

    def role(self, role: str) -> Domain:
        """The nodes of `role`, to quantify over: `forall(s.role("rm"), lambda a: a.state == ...)`."""
        ctx = self._ctx
        if role not in ctx.roles:
            known = ", ".join(ctx.roles) or "none"
            raise FormulaError(f"s.role({role!r}): no role {role!r} whose nodes have fields (roles: {known})")
        return Domain(ctx.roles[role][0], ctx=ctx, label=f"role {role}")

    def in_flight(self, msg: Any, src: str, dst: str) -> Term:
        """How many copies of message `msg` (a Message value) from node `src` to node `dst` the network
        holds (0 or 1 for a set network): `s.in_flight(Prepared(), "rm1", "tm1") == 0`."""
        schema = self._ctx.schema
        net = schema.variables.get("network")
        if net is None:
            raise FormulaError("s.in_flight(...): the state has no unordered network (FIFO channels are queues)")
        env = net.elem
        try:
            e = const(env.validate({"msg": msg, "src": src, "dst": dst, **({"age": 0} if "age" in env.fields else {})},
                                   "envelope"), env)
        except (SchemaError, FormulaError, TypeError) as err:
            raise FormulaError(f"s.in_flight({msg!r}, {src!r}, {dst!r}): {err}") from None
        n = self["network"]
        one = Int(0, 1)
        return n.count(e) if isinstance(net, Bag) else ite(n.contains(e), const(1, one), const(0, one))

    def __setattr__(self, name: str, value: Any) -> None:
        raise FormulaError("a formula reads the state; it cannot assign to it")


def build(fn: Callable[[State], Any], schema: StateSchema) -> Term:
    """Call `fn` on the symbolic state and check that it returned a formula."""
    out = fn(State(schema))
    if isinstance(out, bool):
        return const(out, BOOL)
    if not isinstance(out, Term):
        raise FormulaError(f"a @formula must return a formula built from its state argument, got {out!r}")
    return out._bool("a @formula's result")


# -- actions: guarded updates -------------------------------------------------------------------------------


class Update:
    """What a formula action (`@action(formula=True)`) returns: a guard, and the variables it changes with
    their new values, all over the state before the step; every variable not named is unchanged (TLA+'s
    UNCHANGED). Built by `when`; the values are typed against the variables by `logic.actions`."""

    __slots__ = ("guard", "changes")

    def __init__(self, guard: Term, changes: dict[str, Any]):
        self.guard, self.changes = guard, changes

    def __bool__(self) -> bool:
        raise FormulaError("when(...) is a step, not a truth value: return it (or a list of them) from the action")

    def __repr__(self) -> str:
        changes = ", ".join(f"{k}={v!r}" for k, v in self.changes.items())
        return f"when({self.guard}{', ' if changes else ''}{changes})"


def when(guard: Any, /, **changes: Any) -> Update:
    """A guarded step of a formula action: enabled where `guard` holds; each keyword names a variable and
    its new value, a formula over the state before the step (`msgs=s.msgs | {make(Commit)}`); a map
    variable also takes a dict of point updates (`rmState={rm: "prepared"}`, TLA+'s EXCEPT, the same as
    `rmState=s.rmState.set(rm, "prepared")`). Variables not named keep their values.

        @action(over="RM", formula=True)
        def RMPrepare(self, s, rm):
            return when(s.rmState[rm] == "working",
                        rmState={rm: "prepared"}, msgs=s.msgs | {make(self.Prepared, rm=rm)})
    """
    return Update(_as_bool(guard, "the guard of when()"), dict(changes))


# -- text -------------------------------------------------------------------------------------------------

_PREC = {"iff": 1, "implies": 2, "or": 3, "and": 4, "not": 5, "cmp": 6, "add": 7, "mul": 8, "neg": 9, "atom": 10}


def show(t: Term) -> str:
    """Readable text of a term, in Python-like syntax: `forall a in role rm: not (a.state == "x")`."""
    return _show(t, {})[0]


def _show(t: Term, names: dict) -> tuple[str, int]:
    op, a = t.op, t.args
    if op == "var":
        return a[0], 10
    if op == "bound":
        return names.get(id(a[0]), a[1]), 10
    if op == "const":
        return _fmt_const(t.type, a[1]), 10
    if op == "int":
        return str(a[0]), 10 if a[0] >= 0 else 9
    if op == "field":
        return f"{_p(a[0], names, 10)}.{a[1]}", 10
    if op == "node":
        return _p(a[1], names, 10), 10
    if op in ("get", "index"):
        return f"{_p(a[0], names, 10)}[{_show(a[1], names)[0]}]", 10
    if op in ("eq", "lt", "le", "subset", "member"):
        sym = {"eq": "==", "lt": "<", "le": "<=", "subset": "<="}.get(op)
        if op == "member":
            return f"{_p(a[1], names, 10)}.contains({_show(a[0], names)[0]})", 10
        return f"{_p(a[0], names, 7)} {sym} {_p(a[1], names, 7)}", 6
    if op in ("add", "sub"):
        return f"{_p(a[0], names, 7)} {'+' if op == 'add' else '-'} {_p(a[1], names, 8)}", 7
    if op in ("mul", "div", "mod"):
        sym = {"mul": "*", "div": "//", "mod": "%"}[op]
        return f"{_p(a[0], names, 8)} {sym} {_p(a[1], names, 9)}", 8
    if op in ("union", "inter", "diff"):
        sym = {"union": "|", "inter": "&", "diff": "-"}[op]
        return f"({_show(a[0], names)[0]} {sym} {_show(a[1], names)[0]})", 10
    if op == "and":
        return " and ".join(_p(x, names, 5) for x in a), 4
    if op == "or":
        return " or ".join(_p(x, names, 4) for x in a), 3
    if op == "not":
        inner = a[0]
        if inner.op == "eq":
            return f"{_p(inner.args[0], names, 7)} != {_p(inner.args[1], names, 7)}", 6
        return f"not {_p(inner, names, 5)}", 5
    if op == "implies":
        return f"{_p(a[0], names, 3)} implies {_p(a[1], names, 2)}", 2
    if op == "iff":
        return f"{_p(a[0], names, 2)} iff {_p(a[1], names, 2)}", 1
    if op == "ite":
        return f"ite({', '.join(_show(x, names)[0] for x in a)})", 10
    if op in ("forall", "exists"):
        var, dom, body = a
        name = _fresh(var.args[1], names)
        inner = dict(names)
        inner[id(var.args[0])] = name
        where = f"in {_show(dom.members, names)[0]}" if dom.members is not None else f"in {dom}"
        return f"{op} {name} {where}: {_show(body, inner)[0]}", 0
    if op == "card":
        return f"{_p(a[0], names, 10)}.card()", 10
    if op == "count":
        return f"{_p(a[1], names, 10)}.count({_show(a[0], names)[0]})", 10
    if op == "length":
        return f"{_p(a[0], names, 10)}.length()", 10
    if op == "is_some":
        return f"{_p(a[0], names, 10)}.is_some()", 10
    if op == "opt_value":
        return f"{_p(a[0], names, 10)}.value()", 10
    if op in ("is_a", "as_a"):
        return f"{_p(a[0], names, 10)}.{op}({a[0].type.variants[a[1]].name!r})", 10
    if op == "record":
        rec, vals = a
        return f"{rec.name}(" + ", ".join(f"{f}={_show(v, names)[0]}" for f, v in zip(rec.fields, vals)) + ")", 10
    if op == "inject":
        return _show(a[0], names)
    if op == "setlit":
        return "{" + ", ".join(_show(x, names)[0] for x in a) + "}", 10
    if op == "store":
        return f"{_p(a[0], names, 10)}.set({_show(a[1], names)[0]}, {_show(a[2], names)[0]})", 10
    if op == "fit":
        return _show(a[0], names)
    raise AssertionError(op)


def _p(t: Term, names: dict, prec: int) -> str:
    s, p = _show(t, names)
    return s if p >= prec else f"({s})"


def _fresh(name: str, names: dict) -> str:
    used = set(names.values())
    if name not in used:
        return name
    i = 2
    while f"{name}{i}" in used:
        i += 1
    return f"{name}{i}"


def _fmt_const(t: Any, v: Any) -> str:
    if isinstance(t, Bool):
        return "True" if v else "False"
    if isinstance(t, Enum):
        return repr(v)
    if isinstance(t, Type):
        return t.format(v)
    return repr(v)


def walk(t: Term) -> Iterable[Term]:
    """Every sub-term of `t` (quantifier domains' set terms included), parents first."""
    stack = [t]
    while stack:
        x = stack.pop()
        yield x
        for a in x.args:
            if isinstance(a, Term):
                stack.append(a)
            elif isinstance(a, Domain) and a.members is not None:
                stack.append(a.members)
            elif isinstance(a, tuple):
                stack.extend(e for e in a if isinstance(e, Term))


__all__ = ["BOOL", "INTEGER", "Domain", "FormulaError", "State", "Term", "Update", "assignable", "build", "conj", "const",
           "disj", "exists", "forall", "iff", "implies", "ite", "make", "show", "walk", "when"]
