"""checker/logic: which variables a predicate reads, its conjuncts, the fallback when it cannot
tell, and `fuse` (memoised on the slots read) against direct evaluation on every state."""

from __future__ import annotations

import itertools
import linecache
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checker.logic as logic
from checker import Bool, Enum, Int, Map, NodeId
from checker.logic import PropertyError, compile_predicate, fuse, variables_read
from checker.model import StateSchema

N = NodeId("n", 2)
# slots: x 0, m 1-2, c 3, y 4 -- 4 * 2 * 2 * 3 * 4 = 192 states
S = StateSchema({"x": Int(0, 3), "m": Map(N, Bool()), "c": Enum("red", "green", "blue"), "y": Int(-1, 2)})
ALL = [tuple(t) for t in itertools.product(*(range(b) for b in S.slot_bounds))]


def first_failing_directly(fns, raw, schema=S):
    view = schema.view(raw)
    return next((i for i, f in enumerate(fns) if not f(view)), -1)


# -- predicates defined here (their source is readable) --------------------------------------------


def two_parts(state):
    """A docstring does not stop the split."""
    return state["y"] > 0 and state.x == 1


def three_parts(state):
    return state.c == "red" and sum(state.m.values()) >= 1 and state.x < state.y


def one_disjunction(state):
    return (state.x > 1 and state.y > 1) or state.c == "blue"


def two_statements(state):
    total = state.x + state.y
    return total > 2 and state.c != "red"


def whole(state):
    return describe(state) != "nothing"


def describe(view):
    return "nothing" if view.x == 0 else "something"


def by_name(state):
    name = "x"
    return state[name] > 1


def mixed_reads(st):
    return st.x < 2 and st.y != 0 and st.m["n2"]


def every_variable_first(st):
    return st.x + st.y > 2 and st.x > 0


def misspelt(state):
    return state.x > 0 and state.yy < 2


def misspelt_key(state):
    return state["zz"] == 1


def test_variables_read_finds_attribute_and_subscript_reads_in_schema_order():
    assert variables_read(two_parts, S) == (("x", "y"), "")
    assert variables_read(lambda st: st.m["n1"] and st.c == "red", S) == (("m", "c"), "")
    reads, why = variables_read(whole, S)
    assert reads is None and "'state'" in why
    reads, why = variables_read(by_name, S)
    assert reads is None and why


@pytest.mark.parametrize(
    "fn, reads, slots",
    [
        (two_parts, ("x", "y"), [(4,), (0,)]),
        (three_parts, ("x", "m", "c", "y"), [(3,), (1, 2), (0, 4)]),
        (one_disjunction, ("x", "c", "y"), [(0, 3, 4)]),
        (two_statements, ("x", "c", "y"), [(0, 3, 4)]),
        (mixed_reads, ("x", "m", "y"), [(0,), (4,), (1, 2)]),
    ],
)
def test_a_conjunction_is_split_into_parts_each_with_the_slots_it_reads(fn, reads, slots):
    p = compile_predicate("p", fn, S)
    assert p.reads == reads and p.note == ""
    assert [part.slots for part in p.parts] == slots
    for raw in ALL:  # the parts together mean what the function means
        assert p.check(raw) == bool(fn(S.view(raw)))


def test_a_part_reading_every_variable_is_called_directly():
    S2 = StateSchema({"x": Int(0, 3), "y": Int(0, 3)})
    p = compile_predicate("p", every_variable_first, S2)
    assert [part.slots for part in p.parts] == [None, (0,)]
    assert p.reads == ("x", "y")
    f = fuse([p], S2)
    for raw in itertools.product(range(4), range(4)):
        assert f(raw) == first_failing_directly([every_variable_first], raw, S2)


def test_a_closure_is_not_split_but_its_reads_are_known():
    limit = 2

    def close(state):
        return state.x < limit and state.y < limit

    p = compile_predicate("close", close, S)
    assert len(p.parts) == 1 and p.parts[0].slots == (0, 4) and p.reads == ("x", "y")
    assert all(p.check(raw) == close(S.view(raw)) for raw in ALL)


@pytest.mark.parametrize(
    "fn, why",
    [
        (whole, "other than"),
        (by_name, "other than"),
        (bool, "not a Python function"),
    ],
)
def test_a_predicate_that_passes_the_state_on_falls_back_to_every_state(fn, why):
    p = compile_predicate("opaque", fn, S)
    assert p.reads is None
    assert p.note.startswith("opaque is evaluated on every state") and why in p.note
    assert all(part.slots is None for part in p.parts)
    f = fuse([p], S)
    for raw in ALL:
        assert p.check(raw) == bool(fn(S.view(raw)))
        assert f(raw) == (-1 if fn(S.view(raw)) else 0)


def test_a_predicate_without_source_falls_back():
    ns: dict = {}
    exec(compile("def hidden(state):\n    return state.x > 1\n", "<nowhere>", "exec"), ns)
    p = compile_predicate("hidden", ns["hidden"], S)
    assert p.reads is None and "source cannot be read" in p.note
    assert [p.check(raw) for raw in ALL] == [ns["hidden"](S.view(raw)) for raw in ALL]


def test_two_lambdas_on_one_line_are_told_apart_or_fall_back():
    small, big = (lambda st: st.x < 2), (lambda st: st.x > 2)
    for fn in (small, big):
        p = compile_predicate("p", fn, S)
        assert p.reads is None and "told apart" in p.note
        assert all(p.check(raw) == fn(S.view(raw)) for raw in ALL)


@pytest.mark.parametrize("fn, name", [(misspelt, "yy"), (misspelt_key, "zz"), (lambda st: st.nope > 1, "nope")])
def test_an_unknown_variable_is_an_error_naming_it(fn, name):
    with pytest.raises(PropertyError, match=f"'{name}'") as e:
        compile_predicate("p", fn, S)
    assert "variables: x, m, c, y" in str(e.value)
    with pytest.raises(PropertyError, match=name):
        variables_read(fn, S)


# -- fuse ---------------------------------------------------------------------------------------------


def test_fuse_names_the_first_failing_predicate():
    fns = [two_statements, two_parts, mixed_reads]
    f = fuse([compile_predicate(fn.__name__, fn, S) for fn in fns], S)
    results = [f(raw) for raw in ALL]
    assert results == [first_failing_directly(fns, raw) for raw in ALL]
    assert set(results) == {-1, 0, 1, 2}  # the states cover every outcome
    assert fuse([], S)(ALL[0]) == -1


def never(state):
    return state.x >= 0 and 1 > 2


def constant_true_first(state):
    return 2 > 1 and state.x < 2


def test_a_part_that_reads_no_variable_is_a_constant_still_checked():
    for fn in (never, constant_true_first):
        p = compile_predicate(fn.__name__, fn, S)
        assert [part.slots for part in p.parts] in ([(0,), ()], [(), (0,)])
        f = fuse([p], S)
        assert [f(raw) for raw in ALL] == [first_failing_directly([fn], raw) for raw in ALL]
    assert {fuse([compile_predicate("never", never, S)], S)(raw) for raw in ALL} == {0}


CALLS: list = []


def counted_x(state):
    CALLS.append(state.x)
    return state.x != 2


def counted_xy(state):
    CALLS.append((state.x, state.y))
    return state.x != state.y


def test_memoisation_evaluates_once_per_projection_and_keeps_results():
    order = ALL[:]
    random.Random(7).shuffle(order)
    for fn, project in ((counted_x, lambda r: r[0]), (counted_xy, lambda r: (r[0], r[4]))):
        p = compile_predicate(fn.__name__, fn, S)
        assert p.parts[0].slots is not None
        expected = [first_failing_directly([fn], raw) for raw in order]
        failing = expected.count(0)
        assert 0 < failing < len(ALL)
        f = fuse([p], S)
        CALLS.clear()
        assert [f(raw) for raw in order] == expected
        # once per distinct value of what it reads, and once more where it fails (to name what failed)
        assert len(CALLS) == len({project(raw) for raw in ALL}) + failing
        CALLS.clear()
        assert [f(raw) for raw in reversed(order)] == expected[::-1]
        assert len(CALLS) == failing  # every hit from the memo


def test_memoisation_past_its_limit_still_gives_the_same_results(monkeypatch):
    monkeypatch.setattr(logic, "MEMO_LIMIT", 3)
    p = compile_predicate("counted_xy", counted_xy, S)
    f = fuse([p], S)
    CALLS.clear()
    order = ALL * 2
    random.Random(3).shuffle(order)
    expected = [first_failing_directly([counted_xy], raw) for raw in order]
    CALLS.clear()
    assert [f(raw) for raw in order] == expected
    # unlimited, it would be called once per (x, y) and once more per failing state; past the limit, misses
    # are evaluated again and not cached
    assert len(CALLS) > 16 + expected.count(0)


def test_a_wide_slot_is_memoised_in_a_dict():
    W = StateSchema({"big": Int(0, 9999), "x": Int(0, 2)})

    def sparse(state):
        return state.big % 7 != 3 and state.x != 1

    p = compile_predicate("sparse", sparse, W)
    assert [part.slots for part in p.parts] == [(0,), (1,)]
    f = fuse([p], W)
    rng = random.Random(11)
    states = [(rng.randrange(10000), rng.randrange(3)) for _ in range(3000)]
    assert [f(raw) for raw in states] == [first_failing_directly([sparse], raw, W) for raw in states]


# -- random predicates: compiled and fused, against the functions themselves -------------------------

ATOMS = [  # (source with {k}, variables read)
    ("state.x < {k}", {"x"}),
    ('state["y"] != {k} - 2', {"y"}),
    ("state.x == state.y", {"x", "y"}),
    ("state.c == {col!r}", {"c"}),
    ("state.m['n1']", {"m"}),
    ("sum(state.m.values()) >= {k} - 1", {"m"}),
    ("(state.x > {k} or state.c != 'red')", {"x", "c"}),
    ("not state['m']['n2']", {"m"}),
    ("{k} > 1", set()),  # CONSTANT
    ("state.y + 2 * state.x <= {k} + 2", {"x", "y"}),
    ("state.x + state.y + len(state.c) + sum(state.m.values()) > {k} + 4", {"x", "m", "c", "y"}),
]
COLOURS = ["red", "green", "blue"]
CONSTANT = next(i for i, (src, reads) in enumerate(ATOMS) if not reads)


@st.composite
def conjunctions(draw):
    atom = st.one_of(st.integers(0, len(ATOMS) - 1), st.just(CONSTANT))  # constants: twice as likely
    picked = draw(st.lists(st.tuples(atom, st.integers(0, 4), st.sampled_from(COLOURS)), min_size=1, max_size=4))
    srcs, reads = [], set()
    for a, k, col in picked:
        src, r = ATOMS[a]
        srcs.append(src.format(k=k, col=col))
        reads |= r
    forms = ["def", "method"] + (["lambda"] if len(picked) == 1 else [])  # lambda conjunctions: see the bug below
    return " and ".join(srcs), reads, len(picked), draw(st.sampled_from(forms))


_made = itertools.count()


def define(body: str, form: str):
    """A function with readable source (registered with linecache, as a file's would be)."""
    i = next(_made)
    if form == "def":
        src = f"def pred_{i}(state):\n    return {body}\n"
    elif form == "lambda":
        src = f"pred_{i} = lambda state: {body}\n"
    else:
        src = f"class Holder_{i}:\n    def pred(self, state):\n        return {body}\n"
    filename = f"<test_logic generated {i}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    ns: dict = {}
    exec(compile(src, filename, "exec"), ns)
    return ns[f"pred_{i}"] if form != "method" else ns[f"Holder_{i}"]().pred


@settings(max_examples=100, deadline=None)
@given(st.lists(conjunctions(), min_size=1, max_size=3), st.integers(0, 2**32))
def test_fused_random_predicates_agree_with_direct_evaluation_in_any_order(specs, seed):
    fns, preds = [], []
    for body, reads, n_parts, form in specs:
        fn = define(body, form)
        p = compile_predicate(f"p{len(fns)}", fn, S)
        assert p.note == ""
        assert p.reads == tuple(v for v in S.variables if v in reads)
        assert len(p.parts) == n_parts
        fns.append(fn)
        preds.append(p)
    f = fuse(preds, S)
    order = ALL[:]
    random.Random(seed).shuffle(order)
    expected = {raw: first_failing_directly(fns, raw) for raw in ALL}
    assert [f(raw) for raw in order] == [expected[raw] for raw in order]
    random.Random(seed + 1).shuffle(order)  # again, the memo now full, in another order
    assert [f(raw) for raw in order] == [expected[raw] for raw in order]
    for p, fn in zip(preds, fns):
        assert all(p.check(raw) == bool(fn(S.view(raw))) for raw in ALL[::7])


# -- known bugs -----------------------------------------------------------------------------------------

S3 = StateSchema({"x": Int(0, 3), "y": Int(0, 3), "z": Int(0, 1)})
S2 = StateSchema({"x": Int(0, 3), "y": Int(0, 3)})


def grouped_before_guard(state):  # parts 1 and 3 read x, y: fuse groups them, ahead of the guard
    return state.x + state.y >= 0 and state.y != 0 and state.x // state.y >= 0


def guard_called_directly(state):  # the guard reads every variable: fuse calls it after the rest
    return state.y * (state.x + 1) != 0 and 10 // state.y > 0


@pytest.mark.parametrize("fn, schema", [(grouped_before_guard, S3), (guard_called_directly, S2)])
def test_fuse_keeps_the_short_circuit_of_a_conjunction(fn, schema):
    p = compile_predicate(fn.__name__, fn, schema)
    f = fuse([p], schema)
    states = [tuple(t) for t in itertools.product(*(range(b) for b in schema.slot_bounds))]
    assert [f(raw) for raw in states] == [first_failing_directly([fn], raw, schema) for raw in states]


both_small = lambda st: st.x < 2 and st.y < 2


def test_a_lambda_conjunction_compiles_and_is_split():
    p = compile_predicate("both_small", both_small, S2)
    assert [part.slots for part in p.parts] == [(0,), (1,)]
    assert all(p.check((x, y)) == (x < 2 and y < 2) for x in range(4) for y in range(4))


def walrus(state):
    return (total := state.x + state.y) >= 0 and total < 5


def test_a_name_bound_in_one_conjunct_is_seen_by_the_next():
    p = compile_predicate("walrus", walrus, S2)
    states = [(x, y) for x in range(4) for y in range(4)]
    assert [p.check(raw) for raw in states] == [walrus(S2.view(raw)) for raw in states]


def test_a_predicate_whose_source_changed_on_disk_is_not_memoised_on_the_new_source(tmp_path, monkeypatch):
    """The reads the search memoises on come from the source: if the file was edited after the import,
    that source is not the code that runs, and trusting it would hide a read (a false "holds")."""
    import importlib
    import linecache

    from checker.logic import _definition, variables_read

    mod = tmp_path / "edited_inv.py"
    mod.write_text("def inv(state):\n    return state.x < 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = importlib.import_module("edited_inv").inv
    schema = StateSchema({"x": Int(0, 9), "y": Int(0, 9)})
    assert variables_read(fn, schema)[0] == ("x",)
    mod.write_text("def inv(state):\n    return state.y < 3\n")  # the same name and arguments, other reads
    linecache.clearcache()
    assert "not the code that runs" in _definition(fn)
    assert variables_read(fn, schema)[0] is None  # not memoised: checked on every state
    p = compile_predicate("inv", fn, schema)
    assert p.check((2, 9)) is True and p.check((5, 0)) is False  # what the running code says


def test_a_definition_of_another_name_with_the_same_arguments_is_not_taken_for_it():
    from checker.logic import _definition

    def outer(state):
        def other(state):
            return state.y
        return state.x < 3

    node, _ = _definition(outer)
    assert node.name == "outer"
