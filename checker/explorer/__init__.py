"""Explore a protocol by hand: choose each delivery, crash or partition and watch the chart grow.

`Session` (session.py) is the walk itself: the path so far, the steps enabled at its end, the invariants
in the current state, back and forward, random walks, jumps to what a search found, and the path as a
trace file. `Server` (server.py) serves it as a page (page.py) on 127.0.0.1, for `faultcheck explore`
and `checker.explore()` in a notebook. Sessions are made from spec files by `checker.spec.explore`.

Sits above the engine and beside the trace renderers: imports trace, engine and below; never spec or cli.
"""

from .session import ExploreError, Finding, Jump, Session

__all__ = ["ExploreError", "Finding", "Jump", "Session"]
