"""`tweetlink roles register`: the app's Linked Roles metadata, put once by the operator."""

from __future__ import annotations

import argparse
from typing import Any

from core import errors
from core.config import MissingSetting
from core.discord_oauth import put_metadata_records
from tweetlink.cli_support import load_settings, with_services
from tweetlink.failures import CommandFailed
from tweetlink.services import Services


def register(commands: Any) -> None:
    """Add `roles register` to the CLI's subcommands."""
    roles = commands.add_parser("roles", help="the app's Linked Roles")
    actions = roles.add_subparsers(required=True, metavar="ACTION")
    put = actions.add_parser(
        "register",
        help="put the role-connection metadata servers can require (linked, days linked)",
    )
    put.set_defaults(handler=_register)


def _register(_: argparse.Namespace) -> None:
    settings = load_settings(runs_the_bot=True)
    if settings.discord_client_id is None:
        raise CommandFailed(str(MissingSetting("DISCORD_CLIENT_ID")))
    application_id = settings.discord_client_id

    async def job(services: Services) -> None:
        try:
            records = await put_metadata_records(
                services.http,
                base_url=settings.discord_base_url,
                application_id=application_id,
                bot_token=settings.bot_token(),
            )
        except errors.DiscordGrantRevoked:
            raise CommandFailed(
                "Discord refused the metadata: check DISCORD_TOKEN, and that DISCORD_CLIENT_ID "
                "is this bot's application id"
            ) from None
        except errors.DiscordUnavailable:
            raise CommandFailed(
                f"could not put the metadata at {settings.discord_base_url}: Discord did not "
                "answer or refused it; check DISCORD_CLIENT_ID and this machine's network"
            ) from None
        print(f"Registered {len(records)} role-connection metadata record(s):")
        for record in records:
            print(f"  {record['key']}: {record['name']}")
        print(f"Set the app's Linked Roles Verification URL to {settings.linked_role_url}")

    with_services(job, settings=settings)
