"""A spec as an explorer session: its transition system, its invariants, and where its jumps lead.

`session(path, params)` builds a `checker.explore.Session` for a spec file. Its jumps:

- "counterexample": the spec's committed counterexample when it names one that still replays (instant),
  else the shortest counterexample a search finds (`check()`, bounded by `seconds`): a violated invariant,
  a deadlock, or a liveness property's lasso;
- "witness:NAME" for each @reachable property: the shortest path to a state where it holds (the same
  search, which records every reachability witness).

Searches run at most once per session; what they found is kept.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ..explorer import Finding, Jump, Session
from ..logic import ActionConstraint, PropertyError
from ..model import SchemaError
from ..trace import Trace, TraceError, replay
from .load import Spec, SpecError, load_spec
from .properties import history_predicates
from .run import CheckResult, _committed, _predicates, _set_up, _violation_core, check

SEARCH_SECONDS = 30.0


def session(path: str | os.PathLike | Spec, params: dict[str, Any] | None = None, *, seconds: float = SEARCH_SECONDS,
            seed: int = 0) -> Session:
    """An explorer session on the spec at `path` (with `params` overriding its parameters); a jump's search
    stops after `seconds`. Bad input raises `SpecError` (one line)."""
    spec = path if isinstance(path, Spec) else load_spec(path)
    if params:
        spec = spec.with_params(params)
    model, system = _set_up(spec, False)
    invs = _predicates(system, "invariant", spec.invariants, spec.where) + history_predicates(spec, system)
    reach = _predicates(system, "reachable", spec.reachable_properties(), spec.where)
    terminals = _predicates(system, "terminal", None, spec.where)
    constraints = _predicates(system, "constraint", None, spec.where)
    try:
        acons = [ActionConstraint(n, f, system.schema) for n, f in system.action_constraints.items()]
    except PropertyError as e:
        raise SpecError(f"{spec.where}: action constraint: {e}") from None
    finder = _Finder(spec, system, seconds)
    jumps = [Jump("counterexample", "shortest counterexample", finder.counterexample)]
    jumps += [Jump(f"witness:{p.name}", f"witness: {p.name}", lambda n=p.name: finder.witness(n)) for p in reach]
    return Session(system, invs, spec.protocol, str(spec.path) if spec.path else None, reach, terminals,
                   explain=lambda name, raw: _violation_core(invs, name, raw), jumps=jumps, seed=seed,
                   constraints=constraints, action_constraints=acons)


class _Finder:
    def __init__(self, spec: Spec, system: Any, seconds: float):
        self.spec, self.system, self.seconds = spec, system, seconds
        self.result: CheckResult | None = None
        self.witnesses: dict[str, list[tuple]] = {}

    def _path(self, trace: Trace) -> list[tuple]:
        """The trace's states as raw states of this session's system."""
        try:
            return [self.system.schema.from_json(st.state) for st in trace.steps]
        except (SchemaError, KeyError, TypeError) as e:
            raise SpecError(f"{self.spec.where}: a trace found does not fit the model: {e}") from None

    def _committed(self) -> Finding | None:
        where = _committed(self.spec) if self.spec.expected == "violated" else None
        if where is None or not where.is_file():
            return None
        try:
            trace = Trace.load(where)
        except TraceError:
            return None
        r = replay(self.system, trace)
        if not r.ok:  # recorded for other parameters (--set), or stale: search instead
            return None
        loop = trace.extra.get("loop")
        return Finding(list(r.path), f"the committed counterexample {self.spec.counterexample}: {len(trace)} steps, "
                       f"violating {trace.property}", trace.property, "violated", loop if isinstance(loop, int) else None)

    def _search(self) -> CheckResult:
        if self.result is None:
            with tempfile.TemporaryDirectory(prefix="faultcheck-explore-") as out:
                r = check(self.spec, out=out, lint=False, max_seconds=self.seconds, kind="search")
                for name, written in (r.witnesses or {}).items():
                    if written is not None:
                        self.witnesses[name] = self._path(Trace.load(written))
            self.result = r
        return self.result

    def counterexample(self) -> Finding:
        found = self._committed()
        if found is not None:
            return found
        r = self._search()
        n = f"{r.stats.distinct:,} states"
        if r.trace is not None and r.verdict.value == "violated":
            loop = r.trace.extra.get("loop")
            return Finding(self._path(r.trace), f"the shortest counterexample: {len(r.trace)} steps, violating "
                           f"{r.property} (a search of {n})", r.property, "violated",
                           loop if isinstance(loop, int) else None)
        if r.verdict.value == "holds":
            return Finding(None, f"no counterexample: every property holds ({n} searched)")
        if r.verdict.value == "violated":  # a reachability property never reached: no path to show
            return Finding(None, f"violated {r.property}: {r.reason}")
        return Finding(None, f"no counterexample found: {r.reason or r.verdict.value} ({n} searched)")

    def witness(self, name: str) -> Finding:
        r = self._search()
        path = self.witnesses.get(name)
        if path is None:
            why = f"the search stopped: {r.reason}" if r.verdict.value == "undetermined" else "no reachable state has it"
            return Finding(None, f"{name}: no witness ({why}; {r.stats.distinct:,} states searched)")
        return Finding(path, f"the shortest witness of {name}: {len(path) - 1} steps", name, "witness")


__all__ = ["SEARCH_SECONDS", "session"]
