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


KEYS = ["sim-openai/gpt-4o-mini", "sim-gemini/gemini-2.0-flash"]


def _start(at, photos: list[str], features: list[str] | None = None) -> None:
    box = at.multiselect(key="cmp_models")
    assert all(any(o.startswith(k.split("/")[1]) for o in box.options) for k in KEYS), \
        box.options  # shown as "model · provider name"
    box.set_value(KEYS)
    at.multiselect(key="cmp_photos").set_value(photos)
    if features is not None:
        at.multiselect(key="cmp_features").set_value(features)
    at.number_input(key="cmp_iter").set_value(1)
    at.run(timeout=60)
    assert any("= " in c.value and "calls" in c.value for c in at.caption)
    at.button(key="cmp_start").click().run(timeout=60)
    assert not at.exception, at.exception


def _wait_for_results(at) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        at.run(timeout=60)
        if any(m.label == "Best overall" for m in at.metric):
            break
        time.sleep(0.5)
    assert not at.exception, at.exception[0].stack_trace
    assert any(m.label == "Best overall" for m in at.metric), "the run did not finish"


def _table(at, *columns: str):
    """The one dataframe on the page with these columns."""
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def test_run_a_comparison_and_see_the_results(seeded_home: Path, sim) -> None:
    at = _open("analyst")
    _start(at, ["chelsea", "coffee", "astronaut", "rocket"])
    _wait_for_results(at)
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


def test_recommendations_rerun_and_runs_compared(seeded_home: Path, sim) -> None:
    at = _open("analyst")
    _start(at, ["chelsea", "coffee", "astronaut", "rocket", "horse", "coins"],
           features=["safety_chat", "search_processing"])
    _wait_for_results(at)
    # recommendations: a best overall with a confidence, and trade-offs in words
    assert any(s.value == "Recommendations" for s in at.subheader)
    text = " ".join(m.value for m in at.markdown)
    assert "Best overall:" in text and "Trade-offs:" in text
    assert "Best for photo_analysis:" in text and "Best for safety_chat:" in text
    confidences = [m.value for m in at.metric if m.label == "Confidence"]
    assert confidences and all(c.endswith("%") and 0 <= int(c[:-1]) <= 100
                               for c in confidences)
    best = next(m.value for m in at.metric if m.label == "Best overall")
    assert f"Best overall: {best}" in text  # the recommendation names the analysis's best

    # run the same spec again from Past runs: a second run, same calls
    at.button(key="runs_rerun").click().run(timeout=60)
    assert not at.exception, at.exception
    assert any("Started a new run" in s.value for s in at.success)
    _wait_for_results(at)
    at.run(timeout=60)
    runs = _table(at, "Status")
    assert len(runs) == 2 and runs["Done"].nunique() == 1 and (runs["Status"] == "done").all()

    # compare the two runs: every model matched, a verdict for each
    picker = at.multiselect(key="runs_compare")
    assert len(picker.options) == 2 and picker.options[0] != picker.options[1]
    picker.set_value(list(runs["Run"])[::-1])  # oldest first: the baseline
    at.run(timeout=60)
    assert not at.exception, at.exception
    changes = _table(at, "Verdict")
    assert sorted(changes["Model"]) == sorted(KEYS)
    assert (changes["Shared items"] == 6 + 11 + 11).all()
    assert changes["Verdict"].isin(["no significant change in accuracy", "more accurate",
                                    "less accurate"]).all()
    assert len(_table(at, "$ / accurate result", "Run")) == 4
