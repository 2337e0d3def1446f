"""The sweep: expired link flows and previews deleted on a timer, by the bot's processes.

Each sweep is two plain `DELETE … WHERE expires_at <= now` statements, so any number of
processes may sweep at once: what one deletes, the others find gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from tweetlink.services import Services

log = logging.getLogger(__name__)


async def sweep_until(services: Services, stop: asyncio.Event) -> None:
    """Sweep now and then every HOUSEKEEPING_INTERVAL_SECONDS until `stop` is set."""
    interval = services.settings.housekeeping_interval_seconds
    while not stop.is_set():
        try:
            flows = await services.links.purge_expired()
            drafts = await services.tweets.purge_expired_drafts()
        except (SQLAlchemyError, OSError) as error:  # the database is down: try next time
            log.warning("housekeeping could not reach the database: %s", type(error).__name__)
        else:
            if flows or drafts:
                log.info("housekeeping: %s expired link flow(s), %s preview(s)", flows, drafts)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
