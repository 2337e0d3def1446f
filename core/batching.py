"""Group commit: requests that arrive while the database is busy share its next transaction.

A lone request runs at once; under load, the requests queued behind a running batch form the next
one, so the batches grow with the load and the cost of a transaction is spread over more requests.
Nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

# Runs a batch in one transaction: an outcome, or the exception for that item alone, per item.
RunBatch = Callable[[Sequence[Item]], Awaitable[Sequence[Outcome | Exception]]]


class Batcher(Generic[Item, Outcome]):
    """Runs submitted items through `run` together, at most `max_size` at a time, in order."""

    def __init__(
        self,
        run: RunBatch[Item, Outcome],
        *,
        max_size: int = 64,
        abandoned: Callable[[Outcome], Awaitable[None]] | None = None,
    ) -> None:
        """`abandoned` undoes an outcome whose submitter was cancelled before it was handed over."""
        self._run = run
        self._max_size = max_size
        self._abandoned = abandoned
        self._queue: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Outcome:
        """The item's outcome, once the batch it joined has committed; its exception if not."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return await future

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
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    await self._hand_over(future, outcome)
        finally:
            # Cancelled (the loop is closing): nobody is left waiting for an answer forever.
            for _, future in [*batch, *self._queue]:
                future.cancel()
            self._queue.clear()
            self._worker = None

    async def _hand_over(
        self, future: asyncio.Future[Outcome], outcome: Outcome | Exception
    ) -> None:
        if not future.cancelled():
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        elif self._abandoned is not None and not isinstance(outcome, Exception):
            try:
                await self._abandoned(outcome)
            except Exception:
                log.exception("could not undo the outcome of a cancelled request")
