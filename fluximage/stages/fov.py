"""The field of view (skyfov): one sky polygon per chip, traced through the aspect.

The corners of each chip's active window (from the mask file; the whole chip
without one) are carried to the sky for every aspect sample: chip planes and
both tangent-plane projections keep straight lines straight, so the corners
are enough.  ``convexhull`` takes the convex hull of all those points;
``minmax`` grows the outline at the mean pointing by the extreme pointing
offsets and roll (fewer vertices, slightly larger).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.pixlib import AspectSamples, Detector, SkyFrame, chip_size, chip_to_sky
from ..inputs.mask import Window
from ..messages import FluximageError

__all__ = [
    "ASPECT_METHODS",
    "SIMPLIFY_TOLERANCE",
    "ChipFov",
    "chip_windows",
    "convex_hull",
    "convex_hull_direct",
    "field_of_view",
    "fov_method",
    "simplify_convex",
    "trace_chip",
]


ASPECT_METHODS = {"ASPSOLOBI": "convexhull", "ASPSOL": "minmax", "ASPSOL3": "minmax"}


@dataclass(frozen=True, eq=False)
class ChipFov:
    """A closed polygon (last vertex = first) in sky pixels."""

    chip: int
    x: np.ndarray
    y: np.ndarray

    @property
    def x_range(self) -> tuple[float, float]:
        return float(self.x.min()), float(self.x.max())

    @property
    def y_range(self) -> tuple[float, float]:
        return float(self.y.min()), float(self.y.max())


def fov_method(contents: list[str], listing: str) -> str:
    """skyfov's method from the aspect files' CONTENT (all must agree)."""
    kinds = sorted(set(contents))
    if len(kinds) > 1:
        raise FluximageError(
            f"Multiple types of aspect solution found: {' '.join(kinds)}\n{listing}"
        )
    if not kinds or kinds[0] not in ASPECT_METHODS:
        raise FluximageError(
            f"Invalid CONTENT={kinds[0] if kinds else ''} in aspect solution\n{listing}"
        )
    return ASPECT_METHODS[kinds[0]]


def chip_windows(det: Detector, chip: int, windows: dict[int, list[Window]] | None) -> list[Window]:
    """The chip's active windows; the whole chip when the mask says nothing about it."""
    if windows and windows.get(chip):
        return windows[chip]
    nx, ny = chip_size(det.instrument, chip)
    return [Window((1, int(nx)), (1, int(ny)))]


SIMPLIFY_TOLERANCE = 0.01  # sky pixels a dropped hull vertex may lie outside the polygon


def simplify_convex(vertices: np.ndarray, tolerance: float = SIMPLIFY_TOLERANCE) -> np.ndarray:
    """Drop vertices of a convex polygon lying within ``tolerance`` of the edge that
    replaces them (the hull of thousands of dithered corners is mostly near-collinear).
    """
    n = len(vertices)
    closed = np.vstack([vertices, vertices[:1]])
    kept = [0]
    i = 0
    while i < n:
        j = i + 1
        # extend the edge i -> j while every skipped vertex stays within the tolerance
        while j + 1 <= n and _max_offset(closed, i, j + 1) < tolerance:
            j += 1
        if j < n:
            kept.append(j)
        i = j
    return vertices[kept]


def _max_offset(points: np.ndarray, i: int, j: int) -> float:
    """Largest distance of points[i+1:j] from the line through points[i] and points[j]."""
    if j - i < 2:
        return 0.0
    a, b = points[i], points[j]
    chord = b - a
    length = np.hypot(*chord)
    if length == 0:
        return np.inf
    inner = points[i + 1 : j] - a
    return float(np.max(np.abs(chord[0] * inner[:, 1] - chord[1] * inner[:, 0])) / length)


def convex_hull_direct(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of (n, 2) points, counter-clockwise from the lowest-x
    (then lowest-y) point; points on an edge are not vertices (monotone chain)."""
    pts = sorted(set(map(tuple, np.asarray(points, dtype=float).tolist())))
    if len(pts) < 3:
        return np.array(pts, dtype=float).reshape(-1, 2)

    def cross(o, a, b) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def chain(seq) -> list:
        out: list = []
        for p in seq:
            while len(out) >= 2 and cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = chain(pts), chain(reversed(pts))
    return np.array(lower[:-1] + upper[:-1], dtype=float)


def _cross(o: np.ndarray, a: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(a − o) × (p − o) for every point p: > 0 left of o→a, < 0 right of it."""
    return (a[0] - o[0]) * (points[:, 1] - o[1]) - (a[1] - o[1]) * (points[:, 0] - o[0])


def convex_hull(points: np.ndarray) -> np.ndarray:
    """:func:`convex_hull_direct` by quickhull, each step on whole arrays: the hull of
    800,000 dithered chip corners (a real aspect solution) in a few tens of ms.

    Our own, not scipy's ConvexHull: scipy.spatial costs ~0.2 s to import, at every run.
    The farthest point of a side is a vertex; of several equally far (on a line parallel
    to the side) the first along the side is taken, so that no point between two hull
    vertices on an edge is ever one.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(pts) < 3:
        return convex_hull_direct(pts)
    x, y = pts[:, 0], pts[:, 1]
    lowest, highest = np.flatnonzero(x == x.min()), np.flatnonzero(x == x.max())
    a, b = pts[lowest[np.argmin(y[lowest])]], pts[highest[np.argmax(y[highest])]]  # in (x, y)
    side = _cross(a, b, pts)
    hull: list[np.ndarray] = []
    # in order: a, the vertices right of a→b (below), b, those right of b→a (above)
    todo: list = [(b, a, pts[side > 0]), b, (a, b, pts[side < 0]), a]
    while todo:
        item = todo.pop()
        if not isinstance(item, tuple):
            hull.append(item)
            continue
        p, q, out = item  # every point of ``out`` is right of p→q
        if len(out) == 0:
            continue
        distance = _cross(p, q, out)
        along = (q[0] - p[0]) * (out[:, 0] - p[0]) + (q[1] - p[1]) * (out[:, 1] - p[1])
        far = np.flatnonzero(distance == distance.min())
        c = out[far[np.argmin(along[far])]]
        todo += [(c, q, out[_cross(c, q, out) < 0]), c, (p, c, out[_cross(p, c, out) < 0])]
    if len(hull) == 2 and np.array_equal(hull[0], hull[1]):  # every point the same
        hull = hull[:1]
    return np.array(hull, dtype=float)


def _closed(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vertices = simplify_convex(convex_hull(points))  # counter-clockwise
    vertices = np.vstack([vertices, vertices[:1]])
    return vertices[:, 0], vertices[:, 1]


def _corners_on_sky(det, chip, corners, aspect: AspectSamples, frame: SkyFrame) -> np.ndarray:
    """(n_aspect * n_corners, 2) sky positions of chip corners for each aspect sample."""
    a = aspect[:, None]
    x, y = chip_to_sky(det, chip, corners[:, 0][None, :], corners[:, 1][None, :], a, frame)
    return np.column_stack([np.ravel(x), np.ravel(y)])


def trace_chip(
    det: Detector,
    chip: int,
    windows: list[Window],
    aspect: AspectSamples,
    frame: SkyFrame,
    method: str,
) -> ChipFov:
    """The sky polygon of one chip for the given aspect samples."""
    if len(aspect) == 0:
        raise FluximageError(f"No aspect samples to trace the field of view of chip {chip}")
    corners = np.vstack([w.corners() for w in windows])
    if method == "convexhull":
        points = _corners_on_sky(det, chip, corners, aspect, frame)
    else:
        points = _minmax_points(det, chip, corners, aspect, frame)
    x, y = _closed(points)
    return ChipFov(chip, x, y)


def _minmax_points(det, chip, corners, aspect: AspectSamples, frame: SkyFrame) -> np.ndarray:
    """Outline at the mean pointing (extreme rolls) plus the extreme pointing offsets."""
    mean = AspectSamples(
        *(
            np.array([np.mean(getattr(aspect, f))])
            for f in ("ra", "dec", "roll", "dy", "dz", "dtheta")
        )
    )
    extremes = [
        AspectSamples(mean.ra, mean.dec, roll, mean.dy, mean.dz, mean.dtheta)
        for roll in (float(np.min(aspect.roll)), float(np.max(aspect.roll)))
    ]
    outline = np.vstack([_corners_on_sky(det, chip, corners, a, frame) for a in extremes])
    # the pointing offsets, as the shift of the aimpoint on the sky
    centre = corners.mean(axis=0)
    cx, cy = chip_to_sky(det, chip, centre[0], centre[1], aspect, frame)
    mx, my = chip_to_sky(det, chip, centre[0], centre[1], mean, frame)
    dx, dy = np.ravel(cx) - float(np.ravel(mx)[0]), np.ravel(cy) - float(np.ravel(my)[0])
    box = np.array(
        [[dx.min(), dy.min()], [dx.max(), dy.min()], [dx.max(), dy.max()], [dx.min(), dy.max()]]
    )
    return (outline[:, None, :] + box[None, :, :]).reshape(-1, 2)


def field_of_view(
    det: Detector,
    chips: list[int] | tuple[int, ...],
    windows: dict[int, list[Window]] | None,
    aspect: AspectSamples,
    frame: SkyFrame,
    method: str,
) -> list[ChipFov]:
    """One polygon per chip."""
    return [trace_chip(det, c, chip_windows(det, c, windows), aspect, frame, method) for c in chips]
