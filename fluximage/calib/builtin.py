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
HRC QE              ``hrc_qe.csv``: the real CALDB QE files at launch (HRC-I
                    hrciD1999-07-22qeN0008 × a smooth renormalisation to the PIMMS area;
                    HRC-S hrcsD1999-07-22qeN0010, one shield region per plate) ×
                    ``hrc_i_qe_time.csv`` / ``hrc_s_qe_time.csv``: the decline in time, a
                    'soft' and a 'hard' factor (linear in energy between the two regimes,
                    linear in time between the rows, held before the first and after the
                    last; each row's source in the file)
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
    date_from_met,
    dead_fraction,
    interp_log_energy,
    interp_zero_outside,
    read_csv_table,
    read_npz_table,
)
from .vignetting import VignettingTable

__all__ = [
    "BI_CHIPS",
    "BUILTIN_SOURCE",
    "FI_DEAD_AREA_PER_S",
    "GRATINGS",
    "HRC_DECLINE_BANDS",
    "HRC_S_COLUMNS",
    "BuiltinCalibration",
    "BuiltinCalibrationError",
    "Curve",
    "HrcDecline",
    "builtin_calibration",
]


BUILTIN_SOURCE = (
    "built-in (HRMA: CIAO ARFs with CALDB axeffa N0008 / QE, MARX below 0.5 keV; vignetting: "
    "CALDB hrmaD1996-12-20vignetN0003; QE: CALDB acisD1997-04-17qeN0006, "
    "HRC: CALDB hrciD1999-07-22qeN0008 / hrcsD1999-07-22qeN0010 x published decline; "
    "QEU: none (uniform); contamination: CALDB N0007 to 2014-06 + PIMMS cycle 18/20 and "
    "cycle-21 ARF aimpoint model; see fluximage/calib/data)"
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
class HrcDecline:
    """HRC QE relative to launch: a 'soft' and a 'hard' factor at each time (MET s), linear in
    time between the rows (a repeated time is a step), held outside them; below
    ``soft_below_kev`` the soft factor applies, above ``hard_above_kev`` the hard one, linear
    in energy between."""

    time_met: np.ndarray
    soft: np.ndarray
    hard: np.ndarray
    soft_below_kev: float
    hard_above_kev: float

    def __call__(self, energy_kev, time_met: float) -> np.ndarray:
        t = float(time_met)
        soft = float(np.interp(t, self.time_met, self.soft))
        hard = float(np.interp(t, self.time_met, self.hard))
        span = self.hard_above_kev - self.soft_below_kev
        w = np.clip((np.asarray(energy_kev, float) - self.soft_below_kev) / span, 0.0, 1.0)
        return soft + w * (hard - soft)


#: Energy regimes (keV) of the HRC decline tables: HRC-I, the CALDB scales the QE below
#: 626 eV to HZ 43 (CXC HRC-I QE vN0011 page) and the decline is grey above ~0.7 keV (v12);
#: HRC-S, the HZ 43 decline applies at λ ≥ 60 Å, the Mkn 421 correction fades out at 20 Å
#: (HRC-S QE N0015 ECR).
HRC_DECLINE_BANDS = {"HRC-I": ("hrc_i_qe_time.csv", 0.626, 0.70),
                     "HRC-S": ("hrc_s_qe_time.csv", 0.207, 0.62)}  # fmt: skip


@dataclass(frozen=True, eq=False)
class BuiltinCalibration:
    """The built-in calibration (see the module docstring for the tables and models)."""

    source: str
    mirror: Curve
    vignetting_table: VignettingTable
    acis_qe: dict[int, Curve]
    hrc_qe: dict[str, Curve]  # "hrc_i", "hrc_s1", "hrc_s2", "hrc_s3": at launch
    hrc_decline: dict[str, HrcDecline]  # "HRC-I", "HRC-S"
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
        else:
            column = HRC_S_COLUMNS.get(int(chip))
            if column is None:
                raise BuiltinCalibrationError(f"No HRC-S QE for CHIP_ID {chip} (expected 1-3)")
            curve = self.hrc_qe[column]
        scale = self.hrc_decline[det](energy_kev, time_met)
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

    def caveats(self, detector: str, time_met: float, energies_kev) -> list[str]:
        """Warnings for an observation whose maps rest on extrapolated tables: ACIS after the
        last published contamination anchor of either array, at energies below 1.5 keV."""
        if _detector(detector) != "ACIS":
            return []
        low = [e for e in np.ravel(energies_kev) if e < 1.5]
        last = max(float(times[-1]) for times in self.contam.late_time_met.values())
        if not low or float(time_met) <= last:
            return []
        when = date_from_met(last).date().isoformat()
        return [
            f"WARNING: the built-in ACIS contamination is extrapolated after {when}: at "
            f"{min(low):g} keV the exposure maps may be off by a factor of 2-3 at 0.5-0.7 keV "
            "and 25 % at 1 keV; set $CALDB to a Chandra CALDB for soft-band science."
        ]


def _curve(table, x: str, y: str) -> Curve:
    return Curve(table[x], table[y])


def _decline(name: str, soft_below_kev: float, hard_above_kev: float) -> HrcDecline:
    table = read_csv_table(name)
    return HrcDecline(table["time_met"], table["soft"], table["hard"], soft_below_kev,
                      hard_above_kev)  # fmt: skip


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
        hrc_decline={det: _decline(*bands) for det, bands in HRC_DECLINE_BANDS.items()},
        contam=ContaminationModel.load(),
        zeroth={g: _curve(zeroth, "energy_kev", g.lower()) for g in GRATINGS},
    )
