"""The config store: SQLite setup, migrations, org scoping, schemas and secrets at rest."""

from __future__ import annotations

import re
import sqlite3
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config_store import (
    KEEP,
    MIGRATIONS,
    PROVIDER_TYPES,
    TEMPLATES,
    ConfigStoreError,
    Migration,
    ProviderNotFound,
    ProviderStore,
    ProviderType,
    StaleWrite,
    connect,
    migrate,
    parse_provider_settings,
    validation_messages,
)
from core.config_store import db as store_db
from core.config_store.rotation import rotate
from core.config_store.schemas import OpenAICompatibleSettings
from core.settings import get_settings
from core.vault import MasterKeyGenerated, VaultError, load_vault

CANARY = "sk-CANARY-7f3a9c2e41b8d6f05e17a3c9b2d48e6f"


@pytest.fixture(autouse=True)
def _no_master_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SWITCHYARD_MASTER_KEY", "SWITCHYARD_MASTER_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def store(home: Path) -> ProviderStore:
    with pytest.warns(MasterKeyGenerated):
        load_vault()
    return ProviderStore()


def _messages(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as err:
        parse_provider_settings(data)
    return validation_messages(err.value)


# -- SQLite ---------------------------------------------------------------------------------


def test_wal_mode_foreign_keys_and_private_file(home: Path) -> None:
    ProviderStore()
    path = get_settings().config_path
    assert path == home / "config.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        conn.close()


def test_migrations_are_versioned_and_idempotent(home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / "config.sqlite"
    conn = connect(path)  # applies everything
    try:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == [m.version for m in MIGRATIONS]
        assert migrate(conn) == []
        assert migrate(conn) == []
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"providers", "provider_secrets", "audit_log", "meta", "schema_version"} <= tables

        # A later issue adds a table: one more entry in the list, applied once.
        extra = Migration(MIGRATIONS[-1].version + 1, "test table",
                          "CREATE TABLE later_thing (id INTEGER PRIMARY KEY);\n"
                          "CREATE INDEX later_thing_id ON later_thing (id);")
        monkeypatch.setattr(store_db, "MIGRATIONS", [*MIGRATIONS, extra])
        assert migrate(conn) == [extra.version]
        assert migrate(conn) == []
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == extra.version
    finally:
        conn.close()


def test_failed_migration_is_rolled_back(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(home / "config.sqlite")
    try:
        bad = Migration(MIGRATIONS[-1].version + 1, "broken",
                        "CREATE TABLE half_done (id INTEGER);\nTHIS IS NOT SQL;")
        monkeypatch.setattr(store_db, "MIGRATIONS", [*MIGRATIONS, bad])
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in names
        assert store_db.current_version(conn) == MIGRATIONS[-1].version
    finally:
        conn.close()


def test_statement_splitter_keeps_triggers_whole() -> None:
    parts = store_db.statements(MIGRATIONS[0].sql)
    triggers = [p for p in parts if p.startswith("CREATE TRIGGER")]
    assert len(triggers) == 2 and all(t.rstrip().endswith("END;") for t in triggers)


def test_audit_log_is_append_only(store: ProviderStore) -> None:
    store.add("acme", {"type": "ollama", "name": "Local", "base_url": "http://localhost:11434"},
              None, "ann")
    with store._connect() as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit_log SET actor = 'mallory'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_log")


def test_a_secret_cannot_point_at_another_orgs_provider(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    with store._connect() as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE provider_secrets SET org_id = 'globex' WHERE provider_id = ?",
                      (rec.id,))


# -- organization scoping -------------------------------------------------------------------


def test_org_b_cannot_see_change_or_delete_org_a_providers(store: ProviderStore) -> None:
    a = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    assert store.list("globex") == []
    assert store.get("globex", a.id) is None
    with pytest.raises(ProviderNotFound):
        store.update("globex", a.id, {"type": "openai", "name": "Hijacked"}, KEEP, "eve")
    with pytest.raises(ProviderNotFound):
        store.update("globex", a.id, None, "sk-attacker-key-0123456789", "eve")
    with pytest.raises(ProviderNotFound):
        store.remove("globex", a.id, "eve")
    with pytest.raises(ProviderNotFound):
        store.api_key("globex", a.id)
    with pytest.raises(ProviderNotFound):
        store.record_test("globex", a.id, False, "x")
    with pytest.raises(ProviderNotFound):
        store.last_test_age("globex", a.id)
    assert store.audit_entries("globex") == []

    same = store.get("acme", a.id)
    assert same is not None and same.name == "OpenAI" and same.version == 1
    assert store.api_key("acme", a.id) == CANARY
    # Same provider name in another org is fine: names are unique per organization.
    store.add("globex", {"type": "openai", "name": "OpenAI"}, "sk-globex-0123456789ab", "gil")
    assert [p.org_id for p in store.list("globex")] == ["globex"]


@pytest.mark.parametrize("org", ["", "Acme", "acme corp", "../etc", "a|b"])
def test_bad_org_ids_are_refused(store: ProviderStore, org: str) -> None:
    with pytest.raises(ConfigStoreError, match="organization id"):
        store.list(org)


# -- providers ------------------------------------------------------------------------------


def test_add_get_list_and_defaults(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "  OpenAI prod ", "temperature": 0.3,
                             "models": ["gpt-4o", "gpt-4o", "gpt-4o-mini"]}, CANARY, "ann")
    assert rec.id.startswith("openai-prod-") and rec.name == "OpenAI prod"
    assert rec.base_url == "https://api.openai.com/v1"
    assert rec.settings.models == ["gpt-4o", "gpt-4o-mini"]
    assert rec.has_key and rec.key_last4 == "…" + CANARY[-4:] and rec.created_by == "ann"
    assert rec.info.protocol == "openai" and rec.enabled
    assert store.list("acme") == [rec]
    with pytest.raises(ConfigStoreError, match="already a provider called"):
        store.add("acme", {"type": "anthropic", "name": "openai PROD"}, "sk-ant-0123456789", "a")


def test_key_rules_per_type(store: ProviderStore) -> None:
    with pytest.raises(ConfigStoreError, match="OpenAI needs an api key"):
        store.add("acme", {"type": "openai", "name": "No key"}, None, "ann")
    with pytest.raises(ConfigStoreError, match="takes no API key"):
        store.add("acme", {"type": "ollama", "name": "L", "base_url": "http://localhost:11434"},
                  "sk-abc-0123456789", "ann")
    custom = store.add("acme", {"type": "openai_compatible", "name": "vLLM",
                                "base_url": "http://10.0.0.5:8000/v1/"}, "  ", "ann")
    assert not custom.has_key and custom.base_url == "http://10.0.0.5:8000/v1"
    sim = store.add("acme", {"type": "anthropic", "name": "Sim"}, None, "ann", simulated=True)
    assert sim.simulated and not sim.has_key
    with pytest.raises(ConfigStoreError, match="control character"):
        store.add("acme", {"type": "openai", "name": "Bad"}, "sk-abc\ndef-0123456789", "ann")
    with pytest.raises(ConfigStoreError, match="appears in the settings"):
        store.add("acme", {"type": "openai_compatible", "name": "Leaky",
                           "base_url": "http://h/v1", "headers": {"X-Tenant": CANARY}},
                  CANARY, "ann")


def test_update_keep_replace_remove_and_concurrency(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai_compatible", "name": "Gateway",
                             "base_url": "https://gw.example.com/v1"}, CANARY, "ann")
    same = store.update("acme", rec.id, rec.settings, KEEP, "bob")
    assert same.version == 1  # nothing changed: nothing written

    cfg = rec.settings.model_dump() | {"default_model": "qwen2.5-vl-7b-instruct"}
    v2 = store.update("acme", rec.id, cfg, KEEP, "bob", expected_version=1)
    assert v2.version == 2 and v2.updated_by == "bob" and store.api_key("acme", rec.id) == CANARY
    with pytest.raises(StaleWrite):
        store.update("acme", rec.id, cfg | {"timeout_s": 30}, KEEP, "carol", expected_version=1)

    v3 = store.update("acme", rec.id, None, "sk-replacement-0123456789", "bob")
    assert v3.key_last4 == "…6789" and store.api_key("acme", rec.id) == "sk-replacement-0123456789"
    with pytest.raises(ConfigStoreError, match="empty"):
        store.update("acme", rec.id, None, "", "bob")
    v4 = store.update("acme", rec.id, None, None, "bob")
    assert not v4.has_key and store.api_key("acme", rec.id) is None

    with pytest.raises(ConfigStoreError, match="type cannot be changed"):
        store.update("acme", rec.id, {"type": "openai", "name": "Gateway"}, KEEP, "bob")

    actions = [(e.action, e.detail.get("key_change")) for e in store.audit_entries("acme")]
    assert actions == [("provider.edit", "removed"), ("provider.edit", "replaced"),
                       ("provider.edit", "unchanged"), ("provider.add", "set")]


def test_moving_a_key_to_another_server_needs_the_key_again(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    moved = rec.settings.model_dump() | {"base_url": "https://attacker.example/v1"}
    with pytest.raises(ConfigStoreError, match="enter the API key again"):
        store.update("acme", rec.id, moved, KEEP, "eve")
    assert store.get("acme", rec.id).base_url == "https://api.openai.com/v1"
    # Same server, different path: fine. New server with the key re-entered: fine.
    store.update("acme", rec.id, moved | {"base_url": "https://api.openai.com/v1/"}, KEEP, "ann")
    store.update("acme", rec.id, moved, "sk-new-0123456789abcdef", "ann")


def test_remove_deletes_the_secret_too(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    store.remove("acme", rec.id, "ann")
    assert store.get("acme", rec.id) is None
    with store._connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM provider_secrets").fetchone()[0] == 0
    with pytest.raises(ProviderNotFound):
        store.remove("acme", rec.id, "ann")
    assert store.audit_entries("acme")[0].action == "provider.delete"


def test_record_test_and_throttle_age(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    assert store.last_test_age("acme", rec.id) is None
    store.record_test("acme", rec.id, False, f"401 Incorrect API key provided: {CANARY}", 123.4,
                      None, actor="ann")
    got = store.get("acme", rec.id)
    assert got.last_test_ok is False and got.last_test_latency_ms == 123.4
    assert CANARY not in (got.last_test_message or "") and "[redacted]" in got.last_test_message
    store.record_test("acme", rec.id, True, "Connected · 42 models", 80.0, 42, audit=False)
    got = store.get("acme", rec.id)
    assert got.last_test_ok and got.models_count == 42
    age = store.last_test_age("acme", rec.id)
    assert age is not None and 0 <= age < 60
    tests = [e for e in store.audit_entries("acme") if e.action == "provider.test"]
    assert len(tests) == 1 and tests[0].detail["ok"] is False


# -- secrets at rest ------------------------------------------------------------------------


def test_key_never_in_plaintext_in_database_wal_audit_or_repr(store: ProviderStore) -> None:
    path = get_settings().config_path
    holder = sqlite3.connect(path)  # an open reader keeps the WAL file from being folded away
    try:
        holder.execute("SELECT 1 FROM providers").fetchall()
        rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
        store.update("acme", rec.id, rec.settings.model_dump() | {"temperature": 0.1},
                     KEEP, "ann")
        store.record_test("acme", rec.id, False, f"bad key {CANARY}", 10.0, None)
        other = store.add("globex", {"type": "gemini", "name": "Gemini"}, CANARY, "gil")
        assert store.api_key("acme", rec.id) == store.api_key("globex", other.id) == CANARY

        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        needles = (CANARY.encode(), CANARY[:-4].encode(), CANARY.encode("utf-16-le"))
        for f in (path, wal):
            data = f.read_bytes()
            assert not any(n in data for n in needles), f"plaintext key in {f.name}"

        entries = store.audit_entries("acme") + store.audit_entries("globex")
        assert entries and all(CANARY not in e.model_dump_json() for e in entries)
        for r in (store.get("acme", rec.id), store.get("globex", other.id)):
            assert CANARY not in repr(r) and CANARY not in str(r)
            assert CANARY not in r.model_dump_json()
        assert CANARY not in repr(store) and CANARY not in repr(store.vault)

        rotate(store)
        for f in (path, wal):
            if f.exists():
                assert CANARY.encode() not in f.read_bytes()
    finally:
        holder.close()


# -- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "openai_compatible", "name": "Custom"}, "Base URL: is required"),
        ({"type": "ollama", "name": "Local", "base_url": ""},
         "Base URL: is required for Ollama (local), e.g. http://localhost:11434"),
        ({"type": "openai", "name": "O", "temperature": 3}, "Temperature: must be at most 2"),
        ({"type": "anthropic", "name": "A", "temperature": 1.5},
         "Temperature: Anthropic accepts a temperature between 0 and 1"),
        ({"type": "openai", "name": "O", "temperature": "warm"}, "Temperature: must be a number"),
        ({"type": "openai", "name": "O", "base_url": "api.openai.com"},
         "Base URL: must be a web address starting with http:// or https://"),
        ({"type": "openai", "name": "O", "base_url": "ftp://files.example.com"},
         "Base URL: must be a web address"),
        ({"type": "openai", "name": "O", "base_url": "https://user:pw@example.com/v1"},
         "Base URL: must not contain a user name or password"),
        ({"type": "openai_compatible", "name": "C", "base_url": "http://h/v1",
          "headers": {"Authorization": "Bearer x"}},
         "Extra headers: “Authorization” carries a credential: put the key in the API key field"),
        ({"type": "openai_compatible", "name": "C", "base_url": "http://h/v1",
          "headers": {"X-API-Key": "x"}}, "Extra headers: “X-API-Key” carries a credential"),
        ({"type": "openai_compatible", "name": "C", "base_url": "http://h/v1",
          "headers": {"Bad Header": "x"}}, "Extra headers: “Bad Header” is not a valid header"),
        ({"type": "openai", "name": "O", "headers": {"X-Tenant": "a"}},
         "Extra headers: are only available for custom OpenAI-compatible providers"),
        ({"type": "openai", "name": ""}, "Name: must not be empty"),
        ({"type": "openai", "name": "x" * 61}, "Name: must be at most 60 characters"),
        ({"type": "openai", "name": "O", "max_tokens": 0}, "Max tokens: must be at least 1"),
        ({"type": "openai", "name": "O", "max_tokens": 200_001},
         "Max tokens: must be at most 200000"),
        ({"type": "openai", "name": "O", "timeout_s": 601},
         "Timeout (seconds): must be at most 600"),
        ({"type": "openai", "name": "O", "requests_per_minute": 0},
         "Requests per minute: must be at least 1"),
        ({"type": "openai", "name": "O", "default_model": "gpt 4o"}, "Default model: must be"),
        ({"type": "openai", "name": "O", "api_key": CANARY},
         "API key: enter it in the API key field"),
        ({"type": "openai", "name": "O", "colour": "red"},
         "Colour: is not a setting of this provider type"),
        ({"type": "watson", "name": "W"}, "Provider type: must be one of: openai"),
        ({"name": "W"}, "Provider type: is required"),
    ],
)
def test_bad_settings_give_readable_messages(data: dict, expected: str) -> None:
    messages = _messages(data)
    assert any(m.startswith(expected) for m in messages), messages


def test_validation_messages_never_echo_input() -> None:
    with pytest.raises(ValidationError) as err:
        parse_provider_settings({"type": "openai_compatible", "name": "C", "base_url": "x",
                                 "headers": {"X-Token": CANARY}, "api_key": CANARY})
    assert CANARY not in str(err.value) and CANARY not in repr(err.value)
    assert all(CANARY not in m for m in validation_messages(err.value))
    assert len(validation_messages(err.value)) == 3


def test_every_type_has_a_schema_and_defaults() -> None:
    for t, info in PROVIDER_TYPES.items():
        data = {"type": t.value, "name": info.label}
        if info.base_url_required:
            data["base_url"] = info.suggested_base_url
        cfg = parse_provider_settings(data)
        assert cfg.type == t.value and cfg.base_url
        if not info.base_url_required:
            assert cfg.base_url == info.default_base_url
    custom = OpenAICompatibleSettings(name="c", base_url="http://h:8000/v1",
                                      headers={"X-Tenant": "blue"})
    assert custom.adapter_headers() == {"X-Tenant": "blue"}
    assert parse_provider_settings({"type": "openai", "name": "o", "organization": "org-1"}
                                   ).adapter_headers() == {"OpenAI-Organization": "org-1"}


def test_templates_are_valid_settings() -> None:
    assert {t.provider_type for t in TEMPLATES} >= {ProviderType.openai, ProviderType.anthropic,
                                                    ProviderType.gemini, ProviderType.mistral,
                                                    ProviderType.ollama, ProviderType.gcp_vision}
    assert len({t.id for t in TEMPLATES}) == len(TEMPLATES)
    for t in TEMPLATES:
        cfg = parse_provider_settings(t.settings())
        assert cfg.default_model == t.default_model and t.description


def test_a_providers_model_count_is_what_the_catalog_holds(store: ProviderStore) -> None:
    """Discovery writes the catalog, not the provider row: the count a provider shows comes
    from the catalog's active models, before any connection test has counted them."""
    from core.config_store import CatalogStore
    from core.config_store.catalog_store import ModelMeta, ProviderSync

    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    assert store.get("acme", rec.id).model_count is None  # neither listed nor tested
    catalog = CatalogStore()
    listed = tuple(ModelMeta(model_id=m) for m in ("gpt-5", "gpt-5-mini", "gpt-4o"))
    catalog.sync_provider("acme", rec.id, lambda _rows: ProviderSync(insert=listed))
    assert store.get("acme", rec.id).model_count == 3
    catalog.sync_provider("acme", rec.id, lambda _rows: ProviderSync(deprecate=("gpt-4o",)))
    (got,) = store.list("acme")
    assert got.model_count == 2  # deprecated models are not counted
    store.record_test("acme", rec.id, True, "Connected · 5 models", 80.0, 5, audit=False)
    assert store.get("acme", rec.id).model_count == 2  # the catalog wins once it has models


def test_before_discovery_the_last_connection_test_counts(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    store.record_test("acme", rec.id, True, "Connected · 42 models", 80.0, 42, audit=False)
    assert store.get("acme", rec.id).model_count == 42


def test_every_provider_change_leaves_its_exact_audit_entry(store: ProviderStore) -> None:
    """Who did what to which provider, with what detail (never the key): one entry per
    change, in order, and a no-op edit leaves none."""
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    store.update("acme", rec.id, {"type": "openai", "name": "OpenAI"}, KEEP, "bob",
                 expected_version=rec.version)  # nothing changed: no entry, no new version
    edited = store.update("acme", rec.id, {"type": "openai", "name": "OpenAI prod"},
                          "sk-another-key-0123456789abcdef", "bob",
                          expected_version=rec.version)
    assert edited.version == rec.version + 1 and edited.settings.name == "OpenAI prod"
    store.record_test("acme", rec.id, True, "listed 3 models", 12.5, actor="carl",
                      models_count=3)
    store.remove("acme", rec.id, "dana")
    entries = [(e.actor, e.action, e.target, e.detail)
               for e in reversed(store.audit_entries("acme", limit=10))]
    assert entries == [
        ("ann", "provider.add", rec.id, {"name": "OpenAI", "type": "openai",
                                          "base_url": "https://api.openai.com/v1",
                                          "simulated": False, "key_change": "set"}),
        ("bob", "provider.edit", rec.id, {"name": "OpenAI prod", "changed": ["name"],
                                           "key_change": "replaced"}),
        ("carl", "provider.test", rec.id, {"ok": True, "latency_ms": 12.5, "models_count": 3}),
        ("dana", "provider.delete", rec.id, {"name": "OpenAI prod", "type": "openai"}),
    ]
    assert CANARY not in repr(entries)
    assert store.get("acme", rec.id) is None
    with pytest.raises(ProviderNotFound):
        store.remove("acme", rec.id, "dana")


# -- what mutation testing showed unpinned --------------------------------------------------

NOT_FOUND = "There is no such provider in this organization."


def test_provider_ids_are_a_slug_of_the_name_plus_six_hex_digits() -> None:
    from core.config_store.providers import PROVIDER_ID_RE, new_provider_id

    cases = {
        "a" * 50: r"a{40}",                      # the slug is cut at 40 characters
        "** " + "b" * 45: r"b{40}",              # leading punctuation does not count
        "a" * 39 + " x": r"a{39}",               # nor a dash left at the cut
        "(OpenAI) prod!": r"openai-prod",
        "日本語": r"provider",                    # nothing usable: a generic slug
        "???": r"provider",
    }
    for name, slug in cases.items():
        pid = new_provider_id(name)
        assert re.fullmatch(slug + r"-[0-9a-f]{6}", pid), (name, pid)
        assert PROVIDER_ID_RE.fullmatch(pid)
    assert len({new_provider_id("Same") for _ in range(20)}) == 20


def test_repr_names_the_file_and_nothing_else(store: ProviderStore) -> None:
    assert repr(store) == f"ProviderStore(path={str(get_settings().config_path)!r})"


def test_not_found_messages_are_exact(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    calls = [
        lambda: store.update("globex", rec.id, None, KEEP, "eve"),
        lambda: store.update("acme", "no-such-id", None, "sk-x-0123456789", "eve"),
        lambda: store.remove("globex", rec.id, "eve"),
        lambda: store.record_test("globex", rec.id, True, "ok"),
        lambda: store.last_test_age("globex", rec.id),
        lambda: store.api_key("globex", rec.id),
    ]
    for call in calls:
        with pytest.raises(ProviderNotFound) as err:
            call()
        assert str(err.value) == NOT_FOUND
    assert store.get("acme", rec.id).version == 1


def test_update_refusals_say_exactly_why(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    with pytest.raises(StaleWrite) as err:
        store.update("acme", rec.id, {"type": "openai", "name": "Renamed"}, KEEP, "bob",
                     expected_version=rec.version + 1)
    assert str(err.value) == ("Someone else changed this provider since you opened it. "
                              "Reload it and make your change again.")
    with pytest.raises(ConfigStoreError) as err:
        store.update("acme", rec.id, {"type": "anthropic", "name": "OpenAI"}, KEEP, "bob")
    assert str(err.value) == ("The provider type cannot be changed; add a new provider "
                              "instead.")
    with pytest.raises(ConfigStoreError) as err:
        store.update("acme", rec.id, {"type": "openai", "name": "OpenAI",
                                      "base_url": "https://elsewhere.example/v1"}, KEEP, "bob")
    assert str(err.value) == ("The base URL now points at a different server: enter the API "
                              "key again to confirm it may be sent there.")
    got = store.get("acme", rec.id)
    assert (got.version, got.name, got.base_url) == (1, "OpenAI", "https://api.openai.com/v1")
    assert [e.action for e in store.audit_entries("acme")] == ["provider.add"]


def test_a_look_alike_host_is_a_different_server(store: ProviderStore) -> None:
    """A dotless ı makes another domain that upper-cases like the real one; the stored key must
    not follow it without being entered again. Letter case alone is the same server."""
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    fake = {"type": "openai", "name": "OpenAI", "base_url": "https://api.openaı.com/v1"}
    with pytest.raises(ConfigStoreError, match="enter the API key again"):
        store.update("acme", rec.id, fake, KEEP, "eve")
    assert store.get("acme", rec.id).base_url == "https://api.openai.com/v1"
    same = store.update("acme", rec.id, fake | {"base_url": "HTTPS://API.OpenAI.com/v1"},
                        KEEP, "ann")
    assert same.version == 2 and store.api_key("acme", rec.id) == CANARY


def test_a_simulated_provider_without_a_key_can_still_be_edited(store: ProviderStore) -> None:
    sim = store.add("acme", {"type": "anthropic", "name": "Sim"}, None, "ann", simulated=True)
    edited = store.update("acme", sim.id, {"type": "anthropic", "name": "Sim 2"}, KEEP, "bob")
    assert edited.name == "Sim 2" and edited.version == 2 and not edited.has_key
    again = store.update("acme", sim.id, {"type": "anthropic", "name": "Sim 3"}, None, "bob")
    assert again.name == "Sim 3" and again.simulated


def test_an_edit_may_not_put_the_new_key_into_the_settings(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai_compatible", "name": "Gateway",
                             "base_url": "https://gw.example.com/v1"}, None, "ann")
    leaky = rec.settings.model_dump() | {"headers": {"X-Tenant": CANARY}}
    with pytest.raises(ConfigStoreError) as err:
        store.update("acme", rec.id, leaky, CANARY, "bob")
    assert str(err.value) == ("The API key appears in the settings (a header or the URL?). "
                              "Enter it only in the API key field, where it is encrypted.")
    got = store.get("acme", rec.id)
    assert got.version == 1 and got.settings.headers == {} and not got.has_key
    with store._connect() as conn:
        assert CANARY not in conn.execute("SELECT settings_json FROM providers").fetchone()[0]


def test_a_first_key_is_set_and_records_who_entered_it(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai_compatible", "name": "Gateway",
                             "base_url": "https://gw.example.com/v1"}, None, "ann")
    got = store.update("acme", rec.id, None, "tok-0123456789", "bob")
    assert got.has_key and got.key_last4 == "…6789" and got.version == 2
    store.update("acme", rec.id, None, "tok-abcdefghij", "carol")
    with store._connect() as conn:
        rows = conn.execute("SELECT provider_id, org_id, updated_by FROM provider_secrets"
                            ).fetchall()
    assert [tuple(r) for r in rows] == [(rec.id, "acme", "carol")]
    edits = [(e.actor, e.detail) for e in reversed(store.audit_entries("acme"))
             if e.action == "provider.edit"]
    assert edits == [("bob", {"name": "Gateway", "changed": [], "key_change": "set"}),
                     ("carol", {"name": "Gateway", "changed": [], "key_change": "replaced"})]


def test_record_test_scrubs_the_providers_own_key_and_keeps_empty_messages(
        store: ProviderStore) -> None:
    key = "hunter2hunter2"  # not shaped like a key: only knowing the key redacts it
    rec = store.add("acme", {"type": "openai_compatible", "name": "Gateway",
                             "base_url": "https://gw.example.com/v1"}, key, "ann")
    store.record_test("acme", rec.id, False, f"401: token {key} rejected", 5.0)
    got = store.get("acme", rec.id)
    assert got.last_test_message == "401: token [redacted] rejected"
    assert got.last_test_ok is False and got.last_test_latency_ms == 5.0
    (entry,) = [e for e in store.audit_entries("acme") if e.action == "provider.test"]
    assert (entry.actor, entry.target, entry.detail) == (
        "system", rec.id, {"ok": False, "latency_ms": 5.0, "models_count": None})

    store.record_test("acme", rec.id, True, "", None, None, audit=False)
    got = store.get("acme", rec.id)
    assert got.last_test_message == "" and got.last_test_ok is True
    store.record_test("acme", rec.id, True, "slow. " * 100, 1.0, 7, audit=False)
    got = store.get("acme", rec.id)
    assert got.last_test_message == ("slow. " * 100)[:500] and got.models_count == 7


def test_last_test_age_is_never_negative(store: ProviderStore,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A test recorded by a server whose clock is ahead counts as just now, not as -1 hour."""
    from datetime import UTC, datetime, timedelta

    from core.config_store import providers as providers_mod

    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="microseconds")
    monkeypatch.setattr(providers_mod, "now_iso", lambda: ahead)
    store.record_test("acme", rec.id, True, "ok", 1.0, audit=False)
    assert store.last_test_age("acme", rec.id) == 0.0


def _wal_size() -> int:
    wal = get_settings().config_path.with_name("config.sqlite-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_reset_secrets_forgets_every_key_records_it_and_truncates_the_wal(
        store: ProviderStore) -> None:
    a = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    b = store.add("globex", {"type": "gemini", "name": "Gemini"}, "AIza-0123456789abcdef", "gil")
    store.add("globex", {"type": "ollama", "name": "Local",
                         "base_url": "http://localhost:11434"}, None, "gil")
    assert store.recorded_key_id() == store.vault.current_key_id
    holder = sqlite3.connect(get_settings().config_path)  # keeps the WAL file in place
    try:
        holder.execute("SELECT 1 FROM providers").fetchall()
        assert store.reset_secrets("owner") == 2
        assert _wal_size() == 0
    finally:
        holder.close()
    assert store.recorded_key_id() is None
    assert not store.get("acme", a.id).has_key and not store.get("globex", b.id).has_key
    assert len(store.list("acme")) + len(store.list("globex")) == 3  # providers stay
    (entry,) = [e for e in store.audit_entries("acme", include_instance=True)
                if e.org_id is None]
    assert (entry.actor, entry.action, entry.target, entry.detail) == (
        "owner", "vault.reset", None, {"secrets_removed": 2})
    assert store.audit_entries("acme")[0].action == "provider.add"  # not an org's event


def test_rewrap_secrets_records_the_new_key_and_an_exact_audit_entry(
        store: ProviderStore) -> None:
    assert store.rewrap_secrets(lambda o, p, b: b, new_key_id="k-empty", actor="owner") == 0
    assert store.recorded_key_id() == "k-empty"
    store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    holder = sqlite3.connect(get_settings().config_path)
    try:
        holder.execute("SELECT 1 FROM providers").fetchall()
        result = rotate(store, actor="root")
        assert _wal_size() == 0
    finally:
        holder.close()
    rotations = [(e.org_id, e.actor, e.action, e.target, e.detail)
                 for e in reversed(store.audit_entries("acme", include_instance=True))
                 if e.action == "vault.rotate"]
    assert rotations == [
        (None, "owner", "vault.rotate", None, {"secrets": 0}),
        (None, "root", "vault.rotate", None, {
            "old_key_id": result.old_key_id, "new_key_id": result.new_key_id,
            "kept_old_key": False, "key_source": "file", "secrets": 1}),
    ]
    assert store.recorded_key_id() == result.new_key_id


# -- second pass over mutation survivors ----------------------------------------------------


def test_api_key_refusals_say_exactly_why_and_the_length_limit_is_inclusive(
        store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    with pytest.raises(ConfigStoreError) as err:
        store.update("acme", rec.id, None, "   ", "bob")
    assert str(err.value) == ("The API key is empty: enter a key, or keep or remove the "
                              "current one.")
    with pytest.raises(ConfigStoreError) as err:
        store.update("acme", rec.id, None, "sk-abc\tdef-0123456789", "bob")
    assert str(err.value) == ("The API key contains a line break or control character; paste "
                              "just the key.")
    longest = "sk-" + "a" * (8192 - 3)
    got = store.update("acme", rec.id, None, longest, "bob")
    assert got.has_key and store.api_key("acme", rec.id) == longest
    with pytest.raises(ConfigStoreError) as err:
        store.update("acme", rec.id, None, longest + "a", "bob")
    assert str(err.value) == "The API key is longer than 8192 characters."


def test_a_new_providers_record_keys_and_test_fields(store: ProviderStore) -> None:
    keyed = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    assert keyed.last_test_ok is None and keyed.last_test_at is None  # never tested
    assert keyed.key_updated_at == keyed.created_at == keyed.updated_at
    assert keyed.key_updated_at.tzinfo is not None
    bare = store.add("acme", {"type": "ollama", "name": "Local",
                              "base_url": "http://localhost:11434"}, None, "ann")
    assert not bare.has_key and bare.key_last4 is None and bare.key_updated_at is None
    store.record_test("acme", bare.id, False, "refused")
    tested = store.get("acme", bare.id)
    assert tested is not None and tested.last_test_ok is False


def test_adding_without_a_key_is_audited_as_none_and_a_duplicate_name_is_named(
        store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "ollama", "name": "Local",
                             "base_url": "http://localhost:11434"}, None, "ann")
    [entry] = store.audit_entries("acme")
    assert entry.detail == {"name": "Local", "type": "ollama",
                            "base_url": "http://localhost:11434", "simulated": False,
                            "key_change": "none"}
    with pytest.raises(ConfigStoreError) as err:
        store.add("acme", {"type": "ollama", "name": "LOCAL",
                           "base_url": "http://localhost:11434"}, None, "bob")
    assert str(err.value) == "There is already a provider called “LOCAL” in this organization."
    assert [p.id for p in store.list("acme")] == [rec.id]


def test_the_stored_secret_records_who_entered_it_on_add(store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    with store._connect() as conn:
        rows = conn.execute("SELECT provider_id, updated_by FROM provider_secrets").fetchall()
    assert [tuple(r) for r in rows] == [(rec.id, "ann")]


def test_the_columns_are_the_truth_for_type_name_and_base_url(store: ProviderStore) -> None:
    """A row whose settings JSON is empty or out of date (written by an older version) shows
    the type, name and base URL its columns hold."""
    now = "2024-01-02T03:04:05+00:00"
    with store._connect() as conn:
        conn.execute(
            "INSERT INTO providers (id, org_id, name, type, base_url, settings_json, "
            "created_at, updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("legacy", "acme", "Old gateway", "openai_compatible", "http://10.0.0.9:8000/v1",
             "", now, now, "ann"))
        conn.execute(
            "INSERT INTO providers (id, org_id, name, type, base_url, settings_json, "
            "created_at, updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("stale", "acme", "Renamed", "openai_compatible", "http://new.example/v1",
             '{"type": "openai", "name": "Before", "base_url": "http://old.example/v1",'
             ' "timeout_s": 33}', now, now, "ann"))
        conn.commit()
    legacy = store.get("acme", "legacy")
    assert legacy is not None
    assert (legacy.settings.type, legacy.settings.name, legacy.settings.base_url) == (
        "openai_compatible", "Old gateway", "http://10.0.0.9:8000/v1")
    assert legacy.settings == parse_provider_settings(
        {"type": "openai_compatible", "name": "Old gateway",
         "base_url": "http://10.0.0.9:8000/v1"})
    stale = store.get("acme", "stale")
    assert stale is not None
    assert (stale.settings.type, stale.settings.name, stale.settings.base_url,
            stale.settings.timeout_s) == (
        "openai_compatible", "Renamed", "http://new.example/v1", 33)


def test_the_store_uses_its_own_settings_for_the_master_key(home: Path) -> None:
    from dataclasses import replace
    mine = replace(get_settings(), master_key_path=home / "keys" / "mine.key")
    store = ProviderStore(home / "mine.sqlite", settings=mine)
    with pytest.warns(MasterKeyGenerated):
        vault = store.reload_vault()
    assert mine.master_key_path.exists() and not (home / "master.key").exists()
    assert vault.current_key_id == load_vault(mine).current_key_id


def test_an_injected_vault_is_the_one_keys_are_written_with(home: Path) -> None:
    from core.vault import Vault, new_master_key
    with pytest.warns(MasterKeyGenerated):
        file_vault = load_vault()
    injected = Vault(new_master_key())
    assert injected.current_key_id != file_vault.current_key_id
    store = ProviderStore(vault=injected)
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    assert store.recorded_key_id() == injected.current_key_id
    assert store.api_key("acme", rec.id) == CANARY


def test_a_missing_master_key_is_refused_not_silently_regenerated(store: ProviderStore) -> None:
    store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    recorded = store.recorded_key_id()
    key_file = get_settings().master_key_path
    key_file.unlink()
    fresh = ProviderStore()  # a new process: no vault loaded yet
    with pytest.raises(VaultError) as err:
        fresh.add("acme", {"type": "anthropic", "name": "Claude"}, "sk-ant-0123456789", "bob")
    assert str(err.value).startswith(f"The master key is missing: {key_file} does not exist")
    assert recorded in str(err.value)
    assert not key_file.exists()
    assert [p.name for p in fresh.list("acme")] == ["OpenAI"]


def test_a_write_after_another_process_rotation_crashed_finishes_it(
        store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process still holds the old key; another process committed a rotation but died
    before replacing master.key. Writing a key promotes master.key.next and uses it."""
    from core.config_store import rotation
    from core.vault import next_key_path
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, CANARY, "ann")
    other = ProviderStore()

    def crash(settings: object, key: bytes) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(rotation, "_promote", crash)
    with pytest.raises(KeyboardInterrupt):
        rotate(other, actor="ops")
    new_id = other.recorded_key_id()
    assert store.vault.current_key_id != new_id and next_key_path(get_settings()).exists()
    got = store.update("acme", rec.id, None, "sk-after-rotation-0123456789", "bob")
    assert got.has_key and store.recorded_key_id() == new_id
    assert store.vault.current_key_id == new_id
    assert not next_key_path(get_settings()).exists()
    assert store.api_key("acme", rec.id) == "sk-after-rotation-0123456789"


def test_audit_entries_default_to_the_newest_200(store: ProviderStore) -> None:
    for n in range(201):
        store.audit("acme", "ann", "note", f"t{n}")
    got = store.audit_entries("acme")
    assert len(got) == 200
    assert got[0].target == "t200" and got[-1].target == "t1"
