"""The corpus directory: records, crawl state and the lock that keeps runs apart.

Layout of ``DIR``:

- ``records.jsonl``: one record per line, appended; rewritten only by compaction.
- ``state.sqlite3``: per id its status (article, missing, failed), attempts, last error,
  fetch time, content hash, the byte span of its record line and the run that wrote it;
  the committed size of ``records.jsonl``; one row per run.
- ``records.salvaged``: bytes taken out of ``records.jsonl`` because they were not a
  valid record (a torn line, a damaged one); kept, never deleted by us.

Durability order, per batch: append the lines, fsync ``records.jsonl``, then commit the
state that points at them in one SQLite transaction. Bytes past the committed size left
by a writer that died are cut off when the corpus is next opened; bytes past it that no
writer of ours left (a state file deleted, a file appended by hand) are adopted, never
cut. The lock is ``flock`` on the corpus directory itself, which no one can swap out
under a running writer; the kernel drops it if the run dies.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from zkiz_corpus.health import SOFT_MISSES
from zkiz_corpus.outcomes import Cause, Outcome

if TYPE_CHECKING:
    from zkiz_corpus.records import Extracted

log = logging.getLogger("zkiz")

RECORDS_FILE = "records.jsonl"
STATE_FILE = "state.sqlite3"
COMPACT_FILE = "records.jsonl.compact"
SALVAGE_FILE = "records.salvaged"


SCHEMA = """
CREATE TABLE IF NOT EXISTS ids (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    fetched_at TEXT,
    sha256 TEXT,
    offset INTEGER,
    length INTEGER,
    run_id INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
-- runs: what each run was (its settings) and how it ended; columns after exit_code
-- are added to corpora from earlier versions (_ADDED_COLUMNS).
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


_RUN_SETTINGS = ("arguments", "base_url", "source", "convert", "opencc", "version")
_ADDED_COLUMNS = (
    ("ids", "run_id", "INTEGER"),
    ("ids", "cause", "TEXT"),
    ("ids", "recheck", "INTEGER"),  # 1: a soft miss of a run whose health dropped
    ("runs", "outcome", "TEXT"),
    ("runs", "walked", "INTEGER"),
    ("runs", "not_in_source", "INTEGER"),
    ("runs", "held", "INTEGER"),
    ("runs", "seconds", "REAL"),
    ("runs", "health", "TEXT"),  # JSON: health.Health's counts
    *(("runs", name, "TEXT") for name in _RUN_SETTINGS),
)


_SOFT_VALUES = tuple(sorted(cause.value for cause in SOFT_MISSES))


def _value(cause: Cause | None) -> str | None:
    return None if cause is None else cause.value


# A miss or failure never replaces an article already held.
# ``recheck`` 1 marks a soft miss of a run whose health dropped; NULL keeps what was.
_RECORD_MISS = (
    "INSERT INTO ids (id, status, attempts, error, cause, fetched_at, run_id, recheck) "
    "VALUES (?, ?, 1, ?, ?, ?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET attempts = attempts + 1, "
    "error = CASE WHEN status = 'article' THEN error ELSE excluded.error END, "
    "cause = CASE WHEN status = 'article' THEN cause ELSE excluded.cause END, "
    "run_id = CASE WHEN status = 'article' THEN run_id ELSE excluded.run_id END, "
    "recheck = CASE WHEN status = 'article' THEN recheck "
    "ELSE coalesce(excluded.recheck, recheck) END, "
    "fetched_at = excluded.fetched_at, "
    "status = CASE WHEN status = 'article' THEN status ELSE excluded.status END"
)


class CorpusError(Exception):
    """The corpus path cannot be used (a file, unwritable, not a corpus)."""


class CorpusLocked(CorpusError):
    """Another run holds the corpus."""


class CorpusDamaged(CorpusError):
    """The corpus is there but damaged: ``zkiz verify --repair`` may mend it."""


class WriteError(Exception):
    """A write failed (a full disk, a file-size limit, an I/O error); ``path`` names the
    file, ``cause`` says why in a few words."""

    def __init__(self, path: Path | str, cause: str) -> None:
        super().__init__(f"cannot write {path}: {cause}")
        self.path = path
        self.cause = cause


def describe_os_error(exc: OSError) -> str:
    """``no space left on device``: the cause of ``exc`` in lower case, for one line."""
    text = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc)) or "I/O error"
    return text[:1].lower() + text[1:]


def _sqlite_cause(exc: sqlite3.Error) -> str:
    text = str(exc)
    return "no space left on device" if "full" in text else text


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an OS or SQLite failure while writing ``path`` into a ``WriteError``."""
    try:
        yield
    except OSError as exc:
        raise WriteError(path, describe_os_error(exc)) from exc
    except sqlite3.Error as exc:
        raise WriteError(path, _sqlite_cause(exc)) from exc


@dataclass
class _Pending:
    article_id: int
    status: str
    error: str | None
    fetched_at: str | None
    line: bytes | None = None  # the record, serialised once, as it will be written
    sha256: str | None = None
    cause: str | None = None  # a miss's or failure's Cause


def check_line(line: bytes) -> tuple[int, str, str | None] | None:
    """``(id, sha256, fetched_at)`` if ``line`` is one whole, intact record, else None.

    Intact means: ends in a newline, is a JSON object with a positive integer ``id`` and a
    string ``text_original`` whose SHA-256 is the record's ``sha256`` (when it has one).
    """
    parsed = _parse_intact(line)
    if parsed is None:
        return None
    record, sha = parsed
    fetched_at = record.get("fetched_at")
    return record["id"], sha, fetched_at if isinstance(fetched_at, str) else None


def intact_record(line: bytes, article_id: int, sha256: str | None) -> dict[str, Any] | None:
    """The record ``line`` holds, if it is the intact record of ``article_id`` the state
    describes (its digest ``sha256``, when the state has one); else None."""
    parsed = _parse_intact(line)
    if parsed is None or parsed[0]["id"] != article_id or sha256 not in (None, parsed[1]):
        return None
    return parsed[0]


def is_record_of(line: bytes, article_id: int, sha256: str | None) -> bool:
    return intact_record(line, article_id, sha256) is not None


def _parse_intact(line: bytes) -> tuple[dict[str, Any], str] | None:
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    article_id, text = record.get("id"), record.get("text_original")
    if type(article_id) is not int or article_id < 1 or not isinstance(text, str):
        return None
    sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    if record.get("sha256", sha) != sha:
        return None
    return record, sha


class Corpus:
    """A corpus directory opened for writing by one run at a time."""

    def __init__(
        self,
        path: Path | str,
        *,
        batch_size: int = 200,
        batch_seconds: float = 0.5,
        batch_bytes: int = 4 * 1024 * 1024,
        on_commit: Callable[[bytes], None] | None = None,
        guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
        record_misses: bool = True,
        repair: bool = False,
    ) -> None:
        self.path = path = Path(path)
        # A --source run has seen only what its file holds: an id it lacks, or a miss it
        # recorded long ago, must not stop a live run from asking the site.
        self._record_misses = record_misses
        self._owing = False  # this run's soft misses are owed another ask
        self._repairing = repair
        self.records_path = path / RECORDS_FILE
        self.state_path = path / STATE_FILE
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        # Memory: a batch of big pages is committed before it holds more than this.
        self.batch_bytes = batch_bytes
        self._pending_bytes = 0
        self.on_commit = on_commit
        self._guard = guard
        self._pending: list[_Pending] = []
        self._last_commit = time.monotonic()
        self.run_id: int | None = None
        self._run_started = time.monotonic()
        self._first_convert: str | None = None
        self.run_counts: Counter[str] = Counter()  # committed by this run, by status
        self.repairs: list[str] = []  # what opening or repairing changed, for people
        _prepare_directory(path)
        # Every file is reached through the locked directory's descriptor, never by path:
        # a directory renamed under a running writer takes the writer's files with it.
        self._dir_fd = _lock_directory(path)
        self._statuses: dict[int, dict[int, Outcome]] = {}  # blocks of ids read ahead
        self._statuses_at = -1  # the connection's total_changes when they were read
        self._fd = -1
        self.db: sqlite3.Connection | None = None
        try:
            self.db = _connect(self.state_path)
            self._fd = self._open_records()
            with _writing(self.state_path):
                self._finish_compaction()
            self._reconcile()
            with _writing(self.state_path), self.db:
                self._set_meta("writer_open", 1)
        except BaseException:
            self._release()
            raise

    # -- opening -------------------------------------------------------------------

    def _open_records(self) -> int:
        try:
            return os.open(
                RECORDS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644, dir_fd=self._dir_fd
            )
        except IsADirectoryError:
            raise CorpusDamaged(
                f"{self.records_path} is a directory, not a file of records: move it away"
            ) from None
        except OSError as exc:
            raise CorpusError(f"cannot open {self.records_path}: {describe_os_error(exc)}") from exc

    def _read(self, name: str = RECORDS_FILE) -> BinaryIO:
        return os.fdopen(os.open(name, os.O_RDONLY, dir_fd=self._dir_fd), "rb")

    def _exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self._dir_fd)
        except FileNotFoundError:
            return False
        return True

    def _replace(self, source: str, target: str) -> None:
        os.replace(source, target, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        with contextlib.suppress(OSError):  # make the rename durable
            os.fsync(self._dir_fd)

    def _finish_compaction(self) -> None:
        """Complete (or discard) a compaction that was interrupted half way."""
        if self._meta("compacting"):
            # The state already points into the compacted file: put it in place.
            if self._exists(COMPACT_FILE):
                self._replace(COMPACT_FILE, RECORDS_FILE)
                os.close(self._fd)
                self._fd = self._open_records()
            with self.db:
                self.db.execute("DELETE FROM meta WHERE key = 'compacting'")
        elif self._exists(COMPACT_FILE):
            os.unlink(COMPACT_FILE, dir_fd=self._dir_fd)

    def _reconcile(self) -> None:
        """Bring the state and ``records.jsonl`` into agreement without losing a record.

        Bytes past the committed size are a dead writer's uncommitted batch, whose span
        the state names before it is written (cut: never reported, fetched again), or
        bytes no writer of ours left, as when the state file was deleted, a file of
        records copied in or appended by hand (taken in).
        """
        committed = self._meta("committed_size")
        batch = _span(self._meta("writing")) if self._meta("writer_open", 0) else None
        size = os.fstat(self._fd).st_size
        if committed is None:
            committed, batch = 0, None
        if size > committed and batch is not None and batch[0] == committed:
            committed = self._settle_uncommitted(committed, batch[1], batch[2], size)
            size = os.fstat(self._fd).st_size
        if size > committed:
            self._adopt(committed, size)
            return
        elif size < committed and self._repairing:
            self._cut_back(size)
            return
        elif size < committed:
            raise CorpusDamaged(
                f"{self.records_path} is shorter than its state says ({size} < {committed} "
                f"bytes): run 'zkiz verify --corpus {self.path} --repair'"
            )
        self._size = committed

    def _take_in_foreign(self) -> None:
        """Records appended to the file by someone else while we ran are taken in."""
        size = os.fstat(self._fd).st_size
        if size > self._size:
            self._adopt(self._size, size)

    def _settle_uncommitted(self, start: int, length: int, digest: str | None, size: int) -> int:
        """A dead writer's batch named at ``[start, start + length)``: cut it if it is
        there, whole and alone at the end; left in place as replaced lines (dropped by
        the next compaction) if someone appended after it; a batch cut short is set
        aside and cut. Returns where the bytes to take in begin."""
        with self._read() as stream:
            stream.seek(start)
            span = stream.read(length)
        ours = len(span) == length and hashlib.sha256(span).hexdigest() == digest
        if ours and size == start + length:
            with _writing(self.records_path):
                os.ftruncate(self._fd, start)
        elif ours:
            with _writing(self.state_path), self.db:
                dead = span.count(b"\n")
                self._set_meta("committed_size", start + length)
                self._set_meta("dead_lines", self._meta("dead_lines", 0) + dead)
            start += length
        elif len(span) < length:  # the write itself was cut short by the crash
            self._salvage(span)
            with _writing(self.records_path):
                os.ftruncate(self._fd, start)
        with _writing(self.state_path), self.db:
            self.db.execute("DELETE FROM meta WHERE key = 'writing'")
        self._size = start
        return start

    def _adopt(self, start: int, size: int) -> None:
        """Take every intact record line from ``start`` on into the state; set aside
        (in ``records.salvaged``) whatever else is there."""
        rows: list[tuple[int, int, int, str, str | None]] = []
        salvage: list[bytes] = []
        end = offset = start
        with self._read() as stream:
            stream.seek(start)
            for line in stream:
                checked = check_line(line)
                if checked is not None:
                    article_id, sha, fetched_at = checked
                    rows.append((article_id, offset, len(line), sha, fetched_at))
                else:
                    salvage.append(_whole_line(line))
                offset += len(line)
                if line.endswith(b"\n"):
                    end = offset
        self._salvage(b"".join(salvage))
        damaged = len(salvage) - (1 if end < size else 0)
        with _writing(self.records_path):
            if end < size:  # a torn last line, now kept in records.salvaged
                os.ftruncate(self._fd, end)
        superseded = 0
        with _writing(self.state_path), self.db:
            for article_id, line_offset, length, sha, fetched_at in rows:
                superseded += self.db.execute(
                    "SELECT count(*) FROM ids WHERE id = ? AND offset IS NOT NULL", (article_id,)
                ).fetchone()[0]
                self.db.execute(
                    "INSERT INTO ids (id, status, attempts, fetched_at, sha256, offset, length) "
                    "VALUES (?, 'article', 1, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                    "status = 'article', error = NULL, fetched_at = excluded.fetched_at, "
                    "sha256 = excluded.sha256, offset = excluded.offset, length = excluded.length",
                    (article_id, fetched_at, sha, line_offset, length),
                )
            self._set_meta("committed_size", end)
            if superseded + damaged:
                self._set_meta("dead_lines", self._meta("dead_lines", 0) + superseded + damaged)
        self._size = end
        message = (
            f"{self.records_path}: took {len(rows)} record(s) the state did not account for "
            "into the state"
        )
        if salvage:
            message += f"; set aside {len(salvage)} damaged line(s) in {self.path / SALVAGE_FILE}"
        self.repairs.append(message)
        log.warning("%s", message)

    def _cut_back(self, size: int) -> None:
        """Repair a ``records.jsonl`` shorter than the state: forget the ids whose
        records are gone (they are fetched again) and set aside a cut-off last line."""
        with _writing(self.state_path), self.db:
            lost = self.db.execute(
                "SELECT min(offset), count(*) FROM ids WHERE offset + length > ?", (size,)
            ).fetchone()
            cut = size if lost[0] is None else min(lost[0], size)
            self.db.execute("DELETE FROM ids WHERE offset + length > ?", (size,))
            self._set_meta("committed_size", cut)
        with self._read() as stream:
            stream.seek(cut)
            self._salvage(stream.read())
        with _writing(self.records_path):
            os.ftruncate(self._fd, cut)
        self._size = cut
        self.repairs.append(
            f"{self.records_path} was short: forgot {lost[1]} id(s) whose records were gone"
        )

    def check_records(self) -> None:
        """Repair: set aside every record line that is not intact and forget its id, so
        the next run fetches it again."""
        self.commit()
        damaged = []
        with self._read() as stream:
            rows = self.db.execute(
                "SELECT id, offset, length, sha256 FROM ids WHERE offset IS NOT NULL "
                "ORDER BY offset"
            ).fetchall()
            for article_id, offset, length, sha in rows:
                stream.seek(offset)
                line = stream.read(length)
                if not is_record_of(line, article_id, sha):
                    damaged.append((article_id, line))
        if not damaged:
            return
        self._salvage(b"".join(_whole_line(line) for _, line in damaged))
        with _writing(self.state_path), self.db:
            self.db.executemany("DELETE FROM ids WHERE id = ?", [(n,) for n, _ in damaged])
            self._set_meta("dead_lines", self._meta("dead_lines", 0) + len(damaged))
        shown = ", ".join(str(n) for n, _ in damaged[:5])
        self.repairs.append(
            f"set aside {len(damaged)} damaged record(s) in {self.path / SALVAGE_FILE} "
            f"(ids {shown}{', ...' if len(damaged) > 5 else ''}: fetched again next run)"
        )

    def _salvage(self, data: bytes) -> None:
        if not data:
            return
        target = self.path / SALVAGE_FILE
        with _writing(target):
            fd = os.open(
                SALVAGE_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644, dir_fd=self._dir_fd
            )
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

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

    def status_of(self, article_id: int) -> Outcome | None:
        """What the corpus holds of ``article_id`` (committed). Read a block of ids at a
        time: a query per id, in the thread that records pages, gives up the GIL to the
        fetching threads once per id and waits to get it back."""
        block = article_id // STATUS_BLOCK
        if self._statuses_at != self.db.total_changes:
            self._statuses.clear()
            self._statuses_at = self.db.total_changes
        held = self._statuses.get(block)
        if held is None:
            if len(self._statuses) >= 4:
                self._statuses.clear()
            first = block * STATUS_BLOCK
            rows = self.db.execute(
                "SELECT id, status FROM ids WHERE id >= ? AND id < ?",
                (first, first + STATUS_BLOCK),
            )
            held = self._statuses[block] = {n: Outcome(status) for n, status in rows}
        return held.get(article_id)

    def highest_article_id(self) -> int | None:
        return self.db.execute(
            "SELECT max(id) FROM ids WHERE status = ?", (Outcome.ARTICLE,)
        ).fetchone()[0]

    def next_id(self) -> int | None:
        """Where a walk without ``--from-id`` starts: after the newest article held."""
        return next_id(self.db)

    def missing_ids(
        self,
        causes: Iterable[Cause] | None,
        low: int | None = None,
        high: int | None = None,
        *,
        unknown: bool = False,
    ) -> list[int]:
        """Ids recorded missing for one of ``causes`` (None: any), within [low, high];
        with ``unknown``, also those recorded before misses had causes."""
        query = "SELECT id FROM ids WHERE status = ? AND id BETWEEN ? AND ?"
        parameters: tuple = (Outcome.MISSING, low or 0, high or 2**63 - 1)
        if causes is not None:
            wanted = [cause.value for cause in causes]
            either = " OR cause IS NULL" if unknown else ""
            query += f" AND (cause IN ({', '.join('?' * len(wanted))}){either})"
            parameters += tuple(wanted)
        return [row[0] for row in self.db.execute(query + " ORDER BY id", parameters)]

    def unsettled_misses(
        self, max_attempts: int, low: int | None = None, high: int | None = None
    ) -> list[int]:
        """Soft misses of runs whose health dropped, not yet settled: to be asked again
        while asked fewer than ``max_attempts`` times (within [low, high])."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM ids WHERE status = ? AND recheck = 1 AND attempts < ? "
                "AND id BETWEEN ? AND ? ORDER BY id",
                (Outcome.MISSING, max_attempts, low or 0, high or 2**63 - 1),
            )
        ]

    def health_history(self) -> list[Any]:
        """Each ended live run's health, oldest first (as stored: check before use)."""
        found = []
        for (text,) in self.db.execute(
            "SELECT health FROM runs WHERE health IS NOT NULL AND source IS NULL ORDER BY id"
        ):
            with contextlib.suppress(ValueError, TypeError, RecursionError):
                found.append(json.loads(text))
        return found

    def failed_ids(self) -> list[int]:
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM ids WHERE status = ? ORDER BY id", (Outcome.FAILED,)
            )
        ]

    # -- writing -------------------------------------------------------------------

    def conversion(self) -> str | None:
        """The OpenCC configuration of the corpus's records (one per corpus), if any."""
        held = self._meta("convert")
        if held is None:  # a corpus from before it was kept: its first record says
            row = self.db.execute(
                "SELECT offset, length FROM ids WHERE status = ? AND offset IS NOT NULL LIMIT 1",
                (Outcome.ARTICLE,),
            ).fetchone()
            if row is not None:
                with (
                    contextlib.suppress(OSError, ValueError, AttributeError),
                    self._read() as stream,
                ):
                    stream.seek(row[0])
                    held = json.loads(stream.read(row[1])).get("convert")
        return held if isinstance(held, str) else None

    def start_run(self, started_at: str, settings: dict[str, Any] | None = None) -> int:
        """Open the run's row: when, and ``settings`` (arguments, base_url, source,
        convert, opencc, version). (The corpus's conversion is kept with its first
        record, not here: a run that writes nothing fixes none.)"""
        settings = dict(settings or {})
        if settings.get("arguments") is not None:
            settings["arguments"] = json.dumps(settings["arguments"], ensure_ascii=False)
        columns = [name for name in _RUN_SETTINGS if name in settings]
        with _writing(self.state_path), self.db:
            cursor = self.db.execute(
                f"INSERT INTO runs (started_at{''.join(', ' + c for c in columns)}) "
                f"VALUES (?{', ?' * len(columns)})",
                (started_at, *(settings[c] for c in columns)),
            )
        self.run_id = cursor.lastrowid
        self._run_started = time.monotonic()
        return self.run_id

    def end_run(
        self,
        ended_at: str,
        code: int | None,
        outcome: str | None = None,
        walked: dict[str, int] | None = None,
        health: dict[str, Any] | None = None,
    ) -> None:
        """Commit what is pending and close the run's row: how it ended, the articles
        and failures it committed, and ``walked``, the walk's own buckets (``walked``,
        ``missing``, ``not_in_source``, ``held``), as its summary line gave them."""
        self.commit()
        if self.run_id is None:
            return
        walk = walked or {}
        with _writing(self.state_path), self.db:
            self.db.execute(
                "UPDATE runs SET ended_at = ?, articles = ?, missing = ?, failed = ?, "
                "exit_code = ?, outcome = ?, walked = ?, not_in_source = ?, held = ?, "
                "seconds = ?, health = ? WHERE id = ?",
                (
                    ended_at,
                    self.run_counts[Outcome.ARTICLE],
                    walk.get("missing", self.run_counts[Outcome.MISSING]),
                    self.run_counts[Outcome.FAILED],
                    code,
                    outcome,
                    walk.get("walked", 0),
                    walk.get("not_in_source", 0),
                    walk.get("held", 0),
                    round(time.monotonic() - self._run_started, 3),
                    None if health is None else json.dumps(health),
                    self.run_id,
                ),
            )
            if health is not None:
                self._mark_rechecks(health)

    def owe_asks(self) -> None:
        """This run's soft misses are owed another ask (its health dropped): marked as
        they are committed, those already committed at once, so a kill -9 keeps them."""
        if self._owing or self.run_id is None:
            return
        self._owing = True
        with _writing(self.state_path), self.db:
            self._mark_owed()

    def _mark_owed(self, below: int | None = None) -> None:
        self.db.execute(
            "UPDATE ids SET recheck = 1 WHERE run_id = ? AND status = ? AND id < ? "
            f"AND cause IN ({', '.join('?' * len(_SOFT_VALUES))})",
            (self.run_id, Outcome.MISSING, 2**63 - 1 if below is None else below, *_SOFT_VALUES),
        )

    def _mark_rechecks(self, health: dict[str, Any]) -> None:
        """After a run whose health dropped, its soft misses are to be asked again (not
        those at the archive's edge, from ``edge_from``: probed again anyway); after one
        that asked them again and found the site back, those still missing settle."""
        if health.get("dropped") or health.get("surged"):
            edge = health.get("edge_from")
            edge = edge if isinstance(edge, int) and not isinstance(edge, bool) else None
            self._mark_owed(edge)
            if edge is not None:
                self.db.execute(
                    "UPDATE ids SET recheck = NULL WHERE run_id = ? AND id >= ? AND recheck = 1",
                    (self.run_id, edge),
                )
        elif health.get("reprobed") and not health.get("still_down"):
            self.db.execute(
                "UPDATE ids SET recheck = NULL WHERE run_id = ? AND status = ? AND recheck = 1",
                (self.run_id, Outcome.MISSING),
            )

    def add_article(self, article: Extracted | dict[str, Any]) -> None:
        """One article's record: as the crawl extracted it, or a record (``make_record``)."""
        if isinstance(article, dict):
            from zkiz_corpus.records import Extracted

            article = Extracted.from_record(article)
        if self._first_convert is None:
            self._first_convert = article.convert
        self._pending_bytes += len(article.line)
        self._add(
            _Pending(
                article.id, Outcome.ARTICLE, None, article.fetched_at, article.line, article.sha256
            )
        )

    def add_missing(
        self, article_id: int, reason: str | None, fetched_at: str, cause: Cause | None = None
    ) -> None:
        if not self._record_misses:
            return
        self._add(_Pending(article_id, Outcome.MISSING, reason, fetched_at, cause=_value(cause)))

    def add_failed(
        self, article_id: int, reason: str | None, fetched_at: str, cause: Cause | None = None
    ) -> None:
        self._add(_Pending(article_id, Outcome.FAILED, reason, fetched_at, cause=_value(cause)))

    def _add(self, pending: _Pending) -> None:
        self._pending.append(pending)
        if (
            len(self._pending) >= self.batch_size
            or self._pending_bytes >= self.batch_bytes
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
        self._take_in_foreign()
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        rows = []
        offset = self._size
        lines = []
        for item in pending:
            span: tuple[int | None, int | None] = (None, None)
            if item.line is not None:
                lines.append(item.line)
                span = (offset, len(item.line))
                offset += len(item.line)
                item.line = None
            rows.append(
                (
                    item.article_id,
                    item.status,
                    item.error,
                    item.fetched_at,
                    item.sha256,
                    *span,
                    item.cause,
                )
            )
        data = b"".join(lines)
        if data:
            # Name the batch's span and digest before writing it: bytes that match them
            # after a crash are ours to cut; anything else is someone's to keep.
            digest = hashlib.sha256(data).hexdigest()
            with _writing(self.state_path), self.db:
                self._set_meta("writing", f"{self._size}:{len(data)}:{digest}")
            try:
                with _writing(self.records_path):
                    write_all(self._fd, data)
                    os.fsync(self._fd)
            except WriteError:
                # Give back what a full disk let through: the file ends where the state does.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                raise
            end = os.fstat(self._fd).st_size
            if end != offset:
                # Someone appended to the file while we wrote: our lines are not where we
                # put them. Take in whatever whole records the region holds, ours too.
                self._commit_interleaved(pending, lines, end)
                return
        del lines
        dead = 0
        with _writing(self.state_path), self.db:
            for article_id, status, error, fetched_at, sha, start, length, cause in rows:
                if status == Outcome.ARTICLE:
                    dead += self.db.execute(
                        "SELECT count(*) FROM ids WHERE id = ? AND offset IS NOT NULL",
                        (article_id,),
                    ).fetchone()[0]
                    self.db.execute(
                        "INSERT INTO ids (id, status, attempts, error, fetched_at, sha256, "
                        "offset, length, run_id) VALUES (?, ?, 1, NULL, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                        "attempts = attempts + 1, error = NULL, cause = NULL, "
                        "fetched_at = excluded.fetched_at,"
                        " sha256 = excluded.sha256, offset = excluded.offset, "
                        "length = excluded.length, run_id = excluded.run_id",
                        (article_id, status, fetched_at, sha, start, length, self.run_id),
                    )
                else:
                    self._record_miss(article_id, status, error, cause, fetched_at)
            self._set_meta("committed_size", offset)
            self.db.execute("DELETE FROM meta WHERE key = 'writing'")
            if self._first_convert is not None and self._meta("convert") is None:
                # The corpus's conversion is that of its first record, kept with it.
                self._set_meta("convert", self._first_convert)
            self._first_convert = None
            if dead:
                self._set_meta("dead_lines", self._meta("dead_lines", 0) + dead)
        self._size = offset
        self.run_counts.update(item.status for item in pending)
        if self.on_commit is not None and data:
            self.on_commit(data)

    def _record_miss(
        self, article_id: int, status: str, error: str | None, cause: str | None, at: str
    ) -> None:
        """A miss or failure, inside the caller's transaction; once the run owes asks, a
        soft miss is marked as it is committed."""
        owed = 1 if self._owing and cause in _SOFT_VALUES else None
        self.db.execute(_RECORD_MISS, (article_id, status, error, cause, at, self.run_id, owed))

    def _commit_interleaved(self, pending: list[_Pending], lines: list[bytes], end: int) -> None:
        self._adopt(self._size, end)
        ours = {item.article_id: item for item in pending if item.status == Outcome.ARTICLE}
        delivered = []
        with _writing(self.state_path), self.db:
            for item in pending:
                if item.status != Outcome.ARTICLE:
                    self._record_miss(
                        item.article_id, item.status, item.error, item.cause, item.fetched_at
                    )
            for line, item in zip(lines, ours.values()):
                taken = self.db.execute(
                    "UPDATE ids SET run_id = ? WHERE id = ? AND sha256 = ?",
                    (self.run_id, item.article_id, item.sha256),
                ).rowcount
                if taken:
                    delivered.append(line)
            self.db.execute("DELETE FROM meta WHERE key = 'writing'")
        self.run_counts.update(item.status for item in pending if item.status != Outcome.ARTICLE)
        self.run_counts[Outcome.ARTICLE] += len(delivered)
        if self.on_commit is not None and delivered:
            self.on_commit(b"".join(delivered))

    def compact(self) -> bool:
        """Rewrite ``records.jsonl`` with one line per id, in id order, crash-safely.

        Needed after ``--refetch`` replaced records or damaged lines were set aside: the
        new file is written and synced beside the old one, the state switched to it in one
        transaction, then the file renamed into place; a kill at any point is finished or
        undone on next open. Deferred (False) while a reader holds the records file.
        """
        self.commit()
        self._take_in_foreign()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log.debug("compaction deferred: the corpus is being read")
            return False
        compacted = self.path / COMPACT_FILE
        new_offsets = []
        position = 0
        with (
            _writing(compacted),
            self._read() as old,
            os.fdopen(
                os.open(
                    COMPACT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=self._dir_fd
                ),
                "wb",
            ) as new,
        ):
            rows = self.db.execute(
                "SELECT id, offset, length FROM ids WHERE status = ? ORDER BY id",
                (Outcome.ARTICLE,),
            )
            for article_id, offset, length in rows:
                old.seek(offset)
                new.write(old.read(length))
                new_offsets.append((position, article_id))
                position += length
            new.flush()
            os.fsync(new.fileno())
        with _writing(self.state_path), self.db:
            self.db.executemany("UPDATE ids SET offset = ? WHERE id = ?", new_offsets)
            self._set_meta("committed_size", position)
            self._set_meta("dead_lines", 0)
            self._set_meta("compacting", 1)
        with self._read() as old:  # held across the rename: what lands in it meanwhile
            old_size = self._size
            self._replace(COMPACT_FILE, RECORDS_FILE)
            with _writing(self.state_path), self.db:
                self.db.execute("DELETE FROM meta WHERE key = 'compacting'")
            os.close(self._fd)  # releases the compaction lock: waiting readers reopen
            self._fd = self._open_records()
            self._size = position
            late = os.fstat(old.fileno()).st_size - old_size
            if late > 0:  # appended by someone while we copied: carried over, taken in
                old.seek(old_size)
                with _writing(self.records_path):
                    write_all(self._fd, old.read(late))
                    os.fsync(self._fd)
                self._take_in_foreign()
        return True

    def close(self) -> None:
        """Commit, compact if records were replaced, and let go of the corpus."""
        try:
            self.commit()
            self._take_in_foreign()
            with _writing(self.state_path):
                self._finish_compaction()
            if self._meta("dead_lines", 0):
                self.compact()
            with _writing(self.state_path), self.db:
                self._set_meta("writer_open", 0)
                self.db.execute("DELETE FROM meta WHERE key = 'writing'")
        finally:
            self._release()

    def _release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._dir_fd >= 0:
            _LOCKS_HELD.discard(self._dir_fd)
            os.close(self._dir_fd)  # and with it the lock
            self._dir_fd = -1

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _span(value: Any) -> tuple[int, int, str | None] | None:
    """``(offset, length, sha256)`` from the ``writing`` mark, None if absent."""
    try:
        offset, length, *digest = str(value).split(":")
        return int(offset), int(length), digest[0] if digest else None
    except (TypeError, ValueError):
        return None


def _whole_line(line: bytes) -> bytes:
    return line if line.endswith(b"\n") else line + b"\n"


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``: a signal can make ``write`` return after part of it."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


STATUS_BLOCK = 1024  # ids whose state is read at once

# Lock descriptors this process holds. A forked page worker closes its copies: an
# ``flock`` lives as long as any copy, and a worker outliving a killed run must not keep
# the next run out.
_LOCKS_HELD: set[int] = set()


def _drop_inherited_locks() -> None:
    for descriptor in _LOCKS_HELD:
        with contextlib.suppress(OSError):
            os.close(descriptor)
    _LOCKS_HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_locks)


def _lock_directory(path: Path) -> int:
    """``flock`` the corpus directory: deleting a file cannot let a second writer in."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(descriptor)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise CorpusLocked(f"corpus {path} is locked by another zkiz run") from None
        raise CorpusError(f"cannot lock corpus {path}: {describe_os_error(exc)}") from exc
    _LOCKS_HELD.add(descriptor)
    return descriptor


def _prepare_directory(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise CorpusError(f"corpus path {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(
            f"cannot create corpus directory {path}: {describe_os_error(exc)}"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise CorpusError(f"corpus directory {path} is not writable")


def damaged_state(state_path: Path, exc: sqlite3.Error) -> CorpusDamaged:
    return CorpusDamaged(
        f"corpus state {state_path} is unreadable ({exc}): "
        f"run 'zkiz verify --corpus {state_path.parent} --repair'"
    )


def _connect(state_path: Path) -> sqlite3.Connection:
    try:
        # A reader in the middle of its transaction may hold the state a moment.
        db = sqlite3.connect(state_path, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise CorpusError(f"cannot open corpus state {state_path}: {exc}") from exc
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        for table, column, kind in _ADDED_COLUMNS:  # a corpus from an earlier version
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        db.execute("SELECT count(*) FROM ids").fetchone()
    except sqlite3.OperationalError as exc:
        db.close()
        if "full" in str(exc) or "I/O" in str(exc):
            raise WriteError(state_path, _sqlite_cause(exc)) from exc
        if "locked" in str(exc) or "busy" in str(exc):
            raise CorpusLocked(f"corpus state {state_path} is held by another process") from exc
        raise damaged_state(state_path, exc) from exc
    except sqlite3.DatabaseError as exc:
        db.close()
        raise damaged_state(state_path, exc) from exc
    db.isolation_level = "DEFERRED"
    return db


def next_id(db: sqlite3.Connection) -> int | None:
    newest = db.execute("SELECT max(id) FROM ids WHERE status = ?", (Outcome.ARTICLE,)).fetchone()[
        0
    ]
    if newest is not None:
        return newest + 1
    return db.execute("SELECT min(id) FROM ids").fetchone()[0]
