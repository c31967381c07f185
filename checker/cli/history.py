"""`faultcheck history`: is a client history (Jepsen-shaped JSON) linearizable, or sequentially consistent?

    faultcheck history HISTORY.json [--model register|kv] [--consistency linearizable|sequential]
                                    [--initial VALUE] [--fail drop|returned-false]
                                    [--shrink weaken|delete|none] [--json]

One line per file: ``ok   FILE: linearizable (N operations, T s)``, or ``FAIL FILE: not
linearizable: <why>`` followed by the entries of a minimal failing sub-history, one per line,
indented, each with its index in the file. Exit 0 when the history satisfies the condition, 1 when
it does not, 2 for an unreadable file, a malformed history or a bad --initial (one line on stderr,
``faultcheck: FILE: ...``, no traceback). ``--json``: one JSON object on stdout instead.

The checks are `checker.logic.consistency`'s (see its docstring for the semantics of fail and info).
Wire it into the main parser with `add_parser(sub)`; the command's function is `cmd_history(args)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..logic.consistency import FAIL_MODES, MODELS, SHRINKS, HistoryError, check_linearizable, check_sequential
from ..model.inputs import HISTORY_LIMIT, InputError, describe_limit, read_json

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
CONSISTENCIES = ("linearizable", "sequential")
EPILOG = """exit codes: 0 the history satisfies the condition; 1 it does not;
2 unreadable file, malformed history or bad --initial."""


def add_parser(sub: Any) -> None:
    """Add the `history` command to an argparse subparsers object."""
    h = sub.add_parser(
        "history",
        help="check a client history (Jepsen-style JSON: process, type, f, value) for linearizability or "
             "sequential consistency against a register or key-value model",
        description="Check a client history for linearizability (Wing & Gong / Lowe, per key for kv) or "
                    "sequential consistency. A failing history is explained by a minimal failing sub-history.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("history", metavar="HISTORY.json",
                   help=f"a JSON array of operations (a regular file of at most {describe_limit(HISTORY_LIMIT)})")
    h.add_argument("--model", choices=tuple(MODELS), default="register",
                   help="register (read, write, cas; default) or kv (get, put, append on string keys)")
    h.add_argument("--consistency", choices=CONSISTENCIES, default="linearizable",
                   help="linearizable (real-time order; default) or sequential (each process's program order)")
    h.add_argument("--initial", metavar="VALUE",
                   help="the initial value as a JSON literal: the register's (default null), or for kv an object "
                        "of strings (default: every key \"\")")
    h.add_argument("--fail", choices=FAIL_MODES, default="drop",
                   help="a failed operation: drop (it did not happen; default), or returned-false (Porcupine: a "
                        "failed cas returned false and must be linearized where the register differs)")
    h.add_argument("--shrink", choices=SHRINKS, default="weaken",
                   help="the explanation: weaken (default: a sub-history that fails even if the operations left "
                        "out took effect at any time, or never), delete (one that fails on its own), none "
                        "(no shrinking)")
    h.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def cmd_history(args: argparse.Namespace) -> int:
    """Run `faultcheck history`; returns the exit code. Works on a Namespace with only `history` set."""
    path = str(args.history)
    model = getattr(args, "model", None) or "register"
    consistency = getattr(args, "consistency", None) or "linearizable"
    as_json = bool(getattr(args, "json", False))
    try:
        initial = _initial(getattr(args, "initial", None))
        history = _load(path)
        check = check_linearizable if consistency == "linearizable" else check_sequential
        result = check(history, model, initial, fail=getattr(args, "fail", None) or "drop",
                       shrink=getattr(args, "shrink", None) or "weaken")
    except (_Bad, HistoryError, ValueError) as e:
        return _error(path, str(e), as_json)
    name = "linearizable" if consistency == "linearizable" else "sequentially consistent"
    if as_json:
        out = {"file": path, "model": model, "consistency": consistency, **result.to_json()}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    elif result.ok:
        print(f"ok   {path}: {name} ({result.operations} operation{'s' if result.operations != 1 else ''}, "
              f"{result.seconds:.3f} s)", flush=True)
    else:
        print(f"FAIL {path}: not {name}: {result.message}"
              + ("" if result.minimal else " (shrinking stopped early: perhaps not minimal)"))
        width = len(str(max(result.indices, default=0)))
        for i, entry in zip(result.indices, result.explanation):
            print(f"       [{i:>{width}}] {json.dumps(entry, ensure_ascii=False)}")
        sys.stdout.flush()
    return EXIT_OK if result.ok else EXIT_FAIL


class _Bad(Exception):
    pass


def _initial(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise _Bad(f"--initial {shown}: not a JSON literal (strings need quotes: '\"x\"')") from None


def _load(path: str) -> Any:
    """The JSON in a regular file of at most HISTORY_LIMIT bytes (see `checker.model.inputs`)."""
    try:
        return read_json(path, HISTORY_LIMIT, "history")
    except InputError as e:
        raise _Bad(e.reason) from None


def _error(path: str, message: str, as_json: bool) -> int:
    message = " ".join(message.split())  # one line, whatever the message held
    if as_json:
        print(json.dumps({"file": path, "ok": False, "error": message}, ensure_ascii=False), flush=True)
    print(f"faultcheck: {path}: {message}", file=sys.stderr, flush=True)
    return EXIT_ERROR
