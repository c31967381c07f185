"""Imports inside checker/ point one way (see checker/__init__.py), protocols/ uses only the public
API, and that API is small and real.

Layers, lowest first: model < semantics < logic < engine < trace < runtime, explorer < spec, cli (runtime and
explorer side by side: neither imports the other). A module may import
its own layer and layers below it; the CLI may also import spec; nothing imports cli, and only
the CLI (and the package's own __init__/__main__) import spec. `model` imports only the standard
library. Every import is read with `ast`, relative ones resolved, including those inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import checker

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "checker"
ORDER = ["model", "semantics", "logic", "engine", "trace", "runtime", "explorer", "spec", "cli"]
RANK = {"model": 0, "semantics": 1, "logic": 2, "engine": 3, "trace": 4, "runtime": 5, "explorer": 5, "spec": 6, "cli": 6}
SUBPACKAGES = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted name of a file under ROOT, and whether it is a package's __init__."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def imports(source: str, name: str, is_pkg: bool) -> list[tuple[str, int]]:
    """Every module `source` imports, absolute, with its line; `from pkg import sub` counts as pkg.sub."""
    package = name if is_pkg else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            out += [(f"{target}.{a.name}", node.lineno) for a in node.names if a.name != "*"]
    return out


def layer_of(module: str) -> str | None:
    """checker.<layer>... -> layer; "checker" itself -> "checker"; not checker's -> None."""
    parts = module.split(".")
    if parts[0] != "checker":
        return None
    if len(parts) == 1:
        return "checker"
    return parts[1] if parts[1] in SUBPACKAGES else "checker"  # checker.__version__ and the like


def violations(path: Path, source: str | None = None) -> list[str]:
    """What `path` (a file under checker/) imports that its layer may not."""
    name, is_pkg = module_name(path)
    source = path.read_text(encoding="utf-8") if source is None else source
    own = layer_of(name)
    rel = path.relative_to(ROOT)
    problems = []
    for target, line in imports(source, name, is_pkg):
        dep = layer_of(target)
        where = f"{rel}:{line} ({own}) imports {target}"
        if dep is None:
            if own == "model" and target.split(".")[0] not in sys.stdlib_module_names:
                problems.append(f"{where}: model imports only the standard library")
            continue
        if dep == own:
            continue
        if own == "checker":  # checker/__init__.py and __main__.py sit above every layer
            if dep == "cli" and path.name != "__main__.py":
                problems.append(f"{where}: only __main__ runs the CLI")
            continue
        if dep == "checker":
            if own != "cli":  # the CLI reads __version__; below it, the package would import upwards
                problems.append(f"{where}: imports the checker package itself")
            continue
        allowed = (RANK[dep] < RANK[own] and dep not in ("spec", "cli")) or (own == "cli" and dep == "spec")
        if not allowed:
            problems.append(f"{where}: imports upwards or sideways")
    return problems


def checker_files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_every_subpackage_has_a_place_in_the_layering():
    assert SUBPACKAGES == set(ORDER)


def test_there_are_files_to_check():
    files = checker_files()
    assert len(files) >= 20
    assert {layer_of(module_name(f)[0]) for f in files} == set(ORDER) | {"checker"}


@pytest.mark.parametrize("layer", ORDER)
def test_each_layer_imports_only_downwards(layer):
    files = sorted((PKG / layer).rglob("*.py"))
    assert files
    problems = [p for f in files for p in violations(f)]
    assert problems == []


def test_the_package_files_import_no_cli_except_main():
    assert violations(PKG / "__init__.py") == [] and violations(PKG / "__main__.py") == []


def test_runtime_imports_only_model_trace_and_the_standard_library():
    """The runtime runs without the search (and, exported, without faultcheck installed)."""
    for f in sorted((PKG / "runtime").rglob("*.py")):
        name, is_pkg = module_name(f)
        for target, line in imports(f.read_text(encoding="utf-8"), name, is_pkg):
            if layer_of(target) is None:
                assert target.split(".")[0] in sys.stdlib_module_names, f"{f.name}:{line} imports {target}"
            else:
                assert layer_of(target) in ("model", "trace", "runtime"), f"{f.name}:{line} imports {target}"


def test_model_imports_only_the_standard_library():
    for f in sorted((PKG / "model").rglob("*.py")):
        name, is_pkg = module_name(f)
        for target, line in imports(f.read_text(encoding="utf-8"), name, is_pkg):
            if layer_of(target) is None:
                assert target.split(".")[0] in sys.stdlib_module_names, f"{f.name}:{line} imports {target}"
            else:
                assert layer_of(target) == "model", f"{f.name}:{line} imports {target}"


@pytest.mark.parametrize(
    "file, source, bad",
    [
        ("model/x.py", "from ..semantics import Step", True),
        ("model/x.py", "import networkx", True),
        ("model/x.py", "def f():\n    from checker.engine import search", True),
        ("model/x.py", "from .schema import Int\nimport itertools", False),
        ("semantics/x.py", "from ..model import Model", False),
        ("semantics/x.py", "from ..logic import fuse", True),
        ("logic/x.py", "from .. import engine", True),
        ("logic/__init__.py", "from ..model import StateView", False),
        ("engine/x.py", "from checker import Model", True),
        ("engine/x.py", "import checker.trace.format", True),
        ("trace/x.py", "from ..semantics import Step\nfrom ..model import SchemaError", False),
        ("trace/x.py", "from ..spec import check", True),
        ("spec/x.py", "from ..trace import replay\nfrom ..engine import search", False),
        ("spec/x.py", "from ..cli import main", True),
        ("explorer/x.py", "from ..engine import search\nfrom ..trace.msc import to_svg", False),
        ("explorer/x.py", "from ..spec import check", True),
        ("explorer/x.py", "from ..runtime import cluster", True),
        ("spec/x.py", "from ..explorer import Session", False),
        ("cli/x.py", "from ..spec import check\nfrom .. import __version__\nimport pytest", False),
        ("cli/sub/x.py", "from ...spec import check", False),
        ("cli/sub/x.py", "from ...trace import Trace\nfrom ..junit import junit_xml", False),
    ],
)
def test_the_checker_catches_what_it_should(file, source, bad):
    assert bool(violations(PKG / file, source)) is bad


def test_importing_the_package_loads_neither_spec_nor_cli_nor_trace():
    # the package is lazy (the console script starts fast): `import checker` loads no layer; the model and
    # engine names load theirs, and still neither spec, cli nor trace
    probe = "import sys; {}; print(sorted(m for m in sys.modules if m.startswith('checker.')))"
    for code, layers in (("import checker", set()),
                         ("import checker; checker.Model; checker.SearchOptions", {"model", "engine"})):
        out = subprocess.run([sys.executable, "-c", probe.format(code)], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        loaded = ast.literal_eval(out.stdout)
        assert {m.split(".")[1] for m in loaded} >= layers and (layers or not loaded), loaded
        assert not [m for m in loaded if m.split(".")[1] in {"spec", "cli", "trace"}]


# -- protocols/ and the public API --------------------------------------------------------------------------------------------


def protocol_files() -> list[Path]:
    return sorted((ROOT / "protocols").glob("*.py"))


def test_protocols_import_only_the_top_level_checker_package():
    assert len(protocol_files()) >= 3
    for f in protocol_files():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("checker"):
                assert node.module == "checker", f"{f.name}:{node.lineno} imports {node.module}"
                for a in node.names:
                    assert a.name in checker.__all__, f"{f.name}:{node.lineno} imports {a.name}, not public"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    assert not a.name.startswith("checker."), f"{f.name}:{node.lineno} imports {a.name}"


def test_the_public_api_is_small_and_real():
    names = checker.__all__
    # formulas added 9, liveness 4, FrozenDict 1, TLC's options 3 (action_constraint, view, reachable), Tuple 1,
    # Time 1 (issue 17: a clock is a field type of its own), explore 1 (issue 19: check's companion for teaching),
    # when 1 (issue 21: actions as formulas): growing it is a decision
    assert 10 <= len(names) <= 53
    assert {"action_constraint", "constraint", "reachable", "view"} <= set(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert not name.startswith("_")
        assert hasattr(checker, name), name
    ns: dict = {}
    exec("from checker import *", ns)
    assert set(ns) - {"__builtins__"} == set(names)
    assert callable(checker.check) and checker.__version__
    assert callable(checker.explore)  # the function, not shadowed by a subpackage of that name
