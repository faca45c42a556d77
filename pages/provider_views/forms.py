"""The provider settings form and the add/edit runner the Providers page's tabs share."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from pydantic import ValidationError

from core.config_store import ConfigStoreError, ProviderRecord
from core.config_store.schemas import headers_text, validation_messages
from core.provider_names import PROVIDER_TYPES, ProviderType


def store_change(change: Callable[[], ProviderRecord]) -> ProviderRecord | None:
    """Run an add or an edit; bad input and store refusals become messages, nothing saved."""
    try:
        return change()
    except ValidationError as exc:
        for msg in validation_messages(exc):
            st.error(msg)
    except ConfigStoreError as exc:
        st.error(str(exc))
    return None


def settings_form(prefix: str, ptype: ProviderType, defaults: dict, *, editing: bool) -> dict:
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
