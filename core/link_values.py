"""What the link use cases hand back: plain values, credentials never among them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class StartedLink:
    """A new link flow: the id that goes into the member's URL."""

    intent_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Landing:
    """What the landing page shows before anything happens."""

    intent_id: str
    discord_name: str
    csrf_token: str = field(repr=False)


@dataclass(frozen=True)
class Authorization:
    """The outcome of X's callback: the code to type in Discord, or the finished link."""

    intent_id: str
    discord_name: str
    screen_name: str
    code: str | None = field(repr=False)
    code_expires_at: datetime | None
    linked: bool


@dataclass(frozen=True)
class Link:
    """A linked account as people may see it (no credentials)."""

    discord_user_id: int
    twitter_user_id: str
    screen_name: str
    access_level: str
    linked_at: datetime
    revoked_at: datetime | None
    # Set by `confirm` when the X account was linked to another Discord user until then.
    moved_from: int | None = None

    @property
    def healthy(self) -> bool:
        """Whether X still accepts the token, as far as we know."""
        return self.revoked_at is None


@dataclass(frozen=True)
class Unlinked:
    """A removed link, and whether X confirmed the token is revoked."""

    link: Link
    revoked_at_twitter: bool
