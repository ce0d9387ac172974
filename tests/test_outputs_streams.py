"""Outputs that are standard streams or that collide (adversarial pass 3, items 1 and 4):
data written to standard output is not overwritten by the report (the report goes to
stderr), standard error is refused as an output (calipers writes its messages there), and
two outputs of one run may not land in one place."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from signals import ENV

from calipers.cli import main
from calipers.cli.saved import load_saved


def _log(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    p = rng.random(n)
    with open(path, "w") as fh:
        for a, b in zip(p, rng.random(n) < p):
            fh.write(json.dumps({"score": float(a), "label": int(b), "g": "ab"[int(a * 10) % 2]}) + "\n")
    return path


def _calipers(argv: list[str], stdout: Path) -> subprocess.CompletedProcess[bytes]:
    with open(stdout, "wb") as fh:  # the shell's '> FILE': the child's fd 1 is this file at offset 0
        return subprocess.run(
            [sys.executable, "-m", "calipers", *argv], env=ENV, stdout=fh, stderr=subprocess.PIPE, timeout=120
        )


@pytest.mark.parametrize("name", ["/dev/stdout", "/proc/self/fd/1"])
def test_a_sketch_saved_to_stdout_is_whole_and_the_report_goes_to_stderr(tmp_path: Path, name: str) -> None:
    log = _log(tmp_path / "log.jsonl")
    blob = tmp_path / "run.bin"
    proc = _calipers(["score", str(log), "--by", "g", "--save-sketch", name], blob)
    assert proc.returncode == 0, proc.stderr
    scored, _ = load_saved(blob.read_bytes())  # before: the report overwrote the blob's first 2 KB
    assert scored.rows == 300 and len(scored.groups) == 2
    assert b"300 rows from 1 file(s)" in proc.stderr
    merged = tmp_path / "merged.bin"
    proc = _calipers(["merge", str(blob), "-o", name], merged)
    assert proc.returncode == 0, proc.stderr
    assert load_saved(merged.read_bytes())[0].rows == 300


def test_standard_error_is_refused_as_an_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _log(tmp_path / "log.jsonl")
    for argv in (
        ["score", str(log), "--save-sketch", "/dev/stderr"],
        ["score", str(log), "--save-sketch", "/dev/fd/2"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "it is standard error, where calipers writes its messages" in err[0]


@pytest.mark.parametrize("clash", ["index.html", "reliability.png", "../rep/smooth.png"])
def test_two_outputs_of_one_run_may_not_land_in_one_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clash: str
) -> None:
    log = _log(tmp_path / "log.jsonl")
    report = tmp_path / "rep"
    report.mkdir()
    target = report / clash
    code = main(["score", str(log), "--save-sketch", str(target), "--report", str(report)])
    err = capsys.readouterr().err
    assert code == 2 and "two outputs of this run land in one place" in err and "Traceback" not in err
    assert not (report / "index.html").exists()  # nothing written
    # beside the report's files is fine
    assert main(["score", str(log), "--save-sketch", str(report / "run.bin"), "--report", str(report)]) == 0


def test_standard_input_and_unopened_descriptors_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log(tmp_path / "log.jsonl")
    assert main(["score", str(log), "--save-sketch", "/dev/stdin"]) == 2
    assert "it is standard input, which calipers only reads" in capsys.readouterr().err
    unopened = next(fd for fd in range(900, 1000) if not os.path.exists(f"/dev/fd/{fd}"))
    assert main(["score", str(log), "--save-sketch", f"/dev/fd/{unopened}"]) == 2
    err = capsys.readouterr().err  # was "Permission denied"
    assert f"cannot write /dev/fd/{unopened}: No such file or directory (not an open file descriptor)" in err


def test_a_signal_says_a_stream_output_is_incomplete(tmp_path: Path) -> None:
    from calipers.cli.dispatch import _what_was_left

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    said = _what_was_left(argparse.Namespace(output=str(fifo), save_sketch=None))
    assert said == f"{fifo} is a stream: what reached it before the signal is incomplete"
    assert _what_was_left(argparse.Namespace(output=str(tmp_path / "x.jsonl"))) == "nothing half written was left"


def test_from_json_of_something_that_is_not_text_is_a_type_error() -> None:
    from calipers import Calibrator
    from calipers.debias import Correction

    for family in (Calibrator, Correction):
        for bad in (123, None, [1]):
            with pytest.raises(TypeError, match="from_json expects JSON text"):
                family.from_json(bad)  # type: ignore[arg-type]
