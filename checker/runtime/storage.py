"""A node's durable fields in one file, replaced atomically. Standard library only.

`DurableStore.save` writes the fields (JSON through each field's schema type, with a CRC-32 of
the fields' text) to a temporary file in the same folder, fsyncs it, `os.replace`s the real file
with it and fsyncs the folder: a SIGKILL (or power cut) at any moment leaves either the old state
or the new one, never a mix. `load` validates everything and raises `StorageError` naming what is
wrong. Only durable fields are ever written; volatile ones live in memory.

>>> import tempfile, pathlib
>>> from checker.model import Int
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> s = DurableStore(d / "n1.json", {"term": Int(0, 3)}, node="n1")
>>> s.load() is None
True
>>> s.save({"term": 2}); s.load()
{'term': 2}
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..model.schema import SchemaError, Type

FORMAT = 1


class StorageError(ValueError):
    """A durable-state file that cannot be read back: the message names the file and the problem."""


class DurableStore:
    """The durable-state file of node `node`; `fields` maps each durable field to its (bound) type."""

    def __init__(self, path: str | Path, fields: Mapping[str, Type], node: str = ""):
        self.path = Path(path)
        self.fields = dict(fields)
        self.node = node
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """The file's bytes for these durable values (validated; extra keys are an error)."""
        extra = sorted(set(values) - set(self.fields))
        if extra:
            raise StorageError(f"{self.path}: {extra[0]!r} is not a durable field")
        try:
            fields = {f: t.to_json(t.validate(values[f], f)) for f, t in self.fields.items()}
        except KeyError as e:
            raise StorageError(f"{self.path}: durable field {e.args[0]!r} missing") from None
        except SchemaError as e:
            raise StorageError(f"{self.path}: {e}") from None
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        doc = {"format": FORMAT, "node": self.node, "crc32": zlib.crc32(text.encode()), "fields": fields}
        return (json.dumps(doc, sort_keys=True) + "\n").encode()

    def save(self, values: Mapping[str, Any]) -> None:
        """Replace the file with these values, atomically and durably."""
        data = self.encode(values)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self._tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def load(self) -> dict[str, Any] | None:
        """The saved durable values (decoded and validated), or None when nothing was ever saved."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError(f"{self.path}: cannot read: {e.strerror or e}") from None
        return self.decode(raw)

    def decode(self, raw: bytes) -> dict[str, Any]:
        where = str(self.path)
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise StorageError(f"{where}: not a durable-state file: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise StorageError(f"{where}: not a durable-state file of format {FORMAT}")
        if self.node and doc.get("node") != self.node:
            raise StorageError(f"{where}: holds the state of node {doc.get('node')!r}, not {self.node!r}")
        fields = doc.get("fields")
        if not isinstance(fields, dict):
            raise StorageError(f"{where}: no fields")
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        if zlib.crc32(text.encode()) != doc.get("crc32"):
            raise StorageError(f"{where}: checksum mismatch")
        if set(fields) != set(self.fields):
            missing = sorted(set(self.fields) - set(fields))
            what = (
                f"durable field {missing[0]!r} missing"
                if missing
                else f"{sorted(set(fields) - set(self.fields))[0]!r} is no durable field"
            )
            raise StorageError(f"{where}: {what} (was the protocol changed?)")
        try:
            return {f: t.from_json(fields[f], f) for f, t in self.fields.items()}
        except SchemaError as e:
            raise StorageError(f"{where}: {e}") from None
