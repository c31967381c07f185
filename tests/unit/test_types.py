"""The value schema (checker/model/schema.py) and state layout (state.py): validation, canonical
encoding to small non-negative ints, decoding, JSON round trips."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.model import (
    Bag,
    Bool,
    Enum,
    Ids,
    Int,
    Map,
    NodeId,
    OneOf,
    Option,
    Record,
    SchemaError,
    Seq,
    Set,
    StateSchema,
)
from checker.model.schema import bind

# -- random small types and their values ------------------------------------------------------------

leaves = st.one_of(
    st.just(Bool()),
    st.tuples(st.integers(-3, 2), st.integers(0, 3)).map(lambda t: Int(t[0], t[0] + t[1])),
    st.integers(1, 3).map(lambda k: Enum(*[f"e{i}" for i in range(k)])),
    st.integers(1, 3).map(lambda k: NodeId("n", k)),
)


def composite(children):
    small = children.filter(lambda t: t.cardinality is not None and t.cardinality <= 6)
    return st.one_of(
        small.map(Set),
        st.tuples(st.sampled_from([NodeId("k", 2), Enum("a", "b")]), children).map(lambda kv: Map(*kv)),
        st.tuples(children, st.integers(0, 2)).map(lambda t: Seq(t[0], max_len=t[1])),
        children.filter(lambda t: not isinstance(t, Option)).map(Option),
        st.lists(children, min_size=0, max_size=2).map(lambda ts: Record("R", **{f"f{i}": t for i, t in enumerate(ts)})),
        st.lists(children, min_size=1, max_size=2).map(
            lambda ts: OneOf(*(Record(f"V{i}", x=t) for i, t in enumerate(ts)))),
        small.map(Bag),
    )


types = st.recursive(leaves, composite, max_leaves=4).filter(lambda t: t.width <= 40)


def values_of(t):
    if t.cardinality is not None and t.cardinality <= 2000:
        return st.integers(0, t.cardinality - 1).map(t.unrank)
    if isinstance(t, Bag):
        return st.lists(values_of(t.elem), max_size=4).map(t.validate)
    if isinstance(t, Map):
        return st.tuples(*[values_of(t.value) for _ in t.keys]).map(lambda vs: t.validate(dict(zip(t.keys, vs))))
    if isinstance(t, Seq):
        return st.lists(values_of(t.elem), max_size=t.max_len).map(t.validate)
    if isinstance(t, Option):
        return st.one_of(st.none(), values_of(t.inner))
    if isinstance(t, Record):
        return st.tuples(*[values_of(f) for f in t.fields.values()]).map(
            lambda vs: t.validate(dict(zip(t.fields, vs))))
    if isinstance(t, OneOf):
        return st.one_of(*[values_of(v) for v in t.variants])
    raise AssertionError(t)


@st.composite
def typed_values(draw):
    t = draw(types)
    return t, draw(values_of(t))


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_encoding_is_canonical_small_ints_within_bounds(tv):
    t, v = tv
    slots = t.encode(v)
    assert len(slots) == t.width
    assert all(type(x) is int and 0 <= x < b for x, b in zip(slots, t.bounds()))
    assert t.decode(slots) == v
    assert t.encode(t.decode(slots)) == slots


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_json_round_trip(tv):
    t, v = tv
    obj = json.loads(json.dumps(t.to_json(v)))
    assert t.from_json(obj) == v


@settings(max_examples=100, deadline=None)
@given(types.filter(lambda t: t.cardinality is not None and t.cardinality <= 300))
def test_rank_is_a_bijection_and_encoding_is_injective(t):
    vals = list(t.values())
    assert len(vals) == t.cardinality
    assert [t.rank(v) for v in vals] == list(range(t.cardinality))
    assert len({t.encode(v) for v in vals}) == len(vals)


def test_int_is_stored_as_value_minus_lo():
    # CPython: hash(-1) == hash(-2), so negative slot values would share hashes
    assert Int(-2, 2).encode(-2) == (0,) and Int(-2, 2).encode(-1) == (1,)
    assert Int(-2, 2).decode((4,)) == 2


@pytest.mark.parametrize(
    "t, value, needle",
    [
        (Bool(), 1, "expected a bool"),
        (Int(0, 3), 4, "outside [0, 3]"),
        (Int(0, 3), True, "expected an int"),
        (Enum("a", "b"), "c", "expected one of a, b"),
        (Set(Enum("a", "b")), "ab", "expected a set"),
        (Map(NodeId("n", 2), Bool()), {"n1": True}, "missing key 'n2'"),
        (Map(NodeId("n", 2), Bool()), {"n1": True, "n2": 3}, "['n2']: expected a bool"),
        (Seq(Int(0, 1), max_len=1), (0, 1), "exceeds max_len 1"),
        (Record("R", a=Bool()), {"a": True, "b": 1}, "has no field 'b'"),
        (Record("R", a=Bool()), {}, "missing field 'a'"),
        (Option(Int(0, 1)), 2, "outside"),
        (Bag(Enum("a")), ["a"] * 16, "more than 15 copies"),
    ],
)
def test_validation_names_the_path(t, value, needle):
    with pytest.raises(SchemaError, match=needle.replace("[", r"\[").replace("(", r"\(")):
        t.validate(value, "x")


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: Int(3, 1), "lo must be <= hi"),
        (lambda: Enum("a", "a"), "repeated: a"),
        (lambda: Set(Int(0, 10_000)), "at most 4096"),
        (lambda: Set(Seq(Int(0, 9), max_len=9)), "no small finite domain"),
        (lambda: Option(Option(Bool())), "ambiguous"),
        (lambda: NodeId("n", 0), "count must be an int >= 1"),
    ],
)
def test_bad_declarations_are_errors(make, needle):
    with pytest.raises(SchemaError, match=needle):
        make()


def test_set_is_a_bitmask_and_oneof_pads_with_zeros():
    RM = NodeId("rm", 3)
    assert Set(RM).encode({"rm1", "rm3"}) == (0b101,)
    P, C = Record("P", rm=RM), Record("C")
    M = OneOf(P, C)
    assert M.encode(C.make()) == (1, 0) and M.encode(P.make(rm="rm2")) == (0, 1)
    assert [M.format(v) for v in M.values()] == ["P(rm1)", "P(rm2)", "P(rm3)", "C"]


def test_symbolic_ids_bind_to_the_counts():
    t = Map(Ids("rm"), Set(Ids("rm")))
    bound = bind(t, {"rm": NodeId("rm", 2)})
    assert bound == Map(NodeId("rm", 2), Set(NodeId("rm", 2)))
    with pytest.raises(SchemaError, match="symbolic"):
        t.validate({})


# -- the state layout --------------------------------------------------------------------------------


S = StateSchema({"x": Int(-1, 2), "s": Seq(Int(0, 3), max_len=2), "ok": Bool()})


def test_offsets_views_and_errors():
    raw = S.encode({"x": -1, "s": (3,), "ok": True})
    assert raw == (0, 1, 3, 0, 1)
    assert S.offsets == {"x": 0, "s": 1, "ok": 4} and raw[S.slice("s")] == (1, 3, 0)
    view = S.view(raw)
    assert (view.x, view.s, view.ok) == (-1, (3,), True)
    with pytest.raises(AttributeError, match="no variable 'y'"):
        _ = view.y
    with pytest.raises(SchemaError, match="unknown variable 'y'"):
        S.encode({"x": 0, "s": (), "ok": False, "y": 1})
    with pytest.raises(SchemaError, match="'ok' has no value"):
        S.encode({"x": 0, "s": ()})
    assert S.from_json(json.loads(json.dumps(S.to_json(raw)))) == raw
    assert S.diff(raw, S.encode({"x": 2, "s": (3,), "ok": True})) == ["x"]


@pytest.mark.parametrize(
    "raw, needle",
    [
        ((0, 1, 3, 0), "has 5 slots"),
        ((9, 1, 3, 0, 1), "'x'"),
        ((0, 1, 3, 2, 1), "unused slots must be 0"),  # padding past the sequence's length
        ([0, 1, 3, 0, 1], "must be a tuple"),
    ],
)
def test_check_raw_names_the_variable(raw, needle):
    assert needle in S.check_raw(raw)


def test_the_batch_check_finds_the_first_bad_state():
    first_bad = S.make_batch_check()
    good = S.encode({"x": 0, "s": (), "ok": False})
    assert first_bad([good, good]) == -1
    assert first_bad([good, (0, 0, 0, 0, 2)]) == 1
    assert first_bad([good, (0, 0, 0, 0)]) == 1
    assert first_bad([(0.0, 0, 0, 0, 0)]) == 0
