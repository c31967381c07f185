"""checker/logic/formula.py and pycode.py: every type error names what is wrong; the compiled Python
agrees with values worked out by hand (total division, defaults of partial operations, sets, bags,
quantifiers) and with a reference evaluator written here over decoded states; `explain` names the
failing instance. No Z3 here (see test_formula_z3.py)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.logic.formula import (
    INTEGER,
    FormulaError,
    State,
    const,
    exists,
    forall,
    iff,
    implies,
    ite,
    make,
    show,
)
from checker.logic.pycode import compile_term, explain
from checker.model import Bag, Bool, Enum, Int, Map, NodeId, OneOf, Option, Record, Seq, Set, StateSchema

N = NodeId("n", 3)
R = Record("R", k=Enum("a", "b"), v=Int(0, 2))
Ping = Record("Ping", src=N, n=Int(1, 3))
Pong = Record("Pong", ok=Bool())
Msg = OneOf(Ping, Pong)
S = StateSchema({
    "x": Int(-5, 5),
    "y": Int(-3, 3),
    "b": Bool(),
    "e": Enum("a", "b", "c"),
    "m": Map(N, Int(1, 3)),
    "st": Set(N),
    "o": Option(Int(2, 4)),
    "q": Seq(Int(1, 3), max_len=3),
    "r": R,
    "msg": Msg,
    "bag": Bag(N),
    "si": Set(Int(0, 3)),
    "mi": Map(Int(-1, 1), Enum("p", "q")),
    "big": Int(0, 1 << 30),
})
s = State(S)

DEFAULTS = {
    "x": 0, "y": 0, "b": False, "e": "a", "m": {"n1": 1, "n2": 1, "n3": 1}, "st": set(), "o": None, "q": (),
    "r": R.make(k="a", v=0), "msg": Pong.make(ok=False), "bag": (), "si": set(), "mi": {-1: "p", 0: "p", 1: "p"},
    "big": 0,
}


def raw_of(**values) -> tuple:
    raw = S.encode({**DEFAULTS, **values})
    assert S.check_raw(raw) is None
    return raw


def holds(formula, **values) -> bool:
    out = compile_term(formula, S)(raw_of(**values))
    assert type(out) is bool, out
    return out


# -- type errors: each raises FormulaError at once, naming the problem ----------------------------------

TYPE_ERRORS = [
    ("enum == int constant", lambda: s.e == 1, "is not a Enum('a', 'b', 'c')"),
    ("enum == int variable", lambda: s.e == s.x, "cannot compare Enum('a', 'b', 'c') with Int(-5, 5)"),
    ("int variable == enum", lambda: s.x == s.e, "cannot compare Int(-5, 5) with Enum('a', 'b', 'c')"),
    ("enum constant not a name", lambda: s.e == "z", "expected one of a, b, c, got 'z'"),
    ("record field enum constant", lambda: s.r.k == "c", "expected one of a, b, got 'c'"),
    ("unknown variable (attribute)", lambda: s.nope, "the state has no variable 'nope'"),
    ("unknown variable (item)", lambda: s["nope"], "the state has no variable 'nope'"),
    ("unknown record field", lambda: s.r.w, "has no field 'w' (fields: k, v)"),
    ("field of a non-record", lambda: s.x.w, "Int(-5, 5) has no fields"),
    ("node field of plain ids", lambda: forall(N, lambda a: a.state == 1), "n ids carry no node fields"),
    ("unknown role", lambda: s.role("rm"), "no role 'rm'"),
    ("quantifier over a huge Int", lambda: forall(Int(0, 1 << 30), lambda i: s.x == i), "not finite and small"),
    ("quantifier over a bag type", lambda: exists(Bag(N), lambda v: s.bag == v), "not finite and small"),
    ("quantifier over too many values", lambda: forall(Int(0, 1 << 20), lambda i: s.big == i),
     "1048577 values (at most 65536)"),
    ("quantifier over an int", lambda: forall(3, lambda i: s.x == i), "cannot quantify over 3"),
    ("quantifier over a list", lambda: forall(["n1"], lambda i: s.st.contains(i)), "cannot quantify over ['n1']"),
    ("quantifier over an Int term", lambda: forall(s.x, lambda i: s.x == i), "it is Int(-5, 5), not a set"),
    ("quantifier over a bag term", lambda: forall(s.bag, lambda i: s.x == 0), "not a set"),
    ("quantifier over an empty range", lambda: forall(range(2, 2), lambda i: s.x == i), "non-empty range"),
    ("quantifier over a stepped range", lambda: exists(range(0, 6, 2), lambda i: s.x == i), "step 1"),
    ("quantifier body not callable", lambda: forall(N, s.b), "takes a function"),
    ("quantifier body without variables", lambda: forall(N, lambda: s.b), "takes no bound variable"),
    ("quantifier body not Bool", lambda: forall(N, lambda a: s.m[a]), "needs a formula (Bool)"),
    ("python and", lambda: (s.x == 1) and (s.y == 1), "is a formula, not a Python truth value"),
    ("python or", lambda: (s.x == 1) or s.b, "is a formula, not a Python truth value"),
    ("python not", lambda: not s.b, "not with and/or/not/if"),
    ("python if", lambda: 1 if s.x < 0 else 2, "not with and/or/not/if"),
    ("bool()", lambda: bool(s.b), "is a formula, not a Python truth value"),
    ("chained comparison", lambda: 0 < s.x < 3, "is a formula, not a Python truth value"),
    ("python in", lambda: "n1" in s.st, "use st.contains(...)"),
    ("len()", lambda: len(s.st), "use .card() for sets"),
    ("iteration", lambda: list(s.st), "quantify over it with forall()/exists()"),
    ("assignment to the state", lambda: setattr(s, "x", 1), "cannot assign"),
    ("arithmetic on an enum", lambda: s.e + 1, "arithmetic needs Ints, and `e` is Enum('a', 'b', 'c')"),
    ("reversed arithmetic on an enum", lambda: 1 - s.e, "arithmetic needs Ints"),
    ("arithmetic on a set", lambda: s.st * 2, "arithmetic needs Ints"),
    ("negating a Bool", lambda: -s.b, "arithmetic needs Ints"),
    ("ordering enums", lambda: s.e < "b", "values are not ordered (Ints are)"),
    ("ordering enums reversed", lambda: s.e >= s.e, "values are not ordered"),
    ("ordering records", lambda: s.r <= s.r, "values are not ordered"),
    ("strict set order", lambda: s.st < s.st, "sets are ordered by inclusion only"),
    ("true division", lambda: s.x / 2, "use // (integer division"),
    ("map key of the wrong type", lambda: s.m[s.x], "the map's keys are NodeId('n', 3), not Int(-5, 5)"),
    ("map key enum", lambda: s.m[s.e], "not Enum('a', 'b', 'c')"),
    ("map key constant not a key", lambda: s.m["n4"], "expected one of n1, n2, n3, got 'n4'"),
    ("int map key of an enum", lambda: s.mi[s.e], "the map's keys are Int(-1, 1)"),
    ("seq index not an Int", lambda: s.q[s.e], "a sequence index must be an Int"),
    ("indexing a set", lambda: s.st[0], "cannot be indexed"),
    ("contains on a non-set", lambda: s.x.contains(1), "Int(-5, 5) is not a set"),
    ("contains on a map", lambda: s.m.contains("n1"), "is not a set"),
    ("contains a non-member constant", lambda: s.st.contains("n9"), "expected one of n1, n2, n3"),
    ("card of a seq", lambda: s.q.card(), "is not a set"),
    ("count of a set", lambda: s.st.count("n1"), "is not a bag"),
    ("length of a set", lambda: s.st.length(), "is not a sequence"),
    ("is_some of an int", lambda: s.x.is_some(), "is not an Option"),
    ("value of an int", lambda: s.x.value(), "is not an Option"),
    ("make with a missing field", lambda: make(R, k="a"), "make(R): field 'v' has no value"),
    ("make with an unknown field", lambda: make(R, k="a", v=1, w=2), "make(R): no field 'w' (fields: k, v)"),
    ("make with a wider Int", lambda: make(R, k="a", v=s.x), "the field is Int(0, 2), the value Int(-5, 5)"),
    ("make with arithmetic", lambda: make(R, k="a", v=s.r.v + 0), "an arithmetic result may fall outside it"),
    ("make of a non-record", lambda: make(N, k="a"), "make() takes a Record type"),
    ("is_a with an unknown variant", lambda: s.msg.is_a("Pang"), "no variant 'Pang' (variants: Ping, Pong)"),
    ("as_a with an unknown variant", lambda: s.msg.as_a(R), "no variant 'R'"),
    ("is_a on a record", lambda: s.r.is_a("R"), "is not a OneOf"),
    ("set of the wrong element type", lambda: s.st == {"a"}, "expected one of n1, n2, n3"),
    ("and of an Int", lambda: s.b & s.x, "is Int(-5, 5), but & needs a formula (Bool)"),
    ("or of an Int", lambda: s.x | s.b, "needs a formula"),
    ("not of an Int", lambda: ~s.x, "but ~ needs a formula"),
    ("implies of an Int", lambda: implies(s.x, s.b), "implies() needs a formula"),
    ("iff of an enum", lambda: iff(s.b, s.e), "iff() needs a formula"),
    ("ite condition", lambda: ite(s.x, 1, s.y), "ite() needs a formula"),
    ("ite branches of two types", lambda: ite(s.b, s.e, s.x), "cannot compare Enum('a', 'b', 'c') with Int(-5, 5)"),
    ("untyped constants", lambda: ite(s.b, 1, 2), "has no type here"),
]


@pytest.mark.parametrize("build,fragment", [(b, f) for _, b, f in TYPE_ERRORS], ids=[n for n, _, _ in TYPE_ERRORS])
def test_type_errors_raise_formula_error_naming_the_problem(build, fragment):
    with pytest.raises(FormulaError) as e:
        build()
    assert fragment in str(e.value)


def test_type_error_messages_quote_the_formula_text():
    with pytest.raises(FormulaError, match=r"`x \+ y \+ e`"):
        s.x + s.y + s.e
    with pytest.raises(FormulaError, match=r"`m\['n1'\] < st.card\(\) \+ 1` is a formula"):
        bool(s.m["n1"] < s.st.card() + 1)


def test_well_typed_neighbours_of_the_errors_build():
    # the same shapes, well typed, build Bool formulas (so the errors above are about the types)
    built = [
        s.e == "c", s.m["n2"] < s.x, s.mi[s.y] == "q", s.msg.is_a("Ping"), s.r == make(R, k="a", v=s.r.v),
        forall(Int(0, (1 << 16) - 1), lambda i: s.big == i), forall(s.st, lambda a: s.m[a] == 1),
        s.st.contains("n1"), s.bag.contains("n2"), s.si.contains(2), s.q[s.y] == 1,
    ]
    assert all(isinstance(f.type, Bool) for f in built)
    with pytest.raises(FormulaError, match="65537 values"):
        forall(Int(0, 1 << 16), lambda i: s.big == i)


@pytest.mark.parametrize("build", [lambda: s.st.contains(s.x), lambda: s.st.contains(s.e),
                                   lambda: s.bag.count(s.x), lambda: s.bag.contains(s.r)],
                         ids=["set-int", "set-enum", "bag-count-int", "bag-contains-record"])
def test_contains_rejects_an_element_of_another_type(build):
    with pytest.raises(FormulaError):
        build()


# -- show ----------------------------------------------------------------------------------------------


def test_show_is_readable_text():
    assert show(s.x // (s.y - 1) >= 2) == "2 <= x // (y - 1)"
    assert show(s.e != "b") == "e != 'b'"
    assert show(forall(N, lambda a, b: implies(s.m[a] == s.m[b], s.st.contains(a)))) == \
        "forall a in ids n: forall b in ids n: m[a] == m[b] implies st.contains(a)"
    assert show(exists(s.st, lambda a: ~s.b | (s.m[a] == 2))) == "exists a in st: not b or m[a] == 2"
    assert show(forall(range(-1, 2), lambda i: s.q[i] == 1)) == "forall i in range(-1, 2): q[i] == 1"
    assert show(s.msg.as_a("Ping").src == "n2") == "msg.as_a('Ping').src == 'n2'"
    assert show(s.r == make(R, k="b", v=s.r.v)) == "r == R(k='b', v=r.v)"
    # the same bound name twice gets a fresh one inside
    assert show(forall(N, lambda a: exists(N, lambda a: s.m[a] == 1))) == \
        "forall a in ids n: exists a2 in ids n: m[a2] == 1"


# -- compiled semantics against values worked out by hand --------------------------------------------------

# (x, y, x // y, x % y), floor division, total: x // 0 == 0, x % 0 == x
DIVISIONS = [
    (5, 2, 2, 1), (-5, 2, -3, 1), (5, -2, -3, -1), (-5, -2, 2, -1), (4, -2, -2, 0), (-4, 3, -2, 2),
    (1, 3, 0, 1), (-1, 3, -1, 2), (0, -3, 0, 0), (5, 0, 0, 5), (-5, 0, 0, -5), (0, 0, 0, 0), (-3, -3, 1, 0),
]


@pytest.mark.parametrize("x,y,q,r", DIVISIONS)
def test_division_and_modulo_by_variables(x, y, q, r):
    assert holds((s.x // s.y == q) & (s.x % s.y == r), x=x, y=y)
    assert not holds(s.x // s.y == q + 1, x=x, y=y)
    assert not holds(s.x % s.y == r - 1, x=x, y=y)
    # a constant on either side (folded differently by the compiler)
    assert holds((s.x // y == q) & (s.x % y == r), x=x, y=y)
    assert holds((x // s.y == q) & (x % s.y == r), x=x, y=y)


def test_division_of_an_expression_by_an_expression_that_can_be_zero():
    for x, y in itertools.product(range(-5, 6), range(-3, 4)):
        d = (x + y) * 2
        expect_div = x // d if d else 0
        expect_mod = x % d if d else x
        f = (s.x // ((s.x + s.y) * 2) == expect_div) & (s.x % (2 * (s.y + s.x)) == expect_mod)
        assert holds(f, x=x, y=y), (x, y)
        assert holds(s.x == (s.x // (s.y - 1)) * (s.y - 1) + s.x % (s.y - 1), x=x, y=y)


def test_arithmetic_and_order():
    assert holds((s.x + s.y == -1) & (s.x - s.y == -7) & (s.x * s.y == -12) & (-s.x == 4), x=-4, y=3)
    assert not holds(s.x * s.y == 12, x=-4, y=3)
    assert holds((s.x + s.y == 0) & (s.x - s.y == -6) & (s.x * s.y == -9) & (-s.x == 3), x=-3, y=3)
    assert holds((s.x < s.y) & (s.x <= s.y) & (s.y > s.x) & (s.y >= s.x) & (s.x != s.y), x=-3, y=3)
    assert not holds(s.x < s.y, x=2, y=2)
    assert holds((s.x <= s.y) & (s.x >= s.y), x=2, y=2)
    assert holds((1 - s.x == 3) & (10 // s.y == -4) & (7 % s.y == -2), x=-2, y=-3)


def test_seq_index_is_zero_based_and_out_of_range_gives_the_lower_bound():
    q = (3, 2)
    assert holds((s.q[0] == 3) & (s.q[1] == 2) & (s.q.length() == 2), q=q)
    for i in (2, 3, 7, -1, -2, -100):
        assert holds(s.q[i] == 1, q=q), i  # Int(1, 3): the default is the lower bound 1
    for y, expect in [(-3, 1), (-1, 1), (0, 3), (1, 2), (2, 1), (3, 1)]:
        assert holds(s.q[s.y] == expect, q=q, y=y), y
        assert holds(s.q[s.y - 1] == (3 if y == 1 else 2 if y == 2 else 1), q=q, y=y), y
    assert holds((s.q[0] == 1) & (s.q.length() == 0), q=())
    assert holds((s.q[2] == 3) & (s.q[3] == 1), q=(1, 1, 3))


def test_option_value_of_none_is_the_default_of_the_inner_type():
    assert holds(s.o.is_none() & ~s.o.is_some() & (s.o.value() == 2), o=None)  # Int(2, 4): lower bound 2
    assert holds(s.o.is_some() & (s.o.value() == 4) & (s.o == 4), o=4)
    assert not holds(s.o == 2, o=None)
    assert holds(s.o == 2, o=2)


def test_wrong_oneof_variant_reads_as_defaults():
    pong = Pong.make(ok=True)
    assert holds(s.msg.is_a("Pong") & ~s.msg.is_a(Ping) & s.msg.as_a("Pong").ok, msg=pong)
    assert holds((s.msg.as_a("Ping").src == "n1") & (s.msg.as_a("Ping").n == 1), msg=pong)
    ping = Ping.make(src="n3", n=2)
    assert holds(s.msg.is_a("Ping") & (s.msg.as_a(Ping).src == "n3") & (s.msg.as_a("Ping").n == 2), msg=ping)
    assert holds(~s.msg.as_a("Pong").ok, msg=ping)
    assert holds(s.msg == make(Ping, src="n3", n=s.msg.as_a(Ping).n), msg=ping)
    assert not holds(s.msg == make(Ping, src="n2", n=s.msg.as_a(Ping).n), msg=ping)
    assert holds(s.msg == Ping.make(src="n3", n=2), msg=ping)
    assert not holds(s.msg == pong, msg=ping)


def test_map_with_int_keys_out_of_range_gives_the_default():
    mi = {-1: "q", 0: "p", 1: "q"}
    for y, expect in [(-3, "p"), (-2, "p"), (-1, "q"), (0, "p"), (1, "q"), (2, "p"), (3, "p")]:
        assert holds(s.mi[s.y] == expect, mi=mi, y=y), y
    assert holds(s.mi[s.y + 2] == "q", mi=mi, y=-1)
    assert holds((s.mi[5] == "p") & (s.mi[-3] == "p") & (s.mi[-1] == "q") & (s.mi[1] == "q"), mi=mi)


def test_map_lookup_by_constant_and_bound_keys():
    m = {"n1": 3, "n2": 1, "n3": 2}
    assert holds((s.m["n1"] == 3) & (s.m["n2"] == 1) & (s.m["n3"] == 2), m=m)
    assert holds(forall(N, lambda a: s.m[a] >= 1) & exists(N, lambda a: s.m[a] == 2), m=m)
    assert not holds(exists(N, lambda a: s.m[a] + s.m[a] == 5), m=m)


def test_set_card_subset_union_intersection_difference():
    v = {"st": {"n1", "n3"}}
    assert holds(s.st.card() == 2, **v)
    assert holds(s.st.contains("n1") & ~s.st.contains("n2") & s.st.contains("n3"), **v)
    assert holds(s.st <= {"n1", "n2", "n3"}, **v)
    assert holds(s.st <= {"n1", "n3"}, **v)
    assert not holds(s.st <= {"n1", "n2"}, **v)
    assert holds(s.st >= {"n3"}, **v)
    assert not holds(s.st >= {"n2"}, **v)
    assert holds((s.st | {"n2"}).card() == 3, **v)
    assert holds((s.st & {"n2", "n3"}) == {"n3"}, **v)
    assert holds((s.st - {"n1"}) == {"n3"}, **v)
    assert holds((s.st - s.st).card() == 0, **v)
    assert holds(s.st == {"n3", "n1"}, **v)
    assert not holds(s.st == {"n3"}, **v)
    assert holds((set() <= s.st) & (s.st.card() == 0), st=set())
    assert holds(s.st == set(), st=set())


def test_set_literals_of_terms_and_bags():
    assert holds(s.st == {s.msg.as_a("Ping").src}, st={"n2"}, msg=Ping.make(src="n2", n=1))
    assert not holds(s.st == {s.msg.as_a("Ping").src}, st={"n2", "n1"}, msg=Ping.make(src="n2", n=1))
    bag = ("n1", "n3", "n1")
    assert holds((s.bag.count("n1") == 2) & (s.bag.count("n2") == 0) & (s.bag.count("n3") == 1), bag=bag)
    assert holds((s.bag.card() == 3) & s.bag.contains("n3") & ~s.bag.contains("n2"), bag=bag)
    assert holds(forall(N, lambda a: s.bag.count(a) <= 2) & exists(N, lambda a: s.bag.count(a) == 2), bag=bag)


def test_quantifiers_over_set_members():
    m = {"n1": 3, "n2": 1, "n3": 2}
    assert holds(forall(s.st, lambda a: s.m[a] >= 2), m=m, st={"n1", "n3"})
    assert not holds(forall(s.st, lambda a: s.m[a] >= 2), m=m, st={"n1", "n2"})
    assert holds(exists(s.st, lambda a: s.m[a] == 1), m=m, st={"n2"})
    assert not holds(exists(s.st, lambda a: s.m[a] == 1), m=m, st={"n1", "n3"})
    # the empty set: forall holds, exists does not
    assert holds(forall(s.st, lambda a: s.b), st=set())
    assert not holds(exists(s.st, lambda a: ~s.b), st=set())
    # over a set expression, and over a constant set term
    assert holds(forall(s.st | {"n2"}, lambda a: s.m[a] <= 2), m=m, st={"n3"})
    assert not holds(forall(s.st | {"n1"}, lambda a: s.m[a] <= 2), m=m, st={"n3"})
    assert holds(exists(s.st - {"n1"}, lambda a: s.m[a] == 3), m={"n1": 1, "n2": 3, "n3": 1}, st={"n1", "n2"})
    assert not holds(exists(s.st - {"n2"}, lambda a: s.m[a] == 3), m={"n1": 1, "n2": 3, "n3": 1}, st={"n1", "n2"})
    # an Int set's members
    assert holds(forall(s.si, lambda i: s.q[i] == 2), si={1, 2}, q=(3, 2, 2))
    assert not holds(forall(s.si, lambda i: s.q[i] == 2), si={0, 2}, q=(3, 2, 2))


def test_quantifiers_over_finite_types_and_ranges():
    assert holds(exists(Bool(), lambda v: s.b == v) & forall(Enum("a", "b", "c"), lambda v: exists(
        Enum("a", "b", "c"), lambda w: v == w)))
    assert holds(exists(R, lambda r: s.r == r), r=R.make(k="b", v=2))
    assert holds(forall(R, lambda r: implies(r.k == "b", r.v <= 2)))
    assert not holds(forall(R, lambda r: r.v <= 1))
    assert holds(exists(Option(Int(2, 4)), lambda v: s.o == v), o=3)
    assert not holds(exists(Option(Int(2, 4)), lambda v: v.is_some() & (v.value() == 2) & (s.o == v)), o=3)
    # range(lo, hi) runs over lo .. hi - 1, negative bounds included
    assert holds(exists(range(-4, -1), lambda i: s.x == i), x=-2)
    assert not holds(exists(range(-4, -1), lambda i: s.x == i), x=-1)
    assert holds(forall(range(-3, 4), lambda i: exists(range(-4, 4), lambda j: j == i)))
    assert not holds(forall(range(-3, 4), lambda i: exists(range(-3, 3), lambda j: j == i)))
    assert holds(forall(range(0, 3), lambda i: s.q[i] >= s.q[0]), q=(1, 3))


def test_nested_quantifiers():
    m = {"n1": 3, "n2": 1, "n3": 2}
    # a maximum exists; nothing beats every element
    assert holds(exists(N, lambda a: forall(N, lambda b: s.m[a] >= s.m[b])), m=m)
    assert not holds(forall(N, lambda a: exists(N, lambda b: s.m[b] > s.m[a])), m=m)
    # several variables of one quantifier
    assert not holds(forall(N, lambda a, b: implies(a != b, s.m[a] != s.m[b])), m={"n1": 3, "n2": 1, "n3": 3})
    assert holds(forall(N, lambda a, b: implies(a != b, s.m[a] != s.m[b])), m=m)
    assert holds(exists(N, lambda a, b, c: (s.m[a] + s.m[b] + s.m[c] == 9)), m=m)  # 3 + 3 + 3
    assert not holds(exists(N, lambda a, b, c: (s.m[a] + s.m[b] + s.m[c] == 9) & (a != b)), m=m)
    # a quantifier over members of a set nested in one over ids, both reading the outer variable
    f = forall(N, lambda a: implies(s.st.contains(a), exists(s.st, lambda b: (b != a) & (s.m[b] < s.m[a]))))
    assert not holds(f, m=m, st={"n1", "n2"})  # n2 has nothing below it
    assert holds(f, m=m, st=set())
    g = exists(s.st, lambda a: forall(range(0, 3), lambda i: s.q[i] < s.m[a] + i))
    assert holds(g, m=m, st={"n2", "n1"}, q=(2, 1))  # a = n1: 2 < 3, 1 < 4, (default 1) < 5
    assert not holds(g, m=m, st={"n2", "n3"}, q=(2, 1))  # n2: 2 < 1 fails; n3: 2 < 2 fails


def test_boolean_connectives():
    for b, x in itertools.product([False, True], [-1, 0, 1]):
        p = x > 0
        assert holds(implies(s.b, s.x > 0) == (not b or p), b=b, x=x)
        assert holds(iff(s.b, s.x > 0) == (b == p), b=b, x=x)
        assert holds((s.b ^ (s.x > 0)) == (b != p), b=b, x=x)
        assert holds(ite(s.b, s.x, -s.x) == (x if b else -x), b=b, x=x)
        assert holds(ite(s.b, s.x > 0, s.x < 0) == (p if b else x < 0), b=b, x=x)
        assert holds((s.b | (s.x > 0)) == (b or p), b=b, x=x)
        assert holds((s.b & (s.x > 0)) == (b and p), b=b, x=x)
        assert holds(~~s.b == b, b=b, x=x)
        assert holds((True & s.b) == b, b=b, x=x)
        assert holds((False | s.b) == b, b=b, x=x)


def test_records_and_make():
    r = R.make(k="b", v=2)
    assert holds((s.r.k == "b") & (s.r.v == 2) & (s.r == r), r=r)
    assert holds(s.r == make(R, k="b", v=s.r.v), r=r)
    assert not holds(s.r == make(R, k="a", v=s.r.v), r=r)
    assert holds(s.r == make(R, k=s.r.k, v=ite(s.b, s.r.v, s.r.v)), r=r, b=True)
    assert holds(s.r.field("k") == "b", r=r)


def test_compiled_source_and_reads():
    f = compile_term(forall(N, lambda a: s.m[a] <= s.x), S)
    o = S.offsets
    assert f.reads == (o["x"], o["m"], o["m"] + 1, o["m"] + 2)
    assert f.source.startswith("def formula(raw):\n    return ")
    assert compile_term(s.b, S).reads == (o["b"],)
    g = compile_term(s.q[s.y] == 2, S)
    assert {o["y"], o["q"] + 1, o["q"] + 2, o["q"] + 3} <= set(g.reads) <= {o["y"], *range(o["q"], o["q"] + 4)}
    # a formula of constants only reads nothing
    assert compile_term(const(1, INTEGER) < 2, S).reads == ()


# -- @formula over a protocol's roles -----------------------------------------------------------------------

RmNode = Record("RmNode", state=Enum("working", "committed", "aborted"), votes=Int(0, 3))
P = StateSchema({"tm": Enum("init", "done"), "rm1": RmNode, "rm2": RmNode, "rm3": RmNode},
                groups={"rm": ("rm1", "rm2", "rm3")})
p = State(P)
AGREEMENT = forall(p.role("rm"), lambda a, b: ~((a.state == "committed") & (b.state == "aborted")))


def p_raw(*nodes):
    return P.encode({"tm": "init", **{f"rm{i + 1}": RmNode.make(state=st_, votes=v) for i, (st_, v) in
                                      enumerate(nodes)}})


def test_role_quantifiers_read_each_nodes_fields():
    f = compile_term(AGREEMENT, P)
    assert f(p_raw(("working", 0), ("committed", 1), ("committed", 2)))
    assert not f(p_raw(("aborted", 0), ("working", 1), ("committed", 2)))
    g = compile_term(exists(p.role("rm"), lambda a: (a.votes == 2) & (a.state == "working")), P)
    assert g(p_raw(("working", 0), ("working", 2), ("aborted", 2)))
    assert not g(p_raw(("working", 0), ("committed", 2), ("aborted", 2)))


# -- explain: the failing instance ---------------------------------------------------------------------------


def test_explain_names_the_failing_instance():
    f = forall(N, lambda a: s.m[a] <= 2)
    bindings, where, value = explain(f, S, raw_of(m={"n1": 1, "n2": 3, "n3": 3}))
    assert bindings == ["a=n2"]  # the first failing node, not n3
    assert show(where) == "m[a] <= 2" and value is False
    bindings, _, _ = explain(f, S, raw_of(m={"n1": 1, "n2": 2, "n3": 3}))
    assert bindings == ["a=n3"]


def test_explain_nested_and_role_quantifiers():
    f = forall(N, lambda a: forall(N, lambda b: implies(a != b, s.m[a] != s.m[b])))
    bindings, where, value = explain(f, S, raw_of(m={"n1": 2, "n2": 1, "n3": 2}))
    assert bindings == ["a=n1", "b=n3"] and value is False
    bindings, where, value = explain(AGREEMENT, P, p_raw(("aborted", 0), ("working", 1), ("committed", 2)))
    assert bindings == ["a=rm3", "b=rm1"]
    assert show(where) == "not (a.state == 'committed' and b.state == 'aborted')" and value is False


def test_explain_descends_through_connectives_and_witnesses():
    # the failing conjunct is the second one, inside it the failing member of st
    f = (s.x >= 0) & forall(s.st, lambda a: s.m[a] == 1)
    bindings, where, value = explain(f, S, raw_of(x=1, st={"n2", "n3"}, m={"n1": 2, "n2": 1, "n3": 3}))
    assert bindings == ["a=n3"] and show(where) == "m[a] == 1" and value is False
    # a false negated exists: the witness that makes the exists true
    g = ~exists(range(-1, 3), lambda i: s.q[i] == 3)
    bindings, where, value = explain(g, S, raw_of(q=(1, 1, 3)))
    assert bindings == ["i=2"] and show(where) == "q[i] == 3" and value is True
    # implication: the consequent under the failing instance
    h = forall(N, lambda a: implies(s.st.contains(a), s.m[a] > 1))
    bindings, where, value = explain(h, S, raw_of(st={"n1", "n2"}, m={"n1": 2, "n2": 1, "n3": 1}))
    assert bindings == ["a=n2"] and show(where) == "1 < m[a]" and value is False


def test_explain_of_a_holding_formula_names_nothing():
    bindings, where, value = explain(forall(N, lambda a: s.m[a] >= 1), S, raw_of())
    assert bindings == [] and value is False  # nothing to descend into: the formula itself is returned
    assert show(where) == "forall a in ids n: 1 <= m[a]"


# -- bugs: Int elements whose range differs from the set's ------------------------------------------------


@pytest.mark.parametrize("x", [0, 3, -2, -5])
def test_membership_of_an_int_of_another_range(x):
    # si is Set(Int(0, 3)), x is Int(-5, 5): x is a member exactly when its value is in si
    si = {0, 3}
    assert holds(s.si.contains(s.x), si=si, x=x) == (x in si)


def test_membership_of_a_range_variable():
    f = forall(range(-1, 3), lambda i: implies(s.si.contains(i), s.x == i))
    assert holds(f, si={0}, x=0)


def test_set_literal_of_an_int_of_another_range():
    assert holds(s.si == {s.x}, si={2}, x=2)


def test_membership_of_an_arithmetic_element_is_rejected_when_built_or_evaluated():
    try:
        f = s.si.contains(s.x + 1)
    except FormulaError:
        return  # rejected at once: fine
    assert holds(f, si={2}, x=1)
    assert not holds(f, si={2}, x=2)


# -- property: the compiled formula against a reference evaluator on decoded states ------------------------


@st.composite
def family_case(draw):
    """A random schema (node count, Int ranges, seq length), one state of it, and a formula index."""
    n = draw(st.integers(1, 5))
    RM = NodeId("rm", n)
    clo = draw(st.integers(-3, 2))
    chi = draw(st.integers(clo, clo + 5))
    llo = draw(st.integers(-3, 2))
    lhi = draw(st.integers(llo, llo + 5))
    qmax = draw(st.integers(0, 3))
    schema = StateSchema({
        "limit": Int(llo, lhi),
        "flags": Map(RM, Bool()),
        "count": Map(RM, Int(clo, chi)),
        "active": Set(RM),
        "log": Seq(Int(clo, chi), max_len=qmax),
    })
    names = RM.names
    values = {
        "limit": draw(st.integers(llo, lhi)),
        "flags": {r: draw(st.booleans()) for r in names},
        "count": {r: draw(st.integers(clo, chi)) for r in names},
        "active": frozenset(draw(st.sets(st.sampled_from(names)))),
        "log": tuple(draw(st.lists(st.integers(clo, chi), max_size=qmax))),
    }
    return RM, schema, values


def _div(a, b):
    return a // b if b else 0


def _mod(a, b):
    return a % b if b else a


def _at(seq, i, default):
    return seq[i] if 0 <= i < len(seq) else default


# each: (build(s, RM), reference(v, RM, lo of count)) -- the reference reads the decoded state only
FAMILY = [
    (lambda s, RM: forall(RM, lambda r: implies(s.flags[r], s.count[r] <= s.limit)),
     lambda v, RM, lo: all(not v["flags"][r] or v["count"][r] <= v["limit"] for r in RM.names)),
    (lambda s, RM: exists(s.active, lambda r: s.count[r] % s.limit == 0),
     lambda v, RM, lo: any(_mod(v["count"][r], v["limit"]) == 0 for r in v["active"])),
    (lambda s, RM: forall(s.active, lambda a: exists(RM, lambda b: (s.count[b] // s.limit >= s.count[a]) & (a != b))),
     lambda v, RM, lo: all(any(_div(v["count"][b], v["limit"]) >= v["count"][a] and a != b for b in RM.names)
                           for a in v["active"])),
    (lambda s, RM: s.log[s.limit] == s.count[RM.names[0]],
     lambda v, RM, lo: _at(v["log"], v["limit"], lo) == v["count"][RM.names[0]]),
    (lambda s, RM: (s.active.card() <= s.limit) | iff(s.flags[RM.names[-1]], s.log.length() > 1),
     lambda v, RM, lo: len(v["active"]) <= v["limit"] or (v["flags"][RM.names[-1]] == (len(v["log"]) > 1))),
    (lambda s, RM: forall(range(-1, 4), lambda i: implies(s.log[i] > s.limit, exists(RM, lambda r: s.flags[r] & (
        s.count[r] == s.log[i] - i)))),
     lambda v, RM, lo: all(not _at(v["log"], i, lo) > v["limit"] or any(
         v["flags"][r] and v["count"][r] == _at(v["log"], i, lo) - i for r in RM.names) for i in range(-1, 4))),
    (lambda s, RM: forall(RM, lambda a, b: implies(s.active.contains(a) & ~s.active.contains(b),
                                                   s.count[a] * s.count[b] >= s.limit - (s.count[a] % 2))),
     lambda v, RM, lo: all(not (a in v["active"] and b not in v["active"])
                           or v["count"][a] * v["count"][b] >= v["limit"] - _mod(v["count"][a], 2)
                           for a in RM.names for b in RM.names)),
    (lambda s, RM: ite(s.flags[RM.names[0]], s.count[RM.names[-1]], s.limit - 1) == s.log.length() + (-s.limit),
     lambda v, RM, lo: (v["count"][RM.names[-1]] if v["flags"][RM.names[0]] else v["limit"] - 1)
     == len(v["log"]) - v["limit"]),
    (lambda s, RM: exists(RM, lambda r: (s.count[r] // (s.limit - 1) == -1) | (s.count[r] % s.limit < 0)),
     lambda v, RM, lo: any(_div(v["count"][r], v["limit"] - 1) == -1 or _mod(v["count"][r], v["limit"]) < 0
                           for r in RM.names)),
    (lambda s, RM: forall(s.active, lambda r: implies(s.flags[r], s.active.card() + s.count[r] % 3 > s.limit)),
     lambda v, RM, lo: all(not v["flags"][r] or len(v["active"]) + v["count"][r] % 3 > v["limit"]
                           for r in v["active"])),
]


@settings(max_examples=250, deadline=None, derandomize=True)
@given(family_case())
def test_compiled_family_matches_direct_evaluation(case):
    RM, schema, values = case
    raw = schema.encode(values)
    decoded = schema.decode(raw)
    s = State(schema)
    for build, reference in FAMILY:
        f = build(s, RM)
        expect = reference(decoded, RM, schema.variables["count"].value.lo)
        assert compile_term(f, schema)(raw) == expect, (show(f), decoded)


def test_the_family_cases_are_not_constant():
    # each reference formula takes both truth values on some state: the property above can fail
    seen = {k: set() for k in range(len(FAMILY))}
    RM = NodeId("rm", 2)
    schema = StateSchema({"limit": Int(-1, 2), "flags": Map(RM, Bool()), "count": Map(RM, Int(-1, 2)),
                          "active": Set(RM), "log": Seq(Int(-1, 2), max_len=2)})
    compiled = [compile_term(build(State(schema), RM), schema) for build, _ in FAMILY]
    for limit, f1, f2, c1, c2, act, log in itertools.product(
            range(-1, 3), [False, True], [False, True], range(-1, 3), range(-1, 3),
            [frozenset(), frozenset({"rm1"}), frozenset({"rm1", "rm2"})], [(), (2,), (2, -1)]):
        values = {"limit": limit, "flags": {"rm1": f1, "rm2": f2}, "count": {"rm1": c1, "rm2": c2},
                  "active": act, "log": log}
        raw = schema.encode(values)
        for k, (_, reference) in enumerate(FAMILY):
            got = compiled[k](raw)
            assert got == reference(schema.decode(raw), RM, -1), (k, values)
            seen[k].add(got)
    assert all(v == {False, True} for v in seen.values()), seen


def test_make_with_an_int_constant():
    assert holds(s.r == make(R, k="a", v=1), r=R.make(k="a", v=1))
    assert not holds(s.r == make(R, k="a", v=1), r=R.make(k="a", v=2))
