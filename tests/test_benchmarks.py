"""The benchmark scripts the README names still run (tiny sizes, no Scrapy)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


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
    done = subprocess.run(
        [sys.executable, "-m", *PARSE_BENCH],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    header, _, *rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert header.split("|")[4:-1] == [
        f" {column} " for column in ("decode", "parse", "record", "json", "page", "soup", "lxml")
    ]
    assert [row.split("|")[1].strip() for row in rows] == ["seed", "long"]
    assert all(float(cell) > 0 for row in rows for cell in row.split("|")[4:-1])
