"""Consistency of client histories: linearizability, sequential consistency, replica convergence.

A *history* is what clients saw, in Jepsen's shape: a list of entries in log order, each a dict
``{"process": int, "type": "invoke"|"ok"|"fail"|"info", "f": str, "value": ...}`` (other keys are
ignored). An invocation and the next completion of the same process form one *operation*; its
*call* and *return* are the two entries' positions in the list, so real-time order is list order.

Models (sequential specifications, in `checker.logic.histmodels`; each a step function
``state -> (ok, new_state)`` over hashable states, see `Model.step`):

- ``register``: one register, initially ``null`` unless `initial` says otherwise. ``read`` (the
  completion's value is the value read; ``null`` is the initial, missing value), ``write V``,
  ``cas [A, B]`` (ok: the register held A and now holds B).
- ``kv``: a map from keys to strings, every key initially ``""`` (`initial` may give a JSON object of
  strings). ``get [K, null]`` (completion ``[K, S]``: S is the whole current string; ``null`` reads as
  ``""``), ``put [K, S]`` replaces, ``append [K, S]`` concatenates.

Completions:

- ``ok``: the operation took effect, once, between its call and return, with that result.
- ``fail``: it did not take effect; the operation is dropped (Jepsen's and Knossos's reading).
  Porcupine reads a failed cas instead as "cas returned false": a completed cas that must be
  linearized where the register is not A. ``fail="returned-false"`` selects that reading (other
  failed operations are still dropped). On Porcupine's etcd histories both readings agree.
- ``info``: unknown outcome. The operation stays pending forever (its return is at infinity): it
  may be linearized at any point after its call, or never. An invocation with no completion at the
  end of the history is treated the same way. Pending reads and gets constrain nothing and are
  dropped.

Checks:

- `check_linearizable`: is there a total order of the operations, consistent with real time (an
  operation that returned before another was called comes first) in which every result is what
  the model gives? The Wing & Gong algorithm with Lowe's memoisation, as in Porcupine's
  ``checkSingle`` and Knossos: calls and returns in a doubly linked list; the search linearizes
  ("lifts") a call whose step succeeds, restarts at the head, and backtracks on reaching the return
  of an operation not yet linearized. Each (linearized set as a bitset int, model state) pair is
  expanded at most once. Operations pending forever (info) are where Jepsen histories get hard, so
  for them: a node tries them only after the completed operations; it is skipped when a node with
  the same completed operations and state was reached with a subset of the pending ones; of
  identical pending operations the earliest called is used first; and one that would change
  nothing is not taken. The kv model is P-compositional (Horn & Kroening): linearizability of the
  whole map is linearizability of each key's sub-history, so each key is checked on its own, the
  keys' searches interleaved so that one that fails quickly ends the check (as Porcupine's parallel
  partitions do). Worst case exponential: O(2^n * |states|) nodes, each O(n), for n operations of
  one partition. On Porcupine's 102 etcd histories (up to 90 operations, up to 19 pending forever)
  each takes milliseconds; its 50-client kv history a third of a second.
- `check_sequential`: is there a total order consistent with each process's program order (not
  real time) that the model accepts? First a linearization is looked for (linearizable implies
  sequentially consistent); then a depth-first search over (next operation of each process,
  pending-forever operations done, state), each expanded once, children in call order:
  O(prod(len_p + 1) * 2^i * |states|) nodes. Sequential consistency is not compositional, so kv
  is checked as one map. A pending-forever operation may take effect anywhere after its process's
  earlier completed operations, or never. Deciding it is NP-complete; meant for small histories
  (of Porcupine's etcd histories, 82 are decided within 2 s each, and etcd_003 not in 2 minutes).
- `check_convergence`: replicas' final values at quiescence are all equal.

A history that fails a check is explained by a minimal failing sub-history S, given as the original
entries with a one-line message naming the operation that cannot be explained (for
linearizability, the one whose return stopped every path of the search furthest into the
history). S is found by delta debugging (ddmin: chunks, then single operations, to a fixed point;
reads first, so that the writes that make a read stale stay in the story). Two notions of
"minimal" (`shrink=`):

- "weaken" (the default): S fails even when every operation left out is *weakened* to "may have
  taken effect at any time after its call, or never" (an info), and weakening any single operation
  of S makes it pass. So what was left out cannot explain S away: the violation is the history's
  own. Weakened operations that provably cannot matter (called after S's last return; writes of
  values no read in S could see) are left out of the searches.
- "delete": S fails on its own and deleting any single operation of it makes it pass. Deleting
  can manufacture violations (a lone read of a value whose write was deleted), so such an S may
  say little about the history.

Removing or weakening whole operations keeps every process well formed. Shrinking stops after
`shrink_seconds` (then `Result.minimal` is False); each candidate's search has a budget too, and a
candidate that exceeds it counts as passing.

This module uses only the standard library.

>>> h = [{"process": 0, "type": "invoke", "f": "write", "value": 1},
...      {"process": 0, "type": "ok", "f": "write", "value": 1},
...      {"process": 1, "type": "invoke", "f": "read", "value": None},
...      {"process": 1, "type": "ok", "f": "read", "value": None}]
>>> r = check_linearizable(h, "register")
>>> r.ok, r.indices
(False, [0, 1, 2, 3])
>>> r.message
'read by process 1 returned null (entries 2-3), which no linearization of these 2 operations explains'
>>> check_sequential(h, "register").ok   # the read may come first in a sequential order
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .histmodels import (  # the models live there; re-exported here, where they were first
    _MISSING,
    KV,
    MODELS,
    REGISTER,
    UNKNOWN,
    HistoryError,
    Model,
    Operation,
    _kind,
    _model,
    _show,
    freeze,
)

__all__ = [
    "KV",
    "MODELS",
    "REGISTER",
    "UNKNOWN",
    "HistoryError",
    "Model",
    "Operation",
    "Result",
    "check_convergence",
    "check_linearizable",
    "check_sequential",
    "freeze",
    "parse_history",
]

TYPES = ("invoke", "ok", "fail", "info")
FAIL_MODES = ("drop", "returned-false")




# -------------------------------------------------------------------------------------------- parsing


def parse_history(history: Any, model: str | Model = "register") -> list[Operation]:
    """The operations of `history`, in call order, validated against `model`.

    Raises `HistoryError` (one line, with the entry's index) for: a history that is not a list, an
    entry that is not an object, a missing or non-integer process, an unknown type or f, a second
    invoke while the process has one pending, a completion with no pending invocation for its
    process or with another f than the invocation, a value of the wrong shape, and an ok whose
    value contradicts its invocation (a write, cas, put or append echoes what was invoked).
    Invocations still pending at the end become "info" operations with `ret` None.

    >>> [op.status for op in parse_history([{"process": 0, "type": "invoke", "f": "read", "value": None}])]
    ['info']
    >>> parse_history([{"process": 0, "type": "ok", "f": "read", "value": 1}])
    Traceback (most recent call last):
    ...
    checker.logic.histmodels.HistoryError: entry 0: ok read for process 0, which has no pending invocation
    """
    m = _model(model)
    if not isinstance(history, list):
        raise HistoryError(None, f"a history is an array of operations, got {_kind(history)}")
    pending: dict[int, tuple[int, str, Any]] = {}
    started: list[tuple[int, int, str, Any]] = []  # (call, process, f, input)
    done: dict[int, tuple[int, str, Any]] = {}  # call -> (ret, status, output)
    for i, e in enumerate(history):
        if not isinstance(e, dict):
            raise HistoryError(i, f"an operation is an object with process, type, f and value, got {_kind(e)}")
        p = e.get("process", _MISSING)
        if p is _MISSING:
            raise HistoryError(i, "no 'process'")
        if type(p) is not int:
            raise HistoryError(i, f"process must be an integer, got {_show(p)}")
        t = e.get("type", _MISSING)
        if t not in TYPES:
            raise HistoryError(i, "no 'type'" if t is _MISSING else
                               f"unknown type {_show(t)} (expected invoke, ok, fail or info)")
        f = e.get("f", _MISSING)
        if f not in m.functions:
            raise HistoryError(i, "no 'f'" if f is _MISSING else
                               f"unknown f {_show(f)} for the {m.name} model (expected {', '.join(m.functions)})")
        value = e.get("value", _MISSING)
        if t == "invoke":
            if p in pending:
                j, g, _ = pending[p]
                raise HistoryError(i, f"process {p} invokes {f} while its {g} invoked at entry {j} is still pending")
            inp = m.parse_input(f, value, i)
            pending[p] = (i, f, inp)
            started.append((i, p, f, inp))
        else:
            if p not in pending:
                raise HistoryError(i, f"{t} {f} for process {p}, which has no pending invocation")
            j, g, inp = pending.pop(p)
            if f != g:
                raise HistoryError(i, f"{t} {f} completes process {p}'s {g} invoked at entry {j}")
            done[j] = (i, t, m.parse_output(f, t, inp, value, i))
    ops = []
    for k, (call, p, f, inp) in enumerate(started):
        ret, status, out = done.get(call, (None, "info", UNKNOWN))
        ops.append(Operation(k, p, f, inp, out, status, call, ret))
    return ops


def _live(ops: list[Operation], m: Model, fail: str) -> list[tuple[Operation, bool]]:
    """The operations the checks consider, each with whether it completed (must be linearized
    between call and return) or stays pending forever (may be linearized after its call, or never)."""
    if fail not in FAIL_MODES:
        raise ValueError(f"fail must be one of {', '.join(FAIL_MODES)}, got {fail!r}")
    out = []
    for op in ops:
        if op.status == "ok":
            out.append((op, True))
        elif op.status == "fail":
            if fail == "returned-false" and op.output is not UNKNOWN:
                out.append((op, True))
        elif op.f not in m.read_only:
            out.append((op, False))
    return out


# --------------------------------------------------------------------------------------------- result


@dataclass
class Result:
    """A check's verdict.

    ok: the history satisfies the condition. message: one line. explanation: when not ok, the
    original entries of a minimal failing sub-history, in log order (`indices` are their positions
    in the history). minimal: False when shrinking was cut short by its time limit (the
    sub-history still fails, but some operation might be removable). partition: for a per-key kv
    check, the key whose sub-history failed. operations: invocations in the history.
    """

    ok: bool
    consistency: str
    message: str
    operations: int = 0
    explanation: list = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    partition: Any = None
    minimal: bool = True
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"ok": self.ok, "consistency": self.consistency, "message": self.message,
                "operations": self.operations, "seconds": round(self.seconds, 6), "partition": self.partition,
                "minimal": self.minimal,
                "explanation": [{"index": i, "entry": e} for i, e in zip(self.indices, self.explanation)]}


# ------------------------------------------------------------------------------------------ searches

CHUNK = 4096  # a search yields (pauses) after this many new (set, state) pairs, so that several can interleave


def _wgl(live: list[tuple[Operation, bool]], init: Hashable, m: Model):
    """Wing & Gong / Lowe over one partition, as a generator: it yields None every `CHUNK` new cache
    entries and returns (linearizable, culprit); when not linearizable, culprit is the position in
    `live` of the operation whose return stopped the search furthest into the history.

    The cache holds (linearized set, state). With operations pending forever it is kept per
    (completed operations linearized, state) as the sets of pending operations used, and a node is
    skipped when one reached with a subset of them is there: anything done from the node can be
    done from that one, which has the same state and more operations left to use.
    """
    if not any(d for _, d in live):
        return True, None
    events = []
    for k, (op, completed) in enumerate(live):
        events.append((op.call, k, True))
        if completed:
            events.append((op.ret, k, False))
    events.sort()
    # Slots: 0 is the head, 1..len(events) the entries in time order, the last a tail sentinel that
    # acts as a return (the scan never reaches it while a return remains: it stops at the first one).
    size = len(events) + 2
    nxt = list(range(1, size + 1))
    prv = list(range(-1, size - 1))
    opk = [-1] * size
    is_call = [False] * size
    match = [0] * size  # a call's return slot; 0 for an operation pending forever
    when = [-1] * size
    steps: list = [None] * size
    bits = [0] * size
    call_slot = {}
    for s, (t, k, c) in enumerate(events, start=1):
        opk[s], is_call[s], when[s] = k, c, t
        if c:
            call_slot[k] = s
            steps[s] = m.stepper(live[k][0])
            bits[s] = 1 << k
        else:
            match[call_slot[k]] = s
    remaining = sum(1 for _, d in live if d)  # completed operations not yet linearized
    pend = sum(1 << k for k, (_, d) in enumerate(live) if not d)  # operations pending forever
    # Pending-forever operations with the same f, input and output are interchangeable, except that
    # the earlier called is available sooner: lift one only once its earlier twin is lifted.
    twin = [0] * size
    lifted = [False] * size
    latest: dict = {}
    for s in range(1, size - 1):
        if is_call[s] and not match[s]:
            op = live[opk[s]][0]
            twin[s] = latest.get((op.f, op.input, op.output), 0)
            latest[(op.f, op.input, op.output)] = s

    opt = [bool(is_call[s] and not match[s]) for s in range(size)]
    cache: set = set()
    used: dict = {}  # (completed linearized, state) -> pending-forever sets reached with, none a subset of another
    stack: list = []
    state = init
    linearized = 0
    e = nxt[0]
    # Each node tries the enabled completed operations first (phase 1), then, from the head again,
    # the pending-forever ones (phase 2): paths that use fewer of those come first, which finds
    # linearizations sooner and lets the subset test prune more.
    phase2 = False
    furthest = culprit = -1
    budget = CHUNK
    while True:
        if is_call[e]:
            if opt[e] is not phase2:
                e = nxt[e]
                continue
            if phase2:
                t = twin[e]
                if t and not lifted[t]:
                    e = nxt[e]
                    continue
            ok, new = steps[e](state)
            if ok:
                if phase2 and new == state:  # taking effect here changes nothing: never needed
                    e = nxt[e]
                    continue
                lin = linearized | bits[e]
                key = (lin, new)
                if key in cache:
                    e = nxt[e]
                    continue
                cache.add(key)  # a node found dominated below stays dominated: cache it too
                if pend:
                    mine = lin & pend
                    key = (lin ^ mine, new)
                    sets = used.get(key)
                    if sets is None:
                        used[key] = [mine]
                    else:
                        for x in sets:
                            if not x & ~mine:
                                break
                        else:
                            sets[:] = [x for x in sets if mine & ~x]
                            sets.append(mine)
                            x = None
                        if x is not None:
                            e = nxt[e]
                            continue
                stack.append((e, state, phase2))
                state = new
                linearized = lin
                lifted[e] = True
                p, q = prv[e], nxt[e]  # lift the call ...
                nxt[p] = q
                prv[q] = p
                r = match[e]
                if r:  # ... and its return
                    p, q = prv[r], nxt[r]
                    nxt[p] = q
                    prv[q] = p
                    remaining -= 1
                    if not remaining:  # the rest pend forever: they may never take effect
                        return True, None
                e = nxt[0]
                phase2 = False
                budget -= 1
                if not budget:
                    yield
                    budget = CHUNK
                continue
            e = nxt[e]
        elif pend and not phase2:  # the first return not linearized yet: now the pending-forever calls
            phase2 = True
            e = nxt[0]
        else:  # nothing left to try here: undo the last linearization
            if when[e] > furthest:
                furthest, culprit = when[e], opk[e]
            if not stack:
                return False, culprit
            e, state, phase2 = stack.pop()
            linearized ^= bits[e]
            lifted[e] = False
            r = match[e]
            if r:
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                remaining += 1
            nxt[prv[e]] = e
            prv[nxt[e]] = e
            e = nxt[e]


def _sequential(live: list[tuple[Operation, bool]], init: Hashable, m: Model):
    """Depth-first search for an order that keeps each process's program order, as a generator like
    `_wgl`. A node is (next position in each process's completed operations, set of the
    pending-forever operations done, state). Children are tried in call order, completed operations
    before pending-forever ones; as in `_wgl`, a node is skipped when one with the same positions and
    state was reached with a subset of the pending-forever operations, and a pending-forever
    operation that changes nothing is never taken."""
    seqs: list[list[int]] = []
    infos: list[tuple[int, int, int]] = []  # (process slot, its completed operations before, index in live)
    slot: dict[int, int] = {}
    for k in sorted(range(len(live)), key=lambda k: live[k][0].call):
        op, completed = live[k]
        s = slot.setdefault(op.process, len(slot))
        if s == len(seqs):
            seqs.append([])
        if completed:
            seqs[s].append(k)
        else:
            infos.append((s, len(seqs[s]), k))
    steps = [m.stepper(op) for op, _ in live]
    calls = [op.call for op, _ in live]
    ends = tuple(len(q) for q in seqs)
    start = (tuple(0 for _ in seqs), 0, init)
    used: dict = {(start[0], init): [0]}
    stack = [start]
    budget = CHUNK
    while stack:
        pos, did, state = stack.pop()
        if pos == ends:
            return True, None
        budget -= 1
        if not budget:
            yield
            budget = CHUNK
        children = []
        for b, (s, need, k) in enumerate(infos):
            if not (did >> b) & 1 and pos[s] >= need:
                ok, new = steps[k](state)
                if ok and new != state:
                    children.append((calls[k], pos, did | (1 << b), new))
        mark = len(children)
        for s, q in enumerate(seqs):
            j = pos[s]
            if j < len(q):
                ok, new = steps[q[j]](state)
                if ok:
                    children.append((calls[q[j]], pos[:s] + (j + 1,) + pos[s + 1:], did, new))
        # Pushed so that the completed child called earliest pops first, the pending-forever ones last.
        children[mark:] = sorted(children[mark:], reverse=True)
        children[:mark] = sorted(children[:mark], reverse=True)
        for _, npos, ndid, new in children:
            sets = used.get((npos, new))
            if sets is None:
                used[(npos, new)] = [ndid]
            elif any(not x & ~ndid for x in sets):
                continue
            else:
                sets[:] = [x for x in sets if ndid & ~x]
                sets.append(ndid)
            stack.append((npos, ndid, new))
    return False, None


def _finish(search, chunks: int | None = None):
    """Run a search generator to its result, or None after `chunks` pauses."""
    try:
        while True:
            next(search)
            if chunks is not None:
                chunks -= 1
                if chunks < 0:
                    search.close()
                    return None
    except StopIteration as stop:
        return stop.value


def _first_failure(searches: list):
    """Run searches round-robin, a chunk each in turn (as Porcupine runs partitions in parallel and
    stops at the first failure: one key's search can be hard while another's fails at once).
    Returns (index, culprit) of the first that fails, or None when all succeed."""
    running = list(enumerate(searches))
    while running:
        still = []
        for i, s in running:
            try:
                next(s)
                still.append((i, s))
            except StopIteration as stop:
                ok, culprit = stop.value
                if not ok:
                    for _, other in running:
                        other.close()
                    return i, culprit
        running = still
    return None


SHRINK_CHUNKS = 10  # a candidate sub-history whose search pauses more often than this counts as passing


def _prefix(items: list, bad: Callable[[list], bool | None], deadline: float) -> list:
    """The shortest failing prefix of `items` (in call order; the whole fails) found by bisection."""
    lo, hi = 0, len(items)
    while hi - lo > 1 and time.perf_counter() < deadline:
        mid = (lo + hi) // 2
        if bad(items[:mid]):
            hi = mid
        else:
            lo = mid
    return items[:hi]


def _shrink(items: list, bad: Callable[[list], bool | None], deadline: float) -> tuple[list, bool]:
    """A 1-minimal failing subset of `items` (which fail): ddmin over complements, from halves down
    to single items, repeated to a fixed point. `bad` answers True (fails), False, or None
    (undecided within its budget: kept as passing). Returns (items, minimal); minimal is False when
    `deadline` cut the work short, or when a single removal in the last pass was undecided."""
    n = 2
    while len(items) >= 2:
        chunk = -(-len(items) // n)
        undecided = False
        for start in range(0, len(items), chunk):
            if time.perf_counter() > deadline:
                return items, False
            rest = items[:start] + items[start + chunk:]
            verdict = bad(rest)
            if verdict:
                items = rest
                n = max(n - 1, 2)
                break
            undecided = undecided or verdict is None
        else:
            if chunk == 1:
                return items, not undecided
            n = min(2 * n, len(items))
    return items, True


SHRINKS = ("weaken", "delete", "none")
LINEARIZABLE_FIRST_CHUNKS = 50  # how long check_sequential first looks for a linearization


def _check(history: Any, model: str | Model, initial: Any, *, consistency: str, split: bool, fail: str,
           shrink: str, shrink_seconds: float) -> Result:
    t0 = time.perf_counter()
    m = _model(model)
    if shrink not in SHRINKS:
        raise ValueError(f"shrink must be one of {', '.join(SHRINKS)}, got {shrink!r}")
    ops = parse_history(history, m)
    search = _wgl if consistency == "linearizable" else _sequential
    if consistency == "sequential":  # linearizable implies sequentially consistent, and is quicker to find
        parts = [(_live(part, pm, fail), init, pm) for _, part, init, pm in m.partitions(ops, initial, True)]
        if all(_finish(_wgl(live, init, pm), LINEARIZABLE_FIRST_CHUNKS) == (True, None) for live, init, pm in parts):
            return Result(True, consistency, "sequentially consistent (it is even linearizable)", len(ops),
                          seconds=time.perf_counter() - t0)
    parts = [(label, _live(part, pm, fail), init, pm) for label, part, init, pm in m.partitions(ops, initial, split)]
    failed = _first_failure([search(live, init, pm) for _, live, init, pm in parts])
    if failed is None:
        return Result(True, consistency, "linearizable" if consistency == "linearizable" else "sequentially consistent",
                      len(ops), seconds=time.perf_counter() - t0)
    i, culprit = failed
    label, live, init, pm = parts[i]
    if consistency == "linearizable" and not split and shrink != "none":
        # Explain it key by key all the same: by P-compositionality one key's operations fail alone.
        keyed = [(k, _live(part, p, fail), s, p) for k, part, s, p in m.partitions(ops, initial, True)]
        if len(keyed) > 1:
            i, culprit = _first_failure([search(lv, s, p) for _, lv, s, p in keyed])
            label, live, init, pm = keyed[i]
            split = True
    keep = list(range(len(live)))
    if culprit is not None:
        # No path of the search got past the culprit's return: what is called after it cannot matter.
        keep = [k for k in keep if live[k][0].call < live[culprit][0].ret]
    minimal = False
    others = 0
    if shrink != "none":
        weak = {}
        if shrink == "weaken":  # an operation left out may still have taken effect, at any time after its call
            weak = {k: replace(op, output=UNKNOWN, status="info")  # a cas that returned false changed nothing
                    for k, (op, _) in enumerate(live) if op.f not in pm.read_only and op.status != "fail"}

        def candidate(kept: list[int]) -> list:
            sub = [live[k] for k in kept]
            if weak:  # (for linearizability, one called after the last return could only come after everything)
                last = max((op.ret for op, completed in sub if completed), default=-1)
                if consistency != "linearizable":
                    last = len(history)
                chosen = set(kept)
                optional = [w for k, w in weak.items() if k not in chosen and w.call < last]
                sub += [(op, False) for op in pm.useful(sub, optional)]
            return sub

        def bad(kept: list[int]) -> bool | None:
            verdict = _finish(search(candidate(kept), init, pm), SHRINK_CHUNKS)
            return None if verdict is None else not verdict[0]

        deadline = time.perf_counter() + shrink_seconds
        if culprit is None:
            keep = _prefix(keep, bad, deadline)
        # Reads are dropped first, on their own: of two explanations, the one that keeps the writes
        # reads more plainly (not "a later read shows the write happened").
        seen = [k for k in keep if pm.observes(*live[k])]
        rest = [k for k in keep if not pm.observes(*live[k])]
        seen, _ = _shrink(seen, lambda sub: bad(sorted(sub + rest)), deadline)
        keep, minimal = _shrink(sorted(seen + rest), bad, deadline)
        final = candidate(keep)
        others = len(final) - len(keep)
        ok, culprit = _finish(search(final, init, pm))
        if ok:  # every step above keeps a failing set: this would be a bug
            raise RuntimeError("internal error: the shrunk history passes")
    r = _failure(history, pm, [live[k] for k in keep], culprit, consistency, label if split else None, others)
    r.operations, r.minimal, r.seconds = len(ops), minimal, time.perf_counter() - t0
    return r


def _failure(history, pm, live, culprit, consistency, label, others) -> Result:
    if culprit is None or culprit >= len(live):  # the latest-returning operation that the model checks, else the latest
        def last(k):
            op, completed = live[k]
            return (pm.observes(op, completed), op.ret if completed else op.call)
        culprit = max(range(len(live)), key=last)
    op, completed = live[culprit]
    n = len(live)
    what = pm.describe(op, history)
    where = f"entries {op.call}-{op.ret}" if op.ret is not None else f"entry {op.call}, never completed"
    these = f"{'this' if n == 1 else 'these'} {n} operation{'s' if n != 1 else ''}"
    if consistency == "linearizable":
        order = f"linearization of {these}"
    else:
        order = f"order of {these} that keeps each process's program order"
    if pm.observes(op, completed):
        msg = f"{what} ({where}), which no {order} explains"
    else:
        msg = f"{what} ({where}) fits no {order}"
    if others:
        msg += f", even if the {others} other{'s' if others != 1 else ''} took effect at any time after their call, or never"
    if label is not None:
        msg = f"key {_show(label)}: {msg}"
    indices = sorted([o.call for o, _ in live] + [o.ret for o, _ in live if o.ret is not None])
    return Result(False, consistency, msg, explanation=[history[i] for i in indices], indices=indices, partition=label)


def check_linearizable(history: Any, model: str | Model = "register", initial: Any = None, *, partition: bool = True,
                       fail: str = "drop", shrink: str = "weaken", shrink_seconds: float = 30.0) -> Result:
    """Is `history` linearizable with respect to `model` starting from `initial`?

    `initial`: the register's value (default null) or, for kv, an object of strings (default: every
    key ""). `partition`: check a kv history key by key (P-compositionality); False checks it as
    one map (slower; the same verdict). `fail`: "drop" (a failed operation did not happen) or
    "returned-false" (Porcupine: a failed cas returned false).

    `shrink`, for a history that fails: what the explanation's sub-history S is minimal for.
    "weaken" (default): S fails even when each operation left out is weakened to "may have
    taken effect at any time after its call, or never" (a left-out read is dropped), and weakening
    any one operation of S makes it pass. So the operations left out cannot explain S away: the
    violation is the history's own. "delete": S fails on its own, and deleting any one
    operation makes it pass (this often ends in a lone read of a value that S no longer writes).
    "none": no shrinking: the failing partition (for linearizability, cut after the operation that
    stopped the search, which makes no difference to the verdict). Shrinking stops after `shrink_seconds` (the result then
    says minimal=False). Raises `HistoryError` for a malformed history.
    """
    return _check(history, model, initial, consistency="linearizable", split=partition, fail=fail,
                  shrink=shrink, shrink_seconds=shrink_seconds)


def check_sequential(history: Any, model: str | Model = "register", initial: Any = None, *, fail: str = "drop",
                     shrink: str = "weaken", shrink_seconds: float = 30.0) -> Result:
    """Is `history` sequentially consistent with respect to `model`: is there a total order of its
    operations that keeps each process's program order (real time between processes is ignored)
    and that the model accepts? Arguments as for `check_linearizable` (a weakened operation may take
    effect anywhere after its process's earlier operations, or never); kv is always checked as one
    map (sequential consistency is not compositional)."""
    return _check(history, model, initial, consistency="sequential", split=False, fail=fail,
                  shrink=shrink, shrink_seconds=shrink_seconds)


def check_convergence(replica_states: Mapping[Any, Any] | Iterable[Any]) -> Result:
    """Do all replicas hold the same value at quiescence (once no operation is in flight)?

    `replica_states`: replica name -> final value, or a sequence of final values (named by
    position). Values are compared as JSON values (see `freeze`). The message names the groups
    when they differ; `explanation` then lists {"replica", "value"} for every replica.

    >>> check_convergence({"a": [1, 2], "b": [1, 2]}).ok
    True
    >>> check_convergence(["x", "x", "y"]).message
    'replicas disagree at quiescence: 0, 1 hold "x"; 2 holds "y"'
    """
    t0 = time.perf_counter()
    items = list(replica_states.items()) if isinstance(replica_states, Mapping) else list(enumerate(replica_states))
    groups: dict[Hashable, list] = {}
    for name, value in items:
        groups.setdefault(freeze(value), []).append((name, value))
    if len(groups) <= 1:
        return Result(True, "convergence", f"{len(items)} replica{'s' if len(items) != 1 else ''} agree",
                      len(items), seconds=time.perf_counter() - t0)
    parts = [f"{', '.join(str(n) for n, _ in g)} {'hold' if len(g) > 1 else 'holds'} {_show(g[0][1])}"
             for g in groups.values()]
    return Result(False, "convergence", "replicas disagree at quiescence: " + "; ".join(parts), len(items),
                  explanation=[{"replica": n, "value": v} for n, v in items], seconds=time.perf_counter() - t0)
