"""A generated set of reposts, for measuring duplicate detection.

The archive reposts wire stories: one story under several ids, from several sites. This
makes such a set from the seed page's and the fixtures' articles and from articles
written on the same topics (a character Markov chain over that same text, so distinct
articles share its names, phrases and turns of speech, as a day's finance news does):

- ``stories`` distinct articles, each with 0 to 4 reposts;
- a repost is its story with one or two changes: another source line, a paragraph
  added or dropped, Traditional turned Simplified, full-width punctuation made
  half-width, other whitespace, or a truncated copy (70% to 95% of it kept).

``make_set`` returns the records (as ``make_record`` makes them, ids in shuffled order
so that neither the story nor its copies come first by design) and, per record, its
story: records of one story are duplicates of one another, all others are not.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support import HKSCS, REPOST, SEED_A, SEED_B, SIMPLIFIED
from zkiz_corpus.converting import make_converter
from zkiz_corpus.records import Extracted
from zkiz_corpus.storing import Corpus

FIRST_ID = 700_000
SITES = ("經濟日報", "信報", "明報", "第一財經", "新浪財經", "東方日報", "財新網", "華爾街見聞")
HALF_WIDTH = str.maketrans("，。：；！？（）「」、", ',.:;!?()""/')
ORDER = 4  # characters of context of the chain


@dataclass(frozen=True)
class Story:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class RepostSet:
    records: list[dict]
    story_of: dict[int, int]  # record id -> the story it tells
    changes_of: dict[int, tuple[str, ...]]  # record id -> what its copy changed ('' first)

    def duplicate_pairs(self) -> set[tuple[int, int]]:
        by_story: dict[int, list[int]] = defaultdict(list)
        for article_id, story in self.story_of.items():
            by_story[story].append(article_id)
        return {(a, b) for ids in by_story.values() for a in ids for b in ids if a < b}


def _corpus_text() -> list[str]:
    return [
        paragraph
        for article in (SEED_A, SEED_B, REPOST, SIMPLIFIED, HKSCS)
        for paragraph in article.paragraphs
        if len(paragraph) > 12
    ]


class Chain:
    """A character Markov chain of order ``ORDER`` over the fixtures' text."""

    def __init__(self, paragraphs: list[str]) -> None:
        self.next: dict[str, list[str]] = defaultdict(list)
        self.starts = [p[:ORDER] for p in paragraphs if len(p) > ORDER]
        for paragraph in paragraphs:
            for i in range(len(paragraph) - ORDER):
                self.next[paragraph[i : i + ORDER]].append(paragraph[i + ORDER])

    def paragraph(self, rng: random.Random, low: int = 60, high: int = 220) -> str:
        length = rng.randint(low, high)
        out = rng.choice(self.starts)
        while len(out) < length:
            choices = self.next.get(out[-ORDER:])
            if not choices:
                out += "，" + rng.choice(self.starts)
                continue
            out += rng.choice(choices)
        return out.rstrip("，、：；") + ("。" if not out.endswith("。") else "")


class Words:
    """Text of pseudo-words: 1 to 4 of the fixtures' characters (by their frequency),
    drawn from a Zipf-weighted vocabulary. Two such articles share little but common
    words, as two unrelated articles do: the text for measuring scale, not precision."""

    def __init__(self, paragraphs: list[str], size: int = 20_000, seed: int = 1) -> None:
        rng = random.Random(seed)
        letters = [c for p in paragraphs for c in p if c.isalpha() and ord(c) > 0x2E80]
        self.vocabulary = [
            "".join(rng.choices(letters, k=rng.choice((1, 2, 2, 2, 3, 4)))) for _ in range(size)
        ]
        self.cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(size)))
        self.starts = self.vocabulary  # as Chain's, for a title

    def paragraph(self, rng: random.Random, low: int = 60, high: int = 220) -> str:
        length = rng.randint(low, high)
        out: list[str] = []
        size = 0
        while size < length:
            words = rng.choices(self.vocabulary, cum_weights=self.cumulative, k=rng.randint(4, 12))
            sentence = "".join(words) + rng.choice("，，，。")
            out.append(sentence)
            size += len(sentence)
        return "".join(out).rstrip("，") + "。"


def _stories(
    rng: random.Random, chain: Chain | Words, count: int, paragraphs: tuple[int, int]
) -> list[Story]:
    real = [Story(article.title, tuple(article.paragraphs)) for article in (SEED_A, SEED_B, REPOST)]
    made = []
    while len(real) + len(made) < count:
        body = tuple(chain.paragraph(rng) for _ in range(rng.randint(*paragraphs)))
        title = chain.paragraph(rng, 8, 20).rstrip("。")
        made.append(Story(title, body))
    return real + made


def _source_line(rng: random.Random, chain: Chain | Words, story: Story) -> Story:
    site = rng.choice(SITES)
    if rng.random() < 0.5:
        return Story(story.title, (f"來源：{site}", *story.paragraphs))
    return Story(story.title, (*story.paragraphs, f"（本文轉載自{site}，版權歸原作者所有）"))


def _paragraph_added(rng: random.Random, chain: Chain | Words, story: Story) -> Story:
    at = rng.randint(0, len(story.paragraphs))
    added = chain.paragraph(rng, 40, 120)
    return Story(story.title, (*story.paragraphs[:at], added, *story.paragraphs[at:]))


def _paragraph_dropped(rng: random.Random, chain: Chain | Words, story: Story) -> Story:
    if len(story.paragraphs) < 4:
        return _source_line(rng, chain, story)
    at = rng.randrange(len(story.paragraphs))
    return Story(story.title, story.paragraphs[:at] + story.paragraphs[at + 1 :])


def _simplified(rng: random.Random, chain: Chain | Words, story: Story) -> Story:
    convert = make_converter("t2s")
    return Story(convert(story.title), tuple(convert(p) for p in story.paragraphs))


def _half_width(rng: random.Random, chain: Chain | Words, story: Story) -> Story:
    return Story(story.title, tuple(p.translate(HALF_WIDTH) for p in story.paragraphs))


def _whitespace(rng: random.Random, chain: Chain | Words, story: Story) -> Story:
    spaced = []
    for paragraph in story.paragraphs:
        if rng.random() < 0.5 and len(paragraph) > 40:  # one paragraph as two lines
            cut = rng.randint(10, len(paragraph) - 10)
            spaced += [paragraph[:cut], paragraph[cut:]]
        else:
            spaced.append(rng.choice(("", " ", "\u3000\u3000")) + paragraph.replace("，", "， "))
    return Story(story.title, tuple(spaced))


def _truncated(rng: random.Random, chain: Chain | Words, story: Story) -> Story:
    text = "\n".join(story.paragraphs)
    kept = text[: int(len(text) * rng.uniform(0.70, 0.95))].rstrip()
    return Story(story.title, (*kept.split("\n"), "……（全文未完）"))


CHANGES: dict[str, Callable[[random.Random, Chain | Words, Story], Story]] = {
    "source-line": _source_line,
    "paragraph-added": _paragraph_added,
    "paragraph-dropped": _paragraph_dropped,
    "simplified": _simplified,
    "half-width": _half_width,
    "whitespace": _whitespace,
    "truncated": _truncated,
}


def record_of(article_id: int, story: Story) -> dict:
    text = "\n".join(line.strip() for line in story.paragraphs if line.strip())
    return {
        "id": article_id,
        "url": f"https://articles.zkiz.com/?id={article_id}",
        "title": story.title,
        "text": text,
        "source_url": None,
        "title_original": story.title,
        "text_original": text,
        "convert": "none",
        "fetched_at": "2026-11-27T00:00:00Z",
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def make_set(
    stories: int = 400,
    seed: int = 20261127,
    paragraphs: tuple[int, int] = (3, 10),
    text: str = "chain",
) -> RepostSet:
    """``stories`` distinct articles (of ``paragraphs`` paragraphs, a range) and their
    reposts, as records. ``text``: ``chain`` (articles on the fixtures' topics, in their
    turns of phrase) or ``words`` (unrelated articles, ``Words``)."""
    rng = random.Random(seed)
    chain: Chain | Words = Chain(_corpus_text()) if text == "chain" else Words(_corpus_text())
    versions: list[tuple[int, tuple[str, ...], Story]] = []
    for number, story in enumerate(_stories(rng, chain, stories, paragraphs)):
        versions.append((number, (), story))
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
            changes = tuple(rng.sample(sorted(CHANGES), rng.choice((1, 1, 2))))
            copy = story
            for change in changes:
                copy = CHANGES[change](rng, chain, copy)
            versions.append((number, changes, copy))
    ids = list(range(FIRST_ID, FIRST_ID + len(versions)))
    rng.shuffle(ids)
    records, story_of, changes_of = [], {}, {}
    for article_id, (number, changes, story) in zip(ids, versions):
        records.append(record_of(article_id, story))
        story_of[article_id] = number
        changes_of[article_id] = changes
    records.sort(key=lambda record: record["id"])
    return RepostSet(records, story_of, changes_of)


def score(reposts: RepostSet, kept: dict[int, int]) -> dict:
    """Recall and precision of duplicate pairs, given each record's cluster (the id it
    keeps), and per kind of change the share of copies put in their story's cluster."""
    truth = reposts.duplicate_pairs()
    members: dict[int, list[int]] = defaultdict(list)
    for article_id, root in kept.items():
        members[root].append(article_id)
    found = {(a, b) for ids in members.values() for a in ids for b in ids if a < b}
    hit = len(truth & found)
    by_change: dict[str, Counter] = defaultdict(Counter)
    story_root: dict[int, int] = {}
    for article_id, story in reposts.story_of.items():
        if not reposts.changes_of[article_id]:
            story_root[story] = kept[article_id]
    for article_id, changes in reposts.changes_of.items():
        for change in changes:
            joined = kept[article_id] == story_root[reposts.story_of[article_id]]
            by_change[change]["joined" if joined else "missed"] += 1
    return {
        "records": len(kept),
        "true_pairs": len(truth),
        "found_pairs": len(found),
        "recall": hit / len(truth) if truth else 1.0,
        "precision": hit / len(found) if found else 1.0,
        "by_change": {
            change: counts["joined"] / (counts["joined"] + counts["missed"])
            for change, counts in by_change.items()
        },
    }


def write_corpus(
    directory: Path, records: list[dict], run_started: str = "2026-11-27T00:00:00Z"
) -> None:
    """``records`` written into the corpus ``directory`` (made if need be) as one run."""
    corpus = Corpus(directory)
    try:
        corpus.start_run(run_started)
        for record in records:
            corpus.add_article(Extracted.from_record(record))
        corpus.commit()
        corpus.end_run(run_started, 0)
    finally:
        corpus.close()
