"""Screen output in CIAO's manner: the banner, verbose-gated notes, errors."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TextIO

from ._version import __version__

__all__ = [
    "TOOL",
    "FluximageError",
    "Reporter",
    "Terminated",
    "error_line",
    "interrupt_line",
    "keep_swallowed_interrupts",
    "print_error",
    "raise_kept_interrupt",
]


TOOL = "fluximage"


class FluximageError(Exception):
    """A problem the user can act on; printed as ``# fluximage (...): ERROR <text>``."""


def error_line(message: str) -> str:
    """The one-line error CIAO's scripts print (``ERROR`` is not doubled)."""
    text = message if message.startswith("ERROR") else f"ERROR {message}"
    return f"# {TOOL} ({__version__}): {text}"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the run stands so that it cleans up as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Interrupts Python swallowed (raised while a ``__del__`` ran), kept for the next checkpoint.
_SWALLOWED: list[BaseException] = []


def keep_swallowed_interrupts() -> None:
    """A Ctrl-C or SIGTERM whose handler runs inside a ``__del__`` (astropy's, during garbage
    collection) is 'ignored' by Python: a traceback on stderr and the run goes on.  This
    hook keeps such an interrupt, silently, for :func:`raise_kept_interrupt`."""
    default = sys.unraisablehook

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _SWALLOWED.append(unraisable.exc_value)
            return
        default(unraisable)

    sys.unraisablehook = hook


def raise_kept_interrupt() -> None:
    """Raise an interrupt :func:`keep_swallowed_interrupts` kept (called between tasks and
    before products are written)."""
    if _SWALLOWED:
        exc = _SWALLOWED[0]
        _SWALLOWED.clear()
        raise exc


def interrupt_line(exc: BaseException | None = None) -> str:
    """``Keyboard interrupt (control-c)``, or ``Terminated (SIGTERM)`` for a signal."""
    if isinstance(exc, Terminated):
        import signal

        try:
            name = signal.Signals(exc.signum).name
        except ValueError:
            name = f"signal {exc.signum}"
        return f"# {TOOL} ({__version__}): Terminated ({name})"
    return f"# {TOOL} ({__version__}): Keyboard interrupt (control-c)"


def print_error(message: str, stream: TextIO | None = None) -> None:
    """Write the error line to stderr, red on a terminal unless ``NO_COLOR`` is set."""
    stream = sys.stderr if stream is None else stream
    from .paramio.values import printable  # paramio's package is loaded only when printing

    line = printable(error_line(message))
    if _is_tty(stream) and "NO_COLOR" not in os.environ:
        line = f"\033[1;31m{line}\033[0m"
    print(line, file=stream, flush=True)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Reporter:
    """Messages gated by the ``verbose`` parameter (0-5), written to stdout."""

    verbose: int = 1
    stream: TextIO | None = None

    def __call__(self, message: str = "", level: int = 1) -> None:
        if self.verbose >= level:
            from .paramio.values import printable

            print(printable(message), file=self.stream or sys.stdout, flush=True)

    def banner(self) -> None:
        self(f"Running {TOOL}")
        self(f"Version: {__version__}")
        self()
