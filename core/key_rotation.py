"""Re-sealing every sealed value under the first key, in batches, beside a live bot.

Each batch is one short transaction. A value is replaced only if it is still the one read
(compare-and-set), so a row the bot changed meanwhile keeps the bot's newer value. Running it
again, or after an interruption, re-seals what is there: it is always safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute

from core.db import SessionFactory
from core.models import Base, LinkedAccount, LinkIntent, RoleConnection
from core.sealing import Sealer, SealingError

# Every sealed column there is, by table, with the table's key.
SEALED: dict[type[Base], tuple[InstrumentedAttribute[str | None], ...]] = {
    LinkedAccount: (
        LinkedAccount.access_token_sealed,
        LinkedAccount.access_token_secret_sealed,
    ),
    LinkIntent: (
        LinkIntent.request_token_secret_sealed,
        LinkIntent.access_token_sealed,
        LinkIntent.access_token_secret_sealed,
        LinkIntent.code_sealed,
    ),
    RoleConnection: (
        RoleConnection.access_token_sealed,
        RoleConnection.refresh_token_sealed,
    ),
}
_KEYS: dict[type[Base], InstrumentedAttribute[object]] = {
    LinkedAccount: LinkedAccount.discord_user_id,
    LinkIntent: LinkIntent.id,
    RoleConnection: RoleConnection.discord_user_id,
}


@dataclass
class Resealed:
    """What one table's rotation did."""

    table: str
    rows: int = 0  # rows whose values now open with the first key
    unopenable: int = 0  # rows holding a value no configured key opens (left as they are)


async def reseal_everything(
    sessions: SessionFactory, sealer: Sealer, *, batch_size: int = 200
) -> list[Resealed]:
    """Re-seal every sealed value under the sealer's first key; counts per table."""
    return [
        await _reseal_table(sessions, sealer, model, columns, batch_size)
        for model, columns in SEALED.items()
    ]


async def _reseal_table(
    sessions: SessionFactory,
    sealer: Sealer,
    model: type[Base],
    columns: tuple[InstrumentedAttribute[str | None], ...],
    batch_size: int,
) -> Resealed:
    key, done = _KEYS[model], Resealed(model.__tablename__)
    after: object = None
    while True:
        async with sessions.begin() as session:
            batch = select(key, *columns).order_by(key).limit(batch_size)
            if after is not None:
                batch = batch.where(key > after)
            rows = (await session.execute(batch)).all()
            for row in rows:
                values = dict(zip(columns, row[1:], strict=True))
                try:
                    changes = {c.key: sealer.reseal(v) for c, v in values.items() if v is not None}
                except SealingError:
                    done.unopenable += 1
                    continue
                if not changes:
                    continue
                unchanged: list[ColumnElement[bool]] = [
                    column.is_(None) if value is None else column == value
                    for column, value in values.items()
                ]
                moved = await session.execute(
                    update(model).where(key == row[0], *unchanged).values(changes).returning(key)
                )
                done.rows += moved.first() is not None
        if len(rows) < batch_size:
            return done
        after = rows[-1][0]
