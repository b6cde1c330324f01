"""WARC out (--warc) and in (--source): an offline rebuild gives the same records."""

from __future__ import annotations

from warcio.archiveiterator import ArchiveIterator

from tests.support import HKSCS, jsonl, markup_table_font
from zkiz_corpus.cli import cli


def without_time(records):
    return [{k: v for k, v in r.items() if k != "fetched_at"} for r in records]


def test_crawl_with_warc_then_rebuild_from_it(archive, runner, tmp_path):
    warc = tmp_path / "crawl.warc.gz"
    args = ["fetch", "--from-id", "262804", "--to-id", "262815", "-o", "-"]
    live = runner.invoke(
        cli, [*args, "--base-url", archive.base_url, "--delay", "0", "--warc", str(warc)]
    )
    assert live.exit_code == 0, live.output
    with warc.open("rb") as stream:
        records = [
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI"))
            for r in ArchiveIterator(stream)
        ]
    assert records[0][0] == "warcinfo"
    responses = [uri for kind, uri in records if kind == "response"]
    assert len(responses) == len(archive.requests) + 1  # robots.txt too
    assert len([kind for kind, _ in records if kind == "request"]) == len(responses)

    rebuilt = runner.invoke(cli, [*args, "--source", str(warc)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert without_time(jsonl(rebuilt.stdout)) == without_time(jsonl(live.stdout))
    assert len(jsonl(live.stdout)) == len(archive.expected)


def test_folder_of_saved_pages(runner, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / f"{HKSCS.id}.html").write_bytes(
        markup_table_font([HKSCS]).encode("big5hkscs", "xmlcharrefreplace")
    )
    (pages / "notes.txt").write_text("ignored")
    result = runner.invoke(
        cli,
        [
            "fetch",
            "--from-id",
            str(HKSCS.id - 1),
            "--source",
            str(pages),
            "-o",
            "-",
            "--convert",
            "none",
        ],
    )
    assert result.exit_code == 0, result.output
    (record,) = jsonl(result.stdout)
    assert record["id"] == HKSCS.id
    assert record["text"] == HKSCS.text and record["source_url"] == HKSCS.source_url


def test_warc_appends_across_runs_with_standard_headers(archive, runner, tmp_path):
    warc = tmp_path / "crawl.warc.gz"
    base = ["fetch", "--base-url", archive.base_url, "--delay", "0", "-o", "-", "--warc", str(warc)]
    assert runner.invoke(cli, [*base, "--from-id", "262804", "--to-id", "262805"]).exit_code == 0
    size_after_first = warc.stat().st_size
    assert runner.invoke(cli, [*base, "--from-id", "262806", "--to-id", "262808"]).exit_code == 0
    assert warc.stat().st_size > size_after_first
    with warc.open("rb") as stream:
        records = list(ArchiveIterator(stream))
        kinds = [r.rec_type for r in records]
    assert kinds.count("warcinfo") == 1
    responses = [r for r in records if r.rec_type == "response"]
    targets = [r.rec_headers.get_header("WARC-Target-URI") for r in responses]
    # 404s are kept too; 262807 is fetched by the second run (it was only seen, not
    # recorded, on 262805's page by the first: no corpus, so no memory across runs).
    assert [t.rsplit("=", 1)[1] for t in targets if "?id=" in t] == [
        "262804",
        "262805",
        "262806",
        "262807",
        "262808",
    ]
    for record in responses:
        headers = record.rec_headers
        assert headers.protocol == "WARC/1.1"
        assert headers.get_header("Content-Type") == "application/http; msgtype=response"
        for name in (
            "WARC-Record-ID",
            "WARC-Date",
            "WARC-Block-Digest",
            "WARC-Payload-Digest",
            "WARC-Concurrent-To",
        ):
            assert headers.get_header(name), name


def test_fastwarc_and_warcio_read_every_page_alike(archive, runner, tmp_path):
    """The fast reader gives what warcio gives, page for page; a body stored still
    encoded (as some tools keep it) is read through warcio, which decodes it."""
    import gzip
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from zkiz_corpus.sources.warc import WarcSource

    warc = tmp_path / "crawl.warc.gz"
    live = runner.invoke(
        cli,
        [
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
            "--warc",
            str(warc),
        ],
    )
    assert live.exit_code == 0, live.output
    page = archive.pages[262804].body
    with warc.open("ab") as stream:  # a page of another tool's, its body gzipped
        writer = WARCWriter(stream, gzip=True)
        headers = StatusAndHeaders(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")],
            protocol="HTTP/1.1",
        )
        writer.write_record(
            writer.create_warc_record(
                "https://articles.zkiz.com/?id=262816",
                "response",
                payload=io.BytesIO(gzip.compress(page)),
                http_headers=headers,
            )
        )
    fast = WarcSource(warc)
    slow = WarcSource(warc)
    assert fast._fast
    slow._fast = False
    fields = ("url", "body", "content_type", "fetched_at", "outcome", "cause", "reason")
    for article_id in range(262804, 262817):
        got, want = fast.get(article_id), slow.get(article_id)
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
    assert fast.get(262816).body == page


def _member(n: int, http: bytes) -> bytes:
    return (
        b"WARC/1.0\r\nWARC-Type: response\r\n"
        b"WARC-Target-URI: https://articles.zkiz.com/?id=%d\r\n"
        % n
        + b"WARC-Date: 2020-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:%d>\r\n" % n
        + b"Content-Type: application/http; msgtype=response\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(http)
        + http
        + b"\r\n\r\n"
    )


def test_a_head_of_bare_line_feeds_reads_alike_gzipped_or_not(tmp_path):
    """Another tool's WARC whose HTTP head ends its lines with LF alone: read whole
    from a plain file (warcio) and a gzipped one (FastWARC, which warcio backs up)."""
    import gzip
    import subprocess
    import sys

    members = []
    for n in (1, 2, 3):
        html = markup_table_font([HKSCS], charset="utf-8").replace("262808", str(n))
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        if n == 2:
            head = head.replace(b"\r\n", b"\n")
        members.append(_member(n, head + html.encode()))
    plain, gzipped = tmp_path / "x.warc", tmp_path / "x.warc.gz"
    plain.write_bytes(b"".join(members))
    gzipped.write_bytes(b"".join(gzip.compress(m) for m in members))
    found = {}
    for path in (plain, gzipped):
        done = subprocess.run(
            [sys.executable, "-m", "zkiz_corpus", "fetch", "--source", str(path), "-o", "-"],
            capture_output=True,
        )
        assert done.returncode == 0, done.stderr
        found[path.name] = [r["id"] for r in jsonl(done.stdout)]
    assert found["x.warc"] == [1, 2, 3]
    assert found["x.warc.gz"] == found["x.warc"]
