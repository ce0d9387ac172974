"""Log file formats: which reader a path needs (by its name) and how to open it."""

from __future__ import annotations

import gzip
import io
from typing import IO

__all__ = ["open_text", "log_format", "delimiter"]


def open_text(path: str) -> IO[str]:
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def log_format(path: str) -> str:
    base = path[:-3] if path.endswith(".gz") else path
    if base.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if base.endswith((".csv", ".tsv")):
        return "csv"
    if path.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValueError(
        f"cannot tell the format of {path!r}: expected .jsonl/.ndjson, .csv/.tsv (optionally .gz) or .parquet"
    )


def delimiter(path: str) -> str:
    """Tab for .tsv (optionally .gz), else comma."""
    return "\t" if path.removesuffix(".gz").endswith(".tsv") else ","
