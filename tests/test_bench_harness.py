"""The benchmark harness: bench/timing.py times every side of a comparison alike, pins the
thread pools, refuses a headline from a row that is not like-for-like; bench/run_all.py finds
every marker of bench/README.md, README.md and docs/*.md, renders the stored results between
them (prose kept), refuses a quote no job prints, one without a stored value, one that does
not show its stored value and a printed key quoted nowhere, and runs a real job end to end at
the tiny size."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402
import timing  # noqa: E402

import calipers  # noqa: E402


def test_compare_warms_up_every_side_then_interleaves_the_same_rounds() -> None:
    calls: list[str] = []
    sides = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    out = timing.compare(sides, "quick", rounds=4, warmup=2)
    # two untimed calls per side first, then 4 rounds of a, b, c in that order
    assert calls == ["a", "a", "b", "b", "c", "c"] + ["a", "b", "c"] * 4
    assert {name: t.rounds for name, t in out.items()} == {"a": 4, "b": 4, "c": 4}
    assert all(t.warmup == 2 for t in out.values())


def test_compare_fits_rounds_in_the_budget_within_the_modes_bounds() -> None:
    lo, hi = timing.ROUNDS["quick"]
    fast = timing.compare({"x": lambda: None, "y": lambda: None}, "quick")
    assert fast["x"].rounds == fast["y"].rounds == hi  # instant calls: the most rounds
    slow = timing.compare({"x": lambda: __import__("time").sleep(0.02)}, "quick", budget=0.001)
    assert slow["x"].rounds == lo  # over budget: the fewest, never fewer
    with pytest.raises(ValueError, match="warmup"):
        timing.compare({"x": lambda: None}, "quick", warmup=0)


def test_timing_best_median_and_formats() -> None:
    t = timing.Timing((0.3, 0.1, 0.2, 0.5), 1)
    assert (t.best, t.median, t.rounds) == (0.1, 0.25, 4)
    assert t.cell() == "100 ms / 250 ms"
    assert [timing.fmt_seconds(x) for x in (2.5, 0.0123, 4.56e-6, 7e-8)] == ["2.5 s", "12.3 ms", "4.56 µs", "70 ns"]
    assert timing.fmt_ratio(1234.4) == "1,234x" and timing.fmt_ratio(3.456) == "3.46x"


def test_threads_pins_calipers_pool_and_restores_it() -> None:
    before = calipers.get_num_threads()
    with timing.threads(1):
        assert calipers.get_num_threads() == 1
        assert timing.thread_counts()["calipers"] == 1
    assert calipers.get_num_threads() == before


def _report(tmp_path: Path, mode: str = "tiny") -> timing.Report:
    args = timing.parse_args("test", [f"--{mode}", "--json", str(tmp_path / "out.json")])
    return timing.Report("bench/fake.py", args)


def test_report_refuses_rows_that_hide_what_differs(tmp_path: Path) -> None:
    report = _report(tmp_path)
    t = timing.Timing((1.0, 2.0), 1)
    with pytest.raises(ValueError, match="must say what differs"):
        report.pair("task", ("ours", t), ("theirs", t), threads="2 / 1", like_for_like=False)
    with pytest.raises(ValueError, match="like-for-like rows"):
        report.pair(
            "task", ("ours", t), ("theirs", t), threads="2 / 1", like_for_like=False, differs="x", headline=True
        )
    ratio = report.pair(
        "task", ("ours", t), ("theirs", timing.Timing((3.0, 4.0), 1)), threads="1 / 1", like_for_like=True
    )
    assert ratio == 3.0
    table = report.table("k", "a table", ["a", "b"])
    with pytest.raises(ValueError, match="2 columns"):
        table.add(1)
    table.add(1, 2)
    report.quote("some_number", "1.5 ms")
    data = report.finish()
    stored = json.loads((tmp_path / "out.json").read_text())
    assert stored["pairs"][0]["ratio"] == 3.0 and stored["pairs"][0]["ratio_median"] == 3.5 / 1.5
    assert stored["tables"][0]["rows"] == [["1", "2"]] and stored["quotes"] == {"some_number": "1.5 ms"}
    for key in ("load_start", "load_end", "machine", "versions", "threads_default", "blas", "started"):
        assert key in stored and stored[key] == data[key]
    assert stored["machine"]["nproc"] >= 1 and stored["machine"]["cpu"]


DOCS = sorted((ROOT / "docs").glob("*.md"))


def _quoting() -> dict[str, str]:
    files = run_all.quoting_files(ROOT / "README.md", ROOT / "docs")
    return {name: path.read_text(encoding="utf-8") for name, path in files.items()}


def _dry_run(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--quick", "--dry-run", *extra],
        capture_output=True,
        text=True,
        check=False,
    )


def test_dry_run_finds_every_marker_of_the_readmes_and_docs() -> None:
    """The repository as committed: every marker of README.md and docs/*.md names a key a
    job prints, has a stored value in bench/results and shows it; every printed key is quoted."""
    proc = _dry_run()
    assert proc.returncode == 0, proc.stderr
    assert "python bench/bench_sdm.py --quick" in proc.stdout
    assert f"all {len(run_all.SECTIONS)} blocks" in proc.stdout
    assert DOCS and all(f"docs/{p.name}" in proc.stdout for p in DOCS)
    n = sum(len(run_all.QUOTE_RE.findall(t)) for t in _quoting().values())
    assert f"the {n} quotes" in proc.stdout and n >= len({k for ks in run_all.QUOTES.values() for k in ks})
    # every docs page quotes numbers (what issue 15 asked: no hand-written measurements left there)
    for path in DOCS:
        assert run_all.QUOTE_RE.search(path.read_text(encoding="utf-8")), path.name


def test_dry_run_fails_on_a_missing_marker_or_an_unknown_quote(tmp_path: Path) -> None:
    bench = (BENCH / "README.md").read_text().replace("<!-- END run_all:job:sdm -->", "")
    readme = (ROOT / "README.md").read_text() + "\n<!-- bench:nobody -->1 s<!-- /bench:nobody -->\n"
    problems = run_all.check_markers(bench, {"README.md": readme})
    assert any("job:sdm" in p for p in problems) and any("README.md quotes bench:nobody" in p for p in problems)


def test_markers_of_the_docs_are_checked_like_the_readmes() -> None:
    bench = (BENCH / "README.md").read_text()
    texts = _quoting()
    assert run_all.check_markers(bench, texts) == []
    serving = texts["docs/serving.md"]
    # a stale key: a marker no job prints
    stale = {
        **texts,
        "docs/serving.md": serving + "\nSee <!-- bench:monitor_gone -->5 ms<!-- /bench:monitor_gone -->.\n",
    }
    assert run_all.check_markers(bench, stale) == ["docs/serving.md quotes bench:monitor_gone, which no job prints"]
    # a marker left open, or closed under another key
    broken = {**texts, "docs/serving.md": serving + "\nSee <!-- bench:monitor_read_copy -->5 ms.\n"}
    assert any(
        "bench:monitor_read_copy is opened 2 and closed 1 times" in p for p in run_all.check_markers(bench, broken)
    )
    # a printed key that no file quotes any more
    start = serving.index("<!-- bench:monitor_pending -->")
    end = serving.index("<!-- /bench:monitor_pending -->") + len("<!-- /bench:monitor_pending -->")
    dropped = {**texts, "docs/serving.md": serving[:start] + "about 200 bytes" + serving[end:]}
    assert run_all.check_markers(bench, dropped) == [
        "bench:monitor_pending (printed by serving) is quoted nowhere: drop it from QUOTES or quote it"
    ]
    # an inline number at the start of a line would be an HTML block in markdown (the paragraph splits)
    split = {
        **texts,
        "docs/sdm.md": texts["docs/sdm.md"].replace(
            "end to end.", "end to end\n<!-- bench:sdm_one_query -->1 ms<!-- /bench:sdm_one_query -->."
        ),
    }
    assert any("bench:sdm_one_query starts a line" in p for p in run_all.check_markers(bench, split))


def test_docs_markers_need_a_stored_value_that_they_show() -> None:
    texts = _quoting()
    results = run_all.load_results(BENCH / "results")
    assert run_all.check_stored(texts, results) == []
    # a marker whose job has no stored result (never run, or its results deleted)
    without = {job: d for job, d in results.items() if job != "serving"}
    missing = run_all.check_stored(texts, without)
    assert missing and all("run the serving job" in p for p in missing)
    assert any(p.startswith("docs/serving.md quotes bench:monitor_memory_table") for p in missing)
    # a stored result without one of its keys
    no_key = {**results, "sdm": {**results["sdm"], "quotes": {"sdm_one_query": "1 ms"}}}
    problems = run_all.check_stored(texts, no_key)
    assert "docs/sdm.md quotes bench:sdm_calibration_knn, which no stored result has (run the sdm job)" in problems
    assert any("README.md's bench:sdm_one_query is not the stored value '1 ms'" in p for p in problems)
    # a number edited by hand between the markers
    stored = results["serving"]["quotes"]["monitor_read_copy"]
    edited = {**texts, "docs/serving.md": texts["docs/serving.md"].replace(stored, "5 ms")}
    assert run_all.check_stored(edited, results) == [
        f"docs/serving.md's bench:monitor_read_copy is not the stored value {stored!r} (render it)"
    ]


def test_dry_run_exits_nonzero_on_a_stale_docs_key_or_a_missing_stored_value(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    page = docs / "sdm.md"
    page.write_text(page.read_text() + "\nIt takes <!-- bench:sdm_old -->9 s<!-- /bench:sdm_old -->.\n")
    proc = _dry_run("--docs-dir", str(docs))
    assert proc.returncode == 1 and "docs/sdm.md quotes bench:sdm_old, which no job prints" in proc.stderr
    shutil.copytree(ROOT / "docs", docs, dirs_exist_ok=True)  # the stale key removed again
    results = tmp_path / "results"
    shutil.copytree(BENCH / "results", results)
    (results / "examples.json").unlink()
    proc = _dry_run("--docs-dir", str(docs), "--results-dir", str(results))
    assert proc.returncode == 1
    assert "docs/debiasing.md quotes bench:example_hcal_table, which no stored result has (run the examples job)" in (
        proc.stderr
    )


def test_every_stored_result_prints_exactly_the_quotes_its_job_declares() -> None:
    results = run_all.load_results(BENCH / "results")
    assert set(results) == set(run_all.JOBS)
    for job, d in results.items():
        assert sorted(d.get("quotes", {})) == sorted(run_all.QUOTES.get(job, [])), job
    # the docs' tables are markdown tables with blank lines around them, so they render
    for key in ("debias_table", "monitor_memory_table", "example_hcal_table", "example_debias_contrast"):
        value = run_all.stored_quotes(results)[key]
        assert value.startswith("\n\n| ") and value.endswith("|\n\n") and "\n|---|" in value, key


def _fake_result(job: str) -> dict[str, Any]:
    t = {"best": 0.001, "median": 0.002, "rounds": 3, "warmup": 1}
    pair = {
        "task": "a | b",
        "ours": "calipers",
        "ours_time": t,
        "other": "peer",
        "other_time": {**t, "best": 0.004, "median": 0.006},
        "ratio": 4.0,
        "ratio_median": 3.0,
        "threads": "1 / 1",
        "results": "values agree: |diff| 0",
        "like_for_like": True,
        "differs": "",
        "headline": True,
        "rounds": 3,
    }
    other = {**pair, "like_for_like": False, "headline": False, "differs": "threads: 2 vs 1", "task": "other row"}
    return {
        "job": job,
        "command": f"python bench/{job}.py --quick",
        "started": "2026-01-01T00:00:00+00:00",
        "seconds": 12.0,
        "load_start": [1.0, 1.5, 2.0],
        "load_end": [1.25, 1.5, 2.0],
        "machine": {"nproc": 2, "cpu": "Test CPU", "python": "3.11", "os": "Linux"},
        "versions": {"calipers": "0.1.0", "numpy": "2.4", "faiss-cpu": "not installed"},
        "blas": ["openblas: kernel SkylakeX"],
        "threads_default": {"calipers": 2},
        "pairs": [pair, other],
        "tables": [{"key": "t", "title": "A table", "columns": ["x", "y"], "rows": [["1", "2"]], "notes": []}],
        "quotes": {"bootstrap_1e6": "9.9 ms"} if job == "estimators" else {},
        "notes": ["a note"],
    }


def test_render_fills_every_block_keeps_the_prose_and_stamps_each_table() -> None:
    text = (BENCH / "README.md").read_text()
    results = {job: _fake_result(job) for job in ("speed", "estimators")}
    header = {"command": "python bench/run_all.py --quick", "date": "2026-01-01", "load_start": [1.0, 1.0, 1.0],
              "load_end": [2.0, 2.0, 2.0], "seconds": 99.0}  # fmt: skip
    out = run_all.render(text, results, header)
    # the prose outside the markers is unchanged
    strip = run_all.re.compile(r"<!-- BEGIN run_all:([\w:-]+) -->.*?<!-- END run_all:\1 -->", run_all.re.S)
    assert strip.sub("", out) == strip.sub("", text)
    like = out.split("<!-- BEGIN run_all:like-for-like -->")[1].split("<!-- END run_all:like-for-like -->")[0]
    # a stamp names the command, date, machine, versions, BLAS and load at start and end
    for piece in ("`python bench/speed.py --quick`", "2026-01-01T00:00:00+00:00", "2 cores (Test CPU)",
                  "numpy 2.4", "not installed: faiss-cpu", "kernel SkylakeX", "1.0/1.5/2.0 at the start",
                  "1.25/1.5/2.0 at the end"):  # fmt: skip
        assert piece in like, piece
    assert (
        "| a \\| b | calipers | 1 ms / 2 ms | peer | 4 ms / 6 ms | 4x; 3x | 1 / 1 | values agree: \\|diff\\| 0 |"
        in like
    )
    assert "other row" not in like
    others = out.split("<!-- BEGIN run_all:other-pairs -->")[1].split("<!-- END run_all:other-pairs -->")[0]
    assert "| threads: 2 vs 1 |" in others and "a \\| b" not in others
    headline = out.split("<!-- BEGIN run_all:headline -->")[1].split("<!-- END run_all:headline -->")[0]
    assert headline.count("\n- ") == 2 and "other row" not in headline
    assert "(not run yet)" in out.split("<!-- BEGIN run_all:job:sdm -->")[1].split("<!-- END")[0]
    assert "**A table**" in out.split("<!-- BEGIN run_all:job:speed -->")[1].split("<!-- END")[0]
    # README.md's quotes
    readme = "x <!-- bench:bootstrap_1e6 -->18 ms<!-- /bench:bootstrap_1e6 --> y"
    assert (
        run_all.quote(readme, results, strict=True)
        == "x <!-- bench:bootstrap_1e6 -->9.9 ms<!-- /bench:bootstrap_1e6 --> y"
    )
    with pytest.raises(SystemExit, match="sdm_one_query"):
        run_all.quote("<!-- bench:sdm_one_query -->1<!-- /bench:sdm_one_query -->", results, strict=True)
    # a docs page's quote may be a whole table (blank lines around it, so that it renders)
    table = timing.quoted_table(["a", "b"], [["1", "x | y"]])
    assert table == "\n\n| a | b |\n|---|---|\n| 1 | x \\| y |\n\n"
    page = "Sizes:\n<!-- bench:monitor_memory_table -->\n\nold\n\n<!-- /bench:monitor_memory_table -->\n\nMore."
    with_table = {**results, "serving": {**_fake_result("serving"), "quotes": {"monitor_memory_table": table}}}
    assert run_all.quote(page, with_table, strict=True, name="docs/serving.md") == (
        f"Sizes:\n<!-- bench:monitor_memory_table -->{table}<!-- /bench:monitor_memory_table -->\n\nMore."
    )
    with pytest.raises(SystemExit, match=r"docs/serving\.md quotes bench:monitor_memory_table"):
        run_all.quote(page, results, strict=True, name="docs/serving.md")
    with pytest.raises(SystemExit, match="no <!-- BEGIN run_all:run -->"):
        run_all.render("no markers", results, header)


def test_run_all_tiny_runs_a_job_and_rewrites_only_its_copies(tmp_path: Path) -> None:
    """A real job (the speed section at the tiny size, a few seconds) through run_all."""
    shutil.copy(BENCH / "README.md", tmp_path / "bench.md")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    before = (BENCH / "README.md").read_text()
    docs_before = {p.name: p.read_text() for p in DOCS}
    proc = subprocess.run(
        [
            *(sys.executable, str(BENCH / "run_all.py"), "--tiny", "--only", "speed"),
            *("--results-dir", str(tmp_path / "results"), "--readme", str(tmp_path / "bench.md")),
            *("--root-readme", str(tmp_path / "README.md"), "--docs-dir", str(tmp_path / "docs")),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = json.loads((tmp_path / "results" / "speed.json").read_text())
    assert stored["command"] == "python bench/ratios.py speed --tiny"
    lfl = [p for p in stored["pairs"] if p["like_for_like"]]
    assert lfl and all(p["threads"] in ("1 / 1", "2 / 2") for p in lfl)
    assert all(p["ours_time"]["rounds"] == p["other_time"]["rounds"] == p["rounds"] >= 2 for p in stored["pairs"])
    assert all("agree" in p["results"] for p in stored["pairs"])
    out = (tmp_path / "bench.md").read_text()
    assert "### python bench/ratios.py speed --tiny" in out and "numpy bincount ECE" in out
    assert (BENCH / "README.md").read_text() == before  # the repository's copies are untouched
    assert {p.name: p.read_text() for p in DOCS} == docs_before
    # tiny mode leaves quotes without a stored value alone (only speed ran, and it prints none)
    assert (tmp_path / "docs" / "serving.md").read_text() == docs_before["serving.md"]
