"""The one timing and recording helper every script in bench/ uses.

- :func:`compare` times every side of a comparison the same way: ``warmup`` untimed calls
  each (at least one: compiles Numba, fills caches, builds lazy tables), then the same
  number of timed rounds for every side, interleaved (round r times side A, then B, ...),
  so a change in the machine's load during the run hits every side alike. It reports the
  best and the median of the rounds (:class:`Timing`).
- :func:`threads` pins every thread pool that a side could use (calipers' C++ pool, Numba,
  BLAS and OpenMP through threadpoolctl, torch, faiss) to one count; :func:`thread_counts`
  records what is in force.
- :func:`use_native_openblas` (call it before numpy is imported) unsets OPENBLAS_CORETYPE
  and OPENBLAS_L2_SIZE for numpy's OpenBLAS, which this machine's environment pins to an
  older kernel, and :func:`blas_info` records which kernel each loaded BLAS runs.
- :class:`Report` collects a script's comparison pairs and tables, prints them as markdown
  while the script runs and writes them as JSON for ``bench/run_all.py``, stamped with the
  command, the date, the machine, the versions and the load average at the start and end.

Nothing here imports numpy or calipers at module level, so a script can call
:func:`use_native_openblas` before its own imports.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: untimed calls before timing, for every side
WARMUP = 1
#: (fewest, most) timed rounds per comparison, by mode; the same count for every side of a row
ROUNDS = {"tiny": (2, 2), "quick": (3, 7), "full": (5, 11)}
#: seconds a row's timed rounds may take in all (all sides), by mode, before the fewest rounds
BUDGET = {"tiny": 0.5, "quick": 3.0, "full": 10.0}

_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SAVED_OPENBLAS: dict[str, str] = {}


@dataclass(frozen=True)
class Timing:
    """The timed rounds of one side (seconds), after ``warmup`` untimed calls."""

    times: tuple[float, ...]
    warmup: int

    @property
    def best(self) -> float:
        """The fastest round."""
        return min(self.times)

    @property
    def median(self) -> float:
        """The median round."""
        return statistics.median(self.times)

    @property
    def rounds(self) -> int:
        """How many rounds were timed."""
        return len(self.times)

    def cell(self) -> str:
        """``best / median`` for a table cell."""
        return f"{fmt_seconds(self.best)} / {fmt_seconds(self.median)}"

    def to_json(self) -> dict[str, Any]:
        """The rounds and the summary as plain JSON."""
        return {"best": self.best, "median": self.median, "rounds": self.rounds, "warmup": self.warmup}


def fmt_seconds(t: float) -> str:
    """A duration with three significant digits in ns, µs, ms or s."""
    unit, value = "ns", t / 1e-9
    for name, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            unit, value = name, t / scale
            break
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def fmt_ratio(x: float) -> str:
    """A ratio like ``12.3x`` (three significant digits, thousands separated)."""
    return f"{x:,.0f}x" if x >= 100 else f"{x:.3g}x"


def compare(
    sides: Mapping[str, Callable[[], object]],
    mode: str,
    *,
    rounds: int | None = None,
    warmup: int = WARMUP,
    budget: float | None = None,
) -> dict[str, Timing]:
    """Time every side the same way: ``warmup`` untimed calls each, then the same number of
    rounds, interleaved. ``rounds`` defaults to as many as fit in ``budget`` seconds (the
    mode's, judged from the warm-up calls), within the mode's (fewest, most)."""
    if warmup < 1:
        raise ValueError("warmup must be at least 1: every side gets an untimed call")
    lo, hi = ROUNDS[mode]
    first: dict[str, float] = {}
    for name, fn in sides.items():
        for _ in range(warmup):
            t = time.perf_counter()
            fn()
            first[name] = time.perf_counter() - t
    if rounds is None:
        per_round = max(sum(first.values()), 1e-9)
        rounds = int(min(hi, max(lo, (BUDGET[mode] if budget is None else budget) // per_round)))
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: Timing(tuple(ts), warmup) for name, ts in times.items()}


def measure(fn: Callable[[], object], mode: str, **kwargs: Any) -> Timing:
    """:func:`compare` with one side."""
    return compare({"only": fn}, mode, **kwargs)["only"]


# ---------------------------------------------------------------- threads and kernels
@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Pin every pool a side could use to ``n`` threads: calipers' C++ pool, Numba, BLAS and
    OpenMP (threadpoolctl), torch and faiss when they are imported; restored afterwards."""
    import calipers

    restore: list[Callable[[], object]] = []
    old = calipers.get_num_threads()
    calipers.set_num_threads(n)
    restore.append(lambda: calipers.set_num_threads(old))
    if "numba" in sys.modules:
        import numba

        old_numba = numba.get_num_threads()
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        restore.append(lambda: numba.set_num_threads(old_numba))
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        old_torch = torch.get_num_threads()
        torch.set_num_threads(n)
        restore.append(lambda: torch.set_num_threads(old_torch))
    if "faiss" in sys.modules:
        faiss = sys.modules["faiss"]
        old_faiss = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(n)
        restore.append(lambda: faiss.omp_set_num_threads(old_faiss))
    limiter = None
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=n)
    except ImportError:
        pass
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        for fn in reversed(restore):
            fn()


def thread_counts() -> dict[str, int]:
    """Threads in force now: calipers' pool, Numba, torch, faiss (when imported), each BLAS."""
    import calipers

    out = {"calipers": calipers.get_num_threads()}
    if "numba" in sys.modules:
        out["numba"] = sys.modules["numba"].get_num_threads()
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    if "faiss" in sys.modules:
        out["faiss"] = sys.modules["faiss"].omp_get_max_threads()
    for info in _threadpool_info():
        if info["user_api"] == "blas":
            out[f"blas ({os.path.basename(os.path.dirname(info['filepath']))})"] = info["num_threads"]
    return out


def _threadpool_info() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return list(threadpool_info())


def use_native_openblas() -> None:
    """Unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (together) so that numpy's OpenBLAS,
    loaded next, picks its own kernel for this CPU; call before anything imports numpy.
    :func:`restore_openblas_env` puts them back before an older bundled OpenBLAS (faiss's)
    loads, since older builds need them on some processors."""
    if "numpy" in sys.modules:
        raise RuntimeError("use_native_openblas() must run before numpy is imported")
    for name in _OPENBLAS_VARS:
        if name in os.environ:
            _SAVED_OPENBLAS[name] = os.environ.pop(name)


def restore_openblas_env() -> None:
    """Put back what :func:`use_native_openblas` unset (for libraries loaded from now on)."""
    os.environ.update(_SAVED_OPENBLAS)


def blas_info() -> list[str]:
    """Every loaded BLAS: library, version, kernel (architecture), threads; and the
    OPENBLAS_* variables of the environment the process started with."""
    out = []
    for info in _threadpool_info():
        if info["user_api"] != "blas":
            continue
        where = os.path.basename(os.path.dirname(info["filepath"]))
        out.append(
            f"{info['internal_api']} {info['version']} ({where}): kernel {info.get('architecture')}, "
            f"{info['num_threads']} threads"
        )
    started = {name: os.environ.get(name) for name in _OPENBLAS_VARS}
    started.update(_SAVED_OPENBLAS)
    unset = f" (unset for numpy's OpenBLAS: {', '.join(sorted(_SAVED_OPENBLAS))})" if _SAVED_OPENBLAS else ""
    out.append("environment: " + ", ".join(f"{k}={v}" for k, v in started.items()) + unset)
    return out


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpp_knn_clone() -> str:
    """Which clone of the C++ distance kernel runs (GCC target_clones: AVX2 or the default)."""
    return "AVX2 clone" if "avx2" in cpu_flags() else "default (SSE2) clone"


def backends() -> dict[str, str]:
    """calipers' backends and their state, and what ``backend="auto"`` resolves to."""
    import calipers

    states = dict(calipers.available_backends())
    states["auto"] = next(b for b in ("cpp", "numba", "numpy") if states.get(b) == "ok")
    return states


# ---------------------------------------------------------------- the machine and the run
def machine() -> dict[str, Any]:
    """nproc, the CPU model from /proc/cpuinfo, memory, Python and the OS."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def versions(packages: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``packages`` ("not installed" where absent)."""
    out = {}
    for name in packages:
        if name == "calipers":
            out[name] = calipers_version()
            continue
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def calipers_version() -> str:
    """calipers.__version__ and the git commit of the tree it was imported from."""
    import subprocess

    import calipers

    where = os.path.dirname(calipers.__file__)
    try:
        sha = subprocess.run(
            ["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
        return f"{calipers.__version__} (git {sha}{', modified' if dirty else ''})"
    except (OSError, subprocess.CalledProcessError):
        return str(calipers.__version__)


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


BASE_PACKAGES = ("calipers", "numpy", "numba")


def parse_args(description: str, argv: Sequence[str] | None = None, **extra: Any) -> argparse.Namespace:
    """The options every script takes: --tiny / --quick / --full and --json PATH."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--tiny", action="store_const", dest="mode", const="tiny", help="seconds: harness check")
    size.add_argument("--quick", action="store_const", dest="mode", const="quick", help="bench/run_all.py --quick")
    size.add_argument("--full", action="store_const", dest="mode", const="full", help="the larger sizes")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON (bench/run_all.py reads it)")
    for flag, kwargs in extra.items():
        ap.add_argument(flag, **kwargs)
    args = ap.parse_args(argv)
    args.mode = args.mode or "quick"
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


@dataclass
class Table:
    """A free-form table: a title, the columns, rows of cells and notes under it."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    echo: Callable[[str, str, str], None] | None = field(default=None, repr=False, compare=False)

    def add(self, *cells: object) -> None:
        """Append a row (and print it)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"table {self.key}: {len(cells)} cells for {len(self.columns)} columns")
        row = [str(c) for c in cells]
        self.rows.append(row)
        if self.echo is not None:
            header = f"\n## {self.title}\n| " + " | ".join(self.columns) + " |\n|" + "---|" * len(self.columns)
            self.echo(self.key, header, "| " + " | ".join(row) + " |")

    def to_json(self) -> dict[str, Any]:
        """key, title, columns, rows and notes."""
        return {"key": self.key, "title": self.title, "columns": self.columns, "rows": self.rows, "notes": self.notes}


PAIR_COLUMNS = [
    "task",
    "calipers",
    "best / median",
    "other",
    "best / median",
    "other / calipers (best; median)",
    "threads (calipers / other)",
    "results",
]


class Report:
    """What one run of one script measured, printed as it goes and written as JSON."""

    def __init__(self, script: str, args: argparse.Namespace, packages: Sequence[str] = ()) -> None:
        self.script = os.path.basename(script)
        self.mode: str = args.mode
        self.json_path: str | None = args.json
        argv = [a for a in args.argv if a not in ("--json", args.json)]
        self.command = f"python bench/{self.script} {' '.join(argv)}".strip()
        self.packages = [*BASE_PACKAGES, *packages]
        self.started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self.load_start = loadavg()
        self.t0 = time.perf_counter()
        self.pairs: list[dict[str, Any]] = []
        self.tables: list[Table] = []
        self.quotes: dict[str, str] = {}
        self.notes: list[str] = []
        self._last_printed = ""
        print(f"# {self.command} ({self.mode}); load average {self.load_start}", flush=True)

    # -- results
    def pair(
        self,
        task: str,
        ours: tuple[str, Timing],
        other: tuple[str, Timing],
        *,
        threads: str,
        like_for_like: bool,
        results: str = "",
        differs: str = "",
        headline: bool = False,
    ) -> float:
        """One comparison row: calipers' side and the other side timed by :func:`compare`.
        ``like_for_like`` rows compute the same thing on the same data with the same thread
        counts; otherwise ``differs`` says what differs. Returns other / calipers (best)."""
        if not like_for_like and not differs:
            raise ValueError(f"{task}: a row that is not like-for-like must say what differs")
        if headline and not like_for_like:
            raise ValueError(f"{task}: headline ratios come only from like-for-like rows")
        (ours_name, t_ours), (other_name, t_other) = ours, other
        ratio, ratio_median = t_other.best / t_ours.best, t_other.median / t_ours.median
        row = {
            "task": task,
            "ours": ours_name,
            "ours_time": t_ours.to_json(),
            "other": other_name,
            "other_time": t_other.to_json(),
            "ratio": ratio,
            "ratio_median": ratio_median,
            "threads": threads,
            "results": results,
            "like_for_like": like_for_like,
            "differs": differs,
            "headline": headline,
            "rounds": t_ours.rounds,
        }
        self.pairs.append(row)
        header = "\n| " + " | ".join([*PAIR_COLUMNS, "like-for-like / what differs"]) + " |\n"
        header += "|" + "---|" * (len(PAIR_COLUMNS) + 1)
        self._echo("pairs", header, "| " + " | ".join(pair_cells(row)) + f" | {'yes' if like_for_like else differs} |")
        return ratio

    def _echo(self, key: str, header: str, line: str) -> None:
        if self._last_printed != key:
            print(header)
            self._last_printed = key
        print(line, flush=True)

    def table(self, key: str, title: str, columns: list[str]) -> Table:
        """A new free-form table (printed as rows are added)."""
        t = Table(key, title, columns, echo=self._echo)
        self.tables.append(t)
        return t

    def quote(self, key: str, text: str) -> None:
        """A number (or a table) README.md or docs/*.md quotes between ``<!-- bench:KEY -->``
        markers; bench/run_all.py's QUOTES lists the keys each script prints."""
        self.quotes[key] = text
        print(f"quote {key}: {text}", flush=True)

    def note(self, text: str) -> None:
        """A line printed under the script's tables."""
        self.notes.append(text)
        self._last_printed = ""
        print(text, flush=True)

    def finish(self) -> dict[str, Any]:
        """Stamp the end of the run and write the JSON (with --json)."""
        out = {
            "script": self.script,
            "command": self.command,
            "mode": self.mode,
            "started": self.started,
            "seconds": time.perf_counter() - self.t0,
            "load_start": self.load_start,
            "load_end": loadavg(),
            "machine": machine(),
            "versions": versions(self.packages),
            "blas": blas_info(),
            "threads_default": thread_counts(),
            "backends": backends(),
            "pairs": self.pairs,
            "tables": [t.to_json() for t in self.tables],
            "quotes": self.quotes,
            "notes": self.notes,
        }
        print(f"# done in {out['seconds']:.1f} s; load average {out['load_end']}", flush=True)
        if self.json_path:
            with open(self.json_path, "w", encoding="utf-8") as fh:
                json.dump(out, fh, indent=1)
        return out


def pair_cells(row: Mapping[str, Any]) -> list[str]:
    """The cells of a comparison row, in :data:`PAIR_COLUMNS` order."""

    def cell(t: Mapping[str, float]) -> str:
        return f"{fmt_seconds(t['best'])} / {fmt_seconds(t['median'])}"

    return [
        row["task"],
        row["ours"],
        cell(row["ours_time"]),
        row["other"],
        cell(row["other_time"]),
        f"{fmt_ratio(row['ratio'])}; {fmt_ratio(row['ratio_median'])}",
        row["threads"],
        row["results"],
    ]


def md_cell(cell: object) -> str:
    """A markdown table cell: pipes escaped, newlines flattened."""
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a markdown table."""
    lines = ["| " + " | ".join(md_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def quoted_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table as a :meth:`Report.quote` value: blank lines around it, so that it
    renders as a table between its ``<!-- bench:KEY -->`` markers."""
    return "\n\n" + "\n".join(markdown_table(columns, rows)) + "\n\n"


def agreement(a: float, b: float) -> str:
    """``|diff| x`` of two scalar results, for the results column."""
    return f"values agree: |diff| {abs(float(a) - float(b)):.1e}"
