"""Helpers shared by the tests, the benchmarks and the sample builder: the fixture
archive (page markups built from the seed text, served on loopback by a real HTTP
server), a raw-socket server that misbehaves as scripted, and ways to run ``zkiz``.

Each archive page is rendered in one of several unrelated markups and encodings, so the
parser is checked against layouts it was not written for, and the expected records come
from the same article specs that built the pages.

Raw server: for what ``http.server`` is too polite to do (a byte a second, endless
bodies, 10,000 headers, broken status lines). Each connection runs ``handler(conn,
head, server)`` in its own daemon thread, with the request head read; every wait in a
handler goes through ``server.pause``, which returns at once when the server stops, so
no loop outlives its test.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent

# ---- the fixture archive ---------------------------------------------------------

SEED = Path(__file__).parent / "fixtures" / "seed-page.txt"
PERMALINK = "https://articles.zkiz.com/?id={}"


@dataclass(frozen=True)
class ArticleSpec:
    id: int
    title: str
    paragraphs: tuple[str, ...]
    source_url: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


def seed_articles() -> list[ArticleSpec]:
    """The two articles of the real page, as a reader sees them."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    articles, block = [], []
    for line in lines[1:]:
        line = line.strip()
        if line.startswith("PermaLink:"):
            article_id = int(line.rsplit("=", 1)[1])
            articles.append(ArticleSpec(article_id, block[0], tuple(block[1:])))
            block = []
        elif line and line not in ("Next Page",) and not line.startswith("ZKIZ Archives @"):
            block.append(line)
    return articles


SEED_A, SEED_B = seed_articles()

# More articles cut from the seed text, so each fixture id holds distinct content.
REPOST = ArticleSpec(
    262805,
    "集成電路突圍",
    SEED_B.paragraphs[4:7],
    source_url="http://www.yicai.com/news/5422345.html",
)
SIMPLIFIED = ArticleSpec(
    262807,
    "上海制造再出发",
    (
        "享誉国内的“上海制造”再度出发，目标之一就是国家亟须攻坚的领域。",
        "上海市经信委主任陈鸣波称，上海目前正在加快制定集成电路发展行动计划。",
    ),
)
HKSCS = ArticleSpec(
    262808,
    "長三角聯動 呢啲嘢點睇",
    (
        "“有很多產業集群，光靠上海一家很難形成世界級的水平和影響力。”吳金城說。",
        "有讀者問：𨋢啲嘢係咪真係咁重要？",
    ),
    source_url="https://www.hkej.com/article/123",
)
LONG = ArticleSpec(262810, SEED_A.title, SEED_A.paragraphs[:3])
SHORT_BODY = ArticleSpec(262812, "保障先進制造業用地", (SEED_B.paragraphs[-1],))
SUBHEADINGS = ArticleSpec(
    262813, SEED_B.title, SEED_B.paragraphs[:8], source_url="http://www.yicai.com/news/1.html"
)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _side_list(ids: list[int], style: str = "ul") -> str:
    items = "".join(f'<li><a href="?id={other}">相關文章 {other}</a></li>' for other in ids)
    return f"<{style}>{items}</{style}>"


# ---- markups: each takes the articles of one page and returns an HTML document --------


def markup_div_br(articles: list[ArticleSpec], charset: str = "utf-8") -> str:
    """Old blog template: everything in one div, lines split by <br>, random class names."""
    body = []
    for art in articles:
        parts = [f'<span class="c7">{_esc(art.title)}</span><br><br>']
        if art.source_url:
            parts.append(f"{_esc(art.source_url)}<br><br>")
        parts += [f"{_esc(p)}<br><br>" for p in art.paragraphs]
        parts.append(
            f'PermaLink: <a href="{PERMALINK.format(art.id)}">{PERMALINK.format(art.id)}</a><br>'
        )
        body.append("".join(parts))
    return (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        "<title>ZKIZ Archives</title><style>.c7{font-weight:bold}</style></head><body>"
        '<div class="k1"><a href="/">📖 ZKIZ Archives</a></div>'
        f'<div class="k2">{"<br>".join(body)}'
        '<br><a href="?id=999999">Next Page</a></div>'
        f'<div class="k3">熱門文章{_side_list([111, 222, 333])}</div>'
        '<div class="k4">ZKIZ Archives @ 2019</div></body></html>'
    )


def markup_semantic(articles: list[ArticleSpec], charset: str = "utf-8") -> str:
    """Modern template: header/nav/main/article/aside, title is a link to itself."""
    body = []
    for art in articles:
        source = (
            f'<p><a href="{_esc(art.source_url)}">{_esc(art.source_url)}</a></p>'
            if art.source_url
            else ""
        )
        paras = "".join(f"<p>{_esc(p)}</p>" for p in art.paragraphs)
        body.append(
            f'<article><header><h2><a href="/?id={art.id}">{_esc(art.title)}</a></h2></header>'
            f"{source}{paras}"
            f'<footer><p>PermaLink: <a href="https://articles.zkiz.com/?id={art.id}">'
            f"https://articles.zkiz.com/?id={art.id}</a></p></footer>"
            "<section><h3>3 則留言</h3><p>讀者甲：好文章，支持！</p>"
            "<p>讀者乙：上海制造加油。</p></section></article>"
        )
    return (
        f'<!DOCTYPE html><html lang="zh-Hant"><head><meta charset="{charset}">'
        "<title>ZKIZ Archives</title></head><body>"
        '<header><h1><a href="/">📖 ZKIZ Archives</a></h1></header>'
        '<nav><a href="/">首頁</a> | <a href="/?cat=1">財經</a> | <a href="/?cat=2">新聞</a></nav>'
        f"<main>{''.join(body)}</main>"
        f"<aside><h3>最新文章</h3>{_side_list([401, 402, 403, 404])}</aside>"
        '<p><a href="/?id=999999">Next Page</a></p>'
        "<footer><p>ZKIZ Archives @ 2019</p></footer></body></html>"
    )


def markup_table_font(articles: list[ArticleSpec], charset: str = "big5") -> str:
    """1990s layout: nested tables, <font>, <b> title, no classes at all."""
    rows = []
    for art in articles:
        source = (
            f"<tr><td><font size=2>{_esc(art.source_url)}</font></td></tr>"
            if art.source_url
            else ""
        )
        paras = "<br>\n".join(f"　　{_esc(p)}<br>" for p in art.paragraphs)
        rows.append(
            f"<tr><td><font size=4><b>{_esc(art.title)}</b></font></td></tr>{source}"
            f"<tr><td><font size=3>{paras}</font></td></tr>"
            f'<tr><td><font size=2>PermaLink: <a href="https://articles.zkiz.com/?id={art.id}">'
            f"https://articles.zkiz.com/?id={art.id}</a></font></td></tr>"
        )
    side = "".join(
        f'<tr><td><a href="https://articles.zkiz.com/?id={i}">舊文 {i}</a></td></tr>'
        for i in (501, 502, 503)
    )
    return (
        f'<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset={charset}">'
        "</HEAD><BODY><TABLE width=100%><TR><TD colspan=2><FONT SIZE=5>📖 ZKIZ Archives</FONT>"
        "</TD></TR><TR><TD valign=top width=20%><TABLE>" + side + "</TABLE></TD><TD>"
        "<TABLE>" + "".join(rows) + "</TABLE>"
        '<A HREF="?id=999999">Next Page</A></TD></TR>'
        "<TR><TD colspan=2>ZKIZ Archives @ 2019</TD></TR></TABLE></BODY></HTML>"
    )


def markup_paragraph_images(articles: list[ArticleSpec], charset: str = "utf-8") -> str:
    """<p> with &nbsp; and ideographic indents, images, scripts and an ad inside the body."""
    body = []
    for art in articles:
        paras = []
        for n, p in enumerate(art.paragraphs):
            paras.append(f"<p>&nbsp;&nbsp;　　{_esc(p)}&nbsp;</p>")
            if n == 0:
                paras.append('<p><img src="/img/1.jpg" alt="圖片"></p>')
                paras.append(
                    '<script>var ad = "<p>not text</p>"; document.write(ad);</script>'
                    '<div class="gg-box"><ins class="adsbygoogle"></ins>'
                    '<a href="https://ads.example.net/x">廣告：開戶即享優惠</a></div>'
                )
        source = f"<p>{_esc(art.source_url)}</p>" if art.source_url else ""
        body.append(
            f'<div class="post"><div class="post-title"><strong>{_esc(art.title)}</strong></div>'
            f'<div class="post-body">{source}{"".join(paras)}</div>'
            f'<div class="post-meta">PermaLink: <a href="?id={art.id}">'
            f"https://articles.zkiz.com/?id={art.id}</a></div></div>"
        )
    return (
        f'<html><head><meta charset="{charset}"><style>p {{ margin: 0 }}</style>'
        '<script src="/js/x.js"></script></head><body>'
        '<div id="top"><a href="/">📖 ZKIZ Archives</a></div>'
        + "".join(body)
        + '<div id="more"><a href="?id=999999">Next Page</a></div>'
        "<div>ZKIZ Archives @ 2019</div></body></html>"
    )


def markup_gb_sections(articles: list[ArticleSpec], charset: str = "gb2312") -> str:
    """GB-era portal: <h3> titles, <div>s of text, a comment form after each permalink."""
    body = []
    for art in articles:
        source = f"<div>{_esc(art.source_url)}</div>" if art.source_url else ""
        paras = "".join(f"<div>{_esc(p)}</div>" for p in art.paragraphs)
        body.append(
            f"<div><h3>{_esc(art.title)}</h3>{source}{paras}"
            f'<div>PermaLink: <a href="https://articles.zkiz.com/?id={art.id}">'
            f"https://articles.zkiz.com/?id={art.id}</a></div>"
            "<div><b>網友評論</b><div>匿名：沙發</div><form><textarea>說兩句</textarea>"
            "<button>發表</button></form></div></div>"
        )
    return (
        f'<html><head><meta http-equiv="content-type" content="text/html;charset={charset}">'
        "</head><body><div><b>📖 ZKIZ Archives</b></div>"
        + "".join(body)
        + '<div><a href="/?id=999999">Next Page</a></div><div>ZKIZ Archives @ 2019</div>'
        "</body></html>"
    )


MISSING_200 = (
    "<html><head><meta charset='utf-8'></head><body><div><a href='/'>📖 ZKIZ Archives</a></div>"
    "<div>找不到文章 The post is not found.</div>"
    + _side_list([601, 602])
    + "<div>ZKIZ Archives @ 2019</div></body></html>"
)


# ---- the server --------------------------------------------------------------------


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def page(document: str, encoding: str = "utf-8", header_charset: str | None = "") -> Response:
    """An HTML response; ``header_charset=None`` leaves the charset out of Content-Type."""
    content_type = "text/html"
    if header_charset is not None:
        content_type += f"; charset={header_charset or encoding}"
    return Response(
        200, document.encode(encoding, "xmlcharrefreplace"), {"Content-Type": content_type}
    )


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", {"Location": location})


NOT_FOUND = Response(404, b"<html><body>404 Not Found</body></html>", {"Content-Type": "text/html"})


class Archive:
    """Pages by id, served on 127.0.0.1 by a real threaded HTTP server."""

    def __init__(self, pages: dict[int, Response] | None = None) -> None:
        self.pages: dict[int, Response] = dict(pages or {})
        self.robots: str | None = None
        self.robots_status = 404  # when robots is None
        self.latency = 0.0  # seconds each answer takes
        self.requests: list[str] = []  # paths of page requests, in order
        self.request_times: list[float] = []
        self.user_agents: list[str] = []
        # Faults by id, served one per request before the page itself: ("status", code,
        # headers), ("drop",), ("slow", seconds), ("truncate",), ("stall", seconds).
        self.faults: dict[int, list[tuple]] = {}
        self._lock = threading.Lock()
        archive = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add 40 ms per answer
            wbufsize = 65536

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                query = parse_qs(urlsplit(self.path).query)
                arrived = time.monotonic()
                archive.user_agents.append(self.headers.get("User-Agent", ""))
                time.sleep(archive.latency)
                if path == "/robots.txt":
                    response = Response(archive.robots_status, b"", {"Content-Type": "text/plain"})
                    if archive.robots is not None:
                        response = Response(
                            200, archive.robots.encode(), {"Content-Type": "text/plain"}
                        )
                else:
                    archive.requests.append(self.path)
                    archive.request_times.append(arrived)
                    response = NOT_FOUND
                    if "id" in query and query["id"][0].isdigit():
                        article_id = int(query["id"][0])
                        response = archive.pages.get(article_id, NOT_FOUND)
                        fault = archive.take_fault(article_id)
                        if fault is not None and self.inject(fault, response):
                            return
                    elif path == "/":
                        response = page("<html><body>📖 ZKIZ Archives home</body></html>")
                self.answer(response)

            def inject(self, fault: tuple, response: Response) -> bool:
                """Serve ``fault``; True if it took the place of the answer."""
                kind = fault[0]
                if kind == "status":
                    # A header value may be a function, evaluated as the answer goes out.
                    headers = {k: v() if callable(v) else v for k, v in fault[2].items()}
                    self.answer(Response(fault[1], b"try later", headers))
                    return True
                if kind == "drop":
                    self.close_connection = True
                    return True
                if kind == "slow":
                    time.sleep(fault[1])
                    return False
                half = len(response.body) // 2
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body[:half])
                self.wfile.flush()
                if kind == "stall":
                    time.sleep(fault[1])
                    self.wfile.write(response.body[half:])
                self.close_connection = True
                return True

            def answer(self, response: Response) -> None:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # Clients that time out leave the handler writing to a closed socket: expected.
        self.server.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take_fault(self, article_id: int) -> tuple | None:
        with self._lock:
            queue = self.faults.get(article_id)
            return queue.pop(0) if queue else None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> Archive:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def standard_pages() -> tuple[dict[int, Response], list[ArticleSpec]]:
    """The fixture archive, ids 262804..262815, and the articles a crawl of it yields.

    Like the real site, a page shows its own article and may show the next ones; an
    article already seen on an earlier page is not fetched again (262807, 262813).
    """
    pages = {
        262804: page(markup_div_br([SEED_A, SEED_B])),
        262805: page(markup_semantic([REPOST, SIMPLIFIED]), header_charset=None),
        262806: NOT_FOUND,
        262807: page(markup_semantic([SIMPLIFIED])),
        262808: page(
            markup_table_font([HKSCS], charset="big5"), "big5hkscs", header_charset="big5"
        ),
        262809: redirect("/"),
        262810: page(markup_gb_sections([LONG], charset="gb2312"), "gb18030", header_charset=None),
        262811: page(MISSING_200),
        262812: page(markup_paragraph_images([SHORT_BODY, SUBHEADINGS])),
        262813: page(markup_paragraph_images([SUBHEADINGS])),
        262814: redirect("http://elsewhere.example/?id=262814", 301),
        262815: NOT_FOUND,
    }
    expected = [SEED_A, REPOST, SIMPLIFIED, HKSCS, LONG, SHORT_BODY, SUBHEADINGS]
    return pages, expected


def numbered_pages(first: int, count: int) -> tuple[dict[int, Response], list[int]]:
    """``count`` ids from ``first``: two in three hold an article, every fifth page also
    shows the next id's article, the rest are 404s. Returns pages and the article ids."""
    pages: dict[int, Response] = {}
    article_ids = [n for n in range(first, first + count) if n % 3]
    markups = [markup_div_br, markup_semantic, markup_paragraph_images, markup_gb_sections]
    for n in range(first, first + count):
        if n % 3 == 0:
            continue
        own = ArticleSpec(n, f"第{n}號文章", SEED_A.paragraphs[n % 5 : n % 5 + 3])
        shown = [own]
        if n % 5 == 0 and (n + 1) % 3:
            shown.append(
                ArticleSpec(
                    n + 1, f"第{n + 1}號文章", SEED_A.paragraphs[(n + 1) % 5 : (n + 1) % 5 + 3]
                )
            )
        pages[n] = page(markups[n % len(markups)](shown))
    return pages, article_ids


# ---- a server on raw sockets -----------------------------------------------------

Handler = Callable[[socket.socket, bytes, "RawServer"], None]


class RawServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.2)
        self.heads: list[bytes] = []  # every request head received, in order
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"http://{host}:{port}/"

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def paths(self) -> list[str]:
        return [head.split(b" ", 2)[1].decode("latin-1") for head in self.heads if b" " in head]

    def pause(self, seconds: float) -> bool:
        """Wait; False if the server stopped meanwhile (the handler should return)."""
        return not self.stopped.wait(seconds)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self._thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        buffer = b""
        try:
            with conn:
                while not self.stopped.is_set():
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    self.heads.append(head)
                    if self.handler(conn, head, self) is not True:  # True: keep alive
                        return
        except OSError:
            return


def answer(
    conn: socket.socket, status: str = "200 OK", body: bytes = b"", headers: list | None = None
) -> None:
    """A plain, well-formed HTTP/1.1 answer that closes the connection."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers or [])]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def trickle(conn: socket.socket, server: RawServer, data: bytes, interval: float) -> None:
    """Send ``data`` a byte at a time, ``interval`` apart, until the client hangs up."""
    for byte in data:
        if not server.pause(interval):
            return
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            return


# ---- running zkiz ----------------------------------------------------------------


def run_zkiz(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 60):
    """The real ``zkiz`` command in a subprocess, as a user or cron runs it."""
    environment = {**os.environ, **(env or {})}
    environment.pop("ZKIZ_CORPUS", None) if env is None or "ZKIZ_CORPUS" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "zkiz_corpus", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=timeout,
    )


def kill9_after_requests(
    process, archive, count: int, extra_wait: float = 0.0, must_kill: bool = True
) -> None:
    """SIGKILL ``process`` once ``archive`` has answered ``count`` more page requests:
    a moment inside the crawl whatever the machine's speed."""
    target = len(archive.requests) + count
    deadline = time.monotonic() + 60
    while len(archive.requests) < target and process.poll() is None:
        if time.monotonic() > deadline:  # a crawl that stopped asking: fail, not hang
            process.kill()
            raise AssertionError(f"no {count} more requests in 60 s: the crawl stopped asking")
        time.sleep(0.001)
    time.sleep(extra_wait)
    if not must_kill and process.poll() is not None:
        return
    assert process.poll() is None, "the crawl ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


def one_line_error(done) -> str:
    """The single stderr line of a refused command (no traceback, nothing on stdout)."""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in lines[0]
    assert done.stdout == b""
    return lines[0]


def jsonl(data: bytes | str) -> list[dict]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return [json.loads(line) for line in text.splitlines()]


def run_in_process(*args: str) -> subprocess.CompletedProcess:
    """``zkiz`` through click's runner, in this process: as ``run_zkiz`` reports it, a
    tenth of the time. An exception that escapes is reported as a traceback would be."""
    from click.testing import CliRunner

    from zkiz_corpus.cli import cli

    result = CliRunner().invoke(cli, list(args))
    stderr = result.stderr_bytes or b""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += f"Traceback: {result.exception!r}\n".encode()
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout_bytes, stderr)


def without_write_rights(command: list[str]) -> list[str]:
    """``command`` unable to write what its permission bits forbid, even as root (CI runs
    as root): without the capabilities that override them."""
    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop write rights")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", *command]
