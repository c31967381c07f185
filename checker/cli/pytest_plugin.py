"""A pytest plugin: every TOML file with a top-level `protocol` key is a test (never pyproject.toml);
one that says `slow = true` is marked `slow`.

Registered through the `pytest11` entry point, so a project that keeps protocol specs gets them
checked by its existing `pytest`. A spec passes when its outcome is as expected (exit code 0).
New traces go to pytest's temporary directory; committed counterexamples are never rewritten.
The verdicts are the command line's: where this process's string hashes are salted (PYTHONHASHSEED
is not 0, see `checker.cli.isolate`), each spec is checked by `python -m checker check --json` in a
subprocess with PYTHONHASHSEED=0; otherwise in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ..spec import SpecError, check


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix != ".toml" or file_path.name == "pyproject.toml":
        return None
    try:
        data = tomllib.loads(file_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # not ours to judge: a TOML file that is no spec
    if not isinstance(data.get("protocol"), str):
        return None
    return SpecFile.from_parent(parent, path=file_path, slow=data.get("slow") is True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long test; a spec with `slow = true` is one (deselect with -m 'not slow')")


class SpecFile(pytest.File):
    def __init__(self, *args, slow: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.slow = slow

    def collect(self):
        item = SpecItem.from_parent(self, name=self.path.stem)
        if self.slow:  # a long exploration: `pytest -m slow` runs it
            item.add_marker(pytest.mark.slow)
        yield item


class SpecFailure(Exception):
    pass


class SpecItem(pytest.Item):
    def runtest(self) -> None:
        out = self.config._tmp_path_factory.mktemp("faultcheck")  # type: ignore[attr-defined]
        if sys.flags.hash_randomization:  # sets of strings would iterate otherwise than under the CLI
            self._through_cli(out)
            return
        try:
            r = check(self.path, out=out)
        except SpecError as e:
            raise SpecFailure(str(e)) from None
        if not r.ok:
            raise SpecFailure(_failure(r.message, r.counterexample))

    def _through_cli(self, out: Path) -> None:
        root = str(Path(__file__).resolve().parents[2])  # where `checker` is imported from here
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": root + (os.pathsep + path if path else "")}
        p = subprocess.run([sys.executable, "-m", "checker", "check", "--json", "-q", "--out", str(out),
                            str(self.path)], capture_output=True, text=True, env=env,
                           cwd=self.config.invocation_params.dir)
        objs = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        if p.returncode == 0 and objs and objs[-1].get("ok"):
            return
        if not objs:
            raise SpecFailure(p.stderr.strip() or f"faultcheck check exited with {p.returncode} and no result")
        obj = objs[-1]
        raise SpecFailure(_failure(obj.get("message") or p.stderr.strip(), obj.get("counterexample")))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecFailure):
            return f"{self.path}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"spec {self.path.name}"


def _failure(message: str, counterexample: str | None) -> str:
    return message + (f"\ncounterexample: {counterexample}" if counterexample else "")
