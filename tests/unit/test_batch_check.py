"""`StateSchema.make_batch_check` (checker/model/state.py) decides in C, through `marshal`'s bytes, what a
plain per-column check decided before: the same answer on random schemas and random good and bad
states, whatever is wrong (a slot out of range, a bool or float or str in a slot, an int subclass, a
list or a tuple subclass for a state, a wrong length), and in whichever chunk of a long list it lies.
"""

from __future__ import annotations

import enum
import random
from collections import namedtuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checker.model.state as state_module
from checker.model import Int, StateSchema
from checker.model.schema import Set
from checker.model.state import _BatchPlan


def reference_fine(states, bounds) -> bool:
    """The per-column check the batch check replaced (zip, type sets, min and max), kept as the reference."""
    width = len(bounds)
    try:
        fine = set(map(len, states)) <= {width} and set(map(type, states)) <= {tuple}
        if fine:
            for col, b in zip(zip(*states), bounds):
                if not (set(map(type, col)) <= {int} and min(col) >= 0 and max(col) < b):
                    return False
    except TypeError:
        return False
    return fine


class Colour(enum.IntEnum):
    RED = 0
    BLUE = 1


class Flag(int):
    pass


Pair = namedtuple("Pair", "a b")

# ranges around every boundary the plan treats specially: one byte, whole bytes, powers of two, int32, wider
BOUNDS = st.one_of(
    st.integers(1, 300),
    st.sampled_from([255, 256, 257, 511, 512, 768, 1000, 1024, 65535, 65536, 65537, 3 << 16, (1 << 24) + 5,
                     (1 << 31) - 1, 1 << 31, (1 << 31) + 1, 1 << 32, 1 << 61, (1 << 64) + 3, 1 << 200]),
    st.integers(2, 1 << 70),
)


# what may replace a slot: out of range, a value of another type, or an int of the wrong class
BAD_SLOTS = st.sampled_from(["bound", "minus", "huge", "true", "false", "float", "none", "str", "enum", "flag", "tuple",
                     "list", "neg_huge"])
STATE_SPOILS = ("list", "namedtuple", "short", "long", "int", "none", "nested")
BAD_STATES = st.sampled_from(STATE_SPOILS)


def spoil_slot(value: int, b: int, how: str):
    return {"bound": b, "minus": -1, "huge": b + (1 << 40), "true": True, "false": False, "float": float(value),
            "none": None, "str": str(value), "enum": Colour.BLUE if value else Colour.RED, "flag": Flag(value),
            "tuple": (value,), "list": [value], "neg_huge": -(1 << 80)}[how]


def spoil_state(t: tuple, how: str):
    return {"list": list(t), "namedtuple": Pair(t[0], t[-1]) if len(t) == 2 else list(t), "short": t[:-1],
            "long": t + (0,), "int": 0, "none": None, "nested": t + (t,)}[how]


@st.composite
def batches(draw):
    bounds = tuple(draw(st.lists(BOUNDS, min_size=1, max_size=12)))
    n = draw(st.sampled_from([0, 1, 3, 15, 16, 17, 40, 130]))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    # values near the ends of each range, and anywhere in it
    states = [tuple(rnd.choice((0, b - 1, rnd.randrange(b))) for b in bounds) for _ in range(n)]
    spoils = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.one_of(BAD_SLOTS, BAD_STATES),
                                     st.booleans()), max_size=3))
    for k, j, how, whole in spoils:
        if not states:
            break
        k %= len(states)
        t = states[k]
        if type(t) is not tuple or len(t) != len(bounds) or type(t[j % len(bounds)]) is not int:
            continue  # spoilt already
        j %= len(bounds)
        if how in STATE_SPOILS:
            if whole:
                states[k] = spoil_state(t, how)
        else:
            states[k] = t[:j] + (spoil_slot(t[j], bounds[j], how),) + t[j + 1:]
    return bounds, states


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of a few states, so that a long list spans several (the plan reads the size when built)."""
    monkeypatch.setattr(state_module, "CHUNK_BYTES", 5 * 64 * 3)


@settings(max_examples=300, deadline=None)
@given(batches())
def test_the_batch_check_decides_what_the_per_column_check_decided(batch):
    bounds, states = batch
    assert _BatchPlan(bounds).fine(states) is reference_fine(states, bounds)


@settings(max_examples=60, deadline=None)
@given(batches())
def test_first_bad_names_the_first_state_check_raw_rejects(batch):
    bounds, states = batch
    schema = StateSchema({f"v{j}": Int(0, b - 1) for j, b in enumerate(bounds)})
    first_bad = schema.make_batch_check()
    want = -1 if reference_fine(states, bounds) else next(
        (k for k, t in enumerate(states) if schema.check_raw(t) is not None), -1)
    assert first_bad(states) == want


def test_each_kind_of_fault_is_found_in_a_long_list_wherever_it_lies():
    bounds = (3, 256, 1024, 4, 300, 1 << 31, 1 << 40, 2)
    plan = _BatchPlan(bounds)
    good = [tuple((k * 7 + j * 13) % b for j, b in enumerate(bounds)) for k in range(200)]
    assert plan.fine(good) and plan.fine(tuple(good)) and plan.fine(iter(good))
    for k in (0, 17, 63, 64, 65, 199):
        for j, b in enumerate(bounds):
            for how in ("bound", "minus", "huge", "true", "float", "enum", "flag", "tuple", "neg_huge"):
                bad = list(good)
                bad[k] = bad[k][:j] + (spoil_slot(bad[k][j], b, how),) + bad[k][j + 1:]
                assert not plan.fine(bad), (k, j, how)
        for how in ("list", "short", "long", "int", "none", "nested"):
            bad = list(good)
            bad[k] = spoil_state(bad[k], how)
            assert not plan.fine(bad), (k, how)


def test_a_wide_set_slot_and_a_single_narrow_one():
    schema = StateSchema({"net": Set(Int(0, 99)), "x": Int(0, 2)})  # 100 bits, then one small slot
    first_bad = schema.make_batch_check()
    good = [((1 << 99) | k, k % 3) for k in range(50)]
    assert first_bad(good) == -1
    assert first_bad(good + [(1 << 100, 0)]) == 50
    assert first_bad(good[:20] + [(3, True)] + good) == 20
    only_wide = StateSchema({"net": Set(Int(0, 99))}).make_batch_check()
    assert only_wide([(k << 90,) for k in range(40)]) == -1
    assert only_wide([(k << 90,) for k in range(40)] + [(-1,)]) == 40
