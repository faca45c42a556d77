"""One error taxonomy for every provider, so retries, health and the UI treat them alike.

Messages carry the HTTP status and the provider's own message, scrubbed of anything that
looks like the key that was used (providers sometimes echo a key back, e.g. "Incorrect API
key provided: sk-abc…"), and the key is never stored on the exception.
"""

from __future__ import annotations

from typing import Any

from core.redact import scrub


class ProviderError(Exception):
    """Base of the taxonomy. ``kind`` is the stable name used in error_type and the UI."""

    kind = "provider_error"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, provider: str = "",
                 secret: str | None = None) -> None:
        self.status = status
        self.provider = provider
        self.message = scrub(message, secret)
        super().__init__(self.user_message())

    def user_message(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{where}{self.title}{code} — {self.message}" if self.message else \
            f"{where}{self.title}{code}"

    title = "Provider error"


class AuthenticationError(ProviderError):
    kind, title = "authentication", "Authentication failed"


class RateLimited(ProviderError):
    kind, title, retryable = "rate_limited", "Rate limited", True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)

    def user_message(self) -> str:
        base = super().user_message()
        return f"{base} (retry after {self.retry_after:g} s)" if self.retry_after else base


class Timeout(ProviderError):
    kind, title, retryable = "timeout", "Timed out", True


class Unavailable(ProviderError):
    """5xx, connection refused/reset, DNS: the provider is not answering properly."""

    kind, title, retryable = "unavailable", "Unavailable", True


class BadRequest(ProviderError):
    kind, title = "bad_request", "Bad request"


class MalformedResponse(ProviderError):
    kind, title = "malformed_response", "Malformed response"


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def from_status(status: int, message: str, *, provider: str = "", secret: str | None = None,
                retry_after: str | None = None) -> ProviderError:
    """Map an HTTP error status (and the provider's message) onto the taxonomy."""
    kw: dict[str, Any] = {"status": status, "provider": provider, "secret": secret}
    if status in (401, 403):
        return AuthenticationError(message, **kw)
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(retry_after), **kw)
    if status in (408, 504):
        return Timeout(message, **kw)
    if status >= 500 or status == 529:
        return Unavailable(message, **kw)
    return BadRequest(message, **kw)
