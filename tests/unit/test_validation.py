"""One formatter of validation errors (core.validation.messages) for every form and upload."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.pricing import PriceOverride, override_messages
from core.validation import messages

ROOT = Path(__file__).resolve().parents[2]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    iterations: int = Field(ge=1, le=20)
    tags: list[str] = Field(default_factory=list)


def _errors(**data) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        _Form(**data)
    return err.value


def test_lines_say_where_and_what_in_plain_words_without_the_input() -> None:
    lines = messages(_errors(name="", iterations=99, tags=["ok", 7], colour="=cmd"),
                     fields=["name", "iterations", "tags", "colours"])
    assert lines == ["name: must not be empty", "iterations: must be at most 20",
                     "tags (item 2): must be text",
                     "colour: is not a known field (did you mean 'colours'?)"]
    assert not any("=cmd" in line for line in lines)
    assert messages(ValueError("plain")) == ["plain"]


def test_callers_bring_their_own_labels_and_phrases() -> None:
    exc = _errors(name="x", iterations=0)
    assert messages(exc, label=lambda e: "", capitalise=True) == ["Must be at least 1"]
    assert messages(exc, phrase=lambda e: "no") == ["iterations: no"]


def test_price_overrides_are_phrased_by_the_shared_formatter() -> None:
    with pytest.raises(ValidationError) as err:
        PriceOverride(org_id="acme", provider_name="openai", model="m" * 300,
                      input_per_mtok=1.0, output_per_mtok=2.0, effective_from=date(2026, 1, 1))
    assert override_messages(err.value) == ["model: must be at most 200 characters"]


def test_no_module_walks_validation_errors_but_core_validation() -> None:
    """The simulator mirrors a provider's wire format, not a person's form: it is exempt."""
    walkers = []
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel == "core/validation.py" or rel.startswith("core/simulator/"):
            continue
        if re.search(r"\.errors\(", path.read_text(encoding="utf-8")):
            walkers.append(rel)
    assert walkers == []
