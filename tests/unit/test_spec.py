"""checker/spec: loading and validating spec files, `check()` and how it judges an outcome against
what was expected, `CheckResult`, and combining exit codes."""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import checker
from checker.engine import Verdict
from checker.model.node import Protocol
from checker.spec import CheckResult, Spec, SpecError, check, combine_exit_codes, load_spec, spec_for_model
from checker.spec.load import project_root
from checker.trace import Trace
from protocols.two_phase_commit_tla import EarlyCommit, TwoPhase

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

MODULE = '''
from checker import Int, Model, Param, action, constraint, invariant

class Counter(Model):
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

    @invariant
    def NonNegative(self, state):
        return state.n >= 0

    @constraint
    def Bounded(self, state):
        return state.n <= 9

class Stuck(Counter):
    @action
    def Inc(self, s):
        return [(s[0] + 1,)] if s[0] < 2 else []

class BadParams(Counter):
    def variables(self):
        raise ValueError("cannot lay out")
'''


@pytest.fixture
def proj(tmp_path):
    """tmp_path as a project (pyproject.toml) with a uniquely named model module in specs/."""
    before = set(sys.modules)
    mod = f"fc_spec_{uuid.uuid4().hex[:10]}"
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / f"{mod}.py").write_text(MODULE)

    def write(body: str, name: str = "s.toml") -> Path:
        p = tmp_path / "specs" / name
        p.write_text(textwrap.dedent(body).replace("{mod}", mod))
        return p

    write.root = tmp_path
    write.mod = mod
    yield write
    for name in set(sys.modules) - before:
        if name.startswith("fc_"):
            del sys.modules[name]


BASE = 'protocol = "{mod}:Counter"\nexpected = "holds"\n'


# -- load_spec ------------------------------------------------------------------------------------------------------------


def test_a_shipped_spec_loads_with_every_field():
    spec = load_spec(SPECS / "two_phase_commit_tla_early_commit.toml")
    assert spec.model_class is EarlyCommit
    assert spec.protocol == "protocols.two_phase_commit_tla:EarlyCommit"
    assert spec.invariants == ("TypeOK", "TCConsistent")
    assert (spec.expected, spec.violates) == ("violated", "TCConsistent")
    assert spec.params == {"rms": 3}
    assert spec.root == ROOT and spec.name == "two_phase_commit_tla_early_commit"
    assert spec.counterexample_path() == ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json"
    assert spec.where == str(SPECS / "two_phase_commit_tla_early_commit.toml")
    assert "fails in" in spec.description


def test_defaults(proj):
    spec = load_spec(proj(BASE))
    assert spec.kind == "search" and spec.invariants is None and spec.violates is None
    assert spec.params == {} and spec.bounds == {} and spec.network == {}
    assert spec.check_deadlock is None and spec.accept_bounds is False
    assert spec.counterexample is None and spec.counterexample_path() is None
    assert spec.description == ""


def test_every_key_is_read(proj):
    spec = load_spec(proj(BASE.replace('"holds"', '"violated"') + textwrap.dedent('''
        format = 1
        kind = "search"
        description = "d"
        invariants = ["Small"]
        violates = "Small"
        counterexample = "cex/x.json"
        check_deadlock = false
        accept_bounds = true
        [params]
        top = 5
        [bounds]
        max_states = 10
        max_depth = 3
        max_seconds = 1.5
    ''')))
    assert spec.description == "d" and spec.invariants == ("Small",) and spec.violates == "Small"
    assert spec.check_deadlock is False and spec.accept_bounds is True
    assert spec.params == {"top": 5}
    assert spec.bounds == {"max_states": 10, "max_depth": 3, "max_seconds": 1.5}
    assert spec.counterexample_path() == proj.root / "cex" / "x.json"


@pytest.mark.parametrize(
    "body, needle",
    [
        ("protocol = ", "not valid TOML"),
        (BASE + "colour = 1\n", "unknown key 'colour'"),
        (BASE + "format = 2\n", "format: this faultcheck reads spec format 1, got 2"),
        (BASE + 'kind = "simulate"\n', "kind: expected one of search, induct, got 'simulate'"),
        (BASE + "description = 3\n", "description: expected str, got 3"),
        ('expected = "holds"\n', "protocol: missing"),
        ('protocol = "{mod}"\nexpected = "holds"\n', 'protocol: expected "module:Class"'),
        ('protocol = "fc_spec_nonexistent_mod:X"\nexpected = "holds"\n', "no module named 'fc_spec_nonexistent_mod'"),
        ('protocol = "{mod}:Nope"\nexpected = "holds"\n', "has no 'Nope'"),
        ('protocol = "{mod}:Counter"\n', "expected: missing"),
        ('protocol = "{mod}:Counter"\nexpected = "hold"\n', "expected: must be \"holds\" or \"violated\" for kind = \"search\", got 'hold'"),
        ('protocol = "{mod}:Counter"\nexpected = "violated"\n', "violates: required"),
        (BASE + 'violates = "Small"\n', "violates: only allowed"),
        (BASE + "invariants = [1]\n", "invariants: expected a list of names"),
        (BASE + 'invariants = "Small"\n', "invariants: expected list"),
        (BASE + 'invariants = ["Small", "Small"]\n', "invariants: 'Small' is listed twice"),
        (BASE + 'invariants = ["Bounded"]\n', "unknown invariant 'Bounded'"),  # a constraint, not an invariant
        (BASE + 'invariants = ["Huge"]\n', "(invariants: Small, NonNegative)"),
        ('protocol = "{mod}:Counter"\nexpected = "violated"\nviolates = "Small"\ninvariants = ["NonNegative"]\n',
         "violates: 'Small' is not among the invariants checked"),
        (BASE + "[bounds]\nmax_states = 0\n", "bounds.max_states: expected a positive number, got 0"),
        (BASE + "[bounds]\nmax_depth = 2.5\n", "bounds.max_depth: expected a positive number, got 2.5"),
        (BASE + '[bounds]\nmax_seconds = "1"\n', "bounds.max_seconds: expected a positive number"),
        (BASE + "[bounds]\nstates = 1\n", "bounds: unknown key 'states' (known: max_states, max_depth, max_seconds)"),
        (BASE + "bounds = 1\n", "bounds: expected dict"),
        (BASE + "[params]\nwidth = 1\n", "has no parameter 'width' (parameters: top)"),
        (BASE + "[network]\nin_flight = \"bag\"\n", "network.in_flight: expected one of 'multiset', 'set'"),
        (BASE + "[network]\nloss = -1\n", "network.loss: expected a whole number >= 0"),
        (BASE + "[network]\nspeed = 1\n", "network: unknown key 'speed'"),
        (BASE + "[faults]\ncrashes = \"1\"\n", "faults.crashes: expected int"),
        (BASE + "[faults]\nbyzantine = 1\n", "faults: unknown key 'byzantine'"),
        (BASE + "[faults]\ncrashes = 1\n", "only message-passing protocols have nodes to fail"),
        (BASE + "counterexample = 3\n", "counterexample: expected str"),
        (BASE + "accept_bounds = 1\n", "accept_bounds: expected bool"),
    ],
)
def test_bad_specs_are_one_line_spec_errors_naming_the_file(proj, body, needle):
    path = proj(body)
    with pytest.raises(SpecError) as e:
        load_spec(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ") and needle in msg, msg


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "none.toml")
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "bin.toml")


def test_a_module_that_raises_on_import_is_a_spec_error(proj):
    (proj.root / "specs" / "fc_spec_raises.py").write_text("raise ImportError('nope, not today')\n")
    with pytest.raises(SpecError, match="importing 'fc_spec_raises' raised ImportError: nope, not today"):
        load_spec(proj('protocol = "fc_spec_raises:X"\nexpected = "holds"\n'))
    assert "fc_spec_raises" not in sys.modules


def test_a_module_whose_dependency_is_missing_says_which(proj):
    (proj.root / "specs" / "fc_spec_needs.py").write_text("import fc_spec_not_installed_dep\n")
    with pytest.raises(SpecError) as e:
        load_spec(proj('protocol = "fc_spec_needs:X"\nexpected = "holds"\n'))
    assert "importing 'fc_spec_needs' failed: No module named 'fc_spec_not_installed_dep'" in str(e.value)


def test_a_missing_dependency_whose_name_prefixes_the_module_is_not_reported_as_the_module(proj):
    (proj.root / "specs" / "fc_specdep2.py").write_text("import fc_specdep\n")
    with pytest.raises(SpecError) as e:
        load_spec(proj('protocol = "fc_specdep2:X"\nexpected = "holds"\n'))
    assert "no module named 'fc_specdep2'" not in str(e.value)
    assert "fc_specdep'" in str(e.value)


def test_the_spec_folder_and_the_project_root_are_importable_only_while_loading(proj):
    pkg = proj.root / f"{proj.mod}_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f"from {proj.mod} import Counter as C\n")  # uses the spec folder's module
    before = list(sys.path)
    spec = load_spec(proj(f'protocol = "{proj.mod}_pkg:C"\nexpected = "holds"\n'))
    assert spec.model_class.__name__ == "Counter"
    assert sys.path == before


def test_project_root_is_the_nearest_folder_with_pyproject(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    assert project_root(tmp_path / "a" / "b") == tmp_path
    (tmp_path / "a" / "pyproject.toml").write_text("")
    assert project_root(tmp_path / "a" / "b") == tmp_path / "a"
    assert project_root(ROOT / "specs") == ROOT


def test_without_a_pyproject_the_root_is_the_spec_folders_parent(tmp_path):
    if any((p / "pyproject.toml").is_file() for p in [tmp_path, *tmp_path.parents]):
        pytest.skip("a pyproject.toml above the temporary directory")
    (tmp_path / "x").mkdir()
    assert project_root(tmp_path / "x") == tmp_path


def test_with_params_and_instantiate():
    spec = load_spec(SPECS / "two_phase_commit_tla.toml")
    five = spec.with_params({"rms": 5})
    assert five.params == {"rms": 5} and spec.params == {"rms": 3}
    assert five.instantiate().rms == 5
    with pytest.raises(SpecError, match="params.rms: must be >= 1, got 0"):
        spec.with_params({"rms": 0}).instantiate()


def test_spec_for_model():
    spec = spec_for_model(TwoPhase(rms=4))
    assert spec.path is None and spec.model_class is TwoPhase and spec.params == {"rms": 4}
    assert spec.expected == "holds" and spec.where == "model TwoPhase" and spec.name == "TwoPhase"
    assert spec.protocol == "protocols.two_phase_commit_tla:TwoPhase"
    assert spec_for_model(TwoPhase).params == {}
    with pytest.raises(SpecError, match="neither a spec path nor a faultcheck Model"):
        spec_for_model(object())


def test_the_shipped_protocols_are_models_or_protocols():
    for path in sorted(SPECS.glob("*.toml")):
        spec = load_spec(path)
        assert issubclass(spec.model_class, (checker.Model, Protocol)), path


# -- check() and how it judges ----------------------------------------------------------------------------------------------


def test_check_a_spec_path_that_holds():
    r = check(SPECS / "two_phase_commit_tla.toml", out=None)
    assert isinstance(r, CheckResult)
    assert (r.verdict, r.ok, r.exit_code, r.expected) == (Verdict.HOLDS, True, 0, "holds")
    assert (r.stats.distinct, r.stats.depth) == (288, 11)
    assert r.trace is None and r.counterexample is None and r.written is None
    assert r.message == "holds, as expected" and r.params == {"rms": 3}


def test_check_a_model_class_and_instance_directly(tmp_path):
    r = checker.check(TwoPhase, out=None)
    assert r.ok and r.stats.distinct == 288 and r.spec == "model TwoPhase"
    r = checker.check(TwoPhase(rms=2), out=None)
    assert r.ok and r.params == {"rms": 2}
    r = checker.check(EarlyCommit(rms=3), out=tmp_path, invariants=["TCConsistent"])
    assert (r.verdict, r.ok, r.exit_code, r.property) == (Verdict.VIOLATED, False, 1, "TCConsistent")
    assert r.written == str(tmp_path / "EarlyCommit.json") and Path(r.written).is_file()
    assert len(r.trace) == 5
    r = checker.check(EarlyCommit(rms=3), out=None)  # every invariant: the lemma the early commit breaks first
    assert (r.property, len(r.trace)) == ("CommitOnlyIfAllPrepared", 3)


def test_check_accepts_a_loaded_spec_and_options_override_it(tmp_path):
    spec = load_spec(SPECS / "two_phase_commit_tla.toml")
    r = check(spec, params={"rms": 4}, out=None)
    assert r.ok and r.params == {"rms": 4}
    r = check(spec, invariants=["TypeOK"], out=None)
    assert r.ok
    with pytest.raises(SpecError, match="unknown invariant 'Nope'"):
        check(spec, invariants=["Nope"], out=None)
    with pytest.raises(SpecError, match="has no parameter|unknown parameter|width"):
        check(spec, params={"width": 1}, out=None)


def test_an_unexpected_violation_writes_the_trace_under_out(proj, tmp_path):
    out = tmp_path / "traces"
    r = check(proj(BASE + 'invariants = ["Small"]\n', "boom.toml"), out=out)
    assert (r.verdict, r.ok, r.exit_code, r.property) == (Verdict.VIOLATED, False, 1, "Small")
    assert r.written == str(out / "boom.json") == r.counterexample
    assert "violated Small (expected to hold)" in r.message and r.written in r.message
    saved = Trace.load(out / "boom.json")
    assert saved.to_json() == r.trace.to_json()
    assert [s.state["n"] for s in saved.steps] == [0, 1, 2, 3]


def test_out_none_writes_nothing(proj, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = check(proj(BASE + 'invariants = ["Small"]\n'), out=None)
    assert not r.ok and r.trace is not None and r.written is None
    assert not (tmp_path / ".faultcheck").exists()
    assert "trace: not written" in r.message


@pytest.mark.parametrize(
    "extra, want",
    [
        ('invariants = ["NonNegative"]\n', (Verdict.HOLDS, True, 0)),
        ('invariants = ["Small"]\n', (Verdict.VIOLATED, False, 1)),
        ('invariants = ["NonNegative"]\n[bounds]\nmax_states = 1\n', (Verdict.UNDETERMINED, False, 3)),
        ('invariants = ["NonNegative"]\naccept_bounds = true\n[bounds]\nmax_states = 1\n', (Verdict.UNDETERMINED, True, 0)),
        ('invariants = ["NonNegative"]\n[bounds]\nmax_depth = 2\n', (Verdict.UNDETERMINED, False, 3)),
        # accept_bounds never hides a violation
        ('invariants = ["Small"]\naccept_bounds = true\n[bounds]\nmax_depth = 10\n', (Verdict.VIOLATED, False, 1)),
    ],
)
def test_judging_expected_holds(proj, extra, want):
    r = check(proj(BASE + extra), out=None)
    assert (r.verdict, r.ok, r.exit_code) == want, r.message


def test_judging_expected_violated(proj):
    V = 'protocol = "{mod}:Counter"\nexpected = "violated"\nviolates = "Small"\n'
    r = check(proj(V), out=None)
    assert (r.ok, r.exit_code, r.property) == (True, 0, "Small")
    assert r.message == "violated Small, as expected (3 steps)"
    r = check(proj(V + "[params]\ntop = 2\n"), out=None)
    assert (r.ok, r.exit_code) == (False, 1) and r.message == "holds, but Small was expected to be violated"
    r = check(proj(V + "[bounds]\nmax_depth = 2\n"), out=None)
    assert (r.verdict, r.ok, r.exit_code) == (Verdict.UNDETERMINED, False, 3)
    # accept_bounds is for "holds" only: a violation that was not found is not accepted
    r = check(proj(V + "accept_bounds = true\n[bounds]\nmax_depth = 2\n"), out=None)
    assert (r.ok, r.exit_code) == (False, 3)


def test_a_different_violation_than_expected_is_exit_1(proj):
    r = check(proj('protocol = "{mod}:Stuck"\nexpected = "violated"\nviolates = "Small"\n'), out=None)
    # Stuck deadlocks at n = 2, before Small can fail
    assert (r.property, r.ok, r.exit_code) == ("deadlock", False, 1)
    assert r.message == "violated deadlock, but Small was expected to be"


def test_deadlock_default_and_override(proj):
    path = proj('protocol = "{mod}:Stuck"\nexpected = "holds"\n')
    r = check(path, out=None)
    assert (r.verdict, r.property, r.exit_code) == (Verdict.VIOLATED, "deadlock", 1)
    assert check(path, check_deadlock=False, out=None).ok
    assert check(proj('protocol = "{mod}:Stuck"\nexpected = "holds"\ncheck_deadlock = false\n', "nd.toml"),
                 out=None).ok
    r = check(proj('protocol = "{mod}:Stuck"\nexpected = "violated"\nviolates = "deadlock"\n', "dl.toml"), out=None)
    assert r.ok and r.property == "deadlock"


def test_setting_up_a_model_that_raises_is_a_spec_error(proj):
    with pytest.raises(SpecError, match="setting up the model raised ValueError: cannot lay out"):
        check(proj('protocol = "{mod}:BadParams"\nexpected = "holds"\n'), out=None)


def test_to_json_has_the_documented_keys():
    r = check(SPECS / "two_phase_commit_tla.toml", out=None)
    obj = r.to_json()
    json.dumps(obj)  # plain JSON
    for key in ("spec", "verdict", "expected", "ok", "exit_code", "message", "distinct_states", "states_generated",
                "depth", "seconds", "states_per_second", "counterexample"):
        assert key in obj
    assert obj["verdict"] == "holds" and obj["distinct_states"] == 288 and obj["depth"] == 11
    assert obj["states_generated"] == r.stats.generated >= 288


def test_the_committed_counterexample_is_not_rewritten_without_update(tmp_path):
    import shutil

    (tmp_path / "pyproject.toml").write_text("")
    for d in ("specs", "counterexamples"):
        (tmp_path / d).mkdir()
    shutil.copy(SPECS / "two_phase_commit_tla_early_commit.toml", tmp_path / "specs")
    cex = tmp_path / "counterexamples" / "two_phase_commit_tla_early_commit.json"
    cex.write_text("{}")
    r = check(tmp_path / "specs" / "two_phase_commit_tla_early_commit.toml", out=None)
    assert (r.ok, r.exit_code) == (False, 1)
    assert r.counterexample == "counterexamples/two_phase_commit_tla_early_commit.json"
    assert cex.read_text() == "{}"
    with pytest.raises(SpecError, match="is not a faultcheck trace"):  # --update overwrites only traces
        check(tmp_path / "specs" / "two_phase_commit_tla_early_commit.toml", out=None, update=True)
    assert cex.read_text() == "{}"
    cex.unlink()
    r = check(tmp_path / "specs" / "two_phase_commit_tla_early_commit.toml", out=None, update=True)
    assert r.ok and len(Trace.load(cex)) == 5


# -- exit codes -----------------------------------------------------------------------------------------------------------------


def test_combine_exit_codes():
    assert combine_exit_codes([]) == 0
    for codes in itertools.product([0, 1, 2, 3], repeat=3):
        want = next((c for c in (2, 1, 3) if c in codes), 0)
        assert combine_exit_codes(list(codes)) == want, codes


def test_spec_is_frozen():
    spec = load_spec(SPECS / "two_phase_commit_tla.toml")
    with pytest.raises(AttributeError):
        spec.expected = "violated"  # type: ignore[misc]
    assert isinstance(spec, Spec)


def test_a_package_loaded_without_a_file_is_not_taken_for_another_of_the_same_name(tmp_path, monkeypatch):
    """An editable install's finder can load a package with __file__ None: it is the same package as the
    one on the spec's path if it lives there, and forgetting it would make every class exist twice."""
    import importlib

    from checker.spec.load import _forget_if_shadowed

    pkg = tmp_path / "fc_nofile_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    m = importlib.import_module("fc_nofile_pkg.m")
    try:
        monkeypatch.setattr(sys.modules["fc_nofile_pkg"], "__file__", None)
        _forget_if_shadowed("fc_nofile_pkg.m", [tmp_path])
        assert sys.modules.get("fc_nofile_pkg.m") is m  # the same package: kept
        other = tmp_path / "elsewhere" / "fc_nofile_pkg"
        other.mkdir(parents=True)
        (other / "__init__.py").write_text("")
        _forget_if_shadowed("fc_nofile_pkg.m", [tmp_path / "elsewhere"])
        assert "fc_nofile_pkg.m" not in sys.modules  # another folder's package of that name: forgotten
    finally:
        for name in [n for n in sys.modules if n.startswith("fc_nofile_pkg")]:
            del sys.modules[name]
