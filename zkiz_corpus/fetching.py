"""Where pages come from: the live site (or a mirror), a WARC file, a folder of pages.

Every source answers ``get(article_id)`` with a ``Page``: the bytes of an archive page,
or a confirmed miss, or a failure with its reason. The crawler never sees HTTP.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from protego import Protego
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from zkiz_corpus import PROJECT_URL, __version__

log = logging.getLogger("zkiz")

DEFAULT_USER_AGENT = f"zkiz-corpus/{__version__} (+{PROJECT_URL})"
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_REDIRECTS = 5
RETRY_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_FACTOR, BACKOFF_MAX, BACKOFF_JITTER = 0.5, 60.0, 0.5
MAX_RETRY_AFTER = 600.0  # a longer Retry-After is waited this long, then retried
_ID_QUERY = re.compile(r"(?:^|[?&;])id=(\d+)")

PAGE, MISSING, FAILED = "page", "missing", "failed"


@dataclass
class Page:
    """What one id's URL gave: ``page`` (with body), ``missing`` or ``failed``."""

    kind: str
    url: str
    body: bytes = b""
    content_type: str | None = None
    reason: str | None = None
    unreachable: bool = False  # the host did not answer at all (refused, no route, no DNS)


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


def page_url(base_url: str, article_id: int) -> str:
    return urljoin(base_url, f"?id={article_id}")


def _is_home(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not _ID_QUERY.search(parts.query)


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


class HttpSource:
    """Fetches ``BASE/?id=N`` politely: a delay between requests, retries with backoff.

    Thread-safe: each worker thread gets its own ``requests.Session`` (pooled, kept
    alive), and all share one ``Gate`` and one reading of ``robots.txt``.
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
        self.host = urlsplit(self.base_url).hostname
        self.gate = Gate(delay, sleep)
        self.retries = max(0, retries)
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.on_exchange = on_exchange
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
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

    def _new_session(self) -> requests.Session:
        retry = _PoliteRetry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=self.retries,
            redirect=False,
            backoff_factor=BACKOFF_FACTOR,
            backoff_max=BACKOFF_MAX,
            backoff_jitter=BACKOFF_JITTER,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.gate = self.gate
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=1)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
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

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def get(self, article_id: int) -> Page:
        url = page_url(self.base_url, article_id)
        if self.obey_robots:
            refusal = self._robots_refusal(url)
            if refusal is not None:
                return refusal
        return self._fetch(url)

    def _fetch(self, url: str) -> Page:
        """GET ``url``, following redirects on the base URL's host only."""
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            outcome = self._get_once(target)
            if isinstance(outcome, Page):
                outcome.url = url
                return outcome
            location = urljoin(target, outcome)
            if urlsplit(location).hostname != self.host:
                return Page(MISSING, url, reason=f"redirect off host to {location}")
            if _is_home(location):
                return Page(MISSING, url, reason="redirect to /")
            target = location
        return Page(FAILED, url, reason=f"more than {MAX_REDIRECTS} redirects")

    def _robots_refusal(self, url: str) -> Page | None:
        """None if robots.txt lets us fetch ``url``; else the Page to record instead."""
        with self._robots_lock:
            if self._robots is None:
                answer = self._fetch(urljoin(self.base_url, "/robots.txt"))
                if answer.kind == PAGE:
                    rules = Protego.parse(answer.body.decode("utf-8", errors="replace"))
                elif answer.kind == FAILED and answer.unreachable:
                    # No answer at all: fail this id (and let the host-down check see it);
                    # robots.txt is asked for again with the next id.
                    return Page(
                        FAILED, url, reason=f"robots.txt: {answer.reason}", unreachable=True
                    )
                else:
                    # 4xx: RFC 9309 "unavailable", everything allowed. 5xx after retries
                    # (RFC 9309 would disallow): many small servers answer 500 for any file
                    # they lack, so, as Scrapy does, go on, at the --delay pace, and say so.
                    if answer.kind == FAILED and not (answer.reason or "").startswith("HTTP 4"):
                        log.warning(
                            "robots.txt unreadable (%s): crawling without it", answer.reason
                        )
                    rules = Protego.parse("")
                self._robots = rules
                crawl_delay = rules.crawl_delay(self.user_agent)
                if crawl_delay is not None and crawl_delay > self.gate.delay:
                    self.gate.delay = float(crawl_delay)
        if self._robots.can_fetch(url, self.user_agent):
            return None
        return Page(MISSING, url, reason="disallowed by robots.txt")

    def _get_once(self, url: str) -> Page | str:
        """A final ``Page``, or the ``Location`` of a redirect to consider.

        urllib3's ``Retry`` covers connecting, waiting for the headers and retryable
        statuses (with ``Retry-After``); a body that breaks off or stalls once the headers
        are in is outside its reach, so that part is retried here, with the same backoff.
        """
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(_backoff(attempt))
            self.gate.wait_turn()
            try:
                response = self.session.get(
                    url, timeout=self.timeout, allow_redirects=False, stream=True
                )
            except requests.RequestException as exc:
                return Page(FAILED, url, reason=_describe(exc), unreachable=_is_unreachable(exc))
            with response:
                try:
                    body = _read_capped(response, self.max_body_bytes)
                except (requests.RequestException, OSError) as exc:
                    failure = Page(FAILED, url, reason=_describe(exc))
                    continue
            if body is None:
                return Page(FAILED, url, reason=f"body over {self.max_body_bytes} bytes")
            self._record(response, body)
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                return response.headers["Location"]
            if status == 200:
                return Page(PAGE, url, body, response.headers.get("Content-Type"))
            if status in (404, 410):
                return Page(MISSING, url, reason=f"HTTP {status}")
            return Page(FAILED, url, reason=f"HTTP {status} {response.reason or ''}".strip())
        return failure

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


def _read_capped(response: requests.Response, limit: int) -> bytes | None:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _PoliteRetry(Retry):
    """urllib3's ``Retry``, with a ceiling on how long one ``Retry-After`` holds a run,
    and the wait it asks for imposed on every worker (through the shared ``Gate``)."""

    gate: Gate | None = None

    def new(self, **kw: Any) -> _PoliteRetry:
        retry = super().new(**kw)
        retry.gate = self.gate
        return retry

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is None:
            return None
        seconds = min(seconds, MAX_RETRY_AFTER)
        if self.gate is not None:
            self.gate.pause(seconds)
        return seconds


def _backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): exponential, capped, with jitter."""
    return min(BACKOFF_MAX, BACKOFF_FACTOR * 2 ** (attempt - 1)) + random.uniform(0, BACKOFF_JITTER)


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
    ("IncompleteRead", "truncated body"),
    ("Read timed out", "read timeout"),
    ("Connection reset", "connection reset"),
    ("RemoteDisconnected", "connection dropped"),
    ("Connection aborted", "connection dropped"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
)


def _describe(exc: Exception) -> str:
    """A short reason for the log and the state, not urllib3's nested repr."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connection failed: connect timeout"
    text = f"{exc!s} {exc!r}"
    for marker, reason in _CAUSES:
        if marker in text:
            return f"connection failed: {reason}" if _is_unreachable(exc) else reason
    if isinstance(exc, requests.Timeout):
        return "read timeout"
    return _shorten(str(exc) or type(exc).__name__)


def _shorten(text: str) -> str:
    text = re.sub(r"<urllib3[^>]*>:?\s*", "", text)
    return text if len(text) <= 200 else text[:197] + "..."


class WarcSource:
    """Pages from a WARC file: the responses for ``?id=N`` URLs, any host."""

    def __init__(self, path: Path) -> None:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        self.path = path
        self._offsets: dict[int, int] = {}
        try:
            with path.open("rb") as stream:
                # Only the WARC headers are needed to index: skip parsing HTTP headers.
                records = ArchiveIterator(stream, no_record_parse=True)
                for record in records:
                    if record.rec_type != "response":
                        continue
                    target = record.rec_headers.get_header("WARC-Target-URI") or ""
                    match = _ID_QUERY.search(urlsplit(target).query)
                    if match:
                        self._offsets[int(match.group(1))] = records.get_record_offset()
        except (ArchiveLoadFailed, OSError, ValueError, EOFError) as exc:
            raise SourceError(f"cannot read WARC {path}: {exc}") from exc
        if not self._offsets:
            raise SourceError(f"{path} holds no archive page responses (?id=N)")

    def ids(self) -> Iterator[int]:
        return iter(sorted(self._offsets))

    def get(self, article_id: int) -> Page:
        from warcio.archiveiterator import ArchiveIterator

        url = page_url("https://articles.zkiz.com/", article_id)
        offset = self._offsets.get(article_id)
        if offset is None:
            return Page(MISSING, url, reason="not in source")
        with self.path.open("rb") as stream:
            stream.seek(offset)
            record = next(iter(ArchiveIterator(stream)))
            status_line = record.http_headers.get_statuscode() if record.http_headers else "200"
            status = int(status_line or 200)
            body = record.content_stream().read()
            headers = record.http_headers
            content_type = headers.get_header("Content-Type") if headers else None
            location = headers.get_header("Location") if headers else None
        if status == 200:
            return Page(PAGE, url, body, content_type)
        if status in (301, 302, 303, 307, 308):
            return Page(MISSING, url, reason=f"redirect to {location or '?'}")
        if status in (404, 410):
            return Page(MISSING, url, reason=f"HTTP {status}")
        return Page(FAILED, url, reason=f"HTTP {status} (recorded)")


class DirectorySource:
    """Pages saved as files named by id: ``262804.html`` (or ``.htm``) in one folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files: dict[int, Path] = {}
        for entry in path.iterdir():
            stem, _, suffix = entry.name.partition(".")
            if stem.isdigit() and suffix.lower() in ("html", "htm") and entry.is_file():
                self._files[int(stem)] = entry
        if not self._files:
            raise SourceError(f"{path} holds no saved pages named like 262804.html")

    def ids(self) -> Iterator[int]:
        return iter(sorted(self._files))

    def get(self, article_id: int) -> Page:
        url = page_url("https://articles.zkiz.com/", article_id)
        found = self._files.get(article_id)
        if found is None:
            return Page(MISSING, url, reason="not in source")
        try:
            return Page(PAGE, url, found.read_bytes())
        except OSError as exc:
            return Page(FAILED, url, reason=f"cannot read {found}: {exc.strerror}")


def open_source(path: Path) -> WarcSource | DirectorySource:
    """A ``--source``: a WARC file or a folder of saved pages."""
    if path.is_dir():
        return DirectorySource(path)
    if not path.exists():
        raise SourceError(f"source {path} does not exist")
    return WarcSource(path)
