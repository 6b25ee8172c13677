"""Chandra detector geometry: the numbers pixlib reads from the CALDB.

``geom`` (FOCLEN, the INSTRUMENTS table and the INSTGEOM chip corners), ``aimpts``
(default SIM positions), ``tdet`` (tiled-detector layouts) and ``sky`` (the
FPSYS table: DET/SKY pixel scale, centre and handedness); pixlib's fifth file,
``sgeom`` (mirror shells), is not needed for imaging.  The same numbers are
built into the package (the literal tables at the end of this module, printed
with full precision from the CALDB 4.12 files) so nothing needs a CALDB installation.
Lengths are mm (the LSI/STF/FC frames), angles degrees, FP scales arcsec/pixel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..calib.caldb import CaldbError, caldb_root, query_one

__all__ = [
    "FLIGHT_INSTRUMENTS",
    "ChipGeometry",
    "FocalPlaneSystem",
    "Geometry",
    "InstrumentGeometry",
    "TdetParams",
    "Vec2",
    "Vec3",
    "builtin_geometry",
    "instrument_name",
    "load_geometry",
    "read_caldb_geometry",
]


Vec2 = tuple[float, float]
Vec3 = tuple[float, float, float]

FLIGHT_INSTRUMENTS = ("ACIS", "HRC-I", "HRC-S")


@dataclass(frozen=True)
class TdetParams:
    """TDET = SCALE·R(ANGLE)·diag(HAND, 1)·(CHIP − 0.5) + ORIGIN + 0.5 (pixels, degrees)."""

    origin: Vec2
    angle: float
    scale: float
    hand: int


@dataclass(frozen=True)
class ChipGeometry:
    """One chip: LSI corners (mm) of the pixel edges, pixel counts, TDET placement.

    LL is chip (0.5, 0.5), LR is (Nx + 0.5, 0.5), UL is (0.5, Ny + 0.5), UR the
    fourth corner.
    """

    chip_id: int
    name: str
    size: tuple[int, int]
    ll: Vec3
    lr: Vec3
    ur: Vec3
    ul: Vec3
    tdet: TdetParams


@dataclass(frozen=True)
class FocalPlaneSystem:
    """An FPSYS row: DET/SKY pixel scale (arcsec), centre (pixels) and HAND (±1, ±1)."""

    name: str
    scale: float
    origin: Vec2
    hand: tuple[int, int]


@dataclass(frozen=True)
class InstrumentGeometry:
    """ACIS, HRC-I or HRC-S: LSI origin in STT (mm), THETA (deg), systems, chips."""

    name: str
    origin: Vec3
    theta: float
    chip_system: str
    tdet_system: str
    tdet_size: tuple[int, int]
    fp: FocalPlaneSystem
    aimpoint_name: str
    aimpoint: Vec3
    pixel_size: Vec2
    chips: tuple[ChipGeometry, ...]

    @property
    def chip_ids(self) -> tuple[int, ...]:
        return tuple(c.chip_id for c in self.chips)

    def chip(self, chip_id: int) -> ChipGeometry:
        for c in self.chips:
            if c.chip_id == int(chip_id):
                return c
        raise ValueError(f"{self.name} has no chip {chip_id} (chips {self.chip_ids})")


@dataclass(frozen=True)
class Geometry:
    """All pixlib geometry; ``source`` says where it came from ("built-in" / "CALDB <path>")."""

    focal_length: float
    instruments: tuple[InstrumentGeometry, ...]
    aimpoints: tuple[tuple[str, Vec3], ...]
    source: str = field(default="built-in", compare=False)

    def instrument(self, name: str) -> InstrumentGeometry:
        """``ACIS``, ``HRC-I`` or ``HRC-S`` (case-insensitive)."""
        key = name.strip().upper()
        for inst in self.instruments:
            if inst.name == key:
                return inst
        raise ValueError(f"No geometry for instrument {name!r}; known: {FLIGHT_INSTRUMENTS}")

    def aimpoint(self, name: str) -> Vec3:
        for key, vec in self.aimpoints:
            if key == name.strip().upper():
                return vec
        raise ValueError(f"No aimpoint {name!r}")


def instrument_name(instrume: str, detnam: str | None = None) -> str:
    """The geometry instrument of an event header: ``ACIS``, ``HRC-I`` or ``HRC-S``."""
    inst = instrume.strip().upper()
    if inst.startswith("ACIS"):
        return "ACIS"
    if inst in ("HRC-I", "HRC-S"):
        return inst
    if inst == "HRC" and detnam:
        det = detnam.strip().upper()
        for name in ("HRC-I", "HRC-S"):
            if det.startswith(name):
                return name
    raise ValueError(f"Cannot tell the detector from INSTRUME={instrume!r} DETNAM={detnam!r}")


# ---- reading the CALDB files -----------------------------------------------


def _vec(values) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=float).ravel())


def _text(value) -> str:
    return str(value).strip()


def _same_system(a: str, b: str) -> bool:
    """System names differ by prefix between files (``AXAF-ACIS-2.2`` / ``ACIS-2.2``)."""
    a, b = a.strip().upper(), b.strip().upper()
    return a == b or a.endswith("-" + b) or b.endswith("-" + a)


def _table(hdul, name: str):
    for hdu in hdul[1:]:
        if _text(hdu.header.get("EXTNAME", "")).upper() == name:
            return hdu
    raise CaldbError(f"{hdul.filename()} has no {name} table")


def read_caldb_geometry(root: str | Path, date: str | None = None) -> Geometry:
    """The geometry from the GEOM, AIMPTS, TDET and SKY files the CALDB index names."""
    root = Path(root)
    paths = {
        c: query_one(root, "default", c, date=date)[0] for c in ("GEOM", "AIMPTS", "TDET", "SKY")
    }
    with fits.open(paths["AIMPTS"]) as hdul:
        t = _table(hdul, "AIMPOINTS").data
        aimpoints = tuple(
            (_text(n).upper(), _vec(v))
            for n, v in zip(t["AIMPOINT_NAME"], t["AIMPOINT"], strict=True)
        )
    with fits.open(paths["SKY"]) as hdul:
        t = _table(hdul, "FPSYS").data
        fpsys = [
            FocalPlaneSystem(_text(n), float(s), _vec(o), tuple(int(h) for h in hd))
            for n, s, o, hd in zip(t["FPSYS"], t["SCALE"], t["ORIGIN"], t["HAND"], strict=True)
        ]
    with fits.open(paths["TDET"]) as hdul:
        index = _table(hdul, "TDET_INDEX").data
        tdet = {}
        for sysname, defname, size in zip(
            index["TDETSYS"], index["TDETDEF"], index["SIZE"], strict=True
        ):
            hdu = next(h for h in hdul[1:] if _text(h.header.get("HDUNAME", "")) == _text(defname))
            rows = {
                _text(r["CHIP"]).upper(): TdetParams(
                    _vec(r["ORIGIN"]), float(r["ANGLE"]), float(r["SCALE"]), int(r["HAND"])
                )
                for r in hdu.data
            }
            tdet[_text(sysname)] = (tuple(int(v) for v in size), rows)
    with fits.open(paths["GEOM"]) as hdul:
        focal_length = float(_table(hdul, "INSTRUMENTS").header["FOCLEN"])
        inst_rows = _table(hdul, "INSTRUMENTS").data
        geoms = {
            _text(h.header["INSTRUME"]).upper(): (h.header, h.data)
            for h in hdul[1:]
            if _text(h.header.get("EXTNAME", "")).upper() == "INSTGEOM"
        }
        instruments = []
        for r in inst_rows:
            name = _text(r["INSTRUMENT"]).upper()
            if name not in FLIGHT_INSTRUMENTS:
                continue
            fp = next(f for f in fpsys if _same_system(f.name, _text(r["FPSYS"])))
            tsys = next(k for k in tdet if _same_system(k, _text(r["TDETSYS"])))
            tdet_size, tdet_rows = tdet[tsys]
            header, chips_t = geoms[name]
            chips = tuple(
                ChipGeometry(
                    int(c["CHIP_ID"]), _text(c["CHIP"]).upper(), tuple(int(v) for v in c["SIZE"]),
                    _vec(c["LL"]), _vec(c["LR"]), _vec(c["UR"]), _vec(c["UL"]),
                    tdet_rows[_text(c["CHIP"]).upper()],
                )
                for c in chips_t
            )  # fmt: skip
            aim = _text(r["AIMPOINT_NAME"]).upper()
            instruments.append(InstrumentGeometry(
                name, _vec(r["ORIGIN"]), float(r["THETA"]), _text(r["CHIPSYS"]), tsys,
                tdet_size, fp, aim, dict(aimpoints)[aim],
                (float(header["XSCALE"]), float(header["YSCALE"])), chips,
            ))  # fmt: skip
    instruments.sort(key=lambda i: FLIGHT_INSTRUMENTS.index(i.name))
    return Geometry(focal_length, tuple(instruments), aimpoints, source=f"CALDB {root}")


# ---- built in ----------------------------------------------------------------


def builtin_geometry() -> Geometry:
    """The CALDB 4.12 geometry (geom N0007, aimpts N0002, tdet N0001, sky N0002)."""
    instruments = []
    for row in _BUILTIN_INSTRUMENTS:
        name, origin, theta, chipsys, tdetsys, tdet_size, fp, aim, pix, chips = row
        instruments.append(InstrumentGeometry(
            name, origin, theta, chipsys, tdetsys, tdet_size, FocalPlaneSystem(*fp), aim,
            dict(_BUILTIN_AIMPOINTS)[aim], pix,
            tuple(ChipGeometry(i, n, s, ll, lr, ur, ul, TdetParams(*t))
                  for i, n, s, ll, lr, ur, ul, t in chips),
        ))  # fmt: skip
    return Geometry(_BUILTIN_FOCAL_LENGTH, tuple(instruments), _BUILTIN_AIMPOINTS, "built-in")


def load_geometry(environ: Mapping[str, str] | None = None) -> Geometry:
    """The CALDB geometry when ``$CALDB`` holds a Chandra index, else the built-in one."""
    root = caldb_root(os.environ if environ is None else environ)
    return builtin_geometry() if root is None else read_caldb_geometry(root)


_BUILTIN_FOCAL_LENGTH = 10070.0
_BUILTIN_AIMPOINTS: tuple[tuple[str, Vec3], ...] = (
    ("AI1", (-0.782348198338433, 0.0, -237.49970907005604)),
    ("AI2", (-0.782348198338433, 0.0, -233.5924630914318)),
    ("AS1", (-0.6842674669958607, 0.0, -190.1325231039672)),
    ("HI1", (-1.0402925883554452, 0.0, 126.9854943052878)),
    ("HS1", (-1.4295857921124147, 0.0, 250.45597581899472)),
    ("HS2", (-1.5333365631557434, 0.0, 250.45597581899472)),
)
# name, ORIGIN, THETA, CHIPSYS, TDETSYS, TDET size, FPSYS, aimpoint, pixel size (mm), chips:
# chip id, name, size, LL, LR, UR, UL, TDET (ORIGIN, ANGLE, SCALE, HAND)
_BUILTIN_INSTRUMENTS = (
    ("ACIS", (0.684, 0.75, 236.552), 0.0, "AXAF-ACIS-1.0", "ACIS-2.2", (8192, 8192),
     ("FP-1.1", 0.492, (4096.5, 4096.5), (1, -1)), "AI2", (0.023987, 0.023987), (
        (0, "ACIS-I0", (1024, 1024),
         (2.361, -26.483, 23.076),
         (1.13, -26.545, -1.456),
         (-0.1, -2.013, -1.456),
         (1.13, -1.951, 23.076),
         ((3061.0, 5131.0), 90.0, 1.0, 1)),
        (1, "ACIS-I1", (1024, 1024),
         (1.13, 23.078, -1.446),
         (2.36, 23.016, 23.086),
         (1.13, -1.515, 23.086),
         (-0.1, -1.453, -1.446),
         ((5131.0, 4107.0), 270.0, 1.0, 1)),
        (2, "ACIS-I2", (1024, 1024),
         (1.13, -26.55, -1.992),
         (2.361, -26.488, -26.525),
         (1.13, -1.956, -26.525),
         (-0.1, -2.018, -1.992),
         ((3061.0, 4085.0), 90.0, 1.0, 1)),
        (3, "ACIS-I3", (1024, 1024),
         (2.361, 23.011, -26.53),
         (1.131, 23.073, -1.997),
         (-0.1, -1.458, -1.997),
         (1.13, -1.52, -26.53),
         ((5131.0, 3061.0), 270.0, 1.0, 1)),
        (4, "ACIS-S0", (1024, 1024),
         (0.74391355941043, -81.1135695467657, -59.207991863672625),
         (0.35291355280787684, -56.554568698784635, -59.195810738735275),
         (0.3529005175423663, -56.56674994422658, -34.63281008233804),
         (0.7439005246505985, -81.12575082402604, -34.64499120729913),
         ((791.0, 1702.0), 0.0, 1.0, 1)),
        (5, "ACIS-S1", (1024, 1024),
         (0.34793548721245315, -56.089634747521956, -59.195895783711535),
         (0.0989354929079127, -31.529639280445426, -59.17639275122898),
         (0.09901156023261137, -31.550142674472482, -34.613397860899916),
         (0.34801155492459657, -56.11013765037256, -34.63390089317386),
         ((1833.0, 1702.0), 0.0, 1.0, 1)),
        (6, "ACIS-S2", (1024, 1024),
         (0.09599568067096698, -31.076006322537268, -59.18309850086562),
         (-0.0110043157619657, -6.514011080075967, -59.16365642775077),
         (-0.01097189698884904, -6.534453383364818, -34.60066154739569),
         (0.0960281000861869, -31.09644824369476, -34.621103620392304),
         ((2875.0, 1702.0), 0.0, 1.0, 1)),
        (7, "ACIS-S3", (1024, 1024),
         (-0.010999987782270182, -6.025991421688249, -59.16600856886816),
         (0.0240000122175843, 18.53500856918193, -59.152991422038596),
         (0.02399998778309964, 18.521991421718038, -34.59099143110201),
         (-0.01100001221675484, -6.039008569211759, -34.60400857793158),
         ((3917.0, 1702.0), 0.0, 1.0, 1)),
        (8, "ACIS-S4", (1024, 1024),
         (0.025991375759986113, 18.962836054264386, -59.15281210990985),
         (0.207991375864367, 43.523836646810466, -59.140905238482155),
         (0.20799947600244195, 43.511929764985254, -34.57890467914956),
         (0.025999476045399206, 18.95092919221251, -34.590811550567835),
         ((4959.0, 1702.0), 0.0, 1.0, 1)),
        (9, "ACIS-S5", (1024, 1024),
         (0.20790074682372506, 43.95838149968405, -59.13845604145999),
         (0.5279007504759647, 68.51838337945676, -59.128478268218075),
         (0.5279401178813714, 68.50840535721127, -34.56647668993858),
         (0.2079401239825529, 43.9484036965458, -34.57545446315862),
         ((6001.0, 1702.0), 0.0, 1.0, 1)),
    )),
    ("HRC-I", (1.04, 0.978, -132.028), 0.0, "AXAF-HRC-1.1", "HRC-2.4I", (16384, 16384),
     ("FP-2.1", 0.1318, (16384.5, 16384.5), (1, -1)), "HI1", (0.0064294, 0.0064294), (
        (0, "HRC-I", (16384, 16384),
         (0.0, 0.0, 74.481),
         (0.0, 74.481, 0.0),
         (0.0, 0.0, -74.481),
         (0.0, -74.481, 0.0),
         ((-1.0, 0.0), 0.0, 1.0, 1)),
    )),
    ("HRC-S", (1.533, 1.53, -251.437), 0.0, "AXAF-HRC-1.1", "HRC-2.7S", (4096, 49368),
     ("FP-2.3", 0.1318, (32768.5, 32768.5), (1, -1)), "HS1", (0.0064294, 0.0064294), (
        (1, "HRC-S1", (4096, 16456),
         (2.644, 161.964, -12.969),
         (2.644, 161.932, 13.364),
         (0.0, 56.163, 13.235),
         (0.0, 56.196, -13.098),
         ((0.0, -12.0), 0.0, 1.0, 1)),
        (2, "HRC-S2", (4096, 16456),
         (0.0, 56.196, -13.098),
         (0.0, 56.163, 13.235),
         (0.0, -49.638, 13.106),
         (0.0, -49.605, -13.227),
         ((0.0, 16444.0), 0.0, 1.0, 1)),
        (3, "HRC-S3", (4096, 16456),
         (0.0, -49.605, -13.227),
         (0.0, -49.638, 13.106),
         (2.253, -155.415, 12.977),
         (2.253, -155.383, -13.356),
         ((0.0, 32900.0), 0.0, 1.0, 1)),
    )),
)  # fmt: skip
