"""The library in-process: the walk against a fake source and store, the plan and resume
rules, the corpus, each source, and the outcome a run's exit status comes from."""

from __future__ import annotations

import pytest

from tests.support import ROOT, SEED_A, Archive, ArticleSpec, Response, markup_div_br, page
from zkiz_corpus import (
    Cause,
    Corpus,
    CorpusLocked,
    CorpusReader,
    DirectorySource,
    FetchOptions,
    HostUnreachable,
    OptionsError,
    Outcome,
    Page,
    RunOutcome,
    WarcSource,
    fetch,
)
from zkiz_corpus.cli import ExitStatus
from zkiz_corpus.crawling import Crawler, Plan
from zkiz_corpus.running import plan_run
from zkiz_corpus.sources import HttpSource

SAMPLE = ROOT / "data" / "sample.warc.gz"


def html_of(*ids: int) -> bytes:
    specs = [ArticleSpec(n, f"第{n}號", SEED_A.paragraphs[:1]) for n in ids]
    return markup_div_br(specs).encode()


class FakeSource:
    """Pages by id; anything else a 404. Counts what it was asked for."""

    def __init__(self, pages: dict[int, bytes | Page]) -> None:
        self.pages, self.asked = pages, []

    def get(self, article_id: int) -> Page:
        self.asked.append(article_id)
        url = f"http://archive.test/?id={article_id}"
        found = self.pages.get(article_id)
        if isinstance(found, Page):
            return found
        if found is None:
            return Page.missing(url, Cause.HTTP_STATUS, "HTTP 404", http_status=404)
        return Page(url, found, "text/html; charset=utf-8")


class FakeStore:
    def __init__(self, known: dict[int, Outcome] | None = None) -> None:
        self.status = dict(known or {})
        self.records: list[dict] = []
        self.causes: dict[int, Cause | None] = {}

    def status_of(self, article_id: int) -> Outcome | None:
        return self.status.get(article_id)

    def add_article(self, article) -> None:
        self.records.append(article.record())
        self.status[article.id] = Outcome.ARTICLE

    def add_missing(self, article_id, reason, fetched_at, cause=None) -> None:
        self.status[article_id], self.causes[article_id] = Outcome.MISSING, cause

    def add_failed(self, article_id, reason, fetched_at, cause=None) -> None:
        self.status[article_id], self.causes[article_id] = Outcome.FAILED, cause


# ---- the walk ------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_walk_counts_every_id_once_and_fetches_no_article_twice(concurrency):
    busy = Page.failed("http://archive.test/?id=5", Cause.HTTP_STATUS, "HTTP 503", http_status=503)
    source = FakeSource({1: html_of(1, 2), 3: html_of(3), 5: busy, 6: b"<p>nothing</p>"})
    store = FakeStore(known={4: Outcome.ARTICLE})
    stats = Crawler(source, store, "none").run(Plan(first=1, last=7), concurrency)
    assert [r["id"] for r in store.records] == [1, 2, 3]
    assert 4 not in source.asked  # held
    if concurrency == 1:  # (workers fetch ahead; what they bring is not recorded twice)
        assert 2 not in source.asked  # seen on page 1
    assert (stats.walked, stats.articles, stats.missing, stats.failed, stats.held) == (
        7,
        3,
        2,
        1,
        1,
    )
    assert stats.failures == [(5, Cause.HTTP_STATUS, "HTTP 503")]
    assert store.causes[6] is Cause.NO_ARTICLE and store.causes[7] is Cause.HTTP_STATUS


def test_an_open_walk_stops_after_max_misses_in_a_row():
    source = FakeSource({1: html_of(1), 2: html_of(2)})
    stats = Crawler(source, FakeStore(), "none").run(Plan(first=1, max_misses=3))
    assert source.asked == [1, 2, 3, 4, 5]
    assert stats.walked == 5


def test_a_host_that_never_answers_is_unreachable_after_three_ids():
    down = Page.failed("http://archive.test/", Cause.UNREACHABLE, "connection refused")
    source = FakeSource(dict.fromkeys(range(1, 10), down))
    with pytest.raises(HostUnreachable, match="connection refused"):
        Crawler(source, FakeStore(), "none").run(Plan(first=1, last=9))
    assert source.asked == [1, 2, 3]


def test_failed_ids_are_walked_first_and_known_misses_past_the_frontier_again():
    source = FakeSource({2: html_of(2), 9: html_of(9)})
    store = FakeStore(known={8: Outcome.MISSING, 9: Outcome.MISSING, 3: Outcome.MISSING})
    plan = Plan(first=3, last=9, retry_first=[2], recheck_missing_above=8)
    Crawler(source, store, "none").run(plan)
    assert source.asked == [2, 4, 5, 6, 7, 9]  # 3 and 8 trusted, 9 probed again


# ---- the plan ------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path):
    """A corpus holding article 10, failed 7, missing 12."""
    opened = Corpus(tmp_path / "c")
    opened.start_run("2026-11-26T00:00:00Z", {"convert": "t2s"})
    opened.add_article(_record(10))
    opened.add_failed(7, "HTTP 503", "2026-11-26T00:00:00Z", Cause.HTTP_STATUS)
    opened.add_missing(12, "HTTP 404", "2026-11-26T00:00:00Z", Cause.HTTP_STATUS)
    opened.end_run("2026-11-26T00:00:01Z", 1, "some-failed", {"walked": 3, "missing": 1})
    yield opened
    opened.close()


def _record(article_id: int) -> dict:
    from zkiz_corpus import make_record
    from zkiz_corpus.parsing import Article

    return make_record(Article(article_id, "題", "文", None), "t2s", "2026-11-26T00:00:00Z")


def test_a_resumed_run_starts_after_the_newest_article_failed_ids_first(corpus):
    plan = plan_run(FetchOptions(), corpus)
    assert (plan.first, plan.last, plan.retry_first) == (11, None, [7])
    assert plan.recheck_missing_above == 10  # 12 may have been published since


def test_a_bounded_run_trusts_its_misses_and_a_file_source_bounds_the_walk(corpus):
    assert plan_run(FetchOptions(from_id=1, count=5), corpus).recheck_missing_above is None
    held = plan_run(FetchOptions(), None, held=[5, 9])
    assert (held.first, held.last, held.retry_first) == (5, 9, [])
    with pytest.raises(OptionsError, match="--from-id is required"):
        plan_run(FetchOptions(), None)


# ---- the corpus ------------------------------------------------------------------------


def test_a_corpus_has_one_writer_and_remembers_what_it_was(corpus, tmp_path):
    with pytest.raises(CorpusLocked):
        Corpus(tmp_path / "c")
    assert corpus.conversion() == "t2s"
    with CorpusReader(tmp_path / "c") as reader:
        assert [r["id"] for r in reader.records()] == [10]
        assert [(f["id"], f["cause"]) for f in reader.failed()] == [(7, "http-status")]
        (run,) = reader.runs()
        assert (run["outcome"], run["articles"], run["failed"]) == ("some-failed", 1, 1)


# ---- the sources -----------------------------------------------------------------------


def test_a_warc_source_holds_what_it_holds():
    source = WarcSource(SAMPLE)
    assert list(source.ids()) == [262804, 262805, 262806, 262807, 263624]
    assert source.get(262804).outcome is None and b"PermaLink" in source.get(262804).body
    assert source.get(1).cause is Cause.NOT_IN_SOURCE


def test_a_folder_source_reads_pages_named_by_id(tmp_path):
    (tmp_path / "7.html").write_bytes(html_of(7))
    (tmp_path / "notes.txt").write_text("not a page")
    source = DirectorySource(tmp_path)
    assert list(source.ids()) == [7]
    assert source.get(7).body == html_of(7)
    assert source.get(8).cause is Cause.NOT_IN_SOURCE


def test_the_http_source_says_what_each_answer_was():
    pages = {1: page(markup_div_br([ArticleSpec(1, "題", ("文",))])), 2: Response(503, b"busy")}
    with Archive(pages) as archive:
        source = HttpSource(archive.base_url, delay=0, retries=0, timeout=5)
        try:
            assert source.get(1).outcome is None
            failed, missing = source.get(2), source.get(3)
        finally:
            source.close()
    assert (failed.outcome, failed.cause, failed.http_status) == (
        Outcome.FAILED,
        Cause.HTTP_STATUS,
        503,
    )
    assert (missing.outcome, missing.http_status) == (Outcome.MISSING, 404)


# ---- the outcome of a run --------------------------------------------------------------


def test_the_outcome_of_a_run_and_the_exit_status_it_gives(tmp_path):
    done = fetch(FetchOptions(source=SAMPLE, corpus=tmp_path / "a"))
    assert done.outcome is RunOutcome.COMPLETE and ExitStatus.of(done.outcome) == 0
    assert (done.stats.walked, done.stats.articles, done.run_id) == (5, 2, 1)
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(SAMPLE.read_bytes()[:-300])
    broken = fetch(FetchOptions(source=cut, output=tmp_path / "out.jsonl"))
    assert broken.outcome is RunOutcome.SOURCE_DAMAGED and ExitStatus.of(broken.outcome) == 1
    assert "truncated" in (broken.source_damage or "")
    assert ExitStatus.of(RunOutcome.SOME_FAILED) == ExitStatus.of(RunOutcome.WRITE_FAILED) == 1
    assert ExitStatus.of(RunOutcome.OUTPUT_CLOSED) == 141


def test_records_stream_to_a_callback_without_a_corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen: list[int] = []
    done = fetch(FetchOptions(source=SAMPLE), on_record=lambda r: seen.append(r["id"]))
    assert done.outcome is RunOutcome.COMPLETE and done.run_id is None
    assert seen == [262804, 263624]
    assert list(tmp_path.iterdir()) == []  # no corpus was made


# ---- what an outsider found ---------------------------------------------------------


def test_a_corpus_from_before_conversions_were_kept_keeps_its_own(tmp_path):
    import sqlite3

    corpus = tmp_path / "c"
    assert fetch(FetchOptions(source=SAMPLE, corpus=corpus, convert="s2hk")).run_id == 1
    with sqlite3.connect(corpus / "state.sqlite3") as db:  # as an older version left it
        db.execute("DELETE FROM meta WHERE key = 'convert'")
        db.execute("UPDATE runs SET convert = NULL")
    with pytest.raises(OptionsError, match="holds s2hk records") as refused:
        fetch(FetchOptions(source=SAMPLE, corpus=corpus, convert="t2s"))
    assert refused.value.option == "--convert"
    seen: list[str] = []
    fetch(
        FetchOptions(source=SAMPLE, corpus=corpus, refetch=True),
        on_record=lambda r: seen.append(r["convert"]),
    )
    assert seen == ["s2hk", "s2hk"]
    with CorpusReader(corpus) as reader:
        assert reader.conversion() == "s2hk"


def test_a_corpus_without_records_has_no_conversion_yet(tmp_path):
    corpus = tmp_path / "c"
    empty = fetch(FetchOptions(source=SAMPLE, corpus=corpus, from_id=1, to_id=5))
    assert empty.stats.walked == 0
    done = fetch(FetchOptions(source=SAMPLE, corpus=corpus, convert="s2hk"))
    assert done.outcome is RunOutcome.COMPLETE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", float("inf")),
        ("timeout", 0),
        ("delay", -1),
        ("delay", float("nan")),
        ("from_id", "262804"),
        ("from_id", 1000.0),
        ("from_id", True),
        ("concurrency", "4"),
        ("retries", -1),
        ("max_misses", 0),
        ("user_agent", "a\nb"),
        ("base_url", "http://127.0.0.1:0/"),
    ],
)
def test_bad_fetch_options_are_options_errors_naming_the_option(tmp_path, field, value):
    options = FetchOptions(corpus=tmp_path / "c", **{"from_id": 1, field: value})
    with pytest.raises(OptionsError) as refused:
        fetch(options)
    assert refused.value.option == "--" + field.replace("_", "-")
    assert not (tmp_path / "c").exists()


def test_paths_may_be_strings_and_a_bad_source_is_a_source_error(tmp_path):
    from zkiz_corpus import SourceError, open_source, repair, verify

    assert next(iter(open_source(str(SAMPLE)).ids())) == 262804
    fetch(FetchOptions(source=str(SAMPLE), corpus=str(tmp_path / "c")))
    repair(str(tmp_path / "c"))  # a str path, as every other path the library takes
    assert verify(str(tmp_path / "c")).problems == []
    (tmp_path / "notes.txt").write_text("not a warc\n")
    with pytest.raises(SourceError):
        fetch(FetchOptions(source=tmp_path / "notes.txt", output=tmp_path / "o.jsonl"))


def test_an_unreachable_host_still_counts_every_id_walked(tmp_path):
    with pytest.raises(HostUnreachable):
        fetch(
            FetchOptions(
                base_url="http://127.0.0.1:9/", from_id=1, corpus=tmp_path / "c", retries=0
            )
        )
    with CorpusReader(tmp_path / "c") as reader:
        (run,) = reader.runs()
    assert run["walked"] == run["failed"] == 3


def test_progress_counts_the_ids_a_file_source_holds():
    totals: set[int | None] = set()
    fetch(
        FetchOptions(source=SAMPLE, from_id=1),
        on_progress=lambda p: totals.add(p.total),
        on_record=lambda r: None,
    )
    assert totals == {5}


def test_a_callback_that_raises_closes_the_run_first(tmp_path):
    def explode(record):
        raise RuntimeError("the caller's own bug")

    with pytest.raises(RuntimeError, match="own bug"):
        fetch(FetchOptions(source=SAMPLE, corpus=tmp_path / "c"), on_record=explode)
    with CorpusReader(tmp_path / "c") as reader:
        (run,) = reader.runs()
    assert run["ended_at"] is not None and run["outcome"] == "aborted"


def test_output_to_a_text_only_stdout_as_a_notebook_redirects_it():
    import contextlib
    import io
    import json

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        done = fetch(FetchOptions(source=SAMPLE, output="-"))
    assert done.outcome is RunOutcome.COMPLETE
    assert [json.loads(line)["id"] for line in captured.getvalue().splitlines()] == [262804, 263624]


def test_a_keyboard_interrupt_commits_what_was_fetched_and_says_interrupted(tmp_path):
    def interrupt(record):
        if record["id"] == 263624:  # after the corpus took it: both are committed
            raise KeyboardInterrupt

    done = fetch(FetchOptions(source=SAMPLE, corpus=tmp_path / "c"), on_record=interrupt)
    assert done.outcome is RunOutcome.INTERRUPTED
    with CorpusReader(tmp_path / "c") as reader:
        assert [r["id"] for r in reader.records()] == [262804, 263624]
        (run,) = reader.runs()
    assert run["outcome"] == "interrupted" and run["ended_at"] is not None
