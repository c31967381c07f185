"""`faultcheck replay [--live] TRACE` and `faultcheck export PROTOCOL --out DIR`.

    faultcheck replay TRACE                  re-execute the trace on the model (is it still a counterexample?)
    faultcheck replay --live TRACE [--impl MODULE:CLASS] [--out DIR] [--json]
                                             drive a real cluster through it (checker.runtime.replay)
    faultcheck export PROTOCOL --out DIR     a runnable reference implementation (checker.runtime.export)

Exit codes of `replay --live`: 0 the violation reproduced on real processes, 1 the implementation
diverged from the model (or the violation did not show on the real state), 2 bad input.
Wire them in with `add_parsers(sub)`; the commands' functions are `cmd_replay` and `cmd_export`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..model.node import Protocol
from ..spec import SpecError, load_spec
from ..trace import Trace, TraceError

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

REPLAY_EPILOG = """exit codes: 0 the trace's violation reproduced (with --live: on real processes); 1 the
implementation diverged from the model at a step (or the trace no longer replays on the model,
without --live); 2 bad input (a malformed trace, a low-level model, a stale trace with --live)."""


def add_parsers(sub: Any) -> None:
    """Add the `replay` and `export` commands to an argparse subparsers object."""
    r = sub.add_parser(
        "replay",
        help="re-execute a trace on the model, or (--live) drive a real cluster through it step by step",
        description="Without --live: re-execute the trace's steps on its model. With --live: start the trace's "
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
        help="the spec to take the network and fault settings from (default: the one the trace names)",
    )
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
    for base in (Path.cwd(), path.resolve().parent, path.resolve().parent.parent):
        p = base / trace.spec
        if p.is_file():
            return p
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
        else:
            from ..runtime.cluster import ClusterError, load_protocol

            try:
                protocol = load_protocol(trace.protocol, trace.params, (str(Path.cwd()),))
            except ClusterError as e:
                return _error(f"{path}: {e}")
            system = from_protocol(protocol)
            preds = {}
            paths = (str(Path.cwd()),)
    except SpecError as e:
        return _error(f"{path}: {e}")
    checked = replay(system, trace)
    if not args.live:
        if checked.ok:
            print(f"ok   {path}: replays on the model ({len(trace)} steps; {trace.property or trace.verdict})")
            return EXIT_OK
        print(f"FAIL {path}: {checked.message}")
        return EXIT_FAIL
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
        result = live_replay(trace, schema=system.schema, judge=judge, impl=args.impl, paths=paths, out=out, echo=echo)
    except ReplayError as e:
        return _error(f"{path}: {e}")
    code = EXIT_OK if result.reproduced else EXIT_FAIL
    if args.json:
        print(json.dumps({"trace": str(path), "exit_code": code, **result.to_json()}), flush=True)
        return code
    for e in result.errors:
        print(f"  ERROR {e['node']}: {e['handler']} ({e['context']}):")
        for line in (e["traceback"] or "").rstrip().splitlines():
            print(f"         {line}")
    print(f"{'ok  ' if result.reproduced else 'FAIL'} {path}: {result.message} (logs: {out / 'logs'})", flush=True)
    return code


def cmd_export(args: argparse.Namespace) -> int:
    from ..runtime.export import ExportError, export

    try:
        written = export(args.protocol, Path(args.out), paths=(str(Path.cwd()),))
    except ExportError as e:
        return _error(str(e))
    print(f"wrote {args.out}: {len(written)} files; run it with: python {Path(args.out) / 'run.py'} --help")
    return EXIT_OK
