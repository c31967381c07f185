"""Traces in the Informal Trace Format (ITF), the JSON traces of Apalache and Quint, so their viewers
and test harnesses read faultcheck's counterexamples.

Each variable keeps its name; values are encoded by their schema type (the
trace's "types"): ints as {"#bigint": "n"}, sets as {"#set": [...]}, maps as
{"#map": [[k, v], ...]}, bags as maps to their counts, sequences as arrays,
records as objects, tagged unions (messages) and options as Quint's variants
{"tag": ..., "value": ...}. With time, a Time field is its ticks from its node's
clock now as an int ({"#bigint": "-1"}), or the string "long ago"; a timer's
countdown is an option of an int, like an Option. Each state's "#meta" holds its
index and the step that led to it.
"""

from __future__ import annotations

from typing import Any

from ..model import Bag, Bool, Enum, Int, Map, OneOf, Option, Record, SchemaError, Seq, Set
from ..model.schema import Tuple
from ..model.time import Due, TimeSlot
from ..model.typejson import from_description
from .format import Trace, TraceError

ITF_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"


def value(t: Any, v: Any) -> Any:
    """One decoded value as ITF."""
    if isinstance(t, TimeSlot):  # ticks from the node's clock now, or before every time the protocol compares
        return "long ago" if v.long_ago else {"#bigint": str(v.hi)}
    if isinstance(t, Due):  # a timed timer: none (untimed or disarmed) or the ticks it has left
        return {"tag": "None", "value": {"#tup": []}} if v is None else {"tag": "Some", "value": {"#bigint": str(v)}}
    if isinstance(t, Bool):
        return bool(v)
    if isinstance(t, Int):
        return {"#bigint": str(v)}
    if isinstance(t, Enum):
        return v
    if isinstance(t, Set):
        return {"#set": [value(t.elem, x) for x in sorted(v, key=t.elem.rank)]}
    if isinstance(t, Bag):
        counts: dict = {}
        for x in v:
            counts[x] = counts.get(x, 0) + 1
        return {"#map": [[value(t.elem, x), {"#bigint": str(k)}] for x, k in counts.items()]}
    if isinstance(t, Map):
        return {"#map": [[value(t.key, k), value(t.value, v[k])] for k in t.keys]}
    if isinstance(t, Seq):  # and Queue
        return [value(t.elem, x) for x in v]
    if isinstance(t, Option):
        return {"tag": "None", "value": {"#tup": []}} if v is None else {"tag": "Some", "value": value(t.inner, v)}
    if isinstance(t, OneOf):
        r = t.variants[t._by_class[type(v)]] if type(v) in t._by_class else _by_fields(t, v)
        return {"tag": r.name, "value": value(r, v)}
    if isinstance(t, Tuple):  # ITF's tuple
        return {"#tup": [value(c, x) for c, x in zip(t.types, v)]}
    if isinstance(t, Record):
        return {f: value(ft, x) for (f, ft), x in zip(t.fields.items(), v)}
    return {"#unserializable": repr(v)}


def _by_fields(t: OneOf, v: Any) -> Record:
    name = type(v).__name__
    return t.variants[t._by_name[name]]


def to_itf(trace: Trace) -> dict[str, Any]:
    """The trace as an ITF object."""
    described = trace.extra.get("types")
    if not isinstance(described, dict):
        raise TraceError("the trace records no types (it was written by an older faultcheck): rerun the check "
                         "to rewrite it, then export it")
    try:
        types = {name: from_description(d) for name, d in described.items()}
    except SchemaError as e:
        raise TraceError(f"types: {e}") from None
    names = list(types)
    states = []
    for i, st in enumerate(trace.steps):
        meta: dict[str, Any] = {"index": i}
        if i:
            meta["action"] = st.label
        out: dict[str, Any] = {"#meta": meta}
        for name in names:
            if name not in st.state:
                raise TraceError(f"steps[{i}]: state has no variable {name!r}")
            try:
                out[name] = value(types[name], types[name].from_json(st.state[name], f"steps[{i}].{name}"))
            except SchemaError as e:
                raise TraceError(str(e)) from None
        states.append(out)
    what = f"{trace.verdict}: {trace.property}" if trace.property else trace.verdict
    obj: dict[str, Any] = {
        "#meta": {"format": "ITF", "format-description": ITF_DESCRIPTION, "source": trace.spec or trace.protocol,
                  "description": f"faultcheck counterexample for {trace.protocol} {trace.params}: {what}"},
        "vars": names,
        "states": states,
    }
    loop = trace.extra.get("loop")
    if isinstance(loop, int):
        obj["loop"] = loop
    return obj


__all__ = ["to_itf", "value"]
