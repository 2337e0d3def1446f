"""A link round's copy of the rows it read, changed in memory and written back in a few statements.

A round (`core.links`) reads every flow and link its steps name, locked until commit; each step
then reads and changes this copy in the order the steps came, as if they had run one after the
other; finally the differences go back to the database, one statement per kind of change.
Rows are immutable: a change puts a new row in place, so what changed is what is no longer the
row that was read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import link_statements as sql


@dataclass(frozen=True)
class IntentRow:
    """A `link_intents` row; what a new flow does not have yet defaults to empty."""

    id: str
    discord_user_id: int
    discord_name: str
    status: str
    csrf_token: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    request_token: str | None = field(default=None, repr=False)
    request_token_secret_sealed: str | None = field(default=None, repr=False)
    verifier_hash: str | None = field(default=None, repr=False)
    twitter_user_id: str | None = None
    screen_name: str | None = None
    access_level: str | None = None
    access_token_sealed: str | None = field(default=None, repr=False)
    access_token_secret_sealed: str | None = field(default=None, repr=False)
    code_sealed: str | None = field(default=None, repr=False)
    code_expires_at: datetime | None = None
    code_attempts: int = 0


@dataclass(frozen=True)
class LinkRow:
    """A `linked_accounts` row."""

    discord_user_id: int
    twitter_user_id: str
    screen_name: str
    access_token_sealed: str = field(repr=False)
    access_token_secret_sealed: str = field(repr=False)
    access_level: str
    linked_at: datetime
    revoked_at: datetime | None


_INTENT_FIELDS = tuple(column.name for column in fields(IntentRow))
_LINK_FIELDS = tuple(column.name for column in fields(LinkRow))
# An UPDATE sets every column a flow can change, so all updates share one statement.
_UPDATED_INTENT_FIELDS = tuple(
    name
    for name in _INTENT_FIELDS
    if name not in {"id", "discord_user_id", "discord_name", "csrf_token", "created_at"}
)


class Tables:
    """The intents and links a round read, with the changes its steps made to them."""

    def __init__(self, intents: Iterable[IntentRow], links: Iterable[LinkRow] = ()) -> None:
        self._read_intents = {intent.id: intent for intent in intents}
        self._intents = dict(self._read_intents)
        self._intent_by_user = {row.discord_user_id: row.id for row in self._intents.values()}
        self._intent_by_token = {
            row.request_token: row.id for row in self._intents.values() if row.request_token
        }
        self._read_links: dict[int, LinkRow] = {}
        self._links: dict[int, LinkRow] = {}
        self._link_by_twitter: dict[str, int] = {}
        self.add_read_links(links)

    def add_read_links(self, links: Iterable[LinkRow]) -> None:
        """Links read after the intents (which X accounts to read comes from the intents)."""
        for link in links:
            self._read_links[link.discord_user_id] = link
            self._links[link.discord_user_id] = link
            self._link_by_twitter[link.twitter_user_id] = link.discord_user_id

    def intent(self, intent_id: str) -> IntentRow | None:
        return self._intents.get(intent_id)

    def intent_of_user(self, discord_user_id: int) -> IntentRow | None:
        intent_id = self._intent_by_user.get(discord_user_id)
        return None if intent_id is None else self._intents[intent_id]

    def intent_by_token(self, request_token: str) -> IntentRow | None:
        intent_id = self._intent_by_token.get(request_token)
        return None if intent_id is None else self._intents[intent_id]

    def expired_intents(self, now: datetime) -> list[IntentRow]:
        return [intent for intent in self._intents.values() if intent.expires_at <= now]

    def put_intent(self, intent: IntentRow) -> None:
        """Store a new flow, or a flow's next state."""
        old = self._intents.get(intent.id)
        if old is not None and old.request_token:
            del self._intent_by_token[old.request_token]
        self._intents[intent.id] = intent
        self._intent_by_user[intent.discord_user_id] = intent.id
        if intent.request_token:
            self._intent_by_token[intent.request_token] = intent.id

    def delete_intent(self, intent: IntentRow) -> None:
        del self._intents[intent.id]
        del self._intent_by_user[intent.discord_user_id]
        if intent.request_token:
            del self._intent_by_token[intent.request_token]

    def link_of_user(self, discord_user_id: int) -> LinkRow | None:
        return self._links.get(discord_user_id)

    def link_of_account(self, twitter_user_id: str) -> LinkRow | None:
        holder = self._link_by_twitter.get(twitter_user_id)
        return None if holder is None else self._links[holder]

    def put_link(self, link: LinkRow) -> None:
        """Store a link; the caller has deleted any other holder of its X account."""
        self._links[link.discord_user_id] = link
        self._link_by_twitter[link.twitter_user_id] = link.discord_user_id

    def delete_link(self, link: LinkRow) -> None:
        del self._links[link.discord_user_id]
        del self._link_by_twitter[link.twitter_user_id]

    async def save(self, connection: AsyncConnection) -> None:
        """Write the changes back: deletions first, so that no unique key is held twice."""
        before, after = self._read_intents, self._intents
        gone = [intent_id for intent_id in before if after.get(intent_id) is not before[intent_id]]
        changed = [after[intent_id] for intent_id in gone if intent_id in after]
        deleted = [intent_id for intent_id in gone if intent_id not in after]
        added = [intent for intent_id, intent in after.items() if intent_id not in before]
        if deleted:
            await connection.execute(sql.DELETE_INTENTS, {"ids": deleted})
        if changed:
            await connection.execute(sql.UPDATE_INTENT, [_update_values(row) for row in changed])
        if added:
            await connection.execute(
                sql.INSERT_INTENTS, [_values(row, _INTENT_FIELDS) for row in added]
            )

        read_links, links = self._read_links, self._links
        unlinked = [user for user, link in read_links.items() if links.get(user) is not link]
        linked = [link for user, link in links.items() if read_links.get(user) is not link]
        if unlinked:
            await connection.execute(sql.DELETE_LINKS, {"users": unlinked})
        if linked:
            await connection.execute(
                sql.INSERT_LINKS, [_values(row, _LINK_FIELDS) for row in linked]
            )


async def read(
    connection: AsyncConnection,
    *,
    intent_ids: Iterable[str],
    request_tokens: Iterable[str],
    discord_users: Iterable[int],
    sweep_before: datetime,
    lock: bool,
) -> Tables:
    """The flows named by id, request token or Discord user, and those expired by `sweep_before`.

    `lock`: for a round that writes, the rows stay locked until commit (PostgreSQL; on SQLite
    the round holds the write lock already).
    """
    statement = sql.LOCK_INTENTS if lock else sql.SELECT_INTENTS
    rows = await connection.execute(
        statement,
        {
            "ids": sorted(set(intent_ids)),
            "tokens": sorted(set(request_tokens)),
            "users": sorted(set(discord_users)),
            "sweep_before": sweep_before,
        },
    )
    return Tables(IntentRow(**row._mapping) for row in rows)


async def read_links(
    connection: AsyncConnection,
    tables: Tables,
    *,
    discord_users: Iterable[int],
    twitter_users: Iterable[str],
) -> None:
    """Add the links held by these Discord users or of these X accounts, locked until commit."""
    rows = await connection.execute(
        sql.LOCK_LINKS,
        {"users": sorted(set(discord_users)), "twitter_users": sorted(set(twitter_users))},
    )
    tables.add_read_links(LinkRow(**row._mapping) for row in rows)


def _values(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def _update_values(intent: IntentRow) -> dict[str, Any]:
    values = _values(intent, _UPDATED_INTENT_FIELDS)
    values["intent_id"] = intent.id
    return values
