"""AES-256-GCM encryption of provider API keys and the master key files.

Why it is built this way:

* **Authenticated encryption** (AES-256-GCM): a flipped bit fails loudly instead of
  decrypting to garbage that would be sent to a provider.
* **A fresh random 96-bit nonce per encryption** (``os.urandom(12)``): GCM must never reuse a
  nonce under one key; at a few thousand secrets random nonces are far from the birthday bound.
* **Associated data** ``switchyard/v1|<org_id>|<provider_id>`` binds each ciphertext to its
  row, so a ciphertext copied to another provider or organization does not decrypt.
* **Key ids** (first 8 hex digits of a SHA-256 of the key) travel in every ciphertext, so a
  vault holding the current key plus retired ones picks the right key, and a missing key is
  reported by id ("encrypted with key 1a2b3c4d, this server has 9f8e7d6c") instead of as a
  vague failure.

Stored form: one self-describing BLOB per secret::

    version (1 byte, 0x01) || key_id (4 bytes) || nonce (12 bytes) || ciphertext || tag (16 bytes)

Master key: ``SWITCHYARD_MASTER_KEY`` (environment or ``st.secrets``; base64url of 32 bytes)
or else the file ``$SWITCHYARD_HOME/master.key`` (``SWITCHYARD_MASTER_KEY_FILE``), generated
on first use with mode 0600 and a warning to back it up. Retired keys, kept only to decrypt,
live one per line in ``master.key.retired`` (written by a rotation with ``keep_old=True``).

Rotation (:mod:`core.config_store.rotation`, which coordinates the store's SQL) is crash
safe: the new key is first written and fsynced to
``master.key.next``; then every secret is re-encrypted and the config store's record of the
current key id is changed in ONE SQLite transaction (``synchronous=FULL``); only after that
commit is ``master.key`` atomically replaced. Whatever the crash point, the key that
encrypts the secrets is on disk: before the commit it is the old ``master.key``; after it, it
is ``master.key.next`` until the replacement, and :func:`load_vault` finishes an interrupted
rotation by promoting ``.next`` when the store says secrets are under its id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.domain import check_org_id
from core.files import fsync_dir
from core.settings import Settings, get_settings, lookup

logger = logging.getLogger(__name__)

ENV_VAR = "SWITCHYARD_MASTER_KEY"
FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_BYTES = 4
TAG_BYTES = 16
HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
AAD_PREFIX = "switchyard/v1"

_B64_RE = re.compile(r"^[A-Za-z0-9_\-+/]+={0,2}$")
_GENERATE_HINT = (
    "Generate one with: python -c \"import base64, os; "
    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())\""
)


class VaultError(Exception):
    """Encryption, decryption or key handling failed. Messages never contain a secret or key."""


class MasterKeyGenerated(UserWarning):
    """A new master key was written to disk: the operator must back it up."""


# -- keys --------------------------------------------------------------------------------


def key_id(key: bytes) -> str:
    """The short public name of a master key (8 hex digits); safe to store and print."""
    return hashlib.sha256(b"switchyard-master-key-id\x00" + key).hexdigest()[: KEY_ID_BYTES * 2]


def new_master_key() -> bytes:
    """32 random bytes from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The text form used in master.key and SWITCHYARD_MASTER_KEY (base64url, 44 chars)."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def parse_master_key(text: str | bytes, *, where: str) -> bytes:
    """Decode a base64url master key and insist on exactly 32 bytes.

    ``where`` names the source in the error ("SWITCHYARD_MASTER_KEY", a file path); the value
    itself is never echoed.
    """
    raw = text.decode("ascii", "replace") if isinstance(text, bytes) else str(text)
    raw = raw.strip()
    if not raw or not _B64_RE.fullmatch(raw):
        raise VaultError(
            f"{where} is not a valid master key: expected 32 random bytes encoded as base64url "
            f"(44 characters). {_GENERATE_HINT}"
        )
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise VaultError(
            f"{where} is not valid base64url. It must be 32 random bytes encoded as base64url "
            f"(44 characters). {_GENERATE_HINT}"
        ) from None
    if len(key) != KEY_BYTES:
        raise VaultError(
            f"{where} decodes to {len(key)} bytes; an AES-256 master key must be exactly "
            f"{KEY_BYTES} bytes (44 base64url characters). {_GENERATE_HINT}"
        )
    return key


def check_key(key: bytes, where: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise VaultError(f"{where} must be exactly {KEY_BYTES} bytes.")
    return bytes(key)


def associated_data(org_id: str, provider_id: str) -> bytes:
    """What each ciphertext is bound to: its organization and provider row."""
    check_org_id(org_id)
    if not provider_id or "|" in provider_id:
        raise VaultError("A provider id is needed to encrypt or decrypt its key.")
    return f"{AAD_PREFIX}|{org_id}|{provider_id}".encode()


def last4(secret: str | None) -> str:
    """A hint for the UI ("…abcd"). Short secrets show nothing: four characters of an
    eight-character key would give half of it away."""
    if not secret:
        return ""
    secret = secret.strip()
    return f"…{secret[-4:]}" if len(secret) >= 12 else "…"


# -- the vault ---------------------------------------------------------------------------


class Vault:
    """The current master key (encrypts) plus retired keys (decrypt only), chosen by key id."""

    def __init__(self, current: bytes, retired: Iterable[bytes] = (), *,
                 source: str = "memory") -> None:
        current = check_key(current, "The master key")
        self._raw: dict[str, bytes] = {}
        for k in retired:
            k = check_key(k, "A retired master key")
            self._raw.setdefault(key_id(k), k)
        self._current_id = key_id(current)
        self._raw[self._current_id] = current
        self._aead = {kid: AESGCM(k) for kid, k in self._raw.items()}
        self.source = source  # "env", "file" or "memory": decides how rotation stores keys

    def __repr__(self) -> str:  # never the keys
        return (f"Vault(current_key_id={self._current_id!r}, keys={len(self._raw)}, "
                f"source={self.source!r})")

    @property
    def current_key_id(self) -> str:
        return self._current_id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._raw)

    def rotated(self, new_key: bytes, *, keep_old: bool = False) -> Vault:
        """A vault whose current key is ``new_key``; retired keys stay, the old current key
        stays only with ``keep_old`` (a retired key can still decrypt old backups)."""
        retired = [k for kid, k in self._raw.items() if kid != self._current_id]
        if keep_old:
            retired.append(self._raw[self._current_id])
        return Vault(new_key, retired, source=self.source)

    def current_key(self) -> bytes:
        """The raw current key: only for a rotation that keeps it in the retired keyring."""
        return self._raw[self._current_id]

    def encrypt(self, plaintext: str, *, org_id: str, provider_id: str) -> bytes:
        """``version || key_id || nonce || ciphertext+tag`` under the current key."""
        if not isinstance(plaintext, str):
            raise VaultError("Only text secrets can be stored.")
        nonce = os.urandom(NONCE_BYTES)
        aad = associated_data(org_id, provider_id)
        sealed = self._aead[self._current_id].encrypt(nonce, plaintext.encode("utf-8"), aad)
        return bytes([FORMAT_VERSION]) + bytes.fromhex(self._current_id) + nonce + sealed

    @staticmethod
    def blob_key_id(blob: bytes) -> str:
        """The id of the key that sealed ``blob`` (without decrypting it)."""
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise VaultError("A stored secret is damaged (not binary data).")
        blob = bytes(blob)
        if len(blob) < HEADER_BYTES + TAG_BYTES or blob[0] != FORMAT_VERSION:
            raise VaultError("A stored secret is damaged or in an unknown format.")
        return blob[1 : 1 + KEY_ID_BYTES].hex()

    def can_decrypt(self, blob: bytes) -> bool:
        try:
            return self.blob_key_id(blob) in self._aead
        except VaultError:
            return False

    def decrypt(self, blob: bytes, *, org_id: str, provider_id: str) -> str:
        """The plaintext, or :class:`VaultError` if the blob was altered, belongs to another
        row, or was sealed with a key this vault does not hold."""
        kid = self.blob_key_id(blob)
        aead = self._aead.get(kid)
        if aead is None:
            raise VaultError(
                f"The API key of provider {provider_id} was encrypted with master key {kid}, "
                f"which this server does not have (it has {', '.join(sorted(self._raw))}). "
                "Restore that master key (SWITCHYARD_MASTER_KEY or the master.key file), or "
                "enter the provider's API key again."
            )
        blob = bytes(blob)
        nonce = blob[1 + KEY_ID_BYTES : HEADER_BYTES]
        try:
            plain = aead.decrypt(nonce, blob[HEADER_BYTES:], associated_data(org_id, provider_id))
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise VaultError(
                f"The API key of provider {provider_id} could not be decrypted: it was altered, "
                "or it was copied from another provider or organization. Enter the key again."
            ) from None


# -- files -------------------------------------------------------------------------------


def next_key_path(settings: Settings) -> Path:
    """Where a rotation parks the new key until its database transaction has committed."""
    return settings.master_key_path.with_name(settings.master_key_path.name + ".next")


def retired_keys_path(settings: Settings) -> Path:
    return settings.master_key_path.with_name(settings.master_key_path.name + ".retired")


def lock_path(settings: Settings) -> Path:
    return settings.master_key_path.with_name(settings.master_key_path.name + ".lock")


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("%s is readable by other users; run: chmod 600 %s", path, path)
        return parse_master_key(path.read_bytes(), where=f"The master key file {path}")
    except OSError as exc:
        raise VaultError(f"Cannot read the master key file {path}: {exc.strerror}.") from None


def _read_keyring(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    keys = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            keys.append(parse_master_key(line, where=f"Line {n} of {path}"))
    return keys


def _create_key_file(path: Path) -> bytes:
    """Write a new key to ``path`` unless another process got there first; return the key
    the file holds. ``link`` fails if the name exists, so two first runs agree on one key."""
    key = new_master_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return _read_key_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    message = (
        f"Generated a new Switchyard master key in {path} (mode 0600). It encrypts every "
        "provider API key: back it up now, or move it into SWITCHYARD_MASTER_KEY (environment "
        "or .streamlit/secrets.toml) and delete the file. Losing it means re-entering all keys."
    )
    logger.warning(message)
    warnings.warn(message, MasterKeyGenerated, stacklevel=3)
    return key


def master_key_source(settings: Settings | None = None) -> str:
    """"env" when SWITCHYARD_MASTER_KEY is set (environment or st.secrets), else "file"."""
    return "env" if lookup(ENV_VAR) else "file"


def load_vault(settings: Settings | None = None, *, expected_key_id: str | None = None
               ) -> Vault:
    """The vault from SWITCHYARD_MASTER_KEY, else from master.key (generated on first use).

    ``expected_key_id`` is the key id the config store says its secrets are under. With it,
    an interrupted rotation is finished (``master.key.next`` promoted when it is that key),
    and a missing key file is an error instead of silently generating a key that cannot
    open the existing secrets.
    """
    s = settings or get_settings()
    retired = _read_keyring(retired_keys_path(s))
    configured = lookup(ENV_VAR)
    if configured:
        return Vault(parse_master_key(str(configured), where=ENV_VAR), retired, source="env")

    path, nxt = s.master_key_path, next_key_path(s)
    if nxt.exists():
        pending = _read_key_file(nxt)
        if expected_key_id is not None and key_id(pending) == expected_key_id:
            os.replace(nxt, path)
            os.chmod(path, 0o600)
            fsync_dir(path.parent)
            logger.warning("Finished an interrupted master key rotation: %s is now key %s.",
                           path, expected_key_id)
        else:
            # A rotation may be committing right now in another process, or crashed before
            # committing: keep the key usable for decryption and leave the file alone.
            retired.append(pending)
    if path.exists():
        current = _read_key_file(path)
    elif expected_key_id is not None:
        raise VaultError(
            f"The master key is missing: {path} does not exist and SWITCHYARD_MASTER_KEY is not "
            f"set, but the stored API keys are encrypted with master key {expected_key_id}. "
            "Restore the key from your backup (file or SWITCHYARD_MASTER_KEY)."
        )
    else:
        current = _create_key_file(path)
    return Vault(current, retired, source="file")
