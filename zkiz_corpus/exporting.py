"""A corpus out as JSON Lines: in id order, each id once, a range or one run's records,
converted afresh if asked; a file is written beside its path and renamed when whole."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

from zkiz_corpus import records
from zkiz_corpus.converting import make_converter
from zkiz_corpus.outputs import STDOUT, JsonlSink
from zkiz_corpus.reading import CorpusReader
from zkiz_corpus.running import OptionsError, refuse_corpus_file
from zkiz_corpus.storing import intact_record
from zkiz_corpus.working import WorkerDied, WorkerPool, default_workers

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


def export(
    corpus: Path | str,
    output: Path | str = STDOUT,
    *,
    from_id: int | None = None,
    to_id: int | None = None,
    run: int | str | None = None,
    convert: str | None = None,
    workers: int | None = None,
) -> ExportResult:
    """Write ``corpus``'s records to ``output`` (``-``: stdout; ``.gz``: gzip).

    ``run``: only what that run committed (its number, or ``"last"``). ``convert``: each
    record converted afresh, by ``workers`` processes (None: one per core). A damaged
    record is skipped and counted; then a file ``output`` keeps its earlier content. Raises
    ``OptionsError`` for a bad range or output, ``NoSuchRun``, and ``CorpusError`` for
    no corpus.
    """
    corpus, output = Path(corpus), str(output)
    if from_id is not None and to_id is not None and to_id < from_id:
        raise OptionsError(f"--to-id {to_id} is below --from-id {from_id}")
    if output.endswith(".parquet"):
        raise OptionsError("Parquet output is not built yet: write .jsonl or .jsonl.gz", "-o")
    refuse_corpus_file(output, corpus, "-o")
    sink = JsonlSink(output, atomic=output != STDOUT)
    result = ExportResult()
    with CorpusReader(corpus) as reader:
        runs = reader.run_ids() if run is not None else []
        if run == "last":
            if not runs:
                raise NoSuchRun(f"{corpus} has no runs yet")
            run = runs[-1]
        elif run is not None and run not in runs:
            raise NoSuchRun(f"{corpus} has no run {run} (zkiz status shows the last one)")
        sink.open()
        try:
            for lines in _exported(reader, from_id, to_id, run, convert, workers):
                sink.write(b"".join(lines))
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


def _exported(
    reader: CorpusReader,
    low: int | None,
    high: int | None,
    run: int | str | None,
    convert: str | None,
    workers: int | None,
) -> Iterator[list[bytes]]:
    """The lines to write, a batch at a time, in id order: as stored, or converted
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
        batches = _chain(first, batches)
    try:
        in_flight: deque[tuple[list[_Stored], Future[list[bytes | None]] | None]] = deque()
        for batch in batches:
            future = None
            if pool is not None:
                try:
                    future = pool.submit(_converted, batch)
                except WorkerDied:  # an export is only reading: the rest is done here
                    pool.close()
                    pool = None
            in_flight.append((batch, future))
            if len(in_flight) > 2 * count or pool is None:
                yield _result(reader, job, *in_flight.popleft())
        while in_flight:
            yield _result(reader, job, *in_flight.popleft())
    finally:
        if pool is not None:
            pool.close()


def _chain(first: list[list[_Stored]], rest: Iterator[list[_Stored]]) -> Iterator[list[_Stored]]:
    yield from first
    yield from rest


def _result(
    reader: CorpusReader,
    job: Callable[[list[_Stored]], list[bytes | None]],
    batch: list[_Stored],
    future: Future[list[bytes | None]] | None,
) -> list[bytes]:
    """A batch's lines: its worker's, or done here (none was handed it, or it died)."""
    try:
        lines = job(batch) if future is None else WorkerPool.result(future)
    except WorkerDied:
        lines = job(batch)
    return _kept(reader, batch, lines)


def _kept(reader: CorpusReader, batch: list[_Stored], lines: list[bytes | None]) -> list[bytes]:
    kept = []
    for (article_id, _, _), line in zip(batch, lines):
        if line is None:
            reader.report.note(article_id, "record damaged")
        else:
            reader.report.yielded += 1
            kept.append(line)
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
        lines.append(None if converted is None else records.dumps(converted).encode("utf-8"))
    return lines
