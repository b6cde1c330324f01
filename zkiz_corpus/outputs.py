"""Where records are copied as JSON Lines: stdout, or a file (gzip when it ends in .gz).

Every write is of whole lines and is finished even when a signal interrupts it part way
(``write`` may take only some of the bytes); a ``.gz`` file gets one gzip member per
write, so a file cut short by a kill still reads back up to its last whole member.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import sys
import tempfile
from pathlib import Path

from zkiz_corpus.storing import WriteError, describe_os_error, write_all

STDOUT = "-"


class JsonlSink:
    """``-o PATH`` (append), ``-O PATH`` (overwrite), or ``-`` for stdout.

    ``atomic`` (for a full export) writes beside ``PATH`` and renames on ``close``, so a
    failed or interrupted export leaves any earlier file as it was.
    """

    def __init__(self, target: str, *, append: bool = True, atomic: bool = False) -> None:
        self.target = target
        self.append = append and not atomic
        self.atomic = atomic
        self.gzip = target != STDOUT and target.endswith(".gz")
        self._fd = -1
        self._temporary: str | None = None

    @property
    def name(self) -> str:
        return "stdout" if self.target == STDOUT else self.target

    def open(self) -> None:
        """Open the target, creating missing parent directories; ``WriteError`` if not."""
        if self.target == STDOUT:
            if sys.stdout is None:  # started with stdout closed (>&-)
                raise WriteError("stdout", "stdout is closed")
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            try:
                self._fd = sys.stdout.fileno()
            except (AttributeError, OSError, ValueError):  # a captured stdout (CliRunner)
                self._fd = -1
            return
        # Through a symlink to what it names; a device or a pipe is written into, never
        # replaced by a file (``-o /dev/stdout``, ``-o /dev/null``, a FIFO).
        path = Path(os.path.realpath(self.target))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                if not stat.S_ISREG(path.stat().st_mode):
                    self.atomic = False
            if self.atomic:
                self._fd, self._temporary = partial_beside(path)
            else:
                mode = os.O_APPEND if self.append else os.O_TRUNC
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o644)
        except OSError as exc:
            raise WriteError(self.target, describe_os_error(exc)) from exc

    def write(self, lines: bytes) -> None:
        """Write whole JSONL lines (``BrokenPipeError`` when the reader of stdout left)."""
        if not lines:
            return
        data = gzip.compress(lines, compresslevel=6, mtime=0) if self.gzip else lines
        try:
            if self._fd >= 0:
                write_all(self._fd, data)
            elif hasattr(sys.stdout, "buffer"):  # a captured stdout (click's runner)
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            else:  # a text-only stdout (contextlib.redirect_stdout to a StringIO)
                sys.stdout.write(data.decode("utf-8"))
                sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise WriteError(self.name, describe_os_error(exc)) from exc

    def close(self) -> None:
        """Finish the target: synced, and for an atomic one renamed into place."""
        if self.target == STDOUT or self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            with contextlib.suppress(OSError):  # /dev/full, pipes: nothing to sync
                os.fsync(fd)
            os.close(fd)
            if self._temporary is not None:
                put_in_place(self._temporary, self.target)
                self._temporary = None
        except OSError as exc:
            raise WriteError(self.target, describe_os_error(exc)) from exc
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop an unfinished atomic file (the earlier one stays)."""
        if self._fd >= 0 and self.target != STDOUT:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        drop_partial(self._temporary)
        self._temporary = None


def partial_beside(path: Path) -> tuple[int, str]:
    """A new file beside ``path`` (open, and its name) to be written in its place and
    renamed over it when whole (``put_in_place``), so a failed write leaves ``path``
    as it was."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.fchmod(fd, 0o644)
    return fd, temporary


def put_in_place(temporary: str, target: str) -> None:
    os.replace(temporary, os.path.realpath(target))


def drop_partial(temporary: str | None) -> None:
    """Remove an unfinished file of ``partial_beside`` (the earlier file stays)."""
    if temporary is not None:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
