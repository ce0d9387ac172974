"""Signals sent to a ``calipers`` subprocess while it writes (tests/test_hardening2.py,
tests/test_hardening4.py): the run is caught once its temporary output holds bytes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import calipers

ENV = {**os.environ, "PYTHONPATH": str(Path(calipers.__file__).resolve().parent.parent)}


def signal_mid_write(argv: list[str], folder: Path, target: str, signum: int) -> tuple[int, str]:
    """Start calipers, send ``signum`` once its temporary output holds bytes (again when the
    run ends first on a loaded machine); returns (exit status, stderr)."""
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "calipers", *argv], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        caught = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            tmps = [p for p in folder.iterdir() if p.name.startswith(f".{target}.") and p.name.endswith(".tmp")]
            try:
                if any(p.stat().st_size > 0 for p in tmps):
                    caught = True
                    break
            except FileNotFoundError:
                continue
            time.sleep(0.0005)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        if caught and proc.returncode != 0:
            return proc.returncode, err.decode()
        (folder / target).unlink(missing_ok=True)
    raise AssertionError("the run always finished before the signal")
