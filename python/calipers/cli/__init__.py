"""The ``calipers`` command line (also ``python -m calipers``).

- :mod:`.dispatch`: the argument parser and ``main`` (exit codes, no tracebacks);
- :mod:`.score`: ``calipers score`` (logs into sketches, in one process or on dask);
- :mod:`.commands`: ``merge``, ``fit`` and ``apply``;
- :mod:`.saved`: the versioned file ``--save-sketch`` writes and ``merge`` reads;
- :mod:`.outputs`: output checks (not an input, writable) and atomic writes;
- :mod:`.output`: the terminal and JSON reports;
- :mod:`.html_report`: the ``--report DIR`` page with its diagrams;
- :mod:`.common`: errors, paths, columns, durations and the progress line.
"""

from __future__ import annotations

from .dispatch import build_parser, main

__all__ = ["main", "build_parser"]
