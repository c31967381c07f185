"""checker/logic/histmodels.py: the models Knossos and Jepsen use (kv's read/write/cas per key,
multi-register, set, counter, queue, mutex), judged by checker.logic.consistency's searches.

(a) Hand-made histories with verdicts known by construction, one per rule of each model, and each
    malformed value: one line naming the entry. (b) Hypothesis: histories generated from a
    sequential execution of a specification written here (each operation's interval then widened
    around its point in that execution, so real-time order stays consistent) are linearizable; the
    same with one read's result made impossible are not. (c) Every random history of at most 8
    operations (executions with noise in their results) gets the verdict of a brute-force search
    written here: every order of the operations that respects real time (program order, for
    sequential consistency), each pending-forever operation in it or not.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.logic.consistency import check_linearizable, check_sequential, parse_history
from checker.logic.histmodels import MODELS, MULTI_REGISTER, UNKNOWN, HistoryError

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Reads of nil: Knossos's reading (unknown) or nil as a value. Where the checks take the keyword, the
# hand-made nil tests name the reading they mean; the random histories never read nil.
NIL_KW = "nil_read" in inspect.signature(check_linearizable).parameters


def inv(p, f, value=None):
    return {"process": p, "type": "invoke", "f": f, "value": value}


def done(p, f, value=None, typ="ok"):
    return {"process": p, "type": typ, "f": f, "value": value}


def op(p, f, value=None, out=None, typ="ok"):
    """An invoke and its completion, back to back (out defaults to the invoked value)."""
    return [inv(p, f, value), done(p, f, value if out is None else out, typ)]


def lin(h, model, initial=None):
    return check_linearizable(h, model, initial, shrink="none").ok


# -- (a) hand-made histories --------------------------------------------------------------------------


def test_every_model_is_named():
    assert {"register", "kv", "multi-register", "set", "counter", "queue", "mutex"} <= set(MODELS)


class TestKV:
    def test_independent_registers_per_key(self):
        h = op(0, "write", ["x", 1]) + op(1, "write", ["y", 2]) + op(0, "read", ["x", None], ["x", 1]) \
            + op(1, "cas", ["y", [2, 3]]) + op(2, "read", ["y", None], ["y", 3])
        assert lin(h, "kv")

    def test_stale_read_of_one_key_fails_and_is_named(self):
        h = op(0, "write", ["x", 1]) + op(0, "write", ["x", 2]) + op(1, "read", ["x", None], ["x", 1])
        r = check_linearizable(h, "kv")
        assert not r.ok and r.partition == "x" and 'read "x" by process 1 returned 1' in r.message

    def test_cas_must_see_its_expected_value(self):
        h = op(0, "write", ["x", 1]) + op(1, "cas", ["x", [2, 3]])
        assert not lin(h, "kv")
        assert lin(h, "kv", {"x": 2}) is False  # the write came first: 1, not 2
        assert lin(op(1, "cas", ["x", [2, 3]]), "kv", {"x": 2})

    def test_failed_cas_returned_false_when_asked(self):
        """Porcupine's reading: a failed cas is a completed cas that found another value."""
        h = op(0, "write", ["x", 1]) + op(1, "cas", ["x", [1, 3]], typ="fail")
        assert lin(h, "kv")
        assert not check_linearizable(h, "kv", fail="returned-false", shrink="none").ok
        assert check_linearizable(h, "kv", {"x": 0}, fail="returned-false", shrink="none").ok is False
        h2 = op(0, "write", ["x", 1]) + op(1, "cas", ["x", [2, 3]], typ="fail")
        assert check_linearizable(h2, "kv", fail="returned-false", shrink="none").ok

    def test_failed_cas_did_not_happen(self):
        h = op(0, "write", ["x", 1]) + op(1, "cas", ["x", [2, 3]], typ="fail") + op(2, "read", ["x", None], ["x", 1])
        assert lin(h, "kv")

    def test_concurrent_cas_both_succeeding_from_one_value_fails(self):
        h = [inv(0, "cas", ["x", [0, 1]]), inv(1, "cas", ["x", [0, 2]]),
             done(0, "cas", ["x", [0, 1]]), done(1, "cas", ["x", [0, 2]])]
        assert not lin(h, "kv", {"x": 0})
        assert lin(h[:1] + h[2:3], "kv", {"x": 0})

    def test_info_write_may_explain_a_read(self):
        h = [inv(0, "write", ["x", 5]), done(0, "write", ["x", 5], "info")] + op(1, "read", ["x", None], ["x", 5])
        assert lin(h, "kv")
        assert not lin(h[:2] + op(1, "read", ["x", None], ["x", 6]), "kv")

    def test_string_and_register_keys_side_by_side_and_unpartitioned(self):
        h = op(0, "put", ["s", "a"]) + op(1, "write", ["r", 1]) + op(0, "append", ["s", "b"]) \
            + op(1, "read", ["r", None], ["r", 1]) + op(2, "get", ["s", None], ["s", "ab"])
        assert lin(h, "kv")
        assert check_linearizable(h, "kv", partition=False, shrink="none").ok
        assert check_sequential(h, "kv", shrink="none").ok
        bad = h + op(2, "read", ["r", None], ["r", 0])
        assert not lin(bad, "kv")
        assert not check_linearizable(bad, "kv", partition=False, shrink="none").ok

    def test_initial_register_values(self):
        h = op(0, "read", ["r", None], ["r", [1, 2]])
        assert lin(h, "kv", {"r": [1, 2]})
        assert not lin(h, "kv", {"r": [1]})
        assert lin(op(0, "read", [3, None], [3, "v"]), "kv", {"3": "v"})  # an EDN integer key, a JSON object key

    def test_a_key_used_both_ways_is_one_line(self):
        h = op(0, "put", ["k", "a"]) + op(1, "read", ["k", None], ["k", "a"])
        with pytest.raises(HistoryError) as e:
            check_linearizable(h, "kv")
        assert e.value.index == 2 and "entry 0" in str(e.value) and "\n" not in str(e.value)

    def test_reads_nil(self):
        kv = MODELS["kv"]
        assert kv.reads_nil("read", ["k", None]) and not kv.reads_nil("read", ["k", 1])
        assert not kv.reads_nil("get", ["k", None])  # Porcupine's get: null is "", a value
        assert not kv.reads_nil("read", None)

    @pytest.mark.skipif(not NIL_KW, reason="the checks take no nil_read yet")
    def test_read_of_nil_under_both_readings(self):
        h = op(0, "write", ["x", 1]) + op(1, "read", ["x", None], ["x", None])
        assert check_linearizable(h, "kv", nil_read="unknown", shrink="none").ok
        assert not check_linearizable(h, "kv", nil_read="value", shrink="none").ok

    def test_explanation_is_a_failing_sub_history(self):
        h = op(0, "write", ["x", 1]) + op(3, "write", ["y", 1]) + op(0, "write", ["x", 2]) \
            + op(1, "read", ["x", None], ["x", 1]) + op(3, "read", ["y", None], ["y", 1])
        r = check_linearizable(h, "kv")
        assert not r.ok and r.partition == "x"
        assert not lin(r.explanation, "kv") and all(e["value"][0] == "x" for e in r.explanation)


class TestMultiRegister:
    def test_atomic_transactions(self):
        h = op(0, "txn", [["w", "x", 1], ["w", "y", 1]]) \
            + op(1, "txn", [["r", "x", None], ["r", "y", None]], [["r", "x", 1], ["r", "y", 1]])
        assert lin(h, "multi-register")

    def test_torn_read_fails(self):
        """A read that sees one write of a transaction but not the other."""
        h = op(0, "txn", [["w", "x", 1], ["w", "y", 1]]) \
            + op(1, "txn", [["r", "x", None], ["r", "y", None]], [["r", "x", 1], ["r", "y", 0]])
        assert not lin(h, "multi-register", {"x": 0, "y": 0})
        concurrent = [h[0], h[2], h[1], h[3]]
        assert not lin(concurrent, "multi-register", {"x": 0, "y": 0})

    def test_reads_in_a_transaction_see_its_own_writes(self):
        h = op(0, "txn", [["w", "x", 1], ["r", "x", None]], [["w", "x", 1], ["r", "x", 1]])
        assert lin(h, "multi-register")
        assert not lin(op(0, "txn", [["r", "x", None], ["w", "x", 1]], [["r", "x", 1], ["w", "x", 1]]),
                       "multi-register", {"x": 0})

    def test_knossos_spelling_of_micro_operations(self):
        h = op(0, "txn", [["write", "x", 1]]) + op(1, "txn", [["read", "x", None]], [["read", "x", 1]])
        assert lin(h, "multi-register")

    def test_nil_reads_are_unknown_by_default_and_a_value_on_request(self):
        h = op(0, "txn", [["w", "x", 1]]) + op(1, "txn", [["r", "x", None], ["r", "y", None]],
                                               [["r", "x", None], ["r", "y", None]])
        assert lin(h, "multi-register")  # Knossos: nil reads are always legal
        strict = MULTI_REGISTER.with_nil_read("value")
        assert not check_linearizable(h, strict, shrink="none").ok
        assert check_linearizable(h[2:], strict, shrink="none").ok  # nothing written: both null
        assert MULTI_REGISTER.with_nil_read("unknown") is MULTI_REGISTER

    def test_independent_groups_of_keys_are_checked_apart(self):
        h = op(0, "txn", [["w", "a", 1], ["w", "b", 1]]) + op(1, "txn", [["w", "c", 1]]) \
            + op(2, "txn", [["r", "c", None]], [["r", "c", 2]])
        r = check_linearizable(h, "multi-register", {"c": 0})
        assert not r.ok and r.partition == ("c",)
        parts = MULTI_REGISTER.partitions(parse_history(h, "multi-register"), None, True)
        assert sorted(label for label, *_ in parts) == [("a", "b"), ("c",)]
        assert check_linearizable(h, "multi-register", {"c": 0}, partition=False, shrink="none").ok is False

    def test_info_transaction_may_have_happened(self):
        h = [inv(0, "txn", [["w", "x", 1], ["w", "y", 1]])] \
            + op(1, "txn", [["r", "x", None], ["r", "y", None]], [["r", "x", 1], ["r", "y", 1]])
        assert lin(h, "multi-register", {"x": 0, "y": 0})
        h2 = [inv(0, "txn", [["w", "x", 1], ["w", "y", 1]])] \
            + op(1, "txn", [["r", "x", None], ["r", "y", None]], [["r", "x", 1], ["r", "y", 0]])
        assert not lin(h2, "multi-register", {"x": 0, "y": 0})


class TestSet:
    def test_reads_see_every_acknowledged_add(self):
        h = op(0, "add", 1) + op(1, "add", 2) + op(2, "read", None, [2, 1])
        assert lin(h, "set")

    def test_read_missing_an_acknowledged_add_fails(self):
        h = op(0, "add", 1) + op(1, "add", 2) + op(2, "read", None, [1])
        r = check_linearizable(h, "set")
        assert not r.ok and "read by process 2 returned [1]" in r.message

    def test_concurrent_add_may_or_may_not_be_seen(self):
        h = [inv(0, "add", 2)] + op(1, "read", None, []) + op(1, "read", None, [2]) + [done(0, "add", 2)]
        assert lin(h, "set")
        h2 = [inv(0, "add", 2)] + op(1, "read", None, [2]) + op(1, "read", None, []) + [done(0, "add", 2)]
        assert not lin(h2, "set")  # a set only grows

    def test_read_of_a_value_never_added_fails_and_initial(self):
        assert not lin(op(0, "read", None, [7]), "set")
        assert lin(op(0, "read", None, [7]), "set", [7])


class TestCounter:
    def test_reads_give_a_sum_some_order_gives(self):
        h = [inv(0, "add", 5), inv(1, "add", -2)] + op(2, "read", None, 5) + op(2, "read", None, 3) \
            + [done(0, "add", 5), done(1, "add", -2)]
        assert lin(h, "counter")

    def test_a_sum_no_order_gives_fails(self):
        h = [inv(0, "add", 5), inv(1, "add", -2)] + op(2, "read", None, 4) + [done(0, "add", 5), done(1, "add", -2)]
        assert not lin(h, "counter")

    def test_a_read_going_back_fails(self):
        h = op(0, "add", 1) + op(1, "read", None, 1) + op(2, "read", None, 0)
        assert not lin(h, "counter")
        assert lin(op(0, "read", None, 10), "counter", 10)

    def test_info_adds_may_count_or_not(self):
        h = [inv(0, "add", 3), done(0, "add", 3, "info"), inv(1, "add", 4), done(1, "add", 4, "info")]
        for total, ok in ((0, True), (3, True), (4, True), (7, True), (1, False)):
            assert lin(h + op(2, "read", None, total), "counter") is ok


class TestQueue:
    def test_fifo(self):
        h = op(0, "enqueue", 1) + op(0, "enqueue", 2) + op(1, "dequeue", None, 1) + op(1, "dequeue", None, 2)
        assert lin(h, "queue")
        assert not lin(op(0, "enqueue", 1) + op(0, "enqueue", 2) + op(1, "dequeue", None, 2), "queue")

    def test_concurrent_enqueues_may_go_either_way(self):
        h = [inv(0, "enqueue", 1), inv(1, "enqueue", 2), done(0, "enqueue", 1), done(1, "enqueue", 2)] \
            + op(2, "dequeue", None, 2) + op(2, "dequeue", None, 1)
        assert lin(h, "queue")

    def test_dequeue_of_a_value_never_enqueued_fails(self):
        r = check_linearizable(op(0, "enqueue", 1) + op(1, "dequeue", None, 9), "queue")
        assert not r.ok and "dequeue by process 1 returned 9" in r.message

    def test_a_value_is_dequeued_once(self):
        h = op(0, "enqueue", 1) + op(1, "dequeue", None, 1) + op(2, "dequeue", None, 1)
        assert not lin(h, "queue")

    def test_dequeue_of_null_means_the_queue_was_empty(self):
        assert lin(op(0, "dequeue", None, None), "queue")
        assert not lin(op(0, "enqueue", 1) + op(1, "dequeue", None, None), "queue")
        h = op(0, "enqueue", 1) + op(1, "dequeue", None, 1) + op(1, "dequeue", None, None)
        assert lin(h, "queue")

    def test_info_dequeue_may_take_the_head(self):
        h = op(0, "enqueue", 1) + op(0, "enqueue", 2) + [inv(1, "dequeue"), done(1, "dequeue", None, "info")] \
            + op(2, "dequeue", None, 2)
        assert lin(h, "queue")
        assert lin(h[:6] + op(2, "dequeue", None, 1), "queue")
        assert not lin(h[:6] + op(2, "dequeue", None, 3), "queue")

    def test_a_pending_dequeue_is_never_pruned(self):
        h = op(0, "enqueue", 1) + op(0, "enqueue", 2) + [inv(1, "dequeue")] + op(2, "dequeue", None, 2)
        ops = parse_history(h, "queue")
        kept = [(o, True) for o in ops if o.status == "ok"]
        optional = [o for o in ops if o.status == "info"]
        assert MODELS["queue"].useful(kept, optional) == optional
        assert lin(h, "queue") and not lin([e for e in h if e["process"] != 1], "queue")

    def test_initial_queue(self):
        assert lin(op(0, "dequeue", None, "a"), "queue", ["a", "b"])
        assert not lin(op(0, "dequeue", None, "b"), "queue", ["a", "b"])


class TestMutex:
    def test_acquire_release_in_turn(self):
        h = op(0, "acquire") + op(0, "release") + op(1, "acquire") + op(1, "release")
        assert lin(h, "mutex")

    def test_two_concurrent_acquires_both_ok_fail(self):
        h = [inv(0, "acquire"), inv(1, "acquire"), done(0, "acquire"), done(1, "acquire")]
        r = check_linearizable(h, "mutex")
        assert not r.ok and "acquire by process" in r.message

    def test_a_release_in_between_makes_them_fit(self):
        h = [inv(0, "acquire"), inv(1, "acquire"), done(0, "acquire"), inv(0, "release"), done(0, "release"),
             done(1, "acquire")]
        assert lin(h, "mutex")

    def test_release_of_a_free_lock_fails(self):
        assert not lin(op(0, "release"), "mutex")
        assert lin(op(0, "release"), "mutex", True)

    def test_failed_acquire_did_not_happen_and_info_may_have(self):
        h = op(0, "acquire") + op(1, "acquire", typ="fail") + op(0, "release")
        assert lin(h, "mutex")
        h2 = op(0, "acquire") + [inv(0, "release"), done(0, "release", None, "info")] + op(1, "acquire")
        assert lin(h2, "mutex")
        assert not lin(op(0, "acquire") + [inv(0, "release")] + op(1, "acquire") + op(2, "acquire"), "mutex")


@pytest.mark.parametrize("model, history, index, problem", [
    ("kv", [inv(0, "read", "k")], 0, 'read value must be a pair [key, null], got "k"'),
    ("kv", [inv(0, "cas", ["k", 1])], 0, "cas value must be a pair [key, [expected, new]]"),
    ("kv", op(0, "read", ["k", None], ["j", 1]), 1, 'ok read is for key "j", but key "k" was invoked'),
    ("kv", op(0, "write", ["k", 1], ["k", 2]), 1, "ok write value 2 differs from the value invoked"),
    ("kv", op(0, "cas", ["k", [1, 2]], ["k", [1, 3]]), 1, "ok cas value [1, 3] differs from the pair invoked"),
    ("kv", [inv(0, "read", ["k", None]), {"process": 0, "type": "ok", "f": "read"}], 1, "ok read has no 'value'"),
    ("multi-register", [inv(0, "txn", 3)], 0, "txn value must be an array of micro-operations"),
    ("multi-register", [inv(0, "txn", [["x", "k", 1]])], 0, "txn micro-operation 0 must be"),
    ("multi-register", [inv(0, "txn", [["r", True, None]])], 0, "the key must be a string or an integer"),
    ("multi-register", op(0, "txn", [["r", "k", None]], [["r", "j", 1]]), 1, "ok txn micro-operation 0"),
    ("multi-register", op(0, "txn", [["w", "k", 1]], [["w", "k", 2]]), 1, "writes another value"),
    ("multi-register", op(0, "txn", [["r", "k", None]], []), 1, "must list the 1 micro-operation(s) invoked"),
    ("set", [{"process": 0, "type": "invoke", "f": "add"}], 0, "invoke add has no 'value'"),
    ("set", op(0, "read", None, 3), 1, "ok read value must be an array (the set read), got 3"),
    ("set", op(0, "add", 1, 2), 1, "ok add value 2 differs from the value invoked"),
    ("counter", [inv(0, "add", "x")], 0, 'add value must be an integer, got "x"'),
    ("counter", [inv(0, "add", True)], 0, "add value must be an integer, got true"),
    ("counter", op(0, "read", None, 1.5), 1, "ok read value must be an integer, got 1.5"),
    ("queue", [inv(0, "enqueue", None)], 0, "enqueue value must not be null"),
    ("queue", [inv(0, "dequeue"), {"process": 0, "type": "ok", "f": "dequeue"}], 1, "ok dequeue has no 'value'"),
    ("mutex", [inv(0, "lock")], 0, 'unknown f "lock" for the mutex model (expected acquire, release)'),
])
def test_malformed_values_are_one_line(model, history, index, problem):
    with pytest.raises(HistoryError) as e:
        check_linearizable(history, model)
    assert e.value.index == index and problem in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("model, initial", [("counter", "1"), ("set", 1), ("queue", [None]), ("mutex", 0),
                                            ("multi-register", [1]), ("kv", {"s": 1})])
def test_bad_initial_values_are_one_line(model, initial):
    h = op(0, "get", ["s", None], ["s", ""]) if model == "kv" else []
    with pytest.raises(HistoryError) as e:
        check_linearizable(h, model, initial)
    assert e.value.index is None and "initial value" in str(e.value) and "\n" not in str(e.value)


# -- the specifications again, on raw JSON values, independent of the module's ------------------------------
#
# run(state, f, value) -> (status, new state, completion value): one step of a correct sequential execution
# ("fail": not possible here, so it does not happen). accepts(state, f, invoked, out, known) -> (ok, new):
# may an operation that returned `out` (or whose result is unknown) take effect here? States are hashable.

ANY = object()


def _set_kv(state, k, v, drop):
    d = dict(state)
    d[k] = v
    return tuple(sorted((a, b) for a, b in d.items() if b != drop))


class Spec:
    def __init__(self, name, initial, start):
        self.name, self.initial, self.start = name, initial, start


def run(model, s, f, v):
    if model == "register":
        if f == "read":
            return "ok", s, s
        if f == "write":
            return "ok", v, v
        return ("ok", v[1], v) if s == v[0] else ("fail", s, v)
    if model == "kv":
        d = dict(s)
        k, a = v
        if f == "get":
            return "ok", s, [k, d.get(k, "")]
        if f == "put":
            return "ok", _set_kv(s, k, a, ""), v
        if f == "append":
            return "ok", _set_kv(s, k, d.get(k, "") + a, ""), v
        if f == "read":
            return "ok", s, [k, d.get(k)]
        if f == "write":
            return "ok", _set_kv(s, k, a, None), v
        return ("ok", _set_kv(s, k, a[1], None), v) if d.get(k) == a[0] else ("fail", s, v)
    if model == "multi-register":
        d, out = dict(s), []
        for g, k, x in v:
            if g == "w":
                d[k] = x
                out.append([g, k, x])
            else:
                out.append([g, k, d.get(k)])
        return "ok", tuple(sorted(d.items())), out
    if model == "set":
        return ("ok", s, sorted(s)) if f == "read" else ("ok", s | {v}, v)
    if model == "counter":
        return ("ok", s, s) if f == "read" else ("ok", s + v, v)
    if model == "queue":
        if f == "enqueue":
            return "ok", s + (v,), v
        return ("ok", s[1:], s[0]) if s else ("ok", s, None)
    if f == "acquire":  # mutex
        return ("fail", s, None) if s else ("ok", True, None)
    return ("ok", False, None) if s else ("fail", s, None)


def accepts(model, s, f, v, out, known):
    """`run` read backwards: an operation whose completion says `out` (unknown if not `known`)."""
    if model in ("register", "kv", "set", "counter") and f in ("read", "get"):
        _, _, res = run(model, s, f, v)
        if model == "set" and known:
            return set(out) == s, s
        return (not known or out == res), s
    if model == "register" and f == "cas" or model == "kv" and f == "cas":
        status, new, _ = run(model, s, f, v)
        return (status == "ok" or not known), new
    if model == "multi-register":
        d = dict(s)
        for j, (g, k, x) in enumerate(v):
            if g == "w":
                d[k] = x
            elif known and out[j][2] is not None and d.get(k) != out[j][2]:  # Knossos: nil reads always legal
                return False, s
        return True, tuple(sorted(d.items()))
    if model == "queue" and f == "dequeue":
        if not known:
            return True, s[1:]
        if out is None:
            return not s, s
        return (bool(s) and s[0] == out), s[1:]
    status, new, _ = run(model, s, f, v)
    return status == "ok", new


# Operations a client may try, per model (a strategy drawing (f, invoked value)), the initial value given to
# the checker and the specification's matching start state, and a value no execution ever reads.
VALS = st.integers(0, 2)
KEYS = ["x", "y", "z"]
OPS = {
    "register": st.one_of(st.just(("read", None)), VALS.map(lambda v: ("write", v)),
                          st.tuples(VALS, VALS).map(lambda ab: ("cas", list(ab)))),
    "kv": st.one_of(st.sampled_from(["s", "t"]).map(lambda k: ("get", [k, None])),
                    st.tuples(st.sampled_from(["put", "append"]), st.sampled_from(["s", "t"]),
                              st.sampled_from(["a", "b"])).map(lambda t: (t[0], [t[1], t[2]])),
                    st.sampled_from(["r", "q"]).map(lambda k: ("read", [k, None])),
                    st.tuples(st.sampled_from(["r", "q"]), VALS).map(lambda t: ("write", list(t))),
                    st.tuples(st.sampled_from(["r", "q"]), VALS, VALS).map(lambda t: ("cas", [t[0], [t[1], t[2]]]))),
    "multi-register": st.lists(st.tuples(st.sampled_from(["r", "w"]), st.sampled_from(KEYS), VALS), min_size=1,
                               max_size=3).map(lambda ms: ("txn", [[g, k, x if g == "w" else None] for g, k, x in ms])),
    "set": st.one_of(st.just(("read", None)), st.integers(0, 3).map(lambda v: ("add", v))),
    "counter": st.one_of(st.just(("read", None)), st.integers(-2, 3).map(lambda v: ("add", v))),
    "queue": st.one_of(st.just(("dequeue", None)), st.integers(0, 3).map(lambda v: ("enqueue", v))),
    "mutex": st.sampled_from([("acquire", None), ("release", None)]),
}
INITIAL = {"register": (0, 0), "kv": ({"r": 0, "q": 0}, (("q", 0), ("r", 0))),
           "multi-register": ({k: 0 for k in KEYS}, tuple((k, 0) for k in KEYS)),
           "set": (None, frozenset()), "counter": (None, 0), "queue": (None, ()), "mutex": (None, False)}
READS = {"register": ("read",), "kv": ("get", "read"), "multi-register": ("txn",), "set": ("read",),
         "counter": ("read",), "queue": ("dequeue",), "mutex": ()}
ALL = sorted(OPS)


def impossible(model, f, value):
    """A completion value for this read that no execution of the generated operations gives."""
    if model == "kv":
        return [value[0], "z" if f == "get" else 99]
    if model == "multi-register":
        return [[g, k, 99 if g == "r" else x] for g, k, x in value]
    if model == "set":
        return [99]
    if model == "counter":
        return 1000
    return 99


@st.composite
def executions(draw, model, max_ops=8, noise=False):
    """(history, initial): a sequential execution of `model` by up to 4 processes, each operation's
    interval widened around its point in the execution (so real time agrees with that order), some
    operations failed (no effect) or info (effect or not, drawn). With `noise`, some completed
    reads return something else (the history is then linearizable or not: the brute force says)."""
    initial, state = INITIAL[model]
    n = draw(st.integers(1, max_ops))
    procs = draw(st.integers(1, 4))
    steps = []
    for _ in range(n):
        f, value = draw(OPS[model])
        status, new, out = run(model, state, f, value)
        kind = draw(st.sampled_from(["ok"] * 6 + ["info", "info-none", "fail"])) if status == "ok" else "fail"
        if kind == "ok" or kind == "info":
            state = new
        if noise and kind == "ok" and f in READS[model] and draw(st.integers(0, 3)) == 0:
            if model == "multi-register":
                out = [[g, k, draw(VALS) if g == "r" else x] for g, k, x in value]
            elif model == "kv":
                out = [value[0], draw(st.sampled_from(["", "a", "ab", "b"]) if f == "get" else VALS)]
            else:
                out = draw(st.sampled_from({"set": [[], [0], [1], [0, 2]], "queue": [None, 0, 1, 2, 3]}.get(model,
                                                                                                     [0, 1, 2, 3])))
        steps.append((draw(st.integers(0, procs - 1)), f, value, out, "info" if kind.startswith("info") else kind))
    # Times: operation i takes effect at 10*i; its call and return are drawn around that point, within its
    # process's previous return and next point.
    events, last_ret = [], {}
    nxt = {}
    for i in reversed(range(n)):
        p = steps[i][0]
        nxt[i] = nxt.get(("p", p), 10 * n + 10 * draw(st.integers(1, 3)))
        nxt[("p", p)] = 10 * i
    for i, (p, f, value, out, kind) in enumerate(steps):
        t = 10 * i
        lo = max(last_ret.get(p, -1), t - 10 * draw(st.integers(0, 3)) - 5)
        call = lo + (t - lo) * draw(st.integers(1, 9)) / 10
        ret = t + (nxt[i] - t) * draw(st.integers(1, 9)) / 10
        last_ret[p] = ret
        events.append((call, i, inv(p, f, value)))
        events.append((ret, i, done(p, f, out if kind == "ok" else value, kind)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e for _, _, e in events], initial


def brute_force(history, model, initial_state, order="real-time"):
    """Is there an order of the completed (ok) operations and any subset of the pending-forever (info,
    never completed) ones, respecting real time (or program order), that `accepts`? Failed operations
    did not happen. Every such order is tried, cut off where a step is refused; (done, state) pairs
    found hopeless are not tried twice."""
    pending, ops = {}, []
    for i, e in enumerate(history):
        if e["type"] == "invoke":
            pending[e["process"]] = len(ops)
            ops.append({"p": e["process"], "f": e["f"], "v": e["value"], "call": i, "ret": float("inf"),
                        "type": "info", "out": None})
        else:
            ops[pending.pop(e["process"])].update(ret=i, type=e["type"], out=e["value"])
    must = [o for o in ops if o["type"] == "ok"]
    maybe = [o for o in ops if o["type"] == "info"]
    both = must + maybe
    hopeless = set()

    def before(x, o):
        if order == "real-time":
            return x["ret"] < o["call"]
        return x["p"] == o["p"] and x["call"] < o["call"]

    def extend(done_ids, state):
        left = [j for j in range(len(must)) if j not in done_ids]
        if not left:
            return True
        if (done_ids, state) in hopeless:
            return False
        for j, o in enumerate(both):
            if j in done_ids or any(before(must[x], o) for x in left if x != j):
                continue
            ok, new = accepts(model, state, o["f"], o["v"], o["out"], j < len(must))
            if ok and extend(done_ids | {j}, new):
                return True
        hopeless.add((done_ids, state))
        return False

    return extend(frozenset(), initial_state)


def without_info(h):
    """The history without its info operations (invocation and completion)."""
    pending, drop = {}, set()
    for i, e in enumerate(h):
        if e["type"] == "invoke":
            pending[e["process"]] = i
        else:
            j = pending.pop(e["process"])
            if e["type"] == "info":
                drop |= {i, j}
    drop |= set(pending.values())
    return [e for i, e in enumerate(h) if i not in drop]


# -- (b) executions are linearizable; an impossible read is not -------------------------------------------


@FEW
@pytest.mark.parametrize("model", ALL)
@given(st.data())
def test_executions_are_linearizable(model, data):
    h, initial = data.draw(executions(model, max_ops=14))
    r = check_linearizable(h, model, initial, shrink="none")
    assert r.ok, r.message
    assert check_sequential(h, model, initial, shrink="none").ok


@FEW
@pytest.mark.parametrize("model", ALL)
@given(st.data())
def test_an_impossible_read_is_not_linearizable(model, data):
    h, initial = data.draw(executions(model, max_ops=10))
    h = [dict(e) for e in h]
    reads = [i for i, e in enumerate(h) if e["type"] == "ok" and e["f"] in READS[model]]
    if model == "mutex":  # no reads: two acquires in a row at the end, nothing (not even an info) between them
        h = without_info(h) + op(9, "acquire") + op(9, "acquire")
    elif reads and data.draw(st.booleans()):
        i = data.draw(st.sampled_from(reads))
        h[i]["value"] = impossible(model, h[i]["f"], h[i]["value"])
        if model == "multi-register" and all(g == "w" for g, _, _ in h[i]["value"]):
            h += op(9, "txn", [["r", "x", None]], [["r", "x", 99]])
    else:
        f, value = {"kv": ("read", ["r", None]), "multi-register": ("txn", [["r", "y", None]]),
                    "queue": ("dequeue", None)}.get(model, ("read", None))
        h += op(9, f, value, impossible(model, f, value))
    r = check_linearizable(h, model, initial)
    assert not r.ok
    assert not check_linearizable(r.explanation, model, initial, shrink="none").ok  # the explanation fails too


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize("model", ALL)
@given(st.data())
def test_pruned_pending_operations_keep_the_verdict(model, data):
    """`Model.useful`: of the operations weakened to "took effect any time after the call, or never",
    those it drops do not change the verdict."""
    h, initial = data.draw(executions(model, max_ops=8, noise=True))
    m = MODELS[model]
    ops = parse_history(h, m)
    weak = {o.id for o in ops if o.status == "ok" and o.f not in m.read_only and data.draw(st.booleans())}
    kept = [(o, o.status == "ok") for o in ops if o.id not in weak
            and (o.status == "ok" or o.status == "info" and o.f not in m.read_only)]
    optional = [replace(o, output=UNKNOWN, status="info") for o in ops if o.id in weak]
    useful = {o.id for o in m.useful(kept, optional)}
    weakened = [dict(e) for e in h]
    for o in ops:
        if o.id in weak:
            weakened[o.ret]["type"] = "info"
    dropped = {i for o in ops if o.id in weak and o.id not in useful for i in (o.call, o.ret)}
    pruned = [e for i, e in enumerate(weakened) if i not in dropped]
    assert lin(pruned, model, initial) == lin(weakened, model, initial)


@FEW
@pytest.mark.parametrize("model", ALL)
@given(st.data())
def test_step_and_stepper_agree(model, data):
    """Every model's `step`, its `stepper` fast paths, and (kv, multi-register) its per-part models
    split or not, along a random execution with noise."""
    h, initial = data.draw(executions(model, max_ops=10, noise=True))
    m = MODELS[model]
    ops = parse_history(h, m)
    whole = m.init(initial)
    parts = [[(init, pm, set(id(o) for o in part))] for split in (True, False)
             for _, part, init, pm in m.partitions(ops, initial, split)]
    states = [p[0][0] for p in parts]
    for o in ops:
        ok, whole = (lambda r: (r[0], r[1] if r[0] else whole))(m.step(whole, o.f, o.input, o.output))
        for n, [(_, pm, mine)] in enumerate(parts):
            if id(o) not in mine:
                continue
            a, b = pm.step(states[n], o.f, o.input, o.output), pm.stepper(o)(states[n])
            assert a[0] == b[0] == ok and (not ok or a[1] == b[1])
            if ok:
                states[n] = a[1]


# -- (c) agreement with the brute force --------------------------------------------------------------------


def assert_agrees(model, h, initial):
    start = INITIAL[model][1]
    expected = brute_force(h, model, start)
    assert check_linearizable(h, model, initial, shrink="none").ok == expected
    if model in ("kv", "multi-register"):
        assert check_linearizable(h, model, initial, partition=False, shrink="none").ok == expected
    assert check_sequential(h, model, initial, shrink="none").ok == brute_force(h, model, start, "program")
    return expected


@MANY
@pytest.mark.parametrize("model", ALL)
@given(st.data())
def test_random_histories_agree_with_the_brute_force(model, data):
    h, initial = data.draw(executions(model, max_ops=8, noise=True))
    assert_agrees(model, h, initial)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize("model", ALL)
@given(st.data())
def test_random_histories_agree_with_the_brute_force_many(model, data):
    h, initial = data.draw(executions(model, max_ops=8, noise=True))
    assert_agrees(model, h, initial)


def test_the_brute_force_can_say_no():
    """The generators' noise yields both verdicts, for every model."""
    assert not brute_force(op(0, "acquire") + op(1, "acquire"), "mutex", False)
    assert brute_force(op(0, "acquire") + op(1, "release"), "mutex", False)
    assert not brute_force(op(0, "add", 1) + op(1, "read", None, 0), "counter", 0)
    assert not brute_force(op(0, "enqueue", 1) + op(1, "dequeue", None, None), "queue", ())


# -- (d) the same models in the checker: a protocol's recorded history, judged in every state --------------

from checker import Bool, Enum, History, Int, Message, Node, Protocol, Role, durable, request  # noqa: E402
from checker.spec import check  # noqa: E402

N = Int(0, 3)


class Incr(Message):
    n = Int(1, 1)


class Ask(Message):
    n = Int(1, 1)


class Count(Message):
    value = N


class Ack(Message):
    n = Int(1, 1)


class CounterServer(Node):
    count = durable(N, initial=0)

    def on_incr(self, msg, src):
        self.count = min(self.count + 1, 3)
        self.send(src, Ack(1))

    def on_ask(self, msg, src):
        self.send(src, Count(self.count))


class CounterClient(Node):
    busy = durable(Int(0, 2), initial=0)

    @request
    def add(self):
        if self.busy == 0:
            self.invoke("add", 1)
            self.send("server1", Incr(1))
            self.busy = 1

    @request
    def read(self):
        if self.busy == 0:
            self.invoke("read")
            self.send("server1", Ask(1))
            self.busy = 1

    def on_ack(self, msg, src):
        self.complete("ok", "add", 1)
        self.busy = 2

    def on_count(self, msg, src):
        self.complete("ok", "read", msg.value)
        self.busy = 2


class CounterStore(Protocol):
    server = Role(CounterServer, 1)
    client = Role(CounterClient, 2)
    messages = (Incr, Ack, Ask, Count)
    history = History(values=N, max_events=4, ops=("add", "read"))


class CachingClient(CounterClient):
    def on_count(self, msg, src):  # broken: answers from a cache that never sees an add
        self.complete("ok", "read", 0)
        self.busy = 2


class CachingCounterStore(CounterStore):
    client = Role(CachingClient, 2)


Key = Enum("x", "y")


class Cas(Message):
    key = Key
    expected = N
    new = N


class CasDone(Message):
    key = Key
    ok = Bool()


class CasServer(Node):
    x = durable(N, initial=0)
    y = durable(N, initial=0)

    def on_cas(self, msg, src):
        ok = getattr(self, msg.key) == msg.expected
        if ok:
            setattr(self, msg.key, msg.new)
        self.send(src, CasDone(msg.key, ok))


class CasClient(Node):
    busy = durable(Int(0, 2), initial=0)

    @request(over=Key)
    def cas(self, k):
        if self.busy == 0:
            self.invoke("cas", (k, (0, 1 if self.id == "client1" else 2)))
            self.send("server1", Cas(k, 0, 1 if self.id == "client1" else 2))
            self.busy = 1

    def on_cas_done(self, msg, src):
        self.complete("ok" if msg.ok else "fail", "cas", (msg.key, (0, 1 if self.id == "client1" else 2)))
        self.busy = 2


class CasStore(Protocol):
    server = Role(CasServer, 1)
    client = Role(CasClient, 2)
    messages = (Cas, CasDone)
    history = History(values=N, keys=Key, max_events=4, ops=("read", "write", "cas"))


class OptimisticClient(CasClient):
    def on_cas_done(self, msg, src):  # broken: reports every cas as done
        self.complete("ok", "cas", (msg.key, (0, 1 if self.id == "client1" else 2)))
        self.busy = 2


class OptimisticCasStore(CasStore):
    client = Role(OptimisticClient, 2)


class Acquire(Message):
    n = Int(1, 1)


class Granted(Message):
    ok = Bool()


class LockServer(Node):
    held = durable(Bool(), initial=False)

    def on_acquire(self, msg, src):
        self.send(src, Granted(not self.held))
        self.held = True


class LockClient(Node):
    busy = durable(Int(0, 2), initial=0)

    @request
    def acquire(self):
        if self.busy == 0:
            self.invoke("acquire")
            self.send("server1", Acquire(1))
            self.busy = 1

    def on_granted(self, msg, src):
        self.complete("ok" if msg.ok else "fail", "acquire")
        self.busy = 2


class LockService(Protocol):
    server = Role(LockServer, 1)
    client = Role(LockClient, 2)
    messages = (Acquire, Granted)
    history = History(values=Bool(), max_events=4, ops=("acquire", "release"))


class GreedyClient(LockClient):
    def on_granted(self, msg, src):  # broken: believes it holds the lock whatever the server said
        self.complete("ok", "acquire")
        self.busy = 2


class GreedyLockService(LockService):
    client = Role(GreedyClient, 2)


V = Int(0, 1)


class WriteBoth(Message):
    n = Int(1, 1)


class ReadBoth(Message):
    n = Int(1, 1)


class Both(Message):
    x = V
    y = V


class TxnServer(Node):
    x = durable(V, initial=0)
    y = durable(V, initial=0)

    def on_write_both(self, msg, src):
        self.x, self.y = 1, 1
        self.send(src, Ack(1))

    def on_read_both(self, msg, src):
        self.send(src, Both(self.x, self.y))


class TxnClient(Node):
    busy = durable(Int(0, 2), initial=0)

    @request
    def write(self):
        if self.busy == 0:
            self.invoke("txn", [("w", "x", 1), ("w", "y", 1)])
            self.send("server1", WriteBoth(1))
            self.busy = 1

    @request
    def read(self):
        if self.busy == 0:
            self.invoke("txn", [("r", "x", None), ("r", "y", None)])
            self.send("server1", ReadBoth(1))
            self.busy = 1

    def on_ack(self, msg, src):
        self.complete("ok", "txn", [("w", "x", 1), ("w", "y", 1)])
        self.busy = 2

    def on_both(self, msg, src):
        self.complete("ok", "txn", [("r", "x", msg.x), ("r", "y", self.seen_y(msg))])
        self.busy = 2

    def seen_y(self, msg):
        return msg.y


class TxnStore(Protocol):
    server = Role(TxnServer, 1)
    client = Role(TxnClient, 2)
    messages = (WriteBoth, Ack, ReadBoth, Both)
    history = History(values=V, keys=Enum("x", "y"), transactions=True, ops=("w", "r"), max_events=4, max_ops=2)


class TornClient(TxnClient):
    def seen_y(self, msg):  # broken: y from a replica that has not applied the transaction yet
        return 0


class TornTxnStore(TxnStore):
    client = Role(TornClient, 2)


@pytest.mark.parametrize("good, bad, model, initial", [
    ("TxnStore", "TornTxnStore", "multi-register", "initial = { x = 0, y = 0 }\n"),
    ("CounterStore", "CachingCounterStore", "counter", ""),
    ("CasStore", "OptimisticCasStore", "kv", "initial = { x = 0, y = 0 }\n"),  # the registers start at 0, not null
    ("LockService", "GreedyLockService", "mutex", ""),
])
def test_models_judge_a_protocols_recorded_history(tmp_path, monkeypatch, good, bad, model, initial):
    import protocols.replicated_register as rr

    for name in (good, bad):
        monkeypatch.setattr(rr, name, globals()[name], raising=False)
    spec = tmp_path / "p.toml"
    consistency = f'[consistency]\nhistory = "linearizable"\nmodel = "{model}"\n' + initial
    spec.write_text(f'protocol = "protocols.replicated_register:{good}"\nexpected = "holds"\n' + consistency)
    r = check(spec, out=None)
    assert r.ok and r.verdict.value == "holds"
    spec.write_text(f'protocol = "protocols.replicated_register:{bad}"\nexpected = "violated"\n'
                    'violates = "Linearizable"\n' + consistency)
    r = check(spec, out=None)
    assert r.ok and r.property == "Linearizable"


@FEW
@pytest.mark.parametrize("model", ALL)
@given(st.data())
def test_finite_reuse_is_true_only_where_repeated_updates_reach_finitely_many_states(model, data):
    """`Model.finite_reuse`: with every update of a history taken any number of times (outcome unknown), the
    states reached stay within the values the history writes: for those models the closure is small."""
    h, initial = data.draw(executions(model, max_ops=6))
    m = MODELS[model]
    for _, part, init, pm in m.partitions(parse_history(h, m), initial, True):
        steps = [pm.stepper(replace(o, output=UNKNOWN)) for o in part if o.f not in pm.read_only]
        seen, todo = {init}, [init]
        while todo and len(seen) <= 1000:
            s = todo.pop()
            for step in steps:
                ok, new = step(s)
                if ok and new not in seen:
                    seen.add(new)
                    todo.append(new)
        assert (len(seen) <= 1000) or not pm.finite_reuse
    assert MODELS[model].finite_reuse == (model in ("register", "set", "mutex", "multi-register"))
