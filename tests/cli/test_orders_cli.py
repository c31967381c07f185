"""`faultcheck check` with --workers, --strategy, --walks, --seed, --max-depth, --checkpoint-dir and
--resume: exit codes (DESIGN.md: 0 as expected, 2 bad input, 3 undetermined), the JSON keys workers,
strategy and bytes_per_state, counts against a naive breadth-first search written here."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

from checker.cli import main
from checker.engine import Monitor
from checker.spec import check
from checker.spec.run import prepare

engine_search = importlib.import_module("checker.engine.search")
ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
HOLDS = SPECS / "two_phase_commit_tla.toml"  # TwoPhase.tla, 3 RMs: holds, 288 states, 11 levels
EARLY = SPECS / "two_phase_commit_tla_early_commit.toml"  # violates TCConsistent in 5 steps (6 states)


def run(capsys, *argv) -> tuple[int, list[dict], str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("faultcheck: ")
    return lines[0]


def naive_levels(path, max_depth=None) -> tuple[int, int]:
    """Distinct states within `max_depth` BFS levels of the spec's model, and the number of levels."""
    system, _ = prepare(path)
    dist = {s: 1 for s in system.initial}
    queue = deque(dist)
    while queue:
        s = queue.popleft()
        if max_depth is not None and dist[s] >= max_depth:
            continue
        for a in system.actions:
            for t in a.successors(s):
                if t not in dist:
                    dist[t] = dist[s] + 1
                    queue.append(t)
    return len(dist), max(dist.values())


def test_workers(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_search, "PARALLEL_MIN", 8)  # so that these small levels really fork
    code, lines, _ = run(capsys, "check", HOLDS, EARLY, "--workers", "2", "--json", "-q", "--out", tmp_path)
    assert code == 0
    holds, early = lines
    assert (holds["verdict"], holds["workers"], holds["strategy"]) == ("holds", 2, "bfs")
    assert (holds["distinct_states"], holds["depth"]) == naive_levels(HOLDS)
    assert (early["verdict"], early["property"], early["workers"], early["exit_code"]) == (
        "violated",
        "TCConsistent",
        2,
        0,
    )
    assert early["trace_length"] == 5  # the shortest, as one process finds it
    code, one, _ = run(capsys, "check", HOLDS, EARLY, "--json", "-q", "--out", tmp_path)
    for a, b in zip(lines, one):
        assert {
            k: v for k, v in a.items() if k not in ("seconds", "states_per_second", "bytes_per_state", "workers")
        } == {k: v for k, v in b.items() if k not in ("seconds", "states_per_second", "bytes_per_state", "workers")}
    assert one[0]["workers"] == 1


def test_bytes_per_state_in_a_fresh_process(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "checker",
            "check",
            str(HOLDS),
            "--workers",
            "2",
            "--json",
            "-q",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    line = json.loads(p.stdout)
    assert (line["workers"], line["strategy"], line["distinct_states"]) == (2, "bfs", 288)
    assert isinstance(line["bytes_per_state"], float) and line["bytes_per_state"] > 0


def test_dfs_with_a_depth_bound(capsys, tmp_path):
    code, lines, _ = run(
        capsys, "check", HOLDS, EARLY, "--strategy", "dfs", "--max-depth", "3", "--json", "-q", "--out", tmp_path
    )
    assert code == 3
    for line in lines:
        assert (line["verdict"], line["exit_code"], line["strategy"], line["workers"]) == ("undetermined", 3, "dfs", 1)
        assert "max_depth 3" in line["reason"]
    assert lines[0]["distinct_states"] == naive_levels(HOLDS, 3)[0]
    # a bound deep enough for the violation: found (no longer than the committed trace), exit 0
    code, lines, _ = run(
        capsys, "check", EARLY, "--strategy", "dfs", "--max-depth", "6", "--json", "-q", "--out", tmp_path
    )
    assert code == 0
    assert (lines[0]["verdict"], lines[0]["property"], lines[0]["strategy"]) == ("violated", "TCConsistent", "dfs")
    assert lines[0]["trace_length"] <= 5


def test_dfs_without_a_bound_holds_with_bfs_counts(capsys, tmp_path):
    code, lines, _ = run(capsys, "check", HOLDS, "--strategy", "dfs", "--json", "-q", "--out", tmp_path)
    assert code == 0
    assert (lines[0]["verdict"], lines[0]["distinct_states"]) == ("holds", naive_levels(HOLDS)[0])


def test_random_walks(capsys, tmp_path):
    argv = ("--strategy", "random", "--walks", "10", "--seed", "3", "--json", "-q", "--out", tmp_path)
    code, lines, _ = run(capsys, "check", HOLDS, *argv)
    assert code == 3  # walks prove nothing
    assert (lines[0]["verdict"], lines[0]["strategy"]) == ("undetermined", "random")
    assert "10 random walks" in lines[0]["reason"] and "distinct states seen" in lines[0]["reason"]
    code, lines, _ = run(capsys, "check", EARLY, *argv)
    assert code == 0
    assert (lines[0]["verdict"], lines[0]["property"], lines[0]["strategy"]) == ("violated", "TCConsistent", "random")
    assert lines[0]["trace_length"] >= 5  # never shorter than the shortest
    assert (tmp_path / "two_phase_commit_tla_early_commit.json").is_file()  # the walk's trace, written
    code2, again, _ = run(capsys, "check", EARLY, *argv)
    assert (code2, again[0]["trace_length"], again[0]["distinct_states"]) == (
        0,
        lines[0]["trace_length"],
        lines[0]["distinct_states"],
    )


def test_other_orders_with_workers_or_checkpoints_are_one_line_errors(capsys, tmp_path):
    for extra in (
        ("--strategy", "dfs", "--workers", "2"),
        ("--strategy", "random", "--resume", tmp_path),
        ("--strategy", "hypothesis", "--checkpoint-dir", tmp_path),
    ):
        code, _, err = run(capsys, "check", HOLDS, "-q", "--out", tmp_path, *extra)
        assert code == 2
        one_error_line(err)


def test_resume_from_a_missing_folder(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, lines, err = run(capsys, "check", HOLDS, "--resume", missing, "-q", "--out", tmp_path)
    assert code == 2 and lines == []
    assert str(missing) in one_error_line(err)
    assert not missing.exists()


class StopAfter(Monitor):
    def __init__(self, k):
        super().__init__()
        self.k, self.ticks = k, 0

    def tick(self, distinct, generated, depth):
        self.ticks += 1
        if self.ticks >= self.k:
            raise KeyboardInterrupt
        return None


def test_resume_an_interrupted_run(capsys, tmp_path):
    ckpt = tmp_path / "ckpt"
    part = check(HOLDS, out=None, checkpoint_dir=ckpt, checkpoint_every=1e-6, monitor=StopAfter(4))
    assert part.exit_code == 3 and part.reason.startswith("interrupted")
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint.npz"]
    code, lines, _ = run(capsys, "check", HOLDS, "--resume", ckpt, "--json", "-q", "--out", tmp_path)
    assert code == 0
    distinct, depth = naive_levels(HOLDS)
    assert (lines[0]["verdict"], lines[0]["distinct_states"], lines[0]["depth"]) == ("holds", distinct, depth)
    # resuming with other parameters is refused in one line
    code, _, err = run(capsys, "check", HOLDS, "--resume", ckpt, "--set", "rms=4", "-q", "--out", tmp_path)
    assert code == 2
    assert "params" in one_error_line(err)


def test_checkpoints_on_the_command_line(capsys, tmp_path):
    ckpt = tmp_path / "ckpt"
    code, lines, _ = run(
        capsys,
        "check",
        HOLDS,
        "--checkpoint-dir",
        ckpt,
        "--checkpoint-every",
        "0.000001",
        "--json",
        "-q",
        "--out",
        tmp_path,
    )
    assert code == 0
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint.npz"]  # written, nothing temporary left
    code, again, _ = run(capsys, "check", HOLDS, "--resume", ckpt, "--json", "-q", "--out", tmp_path)
    assert code == 0
    assert (again[0]["distinct_states"], again[0]["states_generated"], again[0]["depth"]) == (
        lines[0]["distinct_states"],
        lines[0]["states_generated"],
        lines[0]["depth"],
    )


@pytest.mark.parametrize(
    "bad", [("--workers", "0"), ("--walks", "0"), ("--strategy", "bogus"), ("--checkpoint-every", "0")]
)
def test_bad_values_exit_2(capsys, tmp_path, bad):
    with pytest.raises(SystemExit) as e:
        main(["check", str(HOLDS), "-q", "--out", str(tmp_path), *bad])
    assert e.value.code == 2
    capsys.readouterr()
