"""The corpus directory: records, crawl state and the lock that keeps runs apart.

Layout of ``DIR``:

- ``records.jsonl``: one record per line, appended, never rewritten in place.
- ``state.sqlite3``: per id its status (article, missing, failed), attempts, last error,
  fetch time, content hash and the byte span of its record line; the committed size of
  ``records.jsonl``; one row per run.
- ``.lock``: held (``flock``) by the run writing the corpus; the kernel frees it if the
  run dies, so a killed run never blocks the next one.

Durability order, per batch: append the lines, flush and fsync ``records.jsonl``, then
commit the state that points at them in one SQLite transaction. Bytes past the committed
size are the remains of a killed run and are cut off when the corpus is next opened, so
no torn line, duplicate or half-written record survives.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from zkiz_corpus.records import dumps

RECORDS_FILE = "records.jsonl"
STATE_FILE = "state.sqlite3"
LOCK_FILE = ".lock"
COMPACT_FILE = "records.jsonl.compact"

ARTICLE, MISSING, FAILED = "article", "missing", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ids (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    fetched_at TEXT,
    sha256 TEXT,
    offset INTEGER,
    length INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    articles INTEGER NOT NULL DEFAULT 0,
    missing INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER
);
"""


class CorpusError(Exception):
    """The corpus path cannot be used (a file, unwritable, corrupt state)."""


class CorpusLocked(CorpusError):
    """Another run holds the corpus."""


@dataclass
class _Pending:
    article_id: int
    status: str
    error: str | None
    fetched_at: str | None
    record: dict[str, Any] | None


class Corpus:
    """A corpus directory opened for writing by one run at a time."""

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 200,
        batch_seconds: float = 0.5,
        on_commit: Callable[[list[dict[str, Any]]], None] | None = None,
        guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self.path = path
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.on_commit = on_commit
        self._guard = guard
        self._pending: list[_Pending] = []
        self._last_commit = time.monotonic()
        _prepare_directory(path)
        self._lock = FileLock(str(path / LOCK_FILE), timeout=0)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise CorpusLocked(f"corpus {path} is locked by another zkiz run") from exc
        try:
            self.db = _connect(path / STATE_FILE)
            self._records = open(path / RECORDS_FILE, "ab")  # noqa: SIM115 - lives with self
            self._repair()
        except BaseException:
            self._lock.release()
            raise
        self.run_id: int | None = None

    # -- opening -------------------------------------------------------------------

    def _finish_compaction(self) -> None:
        """Complete (or discard) a compaction that was interrupted half way."""
        compacted = self.path / COMPACT_FILE
        if self._meta("compacting"):
            # The state already points into the compacted file: put it in place.
            if compacted.exists():
                os.replace(compacted, self.path / RECORDS_FILE)
                _fsync_directory(self.path)
                self._records.close()
                self._records = open(self.path / RECORDS_FILE, "ab")  # noqa: SIM115
            with self.db:
                self.db.execute("DELETE FROM meta WHERE key = 'compacting'")
        elif compacted.exists():
            compacted.unlink()

    def _repair(self) -> None:
        """Undo what a killed run left: a half-done compaction, an uncommitted tail."""
        self._finish_compaction()
        committed = self._meta("committed_size", 0)
        size = os.fstat(self._records.fileno()).st_size
        if size > committed:
            os.truncate(self.path / RECORDS_FILE, committed)
        elif size < committed:
            raise CorpusError(
                f"{self.path / RECORDS_FILE} is shorter than its state says "
                f"({size} < {committed} bytes): it was edited or truncated by hand"
            )
        self._size = committed

    def _set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    # -- reading state -------------------------------------------------------------

    def status_of(self, article_id: int) -> str | None:
        row = self.db.execute("SELECT status FROM ids WHERE id = ?", (article_id,)).fetchone()
        return None if row is None else row[0]

    def highest_article_id(self) -> int | None:
        return self.db.execute("SELECT max(id) FROM ids WHERE status = ?", (ARTICLE,)).fetchone()[0]

    def next_id(self) -> int | None:
        """Where a walk without ``--from-id`` starts: after the newest article held."""
        return _next_id(self.db)

    def failed_ids(self) -> list[int]:
        return [
            row[0]
            for row in self.db.execute("SELECT id FROM ids WHERE status = ? ORDER BY id", (FAILED,))
        ]

    # -- writing -------------------------------------------------------------------

    def start_run(self, started_at: str) -> None:
        with self.db:
            cursor = self.db.execute("INSERT INTO runs (started_at) VALUES (?)", (started_at,))
        self.run_id = cursor.lastrowid

    def end_run(self, ended_at: str, articles: int, missing: int, failed: int, code: int) -> None:
        self.commit()
        if self.run_id is None:
            return
        with self.db:
            self.db.execute(
                "UPDATE runs SET ended_at = ?, articles = ?, missing = ?, failed = ?, "
                "exit_code = ? WHERE id = ?",
                (ended_at, articles, missing, failed, code, self.run_id),
            )

    def add_article(self, record: dict[str, Any]) -> None:
        self._add(_Pending(record["id"], ARTICLE, None, record["fetched_at"], record))

    def add_missing(self, article_id: int, reason: str | None, fetched_at: str) -> None:
        self._add(_Pending(article_id, MISSING, reason, fetched_at, None))

    def add_failed(self, article_id: int, reason: str | None, fetched_at: str) -> None:
        self._add(_Pending(article_id, FAILED, reason, fetched_at, None))

    def _add(self, pending: _Pending) -> None:
        self._pending.append(pending)
        if (
            len(self._pending) >= self.batch_size
            or time.monotonic() - self._last_commit >= self.batch_seconds
        ):
            self.commit()

    def commit(self) -> None:
        """Make every pending record durable, then the state that points at it."""
        self._last_commit = time.monotonic()
        if not self._pending:
            return
        with self._guard():
            self._commit()

    def _commit(self) -> None:
        pending, self._pending = self._pending, []
        rows = []
        offset = self._size
        lines = []
        for item in pending:
            span: tuple[int | None, int | None] = (None, None)
            sha = None
            if item.record is not None:
                line = dumps(item.record).encode("utf-8")
                lines.append(line)
                span = (offset, len(line))
                offset += len(line)
                sha = item.record["sha256"]
            rows.append((item.article_id, item.status, item.error, item.fetched_at, sha, *span))
        if lines:
            # An interrupted earlier commit may have left bytes past the committed size.
            if os.fstat(self._records.fileno()).st_size != self._size:
                os.ftruncate(self._records.fileno(), self._size)
            self._records.write(b"".join(lines))
            self._records.flush()
            os.fsync(self._records.fileno())
        dead = 0
        with self.db:
            for article_id, status, error, fetched_at, sha, start, length in rows:
                if status == ARTICLE:
                    dead += self.db.execute(
                        "SELECT count(*) FROM ids WHERE id = ? AND offset IS NOT NULL",
                        (article_id,),
                    ).fetchone()[0]
                    self.db.execute(
                        "INSERT INTO ids (id, status, attempts, error, fetched_at, sha256, "
                        "offset, length) VALUES (?, ?, 1, NULL, ?, ?, ?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                        "attempts = attempts + 1, error = NULL, fetched_at = excluded.fetched_at,"
                        " sha256 = excluded.sha256, offset = excluded.offset, "
                        "length = excluded.length",
                        (article_id, status, fetched_at, sha, start, length),
                    )
                else:
                    # A miss or failure never replaces an article already held.
                    self.db.execute(
                        "INSERT INTO ids (id, status, attempts, error, fetched_at) "
                        "VALUES (?, ?, 1, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                        "attempts = attempts + 1, error = excluded.error, "
                        "fetched_at = excluded.fetched_at, status = CASE WHEN status = 'article'"
                        " THEN status ELSE excluded.status END",
                        (article_id, status, error, fetched_at),
                    )
            self._set_meta("committed_size", offset)
            if dead:
                self._set_meta("dead_lines", self._meta("dead_lines", 0) + dead)
        self._size = offset
        if self.on_commit is not None:
            committed = [item.record for item in pending if item.record is not None]
            if committed:
                self.on_commit(committed)

    def compact(self) -> None:
        """Rewrite ``records.jsonl`` with one line per id, in id order, crash-safely.

        Only needed after ``--refetch`` replaced records: the new file is written and
        synced beside the old one, the state switched to it in one transaction, then the
        file renamed into place; a kill at any point is finished or undone on next open.
        """
        self.commit()
        compacted = self.path / COMPACT_FILE
        new_offsets = []
        position = 0
        with open(self.path / RECORDS_FILE, "rb") as old, open(compacted, "wb") as new:
            rows = self.db.execute(
                "SELECT id, offset, length FROM ids WHERE status = ? ORDER BY id", (ARTICLE,)
            )
            for article_id, offset, length in rows:
                old.seek(offset)
                new.write(old.read(length))
                new_offsets.append((position, article_id))
                position += length
            new.flush()
            os.fsync(new.fileno())
        with self.db:
            self.db.executemany("UPDATE ids SET offset = ? WHERE id = ?", new_offsets)
            self._set_meta("committed_size", position)
            self._set_meta("dead_lines", 0)
            self._set_meta("compacting", 1)
        os.replace(compacted, self.path / RECORDS_FILE)
        _fsync_directory(self.path)
        with self.db:
            self.db.execute("DELETE FROM meta WHERE key = 'compacting'")
        self._records.close()
        self._records = open(self.path / RECORDS_FILE, "ab")  # noqa: SIM115
        self._size = position

    def close(self) -> None:
        try:
            self.commit()
            self._finish_compaction()
            if self._meta("dead_lines", 0):
                self.compact()
        finally:
            self._records.close()
            self.db.close()
            self._lock.release()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fsync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _prepare_directory(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise CorpusError(f"corpus path {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(f"cannot create corpus directory {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise CorpusError(f"corpus directory {path} is not writable")


def _connect(state_path: Path, readonly: bool = False) -> sqlite3.Connection:
    try:
        if readonly:
            db = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True, isolation_level=None)
        else:
            db = sqlite3.connect(state_path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        db.isolation_level = "DEFERRED"
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.DatabaseError as exc:
        raise CorpusError(f"corpus state {state_path} is unreadable: {exc}") from exc


def _next_id(db: sqlite3.Connection) -> int | None:
    newest = db.execute("SELECT max(id) FROM ids WHERE status = ?", (ARTICLE,)).fetchone()[0]
    if newest is not None:
        return newest + 1
    return db.execute("SELECT min(id) FROM ids").fetchone()[0]


# -- read-only access (status, export): never takes the lock, sees committed data only --


class CorpusReader:
    """Committed records and state of a corpus, read while a crawl may be running."""

    def __init__(self, path: Path) -> None:
        if not (path / STATE_FILE).is_file():
            raise CorpusError(f"{path} is not a zkiz corpus (no {STATE_FILE})")
        self.path = path
        self.db = _connect(path / STATE_FILE, readonly=True)

    def close(self) -> None:
        self.db.close()

    def records(self, low: int | None = None, high: int | None = None) -> Iterator[dict[str, Any]]:
        """Records in id order, each id once, optionally within ``[low, high]``."""
        query = (
            "SELECT id, offset, length FROM ids WHERE status = ? AND id BETWEEN ? AND ? ORDER BY id"
        )
        rows = self.db.execute(query, (ARTICLE, low or 0, high or 2**62))
        with open(self.path / RECORDS_FILE, "rb") as stream:
            for article_id, offset, length in rows:
                stream.seek(offset)
                record = json.loads(stream.read(length))
                if record.get("id") != article_id:
                    raise CorpusError("the corpus was compacted while being read: run again")
                yield record

    def summary(self) -> dict[str, Any]:
        counts = dict(self.db.execute("SELECT status, count(*) FROM ids GROUP BY status"))
        highest = self.db.execute("SELECT max(id) FROM ids").fetchone()[0]
        last = self.db.execute(
            "SELECT started_at, ended_at, articles, missing, failed, exit_code "
            "FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        size = sum(entry.stat().st_size for entry in self.path.iterdir() if entry.is_file())
        return {
            "corpus": str(self.path),
            "articles": counts.get(ARTICLE, 0),
            "missing": counts.get(MISSING, 0),
            "failed": counts.get(FAILED, 0),
            "highest_id": highest,
            "next_id": _next_id(self.db),
            "last_run": None
            if last is None
            else dict(
                zip(("started_at", "ended_at", "articles", "missing", "failed", "exit_code"), last)
            ),
            "size_bytes": size,
        }
