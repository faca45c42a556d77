"""Labels that cannot be used are reported, not dropped: labels for photos that are not in
the set, fields nobody reads, and wrong shapes, each naming the photo, the field and what is
allowed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from core.cli import main
from core.compare.sample_store import SampleStore, check_upload
from core.compare.samples import load_uploaded_photos
from core.domain import DEMO_ORG
from tests.helpers import png

LABELS = b"""photos:
  red.png: {tags: [red, square]}
  Green.PNG: {tags: [green]}
  blue.png: {tags: [blue]}
"""
PHOTOS = [("red.png", png(200, 0, 0, 8)), ("blue.png", png(0, 0, 200, 8))]


def test_labels_for_photos_not_in_the_set_are_in_the_result(home: Path) -> None:
    check = check_upload(PHOTOS, LABELS)
    assert check.unmatched_labels == ("Green.PNG",)
    saved = SampleStore().save(DEMO_ORG, "Squares", photos=PHOTOS, labels=LABELS)
    assert saved.unmatched_labels == ("Green.PNG",)
    assert saved.labels_note == ("The labels name 1 photo(s) that are not in the set, so those "
                                 "labels were not used: Green.PNG. Check the file names, or "
                                 "add the photos.")
    assert saved.info.labelled_photos == 2
    everything = SampleStore().save(DEMO_ORG, "All there", photos=PHOTOS + [
        ("green.png", png(0, 200, 0, 8))], labels=LABELS)
    assert everything.unmatched_labels == () and everything.labels_note is None


def test_the_cli_says_which_labels_were_not_used(home: Path, tmp_path: Path) -> None:
    for name, data in PHOTOS:
        (tmp_path / name).write_bytes(data)
    (tmp_path / "labels.yaml").write_bytes(LABELS)
    result = CliRunner().invoke(main, ["samples", "add", "Squares", str(tmp_path / "red.png"),
                                       str(tmp_path / "blue.png"), "--labels",
                                       str(tmp_path / "labels.yaml")])
    assert result.exit_code == 0, result.output
    assert ("warning: The labels name 1 photo(s) that are not in the set, so those labels "
            "were not used: Green.PNG.") in result.output


def test_label_problems_name_the_photo_the_field_and_what_is_allowed() -> None:
    labels = b"""photos:
  red.png: {tgas: [red]}
  blue.png: {tags: blue square, synonyms: [navy]}
"""
    photos, problems = load_uploaded_photos(PHOTOS, labels)
    text = [str(p) for p in problems]
    assert ("labels.yaml, line 2: 'red.png': 'tgas' is not a label field, so it was not used "
            "(did you mean 'tags'?); label fields are tags, synonyms, description, safety, "
            "title, source, licence, id") in text
    assert ("labels.yaml, line 3: 'blue.png': synonyms must give a tag's other words, e.g. "
            "synonyms: {cat: [kitten]}") in text
    assert [p.id for p in photos] == ["red", "blue"]  # the photos themselves are kept
