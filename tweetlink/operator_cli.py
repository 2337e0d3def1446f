"""Operator commands that need no Discord: link, accounts, audit, usage."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from core import errors
from core.audit import Actor
from core.key_rotation import reseal_everything
from core.link_values import Link
from tweetlink.cli_support import with_services
from tweetlink.failures import CommandFailed
from tweetlink.services import Services

MEMBER_HELP = "the member's Discord user id (Discord: Developer Mode, then Copy User ID)"
LINK_HEADER = "DISCORD USER\tX HANDLE\tX USER ID\tLINKED SINCE\tSTATE"


def snowflake(text: str) -> int:
    """A Discord id: a positive 64-bit number."""
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Discord id (a positive number such as 80351110224678912)"
        )
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def actor_name(actor_id: int | None) -> str:
    """Who took an admin action, said the same way everywhere."""
    return "the command line" if actor_id is None else f"Discord user {actor_id}"


def register(commands: Any) -> None:
    """Add the operator commands to the `tweetlink` parser's subcommands."""
    link = commands.add_parser("link", help="link a Discord user without Discord")
    link_commands = link.add_subparsers(required=True, metavar="ACTION")
    start = link_commands.add_parser("start", help="start a link flow and print its URL")
    start.add_argument("discord_user_id", type=snowflake, help=MEMBER_HELP)
    start.add_argument("--name", help="the Discord name shown on the page")
    start.set_defaults(handler=_link_start)
    confirm = link_commands.add_parser("confirm", help="finish a link flow with its code")
    confirm.add_argument("discord_user_id", type=snowflake, help=MEMBER_HELP)
    confirm.add_argument("code", help="the 6-digit code the page showed after X")
    confirm.set_defaults(handler=_link_confirm)

    accounts = commands.add_parser("accounts", help="see and remove linked accounts")
    account_commands = accounts.add_subparsers(required=True, metavar="ACTION")
    listing = account_commands.add_parser("list", help="list linked accounts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_accounts_list)
    show = account_commands.add_parser("show", help="one member's link, tweets and audit trail")
    show.add_argument("discord_user_id", type=snowflake, help=MEMBER_HELP)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_accounts_show)
    unlink = account_commands.add_parser("unlink", help="remove a link and revoke its token")
    unlink.add_argument("discord_user_id", type=snowflake, help=MEMBER_HELP)
    unlink.add_argument("--reason", help="kept in the audit log")
    unlink.add_argument("--json", action="store_true", help="print JSON")
    unlink.set_defaults(handler=_accounts_unlink)

    audit_log = commands.add_parser("audit", help="the newest admin actions")
    audit_log.add_argument(
        "--limit", type=_positive, default=50, help="how many entries, newest first (default 50)"
    )
    audit_log.add_argument("--json", action="store_true", help="print JSON")
    audit_log.set_defaults(handler=_audit)

    keys = commands.add_parser("keys", help="the sealing keys of TOKEN_ENCRYPTION_KEYS")
    key_commands = keys.add_subparsers(required=True, metavar="ACTION")
    rotate = key_commands.add_parser(
        "rotate", help="re-seal every stored secret under the first key (safe beside a live bot)"
    )
    rotate.set_defaults(handler=_keys_rotate)

    usage = commands.add_parser("usage", help="tweets posted and their estimated cost")
    usage.add_argument("--guild", type=snowflake, help="a server's id: that server only")
    usage.add_argument("--json", action="store_true", help="print JSON")
    usage.set_defaults(handler=_usage)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, default=_jsonable, indent=2))


def _link_fields(link: Link) -> dict[str, Any]:
    return {**asdict(link), "healthy": link.healthy}


def _link_line(link: Link) -> str:
    health = "healthy" if link.healthy else "revoked"
    return (
        f"{link.discord_user_id}\t@{link.screen_name}\t{link.twitter_user_id}\t"
        f"since {link.linked_at:%Y-%m-%d %H:%M} UTC\t{health}"
    )


def _link_start(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        name = args.name or str(args.discord_user_id)  # the pages say "Discord user NAME"
        started = await services.links.start(args.discord_user_id, name)
        print(f"Link for {name}, valid until {started.expires_at:%Y-%m-%d %H:%M} UTC:")
        print(services.settings.link_url(started.intent_id))

    with_services(job)


def _link_confirm(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        try:
            link = await services.links.confirm(args.discord_user_id, args.code)
        except (
            errors.NoPendingLink,
            errors.IntentFinished,
            errors.TooManyAttempts,
            errors.CodeExpired,
        ):
            raise CommandFailed(
                f"Discord user {args.discord_user_id} has no link flow waiting for a code; "
                f"start one with `tweetlink link start {args.discord_user_id}`"
            ) from None
        print(f"Linked as @{link.screen_name}")
        if link.moved_from is not None:
            print(f"(moved from Discord user {link.moved_from}, who held it until now)")

    with_services(job)


def _accounts_list(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        links = await services.links.all_links()
        if args.json:
            _print_json([_link_fields(link) for link in links])
            return
        if not links:
            print("no linked accounts")
            return
        print(LINK_HEADER)
        for link in links:
            print(_link_line(link))

    with_services(job)


def _accounts_show(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        member = args.discord_user_id
        link = await services.links.get(member)
        day, month = await services.usage.member_posts(member)
        entries = await services.audit.recent(target_id=member, limit=20)
        if args.json:
            _print_json(
                {
                    "discord_user_id": member,
                    "link": _link_fields(link) if link else None,
                    "tweets_24h": day,
                    "tweets_30d": month,
                    "audit": [asdict(entry) for entry in entries],
                }
            )
            return
        print(_link_line(link) if link else f"{member}\tnot linked")
        print(f"tweets: {day} in the last 24 hours, {month} in 30 days")
        for entry in entries:
            print(
                f"  {entry.created_at:%Y-%m-%d %H:%M} UTC {entry.action} "
                f"by {actor_name(entry.actor_id)}"
            )

    with_services(job)


def _accounts_unlink(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        try:
            unlinked = await services.links.unlink(
                args.discord_user_id, by=Actor.command_line(), reason=args.reason
            )
        except errors.NotLinked:
            raise CommandFailed(
                f"No X account is linked to Discord user {args.discord_user_id}."
            ) from None
        await services.role_connections.push(args.discord_user_id)
        if args.json:
            _print_json(
                {"unlinked": _link_fields(unlinked.link), "revoked": unlinked.revoked_at_twitter}
            )
            return
        print(f"Unlinked @{unlinked.link.screen_name} from {args.discord_user_id}")
        if not unlinked.revoked_at_twitter:
            print("X could not be reached, so the token is deleted here but not revoked there.")

    with_services(job)


def _audit(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        entries = await services.audit.recent(limit=args.limit)
        if args.json:
            _print_json([asdict(entry) for entry in entries])
            return
        if not entries:
            print("no admin actions yet")
        for entry in entries:
            print(
                f"{entry.created_at:%Y-%m-%d %H:%M} UTC\t{entry.action}\t"
                f"by {actor_name(entry.actor_id)}\t"
                f"target {entry.target_id or '-'}\tserver {entry.guild_id or '-'}\t"
                f"{entry.reason or ''}"
            )

    with_services(job)


def _keys_rotate(_: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        results = await reseal_everything(services.sessions, services.sealer)
        for done in results:
            print(f"{done.table}: {done.rows} row(s) re-sealed under the first key")
        unopenable = sum(done.unopenable for done in results)
        if unopenable:
            raise CommandFailed(
                f"{unopenable} row(s) hold values no key in TOKEN_ENCRYPTION_KEYS opens; "
                "they were left as they are: put back the key that sealed them and run this again"
            )
        print("every sealed value opens with the first key: the others may now be removed")

    with_services(job)


def _usage(args: argparse.Namespace) -> None:
    async def job(services: Services) -> None:
        windows = await services.usage.usage(guild_id=args.guild)
        if args.json:
            _print_json([asdict(window) for window in windows])
            return
        for window in windows:
            print(
                f"last {window.days} day(s): {window.posts} posts "
                f"({window.posts_with_url} with a link), about ${window.cost_usd:.3f}"
            )

    with_services(job)
