"""Users (admins only): who can sign in, with which role, in which organization."""

from __future__ import annotations

import streamlit as st

from core import session
from core.auth import AccessDenied, UserError, UserStore, people_frame
from core.domain import Role
from core.exports import csv_bytes
from core.signin import SignIn

admin = session.require_page("users")
store = UserStore()
signin = SignIn(store)
locked = signin.lockouts()  # lowercased usernames -> end of their lockout
st.title("Users")
session.show_flash()
st.caption(
    "Roles: **admin** manages users and everything else · **editor** changes configuration · "
    "**analyst** explores and imports usage · **viewer** reads dashboards."
)

scope = None if admin.owner else admin.org_id
people = store.list_users(scope)
table = people_frame(people, locked)
st.dataframe(table, hide_index=True, width="stretch")
st.download_button("Download (CSV)", csv_bytes(table), file_name="users.csv",
                   mime="text/csv", key="users_csv")

left, right = st.columns(2)
with left:
    st.subheader("Add a user")
    with st.form("add_user", clear_on_submit=True):
        username = st.text_input("Username")
        name = st.text_input("Display name")
        email = st.text_input("E-mail (optional)")
        role = st.selectbox("Role", [r.value for r in Role], index=3)
        if admin.owner:
            org = st.text_input("Organization id", value=admin.org_id,
                                help="As instance owner you can create users in any organization.")
        else:
            org = admin.org_id
            st.text_input("Organization id", value=admin.org_id, disabled=True)
        password = st.text_input("Initial password", type="password", help="At least 8 characters.")
        add = st.form_submit_button("Add user", type="primary")
    if add:
        try:
            store.add_user(username, name, email, password, role, org.strip(), acting=admin)
        except (UserError, AccessDenied, ValueError) as exc:
            st.error(str(exc))
        else:
            session.flash(f"Added {username.strip()} as {role}.")
            st.rerun()

with right:
    st.subheader("Change a user")
    others = [u.username for u in people]
    target = st.selectbox("User", others, key="edit_user") if others else None
    if target:
        current = next(u for u in people if u.username == target)
        new_role = st.selectbox("Role", [r.value for r in Role],
                                index=[r.value for r in Role].index(current.role.value),
                                key="edit_role")
        c1, c2 = st.columns(2)
        if c1.button("Save role", key="save_role"):
            try:
                store.set_role(target, new_role, acting=admin)
            except (UserError, AccessDenied) as exc:
                st.error(str(exc))
            else:
                session.flash(f"{target} is now {new_role}.")
                st.rerun()
        if c2.button("Remove user", key="remove_user", disabled=current.owner or
                     target == admin.username):
            try:
                store.remove_user(target, acting=admin)
            except (UserError, AccessDenied) as exc:
                st.error(str(exc))
            else:
                session.flash(f"Removed {target}.")
                st.rerun()
        if target.lower() in locked:
            st.warning(f"{target} is locked out after too many failed sign-ins.")
            if st.button("Unlock", key="unlock_user"):
                try:
                    signin.unlock(target, acting=admin)
                except AccessDenied as exc:
                    st.error(str(exc))
                else:
                    session.flash(f"Unlocked {target}.")
                    st.rerun()
        if admin.owner and not current.owner:
            with st.form("move_org", clear_on_submit=True):
                new_org = st.text_input("Move to organization", value=current.org_id)
                if st.form_submit_button("Move"):
                    try:
                        store.set_org(target, new_org.strip(), acting=admin)
                    except (UserError, AccessDenied) as exc:
                        st.error(str(exc))
                    else:
                        session.flash(f"{target} now belongs to {new_org.strip()}.")
                        st.rerun()
        with st.form("reset_pw", clear_on_submit=True):
            pw = st.text_input("New password", type="password")
            if st.form_submit_button("Set password"):
                try:
                    store.set_password(target, pw, acting=admin)
                except (UserError, AccessDenied) as exc:
                    st.error(str(exc))
                else:
                    st.success(f"Password for {target} changed.")
