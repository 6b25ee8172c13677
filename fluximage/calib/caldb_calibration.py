"""The :class:`~fluximage.calib.interface.Calibration` of a real Chandra CALDB (``$CALDB``).

Every dataset is found with :func:`fluximage.calib.caldb.query` for the observation
(date, FP_TEMP, DATAMODE, CTI_APP, OBS_MODE from the event header) and read with
:mod:`.caldb_readers`:

==================  ==========  ===========================================================
quantity            index       selection
==================  ==========  ===========================================================
mirror area         default     ``AXEFFA``, ``SHELL(1111)``
vignetting          default     ``VIGNET``, ``SHELL(1111)``
ACIS QE             acis        ``QE``, ``CCD_ID``, ``DATAMODE`` (FAINT when not in header)
ACIS QEU            acis        ``QEU``, ``CCD_ID``, ``FP_TEMP``, ``CTI_APP``, date
contamination       acis        ``CONTAM``, ``CCD_ID``, date of ``time_met``
dead area           acis        ``DEAD_AREA``, ``CCD_ID``
HRC QE / QEU        hrc         ``QE``/``QEU``, DETNAM, ``CHIP_ID``; QE by date of ``time_met``
zeroth order        default     ``GREFF`` (GRATING) per shell 1000/0100/0010/0001, weighted
                                by the shell areas (``AXEFFA`` SHELL 1000…0001)
bad pixels          acis/hrc    ``BADPIX``: FP_TEMP, DATAMODE, OBS_MODE (POINTING) / DETNAM
==================  ==========  ===========================================================

A file the index names but that is not installed raises :class:`CaldbError` naming it.
The dead area of a chip is ``c·(frame time + CHIPY·t_row)`` with the CCD's coefficient
``c`` (s⁻¹) and ``t_row`` = 2.85 ms (docs/calibration.md); CALDB 4.12 marks the I3 and
S1 rows of the dead-area index as CAL_QUAL 2, so a chip without a good row takes its
coefficient from the extension of the same file whose ``CCD_ID`` is that chip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import caldb_readers as readers
from .caldb import CaldbError, index_path, query, query_one, read_index, select_rows, to_mjd

__all__ = [
    "CHANDRA_MJDREF",
    "CHIP_PIXELS",
    "HRMA_SHELLS",
    "ROW_READ_TIME_S",
    "SECONDS_PER_DAY",
    "CaldbCalibration",
    "ObservationInfo",
    "caldb_calibration",
    "caldb_version",
]


CHANDRA_MJDREF = 50814.0
ROW_READ_TIME_S = 2.85e-3
SECONDS_PER_DAY = 86400.0
HRMA_SHELLS = (1000, 100, 10, 1)  # SHELL(1000), (0100), (0010), (0001)
CHIP_PIXELS = {"ACIS": (1024, 1024), "HRC-I": (16384, 16384), "HRC-S": (4096, 16456)}


@dataclass(frozen=True)
class ObservationInfo:
    """What the CALDB selection needs to know about the observation."""

    date_mjd: float | None = None
    mjdref: float = CHANDRA_MJDREF
    fp_temp_k: float | None = None
    datamode: str | None = None
    cti_app: str | None = None
    obs_mode: str | None = None
    grating: str = "NONE"

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> ObservationInfo:
        """Read DATE-OBS (or MJDREF + TSTART), FP_TEMP, DATAMODE, CTI_APP, OBS_MODE, GRATING."""
        mjdref = _number(header.get("MJDREF")) or CHANDRA_MJDREF
        date = None
        if _text(header.get("DATE-OBS")):
            date = to_mjd(_text(header.get("DATE-OBS")))
        elif _number(header.get("TSTART")) is not None:
            date = mjdref + _number(header.get("TSTART")) / SECONDS_PER_DAY
        return cls(
            date_mjd=date, mjdref=mjdref, fp_temp_k=_number(header.get("FP_TEMP")),
            datamode=_text(header.get("DATAMODE")), cti_app=_text(header.get("CTI_APP")),
            obs_mode=_text(header.get("OBS_MODE")), grating=_text(header.get("GRATING")) or "NONE",
        )  # fmt: skip

    def met_to_mjd(self, time_met: float | None) -> float | None:
        """MJD of a Chandra MET; the observation date when the time is missing."""
        if time_met is None or not math.isfinite(float(time_met)):
            return self.date_mjd
        return self.mjdref + float(time_met) / SECONDS_PER_DAY


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _detector(detector: str) -> str:
    name = detector.strip().upper()
    if name.startswith("ACIS"):
        return "ACIS"
    if name in ("HRC-I", "HRC-S"):
        return name
    raise CaldbError(f"Unknown detector '{detector}' (expected ACIS, HRC-I or HRC-S)")


def caldb_version(root: str | Path) -> str | None:
    """The CALDB version: first field of the last line of ``caldb_version.txt``."""
    path = Path(root) / "docs" / "chandra" / "caldb_version" / "caldb_version.txt"
    try:
        lines = [ln.split() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return None
    fields = [ln for ln in lines if ln and not ln[0].startswith("#")]
    return fields[-1][0] if fields else None


@dataclass(frozen=True)
class CaldbCalibration:
    """Calibration read from the CALDB tree ``root`` for one observation."""

    root: Path
    observation: ObservationInfo
    source: str
    vignetting_uses_azimuth: ClassVar[bool] = True  # VIGNET has a PHI axis
    _found: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # ---- queries ----------------------------------------------------------------------

    def _one(self, branch: str, codename: str, **kw) -> tuple[Path, int]:
        key = (branch, codename, tuple(sorted((k, repr(v)) for k, v in kw.items())))
        if key not in self._found:
            self._found[key] = query_one(self.root, branch, codename, **kw)
        return self._found[key]

    def _date(self, time_met: float | None = None) -> float | None:
        return self.observation.met_to_mjd(time_met)

    def _acis_bounds(self, ccd: int, *names: str) -> dict[str, Any]:
        obs = self.observation
        known = {
            "CCD_ID": int(ccd), "FP_TEMP": obs.fp_temp_k, "CTI_APP": obs.cti_app,
            "DATAMODE": obs.datamode or "FAINT", "OBS_MODE": obs.obs_mode or "POINTING",
        }  # fmt: skip
        return {k: known[k] for k in ("CCD_ID", *names) if known[k] is not None}

    # ---- the protocol -----------------------------------------------------------------

    def mirror_area(self, energy_kev: np.ndarray) -> np.ndarray:
        """On-axis HRMA effective area (cm²), AXEFFA SHELL 1111."""
        path, ext = self._shell_area_file(1111)
        return readers.read_effective_area(path, ext)(energy_kev)

    def _shell_area_file(self, shell: int) -> tuple[Path, int]:
        return self._one("default", "AXEFFA", date=self._date(), boundaries={"SHELL": shell})

    def vignetting(
        self, energy_kev: float | np.ndarray, theta_arcmin: np.ndarray, phi_deg: np.ndarray
    ) -> np.ndarray:
        """Off-axis area / on-axis area, VIGNET SHELL 1111 (linear in E, bilinear in θ, φ:
        :mod:`.vignetting`); an array of energies gives a leading energy axis."""
        path, ext = self._one("default", "VIGNET", date=self._date(), boundaries={"SHELL": 1111})
        return readers.read_vignetting(path, ext)(energy_kev, theta_arcmin, phi_deg)

    def detector_qe(
        self, detector: str, chip: int, energy_kev: np.ndarray, time_met: float
    ) -> np.ndarray:
        """Mean QE of a chip (ACIS incl. the optical blocking filter; HRC incl. the shield)."""
        det = _detector(detector)
        if det == "ACIS":
            bounds = self._acis_bounds(chip, "DATAMODE")
            path, ext = self._one("acis", "QE", date=self._date(time_met), boundaries=bounds)
            return readers.read_qe(path, ext, ccd=chip)(energy_kev)
        path, ext = self._one(
            "hrc", "QE", date=self._date(time_met), detnam=det, boundaries={"CHIP_ID": int(chip)}
        )
        return readers.read_qe(path, ext)(energy_kev)

    def qe_uniformity(
        self, detector: str, chip: int, energy_kev: float, chipx: np.ndarray, chipy: np.ndarray
    ) -> np.ndarray:
        """Relative QE at chip pixels (QEU file of the observation date)."""
        det = _detector(detector)
        if det == "ACIS":
            bounds = self._acis_bounds(chip, "FP_TEMP", "CTI_APP")
            path, ext = self._one("acis", "QEU", date=self._date(), boundaries=bounds)
            table = readers.read_uniformity(path, ext, CHIP_PIXELS[det], ccd=chip)
        else:
            path, ext = self._one(
                "hrc", "QEU", date=self._date(), detnam=det, boundaries={"CHIP_ID": int(chip)}
            )
            table = readers.read_uniformity(path, ext, CHIP_PIXELS[det])
        return table(energy_kev, chipx, chipy)

    def contamination(
        self,
        chip: int,
        energy_kev: float | np.ndarray,
        chipx: np.ndarray,
        chipy: np.ndarray,
        time_met: float,
    ) -> np.ndarray:
        """ACIS contaminant transmission exp(−Σ μ(E)[τ0(t) + τ1(t)·f(x, y)]); an array of
        energies gives a leading energy axis."""
        path, ext = self._one(
            "acis", "CONTAM", date=self._date(time_met), boundaries={"CCD_ID": int(chip)}
        )
        model = readers.read_contamination(path, ext, ccd=chip)
        return model.transmission(energy_kev, chipx, chipy, time_met)

    def _has(self, branch: str, codename: str, **kw) -> bool:
        """Whether the index has a good dataset for the query (installed or not)."""
        index = read_index(index_path(self.root, branch))
        return bool(select_rows(index, branch, codename, **kw))

    def dead_area_coefficient(self, chip: int) -> float:
        """The CCD's dead-area coefficient (fraction of area lost per second)."""
        date, bounds = self._date(), {"CCD_ID": int(chip)}
        if self._has("acis", "DEAD_AREA", date=date, boundaries=bounds):
            path, ext = self._one("acis", "DEAD_AREA", date=date, boundaries=bounds)
            return readers.read_dead_area(path, ext, ccd=chip)
        path = query(self.root, "acis", "DEAD_AREA", date=date)[0][0]  # the other chips' file
        ext = readers.find_ccd_extension(path, chip)
        if ext is None:
            raise CaldbError(f"No CALDB DEAD_AREA dataset for CCD_ID {chip} (nor in {path})")
        return readers.read_dead_area(path, ext, ccd=chip)

    def dead_area(self, chip: int, chipy: np.ndarray, frame_time_s: float) -> np.ndarray:
        """Fraction of a pixel lost to cosmic rays: c·(frame time + CHIPY·t_row)."""
        coeff = self.dead_area_coefficient(chip)
        exposed_s = float(frame_time_s) + np.asarray(chipy, float) * ROW_READ_TIME_S
        return np.clip(coeff * exposed_s, 0.0, 1.0)

    def zeroth_order(self, grating: str, energy_kev: np.ndarray) -> np.ndarray:
        """Zeroth-order efficiency: Σ_shell A_s(E)·g0_s(E) / Σ_shell A_s(E); 1 for NONE."""
        name = (grating or "NONE").strip().upper()
        energy = np.asarray(energy_kev, float)
        if name in ("", "NONE"):
            return np.ones(energy.shape)
        weighted = np.zeros(energy.shape)
        total = np.zeros(energy.shape)
        for shell in HRMA_SHELLS:
            g_path, g_ext = self._one(
                "default", "GREFF", date=self._date(), grating=name, boundaries={"SHELL": shell}
            )
            area = readers.read_effective_area(*self._shell_area_file(shell))(energy)
            weighted += area * readers.read_grating_efficiency(g_path, g_ext, 0)(energy)
            total += area
        return np.divide(weighted, total, out=np.zeros(energy.shape), where=total > 0)

    def bad_pixel_file(self, detector: str, time_met: float) -> str | None:
        """The CALDB bad-pixel file for badpixfile=CALDB (None when no dataset matches)."""
        det = _detector(detector)
        date = self._date(time_met)
        if det == "ACIS":
            bounds = self._acis_bounds(0, "FP_TEMP", "DATAMODE", "OBS_MODE")
            bounds.pop("CCD_ID")
            kw: dict[str, Any] = {"date": date, "boundaries": bounds}
        else:
            kw = {"date": date, "detnam": det}
        branch = "acis" if det == "ACIS" else "hrc"
        if not self._has(branch, "BADPIX", **kw):
            return None
        found = query(self.root, branch, "BADPIX", **kw)
        files = sorted({str(p) for p, _ in found})
        if len(files) != 1:
            raise CaldbError(f"Several CALDB bad-pixel files match: {', '.join(files)}")
        return files[0]


def caldb_calibration(root: str | Path, header: Mapping[str, Any]) -> CaldbCalibration:
    """The CALDB calibration of the observation whose event header is ``header``."""
    root = Path(root)
    if not root.is_dir():
        raise CaldbError(f"The CALDB directory {root} does not exist")
    version = caldb_version(root)
    source = f"CALDB {root}" + (f" ({version})" if version else "")
    return CaldbCalibration(root, ObservationInfo.from_header(header), source)
