"""`faultcheck run`: the spec's protocol as a real cluster, one process per node on 127.0.0.1.

    faultcheck run SPEC [--duration SECONDS] [--faults crash,partition,drop,duplicate,clock_jump] [--seed N]
                        [--out DIR] [--timer [NAME=]SECONDS] [--json]

Prints what happens as it happens (faults, handler errors), then the operations, the verdict of
each property and where the files went: `DIR/history.json` (Jepsen-style, checkable again with
`faultcheck history`), `DIR/faults.json` (the budget, the seed's fault schedule and what was
injected), `DIR/report.json`, the nodes' logs and durable files. Faults stay within the spec's
[faults] budget: a kind asked for that the spec allows none of is noted and not injected (so one
command line fits every spec of a suite, and a run never tests what the model does not promise).
With [time], one time unit lasts `[runtime] tick_seconds` (default 0.05 s), each node's clock starts
off by a seeded offset within `max_skew`, and `clock_jump` moves a clock by at most `jump` units.
Exit 0 when the run satisfies the spec's properties (its invariants on every consistent snapshot,
its [consistency] history and convergence), 1 when not, 2 on bad input, a host that does not start,
a handler that raised or a node that exited unasked, 3 on Ctrl-C (one line; the files so far saved).
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
from ..runtime.cluster import DEFAULT_TICK, ClusterError
from ..runtime.controller import FAULTS, Controller, OutError, RunError, RunOptions, RunReport, claim_out
from ..spec import SpecError, load_spec
from ..spec.load import CONSISTENCY_PROPERTIES, ELLE_PROPERTIES
from ..spec.properties import elle_check

EXIT_OK, EXIT_FAIL, EXIT_ERROR, EXIT_UNDETERMINED = 0, 1, 2, 3
EPILOG = """The seed fixes the fault schedule (which faults, on which nodes, when); real timing is not
reproducible, so two runs with one seed may record different histories. Faults never exceed the
spec's [faults] budget (crashes, restarts, max_down, partitions, loss, duplication).
exit codes: 0 the run satisfies the spec's properties; 1 it does not; 2 bad input, a node that does
not start, a handler that raised, or a node that exited on its own; 3 interrupted (Ctrl-C)."""


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
        help=f"comma-separated, of {','.join(FAULTS)} (default: none). Within the spec's [faults] budget: "
        "at most `crashes` kills of crashable nodes (restarted only with restarts = true), `partitions` "
        "partitions, `loss` drops, `duplication` duplicates, `clock_jumps` clock jumps of at most `jump` units "
        "(with [time]); a kind the spec allows none of is not injected",
    )
    r.add_argument("--seed", type=int, default=0, help="fixes the fault schedule and the workload's choices")
    r.add_argument(
        "--out",
        metavar="DIR",
        help="where the history, schedule and logs go (default .faultcheck/<spec>.run); a new or empty folder, "
        "or one an earlier run created (only the files a run writes are replaced there)",
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
    settings = getattr(spec, "time", None)  # [time]: every node has a clock, `tick_seconds` a unit long
    return RunOptions(
        duration=args.duration,
        faults=kinds,
        seed=args.seed,
        out=Path(args.out) if args.out else Path(".faultcheck") / f"{spec.name}.run",
        timer_default=timer_default,
        timers=timers,
        request_interval=float(rt.get("request_interval", 0.1)),
        crashable=f.crashable,
        restarts=f.restarts,
        max_crashes=f.crashes,
        max_down=f.max_down,
        max_partitions=f.partitions,
        max_drops=f.loss,
        max_duplicates=f.duplication,
        splits=f.splits,
        invariants=spec.invariants,
        own_out=not args.out,
        timed=settings is not None,
        tick_seconds=float(rt.get("tick_seconds", DEFAULT_TICK)),
        max_skew=settings.max_skew if settings is not None else 0,
        max_clock_jumps=getattr(f, "clock_jumps", 0),
        jump=getattr(f, "jump", 1),
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
        claim_out(options.out, "faultcheck run", own=options.own_out)  # before anything is printed
        _compile_formulas(controller)
        if echo:
            kinds = ", ".join(options.faults) or "none"
            echo(
                f"run {spec.where}: {spec.protocol} {spec.params}, {options.duration:g} s, faults: {kinds}, "
                f"seed {options.seed}"
            )
            for note in _outside_budget(options):
                echo(f"note: {note}")
        report = controller.run()
    except OutError as e:
        return _error(str(e))
    except (SpecError, ClusterError, RunError, OSError) as e:
        return _error(f"{spec.where}: {e}")
    return _report(spec, options, report, args.json)


BUDGET_FIELD = {"crash": "crashes", "partition": "partitions", "drop": "loss", "duplicate": "duplication",
                "clock_jump": "clock_jumps"}


def _outside_budget(options: RunOptions) -> list[str]:
    """A note per fault kind asked for that the spec's budget allows none of (it is not injected)."""
    return [
        f"--faults {k}: the spec has no [time] section (no clocks), so none is injected"
        if k == "clock_jump" and not options.timed
        else f"--faults {k}: the spec's fault model allows none ([faults] {BUDGET_FIELD[k]} = 0), so none is injected"
        for k in options.faults
        if not options.allowed(k)
    ]


def _budget_text(report: RunReport) -> str:
    b, u = report.budget, report.used
    parts = [f"{u['crashes']}/{b['crashes']} crashes", f"{u['restarts']} restarts" if b["restarts"] else "no restarts",
             f"{u['partitions']}/{b['partitions']} partitions", f"{u['drops']}/{b['drops']} drops",
             f"{u['duplicates']}/{b['duplicates']} duplicates"]
    if "clock_jumps" in b:
        parts.append(f"{u['clock_jumps']}/{b['clock_jumps']} clock jumps of at most {b['jump']} units")
    return "within the budget: " + ", ".join(p.replace("/None", "") for p in parts)


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
        model = c.get("model", "register")
        exact = {"nil_read": "value"}  # our own recording: a nil read is the nil read, as in the model's check
        if c["history"] in ELLE_PROPERTIES:  # transactions: Elle's check
            check, model, exact = elle_check(c["history"]), c.get("model", "list-append"), {}
        try:
            r = check(report.history, model, c.get("initial"), **exact)
            name = CONSISTENCY_PROPERTIES[c["history"]]
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
    ok = all(v["ok"] for v in verdicts.values())
    broken = bool(report.errors or report.unasked)
    code = (
        EXIT_ERROR if broken else EXIT_UNDETERMINED if report.interrupted else EXIT_OK if ok else EXIT_FAIL
    )
    doc = {
        "spec": spec.where,
        "protocol": spec.protocol,
        "seed": options.seed,
        "duration": options.duration,
        "exit_code": code,
        "ok": ok and not broken and not report.interrupted,
        "interrupted": report.interrupted,
        "unasked_exit": report.unasked,
        "properties": verdicts,
        "errors": report.errors,
        "violation": report.violation,
        "budget": report.budget,
        "used": report.used,
        "faults": report.faults,
        "requests": report.requests,
        "operations": _ops(report.history),
        "snapshots": report.snapshots,
        "down": list(report.down),
        "final": report.final,
        **({"clocks": report.clocks} if report.clocks is not None else {}),
        "dropped_frames": report.dropped_frames,
        "seconds": report.seconds,
        "history": str(out / "history.json"),
        "schedule": str(out / "faults.json"),
    }
    (out / "report.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(doc), flush=True)
    if report.unasked:
        where = f" (its log: {out / 'logs' / (report.unasked['node'] + '.log')})"
        _error(f"{spec.where}: {report.unasked['message']}{where}")
    elif report.interrupted:
        _error(
            f"{spec.where}: interrupted (Ctrl-C) after {report.seconds:.2f} s; every process stopped; "
            f"what was recorded is in {out / 'report.json'} and {out / 'history.json'}"
        )
    if as_json or (report.interrupted and not broken):
        return code
    ops = doc["operations"]
    print(
        f"operations: {ops['invoked']} invoked, {ops['ok']} ok, {ops['fail']} failed, {ops['info']} unknown "
        f"({report.requests} requests made); faults injected: {len(report.faults)} ({_budget_text(report)}); "
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
        f"ERROR: {report.unasked['message']}"
        if report.unasked
        else "ERROR: a handler raised"
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
