"""One page's records, without a corpus: what ``zkiz parse`` shows, as ``scrapy parse``
does for a spider. The tool for a record that looks wrong: it fetches one id (robots
obeyed, one request) or reads one saved page, and can say how each line was read."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from zkiz_corpus.health import is_poor
from zkiz_corpus.outcomes import Cause, Outcome
from zkiz_corpus.pages import PageReader
from zkiz_corpus.records import utc_now
from zkiz_corpus.sources import HttpSource, Page, SourceError, open_source
from zkiz_corpus.sources.base import read_page

__all__ = ["Inspection", "PageUnreadable", "inspect_page"]

SAVED_PAGE_URL = "https://articles.zkiz.com/"  # what a saved page's relative links mean


class PageUnreadable(SourceError):
    """A saved page that cannot be read."""

    option = "ID|PATH|-"


@dataclass
class Inspection:
    """What one page yields. ``outcome`` is ARTICLE when it holds any article."""

    url: str  # or the saved page's path, or "standard input"
    outcome: Outcome
    cause: Cause | None = None  # for a miss or a failure
    reason: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)  # with ``explain``: lines for people


def inspect_page(
    target: int | str | Path,
    *,
    base_url: str = SAVED_PAGE_URL,
    source: str | Path | None = None,
    convert: str = "t2s",
    explain: bool = False,
    stdin: BinaryIO | None = None,
) -> Inspection:
    """The records of page ``target``: an id (fetched from ``base_url``, or read from the
    WARC or folder ``source``), a saved page's path, or ``-`` for standard input.

    Raises ``PageUnreadable`` for a path that cannot be read, ``SourceError`` for a bad
    ``source`` and ``ValueError`` for a bad ``convert``; the site not answering, or
    answering no article, is an outcome.
    """
    reader = PageReader(convert)
    if isinstance(target, int):
        page = _fetch(target, base_url, source)
        where = page.url
    else:
        page = _read_saved(target, stdin)
        where = "standard input" if str(target) == "-" else str(target)
    trace: list[str] = []
    if explain:
        size = "" if page.outcome is not None else f", {len(page.body)} bytes"
        trace.append(f"page: {where}{size}")
    if page.outcome is not None:
        return Inspection(where, page.outcome, page.cause, page.reason, trace=trace)
    fetched_at = page.fetched_at or utc_now()
    parsed = reader.read(page, explain=explain)
    trace.extend(parsed.trace)
    if explain:
        for article in parsed.articles:
            if not article.text:
                trace.append(f"id {article.id} has no text: extraction health counts it poor")
            elif is_poor(article):
                trace.append(f"id {article.id}'s title is site chrome: counted poor")
    found = [reader.record(article, fetched_at) for article in parsed.articles]
    if found and isinstance(target, int) and all(r["id"] != target for r in found):
        # What fetch records: the id is missing; its page's records are shown all the same.
        shown = ", ".join(str(r["id"]) for r in found)
        reason = f"id {target} is not on its page (it shows {shown})"
        return Inspection(where, Outcome.MISSING, Cause.NO_ARTICLE, reason, found, trace)
    if found:
        return Inspection(where, Outcome.ARTICLE, records=found, trace=trace)
    if parsed.notice is not None:
        cause, reason = Cause.NOTICE, f"notice: {parsed.notice}"
    else:
        cause, reason = Cause.NO_ARTICLE, "no article on the page"
    return Inspection(where, Outcome.MISSING, cause, reason, trace=trace)


def _fetch(article_id: int, base_url: str, source: str | Path | None) -> Page:
    if source is not None:
        return open_source(source).get(article_id)
    # One page for a person waiting: a failure is reported, not retried for minutes.
    http = HttpSource(base_url, delay=0.0, retries=0)
    try:
        return http.get(article_id)
    finally:
        http.close()


def _read_saved(target: str | Path, stdin: BinaryIO | None) -> Page:
    if str(target) == "-":
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise PageUnreadable("standard input is closed")
        return read_page(SAVED_PAGE_URL, stream)
    if not str(target):
        raise PageUnreadable("an empty path is no saved page")
    path = Path(target)
    if path.is_dir() or path.is_socket():
        raise PageUnreadable(f"{path} is not a saved page")
    try:
        with path.open("rb") as stream:
            return read_page(SAVED_PAGE_URL, stream)
    except OSError as exc:
        raise PageUnreadable(f"cannot read {path}: {exc.strerror}") from None
