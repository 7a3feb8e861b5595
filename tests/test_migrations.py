"""The schema's history: Alembic's head, upgrades that keep rows, and no
Alembic at all for a database already at the head."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from fastvideo_ui.database.engine import make_engine
from fastvideo_ui.database.migrate import (HEAD_REVISION, MIGRATIONS_DIR, create_new, migrate, migrate_apart,
                                          stored_revision)
from fastvideo_ui.database.tables import Base


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def test_the_head_constant_is_alembics_head() -> None:
    # A new migration must move HEAD_REVISION too, or databases would stop one short.
    assert ScriptDirectory.from_config(_config()).get_current_head() == HEAD_REVISION


def test_the_migrated_schema_is_the_models_schema(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "jobs.sqlite3")
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_an_old_database_is_upgraded_and_keeps_its_jobs(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "jobs.sqlite3")
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text(
            "INSERT INTO jobs (id, model_id, prompt, negative_prompt, status, num_inference_steps, num_frames, "
            "height, width, guidance_scale, seed, fps, num_gpus, dit_cpu_offload, text_encoder_cpu_offload, "
            "vae_cpu_offload, use_fsdp_inference, created_at, attempts, progress, progress_msg, phase) VALUES "
            "('j1', 'm', 'an old job', '', 'completed', 30, 49, 480, 832, 5.0, 1, 16, 1, 0, 1, 1, 0, 1.0, 1, "
            "100.0, '', 'done')"))
    assert stored_revision(engine) == "0001"
    migrate(engine)
    assert stored_revision(engine) == HEAD_REVISION
    with engine.connect() as connection:
        row = connection.execute(text("SELECT prompt, dit_layerwise_offload FROM jobs WHERE id = 'j1'")).one()
    assert tuple(row) == ("an old job", 1)  # FastVideo's default ran it


def test_a_current_database_never_loads_alembic(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    migrate(make_engine(db))
    probe = ("import sys; from pathlib import Path; from fastvideo_ui.database.engine import make_engine; "
             "from fastvideo_ui.database.migrate import migrate; "
             f"migrate(make_engine(Path({str(db)!r}))); print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _schema(engine: Any) -> dict[str, Any]:
    """Every table's columns (name, type, not null, default, key) and indexes (name, columns, unique)."""
    out: dict[str, Any] = {}
    with engine.connect() as connection:
        tables = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
        for table in tables:
            columns = sorted(tuple(c)[1:] for c in connection.execute(text(f"PRAGMA table_info('{table}')")))
            indexes = sorted(
                (index[1], tuple(c[2] for c in connection.execute(text(f"PRAGMA index_info('{index[1]}')"))),
                 index[2])
                for index in connection.execute(text(f"PRAGMA index_list('{table}')")))
            out[table] = (columns, indexes)
    return out


def test_a_new_database_made_from_the_tables_is_the_migrated_one(tmp_path: Path) -> None:
    migrated = make_engine(tmp_path / "migrated.sqlite3")
    migrate(migrated)
    created = make_engine(tmp_path / "created.sqlite3")
    assert create_new(created)
    assert stored_revision(created) == HEAD_REVISION
    assert _schema(created) == _schema(migrated)
    assert not create_new(created)  # not empty now: never created twice


@pytest.mark.slow
def test_a_new_database_is_created_in_process_and_the_server_never_loads_alembic(tmp_path: Path) -> None:
    probe = ("import sys; from pathlib import Path; from fastvideo_ui.config import Settings; "
             "from fastvideo_ui.runtime import Runtime; from fastvideo_ui.database.migrate import stored_revision; "
             f"runtime = Runtime.build(Settings(data_dir=Path({str(tmp_path)!r}), gpus='none')); "
             "print('alembic' in sys.modules, stored_revision(runtime.engine))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", HEAD_REVISION]


def test_a_failed_migration_says_why(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite3"
    engine = make_engine(db)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('9999')"))  # from a newer version
    with pytest.raises(RuntimeError, match="migrating .*jobs.sqlite3 failed: .*Can't locate revision .*9999") as info:
        migrate_apart(engine, db)
    assert "\n" not in str(info.value)
