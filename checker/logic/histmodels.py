"""The sequential specifications that client histories are judged against, and what an operation is.

A `Model` says which operations (`f`) exist, how an entry's value is read and validated, the initial
state and `step(state, f, input, output) -> (ok, new_state)` over hashable states. The searches of
`checker.logic.consistency` (linearizability, sequential consistency) take any model; `MODELS` names
those a history, a spec (`[consistency] model = ...`) or `faultcheck history --model` may ask for:
register, kv (Porcupine's get/put/append and Jepsen's independent read/write/cas per key), and
Knossos's multi-register, set, counter, queue (FIFO) and mutex.

This module uses only the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any


class _Unknown:
    """The output of an operation whose outcome is unknown (info, or never completed)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self):
        return (_Unknown, ())


UNKNOWN: Any = _Unknown()
_MISSING = object()
NIL_READS = ("unknown", "value")


class HistoryError(ValueError):
    """A malformed history. One line: the entry's index (when there is one) and the problem.

    >>> str(HistoryError(3, "unknown type 'done'"))
    "entry 3: unknown type 'done'"
    """

    def __init__(self, index: int | None, problem: str):
        self.index = index
        self.problem = problem
        super().__init__(problem if index is None else f"entry {index}: {problem}")


def freeze(value: Any) -> Hashable:
    """A JSON value as a hashable value with JSON's equality: lists become tuples, objects sorted
    tuples of items, and booleans are kept apart from 0 and 1.

    >>> freeze([1, [2, {"a": True}]])
    (1, (2, ('{}', (('a', ('bool', True)),))))
    >>> freeze(True) == freeze(1)
    False
    """
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return ("{}", tuple(sorted((str(k), freeze(v)) for k, v in value.items())))
    return value


def _show(value: Any) -> str:
    """A raw (unfrozen) value as compact JSON, for messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            tuple: "an array", dict: "an object"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Operation:
    """One operation of a history: an invocation and its completion.

    `call` and `ret` are the indices of the invoke and completion entries (`ret` is None when the
    invocation never completed). `status` is the completion's type: "ok", "fail" or "info" ("info"
    also for an invocation never completed). `input` comes from the invocation and `output` from
    the completion, both frozen (see `freeze`); `output` is `UNKNOWN` when the outcome is unknown.
    """

    id: int
    process: int
    f: str
    input: Any
    output: Any
    status: str
    call: int
    ret: int | None


# --------------------------------------------------------------------------------------------- models


class Model:
    """A sequential specification. Subclasses define which `f`s exist, how entries' values are
    validated (`parse_input`, `parse_output`), the initial state, and `step`.

    `step(state, f, input, output) -> (ok, new_state)`: may an operation with this input return
    this output in `state`, and what state follows? States are hashable. An operation with output
    `UNKNOWN` must be accepted wherever it could have taken effect (a register's, always; a mutex's
    acquire only where the lock is free). `stepper(op)` is the same step specialised to one
    operation, for the search's inner loop.
    """

    name: str = "model"
    functions: tuple[str, ...] = ()
    read_only: frozenset[str] = frozenset()
    # Do operations taken any number of times reach finitely many states (updates set, never accumulate)?
    # A search that lets pending-forever operations take effect repeatedly terminates only if so: true for
    # register, kv's registers, multi-register, set, mutex; false for counter, queue and kv's strings (append).
    finite_reuse: bool = False

    def parse_input(self, f: str, value: Any, index: int) -> Any:
        raise NotImplementedError

    def reads_nil(self, f: str, value: Any) -> bool:
        """Is this ok completion's raw value a read of nil (Knossos: the value read is unknown, so the read
        constrains nothing)? Models whose reads carry a key (kv: [k, nil]) override it."""
        return f in self.read_only and value is None

    def with_nil_read(self, nil_read: str) -> Model:
        """This model for the reading of nil that a check asks for ("unknown" or "value"). Models whose
        reads of nil sit inside a larger value (multi-register's micro-operations, which `reads_nil`
        cannot single out) return a variant; the others are the same whichever reading."""
        if nil_read not in NIL_READS:
            raise ValueError(f"nil_read must be one of {', '.join(NIL_READS)}, got {nil_read!r}")
        return self

    def parse_output(self, f: str, status: str, input: Any, value: Any, index: int) -> Any:
        raise NotImplementedError

    def init(self, initial: Any) -> Hashable:
        raise NotImplementedError

    def step(self, state: Hashable, f: str, input: Any, output: Any) -> tuple[bool, Hashable]:
        raise NotImplementedError

    def stepper(self, op: Operation) -> Callable[[Hashable], tuple[bool, Hashable]]:
        step, f, inp, out = self.step, op.f, op.input, op.output
        return lambda s: step(s, f, inp, out)

    def partitions(self, ops: list[Operation], initial: Any, split: bool) -> list[tuple[Any, list, Hashable, Model]]:
        """(label, operations, initial state, model) for each independently checkable part."""
        return [(None, ops, self.init(initial), self)]

    def observes(self, op: Operation, completed: bool) -> bool:
        """Does the model check this operation's output (a read's value, a cas's success)?"""
        return completed and op.f in self.read_only and op.output is not UNKNOWN

    def useful(self, kept: list[tuple[Operation, bool]], optional: list[Operation]) -> list[Operation]:
        """Of `optional` (operations pending forever beside `kept`), those that might make a
        difference: dropping the others must not turn a non-linearizable history linearizable.
        The default keeps them all; models prune those whose effect no kept operation could see."""
        return optional

    def describe(self, op: Operation, entries: Sequence[Any]) -> str:
        """The operation in words, from its original entries, e.g. "read by process 3 returned 1"."""
        inv = entries[op.call].get("value")
        if op.status == "ok" and op.f in self.read_only:
            return f"{op.f} by process {op.process} returned {_show(entries[op.ret].get('value'))}"
        tail = {"ok": "", "fail": " (failed)", "info": " (outcome unknown)"}[op.status]
        return f"{op.f} {_show(inv)} by process {op.process}{tail}"


class RegisterModel(Model):
    """A single register: read, write, compare-and-set. The state is the (frozen) value.

    >>> REGISTER.step(None, "cas", (None, 2), True)
    (True, 2)
    >>> REGISTER.step(1, "read", None, 2)
    (False, 1)
    """

    name = "register"
    finite_reuse = True
    functions = ("read", "write", "cas")
    read_only = frozenset({"read"})

    def parse_input(self, f, value, index):
        if f == "read":
            return None
        if value is _MISSING:
            raise HistoryError(index, f"invoke {f} has no 'value'")
        if f == "write":
            return freeze(value)
        if not isinstance(value, list) or len(value) != 2:
            raise HistoryError(index, f"cas value must be a pair [expected, new], got {_show(value)}")
        return (freeze(value[0]), freeze(value[1]))

    def parse_output(self, f, status, input, value, index):
        if status == "info":
            return UNKNOWN
        if status == "fail":
            return False if f == "cas" else UNKNOWN  # False is used only with fail="returned-false"
        if f == "read":
            if value is _MISSING:
                raise HistoryError(index, "ok read has no 'value' (the value read; null for none)")
            return freeze(value)
        if f == "write":
            if value is not _MISSING and freeze(value) != input:
                raise HistoryError(index, f"ok write value {_show(value)} differs from the value invoked")
            return None
        if value is not _MISSING:
            if not isinstance(value, list) or len(value) != 2:
                raise HistoryError(index, f"cas value must be a pair [expected, new], got {_show(value)}")
            if (freeze(value[0]), freeze(value[1])) != input:
                raise HistoryError(index, f"ok cas value {_show(value)} differs from the pair invoked")
        return True

    def init(self, initial):
        return freeze(initial)

    def step(self, state, f, input, output):
        if f == "read":
            return (output is UNKNOWN or state == output), state
        if f == "write":
            return True, input
        expected, new = input
        if output is UNKNOWN:
            return True, (new if state == expected else state)
        if output:
            return state == expected, new
        return state != expected, state

    def stepper(self, op):
        f, inp, out = op.f, op.input, op.output
        if f == "read":
            if out is UNKNOWN:
                return lambda s: (True, s)
            return lambda s: (s == out, s)
        if f == "write":
            result = (True, inp)
            return lambda s: result
        expected, new = inp
        if out is UNKNOWN:
            return lambda s: (True, new if s == expected else s)
        if out:
            return lambda s: (s == expected, new)
        return lambda s: (s != expected, s)

    def observes(self, op, completed):
        return completed and op.output is not UNKNOWN and op.f != "write"

    def useful(self, kept, optional):
        """A pending write or cas that leaves a value no kept read or successful cas expects (nor a
        pending cas, kept or not, that turns it into such a value) cannot help: until the next write, nothing
        accepts the states it starts. A cas that returned false accepts almost any value: then all
        are kept."""
        return _register_useful(kept, optional, lambda op: op.input)

    def describe(self, op, entries):
        if op.f == "cas" and op.output is not UNKNOWN and op.status in ("ok", "fail"):
            a, b = entries[op.call].get("value")
            verb = "succeeded" if op.output else "returned false"
            return f"cas {_show(a)}->{_show(b)} by process {op.process} {verb}"
        return super().describe(op, entries)



def _register_useful(kept: list[tuple[Operation, bool]], optional: list[Operation],
                     arg: Callable[[Operation], Any]) -> list[Operation]:
    """`RegisterModel.useful` over operations whose register argument (a write's value, a cas's
    pair) is `arg(op)`."""
    wanted = set()
    for op, completed in kept:
        if completed and op.f == "cas" and op.output is False:
            return optional
        if completed and op.f == "read" and op.output is not UNKNOWN:
            wanted.add(op.output)
        elif completed and op.f == "cas" and op.output is True:
            wanted.add(arg(op)[0])
    pending = optional + [op for op, completed in kept if not completed]
    more = True
    while more:
        more = False
        for op in pending:
            if op.f == "cas" and arg(op)[1] in wanted and arg(op)[0] not in wanted:
                wanted.add(arg(op)[0])
                more = True
    return [op for op in optional if (arg(op) if op.f == "write" else arg(op)[1]) in wanted]


_STRING_FS = frozenset({"get", "put", "append"})  # kv: Porcupine's string map
_SHAPES = {"get": "null", "put": "string", "append": "string", "read": "null", "write": "value",
           "cas": "[expected, new]"}


def _key_order(k: Any) -> tuple:
    return (str(type(k)), k)


def _check_key(f: str, key: Any, index: int) -> None:
    if not isinstance(key, (str, int)) or isinstance(key, bool):
        raise HistoryError(index, f"{f} key must be a string, got {_kind(key)}")


class KVModel(Model):
    """A map from keys: Porcupine's strings (get, put, append; missing keys read as "") and Jepsen's
    independent registers (read, write, cas on [key, value]; missing keys read as null). A key is
    either a string or a register: one history may use both kinds, on different keys.

    Checked per key (P-compositionality): each key is a `_KeyModel` string register or a
    `_KeyRegister`. Unpartitioned, the state is a tuple of (key, value) pairs in key order, with ""
    and null values left out.

    >>> KV.step((("a", "x"),), "append", ("a", "y"), UNKNOWN)
    (True, (('a', 'xy'),))
    >>> KV.step((), "get", ("a", None), "")
    (True, ())
    >>> KV.step((("b", 1),), "cas", ("b", (1, 2)), True)
    (True, (('b', 2),))
    """

    name = "kv"
    functions = ("get", "put", "append", "read", "write", "cas")
    read_only = frozenset({"get", "read"})

    def parse_input(self, f, value, index):
        if not isinstance(value, list) or len(value) != 2:
            raise HistoryError(index, f"{f} value must be a pair [key, {_SHAPES[f]}], "
                                      f"got {_show(None if value is _MISSING else value)}")
        key, arg = value
        _check_key(f, key, index)
        if f in ("get", "read"):
            return (key, None)
        if f == "write":
            return (key, freeze(arg))
        if f == "cas":
            if not isinstance(arg, list) or len(arg) != 2:
                raise HistoryError(index, f"cas value must be a pair [key, [expected, new]], got {_show(value)}")
            return (key, (freeze(arg[0]), freeze(arg[1])))
        if not isinstance(arg, str):
            raise HistoryError(index, f"{f} value must be a string, got {_kind(arg)}")
        return (key, arg)

    def reads_nil(self, f, value):
        """A Jepsen read [key, null] (a get's null is Porcupine's "", a value)."""
        return f == "read" and isinstance(value, list) and len(value) == 2 and value[1] is None

    def parse_output(self, f, status, input, value, index):
        if f not in _STRING_FS:
            return self._register_output(f, status, input, value, index)
        if status != "ok":
            return UNKNOWN
        if f != "get" and value is _MISSING:
            return None
        if not isinstance(value, list) or len(value) != 2:
            raise HistoryError(index, f"ok {f} value must be a pair [key, string], "
                                      f"got {_show(None if value is _MISSING else value)}")
        key, arg = value
        if key != input[0] or isinstance(key, bool):
            raise HistoryError(index, f"ok {f} is for key {_show(key)}, but key {_show(input[0])} was invoked")
        if f == "get":
            if arg is None:
                return ""
            if not isinstance(arg, str):
                raise HistoryError(index, f"ok get value must be a string, got {_kind(arg)}")
            return arg
        if arg != input[1]:
            raise HistoryError(index, f"ok {f} value {_show(arg)} differs from the value invoked")
        return None

    def _register_output(self, f, status, input, value, index):
        if status == "info":
            return UNKNOWN
        if status == "fail":
            return False if f == "cas" else UNKNOWN  # False is used only with fail="returned-false"
        if value is _MISSING:
            if f == "read":
                raise HistoryError(index, "ok read has no 'value' (the pair [key, value read]; null for none)")
            return None if f == "write" else True
        if not isinstance(value, list) or len(value) != 2:
            raise HistoryError(index, f"ok {f} value must be a pair [key, {_SHAPES[f]}], got {_show(value)}")
        key, arg = value
        if key != input[0] or isinstance(key, bool):
            raise HistoryError(index, f"ok {f} is for key {_show(key)}, but key {_show(input[0])} was invoked")
        if f == "read":
            return freeze(arg)
        if f == "write":
            if freeze(arg) != input[1]:
                raise HistoryError(index, f"ok write value {_show(arg)} differs from the value invoked")
            return None
        if arg is not None and (not isinstance(arg, list) or len(arg) != 2
                                or (freeze(arg[0]), freeze(arg[1])) != input[1]):
            raise HistoryError(index, f"ok cas value {_show(arg)} differs from the pair invoked")
        return True

    def init(self, initial):
        return tuple(sorted(((k, freeze(v)) for k, v in _kv_initial(initial).items() if v != "" and v is not None),
                            key=lambda kv: _key_order(kv[0])))

    def step(self, state, f, input, output):
        key, arg = input
        items = dict(state)
        if f in _STRING_FS:
            cur = items.get(key, "")
            if f == "get":
                return (output is UNKNOWN or cur == output), state
            ok, new = True, (arg if f == "put" else cur + arg)
        else:
            ok, new = REGISTER.step(items.get(key), f, arg, output)
        if new != "" and new is not None:
            items[key] = new
        else:
            items.pop(key, None)
        return ok, tuple(sorted(items.items(), key=lambda kv: _key_order(kv[0])))

    def observes(self, op, completed):
        return completed and op.output is not UNKNOWN and op.f in ("get", "read", "cas")

    def useful(self, kept, optional):
        """A pending append of S matters only if a kept get of its key returned a string containing
        S; a pending put of S only if one returned a string starting with S (else no get sees the
        states it starts, which last until the next put). Register keys: as `RegisterModel.useful`,
        key by key."""
        got: dict[Any, list[str]] = {}
        registers: dict[Any, tuple[list, list]] = {}
        for op, completed in kept:
            if op.f in _STRING_FS:
                if completed and op.f == "get" and op.output is not UNKNOWN:
                    got.setdefault(op.input[0], []).append(op.output)
            else:
                registers.setdefault(op.input[0], ([], []))[0].append((op, completed))
        for op in optional:
            if op.f not in _STRING_FS:
                registers.setdefault(op.input[0], ([], []))[1].append(op)
        chosen = set()
        for k in sorted(registers, key=_key_order):
            k_kept, k_optional = registers[k]
            chosen.update(op.id for op in _register_useful(k_kept, k_optional, lambda op: op.input[1]))
        out = []
        for op in optional:
            key, arg = op.input
            if op.f not in _STRING_FS:
                if op.id in chosen:
                    out.append(op)
                continue
            seen = got.get(key, ())
            if any((arg in g) if op.f == "append" else g.startswith(arg) for g in seen):
                out.append(op)
        return out

    def partitions(self, ops, initial, split):
        init = _kv_initial(initial)
        registers = _key_kinds(ops, init)

        def start(k):
            return freeze(_lookup(init, k, None)) if registers[k] else _lookup(init, k, "")

        if not split:
            whole = _WholeMap(registers)
            return [(None, ops, tuple(start(k) for k in whole.keys), whole)]
        by_key: dict[Any, list[Operation]] = {}
        for op in ops:
            by_key.setdefault(op.input[0], []).append(op)
        return [(k, by_key[k], start(k), _KEY_REGISTER if registers[k] else _KEY) for k in sorted(by_key, key=_key_order)]

    def describe(self, op, entries):
        key, arg = entries[op.call].get("value")
        if op.f in ("get", "read"):
            if op.status == "ok":
                got = entries[op.ret].get("value")[1]
                return f"{op.f} {_show(key)} by process {op.process} returned {_show(got)}"
            return f"{op.f} {_show(key)} by process {op.process}"
        if op.f == "cas" and op.output is not UNKNOWN and op.status in ("ok", "fail"):
            verb = "succeeded" if op.output else "returned false"
            return f"cas {_show(key)} {_show(arg[0])}->{_show(arg[1])} by process {op.process} {verb}"
        tail = {"ok": "", "fail": " (failed)", "info": " (outcome unknown)"}[op.status]
        return f"{op.f} {_show(key)} {_show(arg)} by process {op.process}{tail}"


class _KeyModel(KVModel):
    """One key of the kv map used by get/put/append: a string register (the state is the string)."""

    name = "kv"

    def init(self, initial):
        return "" if initial is None else initial

    def step(self, state, f, input, output):
        if f == "get":
            return (output is UNKNOWN or state == output), state
        return True, (input[1] if f == "put" else state + input[1])

    def stepper(self, op):
        f, out, arg = op.f, op.output, op.input[1]
        if f == "get":
            if out is UNKNOWN:
                return lambda s: (True, s)
            return lambda s: (s == out, s)
        if f == "put":
            result = (True, arg)
            return lambda s: result
        return lambda s: (True, s + arg)


class _KeyRegister(KVModel):
    """One key of the kv map used by read/write/cas: a register (the state is the frozen value)."""

    name = "kv"
    finite_reuse = True

    def init(self, initial):
        return freeze(initial)

    def step(self, state, f, input, output):
        return REGISTER.step(state, f, input[1], output)

    def stepper(self, op):
        return REGISTER.stepper(replace(op, input=op.input[1]))


class _WholeMap(KVModel):
    """The whole map, for a check that is not per key: the state is a tuple of values, one per key of
    the history (in `keys` order). `registers`: key -> whether it is a register (read/write/cas)."""

    def __init__(self, registers: Mapping[Any, bool]):
        self.keys = tuple(sorted(registers, key=_key_order))
        self.register = {k: registers[k] for k in self.keys}
        self.slot = {k: i for i, k in enumerate(self.keys)}

    def init(self, initial):
        init = _kv_initial(initial)
        return tuple(freeze(_lookup(init, k, None)) if self.register[k] else _lookup(init, k, "") for k in self.keys)

    def step(self, state, f, input, output):
        i = self.slot[input[0]]
        if f == "get":
            return (output is UNKNOWN or state[i] == output), state
        if f in _STRING_FS:
            return True, state[:i] + ((input[1] if f == "put" else state[i] + input[1]),) + state[i + 1:]
        ok, new = REGISTER.step(state[i], f, input[1], output)
        return ok, (state if new == state[i] else state[:i] + (new,) + state[i + 1:])

    def stepper(self, op):
        i, f, out, arg = self.slot[op.input[0]], op.f, op.output, op.input[1]
        if f == "get":
            if out is UNKNOWN:
                return lambda s: (True, s)
            return lambda s: (s[i] == out, s)
        if f == "put":
            return lambda s: (True, s[:i] + (arg,) + s[i + 1:])
        if f == "append":
            return lambda s: (True, s[:i] + (s[i] + arg,) + s[i + 1:])
        inner = REGISTER.stepper(replace(op, input=arg))

        def step(s):
            ok, new = inner(s[i])
            return ok, (s if new == s[i] else s[:i] + (new,) + s[i + 1:])
        return step


def _kv_initial(initial: Any) -> dict:
    if initial is None:
        return {}
    if not isinstance(initial, Mapping):
        raise HistoryError(None, f"the kv model's initial value must be an object of strings, got {_show(initial)}")
    return dict(initial)


def _lookup(init: Mapping, key: Any, default: Any) -> Any:
    """`init[key]`; an integer key (from EDN) also matches its decimal string (a JSON object's key)."""
    if key in init:
        return init[key]
    if isinstance(key, int) and str(key) in init:
        return init[str(key)]
    return default


def _key_kinds(ops: list[Operation], init: Mapping) -> dict[Any, bool]:
    """key -> True if the history uses it as a register (read/write/cas), False as a string
    (get/put/append). A key used both ways, or a string key with an initial value that is not a
    string, is a HistoryError."""
    first: dict[Any, Operation] = {}
    for op in ops:
        k = op.input[0]
        other = first.setdefault(k, op)
        if (other.f in _STRING_FS) != (op.f in _STRING_FS):
            raise HistoryError(op.call, f"{op.f} on key {_show(k)}, which entry {other.call} uses with {other.f}: a key "
                                        "is either a string (get, put, append) or a register (read, write, cas)")
    kinds = {k: op.f not in _STRING_FS for k, op in first.items()}
    for k in sorted(kinds, key=_key_order):
        v = _lookup(init, k, "")
        if not kinds[k] and not isinstance(v, str):
            raise HistoryError(None, "the kv model's initial value must be an object of strings for the keys that "
                                     f"get, put and append use: key {_show(k)} has {_show(v)}")
    return kinds


# ------------------------------------------------------------------------------ Knossos's other models


def _tail(op: Operation) -> str:
    return {"ok": "", "fail": " (failed)", "info": " (outcome unknown)"}[op.status]


def _echo(f: str, status: str, input: Any, value: Any, index: int) -> Any:
    """The output of an update whose ok completion may echo its argument (or leave it out, or null)."""
    if status != "ok":
        return UNKNOWN
    if value is not _MISSING and value is not None and freeze(value) != input:
        raise HistoryError(index, f"ok {f} value {_show(value)} differs from the value invoked")
    return None


class CounterModel(Model):
    """A counter, initially 0 (or `initial`, an integer): ``add N`` (N an integer, maybe negative),
    ``read`` (the completion's value is the sum). A read of null matches no count (or is unknown,
    under Knossos's reading of nil). The state is the count.

    >>> COUNTER.step(3, "add", -1, None)
    (True, 2)
    >>> COUNTER.step(3, "read", None, 4)
    (False, 3)
    """

    name = "counter"
    functions = ("add", "read")
    read_only = frozenset({"read"})

    def parse_input(self, f, value, index):
        if f == "read":
            return None
        if type(value) is not int:
            raise HistoryError(index, f"add value must be an integer, got {_show(None if value is _MISSING else value)}")
        return value

    def parse_output(self, f, status, input, value, index):
        if f == "add":
            return _echo(f, status, input, value, index)
        if status != "ok":
            return UNKNOWN
        if value is _MISSING:
            raise HistoryError(index, "ok read has no 'value' (the count read)")
        if value is not None and type(value) is not int:
            raise HistoryError(index, f"ok read value must be an integer, got {_show(value)}")
        return value

    def init(self, initial):
        if initial is None:
            return 0
        if type(initial) is not int:
            raise HistoryError(None, f"the counter model's initial value must be an integer, got {_show(initial)}")
        return initial

    def step(self, state, f, input, output):
        if f == "add":
            return True, state + input
        return (output is UNKNOWN or state == output), state

    def stepper(self, op):
        if op.f == "add":
            n = op.input
            return lambda s: (True, s + n)
        out = op.output
        if out is UNKNOWN:
            return lambda s: (True, s)
        return lambda s: (s == out, s)


class SetModel(Model):
    """A grow-only set, initially empty (or `initial`, an array of elements): ``add V``, ``read``
    (the completion's value is the whole set, as an array: order and repeats do not matter). A read
    of null matches no set (or is unknown, under Knossos's reading of nil). The state is a frozenset
    of frozen elements.

    >>> SET.step(frozenset({1}), "add", 2, None) == (True, frozenset({1, 2}))
    True
    >>> SET.step(frozenset({1}), "read", None, frozenset({1, 2}))
    (False, frozenset({1}))
    """

    name = "set"
    finite_reuse = True
    functions = ("add", "read")
    read_only = frozenset({"read"})

    def parse_input(self, f, value, index):
        if f == "read":
            return None
        if value is _MISSING:
            raise HistoryError(index, "invoke add has no 'value' (the element added)")
        return freeze(value)

    def parse_output(self, f, status, input, value, index):
        if f == "add":
            return _echo(f, status, input, value, index)
        if status != "ok":
            return UNKNOWN
        if value is _MISSING:
            raise HistoryError(index, "ok read has no 'value' (the set read, an array)")
        if value is None:
            return None
        if not isinstance(value, list):
            raise HistoryError(index, f"ok read value must be an array (the set read), got {_show(value)}")
        return frozenset(freeze(v) for v in value)

    def init(self, initial):
        if initial is None:
            return frozenset()
        if not isinstance(initial, list):
            raise HistoryError(None, f"the set model's initial value must be an array of elements, got {_show(initial)}")
        return frozenset(freeze(v) for v in initial)

    def step(self, state, f, input, output):
        if f == "add":
            return True, state | {input}
        return (output is UNKNOWN or state == output), state

    def stepper(self, op):
        if op.f == "add":
            v = op.input
            return lambda s: (True, s if v in s else s | {v})
        out = op.output
        if out is UNKNOWN:
            return lambda s: (True, s)
        return lambda s: (s == out, s)

    def useful(self, kept, optional):
        """A pending add of V matters only if a kept read saw V: the set only grows, so once V is in it
        every later read must contain V; with no such read, a linearization that takes the add has
        no read after it, and stays one without it."""
        seen = set()
        for op, completed in kept:
            if completed and op.f == "read" and isinstance(op.output, frozenset):
                seen |= op.output
        return [op for op in optional if op.input in seen]


class QueueModel(Model):
    """A FIFO queue, initially empty (or `initial`, an array, head first): ``enqueue V`` (V not
    null), ``dequeue`` (the completion's value is the value taken from the head). As Knossos's
    ``fifo-queue``, except for an empty queue: there an ok dequeue must return null (the queue was
    empty; it changes nothing), where Knossos has no legal dequeue at all. So an ok dequeue of null
    says "empty" (it is not Knossos's unknown read), and a dequeue whose outcome is unknown takes
    the head if there is one. The state is a tuple, head first.

    >>> QUEUE.step((1, 2), "dequeue", None, 1)
    (True, (2,))
    >>> QUEUE.step((), "dequeue", None, None)
    (True, ())
    >>> QUEUE.step((1, 2), "dequeue", None, 2)
    (False, (1, 2))
    """

    name = "queue"
    functions = ("enqueue", "dequeue")

    def parse_input(self, f, value, index):
        if f == "dequeue":
            return None
        if value is _MISSING or value is None:
            raise HistoryError(index, "enqueue value must not be null (a dequeue of null means the queue was empty), "
                                      f"got {'nothing' if value is _MISSING else 'null'}")
        return freeze(value)

    def parse_output(self, f, status, input, value, index):
        if f == "enqueue":
            return _echo(f, status, input, value, index)
        if status != "ok":
            return UNKNOWN
        if value is _MISSING:
            raise HistoryError(index, "ok dequeue has no 'value' (the value dequeued; null if the queue was empty)")
        return freeze(value)

    def init(self, initial):
        if initial is None:
            return ()
        if not isinstance(initial, list) or any(v is None for v in initial):
            raise HistoryError(None, "the queue model's initial value must be an array of values (not null), head "
                                     f"first, got {_show(initial)}")
        return tuple(freeze(v) for v in initial)

    def step(self, state, f, input, output):
        if f == "enqueue":
            return True, state + (input,)
        if output is UNKNOWN:
            return True, state[1:]
        if output is None:
            return not state, state
        if state and state[0] == output:
            return True, state[1:]
        return False, state

    def stepper(self, op):
        if op.f == "enqueue":
            v = (op.input,)
            return lambda s: (True, s + v)
        out = op.output
        if out is UNKNOWN:
            return lambda s: (True, s[1:])
        if out is None:
            return lambda s: (not s, s)
        return lambda s: ((True, s[1:]) if s and s[0] == out else (False, s))

    def observes(self, op, completed):
        return completed and op.f == "dequeue" and op.output is not UNKNOWN

    def useful(self, kept, optional):
        """A pending enqueue of V matters only if a kept dequeue returned V: otherwise, in a
        linearization that takes it, V leaves the queue only through a dequeue whose outcome is
        unknown (pending forever too); dropping both leaves every other dequeue its value, and
        no dequeue of null could have seen the queue empty while V was in it."""
        taken = {op.output for op, completed in kept
                 if completed and op.f == "dequeue" and op.output is not UNKNOWN and op.output is not None}
        return [op for op in optional if op.f == "dequeue" or op.input in taken]

    def describe(self, op, entries):
        if op.f == "dequeue" and op.status == "ok":
            got = entries[op.ret].get("value")
            empty = " (the queue was empty)" if got is None else ""
            return f"dequeue by process {op.process} returned {_show(got)}{empty}"
        if op.f == "dequeue":
            return f"dequeue by process {op.process}{_tail(op)}"
        return super().describe(op, entries)


class MutexModel(Model):
    """Knossos's ``mutex``: one lock, initially free (`initial` true: held). ``acquire`` is legal only
    while it is free, ``release`` only while it is held; values are ignored. As in Knossos, the lock
    has no owner: a release by another process than the one that acquired counts. An acquire or
    release whose outcome is unknown may take effect only where it is legal, or never. The state is
    whether the lock is held.

    >>> MUTEX.step(True, "acquire", None, None)
    (False, True)
    >>> MUTEX.step(True, "release", None, None)
    (True, False)
    """

    name = "mutex"
    finite_reuse = True
    functions = ("acquire", "release")

    def parse_input(self, f, value, index):
        return None

    def parse_output(self, f, status, input, value, index):
        return None if status == "ok" else UNKNOWN

    def init(self, initial):
        if initial is None:
            return False
        if not isinstance(initial, bool):
            raise HistoryError(None, f"the mutex model's initial value must be true (held) or false, got {_show(initial)}")
        return initial

    def step(self, state, f, input, output):
        if f == "acquire":
            return not state, True
        return state, False

    def stepper(self, op):
        if op.f == "acquire":
            return lambda s: (not s, True)
        return lambda s: (s, False)

    def observes(self, op, completed):
        return completed and op.f == "acquire"

    def describe(self, op, entries):
        return f"{op.f} by process {op.process}{_tail(op)}"


_MICRO = {"r": False, "read": False, "w": True, "write": True}  # micro-operation -> is it a write?


class MultiRegisterModel(Model):
    """Knossos's ``multi-register``: registers named by keys, all null initially (or `initial`, an
    object key -> value), and one operation, ``txn``, whose value is a list of micro-operations
    ``[f, key, value]`` applied atomically in order: f ``"r"`` (or ``"read"``) reads (invoked with
    value null, completed with the value read), ``"w"`` (or ``"write"``) writes. Keys are strings or
    integers. A read of null: under Knossos's reading (nil_read "unknown", this instance's default)
    it is always legal; under nil_read "value" the register must be null. An input is a tuple of
    (is write, key, value); an ok output the tuple of what each micro-operation read (null for a
    write, UNKNOWN for a read of null read as unknown).

    Checked per group of keys that transactions connect (transactions on disjoint groups of keys
    are independent objects, and linearizability is local: Herlihy & Wing). Within a group the
    state is a tuple of values, one per key. Unpartitioned (`step` here), the state is a tuple of
    (key, value) pairs in key order, null values left out.

    >>> MULTI_REGISTER.step((), "txn", ((True, "x", 1), (False, "y", None)), (None, None))
    (True, (('x', 1),))
    >>> MULTI_REGISTER.step((("x", 1),), "txn", ((False, "x", None),), (2,))
    (False, (('x', 1),))
    """

    name = "multi-register"
    finite_reuse = True
    functions = ("txn",)

    def __init__(self, nil_read: str = "unknown"):
        if nil_read not in NIL_READS:
            raise ValueError(f"nil_read must be one of {', '.join(NIL_READS)}, got {nil_read!r}")
        self.nil_read = nil_read

    def with_nil_read(self, nil_read):
        if nil_read == self.nil_read:
            return self
        return MultiRegisterModel(nil_read)

    def parse_input(self, f, value, index):
        if not isinstance(value, list):
            raise HistoryError(index, "txn value must be an array of micro-operations [f, key, value], "
                                      f"got {_show(None if value is _MISSING else value)}")
        mops = []
        for j, mop in enumerate(value):
            if not isinstance(mop, list) or len(mop) != 3 or not isinstance(mop[0], str) or mop[0] not in _MICRO:
                raise HistoryError(index, f'txn micro-operation {j} must be ["r" or "w", key, value], got {_show(mop)}')
            g, k, v = mop
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise HistoryError(index, f"txn micro-operation {j}: the key must be a string or an integer, got {_show(k)}")
            write = _MICRO[g]
            mops.append((write, k, freeze(v) if write else None))
        return tuple(mops)

    def parse_output(self, f, status, input, value, index):
        if status != "ok":
            return UNKNOWN
        if value is _MISSING or value is None:
            if any(not w for w, _, _ in input):
                raise HistoryError(index, "ok txn has no 'value' (its micro-operations with the values read)")
            return tuple(None for _ in input)
        if not isinstance(value, list) or len(value) != len(input):
            raise HistoryError(index, f"ok txn value must list the {len(input)} micro-operation(s) invoked, "
                                      f"got {_show(value)}")
        out = []
        for j, (mop, (write, k, v)) in enumerate(zip(value, input)):
            if (not isinstance(mop, list) or len(mop) != 3 or not isinstance(mop[0], str)
                    or _MICRO.get(mop[0]) is not write or mop[1] != k or isinstance(mop[1], bool)):
                raise HistoryError(index, f"ok txn micro-operation {j} {_show(mop)} differs from the one invoked")
            if write:
                if freeze(mop[2]) != v:
                    raise HistoryError(index, f"ok txn micro-operation {j} {_show(mop)} writes another value than "
                                              "the one invoked")
                out.append(None)
            elif mop[2] is None and self.nil_read == "unknown":
                out.append(UNKNOWN)
            else:
                out.append(freeze(mop[2]))
        return tuple(out)

    def init(self, initial):
        return tuple(sorted(((k, v) for k, v in _multi_initial(initial).items() if v is not None),
                            key=lambda kv: _key_order(kv[0])))

    def step(self, state, f, input, output):
        items = dict(state)
        outs = output if output is not UNKNOWN else (UNKNOWN,) * len(input)
        for (write, k, v), o in zip(input, outs):
            if write:
                items[k] = v
            elif o is not UNKNOWN and items.get(k) != o:
                return False, state
        return True, tuple(sorted(((k, v) for k, v in items.items() if v is not None), key=lambda kv: _key_order(kv[0])))

    def observes(self, op, completed):
        return completed and op.output is not UNKNOWN and any(
            not w and o is not UNKNOWN for (w, _, _), o in zip(op.input, op.output))

    def useful(self, kept, optional):
        """A pending txn matters only if one of its writes (K, V) is seen by a read of K returning V in
        a kept txn that completed: else no read sees the values it writes, which last until the
        next writes of their keys."""
        seen = set()
        for op, completed in kept:
            if completed and op.output is not UNKNOWN:
                seen.update((k, o) for (w, k, _), o in zip(op.input, op.output) if not w and o is not UNKNOWN)
        return [op for op in optional if any(w and (k, v) in seen for w, k, v in op.input)]

    def partitions(self, ops, initial, split):
        init = _multi_initial(initial)
        parent: dict[Any, Any] = {}

        def root(k):
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        for op in ops:
            keys = [k for _, k, _ in op.input]
            for k in keys:
                parent.setdefault(k, k)
            for k in keys[1:]:
                a, b = root(keys[0]), root(k)
                if a != b:
                    parent[max(a, b, key=_key_order)] = min(a, b, key=_key_order)
        groups: dict[Any, list[Any]] = {}
        for k in sorted(parent, key=_key_order):
            groups.setdefault(root(k) if split else None, []).append(k)
        if not groups:
            groups[None] = []
        by_group: dict[Any, list[Operation]] = {g: [] for g in groups}
        first = next(iter(groups))
        for op in ops:  # a txn with no micro-operation changes nothing: any group may hold it
            by_group[root(op.input[0][1]) if split and op.input else first].append(op)
        out = []
        for g, keys in groups.items():
            m = _Registers(keys, self.nil_read)
            label = tuple(keys) if len(groups) > 1 else None
            out.append((label, by_group[g], tuple(freeze(_lookup(init, k, None)) for k in keys), m))
        return out

    def describe(self, op, entries):
        if op.status == "ok":
            return f"txn {_show(entries[op.ret].get('value'))} by process {op.process}"
        return f"txn {_show(entries[op.call].get('value'))} by process {op.process}{_tail(op)}"


class _Registers(MultiRegisterModel):
    """The registers of one group of keys: the state is a tuple of values, one per key (in `keys` order)."""

    def __init__(self, keys: Iterable[Any], nil_read: str):
        super().__init__(nil_read)
        self.keys = tuple(keys)
        self.slot = {k: i for i, k in enumerate(self.keys)}

    def init(self, initial):
        init = _multi_initial(initial)
        return tuple(freeze(_lookup(init, k, None)) for k in self.keys)

    def step(self, state, f, input, output):
        return self.stepper(Operation(0, 0, f, input, output, "ok", 0, None))(state)

    def stepper(self, op):
        outs = op.output if op.output is not UNKNOWN else (UNKNOWN,) * len(op.input)
        plan = [(w, self.slot[k], v if w else o) for (w, k, v), o in zip(op.input, outs)]
        if all(not w for w, _, _ in plan):  # a read-only txn
            checks = [(i, o) for _, i, o in plan if o is not UNKNOWN]
            if not checks:
                return lambda s: (True, s)
            return lambda s: (all(s[i] == o for i, o in checks), s)

        def step(s):
            cur = list(s)
            for w, i, v in plan:
                if w:
                    cur[i] = v
                elif v is not UNKNOWN and cur[i] != v:
                    return False, s
            new = tuple(cur)
            return True, (s if new == s else new)
        return step


def _multi_initial(initial: Any) -> dict:
    if initial is None:
        return {}
    if not isinstance(initial, Mapping):
        raise HistoryError(None, "the multi-register model's initial value must be an object (key -> value), "
                                 f"got {_show(initial)}")
    return {k: freeze(v) for k, v in initial.items()}


REGISTER = RegisterModel()
KV = KVModel()
_KEY = _KeyModel()
_KEY_REGISTER = _KeyRegister()
COUNTER = CounterModel()
SET = SetModel()
QUEUE = QueueModel()
MUTEX = MutexModel()
MULTI_REGISTER = MultiRegisterModel()
MODELS: dict[str, Model] = {"register": REGISTER, "kv": KV, "multi-register": MULTI_REGISTER, "set": SET,
                            "counter": COUNTER, "queue": QUEUE, "mutex": MUTEX}


def _model(model: str | Model) -> Model:
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {model!r} (expected one of {', '.join(MODELS)})") from None


__all__ = ["COUNTER", "KV", "MODELS", "MULTI_REGISTER", "MUTEX", "NIL_READS", "QUEUE", "REGISTER", "SET", "UNKNOWN",
           "HistoryError", "Model", "Operation", "freeze"]
