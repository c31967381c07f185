"""checker/trace: the JSON format (to_json/from_json/save/load), building a trace from a path,
replay and the first step that no longer matches, and the text view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.semantics import Step, from_model
from checker.trace import FORMAT, Trace, TraceError, TraceStep, build_trace, render_text, replay
from protocols.two_phase_commit_tla import EarlyCommit, TwoPhase

ROOT = Path(__file__).resolve().parents[2]
CEX = ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json"
LABELS = ["RMPrepare(rm1)", "TMRcvPrepared(rm1)", "TMCommit", "RMChooseToAbort(rm2)", "RMRcvCommitMsg(rm1)"]


@pytest.fixture
def trace() -> Trace:
    return Trace.load(CEX)


@pytest.fixture(scope="module")
def system():
    return from_model(EarlyCommit(rms=3))


def copy(t: Trace) -> Trace:
    return Trace.from_json(json.loads(json.dumps(t.to_json())))


# -- the format ---------------------------------------------------------------------------------------------------------------


def test_the_committed_counterexample_loads(trace):
    assert trace.protocol == "protocols.two_phase_commit_tla:EarlyCommit"
    assert trace.params == {"rms": 3} and trace.property == "TCConsistent" and trace.verdict == "violated"
    assert len(trace) == 5 and len(trace.steps) == 6
    assert trace.steps[0].kind == "init" and trace.steps[0].label == "initial state"
    assert [s.label for s in trace.steps[1:]] == LABELS
    assert trace.steps[2].action == "TMRcvPrepared" and trace.steps[2].params == ("rm1",)


def test_round_trip_through_to_json_and_from_json(trace):
    obj = trace.to_json()
    assert obj["format"] == FORMAT == "faultcheck-trace/1"
    again = Trace.from_json(json.loads(json.dumps(obj)))
    assert again == trace
    assert again.to_json() == obj


def test_round_trip_through_save_and_load(trace, tmp_path):
    p = trace.save(tmp_path / "deep" / "er" / "t.json")
    assert p == tmp_path / "deep" / "er" / "t.json"
    assert Trace.load(p) == trace
    assert json.loads(p.read_text()) == trace.to_json()
    assert [q.name for q in p.parent.iterdir()] == ["t.json"]  # no temporary file left behind
    p2 = trace.save(p)  # overwriting is fine
    assert Trace.load(p2) == trace


def test_the_file_on_disk_is_the_committed_form(trace, tmp_path):
    # saving what was loaded gives back the committed file byte for byte: no churn
    p = trace.save(tmp_path / "t.json")
    assert p.read_text() == CEX.read_text()


def test_steps_are_named_not_numbered(trace):
    obj = trace.to_json()
    assert set(obj["steps"][0]) == {"kind", "state"}
    for st in obj["steps"][1:]:
        assert set(st) == {"kind", "action", "params", "label", "state"}
        assert isinstance(st["params"], list)
    assert obj["steps"][3]["label"] == "TMCommit" and obj["steps"][3]["params"] == []


def test_reserved_keys_survive_a_round_trip(trace):
    obj = trace.to_json()
    obj["loop"] = 2
    obj["violation_core"] = ["rmState"]
    obj["reason"] = "why"
    obj["steps"][1]["sent"] = [{"msg": "x", "at": 1}]
    obj["steps"][2]["permutation"] = {"rm1": "rm2"}
    t = Trace.from_json(obj)
    assert t.reason == "why" and t.extra == {"loop": 2, "violation_core": ["rmState"], "types": obj["types"]}
    again = t.to_json()
    assert again["loop"] == 2 and again["violation_core"] == ["rmState"] and again["reason"] == "why"
    assert again["steps"][1]["sent"] == [{"msg": "x", "at": 1}] and again["steps"][2]["permutation"] == {"rm1": "rm2"}


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda o: o.pop("format"), "format: expected 'faultcheck-trace/1', got None"),
        (lambda o: o.__setitem__("format", "faultcheck-trace/2"), "format: expected 'faultcheck-trace/1'"),
        (lambda o: o.__setitem__("format", 1), "format"),
        (lambda o: o.__setitem__("colour", 1), "unknown key 'colour'"),
        (lambda o: o.pop("protocol"), "protocol: missing or not a str"),
        (lambda o: o.__setitem__("params", []), "params: missing or not a dict"),
        (lambda o: o.pop("steps"), "steps: missing or not a list"),
        (lambda o: o.pop("verdict"), "verdict: missing or not a str"),
        (lambda o: o.__setitem__("property", 3), "property: expected a string or null"),
        (lambda o: o.__setitem__("spec", ["x"]), "spec: expected a string or null"),
        (lambda o: o.__setitem__("steps", []), "steps: a trace needs at least its initial state"),
        (lambda o: o["steps"].__setitem__(0, "init"), "steps[0]: expected an object with a \"state\" object"),
        (lambda o: o["steps"][2].pop("state"), "steps[2]: expected an object"),
        (lambda o: o["steps"][0].__setitem__("kind", "action"), "steps[0]: kind: the first step, and only it"),
        (lambda o: o["steps"][3].__setitem__("kind", "init"), "steps[3]: kind: the first step, and only it"),
        (lambda o: o["steps"][1].pop("action"), "steps[1]: needs a \"kind\" and an \"action\" string"),
        (lambda o: o["steps"][1].__setitem__("params", [1]), "steps[1]: params: expected a list of strings"),
        (lambda o: o["steps"][1].__setitem__("params", "rm1"), "steps[1]: params: expected a list of strings"),
        (lambda o: o["steps"][1].__setitem__("index", 4), "steps[1]: unknown key 'index'"),
    ],
)
def test_malformed_traces_are_one_line_errors_naming_the_file(trace, mutate, needle):
    obj = trace.to_json()
    mutate(obj)
    with pytest.raises(TraceError) as e:
        Trace.from_json(obj, "t.json")
    msg = str(e.value)
    assert msg.startswith("t.json: ") and needle in msg and "\n" not in msg, msg


def test_a_trace_must_be_a_json_object():
    with pytest.raises(TraceError, match="not a trace"):
        Trace.from_json([1, 2], "x.json")


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(TraceError, match="no such file"):
        Trace.load(tmp_path / "none.json")
    p = tmp_path / "trunc.json"
    p.write_text(CEX.read_text()[:300])
    with pytest.raises(TraceError) as e:
        Trace.load(p)
    assert str(e.value).startswith(str(p)) and "not valid JSON (truncated?)" in str(e.value)
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(TraceError, match="cannot read"):
        Trace.load(p)
    with pytest.raises(TraceError, match="cannot read"):
        Trace.load(tmp_path)  # a directory


def test_build_trace_labels_each_step(system):
    steps = [Step("action", "RMPrepare", ("rm2",)), Step("action", "RMChooseToAbort", ("rm1",)),
             Step("action", "TMAbort")]
    path = [system.initial[0]]
    for st in steps:
        (nxt,) = system.apply(path[-1], st)
        path.append(nxt)
    t = build_trace(system, path, protocol="p:Q", property=None, verdict="holds", spec="s.toml", reason="r")
    assert [s.label for s in t.steps] == ["initial state", "RMPrepare(rm2)", "RMChooseToAbort(rm1)", "TMAbort"]
    assert t.params == {"rms": 3} and t.protocol == "p:Q" and t.spec == "s.toml" and t.reason == "r"
    assert t.steps[-1].state["tmState"] == "aborted" and t.steps[-1].state["msgs"] == [{"type": "Prepared", "rm": "rm2"}, {"type": "Abort"}]
    assert replay(system, t).ok


def test_build_trace_rejects_a_path_no_action_connects(system):
    s0 = system.initial[0]
    (s1,) = system.apply(s0, Step("action", "RMPrepare", ("rm1",)))
    (s2,) = system.apply(s1, Step("action", "TMRcvPrepared", ("rm1",)))
    with pytest.raises(TraceError, match="no action leads"):
        build_trace(system, [s0, s2], protocol="p:Q", property=None, verdict="violated")


def test_trace_step_label_and_json():
    st = TraceStep("action", {"x": 1}, "Send", ("a", "b"))
    assert st.label == "Send(a, b)"
    assert st.to_json() == {"kind": "action", "action": "Send", "params": ["a", "b"], "label": "Send(a, b)",
                            "state": {"x": 1}}
    assert TraceStep("init", {"x": 0}).to_json() == {"kind": "init", "state": {"x": 0}}


# -- replay -------------------------------------------------------------------------------------------------------------------


def test_the_committed_counterexample_replays(trace, system):
    r = replay(system, trace)
    assert r.ok and r.step is None and r.message == ""
    assert len(r.path) == len(trace.steps)
    assert r.path[0] in system.initial
    assert [system.schema.to_json(s) for s in r.path] == [st.state for st in trace.steps]


@pytest.mark.parametrize("index", [1, 2, 3, 4, 5])
def test_replay_reports_the_first_step_whose_state_was_edited(trace, system, index):
    edited = copy(trace)
    for st in edited.steps[index:]:  # from there on every state says so
        st.state["rmState"]["rm3"] = "aborted"
    r = replay(system, edited)
    assert not r.ok and r.step == index
    assert r.message.startswith(f"step {index} ({LABELS[index - 1]}): the state differs")
    assert r.message.endswith('rmState.rm3 recorded "aborted", replay gives "working"')  # rm3 never acts in the trace
    assert len(r.path) == index  # the states that did match


def test_replay_names_the_variable_that_differs(trace, system):
    edited = copy(trace)
    edited.steps[3].state["tmState"] = "aborted"
    r = replay(system, edited)
    assert not r.ok and r.step == 3
    assert 'tmState recorded "aborted", replay gives "committed"' in r.message
    assert "rmState" not in r.message


def test_replay_reports_a_renamed_action(trace, system):
    renamed = copy(trace)
    renamed.steps[2].action = "TMReceivePrepared"
    r = replay(system, renamed)
    assert not r.ok and r.step == 2
    assert "step 2 (TMReceivePrepared(rm1)): the model has no action 'TMReceivePrepared'" == r.message


def test_replay_reports_a_step_that_is_not_enabled(trace, system):
    # the first step becomes "rm1 receives Commit", which needs a Commit message that is not there yet
    bad = copy(trace)
    bad.steps[1].action = "RMRcvCommitMsg"
    r = replay(system, bad)
    assert not r.ok and r.step == 1 and "step 1 (RMRcvCommitMsg(rm1)): not enabled in the state before it" == r.message


def test_replay_against_the_fixed_model_fails_where_the_bug_was(trace):
    r = replay(from_model(TwoPhase(rms=3)), trace)  # the correct TM waits for every RM
    assert not r.ok and r.step == 3 and "not enabled" in r.message and "TMCommit" in r.message


def test_replay_with_parameters_that_change_the_action(trace, system):
    bad = copy(trace)
    bad.steps[4].params = ("rm3",)  # rm3 aborts instead of rm2: enabled, but not the recorded state
    r = replay(system, bad)
    assert not r.ok and r.step == 4 and "the state differs" in r.message


def test_replay_reports_a_state_that_does_not_fit_the_model(trace):
    r = replay(from_model(EarlyCommit(rms=4)), trace)  # rm4 is missing from every recorded state
    assert not r.ok and r.step == 0 and "does not fit the model" in r.message
    bad = copy(trace)
    bad.steps[2].state["tmState"] = "thinking"
    r = replay(from_model(EarlyCommit(rms=3)), bad)
    assert not r.ok and r.step == 2 and "does not fit the model" in r.message


def test_replay_reports_an_initial_state_that_is_not_initial(trace, system):
    bad = copy(trace)
    bad.steps[0].state["tmState"] = "committed"
    r = replay(system, bad)
    assert not r.ok and r.step == 0 and "not an initial state" in r.message and r.path == ()


def test_a_self_loop_step_replays(trace, system):
    longer = copy(trace)
    again = copy(trace).steps[2]  # TMRcvPrepared(rm1) a second time changes nothing
    longer.steps.insert(3, again)
    assert replay(system, longer).ok


# -- the text view -------------------------------------------------------------------------------------------------------------


def test_text_has_a_header_the_initial_state_and_each_step(trace):
    text = render_text(trace)
    lines = text.splitlines()
    assert lines[0] == "violated: TCConsistent (5 steps)"
    assert lines[1] == "0  initial state"
    assert lines[2:6] == ["     tmState = init", "     tmPrepared = []", "     msgs = []",
                          "     rmState = {rm1: working, rm2: working, rm3: working}"]
    assert [line for line in lines if not line.startswith(" ")][1:-2] == \
        ["0  initial state"] + [f"{i}  {label}" for i, label in enumerate(LABELS, 1)]
    assert lines[-1] == "violated because: rmState[rm1]=committed, rmState[rm2]=aborted"  # stored by the check


def test_text_shows_only_what_changed_in_each_step(trace):
    lines = render_text(trace).splitlines()

    def changes(i: int) -> list[str]:
        start = lines.index(f"{i}  {LABELS[i - 1]}")
        out = []
        for line in lines[start + 1:]:
            if not line.startswith(" "):
                break
            out.append(line.strip())
        return out

    assert changes(1) == ["msgs: [] -> [Prepared(rm1)]", "rmState[rm1]: working -> prepared"]
    assert changes(2) == ["tmPrepared: [] -> [rm1]"]
    assert changes(3) == ["tmState: init -> committed", "msgs: [Prepared(rm1)] -> [Prepared(rm1), Commit]"]
    assert changes(4) == ["rmState[rm2]: working -> aborted"]
    assert changes(5) == ["rmState[rm1]: prepared -> committed"]


def test_text_says_when_a_step_changes_nothing(trace, system):
    longer = copy(trace)
    longer.steps.insert(3, copy(trace).steps[2])
    lines = render_text(longer).splitlines()
    i = lines.index("3  TMRcvPrepared(rm1)")
    assert lines[i + 1].strip() == "(no change)"
    assert lines[0] == "violated: TCConsistent (6 steps)"


def test_text_of_a_small_hand_made_trace():
    t = Trace("m:M", {}, [TraceStep("init", {"x": 0, "y": [1, 2, 3]}),
                          TraceStep("action", {"x": 1, "y": [1, 2, 3]}, "inc"),
                          TraceStep("action", {"x": 1, "y": [2, 3, 4]}, "shift")], None, "error", reason="boom")
    assert render_text(t).splitlines() == [
        "error (2 steps)",
        "  boom",
        "0  initial state",
        "     x = 0",
        "     y = [1, 2, 3]",
        "1  inc",
        "     x: 0 -> 1",
        "2  shift",
        "     y: +[4] -[1] (3 in all)",
    ]
    one = Trace("m:M", {}, [TraceStep("init", {"x": 0}), TraceStep("action", {"x": 1}, "inc")], "P")
    assert render_text(one).splitlines()[0] == "violated: P (1 step)"


def test_text_marks_where_a_cycle_starts(trace):
    t = copy(trace)
    t.extra["loop"] = 2
    lines = render_text(t).splitlines()
    assert "2  TMRcvPrepared(rm1)  <- cycle starts here" in lines
    assert sum("cycle starts" in line for line in lines) == 1


def test_text_color_only_when_asked(trace):
    assert "\x1b[" not in render_text(trace)
    colored = render_text(trace, color=True)
    assert "\x1b[31m" in colored and "\x1b[0m" in colored


def test_a_saved_trace_has_the_usual_file_permissions(trace, tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        p = trace.save(tmp_path / "t.json")
    finally:
        os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o644
