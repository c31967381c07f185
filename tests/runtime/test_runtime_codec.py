"""checker/runtime/codec.py: frames round-trip, and truncated, oversized or garbage frames raise CodecError."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.runtime.cluster import Cluster
from checker.runtime.codec import HEADER, VERSION, Codec, CodecError, read_body
from protocols.primary_backup import NewView, PrimaryBackup, Read, ReadReply, StateTransfer, Write

CLUSTER = Cluster(StateTransfer(servers=3))
CODEC = CLUSTER.codec
FRAMES = [
    CODEC.encode("client1", "server1", Write(2)),
    CODEC.encode("vs1", "server3", NewView(2, "server2", frozenset({"server1", "server3"}))),
    CODEC.encode("server1", "client1", ReadReply(1, 0)),
    CODEC.encode("client1", "server2", Read(2)),
]


def test_every_message_round_trips():
    cluster = Cluster(PrimaryBackup(servers=3))
    for rec in cluster.codec.records:
        for msg in list(rec.values())[:50]:
            frame = cluster.codec.encode("server1", "vs1", msg)
            assert cluster.codec.decode_frame(frame) == ("server1", "vs1", msg)


@pytest.mark.parametrize("frame", FRAMES)
def test_every_truncation_is_rejected(frame):
    for k in range(len(frame)):
        with pytest.raises(CodecError):
            CODEC.decode_frame(frame[:k])
        if k > HEADER:
            with pytest.raises(CodecError):
                CODEC.decode(frame[HEADER:k])


def test_wrong_version_trailing_bytes_bounds_and_ids():
    body = bytearray(FRAMES[0][HEADER:])
    with pytest.raises(CodecError, match="version"):
        CODEC.decode(bytes([VERSION + 1]) + bytes(body[1:]))
    with pytest.raises(CodecError, match="after"):
        CODEC.decode(bytes(body) + b"\0")
    with pytest.raises(CodecError, match="bound"):  # Write's value is Int(1, 2): slot 5 is out of bounds
        CODEC.decode(bytes(body[:-1]) + b"\x05")
    with pytest.raises(CodecError, match="receiver"):
        CODEC.decode(bytes([VERSION, 0, 0, 99, 0]))
    with pytest.raises(CodecError, match="message type"):
        CODEC.decode(bytes([VERSION, 99, 0, 0, 0]))
    with pytest.raises(CodecError, match="non-canonical"):
        CODEC.decode(bytes([VERSION, 0x80, 0x00, 0, 0, 0]))


def test_oversized_frames_are_rejected_before_reading_them():
    small = Codec([Write], CLUSTER.names, CLUSTER.id_types, max_frame=8)
    with pytest.raises(CodecError, match="at most 8"):
        small.decode_frame((1000).to_bytes(HEADER, "big") + b"x" * 1000)
    with pytest.raises(CodecError, match="at most"):
        CODEC.decode(b"\1" * (CODEC.max_frame + 1))

    async def read(data: bytes):
        r = asyncio.StreamReader()
        r.feed_data(data)
        r.feed_eof()
        return await read_body(r, 64)

    with pytest.raises(CodecError, match="at most 64"):
        asyncio.run(read((1 << 30).to_bytes(HEADER, "big")))
    with pytest.raises(CodecError, match="truncated"):
        asyncio.run(read(FRAMES[1][:-1]))
    with pytest.raises(CodecError, match="truncated"):
        asyncio.run(read(b"\0\0"))
    assert asyncio.run(read(b"")) is None
    assert CODEC.decode(asyncio.run(read(FRAMES[1]))) == CODEC.decode_frame(FRAMES[1])


def test_a_message_outside_its_type_is_not_sent():
    with pytest.raises(CodecError):
        CODEC.encode("client1", "server1", Write(9))
    with pytest.raises(CodecError, match="no node"):
        CODEC.encode("client1", "server9", Write(1))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_raises_only_codec_errors(data):
    for decode in (CODEC.decode, CODEC.decode_frame):
        try:
            src, dst, msg = decode(data)
        except CodecError:
            continue
        assert CODEC.decode_frame(CODEC.encode(src, dst, msg)) == (src, dst, msg)  # what decodes is canonical


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FRAMES), st.integers(0, 40), st.integers(0, 255))
def test_flipped_bytes_raise_only_codec_errors(frame, pos, byte):
    data = bytearray(frame)
    data[pos % len(data)] = byte
    try:
        src, dst, msg = CODEC.decode_frame(bytes(data))
    except CodecError:
        return
    assert CODEC.encode(src, dst, msg) == bytes(data)  # a flip that still decodes is another canonical frame
