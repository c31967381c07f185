"""Low-level model actions written as formulas (`@action(formula=True)`): built once on the symbolic state,
compiled to Python for the search and lowered to Z3 relations for `induct` and `bmc` (`model_kinds`).

The method `(self, s, *params)` returns `when(guard, var=value, ...)` or a list of them (a choice); every
parameter is bound as a quantifier's variable is, and each instance (one value per `over` domain) is
lowered with that value as a constant, so a map lookup by the parameter becomes a direct slot read. The
search gets one generated function per action, every instance unrolled, guards tested first, a guard
conjunct common to every instance tested once; a step that changes nothing returns the state itself (TLC
counts such self-loops). An integer stored in an Int variable outside its range is an error in the search
(the step would leave the schema) and a disabled step for Z3.

Imports model and the formula language; Z3 only inside `model_kinds`' relations. Importing this module
installs the compiler into `checker.model.lowlevel` (the model layer only marks the method).
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..model import Map, ModelError, StateSchema, Type, lowlevel
from ..model.lowlevel import BoundAction, Model
from .formula import FormulaError, State, Term, Update, assignable, walk
from .lower import Lowering, domain_rows
from .pycode import Code, PyAlgebra

NARROW = 24  # states of at most this many slots are rebuilt as one tuple display, wider ones by slicing


@dataclass(frozen=True)
class Branch:
    """One guarded update: enabled where `guard` holds; `changes` are the variables it sets, each with its new
    value over the state before the step; `fits` are the integers it stores in Int slots (op "fit"), each of
    which must lie in its slot's range, with the variable it is stored in."""

    guard: Term
    changes: tuple[tuple[str, Term], ...]
    fits: tuple[tuple[str, Term], ...]


@dataclass(frozen=True)
class ActionFormula:
    """A formula action, built: its parameters (bound variables, one per `over` domain) and its branches."""

    name: str
    params: tuple[Term, ...]
    domains: tuple[Type, ...]
    branches: tuple[Branch, ...]

    def instances(self) -> Iterator[tuple[tuple[int, ...], dict]]:
        """Each parameter instance, in code order: its codes, and the lowering environment binding every
        parameter to its value's slots."""
        for codes in itertools.product(*(range(d.cardinality) for d in self.domains)):  # type: ignore[arg-type]
            env = {id(p.args[0]): list(domain_rows(d)[c]) for p, d, c in zip(self.params, self.domains, codes)}
            yield codes, env

    def label(self, codes: tuple[int, ...]) -> str:
        """`RMPrepare(rm1)`: the instance as a trace names it."""
        if not codes:
            return self.name
        return f"{self.name}({', '.join(d.format(d.unrank(c)) for d, c in zip(self.domains, codes))})"


def build_action(model: Model, name: str, method: Callable, domains: tuple[Type, ...]) -> ActionFormula:
    """Call a formula action's method once on the symbolic state and its parameters; type its updates."""
    where = f"{model.name}.{getattr(method, '__name__', name)}"
    schema = model.schema
    names = [p.name for p in inspect.signature(method).parameters.values()][1:]
    params = tuple(Term("bound", (object(), n), d, None) for n, d in zip(names, domains))
    state = State(schema)
    try:
        out = method(state, *params)
        updates = [out] if isinstance(out, Update) else list(out) if isinstance(out, (list, tuple)) else None
        if updates is None or not all(isinstance(u, Update) for u in updates):
            bad = out if updates is None else next(u for u in updates if not isinstance(u, Update))
            raise FormulaError(f"a formula action returns when(guard, var=value, ...) or a list of them, got {bad!r}")
        branches = tuple(_branch(u, state, schema) for u in updates)
    except FormulaError as e:
        raise ModelError(f"{where}: {e}") from None
    except ModelError:
        raise
    except Exception as e:  # the builder's own Python failed (a typo in an attribute, say)
        raise ModelError(f"{where}: building the formula action raised {type(e).__name__}: {e}") from None
    return ActionFormula(name, params, domains, branches)


def _branch(u: Update, state: State, schema: StateSchema) -> Branch:
    changes, fits = [], []
    for var, value in u.changes.items():
        if var not in schema.variables:
            raise FormulaError(f"when(...) sets {var!r}, which is no variable of the state "
                               f"(variables: {', '.join(schema.variables)})")
        t = schema.variables[var]
        if isinstance(value, dict):
            if not isinstance(t, Map):
                raise FormulaError(f"when(..., {var}={{...}}): a dict of point updates needs a map, and {var} is {t!r}")
            term = state[var]
            for k, v in value.items():
                term = term.set(k, v)
        else:
            term = assignable(value, t, f"when(..., {var}=...)")
        changes.append((var, term))
        fits += [(var, x) for x in walk(term) if x.op == "fit"]
    return Branch(u.guard, tuple(changes), tuple(fits))


# -- Python, for the search ------------------------------------------------------------------------------------


def compile_action(model: Model, name: str, method: Callable, domains: tuple[Type, ...]) -> BoundAction:
    """A formula action as a BoundAction whose `fn(s)` gives every successor (what `Model._bind` gives for
    an action written in Python), with the built action kept as `formula`."""
    af = build_action(model, name, method, domains)
    fn, _ = python_successors(af, model.schema)
    return BoundAction(name, fn, domains, af)


def python_successors(af: ActionFormula, schema: StateSchema) -> tuple[Callable[..., list], str]:
    """The generated function `fn(raw, *codes)` and its source. `fn(raw)` gives the successors of every
    instance; `fn(raw, (c0,), ...)` those of the instances whose codes are listed (for labels)."""
    alg = _Algebra()
    low = Lowering(schema, alg)
    ns: dict[str, Any] = {"ModelError": ModelError}
    blocks: list[tuple[tuple[int, ...], list[str], list[str]]] = []  # (codes, guard conjuncts, body lines)
    for codes, env in af.instances():
        for br in af.branches:
            guard = _conjuncts(low, br.guard, env)
            if guard is False:
                continue
            body = []
            for var, fit in br.fits:
                x = low.val(fit.args[0], env)
                lo, hi = fit.type.lo, fit.type.hi
                if isinstance(x, int) and lo <= x <= hi:
                    continue
                msg = f"{af.label(codes)} sets {var} to an integer outside {fit.type!r}: "
                body += [f"x = {x}", f"if not {lo} <= x <= {hi}:", f"    raise ModelError({msg!r} + str(x))"]
            changed: dict[int, Any] = {}
            for var, term in br.changes:
                o = schema.offsets[var]
                for i, v in enumerate(low.slots(term, env)):
                    if not (isinstance(v, str) and v == f"raw[{o + i}]"):
                        changed[o + i] = v
            if changed and _surely_changes(guard, changed):
                body.append(f"out.append({_tuple(changed, schema.width)})")
            elif changed:
                body += [f"t = {_tuple(changed, schema.width)}", "out.append(raw if t == raw else t)"]
            else:
                body.append("out.append(raw)")
            blocks.append((codes, guard, body))
    ns.update(alg.ns)
    common = [c for c in blocks[0][1] if all(c in b[1] for b in blocks)] if blocks else []
    arity = len(af.domains)
    ps = [f"p{i}" for i in range(arity)]
    lines = [f"def action(raw{''.join(f', {p}=None' for p in ps)}):"]
    if arity:
        lines += [f"    if {ps[0]} is not None:", f"        return some(raw, {', '.join(ps)})"]
    lines.append("    out = []")
    if common:
        lines += [f"    if not ({' and '.join(common)}):", "        return out"]
    for _, guard, body in blocks:
        lines += _block([c for c in guard if c not in common], body, "    ")
    lines.append("    return out")
    if arity:  # the instances listed, one at a time: slow, for labels
        by_codes: dict[tuple[int, ...], list[str]] = {}
        for codes, guard, body in blocks:
            by_codes.setdefault(codes, []).extend(_block(guard, body, "    "))
        for j, block in enumerate(by_codes.values()):
            lines += [f"def i{j}(raw):", "    out = []", *block, "    return out"]
        lines.append("I = {" + ", ".join(f"{codes!r}: i{j}" for j, codes in enumerate(by_codes)) + "}")
        lines += [f"def some(raw, {', '.join(ps)}):", "    out = []"]
        indent = "    "
        for i, p in enumerate(ps):
            lines.append(f"{indent}for c{i} in {p}:")
            indent += "    "
        key = "(" + "".join(f"c{i}, " for i in range(arity)) + ")"
        lines += [f"{indent}f = I.get({key})", f"{indent}if f is not None:", f"{indent}    out += f(raw)",
                  "    return out"]
    src = "\n".join(lines) + "\n"
    exec(compile(src, f"<action {af.name}>", "exec"), ns)
    return ns["action"], src


class _Algebra(PyAlgebra):
    """Python source for actions: a set's bit at a constant rank is tested with one `&` (an int, not a bool:
    every use of a Boolean in generated code is a truth test, an `and`/`or`/`not`, or `1 if c else 0`)."""

    def bit(self, mask, rank, n):
        if isinstance(rank, int) and not isinstance(mask, int):
            return Code(f"({mask} & {1 << rank})") if rank >= 0 else False
        return super().bit(mask, rank, n)


_EQ = re.compile(r"\(raw\[(\d+)\] == (-?\d+)\)")


def _surely_changes(guard: list[str], changed: dict[int, Any]) -> bool:
    """Whether the guard pins a slot (`raw[i] == k`) that the step sets to another constant: then the
    successor differs from the state, and no comparison is needed."""
    for c in guard:
        m = _EQ.fullmatch(c)
        if m is not None:
            v = changed.get(int(m.group(1)))
            if isinstance(v, int) and v != int(m.group(2)):
                return True
    return False


def _conjuncts(low: Lowering, guard: Term, env: dict) -> list[str] | bool:
    """The guard's top-level conjuncts as Python code (constants folded away); False when one is false."""
    out = []
    for part in guard.args if guard.op == "and" else (guard,):
        c = low.formula(part, env)
        if c is False:
            return False
        if c is not True:
            out.append(str(c))
    return out


def _block(guard: list[str], body: list[str], indent: str) -> list[str]:
    if not guard:
        return [indent + line for line in body]
    return [f"{indent}if {' and '.join(guard)}:", *(indent + "    " + line for line in body)]


def _tuple(changed: dict[int, Any], width: int) -> str:
    """Python for `raw` with the slots in `changed` replaced: one tuple display when the state is narrow (twice
    as fast as slicing at 10 slots), else slices of raw around tuples of new values."""
    if width <= NARROW:
        return "(" + "".join(f"{changed.get(i, f'raw[{i}]')}, " for i in range(width)) + ")"
    pieces, start, run = [], 0, []
    for i in sorted(changed):
        if run and i != run[-1][0] + 1:
            pieces.append("(" + "".join(f"{v}, " for _, v in run) + ")")
            start = run[-1][0] + 1
            run = []
        if not run and i > start:
            pieces.append(f"raw[{start}:{i}]" if start else f"raw[:{i}]")
        run.append((i, changed[i]))
    pieces.append("(" + "".join(f"{v}, " for _, v in run) + ")")
    end = run[-1][0] + 1
    if end < width:
        pieces.append(f"raw[{end}:]")
    return " + ".join(pieces)


# -- Z3, for induct and bmc -------------------------------------------------------------------------------------


def relation(af: ActionFormula, schema: StateSchema) -> Callable[[Any, Any], Any]:
    """`relation(pre, post)`: the Z3 Boolean saying `post` follows from `pre` by some instance of `af`: the
    instance's guard over pre's slots, each updated slot of post equal to its new value over pre's slots (an
    integer outside its Int range disables the step), every other slot equal to pre's."""

    def rel(pre: Any, post: Any) -> Any:
        import z3

        from .smt import Z3Algebra

        A = Z3Algebra(pre.slots)
        low = Lowering(schema, A)
        alts = []
        for _, env in af.instances():
            for br in af.branches:
                parts = [low.formula(br.guard, env)]
                for _, fit in br.fits:
                    x = low.val(fit.args[0], env)
                    parts += [A.le(fit.type.lo, x), A.le(x, fit.type.hi)]
                new: dict[int, Any] = {}
                for var, term in br.changes:
                    o = schema.offsets[var]
                    for i, v in enumerate(low.slots(term, env)):
                        new[o + i] = v
                parts += [A.eq(post.slots[i], new.get(i, pre.slots[i])) for i in range(schema.width)]
                alts.append(A.and_(parts))
        out = A.or_(alts)
        return z3.BoolVal(out) if isinstance(out, bool) else out

    return rel


def model_kinds(system: Any, model: Model) -> list:
    """One `relation.Kind` per action of a low-level model whose actions are all formulas, in declaration
    order; `SymbolicUnsupported` naming the first action written as Python code."""
    from .relation import Kind, SymbolicUnsupported

    kinds = []
    for a in model.actions:
        if a.formula is None:
            raise SymbolicUnsupported(
                f"{model.name}: action {a.name} is Python code on tuples, not a formula: declare it "
                "@action(formula=True) returning when(guard, var=value, ...), or use enumeration "
                "(induct's explicit method)")
        kinds.append(Kind(a.name, relation(a.formula, model.schema)))
    return kinds


lowlevel.install_formula_compiler(compile_action)

__all__ = ["ActionFormula", "Branch", "build_action", "compile_action", "model_kinds", "python_successors",
           "relation"]
