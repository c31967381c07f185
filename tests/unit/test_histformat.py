"""checker/logic/histformat.py: reading Jepsen's histories (EDN, JSON, JSON lines).

(a) The same hand-written history in every format reads to the same entries. (b) EDN: keywords, sets,
tagged literals (#inst, #uuid, #jepsen.history.Op records), nil, characters, escapes, comments, discard.
(c) Non-client entries (:nemesis) are left out and counted. (d) Jepsen's independent [k v] histories
split per key. (e) Errors: one line naming the file, and the line (and column) where that is known.
(f) hypothesis: EDN written by a writer in this file reads back as the normalised value; random text
never raises anything but a one-line InputError. (g) A hand-written EDN history whose verdict is known by
construction, checked end to end.
"""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.logic.consistency import check_linearizable
from checker.logic.histformat import (
    EdnError,
    independent_keys,
    parse_edn,
    parse_history_text,
    read_history,
    split_independent,
)
from checker.model.inputs import InputError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A small register history, as Python entries and as Jepsen's EDN lines (written by hand, not generated).
ENTRIES = [
    {"type": "invoke", "f": "write", "value": 1, "process": 0, "time": 10},
    {"type": "ok", "f": "write", "value": 1, "process": 0, "time": 20},
    {"type": "invoke", "f": "cas", "value": [1, 2], "process": 1, "time": 30},
    {"type": "ok", "f": "cas", "value": [1, 2], "process": 1, "time": 40},
    {"type": "invoke", "f": "read", "value": None, "process": 2, "time": 50},
    {"type": "ok", "f": "read", "value": 2, "process": 2, "time": 60},
]
EDN_LINES = """\
{:type :invoke, :f :write, :value 1, :process 0, :time 10}
{:type :ok, :f :write, :value 1, :process 0, :time 20}
{:type :invoke, :f :cas, :value [1 2], :process 1, :time 30}
{:type :ok, :f :cas, :value [1 2], :process 1, :time 40}
{:type :invoke, :f :read, :value nil, :process 2, :time 50}
{:type :ok, :f :read, :value 2, :process 2, :time 60}
"""


def write(tmp_path, text, name="history.txt"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


# -- (a) formats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,text", [
    ("edn", EDN_LINES),
    ("edn", "[" + EDN_LINES + "]"),
    ("edn", "(" + EDN_LINES.replace(",", "") + ")"),
    ("json", json.dumps(ENTRIES, indent=1)),
    ("jsonl", "\n".join(json.dumps(e) for e in ENTRIES) + "\n"),
    ("jsonl", "\n\n".join(json.dumps(e) for e in ENTRIES)),
])
def test_every_format_reads_the_same_entries(tmp_path, fmt, text):
    # the name says nothing: the content decides
    h = read_history(write(tmp_path, text, "history.edn" if fmt != "edn" else "history.json"))
    assert h.format == fmt
    assert h.entries == ENTRIES
    assert h.ignored == {} and h.positions == list(range(len(ENTRIES)))


def test_a_single_json_object_is_one_json_line(tmp_path):
    h = read_history(write(tmp_path, json.dumps(ENTRIES[0])))
    assert h.format == "jsonl" and h.entries == ENTRIES[:1]


def test_a_json_value_that_is_not_a_history_is_left_for_the_checker(tmp_path):
    h = read_history(write(tmp_path, '{"a": 1}'))
    assert h.format == "json" and h.entries == {"a": 1}


def test_knossos_shape(tmp_path):
    text = "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value nil}]"
    h = read_history(write(tmp_path, text))
    assert h.entries == [{"process": 0, "type": "invoke", "f": "read", "value": None},
                         {"process": 0, "type": "ok", "f": "read", "value": None}]


# -- (b) EDN values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [
    (":cas", "cas"),
    (":jepsen.nemesis/start", "jepsen.nemesis/start"),
    ("nil", None),
    ("true", True),
    ("false", False),
    ("[1 -2 +3 4N 0]", [1, -2, 3, 4, 0]),
    ("[1.5 -2.5e3 3.0M 1E2]", [1.5, -2500.0, 3.0, 100.0]),
    ('"a\\"b\\\\c\\n\\t\\u00e9"', 'a"b\\c\n\té'),
    ('"two\nlines"', "two\nlines"),
    ("[\\a \\newline \\space \\u0041]", ["a", "\n", " ", "A"]),
    ("#{3 1 2}", [1, 2, 3]),
    ('#{:b "a" 1}', [1, "a", "b"]),  # sorted by (type name, repr): int before str; "a" before "b"
    ("#{}", []),
    ("(1 (2 [3]))", [1, [2, [3]]]),
    ("{:a {:b [:c]}}", {"a": {"b": ["c"]}}),
    ("{1 :x, 2 :y}", {1: "x", 2: "y"}),
    ("{}", {}),
    ('#inst "2023-01-02T03:04:05.678-00:00"', "2023-01-02T03:04:05.678-00:00"),
    ('#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"', "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
    ("#jepsen.history.Op{:index 0, :type :invoke, :f :read, :value nil, :process 0}",
     {"index": 0, "type": "invoke", "f": "read", "value": None, "process": 0}),
    ('#object[java.lang.Object 0x1f "x"]', ["java.lang.Object", 31, "x"]),
    ("[1/4 -3/2 0x10 -0XfFN]", [0.25, -1.5, 16, -255]),
    ("[1 #_ 2 3]", [1, 3]),
    ("[1 #_ #_ 2 3 4]", [1, 4]),
    ("[#_ [1 {:a 2}] 5]", [5]),
    ("[1 ; a comment ]\n 2]", [1, 2]),
    ("[,,1,,2,,]", [1, 2]),
    ("[my-symbol a.b/c]", ["my-symbol", "a.b/c"]),
])
def test_edn_values(text, value):
    assert parse_edn(text) == [value]


def test_edn_top_level_sequence_and_discard():
    assert parse_edn("1 #_ 2 3 #_ {:a 1}") == [1, 3]
    assert parse_edn("") == [] and parse_edn(" ; only a comment\n") == []


def test_bool_and_nil_inside_sets_sort_deterministically():
    a = parse_edn("#{true nil 1 :k}")[0]
    b = parse_edn("#{:k 1 nil true}")[0]
    assert a == b == sorted([True, None, 1, "k"], key=lambda x: (type(x).__name__, repr(x)))


@pytest.mark.parametrize("text,line,column,problem", [
    ("[1 2", 1, 1, "is not closed"),
    ("{:a 1\n :b 2", 1, 1, "is not closed"),
    ("\n\n  {:a}", 3, 6, "odd number"),
    ("{:a 1 :a 2}", 1, 11, "key 'a' twice"),
    ("#{1 1}", 1, 6, "twice"),
    ("[1]]", 1, 4, "nothing to close"),
    ("[1 2}", 1, 5, "the [ opened at line 1, column 1 is not closed"),
    ('"abc', 1, 1, "not closed"),
    ('"\\q"', 1, 1, "unknown escape"),
    ("01", 1, 1, "not a number"),
    ("12abc", 1, 1, "not a number"),
    ("1/0", 1, 1, "division by zero"),
    ("0x", 1, 1, "not a number"),
    (":", 1, 1, "unexpected :"),
    ("##NaN", 1, 1, "not supported"),
    ("[1 #foo]", 1, 8, "needs an element"),
    ("#_", 1, 1, "needs an element"),
    ("[1 @x]", 1, 4, "unexpected '@'"),
    ("{[1] 2}", 1, 7, "map key"),
    ("[" * 70 + "]" * 70, 1, 65, "nested deeper than 64"),
])
def test_edn_errors_name_line_and_column(text, line, column, problem):
    with pytest.raises(EdnError) as e:
        parse_edn(text)
    assert (e.value.line, e.value.column) == (line, column)
    assert problem in e.value.problem and "\n" not in str(e.value)


def test_deep_nesting_is_refused_without_recursion():
    with pytest.raises(EdnError, match="nested deeper"):
        parse_edn("[" * 200_000)
    with pytest.raises(EdnError, match="nested deeper"):
        parse_edn("#a " * 200_000 + "1")
    assert parse_edn("[" * 64 + "]" * 64)  # the limit itself is fine


# -- (c) non-client entries ----------------------------------------------------------------------------


def test_nemesis_entries_are_left_out_and_counted(tmp_path):
    lines = EDN_LINES.splitlines()
    nemesis = ["{:type :info, :f :start, :value nil, :process :nemesis, :time 9}",
               '{:type :info, :f :start, :value [:isolated {"n1" #{"n2"}}], :process :nemesis, :time 11}',
               "{:type :info, :f :stop, :value nil, :process :nemesis, :time 99}",
               "{:type :info, :f :note, :value nil, :process :checker}"]
    mixed = [nemesis[0], lines[0], nemesis[1], *lines[1:4], nemesis[2], *lines[4:], nemesis[3]]
    h = read_history(write(tmp_path, "\n".join(mixed)))
    assert h.entries == ENTRIES
    assert h.ignored == {"checker": 1, "nemesis": 3}
    assert h.positions == [1, 3, 4, 5, 7, 8]  # where each client entry sits among all the file's entries
    assert [mixed[p] for p in h.positions] == lines
    assert h.describe(2) == "entry 4 (line 5)"


def test_json_nemesis_and_malformed_processes(tmp_path):
    h = read_history(write(tmp_path, json.dumps([{"process": "nemesis", "type": "info", "f": "start"}, *ENTRIES,
                                                 {"process": 1.5, "type": "ok"}, {"type": "ok"}, [1]])))
    assert h.ignored == {"nemesis": 1}
    assert h.entries[:6] == ENTRIES and h.entries[6:] == [{"process": 1.5, "type": "ok"}, {"type": "ok"}, [1]]
    assert h.describe(0) == "entry 1"  # a JSON array: no line


# -- (d) independent keys ------------------------------------------------------------------------------


def entry(p, t, f, v):
    return {"process": p, "type": t, "f": f, "value": v}


def test_split_independent():
    h = [entry(0, "invoke", "cas", [3, [1, 2]]), entry(1, "invoke", "read", ["k", None]),
         entry(0, "ok", "cas", [3, [1, 2]]), entry(1, "info", "read", None),
         entry(2, "invoke", "write", [3, 7]), entry(2, "fail", "write", [3, 7])]
    split = split_independent(h)
    assert list(split) == [3, "k"]  # numbers first, then strings
    assert split[3] == [entry(0, "invoke", "cas", [1, 2]), entry(0, "ok", "cas", [1, 2]),
                        entry(2, "invoke", "write", 7), entry(2, "fail", "write", 7)]
    assert split["k"] == [entry(1, "invoke", "read", None), entry(1, "info", "read", None)]
    assert independent_keys(h) == {3: [0, 2, 4, 5], "k": [1, 3]}
    assert h[0]["value"] == [3, [1, 2]]  # the input is not changed


@pytest.mark.parametrize("h", [
    [],
    [entry(0, "invoke", "write", 1), entry(0, "ok", "write", 1)],  # a plain register
    [entry(0, "invoke", "read", None), entry(0, "ok", "read", [1, 2])],
    [entry(0, "invoke", "cas", [1, 2]), entry(0, "ok", "cas", [1, 2])],  # a register's cas: [old new]
    [entry(0, "invoke", "write", [1, 2]), entry(0, "ok", "write", [2, 2])],  # the key changed
    [entry(0, "invoke", "write", [1, 2]), entry(0, "ok", "write", None)],  # ok without the pair
    [entry(0, "invoke", "write", [[1], 2])],  # a key that is not a number or string
    [entry(0, "invoke", "write", [True, 2])],
    [entry(0, "ok", "write", [1, 2])],  # no invocation
    [[1, 2]],
])
def test_not_independent(h):
    assert split_independent(h) is None and independent_keys(h) is None


# -- (e) errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,problem", [
    ("", "empty file"),
    ("  \n ", "empty file"),
    ("[", "not valid JSON (truncated?): Expecting value at line 1, column 2"),
    ('[{"process": 0,', "not valid JSON (truncated?)"),
    ("{:type :invoke, :f :read\n{:type :ok}", "not valid EDN: line 1, column 1: the { opened here is not closed"),
    ("{:type :invoke}\n{:type :ok, :f}", "not valid EDN: line 2, column 15: a map needs a value"),
    ('{"type": "invoke", "process": 0}\n{"type": "ok", "process": 0\n', "line 2: not a valid JSON line"),
    ('{"type": "invoke"}\n[1]\nnope\n', "line 3: not a valid JSON line"),
    ("{:type :ok}\n[1 2]\n", "entry 1 (line 2): not an EDN history: an operation is a map"),
    ("{:type :ok}\n\n:x", "entry 1 (line 3)"),
    ("[" * 65 + "]" * 65, "nested deeper than 64"),
    ("[" + "{:a " * 70, "nested deeper than 64"),
    ("{:value ##Inf}", "line 1, column 9: ##Inf is not supported"),
])
def test_errors_are_one_line_naming_the_file(tmp_path, text, problem):
    p = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        read_history(p)
    assert str(e.value).startswith(f"{p}: ") and problem in str(e.value) and "\n" not in str(e.value)


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_history(tmp_path / "missing.edn")
    with pytest.raises(InputError, match="not UTF-8"):
        read_history(write(tmp_path, b"{:a \xff}"))
    big = write(tmp_path, EDN_LINES * 10)
    with pytest.raises(InputError, match="a history file may hold at most 100 bytes"):
        read_history(big, limit=100)
    with pytest.raises(InputError, match="is a directory"):
        read_history(tmp_path)


# -- (f) hypothesis ------------------------------------------------------------------------------------


class Kw(str):
    """A keyword in the test's EDN writer."""


class Sym(str):
    """A symbol in the test's EDN writer."""


class ESet(tuple):
    """A set in the test's EDN writer (its elements distinct)."""


class EList(tuple):
    """A list ( ... ) in the test's EDN writer."""


class Tagged(tuple):
    """(tag, element)"""


NAMES = st.from_regex(r"[a-z*!_?<>=][a-z0-9*!_?<>=.\-]{0,6}(/[a-z][a-z0-9]{0,3})?", fullmatch=True).filter(
    lambda s: s not in ("nil", "true", "false"))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=8), NAMES.map(Kw), NAMES.map(Sym))
KEYS = st.one_of(st.integers(-5, 5), NAMES.map(Kw), st.text(max_size=3))


def _norm_key(x):
    return str(x) if isinstance(x, (Kw, Sym)) else x


def values(depth=3):
    def extend(children):
        return st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(EList),
            st.lists(SCALARS, max_size=4, unique_by=lambda x: (type(_norm_key(x)).__name__, repr(_norm_key(x)))
                     ).map(ESet),
            st.dictionaries(KEYS, children, max_size=4).filter(
                lambda d: len({_norm_key(k) for k in d}) == len(d)),
            st.tuples(st.sampled_from(["inst", "uuid", "my.ns.Rec", "object"]), children).map(Tagged),
        )
    return st.recursive(SCALARS, extend, max_leaves=12)


def to_edn(x, rnd):
    sep = rnd.choice([" ", ", ", "\n", " ,\t", " ; c\n"])
    if x is None:
        return "nil"
    if x is True or x is False:
        return "true" if x else "false"
    if isinstance(x, Kw):
        return ":" + x
    if isinstance(x, Sym):
        return str(x)
    if isinstance(x, str):
        out = []
        for c in x:
            if c in '"\\':
                out.append("\\" + c)
            elif c == "\n" and rnd.random() < 0.5:
                out.append("\\n")
            elif not c.isprintable() or rnd.random() < 0.1:
                out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c)
            else:
                out.append(c)
        return '"' + "".join(out) + '"'
    if isinstance(x, int):
        return str(x) + rnd.choice(["", "", "N"])
    if isinstance(x, float):
        return repr(x) + rnd.choice(["", "M"])
    if isinstance(x, Tagged):
        inner = to_edn(x[1], rnd)
        return "#" + x[0] + (rnd.choice(["", " "]) if inner[0] in '[{("' else " ") + inner
    if isinstance(x, ESet):
        return "#{" + sep.join(to_edn(y, rnd) for y in x) + "}"
    if isinstance(x, EList):
        return "(" + sep.join(to_edn(y, rnd) for y in x) + ")"
    if isinstance(x, list):
        return "[" + sep.join(to_edn(y, rnd) for y in x) + "]"
    return "{" + sep.join(to_edn(k, rnd) + " " + to_edn(v, rnd) for k, v in x.items()) + "}"


def expected(x):
    """What HIST.md's interface 1 says the reader returns."""
    if isinstance(x, (Kw, Sym)):
        return str(x)
    if isinstance(x, Tagged):
        return expected(x[1])
    if isinstance(x, ESet):
        return sorted((expected(y) for y in x), key=lambda y: (type(y).__name__, repr(y)))
    if isinstance(x, (list, tuple)):
        return [expected(y) for y in x]
    if isinstance(x, dict):
        return {_norm_key(k): expected(v) for k, v in x.items()}
    return x


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@FUZZ
@given(st.lists(values(), max_size=4), st.randoms(use_true_random=False))
def test_edn_round_trip(xs, rnd):
    text = rnd.choice([" ", "\n", "\n;x\n"]).join(to_edn(x, rnd) for x in xs)
    got = parse_edn(text)
    assert same(got, [expected(x) for x in xs]), text


EDNISH = st.text(alphabet=st.sampled_from(list('{}[]()#_:;"\\ ,\n\t-+.0123456789eENMabnilrutfs/{}^@~`\'')
                                          + ["\u00e9", "\x00", "\ud7ff"]), max_size=60)


@FUZZ
@given(st.one_of(EDNISH, st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_random_text_is_read_or_refused_in_one_line(text):
    try:
        h = parse_history_text(text, "f.edn")
    except InputError as e:
        assert str(e).startswith("f.edn: ") and "\n" not in str(e)
    else:
        assert h.format in ("edn", "json", "jsonl")


@FUZZ
@given(st.binary(max_size=60))
def test_random_bytes_files(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("b") / "h"
    p.write_bytes(data)
    try:
        read_history(p)
    except InputError as e:
        assert str(e).startswith(f"{p}: ") and "\n" not in str(e)


@FUZZ
@given(st.lists(values(), min_size=1, max_size=3), st.randoms(use_true_random=False), st.data())
def test_truncated_edn_is_refused_with_a_position(xs, rnd, data):
    text = "[" + " ".join(to_edn(x, rnd) for x in xs) + "]"
    cut = data.draw(st.integers(1, len(text) - 1))
    with pytest.raises(EdnError) as e:
        parse_edn(text[:cut])
    lines = text[:cut].split("\n")
    assert 1 <= e.value.line <= len(lines) and 1 <= e.value.column <= len(lines[e.value.line - 1]) + 1


# -- (g) end to end -------------------------------------------------------------------------------------


def test_hand_written_edn_histories_with_known_verdicts(tmp_path):
    # Linearizable by construction: each operation's effect is at a point inside its interval, in the
    # order write 1 (t=15), cas 1->2 (t=35), read 2 (t=55); the nemesis lines change nothing.
    good = read_history(write(tmp_path, "{:type :info, :f :start, :process :nemesis}\n" + EDN_LINES))
    assert check_linearizable(good.entries).ok
    # Not linearizable by construction: the write of 3 completed (t=70) before the read began (t=80), and
    # nothing else writes, so the read must see 3; it saw 1.
    stale = EDN_LINES + (
        "{:type :invoke, :f :write, :value 3, :process 0, :time 65}\n"
        "{:type :ok, :f :write, :value 3, :process 0, :time 70}\n"
        "{:type :info, :f :kill, :value nil, :process :nemesis, :time 75}\n"
        "{:type :invoke, :f :read, :value nil, :process 1, :time 80}\n"
        "{:type :ok, :f :read, :value 1, :process 1, :time 90}\n")
    bad = read_history(write(tmp_path, stale, "bad.edn"))
    assert bad.ignored == {"nemesis": 1}
    r = check_linearizable(bad.entries)
    assert not r.ok
    assert [bad.positions[i] for i in r.indices][-2:] == [9, 10]  # the stale read, numbered as in the file


def test_a_large_edn_history_is_read_quickly(tmp_path):
    """Not a benchmark: a sanity bound far above the measured time (0.9 s for 100,000 entries here)."""
    import time
    rnd = random.Random(7)
    lines = []
    for i in range(10_000):
        p = rnd.randrange(5)
        lines.append(f"{{:type :invoke, :f :write, :value {i}, :process {p}, :time {2 * i}, :index {2 * i}}}")
        lines.append(f"{{:type :ok, :f :write, :value {i}, :process {p}, :time {2 * i + 1}, :index {2 * i + 1}}}")
    p = write(tmp_path, "\n".join(lines))
    start = time.perf_counter()
    h = read_history(p)
    assert time.perf_counter() - start < 5
    assert len(h.entries) == 20_000 and h.entries[-1]["value"] == 9_999 and h.entries[-1]["index"] == 19_999
