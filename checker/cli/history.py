"""`faultcheck history`: is a client history (Jepsen's EDN, JSON or JSON lines) linearizable, sequentially
consistent, or free of the transactional anomalies an isolation level forbids?

    faultcheck history HISTORY [--model M] [--consistency C] [--nil-read unknown|value] [--initial VALUE]
                               [--max-seconds S] [--fail drop|returned-false] [--shrink weaken|delete|none]
                               [--dot FILE] [--json]

The file is read by `checker.logic.histformat` (format told by content; entries of non-client processes
such as Jepsen's ``:nemesis`` are left out and counted). One line per file: ``ok   FILE: linearizable
(N operations, T s)``, or ``FAIL FILE: not linearizable: <why>`` followed by the entries of a minimal
failing sub-history, one per line, indented, each with its position in the file, or ``??   FILE:
undetermined: ...`` when --max-seconds cut the search. Left-out entries are counted on that line
("12 nemesis entries ignored"). A Jepsen ``independent`` history (values ``[k v]``) is checked key by key
(models other than kv and multi-register, which are keyed themselves) and the line names the keys that
fail. The transactional models (list-append, rw-register) go to `checker.logic.elle` (imported only
then). Exit 0 when the history satisfies the condition, 1 when it does not, 2 for an unreadable file, a
malformed history or a bad option (one line on stderr, ``faultcheck: FILE: ...``, no traceback), 3 when
undetermined. ``--json``: one JSON object on stdout instead.

Wire it into the main parser with `add_parser(sub)`; the command's function is `cmd_history(args)`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from typing import Any

from ..logic.consistency import FAIL_MODES, MODELS, SHRINKS, HistoryError, check_linearizable, check_sequential
from ..logic.histformat import Loaded, independent_keys, read_history
from ..model.inputs import HISTORY_LIMIT, InputError, describe_limit

EXIT_OK, EXIT_FAIL, EXIT_ERROR, EXIT_UNDETERMINED = 0, 1, 2, 3
CONSISTENCIES = ("linearizable", "sequential")
# checker.logic.elle's ELLE_MODELS and ELLE_CONSISTENCY, named here so that --help does not import it
# (networkx); cmd_history checks them against the module's own tuples.
ELLE_MODELS = ("list-append", "rw-register")
ELLE_CONSISTENCY = ("read-uncommitted", "read-committed", "repeatable-read", "snapshot-isolation", "serializable",
                    "strong-session-serializable", "strict-serializable")
NIL_READS = ("unknown", "value")
KEYED = ("kv", "multi-register")  # models whose values carry keys themselves: never split by key
EPILOG = """exit codes: 0 the history satisfies the condition; 1 it does not;
2 unreadable file, malformed history or bad option; 3 undetermined (--max-seconds ran out)."""


def add_parser(sub: Any) -> None:
    """Add the `history` command to an argparse subparsers object."""
    h = sub.add_parser(
        "history",
        help="check a client history (Jepsen's EDN, JSON or JSON lines) for linearizability, sequential "
             "consistency or transactional anomalies (Elle)",
        description="Check a client history for linearizability (Wing & Gong / Lowe, per key for keyed "
                    "histories) or sequential consistency; or, with a transactional model, for the anomalies "
                    "(Adya's G0, G1a-c, G-single, G2-item, ...) that an isolation level forbids, as Elle "
                    "does. A failing history is explained by a minimal failing sub-history.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("history", metavar="HISTORY",
                   help="Jepsen's history.edn (one map per line, or one vector), a JSON array of operations or "
                        f"JSON lines, told apart by content (a regular file of at most {describe_limit(HISTORY_LIMIT)})"
                        "; entries of non-client processes (:nemesis) are ignored and counted")
    h.add_argument("--model", choices=(*MODELS, *ELLE_MODELS), default="register",
                   help="register (read, write, cas; default), kv (per-key read/write/cas, get/put/append), "
                        f"{', '.join(m for m in MODELS if m not in ('register', 'kv'))}; or a transactional "
                        "workload checked as Elle does: list-append, rw-register")
    h.add_argument("--consistency", choices=(*CONSISTENCIES, *ELLE_CONSISTENCY), default=None,
                   help="linearizable (real-time order; default) or sequential (each process's program order); "
                        f"for list-append and rw-register: {', '.join(ELLE_CONSISTENCY)} (default serializable)")
    h.add_argument("--nil-read", choices=NIL_READS, default=None,
                   help="an ok read of nil: unknown (default; Knossos's reading, the value read is not known, so "
                        "the read constrains nothing) or value (nil is the value read, as Porcupine reads it)")
    h.add_argument("--initial", metavar="VALUE",
                   help="the initial value as a JSON literal: the register's (default null), or for kv an object "
                        "(default: every key \"\")")
    h.add_argument("--max-seconds", metavar="S", type=float, default=None,
                   help="give up the search after S seconds: the verdict is then undetermined (exit 3)")
    h.add_argument("--fail", choices=FAIL_MODES, default="drop",
                   help="a failed operation: drop (it did not happen; default), or returned-false (Porcupine: a "
                        "failed cas returned false and must be linearized where the register differs)")
    h.add_argument("--shrink", choices=SHRINKS, default="weaken",
                   help="the explanation: weaken (default: a sub-history that fails even if the operations left "
                        "out took effect at any time, or never), delete (one that fails on its own), none "
                        "(no shrinking)")
    h.add_argument("--dot", metavar="FILE",
                   help="list-append and rw-register: write the anomalies' dependency graph (Graphviz DOT) to FILE")
    h.add_argument("--json", action="store_true", help="print one JSON object instead of text")


class _Bad(Exception):
    pass


def cmd_history(args: argparse.Namespace) -> int:
    """Run `faultcheck history`; returns the exit code. Works on a Namespace with only `history` set."""
    path = str(args.history)
    model = getattr(args, "model", None) or "register"
    as_json = bool(getattr(args, "json", False))
    transactional = model in ELLE_MODELS
    consistency = getattr(args, "consistency", None) or ("serializable" if transactional else "linearizable")
    loaded: Loaded | None = None
    try:
        _check_options(args, model, consistency, transactional)
        loaded = _load(path)
        if transactional:
            return _transactions(path, loaded, model, consistency, getattr(args, "dot", None), as_json)
        return _histories(path, loaded, model, consistency, args, as_json)
    except HistoryError as e:  # numbered in the client entries: say where it is in the file
        if loaded is None or not isinstance(loaded.entries, list):
            return _error(path, str(e), as_json)
        problem = _renumber(e.problem, list(range(len(loaded.entries))), loaded.positions)
        return _error(path, problem if e.index is None else f"{loaded.describe(e.index)}: {problem}", as_json)
    except (_Bad, ValueError) as e:
        return _error(path, str(e), as_json)


def _check_options(args: argparse.Namespace, model: str, consistency: str, transactional: bool) -> None:
    if transactional and consistency in CONSISTENCIES:
        raise _Bad(f"--consistency {consistency} is for the models {', '.join(MODELS)}; the transactional model "
                   f"{model} takes {', '.join(ELLE_CONSISTENCY)}")
    if not transactional and consistency not in CONSISTENCIES:
        raise _Bad(f"--consistency {consistency} is an isolation level: it needs --model "
                   f"{' or '.join(ELLE_MODELS)}; the {model} model takes {' or '.join(CONSISTENCIES)}")
    if transactional:
        for flag, name in (("nil_read", "--nil-read"), ("initial", "--initial")):
            if getattr(args, flag, None) is not None:
                raise _Bad(f"{name} is for the models {', '.join(MODELS)}, not the transactional {model}")
    elif getattr(args, "dot", None) is not None:
        raise _Bad(f"--dot draws Elle's dependency graph: it needs --model {' or '.join(ELLE_MODELS)}")
    seconds = getattr(args, "max_seconds", None)
    if seconds is not None and not (seconds > 0 and math.isfinite(seconds)):
        raise _Bad(f"--max-seconds {seconds:g}: must be a positive number of seconds")


# --------------------------------------------------------------------------------- linearizable, sequential


def _histories(path: str, loaded: Loaded, model: str, consistency: str, args: argparse.Namespace,
               as_json: bool) -> int:
    initial = _initial(getattr(args, "initial", None))
    entries = loaded.entries
    if not isinstance(entries, list):  # a JSON value that is not an array: the checker says what is wrong
        check_linearizable(entries, model, initial)
    nil_read = getattr(args, "nil_read", None) or "unknown"
    max_seconds = getattr(args, "max_seconds", None)
    options = {"fail": getattr(args, "fail", None) or "drop", "shrink": getattr(args, "shrink", None) or "weaken"}
    check = check_linearizable if consistency == "linearizable" else check_sequential
    fs = getattr(MODELS.get(model), "functions", ())
    keyed = model not in KEYED and all(isinstance(e, dict) and e.get("f") in fs for e in entries)
    groups = independent_keys(entries) if keyed else None
    if groups is None:
        groups = {None: list(range(len(entries)))}
    start = time.perf_counter()
    results: dict[Any, Any] = {}
    for key, idx in groups.items():
        sub = entries if key is None else [_project(entries[i], key) for i in idx]
        failed_before = any(not r.ok and not _undetermined(r) for r in results.values())
        left = None
        if max_seconds is not None:
            left = max_seconds - (time.perf_counter() - start)
            if left <= 0 and results:
                break  # the keys left are not checked: undetermined unless a key failed
            left = max(left, 1e-3)
        kw = dict(options, shrink="none") if failed_before else dict(options)
        try:
            results[key] = check(sub, model, initial, nil_read=nil_read, max_seconds=left, **kw)
        except HistoryError as e:  # numbered in the key's history: say where it is in the file's
            if key is None or e.index is None or not 0 <= e.index < len(idx):
                raise
            raise HistoryError(idx[e.index], f"key {_show_key(key)}: {_renumber(e.problem, idx)}") from None
    seconds = time.perf_counter() - start
    return _report(path, loaded, model, consistency, groups, results, seconds, as_json)


def _project(entry: dict, key: Any) -> dict:
    """A keyed entry's per-key form: its value [key, v] becomes v (a completion without the pair keeps its value)."""
    v = entry.get("value")
    return {**entry, "value": v[1]} if isinstance(v, list) and len(v) == 2 and v[0] == key else entry


def _undetermined(result: Any) -> bool:
    return result.undetermined


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _ignored(loaded: Loaded) -> str:
    """'12 nemesis entries ignored', or '' when nothing was left out."""
    parts = [f"{n} {name} entr{'y' if n == 1 else 'ies'}" for name, n in loaded.ignored.items()]
    return f"{', '.join(parts)} ignored" if parts else ""


def _report(path: str, loaded: Loaded, model: str, consistency: str, groups: dict, results: dict, seconds: float,
            as_json: bool) -> int:
    name = "linearizable" if consistency == "linearizable" else "sequentially consistent"
    keyed = None not in results
    failing = [k for k, r in results.items() if not r.ok and not _undetermined(r)]
    unknown = [k for k, r in results.items() if _undetermined(r)]
    unchecked = [k for k in groups if k not in results]  # --max-seconds ran out before them
    first = failing[0] if failing else unknown[0] if unknown else None
    shown = results[first] if (failing or unknown) else None
    operations = sum(r.operations for r in results.values())
    code = EXIT_FAIL if failing else EXIT_UNDETERMINED if unknown or unchecked else EXIT_OK
    ignored = _ignored(loaded)
    positions: list[int] = []
    message = ""
    if shown is not None:  # the explanation's entries and message as the file numbers them
        idx = groups[first]
        positions = [idx[i] for i in shown.indices]
        message = _renumber(shown.message, idx, loaded.positions)
    if as_json:
        out: dict[str, Any] = {"file": path, "model": model, "consistency": consistency, "format": loaded.format,
                               "ignored": loaded.ignored}
        base = (shown or next(iter(results.values()))).to_json() if results else {}
        out.update(base)
        if shown is not None:
            out["message"] = message
        out.update({"ok": code == EXIT_OK, "undetermined": code == EXIT_UNDETERMINED, "operations": operations,
                    "seconds": round(seconds, 6),
                    "explanation": [{"index": loaded.positions[i], "entry": loaded.entries[i]} for i in positions]})
        if keyed:
            out["partition"] = first
            out["keys"] = [{"key": k, "ok": r.ok, "undetermined": _undetermined(r),
                            "message": _renumber(r.message, groups[k], loaded.positions)} for k, r in results.items()]
            out["failing_keys"] = failing
            out["unchecked_keys"] = unchecked
        print(json.dumps(out, ensure_ascii=False, default=str), flush=True)
        return code
    scope = f" on {_plural(len(results), 'key')}" if keyed else ""
    if code == EXIT_OK:
        extra = f"; {ignored}" if ignored else ""
        print(f"ok   {path}: {name} ({_plural(operations, 'operation')}{scope}, {seconds:.3f} s{extra})", flush=True)
        return code
    where = f"key {_show_key(first)}: " if keyed else ""
    tail = []
    if keyed:
        if failing:
            tail.append(f"{len(failing)} of {_plural(len(results), 'key')} fail: "
                        + ", ".join(_show_key(k) for k in failing[:20]) + (", ..." if len(failing) > 20 else ""))
        if unknown:
            tail.append(f"{len(unknown)} undetermined")
        if unchecked:
            tail.append(f"{len(unchecked)} not checked: --max-seconds ran out")
    if ignored:
        tail.append(ignored)
    note = f" ({'; '.join(tail)})" if tail else ""
    if code == EXIT_UNDETERMINED:
        if shown is None:
            where, message = "", f"--max-seconds ran out after {_plural(len(results), 'key')} of {len(groups)}"
        if message.startswith("undetermined"):
            message = message.split(":", 1)[1].strip() if ":" in message else message
        print(f"??   {path}: undetermined: {where}{message}{note}", flush=True)
        return code
    print(f"FAIL {path}: not {name}: {where}{message}"
          + ("" if shown.minimal else " (shrinking stopped early: perhaps not minimal)") + note)
    width = len(str(max((loaded.positions[i] for i in positions), default=0)))
    for i in positions:
        print(f"       [{loaded.positions[i]:>{width}}] {json.dumps(loaded.entries[i], ensure_ascii=False)}")
    sys.stdout.flush()
    return code


_ENTRIES = re.compile(r"\b(entry|entries) (\d+)(?:-(\d+))?")


def _renumber(message: str, idx: list[int], positions: list[int] | None = None) -> str:
    """`message` with the checker's entry numbers n (positions in the history it was given: the client
    entries, or one key's) replaced by idx[n], or by positions[idx[n]] (the position in the file)."""
    def at(n: str) -> str:
        i = int(n)
        if not 0 <= i < len(idx):
            return n
        j = idx[i]
        return str(j if positions is None else positions[j] if 0 <= j < len(positions) else j)

    def one(m: re.Match) -> str:
        return f"{m.group(1)} {at(m.group(2))}" + (f"-{at(m.group(3))}" if m.group(3) else "")
    return _ENTRIES.sub(one, message)


def _show_key(key: Any) -> str:
    return json.dumps(key, ensure_ascii=False)


# ------------------------------------------------------------------------------------------- transactions


def _transactions(path: str, loaded: Loaded, model: str, consistency: str, dot: str | None, as_json: bool) -> int:
    try:
        from ..logic import elle
    except ImportError as e:
        raise _Bad(f"--model {model} needs checker.logic.elle, which cannot be imported ({e})") from None
    if model not in elle.ELLE_MODELS or consistency not in elle.ELLE_CONSISTENCY:
        raise _Bad(f"checker.logic.elle does not know --model {model} --consistency {consistency}")
    result = elle.check_transactions(loaded.entries, model, consistency)
    if dot is not None:
        try:
            with open(dot, "w", encoding="utf-8") as f:
                f.write(elle.to_dot(result))
        except OSError as e:
            raise _Bad(f"--dot {dot}: cannot write: {e.strerror or e}") from None
    code = EXIT_OK if result.ok else EXIT_FAIL
    ignored = _ignored(loaded)
    if as_json:
        out = {"file": path, "model": model, "consistency": consistency, "format": loaded.format,
               "ignored": loaded.ignored, "ok": result.ok, "undetermined": False, "message": result.message,
               "seconds": round(result.seconds, 6), "transactions": len(result.transactions),
               "anomalies": [_anomaly(a) for a in result.anomalies],
               "allowed": [_anomaly(a) for a in result.allowed]}
        print(json.dumps(out, ensure_ascii=False, default=str), flush=True)
        return code
    every = list(range(len(loaded.entries)))
    lines = [_renumber(line, every, loaded.positions) for line in result.text().splitlines()]
    note = f" ({ignored})" if ignored else ""
    mark = "ok  " if result.ok else "FAIL"
    print(f"{mark} {path}: {lines[0] if lines else result.message}{note}")
    for line in lines[1:]:
        print(f"       {line}")
    sys.stdout.flush()
    return code


def _anomaly(a: Any) -> dict:
    return {"name": a.name, "txns": list(a.txns), "cycle": [list(c) for c in a.cycle],
            "explanation": a.explanation, "minimal": a.minimal}


# ------------------------------------------------------------------------------------------------- input


def _initial(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise _Bad(f"--initial {shown}: not a JSON literal (strings need quotes: '\"x\"')") from None


def _load(path: str) -> Loaded:
    """The history in a regular file of at most HISTORY_LIMIT bytes (see `checker.logic.histformat`)."""
    try:
        return read_history(path, HISTORY_LIMIT)
    except InputError as e:
        raise _Bad(e.reason) from None


def _error(path: str, message: str, as_json: bool) -> int:
    message = " ".join(message.split())  # one line, whatever the message held
    if as_json:
        print(json.dumps({"file": path, "ok": False, "error": message}, ensure_ascii=False), flush=True)
    print(f"faultcheck: {path}: {message}", file=sys.stderr, flush=True)
    return EXIT_ERROR
