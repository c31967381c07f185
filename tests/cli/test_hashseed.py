"""The same command gives the same verdict, counts and counterexample under every PYTHONHASHSEED, even
for a protocol whose handler picks a peer by iterating a set of node-id strings (the command line
re-executes itself with PYTHONHASHSEED=0); the pytest plugin gives the command line's verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PASSING = '''
"""Each worker passes a token to `next(iter(pool - {self.id}))`: which peer depends on string hashes."""

from checker import Ids, Int, Message, Node, Param, Protocol, Role, Set, durable, invariant


class Token(Message):
    """A token passed to one peer."""


class Worker(Node):
    pool = durable(Set(Ids("w")), initial=frozenset())
    got = durable(Int(0, 3), initial=0)

    def on_start(self):
        self.pool = frozenset(self.nodes("w"))
        self.send(next(iter(self.pool - {self.id})), Token())

    def on_token(self, msg, src):
        self.got = min(self.got + 1, 3)


class Passing(Protocol):
    workers = Param(3, "number of workers", lo=2, hi=5)
    w = Role(Worker, count="workers")
    messages = (Token,)

    @invariant
    def FirstIdle(self, state):
        return state.role("w")[0].got == 0
'''

SEEDS = [None, *map(str, range(8))]


def write(tmp_path: Path, expected: str = 'expected = "holds"') -> Path:
    (tmp_path / "passing.py").write_text(PASSING)
    spec = tmp_path / "passing.toml"
    spec.write_text(f'# the peer picked depends on set order\nformat = 1\nprotocol = "passing:Passing"\n{expected}\n'
                    'invariants = ["FirstIdle"]\n\n[params]\nworkers = 4\n')
    return spec


def env_with(seed: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "FAULTCHECK_HASHSEED_REEXEC")}
    if seed is not None:
        env["PYTHONHASHSEED"] = seed
    return env


def run_json(spec: Path, out: Path, seed: str | None) -> tuple[dict, bytes | None]:
    p = subprocess.run([sys.executable, "-m", "checker", "check", "--json", "-q", "--out", str(out), str(spec)],
                       capture_output=True, text=True, env=env_with(seed), cwd=spec.parent, timeout=120)
    assert p.returncode in (0, 1), p.stdout + p.stderr
    obj = json.loads(p.stdout)
    trace = out / f"{spec.stem}.json"
    return obj, trace.read_bytes() if trace.is_file() else None


def outcome(obj: dict) -> tuple:
    return obj["verdict"], obj["distinct_states"], obj["states_generated"], obj["depth"], obj["trace_length"]


def test_a_handler_iterating_a_set_of_strings_gives_one_outcome_under_every_seed(tmp_path):
    spec = write(tmp_path)
    results = [run_json(spec, tmp_path / f"out{i}", seed) for i, seed in enumerate(SEEDS)]
    first = results[0]
    for seed, r in zip(SEEDS, results):
        assert outcome(r[0]) == outcome(first[0]), f"PYTHONHASHSEED={seed}"
        assert r[1] == first[1], f"PYTHONHASHSEED={seed}: another counterexample"


def test_the_outcome_is_the_one_of_seed_zero_computed_in_process_too(tmp_path):
    """Independent of the command line: a fresh interpreter started with PYTHONHASHSEED=0 calling check()."""
    spec = write(tmp_path)
    code = ("import json, sys; from checker import check; r = check(sys.argv[1], out=None, lint=False); "
            "print(json.dumps([r.verdict.value, r.stats.distinct, r.stats.generated, r.stats.depth]))")
    p = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True,
                       env=env_with("0"), timeout=120)
    direct = json.loads(p.stdout)
    obj, _ = run_json(spec, tmp_path / "o", "5")
    assert [obj["verdict"], obj["distinct_states"], obj["states_generated"], obj["depth"]] == direct


@pytest.mark.parametrize("spec", ["three_phase_commit_stale_precommit", "two_phase_commit_recovery"])
def test_committed_specs_give_one_outcome_under_several_seeds(tmp_path, spec):
    path = ROOT / "specs" / f"{spec}.toml"
    results = [run_json(path, tmp_path / f"out{i}", seed) for i, seed in enumerate([None, "0", "3"])]
    assert len({json.dumps(outcome(o)) for o, _ in results}) == 1
    assert len({t for _, t in results}) == 1


def test_the_command_re_executes_itself_with_seed_zero(tmp_path):
    probe = ("import os; from checker.cli.isolate import fix_hash_seed; fix_hash_seed(); "
             "print(os.environ.get('PYTHONHASHSEED'), hash('faultcheck'))")
    want = subprocess.run([sys.executable, "-c", "print(hash('faultcheck'))"], capture_output=True, text=True,
                          env=env_with("0"), timeout=60).stdout.split()[0]
    for seed in (None, "17"):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env_with(seed),
                             timeout=60).stdout.split()
        assert out == ["0", want]
    # where the environment is ignored (python -E), it cannot help, and goes on once without looping
    out = subprocess.run([sys.executable, "-E", "-c", probe], capture_output=True, text=True, env=env_with(None),
                         timeout=60)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1


# 0: in-process; others: through the CLI (a third seed, the same route again, with `pytest -m slow`)
@pytest.mark.parametrize("seed", ["0", "2", pytest.param("4", marks=pytest.mark.slow)])
def test_the_pytest_plugin_gives_the_command_lines_verdict_under_any_seed(tmp_path, seed):
    spec = write(tmp_path)
    obj, _ = run_json(spec, tmp_path / "o", "0")
    expected = 'expected = "holds"' if obj["verdict"] == "holds" else 'expected = "violated"\nviolates = "FirstIdle"'
    write(tmp_path, expected)  # the spec now expects what the command line says
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
                        "--rootdir", str(tmp_path), str(spec)], capture_output=True, text=True,
                       env=env_with(seed), cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 passed" in p.stdout
