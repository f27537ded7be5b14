"""The sitemap spider: sitemaps and sitemap indexes (gzip or not) and Google News sitemaps in,
requests for recent articles not stored yet out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import lxml.etree
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.gz import gunzip

from crawler.spiders.base import Candidate, SourceSpider
from crawler.urls import canonical_url

MAX_DEPTH = 2  # index -> index -> urlset
MAX_CHILD_SITEMAPS = 20  # per index, newest first


@dataclass(frozen=True)
class SitemapEntry:
    url: str
    date: datetime | None  # news:publication_date, else lastmod
    title: str | None = None
    language: str | None = None
    lastmod: datetime | None = None


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_sitemap(body: bytes) -> tuple[str, list[SitemapEntry]]:
    """("index" | "urlset" | "", entries) from sitemap bytes (already gunzipped).

    Parsed with lxml directly rather than Scrapy's Sitemap helper, which drops the nested
    news:publication_date, news:title and news:language of Google News sitemaps. Entities
    are never resolved and nothing is fetched.
    """
    parser = lxml.etree.iterparse(
        BytesIO(body),
        events=("end",),
        recover=True,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
    )
    kind = ""
    entries: list[SitemapEntry] = []
    try:
        for _, elem in parser:
            tag = _local(elem.tag)
            if tag in ("sitemapindex", "urlset"):
                kind = "index" if tag == "sitemapindex" else "urlset"
            if tag not in ("url", "sitemap"):
                continue
            fields = {_local(child.tag): (child.text or "").strip() for child in elem.iter()}
            loc = fields.get("loc", "")
            if loc.startswith(("http://", "https://")):
                entries.append(
                    SitemapEntry(
                        url=loc,
                        date=_date(fields.get("publication_date")) or _date(fields.get("lastmod")),
                        title=fields.get("title") or None,
                        language=(fields.get("language") or "")[:2].lower() or None,
                        lastmod=_date(fields.get("lastmod")),
                    )
                )
            elem.clear()
    except lxml.etree.XMLSyntaxError:
        pass  # keep what was read before the damage
    return kind, entries


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


class SitemapSpider(SourceSpider):
    name = "sitemap"

    async def start(self) -> AsyncIterator[Any]:
        yield self.sitemap_request(self.source.url, depth=0)

    def sitemap_request(self, url: str, depth: int) -> Request:
        return self.index_request(url, self.parse_sitemap, cb_kwargs={"depth": depth})

    def parse_sitemap(self, response: Response, depth: int) -> Iterable[Request]:
        body = self.index_body(response, "sitemap")
        if body is None:
            return
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.runtime.limits.feed_size)
            except Exception as exc:
                self.fail(f"sitemap {response.url}: cannot gunzip ({type(exc).__name__})")
                return
        kind, entries = parse_sitemap(body)
        if not kind:
            self.fail(f"sitemap {response.url}: not a sitemap")
            return
        oldest = datetime.now(UTC) - timedelta(seconds=self.source.max_age)
        recent = [e for e in entries if e.date is None or e.date >= oldest]
        if kind == "index":
            if depth >= MAX_DEPTH:
                return
            recent.sort(key=lambda e: e.date or oldest, reverse=True)
            for child in recent[:MAX_CHILD_SITEMAPS]:
                yield self.sitemap_request(child.url, depth + 1)
            return
        # An entry without any date cannot be shown to be recent: a plain sitemap of a whole
        # site would otherwise be fetched page by page, years back.
        yield from self.article_requests(
            Candidate(canonical_url(e.url), e.title, e.date, e.language, e.lastmod)
            for e in recent
            if e.date is not None
        )
