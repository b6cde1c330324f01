"""The live site (or a mirror) over HTTP: politely, on the base URL's origin only,
obeying robots.txt on every hop, each response within a deadline."""

from __future__ import annotations

import contextlib
import heapq
import http.client
import http.cookiejar
import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
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
from zkiz_corpus.sources.base import (
    MAX_BODY_BYTES,
    ByteBudget,
    Exchange,
    Page,
    escaped,
    held_id,
    page_url,
)

log = logging.getLogger("zkiz")

DEFAULT_USER_AGENT = f"zkiz-corpus/{__version__} (+{PROJECT_URL})"
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least the first 500 KiB
MAX_REDIRECTS = 5
RETRY_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_FACTOR, BACKOFF_MAX, BACKOFF_JITTER = 0.5, 60.0, 0.5
MAX_RETRY_AFTER = 600.0  # a longer Retry-After is waited this long, then retried
MAX_CRAWL_DELAY = 60.0  # a longer robots.txt Crawl-delay is cut to this, with a warning
_ID_QUERY = re.compile(r"(?:^|[?&;])id=(\d+)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def _is_home(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not _ID_QUERY.search(parts.query)


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
    if parts.port == 0:
        return "port 0 is no port to connect to"
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
        # A turn is taken when it is taken, not when it was booked: a thread that wakes
        # late pushes the next start back, so no two requests ever start closer than delay.
        while True:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start, self._paused_until)
                if start <= now:
                    jitter = random.uniform(0, self.delay * 0.1) if self.delay else 0.0
                    self._next_start = now + self.delay + jitter
                    return
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


_STALE_DEADLINES = 1024


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
            # The thread already wakes at the earliest deadline; only an earlier one needs
            # it woken (a wake-up per request cost a tenth of the crawl's main process).
            sooner = not self._heap or watch.deadline < self._heap[0][0]
            heapq.heappush(self._heap, (watch.deadline, id(watch), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zkiz-deadline", daemon=True)
                self._thread.start()
            if sooner:
                self._cond.notify()

    def disarm(self, watch: _Watch) -> bool:
        """Stop watching; True if the deadline passed (the response is not to be trusted)."""
        with self._cond:
            watch.deadline = None
            if len(self._heap) > _STALE_DEADLINES:
                # Disarmed deadlines stay in the heap until they pass: with a long
                # --timeout that is an entry per request for an hour. Keep the live ones.
                self._heap = [entry for entry in self._heap if entry[2].deadline == entry[0]]
                heapq.heapify(self._heap)
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
        # Each page's exchanges go with the page (``Page.exchanges``) instead of to
        # ``on_exchange``: page workers then encode them with the page.
        self.hold_exchanges = False
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
        held: list[Exchange] | None = [] if self.hold_exchanges else None
        self._local.held = held
        try:
            page = self._get_page(article_id)
        finally:
            self._local.held = None
        page.exchanges = held
        return page

    def _get_page(self, article_id: int) -> Page:
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
            response = self._get(url)
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
            body = _whole_lines(body)
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

    def _get(self, url: str) -> requests.Response:
        """``session.get(url)``, less what ``Session.request`` redoes for every request
        though the run has it settled (merging settings, cookies and auth it never uses):
        nearly half the CPU time of a request here."""
        session = self.session
        request = requests.PreparedRequest()
        request.prepare(method="GET", url=url, headers=session.headers, hooks=session.hooks)
        return session.send(
            request,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
            proxies=session.proxies,
            verify=session.verify,
            cert=session.cert,
        )

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
        exchange = Exchange(
            url=response.url,
            request_headers=dict(response.request.headers),
            status=response.status_code,
            reason=response.reason or "",
            http_version=version,
            response_headers=list(raw.headers.items()),
            body=body,
        )
        held = getattr(self._local, "held", None)
        if held is not None:
            held.append(exchange)
        else:
            self.on_exchange(exchange)


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
    article_id = held_id(urlsplit(url).query)
    return f"id {article_id}" if article_id is not None else url


def _backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): exponential, capped, with jitter."""
    exponent = min(attempt - 1, 32)  # 2**1024 overflows a float: --retries may be large
    return min(BACKOFF_MAX, BACKOFF_FACTOR * 2**exponent) + random.uniform(0, BACKOFF_JITTER)


def _whole_lines(body: bytes) -> bytes:
    """A robots.txt cut at the size cap, without a rule the cut may have changed.

    Lines end in LF, CR or CRLF. The cut line is kept if its rule is whole (the cut fell
    in a comment) or if it is a Disallow (cut short, it disallows more, never less)."""
    end = max(body.rfind(b"\n"), body.rfind(b"\r"))
    cut_line = body[end + 1 :]
    if b"#" in cut_line or cut_line.lstrip().lower().startswith(b"disallow"):
        return body
    return body[: end + 1]


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
    # requests wraps urllib3's error (MaxRetryError, whose reason is the connect error).
    seen: Any = exc
    for _ in range(5):
        if isinstance(seen, urllib3.exceptions.NewConnectionError):  # NameResolutionError too
            return True
        seen = getattr(seen, "reason", None) or (
            seen.args[0] if getattr(seen, "args", None) else None
        )
        if not isinstance(seen, BaseException):
            return False
    return False


_CAUSES = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "host not found"),
    ("nodename nor servname", "host not found"),
    ("getaddrinfo failed", "host not found"),
    ("Temporary failure in name resolution", "host not found"),
    ("NameResolutionError", "host not found"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
    ("LineTooLong", "response header line too long"),
    ("got more than", "too many response headers"),
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
