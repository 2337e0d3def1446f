"""The link flow's SQL, named for what each statement does; `core.links` runs them in sessions,
with the parameters bound by name. Each hand-off between steps is one atomic statement whose
WHERE says which state it moves the flow from, so a replayed or concurrent step moves nothing.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, delete, insert, or_, select, update

from core.models import Base, IntentStatus, LinkedAccount, LinkIntent, UTCDateTime


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_INTENTS, _LINKS = _table(LinkIntent), _table(LinkedAccount)
_intent, _link = _INTENTS.c, _LINKS.c
# Where the landing page and Continue may (re)start a flow. EXCHANGING too: a process that died
# mid-exchange leaves it there; an exchange still running that ends later finds its request
# token replaced and is refused.
OPEN = (IntentStatus.CREATED, IntentStatus.AUTHORIZING, IntentStatus.EXCHANGING)

# start: the member's earlier flow and everyone's expired ones go, the new flow comes in.
DELETE_OWN_AND_EXPIRED_INTENTS = delete(_INTENTS).where(
    or_(
        _intent.discord_user_id == bindparam("discord_user"),
        _intent.expires_at <= bindparam("now"),
    )
)
INSERT_INTENT = insert(_INTENTS)

# landing, begin_authorization: the flow as the landing page and its form see it.
SELECT_LANDING = select(
    _intent.discord_name, _intent.status, _intent.csrf_token, _intent.expires_at
).where(_intent.id == bindparam("intent_id"))
SELECT_CONTINUE = select(_intent.status, _intent.csrf_token, _intent.expires_at).where(
    _intent.id == bindparam("intent_id")
)
MOVE_TO_AUTHORIZING = (
    update(_INTENTS)
    .where(
        _intent.id == bindparam("intent_id"),
        # Not IN: an IN list is rendered into the SQL again at every execution.
        or_(*(_intent.status == status for status in OPEN)),
        _intent.expires_at > bindparam("now"),
    )
    .values(
        status=IntentStatus.AUTHORIZING,
        request_token=bindparam("new_request_token"),
        request_token_secret_sealed=bindparam("new_secret_sealed"),
    )
    .returning(_intent.id)
)

# cancel_authorization (and a token X grants without write access): back to the landing page's
# state, the request token forgotten.
MOVE_BACK_TO_CREATED = (
    update(_INTENTS)
    .where(
        _intent.request_token == bindparam("token"),
        or_(
            _intent.status == IntentStatus.AUTHORIZING,
            _intent.status == IntentStatus.EXCHANGING,
        ),
    )
    .values(
        status=IntentStatus.CREATED,
        request_token=None,
        request_token_secret_sealed=None,
        verifier_hash=None,
    )
    .returning(_intent.id)
)

# finish_authorization: one callback claims the exchange at X; the others read the flow, with
# what a replayed callback shows. A failed exchange gives the claim back.
_CALLBACK_COLUMNS = (
    _intent.id,
    _intent.discord_name,
    _intent.status,
    _intent.expires_at,
    _intent.request_token_secret_sealed,
    _intent.verifier_hash,
    _intent.screen_name,
    _intent.code_sealed,
    _intent.code_expires_at,
)
CLAIM_EXCHANGE = (
    update(_INTENTS)
    .where(
        _intent.request_token == bindparam("token"),
        _intent.status == IntentStatus.AUTHORIZING,
        _intent.expires_at > bindparam("now"),
    )
    .values(status=IntentStatus.EXCHANGING, verifier_hash=bindparam("new_verifier_hash"))
    .returning(*_CALLBACK_COLUMNS)
)
SELECT_CALLBACK = select(*_CALLBACK_COLUMNS).where(_intent.request_token == bindparam("token"))
RELEASE_EXCHANGE = (
    update(_INTENTS)
    .where(
        _intent.request_token == bindparam("token"),
        _intent.status == IntentStatus.EXCHANGING,
    )
    .values(status=IntentStatus.AUTHORIZING, verifier_hash=None)
)
MOVE_TO_AUTHORIZED = (
    update(_INTENTS)
    .where(
        _intent.request_token == bindparam("token"),
        _intent.status == IntentStatus.EXCHANGING,
    )
    .values(
        status=IntentStatus.AUTHORIZED,
        request_token_secret_sealed=None,
        twitter_user_id=bindparam("new_twitter_user_id"),
        screen_name=bindparam("new_screen_name"),
        access_level=bindparam("new_access_level"),
        access_token_sealed=bindparam("new_token_sealed"),
        access_token_secret_sealed=bindparam("new_secret_sealed"),
        code_sealed=bindparam("new_code_sealed"),
        code_expires_at=bindparam("new_code_expires_at"),
        code_attempts=0,
        expires_at=bindparam("new_code_expires_at"),
    )
    .returning(_intent.id)
)

# confirm: count the attempt, returning all a right code needs; then move the link here.
COUNT_ATTEMPT = (
    update(_INTENTS)
    .where(
        _intent.discord_user_id == bindparam("discord_user"),
        _intent.status == IntentStatus.AUTHORIZED,
        _intent.code_attempts < bindparam("max"),
        _intent.expires_at > bindparam("now"),
    )
    .values(code_attempts=_intent.code_attempts + 1)
    .returning(
        _intent.id,
        _intent.twitter_user_id,
        _intent.screen_name,
        _intent.access_level,
        _intent.access_token_sealed,
        _intent.access_token_secret_sealed,
        _intent.code_sealed,
        _intent.code_expires_at,
        _intent.code_attempts,
    )
)
MOVE_TO_LINKED = (
    update(_INTENTS)
    .where(_intent.id == bindparam("intent_id"), _intent.status == IntentStatus.AUTHORIZED)
    .values(
        status=IntentStatus.LINKED,
        access_token_sealed=None,
        access_token_secret_sealed=None,
        code_sealed=None,
    )
)
MOVE_TO_VOID = (
    update(_INTENTS)
    .where(_intent.id == bindparam("intent_id"), _intent.status == IntentStatus.AUTHORIZED)
    .values(
        status=IntentStatus.VOID,
        access_token_sealed=None,
        access_token_secret_sealed=None,
        code_sealed=None,
    )
)
DELETE_HOLDERS = (
    delete(_LINKS)
    .where(
        or_(
            _link.discord_user_id == bindparam("discord_user"),
            _link.twitter_user_id == bindparam("twitter_user"),
        )
    )
    .returning(
        _link.screen_name,
        _link.access_token_sealed,
        _link.access_token_secret_sealed,
        _link.twitter_user_id,
        _link.discord_user_id,
    )
)
SELECT_WHY_NO_ATTEMPT = select(_intent.status, _intent.expires_at).where(
    _intent.discord_user_id == bindparam("discord_user")
)

# get, all_links, unlink: links as people may see them, and the credentials to revoke.
LINK_COLUMNS = (
    _link.discord_user_id,
    _link.twitter_user_id,
    _link.screen_name,
    _link.access_level,
    _link.linked_at,
    _link.revoked_at,
)
# A right code stores the link the flow proved, then the flow forgets its credentials.
INSERT_LINK_FROM_INTENT = (
    insert(_LINKS)
    .from_select(
        [
            _link.discord_user_id,
            _link.twitter_user_id,
            _link.screen_name,
            _link.access_level,
            _link.access_token_sealed,
            _link.access_token_secret_sealed,
            _link.linked_at,
        ],
        select(
            _intent.discord_user_id,
            _intent.twitter_user_id,
            _intent.screen_name,
            _intent.access_level,
            _intent.access_token_sealed,
            _intent.access_token_secret_sealed,
            bindparam("now", type_=UTCDateTime()),
        ).where(_intent.id == bindparam("intent_id")),
    )
    .returning(*LINK_COLUMNS)
)
SELECT_LINK = select(*LINK_COLUMNS).where(_link.discord_user_id == bindparam("discord_user"))
SELECT_ALL_LINKS = select(*LINK_COLUMNS).order_by(_link.linked_at)
DELETE_LINK = (
    delete(_LINKS)
    .where(_link.discord_user_id == bindparam("discord_user"))
    .returning(*LINK_COLUMNS, _link.access_token_sealed, _link.access_token_secret_sealed)
)

# intent_id_for_request_token, purge_expired.
SELECT_INTENT_ID_BY_REQUEST_TOKEN = select(_intent.id).where(
    _intent.request_token == bindparam("token")
)
DELETE_EXPIRED_INTENTS = (
    delete(_INTENTS).where(_intent.expires_at <= bindparam("now")).returning(_intent.id)
)
