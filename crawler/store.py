"""Article storage over SQLAlchemy (SQLite or PostgreSQL): schema, upgrades, and the one write
that stores an article together with its alerts."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    false,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateColumn

from alerts import outbox as outbox_schema
from alerts.outbox import NewAlert, Outbox, UTCDateTime, utcnow
from crawler.urls import identity_url

log = logging.getLogger("newshound.store")

SCHEMA_VERSION = 7

metadata = MetaData()

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("source", String(200), nullable=False),
    Column("title", Text, nullable=True),
    Column("authors", JSON, nullable=False),
    Column("published", UTCDateTime, nullable=True),
    Column("language", String(8), nullable=True),
    Column("text", Text, nullable=False),
    # Exact fingerprint of the normalised text: the same article at an unrelated URL.
    Column("text_hash", String(64), nullable=False, index=True),
    Column("discovered_at", UTCDateTime, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    # Schema version 2:
    Column("modified", UTCDateTime, nullable=True),
    Column("description", Text, nullable=True),
    Column("image", String(2048), nullable=True),
    Column("outlet", String(200), nullable=True),
    Column("paywalled", Boolean, nullable=False, default=False, server_default=false()),
    # Schema version 4:
    Column("story_id", Integer, nullable=True, index=True),
    Column("signature", LargeBinary, nullable=True),  # crawler.neardup.Signature
    # Schema version 5: when the listing (feed, sitemap) said it last changed.
    Column("listed_updated", UTCDateTime, nullable=True),
)

# Earlier versions of edited articles: what an article said before each change.
article_revisions = Table(
    "article_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", Integer, nullable=False, index=True),
    Column("title", Text, nullable=True),  # before the change
    Column("text", Text, nullable=False),  # before the change
    Column("changed", String(40), nullable=False),  # "title", "text" or "title and text"
    Column("revised_at", UTCDateTime, nullable=False),
)

# A story: the same news in one or more articles (copies, syndication, light edits).
stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=True),
    Column("first_article_id", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# LSH band keys of recent articles' signatures: a new article's candidate copies are the
# articles sharing a key, found by index on disk rather than held in memory.
article_bands = Table(
    "article_bands",
    metadata,
    Column("band", Integer, nullable=False),
    Column("key", BigInteger, nullable=False),
    Column("article_id", Integer, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False, index=True),
    Index("ix_article_bands_key", "band", "key"),
)

# Every URL an article is known under (feed link, final URL after redirects, its
# rel=canonical), as identity keys (crawler.urls.identity_url): what "already stored,
# never fetch again" is checked against.
article_urls = Table(
    "article_urls",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
)

# URLs seen and skipped for good (no article, another language, refused by robots.txt):
# like stored ones, never fetched again.
skipped_urls = Table(
    "skipped_urls",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("reason", String(200), nullable=False),
    Column("skipped_at", UTCDateTime, nullable=False),
)

# ETag / Last-Modified per fetched index document (feed, sitemap, listing page), so an
# unchanged one costs a 304 and no parsing.
http_validators = Table(
    "http_validators",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("etag", String(512), nullable=True),
    Column("last_modified", String(128), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Per source: the adaptive poll interval, the outcome of the last poll, and what discovery
# found for a `site:` source.
source_state = Table(
    "source_state",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("interval", Float, nullable=True),
    Column("last_poll_at", UTCDateTime, nullable=True),
    Column("last_new_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("discovery", JSON, nullable=True),
    Column("discovered_at", UTCDateTime, nullable=True),
    # Schema version 6: for reports to the ops channel.
    Column("failing_since", UTCDateTime, nullable=True),
    Column("reported", String(200), nullable=True),  # the last report's key, sent once
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
)


def _add_columns(conn: Connection, table: Table, *names: str) -> None:
    """ALTER TABLE ... ADD COLUMN for columns the table's definition above already has."""
    for name in names:
        ddl = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")


def _add_article_details(conn: Connection) -> None:
    """Version 2: what extraction learnt beyond title, authors and text."""
    _add_columns(conn, articles, "modified", "description", "image", "outlet", "paywalled")


def _identity_keys(conn: Connection) -> None:
    """Version 3: known URLs are kept as identity keys (http/https, www., AMP folded)."""
    for table, value in ((article_urls, "article_id"), (skipped_urls, "reason")):
        rows = conn.execute(select(table.c.url, table.c[value])).all()
        conn.execute(table.delete())
        keyed = {identity_url(url): other for url, other in rows}
        if keyed:
            extra = {"skipped_at": utcnow()} if table is skipped_urls else {}
            conn.execute(insert(table), [{"url": k, value: v, **extra} for k, v in keyed.items()])


def _add_story_columns(conn: Connection) -> None:
    """Version 4: articles belong to stories and keep their near-duplicate signature."""
    _add_columns(conn, articles, "story_id", "signature")
    conn.exec_driver_sql("CREATE INDEX ix_articles_story_id ON articles (story_id)")


def _add_listed_updated(conn: Connection) -> None:
    """Version 5: articles remember when their listing last said they changed."""
    _add_columns(conn, articles, "listed_updated")


def _add_source_reports(conn: Connection) -> None:
    """Version 6: sources remember since when they fail and what was reported of it."""
    _add_columns(conn, source_state, "failing_since", "reported")


def _index_sent_alerts(conn: Connection) -> None:
    """Version 7: delivered alerts are found by when they were sent."""
    conn.exec_driver_sql("CREATE INDEX ix_outbox_sent ON outbox (sent_at)")


# version -> step that brings a database from version-1 to version. Append, never edit.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _add_article_details,
    3: _identity_keys,
    4: _add_story_columns,
    5: _add_listed_updated,
    6: _add_source_reports,
    7: _index_sent_alerts,
}


class StoreError(Exception):
    """The database cannot be used (unreachable, or written by a newer newshound)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoryMatch:
    story_id: int
    article_id: int
    similarity: float  # 1.0 for the same URL or the same text
    source: str


@dataclass(frozen=True)
class StoryHints:
    """What tells which stored story an article belongs to."""

    urls: Sequence[str] = ()  # URLs the article is known under besides its own listing
    fingerprint: str = ""  # text_fingerprint() of its text
    signature: bytes | None = None  # crawler.neardup.Signature.to_bytes()
    bands: Sequence[tuple[int, int]] = ()
    since: datetime = _EPOCH
    same: Callable[[bytes, bytes], float | None] = lambda a, b: None


@dataclass(frozen=True)
class Saved:
    """A stored article, as the alerts built in its transaction need to know it."""

    article_id: int
    story_id: int
    first_in_story: bool
    # (topic, channel) pairs that have an alert for this story already.
    alerted: frozenset[tuple[str, str]]

    @property
    def story_key(self) -> str:
        return f"story:{self.story_id}"


# A listing's "updated" time must be this much later than what was fetched to count as a
# change: feeds round times and restate them.
REVISION_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class Revision:
    article_id: int
    story_id: int
    revision_id: int
    changed: str
    old_title: str | None

    @property
    def key(self) -> str:
        return f"story:{self.story_id}:revision:{self.revision_id}"


@dataclass(frozen=True)
class NewArticle:
    url: str
    aliases: Sequence[str]
    source: str
    title: str | None
    authors: Sequence[str]
    published: datetime | None
    language: str | None
    text: str
    discovered_at: datetime
    modified: datetime | None = None
    description: str | None = None
    image: str | None = None
    outlet: str | None = None
    paywalled: bool = False
    signature: bytes | None = None
    bands: Sequence[tuple[int, int]] = ()
    listed_updated: datetime | None = None


def text_fingerprint(text: str) -> str:
    """SHA-256 of the text with case and whitespace folded."""
    folded = re.sub(r"\s+", " ", text).strip().casefold()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below open transactions, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A plain BEGIN that reads then writes fails at once with "database is locked"
        # when another connection writes; BEGIN IMMEDIATE waits for the busy timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Store:
    """The database: articles, schema version, and the outbox that shares its transactions."""

    def __init__(self, url: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.engine = _sqlite_engine(url)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
            self._migrate()
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.printable_url}: {_short(exc)}") from exc
        self.clock = clock
        self.outbox = Outbox(self.engine, clock)

    @property
    def printable_url(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn)
            outbox_schema.metadata.create_all(conn)
            current = conn.execute(select(schema_version.c.version)).scalar()
            if current is None:
                conn.execute(insert(schema_version).values(version=SCHEMA_VERSION))
                return
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.printable_url} has schema version {current}, newer than "
                    f"this newshound ({SCHEMA_VERSION}): upgrade newshound"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                log.info("upgrading database schema to version %d", version)
                MIGRATIONS[version](conn)
            if current < SCHEMA_VERSION:
                conn.execute(schema_version.update().values(version=SCHEMA_VERSION))

    def close(self) -> None:
        self.engine.dispose()

    def known_urls(self, urls: Iterable[str]) -> set[str]:
        """Which of these URLs name an article stored, or a page skipped, already: compared
        by identity (crawler.urls.identity_url), one query per batch."""
        by_key: dict[str, list[str]] = {}
        for url in urls:
            by_key.setdefault(identity_url(url), []).append(url)
        keys = list(by_key)
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                for table in (article_urls, skipped_urls):
                    query = select(table.c.url).where(table.c.url.in_(chunk))
                    for key in conn.execute(query).scalars():
                        found.update(by_key[key])
        return found

    def add_alias(self, alias: str, url: str) -> None:
        """Remember that `alias` leads to the stored article at `url`."""
        with self.engine.begin() as conn:
            article_id = conn.execute(
                select(article_urls.c.article_id).where(article_urls.c.url == identity_url(url))
            ).scalar()
            if article_id is not None:
                conn.execute(
                    self._insert_ignore(article_urls).values(
                        url=identity_url(alias), article_id=article_id
                    )
                )

    def remember_skipped(self, urls: Iterable[str], reason: str) -> None:
        """Remember URLs that lead to no storable article, so they are not fetched again."""
        now = self.clock()
        keys = dict.fromkeys(identity_url(u) for u in urls)
        rows = [{"url": key, "reason": reason[:200], "skipped_at": now} for key in keys]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self._insert_ignore(skipped_urls), rows)

    def _insert_ignore(self, table: Table) -> Any:
        """INSERT that skips rows whose unique key exists (both backends speak ON CONFLICT)."""
        if self.engine.dialect.name == "postgresql":
            return pg_insert(table).on_conflict_do_nothing()
        return sqlite_insert(table).on_conflict_do_nothing()

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) last seen for an index document, or (None, None)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(http_validators.c.etag, http_validators.c.last_modified).where(
                    http_validators.c.url == url
                )
            ).first()
        return (row[0], row[1]) if row else (None, None)

    def save_validators(self, found: dict[str, tuple[str | None, str | None]]) -> None:
        if not found:
            return
        now = self.clock()
        with self.engine.begin() as conn:
            for url, (etag, last_modified) in found.items():
                conn.execute(http_validators.delete().where(http_validators.c.url == url))
                if etag or last_modified:
                    conn.execute(
                        insert(http_validators).values(
                            url=url, etag=etag, last_modified=last_modified, updated_at=now
                        )
                    )

    def source_state(self, source: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(source_state).where(source_state.c.source == source)).first()
        return dict(row._mapping) if row else {}

    def update_source_state(self, source: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                source_state.update().where(source_state.c.source == source).values(**values)
            )
            if not done.rowcount:
                row = {"failures": 0, **values, "source": source}
                conn.execute(insert(source_state).values(**row))

    def report(self, alert: NewAlert) -> None:
        """Queue one operator note (enqueued like any alert, so it is retried and kept)."""
        with self.engine.begin() as conn:
            self.outbox.enqueue(conn, [alert])

    def has_text(self, fingerprint: str) -> bool:
        with self.engine.connect() as conn:
            query = select(articles.c.id).where(articles.c.text_hash == fingerprint).limit(1)
            return conn.execute(query).first() is not None

    def find_story(self, hints: StoryHints) -> StoryMatch | None:
        with self.engine.connect() as conn:
            return self._find_story(conn, hints)

    def _find_story(self, conn: Connection, hints: StoryHints) -> StoryMatch | None:
        """The story of a stored article this one is a copy of: one it names by URL, one
        with exactly its text, else the most similar article stored since `hints.since`
        among those sharing an LSH band key (`hints.same` judges two signatures)."""
        keys = [identity_url(u) for u in hints.urls]
        exact = None
        if keys:
            exact = conn.execute(
                select(articles.c.story_id, articles.c.id, articles.c.source)
                .join(article_urls, article_urls.c.article_id == articles.c.id)
                .where(article_urls.c.url.in_(keys))
                .limit(1)
            ).first()
        if exact is None and hints.fingerprint:
            exact = conn.execute(
                select(articles.c.story_id, articles.c.id, articles.c.source)
                .where(articles.c.text_hash == hints.fingerprint)
                .order_by(articles.c.id)
                .limit(1)
            ).first()
        if exact is not None and exact[0] is not None:
            return StoryMatch(exact[0], exact[1], 1.0, exact[2])
        if not hints.bands or hints.signature is None:
            return None
        candidates = conn.execute(
            select(articles.c.id, articles.c.story_id, articles.c.signature, articles.c.source)
            .where(
                articles.c.id.in_(
                    select(article_bands.c.article_id)
                    .where(tuple_(article_bands.c.band, article_bands.c.key).in_(hints.bands))
                    .where(article_bands.c.stored_at >= hints.since)
                )
            )
            .where(articles.c.signature.is_not(None))
        ).all()
        best: StoryMatch | None = None
        for article_id, story_id, stored, source in candidates:
            score = hints.same(hints.signature, stored)
            if (
                score is not None
                and story_id is not None
                and (best is None or score > best.similarity)
            ):
                best = StoryMatch(story_id, article_id, score, source)
        return best

    def revisions_due(self, listed: Sequence[tuple[str, datetime]]) -> dict[str, int]:
        """Of these (URL, listed as changed at) pairs for stored articles, those whose
        listing changed after the article was fetched: URL -> article id."""
        if not listed:
            return {}
        by_key = {identity_url(url): (url, when) for url, when in listed}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    article_urls.c.url,
                    articles.c.id,
                    articles.c.listed_updated,
                    articles.c.published,
                    articles.c.stored_at,
                )
                .join(articles, articles.c.id == article_urls.c.article_id)
                .where(article_urls.c.url.in_(list(by_key)))
            ).all()
        due: dict[str, int] = {}
        for key, article_id, listed_updated, published, stored_at in rows:
            url, when = by_key[key]
            seen = listed_updated or published or stored_at
            if when > seen + REVISION_SLACK:
                due[url] = int(article_id)
        return due

    def save_revision(
        self,
        article_id: int,
        new: NewArticle,
        changed: Callable[[str | None, str, bytes | None], str | None],
        alerts: Callable[[Revision], Iterable[NewAlert]],
    ) -> Revision | None:
        """Record a new fetch of a stored article. `changed(old title, old text, old
        signature)` says what changed ("title", "text", ...) or None; when something did,
        the old version is kept as a revision, the article updated and `alerts` enqueued."""
        now = self.clock()
        with self.engine.begin() as conn:
            old = conn.execute(
                select(
                    articles.c.title, articles.c.text, articles.c.signature, articles.c.story_id
                ).where(articles.c.id == article_id)
            ).first()
            if old is None:
                return None
            what = changed(old.title, old.text, old.signature)
            update_values: dict[str, Any] = {"listed_updated": new.listed_updated}
            if what is None:
                conn.execute(
                    articles.update().where(articles.c.id == article_id).values(**update_values)
                )
                return None
            revision_id = conn.execute(
                insert(article_revisions)
                .values(
                    article_id=article_id,
                    title=old.title,
                    text=old.text,
                    changed=what,
                    revised_at=now,
                )
                .returning(article_revisions.c.id)
            ).scalar_one()
            conn.execute(
                articles.update()
                .where(articles.c.id == article_id)
                .values(
                    title=new.title,
                    text=new.text,
                    text_hash=text_fingerprint(new.text),
                    signature=new.signature,
                    modified=new.modified,
                    **update_values,
                )
            )
            revision = Revision(
                article_id=article_id,
                story_id=int(old.story_id or 0),
                revision_id=int(revision_id),
                changed=what,
                old_title=old.title,
            )
            self.outbox.enqueue(conn, alerts(revision))
        return revision

    def prune_bands(self, before: datetime) -> int:
        """Forget band keys older than the comparison window: the table stays bounded."""
        with self.engine.begin() as conn:
            done = conn.execute(article_bands.delete().where(article_bands.c.stored_at < before))
        return int(done.rowcount or 0)

    def story_outlets(self, story_id: int) -> list[tuple[str, str]]:
        """(outlet, url) of every article of a story, first stored first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles.c.outlet, articles.c.source, articles.c.url)
                .where(articles.c.story_id == story_id)
                .order_by(articles.c.id)
            ).all()
        return [(outlet or source, url) for outlet, source, url in rows]

    def save_article(
        self,
        article: NewArticle,
        alerts: Callable[[Saved], Iterable[NewAlert]],
        story: StoryHints | None = None,
    ) -> Saved | None:
        """Store an article in its story (found from `story`, else a new one) and enqueue
        its alerts, all in one transaction, so two copies saved at once cannot both start
        a story (SQLite's BEGIN IMMEDIATE and a PostgreSQL advisory lock serialise it).

        `alerts` gets the stored article (with the alerts its story has already) and
        returns what to enqueue. Returns None when the URL was stored meanwhile (the
        unique constraint decides, not a racy read). Any other failure rolls back the
        whole transaction and raises.
        """
        now = self.clock()
        row = {
            "url": article.url,
            "source": article.source,
            "title": article.title,
            "authors": list(article.authors),
            "published": article.published,
            "language": article.language,
            "text": article.text,
            "text_hash": text_fingerprint(article.text),
            "discovered_at": article.discovered_at,
            "stored_at": now,
            "modified": article.modified,
            "description": article.description,
            "image": article.image,
            "outlet": article.outlet,
            "paywalled": article.paywalled,
            "signature": article.signature,
            "listed_updated": article.listed_updated,
        }
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7461636)")
            match = self._find_story(conn, story) if story else None
            story_id = match.story_id if match else None
            article_id = conn.execute(
                self._insert_ignore(articles).values(**row).returning(articles.c.id)
            ).scalar()
            if article_id is None:
                return None
            first = story_id is None
            if story_id is None:
                story_id = conn.execute(
                    insert(stories)
                    .values(title=article.title, first_article_id=article_id, created_at=now)
                    .returning(stories.c.id)
                ).scalar_one()
            conn.execute(
                articles.update().where(articles.c.id == article_id).values(story_id=story_id)
            )
            urls = dict.fromkeys(identity_url(u) for u in (article.url, *article.aliases))
            conn.execute(
                self._insert_ignore(article_urls),
                [{"url": u, "article_id": article_id} for u in urls],
            )
            if article.bands:
                conn.execute(
                    insert(article_bands),
                    [
                        {"band": band, "key": key, "article_id": article_id, "stored_at": now}
                        for band, key in article.bands
                    ],
                )
            saved = Saved(
                article_id=int(article_id),
                story_id=int(story_id),
                first_in_story=first,
                alerted=self.outbox.alerted(conn, f"story:{story_id}"),
            )
            self.outbox.enqueue(conn, alerts(saved))
        return saved

    def article_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count(articles.c.id))).scalar_one())


def _short(exc: BaseException) -> str:
    """First line of a driver error, without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
