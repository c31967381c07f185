"""Fuzzing every file faultcheck reads: specs, traces and histories, mutated from the committed ones or
random, run through the commands that read them (in process, through `checker.cli.main`).

Whatever the file holds, a command exits 0..3, prints no traceback, and an exit 2 is exactly one line
on stderr naming the file (or, for `check`, the summary line ``ERR FILE: error: ...`` when the model
raised during the search). A few subprocess runs cover what needs a real process (a named pipe,
/dev/zero). FAULTCHECK_FUZZ_EXAMPLES multiplies the example counts for longer local runs (default 1);
FAULTCHECK_FUZZ_RANDOM=1 draws new examples each run instead of the fixed, reproducible ones.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tomllib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCALE = max(1, int(os.environ.get("FAULTCHECK_FUZZ_EXAMPLES", "1")))
RANDOM = os.environ.get("FAULTCHECK_FUZZ_RANDOM")  # set: random examples (a new seed each run), not the fixed ones
SPECS = sorted((ROOT / "specs").glob("*.toml"))
TRACES = sorted((ROOT / "counterexamples").glob("*.json"))
HISTORIES = sorted((ROOT / "tests/data/jepsen-histories/etcd").glob("*.json"))[:20] + sorted(
    (ROOT / "tests/data/jepsen-histories/kv").glob("c01-*.json"))
HISTORY_PREFIX = 40  # entries kept of each history: a mutated one stays cheap to decide


def fuzz_settings(n: int) -> settings:
    return settings(max_examples=n * SCALE, deadline=None, derandomize=RANDOM is None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# -- running a command ------------------------------------------------------------------------------------------------


def run(argv: list[str], path: Path) -> tuple[int, str, str]:
    """`faultcheck argv` in this process; asserts the contract for a file `path` it reads."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = e.code
    assert_contract(argv, rc, out.getvalue(), err.getvalue(), path)
    return rc, out.getvalue(), err.getvalue()


def assert_contract(argv: list[str], rc: Any, out: str, err: str, path: Path) -> None:
    assert rc in (0, 1, 2, 3), f"{argv}: exit {rc!r}\n{err}"
    assert "Traceback" not in err and "Traceback" not in out, f"{argv}:\n{err}"
    if rc == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        if argv[0] == "check" and out.startswith(f"ERR  {path}: error: "):  # the model raised while searched
            assert len(lines) <= 1, f"{argv}: {err}"  # the innermost frame of the model's code, if any
            return
        assert len(lines) == 1, f"{argv}: exit 2 with {len(lines)} lines on stderr:\n{err}"
        assert str(path) in lines[0], f"{argv}: the error does not name {path}: {lines[0]}"
        assert "internal error" not in lines[0], f"{argv}: {lines[0]}"


# -- mutations of JSON-like values ------------------------------------------------------------------------------------

SCALARS = st.one_of(st.booleans(), st.integers(-5, 10), st.sampled_from([-2**63, 2**64, 10**30]),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))


def values(null: bool) -> st.SearchStrategy:
    """Random JSON values (`null`: with null, else TOML-shaped)."""
    leaves = st.one_of(st.none(), SCALARS) if null else SCALARS
    return st.recursive(leaves, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), kids, max_size=4)),
                        max_leaves=8)


def places(value: Any, at: tuple = ()) -> list[tuple]:
    """The path of every node of `value`, the root first."""
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += places(v, at + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += places(v, at + (i,))
    return out


def get(value: Any, at: tuple) -> Any:
    for k in at:
        value = value[k]
    return value


def mutate(data: st.DataObject, value: Any, null: bool) -> Any:
    """`value` with one to three nodes deleted, retyped, renumbered, or (in lists) dropped or doubled."""
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        at = data.draw(st.sampled_from(places(value)[1:] or [()]), label="at")  # random files stand for the root
        node = get(value, at)
        ops = ["retype"] + (["delete"] if at else []) + (["renumber"] if isinstance(node, int) else [])
        ops += ["drop", "double"] if isinstance(node, list) and node else []
        op = data.draw(st.sampled_from(ops), label="op")
        if op == "drop":
            del node[data.draw(st.integers(0, len(node) - 1))]
        elif op == "double":
            i = data.draw(st.integers(0, len(node) - 1))
            node.insert(i, json.loads(json.dumps(node[i])))
        elif op == "delete":
            del get(value, at[:-1])[at[-1]]
        else:
            new = data.draw(st.integers(-3, 12) if op == "renumber" else values(null), label="new")
            if not at:
                value = new
            else:
                get(value, at[:-1])[at[-1]] = new
    return value


# -- TOML, written by hand (the standard library only reads it) -------------------------------------------------------


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def toml_text(table: Any) -> str:
    if not isinstance(table, dict):  # a mutation replaced the whole file: make it the value of a key
        table = {"value": table}
    return "".join(f"{toml_value(str(k))} = {toml_value(v)}\n" for k, v in table.items())


def test_toml_writer_round_trips():
    for f in SPECS:
        data = tomllib.loads(f.read_text(encoding="utf-8"))
        assert tomllib.loads(toml_text(data)) == data, f


# -- specs ------------------------------------------------------------------------------------------------------------

SPEC_COMMANDS = {
    "check": ["check", "-q", "--no-lint", "--max-states", "2000", "--max-seconds", "5"],
    "lint": ["lint"],
    "induct": ["induct", "--max-states", "50"],
}


def spec_argv(command: str, path: Path, work: Path) -> list[str]:
    argv = [*SPEC_COMMANDS[command], str(path)]
    return argv + ["--out", str(work / "out")] if command == "check" else argv


@fuzz_settings(80)
@given(data=st.data(), source=st.sampled_from(SPECS), command=st.sampled_from(["check", "check", "lint", "induct"]))
def test_mutated_specs(work, data, source, command):
    spec = mutate(data, tomllib.loads(source.read_text(encoding="utf-8")), null=False)
    path = work / "mutated.toml"
    path.write_text(toml_text(spec), encoding="utf-8")
    rc, _, _ = run(spec_argv(command, path, work), path)  # run() asserts the contract for every code
    assert rc in (0, 1, 2, 3)


@fuzz_settings(40)
@given(content=st.one_of(values(null=False).map(toml_text),
                         st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                         st.binary(max_size=200)),
       command=st.sampled_from(list(SPEC_COMMANDS)))
def test_random_specs(work, content, command):
    path = work / "random.toml"
    (path.write_bytes if isinstance(content, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(content)
    rc, _, _ = run(spec_argv(command, path, work), path)
    assert rc == 2  # no random table is a spec (each lacks a protocol)


# -- traces -----------------------------------------------------------------------------------------------------------

TRACE_COMMANDS = [["show", "--format", f] for f in ("text", "dot", "svg", "html", "itf")] + [["replay"]]


@fuzz_settings(100)
@given(data=st.data(), source=st.sampled_from(TRACES), command=st.sampled_from(TRACE_COMMANDS))
def test_mutated_traces(work, data, source, command):
    trace = json.loads(source.read_text(encoding="utf-8"))
    if data.draw(st.booleans(), label="steps only"):  # steps dropped, doubled, their states changed
        trace["steps"] = mutate(data, trace["steps"], null=True)
    else:
        trace = mutate(data, trace, null=True)
    path = work / "mutated.json"
    path.write_text(json.dumps(trace), encoding="utf-8")
    rc, _, _ = run([*command, str(path)], path)
    assert rc in (0, 1, 2, 3)


@fuzz_settings(40)
@given(content=st.one_of(values(null=True).map(json.dumps), st.binary(max_size=200)),
       command=st.sampled_from(TRACE_COMMANDS))
def test_random_traces(work, content, command):
    path = work / "random.json"
    (path.write_bytes if isinstance(content, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(content)
    rc, _, _ = run([*command, str(path)], path)
    assert rc == 2


def test_graph_with_a_mutated_trace(work):
    """`graph SPEC --trace TRACE` names the trace when the trace is bad."""
    path = work / "graph-trace.json"
    trace = json.loads((ROOT / "counterexamples/two_phase_commit_early_commit.json").read_text(encoding="utf-8"))
    trace["steps"][1]["state"] = ["not", "a", "state"]
    path.write_text(json.dumps(trace), encoding="utf-8")
    rc, _, _ = run(["graph", str(ROOT / "specs/two_phase_commit_early_commit.toml"), "--trace", str(path)], path)
    assert rc == 2


# -- histories --------------------------------------------------------------------------------------------------------

HISTORY_OPTIONS = [[], ["--model", "kv"], ["--fail", "returned-false"], ["--shrink", "delete"], ["--json"]]


@fuzz_settings(100)
@given(data=st.data(), source=st.sampled_from(HISTORIES), options=st.sampled_from(HISTORY_OPTIONS))
def test_mutated_histories(work, data, source, options):
    history = mutate(data, json.loads(source.read_text(encoding="utf-8"))[:HISTORY_PREFIX], null=True)
    path = work / "history.json"
    path.write_text(json.dumps(history), encoding="utf-8")
    if "kv" in source.name:
        options = ["--model", "kv", *options[2:]]
    rc, _, _ = run(["history", *options, str(path)], path)
    assert rc in (0, 1, 2, 3)


@fuzz_settings(40)
@given(content=st.one_of(values(null=True).map(json.dumps), st.binary(max_size=200)),
       options=st.sampled_from(HISTORY_OPTIONS + [["--consistency", "sequential"]]))
def test_random_histories(work, content, options):
    path = work / "random-history.json"
    (path.write_bytes if isinstance(content, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(content)
    rc, _, _ = run(["history", *options, str(path)], path)
    assert rc in (0, 1, 2, 3)


@fuzz_settings(15)
@given(depth=st.integers(65, 200_000), opener=st.sampled_from(["[", '{"a":']))
def test_deeply_nested_files(work, depth, opener):
    path = work / "deep.json"
    path.write_text(opener * depth + "1" + ("]" if opener == "[" else "}") * depth, encoding="utf-8")
    for argv in (["show", str(path)], ["replay", str(path)], ["history", str(path)]):
        rc, _, err = run(argv, path)
        assert rc == 2 and "nested deeper than" in err


# -- what needs a real process ----------------------------------------------------------------------------------------


def faultcheck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checker", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@pytest.mark.parametrize("argv", [["check", "-q"], ["show"], ["history"], ["replay"]])
def test_a_named_pipe_is_refused_without_blocking(tmp_path, argv):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    p = faultcheck(*argv, str(fifo))  # nothing ever writes to it: reading it would block for good
    assert p.returncode == 2
    assert p.stderr.strip() == f"faultcheck: {fifo}: is a named pipe (FIFO): cannot read it as a " \
                               f"{'spec' if argv[0] == 'check' else argv[0] if argv[0] == 'history' else 'trace'} file"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("argv", [["check", "-q"], ["show"], ["history"], ["lint"]])
def test_dev_zero_is_refused(argv):
    p = faultcheck(*argv, "/dev/zero")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("faultcheck: /dev/zero: is a character device: cannot read it as a ")
