"""Users' YAML is read with a budget: no anchors or aliases, bounded size and depth, so a
"billion laughs" document is refused while it is still a few hundred bytes of text."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from core import safe_yaml
from core.compare.samples import load_uploaded_photos, parse_prompts_yaml
from core.compare.spec import SpecError, load_spec
from tests.helpers import png, yaml_bomb

ROOT = Path(__file__).resolve().parents[2]


def test_plain_documents_load_as_safe_load_does() -> None:
    text = "photos:\n  cat.jpg: {tags: [cat, sofa], synonyms: {cat: [kitten]}}\nn: 3\n"
    assert safe_yaml.load(text) == yaml.safe_load(text)
    assert safe_yaml.load(b"- 1\n- two\n") == [1, "two"]
    assert safe_yaml.load("") is None


@pytest.mark.parametrize("text", [
    yaml_bomb(),
    "a: &x 1\nb: 2\n",  # an anchor alone is refused too: nothing we read needs one
    "base: {tags: [cat]}\nother:\n  <<: *base\n",  # merge keys need aliases
    "- *nowhere\n",
])
def test_anchors_and_aliases_are_refused_with_a_plain_message(text: str) -> None:
    with pytest.raises(safe_yaml.YAMLRefused) as err:
        safe_yaml.load(text)
    assert "anchors and aliases (&name, *name) are not accepted" in str(err.value)
    assert str(err.value).startswith("line ")


def test_depth_and_size_are_bounded_before_anything_is_built() -> None:
    with pytest.raises(safe_yaml.YAMLRefused, match="nested more than 50 levels"):
        safe_yaml.load("[" * 5000 + "]" * 5000)
    assert safe_yaml.load("[" * 40 + "]" * 40) is not None
    with pytest.raises(safe_yaml.YAMLRefused, match="larger than 5 MB"):
        safe_yaml.load("x: " + "y" * (5 * 2**20))
    with pytest.raises(safe_yaml.YAMLRefused, match="larger than 5 MB"):
        safe_yaml.load("x: " + "é" * (3 * 2**20))  # 6 MB once encoded


def test_labels_prompt_sets_and_specs_refuse_a_bomb_and_say_where() -> None:
    photos, problems = load_uploaded_photos([("red.png", png(200, 0, 0, 8))], yaml_bomb())
    assert [p.id for p in photos] == ["red"]  # the photo itself is kept, unlabelled
    refused = next(p for p in problems if p.source == "labels.yaml")
    assert refused.level == "error" and refused.row == 1 and refused.unit == "line"
    assert refused.message.startswith("not read: YAML anchors and aliases")
    prompts, problems, _ = parse_prompts_yaml(yaml_bomb(), "prompts.yaml")
    assert not prompts and "anchors and aliases" in problems[0].message
    with pytest.raises(SpecError) as err:
        load_spec("models: [openai/gpt-4o]\nphotos: &p [chelsea]\nprompts: *p\n")
    assert err.value.errors == ["line 2, column 9: YAML anchors and aliases (&name, *name) are "
                                "not accepted: write each value out in full"]


LIMITED = textwrap.dedent("""
    import resource, sys
    limit = 1024 ** 3  # 1 GB of address space: the bomb once expanded needs several
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from core.cli import main
    main(["samples", "add", "Bomb", sys.argv[1], "--labels", sys.argv[2]])
""")


def test_the_cli_refuses_a_bomb_under_a_memory_limit(home: Path, tmp_path: Path) -> None:
    photo = tmp_path / "red.png"
    photo.write_bytes(png(200, 0, 0, 8))
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml_bomb())
    env = {**os.environ, "SWITCHYARD_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", LIMITED, str(photo), str(labels)], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=300)  # a guard against a hang, not a speed check
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert ("skipped: labels.yaml, line 1: not read: YAML anchors and aliases (&name, *name) "
            "are not accepted: write each value out in full") in out
    assert "MemoryError" not in out and "Traceback" not in out
    assert "Saved Bomb" in out and "1 photos (0 labelled)" in out
