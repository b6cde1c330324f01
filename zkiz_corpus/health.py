"""Extraction health: is the crawl still reading the site right?

The archive's markup can change under a long crawl. A template the parser cannot read
shows as 200 pages without an article, or articles without a body; a maintenance hour
shows as a run of redirects and notices. Both are judged over a sliding window of pages
against the corpus's own history, so a corpus whose ids are sparse is not alarmed by
its gaps. Counting is pure: the crawler feeds pages and articles in, and gets told.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import TYPE_CHECKING, Any

from zkiz_corpus.outcomes import Cause

if TYPE_CHECKING:
    from zkiz_corpus.parsing import Article
    from zkiz_corpus.records import Extracted

__all__ = [
    "SOFT_MISSES",
    "Health",
    "HealthMonitor",
    "PageKind",
    "baseline",
    "is_poor",
]

WINDOW = 50  # pages in the sliding window
MIN_PAGES = 20  # a window judged on fewer pages than this would judge noise
DROP_SHARE = 0.5  # a window this bad, and...
DROP_MARGIN = 0.25  # ...this much worse than the corpus has been, is a drop
SURGE_SHARE = 0.8  # redirects and notices: gaps are normal, a wall of them is not
HISTORY_PAGES = 200  # a corpus's share counts as its norm from this many pages on
SHORT_TEXT = 50  # characters: a body under this is "very short"
LONG_TITLE = 120  # characters: a title over this is likely a paragraph taken for one
SOFT_MISSES = frozenset({Cause.REDIRECT, Cause.NOTICE, Cause.NO_ARTICLE})

_CHROME_TITLE = re.compile(
    r"\W*(?:zkiz(?:\.com)?\s*(?:archives?|-\s*message)?|next\s*page|prev(?:ious)?\s*page|"
    r"perma\s*-?\s*link.*|home|首[頁页]|主[頁页]|上一[頁页篇]|下一[頁页篇]|"
    r"(?:熱門|热门|相關|相关|最新|推薦|推荐)(?:文章|閱讀|阅读)|留言|評論|评论)\W*",
    re.I,
)


class PageKind(Enum):
    """What one fetched id's page was, for health."""

    ARTICLE = "article"  # its article, with a body
    LISTING = "listing"  # later ids' articles only: the site showing the next posts
    EMPTY = "empty"  # its article, with no body, or titled with the site's chrome
    OTHER_IDS = "other-ids"  # a page of other ids' articles only
    NO_ARTICLE = "no-article"  # a 200 page with no article at all, and no notice
    NOTICE = "notice"  # the site's own page saying the post is gone
    REDIRECT = "redirect"  # to the home page or off the origin
    NOT_FOUND = "not-found"  # 404 / 410


_ANSWERED_200 = {
    PageKind.ARTICLE,
    PageKind.LISTING,
    PageKind.EMPTY,
    PageKind.OTHER_IDS,
    PageKind.NO_ARTICLE,
    PageKind.NOTICE,
}
# A page of other ids only is a page without its own article: a template whose articles
# cannot be read can still show a readable one in a side box.
_BAD_200 = {PageKind.EMPTY, PageKind.NO_ARTICLE, PageKind.OTHER_IDS}
_SOFT = {PageKind.REDIRECT, PageKind.NOTICE, PageKind.NO_ARTICLE, PageKind.OTHER_IDS}


@dataclass
class Health:
    """Counts over a run (or, summed, a corpus). Pages are fetched ids; the article
    counts are over the records written."""

    pages: int = 0
    pages_200: int = 0  # answered 200: articles, pages without one, notices
    no_article: int = 0  # 200 pages with no article and no notice
    notices: int = 0
    redirects: int = 0
    not_found: int = 0
    articles: int = 0
    empty_text: int = 0
    short_text: int = 0  # under SHORT_TEXT characters, empty ones included
    chrome_titles: int = 0  # a title that is the site's chrome
    long_titles: int = 0  # over LONG_TITLE characters
    with_source_url: int = 0
    text_chars: int = 0
    reprobed: int = 0  # soft misses of a run whose health dropped, asked again
    reprobed_soft: int = 0  # of those, soft misses again
    # What the windows judged (the corpus's norm is made of these alone): not the misses
    # that ended an open walk, not ids picked to be asked again.
    judged_200: int = 0
    judged_bad: int = 0
    judged: int = 0
    judged_soft: int = 0
    dropped: bool = False  # extraction dropped: 200 pages without their article, or poor ones
    surged: bool = False  # redirects, notices and pages without an article crowded a window
    still_down: bool = False  # the soft misses asked again are mostly misses again
    dropped_at: int | None = None  # the id at which the first drop was seen
    poor_from: int | None = None  # the first poor page of that stretch this run saw
    edge_from: int | None = None  # the misses the walk ended on, past every article
    # The windows' last flags ("0"/"1"), carried into the next live run.
    window_200: str = ""
    window_all: str = ""

    def as_dict(self, *, windows: bool = False) -> dict[str, Any]:
        """The counts, and the shares people read (and, to store, the windows' ends)."""
        found = asdict(self)
        if not windows:
            del found["window_200"], found["window_all"]
        found["source_url_share"] = _share(self.with_source_url, self.articles)
        found["mean_text_chars"] = round(self.text_chars / self.articles) if self.articles else None
        found["no_article_share"] = _share(self.no_article, self.pages_200)
        found["empty_share"] = _share(self.empty_text, self.articles)
        return found

    @classmethod
    def from_dict(cls, data: Any) -> Health:
        """From stored counts; anything that is not a count (damage, hand edits) is 0."""
        health = cls()
        if not isinstance(data, dict):
            return health
        for item in fields(cls):
            value = data.get(item.name)
            if item.name in _OPTIONAL_IDS:
                setattr(health, item.name, value if _is_count(value) else None)
            elif item.name in ("window_200", "window_all"):
                setattr(health, item.name, _flags(value))
            elif isinstance(getattr(health, item.name), bool):
                setattr(health, item.name, value is True)
            elif _is_count(value):
                setattr(health, item.name, value)
        return health

    def add(self, other: Health) -> None:
        """Sum the counts (the corpus's health); flags, ids and windows are a run's."""
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            counted = isinstance(mine, int) and not isinstance(mine, bool)
            if counted and item.name not in _OPTIONAL_IDS:
                setattr(self, item.name, mine + theirs)


_OPTIONAL_IDS = ("dropped_at", "poor_from", "edge_from")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def baseline(history: Iterable[Health]) -> tuple[float, float]:
    """A corpus's usual share of bad 200 pages, and of soft misses among pages: zero
    until it has HISTORY_PAGES of history to speak from."""
    total = Health()
    for health in history:
        if not (health.dropped or health.surged):  # a bad run is no norm to learn
            total.add(health)
    bad = total.judged_bad / total.judged_200 if total.judged_200 >= HISTORY_PAGES else 0.0
    soft = total.judged_soft / total.judged if total.judged >= HISTORY_PAGES else 0.0
    return bad, soft


def is_poor(article: Article) -> bool:
    """An article no reader would want: no text, or a title that is the site's chrome."""
    return not article.text or is_poor_title(article.title)


def is_poor_title(title: str) -> bool:
    return bool(_CHROME_TITLE.fullmatch(title))


class HealthMonitor:
    """Counts a run's pages and articles, and calls ``on_warning`` with one line for
    people when a window of pages turns bad (once per bad stretch).

    ``carried`` is the end of the windows of the runs before (``Health.window_200``,
    ``window_all``): a night of a dozen new posts is judged with the nights before it.
    ``owes_asks`` says whether misses of a bad run are asked again (a corpus, live).
    """

    def __init__(
        self,
        *,
        usual: tuple[float, float] = (0.0, 0.0),
        on_warning: Callable[[str], None] | None = None,
        carried: tuple[str, str] = ("", ""),
        owes_asks: bool = True,
    ) -> None:
        self.health = Health()
        self.drop_threshold = max(DROP_SHARE, usual[0] + DROP_MARGIN)
        self.surge_threshold = max(SURGE_SHARE, usual[1] + DROP_MARGIN)
        self._usual = usual
        self._on_warning = on_warning
        self._owes_asks = owes_asks
        # (id, poor) of the last pages answered 200; carried pages have no id here (0).
        self._window_200 = _Window(carried[0])
        self._window_all = _Window(carried[1])
        # Misses not yet known to lie before an article, in order: [soft, count] runs.
        self._pending: list[list[Any]] = []
        self._pending_from: int | None = None  # the first of them
        self._in_drop = False
        self._in_surge = False

    def article(self, article: Extracted) -> None:
        """One record written."""
        health = self.health
        health.articles += 1
        length = article.text_chars
        health.text_chars += length
        health.empty_text += not length
        health.short_text += length < SHORT_TEXT
        health.chrome_titles += bool(_CHROME_TITLE.fullmatch(article.title))
        health.long_titles += len(article.title) > LONG_TITLE
        health.with_source_url += article.source_url is not None

    def page(
        self,
        article_id: int,
        kind: PageKind,
        *,
        asked_again: bool = False,
        reprobe: bool = False,
        retried: bool = False,
    ) -> None:
        """One fetched id, in walk order. Misses ``asked_again`` on purpose were picked
        for what they were: counted, never judged in the windows. Soft misses of a bad run
        asked again (``reprobe``) are judged as a group: still misses, the site may still
        be down. Failed ids ``retried`` are judged at once: they are no edge of the
        archive, whatever follows them."""
        health = self.health
        health.pages += 1
        if kind is PageKind.NO_ARTICLE:
            health.no_article += 1
        elif kind is PageKind.NOTICE:
            health.notices += 1
        elif kind is PageKind.REDIRECT:
            health.redirects += 1
        elif kind is PageKind.NOT_FOUND:
            health.not_found += 1
        if kind in _ANSWERED_200:
            health.pages_200 += 1
        if asked_again or reprobe:
            health.reprobed += reprobe
            health.reprobed_soft += reprobe and kind in _SOFT
            return
        if kind in _ANSWERED_200:
            self._judge_extraction(article_id, kind in _BAD_200)
        if kind in (PageKind.ARTICLE, PageKind.EMPTY):
            self.known_article(article_id)
            self._judge_misses(article_id, False)
        elif retried:
            self._judge_misses(article_id, kind in _SOFT)
        else:
            soft = kind in _SOFT
            if self._pending and self._pending[-1][0] == soft:
                self._pending[-1][1] += 1
            else:
                self._pending.append([soft, 1])
            if self._pending_from is None:
                self._pending_from = article_id

    def known_article(self, article_id: int) -> None:
        """An article at ``article_id`` (fetched, or held already): the misses before it
        lie inside the archive, not at its edge."""
        pending, self._pending, self._pending_from = self._pending, [], None
        for soft, count in pending:
            for _ in range(min(count, WINDOW)):
                self._judge_misses(article_id, soft)
            # Past a window's worth of one kind, the window no longer changes: count.
            self.health.judged += max(0, count - WINDOW)
            self.health.judged_soft += soft * max(0, count - WINDOW)

    def end(self, *, open_walk: bool, last_id: int | None, edge: int | None) -> Health:
        """The run's health. The misses an open walk ended on, past every article the
        corpus holds (``edge``: its newest), are the archive's edge: posts not yet
        published, probed again by the next open walk anyway, not a surge; the first of
        them is ``edge_from``. A bounded walk trusts its misses, so it judges them."""
        pending = self._pending_from
        if open_walk and pending is not None and (edge is None or pending > edge):
            self.health.edge_from = self._pending_from
            self._pending, self._pending_from = [], None
        elif last_id is not None:
            self.known_article(last_id)
        health = self.health
        if health.reprobed and health.reprobed_soft >= SURGE_SHARE * health.reprobed:
            health.still_down = True  # what was asked again is still not there
        health.window_200 = self._window_200.flags()
        health.window_all = self._window_all.flags()
        return health

    def _judge_extraction(self, article_id: int, bad: bool) -> None:
        window = self._window_200
        window.add(article_id, bad)
        self.health.judged_200 += 1
        self.health.judged_bad += bad
        share = window.share()
        if share is None:
            return
        if share >= self.drop_threshold and window.own_share() >= self.drop_threshold:
            if self._in_drop:
                return
            self._in_drop = True
            health = self.health
            health.dropped = True
            if health.dropped_at is None:
                health.dropped_at = article_id
                health.poor_from = window.first_marked() or article_id
            self._warn(
                f"extraction health dropped at id {article_id}: {window.marked} of the "
                f"last {len(window)} pages answered 200 held no article of their own, or one "
                "without text or titled with site chrome "
                f"(this corpus: {self._usual[0]:.0%}); the site's markup may have changed: "
                f"see zkiz parse {article_id} -v"
            )
        elif share < self.drop_threshold / 2:
            self._in_drop = False

    def _judge_misses(self, article_id: int, soft: bool) -> None:
        window = self._window_all
        window.add(article_id, soft)
        self.health.judged += 1
        self.health.judged_soft += soft
        share = window.share()
        if share is None:
            return
        if share >= self.surge_threshold and window.own_share() >= self.surge_threshold:
            if self._in_surge:
                return
            self._in_surge = True
            self.health.surged = True
            if self.health.dropped:
                return  # said already: those pages are the drop's
            then = "the next run asks for them again" if self._owes_asks else "ask again later"
            self._warn(
                f"{window.marked} of the last {len(window)} pages up to id "
                f"{article_id} were redirects, notices or pages without an article: the "
                f"site may be down for maintenance; {then}"
            )
        elif share < self.surge_threshold / 2:
            self._in_surge = False

    def _warn(self, line: str) -> None:
        if self._on_warning is not None:
            self._on_warning(line)


class _Window:
    """The last WINDOW pages' flags (poor, or soft), some carried from the run before
    (id 0). A window is judged from MIN_PAGES on; a run's own pages must be as bad as the
    whole for it to count, so a bad night carried over never condemns a good one."""

    def __init__(self, carried: Any) -> None:
        self._items: deque[tuple[int, bool]] = deque(
            ((0, flag == "1") for flag in _flags(carried)), maxlen=WINDOW
        )
        self.marked = sum(flag for _, flag in self._items)
        self._own = self._own_marked = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, article_id: int, flag: bool) -> None:
        if len(self._items) == WINDOW:
            old_id, old_flag = self._items[0]
            self.marked -= old_flag
            if old_id:
                self._own -= 1
                self._own_marked -= old_flag
        self._items.append((article_id, flag))
        self.marked += flag
        self._own += 1
        self._own_marked += flag

    def share(self) -> float | None:
        return self.marked / len(self._items) if len(self._items) >= MIN_PAGES else None

    def own_share(self) -> float:
        return self._own_marked / self._own if self._own else 0.0

    def first_marked(self) -> int | None:
        """The first of this run's flagged pages still in the window."""
        return next((n for n, flag in self._items if flag and n), None)

    def flags(self) -> str:
        return "".join("1" if flag else "0" for _, flag in self._items)


def _flags(text: Any) -> str:
    """Stored window flags, checked: only 0s and 1s, at most a window's worth."""
    if not isinstance(text, str) or text.strip("01"):
        return ""
    return text[-WINDOW:]
