"""The archive as a Scrapy user would crawl it: CSS/XPath selectors written for the
page templates it serves, OpenCC (``opencc``) for the conversion, records out through
Scrapy's feed exporter. No zkiz code.

    scrapy runspider own_selectors.py -a base=http://host/ -a first=N -a last=M \\
        -O records.jsonl:jsonlines

An article is yielded once, the first time a page shows it, if its id is in range; an
id whose article an earlier page already showed is not requested (as zkiz does).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

import opencc
import scrapy

PERMALINK = "https://articles.zkiz.com/?id={}"
URL_LINE = re.compile(r"https?://\S+")
ID_IN_HREF = r"[?&]id=(\d+)"


class ArchiveSpider(scrapy.Spider):
    name = "zkiz_archive"

    def __init__(self, base: str, first: str, last: str, convert: str = "t2s", **kwargs):
        super().__init__(**kwargs)
        self.base = base
        self.first, self.last = int(first), int(last)
        self.convert = convert
        self.converter = opencc.OpenCC(convert)
        self.seen: set[int] = set()

    async def start(self):
        for article_id in range(self.first, self.last + 1):
            if article_id not in self.seen:
                yield scrapy.Request(f"{self.base}?id={article_id}", dont_filter=True)

    def parse(self, response):
        for article_id, title, lines in self.articles(response):
            if article_id is None or article_id in self.seen:
                continue
            if not self.first <= article_id <= self.last:
                continue
            self.seen.add(article_id)
            lines = [line for line in lines if line]
            source_url = None
            if lines and URL_LINE.fullmatch(lines[0]):
                source_url = lines.pop(0)
            yield self.record(article_id, title.strip(), "\n".join(lines), source_url)

    def record(self, article_id, title, text, source_url):
        return {
            "id": article_id,
            "url": PERMALINK.format(article_id),
            "title": self.converter.convert(title),
            "text": self.converter.convert(text),
            "source_url": source_url,
            "title_original": title,
            "text_original": text,
            "convert": self.convert,
            "fetched_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }

    # ---- the templates: each yields (id, title, body lines) for the articles it finds

    def articles(self, response):
        for template in (
            self.forum_posts,
            self.blog_posts,
            self.semantic,
            self.sections,
            self.tables,
            self.one_div,
        ):
            found = list(template(response))
            if found:
                return found
        return []

    def forum_posts(self, response):
        """The archive's forum reposts: div.post > h2.posttitle, div.postbody (BBCode
        through nl2br: text lines between <br />, the source URL auto-linked first)."""
        for post in response.css("div.post"):
            title = post.css("h2.posttitle::text").get()
            if title is None:
                continue
            body = post.css("div.postbody")
            source = body.xpath("./node()[normalize-space()][1][self::a]/@href").get()
            lines = [line.strip() for line in body.xpath("./text()").getall()]
            article_id = post.css("div.postfoot a::attr(href)").re_first(ID_IN_HREF)
            yield _id(article_id), title, [source, *lines] if source else lines

    def blog_posts(self, response):
        """div.post > div.post-title strong, div.post-body > p (images, scripts, ads
        in between)."""
        for post in response.css("div.post"):
            title = post.css("div.post-title strong::text").get()
            if title is None:
                continue
            lines = [p.xpath("string()").get().strip() for p in post.css("div.post-body > p")]
            article_id = post.css("div.post-meta a::attr(href)").re_first(ID_IN_HREF)
            yield _id(article_id), title, lines

    def semantic(self, response):
        """<article>: header h2 a, then <p>s, the permalink in its footer."""
        for article in response.css("main article"):
            title = article.css("header h2 a::text").get("")
            lines = [p.xpath("string()").get().strip() for p in article.xpath("./p")]
            article_id = article.css("footer a::attr(href)").re_first(ID_IN_HREF)
            yield _id(article_id), title, lines

    def sections(self, response):
        """<div><h3>title</h3><div>paragraph</div>...<div>PermaLink: <a></a></div>."""
        for block in response.xpath("//div[h3]"):
            lines, article_id = [], None
            for div in block.xpath("./div"):
                text = div.xpath("string()").get().strip()
                if text.startswith("PermaLink:"):
                    article_id = div.css("a::attr(href)").re_first(ID_IN_HREF)
                    break
                lines.append(text)
            yield _id(article_id), block.xpath("string(h3)").get(), lines

    def tables(self, response):
        """<tr><td><font size=4><b>title</b></font></td></tr>, a row per part."""
        for row in response.xpath("//tr[td/font[@size='4']/b]"):
            title = row.xpath("string(td/font/b)").get()
            lines, article_id = [], None
            for part in row.xpath("following-sibling::tr"):
                text = part.xpath("string()").get().strip()
                if text.startswith("PermaLink:"):
                    article_id = part.css("a::attr(href)").re_first(ID_IN_HREF)
                    break
                if part.xpath("td/font[@size='3']"):
                    lines += [t.strip() for t in part.xpath("td/font/text()").getall()]
                else:
                    lines.append(text)
            yield _id(article_id), title, lines

    def one_div(self, response):
        """One div holding everything: span.c7 title, then text lines between <br>s."""
        for box in response.xpath("//div[span[@class='c7']]"):
            title = box.css("span.c7::text").get("")
            lines = []
            for text in box.xpath("./text()").getall():
                if text.strip().startswith("PermaLink:"):
                    break
                lines.append(text.strip())
            permalink = "./text()[starts-with(normalize-space(), 'PermaLink:')]"
            article_id = box.xpath(f"{permalink}/following-sibling::a[1]/@href").re_first(
                ID_IN_HREF
            )
            yield _id(article_id), title, lines


def _id(value: str | None) -> int | None:
    return int(value) if value else None
