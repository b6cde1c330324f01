"""Benchmark: the CPU time of a no-op cron run, on corpora of different sizes.

    python -m tests.bench.noop_cron                 # 1,000 and 100,000 records
    python -m tests.bench.noop_cron --records 5000 --misses 200

A cron run is ``zkiz fetch --corpus DIR``: it continues after the newest article and,
the site having published nothing, probes ``--max-misses`` ids that all answer 404
(from a loopback server, ``--delay 0``, so waiting is not counted). Reported is the
child process's own CPU time (user + sys) and wall time, best of three runs.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import SEED_A, Archive
from zkiz_corpus.storing import Corpus

FIRST_ID = 1_000_000


def build_corpus(path: Path, records: int) -> None:
    text = "\n".join(SEED_A.paragraphs[:4])
    with Corpus(path, batch_size=5000, batch_seconds=3600) as corpus:
        for n in range(records):
            article_id = FIRST_ID + 2 * n  # every other id: half the ids are misses
            corpus.add_article(
                {
                    "id": article_id,
                    "url": f"https://articles.zkiz.com/?id={article_id}",
                    "title": f"第{n}篇",
                    "text": text,
                    "source_url": None,
                    "title_original": f"第{n}篇",
                    "text_original": text,
                    "convert": "t2s",
                    "fetched_at": "2026-11-26T00:00:00Z",
                    "sha256": hashlib.sha256(text.encode()).hexdigest(),
                }
            )
            corpus.add_missing(article_id + 1, "HTTP 404", "2026-11-26T00:00:00Z")


def cpu_of(command: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr.decode()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, action="append")
    parser.add_argument("--misses", type=int, default=1000, help="--max-misses of the cron run")
    args = parser.parse_args()
    sizes = args.records or [1_000, 100_000]
    print(f"{'records':>8} {'corpus MB':>10} {'misses':>7} {'cpu s':>7} {'wall s':>7}")
    with Archive({}) as server, tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            corpus = Path(scratch) / f"corpus-{size}"
            build_corpus(corpus, size)
            megabytes = sum(f.stat().st_size for f in corpus.iterdir()) / 1e6
            for misses in (1, args.misses):
                command = [
                    sys.executable,
                    "-m",
                    "zkiz_corpus",
                    "fetch",
                    "--corpus",
                    str(corpus),
                    "--base-url",
                    server.base_url,
                    "--delay",
                    "0",
                    "-q",
                    "--max-misses",
                    str(misses),
                ]
                cpu, wall = min(cpu_of(command) for _ in range(3))
                print(f"{size:>8} {megabytes:>10.1f} {misses:>7} {cpu:>7.2f} {wall:>7.2f}")


if __name__ == "__main__":
    main()
