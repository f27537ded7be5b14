"""The daemon seen from outside: /healthz and /metrics (Prometheus) on loopback, served by
the reactor the crawls already run on."""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from alerts.outbox import outbox_table

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from crawler.crawl import PollResult
    from crawler.store import Store

log = logging.getLogger("newshound.http")

# Seconds from an article's publication (or discovery) to its alert's delivery.
LATENCY_BUCKETS = (30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)


class Metrics:
    """Counters of what this process did, and figures read from the database on each scrape."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "newshound_polls",
            "Polls of a source, by result",
            ["source", "result"],
            registry=self.registry,
        )
        self.fetch_errors = Counter(
            "newshound_fetch_errors",
            "Article fetches that failed",
            ["source"],
            registry=self.registry,
        )
        self.articles = Counter(
            "newshound_articles", "Articles stored", ["source"], registry=self.registry
        )
        self.registry.register(_DatabaseCollector(store))

    def record_poll(self, result: PollResult) -> None:
        outcome = "failed" if result.error else "not_modified" if result.not_modified else "ok"
        self.polls.labels(result.source, outcome).inc()
        self.articles.labels(result.source).inc(result.stored)
        failures = result.dropped.get("article fetch error", 0)
        if failures:
            self.fetch_errors.labels(result.source).inc(failures)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector(Collector):
    """Outbox sizes, alerts per topic and channel, and delivery latencies, from the database:
    true across restarts, and the same whichever process asks."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.latencies = Latencies()

    def collect(self) -> Iterator[Any]:
        outbox = outbox_table
        sizes = self.store.outbox.counts()
        with self.store.engine.connect() as conn:
            per_topic = conn.execute(
                select(outbox.c.topic, outbox.c.channel, func.count(outbox.c.id))
                .where(outbox.c.status == "sent")
                .group_by(outbox.c.topic, outbox.c.channel)
            ).all()
            self.latencies.update(conn)
        queue = GaugeMetricFamily(
            "newshound_outbox_alerts", "Alerts in the outbox", labels=["channel", "status"]
        )
        for (channel, status), count in sizes.items():
            queue.add_metric([channel, status], count)
        yield queue
        sent = GaugeMetricFamily(
            "newshound_alerts_delivered", "Alerts delivered", labels=["topic", "channel"]
        )
        for topic, channel, count in per_topic:
            sent.add_metric([topic, channel], count)
        yield sent
        yield from self.latencies.families()


class Latencies:
    """Seconds from each delivered alert's article publication and discovery to its delivery,
    as histograms. The first scrape reads every delivered alert; later ones only those sent
    since (by the indexed sent_at, with a margin for sends committed late, counted once)."""

    MARGIN = timedelta(minutes=10)
    KINDS = (
        ("newshound_publication_to_delivery_seconds", "publication"),
        ("newshound_discovery_to_delivery_seconds", "discovery"),
    )

    def __init__(self) -> None:
        self.since: datetime | None = None
        self.counted: dict[int, datetime] = {}  # alerts sent within MARGIN of `since`
        # Per kind: how many spans fall in each bucket (the last: beyond them all), and the sum.
        self.buckets = [[0] * (len(LATENCY_BUCKETS) + 1) for _ in self.KINDS]
        self.sums = [0.0 for _ in self.KINDS]

    def update(self, conn: Connection) -> None:
        from crawler.store import articles

        outbox = outbox_table
        query = (
            select(outbox.c.id, outbox.c.sent_at, articles.c.published, articles.c.discovered_at)
            .join(articles, articles.c.id == outbox.c.article_id)
            .where(outbox.c.status == "sent", outbox.c.sent_at.is_not(None))
        )
        if self.since is not None:
            query = query.where(outbox.c.sent_at >= self.since - self.MARGIN)
        latest = self.since
        for ident, sent_at, *starts in conn.execute(query):
            if ident in self.counted:
                continue
            self.counted[ident] = sent_at
            latest = sent_at if latest is None else max(latest, sent_at)
            for kind, start in enumerate(starts):
                if start is not None:
                    span = max(0.0, (sent_at - start).total_seconds())
                    self.buckets[kind][bisect_left(LATENCY_BUCKETS, span)] += 1
                    self.sums[kind] += span
        self.since = latest
        if latest is not None:
            edge = latest - self.MARGIN
            self.counted = {i: t for i, t in self.counted.items() if t >= edge}

    def families(self) -> Iterator[HistogramMetricFamily]:
        for (name, what), counts, total in zip(self.KINDS, self.buckets, self.sums, strict=True):
            family = HistogramMetricFamily(name, f"Seconds from an article's {what} to its alert")
            cumulative = list(accumulate(counts))
            buckets = [(str(b), n) for b, n in zip(LATENCY_BUCKETS, cumulative, strict=False)]
            buckets.append(("+Inf", cumulative[-1]))
            family.add_metric([], buckets, sum_value=total)
            yield family


def health(store: Store, scheduler_running: Callable[[], bool]) -> tuple[bool, dict[str, Any]]:
    """Whether the daemon is ready: its scheduler runs and its database answers."""
    database = "ok"
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    scheduler = "running" if scheduler_running() else "stopped"
    ok = database == "ok" and scheduler == "running"
    return ok, {"status": "ok" if ok else "unhealthy", "scheduler": scheduler, "database": database}


def serve(address: str, metrics: Metrics, check: Callable[[], tuple[bool, dict[str, Any]]]) -> Any:
    """Listen on `address` (host:port) with /healthz and /metrics; returns the listening port
    (stopListening() closes it), or None when the address cannot be had."""
    from twisted.internet import reactor as installed
    from twisted.internet.error import CannotListenError
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    class Health(Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> bytes:
            ok, body = check()
            request.setResponseCode(200 if ok else 503)
            request.setHeader(b"Content-Type", b"application/json")
            return json.dumps(body).encode()

    class Exposition(Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> bytes:
            request.setHeader(b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8")
            return metrics.exposition()

    reactor: Any = installed  # twisted's stubs describe interfaces, not the reactor object
    root = Resource()
    root.putChild(b"healthz", Health())  # type: ignore[arg-type]
    root.putChild(b"metrics", Exposition())  # type: ignore[arg-type]
    host, _, port = address.rpartition(":")
    try:
        listening = reactor.listenTCP(int(port), Site(root), interface=host)
    except CannotListenError as exc:
        log.error(
            "http: cannot listen on %s: %s; running without /healthz and /metrics",
            address,
            exc.socketError,
        )
        return None
    log.info("http: /healthz and /metrics on http://%s", address)
    return listening
