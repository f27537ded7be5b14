"""The feed spider: an RSS, RDF or Atom feed in, a request for each article not stored yet out."""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import feedparser
from scrapy import Request
from scrapy.http import Response

from crawler.spiders.base import Candidate, SourceSpider
from crawler.urls import canonical_url


def parse_feed(body: bytes, headers: dict[str, str] | None = None) -> tuple[list[Candidate], str]:
    """Entries of a feed from bytes already fetched; second value is a parse problem or "".

    feedparser only parses here: it never fetches (its fetcher has no size limit).
    """
    if not body.strip():
        return [], "empty response"
    parsed = feedparser.parse(body, response_headers=headers or {})
    language = (parsed.feed.get("language") or "")[:2].lower() or None
    entries: dict[str, Candidate] = {}
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if not link.startswith(("http://", "https://")):
            guid = entry.get("id") or ""
            link = guid if guid.startswith(("http://", "https://")) else ""
        if not link:
            continue
        url = canonical_url(link)
        published = _when(entry.get("published_parsed") or entry.get("updated_parsed"))
        updated = _when(entry.get("updated_parsed")) if "updated_parsed" in entry else None
        title = (entry.get("title") or "").strip() or None
        entries.setdefault(url, Candidate(url, title, published, language, updated))
    problem = ""
    if not entries and not parsed.get("version"):
        # A feed with no items is fine; a page that is no feed at all is a broken source.
        exc = parsed.get("bozo_exception")
        problem = "not an RSS, RDF or Atom feed" + (f" ({exc})" if exc else "")
    return list(entries.values()), problem


def _when(stamp: Any) -> datetime | None:
    return datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None


def response_headers(response: Response) -> dict[str, str]:
    return {
        k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
        for k, v in response.headers.items()
    }


class FeedSpider(SourceSpider):
    name = "feed"

    async def start(self) -> AsyncIterator[Any]:
        yield self.index_request(self.source.url, self.parse_feed)

    def parse_feed(self, response: Response) -> Iterable[Request]:
        body = self.index_body(response, "feed")
        if body is None:
            return
        entries, problem = parse_feed(body, response_headers(response))
        if problem:
            self.fail(f"feed {response.url}: {problem}")
            return
        yield from self.article_requests(entries)
