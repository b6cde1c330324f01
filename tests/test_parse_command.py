"""``zkiz parse``: one page's records as JSONL, no corpus touched; with -v, how it was read."""

from __future__ import annotations

import pytest

from tests.support import ROOT, Archive, Response, jsonl, run_in_process, run_zkiz
from zkiz_corpus.sources import open_source

SAMPLE = ROOT / "data" / "sample.warc.gz"
MESSAGE_PAGE = (
    "<html><head><meta http-equiv='Content-Type' content='text/html; charset=utf8' />"
    "<title>ZKIZ.com - Message</title></head><body><div class='reply'>"
    "<h3>錯誤</h3><div style='font-size:14px; font-weight:bold' id='msg'>"
    "<div>找不到此文章，可能已被刪除。</div>"
    "<div><a class='button' onclick='history.go(-1);'>返回</a></div></div></div></body></html>"
)


def sample_body(article_id: int) -> bytes:
    return open_source(SAMPLE).get(article_id).body


@pytest.fixture(scope="module")
def sample_records() -> dict[int, dict]:
    """What a fetch of the bundled sample writes, by id."""
    done = run_in_process("fetch", "--source", str(SAMPLE), "-o", "-")
    assert done.returncode == 0, done.stderr
    return {record["id"]: record for record in jsonl(done.stdout)}


@pytest.fixture
def sample_site():
    """The bundled sample's pages served on loopback, as the site would."""
    source = open_source(SAMPLE)
    pages = {}
    for article_id in source.ids():
        page = source.get(article_id)
        if page.outcome is None:
            pages[article_id] = Response(200, page.body, {"Content-Type": page.content_type})
    with Archive(pages) as archive:
        yield archive


def without_time(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "fetched_at"} for record in records]


@pytest.mark.parametrize(("article_id", "shown"), [(262804, [262804, 263624]), (263624, [263624])])
def test_parse_an_id_of_the_sample_from_the_site(
    sample_site, sample_records, tmp_path, article_id, shown
):
    done = run_zkiz("parse", str(article_id), "--base-url", sample_site.base_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert without_time(jsonl(done.stdout)) == without_time([sample_records[n] for n in shown])
    assert sample_site.requests == [f"/?id={article_id}"]  # one request, politely
    assert list(tmp_path.iterdir()) == []  # no corpus, nothing written


def test_parse_an_id_from_the_sample_warc(sample_records):
    done = run_in_process("parse", "262804", "--source", str(SAMPLE))
    assert done.returncode == 0, done.stderr
    assert jsonl(done.stdout) == [sample_records[262804], sample_records[263624]]


@pytest.mark.parametrize("convert", ["none", "s2hk"])
def test_parse_converts_as_asked(convert):
    done = run_in_process("parse", "263624", "--source", str(SAMPLE), "--convert", convert)
    (record,) = jsonl(done.stdout)
    assert record["convert"] == convert
    if convert == "none":
        assert record["text"] == record["text_original"]


def test_parse_a_saved_page_and_standard_input(sample_records, tmp_path):
    saved = tmp_path / "262804.html"
    saved.write_bytes(sample_body(262804))
    from_file = run_zkiz("parse", str(saved))
    assert from_file.returncode == 0, from_file.stderr
    expected = without_time([sample_records[262804], sample_records[263624]])
    assert without_time(jsonl(from_file.stdout)) == expected
    with saved.open("rb") as stdin:
        from_stdin = run_zkiz_stdin(stdin, "parse", "-")
    assert without_time(jsonl(from_stdin.stdout)) == expected


def run_zkiz_stdin(stdin, *args):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "zkiz_corpus", *args], stdin=stdin, capture_output=True, timeout=60
    )


def test_verbose_says_how_the_page_was_read_on_stderr_only(tmp_path):
    saved = tmp_path / "page.html"
    saved.write_bytes(sample_body(262804))
    plain = run_zkiz("parse", str(saved))
    done = run_zkiz("parse", str(saved), "-v")
    assert done.returncode == 0
    assert without_time(jsonl(done.stdout)) == without_time(jsonl(plain.stdout))  # records only
    said = done.stderr.decode().splitlines()
    assert any(line.startswith("zkiz: title of id 262804: 習近平") for line in said), said
    assert any(line.startswith("zkiz: title of id 263624: ") for line in said), said
    dropped = [line for line in said if line.startswith("zkiz: dropped")]
    assert any("Next Page" in line for line in dropped), said
    assert any("ZKIZ Archives" in line for line in dropped), said


def test_verbose_names_the_source_url_taken(tmp_path):
    long_url = "https://www.yicai.com/news/2018/05/07/a-long-dated-path/100024580.html?from=zkiz&utm_source=feed"
    shown = f"{long_url[:32]} ... {long_url[-19:]}"
    html = (
        "<html><body><div>📖 ZKIZ Archives</div><div class='post'>"
        "<b>上海制造攻堅國之重器</b><br />\n"
        f'<a href="{long_url}" target="_blank">{shown}</a><br />\n<br />\n'
        "享譽國內的「上海制造」再度出發。<br />\n<br />\n"
        'PermaLink: <a href="https://articles.zkiz.com/?id=263624">'
        "https://articles.zkiz.com/?id=263624</a></div></body></html>"
    )
    saved = tmp_path / "p.html"
    saved.write_text(html, encoding="utf-8")
    done = run_zkiz("parse", str(saved), "-v")
    assert done.returncode == 0, done.stderr
    (record,) = jsonl(done.stdout)
    assert record["source_url"] == long_url
    assert record["text_original"] == "享譽國內的「上海制造」再度出發。"
    said = done.stderr.decode()
    assert "source URL of id 263624: " + long_url[:40] in said


def test_a_page_without_articles_says_why_with_status_1(tmp_path):
    done = run_in_process("parse", "262805", "--source", str(SAMPLE))
    assert done.returncode == 1
    assert done.stdout == b""
    assert "?id=262805: HTTP 404" in done.stderr.decode()
    saved = tmp_path / "gone.html"
    saved.write_text(MESSAGE_PAGE, encoding="utf-8")
    gone = run_zkiz("parse", str(saved))
    assert gone.returncode == 1 and gone.stdout == b""
    assert "notice: " in gone.stderr.decode() and "找不到此文章" in gone.stderr.decode()


def test_parse_obeys_robots(sample_site):
    sample_site.robots = "User-agent: *\nDisallow: /\n"
    done = run_zkiz("parse", "262804", "--base-url", sample_site.base_url)
    assert done.returncode == 1
    assert "robots" in done.stderr.decode()
    assert sample_site.requests == []


def test_an_unreachable_host_is_one_line_and_status_1():
    done = run_zkiz("parse", "262804", "--base-url", "http://127.0.0.1:9/")
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["0"],
        ["99999999999999999999999"],
        ["/no/such/page.html"],
        ["."],
        [],
        ["1", "--convert", "xx"],
    ],
)
def test_usage_errors_are_one_line_and_status_2(args):
    done = run_zkiz("parse", *args)
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert done.stdout == b""
