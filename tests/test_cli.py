"""`calipers score` on the shipped sample log and on generated logs."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

import calipers
from calipers import ReliabilitySketch
from calipers.cli import main
from calipers.cli.saved import load_saved


def _sample():  # type: ignore[no-untyped-def]
    with open(calipers.sample_log_path()) as fh:
        rows = [json.loads(line) for line in fh]
    return np.array([r["score"] for r in rows]), np.array([r["label"] for r in rows])


def test_score_sample_json(capsys):  # type: ignore[no-untyped-def]
    assert main(["score", "--sample", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    p, y = _sample()
    assert out["rows"] == len(y) == 569
    assert out["skipped"] == {}
    assert out["metrics"]["ece"] == pytest.approx(calipers.ece(p, y), rel=1e-12)
    assert out["metrics"]["brier"] == pytest.approx(calipers.brier(p, y), rel=1e-12)
    assert out["metrics"]["log_loss"] == pytest.approx(calipers.log_loss(p, y), rel=1e-12)
    assert sum(out["reliability"]["count"]) == 569


def test_score_prints_a_table(capsys):  # type: ignore[no-untyped-def]
    assert main(["score", calipers.sample_log_path(), "--bins", "10"]) == 0
    text = capsys.readouterr().out
    assert "569 rows" in text and "Wilson 95% interval" in text and "Brier score" in text


def test_console_script_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "calipers", "score", "--sample", "--json", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["rows"] == 569
    version = subprocess.run(
        [sys.executable, "-m", "calipers", "--version"], capture_output=True, text=True, check=True
    )
    assert "calipers 0.1.0" in version.stdout and "numpy" in version.stdout


def test_csv_gzip_chunks_and_skipped_rows(tmp_path, capsys):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    path = tmp_path / "log.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("conf,ok\n")
        for i, (a, b) in enumerate(zip(p, y)):
            fh.write(f"{float(a)!r},{b}\n")
            if i == 10:
                fh.write("oops,1\n")
            if i == 20:
                fh.write("1.5,0\n")
            if i == 30:
                fh.write(",1\n")
    sketch_file = tmp_path / "s.bin"
    assert (
        main(
            [
                "score",
                str(path),
                "--score",
                "conf",
                "--label",
                "ok",
                "--chunk-size",
                "64",
                "--json",
                "--save-sketch",
                str(sketch_file),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 1000
    assert out["skipped"] == {"non-numeric 'conf'": 1, "'conf' outside [0, 1]": 1, "missing field 'conf'": 1}
    assert out["skipped_first"]["non-numeric 'conf'"].endswith(":13")
    assert out["metrics"]["ece"] == pytest.approx(calipers.ece(p, y), rel=1e-12)
    assert load_saved(sketch_file.read_bytes())[0].sketch == ReliabilitySketch(15).update(p, y)
    assert main(["score", str(path), "--score", "conf", "--label", "ok", "--strict"]) == 1
    assert ":13" in capsys.readouterr().err


def test_probs_column_top_label(tmp_path, capsys, cifar):  # type: ignore[no-untyped-def]
    P, y = cifar
    P, y = P[:500], y[:500]
    path = tmp_path / "log.jsonl"
    with open(path, "w") as fh:
        for row, label in zip(P, y):
            fh.write(json.dumps({"probs": row.tolist(), "label": int(label)}) + "\n")
        fh.write(json.dumps({"probs": [0.5, 0.5], "label": 1}) + "\n")
    assert main(["score", str(path), "--probs", "probs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 500 and out["skipped"] == {"wrong vector length": 1}
    assert out["metrics"]["ece"] == pytest.approx(calipers.ece(P, y), rel=1e-12)


def test_missing_file(capsys):  # type: ignore[no-untyped-def]
    assert main(["score", "/nonexistent/log.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err


def _write_log(path, p, y):  # type: ignore[no-untyped-def]
    with open(path, "w") as fh:
        for i, (a, b) in enumerate(zip(p, y)):
            fh.write(json.dumps({"id": i, "score": float(a), "label": int(b)}) + "\n")


def test_merge_saved_sketches_equals_one_run(tmp_path, capsys):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    p = rng.random(3000)
    y = (rng.random(3000) < p**1.3).astype(int)
    parts = []
    for k, idx in enumerate(np.array_split(np.arange(3000), 3)):
        log, saved = tmp_path / f"part{k}.jsonl", tmp_path / f"part{k}.bin"
        _write_log(log, p[idx], y[idx])
        assert main(["score", str(log), "--save-sketch", str(saved), "--json"]) == 0
        parts.append(str(saved))
    capsys.readouterr()
    merged = tmp_path / "all.bin"
    assert main(["merge", *parts, "-o", str(merged), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 3000
    assert out["metrics"]["ece"] == pytest.approx(calipers.ece(p, y), rel=1e-12)
    assert load_saved(merged.read_bytes())[0].sketch == ReliabilitySketch(15).update(p, y)
    (tmp_path / "bad.bin").write_bytes(b"garbage")
    assert main(["merge", str(tmp_path / "bad.bin")]) == 2
    assert "bad.bin" in capsys.readouterr().err


def test_fit_then_apply(tmp_path, capsys):  # type: ignore[no-untyped-def]
    from calipers import Calibrator

    rng = np.random.default_rng(4)
    p = rng.random(5000)
    y = (rng.random(5000) < p**2).astype(int)
    log = tmp_path / "log.jsonl"
    _write_log(log, p, y)
    with open(log, "a") as fh:
        fh.write('{"id": -1, "score": "oops", "label": 1}\n')
    cal_file = tmp_path / "cal.json"
    assert main(["fit", "isotonic", str(log), "-o", str(cal_file), "--quiet"]) == 0
    cal = Calibrator.from_json(cal_file.read_text())
    expected = ReliabilitySketch(15).update(p, y).calibrator("isotonic")
    assert cal == expected
    out_file = tmp_path / "out.jsonl"
    assert main(["apply", str(cal_file), str(log), "-o", str(out_file)]) == 0
    assert "1 skipped" in capsys.readouterr().err
    with open(out_file) as fh:
        rows = [json.loads(line) for line in fh]
    assert len(rows) == 5001 and rows[0]["id"] == 0  # one output row per input row
    np.testing.assert_allclose([r["calibrated"] for r in rows[:5000]], expected.transform(p), rtol=1e-12)
    assert rows[-1] == {
        "id": -1,
        "score": "oops",
        "label": 1,
        "calibrated": None,
        "calibrated_skip_reason": "non-numeric 'score'",
    }
    assert {r["calibrated_skip_reason"] for r in rows[:5000]} == {None}
    assert main(["apply", str(cal_file), str(log), "-o", str(out_file), "--strict"]) == 1
    assert main(["fit", "platt", str(log), "-o", str(tmp_path / "p.json"), "--quiet"]) == 0
    assert main(["apply", str(tmp_path / "missing.json"), str(log), "-o", str(out_file)]) == 2


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl.gz"])
def test_apply_writes_parquet_and_csv(tmp_path, capsys, suffix):  # type: ignore[no-untyped-def]
    import pandas as pd

    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    rng = np.random.default_rng(6)
    p = rng.random(3000)
    y = (rng.random(3000) < p**2).astype(int)
    log = tmp_path / "log.jsonl"
    _write_log(log, p, y)
    cal_file = tmp_path / "cal.json"
    assert main(["fit", "platt", str(log), "-o", str(cal_file), "--quiet"]) == 0
    out_file = tmp_path / f"out{suffix}"
    assert main(["apply", str(cal_file), str(log), "-o", str(out_file), "--chunk-size", "700", "--quiet"]) == 0
    if suffix == ".parquet":
        table = pd.read_parquet(out_file)
    elif suffix == ".csv":
        table = pd.read_csv(out_file)
    else:
        table = pd.read_json(out_file, lines=True, precise_float=True)
    raw = [] if suffix == ".jsonl.gz" else ["calibrated_raw"]  # a column of CSV and Parquet (JSONL: per row)
    assert list(table.columns) == ["id", "score", "label", "calibrated", "calibrated_skip_reason", *raw]
    assert table["id"].tolist() == list(range(3000))  # every row, in order, across chunks
    assert table["calibrated_skip_reason"].isna().all()
    assert all(table[name].isna().all() for name in raw)
    cal = calipers.Calibrator.from_json(cal_file.read_text())
    np.testing.assert_allclose(table["calibrated"], cal.transform(p), rtol=1e-12)
    assert main(["apply", str(cal_file), str(log), "-o", str(tmp_path / "out.xlsx")]) == 2
    assert "output format" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_apply_on_parquet_is_columnar_and_equals_the_row_path(tmp_path, capsys, suffix, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from calipers import io as cio

    rng = np.random.default_rng(7)
    n = 5000
    p = rng.random(n)
    y = (rng.random(n) < p**2).astype(int)
    p[[3, 40, 41]] = [np.nan, 1.5, -0.2]
    score = pa.array(p, mask=np.isin(np.arange(n), [7]))
    log = tmp_path / "log.parquet"
    pq.write_table(
        pa.table({"id": np.arange(n), "score": score, "label": y, "tag": ["a", "b"] * (n // 2)}),
        log,
        row_group_size=1700,
    )
    cal_file = tmp_path / "cal.json"
    assert main(["fit", "isotonic", str(log), "-o", str(cal_file), "--quiet"]) == 0
    columnar, rows = tmp_path / f"columnar{suffix}", tmp_path / f"rows{suffix}"
    assert main(["apply", str(cal_file), str(log), "-o", str(columnar), "--chunk-size", "999"]) == 0
    err_columnar = capsys.readouterr().err
    monkeypatch.setattr("calipers.cli.commands.parquet_scores_ok", lambda path, cols: False)  # force the row reader
    assert main(["apply", str(cal_file), str(log), "-o", str(rows), "--chunk-size", "999"]) == 0
    assert capsys.readouterr().err == err_columnar.replace(str(columnar), str(rows))
    assert "4 skipped" in err_columnar and "(first at " in err_columnar
    import pandas as pd

    read = pd.read_parquet if suffix == ".parquet" else (lambda f: pd.read_json(f, lines=True, precise_float=True))
    a, b = read(columnar), read(rows)
    assert list(a.columns) == ["id", "score", "label", "tag", "calibrated", "calibrated_skip_reason"]
    assert len(a) == n  # one output row per input row, the skipped ones with a null value and the reason
    np.testing.assert_array_equal(a["id"], np.arange(n))
    np.testing.assert_array_equal(a["id"], b["id"])
    np.testing.assert_allclose(a["calibrated"], b["calibrated"], rtol=0, atol=0)
    skipped = {3: "NaN 'score'", 7: "missing field 'score'", 40: "'score' outside [0, 1]", 41: "'score' outside [0, 1]"}
    for table in (a, b):
        assert {i: table["calibrated_skip_reason"][i] for i in np.flatnonzero(table["calibrated"].isna())} == skipped
        assert table["calibrated_skip_reason"].notna().sum() == 4
    with pytest.raises(cio.MalformedRow, match=r"log.parquet:4: NaN 'score'"):
        list(cio.read_score_batches(str(log), cio.Columns(), strict=True))


def test_parquet_log(tmp_path, capsys):  # type: ignore[no-untyped-def]
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(int)
    scores = [float(v) for v in p] + [None, 1.5]
    labels = [int(v) for v in y] + [1, 0]
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"score": scores, "label": labels}), path, row_group_size=700)
    assert main(["score", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 2000
    assert out["skipped"] == {"missing field 'score'": 1, "'score' outside [0, 1]": 1}
    assert out["skipped_first"]["'score' outside [0, 1]"] == f"{path}:2002"
    assert out["metrics"]["ece"] == pytest.approx(calipers.ece(p, y), rel=1e-12)


def test_html_report(tmp_path, capsys):  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    report = tmp_path / "report"
    assert main(["score", "--sample", "--report", str(report), "--quiet"]) == 0
    page = (report / "index.html").read_text()
    assert 'src="data:image/png;base64,' in page and '<table id="metrics">' in page and "brier" in page
    assert (report / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_groups_windows_prob_columns_and_globs(tmp_path, capsys):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(6)
    n = 4000
    p = rng.random(n)
    y = (rng.random(n) < p**1.5).astype(int)
    model = np.where(rng.random(n) < 0.5, "a", "b")
    t0 = 1_700_000_000
    when = t0 + rng.integers(0, 3 * 3600, n)
    for k, idx in enumerate(np.array_split(np.arange(n), 2)):
        with open(tmp_path / f"day{k}.csv", "w") as fh:
            fh.write("score,label,model,ts,p0,p1\n")
            for i in idx:
                iso = __import__("datetime").datetime.fromtimestamp(int(when[i]), __import__("datetime").timezone.utc)
                stamp = iso.isoformat() if i % 2 else str(int(when[i]))
                fh.write(f"{float(p[i])!r},{y[i]},{model[i]},{stamp},{float(1 - p[i])!r},{float(p[i])!r}\n")
    pattern = str(tmp_path / "day*.csv")
    assert main(["score", pattern, "--by", "model", "--time", "ts", "--window", "1h", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == n and set(out["groups"]) == {"a", "b"}
    for g in ("a", "b"):
        m = model == g
        assert out["groups"][g]["rows"] == int(m.sum())
        assert out["groups"][g]["metrics"]["ece"] == pytest.approx(calipers.ece(p[m], y[m]), rel=1e-12)
    expected_pce = sum(abs(p[model == g].sum() - y[model == g].sum()) for g in ("a", "b")) / n
    assert out["metrics"]["pce"] == pytest.approx(expected_pce, rel=1e-12)
    _, per_hour = np.unique(when // 3600, return_counts=True)
    assert [w["rows"] for w in out["windows"]] == per_hour.tolist()
    assert out["windows"][0]["start"] == "2023-11-14T22:00:00+00:00"  # floor(t0 / 1h) * 1h
    # K probability columns: top-label of (1 - p, p) against label
    assert main(["score", pattern, "--prob-columns", "p0,p1", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)
    P = np.column_stack([1 - p, p])
    assert top["metrics"]["ece"] == pytest.approx(calipers.ece(P, y), rel=1e-12)
    # report with a diagram per group and a drift plot
    report = tmp_path / "report"
    assert (
        main(["score", pattern, "--by", "model", "--time", "ts", "--window", "1h", "--report", str(report), "--quiet"])
        == 0
    )
    capsys.readouterr()
    assert {f.name for f in report.iterdir()} >= {
        "index.html",
        "reliability.png",
        f"reliability_a-{hashlib.sha256(b'a').hexdigest()[:10]}.png",
        f"reliability_b-{hashlib.sha256(b'b').hexdigest()[:10]}.png",
        "drift.png",
    }
    page = (report / "index.html").read_text()
    assert 'id="drift"' in page and f'id="group-a-{hashlib.sha256(b"a").hexdigest()[:10]}"' in page
    assert 'id="windows"' in page
    assert main(["score", str(tmp_path / "nothing*.csv")]) == 2
    assert "no file matches" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", pattern, "--window", "1h"])  # --window needs --time
    with pytest.raises(SystemExit):
        main(["score", pattern, "--time", "ts", "--window", "soon"])


def test_parquet_columnar_path_matches_row_path(tmp_path, capsys):  # type: ignore[no-untyped-def]
    """The same skipped counts, first positions and metrics whichever reader runs."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from calipers import io as cio

    rng = np.random.default_rng(8)
    n = 5000
    p = rng.random(n)
    y = (rng.random(n) < p).astype(float)
    p[[5, 50, 500]] = [np.nan, 1.5, -0.1]
    y[[7, 70]] = [2, 0.5]
    labels = pa.array(y, mask=np.isin(np.arange(n), [9]))
    scores = pa.array(p, mask=np.isin(np.arange(n), [11, 12]))
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"score": scores, "label": labels, "g": ["x", "y"] * (n // 2)}), path, row_group_size=999)
    cols = cio.Columns(group="g")
    assert cio.parquet.parquet_columnar_ok(str(path), cols)
    fast_skipped, slow_skipped = cio.Skipped(), cio.Skipped()
    fast = list(cio.parquet.parquet_columnar(str(path), cols, 1000, False, fast_skipped))
    slow = list(cio.rows.row_chunks(str(path), cols, cio.rows.RowParser(cols, None, True), 1000, False, slow_skipped))
    assert fast_skipped.counts == slow_skipped.counts and fast_skipped.first == slow_skipped.first
    assert fast_skipped.counts == {
        "NaN 'score'": 1,
        "'score' outside [0, 1]": 2,
        "'label' not 0 or 1": 1,
        "'label' is not an integer": 1,
        "missing field 'label'": 1,
        "missing field 'score'": 2,
    }
    np.testing.assert_array_equal(np.concatenate([c.scores for c in fast]), np.concatenate([c.scores for c in slow]))
    np.testing.assert_array_equal(np.concatenate([c.labels for c in fast]), np.concatenate([c.labels for c in slow]))
    assert [g for c in fast for g in c.groups] == [g for c in slow for g in c.groups]
    with pytest.raises(cio.MalformedRow, match=r"log.parquet:6: NaN 'score'"):
        list(cio.parquet.parquet_columnar(str(path), cols, 1000, True, cio.Skipped()))


@pytest.mark.parametrize("time_type", ["timestamp[s]", "timestamp[ms, tz=UTC]", "timestamp[us]", "float64", "int64"])
def test_parquet_columnar_groups_and_times(tmp_path, time_type):  # type: ignore[no-untyped-def]
    """Group keys (with nulls and empty strings) and numeric or timestamp times: the columnar
    reader gives what the row reader gives, reasons and first rows included."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from calipers import io as cio

    rng = np.random.default_rng(9)
    n = 4000
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    groups = rng.choice(["a", "b", "ümlaut", ""], n).tolist()
    groups[3] = None
    ticks = 1_767_225_600 + rng.integers(0, 10**6, n)
    if time_type.startswith("timestamp"):
        unit = time_type.split("[")[1].split(",")[0].rstrip("]")
        scale = {"s": 1, "ms": 1000, "us": 10**6}[unit]
        times = pa.array(
            ticks * scale + rng.integers(0, scale, n),
            mask=np.isin(np.arange(n), [8]),
            type=pa.timestamp(unit, tz="UTC" if "UTC" in time_type else None),
        )
    else:
        values = ticks + (rng.random(n) if time_type == "float64" else 0)
        times = pa.array(values.astype(time_type), mask=np.isin(np.arange(n), [8]))
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"score": p, "label": y, "g": groups, "t": times}), path, row_group_size=1500)
    cols = cio.Columns(group="g", time="t")
    assert cio.parquet.parquet_columnar_ok(str(path), cols)
    fast_skipped, slow_skipped = cio.Skipped(), cio.Skipped()
    fast = list(cio.parquet.parquet_columnar(str(path), cols, 1000, False, fast_skipped))
    slow = list(cio.rows.row_chunks(str(path), cols, cio.rows.RowParser(cols, None, True), 1000, False, slow_skipped))
    assert fast_skipped.counts == slow_skipped.counts and fast_skipped.first == slow_skipped.first
    assert fast_skipped.counts["missing field 'g'"] > 900 and fast_skipped.counts["missing field 't'"] == 1
    for name in ("scores", "labels", "times"):
        np.testing.assert_array_equal(
            np.concatenate([getattr(c, name) for c in fast]), np.concatenate([getattr(c, name) for c in slow])
        )
    assert [g for c in fast for g in c.groups] == [g for c in slow for g in c.groups]


def test_progress_reports_rows_bytes_and_eta_within_a_file(tmp_path, capsys, monkeypatch):
    from calipers.cli.common import Progress as _Progress
    from calipers.io import Columns, read_table_chunks
    from calipers.io import scan as _fast_reader

    monkeypatch.setattr(_fast_reader, "_BLOCK_BYTES", 1 << 20)  # several blocks in a 4 MB file

    rng = np.random.default_rng(0)
    path = tmp_path / "big.csv"
    p = rng.random(400_000)
    np.savetxt(
        path,
        np.column_stack([p, rng.random(p.size) < p]),
        fmt=["%.6f", "%d"],
        delimiter=",",
        header="score,label",
        comments="",
    )
    progress = _Progress(True, path.stat().st_size)
    rows = 0
    for chunk in read_table_chunks([str(path)], Columns(), on_bytes=progress.within_file):
        rows += len(chunk.labels)
        progress(rows)
    progress.file_done(path.stat().st_size)
    progress(rows, done=True)
    err = capsys.readouterr().err
    if _fast_reader.scanner() is not None:
        assert "ETA" in err  # an ETA while the file was half read, not only at its end
    assert f"{rows:,} rows" in err and "rows/s" in err and err.endswith("\n")


def test_bootstrap_interval_and_smooth_ece_in_the_report(tmp_path, capsys):
    assert main(["score", "--sample", "--bootstrap", "400", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lo, hi = out["metrics"]["ece_width_interval_95"]
    assert lo < out["metrics"]["ece"] < hi
    p, y = [], []
    with open(calipers.sample_log_path()) as fh:
        for line in fh:
            rec = json.loads(line)
            p.append(rec["score"])
            y.append(rec["label"])
    assert out["metrics"]["smooth_ece"] == pytest.approx(calipers.smooth_ece(p, y), abs=5e-3)
    assert main(["score", "--sample", "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "95% interval" in text and "smooth ECE" in text


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "jsonl.gz", "csv.gz"])
def test_malformed_rows_in_every_format(tmp_path, capsys, fmt):
    """The same generated log in each format, bad rows at known places: exact counts per
    reason, the first file:line of each, strict mode's line, and metrics equal to the
    in-memory computation on the valid rows."""
    rng = np.random.default_rng(21)
    n = 3000
    p = rng.random(n)
    y = (rng.random(n) < p**1.4).astype(int)
    rows = [(float(a), int(b)) for a, b in zip(p, y)]
    bad = {
        100: (None, 1),
        101: (1.5, 0),
        700: (float("nan"), 1),
        1500: (0.5, 2),
        2200: (0.25, 0.5),
        2201: (-0.1, 1),
        2900: (None, 0),
    }
    expected = {
        "missing field 'score'": (2, 101),
        "'score' outside [0, 1]": (2, 102),
        "NaN 'score'": (1, 701),
        "'label' not 0 or 1": (1, 1501),
        "'label' is not an integer": (1, 2201),
    }
    for at in sorted(bad):  # ascending: each key is the final 0-based row
        rows.insert(at, bad[at])
    path = tmp_path / f"log.{fmt}"
    header = 0
    if fmt.startswith("parquet"):
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(
            pa.table({"score": [r[0] for r in rows], "label": [float(r[1]) for r in rows]}), path, row_group_size=1000
        )
    else:
        opener = gzip.open if fmt.endswith(".gz") else open
        with opener(path, "wt") as fh:
            if fmt.startswith("csv"):
                header = 1
                fh.write("score,label\n")
                for s, lab in rows:
                    fh.write(f"{'' if s is None else repr(s)},{lab}\n")
            else:
                for s, lab in rows:
                    fh.write(json.dumps({"score": s, "label": lab}) + "\n")
    assert main(["score", str(path), "--json", "--chunk-size", "512"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == n
    assert out["skipped"] == {reason: count for reason, (count, _) in expected.items()}
    for reason, (_, line) in expected.items():
        assert out["skipped_first"][reason] == f"{path}:{line + header}"
    assert out["metrics"]["ece"] == pytest.approx(calipers.ece(p, y), rel=1e-12)
    assert out["metrics"]["brier"] == pytest.approx(calipers.brier(p, y), rel=1e-12)
    assert main(["score", str(path), "--strict"]) == 1
    assert f"{path}:{101 + header}: missing field 'score'" in capsys.readouterr().err
