"""Property-based: no input makes the decoder or the parser raise."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import HKSCS, REPOST, SEED_A, markup_div_br, markup_semantic, markup_table_font
from zkiz_corpus.decoding import decode_page
from zkiz_corpus.parsing import parse_articles

SEEDS = [
    markup_div_br([SEED_A]),
    markup_semantic([REPOST, HKSCS]),
    markup_table_font([HKSCS]),
]
TAGS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<div>",
        "</div>",
        "<br>",
        "<table>",
        "<td>",
        "<b>",
        "</a>",
        "<a href='?id=5'>",
        "<script>",
        "</script>",
        "<!--",
        "-->",
        "<",
        ">",
        "&nbsp;",
        "PermaLink: https://articles.zkiz.com/?id=7",
        "\u3000",
        "\x00",
    ]
)
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")


@given(
    st.binary(max_size=4000),
    st.sampled_from([None, "text/html; charset=big5", "text/html; charset=gb2312", "text/html"]),
)
def test_decoding_random_bytes_never_raises(body, content_type):
    assert isinstance(decode_page(body, content_type), str)


@given(st.text(max_size=3000))
def test_parsing_random_text_never_raises(text):
    for article in parse_articles(text, "http://127.0.0.1/?id=1"):
        assert article.id > 0


@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 10**6), TAGS), max_size=30),
    st.integers(0, 10**6),
    st.integers(0, 2000),
)
def test_parsing_mutated_pages_never_raises(seed, insertions, cut_at, cut_len):
    page = seed
    for position, fragment in insertions:
        position %= len(page) + 1
        page = page[:position] + fragment + page[position:]
    cut_at %= len(page) + 1
    page = page[:cut_at] + page[cut_at + cut_len :]
    for article in parse_articles(page, "http://127.0.0.1/?id=1"):
        assert article.title and "\n\n" not in article.text
