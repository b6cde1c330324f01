"""The walk over permalink ids: which to fetch, what each page yields, when to stop."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from zkiz_corpus.decoding import decode_page
from zkiz_corpus.fetching import FAILED, MISSING, Page
from zkiz_corpus.parsing import parse_articles
from zkiz_corpus.records import make_record, utc_now

log = logging.getLogger("zkiz")

DEFAULT_MAX_MISSES = 1000
# Consecutive connection failures, with no page ever fetched, that mean the host is down.
UNREACHABLE_AFTER = 3


class Source(Protocol):
    def get(self, article_id: int) -> Page: ...


class Store(Protocol):
    """Where a crawl's outcomes go: a corpus, or a plain stream of records."""

    def status_of(self, article_id: int) -> str | None: ...
    def add_article(self, record: dict[str, Any]) -> None: ...
    def add_missing(self, article_id: int, reason: str | None, fetched_at: str) -> None: ...
    def add_failed(self, article_id: int, reason: str | None, fetched_at: str) -> None: ...


class HostUnreachable(Exception):
    """Nothing could be fetched at all: the base URL's host does not answer."""


@dataclass
class Plan:
    """Ids to walk: ``first`` onwards, up to ``last`` or until ``max_misses`` in a row."""

    first: int
    last: int | None = None
    max_misses: int = DEFAULT_MAX_MISSES
    retry_first: list[int] = field(default_factory=list)
    refetch: bool = False
    recheck_missing_above: int | None = None  # ids recorded missing above this are re-probed


@dataclass
class Stats:
    articles: int = 0
    missing: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def resolved(self) -> int:
        return self.articles + self.missing + self.failed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class StreamStore:
    """No corpus: records go straight to a writer; only this run's ids are remembered."""

    def __init__(self, write: Callable[[dict[str, Any]], None]) -> None:
        self._write = write
        self._seen: dict[int, str] = {}

    def status_of(self, article_id: int) -> str | None:
        return self._seen.get(article_id)

    def add_article(self, record: dict[str, Any]) -> None:
        self._seen[record["id"]] = "article"
        self._write(record)

    def add_missing(self, article_id: int, reason: str | None, fetched_at: str) -> None:
        self._seen.setdefault(article_id, "missing")

    def add_failed(self, article_id: int, reason: str | None, fetched_at: str) -> None:
        self._seen.setdefault(article_id, "failed")


class Crawler:
    """Fetches each planned id once, records every in-range article it finds, once."""

    def __init__(
        self,
        source: Source,
        store: Store,
        convert: str,
        *,
        on_progress: Callable[[Stats, int], None] | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.convert = convert
        self.on_progress = on_progress
        self.stats = Stats()
        self._written_this_run: set[int] = set()

    def _ids(self, plan: Plan) -> Iterator[int]:
        yield from plan.retry_first
        current = plan.first
        while plan.last is None or current <= plan.last:
            yield current
            current += 1

    def run(self, plan: Plan) -> Stats:
        misses = 0
        connection_failures = 0
        fetched_any = False
        retry_set = set(plan.retry_first)
        for article_id in self._ids(plan):
            in_walk = article_id >= plan.first and article_id not in retry_set
            status = self.store.status_of(article_id)
            if (
                status == "missing"
                and plan.recheck_missing_above is not None
                and article_id > plan.recheck_missing_above
            ):
                status = None
            done = article_id in self._written_this_run or (
                status is not None and status != "failed" and not plan.refetch
            )
            if done:
                self.stats.skipped += 1
                misses = (
                    0 if status == "article" or article_id in self._written_this_run else misses + 1
                )
            else:
                page = self.source.get(article_id)
                found_here = self._handle(article_id, page, plan)
                if page.unreachable:
                    connection_failures += 1
                    if not fetched_any and connection_failures >= UNREACHABLE_AFTER:
                        reason = (page.reason or "").removeprefix("robots.txt: ")
                        raise HostUnreachable(reason.removeprefix("connection failed: "))
                else:
                    connection_failures = 0
                    fetched_any = True
                misses = 0 if found_here else misses + 1
            if self.on_progress is not None:
                self.on_progress(self.stats, article_id)
            if in_walk and plan.last is None and misses >= plan.max_misses:
                log.info("stopping after %d ids in a row without an article", misses)
                break
        return self.stats

    def _in_range(self, article_id: int, plan: Plan) -> bool:
        if article_id in plan.retry_first:
            return True
        return article_id >= plan.first and (plan.last is None or article_id <= plan.last)

    def _handle(self, article_id: int, page: Page, plan: Plan) -> bool:
        """Record what ``page`` (fetched as ``article_id``) holds; True if it held that id."""
        fetched_at = utc_now()
        if page.kind == FAILED:
            log.debug("id %d failed: %s", article_id, page.reason)
            self.stats.failed += 1
            self.stats.failures.append((article_id, page.reason or "unknown error"))
            self.store.add_failed(article_id, page.reason, fetched_at)
            return False
        if page.kind == MISSING:
            log.debug("id %d missing: %s", article_id, page.reason)
            self.stats.missing += 1
            self.store.add_missing(article_id, page.reason, fetched_at)
            return False
        articles = parse_articles(decode_page(page.body, page.content_type), page.url)
        found_here = False
        for article in articles:
            if article.id == article_id:
                found_here = True
            elif not self._in_range(article.id, plan):
                continue
            if article.id in self._written_this_run:
                continue
            if not plan.refetch and self.store.status_of(article.id) == "article":
                continue
            self._written_this_run.add(article.id)
            self.store.add_article(make_record(article, self.convert, fetched_at))
            self.stats.articles += 1
        if not found_here:
            reason = "no article on page" if not articles else "page holds other ids only"
            log.debug("id %d missing: %s", article_id, reason)
            self.stats.missing += 1
            self.store.add_missing(article_id, reason, fetched_at)
        return found_here
