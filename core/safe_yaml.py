"""The one YAML reader for what users give us (sample labels, prompt sets, comparison specs).

``yaml.safe_load`` builds no Python objects but still expands aliases: nine levels of
``*alias`` lists (a "billion laughs" document of a few hundred bytes) grow into billions of
list items, several GB of memory and tens of seconds before anything can check them. This
reader refuses such documents while they are still a stream of parser events:

* no anchors or aliases (``&name`` / ``*name``, and so no ``<<`` merge keys): our files
  never need them, so the first one ends the parse with a plain message;
* at most :data:`MAX_BYTES` of text and :data:`MAX_DEPTH` levels of nesting, checked before
  (size) and while (depth) the document is composed, never after it was built.

A refusal is a :class:`YAMLRefused`, a ``yaml.MarkedYAMLError``: callers that already turn
YAML errors into "line N: problem" messages show it the same way.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

MAX_BYTES = 5 * 1024 * 1024  # a labels file or prompt set (uploads are capped at this too)
MAX_DEPTH = 50  # mappings and lists inside each other; our schemas need fewer than 10

ALIAS_MESSAGE = ("YAML anchors and aliases (&name, *name) are not accepted: write each "
                 "value out in full")

__all__ = ["ALIAS_MESSAGE", "MAX_BYTES", "MAX_DEPTH", "SafeLoader", "YAMLRefused", "load"]


class YAMLRefused(yaml.MarkedYAMLError):
    """A YAML document refused before it was built (alias, anchor, size or depth)."""

    def __init__(self, problem: str, mark: Any = None) -> None:  # a yaml Mark: where
        super().__init__(problem=problem, problem_mark=mark)

    def __str__(self) -> str:
        if self.problem_mark is None:
            return str(self.problem)
        return f"line {self.problem_mark.line + 1}, column {self.problem_mark.column + 1}: " \
               f"{self.problem}"


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses anchors, aliases and deep nesting while composing.

    Subclass it to add constructors (e.g. mappings that remember their line); the checks
    stay, because they sit in :meth:`compose_node`, below every constructor."""

    max_depth: int = MAX_DEPTH

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or (
                isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor):
            raise YAMLRefused(ALIAS_MESSAGE, event.start_mark)
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise YAMLRefused(f"lists and mappings are nested more than {self.max_depth} "
                                  "levels deep",
                                  event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def check_size(text: str | bytes, max_bytes: int = MAX_BYTES) -> None:
    """Refuse a document larger than ``max_bytes`` (UTF-8) before any parsing."""
    size = len(text)
    if isinstance(text, str) and size <= max_bytes < 4 * size:  # may be over once encoded
        size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise YAMLRefused(f"the file is larger than {max_bytes / 2**20:g} MB: split it into "
                          "smaller files")


def load(text: str | bytes, *, loader: type[SafeLoader] = SafeLoader,
         max_bytes: int = MAX_BYTES) -> Any:
    """One YAML document with the limits above; raises :class:`YAMLRefused` (or another
    ``yaml.YAMLError`` for text that is not YAML)."""
    check_size(text, max_bytes)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
