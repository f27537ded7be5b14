"""Shared fixtures: real loopback servers, databases, and running the real `newshound` command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import REPO, NewsSite, Receiver, SmtpSink, fixture_pages

PG_URL = os.environ.get(
    "NEWSHOUND_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def site() -> Iterator[NewsSite]:
    server = NewsSite()
    yield server
    server.close()


@pytest.fixture
def fixture_site(site: NewsSite) -> NewsSite:
    """The project's own pages: 01 and 04 are about Kim, Putin and weapons; 04 is not listed yet."""
    for page in fixture_pages():
        site.add(page, listed=not page.path.endswith("04-kim-putin-munition.html"))
    return site


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def write_config(directory: Path, data: dict[str, Any]) -> Path:
    data = {"database": "sqlite:///newshound.db", **data}
    data.setdefault(
        "delivery", {"every": "1s", "backoff": "1s", "max_backoff": "2s", "timeout": "5s"}
    )
    # Local servers need no politeness delay; robots.txt stays obeyed.
    data.setdefault("crawl", {"delay": 0})
    # Daemons in tests run side by side: no fixed /healthz port unless a test asks.
    data.setdefault("http", False)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path


def newshound(
    config: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command in its own process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "crawler", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "crawler", "--config", str(config), "run"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def _postgres_reachable() -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same storage tests on SQLite and on PostgreSQL (a schema of its own per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} unreachable in CI: {problem}")
        pytest.skip(f"PostgreSQL at {PG_URL} unreachable: {problem}")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
