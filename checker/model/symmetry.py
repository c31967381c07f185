"""Renaming the nodes of one role in a state: the permutations symmetry reduction works with.

A permutation of a role's ids maps every occurrence of those ids: values of
`NodeId(role)` (and of any Enum naming all of the role's nodes, as the
network's node type does) wherever they sit (map keys and values, set
members, record fields), and the role's own node variables, which trade
places. Works on decoded values: it is meant for thousands of states (induct,
canonical forms of traces), not for the search's hot loop. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice, permutations
from typing import Any

from .schema import Bag, Enum, FrozenDict, Map, NodeId, OneOf, Option, Record, RecordValue, Seq, Set, Type
from .state import StateSchema


def role_ids(schema: StateSchema, role: str) -> tuple[str, ...] | None:
    """The ids of `role` in this state: its node variables, or the names of a `NodeId(role)` in it."""
    if role in schema.groups:
        return tuple(schema.groups[role])
    for t in schema.variables.values():
        found = _find_nodeid(t, role)
        if found is not None:
            return found.names
    return None


def _find_nodeid(t: Any, role: str) -> NodeId | None:
    if isinstance(t, NodeId) and t.role == role:
        return t
    for sub in _children(t):
        found = _find_nodeid(sub, role)
        if found is not None:
            return found
    return None


def _children(t: Any) -> list[Type]:
    if isinstance(t, (Set, Bag, Seq)):
        return [t.elem]
    if isinstance(t, Map):
        return [t.key, t.value]
    if isinstance(t, Option):
        return [t.inner]
    if isinstance(t, Record):
        return list(t.fields.values())
    if isinstance(t, OneOf):
        return list(t.variants)
    return []


def rename_value(t: Any, v: Any, mapping: dict[str, str]) -> Any:
    """The decoded value `v` of type `t` with every id in `mapping` renamed (a bijection on one role's ids)."""
    if isinstance(t, Enum):
        return mapping.get(v, v) if set(mapping) <= set(t.names) else v
    if isinstance(t, Set):
        return frozenset(rename_value(t.elem, x, mapping) for x in v)
    if isinstance(t, Bag):
        return tuple(sorted((rename_value(t.elem, x, mapping) for x in v), key=t.elem.rank))
    if isinstance(t, Seq):
        return tuple(rename_value(t.elem, x, mapping) for x in v)
    if isinstance(t, Map):
        return FrozenDict((rename_value(t.key, k, mapping), rename_value(t.value, x, mapping)) for k, x in v.items())
    if isinstance(t, Option):
        return None if v is None else rename_value(t.inner, v, mapping)
    if isinstance(t, OneOf):
        return rename_value(t.variants[t._by_class[type(v)]], v, mapping)
    if isinstance(t, Record):
        return tuple.__new__(type(v), [rename_value(ft, x, mapping) for ft, x in zip(t.fields.values(), v)]) \
            if isinstance(v, RecordValue) else v
    return v


def involves(t: Any, ids: tuple[str, ...]) -> bool:
    """Whether values of type `t` can mention any of `ids` (so renaming them can change a value)."""
    if isinstance(t, Enum):
        return set(ids) <= set(t.names)
    return any(involves(sub, ids) for sub in _children(t))


def renamer(schema: StateSchema, role: str, mapping: dict[str, str]) -> Callable[[tuple], tuple]:
    """A function state -> the state with the role's ids renamed by `mapping` (a bijection)."""
    nodes = schema.groups.get(role, ())

    def rename(raw: tuple) -> tuple:
        st = schema.decode(raw)
        out = {n: rename_value(schema.variables[n], x, mapping) for n, x in st.items()}
        for n in nodes:
            out[mapping[n]] = rename_value(schema.variables[n], st[n], mapping)
        return schema.encode(out)

    return rename


def images(schema: StateSchema, roles: tuple[str, ...], limit: int = 40320) -> list[Callable[[tuple], tuple]]:
    """Every renaming of the given roles' ids together (the identity included)."""
    per_role: list[list[Callable[[tuple], tuple]]] = []
    total = 1
    for role in roles:
        ids = role_ids(schema, role)
        if ids is None:
            raise ValueError(f"symmetry: the state has no ids of role {role!r}")
        perms = list(islice(_perms(ids), limit + 1))  # (never all of 12!: the count alone is refused)
        total *= len(perms)
        if total > limit:
            raise ValueError(f"symmetry over {', '.join(roles)}: more than {limit} permutations")
        per_role.append([renamer(schema, role, dict(zip(ids, p))) for p in perms])
    out: list[Callable[[tuple], tuple]] = [lambda raw: raw]
    for fns in per_role:
        out = [_then(f, g) for f in out for g in fns]
    return out


def _perms(ids: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    return permutations(ids)


def _then(f: Callable[[tuple], tuple], g: Callable[[tuple], tuple]) -> Callable[[tuple], tuple]:
    return lambda raw: g(f(raw))


__all__ = ["images", "involves", "rename_value", "renamer", "role_ids"]
