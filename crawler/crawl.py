"""Crawls inside this process: Scrapy's settings, one poll of one source, and the asyncio reactor
that Scrapy and the scheduler share."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alerts.channels import LOG_CHANNEL
from alerts.topics import Query, TopicMatcher

if TYPE_CHECKING:
    from crawler.config import Config, Source
    from crawler.store import Store

log = logging.getLogger("newshound.crawl")

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

MiB = 1024 * 1024

SCRAPY_SETTINGS: dict[str, Any] = {
    "TWISTED_REACTOR": ASYNCIO_REACTOR,
    "USER_AGENT": "newshound/0.1 (self-hosted media monitoring)",
    # News-sized limits: Scrapy's defaults (1 GiB, 180 s) would let one bad server hold a
    # poll, and the daemon's shutdown, for minutes.
    "DOWNLOAD_TIMEOUT": 30,
    "DOWNLOAD_MAXSIZE": 20 * MiB,
    "DOWNLOAD_WARNSIZE": 5 * MiB,
    "REDIRECT_MAX_TIMES": 5,
    "RETRY_TIMES": 1,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
    # Items in the pipeline at once: each holds a page and, while extracted, its parsed
    # tree; more than the extraction threads can work on only costs memory.
    "CONCURRENT_ITEMS": 4,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOGSTATS_INTERVAL": 0,
    "ROBOTSTXT_OBEY": False,
    "METAREFRESH_ENABLED": False,
    "ITEM_PIPELINES": {},  # filled below, from crawler.pipelines
}


@dataclass
class Runtime:
    """What the pipeline stages share for the life of the process (handed over in settings)."""

    store: Store
    matcher: TopicMatcher
    routes: Mapping[str, tuple[str, ...]]  # topic -> channel names
    articles_per_poll: int = 100
    # Extraction is CPU-bound and holds the GIL: one thread keeps it off the event loop;
    # more threads would not be faster, only hold more parsed pages (and malloc arenas).
    extraction: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="extract")
    )

    @classmethod
    def from_config(cls, config: Config, store: Store) -> Runtime:
        topics = [(t.name, Query.parse(t.query)) for t in config.topics]
        routes = {t.name: tuple(t.notify) or (LOG_CHANNEL,) for t in config.topics}
        return cls(
            store=store,
            matcher=TopicMatcher(topics),
            routes=routes,
            articles_per_poll=config.limits.articles_per_poll,
        )

    def close(self) -> None:
        self.extraction.shutdown(wait=True, cancel_futures=True)

    def __deepcopy__(self, memo: dict[int, Any]) -> Runtime:
        # Scrapy deep-copies its settings for each crawler; the store is shared, not copied.
        return self


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

    def summary(self) -> str:
        if self.error:
            return f"{self.source}: failed: {self.error}"
        text = (
            f"{self.source}: {self.entries} entries, {self.new} new, {self.stored} stored, "
            f"{self.alerts} alerts"
        )
        if self.dropped:
            text += " (skipped: " + ", ".join(f"{n} {k}" for k, n in self.dropped.items()) + ")"
        return f"{text} in {self.seconds:.1f}s"


class Poller:
    """Polls sources with one AsyncCrawlerRunner; crawls run concurrently on the shared loop."""

    def __init__(self, runtime: Runtime, settings: Mapping[str, Any] | None = None) -> None:
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.pipelines import ITEM_PIPELINES

        merged = {**SCRAPY_SETTINGS, "ITEM_PIPELINES": ITEM_PIPELINES, **(settings or {})}
        merged["NEWSHOUND_RUNTIME"] = runtime
        self.runtime = runtime
        self.runner = AsyncCrawlerRunner(merged)

    async def poll(self, source: Source) -> PollResult:
        from crawler.spiders.feed import FeedSpider

        started = time.monotonic()
        crawler = self.runner.create_crawler(FeedSpider)
        error: str | None = None
        try:
            await self.runner.crawl(
                crawler,
                source_name=source.name,
                feed_url=source.feed,
                known_urls=self.runtime.store.known_urls,
                max_articles=self.runtime.articles_per_poll,
            )
        except Exception as exc:  # a bug or a broken setting; the other sources go on
            log.exception("source %s: crawl failed", source.name)
            error = f"crawl failed: {type(exc).__name__}: {exc}"
        spider = crawler.spider
        stats = crawler.stats.get_stats() if crawler.stats else {}
        prefix = "item_dropped_reasons_count/"
        dropped = {
            _reason_name(k[len(prefix) :]): int(v) for k, v in stats.items() if k.startswith(prefix)
        }
        for key in ("article_http_error", "article_not_html", "article_fetch_error"):
            if stats.get(f"newshound/{key}"):
                dropped[key.replace("_", " ")] = int(stats[f"newshound/{key}"])
        return PollResult(
            source=source.name,
            entries=getattr(spider, "entries", 0),
            new=getattr(spider, "new_entries", 0),
            stored=int(stats.get("newshound/stored", 0)),
            alerts=int(stats.get("newshound/alerts", 0)),
            dropped=dropped,
            error=error or getattr(spider, "error", None),
            seconds=time.monotonic() - started,
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
