"""What the command line accepts: click's parameter types and checks for ``zkiz``'s
options, and ``fetch``'s options as one decorator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from zkiz_corpus import __version__
from zkiz_corpus.converting import (
    ConversionError,
    backend_description,
    make_converter,
    normalise_config,
)
from zkiz_corpus.crawling import DEFAULT_MAX_MISSES, MAX_CONCURRENCY
from zkiz_corpus.running import DEFAULT_BASE_URL, RECHECK_KINDS, OptionsError, check_seconds
from zkiz_corpus.sources import DEFAULT_USER_AGENT, MAX_ID
from zkiz_corpus.sources.base import escaped
from zkiz_corpus.terminal import print_out
from zkiz_corpus.working import MAX_WORKERS

DEFAULT_CORPUS = "zkiz-corpus"
WORKERS_OPTION = click.option(
    "--workers",
    type=click.IntRange(min=0, max=MAX_WORKERS),
    default=None,
    help="Processes that parse and convert; 0: the main one does [default: one per "
    "core, less one for a crawl of the site; none on one core].",
)


THRESHOLD_OPTION = click.option(
    "--threshold",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True),
    default=0.6,
    show_default=True,
    help="Near duplicates: the estimated Jaccard similarity of their 5-character "
    "shingles at which two records are one story.",
)


def convert_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        make_converter(value)
    except ConversionError as exc:
        raise click.BadParameter(str(exc)) from None
    return normalise_config(value)


def base_url_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{escaped(value, 200)!r} is not an http(s) URL")
    return value


def print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        print_out(f"zkiz {__version__} (OpenCC {backend_description()})")
        ctx.exit(0)


def run_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | int | None:
    if value is None or value == "last":
        return value
    if value.isascii() and value.isdigit() and 0 < int(value) < 2**63:
        return int(value)
    raise click.BadParameter(f"{value!r} is not a run id (a number, or 'last')")


class Seconds(click.ParamType):
    """A number of seconds, within the bounds the library checks (``nan``, ``inf`` and
    ``1e300`` are not)."""

    name = "seconds"

    def __init__(self, allow_zero: bool) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{escaped(str(value))!r} is not a number of seconds", param, ctx)
        try:
            check_seconds(seconds, f"--{param.name}" if param else "", allow_zero=self.allow_zero)
        except OptionsError as exc:
            self.fail(str(exc), param, ctx)
        return seconds


ID = click.IntRange(min=1, max=MAX_ID)
CORPUS_OPTION = click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    envvar="ZKIZ_CORPUS",
    default=DEFAULT_CORPUS,
    show_default=True,
    help="Corpus directory [env ZKIZ_CORPUS].",
)


_FETCH_OPTIONS = [
    click.option(
        "--from-id", type=ID, help="First permalink id (default: after the highest seen)."
    ),
    click.option("--to-id", type=ID, help="Last id, inclusive."),
    click.option("--count", type=ID, help="Walk this many ids from --from-id."),
    click.option(
        "--corpus",
        type=click.Path(path_type=Path),
        envvar="ZKIZ_CORPUS",
        help="Corpus directory [env ZKIZ_CORPUS; default ./zkiz-corpus, none with -o].",
    ),
    click.option(
        "-o",
        "--output",
        metavar="PATH",
        help="Also append the run's records as JSONL to PATH (gzip if .gz), or - for stdout.",
    ),
    click.option(
        "-O", "--overwrite-output", metavar="PATH", help="As -o, but replace PATH, not append."
    ),
    click.option(
        "--base-url",
        default=DEFAULT_BASE_URL,
        show_default=True,
        callback=base_url_option,
        help="Host serving the archive's ?id=N pages.",
    ),
    click.option(
        "--source",
        type=click.Path(path_type=Path),
        help="Read pages from a WARC file or a folder of N.html files, not the network.",
    ),
    click.option(
        "--convert",
        callback=convert_option,
        help="OpenCC configuration (t2s, hk2s, tw2s, s2t, s2hk, ...) or none "
        "[default: the corpus's own, else t2s].",
    ),
    click.option(
        "--delay",
        type=Seconds(allow_zero=True),
        default=1.0,
        show_default=True,
        help="Seconds between requests.",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(min=1, max=MAX_CONCURRENCY),
        default=1,
        show_default=True,
        help="Requests in flight.",
    ),
    WORKERS_OPTION,
    click.option(
        "--max-misses",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_MISSES,
        show_default=True,
        help="Without --to-id, stop after this many ids in a row hold no article.",
    ),
    click.option(
        "--retries",
        type=click.IntRange(min=0),
        default=3,
        show_default=True,
        help="Retries per request on timeouts, dropped connections, 429 and 5xx.",
    ),
    click.option(
        "--timeout",
        type=Seconds(allow_zero=False),
        default=30.0,
        show_default=True,
        help="Seconds a whole response may take: connect, headers and body.",
    ),
    click.option(
        "--warc",
        type=click.Path(path_type=Path),
        help="Also keep every HTTP exchange in this WARC file (appended).",
    ),
    click.option("--user-agent", default=DEFAULT_USER_AGENT, show_default=True),
    click.option("--ignore-robots", is_flag=True, help="Do not fetch or obey robots.txt."),
    click.option("--refetch", is_flag=True, help="Fetch ids the corpus already holds again."),
    click.option(
        "--recheck-missing",
        is_flag=False,
        flag_value="soft",
        default=None,
        type=click.Choice(list(RECHECK_KINDS)),
        metavar="[=KIND]",
        help="Ask again for ids recorded missing: soft (the default: redirect, notice, "
        "no-article), hard (not-found, robots), all, or one of those kinds.",
    ),
    click.option(
        "--strict",
        is_flag=True,
        help="Stop with exit status 65 when extraction health drops (pages the parser "
        "cannot read).",
    ),
    click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress on stderr [default: when stderr is a terminal].",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (even with -v)."),
    click.option("-v", "--verbose", is_flag=True, help="A line for every id and every retry."),
]


def fetch_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``fetch``'s options, in the order ``--help`` lists them."""
    for option in reversed(_FETCH_OPTIONS):
        command = option(command)
    return command
