"""Fault steps: crash, restart, partition, heal, drop, duplicate — each bounded by a budget.

- crash n: n takes no further step and receives nothing (messages to it stay in
  flight, or are lost with `[network] lose_on_crash = true`); its timers are cleared and its volatile fields are lost (reset to
  their initial values at once, so states that differ only in what was lost
  are one state).
- restart n: runs n's `on_start`, its durable fields as they were.
- partition A | B: messages between the sides stay in flight until heal.
- drop / duplicate: the network loses or copies one in-flight message.
- detect n@m: a live node m that defines `on_peer_crash` learns that n crashed
  (a perfect failure detector: only ever about a node that is down). With
  `detector = "partition"` m is also told, once per partition, about each live
  peer the partition cuts it off from (a timeout cannot tell the two apart);
  `detected` then holds exactly who m suspects now and has been told of, so a
  suspicion ends when the peer restarts within reach or the partition heals.

The budgets used, who is down and the current partition are state variables,
so they show in traces and diffs. Imports `checker.model` and the node semantics.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

from . import Action

if TYPE_CHECKING:
    from .nodes import NodeSemantics


def fault_actions(sem: NodeSemantics) -> list[Action]:
    """The fault steps `sem.faults` allows, as actions of the transition system."""
    f, out = sem.faults, []
    if f.crashes:
        out.append(kind_action("crash", _crashes(sem)))
        if f.restarts:
            out.append(kind_action("restart", _restarts(sem), chosen=True))
    if sem.DETECTED is not None:  # crashes, or partitions with detector = "partition"
        out.append(kind_action("detect", _detections(sem), chosen=True))
    if f.partitions:
        out.append(kind_action("partition", _partitions(sem)))
        out.append(kind_action("heal", _heals(sem)))
    if f.loss:
        out.append(kind_action("drop", _network_faults(sem, "drop", "drops", -1)))
    if f.duplication:
        out.append(kind_action("duplicate", _network_faults(sem, "duplicate", "duplicates", +1)))
    return out


def kind_action(kind: str, instances, chosen: bool = False) -> Action:
    """An action of one step kind from its labelled instances (its successors: their states). `chosen`:
    the steps run a handler, and `instances(s, labelled=True)` gives each with its choice."""
    choices = (lambda s: instances(s, labelled=True)) if chosen else None
    return Action(kind, lambda s: [t for _, t in instances(s)], instances, kind=kind, choices=choices)


def _crashes(sem: NodeSemantics):
    DOWN, USED, T, DET = sem.DOWN, sem.schema.offsets["crashes"], sem.TIMERS, sem.DETECTED
    budget = sem.faults.crashes
    by_partition = sem.faults.detector == "partition"
    max_down = sem.faults.max_down or sem.n
    crashable = [i for i in range(sem.n) if sem.faults.may_crash(sem.names[i], sem.role_of[i])]
    lost: dict[tuple[int, tuple], tuple] = {}
    lose = sem.faults.lose_on_crash
    n2 = sem.n * sem.n
    to_node = [0] * sem.n  # per node: the network bits of every envelope addressed to it
    if lose and not sem.fifo:
        for code in range(sem.Msg.cardinality * n2 * sem.A):  # type: ignore[operator]
            to_node[(code // sem.A) % sem.n] |= sem.one << (code * sem.bits)

    def lose_messages_to(t: list, i: int) -> None:
        if sem.fifo:
            for src in range(sem.n):
                t[sem.CH + src * sem.n + i] = 0
        else:
            t[sem.NET] &= ~to_node[i]

    def after_crash(i: int, local: tuple) -> tuple:
        key = (i, local)
        if key not in lost:
            vals = sem.decode_node(local, i)
            slots: list[int] = []
            for name, ft, initial, durable in sem.fields[sem.role_of[i]]:
                ft.encode_into(vals[name] if durable else initial, slots)
            lost[key] = tuple(slots)
        return lost[key]

    def instances(s: tuple):
        down = s[DOWN]
        if s[USED] >= budget or bin(down).count("1") >= max_down:
            return
        for i in crashable:
            if down >> i & 1:
                continue
            t = list(s)
            t[DOWN] = down | 1 << i
            t[USED] += 1
            t[sem.node_slices[i]] = after_crash(i, s[sem.node_slices[i]])
            if T is not None:
                t[T + i] = 0
                if sem.DUE is not None:
                    t[sem.DUE + i * sem.NT:sem.DUE + (i + 1) * sem.NT] = [0] * sem.NT
            if lose:
                lose_messages_to(t, i)
            if DET is not None:  # a fresh crash, to be detected anew; the crashed node forgets what it was told
                if not by_partition:  # (with detector = "partition", a set bit is a live suspicion: it goes on)
                    for j in range(sem.n):
                        t[DET + j] &= ~(1 << i)
                t[DET + i] = 0
            yield (sem.names[i],), tuple(t)

    return instances


def _restarts(sem: NodeSemantics):
    DOWN, DET, PART = sem.DOWN, sem.DETECTED, sem.PART
    forget = DET is not None and sem.faults.detector == "partition"  # its suspicion ends where it is in reach

    def instances(s: tuple, labelled: bool = False):
        down = s[DOWN]
        for i in range(sem.n):
            if down >> i & 1:
                t = list(s)
                t[DOWN] = down & ~(1 << i)
                if forget:
                    reach = _reach(s[PART] if PART is not None else 0, i, sem.n)
                    for j in range(sem.n):
                        if reach >> j & 1:
                            t[DET + j] &= ~(1 << i)
                if labelled:
                    for choice, u in sem.run_labelled(tuple(t), i, "on_start", (), sem.net_of(s)):
                        yield (sem.names[i],), u, choice
                    continue
                for u in sem.run(tuple(t), i, "on_start", (), sem.net_of(s)):  # the same start-up code as boot
                    yield (sem.names[i],), u

    return instances


def _detections(sem: NodeSemantics):
    """A perfect failure detector: a live node with `on_peer_crash` learns of each crashed peer once.

    With `detector = "partition"` it also learns, once per partition, of each live peer the partition
    separates it from; such a step's parameters end with "unreachable" (the peer is up)."""
    DOWN, DET, PART = sem.DOWN, sem.DETECTED, sem.PART
    watchers = [i for i in range(sem.n) if hasattr(sem.classes[i], "on_peer_crash")]
    by_partition = sem.faults.detector == "partition" and PART is not None
    everyone = (1 << sem.n) - 1

    def instances(s: tuple, labelled: bool = False):
        down = s[DOWN] if DOWN is not None else 0
        part = s[PART] if by_partition else 0
        if not (down or part):
            return
        for i in watchers:
            if down >> i & 1:
                continue
            cut = (everyone & ~part if part >> i & 1 else part) & ~down  # live peers across the partition
            news = (down | cut) & ~s[DET + i]
            for j in range(sem.n):
                if news >> j & 1:
                    t = list(s)
                    t[DET + i] |= 1 << j
                    step = (sem.names[i], sem.names[j], "unreachable") if cut >> j & 1 else (sem.names[i], sem.names[j])
                    if labelled:
                        for choice, u in sem.run_labelled(tuple(t), i, "on_peer_crash", (sem.names[j],), sem.net_of(s)):
                            yield step, u, choice
                        continue
                    for u in sem.run(tuple(t), i, "on_peer_crash", (sem.names[j],), sem.net_of(s)):
                        yield step, u

    return instances


def _reach(part: int, i: int, n: int) -> int:
    """The nodes on node i's side of the partition `part` (every node when healed)."""
    everyone = (1 << n) - 1
    return everyone if not part else (part if part >> i & 1 else everyone & ~part)


def _partitions(sem: NodeSemantics):
    PART, USED = sem.PART, sem.schema.offsets["partitions"]
    budget = sem.faults.partitions
    if sem.faults.splits is not None:
        index = sem.index
        sides = []
        for a, b in sem.faults.splits:
            side = b if sem.names[0] in a else a  # the side without the first node
            sides.append(sum(1 << index[n] for n in side))
    else:  # every two-sided split: each non-empty set of nodes without the first one
        sides = [sum(1 << i for i in c) for k in range(1, sem.n) for c in combinations(range(1, sem.n), k)]
    labels = {side: _split_label(sem, side) for side in sides}

    def instances(s: tuple):
        if s[PART] or s[USED] >= budget:
            return
        for side in sides:
            t = list(s)
            t[PART] = side
            t[USED] += 1
            yield labels[side], tuple(t)

    return instances


def _split_label(sem: NodeSemantics, side: int) -> tuple[str, str]:
    a = [n for i, n in enumerate(sem.names) if not side >> i & 1]
    b = [n for i, n in enumerate(sem.names) if side >> i & 1]
    return "{" + ", ".join(a) + "}", "{" + ", ".join(b) + "}"


def _heals(sem: NodeSemantics):
    PART, DET, DOWN = sem.PART, sem.DETECTED, sem.DOWN
    forget = DET is not None and sem.faults.detector == "partition"  # suspicions of live peers end

    def instances(s: tuple):
        if s[PART]:
            t = list(s)
            t[PART] = 0
            if forget:
                down = s[DOWN] if DOWN is not None else 0
                for j in range(sem.n):
                    t[DET + j] &= down
            yield (), tuple(t)

    return instances


def _network_faults(sem: NodeSemantics, kind: str, counter: str, sign: int):
    if sem.fifo:
        return _channel_faults(sem, kind, counter, sign)
    NET, USED, bits, one = sem.NET, sem.schema.offsets[counter], sem.bits, sem.one
    budget = getattr(sem.faults, "loss" if kind == "drop" else "duplication")

    def instances(s: tuple):
        if s[USED] >= budget:
            return
        x, code = s[NET], 0
        while x:
            count = x & one
            if count and (sign < 0 or count < one):  # a duplicate needs room for one more copy
                src, dst, msg = sem.envelope(code)
                t = list(s)
                t[NET] = s[NET] + sign * (1 << (code * bits))
                t[USED] += 1
                yield (sem.names[src], sem.names[dst], sem.Msg.format(msg)), tuple(t)
            x >>= bits
            code += 1

    return instances


def _channel_faults(sem: NodeSemantics, kind: str, counter: str, sign: int):
    """Drop any message of a FIFO channel, or duplicate it in place (the copy right behind it)."""
    CH, USED, B, n = sem.CH, sem.schema.offsets[counter], sem.B, sem.n
    budget = getattr(sem.faults, "loss" if kind == "drop" else "duplication")

    def instances(s: tuple):
        if s[USED] >= budget:
            return
        for ch in range(n * n):
            q = s[CH + ch]
            digits = []
            while q:
                q, d = divmod(q, B)
                digits.append(d)
            if sign > 0 and len(digits) >= sem.capacity:
                continue
            src, dst = divmod(ch, n)
            for k, d in enumerate(digits):
                new = digits[:k] + digits[k + 1 :] if sign < 0 else digits[: k + 1] + digits[k:]
                q = 0
                for x in reversed(new):
                    q = q * B + x
                t = list(s)
                t[CH + ch] = q
                t[USED] += 1
                yield (sem.names[src], sem.names[dst], sem.Msg.format(sem.Msg.unrank((d - 1) // sem.A))), tuple(t)

    return instances
