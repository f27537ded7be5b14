"""The feed spider: one RSS/RDF/Atom feed in, a request for each article not stored yet out."""

from __future__ import annotations

import calendar
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
from scrapy import Request, Spider
from scrapy.http import Response
from twisted.python.failure import Failure
from w3lib.encoding import http_content_type_encoding

from crawler.items import ArticleItem
from crawler.urls import canonical_url

log = logging.getLogger("newshound.crawl")

HTML_TYPES = (b"text/html", b"application/xhtml+xml")


@dataclass(frozen=True)
class FeedEntry:
    url: str  # canonical
    title: str | None
    published: datetime | None


def parse_feed(body: bytes, headers: dict[str, str] | None = None) -> tuple[list[FeedEntry], str]:
    """Entries of a feed from bytes already fetched; second value is a parse problem or "".

    feedparser only parses here: it never fetches (its fetcher has no size limit).
    """
    if not body.strip():
        return [], "empty response"
    parsed = feedparser.parse(body, response_headers=headers or {})
    entries: dict[str, FeedEntry] = {}
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if not link.startswith(("http://", "https://")):
            guid = entry.get("id") or ""
            link = guid if guid.startswith(("http://", "https://")) else ""
        if not link:
            continue
        url = canonical_url(link)
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
        entries.setdefault(
            url, FeedEntry(url, (entry.get("title") or "").strip() or None, published)
        )
    problem = ""
    if not entries and not parsed.get("version"):
        # A feed with no items is fine; a page that is no feed at all is a broken source.
        exc = parsed.get("bozo_exception")
        problem = "not an RSS, RDF or Atom feed" + (f" ({exc})" if exc else "")
    return list(entries.values()), problem


class FeedSpider(Spider):
    name = "feed"

    def __init__(
        self,
        source_name: str,
        feed_url: str,
        known_urls: Callable[[Iterable[str]], set[str]],
        max_articles: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=f"feed:{source_name}", **kwargs)
        self.source_name = source_name
        self.feed_url = feed_url
        self.known_urls = known_urls
        self.max_articles = max_articles
        self.error: str | None = None
        self.entries = 0
        self.new_entries = 0

    async def start(self) -> AsyncIterator[Any]:
        yield Request(
            self.feed_url,
            callback=self.parse_feed,
            errback=self.feed_failed,
            dont_filter=True,
            meta={"handle_httpstatus_all": True},
        )

    def fail(self, message: str) -> None:
        # Reported once, with the poll's result, by whoever ran the poll.
        self.error = message

    def parse_feed(self, response: Response) -> Iterable[Request]:
        if response.status >= 400:
            self.fail(f"feed {self.feed_url}: HTTP {response.status}")
            return
        headers = {
            k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
            for k, v in response.headers.items()
        }
        entries, problem = parse_feed(response.body, headers)
        if problem:
            self.fail(f"feed {self.feed_url}: {problem}")
            return
        self.entries = len(entries)
        known = self.known_urls(e.url for e in entries)
        fresh = [e for e in entries if e.url not in known][: self.max_articles]
        self.new_entries = len(fresh)
        now = datetime.now(UTC)
        for entry in fresh:
            yield Request(
                entry.url,
                callback=self.parse_article,
                errback=self.article_failed,
                cb_kwargs={"entry": entry, "discovered_at": now},
                meta={"handle_httpstatus_all": True},
            )

    def parse_article(
        self, response: Response, entry: FeedEntry, discovered_at: datetime
    ) -> Iterable[ArticleItem]:
        if response.status >= 400:
            log.warning(
                "source %s: article %s: HTTP %d", self.source_name, entry.url, response.status
            )
            self.crawler.stats.inc_value("newshound/article_http_error")
            return
        content_type = response.headers.get(b"Content-Type") or b"text/html"
        if not content_type.split(b";")[0].strip().lower().startswith(HTML_TYPES):
            log.warning(
                "source %s: article %s: not HTML (%s)",
                self.source_name,
                entry.url,
                content_type.decode("latin-1"),
            )
            self.crawler.stats.inc_value("newshound/article_not_html")
            return
        yield ArticleItem(
            source=self.source_name,
            feed_url=entry.url,
            url=response.url,
            body=response.body,
            # Only the header's charset: Response.encoding would decode (and keep) the whole
            # body to guess; decode_html does that once, from the bytes, in the pipeline.
            encoding=http_content_type_encoding(content_type.decode("latin-1")),
            discovered_at=discovered_at,
            entry_title=entry.title,
            entry_published=entry.published,
        )

    def feed_failed(self, failure: Failure) -> None:
        self.fail(f"feed {self.feed_url}: {describe_failure(failure)}")

    def article_failed(self, failure: Failure) -> None:
        url = getattr(getattr(failure, "request", None), "url", "?")
        log.warning("source %s: article %s: %s", self.source_name, url, describe_failure(failure))
        self.crawler.stats.inc_value("newshound/article_fetch_error")


def describe_failure(failure: Failure) -> str:
    """One line for a download failure: its kind and message, no traceback."""
    exc = failure.value
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {message}" if message else name
