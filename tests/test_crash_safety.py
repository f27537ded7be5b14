"""Crash safety with the real `newshound run` process and real receivers: an outage that
refuses, then fails, then rate-limits; kill -9 at random moments; a receiver that answers
too late; a daily digest missed while stopped; operator notices; `newshound outbox` and
`notify-test`; and no secret in any output."""

from __future__ import annotations

import itertools
import random
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crawler.store import Store
from tests.conftest import newshound, start_daemon, write_config
from tests.servers import NewsSite, free_port
from tests.test_delivery import ScriptedReceiver, add_alerts

FAST = {"every": "1s", "backoff": "1s", "max_backoff": "4s", "timeout": "2s"}
ALERT_URL = re.compile(r"https://example\.org/kim/\d+")


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newshound.db'}"


def inject(
    tmp_path: Path,
    channel: str,
    count: int,
    start: int = 0,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Alerts enqueued as the pipeline enqueues them, by another process's connection."""
    store = Store(db_url(tmp_path), clock=clock) if clock else Store(db_url(tmp_path))
    try:
        add_alerts(store, [channel], count, start=start)
    finally:
        store.close()


def query(tmp_path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "newshound.db") as db:
        return db.execute(sql, args).fetchall()


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            detail = log.read_text() if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{detail[-4000:]}")
        time.sleep(0.05)


@contextmanager
def daemon(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_daemon(config, log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def alert_urls(bodies: list[dict[str, Any]]) -> list[str]:
    return [u for b in bodies for u in ALERT_URL.findall(b["message"])]


def sends(tmp_path: Path, channel: str) -> list[tuple[datetime, str]]:
    """(start, outcome) of each send to `channel`, in order."""
    rows = query(
        tmp_path,
        "SELECT min(started_at), min(outcome) FROM outbox_attempts WHERE channel = ? "
        "GROUP BY message ORDER BY min(id)",
        channel,
    )
    return [(datetime.fromisoformat(start), outcome) for start, outcome in rows]


def test_outage_refused_then_500_then_429_then_working(tmp_path: Path) -> None:
    port = free_port()  # nothing listens yet: connections are refused
    config = write_config(
        tmp_path, {"channels": {"hook": f"json://127.0.0.1:{port}/in"}, "delivery": FAST}
    )
    inject(tmp_path, "hook", 3)
    log = tmp_path / "daemon.log"
    with daemon(config, log) as first:
        wait_until(lambda: len(sends(tmp_path, "hook")) >= 3, 30, "three refused sends", log)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
    stopped = sends(tmp_path, "hook")
    [(attempts, retry_at)] = query(
        tmp_path,
        "SELECT o.attempts, h.retry_at FROM outbox o, channel_health h "
        "WHERE h.channel = 'hook' ORDER BY o.id LIMIT 1",
    )
    assert attempts == len(stopped)  # the oldest alert is the probe; the others wait
    receiver: ScriptedReceiver | None = None
    try:
        with daemon(config, log):
            # The restarted daemon keeps counting, and keeps the wait it was in.
            wait_until(lambda: len(sends(tmp_path, "hook")) > len(stopped), 30, "a retry", log)
            resumed = sends(tmp_path, "hook")[len(stopped)][0]
            assert resumed >= datetime.fromisoformat(retry_at)
            receiver = ScriptedReceiver([500, (429, {"Retry-After": "1"})], port=port)
            bodies = receiver.wait_accepted(3, timeout=60)
            time.sleep(2)  # nothing more must come
        assert [r.status for r in receiver.requests] == [500, 429, 200, 200, 200]
        assert sorted(alert_urls(receiver.accepted)) == sorted(
            f"https://example.org/kim/{n}" for n in range(3)
        ), bodies
    finally:
        if receiver:
            receiver.close()
    assert query(tmp_path, "SELECT DISTINCT status FROM outbox") == [("sent",)]
    [(first_attempts,)] = query(tmp_path, "SELECT attempts FROM outbox ORDER BY id LIMIT 1")
    assert first_attempts == len(sends(tmp_path, "hook")) - 2  # one digest-free send each
    # The waits between failed sends follow the backoff: 1 s doubling up to 4 s (±10 %
    # jitter), counted across the restart, plus up to a delivery tick (1 s) of lateness.
    timeline = sends(tmp_path, "hook")
    failed = [t for t, outcome in timeline if outcome != "sent"]
    restart_gap = len(stopped) - 1
    for k, (a, b) in enumerate(itertools.pairwise(failed), start=1):
        expected = min(4.0, 2.0 ** (k - 1))
        gap = (b - a).total_seconds()
        assert gap >= expected * 0.9 - 0.05, (k, gap, timeline)
        if k != restart_gap + 1:
            assert gap <= expected * 1.1 + 1.5, (k, gap, timeline)


def test_kill_9_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261120)
    # Accepts at once, answers 150 ms later: many kills land between accept and record.
    receiver = ScriptedReceiver(then=("slow", 0.15))
    try:
        config = write_config(
            tmp_path,
            {
                "channels": {"hook": receiver.url()},
                "delivery": {"every": "1s", "backoff": "1s", "max_backoff": "2s", "timeout": "2s"},
            },
        )
        total = 40
        inject(tmp_path, "hook", total)
        log = tmp_path / "daemon.log"
        for _ in range(10):
            seen = len(receiver.requests)
            process = start_daemon(config, log)
            try:
                wait_until(lambda s=seen: len(receiver.requests) > s, 30, "alerts flowing", log)
                time.sleep(rng.uniform(0.0, 0.5))
            finally:
                process.kill()  # SIGKILL: nothing is cleaned up
                process.wait()
            inject(tmp_path, "hook", 3, start=total)  # alerts keep coming while it is down
            total += 3
        with daemon(config, log):
            # An alert whose send was cut off waits for its lease to run out, then goes again.
            wait_until(
                lambda: query(tmp_path, "SELECT DISTINCT status FROM outbox") == [("sent",)],
                90,
                "every alert sent",
                log,
            )
        delivered = Counter(alert_urls(receiver.accepted))
        assert set(delivered) == {f"https://example.org/kim/{n}" for n in range(total)}
        assert query(tmp_path, "SELECT DISTINCT status FROM outbox") == [("sent",)]
        # A duplicate only where a send was cut off (or timed out) before it was recorded,
        # and every one of those is counted.
        maybe = dict(
            query(
                tmp_path,
                "SELECT json_extract(o.content, '$.url'), count(a.id) FROM outbox o "
                "LEFT JOIN outbox_attempts a ON a.outbox_id = o.id "
                "AND a.outcome IN ('interrupted', 'ambiguous') GROUP BY o.id",
            )
        )
        for url, times in delivered.items():
            assert times - 1 <= maybe[url], (url, times, maybe[url])
        assert sum(delivered.values()) - len(delivered) <= sum(maybe.values())
        assert sum(maybe.values()) >= 1, "no kill landed inside a send: the test proved nothing"
    finally:
        receiver.close()


def test_answer_after_the_timeout_is_ambiguous_never_dropped(tmp_path: Path) -> None:
    receiver = ScriptedReceiver([("slow", 4)])
    try:
        delivery = {**FAST, "timeout": "1s"}
        config = write_config(
            tmp_path, {"channels": {"hook": receiver.url()}, "delivery": delivery}
        )
        inject(tmp_path, "hook", 1)
        log = tmp_path / "daemon.log"
        with daemon(config, log):
            receiver.wait_accepted(2, timeout=30)
            wait_until(
                lambda: query(tmp_path, "SELECT status FROM outbox") == [("sent",)], 10, "sent"
            )
        assert len(receiver.accepted) == 2  # at most one duplicate
        listing = newshound(config, "outbox")
        assert listing.returncode == 0, listing.stderr
        assert "nothing waiting" in listing.stdout
        assert "1 send may have reached a channel unrecorded" in listing.stdout
    finally:
        receiver.close()


def test_daily_digest_missed_while_stopped_is_sent_once_on_start(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    digest_at = (now - timedelta(hours=1)).strftime("%H:%M")
    receiver = ScriptedReceiver()
    try:
        config = write_config(
            tmp_path,
            {
                "channels": {"hook": receiver.url()},
                "topics": [
                    {
                        "name": "kim-putin-waffen",
                        "query": "Kim Putin",
                        "notify": ["hook"],
                        "digest": f"daily {digest_at} UTC",
                    }
                ],
                "delivery": FAST,
            },
        )
        # Four alerts queued before the digest time, while no daemon ran; one after it.
        inject(tmp_path, "hook", 4, clock=lambda: now - timedelta(hours=3))
        inject(tmp_path, "hook", 1, start=4, clock=lambda: now)
        log = tmp_path / "daemon.log"
        for _ in range(2):  # and a restart must not send it again
            with daemon(config, log):
                receiver.wait_accepted(1, timeout=30)
                time.sleep(3)
        [digest] = receiver.accepted
        assert digest["title"] == "[newshound] kim-putin-waffen: 4 alerts"
        assert sorted(alert_urls([digest])) == [f"https://example.org/kim/{n}" for n in range(4)]
        [(status, next_at)] = query(
            tmp_path, "SELECT status, next_attempt_at FROM outbox WHERE id = 5"
        )
        tomorrow = (now - timedelta(hours=1) + timedelta(days=1)).strftime("%Y-%m-%d")
        assert status == "pending" and next_at.startswith(f"{tomorrow} {digest_at}")
    finally:
        receiver.close()


def test_ops_hears_of_failing_recovered_and_dead_once_each(tmp_path: Path) -> None:
    ops = ScriptedReceiver()
    refusing = free_port()
    denying = ScriptedReceiver(then=401)
    hook: ScriptedReceiver | None = None
    try:
        config = write_config(
            tmp_path,
            {
                "channels": {
                    "hook": f"json://127.0.0.1:{refusing}/in",
                    "deny": denying.url(),
                    "ops": ops.url("ops"),
                },
                "delivery": {
                    **FAST,
                    "max_backoff": "2s",
                    # hook: tries at 0, 1, 3, 5, 7 ... s (it is back long before its 6th);
                    # deny: at 0, 2, 4 ... 10 s, then dead
                    "max_attempts": 6,
                    "ops_channel": "ops",
                    "ops_after": "2s",
                },
            },
        )
        inject(tmp_path, "hook", 1)
        inject(tmp_path, "deny", 1, start=1)
        log = tmp_path / "daemon.log"
        with daemon(config, log):
            wait_until(
                lambda: any("hook failing" in b["title"] for b in ops.accepted), 30, "ops", log
            )
            hook = ScriptedReceiver(port=refusing)
            hook.wait_accepted(1, timeout=30)
            wait_until(
                lambda: any("hook recovered" in b["title"] for b in ops.accepted), 30, "recovery"
            )
            wait_until(lambda: any("dead" in b["title"] for b in ops.accepted), 30, "dead", log)
            time.sleep(2)  # nothing said twice
        titles = Counter(re.sub(r"\d+", "N", b["title"]) for b in ops.accepted)
        assert titles["[newshound] ops: channel hook failing"] == 1, titles
        assert titles["[newshound] ops: channel hook recovered"] == 1, titles
        assert titles["[newshound] ops: alert N dead"] == 1, titles
        dead_note = next(b for b in ops.accepted if "dead" in b["title"])
        assert "deny" in dead_note["message"] and "401" in dead_note["message"]

        listing = newshound(config, "outbox")
        assert listing.returncode == 1, listing.stdout + listing.stderr  # a dead alert
        [line] = [ln for ln in listing.stdout.splitlines() if " dead " in ln]
        assert re.match(r"2\s+kim-putin-waffen\s+deny\s+dead\s+6\s+-\s+failure: .*401", line)
        assert str(denying.port) not in listing.stdout  # the channel's name, never its URL
        assert newshound(config, "outbox", "retry", "999").returncode == 1
        assert newshound(config, "outbox", "retry").returncode == 2
        again = newshound(config, "outbox", "retry", "--dead")
        assert again.returncode == 0 and "alert 2 " in again.stdout
        assert newshound(config, "outbox").returncode == 0
    finally:
        for server in (ops, denying, hook):
            if server:
                server.close()


def test_no_secret_reaches_logs_errors_or_cli_output(
    tmp_path: Path, fixture_site: NewsSite
) -> None:
    failing = ScriptedReceiver(then=500)
    working = ScriptedReceiver()
    refused = free_port()
    try:
        channels = {
            "hook": f"json://newshound:SEKRETPASSWORD@127.0.0.1:{failing.port}/SEKRETPATH",
            "down": f"json://127.0.0.1:{refused}/SEKRETTOKEN?key=SEKRETKEY",
            "good": f"json://user:SEKRETGOOD@127.0.0.1:{working.port}/SEKRETGOODPATH",
        }
        config = write_config(
            tmp_path,
            {
                "sources": [{"name": "testzeitung", "feed": f"{fixture_site.base}/feed.xml"}],
                "channels": channels,
                "topics": [{"name": "kim", "query": "Kim Putin Waffen*", "notify": list(channels)}],
                "delivery": FAST,
            },
        )
        outputs = []
        once = newshound(config, "-v", "once")
        outputs.append(once.stdout + once.stderr)
        assert "1 delivered" in once.stdout, once.stdout + once.stderr
        log = tmp_path / "daemon.log"
        with daemon(config, log):
            time.sleep(4)  # retries, failures
        outputs.append(log.read_text())
        for command in (("outbox",), ("check-config",), *(("notify-test", n) for n in channels)):
            result = newshound(config, *command)
            outputs.append(result.stdout + result.stderr)
            if command[0] == "notify-test":
                assert result.returncode == (0 if command[1] == "good" else 1), result.stdout
        unknown = newshound(config, "notify-test", "nope")
        assert unknown.returncode == 2 and "known: hook, down, good" in unknown.stdout
        rows = query(tmp_path, "SELECT last_error FROM outbox WHERE last_error IS NOT NULL")
        assert rows, "the failing channels recorded their errors"
        outputs += [str(rows), str(query(tmp_path, "SELECT error FROM outbox_attempts"))]
        for text in outputs:
            assert "SEKRET" not in text, text[:3000]
    finally:
        failing.close()
        working.close()
