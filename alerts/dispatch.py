"""Delivery: take due alerts from the outbox, render them, send them, and record the outcome."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from alerts.channels import Channels
from alerts.outbox import Backoff, Outbox, OutboxRow
from alerts.render import AlertContent, render

log = logging.getLogger("newshound.delivery")


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # channel -> last error


class Dispatcher:
    """Delivers due outbox rows, each channel on its own so a dead one delays no other.

    A channel whose send failed is not tried again before its retry time, even for
    other rows: that state is in memory only because every row keeps its own durable
    retry time, so a restart merely costs one extra attempt.
    """

    def __init__(
        self, outbox: Outbox, channels: Channels, *, backoff: Backoff, timeout: float
    ) -> None:
        self.outbox = outbox
        self.channels = channels
        self.backoff = backoff
        self.timeout = timeout
        self._channel_retry_at: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    async def deliver_due(self) -> DeliveryReport:
        # One delivery pass at a time: the daemon's timer and `once` may overlap.
        async with self._lock:
            report = DeliveryReport()
            by_channel: dict[str, list[OutboxRow]] = defaultdict(list)
            for row in self.outbox.due():
                by_channel[row.channel].append(row)
            await asyncio.gather(
                *(self._deliver_channel(ch, rows, report) for ch, rows in by_channel.items())
            )
            return report

    async def wait_idle(self) -> None:
        """Return once no delivery pass is under way (used at shutdown)."""
        async with self._lock:
            pass

    async def _deliver_channel(
        self, channel: str, rows: list[OutboxRow], report: DeliveryReport
    ) -> None:
        retry_at = self._channel_retry_at.get(channel)
        if retry_at is not None and retry_at > self.outbox.clock():
            report.deferred += len(rows)
            return
        for index, row in enumerate(rows):
            message = render(AlertContent.from_json(row.content))
            result = await self.channels.send(channel, message, self.timeout)
            if result.ok:
                self.outbox.mark_sent(row.id)
                self._channel_retry_at.pop(channel, None)
                report.sent += 1
                log.info("sent alert %d (topic %s) to channel %s", row.id, row.topic, channel)
                continue
            error = result.error or "failed"
            next_at = self.outbox.mark_failed(row, error, self.backoff)
            self._channel_retry_at[channel] = next_at
            report.failed += 1
            report.deferred += len(rows) - index - 1
            report.errors[channel] = error
            log.warning(
                "channel %s: alert %d (topic %s) not delivered, attempt %d, retry at %s: %s",
                channel,
                row.id,
                row.topic,
                row.attempts + 1,
                next_at.strftime("%H:%M:%S"),
                error,
            )
            return
