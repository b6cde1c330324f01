"""What a terminal user sees: progress on a tty only, --help with examples."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

from tests.support import Archive, numbered_pages, run_zkiz


def fetch_on(stderr_fd: int | None, archive: Archive, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zkiz_corpus",
            "fetch",
            "--from-id",
            "30000",
            "--count",
            "60",
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "-o",
            "-",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr_fd if stderr_fd is not None else subprocess.PIPE,
    )


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def slow_archive():
    pages, _ = numbered_pages(30000, 60)
    with Archive(pages) as archive:
        archive.latency = 0.02
        yield archive


def test_progress_on_a_terminal(slow_archive):
    controller, terminal = pty.openpty()
    process = fetch_on(terminal, slow_archive)
    os.close(terminal)
    shown = read_all(controller).decode("utf-8", "replace")
    os.close(controller)
    assert process.wait() == 0
    assert "\r" in shown
    assert "/60 (" in shown and "ETA" in shown and "ids/s" in shown
    assert "60 ids walked: 40 articles, 20 missing, 0 failed" in shown  # the closing summary


def test_open_ended_walk_shows_done_and_rate_without_eta(slow_archive):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zkiz_corpus",
            "fetch",
            "--from-id",
            "30000",
            "--max-misses",
            "30",
            "--base-url",
            slow_archive.base_url,
            "--delay",
            "0",
            "-o",
            "-",
        ],
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    shown = read_all(controller).decode("utf-8", "replace")
    os.close(controller)
    assert process.wait() == 0
    assert "ids/s" in shown and "ETA" not in shown


def test_no_progress_in_a_pipe_or_when_quiet(slow_archive):
    piped = fetch_on(None, slow_archive)
    _, stderr = piped.communicate()
    assert b"\r" not in stderr and b"ETA" not in stderr
    (line,) = stderr.decode().splitlines()  # the summary alone
    assert re.fullmatch(
        r"zkiz: (run 1: )?60 ids walked: 40 articles, 20 missing, 0 failed, "
        r"0 already in the corpus \([\d.]+ s, [\d.]+ ids/s\)",
        line,
    )
    controller, terminal = pty.openpty()
    quiet = fetch_on(terminal, slow_archive, "-q")
    os.close(terminal)
    shown = read_all(controller)
    os.close(controller)
    assert quiet.wait() == 0
    assert shown == b""


@pytest.mark.parametrize("command", ["fetch", "status", "export", "schema"])
def test_help_has_examples(command):
    done = run_zkiz(command, "--help")
    assert done.returncode == 0
    text = done.stdout.decode()
    assert "Examples:" in text
    assert f"zkiz {command}" in text.split("Examples:")[1]
