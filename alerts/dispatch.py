"""Delivery: take due alerts from the outbox, pace them (digests, quiet hours, cooldowns,
rate limits), render them, send them, and record the outcome.

Each channel is delivered by a task of its own, so a channel that hangs, fails or waits
for its rate window delays no other. Before a send its rows are leased in the database
(alerts.outbox.Outbox.claim); the one window in which a message can arrive twice is
between the channel accepting it and the outbox recording that, and every send cut off
there (a crash) or ending in a timeout is counted as a possible duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.channels import Channels
from alerts.digest import is_ops, ops_content, render_digest, render_ops
from alerts.flood import Limiter
from alerts.health import ChannelHealth, Health
from alerts.outbox import (
    ATTEMPT_AMBIGUOUS,
    ATTEMPT_FAILED,
    ATTEMPT_PERMANENT,
    Backoff,
    NewAlert,
    Outbox,
    OutboxRow,
)
from alerts.outcome import Outcome
from alerts.render import DEFAULT_TEMPLATES, AlertContent, Message, Templates, render
from alerts.timing import TopicTiming

log = logging.getLogger("newshound.delivery")

OPS_TOPIC = "ops"  # as crawler.watch reports sources
_LONGEST_SERVER_WAIT = 86400.0  # a Retry-After beyond a day is not believed
_OUTCOME_RECORD = {
    Outcome.TRANSIENT: ATTEMPT_FAILED,
    Outcome.PERMANENT: ATTEMPT_PERMANENT,
    Outcome.AMBIGUOUS: ATTEMPT_AMBIGUOUS,
}


@dataclass(frozen=True)
class DeliveryPolicy:
    """How delivery paces and gives up; built from config by the caller."""

    max_attempts: int = 30  # failed attempts before an alert is dead (kept, requeueable)
    topics: Mapping[str, TopicTiming] = field(default_factory=dict)
    templates: Templates = DEFAULT_TEMPLATES
    ops_channel: str | None = None  # where operator notices go; None: the log only
    ops_after: float = 900.0  # a channel failing this long is reported
    pace: float = 2.0  # longest wait for a rate window inside one pass; longer waits defer
    lease_grace: float = 5.0  # a send's lease outlives its timeout by this much


@dataclass
class DeliveryReport:
    sent: int = 0  # alerts delivered
    messages: int = 0  # messages sent: a digest carries several alerts
    failed: int = 0
    deferred: int = 0
    dead: int = 0
    maybe_duplicates: int = 0  # sends retried after a crash or timeout cut them off
    errors: dict[str, str] = field(default_factory=dict)  # channel -> last error


@dataclass(frozen=True)
class _Unit:
    """Rows that go out as one message (or one digest split only by length)."""

    rows: tuple[OutboxRow, ...]
    why: str = ""  # "" for a single alert; else what gathered them into a digest


class Dispatcher:
    """Delivers due outbox rows, each channel on its own so a dead one delays no other."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Channels,
        *,
        backoff: Backoff,
        timeout: float,
        policy: DeliveryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.outbox = outbox
        self.channels = channels
        self.backoff = backoff
        self.timeout = timeout
        self.policy = policy or DeliveryPolicy()
        self.health = ChannelHealth(outbox.engine, outbox.clock)
        self._sleep = sleep
        self._limiters: dict[str, Limiter] = {}
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    async def deliver_due(self, *, wait: bool = True) -> DeliveryReport:
        """Start delivering every due alert, a task per channel (a channel still busy from
        the last pass is left to it). With `wait`, return when all of them are done; the
        daemon's timer passes False so a slow channel never holds up the next pass."""
        report = DeliveryReport()
        by_channel: dict[str, list[OutboxRow]] = {}
        for row in self.outbox.due():
            by_channel.setdefault(row.channel, []).append(row)
        started = []
        for channel, rows in by_channel.items():
            busy = self._busy.get(channel)
            if busy is not None and not busy.done():
                report.deferred += len(rows)
                continue
            task = asyncio.create_task(self._guarded(channel, rows, report))
            self._busy[channel] = task
            started.append(task)
        if wait and started:
            await asyncio.gather(*started)
        return report

    async def wait_idle(self) -> None:
        """Finish the sends under way, start no more, and return (used at shutdown)."""
        self._closing = True
        tasks = [t for t in self._busy.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _guarded(self, channel: str, rows: list[OutboxRow], report: DeliveryReport) -> None:
        try:
            await self._deliver_channel(channel, rows, report)
        except Exception:  # a bug, or the database gone: the rows stay queued
            log.exception("channel %s: delivery pass failed", channel)

    async def _deliver_channel(
        self, channel: str, rows: list[OutboxRow], report: DeliveryReport
    ) -> None:
        now = self.outbox.clock()
        health = self.health.get(channel)
        if health.retry_at is not None and health.retry_at > now:
            report.deferred += len(rows)
            self._report_failing(channel, health, now)
            return
        settings = self.channels.get(channel)
        quiet_until = settings.quiet.until(now) if settings and settings.quiet else None
        if quiet_until is not None:
            self.outbox.defer([r.id for r in rows], quiet_until)
            report.deferred += len(rows)
            log.info(
                "channel %s: quiet hours, %d alerts wait until %s",
                channel,
                len(rows),
                quiet_until.isoformat(timespec="minutes"),
            )
            return
        units = self._plan(channel, rows, now, report)
        limiter = self._limiter(channel)
        if len(units) > 1 and len(units) > limiter.room(now.timestamp()):
            # More than the channel's rate allows: one digest instead of a flood.
            units = [_Unit(tuple(r for u in units for r in u.rows), "more than the rate allows")]
        for index, unit in enumerate(units):
            if self._closing:
                return
            wait = limiter.wait(self.outbox.clock().timestamp())
            if wait > self.policy.pace:
                rest = [r.id for u in units[index:] for r in u.rows]
                self.outbox.defer(rest, self.outbox.clock() + timedelta(seconds=wait))
                report.deferred += len(rest)
                return
            if wait > 0:
                await self._sleep(wait)
            if not await self._send_unit(channel, unit, report):
                report.deferred += sum(len(u.rows) for u in units[index + 1 :])
                return

    def _plan(
        self, channel: str, rows: Sequence[OutboxRow], now: datetime, report: DeliveryReport
    ) -> list[_Unit]:
        """Which rows go out now and how: alone, or gathered by a topic's digest or cooldown.
        Rows whose time has not come are held (their next attempt set to it)."""
        held: dict[datetime, list[int]] = {}
        gathered: dict[tuple[str, str], list[OutboxRow]] = {}
        order: list[tuple[str, str] | OutboxRow] = []
        for row in rows:
            timing = None if is_ops(row.content) else self.policy.topics.get(row.topic)
            key: tuple[str, str] | None = None
            if timing is not None and timing.digest is not None:
                slot = timing.digest.slot_after(row.created_at)
                if slot > now:
                    held.setdefault(slot, []).append(row.id)
                    continue
                key = (row.topic, f"digest {timing.digest.text}")
            elif timing is not None and timing.cooldown:
                last = self.outbox.last_sent(row.topic, channel)
                until = last + timedelta(seconds=timing.cooldown) if last else None
                if until is not None and until > now:
                    held.setdefault(until, []).append(row.id)
                    continue
                key = (row.topic, "cooldown")
            if key is None:
                order.append(row)
                continue
            if key not in gathered:
                order.append(key)
            gathered.setdefault(key, []).append(row)
        for until, ids in held.items():
            self.outbox.defer(ids, until)
            report.deferred += len(ids)
        units = []
        for item in order:
            if isinstance(item, OutboxRow):
                units.append(_Unit((item,)))
            else:
                group = gathered[item]
                units.append(_Unit(tuple(group), item[1] if len(group) > 1 else ""))
        return units

    def _limiter(self, channel: str) -> Limiter:
        settings = self.channels.get(channel)
        rates = settings.rates if settings else ()
        limiter = self._limiters.get(channel)
        if limiter is None or limiter.rates != rates:  # new, or its rate changed on reload
            longest = max((r.period for r in rates), default=0.0)
            since = self.outbox.clock() - timedelta(seconds=longest)
            # Seeded from the attempts table, so a restart does not reset the windows.
            sent = self.outbox.sends_since(channel, since) if rates else []
            limiter = Limiter(rates, (t.timestamp() for t in sent))
            self._limiters[channel] = limiter
        return limiter

    def _messages(self, channel: str, unit: _Unit) -> list[tuple[Message, list[OutboxRow]]]:
        limit = self.channels.max_chars(channel)
        if not unit.why:
            row = unit.rows[0]
            if is_ops(row.content):
                return [(render_ops(row.content), [row])]
            content = AlertContent.from_json(row.content)
            return [(render(content, self.policy.templates, limit), [row])]
        parts = render_digest([r.content for r in unit.rows], limit, why=unit.why)
        return [(part.message, [unit.rows[i] for i in part.items]) for part in parts]

    async def _send_unit(self, channel: str, unit: _Unit, report: DeliveryReport) -> bool:
        """Send a unit's message(s); False when the channel failed (the rest must wait)."""
        try:
            messages = self._messages(channel, unit)
        except ValueError as exc:  # content this newshound cannot read: never retried hot
            claim = self.outbox.claim(unit.rows, channel, self.timeout)
            dead = self.outbox.finish_failed(
                claim, ATTEMPT_PERMANENT, f"unreadable alert: {exc}", self.outbox.clock(), 0
            )
            self._report_dead(channel, dead)
            report.dead += len(dead)
            return True
        for message, rows in messages:
            if self._closing:
                return False
            claim = self.outbox.claim(rows, channel, self.timeout + self.policy.lease_grace)
            if not claim.rows:
                continue  # another process holds them, or sent them meanwhile
            if claim.interrupted:
                report.maybe_duplicates += claim.interrupted
                log.warning(
                    "channel %s: %d alert(s) sent again after an interrupted send: the channel "
                    "may get them twice",
                    channel,
                    claim.interrupted,
                )
            result = await self.channels.send(channel, message, self.timeout)
            self._limiter(channel).record(self.outbox.clock().timestamp())
            ids = ", ".join(str(r.id) for r in claim.rows)
            if result.ok:
                self.outbox.finish_sent(claim)
                report.sent += len(claim.rows)
                report.messages += 1
                log.info("sent alert %s (topic %s) to channel %s", ids, rows[0].topic, channel)
                self._recovered(channel, self.health.ok(channel))
                continue
            if result.outcome is Outcome.AMBIGUOUS:
                report.maybe_duplicates += len(claim.rows)
            error = result.error or "failed"
            next_at = self._next_attempt(channel, result.outcome, result.retry_after)
            dead = self.outbox.finish_failed(
                claim,
                _OUTCOME_RECORD.get(result.outcome, ATTEMPT_FAILED),
                error,
                next_at,
                self.policy.max_attempts,
            )
            health = self.health.failed(channel, error, next_at)
            report.failed += len(claim.rows)
            report.dead += len(dead)
            report.errors[channel] = error
            log.warning(
                "channel %s: alert %s (topic %s) not delivered (%s), attempt %d, retry at %s: %s",
                channel,
                ids,
                rows[0].topic,
                result.outcome.value,
                claim.rows[0].attempts + 1,
                next_at.strftime("%H:%M:%S"),
                error,
            )
            self._report_dead(channel, dead)
            self._report_failing(channel, health, self.outbox.clock())
            return False
        return True

    def _next_attempt(self, channel: str, outcome: Outcome, retry_after: float | None) -> datetime:
        failures = self.health.get(channel).failures + 1
        if outcome is Outcome.PERMANENT:
            delay = self.backoff.maximum  # bad credentials do not heal in seconds
        else:
            delay = self.backoff.delay(failures)
        if retry_after:
            delay = max(delay, min(retry_after, _LONGEST_SERVER_WAIT))
        return self.outbox.clock() + timedelta(seconds=delay)

    # Operator notices: through the outbox (so they survive a crash), once each (their key).

    def _notify_ops(self, key: str, subject: str, text: str, about: str) -> None:
        log.warning("ops: %s: %s", subject, text)
        ops = self.policy.ops_channel
        if ops is None or ops == about or ops not in self.channels.names:
            return
        alert = NewAlert(OPS_TOPIC, ops, key, ops_content(subject, text))
        self.outbox.add([alert])

    def _report_failing(self, channel: str, health: Health, now: datetime) -> None:
        since = health.failing_since
        if since is None or health.ops_notified:
            return
        if (now - since).total_seconds() < self.policy.ops_after:
            return
        self._notify_ops(
            f"ops:failing:{channel}:{since.isoformat()}",
            f"channel {channel} failing",
            f"Channel {channel} has failed since {since.isoformat(timespec='seconds')} "
            f"({health.failures} failed sends); alerts wait in the outbox. "
            f"Last error: {health.last_error or 'none'}",
            channel,
        )
        self.health.set_ops_notified(channel)

    def _recovered(self, channel: str, before: Health) -> None:
        if before.failing_since is None or not before.ops_notified:
            return
        self._notify_ops(
            f"ops:recovered:{channel}:{before.failing_since.isoformat()}",
            f"channel {channel} recovered",
            f"Channel {channel} delivers again (failing since "
            f"{before.failing_since.isoformat(timespec='seconds')}).",
            channel,
        )

    def _report_dead(self, channel: str, rows: Sequence[OutboxRow]) -> None:
        now = self.outbox.clock().isoformat()
        for row in rows:
            self._notify_ops(
                f"ops:dead:{row.id}:{now}",
                f"alert {row.id} dead",
                f"Alert {row.id} (topic {row.topic}) to channel {channel} gave up after "
                f"{row.attempts} attempts: {row.last_error}. "
                f"`newshound outbox retry {row.id}` sends it again.",
                channel,
            )
