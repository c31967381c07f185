"""Replay: re-execute a trace's steps against a model and report the first one that no longer matches.

Imports `checker.semantics`, `checker.model` and the trace format.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import SchemaError
from ..semantics import TransitionSystem
from .format import Trace


@dataclass(frozen=True)
class Replay:
    """ok: every step re-executed to its recorded state. Otherwise `step` is the first
    index that did not (0 is the initial state) and `message` says how."""

    ok: bool
    step: int | None = None
    message: str = ""
    path: tuple[tuple, ...] = ()  # raw states re-executed, up to the last one that matched


def replay(system: TransitionSystem, trace: Trace) -> Replay:
    """Re-execute `trace` on `system`.

    Each step must be enabled in the state before it, and lead to the state the
    trace recorded (a step with several outcomes must have that one among them).
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
                return Replay(False, 0, "step 0: the recorded initial state is not an initial state of the model", ())
            path.append(want)
            continue
        step = st.as_step()
        if step.kind == "stutter":
            if want != path[-1]:
                return Replay(False, i, f"step {i} (stutter): a stutter step changes nothing, but the state differs",
                              tuple(path))
            path.append(want)
            continue
        if system.action_named(step.action) is None:
            return Replay(False, i, f"step {i} ({st.label}): the model has no action {step.action!r}", tuple(path))
        outcomes = system.apply(path[-1], step)
        if not outcomes:
            return Replay(False, i, f"step {i} ({st.label}): not enabled in the state before it", tuple(path))
        if want not in outcomes:
            got = outcomes[0]
            diff = [v for v in schema.variables if got[schema.slice(v)] != want[schema.slice(v)]]
            shown = ", ".join(f"{v} = {schema.format_var(v, got)} (trace: {schema.format_var(v, want)})" for v in diff[:3])
            return Replay(False, i, f"step {i} ({st.label}): leads to a different state: {shown}", tuple(path))
        path.append(want)
    return Replay(True, None, "", tuple(path))
