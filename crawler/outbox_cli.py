"""`newshound outbox` (list, retry) and `newshound notify-test`, and the one place that turns
the config's delivery settings into a Dispatcher (the daemon and `once` use it too)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

# Imported where used: `newshound extract` builds this parser too and need not load apprise.
if TYPE_CHECKING:
    from alerts.dispatch import DeliveryPolicy, Dispatcher
    from alerts.outbox import Outbox, QueueEntry
    from crawler.config import Config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3

_ERROR_WIDTH = 80


def delivery_policy(config: Config) -> DeliveryPolicy:
    from alerts.dispatch import DeliveryPolicy
    from alerts.render import DEFAULT_TEMPLATES, Templates
    from alerts.timing import DigestSchedule, TopicTiming

    topics = {
        t.name: TopicTiming(DigestSchedule.parse(t.digest) if t.digest else None, t.cooldown)
        for t in config.topics
    }
    delivery = config.delivery
    return DeliveryPolicy(
        max_attempts=delivery.max_attempts,
        topics=topics,
        templates=Templates(**{**asdict(DEFAULT_TEMPLATES), **delivery.templates}),
        ops_channel=delivery.ops_channel,
        ops_after=delivery.ops_after,
    )


def open_dispatcher(config: Config, outbox: Outbox) -> Dispatcher:
    """The dispatcher for `config`; raises ChannelError for a channel apprise refuses."""
    from alerts.channels import Channels
    from alerts.dispatch import Dispatcher
    from alerts.outbox import Backoff

    delivery = config.delivery
    return Dispatcher(
        outbox,
        Channels(config.channels),
        backoff=Backoff(first=delivery.backoff, maximum=delivery.max_backoff),
        timeout=delivery.timeout,
        policy=delivery_policy(config),
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = sub.add_parser(
        "outbox",
        help="list alerts waiting, retrying or dead; `outbox retry` sends them again",
        description="List every alert not delivered yet: pending, retrying (with its last "
        "error and next attempt) and dead (gave up after delivery.max_attempts). "
        "Exit 0 when none is dead, 1 when some are.",
    )
    actions = outbox.add_subparsers(dest="outbox_action", metavar="ACTION")
    retry = actions.add_parser(
        "retry",
        help="requeue alerts by id, or every dead one with --dead",
        description="Make alerts due now with their attempts counted afresh, and lift their "
        "channels' retry waits. Exit 0 when all were requeued, 1 when an id is unknown "
        "or was delivered already.",
    )
    retry.add_argument("ids", metavar="ID", type=int, nargs="*", help="outbox ids")
    retry.add_argument("--dead", action="store_true", help="every dead alert")
    notify = sub.add_parser(
        "notify-test",
        help="send a test message to one channel and say what happened",
        description="Send a test message to CHANNEL now (no outbox). Exit 0 delivered, "
        "1 not delivered, 2 unknown channel.",
    )
    notify.add_argument("channel", metavar="CHANNEL")


def run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "notify-test":
        return notify_test(config, args.channel)
    from crawler.store import Store, StoreError

    try:
        store = Store(config.database)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return EXIT_DATABASE
    try:
        if getattr(args, "outbox_action", None) == "retry":
            return retry(store.outbox, args.ids, args.dead)
        return show_queue(store.outbox)
    finally:
        store.close()


def show_queue(outbox: Outbox) -> int:
    from alerts.outbox import DEAD

    entries = outbox.queue()
    maybe = outbox.maybe_delivered()
    if not entries:
        print("outbox: nothing waiting")
    else:
        rows: list[tuple[str, ...]] = [
            ("id", "topic", "channel", "state", "tries", "next attempt (UTC)", "last error")
        ]
        rows += [_row(e) for e in entries]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
        states = [_state(e) for e in entries]
        counts = ", ".join(f"{states.count(s)} {s}" for s in ("pending", "retrying", "dead"))
        print(f"{len(entries)} alerts: {counts}")
    if maybe:
        print(
            f"{maybe} send{'s' if maybe != 1 else ''} may have reached a channel unrecorded "
            "(cut off by a crash or a timeout) and were sent again: possible duplicates"
        )
    return EXIT_FAILED if any(e.row.status == DEAD for e in entries) else EXIT_OK


def _state(entry: QueueEntry) -> str:
    if entry.row.status == "dead":
        return "dead"
    return "retrying" if entry.row.attempts else "pending"


def _row(entry: QueueEntry) -> tuple[str, ...]:
    row = entry.row
    error = " ".join((row.last_error or "-").split())
    if len(error) > _ERROR_WIDTH:  # the end says most (apprise ends with "error=401.")
        half = _ERROR_WIDTH // 2
        error = error[: half - 1] + "…" + error[-half:]
    when = "-" if row.status == "dead" else _when(row.next_attempt_at)
    return (str(row.id), row.topic, row.channel, _state(entry), str(row.attempts), when, error)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def retry(outbox: Outbox, ids: list[int], dead: bool) -> int:
    if not ids and not dead:
        print("outbox retry: give alert ids, or --dead")
        return EXIT_USAGE
    done = outbox.requeue(ids or None, dead=dead)
    missing = sorted(set(ids) - {r.id for r in done})
    for row in done:
        print(f"alert {row.id} (topic {row.topic}, channel {row.channel}): requeued")
    if dead and not ids and not done:
        print("no dead alerts")
    for row_id in missing:
        print(f"alert {row_id}: no such alert waiting (unknown, or delivered already)")
    return EXIT_FAILED if missing else EXIT_OK


def notify_test(config: Config, name: str) -> int:
    from alerts.channels import ChannelError, Channels
    from alerts.render import Message

    try:
        channels = Channels(config.channels)
    except ChannelError as exc:
        print(exc)
        return EXIT_USAGE
    if name not in channels.names:
        known = ", ".join(channels.names)
        print(f"notify-test: unknown channel {name!r} (known: {known})")
        return EXIT_USAGE
    now = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = f"This is a test message from newshound to channel {name}, sent {now}."
    message = Message(
        subject="[newshound] test message",
        text=text + "\n",
        markdown=f"**newshound test message**\n\n{text}\n",
        html=f"<p><strong>newshound test message</strong></p>\n<p>{text}</p>\n",
        thread="newshound-test",
    )
    started = time.monotonic()
    result = asyncio.run(channels.send(name, message, config.delivery.timeout))
    took = time.monotonic() - started
    where = f"channel {name} ({channels.label(name)})"
    if result.ok:
        print(f"{where}: delivered in {took:.1f} s")
        return EXIT_OK
    print(f"{where}: not delivered ({result.outcome.value}) after {took:.1f} s: {result.error}")
    return EXIT_FAILED
