"""What a fetched page yields: its articles, decoded and parsed, and their records,
converted with one OpenCC converter built once for the run and encoded as JSON lines.
No I/O, no state: this is the work page workers do (``working``)."""

from __future__ import annotations

from typing import Any

from zkiz_corpus.converting import make_converter, normalise_config
from zkiz_corpus.decoding import decode_page
from zkiz_corpus.parsing import Article, ParsedPage, read_articles
from zkiz_corpus.records import Extracted, PageYield, make_record
from zkiz_corpus.sources import Page


class PageReader:
    """Pages to articles to records, for one OpenCC configuration."""

    def __init__(self, convert: str) -> None:
        self.convert = normalise_config(convert)
        self._converter = make_converter(convert)

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

    def extract(
        self, body: bytes, content_type: str | None, url: str, fetched_at: str
    ) -> PageYield:
        """Everything a page yields, records encoded: the whole per-page job."""
        parsed = read_articles(decode_page(body, content_type), url)
        done = [Extracted.from_record(self.record(a, fetched_at)) for a in parsed.articles]
        return PageYield(done, parsed.notice)
