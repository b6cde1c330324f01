"""Keeping raw HTTP exchanges as WARC/1.1 (gzip per record), with ``warcio``."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from zkiz_corpus import __version__
from zkiz_corpus.fetching import Exchange


class WarcRecorder:
    """Appends a request and a response record per exchange to one WARC file."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._stream = path.open("ab")
        self._writer = WARCWriter(self._stream, gzip=True, warc_version="WARC/1.1")
        if self._stream.tell() == 0:
            info = self._writer.create_warcinfo_record(
                path.name, {"software": f"zkiz-corpus/{__version__}", "format": "WARC/1.1"}
            )
            self._writer.write_record(info)

    def write_exchange(self, exchange: Exchange) -> None:
        with self._lock:  # worker threads share one file
            self._write_exchange(exchange)

    def _write_exchange(self, exchange: Exchange) -> None:
        split = exchange.url.split("/", 3)
        target = "/" + (split[3] if len(split) > 3 else "")
        request_headers = StatusAndHeaders(
            f"GET {target} {exchange.http_version}",
            list(exchange.request_headers.items()),
            is_http_request=True,
            protocol=exchange.http_version,
        )
        request = self._writer.create_warc_record(
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
        response = self._writer.create_warc_record(
            exchange.url,
            "response",
            payload=io.BytesIO(exchange.body),
            length=len(exchange.body),
            http_headers=response_headers,
        )
        response.rec_headers.add_header(
            "WARC-Concurrent-To", request.rec_headers.get_header("WARC-Record-ID")
        )
        self._writer.write_record(request)
        self._writer.write_record(response)
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()
