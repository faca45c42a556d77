"""What every Providers tab needs: who is looking, the store and the organization's providers."""

from __future__ import annotations

from dataclasses import dataclass

from core.auth import User
from core.config_store import ProviderRecord, ProviderStore


@dataclass(frozen=True)
class Ctx:
    user: User
    org_id: str
    store: ProviderStore
    records: list[ProviderRecord]
