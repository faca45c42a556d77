"""Streamlit glue shared by app.py and the pages: sign-in, navigation and flash messages.

Kept apart from :mod:`core.auth` (which knows nothing of Streamlit) so the rules stay
testable without a browser, while every page can repeat the role check in one line. The
resources pages use (warehouse, stores) are in :mod:`core.resources`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.auth import AccessDenied, User, UserError, UserStore
from core.config_store.sessions import SessionRecord
from core.domain import DEMO_ORG, Role
from core.settings import cookie_key, get_settings
from core.signin import SignIn
from core.warehouse.db import WarehouseBusy
from core.web import COOKIE_ROUTE, SIGN_OUT_ROUTE

APP_ROOT = Path(__file__).resolve().parents[1]

PAGE_FILES: dict[str, tuple[str, str, str]] = {
    # key: (file, title, icon)
    "usage": ("pages/usage.py", "Usage & Cost", ":material/monitoring:"),
    "catalog": ("pages/catalog.py", "Model catalog", ":material/view_module:"),
    "compare": ("pages/compare.py", "Compare models", ":material/compare_arrows:"),
    "providers": ("pages/providers.py", "Providers", ":material/hub:"),
    "users": ("pages/users.py", "Users", ":material/group:"),
}


def _first_admin_form(store: UserStore) -> None:
    st.title("Welcome to Switchyard")
    st.write(
        "No one has signed up yet. Create the first admin account: it owns this instance "
        "and can add the rest of your team."
    )
    with st.form("first_admin"):
        username = st.text_input("Username", placeholder="e.g. alex")
        name = st.text_input("Display name", placeholder="e.g. Alex Kim")
        email = st.text_input("E-mail (optional)")
        org = st.text_input(
            "Organization id", value=DEMO_ORG,
            help="Lowercase letters, digits, '-' or '_'. The demo history belongs to 'demo'.",
        )
        password = st.text_input("Password", type="password", help="At least 8 characters.")
        confirm = st.text_input("Repeat password", type="password")
        submitted = st.form_submit_button("Create admin account", type="primary")
    if submitted:
        if password != confirm:
            st.error("The two passwords differ.")
            return
        try:
            store.add_user(username, name, email, password, Role.admin, org.strip())
        except (UserError, AccessDenied) as exc:
            st.error(str(exc))
            return
        st.session_state["_just_created"] = username
        st.rerun()


_navigation_declared = False  # has this process called st.navigation yet?


def leave_pages_folder_mode() -> None:
    """Call first in app.py: on a process's first run, declare navigation and start over.

    Until ``st.navigation`` has been called once in the process, Streamlit runs app.py as a
    page of the ``pages/`` folder, under a different script hash. Widgets drawn in that
    first run (the sign-in or first-admin form) get other ids than in every later run, so
    the browser remounts them when the script reruns and drops what a quick user had
    already typed. One empty run fixes the ids for good.
    """
    global _navigation_declared
    if _navigation_declared:
        return
    _navigation_declared = True
    _no_navigation()
    st.rerun()


def _no_navigation() -> None:
    """Before anyone is signed in, declare a navigation of one hidden page. Without any
    ``st.navigation`` call Streamlit falls back to listing the ``pages/`` folder in the
    sidebar (and serving its files by URL) on the sign-in and first-run screens."""
    st.navigation([st.Page(lambda: None, title="Sign in", url_path="sign-in", default=True)],
                  position="hidden")


SESSION_KEY = "_session_id"  # the server-side session of this browser tab (never sent to it)


def _pixel(url: str) -> None:
    """Make the browser fetch ``url`` once, with its cookies, as an image (core.web answers
    with a 1×1 GIF and a Set-Cookie header): no JavaScript, so no CSP exception."""
    st.html(f'<img src="{url}" alt="" width="1" height="1" style="position:absolute">')


def _client() -> str | None:
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - outside a browser session there is no address
        return None
    return address if isinstance(address, str) and address else None  # (AppTest: a mock)


def _resume(service: SignIn) -> tuple[User, SessionRecord] | None:
    """This tab's live session: by the id kept in session state, else by the cookie."""
    session_id = st.session_state.get(SESSION_KEY)
    if session_id:
        got = service.resume(session_id=session_id)
        if got is not None:
            return got
        st.session_state.pop(SESSION_KEY, None)
        st.session_state["_session_ended"] = True
    token = st.context.cookies.get(get_settings().cookie_name)
    if isinstance(token, str) and token:  # (AppTest has no browser and no real cookies)
        got = service.resume(cookie_token=token)
        if got is not None:
            st.session_state[SESSION_KEY] = got[1].id
            return got
    return None


def _sign_in_form(service: SignIn) -> None:
    st.title("Switchyard")
    st.caption("What your AI models cost, how fast they are, and which one serves each feature.")
    if st.session_state.pop("_signed_out", False):
        _pixel(SIGN_OUT_ROUTE)
        st.info("You have signed out.")
    elif st.session_state.pop("_session_ended", False):
        st.info("Your session has ended. Please sign in again.")
    if st.session_state.get("_just_created"):
        st.success("Admin account created. Sign in to continue.")
    with st.form("login"):
        st.subheader("Sign in")
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        result = service.attempt(username, password, _client())
        if result.session_id is None:
            st.error(result.message or "Username or password is incorrect.")
            return
        st.session_state[SESSION_KEY] = result.session_id
        st.session_state["_cookie_ticket"] = result.ticket
        st.session_state.pop("_just_created", None)
        st.rerun()


def sign_in() -> User:
    """Show first-run setup or the sign-in form until someone is signed in; then return them.

    Checked against the session store on every rerun, so an ended session ends here."""
    store = UserStore()
    cookie_key(get_settings())  # generated on first run, before anyone signs up
    if store.is_empty():
        _no_navigation()
        _first_admin_form(store)
        st.stop()
    service = SignIn(store)
    got = _resume(service)
    if got is None:
        st.session_state.pop("_user", None)
        _no_navigation()
        _sign_in_form(service)
        st.stop()
    user, record = got
    # Until the browser has traded the ticket for its cookie (a rerun may come before the
    # image loads), every run asks again; the ticket is single-use and short-lived.
    ticket = st.session_state.get("_cookie_ticket")
    if ticket and not record.has_cookie:
        with st.sidebar:
            _pixel(f"{COOKIE_ROUTE}?ticket={ticket}")
    elif ticket:
        st.session_state.pop("_cookie_ticket", None)
    st.session_state["_user"] = user
    return user


def current_user() -> User:
    """The signed-in user of a live session (role changes end the session, see core.signin)."""
    session_id = st.session_state.get(SESSION_KEY)
    got = SignIn().resume(session_id=session_id) if session_id else None
    if got is None:
        # A page URL opened first on a fresh server runs the page file on its own: Streamlit
        # serves pages/ by URL until app.py has declared its navigation once. Go through
        # app.py (sign-in, navigation) instead; where app.py is no page (the normal case, or
        # a page run alone in a test) say so and stop.
        with contextlib.suppress(StreamlitAPIException):
            st.switch_page("app.py")
        st.error("Please sign in.")
        st.stop()
    return got[0]


def require_page(page: str) -> User:
    """Every page calls this first: navigation hides pages, this stops a typed URL."""
    user = current_user()
    if not user.may_open(page):
        st.error("You do not have access to this page. Ask an admin if you need it.")
        st.stop()
    return user


def page_path(key: str) -> Path:
    """A page's file, for st.switch_page and st.page_link."""
    return APP_ROOT / PAGE_FILES[key][0]


def navigation(user: User) -> list:
    return [
        # Absolute paths: the pages resolve the same whichever script is the entry point.
        st.Page(APP_ROOT / PAGE_FILES[key][0], title=PAGE_FILES[key][1], icon=PAGE_FILES[key][2],
                default=(key == "usage"))
        for key in PAGE_FILES
        if user.may_open(key)
    ]


def _sign_out() -> None:
    session_id = st.session_state.pop(SESSION_KEY, None)
    if session_id:
        SignIn().sign_out(session_id)
    st.session_state.pop("_user", None)
    st.session_state["_signed_out"] = True


def sidebar(user: User) -> None:
    with st.sidebar:
        st.markdown(f"**{user.name}** · {user.role.value}")
        st.caption(f"Organization: `{user.org_id}`" + (" · instance owner" if user.owner else ""))
        # A callback: the session ends before the rerun draws anything as this user.
        st.button("Sign out", key="sign_out", on_click=_sign_out)


def flash(message: str) -> None:
    """Show ``message`` after the next rerun (st.success would vanish with the rerun)."""
    st.session_state.setdefault("_flash", []).append(message)


def show_flash() -> None:
    for message in st.session_state.pop("_flash", []):
        st.success(message)


def busy_message(exc: WarehouseBusy) -> None:
    st.warning(f"{exc} The page will work again as soon as it is free.")
