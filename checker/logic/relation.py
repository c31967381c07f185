"""Steps as formulas: the transition relation of a transition system, one Z3 relation per kind of step,
between two symbolic states (`smt.SymbolicState`). Symbolic `induct` asks one query per kind; `bmc`
unrolls their disjunction. No global state is enumerated.

Where the kinds come from:
- a message-passing protocol (`semantics.nodes`): each handler's table, computed by running it on
  symbolic field values (`logic.handlers`), plus timers and the faults the spec allows;
- a low-level model whose actions are formulas (`@action(formula=True)`, `logic.actions`).

Anything else (an action written as Python code on tuples, FIFO channels, time) cannot be given to Z3:
`kinds` raises `SymbolicUnsupported`, whose message says what and why, and the caller falls back to
enumeration (induct) or says so (bmc). Imported only by the commands that need a solver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from ..semantics import TransitionSystem
from .formula import FormulaError
from .smt import Substitution, SymbolicState, Vec


class SymbolicUnsupported(FormulaError):
    """The system has a step Z3 cannot be given (the message says which and why)."""


Cell = Any  # a slot index (int), or (slot index, element rank) for an element of a wide set or bag (`smt.Vec`)


@dataclass(frozen=True)
class Atom:
    """One atomic transition: where `guard` holds (Z3 Booleans over the state before), the cells in `updates`
    take the given values (terms over the state before) and every other cell keeps its value. An atom with
    an `error` is a step the model's own code cannot take (a value outside its type, a bag count past its
    bound): the explicit search stops there with that error."""

    guard: tuple
    updates: dict
    error: str | None = None


@dataclass(frozen=True)
class Kind:
    """One kind of step as a relation between a state and its successor.

    `relation(pre, post)` is a Z3 Boolean over the two states' slot constants that holds exactly when
    `post` is a successor of `pre` by a step of this kind (frame conditions included: every slot the
    step leaves alone is equal in both). `name` says which steps it stands for ("Prepared rm1→tm1",
    "RMPrepare", "timer timeout@tm1", "crash rm2"), for progress lines and for the CTI's report.
    `atoms(pre)`, where given, lists the kind's atomic transitions (`Atom`): `relation` is then their
    disjunction, and `step` encodes many kinds compactly (each cell's next value once, not a frame per kind)."""

    name: str
    relation: Callable[[SymbolicState, SymbolicState], Any]
    atoms: Callable[[SymbolicState], list[Atom]] | None = None


def state(system: TransitionSystem, prefix: str = "") -> SymbolicState:
    """A symbolic state of `system` (typed envelopes: a protocol's network holds only the envelopes its
    handlers can send)."""
    return SymbolicState(system.schema, prefix, restrict=getattr(system, "symbolic_restrict", None))


def cells(st: SymbolicState) -> list[tuple[Cell, Any]]:
    """Every cell of `st` that is a Z3 constant (an excluded element of a wide set is none)."""
    out: list[tuple[Cell, Any]] = []
    for i, v in enumerate(st.slots):
        if isinstance(v, Vec):
            out += [((i, r), e) for r, e in enumerate(v.elems) if not isinstance(e, (bool, int))]
        else:
            out.append((i, v))
    return out


def cell(st: SymbolicState, c: Cell) -> Any:
    return st.slots[c[0]].elems[c[1]] if isinstance(c, tuple) else st.slots[c]


def _eq(a: Any, b: Any) -> Any:
    if isinstance(a, bool) or isinstance(b, bool) or z3.is_bool(a):
        return a == b if not (isinstance(a, bool) and isinstance(b, bool)) else z3.BoolVal(a == b)
    return a == b


def atom_relation(atom: Atom, pre: SymbolicState, post: SymbolicState) -> Any:
    """`atom` as a relation: its guard, its updates, every other cell unchanged."""
    parts = list(atom.guard)
    post_cells = _cells_of(post)
    for c, pc in post_cells.items():
        parts.append(_eq(pc, atom.updates[c] if c in atom.updates else cell(pre, c)))
    for c, v in atom.updates.items():  # an update of an excluded element (never happens with derived envelopes)
        if c not in post_cells:
            parts.append(_eq(v, cell(post, c)))
    return z3.And(parts)


def atoms_relation(atoms: Sequence[Atom], pre: SymbolicState, post: SymbolicState, tag: str = "") -> Any:
    """The disjunction of `atoms` as relations: a selector picks the atom, whose guard holds; each cell some
    atom updates takes its value through one chain of ifs over the atoms that update it; every other cell
    is equal in both states. Its size is that of the atoms' updates, not atoms times cells."""
    if not atoms:
        return z3.BoolVal(False)
    sel = z3.Int(f"step{tag}")
    parts = [sel >= 0, sel < len(atoms),
             z3.Or([z3.And(sel == j, *a.guard) if a.guard else sel == j for j, a in enumerate(atoms)])]
    by_cell: dict = {}
    for j, a in enumerate(atoms):
        for c, v in a.updates.items():
            by_cell.setdefault(c, []).append((j, v))
    post_cells = _cells_of(post)
    for c, pc in post_cells.items():
        value = cell(pre, c)
        for j, v in reversed(by_cell.get(c, [])):
            value = z3.If(sel == j, z3.BoolVal(v) if isinstance(v, bool) else v, value)
        parts.append(_eq(pc, value))
    for c, ups in by_cell.items():  # an update of an excluded element (never happens with derived envelopes)
        if c not in post_cells:
            parts.append(z3.And([z3.Implies(sel == j, _eq(v, cell(post, c))) for j, v in ups]))
    return z3.And(parts)


def _cells_of(st: SymbolicState) -> dict:
    got = getattr(st, "_cells", None)
    if got is None:
        got = dict(cells(st))
        st._cells = got  # type: ignore[attr-defined]
    return got


def atoms_kind(name: str, atoms: Callable[[SymbolicState], list[Atom]]) -> Kind:
    """A kind given by its atoms (errors left out of its relation: they are asked about apart)."""
    def relation(pre: SymbolicState, post: SymbolicState) -> Any:
        return atoms_relation([a for a in atoms(pre) if a.error is None], pre, post, f"@{name}")

    return Kind(name, relation, atoms)


def initial(system: TransitionSystem, st: SymbolicState) -> Any:
    """The Z3 Boolean saying `st` is one of the system's initial states."""
    return z3.Or([z3.And(st.equals(raw)) for raw in system.initial])


def kinds(system: TransitionSystem) -> list[Kind]:
    """Every kind of step of `system`, as relations (SymbolicUnsupported when some step cannot be)."""
    sem = getattr(system, "semantics", None)
    if sem is not None:
        from .handlers import protocol_kinds

        return protocol_kinds(system, sem)
    model = getattr(system, "model", None)
    if model is not None:
        from .actions import model_kinds

        return model_kinds(system, model)
    raise SymbolicUnsupported(f"{system.name}: its steps are not known as formulas")


_STEPS: dict = {}  # the last few step relations built, over template states (`step`)


def step(ks: Sequence[Kind], pre: SymbolicState, post: SymbolicState, tag: str = "") -> Any:
    """Some step of one of `ks` leads from `pre` to `post`. When every kind has atoms: one selector picks
    the atom (`atoms_relation`: the frame once per cell, not once per kind), built once over template
    states and then given each pair of states by one substitution (bmc unrolls it at every depth). `tag`
    names the selector (one per unrolled step)."""
    if not all(k.atoms is not None for k in ks):
        return z3.Or([k.relation(pre, post) for k in ks])
    key = (tuple(id(k) for k in ks), id(pre.schema))
    got = _STEPS.get(key)
    if got is None:
        P = SymbolicState(pre.schema, "\u00b7P_", restrict=pre.restrict)
        Q = SymbolicState(pre.schema, "\u00b7Q_", restrict=pre.restrict)
        every = [a for k in ks for a in k.atoms(P) if a.error is None]  # type: ignore[misc]
        got = (ks, P, Q, atoms_relation(every, P, Q, "\u00b7T"))
        if len(_STEPS) >= 4:
            _STEPS.pop(next(iter(_STEPS)))
        _STEPS[key] = got
    _, P, Q, formula = got
    pairs = [(a, b) for (_, a), (_, b) in zip(cells(P), cells(pre))]
    pairs += [(a, b) for (_, a), (_, b) in zip(cells(Q), cells(post))]
    pairs.append((z3.Int("step\u00b7T"), z3.Int(f"step{tag}")))
    return Substitution(pairs)(formula)


def errors(ks: Sequence[Kind], pre: SymbolicState) -> list[tuple[Any, str, str]]:
    """The steps the model's own code raises on, as (guard over `pre`, the kind's name, the error): built
    once over a template state and given `pre` by one substitution."""
    key = ("errors", tuple(id(k) for k in ks), id(pre.schema))
    got = _STEPS.get(key)
    if got is None:
        P = SymbolicState(pre.schema, "\u00b7E_", restrict=pre.restrict)
        found = [(z3.And(list(a.guard)) if a.guard else z3.BoolVal(True), k.name, a.error)
                 for k in ks if k.atoms is not None for a in k.atoms(P) if a.error is not None]
        got = (ks, P, found)
        if len(_STEPS) >= 4:
            _STEPS.pop(next(iter(_STEPS)))
        _STEPS[key] = got
    _, P, found = got
    sub = Substitution([(a, b) for (_, a), (_, b) in zip(cells(P), cells(pre))])
    return [(sub(g), name, error) for g, name, error in found]


__all__ = ["Atom", "Kind", "SymbolicUnsupported", "atom_relation", "atoms_kind", "atoms_relation", "cell", "cells", "errors",
           "initial", "kinds", "state", "step"]
