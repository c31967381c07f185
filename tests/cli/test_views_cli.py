"""`faultcheck show` in every format and `faultcheck graph`, run in-process through `checker.cli.main`:
output to standard output and to -o FILE, colour, and every bad input as exit 2 with exactly one line
on stderr that names the file (no traceback, nothing on stdout, no file written).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

from checker.cli import main
from checker.spec import check

ROOT = Path(__file__).resolve().parents[2]
TPC = ROOT / "counterexamples" / "two_phase_commit_early_commit.json"
TLA = ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json"
TLA_SPEC = ROOT / "specs" / "two_phase_commit_tla_early_commit.toml"
FORMATS = ("text", "dot", "svg", "html", "itf")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str, *names) -> str:
    """Exactly one line on stderr, "faultcheck: ...", naming each of `names`."""
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert err.startswith("faultcheck: ") and "Traceback" not in err and "internal error" not in err, err
    for n in names:
        assert str(n) in err, f"{n} not named in {err!r}"
    return err.rstrip("\n")


def looks_like(fmt: str, text: str, raw: dict) -> None:
    """Enough of each format to tell them apart and to know it is this trace."""
    labels = [s["label"] for s in raw["steps"][1:]]
    if fmt == "text":
        assert text.splitlines()[0].startswith(f"violated: {raw['property']}")
        assert all(f"{i}  {label}" in text for i, label in enumerate(labels, 1))
    elif fmt == "dot":
        assert text.startswith("digraph msc {") and text.rstrip().endswith("}")
        assert all(f'id="row-{i}"' in text for i in range(len(raw["steps"])))
    elif fmt == "svg":
        root = ET.fromstring(text[text.index("<svg"):])
        assert root.tag.endswith("svg") and any(el.get("id") == "verdict" for el in root.iter())
        assert {f"row-{i}" for i in range(len(raw["steps"]))} <= {el.get("id") for el in root.iter()}
    elif fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
        assert 'id="trace-data"' in text and "<svg" in text
    else:
        itf = json.loads(text)
        assert itf["#meta"]["format"] == "ITF" and itf["vars"] == list(raw["steps"][0]["state"])
        assert [s["#meta"].get("action") for s in itf["states"]] == [None, *labels]


@pytest.mark.parametrize("fmt", FORMATS)  # svg and html drawn by faultcheck: no Graphviz needed
def test_show_writes_each_format_to_stdout_and_to_a_file(fmt, tmp_path, capsys):
    raw = json.loads(TPC.read_text())
    code, out, err = run(capsys, "show", TPC, "--format", fmt)
    assert code == 0 and err == ""
    looks_like(fmt, out, raw)
    target = tmp_path / "deep" / f"chart.{fmt}"
    code, out2, err = run(capsys, "show", TPC, "--format", fmt, "-o", target)
    assert code == 0 and out2 == ""
    assert err == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == out  # the same bytes either way


def test_text_is_coloured_only_when_asked_or_on_a_terminal(capsys):
    code, out, _ = run(capsys, "show", TPC, "--color", "always")
    assert code == 0 and "\x1b[" in out
    for argv in (["--color", "never"], ["--color", "auto"], []):
        code, out, _ = run(capsys, "show", TPC, *argv)
        assert code == 0 and "\x1b[" not in out and "violated: Consistent" in out, argv
    # a real pipe, through the installed entry point's module
    p = subprocess.run([sys.executable, "-m", "checker", "show", str(TPC)], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, env={**os.environ, "TERM": "xterm-256color"})
    assert p.returncode == 0 and p.stderr == ""
    assert "\x1b[" not in p.stdout and "Prepared rm1→tm1" in p.stdout


def test_colour_never_goes_into_a_file(tmp_path, capsys):
    target = tmp_path / "t.txt"
    assert run(capsys, "show", TPC, "-o", target)[0] == 0
    assert "\x1b[" not in target.read_text(encoding="utf-8")


def _without(key):
    def make(good: str) -> str:
        obj = json.loads(good)
        del obj[key]
        return json.dumps(obj)
    return make


def _step_key(good: str) -> str:
    obj = json.loads(good)
    obj["steps"][2]["colour"] = "red"
    return json.dumps(obj)


MALFORMED = {
    "not_json": (lambda good: "this is not json\n", "not valid JSON"),
    "truncated": (lambda good: good[: len(good) * 2 // 3], "not valid JSON"),
    "missing_protocol": (_without("protocol"), "protocol"),
    "missing_steps": (_without("steps"), "steps"),
    "old_version": (lambda good: good.replace('"faultcheck-trace/1"', '"faultcheck-trace/0"'), "faultcheck-trace/0"),
    "step_key": (_step_key, "colour"),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_show_of_a_malformed_trace_is_exit_2_and_one_line(case, fmt, tmp_path, capsys):
    make, needle = MALFORMED[case]
    bad = tmp_path / f"{case}.json"
    bad.write_text(make(TPC.read_text()), encoding="utf-8")
    target = tmp_path / "out.txt"
    code, out, err = run(capsys, "show", bad, "--format", fmt, "-o", target)
    assert code == 2 and out == ""
    assert needle in one_line(err, bad)
    assert not target.exists()


def test_show_of_a_missing_trace_is_one_line(tmp_path, capsys):
    code, out, err = run(capsys, "show", tmp_path / "nowhere.json", "--format", "html")
    assert code == 2 and out == "" and "no such file" in one_line(err, tmp_path / "nowhere.json")


def _no_types(good: str) -> str:
    obj = json.loads(good)
    del obj["types"]
    return json.dumps(obj)


def _bad_value(good: str) -> str:
    obj = json.loads(good)
    obj["steps"][2]["state"]["rm1"]["state"] = "flying"
    return json.dumps(obj)


@pytest.mark.parametrize("case, make, needle", [("no_types", _no_types, "types"), ("bad_value", _bad_value, "flying")])
def test_itf_of_a_trace_it_cannot_export_is_exit_2_and_one_line(case, make, needle, tmp_path, capsys):
    bad = tmp_path / f"{case}.json"
    bad.write_text(make(TPC.read_text()), encoding="utf-8")
    code, out, err = run(capsys, "show", bad, "--format", "itf")
    assert code == 2 and out == ""
    assert needle in one_line(err)


@pytest.mark.parametrize("case, make", [("no_types", _no_types), ("bad_value", _bad_value)])
def test_itf_errors_name_the_trace_file(case, make, tmp_path, capsys):
    bad = tmp_path / f"{case}.json"
    bad.write_text(make(TPC.read_text()), encoding="utf-8")
    code, _, err = run(capsys, "show", bad, "--format", "itf")
    assert code == 2
    one_line(err, bad)


# -- graph -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dot", "svg", "graphml"])
@pytest.mark.needs_graphviz(fmt=("svg",))
def test_graph_writes_each_format_to_stdout_and_to_a_file(fmt, tmp_path, capsys):
    code, out, err = run(capsys, "graph", TLA_SPEC, "--set", "rms=1", "--format", fmt)
    assert code == 0 and err == ""
    if fmt == "dot":
        assert out.startswith("digraph states {") and "12 states" in out
    elif fmt == "svg":
        root = ET.fromstring(out[out.index("<svg"):])
        assert sum(el.get("class") == "node" for el in root.iter()) == 12
    else:
        assert nx.read_graphml(io.BytesIO(out.encode())).number_of_nodes() == 12
    target = tmp_path / f"graph.{fmt}"
    code, out2, err = run(capsys, "graph", TLA_SPEC, "--set", "rms=1", "--format", fmt, "-o", target)
    assert code == 0 and out2 == "" and err == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == out


def test_graph_highlights_a_trace_of_the_same_parameters(tmp_path, capsys):
    r = check(TLA_SPEC, params={"rms": 2}, out=None)
    saved = r.trace.save(tmp_path / "rms2.json")
    code, out, err = run(capsys, "graph", TLA_SPEC, "--set", "rms=2", "--trace", saved, "--format", "dot")
    assert code == 0 and err == ""
    raw = json.loads(saved.read_text())
    for step in raw["steps"][1:]:
        assert f'[label="{step["label"]}", color="#b00020"' in out, step["label"]
    assert out.count('fillcolor="#fde0e0"') == 1
    assert out.count('color="#b00020", fontcolor="#b00020"') == len(raw["steps"]) - 1
    # the committed trace (3 RMs: above 150 states, so steps go unlabelled): 6 red states, 5 red steps
    code, out, err = run(capsys, "graph", TLA_SPEC, "--trace", TLA)
    assert code == 0 and "layout=sfdp" in out
    assert out.count('color="#b00020", penwidth=2') == 6 + 5


def test_graph_above_its_limit_is_exit_2_and_one_line(tmp_path, capsys):
    target = tmp_path / "g.dot"
    code, out, err = run(capsys, "graph", TLA_SPEC, "--set", "rms=1", "--limit", "11", "-o", target)
    assert code == 2 and out == "" and not target.exists()
    assert "more than 11" in one_line(err, TLA_SPEC)
    code, _, _ = run(capsys, "graph", TLA_SPEC, "--set", "rms=1", "--limit", "12")
    assert code == 0


@pytest.mark.parametrize("trace, sets", [(TLA, ["--set", "rms=2"]),  # the same model, 3 RMs in the trace
                                         (TPC, [])])  # another model altogether
def test_graph_with_a_trace_of_other_parameters_is_exit_2_and_one_line(trace, sets, capsys):
    code, out, err = run(capsys, "graph", TLA_SPEC, "--trace", trace, *sets)
    assert code == 2 and out == ""
    one_line(err, TLA_SPEC)


def test_graph_with_a_trace_of_other_parameters_names_the_trace(capsys):
    code, _, err = run(capsys, "graph", TLA_SPEC, "--trace", TLA, "--set", "rms=2")
    assert code == 2
    one_line(err, TLA)


@pytest.mark.parametrize("argv, needle", [
    (["--trace", "nowhere.json"], "nowhere.json"),
    (["--set", "rms"], "--set rms"),
    (["--set", "rms=0"], "rms"),
])
def test_graph_bad_input_is_exit_2_and_one_line(argv, needle, capsys):
    code, out, err = run(capsys, "graph", TLA_SPEC, *argv)
    assert code == 2 and out == ""
    assert needle in one_line(err)


def test_graph_of_a_missing_spec_is_one_line(tmp_path, capsys):
    code, out, err = run(capsys, "graph", tmp_path / "none.toml")
    assert code == 2 and out == ""
    one_line(err, tmp_path / "none.toml")
