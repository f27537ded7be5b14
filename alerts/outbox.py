"""The durable outbox: every alert is a row that stays until its channel has accepted it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Dialect

PENDING = "pending"
SENT = "sent"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

outbox_table = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("channel", String(200), nullable=False),
    # The article's identity (its canonical URL): with topic and channel it makes an
    # alert unique, so a crash between store and send can never enqueue it twice.
    Column("article_key", String(2048), nullable=False),
    Column("article_id", Integer, nullable=True),
    Column("content", JSON, nullable=False),
    Column("status", String(16), nullable=False, default=PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    UniqueConstraint("topic", "channel", "article_key", name="uq_outbox_alert"),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)


@dataclass(frozen=True)
class NewAlert:
    """An alert to enqueue: which topic fired on which article, for which channel."""

    topic: str
    channel: str
    article_key: str
    content: Mapping[str, Any]
    article_id: int | None = None
    due_at: datetime | None = None  # first attempt not before (a follow-up note waits)
    # A note that gathers: when a pending row has this key already, its content becomes
    # merge(old content, this content) instead of a second row.
    merge: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    channel: str
    article_key: str
    article_id: int | None
    content: Mapping[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class Backoff:
    """Exponential retry delays with jitter, so a recovering channel is not hit all at once."""

    first: float = 30.0
    maximum: float = 3600.0
    jitter: float = 0.1

    def delay(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        base = min(self.maximum, self.first * 2 ** max(0, attempts - 1))
        return base * (1 - self.jitter + 2 * self.jitter * rng())


class Outbox:
    """Reads and updates outbox rows; enqueueing happens inside the caller's transaction."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def enqueue(self, conn: Connection, alerts: Iterable[NewAlert]) -> int:
        now = self.clock()
        rows = []
        for a in alerts:
            if a.merge is not None and self._merge(conn, a):
                continue
            rows.append(
                {
                    "topic": a.topic,
                    "channel": a.channel,
                    "article_key": a.article_key,
                    "article_id": a.article_id,
                    "content": dict(a.content),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": a.due_at or now,
                    "created_at": now,
                }
            )
        if rows:
            conn.execute(insert(outbox_table), rows)
        return len(rows)

    def _merge(self, conn: Connection, alert: NewAlert) -> bool:
        """Fold a gathering note into its pending row, if there is one."""
        assert alert.merge is not None
        row = conn.execute(
            select(outbox_table.c.id, outbox_table.c.content, outbox_table.c.status)
            .where(outbox_table.c.topic == alert.topic)
            .where(outbox_table.c.channel == alert.channel)
            .where(outbox_table.c.article_key == alert.article_key)
        ).first()
        if row is None:
            return False
        if row.status == PENDING:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row.id)
                .values(content=dict(alert.merge(row.content, alert.content)))
            )
        return True

    def alerted(self, conn: Connection, key_prefix: str) -> frozenset[tuple[str, str]]:
        """(topic, channel) pairs that have an alert row whose key is `key_prefix`."""
        rows = conn.execute(
            select(outbox_table.c.topic, outbox_table.c.channel).where(
                outbox_table.c.article_key == key_prefix
            )
        )
        return frozenset((topic, channel) for topic, channel in rows)

    def due(self, limit: int = 500) -> list[OutboxRow]:
        """Pending alerts whose next attempt is now or past, oldest first."""
        query = (
            select(outbox_table)
            .where(outbox_table.c.status == PENDING)
            .where(outbox_table.c.next_attempt_at <= self.clock())
            .order_by(outbox_table.c.next_attempt_at, outbox_table.c.id)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            return [OutboxRow(**row._mapping) for row in conn.execute(query)]

    def mark_sent(self, row_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row_id)
                .values(
                    status=SENT,
                    sent_at=self.clock(),
                    attempts=outbox_table.c.attempts + 1,
                    last_error=None,
                )
            )

    def mark_failed(self, row: OutboxRow, error: str, backoff: Backoff) -> datetime:
        """Record a failed attempt and schedule the next one; returns when that is."""
        attempts = row.attempts + 1
        next_at = self.clock() + timedelta(seconds=backoff.delay(attempts))
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row.id)
                .values(attempts=attempts, next_attempt_at=next_at, last_error=error[:2000])
            )
        return next_at

    def counts(self) -> dict[tuple[str, str], int]:
        """Rows per (channel, status)."""
        query = select(
            outbox_table.c.channel, outbox_table.c.status, func.count(outbox_table.c.id)
        ).group_by(outbox_table.c.channel, outbox_table.c.status)
        with self.engine.begin() as conn:
            return {(ch, st): n for ch, st, n in conn.execute(query)}

    def rows(self, status: str | None = None) -> list[OutboxRow]:
        query = select(outbox_table).order_by(outbox_table.c.id)
        if status is not None:
            query = query.where(outbox_table.c.status == status)
        with self.engine.begin() as conn:
            return [OutboxRow(**row._mapping) for row in conn.execute(query)]
