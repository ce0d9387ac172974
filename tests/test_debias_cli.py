"""``calipers fit lcc|tweedie`` and ``calipers apply`` with a correction, end to end through
``main`` on JSONL, CSV (gzip) and Parquet logs with bad rows at known places."""

from __future__ import annotations

import csv
import gzip
import json
import warnings

import numpy as np
import pytest

from calipers.cli import main
from calipers.debias import Correction, DebiasingWarning, LinearCalibrationCorrection, TweedieCorrection


@pytest.fixture()
def pairs():
    rng = np.random.default_rng(0)
    y = rng.normal(10.0, 3.0, 800)
    p = 10.0 + 0.7 * (y - 10.0) + rng.normal(0, 1.0, 800)
    return p, y


def _write_jsonl(path, p, y, bad=True):
    with open(path, "w") as fh:
        for i, (a, b) in enumerate(zip(p, y)):
            fh.write(json.dumps({"id": i, "pred": a, "truth": b}) + "\n")
        if bad:
            fh.write(json.dumps({"id": -1, "pred": "x", "truth": 1.0}) + "\n")  # line 801
            fh.write(json.dumps({"id": -2, "pred": 1.0}) + "\n")  # line 802
            fh.write("{not json\n")  # line 803


def test_fit_lcc_and_tweedie_from_jsonl_equal_the_in_memory_fit(tmp_path, pairs, capsys):
    p, y = pairs
    log = tmp_path / "cal.jsonl"
    _write_jsonl(log, p, y)
    for method, cls in (("lcc", LinearCalibrationCorrection), ("tweedie", TweedieCorrection)):
        out = tmp_path / f"{method}.json"
        rc = main(["fit", method, str(log), "--prediction", "pred", "--target", "truth", "-o", str(out)])
        assert rc == 0
        err = capsys.readouterr().err
        assert "fitted on 800 rows (3 skipped)" in err
        assert f"'pred' is not a number (first at {log}:801)" in err
        assert f"missing field 'truth' (first at {log}:802)" in err
        fitted = Correction.from_json(out.read_text())
        assert isinstance(fitted, cls)
        ref = cls().fit(p, y)
        q = np.linspace(p.min(), p.max(), 50)
        np.testing.assert_allclose(fitted.transform(q), ref.transform(q), rtol=1e-9, atol=1e-9)


def test_strict_stops_at_the_first_bad_row(tmp_path, pairs, capsys):
    p, y = pairs
    log = tmp_path / "cal.jsonl"
    _write_jsonl(log, p, y)
    rc = main(
        [
            "fit",
            "lcc",
            str(log),
            "--prediction",
            "pred",
            "--target",
            "truth",
            "-o",
            str(tmp_path / "x.json"),
            "--strict",
        ]
    )
    assert rc == 1
    assert f"{log}:801" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_apply_a_correction_to_csv_gz_and_parquet(tmp_path, pairs, capsys):
    p, y = pairs
    log = tmp_path / "cal.jsonl"
    _write_jsonl(log, p, y, bad=False)
    model = tmp_path / "lcc.json"
    assert main(["fit", "lcc", str(log), "--prediction", "pred", "--target", "truth", "-o", str(model), "--quiet"]) == 0
    lcc = Correction.from_json(model.read_text())
    target = tmp_path / "new.csv.gz"
    with gzip.open(target, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "pred"])
        for i, v in enumerate(p[:100]):
            w.writerow([i, repr(float(v))])
        w.writerow([100, "inf"])  # skipped: non-finite
    out = tmp_path / "out.jsonl"
    assert main(["apply", str(model), str(target), "--prediction", "pred", "-o", str(out), "--column", "fixed"]) == 0
    err = capsys.readouterr().err
    assert "101 rows written" in err and "non-finite 'pred'" in err  # one output row per input row
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DebiasingWarning)
        expected = lcc.transform(p[:100])
    np.testing.assert_allclose([r["fixed"] for r in rows[:100]], expected, rtol=1e-12)
    assert [r["id"] for r in rows] == [str(i) for i in range(101)]
    assert rows[100]["fixed"] is None and rows[100]["fixed_skip_reason"] == "non-finite 'pred'"
    assert all(r["fixed_skip_reason"] is None for r in rows[:100])
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    src = tmp_path / "new.parquet"
    pq.write_table(pa.table({"pred": p[:50], "k": np.arange(50)}), src)
    out2 = tmp_path / "out.parquet"
    assert main(["apply", str(model), str(src), "--prediction", "pred", "-o", str(out2), "--quiet"]) == 0
    got = pq.read_table(out2).to_pydict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DebiasingWarning)
        np.testing.assert_allclose(got["calibrated"], lcc.transform(p[:50]), rtol=1e-12)


def test_cli_errors(tmp_path, pairs, capsys):
    log = tmp_path / "empty.jsonl"
    log.write_text(json.dumps({"pred": 1.0}) + "\n")
    rc = main(["fit", "tweedie", str(log), "--prediction", "pred", "--target", "truth", "-o", str(tmp_path / "o.json")])
    assert rc == 1 and "no row holds both" in capsys.readouterr().err  # nothing scored: exit 1, as score does
    assert not (tmp_path / "o.json").exists()
    const = tmp_path / "const.jsonl"
    const.write_text("".join(json.dumps({"prediction": 1.0, "target": float(i)}) + "\n" for i in range(20)))
    rc = main(["fit", "lcc", str(const), "-o", str(tmp_path / "o.json")])
    assert rc == 2 and "one distinct value" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "calipers.correction", "format_version": 9}))
    rc = main(["apply", str(bad), str(const), "-o", str(tmp_path / "x.jsonl")])
    assert rc == 2 and "format version" in capsys.readouterr().err


def test_correction_commands_follow_the_cli_rules(tmp_path, pairs, capsys):
    """fit and apply of a correction refuse to write over an input and write atomically, as
    every command does (issue 11's rules)."""
    p, y = pairs
    log = tmp_path / "cal.jsonl"
    _write_jsonl(log, p, y, bad=False)
    before = log.read_bytes()
    rc = main(["fit", "lcc", str(log), "--prediction", "pred", "--target", "truth", "-o", str(log)])
    assert rc == 2 and "it is one of the inputs" in capsys.readouterr().err
    assert log.read_bytes() == before
    model = tmp_path / "lcc.json"
    assert main(["fit", "lcc", str(log), "--prediction", "pred", "--target", "truth", "-o", str(model), "--quiet"]) == 0
    rc = main(["apply", str(model), str(log), "--prediction", "pred", "-o", str(log)])
    assert rc == 2 and "it is one of the inputs" in capsys.readouterr().err
    assert log.read_bytes() == before
    rc = main(["apply", str(model), str(log), "--prediction", "pred", "-o", str(model)])
    assert rc == 2 and "it is one of the inputs" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_unreadable_files_are_one_line_or_counted_with_keep_going(tmp_path, pairs, capsys):
    p, y = pairs
    good = tmp_path / "a.jsonl.gz"
    with gzip.open(good, "wt") as fh:
        for a, b in zip(p, y):
            fh.write(json.dumps({"pred": float(a), "truth": float(b)}) + "\n")
    data = good.read_bytes()
    trunc = tmp_path / "trunc.jsonl.gz"
    trunc.write_bytes(data[: len(data) // 2])
    out = tmp_path / "m.json"
    args = ["fit", "lcc", "--prediction", "pred", "--target", "truth", "-o", str(out)]
    rc = main([*args, str(trunc)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "cannot read" in err and "truncated gzip" in err
    assert not out.exists()
    assert main([*args, str(good), str(trunc), "--keep-going"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 x unreadable file: truncated gzip" in err
    alone = tmp_path / "alone.json"
    assert main([*args[:-1], str(alone), str(good), "--quiet"]) == 0
    assert out.read_text() == alone.read_text()  # the truncated file added nothing
