"""Crawls inside this process: Scrapy's settings, one poll of one source, and the asyncio reactor
that Scrapy and the scheduler share."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerts.channels import LOG_CHANNEL
from alerts.outbox import utcnow
from alerts.topics import Query, TopicMatcher
from crawler.spiders.base import SourceSpider

if TYPE_CHECKING:
    from crawler.config import Config, Limits, Source
    from crawler.store import Store

log = logging.getLogger("newshound.crawl")

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

VERSION = "0.1"

# Settings that do not depend on the config; scrapy_settings() adds those that do.
SCRAPY_SETTINGS: dict[str, Any] = {
    "TWISTED_REACTOR": ASYNCIO_REACTOR,
    "RETRY_TIMES": 1,
    "CONCURRENT_REQUESTS": 16,
    # Items in the pipeline at once: each holds a page and, while extracted, its parsed
    # tree; more than the extraction thread can work on only costs memory.
    "CONCURRENT_ITEMS": 4,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOGSTATS_INTERVAL": 0,
    # Meta refresh would decode every page in full to look for one tag; news articles are
    # reached by feed, sitemap or listing links, not refresh pages.
    "METAREFRESH_ENABLED": False,
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_MAX_DELAY": 60,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
    "DOWNLOADER_MIDDLEWARES": {
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
        "crawler.middlewares.CachedRobotsTxtMiddleware": 100,
        # Above RetryMiddleware (550): a 429/503 with Retry-After backs the site off
        # instead of being retried at once.
        "crawler.middlewares.RetryAfterMiddleware": 560,
    },
}


def user_agent(contact: str | None) -> str:
    base = f"newshound/{VERSION} (self-hosted media monitoring"
    return f"{base}; +{contact})" if contact else f"{base})"


def scrapy_settings(config: Config) -> dict[str, Any]:
    """Scrapy's settings for this config: politeness and news-sized hard limits.

    Scrapy's own defaults (1 GiB bodies, 180 s per request) would let one bad server hold
    a poll, and the daemon's shutdown, for minutes.
    """
    from crawler.pipelines import ITEM_PIPELINES

    limits, crawl = config.limits, config.crawl
    return {
        **SCRAPY_SETTINGS,
        "ITEM_PIPELINES": ITEM_PIPELINES,
        "USER_AGENT": user_agent(crawl.contact),
        "ROBOTSTXT_OBEY": crawl.robots,
        "DOWNLOAD_DELAY": crawl.delay,
        "AUTOTHROTTLE_START_DELAY": max(crawl.delay, 0.1),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_site,
        "DOWNLOAD_TIMEOUT": limits.timeout,
        "DOWNLOAD_MAXSIZE": limits.page_size,
        "DOWNLOAD_WARNSIZE": limits.page_size // 2,
        "REDIRECT_MAX_TIMES": limits.redirects,
    }


@dataclass
class Runtime:
    """What spiders, middlewares and pipeline stages share for the life of the process
    (handed over in Scrapy's settings)."""

    config: Config
    store: Store
    matcher: TopicMatcher
    routes: Mapping[str, tuple[str, ...]]  # topic -> channel names
    clock: Callable[[], datetime] = utcnow
    # Extraction is CPU-bound and holds the GIL: one thread keeps it off the event loop;
    # more threads would not be faster, only hold more parsed pages (and malloc arenas).
    extraction: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="extract")
    )
    # Sites that asked us to wait (429/503 Retry-After): host -> until when.
    backoff: dict[str, datetime] = field(default_factory=dict)
    # Parsed robots.txt per host with when it was fetched, kept across polls.
    robots: dict[str, tuple[Any, float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config, store: Store) -> Runtime:
        return cls(
            config=config, store=store, matcher=compile_topics(config), routes=topic_routes(config)
        )

    def take(self, config: Config) -> None:
        """A reloaded config's topics and routes. The matcher is kept if no query changed:
        compiling many topics takes a while, and it remembers the words it met."""
        queries = [(t.name, t.query) for t in config.topics]
        if queries != [(t.name, t.query) for t in self.config.topics]:
            self.matcher = compile_topics(config)
        self.config, self.routes = config, topic_routes(config)

    @property
    def limits(self) -> Limits:
        return self.config.limits

    @property
    def articles_per_poll(self) -> int:
        return self.config.limits.articles_per_poll

    def close(self) -> None:
        self.extraction.shutdown(wait=True, cancel_futures=True)

    def __deepcopy__(self, memo: dict[int, Any]) -> Runtime:
        # Scrapy deep-copies its settings for each crawler; the store is shared, not copied.
        return self


def compile_topics(config: Config) -> TopicMatcher:
    return TopicMatcher([(t.name, Query.parse(t.query)) for t in config.topics])


def topic_routes(config: Config) -> dict[str, tuple[str, ...]]:
    """Topic -> the channels it notifies (the log when none)."""
    return {t.name: tuple(t.notify) or (LOG_CHANNEL,) for t in config.topics}


@dataclass(frozen=True)
class PollResult:
    source: str
    entries: int
    new: int
    stored: int
    alerts: int
    dropped: Mapping[str, int]
    error: str | None
    seconds: float
    not_modified: bool = False
    revisions: int = 0

    def summary(self) -> str:
        if self.error:
            return f"{self.source}: failed: {self.error}"
        if self.not_modified and not self.entries:
            return f"{self.source}: not modified (304) in {self.seconds:.1f}s"
        text = (
            f"{self.source}: {self.entries} entries, {self.new} new, {self.stored} stored, "
            f"{self.alerts} alerts"
        )
        if self.revisions:
            text += f", {self.revisions} revised"
        if self.dropped:
            text += " (skipped: " + ", ".join(f"{n} {k}" for k, n in self.dropped.items()) + ")"
        return f"{text} in {self.seconds:.1f}s"


def spider_class(kind: str) -> type[SourceSpider]:
    from crawler.spiders.feed import FeedSpider
    from crawler.spiders.page import PageSpider
    from crawler.spiders.site import SiteSpider
    from crawler.spiders.sitemap import SitemapSpider

    spiders: dict[str, type[SourceSpider]] = {
        "feed": FeedSpider,
        "sitemap": SitemapSpider,
        "page": PageSpider,
        "site": SiteSpider,
    }
    return spiders[kind]


class Poller:
    """Polls sources with one AsyncCrawlerRunner; crawls run concurrently on the shared loop."""

    def __init__(self, runtime: Runtime, settings: Mapping[str, Any] | None = None) -> None:
        from scrapy.crawler import AsyncCrawlerRunner

        merged = {**scrapy_settings(runtime.config), **(settings or {})}
        merged["NEWSHOUND_RUNTIME"] = runtime
        self.runtime = runtime
        self.runner = AsyncCrawlerRunner(merged)

    async def poll(self, source: Source) -> PollResult:
        started = time.monotonic()
        crawler = self.runner.create_crawler(spider_class(source.kind))
        error: str | None = None
        try:
            await self.runner.crawl(crawler, source=source)
        except Exception as exc:  # a bug or a broken setting; the other sources go on
            log.exception("source %s: crawl failed", source.name)
            error = f"crawl failed: {type(exc).__name__}: {exc}"
        spider = crawler.spider
        stats = crawler.stats.get_stats() if crawler.stats else {}
        prefix = "item_dropped_reasons_count/"
        dropped = {
            _reason_name(k[len(prefix) :]): int(v) for k, v in stats.items() if k.startswith(prefix)
        }
        for key in (
            "article_http_error",
            "article_not_html",
            "article_fetch_error",
            "article_empty",
            "article_forbidden",
        ):
            if stats.get(f"newshound/{key}"):
                dropped[key.replace("_", " ")] = int(stats[f"newshound/{key}"])
        error = error or getattr(spider, "error", None)
        complete = (
            isinstance(spider, SourceSpider)
            and error is None
            and not spider.article_failures
            and not spider.capped
            and stats.get("finish_reason") == "finished"
        )
        if complete and isinstance(spider, SourceSpider):
            # Everything the documents listed is stored: next time they may answer 304.
            self.runtime.store.save_validators(spider.validators)
        return PollResult(
            source=source.name,
            entries=getattr(spider, "entries", 0),
            new=getattr(spider, "new_entries", 0),
            stored=int(stats.get("newshound/stored", 0)),
            alerts=int(stats.get("newshound/alerts", 0)),
            dropped=dropped,
            error=error,
            seconds=time.monotonic() - started,
            not_modified=bool(getattr(spider, "not_modified", 0)),
            revisions=int(stats.get("newshound/revisions", 0)),
        )

    async def stop(self) -> None:
        """Stop every crawl: downloads under way finish, pipelines close."""
        await self.runner.stop()


def _reason_name(name: str) -> str:
    # "Duplicate" -> "duplicate", "NotAnArticle" -> "not an article"
    out = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return out


def run_on_reactor(main: Callable[[], Awaitable[int]]) -> int:
    """Run `main` on Scrapy's asyncio reactor and return its exit code.

    The reactor is installed once, before anything imports twisted.internet.reactor, and
    runs without Twisted's signal handlers: the daemon handles SIGTERM itself so that
    crawls and deliveries finish cleanly.
    """
    from scrapy.utils.reactor import install_reactor

    install_reactor(ASYNCIO_REACTOR)
    from twisted.internet import reactor as installed
    from twisted.internet.defer import Deferred

    reactor: Any = installed  # twisted's stubs describe the interface, not the object

    outcome: dict[str, int] = {}

    async def wrapper() -> None:
        try:
            outcome["code"] = await main()
        except BaseException:
            log.exception("newshound stopped on an unexpected error")
            outcome["code"] = 70
        finally:
            reactor.callLater(0, reactor.stop)

    def start() -> None:
        Deferred.fromFuture(asyncio.ensure_future(wrapper()))

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return outcome.get("code", 70)
