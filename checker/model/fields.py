"""Slot indices by name, for low-level actions: `at = layout(schema)`, then `s[at.rmState[r]]`.

A layout is built once per state schema; its leaves are plain ints (slot indices), so an action
that reads or writes a field by name does one attribute load and one tuple index, as one with
hand-computed offsets does. Imports only the schema (standard library only).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .schema import Map, OneOf, Option, Queue, Record, SchemaError, Seq, Tuple, Type

Slots = Any  # an int (one slot), or one of the classes below


class RecordSlots:
    """The slots of a record (or of the whole state): one attribute per field, each an int (a
    one-slot field) or the slots of a composite field. `_offset` and `_width` give its span."""

    _offset: int
    _width: int

    def __init__(self, offset: int, width: int, fields: Mapping[str, Slots]):
        self._offset, self._width = offset, width
        for f, v in fields.items():
            setattr(self, f, v)

    def _fields(self) -> dict[str, Slots]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k}: {v!r}" for k, v in self._fields().items()) + "}"


class UnionSlots(RecordSlots):
    """The slots of a `OneOf`: `tag` (the variant's position, `OneOf.tag(name)`), then one attribute
    per variant name holding that variant's record slots (they overlap: only the tagged one is in use)."""

    tag: int


class IndexedSlots(tuple):
    """The slots of a `Map` (indexed by key code), a `Seq` (by position; `len` is the length slot) or a
    `Tuple` (by component): a tuple, so `at.rmState[r]` is one C-level index."""

    _offset: int
    _width: int
    len: int  # a Seq's length slot

    def __new__(cls, items: list[Slots], offset: int, width: int, keys: Mapping[Any, int] | None = None):
        self = super().__new__(cls, items)
        self._offset, self._width, self._keys = offset, width, keys or {}
        return self

    def key(self, key: Any) -> Slots:
        """The slots of a Map's value at `key` given by value (`at.rmState.key("rm2")`) instead of code."""
        try:
            return self[self._keys[key]]
        except (KeyError, TypeError):
            raise SchemaError(f"no key {key!r} here (keys: {', '.join(map(repr, self._keys)) or 'none'})") from None


def layout(variables: Mapping[str, Type], offsets: Mapping[str, int], width: int) -> RecordSlots:
    """The slots of every variable of a state, by name (what `Model.at` and `StateSchema.at` hold).

    >>> from checker.model.schema import Enum, Map, NodeId
    >>> at = layout({"tm": Enum("init", "done"), "rm": Map(NodeId("rm", 3), Enum("w", "p"))}, {"tm": 0, "rm": 1}, 4)
    >>> at.tm, at.rm[2], at.rm.key("rm1")
    (0, 3, 1)
    """
    return RecordSlots(0, width, {n: slots(t, offsets[n]) for n, t in variables.items()})


def slots(t: Type, o: int) -> Slots:
    """The slots of a value of type `t` whose first slot is `o`."""
    if isinstance(t, Tuple):
        return IndexedSlots([slots(c, o + t.offset(i)) for i, c in enumerate(t.types)], o, t.width)
    if isinstance(t, Record):
        return RecordSlots(o, t.width, {f: slots(ft, o + t.offsets[f]) for f, ft in t.fields.items()})
    if isinstance(t, OneOf):
        u = UnionSlots(o, t.width, {v.name: slots(v, o + 1) for v in t.variants})
        u.tag = o
        return u
    if isinstance(t, Map):
        w = t.value.width
        return IndexedSlots([slots(t.value, o + i * w) for i in range(len(t.keys))], o, t.width,
                            {k: i for i, k in enumerate(t.keys)})
    if isinstance(t, Seq) and not isinstance(t, Queue):
        s = IndexedSlots([slots(t.elem, o + t.offset(i)) for i in range(t.max_len)], o, t.width)
        s.len = o
        return s
    if isinstance(t, Option):
        return RecordSlots(o, t.width, {"present": o, "value": slots(t.inner, o + 1)})
    if t.width == 1:
        return o
    return IndexedSlots(list(range(o, o + t.width)), o, t.width)  # a type without named parts: its slots


def leaves(s: Slots) -> Iterator[int]:
    """Every slot index under `s`, in order: `tuple(raw[i] for i in leaves(at.x))` is x's encoding."""
    if isinstance(s, int):
        yield s
    else:
        yield from range(s._offset, s._offset + s._width)


__all__ = ["IndexedSlots", "RecordSlots", "UnionSlots", "layout", "leaves", "slots"]
