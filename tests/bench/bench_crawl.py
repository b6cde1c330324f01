"""Benchmark: zkiz against a Scrapy spider doing the same job, then a rebuild from WARC.

    pip install -e '.[bench]'          # Scrapy, for the comparison only
    python -m tests.bench.bench_crawl                  # 2000 pages, concurrency 8
    python -m tests.bench.bench_crawl --pages 1000 --pages 10000 --no-scrapy   # memory

It writes N archive pages (one article each, 2 to 8 paragraphs of the seed page's text,
in the test suite's five markups, with the site's chrome; every tenth id a 404), serves
them from loopback with nginx when it is installed (else a threaded Python server), and
runs, one after the other:

1. ``zkiz fetch --delay 0 --concurrency 8`` into a fresh corpus, then again keeping a
   WARC of every exchange (``--warc``);
2. a small Scrapy spider at the same concurrency that fetches the same ids and turns
   each page into the same records (zkiz's own extraction and conversion, so both do
   the same work), written as JSON Lines by Scrapy's feed exporter;
3. ``zkiz fetch --source crawl.warc.gz`` into another fresh corpus, pinned to one core.

For each it prints pages/s (ids walked per second of wall time, process start-up
included) and the peak RSS of the process (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.support import (
    SEED_A,
    SEED_B,
    Archive,
    ArticleSpec,
    Response,
    markup_div_br,
    markup_gb_sections,
    markup_paragraph_images,
    markup_semantic,
    markup_table_font,
)

FIRST_ID = 500_000
MARKUPS = [
    markup_div_br,
    markup_semantic,
    markup_table_font,
    markup_paragraph_images,
    markup_gb_sections,
]
PARAGRAPHS = [*SEED_A.paragraphs, *SEED_B.paragraphs]

# Runs the command in-process and reports its peak RSS: /proc/self/status's VmHWM is the
# high-water mark of this process image alone (ru_maxrss would include the parent's).
PEAK_RSS = textwrap.dedent("""
    import atexit, re, runpy, sys
    def report():
        peak = re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)
        sys.stderr.write(f"\\nPEAK_RSS_KB {peak}\\n")
    atexit.register(report)
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
""")


def generate_pages(directory: Path, count: int) -> int:
    """Write ``count`` pages named ``ID.html``; return how many hold an article."""
    rng = random.Random(count)
    directory.mkdir(parents=True)
    articles = 0
    for offset in range(count):
        article_id = FIRST_ID + offset
        if offset % 10 == 9:
            continue  # a gap: nginx answers 404
        start = rng.randrange(len(PARAGRAPHS) - 8)
        spec = ArticleSpec(
            article_id,
            f"{rng.choice(PARAGRAPHS)[: rng.randrange(8, 30)]} ({article_id})",
            tuple(PARAGRAPHS[start : start + rng.randrange(2, 9)]),
            source_url=f"http://www.yicai.com/news/{article_id}.html" if offset % 3 else None,
        )
        html = MARKUPS[offset % len(MARKUPS)]([spec], charset="utf-8")
        (directory / f"{article_id}.html").write_text(html, encoding="utf-8")
        articles += 1
    return articles


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.name = (
            "nginx "
            + subprocess.run(["nginx", "-v"], capture_output=True, text=True)
            .stderr.strip()
            .split("/")[-1]
        )

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


SPIDER = textwrap.dedent('''
    """The same job as `zkiz fetch`, as a Scrapy user would write it."""
    import scrapy
    from zkiz_corpus.decoding import decode_page
    from zkiz_corpus.parsing import parse_articles
    from zkiz_corpus.records import make_record, utc_now

    class ZkizSpider(scrapy.Spider):
        name = "zkiz"

        async def start(self):
            for article_id in range({first}, {last} + 1):
                yield scrapy.Request(f"{base}?id={{article_id}}", dont_filter=True)

        def parse(self, response):
            content_type = response.headers.get("Content-Type", b"").decode("latin-1")
            html = decode_page(response.body, content_type)
            for article in parse_articles(html, response.url):
                yield make_record(article, "t2s", utc_now())
''')


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])}... failed:\n{done.stderr[-2000:]}")
    peak = re.findall(r"PEAK_RSS_KB (\d+)", done.stderr)
    return wall, int(peak[-1]) / 1024 if peak else float("nan"), done.stderr


def count_lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in stream)


def run_size(pages: int, concurrency: int, scrapy: bool, server_kind: str) -> None:
    with tempfile.TemporaryDirectory(prefix="zkiz-bench-") as scratch_name:
        scratch = Path(scratch_name)
        os.chmod(scratch, 0o755)
        articles = generate_pages(scratch / "pages", pages)
        use_nginx = server_kind == "nginx" or (server_kind == "auto" and shutil.which("nginx"))
        server = (NginxServer if use_nginx else PythonServer)(scratch / "pages", scratch)
        last = FIRST_ID + pages - 1
        python = [sys.executable, "-c", PEAK_RSS]
        rows = []
        try:
            zkiz = [
                *python,
                "zkiz_corpus",
                "fetch",
                "--from-id",
                str(FIRST_ID),
                "--to-id",
                str(last),
                "--delay",
                "0",
                "-q",
            ]
            crawl = [*zkiz, "--base-url", server.base_url, "--concurrency", str(concurrency)]
            wall, peak, _ = measure([*crawl, "--corpus", str(scratch / "crawled")])
            got = count_lines(scratch / "crawled" / "records.jsonl")
            rows.append((f"zkiz fetch --concurrency {concurrency}", wall, peak, got))
            wall, peak, _ = measure(
                [
                    *crawl,
                    "--corpus",
                    str(scratch / "warced"),
                    "--warc",
                    str(scratch / "crawl.warc.gz"),
                ]
            )
            got = count_lines(scratch / "warced" / "records.jsonl")
            rows.append((f"zkiz fetch --concurrency {concurrency} --warc", wall, peak, got))
            if scrapy:
                spider = scratch / "spider.py"
                spider.write_text(SPIDER.format(first=FIRST_ID, last=last, base=server.base_url))
                feed = scratch / "scrapy.jsonl"
                wall, peak, _ = measure(
                    [
                        *python,
                        "scrapy",
                        "runspider",
                        str(spider),
                        "--loglevel",
                        "WARNING",
                        "-o",
                        f"{feed}:jsonlines",
                        "-s",
                        f"CONCURRENT_REQUESTS={concurrency}",
                        "-s",
                        f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
                        "-s",
                        "DOWNLOAD_DELAY=0",
                        "-s",
                        "ROBOTSTXT_OBEY=False",
                        "-s",
                        "TELNETCONSOLE_ENABLED=False",
                        "-s",
                        "FEED_EXPORT_ENCODING=utf-8",
                        "-s",
                        "LOG_LEVEL=WARNING",
                        "-s",
                        "AUTOTHROTTLE_ENABLED=False",
                    ]
                )
                rows.append(
                    (
                        f"scrapy {_scrapy_version()} CONCURRENT_REQUESTS={concurrency}",
                        wall,
                        peak,
                        count_lines(feed),
                    )
                )
            rebuild = ["taskset", "-c", "0"] if shutil.which("taskset") else []
            wall, peak, _ = measure(
                [
                    *rebuild,
                    *zkiz,
                    "--source",
                    str(scratch / "crawl.warc.gz"),
                    "--corpus",
                    str(scratch / "rebuilt"),
                ]
            )
            got = count_lines(scratch / "rebuilt" / "records.jsonl")
            rows.append(("zkiz fetch --source crawl.warc.gz (1 core)", wall, peak, got))
        finally:
            server.close()
        print(
            f"\n{pages} pages ({articles} articles), served by {server.name}, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
        )
        print(f"{'run':<48} {'pages/s':>8} {'wall s':>7} {'peak RSS MB':>12} {'records':>8}")
        for name, wall, peak, got in rows:
            print(f"{name:<48} {pages / wall:>8.0f} {wall:>7.2f} {peak:>12.1f} {got:>8}")


def _scrapy_version() -> str:
    import scrapy

    return scrapy.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, action="append", help="pages (repeatable)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-scrapy", action="store_true", help="skip the Scrapy run")
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    args = parser.parse_args()
    scrapy = not args.no_scrapy
    if scrapy:
        try:
            _scrapy_version()
        except ImportError:
            raise SystemExit(
                "Scrapy is not installed: pip install -e '.[bench]' (or --no-scrapy)"
            ) from None
    for pages in args.pages or [2000]:
        run_size(pages, args.concurrency, scrapy, args.server)


if __name__ == "__main__":
    main()
