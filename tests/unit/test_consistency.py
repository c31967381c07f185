"""checker/logic/consistency.py and the `history` command (checker/cli/history.py).

(a) Porcupine's verdicts on its etcd and kv histories (tests/data/jepsen-histories), under both
    readings of a failed cas, per key and (small ones) as one map; etcd_095 is empty: linearizable.
(b) Random small histories against brute-force searches written here: every order of the
    operations (each pending-forever one in it or not) that keeps real time, or program order.
(c) Textbook examples with verdicts written by hand. (d) info and fail. (e) The explanation is a
    failing sub-history that is minimal (for "weaken" and "delete"). (f) Every malformed history
    and bad input: one line, the entry's index, exit 2. Also the models' step functions,
    convergence, and the command's output.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checker.cli.history import add_parser, cmd_history
from checker.logic import consistency
from checker.logic.consistency import (
    KV,
    REGISTER,
    UNKNOWN,
    HistoryError,
    check_convergence,
    freeze,
    parse_history,
)


# These tests, the brute force and Porcupine's data read a null read as the value null (Porcupine's
# semantics), not as Knossos's "value unknown" (the checks' default): nil_read="value" throughout.
def check_linearizable(*args, **kwargs):
    kwargs.setdefault("nil_read", "value")
    return consistency.check_linearizable(*args, **kwargs)


def check_sequential(*args, **kwargs):
    kwargs.setdefault("nil_read", "value")
    return consistency.check_sequential(*args, **kwargs)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "jepsen-histories"  # Porcupine's test histories (MIT; see its README)


def needs_data(fn):  # the data is part of the repository: missing, it is a failure, never a skip
    return fn
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def op(p, f, value=None, out=None, typ="ok"):
    """An invoke and its completion, as two entries (out defaults to the invoked value)."""
    return [{"process": p, "type": "invoke", "f": f, "value": value},
            {"process": p, "type": typ, "f": f, "value": value if out is None and f != "read" else out}]


def inv(p, f, value=None):
    return {"process": p, "type": "invoke", "f": f, "value": value}


def done(p, f, value=None, typ="ok"):
    return {"process": p, "type": typ, "f": f, "value": value}


# -- brute force, independent of the module's search and models ----------------------------------------


def _pair(history):
    """Operations as dicts: process, f, call, ret, type ("info" too when never completed), inv, out."""
    pending, ops = {}, []
    for i, e in enumerate(history):
        if e["type"] == "invoke":
            pending[e["process"]] = len(ops)
            ops.append({"p": e["process"], "f": e["f"], "call": i, "ret": None, "type": "info",
                        "inv": e.get("value"), "out": None})
        else:
            ops[pending.pop(e["process"])].update(ret=i, type=e["type"], out=e.get("value"))
    return ops


def _step(model, state, o, known):
    """The sequential specification, written again: (ok, new state). kv states are sorted item tuples."""
    f = o["f"]
    if model == "register":
        if f == "read":
            return (not known or json.dumps(state) == json.dumps(o["out"])), state
        if f == "write":
            return True, o["inv"]
        a, b = o["inv"]
        if not known:
            return True, (b if state == a else state)
        if o["type"] == "fail":  # returned false
            return state != a, state
        return state == a, b
    d = dict(state)
    key, arg = o["inv"]
    cur = d.get(key, "")
    if f == "get":
        return (not known or cur == (o["out"][1] or "")), state
    d[key] = arg if f == "put" else cur + arg
    return True, tuple(sorted(d.items()))


def _classify(history, fail):
    ops = _pair(history)
    must = [o for o in ops if o["type"] == "ok" or (fail == "returned-false" and o["type"] == "fail" and o["f"] == "cas")]
    maybe = [o for o in ops if o["type"] == "info"]
    return must, maybe


def linearizable_bruteforce(history, model="register", initial=None, fail="drop"):
    """Is there an order of the completed operations and any subset of the pending-forever ones in
    which nobody comes before an operation that returned before it was called, and every step is
    accepted? Every such order is tried (cut off as soon as a step is refused)."""
    must, maybe = _classify(history, fail)
    start = tuple(sorted((initial or {}).items())) if model == "kv" else initial

    def extend(state, left, optional):
        if not left:
            return True
        for o in left + optional:
            if any(x is not o and x["ret"] < o["call"] for x in left):  # x returned before o was called
                continue
            ok, new = _step(model, state, o, o in left)
            if ok and extend(new, [x for x in left if x is not o], [x for x in optional if x is not o]):
                return True
        return False

    return extend(start, must, maybe)


def linearizable_memo(history, model="register", initial=None):
    """A plain memoised search over (operations done, state), for histories too long for the brute
    force: no linked list, and none of the checker's pruning of pending-forever operations."""
    must, maybe = _classify(history, "drop")
    ops = must + maybe
    start = tuple(sorted((initial or {}).items())) if model == "kv" else initial
    seen = set()

    def extend(done, state):
        if all(i in done for i in range(len(must))):
            return True
        if (done, state) in seen:
            return False
        seen.add((done, state))
        for i, o in enumerate(ops):
            if i in done or any(j not in done and must[j]["ret"] < o["call"] for j in range(len(must))):
                continue
            ok, new = _step(model, state, o, i < len(must))
            if ok and extend(done | {i}, new):
                return True
        return False

    return extend(frozenset(), start)


def sequential_bruteforce(history, model="register", initial=None, fail="drop"):
    """The same with program order instead of real time: a process's completed operations in call
    order; a pending-forever one anywhere after its process's earlier completed ones, or nowhere."""
    must, maybe = _classify(history, fail)
    start = tuple(sorted((initial or {}).items())) if model == "kv" else initial

    def extend(state, left, optional):
        if not left:
            return True
        for o in left + optional:
            if any(x is not o and x["p"] == o["p"] and x["call"] < o["call"] for x in left):
                continue
            ok, new = _step(model, state, o, o in left)
            if ok and extend(new, [x for x in left if x is not o], [x for x in optional if x is not o]):
                return True
        return False

    return extend(start, must, maybe)


# -- random histories ------------------------------------------------------------------------------------

VALUES = [None, 0, 1, 2]


@st.composite
def histories(draw, model="register", max_ops=6, processes=3, kinds=("ok", "ok", "ok", "info", "fail")):
    """Random well-formed histories: random interleavings, random results (mostly wrong ones)."""
    n = draw(st.integers(1, max_ops))
    fs = ("read", "write", "cas") if model == "register" else ("get", "put", "append")
    out, pending, started = [], {}, 0
    while started < n or pending:
        p = draw(st.integers(0, processes - 1))
        if p in pending:
            f, value = pending.pop(p)
            typ = draw(st.sampled_from(kinds))
            if typ == "ok" and f == "read":
                value = draw(st.sampled_from(VALUES))
            elif typ == "ok" and f == "get":
                value = [value[0], draw(st.sampled_from(["", "a", "b", "ab", "ba"]))]
            if typ == "info" and draw(st.booleans()) and not pending and started >= n:
                break  # left pending at the end
            out.append(done(p, f, value, typ))
        elif started < n:
            f = draw(st.sampled_from(fs))
            if model == "register":
                value = {"read": None, "write": draw(st.sampled_from(VALUES[1:])),
                         "cas": [draw(st.sampled_from(VALUES)), draw(st.sampled_from(VALUES[1:]))]}[f]
            else:
                value = [draw(st.sampled_from(["k", "j"])), None if f == "get" else draw(st.sampled_from(["a", "b"]))]
            out.append(inv(p, f, value))
            pending[p] = (f, value)
            started += 1
    return out


@st.composite
def linearizable_histories(draw, max_ops=7, processes=3):
    """Histories of a real register: each operation takes effect at a random moment between its
    invoke and completion (a cas that finds another value, or an operation that never took
    effect, completes as fail; info may have taken effect or not). Linearizable by construction;
    under Porcupine's reading of a failed cas too, unless an entry says "never took effect"
    (entries' other keys are ignored)."""
    n = draw(st.integers(1, max_ops))
    out, pending, state, started = [], {}, None, 0
    while started < n or pending:
        p = draw(st.integers(0, processes - 1))
        if p not in pending:
            if started == n:
                continue
            f = draw(st.sampled_from(["read", "write", "cas"]))
            value = {"read": None, "write": draw(st.integers(0, 2)),
                     "cas": [draw(st.sampled_from([None, 0, 1, 2])), draw(st.integers(0, 2))]}[f]
            out.append(inv(p, f, value))
            pending[p] = {"f": f, "value": value, "result": None}
            started += 1
            continue
        o = pending[p]
        if o["result"] is None and draw(st.booleans()):  # take effect now
            if o["f"] == "read":
                o["result"] = ("ok", state)
            elif o["f"] == "write":
                state = o["value"]
                o["result"] = ("ok", o["value"])
            elif state == o["value"][0]:
                state = o["value"][1]
                o["result"] = ("ok", o["value"])
            else:
                o["result"] = ("fail", o["value"])
            continue
        del pending[p]
        if draw(st.integers(0, 4)) == 0:
            out.append(done(p, o["f"], o["value"], "info"))
        elif o["result"] is None:
            out.append(done(p, o["f"], o["value"], "fail"))
            if o["f"] == "cas":
                out[-1]["never took effect"] = True  # not a cas that returned false (Porcupine's reading)
        else:
            out.append(done(p, o["f"], o["result"][1], o["result"][0]))
    return out


def mutate(history, data):
    """A random change: a read's value, a completion's type, or two neighbouring entries swapped."""
    h = [dict(e) for e in history]
    what = data.draw(st.sampled_from(["read", "type", "swap"]))
    if what == "read":
        reads = [i for i, e in enumerate(h) if e["type"] == "ok" and e["f"] == "read"]
        if reads:
            h[data.draw(st.sampled_from(reads))]["value"] = data.draw(st.sampled_from(VALUES))
    elif what == "type":
        ends = [i for i, e in enumerate(h) if e["type"] != "invoke"]
        if ends:
            h[data.draw(st.sampled_from(ends))]["type"] = data.draw(st.sampled_from(["ok", "info", "fail"]))
    elif len(h) > 1:
        i = data.draw(st.integers(0, len(h) - 2))
        h[i], h[i + 1] = h[i + 1], h[i]
    return h


def well_formed(history, model="register"):
    try:
        parse_history(history, model)
        return True
    except HistoryError:
        return False


# -- (a) Porcupine's verdicts -----------------------------------------------------------------------------


def _corpus():
    with open(DATA / "verdicts.tsv", encoding="utf-8") as f:
        return [(r["file"], r["model"], {"true": True, "false": False, "null": None}[r["expected_linearizable"]])
                for r in csv.DictReader(f, delimiter="\t")]


@needs_data
@pytest.mark.parametrize("fail", ["drop", "returned-false"])
def test_porcupine_verdicts(fail):
    """Every asserted verdict, under both readings of `fail cas` (the README says both agree);
    etcd_095 (empty, no verdict) is trivially linearizable. Without shrinking: the search alone."""
    rows = _corpus()
    assert len(rows) == 109
    wrong = []
    for name, model, expected in rows:
        r = check_linearizable(json.loads((DATA / name).read_text()), model, None, fail=fail, shrink="none")
        if r.ok != (True if expected is None else expected):
            wrong.append((name, expected, r.ok))
        if not r.ok:
            assert r.explanation and len(r.explanation) == len(r.indices)
    assert wrong == []


@needs_data
def test_empty_history_is_linearizable():
    h = json.loads((DATA / "etcd" / "etcd_095.json").read_text())
    assert h == []
    for check in (check_linearizable, check_sequential):
        r = check(h, "register")
        assert r.ok and r.operations == 0


@needs_data
def test_initial_zero_breaks_the_etcd_histories():
    """The README: with initial value 0 instead of null, most `true` etcd histories fail."""
    flipped = sum(not check_linearizable(json.loads((DATA / name).read_text()), "register", 0, shrink="none").ok
                  for name, model, expected in _corpus() if model == "register" and expected)
    assert flipped == 20


@needs_data
@pytest.mark.parametrize("name", ["c01-ok", "c01-bad", "c10-ok", "c10-bad"])
def test_kv_without_partitioning(name):
    """Porcupine also checks these as one map (kvNoPartitionModel): the same verdicts."""
    h = json.loads((DATA / "kv" / f"{name}.json").read_text())
    assert check_linearizable(h, "kv", partition=False).ok == name.endswith("ok")


@needs_data
@pytest.mark.slow
def test_explanations_of_the_corpus():
    """Every failing history's explanation fails on its own, is minimal for weakening, and names
    a completed operation; a few are checked operation by operation with the checker itself."""
    for n, (name, model, expected) in enumerate(_corpus()):
        if expected is not False:
            continue
        h = json.loads((DATA / name).read_text())
        r = check_linearizable(h, model)
        assert not r.ok and r.minimal, name
        assert r.explanation == [h[i] for i in r.indices]
        assert not check_linearizable(r.explanation, model, shrink="none").ok, name
        assert r.message.count("\n") == 0 and "entries" in r.message
        if n % 10 == 0:
            _assert_weaken_minimal(h, r, lambda x, m=model: check_linearizable(x, m, shrink="none").ok)


# -- (b) random histories against the brute force ---------------------------------------------------------


@FEW
@given(linearizable_histories())
def test_generated_linearizable_histories_are_accepted(h):
    assert linearizable_bruteforce(h)
    assert check_linearizable(h, "register").ok
    assert check_sequential(h, "register").ok
    if not any("never took effect" in e for e in h):
        assert check_linearizable(h, "register", fail="returned-false").ok


@FEW
@given(linearizable_histories(max_ops=6), st.data())
def test_mutated_histories_match_the_brute_force(h, data):
    m = mutate(h, data)
    assume(well_formed(m))
    assert check_linearizable(m, "register", shrink="none").ok == linearizable_bruteforce(m)
    assert check_sequential(m, "register", shrink="none").ok == sequential_bruteforce(m)


@FEW
@given(histories())
def test_random_register_histories_match_the_brute_force(h):
    for fail in ("drop", "returned-false"):
        assert check_linearizable(h, "register", fail=fail, shrink="none").ok == linearizable_bruteforce(h, fail=fail)
        assert check_sequential(h, "register", fail=fail, shrink="none").ok == sequential_bruteforce(h, fail=fail)


@FEW
@given(histories(max_ops=7, processes=4, kinds=("ok", "info", "info")))
def test_many_pending_forever_operations_match_the_brute_force(h):
    """Pending-forever operations are where the search prunes most (subsets, twins, no-ops)."""
    assert check_linearizable(h, "register", shrink="none").ok == linearizable_bruteforce(h)
    assert check_sequential(h, "register", shrink="none").ok == sequential_bruteforce(h)


@FEW
@given(st.one_of(histories(max_ops=14, processes=5, kinds=("ok", "ok", "info")),
                 linearizable_histories(max_ops=14, processes=5)), st.data())
def test_longer_histories_match_a_plain_memoised_search(h, data):
    if data.draw(st.booleans()):
        h = mutate(h, data)
        assume(well_formed(h))
    assert check_linearizable(h, "register", shrink="none").ok == linearizable_memo(h)


@FEW
@given(histories(model="kv"), st.sampled_from([None, {"k": "a"}]))
def test_random_kv_histories_match_the_brute_force(h, initial):
    expected = linearizable_bruteforce(h, "kv", initial)
    assert check_linearizable(h, "kv", initial, shrink="none").ok == expected
    assert check_linearizable(h, "kv", initial, partition=False, shrink="none").ok == expected
    assert check_sequential(h, "kv", initial, shrink="none").ok == sequential_bruteforce(h, "kv", initial)


@FEW
@given(histories(), st.sampled_from([None, 0, 2]))
def test_initial_value(h, initial):
    assert check_linearizable(h, "register", initial, shrink="none").ok == linearizable_bruteforce(h, initial=initial)


@FEW
@given(histories())
def test_linearizable_implies_sequentially_consistent(h):
    if check_linearizable(h, "register", shrink="none").ok:
        assert check_sequential(h, "register", shrink="none").ok


# -- (c) textbook examples --------------------------------------------------------------------------------


def test_stale_read_after_completed_write():
    """Herlihy & Wing: a read that starts after a write completed must see it. Sequentially
    consistent all the same: the other process's read may come first in its own order."""
    h = op(0, "write", 1) + op(1, "read", out=None)
    assert not check_linearizable(h).ok
    assert check_sequential(h).ok
    assert linearizable_bruteforce(h) is False and sequential_bruteforce(h) is True


def test_read_overlapping_a_write_may_see_either_value():
    for seen in (None, 1):
        h = [inv(0, "write", 1), inv(1, "read"), done(1, "read", seen), done(0, "write", 1)]
        assert check_linearizable(h).ok


def test_new_then_old_inversion():
    """Two reads during one write: the first sees the new value, the second (started after the
    first returned) the old one. Not linearizable; sequentially consistent."""
    h = [inv(0, "write", 1), inv(1, "read"), done(1, "read", 1), inv(2, "read"), done(2, "read", None),
         done(0, "write", 1)]
    assert not check_linearizable(h).ok
    assert check_sequential(h).ok


def test_not_even_sequentially_consistent():
    """A process that wrote 1 then reads the initial value, with nobody else writing."""
    h = op(0, "write", 1) + op(0, "read", out=None)
    assert not check_linearizable(h).ok
    assert not check_sequential(h).ok
    r = check_sequential(h)
    assert "program order" in r.message and r.indices == [0, 1, 2, 3]


def test_two_processes_disagree_on_the_order_of_two_writes():
    """P2 sees 1 then 2, P3 sees 2 then 1: no single order of the writes; not sequentially consistent."""
    h = (op(0, "write", 1) + op(1, "write", 2) + op(2, "read", out=1) + op(2, "read", out=2)
         + op(3, "read", out=2) + op(3, "read", out=1))
    assert not check_sequential(h).ok
    assert sequential_bruteforce(h) is False


def test_cas():
    h = op(0, "write", 1) + op(1, "cas", [1, 2]) + op(0, "read", out=2)
    assert check_linearizable(h).ok
    assert not check_linearizable(op(0, "cas", [1, 2])).ok  # the register holds null
    assert check_linearizable(op(0, "cas", [None, 2]) + op(0, "read", out=2)).ok
    assert not check_linearizable(op(0, "write", 1) + op(1, "cas", [1, 2]) + op(0, "read", out=1)).ok


def test_kv_append_order():
    h = (op(0, "append", ["k", "a"]) + op(1, "append", ["k", "b"]) + op(2, "get", ["k", None], ["k", "ab"]))
    assert check_linearizable(h, "kv").ok
    h2 = h + op(2, "get", ["k", None], ["k", "ba"])
    assert not check_linearizable(h2, "kv").ok
    assert check_linearizable(op(0, "get", ["k", None], ["k", None]), "kv").ok  # null reads as ""
    assert not check_linearizable(op(0, "get", ["k", None], ["k", "a"]), "kv").ok
    assert check_linearizable(op(0, "get", ["k", None], ["k", "a"]), "kv", {"k": "a"}).ok


def test_kv_keys_are_independent_but_explanations_name_the_key():
    h = op(0, "put", ["x", "1"]) + op(1, "put", ["y", "2"]) + op(1, "get", ["x", None], ["x", ""])
    r = check_linearizable(h, "kv")
    assert not r.ok and r.partition == "x" and r.message.startswith('key "x": get "x"')
    assert r.indices == [0, 1, 4, 5]
    assert check_sequential(h, "kv").ok


# -- (d) info and fail ------------------------------------------------------------------------------------


def test_info_may_take_effect_later_or_never():
    w = [inv(0, "write", 1), done(0, "write", 1, "info")]
    assert check_linearizable(w + op(1, "read", out=1)).ok
    assert check_linearizable(w + op(1, "read", out=None)).ok
    assert check_linearizable(w + op(1, "read", out=None) + op(1, "read", out=1)).ok  # it took effect late
    assert not check_linearizable(w + op(1, "read", out=1) + op(1, "read", out=None)).ok  # once only
    assert not check_linearizable(op(1, "read", out=1) + w).ok  # not before its invoke


def test_never_completed_is_info():
    h = [inv(0, "write", 1)] + op(1, "read", out=1)
    assert parse_history(h)[0].status == "info" and parse_history(h)[0].ret is None
    assert check_linearizable(h).ok
    assert check_linearizable([inv(0, "write", 1)] + op(1, "read", out=None)).ok


def test_a_process_may_go_on_after_info():
    h = [inv(0, "write", 1), done(0, "write", 1, "info")] + op(0, "read", out=None) + op(1, "read", out=1)
    assert check_linearizable(h).ok


def test_fail_did_not_happen():
    h = op(0, "write", 1, typ="fail") + op(1, "read", out=1)
    assert not check_linearizable(h).ok
    assert check_linearizable(op(0, "write", 1, typ="fail") + op(1, "read", out=None)).ok
    assert check_linearizable(op(0, "read", typ="fail")).ok


def test_fail_cas_returned_false():
    """Porcupine's reading: the cas was linearized where the register was not its expected value."""
    h = op(0, "cas", [None, 1], typ="fail")  # the register held null: cas [null, 1] cannot return false
    assert check_linearizable(h).ok
    assert not check_linearizable(h, fail="returned-false").ok
    h2 = op(0, "write", 2) + op(1, "cas", [None, 1], typ="fail")
    assert check_linearizable(h2, fail="returned-false").ok
    with pytest.raises(ValueError, match="fail must be"):
        check_linearizable(h, fail="maybe")


def test_info_reads_and_values_of_info_entries_are_ignored():
    h = [inv(0, "read"), done(0, "read", ":timed-out", "info"), inv(1, "cas", [None, 1]),
         done(1, "cas", "timed-out", "info")] + op(2, "read", out=1)
    assert check_linearizable(h).ok


# -- (e) minimal explanations -----------------------------------------------------------------------------


def _ops_of(history):
    """Each operation's entry indices (invoke, completion or None), for rewriting a history."""
    pending, out = {}, []
    for i, e in enumerate(history):
        if e["type"] == "invoke":
            pending[e["process"]] = len(out)
            out.append([i, None])
        else:
            out[pending.pop(e["process"])][1] = i
    return out


def _weakened(history, keep_calls):
    """The history with every ok operation not called at an index in `keep_calls` made info."""
    h = [dict(e) for e in history]
    for call, ret in _ops_of(history):
        if call not in keep_calls and ret is not None and h[ret]["type"] == "ok":
            h[ret]["type"] = "info"
    return h


def _assert_weaken_minimal(history, r, passes):
    """The explanation fails with every other operation weakened (made info); weakening any one of
    its operations too makes it pass."""
    calls = {i for i in r.indices if history[i]["type"] == "invoke"}
    assert not passes(_weakened(history, calls))
    for c in calls:
        assert passes(_weakened(history, calls - {c})), c


def _assert_delete_minimal(r, passes):
    """The explanation fails on its own; deleting any one of its operations makes it pass."""
    sub = r.explanation
    assert not passes(sub)
    for call, ret in _ops_of(sub):
        assert passes([e for i, e in enumerate(sub) if i not in (call, ret)])


@FEW
@given(histories(max_ops=6))
def test_explanations_are_minimal(h):
    r = check_linearizable(h, "register")
    assert r.ok == linearizable_bruteforce(h)
    if r.ok:
        return
    assert r.minimal and r.explanation == [h[i] for i in r.indices]
    _assert_weaken_minimal(h, r, linearizable_bruteforce)
    _assert_delete_minimal(check_linearizable(h, "register", shrink="delete"), linearizable_bruteforce)


@FEW
@given(histories(max_ops=6))
def test_sequential_explanations_are_minimal(h):
    r = check_sequential(h, "register")
    assert r.ok == sequential_bruteforce(h)
    if r.ok:
        return
    _assert_weaken_minimal(h, r, sequential_bruteforce)
    _assert_delete_minimal(check_sequential(h, "register", shrink="delete"), sequential_bruteforce)


@FEW
@given(histories(model="kv", max_ops=6))
def test_kv_explanations_are_minimal(h):
    r = check_linearizable(h, "kv")
    if r.ok:
        return
    _assert_weaken_minimal(h, r, lambda x: linearizable_bruteforce(x, "kv"))
    _assert_delete_minimal(check_linearizable(h, "kv", shrink="delete"), lambda x: linearizable_bruteforce(x, "kv"))


def test_weaken_keeps_the_writes_that_make_a_read_stale():
    """Deleting operations can always end at a lone read of a value nobody writes any more;
    weakening keeps the story: 1 was written, then 2, then 1 was read."""
    h = op(0, "write", 1) + op(0, "write", 2) + op(1, "read", out=1)
    r = check_linearizable(h)
    assert r.indices == list(range(6))
    assert r.message == ("read by process 1 returned 1 (entries 4-5), which no linearization of these "
                         "3 operations explains")
    d = check_linearizable(h, shrink="delete")
    assert d.indices == [4, 5]
    n = check_linearizable(h, shrink="none")
    assert n.indices == list(range(6))


def test_explanation_leaves_out_what_cannot_help():
    """Of two overwriting writes one is enough; a harmless read, and a write called after the stale
    read returned, are left out."""
    h = (op(0, "write", 1) + op(5, "write", 3) + op(0, "write", 2) + op(2, "read", out=2)
         + op(1, "read", out=1) + op(4, "write", 1))
    r = check_linearizable(h)
    assert r.indices in ([0, 1, 2, 3, 8, 9], [0, 1, 4, 5, 8, 9])
    assert r.message.startswith("read by process 1 returned 1 (entries 8-9)")


def test_shrink_time_limit():
    h = op(0, "write", 1) + op(0, "write", 2) + op(1, "read", out=1)
    r = check_linearizable(h, shrink_seconds=0)
    assert not r.ok and not r.minimal and not check_linearizable(r.explanation).ok
    with pytest.raises(ValueError, match="shrink must be"):
        check_linearizable(h, shrink="smaller")


# -- (f) malformed histories ------------------------------------------------------------------------------

MALFORMED = [
    ({"process": 0}, None, "a history is an array of operations, got an object"),
    ([inv(0, "read"), 5], 1, "an operation is an object"),
    ([{"type": "invoke", "f": "read"}], 0, "no 'process'"),
    ([{"process": "a", "type": "invoke", "f": "read"}], 0, 'process must be an integer, got "a"'),
    ([{"process": True, "type": "invoke", "f": "read"}], 0, "process must be an integer, got true"),
    ([{"process": 0, "f": "read"}], 0, "no 'type'"),
    ([{"process": 0, "type": "start", "f": "read"}], 0, 'unknown type "start" (expected invoke, ok, fail or info)'),
    ([{"process": 0, "type": "invoke"}], 0, "no 'f'"),
    ([inv(0, "read"), done(0, "get")], 1, 'unknown f "get" for the register model (expected read, write, cas)'),
    ([inv(0, "read"), done(1, "read", 1)], 1, "ok read for process 1, which has no pending invocation"),
    ([inv(0, "read"), inv(0, "write", 1)], 1, "process 0 invokes write while its read invoked at entry 0 is still"),
    ([inv(0, "read"), done(0, "write", 1)], 1, "ok write completes process 0's read invoked at entry 0"),
    ([{"process": 0, "type": "invoke", "f": "write"}], 0, "invoke write has no 'value'"),
    ([inv(0, "cas", 1)], 0, "cas value must be a pair [expected, new], got 1"),
    ([inv(0, "cas", [1, 2, 3])], 0, "cas value must be a pair"),
    ([inv(0, "cas", [1, 2]), done(0, "cas", [1, 3])], 1, "ok cas value [1, 3] differs from the pair invoked"),
    ([inv(0, "cas", [1, 2]), done(0, "cas", 7)], 1, "cas value must be a pair"),
    ([inv(0, "write", 1), done(0, "write", 2)], 1, "ok write value 2 differs from the value invoked"),
    ([inv(0, "read"), {"process": 0, "type": "ok", "f": "read"}], 1, "ok read has no 'value'"),
]
MALFORMED_KV = [
    ([inv(0, "get", "k")], 0, 'get value must be a pair [key, null], got "k"'),
    ([{"process": 0, "type": "invoke", "f": "put"}], 0, "put value must be a pair [key, string], got null"),
    ([inv(0, "put", [1.5, "a"])], 0, "put key must be a string, got a number"),
    ([inv(0, "append", ["k", 3])], 0, "append value must be a string, got a number"),
    ([inv(0, "get", ["k", None]), done(0, "get", ["j", "a"])], 1, 'ok get is for key "j", but key "k" was invoked'),
    ([inv(0, "get", ["k", None]), done(0, "get", ["k", 3])], 1, "ok get value must be a string, got a number"),
    ([inv(0, "get", ["k", None]), done(0, "get", "a")], 1, "ok get value must be a pair [key, string]"),
    ([inv(0, "put", ["k", "a"]), done(0, "put", ["k", "b"])], 1, 'ok put value "b" differs from the value invoked'),
    ([inv(0, "dequeue")], 0, 'unknown f "dequeue" for the kv model (expected get, put, append'),
]


@pytest.mark.parametrize("history,index,problem", MALFORMED, ids=[c[2][:40] for c in MALFORMED])
def test_malformed_register_histories(history, index, problem):
    assert _malformed(history, "register", index, problem)


@pytest.mark.parametrize("history,index,problem", MALFORMED_KV, ids=[c[2][:40] for c in MALFORMED_KV])
def test_malformed_kv_histories(history, index, problem):
    assert _malformed(history, "kv", index, problem)


def _malformed(history, model, index, problem) -> bool:
    """Every way in reports the problem in one line naming the entry (asserted here); True then."""
    with pytest.raises(HistoryError) as e:
        parse_history(history, model)
    assert e.value.index == index and problem in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"entry {index}: " if index is not None else problem)
    for check in (check_linearizable, check_sequential):
        with pytest.raises(HistoryError):
            check(history, model)
    return True


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown model 'nosuch'"):
        check_linearizable([], "nosuch")
    with pytest.raises(HistoryError, match="initial value must be an object of strings"):
        check_linearizable(op(0, "get", ["k", None], ["k", ""]), "kv", {"k": 1})


# -- models, convergence ----------------------------------------------------------------------------------


@given(st.sampled_from([None, 0, 1, "a", (1, 2)]), st.sampled_from(["read", "write", "cas"]),
       st.sampled_from([None, 0, 1, "a", (1, 2)]), st.sampled_from([None, 0, 1, "a", (1, 2)]),
       st.sampled_from([UNKNOWN, True, False, "value"]))
def test_register_stepper_agrees_with_step(state, f, a, b, out):
    from checker.logic.consistency import Operation

    inp = {"read": None, "write": a, "cas": (a, b)}[f]
    output = a if (f == "read" and out == "value") else (None if f == "write" else out)
    if f == "cas" and out == "value":
        output = True
    o = Operation(0, 0, f, inp, output, "ok", 0, 1)
    assert REGISTER.stepper(o)(state) == REGISTER.step(state, f, inp, output)
    hash(REGISTER.step(state, f, inp, output)[1])


def test_kv_step_and_states():
    s = KV.init({"a": "x"})
    assert s == (("a", "x"),)
    ok, s = KV.step(s, "append", ("a", "y"), None)
    assert ok and s == (("a", "xy"),)
    assert KV.step(s, "get", ("a", None), "xy") == (True, s)
    assert KV.step(s, "get", ("b", None), "") == (True, s)
    assert KV.step(s, "put", ("a", ""), None) == (True, ())
    hash(s)


def test_freeze_keeps_json_equality():
    assert freeze([1, [2]]) == (1, (2,)) and freeze(True) != freeze(1) and freeze(False) != freeze(0)
    assert check_linearizable(op(0, "write", True) + op(1, "read", out=1)).ok is False
    assert check_linearizable(op(0, "write", [1, 2]) + op(1, "read", out=[1, 2])).ok


def test_convergence():
    assert check_convergence({"a": 1, "b": 1}).ok
    assert check_convergence([]).ok
    r = check_convergence({"n1": [1, 2], "n2": [1, 2], "n3": [2, 1]})
    assert not r.ok and r.message == "replicas disagree at quiescence: n1, n2 hold [1, 2]; n3 holds [2, 1]"
    assert r.explanation[2] == {"replica": "n3", "value": [2, 1]}
    assert not check_convergence([True, 1]).ok


# -- the command ------------------------------------------------------------------------------------------


def run(capsys, *argv):
    parser = argparse.ArgumentParser(prog="faultcheck")
    add_parser(parser.add_subparsers(dest="command"))
    code = cmd_history(parser.parse_args(["history", *map(str, argv)]))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, history, name="h.json"):
    p = tmp_path / name
    p.write_text(history if isinstance(history, str) else json.dumps(history))
    return p


def test_cli_ok(tmp_path, capsys):
    p = write(tmp_path, op(0, "write", 1) + op(1, "read", out=1))
    code, out, err = run(capsys, p)
    assert code == 0 and err == ""
    assert out.startswith(f"ok   {p}: linearizable (2 operations, ") and out.endswith(" s)\n")
    code, out, _ = run(capsys, p, "--consistency", "sequential")
    assert code == 0 and out.startswith(f"ok   {p}: sequentially consistent")


def test_cli_fail(tmp_path, capsys):
    h = op(0, "write", 1) + op(0, "write", 2) + op(2, "read", out=2) + op(1, "read", out=1)
    p = write(tmp_path, h)
    code, out, err = run(capsys, p)
    lines = out.splitlines()
    assert code == 1 and err == ""
    assert lines[0] == (f"FAIL {p}: not linearizable: read by process 1 returned 1 (entries 6-7), which no "
                        "linearization of these 3 operations explains")
    assert lines[1:] == [f"       [{i}] {json.dumps(h[i])}" for i in (0, 1, 2, 3, 6, 7)]
    code, out, _ = run(capsys, p, "--consistency", "sequential")
    assert code == 0


def test_cli_json(tmp_path, capsys):
    h = op(0, "put", ["k", "a"]) + op(1, "get", ["k", None], ["k", "b"])
    p = write(tmp_path, h)
    code, out, _ = run(capsys, p, "--model", "kv", "--json")
    d = json.loads(out)
    assert code == 1 and out.count("\n") == 1
    assert d["ok"] is False and d["file"] == str(p) and d["model"] == "kv" and d["partition"] == "k"
    assert d["explanation"] == [{"index": i, "entry": h[i]} for i in (2, 3)]
    code, out, _ = run(capsys, p, "--model", "kv", "--json", "--initial", '{"k": "b"}')
    assert code == 1
    code, out, _ = run(capsys, write(tmp_path, op(1, "get", ["k", None], ["k", "b"])), "--model", "kv", "--json",
                       "--initial", '{"k": "b"}')
    assert code == 0 and json.loads(out)["ok"] is True and json.loads(out)["operations"] == 1


def test_cli_initial(tmp_path, capsys):
    p = write(tmp_path, op(0, "read", out=0))
    assert run(capsys, p)[0] == 1
    assert run(capsys, p, "--initial", "0")[0] == 0
    assert run(capsys, p, "--initial", "null")[0] == 1


def test_cli_fail_mode_and_shrink(tmp_path, capsys):
    p = write(tmp_path, op(0, "cas", [None, 1], typ="fail"))
    assert run(capsys, p)[0] == 0
    assert run(capsys, p, "--fail", "returned-false")[0] == 1
    q = write(tmp_path, op(0, "write", 1) + op(0, "write", 2) + op(1, "read", out=1), "q.json")
    code, out, _ = run(capsys, q, "--shrink", "delete")
    assert code == 1 and len(out.splitlines()) == 3


@pytest.mark.parametrize("content,extra,problem", [
    (None, [], "no such file"),
    ("[", [], "not valid JSON (truncated?): Expecting value at line 1, column 2"),
    (json.dumps([inv(0, "read"), done(1, "read", 1)]), [], "entry 1: ok read for process 1, which has no pending"),
    (json.dumps({"a": 1}), [], "a history is an array of operations, got an object"),
    (json.dumps([inv(0, "read", None), inv(0, "read", None)]), ["--consistency", "sequential"], "entry 1: process 0"),
    ("[]", ["--initial", "nope"], "--initial nope: not a JSON literal"),
    ("[]", ["--model", "kv", "--initial", "[1]"], "the kv model's initial value must be an object of strings"),
    (json.dumps([inv(0, "get", ["k", None])]), [], 'entry 0: unknown f "get" for the register model'),
])
def test_cli_errors(tmp_path, capsys, content, extra, problem):
    p = tmp_path / "missing.json" if content is None else write(tmp_path, content)
    code, out, err = run(capsys, p, *extra)
    assert code == 2 and out == ""
    assert err.startswith(f"faultcheck: {p}: ") and problem in err and err.count("\n") == 1
    code, out, err = run(capsys, p, *extra, "--json")
    assert code == 2 and json.loads(out)["error"] in err and json.loads(out)["ok"] is False


def test_cli_bytes_that_are_not_text(tmp_path, capsys):
    p = tmp_path / "bin.json"
    p.write_bytes(b"\xff\xfe[")
    code, _, err = run(capsys, p)
    assert code == 2 and err.startswith(f"faultcheck: {p}: not UTF-8 text")


def test_cmd_history_with_a_bare_namespace(tmp_path, capsys):
    p = write(tmp_path, op(0, "write", 1))
    assert cmd_history(argparse.Namespace(history=str(p))) == 0
    assert capsys.readouterr().out.startswith("ok   ")


@needs_data
def test_cli_on_the_corpus(capsys):
    code, out, _ = run(capsys, DATA / "etcd" / "etcd_002.json")
    assert code == 0 and "linearizable (77 operations" in out
    code, out, _ = run(capsys, DATA / "kv" / "c10-bad.json", "--model", "kv")
    assert code == 1 and out.startswith(f"FAIL {DATA / 'kv' / 'c10-bad.json'}: not linearizable: key ")


def test_a_real_runs_history_reads_nil_as_the_value_read():
    """A run records its own history: a read of nil after an acknowledged write is stale, as the model's own check
    judges it (Knossos's "nil is unknown" is for histories recorded by others)."""
    from types import SimpleNamespace

    from checker.cli.run import judge

    h = [{"process": 0, "type": "invoke", "f": "write", "value": 1}, {"process": 0, "type": "ok", "f": "write", "value": 1},
         {"process": 1, "type": "invoke", "f": "read", "value": None},
         {"process": 1, "type": "ok", "f": "read", "value": None}]
    spec = SimpleNamespace(consistency={"history": "linearizable", "model": "register"})
    report = SimpleNamespace(invariants={}, history=h, final={}, down=set())
    assert not judge(spec, report)["Linearizable"]["ok"]
    assert consistency.check_linearizable(h, "register").ok  # by Knossos's rules (the default) it constrains nothing
