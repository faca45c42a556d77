"""What Google's APIs (Gemini API, Cloud Vision) share: the key in ``x-goog-api-key`` (never
``?key=`` in the URL, where proxies and server logs keep it) and Google's error bodies — a bad
key is 400 with reason ``API_KEY_INVALID``, a rate limit carries a ``RetryInfo`` delay."""

from __future__ import annotations

import re
from typing import Any

import httpx

from core.providers.base import Adapter
from core.providers.errors import AuthenticationError, ProviderError, RateLimited, from_status
from core.providers.http import error_message

_SECONDS = re.compile(r"^\s*([0-9.]+)s\s*$")
_BAD_KEY = ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED")


def _details(body: Any) -> list[dict]:
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def map_google_error(status: int, body: object, text: str, headers: httpx.Headers, *,
                     provider: str, secret: str | None) -> ProviderError:
    """Google's error bodies: a bad key is 400 API_KEY_INVALID; 429 carries RetryInfo."""
    message = error_message(body, text) or f"HTTP {status}"
    details = _details(body)
    if any(d.get("reason") in _BAD_KEY for d in details):
        return AuthenticationError(message, status=status, provider=provider, secret=secret)
    if status == 429 and not headers.get("retry-after"):
        wait = next((d.get("retryDelay") for d in details if "retryDelay" in d), None)
        match = _SECONDS.match(str(wait or ""))
        if match:
            return RateLimited(message, retry_after=float(match.group(1)), status=status,
                               provider=provider, secret=secret)
    return from_status(status, message, provider=provider, secret=secret,
                       retry_after=headers.get("retry-after"))


class GoogleAdapter(Adapter):
    """Base of the Google protocols: how the key travels and how failures read."""

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key or ""}  # never ?key= in the URL

    def map_error(self, status: int, body: object, text: str,
                  headers: httpx.Headers) -> ProviderError:
        return map_google_error(status, body, text, headers, provider=self.label,
                                secret=self._api_key)
