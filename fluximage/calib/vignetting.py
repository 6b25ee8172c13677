"""HRMA vignetting V(E, θ, φ) as CIAO's ardlib interpolates the CALDB ``VIGNET`` table.

One table class serves both calibrations, so the CALDB path and the built-in one follow
the same conventions by construction:

- **Axes.** ``factor[φ, θ, E]``: the CALDB file's ``VIGNET`` cell with ``TDIM =
  (nE, nθ, nφ)``, energies at the centres of ``ENERG_LO``/``ENERG_HI`` (keV), θ the
  off-axis angle (arcmin), φ the azimuth (deg) in the file's ``XMA_POL`` system.
- **Interpolation.** Linear in energy between the two neighbouring planes, then bilinear
  in (θ, φ) (the ardlib recipe); energy and θ are clamped to the table; φ is periodic
  (the first azimuth is repeated at +360°).
- **Azimuth convention.** φ is the mirror-spherical (MSC) azimuth that pixlib gives for a
  focal-plane position: ``φ = atan2(DETY − c, DETX − c)``, 0–360°
  (:func:`fluximage.geometry.pixlib.chip_off_axis`).  The HRMA and the science instruments
  are both fixed to the spacecraft, so φ of a chip pixel does not depend on the roll: the
  vignetting pattern is fixed in detector coordinates and turns with the roll on the sky.
  mkarf, mkgarf and mkinstmap before CIAO 4.14 looked the table up at 180° − φ (CIAO caveat
  "Vignetting sign error bug", cxc.harvard.edu/ciao4.15/caveats/vignetting_sign_error.html:
  < 0.2 % near the aimpoint, up to ±2 % far off axis; mkwarf was not affected); fluximage
  follows CIAO ≥ 4.14 (``docs/differences.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VignettingTable", "linear_weights"]


def linear_weights(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices i0, i1 and weight w of ``x`` (clamped) on an increasing grid."""
    grid = np.asarray(grid, float)
    x = np.clip(np.asarray(x, float), grid[0], grid[-1])
    if grid.size == 1:
        zero = np.zeros(x.shape, int)
        return zero, zero, np.zeros(x.shape)
    i0 = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
    step = grid[i0 + 1] - grid[i0]
    w = np.where(step > 0, (x - grid[i0]) / np.where(step > 0, step, 1.0), 0.0)
    return i0, i0 + 1, w


@dataclass(frozen=True, eq=False)
class VignettingTable:
    """Vignetting factor ``factor[φ, θ, E]`` (fraction of the on-axis area).

    ``energy_kev``, ``theta_arcmin`` and ``phi_deg`` are increasing; φ covers less than
    360° (it is closed periodically).
    """

    energy_kev: np.ndarray
    theta_arcmin: np.ndarray
    phi_deg: np.ndarray
    factor: np.ndarray

    def plane(self, energy_kev: float) -> np.ndarray:
        """``V[φ, θ]`` at one energy (linear between the two nearest energy planes, clamped),
        with the first azimuth repeated at the end (shape (nφ + 1, nθ))."""
        e0, e1, we = linear_weights(self.energy_kev, np.asarray(float(energy_kev)))
        plane = self.factor[:, :, int(e0)] * (1.0 - we) + self.factor[:, :, int(e1)] * we
        return np.concatenate([plane, plane[:1]], axis=0).astype(float)

    def __call__(self, energy_kev, theta_arcmin, phi_deg) -> np.ndarray:
        """V at (θ arcmin, φ deg), bilinear in (θ, φ), ≥ 0.

        ``energy_kev``: one energy, or a 1-D array of energies; then the result has a
        leading energy axis (the cells of (θ, φ) are found once for all energies).

        The table is laid out row by row (one row per azimuth, θ along it) on one axis,
        row k starting at k·nθ, so that the θ interpolation within the rows of the two
        bracketing azimuths is a plain ``np.interp`` (a quarter of the time of four
        gathers); the result equals :meth:`direct` to rounding.
        """
        theta, phi = np.broadcast_arrays(
            np.asarray(theta_arcmin, float), np.asarray(phi_deg, float)
        )
        shape = theta.shape
        theta, phi = theta.reshape(-1), phi.reshape(-1)  # scalars as 1-element arrays
        n_theta, n_phi = self.theta_arcmin.size, self.phi_deg.size
        t = np.interp(theta, self.theta_arcmin, np.arange(n_theta, dtype=float))
        phis = np.append(self.phi_deg, self.phi_deg[0] + 360.0)
        p = np.mod(phi - self.phi_deg[0], 360.0)
        p += self.phi_deg[0]
        p = np.interp(p, phis, np.arange(n_phi + 1, dtype=float))
        row = np.minimum(np.floor(p), n_phi - 1)
        wp = p - row
        key_lo = row * n_theta + t  # position on the row-by-row axis
        key_hi = key_lo + n_theta
        del t, p, row
        axis = np.arange((n_phi + 1) * n_theta, dtype=float)

        def at(energy: float) -> np.ndarray:
            flat = self.plane(energy).ravel()
            lower = np.interp(key_lo, axis, flat)
            upper = np.interp(key_hi, axis, flat)
            upper -= lower
            upper *= wp
            upper += lower
            return np.maximum(upper, 0.0, out=upper).reshape(shape)

        if np.ndim(energy_kev) == 0:
            return at(float(energy_kev))[()]
        return np.stack([at(float(e)) for e in np.asarray(energy_kev, float)])

    def direct(self, energy_kev: float, theta_arcmin, phi_deg) -> np.ndarray:
        """The same interpolation written plainly (searchsorted weights, four products):
        the reference that :meth:`__call__` is tested against."""
        theta, phi = np.broadcast_arrays(
            np.asarray(theta_arcmin, float), np.asarray(phi_deg, float)
        )
        plane = self.plane(energy_kev)
        phis = np.append(self.phi_deg, self.phi_deg[0] + 360.0)
        p = np.mod(phi - self.phi_deg[0], 360.0) + self.phi_deg[0]
        p0, p1, wp = linear_weights(phis, p)
        t0, t1, wt = linear_weights(self.theta_arcmin, theta)
        value = (
            plane[p0, t0] * (1 - wp) * (1 - wt) + plane[p0, t1] * (1 - wp) * wt
            + plane[p1, t0] * wp * (1 - wt) + plane[p1, t1] * wp * wt
        )  # fmt: skip
        return np.clip(value, 0.0, None)

    def azimuth_mean(self, energy_kev, theta_arcmin) -> np.ndarray:
        """V averaged over φ (the table's azimuths, equally spaced) at (E, θ); E and θ
        broadcast."""
        energy, theta = np.broadcast_arrays(
            np.asarray(energy_kev, float), np.asarray(theta_arcmin, float)
        )
        out = np.empty(energy.shape)
        for index in np.ndindex(energy.shape):
            row = self.plane(float(energy[index]))[:-1].mean(axis=0)
            out[index] = np.interp(theta[index], self.theta_arcmin, row)
        return out
