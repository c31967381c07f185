"""Wire frames for a protocol's messages, encoded with the typed schema. Standard library only.

A frame is a 4-byte big-endian length, then the body: a version byte (`VERSION`), then unsigned
LEB128 varints: the message type's index in the protocol's `messages`, the sender's and the
receiver's indices in the node list, and the message's slots (its schema encoding; the type fixes
how many). Decoding checks everything: the version, every index, each slot against its bound,
that the slots decode to a valid value whose encoding is exactly these slots (so one value has one
frame), and that nothing trails. Anything else raises `CodecError`; so does a frame longer than
`max_frame` bytes, or one cut short.

>>> from checker.model import Int, Message
>>> class Ping(Message):
...     n = Int(0, 300)
>>> c = Codec([Ping], ("a", "b"))
>>> frame = c.encode("a", "b", Ping(200)); frame.hex()
'0000000601000001c801'
>>> c.decode(frame[4:])
('a', 'b', Ping(200))
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..model.node import Message
from ..model.schema import Record, SchemaError, Type, bind

VERSION = 1
MAX_FRAME = 1 << 16  # bytes of one frame's body
HEADER = 4


class CodecError(ValueError):
    """A frame that is not a valid message of this protocol: the message says what is wrong."""


def put_varint(n: int, out: bytearray) -> None:
    """Append `n` (an int >= 0) as unsigned LEB128."""
    if n < 0:
        raise CodecError(f"cannot encode a negative slot {n}")
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def get_varint(data: bytes | memoryview, i: int, max_bits: int) -> tuple[int, int]:
    """The varint at `data[i:]` and the index after it; longer than `max_bits` bits: CodecError."""
    n = shift = 0
    while True:
        if i >= len(data):
            raise CodecError("truncated frame: a varint runs past the end")
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if b == 0 and shift > 7:
                raise CodecError("non-canonical varint (a trailing zero byte)")
            return n, i
        if shift >= max_bits + 7:
            raise CodecError(f"varint longer than {max_bits} bits")


class Codec:
    """Encodes and decodes the frames of one protocol instance's messages between its nodes.

    `messages`: the protocol's Message classes, in order; `nodes`: every node id, in order;
    `ids`: the protocol's role -> NodeId types, to bind `Ids(role)` fields (none needed if unused).
    """

    def __init__(
        self,
        messages: Sequence[type[Message]],
        nodes: Sequence[str],
        ids: dict[str, Type] | None = None,
        max_frame: int = MAX_FRAME,
    ):
        self.nodes = tuple(nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.max_frame = max_frame
        self.records: list[Record] = [
            Record(m.__name__, _value_class=m, **{k: bind(t, ids or {}) for k, t in m._types.items()}) for m in messages
        ]
        self.by_class = {r.value_class: k for k, r in enumerate(self.records)}
        self.slot_bounds = [r.bounds() for r in self.records]
        self._max_bits = max(
            [b.bit_length() for bs in self.slot_bounds for b in bs] + [len(self.nodes).bit_length(), 8]
        )

    def encode(self, src: str, dst: str, msg: Message) -> bytes:
        """The whole frame (length prefix included) carrying `msg` from `src` to `dst`."""
        k = self.by_class.get(type(msg))
        if k is None:
            raise CodecError(f"{msg!r} is no message of this protocol")
        for who, name in (("sender", src), ("receiver", dst)):
            if name not in self.index:
                raise CodecError(f"{who} {name!r} is no node (nodes: {', '.join(self.nodes)})")
        try:
            slots = self.records[k].encode(msg)
        except SchemaError as e:
            raise CodecError(f"{msg!r}: {e}") from None
        body = bytearray([VERSION])
        for n in (k, self.index[src], self.index[dst], *slots):
            put_varint(n, body)
        if len(body) > self.max_frame:
            raise CodecError(f"{msg!r} needs a frame of {len(body)} bytes; at most {self.max_frame}")
        return len(body).to_bytes(HEADER, "big") + bytes(body)

    def decode(self, body: bytes | memoryview) -> tuple[str, str, Message]:
        """(sender, receiver, message) of a frame's body (the bytes after its length)."""
        if len(body) > self.max_frame:
            raise CodecError(f"frame of {len(body)} bytes; at most {self.max_frame}")
        if not body:
            raise CodecError("empty frame")
        if body[0] != VERSION:
            raise CodecError(f"frame version {body[0]}; this runtime speaks version {VERSION}")
        i, fields = 1, []
        for _ in range(3):
            v, i = get_varint(body, i, self._max_bits)
            fields.append(v)
        k, src, dst = fields
        if k >= len(self.records):
            raise CodecError(f"message type {k}; the protocol has {len(self.records)}")
        for who, n in (("sender", src), ("receiver", dst)):
            if n >= len(self.nodes):
                raise CodecError(f"{who} {n}; there are {len(self.nodes)} nodes")
        rec, bounds = self.records[k], self.slot_bounds[k]
        slots = []
        for b in bounds:
            v, i = get_varint(body, i, self._max_bits)
            if v >= b:
                raise CodecError(f"{rec.name}: slot {len(slots)} is {v}, out of its bound {b}")
            slots.append(v)
        if i != len(body):
            raise CodecError(f"{len(body) - i} byte(s) after the end of {rec.name}")
        try:
            msg = rec.decode(slots)
            canon = rec.validate(msg, rec.name)
            if rec.encode(canon) != tuple(slots):
                raise CodecError(f"{rec.name}: a non-canonical encoding")
        except (SchemaError, IndexError, KeyError, ValueError, TypeError) as e:
            if isinstance(e, CodecError):
                raise
            raise CodecError(f"{rec.name}: {e}") from None
        return self.nodes[src], self.nodes[dst], canon

    def decode_frame(self, frame: bytes) -> tuple[str, str, Message]:
        """Decode a whole frame, length prefix included (exactly one frame)."""
        if len(frame) < HEADER:
            raise CodecError("truncated frame: no complete length prefix")
        n = int.from_bytes(frame[:HEADER], "big")
        if n > self.max_frame:
            raise CodecError(f"frame of {n} bytes announced; at most {self.max_frame}")
        if len(frame) - HEADER < n:
            raise CodecError(f"truncated frame: {len(frame) - HEADER} of {n} bytes")
        if len(frame) - HEADER > n:
            raise CodecError(f"{len(frame) - HEADER - n} byte(s) after the frame")
        return self.decode(frame[HEADER:])

    def to_json(self, msg: Message) -> dict[str, Any]:
        """A message as JSON: {"type": name, field: value, ...}."""
        rec = self.records[self.by_class[type(msg)]]
        return {"type": rec.name, **rec.to_json(msg)}


async def read_body(reader: asyncio.StreamReader, max_frame: int = MAX_FRAME) -> bytes | None:
    """The next frame's body from a stream; None at a clean end of stream. A length over
    `max_frame` or a frame cut short raises CodecError (the stream cannot be resynchronised)."""
    try:
        head = await reader.readexactly(HEADER)
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise CodecError("truncated frame: the stream ended inside a length prefix") from None
    n = int.from_bytes(head, "big")
    if n > max_frame:
        raise CodecError(f"frame of {n} bytes announced; at most {max_frame}")
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as e:
        raise CodecError(f"truncated frame: the stream ended after {len(e.partial)} of {n} bytes") from None
