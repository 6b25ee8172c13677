"""A one-line progress display for long runs: ``[12/40] emap-chip3``.

Shown only when it is enabled (fluximage enables it at ``verbose >= 1``) and the
stream is a terminal; redirected or piped output gets nothing, so logs stay clean.
The line is redrawn in place with a carriage return, cut to the terminal's width,
and erased by :meth:`Progress.close`.  A message printed during the run goes inside
``with progress.suspended():`` (the line is erased, then drawn again).  Calls may
come from several worker threads at once.  :meth:`Progress.advance` takes the
arguments of the task graph's ``on_done(name, seconds)`` callback.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from .messages import Reporter

__all__ = ["Progress", "ProgressReporter", "is_terminal"]



def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """Counts finished steps out of ``total`` and shows the last one on a status line."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(int(total), 0)
        self.stream = sys.stdout if stream is None else stream
        self.active = bool(enabled) and is_terminal(self.stream)
        self.done = 0
        self._shown = 0  # length of the line on screen (0: nothing shown)
        self._line = ""  # the last line drawn
        self._lock = threading.Lock()

    def text(self, name: str) -> str:
        """The status line for the current count: ``[12/40] name``."""
        width = len(str(self.total))
        return f"[{self.done:>{width}}/{self.total}] {name}"

    def advance(self, name: str, seconds: float | None = None) -> None:
        """One more step done (``name``: the task that finished); redraws the line.

        ``seconds`` (the task's duration) is accepted for the task graph's callback and
        not shown.
        """
        with self._lock:
            self.done = min(self.done + 1, self.total) if self.total else self.done + 1
            if self.active:
                self._draw(self.text(name))

    def clear(self) -> None:
        """Erase the status line (e.g. before printing a message); the next advance redraws."""
        with self._lock:
            self._erase()

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Erase the line for the duration of the block (to print a message), then redraw."""
        self.clear()
        try:
            yield
        finally:
            with self._lock:
                if self.active and self._line:
                    self._draw(self._line)

    def close(self) -> None:
        """Erase the status line for good; later calls show nothing."""
        with self._lock:
            self._erase()
            self.active = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _columns(self) -> int:
        return max(shutil.get_terminal_size(fallback=(80, 24)).columns - 1, 10)

    def _draw(self, line: str) -> None:
        line = line[: self._columns()]
        pad = " " * max(self._shown - len(line), 0)  # cover the rest of a longer old line
        self.stream.write(f"\r{line}{pad}")
        self.stream.flush()
        self._shown = len(line)
        self._line = line

    def _erase(self) -> None:
        if self.active and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
        self._shown = 0


@dataclass
class ProgressReporter(Reporter):
    """A :class:`Reporter` whose messages first clear the progress line."""

    progress: Progress | None = None

    def __call__(self, message: str = "", level: int = 1) -> None:
        if self.progress is None or self.verbose < level:
            super().__call__(message, level)
            return
        with self.progress.suspended():
            super().__call__(message, level)
