"""core.web: security headers on every response, no public metrics, and the HttpOnly session
cookie routes — through Starlette's test client, and once through the served app."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from core import web
from core.auth import UserStore
from core.domain import Role
from core.settings import get_settings
from core.signin import SignIn
from tests.helpers import PASSWORD, prepare_home, serve

HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _metrics(request):
    return PlainTextResponse("cache_memory_bytes{cache_type=\"st_cache_data\"} 1")


def _client(base_url: str = "http://testserver") -> TestClient:
    """Streamlit's routes stand-in (a metrics route that would answer) behind our pieces."""
    app = Starlette(routes=[*web.routes(), Route("/_stcore/metrics", _metrics),
                            Route("/", lambda r: PlainTextResponse("index"))],
                    middleware=web.middleware())
    return TestClient(app, base_url=base_url)


def _assert_security_headers(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-eval'" not in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src


def test_every_response_carries_the_security_headers(home: Path) -> None:
    client = _client()
    for path in ("/", "/no-such-page", "/_stcore/metrics", "/_switchyard/session"):
        _assert_security_headers(client.get(path))


def test_the_csp_allows_streamlits_own_inline_script() -> None:
    hashes = web._inline_script_hashes()
    assert hashes and all(h.startswith("'sha256-") for h in hashes)
    assert all(h in web.content_security_policy() for h in hashes)


@pytest.mark.parametrize("path", ["/_stcore/metrics", "/_stcore/metrics/", "//_stcore//metrics",
                                  "/_STCORE/Metrics", "/_stcore/metrics?families=cache"])
def test_metrics_are_not_served(home: Path, path: str) -> None:
    response = _client().get(path)
    assert response.status_code == 404
    assert "cache_memory_bytes" not in response.text


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.signin

    moment = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    monkeypatch.setattr(core.signin, "_now", lambda: moment)


def _session(home: Path) -> tuple[SignIn, str, str]:
    store = UserStore()
    store.add_user("owner", "Owner", "", PASSWORD, Role.admin, "demo")
    service = SignIn(store)
    result = service.open_session(store.get("owner"))
    return service, result.session_id, result.ticket


def test_the_session_cookie_is_httponly_samesite_and_only_once(home: Path) -> None:
    service, session_id, ticket = _session(home)
    client = _client()
    response = client.get(f"/_switchyard/session?ticket={ticket}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    cookie = response.headers["set-cookie"]
    name = get_settings().cookie_name
    assert cookie.startswith(f"{name}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Max-Age=43200" in cookie and "Secure" not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert service.resume(cookie_token=token)[1].id == session_id
    again = client.get(f"/_switchyard/session?ticket={ticket}")
    assert again.status_code == 403 and "set-cookie" not in again.headers


def test_the_cookie_is_secure_over_https(home: Path) -> None:
    _, _, ticket = _session(home)
    response = _client("https://switchyard.example").get(f"/_switchyard/session?ticket={ticket}")
    assert "Secure" in response.headers["set-cookie"]


def test_another_site_cannot_trade_a_ticket(home: Path) -> None:
    _, _, ticket = _session(home)
    client = _client()
    response = client.get(f"/_switchyard/session?ticket={ticket}",
                          headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403 and "set-cookie" not in response.headers
    response = client.get(f"/_switchyard/session?ticket={ticket}",
                          headers={"Referer": "https://evil.example/page"})
    assert response.status_code == 403


def test_the_sign_out_route_ends_the_cookies_session_and_deletes_it(home: Path) -> None:
    service, session_id, ticket = _session(home)
    client = _client()
    client.get(f"/_switchyard/session?ticket={ticket}")
    response = client.get("/_switchyard/signout")
    assert response.status_code == 200
    assert 'Max-Age=0' in response.headers["set-cookie"]
    assert service.resume(session_id=session_id) is None


def test_the_served_app_sends_the_headers_and_hides_metrics(tmp_path: Path) -> None:
    """The real server, as `make run` starts it: the launcher wires core.web into st.App."""
    home = prepare_home(tmp_path / "home", events=0)
    with serve(home, "web.log") as url:
        for path in ("/", "/_stcore/health", "/users"):
            response = httpx.get(url + path, timeout=10)
            assert response.status_code == 200, path
            _assert_security_headers(response)
        assert httpx.get(url + "/_stcore/metrics", timeout=10).status_code == 404
        assert httpx.get(url + "/_switchyard/session?ticket=x", timeout=10).status_code == 403
