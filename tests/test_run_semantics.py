"""What a run means, as a new user meets it: the help, the version, the summary's words
and counts, what -v and -q show, which ids a file source walks, what status says."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

from tests.support import (
    ROOT,
    SEED_A,
    Archive,
    ArticleSpec,
    Response,
    jsonl,
    markup_div_br,
    one_line_error,
    page,
    run_zkiz,
)
from zkiz_corpus.converting import backend


def article(article_id: int) -> Response:
    return page(
        markup_div_br([ArticleSpec(article_id, f"第{article_id}號", SEED_A.paragraphs[:2])])
    )


def crawl(archive: Archive, first: int, last: int, *extra: str):
    return run_zkiz(
        "fetch",
        "--from-id",
        str(first),
        "--to-id",
        str(last),
        "--base-url",
        archive.base_url,
        "--delay",
        "0",
        "-o",
        "-",
        *extra,
    )


# ---- 5: help, version, words, verbosity -------------------------------------------------


def test_zkiz_alone_prints_its_help_on_stdout_and_succeeds():
    done = run_zkiz()
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    out = done.stdout.decode()
    assert out.startswith("Usage: zkiz")
    assert "Commands:" in out and "\n  fetch " in out


def test_version_names_the_opencc_backend_in_use():
    done = run_zkiz("--version")
    assert done.returncode == 0
    assert re.fullmatch(
        rf"zkiz \d+\.\d+\.\d+ \(OpenCC {backend()} [^)]+\)\n", done.stdout.decode()
    ), done.stdout


def test_counts_of_one_are_singular():
    pages = {1: article(1), 2: Response(503, b"busy")}
    with Archive(pages) as archive:
        done = crawl(archive, 1, 2, "--retries", "0")
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert re.search(r"\b1 id failed\b", stderr), stderr
    assert re.search(r"\b1 article\b", stderr), stderr
    assert not re.search(r"(?<![\d.])1 (articles|ids)\b", stderr), stderr


def test_verbose_says_which_id_is_retried_and_why_in_its_own_words():
    with Archive({1: article(1)}) as archive:
        archive.faults[1] = [("status", 503, {"Retry-After": "1"})]
        done = crawl(archive, 1, 1, "-v")
    assert done.returncode == 0, done.stderr
    stderr = done.stderr.decode()
    assert re.search(r"^zkiz: retrying id 1 in 1\.0 s: HTTP 503", stderr, re.M), stderr
    assert "urllib3" not in stderr and "Retry(" not in stderr and "connectionpool" not in stderr
    assert all(line.startswith("zkiz: ") for line in stderr.splitlines()), stderr


def test_quiet_wins_over_verbose():
    with Archive({1: article(1)}) as archive:
        archive.faults[1] = [("status", 503, {"Retry-After": "1"})]
        done = crawl(archive, 1, 1, "-v", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""


# ---- 1 and 2: a file source walks what it holds; every id is counted once ---------------

SUMMARY = re.compile(
    r"^zkiz: (?:run \d+: )?(?P<walked>\d+) ids? walked: (?P<articles>\d+) articles?, "
    r"(?P<missing>\d+) missing, (?:(?P<absent>\d+) not in the source, )?(?P<failed>\d+) failed, "
    r"(?P<held>\d+) already in the corpus \(",
    re.M,
)


def summary_of(stderr: bytes) -> dict[str, int]:
    match = SUMMARY.search(stderr.decode())
    assert match, stderr
    counts = {key: int(value or 0) for key, value in match.groupdict().items()}
    walked = counts.pop("walked")
    assert sum(counts.values()) == walked, counts  # every id in exactly one bucket
    return {"walked": walked, **counts}


# The sample's 5 ids on a first run: 262804 and 263624 (shown on 262804's page), and
# three misses (a 404, a redirect to /, a page saying the post is gone).
SAMPLE_FIRST_RUN = {"walked": 5, "articles": 2, "missing": 3, "absent": 0, "failed": 0, "held": 0}


def test_a_file_source_needs_no_from_id_and_walks_only_what_it_holds(tmp_path):
    corpus = tmp_path / "c"
    done = run_zkiz("fetch", "--source", str(ROOT / "data/sample.warc.gz"), "--corpus", str(corpus))
    assert done.returncode == 0, done.stderr
    assert summary_of(done.stderr) == SAMPLE_FIRST_RUN
    with sqlite3.connect(corpus / "state.sqlite3") as db:  # not 262804..263624 walked
        # (a source's misses are not kept: the live site may still hold those ids)
        assert db.execute("SELECT count(*) FROM ids").fetchone()[0] == 2
    again = run_zkiz(
        "fetch",
        "--from-id",
        "1",
        "--source",
        str(ROOT / "data/sample.warc.gz"),
        "--corpus",
        str(corpus),
    )
    assert again.returncode == 0, again.stderr
    assert summary_of(again.stderr) == {
        "walked": 5,
        "articles": 0,
        "missing": 3,
        "absent": 0,
        "failed": 0,
        "held": 2,
    }


def test_the_quick_start_summary_adds_up():
    done = run_zkiz(
        "fetch",
        "--from-id",
        "262804",
        "--to-id",
        "263624",
        "--source",
        str(ROOT / "data/sample.warc.gz"),
        "-o",
        "-",
    )
    assert done.returncode == 0, done.stderr
    assert summary_of(done.stderr) == SAMPLE_FIRST_RUN


# ---- 3: status says what it means ------------------------------------------------------


def test_status_names_the_highest_article_the_next_start_and_the_failed_ids(tmp_path):
    corpus = tmp_path / "c"
    pages = {1: article(1), 2: Response(503, b"busy"), 3: Response(403, b"no")}
    with Archive(pages) as archive:
        done = run_zkiz(
            "fetch",
            "--from-id",
            "1",
            "--to-id",
            "4",
            "--base-url",
            archive.base_url,
            "--delay",
            "0",
            "--retries",
            "0",
            "--corpus",
            str(corpus),
            "--convert",
            "s2hk",
        )
    assert done.returncode == 1, done.stderr
    shown = run_zkiz("status", "--corpus", str(corpus))
    text = shown.stdout.decode()
    assert re.search(r"^highest article id:\s+1$", text, re.M), text  # not 4, a miss
    assert re.search(r"^next run starts at:\s+2$", text, re.M), text
    failed = run_zkiz("status", "--corpus", str(corpus), "--failed").stdout.decode()
    assert re.search(r"^2\s+http-status\s+HTTP 503", failed, re.M), failed
    assert re.search(r"^3\s+http-status\s+HTTP 403", failed, re.M), failed
    as_json = json.loads(run_zkiz("status", "--corpus", str(corpus), "--json").stdout)
    assert as_json["highest_article_id"] == 1 and as_json["next_id"] == 2
    assert [(f["id"], f["cause"]) for f in as_json["failed_ids"]] == [
        (2, "http-status"),
        (3, "http-status"),
    ]
    run = as_json["last_run"]
    assert run["base_url"] == archive.base_url and run["source"] is None
    assert run["convert"] == "s2hk" and run["opencc"].startswith(backend())
    assert run["version"] and run["seconds"] >= 0 and run["exit_code"] == 1
    assert run["arguments"][:3] == ["fetch", "--from-id", "1"]
    assert (run["articles"], run["missing"], run["failed"]) == (1, 1, 2)


# ---- 4: one conversion per corpus ------------------------------------------------------


def test_a_corpus_keeps_one_conversion(tmp_path):
    corpus = tmp_path / "c"
    sample = str(ROOT / "data/sample.warc.gz")
    first = run_zkiz("fetch", "--source", sample, "--corpus", str(corpus), "--convert", "s2hk")
    assert first.returncode == 0, first.stderr
    other = run_zkiz("fetch", "--source", sample, "--corpus", str(corpus), "--convert", "t2s")
    assert other.returncode == 2
    line = one_line_error(other)
    assert "s2hk" in line and "export --convert" in line
    again = run_zkiz("fetch", "--source", sample, "--corpus", str(corpus), "--refetch", "-o", "-")
    assert again.returncode == 0, again.stderr  # no --convert: the corpus's own
    assert {r["convert"] for r in jsonl(again.stdout)} == {"s2hk"}


# ---- the library --------------------------------------------------------------------


def test_the_readme_library_snippet_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Using it as a library", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(snippet.strip().splitlines()) <= 10
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sample.warc.gz").write_bytes((ROOT / "data/sample.warc.gz").read_bytes())
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "RunOutcome.COMPLETE 2"
    assert [line.split()[0] for line in done.stdout.splitlines()[1:]] == ["262804", "263624"]


def test_the_public_api_is_all_there():
    import zkiz_corpus

    for name in zkiz_corpus.__all__:
        assert getattr(zkiz_corpus, name) is not None, name
