"""Worker processes for the CPU-bound part of a run (decoding, parsing, converting,
encoding), so that a crawl, a rebuild or an export uses every core: threads would share
one, under the GIL. Results are taken in the order work was handed out, so what is
recorded, and when, is what one process would do.

Workers are forked, and only from a process that runs no other thread (a fork copies a
lock another thread holds, held for ever): a crawl forks them before its fetching
threads start. Where that cannot be (macOS and Windows, or a library caller with
threads of its own) there are none, and the main process does the work, as with
``--workers 0``. Spawning fresh interpreters instead was tried and dropped: each must
import the caller's ``__main__`` again (a script read from stdin cannot be; one without
a main guard runs again), and one killed while it imports can outlive its run.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

__all__ = [
    "MAX_WORKERS",
    "Slot",
    "WorkerDied",
    "WorkerPool",
    "can_fork",
    "default_workers",
    "in_order",
    "usable_cores",
]

MAX_WORKERS = 64
BATCH = 8  # jobs handed to a worker at once by ``submit_batched``
BATCH_BYTES = 512 * 1024  # or fewer, once their sizes come to this
CLOSE_WAIT = 3.0  # seconds ``close`` waits for running jobs (a batch of pages: far less)
PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

_state: Any = None  # a worker's own: what its ``setup`` built


class WorkerDied(Exception):
    """The worker process doing a job ended without an answer (killed, out of memory)."""


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers(*, beside_busy_main: bool = False) -> int:
    """As many workers as cores this process may use (one fewer ``beside_busy_main``:
    a crawl's main process fetches and records, a core's work); none on one core, where
    they only add the cost of sending pages back and forth."""
    cores = usable_cores()
    if cores < 2:
        return 0
    return cores - 1 if beside_busy_main else cores


def can_fork() -> bool:
    """Workers can be forked here, now: Linux (macOS's system libraries are not
    fork-safe, Windows has no fork), and no other thread in this process."""
    return (
        hasattr(os, "fork")
        and os.uname().sysname == "Linux"
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def _start(setup: Callable[[], Any], parent: int) -> None:
    # Ctrl-C reaches the whole process group: it is the main process's to handle (it
    # stops the run and commits), not a traceback from each worker. A SIGTERM (the pool
    # ends its workers so) ends a worker at once, not through the run's own handler.
    # Both were blocked across the fork (``WorkerPool``): no window for either.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _die_with_parent()
    if os.getppid() != parent:  # it died before this worker could ask to die with it
        os._exit(0)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    global _state
    _state = setup()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the thread that forked it ends: the main
    thread (workers are forked only where it is the only one), so with the process.
    A killed run's workers then end at once, and close the pipes a caller may wait on."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # ``_end_with`` notices, a little later


def _end_with(parent: int) -> None:
    """End this worker once its run has gone (a kill -9 says nothing to it: a worker
    waiting for pages would wait for ever)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _call(job: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return job(_state, *args)


def _call_each(job: Callable[..., Any], batch: list[tuple[Any, ...]]) -> list[tuple[bool, Any]]:
    """``job`` on each arguments of ``batch``: (True, result) or (False, its exception),
    so that one item's error is that item's alone."""
    done: list[tuple[bool, Any]] = []
    for args in batch:
        try:
            done.append((True, job(_state, *args)))
        except Exception as exc:
            done.append((False, exc))
    return done


class Slot:
    """One item of a batch handed to a pool (``WorkerPool.submit_batched``)."""

    __slots__ = ("batch", "index")

    def __init__(self, batch: _Batch, index: int) -> None:
        self.batch, self.index = batch, index


class _Batch:
    __slots__ = ("future", "items", "job", "size")

    def __init__(self, job: Callable[..., Any]) -> None:
        self.job = job
        self.items: list[tuple[Any, ...]] = []
        self.size = 0
        self.future: Future[list[tuple[bool, Any]]] | None = None  # once handed out


def _ready() -> None:
    pass


class WorkerPool:
    """``count`` forked worker processes, each holding what ``setup()`` returns;
    ``submit(job, *args)`` runs ``job(state, *args)`` in one of them. Made by ``start``."""

    def __init__(self, count: int, setup: Callable[[], Any]) -> None:
        self.count = count
        self._executor = ProcessPoolExecutor(
            count,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start,
            initargs=(setup, os.getpid()),
        )
        # Forked now, by the first job (the pool forks them all then), with the stop
        # signals blocked: a Ctrl-C in between waits for the main process, which handles
        # it, and never reaches a worker before it can ignore it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self._executor.submit(_ready)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.broken = False  # a worker was found dead when work was handed out
        self._batch_lock = threading.Lock()
        self._open: _Batch | None = None  # the batch being filled

    @classmethod
    def start(cls, count: int, setup: Callable[[], Any]) -> WorkerPool | None:
        """A pool, or None where workers cannot be forked (``can_fork``)."""
        if count < 1 or not can_fork():
            return None
        try:
            return cls(count, setup)
        except OSError:  # no process to be had (a limit on processes, no memory)
            return None

    def submit(self, job: Callable[..., Any], *args: Any) -> Future[Any]:
        """``WorkerDied`` if a worker of this pool has died already."""
        try:
            return self._executor.submit(_call, job, args)
        except BrokenProcessPool as exc:
            self.broken = True
            raise WorkerDied(str(exc) or "a worker process died") from None

    def submit_batched(self, job: Callable[..., Any], *args: Any, size: int = 0) -> Slot:
        """``job(state, *args)``, handed out with others (``BATCH`` at a time, fewer if
        their ``size`` comes to ``BATCH_BYTES``, or when its result is asked for): a job
        per page costs more in passing it between processes than a small page costs to
        parse, and a batch of big pages would hold them all at once."""
        with self._batch_lock:
            batch = self._open
            if batch is None or batch.job is not job:
                if batch is not None:
                    self._send(batch)
                batch = self._open = _Batch(job)
            batch.items.append(args)
            batch.size += size
            slot = Slot(batch, len(batch.items) - 1)
            if len(batch.items) >= BATCH or batch.size >= BATCH_BYTES:
                self._send(batch)
        return slot

    def _send(self, batch: _Batch) -> None:
        """Hand ``batch`` out (the batch lock held)."""
        if self._open is batch:
            self._open = None
        try:
            batch.future = self._executor.submit(_call_each, batch.job, batch.items)
        except BrokenProcessPool as exc:
            self.broken = True
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            batch.future = failed

    def result_of(self, slot: Slot) -> Any:
        """``slot``'s result (its exception raised here), handing its batch out first if
        it waits to be filled; ``WorkerDied`` as ``result`` says."""
        batch = slot.batch
        if batch.future is None:
            with self._batch_lock:
                if batch.future is None:
                    self._send(batch)
        assert batch.future is not None
        ok, value = self.result(batch.future)[slot.index]
        if not ok:
            raise value
        return value

    @staticmethod
    def result(future: Future[Any]) -> Any:
        """The job's result (its exception raised here); ``WorkerDied`` if a worker of
        its pool died: every job handed to that pool is then lost."""
        try:
            return future.result()
        except BrokenProcessPool as exc:
            raise WorkerDied(str(exc) or "a worker process died") from None

    def close(self) -> None:
        """Stop the workers: what is queued is dropped; what runs is waited for a little
        (``CLOSE_WAIT``), so that they are gone before the interpreter exits."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        # Python before 3.12 wakes the executor's manager thread at exit without the lock
        # that thread closes its wake-up pipe under: if it is still closing it then, the
        # exit prints a traceback (EBADF). Once it has ended, its pipe is marked closed.
        manager = getattr(self._executor, "_executor_manager_thread", None)
        if manager is not None and manager is not threading.current_thread():
            manager.join(timeout=CLOSE_WAIT)


Item = TypeVar("Item")
Result = TypeVar("Result")


def in_order(
    pool: WorkerPool | None,
    job: Callable[[Any, Item], Result],
    items: Iterable[Item],
    here: Callable[[Item], Result],
    ahead: int,
) -> Iterator[tuple[Item, Result]]:
    """Each item with its result, in the items' order: ``job(state, item)`` in ``pool``'s
    workers, ``ahead`` items handed out before the first is waited for; ``here(item)`` in
    this process when there is no pool, or for what a dead worker lost (and, from then
    on, for the rest). The pool is closed at the end."""
    in_flight: deque[tuple[Item, Future[Result] | None]] = deque()
    try:
        for item in items:
            future = None
            if pool is not None:
                try:
                    future = pool.submit(job, item)
                except WorkerDied:
                    pool.close()
                    pool = None
            in_flight.append((item, future))
            if len(in_flight) > ahead or pool is None:
                yield _done(*in_flight.popleft(), here)
        while in_flight:
            yield _done(*in_flight.popleft(), here)
    finally:
        if pool is not None:
            pool.close()


def _done(
    item: Item, future: Future[Result] | None, here: Callable[[Item], Result]
) -> tuple[Item, Result]:
    if future is not None:
        try:
            return item, WorkerPool.result(future)
        except WorkerDied:
            pass
    return item, here(item)
