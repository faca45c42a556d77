"""AppTest: the Model catalog — demo models with prices and performance, filters, a model's
test, Use, discovery with a new and a retired model, negotiated prices, rules, roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config_store import CatalogStore
from tests.helpers import open_tab, page_path, signed_in


def _open(username: str):
    at = signed_in(username)
    at.switch_page(page_path("catalog")).run(timeout=60)
    assert not at.exception, at.exception
    return at


def _run(at):
    at.run(timeout=60)
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    parts = [str(getattr(el, "value", "")) for kind in
             ("markdown", "caption", "success", "info", "warning", "error", "subheader")
             for el in getattr(at, kind)]
    parts += [m.label + " " + str(m.value) for m in at.metric]
    return "\n".join(parts)


def _table_view(at):
    open_tab(at, "catalog_tab", "Models")
    at.segmented_control(key="f_view").set_value("Table")
    _run(at)
    return at.dataframe[0].value


def test_demo_catalog_lists_priced_and_measured_models(seeded_home: Path, sim) -> None:
    at = _open("analyst")
    assert [t.value for t in at.title][-1] == "Model catalog"
    df = _table_view(at)
    assert len(df) >= 20
    assert set(df["Provider"]) >= {"OpenAI (simulated)", "Anthropic (simulated)",
                                   "Google Gemini (simulated)"}
    row = df[df["Model"] == "gpt-4o-mini"].iloc[0]
    from genai_prices import Usage, calc_price

    exact = calc_price(Usage(input_tokens=1_000_000, output_tokens=0), "gpt-4o-mini",
                       provider_id="openai")
    assert row["Input $/Mtok"] == pytest.approx(float(exact.total_price))
    assert row["Price source"] == "genai-prices"
    assert row["Requests (window)"] > 0 and row["p95 latency ms"] > 0  # live figures
    assert df[df["Model"] == "llama3.2-vision:11b"].iloc[0]["Price source"] == "free (local)"
    assert at.get("plotly_chart")  # price vs speed

    # filters: one provider, search, sort by cost
    at.multiselect(key="f_provider").set_value(["Google Gemini (simulated)"])
    at.selectbox(key="f_sort").set_value("cost")
    df = _table_view(_run(at))
    assert set(df["Provider"]) == {"Google Gemini (simulated)"}
    prices = [p for p in df["Input $/Mtok"] if p == p]
    assert prices == sorted(prices)
    at.text_input(key="f_search").input("flash")
    df = _table_view(_run(at))
    assert len(df) and all("flash" in m for m in df["Model"])
    at.text_input(key="f_search").input("no-such-model-xyz")
    _run(at)
    assert any("No model matches" in w.value for w in at.warning)


def test_test_a_model_and_use_it(seeded_home: Path, sim) -> None:
    at = _open("editor")
    at.text_input(key="f_search").input("gpt-4o-mini")
    _run(at)
    idx = next(b.key for b in at.button if b.key and b.key.startswith("test_")
               and not b.disabled and b.key[5:].isdigit())
    at.button(key=idx).click()
    _run(at)
    at.button(key="test_run").click()
    _run(at)
    text = _text(at)
    assert "Latency" in text and "Cost" in text, text
    assert any(m.label == "Cost" and m.value.startswith("$") for m in at.metric)
    assert at.text and at.text[0].value.strip()  # the model's answer

    use = next(b for b in at.button if b.key and b.key.startswith("use_") and not b.disabled)
    use.click()
    _run(at)
    assert any("is now the default model" in s.value for s in at.success)
    defaults = CatalogStore().defaults("demo")
    assert any(m.model_id.startswith("gpt-4o-mini") for m in defaults.values())


def test_discovery_finds_a_new_model_and_retires_a_dropped_one(seeded_home: Path, sim) -> None:
    at = _open("owner")
    assert CatalogStore().models("demo")  # the demo catalog was filled on first open
    sim.simulator.add_fault({"provider": "openai", "list_models_add": ["gpt-5.1"],
                             "list_models_remove": ["gpt-4o-mini"]})
    open_tab(at, "catalog_tab", "Discovery")
    at.button(key="disc_go").click()
    _run(at)
    text = _text(at)
    assert "gpt-5.1" in text and "gpt-4o-mini" in text and "inactive" in text, text
    history = next(d.value for d in at.dataframe if "Status" in d.value.columns)
    assert len(history) >= 2 and history.iloc[0]["New"] >= 1
    assert history.iloc[0]["Deprecated"] >= 1
    dropped = [m for m in CatalogStore().models("demo") if m.model_id == "gpt-4o-mini"]
    assert dropped and not dropped[0].active  # kept, inactive

    # the retired model is hidden unless asked for
    df = _table_view(at)
    assert "gpt-4o-mini" not in set(df["Model"]) and "gpt-5.1" in set(df["Model"])
    at.checkbox(key="f_inactive").check()
    df = _table_view(_run(at))
    assert "gpt-4o-mini" in set(df["Model"])


def test_a_failing_provider_makes_a_partial_run(seeded_home: Path, sim) -> None:
    at = _open("owner")
    sim.simulator.add_fault({"provider": "mistral", "status": 500})
    open_tab(at, "catalog_tab", "Discovery")
    at.button(key="disc_go").click()
    _run(at)
    text = _text(at)
    assert "partly failed" in text and "Mistral (simulated) failed" in text, text


def test_negotiated_price_and_bad_input(seeded_home: Path, sim) -> None:
    at = open_tab(_open("owner"), "catalog_tab", "Prices")
    at.selectbox(key="price_provider").set_value("openai")
    at.text_input(key="price_model").input("gpt-4o")
    at.number_input(key="price_in").set_value(-1.0)
    at.number_input(key="price_out").set_value(5.0)
    at.button(key="FormSubmitter:price_form-Save price").click()
    _run(at)
    assert at.error, "a negative price must be refused with a message"
    at.number_input(key="price_in").set_value(1.0)
    at.button(key="FormSubmitter:price_form-Save price").click()
    _run(at)
    assert any("Saved the negotiated price" in s.value for s in at.success)
    df = _table_view(at)
    row = df[df["Model"] == "gpt-4o"].iloc[0]
    assert row["Input $/Mtok"] == 1.0 and row["Price source"] == "override"
    open_tab(at, "catalog_tab", "Prices")
    at.button(key="reprice_go").click()
    _run(at)
    assert any("re-priced" in s.value for s in at.success)


def test_rules_are_validated(seeded_home: Path, sim) -> None:
    at = open_tab(_open("owner"), "catalog_tab", "Classification rules")
    assert any("default rules" in m.value for m in at.markdown)
    # bad rules are refused with a message naming the rule; nothing is saved
    from core.config_store import InvalidRules

    with pytest.raises(InvalidRules):
        CatalogStore().set_rules("demo", [{"pattern": "(", "match": "regex",
                                           "class": "flagship"}], "owner")
    assert CatalogStore().rules("demo").is_default


def test_viewer_reads_without_actions(seeded_home: Path, sim) -> None:
    at = _open("viewer")
    assert not at.exception
    assert all(b.disabled for b in at.button if b.key and b.key.split("_")[0] in ("use", "test")
               and b.key.split("_")[-1].isdigit())
    assert "disc_go" not in {b.key for b in open_tab(at, "catalog_tab", "Discovery").button}
    assert "rules_save" not in {
        b.key for b in open_tab(at, "catalog_tab", "Classification rules").button}
    assert any("Only admins set negotiated prices" in c.value
               for c in open_tab(at, "catalog_tab", "Prices").caption)
