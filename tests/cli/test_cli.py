"""The faultcheck command, run in-process through `checker.cli.main`.

Every bad input is exit 2 and one line on stderr naming the file and the problem (no traceback);
exit codes and their combination over several specs; `--json`; bounds give "undetermined";
unexpected violations write a trace under --out; `show`; the regression rules for committed
counterexamples. One test runs the real command as a process.

Models are written into tmp_path under a name unique to the test: the spec's folder is importable,
and a module imported once stays in sys.modules (see test_same_module_name_in_two_folders...).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from checker.cli import main
from checker.semantics import Step, from_model
from checker.trace import Trace, build_trace
from protocols.two_phase_commit_tla import EarlyCommit

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
HOLDS_SPEC = SPECS / "two_phase_commit_tla.toml"
EC_SPEC = SPECS / "two_phase_commit_tla_early_commit.toml"
EC_CEX = ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json"

JSON_KEYS = ("spec", "verdict", "expected", "ok", "distinct_states", "states_generated", "depth", "seconds",
             "states_per_second", "counterexample")

MODULE = '''
from checker import Int, Model, Param, action, invariant

class Counter(Model):
    """n counts up to `top` and then stays; Small says n < 3."""

    top = Param(3, "where n stops", lo=1, hi=9)

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

class Boom(Counter):
    @action
    def Inc(self, s):
        if s[0] == 1:
            raise ZeroDivisionError("oops in Inc")
        return [(s[0] + 1,)]

class NotAModel:
    pass

not_a_class = 3
'''


@pytest.fixture
def proj(tmp_path):
    """A folder with a uniquely named model module; `proj.spec(body)` writes a spec ({mod} = the module)."""
    before = set(sys.modules)

    class Project:
        root = tmp_path
        mod = f"fc_cli_{uuid.uuid4().hex[:10]}"
        out = tmp_path / "out"

        def spec(self, body: str, name: str = "spec.toml") -> Path:
            p = tmp_path / name
            p.write_text(textwrap.dedent(body).replace("{mod}", self.mod))
            return p

    p = Project()
    (tmp_path / f"{p.mod}.py").write_text(MODULE)
    yield p
    for name in set(sys.modules) - before:
        if name.startswith("fc_"):
            del sys.modules[name]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("faultcheck: ")
    return lines[0]


HOLDS = """
protocol = "{mod}:Counter"
expected = "holds"
invariants = ["Small"]
[params]
top = 2
"""
FAILS = """
protocol = "{mod}:Counter"
expected = "holds"
invariants = ["Small"]
"""
BOUNDED = """
protocol = "{mod}:Counter"
expected = "holds"
[params]
top = 2
[bounds]
max_states = 1
"""
BASE = 'protocol = "{mod}:Counter"\nexpected = "holds"\n'


# -- every bad input: exit 2, one line naming the file and the problem ------------------------------------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        pytest.param("protocol = \n", "not valid TOML", id="bad-toml"),
        pytest.param("[[x]\n", "not valid TOML", id="bad-toml-table"),
        pytest.param(BASE + "colour = 1\n", "unknown key 'colour'", id="unknown-top-key"),
        pytest.param(BASE + "[bounds]\nmax_minutes = 1\n", "bounds: unknown key 'max_minutes'", id="unknown-bound"),
        pytest.param(BASE + "[bounds]\nmax_states = 0\n", "bounds.max_states: expected a positive number, got 0",
                     id="zero-bound"),
        pytest.param(BASE + "[bounds]\nmax_depth = -3\n", "bounds.max_depth: expected a positive number, got -3",
                     id="negative-bound"),
        pytest.param(BASE + "[bounds]\nmax_seconds = 0.0\n", "bounds.max_seconds: expected a positive number",
                     id="zero-seconds"),
        pytest.param(BASE + "[bounds]\nmax_states = true\n", "bounds.max_states: expected a positive number",
                     id="bool-bound"),
        pytest.param(BASE + "format = 2\n", "format: this faultcheck reads spec format 1, got 2", id="format-2"),
        pytest.param(BASE + 'format = "1"\n', "format: this faultcheck reads spec format 1, got '1'", id="format-str"),
        pytest.param('expected = "holds"\n', "protocol: missing", id="no-protocol"),
        pytest.param('protocol = "{mod}"\nexpected = "holds"\n', 'protocol: expected "module:Class"', id="no-colon"),
        pytest.param('protocol = "a:b:c"\nexpected = "holds"\n', 'protocol: expected "module:Class"', id="two-colons"),
        pytest.param('protocol = ":Counter"\nexpected = "holds"\n', 'protocol: expected "module:Class"', id="no-module"),
        pytest.param('protocol = 7\nexpected = "holds"\n', 'protocol: expected "module:Class", got 7', id="not-str"),
        pytest.param('protocol = "fc_no_such_module_xyz:X"\nexpected = "holds"\n',
                     "no module named 'fc_no_such_module_xyz'", id="unknown-module"),
        pytest.param('protocol = "{mod}:Nope"\nexpected = "holds"\n', "has no 'Nope'", id="no-class"),
        pytest.param('protocol = "{mod}:NotAModel"\nexpected = "holds"\n', "is not a faultcheck Model", id="not-model"),
        pytest.param('protocol = "{mod}:not_a_class"\nexpected = "holds"\n', "is not a faultcheck Model",
                     id="not-class"),
        pytest.param(BASE + "[params]\nwidth = 3\n", "has no parameter 'width' (parameters: top)", id="unknown-param"),
        pytest.param(BASE + '[params]\ntop = "x"\n', "params.top: must be int, got 'x'", id="param-type"),
        pytest.param(BASE + "[params]\ntop = true\n", "params.top: must be int, got True", id="param-bool"),
        pytest.param(BASE + "[params]\ntop = 0\n", "params.top: must be >= 1, got 0", id="param-too-small"),
        pytest.param(BASE + "[params]\ntop = 10\n", "params.top: must be <= 9, got 10", id="param-too-big"),
        pytest.param(BASE + 'invariants = ["Huge"]\n', "unknown invariant 'Huge'", id="unknown-invariant"),
        pytest.param('protocol = "{mod}:Counter"\nexpected = "violated"\nviolates = "Huge"\n',
                     "unknown invariant 'Huge'", id="unknown-violates"),
        pytest.param('protocol = "{mod}:Counter"\n', "expected: missing", id="no-expected"),
        pytest.param('protocol = "{mod}:Counter"\nexpected = "maybe"\n', 'expected: must be "holds" or "violated"',
                     id="expected-maybe"),
        pytest.param('protocol = "{mod}:Counter"\nexpected = true\n', "expected: expected str", id="expected-bool"),
        pytest.param('protocol = "{mod}:Counter"\nexpected = "violated"\n', "violates: required", id="no-violates"),
        pytest.param(BASE + 'violates = "Small"\n', 'violates: only allowed with expected = "violated"',
                     id="violates-with-holds"),
        pytest.param('protocol = "{mod}:Counter"\nexpected = "violated"\nviolates = "Small"\ninvariants = []\n',
                     "violates: 'Small' is not among the invariants checked", id="violates-unchecked"),
        pytest.param(BASE + 'invariants = ["Small", "Small"]\n', "listed twice", id="duplicate-invariant"),
        pytest.param(BASE + 'kind = "simulate"\n', "kind: expected one of search", id="kind"),
        pytest.param(BASE + "params = 3\n", "params: expected dict", id="params-not-table"),
        pytest.param(BASE + 'check_deadlock = "yes"\n', "check_deadlock: expected bool", id="deadlock-str"),
        pytest.param(BASE + "[network]\nloss = 1\n", "only message-passing protocols", id="network-on-model"),
        pytest.param(BASE + "[faults]\ncrashes = 1\n", "only message-passing protocols", id="faults-on-model"),
    ],
)
def test_a_bad_spec_is_exit_2_and_one_line_naming_file_and_problem(proj, capsys, body, needle):
    spec = proj.spec(body)
    code, out, err = run(capsys, "check", spec, "--out", proj.out)
    assert code == 2
    line = one_error_line(err)
    assert str(spec) in line and needle in line, line
    assert out == ""
    assert not proj.out.exists()


def test_a_module_that_raises_on_import_is_one_line(proj, capsys):
    (proj.root / "fc_cli_broken.py").write_text("x = 1\nraise RuntimeError('half-written module')\n")
    spec = proj.spec('protocol = "fc_cli_broken:X"\nexpected = "holds"\n')
    code, out, err = run(capsys, "check", spec, "--out", proj.out)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert str(spec) in line and "RuntimeError" in line and "half-written module" in line


def test_a_module_with_a_syntax_error_is_one_line(proj, capsys):
    (proj.root / "fc_cli_syntax.py").write_text("def f(:\n")
    spec = proj.spec('protocol = "fc_cli_syntax:X"\nexpected = "holds"\n')
    code, _, err = run(capsys, "check", spec, "--out", proj.out)
    assert code == 2
    line = one_error_line(err)
    assert str(spec) in line and "SyntaxError" in line


def test_a_model_whose_setup_raises_is_one_line(proj, capsys):
    (proj.root / "fc_cli_badinit.py").write_text(textwrap.dedent('''
        from checker import Int, Model, action
        class M(Model):
            def variables(self):
                return {"n": Int(0, 1)}
            def init(self):
                raise KeyError("no initial state today")
            @action
            def A(self, s):
                return [s]
    '''))
    spec = proj.spec('protocol = "fc_cli_badinit:M"\nexpected = "holds"\n')
    code, _, err = run(capsys, "check", spec, "--out", proj.out)
    assert code == 2
    line = one_error_line(err)
    assert str(spec) in line and "KeyError" in line and "no initial state today" in line


def test_a_missing_file_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nope" / "missing.toml"
    code, out, err = run(capsys, "check", missing)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert str(missing) in line and "no such file or directory" in line


def test_a_directory_without_specs_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a spec")
    code, out, err = run(capsys, "check", tmp_path)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert str(tmp_path) in line and "no *.toml" in line


def test_a_missing_file_among_good_ones_stops_before_checking_anything(proj, capsys):
    good = proj.spec(HOLDS)
    code, out, err = run(capsys, "check", good, proj.root / "missing.toml", "--out", proj.out)
    assert code == 2 and out == ""
    assert "missing.toml" in one_error_line(err)


@pytest.mark.parametrize(
    "setting, needle",
    [
        pytest.param("top", "--set top: expected NAME=VALUE", id="no-equals"),
        pytest.param("=3", "--set =3: expected NAME=VALUE", id="no-name"),
        pytest.param("1x=3", "--set 1x=3: expected NAME=VALUE", id="bad-name"),
        pytest.param("top=abc", "'abc' is not a TOML value", id="bare-word"),
        pytest.param("top=", "is not a TOML value", id="empty-value"),
        pytest.param("top=" + "[" * 5000, "--set top: not readable TOML: nested deeper than 64", id="deep"),
    ],
)
def test_bad_set_syntax_is_one_line(proj, capsys, setting, needle):
    spec = proj.spec(HOLDS)
    code, out, err = run(capsys, "check", spec, "--set", setting, "--out", proj.out)
    assert code == 2 and out == ""
    assert needle in one_error_line(err)


@pytest.mark.parametrize(
    "setting, needle",
    [
        pytest.param("width=3", "has no parameter 'width'", id="unknown"),
        pytest.param('top="x"', "params.top: must be int, got 'x'", id="wrong-type"),
        pytest.param("top=1.5", "params.top: must be int, got 1.5", id="float"),
        pytest.param("top=0", "params.top: must be >= 1, got 0", id="too-small"),
        pytest.param("top=12", "params.top: must be <= 9, got 12", id="too-big"),
    ],
)
def test_a_bad_set_value_is_one_line_naming_the_spec(proj, capsys, setting, needle):
    spec = proj.spec(HOLDS)
    code, out, err = run(capsys, "check", spec, "--set", setting, "--out", proj.out)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert str(spec) in line and needle in line, line


@pytest.mark.parametrize("setting, needle", [("rms=0", "params.rms: must be >= 1, got 0"),
                                             ('rms="x"', "params.rms: must be int, got 'x'"),
                                             ("rms=31", "params.rms: must be <= 30")])
def test_bad_parameters_of_a_shipped_spec(capsys, tmp_path, setting, needle):
    code, _, err = run(capsys, "check", HOLDS_SPEC, "--set", setting, "--out", tmp_path)
    assert code == 2
    line = one_error_line(err)
    assert "two_phase_commit_tla.toml" in line and needle in line


def test_each_bad_spec_among_several_is_its_own_line_and_the_others_still_run(proj, capsys):
    good = proj.spec(HOLDS, "a.toml")
    bad1 = proj.spec("protocol = \n", "b.toml")
    bad2 = proj.spec(BASE + "colour = 1\n", "c.toml")
    code, out, err = run(capsys, "check", good, bad1, bad2, "--out", proj.out)
    assert code == 2
    errs = err.strip().splitlines()
    assert len(errs) == 2 and str(bad1) in errs[0] and str(bad2) in errs[1]
    assert "Traceback" not in err
    (line,) = out.strip().splitlines()
    assert line.startswith("ok ") and str(good) in line


@pytest.mark.parametrize("argv", [["check", "SPEC", "--max-states", "0"], ["check", "SPEC", "--max-depth", "x"],
                                  ["check", "SPEC", "--max-seconds", "-1"], ["frobnicate"]])
def test_bad_options_exit_2_without_a_traceback(proj, capsys, argv):
    spec = proj.spec(HOLDS)
    with pytest.raises(SystemExit) as e:
        main([str(spec) if a == "SPEC" else a for a in argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "usage: faultcheck" in out


def test_an_unwritable_out_is_one_line(proj, capsys):
    spec = proj.spec(FAILS)
    blocker = proj.root / "afile"
    blocker.write_text("")
    code, _, err = run(capsys, "check", spec, "--out", blocker / "sub")
    assert code == 2
    one_error_line(err)


def test_an_action_that_raises_is_exit_2_with_its_name_and_a_trace(proj, capsys):
    spec = proj.spec('protocol = "{mod}:Boom"\nexpected = "holds"\n')
    code, out, err = run(capsys, "check", spec, "--out", proj.out)
    assert code == 2
    (line,) = out.strip().splitlines()
    assert line.startswith("ERR ") and "action Inc raised ZeroDivisionError: oops in Inc" in line
    assert "ZeroDivisionError" in err
    trace = Trace.load(proj.out / "spec.json")
    assert trace.verdict == "error" and [s.state["n"] for s in trace.steps] == [0, 1]


# -- outcomes, exit codes, --json ----------------------------------------------------------------------------------------


def test_json_prints_only_json_lines_with_the_documented_keys(proj, capsys):
    holds, fails = proj.spec(HOLDS, "a.toml"), proj.spec(FAILS, "b.toml")
    code, out, err = run(capsys, "check", holds, fails, "--json", "--out", proj.out)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    objs = [json.loads(line) for line in lines]  # every line is JSON on its own
    for obj in objs:
        for key in JSON_KEYS:
            assert key in obj, key
        assert isinstance(obj["distinct_states"], int) and isinstance(obj["seconds"], float)
    a, b = objs
    assert (a["spec"], a["verdict"], a["expected"], a["ok"], a["exit_code"]) == (str(holds), "holds", "holds", True, 0)
    assert (a["distinct_states"], a["depth"], a["counterexample"]) == (3, 3, None)
    assert a["states_generated"] >= a["distinct_states"]
    assert (b["verdict"], b["ok"], b["exit_code"], b["property"]) == ("violated", False, 1, "Small")
    assert b["counterexample"] == str(proj.out / "b.json")


def test_json_reports_a_bad_spec_as_a_json_line_and_the_problem_on_stderr(proj, capsys):
    bad = proj.spec("protocol = \n")
    code, out, err = run(capsys, "check", bad, "--json", "--out", proj.out)
    assert code == 2
    obj = json.loads(out)
    assert (obj["spec"], obj["verdict"], obj["ok"], obj["exit_code"]) == (str(bad), "error", False, 2)
    assert "not valid TOML" in obj["message"]
    assert "not valid TOML" in one_error_line(err)


def test_set_rms_5_gives_tlc_numbers(capsys, tmp_path):
    code, out, _ = run(capsys, "check", HOLDS_SPEC, "--set", "rms=5", "--json", "--out", tmp_path)
    assert code == 0
    obj = json.loads(out)
    assert (obj["distinct_states"], obj["depth"]) == (8832, 17)
    assert obj["verdict"] == "holds" and obj["ok"] is True and obj["params"] == {"rms": 5}


def test_the_text_summary_is_one_line_per_spec(capsys, tmp_path):
    code, out, err = run(capsys, "check", HOLDS_SPEC, "--out", tmp_path)
    assert code == 0
    (line,) = out.strip().splitlines()
    assert line.startswith("ok ") and "holds, as expected" in line and "288 states" in line and "depth 11" in line


@pytest.mark.parametrize("bodies, want", [
    ([HOLDS], 0),
    ([HOLDS, HOLDS], 0),
    ([FAILS], 1),
    ([BOUNDED], 3),
    ([HOLDS, FAILS], 1),
    ([HOLDS, BOUNDED], 3),
    ([BOUNDED, FAILS], 1),
    ([FAILS, BOUNDED], 1),
    (["nonsense"], 2),
    ([FAILS, "nonsense"], 2),
    (["nonsense", BOUNDED, FAILS, HOLDS], 2),
])
def test_exit_codes_combine_over_several_specs(proj, capsys, bodies, want):
    specs = [proj.spec(body, f"s{i}.toml") for i, body in enumerate(bodies)]
    code, _, _ = run(capsys, "check", *specs, "--out", proj.out)
    assert code == want


def test_a_directory_checks_every_toml_in_it_sorted(proj, capsys):
    d = proj.root / "dir"
    d.mkdir()
    (d / "b.toml").write_text(FAILS.replace("{mod}", proj.mod))
    (d / "a.toml").write_text(HOLDS.replace("{mod}", proj.mod))
    (d / "readme.md").write_text("x")
    code, out, _ = run(capsys, "check", d, "--json", "--out", proj.out)
    assert code == 1
    assert [Path(json.loads(line)["spec"]).name for line in out.splitlines()] == ["a.toml", "b.toml"]


def test_max_states_makes_a_holding_spec_undetermined_never_holds(capsys, tmp_path):
    code, out, _ = run(capsys, "check", HOLDS_SPEC, "--max-states", "10", "--json", "--out", tmp_path)
    assert code == 3
    obj = json.loads(out)
    assert obj["verdict"] == "undetermined" and obj["ok"] is False and obj["exit_code"] == 3
    assert "max_states" in obj["reason"]
    assert obj["distinct_states"] < 288
    code, out, _ = run(capsys, "check", HOLDS_SPEC, "--max-states", "10", "--out", tmp_path)
    assert code == 3
    (line,) = out.strip().splitlines()
    assert line.startswith("??") and "undetermined: max_states 10 reached" in line and "holds" not in line


def test_max_depth_makes_a_holding_spec_undetermined(capsys, tmp_path):
    code, out, _ = run(capsys, "check", HOLDS_SPEC, "--max-depth", "3", "--json", "--out", tmp_path)
    assert code == 3 and json.loads(out)["verdict"] == "undetermined"


def test_accept_bounds_turns_a_bounded_holds_into_exit_0(proj, capsys):
    spec = proj.spec(BOUNDED.replace('expected = "holds"', 'expected = "holds"\naccept_bounds = true'))
    code, out, _ = run(capsys, "check", spec, "--json", "--out", proj.out)
    obj = json.loads(out)
    assert code == 0 and obj["ok"] is True and obj["verdict"] == "undetermined"


def test_an_unexpected_violation_is_exit_1_with_a_trace_under_out(proj, capsys):
    spec = proj.spec(FAILS)
    code, out, err = run(capsys, "check", spec, "--out", proj.out)
    assert code == 1
    (line,) = out.strip().splitlines()
    written = proj.out / "spec.json"
    assert line.startswith("FAIL") and "violated Small (expected to hold)" in line and str(written) in line
    trace = Trace.load(written)
    assert trace.property == "Small" and trace.verdict == "violated"
    assert [s.state["n"] for s in trace.steps] == [0, 1, 2, 3]  # the shortest path to n = 3
    assert trace.protocol == f"{proj.mod}:Counter" and trace.params == {"top": 3}
    assert sorted(p.name for p in proj.out.iterdir()) == ["spec.json"]


def test_expected_violation_that_holds_is_exit_1(proj, capsys):
    spec = proj.spec('protocol = "{mod}:Counter"\nexpected = "violated"\nviolates = "Small"\n[params]\ntop = 2\n')
    code, out, _ = run(capsys, "check", spec, "--out", proj.out)
    assert code == 1 and "holds, but Small was expected to be violated" in out


def test_expected_violation_without_a_committed_trace_is_exit_0(proj, capsys):
    spec = proj.spec('protocol = "{mod}:Counter"\nexpected = "violated"\nviolates = "Small"\n')
    code, out, _ = run(capsys, "check", spec, "--out", proj.out)
    assert code == 0 and "violated Small, as expected (3 steps)" in out
    assert (proj.out / "spec.json").is_file()


def test_a_deadlock_is_reported_for_a_low_level_model_and_can_be_turned_off(proj, capsys):
    (proj.root / "fc_cli_stuck.py").write_text(textwrap.dedent('''
        from checker import Int, Model, action, invariant
        class Stuck(Model):
            def variables(self):
                return {"n": Int(0, 3)}
            def init(self):
                return {"n": 0}
            @action
            def Inc(self, s):
                return [(s[0] + 1,)] if s[0] < 2 else []
            @invariant
            def Fine(self, state):
                return True
    '''))
    spec = proj.spec('protocol = "fc_cli_stuck:Stuck"\nexpected = "holds"\n')
    code, out, _ = run(capsys, "check", spec, "--json", "--out", proj.out)
    obj = json.loads(out)
    assert code == 1 and obj["property"] == "deadlock"
    code, out, _ = run(capsys, "check", spec, "--no-deadlock", "--json", "--out", proj.out)
    assert code == 0 and json.loads(out)["verdict"] == "holds"


def test_same_module_name_in_two_folders_checks_each_folders_model(tmp_path, capsys):
    name = f"fc_cli_dup_{uuid.uuid4().hex[:8]}"
    body = textwrap.dedent('''
        from checker import Int, Model, action, invariant
        class M(Model):
            def variables(self):
                return {"n": Int(0, 3)}
            def init(self):
                return {"n": 0}
            @action
            def A(self, s):
                return [s]
            @invariant
            def I(self, state):
                return RESULT
    ''')
    try:
        for folder, result, expected in (("d1", "True", 'expected = "holds"'),
                                         ("d2", "False", 'expected = "violated"\nviolates = "I"')):
            (tmp_path / folder).mkdir()
            (tmp_path / folder / f"{name}.py").write_text(body.replace("RESULT", result))
            (tmp_path / folder / "s.toml").write_text(f'protocol = "{name}:M"\n{expected}\n')
        code, out, _ = run(capsys, "check", tmp_path / "d1" / "s.toml", tmp_path / "d2" / "s.toml", "--json",
                           "--out", tmp_path / "out")
        assert [json.loads(line)["verdict"] for line in out.splitlines()] == ["holds", "violated"]
        assert code == 0
    finally:
        sys.modules.pop(name, None)


# -- show ------------------------------------------------------------------------------------------------------------------


def test_show_prints_each_step_with_only_what_changed(capsys):
    code, out, err = run(capsys, "show", EC_CEX, "--color", "never")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "violated: TCConsistent (5 steps)"
    assert "\x1b[" not in out
    # the initial state in full
    start = lines.index("0  initial state")
    assert lines[start + 1:start + 5] == ["     tmState = init", "     tmPrepared = []", "     msgs = []",
                                          "     rmState = {rm1: working, rm2: working, rm3: working}"]
    step3 = out.split("\n3  TMCommit\n")[1].split("\n4 ")[0].splitlines()
    assert step3 == ["     tmState: init -> committed", "     msgs: [Prepared(rm1)] -> [Prepared(rm1), Commit]"]
    step4 = out.split("\n4  RMChooseToAbort(rm2)\n")[1].split("\n5 ")[0].splitlines()
    assert step4 == ["     rmState[rm2]: working -> aborted"]  # a map shows only the key that changed
    # the last step, then why the last state violates TCConsistent (the formula's instance and Z3's core)
    assert out.rstrip().splitlines()[-3:] == [
        "     rmState[rm1]: prepared -> committed",
        "failing instance: i=rm2, j=rm1",
        "violated because: rmState[rm1]=committed, rmState[rm2]=aborted",
    ]


def test_show_with_color(capsys):
    code, out, _ = run(capsys, "show", EC_CEX, "--color", "always")
    assert code == 0 and "\x1b[" in out


def test_show_reads_a_trace_that_check_wrote(proj, capsys):
    spec = proj.spec(FAILS)
    assert run(capsys, "check", spec, "--out", proj.out)[0] == 1
    code, out, _ = run(capsys, "show", proj.out / "spec.json")
    assert code == 0
    assert out.splitlines()[0] == "violated: Small (3 steps)"
    assert "1  Inc" in out and "n: 2 -> 3" in out


@pytest.mark.parametrize("name, make, needle", [
    ("trunc.json", lambda good: good[: len(good) // 2], "not valid JSON (truncated?)"),
    ("empty.json", lambda good: "", "not valid JSON"),
    ("list.json", lambda good: "[1, 2]", "not a trace"),
    ("badformat.json", lambda good: good.replace("faultcheck-trace/1", "faultcheck-trace/9"), "format"),
    ("nosteps.json", lambda good: json.dumps({**json.loads(good), "steps": []}), "steps"),
    ("badstep.json", lambda good: json.dumps({**json.loads(good), "steps": [{"kind": "init"}]}), "steps[0]"),
    ("binary.json", lambda good: b"\xff\xfe\x00garbage", "cannot read"),
])
def test_show_of_a_truncated_or_malformed_trace_is_one_line(tmp_path, capsys, name, make, needle):
    p = tmp_path / name
    data = make(EC_CEX.read_text())
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    code, out, err = run(capsys, "show", p)
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert str(p) in line and needle in line, line


def test_show_of_a_missing_trace_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "show", tmp_path / "none.json")
    assert code == 2 and "no such file" in one_error_line(err)


# -- committed counterexamples: the regression rules ------------------------------------------------------------------------


@pytest.fixture
def regression(tmp_path):
    """The early-commit spec and its counterexample copied into a project of their own."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'copy'\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "counterexamples").mkdir()
    spec = tmp_path / "specs" / "ec.toml"
    spec.write_text(EC_SPEC.read_text().replace("counterexamples/two_phase_commit_tla_early_commit.json",
                                                "counterexamples/ec.json"))
    cex = tmp_path / "counterexamples" / "ec.json"
    shutil.copy(EC_CEX, cex)
    return spec, cex, tmp_path / "out"


def longer_trace() -> Trace:
    """A valid 6-step path to the same violation: rm3 prepares first, then the committed 5 steps."""
    system = from_model(EarlyCommit(rms=3))
    steps = [Step("action", "RMPrepare", ("rm3",)), Step("action", "RMPrepare", ("rm1",)),
             Step("action", "TMRcvPrepared", ("rm1",)), Step("action", "TMCommit"),
             Step("action", "RMChooseToAbort", ("rm2",)), Step("action", "RMRcvCommitMsg", ("rm1",))]
    path = [system.initial[0]]
    for st in steps:
        (nxt,) = system.apply(path[-1], st)
        path.append(nxt)
    trace = build_trace(system, path, protocol="protocols.two_phase_commit_tla:EarlyCommit", property="TCConsistent",
                        verdict="violated", spec="specs/ec.toml")
    assert [s.label for s in trace.steps[1:]] == [s.label for s in steps]
    return trace


def test_the_copied_counterexample_replays(regression, capsys):
    spec, cex, out = regression
    before = cex.read_bytes()
    code, stdout, _ = run(capsys, "check", spec, "--out", out)
    assert code == 0
    assert "violated TCConsistent, as expected; counterexamples/ec.json replays (5 steps)" in stdout
    assert cex.read_bytes() == before
    code, _, _ = run(capsys, "check", spec, "--out", out, "--update")
    assert code == 0 and cex.read_bytes() == before  # --update leaves a good one alone: no churn


def test_a_stale_counterexample_is_exit_1_naming_the_file_and_the_step(regression, capsys):
    spec, cex, out = regression
    trace = json.loads(cex.read_text())
    trace["steps"][2]["state"]["tmPrepared"] = []  # TMRcvPrepared(rm1) now records no change
    cex.write_text(json.dumps(trace))
    code, stdout, _ = run(capsys, "check", spec, "--out", out)
    assert code == 1
    (line,) = stdout.strip().splitlines()
    assert line.startswith("FAIL")
    assert "counterexamples/ec.json no longer replays" in line
    assert "step 2 (TMRcvPrepared(rm1))" in line and "tmPrepared" in line
    assert "--update" in line
    assert json.loads(cex.read_text()) == trace  # not rewritten without --update


def test_a_stale_counterexample_is_rewritten_with_update(regression, capsys):
    spec, cex, out = regression
    trace = json.loads(cex.read_text())
    trace["steps"][4]["state"]["rmState"]["rm2"] = "prepared"
    cex.write_text(json.dumps(trace))
    code, stdout, _ = run(capsys, "check", spec, "--out", out, "--update")
    assert code == 0 and "step 4" in stdout and "rewritten" in stdout
    assert Trace.load(cex).to_json() == Trace.load(EC_CEX).to_json() | {"spec": str(spec)}
    assert run(capsys, "check", spec, "--out", out)[0] == 0


def test_a_renamed_action_in_the_counterexample_is_exit_1(regression, capsys):
    spec, cex, out = regression
    trace = json.loads(cex.read_text())
    trace["steps"][3]["action"] = "TMDecide"
    cex.write_text(json.dumps(trace))
    code, stdout, _ = run(capsys, "check", spec, "--out", out)
    assert code == 1 and "step 3" in stdout and "no action 'TMDecide'" in stdout


def test_a_missing_counterexample_is_exit_1_and_update_writes_it(regression, capsys):
    spec, cex, out = regression
    cex.unlink()
    code, stdout, _ = run(capsys, "check", spec, "--out", out)
    assert code == 1 and "counterexamples/ec.json is missing" in stdout
    assert not cex.exists()
    code, stdout, _ = run(capsys, "check", spec, "--out", out, "--update")
    assert code == 0 and "rewritten" in stdout
    written = Trace.load(cex)
    assert written.property == "TCConsistent" and len(written) == 5
    assert written.to_json() == Trace.load(EC_CEX).to_json() | {"spec": str(spec)}
    before = cex.read_bytes()
    assert run(capsys, "check", spec, "--out", out)[0] == 0
    assert run(capsys, "check", spec, "--out", out, "--update")[0] == 0
    assert cex.read_bytes() == before


def test_a_longer_committed_counterexample_is_exit_1_shorter(regression, capsys):
    spec, cex, out = regression
    longer_trace().save(cex)
    code, stdout, _ = run(capsys, "check", spec, "--out", out)
    assert code == 1
    assert "counterexamples/ec.json has 6 steps; a shorter one (5) exists" in stdout
    code, stdout, _ = run(capsys, "check", spec, "--out", out, "--update")
    assert code == 0 and len(Trace.load(cex)) == 5


def test_a_counterexample_that_no_longer_ends_in_the_violation_is_exit_1(regression, capsys):
    spec, cex, out = regression
    trace = json.loads(cex.read_text())
    trace["steps"] = trace["steps"][:-1]  # replays, but stops before rm1 commits
    cex.write_text(json.dumps(trace))
    code, stdout, _ = run(capsys, "check", spec, "--out", out)
    assert code == 1 and "replays but no longer ends in a violation of TCConsistent" in stdout


def test_a_malformed_counterexample_is_exit_1_naming_it(regression, capsys):
    spec, cex, out = regression
    cex.write_text(cex.read_text()[:200])
    code, stdout, err = run(capsys, "check", spec, "--out", out)
    assert code == 1 and "ec.json" in stdout and "not valid JSON" in stdout
    assert "Traceback" not in err


def test_a_counterexample_for_other_parameters_is_not_compared(regression, capsys):
    spec, cex, out = regression
    before = cex.read_bytes()
    code, stdout, _ = run(capsys, "check", spec, "--set", "rms=2", "--out", out, "--update")
    assert code == 0 and "not compared" in stdout
    assert cex.read_bytes() == before  # --update with other parameters leaves the committed trace alone


# -- the real command --------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_command_runs_as_a_process_over_specs(tmp_path):
    specs = sorted(SPECS.glob("*.toml"))
    proc = subprocess.run([sys.executable, "-m", "checker", "check", "specs/", "-q", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)  # a guard against a hang: lease_ok alone takes 40-100 s
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if not line.startswith(" ")]
    assert len(lines) == len(specs)
    for line, spec in zip(lines, specs):
        assert line.startswith("ok ") and f"specs/{spec.name}:" in line, line
    assert "Traceback" not in proc.stderr


def test_simplest_writes_the_fewest_faults_trace_next_to_the_new_one(tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "check", str(ROOT / "specs" / "primary_backup_ack_early.toml"), "--simplest",
                          "--out", str(out), "-q")
    assert code == 0
    written = out / "primary_backup_ack_early.simplest.json"
    assert f"fewest faults: 5 steps with 1 fault (violating NoLostWrite; the shortest has 1): {written}" in stdout
    t = Trace.load(written)
    assert t.property == "NoLostWrite" and sum(s.kind == "crash" for s in t.steps) == 1
