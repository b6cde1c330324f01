"""Stop signals for the command line: SIGINT and SIGTERM end a run with 130 or 143, but
never in the middle of a commit or of a record written to the output."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

CRITICAL_GRACE = 1.5  # seconds a commit or a write may still take once a signal came


class Interrupts:
    """SIGINT and SIGTERM stop a run, but never in the middle of a commit or a record.

    Inside ``critical()`` a signal is only noted; it takes effect when the section ends,
    so stdout never gets half a line and the corpus never half a batch. A second signal
    while the first is being obeyed ends the process at once (what was committed stays
    committed, as after kill -9), never with a traceback. The exit status is 128 + the
    first signal: 130 for SIGINT, 143 for SIGTERM.
    """

    signum: int | None = None  # the first stop signal of this process

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False

    @classmethod
    def exit_code(cls) -> int:
        return 128 + cls.signum if cls.signum is not None else 130

    def _handle(self, signum: int, frame: Any) -> None:
        if Interrupts.signum is not None:
            os.write(2, b"zkiz: interrupted again: stopping now\n")
            os._exit(Interrupts.exit_code())
        Interrupts.signum = signum
        # The interpreter puts the default handlers back as it exits, and a signal then
        # kills it with a status of -2: by then the exit status is decided, so ignore.
        atexit.register(ignore_stop_signals)
        if self.depth:
            self.pending = True
            # A section that does not end (a write to a pipe nobody reads) must not hold
            # the run: after a grace period, stop as kill -9 would, which loses nothing
            # committed (the corpus is built for it), with the status the signal asks.
            timer = threading.Timer(CRITICAL_GRACE, self._stop_now)
            timer.daemon = True
            timer.start()
        else:
            raise KeyboardInterrupt

    def _stop_now(self) -> None:
        if self.pending:
            os.write(2, b"zkiz: interrupted: stopping now\n")
            os._exit(Interrupts.exit_code())

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        Interrupts.signum = None
        try:
            previous = {sig: signal.signal(sig, self._handle) for sig in _STOP_SIGNALS}
        except ValueError:  # not the main thread (embedded use): leave signals alone
            yield
            return
        try:
            yield
        finally:
            # Once stopping, stay in charge: a second signal on the way out ends the
            # process with the same status, not with the default handler's traceback.
            if Interrupts.signum is None:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals() -> None:
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
