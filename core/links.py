"""Linking a Discord user to an X account: start, authorize on X, confirm with a code, unlink.

Every hand-off between steps goes through the database with atomic `UPDATE … RETURNING` /
`DELETE … RETURNING`, so any web worker or bot process can carry on any flow, and a replayed or
concurrent step finds the row already moved on. Write transactions start with their write, so
SQLite takes its write lock up front instead of failing to upgrade a read lock.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from core import audit, errors
from core.audit import Action, Actor
from core.db import SessionFactory
from core.models import IntentStatus, LinkedAccount, LinkIntent, utcnow
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


def _link_of(account: LinkedAccount) -> Link:
    return Link(
        discord_user_id=account.discord_user_id,
        twitter_user_id=account.twitter_user_id,
        screen_name=account.screen_name,
        access_level=account.access_level,
        linked_at=account.linked_at,
        revoked_at=account.revoked_at,
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
        intent = LinkIntent(
            id=secrets.token_urlsafe(32),
            discord_user_id=discord_user_id,
            discord_name=discord_name[:100],
            status=IntentStatus.CREATED,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self._intent_ttl,
            code_attempts=0,
        )
        async with self._sessions.begin() as session:
            await session.execute(
                delete(LinkIntent).where(
                    or_(LinkIntent.discord_user_id == discord_user_id, LinkIntent.expires_at <= now)
                )
            )
            session.add(intent)
        return StartedLink(intent.id, intent.expires_at)

    async def landing(self, intent_id: str) -> Landing:
        """The landing page's facts; reading them changes nothing."""
        intent = await self._live_intent(intent_id)
        if intent.status not in (IntentStatus.CREATED, IntentStatus.AUTHORIZING):
            raise self._finished(intent)
        return Landing(intent.id, intent.discord_name, intent.csrf_token)

    async def begin_authorization(self, intent_id: str, csrf_token: str) -> str:
        """Get a request token for the flow and return the X URL to send the browser to."""
        intent = await self._live_intent(intent_id)
        if intent.status not in (IntentStatus.CREATED, IntentStatus.AUTHORIZING):
            raise self._finished(intent)
        if not secrets.compare_digest(intent.csrf_token, csrf_token):
            raise errors.FormExpired()
        request = await self._twitter.request_token(self._callback_url)
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(LinkIntent)
                .where(
                    LinkIntent.id == intent_id,
                    LinkIntent.status.in_([IntentStatus.CREATED, IntentStatus.AUTHORIZING]),
                    LinkIntent.expires_at > self._clock(),
                )
                .values(
                    status=IntentStatus.AUTHORIZING,
                    request_token=request.token,
                    request_token_secret_sealed=self._sealer.seal(request.secret),
                )
                .returning(LinkIntent.id)
            )
            if moved.first() is None:
                raise errors.IntentFinished()
        return self._twitter.authorize_url(request.token)

    async def cancel_authorization(self, request_token: str) -> str:
        """The member pressed Cancel on X: forget the request token, keep the flow open."""
        async with self._sessions.begin() as session:
            reset = await session.execute(
                update(LinkIntent)
                .where(
                    LinkIntent.request_token == request_token,
                    LinkIntent.status == IntentStatus.AUTHORIZING,
                )
                .values(
                    status=IntentStatus.CREATED,
                    request_token=None,
                    request_token_secret_sealed=None,
                )
                .returning(LinkIntent.id)
            )
            intent_id = reset.scalar_one_or_none()
        if intent_id is None:
            raise errors.UnknownRequestToken()
        return intent_id

    async def finish_authorization(self, request_token: str, verifier: str) -> Authorization:
        """X sent the browser back: exchange the verifier and issue the confirmation code.

        Reloading the same callback URL shows the same outcome; any other replay is refused.
        """
        intent = await self._intent_by_request_token(request_token)
        if intent.status != IntentStatus.AUTHORIZING:
            return self._replayed_callback(intent, verifier)
        sealed_secret = intent.request_token_secret_sealed
        assert sealed_secret is not None
        request = TokenPair(request_token, self._sealer.open(sealed_secret))
        try:
            grant = await self._twitter.access_token(request, verifier)
        except errors.TwitterAuthRevoked:
            # A concurrent callback may have spent this verifier a moment ago.
            return self._replayed_callback(
                await self._intent_by_request_token(request_token), verifier
            )
        if not grant.can_write:
            await self.cancel_authorization(request_token)
            raise errors.TwitterNoWriteAccess()

        now = self._clock()
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        code_expires_at = now + self._code_ttl
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(LinkIntent)
                .where(
                    LinkIntent.id == intent.id,
                    LinkIntent.status == IntentStatus.AUTHORIZING,
                    LinkIntent.request_token == request_token,
                )
                .values(
                    status=IntentStatus.AUTHORIZED,
                    request_token_secret_sealed=None,
                    verifier_hash=_digest(verifier),
                    twitter_user_id=grant.user_id,
                    screen_name=grant.screen_name,
                    access_level=grant.access_level,
                    access_token_sealed=self._sealer.seal(grant.credentials.token),
                    access_token_secret_sealed=self._sealer.seal(grant.credentials.secret),
                    code_sealed=self._sealer.seal(code),
                    code_expires_at=code_expires_at,
                    code_attempts=0,
                    expires_at=code_expires_at,
                )
                .returning(LinkIntent.id)
            )
            won = moved.first() is not None
        if not won:
            return self._replayed_callback(
                await self._intent_by_request_token(request_token), verifier
            )
        log.info("link flow authorized on X as @%s", grant.screen_name)
        return Authorization(
            intent.id, intent.discord_name, grant.screen_name, code, code_expires_at, linked=False
        )

    async def confirm(self, discord_user_id: int, typed_code: str) -> Link:
        """Finish this Discord user's flow with the code from the page, and store the link."""
        code = typed_code.strip().replace(" ", "")
        if len(code) != CODE_DIGITS or not code.isdigit():
            raise errors.MalformedCode()
        async with self._sessions.begin() as session:
            counted = await session.execute(
                update(LinkIntent)
                .where(
                    LinkIntent.discord_user_id == discord_user_id,
                    LinkIntent.status == IntentStatus.AUTHORIZED,
                    LinkIntent.code_attempts < self._code_attempts,
                    LinkIntent.expires_at > self._clock(),
                )
                .values(code_attempts=LinkIntent.code_attempts + 1)
                .returning(
                    LinkIntent.id,
                    LinkIntent.code_sealed,
                    LinkIntent.code_expires_at,
                    LinkIntent.code_attempts,
                )
            )
            attempt = counted.first()
        if attempt is None:
            raise await self._why_no_attempt(discord_user_id)
        intent_id, code_sealed, code_expires_at, attempts = attempt
        if code_expires_at is None or code_expires_at <= self._clock():
            raise errors.CodeExpired()
        if code_sealed is None or not secrets.compare_digest(self._sealer.open(code_sealed), code):
            attempts_left = self._code_attempts - attempts
            if attempts_left > 0:
                raise errors.WrongCode(attempts_left)
            await self._void(intent_id)
            raise errors.TooManyAttempts()
        return await self._store_link(intent_id, discord_user_id)

    async def get(self, discord_user_id: int) -> Link | None:
        """This Discord user's link, if any."""
        async with self._sessions() as session:
            account = await session.get(LinkedAccount, discord_user_id)
        return _link_of(account) if account else None

    async def all_links(self) -> list[Link]:
        """Every link, oldest first."""
        async with self._sessions() as session:
            accounts = await session.scalars(
                select(LinkedAccount).order_by(LinkedAccount.linked_at)
            )
            return [_link_of(account) for account in accounts]

    async def unlink(
        self, discord_user_id: int, *, by: Actor | None = None, reason: str | None = None
    ) -> Unlinked:
        """Remove the link here in every case, and revoke the token at X when X answers.

        `by` is an admin removing someone else's link: the action is audited.
        """
        async with self._sessions.begin() as session:
            account = await session.get(LinkedAccount, discord_user_id)
            if account is None:
                raise errors.NotLinked()
            await session.delete(account)
            if by is not None:
                audit.record(session, by, Action.UNLINK, target_id=discord_user_id, reason=reason)
        revoked = await self._revoke_quietly(
            _SealedCredentials(
                account.screen_name, account.access_token_sealed, account.access_token_secret_sealed
            )
        )
        return Unlinked(_link_of(account), revoked_at_twitter=revoked)

    async def intent_id_for_request_token(self, request_token: str) -> str | None:
        """The flow a request token belongs to, to offer a retry after X failed."""
        async with self._sessions() as session:
            return await session.scalar(
                select(LinkIntent.id).where(LinkIntent.request_token == request_token)
            )

    async def purge_expired(self) -> int:
        """Delete flows whose time is up; returns how many."""
        async with self._sessions.begin() as session:
            purged = await session.execute(
                delete(LinkIntent)
                .where(LinkIntent.expires_at <= self._clock())
                .returning(LinkIntent.id)
            )
            return len(purged.all())

    async def _store_link(self, intent_id: str, discord_user_id: int) -> Link:
        # The unique X account may be claimed concurrently by another Discord user's flow; the
        # loser's whole transaction rolls back (its intent untouched) and runs again.
        for attempt in range(3):
            try:
                return await self._store_link_once(intent_id, discord_user_id)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _store_link_once(self, intent_id: str, discord_user_id: int) -> Link:
        now = self._clock()
        replaced: _SealedCredentials | None = None
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(LinkIntent)
                .where(LinkIntent.id == intent_id, LinkIntent.status == IntentStatus.AUTHORIZED)
                .values(status=IntentStatus.LINKED)
                .returning(
                    LinkIntent.twitter_user_id,
                    LinkIntent.screen_name,
                    LinkIntent.access_level,
                    LinkIntent.access_token_sealed,
                    LinkIntent.access_token_secret_sealed,
                )
            )
            row = claimed.first()
            if row is None:
                raise errors.IntentFinished("This link is already complete.")
            twitter_user_id, screen_name, access_level, token_sealed, secret_sealed = row
            # One X account per Discord user and one Discord user per X account: the code just
            # proved ownership, so the link moves here from whoever held it.
            # Columns, not entities: a loaded entity would clash with the one added below.
            previous = await session.execute(
                delete(LinkedAccount)
                .where(
                    or_(
                        LinkedAccount.discord_user_id == discord_user_id,
                        LinkedAccount.twitter_user_id == twitter_user_id,
                    )
                )
                .returning(
                    LinkedAccount.screen_name,
                    LinkedAccount.access_token_sealed,
                    LinkedAccount.access_token_secret_sealed,
                    LinkedAccount.twitter_user_id,
                    LinkedAccount.discord_user_id,
                )
            )
            for screen, token, secret, holder_twitter_id, holder in previous:
                if holder == discord_user_id and holder_twitter_id != twitter_user_id:
                    replaced = _SealedCredentials(screen, token, secret)
            account = LinkedAccount(
                discord_user_id=discord_user_id,
                twitter_user_id=twitter_user_id,
                screen_name=screen_name,
                access_token_sealed=token_sealed,
                access_token_secret_sealed=secret_sealed,
                access_level=access_level,
                linked_at=now,
                revoked_at=None,
            )
            session.add(account)
            # RETURNING gives the values after the update, so the copies are dropped only now.
            await session.execute(
                update(LinkIntent)
                .where(LinkIntent.id == intent_id)
                .values(access_token_sealed=None, access_token_secret_sealed=None, code_sealed=None)
            )
        log.info("linked Discord user %s to @%s", discord_user_id, screen_name)
        if replaced is not None:
            await self._revoke_quietly(replaced)
        return _link_of(account)

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

    async def _void(self, intent_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(LinkIntent)
                .where(LinkIntent.id == intent_id, LinkIntent.status == IntentStatus.AUTHORIZED)
                .values(
                    status=IntentStatus.VOID,
                    access_token_sealed=None,
                    access_token_secret_sealed=None,
                    code_sealed=None,
                )
            )

    async def _why_no_attempt(self, discord_user_id: int) -> errors.LinkError:
        async with self._sessions() as session:
            intent = await session.scalar(
                select(LinkIntent).where(LinkIntent.discord_user_id == discord_user_id)
            )
        if intent is None:
            return errors.NoPendingLink()
        if intent.expires_at <= self._clock():
            if intent.status == IntentStatus.AUTHORIZED:
                return errors.CodeExpired()
            return errors.NoPendingLink()
        if intent.status == IntentStatus.LINKED:
            return errors.IntentFinished("This link is already complete.")
        if intent.status == IntentStatus.AUTHORIZED or intent.status == IntentStatus.VOID:
            return errors.TooManyAttempts()
        return errors.NoPendingLink()

    async def _live_intent(self, intent_id: str) -> LinkIntent:
        async with self._sessions() as session:
            intent = await session.get(LinkIntent, intent_id)
        if intent is None or intent.expires_at <= self._clock():
            raise errors.IntentNotFound()
        return intent

    async def _intent_by_request_token(self, request_token: str) -> LinkIntent:
        async with self._sessions() as session:
            intent = await session.scalar(
                select(LinkIntent).where(LinkIntent.request_token == request_token)
            )
        if intent is None:
            raise errors.UnknownRequestToken()
        if intent.expires_at <= self._clock():
            raise errors.IntentNotFound()
        return intent

    def _replayed_callback(self, intent: LinkIntent, verifier: str) -> Authorization:
        """The same browser reloading its callback sees its outcome again; nobody else does."""
        same_browser = intent.verifier_hash is not None and secrets.compare_digest(
            intent.verifier_hash, _digest(verifier)
        )
        if not same_browser or intent.screen_name is None:
            raise self._finished(intent)
        if intent.status == IntentStatus.AUTHORIZED and intent.code_sealed is not None:
            code = self._sealer.open(intent.code_sealed)
            return Authorization(
                intent.id,
                intent.discord_name,
                intent.screen_name,
                code,
                intent.code_expires_at,
                linked=False,
            )
        if intent.status == IntentStatus.LINKED:
            return Authorization(
                intent.id, intent.discord_name, intent.screen_name, None, None, linked=True
            )
        raise self._finished(intent)

    @staticmethod
    def _finished(intent: LinkIntent) -> errors.IntentFinished:
        if intent.status == IntentStatus.LINKED:
            return errors.IntentFinished("This link is already complete.")
        if intent.status == IntentStatus.VOID:
            return errors.IntentFinished("This link was cancelled after too many wrong codes.")
        if intent.status == IntentStatus.AUTHORIZED:
            return errors.IntentFinished(
                "This link was already authorized on X; the code is waiting in Discord."
            )
        return errors.IntentFinished()
