"""Reading and writing prediction logs (``calipers.io``).

- :mod:`.records`: the column spec, chunks of valid rows, skip accounting and the errors;
- :mod:`.formats`: which format a path is and how to open it (BOM, gzip, UTF-16 refused);
- :mod:`.times`: epoch times in s/ms/us/ns (detected or given) and ISO 8601;
- :mod:`.rows`: the row-by-row reader, the reference for what a valid row is;
- :mod:`.scan`: the C++ line scanner's fast path for CSV and JSONL;
- :mod:`.parquet`: Parquet through pyarrow, row-wise and columnar;
- :mod:`.readers`: ``read_table_chunks`` / ``read_chunks``, which pick the fastest path;
- :mod:`.writers`: ``RowWriter`` for ``calipers apply``;
- :mod:`.atomic`: atomic output files and the same-file check.
"""

from __future__ import annotations

from .parquet import parquet_scores_ok, read_score_batches, read_scored_batches
from .readers import read_chunks, read_table_chunks
from .records import Chunk, Columns, MalformedRow, Skipped, SkipTally, UnreadableFile
from .rows import parse_time, read_all_records, read_record_chunks
from .times import TIME_UNITS
from .writers import RowWriter

__all__ = [
    "Columns",
    "Chunk",
    "Skipped",
    "SkipTally",
    "MalformedRow",
    "UnreadableFile",
    "TIME_UNITS",
    "parse_time",
    "read_table_chunks",
    "read_chunks",
    "read_record_chunks",
    "read_score_batches",
    "read_scored_batches",
    "read_all_records",
    "parquet_scores_ok",
    "RowWriter",
]
