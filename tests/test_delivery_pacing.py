"""Pacing delivery: digest schedules, quiet hours, cooldowns, per-channel rate limits (a burst
becomes one digest), and messages fitted to a service's length limit without broken markup.
Time is a clock the test passes in; the receivers are real."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.channels import ChannelOptions, Channels
from alerts.digest import render_digest
from alerts.fit import shorten
from alerts.flood import Limiter, Rate, RateError, parse_rates
from alerts.render import AlertContent, render
from alerts.timing import DigestSchedule, QuietHours, TimingError, TopicTiming
from tests.servers import SmtpSink
from tests.test_delivery import CONTENT, Clock, ScriptedReceiver, dispatcher, store_with_alerts

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


# --- schedules and windows -------------------------------------------------------------


def test_daily_digest_slot_in_its_zone_across_dst() -> None:
    daily = DigestSchedule.parse("daily 08:00 Europe/Berlin")
    assert daily.slot_after(berlin(2026, 3, 28, 9, 0)) == berlin(2026, 3, 29, 8, 0)
    assert daily.slot_after(berlin(2026, 3, 29, 7, 59)) == berlin(2026, 3, 29, 8, 0)
    # 08:00 Berlin is 07:00 UTC in winter and 06:00 UTC in summer.
    assert daily.slot_after(berlin(2026, 3, 28, 7, 0)).astimezone(UTC).hour == 7
    assert daily.slot_after(berlin(2026, 3, 29, 7, 0)).astimezone(UTC).hour == 6
    assert DigestSchedule.parse("daily 8:00").zone == UTC


def test_every_digest_slots_sit_on_the_clock() -> None:
    every = DigestSchedule.parse("every 30m")
    at = datetime(2026, 11, 20, 8, 10, tzinfo=UTC)
    assert every.slot_after(at) == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert every.slot_after(at.replace(minute=30)) == at.replace(minute=30)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("hourly", "not a digest schedule"),
        ("every 10s", "at least 1m"),
        ("every soon", "not a duration"),
        ("daily 25:00", "not a time of day"),
        ("daily 08:00 Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_schedules_say_why(text: str, error: str) -> None:
    with pytest.raises(TimingError, match=error):
        DigestSchedule.parse(text)


def test_quiet_hours_across_midnight_and_within_a_day() -> None:
    night = QuietHours.parse("22:00-07:00 Europe/Berlin")
    assert night.until(berlin(2026, 11, 20, 23, 30)) == berlin(2026, 11, 21, 7, 0)
    assert night.until(berlin(2026, 11, 21, 6, 59)) == berlin(2026, 11, 21, 7, 0)
    assert night.until(berlin(2026, 11, 21, 7, 0)) is None
    assert night.until(berlin(2026, 11, 21, 12, 0)) is None
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch.until(datetime(2026, 1, 1, 12, 5, tzinfo=UTC)) == datetime(
        2026, 1, 1, 13, 30, tzinfo=UTC
    )
    with pytest.raises(TimingError):
        QuietHours.parse("22:00-22:00")


def test_rates_and_the_limiter() -> None:
    assert parse_rates("20/min") == (Rate(20, 60),)
    assert parse_rates(["1/s", "5/2s", "30/h"]) == (Rate(1, 1), Rate(5, 2), Rate(30, 3600))
    assert parse_rates("off") == ()
    with pytest.raises(RateError):
        parse_rates("20/fortnight")
    limiter = Limiter((Rate(1, 1), Rate(3, 60)), sent=[100.0])
    assert (limiter.available(100.5), limiter.room(100.5)) == (0, 2)
    assert limiter.wait(100.5) == pytest.approx(0.5)
    limiter.record(101.0)
    limiter.record(102.0)
    assert limiter.room(102.5) == 0 and limiter.wait(102.5) == pytest.approx(57.5)
    assert limiter.room(160.5) == 1  # the first send left the minute window


def test_service_defaults() -> None:
    channels = Channels(
        {
            "tg": "tgram://123456789:ABCdefGhIjKlmNoPQRsTUVwxyZ/12345",
            "dc": "discord://1234/abcdefghijk",
            "mail": "mailtos://user:pw@example.org?to=a@b.org",
            "hook": "json://127.0.0.1/x",
            "custom": ChannelOptions(
                "tgram://123456789:ABCdefGhIjKlmNoPQRsTUVwxyZ/1",
                rate="5/min",
                format="text",
                max_length=1000,
            ),
        }
    )
    tg, dc, mail, hook, custom = (channels.get(n) for n in ("tg", "dc", "mail", "hook", "custom"))
    assert tg and dc and mail and hook and custom
    assert (tg.format, tg.rates) == ("markdown", (Rate(1, 1), Rate(20, 60)))
    assert tg.max_chars <= 4096 - 150  # Telegram has no title: apprise puts it in the body
    assert (dc.format, dc.max_chars, dc.rates) == ("markdown", 2000, (Rate(5, 2), Rate(30, 60)))
    assert (mail.format, mail.rates) == ("html", (Rate(1, 2), Rate(30, 3600)))
    assert (hook.format, hook.rates) == ("text", ())
    assert (custom.format, custom.max_chars, custom.rates) == ("text", 1000, (Rate(5, 60),))


# --- length limits -----------------------------------------------------------------------


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in ("br",):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (tag, self.open)
        self.open.pop()


def balanced(html: str) -> bool:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    return not parser.open


LONG = AlertContent(
    topic="kim",
    title="Kim & Putin <verhandeln> über *Waffen* " * 8,
    url="https://example.org/a_(b)",
    outlet="Testzeitung",
    published=None,
    terms=("Kim", "Putin", "Waffen"),
    snippets=tuple(f"Satz {n}: Kim traf Putin, es ging um Waffen & mehr. " * 6 for n in range(3)),
)


@pytest.mark.parametrize("limit", [300, 500, 900, 2000])
def test_a_long_alert_is_shortened_with_its_markup_whole(limit: int) -> None:
    message = render(LONG, max_chars=limit)
    for fmt in ("text", "markdown", "html"):
        assert len(message.body(fmt)) <= limit, fmt
    assert balanced(message.html)
    plain = re.sub(r"\\.", "", message.markdown)
    assert plain.count("**") % 2 == 0 and plain.count("[") == plain.count("]")
    assert "&" not in re.sub(r"&(amp|lt|gt|quot|#x27);", "", message.html)  # no cut entity


@given(st.text(min_size=0, max_size=400), st.integers(min_value=5, max_value=300))
def test_shortened_html_is_always_balanced(text: str, limit: int) -> None:
    import html

    body = f"<p><strong>{html.escape(text)}</strong></p>\n<ul><li>{html.escape(text)}</li></ul>"
    cut = shorten(body, limit, "html")
    assert len(cut) <= max(limit, 1) or cut == "…"
    assert balanced(cut)


def test_a_digest_too_long_is_split_between_items_and_drops_none() -> None:
    items = [{**CONTENT.to_json(), "url": f"https://example.org/{n}"} for n in range(30)]
    parts = render_digest(items, 600, why="test")
    assert len(parts) > 1
    assert sorted(i for p in parts for i in p.items) == list(range(30))
    for part in parts:
        for fmt in ("text", "markdown", "html"):
            assert len(part.message.body(fmt)) <= 600
        assert balanced(part.message.html)
        assert re.search(r"\(\d+/\d+\)$", part.message.subject)


# --- the dispatcher paces real sends -----------------------------------------------------


def urls(receiver: ScriptedReceiver) -> list[str]:
    return re.findall(
        r"https://example\.org/kim/\d+", " ".join(b["message"] for b in receiver.accepted)
    )


def test_a_burst_above_the_rate_becomes_one_digest(tmp_path: Path) -> None:
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=12)
        d = dispatcher(store, {"hook": ChannelOptions(receiver.url(), rate="5/min")})
        report = asyncio.run(d.deliver_due())
        assert (report.sent, report.messages) == (12, 1)
        [post] = receiver.accepted
        assert "12 alerts" in post["title"] and "more than the rate allows" in post["message"]
        assert sorted(urls(receiver)) == sorted(f"https://example.org/kim/{n}" for n in range(12))
        assert all(r.status == "sent" for r in store.outbox.rows())
    finally:
        receiver.close()


def test_within_the_rate_alerts_go_one_by_one_paced(tmp_path: Path) -> None:
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=3)
        d = dispatcher(store, {"hook": ChannelOptions(receiver.url(), rate=["1/s", "20/min"])})
        report = asyncio.run(d.deliver_due())
        assert (report.sent, report.messages) == (3, 3)
        times = [r.at for r in receiver.requests]
        assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))
    finally:
        receiver.close()


def test_a_long_digest_reaches_a_short_channel_in_parts(tmp_path: Path) -> None:
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=20)
        options = ChannelOptions(receiver.url(), rate="2/min", max_length=400)
        report = asyncio.run(dispatcher(store, {"hook": options}).deliver_due())
        assert report.sent == 20 and report.messages > 1
        assert all(len(b["message"]) <= 400 for b in receiver.accepted)
        assert sorted(urls(receiver)) == sorted(f"https://example.org/kim/{n}" for n in range(20))
    finally:
        receiver.close()


def test_digest_topic_waits_for_its_time_then_sends_one_message(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = datetime(2026, 11, 20, 7, 10, tzinfo=UTC)  # 08:10 in Berlin
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=3, clock=clock)
        timing = {
            CONTENT.topic: TopicTiming(digest=DigestSchedule.parse("daily 09:00 Europe/Berlin"))
        }
        d = dispatcher(store, {"hook": receiver.url()}, topics=timing)
        held = asyncio.run(d.deliver_due())
        assert (held.sent, held.deferred) == (0, 3)
        assert {r.next_attempt_at for r in store.outbox.rows()} == {berlin(2026, 11, 20, 9, 0)}
        clock.advance(49 * 60)
        assert asyncio.run(d.deliver_due()).sent == 0
        clock.advance(60)
        report = asyncio.run(d.deliver_due())
        assert (report.sent, report.messages) == (3, 1)
        [post] = receiver.accepted
        assert post["title"] == f"[newshound] {CONTENT.topic}: 3 alerts"
        assert "digest daily 09:00 Europe/Berlin" in post["message"]
    finally:
        receiver.close()


def test_quiet_hours_defer_and_never_drop(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = berlin(2026, 11, 20, 23, 0).astimezone(UTC)
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=2, clock=clock)
        options = ChannelOptions(receiver.url(), quiet="22:00-07:00 Europe/Berlin")
        d = dispatcher(store, {"hook": options})
        assert asyncio.run(d.deliver_due()).deferred == 2
        assert {r.next_attempt_at for r in store.outbox.rows()} == {berlin(2026, 11, 21, 7, 0)}
        clock.now = berlin(2026, 11, 21, 7, 0).astimezone(UTC)
        assert asyncio.run(d.deliver_due()).sent == 2
        assert len(receiver.accepted) == 2
    finally:
        receiver.close()


def test_cooldown_holds_the_next_alerts_and_sends_them_together(tmp_path: Path) -> None:
    clock = Clock()
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=1, clock=clock)
        timing = {CONTENT.topic: TopicTiming(cooldown=600)}
        d = dispatcher(store, {"hook": receiver.url()}, topics=timing)
        assert asyncio.run(d.deliver_due()).sent == 1
        from tests.test_delivery import add_alerts

        clock.advance(60)
        add_alerts(store, ["hook"], 3, start=1)
        assert asyncio.run(d.deliver_due()).deferred == 3
        clock.advance(541)
        report = asyncio.run(d.deliver_due())
        assert (report.sent, report.messages) == (3, 1)
        assert len(receiver.accepted) == 2 and "3 alerts" in receiver.accepted[1]["title"]
    finally:
        receiver.close()


def test_a_rate_wait_longer_than_the_pace_defers_instead_of_blocking(tmp_path: Path) -> None:
    clock = Clock()
    receiver = ScriptedReceiver()
    try:
        store = store_with_alerts(tmp_path, ["hook"], count=2, clock=clock)
        d = dispatcher(store, {"hook": ChannelOptions(receiver.url(), rate=["1/10s", "10/min"])})
        report = asyncio.run(d.deliver_due())
        assert (report.sent, report.deferred) == (1, 1)
        waiting = [r for r in store.outbox.rows() if r.status == "pending"]
        assert waiting[0].next_attempt_at == clock.now + timedelta(seconds=10)
    finally:
        receiver.close()


def test_an_email_burst_is_one_digest_mail_not_a_flood(tmp_path: Path, smtp: SmtpSink) -> None:
    # Email's default: one message per 2 s and 30 an hour; 40 alerts at once exceed it.
    store = store_with_alerts(tmp_path, ["mail"], count=40)
    report = asyncio.run(dispatcher(store, {"mail": smtp.url()}).deliver_due())
    assert (report.sent, report.messages) == (40, 1)
    [mail] = smtp.wait_for(1)
    assert mail["Subject"] == f"[newshound] {CONTENT.topic}: 40 alerts"
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert html.count("<li>") == 40 and balanced(html)
    assert mail.get_body(("plain",)) is not None
