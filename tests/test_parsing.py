"""The parser on page markups it shares nothing with, built from the seed text."""

from __future__ import annotations

import pytest

from tests.support import (
    HKSCS,
    LONG,
    MISSING_200,
    REPOST,
    SEED_A,
    SEED_B,
    SHORT_BODY,
    SIMPLIFIED,
    SUBHEADINGS,
    ArticleSpec,
    markup_div_br,
    markup_gb_sections,
    markup_paragraph_images,
    markup_semantic,
    markup_table_font,
)
from zkiz_corpus.parsing import parse_articles

PAGE_URL = "http://127.0.0.1:8080/?id=1"


def assert_articles(found, expected: list[ArticleSpec]) -> None:
    assert [a.id for a in found] == [e.id for e in expected]
    for article, spec in zip(found, expected):
        assert article.title == spec.title
        assert article.text == spec.text
        assert article.source_url == spec.source_url


@pytest.mark.parametrize(
    "markup",
    [
        markup_div_br,
        markup_semantic,
        markup_table_font,
        markup_paragraph_images,
        markup_gb_sections,
    ],
)
@pytest.mark.parametrize(
    "articles",
    [[SEED_A, SEED_B], [REPOST], [HKSCS, SIMPLIFIED], [SHORT_BODY, SUBHEADINGS, LONG]],
    ids=["seed-pair", "repost", "hkscs+simplified", "three"],
)
def test_every_markup_yields_every_article_exactly(markup, articles):
    assert_articles(parse_articles(markup(articles), PAGE_URL), articles)


def test_seed_page_as_a_reader_sees_it():
    found = parse_articles(markup_div_br([SEED_A, SEED_B]), PAGE_URL)
    first, second = found
    assert first.id == 262804
    assert first.title == "習近平:核心技術是國之重器,要加速推動信息領域核心技術突破"
    assert first.text.startswith("全國網絡安全和信息化工作會議20日至21日在北京召開。")
    assert first.text.endswith("中央重點新聞網站負責同誌等參加會議。")
    assert second.id == 263624
    assert "集成電路突圍" in second.text.splitlines()
    for article in found:
        assert "PermaLink" not in article.text
        assert "Next Page" not in article.text
        assert "ZKIZ Archives" not in article.text + article.title
        assert "相關文章" not in article.text
        assert "" not in article.text.splitlines()


def test_comments_after_the_permalink_are_not_text():
    found = parse_articles(markup_semantic([SEED_B, REPOST]), PAGE_URL)
    for article in found:
        assert "留言" not in article.text and "讀者甲" not in article.text
        assert "最新文章" not in article.text


def test_scripts_ads_images_and_indents_are_dropped():
    (article,) = parse_articles(markup_paragraph_images([REPOST]), PAGE_URL)
    assert "document.write" not in article.text
    assert "廣告" not in article.text
    assert "圖片" not in article.text
    for line in article.text.splitlines():
        assert line == line.strip(" \u3000\xa0")


def test_source_url_line_is_taken_out_of_the_text():
    (article,) = parse_articles(markup_gb_sections([REPOST]), PAGE_URL)
    assert article.source_url == "http://www.yicai.com/news/5422345.html"
    assert "yicai" not in article.text


@pytest.mark.parametrize(
    "document",
    [
        MISSING_200,
        "",
        "<html><body><h1>文章不存在或已被刪除</h1><a href='/'>首頁</a></body></html>",
        "<html><body><p>PermaLink: nothing here</p></body></html>",
    ],
)
def test_pages_without_a_permalink_hold_no_article(document):
    assert parse_articles(document, PAGE_URL) == []


def test_an_id_repeated_on_a_page_is_recorded_once():
    document = markup_semantic([REPOST, REPOST])
    assert [a.id for a in parse_articles(document, PAGE_URL)] == [REPOST.id]


# ---- markups written without looking at the parser ----------------------------------


def _permalink(article_id: int) -> str:
    return f"https://articles.zkiz.com/?id={article_id}"


def test_definition_list_layout_with_inline_styles():
    spec = SHORT_BODY
    document = (
        "<html><body><div style='float:left'><a href='/'>📖 ZKIZ Archives</a></div>"
        f"<dl><dt><span style='font-size:20px'>{spec.title}</span></dt>"
        + "".join(f"<dd>{p}</dd>" for p in spec.paragraphs)
        + f"<dd><small>PermaLink: <a href='{_permalink(spec.id)}'>{_permalink(spec.id)}</a>"
        "</small></dd></dl><p><a href='?id=2'>Next Page</a></p><p>ZKIZ Archives @ 2019</p>"
        "</body></html>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])


def test_flat_paragraphs_with_comments_between_articles():
    first, second = REPOST, HKSCS

    def block(spec):
        return (
            f"<p><b>{spec.title}</b></p><p>{spec.source_url}</p>"
            + "".join(f"<p>{p}</p>" for p in spec.paragraphs)
            + f"<p>PermaLink: <a href='{_permalink(spec.id)}'>{_permalink(spec.id)}</a></p>"
        )

    document = (
        "<html><body><div>"
        + block(first)
        + "<p>訪客：寫得好</p><p>訪客二：同意</p>"
        + block(second)
        + "<p>訪客三：第二篇的留言</p></div></body></html>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [first, second])


def test_permalink_link_text_differs_from_label():
    spec = LONG
    document = (
        f"<h2>{spec.title}</h2>"
        + "".join(f"<p>{p}</p>" for p in spec.paragraphs)
        + f"<p>Permalink: <a href='/?id={spec.id}'>link</a></p>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])


def test_pre_formatted_page():
    spec = SIMPLIFIED
    body = "\n".join([spec.title, "", *spec.paragraphs, "", f"PermaLink: {_permalink(spec.id)}"])
    document = f"<html><body><pre>📖 ZKIZ Archives\n\n{body}\n\nNext Page</pre></body></html>"
    assert_articles(parse_articles(document, PAGE_URL), [spec])


def test_sidebar_before_the_content_in_plain_divs():
    spec = REPOST
    side = "".join(f"<div><a href='?id={n}'>其他文章 {n}</a></div>" for n in range(5))
    document = (
        "<html><body><div><div>📖 ZKIZ Archives</div><div><div>熱門</div>" + side + "</div>"
        f"<div><h1>{spec.title}</h1><div><a href='{spec.source_url}'>{spec.source_url}</a></div>"
        + "".join(f"<div>{p}</div>" for p in spec.paragraphs)
        + f"<div>PermaLink: <a href='{_permalink(spec.id)}'>{_permalink(spec.id)}</a></div>"
        "</div></div></body></html>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])


def test_unclosed_tags_and_nested_tables_still_parse():
    spec = HKSCS
    nested = "<table><tr><td>" * 300
    document = (
        f"<html><body>{nested}<b>{spec.title}<br>{spec.source_url}<p>"
        + "<p>".join(spec.paragraphs)
        + f"<p>PermaLink: <a href={_permalink(spec.id)}>{_permalink(spec.id)}</a>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])


def test_bootstrap_cards_with_a_dated_side_list():
    cards = "".join(
        f'<div class="card"><div class="card-header"><h5>{s.title}</h5></div>'
        f'<div class="card-body"><p class="text-muted">{s.source_url}</p>'
        + "".join(f"<p>{p}</p>" for p in s.paragraphs)
        + f'</div><div class="card-footer">PermaLink: <a href="{_permalink(s.id)}">'
        f"{_permalink(s.id)}</a></div></div>"
        for s in (REPOST, HKSCS)
    )
    document = (
        '<html><body><div class="navbar"><a href="/">📖 ZKIZ Archives</a></div>'
        f'<div class="container"><div class="row"><div class="col-md-8">{cards}</div>'
        '<div class="col-md-4"><h4>熱門</h4><ul><li><a href="?id=5">文章五</a> (2019-01-02)'
        '</li><li><a href="?id=6">文章六</a> (2019-01-03)</li></ul></div></div></div></body></html>'
    )
    assert_articles(parse_articles(document, PAGE_URL), [REPOST, HKSCS])


def test_title_that_links_to_itself_after_plain_link_rows():
    spec = LONG
    document = (
        "<html><body><div><div>📖 ZKIZ Archives</div><div><a href='?id=7'>舊文七</a></div>"
        f"<div><a href='?id=8'>舊文八</a></div><div><a href='?id={spec.id}'>{spec.title}</a></div>"
        + "".join(f"<div>{p}</div>" for p in spec.paragraphs)
        + f"<div>PermaLink: <a href='{_permalink(spec.id)}'>{_permalink(spec.id)}</a></div>"
        "</div></body></html>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])


def test_inline_styled_titles_in_bare_body_text():
    specs = [SIMPLIFIED, SHORT_BODY]
    document = (
        "<html><body>"
        + "".join(
            f'<span style="font-size:20px;font-weight:bold">{s.title}</span><br>'
            + "<br>".join(s.paragraphs)
            + f"<br>PermaLink: {_permalink(s.id)}<br><br>"
            for s in specs
        )
        + "</body></html>"
    )
    assert_articles(parse_articles(document, PAGE_URL), specs)


def test_xhtml_blog_with_iframe_ad_and_comment_list():
    spec = SUBHEADINGS
    paragraphs = "".join(
        f"<p>{p}</p>"
        + (
            '<iframe src="http://ads/"></iframe><div class="advertisement">贊助內容</div>'
            if i
            else ""
        )
        for i, p in enumerate(spec.paragraphs[:2])
    ) + "".join(f"<p>{p}</p>" for p in spec.paragraphs[2:])
    document = (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        '<body><div id="wrap"><div id="hd"><h1>📖 ZKIZ Archives</h1></div><div id="bd">'
        f'<div class="entry"><h2 class="entry-title">{spec.title}</h2>'
        f'<div class="entry-content"><p>{spec.source_url}</p>{paragraphs}</div>'
        f'<p class="meta">PermaLink: <a href="{_permalink(spec.id)}">{_permalink(spec.id)}</a></p>'
        '<h3>回應</h3><ol class="commentlist"><li>甲：好</li></ol></div></div>'
        '<div id="ft">ZKIZ Archives @ 2019</div></div></body></html>'
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])


def test_permalink_url_on_the_line_after_its_label():
    first, second = SHORT_BODY, SIMPLIFIED
    document = (
        "<div>"
        + "".join(
            f"<b>{s.title}</b><br>"
            + "<br>".join(s.paragraphs)
            + f"<br>PermaLink:<br><a href='{_permalink(s.id)}'>{_permalink(s.id)}</a><br>"
            for s in (first, second)
        )
        + "</div>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [first, second])


def test_hand_wrapped_html_puts_no_spaces_into_chinese_text():
    spec = LONG
    wrapped = [p[:20] + "\n    " + p[20:40] + "\n" + p[40:] for p in spec.paragraphs]
    document = (
        f"<h2>\n  {spec.title}\n</h2>\n"
        + "".join(f"<p>\n    {p}\n</p>\n" for p in wrapped)
        + f"<p>PermaLink: <a href='{_permalink(spec.id)}'>{_permalink(spec.id)}</a></p>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])
    mixed = parse_articles("<h1>T</h1><p>DuckDB\nand 中文\n字</p><p>PermaLink: ?id=9</p>", PAGE_URL)
    assert mixed[0].text == "DuckDB and 中文字"  # Latin words keep their space


def test_breadcrumb_and_date_before_a_plain_title_are_not_the_title():
    spec = SIMPLIFIED
    document = (
        "<div><a href='/'>首頁</a> &gt; <a href='/?cat=1'>財經</a> &gt; 文章</div>"
        "<div>2018-05-08 10:20</div>"
        f"<div>{spec.title}</div>"
        + "".join(f"<div>{p}</div>" for p in spec.paragraphs)
        + f"<div>PERMALINK: <a href='/?ID={spec.id}'>link</a></div>"
    )
    assert_articles(parse_articles(document, PAGE_URL), [spec])


@pytest.mark.parametrize("with_article", [True, False])
def test_a_parsed_page_leaves_nothing_of_itself_behind(with_article):
    """A big page's tree is freed on return, not whenever the collector next runs: left
    to it, a crawl of 7.9 MB pages held several of them (161 MB at concurrency 1)."""
    import gc
    import tracemalloc

    text = "長" * 1_000_000
    html = (
        markup_div_br([ArticleSpec(7, "大", (text,))])
        if with_article
        else f"<html><body><div><p>{text}</p></div></body></html>"
    )
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        articles = parse_articles(html, PAGE_URL)
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        gc.enable()
    kept = sum(len(a.text) for a in articles) * 2  # the article text itself (UCS-2)
    assert [a.id for a in articles] == ([7] if with_article else [])
    assert held - kept < 500_000


# Pages where the builder's marks for <br>, plain blocks and links meet what they stand for:
# blanks beside them (BeautifulSoup collapses a blank string), <pre>, a <br> in <title>,
# <br>s with attributes, links across breaks, names lxml passes through as written that
# BeautifulSoup's own builder reads as namespaced ("{x}hidden" is its attribute "hidden").
BUILDER_PAGES = [
    markup_div_br([SEED_A, SEED_B]),
    markup_paragraph_images([SHORT_BODY]),
    markup_table_font([HKSCS]),
    "<html><head><title> T <br>\x0c t </title></head><body><div>中\x0c<br>\x0c文</div>"
    "<p>中 \n<br>\n 文<br>  <br>\t\n</p><pre> a \n<br>  \nb<p> c </p>\n</pre>"
    '<div>x<br style="display:none">y<br class="k">z<br hidden>w</div>'
    '<a href="http://www.example.com/a/very/long/path/cut/short/by/the/forum/here.html">'
    "http://www.example.com/a/very/long/ ... forum/here.html<br>next</a><p>"
    '<a href="http://www.example.com/a/very/long/path/cut/short/by/the/forum/here.html">'
    "http://www.example.com/a/very/long/ ... forum/here.html</a> <b><a href=/x>t</a></b></p>"
    '<p>a<a href="/y" style="display:none">hidden</a><a href="/z" class="share">share</a>'
    '<a href="/t" class="post-title">title</a><a hidden href="/h">h</a><a name="n">n</a></p>'
    "<main><header><h2>標<b>題</b></h2></header><article><footer>腳</footer><section>"
    "<strong>粗</strong><font>字</font><u>線</u></section></article></main><header>頂</header>"
    "<nav>導航</nav><aside>側</aside><pre> <b>p</b>  \n  <i>q</i> </pre><ruby>漢<rt>han</rt></ruby>"
    "<ul><li>a<li>b<p>c</ul><table><tr><td>d<td>e</table></body></html>",
    "<!DOCTYPE html><?php x ?><html><head><!-- c --><title>T<br>t</title></head><body>"
    '<svg xmlns="http://www.w3.org/2000/svg" xml:lang="en" xlink:href="#a"><text>s</text></svg>'
    "<p {x}hidden=1 a{b=2>hidden</p><pre>a\nb<br>c</pre><o:p>w</o:p><![CDATA[d]]></body></html>",
]


def _read_out(flattener):
    """What the walk made of a page: its lines, and each line's blocks as line spans."""
    spans = flattener.block_spans
    lines = []
    for line, block in zip(flattener.lines, flattener.line_block):
        blocks = []
        while block is not None and block != -1:
            blocks.append(spans[block])
            block = flattener.block_parent.get(block)
        counts = (line.chars, line.link_chars, line.heading_chars)
        lines.append((line.text, counts, line.hrefs, line.shown, blocks))
    return lines, flattener.chrome_spans, flattener.message_spans, flattener.page_title


@pytest.mark.parametrize("html", BUILDER_PAGES)
def test_the_walk_reads_the_builders_marks_as_the_tags_they_stand_for(html):
    from bs4 import BeautifulSoup

    from zkiz_corpus.parsing import _Flattener, _soup

    read = []
    for soup in (_soup(html), BeautifulSoup(html, "lxml", multi_valued_attributes=None)):
        flattener = _Flattener(explain=True)
        flattener.walk(soup.find("html") or soup)
        flattener.flush()
        read.append(_read_out(flattener))
    assert read[0] == read[1]
    assert read[0][0]  # the page was read at all


def test_an_attribute_written_with_a_namespace_is_read_as_beautifulsoup_reads_it():
    page = (
        "<html><body><div><h2>標題</h2><p {x}hidden=1>不見</p><p>正文</p>"
        '<p>PermaLink: <a href="https://articles.zkiz.com/?id=5">?id=5</a></p></div></body></html>'
    )
    [article] = parse_articles(page)
    assert (article.title, article.text) == ("標題", "正文")


def test_line_text_shortcuts_do_what_the_regexes_do():
    import random

    from zkiz_corpus.parsing import _CJK_WRAP, _SPACES, _has_odd_spaces, _unwrap

    rng = random.Random(13)
    # Blanks, both ends of the Chinese ranges and just outside them, digits, Latin.
    alphabet = [
        *"中文09a/ \t\r\n\n\f\v\xa0\u2028\u2029\u3000",
        *"\uff01\u2e80\u9fff\uf900\uffef\ufff0\u2e7f",
    ]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        assert _unwrap(text) == _CJK_WRAP.sub("", text), repr(text)
        if _SPACES.sub(" ", text) != text:
            assert _has_odd_spaces(text), repr(text)


def test_a_parse_that_fails_halfway_leaves_the_next_page_whole(monkeypatch):
    from zkiz_corpus import parsing

    page = markup_div_br([SEED_A])
    start = parsing._HtmlBuilder.start

    def fail_at_a_link(self, tag, attrib, nsmap=None):
        if tag == "a":
            raise RuntimeError("stop")  # as a signal would, with the parser mid-page
        start(self, tag, attrib, nsmap)

    monkeypatch.setattr(parsing._HtmlBuilder, "start", fail_at_a_link)
    parsing._BUILDERS.builder = None  # a parser binds its target's methods when made
    with pytest.raises(RuntimeError):
        parse_articles(page)
    monkeypatch.setattr(parsing._HtmlBuilder, "start", start)
    assert_articles(parse_articles(page), [SEED_A])
    with pytest.raises(UnicodeError):
        parse_articles(page[: len(page) // 2] + "\udfff")  # no text decoded from bytes has one
    assert_articles(parse_articles(page), [SEED_A])


def test_pages_are_built_with_tags_where_the_marks_misread(monkeypatch):
    """Another BeautifulSoup or lxml that drives the builder otherwise: the canary
    reads differently with marks, and every page is read from Tags instead."""
    from zkiz_corpus import parsing

    real = parsing._flattened
    calls = []

    def misread(html, explain, marks):
        calls.append(marks)
        flattener = real(html, explain, marks)
        if marks:
            flattener.lines = flattener.lines[:-1]  # as a builder change could lose a line
        return flattener

    monkeypatch.setattr(parsing, "_flattened", misread)
    parsing._marks_work.cache_clear()
    try:
        page = markup_div_br([SEED_A])
        assert parse_articles(page, "https://articles.zkiz.com/?id=262804")[0].text == (
            "\n".join(SEED_A.paragraphs)
        )
        assert calls[-1] is False
    finally:
        parsing._marks_work.cache_clear()
