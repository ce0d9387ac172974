"""JSON text from outside (log rows, a CSV cell holding a vector, calibrator and correction
files, the JSON headers of binary blobs), parsed under one rule for nesting.

``json.loads`` recurses once per level of nesting, so ``[[[[...]]]]`` 100,000 levels deep
raises RecursionError (or succeeds or fails depending on how deep the caller's stack
already is). :func:`loads` refuses any document nested deeper than :data:`MAX_DEPTH` with
:class:`JSONNestingError`, a ``json.JSONDecodeError`` (so a ValueError) naming the place,
before the parser runs: the same answer wherever it is called from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "DuplicateKeyError", "JSONNestingError", "loads", "nesting_error", "unique_keys"]

MAX_DEPTH = 256  # far beyond any calipers document or log row, far below the recursion limit

# A string (skipped whole: brackets inside it are text) or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_OPENERS = ("[", "{")


class JSONNestingError(json.JSONDecodeError):
    """A JSON document nested deeper than :data:`MAX_DEPTH` levels."""


def nesting_error(text: str) -> JSONNestingError | None:
    """The error for ``text`` when it nests deeper than :data:`MAX_DEPTH`, else None.
    Free for ordinary text: only a document with more than MAX_DEPTH opening brackets is
    scanned (strings skipped)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in _OPENERS:
            depth += 1
            if depth > MAX_DEPTH:
                return JSONNestingError(f"nested deeper than {MAX_DEPTH} levels", text, match.start())
        elif token in ("]", "}"):
            depth -= 1
    return None


class DuplicateKeyError(ValueError):
    """An object names a key twice (:attr:`key`); raised by :func:`unique_keys`."""

    def __init__(self, key: str, count: int) -> None:
        super().__init__(f"duplicate key {key!r} ({count} times in one object)")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook`` that refuses an object with a key twice (``json.loads``
    would keep the last value silently): :class:`DuplicateKeyError` (a ValueError) naming
    the first repeated key and its count. One dict build on the usual path (no repeat)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key, sum(1 for k, _ in pairs if k == key))
            seen.add(key)
    return out


def loads(
    text: str | bytes | bytearray, *, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None
) -> Any:
    """``json.loads(text, object_pairs_hook=...)``, except that nesting deeper than
    :data:`MAX_DEPTH` raises :class:`JSONNestingError` (a ``json.JSONDecodeError``); bytes
    are decoded as ``json.loads`` decodes them (UnicodeDecodeError, a ValueError, if they
    cannot be). ``object_pairs_hook=unique_keys`` refuses duplicate keys."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
    if not isinstance(text, str):  # json.loads's own TypeError
        raise TypeError(f"the JSON object must be str, bytes or bytearray, not {type(text).__name__}")
    error = nesting_error(text)
    if error is not None:
        raise error
    return json.loads(text, object_pairs_hook=object_pairs_hook)
