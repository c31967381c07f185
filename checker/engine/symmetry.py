"""Symmetry reduction: one representative state per class of states equal up to renaming the nodes
of interchangeable roles (TLC's SYMMETRY; Ip & Dill, "Better Verification Through Symmetry", 1996).

`reduction(schema, roles)` compiles, from the schema alone, a function raw state -> representative,
in one of three forms, the cheapest that is exact:

- "sort": when every mention of the role's ids in the state is an *index* (a Map keyed by the ids
  with id-free values, a set of ids, a set of records each naming one id), the state is a global
  part plus one record per id, and sorting those records is an exact canonical form with no
  permutation tried (TwoPhase's RMs: their state, their bit in tmPrepared, their Prepared message);
- "min": otherwise, the least of the state's images under every permutation (exact; n! images,
  so offered up to `MAX_IMAGES` permutations);
- "approx": beyond that, the image that sorts the ids by their own variables (ties in input order):
  sound — always a state of the same class — but two states of one class may get different
  representatives, so the count lies between the number of classes and the full count.

Permutations act on slots directly (no decoding in the search): a node variable block trades
places, a map keyed by ids reorders its blocks, a set or multiset of values moves its bits, a
small single-slot value goes through a table; anything else is decoded, renamed and re-encoded.
`reduced(system, r)` is the system whose states are representatives, which the one search loop
explores unchanged; `concretize` turns a path of representatives back into a path of the unreduced
system (each step re-executed), so counterexamples stay concrete and replay on the full model.
Imports `checker.model` and `checker.semantics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import permutations, product
from math import factorial
from typing import Any

from ..model.schema import Bag, Enum, Map, OneOf, Option, Queue, Record, Seq, Set, Type
from ..model.state import StateSchema
from ..model.symmetry import involves, rename_value, role_ids
from ..semantics import Action, TransitionSystem

MAX_IMAGES = 720  # permutations tried per state at most (6 nodes of one role)
SMALL = 6  # up to this many permutations, the least image over all of them is cheapest
TABLE_MAX = 4096  # single-slot values renamed through a table up to this many codes


class SymmetryError(ValueError):
    """The roles cannot be reduced by symmetry in this state (one line)."""


@dataclass(frozen=True)
class Reduction:
    """How states are reduced: `canon(raw) -> representative`, and `witness(raw) -> (representative,
    permutation)` where the permutation maps each renamed id to the id it becomes."""

    roles: tuple[str, ...]
    ids: tuple[tuple[str, ...], ...]  # per role
    form: str  # "sort", "min" or "approx"
    exact: bool
    canon: Callable[[tuple], tuple]
    witness: Callable[[tuple], tuple[tuple, dict[str, str]]]

    def describe(self) -> str:
        what = ", ".join(f"{r} ({len(i)} nodes)" for r, i in zip(self.roles, self.ids))
        how = {"sort": "exact, by sorting per-node records", "min": "exact, least image",
               "sig": "exact, by sorting signatures, least image over ties"}[self.form]
        if not self.exact:
            how = "sorted signatures, least image over ties up to 720 permutations: sound, at most one state per class beyond"
        return f"symmetry over {what}: {how}"


def reduction(schema: StateSchema, roles: Sequence[str], max_images: int = MAX_IMAGES) -> Reduction:
    """The cheapest exact reduction of `schema` by the given roles, else a sound approximation."""
    roles = tuple(roles)
    if not roles:
        raise SymmetryError("symmetry needs at least one role")
    ids = []
    for r in roles:
        found = role_ids(schema, r)
        if found is None:
            raise SymmetryError(f"symmetry over {r}: the state has no nodes or ids of role {r!r}")
        ids.append(tuple(found))
    _refuse_anchored(schema, roles, ids)
    if len(roles) == 1:
        layout = _sort_layout(schema, roles[0], ids[0])
        if layout is not None:
            canon, witness = _sorter(schema, roles[0], ids[0], layout)
            return Reduction(roles, tuple(ids), "sort", True, canon, witness)
    total = 1
    for i in ids:
        total *= factorial(len(i))
    if total <= SMALL or len(roles) > 1:
        if total > max_images:
            raise SymmetryError(f"symmetry over {', '.join(roles)}: {total} permutations, more than {max_images}; "
                                "declare one role at a time")
        canon, witness = _least_image(schema, roles, ids)
        return Reduction(roles, tuple(ids), "min", True, canon, witness)
    canon, witness = _sorted_least(schema, roles[0], ids[0], max_images)
    return Reduction(roles, tuple(ids), "sig", total <= max_images, canon, witness)


def _refuse_anchored(schema: StateSchema, roles: tuple[str, ...], ids: list[tuple[str, ...]]) -> None:
    """The partition variable names the side *without the first node*: renaming that node breaks it."""
    if "partition" not in schema.variables:
        return
    first = schema.variables["partition"].elem.names[0]  # type: ignore[attr-defined]
    for r, i in zip(roles, ids):
        if first in i:
            raise SymmetryError(f"symmetry over {r}: partitions are stored relative to {first}, a node of {r}; "
                                "declare the role after another role, or drop the symmetry")


def reduced(system: TransitionSystem, r: Reduction) -> TransitionSystem:
    """`system` over representatives: initial states and every successor go through `r.canon`."""
    canon = r.canon

    def wrap(a: Action) -> Action:
        succ = a.successors

        def successors(s: tuple) -> list[tuple]:
            return [canon(t) for t in succ(s)]

        def instances(s: tuple):
            return [(p, canon(t)) for p, t in a.instances(s)]

        return Action(a.name, successors, instances, a.kind)

    initial = list(dict.fromkeys(canon(s) for s in system.initial))
    return TransitionSystem(system.name, system.schema, initial, [wrap(a) for a in system.actions],
                            system.invariants, system.constraints, system.terminals, system.params,
                            reachables=system.reachables)


def concretize(system: TransitionSystem, r: Reduction, path: Sequence[tuple]) -> tuple[tuple[tuple, ...],
                                                                                          tuple[dict[str, str], ...]]:
    """A path of the unreduced `system` whose states have the representatives `path`, step by step,
    and per state the renaming that maps it to its representative (empty where it is one)."""
    canon = r.canon
    state = next(s for s in system.initial if canon(s) == path[0])
    out = [state]
    for rep in path[1:]:
        state = next(t for a in system.actions for t in a.successors(state) if canon(t) == rep)
        out.append(state)
    perms = []
    for s in out:
        _, m = r.witness(s)
        perms.append({k: v for k, v in m.items() if k != v})
    return tuple(out), tuple(perms)


# -- permutations on slots -------------------------------------------------------------------------


CACHE_MAX = 1 << 16  # renamed collections kept per slot and permutation


def permuter(schema: StateSchema, roles: Sequence[str], mapping: dict[str, str]) -> Callable[[tuple], tuple]:
    """A compiled function raw -> raw renaming ids by `mapping` (a bijection on the roles' ids)."""
    exprs: list[str | None] = [None] * schema.width
    env: dict[str, Any] = {"_bits": _bits, "_digits": _digits, "_queue": _queue, "_fill": _fill}
    moved = {n: mapping[n] for r in roles for n in schema.groups.get(r, ()) if n in mapping}
    ids = tuple(mapping)
    for name, t in schema.variables.items():
        src = schema.offsets[name]
        dst = schema.offsets[moved.get(name, name)]
        _walk(t, src, dst, ids, mapping, exprs, env)
    assert all(e is not None for e in exprs)
    body = ", ".join(exprs) + ("," if len(exprs) == 1 else "")  # type: ignore[arg-type]
    code = f"def perm(s):\n    return ({body})\n"
    exec(compile(code, "<symmetry>", "exec"), env)
    return env["perm"]


def _walk(t: Type, src: int, dst: int, ids: tuple[str, ...], mapping: dict[str, str], exprs: list, env: dict) -> None:
    if not involves(t, ids):
        for k in range(t.width):
            exprs[dst + k] = f"s[{src + k}]"
        return
    if isinstance(t, Map):
        w = t.value.width
        for j, k in enumerate(t.keys):
            j2 = t.key.rank(rename_value(t.key, k, mapping))
            _walk(t.value, src + j * w, dst + j2 * w, ids, mapping, exprs, env)
        return
    if isinstance(t, Record):
        for ft in t.fields.values():
            _walk(ft, src, dst, ids, mapping, exprs, env)
            src, dst = src + ft.width, dst + ft.width
        return
    if isinstance(t, Option):  # an absent value's slots stay zeros: one encoding per value
        exprs[dst] = f"s[{src}]"
        _walk(t.inner, src + 1, dst + 1, ids, mapping, exprs, env)
        for k in range(dst + 1, dst + t.width):
            exprs[k] = f"({exprs[k]} if s[{src}] else 0)"
        return
    if isinstance(t, Seq) and not isinstance(t, Queue):  # so do the unused blocks of a sequence
        exprs[dst] = f"s[{src}]"
        for j in range(t.max_len):
            o = 1 + j * t.elem.width
            _walk(t.elem, src + o, dst + o, ids, mapping, exprs, env)
            for k in range(dst + o, dst + o + t.elem.width):
                exprs[k] = f"({exprs[k]} if s[{src}] > {j} else 0)"
        return
    name = f"T{len(env)}"
    if isinstance(t, (Set, Bag, Queue)):
        env[name] = [t.elem.rank(rename_value(t.elem, v, mapping)) for v in t.elem.values()]
        fn = {Set: "_bits", Bag: "_digits"}.get(type(t), "_queue")
        extra = f", {t.base}" if isinstance(t, Queue) else ""
        env[name + "c"] = {}  # renamed collections seen before (an empty one is itself; a non-empty one not 0)
        exprs[dst] = (f"(({name}c.get(s[{src}]) or _fill({name}c, s[{src}], {fn}(s[{src}], {name}{extra}))) "
                      f"if s[{src}] else 0)")
        return
    if t.width == 1 and t.bounds()[0] <= TABLE_MAX:
        env[name] = [t.encode(rename_value(t, t.decode((c,)), mapping))[0] for c in range(t.bounds()[0])]
        exprs[dst] = f"{name}[s[{src}]]"
        return
    # anything else (a OneOf spread over several slots): decode, rename, encode
    env[name] = lambda raw, o=src, t=t: t.encode(rename_value(t, t.decode_at(raw, o), mapping))
    for k in range(t.width):
        exprs[dst + k] = f"{name}(s)[{k}]"


def _fill(cache: dict[int, int], key: int, value: int) -> int:
    if len(cache) < CACHE_MAX:
        cache[key] = value
    return value


def _bits(mask: int, to: list[int]) -> int:
    out = 0
    while mask:  # one turn per member, however sparse the mask
        low = mask & -mask
        out |= 1 << to[low.bit_length() - 1]
        mask ^= low
    return out


def _digits(x: int, to: list[int]) -> int:
    out = 0
    while x:  # one turn per element present (4 bits of count each)
        r = ((x & -x).bit_length() - 1) >> 2
        c = x >> (4 * r) & 15
        out += c << (4 * to[r])
        x -= c << (4 * r)
    return out


def _queue(q: int, to: list[int], base: int) -> int:
    digits = []
    while q:
        q, d = divmod(q, base)
        digits.append(to[d - 1] + 1)
    out = 0
    for d in reversed(digits):
        out = out * base + d
    return out


def _all_mappings(roles: Sequence[str], ids: Sequence[tuple[str, ...]]) -> list[dict[str, str]]:
    per_role = [[dict(zip(i, p)) for p in permutations(i)] for i in ids]
    out = []
    for combo in product(*per_role):
        m: dict[str, str] = {}
        for part in combo:
            m.update(part)
        out.append(m)
    return out


# -- the exact least image ---------------------------------------------------------------------------


def _least_image(schema: StateSchema, roles: tuple[str, ...], ids: list[tuple[str, ...]]):
    mappings = _all_mappings(roles, ids)
    fns = [permuter(schema, roles, m) for m in mappings]

    def canon(raw: tuple) -> tuple:
        return min([f(raw) for f in fns])

    def witness(raw: tuple) -> tuple[tuple, dict[str, str]]:
        images = [f(raw) for f in fns]
        best = min(images)
        return best, mappings[images.index(best)]

    return canon, witness


# -- sorting per-id records (exact where ids are only ever indices) ---------------------------------


def _sort_layout(schema: StateSchema, role: str, ids: tuple[str, ...]) -> list[list[tuple[int, int | None]]] | None:
    """Per id, the places that belong to it, as (slot, None) for a whole slot or (slot, bit) for one
    bit; the same component order for every id. None when ids also occur as values (a map whose
    value names a node, a message naming two nodes), where sorting alone is not exact."""
    per_id: list[list[tuple[int, int | None]]] = [[] for _ in ids]
    index = {n: i for i, n in enumerate(ids)}
    nodes = schema.groups.get(role, ())
    for name, t in schema.variables.items():
        o = schema.offsets[name]
        if name in nodes:
            if involves(t, ids):
                return None
            for k in range(t.width):
                per_id[index[name]].append((o + k, None))
            continue
        if not involves(t, ids):
            continue
        if isinstance(t, Map) and _is_ids(t.key, ids) and not involves(t.value, ids):
            w = t.value.width
            for j, k in enumerate(t.keys):
                for q in range(w):
                    per_id[index[k]].append((o + j * w + q, None))
            continue
        if isinstance(t, Set):
            groups = _bits_by_id(t.elem, ids)
            if groups is None:
                return None
            for i, bits in enumerate(groups):
                per_id[i].extend((o, b) for b in bits)
            continue
        return None
    return per_id


def _is_ids(t: Type, ids: tuple[str, ...]) -> bool:
    return isinstance(t, Enum) and tuple(t.names) == ids


def _bits_by_id(elem: Type, ids: tuple[str, ...]) -> list[list[int]] | None:
    """For a set over `elem`: per id, the ranks of the elements that name that id and no other, in
    one order for every id (by the element with the id replaced by the first id). None if an element
    names two ids or names one otherwise than as a NodeId field."""
    if elem.cardinality is None:
        return None
    first = ids[0]
    groups: list[dict[int, int]] = [{} for _ in ids]
    for v in elem.values():
        named = _named(elem, v, ids)
        if named is None:
            return None
        if not named:
            continue
        if len(named) > 1:
            return None
        (i,) = named
        template = elem.rank(rename_value(elem, v, {ids[i]: first, first: ids[i]}))
        groups[i][template] = elem.rank(v)
    keys = sorted(groups[0])
    if any(sorted(g) != keys for g in groups):
        return None
    return [[g[k] for k in keys] for g in groups]


def _named(t: Type, v: Any, ids: tuple[str, ...]) -> set[int] | None:
    """The indices of the ids a value names (as NodeId/Enum values); None if it names them inside a
    container (a set of ids within an element), where one element can name several."""
    if isinstance(t, Enum):
        return {ids.index(v)} if set(ids) <= set(t.names) and v in ids else set()
    if isinstance(t, Record):
        out: set[int] = set()
        for ft, x in zip(t.fields.values(), v):
            sub = _named(ft, x, ids)
            if sub is None:
                return None
            out |= sub
        return out
    if isinstance(t, OneOf):
        return _named(t.variants[t._by_class[type(v)]], v, ids)
    if isinstance(t, Option):
        return set() if v is None else _named(t.inner, v, ids)
    return set() if not involves(t, ids) else None


def _sorter(schema: StateSchema, role: str, ids: tuple[str, ...], layout: list[list[tuple[int, int | None]]]):
    """Generated code: read each id's record, sort the records, write them back in order."""
    n = len(ids)
    lines = ["def canon(s):"]
    for i, places in enumerate(layout):
        parts = [f"s[{slot}]" if bit is None else f"s[{slot}] >> {bit} & 1" for slot, bit in places]
        lines.append(f"    r{i} = ({', '.join(parts)}{',' if len(parts) == 1 else ''})")
    lines.append(f"    rs = sorted(({', '.join(f'r{i}' for i in range(n))},))")
    out = [f"s[{k}]" for k in range(schema.width)]
    whole: dict[int, str] = {}
    bits: dict[int, list[str]] = {}
    for j, places in enumerate(layout):
        for c, (slot, bit) in enumerate(places):
            if bit is None:
                whole[slot] = f"rs[{j}][{c}]"
            else:
                bits.setdefault(slot, []).append(f"rs[{j}][{c}] << {bit}")
    for slot, expr in whole.items():
        out[slot] = expr
    for slot, parts in bits.items():
        owned = sum(1 << int(p.rsplit("<< ", 1)[1]) for p in parts)
        out[slot] = f"(s[{slot}] & {~owned}) | " + " | ".join(parts)
    lines.append(f"    return ({', '.join(out)}{',' if len(out) == 1 else ''})")
    env: dict[str, Any] = {}
    exec(compile("\n".join(lines) + "\n", "<symmetry-sort>", "exec"), env)
    canon = env["canon"]

    def record(raw: tuple, i: int) -> tuple:
        return tuple(raw[slot] if bit is None else raw[slot] >> bit & 1 for slot, bit in layout[i])

    def witness(raw: tuple) -> tuple[tuple, dict[str, str]]:
        order = sorted(range(n), key=lambda i: record(raw, i))  # stable: the record at order[j] goes to j
        return canon(raw), {ids[i]: ids[j] for j, i in enumerate(order)}

    return canon, witness


# -- sorting by a renaming-invariant signature, least image over the ties ----------------------------


def _leaves(t: Type, ids: tuple[str, ...]) -> list[bool]:
    """Per slot of `t`: whether its value can name one of `ids`."""
    if not involves(t, ids):
        return [False] * t.width
    if isinstance(t, Map):
        return _leaves(t.value, ids) * len(t.keys)
    if isinstance(t, Record):
        return [b for ft in t.fields.values() for b in _leaves(ft, ids)]
    if isinstance(t, Option):
        return [False] + _leaves(t.inner, ids)
    if isinstance(t, Seq) and not isinstance(t, Queue):
        return [False] + _leaves(t.elem, ids) * t.max_len
    return [True] * t.width


def _signer(schema: StateSchema, role: str, ids: tuple[str, ...]):
    """A function raw -> per id a signature that renaming cannot change: the id-free slots of its own
    variables and of the maps keyed by it, and, for every set or multiset element naming it, the
    element with every id blotted out, where in the element the id sits, and how many copies."""
    n = len(ids)
    index = {x: i for i, x in enumerate(ids)}
    nodes = schema.groups.get(role, ())
    blocks: list[list[int]] = [[] for _ in ids]
    collections: list[tuple[int, int, dict[int, list[tuple[int, Any]]]]] = []  # (slot, digit bits, rank -> [(i, token)])
    for vi, (name, t) in enumerate(schema.variables.items()):
        o = schema.offsets[name]
        if name in nodes:
            free = _leaves(t, ids)
            blocks[index[name]].extend(o + k for k in range(t.width) if not free[k])
        elif isinstance(t, Map) and isinstance(t.key, Enum) and set(ids) <= set(t.key.names):
            w, free = t.value.width, _leaves(t.value, ids)
            for j, k in enumerate(t.keys):
                if k in index:
                    blocks[index[k]].extend(o + j * w + q for q in range(w) if not free[q])
        elif isinstance(t, (Set, Bag)) and involves(t.elem, ids) and t.elem.cardinality is not None:
            blot = {x: ids[0] for x in ids}
            table: dict[int, list[tuple[int, Any]]] = {}
            for v in t.elem.values():
                places = _places(t.elem, v, ids, ())
                if places:
                    token = (vi, repr(rename_value(t.elem, v, blot)))
                    table[t.elem.rank(v)] = [(index[x], (token, path)) for x, path in places]
            collections.append((o, 4 if isinstance(t, Bag) else 1, table))

    def sign(raw: tuple) -> list[tuple]:
        extra: list[list] = [[] for _ in range(n)]
        for o, bits, table in collections:
            x, mask = raw[o], (1 << bits) - 1
            while x:
                r = ((x & -x).bit_length() - 1) // bits
                c = x >> (bits * r) & mask
                x -= c << (bits * r)
                for i, tok in table.get(r, ()):
                    extra[i].append((tok, c))
        return [(tuple(raw[k] for k in blocks[i]), tuple(sorted(extra[i]))) for i in range(n)]

    return sign


def _places(t: Type, v: Any, ids: tuple[str, ...], path: tuple) -> list[tuple[str, tuple]]:
    """Where in the value `v` the ids occur: (id, path of field names)."""
    if isinstance(t, Enum):
        return [(v, path)] if set(ids) <= set(t.names) and v in ids else []
    if isinstance(t, Record):
        return [p for (f, ft), x in zip(t.fields.items(), v) for p in _places(ft, x, ids, path + (f,))]
    if isinstance(t, OneOf):
        return _places(t.variants[t._by_class[type(v)]], v, ids, path)
    if isinstance(t, Option):
        return [] if v is None else _places(t.inner, v, ids, path)
    if isinstance(t, (Set, Bag, Seq)):
        return [p for k, x in enumerate(sorted(v, key=repr) if isinstance(v, frozenset) else v)
                for p in _places(t.elem, x, ids, path + (k,))]
    if isinstance(t, Map):
        return [p for k, x in v.items() for p in _places(t.key, k, ids, path + ("key",)) +
                _places(t.value, x, ids, path + (repr(k),))]
    return []


def _sorted_least(schema: StateSchema, role: str, ids: tuple[str, ...], max_images: int):
    """Sort the ids by their signatures; among ids whose signatures tie (and which the state does
    not already treat alike), take the least image over their permutations. Exact: states of one
    class sort to images that differ only by a permutation of the ties. Ties needing more than
    `max_images` permutations get the sorted image alone: still sound."""
    n = len(ids)
    sign = _signer(schema, role, ids)
    cache: dict[tuple[int, ...], Callable[[tuple], tuple]] = {}

    def fn(order: tuple[int, ...]) -> Callable[[tuple], tuple]:  # the id at order[j] becomes ids[j]
        f = cache.get(order)
        if f is None:
            f = cache[order] = permuter(schema, (role,), {ids[i]: ids[j] for j, i in enumerate(order)})
        return f

    swaps = [fn(tuple(j + 1 if k == j else j if k == j + 1 else k for k in range(n))) for j in range(n - 1)]

    def best(raw: tuple) -> tuple[tuple, tuple[int, ...]]:
        sigs = sign(raw)
        order = tuple(sorted(range(n), key=sigs.__getitem__))
        img = fn(order)(raw)
        groups, j = [], 0
        while j < n:
            k = j
            while k + 1 < n and sigs[order[k + 1]] == sigs[order[j]]:
                k += 1
            if k > j and any(swaps[q](img) != img for q in range(j, k)):
                groups.append(range(j, k + 1))
            j = k + 1
        if not groups:
            return img, order
        total = 1
        for g in groups:
            total *= factorial(len(g))
        if total > max_images:
            return img, order
        choices = []
        for combo in product(*(permutations(g) for g in groups)):
            q = list(range(n))
            for g, p in zip(groups, combo):
                for pos, src in zip(g, p):
                    q[pos] = src
            choices.append((fn(tuple(q))(img), tuple(q)))
        least, q = min(choices)
        return least, tuple(order[i] for i in q)

    def canon(raw: tuple) -> tuple:
        return best(raw)[0]

    def witness(raw: tuple) -> tuple[tuple, dict[str, str]]:
        img, order = best(raw)
        return img, {ids[i]: ids[j] for j, i in enumerate(order)}

    return canon, witness


__all__ = ["MAX_IMAGES", "Reduction", "SymmetryError", "concretize", "permuter", "reduced", "reduction"]
