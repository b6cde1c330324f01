"""Where pages come from: the live site (or a mirror), a WARC file, a folder of pages.

Every source answers ``get(article_id)`` with a ``Page``: the bytes of an archive page,
or a confirmed miss, or a failure with its cause. The walk never sees HTTP.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

from zkiz_corpus.sources.base import (
    MAX_BODY_BYTES,
    MAX_ID,
    ByteBudget,
    Exchange,
    Page,
    SourceError,
    escaped,
)
from zkiz_corpus.sources.folder import DirectorySource
from zkiz_corpus.sources.http import DEFAULT_USER_AGENT, HttpSource, base_url_problem
from zkiz_corpus.sources.warc import WarcRecorder, WarcSource

__all__ = [
    "DEFAULT_USER_AGENT",
    "MAX_BODY_BYTES",
    "MAX_ID",
    "ByteBudget",
    "DirectorySource",
    "Exchange",
    "HttpSource",
    "Page",
    "SourceError",
    "WarcRecorder",
    "WarcSource",
    "base_url_problem",
    "open_source",
]


def open_source(path: Path | str) -> WarcSource | DirectorySource:
    """A ``--source``: a WARC file (plain or gzipped) or a folder of saved pages,
    recognised from its first bytes, so that ``/dev/zero`` is refused at once."""
    path = Path(path)
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
        what = f"it begins '{escaped(head)}'" if head else "it is empty"
        raise SourceError(f"{path} is not a WARC file or a folder of pages ({what})")
    return WarcSource(path)


_WARC_VERSION_LINE = re.compile(rb"WARC/\d\.\d{1,2}\r?\n")
