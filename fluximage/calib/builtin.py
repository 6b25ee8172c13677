"""The built-in :class:`~fluximage.calib.interface.Calibration`: no CALDB needed.

It uses the compact tables in ``fluximage/calib/data`` (made by
``tools/make_builtin_calibration.py`` from public data; each file names its sources):

==================  ============================================================================
quantity            table and model
==================  ============================================================================
mirror area         ``hrma_area.csv``: CIAO ARFs made with the current CALDB HRMA area (axeffa
                    N0008) ÷ (vignetting × QE N0006 × contamination N0007), 0.5-11 keV, knots
                    down to the ARFs' 0.01-keV steps through the Ir M edges; MARX ray trace
                    below 0.5 keV; linear in log E, end values outside
vignetting          ``hrma_vignetting.npz``: the real CALDB ``hrmaD1996-12-20vignetN0003``
                    (SHELL 1111) table V(φ, θ, E), whole; interpolated as the CALDB path
                    does (:mod:`.vignetting`: linear in E, bilinear in θ and φ)
ACIS QE             ``acis_qe.csv``: CALDB ``acisD1997-04-17qeN0006`` per CCD, thinned rows
                    (≤ 0.5 % off the file in 0.5-8 keV, ≤ 1 % in 0.3-0.5 keV); linear in E, 0
                    outside 0.05-12 keV
HRC QE              ``hrc_qe.csv``: MARX MCP QE × UV/ion shield (HRC-I; HRC-S plates 1 and 3
                    thin wing, plate 2 thin centre section); HRC-I × ``hrc_i_qe_time.csv``, an
                    approximate decline (1 in 2002, ≈0.88 in mid-2019, ≈0.82 in late 2021,
                    linear between, 1 before 2002, the mean rate after the last date); HRC-S
                    has no time dependence
QE uniformity       none: 1 everywhere (no QEU maps are built in)
contamination       ``acis_contamination.npz``: CALDB N0007 to 2014-06, then a late layer
                    calibrated on PIMMS cycle-18/20 aimpoint areas (:mod:`.builtin_contamination`)
dead area           FI chips 0.006508 s⁻¹ × (frame time + CHIPY × 2.85 ms), BI (5, 7) zero
zeroth order        ``zeroth_order.csv``: CALDB HETG/LETG greff N0007 order 0, shell-weighted
bad pixels          none (no CALDB bad-pixel file)
==================  ============================================================================
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..messages import FluximageError
from .builtin_contamination import ContaminationModel
from .builtin_tables import (
    dead_fraction,
    interp_log_energy,
    interp_zero_outside,
    read_csv_table,
    read_npz_table,
)
from .vignetting import VignettingTable

BUILTIN_SOURCE = (
    "built-in (HRMA: CIAO ARFs with CALDB axeffa N0008 / QE, MARX below 0.5 keV; vignetting: "
    "CALDB hrmaD1996-12-20vignetN0003; QE: CALDB acisD1997-04-17qeN0006, "
    "HRC: MARX MCP QE x UV/ion shield; "
    "QEU: none (uniform); contamination: CALDB N0007 to 2014-06 + PIMMS cycle 18/20 aimpoint "
    "model; see fluximage/calib/data)"
)
#: Dead-area coefficient of the FI CCDs (s⁻¹), CALDB ``acisD1999-09-16dead_areaN0001``.
FI_DEAD_AREA_PER_S = 0.006508
BI_CHIPS = (5, 7)
HRC_S_COLUMNS = {1: "hrc_s1", 2: "hrc_s2", 3: "hrc_s3"}
GRATINGS = ("HETG", "LETG")


class BuiltinCalibrationError(FluximageError):
    """A detector, chip or grating the built-in calibration does not know."""


def _detector(detector: str) -> str:
    name = str(detector).strip().upper()
    if name.startswith("ACIS"):
        return "ACIS"
    if name in ("HRC-I", "HRC-S"):
        return name
    raise BuiltinCalibrationError(f"Unknown detector '{detector}' (expected ACIS, HRC-I or HRC-S)")


@dataclass(frozen=True, eq=False)
class Curve:
    """Values on an increasing energy grid (keV)."""

    energy_kev: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class BuiltinCalibration:
    """The built-in calibration (see the module docstring for the tables and models)."""

    source: str
    mirror: Curve
    vignetting_table: VignettingTable
    acis_qe: dict[int, Curve]
    hrc_qe: dict[str, Curve]  # "hrc_i", "hrc_s1", "hrc_s2", "hrc_s3"
    hrc_i_decline: Curve  # energy_kev holds the times (MET s)
    contam: ContaminationModel
    zeroth: dict[str, Curve]  # "HETG", "LETG"
    vignetting_uses_azimuth: ClassVar[bool] = True  # the CALDB table has a PHI axis

    # ---- the protocol ---------------------------------------------------------------------

    def mirror_area(self, energy_kev: np.ndarray) -> np.ndarray:
        """On-axis HRMA effective area (cm²), linear in log E, end values outside the table."""
        return interp_log_energy(energy_kev, self.mirror.energy_kev, self.mirror.values)

    def vignetting(
        self, energy_kev: float | np.ndarray, theta_arcmin: np.ndarray, phi_deg: np.ndarray
    ) -> np.ndarray:
        """V(E, θ, φ) of the CALDB VIGNET table (1 on axis); an array of energies gives a
        leading energy axis."""
        return self.vignetting_table(energy_kev, theta_arcmin, phi_deg)

    def detector_qe(
        self, detector: str, chip: int, energy_kev: np.ndarray, time_met: float
    ) -> np.ndarray:
        """QE of a chip (ACIS incl. the optical blocking filter; HRC incl. the UV/ion shield)."""
        det = _detector(detector)
        if det == "ACIS":
            curve = self.acis_qe.get(int(chip))
            if curve is None:
                raise BuiltinCalibrationError(f"No ACIS QE for CCD_ID {chip} (expected 0-9)")
            return interp_zero_outside(energy_kev, curve.energy_kev, curve.values)
        if det == "HRC-I":
            curve = self.hrc_qe["hrc_i"]
            scale = self.hrc_i_relative_qe(time_met)
        else:
            column = HRC_S_COLUMNS.get(int(chip))
            if column is None:
                raise BuiltinCalibrationError(f"No HRC-S QE for CHIP_ID {chip} (expected 1-3)")
            curve, scale = self.hrc_qe[column], 1.0
        return scale * interp_zero_outside(energy_kev, curve.energy_kev, curve.values)

    def qe_uniformity(
        self, detector: str, chip: int, energy_kev: float, chipx: np.ndarray, chipy: np.ndarray
    ) -> np.ndarray:
        """1 everywhere (a read-only broadcast): the built-in calibration has no
        QE-uniformity maps."""
        _detector(detector)
        return np.broadcast_to(1.0, np.broadcast(np.asarray(chipx), np.asarray(chipy)).shape)

    def contamination(
        self,
        chip: int,
        energy_kev: float | np.ndarray,
        chipx: np.ndarray,
        chipy: np.ndarray,
        time_met: float,
    ) -> np.ndarray:
        """ACIS contaminant transmission at chip pixels (:mod:`.builtin_contamination`);
        an array of energies gives a leading energy axis."""
        try:
            return self.contam.transmission(int(chip), energy_kev, chipx, chipy, time_met)
        except ValueError as err:
            raise BuiltinCalibrationError(str(err)) from None

    def dead_area(self, chip: int, chipy: np.ndarray, frame_time_s: float) -> np.ndarray:
        """FI: 0.006508 s⁻¹ × (frame time + CHIPY × 2.85 ms); BI chips (5, 7): 0."""
        if int(chip) in BI_CHIPS:
            return np.zeros(np.shape(chipy))
        return dead_fraction(FI_DEAD_AREA_PER_S, chipy, frame_time_s)

    def zeroth_order(self, grating: str, energy_kev: np.ndarray) -> np.ndarray:
        """Zeroth-order efficiency of HETG or LETG (end values outside 0.03-10 keV); NONE: 1."""
        name = (grating or "NONE").strip().upper()
        energy = np.asarray(energy_kev, float)
        if name in ("", "NONE"):
            return np.ones(energy.shape)
        curve = self.zeroth.get(name)
        if curve is None:
            raise BuiltinCalibrationError(
                f"Unknown grating '{grating}' (expected NONE, HETG or LETG)"
            )
        return np.interp(energy, curve.energy_kev, curve.values)

    def bad_pixel_file(self, detector: str, time_met: float) -> str | None:
        """None: the built-in calibration has no CALDB bad-pixel file."""
        _detector(detector)
        return None

    # ---- helpers ---------------------------------------------------------------------------

    def hrc_i_relative_qe(self, time_met: float) -> float:
        """HRC-I QE relative to the 2002 model: linear between the dates of the table, 1 before
        the first, and after the last continuing at the mean rate since the first (≥ 0)."""
        times, values = self.hrc_i_decline.energy_kev, self.hrc_i_decline.values
        t = float(time_met)
        if t <= times[-1]:
            return float(np.interp(t, times, values))
        rate = (values[-1] - values[0]) / (times[-1] - times[0])
        return max(0.0, float(values[-1] + rate * (t - times[-1])))


def _curve(table, x: str, y: str) -> Curve:
    return Curve(table[x], table[y])


@functools.cache
def builtin_calibration() -> BuiltinCalibration:
    """The built-in calibration (tables read once)."""
    vig = read_npz_table("hrma_vignetting.npz")
    qe = read_csv_table("acis_qe.csv")
    hrc = read_csv_table("hrc_qe.csv")
    zeroth = read_csv_table("zeroth_order.csv")
    acis_qe = {}
    for ccd in np.unique(qe["ccd_id"]).astype(int):
        rows = qe["ccd_id"] == ccd
        acis_qe[int(ccd)] = Curve(qe["energy_kev"][rows], qe["qe"][rows])
    return BuiltinCalibration(
        source=BUILTIN_SOURCE,
        mirror=_curve(read_csv_table("hrma_area.csv"), "energy_kev", "area_cm2"),
        vignetting_table=VignettingTable(
            vig["energy_kev"], vig["theta_arcmin"], vig["phi_deg"], vig["vignet"]
        ),
        acis_qe=acis_qe,
        hrc_qe={k: _curve(hrc, "energy_kev", k) for k in ("hrc_i", *HRC_S_COLUMNS.values())},
        hrc_i_decline=_curve(read_csv_table("hrc_i_qe_time.csv"), "time_met", "relative_qe"),
        contam=ContaminationModel.load(),
        zeroth={g: _curve(zeroth, "energy_kev", g.lower()) for g in GRATINGS},
    )
