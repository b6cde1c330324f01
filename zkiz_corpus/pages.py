"""What a fetched page yields: its articles, decoded and parsed, and their records,
converted with one OpenCC converter built once for the run. No I/O, no state."""

from __future__ import annotations

from typing import Any

from zkiz_corpus.converting import make_converter, normalise_config
from zkiz_corpus.decoding import decode_page
from zkiz_corpus.parsing import Article, ParsedPage, read_articles
from zkiz_corpus.records import make_record
from zkiz_corpus.sources import Page

# Tags a page may have: each costs about 470 bytes of tree, so 200,000 ``<`` (about
# 100,000 elements) is some 50 MB. Real archive pages have a few thousand; 8 MB of bare
# ``<i></i>`` would take 600 MB and half a minute.
MAX_TAGS = 200_000


class PageReader:
    """Pages to articles to records, for one OpenCC configuration."""

    def __init__(self, convert: str) -> None:
        self.convert = normalise_config(convert)
        self._converter = make_converter(convert)

    def refusal(self, page: Page) -> str | None:
        """Why ``page`` is not to be parsed at all, or None."""
        tags = page.body.count(b"<")
        return f"{tags} tags: over {MAX_TAGS}" if tags > MAX_TAGS else None

    def articles(self, page: Page) -> list[Article]:
        """Every article on ``page``; its bytes are let go of as soon as they are read."""
        return self.read(page).articles

    def read(self, page: Page, *, explain: bool = False) -> ParsedPage:
        """``page``'s articles, or the notice it gives instead; its bytes are let go of
        as soon as they are decoded."""
        document = decode_page(page.body, page.content_type)
        page.body = b""  # not needed past here: freed before parsing
        return read_articles(document, page.url, explain=explain)

    def record(self, article: Article, fetched_at: str) -> dict[str, Any]:
        return make_record(article, self.convert, fetched_at, converter=self._converter)
