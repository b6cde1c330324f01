"""WARC files, both ways: pages read back from one (``--source``), and every HTTP
exchange of a crawl kept in one (``--warc``)."""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import logging
import re
import threading
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zkiz_corpus import __version__
from zkiz_corpus.outcomes import Cause
from zkiz_corpus.sources.base import (
    Exchange,
    Page,
    SourceError,
    escaped,
    held_id,
    page_url,
    read_page,
)

log = logging.getLogger("zkiz")


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


# Compressed bytes warcio inflates at once, whole: 16 KiB (its default) of a gzip bomb
# inflates to 16 MB. At 4 KiB a record of any size is read in at most 4 MB at a time.
WARC_READ_BLOCK = 4096


class WarcSource:
    """Pages from a WARC file: the responses for ``?id=N`` URLs, any host.

    A file that breaks off (a crawl killed while writing it) gives what it holds up to
    the break; ``damage`` then says where it broke.
    """

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        self.path = path
        self.damage: str | None = None
        self._offsets: dict[int, int] = {}
        self._fast = False  # read with FastWARC: indexed with it, found whole
        if _is_gzip(path):
            fast = _fast_index(path)
            if fast is not None:
                self._offsets, self._fast = fast, True
                return
        try:
            # warcio prints its doubts about a file on stderr: the one line said here is enough.
            with path.open("rb") as stream, contextlib.redirect_stderr(io.StringIO()):
                # Only the WARC headers are needed to index: skip parsing HTTP headers.
                records = _bounded(
                    ArchiveIterator(stream, no_record_parse=True, block_size=WARC_READ_BLOCK)
                )
                last, whole = 0, True
                for record in records:
                    # Read the content first: asking for the offset skips it unread.
                    whole = _read_to_end(record)
                    if whole and record.rec_type == "response":
                        target = record.rec_headers.get_header("WARC-Target-URI") or ""
                        article_id = held_id(urlsplit(target).query)
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
            page = self._read_fast(url, offset) if self._fast else None
            return page if page is not None else self._read(url, offset)
        except Exception as exc:  # a damaged record fails its id, never the run
            reason = f"damaged WARC record: {escaped(str(exc), 120)}"
            return Page.failed(url, Cause.DAMAGED_SOURCE, reason)

    def _read_fast(self, url: str, offset: int) -> Page | None:
        """The page as ``_read`` gives it, read with FastWARC; None where that is not
        sure to be the same (an encoded body, a status or header it would not take)."""
        try:
            from fastwarc.warc import ArchiveIterator

            with self.path.open("rb") as stream:
                stream.seek(offset)
                records = ArchiveIterator(stream, parse_http=True, max_header_len=MAX_HEADER_LINE)
                record = next(iter(records), None)
                headers = record.http_headers if record is not None else None
                if headers is None or not 100 <= headers.status_code <= 599:
                    return None
                if headers.get("Content-Encoding") or headers.get("Transfer-Encoding"):
                    return None
                status = headers.status_code
                if status != 200:
                    return None  # misses are few: warcio reads them, reason and all
                page = read_page(
                    url,
                    record.reader,
                    content_type=headers.get("Content-Type"),
                    fetched_at=_capture_time(record.headers.get("WARC-Date")),
                )
                # No body: FastWARC may have missed where a head of bare LFs ends.
                return page if page.body or page.outcome is not None else None
        except Exception:
            return None

    def _read(self, url: str, offset: int) -> Page:
        from warcio.archiveiterator import ArchiveIterator

        with self.path.open("rb") as stream:
            stream.seek(offset)
            record = next(iter(_bounded(ArchiveIterator(stream, block_size=WARC_READ_BLOCK))))
            fetched_at = _capture_time(record.rec_headers.get_header("WARC-Date"))
            headers = record.http_headers
            status_line = (headers.get_statuscode() if headers else None) or "200"
            if not re.fullmatch(r"[0-9]{3}", status_line):
                reason = f"invalid HTTP status {escaped(status_line)!r}"
                return Page.failed(url, Cause.DAMAGED_SOURCE, reason)
            status = int(status_line)
            content_type = headers.get_header("Content-Type") if headers else None
            location = headers.get_header("Location") if headers else None
            page = read_page(
                url, record.content_stream(), content_type=content_type, fetched_at=fetched_at
            )
        if status == 200 or page.outcome is not None:  # a body over the cap fails first
            return page
        if status in (301, 302, 303, 307, 308):
            return Page.missing(url, Cause.REDIRECT, f"redirect to {escaped(location or '?', 200)}")
        if status in (404, 410):
            return Page.missing(url, Cause.HTTP_STATUS, f"HTTP {status}", http_status=status)
        reason = f"HTTP {status} (recorded)"
        return Page.failed(url, Cause.HTTP_STATUS, reason, http_status=status)


MAX_HEADER_LINE = 64 * 1024


def _fast_index(path: Path) -> dict[int, int] | None:
    """Offsets of the page responses of a gzipped WARC, read with FastWARC (several
    times faster than warcio); None if it is not installed, or the file is anything
    but whole and plain: warcio then reads it, and says what is wrong."""
    try:
        from fastwarc.warc import ArchiveIterator, WarcRecordType
    except ImportError:
        return None
    offsets: dict[int, int] = {}
    last = 0
    try:
        with path.open("rb") as stream:
            records = ArchiveIterator(stream, parse_http=False, max_header_len=MAX_HEADER_LINE)
            for record in records:
                last = record.stream_pos
                if record.record_type != WarcRecordType.response:
                    continue
                target = record.headers.get("WARC-Target-URI") or ""
                article_id = held_id(urlsplit(target).query)
                if article_id is not None:
                    offsets[article_id] = record.stream_pos
    except Exception:
        return None
    if not offsets or not _gzip_tail_complete(path, last):
        return None
    return offsets


def _bounded(records: Any) -> Any:
    """``records`` (an ``ArchiveIterator``) reading header lines of at most 64 KiB.

    warcio reads a WARC or HTTP header line whole, however long, and in quadratic time:
    a file of ``WARC/1.0`` and then zeros would be read into memory for minutes.
    """
    reader = records.reader
    readline = reader.readline
    unended = 0  # bytes read since the last line break

    def bounded_readline(length: int | None = None) -> bytes:
        nonlocal unended
        line = readline(MAX_HEADER_LINE if length is None else min(length, MAX_HEADER_LINE))
        unended = 0 if not line or line.endswith(b"\n") else unended + len(line)
        if unended > MAX_HEADER_LINE:
            raise ValueError(f"a header line over {MAX_HEADER_LINE} bytes")
        return line

    reader.readline = bounded_readline
    return records


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


# warcio compresses at level 9, which costs more CPU than parsing the page; level 6
# (zlib's default) is a few percent larger and several times faster.
COMPRESS_LEVEL = 6


class WarcRecorder:
    """Appends a request and a response record per exchange to one WARC file.

    Records are built and compressed (each its own gzip member, as WARC tools expect)
    outside the lock: by the fetching threads, in parallel (zlib releases the GIL), or
    by page workers with the page (``encode_exchange``, then ``append``).
    """

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        self._lock = threading.Lock()
        self._stream = path.open("ab")
        if self._stream.tell() == 0:
            info = _builder().create_warcinfo_record(
                path.name, {"software": f"zkiz-corpus/{__version__}", "format": "WARC/1.1"}
            )
            self._stream.write(_compressed(info))
            self._stream.flush()

    def write_exchange(self, exchange: Exchange) -> None:
        self.append(encode_exchange(exchange))

    def append(self, data: bytes) -> None:
        """Exchanges already encoded; each lands whole, whatever thread writes."""
        with self._lock:
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()


@functools.cache
def _builder() -> Any:
    from warcio.warcwriter import WARCWriter  # here: warcio takes 0.1 s to import

    return WARCWriter(None, gzip=False, warc_version="WARC/1.1")


def _compressed(record: Any) -> bytes:
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    WARCWriter(buffer, gzip=False, warc_version="WARC/1.1").write_record(record)
    return gzip.compress(buffer.getvalue(), compresslevel=COMPRESS_LEVEL, mtime=0)


def encode_exchange(exchange: Exchange) -> bytes:
    """One exchange as a request and a response record, each a gzip member."""
    from warcio.statusandheaders import StatusAndHeaders

    builder = _builder()
    split = exchange.url.split("/", 3)
    target = "/" + (split[3] if len(split) > 3 else "")
    request_headers = StatusAndHeaders(
        f"GET {target} {exchange.http_version}",
        list(exchange.request_headers.items()),
        is_http_request=True,
        protocol=exchange.http_version,
    )
    request = builder.create_warc_record(exchange.url, "request", http_headers=request_headers)
    response_headers = StatusAndHeaders(
        f"{exchange.status} {exchange.reason}".strip(),
        # The body is stored decoded (requests undoes gzip); say so, or replay breaks.
        [
            (k, v)
            for k, v in exchange.response_headers
            if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
        ]
        + [("Content-Length", str(len(exchange.body)))],
        protocol=exchange.http_version,
    )
    response = builder.create_warc_record(
        exchange.url,
        "response",
        payload=io.BytesIO(exchange.body),
        length=len(exchange.body),
        http_headers=response_headers,
    )
    response.rec_headers.add_header(
        "WARC-Concurrent-To", request.rec_headers.get_header("WARC-Record-ID")
    )
    return _compressed(request) + _compressed(response)
