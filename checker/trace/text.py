"""The text view of a trace: per step its label and only what changed. A pure function of the trace."""

from __future__ import annotations

from typing import Any

from .format import Trace


def fmt(value: Any) -> str:
    """Compact text of a JSON value: records as Name(field=value), sets and sequences as [..]."""
    if value is None:
        return "none"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        if isinstance(value.get("type"), str):
            rest = [fmt(v) for k, v in value.items() if k != "type"]
            return value["type"] + (f"({', '.join(rest)})" if rest else "")
        return "{" + ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(path, old text or None, new text) for what differs; maps are compared key by key."""
    out: list[tuple[str, str | None, str]] = []
    for name, new in after.items():
        old = None if before is None else before.get(name)
        if before is not None and old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "type" not in new and old.keys() == new.keys():
            out += [(f"{name}[{k}]", fmt(old[k]), fmt(new[k])) for k in new if old[k] != new[k]]
        else:
            out.append((name, None if before is None else fmt(old), fmt(new)))
    return out


def render_text(trace: Trace, *, color: bool = False) -> str:
    """The trace as text: the initial state in full, then each step and its changes.

    >>> from checker.trace.format import Trace, TraceStep
    >>> t = Trace("m:M", {}, [TraceStep("init", {"x": 0}), TraceStep("action", {"x": 1}, "inc")], "small")
    >>> print(render_text(t))
    violated: small (1 step)
    0  initial state
         x = 0
    1  inc
         x: 0 -> 1
    """
    bold, red, dim, off = ("\x1b[1m", "\x1b[31m", "\x1b[2m", "\x1b[0m") if color else ("", "", "", "")
    what = f"{trace.verdict}: {trace.property}" if trace.property else trace.verdict
    n = len(trace)
    lines = [f"{bold}{red if trace.verdict == 'violated' else ''}{what}{off} ({n} step{'s' if n != 1 else ''})"]
    if trace.reason:
        lines.append(f"  {trace.reason}")
    loop = trace.extra.get("loop")
    before = None
    for i, st in enumerate(trace.steps):
        mark = "  <- cycle starts here" if loop == i else ""
        lines.append(f"{bold}{i:<2} {st.label}{off}{mark}")
        diff = changes(before, st.state)
        for path, old, new in diff:
            lines.append(f"     {path} = {new}" if old is None else f"     {path}: {dim}{old}{off} -> {bold}{new}{off}")
        if before is not None and not diff:
            lines.append(f"     {dim}(no change){off}")
        before = st.state
    return "\n".join(lines)
