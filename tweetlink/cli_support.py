"""What every `tweetlink` command shares: settings, the services, and failing in one line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core import errors
from core.config import (
    MissingSetting,
    Settings,
    database_url_from_env,
    describe_error,
    discord_token_is_set,
    env_file,
    load_from_env,
)
from tweetlink.bot_runner import DiscordLoginFailed
from tweetlink.failures import (
    CommandFailed,
    database_unreachable,
    ensure_database_directory,
    where_the_database_is,
)
from tweetlink.services import Services, open_services

log = logging.getLogger("tweetlink")


def load_settings(*, runs_the_bot: bool = False) -> Settings:
    """The settings, or a one-line explanation of the first bad one; logging set up at their
    level. `runs_the_bot`: DISCORD_TOKEN is needed too."""
    try:
        settings = load_from_env()
        if runs_the_bot:
            settings.bot_token()
    except ValidationError as error:
        token_missing = runs_the_bot and not discord_token_is_set()
        also_missing = ["DISCORD_TOKEN"] if token_missing else []
        raise CommandFailed(describe_error(error, also_missing=also_missing)) from None
    except MissingSetting as missing:
        raise CommandFailed(str(missing)) from None
    ensure_database_directory(settings.database_url)
    configure_logging(settings.log_level)
    return settings


def say_where_settings_come_from(database_url: str) -> None:
    """One log line: the settings file (or none) and the database, as absolute paths, so a run
    from another directory cannot silently start on a fresh, empty database."""
    path = env_file().resolve()
    source = (
        f"settings from {path} and the environment"
        if path.is_file()
        else (f"settings from the environment only (no {path})")
    )
    log.info("%s; database: %s", source, where_the_database_is(_absolute(database_url)))


def _absolute(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return str(url.set(database=str(Path(url.database).resolve())))
    return database_url


def load_database_url() -> str:
    """DATABASE_URL alone (for `migrate`), checked, its SQLite directory made."""
    try:
        url = database_url_from_env()
    except ValidationError as error:
        raise CommandFailed(describe_error(error)) from None
    ensure_database_directory(url)
    return url


def configure_logging(level: str) -> None:
    """Log lines to stderr at `level`, for a command that runs (never on import)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # oauthlib logs signature base strings, with tokens in them, at DEBUG.
    logging.getLogger("oauthlib").setLevel(logging.WARNING)
    # alembic tells of every schema check at INFO; `migrate` prints its own outcome.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a command's coroutine; domain errors end it with their words."""
    try:
        asyncio.run(coroutine)
    except (errors.TweetlinkError, DiscordLoginFailed, MissingSetting) as error:
        raise CommandFailed(str(error)) from None


def with_services(
    job: Callable[[Services], Awaitable[None]], *, settings: Settings | None = None
) -> None:
    """Run `job` on freshly built services, closed afterwards."""
    settings = settings or load_settings()

    async def run() -> None:
        async with open_services(settings) as services:
            try:
                await job(services)
            except (SQLAlchemyError, OSError) as error:  # what reaches here is the database's
                raise database_unreachable(settings.database_url, error) from None

    run_async(run())
