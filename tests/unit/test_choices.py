"""Steps record the options a handler's `choose` calls returned (`Step.choice`, `TraceStep.choice`): in labels,
in saved traces, in replay (a recorded choice picks the successor; an older trace without one still replays),
in `faultcheck show`, and in `faultcheck graph`, whose message-passing states read as node fields and messages.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker import Int, Message, Node, Protocol, Role, durable, request
from checker.cli import main
from checker.semantics import Step
from checker.semantics.nodes import from_protocol
from checker.spec import check
from checker.spec.graph import state_graph
from checker.spec.run import prepare
from checker.trace import Trace, build_trace, replay

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
TPC_OK = SPECS / "two_phase_commit_ok.toml"
EARLY = SPECS / "two_phase_commit_early_commit.toml"


def prepare_deliveries(system, s, rm: str) -> list[tuple[Step, tuple]]:
    """The (step, successor) pairs of delivering the TM's Prepare to `rm` in s."""
    return [(step, t) for step, t in system.labelled_successors(s)
            if step.kind == "deliver" and step.action == "Prepare" and step.params[1] == rm]


def rm_state(system, t: tuple, rm: str) -> str:
    return system.schema.to_json(t)[rm]["state"]


# -- steps ------------------------------------------------------------------------------------------------------------


def test_two_successors_that_differ_only_by_the_choice_have_different_steps_and_labels():
    system, _ = prepare(TPC_OK, {"rms": 2})
    (s,) = system.initial
    pairs = prepare_deliveries(system, s, "rm1")
    assert len(pairs) == 2 and pairs[0][1] != pairs[1][1]
    (a, _), (b, _) = pairs
    assert (a.kind, a.action, a.params) == (b.kind, b.action, b.params)  # the same delivery ...
    assert a != b and a.label != b.label  # ... told apart by the choice
    for step, t in pairs:  # the recorded option is the one the RM acted on
        (option,) = step.choice
        assert rm_state(system, t, "rm1") == {"prepare": "prepared", "abort": "aborted"}[option]
        assert step.label.endswith(f"(chose {option})")
        assert step.without_choice().label == Step("deliver", "Prepare", step.params).label
        assert step.label.startswith(step.without_choice().label)


def test_find_step_names_the_choice_that_leads_to_the_state():
    system, _ = prepare(TPC_OK, {"rms": 2})
    (s,) = system.initial
    for step, t in prepare_deliveries(system, s, "rm2"):
        assert system.find_step(s, t) == step


def test_a_step_that_makes_no_choice_records_none():
    system, _ = prepare(TPC_OK, {"rms": 1})
    (s,) = system.initial
    (timer,) = [st for st, _ in system.labelled_successors(s) if st.kind == "timer"]
    assert timer.choice == () and "chose" not in timer.label
    assert "choice" not in timer.to_json()


def test_the_early_commit_counterexample_records_the_rm_that_chose_abort():
    r = check(EARLY, out=None)
    assert r.verdict.value == "violated"
    votes = [st for st in r.trace.steps[1:] if st.kind == "deliver" and st.action == "Prepare"]
    assert votes
    for st_ in votes:
        rm = st_.params[1]
        # the recorded option agrees with what the RM did in the recorded state
        assert st_.choice == (("abort",) if st_.state[rm]["state"] == "aborted" else ("prepare",))
    aborted = [st_ for st_ in votes if st_.choice == ("abort",)]
    assert aborted, "the counterexample needs an RM that votes no"
    assert all("chose abort" in st_.label for st_ in aborted)


# -- traces -----------------------------------------------------------------------------------------------------------


def two_way_traces(system) -> dict[str, Trace]:
    """Per option, the one-step trace in which rm1 receives Prepare and takes it."""
    (s,) = system.initial
    out = {}
    for step, t in prepare_deliveries(system, s, "rm1"):
        out[step.choice[0]] = build_trace(system, [s, t], protocol="p", property=None, verdict="bounded")
    assert set(out) == {"prepare", "abort"}
    return out


def test_a_saved_trace_keeps_the_choice_and_replays_to_the_same_states(tmp_path):
    r = check(EARLY, out=None)
    path = r.trace.save(tmp_path / "t.json")
    raw = json.loads(path.read_text())
    chosen = [s for s in raw["steps"] if "choice" in s]
    assert chosen and all(isinstance(s["choice"], list) and s["choice"] for s in chosen)
    loaded = Trace.load(path)
    assert [s.choice for s in loaded.steps] == [s.choice for s in r.trace.steps]
    assert [s.label for s in loaded.steps] == [s.label for s in r.trace.steps]
    system, _ = prepare(EARLY)
    rep = replay(system, loaded)
    assert rep.ok, rep.message
    assert [system.schema.to_json(t) for t in rep.path] == [s.state for s in loaded.steps]


def test_the_recorded_choice_picks_the_successor():
    system, _ = prepare(TPC_OK, {"rms": 2})
    traces = two_way_traces(system)
    for option, other in (("prepare", "abort"), ("abort", "prepare")):
        good = Trace.from_json(traces[option].to_json())
        r = replay(system, good)
        assert r.ok and system.schema.to_json(r.path[-1]) == traces[option].steps[1].state
        # the other option, recorded with this option's state: the choice leads elsewhere
        wrong = Trace.from_json(traces[option].to_json())
        wrong.steps[1].choice = (other,)
        r = replay(system, wrong)
        assert not r.ok and r.step == 1 and "differs" in r.message
        # the other option with its own state: replays to the other state
        swapped = Trace.from_json(traces[option].to_json())
        swapped.steps[1].choice = (other,)
        swapped.steps[1].state = traces[other].steps[1].state
        r = replay(system, swapped)
        assert r.ok and system.schema.to_json(r.path[-1]) == traces[other].steps[1].state


def test_a_choice_the_handler_does_not_offer_is_one_line_naming_the_offers():
    system, _ = prepare(TPC_OK, {"rms": 2})
    t = two_way_traces(system)["abort"]
    t.steps[1].choice = ("maybe",)
    r = replay(system, t)
    assert not r.ok and r.step == 1
    assert "maybe" in r.message and "prepare" in r.message and "abort" in r.message and "\n" not in r.message


def test_an_old_trace_without_choices_still_loads_and_replays():
    system, _ = prepare(TPC_OK, {"rms": 2})
    for option, trace in two_way_traces(system).items():
        obj = trace.to_json()
        for s in obj["steps"]:
            s.pop("choice", None)
            if "label" in s:
                s["label"] = Step(s["kind"], s["action"], tuple(s["params"])).label  # as it was written then
        old = Trace.from_json(obj)
        assert all(s.choice == () for s in old.steps)
        r = replay(system, old)  # either outcome of the delivery may be the recorded one
        assert r.ok, r.message
        assert system.schema.to_json(r.path[-1])["rm1"]["state"] == {"prepare": "prepared", "abort": "aborted"}[option]


def test_the_committed_counterexample_reproduces_with_and_without_its_choices():
    from checker.spec.load import load_spec
    from checker.spec.run import replay_properties
    from checker.trace import reproduce

    spec = load_spec(EARLY)
    system, _ = prepare(EARLY)
    props = replay_properties(spec, spec.instantiate(), system)
    obj = json.loads((ROOT / spec.counterexample).read_text())
    for s in obj["steps"]:
        s.pop("choice", None)
    for trace in (Trace.load(ROOT / spec.counterexample), Trace.from_json(obj)):
        r = reproduce(system, trace, props)
        assert r.ok, r.message


@pytest.mark.parametrize("bad, needle", [({"choice": "abort"}, "choice"), ({"choice": [1]}, "choice")])
def test_a_malformed_choice_is_a_trace_error(bad, needle):
    from checker.trace import TraceError

    system, _ = prepare(TPC_OK, {"rms": 2})
    obj = two_way_traces(system)["abort"].to_json()
    obj["steps"][1].update(bad)
    with pytest.raises(TraceError, match=needle):
        Trace.from_json(obj, "t.json")


def test_show_prints_the_choice(tmp_path, capsys):
    r = check(EARLY, out=None)
    path = r.trace.save(tmp_path / "t.json")
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    for st_ in r.trace.steps[1:]:
        if st_.choice:
            assert f"(chose {', '.join(st_.choice)})" in out
    assert "(chose abort)" in out


def test_the_message_sequence_chart_rows_carry_the_choice():
    from checker.trace.msc import to_dot

    r = check(EARLY, out=None)
    dot = to_dot(r.trace)
    for st_ in r.trace.steps[1:]:
        assert st_.label in dot
    assert "(chose abort)" in dot


# -- the state graph --------------------------------------------------------------------------------------------------


def expected_states(spec: Path, params: dict) -> Counter:
    """Independently of the graph: per reachable state, rm1's state and the messages in flight, as text."""
    system, _ = prepare(spec, params)
    seen, todo = set(system.initial), list(system.initial)
    while todo:
        s = todo.pop()
        for a in system.actions:
            for t in a.successors(s):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
    out: Counter = Counter()
    for s in seen:
        j = system.schema.to_json(s)
        msgs = Counter(f"{e['msg']['type']} {e['src']}→{e['dst']}" for e in j["network"])
        out[(f"rm1.state={j['rm1']['state']}", frozenset(msgs.items()))] += 1
    return out


def test_graph_labels_message_passing_states_by_node_fields_and_messages():
    text = state_graph(TPC_OK, params={"rms": 1}, fmt="graphml")
    g = nx.read_graphml(io.BytesIO(text.encode()))
    labels = [d["label"] for _, d in g.nodes(data=True)]
    for label in labels:
        assert "network" not in label and "channels" not in label and "Envelope" not in label
        assert any(line.startswith("rm1.state=") for line in label.splitlines())
        assert any(line.startswith("tm1.decision=") for line in label.splitlines())
    got: Counter = Counter()
    for label in labels:
        lines = label.splitlines()
        (rm1,) = [x for x in lines if x.startswith("rm1.")]
        msgs: Counter = Counter()
        for x in lines:
            if "→" in x:
                text_, _, copies = x.partition(" ×")
                msgs[text_] += int(copies or 1)
        got[(rm1, frozenset(msgs.items()))] += 1
    assert got == expected_states(TPC_OK, {"rms": 1})
    edges = [d["label"] for _, _, d in g.edges(data=True)]
    assert "Prepare tm1→rm1 (chose prepare)" in edges and "Prepare tm1→rm1 (chose abort)" in edges


def test_graph_labels_fifo_channels_as_messages():
    text = state_graph(SPECS / "checkpoint_uncoordinated.toml", fmt="graphml")
    g = nx.read_graphml(io.BytesIO(text.encode()))
    labels = "\n".join(d["label"] for _, d in g.nodes(data=True))
    assert "channels" not in labels and "p1→p2: " not in labels  # not the raw map of queues
    assert "Transfer p1→p2" in labels and "p1.tokens=" in labels
    assert "transfer()@p1 (chose p2)" in {d["label"] for _, _, d in g.edges(data=True)}  # where p1's transfer goes


def test_graph_of_a_low_level_model_keeps_its_variables():
    dot = state_graph(SPECS / "two_phase_commit_tla.toml", params={"rms": 1})
    assert "rmState=" in dot and "chose" not in dot


# -- a property: successors that differ have labels that differ -------------------------------------------------------


class Nothing(Message):
    """(A protocol declares at least one message.)"""


def chooser(first: list[int], second: list[int] | None) -> Protocol:
    """One node whose request sets its fields from one or two `choose` calls over the given options."""

    class Picker(Node):
        a = durable(Int(0, 7), initial=0)
        b = durable(Int(0, 7), initial=0)

        @request
        def pick(self):
            self.a = self.choose(first)
            if second is not None:
                self.b = self.choose(second)

    class Picking(Protocol):
        n = Role(Picker, 1)
        messages = (Nothing,)

    return Picking()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 7), min_size=1, max_size=5),
       st.none() | st.lists(st.integers(0, 7), min_size=1, max_size=4))
def test_successors_of_a_handler_that_differ_have_different_labels(first, second):
    system = from_protocol(chooser(first, second))
    (s,) = system.initial
    pairs = [(step, t) for step, t in system.labelled_successors(s) if step.kind == "request"]
    assert len(pairs) == len(first) * (len(second) if second else 1)  # one successor per branch
    by_label: dict[str, set] = {}
    for step, t in pairs:
        by_label.setdefault(step.label, set()).add(t)
        view = system.schema.to_json(t)["n1"]
        assert step.choice == ((str(view["a"]),) if second is None else (str(view["a"]), str(view["b"])))
        assert step.label.endswith(f"(chose {', '.join(step.choice)})")
    assert all(len(states) == 1 for states in by_label.values())  # one label, one state
    assert len(by_label) == len({t for _, t in pairs})  # and differing states, differing labels
