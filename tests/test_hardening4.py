"""Findings of the third adversarial pass (hardening3.md items 2, 3, 10, 12, 14, 15, 17 and
the second half of 19), each written as a user hits it: the exit code, the message and the
files after the run. No test writes to a device path: streams are FIFOs in tmp_path, pipes,
or a regular file whose ``os.stat`` is made to report a character device."""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from signals import ENV, signal_mid_write

import calipers
from calipers.cli import main
from calipers.io import Columns, Skipped, atomic, read_table_chunks
from calipers.io.scan import scanner
from calipers.io.writers import RowWriter


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _log(tmp_path: Path, n: int = 40, seed: int = 0) -> tuple[Path, Path]:
    """A JSONL log of scores and labels, and a Platt calibrator fitted on it."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"score": float(a), "label": int(b)}) + "\n" for a, b in zip(p, y)))
    cal = tmp_path / "cal.json"
    cal.write_text(calipers.PlattScaling().fit(p, y).to_json())
    return log, cal


def _through_fifo(fifo: Path, run: Any) -> tuple[Any, bytes]:
    """(``run()``, every byte written into ``fifo`` meanwhile): a thread drains the FIFO while
    the command runs (a full pipe would block the writer); its read end is opened first,
    non-blocking, so the writer's open does not wait."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    done = threading.Event()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            finished = done.is_set()  # read before: an EOF seen before the writer opened is not the end
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                data = None
            if data:
                chunks.append(data)
            elif finished and data == b"":
                return
            else:
                time.sleep(0.001)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        result = run()
    finally:
        done.set()
        thread.join(timeout=60)
        os.close(fd)
    return result, b"".join(chunks)


# -- 2. an output that is a stream is written, never replaced -------------------------------


@pytest.mark.parametrize("name", ["out.jsonl", "out"])
def test_apply_writes_into_a_fifo_and_leaves_it_a_fifo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Finding: `calipers apply ... -o FIFO` renamed a regular file over the FIFO. A stream is
    written directly (as JSONL when its name gives no format) and stays what it was."""
    log, cal = _log(tmp_path, n=30)
    fifo = tmp_path / name
    os.mkfifo(fifo)
    (code, out, err), data = _through_fifo(
        fifo, lambda: _run(capsys, "apply", str(cal), str(log), "-o", str(fifo), "--quiet")
    )
    assert (code, out, err) == (0, "", "")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    rows = [json.loads(line) for line in data.decode().splitlines()]
    assert len(rows) == 30 and all(0 < r["calibrated"] < 1 for r in rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["log.jsonl", "cal.json", name])


def test_fit_and_save_sketch_write_into_a_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, _ = _log(tmp_path, n=50)
    for argv in (["fit", "platt", str(log), "--quiet", "-o"], ["score", str(log), "--quiet", "--save-sketch"]):
        fifo = tmp_path / "pipe.bin"
        os.mkfifo(fifo)
        code, data = _through_fifo(fifo, lambda: main([*argv, str(fifo)]))  # noqa: B023
        capsys.readouterr()
        assert code == 0 and stat.S_ISFIFO(os.lstat(fifo).st_mode)
        if argv[0] == "fit":
            assert calipers.Calibrator.from_json(data.decode()).is_fitted
        else:
            assert len(data) > 100 and (tmp_path / "copy.bin").write_bytes(data)
            assert main(["merge", str(tmp_path / "copy.bin"), "--json"]) == 0
            assert json.loads(capsys.readouterr().out)["rows"] == 50
        fifo.unlink()


def _fake_char_device(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``os.stat(path)`` report a character device (as /dev/null is); the file stays a
    regular file in tmp_path, so nothing real is at risk."""
    real_stat = os.stat

    def fake_stat(p: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        st = real_stat(p, *args, **kwargs)
        if os.fspath(p) == str(path):
            fields = list(st)
            fields[0] = stat.S_IFCHR | 0o666
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(atomic.os, "stat", fake_stat)


def test_a_character_device_is_written_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding: as root, `-o /dev/null` would have replaced /dev/null with a regular file.
    A target that is not a regular file is opened and written, no temporary file, no rename."""
    target = tmp_path / "device"
    target.write_bytes(b"kept\n")
    inode = os.stat(target).st_ino
    _fake_char_device(monkeypatch, target)
    assert atomic.is_stream(str(target))
    atomic.check_writable(str(target))  # a permission check only: no temporary file beside it
    atomic.write_atomic(str(target), b"sketch bytes\n")
    with RowWriter(str(target)) as out:  # no format in the name: JSONL, as for /dev/stdout
        out.write([{"score": 0.5}])
    assert os.lstat(target).st_ino == inode  # the same file: never renamed over
    assert target.read_bytes() == b'kept\nsketch bytes\n{"score": 0.5}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device"]


def test_a_failed_write_to_a_stream_leaves_the_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error while writing a stream cannot take back what was written, and must not
    remove or replace the stream (a real device must survive any failure)."""
    target = tmp_path / "device.jsonl"
    target.write_bytes(b"")
    inode = os.stat(target).st_ino
    _fake_char_device(monkeypatch, target)
    with pytest.raises(RuntimeError, match="stop"), RowWriter(str(target)) as out:
        out.write([{"a": 1}])
        raise RuntimeError("stop")
    assert os.lstat(target).st_ino == inode and target.read_bytes() == b'{"a": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.jsonl"]


def test_regular_files_keep_the_atomic_write(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    inode = os.stat(target).st_ino
    assert not atomic.is_stream(str(target)) and not atomic.is_stream(str(tmp_path / "missing.jsonl"))
    atomic.write_atomic(str(target), "new\n")
    assert target.read_text() == "new\n" and os.stat(target).st_ino != inode  # replaced by a rename


def test_descriptor_names_are_streams(tmp_path: Path) -> None:
    """/dev/stdout links to /proc/self/fd/1: its real path is 'pipe:[N]' (so the old write
    said 'No such file or directory') or the file the shell opened."""
    path = tmp_path / "held.txt"
    path.write_text("")
    fd = os.open(path, os.O_WRONLY)
    try:
        assert atomic.is_stream(f"/proc/self/fd/{fd}")
        link = tmp_path / "alias"
        link.symlink_to(f"/proc/self/fd/{fd}")  # a link to a descriptor name, as /dev/stdout is
        assert atomic.is_stream(str(link))
    finally:
        os.close(fd)
    assert not atomic.is_stream(str(path))


def test_apply_and_fit_to_the_stdout_descriptor(tmp_path: Path) -> None:
    """`-o /dev/stdout` works (shown with /proc/self/fd/1, what /dev/stdout links to): into a
    pipe, and into a file the shell opened for appending (`>> log`: what it held stays)."""
    log, cal = _log(tmp_path, n=20)
    argv = [sys.executable, "-m", "calipers", "apply", str(cal), str(log), "-o", "/proc/self/fd/1", "--quiet"]
    proc = subprocess.run(argv, env=ENV, capture_output=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(proc.stdout.decode().splitlines()) == 20
    appended = tmp_path / "appended.jsonl"
    appended.write_text('{"kept": 1}\n')
    inode = os.stat(appended).st_ino
    with open(appended, "ab") as fh:
        proc = subprocess.run(argv, env=ENV, stdout=fh, stderr=subprocess.PIPE, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, b"")
    lines = appended.read_text().splitlines()
    assert lines[0] == '{"kept": 1}' and len(lines) == 21 and os.stat(appended).st_ino == inode
    fit = [sys.executable, "-m", "calipers", "fit", "platt", str(log), "-o", "/proc/self/fd/1", "--quiet"]
    proc = subprocess.run(fit, env=ENV, capture_output=True, timeout=120)
    assert proc.returncode == 0 and calipers.Calibrator.from_json(proc.stdout.decode()).is_fitted


# -- 3. apply to Parquet: a value Parquet cannot hold ---------------------------------------


@pytest.mark.parametrize(
    ("row", "column", "why"),
    [
        ('{"score": 0.3, "x": 12345678901234567890}', "x", "an integer beyond 64 bits"),
        ('{"score": 0.3, "x": -123456789012345678901234567890}', "x", "an integer beyond 64 bits"),
        ('{"score": 0.3, "m": {}}', "m", "Cannot write struct type 'm' with no child field to Parquet"),
        ('{"score": 0.3, "m": [{"a": {}}]}', "m", "Cannot write struct type 'a' with no child field"),
    ],
)
def test_apply_to_parquet_names_the_column_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, column: str, why: str
) -> None:
    """Finding: an OverflowError / ArrowNotImplementedError traceback."""
    _, cal = _log(tmp_path)
    log = tmp_path / "odd.jsonl"
    log.write_text(row + '\n{"score": 0.5}\n')
    out = tmp_path / "out.parquet"
    before = sorted(os.listdir(tmp_path))
    code, stdout, err = _run(capsys, "apply", str(cal), str(log), "-o", str(out))
    assert (code, stdout) == (2, "")
    assert err.startswith(f"calipers apply: {out}: column {column!r} cannot be written to Parquet ({why}")
    assert err.endswith("); write JSONL instead\n") and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == before  # no output, no temporary file
    assert _run(capsys, "apply", str(cal), str(log), "-o", str(tmp_path / "out.jsonl"), "--quiet")[0] == 0


def test_apply_to_parquet_later_chunk_overflow_names_the_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, cal = _log(tmp_path)
    log = tmp_path / "odd.jsonl"
    log.write_text('{"score": 0.5, "x": 1}\n{"score": 0.5, "x": 12345678901234567890}\n')
    out = tmp_path / "out.parquet"
    code, _, err = _run(capsys, "apply", str(cal), str(log), "-o", str(out), "--chunk-size", "1")
    assert code == 2 and not out.exists()
    assert err == (
        f"calipers apply: {out}: a later chunk does not fit the column types of the first (column 'x': an integer "
        "beyond 64 bits: Python int too large to convert to C long); write JSONL instead\n"
    )


# -- 10. --version to a closed stdout --------------------------------------------------------


def test_version_to_a_closed_pipe_is_one_line() -> None:
    """Finding: `calipers --version > /dev/full` ended in an OSError traceback (shown here
    with a pipe whose reader is gone: EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "calipers", "--version"], env=ENV, stdout=write_end, stderr=subprocess.PIPE
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 2
    assert proc.stderr.decode() == "calipers: cannot write <stdout>: Broken pipe (its reader closed it)\n"


# -- 12. SIGHUP mid-write --------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")
def test_sighup_mid_apply_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Finding: SIGHUP (the terminal closed) left `.out.jsonl.XXXX.tmp` behind."""
    rng = np.random.default_rng(12)
    n = 60_000
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    log = tmp_path / "log.jsonl"
    log.write_text("".join(f'{{"score": {a:.6f}, "label": {b}}}\n' for a, b in zip(p, y)))
    cal = tmp_path / "cal.json"
    cal.write_text(calipers.PlattScaling().fit(p, y).to_json())
    argv = ["apply", str(cal), str(log), "-o", str(tmp_path / "out.jsonl"), "--chunk-size", "500"]
    before = sorted(os.listdir(tmp_path))
    status, err = signal_mid_write(argv, tmp_path, "out.jsonl", signal.SIGHUP)
    assert status == 128 + signal.SIGHUP
    assert err == "calipers apply: terminated (SIGHUP); nothing half written was left\n"
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")
def test_sighup_stays_ignored_under_nohup(capsys: pytest.CaptureFixture[str]) -> None:
    from calipers.cli import dispatch

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        assert signal.SIGHUP not in dispatch._handled_signals()
        assert main(["score", "--sample", "--quiet", "--json"]) == 0
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        assert signal.SIGHUP in dispatch._handled_signals()
        assert main(["score", "--sample", "--quiet", "--json"]) == 0
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGHUP, previous)
    capsys.readouterr()


# -- 14. duplicate JSONL keys ----------------------------------------------------------------

DUPLICATES = [
    ('{"score": 0.1, "label": 1, "score": 0.9}', "duplicate key 'score'"),
    ('{"score": 0.1, "label": 1, "note": "a", "note": "b"}', "duplicate key 'note'"),
    ('{"score": 0.1, "label": 1, "m": {"k": [{"z": 1, "z": 2}]}}', "duplicate key 'z'"),
    ('{"score": 0.1, "label": 1, "m": {"a": 1, "\\u0061": 2}}', "duplicate key 'a'"),
]


def _rows(paths: list[str], cols: Columns, fast: bool) -> tuple[list[Any], Skipped]:
    skipped = Skipped()
    rows = []
    for c in read_table_chunks(paths, cols, skipped=skipped, fast=fast):
        rows += [(tuple(np.atleast_1d(s).tolist()), int(y)) for s, y in zip(c.scores, c.labels)]
    return sorted(rows), skipped


@pytest.mark.parametrize("fast", [False, True])
def test_duplicate_keys_make_the_row_invalid(tmp_path: Path, fast: bool) -> None:
    """Finding: `{"score":0.1,"label":1,"score":0.9}` was read as score 0.9 (the last wins)."""
    if fast and scanner() is None:
        pytest.skip("the C++ extension is not built")
    log = tmp_path / "dup.jsonl"
    good = '{"score": 0.25, "label": 0, "m": {"z": 1}, "n": {"z": 2}}'
    log.write_text("\n".join([good] + [line for line, _ in DUPLICATES] + [good]) + "\n")
    rows, skipped = _rows([str(log)], Columns(), fast)
    assert rows == [((0.25,), 0), ((0.25,), 0)]
    assert skipped.counts == {reason: 1 for _, reason in DUPLICATES}
    assert skipped.first == {reason: f"{log}:{i + 2}" for i, (_, reason) in enumerate(DUPLICATES)}


def test_duplicate_keys_agree_on_both_paths_in_bulk(tmp_path: Path) -> None:
    if scanner() is None:
        pytest.skip("the C++ extension is not built")
    rng = np.random.default_rng(14)
    lines = []
    top = sum(i % 7 == 3 for i in range(5000))
    nested = sum(i % 7 != 3 and i % 11 == 5 for i in range(5000))
    for i in range(5000):
        p, y = float(rng.random()), int(rng.integers(2))
        if i % 7 == 3:
            lines.append(json.dumps({"score": p, "label": y})[:-1] + f', "score": {p}}}')
        elif i % 11 == 5:
            keys = ", ".join(f'"k{j}": {j}' for j in range(12)) + ', "k5": 0'  # > 8 keys: the sorted check
            lines.append(f'{{"score": {p}, "label": {y}, {keys}}}')
        else:
            lines.append(json.dumps({"score": p, "label": y, "k": {"a": 1, "b": 2}}))
    log = tmp_path / "bulk.jsonl"
    log.write_text("\n".join(lines) + "\n")
    fast_rows, fast_skipped = _rows([str(log)], Columns(), True)
    slow_rows, slow_skipped = _rows([str(log)], Columns(), False)
    assert fast_rows == slow_rows and len(fast_rows) == 5000 - top - nested
    assert fast_skipped.counts == slow_skipped.counts == {"duplicate key 'score'": top, "duplicate key 'k5'": nested}
    assert fast_skipped.first == slow_skipped.first


def test_apply_keeps_the_text_of_a_row_with_a_duplicate_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, cal = _log(tmp_path)
    log = tmp_path / "dup.jsonl"
    line = '{"score":0.1,"label":1,"score":0.9}'
    log.write_text('{"score": 0.5}\n' + line + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run(capsys, "apply", str(cal), str(log), "-o", str(out))
    assert code == 0 and f"skipped 1 x duplicate key 'score' (first at {log}:2)" in err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[1] == {
        "calibrated": None,
        "calibrated_skip_reason": "duplicate key 'score'",
        "calibrated_raw": line,
    }
    assert rows[0]["calibrated"] is not None


# -- 15. CSV labels true/false ---------------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True])
def test_csv_boolean_labels_as_pandas_writes_them(tmp_path: Path, fast: bool) -> None:
    """Finding: README says a label may be true/false, but the CSV of a pandas bool column
    (True/False) was skipped row by row as non-numeric."""
    if fast and scanner() is None:
        pytest.skip("the C++ extension is not built")
    import pandas as pd

    rng = np.random.default_rng(15)
    p = rng.random(400)
    y = rng.random(400) < p
    path = tmp_path / "bool.csv"
    pd.DataFrame({"score": p, "label": y}).to_csv(path, index=False)
    assert path.read_text().splitlines()[1].split(",")[1] in ("True", "False")
    rows, skipped = _rows([str(path)], Columns(), fast)
    assert skipped.counts == {} and len(rows) == 400
    assert sorted(rows) == sorted(((float(a),), int(b)) for a, b in zip(p, y))
    spelled = tmp_path / "spelled.csv"
    spelled.write_text("score,label\n0.5,true\n0.5,FALSE\n0.5, True \n0.5,yes\nTrue,1\n")
    rows, skipped = _rows([str(spelled)], Columns(), fast)
    assert rows == [((0.5,), 0), ((0.5,), 1), ((0.5,), 1)]
    assert skipped.counts == {"non-numeric 'label'": 1, "non-numeric 'score'": 1}


def test_cli_scores_a_pandas_bool_label_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    rng = np.random.default_rng(16)
    p = rng.random(300)
    y = rng.random(300) < p
    path = tmp_path / "bool.csv"
    pd.DataFrame({"score": p, "label": y}).to_csv(path, index=False)
    code, out, _ = _run(capsys, "score", str(path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["rows"] == 300 and doc["skipped"] == {}
    assert doc["metrics"]["ece"] == pytest.approx(calipers.ece(p, y.astype(int)), abs=1e-12)  # measured 0 diff


# -- 17. wide probability vectors ------------------------------------------------------------


def _wide(tmp_path: Path, k: int, n: int) -> tuple[np.ndarray, np.ndarray, Path, Path]:
    rng = np.random.default_rng(17)
    probs = rng.dirichlet(np.ones(k), n)
    labels = rng.integers(0, k, n)
    jsonl = tmp_path / "wide.jsonl"
    jsonl.write_text("".join(json.dumps({"p": row.tolist(), "label": int(y)}) + "\n" for row, y in zip(probs, labels)))
    text = tmp_path / "wide.csv"
    with open(text, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["p", "label"])
        for row, y in zip(probs, labels):
            writer.writerow([json.dumps(row.tolist()), int(y)])
    return probs, labels, jsonl, text


def test_wide_probability_vectors_score_on_every_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding: K=8000 failed a JSONL run with 'scan_log: width must lie in [1, 4096]' and
    skipped every CSV row as 'field larger than field limit' while calipers.ece worked."""
    probs, labels, jsonl, text = _wide(tmp_path, 8000, 40)
    assert len(text.read_text().splitlines()[1]) > 131072  # beyond the csv module's default limit
    expected = calipers.ece(probs, labels)
    limit = csv.field_size_limit()
    for path in (jsonl, text):
        code, out, err = _run(capsys, "score", str(path), "--probs", "p", "--json")
        doc = json.loads(out)
        assert (code, err, doc["rows"], doc["skipped"]) == (0, "", 40, {})
        assert doc["metrics"]["ece"] == pytest.approx(expected, abs=1e-12)  # measured: equal to the last bit
        for fast in (False, True):
            rows, skipped = _rows([str(path)], Columns(probs="p"), fast)
            assert len(rows) == 40 and skipped.counts == {}
    assert csv.field_size_limit() == limit  # raised for the wide lines only, then put back


def test_the_scanner_keeps_no_values_for_deferred_lines() -> None:
    """Without the width limit, memory stays bounded by the text: a deferred line (here
    20,000 junk lines after one valid row of K=5000) holds no row of values."""
    scan = scanner()
    if scan is None:
        pytest.skip("the C++ extension is not built")
    k = 5000
    valid = json.dumps({"p": [1.0] + [0.0] * (k - 1), "label": 0}).encode() + b"\n"
    text = valid + b"x\n" * 20_000 + valid
    out = scan(text, "", [("p", -1, 1, 0, k), ("label", -1, 5, k, 1)], k + 2)
    assert out["values"].shape == (2, k + 2)  # 160 KB, not 20,002 x 5,002 doubles (800 MB)
    assert int(out["deferred"].sum()) == 20_000 and len(out["line"]) == 20_002
    with pytest.raises(ValueError, match="width must be at least 1"):
        scan(b"", "", [], 0)


# -- 19 (second half). apply's extrapolation warning names file:line --------------------------


def test_apply_extrapolation_warning_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding: the warning said 'first at index 1', an index into one chunk's valid rows
    (the unreadable first row filtered out). It names the file:line, counted over chunks."""
    rng = np.random.default_rng(19)
    t = rng.random(200)
    pred = 0.2 + 0.6 * t + 0.05 * rng.standard_normal(200)
    fit_log = tmp_path / "fit.jsonl"
    fit_log.write_text(
        "".join(json.dumps({"prediction": float(a), "target": float(b)}) + "\n" for a, b in zip(pred, t))
    )
    correction = tmp_path / "lcc.json"
    assert main(["fit", "lcc", str(fit_log), "-o", str(correction), "--quiet"]) == 0
    log = tmp_path / "apply.jsonl"
    values = ['"x"', "0.5", "5.0", "0.4", "-3", "7"]
    log.write_text("".join(f'{{"prediction": {v}}}\n' for v in values))
    for chunk in ("3", "65536"):
        code, _, err = _run(
            capsys,
            "apply",
            str(correction),
            str(log),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--quiet",
            "--chunk-size",
            chunk,
        )
        assert code == 0
        lines = err.splitlines()
        assert len(lines) == 1 and "index" not in lines[0]
        assert lines[0].startswith("calipers apply: warning: 3 prediction(s) lie outside the calibration range [")
        assert lines[0].endswith(f"(first at {log}:3): the correction extrapolates there")
