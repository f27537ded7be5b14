"""Real servers on loopback for tests: a news site, a webhook receiver, an SMTP sink."""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_NEWS = REPO.parent / "shared" / "data" / "news"
SHARED_SEED = REPO.parent / "shared" / "data" / "seed-article-fr-2023-09.txt"
FIXTURE_SITE = REPO / "tests" / "fixtures" / "site"
SHARED_MISSING = "../shared/data/news not present (a clone outside the workplace)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Page:
    path: str
    body: bytes
    title: str
    published: datetime
    content_type: str = "text/html; charset=utf-8"
    updated: datetime | None = None  # announced in the feed as atom:updated


class _Server:
    """A ThreadingHTTPServer in a thread; subclasses define handle(handler)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.handle(self)

            def do_POST(self) -> None:
                outer.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.host = host
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class NewsSite(_Server):
    """A news site: article pages and an RSS 2.0 feed at /feed.xml listing the published ones."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.pages: dict[str, Page] = {}
        self.in_feed: list[str] = []
        self.requests: list[str] = []
        self.not_modified: list[str] = []
        self.extra: dict[str, bytes] = {}  # other index documents: path -> body
        self.lock = threading.Lock()
        super().__init__(port, host)

    def add(self, page: Page, *, listed: bool = True) -> str:
        with self.lock:
            self.pages[page.path] = page
            if listed:
                self.in_feed.insert(0, page.path)
        return self.base + page.path

    def feed(self) -> bytes:
        items = []
        for path in self.in_feed:
            page = self.pages[path]
            items.append(
                "<item>"
                f"<title>{html.escape(page.title)}</title>"
                # Tracking parameters as real feeds add them: the article is still one article.
                f"<link>{self.base}{path}?utm_source=rss&amp;utm_medium=feed</link>"
                f"<guid isPermaLink='false'>{html.escape(path)}</guid>"
                f"<pubDate>{format_datetime(page.published)}</pubDate>"
                + (
                    f"<atom:updated>{page.updated.isoformat()}</atom:updated>"
                    if page.updated
                    else ""
                )
                + "</item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
            f"<title>Test site {self.port}</title><link>{self.base}/</link>"
            f"<description>test</description>{''.join(items)}</channel></rss>"
        ).encode()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self.lock:
            self.requests.append(path)
            page = self.pages.get(path)
            body = self.feed() if path == "/feed.xml" else self.extra.get(path)
        if body is not None:
            # Index documents carry an ETag and answer If-None-Match with 304, as news
            # sites' feeds do.
            etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
            if handler.headers.get("If-None-Match") == etag:
                with self.lock:
                    self.not_modified.append(path)
                handler.send_response(304)
                handler.send_header("ETag", etag)
                handler.end_headers()
                return
            handler.send_response(200)
            handler.send_header("Content-Type", _content_type(path))
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("ETag", etag)
            handler.end_headers()
            handler.wfile.write(body)
        elif page is not None:
            self._send(handler, 200, page.content_type, page.body)
        else:
            self._send(handler, 404, "text/plain", b"not found")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def fetched(self, path: str) -> int:
        with self.lock:
            return self.requests.count(path)


def _content_type(path: str) -> str:
    if path == "/feed.xml":
        return "application/rss+xml; charset=utf-8"
    if path.endswith(".gz"):
        return "application/gzip"
    if path.endswith(".xml"):
        return "application/xml; charset=utf-8"
    if path.endswith(".txt"):
        return "text/plain; charset=utf-8"
    return "text/html; charset=utf-8"


class Receiver(_Server):
    """An HTTP endpoint that records what apprise's json:// plugin posts to it."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = status
        self.cond = threading.Condition()
        super().__init__(port)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        if self.status == 200:
            with self.cond:
                self.posts.append(json.loads(raw or b"{}"))
                self.cond.notify_all()
        handler.send_response(self.status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.posts) >= count, timeout)
            return list(self.posts)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it accepts."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = message_from_bytes(envelope.content, policy=policy.default)
                with sink.cond:
                    sink.messages.append(msg)  # type: ignore[arg-type]
                    sink.cond.notify_all()
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self, to: str = "desk@example.org") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=newshound@example.org&to={to}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def close(self) -> None:
        self.controller.stop()


def html_page(title: str, paragraphs: list[str], *, lang: str = "de", published: datetime) -> bytes:
    """A minimal article page around text (used for the shared seed article, stored as text)."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f'<meta property="article:published_time" content="{published.isoformat()}">'
        f"</head><body><header><nav><a href='/'>Start</a></nav></header><main><article>"
        f"<h1>{html.escape(title)}</h1>{body}</article></main>"
        "<footer>Impressum</footer></body></html>"
    ).encode()


def fixture_pages() -> Iterator[Page]:
    """The project's own small article pages (tests/fixtures/site/*.html, written for the tests)."""
    for number, path in enumerate(sorted(FIXTURE_SITE.glob("*.html"))):
        text = path.read_text("utf-8")
        title = text.split("<title>", 1)[1].split("</title>", 1)[0]
        yield Page(
            path=f"/news/{path.name}",
            body=text.encode(),
            title=html.unescape(title),
            published=datetime(2026, 11, 20, 8, number, tzinfo=UTC),
        )


def shared_pages() -> Iterator[tuple[Page, dict[str, Any]]]:
    """Every real page in ../shared/data/news with its ground truth, and the seed article."""
    for truth_path in sorted((SHARED_NEWS / "articles").glob("*.json")):
        truth = json.loads(truth_path.read_text("utf-8"))
        body = gzip.decompress((SHARED_NEWS / truth["html_file"]).read_bytes())
        published = (
            datetime.fromisoformat(truth["date"])
            if truth.get("date")
            else datetime(2024, 1, 1, tzinfo=UTC)
        )
        yield (
            Page(f"/{truth['id']}.html", body, truth.get("title") or truth["id"], published),
            truth,
        )
    lines = [line.strip() for line in SHARED_SEED.read_text("utf-8").splitlines() if line.strip()]
    title = lines[0].removeprefix("date 2023-09").strip()
    seed_truth = {"id": "seed", "title": title, "body": "\n\n".join(lines[1:]), "language": "de"}
    published = datetime(2023, 9, 12, 6, 0, tzinfo=UTC)
    yield (
        Page("/seed.html", html_page(title, lines[1:], published=published), title, published),
        seed_truth,
    )
