"""The sequential specifications that client histories are judged against, and what an operation is.

A `Model` says which operations (`f`) exist, how an entry's value is read and validated, the initial
state and `step(state, f, input, output) -> (ok, new_state)` over hashable states. The searches of
`checker.logic.consistency` (linearizability, sequential consistency) take any model; `MODELS` names
those a history, a spec (`[consistency] model = ...`) or `faultcheck history --model` may ask for.

This module uses only the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
    `UNKNOWN` must always be accepted. `stepper(op)` is the same step specialised to one operation,
    for the search's inner loop.
    """

    name: str = "model"
    functions: tuple[str, ...] = ()
    read_only: frozenset[str] = frozenset()

    def parse_input(self, f: str, value: Any, index: int) -> Any:
        raise NotImplementedError

    def reads_nil(self, f: str, value: Any) -> bool:
        """Is this ok completion's raw value a read of nil (Knossos: the value read is unknown, so the read
        constrains nothing)? Models whose reads carry a key (kv: [k, nil]) override it."""
        return f in self.read_only and value is None

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
        wanted = set()
        for op, completed in kept:
            if completed and op.f == "cas" and op.output is False:
                return optional
            if completed and op.f == "read" and op.output is not UNKNOWN:
                wanted.add(op.output)
            elif completed and op.f == "cas" and op.output is True:
                wanted.add(op.input[0])
        pending = optional + [op for op, completed in kept if not completed]
        more = True
        while more:
            more = False
            for op in pending:
                if op.f == "cas" and op.input[1] in wanted and op.input[0] not in wanted:
                    wanted.add(op.input[0])
                    more = True
        return [op for op in optional if (op.input if op.f == "write" else op.input[1]) in wanted]

    def describe(self, op, entries):
        if op.f == "cas" and op.output is not UNKNOWN and op.status in ("ok", "fail"):
            a, b = entries[op.call].get("value")
            verb = "succeeded" if op.output else "returned false"
            return f"cas {_show(a)}->{_show(b)} by process {op.process} {verb}"
        return super().describe(op, entries)


class KVModel(Model):
    """A map from keys to strings: get, put, append. Missing keys read as "".

    Checked per key (P-compositionality): each key is a `_KeyModel` string register. Unpartitioned,
    the state is a sorted tuple of (key, value) pairs with "" values left out.

    >>> KV.step((("a", "x"),), "append", ("a", "y"), UNKNOWN)
    (True, (('a', 'xy'),))
    >>> KV.step((), "get", ("a", None), "")
    (True, ())
    """

    name = "kv"
    functions = ("get", "put", "append")
    read_only = frozenset({"get"})

    def parse_input(self, f, value, index):
        if not isinstance(value, list) or len(value) != 2:
            raise HistoryError(index, f"{f} value must be a pair [key, {'null' if f == 'get' else 'string'}], "
                                      f"got {_show(None if value is _MISSING else value)}")
        key, arg = value
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise HistoryError(index, f"{f} key must be a string, got {_kind(key)}")
        if f == "get":
            return (key, None)
        if not isinstance(arg, str):
            raise HistoryError(index, f"{f} value must be a string, got {_kind(arg)}")
        return (key, arg)

    def parse_output(self, f, status, input, value, index):
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

    def init(self, initial):
        return tuple(sorted((k, v) for k, v in _kv_initial(initial).items() if v != ""))

    def step(self, state, f, input, output):
        key, arg = input
        items = dict(state)
        cur = items.get(key, "")
        if f == "get":
            return (output is UNKNOWN or cur == output), state
        new = arg if f == "put" else cur + arg
        if new:
            items[key] = new
        else:
            items.pop(key, None)
        return True, tuple(sorted(items.items()))

    def useful(self, kept, optional):
        """A pending append of S matters only if a kept get of its key returned a string containing
        S; a pending put of S only if one returned a string starting with S (else no get sees the
        states it starts, which last until the next put)."""
        got: dict[Any, list[str]] = {}
        for op, completed in kept:
            if completed and op.f == "get" and op.output is not UNKNOWN:
                got.setdefault(op.input[0], []).append(op.output)
        out = []
        for op in optional:
            key, arg = op.input
            seen = got.get(key, ())
            if any((arg in g) if op.f == "append" else g.startswith(arg) for g in seen):
                out.append(op)
        return out

    def partitions(self, ops, initial, split):
        init = _kv_initial(initial)
        if not split:
            whole = _WholeMap({op.input[0] for op in ops})
            return [(None, ops, tuple(init.get(k, "") for k in whole.keys), whole)]
        by_key: dict[Any, list[Operation]] = {}
        for op in ops:
            by_key.setdefault(op.input[0], []).append(op)
        return [(k, by_key[k], init.get(k, ""), _KEY) for k in sorted(by_key, key=lambda k: (str(type(k)), k))]

    def describe(self, op, entries):
        key, arg = entries[op.call].get("value")
        if op.f == "get":
            if op.status == "ok":
                got = entries[op.ret].get("value")[1]
                return f"get {_show(key)} by process {op.process} returned {_show(got)}"
            return f"get {_show(key)} by process {op.process}"
        tail = {"ok": "", "fail": " (failed)", "info": " (outcome unknown)"}[op.status]
        return f"{op.f} {_show(key)} {_show(arg)} by process {op.process}{tail}"


class _KeyModel(KVModel):
    """One key of the kv map: a string register (the state is the string)."""

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


class _WholeMap(KVModel):
    """The whole map, for a check that is not per key: the state is a tuple of strings, one per key of
    the history (in `keys` order)."""

    def __init__(self, keys: Iterable[Any]):
        self.keys = tuple(sorted(keys, key=lambda k: (str(type(k)), k)))
        self.slot = {k: i for i, k in enumerate(self.keys)}

    def init(self, initial):
        init = _kv_initial(initial)
        return tuple(init.get(k, "") for k in self.keys)

    def step(self, state, f, input, output):
        i = self.slot[input[0]]
        if f == "get":
            return (output is UNKNOWN or state[i] == output), state
        return True, state[:i] + ((input[1] if f == "put" else state[i] + input[1]),) + state[i + 1:]

    def stepper(self, op):
        i, f, out, arg = self.slot[op.input[0]], op.f, op.output, op.input[1]
        if f == "get":
            if out is UNKNOWN:
                return lambda s: (True, s)
            return lambda s: (s[i] == out, s)
        if f == "put":
            return lambda s: (True, s[:i] + (arg,) + s[i + 1:])
        return lambda s: (True, s[:i] + (s[i] + arg,) + s[i + 1:])


def _kv_initial(initial: Any) -> dict:
    if initial is None:
        return {}
    if not isinstance(initial, Mapping) or not all(isinstance(v, str) for v in initial.values()):
        raise HistoryError(None, f"the kv model's initial value must be an object of strings, got {_show(initial)}")
    return dict(initial)


REGISTER = RegisterModel()
KV = KVModel()
_KEY = _KeyModel()
MODELS: dict[str, Model] = {"register": REGISTER, "kv": KV}


def _model(model: str | Model) -> Model:
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {model!r} (expected one of {', '.join(MODELS)})") from None


__all__ = ["KV", "MODELS", "REGISTER", "UNKNOWN", "HistoryError", "Model", "Operation", "freeze"]
