"""Fault settings: what may fail, and how often, in a check of a message-passing protocol
(and the bound on timer firings, which keeps a protocol with free-running timers finite).

Every fault is bounded by a budget, so the state space stays finite; the
budgets used so far are part of the state. Standard library only; the
semantics layer turns these settings into steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DETECTORS = ("perfect", "partition")  # what `on_peer_crash` reports: crashed peers; or unreachable ones too


class FaultError(ValueError):
    """A fault setting is impossible for the protocol it is applied to; the message says which."""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Fault budgets. The default is no fault at all.

    >>> Faults(crashes=1, restarts=True).any
    True
    """

    crashes: int = 0  # crash steps in all
    restarts: bool = False  # crash-recovery: a crashed node may restart (durable fields kept)
    max_down: int | None = None  # at most this many nodes down at once (default: no limit but the budget)
    crashable: tuple[str, ...] | None = None  # roles or node ids that may crash (default: every node)
    partitions: int = 0  # partition steps in all (each ends with a heal step)
    splits: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] | None = None  # allowed splits (default: any)
    loss: int = 0  # messages the network may drop
    duplication: int = 0  # messages the network may duplicate
    lose_on_crash: bool = False  # messages in flight to a node are lost when it crashes (else they wait)
    timer_firings: int | None = None  # timer firings in all (default: unbounded; the protocol guards them)
    detector: str = "perfect"  # on_peer_crash: "perfect" (only crashed peers) or "partition" (also unreachable ones)
    clock_jumps: int = 0  # clock-jump steps in all (needs [time]): a node's clock moves by up to `jump` units
    jump: int = 1  # the largest clock jump, forward or back
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in ("crashes", "partitions", "loss", "duplication", "clock_jumps"):
            v = getattr(self, name)
            if type(v) is not int or v < 0:
                raise FaultError(f"{name}: expected a whole number >= 0, got {v!r}")
        if self.timer_firings is not None and (type(self.timer_firings) is not int or self.timer_firings < 0):
            raise FaultError(f"timer_firings: expected a whole number >= 0, got {self.timer_firings!r}")
        if type(self.jump) is not int or self.jump < 1:
            raise FaultError(f"jump: expected a whole number >= 1, got {self.jump!r}")
        if self.detector not in DETECTORS:
            raise FaultError(f"detector: expected one of {', '.join(map(repr, DETECTORS))}, got {self.detector!r}")
        if type(self.restarts) is not bool:
            raise FaultError(f"restarts: expected true or false, got {self.restarts!r}")
        if self.max_down is not None and (type(self.max_down) is not int or self.max_down < 1):
            raise FaultError(f"max_down: expected a whole number >= 1, got {self.max_down!r}")

    @property
    def any(self) -> bool:
        return bool(self.crashes or self.partitions or self.loss or self.duplication or self.clock_jumps)

    def check_against(self, roles: dict[str, Sequence[str]], network: str) -> None:
        """Reject settings that name no node or cannot happen in this protocol."""
        names = [n for ns in roles.values() for n in ns]
        if self.max_down is not None and self.max_down > len(names):
            raise FaultError(f"max_down: {self.max_down} nodes down at once, but there are only {len(names)} nodes")
        for c in self.crashable or ():
            if c not in roles and c not in names:
                raise FaultError(f"crashable: {c!r} is no role or node (roles: {', '.join(roles)}; nodes: {', '.join(names)})")
        for k, (a, b) in enumerate(self.splits or ()):
            for n in (*a, *b):
                if n not in names:
                    raise FaultError(f"splits[{k}]: {n!r} is no node (nodes: {', '.join(names)})")
            if not a or not b or set(a) & set(b) or set(a) | set(b) != set(names):
                raise FaultError(f"splits[{k}]: the two sides must be non-empty, disjoint and cover every node")
        if self.duplication and network == "set":
            raise FaultError("duplication: a network of in-flight sets holds no duplicates; use in_flight = \"multiset\"")

    def may_crash(self, node: str, role: str) -> bool:
        return self.crashable is None or node in self.crashable or role in self.crashable
