"""``zkiz verify``: an fsck of the corpus, and the repairs ``--repair`` can make."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from zkiz_corpus.reading import CorpusReader
from zkiz_corpus.storing import RECORDS_FILE, STATE_FILE, Corpus, CorpusError


@dataclass
class Verification:
    """What ``verify`` found: ``problems`` is empty for a sound corpus; ``notes`` tell of
    what is normal but worth knowing (a killed run's tail, lines a compaction will drop)."""

    records: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_corpus(path: Path) -> bool:
    """Whether ``path`` is (or was) a corpus: a folder with a state or records in it."""
    return path.is_dir() and any((path / name).exists() for name in (STATE_FILE, RECORDS_FILE))


def verify(path: Path | str) -> Verification:
    """Check every record against the state (span, whole line, id, ``sha256``) without
    writing anything. Raises ``CorpusError`` if ``path`` is no corpus at all."""
    path = Path(path)
    if not is_corpus(path):
        raise CorpusError(f"{path} is not a zkiz corpus")
    found = Verification()
    try:
        reader = CorpusReader(path)
    except CorpusError as exc:
        found.problems.append(str(exc))
        return found
    try:
        integrity = reader._query("PRAGMA quick_check")
        if integrity != [("ok",)]:
            found.problems.append(f"state {path / STATE_FILE} is damaged: {integrity[0][0]}")
            return found
        found.problems.extend(reader.quick_damage())
        if not found.problems:
            for _ in reader.records():
                pass
        report = reader.report
        found.records = report.yielded + report.damaged
        if report.damaged:
            examples = "; ".join(report.examples)
            found.problems.append(
                f"{report.damaged} of {found.records} records damaged ({examples})"
            )
        committed = reader._meta("committed_size", 0) or 0
        with contextlib.suppress(OSError):
            size = reader.records_path.stat().st_size
            if size > committed:
                found.notes.append(
                    f"{size - committed} bytes past the committed end of {RECORDS_FILE} "
                    "(a killed run's uncommitted batch, or records added by hand): the next "
                    "fetch cuts or takes them in"
                )
        dead = reader._meta("dead_lines", 0) or 0
        if dead:
            found.notes.append(f"{dead} replaced line(s), dropped by the next compaction")
    except CorpusError as exc:
        found.problems.append(str(exc))
    finally:
        reader.close()
    return found


def repair(path: Path | str) -> list[str]:
    """Mend what can be mended, as the corpus's writer (so under its lock): an
    unreadable state is set aside and rebuilt from ``records.jsonl``; records that are
    gone or damaged are set aside and their ids forgotten, to be fetched again."""
    path = Path(path)
    if not is_corpus(path):
        raise CorpusError(f"{path} is not a zkiz corpus")
    actions: list[str] = []
    state = path / STATE_FILE
    if state.is_file() and not _state_is_sound(state):
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for suffix in ("", "-wal", "-shm", "-journal"):
            damaged = path / (STATE_FILE + suffix)
            if damaged.exists():
                os.replace(damaged, path / f"{STATE_FILE}{suffix}.damaged-{stamp}")
        actions.append(f"set aside the unreadable state as {STATE_FILE}.damaged-{stamp}")
    if not state.exists() and not (path / RECORDS_FILE).is_file():
        raise CorpusError(f"{path} is not a zkiz corpus (no {STATE_FILE}, no {RECORDS_FILE})")
    with Corpus(path, repair=True) as corpus:
        corpus.check_records()
        actions.extend(corpus.repairs)
    return actions


def _state_is_sound(state: Path) -> bool:
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return db.execute("PRAGMA quick_check").fetchall() == [("ok",)] and bool(
            db.execute("SELECT count(*) FROM meta").fetchone()
        )
    except sqlite3.Error:
        return False
    finally:
        db.close()
