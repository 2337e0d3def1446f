"""Linking a Discord user to an X account: start, authorize on X, confirm with a code, unlink.

Every hand-off between steps goes through the database with atomic `UPDATE … RETURNING` /
`DELETE … RETURNING`, so any web worker or bot process can carry on any flow, and a replayed or
concurrent step finds the row already moved on. Write transactions start with their write, so
SQLite takes its write lock up front instead of failing to upgrade a read lock.

Its SQL is prebuilt in `core.link_statements` and run on connections: ORM sessions and
statements built per call cost more CPU than the flow's whole database work.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Executable, Row
from sqlalchemy.exc import IntegrityError

from core import audit, errors
from core import link_statements as sql
from core.audit import Action, Actor
from core.db import SessionFactory, engine_of, for_single_statements
from core.models import IntentStatus, utcnow
from core.sealing import Sealer
from core.twitter import TokenPair, TwitterClient

log = logging.getLogger(__name__)

CODE_DIGITS = 6


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

    @property
    def healthy(self) -> bool:
        """Whether X still accepts the token, as far as we know."""
        return self.revoked_at is None


@dataclass(frozen=True)
class Unlinked:
    """A removed link, and whether X confirmed the token is revoked."""

    link: Link
    revoked_at_twitter: bool


@dataclass(frozen=True)
class _SealedCredentials:
    screen_name: str
    token_sealed: str = field(repr=False)
    secret_sealed: str = field(repr=False)


@dataclass(frozen=True)
class _Callback:
    """The flow a callback's request token belongs to."""

    intent_id: str
    discord_name: str
    status: str
    request_token_secret_sealed: str | None = field(repr=False)
    verifier_hash: str | None = field(repr=False)
    screen_name: str | None
    code_sealed: str | None = field(repr=False)
    code_expires_at: datetime | None


@dataclass(frozen=True)
class _Linked:
    """A confirm that stored its link, and the credentials of the account it replaced."""

    link: Link
    replaced: _SealedCredentials | None


def _link_of(row: Sequence[Any]) -> Link:
    discord_user_id, twitter_user_id, screen_name, access_level, linked_at, revoked_at = row[:6]
    return Link(
        discord_user_id=discord_user_id,
        twitter_user_id=twitter_user_id,
        screen_name=screen_name,
        access_level=access_level,
        linked_at=linked_at,
        revoked_at=revoked_at,
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class LinkService:
    """The link use cases, shared by the bot, the web pages and the CLI."""

    def __init__(
        self,
        sessions: SessionFactory,
        sealer: Sealer,
        twitter: TwitterClient,
        *,
        callback_url: str,
        intent_ttl: timedelta,
        code_ttl: timedelta,
        code_attempts: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._engine = engine_of(sessions)
        self._single_statements = for_single_statements(self._engine)
        self._sealer = sealer
        self._twitter = twitter
        self._callback_url = callback_url
        self._intent_ttl = intent_ttl
        self._code_ttl = code_ttl
        self._code_attempts = code_attempts
        self._clock = clock

    async def start(self, discord_user_id: int, discord_name: str) -> StartedLink:
        """Open a flow for this Discord user, replacing any earlier one of theirs."""
        now = self._clock()
        intent_id = secrets.token_urlsafe(32)
        expires_at = now + self._intent_ttl
        intent = {
            "id": intent_id,
            "discord_user_id": discord_user_id,
            "discord_name": discord_name[:100],
            "status": IntentStatus.CREATED,
            "csrf_token": secrets.token_urlsafe(32),
            "created_at": now,
            "expires_at": expires_at,
            "code_attempts": 0,
        }
        async with self._engine.begin() as connection:
            await connection.execute(
                sql.DELETE_OWN_AND_EXPIRED_INTENTS, {"discord_user": discord_user_id, "now": now}
            )
            await connection.execute(sql.INSERT_INTENT, intent)
        return StartedLink(intent_id, expires_at)

    async def landing(self, intent_id: str) -> Landing:
        """The landing page's facts; reading them changes nothing."""
        row = await self._open_intent(sql.SELECT_LANDING, intent_id)
        return Landing(intent_id, row.discord_name, row.csrf_token)

    async def begin_authorization(self, intent_id: str, csrf_token: str) -> str:
        """Get a request token for the flow and return the X URL to send the browser to."""
        row = await self._open_intent(sql.SELECT_CONTINUE, intent_id)
        if not secrets.compare_digest(row.csrf_token, csrf_token):
            raise errors.FormExpired()
        request = await self._twitter.request_token(self._callback_url)
        values = {
            "intent_id": intent_id,
            "now": self._clock(),
            "new_request_token": request.token,
            "new_secret_sealed": self._sealer.seal(request.secret),
        }
        async with self._single_statements.begin() as connection:
            moved = (await connection.execute(sql.MOVE_TO_AUTHORIZING, values)).rowcount
        if moved == 0:
            raise errors.IntentFinished()
        return self._twitter.authorize_url(request.token)

    async def cancel_authorization(self, request_token: str) -> str:
        """The member pressed Cancel on X: forget the request token, keep the flow open."""
        async with self._single_statements.begin() as connection:
            reset = await connection.execute(sql.MOVE_BACK_TO_CREATED, {"token": request_token})
            intent_id: str | None = reset.scalar_one_or_none()
        if intent_id is None:
            raise errors.UnknownRequestToken()
        return intent_id

    async def finish_authorization(self, request_token: str, verifier: str) -> Authorization:
        """X sent the browser back: exchange the verifier and issue the confirmation code.

        Reloading the same callback URL shows the same outcome; any other replay is refused.
        """
        intent = await self._callback(request_token)
        if intent.status != IntentStatus.AUTHORIZING:
            return self._replayed_callback(intent, verifier)
        sealed_secret = intent.request_token_secret_sealed
        assert sealed_secret is not None
        request = TokenPair(request_token, self._sealer.open(sealed_secret))
        try:
            grant = await self._twitter.access_token(request, verifier)
        except errors.TwitterAuthRevoked:
            # A concurrent callback may have spent this verifier a moment ago.
            return self._replayed_callback(await self._callback(request_token), verifier)
        if not grant.can_write:
            await self.cancel_authorization(request_token)
            raise errors.TwitterNoWriteAccess()

        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        code_expires_at = self._clock() + self._code_ttl
        values = {
            "intent_id": intent.intent_id,
            "token": request_token,
            "new_verifier_hash": _digest(verifier),
            "new_twitter_user_id": grant.user_id,
            "new_screen_name": grant.screen_name,
            "new_access_level": grant.access_level,
            "new_token_sealed": self._sealer.seal(grant.credentials.token),
            "new_secret_sealed": self._sealer.seal(grant.credentials.secret),
            "new_code_sealed": self._sealer.seal(code),
            "new_code_expires_at": code_expires_at,
        }
        async with self._single_statements.begin() as connection:
            won = (await connection.execute(sql.MOVE_TO_AUTHORIZED, values)).rowcount == 1
        if not won:
            return self._replayed_callback(await self._callback(request_token), verifier)
        log.info("link flow authorized on X as @%s", grant.screen_name)
        return Authorization(
            intent.intent_id,
            intent.discord_name,
            grant.screen_name,
            code,
            code_expires_at,
            linked=False,
        )

    async def confirm(self, discord_user_id: int, typed_code: str) -> Link:
        """Finish this Discord user's flow with the code from the page, and store the link."""
        code = typed_code.strip().replace(" ", "")
        if len(code) != CODE_DIGITS or not code.isdigit():
            raise errors.MalformedCode()
        outcome = await self._try_code(discord_user_id, code)
        if outcome is None:
            raise await self._why_no_attempt(discord_user_id)
        if isinstance(outcome, errors.LinkError):
            raise outcome
        log.info("linked Discord user %s to @%s", discord_user_id, outcome.link.screen_name)
        if outcome.replaced is not None:
            await self._revoke_quietly(outcome.replaced)
        return outcome.link

    async def get(self, discord_user_id: int) -> Link | None:
        """This Discord user's link, if any."""
        async with self._single_statements.connect() as connection:
            row = (
                await connection.execute(sql.SELECT_LINK, {"discord_user": discord_user_id})
            ).first()
        return _link_of(row) if row else None

    async def all_links(self) -> list[Link]:
        """Every link, oldest first."""
        async with self._single_statements.connect() as connection:
            rows = (await connection.execute(sql.SELECT_ALL_LINKS)).all()
        return [_link_of(row) for row in rows]

    async def unlink(
        self, discord_user_id: int, *, by: Actor | None = None, reason: str | None = None
    ) -> Unlinked:
        """Remove the link here in every case, and revoke the token at X when X answers.

        `by` is an admin removing someone else's link: the action is audited.
        """
        # A session, not a bare connection, because the audit entry is added to its transaction.
        async with self._sessions.begin() as session:
            row = (
                await session.execute(sql.DELETE_LINK, {"discord_user": discord_user_id})
            ).first()
            if row is None:
                raise errors.NotLinked()
            if by is not None:
                audit.record(session, by, Action.UNLINK, target_id=discord_user_id, reason=reason)
        link = _link_of(row)
        revoked = await self._revoke_quietly(
            _SealedCredentials(
                link.screen_name, row.access_token_sealed, row.access_token_secret_sealed
            )
        )
        return Unlinked(link, revoked_at_twitter=revoked)

    async def intent_id_for_request_token(self, request_token: str) -> str | None:
        """The flow a request token belongs to, to offer a retry after X failed."""
        async with self._single_statements.connect() as connection:
            found = await connection.execute(
                sql.SELECT_INTENT_ID_BY_REQUEST_TOKEN, {"token": request_token}
            )
            intent_id: str | None = found.scalar_one_or_none()
        return intent_id

    async def purge_expired(self) -> int:
        """Delete flows whose time is up; returns how many."""
        async with self._single_statements.begin() as connection:
            purged = await connection.execute(sql.DELETE_EXPIRED_INTENTS, {"now": self._clock()})
            return len(purged.all())

    async def _try_code(self, discord_user_id: int, code: str) -> _Linked | errors.LinkError | None:
        # The unique X account may be claimed concurrently by another Discord user's flow; the
        # loser's whole transaction rolls back (its attempt uncounted) and runs again.
        for attempt in range(3):
            try:
                return await self._try_code_once(discord_user_id, code)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _try_code_once(
        self, discord_user_id: int, code: str
    ) -> _Linked | errors.LinkError | None:
        """One transaction: count the attempt and, if the code is right, move the link here.

        Returns the stored link; or the error a counted attempt earns, the count committed; or
        None when no flow could take an attempt (the caller finds out why, on its own connection).
        """
        now = self._clock()
        async with self._engine.begin() as connection:
            counted = (
                await connection.execute(
                    sql.COUNT_ATTEMPT,
                    {
                        "discord_user": discord_user_id,
                        "max_attempts": self._code_attempts,
                        "now": now,
                    },
                )
            ).first()
            if counted is None:
                return None
            (
                intent_id,
                twitter_user_id,
                screen_name,
                access_level,
                token_sealed,
                secret_sealed,
                code_sealed,
                code_expires_at,
                attempts,
            ) = counted
            if code_expires_at is None or code_expires_at <= now:
                return errors.CodeExpired()
            if code_sealed is None or not secrets.compare_digest(
                self._sealer.open(code_sealed), code
            ):
                attempts_left = self._code_attempts - attempts
                if attempts_left > 0:
                    return errors.WrongCode(attempts_left)
                await connection.execute(sql.MOVE_TO_VOID, {"intent_id": intent_id})
                return errors.TooManyAttempts()

            await connection.execute(sql.MOVE_TO_LINKED, {"intent_id": intent_id})
            # One X account per Discord user and one Discord user per X account: the code just
            # proved ownership, so the link moves here from whoever held it.
            previous = await connection.execute(
                sql.DELETE_HOLDERS,
                {"discord_user": discord_user_id, "twitter_user": twitter_user_id},
            )
            replaced: _SealedCredentials | None = None
            for screen, token, secret, holder_twitter_id, holder in previous:
                if holder == discord_user_id and holder_twitter_id != twitter_user_id:
                    replaced = _SealedCredentials(screen, token, secret)
            link = Link(
                discord_user_id=discord_user_id,
                twitter_user_id=twitter_user_id,
                screen_name=screen_name,
                access_level=access_level,
                linked_at=now,
                revoked_at=None,
            )
            await connection.execute(
                sql.INSERT_LINK,
                {
                    "discord_user_id": discord_user_id,
                    "twitter_user_id": twitter_user_id,
                    "screen_name": screen_name,
                    "access_token_sealed": token_sealed,
                    "access_token_secret_sealed": secret_sealed,
                    "access_level": access_level,
                    "linked_at": now,
                    "revoked_at": None,
                },
            )
        return _Linked(link, replaced)

    async def _revoke_quietly(self, sealed: _SealedCredentials) -> bool:
        credentials = TokenPair(
            self._sealer.open(sealed.token_sealed), self._sealer.open(sealed.secret_sealed)
        )
        try:
            await self._twitter.invalidate_token(credentials)
        except errors.TwitterError as error:
            log.warning("could not revoke the token of @%s at X: %s", sealed.screen_name, error)
            return False
        return True

    async def _open_intent(self, statement: Executable, intent_id: str) -> Row[Any]:
        """A live flow nobody has authorized yet, read with `statement`; else why not."""
        async with self._single_statements.connect() as connection:
            row = (await connection.execute(statement, {"intent_id": intent_id})).first()
        if row is None or row.expires_at <= self._clock():
            raise errors.IntentNotFound()
        if row.status not in sql.OPEN:
            raise self._finished(row.status)
        return row

    async def _why_no_attempt(self, discord_user_id: int) -> errors.LinkError:
        async with self._single_statements.connect() as connection:
            row = (
                await connection.execute(
                    sql.SELECT_WHY_NO_ATTEMPT, {"discord_user": discord_user_id}
                )
            ).first()
        if row is None:
            return errors.NoPendingLink()
        status: str = row.status
        if row.expires_at <= self._clock():
            if status == IntentStatus.AUTHORIZED:
                return errors.CodeExpired()
            return errors.NoPendingLink()
        if status == IntentStatus.LINKED:
            return errors.IntentFinished("This link is already complete.")
        if status == IntentStatus.AUTHORIZED or status == IntentStatus.VOID:
            return errors.TooManyAttempts()
        return errors.NoPendingLink()

    async def _callback(self, request_token: str) -> _Callback:
        async with self._single_statements.connect() as connection:
            row = (await connection.execute(sql.SELECT_CALLBACK, {"token": request_token})).first()
        if row is None:
            raise errors.UnknownRequestToken()
        if row.expires_at <= self._clock():
            raise errors.IntentNotFound()
        return _Callback(
            intent_id=row.id,
            discord_name=row.discord_name,
            status=row.status,
            request_token_secret_sealed=row.request_token_secret_sealed,
            verifier_hash=row.verifier_hash,
            screen_name=row.screen_name,
            code_sealed=row.code_sealed,
            code_expires_at=row.code_expires_at,
        )

    def _replayed_callback(self, intent: _Callback, verifier: str) -> Authorization:
        """The same browser reloading its callback sees its outcome again; nobody else does."""
        same_browser = intent.verifier_hash is not None and secrets.compare_digest(
            intent.verifier_hash, _digest(verifier)
        )
        if not same_browser or intent.screen_name is None:
            raise self._finished(intent.status)
        if intent.status == IntentStatus.AUTHORIZED and intent.code_sealed is not None:
            code = self._sealer.open(intent.code_sealed)
            return Authorization(
                intent.intent_id,
                intent.discord_name,
                intent.screen_name,
                code,
                intent.code_expires_at,
                linked=False,
            )
        if intent.status == IntentStatus.LINKED:
            return Authorization(
                intent.intent_id, intent.discord_name, intent.screen_name, None, None, linked=True
            )
        raise self._finished(intent.status)

    @staticmethod
    def _finished(status: str) -> errors.IntentFinished:
        if status == IntentStatus.LINKED:
            return errors.IntentFinished("This link is already complete.")
        if status == IntentStatus.VOID:
            return errors.IntentFinished("This link was cancelled after too many wrong codes.")
        if status == IntentStatus.AUTHORIZED:
            return errors.IntentFinished(
                "This link was already authorized on X; the code is waiting in Discord."
            )
        return errors.IntentFinished()
