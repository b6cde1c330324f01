"""Archive page HTML to articles: a pure function, no I/O.

The markup of the archive is not known and may change, so nothing here depends on one
template. The page is first flattened into the lines a reader sees (block elements and
``<br>`` break lines; scripts, styles and hidden elements are gone). Then what a reader
recognises is used as the anchor: a line starting ``PermaLink`` whose ``?id=`` link ends
an article. The article's lines are those before its permalink inside the largest element
that holds no other permalink (or, in flat layouts, since the previous permalink). Chrome
is dropped by what it is rather than what it is called: lists of links back into the
archive, the site's own header and footer lines, navigation and ads. Class names are only
a hint, and never drop a region that holds a permalink.

A link whose text is its own URL cut short (forum software shows a long URL as its first
32 characters, `` ... `` and its last 19) or without its scheme reads as the whole URL of
its ``href``; a link with words for text, or a URL text its href does not complete, is
left as it reads. A page with no permalink may be the site's notice that the post is gone
(its "Message" page, or any small page saying so): ``read_articles`` returns that message.
With ``explain``, it also says, line by line, what was dropped and why.
"""

from __future__ import annotations

import html
import re
import threading
import warnings
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from urllib.parse import unquote, urljoin, urlsplit

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.builder import LXMLTreeBuilder
from bs4.element import (
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    PageElement,
    ProcessingInstruction,
    Tag,
)

ARCHIVE_HOSTS = frozenset({"articles.zkiz.com", "www.zkiz.com", "zkiz.com"})

_BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption center dd details dialog dir div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html li "
    "main menu nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
_SKIP_TAGS = frozenset(
    "script style noscript template iframe frame frameset object embed svg canvas head "
    "select option button input textarea map audio video math title meta link".split()
)
_HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
_BOLD_TAGS = frozenset("b strong big".split())
_CHROME_TAGS = frozenset("nav aside menu dialog".split())
_PAGE_LEVEL_CHROME_TAGS = frozenset("header footer".split())
_CONTENT_TAGS = frozenset("article main".split())
_CHROME_TOKENS = frozenset(
    "nav navbar navigation menu sidebar widget breadcrumb breadcrumbs comment comments "
    "commentlist disqus respond ad ads adv advert advertisement adsbygoogle sponsor "
    "sponsored banner related share social pagination pager toolbar".split()
)
# Class or id words ending in these mark a title (title, articletitle, post_subject), but
# not a subtitle or subheading.
_TITLE_ENDINGS = ("title", "subject", "headline", "heading")

_PERMALINK = re.compile(r"^\W*(?:perma\s*-?\s*link|永久連結|永久链接|固定連結|固定链接)", re.I)
_PERMALINK_LABEL = re.compile(
    r"\W*(?:perma\s*-?\s*link|永久連結|永久链接|固定連結|固定链接)\s*[:：]?\s*", re.I
)
_ID_IN_URL = re.compile(r"[?&;]id=(\d{1,12})\b", re.I)
# Lines that open an article block without being its title: a date or time alone, a
# breadcrumb trail ("首頁 > 財經 > ...").
_DATELINE = re.compile(r"[\d\s:/.\-年月日時分秒號]{6,}|[\d\s:/.\-]*\d{4}[\d\s:/.\-]*")
_BREADCRUMB = re.compile(r".+?\s*[>»›/]\s*.+?\s*[>»›/]\s*.+")
_BARE_URL = re.compile(r"<?(https?://[^\s<>\"]+)>?", re.I)
# Where a link's text cuts its URL short: "...", "…", with or without spaces around.
_ELLIPSIS = re.compile(r"(?=(\.{3}|…))")
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*://", re.I)
_WEB_HREF = re.compile(r"(?:https?|ftp)://[^\s/]", re.I)
_SPACE = re.compile(r"\s")
_SITE_CHROME = re.compile(
    r"\W*(?:zkiz\s*archives?(?:\s*@\s*\d{4})?|next\s*page|prev(?:ious)?\s*page|"
    r"上一[頁页篇]|下一[頁页篇]|返回首[頁页]|回到頂部|回到顶部|back\s*to\s*top)\W*",
    re.I,
)
_AD_LABEL = re.compile(
    r"(?:廣告|广告|advertisement|sponsored|贊助|赞助)(?:\s*[:：|｜\]】）)]|\s*$)", re.I
)
# Inline styles that make a line look like a heading: bold, or a font of 18px / 1.2em up.
_HEADING_STYLE = re.compile(
    r"font-weight\s*:\s*(?:bold|bolder|[6-9]00)"
    r"|font-size\s*:\s*(?:x*-?large|1[89]px|[2-9]\dpx|1\.[2-9]\d*em|[2-9](?:\.\d+)?em)",
    re.I,
)
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
_WRAP = "[ \\t\\r]*\\n[ \\t\\r\\n]*"
# What ``_unwrap`` removes (the regex tries every character: it is the slower way).
_CJK_WRAP = re.compile(f"(?<=[{_CJK}]){_WRAP}(?=[{_CJK}0-9])|(?<=[{_CJK}0-9]){_WRAP}(?=[{_CJK}])")
_TOKEN_SPLIT = re.compile(r"[-_\s:]+")
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0\u2028\u2029]+")


def _has_odd_spaces(text: str) -> bool:
    """Whether ``_SPACES`` would change ``text``: ``in`` tests cost a tenth of its scan."""
    return (
        "  " in text
        or "\n" in text
        or "\xa0" in text
        or "\t" in text
        or "\r" in text
        or "\f" in text
        or "\v" in text
        or "\u2028" in text
        or "\u2029" in text
    )


def _is_cjk(char: str) -> bool:
    return (
        "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\uff00" <= char <= "\uffef"
    )


def _unwrap(text: str) -> str:
    """``_CJK_WRAP.sub("", text)``, looked for from each newline. A run of blanks holding
    a newline goes when a Chinese character stands on one side of it and a Chinese
    character or a digit on the other: only the whole run can match (inside it, the
    character before is a blank), so the run's two neighbours decide."""
    pieces: list[str] = []
    kept = 0  # text[:kept] is in pieces
    run_end = 0  # no run reaches back before this
    size = len(text)
    newline = text.find("\n")
    while newline != -1:
        start, end = newline, newline + 1
        while start > run_end and text[start - 1] in " \t\r":
            start -= 1
        while end < size and text[end] in " \t\r\n":
            end += 1
        if start and end < size:
            before, after = text[start - 1], text[end]
            if (_is_cjk(before) and (_is_cjk(after) or "0" <= after <= "9")) or (
                "0" <= before <= "9" and _is_cjk(after)
            ):
                pieces.append(text[kept:start])
                kept = end
        run_end = end
        newline = text.find("\n", end)
    if not pieces:
        return text
    pieces.append(text[kept:])
    return "".join(pieces)


# A zero-width space (or word joiner, or stray BOM) shows nothing: no space is seen
# there. Joiners (U+200C/U+200D) stay: they hold emoji sequences together.
_ZERO_WIDTH = re.compile("[\u200b\u2060\ufeff]+")
_EDGE = " \t\r\n\f\v\xa0\u3000\u200b\u200c\u200d\u2060\ufeff"


@dataclass(frozen=True)
class Article:
    """One article as a reader sees it, before any conversion."""

    id: int
    title: str
    text: str
    source_url: str | None


class _Line:
    """One line a reader sees, and what its text came from."""

    __slots__ = (
        "chars",
        "heading_chars",
        "href_set",
        "hrefs",
        "index",
        "link_chars",
        "parts",
        "shown",
        "text",
    )

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.chars = 0
        self.link_chars = 0
        self.heading_chars = 0
        self.hrefs: list[str] = []
        self.href_set: set[str] = set()  # the same, to ask "seen?" in O(1)
        self.text = ""
        self.index = -1  # in the page's lines
        # (href, text) of each link whose cut or scheme-less URL text was replaced by its href
        self.shown: list[tuple[str, str]] | None = None


@dataclass
class _Context:
    heading: int = 0
    pre: int = 0
    links: list[str] = field(default_factory=list)
    content: int = 0


# Strings that are no text: comments, doctypes and the like (BeautifulSoup's subclasses).
_NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)
# What entering an element without attributes does, by name: (is block, is chrome,
# is chrome only outside <article>/<main>, heading). Attributes can only add to these.
_PLAIN_ELEMENT = {
    name: (
        name in _BLOCK_TAGS or name in _CHROME_TAGS or name in _PAGE_LEVEL_CHROME_TAGS,
        name in _CHROME_TAGS,
        name in _PAGE_LEVEL_CHROME_TAGS,
        name in _HEADING_TAGS or name in _BOLD_TAGS,
    )
    for name in _BLOCK_TAGS | _CHROME_TAGS | _PAGE_LEVEL_CHROME_TAGS | _HEADING_TAGS | _BOLD_TAGS
}
_INLINE = (False, False, False, False)
# Names whose leaving needs more than the undo record: <pre> and <article>/<main>.
_COUNTED_TAGS = frozenset({"pre"}) | _CONTENT_TAGS
# Blocks that, without attributes, do nothing but break lines and bound a span: the
# builder marks them in the text instead of making Tags. Not <html> (the walk's root),
# nor <body>, whose Tag later readers of the soup may look for.
# Elements the builder keeps as Tags even without attributes: those the walk skips with
# all they hold, <br>/<img> (void: handled apart), the root and <body>, and <pre>, in
# which BeautifulSoup keeps blank strings as they are (it collapses them elsewhere).
_TAGS_KEPT = _SKIP_TAGS | {"html", "body", "br", "img", "pre"}
_MARKED_BLOCKS = frozenset(
    name
    for name, (is_block, is_chrome, page_level, heading) in _PLAIN_ELEMENT.items()
    if is_block and not (is_chrome or page_level or heading) and name not in _COUNTED_TAGS
) - {"html", "body"}


class _Flattener:
    """Walks the tree once, iteratively (deeply nested garbage must not recurse)."""

    def __init__(self, explain: bool = False) -> None:
        self.explain = explain
        self.lines: list[_Line] = []
        self.current = _Line()
        # Bumped at every line break: a link's text is read back on leaving it only if
        # no break came in between (an empty line is kept, not replaced, so its
        # identity cannot say so).
        self.breaks = 0
        self.block_spans: dict[int, tuple[int, int]] = {}
        self.block_parent: dict[int, int | None] = {}
        self.chrome_spans: list[tuple[int, int]] = []
        self.chrome_labels: list[str] = []  # with ``explain``: "<nav>", per chrome span
        self.message_spans: list[tuple[int, int]] = []  # blocks named msg/message
        self.page_title = ""
        self.line_block: list[int] = []
        self.ctx = _Context()
        self._block_stack: list[int] = []
        self._marked = -1  # the last key given to a marked block (Tags are keyed by id)
        self._link_starts: list[tuple[int, int] | None] = []  # per marked link open
        self._entered: list[tuple | None] = []  # per other marked element open: its undo

    def flush(self) -> None:
        self.breaks += 1
        line = self.current
        if not line.parts:
            return  # nothing was added since the last break: no line, nothing to reset
        text = "".join(line.parts)
        if "\n" in text:
            # A source line break between two Chinese characters is no space (CSS Text
            # 3's segment-break rule), nor between one and a digit (20日): hand-wrapped
            # HTML must not put spaces into Chinese text. Latin words keep theirs.
            text = _unwrap(text)
        if "\u200b" in text or "\u2060" in text or "\ufeff" in text:
            text = _ZERO_WIDTH.sub("", text)
        if _has_odd_spaces(text):
            text = _SPACES.sub(" ", text)
        text = text.strip(_EDGE)
        if text:
            line.text = text
            line.index = len(self.lines)
            self.lines.append(line)
            self.line_block.append(self._block_stack[-1] if self._block_stack else -1)
        self.current = _Line()

    def add_text(self, text: str) -> None:
        if self.ctx.pre and "\n" in text:
            pieces = text.split("\n")
            for piece in pieces[:-1]:
                self._append(piece)
                self.flush()
            text = pieces[-1]
        self._append(text)

    def _add_marked(self, text: str) -> None:
        """Text with the builder's marks: each piece between them is the string it would
        have been beside Tags (a blank one collapsed as BeautifulSoup does, so that even
        the parts of a line are the same), each mark does what entering or leaving the
        element would have done."""
        pieces = _MARKS.split(text)
        for number, piece in enumerate(pieces):
            if number % 2:
                if piece == _BREAK:
                    self.flush()
                elif piece == _OPEN:
                    self._open_block(self._marked - 1)
                    self._marked -= 1
                elif piece == _CLOSE:
                    self._close_block(self._block_stack[-1], False, False)
                elif piece == _UNLINK:
                    self._leave_link(self._link_starts.pop())
                elif piece == _EXIT:
                    undo = self._entered.pop()
                    if undo is not None:
                        self._leave(undo)
                elif piece[0] == _ENTER:
                    name = piece[1:-1].lower()
                    self._entered.append(self._enter(None, name, self._marked - 1))
                    self._marked -= 1
                else:
                    self._link_starts.append(self._enter_link(piece[1:-1]))
            elif piece:
                if not self.ctx.pre and not piece.strip(_ASCII_SPACES):
                    piece = "\n" if "\n" in piece else " "
                self.add_text(piece)

    def _enter_link(self, href: str) -> tuple[int, int] | None:
        """Entering a link to ``href``; where its text begins, to read it back on leaving."""
        href = href.strip()
        self.ctx.links.append(href)
        return (self.breaks, len(self.current.parts)) if _WEB_HREF.match(href) else None

    def _leave_link(self, link_start: tuple[int, int] | None) -> None:
        if link_start is not None and link_start[0] == self.breaks:
            self._complete_url(link_start[1])
        self.ctx.links.pop()

    def _open_block(self, key: int) -> None:
        self.flush()
        self.block_parent[key] = self._block_stack[-1] if self._block_stack else None
        self._block_stack.append(key)
        self.block_spans[key] = (len(self.lines), -1)

    def _close_block(self, key: int, is_chrome: bool, is_message: bool) -> None:
        self.flush()
        start, _ = self.block_spans[key]
        self.block_spans[key] = (start, len(self.lines))
        self._block_stack.pop()
        if is_chrome:
            self.chrome_spans.append((start, len(self.lines)))
        elif is_message:
            self.message_spans.append((start, len(self.lines)))

    def _append(self, text: str) -> None:
        if not text:
            return
        line = self.current
        line.parts.append(text)
        visible = len(text.strip(_EDGE))
        line.chars += visible
        ctx = self.ctx
        if ctx.links:
            line.link_chars += visible
            href = ctx.links[-1]
            if href not in line.href_set:
                line.href_set.add(href)
                line.hrefs.append(href)
        if ctx.heading:
            line.heading_chars += visible

    def walk(self, root: Tag) -> None:
        # A stack of (element, its undo record, the iterator over its parent's children).
        stack: list[tuple[Tag, tuple | None, Iterator[PageElement]]] = []
        children: Iterator[PageElement] = iter((root,))
        while True:
            for node in children:
                kind = type(node)
                if kind is NavigableString or (
                    kind is not Tag
                    and isinstance(node, NavigableString)
                    and not isinstance(node, _NOT_TEXT)
                ):
                    if _HAS_MARK(node):
                        self._add_marked(node)
                    else:
                        self.add_text(node)
                    continue
                if not isinstance(node, Tag):
                    continue
                name = (node.name or "").lower()
                if name in _SKIP_TAGS or (node.attrs and _is_hidden(node)):
                    if name in ("head", "title") and not self.page_title:
                        title = node if name == "title" else _first(node, "title")
                        if title is not None:
                            text = _NO_MARKS.sub("", title.get_text())
                            self.page_title = _SPACES.sub(" ", text).strip(_EDGE)
                    continue
                if name == "br":
                    self.flush()
                    continue
                if name == "img":
                    continue
                undo = self._enter(node, name, id(node))
                stack.append((node, undo, children))
                children = iter(node.contents)
                break
            else:
                if not stack:
                    return
                node, undo, children = stack.pop()
                if undo is not None:
                    self._leave(undo)

    def _enter(self, node: Tag | None, name: str, key: int) -> tuple | None:
        """What entering ``node`` (None: a marked element without attributes) changed,
        for ``_leave`` to undo; None for nothing. ``key`` names it as a block."""
        ctx = self.ctx
        if node is not None and node.attrs:
            tokens = _class_tokens(node)
            is_chrome = _is_chrome_candidate(name, tokens, ctx.content)
            is_block = name in _BLOCK_TAGS or is_chrome
            heading = (
                name in _HEADING_TAGS or name in _BOLD_TAGS or _is_title_like(node, name, tokens)
            )
            href = node.get("href") if name == "a" else None
            # A message box ("<div id='msg'>"): where a notice page says what happened.
            is_message = is_block and not is_chrome and bool(tokens) and _names_a_message(tokens)
        else:
            tokens = _NO_TOKENS
            is_block, is_chrome, page_level, heading = _PLAIN_ELEMENT.get(name, _INLINE)
            if page_level and not ctx.content:
                is_chrome = True
            href = None
            is_message = False
            if not (is_block or heading or name in _COUNTED_TAGS):
                return None  # an inline element without attributes: nothing to undo
        if is_block:
            self._open_block(key)
            if is_chrome and self.explain:
                self.chrome_labels.append(_element_label(node, name, tokens))
        if heading:
            ctx.heading += 1
        if name == "pre":
            ctx.pre += 1
        if name in _CONTENT_TAGS:
            ctx.content += 1
        link_start = self._enter_link(href) if isinstance(href, str) else None
        has_href = isinstance(href, str)
        return (name, key, is_block, is_chrome, is_message, heading, has_href, link_start)

    def _leave(self, undo: tuple) -> None:
        name, key, is_block, is_chrome, is_message, heading, has_href, link_start = undo
        ctx = self.ctx
        if has_href:
            self._leave_link(link_start)
        if name in _CONTENT_TAGS:
            ctx.content -= 1
        if name == "pre":
            ctx.pre -= 1
        if heading:
            ctx.heading -= 1
        if is_block:
            self._close_block(key, is_chrome, is_message)

    def _complete_url(self, start: int) -> None:
        """A link on one line whose text is its URL cut short (or without its scheme), as
        forum software shows long URLs: the text becomes the whole URL of the ``href``."""
        line = self.current
        parts = line.parts[start:]
        if not parts:
            return
        text = "".join(parts)
        shown = text.strip(_EDGE)
        href = self.ctx.links[-1]
        if shown == href or _url_match(shown, href) != _URL_CUT:
            return
        visible = sum(len(part.strip(_EDGE)) for part in parts)
        lead = " " if text[:1].isspace() else ""
        trail = " " if text[-1:].isspace() else ""
        line.parts[start:] = [lead + href + trail]
        delta = len(href) - visible
        line.chars += delta
        line.link_chars += delta
        if self.ctx.heading:
            line.heading_chars += delta
        line.shown = [*(line.shown or ()), (href, shown)]


_NO_TOKENS: frozenset[str] = frozenset()


def _class_tokens(node: Tag) -> frozenset[str]:
    """Words of the element's class and id (``post-title`` gives post and title)."""
    attrs = node.attrs
    values = attrs.get("class") or ()
    ident = attrs.get("id")
    if not values and not ident:
        return _NO_TOKENS
    words = [values] if isinstance(values, str) else list(values)
    if isinstance(ident, str):
        words.append(ident)
    return frozenset(_TOKEN_SPLIT.split(" ".join(words).lower())) - {""}


def _is_hidden(node: Tag) -> bool:
    if not node.attrs:
        return False
    if "hidden" in node.attrs:
        return True
    style = node.get("style")
    if isinstance(style, str):
        compact = style.replace(" ", "").lower()
        return "display:none" in compact or "visibility:hidden" in compact
    return False


def _is_chrome_candidate(name: str, tokens: frozenset[str], inside_content: int) -> bool:
    if name in ("html", "body", "article", "main"):
        return False
    if name in _CHROME_TAGS:
        return True
    if name in _PAGE_LEVEL_CHROME_TAGS and not inside_content:
        return True
    return bool(tokens & _CHROME_TOKENS)


def _is_title_like(node: Tag, name: str, tokens: frozenset[str]) -> bool:
    if name == "font":
        size = str(node.get("size") or "").strip()
        return size.startswith("+") or (size.isdigit() and int(size) >= 4)
    style = node.get("style")
    if isinstance(style, str) and _HEADING_STYLE.search(style):
        return True
    return _names_a_title(tokens)


# A page repeats a few class names many times: each set of words is judged once.
@lru_cache(maxsize=4096)
def _names_a_title(tokens: frozenset[str]) -> bool:
    return any(
        token.endswith(_TITLE_ENDINGS) and (token == "subject" or not token.startswith("sub"))
        for token in tokens
    )


@lru_cache(maxsize=4096)
def _names_a_message(tokens: frozenset[str]) -> bool:
    return any("msg" in token or "message" in token for token in tokens)


def _element_label(node: Tag, name: str, tokens: frozenset[str]) -> str:
    """``<nav>``, or ``<div class="sidebar">`` when the class or id made it chrome."""
    if name in _CHROME_TAGS or name in _PAGE_LEVEL_CHROME_TAGS or not tokens:
        return f"<{name}>"
    for attr in ("class", "id"):
        value = node.get(attr)
        if isinstance(value, str) and _CHROME_TOKENS.intersection(
            _TOKEN_SPLIT.split(value.lower())
        ):
            return f'<{name} {attr}="{_clip(value.strip(), 30)}">'
    return f"<{name}>"


# What a link's text says of its href: not the URL, the URL whole (perhaps decoded or
# encoded differently), or the URL cut short or without its scheme (the href completes it).
_URL_NOT, _URL_WHOLE, _URL_CUT = 0, 1, 2


def _url_match(text: str, href: str) -> int:
    """Whether ``text`` is the URL ``href`` as forum software shows it: whole, or its first
    and last characters around an ellipsis (32 + " ... " + 19 beyond 65 characters), with
    or without the scheme, percent-encoded or not. Words are never a URL."""
    if len(text) < 4 or len(text) > _MAX_URL_TEXT or not _WEB_HREF.match(href):
        return _URL_NOT
    if "." not in text and "/" not in text:
        return _URL_NOT
    found = _url_match_one(text, href)
    if found == _URL_NOT and "&" in href:
        # The forum writes a URL raw into both the href and the text, where "&param"
        # reads as "¶m" (an HTML entity without its semicolon); the attribute keeps it.
        found = _url_match_one(text, html.unescape(href))
    return found


# The forum cuts by bytes: a character cut in two shows as U+FFFD at the cut.
_BROKEN = "\ufffd"
_MAX_URL_TEXT = 4096  # a link text longer than this is no URL (and is not searched)


def _url_match_one(text: str, href: str) -> int:
    # As written, then percent-decoded on both sides (one may show what the other encodes).
    decodings = (False, True) if "%" in text or "%" in href else (False,)
    if not _SPACE.search(text):
        # Without its scheme, a URL still has a path or a www host; a name alone
        # ("yicai.com" in a sentence) is words.
        host, _, path = text.partition("/")
        bare = (
            not _SCHEME.match(text) and "." in host and (bool(path) or host[:4].lower() == "www.")
        )
        for decode in decodings:
            shown, url = (unquote(text), unquote(href)) if decode else (text, href)
            if shown.rstrip("/") == url.rstrip("/"):
                return _URL_WHOLE
            if bare and shown.rstrip("/") == _SCHEME.sub("", url, count=1).rstrip("/"):
                return _URL_CUT  # "www.example.com/a" for http://www.example.com/a
    for cut in _ELLIPSIS.finditer(text):
        head = text[: cut.start()].rstrip().rstrip(_BROKEN)
        tail = text[cut.start() + len(cut.group(1)) :].lstrip().lstrip(_BROKEN)
        if len(head) < 8 or _SPACE.search(head) or _SPACE.search(tail):
            continue
        with_scheme = bool(_SCHEME.match(head))
        if not with_scheme and "." not in head.split("/", 1)[0]:
            continue  # neither a scheme nor a host: words, not a URL
        for decode in decodings:
            start, end, url = (
                (unquote(head), unquote(tail), unquote(href)) if decode else (head, tail, href)
            )
            if not with_scheme:
                url = _SCHEME.sub("", url, count=1)
            if url.startswith(start) and url.endswith(end) and len(start) + len(end) < len(url):
                return _URL_CUT
    return _URL_NOT


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link_id(href: str) -> int | None:
    match = _ID_IN_URL.search(href)
    return int(match.group(1)) if match else None


def _is_internal(href: str, page_host: str | None) -> bool:
    if href.startswith(("#", "?", "/")) and not href.startswith("//"):
        return True
    try:
        parts = urlsplit(href)
    except ValueError:
        return False
    if parts.scheme == "javascript":
        return True
    if parts.scheme == "mailto":
        return False  # an address in the text (the forum links them) is content
    host = (parts.hostname or "").lower()
    if not parts.scheme and not host:
        return True
    host = host.rstrip(".")
    return (
        host in ARCHIVE_HOSTS
        or host.endswith(".zkiz.com")
        or (page_host is not None and host == page_host.rstrip("."))
    )


def _archive_id(url: str, page_host: str | None) -> int | None:
    """The ``?id=`` of a link into the archive (a quoted blog's ``show.php?id=`` is not),
    also inside a web archive's wrapper (``web.archive.org/web/.../articles.zkiz.com/?id=N``)."""
    found = _link_id(url)
    if found is not None and _is_internal(url, page_host):
        return found
    wrapped = _WRAPPED_PERMALINK.search(url)
    return int(wrapped.group(1)) if wrapped else None


# An archive permalink inside another URL, as a saved copy in a web archive links it.
_WRAPPED_PERMALINK = re.compile(
    r"zkiz\.com\.?(?::\d+)?/[^?#\s]*\?(?:[^#\s]*[&;])?id=(\d{1,12})\b", re.I
)


def _permalink_id(line: _Line, page_host: str | None) -> int | None:
    if not _PERMALINK.match(line.text):
        return None
    for href in line.hrefs:
        found = _archive_id(href, page_host)
        if found is not None:
            return found
    url = _BARE_URL.search(line.text)
    return _archive_id(url.group(1), page_host) if url else _link_id(line.text)


def _find_permalinks(
    lines: list[_Line], page_host: str | None
) -> tuple[list[tuple[int, int]], set[int]]:
    """(line, id) of each permalink, and the permalinks whose URL sits on the next line
    ("PermaLink:<br>https://...?id=N"), so that line is not taken for the next article."""
    found: list[tuple[int, int]] = []
    url_on_next_line: set[int] = set()
    for index, line in enumerate(lines):
        article_id = _permalink_id(line, page_host)
        if article_id is None and _PERMALINK_LABEL.fullmatch(line.text) and index + 1 < len(lines):
            following = lines[index + 1]
            if _BARE_URL.fullmatch(following.text) or (
                following.hrefs and following.link_chars >= 0.9 * following.chars
            ):
                ids = (_archive_id(href, page_host) for href in following.hrefs)
                article_id = next(filter(None, ids), None)
                shown = _BARE_URL.search(following.text)
                if article_id is None and shown is not None:
                    article_id = _archive_id(shown.group(1), page_host)
                if article_id is not None:
                    url_on_next_line.add(index)
        if article_id is not None:
            found.append((index, article_id))
    return found, url_on_next_line


def _bare_url(line: _Line, page_url: str | None) -> tuple[str, str] | None:
    """The URL a line that is only a URL stands for, and what follows it on the line.

    Its link's ``href`` when that is the same URL (whole, or completing a cut text); else
    the URL as shown, since the href may be a redirector; none for a cut URL that its link
    does not complete. The forum's auto-linker ends a URL where other text begins
    ("URL（第一財經）"): a short note after the link is kept apart, for the text.
    """
    href = line.hrefs[0] if len(line.hrefs) == 1 else None
    if href is not None and page_url and not _WEB_HREF.match(href) and not href.startswith("#"):
        href = urljoin(page_url, href)
    match = _BARE_URL.fullmatch(line.text) if len(line.text) <= _MAX_URL_TEXT else None
    if match:
        url = match.group(1)
        if href is not None and _url_match(url, href) != _URL_NOT:
            return href, ""
        if href is not None and _WEB_HREF.match(href) and url.startswith(href):
            note = url[len(href) :]
            if note and not note[0].isascii() and len(note) <= _MAX_NOTE:
                return href, note
        return None if _ELLIPSIS.search(url) else (url, "")
    if href is not None and _WEB_HREF.match(href) and line.text.startswith(href):
        note = line.text[len(href) :].strip(_EDGE)
        if note and len(note) <= _MAX_NOTE:
            return href, note
    return None


_MAX_NOTE = 40  # characters after a source link that are a note on it, not a paragraph


def _is_link_list(line: _Line, article_id: int, page_host: str | None) -> bool:
    """A line that is only links back into the archive, other than to this article."""
    if not line.hrefs or line.link_chars < 0.6 * line.chars:
        return False
    if not all(_is_internal(href, page_host) for href in line.hrefs):
        return False
    if _is_heading(line) and all(_link_id(href) is None for href in line.hrefs):
        return False  # a heading linked to its post elsewhere ("/abby/123", "#"): a title
    return _BARE_URL.fullmatch(line.text) is None and all(
        _link_id(href) != article_id for href in line.hrefs
    )


def _is_heading(line: _Line) -> bool:
    return bool(line.chars) and line.heading_chars >= 0.9 * line.chars


def _is_heading_like(line: _Line, article_id: int, page_title: str = "") -> bool:
    if line.text.endswith((":", "：")):
        return False  # a label ("編者按：") opens a paragraph; it titles nothing
    if _is_heading(line):
        return True
    if page_title and len(line.text) >= 4 and line.text in page_title:
        return True  # the page's <title> names it
    return (
        bool(line.hrefs)
        and line.link_chars >= 0.9 * line.chars
        and all(_link_id(href) == article_id for href in line.hrefs)
    )


# (line index, what happened) for the explanation; None when none is asked for, so that
# parsing without one builds no strings.
_Events = list[tuple[int, str]] | None


def _drop(events: _Events, line: _Line, reason: str) -> None:
    if events is not None:
        events.append((line.index, f"dropped ({reason}): {_clip(line.text)}"))


def _without_chrome(
    lines: list[_Line], article_id: int, page_host: str | None, events: _Events
) -> list[_Line]:
    """Drop the site's own lines, ad labels, lists of archive links and their captions."""
    kept: list[_Line] = []
    link_lines_after: list[int] = []
    for line in lines:
        if _SITE_CHROME.fullmatch(line.text):
            _drop(events, line, "site chrome")
        elif _AD_LABEL.match(line.text):
            _drop(events, line, "ad label")
        elif _is_link_list(line, article_id, page_host):
            if kept:
                link_lines_after[-1] += 1
            _drop(events, line, "link list into the archive")
        else:
            kept.append(line)
            link_lines_after.append(0)
    # A short line followed by a run of archive links is that list's caption ("熱門文章").
    result = []
    for line, links in zip(kept, link_lines_after):
        if links >= 2 and len(line.text) <= 30:
            _drop(events, line, "list caption")
        else:
            result.append(line)
    return result


def _article_lines(
    lines: list[_Line],
    article_id: int,
    page_host: str | None,
    page_title: str = "",
    events: _Events = None,
) -> list[_Line]:
    """Drop chrome from one article's segment, then cut what precedes its title."""
    kept = _without_chrome(lines, article_id, page_host, events)
    while kept and _is_dateline_or_trail(kept[0]):
        if _is_heading_like(kept[0], article_id, page_title) and not any(
            _is_heading_like(line, article_id, page_title) for line in kept[1:6]
        ):
            break  # a date or a stock code in the heading is the title ("00700")
        _drop(events, kept[0], "date or breadcrumb before the title")
        kept = kept[1:]
    # The title is the heading-like first line; plain short lines before a heading are
    # leftover chrome (a banner in plain text, the previous article's comments). A source
    # URL (off the archive) comes after the title: a heading after one is in the body.
    opening: list[_Line] = []
    for line in kept:
        if len(line.text) >= 60 or len(opening) == 6:
            break
        opening.append(line)
        shown = _BARE_URL.fullmatch(line.text) if opening[1:] else None
        if shown is not None and not _is_internal(shown.group(1), page_host):
            opening.pop()
            break
    for position, line in enumerate(opening):
        if _is_heading_like(line, article_id, page_title):
            for dropped in kept[:position]:
                _drop(events, dropped, "before the title")
            return kept[position:]
    return kept


def _is_dateline_or_trail(line: _Line) -> bool:
    """A date or time alone, or a breadcrumb trail of links; never a URL."""
    text = line.text
    if len(text) > 60 or _BARE_URL.fullmatch(text):
        return False
    if len(text) <= 40 and _DATELINE.fullmatch(text):
        return True
    return bool(line.hrefs) and _BREADCRUMB.fullmatch(text) is not None


# A small page whose text says the post is not there: not found, deleted, under upkeep.
_GONE = re.compile(
    r"not\s+found|找不到|搵唔到|不存在|已被?(?:作者)?(?:刪除|删除|移除|隱藏|隐藏)|沒有此|没有此|無此|无此"
    r"|沒有這|没有这|no\s+such|does\s*n[o']t\s+exist|deleted|removed|no\s+longer\s+available"
    r"|unavailable|維護|维护|maintenance|暫停服務|暂停服务",
    re.I,
)
_MESSAGE_TITLE = re.compile(r"\bmessage\b|訊息|讯息|提示信息", re.I)
_BUTTON = re.compile(
    r"\W*(?:返回|回上一?[頁页]|確定|确定|back|go\s*back|ok|close|關閉|关闭)\W*", re.I
)
_NOTICE_MAX_TEXT = 600  # visible characters; a real article page holds more


def _notice(flattener: _Flattener, chrome: list[int]) -> str | None:
    """The message of a page without a permalink that says the post is not there (the
    site's "Message" page, a "not found" or maintenance page), or None."""
    lines = flattener.lines
    prose = [
        line
        for line in lines
        if not chrome[line.index]
        and not _SITE_CHROME.fullmatch(line.text)
        and not (line.hrefs and line.link_chars >= 0.6 * line.chars)
    ]
    if not prose or sum(len(line.text) for line in prose) > _NOTICE_MAX_TEXT:
        return None
    gone = next((n for n, line in enumerate(prose) if _GONE.search(line.text)), None)
    boxes = [(start, end) for start, end in flattener.message_spans if end > start]
    if boxes:  # the site's message box says it, whatever the words; the outermost box
        start, end = min(boxes, key=lambda span: (span[0], -span[1]))
        message = [line for line in lines[start:end] if not _BUTTON.fullmatch(line.text)]
        before = [line for line in prose if line.index < start]
    elif gone is not None:
        found = prose[gone]
        following = prose[gone + 1] if gone + 1 < len(prose) else None
        if _is_heading_like(found, -1) and following and not _is_heading_like(following, -1):
            message, before = [found, following], []  # "<h2>維護中</h2><p>稍後再來</p>"
        else:
            message, before = [found], prose[gone - 1 : gone] if gone else []
    elif _MESSAGE_TITLE.search(flattener.page_title):  # a "Message" page: all it says
        message = [line for line in prose if not _BUTTON.fullmatch(line.text)]
        before = []
    else:
        return None
    heading: _Line | None = None
    if before and _is_heading_like(before[-1], -1):
        heading = before[-1]
    elif len(message) > 1 and _is_heading_like(message[0], -1):
        heading, message = message[0], message[1:]
    said = " ".join(line.text for line in message)
    if heading is not None:
        said = f"{heading.text.rstrip(':：')}: {said}" if said else heading.text
    return _clip(said, 300) if said else None


@dataclass(frozen=True)
class ParsedPage:
    """What one page holds: its articles, or the site's notice that the post is gone."""

    articles: list[Article]
    notice: str | None = None  # the message of a "gone" page (no articles then)
    trace: list[str] = field(default_factory=list)  # with ``explain``: what was read how


# What the builder leaves in the text where a plain ``<br>`` was, and where a plain block
# (one of _MARKED_BLOCKS without attributes) or a link opens and closes: lone surrogates,
# which no parsed text can hold (lxml hands over valid UTF-8 only).
_BREAK, _OPEN, _CLOSE = "\udfff", "\udffe", "\udffd"
# A link whose only attribute is its href: _LINK, the href, _HREF_END; then _UNLINK.
_LINK, _HREF_END, _UNLINK = "\udffc", "\udffb", "\udffa"
# Any other element without attributes (but those of _TAGS_KEPT): _ENTER, its name,
# _NAME_END; then _EXIT.
_ENTER, _NAME_END, _EXIT = "\udff9", "\udff8", "\udff7"
_MARKS = re.compile("([\udff7\udffa\udffd-\udfff]|\udffc[^\udffb]*\udffb|\udff9[^\udff8]*\udff8)")
_NO_MARKS = re.compile("[\udff7\udffa\udffd-\udfff]|\udffc[^\udffb]*\udffb|\udff9[^\udff8]*\udff8")
_HAS_MARK = re.compile("[\udff7-\udfff]").search
_ASCII_SPACES = " \n\t\x0c\r"  # what BeautifulSoup collapses a blank string of


class _Rebuild(Exception):
    """The parser's events did not nest as the marks assume: the page is built again,
    every element a Tag."""


class _HtmlBuilder(LXMLTreeBuilder):
    """BeautifulSoup's ``lxml`` builder, doing less per element.

    No namespace bookkeeping: lxml's HTML parser reports none, a name comes as written,
    so only one written ``{uri}name`` would be split, and it still goes the builder's
    own way. With ``marks``, a ``<br>`` and the blocks of ``_MARKED_BLOCKS`` without
    attributes (most elements of an article) become marks in the text rather than Tags;
    the walk does at a mark what it does at such a Tag. lxml ends a ``<br>`` at once;
    should anything come inside one, ``_Rebuild`` is raised.
    """

    def __init__(self, *, marks: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.marks = marks
        self._in_break = False
        self._open: list[str] = []  # per open element: the mark that closes it, or ""
        self._parser = None

    def initialize_soup(self, soup: BeautifulSoup) -> None:
        super().initialize_soup(soup)
        self._in_break = False
        self._open = []

    def feed(self, markup: str | bytes) -> None:
        try:
            super().feed(markup)
        except BaseException:
            self._parser = None  # it may hold half a page (the soup may try bytes next)
            raise

    def parser_for(self, encoding: str | None) -> object:
        # lxml inspects the target's methods for every new parser, a tenth of a small
        # page's cost: one parser serves every page (a closed lxml parser takes a new
        # document); one that failed is dropped.
        if encoding is not None:
            return super().parser_for(encoding)
        if self._parser is None:
            self._parser = super().parser_for(None)
        return self._parser

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict | None = None) -> None:
        if self._in_break:
            raise _Rebuild
        if self.marks and not attrib:
            if tag == "br":
                self._in_break = True
                self.soup.handle_data(_BREAK)
                return
            if tag in _MARKED_BLOCKS:
                self._open.append(_CLOSE)
                self.soup.handle_data(_OPEN)
                return
            if tag.lower() not in _TAGS_KEPT:
                self._open.append(_EXIT)
                self.soup.handle_data(_ENTER + tag + _NAME_END)
                return
        elif self.marks and tag == "a" and len(attrib) == 1 and "href" in attrib:
            self._open.append(_UNLINK)
            self.soup.handle_data(_LINK + attrib["href"] + _HREF_END)
            return
        self._open.append("")
        if tag[:1] == "{" or any(key[:1] == "{" for key in attrib):
            super().start(tag, attrib, nsmap or {})
            return
        # The same call as the builder's: its attribute dict is copied by the Tag anyway.
        self.soup.handle_starttag(
            tag, None, None, attrib, namespaces=self.active_namespace_prefixes[-1]
        )

    def end(self, tag: str) -> None:
        if self._in_break:
            if tag != "br":
                raise _Rebuild
            self._in_break = False
            return
        mark = self._open.pop() if self._open else ""
        if mark:
            self.soup.handle_data(mark)
            return
        if tag[:1] == "{":
            super().end(tag)
            return
        self.soup.handle_endtag(tag)  # it ends the text before it, as the builder's does

    def data(self, data: str) -> None:
        if self._in_break:
            raise _Rebuild
        self.soup.handle_data(data)


_BUILDER_OPTIONS = {"multi_valued_attributes": None}  # class attributes left unsplit
# One builder per thread, built once: a builder (and its lxml parser) fills one soup at
# a time.
_BUILDERS = threading.local()


def _soup(html: str, marks: bool = True) -> BeautifulSoup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # XHTML pages are HTML here
        # A page whose whole text looks like a URL or a file name is still a page.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        if not marks:
            return BeautifulSoup(html, builder=_HtmlBuilder(marks=False, **_BUILDER_OPTIONS))
        builder = getattr(_BUILDERS, "builder", None)
        if builder is None:
            builder = _BUILDERS.builder = _HtmlBuilder(**_BUILDER_OPTIONS)
        try:
            return BeautifulSoup(html, builder=builder)
        except BaseException:
            _BUILDERS.builder = None  # its parser may hold half a page
            raise


def _first(node: Tag, name: str) -> Tag | None:
    """``node.find(name)`` without building a strainer: the element is nearly always a
    child of ``node`` after leaves (``<title>`` after ``<meta>``s in ``<head>``)."""
    for child in node.contents:
        if isinstance(child, Tag):
            if child.name == name:
                return child
            if any(isinstance(grandchild, Tag) for grandchild in child.contents):
                return node.find(name)  # it may be in there, before this child's siblings
    return None


def parse_articles(html: str, page_url: str | None = None) -> list[Article]:
    """Every article on an archive page, in page order, each id once.

    ``page_url`` is where the page was fetched from; it resolves relative links and tells
    links back into the archive (a mirror's host counts as the archive's own).
    """
    return read_articles(html, page_url).articles


def read_articles(html: str, page_url: str | None = None, *, explain: bool = False) -> ParsedPage:
    """``parse_articles``, and whether the page is a notice that the post is gone; with
    ``explain``, lines for people saying what was dropped as chrome and why, and which
    lines were taken as each article's title and source URL."""
    return _read(_flattened(html, explain, _marks_work()), page_url)


def _flattened(html: str, explain: bool, marks: bool) -> _Flattener:
    try:
        soup = _soup(html, marks)
    except _Rebuild:
        soup = _soup(html, marks=False)
    flattener = _Flattener(explain)
    try:
        flattener.walk(_first(soup, "html") or soup)
        flattener.flush()
    finally:
        # The tree is all reference cycles (the soup among them): left to the garbage
        # collector, the text of a big page stays resident for several pages more.
        # BeautifulSoup.decompose() leaves the tree: its children go one by one.
        for node in list(soup.contents):
            node.decompose()
        soup.reset()
    return flattener


# A page with every kind of mark: the builder's marks must read as its Tags do.
_CANARY = (
    "<html><head><title>題</title></head><body><div class='nav'><a href='/'>首頁</a></div>"
    "<div><h2>標題 <b>粗</b></h2><p>第一段<br>第二行<br/><span>內文</span></p>"
    "<div><a href='http://www.yicai.com/news/1.html'>http://www.yicai.com/news/1.html</a>"
    "</div><ul><li>一</li><li>二<i>斜</i></li></ul><pre>  保留  </pre>"
    "<div>PermaLink: <a href='https://articles.zkiz.com/?id=7'>"
    "https://articles.zkiz.com/?id=7</a></div></div></body></html>"
)


@lru_cache(maxsize=1)
def _marks_work() -> bool:
    """Whether the installed BeautifulSoup and lxml read the canary alike with marks and
    with Tags (the marks lean on how the builder is driven): else every page is built
    with Tags, as it was, slower but right."""

    def read(marks: bool) -> tuple:
        found = _read(_flattened(_CANARY, True, marks), "https://articles.zkiz.com/?id=7")
        return found.articles, found.notice, found.trace

    try:
        return read(True) == read(False)
    except Exception:
        return False


def _read(flattener: _Flattener, page_url: str | None) -> ParsedPage:
    lines = flattener.lines
    page_host = (urlsplit(page_url).hostname or "").lower() if page_url else None
    events: _Events = [] if flattener.explain else None

    permalinks, url_lines = _find_permalinks(lines, page_host)
    permalink_lines = [index for index, _ in permalinks]  # ascending

    def permalinks_within(start: int, end: int) -> int:
        return bisect_left(permalink_lines, end) - bisect_left(permalink_lines, start)

    # Chrome spans (nested ones too) marked with a difference array: linear, however deep.
    depth = [0] * (len(lines) + 1)
    chrome_label: list[str | None] = [None] * len(lines) if events is not None else []
    for number, (start, end) in enumerate(flattener.chrome_spans):
        if not permalinks_within(start, end):
            depth[start] += 1
            depth[end] -= 1
            if events is not None:  # innermost first: spans are listed as they close
                label = flattener.chrome_labels[number]
                for i in range(start, end):
                    chrome_label[i] = chrome_label[i] or label
    chrome = list(accumulate(depth))[: len(lines)]

    if not permalinks:
        notice = _notice(flattener, chrome)
        trace = []
        if events is not None:
            trace.append("no permalink found")
            if notice:
                trace.append(f"notice: {_clip(notice)}")
        return ParsedPage([], notice, trace)

    # kept_before[i]: lines before i that are not chrome, to ask "any content in a span?"
    kept_before = [0, *accumulate(not flag for flag in chrome)]
    covered = bytearray(len(lines) if events is not None else 0)  # lines accounted for

    articles: list[Article] = []
    seen: set[int] = set()
    boundary = 0
    for index, article_id in permalinks:
        start, end = _own_container(flattener, index, permalinks_within)
        content_from = max(start, boundary)
        has_content = kept_before[index] - kept_before[min(content_from, index)] > 0
        segment_start = content_from if has_content else boundary
        if has_content and content_from > boundary:
            segment_start = _title_before(
                lines, chrome, segment_start, boundary, article_id, flattener.page_title
            )
        boundary = max(index + 1 + (index in url_lines), end)
        if events is not None:
            permalink_end = index + 1 + (index in url_lines)
            covered[index:permalink_end] = b"\1" * (permalink_end - index)
            events.append((index, f"permalink of id {article_id}: {_clip(lines[index].text)}"))
        if article_id in seen:
            if events is not None:
                events.append((index, f"skipped: id {article_id} is on the page already"))
            continue
        segment = [lines[i] for i in range(segment_start, index) if not chrome[i]]
        if events is not None:
            covered[segment_start:index] = b"\1" * (index - segment_start)
            for i in range(segment_start, index):
                if chrome[i]:
                    _drop_chrome_line(events, lines[i], chrome_label[i])
        body = _article_lines(segment, article_id, page_host, flattener.page_title, events)
        if not body:
            if events is not None:
                events.append((index, f"no title or text before the permalink of id {article_id}"))
            continue
        title, rest = body[0].text, body[1:]
        found = _bare_url(rest[0], page_url) if rest else None
        source_url = found[0] if found is not None else None
        if events is not None:
            events.append((body[0].index, f"title of id {article_id}: {_clip(title)}"))
            if source_url is not None:
                events.append((rest[0].index, _source_event(article_id, source_url, rest[0])))
        texts = [line.text for line in rest]
        if found is not None:
            texts[0:1] = [found[1]] if found[1] else []
        seen.add(article_id)
        articles.append(
            Article(id=article_id, title=title, text="\n".join(texts), source_url=source_url)
        )
    if events is None:
        return ParsedPage(articles)
    _explain_the_rest(lines, covered, chrome, chrome_label, page_host, events)
    events.sort(key=lambda event: event[0])  # stable: a line's events keep their order
    return ParsedPage(articles, None, [text for _, text in events])


def _drop_chrome_line(events: _Events, line: _Line, label: str | None) -> None:
    if _SITE_CHROME.fullmatch(line.text):
        _drop(events, line, "site chrome")
    else:
        _drop(events, line, f"chrome element {label or ''}".rstrip())


def _source_event(article_id: int, url: str, line: _Line) -> str:
    shown = next((text for href, text in line.shown or () if href == url), None)
    if shown is None and line.text != url:
        shown = line.text
    said = f"source URL of id {article_id}: {url}"
    return f'{said} (link text "{_clip(shown)}")' if shown is not None else said


def _explain_the_rest(
    lines: list[_Line],
    covered: bytearray,
    chrome: list[int],
    chrome_label: list[str | None],
    page_host: str | None,
    events: list[tuple[int, str]],
) -> None:
    """Why each line outside every article was left out (runs of them, for list captions)."""
    run: list[_Line] = []
    for line in [*lines, None]:
        if line is not None and not covered[line.index]:
            if chrome[line.index]:
                _drop_chrome_line(events, line, chrome_label[line.index])
            else:
                run.append(line)
            continue
        for left in _without_chrome(run, -1, page_host, events):
            _drop(events, left, "outside any article")
        run = []


def _title_before(
    lines: list[_Line],
    chrome: list[int],
    start: int,
    boundary: int,
    article_id: int,
    page_title: str,
) -> int:
    """Where an article's segment starts when its permalink's block begins after its
    title: a template's ``<h1>`` beside the body that holds the permalink, or a stray
    ``<div>`` in stored HTML that pulled the permalink into the body. If the block does
    not open with a heading but one stands just before it (since the previous article),
    the segment starts there."""
    opening = [i for i in range(start, min(len(lines), start + 12)) if not chrome[i]][:3]
    if not opening or any(_is_heading_like(lines[i], article_id, page_title) for i in opening):
        return start  # the block opens with its title (a date line may come first)
    looked = 0
    for i in range(start - 1, boundary - 1, -1):
        if chrome[i]:
            continue
        if _is_heading_like(lines[i], article_id, page_title):
            return i
        looked += 1
        if looked == 3:
            break
    return start


def _own_container(
    flattener: _Flattener, index: int, permalinks_within: Callable[[int, int], int]
) -> tuple[int, int]:
    """Line span of the largest block around line ``index`` that holds no other permalink."""
    best = (index, index + 1)
    block = flattener.line_block[index]
    while block is not None and block != -1:
        start, end = flattener.block_spans[block]
        if permalinks_within(start, end) > 1:
            break
        best = (start, end)
        block = flattener.block_parent.get(block)
    return best
