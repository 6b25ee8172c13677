"""The one calibration interface the instrument-map stage uses.

Two implementations: :mod:`.caldb_calibration` reads a real Chandra CALDB
(``$CALDB``); :mod:`.builtin` uses compact tables shipped with the package.
Everything is a pure function of arrays; units are in the names or docstrings.
Detectors are named ``"ACIS"``, ``"HRC-I"`` or ``"HRC-S"``; ``chip`` is the
CCD_ID (ACIS 0–9) or CHIP_ID (HRC-I 0, HRC-S 1–3); times are Chandra MET
seconds (``time_met``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Calibration"]



@runtime_checkable
class Calibration(Protocol):
    """What an instrument map needs to know about the telescope and detectors."""

    #: One line for the user and for the CALIB header keyword, e.g. "built-in (...)" or
    #: "CALDB /soft/caldb (4.12.0)".
    source: str

    #: Whether :meth:`vignetting` depends on the azimuth φ.  When it does not, instrument
    #: maps pass ``phi_deg=None`` and do not compute φ for every pixel.
    vignetting_uses_azimuth: bool

    def mirror_area(self, energy_kev: np.ndarray) -> np.ndarray:
        """On-axis HRMA effective area (cm²) at each energy."""
        ...

    def vignetting(
        self, energy_kev: float | np.ndarray, theta_arcmin: np.ndarray, phi_deg: np.ndarray | None
    ) -> np.ndarray:
        """Off-axis area as a fraction of the on-axis area (1 on axis).

        ``phi_deg`` is the MSC azimuth of :func:`fluximage.geometry.pixlib.chip_off_axis`
        (see :mod:`.vignetting` for the convention).  ``energy_kev``: one energy, or a 1-D
        array of energies; then the result has a leading energy axis.
        """
        ...

    def detector_qe(
        self, detector: str, chip: int, energy_kev: np.ndarray, time_met: float
    ) -> np.ndarray:
        """Quantum efficiency (incl. filters/shields) of a chip, 0..1."""
        ...

    def qe_uniformity(
        self, detector: str, chip: int, energy_kev: float, chipx: np.ndarray, chipy: np.ndarray
    ) -> np.ndarray:
        """Relative QE at chip pixels (1 where uniform)."""
        ...

    def contamination(
        self,
        chip: int,
        energy_kev: float | np.ndarray,
        chipx: np.ndarray,
        chipy: np.ndarray,
        time_met: float,
    ) -> np.ndarray:
        """ACIS contaminant transmission at chip pixels at that time, 0..1.

        ``energy_kev``: one energy, or a 1-D array of energies; then the result has a
        leading energy axis (the spatial part of the model is evaluated once for all).
        """
        ...

    def dead_area(self, chip: int, chipy: np.ndarray, frame_time_s: float) -> np.ndarray:
        """ACIS fraction of a pixel lost to cosmic rays (0 for BI chips)."""
        ...

    def zeroth_order(self, grating: str, energy_kev: np.ndarray) -> np.ndarray:
        """Zeroth-order efficiency of a transmission grating (HETG/LETG), 0..1."""
        ...

    def bad_pixel_file(self, detector: str, time_met: float) -> str | None:
        """The calibration bad-pixel file (badpixfile=CALDB), or None if there is none."""
        ...
