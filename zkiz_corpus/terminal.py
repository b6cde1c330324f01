"""What the command line shows: one-line messages and logs on stderr, the progress line,
the run's summary, ``status`` as text; and stdout written so that a full disk or a
closed pipe is one line too."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Any

import click

from zkiz_corpus.crawling import Stats
from zkiz_corpus.running import Progress
from zkiz_corpus.storing import WriteError, describe_os_error

log = logging.getLogger("zkiz")

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


def say(message: str) -> None:
    """One ``zkiz: ...`` line on stderr."""
    click.echo(f"zkiz: {one_line(message)}", err=True)


def plural(count: int, noun: str) -> str:
    """``1 article``, ``2 articles``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


def setup_logging(quiet: bool, verbose: bool) -> None:
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


def print_out(text: str) -> None:
    """A command's output on stdout; a failed write is a ``WriteError``, one line."""
    if sys.stdout is None:  # started with stdout closed (>&-)
        raise WriteError("stdout", "stdout is closed")
    try:
        click.echo(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        silence_stdout()
        raise WriteError("stdout", describe_os_error(exc)) from exc


def flush_stdout() -> None:
    if sys.stdout is None:  # started with stdout closed (>&-): nothing was written to it
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        silence_stdout()
        raise WriteError("stdout", describe_os_error(exc)) from exc


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    if sys.stdout is None:
        return
    try:
        target = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stdout: nothing to point
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, target)
    os.close(devnull)


def summarise(stats: Stats, quiet: bool, run_id: int | None) -> None:
    """The failed ids (an error), then the one summary line (unless ``quiet``)."""
    if stats.failures:
        shown = ", ".join(f"{article_id} ({reason})" for article_id, _, reason in stats.failures)
        hidden = stats.failed - len(stats.failures)
        more = f" and {hidden} more (zkiz status --failed)" if hidden > 0 else ""
        # Only a corpus remembers failed ids for the next run to retry.
        then = ", retried on the next run" if run_id is not None else ""
        log.error("%s failed%s: %s%s", plural(stats.failed, "id"), then, shown, more)
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


class ProgressLine:
    """done/total, rate and ETA on stderr, only when it is a terminal (or --progress)."""

    def __init__(self, wanted: bool | None, quiet: bool) -> None:
        if wanted is None:
            wanted = sys.stderr.isatty() and not quiet
        self.enabled = bool(wanted)
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.2:
            return
        self._last_draw = now
        done, total = progress.walked, progress.total
        rate = done / max(now - self.started, 1e-9)
        text = f"id {progress.article_id}  {done}"
        if total:
            eta = (total - done) / rate if rate > 0 else 0
            text += f"/{total} ({100 * done / total:.0f}%)  ETA {_clock(eta)}"
        text += f"  {rate:.1f} ids/s  {plural(progress.stats.articles, 'article')}"
        click.echo(f"\r\x1b[K{text}", err=True, nl=False)
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            click.echo("\r\x1b[K", err=True, nl=False)
            self._drawn = False


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def status_text(summary: dict[str, Any], failed: bool) -> str:
    """``zkiz status`` for people; with ``failed``, the failed ids, one per line."""
    if failed:
        return "\n".join(
            f"{row['id']}\t{row['cause'] or '-'}\t{row['reason'] or ''}"
            for row in summary["failed_ids"]
        )
    lines = [
        f"corpus:             {summary['corpus']}",
        f"articles:           {summary['articles']}",
        f"missing:            {summary['missing']}" + _by_kind(summary.get("missing_by_kind")),
        f"failed:             {summary['failed']}"
        + (" (zkiz status --failed lists them)" if summary["failed"] else ""),
        f"highest article id: {_or_none(summary['highest_article_id'])}",
        f"next run starts at: {_or_none(summary['next_id'], 'needs --from-id')}",
        f"conversion:         {_or_none(summary['convert'])}",
        f"size:               {summary['size_bytes']} bytes",
    ]
    last = summary["last_run"]
    if last:
        where = last.get("source") or last.get("base_url")
        lines.append(
            f"last run:           {last['id']}, {last['started_at']} .. "
            f"{last['ended_at'] or 'running or killed'}{f', from {where}' if where else ''}: "
            f"{plural(last['articles'], 'article')}, {last['missing']} missing, "
            f"{last['failed']} failed"
            + (f", {last['held']} already in the corpus" if last.get("held") else "")
        )
    if last and isinstance(last.get("health"), dict):
        live = last.get("source") is None
        lines.append(f"last run's health:  {health_text(last['health'], live=live)}")
    if summary.get("health", {}).get("pages"):
        lines.append(f"corpus health:      {health_text(summary['health'])}")
    lines.extend(f"damage:             {problem}" for problem in summary["damage"])
    return "\n".join(lines)


def _by_kind(counts: dict[str, int] | None) -> str:
    if not counts:
        return ""
    return " (" + ", ".join(f"{count} {cause}" for cause, count in counts.items()) + ")"


def health_text(health: dict[str, Any], *, live: bool = True) -> str:
    """One line of extraction health (``health.Health.as_dict()``) for people; ``live``:
    the run fetched from the site, so its misses are asked again when it surged."""
    articles = health.get("articles") or 0
    parts = [f"{plural(health.get('pages') or 0, 'page')} fetched"]
    if articles:
        share = health.get("source_url_share") or 0
        parts.append(
            f"{plural(articles, 'article')} (mean {health.get('mean_text_chars')} characters, "
            f"{health.get('empty_text', 0)} empty, {health.get('short_text', 0)} very short, "
            f"{share:.0%} with a source URL)"
        )
    for key, one, many in (
        ("no_article", "page without an article", "pages without an article"),
        ("notices", "notice", "notices"),
        ("redirects", "redirect", "redirects"),
        ("chrome_titles", "title that is site chrome", "titles that are site chrome"),
        ("long_titles", "overlong title", "overlong titles"),
    ):
        if health.get(key):
            parts.append(f"{health[key]} {one if health[key] == 1 else many}")
    line = ", ".join(parts)
    if health.get("dropped"):
        at = health.get("dropped_at")
        line += f"; DROPPED at id {at} (zkiz parse {at} -v shows what is read"
        poor = health.get("poor_from")
        if poor is not None:
            # Poor records are articles: only a refetch replaces them.
            line += f"; once it reads right, zkiz fetch --refetch --from-id {poor} redoes them"
        line += ")"
    elif health.get("surged"):
        line += "; misses surged (maintenance?)"
        line += ": the next run asks for them again" if live else ""
    if health.get("still_down"):
        line += "; the misses asked again were missing again"
    if health.get("runs_dropped"):
        line += f"; {plural(health['runs_dropped'], 'run')} with a drop"
    return line


def _or_none(value: Any, instead: str = "none yet") -> str:
    return instead if value is None else str(value)
