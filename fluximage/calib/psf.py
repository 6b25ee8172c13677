"""PSF size: the radius (arcsec) of the circle enclosing a fraction of a point source's counts.

This is what CIAO's ``mkpsfmap`` looks up for each image pixel.  Two sources of numbers:

- the CALDB "REEF" dataset (radial encircled-energy fraction, CAL_CNAM ``REEF`` in the
  ``default`` index branch, e.g. ``data/chandra/default/reef/hrmaD1996-12-20reefN0001.fits``):
  a binary table of one row whose vector columns ``ENERGY`` (keV), ``THETA`` (arcmin),
  ``PHI`` (deg) and ``ECF`` are the axes of the 4-D column ``RADIUS`` (arcsec); the order in
  which the axes vary, fastest first, is given by ``CREFn`` or the ``iCTYPn`` keywords of the
  RADIUS column (default ECF, THETA, PHI, ENERGY).  The index names extension 0 but the
  table is the first extension, so the reader looks for the table holding ``RADIUS``;
- the built-in table ``data/psf_size.csv`` (made by ``tools/make_psf_table.py``; its header
  names its sources): 1.49 and 6.4 keV, θ = 0-20′, ECF 0.5 / 0.95 / 0.99, no azimuth.

Both are an :class:`EncircledEnergyTable`, interpolated linearly in energy, θ, φ (periodic)
and ECF, clamped to the table's ends in energy and θ.  Below the smallest tabulated ECF f₀
the radius follows a Gaussian core, ``r(f) = r(f₀)·sqrt(ln(1 − f) / ln(1 − f₀))``; above the
largest it stays at the largest ECF's radius.  Radii are made non-decreasing in ECF, so the
result grows monotonically with the fraction asked for.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from astropy.io import fits

from ..messages import FluximageError
from .builtin_tables import read_csv_table
from .caldb import CaldbError, caldb_root, query_one

__all__ = [
    "BUILTIN_PSF_SOURCE",
    "BUILTIN_TABLE",
    "EncircledEnergyTable",
    "PsfSize",
    "builtin_psf_size",
    "caldb_psf_size",
    "check_ecf",
    "find_reef",
    "load_psf_size",
    "read_reef",
]


BUILTIN_TABLE = "psf_size.csv"
BUILTIN_PSF_SOURCE = (
    "built-in PSF size (1.49 keV: Feigelson et al. 2002 fits to CIAO mkpsf ACIS-I radii; "
    "6.4 keV: scaled by MARX 5.5.3 ratios; see fluximage/calib/data/psf_size.csv)"
)
_AXES = ("ENERGY", "THETA", "PHI", "ECF")  # canonical order of EncircledEnergyTable.radius
_FIELDS = ("energy_kev", "theta_arcmin", "phi_deg", "ecf")  # the same axes as attributes
_DEFAULT_ORDER = ("ECF", "THETA", "PHI", "ENERGY")  # fastest first, as in the REEF file
#: Radius units accepted in a REEF file and their size in arcsec.
_RADIUS_UNITS = {"arcsec": 1.0, "arcmin": 60.0, "deg": 3600.0, "degree": 3600.0}


@runtime_checkable
class PsfSize(Protocol):
    """Radius (arcsec) enclosing a fraction ``ecf`` of a point source's counts."""

    #: One line for the user and the header, like :attr:`Calibration.source`.
    source: str

    def radius_arcsec(
        self, energy_kev: float, theta_arcmin: np.ndarray, phi_deg: np.ndarray, ecf: float
    ) -> np.ndarray:
        """Radius (arcsec) at one energy (keV) for off-axis angles θ (arcmin), φ (deg)."""
        ...

    def mean_radius_arcsec(
        self,
        energy_kev: np.ndarray,
        weight: np.ndarray,
        theta_arcmin: np.ndarray,
        phi_deg: np.ndarray,
        ecf: float,
    ) -> np.ndarray:
        """The weighted mean over energies (keV) of :meth:`radius_arcsec` (arcsec)."""
        ...


def check_ecf(ecf: float) -> float:
    """``ecf`` as a float, or the psfecf error when it is not in (0, 1]."""
    value = float(ecf)
    if not 0.0 < value <= 1.0:
        raise FluximageError(f"psfecf={ecf:g} is not valid, it must be > 0 and <= 1")
    return value


# ---- interpolation -----------------------------------------------------------------------


def _cell(grid: np.ndarray, x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and weight of ``x`` on an increasing grid (clamped)."""
    x = np.asarray(x, float)
    if len(grid) == 1:
        zero = np.zeros(x.shape, dtype=np.intp)
        return zero, zero, np.zeros(x.shape)
    xc = np.clip(x, grid[0], grid[-1])
    i = np.clip(np.searchsorted(grid, xc, side="right") - 1, 0, len(grid) - 2)
    return i, i + 1, (xc - grid[i]) / (grid[i + 1] - grid[i])


def _periodic_cell(grid: np.ndarray, phi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`_cell` for an azimuth (deg) on a grid that wraps at 360."""
    phi = np.asarray(phi, float)
    n = len(grid)
    if n == 1:
        return _cell(grid, phi)
    x = np.mod(phi, 360.0)
    x = np.where(x < grid[0], x + 360.0, x)
    if grid[-1] - grid[0] >= 360.0 - 1e-9:  # the grid already closes the circle
        return _cell(grid, x)
    ext = np.append(grid, grid[0] + 360.0)
    i = np.clip(np.searchsorted(ext, x, side="right") - 1, 0, n - 1)
    w = (x - ext[i]) / (ext[i + 1] - ext[i])
    return i, np.where(i + 1 == n, 0, i + 1), w


def _ecf_terms(knots: np.ndarray, f: float) -> list[tuple[int, float]]:
    """(knot index, coefficient) pairs giving the radius at ECF ``f`` from the knots' radii."""
    if f <= knots[0]:
        if knots[0] >= 1.0:
            return [(0, 1.0)]
        return [(0, float(np.sqrt(np.log1p(-f) / np.log1p(-knots[0]))))]
    if f >= knots[-1]:
        return [(len(knots) - 1, 1.0)]
    i = int(np.searchsorted(knots, f, side="right")) - 1
    w = (f - knots[i]) / (knots[i + 1] - knots[i])
    return [(i, 1.0 - w), (i + 1, w)]


# ---- the table ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EncircledEnergyTable:
    """``radius[energy, theta, phi, ecf]`` (arcsec) on increasing axes keV, arcmin, deg, 0..1."""

    energy_kev: np.ndarray
    theta_arcmin: np.ndarray
    phi_deg: np.ndarray
    ecf: np.ndarray
    radius: np.ndarray
    source: str

    def __post_init__(self):
        axes = [np.atleast_1d(np.asarray(getattr(self, n), float)) for n in _FIELDS]
        radius = np.asarray(self.radius, float)
        if radius.shape != tuple(len(a) for a in axes):
            raise ValueError(f"PSF table: radius shape {radius.shape} does not match its axes")
        phi = axes[2]
        if len(phi) > 1 and phi.max() - phi.min() < 360.0 - 1e-9:
            axes[2] = np.mod(phi, 360.0)  # an open azimuth grid wraps at 360
        for k, axis in enumerate(axes):
            order = np.argsort(axis, kind="stable")
            if np.any(np.diff(axis[order]) <= 0):
                raise ValueError(f"PSF table: repeated values on the {_AXES[k]} axis")
            axes[k] = axis[order]
            radius = np.take(radius, order, axis=k)
        if not np.all(np.isfinite(radius)) or np.any(radius < 0):
            raise ValueError("PSF table: radii must be finite and >= 0")
        if axes[3][0] < 0 or axes[3][-1] > 1:
            raise ValueError("PSF table: ECF values must lie in [0, 1]")
        radius = np.maximum.accumulate(radius, axis=3)  # monotonic in ECF
        for name, value in zip(_FIELDS, axes, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "radius", radius)

    def _plane(self, energy_kev: np.ndarray, weight: np.ndarray, ecf: float) -> np.ndarray:
        """The (theta, phi) plane of radii for an energy mixture at one ECF."""
        terms = _ecf_terms(self.ecf, check_ecf(ecf))
        lo, hi, w = _cell(self.energy_kev, np.asarray(energy_kev, float))
        plane = np.zeros(self.radius.shape[1:3])
        for k, c in terms:
            cube = self.radius[..., k]
            for e0, e1, we, wt in zip(lo, hi, w, weight, strict=True):
                plane += c * wt * ((1.0 - we) * cube[e0] + we * cube[e1])
        return plane

    def _lookup(self, plane: np.ndarray, theta_arcmin, phi_deg) -> np.ndarray:
        theta, phi = np.broadcast_arrays(
            np.asarray(theta_arcmin, float), np.asarray(phi_deg, float)
        )
        t0, t1, wt = _cell(self.theta_arcmin, theta)
        p0, p1, wp = _periodic_cell(self.phi_deg, phi)
        return (1 - wt) * ((1 - wp) * plane[t0, p0] + wp * plane[t0, p1]) + wt * (
            (1 - wp) * plane[t1, p0] + wp * plane[t1, p1]
        )

    def radius_arcsec(
        self, energy_kev: float, theta_arcmin: np.ndarray, phi_deg: np.ndarray, ecf: float
    ) -> np.ndarray:
        """Radius (arcsec) at ``energy_kev`` for θ (arcmin), φ (deg); ``0 < ecf <= 1``."""
        plane = self._plane(np.array([float(energy_kev)]), np.array([1.0]), ecf)
        return self._lookup(plane, theta_arcmin, phi_deg)

    def mean_radius_arcsec(
        self,
        energy_kev: np.ndarray,
        weight: np.ndarray,
        theta_arcmin: np.ndarray,
        phi_deg: np.ndarray,
        ecf: float,
    ) -> np.ndarray:
        """Σ wᵢ r(Eᵢ) / Σ wᵢ (arcsec); exact, since the lookup is linear in the table."""
        energy = np.atleast_1d(np.asarray(energy_kev, float))
        w = np.atleast_1d(np.asarray(weight, float))
        if energy.shape != w.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("PSF mean radius: need one finite weight >= 0 per energy")
        total = w.sum()
        if not total > 0:
            raise ValueError("PSF mean radius: the weights sum to zero")
        return self._lookup(self._plane(energy, w / total, ecf), theta_arcmin, phi_deg)


# ---- the CALDB REEF file ----------------------------------------------------------------


def _axis_order(header: fits.Header, column: int) -> tuple[str, ...]:
    """Names of the RADIUS axes, fastest varying first (CREFn, then iCTYPn/iCTYPEn)."""
    cref = str(header.get(f"CREF{column}", "")).strip()
    if cref:
        names = tuple(n.strip().upper() for n in cref.strip("()").split(",") if n.strip())
        if names:
            return names
    names = []
    for i in range(1, 5):
        value = header.get(f"{i}CTYP{column}", header.get(f"{i}CTYPE{column}"))
        if value is None:
            break
        names.append(str(value).strip().upper())
    return tuple(names) if len(names) == 4 else _DEFAULT_ORDER


def _reef_hdu(hdul: fits.HDUList, extension: int | None) -> fits.BinTableHDU:
    candidates = [hdul[extension]] if extension is not None and extension < len(hdul) else []
    candidates += list(hdul)
    for hdu in candidates:
        if isinstance(hdu, fits.BinTableHDU) and "RADIUS" in hdu.columns.names:
            return hdu
    raise FluximageError("The PSF file has no table with a RADIUS column")


def read_reef(
    path: str | Path, extension: int | None = None, source: str | None = None
) -> EncircledEnergyTable:
    """Read a CALDB REEF file (layout in the module docstring) into a table (radius arcsec)."""
    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = _reef_hdu(hdul, extension)
            names = [n.upper() for n in hdu.columns.names]
            missing = [a for a in _AXES if a not in names]
            if missing:
                raise FluximageError(f"PSF file {path}: no {', '.join(missing)} column")
            row = hdu.data[0]
            axes = {a: np.atleast_1d(np.asarray(row[names.index(a)], float)) for a in _AXES}
            col = names.index("RADIUS") + 1
            cell = np.asarray(row[col - 1], float)
            order = _axis_order(hdu.header, col)
            unit = str(hdu.header.get(f"TUNIT{col}", "arcsec")).strip().lower() or "arcsec"
            theta_unit = str(hdu.header.get(f"TUNIT{names.index('THETA') + 1}", "arcmin"))
    except OSError as exc:
        raise FluximageError(f"Cannot read the PSF file {path}: {exc}") from exc
    if sorted(order) != sorted(_AXES):
        raise FluximageError(f"PSF file {path}: RADIUS axes {order} are not {_AXES}")
    if unit not in _RADIUS_UNITS:
        raise FluximageError(f"PSF file {path}: RADIUS unit '{unit}' is not an angle")
    shape_c = tuple(len(axes[a]) for a in reversed(order))  # slowest first, as numpy reads
    if cell.size != int(np.prod(shape_c)):
        raise FluximageError(f"PSF file {path}: RADIUS has {cell.size} values, not {shape_c}")
    if cell.ndim == 4 and cell.shape != shape_c:
        raise FluximageError(f"PSF file {path}: RADIUS is {cell.shape}, its axes say {shape_c}")
    cube = cell.reshape(shape_c)
    cube = np.transpose(cube, [tuple(reversed(order)).index(a) for a in _AXES])
    theta = axes["THETA"] * (60.0 if theta_unit.strip().lower().startswith("deg") else 1.0)
    return EncircledEnergyTable(
        axes["ENERGY"], theta, axes["PHI"], axes["ECF"], cube * _RADIUS_UNITS[unit],
        source or f"PSF file {path}",
    )  # fmt: skip


def find_reef(root: str | Path) -> tuple[Path, int]:
    """The REEF file (and index extension) of a CALDB; CaldbError when absent."""
    return query_one(root, "default", "REEF")


# ---- the built-in table ------------------------------------------------------------------


_THETA_COLUMN = re.compile(r"^theta_([0-9.]+)_arcmin$")


@functools.cache
def builtin_psf_size() -> EncircledEnergyTable:
    """The table of ``data/psf_size.csv`` (azimuth-averaged: one φ)."""
    table = read_csv_table(BUILTIN_TABLE)
    thetas = [(float(m.group(1)), n) for n in table.columns if (m := _THETA_COLUMN.match(n))]
    energies = np.unique(table["energy_kev"])
    ecfs = np.unique(table["ecf"])
    radius = np.full((len(energies), len(thetas), 1, len(ecfs)), np.nan)
    for r, (e, f) in enumerate(zip(table["energy_kev"], table["ecf"], strict=True)):
        i, k = int(np.searchsorted(energies, e)), int(np.searchsorted(ecfs, f))
        radius[i, :, 0, k] = [table[n][r] for _, n in thetas]
    if np.isnan(radius).any():
        raise ValueError(f"{BUILTIN_TABLE}: every (energy, ecf) pair needs a row")
    theta = np.array([t for t, _ in thetas])
    return EncircledEnergyTable(energies, theta, np.zeros(1), ecfs, radius, BUILTIN_PSF_SOURCE)


# ---- choosing one ----------------------------------------------------------------------------


def caldb_psf_size(root: str | Path) -> EncircledEnergyTable:
    """The CALDB REEF table of ``root``; CaldbError when the index has none or it is missing."""
    from .caldb_calibration import caldb_version

    path, extension = find_reef(root)
    version = caldb_version(root)
    label = f"CALDB {root}" + (f" ({version})" if version else "") + f" REEF {path.name}"
    return read_reef(path, extension, source=label)


def load_psf_size(
    environ: Mapping[str, str] | None = None, warn: Callable[[str], None] | None = None
) -> PsfSize:
    """The CALDB REEF when ``$CALDB`` holds one, else the built-in table.

    A CALDB without an installed REEF file is reported through ``warn`` (when given).
    """
    env = os.environ if environ is None else environ
    root = caldb_root(env)
    if root is not None:
        try:
            return caldb_psf_size(root)
        except CaldbError as exc:
            if warn is not None:
                warn(f"WARNING: {exc}; using the built-in PSF-size table.")
    return builtin_psf_size()
