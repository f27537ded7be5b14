"""The site spider: just a homepage. Its feeds and sitemaps are discovered (link rel=alternate,
robots.txt `Sitemap:` lines, the usual paths), kept for a day, and polled as their own kinds
are; a site with neither is read as a listing page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.http import HtmlResponse, Response
from scrapy.utils.sitemap import sitemap_urls_from_robots

from crawler.spiders.base import HANDLED_STATUSES
from crawler.spiders.feed import FeedSpider, parse_feed, response_headers
from crawler.spiders.page import PageSpider
from crawler.spiders.sitemap import SitemapSpider, parse_sitemap

log = logging.getLogger("newshound.crawl")

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
USUAL_FEEDS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.rss", "/feeds/all")
USUAL_SITEMAPS = ("/sitemap-news.xml", "/news-sitemap.xml", "/sitemap_news.xml", "/sitemap.xml")
REDISCOVER_AFTER = timedelta(days=1)
MAX_FEEDS = 3
MAX_SITEMAPS = 2


@dataclass
class Discovery:
    """What a homepage offers, and which of it newshound polls."""

    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    reachable: bool = True  # the homepage answered

    @property
    def use(self) -> dict[str, list[str]]:
        if self.feeds:
            return {"feeds": self.feeds[:MAX_FEEDS]}
        if self.sitemaps:
            # A news sitemap lists just the recent articles: prefer it to a whole-site one.
            news = [u for u in self.sitemaps if "news" in u.lower()]
            return {"sitemaps": (news or self.sitemaps)[:MAX_SITEMAPS]}
        return {"pages": []}

    def to_json(self) -> dict[str, Any]:
        return {"feeds": self.feeds, "sitemaps": self.sitemaps, "reachable": self.reachable}


def feeds_in_html(response: HtmlResponse) -> list[str]:
    """Feed URLs a page announces with <link rel="alternate" type="application/rss+xml">."""
    found = []
    for link in response.css("link[rel~=alternate][href]"):
        kind = (link.attrib.get("type") or "").lower().split(";")[0].strip()
        if kind in FEED_TYPES:
            found.append(urljoin(response.url, link.attrib["href"]))
    return list(dict.fromkeys(found))


class SiteSpider(FeedSpider, SitemapSpider, PageSpider):
    name = "site"
    unreachable: str | None = None  # set by fetch() when a site does not answer at all

    async def start(self) -> AsyncIterator[Any]:
        state = self.runtime.store.source_state(self.source.name)
        found = state.get("discovery")
        at = state.get("discovered_at")
        if found is None or at is None or self.runtime.clock() - at > REDISCOVER_AFTER:
            discovery = await self.discover()
            self.runtime.store.update_source_state(
                self.source.name, discovery=discovery.to_json(), discovered_at=self.runtime.clock()
            )
        else:
            discovery = Discovery(**found)
        use = discovery.use
        for url in use.get("feeds", []):
            yield self.index_request(url, self.parse_feed)
        for url in use.get("sitemaps", []):
            yield self.sitemap_request(url, depth=0)
        if "pages" in use:
            yield self.index_request(self.source.url, self.parse_listing)

    async def fetch(self, url: str) -> Response | None:
        """One discovery request through the downloader (robots.txt, limits and all); None
        unless it answered 200. A network failure is remembered in `unreachable`."""
        request = Request(
            url,
            dont_filter=True,
            meta={
                "handle_httpstatus_list": HANDLED_STATUSES,
                "download_maxsize": self.runtime.limits.feed_size,
            },
        )
        try:
            assert self.crawler.engine is not None
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:
            log.debug("source %s: discovery %s: %r", self.source.name, url, exc)
            self.unreachable = f"{url}: {type(exc).__name__}: {exc}"
            return None
        return response if response.status == 200 else None

    async def discover(self) -> Discovery:
        discovery = Discovery()
        self.unreachable = None
        home = await self.fetch(self.source.url)
        if self.unreachable:
            # No answer at all: probing a dozen paths would only wait a dozen times.
            discovery.reachable = False
            self.fail(f"site {self.unreachable}")
            return discovery
        if isinstance(home, HtmlResponse):
            discovery.feeds = feeds_in_html(home)
        parts = urlsplit(self.source.url)
        root = f"{parts.scheme}://{parts.netloc}"
        robots = await self.fetch(f"{root}/robots.txt")
        if robots is not None:
            discovery.sitemaps = list(dict.fromkeys(sitemap_urls_from_robots(robots.body, root)))
        if not discovery.feeds and not discovery.sitemaps:
            # Guess only what the site does not declare.
            for path in USUAL_FEEDS:
                response = await self.fetch(root + path)
                if (
                    response is not None
                    and parse_feed(response.body, response_headers(response))[0]
                ):
                    discovery.feeds.append(response.url)
                    break
        if not discovery.feeds and not discovery.sitemaps:
            for path in USUAL_SITEMAPS:
                response = await self.fetch(root + path)
                if response is not None and parse_sitemap(response.body)[0]:
                    discovery.sitemaps.append(response.url)
                    break
        log.info(
            "source %s: discovered %d feeds, %d sitemaps",
            self.source.name,
            len(discovery.feeds),
            len(discovery.sitemaps),
        )
        return discovery


class DiscoverSpider(SiteSpider):
    """Discovery alone, for `newshound discover`: finds, stores nothing, fetches no article."""

    name = "discover"
    found: Discovery | None = None

    async def start(self) -> AsyncIterator[Any]:
        self.found = await self.discover()
        return
        yield  # an async generator that yields nothing
