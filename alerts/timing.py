"""When alerts may go out: topic digest schedules, channel quiet hours, topic cooldowns.

All of it is plain functions of a datetime, so tests pass the time in; zones come from zoneinfo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_EVERY = re.compile(r"every\s+(\S+)", re.IGNORECASE)
_DAILY = re.compile(r"daily\s+(\S+)(?:\s+(\S+))?", re.IGNORECASE)
_QUIET = re.compile(r"(\S+)\s*-\s*(\S+)(?:\s+(\S+))?")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)(s|m|h|d)")


class TimingError(ValueError):
    """A digest schedule or quiet-hours window that cannot be read; the message says why."""


def _zone(name: str | None) -> tzinfo:
    if name is None:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimingError(f"unknown time zone {name!r} (examples: UTC, Europe/Berlin)") from None


def _clock(text: str) -> time:
    match = _CLOCK.fullmatch(text)
    if not match:
        raise TimingError(f"{text!r} is not a time of day (examples: 08:00, 22:30)")
    return time(int(match.group(1)), int(match.group(2)))


def _seconds(text: str) -> int:
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise TimingError(f"{text!r} is not a duration (examples: 30m, 2h, 1d)")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds < 60:
        raise TimingError("a digest interval must be at least 1m")
    return seconds


def _local(day: datetime, at: time, zone: tzinfo) -> datetime:
    """`at` o'clock on `day`'s date in `zone`, as UTC (a time skipped by DST moves forward)."""
    local = datetime.combine(day.date(), at, tzinfo=zone)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class DigestSchedule:
    """`every 30m` (slots on the clock: :00 and :30) or `daily 08:00 [Europe/Berlin]`."""

    text: str
    every: int = 0  # seconds; 0 for a daily schedule
    at: time = time(0, 0)
    zone: tzinfo = UTC

    @classmethod
    def parse(cls, text: str) -> DigestSchedule:
        spec = " ".join(text.split())
        if match := _EVERY.fullmatch(spec):
            return cls(spec, every=_seconds(match.group(1)))
        if match := _DAILY.fullmatch(spec):
            return cls(spec, at=_clock(match.group(1)), zone=_zone(match.group(2)))
        raise TimingError(
            f"{text!r} is not a digest schedule (examples: every 30m, daily 08:00 Europe/Berlin)"
        )

    def slot_after(self, moment: datetime) -> datetime:
        """The first digest time at or after `moment`: when an alert raised then goes out."""
        if self.every:
            stamp = moment.timestamp()
            ceiling = -(-stamp // self.every) * self.every
            return datetime.fromtimestamp(ceiling, UTC)
        local = moment.astimezone(self.zone)
        slot = _local(local, self.at, self.zone)
        if slot < moment:
            slot = _local(local + timedelta(days=1), self.at, self.zone)
        return slot


@dataclass(frozen=True)
class QuietHours:
    """`22:00-07:00 Europe/Berlin`: nothing is sent in the window; what waits goes after it."""

    text: str
    start: time
    end: time
    zone: tzinfo = UTC

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        spec = " ".join(text.split())
        match = _QUIET.fullmatch(spec)
        if not match:
            raise TimingError(f"{text!r} is not a quiet-hours window (example: 22:00-07:00 UTC)")
        start, end = _clock(match.group(1)), _clock(match.group(2))
        if start == end:
            raise TimingError(f"{text!r}: start and end are the same time")
        return cls(spec, start, end, _zone(match.group(3)))

    def until(self, moment: datetime) -> datetime | None:
        """The end of the quiet window `moment` falls in, or None when it falls in none."""
        local = moment.astimezone(self.zone)
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:  # e.g. 12:00-14:00, within one day
            inside = self.start <= now < self.end
            end_day = local
        else:  # e.g. 22:00-07:00, across midnight
            inside = now >= self.start or now < self.end
            end_day = local + timedelta(days=1) if now >= self.start else local
        return _local(end_day, self.end, self.zone) if inside else None


@dataclass(frozen=True)
class TopicTiming:
    """How a topic's alerts are paced: at once, gathered into digests, or after a cooldown."""

    digest: DigestSchedule | None = None
    cooldown: float | None = None  # seconds after an alert before the next one
