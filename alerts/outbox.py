"""The durable outbox: every alert is a row that stays until its channel has accepted it.

Besides the rows (pending -> sent, or dead after too many failed attempts) it keeps each
send attempt, so a send that a crash or a timeout interrupted is known and counted as a
possible duplicate, and each channel's health (failing since when, retry not before when).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
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
    and_,
    exists,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError

PENDING = "pending"
SENT = "sent"
DEAD = "dead"

# Attempt outcomes. "interrupted": the process stopped (kill -9, power) between claiming
# the row and recording the result; like "ambiguous" (a timeout after the server may
# have accepted) the message may have arrived, so the retry may be a duplicate.
ATTEMPT_SENT = "sent"
ATTEMPT_FAILED = "failed"
ATTEMPT_PERMANENT = "permanent"
ATTEMPT_AMBIGUOUS = "ambiguous"
ATTEMPT_INTERRUPTED = "interrupted"
MAYBE_DELIVERED = (ATTEMPT_AMBIGUOUS, ATTEMPT_INTERRUPTED)


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
    Index("ix_outbox_sent", "sent_at"),  # /metrics reads the alerts sent since its last scrape
)

# One row per send attempt of an outbox row. Written (committed) before the send with a
# lease, finished after it: an unfinished attempt whose lease ran out was interrupted.
attempts_table = Table(
    "outbox_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, nullable=False, index=True),
    Column("channel", String(200), nullable=False),
    Column("message", String(32), nullable=False),  # one send: a digest carries many rows
    Column("started_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_outbox_attempts_sends", "channel", "finished_at"),
)

# Per channel: consecutive failed sends, since when, and no send before `retry_at`.
channel_health_table = Table(
    "channel_health",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("failing_since", UTCDateTime, nullable=True),
    Column("retry_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("ops_notified", Boolean, nullable=False, default=False, server_default=false()),
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


@dataclass(frozen=True)
class Claim:
    """Rows leased for one send; `message` identifies the send in the attempts table."""

    message: str
    rows: tuple[OutboxRow, ...]
    interrupted: int  # earlier sends of these rows that were cut off: possible duplicates


@dataclass(frozen=True)
class QueueEntry:
    row: OutboxRow
    maybe_delivered: int  # attempts that may have reached the channel (timeouts, crashes)


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

    def add(self, alerts: Iterable[NewAlert]) -> int:
        """Enqueue in a transaction of its own; an alert whose key exists already is skipped
        (operator notices use this to be sent once)."""
        added = 0
        for alert in alerts:
            try:
                with self.engine.begin() as conn:
                    added += self.enqueue(conn, [alert])
            except IntegrityError:
                continue
        return added

    def due(self, limit: int = 500) -> list[OutboxRow]:
        """Pending alerts whose next attempt is now or past and that no send holds, oldest
        first."""
        now = self.clock()
        leased = exists().where(
            and_(
                attempts_table.c.outbox_id == outbox_table.c.id,
                attempts_table.c.finished_at.is_(None),
                attempts_table.c.lease_until > now,
            )
        )
        query = (
            select(outbox_table)
            .where(outbox_table.c.status == PENDING)
            .where(outbox_table.c.next_attempt_at <= now)
            .where(~leased)
            .order_by(outbox_table.c.id)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            return [OutboxRow(**row._mapping) for row in conn.execute(query)]

    def claim(self, rows: Sequence[OutboxRow], channel: str, lease: float) -> Claim:
        """Lease `rows` for one send (committed before the send starts). Rows another
        process holds or finished meanwhile are left out; earlier sends of these rows that
        never finished are recorded as interrupted."""
        now = self.clock()
        message = uuid.uuid4().hex
        ids = [r.id for r in rows]
        with self.engine.begin() as conn:
            # PostgreSQL: lock the rows so two senders cannot both claim them (SQLite's
            # BEGIN IMMEDIATE already serialises this transaction).
            current = {
                r.id: r
                for r in conn.execute(
                    select(outbox_table.c.id, outbox_table.c.status)
                    .where(outbox_table.c.id.in_(ids))
                    .with_for_update()
                )
            }
            open_attempts = conn.execute(
                select(attempts_table.c.outbox_id, attempts_table.c.lease_until).where(
                    attempts_table.c.outbox_id.in_(ids), attempts_table.c.finished_at.is_(None)
                )
            ).all()
            held = {a.outbox_id for a in open_attempts if a.lease_until > now}
            cut_off = sorted({a.outbox_id for a in open_attempts if a.lease_until <= now})
            chosen = [
                r
                for r in rows
                if r.id in current and current[r.id].status == PENDING and r.id not in held
            ]
            if cut_off:
                conn.execute(
                    update(attempts_table)
                    .where(attempts_table.c.outbox_id.in_(cut_off))
                    .where(attempts_table.c.finished_at.is_(None))
                    .values(finished_at=now, outcome=ATTEMPT_INTERRUPTED)
                )
                conn.execute(
                    update(outbox_table)
                    .where(outbox_table.c.id.in_(cut_off))
                    .values(attempts=outbox_table.c.attempts + 1)
                )
            if chosen:
                until = now + timedelta(seconds=lease)
                conn.execute(
                    insert(attempts_table),
                    [
                        {
                            "outbox_id": r.id,
                            "channel": channel,
                            "message": message,
                            "started_at": now,
                            "lease_until": until,
                        }
                        for r in chosen
                    ],
                )
        bumped = set(cut_off)
        return Claim(
            message,
            tuple(r if r.id not in bumped else _with(r, attempts=r.attempts + 1) for r in chosen),
            len(bumped & {r.id for r in chosen}),
        )

    def mark_sent(self, row_id: int) -> None:
        with self.engine.begin() as conn:
            self._sent(conn, [row_id])

    def _sent(self, conn: Connection, ids: Sequence[int]) -> None:
        conn.execute(
            update(outbox_table)
            .where(outbox_table.c.id.in_(ids))
            .values(
                status=SENT,
                sent_at=self.clock(),
                attempts=outbox_table.c.attempts + 1,
                last_error=None,
            )
        )

    def finish_sent(self, claim: Claim) -> None:
        """The channel accepted the send: its rows are sent, in one transaction."""
        with self.engine.begin() as conn:
            self._finish_attempts(conn, claim, ATTEMPT_SENT, None)
            self._sent(conn, [r.id for r in claim.rows])

    def finish_failed(
        self,
        claim: Claim,
        outcome: str,
        error: str,
        next_at: datetime,
        max_attempts: int | None = None,
    ) -> list[OutboxRow]:
        """Record a failed send of the claimed rows; returns the rows that went dead."""
        dead: list[OutboxRow] = []
        with self.engine.begin() as conn:
            self._finish_attempts(conn, claim, outcome, error)
            for row in claim.rows:
                attempts = row.attempts + 1
                gone = max_attempts is not None and attempts >= max_attempts
                conn.execute(
                    update(outbox_table)
                    .where(outbox_table.c.id == row.id)
                    .values(
                        attempts=attempts,
                        next_attempt_at=next_at,
                        last_error=error[:2000],
                        status=DEAD if gone else PENDING,
                    )
                )
                if gone:
                    dead.append(_with(row, attempts=attempts, status=DEAD, last_error=error))
        return dead

    def _finish_attempts(
        self, conn: Connection, claim: Claim, outcome: str, error: str | None
    ) -> None:
        conn.execute(
            update(attempts_table)
            .where(attempts_table.c.message == claim.message)
            .values(finished_at=self.clock(), outcome=outcome, error=(error or None))
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

    def defer(self, ids: Sequence[int], until: datetime) -> None:
        """Hold pending rows until `until` (a digest time, quiet hours, a cooldown, a rate)."""
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id.in_(list(ids)))
                .where(outbox_table.c.status == PENDING)
                .values(next_attempt_at=until)
            )

    def last_sent(self, topic: str, channel: str) -> datetime | None:
        query = select(func.max(outbox_table.c.sent_at)).where(
            outbox_table.c.topic == topic,
            outbox_table.c.channel == channel,
            outbox_table.c.status == SENT,
        )
        with self.engine.begin() as conn:
            return conn.execute(query).scalar()

    def sends_since(self, channel: str, since: datetime) -> list[datetime]:
        """When each message accepted by `channel` since `since` went out (one per send)."""
        query = (
            select(func.min(attempts_table.c.finished_at))
            .where(attempts_table.c.channel == channel)
            .where(attempts_table.c.outcome == ATTEMPT_SENT)
            .where(attempts_table.c.finished_at > since)
            .group_by(attempts_table.c.message)
        )
        with self.engine.begin() as conn:
            return sorted(t for (t,) in conn.execute(query))

    def queue(self) -> list[QueueEntry]:
        """Every alert not sent (pending, retrying, dead), with its possible duplicates."""
        maybe = (
            select(attempts_table.c.outbox_id, func.count().label("n"))
            .where(attempts_table.c.outcome.in_(MAYBE_DELIVERED))
            .group_by(attempts_table.c.outbox_id)
            .subquery()
        )
        query = (
            select(outbox_table, func.coalesce(maybe.c.n, 0).label("maybe_delivered"))
            .outerjoin(maybe, maybe.c.outbox_id == outbox_table.c.id)
            .where(outbox_table.c.status != SENT)
            .order_by(outbox_table.c.id)
        )
        with self.engine.begin() as conn:
            entries = []
            for row in conn.execute(query):
                data = dict(row._mapping)
                count = int(data.pop("maybe_delivered"))
                entries.append(QueueEntry(OutboxRow(**data), count))
            return entries

    def prune_attempts(self, before: datetime) -> int:
        """Forget finished send attempts older than `before` (the table stays bounded): a
        row keeps its state and its count of attempts; unfinished ones (leases) are kept."""
        query = attempts_table.delete().where(
            attempts_table.c.finished_at.is_not(None), attempts_table.c.finished_at < before
        )
        with self.engine.begin() as conn:
            return int(conn.execute(query).rowcount or 0)

    def maybe_delivered(self) -> int:
        """Sends that may have reached their channel unrecorded: the only source of duplicates."""
        query = select(func.count()).where(attempts_table.c.outcome.in_(MAYBE_DELIVERED))
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def requeue(self, ids: Iterable[int] | None = None, *, dead: bool = False) -> list[OutboxRow]:
        """Pending again, due now, attempts counted afresh: the given rows (unless sent),
        or every dead one. Their channels' holds are lifted. Returns the rows requeued."""
        query = select(outbox_table).where(outbox_table.c.status != SENT)
        if dead:
            query = query.where(outbox_table.c.status == DEAD)
        if ids is not None:
            query = query.where(outbox_table.c.id.in_(list(ids)))
        with self.engine.begin() as conn:
            rows = [OutboxRow(**r._mapping) for r in conn.execute(query)]
            if rows:
                conn.execute(
                    update(outbox_table)
                    .where(outbox_table.c.id.in_([r.id for r in rows]))
                    .values(status=PENDING, attempts=0, next_attempt_at=self.clock())
                )
                conn.execute(
                    update(channel_health_table)
                    .where(channel_health_table.c.channel.in_({r.channel for r in rows}))
                    .values(retry_at=None)
                )
        return rows

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


def _with(row: OutboxRow, **changes: Any) -> OutboxRow:
    return OutboxRow(**{**row.__dict__, **changes})
