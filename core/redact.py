"""Secret redaction: one home for the rule that keeps API keys out of messages.

Providers sometimes echo a key back ("Incorrect API key provided: sk-abc…"), and any message
may end up in the warehouse, the audit log or on a page; every such message passes here.
"""

from __future__ import annotations

import re

_KEYLIKE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{10,}|key-[A-Za-z0-9]{8,}|"
    r"[A-Za-z0-9_\-]{32,})"
)


def scrub(message: str, secret: str | None = None) -> str:
    """``message`` without ``secret`` or anything shaped like an API key."""
    text = str(message or "")
    if secret:
        text = text.replace(secret, "[redacted]")
        if len(secret) > 8:
            text = text.replace(secret[:8], "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)[:500]
