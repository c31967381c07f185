"""The trace format: a versioned JSON file that stands on its own.

    {"format": "faultcheck-trace/1",
     "spec": "specs/x.toml" | null, "protocol": "pkg.module:Class", "params": {...},
     "property": "TCConsistent" | "deadlock" | null, "verdict": "violated" | "error" | ...,
     "reason": "...",                         # optional: what the error or bound was
     "steps": [{"kind": "init", "state": {...}},
               {"kind": "action", "action": "RMPrepare", "params": ["rm1"],
                "label": "RMPrepare(rm1)", "state": {...}},
               {"kind": "deliver", "action": "Prepare", "params": ["tm1", "rm1", "Prepare"],
                "choice": ["abort"], "label": "Prepare tm1→rm1 (chose abort)", "state": {...}}, ...],
     "loop": null}

A step names what happened (kind, action, parameters), never a successor
index, and carries the whole resulting state, decoded. A step whose handler
called `choose` records the options it returned, as text, in "choice" (absent:
no choice, or a trace written before choices were kept; replay then takes the
first outcome of the step that fits). Reserved optional keys,
filled by later capabilities and kept on load: per step "sent"/"received"
(messages, each with the step it was sent at) and "permutation" (symmetry);
top level "loop" (where a lasso's cycle starts), "violation_core" (why the
last state violates a formula: the failing instance and the fields that make
it fail) and "types" (each variable's schema type, described in JSON, so that
exports such as ITF need no model).
Imports `checker.semantics` and `checker.model`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import SchemaError
from ..model.typejson import describe, from_description
from ..semantics import Step, TransitionSystem

FORMAT = "faultcheck-trace/1"
STEP_KEYS = {"kind", "action", "params", "choice", "label", "state", "sent", "received", "permutation"}
TOP_KEYS = {"format", "spec", "protocol", "params", "property", "verdict", "reason", "steps", "loop", "violation_core",
            "types"}


class TraceError(Exception):
    """A trace file is missing, malformed or does not fit the model; one line, naming the file."""


@dataclass
class TraceStep:
    """One step of a trace: what happened (kind, action, params; `choice`: the options the handler's
    `choose` calls returned, as `Step` has them) and the whole state after it."""

    kind: str  # "init" for the first step, else the step's kind ("action", ...)
    state: dict[str, Any]  # every variable's decoded value, as JSON
    action: str | None = None
    params: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # reserved keys, kept as they are
    choice: tuple[str, ...] = ()  # () when the handler chose nothing (or the trace predates choices)

    @property
    def label(self) -> str:
        """As `Step.label`: "Prepare tm1→rm1 (chose abort)"; "initial state" for the first step."""
        if self.kind == "init":
            return "initial state"
        return self.as_step().label

    def as_step(self) -> Step:
        return Step(self.kind, self.action or "", self.params, self.choice)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind != "init":
            out.update(action=self.action, params=list(self.params))
            if self.choice:
                out["choice"] = list(self.choice)
            out["label"] = self.label
        out["state"] = self.state
        out.update(self.extra)
        return out


@dataclass
class Trace:
    """A sequence of steps from an initial state, with what it shows."""

    protocol: str
    params: dict[str, Any]
    steps: list[TraceStep]
    property: str | None = None
    verdict: str = "violated"
    spec: str | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        """The number of steps after the initial state."""
        return len(self.steps) - 1

    def _repr_html_(self) -> str:
        """Jupyter's view of a trace: a header over the step viewer, offline (`checker.trace.notebook`)."""
        from .notebook import trace_html

        return trace_html(self)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT,
            "spec": self.spec,
            "protocol": self.protocol,
            "params": self.params,
            "property": self.property,
            "verdict": self.verdict,
        }
        if self.reason:
            out["reason"] = self.reason
        out["steps"] = [s.to_json() for s in self.steps]
        out["loop"] = None
        for k in ("loop", "violation_core", "types"):  # a fixed order: saving what was loaded changes nothing
            if k in self.extra:
                out[k] = self.extra[k]
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (a temporary file, then rename): a reader never sees half a trace."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.dumps())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a trace is an ordinary file
        os.replace(tmp, path)
        return path

    @classmethod
    def from_json(cls, obj: Any, where: str = "trace") -> Trace:
        if not isinstance(obj, dict):
            raise TraceError(f"{where}: not a trace (expected a JSON object)")
        if obj.get("format") != FORMAT:
            raise TraceError(f"{where}: format: expected {FORMAT!r}, got {obj.get('format')!r}")
        unknown = sorted(set(obj) - TOP_KEYS)
        if unknown:
            raise TraceError(f"{where}: unknown key {unknown[0]!r}")
        for key, types in (("protocol", str), ("params", dict), ("steps", list), ("verdict", str)):
            if not isinstance(obj.get(key), types):
                raise TraceError(f"{where}: {key}: missing or not a {types.__name__}")
        for key in ("property", "spec"):
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise TraceError(f"{where}: {key}: expected a string or null")
        if not obj["steps"]:
            raise TraceError(f"{where}: steps: a trace needs at least its initial state")
        steps = []
        for i, st in enumerate(obj["steps"]):
            w = f"{where}: steps[{i}]"
            if not isinstance(st, dict) or not isinstance(st.get("state"), dict):
                raise TraceError(f"{w}: expected an object with a \"state\" object")
            bad = sorted(set(st) - STEP_KEYS)
            if bad:
                raise TraceError(f"{w}: unknown key {bad[0]!r}")
            kind = st.get("kind")
            if (i == 0) != (kind == "init"):
                raise TraceError(f"{w}: kind: the first step, and only it, has kind \"init\"; got {kind!r}")
            if kind != "init":
                if not isinstance(kind, str) or not isinstance(st.get("action"), str):
                    raise TraceError(f"{w}: needs a \"kind\" and an \"action\" string")
                ps = st.get("params", [])
                if not isinstance(ps, list) or not all(isinstance(p, str) for p in ps):
                    raise TraceError(f"{w}: params: expected a list of strings")
                cs = st.get("choice", [])
                if not isinstance(cs, list) or not all(isinstance(c, str) for c in cs):
                    raise TraceError(f"{w}: choice: expected a list of strings")
            elif "choice" in st:
                raise TraceError(f"{w}: choice: the initial state has no choice")
            extra = {k: v for k, v in st.items() if k in {"sent", "received", "permutation"}}
            steps.append(TraceStep(kind, st["state"], st.get("action"), tuple(st.get("params", ())), extra,
                                   tuple(st.get("choice", ()))))
        extra = {k: obj[k] for k in ("loop", "violation_core", "types") if obj.get(k) is not None}
        return cls(obj["protocol"], obj["params"], steps, obj.get("property"), obj["verdict"], obj.get("spec"),
                   obj.get("reason", ""), extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read a trace file; any problem is a TraceError naming the file."""
        from ..model.inputs import TRACE_LIMIT, InputError, read_json

        try:  # a regular file of at most TRACE_LIMIT bytes, UTF-8, JSON nested a sane depth
            obj = read_json(path, TRACE_LIMIT, "trace")
        except InputError as e:
            raise TraceError(str(e)) from None
        return cls.from_json(obj, str(path))


def readable_state(state: dict[str, Any], types: Any) -> dict[str, Any]:
    """`state` with each Time value as its schema type writes it ("now+3", "now", "long ago") and each
    timed timer's countdown likewise ("in 2", "-"), found through the trace's described `types`; other
    values unchanged (and the whole state unchanged when the trace records no types)."""
    if not isinstance(types, dict):
        return state
    return {name: _readable(types.get(name), v) for name, v in state.items()}


def _readable(desc: Any, v: Any) -> Any:
    if not isinstance(desc, dict):
        return v
    if "time" in desc or "due" in desc:  # the model's own wording of a time or a countdown
        try:
            t = from_description(desc)
            return t.format(t.from_json(v) if "time" in desc else v)  # type: ignore[attr-defined]
        except (SchemaError, TypeError, ValueError):
            return v
    if "record" in desc and isinstance(v, dict) and isinstance(desc.get("fields"), dict):
        return {k: _readable(desc["fields"].get(k), x) for k, x in v.items()}
    if "map" in desc and isinstance(v, dict) and isinstance(desc["map"], list) and len(desc["map"]) == 2:
        return {k: _readable(desc["map"][1], x) for k, x in v.items()}
    return v


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def build_trace(
    system: TransitionSystem,
    path: Sequence[tuple],
    *,
    protocol: str,
    property: str | None,
    verdict: str,
    spec: str | None = None,
    reason: str = "",
    permutations: Sequence[dict[str, str]] | None = None,
) -> Trace:
    """Label each step of a path of raw states (re-executing actions to name them). With symmetry,
    `permutations` gives per state the renaming of node ids that turns it into the representative
    the search stored; it is kept with each step where it is not the identity."""
    schema = system.schema
    steps = [TraceStep("init", schema.to_json(path[0]))]
    for s, t in zip(path, path[1:]):
        step = system.find_step(s, t)
        if step is None and s == t:
            step = Step("stutter", "stutter")  # a lasso's cycle of one state where nothing fair is enabled
        if step is None:
            raise TraceError("internal: no action leads between two consecutive states of the path")
        steps.append(TraceStep(step.kind, schema.to_json(t), step.action, step.params, choice=step.choice))
    for st, perm in zip(steps, permutations or ()):
        if perm:
            st.extra["permutation"] = dict(perm)
    types = {name: describe(t) for name, t in schema.variables.items()}
    return Trace(protocol, dict(system.params), steps, property, verdict, spec, reason, {"types": types})
