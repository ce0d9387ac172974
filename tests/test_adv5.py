"""Findings 2, 3 and 4 of the fifth adversarial pass (adv5_findings.md), each written as a
user hits it: the exit code, the one-line message and the files after the run.

2 and 3: a Parquet log whose schema names a column twice (a used one, or a pass-through one
that ``apply`` would reduce to its last copy) is an unreadable file on every path, as a CSV
header naming a column twice is. 4: ``apply`` writes a JSON number beyond float range of a
JSONL input (``1e400``, ``-1e999``) back as its original text in JSONL output, rather than
null; CSV and Parquet output keep inf / -inf as before."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from calipers.cli import main
from calipers.io import Columns, read_table_chunks
from calipers.io.records import UnreadableFile, WideNumber
from calipers.io.rows import json_record

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _calibrator(tmp_path: Path) -> Path:
    log = tmp_path / "l.jsonl"
    log.write_text('{"score":0.2,"label":0}\n{"score":0.8,"label":1}\n')
    cal = tmp_path / "cal.json"
    assert main(["fit", "isotonic", str(log), "-o", str(cal), "--quiet"]) == 0
    return cal


def _parquet(path: Path, names: list[str], columns: list[list[float]]) -> Path:
    pq.write_table(pa.Table.from_arrays([pa.array(c) for c in columns], names=names), path)
    return path


def _dup_score(tmp_path: Path) -> Path:
    """The finding's file: 'score' twice (the second copy differs)."""
    return _parquet(tmp_path / "dup.parquet", ["score", "label", "score"], [[0.2, 0.8], [0, 1], [0.9, 0.1]])


def _dup_extra(tmp_path: Path) -> Path:
    """A pass-through column 'x' twice: apply kept only the last copy."""
    return _parquet(tmp_path / "dupx.parquet", ["score", "label", "x", "x"], [[0.2, 0.8], [0, 1], [1, 2], [3, 4]])


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- 2 and 3: a Parquet schema naming a column twice --------------------------------------


@pytest.mark.parametrize("make,name", [(_dup_score, "score"), (_dup_extra, "x")])
def test_score_refuses_a_parquet_file_naming_a_column_twice(tmp_path, capsys, make, name):  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    code, out, err = _run(capsys, "score", str(path))
    assert code == 2 and out == ""
    line = _one_line(err)
    assert f"cannot read {path}: duplicate Parquet column (the schema names {name!r} 2 times)" in line


@pytest.mark.parametrize("make", [_dup_score, _dup_extra])
def test_keep_going_counts_the_file_as_unreadable_and_scores_the_others(tmp_path, capsys, make):  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    good = tmp_path / "good.jsonl"
    good.write_text('{"score":0.2,"label":0}\n{"score":0.8,"label":1}\n{"score":0.6,"label":1}\n')
    code, out, err = _run(capsys, "score", str(path), str(good), "--keep-going", "--json", "--quiet")
    assert code == 0 and "Traceback" not in err
    report = json.loads(out)
    assert report["rows"] == 3
    assert report["skipped"] == {"unreadable file: duplicate Parquet column": 1}
    # alone, with --keep-going: nothing scored, one line naming the reason, exit 1
    code, out, err = _run(capsys, "score", str(path), "--keep-going")
    assert code == 1 and "unreadable file: duplicate Parquet column" in _one_line(err)


def test_the_csv_wording_is_the_same(tmp_path, capsys):  # type: ignore[no-untyped-def]
    path = tmp_path / "d.csv"
    path.write_text("score,label,score\n0.2,0,0.9\n")
    code, _, err = _run(capsys, "score", str(path))
    assert code == 2
    assert f"cannot read {path}: duplicate CSV column (the header names 'score' 2 times)" in _one_line(err)


@pytest.mark.parametrize("make,name", [(_dup_score, "score"), (_dup_extra, "x")])
@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_fit_refuses_it(tmp_path, capsys, make, name, method):  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    out_file = tmp_path / "c.json"
    code, _, err = _run(capsys, "fit", method, str(path), "-o", str(out_file))
    assert code == 2 and not out_file.exists()
    assert f"duplicate Parquet column (the schema names {name!r} 2 times)" in _one_line(err)


@pytest.mark.parametrize("make,name", [(_dup_score, "score"), (_dup_extra, "x")])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_apply_refuses_it_and_writes_nothing(tmp_path, capsys, make, name, suffix):  # type: ignore[no-untyped-def]
    cal = _calibrator(tmp_path)
    path = make(tmp_path)
    out_file = tmp_path / f"o{suffix}"
    code, _, err = _run(capsys, "apply", str(cal), str(path), "-o", str(out_file))
    assert code == 2 and not out_file.exists()
    assert f"cannot read {path}: duplicate Parquet column (the schema names {name!r} 2 times)" in _one_line(err)


def test_the_row_paths_refuse_it_too(tmp_path, capsys):  # type: ignore[no-untyped-def]
    """--prob-columns (row by row), fit lcc (prediction rows) and the library reader."""
    path = _parquet(tmp_path / "p.parquet", ["p0", "p1", "label", "p1"], [[0.2, 0.7], [0.8, 0.3], [1, 0], [0.8, 0.3]])
    code, _, err = _run(capsys, "score", str(path), "--prob-columns", "p0,p1")
    assert code == 2 and "duplicate Parquet column (the schema names 'p1' 2 times)" in _one_line(err)
    pred = _parquet(
        tmp_path / "pred.parquet", ["pred", "truth", "truth"], [[0.1, 0.5, 0.9], [0.0, 0.6, 1.0], [0.0, 0.6, 1.0]]
    )
    out_file = tmp_path / "lcc.json"
    code, _, err = _run(
        capsys, "fit", "lcc", str(pred), "--prediction", "pred", "--target", "truth", "-o", str(out_file)
    )
    assert code == 2 and not out_file.exists()
    assert "duplicate Parquet column (the schema names 'truth' 2 times)" in _one_line(err)
    with pytest.raises(UnreadableFile, match="duplicate Parquet column") as info:
        list(read_table_chunks([str(_dup_extra(tmp_path))], Columns()))
    assert info.value.reason == "duplicate Parquet column"
    with pytest.raises(UnreadableFile, match="the schema names 'score' 2 times"):
        list(read_table_chunks([str(_dup_score(tmp_path))], Columns(), fast=False))


def test_parquet_without_duplicates_still_applies(tmp_path, capsys):  # type: ignore[no-untyped-def]
    """The check refuses only a repeated name: 'x' and 'X' are two columns."""
    cal = _calibrator(tmp_path)
    path = _parquet(tmp_path / "ok.parquet", ["score", "label", "x", "X"], [[0.2, 0.8], [0, 1], [1, 2], [3, 4]])
    out_file = tmp_path / "o.jsonl"
    code, _, err = _run(capsys, "apply", str(cal), str(path), "-o", str(out_file), "--quiet")
    assert code == 0, err
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [(r["x"], r["X"], r["calibrated"]) for r in rows] == [(1, 3, 0.0), (2, 4, 1.0)]


# -- 4: JSON numbers beyond float range keep their text in JSONL output -------------------

_WIDE = ["1e400", "-1e999", "1E+400", "-0.5e309", "1" + "0" * 400 + ".0", "123456789e301", "1" + "0" * 250 + "e90"]


@pytest.mark.parametrize("text", _WIDE)
def test_a_wide_number_is_read_as_an_infinity_that_keeps_its_text(text):  # type: ignore[no-untyped-def]
    rec = json_record(f'{{"v": {text}, "s": "{text}", "f": 1e308, "g": 2.5}}')
    assert isinstance(rec, dict)
    value = rec["v"]
    assert isinstance(value, WideNumber) and value.text == text
    assert value == (-math.inf if text.startswith("-") else math.inf)
    assert rec["s"] == text  # a string stays a string
    assert type(rec["f"]) is float and rec["f"] == 1e308  # in range: a plain float
    assert type(rec["g"]) is float


def _big_log(tmp_path: Path) -> Path:
    path = tmp_path / "big.jsonl"
    path.write_text(
        '{"score":0.2,"label":0,"big":1e400,"nbig":-1e999,"n":{"a":[1E+400,2.5]},"nan":NaN}\n'
        '{"score":1e400,"label":1,"s":"1e400"}\n'
        '{"score":0.8,"label":1,"ok":1e308}\n'
    )
    return path


def test_apply_to_jsonl_keeps_the_number_text(tmp_path, capsys):  # type: ignore[no-untyped-def]
    cal = _calibrator(tmp_path)
    out_file = tmp_path / "o.jsonl"
    code, _, err = _run(capsys, "apply", str(cal), str(_big_log(tmp_path)), "-o", str(out_file), "--quiet")
    assert code == 0, err
    lines = out_file.read_text().splitlines()
    assert lines[0] == (
        '{"score": 0.2, "label": 0, "big": 1e400, "nbig": -1e999, "n": {"a": [1E+400, 2.5]}, "nan": null, '
        '"calibrated": 0.0, "calibrated_skip_reason": null}'
    )
    assert lines[1] == (
        '{"score": 1e400, "label": 1, "s": "1e400", "calibrated": null, '
        '"calibrated_skip_reason": "\'score\' outside [0, 1]"}'
    )
    rows = [json.loads(line) for line in lines]  # still JSON Python reads, with the values it read
    assert rows[0]["big"] == math.inf and rows[0]["nbig"] == -math.inf and rows[0]["calibrated"] == 0.0
    assert rows[2]["ok"] == 1e308 and rows[2]["calibrated"] == 1.0
    # the output read back writes the same text again
    again = tmp_path / "again.jsonl"
    code, _, err = _run(capsys, "apply", str(cal), str(out_file), "-o", str(again), "--column", "c2", "--quiet")
    assert code == 0, err
    assert [json.loads(line)["nbig"] for line in again.read_text().splitlines()[:1]] == [-math.inf]
    assert '"nbig": -1e999' in again.read_text()


def test_csv_and_parquet_outputs_keep_inf(tmp_path, capsys):  # type: ignore[no-untyped-def]
    cal = _calibrator(tmp_path)
    log = _big_log(tmp_path)
    code, _, err = _run(capsys, "apply", str(cal), str(log), "-o", str(tmp_path / "o.csv"), "--quiet")
    assert code == 0, err
    with open(tmp_path / "o.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert (rows[0]["big"], rows[0]["nbig"], rows[0]["calibrated"]) == ("inf", "-inf", "0.0")
    assert (rows[1]["score"], rows[1]["s"]) == ("inf", "1e400")
    code, _, err = _run(capsys, "apply", str(cal), str(log), "-o", str(tmp_path / "o.parquet"), "--quiet")
    assert code == 0, err
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.schema.field("big").type == pa.float64()
    assert table.column("big").to_pylist()[0] == math.inf
    assert table.column("nbig").to_pylist()[0] == -math.inf
    assert table.column("n").to_pylist()[0] == {"a": [math.inf, 2.5]}
    assert table.column("score").to_pylist()[1] == math.inf
    np.testing.assert_array_equal(table.column("calibrated").to_numpy(zero_copy_only=False), [0.0, np.nan, 1.0])


def test_score_sees_the_same_values(tmp_path, capsys):  # type: ignore[no-untyped-def]
    """A wide score is out of range on the row reader and the C++ scanner alike."""
    log = _big_log(tmp_path)
    code, out, err = _run(capsys, "score", str(log), "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    assert report["rows"] == 2 and report["skipped"] == {"'score' outside [0, 1]": 1}
    for fast in (True, False):
        chunks = list(read_table_chunks([str(log)], Columns(), fast=fast))
        # sorted: the scanner yields the lines it defers to the row parser after the others
        np.testing.assert_array_equal(np.sort(np.concatenate([c.scores for c in chunks])), [0.2, 0.8])
