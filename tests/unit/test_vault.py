"""The vault: AES-256-GCM round trips, tamper and row binding, master keys, rotation."""

from __future__ import annotations

import base64
import os
import stat
import warnings
from pathlib import Path

import pytest

from core import vault as V
from core.config_store import ProviderStore, rotation
from core.config_store.rotation import rotate
from core.settings import get_settings, write_private_file
from core.vault import (
    MasterKeyGenerated,
    Vault,
    VaultError,
    key_id,
    last4,
    load_vault,
    next_key_path,
    retired_keys_path,
)

SECRET = "sk-canary-vault-0123456789abcdefghij"


@pytest.fixture(autouse=True)
def _no_master_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SWITCHYARD_MASTER_KEY", "SWITCHYARD_MASTER_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def store(home: Path) -> ProviderStore:
    """A store whose master key file already exists (its creation warning checked)."""
    with pytest.warns(MasterKeyGenerated):
        load_vault()
    return ProviderStore()


def _fill(store: ProviderStore) -> dict[tuple[str, str], str]:
    """Five providers with keys in two organizations; returns (org, id) -> key."""
    keys: dict[tuple[str, str], str] = {}
    for org in ("acme", "globex"):
        for i, kind in enumerate(("openai", "anthropic") if org == "acme" else
                                 ("openai", "gemini", "mistral")):
            key = f"sk-{org}-{kind}-{i}-" + os.urandom(8).hex()
            rec = store.add(org, {"type": kind, "name": f"{kind} {i}"}, key, "admin")
            keys[(org, rec.id)] = key
    return keys


def _blobs(store: ProviderStore) -> dict[tuple[str, str], bytes]:
    with store._connect() as conn:
        rows = conn.execute("SELECT org_id, provider_id, ciphertext FROM provider_secrets")
        return {(r[0], r[1]): bytes(r[2]) for r in rows}


# -- the cipher ---------------------------------------------------------------------------


def test_round_trip_and_stored_format() -> None:
    key = os.urandom(32)
    v = Vault(key)
    blob = v.encrypt(SECRET, org_id="acme", provider_id="openai-1")
    assert v.decrypt(blob, org_id="acme", provider_id="openai-1") == SECRET
    # version || key_id || nonce || ciphertext || tag
    assert blob[0] == V.FORMAT_VERSION
    assert blob[1:5].hex() == key_id(key) == v.current_key_id == Vault.blob_key_id(blob)
    assert len(blob) == 1 + 4 + 12 + len(SECRET.encode()) + 16
    assert SECRET.encode() not in blob
    assert key not in repr(v).encode() and base64.urlsafe_b64encode(key).decode() not in repr(v)


def test_fresh_nonce_every_time() -> None:
    v = Vault(os.urandom(32))
    blobs = [v.encrypt(SECRET, org_id="acme", provider_id="p") for _ in range(50)]
    nonces = {b[5:17] for b in blobs}
    assert len(nonces) == 50 and len(set(blobs)) == 50
    assert all(v.decrypt(b, org_id="acme", provider_id="p") == SECRET for b in blobs)


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag", "key_id", "version"])
def test_tampering_is_detected(where: str) -> None:
    v = Vault(os.urandom(32))
    blob = bytearray(v.encrypt(SECRET, org_id="acme", provider_id="p"))
    index = {"version": 0, "key_id": 2, "nonce": 8, "ciphertext": 20, "tag": len(blob) - 1}[where]
    blob[index] ^= 0x01
    with pytest.raises(VaultError) as err:
        v.decrypt(bytes(blob), org_id="acme", provider_id="p")
    assert SECRET not in str(err.value)


def test_truncated_or_foreign_blobs_are_refused() -> None:
    v = Vault(os.urandom(32))
    for junk in (b"", b"\x01abc", b"x" * 64, SECRET.encode()):
        with pytest.raises(VaultError):
            v.decrypt(junk, org_id="acme", provider_id="p")


@pytest.mark.parametrize(("org", "pid"), [("acme", "other"), ("globex", "p"), ("globex", "other")])
def test_ciphertext_is_bound_to_its_org_and_provider(org: str, pid: str) -> None:
    v = Vault(os.urandom(32))
    blob = v.encrypt(SECRET, org_id="acme", provider_id="p")
    with pytest.raises(VaultError, match="another provider or organization") as err:
        v.decrypt(blob, org_id=org, provider_id=pid)
    assert SECRET not in str(err.value)


def test_retired_keys_decrypt_and_unknown_keys_are_named() -> None:
    old, new = os.urandom(32), os.urandom(32)
    blob = Vault(old).encrypt(SECRET, org_id="acme", provider_id="p")
    assert Vault(new, [old]).decrypt(blob, org_id="acme", provider_id="p") == SECRET
    with pytest.raises(VaultError, match=key_id(old)):
        Vault(new).decrypt(blob, org_id="acme", provider_id="p")


def test_last4() -> None:
    assert last4("sk-abcdefghijklmnop") == "…mnop"
    assert last4("short-key") == "…"  # four characters of a short key would give half away
    assert last4("") == "" and last4(None) == ""


# -- master keys ---------------------------------------------------------------------------


def test_master_key_file_is_generated_0600_with_a_warning(home: Path) -> None:
    path = get_settings().master_key_path
    assert path == home / "master.key"
    with pytest.warns(MasterKeyGenerated, match="back it up"):
        v1 = load_vault()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert v1.source == "file"
    assert V.parse_master_key(path.read_text(), where="file") and key_id(
        V.parse_master_key(path.read_text(), where="file")) == v1.current_key_id
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second load finds the file: no new warning
        assert load_vault().current_key_id == v1.current_key_id


def test_master_key_file_location_can_be_overridden(home: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keys" / "switchyard.key"
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY_FILE", str(target))
    with pytest.warns(MasterKeyGenerated):
        load_vault()
    assert target.exists() and not (home / "master.key").exists()


def test_master_key_from_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = os.urandom(32)
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", base64.urlsafe_b64encode(key).decode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = load_vault()
    assert v.source == "env" and v.current_key_id == key_id(key)
    assert not get_settings().master_key_path.exists()  # nothing written to disk


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a key!", "not a valid master key"),
        ("c2hvcnQ=", "decodes to 5 bytes"),
        (base64.urlsafe_b64encode(b"k" * 16).decode(), "decodes to 16 bytes"),
        (base64.urlsafe_b64encode(b"k" * 33).decode(), "exactly 32 bytes"),
    ],
)
def test_bad_master_key_in_environment_is_a_clear_error(
        home: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", value)
    with pytest.raises(VaultError, match=message) as err:
        load_vault()
    assert "SWITCHYARD_MASTER_KEY" in str(err.value)
    assert value not in str(err.value)  # never echo what might be a real key


def test_damaged_master_key_file_is_a_clear_error(home: Path) -> None:
    path = get_settings().master_key_path
    path.parent.mkdir(parents=True)
    path.write_text("definitely-not-32-bytes")
    with pytest.raises(VaultError, match="master key file"):
        load_vault()


def test_an_unpadded_master_key_is_accepted() -> None:
    key = os.urandom(32)
    text = V.encode_key(key)
    assert len(text) == 44 and text.endswith("=")
    assert V.parse_master_key(text.rstrip("="), where="env") == key
    assert V.parse_master_key(f"  {text}\n".encode(), where="file") == key


@pytest.mark.parametrize("length", [30, 35, 42])
def test_a_truncated_master_key_says_how_many_bytes_it_holds(length: int) -> None:
    text = V.encode_key(os.urandom(32))[:length]
    expected = length * 6 // 8
    with pytest.raises(VaultError, match=f"^The key decodes to {expected} bytes; an AES-256 "
                                         "master key must be exactly 32 bytes"):
        V.parse_master_key(text, where="The key")


def test_a_key_file_with_non_ascii_bytes_is_a_clear_error(home: Path) -> None:
    path = get_settings().master_key_path
    path.parent.mkdir(parents=True)
    raw = V.encode_key(os.urandom(32)).encode()
    path.write_bytes(raw[:20] + "é".encode() + raw[20:])
    with pytest.raises(VaultError, match="is not a valid master key") as err:
        load_vault()
    assert f"The master key file {path}" in str(err.value)


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o400, False), (0o640, True),
                                             (0o604, True), (0o644, True), (0o660, True)])
def test_a_key_file_readable_by_others_is_warned_about(
        home: Path, caplog: pytest.LogCaptureFixture, mode: int, warned: bool) -> None:
    with pytest.warns(MasterKeyGenerated):
        current = load_vault().current_key_id
    path = get_settings().master_key_path
    os.chmod(path, mode)
    caplog.clear()
    with caplog.at_level("WARNING", logger="core.vault"):
        assert load_vault().current_key_id == current  # still used
    messages = [r.getMessage() for r in caplog.records if r.name == "core.vault"]
    assert messages == (
        [f"{path} is readable by other users; run: chmod 600 {path}"] if warned else [])


def test_missing_key_file_with_existing_secrets_is_not_silently_replaced(
        store: ProviderStore) -> None:
    rec = store.add("acme", {"type": "openai", "name": "OpenAI"}, SECRET, "admin")
    get_settings().master_key_path.unlink()
    fresh = ProviderStore()
    with pytest.raises(VaultError, match="master key is missing"):
        fresh.api_key("acme", rec.id)
    assert not get_settings().master_key_path.exists()
    # The documented way out: forget the keys, then new keys work under a new master key.
    assert fresh.reset_secrets("owner") == 1
    with pytest.warns(MasterKeyGenerated):
        fresh.update("acme", rec.id, None, "sk-new-key-0123456789", "admin")
    assert fresh.api_key("acme", rec.id) == "sk-new-key-0123456789"


def test_a_process_with_a_different_master_key_cannot_add_secrets(
        store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("acme", {"type": "openai", "name": "OpenAI"}, SECRET, "admin")
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", V.encode_key(os.urandom(32)))
    other = ProviderStore()
    with pytest.raises(VaultError, match="same master key"):
        other.add("acme", {"type": "gemini", "name": "Gemini"}, "AIza-other-key-123456", "admin")
    assert [r.name for r in store.list("acme")] == ["OpenAI"]  # rolled back entirely


# -- rotation ------------------------------------------------------------------------------


def test_rotation_reencrypts_everything_and_the_old_key_no_longer_decrypts(
        store: ProviderStore) -> None:
    keys = _fill(store)
    old_key = V.parse_master_key(get_settings().master_key_path.read_text(), where="file")
    before = _blobs(store)

    result = rotate(store, actor="ops")

    assert result.secrets == len(keys) == 5
    assert result.old_key_id == key_id(old_key) != result.new_key_id
    new_key = V.parse_master_key(get_settings().master_key_path.read_text(), where="file")
    assert key_id(new_key) == result.new_key_id
    assert stat.S_IMODE(get_settings().master_key_path.stat().st_mode) == 0o600
    assert not next_key_path(get_settings()).exists()
    after = _blobs(store)
    old_vault = Vault(old_key)
    for (org, pid), key in keys.items():
        assert after[(org, pid)] != before[(org, pid)]
        assert Vault.blob_key_id(after[(org, pid)]) == result.new_key_id
        assert store.api_key(org, pid) == key
        assert ProviderStore().api_key(org, pid) == key  # another process, from disk
        with pytest.raises(VaultError):
            old_vault.decrypt(after[(org, pid)], org_id=org, provider_id=pid)
    with store._connect() as conn:
        assert {r[0] for r in conn.execute("SELECT key_id FROM provider_secrets")} == {
            result.new_key_id}
    events = [e for e in store.audit_entries("acme", include_instance=True)
              if e.action == "vault.rotate"]
    assert len(events) == 1 and events[0].org_id is None and events[0].detail["secrets"] == 5
    assert key_id(old_key) not in (store.vault.key_ids)  # discarded by default


def test_failure_mid_rotation_leaves_every_secret_under_the_old_key(
        store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = _fill(store)
    key_file = get_settings().master_key_path
    old_text = key_file.read_text()
    old_vault = Vault(V.parse_master_key(old_text, where="file"))
    before = _blobs(store)

    real_encrypt = Vault.encrypt
    calls = {"n": 0}

    def flaky_encrypt(self: Vault, plaintext: str, *, org_id: str, provider_id: str) -> bytes:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk on fire")
        return real_encrypt(self, plaintext, org_id=org_id, provider_id=provider_id)

    monkeypatch.setattr(Vault, "encrypt", flaky_encrypt)
    with pytest.raises(OSError, match="disk on fire"):
        rotate(store, actor="ops")
    monkeypatch.setattr(Vault, "encrypt", real_encrypt)

    assert calls["n"] == 3  # two rows had been re-encrypted inside the transaction
    assert key_file.read_text() == old_text
    assert not next_key_path(get_settings()).exists()
    assert _blobs(store) == before
    assert store.recorded_key_id() == old_vault.current_key_id
    for (org, pid), key in keys.items():
        assert old_vault.decrypt(before[(org, pid)], org_id=org, provider_id=pid) == key
        assert ProviderStore().api_key(org, pid) == key
    assert not [e for e in store.audit_entries("acme", include_instance=True)
                if e.action == "vault.rotate"]


def test_crash_after_commit_is_finished_on_next_start(
        store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between the DB commit and replacing master.key: master.key.next holds the key
    the secrets are under, and the next process promotes it."""
    keys = _fill(store)
    s = get_settings()
    old_text = s.master_key_path.read_text()

    def crash(settings: object, key: bytes) -> None:
        raise KeyboardInterrupt("power cut")

    real_promote = rotation._promote
    monkeypatch.setattr(rotation, "_promote", crash)
    with pytest.raises(KeyboardInterrupt):
        rotate(store, actor="ops")
    monkeypatch.setattr(rotation, "_promote", real_promote)

    assert s.master_key_path.read_text() == old_text  # not yet replaced
    assert next_key_path(s).exists()
    new_id = store.recorded_key_id()
    assert new_id != key_id(V.parse_master_key(old_text, where="file"))

    fresh = ProviderStore()  # the next start
    for (org, pid), key in keys.items():
        assert fresh.api_key(org, pid) == key
    assert not next_key_path(s).exists()
    assert key_id(V.parse_master_key(s.master_key_path.read_text(), where="file")) == new_id
    assert stat.S_IMODE(s.master_key_path.stat().st_mode) == 0o600


def test_crash_before_commit_leaves_old_key_in_charge(store: ProviderStore) -> None:
    """A stale master.key.next from a rotation that never committed changes nothing."""
    keys = _fill(store)
    s = get_settings()
    old_text = s.master_key_path.read_text()
    write_private_file(next_key_path(s), (V.encode_key(os.urandom(32)) + "\n").encode())
    fresh = ProviderStore()
    for (org, pid), key in keys.items():
        assert fresh.api_key(org, pid) == key
    fresh.add("acme", {"type": "openai", "name": "Another"}, "sk-another-0123456789", "admin")
    assert s.master_key_path.read_text() == old_text
    assert rotate(fresh).secrets == len(keys) + 1  # and a later rotation works


def test_other_processes_pick_up_a_rotation(store: ProviderStore) -> None:
    keys = _fill(store)
    other = ProviderStore()
    (org, pid), key = next(iter(keys.items()))
    assert other.api_key(org, pid) == key  # loads the current key
    rotate(store)
    assert other.api_key(org, pid) == key  # unknown key id -> reloads from disk
    rec = other.add("acme", {"type": "openai", "name": "Later"}, "sk-later-0123456789", "x")
    assert store.api_key("acme", rec.id) == "sk-later-0123456789"
    assert {Vault.blob_key_id(b) for b in _blobs(store).values()} == {store.recorded_key_id()}


def test_rotation_can_keep_the_old_key_for_backups(store: ProviderStore) -> None:
    _fill(store)
    old_id = store.vault.current_key_id
    rotate(store, keep_old=True)
    path = retired_keys_path(get_settings())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert old_id in ProviderStore().reload_vault().key_ids


def test_rotation_with_the_key_in_the_environment(home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", V.encode_key(old_key))
    store = ProviderStore()
    keys = _fill(store)
    with pytest.raises(VaultError, match="--new-key-env"):
        rotate(store)
    with pytest.raises(VaultError, match="freshly generated"):
        rotate(store, old_key)

    result = rotate(store, new_key)
    assert result.key_file is None and "SWITCHYARD_MASTER_KEY" in result.message
    assert V.encode_key(new_key) not in result.message
    s = get_settings()  # no key on disk (the empty rotation lock file holds nothing)
    assert not any(p.exists() for p in (s.master_key_path, next_key_path(s),
                                        retired_keys_path(s)))
    for (org, pid), key in keys.items():
        assert store.api_key(org, pid) == key
    (org, pid) = next(iter(keys))
    with pytest.raises(VaultError, match=result.new_key_id):
        ProviderStore().api_key(org, pid)  # a process still on the old key is told why
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", V.encode_key(new_key))
    assert ProviderStore().api_key(org, pid) == keys[(org, pid)]


def test_a_rotated_vault_keeps_retired_keys_and_its_source() -> None:
    old, retired, new = os.urandom(32), os.urandom(32), os.urandom(32)
    vault = Vault(old, [retired], source="file")
    old_blob = vault.encrypt(SECRET, org_id="acme", provider_id="p")
    backup_blob = Vault(retired).encrypt(SECRET, org_id="acme", provider_id="p")

    rotated = vault.rotated(new)
    assert rotated.current_key_id == key_id(new)
    assert rotated.key_ids == {key_id(new), key_id(retired)}  # the old current key is gone
    assert rotated.source == "file"
    assert rotated.decrypt(backup_blob, org_id="acme", provider_id="p") == SECRET
    with pytest.raises(VaultError, match=key_id(old)):
        rotated.decrypt(old_blob, org_id="acme", provider_id="p")

    kept = vault.rotated(new, keep_old=True)
    assert kept.key_ids == {key_id(new), key_id(old), key_id(retired)}
    assert kept.decrypt(old_blob, org_id="acme", provider_id="p") == SECRET
    assert Vault(old, source="env").rotated(new).source == "env"


def test_the_rotation_lock_sits_next_to_the_master_key(home: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keys" / "switchyard.key"
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY_FILE", str(target))
    assert V.lock_path(get_settings()) == tmp_path / "keys" / "switchyard.key.lock"
    with pytest.warns(MasterKeyGenerated):
        load_vault()
    rotate(ProviderStore())
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "switchyard.key", "switchyard.key.lock"]
    assert stat.S_IMODE((target.parent / "switchyard.key.lock").stat().st_mode) == 0o600


def test_rotation_with_no_secrets(store: ProviderStore) -> None:
    result = rotate(store)
    assert result.secrets == 0
    text = get_settings().master_key_path.read_text()
    assert key_id(V.parse_master_key(text, where="file")) == result.new_key_id


# -- exact behaviour at the edges (mutation survivors) ---------------------------------------


def test_key_ids_are_stable_across_releases() -> None:
    """Key ids are stored with every secret and in the config store: the derivation must never
    change, or existing secrets would be reported under a key id nobody has."""
    assert key_id(bytes(32)) == "34662c9d"
    assert key_id(bytes(range(32))) == "d280ad85"


def test_a_vault_made_in_memory_says_so() -> None:
    v = Vault(os.urandom(32))
    assert v.source == "memory"
    assert repr(v) == f"Vault(current_key_id={v.current_key_id!r}, keys=1, source='memory')"


@pytest.mark.parametrize("bad", [os.urandom(16), os.urandom(31), os.urandom(33), b"",
                                 "k" * 32, None])
def test_a_master_key_of_the_wrong_size_or_type_is_refused(bad: object) -> None:
    with pytest.raises(VaultError) as err:
        Vault(bad)  # type: ignore[arg-type]
    assert str(err.value) == "The master key must be exactly 32 bytes."
    with pytest.raises(VaultError) as err:
        Vault(os.urandom(32), [os.urandom(32), bad])  # type: ignore[list-item]
    assert str(err.value) == "A retired master key must be exactly 32 bytes."


@pytest.mark.parametrize("provider_id", ["", "a|b", "|", "openai|"])
def test_a_provider_id_that_could_be_confused_in_the_binding_is_refused(provider_id: str) -> None:
    v = Vault(os.urandom(32))
    with pytest.raises(VaultError, match="^A provider id is needed to encrypt or decrypt its key"):
        v.encrypt(SECRET, org_id="acme", provider_id=provider_id)
    blob = v.encrypt(SECRET, org_id="acme", provider_id="a")
    with pytest.raises(VaultError, match="^A provider id is needed"):
        v.decrypt(blob, org_id="acme", provider_id=provider_id)


def test_last4_shows_the_tail_from_twelve_characters_on() -> None:
    assert last4("abcdefghijkl") == "…ijkl"  # 12 characters
    assert last4("abcdefghijk") == "…"  # 11
    assert last4("  abcdefghijkl \n") == "…ijkl"  # surrounding blanks do not count


def test_an_empty_secret_round_trips() -> None:
    v = Vault(os.urandom(32))
    blob = v.encrypt("", org_id="acme", provider_id="p")
    assert len(blob) == V.HEADER_BYTES + V.TAG_BYTES
    assert Vault.blob_key_id(blob) == v.current_key_id and v.can_decrypt(blob)
    assert v.decrypt(blob, org_id="acme", provider_id="p") == ""


def test_a_truncated_blob_is_reported_as_damaged_even_with_a_known_key_id() -> None:
    v = Vault(os.urandom(32))
    full = v.encrypt("", org_id="acme", provider_id="p")
    for blob in (full[:-1], full[:5], full[:2], b"\x02" + full[1:], b""):
        assert not v.can_decrypt(blob)
        with pytest.raises(VaultError) as err:
            Vault.blob_key_id(blob)
        assert str(err.value) == "A stored secret is damaged or in an unknown format."
        with pytest.raises(VaultError) as err:
            v.decrypt(blob, org_id="acme", provider_id="p")
        assert str(err.value) == "A stored secret is damaged or in an unknown format."


def test_an_unknown_key_message_lists_the_keys_this_server_has() -> None:
    a, b, other = os.urandom(32), os.urandom(32), os.urandom(32)
    blob = Vault(other).encrypt(SECRET, org_id="acme", provider_id="p")
    with pytest.raises(VaultError) as err:
        Vault(a, [b]).decrypt(blob, org_id="acme", provider_id="p")
    have = ", ".join(sorted([key_id(a), key_id(b)]))
    assert str(err.value) == (
        f"The API key of provider p was encrypted with master key {key_id(other)}, which this "
        f"server does not have (it has {have}). Restore that master key (SWITCHYARD_MASTER_KEY "
        "or the master.key file), or enter the provider's API key again.")
    for key in (a, b, other):
        assert V.encode_key(key) not in str(err.value)


def test_key_file_companions_are_named_after_the_key_file(home: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s = get_settings()
    assert next_key_path(s) == home / "master.key.next"
    assert retired_keys_path(s) == home / "master.key.retired"
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY_FILE", str(tmp_path / "k" / "sw.key"))
    s = get_settings()
    assert next_key_path(s) == tmp_path / "k" / "sw.key.next"
    assert retired_keys_path(s) == tmp_path / "k" / "sw.key.retired"


def test_retired_keys_are_read_from_the_keyring_file(home: Path) -> None:
    old1, old2 = os.urandom(32), os.urandom(32)
    write_private_file(retired_keys_path(get_settings()),
                       f"# retired keys\n\n  {V.encode_key(old1)}  \n{V.encode_key(old2)}\n".encode())
    with pytest.warns(MasterKeyGenerated):
        v = load_vault()
    assert v.key_ids == {v.current_key_id, key_id(old1), key_id(old2)}


def test_retired_keys_also_decrypt_when_the_key_is_in_the_environment(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, current = os.urandom(32), os.urandom(32)
    write_private_file(retired_keys_path(get_settings()), (V.encode_key(old) + "\n").encode())
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY", V.encode_key(current))
    v = load_vault()
    assert v.source == "env" and v.current_key_id == key_id(current)
    assert v.key_ids == {key_id(current), key_id(old)}
    blob = Vault(old).encrypt(SECRET, org_id="acme", provider_id="p")
    assert v.decrypt(blob, org_id="acme", provider_id="p") == SECRET


def test_a_bad_line_in_the_keyring_is_named_by_its_line_number(home: Path) -> None:
    path = retired_keys_path(get_settings())
    bad = "c2hvcnQ="
    write_private_file(path, f"# retired\n{V.encode_key(os.urandom(32))}\n\n{bad}\n".encode())
    with pytest.raises(VaultError) as err:
        load_vault()
    assert str(err.value).startswith(f"Line 4 of {path} decodes to 5 bytes")
    assert bad not in str(err.value)
    write_private_file(path, b"not a key!\n")
    with pytest.raises(VaultError) as err:
        load_vault()
    assert str(err.value).startswith(f"Line 1 of {path} is not a valid master key")


def test_a_key_file_in_a_missing_nested_directory_is_created_0600_and_announced(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "deep" / "er" / "master.key"
    monkeypatch.setenv("SWITCHYARD_MASTER_KEY_FILE", str(target))
    with caplog.at_level("WARNING", logger="core.vault"), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        v = load_vault()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert key_id(V.parse_master_key(target.read_text(), where="file")) == v.current_key_id
    assert sorted(p.name for p in target.parent.iterdir()) == ["master.key"]  # no temp file left
    expected = (
        f"Generated a new Switchyard master key in {target} (mode 0600). It encrypts every "
        "provider API key: back it up now, or move it into SWITCHYARD_MASTER_KEY (environment "
        "or .streamlit/secrets.toml) and delete the file. Losing it means re-entering all keys.")
    assert [r.getMessage() for r in caplog.records if r.name == "core.vault"] == [expected]
    generated = [x for x in w if issubclass(x.category, MasterKeyGenerated)]
    assert [str(x.message) for x in generated] == [expected]
    # attributed to whoever called load_vault, so the operator sees their own code line
    assert generated[0].filename == __file__
    assert V.encode_key(V.parse_master_key(target.read_text(), where="file")) not in expected


def test_finishing_an_interrupted_rotation_is_logged(home: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with pytest.warns(MasterKeyGenerated):
        load_vault()
    s = get_settings()
    new = os.urandom(32)
    write_private_file(next_key_path(s), (V.encode_key(new) + "\n").encode())
    caplog.clear()
    with caplog.at_level("WARNING", logger="core.vault"):
        v = load_vault(expected_key_id=key_id(new))
    assert v.current_key_id == key_id(new) and not next_key_path(s).exists()
    assert [r.getMessage() for r in caplog.records if r.name == "core.vault"] == [
        f"Finished an interrupted master key rotation: {s.master_key_path} is now key "
        f"{key_id(new)}."]
