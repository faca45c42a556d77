"""Paths, environment and `st.secrets` resolution, in one place.

Every runtime file lives under ``SWITCHYARD_HOME`` (default ``./data``) unless its own
variable overrides it. Resolution order for each setting: environment variable, then
``st.secrets`` (when running under Streamlit and a secrets file exists), then the default.
"""

from __future__ import annotations

import os
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _from_st_secrets(name: str) -> Any | None:
    """Read ``name`` from st.secrets without failing when there is no secrets file."""
    try:
        import streamlit as st
        from streamlit.runtime.secrets import secrets_singleton

        if not secrets_singleton.load_if_toml_exists():
            return None
        return st.secrets.get(name)
    except Exception:  # noqa: BLE001 - secrets are optional; any failure means "not set"
        return None


def lookup(name: str, default: Any = None) -> Any:
    """Environment first, then st.secrets, then ``default``."""
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    value = _from_st_secrets(name)
    if value not in (None, ""):
        return value
    return default


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_path: Path
    config_path: Path
    credentials_path: Path
    cookie_key_path: Path
    master_key_path: Path
    sample_sets_path: Path  # users' uploaded sample sets: <this>/<org_id>/<set_id>/
    cookie_name: str
    session_idle_minutes: float  # a session no one has used for this long ends
    session_max_hours: float  # and every session ends this long after its sign-in
    demo_events: int
    demo_days: int
    lock_timeout_s: float

    def ensure_home(self) -> None:
        """Create the home owner-only (0700): it holds keys, hashes and the warehouse."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.home, 0o700)
        for p in (self.warehouse_path, self.config_path, self.credentials_path,
                  self.cookie_key_path, self.master_key_path):
            p.parent.mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    """Resolve settings now (cheap; re-read so tests can change the environment)."""
    home = Path(lookup("SWITCHYARD_HOME", PROJECT_ROOT / "data")).expanduser()
    if not home.is_absolute():
        home = (Path.cwd() / home).resolve()

    def path(var: str, default_name: str) -> Path:
        value = lookup(var)
        return Path(value).expanduser() if value else home / default_name

    return Settings(
        home=home,
        warehouse_path=path("SWITCHYARD_WAREHOUSE", "warehouse.duckdb"),
        config_path=path("SWITCHYARD_CONFIG_DB", "config.sqlite"),
        credentials_path=path("SWITCHYARD_CREDENTIALS", "credentials.json"),
        cookie_key_path=path("SWITCHYARD_COOKIE_KEY_FILE", "cookie.key"),
        master_key_path=path("SWITCHYARD_MASTER_KEY_FILE", "master.key"),
        sample_sets_path=path("SWITCHYARD_SAMPLE_SETS", "sample_sets"),
        cookie_name=str(lookup("SWITCHYARD_COOKIE_NAME", "switchyard_auth")),
        session_idle_minutes=float(lookup("SWITCHYARD_SESSION_IDLE_MINUTES", 30)),
        session_max_hours=float(lookup("SWITCHYARD_SESSION_MAX_HOURS", 12)),
        demo_events=int(lookup("SWITCHYARD_DEMO_EVENTS", 200_000)),
        demo_days=int(lookup("SWITCHYARD_DEMO_DAYS", 60)),
        lock_timeout_s=float(lookup("SWITCHYARD_LOCK_TIMEOUT", 120)),
    )


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 atomically (temp file + rename), never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{_secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def cookie_key(settings: Settings | None = None) -> str:
    """The cookie signing key: from secrets/environment, else generated once into a 0600 file.

    Never the library's default ``some_key``.
    """
    s = settings or get_settings()
    configured = lookup("SWITCHYARD_COOKIE_KEY")
    if configured:
        return str(configured)
    if s.cookie_key_path.exists():
        key = s.cookie_key_path.read_text().strip()
        if key:
            return key
    key = _secrets.token_urlsafe(48)
    write_private_file(s.cookie_key_path, key.encode())
    return key
