"""The SQLite engine (WAL), and the cheap check that the file is a database at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event


def _set_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while a writer commits; NORMAL syncs at checkpoints,
    # which survives a crash of this process (not a power cut mid-checkpoint).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(db_path: Path) -> Engine:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{db_path}",
        connect_args={"check_same_thread": False},
        # Sync routes run on up to 40 threads: a pool that small would open and
        # close a connection (and set its pragmas) on most requests under load.
        pool_size=20, max_overflow=40,
    )
    event.listen(engine, "connect", _set_pragmas)
    return engine


def database_problem(db_path: Path, output_dir: Path) -> str | None:
    """Why the job database cannot be opened as it is, in one line, or None.

    Cheap on purpose (it runs at every start): a file that is not SQLite, and
    a zero-byte file beside existing videos, which SQLite would silently treat
    as a new empty database, losing every job's record."""
    if not db_path.exists():
        return None
    advice = (f"restore it from a backup, or move it away to start with an empty job list "
              f"(the videos in {output_dir} stay where they are)")
    if db_path.stat().st_size == 0:
        if output_dir.is_dir() and any(output_dir.iterdir()):
            return f"{db_path} is empty (0 bytes) while videos exist: it was probably truncated; {advice}"
        return None
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return f"{db_path} is not a usable SQLite database ({exc}); {advice}"
    return None
