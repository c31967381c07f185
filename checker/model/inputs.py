"""Reading the files faultcheck is given (specs, traces, histories, checkpoints' metadata), safely.

Regular files only (a FIFO or a device is refused without blocking), at most a size cap per kind of
file, strict UTF-8, JSON and TOML nested at most `MAX_DEPTH` deep. Every failure is an `InputError`
whose message is one line starting with the file's name. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from typing import Any

MiB = 1 << 20
SPEC_LIMIT = 1 * MiB  # a spec file (TOML); the committed ones are a few hundred bytes
TRACE_LIMIT = 64 * MiB  # a trace file (JSON); the committed counterexamples are under 40 KiB
HISTORY_LIMIT = 256 * MiB  # a client history (JSON); Porcupine's largest is 350 KiB
CHECKPOINT_LIMIT = 16 * MiB  # the JSON header of a checkpoint (its states are arrays beside it)
CACHE_LIMIT = 16 * MiB  # lint's cache of findings (a few hundred bytes per set of invariants)
MAX_DEPTH = 64  # arrays/objects/tables inside one another; committed files nest at most 15 deep

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class InputError(ValueError):
    """A file that cannot be read or parsed: `str(e)` is one line, ``<path>: <what was wrong>``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = " ".join(reason.split())  # one line, whatever the parser said
        super().__init__(f"{self.path}: {self.reason}")


def describe_limit(limit: int) -> str:
    """A size for people: ``1 MiB``, ``64 MiB``, ``512 bytes``."""
    if limit >= MiB and limit % MiB == 0:
        return f"{limit // MiB} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bytes(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file `path`, refused if it holds more than `limit` bytes.

    The file is looked at (stat) before it is opened, and opened without blocking, so a named pipe
    or a device is refused rather than waited on or read forever."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        raise InputError(path, f"cannot read: {getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, f"is {_kind(st.st_mode)}: cannot read it as a {what} file")
    if st.st_size > limit:
        raise InputError(path, f"is {st.st_size:,} bytes: a {what} file may hold at most {describe_limit(limit)}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)  # what was opened, which may not be what was looked at
        if not stat.S_ISREG(st.st_mode):
            raise InputError(path, f"is {_kind(st.st_mode)}: cannot read it as a {what} file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if size > limit:  # it grew while being read, or claimed a smaller size
        raise InputError(path, f"holds more than {describe_limit(limit)}: a {what} file may hold at most that")
    return b"".join(chunks)


def read_text(path: str | os.PathLike, limit: int, what: str = "file") -> str:
    """`read_bytes`, decoded as strict UTF-8."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(path, f"not UTF-8 text: cannot read byte {e.start} (line {line}): {e.reason}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(text: str, path: str | os.PathLike, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text read from `path`: standard JSON only (no NaN or Infinity), nested at most `max_depth`
    deep, no unpaired UTF-16 surrogate in a string."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON (truncated?): {e.msg} at line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise InputError(path, f"not readable JSON: nested deeper than {max_depth} levels") from None
    except MemoryError:
        raise InputError(path, "not readable JSON: too large to hold in memory") from None
    except ValueError as e:  # NaN, an integer of thousands of digits
        raise InputError(path, f"not valid JSON: {e}") from None
    _check_nesting(value, path, max_depth, "JSON", strings=bool(_SURROGATE_ESCAPE.search(text)))
    return value


def parse_toml(text: str, path: str | os.PathLike, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """TOML text read from `path`, nested at most `max_depth` deep."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(path, f"not valid TOML: {e}") from None
    except RecursionError:
        raise InputError(path, f"not readable TOML: nested deeper than {max_depth} levels") from None
    except MemoryError:
        raise InputError(path, "not readable TOML: too large to hold in memory") from None
    except ValueError as e:  # an integer of thousands of digits
        raise InputError(path, f"not valid TOML: {e}") from None
    _check_nesting(value, path, max_depth, "TOML", strings=False)
    return value


def read_json(path: str | os.PathLike, limit: int, what: str = "JSON", max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in the file `path` (see `read_bytes` and `parse_json`)."""
    return parse_json(read_text(path, limit, what), path, max_depth)


def read_toml(path: str | os.PathLike, limit: int = SPEC_LIMIT, what: str = "spec",
              max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The TOML table in the file `path` (see `read_bytes` and `parse_toml`)."""
    return parse_toml(read_text(path, limit, what), path, max_depth)


def _check_nesting(value: Any, path: str | os.PathLike, max_depth: int, lang: str, strings: bool) -> None:
    """Refuse `value` nested deeper than `max_depth` (without recursion); with `strings`, also a string
    holding an unpaired surrogate, which no UTF-8 output can print."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        x, depth = stack.pop()
        if isinstance(x, dict):
            items: Any = x.values()
            if strings:
                _check_strings(x.keys(), path)
        elif isinstance(x, list):
            items = x
        else:
            if strings and isinstance(x, str):
                _check_strings((x,), path)
            continue
        if depth >= max_depth:
            raise InputError(path, f"not readable {lang}: nested deeper than {max_depth} levels")
        stack.extend((y, depth + 1) for y in items if strings or isinstance(y, (dict, list)))


def _check_strings(xs: Any, path: str | os.PathLike) -> None:
    for s in xs:
        if not s.isascii():
            try:
                s.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InputError(path, f"a JSON string holds an unpaired surrogate \\u{ord(s[e.start]):04x}") from None


__all__ = [
    "CACHE_LIMIT", "CHECKPOINT_LIMIT", "HISTORY_LIMIT", "MAX_DEPTH", "SPEC_LIMIT", "TRACE_LIMIT", "InputError", "MiB",
    "describe_limit", "parse_json", "parse_toml", "read_bytes", "read_json", "read_text", "read_toml",
]
