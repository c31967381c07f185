"""Reachability properties (Stateright's "sometimes"): a @reachable predicate that no state of an
exhaustive search satisfies is a violation ("never reached"); one that is reached gets its shortest trace
written as a witness, which `faultcheck show` labels so. Also the spec key `reachable = [...]`, the
coverage's never-enabled actions and the warning `check` prints about them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from checker import Int, Model, action, check, reachable
from checker.engine import SearchOptions, Verdict, search
from checker.logic import compile_predicate
from checker.semantics import from_model
from checker.spec import SpecError
from checker.trace import Trace

ROOT = Path(__file__).resolve().parents[2]


class Door(Model):
    """x counts 0..3 and wraps; the door opens only when x > 5, which never happens."""

    def variables(self):
        return {"x": Int(0, 3), "open": Int(0, 1)}

    def init(self):
        return {"x": 0, "open": 0}

    @action
    def Step(self, s):
        return [(s[0] + 1, s[1])] if s[0] < 3 else []

    @action
    def Open(self, s):
        return [(s[0], 1)] if s[1] == 0 and s[0] > 5 else []

    @action
    def Back(self, s):
        return [(0, s[1])] if s[0] == 3 else []

    @reachable
    def AtTwo(self, state):
        return state.x == 2


class VacuousDoor(Door):
    @reachable
    def Opened(self, state):
        return state.open == 1


def reach_search(model, **opts):
    system = from_model(model)
    preds = [compile_predicate(n, f, system.schema) for n, f in system.reachables.items()]
    return search(system, [], SearchOptions(**opts), reachable=preds)


@pytest.mark.parametrize("opts", [{}, {"store": "fingerprint"}, {"store": "compact"}, {"strategy": "dfs"}])
def test_a_reached_property_has_a_shortest_witness(opts):
    r = reach_search(Door(), **opts)
    assert r.verdict is Verdict.HOLDS
    assert r.witnesses["AtTwo"][-1] == (2, 0)
    if not opts.get("strategy"):
        assert r.witnesses["AtTwo"] == ((0, 0), (1, 0), (2, 0))  # breadth first: the shortest


@pytest.mark.parametrize("opts", [{}, {"store": "fingerprint"}, {"store": "compact"}, {"strategy": "dfs"}])
def test_a_property_never_reached_by_an_exhaustive_search_is_violated(opts):
    r = reach_search(VacuousDoor(), **opts)
    assert (r.verdict, r.property, r.path) == (Verdict.VIOLATED, "Opened", None)
    assert "never reached" in r.reason and "AtTwo" in r.witnesses


def test_a_search_cut_short_judges_no_reachability():
    r = reach_search(VacuousDoor(), max_depth=2)
    assert r.verdict is Verdict.UNDETERMINED


def test_check_writes_the_witness_and_fails_a_vacuous_spec(tmp_path):
    r = check(VacuousDoor, out=tmp_path, lint=False)
    assert (r.verdict, r.property, r.ok, r.exit_code) == (Verdict.VIOLATED, "Opened", False, 1)
    assert "never reached" in r.message
    written = tmp_path / "VacuousDoor.AtTwo.witness.json"
    assert r.witnesses == {"AtTwo": str(written)}
    t = Trace.load(written)
    assert (t.verdict, t.property, len(t)) == ("witness", "AtTwo", 2)
    assert r.stats.never_enabled == ["Open"]
    ok = check(Door, out=tmp_path, lint=False)
    assert (ok.verdict, ok.exit_code) == (Verdict.HOLDS, 0)


def write_spec(tmp_path: Path, body: str) -> Path:
    (tmp_path / "doors.py").write_text(textwrap.dedent('''
        from checker import Int, Model, action, reachable


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
                return [(s[0], 1)] if s[1] == 0 and s[0] > 5 else []

            @reachable
            def AtTwo(self, state):
                return state.x == 2

            @reachable
            def Opened(self, state):
                return state.open == 1
    '''))
    spec = tmp_path / "door.toml"
    spec.write_text('format = 1\nprotocol = "doors:Door"\n' + body)
    return spec


def test_the_spec_lists_the_reachability_properties_checked(tmp_path):
    spec = write_spec(tmp_path, 'expected = "holds"\ncheck_deadlock = false\nreachable = ["AtTwo"]\n')
    r = check(spec, out=tmp_path / "out", lint=False)
    assert (r.verdict, r.exit_code) == (Verdict.HOLDS, 0)
    assert (tmp_path / "out" / "door.AtTwo.witness.json").exists()
    spec = write_spec(tmp_path, 'expected = "violated"\nviolates = "Opened"\ncheck_deadlock = false\n')
    r = check(spec, out=tmp_path / "out", lint=False)
    assert (r.verdict, r.property, r.ok, r.exit_code) == (Verdict.VIOLATED, "Opened", True, 0)
    spec = write_spec(tmp_path, 'expected = "holds"\nreachable = ["Nope"]\n')
    with pytest.raises(SpecError) as e:
        check(spec, out=None)
    assert "reachable: unknown property 'Nope'" in str(e.value) and "\n" not in str(e.value)


def test_the_cli_warns_about_actions_never_enabled_and_shows_the_witness(tmp_path):
    spec = write_spec(tmp_path, 'expected = "holds"\ncheck_deadlock = false\nreachable = ["AtTwo"]\n')
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "checker", "check", str(spec), "--out", str(out), "--no-lint"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "warning: never enabled: Open" in run.stdout
    assert "witness: AtTwo reached in 2 steps" in run.stdout
    run = subprocess.run([sys.executable, "-m", "checker", "check", str(spec), "--out", str(out), "--no-lint",
                          "--json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    obj = json.loads(run.stdout.splitlines()[-1])
    assert obj["never_enabled"] == ["Open"] and obj["coverage"]["Open"] == 0
    shown = subprocess.run([sys.executable, "-m", "checker", "show", str(out / "door.AtTwo.witness.json")],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert shown.returncode == 0 and shown.stdout.startswith("witness: AtTwo")
