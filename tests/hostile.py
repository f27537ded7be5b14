"""A hostile news site on loopback: one path per way a server or a document can misbehave.

Feed-shaped paths end in .xml, article-shaped ones in .html; the misbehaviour is the same.

    /gzip-bomb.*            a ~1 MB gzip body (Content-Encoding: gzip) inflating to 1 GiB
    /brotli-bomb.*          a ~2 KB brotli body (Content-Encoding: br) inflating to 1 GiB
    /huge-with-length.*     200 MB declared in Content-Length and streamed
    /huge-chunked.*         200 MB, no Content-Length, Transfer-Encoding: chunked
    /hang.*                 reads the request and never answers
    /trickle.*              answers, then sends one byte every 0.5 s, forever
    /loop-a.* /loop-b.*     redirect to each other
    /empty.*                200 with an empty body
    /pdf.html               application/pdf where an article was expected
    /binary-as-html.html    random bytes labelled text/html
    /no-article.html        a page of navigation only
    /malformed.xml /truncated.xml /billion-laughs.xml /xxe.xml
    /feeds/NAME.xml         an RSS feed listing the given paths (add_feed)
    /shared/NAME            a real feed from ../shared, article links moved here (add_shared_feed)
    /robots.txt             404: everything allowed
    anything else .html     a plain, title-less article whose text names its path

Nothing is ever built whole in memory beyond the two compressed bombs (~1 MB together).
"""

from __future__ import annotations

import html
import random
import sys
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli

MiB = 1024 * 1024
BOMB_SIZE = 1024 * MiB  # what each bomb inflates to
HUGE_SIZE = 200 * 1000 * 1000  # "200 MB"
TRICKLE_EVERY = 0.5

RSS = "application/rss+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


def gzip_bomb(size: int = BOMB_SIZE) -> bytes:
    """A gzip body of ~size/1000 bytes that inflates to `size` bytes of spaces.

    One 64 MiB member, compressed streaming, repeated: a gzip stream may hold several
    members and every decoder (Scrapy's included) reads them all. Building 1 GiB in one
    member would take seconds of zlib at fixture time for the same ratio.
    """
    member_size = 64 * MiB
    chunk = b" " * MiB
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    parts = [compressor.compress(chunk) for _ in range(member_size // MiB)]
    parts.append(compressor.flush())
    member = b"".join(parts)
    return member * (size // member_size)


def brotli_bomb(size: int = BOMB_SIZE) -> bytes:
    """A brotli body of ~2 KB that inflates to `size` bytes of spaces, compressed streaming."""
    chunk = b" " * MiB
    compressor = brotli.Compressor(quality=5)
    parts = [compressor.process(chunk) for _ in range(size // MiB)]
    parts.append(compressor.finish())
    return b"".join(parts)


def rss(title: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, link) items."""
    entries = "".join(
        f"<item><title>{html.escape(t)}</title><link>{html.escape(link)}</link>"
        f"<guid isPermaLink='true'>{html.escape(link)}</guid>"
        "<pubDate>Fri, 20 Nov 2026 08:00:00 +0100</pubDate></item>"
        for t, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>http://127.0.0.1/</link>"
        f"<description>hostile</description>{entries}</channel></rss>"
    ).encode()


def plain_article(path: str) -> bytes:
    """A title-less article page with enough prose to be one; its text names `path`, so two
    paths never share a text (and are never taken for duplicates of each other)."""
    words = " ".join(path.strip("/").replace("/", " ").replace("-", " ").split())
    return (
        '<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"></head><body>'
        "<main><article>"
        f"<p>Dieser ruhige Bericht steht unter der Adresse {html.escape(path)} und erzählt "
        "von einem Tag, an dem im Hafen nichts Besonderes geschah.</p>"
        f"<p>Die Stichworte dieser Seite lauten {html.escape(words)}, und mehr ist über sie "
        "nicht zu sagen, außer dass der Himmel grau und das Wasser ruhig blieb.</p>"
        "</article></main></body></html>"
    ).encode()


NO_ARTICLE = (
    b'<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>Start</title></head>'
    b"<body><header><nav><ul>"
    + b"".join(
        b'<li><a href="/%s/">%s</a></li>' % (s.encode(), s.title().encode())
        for s in ("politik", "wirtschaft", "sport", "kultur", "wissen", "panorama")
    )
    + b'</ul></nav></header><main><ul class="teaser"><li><a href="/politik/">Mehr</a></li>'
    b'</ul><form><input name="q"><button>Suche</button></form></main>'
    b"<footer><a href='/impressum'>Impressum</a> <a href='/datenschutz'>Datenschutz</a>"
    b"</footer></body></html>"
)

# A real PDF's first bytes and structure, binary comment line and all.
PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    + random.Random(1).randbytes(64 * 1024)
    + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up on a bomb, a hang or a trickle is what these paths are for.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class HostileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 whose paths misbehave as the module says."""

    def __init__(self, *, secret_file: Path) -> None:
        self.requests: list[str] = []
        self.sent: dict[str, int] = {}  # body bytes written per huge path
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.documents: dict[str, tuple[str, bytes]] = {}
        self._gzip_bomb = gzip_bomb()
        self._brotli_bomb = brotli_bomb()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self._add_xml_documents(secret_file)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    # -- documents ---------------------------------------------------------------------

    def add_feed(self, name: str, paths: list[str]) -> str:
        """An RSS feed at /feeds/NAME.xml listing `paths` of this server; returns its URL."""
        items = [(f"{name}: {p}", self.base + p) for p in paths]
        self.documents[f"/feeds/{name}.xml"] = (RSS, rss(name, items))
        return f"{self.base}/feeds/{name}.xml"

    def add_shared_feed(self, name: str, data: bytes, origin: bytes, content_type: str) -> str:
        """Serve a real feed at /shared/NAME with its `origin` links moved to /NAME/ here, so
        nothing leaves loopback (the bytes are otherwise untouched); returns its URL."""
        prefix = f"{self.base}/{name}/".encode()
        self.documents[f"/shared/{name}"] = (content_type, data.replace(origin, prefix))
        return f"{self.base}/shared/{name}"

    def _add_xml_documents(self, secret_file: Path) -> None:
        base = self.base
        self.documents["/malformed.xml"] = (
            RSS,
            # Mismatched and unclosed tags, a bare "&", an undefined entity: not well-formed,
            # but its one item is readable, as real broken feeds often are.
            (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                "<title>Broken & proud</title><item><title>Tom &amp Jerry &nbsp; <b>bold"
                f"</title><link>{base}/ok/malformed.html</link></i></item></chanel></rss>"
            ).encode(),
        )
        whole = rss(
            "truncated",
            [("first", f"{base}/ok/truncated-1.html"), ("second", f"{base}/ok/truncated-2.html")],
        )
        # Cut inside the second item: the first one is whole.
        second = whole.index(b"<item>", whole.index(b"<item>") + 1)
        self.documents["/truncated.xml"] = (RSS, whole[: second + 20])
        # Nine levels of tenfold expansion: 20 GB of "ha" from one entity reference.
        levels = ['<!ENTITY l0 "hahahahahahahahahaha">']
        levels += [f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)]
        self.documents["/billion-laughs.xml"] = (
            RSS,
            (
                '<?xml version="1.0"?><!DOCTYPE rss [' + "".join(levels) + "]>"
                "<rss version='2.0'><channel><title>&l9;</title><item><title>&l9;</title>"
                f"<link>{base}/ok/laughs.html</link><description>&l9;</description>"
                "</item></channel></rss>"
            ).encode(),
        )
        # External entities: a local file, our secret file, a URL here, and an external DTD
        # here. None may be read or fetched (the server records every path it is asked for).
        self.documents["/xxe.xml"] = (
            RSS,
            (
                '<?xml version="1.0"?>'
                f'<!DOCTYPE rss SYSTEM "{base}/xxe/external.dtd" ['
                '<!ENTITY passwd SYSTEM "file:///etc/passwd">'
                f'<!ENTITY secret SYSTEM "{secret_file.as_uri()}">'
                f'<!ENTITY remote SYSTEM "{base}/xxe/remote-entity">'
                f'<!ENTITY % dtd SYSTEM "{base}/xxe/parameter.dtd"> %dtd;'
                "]><rss version='2.0'><channel><title>&passwd;&secret;</title>"
                "<item><title>XXE &passwd; &secret; &remote;</title>"
                f"<link>{base}/ok/xxe.html?leak=&secret;</link>"
                "<description>&passwd; &secret; &remote;</description></item>"
                "</channel></rss>"
            ).encode(),
        )

    # -- serving -----------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append(h.path)
        path = h.path.split("?", 1)[0]
        stem, _, ext = path.rpartition(".")
        ctype = RSS if ext == "xml" else HTML
        behaviours: dict[str, Callable[[], None]] = {
            "/gzip-bomb": lambda: self._send(h, 200, ctype, self._gzip_bomb, encoding="gzip"),
            "/brotli-bomb": lambda: self._send(h, 200, ctype, self._brotli_bomb, encoding="br"),
            "/huge-with-length": lambda: self._huge(h, ctype, chunked=False),
            "/huge-chunked": lambda: self._huge(h, ctype, chunked=True),
            "/hang": self._hang,
            "/trickle": lambda: self._trickle(h, ctype),
            "/loop-a": lambda: self._redirect(h, f"/loop-b.{ext}"),
            "/loop-b": lambda: self._redirect(h, f"/loop-a.{ext}"),
            "/empty": lambda: self._send(h, 200, ctype, b""),
            "/pdf": lambda: self._send(h, 200, "application/pdf", PDF),
            "/binary-as-html": lambda: self._send(
                h, 200, HTML, random.Random(2).randbytes(256 * 1024)
            ),
            "/no-article": lambda: self._send(h, 200, HTML, NO_ARTICLE),
        }
        if path in self.documents:
            self._send(h, 200, *self.documents[path])
        elif stem in behaviours:
            behaviours[stem]()
        elif ext == "html":
            self._send(h, 200, HTML, plain_article(path))
        else:
            self._send(h, 404, "text/plain", b"not found")

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        ctype: str,
        body: bytes,
        *,
        encoding: str | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        if encoding:
            h.send_header("Content-Encoding", encoding)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        self._write(h, body)

    def _redirect(self, h: BaseHTTPRequestHandler, location: str) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _hang(self) -> None:
        """The request has been read; no answer ever comes (until the server closes)."""
        self.closing.wait()

    def _huge(self, h: BaseHTTPRequestHandler, ctype: str, *, chunked: bool) -> None:
        """HUGE_SIZE bytes, 64 KiB at a time, until sent or the client hangs up."""
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(HUGE_SIZE))
        h.end_headers()
        chunk = b"<p>" + b"x" * (64 * 1024 - 8) + b"</p>\n\n"
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
        path, sent = h.path, 0
        with self.lock:
            self.sent[path] = 0
        while sent < HUGE_SIZE and not self.closing.is_set():
            if not self._write(h, framed):
                return
            sent += len(chunk)
            with self.lock:
                self.sent[path] = sent
        if chunked:
            self._write(h, b"0\r\n\r\n")
        h.close_connection = True

    def _trickle(self, h: BaseHTTPRequestHandler, ctype: str) -> None:
        """Headers at once, then one byte of a never-ending document every TRICKLE_EVERY."""
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Connection", "close")
        h.end_headers()
        body = b"<rss version='2.0'><channel><title>" if ctype == RSS else b"<html><body><p>"
        index = 0
        while not self.closing.is_set():
            byte = body[index : index + 1] or b"a"
            if not self._write(h, byte):
                return
            index += 1
            time.sleep(TRICKLE_EVERY)
        h.close_connection = True

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, data: bytes) -> bool:
        try:
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:  # the client gave up: that is the point
            h.close_connection = True
            return False
        return True

    # -- what happened -----------------------------------------------------------------

    def fetched(self, prefix: str) -> list[str]:
        """Paths (with query) asked for that start with `prefix`."""
        with self.lock:
            return [p for p in self.requests if p.startswith(prefix)]

    def close(self) -> None:
        self.closing.set()  # hanging and trickling handlers return
        self.httpd.shutdown()
        self.httpd.server_close()
