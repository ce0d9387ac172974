"""Many groups (hardening3 #6): GroupedSketch.update slices each group's rows out of one
stable sort (exactly what a mask per group gave, without the groups x rows scan), the
smooth-ECE spectrum skips the frequencies whose factor underflows to 0 (the same array),
and ``calipers score`` stops with one line past --max-groups groups or windows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calipers import GroupedSketch, ReliabilitySketch
from calipers.cli.dispatch import main
from calipers.metrics.smooth import _gaussian_spectrum


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 60), st.booleans())
def test_each_group_equals_a_sketch_of_its_rows_in_input_order(seed, keys, weighted):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    p, groups = rng.random(n), rng.integers(0, keys, n)
    y = (rng.random(n) < p).astype(int)
    w = np.where(rng.random(n) < 0.2, 0.0, rng.integers(1, 4, n).astype(float)) if weighted else None
    g = GroupedSketch(7).update(p, y, groups, sample_weight=w)
    expected = {}
    for key in np.unique(groups):
        rows = (groups == key) if w is None else (groups == key) & (w > 0)
        if rows.any():
            sw = None if w is None else w[rows]
            expected[int(key)] = ReliabilitySketch(7).update(p[rows], y[rows], sample_weight=sw)
    assert sorted(g) == sorted(expected)  # a group whose every weight is 0 is not created
    for key, sketch in expected.items():
        assert g[key].to_bytes() == sketch.to_bytes()


@pytest.mark.parametrize("sigma", [1e-3, 1.7e-3, 0.01, 0.05, 0.123456789, 0.5, 1.0])
def test_the_truncated_gaussian_spectrum_is_the_full_one(sigma):
    m = 1 << 15
    nu = np.arange(m + 1, dtype=np.float64)
    assert np.array_equal(_gaussian_spectrum(sigma, m), m * np.exp(-0.5 * (math.pi * sigma * nu) ** 2))


def _log(path: Path, ids: list[str], t: list[float] | None = None) -> Path:
    rng = np.random.default_rng(len(ids))
    with open(path, "w") as fh:
        for i, key in enumerate(ids):
            row = {"score": float(rng.random()), "label": int(rng.integers(0, 2)), "id": key}
            if t is not None:
                row["t"] = t[i]
            fh.write(json.dumps(row) + "\n")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_score_stops_past_max_groups_with_one_line(tmp_path, capsys):
    log = _log(tmp_path / "ids.jsonl", [f"u{i}" for i in range(60)])
    saved = tmp_path / "run.bin"
    code, out, err = _run(capsys, "score", str(log), "--by", "id", "--max-groups", "50", "--save-sketch", str(saved))
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "calipers score: --by 'id' gives more than 50 groups (--max-groups 50): check the column, or raise "
        "--max-groups (each costs ~4 ms and ~20 KB in the report)"
    ]
    assert not saved.exists()  # nothing written on the way out
    code, out, _ = _run(capsys, "score", str(log), "--by", "id", "--max-groups", "60", "--json")
    assert code == 0 and len(json.loads(out)["groups"]) == 60  # exactly N groups is allowed


def test_the_cap_counts_groups_across_files_and_windows(tmp_path, capsys):
    a = _log(tmp_path / "a.jsonl", [f"u{i}" for i in range(30)])
    b = _log(tmp_path / "b.jsonl", [f"v{i}" for i in range(30)])
    code, _, err = _run(capsys, "score", str(a), str(b), "--by", "id", "--max-groups", "50")
    assert code == 2 and "more than 50 groups" in err  # 30 per file, 60 together
    times = _log(tmp_path / "t.jsonl", ["x"] * 40, t=[60.0 * i for i in range(40)])
    code, _, err = _run(capsys, "score", str(times), "--time", "t", "--window", "1m", "--max-groups", "39")
    assert code == 2 and "--window gives more than 39 windows" in err
    with pytest.raises(SystemExit) as exit_:  # argparse's usage error: one line, exit 2
        main(["score", str(times), "--max-groups", "0"])
    assert (
        exit_.value.code == 2 and "--max-groups: must be an integer in [1, 100000000], got 0" in capsys.readouterr().err
    )
