"""AppTest: the Providers page — demo providers, add/test/edit/delete, roles, the key canary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import get_settings
from tests.helpers import page_path, signed_in

CANARY = "sk-canary-PROVIDERS-7e3b9c1d55"


@pytest.fixture()
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A simulator on a loopback port that the app's simulated providers use."""
    from core.simulator.server import start_background

    with start_background(0, seed=3, latency_scale=0.0) as handle:
        monkeypatch.setenv("SWITCHYARD_SIMULATOR_URL", handle.url)
        yield handle.url


def _open(username: str):
    at = signed_in(username)
    at.switch_page(page_path("providers")).run()
    assert not at.exception, at.exception
    return at


def _table(at):
    return at.dataframe[0].value


def _click(at, key: str):
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def _pid(name: str, org: str = "demo") -> str:
    """A provider's id by its name (AppTest selects a formatted option by its value)."""
    from core.config_store import ProviderStore

    return next(r.id for r in ProviderStore().list(org) if r.name == name)


def _all_text(at) -> str:
    parts = []
    for kind in ("markdown", "success", "info", "error", "warning", "caption", "text_input"):
        for el in getattr(at, kind):
            parts.append(str(getattr(el, "value", "")))
    for df in at.dataframe:
        parts.append(df.value.to_csv())
    return "\n".join(parts)


def test_demo_org_sees_simulated_providers_and_tests_them_all(
    seeded_home: Path, simulator: str
) -> None:
    at = _open("editor")
    assert [t.value for t in at.title][-1] == "Providers"
    assert any("Demo mode" in i.value for i in at.info)
    table = _table(at)
    assert len(table) == 6 and all("simulated" in n for n in table["Name"])
    assert set(table["Base URL"]) == {"built-in simulator"}
    at = _click(at, "test_all")
    table = _table(at)
    assert list(table["Last test"]) == ["✅ connected"] * 6, table[["Name", "Message"]]
    assert all(m > 0 for m in table["Models"])
    assert sum("Connected" in s.value for s in at.success) == 6
    # a second test right away is throttled, with a clear message
    at = _click(at, "test_one")
    text = _all_text(at)
    assert "before testing it again" in text and "wait" in text


def test_admin_adds_a_provider_with_a_key_stored_only_as_ciphertext(
    seeded_home: Path, simulator: str
) -> None:
    at = _open("owner")
    at.selectbox(key="add_type").select("openai_compatible").run()
    form_inputs = {t.label: t for t in at.text_input if str(t.key).startswith("add_")}
    form_inputs["Name"].input("Team gateway")
    form_inputs["Base URL"].input(simulator + "/custom/v1")
    form_inputs["Default model"].input("qwen2.5-vl-7b-instruct")
    next(t for t in at.text_input if t.key == "add_key").input(CANARY)
    next(b for b in at.button if b.label == "Add provider").click().run()
    assert not at.exception, at.exception
    assert any("Added Team gateway" in s.value for s in at.success)
    table = _table(at)
    row = table[table["Name"] == "Team gateway"].iloc[0]
    assert row["Key"] == "…" + CANARY[-4:]
    assert CANARY not in _all_text(at)

    # test it: the custom provider answers through the simulator's OpenAI-compatible API
    box = at.selectbox(key="test_pick")
    box.set_value(_pid("Team gateway")).run()
    at = _click(at, "test_one")
    table = _table(at)
    row = table[table["Name"] == "Team gateway"].iloc[0]
    assert row["Last test"] == "✅ connected", row["Message"]

    # nowhere on disk in plaintext
    home = get_settings().home
    for f in home.rglob("*"):
        if f.is_file():
            assert CANARY.encode() not in f.read_bytes(), f


def test_bad_input_gets_clear_messages_and_stores_nothing(seeded_home: Path,
                                                          simulator: str) -> None:
    at = _open("owner")
    before = len(_table(at))
    at.selectbox(key="add_type").select("ollama").run()
    inputs = {t.label: t for t in at.text_input if str(t.key).startswith("add_")}
    inputs["Name"].input("")
    inputs["Base URL"].input("not a url")
    next(b for b in at.button if b.label == "Add provider").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Name" in errors and "Base URL" in errors
    assert len(_table(at)) == before


def test_a_failing_provider_shows_why(seeded_home: Path, simulator: str) -> None:
    # the simulator refuses this key with OpenAI's 401 body
    at = _open("owner")
    at.selectbox(key="add_type").select("openai").run()
    inputs = {t.label: t for t in at.text_input if str(t.key).startswith("add_")}
    inputs["Name"].input("Wrong key")
    inputs["Base URL"].input(simulator + "/openai/v1")
    next(t for t in at.text_input if t.key == "add_key").input("bad-key")
    next(b for b in at.button if b.label == "Add provider").click().run()
    box = at.selectbox(key="test_pick")
    box.set_value(_pid("Wrong key")).run()
    at = _click(at, "test_one")
    table = _table(at)
    row = table[table["Name"] == "Wrong key"].iloc[0]
    assert row["Last test"] == "❌ failed"
    assert "Authentication" in row["Message"] and "bad-key" not in row["Message"]


def test_edit_and_delete(seeded_home: Path, simulator: str) -> None:
    at = _open("owner")
    at.selectbox(key="edit_pick").select("sim-mistral").run()
    name = next(t for t in at.text_input if t.label == "Name" and t.key.startswith("edit_"))
    name.input("Mistral (simulated, renamed)")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception
    assert "Mistral (simulated, renamed)" in list(_table(at)["Name"])

    at.selectbox(key="delete_pick").select("sim-mistral").run()
    assert at.button(key="delete_go").disabled
    at.checkbox(key="delete_sure").check().run()
    at = _click(at, "delete_go")
    assert not any("Mistral" in n for n in _table(at)["Name"])


def test_viewer_reads_the_list_without_keys_or_actions(seeded_home: Path,
                                                       simulator: str) -> None:
    at = _open("viewer")
    table = _table(at)
    assert len(table) == 6 and "Key" not in table.columns
    keys = {b.key for b in at.button}
    assert not keys & {"test_one", "test_all", "delete_go"}
    assert not any(b.label == "Add provider" for b in at.button)
    assert any("admins and editors" in c.value for c in at.caption)


def test_other_org_does_not_see_the_demo_providers(seeded_home: Path, simulator: str) -> None:
    at = _open("acme_admin")
    assert not at.dataframe
    assert any("No providers yet" in i.value for i in at.info)


def test_simulator_is_only_on_loopback(simulator: str) -> None:
    assert simulator.startswith("http://127.0.0.1:")
    assert httpx.get(simulator + "/openai/v1/models",
                     headers={"Authorization": "Bearer x"}).status_code == 200


def test_models_discovered_by_the_catalog_are_counted_without_a_test(
    seeded_home: Path, simulator: str
) -> None:
    """The demo catalog's discovery (30 models) shows in the table; it used to say 0."""
    from core.catalog.discovery import run_discovery
    from core.config_store import CatalogStore, ProviderStore

    at = _open("editor")  # provisions the demo providers
    catalog = CatalogStore()
    run = run_discovery(ProviderStore(), catalog, "demo", actor="tester")
    assert run.status == "success"
    at.run()
    table = _table(at)
    assert set(table["Last test"]) == {"— not tested"}
    per_provider = {r.name: len(catalog.models("demo", provider_id=r.id, active_only=True))
                    for r in ProviderStore().list("demo")}
    assert sum(per_provider.values()) == 30
    assert dict(zip(table["Name"], table["Models"], strict=True)) == per_provider


def test_extra_headers_typed_as_text_are_read_by_the_schema(seeded_home: Path,
                                                             simulator: str) -> None:
    """The page passes the headers text as typed; a bad line is an error naming the line, and
    after fixing it the headers are stored (and shown again in the edit form as text)."""
    at = _open("owner")
    at.selectbox(key="add_type").select("openai_compatible").run()
    inputs = {t.label: t for t in at.text_input if str(t.key).startswith("add_")}
    inputs["Name"].input("Headed gateway")
    inputs["Base URL"].input(simulator + "/custom/v1")
    headers = next(t for t in at.text_area if str(t.key).startswith("add_"))
    headers.input("X-Tenant: blue\nX-Team data")
    next(b for b in at.button if b.label == "Add provider").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["Extra headers: line 2 is not “Name: value”"]
    next(t for t in at.text_area if str(t.key).startswith("add_")).input(
        "X-Tenant: blue\nX-Team: data")
    next(b for b in at.button if b.label == "Add provider").click().run()
    assert not at.exception, at.exception
    from core.config_store import ProviderStore

    (rec,) = [r for r in ProviderStore().list("demo") if r.name == "Headed gateway"]
    assert rec.settings.headers == {"X-Tenant": "blue", "X-Team": "data"}
    at.selectbox(key="edit_pick").set_value(rec.id).run()
    edit_text = next(t.value for t in at.text_area if str(t.key).startswith(f"edit_{rec.id}"))
    assert sorted(edit_text.splitlines()) == ["X-Team: data", "X-Tenant: blue"]


def test_pull_a_model_into_ollama_from_the_form(seeded_home: Path, simulator: str) -> None:
    """The pull form (Ollama providers only) shows progress, then the model is in the
    catalog and counted in the table; a name the library lacks is an error, nothing added."""
    from core.config_store import CatalogStore

    at = _open("owner")
    assert list(at.selectbox(key="pull_pick").options) == ["Ollama (simulated)"]
    at.text_input(key="pull_model").input("nope:1b")
    next(b for b in at.button if b.label == "Pull model").click().run()
    assert not at.exception, at.exception
    assert any("'nope:1b' is not in the Ollama library" in e.value for e in at.error)

    at.text_input(key="pull_model").input("gemma3:4b")
    next(b for b in at.button if b.label == "Pull model").click().run()
    assert not at.exception, at.exception
    assert any("Pulled gemma3:4b into Ollama (simulated)" in s.value for s in at.success)
    catalog = {m.model_id for m in CatalogStore().models("demo", provider_id="sim-ollama")}
    assert "gemma3:4b" in catalog
    table = _table(at)
    row = table[table["Name"] == "Ollama (simulated)"].iloc[0]
    assert row["Models"] == len(catalog)


def test_the_pull_form_is_for_managers_only(seeded_home: Path, simulator: str) -> None:
    at = _open("viewer")
    assert not [b for b in at.button if b.label == "Pull model"]
