"""Chandra coordinate transforms ("our own pixlib"): CHIP, TDET, LSI, FC, DET, SKY.

The chain (docs/architecture.md#coordinates):

- CHIP → LSI: affine map of the chip corners, chip (0.5, 0.5) at LL (mm);
- LSI → STF: + instrument ORIGIN + SIM position (SIM_X, SIM_Y, SIM_Z, mm);
- STF → FC: the aspect detector offsets, a rotation by dθ about X then + (0, dy, dz):
  ``FC_y = dy + cos dθ·y − sin dθ·z``, ``FC_z = dz + sin dθ·y + cos dθ·z``, i.e. a
  positive dy puts the detector at +dy, as MARX adds dy, dz to its detector offsets
  (the MARX test data have dy = dz = dθ = 0, so no event list has confirmed the sign);
- FC → DET: the ray from the point to the mirror node (F, 0, 0), gnomonic:
  ``DETX = cx + hx·(v_y/−v_x)/δ``, ``DETY = cy + hy·(v_z/−v_x)/δ`` with δ the FP
  scale in rad/pixel and (hx, hy) the FP HAND;
- DET → (RA, Dec): TAN about the aspect (ra, dec) with CDELT (−s, +s) and CROTA = roll;
- (RA, Dec) → SKY: TAN about (RA_NOM, DEC_NOM), the x/y column TCRPX/TCDLT, no rotation.

Units: chip/TDET/DET/SKY in pixels (integer = pixel centre), LSI/FC in mm, angles in
degrees unless a name says otherwise.  Every function is vectorised and broadcasts
its point arrays against the arrays of an :class:`AspectSamples` (e.g. points of
shape (N,) with ``aspect[:, None]`` give (M, N) results); ``chip_id`` may be an array.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .caldb_geometry import (
    FocalPlaneSystem,
    Geometry,
    InstrumentGeometry,
    Vec2,
    Vec3,
    instrument_name,
)

# the public names are re-exported (and listed) by the package __init__


RAD_PER_ARCSEC = np.pi / (180.0 * 3600.0)
_ASPECT_FIELDS = ("ra", "dec", "roll", "dy", "dz", "dtheta")


# ---- inputs ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AspectSamples:
    """Aspect pointing (ra, dec, roll: deg) and detector offsets (dy, dz: mm; dtheta: deg).

    All six arrays are broadcast to one shape; index like an array (``aspect[:, None]``).
    """

    ra: np.ndarray
    dec: np.ndarray
    roll: np.ndarray
    dy: np.ndarray = 0.0  # type: ignore[assignment]
    dz: np.ndarray = 0.0  # type: ignore[assignment]
    dtheta: np.ndarray = 0.0  # type: ignore[assignment]

    def __post_init__(self):
        arrays = np.broadcast_arrays(*(np.asarray(getattr(self, f), float) for f in _ASPECT_FIELDS))
        for name, arr in zip(_ASPECT_FIELDS, arrays, strict=True):
            object.__setattr__(self, name, np.array(arr))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ra.shape

    def __len__(self) -> int:
        return len(self.ra)

    def __getitem__(self, index) -> AspectSamples:
        return AspectSamples(*(getattr(self, f)[index] for f in _ASPECT_FIELDS))

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray]) -> AspectSamples:
        """From asol columns (``ra dec roll`` and, when present, ``dy dz dtheta``)."""
        low = {k.lower(): v for k, v in columns.items()}
        return cls(*(low.get(f, 0.0) for f in _ASPECT_FIELDS))


def interpolate_aspect(sample_time, aspect: AspectSamples, t) -> AspectSamples:
    """The aspect linearly interpolated to times ``t`` (s); ra and roll unwrapped first."""
    sample_time = np.asarray(sample_time, float)
    order = np.argsort(sample_time, kind="stable")
    st = sample_time[order]
    out = []
    for f in _ASPECT_FIELDS:
        v = getattr(aspect, f)[order]
        if f in ("ra", "roll"):
            v = np.rad2deg(np.unwrap(np.deg2rad(v)))
        iv = np.interp(np.asarray(t, float), st, v)
        out.append(np.mod(iv, 360.0) if f in ("ra", "roll") else iv)
    return AspectSamples(*out)


@dataclass(frozen=True)
class SkyFrame:
    """The SKY pixel frame: tangent point (deg), reference pixel, CDELT (deg/pixel)."""

    ra_nom: float
    dec_nom: float
    crpix: Vec2
    cdelt: Vec2

    @classmethod
    def from_header(cls, header: Mapping, xcol: str = "x", ycol: str = "y") -> SkyFrame:
        """From an event header's TCRVL/TCRPX/TCDLT of the x and y columns."""
        cols = {}
        for key in header:
            if str(key).upper().startswith("TTYPE"):
                cols[str(header[key]).strip().lower()] = str(key)[5:]
        n = [cols.get(c.lower()) for c in (xcol, ycol)]
        if None in n:
            raise ValueError(f"The header has no {xcol}/{ycol} columns")
        crval = []
        for i, key in zip(n, ("RA_NOM", "DEC_NOM"), strict=True):
            value = header.get(f"TCRVL{i}", header.get(key))
            if value is None:
                raise ValueError(f"The header has neither TCRVL{i} nor {key}")
            crval.append(float(value))
        return cls(
            crval[0], crval[1],
            (float(header[f"TCRPX{n[0]}"]), float(header[f"TCRPX{n[1]}"])),
            (float(header[f"TCDLT{n[0]}"]), float(header[f"TCDLT{n[1]}"])),
        )  # fmt: skip

    @classmethod
    def for_system(cls, fp: FocalPlaneSystem, ra_nom: float, dec_nom: float) -> SkyFrame:
        """The standard SKY frame of an FP system (centre = origin, CDELT = (−s, +s))."""
        s = fp.scale / 3600.0
        return cls(float(ra_nom), float(dec_nom), fp.origin, (-s, s))


@dataclass(frozen=True)
class Detector:
    """One instrument at one SIM position (mm): what the chip-side transforms need."""

    instrument: InstrumentGeometry
    focal_length: float
    sim: Vec3

    @property
    def fp(self) -> FocalPlaneSystem:
        return self.instrument.fp

    @classmethod
    def create(cls, geometry: Geometry, instrument: str, sim=None) -> Detector:
        """``sim`` defaults to the instrument's default aimpoint."""
        inst = geometry.instrument(instrument)
        sim = inst.aimpoint if sim is None else tuple(float(v) for v in sim)
        return cls(inst, geometry.focal_length, sim)

    @classmethod
    def from_header(cls, geometry: Geometry, header: Mapping) -> Detector:
        """INSTRUME/DETNAM pick the instrument; a missing SIM_X/Y/Z takes the aimpoint's."""
        name = instrument_name(str(header.get("INSTRUME", "")), header.get("DETNAM"))
        inst = geometry.instrument(name)
        sim = tuple(
            float(header[k]) if header.get(k) is not None else inst.aimpoint[i]
            for i, k in enumerate(("SIM_X", "SIM_Y", "SIM_Z"))
        )
        return cls(inst, geometry.focal_length, sim)


# ---- CHIP <-> LSI, TDET ----------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _chip_table(inst: InstrumentGeometry):
    ids = np.array(inst.chip_ids)
    order = np.argsort(ids)
    chips = [inst.chips[i] for i in order]
    corners = np.array([[c.ll, c.lr, c.ul] for c in chips], float)
    size = np.array([c.size for c in chips], float)
    tdet = np.array(
        [(*c.tdet.origin, c.tdet.angle, c.tdet.scale, c.tdet.hand) for c in chips], float
    )
    return ids[order], corners, size, tdet


def _rows(inst: InstrumentGeometry, chip_id):
    """Indices into the chip table; ValueError for an unknown chip."""
    ids = _chip_table(inst)[0]
    cid = np.asarray(chip_id)
    pos = np.clip(np.searchsorted(ids, cid), 0, len(ids) - 1)
    if not np.all(ids[pos] == cid):
        bad = np.unique(cid[ids[pos] != cid]) if cid.ndim else cid
        raise ValueError(f"{inst.name} has no chip {bad} (chips {tuple(ids)})")
    return pos


def _chip_frame(inst: InstrumentGeometry, chip_id):
    """LL and the per-pixel edge vectors e1 = (LR − LL)/Nx, e2 = (UL − LL)/Ny (mm)."""
    _, corners, size, _ = _chip_table(inst)
    rows = _rows(inst, chip_id)
    c, n = corners[rows], size[rows]
    ll = c[..., 0, :]
    return ll, (c[..., 1, :] - ll) / n[..., :1], (c[..., 2, :] - ll) / n[..., 1:]


def chip_size(inst: InstrumentGeometry, chip_id) -> tuple[np.ndarray, np.ndarray]:
    """(Nx, Ny) pixel counts of the chips."""
    n = _chip_table(inst)[2][_rows(inst, chip_id)]
    return n[..., 0], n[..., 1]


def chip_to_lsi(inst: InstrumentGeometry, chip_id, chipx, chipy) -> np.ndarray:
    """LSI position (mm, last axis x, y, z) of continuous chip coordinates."""
    ll, e1, e2 = _chip_frame(inst, chip_id)
    u = np.asarray(chipx, float)[..., None] - 0.5
    v = np.asarray(chipy, float)[..., None] - 0.5
    return ll + e1 * u + e2 * v


def lsi_to_chip(inst: InstrumentGeometry, chip_id, p_lsi, direction=None):
    """Chip coordinates of LSI points (mm, last axis 3), projected onto the chip plane.

    With ``direction`` (LSI vectors) the points are first moved along it to where the
    line meets the chip plane (a ray intersection).
    """
    ll, e1, e2 = _chip_frame(inst, chip_id)
    p = np.asarray(p_lsi, float)
    if direction is not None:
        d = np.asarray(direction, float)
        normal = np.cross(e1, e2)
        t = np.sum(normal * (ll - p), axis=-1) / np.sum(normal * d, axis=-1)
        p = p + t[..., None] * d
    r = p - ll
    a11, a12, a22 = (np.sum(a * b, axis=-1) for a, b in ((e1, e1), (e1, e2), (e2, e2)))
    b1, b2 = np.sum(r * e1, axis=-1), np.sum(r * e2, axis=-1)
    det = a11 * a22 - a12 * a12
    return (a22 * b1 - a12 * b2) / det + 0.5, (a11 * b2 - a12 * b1) / det + 0.5


def on_chip(inst: InstrumentGeometry, chip_id, chipx, chipy) -> np.ndarray:
    """True where 0.5 ≤ chip < N + 0.5 on both axes."""
    nx, ny = chip_size(inst, chip_id)
    cx, cy = np.asarray(chipx), np.asarray(chipy)
    return (cx >= 0.5) & (cx < nx + 0.5) & (cy >= 0.5) & (cy < ny + 0.5)


def _tdet_terms(inst: InstrumentGeometry, chip_id):
    t = _chip_table(inst)[3][_rows(inst, chip_id)]
    ang = np.deg2rad(t[..., 2])
    c, s = np.cos(ang), np.sin(ang)
    c, s = (np.where(np.abs(x) < 1e-12, 0.0, x) for x in (c, s))  # exact at right angles
    return t[..., 0], t[..., 1], c, s, t[..., 3], t[..., 4]


def chip_to_tdet(inst: InstrumentGeometry, chip_id, chipx, chipy):
    """TDET = SCALE·R(ANGLE)·(HAND·(CHIPX − 0.5), CHIPY − 0.5) + ORIGIN + 0.5.

    R(α) = [[cos α, sin α], [−sin α, cos α]]; e.g. ACIS-I0: TDETX = CHIPY + 3061,
    TDETY = 5132 − CHIPX.
    """
    ox, oy, c, s, scale, hand = _tdet_terms(inst, chip_id)
    a = hand * (np.asarray(chipx, float) - 0.5)
    b = np.asarray(chipy, float) - 0.5
    return scale * (c * a + s * b) + ox + 0.5, scale * (c * b - s * a) + oy + 0.5


def tdet_to_chip(inst: InstrumentGeometry, chip_id, tdetx, tdety):
    """Inverse of :func:`chip_to_tdet` for the given chips."""
    ox, oy, c, s, scale, hand = _tdet_terms(inst, chip_id)
    a = (np.asarray(tdetx, float) - ox - 0.5) / scale
    b = (np.asarray(tdety, float) - oy - 0.5) / scale
    return (c * a - s * b) / hand + 0.5, s * a + c * b + 0.5


# ---- LSI <-> FC <-> DET ------------------------------------------------------------


def _offset_terms(aspect: AspectSamples | None):
    if aspect is None:
        return 0.0, 0.0, 1.0, 0.0
    th = np.deg2rad(aspect.dtheta)
    return aspect.dy, aspect.dz, np.cos(th), np.sin(th)


def _check_theta(det: Detector) -> None:
    if det.instrument.theta != 0.0:
        raise NotImplementedError(f"{det.instrument.name}: THETA != 0 is not supported")


def lsi_to_fc(det: Detector, p_lsi, aspect: AspectSamples | None = None) -> np.ndarray:
    """FC position (mm): + ORIGIN + SIM, then the aspect dθ rotation and (dy, dz) shift."""
    _check_theta(det)
    p = np.asarray(p_lsi, float) + np.add(det.instrument.origin, det.sim)
    dy, dz, c, s = _offset_terms(aspect)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    return _stack(x, dy + c * y - s * z, dz + s * y + c * z)


def fc_to_lsi(det: Detector, p_fc, aspect: AspectSamples | None = None) -> np.ndarray:
    """Inverse of :func:`lsi_to_fc` (points)."""
    _check_theta(det)
    p = np.asarray(p_fc, float)
    dy, dz, c, s = _offset_terms(aspect)
    x, y, z = p[..., 0], p[..., 1] - dy, p[..., 2] - dz
    return _stack(x, c * y + s * z, c * z - s * y) - np.add(det.instrument.origin, det.sim)


def _fc_vector_to_lsi(v_fc, aspect: AspectSamples | None) -> np.ndarray:
    v = np.asarray(v_fc, float)
    _, _, c, s = _offset_terms(aspect)
    return _stack(v[..., 0], c * v[..., 1] + s * v[..., 2], c * v[..., 2] - s * v[..., 1])


def _stack(x, y, z) -> np.ndarray:
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def _delta(fp: FocalPlaneSystem) -> float:
    """FP pixel size in radians."""
    return fp.scale * RAD_PER_ARCSEC


def fc_to_det(det: Detector, p_fc):
    """DET (FPC) pixel coordinates of FC points (mm), by the ray through the mirror node."""
    p = np.asarray(p_fc, float)
    vx = p[..., 0] - det.focal_length
    d, fp = _delta(det.fp), det.fp
    return (
        fp.origin[0] + fp.hand[0] * (p[..., 1] / -vx) / d,
        fp.origin[1] + fp.hand[1] * (p[..., 2] / -vx) / d,
    )


def det_to_fc_direction(det: Detector, detx, dety) -> np.ndarray:
    """FC direction (unnormalised, x = −1) from the mirror node to DET positions."""
    d, fp = _delta(det.fp), det.fp
    ty = fp.hand[0] * d * (np.asarray(detx, float) - fp.origin[0])
    tz = fp.hand[1] * d * (np.asarray(dety, float) - fp.origin[1])
    return _stack(-1.0, ty, tz)


def chip_to_det(det: Detector, chip_id, chipx, chipy, aspect: AspectSamples | None = None):
    """DET coordinates of chip positions (aspect: dy, dz, dtheta are used)."""
    return fc_to_det(
        det, lsi_to_fc(det, chip_to_lsi(det.instrument, chip_id, chipx, chipy), aspect)
    )


def det_to_chip(det: Detector, chip_id, detx, dety, aspect: AspectSamples | None = None):
    """(chipx, chipy, on_chip) where the rays for DET positions meet the chips' planes."""
    node = mirror_node_lsi(det, aspect)
    d_lsi = _fc_vector_to_lsi(det_to_fc_direction(det, detx, dety), aspect)
    cx, cy = lsi_to_chip(det.instrument, chip_id, node, direction=d_lsi)
    return cx, cy, on_chip(det.instrument, chip_id, cx, cy)


def mirror_node_lsi(det: Detector, aspect: AspectSamples | None = None) -> np.ndarray:
    """The mirror node (F, 0, 0) expressed in LSI (mm) for each aspect sample."""
    return fc_to_lsi(det, np.array([det.focal_length, 0.0, 0.0]), aspect)


def off_axis_angles(fp: FocalPlaneSystem, detx, dety):
    """(θ in arcmin, φ in degrees 0-360) of DET positions: θ = atan(δ·r), φ = atan2(DY, DX)."""
    dx = np.asarray(detx, float) - fp.origin[0]
    dy = np.asarray(dety, float) - fp.origin[1]
    theta = np.rad2deg(np.arctan(_delta(fp) * np.hypot(dx, dy))) * 60.0
    return theta, np.mod(np.rad2deg(np.arctan2(dy, dx)), 360.0)


def chip_off_axis(
    det: Detector, chip_id, chipx, chipy, aspect: AspectSamples | None = None,
    azimuth: bool = True,
):  # fmt: skip
    """(θ arcmin, φ deg) of chip positions (no dy/dz/dθ unless an aspect is given).

    The chain of :func:`chip_to_det` and :func:`off_axis_angles`, reduced: the FC position
    of a pixel is affine in (chipx, chipy), so the ray's two transverse components X, Y
    and its depth D below the mirror node are too, and θ = atan(√(X² + Y²) / D),
    φ = atan2(±Y, ±X) (the signs are the DET handedness).  Instrument maps ask for every
    pixel of every chip; the coordinates broadcast, so a row ``chipx[None, :]`` and a
    column ``chipy[:, None]`` give a whole grid for three full-size sums.  ``azimuth``
    False: φ is not computed (None).
    """
    _check_theta(det)
    ll, e1, e2 = _chip_frame(det.instrument, chip_id)
    u = np.asarray(chipx, float) - 0.5
    v = np.asarray(chipy, float) - 0.5
    corner = ll + np.add(det.instrument.origin, det.sim)  # LSI + ORIGIN + SIM at (0.5, 0.5)
    dy, dz, c, s = _offset_terms(aspect)

    def affine(cy, cz, constant):  # (constant + cy·P_y + cz·P_z) at (u, v)
        at = constant + cy * corner[..., 1] + cz * corner[..., 2]
        along_u = cy * e1[..., 1] + cz * e1[..., 2]
        along_v = cy * e2[..., 1] + cz * e2[..., 2]
        return (at + along_u * u) + along_v * v

    # transverse FC components after the dθ rotation (mm), with the DET handedness
    hx, hy = det.fp.hand
    x = affine(hx * c, -hx * s, hx * dy)
    y = affine(hy * s, hy * c, hy * dz)
    depth = (det.focal_length - corner[..., 0] - e1[..., 0] * u) - e2[..., 0] * v
    theta = np.asarray(x * x)  # √(x² + y²) in place: np.hypot is ~5× slower, no overflow here
    theta += y * y
    np.sqrt(theta, out=theta)
    theta /= depth
    np.arctan(theta, out=theta)
    theta *= 60.0 * 180.0 / np.pi
    if not azimuth:
        return theta[()], None
    phi = np.asarray(np.arctan2(y, x))
    phi *= 180.0 / np.pi
    phi[phi < 0.0] += 360.0  # np.mod(φ, 360), faster
    return theta[()], phi[()]  # numpy scalars for scalar input


# ---- DET <-> (RA, Dec) <-> SKY --------------------------------------------------------


def _tan_project(ra0, dec0, ra, dec):
    """Gnomonic standard coordinates (ξ, η) in radians of (ra, dec) about (ra0, dec0), deg."""
    a0, d0, a, d = (np.deg2rad(np.asarray(v, float)) for v in (ra0, dec0, ra, dec))
    da = a - a0
    cos_c = np.sin(d) * np.sin(d0) + np.cos(d) * np.cos(d0) * np.cos(da)
    xi = np.cos(d) * np.sin(da) / cos_c
    eta = (np.sin(d) * np.cos(d0) - np.cos(d) * np.sin(d0) * np.cos(da)) / cos_c
    return xi, eta


def _tan_deproject(ra0, dec0, xi, eta):
    """Inverse of :func:`_tan_project`: (ra in 0-360, dec) in degrees."""
    a0, d0 = np.deg2rad(np.asarray(ra0, float)), np.deg2rad(np.asarray(dec0, float))
    xi, eta = np.asarray(xi, float), np.asarray(eta, float)
    den = np.cos(d0) - eta * np.sin(d0)
    ra = a0 + np.arctan2(xi, den)
    dec = np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, den))
    return np.mod(np.rad2deg(ra), 360.0), np.rad2deg(dec)


def det_to_radec(fp: FocalPlaneSystem, detx, dety, aspect: AspectSamples):
    """(RA, Dec) in degrees of DET positions for the aspect pointing (ra, dec, roll)."""
    s = _delta(fp)
    dx = np.asarray(detx, float) - fp.origin[0]
    dy = np.asarray(dety, float) - fp.origin[1]
    r = np.deg2rad(aspect.roll)
    c, sn = np.cos(r), np.sin(r)
    xi = -s * (dx * c + dy * sn)
    eta = s * (dy * c - dx * sn)
    return _tan_deproject(aspect.ra, aspect.dec, xi, eta)


def radec_to_det(fp: FocalPlaneSystem, ra, dec, aspect: AspectSamples):
    """Inverse of :func:`det_to_radec`."""
    xi, eta = _tan_project(aspect.ra, aspect.dec, ra, dec)
    s = _delta(fp)
    r = np.deg2rad(aspect.roll)
    c, sn = np.cos(r), np.sin(r)
    return fp.origin[0] - (c * xi + sn * eta) / s, fp.origin[1] + (c * eta - sn * xi) / s


def radec_to_sky(sky: SkyFrame, ra, dec):
    """SKY pixels of (RA, Dec) degrees."""
    xi, eta = _tan_project(sky.ra_nom, sky.dec_nom, ra, dec)
    return (
        sky.crpix[0] + np.rad2deg(xi) / sky.cdelt[0],
        sky.crpix[1] + np.rad2deg(eta) / sky.cdelt[1],
    )


def sky_to_radec(sky: SkyFrame, x, y):
    """(RA, Dec) in degrees of SKY pixels."""
    xi = np.deg2rad((np.asarray(x, float) - sky.crpix[0]) * sky.cdelt[0])
    eta = np.deg2rad((np.asarray(y, float) - sky.crpix[1]) * sky.cdelt[1])
    return _tan_deproject(sky.ra_nom, sky.dec_nom, xi, eta)


def det_to_sky(fp: FocalPlaneSystem, detx, dety, aspect: AspectSamples, sky: SkyFrame):
    """SKY pixels of DET positions for the aspect pointing."""
    return radec_to_sky(sky, *det_to_radec(fp, detx, dety, aspect))


def sky_to_det(fp: FocalPlaneSystem, x, y, aspect: AspectSamples, sky: SkyFrame):
    """DET positions of SKY pixels for the aspect pointing."""
    return radec_to_det(fp, *sky_to_radec(sky, x, y), aspect)


def chip_to_sky(det: Detector, chip_id, chipx, chipy, aspect: AspectSamples, sky: SkyFrame):
    """SKY pixels of chip positions for the aspect samples (pointing and offsets)."""
    detx, dety = chip_to_det(det, chip_id, chipx, chipy, aspect)
    return det_to_sky(det.fp, detx, dety, aspect, sky)


def sky_to_chip(det: Detector, chip_id, x, y, aspect: AspectSamples, sky: SkyFrame):
    """(chipx, chipy, on_chip) of SKY pixels: the ray through the mirror node meets the chip."""
    detx, dety = sky_to_det(det.fp, x, y, aspect, sky)
    return det_to_chip(det, chip_id, detx, dety, aspect)
