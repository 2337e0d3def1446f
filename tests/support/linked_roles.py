"""Settings with Linked Roles set up against the fake Discord."""

from __future__ import annotations

from pydantic import SecretStr

from core.config import Settings
from core.discord_oauth import METADATA_RECORDS
from tests.fakes.discord import FakeDiscord


def with_linked_roles(settings: Settings, fake: FakeDiscord) -> Settings:
    """`settings` plus the app's OAuth2 client at `fake`, which knows our redirect and has the
    metadata registered (as `tweetlink roles register` leaves it)."""
    fake.oauth.redirect_uris.add(settings.discord_redirect_url)
    fake.oauth.metadata = list(METADATA_RECORDS)
    return settings.model_copy(
        update={
            "discord_client_id": fake.application_id,
            "discord_client_secret": SecretStr(fake.oauth.client_secret),
            "discord_base_url": fake.base_url,
        }
    )
