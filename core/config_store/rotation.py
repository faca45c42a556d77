"""Master key rotation: re-encrypt every stored secret under a new key, all or nothing.

It lives in the config store because it coordinates the store's transaction with the key
files; :mod:`core.vault` stays pure crypto plus key files. Crash ordering: the new key is
written and fsynced to ``master.key.next``; every secret is re-encrypted and the store's
record of the current key id changed in ONE SQLite transaction; only after that commit is
``master.key`` replaced (:func:`core.vault.load_vault` finishes an interrupted rotation).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.config_store.providers import ProviderStore
from core.files import fsync_dir
from core.settings import Settings, write_private_file
from core.vault import (
    VaultError,
    check_key,
    encode_key,
    key_id,
    lock_path,
    new_master_key,
    next_key_path,
    retired_keys_path,
)

# -- rotation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    old_key_id: str
    new_key_id: str
    secrets: int  # how many stored secrets were re-encrypted
    key_file: Path | None  # where the new key now lives; None when it comes from the environment
    message: str  # what the operator should do next (never contains the key)


@contextmanager
def _rotation_lock(settings: Settings) -> Iterator[None]:
    """One rotation at a time on this machine (two would fight over master.key.next)."""
    lock = lock_path(settings)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _append_retired(settings: Settings, key: bytes) -> None:
    path = retired_keys_path(settings)
    lines = path.read_text().splitlines() if path.exists() else [
        "# Retired Switchyard master keys: decrypt only (old backups). One base64url key a line."
    ]
    lines.append(encode_key(key))
    write_private_file(path, ("\n".join(lines) + "\n").encode())


def _promote(settings: Settings, key: bytes) -> None:
    """Make ``key`` the one in master.key (atomic 0600 replace), then drop master.key.next."""
    write_private_file(settings.master_key_path, (encode_key(key) + "\n").encode())
    fsync_dir(settings.master_key_path.parent)
    next_key_path(settings).unlink(missing_ok=True)


def rotate(store: ProviderStore, new_key: bytes | None = None, *, actor: str = "operator",
           keep_old: bool = False) -> RotationResult:
    """Re-encrypt every stored secret under a new master key, all or nothing.

    With a file-backed key, ``new_key`` defaults to a fresh random key and ends up in
    master.key (see the module docstring for the crash ordering). With the key in
    SWITCHYARD_MASTER_KEY nothing is written to disk: the caller must pass ``new_key`` (the
    CLI reads it from another variable, ``--new-key-env VAR``) and the operator then puts it
    in SWITCHYARD_MASTER_KEY. ``keep_old`` keeps the old key in master.key.retired so old
    database backups stay readable; by default it is discarded (the usual reason to rotate
    is that it may have leaked).
    """
    s = store.settings
    with _rotation_lock(s):
        old = store.reload_vault()
        from_env = old.source == "env"
        if new_key is None:
            if from_env:
                raise VaultError(
                    "The master key comes from SWITCHYARD_MASTER_KEY, so Switchyard cannot store "
                    "a new one for you. Generate a key, put it in another environment variable "
                    "and run `switchyard vault rotate --new-key-env THAT_VARIABLE`; then set "
                    "SWITCHYARD_MASTER_KEY to it everywhere Switchyard runs."
                )
            new_key = new_master_key()
        new_key = check_key(new_key, "The new master key")
        new_id = key_id(new_key)
        if new_id in old.key_ids:
            raise VaultError("The new master key is the current (or a retired) key; use a "
                             "freshly generated one.")
        new_vault = old.rotated(new_key, keep_old=keep_old)
        nxt = next_key_path(s)
        if not from_env:
            write_private_file(nxt, (encode_key(new_key) + "\n").encode())
            fsync_dir(nxt.parent)

        def rewrap(org_id: str, provider_id: str, blob: bytes) -> bytes:
            plain = old.decrypt(blob, org_id=org_id, provider_id=provider_id)
            return new_vault.encrypt(plain, org_id=org_id, provider_id=provider_id)

        try:
            count = store.rewrap_secrets(
                rewrap, new_key_id=new_id, actor=actor,
                detail={"old_key_id": old.current_key_id, "new_key_id": new_id,
                        "kept_old_key": keep_old, "key_source": old.source},
            )
        except BaseException:
            _after_failed_rewrap(store, s, new_key, new_id, from_env)
            raise
        if not from_env:
            if keep_old:
                _append_retired(s, old.current_key())
            _promote(s, new_key)
        store.use_vault(new_vault)

    if from_env:
        message = (f"Re-encrypted {count} API key(s) under master key {new_id}. Now set "
                   "SWITCHYARD_MASTER_KEY to the new key everywhere Switchyard runs and restart; "
                   "until then, processes still using the old key cannot decrypt API keys.")
        return RotationResult(old.current_key_id, new_id, count, None, message)
    message = (f"Re-encrypted {count} API key(s) under master key {new_id}, now in "
               f"{s.master_key_path}. Back up the new key file; the old key "
               + ("was kept in " + str(retired_keys_path(s)) if keep_old else "was discarded")
               + ".")
    return RotationResult(old.current_key_id, new_id, count, s.master_key_path, message)


def _after_failed_rewrap(store: ProviderStore, settings: Settings, new_key: bytes, new_id: str,
                         from_env: bool) -> None:
    """Clean up after a rotation that raised: drop master.key.next only when the database
    surely did not commit; if it did (an error after COMMIT), finish the promotion."""
    if from_env:
        return
    try:
        committed = store.recorded_key_id() == new_id
    except Exception:  # noqa: BLE001 - unknown: keep .next, load_vault will sort it out
        return
    if committed:
        _promote(settings, new_key)
    else:
        next_key_path(settings).unlink(missing_ok=True)
