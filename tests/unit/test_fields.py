"""Slots by name (checker/model/fields.py, `Model.at`, `StateSchema.replace`), the README's slot layouts,
the `Tuple` type, `is_a` on OneOf values, `check_deadlock` as a model attribute, and TLC's counts for
the protocols rewritten to read and write by name.
"""

from __future__ import annotations

import doctest
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import checker
from checker import Enum, Int, Model, action
from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.model.fields import IndexedSlots, RecordSlots, UnionSlots
from checker.model.schema import (
    Bag,
    Bool,
    Ids,
    Map,
    NodeId,
    OneOf,
    Option,
    Queue,
    Record,
    SchemaError,
    Seq,
    Set,
    Tuple,
    bind,
)
from checker.model.state import StateSchema
from checker.semantics import from_model
from protocols.tcommit_tla import TCommit
from protocols.two_phase_commit_tla import TwoPhase

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
README = Path(__file__).resolve().parents[2] / "README.md"

# -- random types and values -------------------------------------------------------------------------

leaf_types = st.one_of(
    st.just(Bool()),
    st.tuples(st.integers(-3, 3), st.integers(0, 4)).map(lambda t: Int(t[0], t[0] + t[1])),
    st.integers(1, 4).map(lambda k: Enum(*[f"e{i}" for i in range(k)])),
    st.integers(1, 3).map(lambda k: NodeId("n", k)),
)


def _extend(children):
    small = children.filter(lambda t: t.cardinality is not None and t.cardinality <= 5)
    keys = st.one_of(st.just(Bool()), st.integers(1, 3).map(lambda k: NodeId("k", k)), st.just(Int(-1, 1)))
    fields = st.lists(children, max_size=3)
    return st.one_of(
        small.map(Set),
        small.map(Bag),
        st.tuples(small, st.integers(0, 3)).map(lambda t: Queue(t[0], max_len=t[1])),
        st.tuples(keys, children).map(lambda kv: Map(*kv)),
        st.tuples(children, st.integers(0, 3)).map(lambda t: Seq(t[0], max_len=t[1])),
        children.filter(lambda t: not isinstance(t, Option)).map(Option),
        fields.map(lambda ts: Record("R", **{f"f{i}": t for i, t in enumerate(ts)})),
        fields.map(lambda ts: Tuple(*ts)),
        st.lists(fields, min_size=1, max_size=3).map(
            lambda vs: OneOf(*(Record(f"V{i}", **{f"g{j}": t for j, t in enumerate(ts)}) for i, ts in enumerate(vs)))),
    )


types = st.recursive(leaf_types, _extend, max_leaves=6).filter(lambda t: t.width <= 40)


def values(t):
    """Readable values of `t` (what `t.validate` accepts)."""
    if isinstance(t, Bool):
        return st.booleans()
    if isinstance(t, Int):
        return st.integers(t.lo, t.hi)
    if isinstance(t, Enum):
        return st.sampled_from(t.names)
    if isinstance(t, Set):
        return st.sets(st.sampled_from(list(t.elem.values())))
    if isinstance(t, Bag):
        return st.lists(st.sampled_from(list(t.elem.values())), max_size=6)
    if isinstance(t, Seq):  # and Queue
        return st.lists(values(t.elem), max_size=t.max_len)
    if isinstance(t, Map):
        return st.fixed_dictionaries({k: values(t.value) for k in t.keys})
    if isinstance(t, Option):
        return st.one_of(st.none(), values(t.inner))
    if isinstance(t, Tuple):
        return st.tuples(*[values(c) for c in t.types])
    if isinstance(t, Record):
        return st.fixed_dictionaries({f: values(ft) for f, ft in t.fields.items()})
    if isinstance(t, OneOf):
        return st.one_of(*[values(v).map(v.validate) for v in t.variants])
    raise AssertionError(t)


@st.composite
def states(draw):
    ts = draw(st.lists(types, min_size=1, max_size=3))
    schema = StateSchema({f"v{i}": t for i, t in enumerate(ts)})
    return schema, {n: draw(values(t)) for n, t in schema.variables.items()}


def check_slots(acc, t, v, base, raw):
    """`acc` (the slots by name of a value `v` of type `t` starting at slot `base`) against the slot
    arithmetic of the types' own `offset` methods, and against the encoder: the slots it names hold
    exactly what `t.encode` gives for the part of `v` it names."""
    v = t.validate(v)
    if isinstance(acc, int):
        assert t.width == 1 and acc == base
        assert (raw[acc],) == t.encode(v)
        return
    assert (acc._offset, acc._width) == (base, t.width)
    assert tuple(raw[base:base + t.width]) == t.encode(v)
    if isinstance(t, Tuple):
        assert isinstance(acc, IndexedSlots) and len(acc) == len(t.types)
        for i, c in enumerate(t.types):
            check_slots(acc[i], c, v[i], base + t.offset(i), raw)
    elif isinstance(t, Record):
        assert isinstance(acc, RecordSlots) and set(acc._fields()) == set(t.fields)
        for f, ft in t.fields.items():
            check_slots(getattr(acc, f), ft, getattr(v, f), base + t.offset(f), raw)
    elif isinstance(t, OneOf):
        assert isinstance(acc, UnionSlots)
        name = type(v).__name__
        assert acc.tag == base and raw[acc.tag] == t.tag(name)
        variant = t.variant(name)
        for f, ft in variant.fields.items():
            check_slots(getattr(getattr(acc, name), f), ft, getattr(v, f), base + t.offset(name, f), raw)
    elif isinstance(t, Map):
        assert isinstance(acc, IndexedSlots) and len(acc) == len(t.keys)
        for i, k in enumerate(t.keys):
            assert acc.key(k) is acc[i]
            check_slots(acc[i], t.value, v[k], base + t.offset(k), raw)
    elif isinstance(t, Seq):
        assert acc.len == base and raw[acc.len] == len(v) and len(acc) == t.max_len
        for j, x in enumerate(v):
            check_slots(acc[j], t.elem, x, base + t.offset(j), raw)
    elif isinstance(t, Option):
        assert raw[acc.present] == (v is not None) and acc.present == base
        if v is not None:
            check_slots(acc.value, t.inner, v, base + 1, raw)
    else:
        raise AssertionError(f"no named slots expected for {t!r}")


@FAST
@given(states())
def test_slots_by_name_equal_slot_arithmetic_and_the_encoding(sv):
    schema, state = sv
    raw = schema.encode(state)
    for name, t in schema.variables.items():
        check_slots(getattr(schema.at, name), t, state[name], schema.offsets[name], raw)


@FAST
@given(states(), st.data())
def test_replace_by_name_equals_encoding_the_changed_state(sv, data):
    schema, state = sv
    raw = schema.encode(state)
    name = data.draw(st.sampled_from(list(schema.variables)))
    t = schema.variables[name]
    new = data.draw(values(t))
    assert schema.replace(raw, **{name: new}) == schema.encode({**state, name: new})
    if isinstance(t, Map):  # a dict of some keys changes only those
        keys = data.draw(st.lists(st.sampled_from(list(t.keys)), unique=True))
        part = {k: new[k] for k in keys}
        assert schema.replace(raw, **{name: part}) == schema.encode({**state, name: {**state[name], **part}})


def test_replace_refuses_unknown_variables_and_bad_values():
    S = StateSchema({"x": Int(0, 3), "m": Map(NodeId("n", 2), Bool())})
    raw = S.encode({"x": 0, "m": {"n1": False, "n2": False}})
    with pytest.raises(SchemaError, match="unknown variable 'y'"):
        S.replace(raw, y=1)
    with pytest.raises(SchemaError, match="outside"):
        S.replace(raw, x=4)
    with pytest.raises(SchemaError, match="key"):
        S.replace(raw, m={"n3": True})


def test_model_at_is_the_schema_layout():
    m = TwoPhase(rms=3)
    # tmState, tmPrepared and msgs are one slot each; rmState holds one slot per RM, in code order
    assert (m.at.tmState, m.at.tmPrepared, m.at.msgs) == (0, 1, 2)
    assert tuple(m.at.rmState) == (3, 4, 5) and m.at.rmState.key("rm3") == 5
    with pytest.raises(SchemaError, match="no key 'rm4'"):
        m.at.rmState.key("rm4")


# -- the README's layouts ------------------------------------------------------------------------------


def test_readme_layout_examples_run_as_shown():
    text = README.read_text(encoding="utf-8")
    start = text.index("### Slot layouts")
    section = text[start:text.index("\n## ", start)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 2
    globs: dict = {}
    for b in blocks:
        test = doctest.DocTestParser().get_doctest(b, globs, "README layouts", "README.md", 0)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        runner.run(test, clear_globs=False)
        assert runner.failures == 0
        globs = test.globs
    documented = {"Bool", "Int", "Enum", "NodeId", "Set", "Map", "Seq", "Option", "Record", "OneOf", "Bag", "Queue",
                  "Tuple"}
    table = {m for m in re.findall(r"^\| `(\w+)\(", section, re.M)}
    assert table == documented
    for name in documented:
        assert re.search(rf"\b{name}\(", "".join(blocks)), f"the README has no example of {name}"


def test_layouts_derived_by_hand():
    RM = NodeId("rm", 3)
    assert Set(RM).encode({"rm1", "rm3"}) == (0b101,)
    assert Bag(Enum("a", "b")).encode(["b", "a", "b"]) == (1 + (2 << 4),)  # a once, b twice: 4 bits per rank
    assert Queue(Enum("a", "b"), max_len=3).encode(("b", "a")) == (2 + 1 * 3,)  # digits rank + 1, base 3
    V = Record("V", a=Bool(), b=Seq(Int(0, 3), max_len=2), c=Option(RM), d=Tuple(RM, Bool()))
    assert V.offsets == {"a": 0, "b": 1, "c": 4, "d": 6} and V.width == 8
    assert [V.offset(f) for f in "abcd"] == [0, 1, 4, 6]
    assert V.encode({"a": True, "b": (2,), "c": "rm2", "d": ("rm3", False)}) == (1, 1, 2, 0, 1, 1, 2, 0)
    W = OneOf(Record("X"), V)
    assert W.width == 9 and W.tag("V") == 1 and W.offset("V", "c") == 5
    assert Seq(Tuple(Bool(), Bool()), max_len=3).offset(2) == 5
    with pytest.raises(SchemaError, match="no field 'z'"):
        V.offset("z")
    with pytest.raises(SchemaError, match="one slot"):
        Queue(Bool(), max_len=2).offset(0)


# -- Tuple -------------------------------------------------------------------------------------------


@st.composite
def tuples(draw):
    t = Tuple(*draw(st.lists(types, max_size=4)))
    return t, draw(values(t))


@FAST
@given(tuples())
def test_tuple_round_trips(tv):
    t, v = tv
    value = t.validate(v)
    plain = tuple(c.validate(x) for c, x in zip(t.types, v))  # each component's canonical value
    assert value == plain and hash(value) == hash(plain) and isinstance(value, tuple)
    raw = t.encode(v)
    assert len(raw) == t.width == sum(c.width for c in t.types)
    assert raw == tuple(x for c, part in zip(t.types, v) for x in c.encode(part))
    assert t.decode(raw) == value and t.format(t.decode(raw)) == t.format(value)
    assert t.from_json(json.loads(json.dumps(t.to_json(value)))) == value
    assert isinstance(t.to_json(value), list)
    if t.cardinality is not None:
        assert t.unrank(t.rank(value)) == value


def test_tuple_validation_and_declaration():
    P = Tuple(NodeId("rm", 2), Int(0, 3))
    assert P.make("rm2", 3) == ("rm2", 3) and P.format(("rm2", 3)) == "(rm2, 3)"
    assert P.decode((1, 2))._1 == 2 and P == Tuple(NodeId("rm", 2), Int(0, 3)) and P != Tuple(Int(0, 3))
    assert P != Record("Tuple", _0=NodeId("rm", 2), _1=Int(0, 3))
    with pytest.raises(SchemaError, match=r"value\[1\]: 4 is outside"):
        P.validate(("rm1", 4))
    with pytest.raises(SchemaError, match="expected a tuple of 2, got 3 items"):
        P.validate(("rm1", 1, 1))
    with pytest.raises(SchemaError, match="expected a tuple of 2"):
        P.validate("ab")
    with pytest.raises(SchemaError, match="JSON array of 2"):
        P.from_json({"_0": "rm1", "_1": 1})
    with pytest.raises(SchemaError, match="component 1 needs a schema type"):
        Tuple(Bool(), 3)
    with pytest.raises(SchemaError, match="OneOf takes Record types"):
        OneOf(P)
    assert bind(Tuple(Ids("rm"), Bool()), {"rm": NodeId("rm", 3)}) == Tuple(NodeId("rm", 3), Bool())


# -- OneOf values in plain Python ----------------------------------------------------------------------


def test_oneof_values_say_which_variant_they_are():
    Prepared, Commit = Record("Prepared", rm=NodeId("rm", 3)), Record("Commit")
    Msg = OneOf(Prepared, Commit)
    m = Msg.decode((0, 2))
    assert m.is_a("Prepared") and m.is_a(Prepared) and not m.is_a("Commit") and not m.is_a(Commit)
    assert m.rm == "rm3" and Msg.is_a(m, "Prepared") and not Msg.is_a(m, Commit)
    c = Msg.decode((1, 0))
    assert c.is_a(Commit) and not c.is_a(Prepared)
    assert not m.is_a(Record("Prepared", rm=NodeId("rm", 3)))  # another Record type of the same name
    with pytest.raises(SchemaError, match="'Abort' is not a variant"):
        Msg.tag("Abort")


# -- check_deadlock as a model attribute ---------------------------------------------------------------


class Countdown(Model):
    """Counts down from 2 to 0 and stops there: a deadlock unless the model says ends are fine."""

    def variables(self):
        return {"n": Int(0, 2)}

    def init(self):
        return {"n": 2}

    @action
    def Down(self, s):
        return [(s[self.at.n] - 1,)] if s[self.at.n] > 0 else ()


class CountdownEnds(Countdown):
    check_deadlock = False


def test_check_deadlock_false_on_the_class_makes_an_end_no_deadlock():
    assert Model.check_deadlock is None
    r = checker.check(Countdown, out=None, lint=False)
    assert r.verdict is Verdict.VIOLATED and r.property == "deadlock"
    r = checker.check(CountdownEnds, out=None, lint=False)
    assert r.verdict is Verdict.HOLDS and (r.stats.distinct, r.stats.depth) == (3, 3)
    r = checker.check(CountdownEnds, out=None, lint=False, check_deadlock=True)  # the caller's setting wins
    assert r.verdict is Verdict.VIOLATED and r.property == "deadlock"


# -- the protocols rewritten by name keep TLC's counts ---------------------------------------------------


def counts(model, names):
    system = from_model(model)
    invs = [compile_predicate(k, system.invariants[k], system.schema) for k in names]
    terms = [compile_predicate(k, f, system.schema) for k, f in system.terminals.items()]  # where ending is fine
    r = search(system, invs, SearchOptions(), terminals=terms)
    assert r.verdict is Verdict.HOLDS
    return r.stats.distinct, r.stats.generated, r.stats.depth


@pytest.mark.parametrize("rms, expected", [(3, (288, 1_146, 11)), (5, (8_832, 58_146, 17))])
def test_two_phase_by_name_keeps_tlcs_counts(rms, expected):
    assert counts(TwoPhase(rms=rms), ("TypeOK", "TCConsistent")) == expected


@pytest.mark.parametrize("rms, distinct, depth", [(3, 34, 7), (5, 274, 11), (7, 2_314, 15)])
def test_tcommit_by_name_keeps_tlcs_counts(rms, distinct, depth):
    d, _, dep = counts(TCommit(rms=rms), ("TCTypeOK", "TCConsistent"))
    assert (d, dep) == (distinct, depth)


def test_a_tuple_type_round_trips_through_its_json_description_and_exports_as_an_itf_tuple():
    """Traces record their variables' types: a Tuple must come back a Tuple (show, ITF)."""
    from checker.model.schema import Bool, Int, Map, NodeId, Tuple
    from checker.model.typejson import describe, from_description
    from checker.trace.itf import value

    t = Map(NodeId("rm", 2), Tuple(Int(0, 3), Bool()))
    back = from_description(describe(t))
    assert back == t and isinstance(back.value, Tuple)
    assert value(Tuple(Int(0, 3), Bool()), (2, True)) == {"#tup": [{"#bigint": "2"}, True]}
