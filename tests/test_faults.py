"""A server that misbehaves in every way the real one might; bad input from users."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from email.utils import formatdate

import pytest

from tests.support import (
    HKSCS,
    SIMPLIFIED,
    Archive,
    ArticleSpec,
    Response,
    jsonl,
    markup_gb_sections,
    markup_table_font,
    numbered_pages,
    one_line_error,
    page,
    redirect,
    run_zkiz,
)
from zkiz_corpus.parsing import parse_articles

FIRST = 8000


def crawl(archive, corpus, *extra, count=100):
    return run_zkiz(
        "fetch",
        "--corpus",
        str(corpus),
        "--from-id",
        str(FIRST),
        "--count",
        str(count),
        "--base-url",
        archive.base_url,
        "--delay",
        "0",
        "--timeout",
        "0.5",
        *extra,
        timeout=180,
    )


def state_rows(corpus) -> dict[int, tuple]:
    with sqlite3.connect(corpus / "state.sqlite3") as db:
        rows = db.execute("SELECT id, status, attempts, error FROM ids")
        return {row[0]: row[1:] for row in rows}


def test_100_id_crawl_through_every_fault(tmp_path):
    pages, article_ids = numbered_pages(FIRST, 100)
    # Ids that never hold an article (multiples of 3 here), in every hostile form.
    pages[8016] = redirect("http://elsewhere.example/?id=8016")
    binary = bytes(range(256)) * 64
    pages[8019] = Response(200, binary, {"Content-Type": "application/octet-stream"})
    pages[8022] = Response(200, b"", {"Content-Type": "text/html"})
    pages[8025] = page("<html><body>" + "x" * 5_000_000 + "</body></html>")
    pages[8028] = page("<table>" * 5000 + "沒有文章" + "<td>" * 5000)
    # Articles in old encodings with bytes invalid in them.
    big5 = ArticleSpec(8017, HKSCS.title, HKSCS.paragraphs, HKSCS.source_url)
    body = markup_table_font([big5]).encode("big5hkscs", "xmlcharrefreplace")
    pages[8017] = Response(
        200, body.replace(b"\xa1\x40", b"\xff\xff", 3), {"Content-Type": "text/html; charset=big5"}
    )
    gb = ArticleSpec(8018, SIMPLIFIED.title, SIMPLIFIED.paragraphs)
    body = markup_gb_sections([gb]).encode("gb18030")
    pages[8018] = Response(
        200, body[:400] + b"\x81\x20" + body[400:], {"Content-Type": "text/html"}
    )
    assert {8017, 8018} <= set(article_ids)
    retry_at = formatdate(time.time() + 1, usegmt=True)
    with Archive(pages) as archive:
        archive.faults = {
            8001: [("status", 503, {"Retry-After": "1"})] * 2,
            8002: [("status", 429, {"Retry-After": retry_at})],
            8004: [("drop",), ("drop",)],
            8005: [("slow", 1.5)],
            8007: [("truncate",)],
            8008: [("stall", 1.5)],
            8010: [("status", 500, {}), ("status", 502, {}), ("status", 504, {})],
            8011: [("status", 503, {"Retry-After": "0"})],
            8013: [("drop",), ("truncate",), ("status", 503, {})],
        }
        done = crawl(archive, tmp_path / "c", "--retries", "3")
        assert done.returncode == 0, done.stderr.decode()
        assert all(not queue for queue in archive.faults.values())  # every fault was served
        exported = jsonl(run_zkiz("export", "--corpus", str(tmp_path / "c")).stdout)
        assert [r["id"] for r in exported] == article_ids
        assert b"Traceback" not in done.stderr
        # The damaged Big5 and GB pages still give their articles, stray bytes as U+FFFD.
        by_id = {r["id"]: r for r in exported}
        assert by_id[8017]["title_original"] == HKSCS.title
        assert by_id[8018]["title_original"] == SIMPLIFIED.title
        rows = state_rows(tmp_path / "c")
        assert rows[8016][:2] == ("missing", 1)
        assert rows[8016][2] == "redirect off host to http://elsewhere.example/?id=8016"
        for never in (8019, 8022, 8025, 8028):
            assert rows[never][:2] == ("missing", 1)
        assert not [row for row in rows.values() if row[0] == "failed"]
        # A rerun fetches nothing again: misses are final inside a crawled range.
        before = len(archive.requests)
        assert crawl(archive, tmp_path / "c").returncode == 0
        assert len(archive.requests) == before


def test_retry_after_is_honoured_in_both_forms():
    pages, _ = numbered_pages(FIRST, 3)
    in_two_seconds = lambda: formatdate(time.time() + 2, usegmt=True)  # noqa: E731
    with Archive(pages) as archive:
        archive.faults = {
            8001: [("status", 503, {"Retry-After": "1"})],
            8002: [("status", 429, {"Retry-After": in_two_seconds})],
        }
        done = run_zkiz(
            "fetch",
            "--from-id",
            "8001",
            "--count",
            "2",
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "-o",
            "-",
        )
        assert done.returncode == 0, done.stderr
        asked = list(zip(archive.requests, archive.request_times))
        first = [t for path, t in asked if path == "/?id=8001"]
        second = [t for path, t in asked if path == "/?id=8002"]
        assert len(first) == 2 and first[1] - first[0] >= 0.95
        # An HTTP date has whole seconds: "in two seconds" is between one and two.
        assert len(second) == 2 and second[1] - second[0] >= 0.95


def test_failures_after_retries_are_recorded_reported_and_retried(tmp_path):
    pages, article_ids = numbered_pages(FIRST, 6)
    with Archive(pages) as archive:
        archive.faults = {8001: [("status", 503, {})] * 3, 8002: [("truncate",)] * 3}
        done = crawl(archive, tmp_path / "c", "--retries", "2", count=6)
        assert done.returncode == 1
        stderr = done.stderr.decode()
        assert "2 ids failed, retried on the next run: 8001 (HTTP 503" in stderr
        assert "8002 (truncated body)" in stderr
        rows = state_rows(tmp_path / "c")
        assert rows[8001][0] == rows[8002][0] == "failed"
        assert archive.requests.count("/?id=8001") == 3
        # Next run: only the failed ids are fetched, and now they answer.
        again = run_zkiz(
            "fetch",
            "--corpus",
            str(tmp_path / "c"),
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "--max-misses",
            "1",
        )
        assert again.returncode == 0, again.stderr
        exported = jsonl(run_zkiz("export", "--corpus", str(tmp_path / "c")).stdout)
        assert [r["id"] for r in exported] == article_ids


PEAK_RSS_AT_EXIT = (
    "import atexit, re, sys\n"
    "atexit.register(lambda: sys.stderr.write(re.search(r'VmHWM:.*', "
    "open('/proc/self/status').read()).group(0) + '\\n'))\n"
    "from zkiz_corpus.cli import main\nmain()"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_oversized_body_is_cut_off_with_bounded_memory(tmp_path):
    big = page("<html><body>" + "長" * (20 * 1024 * 1024) + "</body></html>")  # 60 MB
    with Archive({FIRST: big}) as archive:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_RSS_AT_EXIT,
                "fetch",
                "--corpus",
                str(tmp_path / "c"),
                "--from-id",
                str(FIRST),
                "--count",
                "1",
                "--base-url",
                archive.base_url,
                "--delay",
                "0",
            ],
            capture_output=True,
            timeout=120,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert f"{FIRST} (body over 8388608 bytes)" in stderr
    peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", stderr).group(1))
    assert peak_kb < 100 * 1024, stderr  # the 60 MB body was never held whole
    assert state_rows(tmp_path / "c")[FIRST][:2] == ("failed", 1)


def test_hostile_pages_never_raise():
    hostile = [
        "",
        "\x00" * 1000,
        "<" * 100000,
        "<html>" + "<div>" * 20000 + "PermaLink: ?id=5",
        "PermaLink: https://articles.zkiz.com/?id=9\n" * 1000,
        "<p>標題</p>" + "<p>文字" * 50000 + "<p>PermaLink: <a href='?id=3'>x</a>",
        "x" * 5_000_000,
    ]
    for document in hostile:
        for article in parse_articles(document, "http://127.0.0.1/"):
            assert article.id > 0


# ---- bad input: one clear line, exit 2, no traceback ------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corpus", "/proc/zkiz-corpus"], "cannot create corpus directory /proc/zkiz-corpus"),
        (["--corpus", "{tmp}/file/corpus"], "cannot create corpus directory"),
        (["-o", "/proc/zkiz.jsonl"], "cannot write /proc/zkiz.jsonl"),
        (["-o", "-", "--warc", "/proc/zkiz.warc.gz"], "cannot write /proc/zkiz.warc.gz"),
        (["-o", "-", "--timeout", "0"], "--timeout"),
        (["-o", "-", "--retries", "-1"], "--retries"),
        (["-o", "-", "--max-misses", "0"], "--max-misses"),
        (["-o", "-", "--base-url", "not a url"], "--base-url"),
    ],
)
def test_more_bad_input(tmp_path, args, message):
    (tmp_path / "file").write_text("a file")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    done = run_zkiz("fetch", "--from-id", "1", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in one_line_error(done)


def test_export_and_status_bad_input(tmp_path):
    for args in (
        ["export", "--corpus", str(tmp_path)],
        ["status", "--corpus", str(tmp_path)],
        ["export", "--from-id", "5", "--to-id", "4"],
        ["export", "--convert", "zz"],
    ):
        done = run_zkiz(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert one_line_error(done).startswith("zkiz: ")
    assert json.loads(run_zkiz("schema").stdout)["type"] == "object"


def test_robots_txt_answering_500_does_not_stop_the_crawl(tmp_path):
    pages, article_ids = numbered_pages(FIRST, 6)
    with Archive(pages) as archive:
        archive.robots_status = 500
        done = run_zkiz(
            "fetch",
            "--from-id",
            str(FIRST),
            "--count",
            "6",
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "--retries",
            "1",
            "-o",
            "-",
        )
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in jsonl(done.stdout)] == article_ids
    assert "robots.txt unreadable (HTTP 500" in done.stderr.decode()
