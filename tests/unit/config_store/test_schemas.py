"""The provider schemas read the Providers page's headers text themselves ("Name: value" per
line), so the page only passes what was typed and every rule lives in one place."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.config_store.schemas import headers_text, parse_provider_settings, validation_messages

CUSTOM = {"type": "openai_compatible", "name": "Gateway", "base_url": "http://h/v1"}


def _messages(**data: object) -> list[str]:
    with pytest.raises(ValidationError) as info:
        parse_provider_settings({**CUSTOM, **data})
    return validation_messages(info.value)


def test_headers_text_becomes_headers() -> None:
    cfg = parse_provider_settings({**CUSTOM, "headers": "X-Tenant: blue\n\n  X-Team :  data  \n"})
    assert cfg.headers == {"X-Tenant": "blue", "X-Team": "data"}
    assert cfg.adapter_headers() == {"X-Tenant": "blue", "X-Team": "data"}


def test_a_value_may_contain_a_colon_and_empty_text_means_no_headers() -> None:
    cfg = parse_provider_settings({**CUSTOM, "headers": "X-Trace: a:b:c"})
    assert cfg.headers == {"X-Trace": "a:b:c"}
    assert parse_provider_settings({**CUSTOM, "headers": " \n "}).headers == {}
    assert parse_provider_settings({"type": "openai", "name": "O", "headers": ""}).headers == {}


def test_a_line_without_a_colon_is_named_by_its_number() -> None:
    assert _messages(headers="X-Tenant: blue\nX-Team data") == [
        "Extra headers: line 2 is not “Name: value”"]


def test_a_header_typed_twice_is_refused_not_silently_overwritten() -> None:
    assert _messages(headers="X-Tenant: blue\nx-tenant: red") == [
        "Extra headers: “x-tenant” is given twice"]


def test_text_headers_keep_every_rule_of_the_mapping() -> None:
    assert _messages(headers="Authorization: Bearer x")[0].startswith(
        "Extra headers: “Authorization” carries a credential")
    assert _messages(headers="Bad Header: x")[0].startswith(
        "Extra headers: “Bad Header” is not a valid header name")


def test_headers_text_round_trips() -> None:
    headers = {"X-Tenant": "blue", "X-Trace": "a:b"}
    assert headers_text(headers) == "X-Tenant: blue\nX-Trace: a:b"
    assert parse_provider_settings({**CUSTOM, "headers": headers_text(headers)}).headers == headers
    assert headers_text({}) == ""
