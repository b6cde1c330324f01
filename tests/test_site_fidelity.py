"""The parser on pages shaped as the archive's software shapes them (issue 12): forum
posts through nl2br with auto-linked, shortened source URLs; blog posts of stored HTML;
pages mixing them; "ZKIZ.com - Message" pages; UTF-8 declared every way it is."""

from __future__ import annotations

import pytest

from tests.site_markups import (
    CHARSETS,
    HKEX,
    TESLA,
    Forum,
    Post,
    Shown,
    archive_page,
)
from zkiz_corpus.decoding import choose_codec, decode_page
from zkiz_corpus.parsing import ParsedPage, read_articles

PAGE_URL = "https://articles.zkiz.com/?id=62723"
LAYOUTS = ("header_top", "table", "flat", "sidebar_first")
FORUMS = {
    "nl2br": Forum(),
    "dots, two-space indent, CRLF": Forum(ellipsis="...", indent="&nbsp;&nbsp;", newline="\r\n"),
    "ellipsis char, ideographic indent, strong": Forum(ellipsis="…", indent="　　", bold="strong"),
    "spaced ellipsis char, div quote, no last br": Forum(
        ellipsis=" … ", indent="", trailing_br=False, quote="div"
    ),
}


def read(document: str, charset: str = "none", explain: bool = False) -> ParsedPage:
    """The page as a crawl reads it: UTF-8 bytes declared as ``charset`` says."""
    head, content_type = CHARSETS[charset]
    document = document.replace("<head>", "<head>" + head, 1)
    return read_articles(
        decode_page(document.encode("utf-8"), content_type), PAGE_URL, explain=explain
    )


def fields(articles) -> list[tuple]:
    return [(a.id, a.title, a.text, a.source_url) for a in articles]


def expected(posts: list[Post]) -> list[tuple]:
    return [(p.id, p.title, p.text, p.source_url) for p in posts]


def assert_page(page: ParsedPage, posts: list[Post]) -> None:
    assert page.notice is None
    assert fields(page.articles) == expected(posts)
    assert page.trace == []


def charset_for(n: int) -> str:
    """The n-th case's charset spelling: every spelling meets every shape in turn."""
    return list(CHARSETS)[n % len(CHARSETS)]


# ---- UTF-8, however it is declared ---------------------------------------------------


@pytest.mark.parametrize("charset", CHARSETS)
def test_every_utf8_spelling_decodes_as_utf8(charset):
    head, content_type = CHARSETS[charset]
    document = archive_page([Shown(TESLA, "forum_div")], head=head)
    body = document.encode("utf-8")
    assert choose_codec(body, content_type) == "utf-8"
    assert TESLA.title in decode_page(body, content_type)


@pytest.mark.parametrize(
    "content_type",
    ["text/html; charset=utf8", "text/html;charset=UTF8", "text/html; charset='utf8'", "text/html"],
)
@pytest.mark.parametrize(
    "meta",
    [
        '<meta http-equiv="Content-Type" content="text/html; charset=utf8" />',
        "<META HTTP-EQUIV='content-type' CONTENT='text/html; charset=UTF8'>",
        "<meta charset=utf8>",
        "",
    ],
)
def test_utf8_labels_in_header_and_meta(meta, content_type):
    body = f"<html><head>{meta}</head><body>{HKEX.title}</body></html>".encode()
    assert choose_codec(body, content_type) == "utf-8"
