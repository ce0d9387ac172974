"""Row writers for ``calipers apply``: JSONL (optionally gzipped), CSV or Parquet, chosen by
the output name, written chunk by chunk so memory stays constant, and atomically: rows go
to a temporary file beside the target, which replaces the target only when the writer is
closed without an error (see :mod:`calipers.io.atomic`)."""

from __future__ import annotations

import csv
import datetime
import gzip
import json
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from types import TracebackType
from typing import IO, Any, cast

import numpy as np

from .._common.optional import require
from .atomic import AtomicFile, is_stream
from .formats import delimiter, log_format
from .records import WideNumber

__all__ = ["RowWriter"]


def _json_line(rec: dict[str, Any]) -> str:
    """One JSONL line; a NaN or infinite number (an input's NaN token passed through) is
    written as null, since JSON has neither (``json.dumps`` would write bare NaN), except a
    JSON number beyond float range read from a JSONL input (a :class:`WideNumber`), written
    as its original text; values JSON has no type for (from Parquet: see :func:`_plain`) as
    their plain form."""
    try:
        return json.dumps(rec, allow_nan=False, default=_plain) + "\n"
    except ValueError:
        return _json_text(rec) + "\n"


def _json_text(value: Any) -> str:
    """``json.dumps(value)`` (its default separators) of a value holding non-finite floats:
    a :class:`WideNumber` as its original text, any other NaN or infinity as null."""
    if isinstance(value, WideNumber):
        return value.text
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else "null"
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return "{" + ", ".join(f"{json.dumps(k)}: {_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json_text(v) for v in value) + "]"
    return json.dumps(_finite(value), allow_nan=False, default=_plain)


def _plain(value: Any) -> Any:
    """A Parquet value JSON cannot hold as it is: a decimal as a float, a date, time or
    timestamp as ISO 8601 text, a duration as seconds, bytes as text (undecodable bytes as
    \\xNN escapes), anything else as its str()."""
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _csv_cells(rec: dict[str, Any]) -> dict[str, Any]:
    """A row's CSV cells: a nested value (a list or an object, e.g. a probability vector)
    as its JSON text, not Python's repr."""
    if not any(isinstance(v, (dict, list)) for v in rec.values()):
        return rec
    return {k: _json_cell(v) if isinstance(v, (dict, list)) else v for k, v in rec.items()}


def _json_cell(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False, default=_plain)
    except ValueError:
        return _json_text(value)


def _one_line(exc: BaseException) -> str:
    """An Arrow message's first line (some run over several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _bad_column(records: list[dict[str, Any]], schema: Any, exc: BaseException) -> tuple[str, str]:
    """(the first column whose values Arrow cannot hold, why), found by converting the
    columns of ``records`` one by one (to ``schema``'s type when given); the whole chunk's
    error when no single column fails."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for rec in records:
        names.update(dict.fromkeys(rec))
    for name in names:
        kind = None if schema is None or name not in schema.names else schema.field(name).type
        try:
            pa.array([rec.get(name) for rec in records], type=kind)
        except (pa.ArrowException, OverflowError, TypeError) as column_exc:
            why = _one_line(column_exc)
            if isinstance(column_exc, OverflowError):
                why = f"an integer beyond 64 bits: {why}"
            return name, why
    return "?", _one_line(exc)


def _unwritable_column(schema: Any) -> str:
    """The first field of ``schema`` that Parquet cannot store (tried alone on an empty
    in-memory file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for field in schema:
        try:
            pq.ParquetWriter(pa.BufferOutputStream(), pa.schema([field])).close()
        except pa.ArrowException:
            return str(field.name)
    return "?"


def _refuse_new_fields(
    path: str, records: list[dict[str, Any]], fields: Iterable[str], layout: str, instead: str
) -> None:
    """ValueError when a row has a field the output's fixed layout (from the first chunk) lacks:
    the writer would drop its value silently."""
    known = set(fields)
    for rec in records:
        extra = [k for k in rec if k not in known]
        if extra:
            raise ValueError(
                f"{path}: a row has field {extra[0]!r} that the {layout} (the fields of the first chunk) "
                f"does not; write {instead} instead"
            )


class RowWriter:
    """``write(records)`` appends a chunk of dict rows, ``write_batch`` a pyarrow record
    batch; use as a context manager: the file appears (complete) when the block ends
    without an error, and is never left half written.

    JSONL rows are strict JSON: a NaN or infinite number becomes null. A nested value (a list
    or an object) in a CSV cell is written as JSON text.

    ``types`` forces Arrow types on named columns of a Parquet output (e.g. the appended
    calibrated value as float64 even when a first chunk holds only nulls); ``trailing``
    names columns kept last, always present in a CSV header and a Parquet schema (empty
    where a row lacks them; a JSONL row carries only its own fields). A CSV header is the
    union of the first chunk's fields; a later row with a field outside it raises
    ValueError (nothing is dropped silently), as does a Parquet chunk with a field outside
    the first one's or that does not fit its types.

    A stream (``/dev/stdout``, a FIFO: see :func:`calipers.io.atomic.is_stream`) is written
    directly, as JSONL when its name gives no format.
    """

    def __init__(self, path: str, *, types: dict[str, str] | None = None, trailing: Sequence[str] = ()) -> None:
        try:
            self.kind = log_format(path)  # the same names the readers take
        except ValueError:
            if not is_stream(path):
                raise ValueError(
                    f"cannot tell the output format of {path!r}: use .jsonl, .csv (optionally .gz) or .parquet"
                ) from None
            self.kind = "jsonl"  # /dev/stdout, a FIFO: JSONL unless the name says otherwise
        if self.kind == "parquet":
            require("pyarrow", f"writing {path}")
        self.path = path
        self.types = dict(types or {})
        self.trailing = tuple(trailing)
        self._fh: IO[str] | None = None
        self._csv: Any = None
        self._fields: list[str] | None = None
        self._parquet: Any = None
        self._schema: Any = None
        self._sink: IO[bytes] | None = None  # a stream's Parquet output (pyarrow would seek a FIFO)
        self._file = AtomicFile(path)
        try:
            if self.kind != "parquet":
                opener = gzip.open if path.endswith(".gz") else open
                mode = self._file.mode + "t"  # "wt", or "at" for a stream
                self._fh = cast(IO[str], opener(self._file.tmp, mode, encoding="utf-8", newline=""))
            elif self._file.direct:
                self._sink = open(self._file.tmp, "ab")
        except BaseException:
            self._file.discard()
            raise

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append dict rows (JSONL: as they are; CSV: under the header; Parquet: cast to the
        first chunk's schema)."""
        if not records:
            return
        if self.kind != "jsonl" and self.trailing:
            for rec in records:
                for name in self.trailing:
                    rec.setdefault(name, None)
        if self.kind == "jsonl":
            assert self._fh is not None
            self._fh.write("".join(_json_line(rec) for rec in records))
        elif self.kind == "csv":
            self._write_csv(records)
        else:
            self._write_parquet(records)

    def _write_csv(self, records: list[dict[str, Any]]) -> None:
        assert self._fh is not None
        if self._csv is None:
            seen: dict[str, None] = {}
            for rec in records:
                seen.update(dict.fromkeys(rec))
            fields = [k for k in seen if k not in self.trailing] + list(self.trailing)
            self._fields = fields
            self._csv = csv.DictWriter(self._fh, fieldnames=fields, delimiter=delimiter(self.path))
            self._csv.writeheader()
        _refuse_new_fields(self.path, records, self._fields or (), "CSV header", "JSONL or Parquet")
        self._csv.writerows([_csv_cells(rec) for rec in records])

    def write_batch(
        self, batch: Any, column: str, values: np.ndarray, reason_column: str | None = None, reasons: Any = None
    ) -> None:
        """Append a pyarrow record batch with the column ``column`` (null where ``values`` is
        NaN) and, if given, ``reason_column`` holding ``reasons`` (None for scored rows);
        columnar for Parquet."""
        for name in (column, reason_column):
            if name is not None and name in batch.schema.names:
                raise ValueError(f"{self.path}: the input already has a column {name!r}; it would be overwritten")
        if self.kind != "parquet":
            records = batch.to_pylist()
            for i, (rec, value) in enumerate(zip(records, values.tolist())):
                rec[column] = None if value != value else value
                if reason_column is not None:
                    rec[reason_column] = None if reasons is None else reasons[i]
            self.write(records)
            return
        import pyarrow as pa

        table = pa.Table.from_batches([batch])
        table = table.append_column(column, pa.array(values, pa.float64(), mask=np.isnan(values)))
        if reason_column is not None:
            table = table.append_column(reason_column, pa.array(list(reasons), pa.string()))
        self._write_table(table)

    def _write_parquet(self, records: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        if self._schema is not None:  # from_pylist would drop a field outside the schema silently
            _refuse_new_fields(self.path, records, self._schema.names, "Parquet schema", "JSONL")
        try:
            if self._schema is not None:
                table = pa.Table.from_pylist(records, schema=self._schema)
            else:
                table = pa.Table.from_pylist(records)
                for name, type_name in self.types.items():
                    if name in table.column_names:
                        i = table.column_names.index(name)
                        table = table.set_column(i, name, table.column(name).cast(type_name))
        except (pa.ArrowException, OverflowError, TypeError) as exc:
            name, why = _bad_column(records, self._schema, exc)
            if self._schema is None:
                raise ValueError(
                    f"{self.path}: column {name!r} cannot be written to Parquet ({why}); write JSONL instead"
                ) from exc
            raise ValueError(
                f"{self.path}: a later chunk does not fit the column types of the first (column {name!r}: "
                f"{why}); write JSONL instead"
            ) from exc
        self._write_table(table)

    def _write_table(self, table: Any) -> None:
        """The first table fixes the file's schema; later ones are cast to it."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            try:
                self._parquet = pq.ParquetWriter(self._sink or self._file.tmp, table.schema)
            except pa.ArrowException as exc:  # a type Parquet has no form for, e.g. an empty object
                name = _unwritable_column(table.schema)
                raise ValueError(
                    f"{self.path}: column {name!r} cannot be written to Parquet ({_one_line(exc)}); write JSONL instead"
                ) from exc
            self._schema = table.schema
        elif table.schema != self._schema:
            try:
                table = table.select(self._schema.names).cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, KeyError) as exc:
                raise ValueError(
                    f"{self.path}: a later chunk does not fit the column types of the first "
                    f"({_one_line(exc)}); write JSONL instead"
                ) from exc
        self._parquet.write_table(table)

    def _close_handles(self) -> bool:
        """Close the open text file or Parquet writer; True when a Parquet writer was open."""
        if self._fh is not None:
            self._fh.close()
        if self._parquet is not None:
            self._parquet.close()
            return True
        return False

    def close(self) -> None:
        """Finish the file and move it into place (atomically)."""
        try:
            if not self._close_handles() and self.kind == "parquet":  # no rows: an empty file still opens
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({}), self._sink or self._file.tmp)
            if self._sink is not None:
                self._sink.close()
            self._file.commit()
        except BaseException:
            if self._sink is not None:
                self._sink.close()
            self._file.discard()
            raise

    def abort(self) -> None:
        """Drop everything written: the target is left as it was."""
        try:
            self._close_handles()
            if self._sink is not None:
                self._sink.close()
        except Exception:  # the file is being thrown away; its close errors do not matter
            pass
        finally:
            self._file.discard()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
