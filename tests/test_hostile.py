"""A hostile server, hostile files, hostile options: the crawl stays inside its origin
and robots.txt, ends each response within --timeout, obeys signals within 2 s, keeps
memory bounded, and never prints a traceback."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.support import (
    ROOT,
    SEED_A,
    Archive,
    ArticleSpec,
    RawServer,
    answer,
    jsonl,
    markup_div_br,
    numbered_pages,
    one_line_error,
    page,
    redirect,
    run_zkiz,
    trickle,
)
from zkiz_corpus.cli import cli
from zkiz_corpus.sources import http as http_source

SAMPLE = ROOT / "data" / "sample.warc.gz"


def article_page(article_id: int) -> bytes:
    spec = ArticleSpec(article_id, f"第{article_id}號文章", SEED_A.paragraphs[:2])
    return markup_div_br([spec]).encode()


def state_rows(corpus: Path) -> dict[int, tuple]:
    with sqlite3.connect(corpus / "state.sqlite3") as db:
        return {row[0]: row[1:] for row in db.execute("SELECT id, status, error FROM ids")}


def fetch_args(base_url: str, first: int, count: int, *extra: str) -> list[str]:
    return [
        "fetch",
        "--from-id",
        str(first),
        "--count",
        str(count),
        "--base-url",
        base_url,
        "--delay",
        "0",
        *extra,
    ]


def page_id(head: bytes) -> int | None:
    match = re.search(rb"[?&]id=(\d+)", head.split(b"\r\n", 1)[0])
    return int(match.group(1)) if match else None


# ---- 1-3: the origin and robots.txt -----------------------------------------------------


def test_redirects_off_the_exact_origin_are_never_followed(runner, tmp_path):
    def count_only(conn, head, server):
        answer(conn, body=article_page(page_id(head) or 1), headers=[("Content-Type", "text/html")])

    with (
        RawServer(count_only, host="127.0.0.2") as other_host,
        RawServer(count_only) as other_port,
        Archive({}) as archive,
    ):
        port = archive.server.server_address[1]
        archive.pages = {
            # urlsplit reads host 127.0.0.1 here; the HTTP client connects to 127.0.0.2.
            1: redirect(f"http://127.0.0.2:{other_host.port}\\@127.0.0.1:{port}/ok/?id=1"),
            2: redirect(f"http://127.0.0.1:{other_port.port}/?id=2"),
            3: redirect(f"https://127.0.0.1:{port}/?id=3"),
            4: redirect(f"http://user:pw@127.0.0.1:{port}/?id=4"),
            5: redirect(f"http://127.0.0.2:{other_host.port}/?id=5"),
            6: redirect(f"HTTP://127.0.0.1:{port}/?id=7"),  # the same origin, spelled loud
            7: page(markup_div_br([ArticleSpec(7, "同源", SEED_A.paragraphs[:2])])),
        }
        corpus = tmp_path / "c"
        done = runner.invoke(cli, fetch_args(archive.base_url, 1, 7, "--corpus", str(corpus)))
        assert done.exit_code == 0, done.output
        assert other_host.heads == [] and other_port.heads == []
    rows = state_rows(corpus)
    assert rows[1][0] == rows[2][0] == rows[3][0] == rows[4][0] == rows[5][0] == "missing"
    assert rows[1][1].startswith("redirect to a malformed URL")
    assert rows[2][1].startswith("redirect off origin to")
    assert rows[3][1].startswith("redirect off origin to")
    assert rows[4][1].startswith("redirect to a URL with user info")
    assert rows[5][1].startswith("redirect off host to")
    assert rows[6][0] == "missing" and rows[7][0] == "article"  # 6 led to 7, on the origin


def test_robots_txt_is_obeyed_on_every_redirect_hop(runner):
    with Archive({}) as archive:
        archive.robots = "User-agent: *\nDisallow: /private\n"
        archive.pages = {1: redirect("/private/?id=1"), 2: redirect("/?id=3")}
        archive.pages[3] = page(markup_div_br([ArticleSpec(3, "公開", SEED_A.paragraphs[:2])]))
        done = runner.invoke(cli, fetch_args(archive.base_url, 1, 3, "-o", "-", "-v"))
        assert done.exit_code == 0, done.output
        assert not any(path.startswith("/private") for path in archive.requests)
    assert "id 1 missing: disallowed by robots.txt" in done.stderr
    assert [r["id"] for r in jsonl(done.stdout)] == [3]


@pytest.mark.parametrize(
    "location",
    [
        "/ok/../private/?id={n}",
        "/ok/%2e%2e/private/?id={n}",
        "/./private/?id={n}",
        "/P/../private/?id={n}",
    ],
)
def test_robots_txt_is_checked_on_the_url_as_it_is_sent(runner, location):
    """Dot segments in a redirect: urllib3 removes them before sending, so robots.txt
    is asked about what goes on the wire, not about the Location as written."""
    with Archive({}) as archive:
        archive.robots = "User-agent: *\nDisallow: /private\n"
        absolute = archive.base_url.rstrip("/") + location
        archive.pages = {n: redirect(absolute.format(n=n)) for n in (1, 2)}
        done = runner.invoke(cli, fetch_args(archive.base_url, 1, 2, "-o", "-"))
        assert done.exit_code == 0, done.output
        assert not any("private" in path for path in archive.requests), archive.requests


@pytest.mark.parametrize("fault", ["stall", "truncated"])
def test_a_robots_txt_that_breaks_off_allows_nothing(runner, fault):
    """RFC 9309: robots.txt unreachable (a timeout, a broken body) means disallow all:
    the ids fail, to be tried again, and no page is fetched meanwhile."""
    rules = b"User-agent: *\nDisallow: /\n"

    def broken_robots(conn, head, server):
        if b"/robots.txt" not in head.split(b"\r\n", 1)[0]:
            return answer(
                conn, body=article_page(page_id(head) or 1), headers=[("Content-Type", "text/html")]
            )
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {len(rules) + 100}\r\n\r\n".encode()
            + rules
        )
        if fault == "stall":
            server.pause(5)

    with RawServer(broken_robots) as server:
        done = runner.invoke(
            cli,
            fetch_args(server.base_url, 1, 3, "-o", "-", "--timeout", "1", "--retries", "0"),
        )
        assert done.exit_code == 1, done.output
        assert [path for path in server.paths() if "robots" not in path] == []
    assert done.stdout == ""
    assert "crawling without it" not in done.stderr


@pytest.mark.parametrize(
    "robots",
    [
        "User-agent: *\nDisallow: /\n" + "# padding\n" * 1_000_000,  # 10 MB
        "User-agent: *\rDisallow: /\r" + "# padding\r" * 100_000,  # old Mac line ends
        "User-agent: *\nDisallow: / # " + "x" * 600_000,  # one endless comment
    ],
    ids=["lf", "cr", "one-long-line"],
)
def test_robots_txt_over_the_cap_is_obeyed_as_far_as_it_goes(runner, robots):
    pages, _ = numbered_pages(8000, 3)
    with Archive(pages) as archive:
        archive.robots = robots
        done = runner.invoke(cli, fetch_args(archive.base_url, 8000, 3, "-o", "-"))
        assert done.exit_code == 0, done.output
        assert archive.requests == []
    assert done.stdout == ""
    assert "robots.txt is over 524288 bytes: obeying its first part" in done.stderr


# ---- 4: --timeout is a deadline for the whole response ---------------------------------

BODY = b"x" * 200


def slow_body(conn, head, server):
    if page_id(head) is None:
        return answer(conn, "404 Not Found")
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 200\r\n\r\n")
    trickle(conn, server, BODY, 1.0)


def endless_chunks(conn, head, server):
    if page_id(head) is None:
        return answer(conn, "404 Not Found")
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    while server.pause(0.05):
        try:
            conn.sendall(b"10\r\n<p>endless.....</p>\r\n"[:22])
        except OSError:
            return


def slow_headers(conn, head, server):
    if page_id(head) is None:
        return answer(conn, "404 Not Found")
    trickle(
        conn, server, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: " + b"y" * 300, 1.0
    )


@pytest.mark.parametrize("handler", [slow_body, endless_chunks, slow_headers])
def test_timeout_bounds_the_whole_response(runner, handler):
    with RawServer(handler) as server:
        started = time.monotonic()
        done = runner.invoke(
            cli, fetch_args(server.base_url, 1, 1, "-o", "-", "--timeout", "2", "--retries", "0")
        )
        elapsed = time.monotonic() - started
    assert done.exit_code == 1, done.output
    assert "1 (no complete response in 2 s)" in done.stderr
    assert elapsed < 2 + 2.5, elapsed


# ---- 5: signals ------------------------------------------------------------------------


def slow_pages(conn, head, server):
    if page_id(head) is None:
        return answer(conn, "404 Not Found")
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n")
    trickle(conn, server, b"z" * 1000, 0.5)


def long_retry_after(conn, head, server):
    if page_id(head) is None:
        return answer(conn, "404 Not Found")
    answer(conn, "503 Service Unavailable", b"later", [("Retry-After", "300")])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("handler", [slow_pages, long_retry_after])
def test_a_signal_ends_a_concurrent_run_within_2_seconds(tmp_path, handler, signum):
    corpus = tmp_path / "c"
    with RawServer(handler) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zkiz_corpus",
                *fetch_args(server.base_url, 1, 100, "--concurrency", "8", "--corpus", str(corpus)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        # robots.txt and a first page: after a Retry-After nothing more comes
        while len(server.paths()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the workers are in their reads or waits
        process.send_signal(signum)
        signalled = time.monotonic()
        try:
            _, stderr = process.communicate(timeout=10)
        finally:
            process.kill()
        elapsed = time.monotonic() - signalled
    assert process.returncode == 128 + signum, stderr
    assert elapsed < 2, elapsed
    assert b"Traceback" not in stderr
    status = run_zkiz("status", "--corpus", str(corpus), "--json")
    assert status.returncode == 0 and b'"exit_code": %d' % (128 + signum) in status.stdout


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(tmp_path):
    with RawServer(slow_pages) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zkiz_corpus",
                *fetch_args(server.base_url, 1, 100, "--concurrency", "8", "-o", "-"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while len(server.paths()) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=10)
        finally:
            process.kill()
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr


def test_a_signal_is_obeyed_while_the_output_pipe_is_full(tmp_path):
    """A reader that stops reading (| less, then Ctrl-C) must not hold the run."""
    pages = tmp_path / "pages"
    pages.mkdir()
    for n in range(1, 201):  # some 2 MB of records: far more than a pipe holds
        (pages / f"{n}.html").write_bytes(article_page(n))
    process = subprocess.Popen(
        [sys.executable, "-m", "zkiz_corpus", "fetch", "--source", str(pages), "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(2)  # started, and blocked on the full pipe
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=10)  # nothing reads stdout meanwhile
        stopped_in = time.monotonic() - started
        stderr = process.stderr.read()
    finally:
        process.kill()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 130, stderr
    assert stopped_in < 2.5, stopped_in
    assert b"Traceback" not in stderr


# ---- 6: Crawl-delay and Retry-After ---------------------------------------------------


def test_crawl_delay_is_capped_with_one_line(runner, monkeypatch):
    monkeypatch.setattr(http_source, "MAX_CRAWL_DELAY", 0.3)  # the real cap is 60 s
    pages, article_ids = numbered_pages(8000, 3)
    with Archive(pages) as archive:
        archive.robots = "User-agent: *\nCrawl-delay: 100000\n"
        started = time.monotonic()
        done = runner.invoke(cli, fetch_args(archive.base_url, 8000, 3, "-o", "-"))
        elapsed = time.monotonic() - started
        times = archive.request_times
    assert done.exit_code == 0, done.output
    assert [r["id"] for r in jsonl(done.stdout)] == article_ids
    assert "Crawl-delay of 100000 s: waiting 0.3 s, the maximum" in done.stderr
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.29 and elapsed < 30


def test_an_invalid_retry_after_is_ignored_and_the_backoff_applies(runner):
    pages, article_ids = numbered_pages(8000, 4)
    with Archive(pages) as archive:
        archive.faults = {
            n: [("status", 503, {"Retry-After": value})]
            for n, value in zip((8001, 8002, 8003), ("-5", "soon!", "1.5"))
        }
        done = runner.invoke(cli, fetch_args(archive.base_url, 8000, 4, "-o", "-"))
        assert done.exit_code == 0, done.output
        assert all(not queue for queue in archive.faults.values())
    assert [r["id"] for r in jsonl(done.stdout)] == article_ids


# ---- 7 and issue 9 item 7: --source files and the WARC as the record of a crawl ---------


def test_a_source_that_is_not_a_warc_is_refused_from_its_first_bytes(tmp_path):
    zeros = tmp_path / "zeros.warc.gz"
    subprocess.run(["truncate", "-s", "500M", str(zeros)], check=True)  # sparse
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n")
    binary = tmp_path / "binary.warc"
    binary.write_bytes(b"\x00\x01\x1b[2J\r\nabc" * 10)
    for source in ("/dev/zero", str(zeros), str(text), str(binary)):
        started = time.monotonic()
        done = run_zkiz("fetch", "--from-id", "1", "--source", source, "-o", "-", timeout=30)
        assert done.returncode == 2, (source, done.stderr)
        line = one_line_error(done)
        assert "is not a WARC file or a folder of pages" in line
        assert "\x1b" not in line and "\x00" not in line  # bytes shown escaped
        assert time.monotonic() - started < 10


def warc_of(path: Path, responses: list[tuple[int, bytes, str]]) -> None:
    """A WARC holding a response (status line, body) for each ``?id=N``."""
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for article_id, body, status in responses:
            headers = StatusAndHeaders(
                status, [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            record = writer.create_warc_record(
                f"https://articles.zkiz.com/?id={article_id}",
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=headers,
            )
            writer.write_record(record)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("kind", ["warc", "folder"])
def test_a_giant_page_in_a_source_fails_its_id_without_being_read_whole(tmp_path, kind):
    giant = b"<html><body>" + b"x" * (60 * 1024 * 1024)  # compresses to almost nothing
    if kind == "warc":
        source = tmp_path / "giant.warc.gz"
        warc_of(source, [(10, article_page(10), "200 OK"), (11, giant, "200 OK")])
    else:
        source = tmp_path / "pages"
        source.mkdir()
        (source / "10.html").write_bytes(article_page(10))
        (source / "11.html").write_bytes(giant)
    argv = ["fetch", "--from-id", "10", "--source", str(source), "-o", "-", "-q"]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_AT_EXIT, *argv],
        capture_output=True,
        timeout=120,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert [r["id"] for r in jsonl(done.stdout)] == [10]
    assert re.search(r"11 \(body over 8388608 bytes\)", stderr), stderr
    peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", stderr).group(1))
    assert peak_kb < 90 * 1024, stderr  # a page read whole would add its 60 MB


def test_a_stray_huge_id_in_a_source_does_not_make_the_walk_endless(tmp_path):
    warc = tmp_path / "stray.warc.gz"
    warc_of(
        warc,
        [
            (10, article_page(10), "200 OK"),
            (12, article_page(12), "200 OK"),
            (987_654_321, article_page(987_654_321), "200 OK"),
            (99999999999999999999, article_page(7), "200 OK"),  # past any SQLite id
        ],
    )
    corpus = tmp_path / "c"
    done = run_zkiz("fetch", "--from-id", "1", "--source", str(warc), "--corpus", str(corpus))
    assert done.returncode == 0, done.stderr
    exported = jsonl(run_zkiz("export", "--corpus", str(corpus)).stdout)
    assert [r["id"] for r in exported] == [10, 12, 987_654_321]


def test_a_warc_with_a_bad_status_line_fails_that_id_in_one_line(tmp_path):
    warc = tmp_path / "bad.warc.gz"
    warc_of(warc, [(10, article_page(10), "200 OK"), (11, article_page(11), "abc")])
    done = run_zkiz("fetch", "--from-id", "10", "--source", str(warc), "-o", "-", "-q")
    assert done.returncode == 1
    assert [r["id"] for r in jsonl(done.stdout)] == [10]
    assert re.fullmatch(
        r"zkiz: 1 id failed: 11 \(invalid HTTP status 'abc'\)\n", done.stderr.decode()
    )


def test_a_truncated_warc_gives_what_it_holds_and_says_so(tmp_path):
    cut = tmp_path / "cut.warc.gz"
    data = SAMPLE.read_bytes()
    cut.write_bytes(data[: len(data) - 300])
    done = run_zkiz(
        "fetch", "--from-id", "262804", "--to-id", "263624", "--source", str(cut), "-o", "-", "-q"
    )
    assert done.returncode == 1
    assert "is truncated" in one_line_error_of(done)
    assert [r["id"] for r in jsonl(done.stdout)]  # what it held before the break


def one_line_error_of(done) -> str:
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], done.stderr
    return lines[0]


def test_rebuilt_records_carry_the_capture_time(tmp_path):
    with SAMPLE.open("rb") as stream:
        dates = {
            r.rec_headers.get_header("WARC-Target-URI"): r.rec_headers.get_header("WARC-Date")
            for r in ArchiveIterator(stream)
            if r.rec_type == "response"
        }
    done = run_zkiz(
        "fetch", "--from-id", "262804", "--to-id", "263624", "--source", str(SAMPLE), "-o", "-"
    )
    assert done.returncode == 0, done.stderr
    for record in jsonl(done.stdout):
        captured = dates.get(record["url"])
        if captured is not None:
            assert record["fetched_at"] == captured[:19] + "Z"
        else:  # shown on another id's page: that page's capture time
            assert record["fetched_at"][:10] in {d[:10] for d in dates.values()}


def test_the_warc_keeps_retried_exchanges_too(runner, tmp_path):
    pages, _ = numbered_pages(8001, 2)
    warc = tmp_path / "crawl.warc.gz"
    with Archive(pages) as archive:
        archive.faults = {8002: [("status", 503, {"Retry-After": "0"}), ("status", 429, {})]}
        done = runner.invoke(
            cli, fetch_args(archive.base_url, 8001, 2, "-o", "-", "--warc", str(warc))
        )
        assert done.exit_code == 0, done.output
    with warc.open("rb") as stream:
        statuses = [
            r.http_headers.get_statuscode()
            for r in ArchiveIterator(stream)
            if r.rec_type == "response"
            and r.rec_headers.get_header("WARC-Target-URI").endswith("8002")
        ]
    assert statuses == ["503", "429", "200"]


# ---- 8: cookies -----------------------------------------------------------------------


def cookie_monster(conn, head, server):
    article_id = page_id(head)
    cookies = [("Set-Cookie", f"c{article_id}_{n}={'v' * 60}; Path=/") for n in range(95)]
    body = article_page(article_id) if article_id else b""
    answer(conn, "200 OK" if article_id else "404 Not Found", body, cookies)


def test_cookies_are_not_kept_or_sent(runner):
    with RawServer(cookie_monster) as server:
        done = runner.invoke(cli, fetch_args(server.base_url, 1, 40, "-o", "-"))
        heads = list(server.heads)
    assert done.exit_code == 0, done.output
    assert len(jsonl(done.stdout)) == 40
    assert not any(b"\r\ncookie:" in head.lower() for head in heads)
    assert max(len(head) for head in heads) < 1000


# ---- 9: bounded memory ----------------------------------------------------------------

PEAK_RSS_AT_EXIT = (
    "import atexit, re, sys\n"
    "atexit.register(lambda: sys.stderr.write(re.search(r'VmHWM:.*', "
    "open('/proc/self/status').read()).group(0) + '\\n'))\n"
    "from zkiz_corpus.cli import main\nmain()"
)


def test_concurrency_is_capped(runner):
    done = runner.invoke(cli, ["fetch", "--from-id", "1", "-o", "-", "--concurrency", "10000"])
    assert done.exit_code == 2
    assert "--concurrency" in done.stderr and len(done.stderr.splitlines()) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_big_pages_at_high_concurrency_stay_within_the_memory_bound(tmp_path):
    big = page(markup_div_br([ArticleSpec(1, "大", ("長" * 2_600_000,))]))  # 7.9 MB
    with Archive({n: big for n in range(1, 25)}) as archive:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_RSS_AT_EXIT,
                *fetch_args(archive.base_url, 1, 24, "--concurrency", "32", "-o", "/dev/null"),
            ],
            capture_output=True,
            timeout=300,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", stderr).group(1))
    assert peak_kb < 150 * 1024, stderr


def test_a_stream_run_keeps_nothing_per_id_walked():
    import tracemalloc

    from zkiz_corpus.crawling import Crawler, Plan, StreamStore
    from zkiz_corpus.outcomes import Cause
    from zkiz_corpus.sources import Page

    class Nothing:  # a source where every id is a confirmed miss
        def get(self, article_id):
            return Page.missing("", Cause.HTTP_STATUS, "HTTP 404", http_status=404)

    def walk(count):
        crawler = Crawler(Nothing(), StreamStore(lambda record: None), "none")
        tracemalloc.start()
        crawler.run(Plan(first=1, last=count))
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return held, crawler

    small, _ = walk(2_000)
    large, crawler = walk(60_000)
    assert large - small < 100_000  # not ~80 bytes an id
    assert crawler.stats.missing == 60_000


# ---- 10: bad options and bad answers, each in one line --------------------------------


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--from-id", str(2**63)], "--from-id"),
        (["--from-id", "1", "--to-id", str(2**64)], "--to-id"),
        (["--from-id", str(2**63 - 5), "--count", "10"], "highest id"),
        (["--from-id", "1", "--delay", "inf"], "--delay"),
        (["--from-id", "1", "--delay", "nan"], "--delay"),
        (["--from-id", "1", "--timeout", "nan"], "--timeout"),
        (["--from-id", "1", "--timeout", "inf"], "--timeout"),
        (["--from-id", "1", "--timeout", "1e300"], "--timeout"),
        (["--from-id", "1", "--base-url", "http://[::1"], "--base-url"),
        (["--from-id", "1", "--base-url", f"http://{'a' * 64}.example/"], "--base-url"),
        (["--from-id", "1", "--base-url", "http://127.0.0.1:99999/"], "--base-url"),
        (["--from-id", "1", "--base-url", "http://exa mple.com/"], "--base-url"),
        (["--from-id", "1", "--base-url", "http://u:p@127.0.0.1/"], "--base-url"),
        (["--from-id", "1", "--user-agent", "爬蟲"], "--user-agent"),
        (["--from-id", "1", "--user-agent", "zkiz\r\nX-Evil: 1"], "--user-agent"),
        (["--from-id", "1", "--concurrency", "65"], "--concurrency"),
    ],
)
def test_bad_options_are_usage_errors_in_one_line(runner, tmp_path, args, where):
    done = runner.invoke(cli, ["fetch", *args, "--corpus", str(tmp_path / "c")])
    assert done.exit_code == 2, done.output
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("zkiz: ") and where in lines[0], lines
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert not (tmp_path / "c").exists()  # nothing recorded


def test_export_refuses_an_id_past_the_highest(runner, tmp_path):
    done = runner.invoke(cli, ["export", "--corpus", str(tmp_path), "--from-id", str(2**63)])
    assert done.exit_code == 2 and "--from-id" in done.stderr


def too_many_headers(conn, head, server):
    lines = b"".join(b"X-H%d: v\r\n" % n for n in range(10_000))
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 0\r\n\r\n")


def bad_status_line(conn, head, server):
    conn.sendall(b"HTTP/1.1 abc\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (too_many_headers, "too many response headers"),
        (bad_status_line, "invalid HTTP status line"),
    ],
)
def test_protocol_errors_are_named_for_what_they_are(runner, handler, reason):
    with RawServer(handler) as server:
        done = runner.invoke(
            cli,
            fetch_args(server.base_url, 1, 1, "-o", "-", "--retries", "0", "--ignore-robots"),
        )
    assert done.exit_code == 1, done.output
    assert f"1 ({reason})" in done.stderr


def test_a_gzip_source_that_is_not_a_warc_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "x.warc.gz"
    bad.write_bytes(gzip.compress(b"\x00\x01\x02 not a warc \x1b[31m\n" * 100))
    done = run_zkiz("fetch", "--from-id", "1", "--source", str(bad), "-o", "-")
    assert done.returncode == 2
    line = one_line_error(done)
    assert "--source" in line and "\x1b" not in line


def test_a_fifo_source_and_a_spaced_user_agent_are_usage_errors(tmp_path):
    fifo = tmp_path / "pages.fifo"
    os.mkfifo(fifo)  # opening it would wait for a writer for ever
    for extra in (["--source", str(fifo)], ["--user-agent", " zkiz/1.0"]):
        done = run_zkiz("fetch", "--from-id", "1", "-o", "-", *extra, cwd=tmp_path, timeout=20)
        assert done.returncode == 2, done.stderr
        assert extra[0] in one_line_error(done)


def test_a_source_that_only_starts_like_a_warc_is_refused_at_once(tmp_path):
    """A gzip of zeros, or "WARC/" and then zeros: refused from the first line, before
    the WARC reader meets one endless line (it grew to gigabytes on those)."""
    zeros = tmp_path / "zeros.warc.gz"
    zeros.write_bytes(gzip.compress(b"\0" * 20_000_000))
    prefixed = tmp_path / "prefixed.warc"
    prefixed.write_bytes(b"WARC/" + b"\0" * 4_000_000)
    for source in (zeros, prefixed):
        done = run_zkiz("fetch", "--from-id", "1", "-o", "-", "--source", str(source), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert "is not a WARC file" in one_line_error(done)


def test_a_path_with_control_characters_is_shown_escaped_on_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    odd = "line\nbreak\x1b[2J"
    cases = [
        (
            "fetch",
            "--from-id",
            "1",
            "--corpus",
            str(blocker / odd),
            "--base-url",
            "http://127.0.0.1:9/",
        ),
        ("fetch", "--from-id", "1", "--source", str(SAMPLE), "-o", str(blocker / odd / "x.jsonl")),
        ("export", "--corpus", str(tmp_path / odd)),
        ("verify", "--corpus", str(tmp_path / odd)),
        ("fetch", "--from-id", "1", "--source", str(tmp_path / odd)),
    ]
    for args in cases:
        done = run_zkiz(*args)
        assert done.returncode in (1, 2), (args, done.stderr)
        line = one_line_error(done)
        assert "\x1b" not in line
        assert "line\\nbreak" in line, (args, line)


def test_a_warc_with_an_endless_header_line_is_refused_quickly(tmp_path):
    endless = tmp_path / "endless.warc"
    endless.write_bytes(b"WARC/1.0\r\n")
    os.truncate(endless, 2 * 1024**3)  # sparse: 2 GB of zeros after the version line
    giant = tmp_path / "giant.warc.gz"  # a response whose HTTP header is one 50 MB line
    warc_of(giant, [(10, article_page(10), "200 OK")])
    payload = b"HTTP/1.1 200 OK\r\nX: " + b"y" * 50_000_000 + b"\r\n\r\n"
    head = (
        b"WARC/1.0\r\nWARC-Type: response\r\n"
        b"WARC-Target-URI: https://articles.zkiz.com/?id=11\r\n"
        b"Content-Type: application/http; msgtype=response\r\n"
    )
    with giant.open("ab") as stream:
        length = b"Content-Length: %d\r\n\r\n" % len(payload)
        stream.write(gzip.compress(head + length + payload + b"\r\n\r\n"))
    started = time.monotonic()
    refused = run_zkiz("fetch", "--from-id", "1", "--source", str(endless), "-o", "-")
    assert refused.returncode == 2
    assert "header line over" in one_line_error(refused)
    failed = run_zkiz("fetch", "--from-id", "10", "--source", str(giant), "-o", "-", "-q")
    assert failed.returncode == 1, failed.stderr
    assert [r["id"] for r in jsonl(failed.stdout)] == [10]
    assert b"11 (damaged WARC record: a header line over" in failed.stderr
    assert time.monotonic() - started < 30


def test_a_page_of_too_many_elements_fails_its_id_unparsed(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "1.html").write_bytes(article_page(1))
    (pages / "2.html").write_bytes(article_page(2).replace(b"</body>", b"<i></i>" * 150_000))
    done = run_zkiz("fetch", "--source", str(pages), "-o", "-", "-q")
    assert done.returncode == 1, done.stderr
    assert [r["id"] for r in jsonl(done.stdout)] == [1]
    assert re.search(rb"2 \(\d+ tags: over 200000\)", done.stderr), done.stderr


def test_retries_in_the_thousands_do_not_overflow_the_backoff():
    assert http_source._backoff(5000) <= http_source.BACKOFF_MAX + http_source.BACKOFF_JITTER


def test_finished_deadlines_do_not_pile_up():
    watchdog = http_source._Watchdog()
    watch = http_source._Watch()
    for _ in range(20_000):  # requests answered long before an hour's --timeout
        watchdog.arm(watch, 3600)
        watchdog.disarm(watch)
    assert len(watchdog._heap) <= http_source._STALE_DEADLINES + 1


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        (["--help"], "closed"),
        (["fetch", "--source", str(SAMPLE), "-o", "{tmp}/out.jsonl"], "closed"),
        (["--version"], "/dev/full"),
        (["fetch", "--help"], "/dev/full"),
    ],
)
def test_a_closed_or_full_stdout_is_never_a_traceback(tmp_path, args, stdout):
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    if stdout == "closed":
        done = subprocess.run(
            [sys.executable, "-m", "zkiz_corpus", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: os.close(1),
        )
    else:
        with open(stdout, "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "zkiz_corpus", *args], stdout=full, stderr=subprocess.PIPE
            )
    assert b"Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) <= 1, done.stderr
    assert done.returncode in (0, 1)


def test_port_0_is_a_usage_error(runner):
    done = runner.invoke(
        cli, ["fetch", "--from-id", "1", "-o", "-", "--base-url", "http://127.0.0.1:0/"]
    )
    assert done.exit_code == 2
    assert "port 0" in done.stderr
