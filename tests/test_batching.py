"""Group commit: who shares a batch, who hears which outcome, and what a cancelled caller leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.batching import Batcher, BatchFailed


class Ledger:
    """A batch runner that records its batches and can be held mid-batch or made to fail.

    It answers an even item with ten times it, and refuses an odd one.
    """

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.running = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.failing_batch: int | None = None  # which batch (1, 2, ...) fails

    async def run(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        self.running.set()
        await self.release.wait()
        if len(self.batches) == self.failing_batch:
            raise RuntimeError("the transaction failed")
        return [ValueError(f"{item} is odd") if item % 2 else item * 10 for item in items]


async def held(max_size: int = 64) -> tuple[Ledger, Batcher[int, int], asyncio.Future[int]]:
    """A batcher whose first batch, of item 0 alone, is running and held until released."""
    ledger = Ledger()
    ledger.release.clear()
    batcher = Batcher[int, int](ledger.run, max_size=max_size)
    first = batcher.submit(0)
    await ledger.running.wait()
    return ledger, batcher, first


async def test_a_lone_item_runs_at_once() -> None:
    ledger = Ledger()
    batcher = Batcher(ledger.run)
    assert await batcher.submit(2) == 20
    assert ledger.batches == [[2]]


async def test_items_that_wait_behind_a_batch_share_the_next_one() -> None:
    """While one batch runs, every arrival queues; they all go in the next batch, in order."""
    ledger, batcher, first = await held()
    rest = [batcher.submit(n) for n in (2, 4, 6)]
    ledger.release.set()
    assert await asyncio.gather(first, *rest) == [0, 20, 40, 60]
    assert ledger.batches == [[0], [2, 4, 6]]


async def test_an_items_exception_is_its_own() -> None:
    """A refusal for one item does not touch the others in its batch."""
    ledger, batcher, first = await held()
    results = asyncio.gather(*(batcher.submit(n) for n in (2, 3, 4)), return_exceptions=True)
    ledger.release.set()
    await first
    two, three, four = await results
    assert (two, four) == (20, 40)
    assert isinstance(three, ValueError)


async def test_a_failed_transaction_fails_its_batch_only() -> None:
    """Every item of the batch hears of the failure, each by its own exception; the next runs."""
    ledger, batcher, first = await held()
    ledger.failing_batch = 2
    failed = asyncio.gather(*(batcher.submit(n) for n in (2, 4)), return_exceptions=True)
    ledger.release.set()
    await first
    two, four = await failed
    assert isinstance(two, BatchFailed)
    assert isinstance(four, BatchFailed)
    assert two is not four
    assert isinstance(two.__cause__, RuntimeError)
    assert two.__cause__ is four.__cause__
    assert await batcher.submit(6) == 60


async def test_batches_are_capped() -> None:
    ledger, batcher, first = await held(max_size=2)
    rest = [batcher.submit(n) for n in (2, 4, 6, 8)]
    ledger.release.set()
    await asyncio.gather(first, *rest)
    assert ledger.batches == [[0], [2, 4], [6, 8]]


async def test_an_outcome_nobody_took_is_undone() -> None:
    """The caller was cancelled while its batch ran: its outcome is reversed in a later batch."""
    ledger = Ledger()
    ledger.release.clear()
    batcher = Batcher(ledger.run, undo=lambda outcome: outcome + 1000)

    async def press() -> int:
        return await batcher.submit(2)

    cancelled = asyncio.ensure_future(press())
    await ledger.running.wait()
    cancelled.cancel()
    ledger.release.set()
    assert await batcher.submit(4) == 40
    assert ledger.batches[1:] == [[4, 1020]]  # 1020 undoes the outcome 20 nobody took
    assert cancelled.cancelled()


async def test_a_caller_cancelled_before_its_batch_is_skipped() -> None:
    ledger, batcher, first = await held()
    skipped = batcher.submit(2)
    kept = batcher.submit(4)
    skipped.cancel()
    ledger.release.set()
    assert (await first, await kept) == (0, 40)
    assert ledger.batches == [[0], [4]]
