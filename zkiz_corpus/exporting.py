"""A corpus out as JSON Lines or Parquet: in id order, each id once, a range or one run's
records, converted afresh if asked, duplicates dropped or marked if asked; a file is
written beside its path and renamed when whole."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

from zkiz_corpus import records
from zkiz_corpus.converting import make_converter
from zkiz_corpus.duplicates import DEFAULT_THRESHOLD, Mode, check_threshold, updated_index
from zkiz_corpus.outputs import STDOUT
from zkiz_corpus.reading import CorpusReader
from zkiz_corpus.running import OptionsError, refuse_corpus_file
from zkiz_corpus.storing import intact_record
from zkiz_corpus.tables import Guard, open_sink
from zkiz_corpus.working import WorkerPool, default_workers, in_order

_Stored = tuple[int, "str | None", bytes]  # an id, its digest, its line as stored

BATCH = 256  # records per write, and per job of a worker
# Records a conversion must have to be worth starting worker processes for.
WORKERS_FROM = 4 * BATCH


class NoSuchRun(LookupError):
    """``run`` names no run of the corpus."""


@dataclass
class ExportResult:
    written: int = 0
    damaged: int = 0  # records skipped as damaged (the file is then not replaced)
    examples: list[str] = field(default_factory=list)  # a few of them, said why
    duplicates: int = 0  # records --dedup found duplicates: dropped, or written marked
    index_rebuilt: str | None = None  # why the duplicate index was built afresh
    index_temporary: bool = False  # a read-only corpus: the index was built aside


def export(
    corpus: Path | str,
    output: Path | str = STDOUT,
    *,
    from_id: int | None = None,
    to_id: int | None = None,
    run: int | str | None = None,
    convert: str | None = None,
    workers: int | None = None,
    dedup: Mode | str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    mark_duplicates: bool = False,
    guard: Guard = contextlib.nullcontext,
) -> ExportResult:
    """Write ``corpus``'s records to ``output`` (``-``: stdout; ``.gz``: gzip JSONL;
    ``.parquet``: Parquet).

    ``run``: only what that run committed (its number, or ``"last"``). ``convert``: each
    record converted afresh, by ``workers`` processes (None: one per core). ``dedup``
    (``exact`` or ``near``, at ``threshold``): records a duplicate cluster does not keep
    are left out, or with ``mark_duplicates`` written with ``duplicate_of`` (the kept id;
    null on the others); the corpus's duplicate index is brought up to date first. A
    damaged record is skipped and counted; then a file ``output`` keeps its earlier
    content. ``guard()``: a section no stop signal may cut (``Interrupts.critical``).
    Raises ``OptionsError`` for a bad range or output, ``NoSuchRun``, and
    ``CorpusError`` for no corpus.
    """
    corpus, output = Path(corpus), str(output)
    if from_id is not None and to_id is not None and to_id < from_id:
        raise OptionsError(f"--to-id {to_id} is below --from-id {from_id}")
    mode = None if dedup is None else Mode(dedup)
    if mark_duplicates and mode is None:
        raise OptionsError("--mark-duplicates needs --dedup exact or --dedup near")
    check_threshold(threshold)
    refuse_corpus_file(output, corpus, "-o")
    result = ExportResult()
    with CorpusReader(corpus) as reader, reader.snapshot():
        runs = reader.run_ids() if run is not None else []
        if run == "last":
            if not runs:
                raise NoSuchRun(f"{corpus} has no runs yet")
            run = runs[-1]
        elif run is not None and run not in runs:
            raise NoSuchRun(f"{corpus} has no run {run} (zkiz status shows the last one)")
        with contextlib.ExitStack() as stack:
            verdicts = None
            if mode is not None:
                index, update, temporary = stack.enter_context(
                    updated_index(
                        reader,
                        threshold=threshold if mode is Mode.NEAR else None,  # exact: none
                        workers=workers,
                    )
                )
                result.index_rebuilt, result.index_temporary = update.rebuilt, temporary
                verdicts = index.verdicts(mode)
                stack.callback(verdicts.close)  # before the index closes
                reader.report = type(reader.report)()  # the index's reading is not the export's
            sink = open_sink(output, marked=mark_duplicates, guard=guard)
            try:
                batches = _exported(reader, from_id, to_id, run, convert, workers)
                if verdicts is not None:
                    batches = _judged(batches, verdicts, mark_duplicates, result)
                for lines in batches:
                    sink.add_lines([line for _, line in lines])
                    result.written += len(lines)
            except BaseException:
                sink.discard()
                raise
            result.damaged, result.examples = reader.report.damaged, list(reader.report.examples)
            if result.damaged:
                sink.discard()  # keep an earlier complete file rather than a short one
            else:
                sink.close()
    return result


def _judged(
    batches: Iterator[list[tuple[int, bytes]]],
    verdicts: Iterator[tuple[int, int]],
    mark: bool,
    result: ExportResult,
) -> Iterator[list[tuple[int, bytes]]]:
    """The lines with their duplicates left out, or marked (``duplicate_of``): a merge
    of the lines and the index's verdicts, both in id order."""
    verdict = next(verdicts, None)
    for batch in batches:
        kept = []
        for article_id, line in batch:
            while verdict is not None and verdict[0] < article_id:
                verdict = next(verdicts, None)
            root = verdict[1] if verdict is not None and verdict[0] == article_id else article_id
            if root != article_id:
                result.duplicates += 1
                if not mark:
                    continue
            if mark:  # one field more at the end of the object, the rest as it was
                marked = b"null" if root == article_id else str(root).encode("ascii")
                line = line.rstrip()[:-1] + b',"duplicate_of":' + marked + b"}\n"
            kept.append((article_id, line))
        yield kept


def _exported(
    reader: CorpusReader,
    low: int | None,
    high: int | None,
    run: int | str | None,
    convert: str | None,
    workers: int | None,
) -> Iterator[list[tuple[int, bytes]]]:
    """The lines to write with their ids, a batch at a time, in id order: as stored, or converted
    afresh (by worker processes when there are enough records to be worth them)."""
    stored = reader.lines(low, high, run if isinstance(run, int) else None)
    batches = iter(lambda: list(islice(stored, BATCH)), [])
    job: Callable[[list[_Stored]], list[bytes | None]] = _as_stored
    if convert is not None:
        job = partial(_converted, _converter_of(convert))
    count = default_workers() if workers is None else workers
    pool = None
    if convert is not None and count > 0:
        first = list(islice(batches, WORKERS_FROM // BATCH))
        if len(first) == WORKERS_FROM // BATCH:
            pool = WorkerPool.start(count, partial(_converter_of, convert))
        batches = itertools.chain(first, batches)
    # An export is only reading: what a dead worker lost, and the rest, is done here.
    for batch, lines in in_order(pool, _converted, batches, job, 2 * count):
        yield _kept(reader, batch, lines)


def _kept(
    reader: CorpusReader, batch: list[_Stored], lines: list[bytes | None]
) -> list[tuple[int, bytes]]:
    kept = []
    for (article_id, _, _), line in zip(batch, lines):
        if line is None:
            reader.report.note(article_id, "record damaged")
        else:
            reader.report.yielded += 1
            kept.append((article_id, line))
    return kept


def _as_stored(batch: list[_Stored]) -> list[bytes | None]:
    """Each intact line as it is stored (None for a damaged one): no second encoding."""
    return [line if intact_record(line, n, sha) is not None else None for n, sha, line in batch]


def _converter_of(convert: str) -> str:
    """A worker's state: the configuration, its converter loaded once."""
    make_converter(convert)  # cached: ``records.reconvert`` finds it loaded
    return convert


def _converted(convert: str, batch: list[_Stored]) -> list[bytes | None]:
    """Each intact record converted afresh from its originals, as a line (None for a
    damaged one)."""
    lines: list[bytes | None] = []
    for article_id, sha, line in batch:
        record = intact_record(line, article_id, sha)
        converted = None if record is None else records.reconvert(record, convert)
        lines.append(None if converted is None else records.encoded(converted))
    return lines
