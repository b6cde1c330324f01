"""The parser on pages shaped as the archive's software shapes them (issue 12): forum
posts through nl2br with auto-linked, shortened source URLs; blog posts of stored HTML;
pages mixing them; "ZKIZ.com - Message" pages; UTF-8 declared every way it is."""

from __future__ import annotations

import pytest

from tests.site_markups import (
    BLOG_POSTS,
    CHARSETS,
    CHIPS,
    DELTA,
    FORUM_POSTS,
    HKEX,
    HSI,
    PLAIN,
    SINA,
    TESLA,
    Forum,
    Post,
    Shown,
    archive_page,
    permalink_line,
    shorten,
)
from zkiz_corpus.decoding import choose_codec, decode_page
from zkiz_corpus.parsing import ParsedPage, parse_articles, read_articles

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


# ---- forum, blog and mixed pages: every field ----------------------------------------

FORUM_CASES = [
    pytest.param(
        post, shape, forum, layout, charset_for(n), id=f"{post.id}-{shape}-{name}-{layout}"
    )
    for n, (post, shape, (name, forum), layout) in enumerate(
        (post, shape, forum, layout)
        for post in FORUM_POSTS
        for shape in ("forum_div", "forum_table", "forum_bare")
        for forum in FORUMS.items()
        for layout in LAYOUTS
    )
]


@pytest.mark.parametrize(("post", "shape", "forum", "layout", "charset"), FORUM_CASES)
def test_forum_posts_every_field(post, shape, forum, layout, charset):
    page = read(archive_page([Shown(post, shape, forum)], layout), charset)
    assert_page(page, [post])


BLOG_CASES = [
    pytest.param(post, shape, layout, charset_for(n), id=f"{post.id}-{shape}-{layout}")
    for n, (post, shape, layout) in enumerate(
        (post, shape, layout)
        for post in BLOG_POSTS
        for shape in ("blog_h1", "blog_markdown", "blog_div_title", "blog_span_title")
        for layout in LAYOUTS
    )
]


@pytest.mark.parametrize(("post", "shape", "layout", "charset"), BLOG_CASES)
def test_blog_posts_every_field(post, shape, layout, charset):
    page = read(archive_page([Shown(post, shape)], layout), charset)
    assert_page(page, [post])


MIXED = {
    "forum, blog, plain": [
        Shown(TESLA, "forum_div"),
        Shown(CHIPS, "blog_h1"),
        Shown(PLAIN, "plain"),
    ],
    "bare forum between blogs": [
        Shown(DELTA, "blog_span_title"),
        Shown(HSI, "forum_bare", FORUMS["dots, two-space indent, CRLF"]),
        Shown(PLAIN, "plain"),
        Shown(CHIPS, "blog_div_title"),
    ],
    "tables and markdown": [
        Shown(SINA, "forum_table", FORUMS["ellipsis char, ideographic indent, strong"]),
        Shown(PLAIN, "plain"),
        Shown(DELTA, "blog_markdown"),
        Shown(HKEX, "forum_div", FORUMS["spaced ellipsis char, div quote, no last br"]),
    ],
}


MIXED_CASES = [
    pytest.param(MIXED[name], layout, charset_for(n), id=f"{name}-{layout}")
    for n, (name, layout) in enumerate((name, layout) for name in MIXED for layout in LAYOUTS)
]


@pytest.mark.parametrize(("mix", "layout", "charset"), MIXED_CASES)
def test_pages_mixing_forum_blog_and_plain_articles(mix, layout, charset):
    page = read(archive_page(mix, layout), charset)
    assert_page(page, [shown.post for shown in mix])


# ---- links whose text is a URL ------------------------------------------------------


def forum_page(first_line: str, *paragraphs: str, article_id: int = 5) -> str:
    body = "<br />\n".join([first_line, "", *paragraphs])
    return (
        f"<html><body><h2>標題</h2><div>{body}<br />\n<br />\n{permalink_line(article_id)}"
        "</div></body></html>"
    )


def one(document: str):
    (article,) = parse_articles(document, PAGE_URL)
    return article


LONG_URL = (
    "https://news.mingpao.com/pns/%E7%B6%93%E6%BF%9F/article/20190107/s00004/1546800000000/"
    "%E7%89%B9%E6%96%AF%E6%8B%89?utm_source=fb&utm_medium=share"
)


@pytest.mark.parametrize(
    "shown",
    [
        shorten(LONG_URL),
        shorten(LONG_URL, "..."),
        shorten(LONG_URL, "…"),
        shorten(LONG_URL, " … "),
        LONG_URL[:40] + "..." + LONG_URL[-10:],  # other cut lengths
        LONG_URL[:50] + "…",  # no tail at all
        shorten(LONG_URL.replace("https://", "")),  # typed without its scheme
        shorten(
            "https://news.mingpao.com/pns/經濟/article/20190107/s00004/1546800000000/特斯拉"
            "?utm_source=fb&utm_medium=share"
        ),  # shown decoded
        LONG_URL,
    ],
)
def test_a_shortened_url_line_is_the_whole_href(shown):
    link = f'<a href="{LONG_URL.replace("&", "&amp;")}" target="_blank">{shown}</a>'
    article = one(forum_page(link, "正文第一段。", "正文第二段。"))
    assert article.source_url == LONG_URL
    assert article.text == "正文第一段。\n正文第二段。"


def test_a_whole_url_without_its_scheme_is_the_href():
    url = "www.hkej.com/dailynews/article/id/2001234"
    link = f'<a href="http://{url}" target="_blank">{url}</a>'
    article = one(forum_page(link, "正文。"))
    assert (article.source_url, article.text) == (
        "http://www.hkej.com/dailynews/article/id/2001234",
        "正文。",
    )


@pytest.mark.parametrize(
    ("shown", "read"),
    [
        ("www.yicai.com", "http://www.yicai.com/"),
        ("yicai.com/news", "http://yicai.com/news"),
        ("yicai.com", "yicai.com"),  # a name in a sentence, not a URL
    ],
)
def test_a_url_without_its_scheme_in_the_body(shown, read):
    href = "http://" + shown.split("/")[0] + ("/" + shown.split("/", 1)[1] if "/" in shown else "/")
    article = one(forum_page("第一段。", f"據 <a href='{href}'>{shown}</a> 報道。"))
    assert article.text == f"第一段。\n據 {read} 報道。"


def test_a_shortened_url_inside_the_body_becomes_the_href():
    link = f'<a href="{LONG_URL.replace("&", "&amp;")}" target="_blank">{shorten(LONG_URL)}</a>'
    article = one(forum_page("第一段。", f"詳見 {link} 。", f"或{link}"))
    assert article.source_url is None
    assert article.text == f"第一段。\n詳見 {LONG_URL} 。\n或{LONG_URL}"


@pytest.mark.parametrize(
    "text",
    [
        "原文連結",
        "按此閱讀全文...",
        "明報新聞網 … 經濟",
        "news",
    ],
)
def test_a_link_with_words_for_text_is_left_alone(text):
    link = f'<a href="{LONG_URL.replace("&", "&amp;")}" target="_blank">{text}</a>'
    article = one(forum_page(link, "正文。"))
    assert article.source_url is None
    assert article.text == f"{text}\n正文。"


@pytest.mark.parametrize(
    "shown",
    [
        "https://www.yicai.com/news/2019/ ... ne&isappinstalled=0",  # another host's text
        "https://www.yicai.com/news/2019/…ne&isappinstalled=0",
        "https://news.mingpao.com/pns/%E7 ... /2019/x.html",  # the tail does not match
        "https://news.mingpao.com/pns/%E7%B6%93%E6%BF%9F/x/y.html",  # neither, whole
    ],
)
def test_url_text_that_does_not_match_its_href_is_not_the_href(shown):
    """Decided: the href only completes or re-encodes the URL a reader sees. A cut text
    with another host or tail stays in the text (it is not a URL a reader could use);
    a whole URL text stays the URL it says (the href may be a redirector or tracker)."""
    link = f'<a href="{LONG_URL.replace("&", "&amp;")}" target="_blank">{shown}</a>'
    article = one(forum_page(link, "正文。"))
    assert article.source_url != LONG_URL
    if " " in shown or "…" in shown or "..." in shown:
        assert article.source_url is None
        assert article.text == f"{shown}\n正文。"
    else:
        assert article.source_url == shown
        assert article.text == "正文。"


def test_a_link_broken_across_lines_is_left_as_it_reads():
    href = LONG_URL.replace("&", "&amp;")
    link = f'<a href="{href}">https://news.mingpao.com/pns/<br />...1546800000000</a>'
    article = one(forum_page("第一段。", link))
    assert article.text == "第一段。\nhttps://news.mingpao.com/pns/\n...1546800000000"


def test_archive_links_with_url_text_are_still_not_article_text():
    """A side list whose items show their own URLs is still a list of archive links."""
    side = "".join(
        f"<li><a href='https://articles.zkiz.com/?id={n}'>https://articles.zkiz.com/?id={n}</a></li>"
        for n in (11, 12, 13)
    )
    document = archive_page([Shown(TESLA, "forum_div")]).replace(
        '<div id="main">', f'<div id="main"><ul>{side}</ul>'
    )
    assert fields(parse_articles(document, PAGE_URL)) == expected([TESLA])


# ---- titles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["articletitle", "posttitle", "entry-title", "topic_title", "subject"]
)
def test_title_like_class_tokens_win_over_a_bold_opening_paragraph(token):
    document = (
        f"<div><div class='{token}'>真正的標題</div><div class='contentbody'>"
        "<p><strong>一、小標題</strong></p><p>正文第一段，內容較長的一段文字。</p>"
        f"<p>{permalink_line(9)}</p></div></div>"
    )
    article = one(document)
    assert (article.title, article.text) == (
        "真正的標題",
        "一、小標題\n正文第一段，內容較長的一段文字。",
    )


def test_subtitle_class_is_not_a_title():
    document = (
        "<div><div class='subtitle'>網站副標題：財經文章存檔</div><h2>真正的標題</h2>"
        f"<p>正文。</p><p>{permalink_line(9)}</p></div>"
    )
    assert one(document).title == "真正的標題"


def test_the_line_the_page_title_names_is_the_title():
    document = (
        "<html><head><title>特斯拉上海工廠動工 - ZKIZ Archives</title></head><body>"
        "<div>特斯拉上海工廠動工</div><p><b>一、背景</b></p><p>正文第一段。</p>"
        f"<p>{permalink_line(8)}</p></body></html>"
    )
    article = one(document)
    assert (article.title, article.text) == ("特斯拉上海工廠動工", "一、背景\n正文第一段。")
