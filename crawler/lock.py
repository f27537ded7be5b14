"""One daemon per database: a lock the running `newshound run` holds for its whole life."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

# Any constant shared by every newshound: the advisory lock's key on PostgreSQL.
_PG_LOCK_KEY = 0x6E657773  # "news"


class AlreadyRunning(Exception):
    """Another daemon holds the database."""


class DaemonLock:
    """Held while the daemon runs; released by release() or when the process dies.

    SQLite: an exclusive flock on `<database>.lock`, holding the owner's pid. PostgreSQL: a
    session advisory lock on a connection kept open. Both vanish with the process, so a
    crash (even kill -9) never leaves a stale lock behind.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._file: IO[str] | None = None
        self._conn: Connection | None = None

    def acquire(self) -> None:
        url = make_url(str(self.engine.url))
        if url.get_backend_name() == "sqlite":
            self._acquire_file(url.database)
        else:
            self._acquire_advisory()

    def _acquire_file(self, database: str | None) -> None:
        if not database or database == ":memory:":
            return  # a database no other process can open
        path = Path(f"{database}.lock")
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another newshound (pid {owner}) is running on database {database}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def _acquire_advisory(self) -> None:
        conn = self.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar()
        conn.commit()
        if not got:
            conn.close()
            shown = make_url(str(self.engine.url)).render_as_string(hide_password=True)
            raise AlreadyRunning(f"another newshound is running on database {shown}")
        self._conn = conn

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            self._conn.close()
            self._conn = None
