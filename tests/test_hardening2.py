"""Hardening round 2 (issue 11): each adversarial finding as a user hits it, from the command
line or the public API, with the exact exit code, message and files after the run."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from signals import signal_mid_write

import calipers
from calipers.cli import main
from calipers.io import Columns, Skipped, read_table_chunks

DEEP = "[" * 100_000 + "]" * 100_000


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return p, (rng.random(n) < p**1.3).astype(int)


def _jsonl(path: Path, p: np.ndarray, y: np.ndarray) -> Path:
    path.write_text("".join(json.dumps({"score": float(a), "label": int(b)}) + "\n" for a, b in zip(p, y)))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cal(tmp_path: Path) -> Path:
    p, y = _data()
    log = _jsonl(tmp_path / "fit.jsonl", p, y)
    assert main(["fit", "isotonic", str(log), "-o", str(tmp_path / "cal.json"), "--quiet"]) == 0
    return tmp_path / "cal.json"


# -- 1. deeply nested JSON ---------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_deeply_nested_jsonl_row_is_an_invalid_row(tmp_path: Path, fast: bool) -> None:
    """Finding: a JSONL row holding [[[[...]]]] 100k deep gave a RecursionError traceback."""
    path = tmp_path / "deep.jsonl"
    path.write_text('{"score": 0.5, "label": 1}\n{"score": 0.5, "label": 1, "x": ' + DEEP + "}\n")
    skipped = Skipped()
    chunks = list(read_table_chunks([str(path)], Columns(), skipped=skipped, fast=fast))
    assert sum(len(c.labels) for c in chunks) == 1
    assert skipped.counts == {"JSON nested too deeply": 1} and skipped.first == {"JSON nested too deeply": f"{path}:2"}


def test_deeply_nested_rows_in_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path) -> None:
    jsonl = tmp_path / "deep.jsonl"
    jsonl.write_text('{"score": 0.5, "label": 1}\n' + DEEP + "\n")
    code, out, err = _run(capsys, "score", str(jsonl), "--json")
    assert code == 0 and json.loads(out)["skipped"] == {"JSON nested too deeply": 1}
    csv = tmp_path / "deep.csv"
    deep_cell = "[" * 5000 + "]" * 5000  # within the csv module's field limit (131072 characters)
    csv.write_text('probs,label\n"[0.25, 0.75]",1\n"' + deep_cell + '",1\n"' + DEEP + '",1\n')
    code, out, err = _run(capsys, "score", str(csv), "--probs", "probs", "--json")
    assert code == 0 and json.loads(out)["skipped"] == {
        # a cell beyond the csv module's field limit is read too (hardening3 item 17)
        "'probs' is JSON nested too deeply": 2,
    }
    out_path = tmp_path / "out.jsonl"
    code, _, err = _run(capsys, "apply", str(cal), str(jsonl), "-o", str(out_path), "--quiet")
    assert code == 0, err
    rows = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert rows[1]["calibrated"] is None and rows[1]["calibrated_skip_reason"] == "JSON nested too deeply"


@pytest.mark.parametrize("family", ["calibrator", "correction"])
def test_deeply_nested_fitted_json_is_a_value_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], family: str
) -> None:
    fmt = "calipers.calibrator" if family == "calibrator" else "calipers.correction"
    text = '{"format": "' + fmt + '", "x": ' + DEEP + "}"
    loader = calipers.Calibrator if family == "calibrator" else calipers.debias.Correction
    with pytest.raises(ValueError, match=r"nested deeper than 256 levels: line 1 column \d+"):
        loader.from_json(text)
    with pytest.raises(ValueError, match="nested deeper than 256 levels"):
        loader.from_json(text.encode())
    path = tmp_path / "deep.json"
    path.write_text(text)
    log = _jsonl(tmp_path / "in.jsonl", *_data(20))
    code, _out, err = _run(capsys, "apply", str(path), str(log), "-o", str(tmp_path / "o.jsonl"))
    assert code == 2 and err.startswith(f"calipers apply: cannot read {path}: ") and "nested deeper" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "o.jsonl").exists()


def test_deeply_nested_blob_headers_are_value_errors() -> None:
    """A blob's JSON header, rewritten to nest deeply and resealed (the CRC is public)."""
    import struct

    from calipers._common import serde

    grouped = calipers.GroupedSketch().update([0.2, 0.7], [0, 1], ["a", "b"])
    header = ("[" * 5000 + "]" * 5000).encode()
    payload = struct.pack("<I", len(header)) + header
    blob = serde.pack_payload(serde.TYPE_GROUPED_SKETCH, payload)
    with pytest.raises(ValueError, match="nested deeper than 256 levels"):
        calipers.GroupedSketch.from_bytes(blob)
    assert grouped.count == 2
    from calipers.cli.saved import load_saved

    with pytest.raises(ValueError, match="nested deeper than 256 levels"):
        load_saved(serde.pack_payload(serde.TYPE_SAVED_SCORE, payload))


def test_nesting_rule_is_exact_and_skips_strings() -> None:
    from calipers._common.jsontext import MAX_DEPTH, loads

    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(ValueError, match=f"line 1 column {MAX_DEPTH + 1} "):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    text = json.dumps({"s": "[" * 10_000, "t": '\\"[' * 300})  # brackets inside strings are text
    assert loads(text) == json.loads(text)


# -- 2. apply never overwrites a column of the input -------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize(
    ("taken", "argv", "option"),
    [
        ("calibrated", [], "--column"),
        ("calibrated_skip_reason", [], "--reason-column"),
        ("out", ["--column", "out"], "--column"),
        ("why", ["--reason-column", "why"], "--reason-column"),
        ("calibrated_raw", [], "--column"),
    ],
)
def test_apply_refuses_an_output_column_the_input_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path, fmt: str, taken: str, argv: list[str], option: str
) -> None:
    """Finding: `calipers apply` silently overwrote an existing `calibrated` field (or the reason
    column, or the --column given) of the input rows."""
    rows = [{"score": 0.25, "label": 0, "note": "a"}, {"score": 0.75, "label": 1, "note": "b", taken: "keep me"}]
    if fmt == "parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        rows[0][taken] = None
        path = tmp_path / "in.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
        where = str(path)
    elif fmt == "csv":
        path = tmp_path / "in.csv"
        path.write_text(f"score,label,note,{taken}\n0.25,0,a,\n0.75,1,b,keep me\n")
        where = str(path)
    else:
        path = tmp_path / "in.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        where = f"{path}:2"  # JSONL rows name their own fields: the first row that has it
    before = path.read_bytes()
    out = tmp_path / "out.jsonl"
    code, stdout, err = _run(capsys, "apply", str(cal), str(path), "-o", str(out), *argv)
    assert (code, stdout) == (2, "")
    assert err == (
        f"calipers apply: {where} already has a column {taken!r}: apply would overwrite it; "
        f"name the new column with {option} NAME\n"
    )
    assert not out.exists() and path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == sorted(["cal.json", "fit.jsonl", path.name])


def test_apply_with_another_column_keeps_the_input_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("score,label,calibrated\n0.25,0,keep me\n")
    out = tmp_path / "out.csv"
    assert main(["apply", str(cal), str(path), "-o", str(out), "--column", "cal2", "--quiet"]) == 0
    model = calipers.Calibrator.from_json(cal.read_text())
    assert out.read_text().splitlines() == [
        "score,label,calibrated,cal2,cal2_skip_reason,cal2_raw",
        f"0.25,0,keep me,{model.transform(0.25)!r},,",
    ]


# -- 3. apply keeps the text of lines that are not records -------------------------------------


def test_apply_keeps_the_raw_text_of_malformed_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path
) -> None:
    """Finding: apply wrote a row without the original content for a malformed JSONL line."""
    path = tmp_path / "in.jsonl"
    lines = [b'{"score": 0.25, "label": 0}', b'{"score": 0.5, "lab', b"\xff\xfe not utf-8 {", b"[1, 2]", b"  "]
    path.write_bytes(b"\n".join(lines) + b"\r\n")  # CRLF on the last line: the CR is not text
    out = tmp_path / "out.jsonl"
    code, _, err = _run(capsys, "apply", str(cal), str(path), "-o", str(out), "--quiet")
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("calibrated_raw") for r in rows] == [None, '{"score": 0.5, "lab', "\\xff\\xfe not utf-8 {", "[1, 2]"]
    assert [r["calibrated_skip_reason"] for r in rows] == [None, "invalid JSON", "invalid UTF-8", "not a JSON object"]
    assert "calibrated_raw" not in rows[0]  # JSONL rows carry it only where a line was not a record


# -- 5. a stray CR inside a CSV line -----------------------------------------------------------


def test_stray_cr_is_one_skipped_row_on_every_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path
) -> None:
    """Finding: the row reader called the whole file unreadable, the scanner and apply
    disagreed. One rule: lines end at LF (one CR before it dropped); a CR elsewhere in an
    unquoted field makes that row 'stray CR in an unquoted CSV field'."""
    path = tmp_path / "cr.csv"
    path.write_bytes(b'score,label,note\n0.1,0,a\n0.25\r,1,b\n0.5,0,"c\rd"\r\n0.7,1,e\r\r\n\r\n0.9,1\r,f\n')
    expected = {"stray CR in an unquoted CSV field": 2}  # lines 3 and 8
    for fast in (True, False):
        skipped = Skipped()
        chunks = list(read_table_chunks([str(path)], Columns(), skipped=skipped, fast=fast))
        scores = sorted(np.concatenate([c.scores for c in chunks]).tolist())
        assert scores == [0.1, 0.5, 0.7]  # "0.7,1,e\r\r\n": one CR is the line end, csv takes the other
        assert skipped.counts == expected and skipped.first == dict.fromkeys(expected, f"{path}:3")
    code, out, _err = _run(capsys, "score", str(path), "--json")
    assert code == 0 and json.loads(out)["rows"] == 3 and json.loads(out)["skipped"] == expected
    out_path = tmp_path / "out.jsonl"
    assert main(["apply", str(cal), str(path), "-o", str(out_path), "--quiet"]) == 0
    rows = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert (
        len(rows) == 5
        and rows[4]["calibrated_raw"] == "0.9,1\r,f"
        and rows[1]
        == {
            "calibrated": None,
            "calibrated_skip_reason": "stray CR in an unquoted CSV field",
            "calibrated_raw": "0.25\r,1,b",
        }
    )
    assert rows[2]["note"] == "c\rd"  # a CR inside quotes is text


# -- 12. duplicate CSV header names ------------------------------------------------------------


@pytest.mark.parametrize("command", ["score", "fit", "apply"])
def test_duplicate_csv_header_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path, command: str
) -> None:
    """Finding: a header naming a column twice was taken silently (one of them won)."""
    path = tmp_path / "dup.csv"
    path.write_text("score,label,score\n0.1,0,0.9\n0.8,1,0.2\n")
    argv = {
        "score": ["score", str(path)],
        "fit": ["fit", "platt", str(path), "-o", str(tmp_path / "c.json")],
        "apply": ["apply", str(cal), str(path), "-o", str(tmp_path / "o.csv")],
    }[command]
    code, out, err = _run(capsys, *argv)
    detail = f"cannot read {path}: duplicate CSV column (the header names 'score' 2 times)"
    assert (code, out) == (2, "") and err.startswith(f"calipers {command}: {detail}") and err.count("\n") == 1
    for fast in (True, False):
        with pytest.raises(ValueError, match=r"duplicate CSV column \(the header names 'score' 2 times\)"):
            list(read_table_chunks([str(path)], Columns(), fast=fast))


# -- 15. one strict number rule ----------------------------------------------------------------

_NOT_NUMBERS = ["0.2_5", "\uff10.\uff15", "\u00a00.5", "0x1", "1_0", "½"]


@pytest.mark.parametrize("fast", [True, False])
def test_number_rule_is_strict_in_csv_and_jsonl(tmp_path: Path, fast: bool) -> None:
    """Finding: the row parser took `0.2_5`, full-width digits (Python's float() does), JSON
    `true` as a score and the label "0_1"."""
    csv = tmp_path / "n.csv"
    csv.write_text(
        "score,label\n0.25,1\n" + "".join(f"{bad},1\n" for bad in _NOT_NUMBERS) + "0.5,0_1\n0.5,\uff11\n 0.75\t,1.0\n",
        encoding="utf-8",
    )
    skipped = Skipped()
    chunks = list(read_table_chunks([str(csv)], Columns(), skipped=skipped, fast=fast))
    assert sorted(np.concatenate([c.scores for c in chunks]).tolist()) == [0.25, 0.75]  # spaces/tabs are fine
    assert skipped.counts == {"non-numeric 'score'": len(_NOT_NUMBERS), "non-numeric 'label'": 2}
    jsonl = tmp_path / "n.jsonl"
    rows = [{"score": True, "label": 1}, {"score": "0.2_5", "label": 1}, {"score": 0.5, "label": "0_1"}]
    rows += [{"score": 0.5, "label": True}, {"score": "0.5", "label": False}]  # a label may be a boolean
    rows += [{"probs": [True, False], "label": 0}]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    skipped = Skipped()
    chunks = list(read_table_chunks([str(jsonl)], Columns(), skipped=skipped, fast=fast))
    labels = np.concatenate([c.labels for c in chunks]).tolist()
    assert sorted(labels) == [0, 1]
    assert skipped.counts == {"non-numeric 'score'": 2, "non-numeric 'label'": 1, "missing field 'score'": 1}
    skipped = Skipped()
    assert not list(read_table_chunks([str(jsonl)], Columns(probs="probs"), skipped=skipped, fast=fast))
    assert skipped.counts["non-numeric 'probs'"] == 1


def test_number_rule_in_parquet_and_correction_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({"score": [True, False], "label": [True, False]}), path)
    skipped = Skipped()
    assert not list(read_table_chunks([str(path)], Columns(), skipped=skipped))
    assert skipped.counts == {"non-numeric 'score'": 2}
    pq.write_table(pa.table({"score": [0.75, 0.25], "label": [True, False]}), path)  # a boolean label is fine
    assert np.concatenate([c.labels for c in read_table_chunks([str(path)], Columns())]).tolist() == [1, 0]
    from calipers.io.pairs import read_pairs

    log = tmp_path / "p.csv"
    log.write_text("pred,target\n1_0,1\n1.5,2\n\uff11,1\n")
    skipped = Skipped()
    pairs = list(read_pairs([str(log)], "pred", "target", chunk_size=10, strict=False, skipped=skipped))
    assert [p.tolist() for p in pairs[0]] == [[1.5], [2.0]]
    assert skipped.counts == {"'pred' is not a number": 2}


# -- 6. the same input twice -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "how"),
    [
        (command, how)
        for command in ("score", "fit", "apply", "merge")
        for how in ("same", "dotdot", "symlink", "hardlink", "glob")
        if (command, how) != ("merge", "glob")  # merge takes names as they are (the shell expands globs)
    ],
)
def test_the_same_input_twice_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path, how: str, command: str
) -> None:
    """Finding: the same file given twice (also via a hard link or symlink, and `calipers
    merge s.bin s.bin`) was silently double-counted."""
    p, y = _data(50)
    path = _jsonl(tmp_path / "a.jsonl", p, y)
    if command == "merge":
        assert main(["score", str(path), "--save-sketch", str(tmp_path / "s.bin"), "--quiet"]) == 0
        capsys.readouterr()
        path = tmp_path / "s.bin"
    (tmp_path / "sub").mkdir()
    other = {
        "same": str(path),
        "dotdot": str(tmp_path / "sub" / ".." / path.name),
        "symlink": str(tmp_path / "link"),
        "hardlink": str(tmp_path / "hard"),
        "glob": str(tmp_path / f"*{path.suffix}"),
    }[how]
    if how == "symlink":
        os.symlink(path, other)
    elif how == "hardlink":
        os.link(path, other)
    shown = f"{path} is given twice" if how in ("same", "glob") else f"{path} and {other} are the same file"
    what = "sketch" if command == "merge" else "rows"
    argv = {
        "score": ["score", str(path), other],
        "fit": ["fit", "platt", str(path), other, "-o", str(tmp_path / "c.json")],
        "apply": ["apply", str(cal), str(path), other, "-o", str(tmp_path / "o.jsonl")],
        "merge": ["merge", str(path), other, "-o", str(tmp_path / "m.bin")],
    }[command]
    listing = sorted(os.listdir(tmp_path))
    assert _run(capsys, *argv) == (
        2,
        "",
        f"calipers {command}: {shown}: its {what} would be counted twice; give each file once\n",
    )
    assert sorted(os.listdir(tmp_path)) == listing


def test_the_sample_log_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    sample = calipers.sample_log_path()
    code, _, err = _run(capsys, "score", sample, "--sample")
    assert code == 2 and err.endswith("is given twice: its rows would be counted twice; give each file once\n")


# -- 7. compact grids for --by and --window ----------------------------------------------------


def test_grouped_sketch_keeps_its_grid() -> None:
    rng = np.random.default_rng(7)
    p, y, g = rng.random(3000), rng.integers(0, 2, 3000), rng.integers(0, 40, 3000)
    fine = calipers.GroupedSketch(15).update(p, y, g)
    compact = calipers.GroupedSketch(15, grid="compact").update(p, y, g)
    assert compact.grid == "compact" and fine.grid == "fine" and "grid='compact'" in repr(compact)
    assert all(s.nbytes == 4672 for _, s in compact.items()) and all(s.nbytes == 127552 for _, s in fine.items())
    again = calipers.GroupedSketch.from_bytes(compact.to_bytes())
    assert again.grid == "compact" and again == compact and again.copy().grid == "compact"
    assert fine.coarsen("compact") == compact  # folded exactly: the same bytes as built compact
    assert compact.pce() == fine.pce()  # exact from the sums, whatever the grid
    for _, s in compact.items():
        assert s.ece() == fine[_].ece() and s.brier() == fine[_].brier()
    with pytest.raises(ValueError, match="different bins, classes or grids"):
        fine.copy().merge(compact)
    with pytest.raises(ValueError, match="not a coarsening"):
        compact.coarsen("fine")
    assert len(calipers.GroupedSketch(15, grid="compact").to_bytes()) < 5000 < len(calipers.GroupedSketch().to_bytes())


def test_score_by_and_window_keep_compact_sketches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding: --by and --window kept the fine grid (~128 KB per group or window)."""
    from calipers.cli.saved import dump_saved, load_saved
    from calipers.cli.scored import Scored

    rng = np.random.default_rng(8)
    n = 4000
    rows = [
        {"score": float(a), "label": int(b), "g": f"g{c}", "t": 1_700_000_000 + 9 * i}
        for i, (a, b, c) in enumerate(zip(rng.random(n), rng.integers(0, 2, n), rng.integers(0, 50, n)))
    ]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plain, by = tmp_path / "plain.bin", tmp_path / "by.bin"
    assert main(["score", str(log), "--save-sketch", str(plain), "--quiet"]) == 0
    argv = ["score", str(log), "--by", "g", "--time", "t", "--window", "1h", "--save-sketch", str(by), "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    scored, window = load_saved(by.read_bytes())
    assert window == 3600.0
    assert scored.groups.grid == scored.windows.grid == "compact" and scored.sketch.grid == "fine"
    parts = len(scored.groups) + len(scored.windows)
    assert len(scored.groups) == 50 and len(scored.windows) == 11
    per_part = (by.stat().st_size - plain.stat().st_size) / parts
    assert 4672 < per_part < 5000  # measured 4,740 saved bytes per group (128,000 on the fine grid)
    # a run saved with fine-grid groups (before this change, or with --group-grid fine) loads on its
    # grid; merged with compact-grid runs it is folded onto the compact grid, exactly
    old = Scored(
        scored.sketch,
        scored.rows,
        scored.skipped,
        calipers.GroupedSketch(15).update(
            [r["score"] for r in rows], [r["label"] for r in rows], [r["g"] for r in rows]
        ),
        calipers.GroupedSketch(15),
    )
    old_file = tmp_path / "old.bin"
    old_file.write_bytes(dump_saved(old, None))
    loaded = load_saved(old_file.read_bytes())[0].groups
    assert loaded.grid == "fine" and loaded.coarsen("compact") == scored.groups
    by_only = tmp_path / "by_only.bin"
    assert main(["score", str(log), "--by", "g", "--save-sketch", str(by_only), "--quiet"]) == 0
    capsys.readouterr()
    merged = tmp_path / "m.bin"
    assert main(["merge", str(old_file), str(by_only), "-o", str(merged), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 2 * n and sum(v["rows"] for v in out["groups"].values()) == 2 * n
    assert load_saved(merged.read_bytes())[0].groups.grid == "compact"


# -- 8. monitor group names --------------------------------------------------------------------


def _monitor(**kw: object) -> calipers.CalibrationMonitor:
    clock = [1_000_000.0]
    return calipers.CalibrationMonitor(window=60.0, history=5, clock=lambda: clock[0], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("__all__", "group '__all__' is reserved by the monitor (__all__, __other__)"),
        ("__other__", "group '__other__' is reserved by the monitor (__all__, __other__)"),
        ("a\ud800b", "group 'a\\ud800b' is not valid Unicode text: a lone surrogate at index 1"),
    ],
)
def test_monitor_refuses_reserved_and_unrenderable_groups(group: str, message: str) -> None:
    """Finding: groups "__all__"/"__other__" collided with the reserved names; a lone
    surrogate in a group name broke /metrics rendering."""
    m = _monitor(max_groups=1)
    m.record(0.5, 1, group="a")
    m.record(0.5, 1, group="b")  # beyond max_groups: pooled under the monitor's own __other__
    before = m.to_bytes()
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        m.record(0.25, 0, group=group)
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        m.predicted("k", 0.25, group=group)
    with pytest.raises(ValueError, match=r"^groups: 2 key\(s\) .* cannot be used, first at index 1: "):
        m.record_many([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1], groups=["new", group, "other", group])
    assert m.to_bytes() == before  # all-or-nothing: not even the valid keys got a slot
    assert sorted(map(str, m.snapshot()["groups"])) == ["__other__", "a"]
    from prometheus_client import CollectorRegistry, generate_latest

    from calipers.monitor import PrometheusCollector

    registry = CollectorRegistry()
    registry.register(PrometheusCollector(m))
    text = generate_latest(registry).decode()
    assert 'group="__other__"' in text and 'group="__all__"' in text and 'group="a"' in text


def test_monitor_pool_still_merges_and_loads() -> None:
    a, b = _monitor(max_groups=1), _monitor(max_groups=1)
    for m in (a, b):
        m.record_many([0.1, 0.9, 0.6], [0, 1, 1], groups=["x", "y", "z"])  # y and z pooled
    again = calipers.CalibrationMonitor.from_bytes(a.to_bytes())
    assert again.to_bytes() == a.to_bytes()
    a.merge(b)
    snap = a.snapshot()["groups"]
    assert snap["x"]["count"] == 2 and snap["__other__"]["count"] == 4


# -- 9. monitor times and windows --------------------------------------------------------------


def test_monitor_refuses_absurd_times_and_loses_nothing() -> None:
    """Finding: t=1e300 was accepted and a later flush dropped every buffered record (the
    window index overflowed int64: a RuntimeWarning, an error under -W error); window=1e-10
    was accepted (every record then 'late')."""
    import warnings

    m = _monitor()
    for _ in range(10):
        m.record(0.5, 1)
    before = m.to_bytes()
    for t in (1e300, -1e300, 1e20, 253402300800.0, -62135596801.0, 10**400):
        with pytest.raises(ValueError, match=r"^t must be (seconds since the epoch within years 1 to 9999|finite)"):
            m.record(0.5, 1, t=t)
    with pytest.raises(ValueError, match=r"2 value\(s\) are not, first at index 1 \(value 1e\+300\)"):
        m.record_many([0.1, 0.2, 0.3], [0, 1, 0], t=[1_000_000.0, 1e300, -1e300])
    assert m.to_bytes() == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.record(0.5, 1, t=1e11)  # a valid time far ahead: counted as 'future', nothing else lost
        snap = m.snapshot()
    assert snap["count"] == 10 and snap["dropped"]["future"] == 1
    for window in (1e-10, 0.0, -1.0, float("nan"), float("inf"), 1e10):
        with pytest.raises(ValueError, match=r"^window must be a number of seconds in \[0.001, 1e\+09\]"):
            calipers.CalibrationMonitor(window=window)
    with pytest.raises(TypeError, match="window must be a number of seconds, got str"):
        calipers.CalibrationMonitor(window="60")  # type: ignore[arg-type]
    m = calipers.CalibrationMonitor(window=1e-3)
    for _ in range(5):
        m.record(0.5, 1)
    assert m.snapshot()["dropped"]["late"] == 0


# -- 10. tampered sketch totals ----------------------------------------------------------------


def _retotal(blob: bytes, bins: int, cells: int, sq: float | None = None, ll: float | None = None) -> bytes:
    """The blob with its squared-error and/or log-loss total replaced (fixed point: 62 and 56
    fractional bits over 128-bit lo/hi words) and the CRC recomputed, as a tamperer would."""
    import struct
    import zlib

    words = np.frombuffer(blob[40:-4], dtype="<u8").copy()
    at = (bins + cells) * 4
    for offset, value, scale in ((0, sq, 2.0**62), (2, ll, 2.0**56)):
        if value is not None:
            fixed = round(value * scale)
            words[at + offset], words[at + offset + 1] = fixed & (2**64 - 1), fixed >> 64
    body = blob[:40] + words.astype("<u8").tobytes()
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


@pytest.mark.parametrize("grid", ["fine", "compact", None])
def test_tampered_sketch_totals_raise_on_load(grid: str | None) -> None:
    """Finding: the totals (squared error, log loss) of a resealed blob were taken as they
    were; the evidence branch's check caught zeroed totals. Now every total must also lie
    within what its cells' scores and outcomes allow."""
    from calipers._common.grid import grid_cell_count, grid_spec

    s = calipers.ReliabilitySketch(bins=15, grid=grid).update(np.full(100, 0.9), np.zeros(100, int))
    cells = grid_cell_count(*grid_spec(grid))
    blob = s.to_bytes()
    near = calipers.ReliabilitySketch.from_bytes(_retotal(blob, 15, cells, sq=81.0, ll=100 * -np.log(0.1)))
    assert abs(near.brier() - s.brier()) < 1e-15 and abs(near.log_loss() - s.log_loss()) < 1e-15  # true totals load
    tampered = [dict(sq=0.0, ll=0.0), dict(sq=100.0), dict(ll=34.5 * 100), dict(ll=100.0)]
    if grid == "fine":  # cells 1/64 of the distance to 1 wide: totals are pinned within about 0.4%
        tampered += [dict(sq=81.0 * 1.01), dict(sq=81.0 * 0.99), dict(ll=100 * -np.log(0.1) * 1.01)]
    for edit in tampered:
        with pytest.raises(ValueError, match=r"calipers blob is inconsistent: its (squared-error|log-loss)"):
            calipers.ReliabilitySketch.from_bytes(_retotal(blob, 15, cells, **edit))  # type: ignore[arg-type]


# -- 11. a subnormal temperature ---------------------------------------------------------------


@pytest.mark.parametrize("temperature", [1e-320, 5e-324, 1e-310, 0.0, -1.0, float("inf"), float("nan")])
def test_loaded_temperature_must_be_usable(temperature: float) -> None:
    """Finding (fixed on main, kept as a regression test): T=1e-320 in a loaded JSON gave NaN
    probabilities (1/T overflows)."""
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 3, 60)
    logits = rng.normal(size=(60, 3)) * 3
    logits[np.arange(60), labels] += 2.0  # informative logits: a fit inside the bounds, no warning
    fitted = calipers.TemperatureScaling().fit(logits, labels)
    doc = json.loads(fitted.to_json())
    doc["fitted"]["temperature"] = temperature
    text = json.dumps(doc)  # NaN and inf as JavaScript spells them: json.loads still reads them
    with pytest.raises(ValueError, match="temperature"):
        calipers.Calibrator.from_json(text)
    from calipers._common import serde

    with pytest.raises(ValueError, match="temperature"):
        calipers.Calibrator.from_bytes(serde.pack_payload(serde.TYPE_CALIBRATOR, text.encode()))
    doc["fitted"]["temperature"] = 1e-300  # tiny but usable: probabilities stay finite
    out = calipers.Calibrator.from_json(json.dumps(doc)).transform(np.array([[1.0, 2.0, 3.0], [1e300, -1e300, 0.0]]))
    assert np.array_equal(out, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


# -- 13. one group-key rule for pce and GroupedSketch ------------------------------------------


def test_pce_takes_group_keys_as_grouped_sketch_does() -> None:
    """Finding: pce pooled NaN group keys into one group; None or mixed-type keys gave a
    TypeError that did not name the argument."""
    p, y = np.array([0.1, 0.8, 0.65, 0.95, 0.3, 0.5]), np.array([0, 1, 0, 1, 1, 0])
    mixed = np.array(["a", 1, "a", 1, "1", "1"], dtype=object)  # 1 and "1" are two groups
    sketch = calipers.GroupedSketch().update(p, y, mixed)
    assert set(sketch) == {1, "1", "a"}
    assert calipers.pce(p, y, mixed) == pytest.approx(sketch.pce(), abs=1e-15)
    by_hand = sum(  # the mean statistic over the three groups, written out
        len(idx) / 6 * abs(p[idx].mean() - y[idx].mean()) for idx in ([0, 2], [1, 3], [4, 5])
    )
    assert calipers.pce(p, y, mixed) == pytest.approx(by_hand, abs=1e-15)
    with pytest.raises(
        ValueError, match=r"^groups: group keys must not be missing: 2 value\(s\) are NaN, first at index 1$"
    ):
        calipers.pce(p, y, np.array([1.0, np.nan, 1, 2, np.nan, 2]))
    with pytest.raises(
        ValueError, match=r"^groups: group keys must not be missing: 1 value\(s\) are, first at index 1"
    ):
        calipers.pce(p, y, np.array(["a", None, "a", "b", "b", "b"], dtype=object))
    with pytest.raises(TypeError, match=r"^groups: group keys must be strings or integers: index 2 holds a bytes"):
        calipers.pce(p, y, np.array(["a", "b", b"c", "a", "b", "c"], dtype=object))
    with pytest.raises(
        TypeError, match=r"^groups\[1\]: group keys must be strings or integers: index 0 holds the float 0.5"
    ):
        calipers.pce(p, y, [np.zeros(6, int), np.full(6, 0.5)])
    with pytest.raises(ValueError, match=r"^groups must be 1-D with one entry per row \(6\), got shape \(2,\)"):
        calipers.pce(p, y, ["a", "b"])
    for bad in (np.array([1.0, np.nan, 1, 2, np.nan, 2]), np.array([None] * 6, dtype=object)):
        with pytest.raises(ValueError, match=r"^groups: group keys must not be missing"):
            calipers.GroupedSketch().update(p, y, bad)


# -- 14. piece with a constant proximity -------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_piece_with_constant_proximity_is_one_proximity_bin(weighted: bool) -> None:
    """Finding: a constant proximity array raised an error about prox_edges."""
    rng = np.random.default_rng(14)
    P = rng.dirichlet(np.ones(3), 300)
    y = rng.integers(0, 3, 300)
    w = rng.random(300) if weighted else None
    got = calipers.piece(P, y, np.full(300, 0.7), sample_weight=w)
    # one proximity bin: the ECE (weighted: the ECE's weights are held to 2^-24; measured 1.2e-9 apart)
    assert got == pytest.approx(calipers.ece(P, y, sample_weight=w), abs=1e-8 if weighted else 1e-12)
    assert got == calipers.piece(P, y, np.full(300, 0.7), prox_edges=[0.0, 1.0], sample_weight=w)
    with pytest.raises(ValueError, match="prox_edges must be increasing"):
        calipers.piece(P, y, np.full(300, 0.7), prox_edges=[0.5])  # edges given by hand are still checked


# -- 16. numpy masked arrays -------------------------------------------------------------------

_RNG = np.random.default_rng(16)
_P = _RNG.random(120)
_Y = (_RNG.random(120) < _P).astype(int)
_PK = _RNG.dirichlet(np.ones(3), 120)
_YK = _RNG.integers(0, 3, 120)
_X = _RNG.normal(size=(120, 4))


def _masked(a: np.ndarray, i: int = 7) -> np.ma.MaskedArray:
    """``a`` with entry (or row) ``i`` masked."""
    mask = np.zeros(a.shape, bool)
    mask[i] = True
    return np.ma.masked_array(a, mask)


_FAMILIES = {
    "metric scores": ("scores", "index", lambda: calipers.ece(_masked(_P), _Y)),
    "metric labels": ("labels", "index", lambda: calipers.brier(_P, _masked(_Y))),
    "metric 2-D": ("scores", "row", lambda: calipers.log_loss(_masked(_PK), _YK)),
    "sample_weight": ("sample_weight", "index", lambda: calipers.ece(_P, _Y, sample_weight=_masked(np.ones(120)))),
    "pce groups": ("groups", "index", lambda: calipers.pce(_P, _Y, _masked(np.arange(120) % 3))),
    "piece proximity": ("proximity", "index", lambda: calipers.piece(_PK, _YK, _masked(_RNG.random(120)))),
    "bootstrap": ("scores", "index", lambda: calipers.bootstrap_ci(calipers.ece, _masked(_P), _Y, n_resamples=5)),
    "calibrator fit": ("scores", "index", lambda: calipers.PlattScaling().fit(_masked(_P), _Y)),
    "calibrator transform": (
        "scores",
        "index",
        lambda: calipers.IsotonicCalibration().fit(_P, _Y).transform(_masked(_P)),
    ),
    "temperature": (
        "logits",
        "row",
        lambda: calipers.TemperatureScaling().fit(_X[:, :3], _YK).transform(_masked(_X[:, :3])),
    ),
    "correction": (
        "predictions",
        "index",
        lambda: calipers.LinearCalibrationCorrection().fit(_masked(_X[:, 0]), _X[:, 0] * 2 + _X[:, 1]),
    ),
    "ppi": ("Y", "index", lambda: calipers.ppi_mean(_masked(_X[:, 0]), _X[:, 0], _X[:, 1], alpha=0.1)),
    "quantile sketch": ("values", "index", lambda: calipers.QuantileSketch().update(_masked(_P))),
    "embeddings": ("query", "row", lambda: calipers.knn(_masked(_X), _X, 3)),
}


@pytest.mark.parametrize("family", list(_FAMILIES))
def test_masked_arrays_are_refused_in_every_family(family: str) -> None:
    """Finding: numpy masked arrays lost their mask (masked values were used as data). One
    rule, in the README's errors section: an array with masked entries is a ValueError
    naming the argument, the count and the first masked index; no mask: its data."""
    name, where, call = _FAMILIES[family]
    with pytest.raises(
        ValueError, match=rf"^{name} is a masked array with \d+ masked value\(s\), first at {where} 7: "
    ):
        call()


def test_masked_arrays_leave_sketches_and_monitors_unchanged() -> None:
    sketch = calipers.ReliabilitySketch().update(_P, _Y)
    grouped = calipers.GroupedSketch(grid="compact").update(_P, _Y, np.arange(120) % 3)
    monitor = calipers.CalibrationMonitor()
    monitor.record_many(_P, _Y)
    before = (sketch.to_bytes(), grouped.to_bytes(), monitor.to_bytes())
    for call in (
        lambda: sketch.update(_masked(_P), _Y),
        lambda: grouped.update(_P, _Y, _masked(np.arange(120) % 3)),
        lambda: monitor.record_many(_masked(_P), _Y),
        lambda: monitor.record_many(_P, _Y, groups=_masked(np.array(["a"] * 120))),
        lambda: monitor.record_many(_P, _Y, t=_masked(np.full(120, 1.7e9))),
    ):
        with pytest.raises(ValueError, match=r"is a masked array with 1 masked value\(s\), first at index 7: "):
            call()
    assert (sketch.to_bytes(), grouped.to_bytes(), monitor.to_bytes()) == before
    # with nothing masked a masked array is its data; filled with NaN, the NaN rule applies
    assert calipers.ece(np.ma.masked_array(_P, np.zeros(120, bool)), _Y) == calipers.ece(_P, _Y)
    assert calipers.ece(_masked(_P).filled(np.nan), _Y, nan_policy="omit") == calipers.ece(
        np.delete(_P, 7), np.delete(_Y, 7)
    )


# -- 4 and 17. corrections of huge values ------------------------------------------------------


def _no_runtime_warnings() -> object:
    import warnings

    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", RuntimeWarning)
    warnings.simplefilter("ignore", UserWarning)  # the corrections' DebiasingWarning
    return ctx


def _far_tweedie() -> calipers.TweedieCorrection:
    """A Tweedie correction whose result overflows float64 for predictions far from its
    calibration data: sigma 7e98, bandwidth 2e-7 (the score there is about 1e100 / h^2)."""
    i = np.arange(200.0)
    return calipers.TweedieCorrection().fit(i * 1e-8, i * 1e-8 + np.sin(i) * 1e99)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x, y: calipers.LinearCalibrationCorrection().fit(x, y), "predictions"),
        (lambda x, y: calipers.TweedieCorrection().fit(x, y), "predictions"),
        (lambda x, y: calipers.TweedieCorrection().fit(y[::-1] * 1e-300, x), "targets"),
        (lambda x, y: calipers.debias.RegressionSketch().update(x, y), "predictions"),
        (lambda x, y: calipers.ppi_mean(np.arange(50.0), x, y, alpha=0.1), "Yhat"),
        (lambda x, y: calipers.debias.mean(x), "values"),
    ],
)
def test_huge_values_are_refused_up_front(call: object, name: str) -> None:
    """Finding: LCC/Tweedie on ~1e300 values leaked numpy overflow RuntimeWarnings and
    misleading messages ('slope nan', 'bandwidth must be positive')."""
    i = np.arange(50.0)
    x, y = 1e300 * (i % 2) + i, 1e300 * (i % 2) + 0.5 * i
    ctx = _no_runtime_warnings()
    try:
        with pytest.raises(
            ValueError,
            match=rf"^{name} must lie within \+-1e\+100 \(their squares must stay finite in float64\): 25 value\(s\) "
            r"do not, first at index 1 \(value 1e\+300\)$",
        ):
            call(x, y)  # type: ignore[operator]
    finally:
        ctx.__exit__(None, None, None)  # type: ignore[attr-defined]


def test_a_correction_that_overflows_raises_and_the_cli_writes_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding: Tweedie's correction of huge finite inputs silently returned NaN, and
    `calipers apply` wrote a bare NaN (invalid JSON)."""
    tw = _far_tweedie()
    ctx = _no_runtime_warnings()
    try:
        with pytest.raises(
            ValueError,
            match=r"^corrected predictions are not finite: 2 value\(s\) overflow float64, first at index 1; "
            "the correction cannot map predictions that far from its calibration data$",
        ):
            tw.transform([1e-6, 1e100, 5e99])
        assert np.isfinite(tw.transform([1e-6, 2e-6])).all()
    finally:
        ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
    cor = tmp_path / "tw.json"
    cor.write_text(tw.to_json())
    log = tmp_path / "in.jsonl"
    log.write_text('{"pred": 1e-6, "x": NaN}\n{"pred": 1e100}\n{"pred": 1e300}\n{"pred": 2e-6}\n')
    out = tmp_path / "out.jsonl"
    code, _, err = _run(capsys, "apply", str(cor), str(log), "--prediction", "pred", "-o", str(out))
    assert code == 0, err
    assert (
        "  skipped 1 x 'pred' beyond +-1e+100 (first at " in err and "  skipped 1 x non-finite result (first at " in err
    )

    def strict(token: str) -> None:
        raise AssertionError(f"bare {token} in the JSON output")

    rows = [json.loads(line, parse_constant=strict) for line in out.read_text().splitlines()]
    assert [r["calibrated_skip_reason"] for r in rows] == [None, "non-finite result", "'pred' beyond +-1e+100", None]
    assert rows[1]["calibrated"] is None and rows[2]["calibrated"] is None
    assert rows[0]["x"] is None  # an input's NaN token passes through as null: JSON has no NaN
    assert rows[0]["calibrated"] == pytest.approx(float(tw.transform([1e-6])[0]), rel=1e-12)


def test_lcc_on_tiny_values_says_what_it_sees() -> None:
    i = np.arange(50.0)
    with pytest.raises(
        ValueError, match=r"^targets vary too little for float64 moments \(from 0.0 to 9.8e-199, std 0.0"
    ):
        calipers.LinearCalibrationCorrection().fit(i * 1e-200, i * 2e-200)


# -- 18. SIGTERM mid-write ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["apply", "score"])
def test_sigterm_mid_write_leaves_no_temporary_file(tmp_path: Path, command: str) -> None:
    """Finding: SIGTERM during a CLI write left the temporary file behind (the atomic-write
    cleanup never ran: Python's default SIGTERM action ends the process at once)."""
    rng = np.random.default_rng(18)
    n = 60_000 if command == "apply" else 30_000
    p, g = rng.random(n), rng.integers(0, 2500, n)
    y = (rng.random(n) < p).astype(int)
    log = tmp_path / "log.jsonl"
    log.write_text("".join(f'{{"score": {a:.6f}, "label": {b}, "g": "g{c}"}}\n' for a, b, c in zip(p, y, g)))
    if command == "apply":
        cal = tmp_path / "cal.json"
        cal.write_text(calipers.PlattScaling().fit(p, y).to_json())
        target = "out.jsonl"
        argv = ["apply", str(cal), str(log), "-o", str(tmp_path / target), "--chunk-size", "500"]
    else:
        target = "run.bin"  # 2,500 compact group sketches: a 12 MB file, written for a while
        argv = ["score", str(log), "--by", "g", "--save-sketch", str(tmp_path / target), "--quiet"]
    before = sorted(os.listdir(tmp_path))
    status, err = signal_mid_write(argv, tmp_path, target, signal.SIGTERM)
    assert status == 143
    assert err == f"calipers {command}: terminated (SIGTERM); nothing half written was left\n"
    assert sorted(os.listdir(tmp_path)) == before  # no target, no temporary file


def test_sigterm_handler_is_put_back_after_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    assert main(["score", "--sample", "--quiet", "--json"]) == 0
    assert signal.getsignal(signal.SIGTERM) == before


# -- 19. minor: one-line usage errors, CSV cells, extra fields, Parquet types, stdout ----------


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["score", "x.csv", "--bins", "0"],
            "calipers score: error: argument --bins: must be an integer in [1, 1000000], got 0",
        ),
        (
            ["scor", "x.csv"],
            "calipers: error: argument command: invalid choice: 'scor' (choose from 'score', 'merge', 'fit', 'apply')",
        ),
        (["apply", "c.json", "x.csv"], "calipers apply: error: the following arguments are required: -o/--output"),
        (["score", "x.csv", "--window", "1h"], "calipers: error: --window and --time go together"),
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], line: str) -> None:
    """Finding: argparse's usage block made error messages span many lines."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and capsys.readouterr() == ("", line + "\n")


def test_csv_output_writes_nested_values_as_json(tmp_path: Path, cal: Path) -> None:
    """Finding: a list or object in a CSV cell was written as Python's repr."""
    log = tmp_path / "in.jsonl"
    rows = [
        {"score": 0.25, "probs": [0.75, 0.25], "meta": {"a": True, "b": None}},
        {"score": 0.5, "probs": [], "meta": {}},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.csv"
    assert main(["apply", str(cal), str(log), "-o", str(out), "--quiet"]) == 0
    import csv as csv_module

    with out.open() as fh:
        table = list(csv_module.DictReader(fh))
    assert [json.loads(r["probs"]) for r in table] == [[0.75, 0.25], []]
    assert [json.loads(r["meta"]) for r in table] == [{"a": True, "b": None}, {}]


@pytest.mark.parametrize("fast", [True, False])
def test_extra_csv_fields_are_named_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path, fast: bool
) -> None:
    """Finding: fields beyond the header ended up in a column named "None" (then: dropped)."""
    path = tmp_path / "extra.csv"
    path.write_text("score,label\n0.1,0\n0.2,1,EXTRA1,EXTRA2\n0.3\n")
    skipped = Skipped()
    chunks = list(read_table_chunks([str(path)], Columns(), skipped=skipped, fast=fast))
    assert sorted(np.concatenate([c.scores for c in chunks]).tolist()) == [0.1, 0.2]
    assert skipped.counts == {"missing field 'label'": 1}
    out = tmp_path / "out.jsonl"
    assert main(["apply", str(cal), str(path), "-o", str(out), "--quiet"]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert got[1]["field_3"] == "EXTRA1" and got[1]["field_4"] == "EXTRA2" and "None" not in got[1]
    assert got[2]["label"] is None and got[2]["calibrated_skip_reason"] is None  # apply needs no label
    csv_out = tmp_path / "out.csv"
    assert main(["apply", str(cal), str(path), "-o", str(csv_out), "--quiet"]) == 0
    assert csv_out.read_text().splitlines()[:3] == [
        "score,label,field_3,field_4,calibrated,calibrated_skip_reason,calibrated_raw",
        f"0.1,0,,,{calipers.Calibrator.from_json(cal.read_text()).transform(0.1)!r},,",
        f"0.2,1,EXTRA1,EXTRA2,{calipers.Calibrator.from_json(cal.read_text()).transform(0.2)!r},,",
    ]
    code, _, err = _run(capsys, "apply", str(cal), str(path), "-o", str(csv_out), "--chunk-size", "1")
    assert code == 2 and "a row has field 'field_3' that the CSV header (the fields of the first chunk) does not" in err


def test_parquet_decimal_is_a_number_and_a_date_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cal: Path
) -> None:
    """Finding: Parquet decimal128 and date32 columns gave an unclear error."""
    pa = pytest.importorskip("pyarrow")
    import datetime
    from decimal import Decimal

    import pyarrow.parquet as pq

    dec = tmp_path / "dec.parquet"
    pq.write_table(
        pa.table({"score": pa.array([Decimal("0.10"), Decimal("0.75")], pa.decimal128(5, 2)), "label": [0, 1]}), dec
    )
    for fast in (True, False):
        chunks = list(read_table_chunks([str(dec)], Columns(), fast=fast))
        assert np.concatenate([c.scores for c in chunks]).tolist() == [0.1, 0.75]
    out = tmp_path / "out.jsonl"
    assert main(["apply", str(cal), str(dec), "-o", str(out), "--quiet"]) == 0
    model = calipers.Calibrator.from_json(cal.read_text())
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"score": 0.1, "label": 0, "calibrated": model.transform(0.1), "calibrated_skip_reason": None},
        {"score": 0.75, "label": 1, "calibrated": model.transform(0.75), "calibrated_skip_reason": None},
    ]
    dated = tmp_path / "dated.parquet"
    pq.write_table(pa.table({"score": [0.1, 0.7], "label": [0, 1], "day": [datetime.date(2024, 1, 1)] * 2}), dated)
    code, out_text, err = _run(capsys, "score", str(dated), "--time", "day", "--window", "1d")
    assert (code, out_text) == (2, "")
    assert err == (
        f"calipers score: cannot read {dated}: unsupported column type (column 'day' holds date32[day] values; "
        "calipers reads numbers, and times as epoch numbers, timestamps or ISO 8601 strings: cast the column); "
        "--keep-going skips such files\n"
    )
    assert _run(capsys, "score", str(dated))[0] == 0  # a date column nobody asked for is fine


@pytest.mark.parametrize("as_json", [False, True])
def test_a_failed_stdout_write_names_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    """Finding: writing to /dev/full gave 'No space left on device' without naming stdout."""
    import errno
    import io
    import sys

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    log = _jsonl(tmp_path / "in.jsonl", *_data(50))
    monkeypatch.setattr(sys, "stdout", Full())
    code = main(["score", str(log), *(["--json"] if as_json else [])])
    monkeypatch.undo()
    assert code == 2
    assert capsys.readouterr().err == "calipers score: cannot write <stdout>: No space left on device\n"


def test_regression_sketch_of_a_constant_sample_round_trips() -> None:
    """Found by the suite's hypothesis test while this round ran (a pre-existing bug): three
    copies of 699051.3856915592 have a float mean one ulp off, so M2 came out > 0 and the
    sketch's own bytes were refused ('a constant sample must have M2 = 0')."""
    from calipers.debias import RegressionSketch

    x = np.full(3, 699051.3856915592)
    assert float(np.mean(x)) != x[0]  # the rounding that made it happen
    s = RegressionSketch(max_cells=16).update(x, np.zeros(3))
    assert s.moments.mean_x == x[0] and s.moments.m2_x == 0.0 and s.moments.c_xy == 0.0
    assert RegressionSketch.from_bytes(s.to_bytes()) == s
    merged = RegressionSketch(max_cells=16)
    for _ in range(3):
        merged.merge(RegressionSketch(max_cells=16).update(x, np.zeros(3)))
    assert merged.moments.m2_x == 0.0 and RegressionSketch.from_bytes(merged.to_bytes()) == merged
