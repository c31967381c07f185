"""`faultcheck run` end to end: real clusters of the committed specs, exit codes, saved files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import hosts_running

ROOT = Path(__file__).resolve().parents[2]


def faultcheck(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "checker", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_primary_backup_survives_a_kill_within_its_budget(tmp_path):
    out = tmp_path / "pb"
    r = faultcheck(
        "run",
        "specs/primary_backup_ok.toml",
        "--duration",
        "3",
        "--faults",
        "crash,partition",
        "--seed",
        "1",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "crash server" in r.stdout and "partition {" not in r.stdout  # the spec allows no partition
    assert "ok   FreshReads: holds" in r.stdout and "ok   NoLostWrite: holds" in r.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["exit_code"] == 0 and report["snapshots"] >= 3
    assert report["final"]["client1"]["acked"], "some write was acknowledged"
    schedule = json.loads((out / "faults.json").read_text())
    assert schedule["seed"] == 1 and [f["kind"] for f in schedule["plan"]] == [f["kind"] for f in schedule["injected"]]
    assert "partition" not in [f["kind"] for f in schedule["plan"]]
    assert all(f["node"].startswith("server") for f in schedule["plan"] if f["kind"] == "crash")  # crashable
    assert sum(f["kind"] == "crash" for f in schedule["plan"]) <= 1  # crash-stop, one crash: the spec's fault model
    assert json.loads((out / "history.json").read_text()) == []  # this protocol records no client history
    assert hosts_running(str(out)) == []


@pytest.mark.slow
def test_replicated_register_any_replica_history_is_checkable_again(tmp_path):
    out = tmp_path / "rr"
    r = faultcheck(
        "run",
        "specs/replicated_register_any_replica.toml",
        "--duration",
        "2",
        "--faults",
        "crash,drop,duplicate",
        "--seed",
        "4",
        "--out",
        str(out),
        "--json",
    )
    assert r.returncode in (0, 1), r.stdout + r.stderr  # real timing: it may or may not be linearizable
    report = json.loads(r.stdout)
    assert "Linearizable" in report["properties"]
    history = json.loads((out / "history.json").read_text())
    assert history and {e["type"] for e in history} <= {"invoke", "ok", "fail", "info"}
    assert [e["time"] for e in history] == sorted(e["time"] for e in history)
    again = faultcheck("history", str(out / "history.json"))
    assert again.returncode == r.returncode, again.stdout + again.stderr
    assert hosts_running(str(out)) == []


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    r = faultcheck("run", "specs/two_phase_commit_tla.toml", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "low-level Model" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = faultcheck("run", "specs/primary_backup_ok.toml", "--faults", "meteor", "--out", str(tmp_path / "y"))
    assert r.returncode == 2 and "meteor" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = faultcheck("run", "specs/no_such_spec.toml")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = faultcheck("run", "specs/primary_backup_ok.toml", "--timer", "x=-1")
    assert r.returncode == 2 and "--timer" in r.stderr
    r = faultcheck("run", "--help")
    assert r.returncode == 0 and "not" in r.stdout and "reproducible" in r.stdout


def test_the_runtime_table_of_a_spec_is_validated(tmp_path):
    from checker.spec import SpecError, load_spec

    base = (ROOT / "specs" / "primary_backup_ok.toml").read_text()
    good = tmp_path / "good.toml"
    good.write_text(base + "\n[runtime]\ntimer = 0.1\ntimers = { suspect = 0.5 }\nrequest_interval = 0.02\n")
    assert load_spec(good).runtime == {"timer": 0.1, "timers": {"suspect": 0.5}, "request_interval": 0.02}
    for bad, error in [
        ("timer = 0", "runtime.timer"),
        ("timers = 3", "runtime.timers"),
        ("timers = { suspect = true }", "runtime.timers.suspect"),
        ("speed = 1", "unknown key"),
    ]:
        f = tmp_path / "bad.toml"
        f.write_text(base + f"\n[runtime]\n{bad}\n")
        try:
            load_spec(f)
        except SpecError as e:
            assert error in str(e)
        else:
            raise AssertionError(f"{bad} was accepted")
