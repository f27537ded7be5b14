"""Delivery through apprise's own plugins to real receivers on loopback: outcomes, retries,
permanent and ambiguous failures, dead alerts, interrupted sends, isolation between channels,
email threads, and no secret in any error."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import LOG_CHANNEL, ChannelError, ChannelOptions, Channels, secret_fragments
from alerts.dispatch import DeliveryPolicy, Dispatcher
from alerts.outbox import Backoff, NewAlert
from alerts.outcome import Outcome, classify
from alerts.render import AlertContent
from crawler.store import NewArticle, Store
from tests.servers import Receiver, SmtpSink, _Server, free_port


@dataclass
class Request:
    at: float  # time.monotonic() when it arrived
    status: int  # what it was answered
    body: dict[str, Any]


class ScriptedReceiver(_Server):
    """A webhook endpoint that answers request n with script[n] (then `then`): a status,
    (status, headers), or ("slow", seconds): accept, answer 200 only after that long."""

    def __init__(
        self, script: list[object] | None = None, *, port: int = 0, then: object = 200
    ) -> None:
        self.script = list(script or [])
        self.then = then
        self.requests: list[Request] = []
        self.cond = threading.Condition()
        super().__init__(port)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self.cond:
            n = len(self.requests)
            action = self.script[n] if n < len(self.script) else self.then
            status, headers, delay = 200, {}, 0.0
            if isinstance(action, tuple) and action[0] == "slow":
                delay = float(action[1])
            elif isinstance(action, tuple):
                status, headers = action
            else:
                status = int(action)  # type: ignore[call-overload]
            self.requests.append(Request(time.monotonic(), status, json.loads(raw or b"{}")))
            self.cond.notify_all()
        time.sleep(delay)
        try:
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:  # the sender gave up waiting
            pass

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Bodies the receiver took (answered 2xx, however late)."""
        with self.cond:
            return [r.body for r in self.requests if 200 <= r.status < 300]

    def wait_accepted(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(
                lambda: sum(1 for r in self.requests if 200 <= r.status < 300) >= count, timeout
            )
        return self.accepted

    def url(self, path: str = "in") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"


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


def store_with_alerts(
    tmp_path: Path,
    channels: list[str],
    count: int = 1,
    *,
    clock: Any = None,
    topics: tuple[str, ...] = (CONTENT.topic,),
    url: str = "sqlite:///{tmp}/d.db",
) -> Store:
    store = Store(url.format(tmp=tmp_path), **({"clock": clock} if clock else {}))
    add_alerts(store, channels, count, topics=topics)
    return store


def add_alerts(
    store: Store,
    channels: list[str],
    count: int,
    *,
    start: int = 0,
    topics: tuple[str, ...] = (CONTENT.topic,),
) -> None:
    for n in range(start, start + count):
        topic = topics[n % len(topics)]
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
        content = {**CONTENT.to_json(), "url": url, "topic": topic}
        store.save_article(
            article,
            lambda saved, url=url, content=content, topic=topic: [
                NewAlert(topic, ch, url, content, saved.article_id) for ch in channels
            ],
        )


def dispatcher(
    store: Store,
    channels: Mapping[str, str | ChannelOptions],
    timeout: float = 5,
    backoff: Backoff | None = None,
    **policy: Any,
) -> Dispatcher:
    return Dispatcher(
        store.outbox,
        Channels(channels),
        backoff=backoff or Backoff(first=60, maximum=60),
        timeout=timeout,
        policy=DeliveryPolicy(**policy),
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


class Clock:
    """A clock the test moves: outbox, leases, backoff and channel holds all read it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_permanent_error_waits_long_then_goes_dead_and_can_be_requeued(tmp_path: Path) -> None:
    clock = Clock()
    receiver = ScriptedReceiver(then=401)
    try:
        store = store_with_alerts(tmp_path, ["hook"], clock=clock)
        d = dispatcher(
            store, {"hook": receiver.url()}, backoff=Backoff(1, 3600, jitter=0), max_attempts=2
        )
        first = asyncio.run(d.deliver_due())
        [row] = store.outbox.rows()
        assert (first.failed, row.status, row.attempts) == (1, "pending", 1)
        assert row.last_error and "401" in row.last_error
        # Bad credentials do not heal in a second: the retry waits the longest backoff.
        assert row.next_attempt_at == clock.now + timedelta(seconds=3600)
        assert asyncio.run(d.deliver_due()).sent == 0

        clock.advance(3600)
        second = asyncio.run(d.deliver_due())
        [row] = store.outbox.rows()
        assert (second.dead, row.status, row.attempts) == (1, "dead", 2)
        assert "401" in (row.last_error or "")
        assert [e.row.id for e in store.outbox.queue()] == [row.id]
        assert asyncio.run(d.deliver_due()).failed == 0  # dead: not tried again

        receiver.then = 200
        assert [r.id for r in store.outbox.requeue(dead=True)] == [row.id]
        third = asyncio.run(d.deliver_due())
        assert third.sent == 1 and len(receiver.accepted) == 1
        assert store.outbox.queue() == []
    finally:
        receiver.close()


def test_500_and_429_are_retried_on_the_backoff(tmp_path: Path) -> None:
    clock = Clock()
    receiver = ScriptedReceiver([500, (429, {"Retry-After": "120"})])
    try:
        store = store_with_alerts(tmp_path, ["hook"], clock=clock)
        d = dispatcher(store, {"hook": receiver.url()}, backoff=Backoff(10, 100, jitter=0))
        asyncio.run(d.deliver_due())
        [row] = store.outbox.rows()
        assert row.next_attempt_at == clock.now + timedelta(seconds=10)
        assert "500" in (row.last_error or "")
        clock.advance(10)
        asyncio.run(d.deliver_due())
        [row] = store.outbox.rows()
        assert "429" in (row.last_error or "")
        # apprise's json:// plugin exposes neither the response nor its headers, so its
        # Retry-After cannot be read: the doubled backoff applies (see alerts.outcome).
        assert row.next_attempt_at == clock.now + timedelta(seconds=20)
        clock.advance(20)
        assert asyncio.run(d.deliver_due()).sent == 1
        [row] = store.outbox.rows()
        assert (row.status, row.attempts) == ("sent", 3)
        assert [r.status for r in receiver.requests] == [500, 429, 200]
    finally:
        receiver.close()


def test_a_retry_hint_in_the_log_text_is_honoured(tmp_path: Path) -> None:
    clock = Clock()
    store = store_with_alerts(tmp_path, [], clock=clock)
    d = dispatcher(store, {}, backoff=Backoff(1, 10, jitter=0))
    assert d._next_attempt("chat", Outcome.TRANSIENT, 35.0) == clock.now + timedelta(seconds=35)
    assert d._next_attempt("chat", Outcome.TRANSIENT, None) == clock.now + timedelta(seconds=1)
    assert d._next_attempt("chat", Outcome.PERMANENT, None) == clock.now + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("status", "lines", "outcome", "code", "hint"),
    [
        (
            "failure",
            ["A Connection error occurred sending JSON notification to h."],
            "transient",
            None,
            None,
        ),
        ("failure", ["Failed to send JSON POST notification: error=401."], "permanent", 401, None),
        ("failure", ["Failed to send JSON POST notification: error=404."], "permanent", 404, None),
        ("failure", ["Failed to send: error=408."], "transient", 408, None),
        ("failure", ["Failed to send: error=429."], "transient", 429, None),
        ("failure", ["Failed to send: Service Unavailable, error=503."], "transient", 503, None),
        (
            "failure",
            [
                "Failed to send Telegram notification to 12: Too Many Requests: retry "
                "after 35, error=429."
            ],
            "transient",
            429,
            35.0,
        ),
        ("failure", ['{"retry_after_ms": 1500}'], "transient", None, 1.5),
        (
            "failure",
            ["Socket Exception: HTTPConnectionPool(host='h', port=1): Read timed out."],
            "ambiguous",
            None,
            None,
        ),
        ("timeout", ["Service 'JSON' did not finish within 2.1s."], "ambiguous", None, None),
        (
            "failure",
            ["Socket Exception: (535, b'5.7.8 Authentication failed')"],
            "permanent",
            535,
            None,
        ),
        ("failure", ["Socket Exception: (421, b'4.7.0 Try again later')"], "transient", 421, None),
        ("failure", [], "transient", None, None),
        ("failure", ["error=", "retry after -", "(999, b'"], "transient", None, None),
    ],
)
def test_outcome_is_read_from_apprise_log_text(
    status: str, lines: list[str], outcome: str, code: int | None, hint: float | None
) -> None:
    verdict = classify(status, lines)
    assert (verdict.outcome.value, verdict.status, verdict.retry_after) == (outcome, code, hint)


def test_late_answer_is_ambiguous_and_costs_at_most_one_duplicate(tmp_path: Path) -> None:
    clock = Clock()
    receiver = ScriptedReceiver([("slow", 2.5)])
    try:
        store = store_with_alerts(tmp_path, ["hook"], clock=clock)
        d = dispatcher(store, {"hook": receiver.url()}, timeout=1, backoff=Backoff(1, 1, 0))
        first = asyncio.run(d.deliver_due())
        assert (first.sent, first.failed, first.maybe_duplicates) == (0, 1, 1)
        [row] = store.outbox.rows()
        assert row.status == "pending" and row.last_error and row.last_error.startswith("timeout")
        clock.advance(1)
        assert asyncio.run(d.deliver_due()).sent == 1
        bodies = receiver.wait_accepted(2)
        assert bodies[0]["message"] == bodies[1]["message"]  # one duplicate
        assert store.outbox.maybe_delivered() == 1  # and it is counted
        assert store.outbox.rows()[0].status == "sent"
    finally:
        receiver.close()


def test_a_send_cut_off_by_a_crash_is_counted_and_sent_again(tmp_path: Path) -> None:
    clock = Clock()
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=2, clock=clock)
        rows = store.outbox.due()
        # A process claimed the first row, sent it, and died before recording the outcome.
        crashed = store.outbox.claim(rows[:1], "hook", lease=7)
        assert [r.id for r in crashed.rows] == [rows[0].id]
        assert [r.id for r in store.outbox.due()] == [rows[1].id]  # leased: nobody else sends it
        d = dispatcher(store, {"hook": receiver.url()})
        assert asyncio.run(d.deliver_due()).sent == 1
        clock.advance(8)  # the lease ran out: the send is known to be interrupted
        report = asyncio.run(d.deliver_due())
        assert (report.sent, report.maybe_duplicates) == (1, 1)
        assert store.outbox.maybe_delivered() == 1
        assert [(r.status, r.attempts) for r in store.outbox.rows()] == [("sent", 2), ("sent", 1)]
    finally:
        receiver.close()


def test_two_senders_never_send_one_alert_twice(tmp_path: Path) -> None:
    receiver = ScriptedReceiver(then=("slow", 0.05))
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=12)
        first, second = (dispatcher(store, {"hook": receiver.url()}) for _ in range(2))

        async def both() -> None:
            await asyncio.gather(first.deliver_due(), second.deliver_due())

        asyncio.run(both())
        urls = [b["message"].strip().splitlines()[-1] for b in receiver.accepted]
        assert sorted(urls) == sorted(f"https://example.org/kim/{n}" for n in range(12))
    finally:
        receiver.close()


def test_email_has_topic_subject_both_parts_and_one_thread_per_topic(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    store = store_with_alerts(tmp_path, ["mail"], count=3, topics=("kim", "kim", "nato"))
    # Email's default rate (one per 2 s) would make this test wait; it is not under test here.
    d = dispatcher(store, {"mail": ChannelOptions(smtp.url(), rate="off")})
    assert asyncio.run(d.deliver_due()).sent == 3
    mails = smtp.wait_for(3)
    by_subject = {m["Subject"].split(":")[0]: m for m in mails}
    assert sorted(m["Subject"].split(":")[0] for m in mails) == [
        "[newshound] kim",
        "[newshound] kim",
        "[newshound] nato",
    ]
    kim = [m for m in mails if m["Subject"].startswith("[newshound] kim")]
    assert kim[0]["References"] == kim[1]["References"] == kim[0]["In-Reply-To"]
    assert kim[0]["Message-ID"] != kim[1]["Message-ID"]
    assert by_subject["[newshound] nato"]["References"] != kim[0]["References"]
    for mail in mails:
        assert mail.get_body(("plain",)) is not None and mail.get_body(("html",)) is not None


def test_outbox_states_on_every_backend(database_url: str) -> None:
    clock = Clock()
    store = Store(database_url, clock=clock)
    try:
        add_alerts(store, ["hook", "mail"], 2)
        rows = store.outbox.due()
        claim = store.outbox.claim(rows[:2], "hook", lease=5)
        assert len(claim.rows) == 2 and store.outbox.claim(rows[:2], "hook", 5).rows == ()
        store.outbox.finish_sent(claim)
        later = clock.now + timedelta(seconds=30)
        other = store.outbox.claim(rows[2:3], "mail", lease=5)
        dead = store.outbox.finish_failed(other, "permanent", "failure: error=401.", later, 1)
        assert [r.id for r in dead] == [rows[2].id]
        assert [(e.row.status, e.maybe_delivered) for e in store.outbox.queue()] == [
            ("dead", 0),
            ("pending", 0),
        ]
        gone = store.outbox.claim(rows[3:4], "mail", lease=5)
        clock.advance(6)
        again = store.outbox.claim(rows[3:4], "mail", lease=5)
        assert again.interrupted == 1 and store.outbox.maybe_delivered() == 1
        del gone
        assert len(store.outbox.sends_since("hook", clock.now - timedelta(minutes=1))) == 1
        assert [r.id for r in store.outbox.requeue([rows[2].id, rows[0].id])] == [rows[2].id]
    finally:
        store.close()


def test_finished_attempts_are_pruned_leases_are_kept(database_url: str) -> None:
    clock = Clock()
    store = Store(database_url, clock=clock)
    try:
        add_alerts(store, ["hook"], 3)
        rows = store.outbox.due()
        store.outbox.finish_sent(store.outbox.claim(rows[:1], "hook", lease=5))
        held = store.outbox.claim(rows[1:2], "hook", lease=60 * 86400)  # still sending
        clock.advance(31 * 86400)
        store.outbox.finish_sent(store.outbox.claim(rows[2:3], "hook", lease=5))
        long_ago = clock.now - timedelta(days=60)
        assert len(store.outbox.sends_since("hook", long_ago)) == 2

        assert store.outbox.prune_attempts(clock.now - timedelta(days=30)) == 1
        assert store.outbox.sends_since("hook", long_ago) == [clock.now]
        # The unfinished attempt still holds its row: nobody else sends it.
        assert rows[1].id not in [r.id for r in store.outbox.due()]
        assert [r.status for r in store.outbox.rows()] == ["sent", "pending", "sent"]
        del held
    finally:
        store.close()


def test_prune_keeps_sends_for_the_longest_rate_window(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from crawler.daemon import ATTEMPTS_KEPT, prune

    clock = Clock()
    store = store_with_alerts(tmp_path, ["hook"], clock=clock)
    try:
        hook = ChannelOptions(url="json://127.0.0.1:9/", rate=("1/40d",))
        service: Any = SimpleNamespace(
            store=store,
            config=SimpleNamespace(stories=SimpleNamespace(window=86400.0)),
            dispatcher=dispatcher(store, {"hook": hook}),
        )
        store.outbox.finish_sent(store.outbox.claim(store.outbox.due(), "hook", lease=5))
        assert timedelta(days=35) > ATTEMPTS_KEPT
        clock.advance(35 * 86400)
        prune(service, clock.now)
        assert len(store.outbox.sends_since("hook", clock.now - timedelta(days=40))) == 1
        clock.advance(6 * 86400)
        prune(service, clock.now)
        assert store.outbox.sends_since("hook", clock.now - timedelta(days=60)) == []
    finally:
        store.close()


def test_latency_histograms_count_each_delivery_once_across_scrapes(database_url: str) -> None:
    from crawler.observe import Metrics

    clock = Clock()
    clock.now = CONTENT.published + timedelta(minutes=20)
    store = Store(database_url, clock=clock)

    def published_to_sent() -> tuple[float, float, float]:
        lines = Metrics(store).exposition().decode() if fresh else metrics.exposition().decode()
        name = "newshound_publication_to_delivery_seconds"
        values = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in lines.splitlines()
            if line.startswith(name)
        }
        return (
            values[f"{name}_count"],
            values[f'{name}_bucket{{le="1800"}}'],
            values[f"{name}_sum"],
        )

    try:
        add_alerts(store, ["hook"], 4)
        rows = store.outbox.due()
        metrics, fresh = Metrics(store), False
        assert published_to_sent() == (0, 0, 0)
        store.outbox.finish_sent(store.outbox.claim(rows[:1], "hook", lease=5))  # after 20 min
        assert published_to_sent() == (1, 1, 1200)
        assert published_to_sent() == (1, 1, 1200)  # a scrape counts nothing twice
        clock.advance(3600)
        store.outbox.finish_sent(store.outbox.claim(rows[1:2], "hook", lease=5))  # 80 min
        assert published_to_sent() == (2, 1, 1200 + 4800)
        # A send recorded late, stamped before the latest one seen: counted, once.
        clock.advance(-300)
        store.outbox.finish_sent(store.outbox.claim(rows[2:3], "hook", lease=5))  # 75 min
        assert published_to_sent() == (3, 1, 1200 + 4800 + 4500)
        assert published_to_sent() == (3, 1, 1200 + 4800 + 4500)
        # A restarted daemon reads them all from the database.
        fresh = True
        assert published_to_sent() == (3, 1, 1200 + 4800 + 4500)
    finally:
        store.close()
