"""Discord's OAuth2 and role-connection API, for Linked Roles, over the process's one session.

The bot's own traffic goes through discord.py; this is the part discord.py does not cover: the
authorization-code grant (a member's tokens, `identify role_connections.write`), the member's
application role connection, and the app's role-connection metadata (with the bot token).
Nothing here logs or shows a token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

from core.errors import DiscordGrantRevoked, DiscordUnavailable

SCOPES = "identify role_connections.write"
PLATFORM_NAME = "X"

# The records `tweetlink roles register` puts; a server's Linked Role may require them.
# Types: 7 is BOOLEAN_EQUAL; 6 is DATETIME_GREATER_THAN_OR_EQUAL, which Discord's server settings
# show as "days since" (as in Discord's own linked-roles sample).
METADATA_RECORDS = [
    {
        "key": "linked",
        "name": "Linked X account",
        "description": "Has linked a working X account to tweetlink",
        "type": 7,
    },
    {
        "key": "linked_since",
        "name": "Days linked",
        "description": "Days since the X account was linked",
        "type": 6,
    },
]


@dataclass(frozen=True)
class DiscordGrant:
    """A member's OAuth2 tokens from Discord."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scopes: frozenset[str]


@dataclass(frozen=True)
class RoleConnectionValues:
    """What a member's role connection says: their X handle and since when, or nothing."""

    screen_name: str | None
    linked_at: datetime | None

    def body(self) -> dict[str, Any]:
        """The JSON Discord takes; metadata values are strings."""
        if self.screen_name is None or self.linked_at is None:
            return {"platform_name": PLATFORM_NAME, "platform_username": None, "metadata": {}}
        return {
            "platform_name": PLATFORM_NAME,
            "platform_username": f"@{self.screen_name}",
            "metadata": {"linked": "1", "linked_since": self.linked_at.isoformat()},
        }


class DiscordOAuthClient:
    """Our app (the OAuth2 client) talking to Discord about members who signed in with it."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        client_id: int,
        client_secret: str,
        redirect_url: str,
        timeout_seconds: float,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._api = f"{self.base_url}/api/v10"
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_url = redirect_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    def __repr__(self) -> str:
        return f"DiscordOAuthClient(base_url={self.base_url!r}, client_id={self.client_id})"

    def authorize_url(self, state: str) -> str:
        """Where the member approves our app on Discord."""
        query = {
            "client_id": str(self.client_id),
            "redirect_uri": self.redirect_url,
            "response_type": "code",
            "scope": SCOPES,
            "state": state,
            "prompt": "consent",
        }
        return f"{self.base_url}/oauth2/authorize?{urlencode(query)}"

    async def exchange_code(self, code: str, now: datetime) -> DiscordGrant:
        """The member's tokens for the code Discord sent the browser back with."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_url}
        return await self._token(form, now)

    async def refresh(self, refresh_token: str, now: datetime) -> DiscordGrant:
        """New tokens for an expired access token (Discord rotates the refresh token too)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token(form, now)

    async def current_user_id(self, access_token: str) -> int:
        """The Discord user the access token belongs to."""
        answer = await self._call("GET", "/users/@me", bearer=access_token)
        return int(answer["id"])

    async def put_role_connection(self, access_token: str, values: RoleConnectionValues) -> None:
        """Write the member's role connection for our app."""
        path = f"/users/@me/applications/{self.client_id}/role-connection"
        await self._call("PUT", path, bearer=access_token, payload=values.body())

    async def _token(self, form: dict[str, str], now: datetime) -> DiscordGrant:
        client = {"client_id": str(self.client_id), "client_secret": self._client_secret}
        answer = await self._call("POST", "/oauth2/token", form=form | client)
        try:
            return DiscordGrant(
                access_token=str(answer["access_token"]),
                refresh_token=str(answer["refresh_token"]),
                expires_at=now + timedelta(seconds=int(answer["expires_in"])),
                scopes=frozenset(str(answer["scope"]).split()),
            )
        except (KeyError, TypeError, ValueError):
            raise DiscordUnavailable() from None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        bearer: str | None = None,
        payload: Any = None,
        form: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return await call_discord(
            self._http,
            method,
            self._api + path,
            headers=headers,
            payload=payload,
            form=form,
            client_timeout=self._timeout,
        )


async def put_metadata_records(
    http: aiohttp.ClientSession, *, base_url: str, application_id: int, bot_token: str
) -> list[dict[str, Any]]:
    """Put the app's role-connection metadata (`METADATA_RECORDS`) with the bot's token."""
    url = f"{base_url.rstrip('/')}/api/v10/applications/{application_id}/role-connections/metadata"
    answer = await call_discord(
        http,
        "PUT",
        url,
        headers={"Authorization": f"Bot {bot_token}"},
        payload=METADATA_RECORDS,
        client_timeout=aiohttp.ClientTimeout(total=30),
    )
    return list(answer)


async def call_discord(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    client_timeout: aiohttp.ClientTimeout,
    payload: Any = None,
    form: dict[str, str] | None = None,
) -> Any:
    """One request to Discord and its JSON answer. A refused grant or token (400 invalid_grant,
    401) is DiscordGrantRevoked; anything else that is not a success is DiscordUnavailable."""
    try:
        async with http.request(
            method, url, headers=headers, json=payload, data=form, timeout=client_timeout
        ) as response:
            body = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError):
        raise DiscordUnavailable() from None
    answer = _json_or_none(body)
    # 403: the grant lacks a scope it needs (the member took it back).
    if status in (401, 403) or (status == 400 and _error_code(answer) == "invalid_grant"):
        raise DiscordGrantRevoked()
    if not 200 <= status < 300 or answer is None:
        raise DiscordUnavailable()
    return answer


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error_code(answer: Any) -> str | None:
    return answer.get("error") if isinstance(answer, dict) else None
