"""Backup and restore of the whole database (`crisis backup FILE`, `crisis restore FILE`).

PostgreSQL: `pg_dump --format=custom` of one exported snapshot, and the row count of every table
read in that same snapshot, so the counts printed are exactly what the file holds. Restore is
`pg_restore --single-transaction --exit-on-error` into an empty database: all or nothing.
SQLite (the embedded default): a copy made with SQLite's online backup API (consistent while the
app writes), checked with `PRAGMA integrity_check`; restore copies it the same way into place.

A backup holds personal data: files are created readable by their owner only (0600), and an
existing file is never overwritten. A restore never writes into a database that has tables.
The password of the database never appears on a command line: libpq reads it from PGPASSWORD.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess  # nosec B404  # runs pg_dump/pg_restore with a fixed argument list, never a shell
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select, table, text

PG_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass
class Result:
    engine: str  # postgresql | sqlite
    database: str
    path: Path
    counts: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def table_counts(connection: Connection) -> dict[str, int]:
    """Rows in every table of the database (alembic_version included), by name."""
    names = sorted(inspect(connection).get_table_names())
    return {name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0) for name in names}


def _private_file(path: Path) -> int:
    """A new file only its owner reads; refuses an existing one."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as error:
        raise BackupError(f"{path} exists; backups are never overwritten: choose a new name.") from error


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client tools (Debian: postgresql-client), "
            "of the server's major version or newer."
        )
    return path


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run(argv: list[str], **kwargs: Any) -> None:
    # argv: an absolute tool path from shutil.which and fixed options; the only values are a URI and a path.
    completed = subprocess.run(argv, stderr=subprocess.PIPE, text=True, check=False, **kwargs)  # noqa: S603  # nosec B603
    if completed.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed (exit {completed.returncode}): {completed.stderr.strip()}")


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("The database is in memory: there is nothing on disk to back up or restore into.")
    return Path(database)


def _sqlite_integrity(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a readable SQLite database: {error}") from error
    finally:
        conn.close()
    if not result or result[0] != "ok":
        raise BackupError(f"{path} failed SQLite's integrity check: {result[0] if result else 'no answer'}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """source → target (a new file) with the online backup API: a consistent copy even while others write."""
    os.close(_private_file(target))
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            with dst:
                src.backup(dst)
        finally:
            dst.close()
            src.close()
        _sqlite_integrity(target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _sqlite_counts(path: Path) -> dict[str, int]:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return table_counts(conn)
    finally:
        engine.dispose()


def _has_magic(path: Path, magic: bytes) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(magic)) == magic


def backup(engine: Engine, path: Path) -> Result:
    """Write a consistent copy of the database behind `engine` to the new file `path`."""
    path = Path(path)
    if engine.dialect.name == "sqlite":
        source = _sqlite_path(engine)
        if not source.exists():
            raise BackupError(f"{source} does not exist: nothing to back up.")
        _sqlite_copy(source, path)
        return Result("sqlite", str(source), path, _sqlite_counts(path))
    if engine.dialect.name != "postgresql":
        raise BackupError(f"Backups of {engine.dialect.name} databases are not supported.")
    pg_dump = _tool("pg_dump")
    uri, env = _libpq(engine)
    fd = _private_file(path)
    try:
        with os.fdopen(fd, "wb") as handle, engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                # pg_dump reads the very snapshot the counts were read in, and the transaction
                # holding it stays open until pg_dump is done.
                snapshot = conn.scalar(text("SELECT pg_export_snapshot()"))
                counts = table_counts(conn)
                _run(
                    [pg_dump, "--format=custom", f"--snapshot={snapshot}", "--no-password", f"--dbname={uri}"],
                    stdout=handle,
                    env=env,
                )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Result("postgresql", str(engine.url.database), path, counts)


def _require_empty(engine: Engine, where: str) -> None:
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
    if names:
        raise BackupError(
            f"{where} already has {len(names)} table(s) ({', '.join(sorted(names)[:5])}…): restore only into a new, "
            "empty database. Nothing was changed."
        )


def restore(engine: Engine, path: Path) -> Result:
    """Restore the backup file `path` into the empty database behind `engine`."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file.")
    if engine.dialect.name == "sqlite":
        target = _sqlite_path(engine)
        if not _has_magic(path, SQLITE_MAGIC):
            raise BackupError(
                f"{path} is not an SQLite backup (the configured database is SQLite). Nothing was changed."
            )
        _sqlite_integrity(path)
        if target.exists():
            if target.stat().st_size:
                _require_empty(engine, str(target))
            engine.dispose()
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(path, target)
        return Result("sqlite", str(target), path, _sqlite_counts(target))
    if engine.dialect.name != "postgresql":
        raise BackupError(f"Restores into {engine.dialect.name} databases are not supported.")
    if not _has_magic(path, PG_MAGIC):
        raise BackupError(
            f"{path} is not a pg_dump custom-format file (made by `crisis backup` or `pg_dump -Fc`). "
            "Nothing was changed."
        )
    pg_restore = _tool("pg_restore")
    _require_empty(engine, f"Database {engine.url.database}")
    uri, env = _libpq(engine)
    _run(
        [
            pg_restore,
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--no-password",
            f"--dbname={uri}",
            str(path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    with engine.connect() as conn:
        counts = table_counts(conn)
    return Result("postgresql", str(engine.url.database), path, counts)
