"""Linking a Discord user to an X account: start, authorize on X, confirm with a code, unlink.

Every hand-off between steps goes through the database, so any web worker or bot process can
carry on any flow, and a replayed or concurrent step finds the flow already moved on.

The steps of the flows in progress at one moment share one transaction, a round
(`core.batching`): it reads and locks the flows they name (`core.link_tables`), runs each step on
that copy in the order they came, as if one after the other, and writes the changes back in a few
statements. Per step, a transaction of its own cost more CPU than the flow's calls to X.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import audit, errors, link_tables
from core import link_statements as sql
from core.audit import Action, Actor
from core.batching import Batcher
from core.db import SessionFactory, engine_of, for_single_statements
from core.link_tables import IntentRow, LinkRow, Tables
from core.models import IntentStatus, utcnow
from core.sealing import Sealer
from core.twitter import TokenPair, TwitterClient

log = logging.getLogger(__name__)

CODE_DIGITS = 6
# A round whose INSERT met a flow or a link another process stored meanwhile reads again.
ROUND_ATTEMPTS = 3
_NO_SWEEP = datetime(1970, 1, 1, tzinfo=UTC)


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
class _Linked:
    """A confirm that stored its link, and the credentials of the account it replaced."""

    link: Link
    replaced: _SealedCredentials | None


# The steps a round runs. `writes`: whether the step may change anything, so that a round of
# reads only takes no locks.


@dataclass(frozen=True)
class _Start:
    """/link-twitter: this flow replaces the member's earlier one; expired flows are swept."""

    intent: IntentRow
    writes: ClassVar[bool] = True


@dataclass(frozen=True)
class _Open:
    """The landing page (no CSRF token) or its Continue button (the form's token)."""

    intent_id: str
    csrf_token: str | None = field(default=None, repr=False)
    writes: ClassVar[bool] = False


@dataclass(frozen=True)
class _Authorizing:
    """X gave a request token for the flow: keep it, the browser is on its way to X."""

    intent_id: str
    request_token: str = field(repr=False)
    secret_sealed: str = field(repr=False)
    writes: ClassVar[bool] = True


@dataclass(frozen=True)
class _FindCallback:
    """The flow X's callback belongs to."""

    request_token: str = field(repr=False)
    writes: ClassVar[bool] = False


@dataclass(frozen=True)
class _Authorized:
    """X traded the verifier for an access token: keep it, with the code the page shows."""

    intent_id: str
    request_token: str = field(repr=False)
    verifier_hash: str = field(repr=False)
    twitter_user_id: str
    screen_name: str
    access_level: str
    token_sealed: str = field(repr=False)
    secret_sealed: str = field(repr=False)
    code_sealed: str = field(repr=False)
    code_expires_at: datetime
    writes: ClassVar[bool] = True


@dataclass(frozen=True)
class _Confirm:
    """The member typed the code in Discord."""

    discord_user_id: int
    code: str = field(repr=False)
    writes: ClassVar[bool] = True


_Step = _Start | _Open | _Authorizing | _FindCallback | _Authorized | _Confirm
_Answer = StartedLink | Landing | IntentRow | _Linked | None


def _link_of(row: Any) -> Link:
    return Link(
        discord_user_id=row.discord_user_id,
        twitter_user_id=row.twitter_user_id,
        screen_name=row.screen_name,
        access_level=row.access_level,
        linked_at=row.linked_at,
        revoked_at=row.revoked_at,
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
        self._dialect = self._engine.dialect.name
        self._sealer = sealer
        self._twitter = twitter
        self._callback_url = callback_url
        self._intent_ttl = intent_ttl
        self._code_ttl = code_ttl
        self._code_attempts = code_attempts
        self._clock = clock
        self._rounds = Batcher[_Step, _Answer](self._run_round)

    async def start(self, discord_user_id: int, discord_name: str) -> StartedLink:
        """Open a flow for this Discord user, replacing any earlier one of theirs."""
        now = self._clock()
        intent = IntentRow(
            id=secrets.token_urlsafe(32),
            discord_user_id=discord_user_id,
            discord_name=discord_name[:100],
            status=IntentStatus.CREATED,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self._intent_ttl,
        )
        started = await self._rounds.submit(_Start(intent))
        assert isinstance(started, StartedLink)
        return started

    async def landing(self, intent_id: str) -> Landing:
        """The landing page's facts; reading them changes nothing."""
        landing = await self._rounds.submit(_Open(intent_id))
        assert isinstance(landing, Landing)
        return landing

    async def begin_authorization(self, intent_id: str, csrf_token: str) -> str:
        """Get a request token for the flow and return the X URL to send the browser to."""
        await self._rounds.submit(_Open(intent_id, csrf_token))
        request = await self._twitter.request_token(self._callback_url)
        sealed = self._sealer.seal(request.secret)
        await self._rounds.submit(_Authorizing(intent_id, request.token, sealed))
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
        intent = await self._find_callback(request_token)
        if intent.status != IntentStatus.AUTHORIZING:
            return self._replayed_callback(intent, verifier)
        assert intent.request_token_secret_sealed is not None
        request = TokenPair(request_token, self._sealer.open(intent.request_token_secret_sealed))
        try:
            grant = await self._twitter.access_token(request, verifier)
        except errors.TwitterAuthRevoked:
            # A concurrent callback may have spent this verifier a moment ago.
            return self._replayed_callback(await self._find_callback(request_token), verifier)
        if not grant.can_write:
            await self.cancel_authorization(request_token)
            raise errors.TwitterNoWriteAccess()

        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        code_expires_at = self._clock() + self._code_ttl
        step = _Authorized(
            intent_id=intent.id,
            request_token=request_token,
            verifier_hash=_digest(verifier),
            twitter_user_id=grant.user_id,
            screen_name=grant.screen_name,
            access_level=grant.access_level,
            token_sealed=self._sealer.seal(grant.credentials.token),
            secret_sealed=self._sealer.seal(grant.credentials.secret),
            code_sealed=self._sealer.seal(code),
            code_expires_at=code_expires_at,
        )
        moved_on = await self._rounds.submit(step)
        if isinstance(moved_on, IntentRow):  # a concurrent callback came first
            return self._replayed_callback(moved_on, verifier)
        log.info("link flow authorized on X as @%s", grant.screen_name)
        return Authorization(
            intent.id, intent.discord_name, grant.screen_name, code, code_expires_at, linked=False
        )

    async def confirm(self, discord_user_id: int, typed_code: str) -> Link:
        """Finish this Discord user's flow with the code from the page, and store the link."""
        code = typed_code.strip().replace(" ", "")
        if len(code) != CODE_DIGITS or not code.isdigit():
            raise errors.MalformedCode()
        linked = await self._rounds.submit(_Confirm(discord_user_id, code))
        assert isinstance(linked, _Linked)
        log.info("linked Discord user %s to @%s", discord_user_id, linked.link.screen_name)
        if linked.replaced is not None:
            await self._revoke_quietly(linked.replaced)
        return linked.link

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

    async def _run_round(self, steps: Sequence[_Step]) -> list[_Answer | Exception]:
        """One transaction for the steps waiting: read and lock, run each in turn, write back."""
        for attempt in range(1, ROUND_ATTEMPTS + 1):
            try:
                if any(step.writes for step in steps):
                    return await self._write_round(steps)
                return await self._read_round(steps)
            except IntegrityError:
                # Another process stored the same member's flow or the same X account's link
                # after this round read: read again, and see it.
                if attempt == ROUND_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _write_round(self, steps: Sequence[_Step]) -> list[_Answer | Exception]:
        async with self._engine.begin() as connection:
            if self._dialect == "sqlite":
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            now = self._clock()
            sweeps = any(isinstance(step, _Start) for step in steps)
            tables = await _read(connection, steps, sweep_before=now if sweeps else _NO_SWEEP)
            confirms = [step.discord_user_id for step in steps if isinstance(step, _Confirm)]
            if confirms:
                # A confirm moves the link of its X account here, from whoever holds it.
                accounts = [step.twitter_user_id for step in steps if isinstance(step, _Authorized)]
                for discord_user_id in confirms:
                    intent = tables.intent_of_user(discord_user_id)
                    if intent is not None and intent.twitter_user_id is not None:
                        accounts.append(intent.twitter_user_id)
                await link_tables.read_links(
                    connection, tables, discord_users=confirms, twitter_users=accounts
                )
            answers = [self._run_step(step, tables, now) for step in steps]
            await tables.save(connection)
        return answers

    async def _read_round(self, steps: Sequence[_Step]) -> list[_Answer | Exception]:
        async with self._single_statements.connect() as connection:
            tables = await _read(connection, steps, sweep_before=_NO_SWEEP, lock=False)
        now = self._clock()
        return [self._run_step(step, tables, now) for step in steps]

    def _run_step(self, step: _Step, tables: Tables, now: datetime) -> _Answer | Exception:
        """The step's answer, or its failure: the step's caller's alone, the round goes on.

        A refusal is raised before any change, or returned after the changes it keeps (a counted
        attempt).
        """
        try:
            if isinstance(step, _Start):
                return _start(step, tables, now)
            if isinstance(step, _Open):
                return _open(step, tables, now)
            if isinstance(step, _Authorizing):
                _authorizing(step, tables, now)
                return None
            if isinstance(step, _FindCallback):
                return _find_callback(step.request_token, tables, now)
            if isinstance(step, _Authorized):
                return _authorized(step, tables, now)
            return self._confirm(step, tables, now)
        except Exception as failed:
            return failed

    def _confirm(self, step: _Confirm, tables: Tables, now: datetime) -> _Linked | errors.LinkError:
        """Count the attempt and, if the code is right, move the link here."""
        intent = tables.intent_of_user(step.discord_user_id)
        if (
            intent is None
            or intent.status != IntentStatus.AUTHORIZED
            or intent.code_attempts >= self._code_attempts
            or intent.expires_at <= now
        ):
            raise _why_no_attempt(intent, now)
        attempts = intent.code_attempts + 1
        tables.put_intent(replace(intent, code_attempts=attempts))
        if intent.code_expires_at is None or intent.code_expires_at <= now:
            return errors.CodeExpired()
        if intent.code_sealed is None or not secrets.compare_digest(
            self._sealer.open(intent.code_sealed), step.code
        ):
            if attempts < self._code_attempts:
                return errors.WrongCode(self._code_attempts - attempts)
            tables.put_intent(_emptied(intent, IntentStatus.VOID, attempts))
            return errors.TooManyAttempts()

        tables.put_intent(_emptied(intent, IntentStatus.LINKED, attempts))
        link = _proven_link(intent, now)
        # One X account per Discord user and one Discord user per X account: the code just
        # proved ownership, so the link moves here from whoever held it.
        replaced: _SealedCredentials | None = None
        own = tables.link_of_user(step.discord_user_id)
        if own is not None:
            tables.delete_link(own)
            if own.twitter_user_id != link.twitter_user_id:
                replaced = _SealedCredentials(
                    own.screen_name, own.access_token_sealed, own.access_token_secret_sealed
                )
        holder = tables.link_of_account(link.twitter_user_id)
        if holder is not None:
            tables.delete_link(holder)
        tables.put_link(link)
        return _Linked(_link_of(link), replaced)

    async def _find_callback(self, request_token: str) -> IntentRow:
        intent = await self._rounds.submit(_FindCallback(request_token))
        assert isinstance(intent, IntentRow)
        return intent

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

    def _replayed_callback(self, intent: IntentRow, verifier: str) -> Authorization:
        """The same browser reloading its callback sees its outcome again; nobody else does."""
        same_browser = intent.verifier_hash is not None and secrets.compare_digest(
            intent.verifier_hash, _digest(verifier)
        )
        if not same_browser or intent.screen_name is None:
            raise _finished(intent.status)
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
        raise _finished(intent.status)


async def _read(
    connection: AsyncConnection,
    steps: Sequence[_Step],
    *,
    sweep_before: datetime,
    lock: bool = True,
) -> Tables:
    """The flows the steps name, by id, request token or Discord user."""
    intent_ids: list[str] = []
    request_tokens: list[str] = []
    discord_users: list[int] = []
    for step in steps:
        if isinstance(step, _Open | _Authorizing | _Authorized):
            intent_ids.append(step.intent_id)
        if isinstance(step, _FindCallback | _Authorized):
            request_tokens.append(step.request_token)
        if isinstance(step, _Start):
            discord_users.append(step.intent.discord_user_id)
        elif isinstance(step, _Confirm):
            discord_users.append(step.discord_user_id)
    return await link_tables.read(
        connection,
        intent_ids=intent_ids,
        request_tokens=request_tokens,
        discord_users=discord_users,
        sweep_before=sweep_before,
        lock=lock,
    )


def _start(step: _Start, tables: Tables, now: datetime) -> StartedLink:
    for expired in tables.expired_intents(now):
        tables.delete_intent(expired)
    earlier = tables.intent_of_user(step.intent.discord_user_id)
    if earlier is not None:
        tables.delete_intent(earlier)
    tables.put_intent(step.intent)
    return StartedLink(step.intent.id, step.intent.expires_at)


def _open(step: _Open, tables: Tables, now: datetime) -> Landing:
    """A live flow nobody has authorized yet (and the form's token matches); else why not."""
    intent = tables.intent(step.intent_id)
    if intent is None or intent.expires_at <= now:
        raise errors.IntentNotFound()
    if intent.status not in sql.OPEN:
        raise _finished(intent.status)
    if step.csrf_token is not None and not secrets.compare_digest(
        intent.csrf_token, step.csrf_token
    ):
        raise errors.FormExpired()
    return Landing(intent.id, intent.discord_name, intent.csrf_token)


def _authorizing(step: _Authorizing, tables: Tables, now: datetime) -> None:
    intent = tables.intent(step.intent_id)
    if intent is None or intent.status not in sql.OPEN or intent.expires_at <= now:
        raise errors.IntentFinished()
    tables.put_intent(
        replace(
            intent,
            status=IntentStatus.AUTHORIZING,
            request_token=step.request_token,
            request_token_secret_sealed=step.secret_sealed,
        )
    )


def _find_callback(request_token: str, tables: Tables, now: datetime) -> IntentRow:
    intent = tables.intent_by_token(request_token)
    if intent is None:
        raise errors.UnknownRequestToken()
    if intent.expires_at <= now:
        raise errors.IntentNotFound()
    return intent


def _authorized(step: _Authorized, tables: Tables, now: datetime) -> IntentRow | None:
    """None when this callback moved the flow on; else the flow as a concurrent one left it."""
    intent = tables.intent(step.intent_id)
    if (
        intent is None
        or intent.status != IntentStatus.AUTHORIZING
        or intent.request_token != step.request_token
    ):
        return _find_callback(step.request_token, tables, now)
    tables.put_intent(
        replace(
            intent,
            status=IntentStatus.AUTHORIZED,
            request_token_secret_sealed=None,
            verifier_hash=step.verifier_hash,
            twitter_user_id=step.twitter_user_id,
            screen_name=step.screen_name,
            access_level=step.access_level,
            access_token_sealed=step.token_sealed,
            access_token_secret_sealed=step.secret_sealed,
            code_sealed=step.code_sealed,
            code_expires_at=step.code_expires_at,
            code_attempts=0,
            expires_at=step.code_expires_at,
        )
    )
    return None


def _proven_link(intent: IntentRow, now: datetime) -> LinkRow:
    """The link an authorized flow's right code stores."""
    assert intent.twitter_user_id is not None
    assert intent.screen_name is not None
    assert intent.access_level is not None
    assert intent.access_token_sealed is not None
    assert intent.access_token_secret_sealed is not None
    return LinkRow(
        discord_user_id=intent.discord_user_id,
        twitter_user_id=intent.twitter_user_id,
        screen_name=intent.screen_name,
        access_token_sealed=intent.access_token_sealed,
        access_token_secret_sealed=intent.access_token_secret_sealed,
        access_level=intent.access_level,
        linked_at=now,
        revoked_at=None,
    )


def _emptied(intent: IntentRow, status: IntentStatus, attempts: int) -> IntentRow:
    """A finished flow keeps no credentials and no code."""
    return replace(
        intent,
        status=status,
        code_attempts=attempts,
        access_token_sealed=None,
        access_token_secret_sealed=None,
        code_sealed=None,
    )


def _why_no_attempt(intent: IntentRow | None, now: datetime) -> errors.LinkError:
    if intent is None:
        return errors.NoPendingLink()
    status = intent.status
    if intent.expires_at <= now:
        if status == IntentStatus.AUTHORIZED:
            return errors.CodeExpired()
        return errors.NoPendingLink()
    if status == IntentStatus.LINKED:
        return errors.IntentFinished("This link is already complete.")
    if status == IntentStatus.AUTHORIZED or status == IntentStatus.VOID:
        return errors.TooManyAttempts()
    return errors.NoPendingLink()


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
