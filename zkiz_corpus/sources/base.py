"""What every source gives: a ``Page`` per id (bytes to read, or a miss or failure
with its cause), and the budget of page bytes held at once."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from zkiz_corpus.outcomes import Cause, Outcome

log = logging.getLogger("zkiz")

MAX_ID = 2**63 - 1  # ids are SQLite integers
MAX_BODY_BYTES = 8 * 1024 * 1024
_ID_QUERY = re.compile(r"(?:^|[?&;])id=(\d+)")


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
    # The exchanges that gave it, when the source holds them back for the caller to
    # keep (``HttpSource.hold_exchanges``); else they are kept as they happen.
    exchanges: list[Exchange] | None = None

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
    """A ``--source`` that cannot be read (a usage error: ``option`` is ``--source``)."""

    option = "--source"


def page_url(base_url: str, article_id: int) -> str:
    return urljoin(base_url, f"?id={article_id}")


def escaped(data: bytes | str, limit: int = 60) -> str:
    """Bytes or text from a file, printable on one line: control bytes escaped."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "backslashreplace")
    text = data.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def read_page(url: str, stream: Any, **more: Any) -> Page:
    """The page ``stream`` holds, read no further than ``MAX_BODY_BYTES``: a bigger one
    fails its id unread past the cap (a file or WARC record of any size)."""
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return Page.failed(url, Cause.BODY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
    return Page(url, body, **more)


def held_id(query: str) -> int | None:
    match = _ID_QUERY.search(query)
    if match is None:
        return None
    article_id = int(match.group(1)[:20])
    return article_id if 0 < article_id <= MAX_ID else None
