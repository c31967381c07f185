"""The properties a spec adds beyond invariants: liveness under fairness, the consistency of the
clients' recorded history, the convergence of replicas. Each turns the spec's tables into what
the engine and the logic layer check, and a result `check()` judges like any other.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from ..engine import SearchOptions, SearchResult, Stats, Verdict
from ..logic import Predicate, PropertyError
from ..model import Model
from ..model.node import Protocol
from ..semantics import TransitionSystem
from ..trace.replay import Properties
from .load import CONSISTENCY_PROPERTIES, ELLE_PROPERTIES, Spec, SpecError


def history_predicates(spec: Spec, system: TransitionSystem) -> list[Predicate]:
    """[consistency] history = ...: the clients' history, judged at every state (memoised on it)."""
    level = spec.consistency.get("history")
    if level is None:
        return []
    from ..logic import Part
    from ..logic.consistency import HistoryError, check_linearizable, check_sequential

    schema = system.schema
    if "history" not in schema.variables:
        raise SpecError(f"{spec.where}: consistency.history: the protocol records no history")
    htype = schema.variables["history"]
    sl = schema.slice("history")
    # a recorded history is exact: a read of nil read the value nil (not Knossos's "unknown")
    check_fn = partial(check_linearizable if level == "linearizable" else check_sequential, nil_read="value")
    model, initial = spec.consistency.get("model", "register"), spec.consistency.get("initial")
    name = CONSISTENCY_PROPERTIES[level]
    transactional = "ops" in htype.elem.fields
    if transactional and level not in ELLE_PROPERTIES and model == "multi-register":
        from ..logic.histmodels import MODELS  # rw-register transactions, judged by Knossos's multi-register:

        model = MODELS["multi-register"].with_nil_read("value")  # a recorded read of nil read nil
    elif level in ELLE_PROPERTIES or transactional:
        if not (level in ELLE_PROPERTIES and transactional):
            raise SpecError(f"{spec.where}: consistency.history = {level!r}: transactional models ("
                            f"{', '.join(ELLE_PROPERTIES)}) judge exactly the histories of History(transactions=True)")
        workload = "list-append" if "list" in htype.elem.fields["ops"].elem.fields else "rw-register"
        model = spec.consistency.get("model", workload)
        if model != workload:
            raise SpecError(f"{spec.where}: consistency.model: the protocol records {workload} micro-ops, not {model}'s")
        check_fn = elle_check(level)

    processes = htype.elem.fields["process"].names

    def jepsen(raw: tuple) -> list[dict]:
        return history_of(htype.decode(raw[sl]), processes)

    def holds(raw: tuple) -> bool:
        try:
            return check_fn(jepsen(raw), model, initial, shrink="none").ok
        except HistoryError as e:
            raise RuntimeError(f"the recorded history is malformed: {e}") from None

    part = Part(holds, tuple(range(sl.start, sl.stop)), on_raw=True)
    return [Predicate(name, (part,), schema, ("history",), history=(jepsen, check_fn, model, initial))]


def elle_check(level: str) -> Any:
    """Elle's check (`checker.logic.elle`) for consistency model `level`, shaped like check_linearizable:
    `(history, model, initial=None, **options) -> verdict` with ok, message (with the first anomaly's
    cycle) and explanation (the entries of that anomaly's transactions)."""
    from types import SimpleNamespace

    from ..logic.elle import check_transactions

    def check(history: list[dict], model: str, initial: Any = None, **_: Any) -> Any:
        r = check_transactions(history, model, level)
        if r.ok:
            return SimpleNamespace(ok=True, message=r.message, explanation=[], elle=r)
        first = r.anomalies[0]
        txns = [r.transactions[t] for t in first.txns]
        keep = sorted({t.call for t in txns} | {t.ret for t in txns if t.ret is not None})
        return SimpleNamespace(ok=False, message=f"{r.message}; {first.headline()}",
                               explanation=[history[i] for i in keep], elle=r)

    return check


def history_of(events: Any, processes: Sequence[str]) -> list[dict]:
    """Recorded events (process, kind, f, value, new) as Jepsen's operations: process (the node's index),
    type (the event's kind), f, value ([expected, new] for a cas invocation; for a transaction its
    micro-ops [f, key, value], a list-append read's value a list)."""
    out = []
    for e in events:
        if "ops" in e._fields:  # a transaction
            value = [[m.f, m.key, (None if m.list is None else list(m.list)) if "list" in m._fields and m.f == "r"
                      else m.value] for m in e.ops]
            out.append({"process": processes.index(e.process), "type": e.kind, "f": e.f, "value": value})
            continue
        if "key" in e._fields:  # a key-value map: [key, value] ([key, [expected, new]] for a cas invocation)
            value = [e.key, [e.value, e.new] if e.f == "cas" and (e.kind == "invoke" or e.new is not None) else e.value]
        else:
            value = [e.value, e.new] if e.f == "cas" and e.kind == "invoke" else e.value
        out.append({"process": processes.index(e.process), "type": e.kind, "f": e.f, "value": value})
    return out


def check_convergence(spec: Spec, system: TransitionSystem, options: SearchOptions,
                       safety: SearchResult) -> SearchResult:
    """Converges: in every quiescent state (no step enabled) the role's replicas hold equal values."""
    role, _, fld = spec.consistency["converges"].partition(".")
    schema = system.schema
    nodes = schema.groups.get(role)
    if not nodes or any(fld not in getattr(schema.variables[n], "fields", {}) for n in nodes):
        raise SpecError(f"{spec.where}: consistency.converges: no field {fld!r} on the nodes of role {role!r}")
    start = time.perf_counter()
    parent: dict[tuple, tuple | None] = {s: None for s in system.initial}
    todo = deque(parent)
    while todo:
        s = todo.popleft()
        stuck = True  # quiescent: no step changes anything (a client with nothing left to do may still be asked)
        for a in system.actions:
            for t in a.successors(s):
                if t == s:
                    continue
                stuck = False
                if t not in parent:
                    parent[t] = s
                    todo.append(t)
        if stuck:
            st = schema.decode(s)
            if len({st[n]._asdict()[fld] for n in nodes}) > 1:
                path = [s]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])  # type: ignore[arg-type]
                stats = replace(safety.stats, seconds=safety.stats.seconds + time.perf_counter() - start)
                return SearchResult(Verdict.VIOLATED, stats, "Converges", tuple(reversed(path)),
                                    f"quiescent, but the {role}s' {fld} differ")
    return safety


def liveness_properties(spec: Spec, model: Model | Protocol, system: TransitionSystem) -> list:
    from ..logic.temporal import compile_liveness

    declared = model.predicates("liveness")
    names = spec.liveness or ()  # opt-in: liveness needs the fairness thought through, and the whole graph
    out = []
    for n in names:
        try:
            out.append(compile_liveness(n, declared[n], system.schema))
        except PropertyError as e:
            raise SpecError(f"{spec.where}: liveness {n}: {e}") from None
    return out


def check_liveness(spec: Spec, system: TransitionSystem, lives: list, options: SearchOptions,
                    safety: SearchResult) -> SearchResult:
    """The liveness properties over the whole reachable graph, under the spec's fairness."""
    from ..engine.guard import ModelCodeError
    from ..engine.liveness import Fairness, check_liveness

    fairness = Fairness({**Fairness().kinds, **spec.fairness})
    start = time.perf_counter()
    try:
        g, prop, lasso, why = check_liveness(system, lives, fairness, options.max_states, options)
    except ModelCodeError as e:  # the model's code failed while the graph was built: an error naming it
        return SearchResult(Verdict.ERROR, safety.stats, None, None, e.reason, e.error)
    s = safety.stats
    stats = Stats(s.distinct, s.generated, s.depth, s.seconds + time.perf_counter() - start, s.coverage,
                  s.collision_probability)
    if why:
        return SearchResult(Verdict.UNDETERMINED, stats, None, None, why)
    if lasso is None:
        return SearchResult(Verdict.HOLDS, stats)
    path = tuple(lasso.prefix + lasso.cycle)
    loop = len(lasso.prefix)
    budget = budget_spent(system, lasso.cycle)
    if budget:
        return SearchResult(Verdict.UNDETERMINED, stats, prop.name, path,
                            f"{prop.name} fails on a cycle only because {budget} ran out", loop=loop)
    return SearchResult(Verdict.VIOLATED, stats, prop.name, path, f"{prop.describe()} fails: a fair cycle", loop=loop)


def budget_spent(system: TransitionSystem, cycle: list[tuple]) -> str:
    """Which bound on steps is exhausted all along the cycle, where that is what lets it go on forever."""
    schema = system.schema
    if "firings" in schema.variables:
        i = schema.offsets["firings"]
        top = schema.slot_bounds[i] - 1
        if all(s[i] == top for s in cycle):
            return "the timer budget (faults.timer_firings)"
    return ""


__all__ = ["check_convergence", "check_liveness", "history_of", "history_predicates", "liveness_properties"]


def replay_properties(spec: Spec, model: Model | Protocol, system: TransitionSystem) -> Properties:
    """Every property a trace of this spec may name, as `checker.trace.replay.reproduce` judges them: the
    invariants, terminals and liveness properties of the model, the spec's history checks and `Converges`
    (on one state: false only in a quiescent state where the role's nodes hold different values), under the
    spec's fairness. `check` judges committed counterexamples with it, and `faultcheck replay` any trace."""
    try:
        props = Properties.of(system, model.predicates("liveness"), fairness=spec.fairness,
                              extra=history_predicates(spec, system))
    except PropertyError as e:
        raise SpecError(f"{spec.where}: {e}") from None
    if "converges" in spec.consistency:
        props = replace(props, state={**props.state, "Converges": _converged(spec.consistency["converges"], system)})
    return props


def _converged(role_field: str, system: TransitionSystem):
    role, _, fld = role_field.partition(".")
    schema = system.schema
    nodes = schema.groups.get(role, ())

    def holds(raw: tuple) -> bool:
        if any(t != raw for a in system.actions for t in a.successors(raw)):
            return True
        st = schema.decode(raw)
        return len({st[n]._asdict()[fld] for n in nodes}) <= 1

    return holds
