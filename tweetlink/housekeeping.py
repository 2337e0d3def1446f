"""The sweep, on a timer, by the bot's processes: expired link flows, previews and Linked Roles
sign-ins deleted, posts a dead process left pending recorded as `unknown`, and role connections
that differ from their member's link written to Discord again.

Each step is plain statements (`DELETE … WHERE expires_at <= now`, `UPDATE … WHERE
status = 'pending' AND created_at < …`; a role connection is pushed only where what was pushed
differs from the link), so any number of processes may sweep at once: what one changes, the
others find done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

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
            abandoned = await services.tweets.settle_abandoned_posts(abandoned_after(services))
            sign_ins = await services.role_connections.purge_expired()
            pushed, failed = await services.role_connections.push_due()
        except (SQLAlchemyError, OSError) as error:  # the database is down: try next time
            log.warning("housekeeping could not reach the database: %s", type(error).__name__)
        else:
            if flows or drafts or sign_ins:
                log.info(
                    "housekeeping: %s expired link flow(s), %s preview(s), %s sign-in(s)",
                    flows,
                    drafts,
                    sign_ins,
                )
            if pushed or failed:
                log.info("housekeeping: %s role connection(s) updated, %s failed", pushed, failed)
            if abandoned:
                log.warning("housekeeping: %s post(s) cut off mid-way are now unknown", abandoned)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def abandoned_after(services: Services) -> timedelta:
    """How long a post may stay pending: its upload and its POST, each up to X's timeout,
    with 5 s to spare (a post still running past it settles later, overwriting `unknown`)."""
    return timedelta(seconds=2 * services.settings.twitter_timeout_seconds + 5)
