"""What a running tweetlink counts, for Prometheus's `/metrics`: every metric, named in one place.

Labels are bounded names only (a command, a step, an error's kind, an endpoint, a status), never
a token, a code, an intent id or a member: they are kept forever by whoever scrapes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Concatenate, ParamSpec, TypeVar

from prometheus_client import Counter, Histogram

from core import errors

INTERACTIONS = Counter(
    "tweetlink_interactions",
    "Slash and message commands handled, by command and outcome (ok, refused, failed).",
    ["command", "outcome"],
)
LINK_STEPS = Counter(
    "tweetlink_link_steps",
    "Steps of the link flow, by step and outcome (ok, or the kind of refusal, or failed).",
    ["step", "outcome"],
)
TWEETS = Counter(
    "tweetlink_tweets",
    "Tweets: posted or unknown (X may have posted it) as recorded, and refusals (at the "
    "preview or at Post) by reason.",
    ["outcome", "reason"],
)
X_REQUESTS = Histogram(
    "tweetlink_x_request_seconds",
    "Requests to X, by endpoint and HTTP status (or timeout, unreachable, broken), in seconds.",
    ["endpoint", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DB_TRANSACTIONS = Histogram(
    "tweetlink_db_transaction_seconds",
    "Database transactions, begin (with its wait for SQLite's write lock) to commit or rollback.",
    ["end"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


def kind_of(error: BaseException) -> str:
    """An error's kind as a label: `WrongCode` → `wrong_code`; anything unexpected → `failed`."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if not isinstance(error, errors.TweetlinkError):
        return "failed"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


@contextlib.contextmanager
def tweet_refusals_counted() -> Iterator[None]:
    """Count a refusal of a tweet by its reason; a post X may have made is counted as recorded."""
    try:
        yield
    except errors.TwitterMaybePosted:
        raise
    except errors.TweetlinkError as refusal:
        TWEETS.labels("refused", kind_of(refusal)).inc()
        raise


def counted_step(
    step: str,
) -> Callable[
    [Callable[Concatenate[S, P], Awaitable[R]]], Callable[Concatenate[S, P], Awaitable[R]]
]:
    """Count each call of a link-flow method in LINK_STEPS under `step`, by how it ended."""

    def decorate(
        method: Callable[Concatenate[S, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, P], Awaitable[R]]:
        @functools.wraps(method)
        async def counted(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                result = await method(self, *args, **kwargs)
            except BaseException as error:
                LINK_STEPS.labels(step, kind_of(error)).inc()
                raise
            LINK_STEPS.labels(step, "ok").inc()
            return result

        return counted

    return decorate
