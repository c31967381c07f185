"""The protocol-facing definitions: the value schema, state layout, the low-level model form,
and the message-passing form (Node, Message, Protocol).

Imports nothing else of faultcheck (a later issue exports it standalone).
"""

from .lowlevel import (
    Model,
    ModelError,
    Param,
    action,
    action_constraint,
    constraint,
    formula,
    invariant,
    liveness,
    reachable,
    terminal,
    view,
)
from .node import History, Message, Node, Protocol, Role, durable, request, timer, volatile
from .schema import (
    Bag,
    Bool,
    Enum,
    FrozenDict,
    Ids,
    Int,
    Map,
    NodeId,
    OneOf,
    Option,
    Record,
    RecordValue,
    SchemaError,
    Seq,
    Set,
    Tuple,
    Type,
)
from .state import StateSchema, StateView
from .time import Instant, Time, TimeCutError

__all__ = [
    "Bag", "Bool", "Enum", "FrozenDict", "Ids", "Int", "Map", "Message", "Model", "ModelError", "Node", "NodeId",
    "OneOf", "Option", "Param", "Protocol", "Record", "RecordValue", "Role", "SchemaError", "Seq", "Set",
    "StateSchema", "StateView", "Time", "Instant", "TimeCutError", "Tuple", "Type", "action", "action_constraint", "constraint", "durable", "formula", "History", "invariant", "liveness", "reachable", "request",
    "terminal", "timer", "view", "volatile",
]
