"""Linking a Discord user to an X account: start, authorize on X, confirm with a code, unlink.

Each step is one short transaction. Every hand-off between steps goes through the database with
an atomic `UPDATE … RETURNING` / `DELETE … RETURNING` (`core.link_statements`), so any web worker
or bot process can carry on any flow, and a replayed or concurrent step finds the row already
moved on. Where another process may insert the same member's flow or the same X account's link
meanwhile, the unique key refuses the second and the step runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Executable, Row
from sqlalchemy.exc import IntegrityError

from core import audit, errors, metrics
from core import link_statements as sql
from core.audit import Action, Actor
from core.clock import Clock, utcnow
from core.db import SessionFactory
from core.link_values import Authorization, Landing, Link, StartedLink, Unlinked
from core.models import IntentStatus
from core.sealing import Sealer
from core.twitter import TokenPair, TwitterClient

log = logging.getLogger(__name__)

CODE_DIGITS = 6
ATTEMPTS = 3  # of a step that meets a row another process inserted meanwhile
# How often a callback that finds another one exchanging its verifier at X looks again.
EXCHANGE_POLL_SECONDS = 0.05

T = TypeVar("T")


@dataclass(frozen=True)
class _SealedCredentials:
    screen_name: str
    token_sealed: str = field(repr=False)
    secret_sealed: str = field(repr=False)


def _link_of(row: Sequence[Any]) -> Link:
    """The link a row of `sql.LINK_COLUMNS` (and perhaps more) describes."""
    return Link(*row[: len(sql.LINK_COLUMNS)])


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
        exchange_wait: timedelta = timedelta(seconds=15),
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._twitter = twitter
        self._callback_url = callback_url
        self._intent_ttl = intent_ttl
        self._code_ttl = code_ttl
        self._code_attempts = code_attempts
        self._exchange_wait = exchange_wait
        self._clock = clock

    @metrics.counted_step("start")
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

        async def replace_earlier_flow() -> None:
            async with self._sessions.begin() as session:
                await session.execute(
                    sql.DELETE_OWN_AND_EXPIRED_INTENTS,
                    {"discord_user": discord_user_id, "now": now},
                )
                await session.execute(sql.INSERT_INTENT, intent)

        await _again_if_raced(replace_earlier_flow)
        return StartedLink(intent_id, expires_at)

    @metrics.counted_step("landing")
    async def landing(self, intent_id: str) -> Landing:
        """The landing page's facts; reading them changes nothing."""
        row = await self._open_intent(sql.SELECT_LANDING, intent_id)
        return Landing(intent_id, row.discord_name, row.csrf_token)

    @metrics.counted_step("begin_authorization")
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
        async with self._sessions.begin() as session:
            moved = (await session.execute(sql.MOVE_TO_AUTHORIZING, values)).first()
        if moved is None:
            raise errors.IntentFinished()
        return self._twitter.authorize_url(request.token)

    async def cancel_authorization(self, request_token: str) -> str:
        """The member pressed Cancel on X: forget the request token, keep the flow open."""
        async with self._sessions.begin() as session:
            reset = await session.execute(sql.MOVE_BACK_TO_CREATED, {"token": request_token})
            intent_id: str | None = reset.scalar_one_or_none()
        if intent_id is None:
            raise errors.UnknownRequestToken()
        return intent_id

    @metrics.counted_step("finish_authorization")
    async def finish_authorization(self, request_token: str, verifier: str) -> Authorization:
        """X sent the browser back: exchange the verifier and issue the confirmation code.

        One callback claims the exchange, so X sees the verifier once however many tabs load
        the callback. Reloading the same callback URL shows the same outcome; any other replay
        is refused.
        """
        verifier_hash = _digest(verifier)
        intent, claimed = await self._claim_exchange(request_token, verifier_hash)
        if not claimed:
            return self._replayed_callback(intent, verifier)
        try:
            sealed_secret = intent.request_token_secret_sealed
            assert sealed_secret is not None
            request = TokenPair(request_token, self._sealer.open(sealed_secret))
            grant = await self._twitter.access_token(request, verifier)
        except errors.TwitterAuthRevoked:
            # X refused this verifier (a guessed one, or one spent already): nothing to show.
            await self._release_exchange(request_token)
            raise errors.IntentFinished() from None
        except BaseException:  # X failed or we were cancelled: the member may try again
            await self._release_exchange(request_token)
            raise
        if not grant.can_write:
            await self.cancel_authorization(request_token)
            raise errors.TwitterNoWriteAccess()

        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        code_expires_at = self._clock() + self._code_ttl
        values = {
            "token": request_token,
            "new_twitter_user_id": grant.user_id,
            "new_screen_name": grant.screen_name,
            "new_access_level": grant.access_level,
            "new_token_sealed": self._sealer.seal(grant.credentials.token),
            "new_secret_sealed": self._sealer.seal(grant.credentials.secret),
            "new_code_sealed": self._sealer.seal(code),
            "new_code_expires_at": code_expires_at,
        }
        async with self._sessions.begin() as session:
            moved = (await session.execute(sql.MOVE_TO_AUTHORIZED, values)).first()
        if moved is None:  # a new /link-twitter replaced the flow meanwhile
            raise errors.IntentFinished()
        log.info("link flow authorized on X as @%s", grant.screen_name)
        return Authorization(
            intent.id, intent.discord_name, grant.screen_name, code, code_expires_at, linked=False
        )

    @metrics.counted_step("confirm")
    async def confirm(self, discord_user_id: int, typed_code: str) -> Link:
        """Finish this Discord user's flow with the code from the page, and store the link."""
        code = typed_code.strip().replace(" ", "")
        if len(code) != CODE_DIGITS or not code.isdigit():
            raise errors.MalformedCode()
        outcome = await _again_if_raced(lambda: self._try_code(discord_user_id, code))
        if outcome is None:
            raise await self._why_no_attempt(discord_user_id)
        if isinstance(outcome, errors.LinkError):
            raise outcome
        link, replaced = outcome
        log.info("linked Discord user %s to @%s", discord_user_id, link.screen_name)
        if replaced is not None:
            await self._revoke_quietly(replaced)
        return link

    async def get(self, discord_user_id: int) -> Link | None:
        """This Discord user's link, if any."""
        async with self._sessions() as session:
            link_of_user = {"discord_user": discord_user_id}
            row = (await session.execute(sql.SELECT_LINK, link_of_user)).first()
        return _link_of(row) if row else None

    async def all_links(self) -> list[Link]:
        """Every link, oldest first."""
        async with self._sessions() as session:
            rows = (await session.execute(sql.SELECT_ALL_LINKS)).all()
        return [_link_of(row) for row in rows]

    @metrics.counted_step("unlink")
    async def unlink(
        self, discord_user_id: int, *, by: Actor | None = None, reason: str | None = None
    ) -> Unlinked:
        """Remove the link here in every case, and revoke the token at X when X answers.

        `by` is an admin removing someone else's link: the action is audited.
        """
        async with self._sessions.begin() as session:
            link_of_user = {"discord_user": discord_user_id}
            row = (await session.execute(sql.DELETE_LINK, link_of_user)).first()
            if row is None:
                raise errors.NotLinked()
            if by is not None:
                at = self._clock()
                audit.record(
                    session, by, Action.UNLINK, target_id=discord_user_id, reason=reason, at=at
                )
        link = _link_of(row)
        sealed = _SealedCredentials(
            link.screen_name, row.access_token_sealed, row.access_token_secret_sealed
        )
        return Unlinked(link, revoked_at_twitter=await self._revoke_quietly(sealed))

    async def intent_id_for_request_token(self, request_token: str) -> str | None:
        """The flow a request token belongs to, to offer a retry after X failed."""
        async with self._sessions() as session:
            token = {"token": request_token}
            intent_id: str | None = await session.scalar(
                sql.SELECT_INTENT_ID_BY_REQUEST_TOKEN, token
            )
        return intent_id

    async def purge_expired(self) -> int:
        """Delete flows whose time is up; returns how many."""
        async with self._sessions.begin() as session:
            purged = await session.execute(sql.DELETE_EXPIRED_INTENTS, {"now": self._clock()})
            return len(purged.all())

    async def _claim_exchange(
        self, request_token: str, verifier_hash: str
    ) -> tuple[Row[Any], bool]:
        """The callback's flow, and whether this callback won the exchange at X.

        A callback that finds another one exchanging waits for its outcome: the same browser
        reloading then sees the code that one got.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._exchange_wait.total_seconds()
        parameters = {
            "token": request_token,
            "now": self._clock(),
            "new_verifier_hash": verifier_hash,
        }
        while True:
            async with self._sessions.begin() as session:
                row = (await session.execute(sql.CLAIM_EXCHANGE, parameters)).first()
                claimed = row is not None
                if row is None:
                    row = (await session.execute(sql.SELECT_CALLBACK, parameters)).first()
            if row is None:
                raise errors.UnknownRequestToken()
            if row.expires_at <= self._clock():
                raise errors.IntentNotFound()
            if row.status != IntentStatus.EXCHANGING or claimed:
                return row, claimed
            if loop.time() > deadline:
                raise errors.IntentFinished(
                    "This link is still being finished on X; reload this page in a moment. If "
                    "this lasts, open the link from Discord again and press Continue."
                )
            await asyncio.sleep(EXCHANGE_POLL_SECONDS)

    async def _release_exchange(self, request_token: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(sql.RELEASE_EXCHANGE, {"token": request_token})

    async def _try_code(
        self, discord_user_id: int, code: str
    ) -> tuple[Link, _SealedCredentials | None] | errors.LinkError | None:
        """One transaction: count the attempt and, if the code is right, move the link here.

        Returns the stored link with the credentials of the other account it replaced; or the
        error a counted attempt earns, the count committed; or None when no flow could take an
        attempt (the caller finds out why, in a session of its own).
        """
        now = self._clock()
        async with self._sessions.begin() as session:
            attempt = {"discord_user": discord_user_id, "max": self._code_attempts, "now": now}
            counted = (await session.execute(sql.COUNT_ATTEMPT, attempt)).first()
            if counted is None:
                return None
            if counted.code_expires_at is None or counted.code_expires_at <= now:
                return errors.CodeExpired()
            if counted.code_sealed is None or not secrets.compare_digest(
                self._sealer.open(counted.code_sealed), code
            ):
                attempts_left = self._code_attempts - counted.code_attempts
                if attempts_left > 0:
                    return errors.WrongCode(attempts_left)
                await session.execute(sql.MOVE_TO_VOID, {"intent_id": counted.id})
                return errors.TooManyAttempts()

            # One X account per Discord user and one Discord user per X account: the code just
            # proved ownership, so the link moves here from whoever held it.
            holders = (
                await session.execute(
                    sql.DELETE_HOLDERS,
                    {"discord_user": discord_user_id, "twitter_user": counted.twitter_user_id},
                )
            ).all()
            moved_from = next(
                (h.discord_user_id for h in holders if h.discord_user_id != discord_user_id), None
            )
            if moved_from is not None:  # said aloud: the audit log keeps who lost the account
                reason = f"@{counted.screen_name} moved to Discord user {discord_user_id}"
                audit.record(
                    session,
                    Actor(discord_user_id),
                    Action.MOVE,
                    target_id=moved_from,
                    reason=reason,
                    at=now,
                )
            replaced = [
                _SealedCredentials(
                    holder.screen_name,
                    holder.access_token_sealed,
                    holder.access_token_secret_sealed,
                )
                for holder in holders
                if holder.discord_user_id == discord_user_id
                and holder.twitter_user_id != counted.twitter_user_id
            ]
            linking = {"intent_id": counted.id, "now": now}
            stored = (await session.execute(sql.INSERT_LINK_FROM_INTENT, linking)).one()
            await session.execute(sql.MOVE_TO_LINKED, linking)
        link = replace(_link_of(stored), moved_from=moved_from)
        return link, replaced[0] if replaced else None

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
        async with self._sessions() as session:
            row = (await session.execute(statement, {"intent_id": intent_id})).first()
        if row is None or row.expires_at <= self._clock():
            raise errors.IntentNotFound()
        if row.status not in sql.OPEN:
            raise errors.IntentFinished.because(row.status)
        return row

    async def _why_no_attempt(self, discord_user_id: int) -> errors.LinkError:
        async with self._sessions() as session:
            flow = {"discord_user": discord_user_id}
            row = (await session.execute(sql.SELECT_WHY_NO_ATTEMPT, flow)).first()
        status = None if row is None else row.status
        if row is not None and row.expires_at <= self._clock():
            return (
                errors.CodeExpired()
                if status == IntentStatus.AUTHORIZED
                else errors.NoPendingLink()
            )
        if status == IntentStatus.LINKED:
            return errors.IntentFinished.because(status)
        if status in (IntentStatus.AUTHORIZED, IntentStatus.VOID):
            return errors.TooManyAttempts()
        return errors.NoPendingLink()

    def _replayed_callback(self, intent: Row[Any], verifier: str) -> Authorization:
        """The same browser reloading its callback sees its outcome again; nobody else does."""
        same_browser = intent.verifier_hash is not None and secrets.compare_digest(
            intent.verifier_hash, _digest(verifier)
        )
        if not same_browser or intent.screen_name is None:
            raise errors.IntentFinished.because(intent.status)
        if intent.status == IntentStatus.AUTHORIZED and intent.code_sealed is not None:
            code, expires_at = self._sealer.open(intent.code_sealed), intent.code_expires_at
            return Authorization(
                intent.id, intent.discord_name, intent.screen_name, code, expires_at, False
            )
        if intent.status == IntentStatus.LINKED:
            return Authorization(
                intent.id, intent.discord_name, intent.screen_name, None, None, True
            )
        raise errors.IntentFinished.because(intent.status)


async def _again_if_raced(step: Callable[[], Awaitable[T]]) -> T:
    """Run a one-transaction step, again if another process inserted a row it meant to: its
    whole transaction rolled back, so running it again sees the winner's row."""
    for _ in range(ATTEMPTS - 1):
        with contextlib.suppress(IntegrityError):
            return await step()
    return await step()
