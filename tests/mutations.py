"""Mutations of serialized documents shared by the corruption tests (tests/test_formats_fuzz.py,
tests/test_calibrators.py): paths into a JSON document and copies with one node replaced."""

from __future__ import annotations

import json
from typing import Any


def leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every leaf of a JSON document, and to every list and object in it (lists:
    their first 4 items)."""
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in leaves(v, path + (k,))] + ([path] if path else [])
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc[:4]) for p in leaves(v, path + (i,))] + ([path] if path else [])
    return [path]


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``doc`` with the node at ``path`` replaced by ``value``."""
    out = json.loads(json.dumps(doc))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out
