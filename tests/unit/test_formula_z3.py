"""checker/logic/smt.py against checker/logic/pycode.py and against a reference evaluator written here:
random formulas on random canonical states give one truth value in Python, in Z3 and by direct
evaluation of the decoded state; violation cores name exactly the fields that force falsity (checked
with the solver and by compiled Python on the models it finds); `entails` and `models` against
brute force."""

from __future__ import annotations

import itertools
import operator
import random

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.logic import smt
from checker.logic.formula import BOOL, INTEGER, State, const, exists, forall, iff, implies, ite, make, show
from checker.logic.pycode import compile_term
from checker.model import Bool, Enum, Int, Map, NodeId, OneOf, Option, Record, Seq, Set, StateSchema
from checker.model.schema import all_values
from protocols.two_phase_commit_tla import TwoPhase

N = NodeId("n", 3)
NAMES = N.names
R = Record("R", k=Enum("a", "b"), v=Int(0, 2))
Z = StateSchema({
    "x": Int(-3, 3),
    "y": Int(0, 4),
    "b": Bool(),
    "e": Enum("a", "b", "c"),
    "m": Map(N, Int(0, 2)),
    "st": Set(N),
    "o": Option(Int(0, 3)),
    "q": Seq(Int(0, 3), max_len=3),
    "r": R,
})
s = State(Z)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)

# -- random canonical states: decoded values, encoded by the schema ----------------------------------------

node_sets = st.frozensets(st.sampled_from(NAMES))
states = st.fixed_dictionaries({
    "x": st.integers(-3, 3),
    "y": st.integers(0, 4),
    "b": st.booleans(),
    "e": st.sampled_from(["a", "b", "c"]),
    "m": st.fixed_dictionaries({n: st.integers(0, 2) for n in NAMES}),
    "st": node_sets,
    "o": st.none() | st.integers(0, 3),
    "q": st.integers(0, 3).flatmap(lambda n: st.lists(st.integers(0, 3), min_size=n, max_size=n)).map(tuple),
    "r": st.builds(lambda k, v: R.make(k=k, v=v), st.sampled_from(["a", "b"]), st.integers(0, 2)),
}).map(Z.encode)

# -- random formulas: a small AST, built into a term and evaluated directly -----------------------------------
#
# int:  ("var", name) ("lit", k) ("m", node) ("card",) ("len",) ("qi", int) ("ov",) ("rv",) ("bi", k)
#       ("bin", op, int, int) ("neg", int) ("ite", bool, int, int)
# node: ("nc", name) ("bn", k)                       -- bound node k (mod the nodes in scope), else n1
# set:  ("st",) ("sc", frozenset) ("setop", op, set, set) ("slit", node)
# bool: ("b",) ("cmp", op, int, int) ("eeq", name) ("rk", name) ("neq", node, node) ("mem", node, set)
#       ("subset", set, set) ("seteq", set, set) ("osome",) ("oeq", None | k) ("req", k, v) ("rmake", node)
#       ("qeq", tuple) ("not", b) ("and"|"or"|"implies"|"iff", b, b) ("iteb", b, b, b)
#       ("quant", "forall"|"exists", "N"|"N2"|"range"|"st", b)

ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod}
CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
INT_OPS = list(ARITH)
CMP_OPS = list(CMP)
SET_OPS = ["|", "&", "-"]


def _node(r):
    return ("nc", r.choice(NAMES)) if r.random() < 0.4 else ("bn", r.randrange(4))


def _int(r, depth: int):
    if depth <= 0 or r.random() < 0.3:
        k = r.randrange(20)
        if k < 5:
            return ("var", "x")  # the one variable that can be negative
        if k < 9:
            return ("lit", r.randint(-3, 3))
        if k < 12:
            return ("bi", r.randrange(4))
        if k < 14:
            return ("m", _node(r))
        return [("var", "y"), ("card",), ("len",), ("ov",), ("rv",), ("lit", 0)][k - 14]
    k = r.randrange(10)
    if k < 2:
        return ("bin", r.choice(INT_OPS), _int(r, depth - 1), _int(r, depth - 1))
    if k < 6:  # divisions most often, with operands of both signs and divisors that are sometimes zero
        return ("bin", r.choice(["//", "%"]), _signed(r, depth - 1), _signed(r, depth - 1))
    if k < 8:
        return ("qi", _int(r, depth - 1))
    if k < 9:
        return ("neg", _int(r, depth - 1))
    return ("ite", _bool(r, depth - 1), _int(r, depth - 1), _int(r, depth - 1))


def _signed(r, depth: int):
    """An int expression that is often negative: x, a negative constant, a difference, a negation."""
    k = r.randrange(6)
    if k == 0:
        return ("var", "x")
    if k == 1:
        return ("lit", r.choice([-3, -2, 2, 3]))
    if k == 2:
        return ("bin", "-", _int(r, depth - 1), ("lit", r.randint(1, 3)))
    if k == 3:
        return ("neg", _int(r, depth - 1))
    return _int(r, depth)


def _set(r, depth: int):
    if depth <= 0 or r.random() < 0.5:
        k = r.randrange(3)
        if k == 0:
            return ("st",)
        if k == 1:
            return ("sc", frozenset(n for n in NAMES if r.random() < 0.5))
        return ("slit", _node(r))
    return ("setop", r.choice(SET_OPS), _set(r, depth - 1), _set(r, depth - 1))


def _atom(r, depth: int):
    k = r.randrange(20)
    if k < 10:
        lhs = _int(r, depth)
        rhs = ("lit", r.randint(-2, 2)) if r.random() < 0.5 else _int(r, depth - 1)
        return ("cmp", r.choice(CMP_OPS), lhs, rhs)
    if k < 12:
        return ("mem", _node(r), _set(r, 1))
    if k == 12:
        return ("qeq", tuple(r.randint(0, 3) for _ in range(r.randint(0, 3))))
    return [
        ("b",), ("osome",), ("eeq", r.choice("abc")), ("rk", r.choice("ab")), ("neq", _node(r), _node(r)),
        ("subset", _set(r, 1), _set(r, 1)), ("seteq", _set(r, 1), _set(r, 1)),
        ("oeq", r.choice([None, 0, 1, 2, 3])), ("req", r.choice("ab"), r.randint(0, 2)), ("rmake", _node(r)),
    ][r.randrange(10)]


def _bool(r, depth: int):
    if depth <= 0 or r.random() < 0.3:
        return _atom(r, 2)
    k = r.randrange(10)
    if k < 3:
        return ("quant", r.choice(["forall", "exists"]), r.choice(["N", "N2", "range", "st"]), _bool(r, depth - 1))
    if k < 4:
        return (r.choice(["and", "or", "implies"]), _bool(r, depth - 1), _bool(r, depth - 1))
    if k < 6:
        return ("iff", _bool(r, depth - 1), _bool(r, depth - 1))  # keeps both sides' effect on the value
    if k < 8:
        return ("not", _bool(r, depth - 1))
    return ("iteb", _bool(r, depth - 1), _bool(r, depth - 1), _bool(r, depth - 1))


# Hypothesis draws a seed and a state; the formula is a function of both (Hypothesis repeats small seeds
# often, and a formula made of the seed alone would come back many times). A failure shows both.
cases = st.tuples(st.integers(0, 2**32 - 1), states).map(
    lambda p: (_bool(random.Random(f"{p[0]}:{p[1]}"), 3), p[1]))


def _pick(scope: list, k: int, fallback):
    return scope[k % len(scope)] if scope else fallback


class Build:
    """The AST as a term of the formula language."""

    def __init__(self):
        self.nodes: list = []
        self.ints: list = []

    def int(self, a):
        op = a[0]
        if op == "var":
            return s[a[1]]
        if op == "lit":
            return a[1]
        if op == "m":
            return s.m[self.node(a[1])]
        if op == "card":
            return s.st.card()
        if op == "len":
            return s.q.length()
        if op == "qi":
            return s.q[self.int(a[1])]
        if op == "ov":
            return s.o.value()
        if op == "rv":
            return s.r.v
        if op == "bi":
            return _pick(self.ints, a[1], a[1])
        if op == "neg":
            x = self.int(a[1])
            return -x
        if op == "bin":
            x, y = self.int(a[2]), self.int(a[3])
            if isinstance(x, int) and isinstance(y, int):
                x = const(x, INTEGER)
            return ARITH[a[1]](x, y)
        if op == "ite":
            x, y = self.int(a[2]), self.int(a[3])
            if isinstance(x, int) and isinstance(y, int):
                x = const(x, INTEGER)
            return ite(self.bool(a[1]), x, y)
        raise AssertionError(a)

    def node(self, a):
        return a[1] if a[0] == "nc" else _pick(self.nodes, a[1], "n1")

    def set(self, a):
        op = a[0]
        if op == "st":
            return s.st
        if op == "sc":
            return const(a[1], Set(N))
        if op == "slit":
            n = self.node(a[1])
            return const(frozenset([n]), Set(N)) if isinstance(n, str) else const(frozenset(), Set(N)) | {n}
        x, y = self.set(a[2]), self.set(a[3])
        return {"|": x.__or__, "&": x.__and__, "-": x.__sub__}[a[1]](y)

    def bool(self, a):
        op = a[0]
        if op == "b":
            return s.b
        if op == "osome":
            return s.o.is_some()
        if op == "cmp":
            x, y = self.int(a[2]), self.int(a[3])
            if isinstance(x, int) and isinstance(y, int):
                x = const(x, INTEGER)
            return CMP[a[1]](x, y)  # a Python int on either side: the term's (reflected) operator
        if op == "eeq":
            return s.e == a[1]
        if op == "rk":
            return s.r.k == a[1]
        if op == "neq":
            x, y = self.node(a[1]), self.node(a[2])
            if isinstance(x, str):
                x = const(x, N)
            return x == y
        if op == "mem":
            return self.set(a[2]).contains(self.node(a[1]))
        if op == "subset":
            return self.set(a[1]) <= self.set(a[2])
        if op == "seteq":
            return self.set(a[1]) == self.set(a[2])
        if op == "oeq":
            return s.o == const(a[1], Option(Int(0, 3)))
        if op == "req":
            return s.r == R.make(k=a[1], v=a[2])
        if op == "rmake":
            return s.r == make(R, k=s.r.k, v=s.m[self.node(a[1])])
        if op == "qeq":
            return s.q == const(a[1], Seq(Int(0, 3), max_len=3))
        if op == "not":
            return ~self.bool(a[1])
        if op == "and":
            return self.bool(a[1]) & self.bool(a[2])
        if op == "or":
            return self.bool(a[1]) | self.bool(a[2])
        if op == "implies":
            return implies(self.bool(a[1]), self.bool(a[2]))
        if op == "iff":
            return iff(self.bool(a[1]), self.bool(a[2]))
        if op == "iteb":
            return ite(self.bool(a[1]), self.bool(a[2]), self.bool(a[3]))
        if op == "quant":
            q = forall if a[1] == "forall" else exists
            dom = {"N": N, "N2": N, "range": range(-1, 3), "st": s.st}[a[2]]
            scope = self.ints if a[2] == "range" else self.nodes

            def body(*vs):
                scope.extend(vs)
                try:
                    return self.bool(a[3])
                finally:
                    del scope[len(scope) - len(vs):]

            return q(dom, (lambda u, w: body(u, w)) if a[2] == "N2" else (lambda u: body(u)))
        raise AssertionError(a)


def build(ast):
    return Build().bool(ast)


class Ref:
    """The AST evaluated directly on the decoded state, with the documented total semantics."""

    def __init__(self, d: dict):
        self.d = d
        self.nodes: list = []
        self.ints: list = []

    def int(self, a):
        d, op = self.d, a[0]
        if op == "var":
            return d[a[1]]
        if op == "lit":
            return a[1]
        if op == "m":
            return d["m"][self.node(a[1])]
        if op == "card":
            return len(d["st"])
        if op == "len":
            return len(d["q"])
        if op == "qi":
            i = self.int(a[1])
            return d["q"][i] if 0 <= i < len(d["q"]) else 0
        if op == "ov":
            return 0 if d["o"] is None else d["o"]
        if op == "rv":
            return d["r"].v
        if op == "bi":
            return _pick(self.ints, a[1], a[1])
        if op == "neg":
            return -self.int(a[1])
        if op == "bin":
            x, y = self.int(a[2]), self.int(a[3])
            if a[1] == "//":
                return x // y if y else 0
            if a[1] == "%":
                return x % y if y else x
            return {"+": x + y, "-": x - y, "*": x * y}[a[1]]
        if op == "ite":
            return self.int(a[2]) if self.bool(a[1]) else self.int(a[3])
        raise AssertionError(a)

    def node(self, a):
        return a[1] if a[0] == "nc" else _pick(self.nodes, a[1], "n1")

    def set(self, a):
        op = a[0]
        if op == "st":
            return self.d["st"]
        if op == "sc":
            return a[1]
        if op == "slit":
            return frozenset([self.node(a[1])])
        x, y = self.set(a[2]), self.set(a[3])
        return {"|": x | y, "&": x & y, "-": x - y}[a[1]]

    def bool(self, a):
        d, op = self.d, a[0]
        if op == "b":
            return d["b"]
        if op == "osome":
            return d["o"] is not None
        if op == "cmp":
            x, y = self.int(a[2]), self.int(a[3])
            return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[a[1]]
        if op == "eeq":
            return d["e"] == a[1]
        if op == "rk":
            return d["r"].k == a[1]
        if op == "neq":
            return self.node(a[1]) == self.node(a[2])
        if op == "mem":
            return self.node(a[1]) in self.set(a[2])
        if op == "subset":
            return self.set(a[1]) <= self.set(a[2])
        if op == "seteq":
            return self.set(a[1]) == self.set(a[2])
        if op == "oeq":
            return d["o"] == a[1]
        if op == "req":
            return (d["r"].k, d["r"].v) == (a[1], a[2])
        if op == "rmake":
            return d["r"].v == d["m"][self.node(a[1])]
        if op == "qeq":
            return d["q"] == a[1]
        if op == "not":
            return not self.bool(a[1])
        if op == "and":
            return self.bool(a[1]) and self.bool(a[2])
        if op == "or":
            return self.bool(a[1]) or self.bool(a[2])
        if op == "implies":
            return not self.bool(a[1]) or self.bool(a[2])
        if op == "iff":
            return self.bool(a[1]) == self.bool(a[2])
        if op == "iteb":
            return self.bool(a[2]) if self.bool(a[1]) else self.bool(a[3])
        if op == "quant":
            if a[2] == "range":
                scope, tuples = self.ints, [(i,) for i in range(-1, 3)]
            else:
                scope = self.nodes
                members = NAMES if a[2] in ("N", "N2") else sorted(d["st"])
                tuples = list(itertools.product(members, repeat=2 if a[2] == "N2" else 1))
            results = []
            for vs in tuples:
                scope.extend(vs)
                try:
                    results.append(self.bool(a[3]))
                finally:
                    del scope[len(scope) - len(vs):]
            return all(results) if a[1] == "forall" else any(results)
        raise AssertionError(a)


def reference(ast, raw) -> bool:
    return Ref(Z.decode(raw)).bool(ast)


# -- Python, Z3 and the reference agree ------------------------------------------------------------------------


@SETTINGS
@given(cases)
def test_python_z3_and_reference_agree(case):
    ast, raw = case
    assert Z.check_raw(raw) is None
    f = build(ast)
    py = compile_term(f, Z)(raw)
    expect = reference(ast, raw)
    assert py == expect, (show(f), Z.decode(raw))
    assert smt.evaluate(f, Z, raw) == expect, (show(f), Z.decode(raw))


value_cases = st.tuples(st.integers(0, 2**32 - 1), states).map(
    lambda p: (_int(random.Random(f"int:{p[0]}:{p[1]}"), 3), _set(random.Random(f"set:{p[0]}:{p[1]}"), 3), p[1]))


def _value_formula(int_ast, set_ast, raw):
    """`forall a in N, i in range(-1, 3): e(a, i) == <its reference value> and S(a) == <its reference set>`,
    the expected values spelled out as an ite table: true exactly when every value is right."""
    d = Z.decode(raw)
    expect_int, expect_set = {}, {}
    for a in NAMES:
        for i in range(-1, 3):
            ref = Ref(d)
            ref.nodes, ref.ints = [a], [i]
            expect_int[a, i] = ref.int(int_ast)
            expect_set[a] = ref.set(set_ast)

    def body(a, i):
        b = Build()
        b.nodes, b.ints = [a], [i]
        e = b.int(int_ast)
        if isinstance(e, int):
            e = const(e, INTEGER)
        table = const(expect_int["n3", 2], INTEGER)
        for (n, k), v in reversed(expect_int.items()):
            table = ite((a == n) & (i == k), v, table)
        sets = const(expect_set["n3"], Set(N))
        for n in reversed(NAMES):
            sets = ite(a == n, const(expect_set[n], Set(N)), sets)
        return (e == table) & (b.set(set_ast) == sets)

    return forall(N, lambda a: forall(range(-1, 3), lambda i: body(a, i))), expect_int


@SETTINGS
@given(value_cases)
@pytest.mark.slow
def test_int_and_set_values_agree_with_the_reference(case):
    # every value of a random Int and a random set expression, under every binding of a node and an int
    int_ast, set_ast, raw = case
    f, _ = _value_formula(int_ast, set_ast, raw)
    assert compile_term(f, Z)(raw), (show(f), Z.decode(raw))
    assert smt.evaluate(f, Z, raw), (show(f), Z.decode(raw))


def test_the_value_formula_can_fail():
    raw = Z.encode(_BASE)
    f, table = _value_formula(("bin", "//", ("var", "x"), ("bi", 0)), ("st",), raw)
    assert compile_term(f, Z)(raw) and smt.evaluate(f, Z, raw)
    wrong = Z.encode({**_BASE, "x": -3})  # the table was made for x == 0
    assert not compile_term(f, Z)(wrong) and not smt.evaluate(f, Z, wrong)
    assert table["n1", -1] == 0 and table["n2", 2] == 0


def test_python_z3_and_reference_agree_on_hand_picked_partial_operations():
    # division and modulo by expressions that are zero or negative, out-of-range indexes, empty options
    asts = [
        ("cmp", "==", ("bin", "//", ("var", "x"), ("bin", "-", ("var", "y"), ("lit", 2))), ("lit", -2)),
        ("cmp", "==", ("bin", "%", ("var", "x"), ("bin", "-", ("lit", 2), ("var", "y"))), ("var", "x")),
        ("cmp", ">", ("bin", "%", ("neg", ("var", "x")), ("bin", "-", ("var", "x"), ("lit", 1))), ("lit", -1)),
        ("cmp", "==", ("qi", ("bin", "-", ("var", "x"), ("var", "y"))), ("lit", 0)),
        ("cmp", "==", ("ov",), ("qi", ("bin", "//", ("var", "y"), ("var", "x")))),
        ("quant", "forall", "range", ("cmp", "<=", ("qi", ("bi", 0)), ("bin", "%", ("m", ("nc", "n2")), ("bi", 0)))),
        ("quant", "exists", "st", ("quant", "forall", "N", ("cmp", ">=", ("m", ("bn", 0)), ("m", ("bn", 1))))),
    ]
    seen = {k: set() for k in range(len(asts))}
    for k, ast in enumerate(asts):
        f = build(ast)
        c = compile_term(f, Z)
        for x, y, o, q in itertools.product(range(-3, 4), range(0, 5), [None, 2], [(), (1, 0, 3)]):
            raw = Z.encode({"x": x, "y": y, "b": False, "e": "a", "m": {"n1": 2, "n2": 0, "n3": 1},
                            "st": {"n1", "n3"} if x > 0 else {"n2"}, "o": o, "q": q, "r": R.make(k="a", v=0)})
            expect = reference(ast, raw)
            assert c(raw) == expect, (show(f), x, y, o, q)
            assert smt.evaluate(f, Z, raw) == expect, (show(f), x, y, o, q)
            seen[k].add(expect)
    assert all(v == {False, True} for v in seen.values()), seen


NEEDLES = ["'quant'", "'N2'", "'range'", "'st'", "'//'", "'%'", "'qi'", "'ov'", "'setop'", "'slit'", "'rmake'",
           "'iteb'", "'bi'", "'bn'", "'ite'", "'neg'", "'qeq'", "'oeq'"]


def test_the_random_formulas_cover_the_grammar_and_both_truth_values():
    seen_text: list[str] = []
    truth: list[bool] = []

    @SETTINGS
    @given(cases)
    def sample(case):
        ast, raw = case
        seen_text.append(repr(ast))
        truth.append(reference(ast, raw))

    sample()
    missing = [n for n in NEEDLES if not any(n in t for t in seen_text)]
    assert missing == []
    assert 0.2 < sum(truth) / len(truth) < 0.8, sum(truth) / len(truth)
    # quantifiers that bind variables the body reads
    assert any("'quant'" in t and "'bn'" in t for t in seen_text)


# -- the core of a violation -------------------------------------------------------------------------------------

TP = TwoPhase(rms=3)
TPS = TP.schema
tp = State(TPS)
TC = forall(TP.RM, lambda i, j: ~((tp.rmState[i] == "aborted") & (tp.rmState[j] == "committed")))


def tp_raw(rm_states, tm="init", prepared=(), msgs=()):
    return TPS.encode({"tmState": tm, "tmPrepared": set(prepared), "msgs": set(msgs),
                       "rmState": dict(zip(TP.RM.names, rm_states))})


def test_core_of_tcconsistent_names_the_two_conflicting_rms():
    raw = tp_raw(["committed", "working", "aborted"], tm="committed", prepared=["rm1"],
                 msgs=[TP.Commit.make(), TP.Prepared.make(rm="rm1")])
    assert not compile_term(TC, TPS)(raw)
    c = smt.core(TC, TPS, raw)
    assert c is not None
    assert sorted(a.label for a in c) == ["rmState[rm1]", "rmState[rm3]"]
    assert {a.label: a.value(raw) for a in c} == {"rmState[rm1]": "committed", "rmState[rm3]": "aborted"}
    o = TPS.offsets["rmState"]
    assert sorted(a.slots for a in c) == [(o,), (o + 2,)]
    # restricted to the slots the formula reads: the same
    assert [a.label for a in smt.core(TC, TPS, raw, reads=compile_term(TC, TPS).reads)] == [a.label for a in c]


def test_core_with_several_conflicts_is_one_minimal_pair():
    raw = tp_raw(["aborted", "committed", "committed"])
    c = smt.core(TC, TPS, raw)
    labels = sorted(a.label for a in c)
    assert labels in (["rmState[rm1]", "rmState[rm2]"], ["rmState[rm1]", "rmState[rm3]"])
    raw = tp_raw(["aborted", "aborted", "committed"])
    labels = sorted(a.label for a in smt.core(TC, TPS, raw))
    assert labels in (["rmState[rm1]", "rmState[rm3]"], ["rmState[rm2]", "rmState[rm3]"])


def test_core_of_a_holding_formula_is_none():
    assert smt.core(TC, TPS, tp_raw(["committed", "prepared", "committed"])) is None
    assert smt.core(TC, TPS, tp_raw(["working"] * 3)) is None


def test_core_of_a_formula_false_in_every_state_is_empty():
    assert smt.core(s.x > 3, Z, Z.encode(_BASE)) == []


def test_core_names_record_fields_and_whole_variables():
    raw = Z.encode({**_BASE, "r": R.make(k="b", v=2), "q": (3, 1)})
    c = smt.core((s.r.v < 2) | (s.q.length() > 2), Z, raw)
    assert sorted(a.label for a in c) == ["q", "r.v"]
    assert {a.label: a.value(raw) for a in c} == {"r.v": "2", "q": "<3, 1>"}


_BASE = {"x": 0, "y": 0, "b": False, "e": "a", "m": {"n1": 0, "n2": 0, "n3": 0}, "st": set(), "o": None, "q": (),
         "r": R.make(k="a", v=0)}


def _sat_with(formula, raw, slots):
    """A canonical state that agrees with `raw` on `slots` and satisfies `formula`, or None if there is none."""
    sym = smt.SymbolicState(Z)
    solver = z3.Solver()
    solver.add(*sym.constraints(), *sym.equals(raw, slots), smt.to_z3(formula, sym))
    r = solver.check()
    assert r != z3.unknown
    return sym.state_of(solver.model()) if r == z3.sat else None


@settings(max_examples=100, deadline=None, derandomize=True)
@given(cases, st.lists(states, min_size=3, max_size=3))
@pytest.mark.slow
def test_core_is_minimal_and_forces_falsity(case, others):
    ast, raw = case
    f = build(ast)
    py = compile_term(f, Z)
    if py(raw):
        f = ~f  # every case is a violation
    assert not compile_term(f, Z)(raw)
    c = smt.core(f, Z, raw)
    assert c is not None, show(f)
    fixed = sorted({i for a in c for i in a.slots})
    labels = [a.label for a in c]
    assert len(set(labels)) == len(labels)
    # with the core's fields fixed no canonical state satisfies the formula ...
    assert _sat_with(f, raw, fixed) is None, (show(f), labels)
    # ... which Python confirms on other states given the core's values
    neg = compile_term(f, Z)
    for other in others:
        spliced = tuple(raw[i] if i in fixed else v for i, v in enumerate(other))
        assert Z.check_raw(spliced) is None  # fields are whole encodings: any splice is canonical
        assert not neg(spliced), (show(f), labels, Z.decode(spliced))
    # ... and dropping any one field lets some state satisfy it: a state Python checks too
    for a in c:
        rest = [i for i in fixed if i not in a.slots]
        model = _sat_with(f, raw, rest)
        assert model is not None, (show(f), labels, a.label)
        assert Z.check_raw(model) is None
        assert neg(model), (show(f), Z.decode(model))
        assert all(model[i] == raw[i] for i in rest)


# -- entails and models ---------------------------------------------------------------------------------------


def test_entails():
    assert smt.entails(Z, [s.x > 1], s.x >= 2) is True
    assert smt.entails(Z, [s.x >= 0], s.x > 0) is False
    assert smt.entails(Z, [], forall(N, lambda a: s.m[a] <= 2)) is True  # the schema's types
    assert smt.entails(Z, [], s.q.length() <= 3) is True
    assert smt.entails(Z, [], s.q.length() <= 2) is False
    assert smt.entails(Z, [s.o.is_none()], s.o.value() == 0) is True  # canonical: the inner slot is 0
    assert smt.entails(Z, [], s.q[s.q.length()] == 0) is True  # past the end: the default
    assert smt.entails(Z, [], s.x // 0 == 0) is True
    assert smt.entails(Z, [], s.x % 0 == s.x) is True
    assert smt.entails(Z, [], s.x == (s.x // (s.y - 2)) * (s.y - 2) + s.x % (s.y - 2)) is True
    assert smt.entails(Z, [s.y > 0], (s.x % s.y >= 0) & (s.x % s.y < s.y)) is True
    assert smt.entails(Z, [s.y > 0], (s.x % (-s.y) <= 0) & (s.x // (-s.y) == -((s.x + s.y - 1) // s.y))) is True
    assert smt.entails(Z, [], s.x % (-s.y) <= 0) is False  # y == 0: x % 0 == x
    assert smt.entails(Z, [], s.x // 2 * 2 == s.x) is False
    assert smt.entails(Z, [s.st.card() == 3], forall(N, lambda a: s.st.contains(a))) is True
    assert smt.entails(Z, [s.st.card() == 2], forall(N, lambda a: s.st.contains(a))) is False
    assert smt.entails(TPS, [TC, tp.rmState["rm1"] == "aborted"],
                       forall(TP.RM, lambda i: tp.rmState[i] != "committed")) is True
    assert smt.entails(TPS, [tp.rmState["rm1"] == "aborted"], TC) is False


SMALL_N = NodeId("n", 2)
SMALL = StateSchema({"a": Int(-1, 1), "m": Map(SMALL_N, Bool()), "st": Set(SMALL_N), "o": Option(Enum("u", "v")),
                     "q": Seq(Bool(), max_len=2)})
ALL_SMALL = [SMALL.encode(dict(zip(SMALL.variables, vals))) for vals in all_values(SMALL.variables.values())]


def test_models_are_exactly_the_canonical_states_satisfying_the_formula():
    sm = State(SMALL)
    f = forall(sm.st, lambda n: sm.m[n]) & (sm.q[sm.a] | sm.o.is_none()) & (sm.st.card() + sm.a >= 1)
    c = compile_term(f, SMALL)
    expect = {raw for raw in ALL_SMALL if c(raw)}
    assert 10 < len(expect) < len(ALL_SMALL) // 2
    got = list(smt.models(SMALL, f))
    assert len(got) == len(set(got))
    assert set(got) == expect


def test_models_of_true_are_the_canonical_states():
    got = list(smt.models(SMALL, const(True, BOOL)))
    assert len(got) == len(set(got)) == len(ALL_SMALL) == 3 * 4 * 4 * 3 * 7
    assert set(got) == set(ALL_SMALL)


def test_models_with_a_block_function():
    sm = State(SMALL)
    f = sm.st.card() == 1
    # block a state's image under swapping n1 and n2 too: one state per orbit
    swap = {"n1": "n2", "n2": "n1"}

    def block(raw):
        d = SMALL.decode(raw)
        img = {**d, "m": {swap[k]: v for k, v in d["m"].items()}, "st": {swap[x] for x in d["st"]}}
        return [raw, SMALL.encode(img)]

    got = list(smt.models(SMALL, f, block))
    assert len(got) == len({raw for raw in ALL_SMALL if compile_term(f, SMALL)(raw)}) // 2


# -- bugs: a OneOf whose variants share a slot between a set and another kind of field ------------------------

N2 = NodeId("n", 2)
MIXED = StateSchema({"u": OneOf(Record("A", s=Set(N2)), Record("B", i=Int(0, 5)))})
TWO_SETS = StateSchema({"u": OneOf(Record("A", s=Set(N2)), Record("B", t=Set(NodeId("m", 3))))})


def test_models_of_a_oneof_sharing_a_slot_between_a_set_and_an_int():
    expect = {MIXED.encode({"u": v}) for v in MIXED.variables["u"].values()}
    assert set(smt.models(MIXED, const(True, BOOL))) == expect


def test_evaluate_of_a_oneof_sharing_a_slot_between_a_set_and_an_int():
    u = State(MIXED).u
    f = u.as_a("B").i >= 4
    for v in MIXED.variables["u"].values():
        raw = MIXED.encode({"u": v})
        assert smt.evaluate(f, MIXED, raw) == compile_term(f, MIXED)(raw), v


def test_models_of_a_oneof_with_sets_of_two_sizes_are_canonical():
    got = list(smt.models(TWO_SETS, const(True, BOOL)))
    assert [r for r in got if TWO_SETS.check_raw(r) is not None] == []
    assert len(got) == 4 + 8
