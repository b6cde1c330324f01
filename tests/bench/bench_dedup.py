"""Benchmark: ``zkiz dedup`` over a large corpus, then a night of new records.

    python -m tests.bench.bench_dedup                          # 100,000 records + 1,000
    python -m tests.bench.bench_dedup --records 20000 --night 500 --workers 0

The corpus is the generated set of reposts (``tests/bench/reposts.py``: stories on the
seed's topics, each with 0 to 4 reposts) cut in two: ``--records`` records written as
one run, then ``--night`` more (ids from the same shuffled range, so the night's records
include reposts of old stories). Each step is ``zkiz dedup`` as a subprocess, timed
whole (start-up included), with the peak RSS and PSS of its process tree, workers
included (``treerss``; RSS counts a forked worker's shared pages once per process, PSS
once in all): the full run that builds the index, the night's run that adds to it, for
comparison a ``--rebuild`` of the whole, and last ``zkiz export --dedup near -o
corpus.parquet``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.reposts import make_set, write_corpus
from tests.bench.treerss import run_measured

STORIES_PER_RECORD = 0.395  # the set makes about 2.5 records a story
OUT = ("-o", "/dev/null")
COLUMNS = (
    "run",
    "records",
    "new",
    "seconds",
    "records/s",
    "peak RSS MB",
    "peak PSS MB",
    "clusters",
)


def _dedup(corpus: Path, *extra: str) -> tuple[float, float, float, str]:
    measured = run_measured(
        [sys.executable, "-m", "zkiz_corpus", "dedup", "--corpus", str(corpus), *OUT, *extra]
    )
    if measured.returncode != 0:
        raise SystemExit(f"zkiz dedup failed: {measured.stderr}")
    said = measured.stderr.strip().splitlines()[-1]
    return measured.wall, measured.peak_kb / 1024, measured.pss_kb / 1024, said


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_dedup", description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--night", type=int, default=1_000)
    parser.add_argument("--workers", help="passed to zkiz dedup --workers")
    parser.add_argument(
        "--text",
        choices=("words", "chain"),
        default="words",
        help="unrelated articles (words), or all on the fixtures' few topics (chain)",
    )
    args = parser.parse_args(argv)
    extra = ["--workers", args.workers] if args.workers is not None else []
    started = time.perf_counter()
    wanted = args.records + args.night
    reposts = make_set(int(wanted * STORIES_PER_RECORD) + 10, paragraphs=(4, 14), text=args.text)
    while len(reposts.records) < wanted:  # rarely: a few stories more
        reposts = make_set(int(len(reposts.records) * 1.1), paragraphs=(4, 14), text=args.text)
    records = reposts.records[:wanted]
    chars = sum(len(r["text_original"]) for r in records) / len(records)
    print(
        f"{len(records)} records generated in {time.perf_counter() - started:.0f} s, "
        f"{chars:.0f} characters of text on average",
        flush=True,
    )
    base, night = records[: args.records], records[args.records :]
    with tempfile.TemporaryDirectory(prefix="zkiz-bench-dedup-") as scratch:
        corpus = Path(scratch) / "corpus"
        write_corpus(corpus, base)
        print(f"| {' | '.join(COLUMNS)} |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        rows = []

        def row(
            name: str, total: int, new: int, wall: float, rss: float, pss: float, said: str
        ) -> None:
            clusters = re.search(r"(\d+) near-duplicate clusters", said)
            rows.append((name, wall))
            print(
                f"| {name} | {total:,} | {new:,} | {wall:.1f} | {new / wall:,.0f} | {rss:.0f} | "
                f"{pss:.0f} | {clusters.group(1) if clusters else '?'} |",
                flush=True,
            )

        row("full", len(base), len(base), *_dedup(corpus, *extra))
        write_corpus(corpus, night, run_started="2026-11-28T00:00:00Z")
        row("night", len(records), len(night), *_dedup(corpus, *extra))
        row("rebuild", len(records), len(records), *_dedup(corpus, "--rebuild", *extra))
        print(
            f"\nthe night's run took {rows[1][1] / rows[0][1]:.1%} of the full run's time "
            f"({rows[1][1]:.1f} s against {rows[0][1]:.1f} s)"
        )
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            print("(no Parquet export: pyarrow is not installed, pip install -e '.[parquet]')")
            return
        parquet = Path(scratch) / "corpus.parquet"
        export = [sys.executable, "-m", "zkiz_corpus", "export", "--corpus", str(corpus)]
        measured = run_measured([*export, "--dedup", "near", "-o", str(parquet), *extra])
        if measured.returncode != 0:
            raise SystemExit(f"zkiz export failed: {measured.stderr}")
        print(
            f"| export --dedup near -o .parquet | {len(records):,} | 0 | {measured.wall:.1f} | "
            f"{len(records) / measured.wall:,.0f} | {measured.peak_kb / 1024:.0f} | "
            f"{measured.pss_kb / 1024:.0f} | "
            f"{parquet.stat().st_size / 2**20:.0f} MB written |",
            flush=True,
        )


if __name__ == "__main__":
    main()
