"""A global state's layout: named variables of schema types, packed into one flat int tuple.

`StateSchema` turns readable states (dicts of decoded values) into the flat
tuples the engine stores and back, validates raw tuples slot by slot, diffs
two states and round-trips them through JSON. `StateView` is the read-only,
lazily decoded face of a raw tuple that invariants read. Standard library only.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from .fields import RecordSlots, layout
from .schema import Map, SchemaError, Type


class StateSchema:
    """The ordered variables of a state and where each one lives in the flat tuple.

    >>> from checker.model.schema import Bool, Int
    >>> S = StateSchema({"x": Int(0, 3), "done": Bool()})
    >>> raw = S.encode({"x": 2, "done": True}); raw
    (2, 1)
    >>> S.view(raw).x
    2
    """

    def __init__(self, variables: Mapping[str, Type], groups: Mapping[str, tuple[str, ...]] | None = None):
        if not variables:
            raise SchemaError("a state needs at least one variable")
        self.variables: dict[str, Type] = {}
        self.offsets: dict[str, int] = {}
        width = 0
        for name, t in variables.items():
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise SchemaError(f"variable name {name!r} must be an identifier not starting with '_'")
            if name in ("role", "raw_state"):
                raise SchemaError(f"variable name {name!r} is taken by StateView.{name}; rename the variable")
            if not isinstance(t, Type):
                raise SchemaError(f"variable {name!r} needs a schema type (Bool, Int, Enum, ...), got {t!r}")
            self.variables[name] = t
            self.offsets[name] = width
            width += t.width
        self.width = width
        self.groups: dict[str, tuple[str, ...]] = dict(groups or {})  # e.g. a role -> its nodes' variables
        for g, members in self.groups.items():
            for m in members:
                if m not in self.variables:
                    raise SchemaError(f"group {g!r} names {m!r}, which is no variable")
        self.slot_bounds: tuple[int, ...] = tuple(b for t in self.variables.values() for b in t.bounds())
        self.slot_owner: tuple[str, ...] = tuple(n for n, t in self.variables.items() for _ in range(t.width))
        self._view_class = _view_class(self)
        self.at: RecordSlots = layout(self.variables, self.offsets, width)  # slot indices by name (checker.model.fields)

    def slice(self, name: str) -> slice:
        """The slots of variable `name` in the flat tuple."""
        o = self.offsets[name]
        return slice(o, o + self.variables[name].width)

    def replace(self, raw: tuple[int, ...], **changes: Any) -> tuple[int, ...]:
        """`raw` with the named variables set to readable values (validated); a Map variable given a
        mapping changes only the keys it names. Readable and checked, not fast: an action on a hot path
        writes slots by name instead (`t = list(s); t[self.at.x] = code; tuple(t)`).

        >>> from checker.model.schema import Enum, Map, NodeId
        >>> S = StateSchema({"tm": Enum("init", "done"), "rm": Map(NodeId("rm", 2), Enum("w", "p"))})
        >>> S.replace((0, 0, 0), tm="done", rm={"rm2": "p"})
        (1, 0, 1)
        """
        t = list(raw)
        for name, value in changes.items():
            vt = self.variables.get(name)
            if vt is None:
                raise SchemaError(f"replace: unknown variable {name!r} (variables: {', '.join(self.variables)})")
            o = self.offsets[name]
            if isinstance(vt, Map) and isinstance(value, Mapping):
                w = vt.value.width
                for k, v in value.items():
                    i = vt.key.rank(vt.key.validate(k, f"replace {name} key"))
                    t[o + i * w:o + (i + 1) * w] = vt.value.encode(vt.value.validate(v, f"{name}[{k!r}]"))
            else:
                t[o:o + vt.width] = vt.encode(vt.validate(value, name))
        return tuple(t)

    # -- conversions -------------------------------------------------------------
    def encode(self, state: Mapping[str, Any], where: str = "state") -> tuple[int, ...]:
        """The flat tuple of a readable state (a mapping of every variable to its value)."""
        if not isinstance(state, Mapping):
            raise SchemaError(f"{where}: expected a mapping of variables to values, got {state!r}")
        unknown = [k for k in state if k not in self.variables]
        if unknown:
            raise SchemaError(f"{where}: unknown variable {unknown[0]!r} (variables: {', '.join(self.variables)})")
        out: list[int] = []
        for name, t in self.variables.items():
            if name not in state:
                raise SchemaError(f"{where}: variable {name!r} has no value")
            t.encode_into(t.validate(state[name], f"{where}.{name}"), out)
        return tuple(out)

    def decode(self, raw: Sequence[int]) -> dict[str, Any]:
        """A readable dict of every variable's value."""
        return {n: t.decode_at(raw, self.offsets[n]) for n, t in self.variables.items()}

    def view(self, raw: tuple[int, ...]) -> StateView:
        """A lazily decoded, attribute-style view of `raw` (what invariants receive)."""
        return self._view_class(raw)

    def check_raw(self, raw: Any) -> str | None:
        """None if `raw` is a well-formed state tuple, else what is wrong (naming the variable)."""
        if type(raw) is not tuple:
            return f"a state must be a tuple of ints, got {type(raw).__name__}"
        if len(raw) != self.width:
            return f"a state has {self.width} slots, got {len(raw)}"
        for i, (v, b) in enumerate(zip(raw, self.slot_bounds)):
            if type(v) is not int or not 0 <= v < b:
                return f"variable {self.slot_owner[i]!r}: slot value {v!r} is outside its type"
        for name, t in self.variables.items():
            try:
                t.decode_at(raw, self.offsets[name])
            except (SchemaError, IndexError, KeyError, ValueError) as e:
                return f"variable {name!r}: not a canonical encoding ({e})"
        try:
            again = self.encode(self.decode(raw))
        except SchemaError as e:
            return f"not a canonical encoding: {e}"
        if again != raw:
            bad = next(i for i, (a, b) in enumerate(zip(raw, again)) if a != b)
            return f"variable {self.slot_owner[bad]!r}: not a canonical encoding (unused slots must be 0)"
        return None

    def make_fast_check(self):
        """A function raw -> bool that checks every slot's range (generated once, cheap per call)."""
        conds = [f"0 <= t[{i}] < {b}" for i, b in enumerate(self.slot_bounds)]
        src = f"def fast_check(t):\n    return len(t) == {self.width} and " + " and ".join(conds or ["True"]) + "\n"
        ns: dict[str, Any] = {}
        exec(compile(src, "<state-check>", "exec"), ns)
        return ns["fast_check"]

    def make_batch_check(self):
        """A function states -> -1 when every state is a tuple of `width` ints (exactly int: no bool),
        each in its slot's range; else the index of the first state `check_raw` rejects.

        The common case, every state fine, is decided in C without a Python step per slot: `marshal`
        writes a chunk of states, which comes out as 5-byte units ("(" and the tuple's length, or "i"
        and a little-endian int32) exactly when each state is a tuple holding only ints below 2**31,
        so strided slices of those bytes check the layout, and each slot's range byte by byte (see
        `_BatchPlan`). Slots of larger ranges (a network as one int) are checked a column at a time.
        Anything else, or any doubt, goes to the slow `check_raw`, which also says what is wrong.

        >>> from checker.model.schema import Int
        >>> S = StateSchema({"x": Int(0, 3), "y": Int(0, 1000)})
        >>> first_bad = S.make_batch_check()
        >>> first_bad([(1, 999), (3, 0)]), first_bad([(1, 999), (4, 0)]), first_bad([(1, 2), (True, 0)])
        (-1, 1, 1)
        """
        plan = _BatchPlan(self.slot_bounds)
        fine = plan.fine

        def first_bad(states: list) -> int:
            if fine(states):
                return -1
            return next((k for k, t in enumerate(states) if self.check_raw(t) is not None), -1)

        return first_bad

    def to_json(self, raw: Sequence[int]) -> dict[str, Any]:
        return {n: t.to_json(t.decode_at(raw, self.offsets[n])) for n, t in self.variables.items()}

    def from_json(self, obj: Any, where: str = "state") -> tuple[int, ...]:
        if not isinstance(obj, dict):
            raise SchemaError(f"{where}: expected a JSON object of variables, got {obj!r}")
        missing = [n for n in self.variables if n not in obj]
        if missing:
            raise SchemaError(f"{where}: variable {missing[0]!r} has no value")
        unknown = [k for k in obj if k not in self.variables]
        if unknown:
            raise SchemaError(f"{where}: unknown variable {unknown[0]!r}")
        return self.encode({n: t.from_json(obj[n], f"{where}.{n}") for n, t in self.variables.items()}, where)

    def format_var(self, name: str, raw: Sequence[int]) -> str:
        t = self.variables[name]
        return t.format(t.decode_at(raw, self.offsets[name]))

    def diff(self, before: Sequence[int] | None, after: Sequence[int]) -> list[str]:
        """Names of the variables whose slots differ (all of them when `before` is None)."""
        if before is None:
            return list(self.variables)
        return [n for n in self.variables if before[self.slice(n)] != after[self.slice(n)]]


class StateView:
    """Read-only view of a raw state: `view.name` is the decoded value of variable `name`."""

    __slots__ = ("_raw",)
    _schema: StateSchema

    def __init__(self, raw: tuple[int, ...]):
        self._raw = raw

    @property
    def raw_state(self) -> tuple[int, ...]:
        return self._raw

    def __getattr__(self, name: str) -> Any:
        schema = type(self)._schema
        t = schema.variables.get(name)
        if t is None:
            raise AttributeError(f"the state has no variable {name!r} (variables: {', '.join(schema.variables)})")
        return t.decode_at(self._raw, schema.offsets[name])

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def role(self, name: str) -> tuple[Any, ...]:
        """The decoded variables of group `name` in order (for a protocol: the nodes of a role)."""
        schema = type(self)._schema
        members = schema.groups.get(name)
        if members is None:
            raise AttributeError(f"no role {name!r} (roles: {', '.join(schema.groups) or 'none'})")
        return tuple(self.__getattr__(m) for m in members)

    def __repr__(self) -> str:
        s = type(self)._schema
        return "State(" + ", ".join(f"{n}={s.format_var(n, self._raw)}" for n in s.variables) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StateView) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


INT32 = 1 << 31  # marshal writes an exact int below this as the byte "i" and 4 bytes, little-endian
CHUNK_BYTES = 1 << 19  # marshalled bytes checked at once: they stay in the cache while they are sliced
SMALL_BATCH = 16  # fewer states than this are checked one at a time (a generated test per state)


class _BatchPlan:
    """How `make_batch_check` decides, in C, that every state of a list is fine.

    `marshal.dumps(states, 2)` writes a list of tuples of ints below 2**31 as 5-byte units: "(" and
    the tuple's length as an int32, then "i" and each slot's value as an int32, little-endian (version
    2: no back-references, so every object is written out). Any other object (a bool "T", a wider int
    "l", a float, a list, a nested tuple) is written with another type byte and another length, and a
    subclass of int or tuple cannot be marshalled at all, so: the data has exactly 5 (m + 1) bytes per
    state and its type bytes (every fifth, `data[5::5]`) read "(" then m times "i" for every state
    exactly when each state is a tuple of m exact ints below 2**31 (parsing unit by unit from the start,
    each unit's type byte fixes where the next unit begins). Then byte i of every unit is `data[6 +
    i::5]` (a lane), and byte i of slot c of every state `lane[c::m + 1]`. A range 0 <= v < b whose
    values are every combination of per-byte values (b a multiple of 256**t, where byte t is the
    highest one b - 1 uses: every range of at most 256 values, every power of two) is checked byte by
    byte with `bytes.translate`; any other range takes the column's min and max.

    Slots whose range passes 2**31 (a network as one int) are not marshalled: the states' types and
    lengths are checked as a whole (`set(map(type, ...))`), each such column by its values' types, min
    and max, and each run of the other slots is sliced out of the states and marshalled on its own.
    """

    def __init__(self, bounds: tuple[int, ...]):
        self.width = width = len(bounds)
        self.wide = [(itemgetter(j), b) for j, b in enumerate(bounds) if b > INT32]
        runs: list[tuple[int, int]] = []  # maximal runs of narrow slots, [start, stop)
        for j, b in enumerate(bounds):
            if b <= INT32:
                if runs and runs[-1][1] == j:
                    runs[-1] = (runs[-1][0], j + 1)
                else:
                    runs.append((j, j + 1))
        # per run: how to slice it out of a state (None: the state is the run), and its layout's checks
        self.runs = [(None if not self.wide else itemgetter(slice(a, z)), *_run_checks(bounds[a:z]))
                     for a, z in runs]
        self.per_state = sum(5 * (z - a + 1) for a, z in runs) or 5
        self.chunk = max(64, CHUNK_BYTES // self.per_state)
        self.exact: list[tuple[Any, int]] = []  # (getter, bound) of ranges not of per-byte form
        for j, b in enumerate(bounds):
            t = max(0, ((b - 1).bit_length() - 1) // 8)  # the highest byte that b - 1 uses
            if b <= INT32 and b % (1 << 8 * t):  # not of per-byte form: the bytes above say less than the range
                self.exact.append((itemgetter(j), b))
        conds = " and ".join([f"len(t) == {width}"] + [f"type(t[{j}]) is int and 0 <= t[{j}] < {b}"
                                                        for j, b in enumerate(bounds)])
        ns: dict[str, Any] = {}
        exec(compile(f"def one(t):\n    return type(t) is tuple and {conds}\n", "<state-check>", "exec"), ns)
        self.one = ns["one"]

    def fine(self, states) -> bool:
        """Whether every state is a tuple of `width` exact ints, each in its slot's range."""
        try:
            if type(states) is not list:
                states = list(states)
            if len(states) < SMALL_BATCH:
                return all(map(self.one, states))
            for lo in range(0, len(states), self.chunk):
                if not self._chunk_fine(states[lo:lo + self.chunk]):
                    return False
        except Exception:  # noqa: BLE001 - anything unexpected: the slow path decides
            return False
        return True

    def _chunk_fine(self, part: list) -> bool:
        k = len(part)
        if self.wide:
            if not (set(map(type, part)) <= {tuple} and set(map(len, part)) <= {self.width}):
                return False
            for get, b in self.wide:
                col = list(map(get, part))
                if not (set(map(type, col)) <= {int} and min(col) >= 0 and max(col) < b):
                    return False
        for get, m, types, lanes in self.runs:
            data = marshal.dumps(part if get is None else list(map(get, part)), 2)
            if len(data) != 5 + 5 * (m + 1) * k or data[5::5] != types * k:
                return False
            step = m + 1
            for i, template, restricted in lanes:
                lane = data[6 + i::5]
                if template is not None:
                    if lane != template * k:
                        return False
                    continue
                for c, allowed in restricted:
                    if lane[c::step].translate(None, allowed):
                        return False
        for get, b in self.exact:
            col = list(map(get, part))
            if min(col) < 0 or max(col) >= b:
                return False
        return True


def _run_checks(bounds: tuple[int, ...]) -> tuple[int, bytes, list[tuple[int, bytes | None, list[tuple[int, bytes]]]]]:
    """For tuples of m slots of these ranges (each at most 2**31), marshalled: m, the type bytes of one
    state, and per lane i (byte i of each unit): the lane of one state when every slot's byte i must be
    0 (else None), and the (slot position, allowed bytes) of the slots whose byte i is restricted."""
    m = len(bounds)
    any_byte = bytes(range(256))
    lanes: list[tuple[int, bytes | None, list[tuple[int, bytes]]]] = []
    for i in range(4):
        allowed = []
        for b in bounds:
            top = b - 1
            t = max(0, (top.bit_length() - 1) // 8)  # the highest byte that b - 1 uses
            if i > t:
                allowed.append(b"\0")
            elif i == t:
                allowed.append(bytes(range((top >> 8 * t) + 1)))
            else:
                allowed.append(any_byte)
        header = bytes([(m >> 8 * i) & 0xFF])
        if all(a == b"\0" for a in allowed):
            lanes.append((i, header + bytes(m), []))
        else:
            restricted = [(c, a) for c, a in enumerate(allowed, 1) if a != any_byte]
            if restricted:
                lanes.append((i, None, restricted))
    return m, b"(" + b"i" * m, lanes


def _view_class(schema: StateSchema) -> type[StateView]:
    return type("State", (StateView,), {"__slots__": (), "_schema": schema})
