"""`faultcheck replay [--live] TRACE` and `faultcheck export PROTOCOL --out DIR`.

    faultcheck replay TRACE [--spec SPEC] [--set NAME=VALUE]
                                             re-execute the trace on the model and judge its end
                                             (checker.trace.replay.reproduce)
    faultcheck replay --live TRACE [--impl MODULE:CLASS] [--out DIR] [--json]
                                             drive a real cluster through it (checker.runtime.replay)
    faultcheck export PROTOCOL --out DIR     a runnable reference implementation (checker.runtime.export)

Exit codes of `replay`: 0 every step matched and the end shows the recorded violation; 1 it does not
(a step, the final state, a property the model lacks, a trace recorded for other params); 2 bad input.
With --live: 0 the violation reproduced on real processes, 1 the implementation diverged from the model
(or the violation did not show on the real state), 2 bad input.
Wire them in with `add_parsers(sub)`; the commands' functions are `cmd_replay` and `cmd_export`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..model.node import Protocol
from ..spec import SpecError, load_spec
from ..trace import Trace, TraceError

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

REPLAY_EPILOG = """exit codes: 0 the trace's violation reproduced: every step re-executes to its recorded state and
the final state violates the recorded property (a lasso: its cycle closes, is fair and violates the liveness
property; with --live: on real processes; a reachability witness: the final state has the property; a path
exported by `faultcheck explore` that violates nothing: every step re-executes); 1 it does not (the first step that differs, a final state that
satisfies the property, a property the model does not have, a trace recorded for other parameters or another
protocol than --spec's; with --live: the implementation diverged from the model); 2 bad input (a malformed
trace, a bad spec; with --live: a low-level model, a stale trace)."""


def add_parsers(sub: Any) -> None:
    """Add the `replay` and `export` commands to an argparse subparsers object."""
    r = sub.add_parser(
        "replay",
        help="re-execute a trace on the model, or (--live) drive a real cluster through it step by step",
        description="Without --live: re-execute the trace's steps on its model (the trace's protocol and "
        "parameters, with the fault and network settings of the spec it names; or --spec's, which must be those "
        "the trace was recorded for) and check that its final state violates the property it names. With "
        "--live: start the trace's "
        "protocol as real processes on 127.0.0.1 holding every message, take each step for real (deliver "
        "exactly this message, fire this timer, SIGKILL, restart from the durable file, ...), compare every "
        "live node's state with the trace's after each step, and evaluate the violated property on the real "
        "final state.",
        epilog=REPLAY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("trace", metavar="TRACE")
    r.add_argument("--live", action="store_true", help="replay against real processes")
    r.add_argument(
        "--impl",
        metavar="MODULE:CLASS",
        help="with --live: run this implementation instead of the trace's protocol (same nodes, fields and "
        "messages); the trace's model still judges it",
    )
    r.add_argument(
        "--spec",
        metavar="SPEC",
        help="the spec to take the protocol, parameters, network and fault settings from (default: the one the "
        "trace names, with the trace's parameters); a trace recorded for others does not replay",
    )
    r.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="without --live: override a parameter (of --spec, else of the trace)")
    r.add_argument(
        "--out",
        metavar="DIR",
        help="with --live: where the cluster's files and logs go (default .faultcheck/<trace>.live)",
    )
    r.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    e = sub.add_parser(
        "export",
        help="write a runnable reference implementation of a protocol (standard library only)",
        description="Write DIR with the protocol's module, the parts of checker it needs (checker/model and "
        "checker/runtime, standard library only) and a launcher DIR/run.py that starts the cluster and runs a "
        "client workload; it runs with a bare Python, without faultcheck installed.",
    )
    e.add_argument(
        "protocol",
        metavar="PROTOCOL",
        help="as a spec names it: protocols.primary_backup or protocols.primary_backup:PrimaryBackup",
    )
    e.add_argument("--out", required=True, metavar="DIR", help="the folder to write (created; must be empty)")


def _error(message: str) -> int:
    print(f"faultcheck: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return EXIT_ERROR


def _find_spec(trace: Trace, path: Path, given: str | None) -> Path | None:
    if given:
        return Path(given)
    if not trace.spec:
        return None
    from ..spec.paths import PathError, inside, write_root

    # loading a spec imports its protocol's code: a spec the trace names must lie in the trace's project or
    # in the project the command runs in, never wherever a doctored trace points
    roots = (write_root(path), write_root(Path.cwd() / "x"))
    for base in (Path.cwd(), path.resolve().parent, path.resolve().parent.parent):
        p = base / trace.spec
        if p.is_file():
            errors = []
            for root in roots:
                try:
                    inside(p, root, where=str(path), field="spec", shown=trace.spec)
                    return p
                except PathError as e:
                    errors.append(e)
            raise SpecError(f"{errors[0]}; pass --spec to replay it with a spec of your choice")
    return None


def cmd_replay(args: argparse.Namespace) -> int:
    from ..semantics.nodes import from_protocol
    from ..spec.properties import history_predicates
    from ..spec.run import prepare
    from ..trace.replay import replay

    path = Path(args.trace)
    try:
        trace = Trace.load(path)
    except TraceError as e:
        return _error(str(e))
    if not args.live:
        return _replay_on_model(args, path, trace)
    spec_path = _find_spec(trace, path, args.spec)
    try:
        if spec_path is not None:
            spec = load_spec(spec_path)
            if spec.params != trace.params:
                spec = spec.with_params(trace.params)
            if not issubclass(spec.model_class, Protocol):
                return _error(
                    f"{path}: {trace.protocol} is a low-level model; live replay runs message-passing "
                    "protocols (Node classes)"
                )
            system, invs = prepare(spec_path, trace.params)
            preds = {p.name: p for p in [*invs, *history_predicates(spec, system)]}
            paths = (str(spec_path.resolve().parent), str(spec.root))
            settings = getattr(spec, "time", None)
            tick = settings.tick if settings is not None else None
        else:
            from ..runtime.cluster import ClusterError, load_protocol

            try:
                protocol = load_protocol(trace.protocol, trace.params, (str(Path.cwd()),))
            except ClusterError as e:
                return _error(f"{path}: {e}")
            system = from_protocol(protocol)
            preds = {}
            paths = (str(Path.cwd()),)
            tick = None  # a timed trace is known by its clocks; a tick is then 1 unit
    except SpecError as e:
        return _error(f"{path}: {e}")
    checked = replay(system, trace)
    if not checked.ok:
        hint = "" if spec_path is not None else " (the trace names no spec it could be checked with; try --spec)"
        return _error(f"{path}: does not replay on the model, so it cannot be replayed live: {checked.message}{hint}")
    pred = preds.get(trace.property or "")
    judge = pred.check if pred is not None else None
    if trace.property and pred is None and trace.property in system.invariants:
        fn = system.invariants[trace.property]
        judge = lambda raw: fn(system.schema.view(raw))  # noqa: E731
    from ..runtime.replay import ReplayError, live_replay

    out = Path(args.out) if args.out else Path(".faultcheck") / f"{path.stem}.live"
    echo = None if args.json else (lambda line: print(line, flush=True))
    if echo:
        echo(
            f"replay --live {path}: {args.impl or trace.protocol} {trace.params}, {len(trace)} steps, "
            f"property {trace.property}"
        )
    try:
        result = live_replay(
            trace, schema=system.schema, judge=judge, impl=args.impl, paths=paths, out=out, own_out=not args.out,
            echo=echo, tick=tick,
        )
    except ReplayError as e:
        return _error(f"{path}: {e}")
    code = 3 if result.interrupted else EXIT_OK if result.reproduced else EXIT_FAIL
    if result.interrupted:  # Ctrl-C: one line; what was recorded is in report.json and history.json
        if args.json:
            print(json.dumps({"trace": str(path), "exit_code": code, **result.to_json()}), flush=True)
        print(f"faultcheck: {path}: {result.message}; what was recorded is in {out / 'report.json'}", file=sys.stderr)
        return code
    if args.json:
        print(json.dumps({"trace": str(path), "exit_code": code, **result.to_json()}), flush=True)
        return code
    for e in result.errors:
        print(f"  ERROR {e['node']}: {e['handler']} ({e['context']}):")
        for line in (e["traceback"] or "").rstrip().splitlines():
            print(f"         {line}")
    print(f"{'ok  ' if result.reproduced else 'FAIL'} {path}: {result.message} (logs: {out / 'logs'})", flush=True)
    return code


def _replay_on_model(args: argparse.Namespace, path: Path, trace: Trace) -> int:
    """Without --live: rebuild the model, replay every step and judge the end (`reproduce`)."""
    from . import parse_sets

    overrides = parse_sets(args.set)
    try:
        spec, source = _spec_for(trace, path, args.spec, overrides)
        if trace.protocol != spec.protocol:
            return _report(args, path, False, f"recorded for protocol {trace.protocol}, {source} {spec.protocol}")
        unknown = [k for k in trace.params if k not in getattr(spec.model_class, "_params", trace.params)]
        if unknown:
            return _report(args, path, False, f"recorded for {unknown[0]}={json.dumps(trace.params[unknown[0]])}, "
                           f"{spec.protocol} has no parameter {unknown[0]!r}")
        from ..spec.properties import replay_properties
        from ..spec.run import params_mismatch, system_of

        model = spec.instantiate()
        differs = params_mismatch(trace.params, json.loads(json.dumps(dict(model.params), default=str)), source)
        if differs:
            return _report(args, path, False, differs)

        system = system_of(spec, model, False)
        properties = replay_properties(spec, model, system)
    except SpecError as e:
        return _error(f"{path}: {e}")
    from ..trace.replay import reproduce

    try:
        r = reproduce(system, trace, properties)
    except Exception as e:  # the model's own code raised while replaying
        return _error(f"{path}: replaying it on {trace.protocol} raised {type(e).__name__}: {e}")
    return _report(args, path, r.ok, r.message, r.step)


def _spec_for(trace: Trace, path: Path, given: str | None, overrides: dict[str, Any]) -> tuple[Any, str]:
    """The spec to replay on, and how a mismatch names it: --spec as it is (with --set); else the spec the
    trace names with the trace's parameters; else the trace's protocol alone, with default settings."""
    from ..spec import spec_for_model
    from ..spec.load import project_root, resolve_protocol

    spec_path = _find_spec(trace, path, given)
    if given is not None:
        return load_spec(spec_path).with_params(overrides), "the spec says"  # type: ignore[arg-type]
    source = "--set says" if overrides else "the spec says"
    if spec_path is not None:
        return load_spec(spec_path).with_params({**trace.params, **overrides}), source
    where = str(path)
    places = [Path.cwd(), project_root(path.resolve().parent)]
    cls = resolve_protocol(trace.protocol, where, places, only_from=places)
    spec = replace(spec_for_model(cls), protocol=trace.protocol)
    return spec.with_params({**trace.params, **overrides}), source


def _report(args: argparse.Namespace, path: Path, ok: bool, message: str, step: int | None = None) -> int:
    code = EXIT_OK if ok else EXIT_FAIL
    if getattr(args, "json", False):
        print(json.dumps({"trace": str(path), "exit_code": code, "ok": ok, "step": step, "message": message}),
              flush=True)
    else:
        print(f"{'ok  ' if ok else 'FAIL'} {path}: {message}", flush=True)
    return code


def cmd_export(args: argparse.Namespace) -> int:
    from ..runtime.export import ExportError, export

    try:
        written = export(args.protocol, Path(args.out), paths=(str(Path.cwd()),))
    except ExportError as e:
        return _error(str(e))
    print(f"wrote {args.out}: {len(written)} files; run it with: python {Path(args.out) / 'run.py'} --help")
    return EXIT_OK
