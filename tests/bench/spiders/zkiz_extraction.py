"""The same job as ``zkiz fetch`` in Scrapy, with zkiz's own decoding, extraction and
conversion: what is left to compare is the fetching and writing.

    scrapy runspider zkiz_extraction.py -a base=http://host/ -a first=N -a last=M \\
        -O records.jsonl:jsonlines
"""

from __future__ import annotations

import scrapy

from zkiz_corpus import decode_page, make_record, parse_articles
from zkiz_corpus.records import utc_now


class ZkizSpider(scrapy.Spider):
    name = "zkiz"

    def __init__(self, base: str, first: str, last: str, convert: str = "t2s", **kwargs):
        super().__init__(**kwargs)
        self.base = base
        self.first, self.last = int(first), int(last)
        self.convert = convert
        self.seen: set[int] = set()

    async def start(self):
        for article_id in range(self.first, self.last + 1):
            if article_id not in self.seen:
                yield scrapy.Request(f"{self.base}?id={article_id}", dont_filter=True)

    def parse(self, response):
        content_type = response.headers.get("Content-Type", b"").decode("latin-1")
        html = decode_page(response.body, content_type)
        fetched_at = utc_now()
        for article in parse_articles(html, response.url):
            if article.id in self.seen or not self.first <= article.id <= self.last:
                continue
            self.seen.add(article.id)
            yield make_record(article, self.convert, fetched_at)
