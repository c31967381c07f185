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
    spec, cli  spec files, `check()`, the command line, JUnit, the pytest plugin (nothing imports these)
"""

from .engine import SearchOptions, SearchResult, Stats, Verdict
from .logic.formula import conj, disj, exists, forall, iff, implies, ite, make
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
    # liveness
    "always_eventually", "eventually", "leads_to", "liveness",
    # the message-passing form
    "History", "Message", "Node", "Protocol", "Role", "durable", "request", "timer", "volatile",
    # time: a point on a node's clock (self.now(), set_timer(name, after=d))
    "Time",
    # checking
    "SearchOptions", "SearchResult", "Stats", "Verdict", "check",
]
