"""The naive search the engine is checked against: a plain breadth-first closure over
`system.actions`, no store tricks, no symmetry. Tests import it instead of writing their own."""

from __future__ import annotations

from collections import deque


def reachable(system, limit: int | None = None, partial: bool = False) -> list[tuple]:
    """Every state reachable from the initial ones, in breadth-first order (None past `limit`; with
    `partial`, the first `limit` found instead)."""
    seen = dict.fromkeys(system.initial)
    todo = deque(seen)
    while todo:
        s = todo.popleft()
        for a in system.actions:
            for t in a.successors(s):
                if t not in seen:
                    seen[t] = None
                    todo.append(t)
                    if limit is not None and len(seen) > limit:
                        return list(seen)[:limit] if partial else None  # type: ignore[return-value]
    return list(seen)


def successors(system, s: tuple) -> set[tuple]:
    return {t for a in system.actions for t in a.successors(s)}
