"""The text view of a trace: per step its label and only what changed. A pure function of the trace."""

from __future__ import annotations

from typing import Any

from .format import Trace, readable_state


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
        if value.keys() in ({"msg", "src", "dst"}, {"msg", "src", "dst", "age"}):  # an envelope in flight
            return f"{fmt(value['msg'])} {value['src']}→{value['dst']}" + _age(value)
        if value.keys() == {"msg", "age"}:  # a message in a FIFO channel, with its age
            return fmt(value["msg"]) + _age(value)
        if isinstance(value.get("type"), str):
            rest = [fmt(v) for k, v in value.items() if k != "type"]
            return value["type"] + (f"({', '.join(rest)})" if rest else "")
        return "{" + ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _age(value: dict) -> str:
    """How long a message has been in flight (with [time] max_delay), in ticks."""
    return f" (age {value['age']})" if "age" in value else ""


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """(path, old text, new text) for what differs; maps are compared key by key. The old text is
    None for the initial state, and "" when the new text already says what changed (a collection's
    additions and removals)."""
    out: list[tuple[str, str | None, str]] = []
    for name, new in after.items():
        old = None if before is None else before.get(name)
        if before is not None and old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "type" not in new and old.keys() == new.keys():
            for k in new:  # maps and records, compared key by key, nested ones too
                if old[k] != new[k]:
                    out += [(f"{name}[{k}]{p[len(str(k)):]}", o, n) for p, o, n in changes({k: old[k]}, {k: new[k]})]
        elif isinstance(old, list) and isinstance(new, list) and len(old) + len(new) > 4:
            out.append((name, "", _list_change(old, new)))
        else:
            out.append((name, None if before is None else fmt(old), fmt(new)))
    return out


def _list_change(old: list, new: list) -> str:
    """What a step added to and removed from a collection, as "+[a] -[b]" (a tick that only ages the
    messages in flight: "aged by the tick")."""
    if old != new and (aged := _unaged(new)) is not None and aged == _unaged(old):
        return f"aged by the tick ({len(new)} in all)"
    rest = list(new)
    gone = []
    for v in old:
        if v in rest:
            rest.remove(v)
        else:
            gone.append(v)
    parts = ([f"+[{', '.join(fmt(v) for v in rest)}]"] if rest else []) + (
        [f"-[{', '.join(fmt(v) for v in gone)}]"] if gone else []
    )
    return " ".join(parts) + f" ({len(new)} in all)"


def _unaged(values: list) -> list | None:
    """The messages without their ages, in a canonical order (None: not messages with ages)."""
    if not values or not all(isinstance(v, dict) and "age" in v and "msg" in v for v in values):
        return None
    return sorted(str(sorted((k, str(x)) for k, x in v.items() if k != "age")) for v in values)


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
    types = trace.extra.get("types")
    ticks = 0  # global time: the ticks so far
    for i, st in enumerate(trace.steps):
        mark = "  <- cycle starts here" if loop == i else ""
        if st.kind == "tick":
            ticks += 1
            mark = f"  {dim}(t={ticks}){off}" + mark
        lines.append(f"{bold}{i:<2} {st.label}{off}{mark}")
        state = readable_state(st.state, types)  # Time values as "now+3" / "long ago", countdowns as "in 2"
        diff = changes(before, state)
        for path, old, new in diff:
            if old is None:
                lines.append(f"     {path} = {new}")
            elif old == "":
                lines.append(f"     {path}: {new}")
            else:
                lines.append(f"     {path}: {dim}{old}{off} -> {bold}{new}{off}")
        if before is not None and not diff:
            lines.append(f"     {dim}(no change){off}")
        before = state
    why = trace.extra.get("violation_core")
    if isinstance(why, dict):
        if why.get("instance"):
            lines.append(f"failing instance: {', '.join(why['instance'])}")
        if why.get("explanation"):
            lines.append(f"{bold}violated because:{off} {why['explanation']}")
            for e in why.get("history") or []:
                lines.append(f"     {e}")
        fields = why.get("fields")
        if fields:
            because = ", ".join(f"{f.get('field')}={f.get('value')}" for f in fields if isinstance(f, dict))
            lines.append(f"{bold}violated because:{off} {because}")
    return "\n".join(lines)
