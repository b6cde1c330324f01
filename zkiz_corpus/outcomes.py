"""One vocabulary for what became of an id, from the sources through the walk to the
corpus: an ``Outcome``, and for a miss or a failure its ``Cause``. Reasons (strings)
are for people only; nothing decides on them."""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    """What an id is. The values are what the crawl state stores."""

    ARTICLE = "article"  # its article is in the corpus
    MISSING = "missing"  # confirmed: no article under this id (not retried)
    FAILED = "failed"  # not known yet: retried on the next run


class Cause(str, Enum):
    """Why an id is missing or failed."""

    HTTP_STATUS = "http-status"  # 404/410 (missing), or another status after retries
    REDIRECT = "redirect"  # to the home page, or off the base URL's origin
    TOO_MANY_REDIRECTS = "too-many-redirects"
    ROBOTS = "robots"  # disallowed by robots.txt, or robots.txt itself unreachable
    NO_ARTICLE = "no-article"  # a page, but not with this id's article on it
    NOTICE = "notice"  # the site's own page saying the post is gone (or down for now)
    NOT_IN_SOURCE = "not-in-source"  # a WARC or folder that does not hold the id
    UNREACHABLE = "unreachable"  # no connection at all: refused, no route, no DNS
    TIMEOUT = "timeout"  # no complete response within --timeout
    CONNECTION = "connection"  # dropped, reset, a broken body or protocol
    BODY_TOO_LARGE = "body-too-large"
    TOO_COMPLEX = "too-complex"  # a page of more elements than is sane to parse
    DAMAGED_SOURCE = "damaged-source"  # a WARC record or saved file that cannot be read
    WORKER_DIED = "worker-died"  # the process parsing the page died on it, twice

    def __str__(self) -> str:
        return self.value
