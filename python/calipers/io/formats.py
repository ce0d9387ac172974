"""Log file formats: which reader a path needs (by its name) and how to open it (plain or
gzip, a UTF-8 byte-order mark dropped, UTF-16/UTF-32 text refused with a clear reason)."""

from __future__ import annotations

import gzip
import io
from typing import IO

from .records import UnreadableFile

__all__ = ["open_text", "open_binary", "log_format", "delimiter", "UTF8_BOM"]

UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _wide_text(head: bytes) -> tuple[str, str] | None:
    """('UTF-16 text' or 'UTF-32 text', how it was told) when the first bytes say so: a
    byte-order mark, or a NUL in every other byte (UTF-16 of ASCII-range text, no mark)."""
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            return f"{name} text", f"byte-order mark {bom.hex(' ').upper()}"
    pairs = head[: len(head) - len(head) % 2]
    if len(pairs) >= 4 and b"\x00" in pairs:
        if all(b == 0 for b in pairs[1::2]) or all(b == 0 for b in pairs[0::2]):
            return "UTF-16 text", "no byte-order mark"
    return None


def open_binary(path: str) -> IO[bytes]:
    """The file's bytes (decompressed for ``.gz``) after a UTF-8 byte-order mark, if any.
    UTF-16 or UTF-32 text raises :class:`UnreadableFile` saying how to convert it; a file
    that is not gzip or ends early raises when read (``OSError`` / ``EOFError``)."""
    fh: IO[bytes] = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # type: ignore[assignment]
    try:
        head = fh.peek(64)[:64]  # type: ignore[attr-defined]
        wide = _wide_text(head)
        if wide is not None:
            name, how = wide
            raise UnreadableFile(
                path, name, f"{how}; calipers reads UTF-8: convert it, e.g. iconv -f {name[:6]} -t UTF-8"
            )
        if head.startswith(UTF8_BOM):
            fh.read(len(UTF8_BOM))
    except BaseException:
        fh.close()
        raise
    return fh


def open_text(path: str) -> IO[str]:
    """The file as UTF-8 text (see :func:`open_binary`); undecodable bytes become U+FFFD."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="replace")


def log_format(path: str) -> str:
    """'jsonl', 'csv' or 'parquet' by the file name (ValueError for anything else)."""
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
