"""AppTest: the Compare page — set up a comparison on sample photos and prompts, watch it
run in the background, see winners with intervals, charts and side-by-side outputs."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.helpers import page_path, png, signed_in, yaml_bomb


def _open(username: str):
    at = signed_in(username)
    at.switch_page(page_path("compare")).run(timeout=60)
    assert not at.exception, at.exception
    return at


KEYS = ["sim-openai/gpt-4o-mini", "sim-gemini/gemini-2.0-flash"]


def _start(at, photos: list[str], features: list[str] | None = None,
           comparison_type: str | None = None) -> None:
    box = at.multiselect(key="cmp_models")
    assert all(any(o.startswith(k.split("/")[1]) for o in box.options) for k in KEYS), \
        box.options  # shown as "model · provider name"
    box.set_value(KEYS)
    at.multiselect(key="cmp_photos").set_value(photos)
    if features is not None:
        at.multiselect(key="cmp_features").set_value(features)
    at.number_input(key="cmp_iter").set_value(1)
    if comparison_type is not None:
        at.selectbox(key="cmp_type").set_value(comparison_type)
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
    """The seeded simulator answers these 15 items the same way every time: gpt-4o-mini is
    more accurate (0.76 vs 0.63), gemini-2.0-flash costs half as much per accurate answer,
    and 15 items are too few for the accuracy gap to be significant. The accuracy weights
    make the best overall independent of the measured latencies (wall-clock, so not seeded):
    speed and cost together weigh less than the accuracy lead."""
    at = _open("analyst")
    _start(at, ["chelsea", "coffee", "astronaut", "rocket"], comparison_type="accuracy")
    _wait_for_results(at)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Best overall"] == "gpt-4o-mini"  # short names
    assert labels["Most accurate"] == "gpt-4o-mini"
    assert labels["Most cost-effective"] == "gemini-2.0-flash"
    summary = next(d.value for d in at.dataframe if "Accuracy 95% CI" in d.value.columns)
    assert len(summary) == 2 and (summary["Calls"] == 4 + 11).all()
    assert not at.success  # no winner...
    assert any(i.value.startswith("no significant difference on accuracy between "
                                  "sim-openai/gpt-4o-mini and sim-gemini/gemini-2.0-flash "
                                  "(15 items)") for i in at.info), [i.value for i in at.info]
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
    assert re.search(rf"Best overall: sim-[a-z]+/{re.escape(best)}\b", text), (best, text)

    # run the same spec again from Past runs: a second run, same calls
    at.segmented_control(key="compare_view").set_value("Past runs").run(timeout=60)
    at.button(key="runs_rerun").click().run(timeout=60)
    assert not at.exception, at.exception
    assert any("Started a new run" in s.value for s in at.success)
    _wait_for_results(at)  # Run again moved the page to the Comparison view
    at.segmented_control(key="compare_view").set_value("Past runs").run(timeout=60)
    runs = _table(at, "Status")
    assert len(runs) == 2 and runs["Done"].nunique() == 1 and (runs["Status"] == "done").all()

    # compare the two runs: every model matched, a verdict for each
    picker = at.multiselect(key="runs_compare")
    assert len(picker.options) == 2 and picker.options[0] != picker.options[1]
    picker.set_value(list(runs["Run"]))  # newest first: the page makes the earliest baseline
    at.run(timeout=60)
    assert not at.exception, at.exception
    changes = _table(at, "Verdict")
    assert sorted(changes["Model"]) == sorted(KEYS)
    older = runs["Run"].iloc[-1]  # the table lists the newest first
    assert changes["Baseline"].str.endswith(older[:6]).all()
    assert (changes["Shared items"] == 6 + 11 + 11).all()
    # the seeded simulator answers a repeated request differently (its n-th time), but over
    # 28 items neither model's change is beyond chance
    assert (changes["Verdict"] == "no significant change in accuracy").all(), changes
    assert len(_table(at, "$ / accurate result", "Run")) == 4


LABELS = b"""photos:
  red.png: {tags: [red, square], synonyms: {red: [crimson]}, description: A red square.}
  blue.png: {tags: [blue, square], description: A blue square.}
  green.png: {tags: [green, square]}
"""
PROMPTS_CSV = (b"id,feature,prompt,reference,icontains\n"
               b"sq-1,search_processing,Which colour is the first square?,Red.,red\n"
               b"sq-2,search_processing,,Blue.,blue\n"  # no prompt: skipped with its row
               b"sq-3,search_processing,Which colour is the second square?,Blue.,blue\n")


def _upload_set(at, name: str) -> None:
    at.switch_page(page_path("compare")).run(timeout=60)
    at.segmented_control(key="compare_view").set_value("Your samples").run(timeout=60)
    at.text_input(key="up_name").input(name)
    box = at.file_uploader(key="up_photos")
    box.upload("red.png", png(200, 0, 0, 8), "image/png")
    box.upload("blue.png", png(0, 0, 200, 8), "image/png")
    box.upload("notes.png", b"not an image at all", "image/png")
    at.run(timeout=60)
    at.file_uploader(key="up_labels").upload("labels.yaml", LABELS, "application/yaml")
    at.run(timeout=60)
    at.file_uploader(key="up_prompts").upload("prompts.csv", PROMPTS_CSV, "text/csv")
    at.run(timeout=60)
    at.button(key="up_save").click().run(timeout=60)
    assert not at.exception, at.exception


def test_upload_own_samples_judge_them_and_delete_the_set(seeded_home: Path, sim) -> None:
    at = _open("analyst")
    _upload_set(at, "Squares")
    saved = [s.value for s in at.success]
    assert any("Saved “Squares”: 2 photos (2 labelled) and 2 prompts" in s for s in saved), saved
    # labels for a photo that was not uploaded are not dropped without a word
    assert any("not in the set, so those labels were not used: green.png" in w.value
               for w in at.warning), [w.value for w in at.warning]
    problems = _table(at, "Problem")
    assert any("notes.png" in f for f in problems["File"])  # the bad photo, by name
    assert any(w == "row 3" for w in problems["Where"])  # the bad CSV row, by row
    sets = _table(at, "Labelled", "Prompts")
    assert list(sets["Name"]) == ["Squares"] and sets["Photos"].iloc[0] == 2

    # compare two models on the uploaded set only, with a judge on its prompts
    at.segmented_control(key="compare_view").set_value("Comparison").run(timeout=60)
    at.multiselect(key="cmp_sets").set_value([sets["Id"].iloc[0]])
    at.checkbox(key="cmp_bundled").uncheck()
    at.run(timeout=60)
    photos = at.multiselect(key="cmp_photos")
    assert sorted(photos.options) == ["blue", "red"] and sorted(photos.value) == ["blue", "red"]
    features = at.multiselect(key="cmp_features")
    assert features.options == ["search_processing (2)"]  # only the set's prompts
    features.set_value(["search_processing"])
    at.toggle(key="cmp_judge").set_value(True)
    at.run(timeout=60)
    at.selectbox(key="cmp_judge_model").set_value("sim-openai/gpt-4.1")
    at.multiselect(key="cmp_models").set_value(KEYS)
    at.number_input(key="cmp_iter").set_value(1)
    at.run(timeout=60)
    caption = " ".join(c.value for c in at.caption)
    assert "2 models × 4 items × 1 iterations = 8 calls, plus up to 4 judge calls" in caption
    at.button(key="cmp_start").click().run(timeout=60)
    assert not at.exception, at.exception
    _wait_for_results(at)
    summary = _table(at, "Accuracy 95% CI")
    assert (summary["Calls"] == 4).all()
    assert any("Judge sim-openai/gpt-4.1: graded" in c.value for c in at.caption)
    # side by side shows the uploaded photo's expected tags and the judge's reason
    assert sorted(at.selectbox(key="cmp_item").options) == [
        "photo:blue", "photo:red", "prompt:sq-1", "prompt:sq-3"]
    at.selectbox(key="cmp_item").set_value("prompt:sq-1").run(timeout=60)
    texts = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Which colour is the first square?" in texts and "Judge" in texts
    assert "llm-rubric" in texts

    # delete the set: it needs a confirmation, then it is gone
    at.segmented_control(key="compare_view").set_value("Your samples").run(timeout=60)
    assert at.button(key="sets_delete").disabled
    at.checkbox(key="sets_delete_sure").check().run(timeout=60)
    at.button(key="sets_delete").click().run(timeout=60)
    assert any("Deleted “Squares”" in s.value for s in at.success)
    assert any("No sample sets yet" in i.value for i in at.info)


def test_a_viewer_sees_sample_sets_but_cannot_upload(seeded_home: Path, sim) -> None:
    at = _open("viewer")
    at.segmented_control(key="compare_view").set_value("Your samples").run(timeout=60)
    assert "up_save" not in {b.key for b in at.button}
    assert not at.file_uploader
    assert any("No sample sets yet." == i.value for i in at.info)


def test_cancel_a_run_then_resume_it_without_repeating_calls(seeded_home: Path, sim) -> None:
    from core.compare import jobs

    sim.simulator.add_fault({"latency_ms": 150})  # slow enough to cancel part-way
    at = _open("analyst")
    at.number_input(key="cmp_conc").set_value(1)
    _start(at, ["chelsea", "coffee", "astronaut", "rocket"], features=[])
    run_id = at.session_state["compare_run"]
    assert "run_cancel" in {b.key for b in at.button}  # progress panel with a Cancel button
    assert any(" of 8 calls" in p.text for p in at.get("progress")), "no progress bar"
    deadline = time.monotonic() + 30
    while jobs.status(run_id).done < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    at.button(key="run_cancel").click().run(timeout=60)
    assert jobs.wait(run_id, timeout=30).state == "cancelled"
    at.run(timeout=60)
    assert any("This run was cancelled" in w.value for w in at.warning)
    done_before = jobs.status(run_id).done
    assert 2 <= done_before < 8
    sim.simulator.clear_faults()
    at.button(key="run_resume").click().run(timeout=60)
    assert not at.exception, at.exception
    assert jobs.wait(run_id, timeout=60).state == "done"
    _wait_for_results(at)
    summary = _table(at, "Accuracy 95% CI")
    assert (summary["Calls"] == 4).all()  # 8 calls in all: none lost...
    served = sim.simulator.stats()["by_model"]
    asked = served["openai"]["gpt-4o-mini"]["requests"] + \
        served["gemini"]["gemini-2.0-flash"]["requests"]
    assert asked == 8  # ...and none repeated: the simulator answered each call once


def test_a_run_interrupted_by_a_stopped_app_can_be_resumed(seeded_home: Path, sim) -> None:
    """The app stopped mid-run: the run still says running, owned by a process that is gone.
    The page says so (instead of waiting forever) and resumes it."""
    from core.compare import jobs
    from core.compare.spec import parse_spec
    from core.settings import get_settings
    from core.warehouse import comparison_runs as wc
    from core.warehouse.db import Warehouse

    wh = Warehouse(get_settings().warehouse_path)
    spec = parse_spec({"models": KEYS, "photos": ["chelsea", "coffee"], "iterations": 1})
    run_id = wc.create_run(wh, "demo", spec.name, spec.model_dump(mode="json"),
                           created_by="analyst", total_calls=4)
    # as if the process running it had died: status running, owned by a process that is gone
    wc.mark_status(wh, "demo", run_id, "running", owner=f"{jobs.HOST}|999999999|gone")
    wh.close()
    at = _open("analyst")
    at.session_state["compare_run"] = run_id
    at.run(timeout=60)
    assert any("interrupted: the app stopped while it ran" in w.value for w in at.warning)
    assert not at.get("progress")
    at.button(key="run_resume").click().run(timeout=60)
    assert jobs.wait(run_id, timeout=60).state == "done"
    _wait_for_results(at)


def test_advanced_settings_go_into_the_run_spec(seeded_home: Path, sim) -> None:
    from core.settings import get_settings
    from core.warehouse import comparison_runs as wc
    from core.warehouse.db import Warehouse

    at = _open("analyst")
    at.multiselect(key="cmp_models").set_value(KEYS).run(timeout=60)
    at.number_input(key="cmp_timeout").set_value(20)
    at.checkbox(key="cmp_temp_on").check()
    at.run(timeout=60)
    at.slider(key="cmp_temp").set_value(0.0)
    at.number_input(key="cmp_max_tokens").set_value(300)
    at.number_input(key="cmp_rpm_sim-openai").set_value(600)
    _start(at, ["chelsea"], features=[])
    wh = Warehouse(get_settings().warehouse_path)
    spec = wc.get_run(wh, "demo", at.session_state["compare_run"]).spec
    wh.close()
    assert spec["timeout_s"] == 20 and spec["temperature"] == 0.0 and spec["max_tokens"] == 300
    assert spec["rate_limits_rpm"] == {"sim-openai": 600} and spec["retries"] == 2


def test_a_yaml_bomb_as_labels_is_refused_on_the_page(seeded_home: Path, sim) -> None:
    at = _open("analyst")
    at.segmented_control(key="compare_view").set_value("Your samples").run(timeout=60)
    at.text_input(key="up_name").input("Bomb")
    at.file_uploader(key="up_photos").upload("red.png", png(200, 0, 0, 8), "image/png")
    at.run(timeout=60)
    at.file_uploader(key="up_labels").upload("labels.yaml", yaml_bomb().encode(), "application/yaml")
    at.run(timeout=60)
    at.button(key="up_save").click().run(timeout=60)
    assert not at.exception, at.exception
    problems = _table(at, "Problem")
    refused = problems[problems["File"] == "labels.yaml"]
    assert list(refused["Where"]) == ["line 1"] and list(refused["Level"]) == ["error"]
    assert refused["Problem"].iloc[0].startswith("not read: YAML anchors and aliases")


def test_csv_downloads_neutralise_spreadsheet_formulas(seeded_home: Path, sim,
                                                       offered_downloads: dict) -> None:
    """A sample set's name and a photo's file name are the user's text: in the CSVs the
    page offers they come out as text, never as formulas a spreadsheet would run."""
    offered = offered_downloads
    at = _open("analyst")
    at.segmented_control(key="compare_view").set_value("Your samples").run(timeout=60)
    at.text_input(key="up_name").input("@SUM(1+1)")
    box = at.file_uploader(key="up_photos")
    box.upload("red.png", png(200, 0, 0, 8), "image/png")
    box.upload("=HYPERLINK(1).png", b"not an image", "image/png")
    at.run(timeout=60)
    at.button(key="up_save").click().run(timeout=60)
    assert not at.exception, at.exception
    problems = offered["dl_upload"]
    sets = offered["dl_sets"]
    assert isinstance(problems, bytes) and isinstance(sets, bytes)
    assert b"'=HYPERLINK(1).png" in problems and b"\n=HYPERLINK" not in problems
    assert b"'@SUM(1+1)" in sets and b"\n@SUM" not in sets
