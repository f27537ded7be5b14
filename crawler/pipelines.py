"""Item pipeline stages: canonicalize, extract, dedup, match, store. Each drops with a named
reason, so the crawl's stats say per source why items stopped."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Self

from scrapy.exceptions import DropItem

from alerts.outbox import NewAlert
from alerts.render import AlertContent
from crawler.extract import Extracted, decode_html, extract_article
from crawler.extract import NotAnArticle as ExtractionFailed
from crawler.items import ArticleItem
from crawler.store import NewArticle, text_fingerprint
from crawler.urls import canonical_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.runtime import Runtime

# The order lives here only; spaced so a stage can be inserted without renumbering.
ITEM_PIPELINES = {
    "crawler.pipelines.CanonicalizePipeline": 100,
    "crawler.pipelines.ExtractPipeline": 200,
    "crawler.pipelines.LanguagePipeline": 250,
    "crawler.pipelines.DedupPipeline": 300,
    "crawler.pipelines.MatchPipeline": 400,
    "crawler.pipelines.StorePipeline": 500,
}


class NotAnArticle(DropItem):
    """The page holds no article text."""


class OtherLanguage(DropItem):
    """The article is in a language the source does not want."""


class Duplicate(DropItem):
    """The article is stored already (same URL or same text)."""


class _Stage:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.runtime: Runtime = crawler.settings["NEWSHOUND_RUNTIME"]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)


class CanonicalizePipeline(_Stage):
    def process_item(self, item: ArticleItem) -> ArticleItem:
        # The final URL after redirects names the article.
        item.url = canonical_url(item.url)
        return item


class ExtractPipeline(_Stage):
    async def process_item(self, item: ArticleItem) -> ArticleItem:
        # Extraction is CPU-bound (~20 ms a page): off the event loop, so the scheduler
        # and deliveries keep their timing during a large crawl.
        try:
            item.extracted = await asyncio.get_running_loop().run_in_executor(
                self.runtime.extraction, _extract, item.body, item.url, item.encoding
            )
        except ExtractionFailed as exc:
            self.runtime.store.remember_skipped([item.feed_url, item.url], "not an article")
            raise NotAnArticle(f"source {item.source}: {item.url}: {exc}") from None
        item.body = b""  # the page is not needed past here; keep memory flat
        return item


class LanguagePipeline(_Stage):
    def process_item(self, item: ArticleItem) -> ArticleItem:
        assert item.extracted is not None
        language = item.extracted.language
        if item.languages and language and language not in item.languages:
            self.runtime.store.remember_skipped([item.feed_url, item.url], f"language {language}")
            raise OtherLanguage(f"source {item.source}: {item.url}: language {language}")
        return item


class DedupPipeline(_Stage):
    def process_item(self, item: ArticleItem) -> ArticleItem:
        store = self.runtime.store
        extracted = item.extracted
        assert extracted is not None
        # The feed's link was checked before the fetch; the final URL after redirects and
        # the page's own rel=canonical (an AMP page's regular version, a syndicated copy's
        # original) may name a stored article too.
        others = [u for u in (item.url, extracted.canonical) if u and u != item.feed_url]
        known = store.known_urls(others)
        if known:
            first = sorted(known)[0]
            store.add_alias(item.feed_url, first)
            raise Duplicate(f"source {item.source}: {item.feed_url} is the stored {first}")
        if store.has_text(text_fingerprint(extracted.text)):
            store.remember_skipped([item.feed_url, item.url], "same text as a stored article")
            raise Duplicate(f"source {item.source}: {item.url}: same text as a stored article")
        return item


class MatchPipeline(_Stage):
    def process_item(self, item: ArticleItem) -> ArticleItem:
        assert item.extracted is not None
        title = item.extracted.title or item.entry_title or ""
        item.hits = self.runtime.matcher.match(title, item.extracted.text)
        return item


class StorePipeline(_Stage):
    def process_item(self, item: ArticleItem) -> ArticleItem:
        extracted = item.extracted
        assert extracted is not None
        title = extracted.title or item.entry_title
        published = extracted.published or item.entry_published
        article = NewArticle(
            url=item.url,
            aliases=tuple(u for u in (item.feed_url, extracted.canonical) if u),
            source=item.source,
            title=title,
            authors=extracted.authors,
            published=published,
            language=extracted.language,
            text=extracted.text,
            discovered_at=item.discovered_at,
            modified=extracted.modified,
            description=extracted.description,
            image=extracted.image,
            outlet=extracted.outlet,
            paywalled=extracted.paywalled,
        )

        def alerts(article_id: int) -> list[NewAlert]:
            out: list[NewAlert] = []
            for topic, hit in item.hits:
                content: dict[str, Any] = AlertContent(
                    topic=topic,
                    title=title or "",
                    url=item.url,
                    outlet=extracted.outlet or item.source,
                    published=published,
                    terms=hit.terms,
                    snippets=hit.snippets,
                ).to_json()
                out.extend(
                    NewAlert(topic, channel, item.url, content, article_id)
                    for channel in self.runtime.routes[topic]
                )
            return out

        if self.runtime.store.save_article(article, alerts) is None:
            raise Duplicate(f"source {item.source}: {item.url}: stored meanwhile")
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("newshound/stored")
        stats.inc_value("newshound/alerts", sum(len(self.runtime.routes[t]) for t, _ in item.hits))
        return item


def _extract(body: bytes, url: str, encoding: str | None) -> Extracted:
    return extract_article(decode_html(body, encoding), url)
