"""Turn the ZKIZ Archives into a clean Chinese JSON Lines corpus.

The library is the product; the ``zkiz`` command is a thin layer over it::

    from zkiz_corpus import FetchOptions, fetch
    result = fetch(FetchOptions(source="data/sample.warc.gz", corpus="my-corpus"))

Names are loaded when first used, so ``import zkiz_corpus`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/zkiz-corpus/zkiz-corpus"
CANONICAL_BASE = "https://articles.zkiz.com/"


def canonical_url(article_id: int) -> str:
    """The permalink every record carries, whatever host it was fetched from."""
    return f"{CANONICAL_BASE}?id={article_id}"


_HOMES = {
    # a run
    "fetch": "running",
    "FetchOptions": "running",
    "FetchResult": "running",
    "Progress": "running",
    "RunOutcome": "running",
    "OptionsError": "running",
    "HostUnreachable": "crawling",
    "Outcome": "outcomes",
    "Cause": "outcomes",
    "Health": "health",
    # a corpus
    "Corpus": "storing",
    "CorpusReader": "reading",
    "CorpusError": "storing",
    "CorpusLocked": "storing",
    "CorpusDamaged": "storing",
    "WriteError": "storing",
    "export": "exporting",
    "verify": "checking",
    "repair": "checking",
    # duplicate reposts
    "find_duplicates": "duplicates",
    "DedupResult": "duplicates",
    "DedupIndex": "duplicates",
    "Mode": "duplicates",
    "normal_form": "duplicates",
    "fingerprint": "duplicates",
    # sources
    "open_source": "sources",
    "HttpSource": "sources",
    "WarcSource": "sources",
    "DirectorySource": "sources",
    "SourceError": "sources",
    "Page": "sources",
    # pages to records, pure
    "decode_page": "decoding",
    "parse_articles": "parsing",
    "read_articles": "parsing",
    "ParsedPage": "parsing",
    "Article": "parsing",
    "inspect_page": "inspecting",
    "Inspection": "inspecting",
    "make_record": "records",
    "SCHEMA": "records",
}

__all__ = ["CANONICAL_BASE", "__version__", "canonical_url", *_HOMES]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'zkiz_corpus' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"zkiz_corpus.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
