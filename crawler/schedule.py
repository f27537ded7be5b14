"""Scheduler glue: one APScheduler job per source and one for delivery, on the running loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

DELIVERY_JOB = "delivery"


def next_interval(
    current: float, *, new: int, failed: bool, base: float, low: float, high: float
) -> float:
    """The next poll interval of a source, adapted to what its last poll found.

    A source that had new articles is polled twice as often, one with nothing new a quarter
    less often, one that failed half as often, always within [low, high], which are widened
    to include the configured interval `base` so an explicit `every` is always reachable.
    """
    low, high = min(low, base), max(high, base)
    if failed:
        current *= 2
    elif new:
        current /= 2
    else:
        current *= 1.25
    return min(high, max(low, current))


def source_job_id(name: str) -> str:
    return f"source:{name}"


def interval_trigger(seconds: float) -> IntervalTrigger:
    # Jitter spreads sources that share an interval so they do not all fire together.
    return IntervalTrigger(seconds=seconds, jitter=min(seconds * 0.1, 60.0))


def add_source_job(
    scheduler: AsyncIOScheduler,
    poll: Callable[[str], Awaitable[object]],
    name: str,
    interval: float,
    first: datetime,
) -> None:
    """One job per source: a poll still running when its next turn comes is not started
    twice (max_instances=1), and turns missed while the daemon was down or busy collapse
    into one (coalesce) rather than replaying."""
    scheduler.add_job(
        poll,
        interval_trigger(interval),
        args=[name],
        id=source_job_id(name),
        name=f"poll {name}",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(int(interval), 1),
        next_run_time=first,
    )


def build_scheduler(
    sources: Iterable[tuple[str, float]],
    poll: Callable[[str], Awaitable[object]],
    deliver: Callable[[], Awaitable[object]],
    delivery_every: float,
) -> AsyncIOScheduler:
    """A scheduler (not started) with every source polled on its interval.

    `sources` holds (name, interval in seconds). Every job runs once at start, then on
    its interval; a poll still running when its next turn comes is not started twice
    (max_instances=1) and late turns collapse into one (coalesce) rather than replaying.
    """
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)
    for name, interval in sources:
        add_source_job(scheduler, poll, name, interval, first=now)
    scheduler.add_job(
        deliver,
        IntervalTrigger(seconds=delivery_every),
        id=DELIVERY_JOB,
        name="deliver alerts",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(int(delivery_every), 1),
        next_run_time=now,
    )
    return scheduler
