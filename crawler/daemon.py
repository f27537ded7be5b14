"""The process: `run` polls sources on their intervals and delivers alerts until SIGTERM; `once`
makes one pass. Both open the store, the crawler and the channels the same way."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger

from alerts.channels import ChannelError, Channels
from alerts.dispatch import DeliveryReport, Dispatcher
from alerts.outbox import Backoff
from crawler.config import Config, ConfigError, Source, load_config
from crawler.crawl import Poller, PollResult, Runtime
from crawler.lock import AlreadyRunning, DaemonLock
from crawler.observe import Metrics, health, serve
from crawler.outbox_cli import delivery_policy, open_dispatcher
from crawler.schedule import (
    DELIVERY_JOB,
    add_source_job,
    build_scheduler,
    interval_trigger,
    next_interval,
    source_job_id,
)
from crawler.store import Store
from crawler.watch import check_source

log = logging.getLogger("newshound")

EXIT_ALREADY_RUNNING = 4
PRUNE_EVERY = timedelta(hours=1)
ATTEMPTS_KEPT = timedelta(days=30)


@dataclass
class Service:
    """Everything a run needs, opened together and closed together."""

    config: Config
    store: Store
    poller: Poller
    dispatcher: Dispatcher

    @classmethod
    def open(cls, config: Config) -> Service:
        store = Store(config.database)
        runtime = Runtime.from_config(config, store)
        return cls(config, store, Poller(runtime), open_dispatcher(config, store.outbox))

    def close(self) -> None:
        self.poller.runtime.close()
        self.store.close()


def prune(service: Service, now: datetime) -> None:
    """Keep the tables that grow with every article and send bounded: band keys older than
    the story window are never compared again; finished send attempts are kept ATTEMPTS_KEPT
    (the outbox's evidence of possible duplicates), or a channel's longest rate window."""
    store = service.store
    bands = store.prune_bands(now - timedelta(seconds=service.config.stories.window))
    kept = max(ATTEMPTS_KEPT, timedelta(seconds=service.dispatcher.channels.longest_period()))
    attempts = store.outbox.prune_attempts(now - kept)
    if bands or attempts:
        log.info("pruned %d band keys and %d finished send attempts", bands, attempts)


def record_poll(service: Service, source: Source, result: PollResult) -> float:
    """Record a poll's outcome on the source and return its next poll interval: more often
    after new articles, less often when quiet or failing (crawler.schedule.next_interval)."""
    config = service.config
    state = service.store.source_state(source.name)
    now = datetime.now(UTC)
    interval = next_interval(
        state.get("interval") or config.interval(source),
        new=result.stored,
        failed=result.error is not None,
        base=config.interval(source),
        low=config.poll.min,
        high=config.poll.max,
    )
    changes: dict[str, Any] = {
        "interval": interval,
        "last_poll_at": now,
        "last_error": result.error,
        "failures": (state.get("failures") or 0) + 1 if result.error else 0,
        "failing_since": (state.get("failing_since") or now) if result.error else None,
    }
    if result.stored or not state.get("last_new_at"):
        # A source never seen with news counts its quiet time from its first poll.
        changes["last_new_at"] = now
    service.store.update_source_state(source.name, **changes)
    check_source(config, service.store, source, {**state, **changes}, now)
    return interval


async def run_once(config: Config, show: Callable[[str], None] = print) -> int:
    """Poll every source once, concurrently, then deliver every due alert."""
    service = Service.open(config)
    try:
        sources = config.sources
        show(f"polling {len(sources)} source{'s' if len(sources) != 1 else ''}")
        results: list[PollResult] = []
        by_name = {s.name: s for s in sources}
        for done in asyncio.as_completed([service.poller.poll(s) for s in sources]):
            result = await done
            record_poll(service, by_name[result.source], result)
            results.append(result)
            show(f"[{len(results)}/{len(sources)}] {result.summary()}")
        report = await service.dispatcher.deliver_due()
        prune(service, datetime.now(UTC))  # `once` from cron keeps the tables bounded too
        pending = sum(
            n for (_, status), n in service.store.outbox.counts().items() if status == "pending"
        )
        failed = sum(1 for r in results if r.error)
        show(
            f"done: {sum(r.stored for r in results)} new articles, "
            f"{sum(r.alerts for r in results)} alerts; {report.sent} delivered, "
            f"{pending} queued for retry"
            + (f"; {failed} source{'s' if failed != 1 else ''} failed" if failed else "")
        )
        for channel, error in report.errors.items():
            show(f"channel {channel}: {error}")
        return 0
    finally:
        await service.poller.stop()
        service.close()


async def run_daemon(config: Config, stop: asyncio.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop` is set); stop cleanly with nothing half-written."""
    return await Daemon(config).run(stop or asyncio.Event())


class Daemon:
    """The running service: sources on their schedules, delivery, /healthz and /metrics,
    SIGHUP (or an edited config file) reloading sources, topics and channels in place."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.service = Service.open(config)
        self.metrics = Metrics(self.service.store)
        self.sources = {s.name: s for s in config.sources}
        self.intervals: dict[str, float] = {}
        self.retired: list[Poller] = []  # pollers replaced by a reload, their crawls finishing
        self.config_mtime = _mtime(config.path)
        self.pruned_at = datetime.min.replace(tzinfo=UTC)
        self.scheduler = build_scheduler([], self.poll, self.deliver, config.delivery.every)

    async def poll(self, name: str) -> PollResult:
        source = self.sources.get(name)
        if source is None:  # removed by a reload while its turn was queued
            return PollResult(name, 0, 0, 0, 0, {}, "removed from the config", 0.0)
        result = await self.service.poller.poll(source)
        (log.warning if result.error else log.info)("poll %s", result.summary())
        self.metrics.record_poll(result)
        interval = record_poll(self.service, source, result)
        if (
            name in self.sources
            and abs(interval - self.intervals[name]) > 0.05 * self.intervals[name]
        ):
            log.info("source %s: next polls every %.0fs", name, interval)
            self.scheduler.reschedule_job(source_job_id(name), trigger=interval_trigger(interval))
            self.intervals[name] = interval
        if result.alerts:
            # New alerts go out now rather than on the next delivery tick.
            self.scheduler.modify_job(DELIVERY_JOB, next_run_time=datetime.now(UTC))
        return result

    async def deliver(self) -> DeliveryReport:
        if self.config.path is not None and _mtime(self.config.path) != self.config_mtime:
            self.reload("the config file changed")
        now = datetime.now(UTC)
        if now - self.pruned_at > PRUNE_EVERY:
            prune(self.service, now)
            self.pruned_at = now
        return await self.service.dispatcher.deliver_due(wait=False)

    def schedule_sources(self) -> None:
        """Add, drop and re-time source jobs to match self.sources."""
        wanted = {source_job_id(name): name for name in self.sources}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("source:") and job.id not in wanted:
                job.remove()
        now = datetime.now(UTC)
        for job_id, name in wanted.items():
            source = self.sources[name]
            stored = self.service.store.source_state(name).get("interval")
            interval = stored or self.config.interval(source)
            if self.scheduler.get_job(job_id) is None:
                add_source_job(self.scheduler, self.poll, name, interval, first=now)
            elif self.intervals.get(name) != interval:
                self.scheduler.reschedule_job(job_id, trigger=interval_trigger(interval))
            self.intervals[name] = interval

    def reload(self, why: str) -> None:
        """Take a new config without a restart; an invalid one is refused and the running
        one stays."""
        assert self.config.path is not None
        self.config_mtime = _mtime(self.config.path)
        try:
            new = load_config(self.config.path)
        except ConfigError as exc:
            log.error(
                "config reload (%s) refused, the running config stays: %s",
                why,
                "; ".join(exc.problems),
            )
            return
        if new.database != self.config.database:
            log.error("config reload refused: `database` changes only with a restart")
            return
        try:
            channels = Channels(new.channels)
        except ChannelError as exc:
            log.error("config reload refused: %s", exc)
            return
        runtime = self.service.poller.runtime
        runtime.take(new)
        self.retired.append(self.service.poller)
        self.service.poller = Poller(runtime)  # Scrapy settings follow crawl/limits
        dispatcher = self.service.dispatcher
        dispatcher.channels = channels
        dispatcher.backoff = Backoff(first=new.delivery.backoff, maximum=new.delivery.max_backoff)
        dispatcher.timeout = new.delivery.timeout
        dispatcher.policy = delivery_policy(new)
        self.config = self.service.config = new
        self.sources = {s.name: s for s in new.sources}
        self.schedule_sources()
        self.scheduler.reschedule_job(
            DELIVERY_JOB, trigger=IntervalTrigger(seconds=new.delivery.every)
        )
        log.info(
            "config reloaded (%s): %d sources, %d topics, channels: %s",
            why,
            len(new.sources),
            len(new.topics),
            ", ".join(channels.names),
        )

    async def run(self, stop: asyncio.Event) -> int:
        loop = asyncio.get_running_loop()
        signals_seen = 0

        def on_signal(signum: int) -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen == 1:
                log.info(
                    "%s received: finishing crawls and deliveries", signal.Signals(signum).name
                )
                stop.set()
            else:
                log.warning("second signal: stopping now")
                for task in asyncio.all_tasks(loop):
                    task.cancel()

        lock = DaemonLock(self.service.store.engine)
        try:
            lock.acquire()
        except AlreadyRunning as exc:
            log.error("%s", exc)
            self.service.close()
            return EXIT_ALREADY_RUNNING
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        loop.add_signal_handler(signal.SIGHUP, self.reload, "SIGHUP")

        self.schedule_sources()
        self.scheduler.start()
        config = self.config
        scheduler = self.scheduler
        listening = (
            serve(
                config.http,
                self.metrics,
                lambda: health(self.service.store, lambda: scheduler.state == STATE_RUNNING),
            )
            if config.http
            else None
        )
        log.info(
            "newshound running: %d sources, %d topics, channels: %s",
            len(config.sources),
            len(config.topics),
            ", ".join(self.service.dispatcher.channels.names),
        )
        try:
            await stop.wait()
        finally:
            scheduler.pause()
            for poller in (*self.retired, self.service.poller):
                await poller.stop()
            try:
                # A send under way finishes and is recorded, within the send timeout.
                async with asyncio.timeout(self.config.delivery.timeout + 1):
                    await self.service.dispatcher.wait_idle()
            except TimeoutError:
                log.warning("a delivery was still under way at stop; it will be retried on start")
            scheduler.shutdown(wait=False)
            if listening is not None:
                listening.stopListening()
            lock.release()
            self.service.close()
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            log.info("newshound stopped")
        return 0


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path else None
    except OSError:
        return None
