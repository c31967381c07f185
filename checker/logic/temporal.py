"""Liveness properties: `eventually(P)`, `leads_to(P, Q)` (P ~> Q), `always_eventually(P)`, over state
predicates: formulas of `checker.logic.formula`, or Python functions of a readable state.

    @liveness
    def PreparedRMsDecide(self, s):
        prepared = exists(s.role("rm"), lambda r: r.state == "prepared")
        return leads_to(prepared, ~prepared)

The method is called once with the symbolic state; the engine's liveness
search (`checker.engine.liveness`) checks the result under the spec's fairness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model import StateSchema
from . import Predicate, PropertyError, compile_formula, compile_predicate
from .formula import FormulaError, State, Term

KINDS = ("eventually", "leads_to", "always_eventually")


@dataclass(frozen=True)
class Temporal:
    """What a @liveness method returns: the kind of property and its state predicates (unchecked)."""

    kind: str
    p: Any
    q: Any = None


def eventually(p: Any) -> Temporal:
    """<>P: every fair behaviour reaches a P state."""
    return Temporal("eventually", p)


def leads_to(p: Any, q: Any) -> Temporal:
    """P ~> Q: every P state is followed, in every fair behaviour through it, by a Q state (maybe itself)."""
    return Temporal("leads_to", p, q)


def always_eventually(p: Any) -> Temporal:
    """[]<>P: every fair behaviour reaches P states again and again."""
    return Temporal("always_eventually", p)


@dataclass(frozen=True)
class LivenessProperty:
    """A compiled liveness property: its kind and predicates over raw states."""

    name: str
    kind: str
    p: Predicate
    q: Predicate | None = None

    def describe(self) -> str:
        if self.kind == "leads_to":
            return f"{_text(self.p)} ~> {_text(self.q)}"
        return f"{'<>' if self.kind == 'eventually' else '[]<>'}({_text(self.p)})"


def _text(p: Predicate | None) -> str:
    if p is None:
        return "?"
    return str(p.formula) if p.formula is not None else p.name


def compile_liveness(name: str, fn: Callable, schema: StateSchema) -> LivenessProperty:
    """Call a @liveness method on the symbolic state and compile its predicates."""
    try:
        t = fn(State(schema))
    except FormulaError as e:
        raise PropertyError(str(e)) from None
    except Exception as e:
        raise PropertyError(f"building the property raised {type(e).__name__}: {e}") from None
    if not isinstance(t, Temporal):
        raise PropertyError(f"a @liveness method returns eventually(P), leads_to(P, Q) or always_eventually(P), "
                            f"got {t!r}")
    preds = [_predicate(f"{name}.{part}", x, schema) for part, x in (("P", t.p), ("Q", t.q)) if x is not None]
    return LivenessProperty(name, t.kind, preds[0], preds[1] if len(preds) > 1 else None)


def _predicate(name: str, x: Any, schema: StateSchema) -> Predicate:
    if isinstance(x, Term):
        return compile_formula(name, x._bool("a liveness property's state predicate"), schema)
    if callable(x):
        return compile_predicate(name, x, schema)
    raise PropertyError(f"{name}: expected a formula or a function of the state, got {x!r}")


__all__ = ["LivenessProperty", "Temporal", "always_eventually", "compile_liveness", "eventually", "leads_to"]
