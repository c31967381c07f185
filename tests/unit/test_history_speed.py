"""The hard histories of issue 20 (bench/hard_histories.py) and what makes them fast in checker/logic/consistency.py.

Verdicts come from the construction (a sequential execution: linearizable; one read changed to a value nothing
writes: not), never from the checker's output. Speed is measured by bench/bench_histories.py, not asserted here;
the full sizes are `slow`. Also: the search cut at points of quiescence agrees with a brute force written here on
small random histories, max_seconds gives undetermined, nil_read.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.logic.consistency import _live, _segments, check_linearizable, parse_history
from checker.logic.histmodels import REGISTER

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("hard_histories", ROOT / "bench" / "hard_histories.py")
hard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hard)


def impossible_read(h, value=hard.IMPOSSIBLE):
    """The index of the ok read that returned `value` last (the generator's mutation: for `STALE`, reads
    right after its write return it too)."""
    return max(i for i, e in enumerate(h) if e["type"] == "ok" and e["f"] == "read" and e["value"] == value)


# -- the hard shapes, smaller ------------------------------------------------------------------------------


@pytest.mark.parametrize("ops, procs, infos", [(1500, 8, 16), (1500, 8, 24), (4000, 5, 0)])
def test_generated_histories_are_linearizable(ops, procs, infos):
    h = hard.cas_history(ops, procs=procs, infos=infos, seed=7)
    assert sum(e["type"] == "info" for e in h) == infos
    assert check_linearizable(h, "register").ok


@pytest.mark.parametrize("ops, procs, infos", [(1500, 8, 16), (1500, 8, 24), (4000, 5, 0)])
def test_one_impossible_read_is_explained_by_itself(ops, procs, infos):
    h = hard.cas_history(ops, procs=procs, infos=infos, bad=0.8, seed=7)
    r = check_linearizable(h, "register")
    assert not r.ok and not r.undetermined
    assert len(r.explanation) <= 2 * 10
    assert impossible_read(h) in r.indices
    assert r.minimal


def test_a_stale_read_is_explained_by_three_operations():
    h = hard.cas_history(1500, procs=8, infos=16, stale=0.9, seed=7)
    r = check_linearizable(h, "register")
    assert not r.ok
    assert impossible_read(h, hard.STALE) in r.indices
    written = [i for i, e in enumerate(h) if e["type"] == "invoke" and e["f"] == "write" and e["value"] == hard.STALE]
    assert written and written[0] in r.indices  # the one write of it is part of the story
    assert len(r.indices) == 2 * 3 and r.minimal


def test_max_seconds_gives_undetermined():
    h = hard.cas_history(1500, procs=8, infos=16, bad=0.9, seed=7)
    r = check_linearizable(h, "register", max_seconds=0.01)
    assert r.undetermined and not r.ok
    assert "undetermined" in r.message


def test_a_stale_read_among_many_operations():
    """A read that returns the value the register held before the last completed write, and no other
    operation writes it: not linearizable (hand-made, after a generated history of other values)."""
    before = hard.cas_history(400, procs=4, seed=3)
    tail = [{"process": 100, "type": "invoke", "f": "write", "value": 7},
            {"process": 100, "type": "ok", "f": "write", "value": 7},
            {"process": 100, "type": "invoke", "f": "write", "value": 8},
            {"process": 100, "type": "ok", "f": "write", "value": 8},
            {"process": 101, "type": "invoke", "f": "read", "value": None},
            {"process": 101, "type": "ok", "f": "read", "value": 7}]
    h = before + tail
    r = check_linearizable(h, "register")
    assert not r.ok
    n = len(before)
    # weakened, the write of 7 could take effect after the write of 8: it is part of the story
    assert set(r.indices) == set(range(n, n + 6))


# -- the cut search against a brute force --------------------------------------------------------------------


def brute(h) -> bool:
    """Linearizable as a register from null (nil is a value; failed operations dropped)? Every order that keeps
    real time, each operation with an unknown outcome in it or not; memoised on (linearized, value)."""
    pending, ops = {}, []
    for i, e in enumerate(h):
        if e["type"] == "invoke":
            pending[e["process"]] = (i, e)
        else:
            j, inv = pending.pop(e["process"])
            ops.append((j, i if e["type"] == "ok" else None, inv["f"], inv["value"], e["type"], e["value"]))
    for j, inv in pending.values():
        ops.append((j, None, inv["f"], inv["value"], "info", None))
    ops = [o for o in ops if o[4] != "fail" and not (o[4] == "info" and o[2] == "read")]
    must = frozenset(k for k, o in enumerate(ops) if o[4] == "ok")

    @cache
    def go(done: frozenset, value) -> bool:
        if must <= done:
            return True
        first_ret = min(ops[k][1] for k in must - done)
        for k, (call, _ret, f, arg, _typ, out) in enumerate(ops):
            if k in done or call > first_ret:
                continue
            if f == "read":
                if value == out and go(done | {k}, value):
                    return True
            elif f == "write":
                if go(done | {k}, arg):
                    return True
            elif value == arg[0]:
                if go(done | {k}, arg[1]):
                    return True
        return False

    return go(frozenset(), None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(1, 4), st.integers(0, 3), st.data())
def test_segments_agree_with_the_brute_force(seed, n, procs, infos, data):
    h = hard.cas_history(n, procs=procs, infos=min(infos, n), seed=seed, values=3, think=2.0)
    reads = [i for i, e in enumerate(h) if e["type"] == "ok" and e["f"] == "read"]
    if reads and data.draw(st.booleans()):  # one read changed: linearizable or not, the brute force says
        h[data.draw(st.sampled_from(reads))]["value"] = data.draw(st.sampled_from([None, 0, 1, 2]))
    live = _live(parse_history(h, REGISTER, nil_read="value"), REGISTER, "drop")
    segment = _segments(live)
    for (a, da), ga in zip(live, segment):  # a cut never separates two overlapping completed operations
        for (b, db), gb in zip(live, segment):
            if da and db and a.call < b.ret and b.call < a.ret:
                assert ga == gb
    assert check_linearizable(h, "register", nil_read="value", shrink="none").ok == brute(h)


def test_histories_quiesce_into_many_segments():
    h = hard.cas_history(2000, procs=5, seed=1)
    live = _live(parse_history(h, REGISTER), REGISTER, "drop")
    assert len(set(_segments(live))) > 50


# -- nil_read ----------------------------------------------------------------------------------------------


def test_nil_read():
    h = [{"process": 0, "type": "invoke", "f": "write", "value": 1}, {"process": 0, "type": "ok", "f": "write", "value": 1},
         {"process": 1, "type": "invoke", "f": "read", "value": None}, {"process": 1, "type": "ok", "f": "read", "value": None}]
    assert check_linearizable(h, "register").ok  # Knossos: the value read is unknown
    assert check_linearizable(h, "register", nil_read="unknown").ok
    assert not check_linearizable(h, "register", nil_read="value").ok  # Porcupine: it read null
    with pytest.raises(ValueError, match="nil_read must be one of"):
        check_linearizable(h, "register", nil_read="maybe")


# -- the full sizes ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name, build, linearizable", hard.HARD, ids=[n for n, _, _ in hard.HARD])
def test_full_size_hard_histories(name, build, linearizable):
    h = build()
    r = check_linearizable(h, "register")
    assert r.ok == linearizable and not r.undetermined
    if name.endswith("-stale"):  # the read of the overwritten value, that write and the one over it
        assert impossible_read(h, hard.STALE) in r.indices
        assert len(r.indices) == 2 * 3 and r.minimal
    elif not linearizable:
        assert impossible_read(h) in r.indices
        assert len(r.indices) <= 2 * 10
