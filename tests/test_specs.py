"""Every spec in specs/ gives the outcome it expects (examples are tests)."""

from pathlib import Path

import pytest

import checker
from checker.engine import Verdict
from checker.spec import load_spec

SPECS = sorted((Path(__file__).resolve().parents[1] / "specs").glob("*.toml"))


def test_there_are_specs():
    assert len(SPECS) >= 4


@pytest.mark.parametrize("path", SPECS[:1] + SPECS[-1:], ids=lambda p: p.stem)
def test_check_judges_a_spec_by_its_expected_outcome(path, tmp_path):
    # every spec also runs once as its own pytest item (the plugin, testpaths = specs)
    spec = load_spec(path)
    r = checker.check(spec, out=tmp_path)
    assert r.ok, r.message
    assert r.exit_code == 0
    assert r.verdict is (Verdict.HOLDS if spec.expected == "holds" else Verdict.VIOLATED)
    if spec.expected == "violated":
        assert r.property == spec.violates
        assert spec.counterexample_path().is_file()


def test_the_plugin_collects_each_spec_once_and_no_other_toml(tmp_path):
    import subprocess
    import sys

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
    import subprocess
    import sys

    spec = tmp_path / "wrong.toml"
    text = (SPECS[0].parent / "two_phase_commit_tla_early_commit.toml").read_text()
    spec.write_text(text.replace('expected = "violated"\nviolates = "TCConsistent"\n', 'expected = "holds"\n')
                    .replace('counterexample = "counterexamples/two_phase_commit_tla_early_commit.json"\n', ""))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
                          "--rootdir", str(tmp_path), str(spec)], capture_output=True, text=True, timeout=120,
                         cwd=SPECS[0].parents[1])
    assert out.returncode == 1, out.stdout
    assert "violated TCConsistent (expected to hold)" in out.stdout
