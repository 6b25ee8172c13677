"""Readers for the CALDB files an instrument map needs, in their real (ASC-FITS) layouts.

Each reader takes a file and the extension number a CALDB query gave
(:func:`fluximage.calib.caldb.query`) and returns a small frozen table object that
interpolates with numpy.  Tables are cached per (file, extension).  Layouts:

- **curves** (ACIS ``AXAF_QE<n>``, HRC ``AXAF_QE1``; columns ``ENERGY`` keV, ``QE``): one
  energy per row; a single row holding vectors is read the same way.  Linear in energy,
  0 outside the tabulated range.
- **axeffa** (``AXAF_EFFEA<n>``, keyword ``SHELL``; ``ENERG_LO``, ``ENERG_HI`` keV,
  ``EFFAREA`` cm²): rows or one row of vectors; linear between the bin centres, defined
  from the lowest ``ENERG_LO`` to the highest ``ENERG_HI``.  An
  ``EFFAREA`` cell with more values than energies (off-axis axes, TDIM energy first) is
  read at its first (on-axis) slice.
- **vignet** (``AXAF_VIGNET<n>``; one row: ``ENERG_LO``/``ENERG_HI`` (nE), ``THETA``
  arcmin (nθ), ``PHI`` deg (nφ), ``VIGNET`` with ``TDIM = (nE, nθ, nφ)``): trilinear in
  (E, θ, φ), φ periodic, E and θ clamped to the table.
- **qeu** (ACIS ``AXAF_QEU<ccd+1>``, HRC ``AXAF_QEU<n>``): *layout not seen*; read as
  ``ENERGY`` + ``QEU`` maps, either one row per energy holding a 2-D map or one row with a
  (nE, ny, nx) cube (an image HDU: one energy-independent map).  A map pixel covers a
  block of chip pixels: placed with the column WCS keywords ``1CRPXn/1CRVLn/1CDLTn``
  (x) and ``2…n`` (y) when present, else spread evenly over the whole chip.  Nearest map
  pixel in space, linear in energy (clamped).
- **contam** (``AXAF_CONTAM<ccd+1>``; MARX copies name it ``ACIS<ccd>_CONTAM``; column
  names in either case): one row per layer with ``N_ENERGY, ENERGY, MU, N_TIME, TIME,
  TAU0, TAU1, FXY``; ``FXY`` 1024×1024 or blocked (each cell a square block of chip
  pixels); T = exp(−Σ μ(E)·[τ0(t) + τ1(t)·f(x, y)]), μ linear in E (clamped), τ linear in
  MET (extrapolated linearly).  ``WEIGHT`` is not used; no ``FXY`` means f = 0.
- **greff** (``AXAF_GREFF<n>``, keyword ``SHELL``; ``ENERGY`` keV, ``EFF`` (orders
  −m..+m)): the zeroth order is the middle element.
- **dead_area** (one coefficient per CCD, s⁻¹): *column name not seen*; the first of the
  columns/keywords ``DEAD_AREA, DEADAREA, DA_COEFF, COEFF, COEFFICIENT, VALUE``, else the
  first floating-point column.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from .caldb import CaldbError
from .vignetting import VignettingTable, linear_weights

__all__ = [
    "ACIS_CHIP_PIXELS",
    "ContamLayer",
    "ContamModel",
    "Curve",
    "UniformityMap",
    "find_ccd_extension",
    "read_contamination",
    "read_dead_area",
    "read_effective_area",
    "read_grating_efficiency",
    "read_qe",
    "read_uniformity",
    "read_vignetting",
]


ACIS_CHIP_PIXELS = 1024
_CONTAM_NAME = re.compile(r"^(AXAF_CONTAM\d*|ACIS\d+_CONTAM)$")


# ---- interpolation helpers -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Curve:
    """A quantity tabulated at increasing energies (keV); linear, 0 outside the table."""

    energy_kev: np.ndarray
    value: np.ndarray
    range_kev: tuple[float, float] | None = None  # where defined (default: the samples)

    def __call__(self, energy_kev: np.ndarray | float) -> np.ndarray:
        e = np.asarray(energy_kev, float)
        out = np.interp(e, self.energy_kev, self.value)
        lo, hi = self.range_kev or (self.energy_kev[0], self.energy_kev[-1])
        return np.where((e >= lo) & (e <= hi), out, 0.0)


@dataclass(frozen=True, eq=False)
class UniformityMap:
    """Relative QE maps ``maps[E, iy, ix]``; map pixel k covers chip ``x0 + k·dx`` (centre)."""

    energy_kev: np.ndarray
    maps: np.ndarray
    x0: float
    dx: float
    y0: float
    dy: float

    def __call__(self, energy_kev: float, chipx, chipy) -> np.ndarray:
        x, y = np.broadcast_arrays(np.asarray(chipx, float), np.asarray(chipy, float))
        ny, nx = self.maps.shape[1:]
        ix = np.clip(np.rint((x - self.x0) / self.dx), 0, nx - 1).astype(int)
        iy = np.clip(np.rint((y - self.y0) / self.dy), 0, ny - 1).astype(int)
        e0, e1, w = linear_weights(self.energy_kev, np.asarray(float(energy_kev)))
        return self.maps[int(e0), iy, ix] * (1 - w) + self.maps[int(e1), iy, ix] * w


@dataclass(frozen=True, eq=False)
class ContamLayer:
    """One contaminant component: μ(E), τ0(t), τ1(t) and the spatial map f (blocked)."""

    energy_kev: np.ndarray
    mu: np.ndarray
    time_met: np.ndarray
    tau0: np.ndarray
    tau1: np.ndarray
    fxy: np.ndarray | None  # [iy, ix]; each cell a block of chip pixels

    def tau(self, time_met: float) -> tuple[float, float]:
        """τ0, τ1 at a time: linear, extrapolated linearly beyond the table."""
        return _linear_extrapolated(self.time_met, self.tau0, time_met), _linear_extrapolated(
            self.time_met, self.tau1, time_met
        )

    def f(self, chipx, chipy) -> np.ndarray:
        x, y = np.broadcast_arrays(np.asarray(chipx, float), np.asarray(chipy, float))
        if self.fxy is None:
            return np.zeros(x.shape)
        ny, nx = self.fxy.shape
        ix = np.clip(np.floor((x - 0.5) * nx / ACIS_CHIP_PIXELS), 0, nx - 1).astype(int)
        iy = np.clip(np.floor((y - 0.5) * ny / ACIS_CHIP_PIXELS), 0, ny - 1).astype(int)
        return self.fxy[iy, ix]


@dataclass(frozen=True, eq=False)
class ContamModel:
    layers: tuple[ContamLayer, ...]

    def transmission(
        self, energy_kev: float | np.ndarray, chipx, chipy, time_met: float
    ) -> np.ndarray:
        """exp(−Σ_layers μ(E)[τ0(t) + τ1(t)·f(x, y)]); a 1-D array of energies gives a
        leading energy axis (each layer's f(x, y) is evaluated once)."""
        energies = np.asarray(energy_kev, float)
        shape = np.broadcast(np.asarray(chipx), np.asarray(chipy)).shape
        depth = np.zeros(energies.shape + shape)
        flat = depth.reshape(-1, *shape)
        for layer in self.layers:
            tau0, tau1 = layer.tau(time_met)
            column = tau0 + tau1 * layer.f(chipx, chipy)
            for i, energy in enumerate(energies.reshape(-1)):
                mu = float(np.interp(float(energy), layer.energy_kev, layer.mu))
                flat[i] = flat[i] + mu * column
        return np.clip(np.exp(-depth), 0.0, 1.0)[()]


def _linear_extrapolated(x: np.ndarray, y: np.ndarray, at: float) -> float:
    if x.size == 1:
        return float(y[0])
    if at <= x[0] or at >= x[-1]:
        i = 0 if at <= x[0] else x.size - 2
        slope = (y[i + 1] - y[i]) / (x[i + 1] - x[i]) if x[i + 1] != x[i] else 0.0
        return float(y[i] + slope * (at - x[i]))
    return float(np.interp(at, x, y))


# ---- FITS access -----------------------------------------------------------------------


def _open_hdu(path: str, ext: int) -> tuple[fits.Header, fits.FITS_rec | np.ndarray | None]:
    try:
        with fits.open(path, memmap=False) as hdul:
            if ext >= len(hdul):
                raise CaldbError(f"CALDB file {path} has no extension {ext}")
            hdu = hdul[ext]
            data = hdu.data
            if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                data = data.copy() if data is not None else None
            else:
                data = None if data is None else np.array(data)
            return hdu.header.copy(), data
    except OSError as exc:
        raise CaldbError(f"Cannot read the CALDB file {path}: {exc}") from exc


def _column_name(data, *names: str) -> str | None:
    if data is None or not hasattr(data, "names"):
        return None
    upper = {n.upper(): n for n in data.names}
    return next((upper[n.upper()] for n in names if n.upper() in upper), None)


def _column(data, path: str, *names: str, required: bool = True) -> np.ndarray | None:
    """All values of a column (rows × cell), float; None when absent and not required."""
    name = _column_name(data, *names)
    if name is None:
        if required:
            raise CaldbError(f"CALDB file {path} has no column {'/'.join(names)}")
        return None
    return np.asarray(data[name], float)


def _flat(values: np.ndarray) -> np.ndarray:
    return np.ravel(values)


def _check_ccd(header: fits.Header, ccd: int | None, path: str, ext: int) -> None:
    if ccd is not None and "CCD_ID" in header and int(header["CCD_ID"]) != int(ccd):
        raise CaldbError(f"CALDB file {path}[{ext}] is for CCD_ID {header['CCD_ID']}, not {ccd}")


def _sorted_curve(energy: np.ndarray, value: np.ndarray, path: str) -> Curve:
    if energy.size == 0 or energy.size != value.size:
        raise CaldbError(f"CALDB file {path}: energy and value columns do not match")
    order = np.argsort(energy, kind="stable")
    return Curve(energy[order], value[order])


# ---- readers ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _read_curve(path: str, ext: int, x_names: tuple[str, ...], y_names: tuple[str, ...],
                ccd: int | None) -> Curve:  # fmt: skip
    header, data = _open_hdu(path, ext)
    _check_ccd(header, ccd, path, ext)
    energy = _flat(_column(data, path, *x_names))
    return _sorted_curve(energy, _flat(_column(data, path, *y_names)), path)


def read_qe(path: str | Path, ext: int, ccd: int | None = None) -> Curve:
    """Mean QE vs energy (ACIS ``AXAF_QE<ccd+1>``, HRC ``AXAF_QE<n>``)."""
    return _read_curve(str(path), int(ext), ("ENERGY",), ("QE",), ccd)


@functools.lru_cache(maxsize=32)
def _read_area(path: str, ext: int) -> Curve:
    _, data = _open_hdu(path, ext)
    lo = _flat(_column(data, path, "ENERG_LO"))
    hi = _flat(_column(data, path, "ENERG_HI"))
    area = _column(data, path, "EFFAREA", "SPECRESP")
    if area.size != lo.size:  # off-axis axes in the cell: energy runs fastest
        area = area.reshape(-1, lo.size) if area.size % lo.size == 0 else None
        if area is None:
            raise CaldbError(f"CALDB file {path}[{ext}]: EFFAREA does not match ENERG_LO")
        area = area[0]
    curve = _sorted_curve(0.5 * (lo + hi), _flat(area), path)
    return Curve(curve.energy_kev, curve.value, (float(lo.min()), float(hi.max())))


def read_effective_area(path: str | Path, ext: int) -> Curve:
    """HRMA effective area (cm²) vs energy (``AXAF_EFFEA<n>``)."""
    return _read_area(str(path), int(ext))


@functools.lru_cache(maxsize=8)
def _read_vignet(path: str, ext: int) -> VignettingTable:
    _, data = _open_hdu(path, ext)
    lo = _column(data, path, "ENERG_LO")[0].ravel()
    hi = _column(data, path, "ENERG_HI")[0].ravel()
    theta = _column(data, path, "THETA")[0].ravel()
    phi = _column(data, path, "PHI")[0].ravel()
    cube = _column(data, path, "VIGNET")[0]
    n = (phi.size, theta.size, lo.size)
    if cube.size != np.prod(n):
        raise CaldbError(f"CALDB file {path}[{ext}]: VIGNET is not (ENERGY, THETA, PHI)")
    cube = cube.reshape(n)
    energy = 0.5 * (lo + hi)
    e_order, t_order, p_order = np.argsort(energy), np.argsort(theta), np.argsort(phi)
    cube = cube[p_order][:, t_order][:, :, e_order]
    return VignettingTable(energy[e_order], theta[t_order], phi[p_order], cube)


def read_vignetting(path: str | Path, ext: int) -> VignettingTable:
    """HRMA vignetting vs (E, θ, φ) (``AXAF_VIGNET<n>``, one row)."""
    return _read_vignet(str(path), int(ext))


def _column_wcs(header: fits.Header, col: int, axis: int) -> tuple[float, float, float] | None:
    keys = [f"{axis}CRPX{col}", f"{axis}CRVL{col}", f"{axis}CDLT{col}"]
    if not all(k in header for k in keys):
        return None
    return float(header[keys[0]]), float(header[keys[1]]), float(header[keys[2]])


def _placement(wcs, n: int, extent: float) -> tuple[float, float]:
    """Chip coordinate of map pixel 0's centre and the step per map pixel."""
    if wcs is not None:
        crpix, crval, cdelt = wcs
        return crval + (1.0 - crpix) * cdelt, cdelt
    step = extent / n
    return 0.5 + 0.5 * step, step


@functools.lru_cache(maxsize=32)
def _read_qeu(path: str, ext: int, extent_x: float, extent_y: float,
              ccd: int | None) -> UniformityMap:  # fmt: skip
    header, data = _open_hdu(path, ext)
    _check_ccd(header, ccd, path, ext)
    wcs_x = wcs_y = None
    if data is not None and hasattr(data, "names"):
        name = _column_name(data, "QEU")
        if name is None:
            raise CaldbError(f"CALDB file {path}[{ext}] has no QEU column")
        col = [n.upper() for n in data.names].index(name.upper()) + 1
        wcs_x, wcs_y = _column_wcs(header, col, 1), _column_wcs(header, col, 2)
        cells = np.asarray(data[name], float)
        energy = _column(data, path, "ENERGY", required=False)
        energy = np.ones(1) if energy is None else _flat(energy)
        if cells.ndim == 3 and cells.shape[0] == energy.size:
            maps = cells  # one row per energy, each a 2-D map
        elif cells.ndim == 4 and cells.shape[0] == 1 and cells.shape[1] == energy.size:
            maps = cells[0]  # one row holding a cube (nE, ny, nx)
        elif cells.ndim == 3 and cells.shape[0] == 1 and energy.size == 1:
            maps = cells
        else:
            raise CaldbError(f"CALDB file {path}[{ext}]: unrecognised QEU layout {cells.shape}")
    elif data is not None and np.ndim(data) in (2, 3):
        maps = np.asarray(data, float).reshape((-1, *np.shape(data)[-2:]))
        energy = np.full(1, 1.0) if maps.shape[0] == 1 else np.arange(maps.shape[0], dtype=float)
    else:
        raise CaldbError(f"CALDB file {path}[{ext}] holds no QEU map")
    order = np.argsort(energy, kind="stable")
    ny, nx = maps.shape[1:]
    x0, dx = _placement(wcs_x, nx, extent_x)
    y0, dy = _placement(wcs_y, ny, extent_y)
    return UniformityMap(energy[order], maps[order], x0, dx, y0, dy)


def read_uniformity(path: str | Path, ext: int, chip_size: tuple[float, float],
                    ccd: int | None = None) -> UniformityMap:  # fmt: skip
    """QE uniformity maps of one chip; ``chip_size`` = (nx, ny) chip pixels covered."""
    return _read_qeu(str(path), int(ext), float(chip_size[0]), float(chip_size[1]), ccd)


def _cells(data, path: str, name: str, counts: np.ndarray | None) -> list[np.ndarray]:
    values = _column(data, path, name)
    rows = [np.ravel(v) for v in values.reshape(len(data), -1)]
    if counts is not None:
        rows = [r[: int(n)] if n > 0 else r for r, n in zip(rows, counts, strict=True)]
    return rows


@functools.lru_cache(maxsize=16)
def _read_contam(path: str, ext: int, ccd: int | None) -> ContamModel:
    header, data = _open_hdu(path, ext)
    names = {str(header.get(k, "")).strip().upper() for k in ("HDUNAME", "EXTNAME")}
    if data is None or not hasattr(data, "names") or not any(map(_CONTAM_NAME.match, names)):
        shown = "/".join(sorted(n for n in names if n)) or "no name"
        raise CaldbError(f"CALDB file {path}[{ext}] ({shown}) is not a CONTAM table")
    _check_ccd(header, ccd, path, ext)
    n_e = _column(data, path, "N_ENERGY", required=False)
    n_t = _column(data, path, "N_TIME", required=False)
    energy = _cells(data, path, "ENERGY", n_e)
    mu = _cells(data, path, "MU", n_e)
    time = _cells(data, path, "TIME", n_t)
    tau0 = _cells(data, path, "TAU0", n_t)
    tau1 = _cells(data, path, "TAU1", n_t)
    fxy = _column(data, path, "FXY", required=False)
    layers = []
    for i in range(len(data)):
        f = None
        if fxy is not None:
            f = np.asarray(fxy[i], float)
            if f.ndim == 1:
                side = round(np.sqrt(f.size))
                if side * side != f.size:
                    raise CaldbError(f"CALDB file {path}[{ext}]: FXY is not a square map")
                f = f.reshape(side, side)
        eo, to = np.argsort(energy[i], kind="stable"), np.argsort(time[i], kind="stable")
        layers.append(ContamLayer(energy[i][eo], mu[i][eo], time[i][to], tau0[i][to],
                                  tau1[i][to], f))  # fmt: skip
    if not layers:
        raise CaldbError(f"CALDB file {path}[{ext}] has no contamination layer")
    return ContamModel(tuple(layers))


def read_contamination(path: str | Path, ext: int, ccd: int | None = None) -> ContamModel:
    """ACIS contaminant model of one CCD (``AXAF_CONTAM<ccd+1>`` or ``ACIS<ccd>_CONTAM``)."""
    return _read_contam(str(path), int(ext), ccd)


@functools.lru_cache(maxsize=16)
def _read_greff(path: str, ext: int, order: int) -> Curve:
    _, data = _open_hdu(path, ext)
    energy = _flat(_column(data, path, "ENERGY"))
    eff = _column(data, path, "EFF").reshape(energy.size, -1)
    middle = eff.shape[1] // 2
    if abs(order) > middle:
        raise CaldbError(f"CALDB file {path}[{ext}] has no grating order {order}")
    return _sorted_curve(energy, eff[:, middle + order], path)


def read_grating_efficiency(path: str | Path, ext: int, order: int = 0) -> Curve:
    """Efficiency of one diffraction order vs energy (``AXAF_GREFF<n>``)."""
    return _read_greff(str(path), int(ext), int(order))


_DEAD_AREA_NAMES = ("DEAD_AREA", "DEADAREA", "DA_COEFF", "COEFF", "COEFFICIENT", "VALUE")


@functools.lru_cache(maxsize=16)
def _read_dead_area(path: str, ext: int, ccd: int | None) -> float:
    header, data = _open_hdu(path, ext)
    _check_ccd(header, ccd, path, ext)
    name = _column_name(data, *_DEAD_AREA_NAMES)
    if name is None and data is not None and hasattr(data, "names"):
        name = next((n for n in data.names if np.issubdtype(data[n].dtype, np.floating)), None)
    if name is not None and len(data):
        return float(np.ravel(data[name])[0])
    for key in _DEAD_AREA_NAMES:
        if key in header:
            return float(header[key])
    raise CaldbError(f"CALDB file {path}[{ext}] holds no dead-area coefficient")


def read_dead_area(path: str | Path, ext: int, ccd: int | None = None) -> float:
    """The dead-area coefficient (fractional area lost per second of exposure) of a CCD."""
    return _read_dead_area(str(path), int(ext), ccd)


def find_ccd_extension(path: str | Path, ccd: int) -> int | None:
    """Number of the extension whose ``CCD_ID`` keyword is ``ccd`` (None if there is none)."""
    try:
        with fits.open(path, memmap=False) as hdul:
            for i, hdu in enumerate(hdul):
                if i and "CCD_ID" in hdu.header and int(hdu.header["CCD_ID"]) == int(ccd):
                    return i
    except OSError as exc:
        raise CaldbError(f"Cannot read the CALDB file {path}: {exc}") from exc
    return None
