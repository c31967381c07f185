"""What every search order asks of a state, compiled once per search: the fused invariant and
constraint checks, the schema's batch check of new states, terminals and the actions' successor
functions; the exception that ends a search with a verdict; and how a failure of model code becomes
that exception, blaming the right action, handler or property. The breadth-first loop, the compact
store and the other orders (dfs, random, hypothesis) all start from one `Checks`, binding its fields
to locals where the loop is hot. Imports `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..logic import Predicate, fuse
from ..semantics import TransitionSystem
from .guard import Guard, OutOfTime, active
from .result import SearchOptions, Verdict


class Checks:
    def __init__(self, system: TransitionSystem, invariants: Sequence[Predicate], constraints: Sequence[Predicate],
                 terminals: Sequence[Predicate], options: SearchOptions):
        self.system = system
        self.invariants, self.constraints, self.terminals = list(invariants), list(constraints), list(terminals)
        try:  # fusing evaluates a property that reads no variable once: model code may fail there already
            # the index of the first invariant a raw state violates, or -1; None when there is no invariant
            self.first_failing: Callable[[tuple], int] | None = fuse(invariants, system.schema) if invariants else None
            # the index of the first constraint a raw state fails (it is kept, not expanded), or -1; None: none
            self.cons: Callable[[tuple], int] | None = fuse(constraints, system.schema) if constraints else None
        except BaseException as e:
            raise self.failure(e, None, -1) or e from None
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
                            ("terminal", self.terminals)):
            for p in preds:
                try:
                    p.check(s)
                except Exception as again:
                    return f"{kind} {p.name} raised {type(again).__name__}: {again}"
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


__all__ = ["Checks", "Stop", "not_successors"]
