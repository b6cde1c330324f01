"""Crash safety of the corpus: kill -9 at random moments, locks, signals, resume."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import Archive, jsonl, kill9_after_requests, numbered_pages, run_zkiz
from zkiz_corpus.storing import Corpus

FIRST, COUNT = 5000, 200


@pytest.fixture
def slow_archive():
    pages, article_ids = numbered_pages(FIRST, COUNT)
    with Archive(pages) as served:
        served.latency = 0.01
        served.article_ids = article_ids
        yield served


def start_fetch(archive, corpus, *extra):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zkiz_corpus",
            "fetch",
            "--corpus",
            str(corpus),
            "--from-id",
            str(FIRST),
            "--to-id",
            str(FIRST + COUNT - 1),
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "-q",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def assert_corpus_exact(corpus, article_ids):
    lines = (corpus / "records.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends in a newline: nothing torn
    records = [json.loads(line) for line in lines[:-1]]
    assert sorted(r["id"] for r in records) == article_ids  # each once, none lost
    exported = jsonl(run_zkiz("export", "--corpus", str(corpus)).stdout)
    assert [r["id"] for r in exported] == article_ids


def read_all_along(process) -> threading.Thread:
    """Read ``process``'s stdout as it comes, as a pipe's reader does: a crawl whose
    output nobody reads stops at a full pipe, before the requests a kill waits for."""
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(process.stdout.read()), daemon=True)
    reader.start()
    reader.read = read  # type: ignore[attr-defined]
    return reader


def outputs_of(process, reader) -> bytes:
    process.wait(timeout=120)
    reader.join(timeout=60)
    process.communicate()
    return b"".join(reader.read)


@pytest.mark.parametrize(
    ("concurrency", "output", "refetch"),
    [
        (1, None, False),
        (1, "file", False),
        (8, "-", False),
        (8, "gz", False),
        (8, None, True),
    ],
)
def test_random_kill9_storm_then_a_final_run(slow_archive, tmp_path, concurrency, output, refetch):
    """Each kill lands after a random number (5..80) of this run's requests: mid-fetch,
    mid-parse or mid-commit, whatever the machine's speed. Every article ends up once in
    records.jsonl, in export, and in the union of the runs' -o outputs."""
    corpus = tmp_path / "corpus"
    target = {"file": str(tmp_path / "out.jsonl"), "gz": str(tmp_path / "out.jsonl.gz")}.get(
        output, output
    )
    extra = ["--concurrency", str(concurrency)]
    if target is not None:
        extra += ["-o", target]
    if refetch:
        assert start_fetch(slow_archive, corpus).wait(timeout=120) == 0
        extra.append("--refetch")
    rng = random.Random(f"20261126-{concurrency}-{output}-{refetch}")
    piped = b""
    for _ in range(6):
        process = start_fetch(slow_archive, corpus, *extra)
        reader = read_all_along(process)
        wait = rng.uniform(0, 0.01)
        kill9_after_requests(process, slow_archive, rng.randint(5, 60), wait, must_kill=False)
        piped += outputs_of(process, reader)
    final = start_fetch(slow_archive, corpus, *[arg for arg in extra if arg != "--refetch"])
    stdout, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr
    assert_corpus_exact(corpus, slow_archive.article_ids)
    status = json.loads(run_zkiz("status", "--corpus", str(corpus), "--json").stdout)
    assert status["articles"] == len(slow_archive.article_ids)
    assert status["articles"] + status["missing"] == COUNT
    assert status["failed"] == 0
    if target is None or refetch:
        return
    if target == "-":
        union = piped + stdout
    elif output == "gz":
        with gzip.open(target, "rb") as stream:
            union = stream.read()
    else:
        union = Path(target).read_bytes()
    assert sorted(record["id"] for record in jsonl(union)) == slow_archive.article_ids


def test_a_torn_tail_is_cut_off_on_the_next_open(slow_archive, tmp_path):
    corpus = tmp_path / "corpus"
    done = run_zkiz(
        "fetch",
        "--corpus",
        str(corpus),
        "--from-id",
        str(FIRST),
        "--count",
        "30",
        "--base-url",
        slow_archive.base_url,
        "--delay",
        "0",
    )
    assert done.returncode == 0
    before = (corpus / "records.jsonl").read_bytes()
    with open(corpus / "records.jsonl", "ab") as records:
        records.write(b'{"id": 99999, "title": "half a li')  # what a kill mid-write leaves
    Corpus(corpus).close()
    assert (corpus / "records.jsonl").read_bytes() == before


def test_second_run_is_refused_and_the_first_completes(slow_archive, tmp_path):
    corpus = tmp_path / "corpus"
    first = start_fetch(slow_archive, corpus)
    time.sleep(0.5)
    assert first.poll() is None
    second = run_zkiz(
        "fetch",
        "--corpus",
        str(corpus),
        "--from-id",
        str(FIRST),
        "--count",
        "5",
        "--base-url",
        slow_archive.base_url,
    )
    assert second.returncode == 75
    assert second.stderr.decode().strip().endswith("is locked by another zkiz run")
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert_corpus_exact(corpus, slow_archive.article_ids)


def test_lock_of_a_killed_run_does_not_block(slow_archive, tmp_path):
    corpus = tmp_path / "corpus"
    process = start_fetch(slow_archive, corpus)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    again = start_fetch(slow_archive, corpus)
    _, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    assert_corpus_exact(corpus, slow_archive.article_ids)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_commit_and_exit_128_plus_signal(slow_archive, tmp_path, signum):
    corpus = tmp_path / "corpus"
    process = start_fetch(slow_archive, corpus, "-o", "-")
    read: list[bytes] = []  # stdout is read all along, as a terminal would
    reader = threading.Thread(target=lambda: read.append(process.stdout.read()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while len(slow_archive.requests) < 30 and time.monotonic() < deadline:  # mid-crawl
        time.sleep(0.005)
    assert process.poll() is None, "the crawl ended before the signal"
    process.send_signal(signum)
    process.wait(timeout=30)
    reader.join(timeout=30)
    stdout, stderr = b"".join(read), process.stderr.read()
    assert process.returncode == 128 + signum, stderr  # 143 for SIGTERM, 130 for SIGINT
    assert b"Traceback" not in stderr
    printed = [r["id"] for r in jsonl(stdout)]
    status = json.loads(run_zkiz("status", "--corpus", str(corpus), "--json").stdout)
    assert status["articles"] == len(printed) > 0  # what was reported is what was kept
    assert status["last_run"]["exit_code"] == 128 + signum
    resumed = start_fetch(slow_archive, corpus, "-o", "-")
    more, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    assert sorted(printed + [r["id"] for r in jsonl(more)]) == slow_archive.article_ids


def test_failed_ids_are_retried_on_the_next_run(runner, tmp_path):
    from tests.support import SEED_A, ArticleSpec, Response, markup_div_br, page
    from zkiz_corpus.cli import cli

    corpus = str(tmp_path / "corpus")
    spec = ArticleSpec(7001, "會回來的文章", SEED_A.paragraphs[:2])
    first_spec = ArticleSpec(7000, SEED_A.title, SEED_A.paragraphs)
    pages = {7000: page(markup_div_br([first_spec])), 7001: Response(503, b"busy")}
    with Archive(pages) as served:
        base = ["--base-url", served.base_url, "--delay", "0", "--retries", "0", "--corpus", corpus]
        first = runner.invoke(cli, ["fetch", "--from-id", "7000", "--to-id", "7002", *base])
        assert first.exit_code == 1
        assert "7001 (HTTP 503" in first.output
        served.pages[7001] = page(markup_div_br([spec]))
        second = runner.invoke(cli, ["fetch", "--max-misses", "2", *base, "-o", "-"])
        assert second.exit_code == 0, second.output
        assert [r["id"] for r in jsonl(second.stdout)] == [7001]
        assert served.requests.count("/?id=7001") == 2
        assert served.requests.count("/?id=7000") == 1


def test_refetch_keeps_one_line_per_id(slow_archive, tmp_path):
    corpus = tmp_path / "corpus"
    args = [
        "fetch",
        "--corpus",
        str(corpus),
        "--from-id",
        str(FIRST),
        "--count",
        "40",
        "--base-url",
        slow_archive.base_url,
        "--delay",
        "0",
    ]
    assert run_zkiz(*args).returncode == 0
    assert run_zkiz(*args, "--refetch").returncode == 0
    ids = [r["id"] for r in jsonl((corpus / "records.jsonl").read_bytes())]
    assert ids == sorted(set(ids)) == [n for n in slow_archive.article_ids if n < FIRST + 40]
    assert not (corpus / "records.jsonl.compact").exists()


def test_environment_variable_names_the_corpus(slow_archive, tmp_path):
    corpus = tmp_path / "from-env"
    done = run_zkiz(
        "fetch",
        "--from-id",
        str(FIRST),
        "--count",
        "3",
        "--base-url",
        slow_archive.base_url,
        "--delay",
        "0",
        cwd=tmp_path,
        env={"ZKIZ_CORPUS": str(corpus)},
    )
    assert done.returncode == 0
    assert (corpus / "records.jsonl").is_file()
    assert sorted(os.listdir(tmp_path)) == ["from-env"]
