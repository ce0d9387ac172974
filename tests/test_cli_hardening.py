"""What adversarial testing of the command line found (issue 11), each finding as a user
hits it: the exact exit code, the one line on stderr, and the files after the run."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import calipers
from calipers.cli import main
from calipers.cli.saved import load_saved

ENV = {**os.environ, "PYTHONPATH": str(Path(calipers.__file__).resolve().parent.parent)}


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return p, (rng.random(n) < p**1.3).astype(int)


def _jsonl(path: Path, p: np.ndarray, y: np.ndarray, **extra: list) -> Path:  # type: ignore[type-arg]
    with open(path, "w") as fh:
        for i, (a, b) in enumerate(zip(p, y)):
            rec = {"id": i, "score": float(a), "label": int(b)}
            rec.update({k: v[i] for k, v in extra.items()})
            fh.write(json.dumps(rec) + "\n")
    return path


def _csv(path: Path, p: np.ndarray, y: np.ndarray, *, bom: bool = False, crlf: bool = False) -> Path:
    end = "\r\n" if crlf else "\n"
    text = "score,label" + end + "".join(f"{float(a)!r},{b}{end}" for a, b in zip(p, y))
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    p, y = _data()
    return _jsonl(tmp_path / "in.jsonl", p, y), p, y


@pytest.fixture
def cal(tmp_path: Path, log: tuple[Path, np.ndarray, np.ndarray]) -> Path:
    assert main(["fit", "isotonic", str(log[0]), "-o", str(tmp_path / "cal.json"), "--quiet"]) == 0
    return tmp_path / "cal.json"


# -- an output that is an input ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["same", "dotdot", "symlink", "hardlink"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_apply_refuses_to_overwrite_its_input(tmp_path, capsys, cal, how, fmt):  # type: ignore[no-untyped-def]
    """Finding: `calipers apply cal.json in.jsonl -o in.jsonl` printed '0 rows written', exited
    0 and left in.jsonl empty (CSV too)."""
    p, y = _data()
    log = _jsonl(tmp_path / "in.jsonl", p, y) if fmt == "jsonl" else _csv(tmp_path / "in.csv", p, y)
    before = log.read_bytes()
    (tmp_path / "sub").mkdir()
    target = {
        "same": str(log),
        "dotdot": str(tmp_path / "sub" / ".." / log.name),
        "symlink": str(tmp_path / f"link.{fmt}"),
        "hardlink": str(tmp_path / f"hard.{fmt}"),
    }[how]
    if how == "symlink":
        os.symlink(log, target)
    if how == "hardlink":
        os.link(log, target)
    listing = _listing(tmp_path)
    code, out, err = _run(capsys, "apply", str(cal), str(log), "-o", target)
    shown = target if how in ("same", "dotdot") else f"{target} ({log})"
    assert (code, out) == (2, "")
    refusal = "it is one of the inputs; write to another file, then rename it"
    assert err == f"calipers apply: refusing to write {shown}: {refusal}\n"
    assert log.read_bytes() == before and _listing(tmp_path) == listing  # nothing opened for writing


def test_every_command_refuses_an_output_that_is_an_input(tmp_path, capsys, log, cal):  # type: ignore[no-untyped-def]
    path = log[0]
    before = path.read_bytes()
    os.link(path, tmp_path / "hard.jsonl")
    saved = tmp_path / "s.bin"
    assert main(["score", str(path), "--save-sketch", str(saved), "--quiet"]) == 0
    capsys.readouterr()
    saved_before = saved.read_bytes()
    refusal = "it is one of the inputs; write to another file, then rename it\n"
    cases = [
        (["score", str(path), "--save-sketch", str(path)], f"calipers score: refusing to write {path}: {refusal}"),
        (
            ["fit", "platt", str(path), "-o", str(tmp_path / "hard.jsonl")],
            f"calipers fit: refusing to write {tmp_path / 'hard.jsonl'} ({path}): {refusal}",
        ),
        (["merge", str(saved), "-o", str(saved)], f"calipers merge: refusing to write {saved}: {refusal}"),
        (["apply", str(cal), str(path), "-o", str(cal)], f"calipers apply: refusing to write {cal}: {refusal}"),
    ]
    for argv, message in cases:
        assert _run(capsys, *argv) == (2, "", message)
    assert path.read_bytes() == before and saved.read_bytes() == saved_before


# -- apply keeps every row, leaves nothing partial ---------------------------------------------


def test_apply_writes_one_row_per_input_row_with_the_skip_reason(tmp_path, capsys, cal):  # type: ignore[no-untyped-def]
    """Finding: apply dropped the rows it could not score, so output rows no longer lined up
    with input rows."""
    lines = [
        '{"id": 0, "score": 0.25, "label": 0}',
        "not json at all",
        '{"id": 2, "score": 1.5, "label": 1}',
        "[1, 2]",
        '{"id": 4, "label": 1}',
        '{"id": 5, "score": 0.75, "label": 1}',
    ]
    log = tmp_path / "mixed.jsonl"
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    code, stdout, err = _run(capsys, "apply", str(cal), str(log), "-o", str(out))
    assert (code, stdout) == (0, "")
    assert err.splitlines() == [
        f"calipers apply: 6 rows written to {out}, 4 skipped (null 'calibrated', the reason in "
        "'calibrated_skip_reason')",
        f"  skipped 1 x invalid JSON (first at {log}:2)",
        f"  skipped 1 x 'score' outside [0, 1] (first at {log}:3)",
        f"  skipped 1 x not a JSON object (first at {log}:4)",
        f"  skipped 1 x missing field 'score' (first at {log}:5)",
    ]
    model = calipers.Calibrator.from_json(cal.read_text())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {"id": 0, "score": 0.25, "label": 0, "calibrated": model.transform(0.25), "calibrated_skip_reason": None},
        {"calibrated": None, "calibrated_skip_reason": "invalid JSON", "calibrated_raw": "not json at all"},
        {"id": 2, "score": 1.5, "label": 1, "calibrated": None, "calibrated_skip_reason": "'score' outside [0, 1]"},
        {"calibrated": None, "calibrated_skip_reason": "not a JSON object", "calibrated_raw": "[1, 2]"},
        {"id": 4, "label": 1, "calibrated": None, "calibrated_skip_reason": "missing field 'score'"},
        {"id": 5, "score": 0.75, "label": 1, "calibrated": model.transform(0.75), "calibrated_skip_reason": None},
    ]
    csv_out = tmp_path / "out.csv"
    assert main(["apply", str(cal), str(log), "-o", str(csv_out), "--quiet", "--reason-column", "why"]) == 0
    assert csv_out.read_text().splitlines() == [
        "id,score,label,calibrated,why,calibrated_raw",
        f"0,0.25,0,{model.transform(0.25)!r},,",
        ",,,,invalid JSON,not json at all",
        "2,1.5,1,,\"'score' outside [0, 1]\",",
        ',,,,not a JSON object,"[1, 2]"',
        "4,,1,,missing field 'score',",
        f"5,0.75,1,{model.transform(0.75)!r},,",
    ]


def test_apply_leaves_nothing_partial_after_an_error(tmp_path, capsys, cal):  # type: ignore[no-untyped-def]
    """Finding: on a schema error apply left a partial Parquet file behind."""
    pytest.importorskip("pyarrow")
    p, y = _data(300)
    log = _jsonl(tmp_path / "in.jsonl", p, y, tag=[1] * 200 + ["text"] * 100)  # the type changes at row 200
    out = tmp_path / "out.parquet"
    listing = _listing(tmp_path)
    code, stdout, err = _run(capsys, "apply", str(cal), str(log), "-o", str(out), "--chunk-size", "100")
    assert (code, stdout) == (2, "")
    assert err.startswith(f"calipers apply: {out}: a later chunk does not fit the column types of the first (")
    assert err.endswith("); write JSONL instead\n") and err.count("\n") == 1
    assert _listing(tmp_path) == listing  # no target, no temporary file
    out.write_bytes(b"an older output")  # an existing target survives a failed run untouched
    assert main(["apply", str(cal), str(log), "-o", str(out), "--chunk-size", "100"]) == 2
    assert out.read_bytes() == b"an older output"
    assert main(["apply", str(cal), str(log), "-o", str(out), "--strict", "--score", "nope"]) == 1
    assert out.read_bytes() == b"an older output"


def test_apply_that_calibrates_nothing_writes_nothing(tmp_path, capsys, log, cal):  # type: ignore[no-untyped-def]
    out = tmp_path / "out.jsonl"
    code, stdout, err = _run(capsys, "apply", str(cal), str(log[0]), "-o", str(out), "--score", "sccore")
    assert (code, stdout) == (1, "")
    assert err == (
        f"calipers apply: no rows calibrated: every row or file was skipped (400 x missing field 'sccore' "
        f"(first at {log[0]}:1)); check the column options and the logs; nothing written\n"
    )
    assert not out.exists()


# -- numeric flags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "rule"),
    [
        ("--chunk-size", "-1", "must be an integer in [1, 2147483647], got -1"),
        ("--chunk-size", "0", "must be an integer in [1, 2147483647], got 0"),
        ("--chunk-size", "x", "'x' is not an integer"),
        ("--bins", "0", "must be an integer in [1, 1000000], got 0"),
        ("--bootstrap", "-5", "must be an integer in [0, 100000], got -5"),
    ],
)
def test_numeric_flags_are_range_checked(log, capsys, flag, value, rule):  # type: ignore[no-untyped-def]
    """Finding: --chunk-size -1 scored nothing and exited 0; --chunk-size 0 said 'range() arg 3
    must not be zero'."""
    with pytest.raises(SystemExit) as exc:
        main(["score", str(log[0]), flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith(f"calipers score: error: argument {flag}: {rule}\n")


# -- input as users' files are -------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_byte_order_mark_and_crlf(tmp_path, capsys, monkeypatch, fast):  # type: ignore[no-untyped-def]
    """Finding: a CSV starting with a UTF-8 BOM scored 0 rows ('missing field score' for every
    row) and exited 0; a JSONL file with a BOM lost its first row as invalid JSON."""
    if not fast:
        monkeypatch.setattr("calipers.io.readers.scanner", lambda: None)
    p, y = _data(300)
    expected = calipers.ece(p, y)
    jsonl = _jsonl(tmp_path / "plain.jsonl", p, y)
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + jsonl.read_bytes())
    for path in (
        _csv(tmp_path / "bom.csv", p, y, bom=True),
        _csv(tmp_path / "crlf.csv", p, y, crlf=True),
        _csv(tmp_path / "both.csv", p, y, bom=True, crlf=True),
        tmp_path / "bom.jsonl",
    ):
        code, out, err = _run(capsys, "score", str(path), "--json")
        result = json.loads(out)
        assert (code, err, result["rows"], result["skipped"]) == (0, "", 300, {}), path
        assert result["metrics"]["ece"] == pytest.approx(expected, rel=1e-12)
    gz = tmp_path / "bom.csv.gz"
    gz.write_bytes(gzip.compress((tmp_path / "both.csv").read_bytes()))
    assert json.loads(_run(capsys, "score", str(gz), "--json")[1])["rows"] == 300


def test_utf16_is_refused_with_the_way_out(tmp_path, capsys):  # type: ignore[no-untyped-def]
    p, y = _data(20)
    path = tmp_path / "excel.csv"
    path.write_bytes(("score,label\n" + "".join(f"{a},{b}\n" for a, b in zip(p, y))).encode("utf-16"))
    assert _run(capsys, "score", str(path)) == (
        2,
        "",
        f"calipers score: cannot read {path}: UTF-16 text (byte-order mark FF FE; calipers reads UTF-8: "
        "convert it, e.g. iconv -f UTF-16 -t UTF-8); --keep-going skips such files\n",
    )
    no_bom = tmp_path / "nobom.jsonl"
    no_bom.write_bytes('{"score": 0.5, "label": 1}\n'.encode("utf-16-le"))
    code, _, err = _run(capsys, "score", str(no_bom))
    assert code == 2 and err.startswith(f"calipers score: cannot read {no_bom}: UTF-16 text (no byte-order mark;")


def test_a_run_that_scores_no_row_exits_1_and_says_why(tmp_path, capsys, log):  # type: ignore[no-untyped-def]
    """Finding: a run that scored 0 rows (a typo in --score) exited 0."""
    code, out, err = _run(capsys, "score", str(log[0]), "--score", "scor", "--json")
    assert code == 1
    assert json.loads(out)["skipped"] == {"missing field 'scor'": 400}  # the JSON still tells the story
    assert err == (
        f"calipers score: no rows scored: every row or file was skipped (400 x missing field 'scor' (first at "
        f"{log[0]}:1)); check the column options and the logs\n"
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert _run(capsys, "score", str(empty)) == (1, "", "calipers score: no rows scored: the logs hold no data rows\n")
    assert _run(capsys, "fit", "platt", str(empty), "-o", str(tmp_path / "c.json")) == (
        1,
        "",
        "calipers fit: no rows scored: the logs hold no data rows; nothing written\n",
    )
    assert not (tmp_path / "c.json").exists()


# -- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_epoch_units_detected_or_given(tmp_path, capsys, fmt, unit):  # type: ignore[no-untyped-def]
    """Finding: epoch-millisecond timestamps aborted the run ('year 55840 is out of range')."""
    p, y = _data(600)
    seconds = 1_700_000_000 + np.arange(600) * 30  # 5 hours
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    ticks = [int(t) * scale for t in seconds]
    path = tmp_path / f"log.{fmt}"
    if fmt == "csv":
        path.write_text("score,label,ts\n" + "".join(f"{float(a)!r},{b},{t}\n" for a, b, t in zip(p, y, ticks)))
    elif fmt == "jsonl":
        _jsonl(path, p, y, ts=ticks)
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"score": p, "label": y, "ts": np.array(ticks, np.int64)}), path)
    expected = [int(c) for c in np.unique(seconds // 3600, return_counts=True)[1]]
    for extra in ([], ["--time-unit", unit]):
        code, out, err = _run(capsys, "score", str(path), "--time", "ts", "--window", "1h", "--json", *extra)
        result = json.loads(out)
        assert (code, err, result["skipped"]) == (0, "", {})
        assert [w["rows"] for w in result["windows"]] == expected
        assert result["windows"][0]["start"] == "2023-11-14T22:00:00+00:00"


@pytest.mark.parametrize("fast", [True, False])
def test_unreadable_and_out_of_range_times_are_counted(tmp_path, capsys, monkeypatch, fast):  # type: ignore[no-untyped-def]
    """Finding: a time cell of 1e20 or nan ended in a traceback."""
    if not fast:
        monkeypatch.setattr("calipers.io.readers.scanner", lambda: None)
    cells = ["1e25", "nan", "1700000000", "-1e30", "2024-02-30", "2024-01-01T00:00:00Z", "1e20", "inf"]
    path = tmp_path / "t.csv"
    path.write_text("score,label,ts\n" + "".join(f"0.5,{i % 2},{c}\n" for i, c in enumerate(cells)))
    code, out, err = _run(capsys, "score", str(path), "--time", "ts", "--window", "1d", "--json")
    result = json.loads(out)
    assert (code, err) == (0, "")
    assert result["skipped"] == {"'ts' out of range": 2, "unreadable time 'ts'": 3}
    assert result["skipped_first"] == {"'ts' out of range": f"{path}:2", "unreadable time 'ts'": f"{path}:3"}
    # 1e20 is read as nanoseconds (year 5138): detection takes the first unit giving a date
    assert [w["start"] for w in result["windows"]] == [
        "2023-11-14T00:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
        "5138-11-16T00:00:00+00:00",
    ]
    code, out, _ = _run(capsys, "score", str(path), "--time", "ts", "--window", "1d", "--time-unit", "s", "--json")
    assert json.loads(out)["skipped"] == {"'ts' out of range": 3, "unreadable time 'ts'": 3}


# -- unreadable inputs ---------------------------------------------------------------------------


def _broken_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    p, y = _data(200)
    good = _jsonl(tmp_path / "good.jsonl", p, y)
    data = gzip.compress(good.read_bytes())
    (tmp_path / "truncated.jsonl.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "plain.jsonl.gz").write_bytes(good.read_bytes())
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1" + b"\x00" * 40 + b"PAR1")
    (tmp_path / "log.xlsx").write_bytes(b"PK")
    return {
        "truncated gzip": (
            tmp_path / "truncated.jsonl.gz",
            "truncated gzip (the compressed stream ends before its end marker)",
        ),
        "not a gzip file": (tmp_path / "plain.jsonl.gz", "not a gzip file (Not a gzipped file (b'{\"'))"),
        "not a readable Parquet file": (tmp_path / "corrupt.parquet", "not a readable Parquet file ("),
        "unknown format": (
            tmp_path / "log.xlsx",
            "unknown format (expected .jsonl/.ndjson, .csv/.tsv (optionally .gz) or .parquet)",
        ),
        "No such file or directory": (tmp_path / "missing.jsonl", "No such file or directory"),
    }


def test_unreadable_files_give_one_line_and_exit_2(tmp_path, capsys):  # type: ignore[no-untyped-def]
    """Finding: a truncated .gz, a non-gzip .gz and a corrupt Parquet file ended in
    tracebacks; one unreadable file aborted a multi-file run."""
    pytest.importorskip("pyarrow")
    broken = _broken_files(tmp_path)
    cal = tmp_path / "cal.json"
    assert main(["fit", "platt", str(tmp_path / "good.jsonl"), "-o", str(cal), "--quiet"]) == 0
    for reason, (path, detail) in broken.items():
        if reason == "No such file or directory":
            assert _run(capsys, "score", str(path)) == (2, "", f"calipers score: no such file: {path}\n")
            continue
        code, out, err = _run(capsys, "score", str(tmp_path / "good.jsonl"), str(path))
        assert (code, out) == (2, "")
        assert err.startswith(f"calipers score: cannot read {path}: {detail}")
        assert err.endswith("; --keep-going skips such files\n") and err.count("\n") == 1
        code, _, err = _run(capsys, "fit", "platt", str(path), "-o", str(tmp_path / "c.json"))
        assert code == 2 and err.startswith(f"calipers fit: cannot read {path}: {detail}")
        out = tmp_path / "o.jsonl"  # the good file's rows are written first: then the run fails, output discarded
        code, _, err = _run(capsys, "apply", str(cal), str(tmp_path / "good.jsonl"), str(path), "-o", str(out))
        assert code == 2 and err.startswith(f"calipers apply: cannot read {path}: {detail}")
        assert not out.exists()
    assert not (tmp_path / "c.json").exists()


def test_keep_going_counts_unreadable_files_by_reason(tmp_path, capsys):  # type: ignore[no-untyped-def]
    pytest.importorskip("pyarrow")
    broken = _broken_files(tmp_path)
    paths = [str(tmp_path / "good.jsonl")] + [str(path) for path, _ in broken.values()]
    code, out, err = _run(capsys, "score", *paths, "--keep-going", "--json")
    result = json.loads(out)
    assert (code, err, result["rows"]) == (0, "", 200)
    assert result["skipped"] == {f"unreadable file: {reason}": 1 for reason in broken}
    assert result["skipped_first"] == {f"unreadable file: {reason}": str(path) for reason, (path, _) in broken.items()}
    good = json.loads(_run(capsys, "score", str(tmp_path / "good.jsonl"), "--json")[1])
    assert result["metrics"] == good["metrics"]  # the truncated file's first half counted nothing
    code, out, _ = _run(capsys, "score", *paths[1:], "--keep-going")
    assert code == 1  # nothing readable: nothing scored
    cal = tmp_path / "cal.json"
    assert _run(capsys, "fit", "platt", *paths, "--keep-going", "-o", str(cal)) == (
        0,
        "",
        f"calipers fit: platt fitted on 200 rows ({len(broken)} skipped), written to {cal}\n",
    )


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # distributed's own sockets and port notices
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keep_going_under_dask(tmp_path, capsys):  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    broken = _broken_files(tmp_path)
    paths = [str(tmp_path / "good.jsonl")] + [str(path) for path, _ in broken.values()]
    code, out, err = _run(capsys, "score", *paths, "--keep-going", "--json", "--dask", "local:2")
    result = json.loads(out)
    assert (code, result["rows"]) == (0, 200)
    assert result["skipped"] == {f"unreadable file: {reason}": 1 for reason in broken}
    truncated = str(broken["truncated gzip"][0])
    code, out, err = _run(capsys, "score", paths[0], truncated, "--dask", "local:2")
    assert (code, out) == (2, "")
    assert err == (
        f"calipers score: cannot read {truncated}: truncated gzip (the compressed stream ends before its end "
        "marker); --keep-going skips such files\n"
    )


# -- unwritable outputs --------------------------------------------------------------------------


def test_unwritable_outputs_are_one_line_before_any_work(tmp_path, capsys, log, cal):  # type: ignore[no-untyped-def]
    """Finding: any unwritable path for apply -o, fit -o, --save-sketch, --report and merge -o
    ended in a traceback."""
    path = str(log[0])
    assert main(["score", path, "--save-sketch", str(tmp_path / "s.bin"), "--quiet"]) == 0
    capsys.readouterr()
    (tmp_path / "folder").mkdir()
    bad = {
        "No such file or directory": str(tmp_path / "nowhere" / "out.jsonl"),
        "Not a directory": f"{path}/out.jsonl",
        "Is a directory": str(tmp_path / "folder"),
    }
    listing = _listing(tmp_path)
    for reason, target in bad.items():
        for argv in (
            ["apply", str(cal), path, "-o", target],
            ["fit", "platt", path, "-o", target],
            ["score", path, "--save-sketch", target],
            ["merge", str(tmp_path / "s.bin"), "-o", target],
        ):
            assert _run(capsys, *argv) == (2, "", f"calipers {argv[0]}: cannot write {target}: {reason}\n"), argv
    assert _run(capsys, "score", path, "--report", f"{path}/report") == (
        2,
        "",
        f"calipers score: cannot write {path}/report: {path} is not a directory\n",
    )
    assert _listing(tmp_path) == listing


def test_a_closed_stdout_is_one_line_not_a_traceback(tmp_path):  # type: ignore[no-untyped-def]
    """Finding: `calipers score ... | head` ended in a BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "calipers", "score", "--sample", "--bins", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before calipers writes, as `| head -0` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 2
    assert err == "calipers score: cannot write <stdout>: Broken pipe (its reader closed it)\n"


# -- everything score computed is saved and merged back --------------------------------------------


def test_save_sketch_keeps_groups_windows_and_skips_and_merge_reads_them(tmp_path, capsys):  # type: ignore[no-untyped-def]
    """Finding: --save-sketch with --by saved only the overall sketch, so merge lost the groups
    and the skip counts."""
    rng = np.random.default_rng(5)
    n = 3000
    p, y = _data(n, 5)
    model = rng.choice(["a", "b", "c"], n).tolist()
    ts = (1_700_000_000 + rng.integers(0, 4 * 3600, n)).tolist()
    parts = []
    for k, idx in enumerate(np.array_split(np.arange(n), 3)):
        path = _jsonl(
            tmp_path / f"part{k}.jsonl", p[idx], y[idx], model=[model[i] for i in idx], ts=[ts[i] for i in idx]
        )
        with open(path, "a") as fh:
            fh.write('{"score": "bad", "label": 1, "model": "a", "ts": 1700000000}\n')
        parts.append(str(path))
    flags = ["--by", "model", "--time", "ts", "--window", "1h", "--json"]
    one_run = json.loads(_run(capsys, "score", *parts, *flags)[1])
    saved = []
    for k, path in enumerate(parts):
        saved.append(str(tmp_path / f"part{k}.bin"))
        assert _run(capsys, "score", path, *flags, "--save-sketch", saved[-1])[0] == 0
    code, out, err = _run(capsys, "merge", *saved, "--json", "-o", str(tmp_path / "all.bin"))
    merged = json.loads(out)
    assert (code, err) == (0, "")
    for key in ("rows", "skipped", "groups", "windows", "metrics", "reliability"):
        assert merged[key] == one_run[key], key
    assert merged["skipped"] == {"non-numeric 'score'": 3}
    assert merged["skipped_first"]["non-numeric 'score'"] == f"{parts[0]}:1001"
    assert merged["metrics"]["pce"] == pytest.approx(one_run["metrics"]["pce"], rel=1e-12)
    scored, window = load_saved((tmp_path / "all.bin").read_bytes())
    assert window == 3600.0 and scored.rows == n and set(scored.groups) == {"a", "b", "c"}
    # a plain sketch file (the old --save-sketch output) still merges
    old = tmp_path / "old.bin"
    old.write_bytes(calipers.ReliabilitySketch(15).update(p, y).to_bytes())
    code, out, _ = _run(capsys, "merge", str(old), "--json")
    assert code == 0 and json.loads(out)["metrics"]["ece"] == pytest.approx(calipers.ece(p, y), rel=1e-12)
    code, _, err = _run(capsys, "merge", str(old), saved[0])
    assert code == 2 and err == (
        f"calipers merge: cannot merge {saved[0]} (saved with --by) and {old} (saved without): their groups "
        "would cover part of the rows only\n"
    )
    other = tmp_path / "other.bin"
    assert _run(capsys, "score", parts[0], "--time", "ts", "--window", "30m", "--save-sketch", str(other))[0] == 0
    code, _, err = _run(capsys, "merge", str(other), str(tmp_path / "all.bin"))
    assert (code, err) == (
        2,
        f"calipers merge: cannot merge windows of 1800 s ({other}) and of 3600 s ({tmp_path / 'all.bin'})\n",
    )


def test_saved_format_rejects_damage(tmp_path):  # type: ignore[no-untyped-def]
    from calipers.cli.saved import dump_saved
    from calipers.cli.scored import Scored
    from calipers.io import Skipped

    p, y = _data(100)
    sketch = calipers.ReliabilitySketch(15).update(p, y)
    groups = calipers.GroupedSketch(15).update(p, y, np.where(p < 0.5, "lo", "hi"))
    skipped = Skipped()
    skipped.add("NaN 'score'", "x.jsonl:3", 2)
    blob = dump_saved(Scored(sketch, 100, skipped, groups, calipers.GroupedSketch(15)), None)
    scored, window = load_saved(blob)
    assert (scored.rows, scored.skipped.counts, window, len(scored.groups)) == (100, {"NaN 'score'": 2}, None, 2)
    for bad in (blob[:-1], blob[:30], blob[:20] + b"\xff" + blob[21:]):
        with pytest.raises(ValueError):
            load_saved(bad)
    wrong_rows = dump_saved(Scored(sketch, 99, skipped, groups, calipers.GroupedSketch(15)), None)
    with pytest.raises(ValueError, match="says 99 rows but its sketch holds 100"):
        load_saved(wrong_rows)
    half = calipers.GroupedSketch(15).update(p[:50], y[:50], ["a"] * 50)
    with pytest.raises(ValueError, match="its groups hold 50 rows, its sketch 100"):
        load_saved(dump_saved(Scored(sketch, 100, skipped, half, calipers.GroupedSketch(15)), None))
    with pytest.raises(TypeError):
        load_saved("text")  # type: ignore[arg-type]


# -- the HTML report -----------------------------------------------------------------------------


def test_report_shows_mode_pce_interval_readable_names_and_a_share_scale(tmp_path, capsys, cifar):  # type: ignore[no-untyped-def]
    """Finding: the HTML report left out the PCE and the --bootstrap interval, never said
    'top-label' for multiclass input, labelled metrics by raw keys and drew the sample-share
    bars without a scale."""
    pytest.importorskip("matplotlib")
    P, labels = cifar
    P, labels = P[:2000], labels[:2000]
    path = tmp_path / "probs.jsonl"
    with open(path, "w") as fh:
        for i, (row, label) in enumerate(zip(P, labels)):
            fh.write(json.dumps({"probs": row.tolist(), "label": int(label), "split": "ab"[i % 2]}) + "\n")
    report = tmp_path / "report"
    argv = ["score", str(path), "--probs", "probs", "--by", "split", "--bootstrap", "200", "--binning", "mass"]
    code, out, _ = _run(capsys, *argv, "--report", str(report), "--json")
    result = json.loads(out)
    assert (code, result["mode"]) == (0, "top-label")
    page = (report / "index.html").read_text()
    assert (
        '<p id="mode">Mode: top-label: the largest class probability against whether that class was right.</p>' in page
    )
    assert f'<th title="pce">PCE across groups (top-label)</th><td>{result["metrics"]["pce"]:.6f}</td>' in page
    lo, hi = result["metrics"]["ece_width_interval_95"]
    assert f"<td>[{lo:.6f}, {hi:.6f}] (200 Poisson bootstrap replicates)</td>" in page
    assert '<th title="ece_l2">RMS calibration error (top-label)</th>' in page
    assert '<th title="ece">ECE (mass, l1) (top-label)' in page and ">ece_l2<" not in page
    assert "<th>share of samples</th>" in page
    text = _run(capsys, *argv)[1]
    assert "mode: top-label (pairs from the (n, K) probabilities)" in text
    assert "Brier score (top-label):" in text
    import matplotlib

    matplotlib.use("Agg")
    ax = calipers.reliability(P, labels, binning="mass").plot()
    scale = [a for a in ax.figure.axes if a is not ax]
    assert len(scale) == 1 and scale[0].get_ylabel() == "share of samples"
    top = calipers.reliability(P, labels, binning="mass").count.max() / 2000
    assert scale[0].get_ylim() == pytest.approx((0.0, 4 * top))  # the tallest bar (height 1/4) reads `top`


def test_a_write_that_fails_midway_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, log, cal):  # type: ignore[no-untyped-def]
    """A full disk while apply writes: one line naming the output, no target, no temporary file."""
    from calipers.io.writers import RowWriter

    calls = []
    real = RowWriter.write

    def fill_up(self, records):  # type: ignore[no-untyped-def]
        calls.append(len(records))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(self, records)

    monkeypatch.setattr(RowWriter, "write", fill_up)
    out = tmp_path / "out.jsonl"
    listing = _listing(tmp_path)
    code, stdout, err = _run(capsys, "apply", str(cal), str(log[0]), "-o", str(out), "--chunk-size", "100")
    assert (code, stdout, err) == (2, "", f"calipers apply: cannot write {out}: No space left on device\n")
    assert calls == [100, 100] and _listing(tmp_path) == listing


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_explicit_time_unit_scales_numbers_never_iso_times(tmp_path, fast, fmt):  # type: ignore[no-untyped-def]
    from calipers.io import Columns, Skipped, read_table_chunks

    cells = ["1700000000123", "2023-11-14T22:13:20Z", "1700000000000", "true"]
    path = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        path.write_text("score,label,ts\n" + "".join(f"0.5,1,{c}\n" for c in cells))
    else:
        values = [1700000000123, "2023-11-14T22:13:20Z", "1700000000000", True]
        path.write_text("".join(json.dumps({"score": 0.5, "label": 1, "ts": v}) + "\n" for v in values))
    skipped = Skipped()
    chunks = list(read_table_chunks([str(path)], Columns(time="ts", time_unit="ms"), skipped=skipped, fast=fast))
    times = sorted(float(t) for c in chunks for t in c.times)  # type: ignore[union-attr]
    assert times == [1700000000.0, 1700000000.0, 1700000000.123]
    assert skipped.counts == {"unreadable time 'ts'": 1}
