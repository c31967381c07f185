"""Transactional anomalies in client histories, inferred as Elle does (Kingsbury & Alvaro, "Elle: Inferring
Isolation Anomalies from Experimental Observations", VLDB 2020), named as in Adya's thesis ("Weak
Consistency", 1999) and Adya, Liskov & O'Neil, "Generalized Isolation Level Definitions" (ICDE 2000).

A history is a list of normalised entries (see `checker.logic.consistency`) whose values are transactions:
lists of micro-ops. An invocation and the next completion of the same process form one transaction; an ok
completion's micro-ops carry the values read. Two workloads (`ELLE_MODELS`):

- ``list-append``: ``["append", k, v]`` appends v (unique per key) to the list at k; ``["r", k, [v1, ...]]``
  reads the whole list (null: a key never written). Every read reveals a prefix of k's version order, so
  the longest read is the order (every other read must be a prefix of it, else ``incompatible-order``).
  Dependencies between transactions (Elle's rules): *ww* T1 -> T2 when T2 appended the element right after
  T1's; *wr* T1 -> T2 when the last element of T2's read was appended by T1; *rw* T1 -> T2 when T1 read a
  list ending in e (or the empty list) and T2 appended the element right after e. An append no read saw
  came after every element read (so it gets ww/rw edges from the last element read).
- ``rw-register``: ``["w", k, v]`` writes v (unique per key), ``["r", k, v]`` reads it (null: never written).
  The version order is only partly known; what is sound: the initial (null) version precedes every write,
  and a transaction that read v and then wrote v' orders v before v' (writes follow reads). *wr* from the
  writer of a value to its readers; *ww* and *rw* along the inferred version order.

Only committed transactions are nodes: ok ones, and info ones (unknown outcome), which Elle treats as
possibly committed -- their writes may be read, and the edges that reading creates make them committed
(an info transaction's own reads are unknown and give no edges). Failed transactions are never nodes; a
read of their writes is G1a.

Anomalies (Adya's definitions over the dependency graph; cycles never use self-edges):

=====================  ====================================================================================
G0                     a cycle of ww edges (write cycle)
G1a                    an ok read of a value written by a failed transaction (aborted read)
G1b                    a read of a value its writer later overwrote in the same transaction (intermediate)
G1c                    a cycle of ww and wr edges with at least one wr (cyclic information flow)
G-single               a cycle with exactly one rw edge (read skew)
G-nonadjacent          a cycle with two or more rw edges, no two of them consecutive
G2-item                any other cycle with rw edges (e.g. write skew: T1 -rw-> T2 -rw-> T1)
lost-update            two committed transactions read the same version of a key and both wrote it
internal               a transaction's read disagrees with its own earlier read or write of the key
future-read            a transaction read its own later append
dirty-update           (list-append) a committed append follows a failed one in a key's version order
duplicate-elements     (list-append) a read holds an element twice
incompatible-order     (list-append) two reads of a key that are not prefixes of one another
garbage-read           a read of a value no transaction wrote
cyclic-versions        (rw-register) the inferred version order of a key has a cycle
X-process, X-realtime  cycle X that needs per-process (session) or real-time order edges
=====================  ====================================================================================

Consistency models (`ELLE_CONSISTENCY`) forbid anomalies as in Elle's ``elle.consistency-model`` table (after
Adya; Bailis et al., "Highly Available Transactions"; Cerone et al.): read-uncommitted (Adya's PL-1)
forbids G0, duplicate-elements, cyclic-versions, garbage-read; read-committed (PL-2) adds G1a, G1b, G1c,
dirty-update, incompatible-order, future-read; repeatable-read (PL-2.99) adds G-single, G-nonadjacent,
G2-item, lost-update; snapshot-isolation adds to read-committed internal, G-single, G-nonadjacent and
lost-update but allows G2-item (write skew); serializable (PL-3) forbids all of these;
strong-session-serializable adds the -process variants, strict-serializable (PL-SS) the -process and
-realtime ones.

Cycles: for each strongly connected component of the dependency graph, one cycle per anomaly name, the
smallest of its kind there (Elle too reports a sample of cycles, not all): searches in order G0, G1c,
G-single, G-nonadjacent, G2-item (then, with real-time or process edges, their variants), each a
breadth-first search, for every edge of the anomaly's defining kind, for the shortest way back over the
edge kinds the anomaly allows. Edges that cannot lie on such a cycle are skipped (the way back must stay
within the allowed edges' own components, in topological order). A budget of visited nodes per search
keeps huge components fast; a cycle found after it ran out is marked not minimal. Non-cycle anomalies
(G1a, G1b, lost-update, ...) are all reported. A serial list-append history of 10,000 transactions takes
about 1-2 s.

Imports networkx; graphviz only in `to_svg`; `checker.logic.histmodels` for `HistoryError`.

>>> h = [{"process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1], ["r", "y", None]]},
...      {"process": 1, "type": "invoke", "f": "txn", "value": [["append", "y", 1], ["r", "x", None]]},
...      {"process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 1], ["r", "y", []]]},
...      {"process": 1, "type": "ok", "f": "txn", "value": [["append", "y", 1], ["r", "x", []]]}]
>>> r = check_transactions(h, "list-append", "serializable")
>>> r.ok, [a.name for a in r.anomalies], r.anomalies[0].cycle
(False, ['G2-item'], ((0, 'rw'), (1, 'rw')))
>>> check_transactions(h, "list-append", "snapshot-isolation").ok   # write skew: allowed under SI
True
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .histmodels import _MISSING, HistoryError, _kind, _show, freeze

__all__ = ["ELLE_CONSISTENCY", "ELLE_MODELS", "Anomaly", "ElleResult", "Transaction", "check_transactions",
           "to_dot", "to_svg"]

ELLE_MODELS = ("list-append", "rw-register")
ELLE_CONSISTENCY = ("read-uncommitted", "read-committed", "repeatable-read", "snapshot-isolation", "serializable",
                    "strong-session-serializable", "strict-serializable")

_CYCLES = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")
_PL1 = frozenset({"G0", "duplicate-elements", "cyclic-versions", "garbage-read"})
_PL2 = _PL1 | {"G1a", "G1b", "G1c", "dirty-update", "incompatible-order", "future-read"}
_RR = _PL2 | {"G-single", "G-nonadjacent", "G2-item", "lost-update"}
_SI = _PL2 | {"internal", "G-single", "G-nonadjacent", "lost-update"}
_SER = _RR | _SI
FORBIDDEN: dict[str, frozenset[str]] = {
    "read-uncommitted": _PL1,
    "read-committed": _PL2,
    "repeatable-read": _RR,
    "snapshot-isolation": _SI,
    "serializable": _SER,
    "strong-session-serializable": _SER | {c + "-process" for c in _CYCLES},
    "strict-serializable": _SER | {c + s for c in _CYCLES for s in ("-process", "-realtime")},
}
"""For each consistency model, the anomalies it forbids (Elle's table, see the module docstring)."""

_ORDER = ("incompatible-order", "duplicate-elements", "garbage-read", "cyclic-versions", "internal", "future-read",
          "G1a", "G1b", "dirty-update", "G0", "G1c", "G-single", "G-nonadjacent", "G2-item", "lost-update",
          *(c + s for s in ("-process", "-realtime") for c in _CYCLES))
_RANK = {n: i for i, n in enumerate(_ORDER)}
_PREFER = ("ww", "wr", "process", "rt", "rw")  # when an edge has several kinds, the first allowed one is used
_BIT = {k: 1 << i for i, k in enumerate(_PREFER)}
_PICK = [next((k for k in _PREFER if m & _BIT[k]), None) for m in range(1 << len(_PREFER))]  # mask -> kind
_INIT: Any = object()  # the initial version of every key (before any write)
_BUDGET = 200_000  # nodes one cycle search may visit before settling for the best cycle found


# ---------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Transaction:
    """One transaction: `index` names it (T<index>: its invocation's "index" field, else its position in the
    history); `ops` are the completion's micro-ops for an ok one, the invocation's otherwise; `call`/`ret`
    the entries' indices (`ret` None when it never completed)."""

    index: int
    process: Any
    status: str
    ops: tuple
    call: int
    ret: int | None

    def describe(self) -> str:
        """'T3 (process 1, ok, entries 4-7): [append "x" 1] [r "y" [1]]'."""
        where = f"entries {self.call}-{self.ret}" if self.ret is not None else f"entry {self.call}, never completed"
        body = " ".join(f"[{f} {_sh(k)} {_sh(v)}]" for f, k, v in self.ops)
        return f"T{self.index} (process {_sh(self.process)}, {self.status}, {where}): {body}"


@dataclass(frozen=True)
class Anomaly:
    """One anomaly: its `name` (e.g. "G-single"); for a cycle, `cycle` = ((txn, kind), ...) meaning
    T<txn> -kind-> the next transaction (the last one back to the first); `txns` the transactions involved;
    `explanation` one line per fact that makes it; `minimal` False when the search budget ran out before the
    cycle was proven the smallest of its strongly connected component."""

    name: str
    txns: tuple[int, ...]
    explanation: str
    cycle: tuple[tuple[int, str], ...] = ()
    minimal: bool = True

    def headline(self) -> str:
        """'G-single: T3 -rw-> T5 -ww-> T3', or 'G1a: T2, T4'."""
        if self.cycle:
            return f"{self.name}: " + "".join(f"T{t} -{k}-> " for t, k in self.cycle) + f"T{self.cycle[0][0]}"
        return f"{self.name}: " + ", ".join(f"T{t}" for t in self.txns)


@dataclass
class ElleResult:
    """The verdict: `ok` when no anomaly the consistency model forbids was found; `anomalies` are those,
    `allowed` the anomalies found that the model allows (e.g. G2-item under snapshot isolation)."""

    ok: bool
    model: str
    consistency: str
    anomalies: list[Anomaly]
    allowed: list[Anomaly]
    transactions: dict[int, Transaction]
    edges: int
    seconds: float
    message: str = ""
    _edges: dict = field(default_factory=dict, repr=False)

    def text(self, max_shown: int = 5) -> str:
        """The verdict, then each anomaly (at most `max_shown` per name): its cycle or transactions, each
        transaction's micro-ops and the key and values that made each edge."""
        lines = [self.message]
        for title, group in (("", self.anomalies), (f"allowed by {self.consistency}: ", self.allowed)):
            shown: dict[str, int] = defaultdict(int)
            for a in group:
                shown[a.name] += 1
                if shown[a.name] > max_shown:
                    continue
                lines.append(title + a.headline() + ("" if a.minimal else "  (perhaps not minimal)"))
                lines.extend("  " + self.transactions[t].describe() for t in a.txns)
                lines.extend("  " + x for x in a.explanation.splitlines())
            for name, n in shown.items():
                if n > max_shown:
                    lines.append(f"... and {n - max_shown} more {name}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- parsing

_TYPES = ("invoke", "ok", "fail", "info")


def _parse(entries: Any, model: str) -> list[Transaction]:
    """The transactions of `entries`, in invocation order; `HistoryError` for malformed input."""
    if not isinstance(entries, list):
        raise HistoryError(None, f"a history is an array of operations, got {_kind(entries)}")
    idx = [e.get("index") if isinstance(e, dict) else None for e in entries]
    if not all(type(i) is int for i in idx) or len(set(idx)) != len(idx):
        idx = list(range(len(entries)))
    fs = ("append", "r") if model == "list-append" else ("w", "r")
    pending: dict[Hashable, tuple[int, tuple]] = {}
    started: list[tuple[int, Any, tuple]] = []
    done: dict[int, tuple[int, str, tuple]] = {}
    for i, e in enumerate(entries):
        at = idx[i]
        if not isinstance(e, dict):
            raise HistoryError(at, f"an operation is an object with process, type, f and value, got {_kind(e)}")
        p = e.get("process", _MISSING)
        if p is _MISSING:
            raise HistoryError(at, "no 'process'")
        if type(p) not in (int, str):
            raise HistoryError(at, f"process must be an integer or a string, got {_sh(p)}")
        t = e.get("type", _MISSING)
        if t not in _TYPES:
            raise HistoryError(at, "no 'type'" if t is _MISSING else
                               f"unknown type {_sh(t)} (expected invoke, ok, fail or info)")
        ops = _ops(e.get("value", _MISSING), fs, model, at, t == "ok")
        if t == "invoke":
            if p in pending:
                raise HistoryError(at, f"process {_sh(p)} invokes a transaction while its transaction invoked at "
                                       f"entry {pending[p][0]} is still pending")
            pending[p] = (at, ops)
            started.append((at, p, ops))
            continue
        if p not in pending:
            raise HistoryError(at, f"{t} for process {_sh(p)}, which has no pending invocation")
        call, inv = pending.pop(p)
        if t == "ok":
            if len(ops) != len(inv) or any(a[0] != b[0] or freeze(a[1]) != freeze(b[1]) or
                                           (a[0] != "r" and freeze(a[2]) != freeze(b[2])) for a, b in zip(ops, inv)):
                raise HistoryError(at, f"the ok transaction's micro-ops differ from those invoked at entry {call} "
                                       "(only the values read may differ)")
        done[call] = (at, t, ops if t == "ok" else inv)
    out = []
    for call, p, inv in started:
        ret, status, ops = done.get(call, (None, "info", inv))
        out.append(Transaction(call, p, status, ops, call, ret))
    return out


def _ops(value: Any, fs: tuple[str, ...], model: str, at: int, completed_ok: bool) -> tuple:
    if value is _MISSING:
        raise HistoryError(at, "no 'value' (a transaction: an array of micro-ops)")
    if not isinstance(value, list):
        raise HistoryError(at, f"a {model} transaction is an array of micro-ops, got {_kind(value)}")
    out = []
    for j, op in enumerate(value):
        if not (isinstance(op, list) and len(op) == 3 and op[0] in fs):
            raise HistoryError(at, f"micro-op {j} must be [{fs[0]!r}, key, value] or ['r', key, value] for "
                                   f"{model}, got {_sh(op)}".replace("'", '"'))
        f, k, v = op
        if isinstance(k, (list, dict)) or k is None:
            raise HistoryError(at, f"micro-op {j}: a key is a string or a number, got {_sh(k)}")
        if f != "r" and (v is None or isinstance(v, (list, dict))):
            raise HistoryError(at, f"micro-op {j}: {f} of {_kind(v)}; a written value is a string or a number")
        if f == "r" and model == "list-append" and completed_ok and not (v is None or isinstance(v, list)):
            raise HistoryError(at, f"micro-op {j}: a list-append read returns an array (or null), got {_sh(v)}")
        out.append((f, k, v))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- inference


class _Graph:
    """Dependency edges between transactions, each kind with the first reason found for it."""

    def __init__(self) -> None:
        self.edges: dict[tuple[int, int], dict[str, str]] = {}

    def add(self, a: int, b: int, kind: str, why: Any) -> None:
        if a != b:
            kinds = self.edges.setdefault((a, b), {})
            if kind not in kinds:
                kinds[kind] = why


def _sh(x: Any) -> str:
    """A value as compact JSON (fast for numbers)."""
    return str(x) if type(x) is int else _show(x)


def _fz(x: Any) -> Hashable:
    """`freeze`, fast for the usual scalars."""
    return x if type(x) is int or type(x) is str else freeze(x)


def _fzl(v: list | None) -> list:
    """The frozen elements of a list read (None: empty)."""
    if not v:
        return []
    return list(v) if set(map(type, v)) <= {int, str} else [freeze(x) for x in v]


def _brief(v: list) -> str:
    """A list read, its middle elided when long."""
    if len(v) <= 6:
        return _sh(v)
    return "[" + ", ".join([*map(_show, v[:2]), "...", *map(_show, v[-3:])]) + "]"


def _v(x: Any) -> str:
    return "the initial state" if x is _INIT else _sh(x)


def _writers(txns: list[Transaction], write: str, workload: str) -> tuple[dict, dict]:
    """(key, value) -> (the transaction that wrote it with micro-op `write`, whether it was that transaction's
    final write of the key), and key -> the key as the history spells it. Values written are unique per key
    (the workloads' premise): a repeated one is a HistoryError naming the entry."""
    writer: dict[tuple, tuple[Transaction, bool]] = {}
    raw: dict[Hashable, Any] = {}
    verb = "appended to" if write == "append" else "written to"
    for t in txns:
        last: dict[Hashable, Hashable] = {}
        for f, k, v in t.ops:
            if f == write:
                kk, vv = _fz(k), _fz(v)
                raw[kk] = k
                if (kk, vv) in writer:
                    raise HistoryError(t.call, f"{_sh(v)} is {verb} key {_sh(k)} twice (also at entry "
                                               f"{writer[kk, vv][0].call}); {workload} needs unique values")
                writer[kk, vv] = (t, True)
                if kk in last:
                    writer[kk, last[kk]] = (t, False)
                last[kk] = vv
    return writer, raw


def _append_analysis(txns: list[Transaction], g: _Graph, found: list[Anomaly]) -> None:
    writer, raw = _writers(txns, "append", "list-append")  # (key, element) -> (its appender, final for the key?)
    reads: dict[Hashable, list[tuple[Transaction, tuple]]] = defaultdict(list)  # key -> (reader, list read)
    readers: dict[tuple, list[Transaction]] = defaultdict(list)  # (key, last element or _INIT) -> readers
    for t in txns:
        if t.status != "ok":
            continue
        _internal_append(t, found)
        for f, k, v in t.ops:
            if f != "r":
                continue
            kk = _fz(k)
            raw.setdefault(kk, k)
            full = _fzl(v)
            failed: list[tuple[Any, Transaction]] = []
            for x, y in zip(v or (), full):
                w = writer.get((kk, y))
                if w is None:
                    found.append(Anomaly("garbage-read", (t.index,), f"T{t.index} read {_sh(k)} = {_sh(v)}, "
                                         f"but no transaction appended {_sh(x)} to {_sh(k)}"))
                elif w[0].status == "fail":
                    failed.append((x, w[0]))
            if failed:  # one aborted read per read, naming each failed element and its writer
                found.append(Anomaly("G1a", (t.index, *dict.fromkeys(w.index for _, w in failed)),
                                     f"T{t.index} read {_sh(k)} = {_sh(v)}: " + ", ".join(
                                         f"{_sh(x)} was appended by T{w.index}" for x, w in failed) +
                                     (", which failed" if len(failed) == 1 else ", which all failed")))
            seen = list(dict.fromkeys(full))
            if len(seen) != len(full):
                dups = sorted({_sh(x) for x, y in zip(v, full) if full.count(y) > 1})
                found.append(Anomaly("duplicate-elements", (t.index,),
                                     f"T{t.index} read {_sh(k)} = {_sh(v)}: {', '.join(dups)} more than once"))
            reads[kk].append((t, tuple(seen)))
            lastv = seen[-1] if seen else _INIT
            readers[kk, lastv].append(t)
            w = writer.get((kk, lastv))
            if w is not None and w[0] is not t and w[0].status != "fail":
                if not w[1]:
                    found.append(Anomaly("G1b", (t.index, w[0].index), f"T{t.index} read {_sh(k)} = {_sh(v)}, "
                                         f"ending in {_v(_unfreeze(lastv))}, which T{w[0].index} appended before its "
                                         "final append to that key"))
                g.add(w[0].index, t.index, "wr", f"T{t.index} read {_sh(k)} = {_brief(v)}, ending in "
                                                  f"T{w[0].index}'s append of {_v(_unfreeze(lastv))}")
    order: dict[Hashable, tuple] = {}
    for kk, rs in reads.items():
        longest = max(rs, key=lambda r: len(r[1]))
        order[kk] = longest[1]
        for t, seen in rs:
            if seen != longest[1][:len(seen)]:
                found.append(Anomaly("incompatible-order", (t.index, longest[0].index),
                                     f"T{t.index} read {_sh(raw[kk])} = {_sh(list(map(_unfreeze, seen)))} and "
                                     f"T{longest[0].index} read {_sh(list(map(_unfreeze, longest[1])))}: neither "
                                     "is a prefix of the other"))
                break
    for kk, vs in order.items():  # dirty update: a committed append after failed ones (Elle's walk; infos skipped)
        t1: Transaction | None = None
        span: list = []
        for v in vs:
            w = writer.get((kk, v))
            if w is None:
                continue
            t2, before = w[0], t1.status if t1 is not None else "ok"
            if t2.status == "ok":
                if before == "fail":
                    assert t1 is not None
                    found.append(Anomaly("dirty-update", (t1.index, t2.index),
                                         f"T{t2.index} appended {_sh(_unfreeze(v))} to {_sh(raw[kk])} after "
                                         f"{_sh([_unfreeze(x) for x in span])}, appended by failed T{t1.index}"))
                t1, span = t2, [v]
            elif t2.status == "info" or before == "fail":
                span.append(v)
            else:
                t1, span = t2, [v]
    # ww and rw edges: each append's predecessor in its key's version order
    for t in txns:
        if t.status == "fail":
            continue
        for f, k, v in t.ops:
            if f != "append":
                continue
            kk, vv = _fz(k), _fz(v)
            vs = order.get(kk, ())
            try:
                i = vs.index(vv)
                prev = vs[i - 1] if i else _INIT
            except ValueError:  # never read: it came after every element read
                prev = vs[-1] if vs else _INIT
            w = writer.get((kk, prev))
            if w is not None and w[0].status != "fail":
                g.add(w[0].index, t.index, "ww", f"T{t.index} appended {_sh(v)} to {_sh(k)} after "
                                                 f"T{w[0].index} appended {_v(_unfreeze(prev))}")
            for r in readers.get((kk, prev), ()):
                why = (f"T{r.index} read the initial (empty) {_sh(k)}, " if prev is _INIT else
                       f"T{r.index} read {_sh(k)} ending in {_v(_unfreeze(prev))}, ")
                g.add(r.index, t.index, "rw", why + f"before T{t.index}'s append of {_sh(v)}")
    _lost_updates(txns, "append", found)


def _unfreeze(x: Any) -> Any:
    if x is _INIT:
        return x
    if isinstance(x, tuple):
        if len(x) == 2 and x[0] == "bool":
            return x[1]
        return [_unfreeze(y) for y in x]
    return x


def _internal_append(t: Transaction, found: list[Anomaly]) -> None:
    """Elle's INT check for list-append: each read agrees with the transaction's own earlier read and appends
    to the key; and no read shows an element the transaction appends later (future-read)."""
    state: dict[Hashable, tuple[bool, list]] = {}  # key -> (prefix known?, expected list or suffix)
    later = {(freeze(k), freeze(v)): j for j, (f, k, v) in enumerate(t.ops) if f == "append"}
    for j, (f, k, v) in enumerate(t.ops):
        kk = _fz(k)
        if f == "append":
            known, s = state.get(kk, (False, []))
            state[kk] = (known, [*s, freeze(v)])
            continue
        got = _fzl(v)
        fut = [x for x in got if later.get((kk, x), -1) > j]
        if fut:
            found.append(Anomaly("future-read", (t.index,), f"T{t.index} read {_sh(k)} = {_sh(v)}, which "
                                 f"holds {_sh(_unfreeze(fut[0]))}, an element it appends only later"))
        if kk in state:
            known, s = state[kk]
            bad = got != s if known else (len(got) < len(s) or got[len(got) - len(s):] != s)
            if bad:
                exp = _sh([_unfreeze(x) for x in s])
                found.append(Anomaly("internal", (t.index,), f"T{t.index} read {_sh(k)} = {_sh(v)}, but its own "
                                     f"earlier operations on {_sh(k)} imply " +
                                     (exp if known else f"a list ending in {exp}")))
        state[kk] = (True, got)


def _lost_updates(txns: list[Transaction], wf: str, found: list[Anomaly]) -> None:
    """Two ok transactions that read the same version of a key (before writing it) and then wrote it."""
    groups: dict[tuple, list[Transaction]] = defaultdict(list)
    raw: dict[tuple, tuple] = {}
    for t in txns:
        if t.status != "ok":
            continue
        first: dict[Hashable, Any] = {}  # key -> version read before the transaction's first write of it
        wrote: set = set()
        for f, k, v in t.ops:
            kk = _fz(k)
            if f == "r" and kk not in wrote and kk not in first:
                ver = (freeze(v[-1]) if v else _INIT) if wf == "append" else (_INIT if v is None else freeze(v))
                first[kk] = ver
                raw[kk, ver] = (k, v)
            elif f == wf:
                if kk in first and kk not in wrote:
                    groups[kk, first[kk]].append(t)
                wrote.add(kk)
    for key in sorted(groups, key=lambda x: groups[x][0].index):
        ts = groups[key]
        if len(ts) > 1:
            k, v = raw[key]
            what = "the initial state" if key[1] is _INIT else (f"a list ending in {_sh(v[-1])}" if wf == "append"
                                                               else _sh(v))
            found.append(Anomaly("lost-update", tuple(t.index for t in ts),
                                 f"{', '.join(f'T{t.index}' for t in ts)} all read {what} of key {_sh(k)} and "
                                 "then wrote it: all but one of their writes are lost"))


def _register_analysis(txns: list[Transaction], g: _Graph, found: list[Anomaly]) -> None:
    writer, _ = _writers(txns, "w", "rw-register")  # (key, value) -> (writer, its final write of the key?)
    readers: dict[tuple, list[Transaction]] = defaultdict(list)  # (key, version) -> external readers
    succ: dict[Hashable, dict[Any, set]] = defaultdict(lambda: defaultdict(set))  # version order: key -> v -> {v'}
    raw: dict[Hashable, Any] = {}
    for t in txns:
        if t.status == "fail":
            continue
        own: dict[Hashable, Any] = {}  # key -> what this transaction's own operations say it holds
        ext: dict[Hashable, Any] = {}  # key -> version read before the transaction wrote it
        for f, k, v in t.ops:
            kk = _fz(k)
            raw.setdefault(kk, k)
            if f == "w":
                own[kk] = freeze(v)
                continue
            if t.status != "ok":
                continue
            vv = _INIT if v is None else freeze(v)
            if kk in own:
                if own[kk] != vv:
                    found.append(Anomaly("internal", (t.index,), f"T{t.index} read {_sh(k)} = {_sh(v)}, but its "
                                         f"own earlier operations on {_sh(k)} imply {_v(_unfreeze(own[kk]))}"))
                continue
            own[kk] = vv
            ext[kk] = vv
            readers[kk, vv].append(t)
            if vv is _INIT:
                continue
            w = writer.get((kk, vv))
            if w is None:
                found.append(Anomaly("garbage-read", (t.index,), f"T{t.index} read {_sh(k)} = {_sh(v)}, which "
                                     "no transaction wrote"))
            elif w[0] is t:
                found.append(Anomaly("future-read", (t.index,), f"T{t.index} read {_sh(k)} = {_sh(v)}, which "
                                     "it writes only later"))
            elif w[0].status == "fail":
                found.append(Anomaly("G1a", (t.index, w[0].index), f"T{t.index} read {_sh(k)} = {_sh(v)}, "
                                     f"written by T{w[0].index}, which failed"))
            else:
                if not w[1]:
                    found.append(Anomaly("G1b", (t.index, w[0].index), f"T{t.index} read {_sh(k)} = {_sh(v)}, "
                                         f"which T{w[0].index} overwrote later in the same transaction"))
                g.add(w[0].index, t.index, "wr", f"T{t.index} read {_sh(k)} = {_sh(v)}, written by T{w[0].index}")
        for f, k, v in t.ops:  # versions: the initial one precedes all; writes follow reads
            kk = _fz(k)
            if f == "w" and writer[kk, freeze(v)][1]:
                succ[kk][ext.get(kk, _INIT)].add(freeze(v))
    for kk, vg in succ.items():
        has_pred = {v for p, vs in vg.items() if p is not _INIT for v in vs}
        vg[_INIT] = {v for v in vg.get(_INIT, ()) if v not in has_pred}
        dg = nx.DiGraph((p, v) for p, vs in vg.items() if p is not _INIT for v in vs)
        for comp in nx.strongly_connected_components(dg):
            if len(comp) > 1:
                vals = sorted(_sh(_unfreeze(v)) for v in comp)
                ts = sorted({writer[kk, v][0].index for v in comp if (kk, v) in writer})
                found.append(Anomaly("cyclic-versions", tuple(ts), f"the versions {', '.join(vals)} of key "
                                     f"{_sh(raw[kk])} must each precede the next (writes follow reads): a cycle"))
        for p, vs in vg.items():
            wp = writer.get((kk, p)) if p is not _INIT else None
            for v in sorted(vs, key=lambda x: (type(x).__name__, repr(x))):
                wv = writer[kk, v][0]
                if wp is not None and wp[0].status != "fail":
                    g.add(wp[0].index, wv.index, "ww", f"T{wv.index} wrote {_sh(raw[kk])} = {_v(_unfreeze(v))} "
                                                       f"after reading T{wp[0].index}'s {_v(_unfreeze(p))}")
                for r in readers.get((kk, p), ()):
                    g.add(r.index, wv.index, "rw", f"T{r.index} read {_sh(raw[kk])} = "
                                                   f"{'null' if p is _INIT else _v(_unfreeze(p))}, which T{wv.index}'s "
                                                   f"write of {_v(_unfreeze(v))} follows")
    _lost_updates(txns, "w", found)


def _order_edges(txns: list[Transaction], g: _Graph, process: bool, realtime: bool) -> None:
    """Per-process (session) order and real-time order between committed transactions. Only an ok
    transaction precedes others (an info one may take effect after its completion); real time by Elle's
    frontier: each transaction is linked from the ok ones completed before its invocation that no later
    such completion supersedes, so the edges' transitive closure is exactly "completed before invoked"."""
    live = [t for t in txns if t.status != "fail"]
    if process:
        last: dict[Hashable, Transaction] = {}
        for t in live:
            p = t.process
            if p in last:
                g.add(last[p].index, t.index, "process", f"T{last[p].index} completed before T{t.index} began, "
                                                          f"both in process {_sh(p)}")
            if t.status == "ok":
                last[p] = t
    if realtime:
        events = sorted([(t.call, 1, t) for t in live] + [(t.ret, 0, t) for t in live if t.status == "ok"],
                        key=lambda e: (e[0], e[1]))
        frontier: dict[int, Transaction] = {}
        preds: dict[int, list[Transaction]] = {}
        for _, kind, t in events:
            if kind == 1:
                preds[t.index] = list(frontier.values())
                for a in preds[t.index]:
                    g.add(a.index, t.index, "rt", f"T{a.index} completed (entry {a.ret}) before T{t.index} was "
                                                  f"invoked (entry {t.call})")
            else:
                for a in preds[t.index]:
                    frontier.pop(a.index, None)
                frontier[t.index] = t


# ---------------------------------------------------------------------------------------------- cycles


_Adj = dict[int, list[tuple[int, int]]]  # node -> [(successor, mask of the edge's kinds)], successors in order


class _Search:
    """Breadth-first searches for smallest cycles; each search may visit `budget` nodes, after which it
    settles for the best cycle found (and `exhausted` is set)."""

    def __init__(self, budget: int):
        self.budget = budget
        self.exhausted = False

    def shortest(self, adj: _Adj, scc: set[int], first: frozenset, rest: frozenset,
                 nonadjacent: bool = False) -> tuple[list[tuple[int, str]] | None, bool]:
        """The shortest cycle in `scc` whose first edge has a kind in `first` and the others kinds in `rest`
        (with `nonadjacent`: the first is rw and no two rw edges are consecutive, cyclically), and whether it
        is proven the shortest. A path back from b to a over `rest` edges exists only if b's strongly
        connected component of that subgraph comes no later than a's in topological order, so first edges
        that fail this are skipped and each search stays within the components it could use."""
        radj: dict[int, list[tuple[int, str]]] = {}
        rmask, fmask = _mask(rest), _mask(first)
        for u in sorted(scc):
            radj[u] = [(w, k) for w, mask in adj[u] if w in scc for k in (_PICK[mask & rmask],) if k is not None]
        sub = nx.DiGraph()
        sub.add_nodes_from(radj)
        sub.add_edges_from((u, w) for u, out in radj.items() for w, _ in out)
        cond = nx.condensation(sub)
        rank = {c: i for i, c in enumerate(nx.topological_sort(cond))}
        level = {u: rank[c] for u, c in cond.graph["mapping"].items()}
        by_b: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for a in sorted(scc):
            for b, mask in adj[a]:
                if b in scc and level[b] <= level[a]:
                    k = _PICK[mask & fmask]
                    if k is not None:
                        by_b[b].append((a, k))
        best: list[tuple[int, str]] | None = None
        budget = self.budget
        for b in sorted(by_b):
            if best is not None and len(best) == 2:
                break
            limit = len(best) - 1 if best is not None else 2 * len(scc)  # longest path back worth finding
            targets = {a for a, _ in by_b[b]}
            top = max(level[a] for a in targets)
            start = (b, nonadjacent)  # with nonadjacent, the state says whether the last edge taken was rw
            parent: dict[tuple[int, bool], tuple[tuple[int, bool], str] | None] = {start: None}
            frontier = [start]
            hit: dict[int, tuple[int, bool]] = {}
            depth = 0
            while frontier and depth < limit and len(hit) < len(targets) and budget > 0:
                depth += 1
                nxt = []
                for st in frontier:
                    u, last_rw = st
                    budget -= 1
                    for w, k in radj[u]:
                        if level[w] > top or (k == "rw" and nonadjacent and last_rw):
                            continue
                        s2 = (w, nonadjacent and k == "rw")
                        if s2 in parent:
                            continue
                        parent[s2] = (st, k)
                        nxt.append(s2)
                        if w in targets and w not in hit and not s2[1]:
                            hit[w] = s2
                frontier = nxt
            for a, k in by_b[b]:
                if a in hit:
                    path: list[tuple[int, str]] = []
                    st = hit[a]
                    while parent[st] is not None:
                        prev, kind = parent[st]
                        path.append((prev[0], kind))
                        st = prev
                    cyc = [(a, k), *reversed(path)]
                    if best is None or len(cyc) < len(best):
                        best = cyc
            if budget <= 0:
                self.exhausted = True
                return best, False
        return best, True


def _mask(kinds: Iterable[str]) -> int:
    return sum(_BIT[k] for k in set(kinds))


def _classify(cycle: list[tuple[int, str]]) -> str:
    ks = [k for _, k in cycle]
    rw = ks.count("rw")
    if rw == 0:
        base = "G1c" if "wr" in ks else "G0"
    elif rw == 1:
        base = "G-single"
    else:
        base = "G-nonadjacent" if all(not (ks[i] == "rw" and ks[i - 1] == "rw") for i in range(len(ks))) else "G2-item"
    return base + ("-realtime" if "rt" in ks else "-process" if "process" in ks else "")


_F = frozenset
_PLAIN = (("ww", "ww", False), ("wr", "ww wr", False), ("rw", "ww wr", False), ("rw", "ww wr rw", True),
          ("rw", "ww wr rw", False))


def _cycle_anomalies(nodes: Iterable[int], g: _Graph, order_kinds: tuple[str, ...], search: _Search
                     ) -> list[Anomaly]:
    kinds = _F({"ww", "wr", "rw", *order_kinds})
    adj: _Adj = {n: [] for n in nodes}
    for (a, b), ks in sorted(g.edges.items()):
        if any(k in kinds for k in ks):
            adj[a].append((b, _mask(ks)))
    dg = nx.DiGraph()
    dg.add_nodes_from(adj)
    dg.add_edges_from((a, b) for a, out in adj.items() for b, _ in out)
    if order_kinds:
        o = " ".join(order_kinds)
        plans = [(o, f"ww {o}", False), (o, f"ww wr {o}", False), ("rw", f"ww wr {o}", False),
                 (o, f"ww wr rw {o}", False)]
    else:
        plans = list(_PLAIN)
    out = []
    sccs = sorted((sorted(c) for c in nx.strongly_connected_components(dg) if len(c) > 1), key=lambda c: c[0])
    for comp in sccs:
        scc = set(comp)
        names: dict[str, tuple[list[tuple[int, str]], bool]] = {}
        for first, rest, nonadj in plans:
            cyc, proven = search.shortest(adj, scc, _F(first.split()), _F(rest.split()), nonadj)
            if cyc is not None:
                name = _classify(cyc)
                if name not in names and (not order_kinds or name.endswith(("-realtime", "-process"))):
                    names[name] = (cyc, proven)
        if not names and not order_kinds:  # only when the budget ran out: any cycle, classified
            cyc = [(a, _PICK[_mask(g.edges[a, b]) & _mask(kinds)] or "ww") for a, b in nx.find_cycle(dg.subgraph(comp))]
            names[_classify(cyc)] = (cyc, False)
        for name, (cyc, proven) in names.items():
            i0 = min(range(len(cyc)), key=lambda i: cyc[i][0])
            cyc = cyc[i0:] + cyc[:i0]  # start at the lowest-numbered transaction
            why = "\n".join(f"T{a} -{k}-> T{cyc[(i + 1) % len(cyc)][0]}: "
                            f"{g.edges[a, cyc[(i + 1) % len(cyc)][0]][k]}" for i, (a, k) in enumerate(cyc))
            out.append(Anomaly(name, tuple(a for a, _ in cyc), why, tuple(cyc), proven))
    return out


# ---------------------------------------------------------------------------------------------- checking


def check_transactions(entries: Any, model: str = "list-append", consistency: str = "serializable"
                       ) -> ElleResult:
    """Does the transactional history `entries` (see the module docstring) show an anomaly that the
    `consistency` model forbids? Raises `HistoryError` (one line naming the entry) for malformed input and
    `ValueError` for an unknown model or consistency.

    >>> h = [{"process": 0, "type": "invoke", "f": "txn", "value": [["w", "x", 1]]},
    ...      {"process": 0, "type": "ok", "f": "txn", "value": [["w", "x", 1]]},
    ...      {"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x", None]]},
    ...      {"process": 1, "type": "ok", "f": "txn", "value": [["r", "x", 1]]}]
    >>> check_transactions(h, "rw-register").message
    'serializable: no anomaly in 2 transactions (1 dependency)'
    """
    if model not in ELLE_MODELS:
        raise ValueError(f"unknown transactional model {model!r} (expected {', '.join(ELLE_MODELS)})")
    if consistency not in FORBIDDEN:
        raise ValueError(f"unknown consistency model {consistency!r} (expected {', '.join(ELLE_CONSISTENCY)})")
    start = time.perf_counter()
    txns = _parse(entries, model)
    g = _Graph()
    found: list[Anomaly] = []
    (_append_analysis if model == "list-append" else _register_analysis)(txns, g, found)
    nodes = [t.index for t in txns if t.status != "fail"]
    search = _Search(_BUDGET)
    found += _cycle_anomalies(nodes, g, (), search)
    order_kinds = {"strict-serializable": ("rt",), "strong-session-serializable": ("process",)}.get(consistency)
    if order_kinds:
        seen = {(a.name, a.cycle) for a in found}
        _order_edges(txns, g, "process" in order_kinds, "rt" in order_kinds)
        found += [a for a in _cycle_anomalies(nodes, g, order_kinds, search) if (a.name, a.cycle) not in seen]
    found.sort(key=lambda a: (_RANK.get(a.name, len(_RANK)), a.txns))
    bad = FORBIDDEN[consistency]
    anomalies = [a for a in found if a.name in bad]
    allowed = [a for a in found if a.name not in bad]
    n_edges = len(g.edges)
    res = ElleResult(not anomalies, model, consistency, anomalies, allowed, {t.index: t for t in txns}, n_edges,
                     time.perf_counter() - start, _edges=g.edges)
    size = f"{len(txns)} transaction{'s' * (len(txns) != 1)} ({n_edges} dependenc{'y' if n_edges == 1 else 'ies'})"
    if anomalies:
        counts: dict[str, int] = defaultdict(int)
        for a in anomalies:
            counts[a.name] += 1
        res.message = (f"not {consistency}: " + ", ".join(f"{n} ({c})" for n, c in counts.items()) + f" in {size}")
    else:
        also = sorted({a.name for a in allowed}, key=lambda n: _RANK.get(n, 0))
        res.message = f"{consistency}: no anomaly in {size}" + (
            f"; allowed: {', '.join(also)}" if also else "")
    return res


# ---------------------------------------------------------------------------------------------- pictures

_COLOURS = {"ww": "black", "wr": "blue", "rw": "red", "rt": "gray40", "process": "darkgreen"}


def to_dot(result: ElleResult, max_anomalies: int = 20) -> str:
    """The transactions of the first `max_anomalies` anomalies (cycles first, forbidden ones before allowed
    ones) and the edges of their cycles, as Graphviz DOT: one node per transaction (its micro-ops), edges labelled with their kind.

    >>> to_dot(check_transactions([], "list-append")).splitlines()[0]
    'digraph elle {'
    """
    shown = sorted(result.anomalies + result.allowed, key=lambda a: not a.cycle)[:max_anomalies]  # cycles first
    txns = sorted({t for a in shown for t in a.txns})
    edges: dict[tuple[int, int], set[str]] = defaultdict(set)
    for a in shown:
        for i, (t, k) in enumerate(a.cycle):
            edges[t, a.cycle[(i + 1) % len(a.cycle)][0]].add(k)
    lines = ["digraph elle {", f"  label={json.dumps(result.message)};", "  labelloc=t;",
             '  node [shape=box, fontname="monospace", fontsize=10];']
    for t in txns:
        tx = result.transactions[t]
        label = json.dumps("\n".join([f"T{t} ({tx.status}, process {_sh(tx.process)})",
                                       *(f"{f} {_sh(k)} {_sh(v)}" for f, k, v in tx.ops)]), ensure_ascii=False)
        lines.append(f"  T{t} [label={label}];")
    for (a, b), ks in sorted(edges.items()):
        for k in sorted(ks, key=_PREFER.index):
            why = result._edges.get((a, b), {}).get(k, "")
            lines.append(f"  T{a} -> T{b} [label={json.dumps(k)}, color={_COLOURS[k]}, fontcolor={_COLOURS[k]}, "
                         f"tooltip={json.dumps(why)}];")
    cyc = {a.name for a in shown if a.cycle}
    for a in shown:
        if not a.cycle and a.name not in cyc:
            cyc.add(a.name)
            lines.append(f"  // {a.headline()}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(result: ElleResult) -> str:
    """`to_dot` drawn by Graphviz; `RuntimeError` (one line) when Graphviz's dot is not installed."""
    import graphviz

    try:
        return graphviz.Source(to_dot(result)).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise RuntimeError("Graphviz's dot is not installed (apt-get install graphviz)") from None
