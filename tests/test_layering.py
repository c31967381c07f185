"""Imports inside checker/ point one way (checker/__init__.py), and protocols/ uses only the public API."""

import ast
from pathlib import Path

import checker

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["model", "semantics", "logic", "engine", "trace", "spec", "cli"]
RANK = {name: i for i, name in enumerate(ORDER)}
TOP = {"spec": 5, "cli": 5}  # spec and cli are the top; cli may use spec


def imported_layers(path: Path, layer: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("checker."):
                out.add(node.module.split(".")[1])
            elif node.level == 0 and node.module == "checker":
                out.add("__init__")
            elif node.level == 2 and node.module:  # from ..x import
                out.add(node.module.split(".")[0])
            elif node.level == 2 and not node.module:
                out.add("__init__")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("checker."):
                    out.add(a.name.split(".")[1])
    out.discard(layer)
    return out


def test_layers_import_only_downwards():
    problems = []
    for layer in ORDER:
        for path in sorted((ROOT / "checker" / layer).rglob("*.py")):
            for dep in imported_layers(path, layer):
                if dep == "__init__":
                    if layer != "cli":  # only the CLI may read the package's version
                        problems.append(f"{path.relative_to(ROOT)} imports the checker package itself")
                    continue
                if dep not in RANK:
                    continue
                allowed = RANK[dep] < RANK[layer] or (layer == "cli" and dep == "spec")
                if not allowed:
                    problems.append(f"{path.relative_to(ROOT)} ({layer}) imports {dep}")
    assert problems == []


def test_model_imports_only_the_standard_library():
    import sys

    for path in (ROOT / "checker" / "model").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_protocols_use_only_the_public_api():
    for path in (ROOT / "protocols").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("checker"):
                assert node.module == "checker", f"{path.name} imports {node.module}"
                for a in node.names:
                    assert a.name in checker.__all__, f"{path.name} imports {a.name}, not in checker.__all__"
            if isinstance(node, ast.Import):
                for a in node.names:
                    assert a.name.split(".")[0] not in {"socket", "asyncio", "time", "random", "threading"}


def test_the_public_api_is_small_and_real():
    assert len(checker.__all__) <= 32
    for name in checker.__all__:
        assert hasattr(checker, name), name
