"""The server's bounded worker pool, and the channel that carries streamed chunks from a worker to the client.

Synthesis is CPU-bound and holds the GIL only in part (torch releases it), so it runs in a fixed pool of worker
threads; the event loop only moves bytes. At most ``workers + queue_size`` jobs are admitted at once; the next
one is refused with :class:`Overloaded` (HTTP 503 + Retry-After) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Cancelled", "ChunkChannel", "Overloaded", "WorkerPool"]


class Overloaded(Exception):
    """Every worker is busy and the queue is full; ``retry_after`` is a hint in whole seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"the server is busy (all workers and queue slots in use); retry in {retry_after} s")
        self.retry_after = retry_after


class Cancelled(Exception):
    """The consumer of a job went away (client disconnect, timeout, shutdown): the job stops."""


class WorkerPool:
    """A thread pool of ``workers`` threads that admits at most ``workers + queue_size`` jobs at a time."""

    def __init__(self, workers: int, queue_size: int):
        if workers < 1 or queue_size < 0:
            raise ValueError(f"need workers >= 1 and queue_size >= 0, got {workers} and {queue_size}")
        self.workers, self.queue_size = workers, queue_size
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="emovox-worker")
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._lock = threading.Lock()
        self._admitted = 0
        self._seconds_per_job = 1.0  # running mean of job durations, for Retry-After

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        """Run ``fn(*args)`` on a worker; raises :class:`Overloaded` when no slot is free."""
        if not self._slots.acquire(blocking=False):
            raise Overloaded(self.retry_after())
        with self._lock:
            self._admitted += 1

        def timed() -> Any:
            t0 = time.monotonic()
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * (time.monotonic() - t0)

        try:
            future = self._executor.submit(timed)
        except RuntimeError:  # shut down
            self._release(None)
            raise Overloaded(self.retry_after()) from None
        future.add_done_callback(self._release)
        return future

    def _release(self, _future: concurrent.futures.Future | None) -> None:
        with self._lock:
            self._admitted -= 1
        self._slots.release()

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead of a new job times the mean job duration."""
        with self._lock:
            ahead = self._admitted / self.workers
            return max(1, min(60, math.ceil(ahead * self._seconds_per_job)))

    def stats(self) -> dict[str, int]:
        with self._lock:
            admitted = self._admitted
        return {
            "workers": self.workers,
            "queue_size": self.queue_size,
            "busy": min(admitted, self.workers),
            "queued": max(0, admitted - self.workers),
        }

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class ChunkChannel:
    """Items from a worker thread to an asyncio consumer, at most ``maxsize`` in flight (back-pressure).

    The worker calls :meth:`put` (blocking); the consumer awaits :meth:`get` and calls :meth:`cancel` when it
    stops listening, after which the worker's next :meth:`put` raises :class:`Cancelled`.
    """

    END = object()

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 2, stall_seconds: float = 120.0):
        self._loop = loop
        self._stall_seconds = stall_seconds
        self._queue: asyncio.Queue = asyncio.Queue(maxsize)
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def put(self, item: Any, poll_seconds: float = 0.25) -> None:
        """Worker side: hand ``item`` over, waiting while the consumer is behind; gives up (:class:`Cancelled`)
        when the consumer is cancelled or has taken nothing for ``stall_seconds`` (a client that stopped
        reading must not hold a worker)."""
        if self.cancelled:
            raise Cancelled
        try:
            future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        except RuntimeError:  # the event loop is closed: the server is shutting down
            raise Cancelled from None
        give_up = time.monotonic() + self._stall_seconds
        while True:
            try:
                future.result(timeout=poll_seconds)
                return
            except concurrent.futures.TimeoutError:
                if self.cancelled or time.monotonic() > give_up:
                    self.cancel()
                    future.cancel()
                    raise Cancelled from None

    async def get(self, timeout: float) -> Any:
        """Consumer side: the next item; :class:`asyncio.TimeoutError` after ``timeout`` seconds without one."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    def produce(self, items: Callable[[], Any]) -> None:
        """Worker side: put every item of the iterable ``items()`` then :attr:`END`, or the exception raised."""
        try:
            if self.cancelled:
                return
            for item in items():
                self.put(item)
            self.put(self.END)
        except Cancelled:
            return
        except Exception as exc:  # handed to the consumer, which turns it into an HTTP error
            try:
                self.put(exc)
            except Cancelled:
                return
