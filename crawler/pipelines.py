"""Item pipeline stages: canonicalize, extract, dedup, match, store. Each drops with a named
reason, so the crawl's stats say per source why items stopped."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from alerts.matcher import Document
from alerts.outbox import NewAlert
from alerts.render import AlertContent, merge_also_in
from crawler import neardup
from crawler.extract import Extracted, decode_html, extract_article
from crawler.extract import NotAnArticle as ExtractionFailed
from crawler.items import ArticleItem
from crawler.store import NewArticle, Revision, Saved, StoryHints, text_fingerprint
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
            item.extracted, item.signature = await asyncio.get_running_loop().run_in_executor(
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
    """The same article again, from the same source, is dropped; the same story from
    another outlet goes on and is stored as a copy in that story (see StorePipeline), so
    its topics are not alerted twice."""

    def process_item(self, item: ArticleItem) -> ArticleItem:
        if item.revision_of is not None:
            return item  # a new fetch of a stored article: StorePipeline compares them
        store = self.runtime.store
        extracted = item.extracted
        assert extracted is not None and item.signature is not None
        # The feed's link was checked before the fetch; the final URL after redirects and
        # the page's own rel=canonical (an AMP page's regular version, a syndicated copy's
        # original) may name a stored article too, as may its exact text.
        others = [u for u in (item.url, extracted.canonical) if u and u != item.feed_url]
        window = timedelta(seconds=self.runtime.config.stories.window)
        item.story = StoryHints(
            urls=others,
            fingerprint=text_fingerprint(extracted.text),
            signature=item.signature.to_bytes(),
            bands=neardup.band_keys(item.signature),
            since=self.runtime.clock() - window,
            same=_near_duplicate,
        )
        exact = store.find_story(replace(item.story, signature=None, bands=()))
        if exact is not None and exact.source == item.source:
            store.remember_skipped([item.feed_url, item.url], "same article as a stored one")
            raise Duplicate(f"source {item.source}: {item.feed_url} is an article stored already")
        return item


# Below this estimated Jaccard similarity to the stored version, a text counts as changed.
REVISION_TEXT_SIMILARITY = 0.9


def _near_duplicate(a: bytes, b: bytes) -> float | None:
    """Similarity of two stored signatures when they tell the same story, else None."""
    first, second = neardup.Signature.from_bytes(a), neardup.Signature.from_bytes(b)
    return neardup.similarity(first, second) if neardup.same_story(first, second) else None


class MatchPipeline(_Stage):
    def process_item(self, item: ArticleItem) -> ArticleItem:
        assert item.extracted is not None
        extracted = item.extracted
        item.hits = self.runtime.matcher.match_document(
            Document(
                title=extracted.title or item.entry_title or "",
                text=extracted.text,
                url=item.url,
                source=item.source,
                authors=tuple(extracted.authors),
                language=extracted.language,
            )
        )
        return item


class StorePipeline(_Stage):
    def process_item(self, item: ArticleItem) -> ArticleItem:
        extracted = item.extracted
        assert extracted is not None
        title = extracted.title or item.entry_title
        published = extracted.published or item.entry_published
        signature = item.signature
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
            signature=signature.to_bytes() if signature else None,
            bands=neardup.band_keys(signature) if signature else (),
            listed_updated=item.listed_updated,
        )
        if item.revision_of is not None:
            self._store_revision(item, article)
            return item
        outlet = extracted.outlet or item.source
        config = self.runtime.config
        copies = {t.name: t.copies for t in config.topics}
        alerted = 0

        def alerts(saved: Saved) -> list[NewAlert]:
            nonlocal alerted
            out: list[NewAlert] = []
            for topic, hit in item.hits:
                content = AlertContent(
                    topic=topic,
                    title=title or "",
                    url=item.url,
                    outlet=outlet,
                    published=published,
                    terms=hit.terms,
                    snippets=hit.snippets,
                )
                for channel in self.runtime.routes[topic]:
                    if (topic, channel) not in saved.alerted:
                        out.append(
                            NewAlert(
                                topic, channel, saved.story_key, content.to_json(), saved.article_id
                            )
                        )
                        alerted += 1
                    elif copies.get(topic) == "digest":
                        out.append(self._copies_note(saved, topic, channel, content))
            return out

        saved = self.runtime.store.save_article(article, alerts, story=item.story)
        if saved is None:
            raise Duplicate(f"source {item.source}: {item.url}: stored meanwhile")
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("newshound/stored")
        stats.inc_value("newshound/alerts", alerted)
        if not saved.first_in_story:
            stats.inc_value("newshound/copies")
        return item

    def _store_revision(self, item: ArticleItem, article: NewArticle) -> None:
        """A stored article fetched again because its listing says it changed: kept as a
        revision when its headline or (past a threshold) its text did; topics that ask for
        it (`on_update: alert`) hear what changed."""
        assert item.revision_of is not None and item.signature is not None
        new_signature = item.signature
        on_update = {t.name for t in self.runtime.config.topics if t.on_update == "alert"}

        def changed(old_title: str | None, old_text: str, old_sig: bytes | None) -> str | None:
            title = " ".join((old_title or "").split()) != " ".join((article.title or "").split())
            if old_sig is not None:
                similar = neardup.similarity(neardup.Signature.from_bytes(old_sig), new_signature)
                text = similar < REVISION_TEXT_SIMILARITY
            else:
                text = text_fingerprint(old_text) != text_fingerprint(article.text)
            return " and ".join(w for w, c in (("title", title), ("text", text)) if c) or None

        def alerts(revision: Revision) -> list[NewAlert]:
            was = f"Updated ({revision.changed} changed)"
            if "title" in revision.changed and revision.old_title:
                was += f"; the headline was: {revision.old_title}"
            out = []
            for topic, hit in item.hits:
                if topic not in on_update:
                    continue
                content = AlertContent(
                    topic=topic,
                    title=article.title or "",
                    url=item.url,
                    outlet=article.outlet or item.source,
                    published=article.modified or article.published,
                    terms=hit.terms,
                    snippets=(was, *hit.snippets),
                ).to_json()
                out += [
                    NewAlert(topic, ch, revision.key, content, revision.article_id)
                    for ch in self.runtime.routes[topic]
                ]
            return out

        revision = self.runtime.store.save_revision(item.revision_of, article, changed, alerts)
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("newshound/revisions" if revision else "newshound/unchanged")

    def _copies_note(
        self, saved: Saved, topic: str, channel: str, content: AlertContent
    ) -> NewAlert:
        """One follow-up note per story, topic, channel and digest interval, gathering the
        outlets that carry the story after it was alerted; sent when the interval ends."""
        every = self.runtime.config.stories.digest_every
        now = self.runtime.clock().timestamp()
        bucket = int(now // every)
        note = replace(content, also_in=((content.outlet, content.url),), follow_up=True)
        return NewAlert(
            topic,
            channel,
            f"{saved.story_key}:copies:{bucket}",
            note.to_json(),
            saved.article_id,
            due_at=datetime.fromtimestamp((bucket + 1) * every, UTC),
            merge=merge_also_in,
        )


def _extract(body: bytes, url: str, encoding: str | None) -> tuple[Extracted, neardup.Signature]:
    extracted = extract_article(decode_html(body, encoding), url)
    return extracted, neardup.signature(extracted.text)
