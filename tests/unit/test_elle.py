"""checker.logic.elle: transactional anomalies (Elle's inference, Adya's names).

One small history per anomaly, written by hand from the definitions (Adya's thesis; Kingsbury & Alvaro,
VLDB 2020), with the transactions and the shape of the smallest cycle known by construction; histories
without anomalies; random serial executions (serializable by construction) and mutations of them.
"""

from __future__ import annotations

import random
import time

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocols.replicated_register as host
from checker import Enum, History, Int, Message, Node, Protocol, Role, Seq, durable, request
from checker.logic import elle
from checker.logic.elle import ELLE_CONSISTENCY, ELLE_MODELS, check_transactions, to_dot, to_svg
from checker.logic.histmodels import HistoryError
from checker.spec import check


def serial(*txns):
    """Entries for transactions run one after the other: each (ops as completed, status="ok", process=i).
    An invocation carries the same ops with reads unknown (None). Transaction i is T(2*i)."""
    out = []
    for i, t in enumerate(txns):
        ops, status, p = (t + ("ok", i))[:3] if isinstance(t, tuple) else (t, "ok", i)
        inv = [[f, k, None if f == "r" else v] for f, k, v in ops]
        out.append({"process": p, "type": "invoke", "f": "txn", "value": inv})
        out.append({"process": p, "type": status, "f": "txn", "value": ops if status == "ok" else inv})
    return out


def T(i):
    return 2 * i  # the name (invocation entry index) of the i-th transaction of `serial`


def names(r):
    return [a.name for a in r.anomalies]


def only(r, name):
    found = [a for a in r.anomalies + r.allowed if a.name == name]
    assert len(found) == 1, (name, r.text())
    return found[0]


def kinds(a):
    return sorted(k for _, k in a.cycle)


# ------------------------------------------------------------------------------------------ list-append


def test_g0_write_cycle():
    # T0 appends x first but y second; T1 the other way round; T2's reads reveal both orders
    h = serial([["append", "x", 1], ["append", "y", 2]],
               [["append", "x", 2], ["append", "y", 1]],
               [["r", "x", [1, 2]], ["r", "y", [1, 2]]])
    r = check_transactions(h, "list-append", "read-uncommitted")
    assert not r.ok and names(r) == ["G0"]
    a = only(r, "G0")
    assert a.cycle == ((T(0), "ww"), (T(1), "ww"))
    assert "T0 -ww-> T2 -ww-> T0" in r.text()


def test_g1a_aborted_read():
    h = serial(([["append", "x", 1]], "fail"), [["r", "x", [1]]])
    assert check_transactions(h, "list-append", "read-uncommitted").ok  # PL-1 allows aborted reads
    r = check_transactions(h, "list-append", "read-committed")
    assert not r.ok and names(r) == ["G1a"] and set(only(r, "G1a").txns) == {T(0), T(1)}


def test_g1b_intermediate_read():
    h = serial([["append", "x", 1], ["append", "x", 2]], [["r", "x", [1]]])
    r = check_transactions(h, "list-append", "read-committed")
    assert names(r) == ["G1b"] and set(only(r, "G1b").txns) == {T(0), T(1)}


def test_g1c_cyclic_information_flow():
    # Elle's README example: T1 appended x after T0 (ww), yet T0 read T1's append to y (wr)
    h = serial([["append", "x", 1], ["r", "y", [1]]],
               [["append", "x", 2], ["append", "y", 1]],
               [["r", "x", [1, 2]]])
    r = check_transactions(h, "list-append", "read-committed")
    a = only(r, "G1c")
    assert names(r) == ["G1c"] and a.cycle == ((T(0), "ww"), (T(1), "wr"))


def test_g_single_read_skew():
    # T1 saw y after T0's append but x before it
    h = serial([["append", "x", 1], ["append", "y", 1]], [["r", "x", []], ["r", "y", [1]]])
    assert check_transactions(h, "list-append", "read-committed").ok
    for c in ("repeatable-read", "snapshot-isolation", "serializable"):
        r = check_transactions(h, "list-append", c)
        assert names(r) == ["G-single"], c
        assert only(r, "G-single").cycle == ((T(0), "wr"), (T(1), "rw"))


def test_write_skew_is_g2_item_allowed_by_snapshot_isolation():
    h = serial([["r", "x", []], ["r", "y", []], ["append", "x", 1]],
               [["r", "x", []], ["r", "y", []], ["append", "y", 1]])
    si = check_transactions(h, "list-append", "snapshot-isolation")
    assert si.ok and [a.name for a in si.allowed] == ["G2-item"]
    for c in ("serializable", "repeatable-read"):
        r = check_transactions(h, "list-append", c)
        assert names(r) == ["G2-item"] and kinds(only(r, "G2-item")) == ["rw", "rw"]


def test_g_nonadjacent():
    # T0 -rw-> T1 -wr-> T2 -rw-> T3 -wr-> T0: two rw edges, never consecutive (forbidden by SI, unlike write skew)
    h = serial([["r", "x", []], ["r", "w", [1]]],
               [["append", "x", 1], ["append", "y", 1]],
               [["r", "y", [1]], ["r", "z", []]],
               [["append", "z", 1], ["append", "w", 1]])
    assert check_transactions(h, "list-append", "read-committed").ok
    r = check_transactions(h, "list-append", "snapshot-isolation")
    assert names(r) == ["G-nonadjacent"]
    assert only(r, "G-nonadjacent").cycle == ((T(0), "rw"), (T(1), "wr"), (T(2), "rw"), (T(3), "wr"))


def test_lost_update():
    h = serial([["r", "x", []], ["append", "x", 1]],
               [["r", "x", []], ["append", "x", 2]],
               [["r", "x", [1, 2]]])
    r = check_transactions(h, "list-append", "snapshot-isolation")
    assert set(only(r, "lost-update").txns) == {T(0), T(1)}
    # the version order is known, so the lost update is also a read skew: T1 -rw-> T0 -ww-> T1
    assert only(r, "G-single").cycle == ((T(0), "ww"), (T(1), "rw"))
    assert check_transactions(h, "list-append", "read-committed").ok


def test_incompatible_order():
    h = serial([["append", "x", 1]], [["append", "x", 2]], [["r", "x", [1, 2]]], [["r", "x", [2]]])
    r = check_transactions(h, "list-append", "read-committed")
    assert "incompatible-order" in names(r)
    assert set(only(r, "incompatible-order").txns) == {T(2), T(3)}


def test_duplicate_and_garbage_and_dirty_update():
    h = serial([["append", "x", 1]], [["r", "x", [1, 1]]], [["r", "y", [7]]])
    r = check_transactions(h, "list-append", "read-uncommitted")
    assert sorted(names(r)) == ["duplicate-elements", "garbage-read"]
    h = serial(([["append", "x", 1]], "fail"), [["append", "x", 2]], [["r", "x", [1, 2]]])
    r = check_transactions(h, "list-append", "read-committed")
    assert set(names(r)) == {"G1a", "dirty-update"} and only(r, "dirty-update").txns == (T(0), T(1))


def test_internal_and_future_read():
    h = serial([["append", "x", 1]], [["append", "x", 5], ["r", "x", [1]]], [["r", "y", [3]], ["append", "y", 3]])
    r = check_transactions(h, "list-append", "serializable")
    assert set(names(r)) == {"internal", "future-read"}


def test_serial_history_passes_every_model():
    h = serial([["append", "x", 1], ["r", "y", None]],
               [["r", "x", [1]], ["append", "y", 1], ["append", "x", 2]],
               [["r", "x", [1, 2]], ["r", "y", [1]], ["append", "y", 2]],
               [["r", "y", [1, 2]]])
    for c in ELLE_CONSISTENCY:
        r = check_transactions(h, "list-append", c)
        assert r.ok and not r.allowed, (c, r.text())
    assert r.edges == 3 and "no anomaly in 4 transactions" in r.message


def test_realtime_stale_read_fails_only_strict_serializable():
    # T0 completes before T1 starts, yet T1 does not see T0's append
    h = serial([["append", "x", 1]], [["r", "x", []]])
    assert check_transactions(h, "list-append", "serializable").ok
    r = check_transactions(h, "list-append", "strict-serializable")
    assert names(r) == ["G-single-realtime"]
    assert only(r, "G-single-realtime").cycle == ((T(0), "rt"), (T(1), "rw"))
    # concurrent (overlapping) transactions: no real-time order, so no anomaly
    h2 = [h[0], h[2], h[1], h[3]]
    assert check_transactions(h2, "list-append", "strict-serializable").ok


def test_realtime_edges_are_exactly_completed_before_invoked():
    # the frontier's edges, closed transitively, against the definition checked pair by pair
    for seed in range(200):
        rng = random.Random(seed)
        entries, pending, left = [], set(), rng.randint(1, 8)
        while left or pending:
            p = rng.randrange(4)
            if p in pending:
                pending.discard(p)
                entries.append({"process": p, "type": rng.choice(["ok", "ok", "info", "fail"]), "f": "txn",
                                "value": [["r", "x", None]]})
            elif left:
                left -= 1
                pending.add(p)
                entries.append({"process": p, "type": "invoke", "f": "txn", "value": [["r", "x", None]]})
        txns = elle._parse(entries, "list-append")
        g = elle._Graph()
        elle._order_edges(txns, g, process=False, realtime=True)
        dg = nx.DiGraph(list(g.edges))
        dg.add_nodes_from(t.index for t in txns)
        closure = set(nx.transitive_closure_dag(dg).edges)
        want = {(a.index, b.index) for a in txns for b in txns
                if a.status == "ok" and b.status != "fail" and a.ret < b.call}
        assert closure == want, entries


def test_process_order_for_strong_session_serializable():
    h = serial(([["append", "x", 1]], "ok", 7), ([["r", "x", []]], "ok", 7))
    assert check_transactions(h, "list-append", "serializable").ok
    r = check_transactions(h, "list-append", "strong-session-serializable")
    assert names(r) == ["G-single-process"]


def test_info_transaction_counts_when_its_write_is_read():
    h = [{"process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1], ["append", "y", 1]]},
         {"process": 0, "type": "info", "f": "txn", "value": [["append", "x", 1], ["append", "y", 1]]},
         {"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x", None], ["r", "y", None]]},
         {"process": 1, "type": "ok", "f": "txn", "value": [["r", "x", []], ["r", "y", [1]]]}]
    r = check_transactions(h, "list-append", "serializable")
    assert names(r) == ["G-single"] and set(only(r, "G-single").txns) == {0, 2}
    h[3]["value"] = [["r", "x", []], ["r", "y", []]]  # never observed: may not have happened
    assert check_transactions(h, "list-append", "serializable").ok


def test_smallest_cycle_is_reported():
    # a long G1c cycle T0 -wr-> T1 -wr-> T2 -wr-> T3 -ww-> T0 and a short one T2 -wr-> T3 -ww-> T2
    h = serial([["append", "a", 1], ["append", "d", 2]],
               [["r", "a", [1]], ["append", "b", 1]],
               [["r", "b", [1]], ["append", "c", 1], ["append", "e", 2]],
               [["r", "c", [1]], ["append", "d", 1], ["append", "e", 1]],
               [["r", "d", [1, 2]], ["r", "e", [1, 2]]])
    r = check_transactions(h, "list-append", "read-committed")
    assert names(r) == ["G1c"] and len(only(r, "G1c").cycle) == 2


def test_text_and_dot():
    h = serial([["append", "x", 1], ["append", "y", 1]], [["r", "x", []], ["r", "y", [1]]])
    r = check_transactions(h, "list-append")
    text = r.text()
    assert text.splitlines()[0].startswith("not serializable: G-single (1)")
    assert "T2 -rw-> T0: T2 read the initial (empty) \"x\", before T0's append of 1" in text
    assert '[append "x" 1]' in text
    dot = to_dot(r)
    assert dot.startswith("digraph elle {") and "T0 -> T2" in dot and "T2 -> T0" in dot and 'label="rw"' in dot


@pytest.mark.needs_graphviz
def test_svg():
    h = serial([["append", "x", 1], ["append", "y", 1]], [["r", "x", []], ["r", "y", [1]]])
    assert "<svg" in to_svg(check_transactions(h, "list-append"))


# ------------------------------------------------------------------------------------------ rw-register


def test_register_anomalies():
    ok = serial([["w", "x", 1]], [["r", "x", 1], ["w", "x", 2]], [["r", "x", 2]])
    assert check_transactions(ok, "rw-register", "strict-serializable").ok
    g1a = serial(([["w", "x", 1]], "fail"), [["r", "x", 1]])
    assert names(check_transactions(g1a, "rw-register", "read-committed")) == ["G1a"]
    g1b = serial([["w", "x", 1], ["w", "x", 2]], [["r", "x", 1]])
    assert names(check_transactions(g1b, "rw-register", "read-committed")) == ["G1b"]
    # read skew: T1 read y as T0 wrote it but x before T0's write (nil precedes every version)
    skew = serial([["w", "x", 1], ["w", "y", 1]], [["r", "x", None], ["r", "y", 1]])
    r = check_transactions(skew, "rw-register", "snapshot-isolation")
    assert names(r) == ["G-single"] and only(r, "G-single").cycle == ((T(0), "wr"), (T(1), "rw"))
    # G1c: writes follow reads orders x's versions 1 < 2, so T1 -ww-> T0, while T1 read T0's y
    g1c = serial([["r", "x", 2], ["w", "x", 3], ["w", "y", 1]], [["r", "y", 1], ["w", "x", 2]])
    r = check_transactions(g1c, "rw-register", "read-committed")
    assert "G1c" in names(r)
    lost = serial([["r", "x", None], ["w", "x", 1]], [["r", "x", None], ["w", "x", 2]])
    r = check_transactions(lost, "rw-register", "snapshot-isolation")
    assert set(only(r, "lost-update").txns) == {T(0), T(1)}
    garbage = serial([["r", "x", 9]])
    assert names(check_transactions(garbage, "rw-register", "read-uncommitted")) == ["garbage-read"]


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("entries, needle", [
    ("nope", "a history is an array"),
    ([{"process": 0, "type": "invoke", "f": "txn", "value": [["inc", "x", 1]]}], "entry 0: micro-op 0"),
    ([{"process": 0, "type": "ok", "f": "txn", "value": []}], "entry 0: ok for process 0, which has no pending"),
    (serial([["append", "x", 1]], [["append", "x", 1]]), "appended to key \"x\" twice"),
    ([{"process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1]]},
      {"process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 2]]}], "entry 1: the ok transaction"),
    ([{"process": 0, "type": "invoke", "f": "txn", "value": [["r", "x", None]]},
      {"process": 0, "type": "ok", "f": "txn", "value": [["r", "x", 3]]}], "entry 1: micro-op 0: a list-append read"),
])
def test_malformed_history_is_one_line(entries, needle):
    with pytest.raises(HistoryError) as e:
        check_transactions(entries, "list-append")
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown consistency model"):
        check_transactions([], "list-append", "linearizable")
    with pytest.raises(ValueError, match="unknown transactional model"):
        check_transactions([], "register")
    assert ELLE_MODELS == ("list-append", "rw-register")


# ------------------------------------------------------------------------------------------ random serial


def run_serial(rng, n, keys=("x", "y", "z"), processes=4):
    """n random list-append transactions executed one at a time against a dict of lists (serializable,
    even strictly, by construction), as entries; then two transactions reading every key."""
    db: dict[str, list[int]] = {}
    txns = []
    counter = 0
    for i in range(n + 2):
        ops = []
        for _ in range(rng.randint(1, 4) if i < n else 0):
            k = rng.choice(keys)
            if rng.random() < 0.5:
                counter += 1
                db.setdefault(k, []).append(counter)
                ops.append(["append", k, counter])
            else:
                ops.append(["r", k, list(db[k]) if k in db else None])
        if i >= n:
            ops = [["r", k, list(db.get(k, []))] for k in keys]
        txns.append((ops, "ok", rng.randrange(processes)))
    return serial(*txns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 25), st.data())
def test_random_serial_histories(seed, n, data):
    rng = random.Random(seed)
    h = run_serial(rng, n)
    for c in ("serializable", "strict-serializable"):
        r = check_transactions(h, "list-append", c)
        assert r.ok and not r.allowed, r.text()
    # one read mutated: an element removed from the middle (another read of the key, at least as long,
    # still has it, so the two reads cannot both be prefixes of one order), or a value never appended
    reads = [(i, j) for i, e in enumerate(h) if e["type"] == "ok" for j, op in enumerate(e["value"])
             if op[0] == "r" and op[2] and len(op[2]) >= 3 and i < len(h) - 1]
    kind = data.draw(st.sampled_from(["middle", "garbage"] if reads else ["garbage"]))
    if kind == "middle":
        i, j = data.draw(st.sampled_from(reads))
        lst = h[i]["value"][j][2]
        del lst[data.draw(st.integers(1, len(lst) - 2))]
    else:
        i = data.draw(st.sampled_from([i for i, e in enumerate(h) if e["type"] == "ok"]))
        h[i]["value"] = [*h[i]["value"], ["r", "x", [10**9]]]
        h[i - 1]["value"] = [*h[i - 1]["value"], ["r", "x", None]]
    r = check_transactions(h, "list-append", "serializable")
    assert not r.ok and r.anomalies


def test_random_serial_register_histories():
    for seed in range(60):
        rng = random.Random(seed)
        db: dict[str, int] = {}
        txns, counter = [], 0
        for _ in range(rng.randint(1, 20)):
            ops = []
            for _ in range(rng.randint(1, 4)):
                k = rng.choice("xyz")
                if rng.random() < 0.5:
                    counter += 1
                    db[k] = counter
                    ops.append(["w", k, counter])
                else:
                    ops.append(["r", k, db.get(k)])
            txns.append((ops, "ok", rng.randrange(3)))
        h = serial(*txns)
        r = check_transactions(h, "rw-register", "strict-serializable")
        assert r.ok and not r.allowed, r.text()
        i = rng.choice([i for i, e in enumerate(h) if e["type"] == "ok"])
        h[i]["value"] = [*h[i]["value"], ["r", "q", -1]]  # a value nobody wrote
        h[i - 1]["value"] = [*h[i - 1]["value"], ["r", "q", None]]
        assert names(check_transactions(h, "rw-register", "read-uncommitted")) == ["garbage-read"]


def test_ten_thousand_transactions():
    """Performance: measured, not asserted (the note records the time)."""
    h = run_serial(random.Random(1), 10_000, keys=tuple(f"k{i}" for i in range(50)), processes=20)
    t0 = time.perf_counter()
    r = check_transactions(h, "list-append", "strict-serializable")
    took = time.perf_counter() - t0
    assert r.ok and len(r.transactions) == 10_002
    print(f"10,002 list-append transactions, {r.edges} dependencies: {took:.2f} s")


# ------------------------------------------------------------------------------------------ in the model

TKey, TVal = Enum("x", "y"), Int(1, 2)
PROGRAM = {"client1": ("x", 1, "y"), "client2": ("y", 2, "x")}  # each client: append (key, value), then read key


class AppendRead(Message):  # the whole transaction in one message
    akey = TKey
    value = TVal
    rkey = TKey


class Append(Message):
    key = TKey
    value = TVal


class AppendOk(Message):
    pass


class Read(Message):
    key = TKey


class ReadOk(Message):
    got = Seq(TVal, max_len=2)


class Store(Node):
    x = durable(Seq(TVal, max_len=2), initial=())
    y = durable(Seq(TVal, max_len=2), initial=())

    def on_append_read(self, msg, src):  # atomic: one step runs the whole transaction
        setattr(self, msg.akey, getattr(self, msg.akey) + (msg.value,))
        self.send(src, ReadOk(getattr(self, msg.rkey)))

    def on_append(self, msg, src):
        setattr(self, msg.key, getattr(self, msg.key) + (msg.value,))
        self.send(src, AppendOk())

    def on_read(self, msg, src):
        self.send(src, ReadOk(getattr(self, msg.key)))


class TxnClient(Node):
    done = durable(Int(0, 1), initial=0)

    def ops(self, got=None):
        ak, v, rk = PROGRAM[self.id]
        return [("append", ak, v), ("r", rk, got)]

    @request
    def start(self):
        if not self.done:
            self.done = 1
            self.invoke("txn", self.ops())
            ak, v, rk = PROGRAM[self.id]
            self.send("store1", AppendRead(ak, v, rk))

    def on_read_ok(self, msg, src):
        self.complete("ok", "txn", self.ops(msg.got))


class SplitClient(TxnClient):  # broken: the append and the read are two requests, so others interleave
    @request
    def start(self):
        if not self.done:
            self.done = 1
            self.invoke("txn", self.ops())
            ak, v, _ = PROGRAM[self.id]
            self.send("store1", Append(ak, v))

    def on_append_ok(self, msg, src):
        self.send("store1", Read(PROGRAM[self.id][2]))


class AtomicTxns(Protocol):
    store = Role(Store, 1)
    client = Role(TxnClient, 2)
    messages = (AppendRead, Append, AppendOk, Read, ReadOk)
    history = History(values=TVal, keys=TKey, transactions=True, max_events=4, max_ops=2, max_read=2)


class SplitTxns(AtomicTxns):
    client = Role(SplitClient, 2)


def test_a_model_records_transactions_and_a_spec_checks_serializability(tmp_path, monkeypatch):
    monkeypatch.setattr(host, "AtomicTxns", AtomicTxns, raising=False)
    monkeypatch.setattr(host, "SplitTxns", SplitTxns, raising=False)
    spec = tmp_path / "t.toml"
    spec.write_text('protocol = "protocols.replicated_register:AtomicTxns"\nexpected = "holds"\n'
                    '[consistency]\nhistory = "strict-serializable"\nmodel = "list-append"\n')
    assert check(spec, out=None).ok
    spec.write_text('protocol = "protocols.replicated_register:SplitTxns"\nexpected = "violated"\n'
                    'violates = "Serializable"\n[consistency]\nhistory = "serializable"\n')
    r = check(spec, out=None)
    assert r.ok, r.reason
    events = r.trace.steps[-1].state["history"]
    # each transaction read the other's append: T -wr-> T' -wr-> T, cyclic information flow
    assert [e["kind"] for e in events] == ["invoke", "invoke", "ok", "ok"]
    assert sorted(list(e["ops"][1]["list"]) for e in events[2:]) == [[1], [2]]
    core = r.trace.extra["violation_core"]
    assert core["property"] == "Serializable" and "G1c" in core["explanation"]
    assert [e["type"] for e in core["history"]] == ["invoke", "invoke", "ok", "ok"]


def test_a_real_run_is_judged_by_elle():
    from types import SimpleNamespace

    from checker.cli.run import judge

    h = serial([["append", "x", 1], ["r", "y", [2]]], [["append", "y", 2], ["r", "x", [1]]])
    spec = SimpleNamespace(consistency={"history": "serializable", "model": "list-append"})
    report = SimpleNamespace(invariants={}, history=h, final={}, down=set())
    v = judge(spec, report)["Serializable"]
    assert not v["ok"] and "G1c" in v["message"] and len(v["explanation"]) == 4
    spec.consistency["history"] = "read-uncommitted"
    assert judge(spec, report)["ReadUncommitted"]["ok"]
