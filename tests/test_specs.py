"""Every spec in specs/ gives the outcome it expects (examples are tests)."""

from pathlib import Path

import pytest

import checker
from checker.engine import Verdict
from checker.spec import load_spec

SPECS = sorted((Path(__file__).resolve().parents[1] / "specs").glob("*.toml"))


def test_there_are_specs():
    assert len(SPECS) >= 4


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_outcome_is_as_expected(path, tmp_path):
    spec = load_spec(path)
    r = checker.check(spec, out=tmp_path)
    assert r.ok, r.message
    assert r.exit_code == 0
    assert r.verdict is (Verdict.HOLDS if spec.expected == "holds" else Verdict.VIOLATED)
    if spec.expected == "violated":
        assert r.property == spec.violates
        assert spec.counterexample_path().is_file()
