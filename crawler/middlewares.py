"""Downloader middlewares for politeness: robots.txt kept across polls, and sites that ask us
to wait (429/503 with Retry-After) left alone until they said."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.httpobj import urlparse_cached

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.crawl import Runtime

log = logging.getLogger("newshound.crawl")

ROBOTS_TTL = 24 * 3600.0
MAX_RETRY_AFTER = timedelta(hours=24)


class ForbiddenByRobots(IgnoreRequest):
    """robots.txt disallows the URL: a refusal for good, not a failure to retry."""


class CachedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt handling, with each parsed file kept for a day.

    Every poll is a new crawler, and Scrapy's middleware would fetch robots.txt again each
    time: an unchanged feed would cost two requests instead of one 304.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._cache: dict[str, tuple[Any, float]] = crawler.settings["NEWSHOUND_RUNTIME"].robots
        crawler.signals.connect(self._remember, signal=signals.robots_parsed)

    def _remember(self, robotparser: Any, request: Request) -> None:
        self._cache[urlparse_cached(request).netloc] = (robotparser, time.monotonic())

    def process_request_2(self, rp: Any, request: Request) -> None:
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest as exc:
            raise ForbiddenByRobots(str(exc)) from None

    async def robot_parser(self, request: Request) -> Any:
        cached = self._cache.get(urlparse_cached(request).netloc)
        if cached is not None and time.monotonic() - cached[1] < ROBOTS_TTL:
            return cached[0]
        return await super().robot_parser(request)


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """When a Retry-After header (seconds or an HTTP date) says to come back, capped at a day."""
    if not value:
        return None
    value = value.strip()
    try:
        until = now + timedelta(seconds=max(0, int(value)))
    except ValueError:
        try:
            until = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
    return min(until, now + MAX_RETRY_AFTER)


class BackedOff(IgnoreRequest):
    """The site asked us to wait (Retry-After); the request is for later, not refused."""


class RetryAfterMiddleware:
    """Honours 429 and 503 with Retry-After: the site is backed off for every source until
    then, instead of being retried at once."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler.settings["NEWSHOUND_RUNTIME"])

    def process_request(self, request: Request) -> None:
        host = urlparse_cached(request).netloc
        until = self.runtime.backoff.get(host)
        if until is None:
            return
        if until <= self.runtime.clock():
            del self.runtime.backoff[host]
            return
        raise BackedOff(f"{host} asked to wait until {until:%H:%M:%S} UTC (Retry-After)")

    def process_response(self, request: Request, response: Response) -> Response:
        if response.status not in (429, 503):
            return response
        header = response.headers.get(b"Retry-After")
        now = self.runtime.clock()
        until = retry_after(header.decode("latin-1") if header else None, now)
        if until is None or until <= now:
            return response
        host = urlparse_cached(request).netloc
        self.runtime.backoff[host] = until
        log.warning(
            "%s answered %d: backing off until %s UTC", host, response.status, f"{until:%H:%M:%S}"
        )
        raise BackedOff(
            f"{host} answered {response.status}, asked to wait until {until:%H:%M:%S} UTC"
        )
