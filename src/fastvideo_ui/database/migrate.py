"""Schema migrations, run at start-up. Alembic stores revision ids in the
database, not paths, so the migrations may live wherever this module says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from .engine import make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's revision (a test checks it against Alembic's head).
# A database already there is not handed to Alembic at all: importing it
# costs the server 10 MiB of resident memory for the rest of its life.
HEAD_REVISION = "0011"


def stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError:  # no such table: a new database
        return None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there)."""
    if stored_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def create_new(engine: Engine) -> bool:
    """An empty database gets the newest schema straight from the tables, stamped
    with the head revision, in one transaction and in this process: there is
    nothing to upgrade (a test keeps this schema the migrations' own). False:
    the database is not empty."""
    from .tables import Base  # here: only a new database needs the DDL

    with engine.begin() as connection:
        if connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar():
            return False
        Base.metadata.create_all(connection)
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD_REVISION})
    return True


def migrate_apart(engine: Engine, db_path: Path) -> None:
    """As `migrate`, without Alembic in this process (10 MiB the server would
    hold for the rest of its life): an empty database is created here
    (`create_new`), an upgrade runs in a child process."""
    if stored_revision(engine) == HEAD_REVISION or create_new(engine):
        return
    done = subprocess.run([sys.executable, "-m", "fastvideo_ui.database.migrate", str(db_path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(f"migrating {db_path} failed: {lines[-1]}")  # the exception, not its traceback


if __name__ == "__main__":  # the child migrate_apart runs
    migrate(make_engine(Path(sys.argv[1])))
