"""What the app's HTTP server adds to Streamlit's: security headers on every response, no
``/_stcore/metrics`` for anyone, and the two routes that set and clear the HttpOnly session
cookie (a Streamlit script cannot send a header; the browser fetches these as images).

Streamlit 1.67 serves on Starlette and lets an ``st.App`` add routes and middleware; the
launcher ``core/launcher/switchyard_web.py`` builds that app around app.py, and `make run`
serves it with `streamlit run`. Served as plain `streamlit run app.py` (development), the app
still works, but a reload asks for the password again and no headers are added.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.settings import get_settings, lookup

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_ROUTE = "/_switchyard/session"  # trades a sign-in's ticket for the HttpOnly cookie
SIGN_OUT_ROUTE = "/_switchyard/signout"  # ends the cookie's session and deletes the cookie
BLOCKED_PATHS = ("/_stcore/metrics",)  # cache and function names, to anyone who asks
# A transparent 1×1 GIF: what the cookie routes answer, as the browser asked for an image.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _inline_script_hashes() -> list[str]:
    """CSP hashes of the inline scripts in Streamlit's own index.html (one small line in
    1.67), read from the installed file so an upgrade cannot silently break the page."""
    import streamlit

    index = Path(streamlit.__file__).parent / "static" / "index.html"
    try:
        html = index.read_text()
    except OSError:
        return []
    return ["'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
            for body in re.findall(r"<script>(.*?)</script>", html, re.S)]


def content_security_policy() -> str:
    """Same-origin everything. Streamlit's frontend needs inline styles (emotion, Plotly)
    and data:/blob: images and fonts; no inline script but its own hashed one, no eval."""
    scripts = " ".join(["'self'", *_inline_script_hashes()])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "media-src 'self' data: blob:",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response (a route's own value wins),
    and 404 for the blocked paths before Streamlit sees them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in security_headers().items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in self.headers if k not in present]]
            await send(message)

        if _blocked(scope.get("path", "")):
            from starlette.responses import PlainTextResponse

            await PlainTextResponse("Not found", status_code=404)(scope, receive,
                                                                   send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _blocked(path: str) -> bool:
    base = "/" + str(_base_url()).strip("/") if _base_url() else ""
    norm = re.sub("/+", "/", path).rstrip("/").lower()
    return any(norm == (base + p).lower() for p in BLOCKED_PATHS)


def _base_url() -> str:
    try:
        from streamlit import config

        return str(config.get_option("server.baseUrlPath") or "")
    except Exception:  # noqa: BLE001 - outside a server: no base path
        return ""


def _same_origin(request: Request) -> bool:
    """Only the app's own pages may trade a ticket (no sign-in forced on from elsewhere)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    referer = request.headers.get("referer")
    if referer:
        return urlsplit(referer).netloc == request.headers.get("host")
    return True


def _secure(request: Request) -> bool:
    """``Secure`` when served over HTTPS (or told so, behind a TLS-terminating proxy)."""
    forced = str(lookup("SWITCHYARD_COOKIE_SECURE", "auto")).lower()
    if forced in ("1", "true", "yes"):
        return True
    if forced in ("0", "false", "no"):
        return False
    return request.url.scheme == "https"


def _pixel(status: int = 200) -> Response:
    from starlette.responses import Response

    return Response(PIXEL if status == 200 else b"", status_code=status,
                    media_type="image/gif", headers={"Cache-Control": "no-store"})


async def set_session_cookie(request: Request) -> Response:
    """Trade a fresh sign-in's one-time ticket for the session cookie (HttpOnly, SameSite)."""
    from starlette.concurrency import run_in_threadpool

    from core.signin import SignIn

    ticket = request.query_params.get("ticket", "")
    if not _same_origin(request) or not ticket:
        return _pixel(403)
    got = await run_in_threadpool(SignIn().redeem, ticket)
    if got is None:
        return _pixel(403)
    token, max_age = got
    response = _pixel()
    response.set_cookie(get_settings().cookie_name, token, max_age=max_age, path="/",
                        httponly=True, samesite="lax", secure=_secure(request))
    return response


async def clear_session_cookie(request: Request) -> Response:
    """After sign-out: end the cookie's session too (if another tab still had it) and
    delete the cookie."""
    from starlette.concurrency import run_in_threadpool

    from core.signin import SignIn

    if not _same_origin(request):
        return _pixel(403)
    name = get_settings().cookie_name
    token = request.cookies.get(name)
    if token:
        await run_in_threadpool(SignIn().sign_out_cookie, token)
    response = _pixel()
    response.delete_cookie(name, path="/", httponly=True, samesite="lax",
                           secure=_secure(request))
    return response


def routes() -> list[Any]:
    from starlette.routing import Route

    return [Route(COOKIE_ROUTE, set_session_cookie, methods=["GET"]),
            Route(SIGN_OUT_ROUTE, clear_session_cookie, methods=["GET"])]


def middleware() -> list[Any]:
    from starlette.middleware import Middleware

    return [Middleware(SecurityHeaders)]
