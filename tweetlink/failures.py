"""How a command fails: one line for the operator that names what to fix, and exit status 1."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from sqlalchemy.engine import make_url


class CommandFailed(Exception):
    """Ends a command with a message for the operator and a non-zero exit."""


def where_the_database_is(url: str) -> str:
    """The database a URL names, for a message: the SQLite file or PostgreSQL's address, never
    the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite database {parsed.database}"
    return f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


def ensure_database_directory(url: str) -> None:
    """SQLite's directory exists and can be written, or the command fails naming it."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    directory = Path(parsed.database).parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".tweetlink-write-check"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise CommandFailed(
            f"cannot create or write the database directory {directory} "
            f"({error.strerror or error}); fix its permissions or change DATABASE_URL"
        ) from None


def database_unreachable(url: str, error: BaseException) -> CommandFailed:
    """The database did not answer: say which one, and why as far as we know."""
    cause = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
    return CommandFailed(
        f"{where_the_database_is(url)} does not answer ({cause}); "
        "check DATABASE_URL and that the database server runs"
    )


def cannot_listen(
    host: str, port: int, error: OSError, port_setting: str = "WEB_PORT"
) -> CommandFailed:
    """The web pages (or the probes, on `port_setting`) could not bind their address."""
    if isinstance(error, socket.gaierror):
        return CommandFailed(
            f"WEB_HOST {host!r} does not resolve; set it to an address of this machine "
            "(127.0.0.1, or 0.0.0.0 for every interface)"
        )
    if error.errno == errno.EADDRINUSE:
        return CommandFailed(
            f"port {port} on {host} is already in use; stop what uses it or set "
            f"{port_setting} to a free port"
        )
    return CommandFailed(
        f"cannot listen on {host}:{port} ({error.strerror or error}); check WEB_HOST and "
        f"{port_setting}"
    )
