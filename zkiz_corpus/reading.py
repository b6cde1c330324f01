"""Reading a corpus without writing a byte: ``status``, ``export`` and ``verify``.

Readers take no writer lock and open the state read-only (SQLite may still create its
``-wal``/``-shm`` files where it can), so they work while a crawl runs and on a
read-only corpus; damage makes them skip and count, never raise mid-way.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from zkiz_corpus.health import Health
from zkiz_corpus.outcomes import Outcome
from zkiz_corpus.storing import (
    COMPACT_FILE,
    RECORDS_FILE,
    SCHEMA,
    STATE_FILE,
    CorpusDamaged,
    CorpusError,
    damaged_state,
    describe_os_error,
    intact_record,
    next_id,
)

_RUN_COLUMNS = (
    "id",
    "started_at",
    "ended_at",
    "seconds",
    "outcome",
    "exit_code",
    "walked",
    "articles",
    "missing",
    "not_in_source",
    "failed",
    "held",
    "arguments",
    "base_url",
    "source",
    "convert",
    "opencc",
    "version",
    "health",
)


_MISS_KINDS = {"http-status": "not-found"}


@dataclass
class ReadReport:
    """What a reader met: records yielded, records it had to skip, and why."""

    yielded: int = 0
    damaged: int = 0
    examples: list[str] = field(default_factory=list)  # the first few, for one line

    def note(self, article_id: int, why: str) -> None:
        self.damaged += 1
        if len(self.examples) < 3:
            self.examples.append(f"id {article_id}: {why}")


class CorpusReader:
    """Committed records and state of a corpus, read while a crawl may be running.

    Opens nothing for writing, so it works on a read-only corpus; skips what damage has
    made unreadable and says so in ``report``, never raising on a bad line.
    """

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        if not path.is_dir():
            raise CorpusError(f"{path} is not a zkiz corpus (no such directory)")
        if not (path / STATE_FILE).is_file():
            raise CorpusError(f"{path} is not a zkiz corpus (no {STATE_FILE})")
        self.path = path
        self.records_path = path / RECORDS_FILE
        self.db = _connect_readonly(path / STATE_FILE)
        self.report = ReadReport()
        self._held: BinaryIO | None = None  # the records file of an open ``snapshot()``

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CorpusReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        try:
            return self.db.execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as exc:
            raise damaged_state(self.path / STATE_FILE, exc) from exc

    def _meta(self, key: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """The corpus as of one moment for everything read inside: what a crawl commits
        meanwhile is not seen, so two passes over the records agree."""
        if self._held is not None:
            yield
            return
        with self._snapshot() as stream:
            self._held = stream
            try:
                yield
            finally:
                self._held = None

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[BinaryIO]:
        """The records file and a read transaction of the state that describes it.

        A shared ``flock`` on the file keeps a compaction from replacing it while it is
        read; a file renamed in place meanwhile is opened again.
        """
        if self._held is not None:  # inside snapshot(): the same file and transaction
            yield self._held
            return
        for _ in range(20):
            try:
                stream = open(self.records_path, "rb")  # noqa: SIM115 - closed below
            except IsADirectoryError:
                raise CorpusDamaged(f"{self.records_path} is a directory, not a file") from None
            except FileNotFoundError:
                raise CorpusDamaged(
                    f"{self.records_path} is missing: run 'zkiz verify --corpus {self.path}'"
                ) from None
            except OSError as exc:
                raise CorpusError(
                    f"cannot read {self.records_path}: {describe_os_error(exc)}"
                ) from exc
            with contextlib.suppress(OSError):  # a filesystem without flock: read anyway
                fcntl.flock(stream.fileno(), fcntl.LOCK_SH)
            try:
                same = os.fstat(stream.fileno()).st_ino == os.stat(self.records_path).st_ino
            except OSError:
                same = False
            if not same:
                stream.close()
                continue
            try:
                self._query("BEGIN")
                if self._meta("compacting"):
                    # A compaction died half way: the state points into the new file.
                    with contextlib.suppress(OSError):
                        compacted = open(self.path / COMPACT_FILE, "rb")  # noqa: SIM115
                        stream.close()
                        stream = compacted
                yield stream
            finally:
                stream.close()
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("COMMIT")
            return
        raise CorpusError(f"{self.records_path} keeps being replaced: try again")

    def records(
        self, low: int | None = None, high: int | None = None, run: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Intact records in id order, each id once, optionally within ``[low, high]`` or
        written by run ``run``; damaged ones are skipped and counted in ``report``."""
        for article_id, sha, line in self.lines(low, high, run):
            record = intact_record(line, article_id, sha)
            if record is None:
                self.report.note(article_id, "record damaged")
                continue
            self.report.yielded += 1
            yield record

    def lines(
        self,
        low: int | None = None,
        high: int | None = None,
        run: int | None = None,
        *,
        wanted: Callable[[int, str | None], bool] | None = None,
    ) -> Iterator[tuple[int, str | None, bytes]]:
        """``records``' lines, as stored and not yet checked (``intact_record``), with
        their ids and digests; lines the file does not hold are skipped and counted.
        ``wanted(id, sha256)``, asked in id order: False skips the line unread."""
        query = "SELECT id, offset, length, sha256 FROM ids WHERE status = ? AND id BETWEEN ? AND ?"
        parameters: tuple = (Outcome.ARTICLE, low or 0, high or 2**63 - 1)
        if run is not None:
            query += " AND run_id = ?"
            parameters += (run,)
        with self._snapshot() as stream:
            size = os.fstat(stream.fileno()).st_size
            try:
                rows = self.db.execute(query + " ORDER BY id", parameters)
                for article_id, offset, length, sha in rows:
                    if wanted is not None and not wanted(article_id, sha):
                        continue
                    if offset is None or length is None or offset + length > size:
                        self.report.note(article_id, "record lies past the end of the file")
                        continue
                    stream.seek(offset)
                    yield article_id, sha, stream.read(length)
            except sqlite3.DatabaseError as exc:
                raise damaged_state(self.path / STATE_FILE, exc) from exc

    def versions(self, ids: list[int] | None = None) -> Iterator[tuple[int, str]]:
        """``(id, version)`` of every record (or of ``ids``), in id order, read without
        the records: a version is the record's digest, the run that wrote it, its fetch
        time and its place and length in the file, so a record written again (a refetch,
        even one in the same second that changed only its title; a line appended by hand
        and taken in) has a new one. A compaction (after a refetch) may move many."""
        query = (
            f"SELECT id, sha256, fetched_at, {self._run_column}, offset, length FROM ids "
            "WHERE status = ?"
        )
        parameters: tuple = (Outcome.ARTICLE,)
        if ids is not None:
            if not ids:
                return
            query += f" AND id IN ({','.join('?' * len(ids))})"
            parameters += tuple(ids)
        with self._snapshot():
            try:
                for article_id, sha, fetched_at, run_id, offset, length in self.db.execute(
                    query + " ORDER BY id", parameters
                ):
                    yield article_id, f"{sha}|{run_id}|{fetched_at}|{offset}|{length}"
            except sqlite3.DatabaseError as exc:
                raise damaged_state(self.path / STATE_FILE, exc) from exc

    def run_ids(self) -> list[int]:
        return [row[0] for row in self._query("SELECT id FROM runs ORDER BY id")]

    @functools.cached_property
    def _run_column(self) -> str:
        """``run_id``, or NULL in a corpus from before runs were kept per id (asked once:
        ``versions`` is asked per batch)."""
        return "run_id" if "run_id" in self._columns("ids") else "NULL"

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._query(f"PRAGMA table_info({table})")}

    def failed(self) -> list[dict[str, Any]]:
        """The failed ids, with their causes: retried by the next run."""
        cause = "cause" if "cause" in self._columns("ids") else "NULL"
        rows = self._query(
            f"SELECT id, {cause}, error, attempts, fetched_at FROM ids WHERE status = ? "
            "ORDER BY id",
            (Outcome.FAILED,),
        )
        keys = ("id", "cause", "reason", "attempts", "fetched_at")
        return [dict(zip(keys, row)) for row in rows]

    def runs(self, last: int | None = None) -> list[dict[str, Any]]:
        """The runs' rows, oldest first (only the ``last`` few if given): settings and
        how each ended. ``arguments`` is the command line, as a list."""
        columns = [c for c in _RUN_COLUMNS if c in self._columns("runs")]
        order = "DESC" if last is not None else "ASC"
        limit = f" LIMIT {int(last)}" if last is not None else ""
        rows = self._query(f"SELECT {', '.join(columns)} FROM runs ORDER BY id {order}{limit}")
        found = []
        for row in reversed(rows) if last is not None else rows:
            run = dict.fromkeys(_RUN_COLUMNS)
            run.update(zip(columns, row))
            for name in ("arguments", "health"):
                if isinstance(run[name], str):
                    with contextlib.suppress(ValueError, RecursionError):
                        run[name] = json.loads(run[name])
            if run["health"] is not None:  # checked: a hand-edited row must not crash status
                run["health"] = Health.from_dict(run["health"]).as_dict()
            found.append(run)
        return found

    def conversion(self) -> str | None:
        """The OpenCC configuration of the corpus's records, if it holds any."""
        held = self._meta("convert")
        articles = self._query("SELECT 1 FROM ids WHERE status = ? LIMIT 1", (Outcome.ARTICLE,))
        if held is None and articles:  # a corpus from before it was kept: a record says
            with contextlib.suppress(CorpusError):  # damage is for status to report
                for record in self.records():
                    held = record.get("convert")
                    break
        return held if isinstance(held, str) else None

    def summary(self) -> dict[str, Any]:
        counts = dict(self._query("SELECT status, count(*) FROM ids GROUP BY status"))
        highest = self._query("SELECT max(id) FROM ids WHERE status = ?", (Outcome.ARTICLE,))[0][0]
        size = 0
        for entry in self.path.iterdir():
            with contextlib.suppress(OSError):
                if entry.is_file():
                    size += entry.stat().st_size
        try:
            next_one = next_id(self.db)
        except sqlite3.DatabaseError as exc:
            raise damaged_state(self.path / STATE_FILE, exc) from exc
        last = self.runs(last=1)
        corpus_health = Health()
        runs_dropped = 0
        for run in self.runs():
            if run["health"] is not None:
                health = Health.from_dict(run["health"])
                corpus_health.add(health)
                runs_dropped += health.dropped
        causes = "cause" if "cause" in self._columns("ids") else "NULL"
        by_cause = self._query(
            f"SELECT {causes}, count(*) FROM ids WHERE status = ? GROUP BY 1 ORDER BY 2 DESC",
            (Outcome.MISSING,),
        )
        return {
            "corpus": str(self.path),
            "articles": counts.get(Outcome.ARTICLE, 0),
            "missing": counts.get(Outcome.MISSING, 0),
            # By the kinds --recheck-missing takes: a miss's 404 or 410 is "not-found".
            "missing_by_kind": {
                _MISS_KINDS.get(cause, cause or "unknown"): count for cause, count in by_cause
            },
            "failed": counts.get(Outcome.FAILED, 0),
            "highest_article_id": highest,
            "next_id": next_one,  # where a run without --from-id starts
            "convert": self.conversion(),
            "failed_ids": self.failed(),
            "last_run": last[0] if last else None,
            # Summed over the runs (the last run's is in last_run).
            "health": {**corpus_health.as_dict(), "runs_dropped": runs_dropped},
            "size_bytes": size,
            "damage": self.quick_damage(),
        }

    def quick_damage(self) -> list[str]:
        """Damage that shows without reading the records: a missing or short file."""
        committed = self._meta("committed_size", 0) or 0
        if self.records_path.is_dir():
            return [f"{self.records_path} is a directory"]
        try:
            size = self.records_path.stat().st_size
        except OSError:
            return [f"{self.records_path} is missing"] if committed else []
        if size < committed and not self._meta("compacting"):
            return [f"{self.records_path} is {committed - size} bytes shorter than its state says"]
        return []


def _connect_readonly(state_path: Path) -> sqlite3.Connection:
    """Open the state for reading only: never writes, works on a read-only corpus.

    A database left in WAL mode by a killed run needs its shared-memory file, which a
    read-only directory may not let SQLite create; then it is read as immutable.
    """
    last: sqlite3.Error | None = None
    for mode in ("mode=ro", "immutable=1"):
        wal = Path(f"{state_path}-wal")
        if mode == "immutable=1" and wal.is_file() and wal.stat().st_size > 0:
            # Immutable reading would ignore the log, where committed state may still lie.
            raise CorpusDamaged(
                f"{state_path} has a write-ahead log ({wal.name}) that cannot be read here: "
                f"the corpus is read-only and {Path(str(state_path) + '-shm').name} is missing"
            )
        try:
            db = sqlite3.connect(f"file:{state_path}?{mode}", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            last = exc
            continue
        try:
            db.execute("SELECT count(*) FROM ids").fetchone()
            db.execute("SELECT count(*) FROM meta").fetchone()
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            last = exc
            if "no such table" in str(exc):
                # A state its first writer could not even set up (a full disk): as empty.
                empty = sqlite3.connect(":memory:", isolation_level=None)
                empty.executescript(SCHEMA)
                return empty
        except sqlite3.DatabaseError as exc:
            db.close()
            last = exc
            break
    raise damaged_state(state_path, last or sqlite3.DatabaseError("cannot open"))
