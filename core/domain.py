"""Pydantic types shared by core, the pages and the CLI."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

ORG_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEMO_ORG = "demo"


def check_org_id(value: str) -> str:
    """Organization ids are slugs: they end up in SQL scopes, file names and URLs."""
    if not isinstance(value, str) or not ORG_ID_RE.fullmatch(value):
        raise ValueError(
            "organization id must be 1-63 lowercase letters, digits, '-' or '_' "
            "and start with a letter or digit"
        )
    return value


class Role(StrEnum):
    admin = "admin"
    editor = "editor"
    analyst = "analyst"
    viewer = "viewer"


class Source(StrEnum):
    production = "production"
    benchmark = "benchmark"
    health = "health"


class UsageEvent(BaseModel):
    """One model call, named as in the OpenTelemetry GenAI conventions."""

    request_id: str = Field(min_length=1)
    ts: datetime
    org_id: str
    provider_name: str = Field(min_length=1)
    request_model: str = Field(min_length=1)
    response_model: str | None = None
    feature: str = "unassigned"
    source: Source = Source.production
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)
    reasoning_output_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    duration_ms: float | None = Field(default=None, ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    status: str = "ok"
    error_type: str | None = None
    finish_reason: str | None = None

    _org = field_validator("org_id")(lambda cls, v: check_org_id(v))


class UsageFilter(BaseModel):
    """What the Usage page asks for. ``org_id`` is set by core from the signed-in user."""

    org_id: str
    start: date
    end: date  # inclusive
    providers: list[str] = Field(default_factory=list)  # empty: all
    models: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    _org = field_validator("org_id")(lambda cls, v: check_org_id(v))

    @model_validator(mode="after")
    def _order(self) -> UsageFilter:
        if self.end < self.start:
            raise ValueError("the end date is before the start date")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous_period(self) -> UsageFilter:
        """The same number of days immediately before, for period-over-period KPIs."""
        span = timedelta(days=self.days)
        return self.model_copy(update={"start": self.start - span, "end": self.end - span})
