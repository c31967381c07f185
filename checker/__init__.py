"""faultcheck: model-check fault-tolerant distributed protocols written as Python state machines.

Layers (imports point down this list, never up; tests/test_layering.py keeps it so):
    model      schema, state layout, the low-level Model form, Node/Message/Protocol, fault settings
               (standard library only)
    semantics  models composed into transition systems over flat int tuples: nodes, network, faults
    logic      properties: predicates compiled to memoised checks on raw tuples; the formula language,
               compiled to Python for the search and (lazily) to Z3 for induct, lint and violation cores
    engine     the one search loop, its options, monitor and results
    trace      traces: JSON format, labelling, replay, text rendering
    runtime    the same Node classes as real processes on loopback (imports model, and trace for live
               replay; never the engine)
    explorer   a protocol explored by hand: a session stepping through states, served as a local page
               (beside runtime: imports trace, engine and below)
    spec, cli  spec files, `check()`, the command line, JUnit, the pytest plugin (nothing imports these)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the public names, for readers and type checkers; at run time `__getattr__` loads them
    from .engine import SearchOptions, SearchResult, Stats, Verdict
    from .logic.formula import conj, disj, exists, forall, iff, implies, ite, make, when
    from .logic.temporal import always_eventually, eventually, leads_to
    from .model import (
        Bag,
        Bool,
        Enum,
        FrozenDict,
        History,
        Ids,
        Int,
        Map,
        Message,
        Model,
        Node,
        NodeId,
        OneOf,
        Option,
        Param,
        Protocol,
        Record,
        Role,
        Seq,
        Set,
        Time,
        Tuple,
        action,
        action_constraint,
        constraint,
        durable,
        formula,
        invariant,
        liveness,
        reachable,
        request,
        terminal,
        timer,
        view,
        volatile,
    )


__version__ = "0.1.0"


def check(spec_or_model, **options):
    """Check a spec file (path) or a model (instance or class); see `checker.spec.check`."""
    from .spec import check as _check

    return _check(spec_or_model, **options)


def explore(spec, params=None, *, port: int = 0, seed: int = 0, search_seconds: float = 30.0, idle_minutes: float = 30):
    """Explore a spec file by hand: starts the explorer on http://127.0.0.1:`port`/ (a free port by default) in
    the background and returns its server, which a notebook cell shows as the explorer itself (`.url`,
    `.session`, `.stop()`; it stops by itself after `idle_minutes` without a request). See `faultcheck explore`."""
    from .explorer.server import Server
    from .spec.explore import session

    return Server(session(spec, params, seconds=search_seconds, seed=seed), port=port,
                  idle=idle_minutes * 60.0).start()


__all__ = [
    # the schema
    "Bag", "Bool", "Enum", "Ids", "Int", "Map", "NodeId", "OneOf", "Option", "Record", "Seq", "Set", "Tuple",
    "FrozenDict",  # a Map's value: hashable, so it can sit in a message or a module constant
    # the low-level form
    "Model", "Param", "action", "constraint", "invariant", "terminal",
    # TLC's model-checking options and reachability
    "action_constraint", "reachable", "view",
    # the formula language
    "conj", "disj", "exists", "forall", "formula", "iff", "implies", "ite", "make",
    # actions as formulas: @action(formula=True) returns when(guard, var=value, ...)
    "when",
    # liveness
    "always_eventually", "eventually", "leads_to", "liveness",
    # the message-passing form
    "History", "Message", "Node", "Protocol", "Role", "durable", "request", "timer", "volatile",
    # time: a point on a node's clock (self.now(), set_timer(name, after=d))
    "Time",
    # checking
    "SearchOptions", "SearchResult", "Stats", "Verdict", "check",
    # exploring by hand (a local page; in a notebook, the cell shows it)
    "explore",
]

# Where each public name is defined. They are imported on first use (PEP 562), so that `import checker`
# itself is cheap: the `faultcheck` command fixes its hash seed by re-executing the interpreter
# (`checker.__main__`) before anything heavy is loaded, and loads it once.
_HOME = {
    **dict.fromkeys(("SearchOptions", "SearchResult", "Stats", "Verdict"), ".engine"),
    **dict.fromkeys(("conj", "disj", "exists", "forall", "iff", "implies", "ite", "make", "when"), ".logic.formula"),
    **dict.fromkeys(("always_eventually", "eventually", "leads_to"), ".logic.temporal"),
}
_LAYERS = ("model", "semantics", "logic", "engine", "trace", "runtime", "explorer", "spec", "cli")


def __getattr__(name: str):
    """A public name (imported now, then kept here) or a layer (`checker.engine`, imported now)."""
    if name in __all__ and name not in ("check", "explore"):
        value = getattr(importlib.import_module(_HOME.get(name, ".model"), __name__), name)
        globals()[name] = value
        return value
    if name in _LAYERS:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
