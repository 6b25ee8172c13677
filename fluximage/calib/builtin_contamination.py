"""The ACIS contamination model of the built-in calibration (``data/acis_contamination.npz``).

Transmission of the contaminant on the optical blocking filters at chip pixel (x, y)::

    T(E, t, x, y) = exp(−μ(E)·[τ0(t') + τ1(t')·f(x, y)] − Δτ(E, t)·g(x, y)),   t' = min(t, t_end)

- **N0007 part** (CALDB ``acisD1999-08-13contamN0007``, one layer): μ(E) linear in energy
  (end values outside), τ0/τ1 linear in time and *frozen at the last table time t_end
  (2014-06)*, τ1 per array (I, S); f(x, y) from the file's blocked maps (one 64×64 map of
  16-pixel blocks per I chip, one 128-block CHIPY profile for all S chips; nearest block).
- **Late part** (after t_end, zero before): extra optical depth Δτ at the array's aimpoint,
  tabulated at two epochs per array: cycle 18 (taken as 2017-07-01) and a second epoch
  (ACIS-S: PIMMS cycle 20, 2019-07-01; ACIS-I: the CXC cycle-21 aimpoint ARF, 2020-05-15),
  see ``tools/make_builtin_calibration.py``; the post-2015 contaminant has a flatter μ(E),
  so each epoch has its own Δτ(E) (linear in log E).  In time: linear from 0 at t_end to
  cycle 18, linear between the epochs, and after the second growing at the cycle-18 rate
  (Δτ18·(t − t2)/(t18 − t_end), the pre-2016 rate the CXC found resumed in 2019): an
  extrapolation; the CALDB's N0016 is the real answer.
- **Spatial dependence of the late part (approximate)**: g(x, y) = (τ0 + τ1·f(x, y)) /
  (τ0 + τ1·f(aimpoint)) of N0007 at t_end, i.e. the late layer has N0007's centre-to-edge
  pattern, normalised to 1 at the aimpoint of the array (I3 for chips 0-3, S3 for 4-9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import bilinear
from .builtin_tables import interp_log_energy, read_npz_table

__all__ = ["ACIS_CHIPS", "I_CHIPS", "ContaminationModel", "block_index"]


I_CHIPS = (0, 1, 2, 3)
ACIS_CHIPS = tuple(range(10))


@dataclass(frozen=True, eq=False)
class ContaminationModel:
    """The arrays of ``acis_contamination.npz`` (see the module docstring)."""

    energy_kev: np.ndarray
    mu: np.ndarray
    time_met: np.ndarray
    tau0: np.ndarray
    tau1: dict[str, np.ndarray]  # "i", "s"
    fxy_i: dict[int, np.ndarray]  # CCD_ID → [y block, x block]
    block_i: int
    fxy_s: np.ndarray  # CHIPY block → f
    block_s: int
    late_energy_kev: np.ndarray
    late_dtau: dict[str, np.ndarray]  # "i", "s" → rows cycle 18, second epoch
    late_time_met: dict[str, np.ndarray]  # "i", "s" → t_end, t18, second epoch
    aimpoint: dict[str, tuple[int, float, float]]  # "i", "s" → CCD_ID, chipx, chipy
    source: str

    @classmethod
    def load(cls, name: str = "acis_contamination.npz") -> ContaminationModel:
        t = read_npz_table(name)
        return cls(
            energy_kev=t["energy_kev"], mu=t["mu"], time_met=t["time_met"], tau0=t["tau0"],
            tau1={"i": t["tau1_i"], "s": t["tau1_s"]},
            fxy_i={c: t[f"fxy_ccd{c}"].astype(float) for c in I_CHIPS},
            block_i=int(t["block_i"]), fxy_s=t["fxy_s"].astype(float), block_s=int(t["block_s"]),
            late_energy_kev=t["late_energy_kev"],
            late_dtau={"i": t["late_dtau_i"], "s": t["late_dtau_s"]},
            late_time_met={a: t[f"late_time_met_{a}"] for a in ("i", "s")},
            aimpoint={a: _aimpoint(t[f"aimpoint_{a}"]) for a in ("i", "s")},
            source=str(t["source"]),
        )  # fmt: skip

    @property
    def end_met(self) -> float:
        """The last time of the N0007 table (its τ are frozen after it)."""
        return float(self.time_met[-1])

    def spatial(self, chip: int, chipx, chipy) -> np.ndarray:
        """N0007 f(x, y) at chip positions: linear between block centres, clamped outside."""
        x, y = np.broadcast_arrays(np.asarray(chipx, float), np.asarray(chipy, float))
        if chip in I_CHIPS:
            fxy, block = self.fxy_i[chip], self.block_i
            if _is_grid(x, y):  # rows of a map: interpolate along each axis once
                rows = _linear_along(fxy, block_index(y[:, 0], block), axis=0)
                return _linear_along(rows, block_index(x[0], block), axis=1)
            at = block_index(y.ravel(), block), block_index(x.ravel(), block)
            return bilinear(fxy, *at).reshape(x.shape)
        return np.interp(block_index(y, self.block_s), np.arange(len(self.fxy_s)), self.fxy_s)

    def _taus(self, array: str, time_met: float) -> tuple[float, float]:
        t = min(float(time_met), self.end_met)
        return (float(np.interp(t, self.time_met, self.tau0)),
                float(np.interp(t, self.time_met, self.tau1[array])))  # fmt: skip

    def late_weights(self, array: str, time_met: float) -> tuple[float, float]:
        """Weights (w18, w2) of the cycle-18 and second-epoch optical depths at a time."""
        t_end, t18, t2 = (float(v) for v in self.late_time_met[array])
        t = float(time_met)
        if t <= t_end:
            return 0.0, 0.0
        if t <= t18:
            return (t - t_end) / (t18 - t_end), 0.0
        if t <= t2:
            u = (t - t18) / (t2 - t18)
            return 1.0 - u, u
        return (t - t2) / (t18 - t_end), 1.0

    def late_depth(self, array: str, energy_kev: float, time_met: float) -> float:
        """Extra optical depth Δτ(E, t) at the aimpoint of the array."""
        w18, w2 = self.late_weights(array, time_met)
        if w18 == 0.0 and w2 == 0.0:
            return 0.0
        d18, d2 = (interp_log_energy(energy_kev, self.late_energy_kev, row)
                   for row in self.late_dtau[array])  # fmt: skip
        return float(w18 * d18 + w2 * d2)

    def transmission(
        self, chip: int, energy_kev: float | np.ndarray, chipx, chipy, time_met: float
    ) -> np.ndarray:
        """T(E, t) at chip pixels of an ACIS CCD, 0 < T ≤ 1; a 1-D array of energies gives
        a leading energy axis (f(x, y) is interpolated once for all of them)."""
        if chip not in ACIS_CHIPS:
            raise ValueError(f"ACIS CCD_ID must be 0-9, not {chip}")
        energies = np.asarray(energy_kev, float)
        f = np.asarray(self.spatial(chip, chipx, chipy))
        out = np.empty((energies.size, f.size))
        for layer, energy in zip(out, energies.reshape(-1), strict=True):
            constant, slope = self.depth_terms(chip, float(energy), time_met)
            np.multiply(f.reshape(-1), -slope, out=layer)
            layer -= constant
            np.exp(layer, out=layer)
        return out.reshape(energies.shape + f.shape)[()]

    def depth_terms(self, chip: int, energy_kev: float, time_met: float) -> tuple[float, float]:
        """(a, b) of the optical depth a + b·f(x, y) at one energy and time."""
        array = "i" if chip in I_CHIPS else "s"
        tau0, tau1 = self._taus(array, time_met)
        mu = float(np.interp(float(energy_kev), self.energy_kev, self.mu))
        # depth = μ(τ0 + τ1 f) [+ Δτ (τ0' + τ1' f) / (τ0' + τ1' f_aim)]: affine in f
        constant, slope = mu * tau0, mu * tau1
        late = self.late_depth(array, energy_kev, time_met)
        if late > 0.0:
            end0, end1 = self._taus(array, self.end_met)
            aim_chip, aim_x, aim_y = self.aimpoint[array]
            scale = late / (end0 + end1 * float(self.spatial(aim_chip, aim_x, aim_y)))
            constant, slope = constant + scale * end0, slope + scale * end1
        return constant, slope


def _is_grid(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether 2-D x varies only along rows and y only along columns (a meshgrid)."""
    if x.ndim != 2 or x.size == 0:
        return False
    if x.strides[0] == 0 and y.strides[1] == 0:  # broadcast rows and columns
        return True
    return bool((x == x[:1]).all()) and bool((y == y[:, :1]).all())


def _linear_along(table: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """``table`` interpolated linearly along ``axis`` at fractional indices, clamped to
    [0, n − 1] as ``map_coordinates(mode="nearest")``.  Gathers, not a product with a
    weight matrix: a BLAS call here would compete for the cores with the other maps'
    threads."""
    n = table.shape[axis]
    t = np.clip(index, 0.0, n - 1.0)
    lo = np.minimum(np.floor(t).astype(np.intp), max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    frac = t - lo
    shape = (-1, 1) if axis == 0 else (1, -1)
    below = np.take(table, lo, axis=axis)
    above = np.take(table, hi, axis=axis)
    above -= below
    above *= frac.reshape(shape)
    above += below
    return above


def block_index(chip_coordinate: np.ndarray, block: int) -> np.ndarray:
    """Fractional block index of chip coordinates: block k (from 0) is centred on chip
    0.5 + block·(k + ½)."""
    return (chip_coordinate - 0.5) / block - 0.5


def _aimpoint(values: np.ndarray) -> tuple[int, float, float]:
    return int(values[0]), float(values[1]), float(values[2])
