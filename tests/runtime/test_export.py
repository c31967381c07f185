"""checker/runtime/export.py and `faultcheck export`: the exported reference implementation runs in a
fresh virtual environment without faultcheck, with the standard library alone; nothing is left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import hosts_running

from checker.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(d)], check=True, timeout=60)
    return d / "bin" / "python"


def bare_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.mark.slow
def test_the_exported_program_runs_without_faultcheck(venv, tmp_path, capsys):
    exp = tmp_path / "pb"
    assert main(["export", "protocols.primary_backup:PrimaryBackup", "--out", str(exp)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (exp / "run.py").is_file() and (exp / "protocols" / "primary_backup.py").is_file()
    assert not (exp / "checker" / "engine").exists() and not (exp / "checker" / "runtime" / "replay.py").exists()
    work = tmp_path / "elsewhere"
    work.mkdir()
    run = dict(cwd=work, env=bare_env(), capture_output=True, text=True, timeout=60)
    # faultcheck is not installed in the fresh environment
    r = subprocess.run([str(venv), "-c", "import checker"], **run)
    assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr
    # with the export on the path, `checker` is its copy and nothing outside the standard library is imported
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import checker, checker.runtime.controller, "
        "checker.runtime.host, protocols.primary_backup; import json; "
        "print(json.dumps([checker.__file__, sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names))]))"
    )
    r = subprocess.run([str(venv), "-c", probe, str(exp)], **run)
    assert r.returncode == 0, r.stderr
    where, outside = json.loads(r.stdout)
    assert Path(where).resolve() == (exp / "checker" / "__init__.py").resolve()
    assert set(outside) <= {"checker", "protocols", "__main__", "_sitebuiltins", "__mp_main__"}, outside
    r = subprocess.run([str(venv), str(exp / "run.py"), "--help"], **run)
    assert r.returncode == 0 and "--duration" in r.stdout and "--faults" in r.stdout and "--history" in r.stdout
    # a short run with real kills of the servers: the correct variant's invariants hold
    out = work / "out"
    r = subprocess.run(
        [
            str(venv),
            str(exp / "run.py"),
            "--duration",
            "1.5",
            "--faults",
            "crash",
            "--crashable",
            "server",
            "--seed",
            "3",
            "--out",
            str(out),
            "--history",
            str(work / "history.json"),
        ],
        **run,
    )
    assert hosts_running(str(out)) == []
    assert r.returncode == 0, r.stdout + r.stderr
    assert "history (" in r.stdout and "ok   NoLostWrite" in r.stdout
    assert isinstance(json.loads((work / "history.json").read_text()), list)  # (primary-backup records none)
    assert "crash server" in r.stdout and "restart server" in r.stdout


def test_a_module_without_a_message_passing_protocol_is_refused_in_one_line(tmp_path, capsys):
    assert main(["export", "protocols.tcommit_tla", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "low-level model" in err[0]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    assert main(["export", "protocols.primary_backup", "--out", str(tmp_path / "full")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
