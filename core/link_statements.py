"""The link flow's SQL, built once: a statement built per call costs more CPU than running it.

Named for what they do; `core.links` and `core.link_tables` run them on connections, with the
parameters bound by name.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, delete, insert, or_, select, update

from core.models import Base, IntentStatus, LinkedAccount, LinkIntent


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_INTENTS, _LINKS = _table(LinkIntent), _table(LinkedAccount)
_intent, _link = _INTENTS.c, _LINKS.c
OPEN = (IntentStatus.CREATED, IntentStatus.AUTHORIZING)

# A link round (`core.links`, `core.link_tables`): read the flows its steps name, by id, request
# token or Discord user, with the expired ones when it sweeps; in id order, so that two rounds
# locking some of the same rows cannot deadlock. Then the links its confirms touch. SQLite has
# no FOR UPDATE (and needs none: a round that writes holds its one write lock).
SELECT_INTENTS = (
    select(_INTENTS)
    .where(
        or_(
            _intent.id.in_(bindparam("ids", expanding=True)),
            _intent.request_token.in_(bindparam("tokens", expanding=True)),
            _intent.discord_user_id.in_(bindparam("users", expanding=True)),
            _intent.expires_at <= bindparam("sweep_before"),
        )
    )
    .order_by(_intent.id)
)
LOCK_INTENTS = SELECT_INTENTS.with_for_update()
LOCK_LINKS = (
    select(_LINKS)
    .where(
        or_(
            _link.discord_user_id.in_(bindparam("users", expanding=True)),
            _link.twitter_user_id.in_(bindparam("twitter_users", expanding=True)),
        )
    )
    .order_by(_link.discord_user_id)
    .with_for_update()
)
# Then the changes: SET takes the columns named in each parameter set.
DELETE_INTENTS = delete(_INTENTS).where(_intent.id.in_(bindparam("ids", expanding=True)))
UPDATE_INTENT = update(_INTENTS).where(_intent.id == bindparam("intent_id"))
INSERT_INTENTS = insert(_INTENTS)
DELETE_LINKS = delete(_LINKS).where(_link.discord_user_id.in_(bindparam("users", expanding=True)))
INSERT_LINKS = insert(_LINKS)

# cancel_authorization: back to the landing page's state, the request token forgotten.
MOVE_BACK_TO_CREATED = (
    update(_INTENTS)
    .where(
        _intent.request_token == bindparam("token"),
        _intent.status == IntentStatus.AUTHORIZING,
    )
    .values(status=IntentStatus.CREATED, request_token=None, request_token_secret_sealed=None)
    .returning(_intent.id)
)

# get, all_links, unlink: links as people may see them, and the credentials to revoke.
_LINK_COLUMNS = (
    _link.discord_user_id,
    _link.twitter_user_id,
    _link.screen_name,
    _link.access_level,
    _link.linked_at,
    _link.revoked_at,
)
SELECT_LINK = select(*_LINK_COLUMNS).where(_link.discord_user_id == bindparam("discord_user"))
SELECT_ALL_LINKS = select(*_LINK_COLUMNS).order_by(_link.linked_at)
DELETE_LINK = (
    delete(_LINKS)
    .where(_link.discord_user_id == bindparam("discord_user"))
    .returning(*_LINK_COLUMNS, _link.access_token_sealed, _link.access_token_secret_sealed)
)

# intent_id_for_request_token, purge_expired.
SELECT_INTENT_ID_BY_REQUEST_TOKEN = select(_intent.id).where(
    _intent.request_token == bindparam("token")
)
DELETE_EXPIRED_INTENTS = (
    delete(_INTENTS).where(_intent.expires_at <= bindparam("now")).returning(_intent.id)
)
