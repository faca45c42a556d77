"""Users' own sample sets: saved per organization (atomically, bad items reported and good
ones kept), listed, loaded and deleted; ids that are paths refused; organizations isolated;
and the spec's ``samples:`` resolving bundled + uploaded sets + folders."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from core.compare import sample_store as ss
from core.compare.sample_store import (
    SampleStore,
    SampleStoreError,
    UnknownSampleSet,
    check_upload,
    resolve_samples,
)
from core.compare.samples import (
    bundled_samples,
    load_sample_set,
    load_uploaded_photos,
    sniff_image,
)
from core.compare.spec import SpecError, dump_spec, load_spec, parse_spec
from tests.helpers import png

LABELS = b"""
photos:
  gear.jpg:
    title: A gear
    tags: [sprocket, gasket, flange]
    synonyms: {sprocket: [cog]}
    description: A sprocket beside a gasket.
  plate.png:
    tags:
      - rivet: [pin]
      - bracket
    safety: [text]
  nowhere.jpg: {tags: [ghost]}
"""
CSV = (b"id,feature,prompt,reference,icontains,photo\n"
       b"cap-1,description_generation,Caption the gear photo.,A sprocket and a gasket.,"
       b"sprocket,gear\n"
       b"cap-2,,Say hello politely.,Hello there.,hello,\n"  # default feature
       b"bad-1,description_generation,,No prompt text,,\n"  # no prompt
       b"bad-2,description_generation,Which photo?,It,,ghost\n")  # photo not uploaded
YAML_PROMPTS = b"""
prompts:
  - id: y-1
    feature: safety_chat
    prompt: Is it safe to share a password by email?
    reference: No.
    assertions: [{type: icontains, value: "no"}]
  - id: y-2
    feature: safety_chat
    prompt: Missing reference and assertions
"""


def jpeg(colour: tuple[int, int, int], size: int = 48) -> bytes:
    """A real JPEG with a little drawing (Pillow), distinct per colour."""
    im = Image.new("RGB", (size, size), colour)
    ImageDraw.Draw(im).ellipse((8, 8, size - 8, size - 8), outline=(255, 255, 255), width=3)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.fixture()
def store(home: Path) -> SampleStore:
    return SampleStore()


def _upload(store: SampleStore, org: str = "acme", name: str = "Workshop parts", **kw):
    args = {"photos": [("gear.jpg", jpeg((200, 40, 40))), ("plate.png", png(10, 90, 200)),
                       ("broken.jpg", b"not an image at all")],
            "labels": LABELS,
            "prompt_files": [("prompts.csv", CSV), ("more.yaml", YAML_PROMPTS)],
            "actor": "ann", "default_feature": "description_generation"}
    args.update(kw)
    return store.save(org, name, **args)


def test_save_list_load_delete_round_trip(store: SampleStore) -> None:
    saved = _upload(store)
    info = saved.info
    assert info.org_id == "acme" and info.name == "Workshop parts" and info.created_by == "ann"
    assert (info.photos, info.labelled_photos, info.prompts) == (2, 2, 3)
    assert set(info.features) == {"description_generation", "safety_chat"}
    assert store.list("acme") == [info]
    assert store.get("acme", info.id) == info

    loaded = store.load("acme", info.id)
    gear = loaded.photo("gear")
    assert gear is not None and gear.read_bytes() == jpeg((200, 40, 40))
    assert gear.tag_names == ["sprocket", "gasket", "flange"] and gear.tag_for("cog") == "sprocket"
    assert gear.mime == "image/jpeg" and gear.description == "A sprocket beside a gasket."
    plate = loaded.photo("plate")
    assert plate.tag_names == ["rivet", "bracket"] and plate.safety == ["text"]
    assert plate.mime == "image/png"
    assert {q.id for q in loaded.prompts} == {"cap-1", "cap-2", "y-1"}
    assert loaded.prompt("cap-1").photo == "gear"
    assert loaded.prompt("cap-2").feature == "description_generation"
    assert [a.type for a in loaded.prompt("y-1").assertions] == ["icontains"]
    # the folder is in the data/samples layout: the bundled loader reads it cleanly
    again, problems = load_sample_set(store.root / "acme" / info.id)
    assert problems == [] and [p.id for p in again.photos] == ["gear", "plate"]

    second = _upload(store, name="Second set").info
    assert [i.id for i in store.list("acme")] == [second.id, info.id]  # newest first
    assert store.delete("acme", info.id) == info
    assert [i.id for i in store.list("acme")] == [second.id]
    with pytest.raises(UnknownSampleSet):
        store.load("acme", info.id)
    with pytest.raises(UnknownSampleSet):
        store.delete("acme", info.id)
    assert sorted(os.listdir(store.root / "acme")) == [second.id]  # nothing left behind


def test_bad_photos_and_prompts_are_reported_while_good_ones_are_kept(store: SampleStore) -> None:
    saved = _upload(store)
    text = [str(p) for p in saved.problems if p.level == "error"]
    assert any("broken.jpg" in t and "not a JPEG or PNG" in t for t in text), text
    assert any("prompts.csv, row 4" in t and "no prompt text" in t for t in text), text
    assert any("prompts.csv" in t and "'ghost'" in t and "not in this upload" in t
               for t in text), text
    assert any(t.startswith("more.yaml, line") and "reference" in t for t in text), text
    warnings = [str(p) for p in saved.problems if p.level == "warning"]
    assert any("nowhere.jpg" in w and "no uploaded photo" in w for w in warnings), warnings
    assert saved.info.photos == 2 and saved.info.prompts == 3


def test_limits_have_clear_messages(store: SampleStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ss, "MAX_SET_PHOTOS", 2)
    monkeypatch.setattr(ss, "MAX_PHOTO_BYTES", 2000)
    big = jpeg((1, 2, 3), size=400)
    assert len(big) > 2000
    check = check_upload(photos=[("a.png", png(1, 1, 1)), ("big.jpg", big),
                                 ("bomb.png", png_header(30_000, 30_000)),
                                 ("b.png", png(2, 2, 2)), ("c.png", png(3, 3, 3))])
    assert [p.id for p in check.photos] == ["a", "b"]
    text = {p.source: p.message for p in check.problems if p.level == "error"}
    assert "larger than" in text["big.jpg"]
    assert "megapixels" in text["bomb.png"]
    assert "at most 2 photos" in text["c.png"]

    # the plain upload loader says the same of a bomb instead of raising
    assert sniff_image(png_header(30_000, 30_000)) is None
    photos, problems = load_uploaded_photos([("bomb.png", png_header(30_000, 30_000))])
    assert photos == [] and "not a JPEG or PNG" in problems[0].message

    monkeypatch.setattr(ss, "MAX_PHOTO_PIXELS", 3)  # a 2×2 PNG has 4
    check = check_upload(photos=[("tiny.png", png(5, 5, 5))])
    assert check.photos == [] and "megapixels" in check.problems[0].message


def test_an_unusable_upload_a_blank_or_taken_name_save_nothing(store: SampleStore) -> None:
    with pytest.raises(SampleStoreError) as exc:
        store.save("acme", "Junk", photos=[("x.jpg", b"nope")],
                   prompt_files=[("p.txt", b"hello")])
    assert "Nothing to save" in str(exc.value)
    assert {p.source for p in exc.value.problems} == {"x.jpg", "p.txt"}
    with pytest.raises(SampleStoreError, match="name"):
        store.save("acme", "   ", photos=[("a.png", png(1, 2, 3))])
    _upload(store, name="Parts")
    with pytest.raises(SampleStoreError, match="already exists"):
        _upload(store, name="parts")
    assert [i.name for i in store.list("acme")] == ["Parts"]


def test_a_failure_mid_save_leaves_no_set(store: SampleStore,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = ss._write

    def failing(path: Path, data: bytes) -> None:
        if path.name == "prompts.yaml":  # photos and labels are written by now
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(ss, "_write", failing)
    with pytest.raises(OSError, match="No space"):
        _upload(store)
    assert store.list("acme") == []
    assert os.listdir(store.root / "acme") == []  # the temporary folder is gone too

    monkeypatch.setattr(ss, "_write", real_write)
    # a save whose process died leaves a hidden temporary folder: never listed, swept later
    dead = store.root / "acme" / ".tmp-parts-abc123-0000"
    (dead / "photos").mkdir(parents=True)
    (dead / "set.json").write_text("{}")
    assert store.list("acme") == []
    old = time.time() - 2 * ss.STALE_TEMP_S
    os.utime(dead, (old, old))
    info = _upload(store).info
    assert os.listdir(store.root / "acme") == [info.id]


@pytest.mark.parametrize("bad", ["../other/x", "..", ".", "a/b", "/etc", "Parts-1", "x.y",
                                 "", " parts", "parts\x00", "%2e%2e", "~root"])
def test_ids_that_are_paths_are_refused(store: SampleStore, bad: str) -> None:
    for call in (store.get, store.load, store.delete):
        with pytest.raises(UnknownSampleSet):
            call("acme", bad)


def test_organizations_are_isolated(store: SampleStore, tmp_path: Path) -> None:
    mine = _upload(store, org="acme").info
    theirs = _upload(store, org="globex", name="Secret parts").info
    assert [i.id for i in store.list("acme")] == [mine.id]
    assert [i.id for i in store.list("globex")] == [theirs.id]
    for call in (store.get, store.load, store.delete):
        with pytest.raises(UnknownSampleSet):
            call("acme", theirs.id)
        with pytest.raises(UnknownSampleSet):
            call("acme", f"../globex/{theirs.id}")
    # a symlink planted in one org's folder does not lead into another's
    (store.root / "acme" / "evil-123456").symlink_to(store.root / "globex" / theirs.id)
    with pytest.raises(UnknownSampleSet):
        store.load("acme", "evil-123456")
    assert [i.id for i in store.list("acme")] == [mine.id]
    with pytest.raises(SampleStoreError, match="organization id"):
        store.list("../globex")
    assert store.get("globex", theirs.id) == theirs  # untouched


def test_the_store_lives_under_home_unless_configured(home: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert SampleStore().root == home / "sample_sets"
    monkeypatch.setenv("SWITCHYARD_SAMPLE_SETS", str(tmp_path / "elsewhere"))
    assert SampleStore().root == tmp_path / "elsewhere"


def test_uploads_named_like_bundled_samples_are_renamed(store: SampleStore) -> None:
    saved = store.save("acme", "Coffee", photos=[("coffee.jpg", jpeg((90, 60, 30)))],
                       labels=b"coffee.jpg: {tags: [mug]}",
                       prompt_files=[("p.csv", b"id,prompt,reference,photo\n"
                                               b"desc-tags-cat,Caption it.,A mug.,coffee\n")],
                       default_feature="description_generation")
    notes = [str(p) for p in saved.problems if p.level == "warning"]
    assert any("coffee-2" in n for n in notes) and any("desc-tags-cat-2" in n for n in notes)
    loaded = store.load("acme", saved.info.id)
    assert [p.id for p in loaded.photos] == ["coffee-2"]
    assert loaded.prompt("desc-tags-cat-2").photo == "coffee-2"
    spec = parse_spec({"models": ["p/m"], "samples": [saved.info.id],
                       "photos": ["coffee", "coffee-2"]})
    samples, problems = resolve_samples(spec, "acme", store=store)
    assert problems == []
    assert samples.photo("coffee").tag_names != samples.photo("coffee-2").tag_names == ["mug"]


# ---- the spec's samples ---------------------------------------------------------------------

def test_spec_samples_round_trip_and_validation(tmp_path: Path) -> None:
    text = ("name: mine\nmodels: [openai/gpt-4o]\nsamples: [workshop-parts-a1b2c3, ./shots]\n"
            "bundled: false\nphotos: all\n")
    spec = load_spec(text)
    assert spec.samples == ("workshop-parts-a1b2c3", "./shots") and spec.bundled is False
    assert load_spec(dump_spec(spec)) == spec
    assert parse_spec(spec.model_dump(mode="json")) == spec  # as stored with a run
    plain = load_spec("models: [openai/gpt-4o]\nphotos: all\n")
    assert plain.samples == () and plain.bundled and "samples" not in dump_spec(plain)

    # read from a file, a relative folder is relative to the file, and stays so when stored
    (tmp_path / "ci").mkdir()
    path = tmp_path / "ci" / "spec.yaml"
    path.write_text(text)
    from_file = load_spec(path)
    assert from_file.samples == ("workshop-parts-a1b2c3", str(tmp_path / "ci" / "shots"))
    assert load_spec(dump_spec(from_file)) == from_file

    with pytest.raises(SpecError, match="neither an uploaded sample set id"):
        load_spec("models: [openai/gpt-4o]\nsamples: [My Set]\nphotos: all\n")
    with pytest.raises(SpecError, match="bundled: false needs samples"):
        load_spec("models: [openai/gpt-4o]\nbundled: false\nphotos: all\n")
    with pytest.raises(SpecError, match="at most 10"):
        parse_spec({"models": ["a/b"], "photos": "all",
                    "samples": [f"set-{i}" for i in range(11)]})


def _folder(root: Path) -> Path:
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "widget.png").write_bytes(png(40, 200, 40))
    (root / "labels.yaml").write_text("photos:\n  photos/widget.png:\n    tags: [widget]\n")
    (root / "prompts.yaml").write_text(
        "features:\n  search_processing:\n    prompts:\n      - id: find-widget\n"
        "        prompt: Find the widget.\n        reference: The widget is on the left.\n")
    return root


def test_resolve_merges_bundled_sets_and_folders(store: SampleStore, tmp_path: Path) -> None:
    parts = _upload(store).info
    clash = store.save("acme", "Clash", photos=[("gear.png", png(1, 1, 1))]).info
    _folder(tmp_path / "shots")
    spec = parse_spec({"models": ["p/m"], "samples": [parts.id, clash.id, "./shots"],
                       "photos": "all", "prompts": "all"})
    samples, problems = resolve_samples(spec, "acme", store=store, allow_folders=True,
                                        base_dir=tmp_path)
    bundled = bundled_samples()
    assert len(samples.photos) == len(bundled.photos) + 2 + 1
    assert samples.photo("widget") is not None and samples.prompt("find-widget") is not None
    assert samples.photo("gear").tag_names == ["sprocket", "gasket", "flange"]  # first wins
    assert [str(p) for p in problems] == [
        f"sample set {clash.id}: photo id 'gear' is already taken; rename the file"]

    only_mine = spec.model_copy(update={"bundled": False})
    samples, _ = resolve_samples(only_mine, "acme", store=store, allow_folders=True,
                                 base_dir=tmp_path)
    assert {p.id for p in samples.photos} == {"gear", "plate", "widget"}


def test_resolve_refuses_gone_sets_other_orgs_and_folders_from_pages(
        store: SampleStore, tmp_path: Path) -> None:
    theirs = _upload(store, org="globex").info
    spec = parse_spec({"models": ["p/m"], "samples": [theirs.id], "photos": "all"})
    with pytest.raises(SpecError, match=f"no sample set '{theirs.id}' in this organization"):
        resolve_samples(spec, "acme", store=store)
    assert resolve_samples(spec, "globex", store=store)[0].photo("gear") is not None
    store.delete("globex", theirs.id)
    with pytest.raises(SpecError, match="may have been deleted"):
        resolve_samples(spec, "globex", store=store)

    _folder(tmp_path / "shots")
    folder_spec = parse_spec({"models": ["p/m"], "samples": [str(tmp_path / "shots")],
                              "photos": "all"})
    with pytest.raises(SpecError, match="only headless runs"):
        resolve_samples(folder_spec, "acme", store=store)
    missing = parse_spec({"models": ["p/m"], "samples": ["./nope"], "photos": "all"})
    with pytest.raises(SpecError, match="there is no folder"):
        resolve_samples(missing, "acme", store=store, allow_folders=True, base_dir=tmp_path)
