"""Each spec is checked in a forked child: a spec whose model code ends the process (os._exit, a signal,
sys.exit, a KeyboardInterrupt of its own) is one error line naming it, exit 2, and the other specs are
still checked; the supervisor's own pieces (`checker.cli.isolate`); the catch-all names its file;
--debug on either side of the subcommand; the progress line on a terminal and in a log."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from checker.cli import main
from checker.cli.isolate import Supervisor, can_isolate, describe_status
from checker.engine.monitor import LOG_EVERY, ProgressMonitor

ROOT = Path(__file__).resolve().parents[2]

MODELS = '''
import os
import signal
import sys

from checker import Int, Model, action, invariant


class Counter(Model):
    def variables(self):
        return {"n": Int(0, 9)}

    def init(self):
        return {"n": 0}

    @action
    def Inc(self, s):
        return [(s[0] + 1,)] if s[0] < 3 else [s]

    @invariant
    def Small(self, state):
        return state.n < 3


class ExitsInInit(Counter):
    def init(self):
        sys.exit(4)


class InterruptsInInit(Counter):
    def init(self):
        raise KeyboardInterrupt
'''

SPEC = """# {what}
format = 1
protocol = "{ref}"
expected = "holds"
invariants = [{invs}]
"""

pytestmark = pytest.mark.skipif(not can_isolate(), reason="needs os.fork and signal.sigtimedwait (Linux)")


def write_specs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "models.py").write_text(MODELS)
    modules = {
        "osexit": "import os\nos._exit(0)\n",
        "killed": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        "sysexit": "import sys\nsys.exit(0)\n",
        "ctrlc": "raise KeyboardInterrupt\n",
    }
    for name, body in modules.items():
        (tmp_path / f"{name}.py").write_text(body)
    specs = {
        "failing": ("models:Counter", '"Small"'),
        "ok": ("models:Counter", ""),
        "osexit": ("osexit:X", ""),
        "killed": ("killed:X", ""),
        "sysexit": ("sysexit:X", ""),
        "ctrlc": ("ctrlc:X", ""),
        "initexit": ("models:ExitsInInit", ""),
        "initctrlc": ("models:InterruptsInInit", ""),
    }
    out = {}
    for name, (ref, invs) in specs.items():
        out[name] = tmp_path / f"{name}.toml"
        out[name].write_text(SPEC.format(what=name, ref=ref, invs=invs))
    return out


def cli(tmp_path: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checker", *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout)


def test_a_spec_that_ends_the_process_is_one_error_line_and_the_others_are_checked(tmp_path):
    specs = write_specs(tmp_path)
    report = tmp_path / "junit.xml"
    p = cli(tmp_path, "check", "failing.toml", "osexit.toml", "killed.toml", "ok.toml", "-q", "--out", "o",
            "--junit", str(report))
    assert p.returncode == 2, p.stdout + p.stderr  # an error is present: 2 comes before the failure's 1
    lines = p.stdout.splitlines()
    assert len(lines) == 4, p.stdout
    assert lines[0].startswith("FAIL failing.toml: violated Small")
    assert lines[1] == ("ERR  osexit.toml: the model's code ended the process (exit status 0) "
                        "before the check finished")
    assert lines[2] == ("ERR  killed.toml: the process checking it was killed by SIGKILL (signal 9) "
                        "before the check finished")
    assert lines[3].startswith("ok   ok.toml: holds")
    assert "Traceback" not in p.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "2")
    assert specs  # written


@pytest.mark.parametrize("name, why", [
    ("sysexit", "the model's code called sys.exit(0)"),
    ("ctrlc", "the model's code raised KeyboardInterrupt (no Ctrl-C was pressed)"),
    ("initctrlc", "the model's code raised KeyboardInterrupt (no Ctrl-C was pressed)"),
])
def test_sys_exit_or_keyboard_interrupt_from_the_model_is_an_error_not_an_outcome(tmp_path, name, why):
    write_specs(tmp_path)
    p = cli(tmp_path, "check", f"{name}.toml", "ok.toml", "-q", "--out", "o")
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] == f"ERR  {name}.toml: {why} before the check finished"
    assert p.stdout.splitlines()[1].startswith("ok   ok.toml")
    assert "interrupted" not in p.stderr


def test_sys_exit_in_init_is_an_error_naming_the_spec(tmp_path):
    """Caught where the model is set up (one line on stderr), or else here (an ERR line): never exit 4 or 0."""
    write_specs(tmp_path)
    p = cli(tmp_path, "check", "initexit.toml", "ok.toml", "-q", "--out", "o")
    assert p.returncode == 2, p.stdout + p.stderr
    said = [line for line in (p.stdout + p.stderr).splitlines() if "initexit.toml" in line]
    assert len(said) == 1 and ("sys.exit(4)" in said[0] or "SystemExit(4)" in said[0]), said
    assert any(line.startswith("ok   ok.toml") for line in p.stdout.splitlines())


def test_the_same_in_process_where_the_process_survives(tmp_path, capsys, monkeypatch):
    write_specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = main(["check", "sysexit.toml", "initctrlc.toml", "ok.toml", "-q", "--out", "o"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.splitlines()[:2] == [
        "ERR  sysexit.toml: the model's code called sys.exit(0) before the check finished",
        "ERR  initctrlc.toml: the model's code raised KeyboardInterrupt (no Ctrl-C was pressed) before the check "
        "finished",
    ]
    assert out.splitlines()[2].startswith("ok   ok.toml")


def test_json_gives_one_object_per_spec_with_the_error(tmp_path):
    write_specs(tmp_path)
    p = cli(tmp_path, "check", "--json", "osexit.toml", "ok.toml", "--out", "o")
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["spec"] for o in objs] == ["osexit.toml", "ok.toml"]
    assert (objs[0]["verdict"], objs[0]["exit_code"], objs[0]["ok"]) == ("error", 2, False)
    assert "exit status 0" in objs[0]["message"]
    assert objs[1]["verdict"] == "holds"
    assert p.returncode == 2


def test_lint_and_induct_isolate_each_spec_too(tmp_path):
    write_specs(tmp_path)
    for command in ("lint", "induct"):
        p = cli(tmp_path, command, "osexit.toml")
        assert p.returncode == 2, p.stdout + p.stderr
        assert "osexit.toml: the model's code ended the process (exit status 0)" in p.stdout


# -- the supervisor itself ------------------------------------------------------------------------------


def test_a_child_answers_through_the_pipe_even_a_large_answer():
    big = {"x": "y" * 300_000, "n": list(range(1000))}
    with Supervisor() as sup:
        outcome = sup.run(lambda: big)
    assert outcome.answer == big and outcome.death == ""


@pytest.mark.parametrize("work, death", [
    (lambda: os._exit(7), "the model's code ended the process (exit status 7)"),
    (lambda: os.kill(os.getpid(), signal.SIGKILL), "the process checking it was killed by SIGKILL (signal 9)"),
])
def test_a_child_that_dies_is_described(work, death):
    with Supervisor() as sup:
        outcome = sup.run(work)
    assert outcome.answer is None and outcome.death == death


def test_a_silent_child_is_killed_after_its_limit():
    with Supervisor() as sup:
        outcome = sup.run(lambda: time.sleep(600) or {}, limit=0.5)
    assert outcome.answer is None
    assert outcome.death.startswith("still running 0.5 s after it started")


def test_describe_status_of_raw_wait_statuses():
    assert describe_status(3 << 8) == "the model's code ended the process (exit status 3)"
    assert describe_status(11) == "the process checking it was killed by SIGSEGV (signal 11)"


# -- the catch-all, --debug, progress --------------------------------------------------------------------


def test_an_internal_error_names_the_file_it_was_reading(tmp_path, capsys, monkeypatch):
    import checker.cli as cli_module

    write_specs(tmp_path)
    monkeypatch.chdir(tmp_path)

    def deep(*a, **k):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(cli_module, "check", deep)
    code = main(["check", "ok.toml", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == ("faultcheck: ok.toml: internal error: RecursionError: maximum recursion depth exceeded "
                   "(run with --debug for the traceback)\n")

    monkeypatch.setattr(cli_module.Trace, "load", staticmethod(lambda path: (_ for _ in ()).throw(MemoryError())))
    code = main(["show", "t.json"])
    assert code == 2
    assert capsys.readouterr().err.startswith("faultcheck: t.json: internal error: MemoryError")


@pytest.mark.parametrize("argv", [["--debug", "check"], ["check", "--debug"]])
def test_debug_before_or_after_the_subcommand(tmp_path, capsys, monkeypatch, argv):
    import checker.cli as cli_module

    write_specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_module, "check", lambda *a, **k: 1 / 0)
    assert main([*argv, "ok.toml", "-q"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err
    assert main(["check", "ok.toml", "-q"]) == 2
    assert "Traceback" not in capsys.readouterr().err


class Clocked(ProgressMonitor):
    """A progress monitor on a made-up clock."""

    now = 0.0

    def elapsed(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream, expected", [
    (io.StringIO(), [t for t in range(1, 121) if t % int(LOG_EVERY) == 0]),  # a log: every LOG_EVERY s
    (Terminal(), list(range(2, 121))),  # a terminal: every second after two, redrawn in place
])
def test_progress_lines_in_a_log_come_at_most_every_log_every_seconds(stream, expected):
    m = Clocked(stream=stream)
    m.start()
    shown = []
    for tenth in range(1, 1201):
        m.now = tenth / 10
        before = stream.getvalue()
        m.tick(tenth, tenth, 1)
        if stream.getvalue() != before:
            shown.append(m.now)
    assert shown == [float(t) for t in expected]
    text = stream.getvalue()
    if isinstance(stream, Terminal):
        assert "\n" not in text and text.count("\r") == len(expected)
    else:
        assert "\r" not in text and "\x1b" not in text and text.count("\n") == len(expected)


def test_the_help_states_the_input_limits():
    from checker.model import inputs

    p = subprocess.run([sys.executable, "-m", "checker", "check", "--help"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    text = " ".join(p.stdout.split())
    assert f"at most {inputs.describe_limit(inputs.SPEC_LIMIT)} for a spec" in text
    assert f"nested at most {inputs.MAX_DEPTH} deep" in text


def test_module_docstring_of_isolate_says_why_the_seed_is_fixed():
    from checker.cli import isolate

    doc = textwrap.dedent(isolate.__doc__ or "")
    assert "PYTHONHASHSEED=0" in doc and "salts" in doc
