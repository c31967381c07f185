"""A fresh clone on a fresh machine: without Graphviz or Chromium the suite skips (naming the package) and
faultcheck says what to install (the sequence chart, drawn by faultcheck itself, needs neither); `.ci/run` installs both and skips nothing; nothing in the repository
points outside it, and the benchmarks' reference baseline is in `bench/baselines/`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from checker.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "counterexamples" / "two_phase_commit_early_commit.json"
TLA_SPEC = ROOT / "specs" / "two_phase_commit_tla_early_commit.toml"


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def executable(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


# -- faultcheck itself, without dot ---------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["graph", TLA_SPEC, "--set", "rms=1", "--format", "svg"],
], ids=["graph-svg"])
def test_without_dot_a_picture_is_one_line_naming_the_package_and_exit_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it, whatever this machine has
    target = tmp_path / "picture"
    assert main([str(a) for a in argv] + ["-o", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("faultcheck: "), err
    assert "apt-get install graphviz" in err and "Traceback" not in err
    assert not target.exists()


@pytest.mark.parametrize("fmt", ["svg", "html"])
def test_without_dot_the_sequence_chart_is_still_drawn(fmt, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # faultcheck draws the chart's SVG itself
    target = tmp_path / f"chart.{fmt}"
    assert main(["show", str(TRACE), "--format", fmt, "-o", str(target)]) == 0
    assert "<svg" in target.read_text(encoding="utf-8")


# -- the suite's markers (tests/conftest.py) ------------------------------------------------------------

SAMPLE = '''
import pytest

@pytest.mark.needs_graphviz
def test_dot():
    assert False, "ran"

@pytest.mark.needs_chromium
def test_browser():
    assert False, "ran"

@pytest.mark.parametrize("fmt", ["text", "svg"])
@pytest.mark.needs_graphviz(fmt=("svg",))
def test_fmt(fmt):
    assert fmt == "text", "ran"

def test_plain():
    pass
'''

DOCTEST = '''
def render():
    """
    >>> source.pipe(format="svg")
    'drawn'
    """
'''


@pytest.fixture
def sample(tmp_path) -> Path:
    """A project using tests/conftest.py, whose fallback for programs off PATH is an empty folder."""
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "bin").mkdir()
    conftest = (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    assert conftest.count('Path("/usr/bin")') == 1
    (project / "conftest.py").write_text(conftest.replace('Path("/usr/bin")', f"Path({str(tmp_path / 'bin')!r})"))
    (project / "test_sample.py").write_text(SAMPLE)
    (project / "render.py").write_text(DOCTEST)
    (project / "pytest.ini").write_text("[pytest]\naddopts = --doctest-modules -p no:cacheprovider\nmarkers =\n"
                                        "    needs_graphviz: dot\n    needs_chromium: chromium\n")
    return project


def outcomes(project: Path, path: str, **env: str) -> tuple[dict[str, str], str]:
    """Each test's outcome in a pytest run of `project` with PATH=`path` (and `env`), and the output."""
    report = project / "report.xml"
    environ = {k: v for k, v in os.environ.items() if k != "FAULTCHECK_REQUIRE_TOOLS"} | env
    environ |= {"PATH": path, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # no faultcheck plugin: starts in a blink
    proc = subprocess.run([sys.executable, "-m", "pytest", "-rs", "--junitxml", str(report)], cwd=project,
                          env=environ, capture_output=True, text=True, timeout=120)
    result = {}
    for case in ET.parse(report).iter("testcase"):
        kinds = {child.tag for child in case} & {"failure", "error", "skipped"}
        result[case.get("name")] = kinds.pop() if kinds else "passed"
    return result, proc.stdout


def test_without_the_programs_marked_tests_skip_naming_the_package(sample, tmp_path):
    got, out = outcomes(sample, str(tmp_path / "bin"))
    assert got == {"test_dot": "skipped", "test_browser": "skipped", "test_fmt[text]": "passed",
                   "test_fmt[svg]": "skipped", "test_plain": "passed", "render.render": "skipped"}
    assert "needs Graphviz's dot: apt-get install graphviz" in out
    assert "apt-get install chromium chromium-driver" in out
    assert "3 skipped: needs Graphviz's dot: apt-get install graphviz" in out  # the summary line


def test_with_the_programs_marked_tests_run(sample, tmp_path):
    bin_ = tmp_path / "bin"
    for name in ("dot", "chromium", "chromedriver"):
        executable(bin_ / name, "exit 0")
    got, _ = outcomes(sample, str(bin_))
    expected_browser = "failure" if importlib.util.find_spec("selenium") else "skipped"  # selenium: the test extra
    assert got == {"test_dot": "failure", "test_browser": expected_browser, "test_fmt[text]": "passed",
                   "test_fmt[svg]": "failure", "test_plain": "passed", "render.render": "failure"}


def test_in_ci_a_missing_program_fails_instead_of_skipping(sample, tmp_path):
    got, _ = outcomes(sample, str(tmp_path / "bin"), FAULTCHECK_REQUIRE_TOOLS="1")
    assert got == {"test_dot": "failure", "test_browser": "failure", "test_fmt[text]": "passed",
                   "test_fmt[svg]": "failure", "test_plain": "passed", "render.render": "failure"}


# -- .ci/run --------------------------------------------------------------------------------------------

@pytest.fixture
def fake_bin(tmp_path) -> Path:
    """A PATH of stand-ins: apt-get, sudo, pip and pytest log their arguments (and pytest its environment's
    FAULTCHECK_REQUIRE_TOOLS and FAULTCHECK_REQUIRE_RAY) to calls.log; dirname, echo, id and xargs are the real ones."""
    bin_ = tmp_path / "fakebin"
    bin_.mkdir()
    log = tmp_path / "calls.log"
    for name in ("dirname", "echo", "id", "xargs"):
        (bin_ / name).symlink_to(shutil.which(name))
    executable(bin_ / "python3", "exit 0")
    executable(bin_ / "sudo", 'exec "$@"')
    executable(bin_ / "pip", f'echo "pip $*" >> {log}')
    executable(bin_ / "pytest", f'echo "pytest $* require=$FAULTCHECK_REQUIRE_TOOLS ray=$FAULTCHECK_REQUIRE_RAY" >> {log}')
    return bin_


def ci(fake_bin: Path, apt_rc: int, installs: bool = False) -> tuple[int, str, list[str]]:
    log = fake_bin.parent / "calls.log"
    install = "; ".join(f"printf '#!/bin/sh\\n' > {fake_bin / p}; chmod +x {fake_bin / p}"
                        for p in ("dot", "chromium", "chromedriver"))
    executable(fake_bin / "apt-get", f'echo "apt-get $*" >> {log}\n'
                                     f'case "$*" in *install*) {install if installs else ":"};; esac\nexit {apt_rc}')
    proc = subprocess.run([shutil.which("bash"), str(ROOT / ".ci" / "run")], env={"PATH": str(fake_bin)},
                          capture_output=True, text=True, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stderr, calls


def test_ci_fails_loudly_when_apt_get_fails(fake_bin):
    code, err, calls = ci(fake_bin, apt_rc=100)
    assert code == 1 and ".ci/run: apt-get update failed" in err
    assert calls == ["apt-get update -q"]  # nothing ran after it


def test_ci_fails_loudly_when_the_install_leaves_a_program_missing(fake_bin):
    code, err, calls = ci(fake_bin, apt_rc=0)
    assert code == 1 and "still missing after the install: dot chromium chromedriver" in err
    assert calls[0] == "apt-get update -q" and "graphviz chromium chromium-driver" in calls[1]
    assert not any(c.startswith(("pip", "pytest")) for c in calls)


def test_ci_installs_then_runs_the_default_suite_and_the_slow_tests_skipping_nothing(fake_bin):
    code, err, calls = ci(fake_bin, apt_rc=0, installs=True)
    assert code == 0, err
    assert [c.split()[0] for c in calls] == ["apt-get", "apt-get", "pip", "pip", "pytest", "pytest"]
    assert calls[0] == "apt-get update -q"
    # Ray for the --ray tests (which then fail rather than skip), then the README's test command
    assert calls[2:] == ["pip install -e .[ray]", "pip install -e .[test]", "pytest  require=1 ray=1",
                         "pytest -m slow require=1 ray=1"]


def test_long_tests_are_marked_slow_deselected_by_default_and_documented():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "-m 'not slow'" in ini["addopts"] and "--strict-markers" in ini["addopts"]
    assert {m.split(":")[0] for m in ini["markers"]} == {"slow", "needs_graphviz", "needs_chromium"}
    for doc in ("README.md", "tests/README.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert "pytest -m slow" in text and 'pytest -m ""' in text, doc


# -- nothing outside the repository ---------------------------------------------------------------------

# a path to the folder beside the clone, spelled as text or built with pathlib (this pattern's own text
# does not match it)
OUTSIDE = re.compile(r"\.\./shared|parents?(\[\d+\])?\s*/\s*[\"']shared[\"']|/wor[k]/")
SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".tla", ".sh", ".tsv", ".ini"}


def test_nothing_points_outside_the_repository():
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / ".ci" / "run"]
    for folder in ("bench", "tests", "checker", "protocols", "specs"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in SUFFIXES and "__pycache__" not in p.parts]
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in files
            for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if OUTSIDE.search(line)]
    assert hits == []


def test_the_reference_baseline_is_in_bench_and_the_benchmarks_use_it():
    reference = ROOT / "bench" / "baselines" / "twophase_handwritten.py"
    for script in ("bench_twophase.py", "run.py"):
        assert load(ROOT / "bench" / script, f"bench_{Path(script).stem}").REFERENCE == reference
    out = subprocess.run([sys.executable, str(reference), "3"], capture_output=True, text=True, timeout=60).stdout
    # TLC's distinct-state count for TwoPhase.tla with 3 resource managers (README, bench/tla/README.md)
    assert re.search(r"\bdistinct=288\b", out), out
