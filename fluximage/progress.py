"""A one-line progress display for long runs: the running steps, the time since the
start, and within long steps the part done and the time left::

    [12/40 1:05] emap-chip3 48%, emap-chip2 31% · about 0:52 left

Shown only when it is enabled (fluximage enables it at ``verbose >= 1``) and the
stream is a terminal; redirected or piped output gets nothing, so logs stay clean.
The line is redrawn in place with a carriage return (every second while a step runs,
so the clock moves), cut to the terminal's width, and erased by :meth:`Progress.close`.
A message printed during the run goes inside ``with progress.suspended():`` (the line
is erased, then drawn again).  Calls may come from several worker threads at once.
:meth:`Progress.started` and :meth:`Progress.advance` take the task graph's
``on_start(name)`` and ``on_done(name, seconds)`` callbacks; a long step reports the
part it has done with :meth:`Progress.fraction`.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from .messages import Reporter

__all__ = ["Progress", "ProgressReporter", "clock_text", "is_terminal"]

#: A step's time left is estimated once it has run this long (s) and done this much.
MIN_SECONDS_FOR_ESTIMATE, MIN_FRACTION_FOR_ESTIMATE = 2.0, 0.02


def clock_text(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour)."""
    s = max(int(seconds), 0)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """Counts finished steps out of ``total``; shows the running ones with the part done."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        tick_seconds: float = 1.0,
    ) -> None:
        self.total = max(int(total), 0)
        self.stream = sys.stdout if stream is None else stream
        self.active = bool(enabled) and is_terminal(self.stream)
        self.done = 0
        self._clock = clock
        self._began = clock()
        self._running: dict[str, tuple[float, float | None]] = {}  # name -> (start, part)
        self._last = ""  # the step finished last (shown when none runs)
        self._shown = 0  # length of the line on screen (0: nothing shown)
        self._line = ""  # the last line drawn
        self._lock = threading.Lock()
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def text(self, name: str | None = None) -> str:
        """The status line now (``name``: a finished step, shown when none runs)."""
        now = self._clock()
        width = len(str(self.total))
        head = f"[{self.done:>{width}}/{self.total} {clock_text(now - self._began)}]"
        if not self._running:
            return f"{head} {name or self._last}".rstrip()
        parts, left = [], 0.0
        for step, (began, part) in self._running.items():
            parts.append(step if part is None else f"{step} {int(100 * part)}%")
            ran = now - began
            if part is not None and part >= MIN_FRACTION_FOR_ESTIMATE and (
                ran >= MIN_SECONDS_FOR_ESTIMATE
            ):
                left = max(left, ran * (1.0 - part) / part)
        line = f"{head} {', '.join(parts)}"
        return f"{line} · about {clock_text(left)} left" if left > 0 else line

    def started(self, name: str) -> None:
        """A step began (the task graph's ``on_start``)."""
        with self._lock:
            self._running[name] = (self._clock(), None)
            if self.active:
                self._draw(self.text())
                self._start_ticker()

    def fraction(self, name: str, part: float) -> None:
        """The part (0 to 1) of a running step that is done."""
        with self._lock:
            if name in self._running:
                self._running[name] = (self._running[name][0], min(max(float(part), 0.0), 1.0))

    def advance(self, name: str, seconds: float | None = None) -> None:
        """One more step done (``name``: the task that finished); redraws the line.

        ``seconds`` (the task's duration) is accepted for the task graph's callback.
        """
        with self._lock:
            self._running.pop(name, None)
            self._last = name
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
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)
        with self._lock:
            self._erase()
            self.active = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_ticker(self) -> None:
        """Redraw every ``tick_seconds`` while steps run, so the clock and estimate move."""
        if self._ticker is not None or self._tick <= 0:
            return

        def tick() -> None:
            while not self._stop.wait(self._tick):
                with self._lock:
                    if self.active and self._running and self._shown:
                        self._draw(self.text())

        self._ticker = threading.Thread(target=tick, name="fluximage-progress", daemon=True)
        self._ticker.start()

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
