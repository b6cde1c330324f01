"""The ``zkiz`` command: a thin click layer over the library.

stdout carries records and nothing else; logs, progress and errors go to stderr. Every
error a user can cause is one line on stderr and a documented exit status.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from zkiz_corpus import __version__, records
from zkiz_corpus.checking import repair, verify
from zkiz_corpus.converting import (
    ConversionError,
    backend_description,
    make_converter,
    normalise_config,
)
from zkiz_corpus.crawling import (
    DEFAULT_MAX_MISSES,
    MAX_CONCURRENCY,
    Crawler,
    HostUnreachable,
    Plan,
    Stats,
    StreamStore,
)
from zkiz_corpus.fetching import (
    DEFAULT_USER_AGENT,
    MAX_ID,
    HttpSource,
    SourceError,
    base_url_problem,
    escaped,
    open_source,
)
from zkiz_corpus.outcomes import Outcome
from zkiz_corpus.outputs import STDOUT, JsonlSink
from zkiz_corpus.reading import CorpusReader
from zkiz_corpus.storing import (
    STATE_FILE,
    Corpus,
    CorpusDamaged,
    CorpusError,
    CorpusLocked,
    WriteError,
    describe_os_error,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 75, 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as shells and systemd expect
MAX_SECONDS = 3600.0  # --delay and --timeout: an hour is already no crawl at all
EXIT_BROKEN_PIPE = 128 + 13
DEFAULT_BASE_URL = "https://articles.zkiz.com/"
DEFAULT_CORPUS = "zkiz-corpus"

log = logging.getLogger("zkiz")


class Failure(click.ClickException):
    """A user-caused error that is not about usage: one line, its own exit status."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """``text`` with control characters escaped: a path holding a newline or an escape
    sequence cannot split a message or drive the terminal. Other Unicode is kept."""

    def escape(match: re.Match[str]) -> str:
        if match.group() in _SHORT_ESCAPES:
            return _SHORT_ESCAPES[match.group()]
        code = ord(match.group())
        if 0xDC80 <= code <= 0xDCFF:  # a byte of a non-UTF-8 file name (surrogateescape)
            code -= 0xDC00
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escape, text)


def _say(message: str) -> None:
    """One ``zkiz: ...`` line on stderr."""
    click.echo(f"zkiz: {one_line(message)}", err=True)


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


class OneLineErrors(click.Group):
    """Print any error as one ``zkiz: ...`` line on stderr, never a traceback."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name, standalone_mode=False, **extra)
            _flush_stdout()  # here, not at exit, so a full disk is one line too
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except WriteError as exc:
            _say(str(exc))
            sys.exit(EXIT_FAILED)
        except click.exceptions.NoArgsIsHelpError as exc:
            # ``zkiz`` alone asks what the tool does: the help, as --help gives it.
            _print(exc.ctx.get_help())
            sys.exit(EXIT_OK)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            _say(f"{exc.format_message()}{hint}")
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            _say(exc.format_message())
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            _say("interrupted")
            sys.exit(_Interrupts.exit_code())
        sys.exit(result if isinstance(result, int) else EXIT_OK)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # As Abort, so click does not print its blank line before ours.
            raise click.exceptions.Abort() from None


def _print(text: str) -> None:
    """A command's output on stdout; a failed write is a ``WriteError``, one line."""
    if sys.stdout is None:  # started with stdout closed (>&-)
        raise WriteError("stdout", "stdout is closed")
    try:
        click.echo(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        _silence_stdout()
        raise WriteError("stdout", describe_os_error(exc)) from exc


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _silence_stdout()
        raise WriteError("stdout", describe_os_error(exc)) from exc


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO  # -q wins
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("zkiz: %(message)s"))
    root = logging.getLogger("zkiz")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # urllib3's own lines are its internals (connection pools, Retry objects): never
    # shown. The retries are said in our words (-v), and the failures in the summary.
    http_log = logging.getLogger("urllib3")
    http_log.handlers[:] = [logging.NullHandler()]
    http_log.propagate = False


def _convert_option(value: str) -> str:
    try:
        make_converter(value)
    except ConversionError as exc:
        raise click.BadParameter(str(exc), param_hint="'--convert'") from None
    return normalise_config(value)


def _validate_convert(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else _convert_option(value)


def _validate_base_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{escaped(value, 200)!r} is not an http(s) URL", param_hint="'--base-url'"
        )
    problem = base_url_problem(value)
    if problem is not None:
        raise click.BadParameter(
            f"{escaped(value, 200)!r}: {escaped(problem, 200)}", param_hint="'--base-url'"
        )
    return value


def _validate_user_agent(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # An HTTP header value: printable ASCII, one line (anything else is refused by the
    # HTTP client on every request, or splits the header).
    if (
        not value.strip()
        or value != value.strip()  # the HTTP client refuses a value with leading space
        or len(value) > 1000
        or not all(" " <= c <= "~" for c in value)
    ):
        raise click.BadParameter(
            f"{escaped(value, 80)!r} is not a User-Agent: printable ASCII on one line",
            param_hint="'--user-agent'",
        )
    return value


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    _print(f"zkiz {__version__} (OpenCC {backend_description()})")
    ctx.exit(EXIT_OK)


class _Seconds(click.ParamType):
    """A finite number of seconds within bounds (``nan``, ``inf`` and ``1e300`` are not)."""

    name = "seconds"

    def __init__(self, low: float, high: float, low_open: bool = False) -> None:
        self.low, self.high, self.low_open = low, high, low_open

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{escaped(str(value))!r} is not a number of seconds", param, ctx)
        low_ok = seconds > self.low if self.low_open else seconds >= self.low
        if not (math.isfinite(seconds) and low_ok and seconds <= self.high):
            bound = ">" if self.low_open else ">="
            self.fail(f"{value} is not {bound} {self.low:g} and <= {self.high:g}", param, ctx)
        return seconds


ID = click.IntRange(min=1, max=MAX_ID)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version (and the OpenCC backend in use) and exit.",
)
def cli() -> None:
    """Build a clean Chinese text corpus from the ZKIZ Archives (articles.zkiz.com).

    \b
    Examples:
      zkiz fetch --from-id 262804                 # crawl from an id into ./zkiz-corpus
      zkiz fetch --from-id 262804 --to-id 263624 --source data/sample.warc.gz -o -
      zkiz status
      zkiz export -o corpus.jsonl.gz
    """
    _setup_logging(quiet=False, verbose=False)  # fetch sets its own -q/-v


@cli.command()
@click.option("--from-id", type=ID, help="First permalink id (default: after the highest seen).")
@click.option("--to-id", type=ID, help="Last id, inclusive.")
@click.option(
    "--count", type=click.IntRange(min=1, max=MAX_ID), help="Walk this many ids from --from-id."
)
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    envvar="ZKIZ_CORPUS",
    help="Corpus directory [env ZKIZ_CORPUS; default ./zkiz-corpus, none with -o].",
)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Also append the run's records as JSONL to PATH (gzip if .gz), or - for stdout.",
)
@click.option(
    "-O",
    "--overwrite-output",
    metavar="PATH",
    help="As -o, but replace PATH instead of appending to it.",
)
@click.option(
    "--base-url",
    default=DEFAULT_BASE_URL,
    show_default=True,
    callback=_validate_base_url,
    help="Host serving the archive's ?id=N pages.",
)
@click.option(
    "--source",
    type=click.Path(path_type=Path),
    help="Read pages from a WARC file or a folder of N.html files, not the network.",
)
@click.option(
    "--convert",
    default="t2s",
    show_default=True,
    callback=_validate_convert,
    help="OpenCC configuration (t2s, hk2s, tw2s, s2t, s2hk, ...) or none.",
)
@click.option(
    "--delay",
    type=_Seconds(0, MAX_SECONDS),
    default=1.0,
    show_default=True,
    help="Seconds between requests.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=MAX_CONCURRENCY),
    default=1,
    show_default=True,
    help="Requests in flight.",
)
@click.option(
    "--max-misses",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_MISSES,
    show_default=True,
    help="Without --to-id, stop after this many ids in a row hold no article.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Retries per request on timeouts, dropped connections, 429 and 5xx.",
)
@click.option(
    "--timeout",
    type=_Seconds(0, MAX_SECONDS, low_open=True),
    default=30.0,
    show_default=True,
    help="Seconds a whole response may take: connect, headers and body.",
)
@click.option(
    "--warc",
    type=click.Path(path_type=Path),
    help="Also keep every HTTP exchange in this WARC file (appended).",
)
@click.option(
    "--user-agent", default=DEFAULT_USER_AGENT, show_default=True, callback=_validate_user_agent
)
@click.option("--ignore-robots", is_flag=True, help="Do not fetch or obey robots.txt.")
@click.option("--refetch", is_flag=True, help="Fetch ids the corpus already holds again.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress on stderr [default: when stderr is a terminal].",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="Debug log on stderr.")
def fetch(**options: Any) -> int:
    """Fetch archive pages and write one JSON record per article.

    Ids already in the corpus are skipped; with no --from-id the walk continues after
    the highest id seen, which is what a cron line runs. Without --to-id or --count it
    stops after --max-misses ids in a row hold no article.

    \b
    Examples:
      zkiz fetch --from-id 262804
      zkiz fetch --from-id 262804 --count 100 -o - | jq -r .title
      zkiz fetch --from-id 262804 --to-id 263624 --source data/sample.warc.gz -o -
      zkiz fetch --corpus ~/zkiz -q              # nightly: continue where it stopped

    \b
    Exit status: 0 every id resolved (article or confirmed missing); 1 some ids failed
    (they are retried next run), the host is unreachable, a write failed or the corpus
    is damaged; 2 usage error; 75 the
    corpus is locked by another run; 130 SIGINT, 143 SIGTERM; 141 the reader of -o - went
    away.
    """
    _setup_logging(options["quiet"], options["verbose"])
    interrupts = _Interrupts()
    with interrupts.installed():  # from the start: a signal in start-up is obeyed too
        return _run_fetch(options, interrupts)


def _plan(options: dict[str, Any], corpus: Corpus | None, held: list[int] | None) -> Plan:
    """``held``: the ids a file source holds (sorted), walked from the first by default."""
    first, last, count = options["from_id"], options["to_id"], options["count"]
    retry_first: list[int] = []
    if first is None and held is not None:
        first = held[0]
    elif first is None:
        first = corpus.next_id() if corpus is not None else None
        if first is None:
            raise click.UsageError(
                "--from-id is required: the corpus has no crawl state to continue from"
            )
        retry_first = corpus.failed_ids() if corpus is not None else []
    if count is not None:
        last = first + count - 1
    if last is not None and last < first:
        raise click.UsageError(f"--to-id {last} is below --from-id {first}")
    # Misses past the newest article may be posts not yet published: an open walk
    # probes them again instead of trusting the last run.
    frontier = corpus.highest_article_id() if corpus is not None and last is None else None
    return Plan(
        first=first,
        last=last,
        max_misses=options["max_misses"],
        retry_first=retry_first,
        refetch=options["refetch"],
        recheck_missing_above=None if last is not None else (frontier or 0),
    )


def _check_options(options: dict[str, Any]) -> None:
    """Usage errors that need no corpus: refused before anything is created."""
    first, last = options["from_id"], options["to_id"]
    if last is not None and options["count"] is not None:
        raise click.UsageError("give --to-id or --count, not both")
    if first is not None and last is not None and last < first:
        raise click.UsageError(f"--to-id {last} is below --from-id {first}")
    if first is not None and options["count"] is not None and first + options["count"] > MAX_ID:
        raise click.UsageError(f"--from-id {first} plus --count goes past the highest id {MAX_ID}")


def _open_file_source(path: Path) -> Any:
    try:
        return open_source(path)
    except SourceError as exc:
        raise click.BadParameter(str(exc), param_hint="'--source'") from None


def _http_source(options: dict[str, Any], stack: ExitStack, on_exchange: Any) -> HttpSource:
    source = HttpSource(
        options["base_url"],
        delay=options["delay"],
        retries=options["retries"],
        timeout=options["timeout"],
        user_agent=options["user_agent"],
        obey_robots=not options["ignore_robots"],
        on_exchange=on_exchange,
    )
    stack.callback(source.close)
    return source


CORPUS_FILES = (
    "records.jsonl",
    "records.jsonl.compact",
    "records.salvaged",
    STATE_FILE,
    STATE_FILE + "-wal",
    STATE_FILE + "-shm",
)


def _refuse_corpus_file(target: str | Path | None, corpus: Path | None, option: str) -> None:
    """An output path that is one of the corpus's own files would destroy it: refused."""
    if target is None or corpus is None or str(target) == STDOUT:
        return
    resolved = Path(os.path.realpath(target))
    for name in CORPUS_FILES:
        own = Path(os.path.realpath(corpus / name))
        same = resolved == own
        with contextlib.suppress(OSError):
            same = same or os.path.samefile(resolved, own)
        if same:
            raise click.BadParameter(
                f"{target} is the corpus's own {name}: write somewhere else",
                param_hint=f"'{option}'",
            )


def _output_sink(options: dict[str, Any]) -> JsonlSink | None:
    if options["output"] is not None and options["overwrite_output"] is not None:
        raise click.UsageError("give -o (append) or -O (overwrite), not both")
    if options["overwrite_output"] is not None:
        return JsonlSink(options["overwrite_output"], append=False)
    return None if options["output"] is None else JsonlSink(options["output"], append=True)


def _open_corpus(path: Path, **settings: Any) -> Corpus:
    try:
        return Corpus(path, **settings)
    except CorpusLocked as exc:
        raise Failure(str(exc), EXIT_LOCKED) from None
    except CorpusDamaged as exc:
        raise Failure(str(exc), EXIT_FAILED) from None
    except CorpusError as exc:
        raise click.BadParameter(str(exc), param_hint="'--corpus'") from None


def _run_fetch(options: dict[str, Any], interrupts: _Interrupts) -> int:
    sink = _output_sink(options)
    corpus_path = options["corpus"]
    if corpus_path is None and sink is None:
        corpus_path = Path(DEFAULT_CORPUS)
    if (
        options["from_id"] is None
        and options["source"] is None
        and corpus_path is not None
        and not (corpus_path / STATE_FILE).is_file()
        and not (corpus_path / "records.jsonl").is_file()
    ):
        raise click.UsageError(
            f"--from-id is required: {corpus_path} has no crawl state to continue from"
        )
    _check_options(options)
    _refuse_corpus_file(options["output"], corpus_path, "-o")
    _refuse_corpus_file(options["overwrite_output"], corpus_path, "-O")
    _refuse_corpus_file(options["warc"], corpus_path, "--warc")
    file_source = _open_file_source(options["source"]) if options["source"] else None
    errors: list[WriteError] = []  # the first is reported, in one line
    with ExitStack() as stack:
        corpus = None
        if corpus_path is not None:
            corpus = _open_corpus(
                corpus_path,
                on_commit=None if sink is None else sink.write,
                guard=interrupts.critical,
                record_misses=file_source is None,
            )
            stack.callback(_close_quietly, corpus.close, corpus_path, errors)
        held = list(file_source.ids()) if file_source is not None else None
        plan = _plan(options, corpus, held)
        if file_source is not None:
            source = file_source
            if plan.last is None:  # nothing lies past the last page the source holds
                plan.last = held[-1]
        else:
            source = _http_source(options, stack, _open_warc(options["warc"], stack, errors))
        if sink is not None:
            try:
                sink.open()
            except WriteError as exc:
                option = "-o" if options["output"] is not None else "-O"
                raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None
            stack.callback(_close_quietly, sink.close, sink.name, errors)
        store = corpus if corpus is not None else StreamStore(_guarded(sink, interrupts))
        progress = _Progress(plan, options)
        stack.callback(progress.finish)
        crawler = Crawler(
            source,
            store,
            options["convert"],
            on_progress=progress.update,
        )
        run_id = corpus.start_run(records.utc_now()) if corpus is not None else None
        code = EXIT_OK
        unreachable = False
        try:
            stats = crawler.run(plan, options["concurrency"])
        except HostUnreachable as exc:
            stats, unreachable, code = crawler.stats, True, EXIT_FAILED
            log.error("cannot reach %s (%s)", options["base_url"], exc)
        except BrokenPipeError:
            # The reader went away (| head): stop quietly, as a tool killed by SIGPIPE.
            _silence_stdout()
            stats, code = crawler.stats, EXIT_BROKEN_PIPE
        except KeyboardInterrupt:
            # The id in hand is dropped (fetched again next run); what is pending commits.
            stats, code = crawler.stats, _Interrupts.exit_code()
            progress.finish()
            log.error("interrupted: committing what was fetched")
        except WriteError as exc:
            stats, code = crawler.stats, EXIT_FAILED
            errors.append(exc)
        if corpus is not None:
            try:  # what is still pending, before the run's row says how it ended
                corpus.commit()
            except BrokenPipeError:
                _silence_stdout()
                code = EXIT_BROKEN_PIPE
            except WriteError as exc:
                errors.append(exc)
        if (stats.failed and code == EXIT_OK) or errors:
            code = EXIT_FAILED
        damage = getattr(file_source, "damage", None)
        if damage is not None:  # what it held was read; the rest is lost, and that is said
            log.error("%s", damage)
            code = EXIT_FAILED if code == EXIT_OK else code
        if corpus is not None:
            try:
                corpus.end_run(records.utc_now(), code)
            except WriteError as exc:
                errors.append(exc)
                code = EXIT_FAILED
            # What the corpus committed, not what was handed to it: the record in hand
            # when the reader of stdout left was committed all the same.
            stats.records = corpus.run_counts[Outcome.ARTICLE]
        progress.finish()
        if errors:
            _report_write_error(errors[0], sink, run_id)
        elif not unreachable:
            _summarise(stats, options["quiet"], run_id)
        return code


def _report_write_error(error: WriteError, sink: JsonlSink | None, run_id: int | None) -> None:
    message = str(error)
    if sink is not None and run_id is not None and str(error.path) == sink.name:
        message += f" (the run's committed records: zkiz export --run {run_id})"
    log.error("%s", message)


def _close_quietly(close: Any, path: Any, errors: list[WriteError]) -> None:
    """Close a file of the run; a failure is one line, unless one was said already."""
    try:
        close()
    except (WriteError, OSError) as exc:
        if not isinstance(exc, WriteError):
            exc = WriteError(path, describe_os_error(exc))
        if not errors:
            errors.append(exc)
            log.error("%s", exc)
        raise click.exceptions.Exit(EXIT_FAILED) from None


def _guarded(sink: JsonlSink | None, interrupts: _Interrupts) -> Any:
    def write(record: dict[str, Any]) -> None:
        if sink is not None:
            with interrupts.critical():
                sink.write(records.dumps(record).encode("utf-8"))

    return write


def _open_warc(path: Path | None, stack: ExitStack, errors: list[WriteError]) -> Any:
    if path is None:
        return None
    from zkiz_corpus.warc import WarcRecorder

    try:
        recorder = WarcRecorder(path)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {path}: {exc.strerror}", param_hint="'--warc'"
        ) from None
    stack.callback(_close_quietly, recorder.close, path, errors)

    def write_exchange(exchange: Any) -> None:
        try:
            recorder.write_exchange(exchange)
        except OSError as exc:
            raise WriteError(path, describe_os_error(exc)) from exc

    return write_exchange


def plural(count: int, noun: str) -> str:
    """``1 article``, ``2 articles``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _summarise(stats: Stats, quiet: bool, run_id: int | None) -> None:
    if stats.failures:
        shown = ", ".join(f"{article_id} ({reason})" for article_id, reason in stats.failures)
        hidden = stats.failed - len(stats.failures)
        more = f" and {hidden} more (zkiz status --failed)" if hidden > 0 else ""
        log.error(
            "%s failed, retried on the next run: %s%s", plural(stats.failed, "id"), shown, more
        )
    if quiet:
        return
    rate = stats.walked / stats.elapsed if stats.elapsed > 0 else 0.0
    buckets = [plural(stats.articles, "article"), f"{stats.missing} missing"]
    if stats.not_in_source:
        buckets.append(f"{stats.not_in_source} not in the source")
    buckets += [f"{stats.failed} failed", f"{stats.held} already in the corpus"]
    extra = (
        f"; {plural(stats.records, 'record')} written" if stats.records != stats.articles else ""
    )
    log.info(
        "%s%s walked: %s (%.1f s, %.1f ids/s%s)",
        "" if run_id is None else f"run {run_id}: ",
        plural(stats.walked, "id"),
        ", ".join(buckets),
        stats.elapsed,
        rate,
        extra,
    )


class _Interrupts:
    """SIGINT and SIGTERM stop a run, but never in the middle of a commit or a record.

    Inside ``critical()`` a signal is only noted; it takes effect when the section ends,
    so stdout never gets half a line and the corpus never half a batch. A second signal
    while the first is being obeyed ends the process at once (what was committed stays
    committed, as after kill -9), never with a traceback. The exit status is 128 + the
    first signal: 130 for SIGINT, 143 for SIGTERM.
    """

    signum: int | None = None  # the first stop signal of this process

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False

    @classmethod
    def exit_code(cls) -> int:
        return 128 + cls.signum if cls.signum is not None else EXIT_INTERRUPTED

    def _handle(self, signum: int, frame: Any) -> None:
        if _Interrupts.signum is not None:
            os.write(2, b"zkiz: interrupted again: stopping now\n")
            os._exit(_Interrupts.exit_code())
        _Interrupts.signum = signum
        # The interpreter puts the default handlers back as it exits, and a signal then
        # kills it with a status of -2: by then the exit status is decided, so ignore.
        atexit.register(_ignore_stop_signals)
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        _Interrupts.signum = None
        try:
            previous = {sig: signal.signal(sig, self._handle) for sig in _STOP_SIGNALS}
        except ValueError:  # not the main thread (embedded use): leave signals alone
            yield
            return
        try:
            yield
        finally:
            # Once stopping, stay in charge: a second signal on the way out ends the
            # process with the same status, not with the default handler's traceback.
            if _Interrupts.signum is None:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _ignore_stop_signals() -> None:
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class _Progress:
    """done/total, rate and ETA on stderr, only when it is a terminal (or --progress)."""

    def __init__(self, plan: Plan, options: dict[str, Any]) -> None:
        wanted = options["progress"]
        if wanted is None:
            wanted = sys.stderr.isatty() and not options["quiet"]
        self.enabled = bool(wanted)
        self.total = None
        if plan.last is not None:
            outside = [n for n in plan.retry_first if not plan.first <= n <= plan.last]
            self.total = plan.last - plan.first + 1 + len(outside)
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, stats: Stats, article_id: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.2:
            return
        self._last_draw = now
        done = stats.walked
        rate = done / max(now - self.started, 1e-9)
        text = f"id {article_id}  {done}"
        if self.total:
            eta = (self.total - done) / rate if rate > 0 else 0
            text += f"/{self.total} ({100 * done / self.total:.0f}%)  ETA {_clock(eta)}"
        text += f"  {rate:.1f} ids/s  {plural(stats.articles, 'article')}"
        click.echo(f"\r\x1b[K{text}", err=True, nl=False)
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            click.echo("\r\x1b[K", err=True, nl=False)
            self._drawn = False


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


CORPUS_OPTION = click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    envvar="ZKIZ_CORPUS",
    default=DEFAULT_CORPUS,
    show_default=True,
    help="Corpus directory [env ZKIZ_CORPUS].",
)


@cli.command()
@CORPUS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(corpus: Path, as_json: bool) -> int:
    """Show what a corpus holds and how its last run went.

    Reads only: works on a read-only corpus and while a crawl is running. Damage that
    shows without reading every record (a missing or short records file) is reported
    and makes the exit status 1; 'zkiz verify' checks every record.

    \b
    Examples:
      zkiz status
      zkiz status --corpus ~/zkiz --json | jq .next_id
    """
    with _reading(corpus) as reader:
        summary = reader.summary()
    if as_json:
        _print(json.dumps(summary, ensure_ascii=False))
    else:
        last = summary["last_run"]
        lines = [
            f"corpus:     {summary['corpus']}",
            f"articles:   {summary['articles']}",
            f"missing:    {summary['missing']}",
            f"failed:     {summary['failed']}",
            f"highest id: {summary['highest_id']}",
            f"next id:    {summary['next_id']}",
            f"size:       {summary['size_bytes']} bytes",
        ]
        if last:
            lines.append(
                f"last run:   {last['id']}, {last['started_at']} .. "
                f"{last['ended_at'] or 'running or killed'}: {last['articles']} articles, "
                f"{last['missing']} missing, {last['failed']} failed"
            )
        lines.extend(f"damage:     {problem}" for problem in summary["damage"])
        _print("\n".join(lines))
    for problem in summary["damage"]:
        log.error("%s (zkiz verify --corpus %s)", problem, corpus)
    return EXIT_FAILED if summary["damage"] else EXIT_OK


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[CorpusReader]:
    """A reader of the corpus at ``path``; its failures as one line each."""
    try:
        reader = CorpusReader(path)
    except CorpusDamaged as exc:
        raise Failure(str(exc)) from None
    except CorpusError as exc:
        raise click.BadParameter(str(exc), param_hint="'--corpus'") from None
    try:
        yield reader
    except CorpusDamaged as exc:
        raise Failure(str(exc)) from None
    except CorpusError as exc:
        raise Failure(str(exc)) from None
    finally:
        reader.close()


def _run_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | int | None:
    if value is None or value == "last":
        return value
    if value.isascii() and value.isdigit() and 0 < int(value) < 2**63:
        return int(value)
    raise click.BadParameter(f"{value!r} is not a run id (a number, or 'last')")


@cli.command()
@CORPUS_OPTION
@click.option("--from-id", type=ID, help="Only ids from this one.")
@click.option("--to-id", type=ID, help="Only ids up to this one.")
@click.option(
    "--run",
    callback=_run_option,
    metavar="ID|last",
    help="Only the records run ID committed (see 'zkiz status'), or the last run's.",
)
@click.option(
    "--convert",
    callback=_validate_convert,
    help="Re-convert stored originals with this OpenCC configuration (or none).",
)
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    metavar="PATH",
    help="JSONL file (gzip if it ends in .gz), replaced when complete; - for stdout.",
)
def export(
    corpus: Path,
    from_id: int | None,
    to_id: int | None,
    run: str | int | None,
    convert: str | None,
    output: str,
) -> int:
    """Write the corpus as JSONL in id order, each id once.

    A damaged record is skipped and counted on stderr (exit status 1); the rest is
    written. -o PATH is written beside PATH and renamed into place when complete.

    \b
    Examples:
      zkiz export > corpus.jsonl
      zkiz export --from-id 262804 --convert s2hk -o hk.jsonl.gz
      zkiz export --run last -o tonight.jsonl     # what the last fetch committed
    """
    if from_id is not None and to_id is not None and to_id < from_id:
        raise click.UsageError(f"--to-id {to_id} is below --from-id {from_id}")
    if output.endswith(".parquet"):
        raise click.BadParameter(
            "Parquet output is not built yet: write .jsonl or .jsonl.gz", param_hint="'-o'"
        )
    _refuse_corpus_file(output, corpus, "-o")
    sink = JsonlSink(output, atomic=output != STDOUT)
    with _reading(corpus) as reader:
        runs = reader.run_ids() if run is not None else []
        if run == "last":
            if not runs:
                raise Failure(f"{corpus} has no runs yet")
            run = runs[-1]
        elif run is not None and run not in runs:
            raise Failure(f"{corpus} has no run {run} (zkiz status shows the last one)")
        sink.open()
        try:
            batch: list[bytes] = []
            for record in reader.records(from_id, to_id, run):
                if convert is not None:
                    record = records.reconvert(record, convert)
                batch.append(records.dumps(record).encode("utf-8"))
                if len(batch) >= 256:
                    sink.write(b"".join(batch))
                    batch.clear()
            sink.write(b"".join(batch))
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        except BaseException:
            sink.discard()
            raise
        report = reader.report
    if report.damaged:
        log.error(
            "skipped %d damaged record%s (%s): run 'zkiz verify --corpus %s'",
            report.damaged,
            "" if report.damaged == 1 else "s",
            "; ".join(report.examples),
            corpus,
        )
        sink.discard()  # keep an earlier complete file rather than a short one
        return EXIT_FAILED
    sink.close()
    return EXIT_OK


@cli.command(name="verify")
@CORPUS_OPTION
@click.option(
    "--repair",
    is_flag=True,
    help="Mend what can be mended (takes the corpus's lock, as a fetch does).",
)
def verify_command(corpus: Path, repair: bool) -> int:
    """Check every record of a corpus against its state: offsets, whole lines, sha256.

    Nothing is written without --repair. With it, an unreadable state is set aside and
    rebuilt from records.jsonl, and damaged records are set aside in records.salvaged
    (never deleted) and their ids forgotten, so the next fetch gets them again.

    \b
    Exit status: 0 the corpus is sound (or was repaired); 1 damage found (or left after
    --repair); 2 not a corpus; 75 a fetch holds the corpus.

    \b
    Examples:
      zkiz verify --corpus ~/zkiz
      zkiz verify --corpus ~/zkiz --repair
    """
    if not corpus.is_dir() or not any(
        (corpus / name).exists() for name in (STATE_FILE, "records.jsonl")
    ):
        raise click.BadParameter(f"{corpus} is not a zkiz corpus", param_hint="'--corpus'")
    if repair:
        try:
            actions = _repair(corpus)
        except CorpusLocked as exc:
            raise Failure(str(exc), EXIT_LOCKED) from None
        for action in actions:
            click.echo(f"repaired: {one_line(action)}", err=True)
    found = verify(corpus)
    for note in found.notes:
        _say(f"note: {note}")
    for problem in found.problems:
        _say(problem)
    if found.problems:
        return EXIT_FAILED
    _say(f"{corpus}: {found.records} records, all intact")
    return EXIT_OK


def _repair(path: Path) -> list[str]:
    try:
        return repair(path)
    except CorpusLocked:
        raise
    except CorpusError as exc:
        raise Failure(str(exc)) from None


@cli.command()
def schema() -> int:
    """Print the JSON Schema (draft 2020-12) of a record.

    \b
    Examples:
      zkiz schema > record.schema.json
      zkiz schema | jq '.properties | keys'
    """
    _print(json.dumps(records.SCHEMA, ensure_ascii=False, indent=2))
    return EXIT_OK


def main() -> None:
    # Every command stops on SIGINT/SIGTERM with 130/143 and one line; fetch nests its
    # own handling, which also keeps a signal from cutting a commit in half.
    if sys.stderr is None:  # started with stderr closed (2>&-): errors go nowhere, quietly
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    try:
        with _Interrupts().installed():
            cli(prog_name="zkiz")
    finally:
        # The exit status is decided; a signal while the interpreter shuts down (which
        # puts the default handlers back) must not turn it into death by signal.
        _ignore_stop_signals()
