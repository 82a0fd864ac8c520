"""Archived WAL is decompressed in one allocation only when its frame states a sane size.

The fast path (one-shot decompression into the size the frame header states) must not
turn a damaged header into a huge allocation, and must not accept a stream it would
previously have refused.
"""

from __future__ import annotations

import os
import struct

import pytest

from chairside.ops.backup import codec

_DATA = os.urandom(1000) * 2000


def _claiming(size: int) -> bytes:
    """A real frame of ``_DATA`` whose header claims ``size`` bytes (8-byte size field)."""
    frame = codec.compress_bytes(_DATA)
    assert frame[4] & 0xC0 == 0x80  # 4-byte content size field, as compress_bytes writes
    header = bytes([frame[4] | 0xC0]) + frame[5:6] + struct.pack("<Q", size)
    return frame[:4] + header + frame[10:]


def test_it_decompresses_one_frame_to_its_content() -> None:
    assert codec.decompress_bytes(codec.compress_bytes(_DATA)) == _DATA


def test_it_decompresses_several_frames_in_a_row() -> None:
    frame = codec.compress_bytes(_DATA)
    assert codec.decompress_bytes(frame + frame) == _DATA + _DATA


def test_it_refuses_a_header_claiming_a_huge_size_without_allocating_it() -> None:
    with pytest.raises(codec.IntegrityError, match="not a valid zstd stream"):
        codec.decompress_bytes(_claiming(1 << 62))


def test_it_refuses_what_is_not_zstd() -> None:
    with pytest.raises(codec.IntegrityError, match="not a valid zstd stream"):
        codec.decompress_bytes(b"not a zstd frame at all")
