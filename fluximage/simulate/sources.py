"""Sources of a synthetic observation: where photons come from and at what energies.

Three shapes, each with a :class:`Spectrum`:

- :class:`PointSource`: a position (RA, Dec in degrees) and a photon flux (photon/cm²/s),
  optionally blurred by a rough Gaussian stand-in for the mirror PSF;
- :class:`DiskSource`: a uniform disk (centre, radius in arcsec) with a total flux;
- :class:`FlatField`: a uniform surface brightness (photon/cm²/s/arcmin²) over the whole
  field of view.

A spectrum is a discrete list of energies (keV) with photon weights, so the same
list can be given to fluximage as a spectral weights file.  A flat spectrum is a
grid of bins; a photon's true energy is spread uniformly over its bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry.pixlib import SkyFrame, sky_to_radec

__all__ = [
    "ARCMIN2_PER_SR",
    "FLAT_STEP_KEV",
    "PSF_CORE_ARCSEC",
    "PSF_SLOPE_ARCSEC",
    "DiskSource",
    "FlatField",
    "PointSource",
    "Source",
    "Spectrum",
    "cap_area_arcmin2",
    "check_source",
    "describe",
    "draw_positions",
    "photon_rate",
    "psf_sigma_arcsec",
    "separation_arcmin",
]


ARCMIN2_PER_SR = (180.0 * 60.0 / math.pi) ** 2
#: PSF stand-in: Gaussian σ = PSF_CORE_ARCSEC + PSF_SLOPE · θ², θ in arcmin (arcsec)
PSF_CORE_ARCSEC = 0.3
PSF_SLOPE_ARCSEC = 0.03
FLAT_STEP_KEV = 0.05


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Photon spectrum: energies (keV) and photon fractions (sum 1).

    ``width_kev`` > 0 means each energy is the centre of a bin of that width (a flat
    spectrum); the calibration is evaluated at the centre.
    """

    energy_kev: np.ndarray
    weight: np.ndarray
    width_kev: float = 0.0

    def __post_init__(self):
        e = np.atleast_1d(np.asarray(self.energy_kev, float))
        w = np.atleast_1d(np.asarray(self.weight, float))
        if e.shape != w.shape or e.ndim != 1 or len(e) == 0:
            raise ValueError("a spectrum needs equal, non-empty lists of energies and weights")
        if not (np.all(np.isfinite(e)) and np.all(e > 0)):
            raise ValueError("spectrum energies must be positive keV values")
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
            raise ValueError("spectrum weights must be >= 0 with a positive sum")
        object.__setattr__(self, "energy_kev", e)
        object.__setattr__(self, "weight", w / w.sum())

    @classmethod
    def monochromatic(cls, energy_kev: float) -> Spectrum:
        """All photons at one energy (keV)."""
        return cls(np.array([float(energy_kev)]), np.array([1.0]))

    @classmethod
    def flat(cls, lo_kev: float, hi_kev: float, step_kev: float = FLAT_STEP_KEV) -> Spectrum:
        """Photon flux uniform in energy between ``lo_kev`` and ``hi_kev`` (bins ≤ step)."""
        lo, hi = float(lo_kev), float(hi_kev)
        if not (0 < lo < hi):
            raise ValueError(f"a flat spectrum needs 0 < lo < hi keV, not {lo}, {hi}")
        n = max(1, math.ceil((hi - lo) / step_kev - 1e-9))
        width = (hi - lo) / n
        return cls(lo + width * (np.arange(n) + 0.5), np.ones(n), width)

    @classmethod
    def tabulated(cls, energy_kev, weight) -> Spectrum:
        """Lines at the given energies (keV) with the given photon weights."""
        return cls(np.asarray(energy_kev, float), np.asarray(weight, float))

    @property
    def mean_energy_kev(self) -> float:
        return float(np.sum(self.energy_kev * self.weight))

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(index into the energy list, true photon energy in keV) of ``n`` photons."""
        index = rng.choice(len(self.weight), size=n, p=self.weight)
        energy = self.energy_kev[index]
        if self.width_kev > 0:
            energy = energy + self.width_kev * (rng.random(n) - 0.5)
        return index, energy

    def write_weights(self, path: str | Path) -> Path:
        """Write the spectrum as a fluximage spectral weights file (keV, weight)."""
        path = Path(path)
        lines = ["# energy_kev weight (photon fractions; fluximage-simulate)"]
        lines += [f"{e:.6f} {w:.9e}" for e, w in zip(self.energy_kev, self.weight, strict=True)]
        path.write_text("\n".join(lines) + "\n")
        return path


def _default_spectrum() -> Spectrum:
    return Spectrum.monochromatic(1.5)


@dataclass(frozen=True)
class PointSource:
    """A point source: RA, Dec (deg), photon flux (photon/cm²/s).

    ``psf_sigma_arcsec=None`` blurs it with a Gaussian of σ = 0.3″ + 0.03″·θ² (θ the
    off-axis angle in arcmin from the nominal pointing), a rough stand-in for the
    mirror PSF; 0 puts every photon exactly at the position.
    """

    ra: float
    dec: float
    flux: float
    spectrum: Spectrum = field(default_factory=_default_spectrum)
    psf_sigma_arcsec: float | None = None

    kind = "point"


@dataclass(frozen=True)
class DiskSource:
    """A uniform disk: centre RA, Dec (deg), radius (arcsec), total flux (photon/cm²/s)."""

    ra: float
    dec: float
    radius_arcsec: float
    flux: float
    spectrum: Spectrum = field(default_factory=_default_spectrum)

    kind = "disk"


@dataclass(frozen=True)
class FlatField:
    """Uniform surface brightness (photon/cm²/s/arcmin²) over the whole field of view."""

    flux_per_arcmin2: float
    spectrum: Spectrum = field(default_factory=_default_spectrum)

    kind = "flat"


Source = PointSource | DiskSource | FlatField


def check_source(source: Source) -> None:
    """ValueError for a source with a negative flux or size, or a position off the sphere."""
    flux = source.flux_per_arcmin2 if isinstance(source, FlatField) else source.flux
    if not (math.isfinite(flux) and flux >= 0):
        raise ValueError(f"{source.kind} source: the flux must be >= 0, not {flux}")
    if isinstance(source, (PointSource, DiskSource)):
        if not (math.isfinite(source.ra) and math.isfinite(source.dec)):
            raise ValueError(f"{source.kind} source: RA and Dec must be numbers")
        if not -90.0 <= source.dec <= 90.0:
            raise ValueError(f"{source.kind} source: Dec {source.dec} is outside -90..90")
    if isinstance(source, DiskSource) and not source.radius_arcsec > 0:
        raise ValueError(f"disk source: the radius must be > 0 arcsec, not {source.radius_arcsec}")
    if isinstance(source, PointSource) and (
        source.psf_sigma_arcsec is not None and not source.psf_sigma_arcsec >= 0
    ):
        raise ValueError("point source: psf_sigma_arcsec must be >= 0")


def separation_arcmin(ra0: float, dec0: float, ra, dec) -> np.ndarray:
    """Angular distance (arcmin) between (ra0, dec0) and (ra, dec), degrees in."""
    a0, d0, a, d = (np.deg2rad(np.asarray(v, float)) for v in (ra0, dec0, ra, dec))
    h = np.sin((d - d0) / 2) ** 2 + np.cos(d) * np.cos(d0) * np.sin((a - a0) / 2) ** 2
    return np.rad2deg(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))) * 60.0


def psf_sigma_arcsec(source: PointSource, ra_nom: float, dec_nom: float) -> float:
    """The Gaussian σ (arcsec) a point source is blurred with."""
    if source.psf_sigma_arcsec is not None:
        return float(source.psf_sigma_arcsec)
    theta = float(separation_arcmin(ra_nom, dec_nom, source.ra, source.dec))
    return PSF_CORE_ARCSEC + PSF_SLOPE_ARCSEC * theta**2


def _offsets_to_radec(ra0: float, dec0: float, xi_arcsec, eta_arcsec):
    """(RA, Dec) of tangent-plane offsets (arcsec; ξ toward +RA, η north) about a centre."""
    frame = SkyFrame(float(ra0), float(dec0), (0.0, 0.0), (-1 / 3600.0, 1 / 3600.0))
    return sky_to_radec(frame, -np.asarray(xi_arcsec, float), np.asarray(eta_arcsec, float))


def cap_area_arcmin2(radius_arcmin: float) -> float:
    """Solid angle (arcmin²) of a spherical cap."""
    return 2 * math.pi * (1 - math.cos(math.radians(radius_arcmin / 60.0))) * ARCMIN2_PER_SR


def photon_rate(source: Source, field_radius_arcmin: float) -> float:
    """Photons per cm² per s the source emits (the flat field: over the field cap)."""
    if isinstance(source, FlatField):
        return source.flux_per_arcmin2 * cap_area_arcmin2(field_radius_arcmin)
    return float(source.flux)


def draw_positions(
    source: Source,
    rng: np.random.Generator,
    n: int,
    ra_nom: float,
    dec_nom: float,
    field_radius_arcmin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (deg) of ``n`` photons of the source; a flat field fills a cap of
    ``field_radius_arcmin`` about (ra_nom, dec_nom) uniformly in solid angle."""
    if isinstance(source, PointSource):
        sigma = psf_sigma_arcsec(source, ra_nom, dec_nom)
        if sigma == 0:
            return np.full(n, float(source.ra)), np.full(n, float(source.dec))
        xi, eta = rng.normal(0.0, sigma, (2, n))
        return _offsets_to_radec(source.ra, source.dec, xi, eta)
    if isinstance(source, DiskSource):
        r = source.radius_arcsec * np.sqrt(rng.random(n))
        phi = rng.uniform(0, 2 * np.pi, n)
        return _offsets_to_radec(source.ra, source.dec, r * np.sin(phi), r * np.cos(phi))
    cos_max = math.cos(math.radians(field_radius_arcmin / 60.0))
    rho = np.arccos(rng.uniform(cos_max, 1.0, n))
    phi = rng.uniform(0, 2 * np.pi, n)
    t = np.rad2deg(np.tan(rho)) * 3600.0  # tangent-plane distance, arcsec
    return _offsets_to_radec(ra_nom, dec_nom, t * np.sin(phi), t * np.cos(phi))


def describe(source: Source) -> str:
    """One line for the user."""
    spec = source.spectrum
    if len(spec.energy_kev) == 1:
        energy = f"{spec.energy_kev[0]:g} keV"
    elif spec.width_kev > 0:
        lo = spec.energy_kev[0] - spec.width_kev / 2
        hi = spec.energy_kev[-1] + spec.width_kev / 2
        energy = f"flat {lo:g}-{hi:g} keV"
    else:
        energy = f"{len(spec.energy_kev)} lines, mean {spec.mean_energy_kev:.3g} keV"
    if isinstance(source, PointSource):
        return f"point RA={source.ra:.6f} Dec={source.dec:.6f} flux={source.flux:g} ({energy})"
    if isinstance(source, DiskSource):
        return (
            f"disk RA={source.ra:.6f} Dec={source.dec:.6f} r={source.radius_arcsec:g}″ "
            f"flux={source.flux:g} ({energy})"
        )
    return f"flat field {source.flux_per_arcmin2:g} /arcmin² ({energy})"
