"""The C++ line scanner against the row-by-row reader: the same valid rows, the same skip
counts per reason and the same first file:line, on logs with every kind of bad row."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from calipers.io import Columns, MalformedRow, Skipped, read_table_chunks
from calipers.io.scan import scanner

pytestmark = pytest.mark.skipif(scanner() is None, reason="the C++ extension is not built")

GOOD_JSON = ['{"score": %s, "label": %s, "g": "%s", "t": %s}']
BAD_JSONL = [
    '{"score": 0.5, "label": 1, "g": "a"',  # invalid JSON
    "[0.5, 1]",  # not an object
    '{"label": 1, "g": "a", "t": 5}',  # missing score
    '{"score": "high", "label": 1, "g": "a", "t": 5}',  # non-numeric
    '{"score": NaN, "label": 1, "g": "a", "t": 5}',  # NaN
    '{"score": 1.5, "label": 1, "g": "a", "t": 5}',  # outside
    '{"score": 0.5, "label": 2, "g": "a", "t": 5}',  # not 0 or 1
    '{"score": 0.5, "label": 0.5, "g": "a", "t": 5}',  # not an integer
    '{"score": 0.5, "label": null, "g": "a", "t": 5}',  # missing label
    '{"score": 0.5, "label": 1, "t": 5}',  # missing group
    '{"score": 0.5, "label": 1, "g": "a", "t": "yesterday"}',  # unreadable time
    '{"score": 0.5, "label": 1, "g": "a", "t": true}',  # boolean time
    '{"score": 0.5, "label": 1, "g": "a", "t": 5} trailing',
    '{"score": -0.0, "label": 1, "g": "a", "t": 5}',
    '{"score": 1e-3, "label": true, "g": "a\\u00e9", "t": "2026-01-02T03:04:05.123456789Z"}',  # escaped group
    '{"score": 0.25, "label": "1", "g": 7, "t": "2026-01-02 03:04:05+02:00"}',  # spelled as strings/numbers
    '{"sc\\u006fre": 0.25, "label": 1, "g": "b", "t": 1}',  # escaped key
    '{"score": 0.25, "label": 1, "g": "b", "t": 1, "extra": {"x": [1, 2, {"y": "\\"}"}]}}',
    '{"score": 01, "label": 1, "g": "b", "t": 1}',  # leading zero: invalid JSON
    '{"score": 0.25, "label": 1, "g": "", "t": 1}',  # empty group
    "   ",
    '{"score": 0.75, "label": 0, "g": "b", "t": "2026-02-30"}',  # impossible date
    '{"score": 0.75, "label": 0, "g": "b", "t": "2026-02-28"}',
    '{"score": 0.5, "label": 1, "g": "a", "t": 1700000000123}',  # epoch milliseconds
    '{"score": 0.5, "label": 1, "g": "a", "t": "1700000000123456"}',  # microseconds, spelled as a string
    '{"score": 0.5, "label": 1, "g": "a", "t": 1e25}',  # out of range in every unit
    '{"score": 0.5, "label": 1, "g": "a", "t": -1e12}',
    '{"score": 0.1, "label": 1, "g": "a", "t": 5, "score": 0.9}',  # duplicate key (wanted)
    '{"score": 0.1, "label": 1, "g": "a", "t": 5, "x": 1, "x": 2}',  # duplicate key (not wanted)
    '{"score": 0.1, "label": 1, "g": "a", "t": 5, "m": {"k": [{"z": 1, "z": 2}]}}',  # nested duplicate
    '{"score": 0.1, "label": 1, "g": "a", "t": 5, "m": {"z": 1}, "n": {"z": 1}}',  # siblings: no duplicate
]
BAD_CSV = [
    "0.5,1",  # too few columns
    "high,1,a,5",
    "nan,1,a,5",
    "1.5,1,a,5",
    "0.5,2,a,5",
    "0.5,0.5,a,5",
    "0.5,,a,5",
    "0.5,1,,5",
    "0.5,1,a,yesterday",
    '"0.25",1,"quoted group",5',
    " 0.25,1,a,5",  # float() strips spaces: the row parser decides
    "+0.25,1,a,5",
    "0.25,1.0,a,2026-01-02T03:04:05Z",
    "0.25,1,a,5,extra",
    "1e999,1,a,5",
    "0.25,1,b,2026-01-02T03:04",
    "",
    "0.5,1,a,1700000000123",
    "0.5,1,a,1e25",
    "0.5,1,a,1700000000123456789",
    "0.5,True,a,5",  # boolean labels as pandas and spreadsheets write them
    "0.5,FALSE,a,5",
    "0.5, true ,a,5",
    "0.5,yes,a,5",
    "True,1,a,5",  # never a score
]


def _good_row(rng: np.random.Generator, fmt: str) -> str:
    p, y = rng.random(), int(rng.random() < 0.5)
    g, t = rng.choice(["a", "b", "c"]), int(rng.integers(0, 10_000))
    if fmt == "jsonl":
        return json.dumps({"score": p, "label": y, "g": str(g), "t": t})
    return f"{p!r},{y},{g},{t}"


def _write(tmp_path, fmt: str, seed: int, n: int = 3000, gz: bool = False) -> str:
    rng = np.random.default_rng(seed)
    bad = BAD_JSONL if fmt == "jsonl" else BAD_CSV
    lines = [] if fmt == "jsonl" else ["score,label,g,t"]
    for _ in range(n):
        lines.append(bad[rng.integers(len(bad))] if rng.random() < 0.2 else _good_row(rng, fmt))
    path = tmp_path / f"log{seed}.{fmt}" if not gz else tmp_path / f"log{seed}.{fmt}.gz"
    body = "\n".join(lines) + ("\n" if seed % 2 else "")  # with and without a final newline
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(body)
    else:
        path.write_text(body, encoding="utf-8")
    return str(path)


def _read(paths, cols, fast, chunk_size=700, classes=None):
    skipped = Skipped()
    chunks = list(read_table_chunks(paths, cols, chunk_size=chunk_size, skipped=skipped, fast=fast, classes=classes))
    assert all(len(c.labels) <= chunk_size for c in chunks)
    rows = []
    for c in chunks:
        for i in range(len(c.labels)):
            score = tuple(np.atleast_1d(c.scores[i]).tolist())
            rows.append(
                (
                    score,
                    int(c.labels[i]),
                    None if c.groups is None else str(c.groups[i]),
                    None if c.times is None else float(c.times[i]),
                )
            )
    return sorted(rows, key=repr), skipped


def _same(paths, cols, classes=None):
    fast_rows, fast_skipped = _read(paths, cols, True, classes=classes)
    slow_rows, slow_skipped = _read(paths, cols, False, classes=classes)
    assert fast_rows == slow_rows
    assert fast_skipped.counts == slow_skipped.counts
    assert fast_skipped.first == slow_skipped.first
    return fast_rows, fast_skipped


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scanner_equals_row_reader(tmp_path, fmt, seed):
    paths = [_write(tmp_path, fmt, seed), _write(tmp_path, fmt, seed + 10, gz=True)]
    rows, skipped = _same(paths, Columns(group="g", time="t"))
    assert len(rows) > 4000 and skipped.total > 500  # (a few BAD_CSV lines are valid: boolean labels)
    assert skipped.counts["'t' out of range"] > 10
    for unit in ("s", "ms", "us", "ns"):  # an explicit unit scales numbers, never ISO times: both paths agree
        rows, skipped = _same(paths, Columns(group="g", time="t", time_unit=unit))
        assert len(rows) > 4000
    rows, skipped = _same(paths, Columns())
    assert len(rows) > 4000 and skipped.total > 300


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_strict_names_the_same_line(tmp_path, fmt):
    path = _write(tmp_path, fmt, 3)
    messages = []
    for fast in (True, False):
        with pytest.raises(MalformedRow) as err:
            list(read_table_chunks([path], Columns(group="g", time="t"), strict=True, fast=fast))
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_probability_vectors(tmp_path):
    rng = np.random.default_rng(4)
    lines = []
    for _ in range(2000):
        p = rng.dirichlet(np.ones(3))
        row = {"probs": p.tolist(), "label": int(rng.integers(3))}
        r = rng.random()
        if r < 0.05:
            row["probs"] = p.tolist()[:2]
        elif r < 0.1:
            row["probs"] = (p * 1.01).tolist()
        elif r < 0.15:
            row["label"] = 3
        elif r < 0.2:
            row["probs"] = [True, False, False]
        elif r < 0.25:
            row["probs"] = [1.5, -0.5, 0.0]
        lines.append(json.dumps(row))
    lines.insert(0, '{"probs": [0.5, "x", 0.5], "label": 0}')  # bad before the width is known
    path = tmp_path / "vec.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rows, skipped = _same([str(path)], Columns(probs="probs"))
    assert len(rows) > 1400 and len(rows[0][0]) == 3
    assert set(skipped.counts) >= {"wrong vector length", "probabilities do not sum to 1", "'label' out of range"}
    _same([str(path)], Columns(probs="probs"), classes=3)


def test_probability_columns(tmp_path):
    rng = np.random.default_rng(5)
    lines = ["p0,p1,label"]
    for _ in range(1500):
        p = rng.dirichlet(np.ones(2))
        lines.append(f"{float(p[0])!r},{float(p[1])!r},{int(rng.integers(3))}")  # label 2 is out of range
    path = tmp_path / "cols.csv"
    path.write_text("\n".join(lines) + "\n")
    rows, skipped = _same([str(path)], Columns(prob_columns=["p0", "p1"]))
    assert skipped.counts["'label' out of range"] > 300 and len(rows) > 800


def test_missing_header_column(tmp_path):
    path = tmp_path / "nolabel.csv"
    path.write_text("score,y\n0.5,1\n0.25,0\n")
    rows, skipped = _same([str(path)], Columns())
    assert rows == [] and skipped.counts == {"missing field 'label'": 2}


# Tricky spellings: the scanner must take exactly what the row parser takes.
_CELLS = [
    "0.5",
    "1",
    "0",
    "1.0",
    "1e-3",
    "1E-3",
    ".5",
    "5.",
    "-0",
    "-0.0",
    "+0.5",
    " 0.5",
    "0.5 ",
    "nan",
    "inf",
    "1e999",
    "0x1",
    "1_0",
    "",
    "true",
    "True",
    "TRUE",
    "false",
    "False",
    "FALSE",
    " False\t",
    "tRUE",
    "2",
    "-1",
    "0.3e1",
    "1e",
    "e1",
    "--1",
    "0.5.5",
    "\u00e9",
    '"0.5"',
    "0,5",
    "1.5",
    "00.5",
    "-1e-400",
    "0.2_5",  # Python's float() takes these; the number rule does not
    "\uff10.\uff15",
    "\u00a00.5",
    "1e5_0",
    "Infinity",
    "-nan",
]
_JSON_VALUES = [
    "0.5",
    "1",
    "0",
    "1.0",
    "1e-3",
    "1E+0",
    "-0",
    "-0.0",
    "true",
    "false",
    "null",
    '"0.5"',
    '"x"',
    "01",
    "1.",
    ".5",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "[0.5]",
    "{}",
    '"a\\u00e9"',
    "2",
    "-1",
    '"\\"q\\""',
    "0.5 ",
    " 1",
    '"0.2_5"',
    '"\uff10.\uff15"',
    '"0_1"',
    '" 0.5\\t"',
    '"true"',
    '"False"',
    '"TRUE"',
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(_CELLS), st.sampled_from(_CELLS), st.sampled_from(_CELLS + ["g1", "g 2"])),
        min_size=1,
        max_size=40,
    )
)
def test_csv_spellings_match_the_row_parser(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "log.csv"
    body = "score,label,g\n" + "\n".join(",".join(r) for r in rows) + "\n"
    path.write_text(body, encoding="utf-8")
    _same([str(path)], Columns(group="g"))
    _same([str(path)], Columns())


@settings(max_examples=60, deadline=None)
@example(rows=[("0", "0", '"g1"'), ("-0", "-0", '"g1"')])  # json.loads reads -0 as int 0, not -0.0
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_JSON_VALUES),
            st.sampled_from(_JSON_VALUES),
            st.sampled_from(_JSON_VALUES + ['"g1"', '"g 2"']),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_jsonl_spellings_match_the_row_parser(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("jsonl") / "log.jsonl"
    body = "\n".join('{{"score": {}, "label": {}, "g": {}}}'.format(*r) for r in rows) + "\n"
    path.write_text(body, encoding="utf-8")
    _same([str(path)], Columns(group="g"))
    _same([str(path)], Columns())
