"""The benchmark scripts the README names still run (tiny sizes, no Scrapy)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def run_module(*args: str) -> subprocess.CompletedProcess:
    """``python -m ARGS`` from the project's root, its output as text."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_crawl_benchmark_runs():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.bench_crawl",
            "--pages",
            "40",
            "--rounds",
            "1",
            "--sets",
            "current,multi",
            "--no-scrapy",
            "--server",
            "python",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| `zkiz fetch")]
    assert len(rows) == 2 * 4  # two sets: crawl, --warc, two rebuilds
    assert all(line.split("|")[6].strip() == "36" for line in rows)  # every tenth a 404
    assert "| current |" in done.stdout and "| multi |" in done.stdout  # the summary


def test_noop_cron_benchmark_runs():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.noop_cron",
            "--records",
            "300",
            "--misses",
            "5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3


PARSE_BENCH = ("scripts.bench_parse", "--sets", "seed,long", "--pages", "20", "--repeat", "1")


def test_parse_benchmark_runs():
    done = run_module(*PARSE_BENCH)
    assert done.returncode == 0, done.stderr
    header, _, *rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert header.split("|")[4:-1] == [
        f" {column} " for column in ("decode", "parse", "record", "json", "page", "soup", "lxml")
    ]
    assert [row.split("|")[1].strip() for row in rows] == ["seed", "long"]
    assert all(float(cell) > 0 for row in rows for cell in row.split("|")[4:-1])


def test_dedup_eval_runs_and_meets_its_bar():
    done = run_module("scripts.dedup_eval", "--stories", "80")
    assert done.returncode == 0, done.stdout + done.stderr  # 1: below recall or precision
    row = [line for line in done.stdout.splitlines() if line.startswith("| 0.6 |")]
    assert len(row) == 1
    recall, precision = (float(cell) for cell in row[0].split("|")[2:4])
    assert recall >= 0.95 and precision >= 0.99


def test_dedup_benchmark_runs():
    done = run_module("tests.bench.bench_dedup", "--records", "300", "--night", "30")
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    rows = {line.split("|")[1].strip(): line for line in table}
    assert rows["full"].split("|")[3].strip() == "300"
    assert rows["night"].split("|")[3].strip() == "30"
    assert "of the full run's time" in done.stdout
