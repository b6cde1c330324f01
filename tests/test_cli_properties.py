"""Whatever options a user types, ``zkiz fetch`` ends with a documented status, at most
one error line, and never a traceback (Hypothesis draws the command lines)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support import ROOT, Archive, run_zkiz, standard_pages
from zkiz_corpus.cli import cli

DOCUMENTED = {0, 1, 2, 75}
SAMPLE = str(ROOT / "data" / "sample.warc.gz")


@pytest.fixture(scope="module")
def served():
    pages, _ = standard_pages()
    with Archive(pages) as archive:
        yield archive


def ids(last: bool = False):
    """Hostile ids, and valid ones near the fixture archive (so every walk is short: a
    valid --to-id far away would be a walk of 2^63 ids, as asked)."""
    hostile = ["0", "-1", "1e3", "abc", "", str(2**63), str(2**64)]
    if not last:
        hostile.append(str(2**63 - 1))
    return st.one_of(st.sampled_from(hostile), st.integers(262800, 262820).map(str))


def option_values(base_url: str, files: dict[str, str]):
    """(option, value) pairs: valid ones and the hostile ones of the issues."""
    seconds = ["0", "0.01", "-1", "inf", "-inf", "nan", "1e300", "soon", "3601"]
    return st.one_of(
        st.tuples(st.just("--from-id"), ids()),
        st.tuples(st.just("--to-id"), ids(last=True)),
        st.tuples(st.just("--count"), st.sampled_from(["0", "1", "3", "-2", str(2**63)])),
        st.tuples(st.just("--delay"), st.sampled_from(seconds)),
        st.tuples(st.just("--timeout"), st.sampled_from([*seconds, "2"])),
        st.tuples(st.just("--concurrency"), st.sampled_from(["0", "1", "4", "64", "65", "10000"])),
        st.tuples(st.just("--retries"), st.sampled_from(["-1", "0", "1", "x"])),
        st.tuples(st.just("--max-misses"), st.sampled_from(["0", "1", "3", "-4"])),
        st.tuples(st.just("--convert"), st.sampled_from(["t2s", "none", "s2hk", "zz", ""])),
        st.tuples(
            st.just("--base-url"),
            st.sampled_from(
                [
                    base_url,
                    base_url + "sub/",
                    "http://[::1",
                    f"http://{'a' * 64}.example/",
                    "http://127.0.0.1:99999/",
                    "http://exa mple.com/",
                    "http://u:p@127.0.0.1/",
                    "ftp://127.0.0.1/",
                    "not a url",
                    "http://127.0.0.1:9/",
                    "",
                ]
            ),
        ),
        st.tuples(
            st.just("--user-agent"),
            st.sampled_from(["ok/1.0", "爬蟲", "a\r\nX: y", "", "\x00", "x" * 2000]),
        ),
        st.tuples(st.just("--source"), st.sampled_from(list(files.values()))),
        st.tuples(st.just("--corpus"), st.sampled_from([files["corpus"], files["text"]])),
        st.tuples(st.just("-o"), st.sampled_from(["-", files["out"], "/proc/zkiz.jsonl"])),
        st.tuples(st.just("--warc"), st.sampled_from([files["warc_out"], "/proc/x.warc.gz"])),
        st.tuples(st.sampled_from(["--ignore-robots", "--refetch", "--no-progress"]), st.none()),
        st.tuples(st.sampled_from(["--bogus", "--from-id"]), st.none()),
    )


def check(exit_code: int, stderr: str, stdout: str) -> None:
    assert exit_code in DOCUMENTED, (exit_code, stderr)
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.splitlines()
    assert all(line.startswith("zkiz: ") for line in lines), stderr
    if exit_code == 2:
        assert len(lines) == 1, stderr
    else:  # -q: only errors (a truncated source and its failed ids at most)
        assert len(lines) <= 2, stderr


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_fetch_command_line_ends_well(served, data):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "notes.txt").write_text("not a WARC\n")
        pages = root / "pages"
        pages.mkdir()
        (pages / "262804.html").write_bytes(b"<html><body>nothing</body></html>")
        files = {
            "sample": SAMPLE,
            "zero": "/dev/zero",
            "text": str(root / "notes.txt"),
            "pages": str(pages),
            "absent": str(root / "absent.warc.gz"),
            "corpus": str(root / "corpus"),
            "out": str(root / "out" / "x.jsonl"),
            "warc_out": str(root / "crawl.warc.gz"),
        }
        drawn = data.draw(st.lists(option_values(served.base_url, files), max_size=6))
        args = ["fetch", "--from-id", "262804", "--to-id", "262815", "--base-url"]
        args += [served.base_url, "--delay", "0", "--timeout", "2", "--retries", "0"]
        args += ["--max-misses", "3", "-o", "-"]
        for name, value in drawn:
            args += [name] if value is None else [name, value]
        args.append("-q")
        result = CliRunner().invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        event(f"exit {result.exit_code}")
        check(result.exit_code, result.stderr, result.stdout)


@pytest.mark.parametrize(
    "extra",
    [
        ["--from-id", str(2**63), "--delay", "inf"],
        ["--from-id", "1", "--source", "/dev/zero"],
        ["--from-id", "1", "--base-url", "http://[::1", "--user-agent", "爬蟲"],
        ["--from-id", "1", "--base-url", "http://127.0.0.1:9/", "--retries", "0", "-o", "-"],
    ],
)
def test_command_lines_as_a_user_runs_them(tmp_path, extra):
    done = run_zkiz("fetch", *extra, "-q", cwd=tmp_path)
    check(done.returncode, done.stderr.decode(), done.stdout.decode())
