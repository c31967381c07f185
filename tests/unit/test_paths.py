"""checker/spec/paths.py and how `check` uses it: a path a spec names stays inside its project (relative
`..`, absolute, a symlink out: exit 2, one line, nothing written), paths typed on the command line go
anywhere, `--update` never overwrites a file that is not a trace, and a committed counterexample
recorded for other parameters or another protocol is stale (exit 1) until `--update` rewrites it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from checker.cli import main
from checker.spec import SpecError, check, load_spec
from checker.spec.paths import PathError, inside, write_root
from checker.trace import Trace

ROOT = Path(__file__).resolve().parents[2]
EC_SPEC = ROOT / "specs" / "two_phase_commit_tla_early_commit.toml"
EC_CEX = ROOT / "counterexamples" / "two_phase_commit_tla_early_commit.json"
PRECIOUS = "my notes, not a trace\n"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("faultcheck: ")
    return lines[0]


@pytest.fixture
def project(tmp_path):
    """tmp_path/proj as a project (pyproject.toml) holding the early-commit spec; `spec(cex, **edits)`
    writes specs/ec.toml naming counterexample `cex`."""
    proj = tmp_path / "proj"
    (proj / "specs").mkdir(parents=True)
    (proj / "counterexamples").mkdir()
    (proj / "pyproject.toml").write_text("")

    def spec(cex: str, rms: int = 3, protocol: str | None = None) -> Path:
        text = EC_SPEC.read_text().replace("counterexamples/two_phase_commit_tla_early_commit.json", cex)
        text = text.replace("rms = 3", f"rms = {rms}")
        if protocol is not None:
            text = text.replace("protocols.two_phase_commit_tla:EarlyCommit", protocol)
        p = proj / "specs" / "ec.toml"
        p.write_text(text)
        return p

    spec.root = proj
    return spec


# -- the project root ---------------------------------------------------------------------------------------------------


def test_the_root_is_the_nearest_folder_with_a_pyproject(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    assert write_root(tmp_path / "a" / "b" / "x.toml") == tmp_path.resolve()
    (tmp_path / "a" / "pyproject.toml").write_text("")
    assert write_root(tmp_path / "a" / "b" / "x.toml") == (tmp_path / "a").resolve()
    assert write_root(ROOT / "specs" / "two_phase_commit_tla.toml") == ROOT


def test_without_a_pyproject_the_root_is_the_spec_folder(tmp_path):
    if any((p / "pyproject.toml").is_file() for p in [tmp_path, *tmp_path.parents]):
        pytest.skip("a pyproject.toml above the temporary directory")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert write_root(tmp_path / "a" / "b" / "x.toml") == (tmp_path / "a" / "b").resolve()


@pytest.mark.parametrize("name, ok", [
    ("x.json", True), ("cex/deep/x.json", True), ("cex/../x.json", True),
    ("../x.json", False), ("cex/../../x.json", False), (".", False), ("", False),
])
def test_inside(tmp_path, name, ok):
    root = tmp_path / "root"
    root.mkdir()
    if ok:
        assert inside(root / name, root, where="s.toml", field="counterexample") == (root / name).resolve()
    else:
        with pytest.raises(PathError) as e:
            inside(root / name, root, where="s.toml", field="counterexample", shown=name)
        assert str(e.value).startswith(f"s.toml: counterexample: {name!r}") and "\n" not in str(e.value)


def test_inside_follows_symlinks(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / "out").symlink_to(elsewhere, target_is_directory=True)
    (root / "link.json").symlink_to(tmp_path / "target.json")
    (root / "fine").symlink_to(root / "sub", target_is_directory=True)
    for name in ("out/x.json", "link.json"):
        with pytest.raises(PathError, match="outside the project root"):
            inside(root / name, root, where="s.toml", field="counterexample")
    assert inside(root / "fine" / "x.json", root, where="s", field="f") == (root / "sub" / "x.json").resolve()


# -- a spec naming a path outside its project ----------------------------------------------------------------------------


def outside_cases(project, tmp_path):
    target = tmp_path / "outside.txt"
    target.write_text(PRECIOUS)
    (project.root / "counterexamples" / "link").symlink_to(tmp_path, target_is_directory=True)
    return [("../outside.txt", target), (str(target), target), ("counterexamples/link/outside.txt", target)]


def test_a_spec_naming_a_path_outside_its_project_is_exit_2_and_nothing_is_written(project, tmp_path, capsys):
    for cex, target in outside_cases(project, tmp_path):
        spec = project(cex)
        for extra in ((), ("--update",)):
            code, out, err = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", *extra)
            line = one_error_line(err)
            assert code == 2 and out == ""
            assert f"{spec}: counterexample: {cex!r} resolves to {target.resolve()}, outside the project root " \
                   f"{project.root.resolve()}" in line
            assert target.read_text() == PRECIOUS
        with pytest.raises(SpecError):
            load_spec(spec)


def test_inside_the_project_through_dotdot_is_fine(project, tmp_path, capsys):
    spec = project("specs/../counterexamples/ec.json")
    shutil.copy(EC_CEX, project.root / "counterexamples" / "ec.json")
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out")
    assert code == 0 and "counterexamples/ec.json replays (5 steps)" in out


def test_paths_on_the_command_line_may_point_anywhere(project, tmp_path, capsys):
    spec = project("counterexamples/ec.json")
    shutil.copy(EC_CEX, project.root / "counterexamples" / "ec.json")
    out, junit, ckpt = tmp_path / "far" / "out", tmp_path / "far" / "j.xml", tmp_path / "far" / "ckpt"
    code, _, err = run(capsys, "check", spec, "-q", "--out", out, "--junit", junit, "--checkpoint-dir", ckpt,
                          "--checkpoint-every", "0.000001")
    assert code == 0, err
    assert Trace.load(out / "ec.json").property == "TCConsistent"
    assert junit.is_file() and (ckpt / "checkpoint.npz").is_file()


# -- --update and files that are not traces --------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [PRECIOUS, "{}", '{"format": "faultcheck-trace/1"}', None])
def test_update_never_overwrites_what_is_not_a_trace(project, tmp_path, capsys, content):
    spec = project("counterexamples/ec.json")
    cex = project.root / "counterexamples" / "ec.json"
    if content is None:
        cex.mkdir()  # a folder where the trace should be
    else:
        cex.write_text(content)
    code, out, err = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", "--update")
    line = one_error_line(err)
    assert code == 2 and out == ""
    assert f"{spec}: counterexample: {cex.resolve()} exists and is not a faultcheck trace" in line
    assert cex.is_dir() if content is None else cex.read_text() == content
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out")  # without --update: stale, exit 1
    assert code == 1 and out.startswith("FAIL")


def test_update_rewrites_a_trace_and_writes_a_missing_one(project, tmp_path, capsys):
    spec = project("counterexamples/sub/ec.json")
    cex = project.root / "counterexamples" / "sub" / "ec.json"
    code, _, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", "--update")
    assert code == 0 and len(Trace.load(cex)) == 5
    trace = json.loads(cex.read_text())
    trace["steps"] = trace["steps"][:-1]
    cex.write_text(json.dumps(trace))
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", "--update")
    assert code == 0 and "rewritten" in out and len(Trace.load(cex)) == 5


# -- stale counterexamples ---------------------------------------------------------------------------------------------------


def test_a_counterexample_recorded_for_other_params_is_stale(project, tmp_path, capsys):
    spec = project("counterexamples/ec.json", rms=4)
    cex = project.root / "counterexamples" / "ec.json"
    shutil.copy(EC_CEX, cex)  # recorded for rms = 3
    before = cex.read_bytes()
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out")
    assert code == 1
    assert "counterexample counterexamples/ec.json is stale: recorded for rms=3, the spec says rms=4" in out
    assert cex.read_bytes() == before
    # with --set the run is for other params than the spec's: reported, not rewritten
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", "--update", "--set", "rms=3")
    assert code == 1 and "not rewritten" in out and cex.read_bytes() == before
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", "--update")
    assert code == 0 and "rewritten" in out
    assert Trace.load(cex).params == {"rms": 4}
    assert run(capsys, "check", spec, "-q", "--out", tmp_path / "out")[0] == 0


def test_a_counterexample_for_the_spec_params_is_not_compared_under_set(project, tmp_path, capsys):
    spec = project("counterexamples/ec.json")
    cex = project.root / "counterexamples" / "ec.json"
    shutil.copy(EC_CEX, cex)
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", "--update", "--set", "rms=4")
    assert code == 0 and "not compared" in out and cex.read_bytes() == EC_CEX.read_bytes()


@pytest.mark.parametrize("recorded", [
    "protocols.two_phase_commit_tla:TwoPhase",  # another class of the module
    "protocols.two_phase_commit:EarlyCommit",  # another module
])
def test_a_counterexample_recorded_for_another_protocol_is_stale(project, tmp_path, capsys, recorded):
    spec = project("counterexamples/ec.json")
    cex = project.root / "counterexamples" / "ec.json"
    trace = json.loads(EC_CEX.read_text())
    trace["protocol"] = recorded
    cex.write_text(json.dumps(trace))
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out")
    assert code == 1
    assert (f"counterexample counterexamples/ec.json is stale: recorded for protocol {recorded}, the spec says "
            "protocols.two_phase_commit_tla:EarlyCommit") in out
    code, out, _ = run(capsys, "check", spec, "-q", "--out", tmp_path / "out", "--update")
    assert code == 0 and Trace.load(cex).protocol == "protocols.two_phase_commit_tla:EarlyCommit"


def test_check_from_python_refuses_a_spec_object_pointing_outside(project, tmp_path):
    import dataclasses

    spec = load_spec(project("counterexamples/ec.json"))
    target = tmp_path / "outside.txt"
    target.write_text(PRECIOUS)
    with pytest.raises(SpecError, match="outside the project root"):
        check(dataclasses.replace(spec, counterexample=os.path.relpath(target, project.root)), out=None, update=True)
    assert target.read_text() == PRECIOUS
