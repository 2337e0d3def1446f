"""Group commit: requests that arrive while the database is busy share its next transaction.

A lone request runs at once; under load, the requests queued behind a running batch form the next
one, so the batches grow with the load and the cost of a transaction is spread over more requests.
Nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

# Runs a batch in one transaction: an outcome, or the exception for that item alone, per item.
RunBatch = Callable[[Sequence[Item]], Awaitable[Sequence[Outcome | Exception]]]


class BatchFailed(Exception):
    """The transaction of the batch an item was in failed; the cause says why.

    Each waiter gets its own, so that raising it in many tasks leaves the cause's traceback alone.
    """


class Batcher(Generic[Item, Outcome]):
    """Runs submitted items through `run` together, at most `max_size` at a time, in order."""

    def __init__(
        self,
        run: RunBatch[Item, Outcome],
        *,
        max_size: int = 64,
        undo: Callable[[Outcome], Item | None] | None = None,
    ) -> None:
        """`undo` gives the item that reverses an outcome whose submitter was cancelled first."""
        self._run = run
        self._max_size = max_size
        self._undo = undo
        self._queue: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._worker: asyncio.Task[None] | None = None

    def submit(self, item: Item) -> asyncio.Future[Outcome]:
        """Queue the item now; the future holds its outcome once its batch has committed.

        Cancelling the future (or the task awaiting it) takes the item out if its batch has not
        begun; after that, `undo` reverses its outcome.
        """
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Outcome]]] = []
        try:
            while self._queue:
                taken = self._queue[: self._max_size]
                del self._queue[: self._max_size]
                batch = [(item, future) for item, future in taken if not future.cancelled()]
                if not batch:
                    continue
                try:
                    outcomes = await self._run([item for item, _ in batch])
                except Exception as error:  # the whole transaction failed: so did every item
                    outcomes = [_failed(error) for _ in batch]
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    self._hand_over(future, outcome)
                batch = []
        finally:
            # Cancelled (the loop is closing): nobody is left waiting for an answer forever.
            for _, future in [*batch, *self._queue]:
                future.cancel()
            self._queue.clear()
            self._worker = None

    def _hand_over(self, future: asyncio.Future[Outcome], outcome: Outcome | Exception) -> None:
        if isinstance(outcome, Exception):
            if not future.cancelled():
                future.set_exception(outcome)
        elif not future.cancelled():
            future.set_result(outcome)
        elif self._undo is not None and (undo := self._undo(outcome)) is not None:
            # Nobody took this outcome: reverse it in a later batch.
            self.submit(undo).add_done_callback(_log_failed_undo)


def _failed(error: Exception) -> BatchFailed:
    failure = BatchFailed(f"a batch's transaction failed ({type(error).__name__})")
    failure.__cause__ = error
    return failure


def _log_failed_undo(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("could not undo the outcome of a cancelled request", exc_info=future.exception())
