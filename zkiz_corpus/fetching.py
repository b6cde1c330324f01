"""Where pages come from: the live site (or a mirror), a WARC file, a folder of pages.

Every source answers ``get(article_id)`` with a ``Page``: the bytes of an archive page,
or a confirmed miss, or a failure with its reason. The crawler never sees HTTP.
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import http.client
import http.cookiejar
import io
import logging
import os
import random
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from protego import Protego
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from zkiz_corpus import PROJECT_URL, __version__
from zkiz_corpus.outcomes import Cause, Outcome

log = logging.getLogger("zkiz")

DEFAULT_USER_AGENT = f"zkiz-corpus/{__version__} (+{PROJECT_URL})"
MAX_ID = 2**63 - 1  # ids are SQLite integers
MAX_BODY_BYTES = 8 * 1024 * 1024
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least the first 500 KiB
MAX_REDIRECTS = 5
RETRY_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_FACTOR, BACKOFF_MAX, BACKOFF_JITTER = 0.5, 60.0, 0.5
MAX_RETRY_AFTER = 600.0  # a longer Retry-After is waited this long, then retried
MAX_CRAWL_DELAY = 60.0  # a longer robots.txt Crawl-delay is cut to this, with a warning
_ID_QUERY = re.compile(r"(?:^|[?&;])id=(\d+)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class Page:
    """What one id's URL gave: a page to read (``outcome`` None, with its body), or a
    miss or a failure the source knows of already, with its cause."""

    url: str
    body: bytes = b""
    content_type: str | None = None
    fetched_at: str | None = None  # when the capture was made, if not now (a WARC's date)
    outcome: Outcome | None = None
    cause: Cause | None = None
    reason: str | None = None  # for people
    http_status: int | None = None

    @classmethod
    def missing(cls, url: str, cause: Cause, reason: str, **more: Any) -> Page:
        return cls(url, outcome=Outcome.MISSING, cause=cause, reason=reason, **more)

    @classmethod
    def failed(cls, url: str, cause: Cause, reason: str, **more: Any) -> Page:
        return cls(url, outcome=Outcome.FAILED, cause=cause, reason=reason, **more)


@dataclass
class Exchange:
    """One HTTP request and its response, as a WARC writer needs them."""

    url: str
    request_headers: dict[str, str]
    status: int
    reason: str
    http_version: str
    response_headers: list[tuple[str, str]]
    body: bytes


class SourceError(Exception):
    """A ``--source`` that cannot be read."""


def _as_sent(url: str) -> str:
    """``url`` as the HTTP client will put it on the wire: dot segments removed and the
    path requoted, until it no longer changes (``%2e%2e`` becomes ``..``, then goes)."""
    for _ in range(3):
        prepared = requests.models.PreparedRequest()
        try:
            prepared.prepare_url(url, None)
        except requests.RequestException:
            return url
        if prepared.url == url:
            break
        url = prepared.url
    return url


def page_url(base_url: str, article_id: int) -> str:
    return urljoin(base_url, f"?id={article_id}")


def _is_home(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not _ID_QUERY.search(parts.query)


def escaped(data: bytes | str, limit: int = 60) -> str:
    """Bytes or text from a file, printable on one line: control bytes escaped."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "backslashreplace")
    text = data.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of ``url`` as urllib3, which connects, reads it; or None."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return None
    scheme = (parts.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS or not parts.host:
        return None
    return scheme, parts.host.lower(), parts.port or _DEFAULT_PORTS[scheme]


_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)", re.IGNORECASE)


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a base URL, or None: what the HTTP client would choke on."""
    try:
        parts = parse_url(url)
    except LocationParseError as exc:
        return str(exc).removeprefix("Failed to parse: ")
    if (parts.scheme or "").lower() not in _DEFAULT_PORTS or not parts.host:
        return "not an http(s) URL"
    if parts.auth is not None:
        return "user names and passwords are not supported"
    host = parts.host
    if host.startswith("["):
        return None  # an IPv6 literal: parse_url has checked it
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return f"host {host!r} is not a valid host name"
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"host {escaped(host)!r} is not a valid host name"
    return None


class Gate:
    """When the next request may start: ``delay`` apart, and not during a ``Retry-After``.

    Shared by every worker thread, so politeness holds whatever the concurrency.
    """

    def __init__(self, delay: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay = max(0.0, delay)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = float("-inf")
        self._paused_until = float("-inf")

    def wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start, self._paused_until)
            jitter = random.uniform(0, self.delay * 0.1) if self.delay else 0.0
            self._next_start = start + self.delay + jitter
        if start > now:
            self._sleep(start - now)

    def pause(self, seconds: float) -> None:
        """The server asked for quiet (``Retry-After``): no worker starts before it ends."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


# ---- the response deadline ---------------------------------------------------------


class _Watch:
    """One thread's connection, as the watchdog sees it: its socket and its deadline."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.expired = False
        self.deadline: float | None = None

    def attach(self, sock: socket.socket | None) -> None:
        self.sock = sock
        if self.expired:
            self.cut()

    def cut(self) -> None:
        """End the exchange now: a blocked read returns at once (EOF)."""
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain-socket method, so a TLS socket's state is left to its thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current = threading.local()  # the _Watch of the request this thread is making


class _Watchdog:
    """Cuts connections whose response is not complete by its deadline.

    A socket timeout bounds each read only: a server sending a byte a second, or an
    endless chunked body, holds a plain client for ever. One thread serves every worker.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._thread: threading.Thread | None = None

    def arm(self, watch: _Watch, seconds: float) -> None:
        with self._cond:
            watch.expired = False
            watch.deadline = time.monotonic() + seconds
            heapq.heappush(self._heap, (watch.deadline, id(watch), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zkiz-deadline", daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, watch: _Watch) -> bool:
        """Stop watching; True if the deadline passed (the response is not to be trusted)."""
        with self._cond:
            watch.deadline = None
            return watch.expired

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    when, _, watch = heapq.heappop(self._heap)
                    if watch.deadline == when:  # still armed for this very deadline
                        watch.expired = True
                        watch.cut()
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


class _WatchedConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self.sock)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self.sock)


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """An archive crawl needs no cookies: a server setting many would be sent them back
    on every request, growing memory and request headers without end."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


# ---- memory ------------------------------------------------------------------------


class ByteBudget:
    """How many bytes of page bodies may be held at once, whatever the concurrency.

    Each fetch holds a ticket (given in the order pages are consumed); the bytes it reads
    count against the budget until the consumer releases its ticket. A fetch that would
    go over waits, except the oldest ticket's, which the consumer waits for: it always
    proceeds, so the walk never deadlocks and memory stays within budget plus one page.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._used = 0
        self._held: dict[int, int] = {}
        self._head = 0  # the oldest ticket not released
        self._local = threading.local()

    @contextlib.contextmanager
    def ticket(self, number: int) -> Iterator[None]:
        self._local.ticket = number
        try:
            yield
        finally:
            self._local.ticket = None

    def take(self, size: int, on_wait: Callable[[bool], None] | None = None) -> None:
        ticket = getattr(self._local, "ticket", None)
        if ticket is None:
            return
        with self._cond:
            waited = False
            while ticket != self._head and self._used + size > self.limit:
                if not waited and on_wait is not None:
                    on_wait(True)
                waited = True
                self._cond.wait()
            self._used += size
            self._held[ticket] = self._held.get(ticket, 0) + size
        if waited and on_wait is not None:
            on_wait(False)

    def release(self, ticket: int) -> None:
        with self._cond:
            self._used -= self._held.pop(ticket, 0)
            self._head = max(self._head, ticket + 1)
            self._cond.notify_all()


# ---- HTTP --------------------------------------------------------------------------


@dataclass
class _Retry:
    """An attempt that may be tried again: why it failed, how long to wait before."""

    reason: str
    cause: Cause = Cause.CONNECTION
    wait: float | None = None  # None: the exponential backoff
    http_status: int | None = None


class HttpSource:
    """Fetches ``BASE/?id=N`` politely: a delay between requests, retries with backoff.

    Thread-safe: each worker thread gets its own ``requests.Session`` (pooled, kept
    alive), and all share one ``Gate`` and one reading of ``robots.txt``. Nothing is
    fetched off the base URL's origin; every response is over within ``timeout``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        delay: float = 1.0,
        retries: int = 3,
        timeout: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        max_body_bytes: int = MAX_BODY_BYTES,
        obey_robots: bool = True,
        on_exchange: Callable[[Exchange], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.user_agent = user_agent
        self.obey_robots = obey_robots
        self._robots: Protego | None = None
        self._robots_lock = threading.Lock()
        self.origin = origin(self.base_url)
        self.gate = Gate(delay, sleep)
        self.retries = max(0, retries)
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.on_exchange = on_exchange
        self.budget: ByteBudget | None = None
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._watchdog = _Watchdog()
        # requests re-reads proxy and CA settings from the environment on every request,
        # a third of a miss's CPU time; read them once for the whole run instead.
        self._proxies = requests.utils.get_environ_proxies(self.base_url)
        self._verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    @property
    def _watch(self) -> _Watch:
        watch = getattr(self._local, "watch", None)
        if watch is None:
            watch = self._local.watch = _Watch()
        return watch

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # Retries are made here, not by urllib3: each response goes to the WARC, each
        # wait can be cut short, and a Retry-After that is not valid is only ignored.
        adapter = _Adapter(max_retries=0, pool_connections=1, pool_maxsize=1)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.cookies.set_policy(_NoCookies())
        session.proxies = dict(self._proxies)
        session.verify = self._verify
        session.trust_env = False
        session.headers.update(
            {
                "User-Agent": self.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                "Accept-Language": "zh-HK,zh-TW;q=0.9,zh;q=0.8,en;q=0.5",
            }
        )
        return session

    def _drop_session(self) -> None:
        """After a cut connection: start the next request on a fresh one."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                with contextlib.suppress(Exception):
                    session.close()
            self._sessions.clear()

    def get(self, article_id: int) -> Page:
        url = page_url(self.base_url, article_id)
        if self.obey_robots:
            refusal = self._robots_refusal(url)
            if refusal is not None:
                return refusal
        return self._fetch(url)

    def _fetch(self, url: str, *, robots: bool = False) -> Page:
        """GET ``url``, following redirects on the base URL's origin only, each hop
        allowed by robots.txt (``robots``: this is robots.txt itself)."""
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            outcome = self._get_once(target, robots=robots)
            if isinstance(outcome, Page):
                outcome.url = url
                return outcome
            refusal = self._redirect_refusal(target, outcome)
            if refusal is not None:
                return Page.missing(url, Cause.REDIRECT, refusal)
            location = _as_sent(urljoin(target, outcome))
            if _is_home(location):
                return Page.missing(url, Cause.REDIRECT, "redirect to /")
            if self.obey_robots and not robots:
                refusal_page = self._robots_refusal(location)
                if refusal_page is not None:
                    refusal_page.url = url
                    return refusal_page
            target = location
        return Page.failed(url, Cause.TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS} redirects")

    def _redirect_refusal(self, current: str, location: str) -> str | None:
        """Why a redirect to ``location`` is not followed, or None.

        Decided on urllib3's reading of the URL, the one the connection is made from: a
        URL that another parser reads differently (a backslash, user info) is refused.
        """
        shown = escaped(location, 200)
        if "\\" in location or any(ord(c) < 0x21 or c == "\x7f" for c in location):
            return f"redirect to a malformed URL {shown}"
        absolute = urljoin(current, location)
        try:
            parts = parse_url(absolute)
        except LocationParseError:
            return f"redirect to a malformed URL {shown}"
        if parts.auth is not None:
            return f"redirect to a URL with user info {shown}"
        where = origin(absolute)
        if where is None or self.origin is None or where[1] != self.origin[1]:
            return f"redirect off host to {shown}"
        if where != self.origin:
            return f"redirect off origin to {shown}"
        return None

    def _robots_refusal(self, url: str) -> Page | None:
        """None if robots.txt lets us fetch ``url``; else the Page to record instead."""
        with self._robots_lock:
            if self._robots is None:
                answer = self._fetch(urljoin(self.base_url, "/robots.txt"), robots=True)
                if answer.outcome is None:
                    rules = Protego.parse(answer.body.decode("utf-8", errors="replace"))
                elif answer.outcome is Outcome.FAILED and answer.cause is not Cause.HTTP_STATUS:
                    # No whole answer (no connection, a timeout, a broken body): RFC 9309's
                    # "unreachable", so nothing is allowed. This id fails (the host-down
                    # check sees it) and robots.txt is asked for again with the next one.
                    assert answer.cause is not None
                    return Page.failed(url, answer.cause, f"robots.txt: {answer.reason}")
                else:
                    # 4xx: RFC 9309 "unavailable", everything allowed. 5xx after retries
                    # (RFC 9309 would disallow): many small servers answer 500 for any file
                    # they lack, so, as Scrapy does, go on, at the --delay pace, and say so.
                    if (
                        answer.outcome is Outcome.FAILED
                        and not 400 <= (answer.http_status or 0) < 500
                    ):
                        log.warning(
                            "robots.txt unreadable (%s): crawling without it", answer.reason
                        )
                    rules = Protego.parse("")
                self._robots = rules
                crawl_delay = rules.crawl_delay(self.user_agent)
                if crawl_delay is not None and crawl_delay > MAX_CRAWL_DELAY:
                    log.warning(
                        "robots.txt asks for a Crawl-delay of %g s: waiting %g s, the maximum",
                        crawl_delay,
                        MAX_CRAWL_DELAY,
                    )
                    crawl_delay = MAX_CRAWL_DELAY
                if crawl_delay is not None and crawl_delay > self.gate.delay:
                    self.gate.delay = float(crawl_delay)
        if self._robots.can_fetch(url, self.user_agent):
            return None
        return Page.missing(url, Cause.ROBOTS, "disallowed by robots.txt")

    def _get_once(self, url: str, *, robots: bool = False) -> Page | str:
        """A final ``Page``, or the ``Location`` of a redirect to consider.

        Retries timeouts, dropped connections, broken bodies and 429/5xx answers, with
        exponential backoff, or the server's valid ``Retry-After``, imposed on every worker.
        """
        failure = _Retry("no attempt", Cause.CONNECTION)
        wait = 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(wait)
            self.gate.wait_turn()
            outcome = self._attempt(url, robots)
            if not isinstance(outcome, _Retry):
                return outcome
            failure = outcome
            if attempt < self.retries:
                wait = failure.wait if failure.wait is not None else _backoff(attempt + 1)
                log.debug("retrying %s in %.1f s: %s", _what(url), wait, failure.reason)
        return Page.failed(url, failure.cause, failure.reason, http_status=failure.http_status)

    def _attempt(self, url: str, robots: bool) -> Page | str | _Retry:
        """One request, over within ``timeout``, whatever the server does."""
        watch = self._watch
        limit = ROBOTS_MAX_BYTES if robots else self.max_body_bytes
        _current.watch = watch
        self._watchdog.arm(watch, self.timeout)
        body: bytes | None = None
        try:
            response = self.session.get(
                url, timeout=self.timeout, allow_redirects=False, stream=True
            )
            with response:
                body, over = self._read_capped(response, limit, watch)
        except _ERRORS as exc:
            failure = _Retry(_describe(exc), _cause_of(exc))
        else:
            failure = None
        finally:
            _current.watch = None
            expired = self._watchdog.disarm(watch)
        if expired:
            self._drop_session()
            return _Retry(f"no complete response in {self.timeout:g} s", Cause.TIMEOUT)
        if failure is not None:
            return failure
        assert body is not None
        self._record(response, body)
        status = response.status_code
        if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
            return response.headers["Location"]
        if over and robots and status == 200:
            log.warning("robots.txt is over %d bytes: obeying its first part", limit)
            body = body[: body.rfind(b"\n") + 1]
        elif over:
            return Page.failed(url, Cause.BODY_TOO_LARGE, f"body over {limit} bytes")
        if status == 200:
            return Page(url, body, response.headers.get("Content-Type"))
        if status in (404, 410):
            return Page.missing(url, Cause.HTTP_STATUS, f"HTTP {status}", http_status=status)
        reason = f"HTTP {status} {response.reason or ''}".strip()
        if status in RETRY_STATUSES:
            wait = retry_after(response.headers.get("Retry-After"))
            if wait is not None:
                wait = min(wait, MAX_RETRY_AFTER)
                self.gate.pause(wait)
            return _Retry(reason, Cause.HTTP_STATUS, wait, status)
        return Page.failed(url, Cause.HTTP_STATUS, reason, http_status=status)

    def _read_capped(
        self, response: requests.Response, limit: int, watch: _Watch
    ) -> tuple[bytes, bool]:
        """The body, up to ``limit`` bytes, and whether there was more."""
        chunks, size = [], 0

        def waiting(started: bool) -> None:
            # Waiting for memory is not the server's time: the deadline stops meanwhile.
            if started:
                left = (watch.deadline or time.monotonic()) - time.monotonic()
                waiting.left = max(left, 0.0)  # type: ignore[attr-defined]
                self._watchdog.disarm(watch)
            else:
                self._watchdog.arm(watch, waiting.left)  # type: ignore[attr-defined]

        for chunk in response.iter_content(chunk_size=65536):
            if self.budget is not None:
                self.budget.take(len(chunk), waiting)
            size += len(chunk)
            if size > limit:
                chunks.append(chunk[: limit - (size - len(chunk))])
                return b"".join(chunks), True
            chunks.append(chunk)
        return b"".join(chunks), False

    def _record(self, response: requests.Response, body: bytes) -> None:
        if self.on_exchange is None:
            return
        raw = response.raw
        version = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(
            getattr(raw, "version", 11), "HTTP/1.1"
        )
        self.on_exchange(
            Exchange(
                url=response.url,
                request_headers=dict(response.request.headers),
                status=response.status_code,
                reason=response.reason or "",
                http_version=version,
                response_headers=list(raw.headers.items()),
                body=body,
            )
        )


_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    ValueError,  # a URL or header value the client refuses
)


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` asks for; None if absent or not valid (RFC 9110: a
    delay in whole seconds, or an HTTP date; anything else is ignored)."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,12}", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _what(url: str) -> str:
    """``id 262804`` for a page's URL, else the URL (robots.txt): for log lines."""
    article_id = _held_id(urlsplit(url).query)
    return f"id {article_id}" if article_id is not None else url


def _backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): exponential, capped, with jitter."""
    return min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** (attempt - 1)) + random.uniform(0, BACKOFF_JITTER)


def _cause_of(exc: Exception) -> Cause:
    if _is_unreachable(exc):
        return Cause.UNREACHABLE
    if isinstance(exc, requests.Timeout):
        return Cause.TIMEOUT
    return Cause.CONNECTION


def _is_unreachable(exc: Exception) -> bool:
    """The host did not answer at all: no DNS, refused, no route, connect timeout."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ReadTimeout):
        return False
    cause = repr(exc)
    return any(marker in cause for marker in ("NewConnectionError", "NameResolutionError"))


_CAUSES = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "host not found"),
    ("nodename nor servname", "host not found"),
    ("getaddrinfo failed", "host not found"),
    ("Temporary failure in name resolution", "host not found"),
    ("NameResolutionError", "host not found"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
    ("got more than", "too many response headers"),
    ("LineTooLong", "response header line too long"),
    ("HeaderParsingError", "malformed response headers"),
    ("RemoteDisconnected", "connection dropped"),
    ("BadStatusLine", "invalid HTTP status line"),
    ("UnknownProtocol", "invalid HTTP status line"),
    ("IncompleteRead", "truncated body"),
    ("InvalidChunkLength", "malformed chunked body"),
    ("Read timed out", "read timeout"),
    ("Connection reset", "connection reset"),
    ("Connection aborted", "connection dropped"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
)


def _describe(exc: Exception) -> str:
    """A short reason for the log and the state, not urllib3's nested repr."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    text = f"{exc!s} {exc!r}"
    for marker, reason in _CAUSES:
        if marker in text:
            return reason
    if isinstance(exc, requests.Timeout):
        return "read timeout"
    return _shorten(str(exc) or type(exc).__name__)


def _shorten(text: str) -> str:
    text = re.sub(r"<urllib3[^>]*>:?\s*", "", text)
    return escaped(text, 200)


# ---- files -------------------------------------------------------------------------


def _capture_time(value: str | None) -> str | None:
    """A WARC-Date as a record's ``fetched_at`` (RFC 3339 UTC, whole seconds)."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _held_id(query: str) -> int | None:
    match = _ID_QUERY.search(query)
    if match is None:
        return None
    article_id = int(match.group(1)[:20])
    return article_id if 0 < article_id <= MAX_ID else None


# Compressed bytes warcio inflates at once, whole: 16 KiB (its default) of a gzip bomb
# inflates to 16 MB. At 4 KiB a record of any size is read in at most 4 MB at a time.
WARC_READ_BLOCK = 4096


class WarcSource:
    """Pages from a WARC file: the responses for ``?id=N`` URLs, any host.

    A file that breaks off (a crawl killed while writing it) gives what it holds up to
    the break; ``damage`` then says where it broke.
    """

    def __init__(self, path: Path) -> None:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        self.path = path
        self.damage: str | None = None
        self._offsets: dict[int, int] = {}
        try:
            # warcio prints its doubts about a file on stderr: the one line said here is enough.
            with path.open("rb") as stream, contextlib.redirect_stderr(io.StringIO()):
                # Only the WARC headers are needed to index: skip parsing HTTP headers.
                records = ArchiveIterator(stream, no_record_parse=True, block_size=WARC_READ_BLOCK)
                last, whole = 0, True
                for record in records:
                    # Read the content first: asking for the offset skips it unread.
                    whole = _read_to_end(record)
                    if whole and record.rec_type == "response":
                        target = record.rec_headers.get_header("WARC-Target-URI") or ""
                        article_id = _held_id(urlsplit(target).query)
                        if article_id is not None:
                            self._offsets[article_id] = records.get_record_offset()
                    last = records.get_record_offset()
                if not whole or (_is_gzip(path) and not _gzip_tail_complete(path, last)):
                    self.damage = (
                        f"{path} is truncated: read the {len(self._offsets)} pages before the break"
                    )
        except (ArchiveLoadFailed, OSError, ValueError, EOFError) as exc:
            if not self._offsets:
                raise SourceError(f"cannot read WARC {path}: {escaped(str(exc), 120)}") from None
            self.damage = (
                f"{path} is damaged ({escaped(str(exc), 80)}): "
                f"read the {len(self._offsets)} pages before"
            )
        if not self._offsets:
            raise SourceError(f"{path} holds no archive page responses (?id=N)")

    def ids(self) -> Iterator[int]:
        return iter(sorted(self._offsets))

    def get(self, article_id: int) -> Page:
        url = page_url("https://articles.zkiz.com/", article_id)
        offset = self._offsets.get(article_id)
        if offset is None:
            return Page.missing(url, Cause.NOT_IN_SOURCE, "not in source")
        try:
            return self._read(url, offset)
        except Exception as exc:  # a damaged record fails its id, never the run
            reason = f"damaged WARC record: {escaped(str(exc), 120)}"
            return Page.failed(url, Cause.DAMAGED_SOURCE, reason)

    def _read(self, url: str, offset: int) -> Page:
        from warcio.archiveiterator import ArchiveIterator

        with self.path.open("rb") as stream:
            stream.seek(offset)
            record = next(iter(ArchiveIterator(stream, block_size=WARC_READ_BLOCK)))
            fetched_at = _capture_time(record.rec_headers.get_header("WARC-Date"))
            headers = record.http_headers
            status_line = (headers.get_statuscode() if headers else None) or "200"
            if not re.fullmatch(r"[0-9]{3}", status_line):
                reason = f"invalid HTTP status {escaped(status_line)!r}"
                return Page.failed(url, Cause.DAMAGED_SOURCE, reason)
            status = int(status_line)
            body = record.content_stream().read(MAX_BODY_BYTES + 1)
            if len(body) > MAX_BODY_BYTES:
                return Page.failed(url, Cause.BODY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
            content_type = headers.get_header("Content-Type") if headers else None
            location = headers.get_header("Location") if headers else None
        if status == 200:
            return Page(url, body, content_type, fetched_at=fetched_at)
        if status in (301, 302, 303, 307, 308):
            return Page.missing(url, Cause.REDIRECT, f"redirect to {escaped(location or '?', 200)}")
        if status in (404, 410):
            return Page.missing(url, Cause.HTTP_STATUS, f"HTTP {status}", http_status=status)
        reason = f"HTTP {status} (recorded)"
        return Page.failed(url, Cause.HTTP_STATUS, reason, http_status=status)


def _read_to_end(record: Any) -> bool:
    """Skip a record's content (as the iterator would); False if it is cut short."""
    declared = record.rec_headers.get_header("Content-Length") or ""
    size = 0
    while chunk := record.raw_stream.read(1 << 16):
        size += len(chunk)
    return not declared.isdigit() or size >= int(declared)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(2) == b"\x1f\x8b"


def _gzip_tail_complete(path: Path, offset: int) -> bool:
    """Whether the gzip members from ``offset`` (the last record's) to the end are whole:
    a file cut short loses its last trailer, which warcio passes over without a word."""
    decompressor = zlib.decompressobj(31)
    with path.open("rb") as stream:
        stream.seek(offset)
        while chunk := stream.read(1 << 20):
            while chunk:
                if decompressor.eof:
                    decompressor = zlib.decompressobj(31)
                try:
                    decompressor.decompress(chunk, 1 << 20)
                except zlib.error:
                    return False
                chunk = decompressor.unconsumed_tail or decompressor.unused_data
    return decompressor.eof


class DirectorySource:
    """Pages saved as files named by id: ``262804.html`` (or ``.htm``) in one folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files: dict[int, Path] = {}
        try:
            for entry in path.iterdir():
                stem, _, suffix = entry.name.partition(".")
                if stem.isdigit() and suffix.lower() in ("html", "htm") and entry.is_file():
                    article_id = _held_id(f"id={stem}")
                    if article_id is not None:
                        self._files[article_id] = entry
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from None
        if not self._files:
            raise SourceError(f"{path} holds no saved pages named like 262804.html")

    def ids(self) -> Iterator[int]:
        return iter(sorted(self._files))

    def get(self, article_id: int) -> Page:
        url = page_url("https://articles.zkiz.com/", article_id)
        found = self._files.get(article_id)
        if found is None:
            return Page.missing(url, Cause.NOT_IN_SOURCE, "not in source")
        try:
            with found.open("rb") as stream:
                body = stream.read(MAX_BODY_BYTES + 1)
        except OSError as exc:
            return Page.failed(url, Cause.DAMAGED_SOURCE, f"cannot read {found}: {exc.strerror}")
        if len(body) > MAX_BODY_BYTES:
            return Page.failed(url, Cause.BODY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
        return Page(url, body)


def open_source(path: Path) -> WarcSource | DirectorySource:
    """A ``--source``: a WARC file (plain or gzipped) or a folder of saved pages,
    recognised from its first bytes, so that ``/dev/zero`` is refused at once."""
    if path.is_dir():
        return DirectorySource(path)
    if not path.exists():
        raise SourceError(f"source {path} does not exist")
    if not path.is_file() and not path.is_char_device():
        # A FIFO or socket would block the opening until someone writes to it.
        raise SourceError(f"{path} is not a WARC file or a folder of pages")
    try:
        with path.open("rb") as stream:
            head = stream.read(16)
            if head.startswith(b"\x1f\x8b"):
                # What the gzip holds, not that it is gzip: a gzip of zeros is no WARC.
                stream.seek(0)
                with gzip.GzipFile(fileobj=stream) as unpacked:
                    head = unpacked.read(16)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None
    # The first line of a WARC is its version, whole: a file of "WARC/" and then zeros
    # (one endless line for the WARC reader) is refused here.
    if not _WARC_VERSION_LINE.match(head):
        what = f"it begins {escaped(head)!r}" if head else "it is empty"
        raise SourceError(f"{path} is not a WARC file or a folder of pages ({what})")
    return WarcSource(path)


_WARC_VERSION_LINE = re.compile(rb"WARC/\d\.\d{1,2}\r?\n")
