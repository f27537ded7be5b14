"""What every source spider shares: conditional fetches of index documents (feeds, sitemaps,
listing pages), the choice of which listed articles to fetch, and fetching them."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider
from scrapy.http import Response
from twisted.python.failure import Failure
from w3lib.encoding import http_content_type_encoding

from crawler.items import ArticleItem

if TYPE_CHECKING:
    from crawler.config import Source
    from crawler.crawl import Runtime

log = logging.getLogger("newshound.crawl")

HTML_TYPES = (b"text/html", b"application/xhtml+xml")
# Statuses the callbacks see themselves; 3xx are left to RedirectMiddleware (and its limit).
HANDLED_STATUSES = [304, *range(400, 600)]


@dataclass(frozen=True)
class Candidate:
    """An article a source lists: its canonical URL and what the listing says of it."""

    url: str
    title: str | None = None
    published: datetime | None = None
    language: str | None = None
    updated: datetime | None = None  # when the listing says the article last changed
    revision_of: int | None = None  # the stored article this is a new fetch of


class SourceSpider(Spider):
    """Base of the spiders, one per kind of source; a subclass yields index requests in start()."""

    def __init__(self, source: Source, **kwargs: Any) -> None:
        super().__init__(name=f"{source.kind}:{source.name}", **kwargs)
        self.source = source
        self.error: str | None = None
        self.entries = 0  # articles listed by the source
        self.new_entries = 0  # of those, fetched because not stored yet
        self.not_modified = 0  # index documents answered 304
        self.article_failures = 0
        self.capped = False  # more new articles were listed than one poll fetches
        # ETag/Last-Modified seen this poll; saved only once the poll has stored what the
        # documents listed, or a crash would turn the next poll into a 304 with articles lost.
        self.validators: dict[str, tuple[str | None, str | None]] = {}
        self._include = [re.compile(p) for p in source.include]
        self._exclude = [re.compile(p) for p in source.exclude]
        self._budget: int | None = None

    @property
    def runtime(self) -> Runtime:
        return self.crawler.settings["NEWSHOUND_RUNTIME"]

    def fail(self, message: str) -> None:
        # Reported once, with the poll's result, by whoever ran the poll.
        if self.error is None:
            self.error = message

    # -- index documents -------------------------------------------------------------

    def index_request(
        self,
        url: str,
        callback: Callable[..., Any],
        *,
        conditional: bool = True,
        cb_kwargs: dict[str, Any] | None = None,
    ) -> Request:
        headers: dict[str, str] = {}
        if conditional:
            etag, last_modified = self.runtime.store.validators(url)
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
        return Request(
            url,
            callback=callback,
            errback=self.index_failed,
            dont_filter=True,
            headers=headers,
            cb_kwargs=cb_kwargs or {},
            meta={
                "handle_httpstatus_list": HANDLED_STATUSES,
                "download_maxsize": self.runtime.limits.feed_size,
                "download_warnsize": self.runtime.limits.feed_size // 2,
            },
        )

    def index_body(self, response: Response, what: str) -> bytes | None:
        """The body of an index document; None when unchanged (304) or failed (recorded)."""
        if response.status == 304:
            self.not_modified += 1
            return None
        if response.status >= 400:
            self.fail(
                f"{what} {response.request.url if response.request else response.url}: "
                f"HTTP {response.status}"
            )
            return None
        url = response.request.url if response.request else response.url
        etag = _header(response, b"ETag")
        last_modified = _header(response, b"Last-Modified")
        self.validators[url] = (etag, last_modified)
        return response.body

    def index_failed(self, failure: Failure) -> None:
        url = _listed_url(failure) or self.source.url
        self.fail(f"{self.source.kind} {url}: {describe_failure(failure)}")

    # -- articles ----------------------------------------------------------------------

    def wanted(self, candidate: Candidate) -> bool:
        url = candidate.url
        if self._include and not any(p.search(url) for p in self._include):
            return False
        if any(p.search(url) for p in self._exclude):
            return False
        languages = self.source.language
        return not (languages and candidate.language and candidate.language[:2] not in languages)

    def article_requests(self, candidates: Iterable[Candidate]) -> Iterator[Request]:
        """Requests for the listed articles that are wanted and not stored yet, within the
        poll's article budget."""
        listed = list({c.url: c for c in candidates}.values())
        self.entries += len(listed)
        wanted = [c for c in listed if self.wanted(c)]
        known = self.runtime.store.known_urls(c.url for c in wanted)
        fresh = [c for c in wanted if c.url not in known]
        # A stored article the listing says changed since it was fetched: fetched again,
        # as a possible revision, after the new ones.
        revised = self.runtime.store.revisions_due(
            [(c.url, c.updated) for c in wanted if c.url in known and c.updated]
        )
        fresh += [replace(c, revision_of=revised[c.url]) for c in wanted if c.url in revised]
        if self._budget is None:
            self._budget = self.runtime.articles_per_poll
        if len(fresh) > self._budget:
            self.capped = True
            fresh = fresh[: self._budget]
        self._budget -= len(fresh)
        self.new_entries += len(fresh)
        now = datetime.now(UTC)
        for candidate in fresh:
            yield Request(
                candidate.url,
                callback=self.parse_article,
                errback=self.article_failed,
                # Listed URLs are deduplicated above; the dupefilter would only drop a
                # redirect loop's repeat silently, with no errback.
                dont_filter=True,
                cb_kwargs={"candidate": candidate, "discovered_at": now},
                meta={
                    "handle_httpstatus_list": HANDLED_STATUSES,
                    "download_maxsize": self.runtime.limits.page_size,
                    "download_warnsize": self.runtime.limits.page_size // 2,
                },
            )

    def parse_article(
        self, response: Response, candidate: Candidate, discovered_at: datetime
    ) -> Iterable[ArticleItem]:
        stats = self.crawler.stats
        assert stats is not None
        if response.status >= 400:
            log.warning(
                "source %s: article %s: HTTP %d", self.source.name, candidate.url, response.status
            )
            stats.inc_value("newshound/article_http_error")
            return
        content_type = _header(response, b"Content-Type") or "text/html"
        if not content_type.split(";")[0].strip().lower().encode().startswith(HTML_TYPES):
            log.warning(
                "source %s: article %s: not HTML (%s)",
                self.source.name,
                candidate.url,
                content_type[:80],
            )
            stats.inc_value("newshound/article_not_html")
            return
        if not response.body.strip():
            log.warning("source %s: article %s: empty body", self.source.name, candidate.url)
            stats.inc_value("newshound/article_empty")
            return
        yield ArticleItem(
            source=self.source.name,
            feed_url=candidate.url,
            url=response.url,
            body=response.body,
            # Only the header's charset: Response.encoding would decode (and keep) the whole
            # body to guess; decode_html does that once, from the bytes, in the pipeline.
            encoding=http_content_type_encoding(content_type),
            discovered_at=discovered_at,
            entry_title=candidate.title,
            entry_published=candidate.published,
            listed_updated=candidate.updated,
            revision_of=candidate.revision_of,
            languages=self.source.language,
        )

    def article_failed(self, failure: Failure) -> None:
        from crawler.middlewares import ForbiddenByRobots

        url = _listed_url(failure) or "?"
        stats = self.crawler.stats
        assert stats is not None
        if failure.check(ForbiddenByRobots):
            # Refused for good (robots.txt): remembered, so never asked for again.
            self.runtime.store.remember_skipped([url], describe_failure(failure))
            stats.inc_value("newshound/article_forbidden")
            return
        log.warning("source %s: article %s: %s", self.source.name, url, describe_failure(failure))
        self.article_failures += 1
        stats.inc_value("newshound/article_fetch_error")


def _listed_url(failure: Failure) -> str | None:
    """The URL the source listed, not where its redirects ended."""
    request = getattr(failure, "request", None)
    if request is None:
        return None
    return str((request.meta.get("redirect_urls") or [request.url])[0])


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def describe_failure(failure: Failure) -> str:
    """One line for a download failure: its kind and message, no traceback."""
    exc = failure.value
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    name = type(exc).__name__
    if not message and name == "DownloadCancelledError":
        # Scrapy cancels a body past download_maxsize without saying so.
        request = getattr(failure, "request", None)
        limit = request.meta.get("download_maxsize") if request is not None else None
        if limit:
            message = f"body larger than the size limit ({limit} bytes)"
    return f"{name}: {message}" if message else name
