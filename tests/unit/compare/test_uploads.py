"""Comparisons on users' own samples, against the provider simulator on 127.0.0.1: the
simulator is taught an uploaded set's ground truth so a good simulated model scores well on
it (far above the latent-random answers it gives photos nobody told it about); real
providers are never told; a resumed or reopened run sees the same items; and
``switchyard compare`` / ``switchyard samples`` work with folders and uploaded sets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from core.cli import main
from core.compare import jobs, service
from core.compare.sample_store import SampleStore
from core.compare.spec import ComparisonSpec, SpecError, dump_spec, parse_spec
from core.config_store import ProviderStore
from core.connections import ensure_demo_providers
from core.domain import DEMO_ORG
from core.simulator.truth import VOCABULARY
from core.warehouse import comparison_runs as wc
from core.warehouse.db import Warehouse
from tests.helpers import forbid_non_loopback

pytestmark = pytest.mark.timeout(180)

# Tags no latent stand-in truth can contain (the simulator draws those from VOCABULARY).
PARTS = ["sprocket", "gasket", "flange", "rivet", "bracket", "hinge", "washer", "spindle",
         "bearing", "bushing", "grommet", "camshaft"]
assert not set(PARTS) & set(VOCABULARY)
PROMPTS_CSV = (
    "id,prompt,reference,icontains\n"
    "part-no,What is the part number of the blue sprocket?,The part number is SX-4417.,"
    "SX-4417\n"
    "torque,What torque do the flange bolts take?,Tighten them to 45 newton metres.,45\n"
    "supplier,Who supplies our gaskets?,Gaskets come from Northwind Seals.,Northwind\n"
)


def photo(n: int) -> tuple[str, bytes]:
    """A real image per n (JPEG for even n, PNG for odd), distinct bytes."""
    im = Image.new("RGB", (64, 48), (30 * n % 256, 90, 200 - 20 * n))
    ImageDraw.Draw(im).rectangle((8 + n, 8, 40, 30 + n), outline=(250, 250, 250), width=2)
    buf = io.BytesIO()
    fmt, ext = ("JPEG", "jpg") if n % 2 == 0 else ("PNG", "png")
    im.save(buf, fmt)
    return f"part-{n}.{ext}", buf.getvalue()


def labels(n_photos: int) -> str:
    lines = []
    for n in range(n_photos):
        tags = [PARTS[(n + k) % len(PARTS)] for k in range(5)]
        lines.append(f"{photo(n)[0]}: {{tags: [{', '.join(tags)}]}}")
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_non_loopback(monkeypatch)


@pytest.fixture()
def wh(home: Path) -> Iterator[Warehouse]:
    from core.settings import get_settings

    w = Warehouse(get_settings().warehouse_path, idle_close_s=5.0)
    yield w
    w.close()


@pytest.fixture()
def providers(home: Path) -> ProviderStore:
    store = ProviderStore()
    ensure_demo_providers(store)
    return store


def upload(org: str = DEMO_ORG, n_photos: int = 6, name: str = "Workshop parts") -> str:
    saved = SampleStore().save(org, name, photos=[photo(n) for n in range(n_photos)],
                               labels=labels(n_photos),
                               prompt_files=[("parts.csv", PROMPTS_CSV)], actor="ann",
                               default_feature="search_processing")
    assert [p for p in saved.problems if p.level == "error"] == []
    return saved.info.id


def spec_for(set_id: str, models: list[str] | None = None, **extra) -> ComparisonSpec:
    return parse_spec({"name": "parts", "models": models or ["sim-gemini/gemini-2.5-pro",
                                                              "sim-openai/gpt-4o"],
                       "samples": [set_id], "bundled": False, "photos": "all",
                       "prompts": "all", "iterations": 2, **extra})


def finish(run_id: str) -> jobs.JobStatus:
    st = jobs.wait(run_id, timeout=120)
    assert st.state == "done", st
    return st


def mean_scores(wh: Warehouse, org: str, run_id: str) -> dict[str, float]:
    df: pd.DataFrame = wc.load_results(wh, org, run_id)
    assert (df["status"] == "ok").all(), df[["item_id", "status", "error_type"]]
    return df.groupby("item_kind")["score"].mean().to_dict()


async def _teach_nothing(*_args, **_kw) -> dict:
    return {}


def test_a_run_on_an_uploaded_set_scores_its_labels(home: Path, sim, wh: Warehouse,
                                                    providers: ProviderStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    set_id = upload()
    spec = spec_for(set_id)
    before = sim.simulator.knowledge_summary()

    with monkeypatch.context() as m:  # the baseline: the simulator is never told the truth
        m.setattr(service, "teach", _teach_nothing)
        baseline = service.start_comparison(spec, org_id=DEMO_ORG, actor="ann", warehouse=wh,
                                            providers=providers)
        finish(baseline)
    assert sim.simulator.knowledge_summary() == before
    run_id = service.start_comparison(spec, org_id=DEMO_ORG, actor="ann", warehouse=wh,
                                      providers=providers)
    assert finish(run_id).total == 2 * 2 * (6 + 3)
    assert sim.simulator.knowledge_summary() == {"photos": before["photos"] + 6,
                                                 "references": before["references"] + 3}

    df = wc.load_results(wh, DEMO_ORG, run_id)
    assert set(df["item_id"]) == {f"photo:part-{n}" for n in range(6)} | {
        "prompt:part-no", "prompt:torque", "prompt:supplier"}  # nothing bundled
    taught, latent = mean_scores(wh, DEMO_ORG, run_id), mean_scores(wh, DEMO_ORG, baseline)
    assert taught["photo"] > 0.65, taught  # tag F1 of models with precision/recall ~0.85
    assert latent["photo"] < 0.1, latent  # random stand-in tags never match the labels
    assert taught["prompt"] > latent["prompt"] + 0.3, (taught, latent)
    assert wc.get_run(wh, DEMO_ORG, run_id).spec["samples"] == [set_id]


def test_real_providers_are_never_told_the_labels(home: Path, sim, wh: Warehouse,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = ProviderStore()
    store.add("acme", {"type": "openai_compatible", "name": "Our gateway",
                       "base_url": sim.base_urls["openai_compatible"],
                       "default_model": "qwen2.5-vl-7b-instruct"}, "sk-gateway-test", "ann")
    set_id = upload("acme", n_photos=4)
    before = sim.simulator.knowledge_summary()
    spec = spec_for(set_id, models=["openai_compatible/qwen2.5-vl-7b-instruct"], iterations=1)
    run_id = service.start_comparison(spec, org_id="acme", actor="ann", warehouse=wh,
                                      providers=store)
    finish(run_id)
    assert sim.simulator.knowledge_summary() == before
    assert mean_scores(wh, "acme", run_id)["photo"] < 0.1  # so it answered from no truth


def test_an_interrupted_run_resumes_and_reopens_with_the_same_samples(
        home: Path, sim, wh: Warehouse, providers: ProviderStore) -> None:
    set_id = upload()
    spec = spec_for(set_id, models=["sim-gemini/gemini-2.5-pro"])
    # what a process that died before its first call leaves behind
    run_id = wc.create_run(wh, DEMO_ORG, spec.name, spec.model_dump(mode="json"),
                           created_by="ann", total_calls=18)
    wc.mark_status(wh, DEMO_ORG, run_id, "running", total_calls=18,
                   owner=f"{jobs.HOST}|999999999|deadbeef0000")
    assert jobs.status(run_id, warehouse=wh, org_id=DEMO_ORG).state == "interrupted"

    stored = parse_spec(wc.get_run(wh, DEMO_ORG, run_id).spec)
    service.resume(run_id, stored, org_id=DEMO_ORG, warehouse=wh, providers=providers)
    assert finish(run_id).done == 18
    assert mean_scores(wh, DEMO_ORG, run_id)["photo"] > 0.65  # taught again on resume

    opened = service.open_run(wh, DEMO_ORG, run_id)
    assert opened.spec == spec and opened.problems == []
    original = SampleStore().load(DEMO_ORG, set_id)
    assert [(p.id, p.sha256) for p in opened.samples.photos] == [
        (p.id, p.sha256) for p in original.photos]
    assert [q.id for q in opened.samples.prompts] == ["part-no", "torque", "supplier"]
    items = set(wc.load_results(wh, DEMO_ORG, run_id)["item_id"])
    assert items == {f"photo:{p.id}" for p in opened.samples.photos} | {
        f"prompt:{q.id}" for q in opened.samples.prompts}

    SampleStore().delete(DEMO_ORG, set_id)
    with pytest.raises(SpecError, match=f"no sample set '{set_id}'"):
        service.open_run(wh, DEMO_ORG, run_id)
    with pytest.raises(SpecError, match="may have been deleted"):
        service.resume(run_id, stored, org_id=DEMO_ORG, warehouse=wh, providers=providers)
    with pytest.raises(wc.RunNotFound):
        service.open_run(wh, "acme", run_id)  # another organization's run


def test_an_explicit_sample_set_is_refused_for_a_spec_that_names_samples(
        home: Path, wh: Warehouse, providers: ProviderStore) -> None:
    from core.compare.samples import bundled_samples

    spec = spec_for(upload())
    with pytest.raises(ValueError, match="samples=None"):
        service.start_comparison(spec, bundled_samples(), org_id=DEMO_ORG, actor="ann",
                                 warehouse=wh, providers=providers)
    assert wc.list_runs(wh, DEMO_ORG) == []


# ---- the CLI ------------------------------------------------------------------------------

def _samples_folder(root: Path, n_photos: int = 4) -> Path:
    (root / "photos").mkdir(parents=True)
    entries = []
    for n in range(n_photos):
        name, data = photo(n)
        (root / "photos" / name).write_bytes(data)
        tags = ", ".join(PARTS[(n + k) % len(PARTS)] for k in range(5))
        entries.append(f"  photos/{name}:\n    tags: [{tags}]")
    (root / "labels.yaml").write_text("photos:\n" + "\n".join(entries) + "\n")
    (root / "prompts.yaml").write_text(
        "features:\n  search_processing:\n    prompts:\n"
        "      - id: part-no\n        prompt: What is the part number of the blue sprocket?\n"
        "        reference: The part number is SX-4417.\n"
        "        assertions: [{type: icontains, value: SX-4417}]\n")
    return root


def test_cli_compare_runs_on_a_samples_folder(home: Path, sim, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _samples_folder(tmp_path / "ci" / "my-samples")
    spec = tmp_path / "ci" / "spec.yaml"
    spec.write_text("name: parts\nmodels: [sim-gemini/gemini-2.5-pro]\n"
                    "samples: [./my-samples]\nbundled: false\nphotos: all\nprompts: all\n"
                    "iterations: 2\nthresholds: {min_accuracy: 0.5}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the folder is found relative to the spec, not the cwd
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["compare", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    (model,) = summary["models"]
    assert model["calls"] == 2 * (4 + 1) and model["accuracy"] > 0.6

    # the run remembers where its folder is: it reopens from anywhere
    wh = Warehouse(home / "warehouse.duckdb")
    (run,) = wc.list_runs(wh, DEMO_ORG)
    opened = service.open_run(wh, DEMO_ORG, run.run_id)
    assert {p.id for p in opened.samples.photos} == {f"part-{n}" for n in range(4)}
    wh.close()

    spec.write_text(spec.read_text().replace("./my-samples", "./not-there"))
    result = CliRunner().invoke(main, ["compare", str(spec)])
    assert result.exit_code == 2 and "there is no folder" in result.output
    assert "Traceback" not in result.output


def test_cli_samples_add_list_remove_and_compare_by_id(home: Path, sim, tmp_path: Path) -> None:
    folder = _samples_folder(tmp_path / "shots", n_photos=3)
    (folder / "photos" / "notes.png").write_bytes(b"not really a png")
    csv = tmp_path / "more.csv"
    csv.write_text("prompt,reference\nWho supplies our gaskets?,Northwind Seals.\n")
    runner = CliRunner()
    result = runner.invoke(main, ["samples", "add", "Shop floor", str(folder), "--prompts",
                                  str(folder / "prompts.yaml"), "--prompts", str(csv),
                                  "--feature", "search_processing"])
    assert result.exit_code == 0, result.output
    assert "3 photos (3 labelled), 2 prompts" in result.output
    assert "skipped: notes.png: is not a JPEG or PNG" in result.output
    (info,) = SampleStore().list(DEMO_ORG)
    assert info.name == "Shop floor" and info.created_by == "cli"

    listed = runner.invoke(main, ["samples", "list"])
    assert listed.exit_code == 0 and info.id in listed.output and "Shop floor" in listed.output
    assert runner.invoke(main, ["samples", "list", "--org", "acme"]).output.startswith(
        "No sample sets in organization acme")

    spec = tmp_path / "spec.yaml"
    spec.write_text(dump_spec(parse_spec({
        "name": "by id", "models": ["sim-openai/gpt-4o"], "samples": [info.id],
        "photos": ["part-0", "part-1", "chelsea"], "prompts": {"ids": ["row-2"]},
        "iterations": 1})))
    out = tmp_path / "out.json"
    result = runner.invoke(main, ["compare", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["models"][0]["calls"] == 3 + 1  # with a bundled photo

    refused = runner.invoke(main, ["samples", "remove", info.id, "--org", "acme", "--yes"])
    assert refused.exit_code == 1 and "no sample set" in refused.output
    removed = runner.invoke(main, ["samples", "remove", info.id, "--yes"])
    assert removed.exit_code == 0 and "Removed Shop floor" in removed.output
    result = runner.invoke(main, ["compare", str(spec)])
    assert result.exit_code == 2 and f"no sample set '{info.id}'" in result.output
    bad = runner.invoke(main, ["samples", "add", "Nothing", str(folder / "photos" / "notes.png")])
    assert bad.exit_code == 1 and "Nothing to save" in bad.output
