"""A corpus out as JSON Lines: in id order, each id once, a range or one run's records,
converted afresh if asked; a file is written beside its path and renamed when whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zkiz_corpus import records
from zkiz_corpus.outputs import STDOUT, JsonlSink
from zkiz_corpus.reading import CorpusReader
from zkiz_corpus.running import OptionsError, refuse_corpus_file

BATCH = 256  # records per write


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
) -> ExportResult:
    """Write ``corpus``'s records to ``output`` (``-``: stdout; ``.gz``: gzip).

    ``run``: only what that run committed (its number, or ``"last"``). A damaged record
    is skipped and counted; then a file ``output`` keeps its earlier content. Raises
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
            batch: list[bytes] = []
            for record in reader.records(from_id, to_id, run if isinstance(run, int) else None):
                if convert is not None:
                    record = records.reconvert(record, convert)
                batch.append(records.dumps(record).encode("utf-8"))
                result.written += 1
                if len(batch) >= BATCH:
                    sink.write(b"".join(batch))
                    batch.clear()
            sink.write(b"".join(batch))
        except BaseException:
            sink.discard()
            raise
        result.damaged, result.examples = reader.report.damaged, list(reader.report.examples)
    if result.damaged:
        sink.discard()  # keep an earlier complete file rather than a short one
    else:
        sink.close()
    return result
