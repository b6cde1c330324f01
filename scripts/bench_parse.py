"""Microbenchmark: the per-page CPU cost of decode, parse, record and JSON line, in one
process (no network, no corpus, no worker processes).

    python -m scripts.bench_parse                      # every set, 400 pages, 5 repetitions
    python -m scripts.bench_parse --sets seed,long --pages 200 --repeat 3

Page sets (every page a UTF-8 archive page held in memory as bytes):

- ``current``: the crawl benchmark's pages (about 3 KB, one article of 2 to 8 seed
  paragraphs, the test suite's five markups in turn);
- ``seed``: the seed's articles as the archive shows them (about 5 KB: a title, a source
  URL line on every other page, seed paragraphs, the site's header, side list and footer);
- ``long``: one article of many paragraphs (about 40 KB), the five markups in turn;
- ``multi``: 5 to 10 consecutive articles a page, the five markups in turn.

Stages: ``decode`` (bytes to text), ``parse`` (``read_articles``), ``record``
(``make_record`` with OpenCC ``t2s``), ``json`` (``records.dumps``) and ``page``, all four
in one pass, as a crawl does them. Each figure is CPU ms per page (process time, so
that other work on the machine counts less), the median of the repetitions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from tests.support import (
    SEED_A,
    SEED_B,
    ArticleSpec,
    markup_div_br,
    markup_gb_sections,
    markup_paragraph_images,
    markup_semantic,
    markup_table_font,
)
from zkiz_corpus.converting import make_converter
from zkiz_corpus.decoding import decode_page
from zkiz_corpus.parsing import read_articles
from zkiz_corpus.records import dumps, make_record

MARKUPS = [
    markup_div_br,
    markup_semantic,
    markup_table_font,
    markup_paragraph_images,
    markup_gb_sections,
]
PARAGRAPHS = [*SEED_A.paragraphs, *SEED_B.paragraphs]
FIRST_ID = 500_000
CONTENT_TYPE = "text/html; charset=utf-8"
FETCHED_AT = "2026-01-01T00:00:00Z"

Page = tuple[bytes, str]  # (body, page URL)


def _url(article_id: int) -> str:
    return f"https://articles.zkiz.com/?id={article_id}"


def _spec(rng: random.Random, article_id: int, paragraphs: list[str]) -> ArticleSpec:
    return ArticleSpec(
        article_id,
        f"{rng.choice(PARAGRAPHS)[: rng.randrange(8, 30)]} ({article_id})",
        tuple(paragraphs),
        source_url=f"http://www.yicai.com/news/{article_id}.html" if article_id % 3 else None,
    )


def current_pages(count: int) -> list[Page]:
    """As ``tests/bench/bench_crawl.py`` generates them (its gaps left out)."""
    rng = random.Random(count)
    pages = []
    for offset in range(count):
        article_id = FIRST_ID + offset
        start = rng.randrange(len(PARAGRAPHS) - 8)
        spec = _spec(rng, article_id, PARAGRAPHS[start : start + rng.randrange(2, 9)])
        html = MARKUPS[offset % len(MARKUPS)]([spec], charset="utf-8")
        pages.append((html.encode(), _url(article_id)))
    return pages


def _paragraphs_of(rng: random.Random, size: int) -> list[str]:
    """Consecutive seed paragraphs (wrapping round) of about ``size`` UTF-8 bytes."""
    start = rng.randrange(len(PARAGRAPHS))
    chosen: list[str] = []
    while sum(len(p.encode()) for p in chosen) < size:
        chosen.append(PARAGRAPHS[(start + len(chosen)) % len(PARAGRAPHS)])
    return chosen


def seed_pages(count: int) -> list[Page]:
    """About 5 KB each, in the template closest to the real page (``markup_div_br``)."""
    rng = random.Random(count + 1)
    pages = []
    for offset in range(count):
        article_id = FIRST_ID + offset
        spec = _spec(rng, article_id, _paragraphs_of(rng, 4200))
        pages.append((markup_div_br([spec]).encode(), _url(article_id)))
    return pages


def long_pages(count: int) -> list[Page]:
    rng = random.Random(count + 2)
    pages = []
    for offset in range(count):
        article_id = FIRST_ID + offset
        spec = _spec(rng, article_id, _paragraphs_of(rng, 39_000))
        html = MARKUPS[offset % len(MARKUPS)]([spec], charset="utf-8")
        pages.append((html.encode(), _url(article_id)))
    return pages


def multi_pages(count: int) -> list[Page]:
    rng = random.Random(count + 3)
    pages = []
    for offset in range(count):
        article_id = FIRST_ID + offset
        specs = [
            _spec(rng, article_id + n, _paragraphs_of(rng, rng.randrange(600, 3000)))
            for n in range(rng.randrange(5, 11))
        ]
        html = MARKUPS[offset % len(MARKUPS)](specs, charset="utf-8")
        pages.append((html.encode(), _url(article_id)))
    return pages


SETS: dict[str, Callable[[int], list[Page]]] = {
    "current": current_pages,
    "seed": seed_pages,
    "long": long_pages,
    "multi": multi_pages,
}
STAGES = ("decode", "parse", "record", "json", "page")


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

    runs = dict(zip(STAGES, (decode, parse, record, json_lines, whole)))
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
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
    print(f"| set | KB/page | articles/page | {' | '.join(STAGES)} |")
    print(f"| --- | ---: | ---: | {' | '.join('---:' for _ in STAGES)} |")
    for name in names:
        pages = SETS[name](args.pages)
        size = sum(len(body) for body, _ in pages) / len(pages) / 1024
        articles = sum(
            len(read_articles(decode_page(body), url).articles) for body, url in pages
        ) / len(pages)
        figures = measure(pages, args.repeat)
        cells = " | ".join(f"{figures[stage]:.3f}" for stage in STAGES)
        print(f"| {name} | {size:.1f} | {articles:.1f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
