"""The trace format (checker/trace): JSON round trip, replay and its first mismatch, the text view."""

import json
from pathlib import Path

import pytest

from checker.semantics import from_model
from checker.trace import FORMAT, Trace, TraceError, render_text, replay
from protocols.two_phase_commit_tla import EarlyCommit, TwoPhase

ROOT = Path(__file__).resolve().parents[2]
CEX = ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json"


@pytest.fixture
def trace():
    return Trace.load(CEX)


def test_round_trip_through_json_and_files(trace, tmp_path):
    again = Trace.from_json(json.loads(json.dumps(trace.to_json())))
    assert again.to_json() == trace.to_json()
    p = trace.save(tmp_path / "t.json")
    assert Trace.load(p).to_json() == trace.to_json()
    obj = json.loads(p.read_text())
    assert obj["format"] == FORMAT
    for key in ("spec", "protocol", "params", "property", "verdict", "steps"):
        assert key in obj
    assert all("state" in st and "kind" in st for st in obj["steps"])
    assert all("index" not in st and "successor" not in st for st in obj["steps"])  # named, not numbered


def test_reserved_keys_survive_a_round_trip(trace):
    obj = trace.to_json()
    obj["loop"] = 2
    obj["violation_core"] = ["rmState"]
    obj["steps"][1]["sent"] = [{"msg": "x", "at": 1}]
    again = Trace.from_json(obj).to_json()
    assert again["loop"] == 2 and again["violation_core"] == ["rmState"] and again["steps"][1]["sent"]


def test_the_committed_counterexample_replays(trace):
    r = replay(from_model(EarlyCommit(rms=3)), trace)
    assert r.ok and len(r.path) == len(trace.steps)


def test_replay_names_the_first_step_that_no_longer_matches(trace):
    system = from_model(EarlyCommit(rms=3))
    edited = Trace.from_json(trace.to_json())
    edited.steps[3].state["tmState"] = "aborted"
    r = replay(system, edited)
    assert not r.ok and r.step == 3 and "tmState" in r.message

    renamed = Trace.from_json(trace.to_json())
    renamed.steps[2].action = "TMReceive"
    r = replay(system, renamed)
    assert not r.ok and r.step == 2 and "no action 'TMReceive'" in r.message


def test_replay_against_a_fixed_model_fails_where_the_bug_was(trace):
    r = replay(from_model(TwoPhase(rms=3)), trace)  # the correct TM does not commit early
    assert not r.ok and r.step == 3 and "not enabled" in r.message


def test_a_state_that_does_not_fit_the_model_is_reported(trace):
    r = replay(from_model(EarlyCommit(rms=4)), trace)
    assert not r.ok and r.step == 0 and "rm4" in r.message


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda o: o.pop("steps"), "steps"),
        (lambda o: o.__setitem__("steps", []), "at least its initial state"),
        (lambda o: o["steps"][0].__setitem__("kind", "action"), "first step"),
        (lambda o: o["steps"][1].pop("action"), "needs a \"kind\" and an \"action\""),
        (lambda o: o.__setitem__("colour", 1), "unknown key 'colour'"),
        (lambda o: o["steps"][1].__setitem__("params", [1]), "params"),
    ],
)
def test_malformed_traces_are_clear_errors(trace, mutate, needle):
    obj = trace.to_json()
    mutate(obj)
    with pytest.raises(TraceError, match=needle.replace("(", r"\(")):
        Trace.from_json(obj, "t.json")


def test_text_shows_each_step_and_only_what_changed(trace):
    text = render_text(trace)
    lines = text.splitlines()
    assert lines[0] == "violated: TCConsistent (5 steps)"
    assert "1  RMPrepare(rm1)" in lines
    i = lines.index("2  TMRcvPrepared(rm1)")
    assert lines[i + 1].strip() == "tmPrepared: [] -> [rm1]"
    assert lines[i + 2].startswith("3 ")
    assert "\x1b[" not in text and "\x1b[" in render_text(trace, color=True)
