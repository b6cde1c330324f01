"""A fetch run, the library's engine: the plan (where to start, what to retry first,
which misses to probe again), the walk of a source into a corpus or a stream, and how
the run ended. The ``zkiz fetch`` command is this function behind click options.

    from zkiz_corpus import FetchOptions, fetch
    result = fetch(FetchOptions(source="data/sample.warc.gz", corpus="corpus"))
    print(result.outcome, result.stats.articles)
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkiz_corpus import __version__, records
from zkiz_corpus.converting import backend_description, make_converter, normalise_config
from zkiz_corpus.crawling import (
    DEFAULT_MAX_MISSES,
    MAX_CONCURRENCY,
    Crawler,
    HostUnreachable,
    Plan,
    Stats,
    StreamStore,
)
from zkiz_corpus.health import SOFT_MISSES, Health, HealthMonitor, baseline
from zkiz_corpus.outcomes import Cause, Outcome
from zkiz_corpus.outputs import STDOUT, JsonlSink
from zkiz_corpus.sources import (
    DEFAULT_USER_AGENT,
    MAX_ID,
    HttpSource,
    base_url_problem,
    open_source,
)
from zkiz_corpus.storing import STATE_FILE, Corpus, WriteError, describe_os_error
from zkiz_corpus.working import MAX_WORKERS, default_workers

if TYPE_CHECKING:
    from zkiz_corpus.records import Extracted

__all__ = [
    "DEFAULT_BASE_URL",
    "FetchOptions",
    "FetchResult",
    "HostUnreachable",
    "OptionsError",
    "Progress",
    "RunOutcome",
    "fetch",
    "plan_run",
]

log = logging.getLogger("zkiz")

DEFAULT_BASE_URL = "https://articles.zkiz.com/"
DEFAULT_CONVERT = "t2s"
MAX_SECONDS = 3600.0  # --delay and --timeout: an hour is already no crawl at all
# A soft miss of a run whose health dropped is asked again by the next live runs, until
# it has been asked this many times: a maintenance hour heals, a deleted range settles.
REPROBE_ATTEMPTS = 4
# --recheck-missing=KIND: the kinds of miss, by the causes recorded for them.
RECHECK_KINDS: dict[str, frozenset[Cause] | None] = {
    "soft": SOFT_MISSES,
    "hard": frozenset({Cause.HTTP_STATUS, Cause.ROBOTS}),
    "all": None,
    "redirect": frozenset({Cause.REDIRECT}),
    "notice": frozenset({Cause.NOTICE}),
    "no-article": frozenset({Cause.NO_ARTICLE}),
    "not-found": frozenset({Cause.HTTP_STATUS}),
    "robots": frozenset({Cause.ROBOTS}),
}


class OptionsError(ValueError):
    """Options that cannot make a run; ``option`` names the one to change, if one."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class RunOutcome(Enum):
    """How a run ended; the command's exit status is derived from it alone."""

    COMPLETE = "complete"  # every id walked is an article or confirmed missing
    SOME_FAILED = "some-failed"  # some ids failed: they are retried on the next run
    HEALTH_DROPPED = "health-dropped"  # --strict, and extraction health dropped: stopped
    SOURCE_DAMAGED = "source-damaged"  # a --source broke off: what it held was read
    WRITE_FAILED = "write-failed"  # records, state, WARC or output could not be written
    INTERRUPTED = "interrupted"  # KeyboardInterrupt (or a signal made one): committed
    OUTPUT_CLOSED = "output-closed"  # the reader of the output went away (| head)
    ABORTED = "aborted"  # a caller's callback raised: committed, then raised again


@dataclass
class FetchOptions:
    """What ``zkiz fetch`` takes, by the same names. ``corpus`` None: no corpus, records
    only go to ``output`` (a path, or ``-`` for stdout) and ``on_record``."""

    from_id: int | None = None
    to_id: int | None = None
    count: int | None = None
    corpus: Path | str | None = None
    output: Path | str | None = None
    overwrite_output: bool = False  # replace ``output`` instead of appending to it
    source: Path | str | None = None  # a WARC file or a folder of N.html, not the network
    warc: Path | str | None = None  # also keep every HTTP exchange here
    base_url: str = DEFAULT_BASE_URL
    convert: str | None = None  # None: the corpus's own, or t2s
    delay: float = 1.0
    timeout: float = 30.0
    retries: int = 3
    concurrency: int = 1
    workers: int | None = None  # processes extracting pages; None: ``default_workers``
    max_misses: int = DEFAULT_MAX_MISSES
    user_agent: str = DEFAULT_USER_AGENT
    ignore_robots: bool = False
    refetch: bool = False
    strict: bool = False  # stop, and say so, when extraction health drops
    recheck_missing: str | None = None  # a kind of RECHECK_KINDS: ask those misses again
    arguments: list[str] = field(default_factory=list)  # the command line, kept per run


@dataclass
class Progress:
    article_id: int  # the id just walked
    walked: int
    total: int | None  # ids the plan walks, if bounded
    stats: Stats


@dataclass
class FetchResult:
    outcome: RunOutcome
    stats: Stats  # counts, and the first failed ids with their causes
    run_id: int | None  # the corpus's number for this run (``zkiz export --run``)
    write_error: WriteError | None = None
    source_damage: str | None = None


def plan_run(options: FetchOptions, corpus: Corpus | None, held: list[int] | None = None) -> Plan:
    """The ids to walk. No ``from_id``: a file source's first id (``held``, sorted), or
    after the corpus's newest article, its failed ids first. An open walk probes misses
    past the newest article again: they may be posts not yet published. Soft misses owed
    another ask (their run's health dropped) and ``recheck_missing`` ids go first too,
    within ``from_id``..``to_id`` when given."""
    first, last = options.from_id, options.to_id
    retry_first: list[int] = []
    again: list[int] = []
    rechecked: list[int] = []
    if first is None and held is not None:
        first = held[0]
    elif first is None:
        first = corpus.next_id() if corpus is not None else None
        if first is None:
            raise OptionsError(
                "--from-id is required: the corpus has no crawl state to continue from"
            )
        retry_first = corpus.failed_ids() if corpus is not None else []
    if options.count is not None:
        last = first + options.count - 1
    if last is None and held is not None:
        last = held[-1]  # nothing lies past the last page the source holds
    if corpus is not None and held is None:
        # Within the walk's range when one is given, as --recheck-missing; with none (a
        # cron line), wherever they are.
        again = corpus.unsettled_misses(REPROBE_ATTEMPTS, options.from_id, last)
        if again:
            log.info(
                "asking again for %d soft misses of runs whose health dropped or whose "
                "misses surged",
                len(again),
            )
        if options.recheck_missing is not None:
            kind = options.recheck_missing
            rechecked = corpus.missing_ids(
                RECHECK_KINDS[kind], options.from_id, last, unknown=kind in ("soft", "all")
            )
        retry_first = sorted({*retry_first, *again, *rechecked})
    if last is not None and last < first:
        if options.from_id is None and held is not None:
            raise OptionsError(f"--to-id {last} is below the source's first id, {first}")
        raise OptionsError(f"--to-id {last} is below --from-id {first}")
    frontier = None
    if options.to_id is None and options.count is None:
        frontier = (corpus.highest_article_id() if corpus is not None else None) or 0
    return Plan(
        first=first,
        last=last,
        max_misses=options.max_misses,
        retry_first=retry_first,
        refetch=options.refetch,
        recheck_missing_above=frontier,
        strict=options.strict,
        reprobe=frozenset(again),
        rechecked=frozenset(rechecked) - frozenset(again),
        newest=corpus.highest_article_id() if corpus is not None else None,
    )


def check_options(options: FetchOptions) -> None:
    """Usage errors that need no corpus: raised before anything is created, whether the
    options came from the command line or from a caller of ``fetch()``."""
    first, last, count = options.from_id, options.to_id, options.count
    for name, value in (("--from-id", first), ("--to-id", last), ("--count", count)):
        if value is not None:
            _whole(value, name, 1, MAX_ID)
    _whole(options.concurrency, "--concurrency", 1, MAX_CONCURRENCY)
    if options.workers is not None:
        _whole(options.workers, "--workers", 0, MAX_WORKERS)
    _whole(options.retries, "--retries", 0, MAX_ID)
    _whole(options.max_misses, "--max-misses", 1, MAX_ID)
    check_seconds(options.delay, "--delay", allow_zero=True)
    check_seconds(options.timeout, "--timeout", allow_zero=False)
    if last is not None and count is not None:
        raise OptionsError("give --to-id or --count, not both")
    if first is not None and last is not None and last < first:
        raise OptionsError(f"--to-id {last} is below --from-id {first}")
    if first is not None and count is not None and first + count > MAX_ID:
        raise OptionsError(f"--from-id {first} plus --count goes past the highest id {MAX_ID}")
    agent = options.user_agent
    if not isinstance(agent, str) or not agent.strip() or agent != agent.strip():
        raise OptionsError(f"{agent!r} is not a User-Agent", "--user-agent")
    if len(agent) > 1000 or not all(" " <= c <= "~" for c in agent):
        raise OptionsError(
            f"{agent!r} is not a User-Agent: printable ASCII on one line", "--user-agent"
        )
    if options.recheck_missing is not None and options.recheck_missing not in RECHECK_KINDS:
        raise OptionsError(
            f"{options.recheck_missing!r} is not a kind of miss: one of {', '.join(RECHECK_KINDS)}",
            "--recheck-missing",
        )
    if options.recheck_missing is not None and options.source is not None:
        raise OptionsError("--recheck-missing asks the site again: not with --source")
    if options.recheck_missing is not None and options.corpus is None:
        raise OptionsError("--recheck-missing asks again for a corpus's misses: give --corpus")
    if options.source is None:
        problem = base_url_problem(options.base_url)
        if problem is not None:
            raise OptionsError(f"{options.base_url!r}: {problem}", "--base-url")
    if options.convert is not None:
        try:
            make_converter(options.convert)
        except ValueError as exc:
            raise OptionsError(str(exc), "--convert") from None


def _whole(value: Any, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionsError(f"{value!r} is not a whole number in {low}..{high}", name)


def check_seconds(value: Any, name: str, *, allow_zero: bool) -> None:
    """``OptionsError`` unless ``value`` is a finite number of seconds, up to an hour."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and value <= MAX_SECONDS
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise OptionsError(
            f"{value!r} is not a number of seconds {bound} and <= {MAX_SECONDS:g}", name
        )


CORPUS_FILES = (
    "records.jsonl",
    "records.jsonl.compact",
    "records.salvaged",
    STATE_FILE,
    STATE_FILE + "-wal",
    STATE_FILE + "-shm",
    # duplicates.INDEX_FILE and its companions
    "dedup.sqlite3",
    "dedup.sqlite3-wal",
    "dedup.sqlite3-shm",
    "dedup.sqlite3.damaged",
)


def refuse_corpus_file(target: Path | str | None, corpus: Path | None, option: str) -> None:
    """An output path that is one of the corpus's own files would destroy it: refused;
    so is stdout, when the shell sent it there (``zkiz export >> DIR/records.jsonl``)."""
    if target is None or corpus is None:
        return
    if str(target) == STDOUT:
        try:
            out = os.fstat(1)
        except OSError:
            return
        for name in CORPUS_FILES:
            with contextlib.suppress(OSError):
                own = os.stat(corpus / name)
                if (own.st_dev, own.st_ino) == (out.st_dev, out.st_ino):
                    raise OptionsError(
                        f"stdout is the corpus's own {name}: write somewhere else", option
                    )
        return
    resolved = Path(os.path.realpath(target))
    for name in CORPUS_FILES:
        own_path = Path(os.path.realpath(corpus / name))
        same = resolved == own_path
        with contextlib.suppress(OSError):
            same = same or os.path.samefile(resolved, own_path)
        if same:
            raise OptionsError(f"{target} is the corpus's own {name}: write somewhere else", option)


def fetch(
    options: FetchOptions,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    exit_status: Callable[[RunOutcome], int] | None = None,
) -> FetchResult:
    """Run one crawl as ``options`` say and return how it went.

    ``on_record`` gets each record as it is extracted (with a corpus, it is committed in
    batches); ``on_progress`` gets a ``Progress`` after every id. ``guard`` wraps the
    sections a signal must not cut (a commit, a write of the output): the command line
    defers its signals inside it. A ``KeyboardInterrupt`` stops the run: what was fetched
    is committed, and the result says ``INTERRUPTED``. ``exit_status`` gives the status
    the run's row in the corpus records (the command line's).

    Raises ``OptionsError``, ``CorpusLocked``, ``CorpusDamaged``, ``CorpusError`` (not a
    corpus) and ``SourceError`` before anything is fetched, and ``HostUnreachable`` when
    the host never answered (what little there was is committed first).
    """
    check_options(options)
    corpus_path = Path(options.corpus) if options.corpus is not None else None
    source_path = Path(options.source) if options.source is not None else None
    fresh = corpus_path is not None and not any(
        (corpus_path / name).is_file() for name in (STATE_FILE, "records.jsonl")
    )
    if options.from_id is None and source_path is None and fresh:
        raise OptionsError(
            f"--from-id is required: {corpus_path} has no crawl state to continue from"
        )
    output_option = "-O" if options.overwrite_output else "-o"
    refuse_corpus_file(options.output, corpus_path, output_option)
    refuse_corpus_file(options.warc, corpus_path, "--warc")
    file_source = open_source(source_path) if source_path is not None else None
    sink = None
    if options.output is not None:
        sink = JsonlSink(str(options.output), append=not options.overwrite_output)
    closing: list[WriteError] = []  # failures to close the run's files
    with ExitStack() as stack:
        corpus = None
        if corpus_path is not None:
            corpus = Corpus(
                corpus_path,
                on_commit=None if sink is None else sink.write,
                guard=guard,
                record_misses=file_source is None,
            )
            stack.callback(_close, corpus.close, corpus_path, closing)
        convert = _conversion(options.convert, corpus)
        held = list(file_source.ids()) if file_source is not None else None
        plan = plan_run(options, corpus, held)
        warc = None
        if file_source is not None:
            source: Any = file_source
        else:
            warc = _warc_keeper(options.warc, stack, closing)
            source = HttpSource(
                options.base_url,
                delay=options.delay,
                retries=options.retries,
                timeout=options.timeout,
                user_agent=options.user_agent,
                obey_robots=not options.ignore_robots,
                on_exchange=None if warc is None else warc.write_exchange,
            )
            stack.callback(source.close)
        if sink is not None:
            try:
                sink.open()
            except WriteError as exc:
                raise OptionsError(str(exc), output_option) from None
            stack.callback(_close, sink.close, sink.name, closing)
        result = _run(
            options,
            plan,
            _total(plan, held),
            source,
            corpus,
            sink,
            convert,
            on_record,
            on_progress,
            guard,
            exit_status,
            warc,
        )
    if closing and result.write_error is None:
        result.outcome, result.write_error = RunOutcome.WRITE_FAILED, closing[0]
    return result


def _close(close: Callable[[], None], path: Any, failures: list[WriteError]) -> None:
    try:
        close()
    except WriteError as exc:
        failures.append(exc)
    except OSError as exc:
        failures.append(WriteError(path, describe_os_error(exc)))


def _run(
    options: FetchOptions,
    plan: Plan,
    total: int | None,
    source: Any,
    corpus: Corpus | None,
    sink: JsonlSink | None,
    convert: str,
    on_record: Callable[[dict[str, Any]], None] | None,
    on_progress: Callable[[Progress], None] | None,
    guard: Callable[[], AbstractContextManager[Any]],
    exit_status: Callable[[RunOutcome], int] | None,
    warc: Any = None,
) -> FetchResult:
    if corpus is not None:
        store: Any = corpus
    else:
        store = StreamStore(_stream_writer(sink, guard))
    if on_record is not None:
        store = _Tee(store, on_record)

    def progress(stats: Stats, article_id: int) -> None:
        if on_progress is not None:
            on_progress(Progress(article_id, stats.walked, total, stats))

    usual, carried = (0.0, 0.0), ("", "")
    live = options.source is None
    if corpus is not None:
        history = [Health.from_dict(found) for found in corpus.health_history()]
        usual = baseline(history)
        if live and history:  # a rebuild from a file is judged on its own
            carried = (history[-1].window_200, history[-1].window_all)
    monitor = HealthMonitor(
        usual=usual,
        on_warning=lambda line: log.warning("warning: %s", line),
        carried=carried,
        owes_asks=corpus is not None and live,
    )
    workers = options.workers
    if workers is None:
        workers = default_workers(beside_busy_main=options.source is None)
    crawler = Crawler(
        source,
        store,
        convert,
        on_progress=progress,
        monitor=monitor,
        workers=workers,
        warc=warc,
    )
    run_id = None
    if corpus is not None:
        run_id = corpus.start_run(records.utc_now(), _run_settings(options, convert))
    outcome = RunOutcome.COMPLETE
    write_error: WriteError | None = None
    unreachable: HostUnreachable | None = None
    raised: Exception | None = None
    try:
        stats = crawler.run(plan, options.concurrency)
    except HostUnreachable as exc:
        stats, unreachable = crawler.stats, exc
    except BrokenPipeError:
        stats, outcome = crawler.stats, RunOutcome.OUTPUT_CLOSED
    except KeyboardInterrupt:
        # The id in hand is dropped (fetched again next run); what is pending commits.
        stats, outcome = crawler.stats, RunOutcome.INTERRUPTED
        log.error("interrupted: committing what was fetched")
    except WriteError as exc:
        stats, outcome, write_error = crawler.stats, RunOutcome.WRITE_FAILED, exc
    except Exception as exc:  # a callback's: the run is closed as it stands, then it goes on
        stats, outcome, raised = crawler.stats, RunOutcome.ABORTED, exc
    if corpus is not None:
        try:  # what is still pending, before the run's row says how it ended
            corpus.commit()
        except BrokenPipeError:
            outcome = RunOutcome.OUTPUT_CLOSED
        except KeyboardInterrupt:  # a signal deferred through the commit: the row still closes
            outcome = RunOutcome.INTERRUPTED
        except WriteError as exc:
            outcome, write_error = RunOutcome.WRITE_FAILED, write_error or exc
    damage = getattr(source, "damage", None)
    if outcome is RunOutcome.COMPLETE and damage is not None:
        outcome = RunOutcome.SOURCE_DAMAGED
    if outcome is RunOutcome.COMPLETE and (stats.failed or unreachable is not None):
        outcome = RunOutcome.SOME_FAILED
    if plan.strict and stats.health.dropped and outcome in _HEALTH_OVERRIDES:
        outcome = RunOutcome.HEALTH_DROPPED
    if corpus is not None:
        try:
            code = exit_status(outcome) if exit_status is not None else None
            walk = {
                "walked": stats.walked,
                "missing": stats.missing,
                "not_in_source": stats.not_in_source,
                "held": stats.held,
            }
            health = stats.health.as_dict(windows=True)
            corpus.end_run(records.utc_now(), code, outcome.value, walk, health)
        except WriteError as exc:
            outcome, write_error = RunOutcome.WRITE_FAILED, write_error or exc
        # What the corpus committed, not what was handed to it: the record in hand
        # when the reader of stdout left was committed all the same.
        stats.records = corpus.run_counts[Outcome.ARTICLE]
    if raised is not None:
        raise raised
    if unreachable is not None:
        raise unreachable
    return FetchResult(outcome, stats, run_id, write_error, damage)


# A strict run whose health dropped says so, rather than that some ids failed.
_HEALTH_OVERRIDES = (RunOutcome.COMPLETE, RunOutcome.SOME_FAILED)


class _Tee:
    """A store that also hands each record to a caller."""

    def __init__(self, store: Any, on_record: Callable[[dict[str, Any]], None]) -> None:
        self._store, self._on_record = store, on_record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def add_article(self, article: Extracted) -> None:
        self._store.add_article(article)
        self._on_record(article.record())


def _total(plan: Plan, held: list[int] | None) -> int | None:
    """How many ids the plan walks, if bounded (a file source: the ids it holds)."""
    if held is not None:
        return sum(1 for n in held if plan.first <= n <= (plan.last or MAX_ID))
    if plan.last is None:
        return None
    outside = [n for n in plan.retry_first if not plan.first <= n <= plan.last]
    return plan.last - plan.first + 1 + len(outside)


def _conversion(wanted: str | None, corpus: Corpus | None) -> str:
    """One conversion per corpus: ``wanted``, or the corpus's own; a different one is
    refused (``zkiz export --convert`` gives the corpus in another)."""
    held = corpus.conversion() if corpus is not None else None
    if wanted is None:
        return held or DEFAULT_CONVERT
    wanted = normalise_config(wanted)
    if held is not None and wanted != held:
        raise OptionsError(
            f"the corpus holds {held} records: --convert {wanted} would mix two conversions "
            f"(zkiz export --convert {wanted} gives the corpus in {wanted})",
            "--convert",
        )
    return wanted


def _run_settings(options: FetchOptions, convert: str) -> dict[str, Any]:
    return {
        "arguments": list(options.arguments),
        "base_url": None if options.source is not None else options.base_url,
        "source": None if options.source is None else str(options.source),
        "convert": convert,
        "opencc": backend_description(),
        "version": __version__,
    }


def _stream_writer(
    sink: JsonlSink | None, guard: Callable[[], AbstractContextManager[Any]]
) -> Callable[[bytes], None]:
    def write(line: bytes) -> None:
        if sink is not None:
            with guard():
                sink.write(line)

    return write


def _warc_keeper(
    path: Path | str | None, stack: ExitStack, closing: list[WriteError]
) -> _WarcKeeper | None:
    """The WARC of ``--warc``: exchanges written by the source, or encoded by page
    workers and appended by the crawler."""
    if path is None:
        return None
    from zkiz_corpus.sources import WarcRecorder

    try:
        recorder = WarcRecorder(Path(path))
    except OSError as exc:
        raise OptionsError(f"cannot write {path}: {exc.strerror}", "--warc") from None
    stack.callback(_close, recorder.close, path, closing)
    return _WarcKeeper(recorder, path)


class _WarcKeeper:
    """A WARC recorder whose failures to write are ``WriteError``s."""

    def __init__(self, recorder: Any, path: Path | str) -> None:
        self._recorder, self._path = recorder, path

    def write_exchange(self, exchange: Any) -> None:
        try:
            self._recorder.write_exchange(exchange)
        except OSError as exc:
            raise WriteError(self._path, describe_os_error(exc)) from exc

    def append(self, data: bytes) -> None:
        try:
            self._recorder.append(data)
        except OSError as exc:
            raise WriteError(self._path, describe_os_error(exc)) from exc
