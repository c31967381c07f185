"""The protocol-facing definitions: the value schema, state layout, and the low-level model form.

Imports nothing else of faultcheck (a later issue exports it standalone).
"""

from .lowlevel import Model, ModelError, Param, action, constraint, invariant, terminal
from .schema import (
    Bool,
    Enum,
    FrozenDict,
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
    Type,
)
from .state import StateSchema, StateView

__all__ = [
    "Bool", "Enum", "FrozenDict", "Int", "Map", "Model", "ModelError", "NodeId", "OneOf", "Option",
    "Param", "Record", "RecordValue", "SchemaError", "Seq", "Set", "StateSchema", "StateView", "Type",
    "action", "constraint", "invariant", "terminal",
]
