"""The corpus record: one JSON object per article, its encoding and its schema."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from zkiz_corpus import canonical_url
from zkiz_corpus.converting import make_converter, normalise_config
from zkiz_corpus.health import is_poor_title

if TYPE_CHECKING:
    from zkiz_corpus.parsing import Article

FIELDS = (
    "id",
    "url",
    "title",
    "text",
    "source_url",
    "title_original",
    "text_original",
    "convert",
    "fetched_at",
    "sha256",
)

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://articles.zkiz.com/zkiz-corpus/record.schema.json",
    "title": "zkiz-corpus record",
    "description": "One article of the ZKIZ Archives, as one line of JSON Lines.",
    "type": "object",
    "required": list(FIELDS),
    "properties": {
        "id": {"type": "integer", "minimum": 1, "description": "permalink id"},
        "url": {
            "type": "string",
            "pattern": r"^https://articles\.zkiz\.com/\?id=[1-9][0-9]*$",
            "description": "canonical permalink https://articles.zkiz.com/?id=N",
        },
        "title": {"type": "string", "description": "title after conversion"},
        "text": {
            "type": "string",
            "description": "body after conversion; paragraphs joined by \\n, no blank lines",
        },
        "source_url": {
            "type": ["string", "null"],
            "description": "where the repost came from, when the body opens with a bare URL",
        },
        "title_original": {"type": "string", "description": "title as published"},
        "text_original": {"type": "string", "description": "body as published"},
        "convert": {"type": "string", "description": "OpenCC configuration used, or none"},
        "fetched_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC time of the fetch",
        },
        "sha256": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "hex SHA-256 of text_original (UTF-8)",
        },
        "duplicate_of": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "only from export --dedup --mark-duplicates: the id its cluster "
            "of reposts keeps, or null for that one and records in no cluster",
        },
    },
    "additionalProperties": True,
}


def utc_now() -> str:
    """RFC 3339 UTC timestamp, second precision: ``2026-11-26T17:00:00Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_record(
    article: Article,
    convert: str,
    fetched_at: str,
    *,
    converter: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The record for ``article``, converted with OpenCC configuration ``convert``
    (``converter``: that configuration's converter, if the caller holds one)."""
    converter = converter or make_converter(convert)
    return {
        "id": article.id,
        "url": canonical_url(article.id),
        "title": converter(article.title),
        "text": converter(article.text),
        "source_url": article.source_url,
        "title_original": article.title,
        "text_original": article.text,
        "convert": normalise_config(convert),
        "fetched_at": fetched_at,
        "sha256": hashlib.sha256(article.text.encode("utf-8")).hexdigest(),
    }


def reconvert(record: dict[str, Any], convert: str) -> dict[str, Any]:
    """The same record with ``title``/``text`` converted afresh from the originals (a
    line written by hand may lack one, or hold another type: that field is left as is)."""
    converter = make_converter(convert)
    converted = {**record, "convert": normalise_config(convert)}
    for field, original in (("title", "title_original"), ("text", "text_original")):
        value = record.get(original)
        if isinstance(value, str):
            converted[field] = convert_text(converter, value)
    return converted


_SURROGATES = re.compile("[\ud800-\udfff]")


def convert_text(converter: Callable[[str], str], text: str) -> str:
    """``converter(text)``; a lone surrogate (JSON allows one, OpenCC does not) is
    converted as U+FFFD."""
    try:
        return converter(text)
    except UnicodeEncodeError:
        return converter(_SURROGATES.sub("\ufffd", text))


def encoded(record: dict[str, Any]) -> bytes:
    """``dumps(record)`` as UTF-8; a record holding a lone surrogate (UTF-8 has none) as
    ASCII JSON, which keeps it escaped as it was read."""
    try:
        return dumps(record).encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, separators=(",", ":"))
        return (line + "\n").encode("ascii")


# Characters that str.splitlines() and some JSONL readers take for line ends.
_LINE_BREAKERS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps(record: dict[str, Any]) -> str:
    """One JSONL line (with newline): UTF-8 text, not ASCII-escaped."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    # Rare: skip the full-string translate when absent. Three ``in`` tests (a fast
    # one-character search each) cost a fifth of one regex character-class search.
    if "\u2028" in line or "\u2029" in line or "\x85" in line:
        line = line.translate(_LINE_BREAKERS)
    return line + "\n"


@dataclass(slots=True)
class Extracted:
    """One article of a page, done: its record as a JSON line, and the little the walk
    and the health count need to know of it (small to send between processes)."""

    id: int
    title: str  # as published
    text_chars: int
    source_url: str | None
    poor: bool  # no reader would want it (``health.is_poor``)
    line: bytes  # the record, one JSON line with its newline, UTF-8
    fetched_at: str
    sha256: str
    convert: str

    def record(self) -> dict[str, Any]:
        return json.loads(self.line)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Extracted:
        """The record ``make_record`` made, encoded, and what is known of its article."""
        text = record["text_original"]
        return cls(
            record["id"],
            record["title_original"],
            len(text),
            record["source_url"],
            not text or is_poor_title(record["title_original"]),
            dumps(record).encode("utf-8"),
            record["fetched_at"],
            record["sha256"],
            record["convert"],
        )


@dataclass(slots=True)
class PageYield:
    """A page's articles done, or the notice it gives instead."""

    articles: list[Extracted]
    notice: str | None = None
    warc: bytes = b""  # the page's exchanges as WARC records, when it brought them
