"""The daemon seen from outside: /healthz and /metrics (Prometheus) on loopback, served by
the reactor the crawls already run on."""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from alerts.outbox import outbox_table

if TYPE_CHECKING:
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

    def collect(self) -> Iterator[Any]:
        from crawler.store import articles

        outbox = outbox_table
        with self.store.engine.connect() as conn:
            sizes = conn.execute(
                select(outbox.c.channel, outbox.c.status, func.count(outbox.c.id)).group_by(
                    outbox.c.channel, outbox.c.status
                )
            ).all()
            per_topic = conn.execute(
                select(outbox.c.topic, outbox.c.channel, func.count(outbox.c.id))
                .where(outbox.c.status == "sent")
                .group_by(outbox.c.topic, outbox.c.channel)
            ).all()
            delivered = conn.execute(
                select(outbox.c.sent_at, articles.c.published, articles.c.discovered_at)
                .join(articles, articles.c.id == outbox.c.article_id)
                .where(outbox.c.status == "sent")
            ).all()
        queue = GaugeMetricFamily(
            "newshound_outbox_alerts", "Alerts in the outbox", labels=["channel", "status"]
        )
        for channel, status, count in sizes:
            queue.add_metric([channel, status], count)
        yield queue
        sent = GaugeMetricFamily(
            "newshound_alerts_delivered", "Alerts delivered", labels=["topic", "channel"]
        )
        for topic, channel, count in per_topic:
            sent.add_metric([topic, channel], count)
        yield sent
        for name, index, what in (
            ("newshound_publication_to_delivery_seconds", 1, "publication"),
            ("newshound_discovery_to_delivery_seconds", 2, "discovery"),
        ):
            spans = [
                (row[0] - row[index]).total_seconds()
                for row in delivered
                if row[0] is not None and row[index] is not None
            ]
            yield _histogram(name, f"Seconds from an article's {what} to its alert", spans)


def _histogram(name: str, documentation: str, values: list[float]) -> HistogramMetricFamily:
    ordered = sorted(max(0.0, v) for v in values)
    buckets = [(str(b), bisect_left(ordered, b + 1e-9)) for b in LATENCY_BUCKETS]
    buckets.append(("+Inf", len(ordered)))
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], buckets, sum_value=sum(ordered))
    return family


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
