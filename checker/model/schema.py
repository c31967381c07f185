"""The typed value schema: finite types whose values encode to flat tuples of small ints.

Every type has a fixed `width` (how many int slots it occupies), a canonical
encoding (each slot a non-negative int: `hash(-1) == hash(-2)` in CPython),
decoding for display, validation that names the offending path, and a JSON
round trip. Standard library only: this module is exported standalone later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import product
from operator import itemgetter
from typing import Any


class SchemaError(ValueError):
    """A value does not fit its declared type, or a type is declared wrongly."""


class FrozenDict(dict):
    """A read-only, hashable dict: how `Map` values decode."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a decoded Map is read-only; build a new dict instead")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __reduce__(self):  # copy and pickle rebuild it from a plain dict, never item by item
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict) -> FrozenDict:
        return self

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self.items()) + "}"


class Type:
    """Base of every schema type.

    Subclasses set `width` and implement `_check`, `encode_into`, `decode_at`,
    `to_json`, `from_json`, `bounds` and, when the domain is finite and small,
    `cardinality`, `rank`, `unrank`.
    """

    width: int = 1
    cardinality: int | None = None  # number of values, when finite

    def __new__(cls, *args: Any, **kwargs: Any):
        # A type built over a symbolic one (`Set(Ids("rm"))`) waits until the counts are known.
        if any(isinstance(a, Symbolic) for a in (*args, *kwargs.values())):
            return Deferred(cls, args, kwargs)
        return super().__new__(cls)

    # -- validation -------------------------------------------------------
    def validate(self, value: Any, path: str = "value") -> Any:
        """Return the canonical form of `value`, or raise SchemaError naming `path`."""
        return self._check(value, path)

    def _check(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    # -- encoding ---------------------------------------------------------
    def encode(self, value: Any) -> tuple[int, ...]:
        """The slots of `value` (validated first).

        >>> Int(-1, 3).encode(-1)
        (0,)
        """
        out: list[int] = []
        self.encode_into(self.validate(value), out)
        return tuple(out)

    def decode(self, slots: Sequence[int]) -> Any:
        """The value whose encoding is `slots` (exactly `width` ints)."""
        if len(slots) != self.width:
            raise SchemaError(f"expected {self.width} slots, got {len(slots)}")
        return self.decode_at(slots, 0)

    def encode_into(self, value: Any, out: list[int]) -> None:
        raise NotImplementedError

    def decode_at(self, slots: Sequence[int], i: int) -> Any:
        raise NotImplementedError

    def bounds(self) -> list[int]:
        """Per slot, the exclusive upper bound of its int (lower bound is 0)."""
        raise NotImplementedError

    # -- finite domains -----------------------------------------------------
    def rank(self, value: Any) -> int:
        raise SchemaError(f"{self} has no small finite domain")

    def unrank(self, index: int) -> Any:
        raise SchemaError(f"{self} has no small finite domain")

    def values(self) -> Iterator[Any]:
        """Every value of the type, in rank order (finite types only)."""
        if self.cardinality is None:
            raise SchemaError(f"{self} has no small finite domain")
        return (self.unrank(i) for i in range(self.cardinality))

    # -- JSON and text --------------------------------------------------------
    def to_json(self, value: Any) -> Any:
        raise NotImplementedError

    def from_json(self, obj: Any, path: str = "value") -> Any:
        return self.validate(obj, path)

    def format(self, value: Any) -> str:
        """Compact human-readable text of a (decoded) value."""
        return repr(value)


def _type_name(value: Any) -> str:
    return type(value).__name__


class Symbolic(Type):
    """A type that is only known once a protocol's node counts are: see `Ids` and `bind`."""

    def __new__(cls, *args: Any, **kwargs: Any):
        return object.__new__(cls)

    def bind(self, ids: dict[str, Type]) -> Type:
        raise NotImplementedError

    def _unbound(self, *args: Any) -> Any:
        raise SchemaError(f"{self!r} is symbolic: it is bound to the node counts when the protocol is set up")

    validate = encode_into = decode_at = bounds = to_json = _unbound  # type: ignore[assignment]


class Ids(Symbolic):
    """The identities of the nodes of one role, before the count is known: `Set(Ids("rm"))`."""

    def __init__(self, role: str):
        if not isinstance(role, str) or not role.isidentifier():
            raise SchemaError(f"Ids(role): role must be an identifier, got {role!r}")
        self.role = role

    def bind(self, ids: dict[str, Type]) -> Type:
        try:
            return ids[self.role]
        except KeyError:
            raise SchemaError(f"Ids({self.role!r}): no role {self.role!r} (roles: {', '.join(ids)})") from None

    def __repr__(self) -> str:
        return f"Ids({self.role!r})"


class Deferred(Symbolic):
    """`cls(*args, **kwargs)` with symbolic arguments, built by `bind`."""

    def __init__(self, cls: type, args: tuple, kwargs: dict):
        self.cls, self.args, self.kwargs = cls, args, kwargs

    def bind(self, ids: dict[str, Type]) -> Type:
        return self.cls(*(bind(a, ids) for a in self.args), **{k: bind(v, ids) for k, v in self.kwargs.items()})

    def __repr__(self) -> str:
        inner = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.cls.__name__}({', '.join(inner)})"


def bind(t: Any, ids: dict[str, Type]) -> Any:
    """`t` with every symbolic part (`Ids(role)`) replaced by the role's concrete NodeId type."""
    return t.bind(ids) if isinstance(t, Symbolic) else t


class Bool(Type):
    """True or False; one slot, 0 or 1."""

    cardinality = 2

    def _check(self, value: Any, path: str) -> bool:
        if value is True or value is False:
            return value
        raise SchemaError(f"{path}: expected a bool, got {value!r}")

    def encode_into(self, value: bool, out: list[int]) -> None:
        out.append(1 if value else 0)

    def decode_at(self, slots: Sequence[int], i: int) -> bool:
        return slots[i] == 1

    def bounds(self) -> list[int]:
        return [2]

    def rank(self, value: bool) -> int:
        return 1 if value else 0

    def unrank(self, index: int) -> bool:
        return index == 1

    def to_json(self, value: bool) -> bool:
        return value

    def format(self, value: bool) -> str:
        return "true" if value else "false"

    def __repr__(self) -> str:
        return "Bool()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bool)

    def __hash__(self) -> int:
        return hash("Bool")


class Int(Type):
    """An integer in [lo, hi]; stored as value - lo so every slot is non-negative.

    >>> Int(-2, 2).encode(0), Int(-2, 2).decode((2,))
    ((2,), 0)
    """

    def __init__(self, lo: int, hi: int):
        if not (isinstance(lo, int) and isinstance(hi, int)) or isinstance(lo, bool) or isinstance(hi, bool):
            raise SchemaError(f"Int(lo, hi) takes two ints, got Int({lo!r}, {hi!r})")
        if lo > hi:
            raise SchemaError(f"Int({lo}, {hi}): lo must be <= hi")
        self.lo, self.hi = lo, hi
        self.cardinality = hi - lo + 1 if hi - lo + 1 <= _SMALL else None  # too many to enumerate

    def _check(self, value: Any, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaError(f"{path}: expected an int in [{self.lo}, {self.hi}], got {value!r}")
        if not self.lo <= value <= self.hi:
            raise SchemaError(f"{path}: {value} is outside [{self.lo}, {self.hi}]")
        return value

    def encode_into(self, value: int, out: list[int]) -> None:
        out.append(value - self.lo)

    def decode_at(self, slots: Sequence[int], i: int) -> int:
        return slots[i] + self.lo

    def bounds(self) -> list[int]:
        return [self.hi - self.lo + 1]

    def rank(self, value: int) -> int:
        return value - self.lo

    def unrank(self, index: int) -> int:
        return index + self.lo

    def to_json(self, value: int) -> int:
        return value

    def format(self, value: int) -> str:
        return str(value)

    def __repr__(self) -> str:
        return f"Int({self.lo}, {self.hi})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Int) and (self.lo, self.hi) == (other.lo, other.hi)

    def __hash__(self) -> int:
        return hash(("Int", self.lo, self.hi))


class Enum(Type):
    """One of a fixed list of names; stored as the name's index.

    >>> E = Enum("working", "prepared"); E.code("prepared")
    1
    """

    def __init__(self, *names: str):
        if not names:
            raise SchemaError("Enum() needs at least one name")
        for n in names:
            if not isinstance(n, str) or not n:
                raise SchemaError(f"Enum names must be non-empty strings, got {n!r}")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise SchemaError(f"Enum names must be distinct; repeated: {', '.join(dup)}")
        self.names: tuple[str, ...] = tuple(names)
        self._index = {n: i for i, n in enumerate(names)}
        self.cardinality = len(names)

    def code(self, name: str) -> int:
        """The int that stores `name` (for writing fast actions)."""
        try:
            return self._index[name]
        except KeyError:
            raise SchemaError(f"{name!r} is not one of {self._choices()}") from None

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(range(len(self.names)))

    def _choices(self) -> str:
        return ", ".join(self.names)

    def _check(self, value: Any, path: str) -> str:
        if isinstance(value, str) and value in self._index:
            return value
        raise SchemaError(f"{path}: expected one of {self._choices()}, got {value!r}")

    def encode_into(self, value: str, out: list[int]) -> None:
        out.append(self._index[value])

    def decode_at(self, slots: Sequence[int], i: int) -> str:
        return self.names[slots[i]]

    def bounds(self) -> list[int]:
        return [len(self.names)]

    def rank(self, value: str) -> int:
        return self._index[value]

    def unrank(self, index: int) -> str:
        return self.names[index]

    def to_json(self, value: str) -> str:
        return value

    def format(self, value: str) -> str:
        return value

    def __repr__(self) -> str:
        return "Enum(" + ", ".join(repr(n) for n in self.names) + ")"

    def __eq__(self, other: object) -> bool:
        return type(other) is Enum and self.names == other.names  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("Enum", self.names))


class NodeId(Enum):
    """The identity of one of `count` nodes of a role, named `<role><i>` for i = 1..count.

    >>> NodeId("rm", 3).names
    ('rm1', 'rm2', 'rm3')
    """

    def __init__(self, role: str, count: int):
        if not isinstance(role, str) or not role.isidentifier():
            raise SchemaError(f"NodeId role must be an identifier, got {role!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise SchemaError(f"NodeId({role!r}, count): count must be an int >= 1, got {count!r}")
        super().__init__(*(f"{role}{i}" for i in range(1, count + 1)))
        self.role, self.count = role, count

    def __repr__(self) -> str:
        return f"NodeId({self.role!r}, {self.count})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NodeId) and (self.role, self.count) == (other.role, other.count)

    def __hash__(self) -> int:
        return hash(("NodeId", self.role, self.count))


def _need_finite(elem: Type, what: str) -> int:
    if not isinstance(elem, Type):
        raise SchemaError(f"{what} takes a schema type, got {elem!r}")
    if elem.cardinality is None:
        raise SchemaError(f"{what}: {elem!r} has no small finite domain")
    return elem.cardinality


class Set(Type):
    """A subset of a finite type; stored in one slot as a bitmask over element ranks.

    >>> Set(NodeId("rm", 3)).encode({"rm1", "rm3"})
    (5,)
    """

    def __init__(self, elem: Type):
        n = _need_finite(elem, "Set(elem)")
        if n > 4096:
            raise SchemaError(f"Set({elem!r}): the element domain has {n} values; at most 4096 fit a bitmask")
        self.elem = elem
        self.cardinality = 1 << n if n <= 24 else None

    def _check(self, value: Any, path: str) -> frozenset:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise SchemaError(f"{path}: expected a set, got {value!r}")
        items = list(value)
        out = frozenset(self.elem.validate(v, f"{path} element") for v in items)
        if len(out) != len(items) and not isinstance(value, (set, frozenset)):
            raise SchemaError(f"{path}: repeated element in {value!r}")
        return out

    def encode_into(self, value: frozenset, out: list[int]) -> None:
        mask = 0
        rank = self.elem.rank
        for v in value:
            mask |= 1 << rank(v)
        out.append(mask)

    def decode_at(self, slots: Sequence[int], i: int) -> frozenset:
        mask, unrank, out, r = slots[i], self.elem.unrank, [], 0
        while mask:
            if mask & 1:
                out.append(unrank(r))
            mask >>= 1
            r += 1
        return frozenset(out)

    def bounds(self) -> list[int]:
        return [1 << self.elem.cardinality]  # type: ignore[operator]

    def rank(self, value: frozenset) -> int:
        out: list[int] = []
        self.encode_into(value, out)
        return out[0]

    def unrank(self, index: int) -> frozenset:
        return self.decode_at((index,), 0)

    def _sorted(self, value: frozenset) -> list:
        return sorted(value, key=self.elem.rank)

    def to_json(self, value: frozenset) -> list:
        return [self.elem.to_json(v) for v in self._sorted(value)]

    def from_json(self, obj: Any, path: str = "value") -> frozenset:
        if not isinstance(obj, list):
            raise SchemaError(f"{path}: expected a JSON array for a set, got {obj!r}")
        return self._check([self.elem.from_json(v, f"{path} element") for v in obj], path)

    def format(self, value: frozenset) -> str:
        return "{" + ", ".join(self.elem.format(v) for v in self._sorted(value)) + "}"

    def __repr__(self) -> str:
        return f"Set({self.elem!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Set) and self.elem == other.elem

    def __hash__(self) -> int:
        return hash(("Set", self.elem))


_SMALL = 1 << 24  # finite domains larger than this are not enumerated (cardinality None)


def _power(base: int | None, n: int) -> int | None:
    if base is None:
        return None
    c = base**n if base > 1 else base
    return c if c <= _SMALL else None


def _mixed_rank(types: Sequence[Type], values: Iterable[Any]) -> int:
    r = 0
    for t, v in zip(types, values):
        r = r * t.cardinality + t.rank(v)  # type: ignore[operator]
    return r


def _mixed_unrank(types: Sequence[Type], index: int) -> list:
    out: list = [None] * len(types)
    for k in range(len(types) - 1, -1, -1):
        index, r = divmod(index, types[k].cardinality)  # type: ignore[arg-type]
        out[k] = types[k].unrank(r)
    return out


class Map(Type):
    """A total function from a finite key type to values; `key.cardinality` x `value.width` slots.

    >>> RM = NodeId("rm", 2); Map(RM, Bool()).encode({"rm1": True, "rm2": False})
    (1, 0)
    """

    def __init__(self, key: Type, value: Type):
        n = _need_finite(key, "Map(key, value)")
        if not isinstance(value, Type):
            raise SchemaError(f"Map(key, value) takes a schema type as value, got {value!r}")
        self.key, self.value = key, value
        self.keys = tuple(key.values())
        self.width = n * value.width
        self.cardinality = _power(value.cardinality, n)

    def offset(self, key: Any) -> int:
        """Where `key`'s value starts, relative to the map's first slot."""
        return self.key.rank(key) * self.value.width

    def _check(self, value: Any, path: str) -> FrozenDict:
        if not isinstance(value, Mapping):
            raise SchemaError(f"{path}: expected a mapping, got {value!r}")
        out = {}
        for k in value:
            self.key.validate(k, f"{path} key")
        for k in self.keys:
            if k not in value:
                raise SchemaError(f"{path}: missing key {k!r} (a Map is total)")
            out[k] = self.value.validate(value[k], f"{path}[{k!r}]")
        return FrozenDict(out)

    def encode_into(self, value: Mapping, out: list[int]) -> None:
        enc = self.value.encode_into
        for k in self.keys:
            enc(value[k], out)

    def decode_at(self, slots: Sequence[int], i: int) -> FrozenDict:
        w, dec = self.value.width, self.value.decode_at
        return FrozenDict((k, dec(slots, i + j * w)) for j, k in enumerate(self.keys))

    def bounds(self) -> list[int]:
        return self.value.bounds() * len(self.keys)

    def rank(self, value: Mapping) -> int:
        return _mixed_rank([self.value] * len(self.keys), (value[k] for k in self.keys))

    def unrank(self, index: int) -> FrozenDict:
        return FrozenDict(zip(self.keys, _mixed_unrank([self.value] * len(self.keys), index)))

    def _json_keys_are_strings(self) -> bool:
        return isinstance(self.key, Enum)

    def to_json(self, value: Mapping) -> Any:
        if self._json_keys_are_strings():
            return {k: self.value.to_json(value[k]) for k in self.keys}
        return [[self.key.to_json(k), self.value.to_json(value[k])] for k in self.keys]

    def from_json(self, obj: Any, path: str = "value") -> FrozenDict:
        if self._json_keys_are_strings():
            if not isinstance(obj, dict):
                raise SchemaError(f"{path}: expected a JSON object for a map, got {obj!r}")
            pairs = [(self.key.from_json(k, f"{path} key"), v) for k, v in obj.items()]
        else:
            if not isinstance(obj, list) or not all(isinstance(p, list) and len(p) == 2 for p in obj):
                raise SchemaError(f"{path}: expected a JSON array of [key, value] pairs, got {obj!r}")
            pairs = [(self.key.from_json(k, f"{path} key"), v) for k, v in obj]
        return self._check({k: self.value.from_json(v, f"{path}[{k!r}]") for k, v in pairs}, path)

    def format(self, value: Mapping) -> str:
        return "{" + ", ".join(f"{self.key.format(k)}: {self.value.format(value[k])}" for k in self.keys) + "}"

    def __repr__(self) -> str:
        return f"Map({self.key!r}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Map) and (self.key, self.value) == (other.key, other.value)

    def __hash__(self) -> int:
        return hash(("Map", self.key, self.value))


class Seq(Type):
    """A sequence of at most `max_len` elements: a length slot, then `max_len` element blocks.

    Unused blocks are all zeros, so each sequence has exactly one encoding.

    >>> Seq(Int(0, 9), max_len=3).encode((4, 5))
    (2, 4, 5, 0)
    """

    def __init__(self, elem: Type, max_len: int):
        if not isinstance(elem, Type):
            raise SchemaError(f"Seq(elem, max_len) takes a schema type, got {elem!r}")
        if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 0:
            raise SchemaError(f"Seq(..., max_len): max_len must be an int >= 0, got {max_len!r}")
        self.elem, self.max_len = elem, max_len
        self.width = 1 + max_len * elem.width
        c = elem.cardinality
        total = None if c is None or _power(c, max_len) is None else sum(c**k for k in range(max_len + 1))
        self.cardinality = total if total is not None and total <= _SMALL else None

    def offset(self, index: int) -> int:
        """Where element `index` (from 0) starts, relative to the sequence's first slot (the length)."""
        if not 0 <= index < self.max_len:
            raise SchemaError(f"{self!r}: index {index} is outside 0..{self.max_len - 1}")
        return 1 + index * self.elem.width

    def _check(self, value: Any, path: str) -> tuple:
        if isinstance(value, (str, bytes, Mapping, set, frozenset)) or not isinstance(value, Iterable):
            raise SchemaError(f"{path}: expected a sequence, got {value!r}")
        items = tuple(value)
        if len(items) > self.max_len:
            raise SchemaError(f"{path}: length {len(items)} exceeds max_len {self.max_len}")
        return tuple(self.elem.validate(v, f"{path}[{i}]") for i, v in enumerate(items))

    def encode_into(self, value: tuple, out: list[int]) -> None:
        out.append(len(value))
        for v in value:
            self.elem.encode_into(v, out)
        out.extend([0] * ((self.max_len - len(value)) * self.elem.width))

    def decode_at(self, slots: Sequence[int], i: int) -> tuple:
        n, w, dec = slots[i], self.elem.width, self.elem.decode_at
        return tuple(dec(slots, i + 1 + j * w) for j in range(n))

    def bounds(self) -> list[int]:
        return [self.max_len + 1] + self.elem.bounds() * self.max_len

    def rank(self, value: tuple) -> int:
        c = self.elem.cardinality
        assert c is not None
        base = sum(c**k for k in range(len(value)))
        r = 0
        for v in value:
            r = r * c + self.elem.rank(v)
        return base + r

    def unrank(self, index: int) -> tuple:
        c = self.elem.cardinality
        assert c is not None
        n = 0
        while index >= c**n:
            index -= c**n
            n += 1
        out = []
        for _ in range(n):
            index, r = divmod(index, c)
            out.append(self.elem.unrank(r))
        return tuple(reversed(out))

    def to_json(self, value: tuple) -> list:
        return [self.elem.to_json(v) for v in value]

    def from_json(self, obj: Any, path: str = "value") -> tuple:
        if not isinstance(obj, list):
            raise SchemaError(f"{path}: expected a JSON array for a sequence, got {obj!r}")
        return self._check([self.elem.from_json(v, f"{path}[{i}]") for i, v in enumerate(obj)], path)

    def format(self, value: tuple) -> str:
        return "<" + ", ".join(self.elem.format(v) for v in value) + ">"

    def __repr__(self) -> str:
        return f"Seq({self.elem!r}, max_len={self.max_len})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Seq and (self.elem, self.max_len) == (other.elem, other.max_len)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("Seq", self.elem, self.max_len))


class Option(Type):
    """None or a value of `inner`: a presence slot, then the inner slots (zeros when None).

    >>> Option(Int(1, 3)).encode(None), Option(Int(1, 3)).encode(2)
    ((0, 0), (1, 1))
    """

    def __init__(self, inner: Type):
        if not isinstance(inner, Type):
            raise SchemaError(f"Option(inner) takes a schema type, got {inner!r}")
        if isinstance(inner, Option):
            raise SchemaError("Option(Option(...)) is ambiguous (both Nones read as null); use an Enum tag")
        self.inner = inner
        self.width = 1 + inner.width
        self.cardinality = None if inner.cardinality is None else inner.cardinality + 1

    def _check(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.validate(value, path)

    def encode_into(self, value: Any, out: list[int]) -> None:
        if value is None:
            out.extend([0] * self.width)
        else:
            out.append(1)
            self.inner.encode_into(value, out)

    def decode_at(self, slots: Sequence[int], i: int) -> Any:
        return self.inner.decode_at(slots, i + 1) if slots[i] else None

    def bounds(self) -> list[int]:
        return [2] + self.inner.bounds()

    def rank(self, value: Any) -> int:
        return 0 if value is None else 1 + self.inner.rank(value)

    def unrank(self, index: int) -> Any:
        return None if index == 0 else self.inner.unrank(index - 1)

    def to_json(self, value: Any) -> Any:
        return None if value is None else self.inner.to_json(value)

    def from_json(self, obj: Any, path: str = "value") -> Any:
        return None if obj is None else self.inner.from_json(obj, path)

    def format(self, value: Any) -> str:
        return "none" if value is None else self.inner.format(value)

    def __repr__(self) -> str:
        return f"Option({self.inner!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Option) and self.inner == other.inner

    def __hash__(self) -> int:
        return hash(("Option", self.inner))


def field_properties(fields: tuple[str, ...]) -> dict[str, property]:
    """One read-only property per field (so a field named `index` or `count` is the field, not tuple's)."""
    return {f: property(itemgetter(i), doc=f"field {f}") for i, f in enumerate(fields)}


class RecordValue(tuple):
    """A decoded record: a tuple with named, read-only fields (like a namedtuple)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self))

    def is_a(self, variant: Any) -> bool:
        """Whether this value is of record type `variant` (a `Record`, a Message class, or the name):
        how a decoded `OneOf` value says which variant it is.

        >>> Ping, Pong = Record("Ping", n=Int(0, 3)), Record("Pong")
        >>> m = OneOf(Ping, Pong).decode((0, 2, )); m.is_a("Ping"), m.is_a(Pong), m.n
        (True, False, 2)
        """
        if isinstance(variant, str):
            return type(self).__name__ == variant
        return type(self) is getattr(variant, "value_class", variant)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self))
        return f"{type(self).__name__}({inner})"


class Record(Type):
    """Named fields of given types, laid out one after another.

    >>> R = Record("Msg", kind=Enum("a", "b"), n=Int(0, 3)); R.encode({"kind": "b", "n": 2})
    (1, 2)
    """

    def __init__(self, name: str, /, _value_class: type | None = None, **fields: Type):
        if not isinstance(name, str) or not name.isidentifier():
            raise SchemaError(f"Record name must be an identifier, got {name!r}")
        for f, t in fields.items():
            if not isinstance(t, Type):
                raise SchemaError(f"Record {name}: field {f!r} needs a schema type, got {t!r}")
        self.name = name
        self.fields: dict[str, Type] = dict(fields)
        self.width = sum(t.width for t in fields.values())
        self.offsets: dict[str, int] = {}  # each field's first slot, relative to the record's first slot
        o = 0
        for f, t in fields.items():
            self.offsets[f] = o
            o += t.width
        c: int | None = 1
        for t in fields.values():
            c = None if c is None or t.cardinality is None or c * t.cardinality > _SMALL else c * t.cardinality
        self.cardinality = c
        if _value_class is not None and tuple(getattr(_value_class, "_fields", ())) != tuple(fields):
            raise SchemaError(f"Record {name}: value class fields {_value_class._fields} differ from {tuple(fields)}")
        self.value_class = _value_class or type(name, (RecordValue,), {"__slots__": (), "_fields": tuple(fields),
                                                                       **field_properties(tuple(fields))})

    def offset(self, field: str) -> int:
        """Where `field`'s slots start, relative to the record's first slot.

        >>> Record("Vote", voter=NodeId("a", 3), ballot=Int(0, 3), val=Option(Int(0, 1))).offset("val")
        2
        """
        try:
            return self.offsets[field]
        except KeyError:
            raise SchemaError(f"{self.name} has no field {field!r} (fields: {', '.join(self.fields)})") from None

    def make(self, **values: Any) -> RecordValue:
        """Build a validated record value."""
        return self.validate(values)

    def _check(self, value: Any, path: str) -> RecordValue:
        if isinstance(value, RecordValue):
            value = value._asdict()
        if not isinstance(value, Mapping):
            raise SchemaError(f"{path}: expected a {self.name} record (a mapping of its fields), got {value!r}")
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            raise SchemaError(f"{path}: {self.name} has no field {unknown[0]!r} (fields: {', '.join(self.fields)})")
        out = []
        for f, t in self.fields.items():
            if f not in value:
                raise SchemaError(f"{path}: {self.name} is missing field {f!r}")
            out.append(t.validate(value[f], f"{path}.{f}"))
        return tuple.__new__(self.value_class, out)

    def encode_into(self, value: Any, out: list[int]) -> None:
        for t, v in zip(self.fields.values(), value):
            t.encode_into(v, out)

    def decode_at(self, slots: Sequence[int], i: int) -> RecordValue:
        out = []
        for t in self.fields.values():
            out.append(t.decode_at(slots, i))
            i += t.width
        return tuple.__new__(self.value_class, out)

    def bounds(self) -> list[int]:
        return [b for t in self.fields.values() for b in t.bounds()]

    def rank(self, value: Any) -> int:
        return _mixed_rank(list(self.fields.values()), value)

    def unrank(self, index: int) -> RecordValue:
        return tuple.__new__(self.value_class, _mixed_unrank(list(self.fields.values()), index))

    def to_json(self, value: Any) -> dict:
        return {f: t.to_json(v) for (f, t), v in zip(self.fields.items(), value)}

    def from_json(self, obj: Any, path: str = "value") -> RecordValue:
        if not isinstance(obj, dict):
            raise SchemaError(f"{path}: expected a JSON object for a {self.name} record, got {obj!r}")
        conv = {k: (self.fields[k].from_json(v, f"{path}.{k}") if k in self.fields else v) for k, v in obj.items()}
        return self._check(conv, path)

    def format(self, value: Any) -> str:
        inner = ", ".join(f"{f}={t.format(v)}" for (f, t), v in zip(self.fields.items(), value))
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={t!r}" for f, t in self.fields.items())
        return f"Record({self.name!r}, {inner})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.name, self.fields) == (other.name, other.fields)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("Record", self.name, tuple(self.fields.items())))


class TupleValue(RecordValue):
    """A decoded `Tuple`: equal to, hashed and printed as the plain tuple of its components."""

    __slots__ = ()

    __eq__ = tuple.__eq__  # type: ignore[assignment]
    __ne__ = tuple.__ne__  # type: ignore[assignment]
    __hash__ = tuple.__hash__
    __repr__ = tuple.__repr__  # type: ignore[assignment]


class Tuple(Record):
    """A fixed-length tuple of values of the given types (TLA+'s `<<a, b>>`, `A \\X B`): the
    components' slots one after another, like a `Record` whose fields are `_0`, `_1`, ... (how
    formulas name them: `s.pair._0`). Values are Python tuples.

    >>> P = Tuple(NodeId("rm", 3), Int(0, 9)); P.encode(("rm2", 7)), P.offset(1)
    ((1, 7), 1)
    """

    def __init__(self, *types: Type):
        for i, t in enumerate(types):
            if not isinstance(t, Type):
                raise SchemaError(f"Tuple(*types): component {i} needs a schema type, got {t!r}")
        names = tuple(f"_{i}" for i in range(len(types)))
        value_class = type("Tuple", (TupleValue,), {"__slots__": (), "_fields": names, **field_properties(names)})
        super().__init__("Tuple", _value_class=value_class, **dict(zip(names, types)))
        self.types: tuple[Type, ...] = tuple(types)

    def offset(self, index: int | str) -> int:  # type: ignore[override]
        """Where component `index` (from 0) starts, relative to the tuple's first slot."""
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(self.types):
            return self.offsets[f"_{index}"]
        if isinstance(index, str) and index in self.offsets:
            return self.offsets[index]
        raise SchemaError(f"{self!r} has no component {index!r} (components: 0..{len(self.types) - 1})")

    def make(self, *values: Any) -> RecordValue:  # type: ignore[override]
        """Build a validated tuple value: `Tuple(Int(0, 3), Bool()).make(2, True)`."""
        return self.validate(values)

    def _check(self, value: Any, path: str) -> RecordValue:
        if isinstance(value, (str, bytes, Mapping, set, frozenset)) or not isinstance(value, Iterable):
            raise SchemaError(f"{path}: expected a tuple of {len(self.types)}, got {value!r}")
        items = tuple(value)
        if len(items) != len(self.types):
            raise SchemaError(f"{path}: expected a tuple of {len(self.types)}, got {len(items)} items: {value!r}")
        return tuple.__new__(self.value_class, [t.validate(v, f"{path}[{i}]")
                                                for i, (t, v) in enumerate(zip(self.types, items))])

    def to_json(self, value: Any) -> list:  # type: ignore[override]
        return [t.to_json(v) for t, v in zip(self.types, value)]

    def from_json(self, obj: Any, path: str = "value") -> RecordValue:
        if not isinstance(obj, list) or len(obj) != len(self.types):
            raise SchemaError(f"{path}: expected a JSON array of {len(self.types)} items for a tuple, got {obj!r}")
        return self._check([t.from_json(v, f"{path}[{i}]") for i, (t, v) in enumerate(zip(self.types, obj))], path)

    def format(self, value: Any) -> str:
        inner = ", ".join(t.format(v) for t, v in zip(self.types, value))
        return f"({inner},)" if len(self.types) == 1 else f"({inner})"

    def __repr__(self) -> str:
        return "Tuple(" + ", ".join(repr(t) for t in self.types) + ")"

    def __eq__(self, other: object) -> bool:
        return type(other) is Tuple and self.types == other.types  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("Tuple", self.types))


class Bag(Type):
    """A multiset over a finite type, in one slot: 4 bits per element rank (at most 15 copies).

    Decodes to a tuple of elements in rank order, repeated as many times as they occur.

    >>> Bag(Enum("a", "b")).encode(["b", "a", "b"])
    (33,)
    """

    BITS = 4
    MAX_COPIES = (1 << BITS) - 1
    MAX_ELEMENTS = 16384  # a network of 7 nodes with 96 message values (Paxos, 5 acceptors) has 4,704 envelopes

    def __init__(self, elem: Type):
        n = _need_finite(elem, "Bag(elem)")
        if n > self.MAX_ELEMENTS:
            raise SchemaError(f"Bag({elem!r}): the element domain has {n} values; at most {self.MAX_ELEMENTS} fit")
        self.elem = elem
        self.cardinality = None

    def _check(self, value: Any, path: str) -> tuple:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise SchemaError(f"{path}: expected a collection, got {value!r}")
        items = [self.elem.validate(v, f"{path} element") for v in value]
        for v in set(items):
            if items.count(v) > self.MAX_COPIES:
                raise SchemaError(f"{path}: more than {self.MAX_COPIES} copies of {v!r}")
        return tuple(sorted(items, key=self.elem.rank))

    def encode_into(self, value: tuple, out: list[int]) -> None:
        x, rank = 0, self.elem.rank
        for v in value:
            x += 1 << (self.BITS * rank(v))
        out.append(x)

    def decode_at(self, slots: Sequence[int], i: int) -> tuple:
        x, out, r, unrank, mask = slots[i], [], 0, self.elem.unrank, self.MAX_COPIES
        while x:
            c = x & mask
            if c:
                out.extend([unrank(r)] * c)
            x >>= self.BITS
            r += 1
        return tuple(out)

    def bounds(self) -> list[int]:
        return [1 << (self.BITS * self.elem.cardinality)]  # type: ignore[operator]

    def to_json(self, value: tuple) -> list:
        return [self.elem.to_json(v) for v in value]

    def from_json(self, obj: Any, path: str = "value") -> tuple:
        if not isinstance(obj, list):
            raise SchemaError(f"{path}: expected a JSON array for a bag, got {obj!r}")
        return self._check([self.elem.from_json(v, f"{path} element") for v in obj], path)

    def format(self, value: tuple) -> str:
        return "[" + ", ".join(self.elem.format(v) for v in value) + "]"

    def __repr__(self) -> str:
        return f"Bag({self.elem!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bag) and self.elem == other.elem

    def __hash__(self) -> int:
        return hash(("Bag", self.elem))


class Queue(Seq):
    """A sequence of at most `max_len` elements of a finite type, in one slot: the element ranks
    plus one as digits, the first element the lowest digit (a FIFO channel). Validation, JSON and
    text are a `Seq`'s.

    >>> Queue(Enum("a", "b"), max_len=3).encode(("b", "a"))
    (5,)
    """

    def __init__(self, elem: Type, max_len: int):
        self.base = _need_finite(elem, "Queue(elem, max_len)") + 1
        if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 0:
            raise SchemaError(f"Queue(..., max_len): max_len must be an int >= 0, got {max_len!r}")
        self.elem, self.max_len = elem, max_len
        self.width, self.cardinality = 1, None

    def encode_into(self, value: tuple, out: list[int]) -> None:
        q, rank = 0, self.elem.rank
        for v in reversed(value):
            q = q * self.base + rank(v) + 1
        out.append(q)

    def decode_at(self, slots: Sequence[int], i: int) -> tuple:
        q, out, unrank = slots[i], [], self.elem.unrank
        while q:
            q, d = divmod(q, self.base)
            out.append(unrank(d - 1))
        return tuple(out)

    def bounds(self) -> list[int]:
        return [self.base**self.max_len]

    def rank(self, value: tuple) -> int:
        raise SchemaError(f"{self!r} has no small finite domain")

    unrank = rank  # type: ignore[assignment]

    def offset(self, index: int) -> int:
        raise SchemaError(f"{self!r} is one slot (the elements are digits of one int): it has no element slots")

    def __repr__(self) -> str:
        return f"Queue({self.elem!r}, max_len={self.max_len})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Queue and (self.elem, self.max_len) == (other.elem, other.max_len)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(("Queue", self.elem, self.max_len))


class OneOf(Type):
    """A value of exactly one of several record types (a tagged union, as messages are).

    One tag slot, then the widest variant's slots (zeros past the chosen variant's).

    >>> Prepared = Record("Prepared", rm=NodeId("rm", 2)); Commit = Record("Commit")
    >>> Msg = OneOf(Prepared, Commit); Msg.encode(Commit.make()), Msg.rank(Commit.make())
    ((1, 0), 2)
    """

    def __init__(self, *variants: Record):
        if not variants:
            raise SchemaError("OneOf() needs at least one Record variant")
        for v in variants:
            if not isinstance(v, Record) or isinstance(v, Tuple):
                raise SchemaError(f"OneOf takes Record types, got {v!r}")
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise SchemaError(f"OneOf variants need distinct names, got {', '.join(names)}")
        for v in variants:
            if "type" in v.fields:
                raise SchemaError(f"OneOf: {v.name} has a field named 'type', which the JSON form uses for the "
                                  "variant's name; rename the field")
        self.variants: tuple[Record, ...] = variants
        self._by_class = {v.value_class: i for i, v in enumerate(variants)}
        self._by_name = {v.name: i for i, v in enumerate(variants)}
        self.width = 1 + max(v.width for v in variants)
        cards = [v.cardinality for v in variants]
        if all(c is not None for c in cards) and sum(cards) <= _SMALL:  # type: ignore[arg-type]
            self.cardinality = sum(cards)  # type: ignore[arg-type]
            self._starts = [sum(cards[:i]) for i in range(len(cards))]  # type: ignore[arg-type]
        else:
            self.cardinality = None

    def variant(self, name: str) -> Record:
        return self.variants[self._by_name[name]]

    def tag(self, variant: str | Record) -> int:
        """The tag slot's value for `variant` (a Record of the union, or its name): its position.

        >>> OneOf(Record("Ping"), Record("Pong")).tag("Pong")
        1
        """
        name = variant.name if isinstance(variant, Record) else variant
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise SchemaError(f"{name!r} is not a variant of {self!r}") from None

    def offset(self, variant: str | Record, field: str) -> int:
        """Where `field` of `variant` starts, relative to the union's first slot (the tag is slot 0)."""
        return 1 + self.variants[self.tag(variant)].offset(field)

    def is_a(self, value: Any, variant: str | Record) -> bool:
        """Whether the decoded `value` is of `variant` (`value.is_a(variant)` says the same)."""
        return type(value) is self.variants[self.tag(variant)].value_class

    def _tag(self, value: Any, path: str) -> int:
        tag = self._by_class.get(type(value))
        if tag is None:
            names = ", ".join(self._by_name)
            raise SchemaError(f"{path}: expected a record of one of {names}, got {value!r}")
        return tag

    def _check(self, value: Any, path: str) -> RecordValue:
        return self.variants[self._tag(value, path)].validate(value, path)

    def encode_into(self, value: RecordValue, out: list[int]) -> None:
        tag = self._by_class[type(value)]
        out.append(tag)
        v = self.variants[tag]
        v.encode_into(value, out)
        out.extend([0] * (self.width - 1 - v.width))

    def decode_at(self, slots: Sequence[int], i: int) -> RecordValue:
        return self.variants[slots[i]].decode_at(slots, i + 1)

    def bounds(self) -> list[int]:
        rest = [max(bs) for bs in _zip_longest_bounds([v.bounds() for v in self.variants])]
        return [len(self.variants)] + rest + [1] * (self.width - 1 - len(rest))

    def rank(self, value: RecordValue) -> int:
        if self.cardinality is None:
            raise SchemaError(f"{self!r} has no small finite domain")
        tag = self._by_class[type(value)]
        return self._starts[tag] + self.variants[tag].rank(value)

    def unrank(self, index: int) -> RecordValue:
        for tag in range(len(self.variants) - 1, -1, -1):
            if index >= self._starts[tag]:
                return self.variants[tag].unrank(index - self._starts[tag])
        raise SchemaError(f"rank {index} out of range")

    def to_json(self, value: RecordValue) -> dict:
        tag = self._by_class[type(value)]
        return {"type": self.variants[tag].name, **self.variants[tag].to_json(value)}

    def from_json(self, obj: Any, path: str = "value") -> RecordValue:
        tag = obj.get("type") if isinstance(obj, dict) else None
        if not isinstance(tag, str) or tag not in self._by_name:  # a list or object there is no name either
            raise SchemaError(f"{path}: expected an object whose \"type\" is one of {', '.join(self._by_name)}")
        rest = {k: v for k, v in obj.items() if k != "type"}
        return self.variants[self._by_name[obj["type"]]].from_json(rest, path)

    def format(self, value: RecordValue) -> str:
        v = self.variants[self._by_class[type(value)]]
        if not v.fields:
            return v.name
        return f"{v.name}(" + ", ".join(t.format(x) for t, x in zip(v.fields.values(), value)) + ")"

    def __repr__(self) -> str:
        return "OneOf(" + ", ".join(repr(v) for v in self.variants) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OneOf) and self.variants == other.variants

    def __hash__(self) -> int:
        return hash(("OneOf", self.variants))


def _zip_longest_bounds(lists: list[list[int]]) -> list[list[int]]:
    n = max(len(b) for b in lists)
    return [[b[i] for b in lists if i < len(b)] for i in range(n)]


def all_values(types: Iterable[Type]) -> Iterator[tuple]:
    """Every combination of values of finite `types` (for small enumerations)."""
    return product(*(t.values() for t in types))
