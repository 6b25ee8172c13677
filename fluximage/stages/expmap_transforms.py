"""Per-bin transforms of the fast exposure map: c₀ → c_b, from the chip coordinates at
the duration-weighted mean aspect to those of each aspect bin.

Every step of the sky → chip chain is a projective map of the plane, so c₀ → c_b is a
2-D homography; it is fitted to exact pixlib transforms of a lattice of points over the
chip and checked on a second, interleaved lattice (see :mod:`.expmap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.pixlib import AspectSamples, Detector, SkyFrame, chip_size, chip_to_sky, sky_to_chip

__all__ = [
    "AFFINE_ERROR_PIX",
    "MAX_FIT_ERROR_PIX",
    "MEAN_FIT_ERROR_PIX",
    "BinTransforms",
    "SkyToChip",
    "apply_transforms",
    "fit_affine",
    "fit_bin_transforms",
    "fit_projective",
    "fit_sky_to_chip",
]


AFFINE_ERROR_PIX = 1e-6  # use the affine fit when it is this good (chip pixels)
MEAN_FIT_ERROR_PIX = 1e-8  # sky → c₀ by a homography only when this good (else pixlib)
MAX_FIT_ERROR_PIX = 1e-4  # else the homography if this good; else pixlib per bin
_FIT_LATTICE = 7  # fit points per axis over the chip (a second, interleaved lattice checks)


@dataclass(frozen=True, eq=False)
class BinTransforms:
    """Per-bin maps from mean-aspect chip coordinates c₀ to each bin's coordinates c_b.

    ``matrix[b]`` (3×3) acts on homogeneous normalised coordinates
    ``(u, v, 1)``, ``u = (c₀ − centre) / scale``, and gives ``c_b`` in chip pixels
    (``affine``: last row (0, 0, 1); otherwise a homography).
    """

    matrix: np.ndarray  # (n_bins, 3, 3)
    centre: np.ndarray  # (2,) chip pixels
    scale: float  # chip pixels
    affine: bool
    error_pix: float  # largest error on the check lattice (chip pixels)
    max_shift_pix: float  # largest |c_b − c₀| on the lattices (chip pixels)


def _lattice(n_x: float, n_y: float, count: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """A count × count lattice over the chip, shifted by ``offset`` cells (0: corners)."""
    t = (np.arange(count) + offset) / (count - 1)
    gx, gy = np.meshgrid(0.5 + n_x * t, 0.5 + n_y * t)
    return gx.ravel(), gy.ravel()


def fit_affine(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Least-squares affine maps (n_bins, 3, 3) taking points u (k, 2) to w (n_bins, k, 2)."""
    nb, k = w.shape[:2]
    design = np.column_stack([u, np.ones(k)])  # (k, 3)
    rhs = np.moveaxis(w, 1, 0).reshape(k, 2 * nb)  # columns: bin 0 x, bin 0 y, bin 1 x, ...
    coef = np.linalg.lstsq(design, rhs, rcond=None)[0]  # (3, 2·nb)
    out = np.zeros((nb, 3, 3))
    out[:, :2, :] = coef.T.reshape(nb, 2, 3)
    out[:, 2, 2] = 1.0
    return out


def fit_projective(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Least-squares homographies (n_bins, 3, 3), h₂₂ = 1, taking u (k, 2) to w (n_bins, k, 2)."""
    nb, k = w.shape[:2]
    uu = np.broadcast_to(u[:, 0], (nb, k))
    vv = np.broadcast_to(u[:, 1], (nb, k))
    one, zero = np.ones((nb, k)), np.zeros((nb, k))
    wx, wy = w[..., 0], w[..., 1]
    rows_x = np.stack([uu, vv, one, zero, zero, zero, -uu * wx, -vv * wx], axis=-1)
    rows_y = np.stack([zero, zero, zero, uu, vv, one, -uu * wy, -vv * wy], axis=-1)
    a = np.concatenate([rows_x, rows_y], axis=1)  # (nb, 2k, 8)
    at = np.swapaxes(a, 1, 2)
    rhs = np.concatenate([wx, wy], axis=1)[..., None]  # (nb, 2k, 1)
    h = np.linalg.solve(at @ a, at @ rhs)[..., 0]
    return np.concatenate([h, np.ones((nb, 1))], axis=1).reshape(nb, 3, 3)


def apply_transforms(matrix: np.ndarray, u: np.ndarray, v: np.ndarray):
    """Transforms (n_bins, 3, 3) applied to points (k,): two (n_bins, k) arrays.

    The homographies here are near-affine (den = 1 + ~1e-7), so 1/den is taken as
    2 − den (error den² ~ 1e-14, i.e. ~1e-10 pixel); the fit error check measures it.
    """
    m = matrix[:, :, :, None]
    q = 2.0 - (m[:, 2, 0] * u + m[:, 2, 1] * v + m[:, 2, 2])  # 1/den, den ≈ 1 (see above)
    x = (m[:, 0, 0] * u + m[:, 0, 1] * v + m[:, 0, 2]) * q
    return x, (m[:, 1, 0] * u + m[:, 1, 1] * v + m[:, 1, 2]) * q


def fit_bin_transforms(
    det: Detector,
    chip: int,
    aspects: AspectSamples,
    reference: AspectSamples,
    frame: SkyFrame,
    kind: str = "auto",
) -> BinTransforms:
    """Fit c₀ → c_b for every bin on a lattice over the chip; measure the error on another.

    ``kind``: ``affine``, ``projective`` or ``auto`` (affine if within AFFINE_ERROR_PIX).
    """
    n_x, n_y = (float(n) for n in chip_size(det.instrument, chip))
    centre = np.array([0.5 + n_x / 2, 0.5 + n_y / 2])
    scale = max(n_x, n_y) / 2

    def through_sky(cx: np.ndarray, cy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised exact c₀ (k, 2) and c_b (n_bins, k, 2) of where the mean aspect
        puts chip (cx, cy) on the sky."""
        x, y = chip_to_sky(det, chip, cx, cy, reference, frame)
        c0x, c0y, _ = sky_to_chip(det, chip, x, y, reference, frame)
        cbx, cby, _ = sky_to_chip(det, chip, x[None, :], y[None, :], aspects[:, None], frame)
        c0 = (np.stack([c0x, c0y], -1) - centre) / scale
        return c0, (np.stack([cbx, cby], -1) - centre) / scale

    u, w = through_sky(*_lattice(n_x, n_y, _FIT_LATTICE, 0.0))
    u_check, w_check = through_sky(*_lattice(n_x, n_y, _FIT_LATTICE - 1, 0.5))

    def error(matrix: np.ndarray) -> float:
        px, py = apply_transforms(matrix, u_check[:, 0], u_check[:, 1])
        return float(np.hypot(px - w_check[..., 0], py - w_check[..., 1]).max() * scale)

    shift = max(float(np.abs(w - u).max()), float(np.abs(w_check - u_check).max())) * scale
    matrix = fit_affine(u, w)
    affine_error = error(matrix)
    affine = kind == "affine" or (kind == "auto" and affine_error <= AFFINE_ERROR_PIX)
    if not affine:
        matrix = fit_projective(u, w)
    fit_error = affine_error if affine else error(matrix)
    to_chip = np.array([[scale, 0.0, centre[0]], [0.0, scale, centre[1]], [0.0, 0.0, 1.0]])
    return BinTransforms(to_chip @ matrix, centre, scale, affine, fit_error, shift)


@dataclass(frozen=True, eq=False)
class SkyToChip:
    """A homography from sky pixels to chip pixels at one aspect (c₀ = H(x, y))."""

    matrix: np.ndarray  # (3, 3) on normalised sky (x − centre)/scale → normalised chip
    sky_centre: np.ndarray  # (2,)
    sky_scale: float
    chip_centre: np.ndarray  # (2,)
    chip_scale: float
    error_pix: float  # largest error on the check lattice (chip pixels)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chip (x, y) of sky (x, y); the arguments broadcast (a row and a column give a
        grid)."""
        u = (np.asarray(x, float) - self.sky_centre[0]) / self.sky_scale
        v = (np.asarray(y, float) - self.sky_centre[1]) / self.sky_scale
        m = self.matrix
        den = (m[2, 0] * u + m[2, 2]) + m[2, 1] * v
        cx = ((m[0, 0] * u + m[0, 2]) + m[0, 1] * v) / den
        cy = ((m[1, 0] * u + m[1, 2]) + m[1, 1] * v) / den
        cx *= self.chip_scale
        cx += self.chip_centre[0]
        cy *= self.chip_scale
        cy += self.chip_centre[1]
        return cx, cy


def fit_sky_to_chip(
    det: Detector, chip: int, frame: SkyFrame, aspect: AspectSamples, margin_pix: float
) -> SkyToChip:
    """pixlib's sky → chip at one aspect as a homography (the chain is projective), fitted
    on a lattice over the chip grown by ``margin_pix`` and checked on another."""
    n_x, n_y = (float(n) for n in chip_size(det.instrument, chip))
    chip_centre = np.array([0.5 + n_x / 2, 0.5 + n_y / 2])
    chip_scale = max(n_x, n_y) / 2 + margin_pix

    def points(count: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
        t = (np.arange(count) + offset) / (count - 1)
        gx, gy = np.meshgrid(0.5 - margin_pix + (n_x + 2 * margin_pix) * t,
                             0.5 - margin_pix + (n_y + 2 * margin_pix) * t)  # fmt: skip
        sx, sy = chip_to_sky(det, chip, gx.ravel(), gy.ravel(), aspect, frame)
        cx, cy, _ = sky_to_chip(det, chip, sx, sy, aspect[0], frame)
        return np.stack([sx, sy], -1), np.stack([cx, cy], -1)

    sky, c0 = points(_FIT_LATTICE, 0.0)
    sky_check, c0_check = points(_FIT_LATTICE - 1, 0.5)
    sky_centre = sky.mean(axis=0)
    sky_scale = float(np.abs(sky - sky_centre).max())
    matrix = fit_projective((sky - sky_centre) / sky_scale,
                            ((c0 - chip_centre) / chip_scale)[None])[0]  # fmt: skip
    fit = SkyToChip(matrix, sky_centre, sky_scale, chip_centre, chip_scale, 0.0)
    px, py = fit(sky_check[:, 0], sky_check[:, 1])
    error = float(np.hypot(px - c0_check[:, 0], py - c0_check[:, 1]).max())
    return SkyToChip(matrix, sky_centre, sky_scale, chip_centre, chip_scale, error)
