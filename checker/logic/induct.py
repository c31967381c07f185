"""Bounded inductiveness: is an invariant preserved by every step from *every* state satisfying it,
reachable or not? Z3 enumerates the states that satisfy the schema's type constraints and the
invariant (one per class of states equal up to renaming the symmetric roles' nodes); the model's own
transition function computes each one's successors; the invariant is evaluated in Python on them. A
successor that violates it is a counterexample to induction (CTI). Finite state domains only.
Under the model's @constraint predicates (TLC's CONSTRAINT) only states inside them are expanded, as in
the search; their successors' invariants are checked inside or outside them, as the search checks them.
Z3 is asked with Ctrl-C held (`smt.sigint_held`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import Bag, Enum, NodeId, Set, StateSchema
from ..model.symmetry import images
from ..semantics import Step, TransitionSystem
from . import NotABool, Predicate, PropertyError
from .formula import conj, walk


@dataclass
class CTI:
    """A state satisfying the invariant, a step, and a successor violating it."""

    pre: tuple | None  # None: an initial state violates the invariant
    step: Step | None
    post: tuple
    property: str
    instance: list[str] = field(default_factory=list)
    error: str = ""  # the model's own code raised on `pre` (a state the invariant allows but the model cannot take)
    post_outside: tuple[str, ...] = ()  # the constraints `post` fails (the search checks its invariants all the same)


@dataclass
class InductResult:
    verdict: str  # "inductive" | "not_inductive" | "undetermined"
    examined: int  # states satisfying the invariant whose successors were computed
    successors: int
    seconds: float
    symmetry: tuple[str, ...] = ()
    cti: CTI | None = None
    reason: str = ""
    solved: tuple[str, ...] = ()  # formula constraints given to Z3 with the invariant: states outside them never offered
    filtered: tuple[str, ...] = ()  # Python constraints, evaluated on each state Z3 offers
    excluded: int = 0  # states (classes, under symmetry) satisfying the invariant that `filtered` kept out
    outside: int = 0  # successors outside the constraints: not expanded by a search, but their invariants checked
    unused: tuple[str, ...] = ()  # action constraints: they change no verdict of induct (see `induct`)
    method: str = "explicit"  # "symbolic": one SMT query per kind of step; "explicit": states enumerated
    kinds: int = 0  # symbolic: the kinds of step asked about
    fallback: str = ""  # why the symbolic method was not used ("" when it was, or not asked for)
    routes: tuple[str, ...] = ()  # symbolic, for a protocol: the typed envelopes ("Prepare: tm → rm")


def induct(system: TransitionSystem, invariants: Sequence[Predicate], *, symmetry: Sequence[str] = (),
           max_states: int | None = None, progress: Callable[[int], None] | None = None,
           constraints: Sequence[Predicate] = (), action_constraints: Sequence[str] = (),
           method: str = "auto", tick: Callable[[int, int, int], str | None] | None = None) -> InductResult:
    """Check that the conjunction of `invariants` (all formulas) holds initially and is inductive.

    `method`: "symbolic" asks Z3 one query per kind of step (`symbolic`); "explicit" enumerates the states
    satisfying the invariant and runs the model on each; "auto" (the default) is symbolic where the
    system's steps can be given to Z3 and explicit otherwise, saying why in the result's `fallback`.
    `tick(examined, successors, 1)` is called as the work goes on (a progress line; a reason returned
    stops the check: undetermined).

    With `constraints` (the model's @constraint predicates, TLC's CONSTRAINT) the search expands only the
    states inside them but checks the invariants of every successor, inside or outside (README: TLC's
    model-checking options). So the states examined here are those satisfying the invariant *and* the
    constraints (a formula constraint is given to Z3, a Python one filters what Z3 offers), and every
    successor of theirs must satisfy the invariant: "inductive" then means the search holds. Initial states
    are checked whether or not they satisfy the constraints, as the search checks them. Action constraints
    (named in `action_constraints`) only stop the search following a step whose successor's invariants it
    has checked, so they change nothing here; they are listed in the result as such."""

    if method not in ("auto", "symbolic", "explicit"):
        raise PropertyError(f"induct method must be auto, symbolic or explicit, got {method!r}")
    fallback = ""
    if method != "explicit":
        from .relation import SymbolicUnsupported

        try:
            return symbolic(system, invariants, constraints=constraints, action_constraints=action_constraints,
                            tick=tick)
        except SymbolicUnsupported as e:
            if method == "symbolic":
                raise PropertyError(str(e)) from None
            fallback = str(e)
    r = _explicit(system, invariants, symmetry=symmetry, max_states=max_states, progress=progress,
                  constraints=constraints, action_constraints=action_constraints, tick=tick)
    r.fallback = fallback
    return r


def _explicit(system: TransitionSystem, invariants: Sequence[Predicate], *, symmetry: Sequence[str],
              max_states: int | None, progress: Callable[[int], None] | None, constraints: Sequence[Predicate],
              action_constraints: Sequence[str], tick: Callable[[int, int, int], str | None] | None) -> InductResult:
    from . import smt

    schema = system.schema
    refuse(schema, invariants)
    roles = tuple(symmetry)
    solved = [c for c in constraints if c.formula is not None]
    filtered = [c for c in constraints if c.formula is None]
    for role in roles:
        for p in invariants:  # a constraint may name nodes: a class is examined when one of its states is inside
            named = [t for t in walk(p.formula) if t.op == "const" and _names_role(t, role)]
            if named:
                raise PropertyError(f"symmetry over {role}: {p.name} names {named[0]}, so renaming {role} ids "
                                    "changes its meaning; drop the symmetry or quantify instead")
    start = time.perf_counter()
    for raw in system.initial:
        failing = _first_failing(invariants, raw)
        if failing is not None:
            cti = CTI(None, None, raw, failing.name, failing.explain(raw))
            return InductResult("not_inductive", 0, 0, time.perf_counter() - start, roles, cti)
    try:
        renames = images(schema, roles) if roles else []
    except ValueError as e:
        raise PropertyError(str(e)) from None

    def block(raw: tuple) -> list[tuple]:
        return sorted({f(raw) for f in renames}) if renames else [raw]

    done = dict(symmetry=roles, solved=tuple(c.name for c in solved), filtered=tuple(c.name for c in filtered),
                unused=tuple(action_constraints))
    formula = conj(*(p.formula for p in invariants), *(c.formula for c in solved))
    examined = successors = excluded = outside = 0
    actions = system.actions
    states = smt.models(schema, formula, block, restrict=_typed(system))
    while True:
        with smt.sigint_held():  # the solver's work: a Ctrl-C during it is raised just after
            found = next(states, None)
        if found is None:
            break
        try:
            raw = _inside(constraints, block(found) if filtered else [found])
        except _Raised as e:  # a constraint's own code cannot take a state the invariant allows
            cti = CTI(e.raw, None, e.raw, e.name, [], e.error)
            return InductResult("not_inductive", examined, successors, time.perf_counter() - start, cti=cti,
                                excluded=excluded, outside=outside, **done)
        if raw is None:
            excluded += 1
            continue
        if max_states is not None and examined >= max_states:
            return InductResult("undetermined", examined, successors, time.perf_counter() - start,
                                reason=f"stopped after {examined} states (max_states)", excluded=excluded,
                                outside=outside, **done)
        examined += 1
        if progress is not None and examined % 1000 == 0:
            progress(examined)
        if tick is not None:
            why = tick(examined, successors, 1)
            if why:
                return InductResult("undetermined", examined, successors, time.perf_counter() - start,
                                    reason=f"stopped after {examined:,} states ({why})", excluded=excluded,
                                    outside=outside, **done)
        for a in actions:
            try:
                succs = a.successors(raw)
            except Exception as e:  # the model cannot take this state: the invariant does not rule it out
                cti = CTI(raw, None, raw, a.name, [], f"{type(e).__name__}: {e}")
                return InductResult("not_inductive", examined, successors, time.perf_counter() - start, cti=cti,
                                    excluded=excluded, outside=outside, **done)
            for t in succs:
                successors += 1
                if constraints and _outside(constraints, t):
                    outside += 1
                failing = _first_failing(invariants, t)
                if failing is not None:
                    step = system.find_step(raw, t)
                    cti = CTI(raw, step, t, failing.name, failing.explain(t),
                              post_outside=tuple(c.name for c in constraints if not _safe(c, t)))
                    return InductResult("not_inductive", examined, successors, time.perf_counter() - start,
                                        cti=cti, excluded=excluded, outside=outside, **done)
    return InductResult("inductive", examined, successors, time.perf_counter() - start, excluded=excluded,
                        outside=outside, **done)


class _Raised(Exception):
    def __init__(self, name: str, raw: tuple, error: str):
        super().__init__(error)
        self.name, self.raw, self.error = name, raw, error


def _holds(c: Predicate, raw: tuple) -> bool:
    try:
        return c.check(raw)
    except NotABool as e:
        raise PropertyError(str(e)) from None
    except Exception as e:
        raise _Raised(c.name, raw, f"{type(e).__name__}: {e}") from None


def _inside(constraints: Sequence[Predicate], candidates: Sequence[tuple]) -> tuple | None:
    """The first of `candidates` (a state, or under symmetry its images in order) inside every constraint, or
    None. Under symmetry the invariant and the steps do not tell images apart, so a class is examined when any
    of its states is inside the constraints, whether or not they are declared symmetric."""
    for raw in candidates:
        if all(_holds(c, raw) for c in constraints):
            return raw
    return None


def _outside(constraints: Sequence[Predicate], raw: tuple) -> bool:
    return not all(_safe(c, raw) for c in constraints)


def _safe(c: Predicate, raw: tuple) -> bool:
    """Whether a successor is inside `c`; one on which `c` raises counts as outside (the successor's
    invariants are what is checked; whether the search would expand it is only counted)."""
    try:
        return c.check(raw)
    except NotABool as e:
        raise PropertyError(str(e)) from None
    except Exception:
        return False


def refuse(schema: StateSchema, invariants: Sequence[Predicate]) -> None:
    """Raise PropertyError when the check cannot be done here: a plain predicate, an unbounded domain."""
    for p in invariants:
        if p.formula is None:
            raise PropertyError(f"{p.name} is a Python predicate, not a formula: Z3 cannot enumerate the states "
                                "that satisfy it (declare it with @formula)")
    for name, t in schema.variables.items():
        if isinstance(t, Bag):
            raise PropertyError(f"variable {name!r} is a multiset (up to {Bag.MAX_COPIES} copies of each of "
                                f"{t.elem.cardinality} values): too many states to enumerate; bound it (for the "
                                "network: [network] in_flight = \"set\")")


def _first_failing(invariants: Sequence[Predicate], raw: tuple) -> Predicate | None:
    return next((p for p in invariants if not p.check(raw)), None)


def _names_role(t, role: str) -> bool:
    """A constant that singles out some nodes of `role` (renaming them would change its meaning)."""
    ty, value = t.type, t.args[1]
    if isinstance(ty, Set) and isinstance(ty.elem, NodeId) and ty.elem.role == role:
        return 0 < len(value) < ty.elem.cardinality
    if isinstance(ty, NodeId):
        return ty.role == role
    if isinstance(ty, Enum) and isinstance(value, str):
        return value.startswith(role) and value[len(role):].isdigit()
    return False


def _typed(system: TransitionSystem) -> dict[str, frozenset[int]] | None:
    """A protocol's typed envelopes (its network holds only what its handlers can send), where they can be
    derived; None otherwise (every envelope of the schema)."""
    sem = getattr(system, "semantics", None)
    if sem is None:
        return None
    from .handlers import protocol_relation
    from .relation import SymbolicUnsupported

    try:
        protocol_relation(system, sem)
    except SymbolicUnsupported:
        return None
    return getattr(system, "symbolic_restrict", None)


def symbolic(system: TransitionSystem, invariants: Sequence[Predicate], *, constraints: Sequence[Predicate] = (),
             action_constraints: Sequence[str] = (),
             tick: Callable[[int, int, int], str | None] | None = None) -> InductResult:
    """Inductiveness without enumerating states: for each kind of step (`relation.kinds`), one query
    "a state satisfying the invariants and the constraints, a step of this kind, a successor violating
    the invariants", and one per error the step's code may raise there. Unsatisfiable for every kind:
    inductive, for every state, reachable or not, of any size the solver can take. A model: a CTI, whose
    step is found again by the model's own code (`find_step`; a disagreement is an internal error).
    SymbolicUnsupported (a FormulaError) when the steps cannot be given to Z3."""
    import z3

    from . import smt
    from .relation import SymbolicUnsupported, atoms_relation, kinds, state

    refuse_symbolic(invariants, constraints)
    start = time.perf_counter()
    for raw in system.initial:
        failing = _first_failing(invariants, raw)
        if failing is not None:
            cti = CTI(None, None, raw, failing.name, failing.explain(raw))
            return InductResult("not_inductive", 0, 0, time.perf_counter() - start, cti=cti, method="symbolic")
    ks = kinds(system)
    rel = getattr(system, "_protocol_relation", None)
    routes = tuple(rel.routes()) if rel is not None else ()
    pre, post = state(system, "pre_"), state(system, "post_")
    solved = [c for c in constraints if c.formula is not None]
    inv_pre = [smt.to_z3(p.formula, pre) for p in invariants]
    inv_post = z3.And([smt.to_z3(p.formula, post) for p in invariants])
    s = smt.solver()
    s.add(*pre.constraints(), *post.constraints(), *inv_pre, *(smt.to_z3(c.formula, pre) for c in solved))
    done = dict(method="symbolic", solved=tuple(c.name for c in solved), unused=tuple(action_constraints),
                routes=routes)

    def result(verdict: str, asked: int, **kw: Any) -> InductResult:
        return InductResult(verdict, asked, asked, time.perf_counter() - start, kinds=len(ks), **done, **kw)

    for asked, k in enumerate(ks, 1):
        if tick is not None:
            why = tick(asked, asked, 1)
            if why:
                return result("undetermined", asked - 1, reason=f"stopped after {asked - 1:,} of {len(ks):,} kinds "
                                                                  f"of step ({why})")
        atoms = k.atoms(pre) if k.atoms is not None else None
        for a in atoms or ():  # a step the model's code raises on, from a state the invariant allows
            if a.error is None:
                continue
            with smt.sigint_held():
                r = s.check(*a.guard) if a.guard else s.check()
            if r == z3.sat:
                raw = pre.state_of(s.model())
                _raises(system, raw, k.name)
                return result("not_inductive", asked, cti=CTI(raw, None, raw, k.name, [], a.error))
        s.push()
        s.add(k.relation(pre, post) if atoms is None else
              atoms_relation([a for a in atoms if a.error is None], pre, post))
        s.add(z3.Not(inv_post))
        with smt.sigint_held():
            r = s.check()
        if r == z3.unknown:
            why = s.reason_unknown()
            s.pop()
            return result("undetermined", asked, reason=f"the solver gave up on {k.name}: {why}")
        if r == z3.sat:
            m = s.model()
            a_raw, b_raw = pre.state_of(m), post.state_of(m)
            s.pop()
            failing = _first_failing(invariants, b_raw)
            if failing is None or not all(p.check(a_raw) for p in invariants):
                raise SymbolicUnsupported(f"internal error: Z3 and the compiled invariants disagree on a state "
                                          f"after {k.name}")
            step = system.find_step(a_raw, b_raw)
            if step is None:
                raise AssertionError(f"internal error: the symbolic relation of {k.name} has a step the model "
                                     f"does not take, from {a_raw} to {b_raw}")
            cti = CTI(a_raw, step, b_raw, failing.name, failing.explain(b_raw),
                      post_outside=tuple(c.name for c in constraints if not _safe(c, b_raw)))
            return result("not_inductive", asked, cti=cti)
        s.pop()
    return result("inductive", len(ks))


def _raises(system: TransitionSystem, raw: tuple, name: str) -> None:
    """The model's own code raises on `raw` (as the symbolic relation says it does for a step `name`)."""
    for a in system.actions:
        try:
            a.successors(raw)
        except Exception:
            return
    raise AssertionError(f"internal error: the symbolic relation says {name} raises on {raw}, but the model's "
                         "code does not")


def refuse_symbolic(invariants: Sequence[Predicate], constraints: Sequence[Predicate]) -> None:
    from .relation import SymbolicUnsupported

    for p in invariants:
        if p.formula is None:
            raise PropertyError(f"{p.name} is a Python predicate, not a formula: Z3 cannot take it (declare it "
                                "with @formula)")
    for c in constraints:
        if c.formula is None:
            raise SymbolicUnsupported(f"the constraint {c.name} is a Python predicate: Z3 cannot take it")


def describe(system: TransitionSystem, r: InductResult) -> list[str]:
    """The CTI as text: the state before, the step, what changed, the failing instance."""
    cti = r.cti
    if cti is None:
        return []
    schema = system.schema
    out = []
    if cti.pre is None:
        out.append(f"an initial state violates {cti.property}:")
        out += [f"  {line}" for line in state_lines(schema, cti.post)]
    elif cti.error:
        out.append("a state satisfying the invariant, which the model's own code cannot take:")
        out += [f"  {line}" for line in state_lines(schema, cti.pre)]
        out.append(f"{cti.property} raised {cti.error}")
        out.append("strengthen the invariant to rule such states out")
    else:
        out.append("a state satisfying the invariant:")
        out += [f"  {line}" for line in state_lines(schema, cti.pre)]
        out.append(f"step: {cti.step.label if cti.step else '?'}")
        out.append(f"leads to a state violating {cti.property}; what changed:")
        out += [f"  {line}" for line in diff_lines(schema, cti.pre, cti.post)]
        if cti.post_outside:
            out.append(f"(that state is outside the constraint {', '.join(cti.post_outside)}: a search does not "
                       "expand it but checks its invariants, as TLC does)")
    if cti.instance:
        out.append(f"failing instance: {', '.join(cti.instance)}")
    return out


def state_lines(schema: StateSchema, raw: tuple) -> list[str]:
    st = schema.decode(raw)
    return [f"{n} = {schema.variables[n].format(v)}" for n, v in st.items()]


def diff_lines(schema: StateSchema, a: tuple, b: tuple) -> list[str]:
    """The variables whose slots differ (decoded values need not compare: two times "long ago" do not)."""
    x, y = schema.decode(a), schema.decode(b)
    o, w = schema.offsets, schema.variables
    return [f"{n}: {w[n].format(x[n])} -> {w[n].format(y[n])}"
            for n in w if a[o[n]:o[n] + w[n].width] != b[o[n]:o[n] + w[n].width]]


__all__ = ["CTI", "InductResult", "describe", "induct"]
