"""`faultcheck export`: a protocol as a runnable reference implementation, standard library only.

`export("protocols.primary_backup", DIR)` writes

    DIR/run.py                       the launcher (argparse; `python DIR/run.py --help`)
    DIR/README.txt                   what is there and how to run it
    DIR/protocols/primary_backup.py  the protocol's module, unchanged (and any module of the
                                     protocol's package it imports)
    DIR/checker/__init__.py          re-exports the names the protocol imports from `checker`
    DIR/checker/model/*.py           the schema, Node/Message/Protocol (standard library only)
    DIR/checker/runtime/*.py         codec, storage, cluster, host, controller

Every copied file is checked: it may import only the standard library and the copied modules,
so the directory runs with a bare Python (no faultcheck, no third-party package). A protocol
that uses more of faultcheck than its model layer (the formula language, temporal operators)
cannot be exported, and the error says which name. Standard library only.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ..model import __all__ as MODEL_NAMES
from ..model.node import Protocol

CHECKER = Path(__file__).resolve().parents[1]
RUNTIME_FILES = ("__init__.py", "codec.py", "storage.py", "cluster.py", "host.py", "controller.py")
# the formula language and temporal operators, for protocols whose properties use them (no Z3: that is smt.py)
LOGIC_FILES = ("__init__.py", "formula.py", "pycode.py", "lower.py", "temporal.py")
FORMULA_NAMES = ("conj", "disj", "exists", "forall", "iff", "implies", "ite", "make")
TEMPORAL_NAMES = ("always_eventually", "eventually", "leads_to")


class ExportError(Exception):
    """A protocol that cannot be exported, or a folder that cannot be written: one line."""


def _imports(path: Path) -> list[tuple[str, int, int, list[str]]]:
    """(module, level, line, names) of every import in the file, inside functions too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, 0, node.lineno, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level, node.lineno, [a.name for a in node.names]))
    return out


def _stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def _dotted(path: Path) -> str:
    parts = ["checker", *path.relative_to(CHECKER).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _check_checker_file(path: Path, copied: set[str]) -> None:
    """A copied checker file imports only the standard library and the other copied modules."""
    for mod, level, line, _ in _imports(path):
        if level:
            rel = path.relative_to(CHECKER).parent.parts  # ("model",) or ("runtime",)
            base = list(rel)[: len(rel) - (level - 1)] if level > 1 else list(rel)
            target = ".".join(["checker", *base, *([mod] if mod else [])])
        else:
            target = mod
        if target.startswith("checker"):
            if target not in copied:
                raise ExportError(f"checker/{path.relative_to(CHECKER)}:{line} imports {target}, which is not exported")
        elif not _stdlib(target):
            raise ExportError(f"checker/{path.relative_to(CHECKER)}:{line} imports {target}: not the standard library")


def _resolve(ref: str, paths: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """(module, class or None, the Protocol classes the module defines, in source order)."""
    mod_name, _, cls_name = ref.partition(":")
    if not mod_name:
        raise ExportError(f"{ref!r}: expected MODULE or MODULE:CLASS, e.g. protocols.primary_backup")
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ExportError(f"{ref}: cannot import {mod_name}: {e}") from None
    found = [
        name
        for name, obj in vars(mod).items()
        if isinstance(obj, type) and issubclass(obj, Protocol) and obj is not Protocol and obj.__module__ == mod_name
    ]
    found.sort(key=lambda n: inspect.getsourcelines(getattr(mod, n))[1])
    if cls_name:
        obj = getattr(mod, cls_name, None)
        if obj is None:
            raise ExportError(f"{ref}: {mod_name} has no {cls_name}")
        if not (isinstance(obj, type) and issubclass(obj, Protocol)):
            raise ExportError(f"{ref}: {cls_name} is not a message-passing Protocol (a low-level model runs no nodes)")
        if cls_name not in found:
            found.insert(0, cls_name)
    elif not found:
        raise ExportError(f"{ref}: {mod_name} defines no message-passing Protocol (a low-level model runs no nodes)")
    return mod_name, cls_name or None, found


def _module_files(mod_name: str) -> tuple[dict[str, Path], list[str]]:
    """The protocol's module and the modules of its own package it imports (recursively), as dotted
    name -> file, and the names they import from `checker`. Anything else they import must be the
    standard library."""
    todo, files = [mod_name], {}
    used: set[str] = set()
    while todo:
        name = todo.pop()
        if name in files:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            raise ExportError(f"{name}: not a Python source module")
        path = Path(spec.origin)
        files[name] = path
        package = name.rpartition(".")[0] if not path.name == "__init__.py" else name
        for mod, level, line, names in _imports(path):
            if level:
                base = package.split(".")[: len(package.split(".")) - (level - 1)] if level > 1 else package.split(".")
                target = ".".join([*base, *([mod] if mod else [])])
            else:
                target = mod
            where = f"{path.name}:{line}"
            if target == "checker":
                bad = [n for n in names if n not in (*MODEL_NAMES, *FORMULA_NAMES, *TEMPORAL_NAMES)]
                if bad:
                    raise ExportError(
                        f"{where} imports checker.{bad[0]}, which is neither part of checker.model nor of the "
                        "formula language (the parts of faultcheck that are exported)"
                    )
                used.update(names)
            elif target.startswith("checker."):
                raise ExportError(f"{where} imports {target}; protocols import only from the checker package")
            elif _stdlib(target):
                continue
            elif target.split(".")[0] == mod_name.split(".")[0]:
                todo.append(target)
            else:
                raise ExportError(f"{where} imports {target}: not the standard library")
    return files, sorted(used)


def export(ref: str, out: Path, paths: Sequence[str] = ()) -> list[Path]:
    """Write the reference implementation of `ref` to `out`; the files written."""
    mod_name, cls_name, classes = _resolve(ref, paths)
    files, used = _module_files(mod_name)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: exists and is not an empty folder")
    checker_files = sorted((CHECKER / "model").glob("*.py")) + [CHECKER / "runtime" / f for f in RUNTIME_FILES]
    if any(n in FORMULA_NAMES or n in TEMPORAL_NAMES for n in used):
        checker_files += [CHECKER / "logic" / f for f in LOGIC_FILES]
    copied = {_dotted(f) for f in checker_files}
    for f in checker_files:
        _check_checker_file(f, copied)
    written: list[Path] = []
    try:
        for f in checker_files:
            dst = out / "checker" / f.relative_to(CHECKER)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dst)
            written.append(dst)
        init = out / "checker" / "__init__.py"
        init.write_text(_checker_init(used), encoding="utf-8")
        written.append(init)
        for name, src in files.items():
            parts = name.split(".")
            dst = (
                out.joinpath(*parts[:-1], parts[-1] + ".py")
                if src.name != "__init__.py"
                else out.joinpath(*parts, "__init__.py")
            )
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            written.append(dst)
            for k in range(1, len(parts)):  # the package folders above it
                pkg_init = out.joinpath(*parts[:k], "__init__.py")
                if not pkg_init.exists():
                    pkg_init.write_text(f'"""{".".join(parts[:k])}: exported protocols."""\n', encoding="utf-8")
                    written.append(pkg_init)
        run = out / "run.py"
        run.write_text(_launcher(mod_name, cls_name or classes[0], classes), encoding="utf-8")
        run.chmod(0o755)
        written.append(run)
        readme = out / "README.txt"
        readme.write_text(_readme(mod_name, cls_name or classes[0], classes), encoding="utf-8")
        written.append(readme)
    except OSError as e:
        raise ExportError(f"{out}: cannot write: {e.strerror or e}") from None
    return written


def _checker_init(used: list[str]) -> str:
    lines = []
    for where, names in (
        (".model", [n for n in used if n not in FORMULA_NAMES and n not in TEMPORAL_NAMES] or ["Protocol"]),
        (".logic.formula", [n for n in used if n in FORMULA_NAMES]),
        (".logic.temporal", [n for n in used if n in TEMPORAL_NAMES]),
    ):
        if names:
            lines.append(f"from {where} import {', '.join(names)}\n")
    return (
        '"""The parts of faultcheck this reference implementation needs: the model layer (schema, Node,\n'
        "Message, Protocol), the runtime (one process per node over loopback TCP) and, if the protocol's\n"
        'properties use it, the formula language. Standard library only.\n"""\n\n'
        + "".join(lines)
        + f"\n__all__ = {used!r}\n"
    )


def _readme(mod: str, cls: str, classes: list[str]) -> str:
    return f"""A runnable reference implementation of {mod} (exported by faultcheck).

    python run.py --help
    python run.py --duration 5 --faults crash,partition --history history.json

run.py starts one process per node on 127.0.0.1 (checker/runtime/host.py runs the protocol's own
Node classes, unchanged), drives the clients' @request methods, injects the faults asked for,
checks the protocol's invariants on consistent snapshots and prints the recorded history.
Protocols in {mod}: {", ".join(classes)} (default {cls}). Needs Python 3.11+, nothing else.
"""


def _launcher(mod: str, cls: str, classes: list[str]) -> str:
    return f'''#!/usr/bin/env python3
"""Run {mod} as a real cluster: one process per node on 127.0.0.1, a client workload, real faults.

Exported by faultcheck; needs only the Python standard library (3.11+). Exit 0 when every invariant
held on every consistent snapshot, 1 when one was violated, 2 on bad input, a handler that raised or a
node that exited on its own, 3 on Ctrl-C.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # this folder's checker and protocols, whatever else is installed

from checker.runtime.cluster import keeps_time, load_protocol  # noqa: E402
from checker.runtime.controller import FAULTS, Controller, RunError, RunOptions  # noqa: E402

MODULE = {mod!r}
CLASSES = {classes!r}


def params(items):
    out = {{}}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise SystemExit(f"run.py: --set {{item}}: expected NAME=VALUE, e.g. --set servers=3")
        try:
            out[name.strip()] = json.loads(value)
        except ValueError:
            out[name.strip()] = value
    return out


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="run.py",
        description=f"Run {{MODULE}} as real processes talking over loopback TCP, with a client workload and "
        "real faults (SIGKILL and restart from the durable file, partitions, drops, duplicates); print the "
        "recorded history and the invariants' verdicts.",
    )
    p.add_argument("--protocol", choices=CLASSES, default={cls!r}, help="which protocol of the module (default %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a parameter (JSON value)")
    p.add_argument("--duration", type=float, default=5.0, metavar="SECONDS", help="how long to run (default 5)")
    p.add_argument("--faults", default="", metavar="KINDS", help=f"comma-separated, of {{','.join(FAULTS)}}")
    p.add_argument("--seed", type=int, default=0, help="fixes the fault schedule and the workload's choices")
    p.add_argument("--timer", type=float, default=0.2, metavar="SECONDS", help="every timer's duration")
    p.add_argument("--tick-seconds", type=float, default=0.05, metavar="SECONDS",
                   help="one time unit of the nodes' clocks (timers armed with after=; default 0.05)")
    p.add_argument("--max-skew", type=int, default=0, metavar="UNITS",
                   help="each clock starts up to this many units off (a protocol with times; default 0)")
    p.add_argument("--clock-jumps", type=int, default=0, metavar="N",
                   help="with --faults clock_jump: at most N jumps of one clock by 1..--jump units")
    p.add_argument("--jump", type=int, default=1, metavar="UNITS", help="the largest clock jump (default 1)")
    p.add_argument("--crashable", default="", metavar="ROLES", help="comma-separated roles or nodes that may crash")
    p.add_argument("--out", default="run-out", metavar="DIR", help="logs and durable files (default run-out)")
    p.add_argument("--history", metavar="FILE", help="also save the history (Jepsen-style JSON) there")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = p.parse_args(argv)
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    for k in kinds:
        if k not in FAULTS:
            print(f"run.py: --faults: unknown fault {{k!r}} (faults: {{', '.join(FAULTS)}})", file=sys.stderr)
            return 2
    crashable = tuple(c.strip() for c in args.crashable.split(",") if c.strip()) or None
    echo = None if args.json else (lambda line: print(line, flush=True))
    try:
        timed = keeps_time(load_protocol(f"{{MODULE}}:{{args.protocol}}", params(args.set), (str(HERE),)))
        opts = RunOptions(duration=args.duration, faults=kinds, seed=args.seed, out=Path(args.out),
                          timer_default=args.timer, crashable=crashable, timed=timed, tick_seconds=args.tick_seconds,
                          max_skew=args.max_skew, max_clock_jumps=args.clock_jumps, jump=args.jump)
        report = Controller(f"{{MODULE}}:{{args.protocol}}", params(args.set), opts, paths=(str(HERE),),
                            echo=echo).run()
    except (RunError, ValueError, TypeError, OSError) as e:
        print(f"run.py: {{e}}", file=sys.stderr)
        return 2
    if args.history:
        Path(args.history).write_text(json.dumps(report.history, indent=1) + "\\n", encoding="utf-8")
    violated = [n for n, s in report.invariants.items() if s == "violated"]
    code = 2 if report.errors or report.unasked else 3 if report.interrupted else 1 if violated else 0
    if report.unasked:
        print(f"run.py: {{report.unasked['message']}}", file=sys.stderr)
    elif report.interrupted:
        print(f"run.py: interrupted (Ctrl-C) after {{report.seconds:.2f}} s; every process stopped", file=sys.stderr)
    if args.json:
        print(json.dumps({{"exit_code": code, "history": report.history, "invariants": report.invariants,
                          "faults": report.faults, "errors": report.errors, "violation": report.violation,
                          "final": report.final, "down": list(report.down)}}))
        return code
    print(f"history ({{len(report.history)}} events):")
    for e in report.history:
        print(f"  {{e['time'] / 1e9:8.3f}}s  {{e['node']:>10}}  {{e['type']:<6}} {{e['f']}} {{json.dumps(e['value'])}}")
    for name, status in report.invariants.items():
        print(f"  {{'FAIL' if status == 'violated' else 'ok  '}} {{name}}: {{status}}")
    if report.violation:
        print(f"  first violating snapshot at {{report.violation['at']}} s: {{json.dumps(report.violation['state'])}}")
    for e in report.errors:
        print(f"  ERROR {{e['node']}}: {{e['handler']}} ({{e['context']}}):\\n{{e['traceback']}}")
    print(f"{{len(report.faults)}} faults injected; {{report.snapshots}} snapshots checked; {{report.seconds:.2f}} s"
          + (f"; history saved to {{args.history}}" if args.history else ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
'''
