"""What every search order asks of a state, compiled once per search: the fused invariant and
constraint checks, the schema's batch check of new states, terminals and the actions' successor
functions; the exception that ends a search with a verdict; and how a failure of model code becomes
that exception, blaming the right action, handler or property. The breadth-first loop, the compact
store and the other orders (dfs, random, hypothesis) all start from one `Checks`, binding its fields
to locals where the loop is hot. Imports `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..logic import ActionConstraint, Predicate, StateFunction, fuse
from ..semantics import TransitionSystem
from .guard import Guard, OutOfTime, active
from .result import SearchOptions, Verdict


@dataclass(frozen=True)
class Tlc:
    """What a search filters and tracks beyond invariants, constraints and terminals: TLC's ACTION_CONSTRAINT
    and VIEW, and the reachability properties (Stateright's "sometimes")."""

    action_constraints: tuple[ActionConstraint, ...] = ()
    view: StateFunction | None = None
    reachable: tuple[Predicate, ...] = ()


class Outside:
    """A successor outside the constraints (never stored) that violates an invariant, with the stored state
    it was reached from: its counterexample is the path to `parent`, then `state`."""

    __slots__ = ("parent", "state")

    def __init__(self, parent: tuple, state: tuple):
        self.parent, self.state = parent, state


class Reach:
    """The reachability properties not yet satisfied, and the first stored state (in the search's order)
    that satisfied each of the others. `wrap` hooks them into the invariant check every stored state gets,
    so a search without them pays nothing."""

    def __init__(self, preds: Sequence[Predicate], schema):
        self.names = [p.name for p in preds]
        self.tests = [fuse([p], schema) for p in preds]  # -1: it holds (memoised like an invariant)
        self.pending = list(range(len(preds)))
        self.found: dict[str, tuple] = {}
        self.paths: dict[str, tuple[tuple, ...]] = {}  # filled by orders that know the path on the spot
        self.path_of: Callable[[tuple], tuple[tuple, ...]] | None = None

    def see(self, s: tuple) -> None:
        hit = False
        for k in self.pending:
            if self.tests[k](s) < 0:
                self.found[self.names[k]] = s
                if self.path_of is not None:
                    self.paths[self.names[k]] = self.path_of(s)
                hit = True
        if hit:
            self.pending = [k for k in self.pending if self.names[k] not in self.found]

    def merge(self, found: dict[str, tuple]) -> None:
        for name, s in found.items():
            self.found.setdefault(name, s)
        self.pending = [k for k in self.pending if self.names[k] not in self.found]

    def unreached(self) -> list[str]:
        return [n for n in self.names if n not in self.found]

    def wrap(self, inner: Callable[[tuple], int] | None) -> Callable[[tuple], int]:
        see = self.see

        def first_failing(s: tuple) -> int:
            if self.pending:
                see(s)
            return -1 if inner is None else inner(s)

        return first_failing


class Checks:
    def __init__(self, system: TransitionSystem, invariants: Sequence[Predicate], constraints: Sequence[Predicate],
                 terminals: Sequence[Predicate], options: SearchOptions, tlc: Tlc | None = None,
                 reach: Reach | None = None):
        self.system = system
        self.invariants, self.constraints, self.terminals = list(invariants), list(constraints), list(terminals)
        tlc = tlc or Tlc()
        self.tlc = tlc
        try:  # fusing evaluates a property that reads no variable once: model code may fail there already
            # the index of the first invariant a raw state violates, or -1; None when there is no invariant
            self.first_failing: Callable[[tuple], int] | None = fuse(invariants, system.schema) if invariants else None
            # the index of the first constraint a raw state fails (it is not stored), or -1; None: none
            self.cons: Callable[[tuple], int] | None = fuse(constraints, system.schema) if constraints else None
        except BaseException as e:
            raise self.failure(e, None, -1) or e from None
        # the invariants alone (out-of-model successors are checked with them; reachability looks at stored states)
        self.invariant_check = self.first_failing
        self.reach = reach
        if reach is not None and reach.pending:
            self.first_failing = reach.wrap(self.first_failing)
        acs = tlc.action_constraints
        # whether the step s -> t passes every action constraint; None when there is none
        self.acons: Callable[[tuple, tuple], bool] | None = (
            None if not acs else acs[0].check if len(acs) == 1 else (lambda s, t: all(a.check(s, t) for a in acs)))
        self.view_key: Callable[[tuple], Any] | None = tlc.view.key if tlc.view is not None else None
        # whether successors need more than a membership test: TLC's constraints or a view
        self.general = self.cons is not None or self.acons is not None or self.view_key is not None
        self.first_bad = system.schema.make_batch_check() if options.check_types else None
        self.terms = [p.check for p in terminals]
        self.acts = [(i, a.successors) for i, a in enumerate(system.actions)]
        self.check_deadlock = options.check_deadlock

    def returned_none(self, s: tuple, i: int) -> Stop:
        """An action returned None: a mistake (a missing `return []`), never a disabled action."""
        return Stop(Verdict.ERROR, s, reason=f"action {self.system.actions[i].name} returned None; "
                                             "return [] when it is not enabled")

    def failure(self, e: BaseException, s: tuple | None, i: int, guard: Guard | None = None) -> Stop | None:
        """The stop for `e`, raised while checking or expanding state `s` (`i`: the action called last,
        or -1): an error naming the model code at fault, undetermined when time ran out under model
        code; None when `e` is no failure of model code (a real Ctrl-C: the caller goes on with it)."""
        if isinstance(e, Stop):
            return e
        if isinstance(e, OutOfTime):
            return Stop(Verdict.UNDETERMINED, None, reason=str(e))
        guard = guard or active()
        found = guard.blame(e) if guard is not None else (None, None)
        if found is None:
            return None
        reason, error = found
        if reason is None:  # raised in faultcheck's code: find what the model did to it
            reason, error = self.diagnose(e, s, i), None
        return Stop(Verdict.ERROR, s, reason=reason, error=error)

    def diagnose(self, e: BaseException, s: tuple | None, i: int) -> str:
        """What model code did wrong in `s` when faultcheck's own code raised `e` over it: an action
        that returned no list of states, or the first action or property that raises again."""
        what = f"raised {type(e).__name__}: {e}"
        internal = f"faultcheck's own code {what} (an internal error: please report it)"
        if s is None:
            return internal
        order = [i] if i >= 0 else []
        order += [k for k in range(len(self.system.actions)) if k != i]
        for k in order:
            a = self.system.actions[k]
            try:
                r = a.successors(s)
            except Exception:
                if k == i:
                    return f"action {a.name} {what}"
                continue
            wrong = not_successors(r)
            if wrong:
                return f"action {a.name} {wrong}"
        for kind, preds in (("constraint", self.constraints), ("invariant", self.invariants),
                            ("terminal", self.terminals), ("reachable", self.tlc.reachable)):
            for p in preds:
                try:
                    p.check(s)
                except Exception as again:
                    return f"{kind} {p.name} raised {type(again).__name__}: {again}"
        if self.tlc.view is not None:
            try:
                hash(self.tlc.view.key(s))
            except Exception as again:
                return f"view {self.tlc.view.name} raised {type(again).__name__}: {again} (a view returns a hashable value)"
        for a in self.tlc.action_constraints:
            for t in (t for act in self.system.actions for t in act.successors(s)):
                try:
                    a.check(s, t)
                except Exception as again:
                    return f"action constraint {a.name} raised {type(again).__name__}: {again}"
        return internal


def not_successors(r: object) -> str | None:
    """What is wrong with an action's result `r`, or None when it is a list (or tuple) of tuples."""
    if r is None:
        return "returned None; return [] when it is not enabled"
    how = "an action returns a list of successor state tuples"
    if not isinstance(r, (list, tuple)):
        return f"returned {_short(r)}: {how}"
    bad = next((t for t in r if type(t) is not tuple), None)
    if bad is not None:
        return f"returned a successor {_short(bad)}, which is no state tuple: {how}"
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Stop(Exception):
    """Raised inside a search loop to end it with a result."""

    def __init__(self, verdict: Verdict, state: tuple | None, prop: str | None = None, reason: str = "",
                 error: str | None = None, ties: list | None = None):
        self.verdict, self.state, self.prop, self.reason, self.error = verdict, state, prop, reason, error
        self.ties = ties or []  # other states of the same level violating the same property


__all__ = ["Checks", "Outside", "Reach", "Stop", "Tlc", "not_successors"]
