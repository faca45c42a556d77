"""Small things several test modules need: a valid PNG without Pillow, a loopback guard,
comparison result rows with known properties."""

from __future__ import annotations

import socket
import struct
import zlib

import numpy as np
import pandas as pd
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


def fake_results(models: dict[str, dict], items: int = 30, iterations: int = 2,
                 seed: int = 0, features: tuple[str, ...] = ("photo",)) -> pd.DataFrame:
    """``comparison_results``-like rows: per model key a mean ``score``, latency ``ms`` and
    ``cost`` per call, optional ``sd`` (score noise), ``errors`` (share failing) and ``vary``
    (answers differ across iterations). Items share a difficulty that pairing cancels."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, m in models.items():
        for j in range(items):
            kind = features[j % len(features)]
            item = f"{'photo' if kind == 'photo' else 'prompt'}:{kind}-{j}"
            difficulty = (j % 5) / 10  # shared by every model: what pairing cancels
            for it in range(iterations):
                score = float(np.clip(m["score"] - difficulty + rng.normal(0, m.get("sd", .1)),
                                      0, 1))
                ok = rng.random() >= m.get("errors", 0.0)
                rows.append({
                    "model_key": key, "item_id": item, "iteration": it + 1,
                    "status": "ok" if ok else "error",
                    "duration_ms": m["ms"] * float(np.exp(rng.normal(0, .2))) if ok else None,
                    "cost_usd": m["cost"], "score": score if ok else 0.0,
                    "bucket": ("accurate" if score >= .8 else "partial" if score >= .4
                               else "failed") if ok else "failed",
                    "tags_json": None,
                    "output_text": f"{key} on {item}" + (f" take {it}" if m.get("vary") else ""),
                })
    return pd.DataFrame(rows)
