"""``zkiz fetch``/``export``/``status``/``schema`` end to end against a loopback archive."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

from tests.support import (
    ROOT,
    SEED_A,
    SEED_B,
    Archive,
    jsonl,
    markup_div_br,
    one_line_error,
    page,
    run_zkiz,
)
from zkiz_corpus.cli import cli
from zkiz_corpus.converting import make_converter

RANGE = ["--from-id", "262804", "--to-id", "262815"]


def fetch_args(archive: Archive, *extra: str) -> list[str]:
    return ["fetch", *RANGE, "--base-url", archive.base_url, "--delay", "0", *extra]


def assert_records_match(records: list[dict], expected, convert: str = "t2s") -> None:
    to = make_converter(convert)
    assert [r["id"] for r in records] == [spec.id for spec in expected]
    for record, spec in zip(records, expected):
        assert record["url"] == f"https://articles.zkiz.com/?id={spec.id}"
        assert record["title_original"] == spec.title
        assert record["text_original"] == spec.text
        assert record["title"] == to(spec.title)
        assert record["text"] == to(spec.text)
        assert record["source_url"] == spec.source_url
        assert record["convert"] == convert
        assert record["sha256"] == hashlib.sha256(spec.text.encode()).hexdigest()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["fetched_at"])


def test_fetch_range_yields_exactly_the_articles(archive, runner):
    result = runner.invoke(cli, fetch_args(archive, "-o", "-"))
    assert result.exit_code == 0, result.output
    records = jsonl(result.stdout)
    assert_records_match(records, archive.expected)
    assert SEED_B.id not in [r["id"] for r in records]  # on a fetched page, but out of range
    # Articles already seen on an earlier page are not fetched again.
    assert "/?id=262807" not in archive.requests
    assert "/?id=262813" not in archive.requests
    assert records[0]["title"] == "习近平:核心技术是国之重器,要加速推动信息领域核心技术突破"


@pytest.mark.parametrize("convert", ["hk2s", "none", "s2hk"])
def test_convert_option(archive, runner, convert):
    result = runner.invoke(cli, fetch_args(archive, "-o", "-", "--convert", convert))
    assert result.exit_code == 0, result.output
    assert_records_match(jsonl(result.stdout), archive.expected, convert)


def test_subprocess_stdout_is_only_jsonl_and_nothing_is_left_on_disk(archive, tmp_path):
    done = run_zkiz(*fetch_args(archive, "-o", "-"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode("utf-8").splitlines()
    assert len(lines) == len(archive.expected)
    assert all(json.loads(line)["id"] for line in lines)
    assert "習" in done.stdout.decode("utf-8")  # originals kept, not ASCII-escaped
    assert "\\u" not in done.stdout.decode("utf-8")
    assert list(tmp_path.iterdir()) == []
    assert b"7 articles" in done.stderr
    assert b"Traceback" not in done.stderr


def test_output_file_and_gzip(archive, runner, tmp_path):
    plain, packed = tmp_path / "out.jsonl", tmp_path / "out.jsonl.gz"
    assert runner.invoke(cli, fetch_args(archive, "-o", str(plain))).exit_code == 0
    assert runner.invoke(cli, fetch_args(archive, "-o", str(packed))).exit_code == 0
    import gzip

    assert jsonl(plain.read_text()) == [
        {**r, "fetched_at": jsonl(plain.read_text())[i]["fetched_at"]}
        for i, r in enumerate(jsonl(gzip.decompress(packed.read_bytes())))
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.jsonl.gz"]


def test_corpus_resume_skips_done_ids_and_export_streams_them(archive, runner, tmp_path):
    corpus = tmp_path / "corpus"
    first = runner.invoke(cli, fetch_args(archive, "--corpus", str(corpus)))
    assert first.exit_code == 0, first.output
    assert first.stdout == ""
    requests_after_first = len(archive.requests)

    again = runner.invoke(cli, fetch_args(archive, "--corpus", str(corpus), "-o", "-"))
    assert again.exit_code == 0
    assert again.stdout == ""  # nothing new
    assert len(archive.requests) == requests_after_first

    exported = runner.invoke(cli, ["export", "--corpus", str(corpus)])
    assert exported.exit_code == 0
    assert_records_match(jsonl(exported.stdout), archive.expected)

    hk = runner.invoke(
        cli,
        [
            "export",
            "--corpus",
            str(corpus),
            "--convert",
            "hk2s",
            "--from-id",
            "262805",
            "--to-id",
            "262808",
        ],
    )
    assert [r["id"] for r in jsonl(hk.stdout)] == [262805, 262807, 262808]
    assert all(r["convert"] == "hk2s" for r in jsonl(hk.stdout))

    refetch = runner.invoke(cli, fetch_args(archive, "--corpus", str(corpus), "--refetch"))
    assert refetch.exit_code == 0
    assert len(archive.requests) > requests_after_first
    exported = runner.invoke(cli, ["export", "--corpus", str(corpus)])
    assert [r["id"] for r in jsonl(exported.stdout)] == [s.id for s in archive.expected]


def test_cron_run_continues_after_the_highest_id(runner, tmp_path):
    corpus = str(tmp_path / "corpus")
    pages = {262804: page(markup_div_br([SEED_A]))}
    with Archive(pages) as served:
        base = ["--base-url", served.base_url, "--delay", "0", "--corpus", corpus]
        assert (
            runner.invoke(cli, ["fetch", "--from-id", "262804", "--count", "1", *base]).exit_code
            == 0
        )
        served.pages[262806] = page(markup_div_br([SEED_A.__class__(262806, "新文章", ("內容",))]))
        result = runner.invoke(cli, ["fetch", "--max-misses", "3", *base])
        assert result.exit_code == 0, result.output
        # 262806 holds an article, then three misses in a row end the walk.
        assert served.requests[-5:] == [f"/?id={n}" for n in range(262805, 262810)]
        assert "/?id=262810" not in served.requests
        exported = jsonl(runner.invoke(cli, ["export", "--corpus", corpus]).stdout)
        assert [r["id"] for r in exported] == [262804, 262806]
        status = json.loads(runner.invoke(cli, ["status", "--corpus", corpus, "--json"]).stdout)
        assert status["articles"] == 2 and status["highest_article_id"] == 262806
        assert status["next_id"] == 262807

        # 262808 was a miss past the newest article: published since, the next run finds it.
        served.pages[262808] = page(markup_div_br([SEED_A.__class__(262808, "後來的", ("新",))]))
        third = runner.invoke(cli, ["fetch", "--max-misses", "3", *base, "-o", "-"])
        assert [r["id"] for r in jsonl(third.stdout)] == [262808]


def test_every_record_validates_against_the_schema(archive, runner):
    schema = json.loads(runner.invoke(cli, ["schema"]).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for record in jsonl(runner.invoke(cli, fetch_args(archive, "-o", "-")).stdout):
        validator.validate(record)


def test_sample_command_from_the_readme(tmp_path):
    sample = ROOT / "data" / "sample.warc.gz"
    done = run_zkiz(
        "fetch",
        "--from-id",
        "262804",
        "--to-id",
        "263624",
        "--source",
        str(sample),
        "-o",
        "-",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    records = jsonl(done.stdout)
    assert [r["id"] for r in records] == [262804, 263624]
    assert records[0]["title_original"] == SEED_A.title
    assert records[1]["text_original"] == SEED_B.text
    assert list(tmp_path.iterdir()) == []


# ---- errors a user can cause: one line on stderr, a documented status, no traceback ----


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-id", "0"], "--from-id"),
        (["--from-id", "-5"], "--from-id"),
        (["--from-id", "abc"], "--from-id"),
        (["--from-id", "10", "--to-id", "9"], "below"),
        (["--from-id", "10", "--count", "0"], "--count"),
        (["--from-id", "10", "--to-id", "12", "--count", "2"], "not both"),
        (["--from-id", "10", "--convert", "x2y"], "OpenCC"),
        (["--from-id", "10", "--base-url", "ftp://example.com/"], "http"),
        (["--from-id", "10", "--source", "does-not-exist.warc.gz"], "does not exist"),
        (["--from-id", "10", "--delay", "-1"], "--delay"),
        (["--bogus"], "No such option"),
    ],
)
def test_bad_input_is_refused_in_one_line(tmp_path, args, message):
    done = run_zkiz("fetch", *args, "-o", "-", cwd=tmp_path)
    assert done.returncode == 2
    assert message in one_line_error(done)
    assert list(tmp_path.iterdir()) == []


def test_corpus_path_that_is_a_file(tmp_path):
    (tmp_path / "corpus").write_text("not a directory")
    done = run_zkiz("fetch", "--from-id", "1", "--corpus", str(tmp_path / "corpus"), cwd=tmp_path)
    assert done.returncode == 2
    assert "is a file" in one_line_error(done)


def test_resuming_without_state_and_without_from_id(tmp_path):
    done = run_zkiz("fetch", "--corpus", str(tmp_path / "new"), cwd=tmp_path)
    assert done.returncode == 2
    assert "--from-id is required" in one_line_error(done)
    assert not (tmp_path / "new").exists()


def test_corrupt_source(tmp_path):
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(b"this is not a warc file at all" * 10)
    done = run_zkiz("fetch", "--from-id", "1", "--source", str(bad), "-o", "-", cwd=tmp_path)
    assert done.returncode == 2
    assert "--source" in one_line_error(done)


def test_locked_corpus_is_refused_at_once(archive, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    holder = os.open(corpus, os.O_RDONLY)  # another process holding the corpus
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        done = run_zkiz(*fetch_args(archive, "--corpus", str(corpus)), cwd=tmp_path)
    finally:
        os.close(holder)
    assert done.returncode == 75
    assert "locked" in one_line_error(done)
    assert archive.requests == []


def test_unreachable_host_exits_1_with_one_line(tmp_path):
    done = run_zkiz(
        "fetch",
        "--from-id",
        "1",
        "--base-url",
        "http://127.0.0.1:9/",
        "--delay",
        "0",
        "--retries",
        "0",
        "-o",
        "-",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    line = one_line_error(done)  # robots.txt is the first request made
    assert line == "zkiz: cannot reach http://127.0.0.1:9/ (robots.txt: connection refused)"


def test_status_of_a_missing_corpus(tmp_path):
    done = run_zkiz("status", "--corpus", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert "not a zkiz corpus" in one_line_error(done)


def test_status_reports_counts(archive, runner, tmp_path):
    corpus = str(tmp_path / "c")
    runner.invoke(cli, fetch_args(archive, "--corpus", corpus))
    text = runner.invoke(cli, ["status", "--corpus", corpus]).stdout
    assert re.search(r"^articles:\s+7$", text, re.M), text
    kinds = r"\(2 redirect, 2 not-found, 1 (notice|no-article)\)"
    assert re.search(rf"^missing:\s+5 {kinds}$", text, re.M), text
    assert re.search(r"^next run starts at:\s+262814$", text, re.M), text
    summary = json.loads(runner.invoke(cli, ["status", "--corpus", corpus, "--json"]).stdout)
    assert summary["last_run"]["articles"] == 7
    assert summary["size_bytes"] > Path(corpus, "records.jsonl").stat().st_size > 0


# ---- politeness -----------------------------------------------------------------------


def test_robots_disallow_is_obeyed_and_ignore_robots_overrides(archive, runner):
    archive.robots = "User-agent: *\nDisallow: /?id=26280\n"  # 262800..262809
    polite = runner.invoke(cli, fetch_args(archive, "-o", "-"))
    assert polite.exit_code == 0, polite.output
    assert [r["id"] for r in jsonl(polite.stdout)] == [262810, 262812, 262813]
    assert not any(path.startswith("/?id=26280") for path in archive.requests)

    rude = runner.invoke(cli, fetch_args(archive, "-o", "-", "--ignore-robots"))
    assert [r["id"] for r in jsonl(rude.stdout)] == [s.id for s in archive.expected]


def test_crawl_delay_spaces_requests(archive, runner):
    archive.robots = "User-agent: *\nCrawl-delay: 0.3\n"
    result = runner.invoke(
        cli,
        [
            "fetch",
            "--from-id",
            "262804",
            "--to-id",
            "262806",
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "-o",
            "-",
        ],
    )
    assert result.exit_code == 0
    gaps = [b - a for a, b in zip(archive.request_times, archive.request_times[1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.3


def test_user_agent_names_the_tool_and_version(archive, runner):
    from zkiz_corpus import __version__

    runner.invoke(cli, fetch_args(archive, "-o", "-"))
    assert archive.user_agents and all(
        ua.startswith(f"zkiz-corpus/{__version__} (+http") for ua in archive.user_agents
    )


def test_reader_that_goes_away_ends_the_run_quietly(tmp_path):
    import subprocess
    import sys

    from tests.support import numbered_pages

    pages, _ = numbered_pages(40000, 300)
    with Archive(pages) as served:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zkiz_corpus",
                "fetch",
                "--from-id",
                "40000",
                "--count",
                "300",
                "--base-url",
                served.base_url,
                "--delay",
                "0",
                "-o",
                "-",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        first = process.stdout.readline()  # like `| head -1`
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == 141
    assert json.loads(first)["id"] == 40000
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
