"""Channel health, kept in the database: how many sends to a channel failed in a row, since
when, when it may be tried again (backoff or the server's Retry-After), and whether the
operators were told. A restart keeps all of it, so waits survive it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from alerts.outbox import channel_health_table, utcnow


@dataclass(frozen=True)
class Health:
    channel: str
    failures: int = 0
    failing_since: datetime | None = None
    retry_at: datetime | None = None
    last_error: str | None = None
    ops_notified: bool = False


class ChannelHealth:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def get(self, channel: str) -> Health:
        with self.engine.begin() as conn:
            row = conn.execute(
                select(channel_health_table).where(channel_health_table.c.channel == channel)
            ).first()
        return Health(**row._mapping) if row else Health(channel)

    def all(self) -> list[Health]:
        with self.engine.begin() as conn:
            return [Health(**r._mapping) for r in conn.execute(select(channel_health_table))]

    def failed(self, channel: str, error: str, retry_at: datetime) -> Health:
        """One more consecutive failure of `channel`; no send to it before `retry_at`."""
        before = self.get(channel)
        after = Health(
            channel,
            failures=before.failures + 1,
            failing_since=before.failing_since or self.clock(),
            retry_at=retry_at,
            last_error=error[:2000],
            ops_notified=before.ops_notified,
        )
        self._save_health(after)
        return after

    def ok(self, channel: str) -> Health:
        """The channel accepted a send; returns its health as it was before."""
        before = self.get(channel)
        if before.failures or before.failing_since or before.retry_at:
            with self.engine.begin() as conn:
                conn.execute(
                    delete(channel_health_table).where(channel_health_table.c.channel == channel)
                )
        return before

    def set_ops_notified(self, channel: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(channel_health_table)
                .where(channel_health_table.c.channel == channel)
                .values(ops_notified=True)
            )

    def _save_health(self, health: Health) -> None:
        values = {
            "failures": health.failures,
            "failing_since": health.failing_since,
            "retry_at": health.retry_at,
            "last_error": health.last_error,
            "ops_notified": health.ops_notified,
        }
        with self.engine.begin() as conn:
            done = conn.execute(
                update(channel_health_table)
                .where(channel_health_table.c.channel == health.channel)
                .values(**values)
            )
            if not done.rowcount:
                conn.execute(insert(channel_health_table).values(channel=health.channel, **values))
