"""Every product is written here: headers, WCS, atomic writes.

Images carry CIAO's layout: the celestial TAN WCS of the event file's sky
columns, the physical (sky pixel) WCS both as ``LTM``/``LTV`` and as the
``P`` alternate WCS, and the event header's keywords less those that only
describe a table.  Products are written under temporary names and renamed
into place together when the run has succeeded (:class:`Transaction`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from . import __version__
from .geometry.grid import Grid
from .inputs.bands import Band
from .inputs.observation import Observation

#: Keywords that describe a table (its columns, subspace, structure), not the observation.
TABLE_ONLY = re.compile(
    r"^(T[A-Z]+\d+|TFIELDS|THEAP|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTNAME|EXTVER|"
    r"HDUNAME|HDUCLAS[12]|DS[A-Z]+\d+|MTYPE\d+|MFORM\d+|CHECKSUM|DATASUM|EXTEND|SIMPLE)$"
)


def observation_keywords(obs: Observation) -> fits.Header:
    """The event header less its table-only keywords (COMMENT/HISTORY kept)."""
    out = fits.Header()
    for card in obs.header.cards:
        if card.keyword in ("", "COMMENT", "HISTORY") or not TABLE_ONLY.match(card.keyword):
            out.append(card)
    return out


def wcs_keywords(obs: Observation, grid: Grid) -> fits.Header:
    """Celestial TAN WCS, physical P WCS and LTM/LTV for images on ``grid``."""
    sky = obs.sky
    h = fits.Header()
    for i, axis, crpix, crval, cdelt, ctype in (
        (1, grid.x, sky.crpix[0], sky.crval[0], sky.cdelt[0], sky.ctype[0]),
        (2, grid.y, sky.crpix[1], sky.crval[1], sky.cdelt[1], sky.ctype[1]),
    ):
        h[f"CTYPE{i}"] = (ctype, f"Axis type for dim {i} (sky)")
        h[f"CRVAL{i}"] = (crval, "Sky coord of reference pixel (deg)")
        h[f"CRPIX{i}"] = ((crpix - axis.lo) / axis.step + 0.5, "Reference pixel")
        h[f"CDELT{i}"] = (cdelt * axis.step, "Pixel size (deg)")
        h[f"CUNIT{i}"] = ("deg", "Axis units")
    h["EQUINOX"] = (float(obs.header.get("EQUINOX", 2000.0)), "Equinox of celestial coords")
    h["RADESYS"] = (str(obs.header.get("RADESYS", "ICRS")), "Reference frame")
    h["WCSNAMEP"] = ("PHYSICAL", "Physical (sky pixel) coordinates")
    for i, axis, name in ((1, grid.x, obs.sky.x_column), (2, grid.y, obs.sky.y_column)):
        h[f"WCSTY{i}P"] = ("PHYSICAL", "")
        h[f"CTYPE{i}P"] = (name, "Physical axis")
        h[f"CRVAL{i}P"] = (axis.lo, "Physical coord of the image edge")
        h[f"CRPIX{i}P"] = (0.5, "Image edge")
        h[f"CDELT{i}P"] = (axis.step, "Image pixel size (sky pixels)")
        h[f"CUNIT{i}P"] = ("pixel", "")
    for i, axis in ((1, grid.x), (2, grid.y)):
        h[f"LTV{i}"] = (0.5 - axis.lo / axis.step, "image = LTM * physical + LTV")
    h["LTM1_1"] = (1.0 / grid.x.step, "")
    h["LTM1_2"] = (0.0, "")
    h["LTM2_1"] = (0.0, "")
    h["LTM2_2"] = (1.0 / grid.y.step, "")
    return h


def counts_hdu(obs: Observation, grid: Grid, band: Band, counts: np.ndarray) -> fits.PrimaryHDU:
    """The counts image of one band, as CIAO's dmcopy binning makes it."""
    hdu = fits.PrimaryHDU(counts.astype(np.int32, copy=False))
    h = hdu.header
    h.extend(observation_keywords(obs), unique=True)
    h.extend(wcs_keywords(obs, grid), update=True)
    h["HDUNAME"] = ("EVENTS_IMAGE", "Block name")
    h["CREATOR"] = (f"fluximage {__version__}", "tool that created this output")
    h.add_comment(f"Adding keywords for band={band.label}")
    for key, (value, comment) in band.header_keywords().items():
        h[key] = (value, comment)
    return hdu


# --------------------------------------------------------------------------
# writing


@dataclass
class Transaction:
    """Products written under temporary names and renamed together on :meth:`commit`.

    A failed or interrupted run calls :meth:`rollback`: no partial product is left.
    """

    written: dict[str, str] = field(default_factory=dict)  # final path -> temporary path

    def write(self, path: str, hdus: fits.HDUList | fits.PrimaryHDU) -> None:
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
        )
        os.close(fd)
        try:
            if isinstance(hdus, fits.PrimaryHDU):
                hdus = fits.HDUList([hdus])
            hdus.writeto(tmp, overwrite=True, checksum=False)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        old = self.written.pop(path, None)
        if old:
            with contextlib.suppress(OSError):
                os.unlink(old)
        self.written[path] = tmp

    def commit(self) -> list[str]:
        """Rename every product into place; returns the final paths in writing order."""
        for final, tmp in self.written.items():
            os.replace(tmp, final)
        done = list(self.written)
        self.written.clear()
        return done

    def rollback(self) -> None:
        for tmp in self.written.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self.written.clear()
