"""Extraction health: a crawl that says when pages stop reading as articles, stops on
it with --strict, and asks again for what a maintenance hour or a template change
wrongly made missing."""

from __future__ import annotations

import json

import pytest

from tests.support import (
    SEED_A,
    Archive,
    ArticleSpec,
    jsonl,
    markup_div_br,
    markup_semantic,
    page,
    redirect,
    run_in_process,
    run_zkiz,
)

MESSAGE_PAGE = (
    "<html><head><meta http-equiv='Content-Type' content='text/html; charset=utf8' />"
    "<title>ZKIZ.com - Message</title></head><body>"
    "<div class='reply' style='margin:20px auto; padding:20px; width:80%;'>"
    "<h3>系統維護</h3><div style='font-size:14px; font-weight:bold' id='msg'>"
    "<div>系統正在維護中，請稍後再來。</div>"
    "<div style='margin:30px 0 10px 0'><a class='button' onclick='history.go(-1);'>返回</a>"
    "</div></div></div></body></html>"
)
# What a reader's browser shows once the site renders articles with a script: nothing
# the parser can read.
SCRIPT_RENDERED = (
    "<html><head><meta charset='utf-8'><title>ZKIZ Archives</title></head><body>"
    "<div id='app'></div><script>window.__POST__ = {id: %d, title: '第%d號'};</script>"
    "</body></html>"
)


def article(n: int) -> ArticleSpec:
    return ArticleSpec(n, f"第{n}號文章", SEED_A.paragraphs[n % 5 : n % 5 + 2])


def good_pages(ids: range) -> dict:
    markups = [markup_div_br, markup_semantic]
    return {n: page(markups[n % 2]([article(n)])) for n in ids}


def fetch_args(archive: Archive, corpus, *more: str) -> list[str]:
    return ["fetch", "--base-url", archive.base_url, "--corpus", str(corpus), "--delay", "0", *more]


def status(corpus) -> dict:
    done = run_in_process("status", "--corpus", str(corpus), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def warnings_in(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if "warning:" in line]


# ---- a template change mid-run -----------------------------------------------------


@pytest.fixture
def switching_archive():
    """Ids 1-160: articles up to 60, then pages the parser cannot read."""
    pages = good_pages(range(1, 61))
    pages.update({n: page(SCRIPT_RENDERED % (n, n)) for n in range(61, 161)})
    with Archive(pages) as archive:
        yield archive


def test_a_template_change_mid_run_warns_once_within_the_window(switching_archive, tmp_path):
    done = run_zkiz(
        *fetch_args(switching_archive, tmp_path / "c", "--from-id", "1", "--to-id", "160")
    )
    assert done.returncode == 0, done.stderr
    warned = warnings_in(done.stderr)
    assert len(warned) == 1, done.stderr
    at = int(warned[0].split("dropped at id ")[1].split(":")[0])
    assert 61 < at <= 61 + 50, warned  # within the window of the switch
    assert f"zkiz parse {at} -v" in warned[0]
    health = status(tmp_path / "c")["last_run"]["health"]
    assert health["dropped"] is True and health["dropped_at"] == at
    assert health["no_article"] == 100 and health["articles"] == 60
    assert health["no_article_share"] == pytest.approx(100 / 160, abs=0.001)
    text = run_in_process("status", "--corpus", str(tmp_path / "c")).stdout.decode()
    assert f"DROPPED at id {at}" in text
    assert "100 pages without an article" in text


def test_strict_stops_with_its_own_exit_status_and_keeps_what_it_read(switching_archive, tmp_path):
    corpus = tmp_path / "c"
    done = run_zkiz(
        *fetch_args(switching_archive, corpus, "--from-id", "1", "--to-id", "160", "--strict")
    )
    assert done.returncode == 65, done.stderr
    assert "stopping (--strict): extraction health dropped at id" in done.stderr.decode()
    assert len(switching_archive.requests) < 160  # stopped, not walked to the end
    exported = jsonl(run_in_process("export", "--corpus", str(corpus)).stdout)
    assert [r["id"] for r in exported] == list(range(1, 61))
    last = status(corpus)["last_run"]
    assert last["outcome"] == "health-dropped" and last["exit_code"] == 65


def test_strict_is_quiet_on_a_healthy_crawl_with_ordinary_gaps(tmp_path):
    pages = good_pages(range(1, 81))
    for n in range(5, 81, 7):  # a gap in seven, as deleted posts leave them
        pages[n] = [redirect("/"), page(MESSAGE_PAGE)][n % 2]
    with Archive(pages) as archive:
        done = run_zkiz(
            *fetch_args(archive, tmp_path / "c", "--from-id", "1", "--to-id", "80", "--strict")
        )
    assert done.returncode == 0, done.stderr
    assert warnings_in(done.stderr) == []
    health = status(tmp_path / "c")["last_run"]["health"]
    assert health["dropped"] is False and health["surged"] is False
    assert health["notices"] + health["redirects"] == len(range(5, 81, 7))


def test_articles_turning_empty_is_a_drop_too(tmp_path):
    pages = good_pages(range(1, 41))
    pages.update({n: page(markup_div_br([ArticleSpec(n, f"第{n}號", ())])) for n in range(41, 101)})
    with Archive(pages) as archive:
        done = run_zkiz(
            *fetch_args(archive, tmp_path / "c", "--from-id", "1", "--to-id", "100", "--strict")
        )
    assert done.returncode == 65, done.stderr
    health = status(tmp_path / "c")["last_run"]["health"]
    assert health["empty_text"] > 0 and health["dropped"] is True


def test_the_corpus_norm_is_the_baseline_not_a_fixed_share(tmp_path):
    """A corpus where a third of the 200 pages have always been article-less is not
    alarmed by a window where half are, and is when most are; a run that dropped does
    not teach the norm."""

    def share_poor(first: int, count: int, every: int) -> dict:
        return {
            n: page(SCRIPT_RENDERED % (n, n))
            if n % every == 0
            else page(markup_div_br([article(n)]))
            for n in range(first, first + count)
        }

    with Archive(share_poor(1, 400, 3)) as archive:  # a third poor: the norm
        corpus = tmp_path / "c"
        first = run_zkiz(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "400"))
        assert first.returncode == 0 and warnings_in(first.stderr) == []
        archive.pages.update(share_poor(401, 200, 2))  # half: within this corpus's norm
        second = run_zkiz(*fetch_args(archive, corpus, "--from-id", "401", "--to-id", "600"))
        assert warnings_in(second.stderr) == []
        archive.pages.update({n: page(SCRIPT_RENDERED % (n, n)) for n in range(601, 1001)})
        for first_id in (601, 701, 801, 901):  # a broken template, night after night
            night = run_zkiz(
                *fetch_args(
                    archive, corpus, "--from-id", str(first_id), "--count", "100", "--strict"
                )
            )
            assert night.returncode == 65, (first_id, night.stderr)


# ---- soft misses are asked again ---------------------------------------------------


@pytest.mark.parametrize("next_run", ["continue", "same-range"])
def test_a_maintenance_hour_heals_on_the_next_run_with_no_option(tmp_path, next_run):
    corpus = tmp_path / "c"
    with Archive(good_pages(range(41, 61))) as archive:
        first = run_in_process(*fetch_args(archive, corpus, "--from-id", "41", "--to-id", "60"))
        assert first.returncode == 0
        healthy = dict(archive.pages)
        for n in range(1, 41):  # the site is down: every page a redirect or a notice
            archive.pages[n] = redirect("/") if n % 3 else page(MESSAGE_PAGE)
        down = run_zkiz(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "40"))
        assert down.returncode == 0, down.stderr
        assert "asks for them again" in down.stderr.decode()
        assert status(corpus)["missing"] == 40
        assert status(corpus)["missing_by_kind"] == {"redirect": 27, "notice": 13}
        archive.pages = {**healthy, **good_pages(range(1, 41))}  # the site is back
        archive.requests.clear()
        if next_run == "continue":
            back = run_zkiz(*fetch_args(archive, corpus, "--max-misses", "3"))
        else:
            back = run_zkiz(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "40"))
        assert back.returncode == 0, back.stderr
    exported = jsonl(run_in_process("export", "--corpus", str(corpus)).stdout)
    assert [r["id"] for r in exported] == list(range(1, 61))
    assert status(corpus)["missing"] == (3 if next_run == "continue" else 0)


def test_ordinary_gaps_are_not_asked_again(tmp_path):
    corpus = tmp_path / "c"
    pages = good_pages(range(1, 61))
    gaps = list(range(4, 61, 6))
    for n in gaps:
        pages[n] = redirect("/")
    with Archive(pages) as archive:
        assert (
            run_in_process(
                *fetch_args(archive, corpus, "--from-id", "1", "--to-id", "60")
            ).returncode
            == 0
        )
        archive.requests.clear()
        again = run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "60"))
        assert again.returncode == 0
        assert archive.requests == []  # settled: nothing asked again


def test_a_deleted_range_is_asked_again_a_few_times_then_settles(tmp_path):
    corpus = tmp_path / "c"
    pages = good_pages(range(1, 121))
    for n in range(31, 91):  # sixty deleted posts in a row: looks like an outage
        pages[n] = redirect("/")
    with Archive(pages) as archive:
        run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "120"))
        asked = []
        for _ in range(5):
            archive.requests.clear()
            run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "120"))
            asked.append(len(archive.requests))
    assert asked[0] == 60  # asked again...
    assert asked[-1] == 0  # ...but not forever


# ---- --recheck-missing ----------------------------------------------------------------


@pytest.fixture
def gappy_corpus(tmp_path):
    """A corpus of ids 1-12 where 3 is a 404, 5 a redirect, 7 a notice, 9 a page
    without an article; then the site serves articles under all of them."""
    corpus = tmp_path / "c"
    pages = good_pages(range(1, 13))
    pages[5], pages[7], pages[9] = redirect("/"), page(MESSAGE_PAGE), page(SCRIPT_RENDERED % (9, 9))
    del pages[3]
    with Archive(pages) as archive:
        assert (
            run_in_process(
                *fetch_args(archive, corpus, "--from-id", "1", "--to-id", "12")
            ).returncode
            == 0
        )
        archive.pages.update(good_pages(range(1, 13)))
        archive.requests.clear()
        yield archive, corpus


def asked_ids(archive: Archive) -> list[int]:
    return sorted(int(path.rsplit("=", 1)[1]) for path in archive.requests)


@pytest.mark.parametrize(
    ("given", "asked"),
    [
        (["--recheck-missing"], [5, 7, 9]),
        (["--recheck-missing=all"], [3, 5, 7, 9]),
        (["--recheck-missing=hard"], [3]),
        (["--recheck-missing=redirect"], [5]),
        (["--recheck-missing", "notice"], [7]),
        (["--recheck-missing=no-article"], [9]),
    ],
)
def test_recheck_missing_asks_again_for_the_kind_given(gappy_corpus, given, asked):
    archive, corpus = gappy_corpus
    done = run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "12", *given))
    assert done.returncode == 0, done.stderr
    assert asked_ids(archive) == asked
    exported = {r["id"] for r in jsonl(run_in_process("export", "--corpus", str(corpus)).stdout)}
    assert set(asked) <= exported


def test_recheck_missing_without_a_range_asks_across_the_corpus(gappy_corpus):
    archive, corpus = gappy_corpus
    done = run_in_process(*fetch_args(archive, corpus, "--max-misses", "2", "--recheck-missing"))
    assert done.returncode == 0, done.stderr
    assert asked_ids(archive)[:3] == [5, 7, 9]


def test_a_bad_kind_is_a_usage_error(gappy_corpus):
    archive, corpus = gappy_corpus
    done = run_zkiz(*fetch_args(archive, corpus, "--from-id", "1", "--recheck-missing=gone"))
    assert done.returncode == 2
    line = done.stderr.decode().strip()
    assert "--recheck-missing" in line and "soft" in line and "\n" not in line
    assert archive.requests == []


# ---- the monitor itself, in process ------------------------------------------------


def feed(monitor, kinds, first: int = 1) -> None:
    for offset, kind in enumerate(kinds):
        monitor.page(first + offset, kind)


def test_misses_a_walk_ends_on_past_every_article_are_the_archive_edge_not_a_surge():
    from zkiz_corpus.health import HealthMonitor, PageKind

    said: list[str] = []
    monitor = HealthMonitor(on_warning=said.append)
    feed(monitor, [PageKind.ARTICLE] * 30 + [PageKind.REDIRECT] * 100)
    health = monitor.end(open_walk=True, last_id=130, edge=30)  # nothing past id 30
    assert not health.surged and said == []
    bounded = HealthMonitor(on_warning=said.append)
    feed(bounded, [PageKind.ARTICLE] * 30 + [PageKind.REDIRECT] * 100)
    assert bounded.end(open_walk=False, last_id=130, edge=30).surged  # a bounded walk
    inside = HealthMonitor(on_warning=said.append)
    feed(inside, [PageKind.ARTICLE] * 30 + [PageKind.REDIRECT] * 100)
    assert inside.end(open_walk=True, last_id=130, edge=500).surged  # an article past them
    assert len(said) == 2 and "maintenance" in said[0]


def test_a_second_bad_stretch_warns_again_after_recovering():
    from zkiz_corpus.health import HealthMonitor, PageKind

    said: list[str] = []
    monitor = HealthMonitor(on_warning=said.append)
    stretch = [PageKind.ARTICLE] * 50 + [PageKind.NO_ARTICLE] * 40
    feed(monitor, stretch * 2)
    assert len(said) == 2
    assert monitor.health.dropped_at is not None and monitor.health.dropped_at < 90


def test_the_library_reports_health_and_a_strict_stop(switching_archive, tmp_path):
    from zkiz_corpus import FetchOptions, RunOutcome, fetch

    options = FetchOptions(
        from_id=1,
        to_id=160,
        base_url=switching_archive.base_url,
        delay=0.0,
        output=None,
        corpus=tmp_path / "c",
        strict=True,
    )
    result = fetch(options)
    assert result.outcome is RunOutcome.HEALTH_DROPPED
    assert result.stats.health.dropped and 61 < result.stats.health.dropped_at <= 111
    assert result.stats.health.articles == 60


# ---- found by an outside attack ------------------------------------------------------


def test_a_cron_night_past_the_newest_article_does_not_blind_the_corpus(tmp_path):
    """The misses a walk ends on, past every article, are the archive's edge, not the
    corpus's norm: a maintenance hour inside the archive after quiet nights is still
    seen, and heals; ids past the newest article are asked again by any run."""
    corpus = tmp_path / "c"
    pages = good_pages(range(1, 301))
    pages.update({n: redirect("/") for n in range(301, 601)})  # unpublished ids
    with Archive(pages) as archive:
        first = run_zkiz(*fetch_args(archive, corpus, "--from-id", "101", "--max-misses", "300"))
        assert first.returncode == 0 and warnings_in(first.stderr) == []
        night = run_zkiz(*fetch_args(archive, corpus, "--max-misses", "300"))
        assert night.returncode == 0 and warnings_in(night.stderr) == []
        for n in range(1, 101):  # later, a maintenance hour over older ids
            archive.pages[n] = redirect("/")
        down = run_zkiz(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "100"))
        assert "maintenance" in down.stderr.decode()
        archive.pages.update(good_pages(range(1, 101)))
        archive.pages.update(good_pages(range(301, 311)))  # and ten new posts
        archive.requests.clear()
        back = run_in_process(*fetch_args(archive, corpus, "--max-misses", "5"))
        assert back.returncode == 0
    assert asked_ids(archive) == [*range(1, 101), *range(301, 316)]
    assert status(corpus)["articles"] == 310


@pytest.mark.parametrize("between", ["unreachable", "interrupted-before-any-page"])
def test_asks_still_owed_survive_a_run_that_could_not_make_them(tmp_path, between):
    corpus = tmp_path / "c"
    with Archive(good_pages(range(41, 61))) as archive:
        run_in_process(*fetch_args(archive, corpus, "--from-id", "41", "--to-id", "60"))
        for n in range(1, 41):
            archive.pages[n] = redirect("/")
        run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "40"))
        if between == "unreachable":
            done = run_in_process(
                "fetch",
                "--base-url",
                "http://127.0.0.1:9/",
                "--corpus",
                str(corpus),
                "--delay",
                "0",
            )
            assert done.returncode == 1
        else:
            done = run_in_process(*fetch_args(archive, corpus, "--from-id", "61", "--to-id", "61"))
        archive.pages.update(good_pages(range(1, 41)))
        back = run_in_process(*fetch_args(archive, corpus, "--max-misses", "2"))
        assert back.returncode == 0, back.stderr
    assert status(corpus)["articles"] == 60


def test_failed_ids_that_come_back_as_redirects_in_an_outage_are_asked_again(tmp_path):
    corpus = tmp_path / "c"
    with Archive(good_pages(range(1, 81))) as archive:
        for n in range(21, 61):
            archive.faults[n] = [("status", 503, {})]
        first = run_in_process(
            *fetch_args(archive, corpus, "--from-id", "1", "--to-id", "80", "--retries", "0")
        )
        assert first.returncode == 1
        healthy = dict(archive.pages)
        archive.pages = {n: redirect("/") for n in range(1, 200)}  # the outage
        run_in_process(*fetch_args(archive, corpus, "--max-misses", "5"))
        archive.pages = healthy
        back = run_in_process(*fetch_args(archive, corpus, "--max-misses", "5"))
        assert back.returncode == 0, back.stderr
    assert status(corpus)["articles"] == 80


def test_pages_showing_only_another_ids_article_are_a_drop():
    from zkiz_corpus.health import HealthMonitor, PageKind

    said: list[str] = []
    monitor = HealthMonitor(on_warning=said.append)
    feed(monitor, [PageKind.ARTICLE] * 30 + [PageKind.OTHER_IDS] * 40)
    assert monitor.health.dropped and len(said) == 1


def test_articles_titled_with_site_chrome_are_a_drop(tmp_path):
    pages = good_pages(range(1, 41))
    pages.update(
        {
            n: page(markup_div_br([ArticleSpec(n, "首頁", SEED_A.paragraphs[:2])]))
            for n in range(41, 101)
        }
    )
    with Archive(pages) as archive:
        done = run_zkiz(
            *fetch_args(archive, tmp_path / "c", "--from-id", "1", "--to-id", "100", "--strict")
        )
    assert done.returncode == 65, done.stderr
    assert status(tmp_path / "c")["last_run"]["health"]["chrome_titles"] > 0


def test_asks_owed_and_rechecks_do_not_use_up_max_misses(gappy_corpus):
    archive, corpus = gappy_corpus
    archive.pages.update(good_pages(range(13, 20)))
    done = run_in_process(
        *fetch_args(archive, corpus, "--max-misses", "2", "--recheck-missing=all")
    )
    assert done.returncode == 0, done.stderr
    assert set(range(13, 20)) <= set(asked_ids(archive))


def test_asks_owed_stay_within_a_given_range(tmp_path):
    corpus = tmp_path / "c"
    with Archive(good_pages(range(1, 101))) as archive:
        for n in range(1, 41):
            archive.pages[n] = redirect("/")
        run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "40"))
        archive.pages.update(good_pages(range(1, 41)))
        done = run_in_process(
            *fetch_args(archive, corpus, "--from-id", "90", "--count", "3", "-o", "-")
        )
    assert [r["id"] for r in jsonl(done.stdout)] == [90, 91, 92]


@pytest.mark.parametrize(
    "stored",
    [
        "[1,2]",
        '"x"',
        "5",
        '{"articles":"3"}',
        '{"text_chars":null,"articles":2}',
        '{"articles":NaN}',
        "[" * 100000 + "]" * 100000,
        '{"dropped_at": 1e300}',
    ],
)
def test_a_damaged_health_row_never_crashes_status_or_fetch(tmp_path, stored):
    import sqlite3

    corpus = tmp_path / "c"
    with Archive(good_pages(range(1, 5))) as archive:
        run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "4"))
        with sqlite3.connect(corpus / "state.sqlite3") as db:
            db.execute("UPDATE runs SET health = ?", (stored,))
        for args in (
            ["status", "--corpus", str(corpus)],
            ["status", "--corpus", str(corpus), "--json"],
        ):
            done = run_in_process(*args)
            assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
        done = run_in_process(
            *fetch_args(archive, corpus, "--from-id", "1", "--to-id", "4", "--refetch")
        )
        assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr


def test_the_corpus_line_counts_runs_with_a_drop_and_names_no_summed_id(
    switching_archive, tmp_path
):
    corpus = tmp_path / "c"
    run_in_process(*fetch_args(switching_archive, corpus, "--from-id", "1", "--to-id", "160"))
    switching_archive.pages.update({n: page(SCRIPT_RENDERED % (n, n)) for n in range(161, 261)})
    run_in_process(  # all unreadable: far over even this corpus's norm
        *fetch_args(switching_archive, corpus, "--from-id", "161", "--to-id", "260")
    )
    summary = status(corpus)
    assert summary["health"]["runs_dropped"] == 2
    assert summary["health"]["dropped_at"] is None
    text = run_in_process("status", "--corpus", str(corpus)).stdout.decode()
    corpus_line = next(line for line in text.splitlines() if line.startswith("corpus health"))
    assert "2 runs with a drop" in corpus_line and "DROPPED" not in corpus_line


# ---- found by a second outside attack ------------------------------------------------


def test_small_nights_are_judged_together(tmp_path):
    """A dozen new posts a night, all empty under a new template: the windows carry over
    from night to night, so --strict fails within two nights, not never."""
    corpus = tmp_path / "c"
    with Archive(good_pages(range(1, 301))) as archive:
        assert (
            run_in_process(
                *fetch_args(archive, corpus, "--from-id", "1", "--to-id", "300")
            ).returncode
            == 0
        )
        codes = []
        for night in range(4):
            first = 301 + 12 * night
            archive.pages.update(
                {
                    n: page(markup_div_br([ArticleSpec(n, f"第{n}號", ())]))
                    for n in range(first, first + 12)
                }
            )
            done = run_in_process(*fetch_args(archive, corpus, "--max-misses", "3", "--strict"))
            codes.append(done.returncode)
    assert 65 in codes[:3], codes
    summary = status(corpus)
    text = run_in_process("status", "--corpus", str(corpus)).stdout.decode()
    assert "--refetch --from-id" in text, text
    assert summary["articles"] > 300


def test_misses_before_an_article_seen_ahead_are_judged_not_taken_for_the_edge(tmp_path):
    """Page 51 also shows article 120; 52-119 are a maintenance hour: the open walk
    must not take them for the archive's edge."""
    corpus = tmp_path / "c"
    pages = good_pages(range(1, 51))
    pages[51] = page(markup_div_br([article(51), article(120)]))
    pages.update({n: redirect("/") for n in range(52, 120)})
    with Archive(pages) as archive:
        down = run_zkiz(*fetch_args(archive, corpus, "--from-id", "1", "--max-misses", "100"))
        assert "maintenance" in down.stderr.decode()
        archive.pages.update(good_pages(range(52, 120)))
        back = run_in_process(*fetch_args(archive, corpus, "--max-misses", "3"))
        assert back.returncode == 0
    assert status(corpus)["articles"] == 120


def test_a_gap_of_404s_sprinkled_with_redirects_is_no_surge():
    from zkiz_corpus.health import HealthMonitor, PageKind

    said: list[str] = []
    monitor = HealthMonitor(on_warning=said.append)
    gap = [PageKind.REDIRECT if n % 3 == 0 else PageKind.NOT_FOUND for n in range(150)]
    feed(monitor, [PageKind.ARTICLE] * 30 + gap + [PageKind.ARTICLE])
    assert not monitor.health.surged and said == []


def test_gap_pages_listing_the_next_posts_are_not_poor(tmp_path):
    """If the site answers a gap id with the posts after it (as ?id=262804 shows 263624),
    a first crawl is not a drop."""
    corpus = tmp_path / "c"
    pages = {}
    for n in range(1, 121):
        pages[n] = (
            page(markup_div_br([article(n)]))
            if n % 4 == 0
            else page(markup_div_br([article(4 * (n // 4 + 1))]))
        )
    with Archive(pages) as archive:
        done = run_zkiz(
            *fetch_args(archive, corpus, "--from-id", "1", "--to-id", "120", "--strict")
        )
    assert done.returncode == 0, done.stderr
    assert warnings_in(done.stderr) == []


def test_asks_are_owed_from_the_moment_the_health_drops(tmp_path):
    """The owed mark is committed with the misses, not only when the run ends: a run
    killed after its warning leaves them owed."""
    from zkiz_corpus.outcomes import Cause
    from zkiz_corpus.storing import Corpus

    corpus = Corpus(tmp_path / "c")
    corpus.start_run("2026-11-27T00:00:00Z")
    for n in range(1, 6):
        corpus.add_missing(n, "redirect to /", "2026-11-27T00:00:00Z", Cause.REDIRECT)
    corpus.add_missing(6, "HTTP 404", "2026-11-27T00:00:00Z", Cause.HTTP_STATUS)
    corpus.commit()
    corpus.owe_asks()
    corpus.add_missing(7, "redirect to /", "2026-11-27T00:00:00Z", Cause.REDIRECT)
    corpus.commit()
    corpus.close()  # as a kill -9 leaves it: the run never ended
    again = Corpus(tmp_path / "c")
    try:
        assert again.unsettled_misses(4) == [1, 2, 3, 4, 5, 7]
    finally:
        again.close()


def test_parse_of_an_id_whose_page_shows_only_others_says_so(tmp_path):
    with Archive({5: page(markup_div_br([article(9)]))}) as archive:
        done = run_zkiz("parse", "5", "--base-url", archive.base_url)
    assert done.returncode == 1
    assert [r["id"] for r in jsonl(done.stdout)] == [9]
    assert "id 5 is not on its page (it shows 9)" in done.stderr.decode()


def test_parse_reads_a_pipe(tmp_path):
    import os
    import threading

    fifo = tmp_path / "page"
    os.mkfifo(fifo)
    html = markup_div_br([article(12)]).encode()
    writer = threading.Thread(target=lambda: fifo.write_bytes(html))
    writer.start()
    done = run_zkiz("parse", str(fifo))
    writer.join()
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in jsonl(done.stdout)] == [12]


# ---- found by a third outside attack -------------------------------------------------


def test_a_bad_night_carried_over_does_not_fail_the_good_nights_after_it(tmp_path):
    corpus = tmp_path / "c"
    with Archive(good_pages(range(1, 301))) as archive:
        run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "300"))
        archive.pages.update(
            {n: page(markup_div_br([ArticleSpec(n, f"第{n}號", ())])) for n in range(301, 341)}
        )
        bad = run_in_process(*fetch_args(archive, corpus, "--max-misses", "3", "--strict"))
        assert bad.returncode == 65
        codes = []
        for night in range(3):  # the site is fixed: five good posts a night
            first = 400 + 5 * night
            archive.pages.update(good_pages(range(first, first + 5)))
            done = run_zkiz(
                *fetch_args(
                    archive, corpus, "--from-id", str(first), "--max-misses", "3", "--strict"
                )
            )
            codes.append((done.returncode, warnings_in(done.stderr)))
    assert codes == [(0, [])] * 3


def test_a_run_killed_after_its_surge_warning_still_owes_the_asks(tmp_path):
    """SIGKILL a second after "the next run asks for them again": the misses it had
    committed are asked again once the site is back, though the run never ended."""
    import signal
    import subprocess
    import sys
    import time

    corpus = tmp_path / "c"
    pages = good_pages(range(1, 401))
    pages.update({n: redirect("/") for n in range(101, 161)})
    with Archive(pages) as archive:
        args = fetch_args(archive, corpus, "--from-id", "1", "--to-id", "400")
        args[args.index("--delay") + 1] = "0.02"
        process = subprocess.Popen(
            [sys.executable, "-m", "zkiz_corpus", *args], stderr=subprocess.PIPE
        )
        for line in process.stderr:
            if b"maintenance" in line:
                break
        time.sleep(1.0)  # past a batch commit, well before id 400
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
        assert status(corpus)["missing_by_kind"].get("redirect", 0) > 0  # committed
        archive.pages.update(good_pages(range(101, 161)))
        archive.requests.clear()
        back = run_in_process(*fetch_args(archive, corpus, "--from-id", "1", "--to-id", "400"))
        assert back.returncode == 0, back.stderr
    assert set(range(101, 161)) <= set(asked_ids(archive))
    assert status(corpus)["articles"] == 400
