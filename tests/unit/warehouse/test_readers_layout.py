"""The readers form a tree: formats dispatches to litellm/otel, which share core.warehouse.stage."""

from __future__ import annotations

import tempfile
from pathlib import Path

import grimp
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.warehouse import formats


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("core")


@pytest.mark.parametrize("reader", ["core.warehouse.litellm", "core.warehouse.otel",
                                    "core.warehouse.load", "core.warehouse.stage"])
def test_readers_do_not_import_formats(graph: grimp.ImportGraph, reader: str) -> None:
    assert graph.find_shortest_chain(importer=reader, imported="core.warehouse.formats") is None


def test_no_cycle_among_the_warehouse_readers(graph: grimp.ImportGraph) -> None:
    modules = ["core.warehouse." + m for m in ("formats", "litellm", "otel", "load", "stage",
                                               "ingest")]
    for a in modules:
        for b in modules:
            if a != b and graph.find_shortest_chain(importer=a, imported=b):
                assert graph.find_shortest_chain(importer=b, imported=a) is None, (a, b)


def test_read_any_refuses_parquet_bytes_without_leaving_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parquet is streamed from a path by ingest; read_any once wrote a temp file and leaked it."""
    src = tmp_path / "src.parquet"
    pq.write_table(pa.table({"request_id": ["a"]}), src)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(ValueError, match="read from a path"):
        formats.read_any(src.read_bytes(), "events.parquet")
    assert list(scratch.iterdir()) == []
