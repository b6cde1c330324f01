"""The benchmark's page sets: ``count`` ids from FIRST_ID, every tenth a 404 (no file).

- ``current``: one article a page, 2 to 8 of the seed page's paragraphs, in the test
  suite's five markups (``tests.support``), about 3 KB;
- ``seed``: one article a page, a run of the seed's paragraphs coming to about 5 KB a
  page, shaped as the archive's software shapes a forum repost (``tests.site_markups``:
  ``nl2br`` body, auto-linked source URL, the header, ``Next Page``, side list and
  footer of the site);
- ``long``: the same shape, one article of many paragraphs, about 40 KB;
- ``multi``: the same shape, each page showing its own article and the next 4 to 9
  (as the archive's pages show the posts after the permalinked one), so an article is
  on up to ten pages and must be recorded once.

``write_set`` writes ``ID.html`` files and returns the ids holding an article.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.site_markups import CHARSETS, Post, Shown, archive_page
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

FIRST_ID = 500_000
SETS = ("current", "seed", "long", "multi")
PARAGRAPHS = [*SEED_A.paragraphs, *SEED_B.paragraphs]
CURRENT_MARKUPS = [
    markup_div_br,
    markup_semantic,
    markup_table_font,
    markup_paragraph_images,
    markup_gb_sections,
]
# The seed's titles and its subheadings (short lines), as titles of the other articles.
TITLES = [SEED_A.title, SEED_B.title, *(p for p in PARAGRAPHS if 4 <= len(p) <= 12)]
HEAD = CHARSETS["http-equiv utf8"][0]  # how the archive's software declares UTF-8


@dataclass(frozen=True)
class PageSet:
    name: str
    ids_with_article: list[int]  # the records a crawl must write
    bytes_written: int  # all pages together


def is_gap(offset: int) -> bool:
    return offset % 10 == 9  # nginx answers 404


def write_set(name: str, directory: Path, count: int) -> PageSet:
    writer: Callable[[Path, int], PageSet] = {
        "current": _current,
        "seed": _seed,
        "long": _long,
        "multi": _multi,
    }[name]
    directory.mkdir(parents=True)
    return writer(directory, count)


def _save(directory: Path, article_id: int, html: str) -> int:
    data = html.encode("utf-8")
    (directory / f"{article_id}.html").write_bytes(data)
    return len(data)


def _current(directory: Path, count: int) -> PageSet:
    """What the benchmark served before the page sets (the same pages, byte for byte)."""
    rng = random.Random(count)
    ids, size = [], 0
    for offset in range(count):
        article_id = FIRST_ID + offset
        if is_gap(offset):
            continue
        start = rng.randrange(len(PARAGRAPHS) - 8)
        spec = ArticleSpec(
            article_id,
            f"{rng.choice(PARAGRAPHS)[: rng.randrange(8, 30)]} ({article_id})",
            tuple(PARAGRAPHS[start : start + rng.randrange(2, 9)]),
            source_url=f"http://www.yicai.com/news/{article_id}.html" if offset % 3 else None,
        )
        size += _save(directory, article_id, CURRENT_MARKUPS[offset % 5]([spec], charset="utf-8"))
        ids.append(article_id)
    return PageSet("current", ids, size)


def _posts(count: int, body_bytes: Callable[[random.Random], int], seed: str) -> dict[int, Post]:
    """A post for every id that is no gap: consecutive seed paragraphs (wrapping round)
    until the body holds ``body_bytes`` bytes of UTF-8, a seed title, a source URL on
    two posts in three (the seed's articles are reposts)."""
    rng = random.Random(f"{seed}-{count}")
    posts = {}
    for offset in range(count):
        if is_gap(offset):
            continue
        article_id = FIRST_ID + offset
        want = body_bytes(rng)
        start = rng.randrange(len(PARAGRAPHS))
        paragraphs: list[str] = []
        size = 0
        while size < want:
            paragraph = PARAGRAPHS[(start + len(paragraphs)) % len(PARAGRAPHS)]
            paragraphs.append(paragraph)
            size += len(paragraph.encode("utf-8")) + 40  # the <br />s and the indent
        posts[article_id] = Post(
            article_id,
            rng.choice(TITLES),
            tuple(paragraphs),
            source_url=f"http://www.yicai.com/news/{article_id}.html" if offset % 3 else None,
        )
    return posts


def _one_post_pages(name: str, directory: Path, posts: dict[int, Post]) -> PageSet:
    size = sum(
        _save(directory, n, archive_page([Shown(post, "forum_div")], head=HEAD))
        for n, post in posts.items()
    )
    return PageSet(name, list(posts), size)


def _seed(directory: Path, count: int) -> PageSet:
    return _one_post_pages(
        "seed", directory, _posts(count, lambda rng: rng.randrange(2600, 5000), "seed")
    )


def _long(directory: Path, count: int) -> PageSet:
    return _one_post_pages(
        "long", directory, _posts(count, lambda rng: rng.randrange(36_000, 41_000), "long")
    )


def _multi(directory: Path, count: int) -> PageSet:
    posts = _posts(count, lambda rng: rng.randrange(300, 2400), "multi")
    ids = list(posts)
    rng = random.Random(f"multi-pages-{count}")
    size = 0
    for index, article_id in enumerate(ids):
        shown = ids[index : index + rng.randrange(5, 11)]
        size += _save(
            directory,
            article_id,
            archive_page([Shown(posts[n], "forum_div") for n in shown], head=HEAD),
        )
    return PageSet("multi", ids, size)
