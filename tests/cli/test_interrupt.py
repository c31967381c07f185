"""Ctrl-C is exit 3 and one line, `faultcheck: interrupted`, in check, induct, lint, show, graph and
history: a real SIGINT sent to the command once it is working (a marker file written from inside the
work says so; no blind sleeping), and `sigint_held`, which keeps Ctrl-C away from Z3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from checker.logic.smt import sigint_held

ROOT = Path(__file__).resolve().parents[2]

BIG = '''
from pathlib import Path

from checker import Int, Model, action

MARK = Path(__file__).with_name("working")


class Big(Model):
    def variables(self):
        return {"a": Int(0, 300), "b": Int(0, 300), "c": Int(0, 300)}

    def init(self):
        return {"a": 0, "b": 0, "c": 0}

    @action
    def Step(self, s):
        if s[0] == 5 and not MARK.exists():
            MARK.write_text("")
        return [(min(s[0] + 1, 300), s[1], s[2]), (s[0], min(s[1] + 1, 300), s[2]), (s[0], s[1], min(s[2] + 1, 300))]
'''

# Runs the command line after wrapping one function of the work so that it writes the marker file when
# the work has begun; the wrapper is set up again in the re-executed process (same command line).
WRAPPED = textwrap.dedent('''
    import importlib, sys
    from pathlib import Path
    module, name, mark, mode = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    target = importlib.import_module(module)
    inner = getattr(target, name)

    def wrapped(*args, **kwargs):
        mark.write_text("")
        while mode == "spin":
            pass
        return inner(*args, **kwargs)

    setattr(target, name, wrapped)
    sys.argv = ["faultcheck", *sys.argv[5:]]
    from checker.cli import entry
    entry()
''')


def interrupt(cmd: list[str], mark: Path, cwd: Path, deadline: float = 120) -> tuple[int, str, str]:
    """Start `cmd`, wait until `mark` exists (the work has begun), send SIGINT, return (rc, stdout, stderr)."""
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + deadline
        while not mark.exists():
            assert p.poll() is None, f"ended before working: {p.communicate()}"
            assert time.monotonic() < end, "never started working"
            time.sleep(0.02)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=deadline)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out, err


def test_ctrl_c_in_check_reports_what_was_explored_and_one_line(tmp_path):
    (tmp_path / "big.py").write_text(BIG)
    (tmp_path / "big.toml").write_text('# big\nformat = 1\nprotocol = "big:Big"\nexpected = "holds"\n')
    rc, out, err = interrupt([sys.executable, "-m", "checker", "check", "big.toml", "--json", "-q", "--out", "o"],
                             tmp_path / "working", tmp_path)
    assert rc == 3, err
    assert err == "faultcheck: interrupted\n"
    obj = json.loads(out)
    assert obj["verdict"] == "undetermined" and obj["reason"].startswith("interrupted")
    assert 0 < obj["distinct_states"] < 301 ** 3


def test_ctrl_c_in_induct_while_z3_enumerates_is_exit_3(tmp_path):
    """Z3 swallowed the signal (the run ended `inductive`, exit 0) or turned it into an exception inside
    a ctypes callback; now the Ctrl-C waits for the solver's call to return and stops the run."""
    mark = tmp_path / "working"
    rc, out, err = interrupt([sys.executable, "-c", WRAPPED, "checker.logic.smt", "models", str(mark), "go",
                              "induct", "specs/two_phase_commit_induct_proof.toml", "--set", "rms=5",
                               "--method", "explicit"], mark, ROOT)
    assert (rc, out, err) == (3, "", "faultcheck: interrupted\n")


@pytest.mark.parametrize("module, name, argv", [
    ("checker.logic.lint", "lint", ["lint", "specs/two_phase_commit_induct_proof.toml"]),
    ("checker.cli", "render_text", ["show", "counterexamples/two_phase_commit_tla_early_commit.json"]),
    ("checker.spec.graph", "reachable_graph", ["graph", "specs/two_phase_commit_tla.toml"]),
    ("checker.cli.history", "check_linearizable", ["history", "tests/data/jepsen-histories/etcd/etcd_000.json"]),
])
def test_ctrl_c_in_every_other_command_is_exit_3_and_one_line(tmp_path, module, name, argv):
    mark = tmp_path / "working"
    rc, out, err = interrupt([sys.executable, "-c", WRAPPED, module, name, str(mark), "spin", *argv], mark, ROOT)
    assert (rc, out, err) == (3, "", "faultcheck: interrupted\n")


def test_sigint_held_delivers_the_ctrl_c_when_the_block_ends():
    reached = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached.append("the rest of the block ran")  # no KeyboardInterrupt inside: the solver's call finishes
    assert reached == ["the rest of the block ran"]
    assert signal.getsignal(signal.SIGINT) is before
    with sigint_held():
        pass  # no Ctrl-C, nothing raised


def test_z3_no_longer_swallows_a_ctrl_c_during_a_query():
    """A query Z3 needs a while for (the pigeonhole principle, 9 pigeons in 8 holes), with Ctrl-C sent
    again and again while it runs: the query is not cancelled (Z3 would answer `unknown`,
    "interrupted from keyboard"), and the Ctrl-C arrives when the block ends."""
    import threading

    from checker.logic import smt

    z3 = smt.z3
    n = 8
    p = [[z3.Bool(f"p{i}_{j}") for j in range(n)] for i in range(n + 1)]
    s = z3.Solver()
    for i in range(n + 1):
        s.add(z3.Or(p[i]))
    for j in range(n):
        for i in range(n + 1):
            for k in range(i + 1, n + 1):
                s.add(z3.Not(z3.And(p[i][j], p[k][j])))
    done = threading.Event()

    def press():
        while not done.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)

    result = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            sender = threading.Thread(target=press)
            sender.start()
            try:
                result.append(s.check())
            finally:
                done.set()
                sender.join()  # every Ctrl-C is sent while the block holds them
    assert result == [z3.unsat]
