"""The process: `run` polls sources on their intervals and delivers alerts until SIGTERM; `once`
makes one pass. Both open the store, the crawler and the channels the same way."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.base import STATE_RUNNING

from alerts.channels import Channels
from alerts.dispatch import DeliveryReport, Dispatcher
from alerts.outbox import Backoff
from crawler.config import Config, Source
from crawler.crawl import Poller, PollResult, Runtime
from crawler.lock import AlreadyRunning, DaemonLock
from crawler.observe import Metrics, health, serve
from crawler.schedule import (
    DELIVERY_JOB,
    build_scheduler,
    interval_trigger,
    next_interval,
    source_job_id,
)
from crawler.store import Store

log = logging.getLogger("newshound")

EXIT_ALREADY_RUNNING = 4


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
        dispatcher = Dispatcher(
            store.outbox,
            Channels(config.channels),
            backoff=Backoff(first=config.delivery.backoff, maximum=config.delivery.max_backoff),
            timeout=config.delivery.timeout,
        )
        return cls(config, store, Poller(runtime), dispatcher)

    def close(self) -> None:
        self.poller.runtime.close()
        self.store.close()


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
    service.store.update_source_state(
        source.name,
        interval=interval,
        last_poll_at=now,
        last_error=result.error,
        failures=(state.get("failures") or 0) + 1 if result.error else 0,
        **({"last_new_at": now} if result.stored else {}),
    )
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
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log.info("%s received: finishing crawls and deliveries", signal.Signals(signum).name)
            stop.set()
        else:
            log.warning("second signal: stopping now")
            for task in asyncio.all_tasks(loop):
                task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    service = Service.open(config)
    lock = DaemonLock(service.store.engine)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        log.error("%s", exc)
        service.close()
        return EXIT_ALREADY_RUNNING
    sources = {s.name: s for s in config.sources}

    intervals = {
        s.name: service.store.source_state(s.name).get("interval") or config.interval(s)
        for s in config.sources
    }

    metrics = Metrics(service.store)

    async def poll(name: str) -> PollResult:
        result = await service.poller.poll(sources[name])
        (log.warning if result.error else log.info)("poll %s", result.summary())
        metrics.record_poll(result)
        adapt(name, result)
        if result.alerts:
            # New alerts go out now rather than on the next delivery tick.
            scheduler.modify_job(DELIVERY_JOB, next_run_time=datetime.now(UTC))
        return result

    def adapt(name: str, result: PollResult) -> None:
        interval = record_poll(service, sources[name], result)
        if abs(interval - intervals[name]) > 0.05 * intervals[name]:
            log.info("source %s: next polls every %.0fs", name, interval)
            scheduler.reschedule_job(source_job_id(name), trigger=interval_trigger(interval))
        intervals[name] = interval

    async def deliver() -> DeliveryReport:
        return await service.dispatcher.deliver_due()

    scheduler = build_scheduler(
        [(s.name, intervals[s.name]) for s in config.sources],
        poll,
        deliver,
        config.delivery.every,
    )
    scheduler.start()
    listening = (
        serve(
            config.http,
            metrics,
            lambda: health(service.store, lambda: scheduler.state == STATE_RUNNING),
        )
        if config.http
        else None
    )
    log.info(
        "newshound running: %d sources, %d topics, channels: %s",
        len(config.sources),
        len(config.topics),
        ", ".join(service.dispatcher.channels.names),
    )
    try:
        await stop.wait()
    finally:
        scheduler.pause()
        await service.poller.stop()
        try:
            # A send under way finishes and is recorded, within the send timeout.
            async with asyncio.timeout(config.delivery.timeout + 1):
                await service.dispatcher.wait_idle()
        except TimeoutError:
            log.warning("a delivery was still under way at stop; it will be retried on start")
        scheduler.shutdown(wait=False)
        if listening is not None:
            listening.stopListening()
        lock.release()
        service.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("newshound stopped")
    return 0
