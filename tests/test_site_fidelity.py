"""The parser on pages shaped as the archive's software shapes them (issue 12): forum
posts through nl2br with auto-linked, shortened source URLs; blog posts of stored HTML;
pages mixing them; "ZKIZ.com - Message" pages; UTF-8 declared every way it is."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    message_page,
    permalink_line,
    shorten,
)
from tests.support import MISSING_200
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


# ---- message pages ------------------------------------------------------------------

MESSAGES = [
    pytest.param(
        message_page(
            "錯誤", "此文章不存在或已被刪除", "https://www.zkiz.com/viewtopic.php?t=62723"
        ),
        "錯誤: 此文章不存在或已被刪除 建議回到: https://www.zkiz.com/viewtopic.php?t=62723。",
        id="reply-suggest",
    ),
    pytest.param(
        message_page("Message", "找不到此文章。"),
        "Message: 找不到此文章。",
        id="reply",
    ),
    pytest.param(
        message_page(
            "提示信息", "文章已被作者刪除", "https://articles.zkiz.com/?rfid=8123", "table"
        ),
        "提示信息: 文章已被作者刪除 建議回到: https://articles.zkiz.com/?rfid=8123。",
        id="table-suggest",
    ),
    pytest.param(
        message_page("Error", "The post you requested does not exist.", shape="chrome"),
        "Error: The post you requested does not exist.",
        id="site-chrome-around",
    ),
    pytest.param(
        message_page("系統訊息", "請先登入", shape="reply"),
        "系統訊息: 請先登入",
        id="any-message-in-msg",
    ),
]


@pytest.mark.parametrize(("document", "notice"), MESSAGES)
def test_message_pages_are_notices_without_articles(document, notice):
    page = read(document, "no header at all")
    assert page.articles == []
    assert page.notice == notice


@pytest.mark.parametrize(
    ("document", "notice"),
    [
        (MISSING_200, "找不到文章 The post is not found."),
        (
            "<html><body><h1>文章不存在或已被刪除</h1><a href='/'>首頁</a></body></html>",
            "文章不存在或已被刪除",
        ),
        (
            "<html><body><div id='hd'><a href='/'>📖 ZKIZ Archives</a></div><h2>系統維護</h2>"
            "<p>網站維護中，預計 30 分鐘後恢復，請稍後再訪。</p>"
            "<div>ZKIZ Archives @ 2019</div></body></html>",
            "系統維護: 網站維護中，預計 30 分鐘後恢復，請稍後再訪。",
        ),
        (
            "<html><head><title>404</title></head><body><h1>Not Found</h1>"
            "<p>The requested URL was not found on this server.</p><hr><address>Apache</address>"
            "</body></html>",
            "Not Found: The requested URL was not found on this server.",
        ),
        ("<body><center>此文章已删除</center></body>", "此文章已删除"),
    ],
)
def test_small_pages_saying_the_post_is_gone_are_notices(document, notice):
    page = read_articles(document, PAGE_URL)
    assert (page.articles, page.notice) == ([], notice)


def test_an_article_that_mentions_not_found_is_an_article():
    post = Post(
        7,
        "找不到工作的年輕人",
        ("記者走訪發現，不少大學畢業生表示「找不到工作」，文章已刪除的傳言不存在。",),
    )
    for shape in ("forum_div", "blog_h1", "plain"):
        page = read(archive_page([Shown(post, shape)], "flat"))
        assert page.notice is None
        assert fields(page.articles) == expected([post])


@pytest.mark.parametrize(
    "document",
    [
        "",
        "<html><body><p>PermaLink: nothing here</p></body></html>",
        "<html><body><h1>📖 ZKIZ Archives</h1><p>今日沒有新文章。</p></body></html>",
        # A long page without a permalink is not a notice, whatever it mentions.
        "<html><body><h1>搜尋結果</h1>"
        + "".join(f"<p>{CHIPS.text} 找不到 {n}</p>" for n in range(3))
        + "</body></html>",
    ],
)
def test_pages_that_are_neither_articles_nor_notices(document):
    page = read_articles(document, PAGE_URL)
    assert (page.articles, page.notice) == ([], None)


def test_a_message_titled_page_without_a_message_box_is_a_notice():
    document = (
        "<html><head><title>ZKIZ.com - Message</title></head><body><h3>提示</h3>"
        "<div>請求過於頻繁，請稍後再試</div><a class='button' onclick='history.go(-1);'>返回</a>"
        "</body></html>"
    )
    assert read_articles(document, PAGE_URL).notice == "提示: 請求過於頻繁，請稍後再試"


def test_the_outermost_message_box_is_read():
    document = (
        "<div><h3>錯誤</h3><div id='msg'><div class='message-text'>文章不存在</div>"
        "<div>建議回到: <a href='https://www.zkiz.com/'>https://www.zkiz.com/</a>。</div></div></div>"
    )
    assert read_articles(document, PAGE_URL).notice == (
        "錯誤: 文章不存在 建議回到: https://www.zkiz.com/。"
    )


# ---- the explanation ----------------------------------------------------------------


def test_explain_says_what_was_dropped_and_what_was_taken():
    document = archive_page(
        [Shown(TESLA, "forum_div"), Shown(PLAIN, "plain")], "header_top"
    ).replace(
        '<div id="main">',
        '<nav><a href="/">首頁</a> | <a href="/?cat=1">財經新聞</a></nav><div id="main">',
    )
    page = read(document, explain=True)
    assert fields(page.articles) == expected([TESLA, PLAIN])
    trace = page.trace
    short = shorten(TESLA.source_url)
    for line in [
        "dropped (site chrome): 📖 ZKIZ Archives",
        "dropped (chrome element <nav>): 首頁 | 財經新聞",
        f"title of id 62723: {TESLA.title}",
        f'source URL of id 62723: {TESLA.source_url} (link text "{short}")',
        f"title of id 263624: {PLAIN.title}",
        "dropped (site chrome): Next Page",
        "dropped (list caption): 熱門文章",
        "dropped (link list into the archive): 舊文 61001：港股夜報",
        "dropped (site chrome): ZKIZ Archives @ 2019",
    ]:
        assert line in trace, (line, trace)
    # In page order, every line for people: short, one event each.
    assert trace.index(f"title of id 62723: {TESLA.title}") < trace.index(
        f"title of id 263624: {PLAIN.title}"
    )
    assert trace.index("dropped (site chrome): 📖 ZKIZ Archives") == 0
    assert all("\n" not in line for line in trace)
    assert all(len(line.split(": ", 1)[1]) <= 80 for line in trace if not line.startswith("source"))


def test_explain_says_why_lines_before_a_title_were_dropped():
    document = (
        "<div><div>2018-05-08 10:20</div><div>舊標語：投資有風險</div>"
        "<h1 class='articletitle'>標題在此</h1><div id='pagecontent'><p>正文。</p></div>"
        f"<p>{permalink_line(3)}</p></div>"
    )
    trace = read_articles(document, PAGE_URL, explain=True).trace
    assert "dropped (date or breadcrumb before the title): 2018-05-08 10:20" in trace
    assert "dropped (before the title): 舊標語：投資有風險" in trace
    assert "title of id 3: 標題在此" in trace


def test_explain_clips_long_lines():
    long_title = "很長的標題" * 20
    document = (
        f"<h1>{long_title}</h1><p>{CHIPS.text}</p><p>PermaLink: ?id=4</p>"
        "<div>頁尾的一段很長的說明文字" + "。" * 200 + "</div>"
    )
    trace = read_articles(document, PAGE_URL, explain=True).trace
    assert all(len(line.split(": ", 1)[1]) <= 80 for line in trace), trace
    assert any(
        line.startswith("title of id 4: 很長的標題") and line.endswith("…") for line in trace
    )


@pytest.mark.parametrize(("document", "notice"), MESSAGES[:1])
def test_explain_on_a_notice_page(document, notice):
    page = read_articles(document, PAGE_URL, explain=True)
    assert page.trace == ["no permalink found", f"notice: {notice}"]


def test_explain_on_a_page_without_anything():
    assert read_articles("<p>hello</p>", PAGE_URL, explain=True).trace == ["no permalink found"]


def test_without_explain_there_is_no_trace_and_the_articles_are_the_same():
    document = archive_page([Shown(p, "forum_div") for p in FORUM_POSTS], "table")
    plain_page = read_articles(document, PAGE_URL)
    explained = read_articles(document, PAGE_URL, explain=True)
    assert plain_page.trace == []
    assert explained.trace
    assert plain_page.articles == explained.articles == parse_articles(document, PAGE_URL)


# ---- nothing makes it raise ---------------------------------------------------------

SITE_SEEDS = [
    archive_page([Shown(TESLA, "forum_bare"), Shown(CHIPS, "blog_h1")], "flat"),
    archive_page([Shown(SINA, "forum_table"), Shown(DELTA, "blog_span_title")], "sidebar_first"),
    message_page("錯誤", "此文章不存在或已被刪除", "https://articles.zkiz.com/?rfid=1"),
]
FRAGMENTS = st.sampled_from(
    [
        "<br />\n",
        "<a href='https://www.yicai.com/news/2019/01/07/100091234.html?a=1&amp;b=2'>",
        "https://www.yicai.com/ ... 234.html",
        "…",
        "</a>",
        "<div id='msg'>",
        "<nav>",
        "</div>",
        "<h3>",
        "找不到",
        permalink_line(77),
        "&nbsp;&nbsp;",
        "<",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SITE_SEEDS),
    st.lists(st.tuples(st.integers(0, 10**6), FRAGMENTS), max_size=25),
)
def test_explaining_mutated_site_pages_never_raises(seed, insertions):
    page = seed
    for position, fragment in insertions:
        position %= len(page) + 1
        page = page[:position] + fragment + page[position:]
    explained = read_articles(page, PAGE_URL, explain=True)
    assert explained.articles == parse_articles(page, PAGE_URL)
    assert explained.trace and all(line and "\n" not in line for line in explained.trace)
    assert not (explained.articles and explained.notice)
