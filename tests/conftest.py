from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from archive import Archive, standard_pages

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def archive():
    """The standard fixture archive, served on 127.0.0.1 for the test."""
    pages, expected = standard_pages()
    with Archive(pages) as served:
        served.expected = expected
        yield served


@pytest.fixture
def runner():
    return CliRunner()


def run_zkiz(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 60):
    """The real ``zkiz`` command in a subprocess, as a user or cron runs it."""
    environment = {**os.environ, **(env or {})}
    environment.pop("ZKIZ_CORPUS", None) if env is None or "ZKIZ_CORPUS" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "zkiz_corpus", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=timeout,
    )


def kill9_after_requests(
    process, archive, count: int, extra_wait: float = 0.0, must_kill: bool = True
) -> None:
    """SIGKILL ``process`` once ``archive`` has answered ``count`` more page requests:
    a moment inside the crawl whatever the machine's speed."""
    target = len(archive.requests) + count
    while len(archive.requests) < target and process.poll() is None:
        time.sleep(0.001)
    time.sleep(extra_wait)
    if not must_kill and process.poll() is not None:
        return
    assert process.poll() is None, "the crawl ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


def one_line_error(done) -> str:
    """The single stderr line of a refused command (no traceback, nothing on stdout)."""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in lines[0]
    assert done.stdout == b""
    return lines[0]


def jsonl(data: bytes | str) -> list[dict]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return [json.loads(line) for line in text.splitlines()]
