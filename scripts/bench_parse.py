"""Microbenchmark: the per-page CPU cost of decode, parse, record and JSON line, in one
process (no network, no corpus, no worker processes).

    python -m scripts.bench_parse                      # every set, 400 pages, 5 repetitions
    python -m scripts.bench_parse --sets seed,long --pages 200 --repeat 3

Page sets: the crawl benchmark's own (``tests/bench/pagesets.py``: ``current``, ``seed``,
``long``, ``multi``), each page read into memory as bytes; ``--pages`` ids a set, every
tenth a gap with no page, as there.

Stages: ``decode`` (bytes to text), ``parse`` (``read_articles``), ``record``
(``make_record`` with OpenCC ``t2s``), ``json`` (``records.dumps``) and ``page``, all four
in one pass, as a crawl does them. Each figure is CPU ms per page (process time, so
that other work on the machine counts less), the median of the repetitions.

Two references, not stages: ``soup``, ``BeautifulSoup(text, "lxml")`` alone (the tree
every page would cost with the parsing API left as it comes, finding nothing), and
``lxml``, ``lxml.html`` building its own tree (what a parser without that API pays).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lxml.html
from bs4 import BeautifulSoup

from tests.bench.pagesets import SETS, write_set
from zkiz_corpus.converting import make_converter
from zkiz_corpus.decoding import decode_page
from zkiz_corpus.parsing import read_articles
from zkiz_corpus.records import dumps, make_record

CONTENT_TYPE = "text/html; charset=utf-8"
FETCHED_AT = "2026-01-01T00:00:00Z"

Page = tuple[bytes, str]  # (body, page URL)


def pages_of(name: str, count: int) -> list[Page]:
    """The pages of the crawl benchmark's set ``name``, in id order."""
    with tempfile.TemporaryDirectory(prefix="zkiz-bench-parse-") as scratch:
        directory = Path(scratch) / name
        write_set(name, directory, count)
        files = sorted(directory.iterdir(), key=lambda path: int(path.stem))
        return [(path.read_bytes(), f"https://articles.zkiz.com/?id={path.stem}") for path in files]


STAGES = ("decode", "parse", "record", "json", "page")
REFERENCES = ("soup", "lxml")
COLUMNS = STAGES + REFERENCES


def _timed(run: Callable[[], object], pages: int) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) * 1000 / pages


def measure(pages: list[Page], repeat: int) -> dict[str, float]:
    """Median ms per page of each stage over ``repeat`` passes."""
    convert = make_converter("t2s")
    texts = [decode_page(body, CONTENT_TYPE) for body, _ in pages]
    parsed = [read_articles(text, url).articles for text, (_, url) in zip(texts, pages)]
    records = [make_record(a, "t2s", FETCHED_AT, converter=convert) for p in parsed for a in p]

    def decode() -> None:
        for body, _ in pages:
            decode_page(body, CONTENT_TYPE)

    def parse() -> None:
        for text, (_, url) in zip(texts, pages):
            read_articles(text, url)

    def record() -> None:
        for articles in parsed:
            for article in articles:
                make_record(article, "t2s", FETCHED_AT, converter=convert)

    def json_lines() -> None:
        for one in records:
            dumps(one)

    def whole() -> None:
        for body, url in pages:
            for article in read_articles(decode_page(body, CONTENT_TYPE), url).articles:
                dumps(make_record(article, "t2s", FETCHED_AT, converter=convert))

    def soup() -> None:
        for text in texts:
            BeautifulSoup(text, "lxml")

    def lxml_tree() -> None:
        for text in texts:
            lxml.html.fromstring(text)

    runs = dict(zip(COLUMNS, (decode, parse, record, json_lines, whole, soup, lxml_tree)))
    times: dict[str, list[float]] = {column: [] for column in COLUMNS}
    for _ in range(repeat):  # stages interleaved, so drift hits them alike
        for stage, run in runs.items():
            times[stage].append(_timed(run, len(pages)))
    return {stage: statistics.median(values) for stage, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_parse", description=__doc__)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated, of: %(default)s")
    parser.add_argument("--pages", type=int, default=400, help="pages per set")
    parser.add_argument("--repeat", type=int, default=5, help="passes; the median is shown")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s): {', '.join(unknown)}")
    print(f"CPU ms/page, median of {args.repeat}, {args.pages} pages a set")
    print(f"| set | KB/page | articles/page | {' | '.join(COLUMNS)} |")
    print(f"| --- | ---: | ---: | {' | '.join('---:' for _ in COLUMNS)} |")
    for name in names:
        pages = pages_of(name, args.pages)
        size = sum(len(body) for body, _ in pages) / len(pages) / 1024
        articles = sum(
            len(read_articles(decode_page(body), url).articles) for body, url in pages
        ) / len(pages)
        figures = measure(pages, args.repeat)
        cells = " | ".join(f"{figures[column]:.3f}" for column in COLUMNS)
        print(f"| {name} | {size:.1f} | {articles:.1f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
