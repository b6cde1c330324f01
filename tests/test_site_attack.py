"""Pages an outside attack built as the forum and blog software can render them, each
once read wrong: every field is checked."""

from __future__ import annotations

import pytest

from zkiz_corpus.decoding import decode_page
from zkiz_corpus.parsing import read_articles

PAGE_URL = "https://articles.zkiz.com/?id=262804"


def page(articles: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf8"><title>ZKIZ Archives</title></head>'
        '<body><div id="header"><a href="/">📖 ZKIZ Archives</a></div><div id="main">'
        f'{articles}<div class="nav"><a href="/?id=999999">Next Page</a></div></div>'
        '<div id="footer">ZKIZ Archives @ 2019</div></body></html>'
    )


def permalink(article_id: int) -> str:
    url = f"https://articles.zkiz.com/?id={article_id}"
    return f'PermaLink: <a href="{url}">{url}</a>'


def forum(article_id: int, title: str, body: str) -> str:
    return (
        f'<div class="post"><h2 class="posttitle">{title}</h2>\n<div class="postbody">{body}'
        f'</div>\n<div class="postfoot">{permalink(article_id)}</div></div>\n'
    )


def blog(article_id: int, title: str, body: str) -> str:
    return (
        f'<div class="article"><h1 class="articletitle">{title}</h1>\n'
        f'<div class="contentbody" id="pagecontent">{body}</div>\n'
        f"<p>{permalink(article_id)}</p></div>\n"
    )


def nl2br(lines: list[str]) -> str:
    return "".join(f"{line}<br />\n" for line in lines)


def cut_link(url: str) -> str:
    """The forum's auto-link: over 65 bytes, the first 32, ' ... ', the last 19."""
    raw = url.encode()
    shown = url if len(raw) <= 65 else (raw[:32] + b" ... " + raw[-19:]).decode("utf-8", "replace")
    return f'<a href="{url}" target="_blank">{shown}</a>'


def fields(html: str) -> list[tuple]:
    found = read_articles(html, PAGE_URL).articles
    return [(a.id, a.title, a.text, a.source_url) for a in found]


HKEJ = "http://www.hkej.com/dailynews/article/2056789"
TIMELINE = "https://www.example.com/news/2019/01/07/100091234.html?from=timeline&current=1"
PARAM = "http://news.example.com/a?id=5&param=2"
YICAI = "https://www.yicai.com/news/2019/01/07/100091234.html?utm_source=weibo&utm_medium=social"
JFDAILY = "https://www.jfdaily.com/news/detail?id=89012"


STRAY_DIV = (
    f'<p><a href="{JFDAILY}">{JFDAILY}</a></p><div style="text-align:center">'
    "<p>不僅僅是集成電路。</p><p>第二段。</p>"
)
CUT_TIMELINE = (
    f'<a href="{TIMELINE}" target="_blank">{TIMELINE[:32]} ... {TIMELINE[-19:]}</a>'
    "<br />\n<br />\n正文。<br />\n"
)


LABELLED = nl2br(
    [
        cut_link("http://www.hkej.com/a/1.html"),
        "",
        "<b>編者按：</b>",
        "&nbsp;&nbsp;本文原載於信報。",
    ]
)
GLUED_NOTE = (
    f'<a href="{YICAI.replace("&", "&amp;")}" target="_blank">'
    f"{YICAI[:32]} ... {YICAI[-19:].replace('&', '&amp;')}</a>（第一財經）<br />\n"
    "<br />\n正文。<br />\n"
)


def _sibling(article_id: int, title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<h1 class="articletitle">{title}</h1>\n<div class="contentbody" id="pagecontent">'
        f"{body}<p>{permalink(article_id)}</p></div>\n"
    )


CASES = {
    "a stock code in the heading is the title, a short source link is no breadcrumb": (
        page(
            forum(
                262804,
                "00700",
                nl2br(
                    [
                        cut_link(HKEJ),
                        "",
                        "&nbsp;&nbsp;騰訊控股今日跌 2.1% 收 316.4 元。",
                        "",
                        "&nbsp;&nbsp;第二段。",
                    ]
                ),
            )
        ),
        [(262804, "00700", "騰訊控股今日跌 2.1% 收 316.4 元。\n第二段。", HKEJ)],
    ),
    "a date in the heading is the title": (
        page(forum(262804, "2019年1月7日", nl2br(["&nbsp;&nbsp;今日市況。"]))),
        [(262804, "2019年1月7日", "今日市況。", None)],
    ),
    "a stray <div> in stored HTML does not cut the title off": (
        page(
            blog(
                70002,
                "聯動長三角",
                STRAY_DIV,
            )
            + blog(70003, "第二篇", "<p>第二篇正文。</p>")
        ),
        [
            (70002, "聯動長三角", "不僅僅是集成電路。\n第二段。", JFDAILY),
            (70003, "第二篇", "第二篇正文。", None),
        ],
    ),
    "a title beside the body that holds the permalink": (
        page(
            _sibling(262804, "標題一", ["甲段。", "乙段。"])
            + _sibling(263624, "標題二", ["丙段。"])
        ),
        [(262804, "標題一", "甲段。\n乙段。", None), (263624, "標題二", "丙段。", None)],
    ),
    "a quoted blog's 'permalink' off the archive is text": (
        page(
            forum(
                262804,
                "港股收市",
                nl2br(
                    [
                        "&nbsp;&nbsp;第一段。",
                        "",
                        '永久链接：<a href="http://blog.example.cn/show.php?id=4567" target="_blank">http://blog.example.cn/show.php?id=4567</a>',
                    ]
                ),
            )
        ),
        [(262804, "港股收市", "第一段。\n永久链接：http://blog.example.cn/show.php?id=4567", None)],
    ),
    "a raw & in a cut link's text reads as an entity, and is still its URL": (
        page(
            forum(
                262804,
                "標題",
                CUT_TIMELINE,
            )
        ),
        [(262804, "標題", "正文。", TIMELINE)],
    ),
    "a raw & in a whole link's text": (
        page(
            forum(
                262804,
                "標題",
                f'<a href="{PARAM}" target="_blank">{PARAM}</a><br />\n<br />\n正文。<br />\n',
            )
        ),
        [(262804, "標題", "正文。", PARAM)],
    ),
    "a heading linked with slashes in its text is no breadcrumb": (
        page(
            blog(
                262804,
                '<a href="/?id=262804">2019/01/07 港股收市</a>',
                "<p>今日市況。</p><p>第二段。</p>",
            )
        ),
        [(262804, "2019/01/07 港股收市", "今日市況。\n第二段。", None)],
    ),
    "a heading linked to the blog's own path is no link list": (
        page(
            blog(262804, '<a href="/abby/12345">港股收市</a>', "<p>今日市況。</p><p>第二段。</p>")
        ),
        [(262804, "港股收市", "今日市況。\n第二段。", None)],
    ),
    "a bold label after the source URL does not take the title": (
        page(f"<div><div>港股收市</div><div>{LABELLED}</div><div>{permalink(262804)}</div></div>"),
        [(262804, "港股收市", "編者按：\n本文原載於信報。", "http://www.hkej.com/a/1.html")],
    ),
    "an e-mail line is text": (
        page(
            forum(
                262804,
                "港交所業績",
                nl2br(
                    [
                        "&nbsp;&nbsp;港交所公布業績。",
                        "",
                        '傳媒查詢：<a href="mailto:media@hkex.com.hk">media@hkex.com.hk</a>',
                    ]
                ),
            )
        ),
        [(262804, "港交所業績", "港交所公布業績。\n傳媒查詢：media@hkex.com.hk", None)],
    ),
    "a note glued after the source link stays text": (
        page(
            forum(
                262804,
                "標題",
                GLUED_NOTE,
            )
        ),
        [(262804, "標題", "（第一財經）\n正文。", YICAI)],
    ),
    "a zero-width space joins; joiners in an emoji stay": (
        page(forum(262804, "騰訊\u200b控股", nl2br(["一家人👨\u200d👩\u200d👧出遊。"]))),
        [(262804, "騰訊控股", "一家人👨\u200d👩\u200d👧出遊。", None)],
    ),
    "a 0px font around children that set their own size keeps their text": (
        page(
            forum(
                262804,
                "標題",
                '<div style="font-size:0"><p style="font-size:16px">正文一。</p>'
                '<p style="font-size:16px">正文二。</p></div>',
            )
        ),
        [(262804, "標題", "正文一。\n正文二。", None)],
    ),
    "a comment heading between posts is not the next post's title": (
        page(
            forum(262804, "第一篇", nl2br(["第一篇正文。"]))
            + "<h3>網友回應</h3><p>好文章</p>"
            + '<div class="post"><p>2020-01-06</p><h2 class="posttitle">第二篇文章標題</h2>'
            + f'<div class="postbody">第二篇正文。</div><div>{permalink(263624)}</div></div>'
        ),
        [
            (262804, "第一篇", "第一篇正文。", None),
            (263624, "第二篇文章標題", "第二篇正文。", None),
        ],
    ),
}


@pytest.mark.parametrize(
    "link",
    [
        "https://web.archive.org/web/20200101000000/https://articles.zkiz.com/?id=262804",
        "https://m.zkiz.com/?id=262804",
        "https://articles.zkiz.com./?id=262804",
    ],
    ids=["a web archive's copy", "another zkiz.com host", "a trailing dot"],
)
def test_a_saved_copy_keeps_its_permalink(link):
    html = page(
        '<div class="post"><h2 class="posttitle">標題</h2><div class="postbody">正文。</div>'
        f'<div>PermaLink: <a href="{link}">{link}</a></div></div>'
    )
    assert fields(html) == [(262804, "標題", "正文。", None)]


@pytest.mark.parametrize("name", list(CASES))
def test_attack_pages_read_right(name):
    html, expected = CASES[name]
    assert fields(html) == expected


def test_a_url_cut_by_bytes_through_a_chinese_character_is_still_its_url():
    raw = "http://www.hkej.com/tag/港股/恒生指數/騰訊控股/友邦保險".encode()
    link = raw[:32] + b" ... " + raw[-19:]
    body = b'<a href="' + raw + b'" target="_blank">' + link + b"</a><br />\n<br />\n"
    document = (
        page(forum(262804, "標題", "@@")).encode().replace(b"@@", body + "正文。<br />\n".encode())
    )
    html = decode_page(document, "text/html; charset=utf8")
    assert fields(html) == [(262804, "標題", "正文。", raw.decode())]


@pytest.mark.parametrize(
    "body",
    [
        '<a href="http://x.com/a">http://x.com/' + "." * 40000 + "</a>",
        "".join(f'<a href="http://x.com/{i}">http://x.com/{i}</a> ' for i in range(20000)),
    ],
    ids=["a link text of 40,000 dots", "20,000 links on one line"],
)
def test_pathological_link_text_still_parses(body):
    # Once quadratic (over 20 s and 4 s); the bench's figures are in the closing note.
    assert [a.id for a in read_articles(page(forum(262804, "t", body)), PAGE_URL).articles] == [
        262804
    ]
