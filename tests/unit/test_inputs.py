"""`checker/model/inputs.py`: every file faultcheck reads is a regular file under its kind's size cap,
UTF-8, JSON or TOML nested at most MAX_DEPTH deep; every refusal is one line starting with the file's
name, through the module and through the commands that read specs, traces and histories.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tomllib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.cli import main
from checker.model import inputs
from checker.model.inputs import (
    HISTORY_LIMIT,
    MAX_DEPTH,
    SPEC_LIMIT,
    TRACE_LIMIT,
    InputError,
    read_bytes,
    read_json,
    read_text,
    read_toml,
)

ROOT = Path(__file__).resolve().parents[2]


def one_line_naming(e: InputError, path: Path | str) -> str:
    text = str(e)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert e.path == str(path)
    return text[len(str(path)) + 2:]


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(list(argv))
    return rc, err.getvalue()


def sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)  # no disk blocks: the size is all that is looked at
    return path


# -- the caps ---------------------------------------------------------------------------------------------------------


def test_the_caps_are_generous_for_the_committed_files():
    assert SPEC_LIMIT == 1 << 20 and TRACE_LIMIT == 64 << 20 and HISTORY_LIMIT == 256 << 20
    assert max(f.stat().st_size for f in (ROOT / "specs").glob("*.toml")) * 100 < SPEC_LIMIT
    assert max(f.stat().st_size for f in (ROOT / "counterexamples").glob("*.json")) * 1000 < TRACE_LIMIT
    assert max(f.stat().st_size for f in (ROOT / "tests/data/jepsen-histories").rglob("*.json")) * 500 < HISTORY_LIMIT


def test_a_file_at_the_limit_is_read_one_byte_more_is_refused(tmp_path):
    f = tmp_path / "x"
    f.write_bytes(b"a" * 100)
    assert read_bytes(f, 100) == b"a" * 100
    with pytest.raises(InputError) as e:
        read_bytes(f, 99, "trace")
    assert one_line_naming(e.value, f) == "is 100 bytes: a trace file may hold at most 99 bytes"


@pytest.mark.parametrize(("argv", "limit", "what"), [
    (["check", "-q"], SPEC_LIMIT, "spec"), (["lint"], SPEC_LIMIT, "spec"), (["induct"], SPEC_LIMIT, "spec"),
    (["show"], TRACE_LIMIT, "trace"), (["replay"], TRACE_LIMIT, "trace"), (["history"], HISTORY_LIMIT, "history"),
])
def test_each_command_refuses_a_file_over_its_cap_without_reading_it(tmp_path, argv, limit, what):
    f = sparse(tmp_path / "big", limit + 1)
    rc, err = cli(*argv, str(f))
    assert rc == 2
    assert err == f"faultcheck: {f}: is {limit + 1:,} bytes: a {what} file may hold at most {limit >> 20} MiB\n"


def test_a_file_at_the_spec_cap_is_read(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("# padding\n" * (SPEC_LIMIT // 10) + " " * (SPEC_LIMIT % 10), encoding="utf-8")
    assert f.stat().st_size == SPEC_LIMIT
    assert read_toml(f) == {}


def test_a_file_longer_than_its_size_says_is_refused():
    status = Path("/proc/self/status")
    if not status.is_file() or status.stat().st_size != 0:
        pytest.skip("needs Linux's /proc, whose files say they are empty")
    with pytest.raises(InputError) as e:
        read_bytes(status, 10, "history")
    assert one_line_naming(e.value, status) == "holds more than 10 bytes: a history file may hold at most that"


# -- what is not a regular file ---------------------------------------------------------------------------------------


def test_a_named_pipe_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as e:
        read_bytes(fifo, 100, "spec")  # were it opened for reading, this would wait for a writer for good
    assert one_line_naming(e.value, fifo) == "is a named pipe (FIFO): cannot read it as a spec file"


def test_a_named_pipe_put_in_place_after_the_look_is_refused_without_blocking(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    regular, real = os.stat(__file__), os.stat
    monkeypatch.setattr(inputs.os, "stat", lambda p, **kw: regular if p == fifo else real(p, **kw))  # looked regular
    with pytest.raises(InputError) as e:
        read_bytes(fifo, TRACE_LIMIT, "trace")
    assert one_line_naming(e.value, fifo) == "is a named pipe (FIFO): cannot read it as a trace file"


def test_a_directory_a_device_a_missing_file(tmp_path):
    cases = [(tmp_path, "is a directory: cannot read it as a history file"), (tmp_path / "nope", "no such file")]
    if Path("/dev/zero").exists() and stat.S_ISCHR(os.stat("/dev/zero").st_mode):
        cases.append((Path("/dev/zero"), "is a character device: cannot read it as a history file"))
    for path, reason in cases:
        with pytest.raises(InputError) as e:
            read_json(path, HISTORY_LIMIT, "history")
        assert one_line_naming(e.value, path) == reason


def test_a_name_with_a_nul_byte():
    with pytest.raises(InputError) as e:
        read_text("a\0b", 10)
    assert one_line_naming(e.value, "a\0b").startswith("cannot read: ")


def test_an_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    f = tmp_path / "locked"
    f.write_text("{}", encoding="utf-8")
    f.chmod(0)
    with pytest.raises(InputError) as e:
        read_json(f, 10)
    assert one_line_naming(e.value, f) == "cannot read: Permission denied"


# -- text and parsing -------------------------------------------------------------------------------------------------


def test_invalid_utf8_names_the_byte_and_line(tmp_path):
    f = tmp_path / "t.json"
    f.write_bytes(b'{\n"a":\n"\xff"}')
    with pytest.raises(InputError) as e:
        read_json(f, 100)
    assert one_line_naming(e.value, f) == "not UTF-8 text: cannot read byte 8 (line 3): invalid start byte"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 100_000])
def test_json_nested_too_deep(tmp_path, depth):
    f = tmp_path / "deep.json"
    f.write_text("[" * depth + "]" * depth, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_json(f, TRACE_LIMIT)
    assert one_line_naming(e.value, f) == f"not readable JSON: nested deeper than {MAX_DEPTH} levels"


def test_json_nested_exactly_max_depth_is_read(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text('{"a": ' * (MAX_DEPTH - 1) + "[1]" + "}" * (MAX_DEPTH - 1), encoding="utf-8")
    value = read_json(f, TRACE_LIMIT)
    for _ in range(MAX_DEPTH - 1):
        value = value["a"]
    assert value == [1]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_toml_nested_too_deep(tmp_path, depth):
    f = tmp_path / "deep.toml"
    f.write_text("a = " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_toml(f)
    assert one_line_naming(e.value, f) == f"not readable TOML: nested deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize(("text", "reason"), [
    ("[NaN]", "not valid JSON: NaN is not a JSON value"),
    ("-Infinity", "not valid JSON: -Infinity is not a JSON value"),
    ("9" * 5000, "not valid JSON: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 "
                 "digits; use sys.set_int_max_str_digits() to increase the limit"),
    ('["\\ud800"]', "a JSON string holds an unpaired surrogate \\ud800"),
    ('{"\\udfff": 1}', "a JSON string holds an unpaired surrogate \\udfff"),
    ('{"a": 1,\n "b"}', "not valid JSON (truncated?): Expecting ':' delimiter at line 2, column 5"),
])
def test_json_that_is_not_standard(tmp_path, text, reason):
    f = tmp_path / "x.json"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_json(f, 100_000)
    assert one_line_naming(e.value, f) == reason


def test_a_surrogate_pair_is_one_character(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('["\\ud83d\\ude00"]', encoding="utf-8")
    assert read_json(f, 100) == ["\U0001F600"]


def test_toml_errors_are_one_line(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('a = 1\na = 2\nb = "x', encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_toml(f)
    assert one_line_naming(e.value, f).startswith("not valid TOML: ")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(st.characters(blacklist_categories=("Cs",))),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(value=JSON)
def test_standard_json_reads_back_as_the_json_module_reads_it(tmp_path_factory, value):
    f = tmp_path_factory.mktemp("j") / "v.json"
    f.write_text(json.dumps(value, ensure_ascii=bool(len(repr(value)) % 2)), encoding="utf-8")
    assert read_json(f, 1 << 20) == json.loads(f.read_text(encoding="utf-8"))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.binary(max_size=64) | st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")),
       kind=st.sampled_from(["json", "toml"]))
def test_any_bytes_give_a_value_or_one_line_naming_the_file(tmp_path_factory, data, kind):
    f = tmp_path_factory.mktemp("b") / f"any.{kind}"
    f.write_bytes(data)
    try:
        value = read_json(f, 1 << 20) if kind == "json" else read_toml(f)
    except InputError as e:
        one_line_naming(e, f)
    else:
        text = data.decode("utf-8")
        assert value == (json.loads(text) if kind == "json" else tomllib.loads(text))


# -- through the commands ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["check", "-q"], ["lint"], ["show"], ["replay"], ["history"]])
def test_commands_say_one_line_naming_the_file(tmp_path, argv):
    f = tmp_path / "bad"
    f.write_bytes(b"\xc3(" + b"[" * 10_000)
    rc, err = cli(*argv, str(f))
    assert rc == 2
    assert err == f"faultcheck: {f}: not UTF-8 text: cannot read byte 0 (line 1): invalid continuation byte\n"
    lang = "TOML" if argv[0] in ("check", "lint") else "JSON"
    f.write_text(("a = " if lang == "TOML" else "") + "[" * 10_000, encoding="utf-8")
    rc, err = cli(*argv, str(f))
    assert rc == 2
    assert err == f"faultcheck: {f}: not readable {lang}: nested deeper than {MAX_DEPTH} levels\n"


def test_graph_names_a_trace_that_is_not_a_file(tmp_path):
    spec = ROOT / "specs/two_phase_commit_early_commit.toml"
    rc, err = cli("graph", str(spec), "--trace", str(tmp_path))
    assert rc == 2
    assert err == f"faultcheck: {tmp_path}: is a directory: cannot read it as a trace file\n"


def test_history_initial_nested_too_deep_is_one_line(tmp_path):
    f = tmp_path / "h.json"
    f.write_text("[]", encoding="utf-8")
    rc, err = cli("history", str(f), "--initial", "[" * 100_000)
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"faultcheck: {f}: --initial [[[") and "not a JSON literal" in err


def test_a_lint_cache_that_cannot_be_read_is_asked_again_and_rewritten(tmp_path):
    from checker.logic.lint import cached_lint, fingerprint, lint
    from checker.spec.run import prepare

    system, invs = prepare(ROOT / "specs/two_phase_commit_ok.toml", {})
    cache = tmp_path / "lint-cache.json"
    cache.write_text("[" * 100_000, encoding="utf-8")
    assert cached_lint(system, invs, cache) == lint(system, invs)
    assert list(json.loads(cache.read_text(encoding="utf-8"))) == [fingerprint(system, invs)]
