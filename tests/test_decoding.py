"""Page bytes decode as a browser decodes them."""

from __future__ import annotations

import codecs

import pytest

from tests.support import HKSCS, SEED_A, SIMPLIFIED, markup_table_font
from zkiz_corpus.decoding import choose_codec, codec_for_label, decode_page

TRADITIONAL = SEED_A.paragraphs[0]
HK_ONLY = "𨋢啲嘢係咪真係咁重要"  # HKSCS characters: not in plain Big5
GBK_ONLY = "習近平 鎔 髮 臺灣"  # traditional characters: in GBK, not in GB2312


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("x-gbk", "gb18030"),
        ("big5", "big5hkscs"),
        ("Big5-HKSCS", "big5hkscs"),
        ("utf8", "utf-8"),
        ("iso-8859-1", "cp1252"),
        ("nonsense", None),
    ],
)
def test_whatwg_labels(label, codec):
    assert codec_for_label(label) == codec


def html(body: str, meta: str | None = None) -> str:
    head = f'<meta http-equiv="Content-Type" content="text/html; charset={meta}">' if meta else ""
    return f"<html><head>{head}</head><body><p>{body}</p></body></html>"


def test_http_charset_big5_decodes_hkscs_characters():
    body = html(HK_ONLY).encode("big5hkscs")
    assert HK_ONLY in decode_page(body, "text/html; charset=big5")


def test_meta_gb2312_that_understates_gbk_content():
    body = html(GBK_ONLY, meta="gb2312").encode("gb18030")
    assert GBK_ONLY in decode_page(body, "text/html")


def test_http_header_wins_over_meta():
    body = html(TRADITIONAL, meta="gb2312").encode("big5hkscs")
    assert TRADITIONAL in decode_page(body, "text/html; charset=big5")


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        (encoding, text)
        for encoding in ("big5hkscs", "gb18030", "utf-8")
        for text in (TRADITIONAL, HKSCS.paragraphs[0], HK_ONLY)
    ]
    + [("gb18030", SIMPLIFIED.paragraphs[0]), ("utf-8", SIMPLIFIED.paragraphs[0])],
)
def test_undeclared_encoding_is_recognised(encoding, text):
    assert text in decode_page(html(text).encode(encoding), None)


def test_byte_order_mark_wins():
    body = codecs.BOM_UTF8 + html(TRADITIONAL, meta="big5").encode("utf-8")
    assert choose_codec(body, "text/html; charset=big5") == "utf-8"
    assert decode_page(body).startswith("<html>")


def test_utf8_page_labelled_big5_is_read_as_utf8():
    body = html(TRADITIONAL, meta="big5").encode("utf-8")
    assert TRADITIONAL in decode_page(body, None)


def test_stray_bytes_do_not_change_the_encoding_or_raise():
    body = markup_table_font([HKSCS], charset="big5").encode("big5hkscs", "xmlcharrefreplace")
    damaged = body.replace("真係".encode("big5hkscs"), b"\xff\xfe", 1)
    text = decode_page(damaged, "text/html; charset=big5")
    assert HKSCS.title in text
    assert "\ufffd" in text


@pytest.mark.parametrize("body", [b"", b"\x00" * 100, bytes(range(256)) * 20, b"\xff" * 5000])
def test_garbage_never_raises(body):
    assert isinstance(decode_page(body, "text/html; charset=utf-8"), str)
    assert isinstance(decode_page(body, None), str)


def test_latin1_server_default_does_not_override_the_page():
    body = markup_table_font([HKSCS], charset="big5").encode("big5hkscs", "xmlcharrefreplace")
    assert HKSCS.paragraphs[1] in decode_page(body, "text/html; charset=ISO-8859-1")


def test_xml_declaration_names_the_encoding():
    body = f'<?xml version="1.0" encoding="big5"?><html><body>{HK_ONLY}</body></html>'
    assert HK_ONLY in decode_page(body.encode("big5hkscs"), None)


@pytest.mark.parametrize(("encoding", "label"), [("big5hkscs", "gb2312"), ("gb18030", "big5")])
def test_a_wrong_chinese_label_is_overruled_by_the_text(encoding, label):
    body = html(TRADITIONAL, meta=label).encode(encoding)
    assert TRADITIONAL in decode_page(body, None)
    assert TRADITIONAL in decode_page(body, f"text/html; charset={label}")
