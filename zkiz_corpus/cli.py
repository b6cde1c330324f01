"""The ``zkiz`` command: click options mapped to the library, its results and errors
mapped to exit statuses (``ExitStatus``, in one place) and one-line messages.

stdout carries records and nothing else; logs, progress and errors go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from enum import IntEnum
from pathlib import Path
from typing import Any

import click

from zkiz_corpus import records, running
from zkiz_corpus.checking import is_corpus, verify
from zkiz_corpus.checking import repair as repair_corpus
from zkiz_corpus.duplicates import Mode, find_duplicates
from zkiz_corpus.exporting import NoSuchRun
from zkiz_corpus.exporting import export as export_corpus
from zkiz_corpus.interrupts import Interrupts, ignore_stop_signals
from zkiz_corpus.outcomes import Outcome
from zkiz_corpus.params import (
    CORPUS_OPTION,
    DEFAULT_CORPUS,
    ID,
    THRESHOLD_OPTION,
    WORKERS_OPTION,
    base_url_option,
    convert_option,
    fetch_options,
    print_version,
    run_option,
)
from zkiz_corpus.reading import CorpusReader
from zkiz_corpus.running import FetchOptions, HostUnreachable, OptionsError, RunOutcome
from zkiz_corpus.sources import SourceError
from zkiz_corpus.storing import (
    CorpusDamaged,
    CorpusError,
    CorpusLocked,
    WriteError,
    describe_os_error,
)
from zkiz_corpus.tables import MissingExtra
from zkiz_corpus.terminal import (
    ProgressLine,
    flush_stdout,
    one_line,
    print_out,
    say,
    setup_logging,
    silence_stdout,
    status_text,
    summarise,
)


class ExitStatus(IntEnum):
    OK = 0
    FAILED = 1  # ids failed, host unreachable, a write failed, damage
    USAGE = 2
    HEALTH_DROPPED = 65  # EX_DATAERR: --strict, and pages stopped reading as articles
    LOCKED = 75  # EX_TEMPFAIL: another run holds the corpus
    SIGINT = 130
    SIGTERM = 143
    BROKEN_PIPE = 141

    @classmethod
    def of(cls, outcome: RunOutcome) -> int:
        if outcome is RunOutcome.INTERRUPTED or Interrupts.signum is not None:
            return Interrupts.exit_code()
        if outcome is RunOutcome.OUTPUT_CLOSED:
            return cls.BROKEN_PIPE
        if outcome is RunOutcome.HEALTH_DROPPED:
            return cls.HEALTH_DROPPED
        return cls.OK if outcome is RunOutcome.COMPLETE else cls.FAILED

    @classmethod
    def of_error(cls, exc: BaseException) -> int:
        if isinstance(exc, (OptionsError, SourceError, click.UsageError, MissingExtra)):
            return cls.USAGE
        if isinstance(exc, CorpusLocked):
            return cls.LOCKED
        if isinstance(exc, CorpusError) and not isinstance(exc, CorpusDamaged):
            return cls.USAGE  # not a corpus: --corpus names something else
        return cls.FAILED


class OneLineErrors(click.Group):
    """Print any error as one ``zkiz: ...`` line on stderr, never a traceback."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name, standalone_mode=False, **extra)
            flush_stdout()  # here, not at exit, so a full disk is one line too
        except BrokenPipeError:
            silence_stdout()
            sys.exit(ExitStatus.BROKEN_PIPE)
        except click.exceptions.NoArgsIsHelpError as exc:
            print_out(exc.ctx.get_help())  # zkiz alone: what the tool does
            sys.exit(ExitStatus.OK)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            say(f"{exc.format_message()}{hint}")
            sys.exit(ExitStatus.USAGE)
        except click.ClickException as exc:
            say(exc.format_message())
            sys.exit(exc.exit_code)
        except (
            OptionsError,
            CorpusError,
            SourceError,
            WriteError,
            HostUnreachable,
            NoSuchRun,
            MissingExtra,
        ) as exc:
            option = getattr(exc, "option", None)
            if type(exc) is CorpusError:  # not a corpus: what --corpus names
                option = "--corpus"
            say(f"Invalid value for '{option}': {exc}" if option else str(exc))
            sys.exit(ExitStatus.of_error(exc))
        except click.exceptions.Abort:
            say("interrupted")
            sys.exit(Interrupts.exit_code())
        except OSError as exc:  # click writing --help or --version to a full stdout
            silence_stdout()
            say(str(WriteError("stdout", describe_os_error(exc))))
            sys.exit(ExitStatus.FAILED)
        sys.exit(result if isinstance(result, int) else ExitStatus.OK)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Here, inside click's main: it would take the error for its own and exit 1.
            silence_stdout()
            sys.exit(ExitStatus.BROKEN_PIPE)
        except KeyboardInterrupt:
            # As Abort, so click does not print its blank line before ours.
            raise click.exceptions.Abort() from None


# ---- commands ----------------------------------------------------------------------------


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
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
    setup_logging(quiet=False, verbose=False)  # fetch sets its own -q/-v


@cli.command()
@fetch_options
def fetch(output: str | None, overwrite_output: str | None, **given: Any) -> int:
    """Fetch archive pages and write one JSON record per article.

    Ids already in the corpus are skipped; with no --from-id the walk continues after
    the highest id seen (a file source: from the first id it holds), which is what a
    cron line runs. Without --to-id or --count it stops after --max-misses ids in a row
    hold no article. A corpus keeps one --convert.

    \b
    Examples:
      zkiz fetch --from-id 262804
      zkiz fetch --from-id 262804 --count 100 -o - | jq -r .title
      zkiz fetch --source data/sample.warc.gz -o -
      zkiz fetch --corpus ~/zkiz -q              # nightly: continue where it stopped

    \b
    Exit status: 0 every id resolved (article or confirmed missing); 1 some ids failed
    (they are retried next run), the host is unreachable, a write failed or the corpus
    is damaged; 2 usage error; 65 --strict and extraction health dropped; 75 the corpus
    is locked by another run; 130 SIGINT, 143 SIGTERM; 141 the reader of -o - went away.
    """
    quiet, verbose, wanted = (given.pop(name) for name in ("quiet", "verbose", "progress"))
    setup_logging(quiet, verbose)
    if output is not None and overwrite_output is not None:
        raise click.UsageError("give -o (append) or -O (overwrite), not both")
    if given["corpus"] is None and output is None and overwrite_output is None:
        given["corpus"] = Path(DEFAULT_CORPUS)
    options = FetchOptions(
        output=overwrite_output or output,
        overwrite_output=overwrite_output is not None,
        arguments=sys.argv[1:],
        **given,
    )
    interrupts = Interrupts()
    progress = ProgressLine(wanted, quiet)
    with interrupts.installed():  # from the start: a signal in start-up is obeyed too
        try:
            result = running.fetch(
                options,
                on_progress=progress.update,
                guard=interrupts.critical,
                exit_status=ExitStatus.of,
            )
        except HostUnreachable as exc:
            raise HostUnreachable(f"cannot reach {options.base_url} ({exc})") from None
        finally:
            progress.finish()
    if result.outcome is RunOutcome.OUTPUT_CLOSED:
        silence_stdout()  # the reader went away (| head): stop quietly, as after SIGPIPE
    if result.source_damage is not None:  # what it held was read; the rest is lost
        say(result.source_damage)
    if result.write_error is not None:
        message = str(result.write_error)
        if str(result.write_error.path) == str(options.output) and result.run_id is not None:
            message += f" (the run's committed records: zkiz export --run {result.run_id})"
        say(message)
    else:
        summarise(result.stats, quiet, result.run_id)
    return ExitStatus.of(result.outcome)


@cli.command()
@CORPUS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@click.option("--failed", is_flag=True, help="List the failed ids: id, cause, reason.")
def status(corpus: Path, as_json: bool, failed: bool) -> int:
    """Show what a corpus holds and how its last run went.

    Reads only: works on a read-only corpus and while a crawl is running. Damage that
    shows without reading every record (a missing or short records file) is reported
    and makes the exit status 1; 'zkiz verify' checks every record.

    \b
    Examples:
      zkiz status
      zkiz status --failed
      zkiz status --corpus ~/zkiz --json | jq .next_id
    """
    with CorpusReader(corpus) as reader:
        summary = reader.summary()
    if as_json:
        print_out(json.dumps(summary, ensure_ascii=False))
    elif not failed or summary["failed_ids"]:
        print_out(status_text(summary, failed))
    for problem in summary["damage"]:
        say(f"{problem} (zkiz verify --corpus {corpus})")
    return ExitStatus.FAILED if summary["damage"] else ExitStatus.OK


@cli.command()
@CORPUS_OPTION
@click.option("--from-id", type=ID, help="Only ids from this one.")
@click.option("--to-id", type=ID, help="Only ids up to this one.")
@click.option(
    "--run",
    callback=run_option,
    metavar="ID|last",
    help="Only the records run ID committed (see 'zkiz status'), or the last run's.",
)
@click.option(
    "--convert",
    callback=convert_option,
    help="Re-convert stored originals with this OpenCC configuration (or none).",
)
@click.option(
    "--dedup",
    type=click.Choice([mode.value for mode in Mode]),
    help="Leave out duplicate reposts: 'exact' (the same normalised text) or 'near' "
    "(MinHash, --threshold); each cluster keeps its lowest id.",
)
@THRESHOLD_OPTION
@click.option(
    "--mark-duplicates",
    is_flag=True,
    help="With --dedup: write duplicates too, each with duplicate_of (the kept id; null "
    "on the others).",
)
@WORKERS_OPTION
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    metavar="PATH",
    help="JSONL file (gzip if it ends in .gz; Parquet if in .parquet), replaced when "
    "complete; - for stdout.",
)
def export(corpus: Path, output: str, **given: Any) -> int:
    """Write the corpus as JSONL (or Parquet) in id order, each id once.

    A damaged record is skipped and counted on stderr (exit status 1); the rest is
    written. -o PATH is written beside PATH and renamed into place when complete.
    --dedup brings the corpus's duplicate index (dedup.sqlite3) up to date first, as
    'zkiz dedup' does.

    \b
    Examples:
      zkiz export > corpus.jsonl
      zkiz export --from-id 262804 --convert s2hk -o hk.jsonl.gz
      zkiz export --run last -o tonight.jsonl     # what the last fetch committed
      zkiz export --dedup near -o corpus.parquet  # one record a story, for DuckDB
    """
    interrupts = Interrupts()
    with interrupts.installed():
        done = export_corpus(corpus, output, guard=interrupts.critical, **given)
    _say_index_notes(done.index_rebuilt, done.index_temporary)
    if not done.damaged:
        return ExitStatus.OK
    say(
        f"skipped {done.damaged} damaged record{'' if done.damaged == 1 else 's'} "
        f"({'; '.join(done.examples)}): run 'zkiz verify --corpus {corpus}'"
    )
    return ExitStatus.FAILED


@cli.command()
@CORPUS_OPTION
@click.option(
    "--mode",
    type=click.Choice([mode.value for mode in Mode]),
    default=Mode.NEAR.value,
    show_default=True,
    help="'exact': the same normalised text; 'near': MinHash over 5-character shingles.",
)
@THRESHOLD_OPTION
@click.option("--rebuild", is_flag=True, help="Build the index afresh, not only add to it.")
@WORKERS_OPTION
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    metavar="PATH",
    help="Where the clusters go: JSONL (Parquet if PATH ends in .parquet); - for stdout.",
)
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def dedup(corpus: Path, output: str, quiet: bool, **given: Any) -> int:
    """Find duplicate reposts: print each cluster of them as one JSON line.

    A line: {"kept": the lowest id, "size": N, "ids": [...], "duplicates": [{"id": ..,
    "similarity": ..}]}, similarity with the kept record. Texts are compared in one
    normal form: Simplified, punctuation width and whitespace folded. The index
    (dedup.sqlite3 in the corpus) keeps what it has seen, so a nightly run only adds
    the new records; it is rebuilt by itself when the threshold or a refetched record
    asks for it. 'zkiz export --dedup' writes the corpus without the duplicates.

    \b
    Exit status: 0 done; 1 damage, or a write failed; 2 usage error; 75 another run is
    updating the index.

    \b
    Examples:
      zkiz dedup > clusters.jsonl
      zkiz dedup --mode exact -q | jq -c '[.kept, .size]'
      zkiz dedup --threshold 0.8 -o clusters.parquet
    """
    interrupts = Interrupts()
    with interrupts.installed():
        mode = Mode(given.pop("mode"))
        done = find_duplicates(corpus, output, mode=mode, guard=interrupts.critical, **given)
    update = done.update
    _say_index_notes(update.rebuilt, done.temporary)
    if update.damaged:
        say(f"skipped {update.damaged} damaged records: run 'zkiz verify --corpus {corpus}'")
    if not quiet:
        threshold = f" (threshold {done.threshold:g})" if done.mode is Mode.NEAR else ""
        say(
            f"{update.records} records ({update.added} new to the index): {done.clusters} "
            f"{done.mode.value}-duplicate clusters, {done.duplicates} records not kept"
            f"{threshold}"
        )
    return ExitStatus.FAILED if update.damaged else ExitStatus.OK


def _say_index_notes(rebuilt: str | None, temporary: bool) -> None:
    """What ``dedup`` and ``export --dedup`` say of the duplicate index, when it was
    built afresh or aside."""
    if rebuilt:
        say(f"note: the duplicate index was built afresh: {rebuilt}")
    if temporary:
        say("note: the corpus cannot be written to: its duplicate index was built aside")


@cli.command(name="verify")
@CORPUS_OPTION
@click.option(
    "--repair", is_flag=True, help="Mend what can be mended (takes the corpus's lock, as fetch)."
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
    if not is_corpus(corpus):
        raise CorpusError(f"{corpus} is not a zkiz corpus")
    if repair:
        try:
            actions = repair_corpus(corpus)
        except CorpusLocked:
            raise
        except CorpusError as exc:  # what cannot be mended: exit 1, not a usage error
            raise CorpusDamaged(str(exc)) from None
        for action in actions:
            click.echo(f"repaired: {one_line(action)}", err=True)
    found = verify(corpus)
    for note in found.notes:
        say(f"note: {note}")
    for problem in found.problems:
        say(problem)
    if found.problems:
        return ExitStatus.FAILED
    say(f"{corpus}: {found.records} records, all intact")
    return ExitStatus.OK


@cli.command()
@click.argument("target", metavar="ID|PATH|-")
@click.option(
    "--base-url",
    default=running.DEFAULT_BASE_URL,
    show_default=True,
    callback=base_url_option,
    help="Host serving the archive's ?id=N pages.",
)
@click.option(
    "--source",
    type=click.Path(path_type=Path),
    help="Read the id from a WARC file or a folder of N.html files, not the network.",
)
@click.option(
    "--convert",
    default="t2s",
    show_default=True,
    callback=convert_option,
    help="OpenCC configuration, or none.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Say on stderr how the page was read: lines dropped as chrome and why, the "
    "title and source URL taken.",
)
def parse(target: str, base_url: str, source: Path | None, convert: str, verbose: bool) -> int:
    """Print one page's records as JSONL, touching no corpus.

    ID fetches ?id=ID from --base-url (one request, robots.txt obeyed) or reads it from
    --source; PATH reads a saved page (./123 for a file named with digits only), and -
    reads one from standard input. The tool for a record that looks wrong.

    \b
    Exit status: 0 the page holds articles (the id's own, for an ID); 1 it holds none,
    or not the id asked for (the reason on stderr, what it holds on stdout), or it could
    not be fetched; 2 usage error.

    \b
    Examples:
      zkiz parse 262804 -v
      zkiz parse 262804 --source data/sample.warc.gz | jq .title
      curl -s 'https://articles.zkiz.com/?id=262804' | zkiz parse - -v
    """
    page: int | str = target
    if target.isascii() and target.isdigit():
        page = ID.convert(target, None, click.get_current_context())
    from zkiz_corpus.inspecting import inspect_page  # BeautifulSoup: only here

    found = inspect_page(page, base_url=base_url, source=source, convert=convert, explain=verbose)
    for line in found.trace:
        say(line)
    for record in found.records:
        print_out(records.dumps(record)[:-1])
    if found.outcome is Outcome.ARTICLE:
        return ExitStatus.OK
    say(f"{found.url}: {found.reason}")
    return ExitStatus.FAILED


@cli.command()
def schema() -> int:
    """Print the JSON Schema (draft 2020-12) of a record.

    \b
    Examples:
      zkiz schema > record.schema.json
      zkiz schema | jq '.properties | keys'
    """
    print_out(json.dumps(records.SCHEMA, ensure_ascii=False, indent=2))
    return ExitStatus.OK


def main() -> None:
    # Every command stops on SIGINT/SIGTERM with 130/143 and one line; fetch nests its
    # own handling, which also keeps a signal from cutting a commit in half.
    if sys.stderr is None:  # started with stderr closed (2>&-): errors go nowhere, quietly
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    try:
        with Interrupts().installed():
            cli(prog_name="zkiz")
    finally:
        # The exit status is decided; a signal while the interpreter shuts down (which
        # puts the default handlers back) must not turn it into death by signal.
        ignore_stop_signals()
