"""Storage contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from alerts.outbox import Backoff, NewAlert
from crawler.store import SCHEMA_VERSION, NewArticle, Saved, Store, StoreError


def article(
    url: str, text_: str = "Kim traf Putin. Es ging um Waffen.", **kw: object
) -> NewArticle:
    fields: dict[str, object] = {
        "url": url,
        "aliases": (),
        "source": "test",
        "title": "Titel",
        "authors": ("A. Autor",),
        "published": datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        "language": "de",
        "text": text_,
        "discovered_at": datetime(2026, 11, 20, 8, 5, tzinfo=UTC),
    }
    fields.update(kw)
    return NewArticle(**fields)  # type: ignore[arg-type]


def alerts_for(url: str, *channels: str):
    def build(saved: Saved) -> list[NewAlert]:
        return [
            NewAlert("kim", ch, url, {"title": "Titel", "url": url}, saved.article_id)
            for ch in channels
        ]

    return build


def test_article_and_its_alerts_are_written_together(database_url: str) -> None:
    store = Store(database_url)
    try:
        url = "https://example.org/a"
        article_id = store.save_article(
            article(url, aliases=("https://example.org/a-feed",)), alerts_for(url, "mail", "chat")
        )
        assert article_id is not None
        assert store.known_urls([url, "https://example.org/a-feed", "https://example.org/b"]) == {
            url,
            "https://example.org/a-feed",
        }
        due = store.outbox.due()
        assert sorted(r.channel for r in due) == ["chat", "mail"]
        assert all(r.attempts == 0 and r.status == "pending" for r in due)
        assert due[0].created_at.tzinfo is not None
    finally:
        store.close()


def test_same_url_again_stores_and_enqueues_nothing(database_url: str) -> None:
    store = Store(database_url)
    try:
        url = "https://example.org/a"
        assert store.save_article(article(url), alerts_for(url, "mail")) is not None
        assert store.save_article(article(url, text_="other"), alerts_for(url, "mail")) is None
        assert store.article_count() == 1
        assert len(store.outbox.due()) == 1
    finally:
        store.close()


def test_failed_alert_enqueue_rolls_back_the_article(database_url: str) -> None:
    store = Store(database_url)
    try:
        url = "https://example.org/a"

        def broken(saved: Saved) -> list[NewAlert]:
            # The same alert twice violates the outbox's unique key: the transaction fails.
            return alerts_for(url, "mail", "mail")(saved)

        with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
            store.save_article(article(url), broken)
        assert store.article_count() == 0
        assert store.known_urls([url]) == set()
    finally:
        store.close()


def test_text_fingerprint_and_alias(database_url: str) -> None:
    store = Store(database_url)
    try:
        from crawler.store import text_fingerprint

        url = "https://example.org/a"
        store.save_article(article(url, text_="Ein  Text\nmit Zeilen"), alerts_for(url))
        assert store.has_text(text_fingerprint("ein text mit zeilen"))
        assert not store.has_text(text_fingerprint("ein anderer text"))
        store.add_alias("https://example.org/old-link", url)
        store.add_alias("https://example.org/old-link", url)  # twice is harmless
        assert store.known_urls(["https://example.org/old-link"]) == {
            "https://example.org/old-link"
        }
    finally:
        store.close()


def test_outbox_retry_state_lives_in_the_database(database_url: str) -> None:
    now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    clock = [now]
    store = Store(database_url, clock=lambda: clock[0])
    try:
        url = "https://example.org/a"
        store.save_article(article(url), alerts_for(url, "chat"))
        [row] = store.outbox.due()
        backoff = Backoff(first=30, maximum=100, jitter=0)
        next_at = store.outbox.mark_failed(row, "failure: connection refused", backoff)
        assert next_at == now + timedelta(seconds=30)
        assert store.outbox.due() == []
        clock[0] = now + timedelta(seconds=31)
        [row] = store.outbox.due()
        assert (row.attempts, row.last_error) == (1, "failure: connection refused")
        assert store.outbox.mark_failed(row, "again", backoff) == clock[0] + timedelta(seconds=60)
        store.close()

        # A new process sees the same state.
        reopened = Store(database_url, clock=lambda: clock[0] + timedelta(seconds=61))
        [row] = reopened.outbox.due()
        assert row.attempts == 2
        reopened.outbox.mark_sent(row.id)
        assert reopened.outbox.due() == []
        assert reopened.outbox.counts() == {("chat", "sent"): 1}
        reopened.close()
    finally:
        store.close()


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(first=30, maximum=3600, jitter=0.1)
    assert [round(backoff.delay(n, rng=lambda: 0.5)) for n in (1, 2, 3, 8, 20)] == [
        30,
        60,
        120,
        3600,
        3600,
    ]
    assert 27 <= backoff.delay(1, rng=lambda: 0.0) <= 33


def test_newer_schema_is_refused(database_url: str) -> None:
    Store(database_url).close()
    store = Store(database_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    store.close()
    with pytest.raises(StoreError, match="newer than this newshound"):
        Store(database_url)


def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(StoreError) as err:
        Store("postgresql+psycopg://user:SEKRET@127.0.0.1:9/none?connect_timeout=2")
    assert "SEKRET" not in str(err.value)
    assert str(err.value).startswith("database postgresql+psycopg://user:***@127.0.0.1:9/none")


def test_sqlite_concurrent_writers_never_see_database_is_locked(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    stores = [Store(url) for _ in range(4)]
    errors: list[BaseException] = []

    def write(store: Store, worker: int) -> None:
        try:
            for n in range(40):
                u = f"https://example.org/{worker}/{n}"
                store.save_article(article(u, text_=f"text {worker} {n}"), alerts_for(u, "chat"))
                store.known_urls([u])
                for row in store.outbox.due(limit=5):
                    store.outbox.mark_sent(row.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stores[0].article_count() == 160
    for s in stores:
        s.close()


def test_version_1_database_is_upgraded_in_place(database_url: str) -> None:
    """A database written by schema version 1 gains the version 2 columns, data kept."""
    store = Store(database_url)
    url = "https://example.org/old"
    store.save_article(article(url), alerts_for(url, "chat"))
    with store.engine.begin() as conn:
        # Back to the version 1 shape: the columns later versions added are dropped.
        conn.execute(text("DROP INDEX ix_articles_story_id"))
        conn.execute(text("DROP INDEX ix_outbox_sent"))
        later = (
            "modified",
            "description",
            "image",
            "outlet",
            "paywalled",
            "story_id",
            "signature",
            "listed_updated",
        )
        for column in later:
            conn.execute(text(f"ALTER TABLE articles DROP COLUMN {column}"))
        for column in ("failing_since", "reported"):
            conn.execute(text(f"ALTER TABLE source_state DROP COLUMN {column}"))
        conn.execute(text("UPDATE schema_version SET version = 1"))
    store.close()

    upgraded = Store(database_url)
    try:
        with upgraded.engine.begin() as conn:
            version = conn.execute(text("SELECT version FROM schema_version")).scalar()
            assert version == SCHEMA_VERSION
            row = conn.execute(text("SELECT url, outlet, paywalled FROM articles")).one()
        assert "ix_outbox_sent" in {
            i["name"] for i in inspect(upgraded.engine).get_indexes("outbox")
        }
        assert (row[0], row[1], bool(row[2])) == (url, None, False)
        new = "https://example.org/new"
        details = article(new, text_="neu", outlet="Testzeitung", paywalled=True)
        assert upgraded.save_article(details, alerts_for(new, "chat")) is not None
        assert upgraded.known_urls([url, new]) == {url, new}
    finally:
        upgraded.close()


def test_one_daemon_per_database(database_url: str) -> None:
    from crawler.lock import AlreadyRunning, DaemonLock

    first, second = Store(database_url), Store(database_url)
    try:
        held = DaemonLock(first.engine)
        held.acquire()
        with pytest.raises(AlreadyRunning, match="another newshound"):
            DaemonLock(second.engine).acquire()
        held.release()
        again = DaemonLock(second.engine)
        again.acquire()  # free once released
        again.release()
    finally:
        first.close()
        second.close()


def test_band_keys_past_the_window_are_pruned(database_url: str) -> None:
    now = [datetime(2026, 11, 20, 9, 0, tzinfo=UTC)]
    store = Store(database_url, clock=lambda: now[0])
    try:
        url = "https://example.org/old"
        store.save_article(article(url, bands=((0, 11), (1, 12))), alerts_for(url))
        now[0] += timedelta(days=3)
        url = "https://example.org/new"
        store.save_article(article(url, bands=((0, 21), (1, 22))), alerts_for(url))
        keys = text("SELECT key FROM article_bands ORDER BY key")
        with store.engine.connect() as conn:
            assert [k for (k,) in conn.execute(keys)] == [11, 12, 21, 22]
        assert store.prune_bands(now[0] - timedelta(days=2)) == 2
        with store.engine.connect() as conn:
            assert [k for (k,) in conn.execute(keys)] == [21, 22]
    finally:
        store.close()
