"""The whole path, as a user runs it: a local news site, the real `newshound` process, a real
SMTP server and a real webhook receiver reached through apprise's own plugins."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import newshound, start_daemon, write_config
from tests.servers import FIXTURE_SITE, NewsSite, Receiver, SmtpSink, free_port

KIM = "Kim Putin Waffen*"
MATCHING = ("/news/01-kim-putin-gipfel.html", "/news/04-kim-putin-munition.html")


def config_for(tmp_path: Path, site: NewsSite, channels: dict[str, str], **extra: object) -> Path:
    return write_config(
        tmp_path,
        {
            "sources": [{"name": "testzeitung", "feed": f"{site.base}/feed.xml"}],
            "channels": channels,
            "topics": [{"name": "kim-putin-waffen", "query": KIM, "notify": list(channels)}],
            **extra,
        },
    )


def outbox(tmp_path: Path) -> list[tuple[str, str, int, str | None]]:
    with sqlite3.connect(tmp_path / "newshound.db") as db:
        return db.execute(
            "SELECT channel, status, attempts, last_error FROM outbox ORDER BY id"
        ).fetchall()


def test_once_alerts_each_matching_article_once_per_channel(
    tmp_path: Path, fixture_site: NewsSite, smtp: SmtpSink, receiver: Receiver
) -> None:
    config = config_for(
        tmp_path,
        fixture_site,
        {"desk-mail": smtp.url(), "team-hook": f"json://127.0.0.1:{receiver.port}/hook"},
    )
    first = newshound(config, "once")
    assert first.returncode == 0, first.stderr
    assert "done: 3 new articles, 2 alerts; 2 delivered, 0 queued for retry" in first.stdout

    mails = smtp.wait_for(1)
    posts = receiver.wait_for(1)
    assert len(mails) == 1 and len(posts) == 1, first.stdout + first.stderr
    link = f"{fixture_site.base}{MATCHING[0]}"
    mail = mails[0]
    assert mail["Subject"].startswith("[newshound] kim-putin-waffen: Gipfel in Wladiwostok")
    assert mail.get_body(("plain",)).get_content().count(link) == 1  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{link}"' in html and "<mark>" in html
    assert link in posts[0]["message"] and "kim-putin-waffen" in posts[0]["title"]
    assert "Waffen" in posts[0]["message"]  # the matched words in context

    # Nothing new, nothing sent: the second pass must not repeat an alert.
    second = newshound(config, "once")
    assert second.returncode == 0, second.stderr
    assert "0 new articles" in second.stdout
    time.sleep(0.5)
    assert (len(smtp.messages), len(receiver.posts)) == (1, 1)

    # A new matching article in the feed is alerted alone.
    fixture_site.in_feed.insert(0, MATCHING[1])
    third = newshound(config, "once")
    assert third.returncode == 0, third.stderr
    mails, posts = smtp.wait_for(2), receiver.wait_for(2)
    assert len(mails) == 2 and len(posts) == 2
    assert "Munitionszüge" in mails[1]["Subject"]
    assert f"{fixture_site.base}{MATCHING[1]}" in posts[1]["message"]
    # Each stored article was fetched once; the feed three times.
    assert fixture_site.fetched(MATCHING[0]) == 1
    assert fixture_site.fetched("/feed.xml") == 3
    assert [status for _, status, _, _ in outbox(tmp_path)] == ["sent"] * 4


def test_refused_channel_keeps_its_alerts_until_it_is_back(
    tmp_path: Path, fixture_site: NewsSite, smtp: SmtpSink
) -> None:
    port = free_port()  # nothing listens here yet: connections are refused
    config = config_for(
        tmp_path,
        fixture_site,
        {"desk-mail": smtp.url(), "team-hook": f"json://127.0.0.1:{port}/hook"},
    )
    started = time.monotonic()
    first = newshound(config, "once")
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert len(smtp.wait_for(1)) == 1  # the working channel was not held back
    assert took < 30
    rows = outbox(tmp_path)
    hook = [r for r in rows if r[0] == "team-hook"]
    assert [(status, attempts) for _, status, attempts, _ in hook] == [("pending", 1)]
    assert hook[0][3] and hook[0][3].startswith("failure")
    assert "team-hook" in first.stdout

    receiver = Receiver(port=port)
    try:
        time.sleep(2.5)  # past the configured 1-2 s backoff
        second = newshound(config, "once")
        assert second.returncode == 0, second.stderr
        posts = receiver.wait_for(1)
        assert len(posts) == 1 and f"{fixture_site.base}{MATCHING[0]}" in posts[0]["message"]
        assert len(smtp.messages) == 1  # delivered before, never again
        assert sorted((ch, st) for ch, st, _, _ in outbox(tmp_path)) == [
            ("desk-mail", "sent"),
            ("team-hook", "sent"),
        ]
    finally:
        receiver.close()


def test_daemon_stops_cleanly_on_sigterm_and_resumes_without_repeats(
    tmp_path: Path, fixture_site: NewsSite, receiver: Receiver
) -> None:
    config = config_for(
        tmp_path,
        fixture_site,
        {"team-hook": f"json://127.0.0.1:{receiver.port}/hook"},
        every="2s",
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        assert len(receiver.wait_for(1, timeout=60)) == 1, log.read_text()
        time.sleep(3)  # at least one more poll of an unchanged feed
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0, log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert "newshound stopped" in log.read_text()

    fixture_site.in_feed.insert(0, MATCHING[1])
    daemon = start_daemon(config, log)
    try:
        posts = receiver.wait_for(2, timeout=60)
        time.sleep(3)
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(timeout=15) == 0, log.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
    posts = receiver.posts
    links = [p["message"].strip().splitlines()[-1] for p in posts]
    assert sorted(links) == sorted(f"{fixture_site.base}{p}" for p in MATCHING), log.read_text()
    assert fixture_site.fetched(MATCHING[0]) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"sources": [{"name": "x", "feed": "http://127.0.0.1:9/f", "intervall": "5m"}]},
            "sources[0].intervall",
        ),
        (
            {"topics": [{"name": "t", "query": "Kim", "notify": ["desk-mial"]}]},
            "topics[0].notify[0]: unknown channel 'desk-mial'",
        ),
    ],
)
def test_invalid_config_exits_2_naming_the_key(
    tmp_path: Path, data: dict[str, object], message: str
) -> None:
    config = write_config(tmp_path, data)
    for command in ("check-config", "once"):
        result = newshound(config, command)
        assert result.returncode == 2
        assert message in result.stderr


def test_check_config_never_prints_a_secret(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "channels": {"team-chat": "tgram://123456789:SEKRETtokenABCDEFGHIJ/12345"},
            "topics": [{"name": "t", "query": "Kim", "notify": ["team-chat"]}],
        },
    )
    result = newshound(config, "check-config")
    assert result.returncode == 0, result.stderr
    assert "team-chat" in result.stdout
    assert "SEKRET" not in result.stdout + result.stderr


def test_default_config_is_valid() -> None:
    result = newshound(Path(__file__).resolve().parents[1] / "config.yaml", "check-config")
    assert result.returncode == 0, result.stderr
    assert "kim-putin-waffen" in result.stdout


def test_extract_json_prints_the_pipeline_fields(tmp_path: Path) -> None:
    import json

    page = FIXTURE_SITE / "01-kim-putin-gipfel.html"
    result = newshound(
        tmp_path / "unused.yaml", "extract", str(page), "--url", "https://example.org/a", "--json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"url", "title", "authors", "published", "language", "text"} <= set(data)
    assert data["title"] == "Gipfel in Wladiwostok: Kim und Putin verhandeln über Waffen"
    assert data["language"] == "de"
    assert data["published"] == "2026-11-20T08:00:00+01:00"
    assert "Waffenlieferungen" in data["text"] and "Impressum" not in data["text"]


def test_readme_config_example_is_valid(tmp_path: Path) -> None:
    """The configuration snippet in the README is a config newshound accepts."""
    import re

    from crawler.config import parse_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    [snippet] = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "sources:" in b]
    import yaml

    env = {
        "TG_TOKEN": "123456789:ABCdefGhIjKlmNoPQRsTUVwxyZ",
        "TG_CHAT": "12345",
        "SMTP_PASS": "pw",
    }
    config = parse_config(yaml.safe_load(snippet), path=tmp_path / "config.yaml", env=env)
    assert [t.notify for t in config.topics] == [("team-chat", "desk-mail")]
    assert config.limits.articles_per_poll == 100


def test_second_daemon_on_the_same_database_says_so_and_exits(
    tmp_path: Path, fixture_site: NewsSite
) -> None:
    config = config_for(tmp_path, fixture_site, {})
    log = tmp_path / "first.log"
    first = start_daemon(config, log)
    try:
        deadline = time.monotonic() + 30
        while "newshound running" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        second = newshound(config, "run", timeout=60)
        assert second.returncode == 4
        assert f"another newshound (pid {first.pid}) is running on database" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0


def test_status_reports_sources_channels_and_topics(
    tmp_path: Path, fixture_site: NewsSite, receiver: Receiver
) -> None:
    import json

    config = config_for(
        tmp_path,
        fixture_site,
        {"team-hook": f"json://newshound:SEKRETPW@127.0.0.1:{receiver.port}/hook"},
    )
    data = write_config(
        tmp_path,
        {
            **__import__("yaml").safe_load(config.read_text()),
            "sources": [
                {"name": "testzeitung", "feed": f"{fixture_site.base}/feed.xml"},
                {"name": "gone", "feed": f"http://127.0.0.1:{free_port()}/feed.xml"},
            ],
        },
    )
    assert newshound(data, "once").returncode == 0
    result = newshound(data, "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    by_name = {s["name"]: s for s in status["sources"]}
    assert by_name["testzeitung"]["result"] == "ok"
    assert by_name["testzeitung"]["articles_24h"] == 3
    assert by_name["gone"]["result"] == "failed" and "refused" in by_name["gone"]["last_error"]
    [hook] = [c for c in status["channels"] if c["name"] == "team-hook"]
    assert (hook["sent"], hook["pending"]) == (1, 0) and hook["last_delivery"]
    assert status["topics"] == [{"name": "kim-putin-waffen", "alerts_24h": 1}]
    text = newshound(data, "status")
    assert "testzeitung" in text.stdout and "SEKRETPW" not in text.stdout + result.stdout


def test_healthz_and_metrics(tmp_path: Path, fixture_site: NewsSite, receiver: Receiver) -> None:
    import json
    import urllib.request

    port = free_port()
    config = config_for(
        tmp_path,
        fixture_site,
        {"team-hook": f"json://127.0.0.1:{receiver.port}/hook"},
        http=f"127.0.0.1:{port}",
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        assert len(receiver.wait_for(1, timeout=60)) == 1, log.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            assert r.status == 200
            assert json.load(r) == {"status": "ok", "scheduler": "running", "database": "ok"}
        time.sleep(1.5)  # the delivery is recorded
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    assert 'newshound_polls_total{result="ok",source="testzeitung"} 1.0' in metrics
    assert 'newshound_articles_total{source="testzeitung"} 3.0' in metrics
    assert 'newshound_outbox_alerts{channel="team-hook",status="sent"} 1.0' in metrics
    assert 'newshound_alerts_delivered{channel="team-hook",topic="kim-putin-waffen"} 1.0' in metrics
    assert "newshound_publication_to_delivery_seconds_count 1.0" in metrics
    assert 'newshound_discovery_to_delivery_seconds_bucket{le="60"} 1.0' in metrics


def test_logs_are_json_lines_without_secrets(
    tmp_path: Path, fixture_site: NewsSite, smtp: SmtpSink
) -> None:
    import json
    import os

    closed = free_port()
    config = config_for(
        tmp_path,
        fixture_site,
        {
            "hook": f"json://newshound:SEKRETpw1@127.0.0.1:{closed}/SEKRETpath2",
            "mail": f"mailto://user:SEKRETpw3@127.0.0.1:{smtp.port}?from=a@example.org&to=b@example.org",
        },
    )
    log = tmp_path / "daemon.log"
    os.environ["NEWSHOUND_LOG_FORMAT"] = "json"
    try:
        daemon = start_daemon(config, log)
    finally:
        del os.environ["NEWSHOUND_LOG_FORMAT"]
    try:
        deadline = time.monotonic() + 30
        while "not delivered" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    text = log.read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any("channel hook" in e["message"] and "not delivered" in e["message"] for e in entries)
    assert any(e["message"] == "newshound stopped" for e in entries)
    assert "SEKRET" not in text


def test_sighup_and_file_change_reload_without_restart(
    tmp_path: Path, fixture_site: NewsSite, receiver: Receiver
) -> None:
    import yaml

    hook = {"team-hook": f"json://127.0.0.1:{receiver.port}/hook"}
    config = config_for(tmp_path, fixture_site, hook, every="1s", poll={"min": "1s", "max": "1s"})
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        assert len(receiver.wait_for(1, timeout=60)) == 1, log.read_text()
        data = yaml.safe_load(config.read_text())

        # An invalid config is refused with its problems; the running one stays.
        config.write_text(config.read_text().replace("topics:", "topicz:"))
        daemon.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "refused" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "config reload (SIGHUP) refused, the running config stays: topicz" in log.read_text()

        # A valid edit is taken up by itself: a new topic alerts on the next poll's news.
        data["topics"].append(
            {"name": "harbour", "query": "harbour storm", "notify": ["team-hook"]}
        )
        config.write_text(yaml.safe_dump(data))
        fixture_site.in_feed.insert(0, "/news/04-kim-putin-munition.html")
        posts = receiver.wait_for(2, timeout=30)
        assert "config reloaded (the config file changed)" in log.read_text()
        assert any("Munitionszüge" in p["title"] for p in posts), log.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    assert "Traceback" not in log.read_text()


def test_polls_missed_while_down_are_caught_up_once(tmp_path: Path, fixture_site: NewsSite) -> None:
    config = config_for(tmp_path, fixture_site, {}, every="3s", poll={"min": "3s", "max": "3s"})
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        deadline = time.monotonic() + 30
        while fixture_site.fetched("/feed.xml") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    time.sleep(10)  # three polls' worth of downtime
    before = fixture_site.fetched("/feed.xml")
    daemon = start_daemon(config, log)
    try:
        deadline = time.monotonic() + 30
        while fixture_site.fetched("/feed.xml") == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # within one interval of that first poll
        assert fixture_site.fetched("/feed.xml") - before == 1, log.read_text()
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0


def test_field_scopes_reach_the_pipeline(
    tmp_path: Path, fixture_site: NewsSite, receiver: Receiver
) -> None:
    """source:, url:, lang: and title: scopes see what the pipeline knows of each article."""
    config = write_config(
        tmp_path,
        {
            "sources": [{"name": "testzeitung", "feed": f"{fixture_site.base}/feed.xml"}],
            "channels": {"hook": f"json://127.0.0.1:{receiver.port}/in"},
            "topics": [
                {
                    "name": "scoped",
                    "query": 'source:testzeitung lang:de url:*gipfel* title:"Kim und Putin"',
                    "notify": ["hook"],
                },
                {"name": "other-source", "query": "source:spiegel Kim", "notify": ["hook"]},
                {"name": "english", "query": "lang:en (harbour OR Kim)", "notify": ["hook"]},
            ],
        },
    )
    result = newshound(config, "once")
    assert result.returncode == 0, result.stderr
    receiver.wait_for(2)
    time.sleep(0.5)
    titles = sorted(p["title"] for p in receiver.posts)
    assert titles == [
        "[newshound] english: Storm closes the harbour for a second day",
        "[newshound] scoped: Gipfel in Wladiwostok: Kim und Putin verhandeln über Waffen",
    ]
