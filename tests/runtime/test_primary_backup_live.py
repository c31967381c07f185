"""The correct primary-backup variant as a real cluster: its client's recorded history stays linearizable
under a real kill (SIGKILL of a server, the view service fails over), and the run keeps to the spec's fault
budget: one crash, no restart, no partition (asked for on the command line, the spec allows none).
The seeds below complete at least the first write."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import hosts_running

ROOT = Path(__file__).resolve().parents[2]
SPEC = "specs/primary_backup_linearizable.toml"


def faultcheck(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "checker", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def live_run(out: Path, faults: str, seed: int) -> tuple[subprocess.CompletedProcess, list[dict]]:
    r = faultcheck("run", SPEC, "--duration", "4", "--faults", faults, "--seed", str(seed), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   Linearizable: linearizable" in r.stdout and "ok   NoLostWrite: holds" in r.stdout
    history = json.loads((out / "history.json").read_text())
    assert any(e["type"] == "ok" for e in history), "no operation completed"
    assert {e["type"] for e in history} <= {"invoke", "ok"} and {e["node"] for e in history} == {"client1"}
    again = faultcheck("history", str(out / "history.json"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert hosts_running(str(out)) == []
    return r, history


@pytest.mark.parametrize("seed", [1, pytest.param(5, marks=pytest.mark.slow)])
def test_the_history_stays_linearizable_within_the_specs_fault_budget(tmp_path, seed):
    out = tmp_path / f"pb{seed}"
    r, history = live_run(out, "crash,partition", seed)
    faults = tomllib.loads((ROOT / SPEC).read_text())["faults"]
    assert faults["crashes"] == 1 and "partitions" not in faults and "restarts" not in faults
    assert "crash server" in r.stdout and "partition {" not in r.stdout
    assert "note: --faults partition: the spec's fault model allows none" in r.stdout
    schedule = json.loads((out / "faults.json").read_text())
    kinds = [f["kind"] for f in schedule["injected"]]
    assert kinds.count("crash") == faults["crashes"] and set(kinds) == {"crash"}  # crash-stop: no restart
    assert schedule["budget"]["crashes"] == 1 and schedule["budget"]["partitions"] == 0
    assert schedule["used"]["crashes"] == 1 and schedule["used"]["partitions"] == 0
    report = json.loads((out / "report.json").read_text())
    assert report["budget"] == schedule["budget"] and report["used"] == schedule["used"]
    # one operation at a time, in the workload's order: write 1, read, write 2, read
    assert [(e["f"], e["value"]) for e in history if e["type"] == "invoke"] == [
        ("write", 1),
        ("read", None),
        ("write", 2),
        ("read", None),
    ][: sum(e["type"] == "invoke" for e in history)]


@pytest.mark.slow
def test_reads_after_a_real_failover_see_every_acknowledged_write(tmp_path):
    """Seed 5 kills the primary (server1) at about 0.8 s, after write 1; the backup is promoted, and the
    operations that complete after the kill are answered by it."""
    out = tmp_path / "failover"
    r, history = live_run(out, "crash", 5)
    (crash,) = json.loads((out / "faults.json").read_text())["injected"]
    assert crash["kind"] == "crash" and crash["node"] == "server1"
    after = [e for e in history if e["type"] == "ok" and e["time"] / 1e9 > crash["at"]]
    assert after, "no operation completed after the failover"
    report = json.loads((out / "report.json").read_text())
    assert report["down"] == ["server1"] and report["final"]["vs1"]["primary"] == "server2"
