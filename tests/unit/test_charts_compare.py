"""The Compare result's figures: labels that fit, every item named."""

from __future__ import annotations

import pandas as pd
import pytest

from core import charts

POINTS = {"sim-openai/gpt-4o-mini": (1.0, 0.00009), "sim-gemini/gemini-2.0-flash": (0.64, 0.00004),
          "sim-anthropic/claude-haiku-4-5": (0.80, 0.00020), "local/llama": (0.30, 0.0)}


def _labels(fig):
    return next(t for t in fig.data if t.mode == "markers+text")


def test_pareto_labels_stay_inside_the_axes() -> None:
    fig = charts.compare_pareto(POINTS, ["local/llama", "sim-gemini/gemini-2.0-flash",
                                         "sim-openai/gpt-4o-mini"])
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    trace = _labels(fig)
    positions = list(trace.textposition)
    for x, y, pos in zip(trace.x, trace.y, positions, strict=True):
        assert x0 <= x <= x1 and y0 <= y <= y1
        assert pos.startswith("top")
    # room above the most accurate point for its label, and right of the dearest one
    assert y1 - max(trace.y) >= 0.1
    assert x1 >= max(trace.x) * 1.2
    # the dearest model's label grows leftwards, the cheapest rightwards: neither leaves
    dearest = max(range(len(trace.x)), key=lambda i: trace.x[i])
    cheapest = min(range(len(trace.x)), key=lambda i: trace.x[i])
    assert positions[dearest] == "top left" and positions[cheapest] == "top right"
    assert trace.cliponaxis is False
    assert list(trace.text) == ["gpt-4o-mini", "gemini-2.0-flash", "claude-haiku-4-5", "llama"]


def test_pareto_of_free_models_still_has_a_range() -> None:
    fig = charts.compare_pareto({"a/x": (0.5, 0.0), "b/y": (0.7, 0.0)}, ["b/y"])
    x0, x1 = fig.layout.xaxis.range
    assert x0 == 0 and x1 > 0


@pytest.mark.parametrize("items", [3, 24, 60])
def test_the_item_heat_map_labels_every_item(items: int) -> None:
    rows = [{"item_id": f"photo:item-{i:02d}", "Model": m, "score": (i % 5) / 4}
            for i in range(items) for m in ("gpt-4o-mini", "gemini-2.0-flash")]
    fig = charts.compare_item_scores(pd.DataFrame(rows))
    assert fig is not None
    ids = sorted({r["item_id"] for r in rows})
    assert fig.layout.yaxis.tickmode == "array"
    assert list(fig.layout.yaxis.tickvals) == ids and list(fig.layout.yaxis.ticktext) == ids
    assert list(fig.layout.xaxis.ticktext) == ["gemini-2.0-flash", "gpt-4o-mini"]
    # a row per item, tall enough for its label, besides what the title and axes take
    margin = fig.layout.margin
    rows_px = fig.layout.height - margin.t - margin.b - 40  # the model axis' labels and title
    assert rows_px / items >= 1.5 * fig.layout.yaxis.tickfont.size


def test_no_scores_no_heat_map_and_no_successes_no_latency_chart() -> None:
    empty = pd.DataFrame({"item_id": ["photo:a"], "Model": ["m"], "score": [None],
                          "status": ["error"], "duration_ms": [None]})
    assert charts.compare_item_scores(empty) is None
    assert charts.compare_latency(empty) is None
