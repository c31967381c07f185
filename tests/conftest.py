"""Markers shared by the whole suite: a test that needs a system program skips, naming the Debian package.

`@pytest.mark.needs_graphviz` (Graphviz's `dot`) and `@pytest.mark.needs_chromium` (headless Chromium, its
driver and selenium) skip the test when what it needs is missing; keyword arguments limit that to some
parameters (`needs_graphviz(fmt=("svg",))`). With FAULTCHECK_REQUIRE_TOOLS=1 (`.ci/run` sets it)
nothing is skipped, so a missing program fails. `slow` tests are deselected by default (pyproject.toml).
Imports only pytest and the standard library.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

GRAPHVIZ = "needs Graphviz's dot: apt-get install graphviz"
CHROMIUM = "needs headless Chromium and its driver: apt-get install chromium chromium-driver"
SELENIUM = "needs selenium: pip install -e '.[test]'"
# doctests in checker/ that render through Graphviz: an example calling one of these needs dot (the sequence
# chart's to_svg and to_html draw their SVG without it)
RENDERERS = ('fmt="svg"', ".pipe(")


DEBIAN_BIN = Path("/usr/bin")  # where the Debian packages put the programs


def _program(name: str) -> str | None:
    """`name` on PATH, else in DEBIAN_BIN."""
    fallback = DEBIAN_BIN / name
    return shutil.which(name) or (str(fallback) if os.access(fallback, os.X_OK) else None)


def missing(marker: str) -> str | None:
    """Why a test marked `marker` cannot run here (the skip reason), or None when it can."""
    if marker == "needs_graphviz":
        return None if _program("dot") else GRAPHVIZ
    if marker == "needs_chromium":
        if not (_program("chromium") and _program("chromedriver")):
            return CHROMIUM
        try:
            import selenium  # noqa: F401
        except ImportError:
            return SELENIUM
        return None
    raise ValueError(f"unknown marker {marker}")


def _applies(mark: pytest.Mark, item: pytest.Item) -> bool:
    """A mark with keywords applies only where each named parameter takes one of the listed values."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    return all(params.get(name) in values for name, values in mark.kwargs.items())


def _needs(item: pytest.Item) -> list[str]:
    needs = [m.name for m in item.iter_markers() if m.name in ("needs_graphviz", "needs_chromium") and _applies(m, item)]
    doctest = getattr(item, "dtest", None)  # a doctest item's examples
    if doctest is not None and any(r in ex.source for ex in doctest.examples for r in RENDERERS):
        needs.append("needs_graphviz")
    return needs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FAULTCHECK_REQUIRE_TOOLS") == "1":
        return
    for item in items:
        for reason in dict.fromkeys(filter(None, map(missing, _needs(item)))):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line per missing program: how many tests it skipped and what to install."""
    ours = (GRAPHVIZ, CHROMIUM, SELENIUM)
    counts = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        counts.update(r for r in ours if reason.endswith(r))
    for reason, n in counts.items():
        terminalreporter.write_line(f"{n} skipped: {reason}", yellow=True)
