"""Small things several test modules need: a valid PNG without Pillow, a loopback guard."""

from __future__ import annotations

import socket
import struct
import zlib

import pytest


def png(r: int, g: int, b: int, size: int = 2) -> bytes:
    """A size×size PNG of one colour (real bytes: providers and the simulator decode it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((r, g, b)) * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0,
                                                               0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def forbid_non_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to reach a host other than 127.0.0.1 (no internet in tests)."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
