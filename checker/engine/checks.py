"""What every search order asks of a state, compiled once per search: the fused invariant check,
the schema's batch check of new states, constraints, terminals and the actions' successor functions;
and the exception that ends a search with a verdict. The breadth-first loop, the compact store and
the other orders (dfs, random, hypothesis) all start from one `Checks`, binding its fields to locals
where the loop is hot. Imports `checker.semantics` and `checker.logic`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..logic import Predicate, fuse
from ..semantics import TransitionSystem
from .result import SearchOptions, Verdict


class Checks:
    def __init__(self, system: TransitionSystem, invariants: Sequence[Predicate], constraints: Sequence[Predicate],
                 terminals: Sequence[Predicate], options: SearchOptions):
        self.invariants = list(invariants)
        # the index of the first invariant a raw state violates, or -1; None when there is no invariant
        self.first_failing: Callable[[tuple], int] | None = fuse(invariants, system.schema) if invariants else None
        self.first_bad = system.schema.make_batch_check() if options.check_types else None
        self.cons = [p.check for p in constraints]
        self.terms = [p.check for p in terminals]
        self.acts = [(i, a.successors) for i, a in enumerate(system.actions)]
        self.check_deadlock = options.check_deadlock


class Stop(Exception):
    """Raised inside a search loop to end it with a result."""

    def __init__(self, verdict: Verdict, state: tuple | None, prop: str | None = None, reason: str = "",
                 error: str | None = None, ties: list | None = None):
        self.verdict, self.state, self.prop, self.reason, self.error = verdict, state, prop, reason, error
        self.ties = ties or []  # other states of the same level violating the same property


__all__ = ["Checks", "Stop"]
