"""Reading client histories as Jepsen writes them: EDN, JSON (an array) or JSON lines, told apart by content.

`read_history(path) -> Loaded`: the client entries, normalised (EDN keywords become strings without the
colon, vectors and lists become lists, sets sorted lists, nil None), the non-client entries counted and
left out, and for each entry its position and line in the file. `split_independent(entries)`: Jepsen's
``independent`` keyed histories (values ``[k v]``) split into one history per key. EDN is read by a
small strict reader of our own (`parse_edn`). Imports only `checker.model.inputs` and the standard library.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..model.inputs import HISTORY_LIMIT, MAX_DEPTH, InputError, parse_json, read_text

FORMATS = ("edn", "json", "jsonl")

# -------------------------------------------------------------------------------------------------- EDN

# One token per match; whitespace and commas separate tokens and are skipped. The last alternative
# matches any other single character, so nothing is skipped silently: the reader refuses it.
_DELIM = r"(?=[\s,()\[\]{}\";]|\Z)"
_SYM = r"[A-Za-z*!_?$%&=<>.+\-/'|][\w*!_?$%&=<>.+\-/'|:#]*"
_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # string
    r"|:" + _SYM +  # keyword
    r"|[+-]?\d[^\s,()\[\]{}\";]*"  # number (checked by _NUMBER)
    r"|" + _SYM + _DELIM +  # symbol: nil, true, false, or a name
    r"|[\[\](){}]"  # brackets
    r"|#\{|#_|##[A-Za-z-]+|#" + _SYM +  # set, discard, ##Inf, tag
    r"|\\(?:newline|return|space|tab|formfeed|backspace|u[0-9A-Fa-f]{4}|\S)" + _DELIM +  # character
    r"|;[^\n]*"  # comment
    r"|[^\s,]",  # anything else: an error
    re.DOTALL,
)
# EDN's numbers, and two of Clojure's that Jepsen's files hold: hex (0x6d2a3e9f, in #object[...]) and ratios (1/3)
_NUMBER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:(\.[0-9]*)?(?:[eE][+-]?[0-9]+)?M?|N)")
_CLOJURE_NUMBER = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]+)N?|([+-]?[0-9]+)/([0-9]+)")
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_ESCAPES = {'"': '"', "\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f"}
_CHARS = {"newline": "\n", "return": "\r", "space": " ", "tab": "\t", "formfeed": "\f", "backspace": "\b"}
_OPEN = {"[": 1, "(": 2, "{": 3, "#{": 4}
_CLOSE = {"]": (1,), ")": (2,), "}": (3, 4)}
_NAMES = {1: "[", 2: "(", 3: "{", 4: "#{", 5: "#tag", 6: "#_"}
_VEC, _LIST, _MAP, _SET, _TAG, _DISCARD = 1, 2, 3, 4, 5, 6


class EdnError(ValueError):
    """EDN that cannot be read: `str(e)` is one line, ``line L, column C: <what was wrong>``."""

    def __init__(self, line: int, column: int, problem: str):
        self.line, self.column, self.problem = line, column, problem
        super().__init__(f"line {line}, column {column}: {problem}")


class _At(Exception):
    def __init__(self, token: int, problem: str):
        self.token, self.problem = token, problem


def _unescape(body: str, k: int) -> str:
    def one(m: re.Match) -> str:
        e = m.group(1)
        if e in _ESCAPES:
            return _ESCAPES[e]
        if len(e) == 5:
            return chr(int(e[1:], 16))
        raise _At(k, f"unknown escape \\{e} in a string")
    return _ESCAPE.sub(one, body)


def _number(tok: str, k: int) -> int | float:
    if not _NUMBER.fullmatch(tok):
        m = _CLOJURE_NUMBER.fullmatch(tok)
        if m is None:
            raise _At(k, f"not a number: {tok}")
        if m.group(2):
            return int(m.group(1) + m.group(2), 16)
        if int(m.group(4)) == 0:
            raise _At(k, f"not a number: {tok} (division by zero)")
        return int(m.group(3)) / int(m.group(4))
    try:
        if "." in tok or "e" in tok or "E" in tok or tok[-1] == "M":
            return float(tok.rstrip("M"))
        return int(tok.rstrip("N"))
    except ValueError as e:  # an integer of thousands of digits
        raise _At(k, f"cannot read the number: {e}") from None


def _set(items: list, k: int) -> list:
    keyed = sorted((((type(x).__name__, repr(x)), x) for x in items), key=lambda p: p[0])
    for (a, _), (b, _) in zip(keyed, keyed[1:]):
        if a == b:
            raise _At(k, f"a set holds {b[1]} twice")
    return [x for _, x in keyed]


def _map(items: list, k: int) -> dict:
    if len(items) % 2:
        raise _At(k, "a map needs a value for every key (odd number of forms)")
    it = iter(items)
    try:
        d = dict(zip(it, it))
    except TypeError:
        raise _At(k, "a map key must be a keyword, string, number, boolean or nil") from None
    if 2 * len(d) != len(items):
        seen: set = set()
        for key in items[::2]:
            if key in seen:
                raise _At(k, f"a map holds the key {key!r} twice")
            seen.add(key)
    return d


def _tagged(tag: str, value: Any) -> Any:
    """A tagged element as a JSON-like value: #inst and #uuid keep their string, a record
    (``#jepsen.history.Op{...}``) is its map, any other tag (``#object[...]``) its element."""
    return value


def parse_edn(text: str, max_depth: int = MAX_DEPTH) -> list[Any]:
    """The top-level EDN elements of `text`.

    Keywords and symbols become their names as strings (``:cas`` -> ``"cas"``), vectors and lists
    lists, sets lists sorted by (type name, repr), maps dicts, nil None, ``#inst``/``#uuid`` their
    string, other tagged elements (records such as ``#jepsen.history.Op{...}``) their element;
    ``N``/``M`` numbers int/float; Clojure's hex integers (``0x1f``) int and ratios (``1/3``) float. Refused with `EdnError` (line and column): anything that is not
    EDN, a map with an odd number of forms or a key twice, a set with an element twice, nesting
    deeper than `max_depth`, ``##Inf``/``##NaN`` (not JSON-like).

    >>> parse_edn('{:type :ok, :value #{2 1}, :process :nemesis} [nil]')
    [{'type': 'ok', 'value': [1, 2], 'process': 'nemesis'}, [None]]
    """
    return _parse(text, max_depth)[0]


def _parse(text: str, max_depth: int = MAX_DEPTH) -> tuple[list[Any], list[int]]:
    """`parse_edn`, with the index of the token each top-level element starts at."""
    tokens = _TOKEN.findall(text)
    try:
        return _build(tokens, max_depth, text)
    except _At as e:
        line, column = _where(text, e.token)
        raise EdnError(line, column, e.problem) from None


def _offset(text: str, k: int) -> int:
    """The offset of token `k` (tokens are located only when needed, for messages)."""
    for n, m in enumerate(_TOKEN.finditer(text)):
        if n == k:
            return m.start()
    return len(text)


def _where(text: str, k: int) -> tuple[int, int]:
    pos = _offset(text, k)
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _pos(text: str, k: int) -> str:
    line, column = _where(text, k)
    return f"line {line}, column {column}"


def _settle(v: Any, stack: list) -> tuple[list, int, int, Any]:
    """The tag or discard on top of `stack` got its element `v`: close it (and the tags that completes in
    turn); returns the container that is then current (list, kind, opener token, tag)."""
    while True:
        _, done, _, name = stack.pop()
        outer = stack.pop()
        if done == _DISCARD:
            return outer
        v = _tagged(name, v)
        if outer[1] < _TAG:
            outer[0].append(v)
            return outer
        stack.append(outer)


def _build(tokens: list[str], max_depth: int, text: str) -> tuple[list[Any], list[int]]:
    top: list = []
    tops: list[int] = []  # the token index where each top-level element starts
    stack: list[tuple[list, int, int, Any]] = []  # the containers around the current one: (list, kind, opener, tag)
    cur, kind, opener, tag = top, 0, -1, None
    miss = _At  # a value no token has
    known: dict[str, Any] = {"nil": None, "true": True, "false": False}  # keywords and symbols seen
    get = known.get
    for k, tok in enumerate(tokens):
        v = get(tok, miss)
        if v is miss:
            c = tok[0]
            if c in _OPEN or tok == "#{":
                if not stack:
                    tops.append(k)
                if len(stack) >= max_depth:
                    raise _At(k, f"nested deeper than {max_depth} levels")
                stack.append((cur, kind, opener, tag))
                cur, kind, opener, tag = [], _OPEN[tok], k, None
                continue
            if c in _CLOSE:
                if kind not in _CLOSE[c]:
                    if kind == 0:
                        raise _At(k, f"unexpected {c}: nothing to close")
                    if kind >= _TAG:
                        raise _At(k, f"unexpected {c}: {'#_' if kind == _DISCARD else '#' + tag} needs an element")
                    raise _At(k, f"unexpected {c}: the {_NAMES[kind]} opened at {_pos(text, opener)} is not closed")
                v = cur if kind <= _LIST else _map(cur, k) if kind == _MAP else _set(cur, k)
                cur, kind, opener, tag = stack.pop()
                if kind >= _TAG:
                    stack.append((cur, kind, opener, tag))
                    cur, kind, opener, tag = _settle(v, stack)
                    if not stack and len(top) < len(tops):
                        tops.pop()  # a discarded top-level element
                else:
                    cur.append(v)
                continue
            if c == ":":
                if len(tok) == 1:
                    raise _At(k, "unexpected :")
                v = known[tok] = tok[1:]
            elif c in "0123456789" or (c in "+-" and len(tok) > 1 and tok[1] in "0123456789"):
                v = int(tok) if tok.isdigit() and tok.isascii() and (c != "0" or len(tok) == 1) else _number(tok, k)
            elif c == '"':
                if len(tok) == 1:
                    raise _At(k, "a string is not closed")
                v = tok[1:-1]
                if "\\" in v:
                    v = _unescape(v, k)
            elif c == "#":
                if tok.startswith("##"):
                    raise _At(k, f"{tok} is not supported (not a JSON value)")
                if len(tok) == 1:
                    raise _At(k, "unexpected #")
                if not stack:
                    tops.append(k)
                if len(stack) >= max_depth:
                    raise _At(k, f"nested deeper than {max_depth} levels")
                stack.append((cur, kind, opener, tag))
                cur, kind, opener, tag = [], _DISCARD if tok == "#_" else _TAG, k, tok[1:]
                continue
            elif c == "\\":
                if len(tok) == 1:
                    raise _At(k, "unexpected \\")
                name = tok[1:]
                v = _CHARS.get(name) or (chr(int(name[1:], 16)) if len(name) == 5 else name)
            elif c == ";":
                continue
            elif c.isalpha() or c in "*!_?$%&=<>.+-/'|":
                v = known[tok] = tok
            else:
                raise _At(k, f"unexpected {tok!r}")
        if kind >= _TAG:
            stack.append((cur, kind, opener, tag))
            cur, kind, opener, tag = _settle(v, stack)
            if not stack and len(top) < len(tops):
                tops.pop()  # a discarded top-level element
            continue
        if not stack:
            tops.append(k)
        cur.append(v)
    if stack:
        if kind >= _TAG:
            raise _At(opener, f"{'#_' if kind == _DISCARD else '#' + tag} at the end of the file needs an element")
        raise _At(opener, f"the {_NAMES[kind]} opened here is not closed at the end of the file (truncated?)")
    return top, tops


def _element_offset(text: str, top_token: int, j: int) -> int | None:
    """The offset where element `j` of the vector or list opened at token `top_token` starts (None if not found)."""
    depth, count, skip = 0, -1, 0
    for n, m in enumerate(_TOKEN.finditer(text)):
        if n < top_token:
            continue
        tok = m.group()
        if tok[0] == ";":
            continue
        if n == top_token:
            depth = 1
            continue
        if depth == 1 and tok[0] not in ")]}":
            if skip:
                skip -= 1 if tok[0] != "#" or tok == "#{" else -1
            elif tok == "#_":
                skip = 1
            else:
                count += 1
                if count == j:
                    return m.start()
                if tok[0] == "#" and tok != "#{":
                    skip = 1  # the tag's element belongs to it
        if tok in _OPEN:
            depth += 1
        elif tok[0] in ")]}" and len(tok) == 1:
            depth -= 1
            if depth == 0:
                return None
    return None


# ---------------------------------------------------------------------------------------------- histories


@dataclass
class Loaded:
    """A history read from a file. `entries`: the client entries, in file order, normalised (each a dict
    with process, type, f, value and the file's other keys). `positions[i]`: entry i's 0-based position
    among all the file's entries (ignored ones included). `ignored`: non-client entries left out,
    counted by process name (``{"nemesis": 12}``). `format`: "edn", "json" or "jsonl"."""

    entries: list[dict]
    format: str
    ignored: dict[str, int] = field(default_factory=dict)
    positions: list[int] = field(default_factory=list)
    line_of: Callable[[int], int | None] = field(default=lambda position: None, repr=False)

    def describe(self, i: int) -> str:
        """``entry 7 (line 8)``: how the file numbers entry `i` of `entries` (the line where the file
        tells it: EDN and JSON lines; it is found only when asked for)."""
        if not 0 <= i < len(self.positions):
            return f"entry {i}"
        line = self.line_of(self.positions[i])
        return f"entry {self.positions[i]}" + ("" if line is None else f" (line {line})")


def read_history(path: str | os.PathLike, limit: int = HISTORY_LIMIT) -> Loaded:
    """The history in the file `path` (at most `limit` bytes): EDN, a JSON array or JSON lines.

    The format is told by content: text that is one JSON value is JSON (an array of entries; a single
    object with a "type" or "process" key is a one-line JSON lines file); text whose first line is a
    JSON object is JSON lines; anything else is EDN (one vector or list of maps, or maps one after
    another). A client is an entry whose process is an integer (Jepsen numbers its client processes);
    an entry whose process is a keyword or a string (``:nemesis``, Jepsen's fault injector, or any
    other named actor) is left out and counted in `Loaded.ignored` under that name. Entries that are
    not maps, or whose process is missing or another kind of value, are kept for the checker to refuse.
    JSON entries are kept exactly as read. Raises `InputError` (one line naming the file; line and
    column for EDN and JSON lines) for an unreadable, oversized, malformed or too deeply nested file.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "h.edn"
    >>> _ = p.write_text('{:type :invoke, :f :read, :value nil, :process 0}\\n{:type :info, :f :start, :process :nemesis}')
    >>> h = read_history(p)
    >>> h.format, h.entries, h.ignored
    ('edn', [{'type': 'invoke', 'f': 'read', 'value': None, 'process': 0}], {'nemesis': 1})
    """
    return parse_history_text(read_text(path, limit, "history"), path)


def parse_history_text(text: str, path: str | os.PathLike = "<history>") -> Loaded:
    """`read_history` on text already read (`path` names it in errors)."""
    try:
        return _read(text, path)
    except _Bad as e:
        raise InputError(path, str(e)) from None


class _Bad(ValueError):
    pass


_EDN_SIGN = re.compile(r"(?:^|[\s\[{(,]):[A-Za-z*!_?]|#[{_A-Za-z]|\bnil\b")


def _read(text: str, path: str | os.PathLike) -> Loaded:
    stripped = text.lstrip()
    if not stripped:
        raise _Bad("empty file: no history (an empty history is [] in JSON or EDN)")
    json_error: InputError | None = None
    if stripped[0] in "[{":
        try:
            value = parse_json(text, path)
        except InputError as e:
            json_error = e
        else:
            if isinstance(value, dict) and ("type" in value or "process" in value):
                return _loaded([value], "jsonl", lambda n: _nth_line(text, n))
            if not isinstance(value, list):
                return Loaded(value, "json")  # type: ignore[arg-type]  # the checker refuses it, as before
            return _loaded(value, "json")
        if stripped[0] == "{" and _is_json_object(stripped.split("\n", 1)[0]):
            return _read_jsonl(text, path)
    if json_error is not None and not _EDN_SIGN.search(text, 0, 1 << 16):
        raise _Bad(json_error.reason)
    try:
        forms, tops = _parse(text)
    except EdnError as e:
        raise _Bad(f"not valid EDN: {e}") from None
    if len(forms) == 1 and isinstance(forms[0], list):
        def vector_line(n: int) -> int | None:
            at = _element_offset(text, tops[0], n)
            return None if at is None else text.count("\n", 0, at) + 1
        return _loaded(forms[0], "edn", vector_line)

    def top_line(n: int) -> int | None:
        return text.count("\n", 0, _offset(text, tops[n])) + 1 if 0 <= n < len(tops) else None
    for n, v in enumerate(forms):
        if not isinstance(v, dict):
            raise _Bad(f"entry {n} (line {top_line(n)}): not an EDN history: an operation is a map "
                       f"{{:type ..., :f ..., :value ..., :process ...}}, got {_edn_kind(v)}")
    return _loaded(forms, "edn", top_line)


def _nth_line(text: str, n: int) -> int | None:
    """The line of the `n`-th non-blank line of `text` (JSON lines: entry n's line)."""
    for no, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if n == 0:
                return no
            n -= 1
    return None


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _read_jsonl(text: str, path: str | os.PathLike) -> Loaded:
    values = []
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            values.append(parse_json(line, path))
        except InputError as e:
            reason = re.sub(r" at line 1, column (\d+)$", r" at column \1", e.reason)
            raise _Bad(f"line {no}: {reason.replace('not valid JSON', 'not a valid JSON line')}") from None
    return _loaded(values, "jsonl", lambda n: _nth_line(text, n))


def _loaded(values: list, fmt: str, line_of: Callable[[int], int | None] | None = None) -> Loaded:
    entries, positions, ignored = [], [], {}
    for pos, v in enumerate(values):
        if isinstance(v, dict):
            p = v.get("process")
            if isinstance(p, str):
                ignored[p] = ignored.get(p, 0) + 1
                continue
        entries.append(v)
        positions.append(pos)
    return Loaded(entries, fmt, dict(sorted(ignored.items())), positions, line_of or (lambda n: None))


def _edn_kind(v: Any) -> str:
    return {type(None): "nil", bool: "a boolean", int: "a number", float: "a number", str: "a keyword or string",
            list: "a vector or list", dict: "a map"}.get(type(v), type(v).__name__)


# ----------------------------------------------------------------------------------------- independent keys


def _scalar_key(k: Any) -> bool:
    return isinstance(k, (int, str)) and not isinstance(k, bool)


def independent_keys(entries: list) -> dict[Any, list[int]] | None:
    """The positions in `entries` of each key's entries, for a Jepsen ``independent`` history (every
    invocation's value a pair ``[k v]`` with an integer or string key k, a cas's v itself a pair, and
    every completion either ``[k v]`` with its invocation's key or, for fail and info, any value);
    None when `entries` is not such a history (or is empty). Keys in sorted order (numbers before
    strings)."""
    if not entries:
        return None
    pending: dict[Any, Any] = {}
    groups: dict[Any, list[int]] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            return None
        v, p, t = e.get("value"), e.get("process"), e.get("type")
        pair = isinstance(v, list) and len(v) == 2 and _scalar_key(v[0])
        if pair and e.get("f") == "cas" and not (isinstance(v[1], list) and len(v[1]) == 2):
            return None
        if t == "invoke":
            if not pair:
                return None
            key = v[0]
            pending[p] = key
        else:
            key = pending.pop(p, None) if isinstance(p, int) else None
            if key is None:
                return None
            if not pair and t == "ok":
                return None
            if pair and v[0] != key:
                return None
        groups.setdefault(key, []).append(i)
    return {k: groups[k] for k in sorted(groups, key=lambda k: (isinstance(k, str), k))}


def split_independent(entries: list) -> dict[Any, list[dict]] | None:
    """Jepsen's ``independent`` history split into one history per key: ``{:f :cas :value [3 [1 2]]}``
    becomes ``{:f :cas :value [1 2]}`` in key 3's history (a fail or info completion that does not
    carry the pair keeps its value). None when the values are not ``[k v]`` pairs (see
    `independent_keys`). Each per-key entry is a new dict; the others' keys are kept.

    >>> split_independent([{"process": 0, "type": "invoke", "f": "write", "value": [3, 1]},
    ...                    {"process": 0, "type": "ok", "f": "write", "value": [3, 1]}])
    {3: [{'process': 0, 'type': 'invoke', 'f': 'write', 'value': 1}, {'process': 0, 'type': 'ok', 'f': 'write', \
'value': 1}]}
    """
    groups = independent_keys(entries)
    if groups is None:
        return None
    out = {}
    for key, idx in groups.items():
        per = []
        for i in idx:
            e = entries[i]
            v = e.get("value")
            per.append({**e, "value": v[1] if isinstance(v, list) and len(v) == 2 and v[0] == key else v})
        out[key] = per
    return out


__all__ = ["FORMATS", "EdnError", "Loaded", "independent_keys", "parse_edn",
           "parse_history_text", "read_history", "split_independent"]
