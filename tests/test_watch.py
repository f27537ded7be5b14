"""Reports on failing and quiet sources to the operator's channel: once, and on recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler.config import parse_config
from crawler.store import Store
from crawler.watch import check_source

T0 = datetime(2026, 11, 28, 9, 12, tzinfo=UTC)


def setup(tmp_path: Path) -> tuple[object, Store]:
    config = parse_config(
        {
            "sources": [{"name": "fr.de", "feed": "https://www.fr.de/rssfeed.rdf"}],
            "channels": {"ops": "json://127.0.0.1:9/ops"},
            "delivery": {"ops_channel": "ops"},
        }
    )
    return config, Store(f"sqlite:///{tmp_path / 'w.db'}")


def reports(store: Store) -> list[str]:
    return [row.content["title"] for row in store.outbox.rows() if row.channel == "ops"]


def test_failing_source_is_reported_once_and_on_recovery(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    source = config.sources[0]  # type: ignore[attr-defined]
    failing = {"last_error": "feed https://www.fr.de/rssfeed.rdf: HTTP 403", "failing_since": T0}
    for minutes in (1, 30, 59):
        state = {**store.source_state("fr.de"), **failing}
        assert check_source(config, store, source, state, T0 + timedelta(minutes=minutes)) is None
    for minutes in (61, 90, 300):
        state = {**store.source_state("fr.de"), **failing}
        check_source(config, store, source, state, T0 + timedelta(minutes=minutes))
    assert reports(store) == [
        "fr.de: feed https://www.fr.de/rssfeed.rdf: HTTP 403 since 2026-11-28 09:12 UTC"
    ]
    healthy = {"last_error": None, "failing_since": None, "last_new_at": T0 + timedelta(hours=6)}
    state = {**store.source_state("fr.de"), **healthy}
    check_source(config, store, source, state, T0 + timedelta(hours=6))
    check_source(
        config, store, source, {**store.source_state("fr.de"), **healthy}, T0 + timedelta(hours=7)
    )
    assert reports(store)[1:] == ["fr.de: recovered (failing since 2026-11-28 09:12 UTC)"]
    store.close()


def test_quiet_source_is_reported_once(tmp_path: Path) -> None:
    config, store = setup(tmp_path)
    source = config.sources[0]  # type: ignore[attr-defined]
    quiet = {"last_error": None, "failing_since": None, "last_new_at": T0}
    check_source(config, store, source, quiet, T0 + timedelta(days=2))
    for days in (3, 4):
        check_source(
            config,
            store,
            source,
            {**store.source_state("fr.de"), **quiet},
            T0 + timedelta(days=days, minutes=1),
        )
    assert reports(store) == ["fr.de feed: nothing new for 3 days"]
    store.close()


def test_no_ops_channel_no_report(tmp_path: Path) -> None:
    config = parse_config({"sources": [{"name": "a", "feed": "https://a.example/f"}]})
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    state = {"last_error": "HTTP 500", "failing_since": T0}
    assert check_source(config, store, config.sources[0], state, T0 + timedelta(days=1)) is None
    assert store.outbox.rows() == []
    store.close()
