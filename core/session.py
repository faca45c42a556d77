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
from core.domain import DEMO_ORG, Role
from core.settings import cookie_key, get_settings
from core.warehouse.db import WarehouseBusy

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
    the browser remounts them when the cookie component reruns the script and drops what
    a quick user had already typed. One empty run fixes the ids for good.
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


def sign_in() -> tuple[User, object]:
    """Show first-run setup or the login form until someone is signed in; then return them."""
    store = UserStore()
    s = get_settings()
    key = cookie_key(s)  # generated on first run, before anyone signs up
    if store.is_empty():
        _no_navigation()
        _first_admin_form(store)
        st.stop()
    import streamlit_authenticator as stauth

    authenticator = stauth.Authenticate(
        store.credentials(),
        s.cookie_name,
        key,
        s.cookie_expiry_days,
        auto_hash=False,
        login_sleep_time=0.0,
    )
    header = st.container()
    intro = None
    if not st.session_state.get("authentication_status"):
        with header:
            intro = st.empty()
            with intro.container():
                st.title("Switchyard")
                st.caption(
                    "What your AI models cost, how fast they are, and which one serves each feature."
                )
            if st.session_state.get("_just_created"):
                st.success("Admin account created. Sign in to continue.")
            authenticator.login(location="main", key="login",
                                fields={"Form name": "Sign in", "Login": "Sign in"})
            if st.session_state.get("authentication_status") is False:
                st.error("Username or password is incorrect.")
    else:
        authenticator.login(location="unrendered", key="login")
    status = st.session_state.get("authentication_status")
    if not status:
        _no_navigation()
        st.stop()
    # The sign-in form stays until the cookie component reports back and reruns the script;
    # clearing it now would remove that component before it sets the re-authentication cookie.
    # Only the welcome text goes at once, so the page's own title is the one that shows.
    if intro is not None:
        intro.empty()
    st.session_state.pop("_just_created", None)
    user = store.get(st.session_state.get("username"))
    if user is None:  # removed while signed in
        st.session_state["authentication_status"] = None
        _no_navigation()
        st.error("This account no longer exists.")
        st.stop()
    st.session_state["_user"] = user
    return user, authenticator


def current_user() -> User:
    """The signed-in user, re-read from the credentials file (role changes apply at once)."""
    cached = st.session_state.get("_user")
    username = st.session_state.get("username")
    if cached is None or not username or not st.session_state.get("authentication_status"):
        # A page URL opened first on a fresh server runs the page file on its own: Streamlit
        # serves pages/ by URL until app.py has declared its navigation once. Go through
        # app.py (sign-in, navigation) instead; where app.py is no page (the normal case, or
        # a page run alone in a test) say so and stop.
        with contextlib.suppress(StreamlitAPIException):
            st.switch_page("app.py")
        st.error("Please sign in.")
        st.stop()
    user = UserStore().get(username)
    if user is None:
        st.error("This account no longer exists.")
        st.stop()
    return user


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


def sidebar(user: User, authenticator) -> None:
    with st.sidebar:
        st.markdown(f"**{user.name}** · {user.role.value}")
        st.caption(f"Organization: `{user.org_id}`" + (" · instance owner" if user.owner else ""))
        authenticator.logout("Sign out", location="sidebar", key="sign_out")
    if not st.session_state.get("authentication_status"):
        # No st.rerun() here: the cookie component rendered by logout() must reach the
        # browser to delete the sign-in cookie (else a reload signs the user back in).
        # It reruns the script itself once done, and the sign-in form shows.
        st.session_state.pop("_user", None)
        st.info("Signing out…")
        st.stop()


def flash(message: str) -> None:
    """Show ``message`` after the next rerun (st.success would vanish with the rerun)."""
    st.session_state.setdefault("_flash", []).append(message)


def show_flash() -> None:
    for message in st.session_state.pop("_flash", []):
        st.success(message)


def busy_message(exc: WarehouseBusy) -> None:
    st.warning(f"{exc} The page will work again as soon as it is free.")
