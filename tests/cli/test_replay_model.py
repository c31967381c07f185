"""`faultcheck replay TRACE [--spec SPEC] [--set NAME=VALUE]` (no --live): every committed counterexample,
low-level and message-passing, lassos included, replays and shows its violation; a trace cut short, a
property the model lacks, an edited or missing step, a trace for other parameters or another protocol
fail with exit 1 and one line naming what; a malformed trace is exit 2. Also `reproduce` on deadlocks
and errors. Expectations come from the trace files and the specs, not from replay's output."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from checker import Int, Model, Param, action, terminal
from checker.cli import main
from checker.semantics import from_model
from checker.trace import Properties, Trace, build_trace, reproduce

ROOT = Path(__file__).resolve().parents[2]
CX = ROOT / "counterexamples"
TRACES = sorted(CX.glob("*.json"))
NAMES = [p.stem for p in TRACES]


def doc(name: str) -> dict:
    return json.loads((CX / f"{name}.json").read_text())


def replay(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["replay", *args])
    cap = capsys.readouterr()
    return code, cap.out.strip().splitlines(), cap.err.strip().splitlines()


def write(tmp_path: Path, obj: dict, name: str = "t.json") -> str:
    """A modified trace beside the project's specs: the spec it names resolves against the project."""
    obj = {**obj, "spec": str(ROOT / obj["spec"]) if obj.get("spec") else None}
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return str(p)


def test_every_counterexample_is_there_both_kinds_and_lassos():
    kinds = {doc(n)["protocol"] for n in NAMES}
    assert len(TRACES) >= 20
    assert "protocols.two_phase_commit_tla:EarlyCommit" in kinds  # low-level (checker.Model)
    assert "protocols.two_phase_commit:EarlyCommit" in kinds  # message-passing
    assert sum(doc(n).get("loop") is not None for n in NAMES) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_a_committed_counterexample_replays_and_shows_its_violation(capsys, name):
    d = doc(name)
    code, out, err = replay(capsys, str(CX / f"{name}.json"))
    assert code == 0, (out, err)
    assert err == [] and len(out) == 1
    line = out[0]
    assert line.startswith(f"ok   {CX / name}.json: {len(d['steps']) - 1} step")
    if d["property"] == "deadlock":
        assert line.endswith("the final state is a deadlock")
    else:
        assert line.endswith(f"violates {d['property']}")
    if d.get("loop") is not None:
        assert f"the cycle from step {d['loop']} is fair" in line


@pytest.mark.parametrize("name", [n for n in NAMES if doc(n).get("loop") is None])
def test_a_trace_cut_one_step_before_its_violation_is_not_a_counterexample(capsys, tmp_path, name):
    # committed traces are shortest (breadth-first): no state before the last violates the property
    d = doc(name)
    d["steps"] = d["steps"][:-1]
    code, out, _ = replay(capsys, write(tmp_path, d))
    assert code == 1
    if d["property"] == "deadlock":  # some step is still enabled in the state before the last
        assert len(out) == 1 and out[0].startswith(f"FAIL {tmp_path / 't.json'}: the final state is not a deadlock: ")
    else:
        assert out == [f"FAIL {tmp_path / 't.json'}: the final state satisfies {d['property']}"]


@pytest.mark.parametrize("name", [n for n in NAMES if doc(n).get("loop") is not None])
def test_a_lasso_cut_short_no_longer_closes_its_cycle(capsys, tmp_path, name):
    d = doc(name)
    d["steps"] = d["steps"][:-1]
    code, out, _ = replay(capsys, write(tmp_path, d))
    assert code == 1 and len(out) == 1 and "the cycle does not close" in out[0]


def test_a_lasso_judged_under_default_fairness_is_not_fair(capsys, tmp_path):
    # heartbeat_unfair's spec makes Tick unfair; without the spec every action is weakly fair, and Tick
    # is enabled in the crashed state the cycle stutters in
    spec = tomllib.loads((ROOT / "specs" / "heartbeat_unfair.toml").read_text())
    assert spec["fairness"]["Tick"] == "none"
    d = doc("heartbeat_unfair")
    d["spec"] = None
    code, out, _ = replay(capsys, write(tmp_path, d))
    assert code == 1 and len(out) == 1 and "the cycle is not fair: Tick" in out[0]
    code, out, _ = replay(capsys, write(tmp_path, d), "--spec", str(ROOT / "specs" / "heartbeat_unfair.toml"))
    assert code == 0 and out[0].endswith("violates Completeness")


@pytest.mark.parametrize("name", ["two_phase_commit_tla_early_commit", "two_phase_commit_early_commit",
                                  "heartbeat_unfair"])
def test_a_property_the_model_does_not_have_is_exit_1_naming_it(capsys, tmp_path, name):
    d = doc(name)
    d["property"] = d["property"] + "Renamed"
    code, out, err = replay(capsys, write(tmp_path, d))
    assert code == 1 and err == [] and len(out) == 1
    assert out[0].startswith(f"FAIL {tmp_path / 't.json'}: the model has no property '{d['property']}'")
    assert f" {doc(name)['property']}," in out[0] or f" {doc(name)['property']})" in out[0]  # the real one is listed


# the low-level trace: rmState per RM; step 3 (TMCommit) leaves rm3 working
@pytest.mark.parametrize(
    "name, index, edit, field, was",
    [
        ("two_phase_commit_tla_early_commit", 3, ("rmState", "rm3"), "rmState.rm3", "working"),
        ("two_phase_commit_tla_early_commit", 1, ("tmState",), "tmState", "init"),
        ("two_phase_commit_early_commit", 2, ("rm3", "state"), "rm3.state", "working"),
    ],
)
def test_an_edited_recorded_state_fails_at_that_step_naming_the_field(capsys, tmp_path, name, index, edit, field, was):
    d = doc(name)
    node = d["steps"][index]["state"]
    for k in edit[:-1]:
        node = node[k]
    assert node[edit[-1]] == was
    node[edit[-1]] = "aborted"  # a value the schema allows, not the one the step leads to
    label = d["steps"][index]["label"]
    code, out, _ = replay(capsys, write(tmp_path, d))
    assert code == 1 and len(out) == 1
    assert out[0] == (f"FAIL {tmp_path / 't.json'}: step {index} ({label}): the state differs: "
                      f'{field} recorded "aborted", replay gives "{was}"')


@pytest.mark.parametrize("name", NAMES)
def test_a_step_removed_from_the_middle_fails_at_that_step(capsys, tmp_path, name):
    d = doc(name)
    k = len(d["steps"]) // 2
    if k < 1 or k >= len(d["steps"]) - 1 or d["steps"][k]["state"] == d["steps"][k - 1]["state"]:
        pytest.skip("no middle step that changes the state")
    # the step after it now starts from the state before it, which lacks the removed step's effect,
    # so it is either not enabled or leads elsewhere than its recorded state (which has that effect)
    del d["steps"][k]
    if d.get("loop") is not None and d["loop"] > k:
        d["loop"] -= 1
    code, out, _ = replay(capsys, write(tmp_path, d))
    assert code == 1 and len(out) == 1
    label = "stutter" if d["steps"][k]["kind"] == "stutter" else d["steps"][k]["label"]
    assert out[0].startswith(f"FAIL {tmp_path / 't.json'}: step {k} ({label}): ")
    assert "not enabled" in out[0] or "the state differs" in out[0]


def test_a_spec_with_other_params_is_a_mismatch(capsys):
    spec = ROOT / "specs" / "two_phase_commit_tla_early_commit.toml"
    assert doc("two_phase_commit_tla_early_commit")["params"] == {"rms": 3}
    code, out, _ = replay(capsys, str(CX / "two_phase_commit_tla_early_commit.json"), "--spec", str(spec),
                          "--set", "rms=4")
    assert code == 1
    assert out == [f"FAIL {CX / 'two_phase_commit_tla_early_commit.json'}: recorded for rms=3, the spec says rms=4"]


def test_another_spec_of_the_same_protocol_names_the_params_that_differ(capsys):
    recorded = doc("heartbeat_eager")["params"]
    spec = tomllib.loads((ROOT / "specs" / "heartbeat_partition.toml").read_text())
    assert spec["protocol"] == doc("heartbeat_eager")["protocol"]
    keys = sorted(k for k in recorded if recorded[k] != spec["params"][k])
    assert keys  # k, crashes, partitions
    says = spec["params"]
    want = (f"recorded for {', '.join(f'{k}={recorded[k]}' for k in keys)}, "
            f"the spec says {', '.join(f'{k}={says[k]}' for k in keys)}")
    code, out, _ = replay(capsys, str(CX / "heartbeat_eager.json"), "--spec",
                          str(ROOT / "specs" / "heartbeat_partition.toml"))
    assert code == 1 and out == [f"FAIL {CX / 'heartbeat_eager.json'}: {want}"]


def test_a_spec_of_another_protocol_is_a_mismatch(capsys):
    code, out, _ = replay(capsys, str(CX / "two_phase_commit_tla_early_commit.json"), "--spec",
                          str(ROOT / "specs" / "two_phase_commit_tla.toml"))
    assert code == 1 and out == [
        f"FAIL {CX / 'two_phase_commit_tla_early_commit.json'}: recorded for protocol "
        "protocols.two_phase_commit_tla:EarlyCommit, the spec says protocols.two_phase_commit_tla:TwoPhase"]


def test_the_same_spec_with_the_same_params_replays(capsys):
    code, out, _ = replay(capsys, str(CX / "two_phase_commit_early_commit.json"), "--spec",
                          str(ROOT / "specs" / "two_phase_commit_early_commit.toml"), "--set", "rms=3")
    assert code == 0 and out[0].endswith("violates Consistent")


def test_malformed_json_is_exit_2_one_line_naming_the_file(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "faultcheck-trace/1", "steps": ')
    code, out, err = replay(capsys, str(bad))
    assert code == 2 and out == [] and len(err) == 1
    assert err[0].startswith(f"faultcheck: {bad}") and "Traceback" not in err[0]


def test_a_malformed_set_is_exit_2(capsys):
    code, _, err = replay(capsys, str(CX / "tcommit_tla_hasty.json"), "--set", "rms")
    assert code == 2 and len(err) == 1 and "--set rms" in err[0]


def test_json_output(capsys, tmp_path):
    d = doc("tcommit_tla_hasty")
    d["steps"] = d["steps"][:-1]
    code, out, _ = replay(capsys, write(tmp_path, d), "--json")
    assert code == 1 and len(out) == 1
    assert json.loads(out[0]) == {"trace": str(tmp_path / "t.json"), "exit_code": 1, "ok": False, "step": None,
                                  "message": "the final state satisfies TCConsistent"}


# -- reproduce on a deadlock and an error, with a model of our own ------------------------------------------------------


class Stuck(Model):
    """0 -> 1 -> 2, and 2 has no successor; 3 would be the declared end, never reached. With boom = 1,
    Inc raises in state 1."""

    boom = Param(0, "raise in state 1", lo=0, hi=1)

    def variables(self):
        return {"n": Int(0, 3)}

    def init(self):
        return {"n": 0}

    @action
    def Inc(self, s):
        if s[0] == 2:
            return ()
        if s[0] == 1 and self.boom:
            raise ZeroDivisionError("boom")
        return [(s[0] + 1,)]

    @terminal
    def Done(self, state):
        return state.n == 3


def test_a_deadlock_trace_reproduces_only_where_nothing_is_enabled():
    system = from_model(Stuck())
    props = Properties.of(system)
    full = build_trace(system, [(0,), (1,), (2,)], protocol="x:Stuck", property="deadlock", verdict="violated")
    r = reproduce(system, full, props)
    assert r.ok and r.message == "2 steps replayed; the final state is a deadlock"
    cut = build_trace(system, [(0,), (1,)], protocol="x:Stuck", property="deadlock", verdict="violated")
    r = reproduce(system, cut, props)
    assert not r.ok and r.message == "the final state is not a deadlock: Inc is enabled in it"


def test_an_error_trace_reproduces_where_the_model_raises():
    system = from_model(Stuck())
    trace = build_trace(system, [(0,), (1,)], protocol="x:Stuck", property=None, verdict="error")
    r = reproduce(system, trace, Properties.of(system))
    assert not r.ok and r.message == "the final state raises nothing"
    boom = from_model(Stuck(boom=1))
    r = reproduce(boom, trace, Properties.of(boom))
    assert r.ok and r.message == "1 step replayed; the final state raises ZeroDivisionError: boom"


def test_a_state_the_trace_does_not_record_is_named_with_its_field():
    system = from_model(Stuck())
    trace = Trace.from_json(build_trace(system, [(0,), (1,), (2,)], protocol="x:Stuck", property="deadlock",
                                        verdict="violated").to_json())
    trace.steps[2].state["n"] = 3
    r = reproduce(system, trace, Properties.of(system))
    assert not r.ok and r.step == 2 and r.message == 'step 2 (Inc): the state differs: n recorded 3, replay gives 2'


def test_a_spec_the_trace_names_outside_its_project_is_not_loaded(tmp_path, capsys, monkeypatch):
    """Loading a spec imports its protocol's code: a trace cannot point replay at a spec elsewhere."""
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "RAN"
    (evil / "boom.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (evil / "boom.toml").write_text('protocol = "boom:M"\nexpect = "holds"\n')
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text("")
    t = proj / "t.json"
    t.write_text(json.dumps({**doc("two_phase_commit_tla_early_commit"), "spec": str(evil / "boom.toml")}))
    monkeypatch.chdir(proj)
    code, out, err = replay(capsys, str(t))
    assert code == 2 and len(err) == 1
    assert "outside the project root" in err[0] and "--spec" in err[0]
    assert not marker.exists()


@pytest.mark.parametrize("protocol", ["antigravity:Fly", "os:system", "json.decoder:JSONDecoder"])
def test_a_trace_cannot_choose_a_module_from_outside_the_project(tmp_path, capsys, monkeypatch, protocol):
    """Without a spec, replay imports the module the trace names: only from the project (or faultcheck's
    own protocols), found before anything is imported, so data cannot pick code to run."""
    monkeypatch.chdir(tmp_path)
    t = tmp_path / "t.json"
    t.write_text(json.dumps({**doc("two_phase_commit_tla_early_commit"), "spec": None, "protocol": protocol}))
    before = set(__import__("sys").modules)
    code, out, err = replay(capsys, str(t))
    assert code == 2 and len(err) == 1 and "outside this project" in err[0] and str(t) in err[0]
    assert "antigravity" not in set(__import__("sys").modules) - before


def test_a_trace_naming_a_module_of_its_project_replays_without_a_spec(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t = tmp_path / "t.json"
    t.write_text(json.dumps({**doc("two_phase_commit_tla_early_commit"), "spec": None}))  # protocols.… shipped
    code, out, err = replay(capsys, str(t))
    assert code == 0 and err == [] and "violates TCConsistent" in out[0]
