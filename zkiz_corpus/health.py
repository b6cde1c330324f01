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
    EMPTY = "empty"  # its article, with no body, or titled with the site's chrome
    OTHER_IDS = "other-ids"  # a page of other ids' articles only
    NO_ARTICLE = "no-article"  # a 200 page with no article at all, and no notice
    NOTICE = "notice"  # the site's own page saying the post is gone
    REDIRECT = "redirect"  # to the home page or off the origin
    NOT_FOUND = "not-found"  # 404 / 410


_ANSWERED_200 = {
    PageKind.ARTICLE,
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

    def as_dict(self) -> dict[str, Any]:
        """The counts, and the shares people read."""
        found = asdict(self)
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
            if item.name == "dropped_at":
                health.dropped_at = value if _is_count(value) else None
            elif isinstance(getattr(health, item.name), bool):
                setattr(health, item.name, value is True)
            elif _is_count(value):
                setattr(health, item.name, value)
        return health

    def add(self, other: Health) -> None:
        """Sum the counts (the corpus's health); flags and ``dropped_at`` are a run's."""
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if item.name != "dropped_at" and not isinstance(mine, bool):
                setattr(self, item.name, mine + theirs)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def baseline(history: Iterable[Health]) -> tuple[float, float]:
    """A corpus's usual share of bad 200 pages, and of soft misses among pages: zero
    until it has HISTORY_PAGES of history to speak from."""
    total = Health()
    for health in history:
        total.add(health)
    bad = total.judged_bad / total.judged_200 if total.judged_200 >= HISTORY_PAGES else 0.0
    soft = total.judged_soft / total.judged if total.judged >= HISTORY_PAGES else 0.0
    return bad, soft


def is_poor(article: Article) -> bool:
    """An article no reader would want: no text, or a title that is the site's chrome."""
    return not article.text or bool(_CHROME_TITLE.fullmatch(article.title))


class HealthMonitor:
    """Counts a run's pages and articles, and calls ``on_warning`` with one line for
    people when a window of pages turns bad (once per bad stretch)."""

    def __init__(
        self,
        *,
        usual: tuple[float, float] = (0.0, 0.0),
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.health = Health()
        self.drop_threshold = max(DROP_SHARE, usual[0] + DROP_MARGIN)
        self.surge_threshold = max(SURGE_SHARE, usual[1] + DROP_MARGIN)
        self._usual = usual
        self._on_warning = on_warning
        self._window_200: deque[tuple[int, bool]] = deque(maxlen=WINDOW)
        self._bad_in_window = 0
        self._window_all: deque[bool] = deque(maxlen=WINDOW)
        self._soft_in_window = 0
        # Misses not yet known to lie before an article: how many, how many soft.
        self._pending = self._pending_soft = 0
        self._in_drop = False
        self._in_surge = False

    def article(self, article: Article) -> None:
        """One record written."""
        health = self.health
        health.articles += 1
        length = len(article.text)
        health.text_chars += length
        health.empty_text += not article.text
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
            self._settle_pending(article_id)
            self._judge_misses(article_id, False)
        elif retried:
            self._judge_misses(article_id, kind in _SOFT)
        else:
            self._pending += 1
            self._pending_soft += kind in _SOFT

    def end(self, *, open_walk: bool, last_id: int | None) -> Health:
        """The run's health. The misses that ended an open walk are the edge of the
        archive (posts not yet published, probed again anyway), not a surge."""
        if not open_walk and last_id is not None:
            self._settle_pending(last_id)
        self._pending = self._pending_soft = 0
        health = self.health
        if health.reprobed and health.reprobed_soft >= SURGE_SHARE * health.reprobed:
            health.still_down = True  # what was asked again is still not there
        return health

    def _settle_pending(self, article_id: int) -> None:
        soft, hard = self._pending_soft, self._pending - self._pending_soft
        self._pending = self._pending_soft = 0
        # The order within the run does not matter to a share: hard ones, then soft.
        for _ in range(min(hard, WINDOW)):
            self._judge_misses(article_id, False)
        for _ in range(min(soft, WINDOW)):
            self._judge_misses(article_id, True)
        # Beyond a window's worth, the window's contents no longer change: just count.
        self.health.judged += max(0, hard - WINDOW) + max(0, soft - WINDOW)
        self.health.judged_soft += max(0, soft - WINDOW)

    def _judge_extraction(self, article_id: int, bad: bool) -> None:
        window = self._window_200
        if len(window) == window.maxlen:
            self._bad_in_window -= window[0][1]
        window.append((article_id, bad))
        self._bad_in_window += bad
        self.health.judged_200 += 1
        self.health.judged_bad += bad
        if len(window) < MIN_PAGES:
            return
        share = self._bad_in_window / len(window)
        if share >= self.drop_threshold and not self._in_drop:
            self._in_drop = True
            health = self.health
            health.dropped = True
            if health.dropped_at is None:
                health.dropped_at = article_id
            self._warn(
                f"extraction health dropped at id {article_id}: {self._bad_in_window} of the "
                f"last {len(window)} pages answered 200 held no article of their own, or one "
                "without text or titled with site chrome "
                f"(this corpus: {self._usual[0]:.0%}); the site's markup may have changed: "
                f"see zkiz parse {article_id} -v"
            )
        elif share < self.drop_threshold / 2:
            self._in_drop = False

    def _judge_misses(self, article_id: int, soft: bool) -> None:
        window = self._window_all
        if len(window) == window.maxlen:
            self._soft_in_window -= window[0]
        window.append(soft)
        self._soft_in_window += soft
        self.health.judged += 1
        self.health.judged_soft += soft
        if len(window) < MIN_PAGES:
            return
        share = self._soft_in_window / len(window)
        if share >= self.surge_threshold and not self._in_surge:
            self._in_surge = True
            self.health.surged = True
            if self.health.dropped:
                return  # said already: those pages are the drop's
            self._warn(
                f"{self._soft_in_window} of the last {len(window)} pages up to id "
                f"{article_id} were redirects, notices or pages without an article: the "
                "site may be down for maintenance; the next run asks for them again"
            )
        elif share < self.surge_threshold / 2:
            self._in_surge = False

    def _warn(self, line: str) -> None:
        if self._on_warning is not None:
            self._on_warning(line)
