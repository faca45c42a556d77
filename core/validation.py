"""Pydantic validation errors as short phrases a person can act on.

Every form and upload turns a ValidationError into "Field: what to fix" lines; the phrases for
the common error kinds live here once, and each caller adds its own labels and special cases.
Input values are never part of a phrase (they may be a pasted key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def error_phrase(err: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> str:
    """What is wrong, for one entry of ``ValidationError.errors()``; ``overrides`` replace the
    phrase of an error kind (e.g. "must be yes or no" where a form shows a checkbox)."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if overrides and kind in overrides:
        return overrides[kind]
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error") or err.get("msg", "")).removeprefix("Value error, ")
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must be at least {n} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"can have at most {ctx.get('max_length')} item(s)"
    if kind == "literal_error":
        return f"must be one of: {ctx.get('expected', '')}"
    phrases = {
        "missing": "is required",
        "less_than_equal": f"must be at most {number(ctx.get('le'))}",
        "greater_than_equal": f"must be at least {number(ctx.get('ge'))}",
        "less_than": f"must be less than {number(ctx.get('lt'))}",
        "greater_than": f"must be more than {number(ctx.get('gt'))}",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be text",
        "list_type": "must be a list",
        "dict_type": "must be a mapping (key: value lines)",
        "model_type": "must be a mapping (key: value lines)",
        "model_attributes_type": "must be a mapping (key: value lines)",
        "string_pattern_mismatch": "contains characters that are not allowed",
    }
    return phrases.get(kind, str(err.get("msg", "is not valid")))
