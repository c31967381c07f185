"""Every spec in specs/ gives the outcome it expects (the examples are tests), through `checker.check`;
and the pytest plugin collects each spec as one test and fails a spec whose outcome is not as expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import checker
from checker.engine import Verdict
from checker.spec import load_spec
from checker.trace import Trace

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.toml"))
# a spec that says `slow = true` runs with `pytest -m slow` only (as the plugin marks it)
RUNS = [pytest.param(p, marks=pytest.mark.slow) if load_spec(p).slow else p for p in SPECS]


def test_there_are_specs_of_both_kinds():
    assert len(SPECS) >= 4
    expected = {(load_spec(p).kind, load_spec(p).expected) for p in SPECS}
    assert expected == {("search", "holds"), ("search", "violated"), ("induct", "inductive"),
                        ("induct", "not_inductive")}


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.stem)
def test_each_spec_gives_its_expected_outcome(path, tmp_path):
    spec = load_spec(path)
    committed = spec.counterexample_path()
    before = committed.read_bytes() if committed is not None and committed.is_file() else None
    r = checker.check(path, out=tmp_path)
    assert r.ok is True, r.message
    assert r.exit_code == 0
    assert r.expected == spec.expected
    if spec.kind == "induct":
        assert r.to_json()["verdict"] == spec.expected and r.kind == "induct"
        assert r.stats.distinct > 0 and r.trace is None
        cti = any(d.startswith(("a state satisfying", "an initial state")) for d in r.details)
        assert cti == (spec.expected == "not_inductive")  # a CTI is shown
    elif spec.expected == "holds":
        assert r.verdict is Verdict.HOLDS, r.message
        assert r.trace is None and r.written is None
        assert [p.name for p in tmp_path.iterdir()] in ([], ["lint-cache.json"])  # no trace
    else:
        assert r.verdict is Verdict.VIOLATED and r.property == spec.violates, r.message
        assert r.written == str(tmp_path / f"{path.stem}.json")  # new traces go under out, nowhere else
        if committed is not None:
            assert before is not None, f"{spec.counterexample} is missing"
            assert "replays" in r.message
            assert committed.read_bytes() == before  # checking never rewrites a committed counterexample
            old = Trace.load(committed)
            assert old.property == spec.violates and old.params == spec.params
            assert len(old) == len(r.trace)  # committed traces are shortest


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_each_spec_is_documented_and_versioned(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#"), "a spec starts with a comment saying what it shows"
    assert "format = 1" in text
    spec = load_spec(path)
    assert spec.description
    if spec.counterexample is not None:
        assert spec.counterexample == f"counterexamples/{path.stem}.json"


def test_every_committed_counterexample_belongs_to_a_spec():
    named = {load_spec(p).counterexample for p in SPECS} - {None}
    files = {f"counterexamples/{p.name}" for p in (ROOT / "counterexamples").glob("*.json")}
    assert files == named


def test_the_plugin_collects_each_spec_once_and_no_other_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nprotocol = "not:This"\n')
    (tmp_path / "other.toml").write_text('title = "not a spec"\n')
    (tmp_path / "broken.toml").write_text("= nonsense")
    for p in SPECS:
        (tmp_path / p.name).write_text(p.read_text())
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    items = [line for line in out.stdout.splitlines() if "::" in line]
    assert sorted(line.split("::")[1] for line in items) == sorted(p.stem for p in SPECS), out.stdout + out.stderr


def test_a_failing_spec_fails_its_pytest_item(tmp_path):
    spec = tmp_path / "wrong.toml"
    text = (ROOT / "specs" / "two_phase_commit_tla_early_commit.toml").read_text()
    spec.write_text(text.replace('expected = "violated"\nviolates = "TCConsistent"\n', 'expected = "holds"\n')
                    .replace('counterexample = "counterexamples/two_phase_commit_tla_early_commit.json"\n', ""))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
                          "--rootdir", str(tmp_path), str(spec)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 1, out.stdout
    assert "violated TCConsistent (expected to hold)" in out.stdout
