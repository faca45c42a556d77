"""Run-time fault rules set through ``POST /_admin/faults``, so tests and demos can break a
provider on demand (an outage, a 429 storm, a slow model, a retired or new model)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.provider_names import provider_type
from core.simulator.profiles import PROVIDERS, ModelProfile


class FaultRule(BaseModel):
    """One rule. Omitted fields keep the profile's value; ``status`` alone means every call
    fails with that status (``error_rate`` 1). A rule replaces an earlier one with the same
    (provider, model). Rules apply to model listing too, except those naming a model."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = None
    model: str | None = None
    error_rate: float | None = Field(None, ge=0, le=1)
    rate_limit_rate: float | None = Field(None, ge=0, le=1)
    retry_after_s: float | None = Field(None, ge=0, le=3600)
    timeout_rate: float | None = Field(None, ge=0, le=1)
    malformed_rate: float | None = Field(None, ge=0, le=1)
    latency_ms: float | None = Field(None, ge=0, le=600_000)
    status: int | None = Field(None, ge=400, le=599)
    list_models_add: list[str] = Field(default_factory=list)
    list_models_remove: list[str] = Field(default_factory=list)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | None) -> str | None:
        if value is None:
            return None
        p = provider_type(value)
        if p not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; one of {', '.join(PROVIDERS)}")
        return p

    @model_validator(mode="after")
    def _lists_need_provider(self) -> FaultRule:
        if (self.list_models_add or self.list_models_remove) and not self.provider:
            raise ValueError("list_models_add/list_models_remove need a provider")
        return self

    @property
    def specificity(self) -> int:
        return (self.provider is not None) + 2 * (self.model is not None)


@dataclass(frozen=True)
class Effective:
    """The rates and overrides that apply to one call after profile + rules."""

    error_rate: float
    rate_limit_rate: float
    retry_after_s: float
    timeout_rate: float
    malformed_rate: float
    latency_ms: float | None
    status: int | None


_RATES = ("error_rate", "rate_limit_rate", "retry_after_s", "timeout_rate", "malformed_rate",
          "latency_ms", "status")


class FaultBook:
    """The active rules and model-list changes; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.added: dict[str, list[str]] = {}
        self.removed: dict[str, set[str]] = {}

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules
                           if (r.provider, r.model) != (rule.provider, rule.model)]
            if any(getattr(rule, f) is not None for f in _RATES):
                self._rules.append(rule)
            if rule.provider:
                added = self.added.setdefault(rule.provider, [])
                removed = self.removed.setdefault(rule.provider, set())
                for mid in rule.list_models_add:
                    removed.discard(mid)
                    if mid not in added:
                        added.append(mid)
                for mid in rule.list_models_remove:
                    removed.add(mid)
                    if mid in added:
                        added.remove(mid)

    def model_changes(self, provider: str) -> tuple[list[str], set[str]]:
        """(added ids, removed ids) for ``provider``: copies, safe to iterate."""
        with self._lock:
            return list(self.added.get(provider, ())), set(self.removed.get(provider, ()))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.added.clear()
            self.removed.clear()

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "faults": [r.model_dump(exclude_none=True, exclude_defaults=True)
                           for r in self._rules],
                "list_models_added": {p: list(v) for p, v in self.added.items() if v},
                "list_models_removed": {p: sorted(v) for p, v in self.removed.items() if v},
            }

    def effective(self, provider: str, profile: ModelProfile | None,
                  baseline: bool) -> Effective:
        """Profile rates (when ``baseline``) overlaid by matching rules, most specific last.
        ``profile`` None means a model listing call: only rules without a model apply."""
        values: dict[str, float | int | None] = {
            "error_rate": 0.0, "rate_limit_rate": 0.0, "timeout_rate": 0.0,
            "malformed_rate": 0.0, "latency_ms": None, "status": None,
            "retry_after_s": profile.retry_after_s if profile else 2.0,
        }
        if baseline and profile is not None:
            for name in ("error_rate", "rate_limit_rate", "timeout_rate", "malformed_rate"):
                values[name] = getattr(profile, name)
        names = set(profile.names) if profile else set()
        with self._lock:
            rules = sorted(self._rules, key=lambda r: r.specificity)
        for rule in rules:
            if rule.provider not in (None, provider):
                continue
            if rule.model is not None and rule.model not in names:
                continue
            for name in _RATES:
                value = getattr(rule, name)
                if value is not None:
                    values[name] = value
            if rule.status is not None and rule.error_rate is None:
                values["error_rate"] = 1.0
        return Effective(**values)  # type: ignore[arg-type]
