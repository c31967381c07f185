"""Replay: re-execute a trace's steps against a model, report the first one that no longer matches, and
judge whether the end of the trace really shows what it claims (`reproduce`: the one place both
`faultcheck check` and `faultcheck replay` ask "is this still a counterexample?").

Imports `checker.engine` (fairness), `checker.logic`, `checker.semantics`, `checker.model` and the trace format.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engine.liveness import STRONG, WEAK, Fairness
from ..logic import Predicate, PropertyError, compile_predicate
from ..logic.temporal import LivenessProperty, compile_liveness
from ..model import SchemaError, StateSchema
from ..semantics import Step, TransitionSystem
from .format import Trace


@dataclass(frozen=True)
class Replay:
    """ok: every step re-executed to its recorded state (and, from `reproduce`, the end shows the recorded
    violation; `message` then says so in one line). Otherwise `step` is the first index that did not
    match (0 is the initial state; None when every step matched but the end does not violate) and
    `message` says how."""

    ok: bool
    step: int | None = None
    message: str = ""
    path: tuple[tuple, ...] = ()  # raw states re-executed, up to the last one that matched


@dataclass(frozen=True)
class Properties:
    """What a trace's `property` may name: state properties (invariants, history checks; each holds or not
    on a raw state), liveness properties judged on a lasso under `fairness`, and the terminal predicates
    that make a state with no successor an end rather than a deadlock."""

    state: Mapping[str, Callable[[tuple], bool]] = field(default_factory=dict)
    liveness: Mapping[str, LivenessProperty] = field(default_factory=dict)
    fairness: Fairness = field(default_factory=Fairness)
    terminals: Sequence[Callable[[tuple], bool]] = ()
    reachable: Mapping[str, Callable[[tuple], bool]] = field(default_factory=dict)  # what a witness trace reaches

    @classmethod
    def of(cls, system: TransitionSystem, liveness: Mapping[str, Callable] | None = None, *,
           fairness: Mapping[str, str] | None = None, extra: Sequence[Predicate] = ()) -> Properties:
        """Every invariant and terminal of `system`, the declared `liveness` methods (name -> method), the
        `extra` state predicates (a spec's history checks), under the default fairness updated by `fairness`.
        A property that does not compile is a PropertyError naming it."""
        schema = system.schema
        state: dict[str, Callable[[tuple], bool]] = {n: _compiled(n, fn, schema).check
                                                     for n, fn in system.invariants.items()}
        state.update({p.name: p.check for p in extra})
        lives = {}
        for n, fn in (liveness or {}).items():
            try:
                lives[n] = compile_liveness(n, fn, schema)
            except PropertyError as e:
                raise PropertyError(f"liveness {n}: {e}") from None
        terms = [_compiled(n, fn, schema).check for n, fn in system.terminals.items()]
        reach = {n: _compiled(n, fn, schema).check for n, fn in system.reachables.items()}
        return cls(state, lives, Fairness({**Fairness().kinds, **(fairness or {})}), terms, reach)

    def names(self) -> list[str]:
        return sorted({*self.state, *self.liveness, "deadlock"})


def _compiled(name: str, fn: Callable, schema: StateSchema) -> Predicate:
    try:
        return compile_predicate(name, fn, schema)
    except PropertyError as e:
        raise PropertyError(f"{name}: {e}") from None


def replay(system: TransitionSystem, trace: Trace) -> Replay:
    """Re-execute `trace` on `system`.

    Each step must be enabled in the state before it, and lead to the state the
    trace recorded (a step with several outcomes must have that one among them). A step that
    records its choice (the options its handler's `choose` calls returned) must lead there by
    exactly that choice; a step without one (an older trace) may by any.
    """
    schema = system.schema
    path: list[tuple] = []
    for i, st in enumerate(trace.steps):
        try:
            want = schema.from_json(st.state, where=f"steps[{i}].state")
        except SchemaError as e:
            return Replay(False, i, f"step {i} ({st.label}): the recorded state does not fit the model: {e}", tuple(path))
        if i == 0:
            if want not in system.initial:
                near = _differences(schema, want, system.initial)
                return Replay(False, 0, "step 0: the recorded initial state is not an initial state of the model"
                              + (f" ({near}, in the nearest initial state)" if near else ""), ())
            path.append(want)
            continue
        step = st.as_step()
        if step.kind == "stutter":
            if want != path[-1]:
                return Replay(False, i, f"step {i} (stutter): a stutter step changes nothing, but the state differs: "
                              f"{_differences(schema, want, [path[-1]])}", tuple(path))
            path.append(want)
            continue
        if system.action_named(step.action) is None:
            return Replay(False, i, f"step {i} ({st.label}): the model has no action {step.action!r}", tuple(path))
        outcomes = system.apply(path[-1], step)
        if not outcomes and step.choice:
            offered = [st2.choice for st2, _ in system.labelled_successors(path[-1])
                       if st2.without_choice() == step.without_choice()]
            if offered:
                offers = "; ".join(", ".join(c) or "(none)" for c in offered)
                return Replay(False, i, f"step {i} ({st.label}): the handler offers no choice "
                              f"{', '.join(step.choice)}; it offers {offers}", tuple(path))
        if not outcomes:
            return Replay(False, i, f"step {i} ({st.label}): not enabled in the state before it", tuple(path))
        if want not in outcomes:
            return Replay(False, i, f"step {i} ({st.label}): the state differs: {_differences(schema, want, outcomes)}",
                          tuple(path))
        path.append(want)
    return Replay(True, None, "", tuple(path))


def _differences(schema: StateSchema, want: tuple, candidates: Sequence[tuple], shown: int = 3) -> str:
    """The fields where the nearest of `candidates` differs from the recorded state `want`:
    'rmState.rm2 recorded "aborted", replay gives "committed"' (at most `shown`, then how many more)."""
    recorded = schema.to_json(want)
    best: list[tuple[str, Any, Any]] | None = None
    for c in candidates:
        d = list(_leaf_diff(recorded, schema.to_json(c), ""))
        if best is None or len(d) < len(best):
            best = d
    if not best:
        return ""
    parts = [_one_difference(where, a, b) for where, a, b in best[:shown]]
    more = f" (and {len(best) - shown} more)" if len(best) > shown else ""
    return "; ".join(parts) + more


def _one_difference(where: str, a: Any, b: Any) -> str:
    if isinstance(a, list) and isinstance(b, list):  # a set, a sequence, the network: what only one side holds
        ka, kb = Counter(map(_key, a)), Counter(map(_key, b))
        only_a = [json.loads(k) for k in sorted((ka - kb).elements())]
        only_b = [json.loads(k) for k in sorted((kb - ka).elements())]
        if only_a or only_b:
            if only_a and only_b:
                return f"{where} recorded with {_short(only_a)}, replay gives {_short(only_b)} instead"
            if only_a:
                return f"{where} recorded with {_short(only_a)}, replay gives it without"
            return f"{where} recorded without {_short(only_b)}, replay gives it with"
    return f"{where} recorded {_short(a)}, replay gives {_short(b)}"


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def _leaf_diff(a: Any, b: Any, where: str):
    """(path, recorded, replayed) for each differing leaf; objects with the same keys are entered."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        for k in a:
            yield from _leaf_diff(a[k], b[k], f"{where}.{k}" if where else str(k))
    elif a != b:
        yield where or "the state", a, b


def _short(v: Any, limit: int = 60) -> str:
    text = json.dumps(v, separators=(", ", ": "), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reproduce(system: TransitionSystem, trace: Trace, properties: Properties) -> Replay:
    """Replay `trace` and judge its end: ok only if every step matches and the end really shows what the
    trace records. An invariant (or any state property): the final state violates it. "deadlock": the
    final state has no successor and is not terminal. A liveness property: the trace is a lasso whose
    cycle closes, is fair under `properties.fairness` (as checker.engine.liveness judges a cycle: a weakly
    fair step class enabled all along it is taken in it, a strongly fair one enabled anywhere on it is
    taken in it) and never does what the property promises. A trace of an error (verdict "error", no
    property): the model's code raises in the final state. A reachability witness (verdict "witness"): the
    final state satisfies the @reachable property it names. A path explored by hand (verdict "path", no
    property): every step matches, nothing more. The model's own exceptions propagate."""
    r = replay(system, trace)
    if not r.ok:
        return r
    path = r.path
    loop = trace.extra.get("loop")
    n = len(trace)
    if loop is not None:
        why = _cycle_problem(path, loop)
        if why:
            return Replay(False, None, why, path)
    name = trace.property
    if trace.verdict == "witness":  # a reachability witness: its end has the property
        if name not in properties.reachable:
            return Replay(False, None, f"the model has no reachability property {name!r} (it has: "
                          f"{', '.join(sorted(properties.reachable)) or 'none'})", path)
        if not properties.reachable[name](path[-1]):
            return Replay(False, None, f"the final state does not satisfy {name}", path)
        return Replay(True, None, f"{_steps(n)} replayed; the final state reaches {name}", path)
    if name is None and trace.verdict == "path":  # a path explored by hand: it claims only that its steps happen
        return Replay(True, None, f"{_steps(n)} replayed (a path: it records no violation)", path)
    if name is None:
        if trace.verdict == "error":
            return _reproduce_error(system, properties, path, trace.reason)
        return Replay(False, None, f"the trace names no property (verdict: {trace.verdict}); nothing to reproduce",
                      path)
    if name == "deadlock":
        final = path[-1]
        step = next(iter(system.labelled_successors(final)), None)
        if step is not None:
            return Replay(False, None, f"the final state is not a deadlock: {step[0].label} is enabled in it", path)
        if any(t(final) for t in properties.terminals):
            return Replay(False, None, "the final state is not a deadlock: it is a terminal state", path)
        return Replay(True, None, f"{_steps(n)} replayed; the final state is a deadlock", path)
    if name in properties.state:
        if properties.state[name](path[-1]):
            return Replay(False, None, f"the final state satisfies {name}", path)
        return Replay(True, None, f"{_steps(n)} replayed; the final state violates {name}", path)
    if name in properties.liveness:
        if loop is None:
            return Replay(False, None, f"{name} is a liveness property: the trace needs a loop (a lasso) to violate "
                          "it, and has none", path)
        why = _fair_problem(system, path, loop, properties.fairness) or _lasso_satisfies(properties.liveness[name],
                                                                                        path, loop)
        if why:
            return Replay(False, None, why, path)
        return Replay(True, None, f"{_steps(n)} replayed; the cycle from step {loop} is fair and violates {name}", path)
    return Replay(False, None, f"the model has no property {name!r} (it has: {', '.join(properties.names())})", path)


def _steps(n: int) -> str:
    return f"{n} step{'s' if n != 1 else ''}"


def _cycle_problem(path: Sequence[tuple], loop: Any) -> str:
    if not isinstance(loop, int) or isinstance(loop, bool) or not 0 <= loop < len(path):
        return f"loop: {loop!r} is not the index of a step (0..{len(path) - 1})"
    if loop == len(path) - 1:
        return f"the cycle does not close: it starts at step {loop}, the last, and takes no step"
    if path[-1] != path[loop]:
        return f"the cycle does not close: the final state is not the state of step {loop}"
    return ""


def _reproduce_error(system: TransitionSystem, properties: Properties, path: Sequence[tuple], reason: str) -> Replay:
    final = path[-1]
    try:
        for a in system.actions:
            a.successors(final)
        for check in properties.state.values():
            check(final)
    except Exception as e:  # the model's own code raising is what the trace shows
        return Replay(True, None, f"{_steps(len(path) - 1)} replayed; the final state raises {type(e).__name__}: {e}",
                      path)
    return Replay(False, None, "the final state raises nothing" + (f" (the trace records: {reason})" if reason else ""),
                  path)


def _step_class(step: Step, per_channel: bool) -> Step:
    """What fairness speaks of (as checker.engine.liveness.Graph interns it): never the choice."""
    if per_channel and step.kind == "deliver":
        return Step("deliver", "channel", step.params[:2])
    return step.without_choice()


def _fair_problem(system: TransitionSystem, path: Sequence[tuple], loop: int, fairness: Fairness) -> str:
    """Why the cycle path[loop:] is not fair, or ''."""
    per_channel = "channels" in system.schema.variables
    cycle = path[loop:]
    enabled: list[dict[Step, None]] = []  # per cycle state, its enabled step classes in order
    taken: set[Step] = set()
    for s, t in zip(cycle, cycle[1:]):
        here: dict[Step, None] = {}
        for step, u in system.labelled_successors(s):
            c = _step_class(step, per_channel)
            here[c] = None
            if u == t:
                taken.add(c)
        enabled.append(here)
    for c in enabled[0]:
        if fairness.of(c) == WEAK and c not in taken and all(c in e for e in enabled):
            return (f"the cycle is not fair: {c.label} is weakly fair, enabled all along the cycle and never taken "
                    "in it")
    for e in enabled:
        for c in e:
            if fairness.of(c) == STRONG and c not in taken:
                return f"the cycle is not fair: {c.label} is strongly fair, enabled on the cycle and never taken in it"
    return ""


def _lasso_satisfies(prop: LivenessProperty, path: Sequence[tuple], loop: int) -> str:
    """Why the behaviour path[:loop] (path[loop:])^omega satisfies `prop`, or '' when it violates it."""
    cycle = path[loop:]
    if prop.kind == "eventually":  # the whole behaviour must avoid P
        hit = next((i for i, s in enumerate(path) if prop.p.check(s)), None)
        return "" if hit is None else f"{prop.name} holds on this trace: step {hit} reaches what it promises"
    if prop.kind == "leads_to":
        assert prop.q is not None
        q_on_cycle = any(prop.q.check(s) for s in cycle)
        for i, s in enumerate(path):
            if prop.p.check(s) and not q_on_cycle and not any(prop.q.check(u) for u in path[i:]):
                return ""
        return f"{prop.name} holds on this trace: wherever its premise holds, its goal holds then or later"
    if any(prop.p.check(s) for s in cycle):
        return f"{prop.name} holds on this trace: a state on the cycle reaches what it promises"
    return ""


__all__ = ["Properties", "Replay", "replay", "reproduce"]
