"""Pydantic validation errors as short phrases a person can act on.

Every form and upload turns a ValidationError into "Field: what to fix" lines with
:func:`messages`, the one formatter; the phrases for the common error kinds live here once, and
each caller passes only its own labels and special cases. Input values are never part of a
phrase (they may be a pasted key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from difflib import get_close_matches
from typing import Any

from pydantic import ValidationError

ErrorDict = Mapping[str, Any]


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


def loc_label(loc: Sequence[Any]) -> str:
    """Where an error is, as a person reads it: ``judge › model``, ``models (item 2)``.
    Parts that are pydantic's union or type tags (not something anyone typed) are left out."""
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"(item {p + 1})")
        elif isinstance(p, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", p):
            parts.append(("› " if parts else "") + p)
    return " ".join(parts)


def unknown_field(err: ErrorDict, fields: Iterable[str] = ()) -> str:
    """The phrase for a field that is not allowed, with a "did you mean" when one is close."""
    name = str(err["loc"][-1]) if err.get("loc") else ""
    close = get_close_matches(name, list(fields), n=1)
    return "is not a known field" + (f" (did you mean '{close[0]}'?)" if close else "")


def messages(exc: ValidationError | ValueError, *, fields: Iterable[str] = (),
             label: Callable[[ErrorDict], str] | None = None,
             phrase: Callable[[ErrorDict], str] | None = None,
             capitalise: bool = False) -> list[str]:
    """A ValidationError as "where: what to fix" lines, each once (a plain ValueError is its
    own message). ``label`` says where an error is (default :func:`loc_label`), ``phrase``
    what is wrong (default :func:`error_phrase`, with "did you mean" hints from ``fields``
    for unknown fields); ``capitalise`` starts a line without a label with a capital."""
    if not isinstance(exc, ValidationError):
        return [str(exc)]
    names = list(fields)
    out: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        where = label(err) if label else loc_label(err.get("loc") or ())
        if phrase is not None:
            text = phrase(err)
        elif err.get("type") == "extra_forbidden":
            text = unknown_field(err, names)
        else:
            text = error_phrase(err)
        if where:
            line = f"{where}: {text}"
        else:
            line = text[:1].upper() + text[1:] if capitalise else text
        if line not in out:
            out.append(line)
    return out
