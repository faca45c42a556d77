"""The config store: provider configurations, encrypted keys, the model catalog and the audit
log in SQLite.

All SQL of the config store lives in this package. Import from here::

    from core.config_store import CatalogStore, ProviderStore, parse_provider_settings
"""

from core.config_store.catalog_store import (
    CatalogModel,
    CatalogStore,
    DiscoveryRun,
    InvalidRules,
    ModelMeta,
    ModelRef,
    ProviderResult,
    ProviderSync,
    RuleSet,
)
from core.config_store.db import MIGRATIONS, Migration, connect, migrate
from core.config_store.providers import (
    KEEP,
    AuditEntry,
    ConfigStoreError,
    ProviderNotFound,
    ProviderRecord,
    ProviderStore,
    StaleWrite,
    write_audit,
)
from core.config_store.schemas import (
    ProviderSettings,
    ProviderSettingsBase,
    parse_provider_settings,
    validation_messages,
)
from core.config_store.templates import TEMPLATES, ModelTemplate, get_template, templates_for
from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType, ProviderTypeInfo

__all__ = [
    "KEEP",
    "MIGRATIONS",
    "PROVIDER_TYPES",
    "TEMPLATES",
    "AuditEntry",
    "CatalogModel",
    "CatalogStore",
    "ConfigStoreError",
    "DiscoveryRun",
    "InvalidRules",
    "KeyPolicy",
    "Migration",
    "ModelMeta",
    "ModelRef",
    "ModelTemplate",
    "ProviderNotFound",
    "ProviderRecord",
    "ProviderResult",
    "ProviderSettings",
    "ProviderSettingsBase",
    "ProviderStore",
    "ProviderSync",
    "ProviderType",
    "ProviderTypeInfo",
    "RuleSet",
    "StaleWrite",
    "connect",
    "get_template",
    "migrate",
    "parse_provider_settings",
    "templates_for",
    "validation_messages",
    "write_audit",
]
