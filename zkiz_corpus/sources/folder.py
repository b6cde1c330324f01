"""A folder of saved pages named by id: ``262804.html`` (or ``.htm``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from zkiz_corpus.outcomes import Cause
from zkiz_corpus.sources.base import Page, SourceError, held_id, page_url, read_page

log = logging.getLogger("zkiz")


class DirectorySource:
    """Pages saved as files named by id: ``262804.html`` (or ``.htm``) in one folder."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        self.path = path
        self._files: dict[int, Path] = {}
        try:
            for entry in path.iterdir():
                stem, _, suffix = entry.name.partition(".")
                if stem.isdigit() and suffix.lower() in ("html", "htm") and entry.is_file():
                    article_id = held_id(f"id={stem}")
                    if article_id is not None:
                        self._files[article_id] = entry
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from None
        if not self._files:
            raise SourceError(f"{path} holds no saved pages named like 262804.html")

    def ids(self) -> Iterator[int]:
        return iter(sorted(self._files))

    def get(self, article_id: int) -> Page:
        url = page_url("https://articles.zkiz.com/", article_id)
        found = self._files.get(article_id)
        if found is None:
            return Page.missing(url, Cause.NOT_IN_SOURCE, "not in source")
        try:
            with found.open("rb") as stream:
                return read_page(url, stream)
        except OSError as exc:
            return Page.failed(url, Cause.DAMAGED_SOURCE, f"cannot read {found}: {exc.strerror}")
