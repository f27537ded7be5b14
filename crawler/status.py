"""`newshound status`: how each source, channel and topic is doing, read from the database,
so it works beside a running daemon."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from alerts.outbox import outbox_table
from crawler.config import Config
from crawler.store import Store, articles, source_state


def collect(config: Config, store: Store) -> dict[str, Any]:
    """Everything `status` shows, as plain data."""
    now = store.clock()
    day = now - timedelta(days=1)
    queue = [(channel, status, n) for (channel, status), n in store.outbox.counts().items()]
    with store.engine.connect() as conn:
        states = {row.source: row for row in conn.execute(select(source_state))}
        stored: dict[str, int] = dict(
            conn.execute(
                select(articles.c.source, func.count(articles.c.id))
                .where(articles.c.stored_at >= day)
                .group_by(articles.c.source)
            ).all()
        )
        last_sent = dict(
            conn.execute(
                select(outbox_table.c.channel, func.max(outbox_table.c.sent_at)).group_by(
                    outbox_table.c.channel
                )
            ).all()
        )
        alerts: dict[str, int] = dict(
            conn.execute(
                select(outbox_table.c.topic, func.count(outbox_table.c.id))
                .where(outbox_table.c.created_at >= day)
                .group_by(outbox_table.c.topic)
            ).all()
        )
    sources = []
    for source in config.sources:
        state = states.get(source.name)
        interval = (state.interval if state else None) or config.interval(source)
        last = state.last_poll_at if state else None
        sources.append(
            {
                "name": source.name,
                "kind": source.kind,
                "last_poll": _iso(last),
                "result": "never polled"
                if last is None
                else ("failed" if state and state.last_error else "ok"),
                "articles_24h": int(stored.get(source.name, 0)),
                "last_new": _iso(state.last_new_at if state else None),
                "next_poll": _iso(last + timedelta(seconds=interval) if last else None),
                "every_s": round(interval),
                "failures": int(state.failures or 0) if state else 0,
                "last_error": state.last_error if state else None,
            }
        )
    channels: dict[str, dict[str, Any]] = {}
    for name in (*config.channels, *(c for c, _, _ in queue)):
        channels.setdefault(
            name,
            {"name": name, "label": config.channel_label(name), "pending": 0, "sent": 0},
        )
    for channel, status, count in queue:
        channels[channel][status] = int(count)
    for name, entry in channels.items():
        entry["last_delivery"] = _iso(last_sent.get(name))
    topics = [{"name": t.name, "alerts_24h": int(alerts.get(t.name, 0))} for t in config.topics]
    return {
        "at": _iso(now),
        "sources": sources,
        "channels": list(channels.values()),
        "topics": topics,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _short(value: str | None) -> str:
    return value.replace("T", " ").removesuffix("+00:00") if value else "-"


def render(data: dict[str, Any]) -> str:
    """The status as aligned text tables (times in UTC)."""
    lines = [f"newshound status at {_short(data['at'])} UTC", "", "sources"]
    rows: list[tuple[str, ...]] = [
        ("name", "kind", "last poll", "result", "24h", "next poll", "every", "last error")
    ]
    for s in data["sources"]:
        error = (s["last_error"] or "")[:60]
        rows.append(
            (
                s["name"],
                s["kind"],
                _short(s["last_poll"]),
                s["result"] + (f" ({s['failures']}x)" if s["failures"] > 1 else ""),
                str(s["articles_24h"]),
                _short(s["next_poll"]),
                f"{s['every_s']}s",
                error,
            )
        )
    lines += _table(rows)
    lines += ["", "channels"]
    rows = [("name", "pending", "sent", "last delivery", "url")]
    for c in data["channels"]:
        rows.append(
            (c["name"], str(c["pending"]), str(c["sent"]), _short(c["last_delivery"]), c["label"])
        )
    lines += _table(rows)
    lines += ["", "topics"]
    rows = [("name", "alerts 24h"), *((t["name"], str(t["alerts_24h"])) for t in data["topics"])]
    lines += _table(rows)
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def run(config: Config, as_json: bool) -> int:
    store = Store(config.database)
    try:
        data = collect(config, store)
    finally:
        store.close()
    print(json.dumps(data, indent=2) if as_json else render(data))
    return 0
