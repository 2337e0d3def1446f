"""The `tweetlink` command: run the bot and the pages, migrate, check, and operate on links."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core import errors
from core.config import ENV_FILE_VARIABLE
from core.db import create_engine
from core.sealing import Sealer
from tweetlink import migrations, operator_cli, roles_cli
from tweetlink.backup import backup_sqlite
from tweetlink.bot_runner import Shards, check_discord, run_bot
from tweetlink.cli_support import (
    configure_logging,
    load_database_url,
    load_settings,
    run_async,
    say_where_settings_come_from,
    with_services,
)
from tweetlink.db_copy import copy_database
from tweetlink.failures import CommandFailed, database_unreachable, where_the_database_is
from tweetlink.services import Services
from tweetlink.web_server import probes_served, serve_web

log = logging.getLogger("tweetlink")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        if args.env_file is not None:
            _use_env_file(args.env_file)
        args.handler(args)
    except CommandFailed as failure:
        print(f"tweetlink: {failure}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _use_env_file(path: str) -> None:
    if not Path(path).is_file():
        raise CommandFailed(f"the settings file {path} (--env-file) does not exist")
    # Every way the settings are read (all of them, or DATABASE_URL alone) looks here.
    os.environ[ENV_FILE_VARIABLE] = str(Path(path).resolve())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tweetlink", description=__doc__)
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help=f"the settings file to read (default: {ENV_FILE_VARIABLE}, else .env here)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"tweetlink {importlib.metadata.version('tweetlink')}",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], None], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    _add_shard_options(command("run", _run, "run the Discord bot and the web pages in one process"))
    command("web", _web, "run the web pages alone")
    _add_shard_options(command("bot", _bot, "run the Discord bot alone"))
    command("migrate", _migrate, "bring the database schema up to date")
    command("check", _check, "check settings, database, X and Discord, and say what is wrong")
    command("keygen", _keygen, "print a new key for TOKEN_ENCRYPTION_KEYS")
    backup = command("backup", _backup, "copy the SQLite database consistently, while in use")
    backup.add_argument("path", type=Path, help="the new file to write the copy to")
    database = commands.add_parser("db", help="the database as a whole")
    database_commands = database.add_subparsers(required=True, metavar="ACTION")
    copy = database_commands.add_parser(
        "copy", help="copy every row into another, empty database (say, SQLite to PostgreSQL)"
    )
    copy.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="the database to copy into, such as postgresql+asyncpg://USER:PASSWORD@HOST/DATABASE",
    )
    copy.set_defaults(handler=_db_copy)

    operator_cli.register(commands)
    roles_cli.register(commands)
    return parser


def _add_shard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shard-ids",
        type=_shard_ids,
        metavar="N,N…",
        help="run only these shards (needs --shard-count); shard 0's process syncs the commands",
    )
    parser.add_argument(
        "--shard-count",
        type=_positive_int,
        metavar="N",
        help="the number of shards across every bot process (default: what Discord recommends)",
    )


def _shard_ids(value: str) -> list[int]:
    try:
        ids = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a list like 0,1") from None
    if any(shard_id < 0 for shard_id in ids) or len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError(f"{value!r} must list distinct shard ids from 0")
    return ids


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def _shards_of(args: argparse.Namespace) -> Shards:
    ids, count = args.shard_ids, args.shard_count
    if ids is not None and count is None:
        raise CommandFailed("--shard-ids needs --shard-count (the shards of every bot process)")
    if ids is not None and max(ids) >= count:
        raise CommandFailed(f"--shard-ids must be below --shard-count {count} (ids start at 0)")
    return Shards(ids=ids, count=count)


async def _require_current_schema(services: Services) -> None:
    url = services.settings.database_url
    try:
        async with services.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as error:
        raise database_unreachable(url, error) from None
    if not await migrations.is_current(services.engine):
        raise CommandFailed("the database schema is not up to date: run `tweetlink migrate`")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _run(args: argparse.Namespace) -> None:
    shards = _shards_of(args)
    settings = load_settings(runs_the_bot=True)
    say_where_settings_come_from(settings.database_url)

    async def job(services: Services) -> None:
        await _require_current_schema(services)
        stop, logged_in = _stop_on_signals(), asyncio.Event()
        # The pages open once Discord took the token: a bot that cannot log in serves nothing.
        bot = asyncio.create_task(run_bot(services, stop, logged_in, shards=shards))
        waiting = asyncio.create_task(logged_in.wait())
        await asyncio.wait({bot, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if bot.done():
            await bot  # it failed (or was stopped) before logging in: say why
            return
        await asyncio.gather(serve_web(services, stop), bot)

    with_services(job, settings=settings)


def _web(_: argparse.Namespace) -> None:
    settings = load_settings()
    say_where_settings_come_from(settings.database_url)

    async def job(services: Services) -> None:
        await _require_current_schema(services)
        await serve_web(services, _stop_on_signals())

    with_services(job, settings=settings)


def _bot(args: argparse.Namespace) -> None:
    shards = _shards_of(args)
    settings = load_settings(runs_the_bot=True)

    async def job(services: Services) -> None:
        await _require_current_schema(services)
        async with contextlib.AsyncExitStack() as probes:
            if settings.metrics_port is not None:
                # Listening first: a busy port is said before the bot logs in.
                await probes.enter_async_context(probes_served(services, settings.metrics_port))
            await run_bot(services, _stop_on_signals(), shards=shards)

    with_services(job, settings=settings)


def _migrate(_: argparse.Namespace) -> None:
    configure_logging("INFO")
    url = load_database_url()
    say_where_settings_come_from(url)

    async def run() -> None:
        engine = create_engine(url)
        try:
            await migrations.upgrade(engine)
        except (SQLAlchemyError, OSError) as error:
            raise database_unreachable(url, error) from None
        finally:
            await engine.dispose()

    run_async(run())
    print("database schema is up to date")


def _check(_: argparse.Namespace) -> None:
    settings = load_settings()
    print("settings: ok")

    async def job(services: Services) -> None:
        problems = 0
        try:
            await _require_current_schema(services)
        except CommandFailed as failure:
            print(f"database: {failure}")
            problems += 1
        else:
            print("database: ok")
        x_problem = await _check_x(services)
        print(
            f"X: {x_problem or f'consumer keys ok, callback URL {settings.callback_url} accepted'}"
        )
        problems += 1 if x_problem else 0
        report, ok = await check_discord(services)
        print(f"Discord: {report}")
        problems += 0 if ok else 1
        if problems:
            raise CommandFailed(f"{problems} problem(s) found")

    with_services(job, settings=settings)


async def _check_x(services: Services) -> str | None:
    """What is wrong with X, in the operator's words, with the setting to look at; None if
    X accepts our keys and callback."""
    settings = services.settings
    at = settings.twitter_api_base
    try:
        await services.twitter.request_token(settings.callback_url)
    except errors.TwitterAuthRevoked:
        return (
            f"{at} refused the consumer keys (401); copy TWITTER_CONSUMER_KEY and "
            "TWITTER_CONSUMER_SECRET again from the X app's Keys and tokens page"
        )
    except errors.TwitterCallbackRejected:
        return (
            f"{at} refused the callback URL; register exactly {settings.callback_url} in the "
            "X app's User authentication settings (or fix PUBLIC_URL)"
        )
    except errors.TwitterUnavailable as error:
        return f"{at} did not answer as expected ({error.detail}); check TWITTER_API_BASE"
    except errors.TwitterError as error:
        return f"{at} refused the request: {error}"
    return None


def _backup(args: argparse.Namespace) -> None:
    url = load_database_url()
    size = backup_sqlite(url, args.path)
    print(f"copied {where_the_database_is(url)} to {args.path} ({size} bytes)")


def _db_copy(args: argparse.Namespace) -> None:
    configure_logging("INFO")
    url = load_database_url()
    say_where_settings_come_from(url)

    async def run() -> None:
        counted = await copy_database(url, args.to)
        for table in counted:
            print(f"{table.table}: {table.source} in source, {table.target} in target")
        differ = [f"{c.table} {c.source} != {c.target}" for c in counted if c.source != c.target]
        if differ:
            raise CommandFailed(f"the row counts differ: {', '.join(differ)}")

    run_async(run())


def _keygen(_: argparse.Namespace) -> None:
    print(Sealer.generate_key())
