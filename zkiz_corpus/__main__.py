"""``python -m zkiz_corpus`` and the ``zkiz`` command's entry point.

A stop signal that lands while the interpreter is still importing the command (a few
tenths of a second) ends it at once with 130 or 143, as the running command would,
instead of a ``KeyboardInterrupt`` traceback.
"""

import os
import signal


def _stop_during_start_up(signum: int, frame: object) -> None:
    os._exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGINT, _stop_during_start_up)
    signal.signal(signal.SIGTERM, _stop_during_start_up)
    from zkiz_corpus.cli import main as run_command

    run_command()  # which puts the command's own handling (one line, 130/143) in place


if __name__ == "__main__":
    main()
