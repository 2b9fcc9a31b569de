"""Real PNG files made with the standard library (zlib, struct), for the fake image-generation API.

Pure: a solid-colour RGB image of the asked size, valid for any PNG decoder.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 4096


def solid_png(width: int, height: int, rgb: tuple[int, int, int] = (64, 128, 255)) -> bytes:
    """A `width` x `height` PNG filled with one colour."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        msg = f"PNG sides must be within 1..{MAX_SIDE}, not {width}x{height}"
        raise ValueError(msg)
    row = b"\x00" + bytes(rgb) * width  # filter byte 0 (none), then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height, 6))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height read from a PNG's header chunk."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        msg = "not a PNG file"
        raise ValueError(msg)
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    checksum = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", checksum)
