"""Run every benchmark script of bench/ and regenerate the tables of bench/README.md and the
numbers README.md and docs/*.md quote, from one command.

    python bench/run_all.py --quick            # every script at its quick sizes (under 10 minutes on 2 cores)
    python bench/run_all.py --full             # the larger sizes
    python bench/run_all.py --quick --dry-run  # print the commands; check every marker against the stored results
    python bench/run_all.py --quick --only sdm logs   # re-run some jobs; render from every stored result

Each job is one script in a fresh process (``python bench/SCRIPT ARGS --MODE --json ...``);
its results are stored in bench/results/JOB.json and every table is rendered from the
stored results, between ``<!-- BEGIN run_all:KEY -->`` and ``<!-- END run_all:KEY -->`` in
bench/README.md (the prose around them stays), each under a line naming its command, date,
machine, versions and load average at the start and end of the job. Like-for-like rows come
first; the headline ratios are taken from like-for-like rows only. The numbers README.md and
docs/*.md quote sit between ``<!-- bench:KEY -->`` and ``<!-- /bench:KEY -->`` (a value may be
a whole markdown table or code block); each KEY is printed by one job (:data:`QUOTES`,
``Report.quote``) and stored in its result. ``--dry-run`` checks, without running anything,
that every marker is closed, names a key some job prints, has a stored value and shows that
value, and that every key a job prints is quoted somewhere.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from timing import fmt_ratio, loadavg, machine, markdown_table, md_cell, pair_cells  # noqa: E402

#: job name -> the script and its arguments (the mode and --json are added)
JOBS: dict[str, list[str]] = {
    "speed": ["ratios.py", "speed"],
    "sketch": ["ratios.py", "sketch"],
    "calibrators": ["ratios.py", "calibrators"],
    "estimators": ["bench_estimators.py"],
    "sdm": ["bench_sdm.py"],
    "debiased": ["bench_debiased.py"],
    "logs": ["bench_logs.py"],
    "serving": ["bench_serving.py"],
    "examples": ["bench_examples.py"],
}
#: the quotes of README.md and docs/*.md each job prints (``Report.quote``), at every size
QUOTES: dict[str, list[str]] = {
    "estimators": ["bootstrap_1e6"],
    "sdm": ["sdm_one_query", "sdm_calibration_knn"],
    "debiased": ["debias_table", "debias_bound_scale", "debias_fast_worst"],
    "logs": ["logs_rows", "logs_parquet", "logs_csv", "logs_jsonl", "logs_peak_rss", "apply_parquet"],
    "serving": [
        "monitor_record", "monitor_record_costs", "monitor_record_replicates", "monitor_read_copy",
        "monitor_pending", "monitor_snapshot_smooth", "monitor_scrape", "monitor_scrape_format",
        "monitor_overall_bytes", "monitor_memory_table", "monitor_replicates_bytes", "monitor_replicates_memory",
    ],
    "examples": [
        "example_debias_fit", "example_debias_contrast", "example_debias_ppi", "example_hcal_table",
        "example_hcal_verdict", "example_sdm_output", "example_sdm_thin",
    ],
}  # fmt: skip
SECTIONS = ["run", "headline", "like-for-like", "other-pairs", *[f"job:{j}" for j in JOBS]]
BEGIN, END = "<!-- BEGIN run_all:{} -->", "<!-- END run_all:{} -->"
QUOTE_RE = re.compile(r"<!-- bench:([\w-]+) -->(.*?)<!-- /bench:\1 -->", re.S)
OPEN_RE, CLOSE_RE = re.compile(r"<!-- bench:([\w-]+) -->"), re.compile(r"<!-- /bench:([\w-]+) -->")


def command(job: str, mode: str) -> list[str]:
    """The job's command line (without --json)."""
    return [sys.executable, str(HERE / JOBS[job][0]), *JOBS[job][1:], f"--{mode}"]


def shown(job: str, mode: str) -> str:
    """The job's command as a reader types it from the repository root."""
    return " ".join(["python", f"bench/{JOBS[job][0]}", *JOBS[job][1:], f"--{mode}"])


def run_job(job: str, mode: str, results: Path, log_dir: Path) -> dict[str, Any]:
    """Run one job in a fresh process; its stdout/stderr go to log_dir/JOB.log."""
    out = results / f"{job}.json"
    tmp = out.with_suffix(".json.tmp")
    log = log_dir / f"{job}.log"
    t = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(
            [*command(job, mode), "--json", str(tmp)], stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, check=False
        )
    if proc.returncode != 0:
        tail = "".join(log.read_text(encoding="utf-8").splitlines(keepends=True)[-30:])
        raise SystemExit(f"{shown(job, mode)} failed (exit {proc.returncode}); the end of {log}:\n{tail}")
    data: dict[str, Any] = json.loads(tmp.read_text(encoding="utf-8"))
    data["command"] = shown(job, mode)
    data["job"] = job
    data["wall_seconds"] = time.perf_counter() - t
    tmp.unlink()
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"  {shown(job, mode)}: {data['wall_seconds']:.0f} s, load {data['load_start'][0]} -> {data['load_end'][0]}")
    return data


# ---------------------------------------------------------------- rendering
md = md_cell
md_table = markdown_table


def stamp(d: Mapping[str, Any]) -> str:
    """The line under which a job's tables stand: command, date, machine, versions, load."""
    m = d["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in d["versions"].items() if v != "not installed")
    missing = [k for k, v in d["versions"].items() if v == "not installed"]
    blas = "; ".join(d.get("blas", []))
    load = f"load average (1/5/15 min) {'/'.join(map(str, d['load_start']))} at the start, "
    load += f"{'/'.join(map(str, d['load_end']))} at the end"
    return (
        f"*`{d['command']}`, {d['started']}, {d['seconds']:.0f} s; {m['nproc']} cores ({m['cpu']}), Python "
        f"{m['python']}; {versions}{'; not installed: ' + ', '.join(missing) if missing else ''}; BLAS: {blas}; "
        f"threads by default: {', '.join(f'{k} {v}' for k, v in d['threads_default'].items())}; {load}.*"
    )


PAIR_HEADER = ["task", "calipers", "best / median", "other", "best / median", "other / calipers (best; median)",
               "threads (calipers / other)", "results"]  # fmt: skip


def render_pairs(results: Mapping[str, Mapping[str, Any]], like_for_like: bool) -> list[str]:
    """One table per job of its like-for-like rows (or of the others, with what differs)."""
    lines: list[str] = []
    for d in results.values():
        rows = [p for p in d["pairs"] if bool(p["like_for_like"]) == like_for_like]
        if not rows:
            continue
        lines += ["", f"### {d['command']}", "", stamp(d), ""]
        columns = PAIR_HEADER if like_for_like else [*PAIR_HEADER, "what differs"]
        body = [pair_cells(p) + ([] if like_for_like else [p["differs"]]) for p in rows]
        lines += md_table(columns, body)
    return lines or ["", "(no rows)"]


def render_headline(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Headline ratios: the like-for-like rows each job marked as its headline."""
    lines = [""]
    for d in results.values():
        for p in d["pairs"]:
            if not (p["headline"] and p["like_for_like"]):
                continue
            lines.append(
                f"- {p['task']}: {p['other']} takes **{fmt_ratio(p['ratio'])}** the time of {p['ours']} "
                f"(best of {p['rounds']}; {fmt_ratio(p['ratio_median'])} by median), threads {p['threads']}, "
                f"{p['results']} (`{d['command']}`)"
            )
    return lines if len(lines) > 1 else ["", "(no headline rows)"]


def render_job(d: Mapping[str, Any]) -> list[str]:
    """A job's own tables and notes."""
    lines = ["", stamp(d)]
    for t in d["tables"]:
        lines += ["", f"**{t['title']}**", ""]
        lines += md_table(t["columns"], t["rows"])
        lines += [f"\n{n}" for n in t["notes"]]
    if d["notes"]:
        lines += [""] + [f"- {md(n)}" for n in d["notes"]]
    return lines


def render_run(results: Mapping[str, Mapping[str, Any]], header: Mapping[str, Any]) -> list[str]:
    """Which command produced the stored results, when, and how long each job took."""
    m = machine()
    lines = [
        "",
        f"Rendered by `{header['command']}` on {header['date']} ({m['nproc']} cores, {m['cpu']}); "
        f"load average {'/'.join(map(str, header['load_start']))} at the start"
        + (
            f", {'/'.join(map(str, header['load_end']))} at the end, {header['seconds']:.0f} s in all."
            if header.get("seconds") is not None
            else "."
        ),
        "",
    ]
    rows = [
        (
            f"`{d['command']}`",
            d["started"],
            f"{d['seconds']:.0f} s",
            "/".join(map(str, d["load_start"])),
            "/".join(map(str, d["load_end"])),
            sum(p["like_for_like"] for p in d["pairs"]),
            sum(not p["like_for_like"] for p in d["pairs"]),
        )
        for d in results.values()
    ]
    lines += md_table(
        ["command", "started", "took", "load at start", "load at end", "like-for-like rows", "other rows"], rows
    )
    return lines


def replace_block(text: str, key: str, lines: Sequence[str]) -> str:
    """Put ``lines`` between the BEGIN/END markers of ``key`` (which must be there)."""
    begin, end = BEGIN.format(key), END.format(key)
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"bench/README.md has no {begin} ... {end} block")
    return text[: i + len(begin)] + "\n".join(lines) + "\n\n" + text[j:]


def render(readme: str, results: Mapping[str, Mapping[str, Any]], header: Mapping[str, Any]) -> str:
    """bench/README.md with every generated block replaced."""
    readme = replace_block(readme, "run", render_run(results, header))
    readme = replace_block(readme, "headline", render_headline(results))
    readme = replace_block(readme, "like-for-like", render_pairs(results, True))
    readme = replace_block(readme, "other-pairs", render_pairs(results, False))
    for job in JOBS:
        block = render_job(results[job]) if job in results else ["", "(not run yet)"]
        readme = replace_block(readme, f"job:{job}", block)
    return readme


def stored_quotes(results: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Every stored quote, by key."""
    return {k: v for d in results.values() for k, v in d.get("quotes", {}).items()}


def quote(text: str, results: Mapping[str, Mapping[str, Any]], strict: bool, name: str = "README.md") -> str:
    """``text`` (README.md or a docs page, called ``name`` in errors) with every
    ``<!-- bench:KEY -->`` value replaced by the stored result."""
    quotes = stored_quotes(results)

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in quotes:
            if strict:
                raise SystemExit(f"{name} quotes bench:{key}, which no stored result has")
            return m.group(0)
        return f"<!-- bench:{key} -->{quotes[key]}<!-- /bench:{key} -->"

    return QUOTE_RE.sub(sub, text)


def job_of(key: str) -> str | None:
    """The job that prints quote ``key`` (None: no job)."""
    return next((job for job, keys in QUOTES.items() if key in keys), None)


def check_markers(bench_readme: str, quoting: Mapping[str, str]) -> list[str]:
    """Problems found without results: a missing block in bench/README.md; in the quoting
    files (name -> text: README.md, docs/*.md), a marker left open or closed without its
    opening, a key no job prints, an inline marker at the start of a line (CommonMark reads
    a line that starts with ``<!--`` as an HTML block, which would split the paragraph and
    show the number unformatted); a key a job prints that no file quotes."""
    problems = [
        f"bench/README.md lacks {BEGIN.format(k)} ... {END.format(k)}"
        for k in SECTIONS
        if BEGIN.format(k) not in bench_readme or END.format(k) not in bench_readme
    ]
    used: set[str] = set()
    for name, text in quoting.items():
        pairs = [k for k, _ in QUOTE_RE.findall(text)]
        used.update(pairs)
        for key in sorted(set(OPEN_RE.findall(text) + CLOSE_RE.findall(text))):
            opened, closed = OPEN_RE.findall(text).count(key), CLOSE_RE.findall(text).count(key)
            if not opened == closed == pairs.count(key):
                problems.append(f"{name}: bench:{key} is opened {opened} and closed {closed} times")
        problems += [f"{name} quotes bench:{k}, which no job prints" for k in dict.fromkeys(pairs) if job_of(k) is None]
        for m in QUOTE_RE.finditer(text):
            line_start = text.rfind("\n", 0, m.start()) + 1
            if not m.group(2).startswith("\n") and not text[line_start : m.start()].strip():
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{name}:{line}: bench:{m.group(1)} starts a line, so markdown would end the paragraph "
                                "there (an HTML block): put a word before it")  # fmt: skip
    problems += [
        f"bench:{k} (printed by {job}) is quoted nowhere: drop it from QUOTES or quote it"
        for job, keys in QUOTES.items()
        for k in keys
        if k not in used
    ]
    return problems


def check_stored(quoting: Mapping[str, str], results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Problems against the stored results: a marker whose key has no stored value, or
    whose text is not the stored value (edited by hand, or not rendered since the job ran)."""
    quotes = stored_quotes(results)
    problems = []
    for name, text in quoting.items():
        for key, shown_value in QUOTE_RE.findall(text):
            if job_of(key) is None:
                continue  # check_markers reports it
            if key not in quotes:
                problems.append(f"{name} quotes bench:{key}, which no stored result has (run the {job_of(key)} job)")
            elif shown_value != quotes[key]:
                problems.append(f"{name}'s bench:{key} is not the stored value {quotes[key]!r} (render it)")
    return problems


def quoting_files(root_readme: Path, docs_dir: Path) -> dict[str, Path]:
    """The files that quote numbers: README.md and every docs/*.md, by display name."""
    files = {"README.md": root_readme}
    files.update({f"docs/{p.name}": p for p in sorted(docs_dir.glob("*.md"))})
    return files


def load_results(results_dir: Path) -> dict[str, dict[str, Any]]:
    """The stored result of every job that has one, in JOBS order."""
    out = {}
    for job in JOBS:
        path = results_dir / f"{job}.json"
        if path.exists():
            out[job] = json.loads(path.read_text(encoding="utf-8"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the jobs, store their results, render both READMEs."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group(required=True)
    for mode in ("tiny", "quick", "full"):
        size.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    ap.add_argument("--only", nargs="+", choices=list(JOBS), help="run these jobs only (render from all stored)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, check the markers, run nothing")
    ap.add_argument("--results-dir", type=Path, default=HERE / "results")
    ap.add_argument("--readme", type=Path, default=HERE / "README.md", help="the tables' file (bench/README.md)")
    ap.add_argument("--root-readme", type=Path, default=ROOT / "README.md", help="a quotes' file (README.md)")
    ap.add_argument("--docs-dir", type=Path, default=ROOT / "docs", help="the other quotes' files (docs/*.md)")
    args = ap.parse_args(argv)
    jobs = args.only or list(JOBS)
    bench_text = args.readme.read_text(encoding="utf-8")
    files = quoting_files(args.root_readme, args.docs_dir)
    texts = {name: path.read_text(encoding="utf-8") for name, path in files.items()}
    problems = check_markers(bench_text, texts)
    for job in jobs:
        print(shown(job, args.mode))
    if args.dry_run:
        problems += check_stored(texts, load_results(args.results_dir))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if args.dry_run:
        n = sum(len(QUOTE_RE.findall(t)) for t in texts.values())
        print(f"dry run: {len(jobs)} jobs; bench/README.md has all {len(SECTIONS)} blocks; the {n} quotes of "
              f"{', '.join(files)} are each printed by a job and show its stored value")  # fmt: skip
        return 0
    args.results_dir.mkdir(parents=True, exist_ok=True)
    header = {
        "command": "python bench/run_all.py --" + args.mode + (" --only " + " ".join(args.only) if args.only else ""),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_start": loadavg(),
    }
    t0 = time.perf_counter()
    log_dir = args.results_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    for job in jobs:
        run_job(job, args.mode, args.results_dir, log_dir)
    header["seconds"] = time.perf_counter() - t0
    header["load_end"] = loadavg()
    results = load_results(args.results_dir)
    rendered = {name: quote(texts[name], results, strict=args.mode != "tiny", name=name) for name in files}
    args.readme.write_text(render(bench_text, results, header), encoding="utf-8")
    for name, path in files.items():
        if rendered[name] != texts[name]:
            path.write_text(rendered[name], encoding="utf-8")
    print(f"{header['command']}: {header['seconds']:.0f} s; load {header['load_start']} -> {header['load_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
