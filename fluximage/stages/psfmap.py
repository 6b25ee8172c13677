"""PSF-size maps (mkpsfmap, docs/psfmap.md): per pixel, the radius enclosing ``ecf``.

For each pixel centre of the output grid the sky position is carried to DET with the
observation's mean pointing (ra, dec, roll; like mkpsfmap, the mean dy/dz/dθ offsets are not
used), the off-axis angles θ (arcmin) and φ (deg) are taken about the optical axis, and the
PSF size table (:mod:`fluximage.calib.psf`) gives the radius in arcsec.  Pixels outside the
exposure mask (exposure ≤ 0 or not finite) are NaN.

Bands with a spectral weights file: mkpsfmap's ``spectrum`` parameter computes the size at
the spectrum's energies and weights them; here the map is the **weighted mean radius**
Σ wᵢ r(Eᵢ) / Σ wᵢ over the file's rows (not the radius at the weighted mean energy).  Since
the table lookup is linear in the tabulated radii this costs no more than one energy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..calib.psf import PsfSize, check_ecf
from ..geometry.grid import Grid
from ..geometry.pixlib import AspectSamples, Detector, SkyFrame, off_axis_angles, sky_to_det
from ..inputs.bands import Band
from ..messages import FluximageError

__all__ = [
    "CHUNK_ROWS",
    "PsfSpectrum",
    "band_psf_spectrum",
    "header_pointing",
    "mean_aspect",
    "off_axis_map",
    "psf_map",
    "psf_map_direct",
]


#: Rows of the output grid done at a time (bounds the memory of the coordinate arrays).
CHUNK_ROWS = 256


@dataclass(frozen=True, eq=False)
class PsfSpectrum:
    """Energies (keV) and weights (summing to 1) at which a band's PSF size is averaged."""

    energy_kev: np.ndarray
    weight: np.ndarray

    def __post_init__(self):
        e = np.atleast_1d(np.asarray(self.energy_kev, float))
        w = np.atleast_1d(np.asarray(self.weight, float))
        if e.shape != w.shape or e.ndim != 1 or len(e) == 0:
            raise ValueError("PsfSpectrum: one weight per energy")
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
            raise ValueError("PsfSpectrum: weights must be finite, >= 0, with a positive sum")
        object.__setattr__(self, "energy_kev", e)
        object.__setattr__(self, "weight", w / w.sum())


def band_psf_spectrum(band: Band) -> PsfSpectrum:
    """The band's energy (monochromatic band) or its weights file's rows (keV, weight)."""
    if band.weights_file is not None:
        weights = band.weights
        return PsfSpectrum(weights.energy_kev, weights.weight)
    if band.energy_kev is None:
        raise FluximageError(f"Band {band.label} has neither an energy nor a weights file")
    return PsfSpectrum(np.array([band.energy_kev]), np.array([1.0]))


def header_pointing(header: Mapping) -> AspectSamples:
    """RA/DEC/ROLL_PNT of a header (else ``_NOM``): the pointing mkpsfmap uses (deg)."""
    values = []
    for name in ("RA", "DEC", "ROLL"):
        value = header.get(f"{name}_PNT", header.get(f"{name}_NOM"))
        if value is None:
            raise FluximageError(f"The header has neither {name}_PNT nor {name}_NOM")
        values.append(np.array([float(value)]))
    return AspectSamples(*values)


def mean_aspect(hist) -> AspectSamples:
    """The live-time weighted mean pointing and offsets of an aspect histogram (deg, mm).

    ``hist`` is a :class:`fluximage.stages.asphist.AspectHistogram`; RA and roll are averaged
    about the histogram's reference so that a wrap at 0/360 does no harm.
    """
    w = np.asarray(hist.duration, float)
    if len(w) == 0 or not w.sum() > 0:
        ra, dec, roll = hist.reference
        return AspectSamples(np.array([ra]), np.array([dec]), np.array([roll]))
    w = w / w.sum()

    def around(values, centre):
        return np.mod(float(np.sum(w * ((np.asarray(values) - centre + 180) % 360 - 180)))
                      + centre, 360.0)  # fmt: skip

    ra0, _, roll0 = hist.reference
    fields = [around(hist.ra, ra0), np.sum(w * hist.dec), around(hist.roll, roll0)]
    fields += [np.sum(w * getattr(hist, f)) for f in ("dy", "dz", "dtheta")]
    return AspectSamples(*(np.array([float(v)]) for v in fields))


def off_axis_map(
    det: Detector, x: np.ndarray, y: np.ndarray, mean_aspect: AspectSamples, frame: SkyFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(θ arcmin, φ deg) of sky positions (pixels) for the mean pointing."""
    detx, dety = sky_to_det(det.fp, x, y, mean_aspect, frame)
    return off_axis_angles(det.fp, detx, dety)


def _spectrum(energy_kev: float | PsfSpectrum) -> PsfSpectrum:
    if isinstance(energy_kev, PsfSpectrum):
        return energy_kev
    return PsfSpectrum(np.array([float(energy_kev)]), np.array([1.0]))


def _radius(radius: PsfSize, spectrum: PsfSpectrum, theta, phi, ecf: float) -> np.ndarray:
    if len(spectrum.energy_kev) == 1:
        return radius.radius_arcsec(float(spectrum.energy_kev[0]), theta, phi, ecf)
    return radius.mean_radius_arcsec(spectrum.energy_kev, spectrum.weight, theta, phi, ecf)


def _check_inputs(grid: Grid, exposure: np.ndarray) -> np.ndarray:
    exposure = np.asarray(exposure)
    if exposure.shape != grid.shape:
        raise ValueError(f"exposure map {exposure.shape} does not match the grid {grid.shape}")
    return exposure


def psf_map(
    radius: PsfSize,
    det: Detector,
    grid: Grid,
    frame: SkyFrame,
    mean_aspect: AspectSamples,
    exposure: np.ndarray,
    energy_kev: float | PsfSpectrum,
    ecf: float,
) -> np.ndarray:
    """The PSF-size map: float32 (ny, nx) radius in arcsec, NaN where exposure ≤ 0.

    ``energy_kev`` is the band energy (keV) or a :class:`PsfSpectrum` (weighted mean
    radius); ``ecf`` the enclosed-counts fraction, 0 < ecf ≤ 1.
    """
    ecf = check_ecf(ecf)
    spectrum = _spectrum(energy_kev)
    exposure = _check_inputs(grid, exposure)
    out = np.full(grid.shape, np.nan, dtype=np.float32)
    xc, yc = grid.x.centres(), grid.y.centres()
    for r0 in range(0, grid.shape[0], CHUNK_ROWS):
        rows = slice(r0, min(r0 + CHUNK_ROWS, grid.shape[0]))
        inside = np.isfinite(exposure[rows]) & (exposure[rows] > 0)
        iy, ix = np.nonzero(inside)
        if len(iy) == 0:
            continue
        theta, phi = off_axis_map(det, xc[ix], yc[iy + r0], mean_aspect, frame)
        block = out[rows]
        block[iy, ix] = _radius(radius, spectrum, theta, phi, ecf)
    return out


def psf_map_direct(
    radius: PsfSize,
    det: Detector,
    grid: Grid,
    frame: SkyFrame,
    mean_aspect: AspectSamples,
    exposure: np.ndarray,
    energy_kev: float | PsfSpectrum,
    ecf: float,
) -> np.ndarray:
    """Reference for :func:`psf_map`: one pixel and one energy at a time (small grids only)."""
    spectrum = _spectrum(energy_kev)
    exposure = _check_inputs(grid, exposure)
    out = np.full(grid.shape, np.nan, dtype=np.float32)
    ny, nx = grid.shape
    for j in range(ny):
        y = grid.y.lo + (j + 0.5) * grid.y.step
        for i in range(nx):
            if not exposure[j, i] > 0:  # also NaN
                continue
            x = grid.x.lo + (i + 0.5) * grid.x.step
            theta, phi = off_axis_map(det, np.array([x]), np.array([y]), mean_aspect, frame)
            total = 0.0
            for e, w in zip(spectrum.energy_kev, spectrum.weight, strict=True):
                r = radius.radius_arcsec(float(e), theta, phi, ecf)
                total += w * float(np.ravel(r)[0])
            out[j, i] = total
    return out
