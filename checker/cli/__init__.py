"""The `faultcheck` command line: check specs, show traces. Nothing imports this.

Exit codes (the same for every command): 0 as expected, 1 not as expected,
2 bad input or internal error, 3 undetermined (a bound or Ctrl-C cut it short).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..engine import ProgressMonitor, Verdict
from ..model.inputs import (
    CHECKPOINT_LIMIT,
    HISTORY_LIMIT,
    MAX_DEPTH,
    SPEC_LIMIT,
    TRACE_LIMIT,
    InputError,
    describe_limit,
    parse_toml,
)
from ..spec import CheckResult, SpecError, check, combine_exit_codes
from ..spec.run import EXIT_ERROR, EXIT_OK, EXIT_UNDETERMINED
from ..trace import Trace, TraceError, render_text
from ..trace.html import to_html
from ..trace.itf import to_itf
from ..trace.msc import to_dot, to_svg
from .explore import add_parser as explore_parser
from .explore import cmd_explore
from .history import add_parser as history_parser
from .history import cmd_history
from .isolate import GRACE_SECONDS, Interrupts, Supervisor, can_isolate, fix_hash_seed
from .junit import Case, junit_xml
from .replay import add_parsers as replay_parsers
from .replay import cmd_export, cmd_replay
from .run import add_parser as run_parser
from .run import cmd_run

EPILOG = f"""exit codes: 0 every outcome as expected; 1 an outcome not as expected;
2 bad input or internal error; 3 undetermined (a bound or Ctrl-C cut the work short).
Over several specs: the first present of 2, 1, 3, else 0.

inputs: regular files only, at most {describe_limit(SPEC_LIMIT)} for a spec, {describe_limit(TRACE_LIMIT)} for a trace,
{describe_limit(HISTORY_LIMIT)} for a history, {describe_limit(CHECKPOINT_LIMIT)} for a checkpoint's metadata; TOML and JSON \
nested at most {MAX_DEPTH} deep.
Each spec is checked in a process of its own: a spec whose code ends that process (os._exit, a
crash) is reported as an error, and the others are still checked. Runs with PYTHONHASHSEED=0
(re-executing itself if need be), so sets of strings iterate alike in every run."""


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="faultcheck",
        description="Model-check fault-tolerant distributed protocols written as Python state machines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"faultcheck {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", help="check spec files (a DIR means every *.toml directly in it)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("paths", nargs="+", metavar="FILE|DIR")
    c.add_argument("--json", action="store_true", help="print only JSON on stdout, one object per spec")
    c.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter; VALUE is a TOML literal (rms=5, name=\"x\")")
    c.add_argument("--max-states", type=_positive_int, metavar="N", help="stop after N distinct states")
    c.add_argument("--max-depth", type=_positive_int, metavar="N", help="do not expand states at BFS level N")
    c.add_argument("--max-seconds", type=_positive_float, metavar="S", help="stop after S seconds")
    c.add_argument("--fingerprint", action="store_true",
                   help="store 64-bit fingerprints instead of states (less memory; reports the collision odds)")
    c.add_argument("--compact", action="store_true",
                   help="hold visited states as sorted 64-bit fingerprints in numpy arrays and each level packed: "
                        "no Python object per state (reports the collision odds)")
    c.add_argument("--compact-above", type=_gib, metavar="GIB",
                   help="switch to the compact store once resident memory passes GIB (default: three quarters of "
                        "the machine's memory; 0: never)")
    c.add_argument("--no-deadlock", action="store_true", help="do not report states without successors")
    c.add_argument("--check-determinism", action="store_true",
                   help="run every protocol handler twice (sets iterated in reverse the second time); "
                        "report a handler whose results differ")
    c.add_argument("--out", default=".faultcheck", metavar="DIR", help="where new traces go (default .faultcheck/)")
    c.add_argument("--update", action="store_true",
                   help="rewrite a committed counterexample that no longer replays or that a shorter one beats")
    c.add_argument("--junit", metavar="FILE", help="also write JUnit XML there, one test case per spec")
    c.add_argument("--simplest", action="store_true",
                   help="with a violation, also write the one with the fewest faults at any length "
                        "(<out>/<spec>.simplest.json)")
    c.add_argument("--no-lint", action="store_true",
                   help="do not ask Z3 about formula invariants (it is asked only when they change)")
    sym = c.add_mutually_exclusive_group()
    sym.add_argument("--symmetry", dest="symmetry", action="store_true", default=None,
                     help="reduce by symmetry: the spec's `symmetry` roles, else those the model declares")
    sym.add_argument("--no-symmetry", dest="symmetry", action="store_false",
                     help="explore every state, even where the spec declares symmetry")
    c.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="expand each large BFS level on N processes, each holding the visited set (same counts "
                        "and counterexamples)")
    c.add_argument("--sharded", action="store_true",
                   help="with --workers: split the visited set among the N processes by fingerprint instead "
                        "(Ray's design on this machine: 1/N of the memory each, slower per state)")
    c.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="spread large levels over Ray actors: `auto` joins the cluster `ray start` runs here, "
                        "`local` starts a private one, HOST:PORT joins that head (pip install 'faultcheck[ray]')")
    c.add_argument("--ray-workers", type=_positive_int, metavar="N",
                   help="with --ray: how many actors (shards) to spread over (default: --workers)")
    c.add_argument("--ray-ship", action="store_true",
                   help="with --ray: upload this project and faultcheck to the workers (a cluster of other hosts "
                        "that does not share this file system)")
    c.add_argument("--strategy", choices=("bfs", "dfs", "random", "hypothesis"), default="bfs",
                   help="bfs: exhaustive, shortest counterexamples (default); dfs: depth first within --max-depth; "
                        "random: --walks random walks of up to --max-depth steps; hypothesis: random schedules "
                        "shrunk by Hypothesis. Only an exhaustive search can say `holds`")
    c.add_argument("--walks", type=_positive_int, default=1000, metavar="N",
                   help="random and hypothesis: schedules to try (default 1000)")
    c.add_argument("--seed", type=int, default=0, help="random and hypothesis: the seed (default 0)")
    c.add_argument("--checkpoint-dir", metavar="DIR", help="write checkpoints of the search there (and on Ctrl-C)")
    c.add_argument("--checkpoint-every", type=_positive_float, default=600.0, metavar="SECONDS",
                   help="seconds between two checkpoints (default 600)")
    c.add_argument("--resume", metavar="DIR", help="go on from the checkpoint in DIR")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    c.add_argument("-v", "--verbose", action="store_true", help="also print action coverage")

    i = sub.add_parser("induct", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       help="is the conjunction of a spec's invariants inductive? (Z3, one query per kind of step; "
                            "or, where the steps are Python code, Z3 enumerates the states satisfying it)")
    i.add_argument("paths", nargs="+", metavar="FILE|DIR")
    i.add_argument("--json", action="store_true", help="print only JSON on stdout, one object per spec")
    i.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    i.add_argument("--max-states", type=_positive_int, metavar="N", help="stop after examining N states")
    i.add_argument("--max-seconds", type=float, metavar="S", help="stop after S seconds (undetermined)")
    i.add_argument("--method", choices=("auto", "symbolic", "explicit"),
                   help="symbolic: one Z3 query per kind of step (message-passing protocols, formula actions); "
                        "explicit: Z3 enumerates the states satisfying the invariant; default: the spec's, "
                        "else auto (symbolic where the steps can be given to Z3)")
    i.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    i.add_argument("--junit", metavar="FILE", help="also write JUnit XML there, one test case per spec")
    i.add_argument("--suggest", action="store_true",
                   help="when the invariants are not inductive, propose lemmas that make them so (clauses over the "
                        "fields, filtered by a bounded search, then Houdini with Z3; at most a minute)")

    b = sub.add_parser("bmc", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       help="bounded model checking with Z3: is a state violating an invariant reachable within "
                            "--depth steps? (no state is enumerated; nothing found is undetermined, exit 3)")
    b.add_argument("paths", nargs="+", metavar="FILE|DIR")
    b.add_argument("--depth", type=_natural, required=True, metavar="K",
                   help="look at every path of at most K steps from an initial state")
    b.add_argument("--json", action="store_true", help="print only JSON on stdout, one object per spec")
    b.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    b.add_argument("--max-seconds", type=_positive_float, metavar="S",
                   help="stop after S seconds (undetermined; each depth's query is also cut off there)")
    b.add_argument("--out", default=".faultcheck", metavar="DIR", help="where a new trace goes (default .faultcheck/)")
    b.add_argument("--junit", metavar="FILE", help="also write JUnit XML there, one test case per spec")

    lt = sub.add_parser("lint", help="ask Z3 whether each formula invariant checks anything: false initially, "
                                     "guaranteed by the types alone, implied by the others")
    lt.add_argument("paths", nargs="+", metavar="FILE|DIR")
    lt.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")

    s = sub.add_parser("show", help="a trace as text (each step and its changes), a sequence chart (dot, svg), "
                                    "a page to step through (html) or ITF (Apalache's and Quint's JSON traces)")
    s.add_argument("trace", metavar="TRACE")
    s.add_argument("--format", choices=("text", "dot", "svg", "html", "itf"), default="text")
    s.add_argument("-o", "--output", metavar="FILE", help="write there instead of standard output")
    s.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour for text")

    history_parser(sub)
    explore_parser(sub)
    run_parser(sub)
    replay_parsers(sub)

    g = sub.add_parser("graph", help="the reachable state graph of a small spec, with a trace's path highlighted")
    g.add_argument("spec", metavar="SPEC")
    g.add_argument("--trace", metavar="TRACE", help="highlight this trace's path")
    g.add_argument("--format", choices=("dot", "svg", "graphml"), default="dot")
    g.add_argument("-o", "--output", metavar="FILE", help="write there instead of standard output")
    g.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    g.add_argument("--limit", type=_positive_int, default=5000, metavar="N",
                   help="refuse specs with more than N reachable states (default 5000)")
    for command in sub.choices.values():  # `faultcheck check --debug ...` as well as `faultcheck --debug check ...`
        if "--debug" not in command._option_string_actions:
            command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                 help="show tracebacks of internal errors")
    return p


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return v


def _natural(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return v


def _gib(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of GiB (0: never), got {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of GiB (0: never), got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs, VALUE a TOML literal."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise UsageError(f"--set {item}: expected NAME=VALUE, e.g. --set rms=5")
        try:
            out[name] = parse_toml(f"v = {value}", f"--set {name}")["v"]
        except InputError as e:
            if "nested deeper" in str(e):
                raise UsageError(str(e)) from None
            raise UsageError(f"--set {item}: {value!r} is not a TOML value (strings need quotes: name=\"x\")") from None
    return out


def spec_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("*.toml") if f.is_file())
            if not found:
                raise UsageError(f"{p}: no *.toml spec files in this directory")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or directory")
    return files


def _summary(r: CheckResult) -> str:
    s = r.stats
    mark = "ok  " if r.ok else {1: "FAIL", 2: "ERR ", 3: "??  "}.get(r.exit_code, "FAIL")
    nums = f"{s.distinct:,} states, {s.generated:,} generated, depth {s.depth}, {s.seconds:.2f}s"
    if r.kind == "induct":
        nums = f"{s.distinct:,} states examined, {s.generated:,} successors, {s.seconds:.2f}s"
        if r.method == "symbolic":
            nums = f"{s.distinct:,} Z3 queries, {s.seconds:.2f}s"
    line = f"{mark} {r.spec}: {r.message} [{nums}]"
    if s.collision_probability is not None:
        line += f" [fingerprint collision odds {s.collision_probability:.1e}]"
    if r.symmetry:
        line += f" [{r.symmetry}]"
    if r.time:
        line += f" [{r.time}]"
    return line


def _never_enabled_warning(r: CheckResult) -> str | None:
    """The warning line about actions no explored state enabled, after an exhaustive search (one cut short
    proves nothing of the kind): a guard that never opens makes a spec pass vacuously."""
    s = r.stats
    exhaustive = r.verdict is Verdict.HOLDS or (r.verdict is Verdict.VIOLATED and r.trace is None and r.kind == "search")
    if r.kind != "search" or not exhaustive or not s.never_enabled:
        return None
    return f"warning: never enabled: {', '.join(s.never_enabled)} (no reachable state enables them)"


def cmd_check(args: argparse.Namespace) -> int:
    """`check` and `induct`: every spec, each in a child process of its own when isolated."""
    overrides = parse_sets(args.set)
    files = spec_files(args.paths)
    limit = None
    if args.command == "check" and args.max_seconds is not None:
        limit = 2 * args.max_seconds + GRACE_SECONDS
    what = "the induction check" if args.command == "induct" else "the check"
    return _each_spec(args, files, lambda f: _check_one(args, f, overrides), what, limit)


def cmd_bmc(args: argparse.Namespace) -> int:
    """`bmc`: every spec, each in a child process of its own when isolated."""
    overrides = parse_sets(args.set)
    files = spec_files(args.paths)
    limit = 2 * args.max_seconds + GRACE_SECONDS if args.max_seconds is not None else None
    return _each_spec(args, files, lambda f: _bmc_one(args, f, overrides), "bounded model checking", limit)


def _bmc_one(args: argparse.Namespace, f: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The time per depth as each is answered, then the verdict line (as `check` prints it) and its details."""
    from ..logic.bmc import depth_line

    def progress(j: int, seconds: float, outcome: str) -> None:
        print(f"       {depth_line(j, seconds, outcome)}", flush=True)

    r = check(f, params=overrides, kind="bmc", depth=args.depth, max_seconds=args.max_seconds, out=args.out,
              lint=False, progress=None if args.json else progress)
    if args.json:
        print(json.dumps(r.to_json()), flush=True)
    else:
        mark = "ok  " if r.ok else {1: "FAIL", 2: "ERR ", 3: "??  "}.get(r.exit_code, "FAIL")
        line = f"{mark} {r.spec}: {r.message} [bmc, depth {r.stats.depth}, {r.stats.seconds:.2f}s]"
        print(line + (f" [{r.time}]" if r.time else ""))
        for d in r.details:
            print(f"       {d}")
        if r.trace is not None and r.written:
            print(f"       trace: {r.written} (faultcheck show {r.written}; --format svg for the chart)")
        sys.stdout.flush()
    return {"code": r.exit_code, "case": Case.of(str(f), r, r.message).to_json(), "interrupted": False}


def cmd_lint(args: argparse.Namespace) -> int:
    """Every finding on every spec's invariants; exit 1 when one is a warning."""
    overrides = parse_sets(args.set)
    files = spec_files(args.paths)
    return _each_spec(args, files, lambda f: _lint_one(args, f, overrides), "lint", None)


def _each_spec(args: argparse.Namespace, files: list[Path], body: Callable[[Path], dict[str, Any]], what: str,
               limit: float | None) -> int:
    """Run `body` on each spec (in a forked child when isolated), print what a dead child cannot,
    write the JUnit report (Ctrl-C included), and combine the exit codes."""
    codes: list[int] = []
    cases: list[Case] = []
    cut = False
    try:
        if getattr(args, "isolate", False) and can_isolate():
            if len(files) > 1:  # Z3 loaded and its context made once here, not in each child (it was most
                from ..logic import smt  # of the cost of a child: lint, induct and violation cores use it)

                smt.z3.main_ctx()
            gc.freeze()  # what is imported now stays out of each child's collections: less copied on write
            with Supervisor() as sup:
                for i, f in enumerate(files):
                    flag = Interrupts()
                    outcome = sup.run(lambda f=f, flag=flag: _guarded(args, f, what, flag, body), limit=limit,
                                      on_sigint=flag.handler)
                    answer = outcome.answer
                    if answer is None and outcome.interrupted:  # the Ctrl-C took the child with it
                        answer = _interrupted(args, f)
                    elif answer is None:
                        answer = _ended(args, f, outcome.death, what)
                    cut = _take(answer, f, codes, cases)
                    if not cut and sup.interrupted and i + 1 < len(files):
                        cut = True  # the Ctrl-C came as this spec finished: the others are not started
                        codes.append(EXIT_UNDETERMINED)
                    if cut:
                        break
        else:
            flag = Interrupts()
            with flag.installed():
                for f in files:
                    cut = _take(_guarded(args, f, what, flag, body), f, codes, cases)
                    if cut:
                        break
    finally:  # the report covers what ran, Ctrl-C included
        if getattr(args, "junit", None):
            _write(Path(args.junit), junit_xml(cases))
    if cut:
        print("faultcheck: interrupted", file=sys.stderr, flush=True)
    return combine_exit_codes(codes)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot write: {e.strerror or e}") from None


def _take(answer: dict[str, Any], f: Path, codes: list[int], cases: list[Case]) -> bool:
    """Record one spec's answer; True when a Ctrl-C cut the run short."""
    codes.append(int(answer.get("code", EXIT_UNDETERMINED)))
    if answer.get("case") is not None:
        cases.append(Case.from_json(answer["case"]))
    elif answer.get("interrupted"):
        cases.append(Case(str(f), EXIT_UNDETERMINED, "interrupted (Ctrl-C)"))
    return bool(answer.get("interrupted"))


def _guarded(args: argparse.Namespace, f: Path, what: str, flag: Interrupts,
             body: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """`body(f)`, whatever the model's code does: a spec error, sys.exit, a KeyboardInterrupt no
    Ctrl-C caused, an internal error each become that spec's one line and exit 2; a real Ctrl-C is
    reported as such."""
    _CURRENT["file"] = str(f)
    try:
        return body(f)
    except SpecError as e:
        _error_line(args, f, str(e))
        return {"code": EXIT_ERROR, "case": Case(str(f), EXIT_ERROR, str(e)).to_json()}
    except KeyboardInterrupt:
        if flag.pressed:
            return _interrupted(args, f)
        return _ended(args, f, "the model's code raised KeyboardInterrupt (no Ctrl-C was pressed)", what)
    except SystemExit as e:
        call = "sys.exit()" if e.code is None else f"sys.exit({e.code!r})"
        return _ended(args, f, f"the model's code called {call}", what)
    except Exception as e:  # an internal error: one line naming the spec, the traceback only on request
        return _internal(args, f, e)
    finally:
        _CURRENT["file"] = None


def _internal(args: argparse.Namespace, f: Path, e: BaseException) -> dict[str, Any]:
    if getattr(args, "debug", False):
        traceback.print_exc()
    text = f"internal error: {type(e).__name__}: {e}"
    _error_line(args, f, f"{f}: {text}", hint="run with --debug for the traceback")
    return {"code": EXIT_ERROR, "case": Case(str(f), EXIT_ERROR, f"{f}: {text}").to_json()}


def _error_line(args: argparse.Namespace, f: Path, message: str, hint: str = "") -> None:
    """A spec that could not be checked: a JSON object on stdout with --json, one line on stderr."""
    if getattr(args, "json", False):
        print(json.dumps(_error_object(f, message)), flush=True)
    print(f"faultcheck: {message}" + (f" ({hint})" if hint else ""), file=sys.stderr, flush=True)


def _error_object(f: Path, message: str, verdict: str = "error", code: int = EXIT_ERROR,
                  reason: str = "") -> dict[str, Any]:
    return {"spec": str(f), "verdict": verdict, "expected": None, "ok": False, "exit_code": code,
            "message": message, "property": None, "params": None, "distinct_states": None,
            "states_generated": None, "depth": None, "seconds": None, "states_per_second": None,
            "counterexample": None, "reason": reason}


def _ended(args: argparse.Namespace, f: Path, why: str, what: str) -> dict[str, Any]:
    """The model's code ended the work on `f` (sys.exit, os._exit, a signal): its one line, exit 2."""
    message = f"{why} before {what} finished"
    if getattr(args, "json", False):
        print(json.dumps(_error_object(f, message)), flush=True)
    else:
        print(f"ERR  {f}: {message}", flush=True)
    return {"code": EXIT_ERROR, "case": Case(str(f), EXIT_ERROR, message).to_json()}


def _interrupted(args: argparse.Namespace, f: Path) -> dict[str, Any]:
    """A Ctrl-C before a search could report what it explored."""
    if getattr(args, "json", False):
        print(json.dumps(_error_object(f, "undetermined: interrupted (Ctrl-C)", "undetermined", EXIT_UNDETERMINED,
                                       "interrupted (Ctrl-C)")), flush=True)
    return {"code": EXIT_UNDETERMINED, "interrupted": True,
            "case": Case(str(f), EXIT_UNDETERMINED, "interrupted (Ctrl-C)").to_json()}


def _with_suggestions(args: argparse.Namespace, f: Path, overrides: dict[str, Any], r: CheckResult) -> dict[str, Any]:
    """`induct --suggest` on a spec whose invariants are not inductive: its verdict (as without the flag),
    then the lemmas `logic.suggest` finds, as source to paste (under "suggest" with --json). Progress on stderr."""
    from ..logic import PropertyError
    from ..logic.suggest import SuggestResult, suggest
    from ..spec.run import prepare

    if not args.json:  # the verdict first: a Ctrl-C while suggesting leaves it on the screen
        print(_summary(r), flush=True)
        for line in (*r.details, *r.warnings):
            print(f"       {line}", flush=True)
    system, invs = prepare(f, overrides)
    smaller = {k: 3 for k, v in system.params.items() if type(v) is int and v > 3}
    sample = None
    if smaller:  # candidates from an instance whose reachable states are all found quickly (3 RMs, not 8)
        try:
            sample = prepare(f, {**overrides, **smaller})[0]
        except SpecError:
            sample = None
    try:
        found = suggest(system, invs, sample=sample,
                        progress=lambda line: print(f"       {line}", file=sys.stderr, flush=True))
    except PropertyError as e:
        found = SuggestResult(False, reason=str(e))
    if args.json:
        print(json.dumps({**r.to_json(), "suggest": found.to_json()}), flush=True)
    else:
        for line in found.lines():
            print(f"       {line}" if line else "")
        sys.stdout.flush()
    return {"code": r.exit_code, "case": Case.of(str(f), r, r.message).to_json(),
            "interrupted": r.reason.startswith("interrupted")}


def _check_one(args: argparse.Namespace, f: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    if args.command == "induct":
        r = check(f, params=overrides, max_states=args.max_states, kind="induct", out=None, method=args.method,
                  max_seconds=args.max_seconds, monitor=None if args.quiet else
                  ProgressMonitor(max_seconds=args.max_seconds, label=f"{f.name}: induct: "))
        if getattr(args, "suggest", False) and r.outcome != "inductive":
            return _with_suggestions(args, f, overrides, r)
    else:
        r = check(
            f,
            params=overrides,
            max_states=args.max_states,
            max_depth=args.max_depth,
            max_seconds=args.max_seconds,
            check_deadlock=False if args.no_deadlock else None,
            store="compact" if args.compact else "fingerprint" if args.fingerprint else "exact",
            check_determinism=args.check_determinism,
            out=args.out,
            update=args.update,
            monitor=None if args.quiet else ProgressMonitor(max_seconds=args.max_seconds, label=f"{f.name}: "),
            lint=not args.no_lint,
            simplest=args.simplest,
            symmetry=args.symmetry,
            workers=args.workers,
            strategy=args.strategy,
            walks=args.walks,
            seed=args.seed,
            checkpoint_dir=args.checkpoint_dir,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            compact_above=args.compact_above,
            sharded=args.sharded,
            ray=args.ray,
            ray_workers=args.ray_workers,
            ray_ship=args.ray_ship,
        )
    if args.json:
        print(json.dumps(r.to_json()), flush=True)
    else:
        print(_summary(r), flush=True)
        for line in r.details:
            print(f"       {line}")
        for w in r.warnings:
            print(f"       {w}")
        if (never := _never_enabled_warning(r)) is not None:
            print(f"       {never}")
        if getattr(args, "verbose", False):
            for name, n in r.stats.coverage.items():
                print(f"       {name}: {n:,}" + ("  (never enabled)" if n == 0 else ""))
        sys.stdout.flush()
        if r.error and r.exit_code == EXIT_ERROR:  # the model's own code raised
            if getattr(args, "verbose", False):
                print(r.error.rstrip(), file=sys.stderr)
            else:
                where = r.error.rstrip().splitlines()[-3:-1]  # the innermost frame of the model's code
                print("       " + " / ".join(x.strip() for x in where) + "  (-v: the whole traceback)",
                      file=sys.stderr)
    # Ctrl-C stops the whole run, after reporting what was explored
    return {"code": r.exit_code, "case": Case.of(str(f), r, r.message).to_json(),
            "interrupted": r.reason.startswith("interrupted")}


def _lint_one(args: argparse.Namespace, f: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    from ..logic.lint import lint
    from ..spec.run import prepare

    system, invs = prepare(f, overrides)
    findings = lint(system, invs)
    warned = any(x.warning for x in findings)
    names = ", ".join(p.name for p in invs) or "no invariants"
    print(f"{'warn' if warned else 'ok  '} {f}: {len(findings)} finding{'s' if len(findings) != 1 else ''} "
          f"on {names}")
    for x in findings:
        print(f"       {x}")
    sys.stdout.flush()
    return {"code": 1 if warned else EXIT_OK}


def cmd_show(args: argparse.Namespace) -> int:
    try:
        return _show(args)
    except TraceError as e:
        text = str(e)
        raise TraceError(text if text.startswith(str(args.trace)) else f"{args.trace}: {text}") from None


def _show(args: argparse.Namespace) -> int:
    _working_on(args.trace)
    trace = Trace.load(args.trace)
    if args.format == "text":
        color = args.color == "always" or (args.color == "auto" and args.output is None and sys.stdout.isatty())
        text = render_text(trace, color=color) + "\n"
    elif args.format == "dot":
        text = to_dot(trace)
    elif args.format == "svg":  # drawn by faultcheck itself: no Graphviz needed
        text = to_svg(trace)
    elif args.format == "html":
        text = to_html(trace)
    else:
        text = json.dumps(to_itf(trace), indent=1, ensure_ascii=False) + "\n"
    _emit(args.output, text)
    return 0


def _emit(output: str | None, text: str) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        _write(Path(output), text)
        print(f"wrote {output}", file=sys.stderr)


def cmd_graph(args: argparse.Namespace) -> int:
    from ..spec.graph import state_graph

    overrides = parse_sets(args.set)
    _working_on(args.trace)
    trace = Trace.load(args.trace) if args.trace else None
    _working_on(args.spec)
    try:
        text = state_graph(args.spec, params=overrides, trace=trace, fmt=args.format, limit=args.limit)
    except TraceError as e:
        raise TraceError(f"{args.trace}: {e}") from None
    _emit(args.output, text)
    return 0


_CURRENT: dict[str, str | None] = {"file": None}  # the input being worked on, for the catch-all's line


def _working_on(path: str | os.PathLike | None) -> None:
    _CURRENT["file"] = None if path is None else str(path)


def main(argv: list[str] | None = None, *, isolate: bool = False) -> int:
    """Run one command; returns the exit code. `isolate`: check each spec in a forked child (the
    console script does; an in-process call, a test's, does not unless asked)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    args.isolate = isolate
    args.debug = getattr(args, "debug", False)
    _working_on(None)
    try:
        commands = {"check": cmd_check, "induct": cmd_check, "bmc": cmd_bmc, "lint": cmd_lint, "show": cmd_show, "graph": cmd_graph,
                    "history": cmd_history, "run": cmd_run, "replay": cmd_replay,
                    "export": cmd_export, "explore": cmd_explore}
        return commands[args.command](args)
    except (UsageError, SpecError, TraceError) as e:
        print(f"faultcheck: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("faultcheck: interrupted", file=sys.stderr)
        return EXIT_UNDETERMINED
    except BrokenPipeError:
        return EXIT_OK
    except SystemExit as e:  # only the model's code raises it here (argparse is done)
        call = "sys.exit()" if e.code is None else f"sys.exit({e.code!r})"
        print(f"faultcheck: {_where(args)}the model's code called {call}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # an internal error: one line, the traceback only on request
        if args.debug:
            traceback.print_exc()
        print(f"faultcheck: {_where(args)}internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_ERROR
    finally:
        _working_on(None)


def _where(args: argparse.Namespace) -> str:
    """``FILE: `` for the input being worked on, or the command's one input file; else nothing."""
    current = _CURRENT["file"]
    if current is None:
        named = [getattr(args, k, None) for k in ("trace", "spec", "history")]
        named = [n for n in named if isinstance(n, str)]
        current = named[0] if len(named) == 1 else None
    return f"{current}: " if current else ""


def entry() -> None:
    """The console script (and `python -m checker`): with PYTHONHASHSEED=0, each spec in a child."""
    fix_hash_seed()
    sys.exit(main(isolate=True))
