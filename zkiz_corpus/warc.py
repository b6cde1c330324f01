"""Keeping raw HTTP exchanges as WARC/1.1 (gzip per record), with ``warcio``."""

from __future__ import annotations

import gzip
import io
import threading
from pathlib import Path

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from zkiz_corpus import __version__
from zkiz_corpus.fetching import Exchange

# warcio compresses at level 9, which costs more CPU than parsing the page; level 6
# (zlib's default) is a few percent larger and several times faster.
COMPRESS_LEVEL = 6


class WarcRecorder:
    """Appends a request and a response record per exchange to one WARC file.

    Records are built and compressed (each its own gzip member, as WARC tools expect)
    outside the lock, so worker threads compress in parallel; zlib releases the GIL.
    """

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._stream = path.open("ab")
        self._builder = WARCWriter(None, gzip=False, warc_version="WARC/1.1")
        if self._stream.tell() == 0:
            info = self._builder.create_warcinfo_record(
                path.name, {"software": f"zkiz-corpus/{__version__}", "format": "WARC/1.1"}
            )
            self._stream.write(self._compressed(info))
            self._stream.flush()

    def _compressed(self, record: ArcWarcRecord) -> bytes:
        buffer = io.BytesIO()
        WARCWriter(buffer, gzip=False, warc_version="WARC/1.1").write_record(record)
        return gzip.compress(buffer.getvalue(), compresslevel=COMPRESS_LEVEL, mtime=0)

    def write_exchange(self, exchange: Exchange) -> None:
        split = exchange.url.split("/", 3)
        target = "/" + (split[3] if len(split) > 3 else "")
        request_headers = StatusAndHeaders(
            f"GET {target} {exchange.http_version}",
            list(exchange.request_headers.items()),
            is_http_request=True,
            protocol=exchange.http_version,
        )
        request = self._builder.create_warc_record(
            exchange.url, "request", http_headers=request_headers
        )
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
        response = self._builder.create_warc_record(
            exchange.url,
            "response",
            payload=io.BytesIO(exchange.body),
            length=len(exchange.body),
            http_headers=response_headers,
        )
        response.rec_headers.add_header(
            "WARC-Concurrent-To", request.rec_headers.get_header("WARC-Record-ID")
        )
        data = self._compressed(request) + self._compressed(response)
        with self._lock:  # worker threads share one file; each exchange lands whole
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()
