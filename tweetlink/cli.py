"""The `tweetlink` command: run the bot and the pages, migrate, check, and operate on links."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pydantic import ValidationError

from core import errors
from core.config import Settings, database_url_from_env, describe_error
from core.db import create_engine
from core.sealing import Sealer
from tweetlink import migrations
from tweetlink.bot_runner import DiscordLoginFailed, check_discord, run_bot
from tweetlink.services import Services, open_services
from tweetlink.web_server import serve_web

log = logging.getLogger("tweetlink")


class CommandFailed(Exception):
    """Ends a command with a message for the operator and a non-zero exit."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        args.handler(args)
    except CommandFailed as failure:
        print(f"tweetlink: {failure}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tweetlink", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], None], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    command("run", _run, "run the Discord bot and the web pages in one process")
    command("web", _web, "run the web pages alone")
    command("bot", _bot, "run the Discord bot alone")
    command("migrate", _migrate, "bring the database schema up to date")
    command("check", _check, "check settings, database, X and Discord, and say what is wrong")
    command("keygen", _keygen, "print a new key for TOKEN_ENCRYPTION_KEYS")

    link = commands.add_parser("link", help="link a Discord user without Discord")
    link_commands = link.add_subparsers(required=True, metavar="ACTION")
    start = link_commands.add_parser("start", help="start a link flow and print its URL")
    start.add_argument("discord_user_id", type=int)
    start.add_argument("--name", help="the Discord name shown on the page")
    start.set_defaults(handler=_link_start)
    confirm = link_commands.add_parser("confirm", help="finish a link flow with its code")
    confirm.add_argument("discord_user_id", type=int)
    confirm.add_argument("code")
    confirm.set_defaults(handler=_link_confirm)

    accounts = commands.add_parser("accounts", help="see and remove linked accounts")
    account_commands = accounts.add_subparsers(required=True, metavar="ACTION")
    account_commands.add_parser("list", help="list linked accounts").set_defaults(
        handler=_accounts_list
    )
    unlink = account_commands.add_parser("unlink", help="remove a link and revoke its token")
    unlink.add_argument("discord_user_id", type=int)
    unlink.set_defaults(handler=_accounts_unlink)
    return parser


def load_settings() -> Settings:
    """The settings, or a one-line explanation of the first bad one."""
    try:
        settings = Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as error:
        raise CommandFailed(describe_error(error)) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def _with_services(
    job: Callable[[Services], Awaitable[None]], *, settings: Settings | None = None
) -> None:
    settings = settings or load_settings()

    async def run() -> None:
        async with open_services(settings) as services:
            await job(services)

    _run_async(run())


def _run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(coroutine)
    except (errors.TweetlinkError, DiscordLoginFailed) as error:
        raise CommandFailed(str(error)) from None


async def _require_current_schema(services: Services) -> None:
    if not await services.database_ok():
        raise CommandFailed("the database does not answer; check DATABASE_URL")
    if not await migrations.is_current(services.engine):
        raise CommandFailed("the database schema is not up to date: run `tweetlink migrate`")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _run(_: argparse.Namespace) -> None:
    settings = load_settings()
    if settings.discord_token is None:
        raise CommandFailed("configuration error: DISCORD_TOKEN is not set (see .env.example)")

    async def job(services: Services) -> None:
        await _require_current_schema(services)
        stop = _stop_on_signals()
        await asyncio.gather(serve_web(services, stop), run_bot(services, stop))

    _with_services(job, settings=settings)


def _web(_: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        await _require_current_schema(services)
        await serve_web(services, _stop_on_signals())

    _with_services(job)


def _bot(_: argparse.Namespace) -> None:
    settings = load_settings()
    if settings.discord_token is None:
        raise CommandFailed("configuration error: DISCORD_TOKEN is not set (see .env.example)")

    async def job(services: Services) -> None:
        await _require_current_schema(services)
        await run_bot(services, _stop_on_signals())

    _with_services(job, settings=settings)


def _migrate(_: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        engine = create_engine(database_url_from_env())
        try:
            await migrations.upgrade(engine)
        finally:
            await engine.dispose()

    _run_async(run())
    print("database schema is up to date")


def _check(_: argparse.Namespace) -> None:
    settings = load_settings()
    print("settings: ok")

    async def job(services: Services) -> None:
        problems = 0
        if not await services.database_ok():
            print("database: does not answer; check DATABASE_URL")
            problems += 1
        elif not await migrations.is_current(services.engine):
            print("database: reachable, but the schema is old: run `tweetlink migrate`")
            problems += 1
        else:
            print("database: ok")
        try:
            await services.twitter.request_token(settings.callback_url)
        except errors.TwitterError as error:
            print(f"X: {error}")
            problems += 1
        else:
            print(f"X: consumer keys ok, callback URL {settings.callback_url} accepted")
        if settings.discord_token is None:
            print("Discord: DISCORD_TOKEN is not set, so the bot cannot run")
            problems += 1
        else:
            report, ok = await check_discord(services)
            print(f"Discord: {report}")
            problems += 0 if ok else 1
        if problems:
            raise CommandFailed(f"{problems} problem(s) found")

    _with_services(job, settings=settings)


def _keygen(_: argparse.Namespace) -> None:
    print(Sealer.generate_key())


def _link_start(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        name = args.name or f"user {args.discord_user_id}"
        started = await services.links.start(args.discord_user_id, name)
        print(f"Link for {name}, valid until {started.expires_at:%Y-%m-%d %H:%M} UTC:")
        print(services.settings.link_url(started.intent_id))

    _with_services(job)


def _link_confirm(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        link = await services.links.confirm(args.discord_user_id, args.code)
        print(f"Linked as @{link.screen_name}")

    _with_services(job)


def _accounts_list(_: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        links = await services.links.all_links()
        if not links:
            print("no linked accounts")
        for link in links:
            health = "healthy" if link.healthy else "revoked"
            print(
                f"{link.discord_user_id}\t@{link.screen_name}\t{link.twitter_user_id}\t"
                f"since {link.linked_at:%Y-%m-%d %H:%M} UTC\t{health}"
            )

    _with_services(job)


def _accounts_unlink(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        unlinked = await services.links.unlink(args.discord_user_id)
        print(f"Unlinked @{unlinked.link.screen_name} from {args.discord_user_id}")
        if not unlinked.revoked_at_twitter:
            print("X could not be reached, so the token is deleted here but not revoked there.")

    _with_services(job)
