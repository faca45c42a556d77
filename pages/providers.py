"""Providers: who Switchyard can call, with which key, and whether the connection works.

Admins and editors add, edit, delete and test; analysts and viewers read the list (no keys).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from core import connections, resources, session
from core.auth import PROVIDER_ROLES
from core.catalog.discovery import DiscoveryError, pull_and_discover
from core.config_store import KEEP, ConfigStoreError, ProviderRecord, ProviderStore
from core.config_store.schemas import headers_text, parse_provider_settings, validation_messages
from core.config_store.templates import templates_for
from core.connections import PullError
from core.provider_names import PROVIDER_TYPES, KeyPolicy, ProviderType
from core.providers.errors import ProviderError
from core.providers.ollama import PullProgress

user = session.require_page("providers")
manage = user.role in PROVIDER_ROLES
store: ProviderStore = resources.provider_store()
org_id = user.org_id

st.title("Providers")
session.show_flash()
records = store.list(org_id)

if any(r.simulated for r in records):
    st.info(
        "**Demo mode.** Providers marked *simulated* are answered by Switchyard's built-in "
        "provider simulator on this machine, not by the real APIs: no keys, no cost. "
        + ("Add a real provider with its key to call the real service." if manage else ""),
        icon=":material/science:",
    )


def _when(ts: datetime | None) -> str:
    return f"{ts:%d %b %H:%M:%S}" if ts else "never"


def _status(ok: bool | None) -> str:
    return {True: "✅ connected", False: "❌ failed", None: "— not tested"}[ok]


if not records:
    st.info(
        "No providers yet. "
        + ("Add one below: pick its type, paste the key, and test the connection."
           if manage else "Ask an admin or editor to add one.")
    )
else:
    rows = []
    for r in records:
        row = {
            "Name": r.name + (" (simulated)" if r.simulated and "simulated" not in r.name else ""),
            "Type": r.info.label,
            "Base URL": "built-in simulator" if r.simulated else (r.settings.base_url or ""),
            "Models": r.model_count,
            "Last test": _status(r.last_test_ok),
            "Tested at": _when(r.last_test_at),
            "Latency (ms)": round(r.last_test_latency_ms) if r.last_test_latency_ms else None,
            "Message": r.last_test_message or "",
            "Enabled": r.enabled,
        }
        if manage:
            row["Key"] = (r.key_last4 or "set") if r.has_key else (
                "not needed" if r.info.key_policy is KeyPolicy.none else "none")
        rows.append(row)
    table = pd.DataFrame(rows)
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("Download (CSV)", table.to_csv(index=False), file_name="providers.csv",
                       mime="text/csv", key="providers_csv", on_click="ignore")

    if manage:
        names = {r.id: r.name for r in records}
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        picked = c1.selectbox("Provider to test", list(names), format_func=names.get, key="test_pick")
        one = c2.button("Test connection", key="test_one", width="stretch")
        every = c3.button("Test all", key="test_all", type="primary", width="stretch")
        if one or every:
            chosen = records if every else [r for r in records if r.id == picked]
            bar = st.progress(0.0, text=f"Testing {len(chosen)} provider(s)…")
            done: list[str] = []

            def _progress(outcome: connections.TestOutcome) -> None:
                done.append(outcome.name)
                bar.progress(len(done) / len(chosen),
                             text=f"Tested {len(done)} of {len(chosen)}: {outcome.name}")

            outcomes = connections.run_tests(store, chosen, actor=user.username,
                                             on_done=_progress)
            bar.empty()
            for o in outcomes:
                if o.throttled:
                    session.flash(f"⏳ {o.throttled}")
                elif o.result and o.result.ok:
                    session.flash(f"✅ {o.name}: {o.result.message}")
                else:
                    session.flash(f"❌ {o.name}: {o.result.message if o.result else 'failed'}")
            st.rerun()

if not manage:
    st.caption("You can see the providers and their status. Adding, editing and testing "
               "providers is for admins and editors.")
    st.stop()

# --- a local Ollama, offered when one answers on localhost:11434 ------------------------
local = resources.local_ollama()
if local and not any(r.type is ProviderType.ollama and not r.simulated for r in records):
    with st.container(border=True):
        st.markdown(f"**A local Ollama is running** at `{local}`.")
        if st.button("Add local Ollama", key="add_ollama"):
            try:
                cfg = parse_provider_settings({"type": "ollama", "name": "Local Ollama",
                                               "base_url": local})
                store.add(org_id, cfg, None, user.username)
            except (ValidationError, ConfigStoreError) as exc:
                st.error(str(exc))
            else:
                session.flash("Added Local Ollama. Test it to see its models.")
                st.rerun()

add_tab, edit_tab, delete_tab, pull_tab = st.tabs(
    ["Add a provider", "Edit", "Delete", "Pull a model (Ollama)"])


def _store_change(change: Callable[[], ProviderRecord]) -> ProviderRecord | None:
    """Run an add or an edit; bad input and store refusals become messages, nothing saved."""
    try:
        return change()
    except ValidationError as exc:
        for msg in validation_messages(exc):
            st.error(msg)
    except ConfigStoreError as exc:
        st.error(str(exc))
    return None


def _settings_form(prefix: str, ptype: ProviderType, defaults: dict, *, editing: bool) -> dict:
    """The fields of one provider type; returns the raw values (validated by pydantic)."""
    info = PROVIDER_TYPES[ptype]
    data: dict = {"type": ptype.value}
    data["name"] = st.text_input("Name", value=defaults.get("name", ""), key=f"{prefix}_name",
                                 placeholder=f"e.g. {info.label} production")
    url_help = ("Required." if info.base_url_required else
                f"Leave empty for {info.default_base_url}.")
    data["base_url"] = st.text_input("Base URL", value=defaults.get("base_url") or "",
                                     key=f"{prefix}_url", help=url_help,
                                     placeholder=info.suggested_base_url or info.default_base_url
                                     or "")
    data["default_model"] = st.text_input("Default model",
                                          value=defaults.get("default_model") or "",
                                          key=f"{prefix}_model")
    c1, c2, c3 = st.columns(3)
    temp = defaults.get("temperature")
    data["temperature"] = c1.number_input(
        "Temperature", min_value=0.0, max_value=info.max_temperature,
        value=float(temp) if temp is not None else None, step=0.1, key=f"{prefix}_temp",
        placeholder="provider default")
    mt = defaults.get("max_tokens")
    data["max_tokens"] = c2.number_input("Max output tokens", min_value=1, max_value=200_000,
                                         value=int(mt) if mt else None, step=256,
                                         key=f"{prefix}_maxtok", placeholder="provider default")
    data["timeout_s"] = c3.number_input("Timeout (s)", min_value=1.0, max_value=600.0,
                                        value=float(defaults.get("timeout_s", 60.0)),
                                        key=f"{prefix}_timeout")
    rpm = defaults.get("requests_per_minute")
    data["requests_per_minute"] = st.number_input(
        "Requests per minute (optional limit)", min_value=1, value=int(rpm) if rpm else None,
        key=f"{prefix}_rpm", placeholder="no limit")
    if info.headers_allowed:
        data["headers"] = st.text_area(  # the schema reads the text (parse_headers_text)
            "Extra headers (one per line, Name: value)",
            value=headers_text(defaults.get("headers") or {}), key=f"{prefix}_headers")
    data["enabled"] = st.checkbox("Enabled", value=defaults.get("enabled", True),
                                  key=f"{prefix}_enabled")
    models = defaults.get("models") or []
    if editing and models:
        data["models"] = models
    return data


with add_tab:
    c1, c2 = st.columns(2)
    ptype = c1.selectbox("Type", list(ProviderType), format_func=lambda t: PROVIDER_TYPES[t].label,
                         key="add_type")
    templates = templates_for(ptype)
    tpl_ids = [""] + [t.id for t in templates]
    labels = {t.id: f"{t.label} — {t.description}" for t in templates}
    tpl_id = c2.selectbox("Start from a template (optional)", tpl_ids,
                          format_func=lambda i: labels.get(i, "none"), key="add_template")
    template = next((t for t in templates if t.id == tpl_id), None)
    defaults = template.settings() if template else {}
    info = PROVIDER_TYPES[ptype]
    with st.form(f"add_provider_{ptype.value}_{tpl_id}", clear_on_submit=False):
        data = _settings_form(f"add_{ptype.value}_{tpl_id}", ptype, defaults, editing=False)
        key = None
        if info.key_policy is not KeyPolicy.none:
            optional = info.key_policy is KeyPolicy.optional and "optional" not in info.key_label
            key = st.text_input(info.key_label + (" (optional)" if optional else ""),
                                type="password", help=info.key_help, key="add_key")
        submitted = st.form_submit_button("Add provider", type="primary")
    record = submitted and _store_change(lambda: store.add(
        org_id, parse_provider_settings(data), key or None, user.username))
    if record:
        # Forget what was typed (the key above all): the next form starts empty.
        for name in [k for k in st.session_state if str(k).startswith("add_")
                     and k not in ("add_type", "add_template")]:
            del st.session_state[name]
        session.flash(f"Added {record.name}. Use “Test connection” to check it.")
        st.rerun()

with edit_tab:
    if not records:
        st.caption("Nothing to edit yet.")
    else:
        names = {r.id: r.name for r in records}
        pid = st.selectbox("Provider", list(names), format_func=names.get, key="edit_pick")
        rec = next(r for r in records if r.id == pid)
        rinfo = rec.info
        with st.form(f"edit_provider_{pid}_{rec.version}"):
            data = _settings_form(f"edit_{pid}_{rec.version}", rec.type,
                                  rec.settings.model_dump(), editing=True)
            new_key, drop_key = None, False
            if rinfo.key_policy is not KeyPolicy.none:
                shown = f" (stored: {rec.key_last4})" if rec.has_key and rec.key_last4 else ""
                new_key = st.text_input(f"New {rinfo.key_label.lower()}{shown}", type="password",
                                        help="Leave empty to keep the stored key.",
                                        key=f"edit_key_{pid}")
                if rec.has_key and rinfo.key_policy is KeyPolicy.optional:
                    drop_key = st.checkbox("Remove the stored key", key=f"edit_drop_{pid}")
            saved = st.form_submit_button("Save changes", type="primary")
        change = new_key if new_key else (None if drop_key else KEEP)
        if saved and _store_change(lambda: store.update(
                org_id, pid, parse_provider_settings(data), change, user.username,
                expected_version=rec.version)):
            session.flash(f"Saved {data['name'] or rec.name}.")
            st.rerun()

with delete_tab:
    if not records:
        st.caption("Nothing to delete.")
    else:
        names = {r.id: r.name for r in records}
        pid = st.selectbox("Provider", list(names), format_func=names.get, key="delete_pick")
        sure = st.checkbox(f"Yes, delete {names[pid]} and its stored key", key="delete_sure")
        if st.button("Delete provider", disabled=not sure, key="delete_go"):
            try:
                store.remove(org_id, pid, user.username)
            except ConfigStoreError as exc:
                st.error(str(exc))
            else:
                session.flash(f"Deleted {names[pid]}.")
                st.rerun()

with pull_tab:
    ollamas = {r.id: r.name for r in records if r.type is ProviderType.ollama}
    if not ollamas:
        st.caption("Add an Ollama provider to pull models into it.")
    else:
        with st.form("pull_form"):
            c1, c2 = st.columns(2)
            pull_id = c1.selectbox("Ollama server", list(ollamas), format_func=ollamas.get,
                                   key="pull_pick")
            pull_name = c2.text_input("Model", placeholder="e.g. llama3.2:3b or gemma3:4b",
                                      key="pull_model",
                                      help="A name from the Ollama library (ollama.com/library).")
            pulling = st.form_submit_button("Pull model", type="primary")
        if pulling:
            bar = st.progress(0.0, text=f"Pulling {pull_name}…")

            def _pulled(step: PullProgress) -> None:
                bar.progress(step.fraction, text=f"{pull_name}: {step.status}")

            try:
                _, run = pull_and_discover(store, resources.catalog_store(), org_id, pull_id,
                                           pull_name, actor=user.username, on_progress=_pulled)
            except (ProviderError, PullError, DiscoveryError, ConfigStoreError) as exc:
                bar.empty()
                st.error(str(exc))  # a ProviderError's text is its scrubbed user message
            else:
                session.flash(f"✅ Pulled {pull_name} into {ollamas[pull_id]}. {run.summary()}")
                st.rerun()
