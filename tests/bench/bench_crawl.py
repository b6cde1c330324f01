"""Benchmark: zkiz against Scrapy on several page sets, then rebuilds from the WARC.

    pip install -e '.[bench]'                     # Scrapy, for the comparison only
    python -m tests.bench.bench_crawl             # 4 sets x 2000 ids x 3 rounds: ~16 min
    python -m tests.bench.bench_crawl --pages 400 --rounds 1 --sets seed,multi
    python -m tests.bench.bench_crawl --pages 1000 --pages 10000   # memory: RSS per size
    python -m tests.bench.bench_crawl --no-scrapy                  # zkiz alone

Page sets (``--sets``, default all; ``--pages N`` ids each, every tenth id a 404; see
``tests/bench/pagesets.py``): ``current`` (one article of 2 to 8 seed paragraphs in the
test suite's five markups, about 3 KB), ``seed`` (the seed's articles as the archive's
software shapes a forum repost, with the site's chrome, about 5 KB), ``long`` (one
article of many paragraphs, about 40 KB) and ``multi`` (each page shows its article and
the next 4 to 9; each article is recorded once, so records = ids with an article).

Each set is served from loopback by nginx (else a threaded Python server), and each
round runs, one after the other (``--rounds``, default 3; rounds interleaved, so a
noisy minute spreads over every command; each row is the median of the rounds):

1. ``zkiz fetch --delay 0 --concurrency 8`` into a fresh corpus;
2. the same with ``--warc crawl.warc.gz``;
3. Scrapy (``tests/bench/spiders/own_selectors.py``): a spider as a Scrapy user writes
   one, its own CSS/XPath selectors, OpenCC t2s through the ``opencc`` module, JSON Lines
   through the feed exporter; a line after the table gives the share of its records
   whose converted text (title, source URL) equals zkiz's, whitespace collapsed;
4. Scrapy with zkiz's own decoding, extraction and conversion
   (``tests/bench/spiders/zkiz_extraction.py``);
5. ``zkiz fetch --source crawl.warc.gz`` into a fresh corpus, pinned to one core
   (``taskset -c 0``), then on every core.

Figures: pages/s = ids walked / wall time of the whole process, start-up included; peak
RSS of the whole process tree (the process and every descendant: worker processes
count), the larger of the tree's RSS summed every 20 ms and the sum of each process's
own VmHWM at its exit (``tests/bench/treerss.py``), and beside it the tree's peak PSS
(each page shared by forked processes counted once: what the tree really holds). Record
counts are checked (zkiz,
``--warc``, the rebuilds and both spiders all write one record per id with an
article); a mismatch is reported at once and the command exits 1.

The summary gives the issue's targets per set: zkiz at 2x the own-selector spider's
pages/s with lower peak RSS, 1.5x with ``--warc``, rebuilds at 1,000 pages/s on one core
and 2,000 on two. With several ``--pages`` it measures memory instead: peak RSS of the
crawl, the crawl with ``--warc`` and the rebuild (every core) for each size, and whether
the largest stays within 20 MB of the smallest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.pagesets import FIRST_ID, SETS, PageSet, write_set
from tests.bench.treerss import Measured, run_measured
from tests.support import ROOT, Archive, Response

SPIDERS = Path(__file__).resolve().parent / "spiders"
TARGETS = {"crawl": 2.0, "warc": 1.5, "rebuild-1": 1000, "rebuild-2": 2000, "memory_mb": 20}


# ---- servers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nginx_version() -> str | None:
    if not shutil.which("nginx"):
        return None
    done = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    return done.stderr.strip().split("/")[-1]


class NginxServer:
    def __init__(self, pages: Path, scratch: Path) -> None:
        self.port = free_port()
        config = scratch / "nginx.conf"
        user = "user root;" if os.geteuid() == 0 else ""
        config.write_text(
            textwrap.dedent(f"""
            {user}
            worker_processes 1;
            daemon off;
            pid {scratch}/nginx.pid;
            error_log {scratch}/nginx-error.log;
            events {{ worker_connections 1024; }}
            http {{
                access_log off;
                keepalive_requests 100000;
                types {{ text/html html; }}
                charset utf-8;
                client_body_temp_path {scratch}/nginx-body;
                server {{
                    listen 127.0.0.1:{self.port};
                    root {pages};
                    location = /robots.txt {{ return 404; }}
                    location = / {{
                        if ($arg_id !~ "^[0-9]+$") {{ return 404; }}
                        try_files /$arg_id.html =404;
                    }}
                }}
            }}
        """)
        )
        self.process = subprocess.Popen(
            ["nginx", "-c", str(config), "-p", str(scratch)], stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.close()
            raise SystemExit(f"nginx did not start: see {scratch}/nginx-error.log")
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.name = f"nginx {nginx_version()}"

    def close(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=10)


class PythonServer:
    def __init__(self, pages: Path, scratch: Path) -> None:
        responses = {
            int(path.stem): Response(
                200, path.read_bytes(), {"Content-Type": "text/html; charset=utf-8"}
            )
            for path in pages.iterdir()
        }
        self.archive = Archive(responses).__enter__()
        self.base_url = self.archive.base_url
        self.name = "Python ThreadingHTTPServer"

    def close(self) -> None:
        self.archive.__exit__(None, None, None)


# ---- the runs ------------------------------------------------------------------------


@dataclass
class Run:
    """One row: a command run once a round."""

    key: str
    label: str
    command: Callable[[Path, int], list[str]]  # (scratch, round) -> argv
    output: Callable[[Path, int], Path]  # the JSONL its records are in
    results: list[Measured] = field(default_factory=list)
    records: list[int] = field(default_factory=list)

    def wall(self) -> float:
        return statistics.median(m.wall for m in self.results)

    def peak_mb(self) -> float:
        return statistics.median(m.peak_kb for m in self.results) / 1024

    def pss_mb(self) -> float:
        return statistics.median(m.pss_kb for m in self.results) / 1024


@dataclass
class Context:
    pages: int
    concurrency: int
    scrapy: bool
    server_kind: str
    verbose: bool
    mismatches: list[str] = field(default_factory=list)
    load_at_start: str = field(default_factory=lambda: load_average())


def zkiz(*args: str) -> list[str]:
    return [sys.executable, "-m", "zkiz_corpus", "fetch", "--delay", "0", "-q", *args]


def scrapy_command(spider: str, base_url: str, first: int, last: int, feed: Path, c: int):
    settings = {
        "CONCURRENT_REQUESTS": c,
        "CONCURRENT_REQUESTS_PER_DOMAIN": c,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "AUTOTHROTTLE_ENABLED": False,
        "FEED_EXPORT_ENCODING": "utf-8",
        "LOG_LEVEL": "WARNING",
    }
    return [
        sys.executable,
        "-m",
        "scrapy",
        "runspider",
        str(SPIDERS / spider),
        *("-a", f"base={base_url}", "-a", f"first={first}", "-a", f"last={last}"),
        *("-O", f"{feed}:jsonlines"),
        *(item for name, value in settings.items() for item in ("-s", f"{name}={value}")),
    ]


def make_runs(context: Context, base_url: str, memory: bool = False) -> list[Run]:
    first, last, c = FIRST_ID, FIRST_ID + context.pages - 1, context.concurrency
    walk = ("--from-id", str(first), "--to-id", str(last))
    crawl = zkiz(*walk, "--base-url", base_url, "--concurrency", str(c))
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []

    def corpus(name: str) -> Callable[[Path, int], Path]:
        return lambda scratch, n: scratch / f"{name}-{n}" / "records.jsonl"

    def feed(name: str) -> Callable[[Path, int], Path]:
        return lambda scratch, n: scratch / f"{name}-{n}.jsonl"

    def warc(scratch: Path, n: int) -> str:
        return str(scratch / f"crawl-{n}.warc.gz")

    runs = [
        Run(
            "crawl",
            f"`zkiz fetch --concurrency {c}`",
            lambda s, n: [*crawl, "--corpus", str(s / f"crawled-{n}")],
            corpus("crawled"),
        ),
        Run(
            "warc",
            f"`zkiz fetch --concurrency {c} --warc crawl.warc.gz`",
            lambda s, n: [*crawl, "--corpus", str(s / f"warced-{n}"), "--warc", warc(s, n)],
            corpus("warced"),
        ),
    ]
    if context.scrapy and not memory:
        version = scrapy_version()
        runs += [
            Run(
                "scrapy-own",
                f"Scrapy {version}, own selectors + OpenCC",
                lambda s, n: scrapy_command(
                    "own_selectors.py", base_url, first, last, s / f"scrapy-own-{n}.jsonl", c
                ),
                feed("scrapy-own"),
            ),
            Run(
                "scrapy-zkiz",
                f"Scrapy {version}, zkiz's extraction",
                lambda s, n: scrapy_command(
                    "zkiz_extraction.py", base_url, first, last, s / f"scrapy-zkiz-{n}.jsonl", c
                ),
                feed("scrapy-zkiz"),
            ),
        ]
    rebuild = [*walk, "--source"]
    if not memory:
        runs.append(
            Run(
                "rebuild-1",
                "`zkiz fetch --source crawl.warc.gz`, 1 core (`taskset -c 0`)",
                lambda s, n: [
                    *pin,
                    *zkiz(*rebuild, warc(s, n), "--corpus", str(s / f"rebuilt1-{n}")),
                ],
                corpus("rebuilt1"),
            )
        )
    runs.append(
        Run(
            "rebuild-2",
            f"`zkiz fetch --source crawl.warc.gz`, {os.cpu_count()} cores",
            lambda s, n: zkiz(*rebuild, warc(s, n), "--corpus", str(s / f"rebuilt2-{n}")),
            corpus("rebuilt2"),
        )
    )
    return runs


def count_lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in stream)


def read_jsonl(path: Path) -> dict[int, dict]:
    with path.open(encoding="utf-8") as stream:
        return {record["id"]: record for record in map(json.loads, stream)}


def agreement(zkiz_records: Path, spider_records: Path) -> str:
    """How close the own-selector spider's records are to zkiz's, whitespace collapsed."""
    ours, theirs = read_jsonl(zkiz_records), read_jsonl(spider_records)
    common = sorted(ours.keys() & theirs.keys())

    def same(name: str) -> str:
        if not common:
            return "n/a"

        def norm(value: object) -> object:
            return " ".join(value.split()) if isinstance(value, str) else value

        equal = sum(norm(ours[n][name]) == norm(theirs[n][name]) for n in common)
        return f"{100 * equal / len(common):.1f}%"

    return (
        f"own-selector spider vs zkiz, {len(common)} ids in both ({len(ours)} and "
        f"{len(theirs)} records): converted text equal in {same('text')}, title in "
        f"{same('title')}, source URL in {same('source_url')} (whitespace collapsed)"
    )


def run_set(
    context: Context, name: str, rounds: int, memory: bool = False
) -> tuple[PageSet, list[Run], str | None, str]:
    """Every run of one page set, ``rounds`` times interleaved; the set, its runs, the
    agreement line and the server's name."""
    with tempfile.TemporaryDirectory(prefix=f"zkiz-bench-{name}-") as scratch_name:
        scratch = Path(scratch_name)
        os.chmod(scratch, 0o755)  # nginx's worker may run as another user
        page_set = write_set(name, scratch / "pages", context.pages)
        expected = len(page_set.ids_with_article)
        use_nginx = context.server_kind == "nginx" or (
            context.server_kind == "auto" and shutil.which("nginx")
        )
        server = (NginxServer if use_nginx else PythonServer)(scratch / "pages", scratch)
        runs = make_runs(context, server.base_url, memory)
        agreed = None
        try:
            for n in range(rounds):
                for run in runs:
                    measured = run_measured(run.command(scratch, n))
                    if measured.returncode != 0:
                        raise SystemExit(
                            f"{name}, round {n + 1}: {run.label} exited {measured.returncode}:"
                            f"\n{measured.stderr[-3000:]}"
                        )
                    output = run.output(scratch, n)
                    got = count_lines(output) if output.exists() else 0
                    run.results.append(measured)
                    run.records.append(got)
                    note = ""
                    if got != expected:
                        note = f"  MISMATCH: {got} records, {expected} expected"
                        context.mismatches.append(f"{name}, round {n + 1}, {run.label}:{note}")
                    log(
                        f"[{name} {context.pages} round {n + 1}/{rounds}] {run.label}: "
                        f"{measured.wall:.2f} s, {measured.peak_kb / 1024:.1f} MB "
                        f"({measured.processes} process{'es' * (measured.processes > 1)}), "
                        f"{got} records{note}"
                    )
                    if context.verbose and measured.stderr.strip():
                        log(textwrap.indent(measured.stderr.strip()[-2000:], "    "))
                    if run.key == "scrapy-own" and agreed is None:
                        agreed = agreement(runs[0].output(scratch, n), output)
                for run in runs:  # the round's outputs, once counted (and compared)
                    output = run.output(scratch, n)
                    if output.name == "records.jsonl":  # a corpus
                        shutil.rmtree(output.parent, ignore_errors=True)
                    else:
                        output.unlink(missing_ok=True)
                if n:
                    (scratch / f"crawl-{n - 1}.warc.gz").unlink(missing_ok=True)
        finally:
            server.close()
        return page_set, runs, agreed, server.name


# ---- output --------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scrapy_version() -> str:
    import scrapy

    return scrapy.__version__


def command_line() -> str:
    return " ".join(["python -m tests.bench.bench_crawl", *sys.argv[1:]])


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as stream:
            return " ".join(stream.read().split()[:3])
    except OSError:
        return "unknown"


def machine_line() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"{cpu}, {cores} cores", f"Linux {platform.release()}"]
    parts.append(f"Python {platform.python_version()}")
    with contextlib.suppress(ImportError):
        parts.append(f"Scrapy {scrapy_version()}")
    version = nginx_version()
    if version:
        parts.append(f"nginx {version}")
    from zkiz_corpus import __version__
    from zkiz_corpus.converting import backend_description

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    parts.append(f"zkiz {__version__}" + (f" ({commit})" if commit else ""))
    parts.append(f"OpenCC {backend_description()}")
    return "Machine: " + "; ".join(parts)


def print_set(context: Context, page_set: PageSet, runs: list[Run], agreed, server, rounds):
    pages = context.pages
    files = len(page_set.ids_with_article)
    print(
        f"\n### {page_set.name}: {pages} ids, {files} with an article, "
        f"{page_set.bytes_written / files / 1024:.1f} KB a page, served by {server}\n"
    )
    print(f"Median of {rounds} interleaved round{'s' * (rounds > 1)}.\n")
    print("| run | pages/s | wall s | peak RSS MB | peak PSS MB | records | wall s by round |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for run in runs:
        walls = ", ".join(f"{m.wall:.2f}" for m in run.results)
        records = "/".join(str(n) for n in sorted(set(run.records)))
        if set(run.records) != {files}:
            records += f" MISMATCH ({files} expected)"
        print(
            f"| {run.label} | {pages / run.wall():.0f} | {run.wall():.2f} | "
            f"{run.peak_mb():.1f} | {run.pss_mb():.1f} | {records} | {walls} |"
        )
    if agreed:
        print(f"\nAgreement: {agreed}.")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_summary(context: Context, results: list[tuple[PageSet, list[Run]]]) -> None:
    pages = context.pages
    print(
        f"\n### Summary: the issue's targets ({pages} ids a set, concurrency "
        f"{context.concurrency})\n"
    )
    print(
        "| set | zkiz / Scrapy (own selectors) | zkiz --warc / Scrapy (own selectors) "
        "| peak RSS zkiz vs Scrapy MB | rebuild 1 core pages/s "
        f"| rebuild {os.cpu_count()} cores pages/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for page_set, runs in results:
        by = {run.key: run for run in runs}
        cells = []
        spider = by.get("scrapy-own")
        if spider is None:
            cells += ["n/a (--no-scrapy)"] * 3
        else:
            for key in ("crawl", "warc"):
                ratio = spider.wall() / by[key].wall()
                cells.append(f"{ratio:.2f}x {verdict(ratio >= TARGETS[key])} (≥ {TARGETS[key]}x)")
            ours, theirs = by["crawl"].peak_mb(), spider.peak_mb()
            cells.append(f"{ours:.0f} vs {theirs:.0f} {verdict(ours < theirs)}")
        for key in ("rebuild-1", "rebuild-2"):
            rate = pages / by[key].wall()
            cells.append(f"{rate:.0f} {verdict(rate >= TARGETS[key])} (≥ {TARGETS[key]:,})")
        print(f"| {page_set.name} | " + " | ".join(cells) + " |")


def rss_header(measured: list[Measured]) -> None:
    by_hwm = sum(m.peak_source == "hwm" for m in measured)
    most = max(m.processes for m in measured)
    apart = max(abs(m.hwm_sum_kb - m.sampled_kb) for m in measured) / 1024
    print(
        "Peak RSS: the whole process tree (the command and every descendant; the benchmark "
        "and the server are not counted), the larger of two measures: its RSS summed every "
        "20 ms, and the sum of each process's own VmHWM at its exit (which can only "
        f"overstate). The VmHWM sum was the larger in {by_hwm} of {len(measured)} runs, "
        f"the two at most {apart:.1f} MB apart; the largest tree had {most} "
        f"process{'es' * (most > 1)}."
    )


# ---- modes ---------------------------------------------------------------------------


def timing_mode(context: Context, sets: list[str], rounds: int) -> None:
    results = []
    for name in sets:
        page_set, runs, agreed, server = run_set(context, name, rounds)
        results.append((page_set, runs, agreed, server))
    print(f"## `{command_line()}`")
    print(f"\n{machine_line()}\n")
    print(
        f"Load average (1, 5, 15 min) at the start: {context.load_at_start}; at the end: "
        f"{load_average()}.\n"
    )
    print(
        "pages/s: ids walked over the wall time of the whole process, start-up included; "
        "each figure the median of the rounds, which ran interleaved (each command once "
        "a round)."
    )
    rss_header([m for _, runs, _, _ in results for run in runs for m in run.results])
    for page_set, runs, agreed, server in results:
        print_set(context, page_set, runs, agreed, server, rounds)
    print_summary(context, [(page_set, runs) for page_set, runs, _, _ in results])


def memory_mode(context: Context, sizes: list[int], sets: list[str], rounds: int) -> None:
    tables, measured = [], []
    for name in sets:
        rows = []
        for size in sizes:
            context.pages = size
            _, runs, _, _ = run_set(context, name, rounds, memory=True)
            rows.append((size, [max(m.peak_kb for m in run.results) / 1024 for run in runs]))
            measured += [m for run in runs for m in run.results]
        tables.append((name, rows))
    print(f"## `{command_line()}`")
    print(f"\n{machine_line()}\n")
    print(
        f"Load average (1, 5, 15 min) at the start: {context.load_at_start}; at the end: "
        f"{load_average()}.\n"
    )
    rss_header(measured)
    print(f"Each figure the largest of {rounds} round{'s' * (rounds > 1)}.")
    for name, rows in tables:
        print(f"\n### {name}\n")
        print("| ids | crawl MB | crawl + WARC MB | rebuild MB |")
        print("| ---: | ---: | ---: | ---: |")
        for size, peaks in rows:
            print(f"| {size:,} | " + " | ".join(f"{peak:.1f}" for peak in peaks) + " |")
        (small, low), (big, high) = min(rows), max(rows)
        growth = [b - a for a, b in zip(low, high)]
        ok = all(g <= TARGETS["memory_mb"] for g in growth)
        print(
            f"\n{big:,} ids against {small:,}: "
            + ", ".join(f"{g:+.1f} MB" for g in growth)
            + f" (crawl, crawl + WARC, rebuild): {verdict(ok)} (within "
            f"{TARGETS['memory_mb']} MB)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="The module's docstring (python -m pydoc tests.bench.bench_crawl) is the how-to.",
    )
    parser.add_argument(
        "--pages", type=int, action="append", help="ids a set (default 2000); repeat: memory"
    )
    parser.add_argument(
        "--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, help="runs of each command (default 3; 1 when measuring memory)"
    )
    parser.add_argument("--no-scrapy", action="store_true", help="skip the Scrapy runs")
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each run's stderr")
    args = parser.parse_args()
    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in sets if name not in SETS]
    if unknown or not sets:
        parser.error(f"--sets: unknown {', '.join(unknown)} (choose from {', '.join(SETS)})")
    sizes = args.pages or [2000]
    if any(size < 10 for size in sizes):
        parser.error("--pages: at least 10")
    memory = len(sizes) > 1
    rounds = args.rounds or (1 if memory else 3)
    scrapy = not args.no_scrapy and not memory
    if scrapy:
        try:
            scrapy_version()
        except ImportError:
            parser.error("Scrapy is not installed: pip install -e '.[bench]' (or --no-scrapy)")
    context = Context(sizes[0], args.concurrency, scrapy, args.server, args.verbose)
    started = time.monotonic()
    if memory:
        memory_mode(context, sizes, sets, rounds)
    else:
        timing_mode(context, sets, rounds)
    print(f"\nThe benchmark took {time.monotonic() - started:.0f} s.")
    if context.mismatches:
        log("RECORD COUNTS DIFFER:\n" + "\n".join(context.mismatches))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
