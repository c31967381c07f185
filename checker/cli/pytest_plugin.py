"""A pytest plugin: every TOML file with a top-level `protocol` key is a test (never pyproject.toml).

Registered through the `pytest11` entry point, so a project that keeps protocol specs gets them
checked by its existing `pytest`. A spec passes when its outcome is as expected (exit code 0).
New traces go to pytest's temporary directory; committed counterexamples are never rewritten.
"""

from __future__ import annotations

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
    return SpecFile.from_parent(parent, path=file_path)


class SpecFile(pytest.File):
    def collect(self):
        yield SpecItem.from_parent(self, name=self.path.stem)


class SpecFailure(Exception):
    pass


class SpecItem(pytest.Item):
    def runtest(self) -> None:
        out = self.config._tmp_path_factory.mktemp("faultcheck")  # type: ignore[attr-defined]
        try:
            r = check(self.path, out=out)
        except SpecError as e:
            raise SpecFailure(str(e)) from None
        if not r.ok:
            raise SpecFailure(f"{r.message}" + (f"\ncounterexample: {r.counterexample}" if r.counterexample else ""))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecFailure):
            return f"{self.path}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"spec {self.path.name}"
