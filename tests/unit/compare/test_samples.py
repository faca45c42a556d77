"""Sample photos and prompt sets: the bundled files are complete and consistent with the
simulator, and uploads (photos, labels, CSV and YAML prompt sets) keep good rows while
reporting bad ones by row or line."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from PIL import Image

from core.compare.samples import (
    ASSERTION_TYPES,
    PROMPT_FEATURES,
    SAFETY_FLAGS,
    SAMPLES_DIR,
    Assertion,
    Problem,
    Prompt,
    SampleError,
    SampleSet,
    bundled_samples,
    load_prompt_upload,
    load_sample_set,
    load_samples,
    load_uploaded_photos,
    parse_prompts_csv,
    parse_prompts_yaml,
)
from core.simulator import truth
from core.simulator.engine import Ask, Simulator


def passes(a: Assertion, output: str) -> bool:
    """A minimal evaluator of the content assertions (latency and cost are not checked)."""
    if a.type == "equals":
        return output.strip() == a.value
    if a.type == "contains":
        return a.value in output
    if a.type == "icontains":
        return a.value.lower() in output.lower()
    if a.type == "not-contains":
        return a.value not in output
    if a.type == "regex":
        return re.search(a.value, output) is not None
    if a.type in ("is-json", "json-schema"):
        try:
            doc = json.loads(output)
        except ValueError:
            return False
        if a.value:
            try:
                jsonschema.validate(doc, a.value)
            except jsonschema.ValidationError:
                return False
        return True
    return True


def jpeg(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


def png(color: tuple[int, int, int] = (30, 200, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(out, format="PNG")
    return out.getvalue()


def messages(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


# ---- the bundled samples -------------------------------------------------------------------

def test_bundled_samples_load_without_problems():
    samples, problems = load_sample_set(SAMPLES_DIR)
    assert problems == []
    assert len(samples.photos) >= 12
    for feature in PROMPT_FEATURES:
        assert 8 <= len(samples.prompts_for(feature)) <= 12, feature
        assert samples.features[feature].title
    assert bundled_samples().photo("chelsea") is not None


def test_every_photo_opens_with_pillow_and_is_web_sized():
    for photo in bundled_samples().photos:
        data = photo.read_bytes()
        assert len(data) <= 150 * 1024, photo.id
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            assert max(im.size) <= 640, photo.id
            assert {"JPEG": "image/jpeg", "PNG": "image/png"}[im.format] == photo.mime


def test_every_label_entry_has_a_photo_and_every_photo_has_labels():
    doc = yaml.safe_load((SAMPLES_DIR / "labels.yaml").read_text(encoding="utf-8"))
    names = set(doc["photos"])
    assert all((SAMPLES_DIR / n).is_file() for n in names)
    files = {f"photos/{p.name}" for p in (SAMPLES_DIR / "photos").iterdir() if p.is_file()}
    assert files == names
    sources = (SAMPLES_DIR / "SOURCES.md").read_text(encoding="utf-8")
    for name in names:
        assert f"`{name}`" in sources, f"{name} has no source and licence in SOURCES.md"


def test_labels_have_tags_synonyms_descriptions_and_known_safety_flags():
    samples = bundled_samples()
    for photo in samples.photos:
        assert len(photo.tags) >= 4 and photo.description and photo.licence, photo.id
        assert set(photo.safety) <= set(SAFETY_FLAGS), photo.id
    chelsea = samples.photo("chelsea")
    assert chelsea.tag_for("Kitten") == "cat" and chelsea.tag_for("feline") == "cat"
    assert chelsea.tag_for("close up") == "close-up"
    assert chelsea.tag_for("dog") is None
    assert "person" in samples.photo("astronaut").safety
    assert "medical" in samples.photo("retina").safety


def test_every_prompt_has_a_reference_that_passes_its_assertions():
    samples = bundled_samples()
    ids = [q.id for q in samples.prompts]
    assert len(ids) == len(set(ids))
    for q in samples.prompts:
        assert q.reference, q.id
        assert q.assertions, q.id
        assert {a.type for a in q.assertions} <= set(ASSERTION_TYPES)
        failed = [a.describe() for a in q.assertions if not passes(a, q.reference)]
        assert not failed, f"{q.id}: the reference fails {failed}"
    used = {a.type for q in samples.prompts for a in q.assertions}
    assert used == set(ASSERTION_TYPES)


def test_wrong_answers_fail_the_assertions():
    """The simulator's disagreeing answers must not pass, or accuracy would not separate
    good models from bad ones."""
    import random

    for q in bundled_samples().prompts:
        for seed in range(30):
            wrong = truth.wrong_answer(q.text, random.Random(seed))
            assert not all(passes(a, wrong) for a in q.assertions), q.id


def test_photo_prompts_reference_the_photo_description():
    samples = bundled_samples()
    with_photo = [q for q in samples.prompts if q.photo]
    assert with_photo
    for q in with_photo:
        assert q.reference == samples.photo(q.photo).description, q.id


# ---- consistency with the simulator --------------------------------------------------------

def test_simulator_knows_every_sample_photo_and_prompt():
    samples = bundled_samples()
    sim = Simulator(seed=3, latency_scale=0)
    for photo in samples.photos:
        known = sim.knowledge.photo(photo.sha256)
        assert known is not None, photo.id
        assert list(known.tags) == photo.tag_names
        assert known.description == photo.description
        assert list(known.safety) == photo.safety
        assert {k: list(v) for k, v in known.synonyms.items()} == photo.synonyms()
    for q in samples.prompts:
        assert sim.knowledge.reference_for(q.text) == q.reference, q.id


def _tag_recall(sim: Simulator, provider: str, model: str, samples: SampleSet,
                rounds: int = 4) -> float:
    profile = sim.resolve(provider, model)
    assert profile is not None
    scores = []
    for photo in samples.photos:
        for _ in range(rounds):
            call = sim.start_call(provider, profile, Ask(model=model,
                                                         prompt=samples.tagging_prompt,
                                                         images=(photo.read_bytes(),)))
            found = {photo.tag_for(w) for w in call.text.split(",")} - {None}
            scores.append(len(found) / len(photo.tags))
    return sum(scores) / len(scores)


def test_a_good_model_names_most_ground_truth_tags():
    samples = bundled_samples()
    sim = Simulator(seed=7, latency_scale=0)
    profile = sim.resolve("openai", "gpt-5")
    chelsea = samples.photo("chelsea")
    call = sim.start_call("openai", profile, Ask(model="gpt-5", prompt=samples.tagging_prompt,
                                                 images=(chelsea.read_bytes(),)))
    found = {chelsea.tag_for(w) for w in call.text.split(",")} - {None}
    assert len(found) >= len(chelsea.tags) // 2, call.text
    good = _tag_recall(sim, "openai", "gpt-5", samples)
    weak = _tag_recall(sim, "ollama", "llama3.2-vision:11b", samples)
    assert good > 0.75 and good > weak + 0.1


def test_simulated_answers_to_prompts_follow_the_reference():
    samples = bundled_samples()
    sim = Simulator(seed=11, latency_scale=0)
    profile = sim.resolve("anthropic", "claude-sonnet-4-5")
    accurate = total = 0
    for q in samples.prompts:
        images = (samples.photo(q.photo).read_bytes(),) if q.photo else ()
        for _ in range(3):
            call = sim.start_call("anthropic", profile,
                                  Ask(model=profile.id, prompt=q.text, images=images))
            accurate += all(passes(a, call.text) for a in q.assertions)
            total += 1
    assert 0.65 < accurate / total <= 1.0


def test_ground_truth_and_reference_set_feed_the_simulator():
    photos, _ = load_uploaded_photos([("dog.jpg", jpeg())],
                                     "dog.jpg: {tags: [dog, grass], synonyms: {dog: [puppy]}}")
    prompts, _ = parse_prompts_csv("prompt,reference\nIs the sky blue?,Yes.\n",
                                   default_feature="safety_chat")
    upload = SampleSet(photos=photos, prompts=prompts)
    sim = Simulator(samples_dir=None, ground_truth=upload.ground_truth(),
                    prompt_set=upload.reference_set())
    assert sim.knowledge.photo(photos[0].sha256).tags == ("dog", "grass")
    assert sim.knowledge.reference_for("Please: is the sky blue?") == "Yes."


# ---- loading a broken sample folder ----------------------------------------------------------

def test_a_broken_sample_folder_names_every_problem(tmp_path: Path):
    (tmp_path / "ok.jpg").write_bytes(jpeg())
    (tmp_path / "labels.yaml").write_text(
        "photos:\n"
        "  ok.jpg: {tags: [cat], synonyms: {cat: [kitten]}}\n"
        "  missing.jpg: {tags: [dog]}\n"
        "  ok2.jpg: not a mapping\n", encoding="utf-8")
    (tmp_path / "prompts.yaml").write_text(
        "features:\n"
        "  safety_chat:\n"
        "    prompts:\n"
        "      - {id: a, prompt: Hi, reference: Hello}\n"
        "      - {id: b, prompt: Hi again, photo: nope, reference: x}\n"
        "      - {id: c, prompt: '', reference: x}\n", encoding="utf-8")
    samples, problems = load_sample_set(tmp_path)
    assert [p.id for p in samples.photos] == ["ok"]
    assert [q.id for q in samples.prompts] == ["a"]
    text = messages(problems)
    assert "labels.yaml, line 3: 'missing.jpg': no such photo file" in text
    assert "'ok2.jpg': labels must be a mapping" in text
    assert "prompt 'b' names photo 'nope'" in text
    assert "prompts.yaml, line 6: safety_chat prompt 3: prompt: must not be empty" in text
    with pytest.raises(SampleError) as err:
        load_samples(tmp_path)
    assert "missing.jpg" in str(err.value) and "Traceback" not in str(err.value)


def test_conflicting_synonyms_are_refused(tmp_path: Path):
    (tmp_path / "a.png").write_bytes(png())
    (tmp_path / "labels.yaml").write_text(
        "photos:\n  a.png: {tags: [cat, dog], synonyms: {cat: [pet], dog: [pet]}}\n",
        encoding="utf-8")
    samples, problems = load_sample_set(tmp_path)
    assert samples.photos == []
    assert "'pet' means both 'cat' and 'dog'" in messages(problems)


# ---- uploaded photos ---------------------------------------------------------------------------

def test_uploaded_photos_with_labels_keep_the_good_and_report_the_bad():
    labels = (
        "photos:\n"
        "  red.jpg:\n"
        "    tags: [{car: [automobile, vehicle]}, road]\n"
        "    description: A red car on a road.\n"
        "    safety: [person]\n"
        "  ghost.png: {tags: [ghost]}\n"
    )
    files = [("red.jpg", jpeg()), ("green.png", png()), ("notes.txt", b"not an image"),
             ("broken.jpg", jpeg()[:40])]
    photos, problems = load_uploaded_photos(files, labels)
    assert [p.id for p in photos] == ["red", "green"]
    red, green = photos
    assert red.tag_names == ["car", "road"] and red.tag_for("automobile") == "car"
    assert red.description == "A red car on a road." and red.safety == ["person"]
    assert red.mime == "image/jpeg" and green.mime == "image/png"
    assert red.read_bytes() == files[0][1] and not green.labelled
    text = messages(problems)
    assert "notes.txt: is not a JPEG or PNG image" in text
    assert "broken.jpg: is not a JPEG or PNG image" in text
    assert "green.png: has no labels" in text
    assert "labels.yaml, line 6: 'ghost.png' has labels but no uploaded photo" in text
    levels = {p.source: p.level for p in problems}
    assert levels["green.png"] == "warning" and levels["notes.txt"] == "error"


def test_uploaded_labels_without_photos_key_and_duplicate_names():
    photos, problems = load_uploaded_photos(
        [("Cat Photo.JPG", jpeg()), ("cat photo.jpg", jpeg((1, 2, 3)))],
        "Cat Photo.JPG:\n  tags: [cat]\n")
    assert [p.id for p in photos] == ["cat_photo", "cat_photo-2"]
    assert photos[0].tag_names == ["cat"]


def test_bad_labels_yaml_is_reported_and_photos_still_load():
    photos, problems = load_uploaded_photos([("a.jpg", jpeg())], "photos: [unclosed")
    assert [p.id for p in photos] == ["a"]
    assert any("not valid YAML" in str(p) for p in problems)


# ---- uploaded prompt sets: CSV -----------------------------------------------------------------

CSV_TEXT = (
    "id,feature,prompt,reference,icontains,regex,max_latency_ms,not_contains,contains_2\n"
    "p1,safety_chat,Is this safe?,SAFE,safe,,2000,,\n"                 # row 2: good
    "p2,safety_chat,,SAFE,,,,,\n"                                         # row 3: no prompt
    "p3,search_processing,Find cats,cats,cat,([bad,,,,\n"                # row 4: bad regex
    "p4,search_processing,Find dogs,dogs,,,soon,,\n"                      # row 5: bad number
    '"p5",description_generation,"Describe,\nwith a comma",A thing.,thing,,,,\n'  # rows 6
    "p1,safety_chat,Duplicate,SAFE,,,,,\n"                                # row 7: duplicate id
    "p7,safety_chat,No way to score,,,,,,\n"                              # row 8: unscorable
    "p8,Search Processing,Lowercase me,ok,,^ok$,,nope,ok\n"               # row 9: good
    "p9,safety_chat,Too,many,cells,,,,,,extra\n"                          # row 10
)


def test_csv_upload_keeps_good_rows_and_reports_bad_rows_by_number():
    prompts, problems = parse_prompts_csv(CSV_TEXT.encode(), "mine.csv")
    assert [q.id for q in prompts] == ["p1", "p5", "p8"]
    p1, p5, p8 = prompts
    assert p1.text == "Is this safe?" and p1.reference == "SAFE"
    assert [a.as_dict() for a in p1.assertions] == [
        {"type": "icontains", "value": "safe", "weight": 1.0},
        {"type": "max-latency", "threshold": 2000.0, "weight": 1.0}]
    assert p5.text == "Describe,\nwith a comma"
    assert p8.feature == "search_processing"
    assert [a.type for a in p8.assertions] == ["regex", "not-contains", "contains"]
    by_row = {p.row: str(p) for p in problems}
    assert set(by_row) == {3, 4, 5, 7, 8, 10}
    assert by_row[3] == "mine.csv, row 3: has no prompt text"
    assert "row 4:" in by_row[4] and "not a valid regular expression" in by_row[4]
    assert "max_latency_ms must be a number of milliseconds, not 'soon'" in by_row[5]
    assert "duplicate id 'p1' (first on row 2)" in by_row[7]
    assert "needs a reference answer or at least one assertion" in by_row[8].lower()
    assert "has 11 cells but the header has 9 columns" in by_row[10]
    assert all("Traceback" not in s and "pydantic" not in s for s in by_row.values())


def test_csv_needs_a_prompt_column_and_warns_about_unknown_columns():
    prompts, problems = parse_prompts_csv("question_text,answer\nHi,Hello\n", "q.csv")
    assert prompts == []
    text = messages(problems)
    assert "column 'question_text' is not known" in text
    assert "needs a 'prompt' column" in text
    prompts, problems = parse_prompts_csv("prompt,reference,contians\nHi,Hello,x\n", "q.csv",
                                          default_feature="safety_chat")
    assert [q.text for q in prompts] == ["Hi"]
    assert "did you mean 'contains'?" in messages(problems)
    assert problems[0].level == "warning"


def test_csv_without_feature_uses_the_chosen_one_or_says_so():
    text = "prompt,reference\nHello?,Hi.\n"
    prompts, problems = parse_prompts_csv(text, "a.csv")
    assert prompts == [] and "row 2: has no feature" in messages(problems)
    prompts, problems = parse_prompts_csv(text, "a.csv", default_feature="safety_chat")
    assert problems == [] and prompts[0].feature == "safety_chat" and prompts[0].id == "row-2"


def test_csv_dialects_encodings_and_json_columns():
    semicolon = ("\ufeffid;feature;prompt;reference;is_json;json_schema;max_cost_usd\n"
                 'j1;search_processing;Give JSON;{"a": 1};yes;{"type": "object"};$0.002\n'
                 "j2;search_processing;Bad flag;x;maybe;;\n")
    prompts, problems = parse_prompts_csv(semicolon.encode("utf-8"), "s.csv")
    assert [q.id for q in prompts] == ["j1"]
    assert [a.type for a in prompts[0].assertions] == ["is-json", "json-schema", "max-cost"]
    assert prompts[0].assertions[1].value == {"type": "object"}
    assert prompts[0].assertions[2].threshold == 0.002
    assert "row 3: is_json must be yes or no, not 'maybe'" in messages(problems)
    latin = "prompt,reference,feature\nCaf\xe9?,Oui,safety_chat\n".encode("cp1252")
    prompts, problems = parse_prompts_csv(latin, "l.csv")
    assert prompts[0].text == "Café?" and problems == []
    listed = ('prompt,reference,assertions\n"Hi","Hello","[{""type"": ""latency"", '
              '""threshold"": 500}]"\nHey,Hi,not json\n')
    prompts, problems = parse_prompts_csv(listed, "j.csv", default_feature="safety_chat")
    assert prompts[0].assertions[0].type == "max-latency"
    assert "row 3: assertions must be a JSON list" in messages(problems)


def test_empty_and_header_only_csv():
    assert "is empty" in messages(parse_prompts_csv(b"", "e.csv")[1])
    prompts, problems = parse_prompts_csv("prompt,reference\n", "h.csv")
    assert prompts == [] and "no rows" in messages(problems)


# ---- uploaded prompt sets: YAML ----------------------------------------------------------------

def test_yaml_upload_reports_bad_items_by_line_and_keeps_the_rest():
    text = (
        "- id: y1\n"                                   # line 1
        "  prompt: What is 2+2?\n"
        "  reference: '4'\n"
        "  assert:\n"
        "    - {type: equals, value: '4'}\n"
        "- id: y2\n"                                   # line 6
        "  prompt: Broken\n"
        "  reference: x\n"
        "  assertions: [{type: contians, value: x}]\n"
        "- id: y3\n"                                   # line 10
        "  prompt: Slow?\n"
        "  assertions: [{type: max-latency}]\n"
        "- just a string\n"                            # line 13
        "- {id: y1, prompt: again, reference: x}\n"    # line 14
        "- {prompt: No id, reference: fine, colour: red}\n"  # line 15
    )
    prompts, problems = load_prompt_upload("set.yaml", text.encode(), "search_processing")
    assert [q.id for q in prompts] == ["y1"]
    assert prompts[0].assertions[0].type == "equals"
    lines = {p.row: str(p) for p in problems}
    assert set(lines) == {6, 10, 13, 14, 15}
    assert "unknown assertion type 'contians' (did you mean 'contains'?)" in lines[6]
    assert "max-latency needs a threshold in milliseconds" in lines[10]
    assert "each prompt must be a mapping" in lines[13]
    assert "duplicate id 'y1' (first on line 1)" in lines[14]
    assert "colour: is not a known field" in lines[15]
    assert all(p.unit == "line" for p in problems)


def test_yaml_upload_in_the_bundled_schema_and_syntax_errors():
    text = (SAMPLES_DIR / "prompts.yaml").read_text(encoding="utf-8")
    prompts, problems, features = parse_prompts_yaml(text)
    assert problems == [] and len(prompts) == len(bundled_samples().prompts)
    assert set(features) == set(PROMPT_FEATURES)
    prompts, problems = load_prompt_upload("bad.yml", "prompts:\n  - {prompt: [oops\n")
    assert prompts == [] and problems[0].unit == "line" and problems[0].row in (2, 3)
    assert "not valid YAML" in str(problems[0])
    prompts, problems = load_prompt_upload("set.json", "{}")
    assert "upload a .csv, .yaml or .yml file" in messages(problems)


def test_merging_uploads_reports_clashing_ids():
    base = bundled_samples()
    photos, _ = load_uploaded_photos([("chelsea.jpg", jpeg()), ("new.png", png())])
    prompts, _ = parse_prompts_csv(
        "id,prompt,reference,photo\nsafety-redact-pii,x,y,\nmine,Describe it,A thing.,new\n"
        "other,Describe,A thing.,missing\n", default_feature="description_generation")
    merged, problems = base.merged(photos, prompts, source="my upload")
    assert merged.photo("new") is not None and merged.prompt("mine") is not None
    assert len(merged.photos) == len(base.photos) + 1
    assert len(merged.prompts) == len(base.prompts) + 1
    text = messages(problems)
    assert "photo id 'chelsea' is already taken" in text
    assert "prompt id 'safety-redact-pii' is already taken" in text
    assert "prompt 'other' names photo 'missing'" in text
    assert len(base.photos) == len(bundled_samples().photos)  # the bundled set is unchanged


# ---- assertions ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "message"), [
    ({"type": "contains"}, "contains needs a text value"),
    ({"type": "regex", "value": "(["}, "is not a valid regular expression"),
    ({"type": "json-schema", "value": "{nope"}, "the schema is not valid JSON"),
    ({"type": "json-schema"}, "json-schema needs a JSON schema"),
    ({"type": "max-cost", "threshold": -1}, "must be a positive number of US dollars"),
    ({"type": "icontains", "value": "x", "threshold": 3}, "threshold applies only to"),
    ({"type": "similar", "value": "x"}, "unknown assertion type 'similar'"),
])
def test_bad_assertions_get_clear_messages(data, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Assertion.model_validate(data)


def test_assertion_aliases_and_forms():
    assert Assertion.model_validate({"type": "latency", "threshold": 900}).type == "max-latency"
    assert Assertion.model_validate({"type": "max_cost", "value": 0.01}).threshold == 0.01
    assert Assertion.model_validate({"type": "NOT-CONTAINS", "value": 5}).value == "5"
    schema = Assertion.model_validate({"type": "json-schema", "value": '{"type": "array"}'})
    assert schema.value == {"type": "array"} and schema.describe() == "JSON matching a schema"
    q = Prompt.model_validate({"id": 7, "feature": "Safety Chat", "prompt": " Hi ",
                               "assert": [{"type": "icontains", "value": "hi"}]})
    assert (q.id, q.feature, q.text, q.reference) == ("7", "safety_chat", "Hi", "")


def test_the_upload_templates_load_cleanly() -> None:
    """What the page offers as templates must be accepted as it is."""
    from core.compare.samples import (
        LABELS_TEMPLATE,
        PROMPTS_TEMPLATE_CSV,
        load_prompt_upload,
        load_uploaded_photos,
    )
    from tests.helpers import png

    prompts, problems = load_prompt_upload("prompts.csv", PROMPTS_TEMPLATE_CSV)
    assert not problems and [p.id for p in prompts] == ["mug-desc"]
    assert prompts[0].reference.startswith("A white ceramic mug, perfect")
    assert {a.type for a in prompts[0].assertions} >= {"icontains", "not-contains", "max-latency"}
    photos, problems = load_uploaded_photos([("mug.jpg", png(250, 250, 250, 4))],
                                            labels=LABELS_TEMPLATE)
    assert not [p for p in problems if p.level == "error"]
    assert photos[0].tag_names == ["mug", "coffee", "ceramic", "table"]
