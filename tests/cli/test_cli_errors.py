"""The faultcheck command: every bad input is exit 2 and one line naming the file and the problem;
exit codes and --json; the regression rules for committed counterexamples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from checker.cli import main

ROOT = Path(__file__).resolve().parents[2]

GOOD_MODULE = '''
from checker import Int, Model, Param, action, invariant

class Counter(Model):
    top = Param(3, lo=1, hi=9)

    def variables(self):
        return {"n": Int(0, 9)}

    def init(self):
        return {"n": 0}

    @action
    def Inc(self, s):
        return [(s[0] + 1,)] if s[0] < self.top else [s]

    @invariant
    def Small(self, state):
        return state.n < 3

class NotAModel:
    pass
'''


def write(tmp_path: Path, body: str, name: str = "spec.toml") -> Path:
    (tmp_path / "mymodels.py").write_text(GOOD_MODULE)
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


BASE = """
protocol = "mymodels:Counter"
expected = "holds"
invariants = []
"""


@pytest.mark.parametrize(
    "body, needle",
    [
        ("protocol = ", "not valid TOML"),
        (BASE + "colour = 1\n", "unknown key 'colour'"),
        (BASE + "format = 2\n", "format"),
        ('expected = "holds"\n', "protocol: missing"),
        ('protocol = "mymodels"\nexpected = "holds"\n', 'expected "module:Class"'),
        ('protocol = "nosuchmodule:X"\nexpected = "holds"\n', "no module named 'nosuchmodule'"),
        ('protocol = "mymodels:Nope"\nexpected = "holds"\n', "has no 'Nope'"),
        ('protocol = "mymodels:NotAModel"\nexpected = "holds"\n', "not a faultcheck Model"),
        ('protocol = "mymodels:Counter"\n', "expected: missing"),
        ('protocol = "mymodels:Counter"\nexpected = "maybe"\n', 'must be "holds" or "violated"'),
        ('protocol = "mymodels:Counter"\nexpected = "violated"\n', "violates: required"),
        (BASE.replace("invariants = []", 'invariants = ["Huge"]'), "unknown invariant 'Huge'"),
        (BASE + "[params]\nwidth = 3\n", "has no parameter 'width'"),
        (BASE + '[params]\ntop = "x"\n', "params.top: must be int"),
        (BASE + "[params]\ntop = 0\n", "params.top: must be >= 1"),
        (BASE + "[bounds]\nmax_states = -1\n", "bounds.max_states"),
        (BASE + "[bounds]\nmax_minutes = 1\n", "unknown key 'max_minutes'"),
        (BASE + "[network]\nin_flight = \"set\"\n", "only message-passing protocols"),
        (BASE + "check_deadlock = \"yes\"\n", "check_deadlock: expected bool"),
    ],
)
def test_bad_specs_are_one_line_exit_2(tmp_path, capsys, body, needle):
    spec = write(tmp_path, body)
    code, out, err = run(capsys, "check", str(spec), "--out", str(tmp_path / "out"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(spec) in lines[0] and needle in lines[0]
    assert "Traceback" not in err


def test_a_module_that_raises_on_import_is_one_line(tmp_path, capsys):
    (tmp_path / "broken.py").write_text("raise RuntimeError('half-written')\n")
    spec = tmp_path / "s.toml"
    spec.write_text('protocol = "broken:X"\nexpected = "holds"\n')
    code, _, err = run(capsys, "check", str(spec))
    assert code == 2 and "half-written" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["check", "no/such/file.toml"], "no such file or directory"),
        (["check", "SPEC", "--set", "top"], "expected NAME=VALUE"),
        (["check", "SPEC", "--set", "top=abc"], "is not a TOML value"),
        (["check", "SPEC", "--set", "top=12"], "params.top: must be <= 9"),
        (["show", "no/such/trace.json"], "no such file"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(tmp_path, capsys, argv, needle):
    spec = write(tmp_path, BASE)
    argv = [str(spec) if a == "SPEC" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1


def test_a_directory_without_specs_is_an_error(tmp_path, capsys):
    code, _, err = run(capsys, "check", str(tmp_path))
    assert code == 2 and "no *.toml" in err


def test_truncated_and_malformed_traces_are_one_line(tmp_path, capsys):
    good = (ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json").read_text()
    cases = {"trunc.json": good[: len(good) // 2], "notrace.json": "[1, 2]", "badfmt.json": good.replace("faultcheck-trace/1", "x")}
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        code, _, err = run(capsys, "show", str(p))
        assert code == 2, name
        assert str(p) in err and len(err.strip().splitlines()) == 1


def test_json_output_and_exit_codes(tmp_path, capsys):
    holds = write(tmp_path, BASE.replace("invariants = []", 'invariants = ["Small"]') + "[params]\ntop = 2\n", "a.toml")
    fails = write(tmp_path, BASE.replace("invariants = []", 'invariants = ["Small"]'), "b.toml")
    code, out, err = run(capsys, "check", str(holds), "--json", "--out", str(tmp_path / "o"))
    assert code == 0
    (obj,) = [json.loads(line) for line in out.splitlines()]
    for key in ("spec", "verdict", "expected", "ok", "distinct_states", "states_generated", "depth", "seconds",
                "states_per_second", "counterexample"):
        assert key in obj
    assert obj["verdict"] == "holds" and obj["distinct_states"] == 3 and obj["counterexample"] is None
    # an unexpected violation: exit 1 and a trace written under --out
    code, out, err = run(capsys, "check", str(holds), str(fails), "--json", "--out", str(tmp_path / "o"))
    assert code == 1
    objs = [json.loads(line) for line in out.splitlines()]
    assert [o["ok"] for o in objs] == [True, False]
    written = Path(objs[1]["counterexample"])
    assert written.is_file() and written.parent == tmp_path / "o"
    # a bound cuts the search short: undetermined, exit 3, never "holds"
    code, out, _ = run(capsys, "check", str(holds), "--max-depth", "1", "--json", "--out", str(tmp_path / "o"))
    assert code == 3 and json.loads(out)["verdict"] == "undetermined"
    # 2 beats 1 beats 3
    bad = write(tmp_path, "nonsense", "c.toml")
    code, _, _ = run(capsys, "check", str(holds), str(fails), str(bad), "--out", str(tmp_path / "o"))
    assert code == 2


def test_set_overrides_a_parameter_as_the_issue_shows(capsys, tmp_path):
    code, out, _ = run(capsys, "check", str(ROOT / "specs" / "two_phase_commit_tla.toml"), "--set", "rms=5", "--json",
                       "--out", str(tmp_path))
    obj = json.loads(out)
    assert code == 0 and obj["distinct_states"] == 8832 and obj["depth"] == 17


def copy_regression(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "specs").mkdir()
    (tmp_path / "counterexamples").mkdir()
    spec = tmp_path / "specs" / "ec.toml"
    shutil.copy(ROOT / "specs" / "two_phase_commit_tla_early_commit.toml", spec)
    text = spec.read_text().replace("counterexamples/two_phase_commit_tla_early_commit.json", "counterexamples/ec.json")
    spec.write_text(text)
    cex = tmp_path / "counterexamples" / "ec.json"
    shutil.copy(ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json", cex)
    return spec, cex


def test_a_stale_counterexample_fails_naming_file_and_step(tmp_path, capsys):
    spec, cex = copy_regression(tmp_path)
    assert run(capsys, "check", str(spec), "--out", str(tmp_path / "o"))[0] == 0
    trace = json.loads(cex.read_text())
    trace["steps"][2]["state"]["tmPrepared"] = []
    cex.write_text(json.dumps(trace))
    code, out, _ = run(capsys, "check", str(spec), "--out", str(tmp_path / "o"))
    assert code == 1 and "ec.json" in out and "step 2" in out


def test_a_missing_counterexample_fails_and_update_writes_it(tmp_path, capsys):
    spec, cex = copy_regression(tmp_path)
    cex.unlink()
    assert run(capsys, "check", str(spec), "--out", str(tmp_path / "o"))[0] == 1
    assert not cex.exists()
    assert run(capsys, "check", str(spec), "--update", "--out", str(tmp_path / "o"))[0] == 0
    assert json.loads(cex.read_text())["property"] == "TCConsistent"
    before = cex.read_text()
    assert run(capsys, "check", str(spec), "--update", "--out", str(tmp_path / "o"))[0] == 0
    assert cex.read_text() == before  # no churn on rerun


def test_a_longer_committed_counterexample_fails(tmp_path, capsys):
    spec, cex = copy_regression(tmp_path)
    trace = json.loads(cex.read_text())
    # prepend a harmless step: rm3 prepares first (its state shows in every later state)
    steps = trace["steps"]
    extra = json.loads(json.dumps(steps[0]))
    extra.update(kind="action", action="RMPrepare", params=["rm3"], label="RMPrepare(rm3)")
    extra["state"]["rmState"]["rm3"] = "prepared"
    extra["state"]["msgs"] = [{"type": "Prepared", "rm": "rm3"}]
    for st in steps[1:]:
        st["state"]["rmState"]["rm3"] = "prepared"
        st["state"]["msgs"] = sorted(st["state"]["msgs"] + [{"type": "Prepared", "rm": "rm3"}],
                                     key=lambda m: (m["type"] != "Prepared", m.get("rm", "")))
    trace["steps"] = [steps[0], extra] + steps[1:]
    cex.write_text(json.dumps(trace))
    code, out, _ = run(capsys, "check", str(spec), "--out", str(tmp_path / "o"))
    assert code == 1 and "shorter" in out, out


@pytest.mark.slow
def test_the_command_runs_as_a_process(tmp_path):
    out = subprocess.run([sys.executable, "-m", "checker", "check", "specs/", "-q", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summaries = [line for line in out.stdout.splitlines() if not line.startswith(" ")]  # details are indented
    assert len(summaries) == len(list((ROOT / "specs").glob("*.toml")))


def test_show_prints_each_step_with_only_what_changed(capsys):
    code, out, _ = run(capsys, "show", str(ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json"))
    assert code == 0
    assert "violated: TCConsistent (5 steps)" in out
    step3 = out.split("\n3 ")[1].split("\n4 ")[0]
    assert "tmState: init -> committed" in step3 and "rmState" not in step3


def test_ctrl_c_stops_cleanly_reports_what_was_explored_and_exits_3():
    import signal
    import time

    p = subprocess.Popen([sys.executable, "-m", "checker", "check", "specs/two_phase_commit_tla.toml", "--set", "rms=8",
                          "-q", "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3, err
    obj = json.loads(out)
    assert obj["verdict"] == "undetermined" and "interrupted" in obj["reason"]
    assert 0 < obj["distinct_states"] < 1_745_408
    assert "Traceback" not in err


def test_junit_has_one_case_per_spec_with_failures_and_errors(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    holds = write(tmp_path, BASE.replace("invariants = []", 'invariants = ["Small"]') + "[params]\ntop = 2\n", "a.toml")
    fails = write(tmp_path, BASE.replace("invariants = []", 'invariants = ["Small"]'), "b.toml")
    bad = write(tmp_path, "nonsense", "c.toml")
    report = tmp_path / "junit" / "r.xml"
    code, _, _ = run(capsys, "check", str(holds), str(fails), str(bad), "--junit", str(report), "--out", str(tmp_path / "o"))
    assert code == 2
    suite = ET.parse(report).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["a"].find("failure") is None and cases["a"].find("error") is None
    assert "violated Small" in cases["b"].find("failure").get("message")
    assert "not valid TOML" in cases["c"].find("error").get("message")
