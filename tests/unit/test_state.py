"""The state layout (checker/model/state.py): variables packed into one flat int tuple.

Offsets and slices, encode errors, views, check_raw / make_fast_check / make_batch_check,
JSON round trips and diffs.
"""

from __future__ import annotations

import json
import math
from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.model.schema import (
    Bool,
    Enum,
    FrozenDict,
    Int,
    Map,
    NodeId,
    OneOf,
    Option,
    Record,
    SchemaError,
    Seq,
    Set,
)
from checker.model.state import StateSchema, StateView

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RM = NodeId("rm", 3)
Prepared = Record("Prepared", rm=RM)
Commit = Record("Commit")
Vote = Record("Vote", rm=RM, yes=Bool(), round=Int(-1, 2))
Msg = OneOf(Prepared, Commit, Vote)


def tpc_schema() -> StateSchema:
    return StateSchema(
        {
            "rm_state": Map(RM, Enum("working", "prepared", "committed", "aborted")),
            "tm_state": Enum("init", "done"),
            "tm_prepared": Set(RM),
            "msgs": Seq(Msg, max_len=2),
            "leader": Option(RM),
            "term": Int(-2, 3),
        },
        groups={"tm": ("tm_state", "tm_prepared")},
    )


def tpc_state(**changes):
    s = {
        "rm_state": {"rm1": "working", "rm2": "prepared", "rm3": "working"},
        "tm_state": "init",
        "tm_prepared": {"rm2"},
        "msgs": [Prepared.make(rm="rm2"), Vote.make(rm="rm3", yes=True, round=-1)],
        "leader": None,
        "term": -1,
    }
    s.update(changes)
    return s


# -- layout --------------------------------------------------------------------------------------------


def test_offsets_slices_and_width():
    S = tpc_schema()
    widths = {"rm_state": 3, "tm_state": 1, "tm_prepared": 1, "msgs": 1 + 2 * 4, "leader": 2, "term": 1}
    assert {n: t.width for n, t in S.variables.items()} == widths
    assert S.width == sum(widths.values()) == 17
    assert S.offsets == {"rm_state": 0, "tm_state": 3, "tm_prepared": 4, "msgs": 5, "leader": 14, "term": 16}
    assert S.slice("msgs") == slice(5, 14)
    assert S.slice("term") == slice(16, 17)
    assert len(S.slot_bounds) == len(S.slot_owner) == S.width
    assert S.slot_owner[5:14] == ("msgs",) * 9
    assert S.slot_bounds[:5] == (4, 4, 4, 2, 8)
    assert S.slot_bounds[16] == 6
    raw = S.encode(tpc_state())
    for n, t in S.variables.items():
        assert raw[S.slice(n)] == t.encode(tpc_state()[n])


def test_encode_is_the_concatenation_of_the_variables_encodings():
    S = tpc_schema()
    raw = S.encode(tpc_state())
    assert raw == (0, 1, 0, 0, 2, 2, 0, 1, 0, 0, 2, 2, 1, 0, 0, 0, 1)
    assert all(type(x) is int and 0 <= x < b for x, b in zip(raw, S.slot_bounds))
    assert S.check_raw(raw) is None


def test_decode_gives_every_variable_canonically():
    S = tpc_schema()
    d = S.decode(S.encode(tpc_state()))
    assert list(d) == list(S.variables)
    assert d["rm_state"] == {"rm1": "working", "rm2": "prepared", "rm3": "working"}
    assert isinstance(d["rm_state"], FrozenDict)
    assert d["tm_prepared"] == frozenset({"rm2"})
    assert d["msgs"] == (Prepared.make(rm="rm2"), Vote.make(rm="rm3", yes=True, round=-1))
    assert d["leader"] is None and d["term"] == -1
    assert S.encode(d) == S.encode(tpc_state())


@pytest.mark.parametrize(
    "variables, needle",
    [
        ({}, "at least one variable"),
        ({"1x": Bool()}, "must be an identifier"),
        ({"_hidden": Bool()}, "not starting with '_'"),
        ({"x": bool}, "needs a schema type"),
        ({"x": 3}, "needs a schema type"),
    ],
)
def test_bad_state_declarations(variables, needle):
    with pytest.raises(SchemaError, match=needle):
        StateSchema(variables)


def test_groups_must_name_variables():
    with pytest.raises(SchemaError, match="group 'g' names 'y', which is no variable"):
        StateSchema({"x": Bool()}, groups={"g": ("x", "y")})


# -- encode errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, needle",
    [
        ([("tm_state", "init")], "s: expected a mapping of variables to values"),
        (None, "s: expected a mapping"),
        (dict(tpc_state(), bogus=1), "s: unknown variable 'bogus'"),
        ({k: v for k, v in tpc_state().items() if k != "term"}, "s: variable 'term' has no value"),
        (tpc_state(term=4), "s.term: 4 is outside [-2, 3]"),
        (tpc_state(tm_state="gone"), "s.tm_state: expected one of init, done"),
        (tpc_state(rm_state={"rm1": "working"}), "s.rm_state: missing key 'rm2'"),
        (tpc_state(rm_state={"rm1": "working", "rm2": "oops", "rm3": "working"}), "s.rm_state['rm2']"),
        (tpc_state(msgs=[Commit.make()] * 3), "s.msgs: length 3 exceeds max_len 2"),
        (tpc_state(msgs=[Vote.make(rm="rm1", yes=True, round=0), {"rm": "rm1"}]), "s.msgs[1]"),
        (tpc_state(leader="rm4"), "s.leader: expected one of rm1, rm2, rm3"),
    ],
)
def test_encode_errors_name_the_variable(state, needle):
    S = tpc_schema()
    with pytest.raises(SchemaError) as e:
        S.encode(state, "s")
    assert needle in str(e.value), str(e.value)


def test_encode_default_where_is_state():
    with pytest.raises(SchemaError, match=r"^state\.x: "):
        StateSchema({"x": Bool()}).encode({"x": 0})


# -- views --------------------------------------------------------------------------------------------------


def test_view_reads_variables_lazily_by_attribute_and_item():
    S = tpc_schema()
    raw = S.encode(tpc_state(leader="rm3"))
    v = S.view(raw)
    assert isinstance(v, StateView)
    assert v.raw_state is raw
    assert v.tm_state == "init" and v["tm_state"] == "init"
    assert v.leader == "rm3"
    assert v.term == -1
    assert v.rm_state["rm2"] == "prepared"
    assert v.msgs[1].yes is True
    assert v.role("tm") == ("init", frozenset({"rm2"}))
    with pytest.raises(AttributeError, match="no variable 'nope'"):
        v.nope  # noqa: B018
    with pytest.raises(AttributeError, match="no role 'rm'"):
        v.role("rm")
    assert v == S.view(tuple(raw)) and hash(v) == hash(raw)
    assert v != S.view(S.encode(tpc_state(term=0)))
    assert "term=-1" in repr(v) and "leader=rm3" in repr(v)


def test_a_view_is_lazy_and_only_decodes_what_is_read():
    S = StateSchema({"a": Bool(), "b": Enum("x", "y")})
    v = S.view((1, 7))  # b's slot is garbage, but nobody reads it
    assert v.a is True
    with pytest.raises(IndexError):
        v.b  # noqa: B018


def test_views_of_different_schemas_are_separate_classes():
    S1 = StateSchema({"x": Bool()})
    S2 = StateSchema({"y": Int(0, 1)})
    v1, v2 = S1.view((1,)), S2.view((1,))
    assert type(v1) is not type(v2)
    assert v1.x is True and v2.y == 1
    with pytest.raises(AttributeError):
        v1.y  # noqa: B018


# -- check_raw, make_fast_check, make_batch_check ----------------------------------------------------------


def _with(raw, i, value):
    return raw[:i] + (value,) + raw[i + 1 :]


def test_check_raw_accepts_encodings_and_rejects_non_tuples_and_wrong_lengths():
    S = tpc_schema()
    raw = S.encode(tpc_state())
    assert S.check_raw(raw) is None
    assert "must be a tuple of ints, got list" in S.check_raw(list(raw))
    assert "has 17 slots, got 16" in S.check_raw(raw[:-1])
    assert "has 17 slots, got 18" in S.check_raw(raw + (0,))


@pytest.mark.parametrize(
    "slot, value, var",
    [
        (0, 4, "rm_state"),
        (2, -1, "rm_state"),
        (3, 2, "tm_state"),
        (4, 8, "tm_prepared"),
        (5, 3, "msgs"),
        (6, 3, "msgs"),
        (14, 2, "leader"),
        (15, 3, "leader"),
        (16, 6, "term"),
        (16, -1, "term"),
        (3, True, "tm_state"),
        (16, 1.0, "term"),
        (16, "1", "term"),
    ],
)
def test_check_raw_names_the_variable_of_an_out_of_range_slot(slot, value, var):
    S = tpc_schema()
    raw = _with(S.encode(tpc_state()), slot, value)
    msg = S.check_raw(raw)
    assert msg is not None
    assert f"variable {var!r}" in msg and "outside its type" in msg, msg


@pytest.mark.parametrize(
    "slot, value, var",
    [
        (12, 1, "msgs"),  # padding past the second message's variant (Prepared has 1 field, Vote 3)
        (13, 3, "msgs"),
        (14, 0, "leader"),  # None whose inner slot is not zero (leader=rm2 -> presence cleared)
    ],
)
def test_check_raw_rejects_non_canonical_padding_and_names_the_variable(slot, value, var):
    S = tpc_schema()
    state = tpc_state(msgs=[Vote.make(rm="rm1", yes=False, round=2), Prepared.make(rm="rm3")], leader="rm2")
    raw = S.encode(state)
    assert raw[slot] != value
    bad = _with(raw, slot, value)
    assert S.make_fast_check()(bad)  # every slot is in range ...
    msg = S.check_raw(bad)  # ... but the encoding is not canonical
    assert msg is not None and f"variable {var!r}" in msg and "not a canonical encoding" in msg, msg


def test_check_raw_rejects_slots_past_a_shorter_sequence():
    S = StateSchema({"q": Seq(Int(0, 3), 3), "z": Bool()})
    assert S.check_raw((1, 2, 0, 0, 1)) is None
    msg = S.check_raw((1, 2, 3, 0, 1))
    assert msg is not None and "variable 'q'" in msg and "unused slots must be 0" in msg


def test_check_raw_catches_a_set_bit_past_the_domain_when_bounds_allow_it():
    # Set(Int(0, 1)) has bound 4: masks 0..3 are all canonical
    S = StateSchema({"s": Set(Int(0, 1))})
    assert all(S.check_raw((m,)) is None for m in range(4))
    assert S.check_raw((4,)) is not None


@FAST
@given(st.data())
def test_fast_check_agrees_with_the_slot_range_part_of_check_raw(data):
    S = tpc_schema()
    fast = S.make_fast_check()
    n = data.draw(st.integers(S.width - 1, S.width + 1))
    raw = tuple(data.draw(st.integers(-2, max(S.slot_bounds) + 1)) for _ in range(n))
    in_range = len(raw) == S.width and all(0 <= x < b for x, b in zip(raw, S.slot_bounds))
    assert fast(raw) is in_range
    msg = S.check_raw(raw)
    if not in_range:
        assert msg is not None
    if msg is None:
        assert fast(raw)
    if len(raw) == S.width and not in_range:
        assert "outside its type" in msg


def test_fast_check_boundaries():
    S = StateSchema({"x": Int(-1, 1), "b": Bool()})
    fast = S.make_fast_check()
    assert fast((0, 0)) and fast((2, 1))
    assert not fast((3, 0)) and not fast((0, 2)) and not fast((-1, 0))
    assert not fast((0,)) and not fast((0, 0, 0))
    assert not fast(())


def test_batch_check_finds_the_first_bad_state():
    S = tpc_schema()
    first_bad = S.make_batch_check()
    good = [S.encode(tpc_state(term=t)) for t in range(-2, 4)]
    assert first_bad(good) == -1
    assert first_bad([]) == -1
    out_of_range = _with(good[0], 16, 9)
    assert first_bad(good[:3] + [out_of_range, good[0]]) == 3
    assert first_bad([out_of_range] + good) == 0
    assert first_bad(good + [_with(good[0], 0, -1)]) == len(good)
    assert first_bad(good + [_with(good[0], 3, True)]) == len(good)  # a bool is not an int slot
    # documented as a slot-range check: an in-range but non-canonical state alone is not flagged
    non_canonical = _with(good[0], 8, 1)  # padding after the Prepared message
    assert S.check_raw(non_canonical) is not None
    assert first_bad(good + [non_canonical]) == -1
    assert first_bad(good + [good[0][:-1]]) == len(good)
    assert first_bad([good[0], list(good[1])]) == 1
    assert first_bad([good[0], 5]) == 1


# -- JSON and diff --------------------------------------------------------------------------------------------


def test_json_round_trip_of_a_state():
    S = tpc_schema()
    raw = S.encode(tpc_state(leader="rm1", term=3))
    obj = S.to_json(raw)
    assert obj["rm_state"] == {"rm1": "working", "rm2": "prepared", "rm3": "working"}
    assert obj["msgs"] == [{"type": "Prepared", "rm": "rm2"}, {"type": "Vote", "rm": "rm3", "yes": True, "round": -1}]
    assert obj["tm_prepared"] == ["rm2"] and obj["leader"] == "rm1" and obj["term"] == 3
    assert S.from_json(json.loads(json.dumps(obj))) == raw


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda o: [o], "j: expected a JSON object of variables"),
        (lambda o: {k: v for k, v in o.items() if k != "leader"}, "j: variable 'leader' has no value"),
        (lambda o: dict(o, extra=1), "j: unknown variable 'extra'"),
        (lambda o: dict(o, term=9), "j.term: 9 is outside"),
        (lambda o: dict(o, msgs=[{"type": "Nope"}]), "j.msgs[0]"),
        (lambda o: dict(o, tm_prepared="rm1"), "j.tm_prepared: expected a JSON array"),
    ],
)
def test_from_json_errors(mutate, needle):
    S = tpc_schema()
    obj = S.to_json(S.encode(tpc_state()))
    with pytest.raises(SchemaError) as e:
        S.from_json(mutate(obj), "j")
    assert needle in str(e.value), str(e.value)


def test_diff_lists_the_changed_variables_in_order():
    S = tpc_schema()
    a = S.encode(tpc_state())
    assert S.diff(a, a) == []
    assert S.diff(None, a) == list(S.variables)
    b = S.encode(tpc_state(term=2, tm_prepared={"rm2", "rm3"}))
    assert S.diff(a, b) == ["tm_prepared", "term"]
    assert S.diff(b, a) == ["tm_prepared", "term"]
    c = S.encode(tpc_state(msgs=[Prepared.make(rm="rm2")]))
    assert S.diff(a, c) == ["msgs"]
    assert S.format_var("term", b) == "2"
    assert S.format_var("tm_prepared", b) == "{rm2, rm3}"


# -- random schemas: round trips and exact canonical sets -----------------------------------------------------

_leaf = st.one_of(
    st.just(Bool()),
    st.tuples(st.integers(-3, 2), st.integers(0, 3)).map(lambda t: Int(t[0], t[0] + t[1])),
    st.integers(1, 3).map(lambda k: Enum(*[f"e{i}" for i in range(k)])),
    st.integers(1, 2).map(lambda k: NodeId("n", k)),
)


def _extend(children):
    small = children.filter(lambda t: t.cardinality is not None and t.cardinality <= 4)
    return st.one_of(
        small.map(Set),
        st.tuples(st.sampled_from([Bool(), NodeId("k", 2), Int(-1, 0)]), children).map(lambda kv: Map(*kv)),
        st.tuples(children, st.integers(0, 2)).map(lambda t: Seq(t[0], max_len=t[1])),
        children.filter(lambda t: not isinstance(t, Option)).map(Option),
        st.lists(children, max_size=2).map(lambda ts: Record("R", **{f"f{i}": t for i, t in enumerate(ts)})),
        st.lists(st.lists(children, max_size=2), min_size=1, max_size=3).map(
            lambda vs: OneOf(*(Record(f"V{i}", **{f"f{j}": t for j, t in enumerate(ts)}) for i, ts in enumerate(vs)))
        ),
    )


_small_types = st.recursive(_leaf, _extend, max_leaves=4).filter(
    lambda t: t.cardinality is not None and t.cardinality <= 200 and t.width <= 12
)


@st.composite
def small_schemas(draw):
    ts = draw(st.lists(_small_types, min_size=1, max_size=3))
    return StateSchema({f"v{i}": t for i, t in enumerate(ts)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(small_schemas(), st.data())
def test_random_schema_round_trips(S, data):
    state = {n: data.draw(st.sampled_from(list(t.values()))) for n, t in S.variables.items()}
    raw = S.encode(state)
    assert len(raw) == S.width
    assert all(type(x) is int and 0 <= x < b for x, b in zip(raw, S.slot_bounds))
    assert S.check_raw(raw) is None
    assert S.make_fast_check()(raw)
    assert S.decode(raw) == state
    assert S.from_json(json.loads(json.dumps(S.to_json(raw)))) == raw
    view = S.view(raw)
    assert all(getattr(view, n) == v for n, v in state.items())
    other = {n: data.draw(st.sampled_from(list(t.values()))) for n, t in S.variables.items()}
    assert S.diff(raw, S.encode(other)) == [n for n in S.variables if other[n] != state[n]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_small_types.filter(lambda t: math.prod(t.bounds()) <= 3000))
def test_check_raw_accepts_exactly_the_encodings_of_the_values(t):
    """Over every in-range slot tuple, check_raw accepts exactly cardinality many: one per value."""
    S = StateSchema({"v": t})
    encodings = {S.encode({"v": v}) for v in t.values()}
    assert len(encodings) == t.cardinality
    accepted = set()
    for raw in product(*(range(b) for b in S.slot_bounds)):
        msg = S.check_raw(raw)
        if msg is None:
            accepted.add(raw)
    assert accepted == encodings


# -- bugs these tests found, now fixed -------------------------------------------------------------


@pytest.mark.parametrize("name", ["raw", "role"])
def test_view_reads_variables_named_like_view_attributes(name):
    if name == "role":  # StateView.role() reads a group of variables: the name is refused, with the fix
        with pytest.raises(SchemaError, match="rename the variable"):
            StateSchema({name: Bool(), "other": Int(0, 2)})
        return
    S = StateSchema({name: Bool(), "other": Int(0, 2)})
    v = S.view(S.encode({name: True, "other": 1}))
    assert v[name] is True
    assert getattr(v, name) is True


def test_check_raw_names_the_variable_when_decoding_fails():
    S = StateSchema({"ok": Bool(), "msg": OneOf(Record("A", x=Enum("a", "b", "c")), Record("B", y=Enum("p")))})
    assert S.slot_bounds == (2, 2, 3)
    raw = (0, 1, 1)  # tag B, but y's slot holds 1 (in range only for A's x)
    assert S.make_fast_check()(raw)
    msg = S.check_raw(raw)
    assert msg is not None
    assert "'msg'" in msg, msg
