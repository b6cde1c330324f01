"""Page workers: pages parsed and converted in other processes give the very records,
in the very order, that one process gives, and a worker's death, a Ctrl-C or a kill -9
loses and duplicates nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    ROOT,
    SEED_A,
    SEED_B,
    Archive,
    ArticleSpec,
    markup_div_br,
    numbered_pages,
    page,
    run_zkiz,
)

FIRST = 700_000
COUNT = 240  # over WORKERS_FROM_IDS: a run this long starts its workers


def _pages() -> tuple[dict, list[int]]:
    """Every shape a crawl meets: one article, two, gaps; and a long page every 7th id.
    Not where the page before shows the id's article too: an article must read the same
    on every page, or a run resumed between the two pages records the other version."""
    pages, article_ids = numbered_pages(FIRST, COUNT)
    for n in article_ids[::7]:
        if (n - 1) % 5 == 0:  # numbered_pages shows n on page n - 1
            continue
        pages[n] = page(
            markup_div_br([ArticleSpec(n, f"長文{n}", (*SEED_A.paragraphs, *SEED_B.paragraphs))])
        )
    return pages, article_ids


def _fetch(archive: Archive, corpus: Path, *extra: str, **popen) -> list[str]:
    return [
        "fetch",
        "--base-url",
        archive.base_url,
        "--from-id",
        str(FIRST),
        "--to-id",
        str(FIRST + COUNT - 1),
        "--delay",
        "0",
        "--corpus",
        str(corpus),
        *extra,
    ]


def _lines(corpus: Path) -> list[dict]:
    """The records, less the time each was fetched."""
    found = []
    for line in (corpus / "records.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        del record["fetched_at"]
        found.append(record)
    return found


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    return found


@pytest.fixture(scope="module")
def served():
    pages, article_ids = _pages()
    with Archive(pages) as archive:
        yield archive, article_ids


@pytest.fixture(scope="module")
def alone(served, tmp_path_factory):
    """The records one process makes: what workers must make too."""
    archive, article_ids = served
    corpus = tmp_path_factory.mktemp("alone") / "corpus"
    done = run_zkiz(*_fetch(archive, corpus, "--workers", "0", "--concurrency", "4"))
    assert done.returncode == 0, done.stderr
    records = _lines(corpus)
    assert [r["id"] for r in records] == article_ids
    return records


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_workers_write_the_records_one_process_writes_in_its_order(
    served, alone, tmp_path, concurrency
):
    archive, _ = served
    corpus = tmp_path / "corpus"
    done = run_zkiz(*_fetch(archive, corpus, "--workers", "2", "--concurrency", concurrency))
    assert done.returncode == 0, done.stderr
    assert _lines(corpus) == alone
    assert b"240 ids walked" in done.stderr or done.stderr == b"", done.stderr


def test_a_rebuild_from_a_warc_with_workers_gives_the_same_records(served, alone, tmp_path):
    archive, _ = served
    warc = tmp_path / "crawl.warc.gz"
    done = run_zkiz(*_fetch(archive, tmp_path / "live", "--concurrency", "4", "--warc", str(warc)))
    assert done.returncode == 0, done.stderr
    rebuilt = tmp_path / "rebuilt"
    for workers in ("0", "2"):
        done = run_zkiz(
            "fetch", "--source", str(warc), "--corpus", str(rebuilt / workers), "--workers", workers
        )
        assert done.returncode == 0, done.stderr
        assert _lines(rebuilt / workers) == alone


def test_a_library_caller_with_threads_of_its_own_gets_no_workers(served, alone, tmp_path):
    """Forking beside another thread could copy a lock it holds: the pages are read in
    the caller's process instead, and the records are the same."""
    from zkiz_corpus import FetchOptions, fetch

    archive, _ = served  # its server runs in a thread of this process
    options = FetchOptions(
        from_id=FIRST,
        to_id=FIRST + COUNT - 1,
        base_url=archive.base_url,
        delay=0,
        concurrency=4,
        workers=2,
        corpus=tmp_path / "corpus",
    )
    before = set(_children(os.getpid()))
    result = fetch(options)
    assert set(_children(os.getpid())) == before
    assert result.stats.articles == len(alone)
    assert _lines(tmp_path / "corpus") == alone


def test_workers_out_of_range_are_a_usage_error(tmp_path):
    done = run_zkiz("fetch", "--from-id", "1", "--workers", "-1", "--corpus", str(tmp_path / "c"))
    assert done.returncode == 2
    assert b"--workers" in done.stderr and b"Traceback" not in done.stderr


@contextlib.contextmanager
def _crawling(
    archive: Archive, corpus: Path, workers: int, after: int, *extra: str
) -> Iterator[subprocess.Popen]:
    """A crawl at concurrency 4 with ``workers`` page workers, once they run and it has
    asked for ``after`` more pages; killed on the way out if it still runs."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zkiz_corpus",
            *_fetch(archive, corpus, "--workers", str(workers), "--concurrency", "4", *extra),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's job is
    )
    try:
        _wait_for(lambda: len(_children(process.pid)) == workers)
        start = len(archive.requests)
        _wait_for(lambda: len(archive.requests) > start + after)
        yield process
    finally:
        process.kill()


def _gone(pids: list[int]) -> bool:
    """No process left of ``pids`` but zombies (whose reaping is their new parent's)."""
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):  # gone, or going as it is read
            continue
        if state != "Z":
            return False
    return True


def _wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def slow(served):
    archive, _ = served
    archive.latency = 0.03
    yield archive
    archive.latency = 0.0


def test_a_worker_killed_mid_crawl_loses_no_page(slow, alone, tmp_path):
    corpus = tmp_path / "corpus"
    with _crawling(slow, corpus, 2, 40) as process:
        os.kill(_children(process.pid)[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert b"a page worker died" in stderr
    assert b"Traceback" not in stderr, stderr.decode()
    assert _lines(corpus) == alone  # every article once, in order


def test_ctrl_c_to_the_job_stops_it_in_one_line_and_keeps_what_was_recorded(slow, alone, tmp_path):
    corpus = tmp_path / "corpus"
    with _crawling(slow, corpus, 2, 60) as process:
        workers = _children(process.pid)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr and b"KeyboardInterrupt" not in stderr
    _wait_for(lambda: _gone(workers), 10)
    kept = _lines(corpus)
    assert kept == alone[: len(kept)] and kept  # a prefix of the whole, in order
    done = run_zkiz(*_fetch(slow, corpus, "--workers", "2", "--concurrency", "4"))
    assert done.returncode == 0, done.stderr
    assert _lines(corpus) == alone


def test_after_kill_9_the_workers_go_and_the_corpus_is_free_at_once(slow, alone, tmp_path):
    corpus = tmp_path / "corpus"
    with _crawling(slow, corpus, 2, 60) as process:
        workers = _children(process.pid)
        process.kill()
        process.wait()
    # The next run may start at once: no orphan holds the corpus's lock.
    done = run_zkiz(*_fetch(slow, corpus, "--workers", "2", "--concurrency", "4"))
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in _lines(corpus)] == [r["id"] for r in alone]
    assert _lines(corpus) == alone
    _wait_for(lambda: _gone(workers), 10)


def _dies_on_marked_pages(reader, body, content_type, url, fetched_at, exchanges=None):
    if b"KILLS-ITS-PARSER" in body:
        os._exit(1)  # as a parser crashing in C would
    return reader.extract(body, content_type, url, fetched_at)


def test_a_page_that_kills_its_worker_fails_alone_and_the_run_goes_on(tmp_path, monkeypatch):
    """Workers forked from this process run the patched job: the marked page kills
    one, then its replacement; it fails (to be retried), every other page is kept."""
    from zkiz_corpus import FetchOptions, crawling, fetch, working
    from zkiz_corpus.outcomes import Cause
    from zkiz_corpus.reading import CorpusReader

    monkeypatch.setattr(crawling, "_extract", _dies_on_marked_pages)
    monkeypatch.setattr(working.threading, "active_count", lambda: 1)  # fork, as the CLI does
    pages = tmp_path / "pages"
    pages.mkdir()
    for n in range(1, 151):
        spec = ArticleSpec(n, f"第{n}號", SEED_A.paragraphs[:2])
        html = markup_div_br([spec]) + ("<!-- KILLS-ITS-PARSER -->" if n == 77 else "")
        (pages / f"{n}.html").write_text(html, encoding="utf-8")
    result = fetch(FetchOptions(source=pages, corpus=tmp_path / "corpus", workers=2))
    assert result.stats.failed == 1
    assert result.stats.failures[0][:2] == (77, Cause.WORKER_DIED)
    with CorpusReader(tmp_path / "corpus") as reader:
        assert [r["id"] for r in reader.records()] == [n for n in range(1, 151) if n != 77]
        assert [(f["id"], f["cause"]) for f in reader.failed()] == [(77, "worker-died")]


def _stored_corpus(path: Path, count: int) -> None:
    from zkiz_corpus import Corpus, make_record
    from zkiz_corpus.parsing import Article

    with Corpus(path, batch_size=5000) as corpus:
        for n in range(1, count + 1):
            text = f"第{n}篇:" + SEED_B.paragraphs[n % len(SEED_B.paragraphs)]
            article = Article(n, f"標題{n}", text, None)
            corpus.add_article(make_record(article, "t2s", "2026-11-27T00:00:00Z"))


def test_export_convert_by_workers_writes_what_one_process_writes(tmp_path):
    from zkiz_corpus.converting import make_converter

    corpus = tmp_path / "corpus"
    _stored_corpus(corpus, 1500)  # enough to start workers for
    records = corpus / "records.jsonl"
    data = bytearray(records.read_bytes())
    where = data.index("第700篇".encode())
    data[where : where + 3] = "第".encode()[::-1][:3]  # damage one record's text
    records.write_bytes(bytes(data))
    outputs = {}
    for workers in ("0", "2"):
        done = run_zkiz(
            "export", "--corpus", str(corpus), "--convert", "s2hk", "--workers", workers
        )
        assert done.returncode == 1  # the damaged record is skipped, and said
        assert b"skipped 1 damaged record (id 700" in done.stderr, done.stderr
        outputs[workers] = done.stdout
    assert outputs["0"] == outputs["2"]
    exported = [json.loads(line) for line in outputs["2"].splitlines()]
    assert [r["id"] for r in exported] == [n for n in range(1, 1501) if n != 700]
    to_hk = make_converter("s2hk")
    assert all(r["convert"] == "s2hk" for r in exported)
    assert all(r["text"] == to_hk(r["text_original"]) for r in exported)


def _warc_pages(warc: Path) -> list[tuple[str, str]]:
    from warcio.archiveiterator import ArchiveIterator

    with warc.open("rb") as stream:
        return sorted(
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI") or "")
            for r in ArchiveIterator(stream)
            if r.rec_type != "warcinfo"
        )


def test_a_warc_kept_by_workers_holds_what_one_process_keeps(served, tmp_path):
    archive, _ = served
    kept = {}
    for workers in ("0", "1"):
        warc = tmp_path / f"{workers}.warc.gz"
        done = run_zkiz(
            *_fetch(archive, tmp_path / workers, "--workers", workers, "--concurrency", "4"),
            "--warc",
            str(warc),
        )
        assert done.returncode == 0, done.stderr
        kept[workers] = _warc_pages(warc)
    assert kept["1"] == kept["0"]
    assert len(kept["1"]) == 2 * (COUNT + 1)  # a request and a response an id, robots.txt


def test_after_kill_9_every_record_has_its_exchange_in_the_warc(slow, tmp_path):
    corpus, warc = tmp_path / "corpus", tmp_path / "crawl.warc.gz"
    with _crawling(slow, corpus, 1, 100, "--warc", str(warc)) as process:
        process.kill()
        process.wait()
    recorded = {r["url"].rsplit("=", 1)[1] for r in _lines(corpus)}
    responses = {
        uri.rsplit("=", 1)[1]
        for kind, uri in _warc_pages(warc)
        if kind == "response" and "=" in uri
    }
    assert recorded and recorded <= responses


# ---- found by an outside attack -----------------------------------------------------


def _pages_folder(path: Path, count: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        spec = ArticleSpec(n, f"第{n}號", SEED_A.paragraphs[:3])
        (path / f"{n}.html").write_text(markup_div_br([spec]), encoding="utf-8")
    return path


_MAIN_PID = os.getpid()


def _converted_dying_in_a_worker(converter, batch):
    from zkiz_corpus import exporting

    if os.getpid() != _MAIN_PID and any(n == 2000 for n, _, _ in batch):
        os._exit(1)  # as the OOM killer or a kill -9 would
    return exporting._real_converted(converter, batch)


def test_export_convert_goes_on_when_a_worker_dies(tmp_path, monkeypatch):
    from zkiz_corpus import exporting, working

    corpus = tmp_path / "corpus"
    _stored_corpus(corpus, 6000)
    oracle = tmp_path / "oracle.jsonl"
    exporting.export(corpus, oracle, convert="s2hk", workers=0)
    monkeypatch.setattr(exporting, "_real_converted", exporting._converted, raising=False)
    monkeypatch.setattr(exporting, "_converted", _converted_dying_in_a_worker)
    monkeypatch.setattr(working.threading, "active_count", lambda: 1)  # forked, as the CLI
    out = tmp_path / "out.jsonl"
    exporting.export(corpus, out, convert="s2hk", workers=2)
    assert out.read_bytes() == oracle.read_bytes()


_STDIN_RUN = """
import sys, threading
from zkiz_corpus import FetchOptions, fetch
threading.Thread(target=threading.Event().wait, daemon=True).start()
result = fetch(FetchOptions(source=sys.argv[1], corpus=sys.argv[2], workers=2))
print(result.outcome.value, result.stats.articles, result.stats.failed)
"""


def test_a_script_from_stdin_with_threads_of_its_own_reads_every_page(tmp_path):
    """``python - < job.py`` (a heredoc in a cron script), with a thread: no worker
    could import its ``__main__``; none is started, and every page is read."""
    pages = _pages_folder(tmp_path / "pages", 400)
    done = subprocess.run(
        [sys.executable, "-", str(pages), str(tmp_path / "corpus")],
        input=_STDIN_RUN.encode(),
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
    )
    assert done.stdout.split() == [b"complete", b"400", b"0"], done.stderr
    assert b"Traceback" not in done.stderr


def test_workers_killed_with_their_run_as_they_start_end_too(tmp_path):
    pages = _pages_folder(tmp_path / "pages", 400)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zkiz_corpus",
            "fetch",
            "--source",
            str(pages),
            "--corpus",
            str(tmp_path / "corpus"),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: len(_children(process.pid)) >= 1, 30)
        workers = _children(process.pid)
        process.kill()
        process.wait()
    finally:
        process.kill()
    _wait_for(lambda: _gone(workers), 10)


def test_ctrl_c_after_a_worker_died_is_one_line(slow, tmp_path):
    with _crawling(slow, tmp_path / "corpus", 1, 20) as process:
        os.kill(_children(process.pid)[0], signal.SIGKILL)
        start = len(slow.requests)
        _wait_for(lambda: len(slow.requests) > start + 20)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr and b"KeyboardInterrupt" not in stderr, stderr


def test_a_warc_that_cannot_be_written_keeps_every_written_records_exchange(tmp_path):
    """With a WARC limited to 1 MB, the run ends in one line (exit 1), and every record
    it wrote has its exchange in the WARC, with workers as without."""
    import resource

    from warcio.archiveiterator import ArchiveIterator

    pages, _ = numbered_pages(700_000, 3000)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    with Archive(pages) as archive:
        for attempt, workers in enumerate(("0", "1", "1")):
            warc = tmp_path / f"w{attempt}.warc.gz"
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "zkiz_corpus",
                    "fetch",
                    "--base-url",
                    archive.base_url,
                    "--from-id",
                    "700000",
                    "--to-id",
                    "702999",
                    "--delay",
                    "0",
                    "--concurrency",
                    "4",
                    "--workers",
                    workers,
                    "-o",
                    "-",
                    "--warc",
                    str(warc),
                ],
                cwd=ROOT,
                capture_output=True,
                preexec_fn=limit,
                timeout=300,
            )
            assert done.returncode == 1, done.stderr
            assert done.stderr.strip().splitlines()[-1].endswith(b"file too large")
            written = [json.loads(line)["id"] for line in done.stdout.splitlines()]
            kept = set()
            with warc.open("rb") as stream:
                try:
                    for record in ArchiveIterator(stream):
                        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                        page = record.rec_type == "response" and "=" in uri
                        if page and record.content_stream().read():
                            kept.add(int(uri.rsplit("=", 1)[1]))
                except Exception:  # the member the limit cut
                    pass
            assert written and set(written) <= kept, (workers, set(written) - kept)
