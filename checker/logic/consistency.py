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
  partitions do). The history is cut at its points of quiescence (no completed operation in
  flight): the linearized set is a small bitset local to the current segment. Beside the exact
  search runs a relaxed one in which pending-forever operations may take effect any number of
  times (polynomial for a register; its failure is a sound "no"). After half a second undecided, an
  operation is looked for that fails on its own with every other one weakened (see "weaken"
  below): an impossible read ends the check at once, and is its own explanation. Worst case still
  exponential: O(2^n * |states|) nodes, each O(n), for n operations of one segment; `max_seconds`
  bounds it (the result is then undetermined). On Porcupine's 102 etcd histories each takes
  milliseconds; its 50-client kv history a fifth of a second; the generated hard histories of
  bench/hard_histories.py (10,000 entries with 24 pending forever; 100,000 operations) under 2 s.
  An ok read of null (`Model.reads_nil`) reads an unknown value by default (Knossos;
  ``nil_read="unknown"``), the value null with ``nil_read="value"`` (Porcupine).
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

Removing or weakening whole operations keeps every process well formed. Before ddmin, short
candidates are tried: the one operation that fails alone, the culprit with every operation that
observes nothing (a stale read's story), the culprit's segment with 1, 3, 7, ... segments before it.
Shrinking stops after `shrink_seconds` (default 2; then `Result.minimal` is False); each candidate's
search has a budget too, and a candidate that exceeds it counts as passing.

This module uses only the standard library.

>>> h = [{"process": 0, "type": "invoke", "f": "write", "value": 1},
...      {"process": 0, "type": "ok", "f": "write", "value": 1},
...      {"process": 1, "type": "invoke", "f": "read", "value": None},
...      {"process": 1, "type": "ok", "f": "read", "value": None}]
>>> r = check_linearizable(h, "register", nil_read="value")   # null is the value read (Porcupine)
>>> r.ok, r.indices
(False, [0, 1, 2, 3])
>>> r.message
'read by process 1 returned null (entries 2-3), which no linearization of these 2 operations explains'
>>> check_sequential(h, "register", nil_read="value").ok   # the read may come first in a sequential order
True
>>> check_linearizable(h, "register").ok   # by default (Knossos) a read of null read an unknown value
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
from .histmodels import NIL_READS  # noqa: E402

# -------------------------------------------------------------------------------------------- parsing


def parse_history(history: Any, model: str | Model = "register", *, nil_read: str = "value") -> list[Operation]:
    """The operations of `history`, in call order, validated against `model`.

    `nil_read`: "value" (Porcupine: a read of nil read the value nil) or "unknown" (Knossos: an ok
    completion whose raw value `model.reads_nil(f, value)` says is a read of nil read an unknown value:
    its output is `UNKNOWN`, so it constrains nothing).

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
    if nil_read not in NIL_READS:
        raise ValueError(f"nil_read must be one of {', '.join(NIL_READS)}, got {nil_read!r}")
    unknown_nil = nil_read == "unknown"
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
            out = m.parse_output(f, t, inp, value, i)
            if unknown_nil and t == "ok" and m.reads_nil(f, None if value is _MISSING else value):
                out = UNKNOWN
            done[j] = (i, t, out)
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
    check, the key whose sub-history failed. operations: invocations in the history. undetermined:
    `max_seconds` ran out before the search decided (then ok is False and the message says so).
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
    undetermined: bool = False

    def to_json(self) -> dict:
        return {"ok": self.ok, "consistency": self.consistency, "message": self.message,
                "operations": self.operations, "seconds": round(self.seconds, 6), "partition": self.partition,
                "minimal": self.minimal, "undetermined": self.undetermined,
                "explanation": [{"index": i, "entry": e} for i, e in zip(self.indices, self.explanation)]}


# ------------------------------------------------------------------------------------------ searches

CHUNK = 4096  # a search yields (pauses) after this many new (set, state) pairs, so that several can interleave


def _segments(live: list[tuple[Operation, bool]]) -> list[int]:
    """The segment of each operation of `live`: the history cut at its points of quiescence, where no
    completed operation is in flight (every one called before the cut returned before it). Real-time
    order puts every completed operation of a segment before every one of the next, so a search
    linearizes the segments in turn; operations pending forever never return and do not stop a cut."""
    events = sorted([(op.call, 1, k) for k, (op, d) in enumerate(live)]
                    + [(op.ret, 0, k) for k, (op, d) in enumerate(live) if d])
    seg = [0] * len(live)
    current = 0
    open_ = 0
    cut = False
    for _, is_call, k in events:
        if is_call:
            if cut:
                current += 1
                cut = False
            seg[k] = current
            open_ += live[k][1]
        else:
            open_ -= 1
            cut = open_ == 0
    return seg


def _wgl(live: list[tuple[Operation, bool]], init: Hashable, m: Model):
    """Wing & Gong / Lowe over one partition, as a generator: it yields None every `CHUNK` new cache
    entries and returns (linearizable, culprit) (see `_wgl_search`).

    Operations pending forever are where the search gets exponential (which of them were used).
    So beside the exact search, a chunk of each in turn, a relaxed search lets each of them take effect
    any number of times (after its call): a node is then (segment, completed operations linearized,
    state), far fewer when the states are few (a register). The relaxation allows more, so when it
    fails the history is not linearizable; when it passes, the exact search decides alone (on a
    linearizable history it soon finds a linearization). Either way at most twice the better one's work.
    Only for models whose updates reach finitely many states when repeated (`Model.finite_reuse`: a
    register, a set, a mutex); a counter's adds or a queue's enqueues, reused, never end.
    """
    exact = _wgl_search(live, init, m, reuse=False)
    if all(d for _, d in live) or not m.finite_reuse:  # reused counter adds or queue enqueues never end
        return (yield from exact)
    searches = [exact, _wgl_search(live, init, m, reuse=True)]
    try:
        while True:
            for search in searches:  # a chunk of each in turn: the first to decide does
                try:
                    next(search)
                except StopIteration as stop:
                    if search is exact or not stop.value[0]:
                        return stop.value
                    searches = [exact]  # the relaxation passed: only the exact search can tell
                    break
            yield
    finally:
        for search in searches:
            search.close()


def _wgl_search(live: list[tuple[Operation, bool]], init: Hashable, m: Model, reuse: bool):
    """Wing & Gong / Lowe over one partition, as a generator: it yields None every `CHUNK` new cache
    entries and returns (linearizable, culprit); when not linearizable, culprit is the position in
    `live` of the operation whose return stopped the search furthest into the history.

    The history is cut at its points of quiescence (`_segments`): the search reaches segment j+1 only
    once every completed operation of segment j is linearized, so a node is (segment, completed
    operations of that segment linearized, pending-forever operations used, state), the two sets as
    small bitset ints local to the segment and to the pending-forever operations (instead of one bit
    per operation of the history: a cache of 100,000-bit ints does not fit in memory). Each node is
    expanded once; with operations pending forever a node is skipped when one with the same segment,
    completed operations and state was reached with a subset of the pending ones: anything done from
    the node can be done from that one, which has the same state and more operations left to use.
    Within a run of pending-forever operations (since the last completed one), one that returns to a
    state of the run, or that the run took already, is not taken; nor a completed operation that the
    state before the run allows with the same result (the run was not needed: without it more
    operations are left to use).

    `reuse`: a pending-forever operation stays available after taking effect (the relaxation of `_wgl`).
    """
    if not any(d for _, d in live):
        return True, None
    segment = _segments(live)
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
    bits = [0] * size  # a completed operation's bit among its segment's, or a pending one's among those
    call_slot = {}
    local: dict[int, int] = {}  # segment -> completed operations in it so far
    npend = 0
    for s, (t, k, c) in enumerate(events, start=1):
        opk[s], is_call[s], when[s] = k, c, t
        if c:
            call_slot[k] = s
            steps[s] = m.stepper(live[k][0])
            if live[k][1]:
                n = local.get(segment[k], 0)
                local[segment[k]] = n + 1
                bits[s] = 1 << n
            else:
                bits[s] = 1 << npend
                npend += 1
        else:
            match[call_slot[k]] = s
    order = sorted(local)
    after = dict(zip(order, order[1:] + [-1]))  # segment -> the next one with completed operations
    full = {g: (1 << n) - 1 for g, n in local.items()}
    remaining = sum(local.values())  # completed operations not linearized yet
    pend = npend > 0
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
    used: dict = {}  # (segment, completed linearized, state) -> pending-forever sets reached with (an antichain)
    stack: list = []
    state = init
    linearized = 0  # completed operations of segment `seg` linearized
    spent = 0  # pending-forever operations linearized
    seg = order[0]
    run: tuple = ()  # the states before each pending-forever operation taken since the last completed one
    rbits = 0  # those operations (each at most once in a run, reused or not: so a run ends)
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
                if t and (reuse or not lifted[t]):  # (reused, the earlier twin stays available)
                    e = nxt[e]
                    continue
            ok, new = steps[e](state)
            if ok:
                if phase2:
                    if new == state or (run and (rbits & bits[e] or new in run)):
                        e = nxt[e]  # changes nothing, or goes back to a state of this run: never needed
                        continue
                    lin, mine, nseg, nrun = linearized, spent if reuse else spent | bits[e], seg, run + (state,)
                    nrbits = rbits | bits[e]
                else:
                    if run and steps[e](run[0]) == (True, new):
                        e = nxt[e]  # the pending-forever operations just taken are not needed for this one
                        continue
                    lin, mine, nseg, nrun, nrbits = linearized | bits[e], spent, seg, (), 0
                    if lin == full[seg]:  # the segment is done: on to the next
                        nseg, lin = after[seg], 0
                key = (nseg, lin, mine, new)
                if key in cache:
                    e = nxt[e]
                    continue
                cache.add(key)  # a node found dominated below stays dominated: cache it too
                if pend:
                    key = (nseg, lin, new)
                    sets = used.get(key)
                    if sets is None:
                        used[key] = [mine]
                    elif any(not x & ~mine for x in sets):
                        e = nxt[e]  # reached before with a subset of these pending-forever operations
                        continue
                    else:
                        sets[:] = [x for x in sets if mine & ~x]
                        sets.append(mine)
                stack.append((e, state, phase2, linearized, spent, seg, run, rbits))
                state, linearized, spent, seg, run, rbits = new, lin, mine, nseg, nrun, nrbits
                if not (reuse and phase2):
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
            e, state, phase2, linearized, spent, seg, run, rbits = stack.pop()
            if not (reuse and phase2):
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


class _OutOfTime(Exception):
    """`max_seconds` ran out."""


def _first_failure(searches: list, deadline: float | None = None):
    """Run searches round-robin, a chunk each in turn (as Porcupine runs partitions in parallel and
    stops at the first failure: one key's search can be hard while another's fails at once).
    Returns (index, culprit) of the first that fails, or None when all succeed. Raises `_OutOfTime`
    past `deadline` (a `time.perf_counter()` value), after closing the searches."""
    race = _Race(searches)
    try:
        return race.run(deadline)
    finally:
        race.close()


class _Race:
    """Searches run round-robin, resumable: `run(deadline)` goes on where the last call stopped."""

    def __init__(self, searches: list):
        self.running = list(enumerate(searches))

    def run(self, deadline: float | None = None):
        """(index, culprit) of the first search that fails, None when all succeed; `_OutOfTime` past
        `deadline`, with the searches left open for another call."""
        while self.running:
            still = []
            for n, (i, s) in enumerate(self.running):
                try:
                    next(s)
                    still.append((i, s))
                except StopIteration as stop:
                    ok, culprit = stop.value
                    if not ok:
                        self.running = still + self.running[n + 1:]
                        return i, culprit
            self.running = still
            if deadline is not None and self.running and time.perf_counter() > deadline:
                raise _OutOfTime
        return None

    def close(self) -> None:
        for _, s in self.running:
            s.close()
        self.running = []


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


QUICK_SECONDS = 0.5  # how long the search runs before the pre-check (`_alone`) is tried
PRECHECK_SECONDS = 0.25  # how long the search for an operation that fails on its own may take, in all
PRECHECK_CHUNKS = 1


def _weakened(live: list[tuple[Operation, bool]], pm: Model) -> dict[int, Operation]:
    """Each operation that may be left out of an explanation, weakened: it may have taken effect at any
    time after its call, or never (a cas that returned false changed nothing; reads are dropped)."""
    return {k: replace(op, output=UNKNOWN, status="info")
            for k, (op, _) in enumerate(live) if op.f not in pm.read_only and op.status != "fail"}


def _candidate(live: list[tuple[Operation, bool]], kept: list[int], weak: dict[int, Operation], pm: Model,
               consistency: str) -> list[tuple[Operation, bool]]:
    """The operations `kept`, plus the weakened others that might make a difference (`Model.useful`;
    for linearizability, one called after the last return could only come after everything)."""
    sub = [live[k] for k in kept]
    if weak:
        last = max((op.ret for op, completed in sub if completed), default=-1)
        chosen = set(kept)
        optional = [w for k, w in weak.items() if k not in chosen and (consistency != "linearizable" or w.call < last)]
        sub += [(op, False) for op in pm.useful(sub, optional)]
    return sub


def _alone(live: list[tuple[Operation, bool]], init: Hashable, pm: Model, consistency: str, search,
           stop: float) -> int | None:
    """An operation (its position in `live`) that fails on its own even when every other operation may
    have taken effect at any time after its call, or never: then the whole fails too (every
    linearization of the whole gives one of that), and that one operation explains it. Looked for among
    the operations whose output the model checks, rarest outputs first, until `stop`; of operations
    with the same f, input and output the one that returned last stands for all."""
    groups: dict = {}
    for k, (op, completed) in enumerate(live):
        if pm.observes(op, completed):
            groups.setdefault((op.f, op.input, op.output), []).append(k)
    if not groups:
        return None
    weak = _weakened(live, pm)
    for _, ks in sorted(groups.items(), key=lambda g: (len(g[1]), g[1][0])):
        if time.perf_counter() > stop:
            return None
        k = max(ks, key=lambda j: live[j][0].ret)
        verdict = _finish(search(_candidate(live, [k], weak, pm, consistency), init, pm), PRECHECK_CHUNKS)
        if verdict is not None and not verdict[0]:
            return k
    return None


def _window(live: list[tuple[Operation, bool]], keep: list[int], culprit: int | None,
            bad: Callable[[list], bool | None], deadline: float) -> list[int]:
    """A short failing stretch of `keep` ending at the culprit's segment (`_segments`): the culprit's
    segment alone, then with 1, 3, 7, ... segments before it, the first that fails (the others weakened);
    `keep` when none does before `deadline`."""
    if culprit is None:
        return keep
    segment = _segments(live)
    g = segment[culprit]
    back = 0
    while time.perf_counter() < deadline:
        window = [k for k in keep if g - back <= segment[k] <= g]
        if len(window) == len(keep):
            return keep
        if bad(window):
            return window
        back = 2 * back + 1
    return keep


def _check(history: Any, model: str | Model, initial: Any, *, consistency: str, split: bool, fail: str,
           shrink: str, shrink_seconds: float, nil_read: str, max_seconds: float | None) -> Result:
    t0 = time.perf_counter()
    m = _model(model)
    if isinstance(model, str):  # a model named: nil reads inside its own values (multi-register's micro-ops) too
        m = m.with_nil_read(nil_read)
    if shrink not in SHRINKS:
        raise ValueError(f"shrink must be one of {', '.join(SHRINKS)}, got {shrink!r}")
    ops = parse_history(history, m, nil_read=nil_read)
    stop = None if max_seconds is None else t0 + max_seconds
    search = _wgl if consistency == "linearizable" else _sequential
    if consistency == "sequential":  # linearizable implies sequentially consistent, and is quicker to find
        parts = [(_live(part, pm, fail), init, pm) for _, part, init, pm in m.partitions(ops, initial, True)]
        if all(_finish(_wgl(live, init, pm), LINEARIZABLE_FIRST_CHUNKS) == (True, None) for live, init, pm in parts):
            return Result(True, consistency, "sequentially consistent (it is even linearizable)", len(ops),
                          seconds=time.perf_counter() - t0)
    parts = [(label, _live(part, pm, fail), init, pm) for label, part, init, pm in m.partitions(ops, initial, split)]
    failed = None
    alone = False
    quick = time.perf_counter() + QUICK_SECONDS
    if stop is not None and stop < quick:
        quick = stop
    race = _Race([search(live, init, pm) for _, live, init, pm in parts])
    try:
        try:  # most histories are decided at once; for the others the pre-check is worth trying
            failed = race.run(quick)
            decided = True
        except _OutOfTime:
            decided = False
        if not decided and (max_seconds is None or max_seconds > 2 * PRECHECK_SECONDS):
            until = time.perf_counter() + PRECHECK_SECONDS  # for all the partitions together
            for i, (_, live, init, pm) in enumerate(parts):
                k = _alone(live, init, pm, consistency, search, until)
                if k is not None:
                    failed, alone, decided = (i, k), True, True
                    break
        if not decided:
            try:
                failed = race.run(stop)
            except _OutOfTime:
                return Result(False, consistency, f"undetermined: the search did not decide within {max_seconds:g} s "
                              "(max_seconds)", len(ops), minimal=False, seconds=time.perf_counter() - t0,
                              undetermined=True)
    finally:
        race.close()
    if failed is None:
        return Result(True, consistency, "linearizable" if consistency == "linearizable" else "sequentially consistent",
                      len(ops), seconds=time.perf_counter() - t0)
    i, culprit = failed
    label, live, init, pm = parts[i]
    if consistency == "linearizable" and not split and shrink != "none" and not alone:
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
        weak = _weakened(live, pm) if shrink == "weaken" else {}

        def bad(kept: list[int]) -> bool | None:
            verdict = _finish(search(_candidate(live, kept, weak, pm, consistency), init, pm), SHRINK_CHUNKS)
            return None if verdict is None else not verdict[0]

        deadline = time.perf_counter() + shrink_seconds
        if alone and (shrink == "weaken" or bad([culprit])):
            keep = [culprit]
        else:
            if culprit is not None:  # the culprit and what writes, without the other reads (a stale read's story)
                blind = [k for k in keep if k == culprit or not pm.observes(*live[k])]
                if len(blind) < len(keep) and bad(blind):
                    keep = blind
            keep = _window(live, keep, culprit, bad, deadline)
        if culprit is None:
            keep = _prefix(keep, bad, deadline)
        # Reads are dropped first, on their own: of two explanations, the one that keeps the writes
        # reads more plainly (not "a later read shows the write happened").
        seen = [k for k in keep if pm.observes(*live[k])]
        rest = [k for k in keep if not pm.observes(*live[k])]
        seen, _ = _shrink(seen, lambda sub: bad(sorted(sub + rest)), deadline)
        keep, minimal = _shrink(sorted(seen + rest), bad, deadline)
        final = _candidate(live, keep, weak, pm, consistency)
        others = len(final) - len(keep)
        ok, culprit = _finish(search(final, init, pm))
        if ok:  # every step above keeps a failing set: this would be a bug
            raise RuntimeError("internal error: the shrunk history passes")
    elif alone:
        keep = [culprit]
        minimal = True
        others = len(_candidate(live, keep, _weakened(live, pm), pm, consistency)) - 1
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
                       fail: str = "drop", shrink: str = "weaken", shrink_seconds: float = 2.0,
                       nil_read: str = "unknown", max_seconds: float | None = None) -> Result:
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
    says minimal=False). `nil_read`: "unknown" (default, Knossos: an ok read of nil read an unknown
    value and constrains nothing) or "value" (Porcupine: nil is the value read, the initial one).
    `max_seconds`: past it the search stops and the result is undetermined (`Result.undetermined`,
    ok False). Raises `HistoryError` for a malformed history.
    """
    return _check(history, model, initial, consistency="linearizable", split=partition, fail=fail,
                  shrink=shrink, shrink_seconds=shrink_seconds, nil_read=nil_read, max_seconds=max_seconds)


def check_sequential(history: Any, model: str | Model = "register", initial: Any = None, *, fail: str = "drop",
                     shrink: str = "weaken", shrink_seconds: float = 2.0, nil_read: str = "unknown",
                     max_seconds: float | None = None) -> Result:
    """Is `history` sequentially consistent with respect to `model`: is there a total order of its
    operations that keeps each process's program order (real time between processes is ignored)
    and that the model accepts? Arguments as for `check_linearizable` (a weakened operation may take
    effect anywhere after its process's earlier operations, or never); kv is always checked as one
    map (sequential consistency is not compositional)."""
    return _check(history, model, initial, consistency="sequential", split=False, fail=fail,
                  shrink=shrink, shrink_seconds=shrink_seconds, nil_read=nil_read, max_seconds=max_seconds)


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
