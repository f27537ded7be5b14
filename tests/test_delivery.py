"""Delivery through apprise's own plugins to real receivers on loopback: outcomes, retries,
isolation between channels, and no secret in any error."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.channels import LOG_CHANNEL, ChannelError, Channels, secret_fragments
from alerts.dispatch import Dispatcher
from alerts.outbox import Backoff, NewAlert
from alerts.render import AlertContent
from crawler.store import NewArticle, Store
from tests.servers import Receiver, SmtpSink, free_port

CONTENT = AlertContent(
    topic="kim-putin-waffen",
    title="Kim und Putin verhandeln über Waffen",
    url="https://example.org/kim",
    outlet="testzeitung",
    published=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
    terms=("Kim", "Putin", "Waffen"),
    snippets=("Kim und Putin verhandeln über Waffen.",),
)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


def store_with_alerts(tmp_path: Path, channels: list[str], count: int = 1) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    for n in range(count):
        url = f"https://example.org/kim/{n}"
        article = NewArticle(
            url=url,
            aliases=(),
            source="testzeitung",
            title=CONTENT.title,
            authors=(),
            published=CONTENT.published,
            language="de",
            text=f"text {n}",
            discovered_at=datetime.now(UTC),
        )
        content = {**CONTENT.to_json(), "url": url}
        store.save_article(
            article,
            lambda saved, url=url, content=content: [
                NewAlert(CONTENT.topic, ch, url, content, saved.article_id) for ch in channels
            ],
        )
    return store


def dispatcher(store: Store, channels: dict[str, str], timeout: float = 5) -> Dispatcher:
    return Dispatcher(
        store.outbox, Channels(channels), backoff=Backoff(first=60, maximum=60), timeout=timeout
    )


def test_json_and_mail_receive_rendered_alerts(
    tmp_path: Path, receiver: Receiver, smtp: SmtpSink
) -> None:
    store = store_with_alerts(tmp_path, ["hook", "mail"])
    d = dispatcher(store, {"hook": f"json://127.0.0.1:{receiver.port}/in", "mail": smtp.url()})
    report = asyncio.run(d.deliver_due())
    assert (report.sent, report.failed) == (2, 0)
    [post] = receiver.wait_for(1)
    assert post["title"].startswith("[newshound] kim-putin-waffen:")
    assert "https://example.org/kim/0" in post["message"]
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "desk@example.org"
    assert mail.get_body(("html",)) is not None and mail.get_body(("plain",)) is not None
    assert store.outbox.due() == []


def test_http_500_keeps_the_alert_with_its_error_and_no_secret(tmp_path: Path) -> None:
    receiver = Receiver(status=500)
    try:
        store = store_with_alerts(tmp_path, ["hook"])
        url = f"json://newshound:SEKRETPASSWORD@127.0.0.1:{receiver.port}/SEKRETPATH"
        report = asyncio.run(dispatcher(store, {"hook": url}).deliver_due())
        assert (report.sent, report.failed) == (0, 1)
        [row] = store.outbox.rows()
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error and "500" in row.last_error
        assert "SEKRET" not in row.last_error and "SEKRET" not in report.errors["hook"]
        assert row.next_attempt_at > datetime.now(UTC)
    finally:
        receiver.close()


def test_dead_channel_does_not_delay_the_others(
    tmp_path: Path, receiver: Receiver, silent_port: int
) -> None:
    store = store_with_alerts(tmp_path, ["silent", "hook"], count=3)
    d = dispatcher(
        store,
        {
            "silent": f"json://127.0.0.1:{silent_port}/x",
            "hook": f"json://127.0.0.1:{receiver.port}/in",
        },
        timeout=3,
    )

    async def run() -> tuple[float, float]:
        started = time.monotonic()
        task = asyncio.create_task(d.deliver_due())
        while len(receiver.posts) < 3 and time.monotonic() - started < 10:
            await asyncio.sleep(0.05)
        hook_done = time.monotonic() - started
        await task
        return hook_done, time.monotonic() - started

    hook_done, all_done = asyncio.run(run())
    assert len(receiver.posts) == 3
    assert hook_done < 2.5 < all_done  # the hook got all three while the silent one hung
    silent = [r for r in store.outbox.rows() if r.channel == "silent"]
    # One attempt on the dead channel per pass, not one per alert.
    assert sorted(r.attempts for r in silent) == [0, 0, 1]
    assert all(r.status == "pending" for r in silent)


def test_channel_in_backoff_is_not_retried_early(tmp_path: Path) -> None:
    port = free_port()
    store = store_with_alerts(tmp_path, ["hook"], count=2)
    d = dispatcher(store, {"hook": f"json://127.0.0.1:{port}/in"})
    first = asyncio.run(d.deliver_due())
    second = asyncio.run(d.deliver_due())
    assert (first.failed, first.deferred) == (1, 1)
    assert (second.failed, second.sent) == (0, 0)
    assert (
        "refused" in (first.errors["hook"].lower()) or "connection" in first.errors["hook"].lower()
    )


def test_log_channel_prints_the_alert(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = store_with_alerts(tmp_path, [LOG_CHANNEL])
    with caplog.at_level(logging.INFO, logger="newshound.channels"):
        report = asyncio.run(dispatcher(store, {}).deliver_due())
    assert report.sent == 1
    assert "Kim und Putin verhandeln über Waffen" in caplog.text
    assert "https://example.org/kim/0" in caplog.text


def test_labels_hide_tokens_and_bad_urls_name_only_the_channel() -> None:
    channels = Channels({"chat": "tgram://123456789:SEKRETtokenABCDEFGHIJ/12345"})
    assert "SEKRET" not in channels.label("chat")
    with pytest.raises(ChannelError) as err:
        Channels({"chat": "nosuchservice://SEKRET@host"})
    assert "SEKRET" not in str(err.value) and "chat" in str(err.value)
    with pytest.raises(ChannelError):
        Channels({"log": "json://127.0.0.1/x"})


def test_secret_fragments_cover_every_part() -> None:
    parts = secret_fragments("mailtos://user:p%40ss@mail.example.org:587/x?to=a@b.org&token=ABCDEF")
    for secret in ("user", "p@ss", "mail.example.org", "a@b.org", "ABCDEF"):
        assert secret in parts
