"""Flood control: per-channel send rates (`20/min`), their defaults per service, and the
sliding-window limiter that says how many messages a channel may take now."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_RATE = re.compile(r"(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?")
_PERIOD = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PERIOD |= {"h": 3600, "hour": 3600, "d": 86400, "day": 86400}


class RateError(ValueError):
    """A rate that cannot be read; the message says why."""


@dataclass(frozen=True)
class Rate:
    """At most `count` messages in any `period` seconds."""

    count: int
    period: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.fullmatch(text.strip().lower())
        if not match:
            raise RateError(f"{text!r} is not a rate (examples: 1/s, 20/min, 5/2s, 30/h)")
        count, every, unit = int(match.group(1)), match.group(2), match.group(3)
        if count < 1 or every == "0":
            raise RateError(f"{text!r}: a rate must allow at least one message")
        return cls(count, int(every or 1) * _PERIOD[unit])

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"


def parse_rates(value: str | Iterable[str]) -> tuple[Rate, ...]:
    """`20/min`, `[1/s, 20/min]`, or `off` (no limit)."""
    items = [value] if isinstance(value, str) else list(value)
    if [i.strip().lower() for i in items] in (["off"], ["none"], []):
        return ()
    return tuple(Rate.parse(item) for item in items)


# Per service, what its operators publish or what keeps a human reader sane. Telegram: about
# one message a second per chat and 20 a minute per group; Discord webhooks: 5 per 2 s and
# 30 a minute per channel; Slack: one a second per channel. Email has no API limit, but a
# desk does not want an inbox flood (and apprise's own throttle is 5.5 s per send through
# one object, which delivery sidesteps with one object per message). Machine endpoints
# (json://, xml://, form://) get no limit.
SERVICE_RATES: dict[str, tuple[Rate, ...]] = {
    "telegram": (Rate(1, 1), Rate(20, 60)),
    "discord": (Rate(5, 2), Rate(30, 60)),
    "slack": (Rate(1, 1.2), Rate(60, 60)),
    "email": (Rate(1, 2), Rate(30, 3600)),
    "webhook": (),
    "other": (Rate(1, 1), Rate(30, 60)),
}
_SERVICE_BY_SCHEME = {
    "tgram": "telegram",
    "discord": "discord",
    "slack": "slack",
    "mailto": "email",
    "mailtos": "email",
    "json": "webhook",
    "jsons": "webhook",
    "xml": "webhook",
    "xmls": "webhook",
    "form": "webhook",
    "forms": "webhook",
}


def service_of(scheme: str, is_email: bool = False) -> str:
    """Which row of SERVICE_RATES a channel's URL scheme belongs to."""
    if is_email:
        return "email"
    return _SERVICE_BY_SCHEME.get(scheme.lower(), "other")


class Limiter:
    """Sliding windows over the times of past sends (seconds, any monotonic-enough clock)."""

    def __init__(self, rates: Sequence[Rate], sent: Iterable[float] = ()) -> None:
        self.rates = tuple(rates)
        longest = max((r.period for r in self.rates), default=0.0)
        self._longest = longest
        self._sent: deque[float] = deque(sorted(sent))

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._longest:
            self._sent.popleft()

    def _used(self, rate: Rate, now: float) -> int:
        return sum(1 for t in self._sent if t > now - rate.period)

    def available(self, now: float) -> int:
        """Messages that may go out now without breaking any window (a large number if none)."""
        self._forget(now)
        return min((r.count - self._used(r, now) for r in self.rates), default=1_000_000)

    def room(self, now: float) -> int:
        """Messages the longest window still has room for: a backlog above this is a burst."""
        self._forget(now)
        if not self.rates:
            return 1_000_000
        longest = max(self.rates, key=lambda r: r.period)
        return longest.count - self._used(longest, now)

    def wait(self, now: float) -> float:
        """Seconds until one more message may go out."""
        self._forget(now)
        wait = 0.0
        for rate in self.rates:
            recent = [t for t in self._sent if t > now - rate.period]
            if len(recent) >= rate.count:
                wait = max(wait, recent[len(recent) - rate.count] + rate.period - now)
        return wait

    def record(self, now: float) -> None:
        self._sent.append(now)
