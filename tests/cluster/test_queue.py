"""procrastinate's worker as a cluster's worker runs it (agent.cluster.queue.CycleWorker): however
it stops, the cycles it runs are told to stop, so that a worker cut off from the database has
stopped them within its stop bound, before the others run them again.

The queue is procrastinate's own in-memory one, whose fetch of the next job fails as it does
when the database goes away: the one way out of procrastinate's loop that does not go through
`stop()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

import pytest
from procrastinate import App
from procrastinate.exceptions import ConnectorException
from procrastinate.testing import InMemoryConnector

from agent.cluster.queue import CycleWorker


class LosingQueue(InMemoryConnector):
    """The in-memory queue, cut off from its database once `lost` is set: a fetch fails."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = threading.Event()

    async def fetch_job_one(self, queues: Iterable[str] | None, worker_id: int) -> dict[str, Any]:
        if self.lost.is_set():
            raise ConnectorException("the database went away")
        return await super().fetch_job_one(queues, worker_id)


def test_a_worker_whose_fetch_fails_tells_its_running_cycles_to_stop() -> None:
    queue = LosingQueue()
    app = App(connector=queue)
    running, told = threading.Event(), threading.Event()

    @app.task(name="cycle")
    def cycle() -> None:
        running.set()
        # a cycle goes on until told to stop (before its next change)
        assert told.wait(15), "the cycle was never told to stop"

    async def serve() -> None:
        async with app.open_async():
            await cycle.defer_async()
            worker = CycleWorker(
                app,
                told.set,
                concurrency=2,
                fetch_job_polling_interval=0.05,
                update_heartbeat_interval=60,
                listen_notify=False,
                install_signal_handlers=False,
            )
            run = asyncio.create_task(worker.run())
            assert await asyncio.to_thread(running.wait, 30)
            queue.lost.set()
            told_in_time = await asyncio.to_thread(told.wait, 10)
            with pytest.raises(ConnectorException):
                await run  # the cycle stopped, the worker stops, saying why
            assert told_in_time, "the running cycle was not told to stop"

    asyncio.run(serve())
