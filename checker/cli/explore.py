"""`faultcheck explore SPEC`: walk a spec's state space by hand in the browser.

    faultcheck explore SPEC [--port N] [--open] [--set NAME=VALUE] [--seed N] [--search-seconds S]
                            [--idle MINUTES]

Serves the explorer (checker.explorer) on http://127.0.0.1:PORT/ (a free port unless --port says) and
prints the address; --open opens it in the default browser. It explores lazily: only the current state's
successors are computed, so it works on specs too large to check. Stops on Ctrl-C (exit 0), or by
itself after --idle minutes without a request (default 30). Exit 2 for a bad spec or a port in use.
Wire it in with `add_parser(sub)`; the command's function is `cmd_explore(args)`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """The page: the steps enabled in the current state (click one to take it), the invariants in it (a
violated one in red, with why), the sequence chart of the path so far (click a row to go back to it), the
state with what the last step changed; back, forward, restart, jumps to the shortest counterexample and to
reachability witnesses (a search, bounded by --search-seconds, or the committed counterexample), a random
walk, and the path exported as a trace file that `faultcheck show` and `faultcheck replay` read.
exit codes: 0 stopped (Ctrl-C or idle); 2 bad input (a spec, a --set, a port in use)."""


def add_parser(sub: Any) -> None:
    """Add the `explore` command to an argparse subparsers object."""
    from . import _positive_float, _positive_int

    e = sub.add_parser("explore", help="walk a spec's state space by hand in the browser: take steps, watch the "
                                       "chart grow, jump to the shortest counterexample",
                       description=__doc__.split("\n\n")[1] if __doc__ else None, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("spec", metavar="SPEC")
    e.add_argument("--port", type=_port, default=0, metavar="N", help="serve on this port of 127.0.0.1 (default: "
                   "a free one)")
    e.add_argument("--open", action="store_true", help="open the page in the default browser")
    e.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    e.add_argument("--seed", type=int, default=0, metavar="N", help="the random walks' seed (default 0)")
    e.add_argument("--search-seconds", type=_positive_float, default=30.0, metavar="S",
                   help="how long a jump may search (default 30)")
    e.add_argument("--idle", type=_positive_int, default=30, metavar="MINUTES",
                   help="stop after this many minutes without a request (default 30)")


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number (0-65535), got {text!r}") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (0-65535), got {text!r}")
    return v


def cmd_explore(args: argparse.Namespace) -> int:
    from ..explorer.server import Server
    from ..spec.explore import session
    from . import UsageError, _working_on, parse_sets

    overrides = parse_sets(args.set)
    _working_on(args.spec)
    s = session(args.spec, overrides, seconds=args.search_seconds, seed=args.seed)
    try:
        server = Server(s, port=args.port, idle=args.idle * 60.0)
    except OSError as e:
        raise UsageError(f"--port {args.port}: cannot serve on 127.0.0.1:{args.port}: {e.strerror or e}") from None
    print(f"faultcheck explore {args.spec}: {server.url}  (Ctrl-C stops it; so do {args.idle} idle minutes)",
          flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    print("faultcheck explore: stopped" + (f" after {args.idle} idle minutes" if server.idled else ""),
          file=sys.stderr)
    return 0
