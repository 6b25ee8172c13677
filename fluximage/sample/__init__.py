"""The small synthetic sample observation shipped with the package.

A 15-ks ACIS-I observation made by ``tools/make_sample.py`` with ``fluximage.simulate``:
five point sources, a faint disk and a faint flat field, all flat over 0.5-7 keV (evt2,
asol1 and bpix1 gzipped, msk1 plain, side by side)::

    fluximage "$(fluximage-simulate --sample)" out/
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EVENT_FILE", "path"]


EVENT_FILE = "acisf90001_000N001_evt2.fits.gz"


def path() -> Path:
    """The sample's event file (its ancillary files are in the same directory)."""
    return Path(__file__).resolve().parent / EVENT_FILE
