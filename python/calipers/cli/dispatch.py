"""The ``calipers`` argument parser and the entry point that maps failures to exit codes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, NoReturn, TextIO

from .. import __version__
from .._kernels.backend import show_config
from ..io.atomic import is_stream
from ..io.records import MalformedRow
from ..io.times import TIME_UNITS
from .commands import run_apply, run_fit, run_merge
from .common import CommandError, NothingScored, int_in, parse_duration
from .debias_commands import CORRECTIONS, run_fit_correction
from .outputs import names_stdout
from .score import run_score
from .scored import GROUP_GRID, GROUP_GRIDS, MAX_GROUPS

CHUNK_MAX = 2**31 - 1


def _addcolumns(p: argparse.ArgumentParser, *, label_required: bool = True, backend_help: str | None = None) -> None:
    p.add_argument("--score", default="score", help="column holding the score in [0, 1] (default: score)")
    p.add_argument(
        "--label",
        default="label",
        help="column holding the 0/1 outcome or class label" + ("" if label_required else " (not needed)"),
    )
    p.add_argument("--probs", default=None, help="column holding a probability vector (top-label)")
    p.add_argument(
        "--prob-columns",
        default=None,
        metavar="C1,C2,...",
        help="K columns holding the class probabilities (top-label)",
    )
    p.add_argument("--chunk-size", type=int_in(1, CHUNK_MAX), default=65536, help="rows per chunk (>= 1)")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed row")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "cpp", "numba", "numpy"),
        help=backend_help or "kernels to compute with (default auto: C++, else Numba, else numpy)",
    )


def _add_keep_going(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="skip unreadable files (counted under 'skipped' by reason) instead of stopping",
    )


class _Parser(argparse.ArgumentParser):
    """argparse with the command line's error rule: a usage error is one line on stderr
    ('calipers score: error: ...', exit 2), not the multi-line usage block."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE`` on one line and exit 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``calipers`` parser: score, merge, fit and apply (numeric flags range-checked)."""
    parser = _Parser(prog="calipers", description="Measure the calibration of model confidences.")
    parser.add_argument("--version", action="store_true", help="print the version and the live backends")
    sub = parser.add_subparsers(dest="command")
    score = sub.add_parser("score", help="score prediction logs (JSONL, CSV/TSV, optionally .gz, or Parquet)")
    score.add_argument("logs", nargs="*", help="log files")
    score.add_argument("--sample", action="store_true", help="also score the sample log shipped with calipers")
    _addcolumns(score)
    score.add_argument("--bins", type=int_in(1, 1_000_000), default=15, help="number of bins (default 15)")
    score.add_argument("--binning", choices=("width", "mass"), default="width")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.add_argument(
        "--bootstrap",
        type=int_in(0, 100_000),
        default=0,
        metavar="R",
        help="keep R streaming bootstrap replicates and report a 95%% interval of the ECE",
    )
    score.add_argument("--save-sketch", default=None, metavar="FILE", help="write the sketch bytes to FILE")
    score.add_argument(
        "--by", default=None, metavar="COL", help="one sketch per value of COL, with the PCE across them"
    )
    score.add_argument(
        "--max-groups",
        type=int_in(1, 100_000_000),
        default=MAX_GROUPS,
        metavar="N",
        help=f"stop with an error past N groups (--by) or windows (default {MAX_GROUPS:,}): a column of ids "
        "would otherwise eat the machine",
    )
    score.add_argument(
        "--time", default=None, metavar="COL", help="timestamp column (epoch s/ms/us/ns numbers or ISO 8601)"
    )
    score.add_argument(
        "--time-unit",
        default="auto",
        choices=TIME_UNITS,
        help="unit of epoch numbers in --time (default auto: seconds if a date in years 1-9999, else ms, us, ns)",
    )
    score.add_argument(
        "--group-grid",
        default=GROUP_GRID,
        choices=GROUP_GRIDS,
        help="grid of the per-group (--by) and per-window sketches: their equal-mass ECE and smooth ECE come "
        "from it (default compact: 130 cells, 4.7 KB a group; fine: 3970 cells, 128 KB a group, the same "
        "values as scoring each group's rows alone)",
    )
    score.add_argument(
        "--window",
        default=None,
        type=parse_duration,
        metavar="DURATION",
        help="with --time: metrics per window (30s, 15m, 1h, 1d, 1w) to watch drift",
    )
    score.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="spread the files over a dask cluster: a scheduler address or local:N workers",
    )
    score.add_argument(
        "--report", default=None, metavar="DIR", help="write reliability.png and a self-contained index.html into DIR"
    )
    _add_keep_going(score)

    merge = sub.add_parser("merge", help="merge sketches saved with --save-sketch and report")
    merge.add_argument("sketches", nargs="+", help="sketch files")
    merge.add_argument("-o", "--output", default=None, help="write the merged sketch to this file")
    merge.add_argument("--binning", choices=("width", "mass"), default="width")
    merge.add_argument("--json", action="store_true", help="print one JSON object")

    fit = sub.add_parser("fit", help="fit a calibrator on logs (through a sketch: constant memory)")
    fit.add_argument("method", choices=("platt", "beta", "isotonic", "histogram", "scaling-binning", *CORRECTIONS))
    fit.add_argument("logs", nargs="+", help="log files")
    fit.add_argument("-o", "--output", required=True, help="calibrator JSON file to write")
    _addcolumns(
        fit,
        backend_help="kernels to compute with (default auto); lcc/tweedie: the backend saved in the JSON (Tweedie's "
        "transform runs kernels; LCC runs none)",
    )
    fit.add_argument(
        "--bins", type=int_in(1, 1_000_000), default=15, help="equal-width bins of the sketch (default 15)"
    )
    fit.add_argument(
        "--calibrator-bins",
        type=int_in(1, 1_000_000),
        default=15,
        help="equal-mass bins of histogram / scaling-binning (default 15)",
    )
    _add_keep_going(fit)
    fit.add_argument("--prediction", default="prediction", help="lcc/tweedie: real-valued prediction column")
    fit.add_argument("--target", default="target", help="lcc/tweedie: true value column")
    fit.add_argument("--tweedie-score", default="analytic", choices=("analytic", "finite-difference"))

    apply = sub.add_parser("apply", help="append calibrated scores to logs (JSONL, CSV or Parquet output)")
    apply.add_argument("calibrator", help="calibrator JSON written by calipers fit (or to_json)")
    apply.add_argument("logs", nargs="+", help="log files")
    apply.add_argument("-o", "--output", required=True, help="file to write: .jsonl, .csv (optionally .gz) or .parquet")
    apply.add_argument("--column", default="calibrated", help="name of the appended column")
    apply.add_argument(
        "--reason-column",
        default=None,
        metavar="NAME",
        help="column holding why a row was not calibrated (default: COLUMN_skip_reason)",
    )
    apply.add_argument("--prediction", default="prediction", help="with a correction: the prediction column")
    _addcolumns(
        apply,
        label_required=False,
        backend_help="kernels the transform runs on, in place of the backend saved in the JSON (default auto)",
    )
    return parser


class Terminated(SystemExit):
    """SIGTERM or SIGHUP while a command runs: raised in the main thread, so every ``with``
    block unwinds (an atomic output's temporary file is removed) before the exit, with
    status 128 + the signal's number."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(128 + signum)
        self.signum = signum


_terminating: list[int] = []  # the signal that ended the running command, once one has


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """The first SIGTERM/SIGHUP: raise Terminated. Any later one (TERM+TERM, HUP+TERM) is
    ignored, so it cannot interrupt the cleanup the first one started (the temporary file
    was left behind). Nothing here calls ``signal.signal``: it runs pending handlers first,
    so a second signal would be raised from inside this one."""
    if _terminating:
        return
    _terminating.append(signum)
    raise Terminated(signum)


def _handled_signals() -> list[int]:
    """SIGTERM, and SIGHUP (the terminal went away) where the OS has it and it is not
    ignored (under ``nohup`` it stays ignored)."""
    signals: list[int] = [signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) != signal.SIG_IGN:
        signals.append(hangup)
    return signals


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``calipers`` command; returns the exit code (0 ok, 1 a malformed row under
    --strict or nothing scored, 2 any other failure, with one line on stderr; 130 on
    Ctrl-C, 143 on SIGTERM and 129 on SIGHUP, after removing any half-written output)."""
    if threading.current_thread() is not threading.main_thread():
        return _guarded(argv)
    previous = {signum: signal.signal(signum, _on_signal) for signum in _handled_signals()}
    _terminating.clear()
    try:
        return _guarded(argv)
    finally:
        for signum, handler in previous.items():  # a repeat pending here is still ignored
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _terminating.clear()


def _guarded(argv: Sequence[str] | None) -> int:
    """:func:`_main` with stdout named: a write that fails outside a command (``--version``,
    ``--help``) is one line 'calipers: cannot write <stdout>: why' and exit 2 too."""
    stdout = sys.stdout
    sys.stdout = _NamedStdout(stdout)
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except OSError as exc:
        if exc.filename != STDOUT:
            raise
        _drop_stdout()
        _say("", _stdout_failure(exc))
        return 2
    finally:
        sys.stdout = stdout


def _stdout_failure(exc: OSError) -> str:
    why = "Broken pipe (its reader closed it)" if isinstance(exc, BrokenPipeError) else exc.strerror or str(exc)
    return f"cannot write {STDOUT}: {why}"


def _drop_stdout() -> None:
    """Point stdout's file descriptor at the null device, so the flush at exit of what is
    still buffered cannot fail again (a second message, exit status 120)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"calipers {__version__}")
        show_config()
        return 0
    if getattr(args, "probs", None) is not None and args.score != "score":
        parser.error("--probs and --score are mutually exclusive")
    if getattr(args, "probs", None) is not None and getattr(args, "prob_columns", None):
        parser.error("--probs and --prob-columns are mutually exclusive")
    if args.command == "score":
        if (args.window is None) != (args.time is None):
            parser.error("--window and --time go together")
    commands = {"score": run_score, "merge": run_merge, "fit": run_fit, "apply": run_apply}
    if args.command == "fit" and args.method in CORRECTIONS:
        commands["fit"] = run_fit_correction
    if args.command in commands:
        return _run(commands[args.command], args)
    parser.print_help()
    return 2


def _say(command: str, message: str) -> None:
    try:
        print(f"calipers {command}: {message}" if command else f"calipers: {message}", file=sys.stderr)
    except OSError:  # stderr is gone too: nothing left to tell
        pass


def _run(command: object, args: argparse.Namespace) -> int:
    """One error rule: a message on one line, never a traceback; exit 1 for a malformed row
    under --strict or a run that scored nothing, 2 for any other failure (reading,
    writing, a closed stdout, invalid values, a missing extra)."""
    name = args.command
    stdout = sys.stdout
    # data written to standard output: the report and messages go to stderr instead
    sys.stdout = _NamedStdout(sys.stderr if names_stdout(_outputs(args)) else stdout)
    try:
        code: int = command(args)  # type: ignore[operator]
        sys.stdout.flush()  # a full disk or closed pipe fails here, named, not at exit
        return code
    except BrokenPipeError as exc:  # the reader of stdout went away (| head)
        _drop_stdout()
        _say(name, _stdout_failure(exc))
        return 2
    except MalformedRow as exc:
        _say(name, f"malformed row at {exc}")
        return 1
    except NothingScored as exc:
        _say(name, str(exc))
        return 1
    except (CommandError, ValueError, ImportError) as exc:  # UnreadableFile says 'cannot read FILE: why'
        _say(name, str(exc))
        return 2
    except OSError as exc:
        if exc.filename == STDOUT:
            _drop_stdout()
            _say(name, _stdout_failure(exc))
        else:
            where = f"{exc.filename}: " if exc.filename else ""
            _say(name, f"{where}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        _say(name, "interrupted")
        return 130
    except Terminated as exc:
        _say(name, f"terminated ({signal.Signals(exc.signum).name}); {_what_was_left(args)}")
        return int(exc.code)  # type: ignore[arg-type]
    finally:
        sys.stdout = stdout


STDOUT = "<stdout>"


def _what_was_left(args: argparse.Namespace) -> str:
    """After a signal: files are written atomically, so nothing half written is left; a stream
    (stdout, a FIFO) keeps what reached it, which is then incomplete."""
    streams = [p for p in _outputs(args) if p and is_stream(p)]
    if streams:
        return f"{streams[0]} is a stream: what reached it before the signal is incomplete"
    return "nothing half written was left"


def _outputs(args: argparse.Namespace) -> list[str | None]:
    """The files a command writes (-o, --save-sketch)."""
    return [getattr(args, "output", None), getattr(args, "save_sketch", None)]


class _NamedStdout:
    """``sys.stdout`` while a command runs: a write or flush that fails (a full disk, a
    closed pipe) raises the same OSError naming ``<stdout>``, so the one-line message says
    what could not be written."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write to the real stdout."""
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _named(exc) from None

    def flush(self) -> None:
        """Flush the real stdout."""
        try:
            self._stream.flush()
        except OSError as exc:
            raise _named(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _named(exc: OSError) -> OSError:
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), STDOUT)
