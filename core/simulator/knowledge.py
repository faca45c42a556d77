"""Teaching a running simulator what is right: ``POST /_admin/knowledge``.

A simulated model can only be scored against a user's uploaded photos and prompts if the
simulator knows their ground truth (it recognises a photo by the SHA-256 of its bytes and a
prompt by its text). Comparisons against simulated providers send it first; real providers
never receive labels or references. Like every ``/_admin`` endpoint it answers loopback
clients only.

Body (JSON)::

    {"photos": {"<sha256 hex>": {"tags": [...], "synonyms": {tag: [...]},
                                  "description": "...", "safety": [...]}},
     "references": [{"prompt": "...", "reference": "..."}]}

``GET`` returns ``{"photos": n, "references": n}``; ``DELETE`` forgets what was taught.
"""

from __future__ import annotations

import re

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ITEMS = 5000  # per request
MAX_TEXT = 20_000
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class PhotoTruth(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tags: list[str] = Field(default_factory=list, max_length=200)
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    description: str = Field(default="", max_length=MAX_TEXT)
    safety: list[str] = Field(default_factory=list, max_length=50)


class Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1, max_length=MAX_TEXT)
    reference: str = Field(max_length=MAX_TEXT)


class KnowledgeUpdate(BaseModel):
    """What ``/_admin/knowledge`` merges into the simulator's knowledge."""

    model_config = ConfigDict(extra="forbid")

    photos: dict[str, PhotoTruth] = Field(default_factory=dict, max_length=MAX_ITEMS)
    references: list[Reference] = Field(default_factory=list, max_length=MAX_ITEMS)

    @field_validator("photos")
    @classmethod
    def _sha_keys(cls, v: dict[str, PhotoTruth]) -> dict[str, PhotoTruth]:
        if any(not _SHA256.fullmatch(k) for k in v):
            raise ValueError("photos must be keyed by the SHA-256 of the image bytes "
                             "(64 hexadecimal digits)")
        return {k.lower(): t for k, t in v.items()}

    @property
    def empty(self) -> bool:
        return not self.photos and not self.references


class TeachError(RuntimeError):
    """The simulator did not take the knowledge (unreachable, refused, not loopback)."""


async def teach(client: httpx.AsyncClient, root: str, update: KnowledgeUpdate) -> dict:
    """Send ``update`` to the simulator at ``root``; returns its knowledge counts."""
    if update.empty:
        return {}
    url = root.rstrip("/") + "/_admin/knowledge"
    try:
        r = await client.post(url, content=update.model_dump_json(),
                              headers={"content-type": "application/json"})
    except httpx.HTTPError as exc:
        raise TeachError(f"the provider simulator at {root} could not be told the samples' "
                         f"ground truth: {type(exc).__name__}") from None
    if r.status_code != 200:
        raise TeachError(f"the provider simulator at {root} refused the samples' ground "
                         f"truth (HTTP {r.status_code}): {r.text[:200]}")
    return r.json()
