"""What travels through the item pipeline: one fetched article page and what is learnt of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alerts.topics import Hit
    from crawler.extract import Extracted
    from crawler.neardup import Signature
    from crawler.store import StoryHints


@dataclass
class ArticleItem:
    source: str
    feed_url: str  # canonical URL the feed listed (what "already stored" is checked against)
    url: str  # URL the page was finally fetched from, after redirects
    body: bytes = field(repr=False)  # a page; never in a log line
    encoding: str | None
    discovered_at: datetime
    entry_title: str | None = None
    entry_published: datetime | None = None
    languages: tuple[str, ...] = ()  # the source wants only these (empty: all)
    listed_updated: datetime | None = None  # when the listing said it last changed
    revision_of: int | None = None  # the stored article this page is a new fetch of
    extracted: Extracted | None = None
    hits: list[tuple[str, Hit]] = field(default_factory=list)
    signature: Signature | None = None  # of the text, for near-duplicate stories
    story: StoryHints | None = None  # what tells the stored story it may be a copy of
