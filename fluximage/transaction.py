"""All-or-nothing writing of a run's products (:class:`Transaction`).

Every product is written under a temporary name beside its final one and the
files are renamed into place together when the run has succeeded; a failed or
interrupted run removes them all.  Signals that arrive while the files are
being renamed wait until the renaming is done (:func:`signals_deferred`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from astropy.io import fits

from .fitswrite import ImageFile, TableFile, stamp_astropy_hdus
from .messages import FluximageError, raise_kept_interrupt

__all__ = ["DEFERRED_SIGNALS", "Transaction", "signals_deferred"]



def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class Transaction:
    """Products written under temporary names and renamed together on :meth:`commit`.

    A failed or interrupted run calls :meth:`rollback`: no partial product is left.
    """

    written: dict[str, str] = field(default_factory=dict)  # final path -> temporary path
    #: every temporary file made and not yet renamed or removed
    temporary: set[str] = field(default_factory=set)

    def write(
        self, path: str, hdus: ImageFile | TableFile | fits.HDUList | fits.PrimaryHDU
    ) -> None:
        raise_kept_interrupt()
        directory = os.path.dirname(path) or "."
        # a concurrent run that made this directory and then failed may have removed it
        os.makedirs(directory, exist_ok=True)
        with signals_deferred():  # an interrupt between making and noting it would leak it
            fd, tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
            )
            self.temporary.add(tmp)
        os.close(fd)
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; products follow the umask
            if isinstance(hdus, ImageFile | TableFile):
                hdus.write(tmp)
            else:
                if isinstance(hdus, fits.PrimaryHDU):
                    hdus = fits.HDUList([hdus])
                elif not isinstance(hdus, fits.HDUList):  # one extension
                    hdus = fits.HDUList([fits.PrimaryHDU(), hdus])
                stamp_astropy_hdus(hdus)
                hdus.writeto(tmp, overwrite=True, checksum=True)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self.temporary.discard(tmp)
            raise
        with signals_deferred():
            old = self.written.pop(path, None)
            self.written[path] = tmp
        if old:
            with contextlib.suppress(OSError):
                os.unlink(old)
            self.temporary.discard(old)

    def commit(self) -> list[str]:
        """Rename every product into place, all or nothing; returns the final paths in
        writing order.

        Files being replaced (clobber=yes) are first renamed aside; if any rename fails,
        the products already moved are removed and the old files put back, so a failure
        leaves the outputs as they were.
        """
        raise_kept_interrupt()
        for final in self.written:
            if os.path.isdir(final) and not os.path.islink(final):
                raise FluximageError(f"Unable to write {final}: a directory of that name exists.")
        aside: dict[str, str] = {}  # final path -> its old file, renamed aside
        placed: list[str] = []
        with signals_deferred():  # an interrupt comes after all this, the renames all done
            self._rename_all(aside, placed)
            for backup in aside.values():
                with contextlib.suppress(OSError):
                    os.unlink(backup)
            done = list(self.written)
            self.temporary.difference_update(self.written.values())
            self.written.clear()
        return done

    def _rename_all(self, aside: dict[str, str], placed: list[str]) -> None:
        try:
            for final in self.written:
                if os.path.lexists(final):
                    backup = f"{self.written[final]}.old"
                    os.replace(final, backup)
                    aside[final] = backup
            for final, tmp in self.written.items():
                os.replace(tmp, final)
                placed.append(final)
        except BaseException:
            for final in placed:
                with contextlib.suppress(OSError):
                    os.unlink(final)
            for final, backup in aside.items():
                with contextlib.suppress(OSError):
                    os.replace(backup, final)
            raise

    def rollback(self) -> None:
        """Remove every temporary file this transaction made."""
        for tmp in {*self.temporary, *self.written.values()}:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self.temporary.clear()
        self.written.clear()


#: The signals that end a run (they raise in the main thread, where products are written).
DEFERRED_SIGNALS = tuple(
    getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)
)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block is done, then act on them as their
    handlers would have, so that a few steps of bookkeeping are never cut in two.

    The handlers are swapped for one that only notes the signal (Python runs handlers in
    the main thread whichever thread received the signal, so blocking it with
    pthread_sigmask would not do).  Elsewhere than in the main thread: nothing to do.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def note(signum, _frame) -> None:
        pending.append(signum)

    old = {number: signal.signal(number, note) for number in DEFERRED_SIGNALS}
    try:
        yield
    finally:
        for number, handler in old.items():
            signal.signal(number, handler)
        if pending:
            handler = old[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])
