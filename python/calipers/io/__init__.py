"""Reading and writing prediction logs (``calipers.io``).

- :mod:`.records`: the column spec, chunks of valid rows and skip accounting;
- :mod:`.formats`: which format a path is and how to open it;
- :mod:`.rows`: the row-by-row reader, the reference for what a valid row is;
- :mod:`.scan`: the C++ line scanner's fast path for CSV and JSONL;
- :mod:`.parquet`: Parquet through pyarrow, row-wise and columnar;
- :mod:`.readers`: ``read_table_chunks`` / ``read_chunks``, which pick the fastest path;
- :mod:`.writers`: ``RowWriter`` for ``calipers apply``.
"""

from __future__ import annotations

from .parquet import parquet_scores_ok, read_score_batches
from .readers import read_chunks, read_table_chunks
from .records import Chunk, Columns, MalformedRow, Skipped, SkipTally
from .rows import parse_time, read_record_chunks
from .writers import RowWriter

__all__ = [
    "Columns",
    "Chunk",
    "Skipped",
    "SkipTally",
    "MalformedRow",
    "parse_time",
    "read_table_chunks",
    "read_chunks",
    "read_record_chunks",
    "read_score_batches",
    "parquet_scores_ok",
    "RowWriter",
]
