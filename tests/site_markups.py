"""Pages shaped the way the archive's own software shapes them (issue 12), built from
what is known of that software rather than from one captured template:

- forum posts: BBCode through PHP ``nl2br`` (``<br />`` and a newline per source line,
  an empty ``<br />`` line between paragraphs, ``&nbsp;&nbsp;`` indents, no ``<p>``,
  ``<img class='bbcode_img' ...>``), bare URLs auto-linked with their text cut to the
  first 32 characters, `` ... `` and the last 19 when the URL is over 65 characters;
- blog posts: stored HTML (or Markdown rendered to HTML) under ``h1.articletitle`` in
  ``div.contentbody#pagecontent``, with inline styles, ``<span>`` and ``<strong>``;
- "ZKIZ.com - Message" pages for posts that are gone.

Each post is written once, in a small mark-up of its own (``**bold**``, ``- `` list
items, ``> `` quotes, ``[text](url)`` links, bare URLs), and rendered by several
builders; the expected record comes from the same post, so text and pages cannot drift.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

PERMALINK = "https://articles.zkiz.com/?id={}"

# ---- posts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    """One post and the record expected from it."""

    id: int
    title: str
    paragraphs: tuple[str, ...]  # in the mark-up above
    source_url: str | None = None  # the href of the opening link, as a record holds it
    source_text: str | None = None  # the text the software shows for it (default: the URL)
    images: tuple[str, ...] = ()  # image URLs, shown after the first paragraph

    @property
    def text(self) -> str:
        return "\n".join(plain(p) for p in self.paragraphs)


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)|(https?://[!-~]+|www\.[!-~]+)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def plain(paragraph: str) -> str:
    """What a reader sees of a paragraph: no mark-up, links as their (full) URL or text."""
    paragraph = _LINK.sub(lambda m: m.group(1) or _href(m.group(3)), paragraph)
    paragraph = _BOLD.sub(r"\1", paragraph)
    return paragraph[2:] if paragraph.startswith(("- ", "> ")) else paragraph


def _href(url: str) -> str:
    return url if "://" in url else "http://" + url


def shorten(url: str, ellipsis: str = " ... ") -> str:
    """The forum's text for an auto-linked URL: whole up to 65 characters, else cut."""
    return url if len(url) <= 65 else url[:32] + ellipsis + url[-19:]


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _inline(paragraph: str, ellipsis: str, bold: str = "b", link_attrs: str = "") -> str:
    """A paragraph's inline HTML: bold as ``bold``, bare URLs auto-linked and shortened."""
    out, last = [], 0
    for match in _LINK.finditer(paragraph):
        out.append(_BOLD.sub(rf"<{bold}>\1</{bold}>", _esc(paragraph[last : match.start()])))
        text, url = (match.group(1), match.group(2)) if match.group(1) else (None, None)
        if text is None:
            shown = match.group(3)
            url, text = _href(shown), shorten(shown, ellipsis)
        out.append(f'<a href="{_attr(url)}"{link_attrs}>{_esc(text)}</a>')
        last = match.end()
    out.append(_BOLD.sub(rf"<{bold}>\1</{bold}>", _esc(paragraph[last:])))
    return "".join(out)


def _source_link(post: Post, ellipsis: str, link_attrs: str = ' target="_blank"') -> str:
    assert post.source_url is not None
    shown = post.source_text or shorten(post.source_url, ellipsis)
    return f'<a href="{_attr(post.source_url)}"{link_attrs}>{_esc(shown)}</a>'


# Real-looking reposts: Traditional Chinese machine-converted from Simplified, long
# one-line paragraphs, 「」 and 『』, · in foreign names, spaces around numbers, ASCII.
TESLA = Post(
    62723,
    "特斯拉上海超級工廠動工 馬斯克稱年底前投產",
    (
        "1月7日，特斯拉上海超級工廠在臨港產業區正式開工建設。"
        "特斯拉CEO埃隆·馬斯克在奠基儀式上表示，"
        "工廠一期計劃年產 25 萬輛 Model 3 及 Model Y，「我們希望今年年底前實現初步投產」。",
        "這是上海迄今為止最大的外資製造業項目，總投資約 500 億元人民幣。"
        "上海市市長應勇稱，特斯拉項目是"
        "**『上海製造』品牌建設**的重要一環，市政府將全力做好服務保障。",
        "據悉，特斯拉已於去年 10 月以 9.73 億元競得臨港裝備產業區 Q01-05 地塊，"
        "面積約 86.5 萬平方米。環評公示見 https://www.shanghai.gov.cn/nw2/nw2314/nw2319/nw12344/u26aw57812.html"
        "?date=20190107&type=notice&channel=economy ，公示期為 10 個工作日。",
        "分析人士指出，特斯拉國產化後，Model 3 售價有望下調 20% 至 30%，"
        "對國內新能源汽車市場構成衝擊，"
        "蔚來、小鵬等造車新勢力將面臨更大壓力。據[第一財經](https://www.yicai.com/)統計，"
        "2018 年國內新能源汽車銷量為 125.6 萬輛。",
    ),
    source_url=(
        "https://www.yicai.com/news/2019/01/07/100091234.html?utm_source=weibo"
        "&utm_medium=social&utm_campaign=share&from=timeline&isappinstalled=0"
    ),
    images=("http://img.zkiz.com/upload/2019/01/tesla-gigafactory-3.jpg",),
)
HKEX = Post(
    62724,
    "港交所：去年IPO集資額重登全球首位",
    (
        "香港交易所12月18日公布，2018年共有 205 家公司在港上市，首次公開招股集資額達 2,778 億港元，"
        "自 2010 年以來再次成為全球最大的IPO市場。",
        "港交所集團行政總裁李小加在記者會上說：「新經濟公司來港上市的勢頭仍然強勁，"
        "明年我們會繼續完善**同股不同權**的安排。」",
        "> 上市申請數目創下歷年新高，其中生物科技公司佔 18 家，『未有收入』的公司佔 9 家。",
        "不過，有市場人士擔心，部分新股上市後股價大幅跑輸招股價，「破發」比例超過一半，投資者需審慎。",
    ),
    source_url="http://www.hkexnews.hk/news/2018/181218news.htm",  # short: shown whole
)
HSI = Post(
    62725,
    "港股收市：恒指跌逾300點 騰訊跌2%",
    (
        "美股隔晚下挫，港股今日低開低走，恒生指數收市報 25,752 點，跌 313 點或 1.2%，"
        "全日成交 852 億港元。",
        "藍籌股普遍下跌，騰訊控股（00700）跌 2.1% 收 316.4 元；友邦保險（01299）跌 1.5%；"
        "匯豐控股（00005）微跌 0.3%。",
        "- 恒生指數：25,752 點，跌 1.2%",
        "- 國企指數：10,231 點，跌 1.4%",
        "分析員指，中美貿易談判前景未明，加上美聯儲主席傑羅姆·鮑威爾講話偏鷹，「資金仍會觀望」。",
    ),
    # The forum links a bare ``www.`` URL as http://, and shows the text as typed.
    source_url=(
        "http://www.hket.com/article/2234567/hang-seng-index-falls-300-points"
        "-tencent-slides?mtc=20039&srkw=hsi"
    ),
    source_text=shorten(
        "www.hket.com/article/2234567/hang-seng-index-falls-300-points"
        "-tencent-slides?mtc=20039&srkw=hsi"
    ),
)
_SINA_QUERY = "特斯拉上海超級工廠"
SINA = Post(
    62726,
    "新浪財經：特斯拉上海工廠相關報道匯總",
    (
        "以下為新浪財經整理的特斯拉上海超級工廠相關報道，按時間先後排列。",
        "1月7日，埃隆·馬斯克到訪上海，出席超級工廠奠基儀式；1月9日，國務院總理李克強在北京會見馬斯克，"
        "表示「歡迎更多外資企業來華投資」。",
        "馬斯克在社交媒體 Twitter 上寫道：「Shanghai Gigafactory construction started today!」",
    ),
    # Percent-encoded in the href, shown decoded (as a browser's address bar shows it),
    # and cut with a bare "…".
    source_url=(
        "https://search.sina.com.cn/?q=%E7%89%B9%E6%96%AF%E6%8B%89%E4%B8%8A%E6%B5%B7%E8%B6%85"
        "%E7%B4%9A%E5%B7%A5%E5%BB%A0&c=news&from=channel&ie=utf-8&range=all&time=2019-01-07"
    ),
    source_text=shorten(
        f"https://search.sina.com.cn/?q={_SINA_QUERY}&c=news&from=channel&ie=utf-8"
        "&range=all&time=2019-01-07",
        "…",
    ),
)
CHIPS = Post(
    70001,
    "【深度】誰在為「上海製造」買單？",
    (
        "**編者按：**本文原載於《第一財經日報》，作者為資深產業研究員，文中觀點不代表本站立場。",
        "**一、集成電路突圍**",
        "在 5 月 7 日上海市政府新聞辦舉辦的「四大品牌」系列第二場新聞發布會上，"
        "上海市經信委主任陳鳴波稱，"
        "上海目前正在加快制定**集成電路、民用航空**產業發展等行動計劃，推動產業鏈和創新鏈的聯動發展。",
        "- 集成電路：2017 年銷售規模接近 1200 億元",
        "- 民用航空：C919 大型客機已完成 3 架機試飛",
        "- 生物醫藥：張江藥谷聚集企業逾 400 家",
        "> 「有很多產業集群，光靠上海一家很難形成世界級的水平和影響力，"
        "必須要面向長三角共建共享。」",
        "對此，喬治·索羅斯旗下基金的一位前分析師直言：『補貼不是萬能的，關鍵是制度環境。』",
    ),
    images=("https://blog.zkiz.com/upload/2018/05/chip-fab.png",),
)
DELTA = Post(
    70002,
    "聯動長三角：四個世界級產業集群怎麼建",
    (
        "不僅僅是集成電路，再出發的「上海製造」還希望全力打造兩個世界級產業集群：邁向全球價值鏈高端的"
        "電子信息產業集群和具有全球話語權的汽車產業集群。",
        "**瞄準的目標**，則是通過 3 年的努力，讓「上海製造」技術更先進、製造更智能、產品更高端，"
        "上述重點產業集群到 2020 年面向長三角核心配套率達到 60% 以上。",
        "上海市經濟和信息化委副主任吳金城稱，長三角工業增加值佔全國的 1/4 以上，"
        "新能源汽車市場份額佔全國 1/3，機器人產能佔 1/2。",
    ),
    source_url="https://www.jfdaily.com/news/detail?id=89012&from=groupmessage&isappinstalled=0",
    source_text=(
        "https://www.jfdaily.com/news/detail?id=89012&from=groupmessage&isappinstalled=0"
    ),  # a blog keeps a pasted link as it is: whole, even over 65 characters
)
PLAIN = Post(
    263624,
    "「上海製造」攻堅國之重器 確保先進製造業用地",
    (
        "享譽國內的「上海製造」再度出發，目標之一就是國家亟須攻堅的領域，如大飛機發動機、中國芯等。",
        "數據顯示，2017 年上海市集成電路產業整體銷售規模接近 1200 億元"
        "（全國集成電路產業銷售 5411.3 億元）。",
    ),
)
FORUM_POSTS = (TESLA, HKEX, HSI, SINA)
BLOG_POSTS = (CHIPS, DELTA)

# ---- forum bodies: BBCode through nl2br ---------------------------------------------


@dataclass(frozen=True)
class Forum:
    """How one forum body is written."""

    ellipsis: str = " ... "  # what the auto-linker puts in a cut URL
    indent: str = "&nbsp;&nbsp;&nbsp;&nbsp;"  # a tab, as nl2br-era BBCode writes it
    bold: str = "b"
    newline: str = "\n"
    trailing_br: bool = True  # whether the last line ends in <br />
    quote: str = "blockquote"  # how [quote] renders: "blockquote" or "div"


def forum_body(post: Post, how: Forum = Forum()) -> str:
    nl = "<br />" + how.newline
    lines: list[str] = []
    if post.source_url:
        lines += [_source_link(post, how.ellipsis), ""]
    items: list[str] = []
    for n, paragraph in enumerate(post.paragraphs):
        inline = _inline(
            paragraph[2:] if paragraph[:2] in ("- ", "> ") else paragraph,
            how.ellipsis,
            how.bold,
            ' target="_blank"',
        )
        if paragraph.startswith("- "):
            items.append(f"<li>{inline}</li>")
            continue
        if items:
            lines += ["<ul>" + "".join(items) + "</ul>", ""]
            items = []
        if paragraph.startswith("> "):
            quoted = how.newline + inline + nl
            lines.append(
                f"<blockquote>{quoted}</blockquote>"
                if how.quote == "blockquote"
                else f'<div class="quote"><div class="quote_content">{quoted}</div></div>'
            )
        else:
            lines.append(how.indent + inline)
        lines.append("")
        if n == 0:
            for image in post.images:
                lines += [f"<img class='bbcode_img' src='{_attr(image)}' border='0' alt='' />", ""]
    if items:
        lines.append("<ul>" + "".join(items) + "</ul>")
    while lines and lines[-1] == "":
        lines.pop()
    body = nl.join(lines)
    return body + nl if how.trailing_br else body


# ---- blog bodies: stored HTML or rendered Markdown ------------------------------------


def blog_body(post: Post, style: str = "word") -> str:
    """``word``: HTML pasted from an editor, inline styles and spans everywhere;
    ``markdown``: what a Markdown renderer writes (newlines between blocks)."""
    blocks: list[str] = []
    if post.source_url:
        blocks.append(f"<p>{_source_link(post, ' ... ', '')}</p>")
    items: list[str] = []
    for n, paragraph in enumerate(post.paragraphs):
        body = paragraph[2:] if paragraph[:2] in ("- ", "> ") else paragraph
        inline = _inline(body, " ... ", "strong")
        if style == "word":
            inline = (
                f'<span style="font-family:微軟正黑體;color:#333333;font-size:16px">{inline}</span>'
            )
        if paragraph.startswith("- "):
            items.append(f"<li>{inline}</li>")
            continue
        if items:
            blocks.append("<ul>\n" + "\n".join(items) + "\n</ul>")
            items = []
        if paragraph.startswith("> "):
            blocks.append(f"<blockquote>\n<p>{inline}</p>\n</blockquote>")
        elif style == "word":
            blocks.append(f'<p style="text-indent:2em;line-height:1.8em;">{inline}</p>')
        else:
            blocks.append(f"<p>{inline}</p>")
        if n == 0:
            for image in post.images:
                blocks.append(
                    f'<p style="text-align:center"><img src="{_attr(image)}" '
                    'style="max-width:100%" alt="" /></p>'
                )
    if items:
        blocks.append("<ul>\n" + "\n".join(items) + "\n</ul>")
    return ("\n" if style == "markdown" else "").join(blocks)


# ---- archive pages ------------------------------------------------------------------


def permalink_line(article_id: int) -> str:
    url = PERMALINK.format(article_id)
    return f'PermaLink: <a href="{url}">{url}</a>'


@dataclass(frozen=True)
class Shown:
    """One article as the archive shows it: the post and how it is wrapped."""

    post: Post
    shape: str  # a key of ARTICLE_SHAPES
    forum: Forum = field(default_factory=Forum)


def _forum_div(s: Shown) -> str:
    return (
        f'<div class="post"><h2 class="posttitle">{_esc(s.post.title)}</h2>\n'
        f'<div class="postbody">{forum_body(s.post, s.forum)}</div>\n'
        f'<div class="postfoot">{permalink_line(s.post.id)}</div></div>\n'
    )


def _forum_table(s: Shown) -> str:
    return (
        '<table class="forumline" width="100%" cellspacing="1"><tr><td class="row1">'
        f'<span class="topictitle">{_esc(s.post.title)}</span></td></tr>'
        f'<tr><td class="row2"><span class="postbody">{forum_body(s.post, s.forum)}</span>'
        f"</td></tr><tr><td class=\"row1\"><span class='gensmall'>{permalink_line(s.post.id)}"
        "</span></td></tr></table>\n"
    )


def _forum_bare(s: Shown) -> str:
    """No element of its own: title, body and permalink are lines among <br />s."""
    return (
        f"<b>{_esc(s.post.title)}</b><br />\n<br />\n{forum_body(s.post, s.forum)}<br />\n"
        f"{permalink_line(s.post.id)}<br />\n<br />\n"
    )


def _blog_h1(s: Shown, style: str = "word") -> str:
    return (
        f'<div class="article"><div class="articleinfo">2018-05-08 10:20</div>\n'
        f'<h1 class="articletitle">{_esc(s.post.title)}</h1>\n'
        f'<div class="contentbody" id="pagecontent">{blog_body(s.post, style)}</div>\n'
        f"<p>{permalink_line(s.post.id)}</p></div>\n"
    )


def _blog_markdown(s: Shown) -> str:
    return _blog_h1(s, "markdown")


def _blog_div_title(s: Shown) -> str:
    """The title in a plain <div>: only its class says it is one."""
    return (
        f'<div class="articletitle">{_esc(s.post.title)}</div>'
        f'<div id="pagecontent" class="contentbody">{blog_body(s.post, "word")}</div>'
        f'<div class="permalink" style="font-size:12px">{permalink_line(s.post.id)}</div>\n'
    )


def _blog_span_title(s: Shown) -> str:
    return (
        f'<div class="entry"><span class="entry-title">{_esc(s.post.title)}</span>'
        f'<div class="contentbody" id="pagecontent">{blog_body(s.post, "markdown")}</div>'
        f"{permalink_line(s.post.id)}</div>\n"
    )


def _plain_shape(s: Shown) -> str:
    paragraphs = "".join(f"<div>{_esc(plain(p))}</div>" for p in s.post.paragraphs)
    title = f"<div>{_esc(s.post.title)}</div>"
    return f"<div>{title}{paragraphs}<div>{permalink_line(s.post.id)}</div></div>"


ARTICLE_SHAPES = {
    "forum_div": _forum_div,
    "forum_table": _forum_table,
    "forum_bare": _forum_bare,
    "blog_h1": _blog_h1,
    "blog_markdown": _blog_markdown,
    "blog_div_title": _blog_div_title,
    "blog_span_title": _blog_span_title,
    "plain": _plain_shape,
}


def _side_list() -> str:
    items = "".join(
        f'<li><a href="/?id={n}">舊文 {n}：港股夜報</a></li>' for n in (61001, 61002, 61003)
    )
    return f'<div class="k3">熱門文章<ul>{items}</ul></div>'


def archive_page(shown: list[Shown], layout: str = "header_top", head: str = "") -> str:
    """A whole archive page. ``head`` goes into <head> (charset declarations)."""
    articles = "".join(ARTICLE_SHAPES[s.shape](s) for s in shown)
    next_page = '<a href="/?id=999999">Next Page</a>'
    if layout == "header_top":
        body = (
            '<div id="header"><a href="/">📖 ZKIZ Archives</a></div>\n'
            f'<div id="main">{articles}<div class="nav">{next_page}</div></div>\n'
            f'{_side_list()}<div id="footer">ZKIZ Archives @ 2019</div>'
        )
    elif layout == "table":
        body = (
            '<table width="100%"><tr><td><font size="5">📖 ZKIZ Archives</font></td>'
            f'<td align="right">{next_page}</td></tr>'
            f'<tr><td colspan="2">{articles}</td></tr>'
            '<tr><td colspan="2"><small>ZKIZ Archives @ 2019</small></td></tr></table>'
        )
    elif layout == "flat":
        body = (
            f"📖 ZKIZ Archives<br />\n<br />\n{articles}{next_page}<br />\n<br />\n"
            "ZKIZ Archives @ 2019"
        )
    elif layout == "sidebar_first":
        body = (
            f'<div class="top"><b>📖 ZKIZ Archives</b></div>{_side_list()}'
            f'<div class="main">{articles}</div>'
            f'<div class="bottom">{next_page}<br />ZKIZ Archives @ 2019</div>'
        )
    else:
        raise ValueError(layout)
    return (
        f'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">\n<html><head>{head}'
        f"<title>ZKIZ Archives</title></head>\n<body>{body}</body></html>"
    )


# How the software declares UTF-8: (the <head> markup, the Content-Type header).
CHARSETS = {
    "http-equiv utf8": (
        '<meta http-equiv="Content-Type" content="text/html; charset=utf8">',
        "text/html",
    ),
    "header UTF8": ("", "text/html; charset=UTF8"),
    "meta charset utf8": ('<meta charset="utf8">', None),
    "http-equiv UTF-8 unquoted": (
        "<meta http-equiv=Content-Type content=text/html;charset=UTF-8>",
        None,
    ),
    "header quoted utf-8": ("<meta charset='utf-8'>", 'text/html; charset="utf-8"'),
    "none": ("", "text/html"),
    "no header at all": ("", None),
}

# ---- message pages ------------------------------------------------------------------


def message_page(title: str, message: str, suggest: str | None = None, shape: str = "reply") -> str:
    """The software's page for a post that is gone (HTTP 200)."""
    back = "<div><a class='button' onclick='history.go(-1);'>返回</a></div>"
    suggestion = (
        f"<div>建議回到: <a href='{_attr(suggest)}'>{_esc(suggest)}</a>。</div>" if suggest else ""
    )
    head = (
        '<meta http-equiv="Content-Type" content="text/html; charset=utf8">'
        "<title>ZKIZ.com - Message</title><link rel='stylesheet' href='/style.css'>"
    )
    if shape == "reply":
        body = (
            '<div class="reply" style="margin:50px auto; width:500px; padding:20px">'
            f"<h3>{_esc(title)}</h3>"
            f"<div style=\"font-size:14px; font-weight:bold\" id='msg'><div>{_esc(message)}</div>"
            f"{suggestion}{back}</div></div>"
        )
    elif shape == "table":
        suggestion = (
            f"<br />建議回到: <a href='{_attr(suggest)}'>{_esc(suggest)}</a>。" if suggest else ""
        )
        body = (
            "<table align='center'><tr><td><h3>" + _esc(title) + "</h3></td></tr>"
            f"<tr><td id='msg'>{_esc(message)}{suggestion}<br /><br />{back}</td></tr></table>"
        )
    elif shape == "chrome":
        body = (
            '<div id="header"><a href="/">📖 ZKIZ Archives</a></div>'
            f"<div class='reply'><h3>{_esc(title)}</h3><div id='msg'><div>{_esc(message)}</div>"
            f"{suggestion}{back}</div></div>"
            '<div id="footer">ZKIZ Archives @ 2019</div>'
        )
    else:
        raise ValueError(shape)
    return f"<html><head>{head}</head><body>{body}</body></html>"
