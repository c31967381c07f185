"""One person's walk through a protocol's state space: the path so far, the steps enabled at its end.

A `Session` holds a path of raw states from an initial state and the steps between them. It computes
only what the current state needs (its successors, the invariants in it), so it works on specs far too
large to check. Taking a step that is not the one undone last forgets the undone ones (as a browser's
history does); `goto` moves anywhere between the first state and the last undone one. A "jump" replaces
the path by one a finder returns (the shortest counterexample, a reachability witness): the finders
come from whoever made the session (the spec layer), which knows where counterexamples live and how
to search. `trace()` is the path as a trace file that `faultcheck show` and `faultcheck replay`
accept; `view()` is everything a page shows, as JSON.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..logic import Predicate
from ..model.typejson import describe
from ..semantics import FAULT_KINDS, Step, TransitionSystem
from ..trace import Trace, TraceStep
from ..trace.format import readable_state


class ExploreError(Exception):
    """A request the session cannot follow (a step that is not enabled, a jump it has no finder for); one line."""


@dataclass
class Finding:
    """What a finder found: a path of raw states from an initial state (None: nothing), and what it is."""

    path: list[tuple] | None
    message: str
    property: str | None = None  # the property the path's end violates (or reaches, for a witness)
    verdict: str = "violated"  # "violated" | "witness"
    loop: int | None = None  # a lasso: where its cycle starts


@dataclass
class Jump:
    """A button: `name` is what the page asks for, `label` what it shows."""

    name: str
    label: str
    find: Callable[[], Finding]


@dataclass
class _Jumped:
    """The finding the last jump made the path from (it speaks for the path while the path is exactly it)."""

    finding: Finding


@dataclass
class Session:
    """A walk through `system` (see the module docstring). `explain(name, raw)` says why a formula
    invariant fails (its failing instance and the fields that make it fail), as a trace's
    "violation_core"; `reachables` are @reachable properties shown as reached or not."""

    system: TransitionSystem
    invariants: Sequence[Predicate]
    protocol: str
    spec: str | None = None
    reachables: Sequence[Predicate] = ()
    terminals: Sequence[Predicate] = ()
    explain: Callable[[str, tuple], dict[str, Any] | None] | None = None
    jumps: Sequence[Jump] = ()
    seed: int = 0
    constraints: Sequence[Predicate] = ()  # TLC's CONSTRAINT: no step out of a state that fails one
    action_constraints: Sequence[Any] = ()  # TLC's ACTION_CONSTRAINT (`.check(s, t)`): a step it forbids is not offered
    path: list[tuple] = field(init=False)
    steps: list[Step] = field(init=False)  # steps[i] leads from path[i] to path[i + 1]
    undone: list[tuple[Step, tuple]] = field(init=False)  # what back() took off, the nearest first
    message: str = field(init=False, default="")
    _jumped: _Jumped | None = field(init=False, default=None)
    _enabled: tuple[tuple, list[tuple[Step, tuple]]] | None = field(init=False, default=None)
    _cores: dict[tuple[str, tuple], dict[str, Any] | None] = field(init=False, default_factory=dict)
    _walks: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not self.system.initial:
            raise ExploreError(f"{self.system.name} has no initial state")
        self.restart(0)

    # -- where we are ----------------------------------------------------------------------------------------------

    @property
    def state(self) -> tuple:
        return self.path[-1]

    @property
    def position(self) -> int:
        """The number of steps taken: 0 at an initial state."""
        return len(self.path) - 1

    def enabled(self) -> list[tuple[Step, tuple]]:
        """Every (step, successor) of the current state, in the order the checker takes them; as the checker,
        none from a state beyond a constraint, and none an action constraint forbids."""
        s = self.state
        if self._enabled is None or self._enabled[0] != s:
            steps = [] if self.beyond() else [(st, t) for st, t in self.system.labelled_successors(s)
                                              if all(c.check(s, t) for c in self.action_constraints)]
            self._enabled = (s, steps)
        return self._enabled[1]

    def beyond(self) -> list[str]:
        """The constraints the current state fails (the checker explores no further from such a state)."""
        return [c.name for c in self.constraints if not _holds(c, self.state)]

    def violated(self) -> list[Predicate]:
        """The invariants false in the current state."""
        return [p for p in self.invariants if not _holds(p, self.state)]

    # -- moving ----------------------------------------------------------------------------------------------------

    def restart(self, initial: int = 0) -> None:
        """Back to initial state number `initial` (0: the first), forgetting the path."""
        if not 0 <= initial < len(self.system.initial):
            raise ExploreError(f"initial state {initial}: there are {len(self.system.initial)} (0.."
                               f"{len(self.system.initial) - 1})")
        self.path = [self.system.initial[initial]]
        self.steps = []
        self.undone = []
        self._jumped = None
        self.message = ""

    def take(self, index: int) -> Step:
        """Take enabled step number `index` (in `enabled()`'s order)."""
        enabled = self.enabled()
        if not 0 <= index < len(enabled):
            raise ExploreError(f"step {index}: {len(enabled)} step{'s are' if len(enabled) != 1 else ' is'} enabled "
                               f"here (0..{len(enabled) - 1})" if enabled else f"step {index}: nothing is enabled here")
        step, t = enabled[index]
        if self.undone and self.undone[-1] == (step, t):
            self.undone.pop()  # the step undone last, taken again: what was undone after it stays redoable
        else:
            self.undone = []
        self._push(step, t)
        self.message = ""
        return step

    def take_label(self, label: str) -> Step:
        """Take the enabled step labelled `label` (the first such, in `enabled()`'s order)."""
        for i, (step, _) in enumerate(self.enabled()):
            if step.label == label:
                return self.take(i)
        raise ExploreError(f"{label!r} is not enabled here")

    def back(self) -> bool:
        """Undo the last step; False at an initial state."""
        if not self.steps:
            return False
        t = self.path.pop()
        self.undone.append((self.steps.pop(), t))
        self.message = ""
        return True

    def forward(self) -> bool:
        """Redo the step undone last; False when there is none."""
        if not self.undone:
            return False
        step, t = self.undone.pop()
        self._push(step, t)
        self.message = ""
        return True

    def goto(self, position: int) -> None:
        """Go to step `position` of the path and what was undone (0: the initial state)."""
        last = self.position + len(self.undone)
        if not 0 <= position <= last:
            raise ExploreError(f"position {position}: the path goes from 0 to {last}")
        while self.position > position:
            self.back()
        while self.position < position:
            self.forward()

    def walk(self, n: int) -> int:
        """Take up to `n` steps at random (each enabled step alike), stopping early where an invariant is
        violated or nothing is enabled; returns the number taken. The walks are seeded: the k-th walk of
        a session with a given seed takes the same steps every time."""
        if n < 1:
            raise ExploreError(f"walk {n}: the number of steps is at least 1")
        rng = random.Random(f"{self.seed}:{self._walks}")
        self._walks += 1
        taken = 0
        while taken < n and not self.violated():
            enabled = self.enabled()
            if not enabled:
                break
            self.take(rng.randrange(len(enabled)))
            taken += 1
        why = ("an invariant is violated" if self.violated() else
               f"beyond the constraint {', '.join(self.beyond())}" if self.beyond() else
               "nothing is enabled" if not self.enabled() else "")
        self.message = f"random walk: {taken} step{'s' if taken != 1 else ''}" + (f" (stopped: {why})" if why else "")
        return taken

    def jump(self, name: str) -> Finding:
        """Replace the path by what the jump `name` finds (unchanged, with its message, when it finds nothing)."""
        jump = next((j for j in self.jumps if j.name == name), None)
        if jump is None:
            raise ExploreError(f"jump {name!r}: this session has {', '.join(j.name for j in self.jumps) or 'none'}")
        found = jump.find()
        self.message = found.message
        if found.path is None:
            return found
        steps = []
        for s, t in zip(found.path, found.path[1:]):
            step = self.system.find_step(s, t)
            if step is None and s == t:
                step = Step("stutter", "stutter")  # a lasso's cycle of one state where nothing fair is enabled
            if step is None:
                raise ExploreError(f"jump {name!r}: the path found has a step no action takes")
            steps.append(step)
        self.path = list(found.path)
        self.steps = steps
        self.undone = []
        self._jumped = _Jumped(found)
        return found

    def _push(self, step: Step, t: tuple) -> None:
        self.steps.append(step)
        self.path.append(t)

    # -- what it shows ---------------------------------------------------------------------------------------------

    def core(self, p: Predicate) -> dict[str, Any] | None:
        """Why `p` fails in the current state (cached per state)."""
        key = (p.name, self.state)
        if key not in self._cores:
            self._cores[key] = self.explain(p.name, self.state) if self.explain is not None else None
        return self._cores[key]

    def trace(self) -> Trace:
        """The path as a trace: "violated" with the first invariant the last state violates (and why), the
        lasso a liveness jump found while the path is still it, else verdict "path" (a walk that claims
        nothing but that its steps can be taken)."""
        schema = self.system.schema
        steps = [TraceStep("init", schema.to_json(self.path[0]))]
        for step, t in zip(self.steps, self.path[1:]):
            steps.append(_trace_step(step, schema.to_json(t)))
        types = {name: describe(t) for name, t in schema.variables.items()}
        trace = Trace(self.protocol, dict(self.system.params), steps, None, "path", self.spec, "", {"types": types})
        jumped = self._jumped.finding if self._jumped is not None and self._jumped.finding.path == self.path else None
        bad = self.violated()
        if jumped is not None and jumped.loop is not None:
            trace.property, trace.verdict = jumped.property, jumped.verdict
            trace.extra["loop"] = jumped.loop
        elif bad:
            trace.property, trace.verdict = bad[0].name, "violated"
            why = self.core(bad[0])
            if why:
                trace.extra["violation_core"] = why
        elif jumped is not None and jumped.verdict == "witness":
            trace.property, trace.verdict, trace.reason = jumped.property, "witness", f"{jumped.property} reached"
        return trace

    def view(self) -> dict[str, Any]:
        """What a page shows of the current state, as JSON (see checker/explorer/page.py)."""
        from ..trace.msc import to_svg

        schema = self.system.schema
        trace = self.trace()
        types = trace.extra.get("types")
        enabled = self.enabled()
        invariants = []
        for p in self.invariants:
            ok, error = _evaluate(p, self.state)
            entry: dict[str, Any] = {"name": p.name, "holds": ok}
            if error:
                entry["error"] = error
            elif not ok:
                why = self.core(p) or {}
                entry["instance"] = why.get("instance") or []
                entry["fields"] = why.get("fields") or []
                if why.get("explanation"):
                    entry["explanation"] = why["explanation"]
            invariants.append(entry)
        terminal = any(_holds(t, self.state) for t in self.terminals)
        return {
            "protocol": self.protocol,
            "spec": self.spec,
            "params": dict(self.system.params),
            "position": self.position,
            "last": self.position + len(self.undone),
            "initial": len(self.system.initial),
            "step": self.steps[-1].label if self.steps else None,
            "state": readable_state(schema.to_json(self.state), types),
            "previous": readable_state(schema.to_json(self.path[-2]), types) if len(self.path) > 1 else None,
            "enabled": [{"index": i, "label": st.label, "kind": st.kind, "fault": st.kind in FAULT_KINDS}
                        for i, (st, _) in enumerate(enabled)],
            "invariants": invariants,
            "reachables": [{"name": p.name, "reached": _holds(p, self.state)} for p in self.reachables],
            "deadlock": not enabled and not terminal and not self.beyond(),
            "beyond": self.beyond(),
            "terminal": terminal,
            "jumps": [{"name": j.name, "label": j.label} for j in self.jumps],
            "verdict": trace.verdict,
            "property": trace.property,
            "message": self.message,
            "chart": to_svg(trace),
        }


def _trace_step(step: Step, state: dict[str, Any]) -> TraceStep:
    return TraceStep(step.kind, state, step.action, step.params, choice=step.choice)


def _evaluate(p: Predicate, raw: tuple) -> tuple[bool, str]:
    """Whether `p` holds in `raw`, and what it raised if it raised (then it does not hold)."""
    try:
        return p.check(raw), ""
    except Exception as e:  # the model's own code: shown on the page, as the checker reports it
        return False, f"raised {type(e).__name__}: {e}"


def _holds(p: Predicate, raw: tuple) -> bool:
    return _evaluate(p, raw)[0]


__all__ = ["ExploreError", "Finding", "Jump", "Session"]
