"""Hard register histories with verdicts known by construction (issue 20), as Jepsen records them.

    python3 bench/hard_histories.py --out DIR [--edn]

Each history comes from a sequential execution of a compare-and-set register (values 0..4, initially
null): `procs` client processes invoke read / write / cas; each operation takes effect at one instant
between its invocation and its completion (its linearization point), in the order of those instants,
and its completion reports what the register did (a read its value, a cas that did not match "fail").
So every history is linearizable by construction. `info` operations (writes or cas whose outcome is
unknown) take effect at their point or not at all (a coin flip) and never report; as Jepsen does, the
process that got `info` is replaced by a new process id (id + procs). The "bad" variants change one
completed read to the value 99, which nothing writes: not linearizable by construction, whatever the
rest of the history.

Written (DIR/NAME.json, a JSON array of entries; with --edn also DIR/NAME.edn, one map per line):

- cas-10k-info16        ~10,000 entries, 8 processes, 16 info writes/cas (ZooKeeper/etcd shape): linearizable
- cas-10k-info16-bad    the same with one read near the end mutated to 99: not linearizable
- ops-100k-bad          100,000 operations (200,000 entries), 5 processes, one impossible read: not linearizable
- ops-100k              the same without the mutation: linearizable
- info-K  (K = 16, 20, 24)  ~10,000 entries with K info writes/cas: linearizable
- info-K-bad            the same with one read mutated: not linearizable
- info-K-stale          the same with a stale read instead (see `cas_history`): not linearizable

`HARD` lists (name, builder, linearizable); the tests build smaller versions with `cas_history`.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

IMPOSSIBLE = 99  # no history here writes it
STALE = 50  # written once, by a completed write early in a history with `stale`


def cas_history(ops: int, procs: int = 5, infos: int = 0, bad: float | None = None, seed: int = 0,
                values: int = 5, think: float = 1.0, stale: float | None = None) -> list[dict]:
    """A cas-register history of `ops` operations by `procs` concurrent processes, `infos` of them writes or
    cas with unknown outcome (spread evenly), linearizable by construction; with `bad` (a fraction in [0, 1]),
    the first completed read at or after that fraction of the operations returns `IMPOSSIBLE` instead.
    With `stale` (a fraction), the first write at or after a tenth of the operations writes `STALE` (the only
    operation that does), and the first completed read at or after `stale` of them, called after a completed
    write that was called after the write of `STALE` returned, returns `STALE`: a stale read, not
    linearizable, that no operation alone explains (the write of `STALE` might have taken effect late).

    Deterministic for a seed. Latencies are uniform in [0.2, 2], think times exponential with mean `think`.
    """
    rng = random.Random(seed)
    info_at = set() if not infos else {int((i + 0.5) * ops / infos) for i in range(infos)}
    events: list[tuple[float, int, dict]] = []  # (time, tiebreak, entry) in log order
    tie = 0
    # Per process: the time it is free again. Operation k is started by the process free earliest.
    free = [(rng.expovariate(1 / think), p) for p in range(procs)]
    heapq.heapify(free)
    planned = []  # (linearization time, k, process, f, value, invoke time, complete time, info)
    stale_write = None
    for k in range(ops):
        t0, p = heapq.heappop(free)
        lat = rng.uniform(0.2, 2.0)
        point = t0 + rng.uniform(0.0, lat)
        t1 = t0 + lat
        info = k in info_at
        r = rng.random()
        if info:
            f = "write" if r < 0.5 else "cas"
        else:
            f = "read" if r < 0.5 else "write" if r < 0.75 else "cas"
        value = (None if f == "read" else rng.randrange(values) if f == "write"
                 else [rng.randrange(values), rng.randrange(values)])
        if stale is not None and stale_write is None and f == "write" and not info and k >= ops // 10:
            stale_write, value = k, STALE
        planned.append((point, k, p, f, value, t0, t1, info))
        heapq.heappush(free, (t1 + rng.expovariate(1 / think), p + procs if info else p))
    state = None
    done: dict[int, tuple[str, object]] = {}
    for _point, k, _p, f, value, _t0, _t1, info in sorted(planned):
        if info:
            if rng.random() < 0.5:  # it took effect (or not: both are what "info" allows)
                if f == "write":
                    state = value
                elif state == value[0]:
                    state = value[1]
            done[k] = ("info", value)
        elif f == "read":
            done[k] = ("ok", state)
        elif f == "write":
            state = value
            done[k] = ("ok", value)
        elif state == value[0]:
            state = value[1]
            done[k] = ("ok", value)
        else:
            done[k] = ("fail", value)
    if bad is not None:
        start = int(bad * ops)
        target = next(k for k in range(start, ops) if planned[k][3] == "read" and done[k][0] == "ok")
        done[target] = ("ok", IMPOSSIBLE)
    if stale is not None:
        w = planned[stale_write]
        # a completed write called after the write of STALE returned; the read is called after it returned
        over = next(q for q in planned if q[3] == "write" and not q[7] and q[5] > w[6])
        target = next(q[1] for q in planned[int(stale * ops):]
                      if q[3] == "read" and done[q[1]][0] == "ok" and q[5] > over[6])
        done[target] = ("ok", STALE)
    for _point, k, p, f, value, t0, t1, _info in planned:
        typ, out = done[k]
        events.append((t0, tie, {"process": p, "type": "invoke", "f": f, "value": None if f == "read" else value}))
        tie += 1
        events.append((t1, tie, {"process": p, "type": typ, "f": f, "value": out}))
        tie += 1
    events.sort(key=lambda e: (e[0], e[1]))
    return [e for _, _, e in events]


HARD: list[tuple[str, Callable[[], list[dict]], bool]] = [
    ("cas-10k-info16", lambda: cas_history(5000, procs=8, infos=16, seed=1), True),
    ("cas-10k-info16-bad", lambda: cas_history(5000, procs=8, infos=16, bad=0.9, seed=1), False),
    ("ops-100k", lambda: cas_history(100_000, procs=5, seed=2), True),
    ("ops-100k-bad", lambda: cas_history(100_000, procs=5, bad=0.75, seed=2), False),
] + [(f"info-{k}{s}", (lambda k=k, b=b: cas_history(5000, procs=8, infos=k, bad=b, seed=3)), b is None)
     for k in (16, 20, 24) for s, b in (("", None), ("-bad", 0.9))] + [
    (f"info-{k}-stale", (lambda k=k: cas_history(5000, procs=8, infos=k, stale=0.9, seed=3)), False)
    for k in (16, 20, 24)]


def _edn(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_edn(v) for v in value) + "]"
    return str(value)


def to_edn(entries: list[dict]) -> str:
    """Jepsen's shape: one map per line, keywords for type and f, an :index."""
    return "".join(f"{{:type :{e['type']}, :f :{e['f']}, :value {_edn(e['value'])}, :process {e['process']}, "
                   f":index {i}}}\n" for i, e in enumerate(entries))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder to write NAME.json (and NAME.edn) into")
    ap.add_argument("--edn", action="store_true", help="also write EDN, one map per line")
    ap.add_argument("--only", nargs="*", help="names to write (default: all)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build, linearizable in HARD:
        if args.only and name not in args.only:
            continue
        h = build()
        (args.out / f"{name}.json").write_text(json.dumps(h), encoding="utf-8")
        if args.edn:
            (args.out / f"{name}.edn").write_text(to_edn(h), encoding="utf-8")
        print(f"{name}: {len(h)} entries, {'linearizable' if linearizable else 'not linearizable'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
