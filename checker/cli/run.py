"""`faultcheck run`: the spec's protocol as a real cluster, one process per node on 127.0.0.1.

    faultcheck run SPEC [--duration SECONDS] [--faults crash,partition,drop,duplicate] [--seed N]
                        [--out DIR] [--timer [NAME=]SECONDS] [--json]

Prints what happens as it happens (faults, handler errors), then the operations, the verdict of
each property and where the files went: `DIR/history.json` (Jepsen-style, checkable again with
`faultcheck history`), `DIR/faults.json` (the seed's fault schedule and what was injected),
`DIR/report.json`, the nodes' logs and durable files. Exit 0 when the run satisfies the spec's
properties (its invariants on every consistent snapshot, its [consistency] history and
convergence), 1 when not, 2 on bad input, a host that does not start, or a handler that raised.
Wire it in with `add_parser(sub)`; the command's function is `cmd_run(args)`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ..logic.consistency import HistoryError, check_convergence, check_linearizable, check_sequential
from ..model.node import Protocol
from ..runtime.cluster import ClusterError
from ..runtime.controller import FAULTS, Controller, RunError, RunOptions, RunReport
from ..spec import SpecError, load_spec

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
EPILOG = """The seed fixes the fault schedule (which faults, on which nodes, when); real timing is not
reproducible, so two runs with one seed may record different histories.
exit codes: 0 the run satisfies the spec's properties; 1 it does not; 2 bad input, a node that does
not start, or a handler that raised."""


class _Bad(Exception):
    pass


def add_parser(sub: Any) -> None:
    """Add the `run` command to an argparse subparsers object."""
    r = sub.add_parser(
        "run",
        help="run a spec's protocol as a real cluster (one process per node on 127.0.0.1) with a client "
        "workload and real faults; check the recorded history",
        description="Run the spec's protocol as real processes talking over loopback TCP, drive its clients' "
        "@request methods at random, inject real faults on a seeded schedule, and check the "
        "invariants on consistent snapshots and the recorded history against [consistency].",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("spec", metavar="SPEC", help="a spec file of a message-passing protocol")
    r.add_argument(
        "--duration",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long the workload and the faults run (default 5)",
    )
    r.add_argument(
        "--faults",
        default="",
        metavar="KINDS",
        help=f"comma-separated, of {','.join(FAULTS)} (default: none). Crashes follow the spec's "
        "[faults]: only crashable nodes, and with restarts = false (crash-stop) a killed node "
        "stays down; a spec without crashes gets crash-recovery, one node down at a time",
    )
    r.add_argument("--seed", type=int, default=0, help="fixes the fault schedule and the workload's choices")
    r.add_argument(
        "--out", metavar="DIR", help="where the history, schedule and logs go (default .faultcheck/<spec>.run)"
    )
    r.add_argument(
        "--timer",
        action="append",
        default=[],
        metavar="[NAME=]SECONDS",
        help="every timer's duration, or one timer's (repeatable; default: the spec's [runtime], else 0.2)",
    )
    r.add_argument("--json", action="store_true", help="print one JSON object (the report) instead of text")


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < v <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, 3600], got {text!r}")
    return v


def options_for(spec: Any, args: argparse.Namespace) -> RunOptions:
    """The run's options from the spec (fault model, [runtime]) and the command line."""
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    for k in kinds:
        if k not in FAULTS:
            raise _Bad(f"--faults: unknown fault {k!r} (faults: {', '.join(FAULTS)})")
    rt = spec.runtime
    timer_default, timers = float(rt.get("timer", 0.2)), {k: float(v) for k, v in rt.get("timers", {}).items()}
    for item in args.timer:
        name, eq, sec = item.rpartition("=")
        try:
            value = float(sec)
            if not value > 0:
                raise ValueError
        except ValueError:
            raise _Bad(f"--timer {item}: expected SECONDS or NAME=SECONDS, seconds > 0") from None
        if eq:
            timers[name] = value
        else:
            timer_default = value
    f = spec.faults
    crash_stop = f.crashes > 0 and not f.restarts
    return RunOptions(
        duration=args.duration,
        faults=kinds,
        seed=args.seed,
        out=Path(args.out) if args.out else Path(".faultcheck") / f"{spec.name}.run",
        timer_default=timer_default,
        timers=timers,
        request_interval=float(rt.get("request_interval", 0.1)),
        crashable=f.crashable,
        restarts=not crash_stop,
        max_crashes=f.crashes if crash_stop else None,
        max_down=f.max_down or (f.crashes if crash_stop else 1) or 1,
        splits=f.splits,
        invariants=spec.invariants,
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Run `faultcheck run`; returns the exit code."""
    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        return _error(str(e))
    if not issubclass(spec.model_class, Protocol):
        return _error(
            f"{spec.where}: {spec.protocol} is a low-level Model; only message-passing protocols "
            "(Node classes) run as processes"
        )
    try:
        options = options_for(spec, args)
    except _Bad as e:
        return _error(str(e))
    echo = None if args.json else (lambda line: print(line, flush=True))
    paths = (str(spec.path.resolve().parent), str(spec.root)) if spec.path else (str(spec.root),)
    try:
        spec.instantiate()
        controller = Controller(spec.protocol, spec.params, options, paths=paths, echo=echo)
        _compile_formulas(controller)
        if echo:
            kinds = ", ".join(options.faults) or "none"
            echo(
                f"run {spec.where}: {spec.protocol} {spec.params}, {options.duration:g} s, faults: {kinds}, "
                f"seed {options.seed}"
            )
            for note in _outside_fault_model(spec, options):
                echo(f"note: {note}")
        report = controller.run()
    except (SpecError, ClusterError, RunError, OSError) as e:
        return _error(f"{spec.where}: {e}")
    return _report(spec, options, report, args.json)


def _outside_fault_model(spec: Any, options: RunOptions) -> list[str]:
    f, out = spec.faults, []
    if "partition" in options.faults and not f.partitions:
        out.append("the spec's fault model has no partitions: what they break may be outside the protocol's promises")
    if ("drop" in options.faults or "partition" in options.faults) and not f.loss:
        out.append("the spec's network loses no message; the runtime's partitions and drops do")
    if "crash" in options.faults and not f.crashes:
        out.append("the spec's fault model has no crashes; crashed nodes restart from their durable files")
    return out


def _compile_formulas(controller: Controller) -> None:
    """Formula invariants are built on a symbolic state, not called on a view: compile them (checker.logic,
    which the runtime may not import) over the real nodes' fields; one that reads more (the network)
    stays unchecked, as the controller says."""
    from ..logic import compile_predicate

    for name, fn in list(controller.invariants.items()):
        declared = getattr(getattr(fn, "__func__", fn), "_fc_predicate", None)
        if declared is None or not declared.formula:
            continue
        try:
            check = compile_predicate(name, fn, controller.schema).check
        except Exception:
            continue
        controller.invariants[name] = lambda view, check=check: check(view.raw_state)


def judge(spec: Any, report: RunReport) -> dict[str, dict[str, Any]]:
    """Each property's verdict: the invariants (from the snapshots), the history's consistency and
    the replicas' convergence (the [consistency] table)."""
    out: dict[str, dict[str, Any]] = {}
    for name, status in report.invariants.items():
        out[name] = {"ok": status != "violated", "checked": status in ("holds", "violated"), "message": status}
    c = spec.consistency
    if "history" in c:
        check = check_linearizable if c["history"] == "linearizable" else check_sequential
        try:
            r = check(report.history, c.get("model", "register"), c.get("initial"))
            name = "Linearizable" if c["history"] == "linearizable" else "SequentiallyConsistent"
            msg = r.message or f"{r.operations} operations"
            out[name] = {"ok": r.ok, "checked": True, "message": msg, "explanation": r.explanation if not r.ok else []}
        except HistoryError as e:
            out["History"] = {"ok": False, "checked": True, "message": f"malformed recorded history: {e}"}
    if "converges" in c:
        role, _, fld = c["converges"].partition(".")
        live = {
            n: s[fld]
            for n, s in report.final.items()
            if re.fullmatch(rf"{re.escape(role)}\d+", n) and n not in report.down and fld in s
        }
        r = check_convergence(live)
        out["Converges"] = {"ok": r.ok, "checked": True, "message": r.message}
    return out


def _report(spec: Any, options: RunOptions, report: RunReport, as_json: bool) -> int:
    verdicts = judge(spec, report)
    out = options.out
    (out / "history.json").write_text(json.dumps(report.history, indent=1) + "\n", encoding="utf-8")
    faults = {"seed": options.seed, "faults": list(options.faults), "plan": report.plan, "injected": report.faults}
    (out / "faults.json").write_text(json.dumps(faults, indent=1) + "\n", encoding="utf-8")
    ok = all(v["ok"] for v in verdicts.values())
    code = EXIT_ERROR if report.errors else EXIT_OK if ok else EXIT_FAIL
    doc = {
        "spec": spec.where,
        "protocol": spec.protocol,
        "seed": options.seed,
        "duration": options.duration,
        "exit_code": code,
        "ok": ok and not report.errors,
        "properties": verdicts,
        "errors": report.errors,
        "violation": report.violation,
        "faults": report.faults,
        "requests": report.requests,
        "operations": _ops(report.history),
        "snapshots": report.snapshots,
        "down": list(report.down),
        "final": report.final,
        "dropped_frames": report.dropped_frames,
        "seconds": report.seconds,
        "history": str(out / "history.json"),
        "schedule": str(out / "faults.json"),
    }
    (out / "report.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(doc), flush=True)
        return code
    ops = doc["operations"]
    print(
        f"operations: {ops['invoked']} invoked, {ops['ok']} ok, {ops['fail']} failed, {ops['info']} unknown "
        f"({report.requests} requests made); faults injected: {len(report.faults)}; "
        f"snapshots checked: {report.snapshots}"
    )
    for name, v in verdicts.items():
        mark = "ok  " if v["ok"] and v["checked"] else "??  " if v["ok"] else "FAIL"
        print(f"  {mark} {name}: {v['message']}")
        for entry in v.get("explanation", []):
            print(f"         {json.dumps(entry)}")
    if report.violation:
        print(f"  first violating snapshot at {report.violation['at']} s: " + json.dumps(report.violation["state"]))
    for e in report.errors:
        print(f"  ERROR {e['node']}: {e['handler']} ({e['context']}):")
        for line in (e["traceback"] or "").rstrip().splitlines():
            print(f"         {line}")
    verdict = (
        "ERROR: a handler raised"
        if report.errors
        else "ok: the run satisfies the spec's properties"
        if ok
        else "FAIL: the run violates the spec's properties"
    )
    print(
        f"{verdict} [{report.seconds:.2f}s] (history: {out / 'history.json'}; schedule: {out / 'faults.json'})",
        flush=True,
    )
    return code


def _ops(history: list[dict[str, Any]]) -> dict[str, int]:
    count = {"invoked": 0, "ok": 0, "fail": 0, "info": 0}
    for e in history:
        count["invoked" if e["type"] == "invoke" else e["type"]] += 1
    return count


def _error(message: str) -> int:
    print(f"faultcheck: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return EXIT_ERROR
