"""Row writers for ``calipers apply``: JSONL (optionally gzipped), CSV or Parquet, chosen by
the output name, written chunk by chunk so memory stays constant."""

from __future__ import annotations

import csv
import gzip
import json
from typing import IO, Any

import numpy as np

from .._common.optional import require
from .formats import delimiter, log_format


class RowWriter:
    """``write(records)`` appends a chunk of dict rows; use as a context manager."""

    def __init__(self, path: str) -> None:
        try:
            self.kind = log_format(path)  # the same names the readers take
        except ValueError:
            raise ValueError(
                f"cannot tell the output format of {path!r}: use .jsonl, .csv (optionally .gz) or .parquet"
            ) from None
        self.path = path
        self._fh: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._schema: Any = None
        if self.kind == "parquet":
            require("pyarrow", f"writing {path}")
        elif path.endswith(".gz"):
            self._fh = gzip.open(path, "wt", encoding="utf-8", newline="")
        else:
            self._fh = open(path, "w", encoding="utf-8", newline="")

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        if self.kind == "jsonl":
            assert self._fh is not None
            self._fh.write("".join(json.dumps(rec) + "\n" for rec in records))
        elif self.kind == "csv":
            if self._csv is None:
                assert self._fh is not None
                self._csv = csv.DictWriter(
                    self._fh, fieldnames=list(records[0]), delimiter=delimiter(self.path), extrasaction="ignore"
                )
                self._csv.writeheader()
            self._csv.writerows(records)
        else:
            self._write_parquet(records)

    def write_batch(self, batch: Any, column: str, values: np.ndarray) -> None:
        """Append a pyarrow record batch with one more column (columnar for Parquet)."""
        if self.kind != "parquet":
            records = batch.to_pylist()
            for rec, value in zip(records, values.tolist()):
                rec[column] = value
            self.write(records)
            return
        import pyarrow as pa

        table = pa.Table.from_batches([batch])
        if column in table.column_names:
            table = table.drop([column])
        self._write_table(table.append_column(column, pa.array(values, pa.float64())))

    def _write_parquet(self, records: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        try:
            table = pa.Table.from_pylist(records, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise ValueError(
                f"{self.path}: a later chunk does not fit the column types of the first ({exc}); write JSONL instead"
            ) from exc
        self._write_table(table)

    def _write_table(self, table: Any) -> None:
        """The first table fixes the file's schema; later ones are cast to it."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._schema = table.schema
            self._parquet = pq.ParquetWriter(self.path, self._schema)
        elif table.schema != self._schema:
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
                raise ValueError(
                    f"{self.path}: a later chunk does not fit the column types of the first "
                    f"({exc}); write JSONL instead"
                ) from exc
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._parquet is not None:
            self._parquet.close()
        elif self.kind == "parquet" and self._schema is None:  # no rows: an empty file still opens
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.path)

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
