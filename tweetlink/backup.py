"""`tweetlink backup PATH`: a consistent copy of a SQLite database, taken while it is in use.

Copying the `.db` file alone can miss what is still in its write-ahead log; SQLite's online
backup API copies the database as one transaction sees it, WAL included. PostgreSQL has
`pg_dump` for this (see the README).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from tweetlink.failures import CommandFailed


def backup_sqlite(database_url: str, target: Path) -> int:
    """Copy the SQLite database to `target` (which must not exist); returns its size in bytes."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise CommandFailed(
            "backup copies a SQLite database; for PostgreSQL use pg_dump (docs/deploy.md, Backups)"
        )
    source = Path(url.database or "")
    if not source.is_file():
        raise CommandFailed(f"there is no SQLite database at {source} (DATABASE_URL)")
    if target.exists():
        raise CommandFailed(f"{target} already exists; name a new file")
    # A command of its own, with no event loop to block: plain sqlite3 does it.
    origin, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(copy)
    finally:
        copy.close()
        origin.close()
    return target.stat().st_size
