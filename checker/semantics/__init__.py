"""Transition systems: what the engine explores, built from a model.

A `TransitionSystem` is initial raw states plus labelled actions, each of which
maps a raw state to all of its successors in one call. The low-level `Model`
form maps onto it one for one; the message-passing form (nodes, network,
faults) composes into the same shape. Imports `checker.model` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import Model, StateSchema, StateView
from ..model.node import choice_text

FAULT_KINDS = frozenset({"crash", "partition", "drop", "duplicate", "clock_jump"})  # steps that are faults (not recoveries)


@dataclass(frozen=True)
class Step:
    """What happened in one step, independent of successor order: an action, its parameters and the
    options the handler's `choose` calls returned.

    `choice` holds one text per `choose` call the step's handler made, in call order (`choice_text`:
    a node id as its name, "(a1, a2)" for a quorum); () when it made none, or when a step was recorded
    without it (a trace from before choices were kept). The label ends with " (chose <options>)", the
    options joined by ", ": "Prepare tm1→rm1 (chose abort)", "timer propose@p1 (chose (a1, a2))".
    Two successors of one delivery that differ only by the choice have different steps and labels."""

    kind: str  # "action" (low-level form); "deliver", "timer", "request", "tick", "clock"; faults: "crash", "restart",
    # "partition", "heal", "drop", "duplicate", "clock_jump"
    action: str
    params: tuple[str, ...] = ()
    choice: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How people read the step: "RMPrepare(rm1)", "Prepared rm1→tm1", "timer timeout@b1",
        "Prepare tm1→rm1 (chose abort)"."""
        if self.choice:
            return f"{self._base_label()} (chose {', '.join(self.choice)})"
        return self._base_label()

    def without_choice(self) -> Step:
        """The step with its choice left out (what fairness and the step's class speak of)."""
        return Step(self.kind, self.action, self.params) if self.choice else self

    def _base_label(self) -> str:
        if self.kind in ("deliver", "drop", "duplicate") and len(self.params) == 3:
            src, dst, msg = self.params
            return f"{msg} {src}→{dst}" if self.kind == "deliver" else f"{self.kind} {msg} {src}→{dst}"
        if self.kind == "deliver" and len(self.params) == 4:  # with what a full channel lost
            src, dst, msg, note = self.params
            return f"{msg} {src}→{dst} ({note})"
        if self.kind == "timer" and len(self.params) == 3:
            return f"timer {self.params[1]}@{self.params[0]} ({self.params[2]})"
        if self.kind in ("crash", "restart") and len(self.params) == 1:
            return f"{self.kind} {self.params[0]}"
        if self.kind == "partition" and len(self.params) == 2:
            return f"partition {self.params[0]} | {self.params[1]}"
        if self.kind == "clock" and len(self.params) == 1:
            return f"clock of {self.params[0]} +1"
        if self.kind == "clock_jump" and len(self.params) == 2:
            return f"clock of {self.params[0]} jumps {self.params[1]}"
        if self.kind == "heal":
            return "heal"
        if self.kind == "stutter":
            return "stutter (nothing fair is enabled: the state repeats forever)"
        if self.kind == "detect" and len(self.params) == 2:
            return f"{self.params[0]} detects the crash of {self.params[1]}"
        if self.kind == "detect" and len(self.params) == 3:  # detector = "partition": a timeout on a live peer
            return f"{self.params[0]} times out on {self.params[1]} ({self.params[2]})"
        if self.kind == "timer" and len(self.params) == 2:
            return f"timer {self.params[1]}@{self.params[0]}"
        if self.kind == "request" and self.params:
            node, *values = self.params
            return f"{self.action.split('.')[-1]}({', '.join(values)})@{node}"
        return f"{self.action}({', '.join(self.params)})" if self.params else self.action

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "action": self.action, "params": list(self.params)}
        if self.choice:
            out["choice"] = list(self.choice)
        out["label"] = self.label
        return out


@dataclass(frozen=True)
class Action:
    """One named action: `successors(s)` gives every successor; `instances(s)` labels each with its
    parameters; `choices(s)`, where a handler may `choose`, gives (parameters, successor, choice) for the
    same instances in the same order (None: no choices, every choice is ()).

    The engine calls `successors(s)` directly, once per action per state; only labelling asks for choices.
    """

    name: str
    successors: Callable[[tuple], Sequence[tuple]]
    instances: Callable[[tuple], Iterable[tuple[tuple[str, ...], tuple]]]
    kind: str = "action"
    choices: Callable[[tuple], Iterable[tuple[tuple[str, ...], tuple, tuple[str, ...]]]] | None = None

    def steps(self, s: tuple) -> Iterator[tuple[Step, tuple]]:
        """(step, successor) for every instance of this action in `s`, each step with its choice."""
        if self.choices is not None:
            for params, t, choice in self.choices(s):
                yield Step(self.kind, self.name, params, choice), t
        else:
            for params, t in self.instances(s):
                yield Step(self.kind, self.name, params), t


@dataclass
class TransitionSystem:
    """Everything the engine needs, over flat int tuples."""

    name: str
    schema: StateSchema
    initial: list[tuple]
    actions: list[Action]
    invariants: Mapping[str, Callable[[StateView], bool]] = field(default_factory=dict)
    constraints: Mapping[str, Callable[[StateView], bool]] = field(default_factory=dict)
    terminals: Mapping[str, Callable[[StateView], bool]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    # TLC's ACTION_CONSTRAINT (over two states), VIEW (at most one) and Stateright's "sometimes"
    action_constraints: Mapping[str, Callable[[StateView, StateView], bool]] = field(default_factory=dict)
    views: Mapping[str, Callable[[StateView], Any]] = field(default_factory=dict)
    reachables: Mapping[str, Callable[[StateView], bool]] = field(default_factory=dict)

    def labelled_successors(self, s: tuple) -> Iterator[tuple[Step, tuple]]:
        """Every (step, successor) of `s`, in action order, each step with its choice (slow: for traces,
        not the search)."""
        for a in self.actions:
            yield from a.steps(s)

    def find_step(self, s: tuple, t: tuple) -> Step | None:
        """The first step (in action order, and among one action's instances, in choice order) that leads
        from `s` to `t`, with its choice."""
        for a in self.actions:
            if t in a.successors(s):
                for step, u in a.steps(s):
                    if u == t:
                        return step
        return None

    def apply(self, s: tuple, step: Step) -> list[tuple]:
        """The successors of `s` by exactly `step` (empty when it is not enabled). A step without a choice
        (recorded before choices were kept) stands for every choice of its instance."""
        if step.choice:
            return [t for st, t in self.labelled_successors(s) if st == step]
        return [t for st, t in self.labelled_successors(s) if st.without_choice() == step]

    def action_named(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)


def from_model(model: Model) -> TransitionSystem:
    """The transition system of a low-level model: its actions, unchanged. `system.model` is the model
    (for `logic.relation.kinds`: its formula actions as Z3 relations)."""
    system = TransitionSystem(
        name=model.name,
        schema=model.schema,
        initial=model.initial_states(),
        actions=[Action(a.name, a.fn, a.instances) for a in model.actions],
        invariants=model.predicates("invariant"),
        constraints=model.predicates("constraint"),
        terminals=model.predicates("terminal"),
        params=dict(model.params),
        action_constraints=model.predicates("action_constraint"),
        views=model.predicates("view"),
        reachables=model.predicates("reachable"),
    )
    system.model = model  # type: ignore[attr-defined]
    return system


__all__ = ["FAULT_KINDS", "Action", "Step", "TransitionSystem", "choice_text", "from_model"]
