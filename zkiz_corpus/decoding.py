"""Decode page bytes the way a browser does (WHATWG Encoding Standard, simplified).

Order of authority: byte-order mark, HTTP ``charset``, ``<meta>`` prescan, then a guess.
Labels map as browsers map them: ``gb2312``/``gbk``/``x-gbk`` decode as GB18030 and
``big5`` as Big5-HKSCS, so a page whose label understates its repertoire still decodes.
"""

from __future__ import annotations

import codecs
import re

# WHATWG label -> Python codec, for the labels this archive can plausibly carry.
_LABELS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8",
    "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "csiso58gb231280": "gb18030",
    "iso-ir-58": "gb18030",
    "cp936": "gb18030",
    "windows-936": "gb18030",
    "ms936": "gb18030",
    "euc-cn": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "utf-16": "utf-16-le",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_HEADER_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_:.\-]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)

# Frequent characters of Chinese prose, in both scripts; a wrong CJK codec turns text
# into rare characters, so these tell GB18030 from Big5 when nothing is declared.
_COMMON_HANZI = frozenset(
    "的一是不了人我在有他這这中大來来上國国個个到說说們们為为子和你地出道也時时年"
    "得就那要下以生會会自著着去之過过家學学對对可她裡里後后小麼么心多天而能好都然沒没"
    "日於于起還还發发成事只作當当想看文無无開开手十用主行方又如前所本見见經经頭头面"
    "公同三已老從从動动兩两長长知民樣样現现分將将外但身些與与高意進进把法此實实回二"
    "理美點点月明其種种聲声全工己話话兒儿者向情部正名定女問问力機机給给等幾几很業业"
    "最間间新什打便位因重被走電电四第門门相次東东政海口使教西再平真聽听世氣气信北少"
    "關关並并內内加化由卻却代軍军產产入先山五太水萬万市眼體体別别處处總总才場场師师"
    "書书比住員员九笑性通目華华報报立馬马命張张活難难神數数件安表原車车白應应路期叫"
    "死常提感金何更反合放做系計计或司利受光王果親亲界及今京務务制解各任至清物臺台象"
    "記记邊边共風风戰战干接它許许八特覺觉望直服毛林題题建南度統统色字請请交愛爱讓让"
    "認认算論论百吃義义科怎元社術术結结六功指思非流每青管夫連连遠远資资隊队跟帶带花"
    "快條条院變变聯联言權权往展該该領领傳传近留紅红治決决周保達达辦办運运武半候七必"
    "城父強强步完革深區区即求品士轉转量空甚眾众技輕轻程告江語语英基派滿满式李息寫写"
    "呢識识極极令黃黄德收臉脸錢钱黨党倒未持取設设始版雙双歷历越史商千片容研像找友孩"
    "站廣广改議议形委早房音火際际則则首單单據据導导影失拿網网香似斯專专石若兵弟誰谁"
    "校讀读志飛飞觀观爭争究包組组造落視视濟济喜離离虽坐集編编宝谈府拉黑且隨随格尽"
    "劍剑講讲布殺杀微怕母調调局根曾準准團团段終终樂乐切級级克精哪官示冷域讀读"
)


_CHINESE_CODECS = {"big5hkscs": "gb18030", "gb18030": "big5hkscs"}


def codec_for_label(label: str | None) -> str | None:
    """Python codec for a WHATWG encoding label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _LABELS:
        return _LABELS[label]
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type.encode("latin-1", "replace"))
    return match.group(1).decode("ascii") if match else None


def charset_from_meta(body: bytes) -> str | None:
    """The label of the first ``<meta charset>``/``http-equiv`` (or XML declaration)."""
    match = _META_CHARSET.search(body[:4096]) or _XML_ENCODING.match(body[:512])
    return match.group(1).decode("ascii") if match else None


def _errors_in(body: bytes, codec: str) -> int:
    return body.decode(codec, errors="replace").count("\ufffd")


def _hanzi_score(text: str) -> int:
    return sum(1 for ch in text if ch in _COMMON_HANZI) - 4 * text.count("\ufffd")


def detect_codec(body: bytes) -> str:
    """Guess the codec of an undeclared page: UTF-8 if valid, else the likelier Chinese one."""
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    sample = body[:65536]
    scored = [
        (_hanzi_score(sample.decode(codec, errors="replace")), -rank, codec)
        for rank, codec in enumerate(("big5hkscs", "gb18030", "utf-8"))
    ]
    return max(scored)[2]


def choose_codec(body: bytes, content_type: str | None = None) -> str:
    """The codec a browser would use for ``body`` served with ``content_type``."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec
    from_header = codec_for_label(charset_from_content_type(content_type))
    from_meta = codec_for_label(charset_from_meta(body))
    if from_header == "cp1252":
        # A Latin-1 header on a Chinese archive is a server default, not a statement
        # about the page: let the page's own label (or the bytes) speak.
        from_header = None
    declared = from_header or from_meta
    if declared is None:
        return detect_codec(body)
    if declared != "utf-8" and _errors_in(body, declared):
        # Bytes that are invalid in the declared label yet valid UTF-8 mean the label
        # was copied from another template; UTF-8 validity by chance is vanishingly rare.
        try:
            body.decode("utf-8")
            return "utf-8"
        except UnicodeDecodeError:
            pass
    if declared == "utf-8" and _errors_in(body, "utf-8") > 8:
        guessed = detect_codec(body)
        if _errors_in(body, guessed) < _errors_in(body, "utf-8"):
            return guessed
    if declared in _CHINESE_CODECS:
        # Big5 bytes labelled GB (or the reverse) decode without a single error, into
        # rare characters: if the other codec reads as Chinese prose and this one does
        # not, the label is wrong, not merely understated.
        other = _CHINESE_CODECS[declared]
        sample = body[:65536]
        own = _hanzi_score(sample.decode(declared, errors="replace"))
        alternative = _hanzi_score(sample.decode(other, errors="replace"))
        if alternative >= 20 and alternative > 3 * max(own, 1):
            return other
    return declared


def decode_page(body: bytes, content_type: str | None = None) -> str:
    """Page bytes to text; invalid sequences become U+FFFD instead of raising."""
    codec = choose_codec(body, content_type)
    text = body.decode(codec, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text
