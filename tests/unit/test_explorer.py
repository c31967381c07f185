"""The explorer's session (checker.explorer.session) and its server, without a browser: steps taken by hand,
back/forward/goto against a reference model (Hypothesis), random walks, jumps to the shortest counterexample
and to reachability witnesses, the path exported as a trace that replays, laziness on a large spec, the JSON
API's errors, 127.0.0.1 only, the idle stop, and `faultcheck explore` as a process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.explorer import ExploreError, Session
from checker.explorer.server import Server
from checker.spec.explore import session
from checker.trace import Trace, replay, reproduce
from checker.trace.replay import Properties

ROOT = Path(__file__).resolve().parents[2]
TPC_TLA = ROOT / "specs" / "two_phase_commit_tla.toml"
EARLY = ROOT / "specs" / "two_phase_commit_early_commit.toml"


@pytest.fixture(scope="module")
def tla() -> Session:
    return session(TPC_TLA, {"rms": 2})


def test_the_enabled_steps_are_the_systems_successors_in_order(tla):
    tla.restart()
    assert [(st, t) for st, t in tla.enabled()] == list(tla.system.labelled_successors(tla.system.initial[0]))
    step = tla.take(1)
    assert tla.state == list(tla.system.labelled_successors(tla.path[0]))[1][1]
    assert tla.steps == [step] and tla.position == 1
    with pytest.raises(ExploreError, match="enabled"):
        tla.take(len(tla.enabled()))
    with pytest.raises(ExploreError, match="not enabled"):
        tla.take_label("no such step")


ops = st.lists(st.one_of(st.tuples(st.just("take"), st.integers(0, 50)), st.tuples(st.just("back"), st.just(0)),
                         st.tuples(st.just("forward"), st.just(0)), st.tuples(st.just("goto"), st.integers(0, 12))),
               max_size=25)


@settings(max_examples=40, deadline=None)
@given(ops)
def test_back_forward_and_goto_behave_like_a_browsers_history(tla, script):
    """A reference model: a list of (step, state) and a redo stack. Every path the session holds is a path of
    the system (each step leads from its state to the next), and its trace replays."""
    tla.restart()
    path, redo = [], []  # (step, state) taken; undone, nearest last
    for op, k in script:
        if op == "take":
            enabled = tla.enabled()
            if not enabled:
                continue
            step, t = enabled[k % len(enabled)]
            tla.take(k % len(enabled))
            if redo and redo[-1] == (step, t):
                redo.pop()
            else:
                redo = []
            path.append((step, t))
        elif op == "back":
            assert tla.back() == bool(path)
            if path:
                redo.append(path.pop())
        elif op == "forward":
            assert tla.forward() == bool(redo)
            if redo:
                path.append(redo.pop())
        else:
            if k > len(path) + len(redo):
                with pytest.raises(ExploreError):
                    tla.goto(k)
                continue
            tla.goto(k)
            while len(path) > k:
                redo.append(path.pop())
            while len(path) < k:
                path.append(redo.pop())
        assert tla.steps == [s for s, _ in path]
        assert tla.path[1:] == [t for _, t in path]
        assert tla.position + len(tla.undone) == len(path) + len(redo)
    for s, step, t in zip(tla.path, tla.steps, tla.path[1:]):
        assert t in tla.system.apply(s, step)
    r = replay(tla.system, tla.trace())
    assert r.ok and list(r.path) == tla.path


def test_a_violation_reached_by_hand_is_what_the_trace_records():
    s = session(EARLY)
    cx = Trace.load(ROOT / "counterexamples" / "two_phase_commit_early_commit.json")
    s.jump("counterexample")  # the committed one
    assert [s.system.schema.to_json(x) for x in s.path] == [st.state for st in cx.steps]
    v = s.view()
    assert [p["name"] for p in v["invariants"] if not p["holds"]] == [cx.property]
    assert v["verdict"] == "violated" and v["property"] == cx.property
    trace = s.trace()
    assert (trace.verdict, trace.property) == ("violated", cx.property)
    r = reproduce(s.system, trace, Properties(state={p.name: p.check for p in s.invariants}))
    assert r.ok, r.message
    s.back()
    assert s.view()["verdict"] == "path" and s.trace().property is None
    assert all(p["holds"] for p in s.view()["invariants"])


def test_the_counterexample_jump_searches_when_nothing_is_committed(tmp_path):
    text = EARLY.read_text().replace('counterexample = "counterexamples/two_phase_commit_early_commit.json"', "")
    spec = ROOT / "specs" / ".explore-test-early.toml"  # beside the others: the protocol path resolves alike
    spec.write_text(text)
    try:
        s = session(spec)
        found = s.jump("counterexample")
    finally:
        spec.unlink()
    cx = Trace.load(ROOT / "counterexamples" / "two_phase_commit_early_commit.json")
    assert found.path is not None and len(found.path) == len(cx.steps)  # the shortest: as long as the committed
    assert "shortest counterexample" in found.message
    assert not s.invariants[0].check(s.state)


def test_a_liveness_jump_gives_the_lasso():
    s = session(ROOT / "specs" / "two_phase_commit_blocking.toml")
    found = s.jump("counterexample")
    assert found.loop is not None and s.path[-1] == s.path[found.loop]
    t = s.trace()
    assert t.extra["loop"] == found.loop and t.property == "PreparedRMsDecide"
    assert 'id="loop"' in s.view()["chart"]
    s.back()  # no longer the lasso: an ordinary path
    assert "loop" not in s.trace().extra


def test_a_spec_that_holds_has_no_counterexample_and_the_path_stays(tla):
    s = session(TPC_TLA, {"rms": 2})
    s.take(0)
    before = list(s.path)
    found = s.jump("counterexample")
    assert found.path is None and "no counterexample" in found.message and s.path == before
    assert s.view()["message"] == found.message


def door_spec(tmp_path: Path) -> Path:
    (tmp_path / "doors.py").write_text(textwrap.dedent('''
        from checker import Int, Model, action, invariant, reachable


        class Door(Model):
            def variables(self):
                return {"x": Int(0, 3), "open": Int(0, 1)}

            def init(self):
                return {"x": 0, "open": 0}

            @action
            def Step(self, s):
                return [(s[0] + 1, s[1])] if s[0] < 3 else []

            @action
            def Open(self, s):
                return [(s[0], 1)] if s[1] == 0 and s[0] >= 2 else []

            @invariant
            def Small(self, state):
                return state.x < 3 or state.open == 0

            @reachable
            def AtTwo(self, state):
                return state.x == 2

            @reachable
            def Never(self, state):
                return state.x > 5
    '''))
    spec = tmp_path / "door.toml"
    spec.write_text('format = 1\nprotocol = "doors:Door"\nexpected = "violated"\nviolates = "Small"\n'
                    'check_deadlock = false\n')
    return spec


def faultcheck_replay(trace: Trace, where: Path) -> subprocess.CompletedProcess:
    trace.save(where)
    return subprocess.run([sys.executable, "-m", "checker", "replay", str(where)], cwd=where.parent,
                          capture_output=True, text=True, timeout=120)


def test_witness_jumps_and_walks(tmp_path):
    s = session(door_spec(tmp_path), seed=7)
    assert [j.name for j in s.jumps] == ["counterexample", "witness:AtTwo", "witness:Never"]
    found = s.jump("witness:AtTwo")
    assert found.path is not None and len(found.path) == 3 and s.state == (2, 0)
    assert s.view()["reachables"] == [{"name": "AtTwo", "reached": True}, {"name": "Never", "reached": False}]
    assert s.trace().verdict == "witness"
    assert faultcheck_replay(s.trace(), tmp_path / "witness.json").returncode == 0
    s.back()  # a path that reaches nothing: it replays, claiming only that its steps happen
    assert s.trace().verdict == "path" and faultcheck_replay(s.trace(), tmp_path / "path.json").returncode == 0
    s.jump("witness:AtTwo")
    t = s.trace()
    t.steps[-1].state["x"] = 1  # not where the step leads
    r = faultcheck_replay(t, tmp_path / "bad.json")
    assert r.returncode == 1 and "step 2" in r.stdout + r.stderr
    t.steps[-1].state["x"] = 2
    t.property = "Never"  # the end does not have it
    assert faultcheck_replay(t, tmp_path / "never.json").returncode == 1
    assert s.jump("witness:Never").path is None and s.state == (2, 0)
    with pytest.raises(ExploreError, match="jump"):
        s.jump("witness:Nope")
    # walks stop at a violation, and the same seed walks alike
    s.restart()
    n = s.walk(50)
    assert n < 50 and not s.invariants[0].check(s.state) and "violated" in s.message
    again = session(door_spec(tmp_path), seed=7)
    again.walk(50)
    assert again.path == s.path
    with pytest.raises(ExploreError):
        s.walk(0)


def test_a_large_spec_is_explored_lazily(monkeypatch):
    """paxos_ok takes minutes to check; a session on it computes only what the current state needs."""
    import checker.spec.run as run

    def no_search(*a, **k):
        raise AssertionError("the explorer searched")

    monkeypatch.setattr(run, "search", no_search)
    s = session(ROOT / "specs" / "paxos_ok.toml")
    for _ in range(6):
        if not s.enabled():
            break
        s.take(len(s.enabled()) - 1)
        v = s.view()
        assert v["position"] == s.position and "<svg" in v["chart"]


# -- the server ----------------------------------------------------------------------------------------------------------


def api(server: Server, path: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(server.url + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_the_api_answers_with_views_and_one_line_errors():
    server = Server(session(EARLY), idle=60).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        code, v = api(server, "api/state")
        assert code == 200 and v["position"] == 0 and v["enabled"]
        code, v = api(server, "api/take", {"index": 0})
        assert code == 200 and v["position"] == 1
        assert api(server, "api/take", {"index": 999})[0] == 400
        code, err = api(server, "api/take", {"index": "x"})
        assert code == 400 and "index" in err["error"] and "\n" not in err["error"]
        assert api(server, "api/jump", {"name": "nope"})[0] == 400
        assert api(server, "api/goto", {"position": 0})[1]["position"] == 0
        with urllib.request.urlopen(server.url + "api/trace", timeout=30) as r:
            t = Trace.from_json(json.load(r))
        assert len(t) == 0 and t.verdict == "path"
        with urllib.request.urlopen(server.url, timeout=30) as r:
            page = r.read().decode()
        assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    finally:
        server.stop()
    assert not server.running


def test_the_server_stops_by_itself_when_idle():
    server = Server(session(TPC_TLA, {"rms": 2}), idle=0.5).start()
    end = time.monotonic() + 10
    while server.running and time.monotonic() < end:
        time.sleep(0.1)
    assert not server.running and server.idled
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url + "api/state", timeout=2)
    server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_faultcheck_explore_serves_until_ctrl_c():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "checker", "explore", str(TPC_TLA), "--set", "rms=2"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        url = line.split(": ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/state", timeout=30) as r:
            assert json.load(r)["params"]["rms"] == 2
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 0
        assert "stopped" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_faultcheck_explore_bad_input_is_one_line():
    r = subprocess.run([sys.executable, "-m", "checker", "explore", "specs/nope.toml"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nope.toml" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "checker", "explore", str(TPC_TLA), "--port", str(port)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"--port {port}" in r.stderr
    r = subprocess.run([sys.executable, "-m", "checker", "explore", str(TPC_TLA), "--set", "rms"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr


def test_constraints_bound_the_explorer_as_they_bound_the_checker():
    """tcp_tla's queues overflow beyond its CONSTRAINT and ACTION_CONSTRAINT: the explorer, as the checker, takes
    no step out of a state beyond the constraint and offers no step the action constraint forbids."""
    s = session(ROOT / "specs" / "tcp_tla.toml", seed=5)
    beyond = 0
    for _ in range(30):
        s.restart()
        s.walk(40)
        for a, t in zip(s.path, s.path[1:]):
            assert all(c.check(a, t) for c in s.action_constraints)
            assert all(c.check(a) for c in s.constraints)  # no step out of a state beyond the constraint
        v = s.view()
        if v["beyond"]:
            beyond += 1
            assert v["enabled"] == [] and not v["deadlock"]
    assert beyond  # some walks do end beyond the constraint


DETERMINISM_PROBE = """
import hashlib, json
from checker.spec.explore import session
from checker.trace import Trace
from checker.trace.html import to_html
s = session("specs/paxos_ok.toml", seed=4)
s.walk(12)
h = hashlib.sha256(json.dumps(s.view()).encode() + s.trace().dumps().encode())
h.update(to_html(Trace.load("counterexamples/three_phase_commit_partition.json")).encode())
print(h.hexdigest())
"""


def test_views_walks_and_pages_do_not_depend_on_the_hash_seed():
    digests = {subprocess.run([sys.executable, "-c", DETERMINISM_PROBE], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("0", "1", "2")}
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 64
