"""Reposts found: exact duplicates by a hash of the normalised text, near duplicates by
MinHash with LSH over its character n-grams (Chinese has no spaces to cut words at).

The normal form of a text is what a reader would call the same words: converted to
Simplified (OpenCC ``t2s``), NFKC (full-width letters, digits and punctuation made
half-width), case folded, and every space, punctuation mark and symbol dropped.

Each record gets a fingerprint (``fingerprint``, pure): the hash of that form, and for a
text of at least ``MIN_CHARS`` normalised characters a MinHash signature of its
``NGRAM``-character shingles (``rensa``), cut into ``BANDS`` LSH band keys. The index
(``DedupIndex``, ``dedup.sqlite3`` in the corpus directory) keeps every fingerprint and
each record's clusters, so a run adds only the records it has not seen: a candidate is a
record sharing a band key, and a duplicate a candidate whose estimated Jaccard
similarity is at least the threshold. Clusters are the connected duplicates (union-find
kept in the table) and each keeps its lowest id.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import struct
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from pathlib import Path
from typing import Any

from zkiz_corpus.converting import backend_description, make_converter
from zkiz_corpus.records import convert_text
from zkiz_corpus.storing import CorpusLocked, WriteError, describe_os_error, intact_record
from zkiz_corpus.working import WorkerPool, default_workers, in_order

__all__ = [
    "DEFAULT_THRESHOLD",
    "INDEX_FILE",
    "DedupIndex",
    "DedupResult",
    "Fingerprint",
    "Mode",
    "UpdateResult",
    "find_duplicates",
    "fingerprint",
    "normal_form",
    "similarity",
    "updated_index",
]

INDEX_FILE = "dedup.sqlite3"
NGRAM = 5  # characters a shingle
PERMUTATIONS = 128
BANDS = 32  # of 4 rows: a pair at Jaccard 0.6 shares a band with probability 0.99
ROWS = PERMUTATIONS // BANDS
DEFAULT_THRESHOLD = 0.6
MIN_CHARS = 50  # shorter normalised texts are matched exactly only, with their title
SEED = 1
FORM = 1  # the normal form's version: a change rebuilds the index
# Records a commit: each adds BANDS keys at random places of the band table, so a commit
# of N records writes up to N * BANDS pages to the log; 64 keep it near 8 MB.
COMMIT_EVERY = 64
LOG_LIMIT = 16 * 1024 * 1024  # bytes the log is cut back to once folded into the file

_DROPPED = re.compile(r"[\W_]+")  # not a letter, digit or ideograph, after NFKC
# Fingerprints of batches of stored lines, in order, given how many records are to come.
Compute = Callable[[Iterator[list], int], Iterator[list["Fingerprint | None"]]]


class Mode(str, Enum):
    EXACT = "exact"
    NEAR = "near"


def normal_form(text: str) -> str:
    """``text`` as compared: Simplified, NFKC, case folded, only letters and digits."""
    simplified = convert_text(make_converter("t2s"), text)
    return _DROPPED.sub("", unicodedata.normalize("NFKC", simplified).casefold())


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the index keeps of a record: its exact key, and for a long enough text its
    MinHash signature (``PERMUTATIONS`` unsigned 32-bit values) and LSH band keys."""

    id: int
    exact: bytes
    signature: bytes | None
    bands: tuple[int, ...]


def fingerprint(record: dict[str, Any]) -> Fingerprint:
    """The fingerprint of a record (its ``text_original``; its title too when short)."""
    from rensa import RMinHash  # Rust, loaded on first use

    text = normal_form(record["text_original"])
    if len(text) < MIN_CHARS:
        title = record.get("title_original")
        key = normal_form(title if isinstance(title, str) else "") + "\x00" + text
        return Fingerprint(record["id"], _digest(key), None, ())
    minhash = RMinHash(PERMUTATIONS, SEED)
    minhash.update(list({text[i : i + NGRAM] for i in range(len(text) - NGRAM + 1)}))
    values = minhash.digest()
    signature = struct.pack(f"<{PERMUTATIONS}I", *values)
    bands = tuple(
        int.from_bytes(
            hashlib.blake2b(
                signature[band * ROWS * 4 : (band + 1) * ROWS * 4],
                digest_size=8,
                person=band.to_bytes(2, "little"),
            ).digest(),
            "little",
            signed=True,
        )
        for band in range(BANDS)
    )
    return Fingerprint(record["id"], _digest(text), signature, bands)


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


_LANE_LOW_BITS = int.from_bytes(b"\x01\x00\x00\x00" * PERMUTATIONS, "little")


def similarity(one: bytes, other: bytes) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal values."""
    # Word-parallel, on two 4096-bit integers: a value differs where its 32 bits of the
    # XOR are not all zero; folding each lane onto its lowest bit (shifts adding up to
    # 31, so no bit crosses into the lane below) and counting those bits counts them.
    differ = int.from_bytes(one, "little") ^ int.from_bytes(other, "little")
    for shift in (16, 8, 4, 2, 1):
        differ |= differ >> shift
    return (PERMUTATIONS - (differ & _LANE_LOW_BITS).bit_count()) / PERMUTATIONS


def fingerprints(lines: list[tuple[int, str | None, bytes]]) -> list[Fingerprint | None]:
    """Fingerprints of stored lines (None for a damaged one): a worker's job."""
    found: list[Fingerprint | None] = []
    for article_id, sha, line in lines:
        record = intact_record(line, article_id, sha)
        found.append(None if record is None else fingerprint(record))
    return found


# ---- the index ------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL,        -- the record as the corpus state knows it: digest, time
    exact BLOB NOT NULL,
    signature BLOB,
    exact_root INTEGER NOT NULL,  -- the lowest id with the same normal form
    near_root INTEGER NOT NULL    -- the lowest id of its near-duplicate cluster
);
CREATE INDEX IF NOT EXISTS docs_exact ON docs (exact);
CREATE INDEX IF NOT EXISTS docs_exact_root ON docs (exact_root);
CREATE INDEX IF NOT EXISTS docs_near_root ON docs (near_root);
CREATE TABLE IF NOT EXISTS bands (key INTEGER NOT NULL, id INTEGER NOT NULL,
                                  PRIMARY KEY (key, id)) WITHOUT ROWID;
"""
SCHEMA_VERSION = 2  # in meta: an index of another layout is rebuilt

# SQLite's primary result codes (an error's sqlite_errorcode, Python 3.11+): BUSY, LOCKED,
# NOMEM, IOERR, FULL; READONLY, CANTOPEN.
_FAILED = (5, 6, 7, 10, 13)
_UNWRITABLE = (8, 14)


class IndexUnwritable(WriteError):
    """The index cannot be written here (a read-only corpus)."""


class IndexDamaged(WriteError):
    """The index file is not a database we can use: set aside and built afresh."""


def _failure(path: Path, exc: sqlite3.Error) -> WriteError:
    """What an SQLite error on the index means: a write that failed (a full disk, an I/O
    error: one line), no right to write (it is built aside), or else damage (it is set
    aside and rebuilt; an index is only ever a cache of the corpus)."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc).lower()
    if code in _FAILED or any(words in text for words in ("is full", "i/o error", "locked")):
        return WriteError(path, str(exc))
    if code in _UNWRITABLE or "readonly" in text or "unable to open" in text:
        return IndexUnwritable(path, str(exc))
    return IndexDamaged(path, f"not a usable index ({str(exc)[:200]})")


@contextlib.contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise _failure(path, exc) from exc


@dataclass
class UpdateResult:
    records: int = 0  # in the index after the update
    added: int = 0  # fingerprinted by this update
    rebuilt: str | None = None  # why the index was built afresh, if it was
    damaged: int = 0  # records skipped as unreadable


class DedupIndex:
    """The duplicate index of a corpus: ``DIR/dedup.sqlite3``, one writer at a time.

    ``threshold`` is part of what the index is: opened with another one (or another
    normal form, MinHash library or OpenCC backend), it is rebuilt by the next
    ``update``. None: the one it has (exact duplicates do not depend on it).
    """

    def __init__(self, path: Path, threshold: float | None = DEFAULT_THRESHOLD) -> None:
        self.path = path
        self._lock = -1
        self.db: sqlite3.Connection | None = None
        try:
            self._lock = _lock_file(path)
            with _sqlite_errors(path):
                self.db = sqlite3.connect(path, isolation_level=None)
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
                # The log holds what a commit touched: freed pages need not be zeroed
                # into it (a rebuild drops the tables), and once folded back it shrinks.
                self.db.execute("PRAGMA secure_delete = OFF")
                self.db.execute(f"PRAGMA journal_size_limit = {LOG_LIMIT}")
                self.db.executescript(SCHEMA)
                held = self._held_settings().get("threshold")
        except WriteError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise IndexUnwritable(path, describe_os_error(exc)) from exc
            raise WriteError(path, describe_os_error(exc)) from exc
        if threshold is None:
            threshold = held if isinstance(held, float) else DEFAULT_THRESHOLD
        self.threshold = threshold

    def close(self) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
            self.db = None
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def __enter__(self) -> DedupIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _db(self) -> sqlite3.Connection:
        assert self.db is not None, "the index is closed"
        return self.db

    # -- what the index is of

    def _settings(self) -> dict[str, Any]:
        from rensa import RMinHash

        return {
            "schema": SCHEMA_VERSION,
            "form": FORM,
            "ngram": NGRAM,
            "permutations": PERMUTATIONS,
            "bands": BANDS,
            "seed": SEED,
            "min_chars": MIN_CHARS,
            "threshold": self.threshold,
            "minhash": f"rensa RMinHash {RMinHash.ALGORITHM_VERSION}",
            "opencc": backend_description().split()[0],
        }

    def _held_settings(self) -> dict[str, Any]:
        return {key: _loaded(value) for key, value in self._db.execute("SELECT * FROM meta")}

    def _stale_settings(self) -> str | None:
        held, wanted = self._held_settings(), self._settings()
        if not held:
            return None
        changed = sorted(key for key in wanted if held.get(key) != wanted[key])
        if changed:
            return (
                "its settings changed ("
                + ", ".join(f"{key} {held.get(key)} -> {wanted[key]}" for key in changed)
                + ")"
            )
        return None

    def _reset(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        db.execute("DROP TABLE IF EXISTS docs")  # dropped, not emptied: its layout may be old
        db.execute("DROP TABLE IF EXISTS bands")
        db.execute("DELETE FROM meta")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        for key, value in self._settings().items():
            db.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        db.execute("COMMIT")

    # -- updating

    def update(
        self,
        reader: Any,
        *,
        rebuild: bool = False,
        compute: Compute | None = None,
        batch: int = COMMIT_EVERY,
    ) -> UpdateResult:
        """Add the corpus's records the index has not seen; build it afresh if asked, if
        its settings changed, or if a record it holds changed or left the corpus.

        ``reader``: a ``CorpusReader`` (inside its ``snapshot()``, for the corpus as of one
        moment). ``compute(batches, count)``: their fingerprints in order (worker
        processes), for ``count`` records to come; by default done here. Raises
        ``WriteError`` (``IndexDamaged`` when the index is unreadable).
        """
        with _sqlite_errors(self.path):
            result = UpdateResult()
            why = "asked to (--rebuild)" if rebuild else self._stale_settings()
            if why is None and self._has_settings():
                changed, unseen = self._compare(reader)
                if changed:
                    why = "records it holds were refetched or set aside"
            if why is not None or not self._has_settings():
                result.rebuilt = why
                self._reset()
                unseen = self._compare(reader)[1]
            try:
                self._add_new(reader, result, compute or _here, batch, unseen)
            finally:
                if self._db.in_transaction:  # a failed COMMIT may have ended it already
                    self._db.execute("ROLLBACK")
            result.records = self._db.execute("SELECT count(*) FROM docs").fetchone()[0]
            return result

    def _has_settings(self) -> bool:
        return self._db.execute("SELECT 1 FROM meta LIMIT 1").fetchone() is not None

    def _compare(self, reader: Any) -> tuple[bool, int]:
        """Whether an indexed record is no longer the corpus's, and how many of the
        corpus's records the index lacks (a merge of two id orders)."""
        changed, unseen = False, 0
        held = iter(_IdsInOrder(self._db))
        mine = next(held, None)
        for article_id, version in reader.versions():
            while mine is not None and mine[0] < article_id:
                changed = True  # indexed, and no longer in the corpus
                mine = next(held, None)
            if mine is not None and mine[0] == article_id:
                changed = changed or mine[1] != version
                mine = next(held, None)
            else:
                unseen += 1
        return changed or mine is not None, unseen

    def _add_new(
        self, reader: Any, result: UpdateResult, compute: Compute, batch: int, count: int
    ) -> None:
        # Rows this update adds show up in the merge as ids it has passed: skipped alike.
        held = iter(_IdsInOrder(self._db))
        mine = [next(held, None)]

        def unseen(article_id: int, sha: str | None) -> bool:
            while mine[0] is not None and mine[0][0] < article_id:
                mine[0] = next(held, None)
            return mine[0] is None or mine[0][0] != article_id

        lines = reader.lines(wanted=unseen)
        batches = iter(lambda: list(islice(lines, batch)), [])
        for found in compute(batches, count):
            versions = dict(reader.versions([one.id for one in found if one is not None]))
            self._db.execute("BEGIN IMMEDIATE")
            for one in found:
                if one is None:
                    result.damaged += 1
                    continue
                self._add(one, versions[one.id])
                result.added += 1
            self._db.execute("COMMIT")

    def _add(self, new: Fingerprint, version: str) -> None:
        """One record into the index and its clusters (inside the caller's transaction)."""
        db = self._db
        exact_match = db.execute(
            "SELECT id, exact_root, near_root FROM docs WHERE exact = ? LIMIT 1", (new.exact,)
        ).fetchone()
        roots: set[int] = set()  # the near clusters it joins
        if exact_match is not None:
            roots.add(exact_match[2])
        if new.signature is not None:
            marks = ",".join("?" * len(new.bands))
            rows = db.execute(
                f"SELECT id, signature, near_root FROM docs WHERE id IN "
                f"(SELECT DISTINCT id FROM bands WHERE key IN ({marks}))",
                new.bands,
            )
            for _, signature, root in rows:
                # One match in a cluster joins it: its other members need no comparing.
                if root in roots or signature is None:
                    continue
                if similarity(new.signature, signature) >= self.threshold:
                    roots.add(root)
        exact_root = new.id
        if exact_match is not None:
            exact_root = min(exact_match[1], new.id)
            if exact_match[1] > new.id:  # a lower id came late: it is now the one kept
                db.execute(
                    "UPDATE docs SET exact_root = ? WHERE exact_root = ?", (new.id, exact_match[1])
                )
        near_root = min(roots | {new.id})
        for root in roots - {near_root}:
            db.execute("UPDATE docs SET near_root = ? WHERE near_root = ?", (near_root, root))
        db.execute(
            "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)",
            (new.id, version, new.exact, new.signature, exact_root, near_root),
        )
        if new.bands:
            db.executemany(
                "INSERT OR IGNORE INTO bands VALUES (?, ?)", ((key, new.id) for key in new.bands)
            )

    # -- reading

    def verdicts(self, mode: Mode) -> Iterator[tuple[int, int]]:
        """``(id, the id its cluster keeps)`` for every indexed record, in id order."""
        root = "exact_root" if mode is Mode.EXACT else "near_root"
        with _sqlite_errors(self.path):
            yield from self._db.execute(f"SELECT id, {root} FROM docs ORDER BY id")

    def clusters(self, mode: Mode) -> Iterator[dict[str, Any]]:
        """Each cluster of two or more records, by the id it keeps: its members, and each
        one's similarity with the kept record (1.0 for the same normal form)."""
        root = "exact_root" if mode is Mode.EXACT else "near_root"
        with _sqlite_errors(self.path):
            rows = self._db.execute(
                f"SELECT d.{root}, d.id, d.exact, d.signature FROM docs d WHERE d.{root} IN "
                f"(SELECT {root} FROM docs WHERE id != {root}) ORDER BY d.{root}, d.id"
            )
            current: dict[str, Any] | None = None
            kept: tuple[bytes, bytes | None] = (b"", None)
            for cluster, article_id, exact, signature in rows:
                if current is None or current["kept"] != cluster:
                    if current is not None:
                        yield current
                    current = {"kept": cluster, "size": 0, "ids": [], "duplicates": []}
                current["size"] += 1
                current["ids"].append(article_id)
                if article_id == cluster:
                    kept = (exact, signature)
                    continue
                if exact == kept[0]:
                    score = 1.0
                elif signature is not None and kept[1] is not None:
                    score = similarity(signature, kept[1])
                else:
                    score = None
                current["duplicates"].append({"id": article_id, "similarity": score})
            if current is not None:
                yield current


class _IdsInOrder:
    """The index's ``(id, version)`` rows in id order, read a page at a time, so a merge
    against the corpus holds neither list whole, and no read stays open across writes
    (an open one would keep SQLite from ever folding its log back into the file)."""

    PAGE = 4096

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __iter__(self) -> Iterator[tuple[int, str]]:
        after = -1
        while True:
            rows = self.db.execute(
                "SELECT id, version FROM docs WHERE id > ? ORDER BY id LIMIT ?", (after, self.PAGE)
            ).fetchall()
            yield from rows
            if len(rows) < self.PAGE:
                return
            after = rows[-1][0]


def _here(batches: Iterator[list], count: int) -> Iterator[list[Fingerprint | None]]:
    return (fingerprints(batch) for batch in batches)


def _loaded(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None  # a value edited by hand: taken as a changed setting


def _lock_file(path: Path) -> int:
    """An exclusive ``flock`` on the index file: a second update is refused at once. The
    lock holds the file at ``path`` when it is taken: one renamed away meanwhile (set
    aside as damaged by another run) is let go and the new one locked."""
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise CorpusLocked(f"{path} is being updated by another run") from None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise CorpusLocked(f"{path} keeps being replaced by another run")


# ---- a corpus's duplicates ------------------------------------------------------------

WORKERS_FROM = 1024  # records to fingerprint before worker processes are worth starting


@dataclass
class DedupResult:
    mode: Mode
    threshold: float
    update: UpdateResult
    clusters: int = 0  # of two records or more
    duplicates: int = 0  # records a cluster does not keep
    temporary: bool = False  # a read-only corpus: the index was built aside and dropped


@contextlib.contextmanager
def updated_index(
    reader: Any,
    *,
    threshold: float | None = DEFAULT_THRESHOLD,
    rebuild: bool = False,
    workers: int | None = None,
) -> Iterator[tuple[DedupIndex, UpdateResult, bool]]:
    """The corpus's index brought up to date with ``reader``'s records (call inside
    ``reader.snapshot()``), and whether it is a temporary one: a corpus that cannot be
    written to has its index copied to a temporary directory, brought up to date there
    and dropped after. An unreadable index is set aside as ``dedup.sqlite3.damaged`` and
    built afresh. ``threshold`` None: the index's own (exact duplicates do not use it)."""
    path = Path(reader.path) / INDEX_FILE
    scratch: tempfile.TemporaryDirectory[str] | None = None

    def updated(target: Path) -> tuple[DedupIndex, UpdateResult]:
        index = DedupIndex(target, threshold)
        try:
            return index, index.update(reader, rebuild=rebuild, compute=_computer(workers))
        except BaseException:
            index.close()
            raise

    try:
        try:
            index, result = updated(path)
        except IndexUnwritable:
            scratch = tempfile.TemporaryDirectory(prefix="zkiz-dedup-")
            copy = Path(scratch.name) / INDEX_FILE
            _copy_index(path, copy)
            try:
                index, result = updated(copy)
            except IndexDamaged:  # the copy of a damaged one: begin with none
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{copy}{suffix}")
                index, result = updated(copy)
        except IndexDamaged as exc:  # a cache: kept aside for whoever wants to look, redone
            aside = _set_aside(path, exc)
            index, result = updated(path)
            result.rebuilt = f"{path.name} was unreadable ({exc.cause}): set aside as {aside}"
        try:
            yield index, result, scratch is not None
        finally:
            index.close()
    finally:
        if scratch is not None:
            scratch.cleanup()


def _copy_index(path: Path, copy: Path) -> None:
    """The index of a read-only corpus, copied where it can be brought up to date (none
    yet: an empty one is made there)."""
    import shutil

    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")


def _set_aside(path: Path, damage: WriteError) -> str:
    """The unreadable index renamed out of the way (the last such one is kept)."""
    aside = path.with_name(path.name + ".damaged")
    try:
        os.replace(path, aside)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
    except OSError as exc:
        raise WriteError(path, f"{damage.cause}; cannot set it aside: {exc}") from None
    return aside.name


def _computer(workers: int | None) -> Compute:
    def compute(batches: Iterator[list], count: int) -> Iterator[list[Fingerprint | None]]:
        wanted = default_workers() if workers is None else workers
        pool = WorkerPool.start(wanted, _warm) if count >= WORKERS_FROM else None
        for _, found in in_order(pool, _fingerprints_job, batches, fingerprints, 2 * wanted):
            yield found

    return compute


def _warm() -> None:
    """A worker's start: OpenCC's t2s and the MinHash library loaded once."""
    make_converter("t2s")
    import rensa  # noqa: F401


def _fingerprints_job(state: None, lines: list) -> list[Fingerprint | None]:
    return fingerprints(lines)


def find_duplicates(
    corpus: Path | str,
    output: str = "-",
    *,
    mode: Mode = Mode.NEAR,
    threshold: float = DEFAULT_THRESHOLD,
    rebuild: bool = False,
    workers: int | None = None,
    guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> DedupResult:
    """Bring ``corpus``'s duplicate index up to date and write its clusters to ``output``
    (JSONL, one cluster a line; Parquet if it ends in ``.parquet``; ``-``: stdout)."""
    from zkiz_corpus.reading import CorpusReader
    from zkiz_corpus.running import refuse_corpus_file
    from zkiz_corpus.tables import open_sink

    check_threshold(threshold)
    refuse_corpus_file(output, Path(corpus), "-o")
    with CorpusReader(corpus) as reader, reader.snapshot():
        sink = open_sink(str(output), kind="clusters", guard=guard)
        try:
            near_threshold = threshold if mode is Mode.NEAR else None  # exact: none
            with updated_index(
                reader, threshold=near_threshold, rebuild=rebuild, workers=workers
            ) as (
                index,
                update,
                temporary,
            ):
                result = DedupResult(mode, threshold, update, temporary=temporary)
                for cluster in index.clusters(mode):
                    result.clusters += 1
                    result.duplicates += cluster["size"] - 1
                    sink.add(cluster)
        except BaseException:
            sink.discard()
            raise
        sink.close()
    return result


def check_threshold(threshold: float) -> None:
    from zkiz_corpus.running import OptionsError

    if not 0.0 < threshold <= 1.0:
        raise OptionsError(f"{threshold:g} is not a similarity in (0, 1]", "--threshold")
