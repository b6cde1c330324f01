"""Benchmark: peak memory of a crawl of big pages at high concurrency.

    python -m tests.bench.bench_memory                      # 1000 ids of 7.9 MB, concurrency 32
    python -m tests.bench.bench_memory --ids 100 --concurrency 8
    python -m tests.bench.bench_memory --shape no-article   # 7.9 MB of text, no permalink

Serves one 7.9 MB archive page (one article of one long paragraph, or with ``--shape
no-article`` the same text with no permalink) for every id from a threaded server on
loopback, runs ``zkiz fetch --delay 0 --concurrency N -o /dev/null``
and prints the peak RSS of its process tree (the main process and its page workers,
``treerss``), and their PSS. The README's bound: 150 MB.
"""

from __future__ import annotations

import argparse
import sys

from tests.bench.treerss import run_measured
from tests.support import Archive, ArticleSpec, markup_div_br, page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--shape", choices=("article", "no-article"), default="article")
    options = parser.parse_args()
    text = "長" * 2_600_000
    big = (
        page(markup_div_br([ArticleSpec(1, "大", (text,))]))
        if options.shape == "article"
        else page(f"<html><body><div><p>{text}</p></div></body></html>")
    )
    with Archive({n: big for n in range(1, options.ids + 1)}) as archive:
        done = run_measured(
            [
                sys.executable,
                "-m",
                "zkiz_corpus",
                "fetch",
                "--from-id",
                "1",
                "--count",
                str(options.ids),
                "--base-url",
                archive.base_url,
                "--delay",
                "0",
                "--concurrency",
                str(options.concurrency),
                "-o",
                "/dev/null",
            ]
        )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    print(
        f"{options.ids} ids of {len(big.body) / 1e6:.1f} MB ({options.shape}) at concurrency "
        f"{options.concurrency}: peak RSS {done.peak_kb / 1024:.0f} MB (PSS "
        f"{done.pss_kb / 1024:.0f} MB), {done.processes} processes, in {done.wall:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
