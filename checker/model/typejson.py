"""Schema types as JSON, so a trace says what its values are without the model that made it.

    >>> from checker.model.schema import Map, NodeId, Set
    >>> t = Map(NodeId("rm", 2), Set(NodeId("rm", 2)))
    >>> describe(t)
    {'map': [{'nodeid': ['rm', 2]}, {'set': {'nodeid': ['rm', 2]}}]}
    >>> from_description(describe(t)) == t
    True

Standard library only.
"""

from __future__ import annotations

from typing import Any

from .schema import Bag, Bool, Enum, Int, Map, NodeId, OneOf, Option, Queue, Record, SchemaError, Seq, Set, Tuple, Type
from .time import Due, TimeSlot


def describe(t: Type) -> dict[str, Any]:
    """A JSON description of a schema type."""
    if isinstance(t, Bool):
        return {"bool": None}
    if isinstance(t, Int):
        return {"int": [t.lo, t.hi]}
    if isinstance(t, NodeId):
        return {"nodeid": [t.role, len(t.names)]}
    if isinstance(t, Enum):
        return {"enum": list(t.names)}
    if isinstance(t, Set):
        return {"set": describe(t.elem)}
    if isinstance(t, Bag):
        return {"bag": describe(t.elem)}
    if isinstance(t, Map):
        return {"map": [describe(t.key), describe(t.value)]}
    if isinstance(t, Queue):
        return {"queue": [describe(t.elem), t.max_len]}
    if isinstance(t, Seq):
        return {"seq": [describe(t.elem), t.max_len]}
    if isinstance(t, Option):
        return {"option": describe(t.inner)}
    if isinstance(t, OneOf):
        return {"oneof": [describe(v) for v in t.variants]}
    if isinstance(t, Tuple):  # before Record: a Tuple is a Record of fields _0, _1, ...
        return {"tuple": [describe(c) for c in t.types]}
    if isinstance(t, Record):
        return {"record": t.name, "fields": {f: describe(ft) for f, ft in t.fields.items()}}
    if isinstance(t, TimeSlot):  # ticks from the node's clock, or "long ago"
        return {"time": [t.cut, t.past, t.ahead]}
    if isinstance(t, Due):
        return {"due": [t.most, t.late]}
    raise SchemaError(f"{t!r} has no JSON description")


def from_description(obj: Any) -> Type:
    """The schema type a description describes; SchemaError when it describes none."""
    if not isinstance(obj, dict) or not obj:
        raise SchemaError(f"not a type description: {obj!r}")
    if "record" in obj:
        fields = obj.get("fields")
        if not isinstance(fields, dict):
            raise SchemaError(f"record {obj['record']!r}: fields: expected an object")
        return Record(obj["record"], **{f: from_description(d) for f, d in fields.items()})
    if len(obj) != 1:
        raise SchemaError(f"not a type description: {obj!r}")
    (kind, arg), = obj.items()
    try:
        if kind == "bool":
            return Bool()
        if kind == "int":
            return Int(*arg)
        if kind == "time":
            return TimeSlot(*arg)
        if kind == "due":
            return Due(*arg) if isinstance(arg, list) else Due(arg)
        if kind == "nodeid":
            return NodeId(*arg)
        if kind == "enum":
            return Enum(*arg)
        if kind == "set":
            return Set(from_description(arg))
        if kind == "bag":
            return Bag(from_description(arg))
        if kind == "map":
            return Map(from_description(arg[0]), from_description(arg[1]))
        if kind == "queue":
            return Queue(from_description(arg[0]), arg[1])
        if kind == "seq":
            return Seq(from_description(arg[0]), arg[1])
        if kind == "option":
            return Option(from_description(arg))
        if kind == "tuple":
            if not isinstance(arg, list):
                raise SchemaError("tuple: expected a list of component types")
            return Tuple(*(from_description(c) for c in arg))
        if kind == "oneof":
            variants = [from_description(v) for v in arg]
            if not all(isinstance(v, Record) for v in variants):
                raise SchemaError("oneof: expected records")
            return OneOf(*variants)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError) as e:
        raise SchemaError(f"{kind}: bad description {arg!r} ({e})") from None
    raise SchemaError(f"unknown type kind {kind!r}")


__all__ = ["describe", "from_description"]
