"""The walk over permalink ids: which to fetch, how many at once, when to stop, and
where each outcome goes (what a page yields is ``pages``'s business)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from zkiz_corpus.converting import normalise_config
from zkiz_corpus.health import Health, HealthMonitor, PageKind
from zkiz_corpus.outcomes import Cause, Outcome
from zkiz_corpus.records import Extracted, PageYield, utc_now
from zkiz_corpus.sources import MAX_ID, ByteBudget, Page
from zkiz_corpus.working import BATCH, Slot, WorkerDied, WorkerPool

if TYPE_CHECKING:
    from zkiz_corpus.pages import PageReader

log = logging.getLogger("zkiz")

DEFAULT_MAX_MISSES = 1000
# Consecutive connection failures, with no page ever fetched, that mean the host is down.
UNREACHABLE_AFTER = 3
SHOWN_FAILURES = 10  # failures kept (with reasons) for the end-of-run summary
MAX_CONCURRENCY = 64
# Page bodies held at once (fetched, not yet parsed), whatever the concurrency: a few
# 8 MB pages, not concurrency times two of them.
WINDOW_BYTES = 8 * 1024 * 1024


def _return_freed_memory() -> None:
    """Let freed page bodies go back to the system (glibc only; elsewhere a no-op).

    glibc gives each thread its own heap and raises its mmap threshold after the first
    large free, so bodies read in many threads stay resident after they are freed: 370 MB
    for 24 pages of 7.9 MB at concurrency 32, against 120 MB really in use.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-8, 2)  # M_ARENA_MAX: two heaps, whatever the thread count
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD, fixed: big buffers are mmapped
    except (OSError, AttributeError):
        pass


class Source(Protocol):
    def get(self, article_id: int) -> Page: ...


class Store(Protocol):
    """Where a crawl's outcomes go: a corpus, or a plain stream of records."""

    def status_of(self, article_id: int) -> Outcome | None: ...
    def add_article(self, article: Extracted) -> None: ...
    def add_missing(
        self, article_id: int, reason: str | None, fetched_at: str, cause: Cause | None = None
    ) -> None: ...
    def add_failed(
        self, article_id: int, reason: str | None, fetched_at: str, cause: Cause | None = None
    ) -> None: ...
    def owe_asks(self) -> None: ...  # this run's soft misses are to be asked again


@dataclass
class _Fetched:
    article_id: int
    page: Page  # its body is kept until recorded: a worker that dies on it is replaced
    fetched_at: str
    job: Slot | None = None  # the page handed to a worker, if it was
    pool: WorkerPool | None = None  # that worker's
    exchanges: list[Any] | None = None  # for the WARC: encoded by that worker too


_MISS_KINDS = {
    Cause.REDIRECT: PageKind.REDIRECT,
    Cause.HTTP_STATUS: PageKind.NOT_FOUND,
    Cause.NOTICE: PageKind.NOTICE,
    Cause.NO_ARTICLE: PageKind.NO_ARTICLE,
}


# Ids a bounded run must walk to be worth forking page workers for.
WORKERS_FROM_IDS = 100


def _short(plan: Plan) -> bool:
    """Too few ids to be worth starting page workers for."""
    if plan.last is None:
        return False
    return plan.last - plan.first + 1 + len(plan.retry_first) < WORKERS_FROM_IDS


# A page bigger than this is extracted in the main process, as with no workers: sent to
# one, it would be held three times over (its bytes, and each side's pickled copy).
HANDED_OUT_BYTES = 1024 * 1024

# Tags a page may have: each costs about 470 bytes of tree, so 200,000 ``<`` (about
# 100,000 elements) is some 50 MB. Real archive pages have a few thousand; 8 MB of bare
# ``<i></i>`` would take 600 MB and half a minute.
MAX_TAGS = 200_000


def refusal_of(page: Page) -> str | None:
    """Why ``page`` is not to be parsed at all, or None."""
    tags = page.body.count(b"<")
    return f"{tags} tags: over {MAX_TAGS}" if tags > MAX_TAGS else None


def _make_reader(convert: str) -> PageReader:
    # Imported here: a run whose pages go to workers never loads BeautifulSoup or OpenCC.
    from zkiz_corpus.pages import PageReader

    return PageReader(convert)


def _extract(
    reader: PageReader,
    body: bytes,
    content_type: str | None,
    url: str,
    fetched_at: str,
    exchanges: list[Any] | None = None,
) -> PageYield:
    """The page worker's job: everything a page yields, and the WARC records of the
    exchanges that brought it."""
    yielded = reader.extract(body, content_type, url, fetched_at)
    if exchanges:
        from zkiz_corpus.sources.warc import encode_exchange

        yielded.warc = b"".join(encode_exchange(exchange) for exchange in exchanges)
    return yielded


class WarcWriter(Protocol):
    def write_exchange(self, exchange: Any) -> None: ...
    def append(self, data: bytes) -> None: ...


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
    strict: bool = False  # stop when extraction health drops
    reprobe: frozenset[int] = frozenset()  # soft misses of a bad run (also in retry_first)
    newest: int | None = None  # the newest article the corpus held before the run
    rechecked: frozenset[int] = frozenset()  # misses asked again on purpose (also there)


@dataclass
class Stats:
    """A run's counts. Every id walked is in exactly one of ``articles``, ``missing``,
    ``not_in_source``, ``failed`` and ``held``."""

    walked: int = 0  # ids looked at
    articles: int = 0  # ids whose article this run recorded (from their page or another's)
    missing: int = 0  # ids fetched and confirmed to hold no article
    not_in_source: int = 0  # ids a WARC or folder does not hold
    failed: int = 0  # ids to retry on the next run
    held: int = 0  # ids the corpus already knew (article or missing): not fetched
    records: int = 0  # records written (an article seen ahead is written before its id is walked)
    # The first few failed ids, with their causes and reasons.
    failures: list[tuple[int, Cause | None, str]] = field(default_factory=list)
    health: Health = field(default_factory=Health)  # how well pages were read
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class StreamStore:
    """No corpus: records go straight to a writer. Nothing is remembered per id walked
    (the crawler keeps the few articles ahead of the walk), so memory stays flat."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write

    def status_of(self, article_id: int) -> Outcome | None:
        return None

    def add_article(self, article: Extracted) -> None:
        self._write(article.line)

    def add_missing(self, article_id: int, *rest: Any) -> None:
        pass

    def add_failed(self, article_id: int, *rest: Any) -> None:
        pass

    def owe_asks(self) -> None:
        pass


class _Workers:
    """Fetching threads. Daemon threads, unlike ``ThreadPoolExecutor``'s, which the
    interpreter joins at exit: an interrupted run would wait for every slow server."""

    def __init__(self, count: int) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"zkiz-fetch-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((future, function, args))
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, function, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # handed to the consumer with the result
                future.set_exception(exc)
            # An idle worker must not keep its last page alive: only the consumer may.
            del item, future, function, args

    def shutdown(self, pending: list[Any]) -> None:
        """Cancel what has not started; what runs is abandoned, not waited for."""
        for future in pending:
            future.cancel()
        for _ in self._threads:
            self._queue.put(None)


class Crawler:
    """Fetches each planned id once, records every in-range article it finds, once."""

    def __init__(
        self,
        source: Source,
        store: Store,
        convert: str,
        *,
        on_progress: Callable[[Stats, int], None] | None = None,
        monitor: HealthMonitor | None = None,
        workers: int = 0,
        warc: WarcWriter | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.convert = normalise_config(convert)
        self._reader: PageReader | None = None  # built when a page is extracted here
        self.workers = workers  # processes that extract pages (0: this one does)
        self._pool: WorkerPool | None = None
        self.warc = warc  # where a live crawl keeps its exchanges
        self._next_shown = 0.0  # how often a page lately showed the next id's article
        self.on_progress = on_progress
        self.monitor = monitor or HealthMonitor()
        self.stats = Stats(health=self.monitor.health)
        # Articles written this run, so that a page showing one already written does not
        # write it again; pruned behind the walk (pages show their own and later ids).
        self._written_this_run: set[int] = set()
        self._retry_set: set[int] = set()
        self._newest_seen: int | None = None  # the newest article this run met

    def _ids(self, plan: Plan) -> Iterator[int]:
        """Failed ids to retry first, then the walk (without those already retried).

        A file source is walked over the ids it holds, not every integer up to its
        highest: one stray id of 10^19 in a WARC must not make the walk endless.
        """
        yield from plan.retry_first
        held = getattr(self.source, "ids", None)
        last = MAX_ID if plan.last is None else min(plan.last, MAX_ID)
        walk = (
            (n for n in held() if plan.first <= n <= last)
            if callable(held)
            else iter(range(plan.first, last + 1))
        )
        for current in walk:
            if current not in self._retry_set:
                yield current

    def run(self, plan: Plan, concurrency: int = 1) -> Stats:
        """Walk the plan; with ``concurrency`` > 1, that many pages are fetched at once by
        worker threads, while pages are parsed and recorded here, in id order."""
        self._retry_set = set(plan.retry_first)
        concurrency = max(1, min(concurrency, MAX_CONCURRENCY))
        _return_freed_memory()
        # A file source is read ahead for its workers; a site fetched one page at a time
        # is not (that would fetch ids whose article an earlier page shows).
        file_source = callable(getattr(self.source, "ids", None))
        if self.workers > 0 and (concurrency > 1 or file_source) and not _short(plan):
            self._start_pool()  # now: forked before the fetching threads start
        # Workers forked now encode each page's exchanges with the page.
        holds = self.warc is not None and self._pool is not None
        if holds and hasattr(self.source, "hold_exchanges"):
            self.source.hold_exchanges = True
        executor = _Workers(concurrency) if concurrency > 1 else None
        budget = ByteBudget(WINDOW_BYTES) if executor is not None else None
        if budget is not None and hasattr(self.source, "budget"):
            self.source.budget = budget
        tickets = 0
        # (id, status if no fetch is needed, else the fetch: pending or done, its ticket)
        window: deque[tuple[int, Outcome | None, Future[_Fetched] | _Fetched | None, int]] = deque()
        held_bytes = 0  # of the pages read ahead from a file source
        ids = self._ids(plan)
        misses = connection_failures = 0
        fetched_any = stopping = False
        last_walked: int | None = None
        try:
            while True:
                while not stopping and len(window) < self._window_size(executor, concurrency):
                    if executor is None and held_bytes > WINDOW_BYTES:
                        break
                    article_id = next(ids, None)
                    if article_id is None:
                        break
                    status = self._known_status(article_id, plan)
                    if status is not None:
                        window.append((article_id, status, None, -1))
                        continue
                    if executor is not None:
                        work = executor.submit(self._fetch, article_id, budget, tickets)
                    else:
                        work = self._fetch(article_id)
                        held_bytes += len(work.page.body)
                    window.append((article_id, None, work, tickets))
                    tickets += 1
                if not window:
                    break
                article_id, status, work, ticket = window.popleft()
                if isinstance(work, _Fetched):
                    held_bytes -= len(work.page.body)
                if work is None:
                    if article_id in self._written_this_run:
                        self.stats.articles += 1
                    else:
                        self.stats.held += 1
                    if status is Outcome.ARTICLE and article_id not in self._retry_set:
                        self._met_article(article_id)
                    if article_id not in self._retry_set:  # only the walk's own ids
                        misses = 0 if status is Outcome.ARTICLE else misses + 1
                else:
                    try:
                        fetched = work.result() if isinstance(work, Future) else work
                        if article_id in self._written_this_run:
                            # Fetched ahead by a worker, but its article came on an
                            # earlier page: it is an article, whatever this fetch said.
                            if fetched.job is not None:
                                self._extracted(fetched)  # for its exchanges' records
                            found_here = True
                            self.stats.articles += 1
                            self._met_article(article_id)
                        else:
                            found_here = self._handle(fetched, plan)
                    finally:
                        if budget is not None:
                            budget.release(ticket)
                    if fetched.page.cause is Cause.UNREACHABLE:
                        connection_failures += 1
                        if not fetched_any and connection_failures >= UNREACHABLE_AFTER:
                            self.stats.walked += 1  # counted, as every id walked is
                            raise HostUnreachable(fetched.page.reason)
                    else:
                        connection_failures = 0
                        fetched_any = True
                    if article_id not in self._retry_set:
                        misses = 0 if found_here else misses + 1
                self.stats.walked += 1
                last_walked = article_id
                if plan.strict and self.stats.health.dropped and not stopping:
                    log.error(
                        "stopping (--strict): extraction health dropped at id %d",
                        self.stats.health.dropped_at,
                    )
                    stopping = True
                if self.on_progress is not None:
                    self.on_progress(self.stats, article_id)
                in_walk = article_id >= plan.first and article_id not in self._retry_set
                if in_walk and self.stats.walked % 1024 == 0:
                    self._written_this_run = {n for n in self._written_this_run if n >= article_id}
                if in_walk and plan.last is None and misses >= plan.max_misses and not stopping:
                    log.info("stopping after %d ids in a row without an article", misses)
                    stopping = True  # what is already in flight is still recorded
        finally:
            if executor is not None:
                executor.shutdown([work for _, _, work, _ in window if isinstance(work, Future)])
            if self._pool is not None:
                self._set_pool(None)
            if hasattr(self.source, "hold_exchanges"):
                self.source.hold_exchanges = False
            edges = [n for n in (plan.newest, self._newest_seen) if n is not None]
            self.monitor.end(
                open_walk=plan.last is None,
                last_id=last_walked,
                edge=max(edges) if edges else None,
            )
        return self.stats

    def _known_status(self, article_id: int, plan: Plan) -> Outcome | None:
        """``ARTICLE``/``MISSING`` if ``article_id`` needs no fetch, else None."""
        if article_id in self._written_this_run:
            return Outcome.ARTICLE
        if plan.refetch:
            return None
        status = self.store.status_of(article_id)
        if status is Outcome.FAILED or (
            status is Outcome.MISSING and article_id in self._retry_set
        ):
            return None
        if (
            status is Outcome.MISSING
            and plan.recheck_missing_above is not None
            and article_id > plan.recheck_missing_above
        ):
            return None
        return status

    def _window_size(self, executor: _Workers | None, concurrency: int) -> int:
        """Ids in flight: twice the fetching threads; alone, one id at a time (each id
        settled before the next is looked at, so an article found on one page is never
        fetched again as the next id), except a file read ahead for page workers."""
        if executor is not None:
            return 2 * concurrency
        if self._pool is not None and not self._showing_next:
            return 2 * self._pool.count * BATCH
        return 1

    @property
    def _showing_next(self) -> bool:
        """Most pages lately showed the next id's article too: a page read ahead would
        be read for nothing, and only the page each id needs is parsed, in id order."""
        return self._next_shown > 0.5

    def _start_pool(self) -> None:
        """Fork page workers, where no other thread runs: at the start of a run, or
        again after one died in a rebuild; else none (the pages are extracted here)."""
        self._set_pool(WorkerPool.start(self.workers, partial(_make_reader, self.convert)))

    def _set_pool(self, pool: WorkerPool | None) -> None:
        if self._pool is not None:
            self._pool.close()
        self._pool = pool

    def _fetch(
        self, article_id: int, budget: ByteBudget | None = None, ticket: int = 0
    ) -> _Fetched:
        """Fetch one page and hand it to a page worker: what runs in fetching threads.
        Without workers, pages are extracted in the recording thread: spread over
        threads that only fights for the GIL."""
        fetched_at = utc_now()
        if budget is None:
            page = self.source.get(article_id)
        else:
            with budget.ticket(ticket):
                page = self.source.get(article_id)
        fetched = _Fetched(article_id, page, page.fetched_at or fetched_at)
        fetched.exchanges, page.exchanges = page.exchanges, None
        if page.outcome is None:
            refusal = refusal_of(page)
            pool = self._pool
            if refusal is not None:
                fetched.page = Page.failed(page.url, Cause.TOO_COMPLEX, refusal)
            elif (
                pool is not None
                and len(page.body) <= HANDED_OUT_BYTES
                and not self._showing_next
                and article_id not in self._written_this_run  # else it needs no parsing
            ):
                with contextlib.suppress(WorkerDied):  # then extracted when recorded
                    fetched.job = self._submit(pool, fetched)
                    fetched.pool = pool
        if fetched.job is None:
            self._keep_exchanges(fetched)
        return fetched

    def _keep_exchanges(self, fetched: _Fetched) -> None:
        """Write the exchanges of a page no worker encodes, as they came."""
        exchanges, fetched.exchanges = fetched.exchanges, None
        if exchanges and self.warc is not None:
            for exchange in exchanges:
                self.warc.write_exchange(exchange)

    @staticmethod
    def _submit(pool: WorkerPool, fetched: _Fetched) -> Slot:
        page = fetched.page
        return pool.submit_batched(
            _extract,
            page.body,
            page.content_type,
            page.url,
            fetched.fetched_at,
            fetched.exchanges,
            size=len(page.body),
        )

    def _extracted(self, fetched: _Fetched) -> PageYield | None:
        """What the page yields, from its worker or extracted here; None if workers died
        on it twice (a page that kills its parser must not kill the run)."""
        if fetched.job is not None:
            yielded = self._from_worker(fetched)
            if yielded is not None and yielded.warc and self.warc is not None:
                self.warc.append(yielded.warc)  # kept before the page's records, as ever
                fetched.exchanges = None
            self._keep_exchanges(fetched)  # those no worker encoded
            return yielded
        if self._pool is not None and self._pool.broken:
            self._worker_died("a page worker died")
        return self._here(fetched)

    def _here(self, fetched: _Fetched) -> PageYield:
        """The page extracted in this process."""
        page = fetched.page
        if self._reader is None:
            self._reader = _make_reader(self.convert)
        yielded = self._reader.extract(page.body, page.content_type, page.url, fetched.fetched_at)
        page.body = b""
        return yielded

    def _from_worker(self, fetched: _Fetched) -> PageYield | None:
        """The worker's result; a worker's death starts new ones and hands them the
        page again; None if it kills them too."""
        assert fetched.job is not None and fetched.pool is not None
        try:
            return fetched.pool.result_of(fetched.job)
        except WorkerDied as exc:
            if fetched.pool is self._pool:
                self._worker_died(f"a page worker died ({exc})")
        pool = self._pool
        if pool is None:  # none could be forked again: this process reads it
            return self._here(fetched)
        try:
            return pool.result_of(self._submit(pool, fetched))
        except WorkerDied:  # a second death, on a fresh pool: this page kills them
            log.warning("warning: a page worker died on id %d again", fetched.article_id)
            if pool is self._pool:
                self._start_pool()
            return None

    def _worker_died(self, what: str) -> None:
        """New workers where they can be forked, else none for the rest of the run."""
        self._start_pool()
        then = "new ones started" if self._pool is not None else "pages read here from now"
        log.warning("warning: %s: %s", what, then)

    def _health_page(self, article_id: int, kind: PageKind, plan: Plan) -> None:
        self.monitor.page(
            article_id,
            kind,
            asked_again=article_id in plan.rechecked,
            reprobe=article_id in plan.reprobe,
            retried=article_id in self._retry_set,
        )
        health = self.stats.health
        if health.dropped or health.surged:
            self.store.owe_asks()  # said now, kept now: a kill -9 must not lose the asks

    def _met_article(self, article_id: int) -> None:
        """An article in the walk: the misses before it are inside the archive."""
        self._note_newest(article_id)
        self.monitor.known_article(article_id)

    def _note_newest(self, article_id: int) -> None:
        if self._newest_seen is None or article_id > self._newest_seen:
            self._newest_seen = article_id

    def _in_range(self, article_id: int, plan: Plan) -> bool:
        if article_id in self._retry_set:
            return True
        return article_id >= plan.first and (plan.last is None or article_id <= plan.last)

    def _failed(
        self, article_id: int, cause: Cause | None, reason: str | None, fetched_at: str
    ) -> None:
        log.debug("id %d failed: %s", article_id, reason)
        self.stats.failed += 1
        if len(self.stats.failures) < SHOWN_FAILURES:
            self.stats.failures.append((article_id, cause, reason or "unknown error"))
        self.store.add_failed(article_id, reason, fetched_at, cause)

    def _handle(self, fetched: _Fetched, plan: Plan) -> bool:
        """Record what one fetched page holds; True if it held the id it was fetched as."""
        article_id, page, fetched_at = fetched.article_id, fetched.page, fetched.fetched_at
        if page.outcome is Outcome.FAILED:
            self._failed(article_id, page.cause, page.reason, fetched_at)
            return False
        if page.outcome is Outcome.MISSING:
            log.debug("id %d missing: %s", article_id, page.reason)
            if page.cause is Cause.NOT_IN_SOURCE:
                self.stats.not_in_source += 1
            else:
                self.stats.missing += 1
            kind = _MISS_KINDS.get(page.cause) if page.cause is not None else None
            if kind is not None:
                self._health_page(article_id, kind, plan)
            self.store.add_missing(article_id, page.reason, fetched_at, page.cause)
            return False
        parsed = self._extracted(fetched)
        if parsed is None:
            self._failed(article_id, Cause.WORKER_DIED, "its page worker died on it", fetched_at)
            return False
        kind = PageKind.OTHER_IDS if parsed.articles else PageKind.NO_ARTICLE
        if parsed.articles and all(article.id > article_id for article in parsed.articles):
            kind = PageKind.LISTING  # the site may show a gap as the posts after it
        for article in parsed.articles:
            if article.id == article_id:
                kind = PageKind.EMPTY if article.poor else PageKind.ARTICLE
            elif not self._in_range(article.id, plan):
                continue
            if article.id in self._written_this_run:
                continue
            if not plan.refetch and self.store.status_of(article.id) is Outcome.ARTICLE:
                continue
            self._written_this_run.add(article.id)
            self.store.add_article(article)
            self.monitor.article(article)
            self._note_newest(article.id)
            self.stats.records += 1
        shown = article_id + 1 in self._written_this_run
        self._next_shown += (shown - self._next_shown) / 16
        if kind is PageKind.NO_ARTICLE and parsed.notice is not None:
            kind = PageKind.NOTICE
        self._health_page(article_id, kind, plan)
        found_here = kind in (PageKind.ARTICLE, PageKind.EMPTY)
        if found_here:
            log.debug("id %d: article", article_id)
            self.stats.articles += 1
        else:
            cause, reason = Cause.NO_ARTICLE, "page holds other ids only"
            if kind is PageKind.NOTICE:
                cause, reason = Cause.NOTICE, f"notice: {parsed.notice[:200]}"
            elif kind is PageKind.NO_ARTICLE:
                reason = "no article on page"
            log.debug("id %d missing: %s", article_id, reason)
            self.stats.missing += 1
            self.store.add_missing(article_id, reason, fetched_at, cause)
        return found_here
