"""--concurrency: same records, politeness kept across workers, crash safety kept."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time

from tests.support import Archive, jsonl, kill9_after_requests, numbered_pages, run_zkiz
from zkiz_corpus.cli import cli
from zkiz_corpus.sources.http import Gate


def without_time(records):
    return [{k: v for k, v in r.items() if k != "fetched_at"} for r in records]


def test_concurrent_crawl_gives_the_same_records(archive, runner):
    args = [
        "fetch",
        "--from-id",
        "262804",
        "--to-id",
        "262815",
        "--base-url",
        archive.base_url,
        "--delay",
        "0",
        "-o",
        "-",
    ]
    alone = runner.invoke(cli, args)
    together = runner.invoke(cli, [*args, "--concurrency", "4"])
    assert together.exit_code == 0, together.output
    assert without_time(jsonl(together.stdout)) == without_time(jsonl(alone.stdout))


def test_delay_holds_across_workers():
    pages, _ = numbered_pages(9000, 8)
    with Archive(pages) as archive:
        done = run_zkiz(
            "fetch",
            "--from-id",
            "9000",
            "--count",
            "8",
            "--base-url",
            archive.base_url,
            "--delay",
            "0.2",
            "--concurrency",
            "4",
            "-o",
            "-",
        )
        assert done.returncode == 0, done.stderr
        times = sorted(archive.request_times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The client never starts two requests closer than the delay; the server sees their
    # arrival a few scheduler ticks late or early on a busy machine, never 4 at once.
    assert len(gaps) == 7 and min(gaps) >= 0.16, gaps
    assert sum(gaps) >= 7 * 0.2


def test_a_thread_that_wakes_late_pushes_the_next_start_back():
    overslept = []

    def sleep(seconds):
        # The first sleeper wakes 80 ms late, as a thread on a busy machine can.
        late = 0.0 if overslept else 0.08
        overslept.append(late)
        time.sleep(seconds + late)

    gate = Gate(0.1, sleep)
    starts = []

    def take_turn():
        gate.wait_turn()
        starts.append(time.monotonic())

    threads = [threading.Thread(target=take_turn) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    gaps = [b - a for a, b in itertools.pairwise(sorted(starts))]
    assert min(gaps) >= 0.1, gaps


def test_retry_after_pauses_every_worker():
    pages, _ = numbered_pages(9000, 12)
    with Archive(pages) as archive:
        archive.faults = {9003: [("status", 503, {"Retry-After": "1"})]}
        done = run_zkiz(
            "fetch",
            "--from-id",
            "9000",
            "--count",
            "12",
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "--concurrency",
            "4",
            "-o",
            "-",
        )
        assert done.returncode == 0, done.stderr
        asked = list(zip(archive.requests, archive.request_times))
    refused_at = next(t for path, t in asked if path == "/?id=9003")
    during_pause = [path for path, t in asked if refused_at + 0.15 < t < refused_at + 0.9]
    assert during_pause == []
    assert [path for path, _ in asked].count("/?id=9003") == 2


def test_kill9_during_a_concurrent_crawl_then_resume(tmp_path):
    pages, article_ids = numbered_pages(9000, 200)
    corpus = tmp_path / "corpus"
    command = [
        sys.executable,
        "-m",
        "zkiz_corpus",
        "fetch",
        "--corpus",
        str(corpus),
        "--from-id",
        "9000",
        "--count",
        "200",
        "--delay",
        "0",
        "--concurrency",
        "6",
        "-q",
    ]
    with Archive(pages) as archive:
        archive.latency = 0.02
        for requests_before_kill in (30, 45):
            process = subprocess.Popen([*command, "--base-url", archive.base_url])
            kill9_after_requests(process, archive, requests_before_kill)
        final = subprocess.run([*command, "--base-url", archive.base_url], capture_output=True)
        assert final.returncode == 0, final.stderr
    lines = (corpus / "records.jsonl").read_bytes().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == article_ids
    exported = jsonl(run_zkiz("export", "--corpus", str(corpus)).stdout)
    assert [r["id"] for r in exported] == article_ids
