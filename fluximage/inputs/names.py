"""``outroot`` → file names of every product and intermediate; clobber checks (docs/outputs.md).

``P`` = prefix, ``B`` = band label, ``C`` = chip, ``O`` = ObsID label:
``PB.img``, ``PB_thresh.img``, ``PB.expmap``, ``PB_thresh.expmap``,
``PB_flux.img``, ``PB.psfmap``/``PB_thresh.psfmap``, ``PO.fov``;
intermediates ``PC.asphist``, ``PC_B.instmap``, ``PC_B.expmap``,
``PHRC-I_bkg.fits``, ``PB_particle_bgnd.img``, ``PB_unsubtracted.img``.
Paths are relative to the current directory; an empty prefix (``outroot=.``)
gives plain names in it, for any number of chips (CIAO bug #598 fixed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from ..messages import FluximageError

__all__ = [
    "TEMPORARY_NAME_EXTRA",
    "OutputNames",
    "check_clobber",
    "output_prefix",
    "prepare_output_directory",
]



def output_prefix(outroot: str) -> str:
    """``out/`` → ``out/``; ``fimg`` → ``fimg_``; ``odir/fimg`` → ``odir/fimg_``; ``.`` → ``''``."""
    outroot = "" if outroot.strip() == "." else outroot.strip()
    directory, base = os.path.split(outroot)
    prefix = directory + "/" if directory and not directory.endswith("/") else directory
    if base and not base.endswith("_"):
        base += "_"
    return prefix + base


@dataclass(frozen=True)
class OutputNames:
    """Every file name of one run."""

    prefix: str
    obsid_label: str

    @property
    def directory(self) -> str:
        return os.path.dirname(self.prefix)

    def counts(self, band: str) -> str:
        return f"{self.prefix}{band}.img"

    def thresh_counts(self, band: str) -> str:
        return f"{self.prefix}{band}_thresh.img"

    def expmap(self, band: str) -> str:
        return f"{self.prefix}{band}.expmap"

    def thresh_expmap(self, band: str) -> str:
        return f"{self.prefix}{band}_thresh.expmap"

    def flux(self, band: str) -> str:
        return f"{self.prefix}{band}_flux.img"

    def psfmap(self, band: str, thresholded: bool) -> str:
        return f"{self.prefix}{band}{'_thresh' if thresholded else ''}.psfmap"

    @property
    def fov(self) -> str:
        # a prefix already ending in "<ObsID>_" (outroot=1843) gives 1843.fov, not 1843_1843.fov
        if self.prefix.endswith(f"{self.obsid_label}_"):
            return f"{self.prefix[:-1]}.fov"
        return f"{self.prefix}{self.obsid_label}.fov"

    def asphist(self, chip: int) -> str:
        return f"{self.prefix}{chip}.asphist"

    def instmap(self, chip: int, band: str) -> str:
        return f"{self.prefix}{chip}_{band}.instmap"

    def chip_expmap(self, chip: int, band: str) -> str:
        return f"{self.prefix}{chip}_{band}.expmap"

    @property
    def hrci_background_events(self) -> str:
        return f"{self.prefix}HRC-I_bkg.fits"

    def particle_background(self, band: str) -> str:
        return f"{self.prefix}{band}_particle_bgnd.img"

    def unsubtracted(self, band: str) -> str:
        return f"{self.prefix}{band}_unsubtracted.img"

    def all_outputs(
        self,
        chips: Iterable[int],
        bands: Iterable[str],
        *,
        threshold: bool,
        psf: bool,
        hrci_background: bool,
    ) -> list[str]:
        """The full list of possible outputs, intermediates included
        (docs/parameters/clobber.md)."""
        chips, bands = list(chips), list(bands)
        files = [self.asphist(c) for c in chips]
        files += [self.instmap(c, b) for c in chips for b in bands]
        files += [self.chip_expmap(c, b) for c in chips for b in bands]
        for b in bands:
            files += [self.expmap(b), self.counts(b), self.flux(b)]
            if threshold:
                files += [self.thresh_counts(b), self.thresh_expmap(b)]
            if psf:
                files.append(self.psfmap(b, threshold))
            if hrci_background:
                files += [self.particle_background(b), self.unsubtracted(b)]
        if hrci_background:
            files.append(self.hrci_background_events)
        files.append(self.fov)
        return list(dict.fromkeys(files))


def prepare_output_directory(prefix: str) -> str | None:
    """Create the output directory (with its parents) or check it is writable.

    Returns the outermost directory created here (None if it existed), so that a failed
    run can remove what it made.
    """
    directory = os.path.dirname(prefix)
    if directory == "":
        directory = "."
    if os.path.isdir(directory):
        if not os.access(directory, os.W_OK | os.X_OK):
            raise FluximageError(f"{directory} does not have write permission.")
        return None
    missing = []  # the directories to make, innermost first, as the user wrote them
    parent = os.path.normpath(directory)
    while parent and not os.path.isdir(parent) and parent != os.path.dirname(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    made = None  # the outermost directory this run made
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except FileExistsError:
            if os.path.isdir(d):  # made meanwhile by a concurrent run: not ours to remove
                continue
            raise FluximageError(f"Unable to create directory {directory}") from None
        except OSError:
            raise FluximageError(f"Unable to create directory {directory}") from None
        made = made or d
    return made


#: Characters a product's temporary name adds to its file name: "." + name + ".XXXXXXXX.tmp"
#: (and ".old" when it replaces a file).
TEMPORARY_NAME_EXTRA = 18


def _name_max(directory: str) -> int:
    """The longest file name the file system of ``directory`` (or its nearest existing
    ancestor) allows."""
    path = os.path.abspath(directory or ".")
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return int(os.pathconf(path, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def check_clobber(files: Iterable[str], clobber: bool) -> None:
    """No output may exist unless clobber=yes, and then it must be a writable file; every
    output name (and its temporary name) must fit the file system."""
    for f in files:
        limit = _name_max(os.path.dirname(f)) - TEMPORARY_NAME_EXTRA
        if len(os.path.basename(f).encode("utf-8", "surrogateescape")) > limit:
            raise FluximageError(
                f"The output file name {os.path.basename(f)} is too long for the file system "
                f"({len(os.path.basename(f))} characters; at most {limit} here)."
            )
        if not os.path.lexists(f):
            continue
        if not clobber:
            raise FluximageError(f"File {f} exists and clobber=no.")
        if os.path.isdir(f) and not os.path.islink(f):
            raise FluximageError(f"Unable to write {f}: a directory of that name exists.")
        if not os.access(f, os.W_OK):
            raise FluximageError(f"File {f} does not have write permission and clobber=yes.")
