"""Reports on the sources themselves to the operator's channel (`delivery.ops_channel`): a
source failing for longer than a set time, once, and again when it recovers; a source
with nothing new for days, once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from alerts.outbox import NewAlert
from alerts.render import AlertContent

if TYPE_CHECKING:
    from crawler.config import Config, Source
    from crawler.store import Store

log = logging.getLogger("newshound.watch")

OPS_TOPIC = "ops"


def check_source(
    config: Config, store: Store, source: Source, state: dict[str, Any], now: datetime
) -> str | None:
    """Queue at most one report for this source's state; returns what was reported."""
    channel = getattr(config.delivery, "ops_channel", None)
    if not channel:
        return None
    failing_since = state.get("failing_since")
    error = state.get("last_error")
    reported = state.get("reported") or ""
    report: tuple[str, str] | None = None
    if error and failing_since:
        key = f"down:{failing_since.isoformat()}"
        if reported != key and now - failing_since >= timedelta(
            seconds=config.poll.report_failing_after
        ):
            report = (key, f"{source.name}: {error} since {failing_since:%Y-%m-%d %H:%M} UTC")
    elif reported.startswith("down:"):
        since = reported.removeprefix("down:").replace("T", " ")[:16]
        report = (f"up:{reported}", f"{source.name}: recovered (failing since {since} UTC)")
    else:
        last_new = state.get("last_new_at")
        if last_new and now - last_new >= timedelta(seconds=config.poll.report_quiet_after):
            key = f"quiet:{last_new.isoformat()}"
            days = (now - last_new).days
            if reported != key:
                report = (key, f"{source.name} {source.kind}: nothing new for {days} days")
    if report is None:
        return None
    key, title = report
    content = AlertContent(
        topic=OPS_TOPIC,
        title=title,
        url=source.url,
        outlet="newshound",
        published=None,
        terms=(),
        snippets=(),
    )
    store.report(NewAlert(OPS_TOPIC, channel, f"ops:source:{source.name}:{key}", content.to_json()))
    store.update_source_state(source.name, reported=None if key.startswith("up:") else key)
    log.warning("ops: %s", title)
    return title
