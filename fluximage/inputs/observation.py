"""The event file's header: instrument, ObsID label, GTIs, sky WCS (docs/inputs.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np
from astropy.io import fits

from ..fitsio import Block, list_blocks, read_columns, select_block
from ..geometry.pixlib import SkyFrame, radec_to_sky
from ..messages import FluximageError, Reporter
from .region_parser import CelestialFrame

__all__ = [
    "ARCSEC_PER_SKY_PIXEL",
    "DEFAULT_BINSIZE",
    "MULTI_OBI_OBSIDS",
    "REQUIRED_KEYWORDS",
    "Observation",
    "SkyWcs",
    "display_path",
    "obsid_label",
    "read_observation",
    "sky_data_ranges",
    "with_time_window",
]


#: ObsIDs with several OBIs, for which OBI_NUM is mandatory (as CIAO's list).
MULTI_OBI_OBSIDS = frozenset({
    82, 108, 279, 380, 400, 433, 800, 861, 897, 906, 943, 1411, 1431, 1456, 1561, 1578,
    2010, 2042, 2077, 2365, 2783, 3057, 3182, 3764, 4175, 60879, 60880, 62249, 62264,
    62796,
})  # fmt: skip

REQUIRED_KEYWORDS = ("INSTRUME", "DETNAM", "GRATING", "TSTART", "TSTOP")
ARCSEC_PER_SKY_PIXEL = {"ACIS": 0.492, "HRC": 0.1318}
DEFAULT_BINSIZE = {"ACIS": 8, "HRC": 32}


@dataclass(frozen=True)
class SkyWcs:
    """The tangent-plane WCS of the event file's x/y columns."""

    x_column: str
    y_column: str
    crval: tuple[float, float]  # RA, Dec of the tangent point (deg)
    crpix: tuple[float, float]  # sky pixel of the tangent point
    cdelt: tuple[float, float]  # deg per sky pixel (x is negative)
    ctype: tuple[str, str]
    x_limits: tuple[float, float] | None  # TLMIN/TLMAX of x
    y_limits: tuple[float, float] | None

    @property
    def frame(self) -> SkyFrame:
        """The sky frame for the pixlib transforms."""
        return SkyFrame(self.crval[0], self.crval[1], self.crpix, self.cdelt)

    def celestial(self) -> CelestialFrame:
        """(RA, Dec) to these sky pixels, for regions in celestial coordinates."""
        frame = self.frame
        return CelestialFrame(
            to_sky=lambda ra, dec: radec_to_sky(frame, ra, dec),
            arcsec_per_pixel=abs(self.cdelt[1]) * 3600.0,
        )


@dataclass(frozen=True)
class Observation:
    """What fluximage needs from the event file, read once."""

    path: str  # the file, as shown to the user (relative to the cwd when sensible)
    block: str | None  # block named in the spec, if any
    filter_text: str  # DM filters as given ('' or '[...][...]')
    header: fits.Header = field(repr=False)
    instrument: str  # ACIS or HRC
    detnam: str
    grating: str
    obs_id: str
    obsid_label: str  # OBS_ID + e1/e2 + _NNN (multi-OBI)
    cycle: str | None  # 'P' or 'S' for interleaved data
    obi: int | None
    tstart: float
    tstop: float
    nrows: int
    aimpoint_chip: int | None  # ACIS: CCD_ID of the first GTI block
    gtis: dict[int | None, np.ndarray] = field(repr=False)  # chip (None: all) -> (n, 2)
    sky: SkyWcs
    events: Block = field(repr=False)

    @property
    def spec(self) -> str:
        """The event file with its filters, as CIAO shows it."""
        block = f"[{self.block}]" if self.block else ""
        return f"{self.path}{block}{self.filter_text}"

    @property
    def directory(self) -> str:
        """Where ancillary files are looked for."""
        return os.path.dirname(self.path) or "."

    @property
    def chip_column(self) -> str:
        return "ccd_id" if self.instrument == "ACIS" else "chip_id"

    @property
    def hrc_detector(self) -> str | None:
        """HRC-I or HRC-S; None for ACIS."""
        if self.instrument != "HRC":
            return None
        if self.detnam not in ("HRC-I", "HRC-S"):
            raise FluximageError(f"Invalid DETNAM={self.detnam} for HRC ({self.path})")
        return self.detnam

    @property
    def detector(self) -> str:
        """ACIS, HRC-I or HRC-S: the detector whose calibration and geometry apply."""
        return "ACIS" if self.instrument == "ACIS" else str(self.hrc_detector)

    @property
    def default_binsize(self) -> int:
        return DEFAULT_BINSIZE[self.instrument]

    @property
    def arcsec_per_pixel(self) -> float:
        return ARCSEC_PER_SKY_PIXEL[self.instrument]

    def gti(self, chip: int) -> np.ndarray:
        """Good-time intervals (start, stop) of one chip, seconds."""
        if chip in self.gtis:
            return self.gtis[chip]
        return self.gtis.get(None, np.zeros((0, 2)))


def _clip(gti: np.ndarray, lo: float, hi: float) -> np.ndarray:
    gti = np.column_stack([np.maximum(gti[:, 0], lo), np.minimum(gti[:, 1], hi)])
    return gti[gti[:, 1] > gti[:, 0]]


def _length(gti: np.ndarray) -> float:
    return float((gti[:, 1] - gti[:, 0]).sum()) if len(gti) else 0.0


def with_time_window(obs: Observation, window: tuple[float, float] | None) -> Observation:
    """The observation as a ``[time=lo:hi]`` filter leaves it (as DM's time filter does):
    GTIs cut to the window; TSTART/TSTOP moved in; ONTIME, LIVETIME, EXPOSURE (and ACIS's
    per-chip ONTIMEn, LIVTIMEn, EXPOSURn) scaled by the good time kept.  The global keywords
    follow the aimpoint chip's GTI (or the one GTI of HRC)."""
    if window is None:
        return obs
    lo, hi = window
    gtis = {c: _clip(np.asarray(g, float).reshape(-1, 2), lo, hi) for c, g in obs.gtis.items()}
    header = obs.header.copy()

    def scale(keys: tuple[str, ...], before: np.ndarray) -> None:
        kept = _length(_clip(before, lo, hi))
        total = _length(before)
        for key in keys:
            if key in header and total > 0:
                header[key] = float(header[key]) * kept / total

    for chip, gti in obs.gtis.items():
        if chip is not None:
            scale((f"ONTIME{chip}", f"LIVTIME{chip}", f"EXPOSUR{chip}"), np.asarray(gti, float))
    main = obs.gtis.get(obs.aimpoint_chip, obs.gtis.get(None))
    if main is None and obs.gtis:
        main = max(obs.gtis.values(), key=lambda g: _length(np.asarray(g, float)))
    if main is not None:
        scale(("ONTIME", "LIVETIME", "EXPOSURE"), np.asarray(main, float))
    tstart, tstop = max(obs.tstart, lo), min(obs.tstop, hi)
    if "TSTART" in header:
        header["TSTART"] = tstart
    if "TSTOP" in header:
        header["TSTOP"] = tstop
    return replace(obs, header=header, gtis=gtis, tstart=tstart, tstop=tstop)


def sky_data_ranges(obs: Observation, event_filter) -> list[tuple[float, float]]:
    """The (lo, hi) sky x and y the events can have: the columns' TLMIN/TLMAX (infinite
    when absent) cut to the user's filter on infile."""
    out = []
    for column, limits in ((obs.sky.x_column, obs.sky.x_limits),
                           (obs.sky.y_column, obs.sky.y_limits)):  # fmt: skip
        lo, hi = limits if limits is not None else (-np.inf, np.inf)
        user = event_filter.range_of(column)
        if user is not None:
            lo, hi = max(lo, user[0]), min(hi, user[1])
        out.append((float(lo), float(hi)))
    return out


def display_path(path: str) -> str:
    """A path as messages show it: a relative path as given (normalised); an absolute one
    relative to the current directory when it lies inside it, else absolute.

    CIAO shows every path relative to the current directory when the two share more than
    '/', so ``/data/x/evt2.fits`` typed in ``/data/work/run`` comes back as
    ``../../x/evt2.fits`` (docs/differences.md).
    """
    if not path:
        return path
    if not os.path.isabs(path):
        return os.path.normpath(path)
    absolute = os.path.normpath(path)
    try:
        relative = os.path.relpath(absolute, os.getcwd())
    except ValueError:
        return absolute
    outside = relative == os.pardir or relative.startswith(os.pardir + os.sep)
    return absolute if outside else relative


def _int_value(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def obsid_label(
    header: fits.Header, path: str, report: Reporter
) -> tuple[str, str | None, int | None]:
    """ObsID label, interleave cycle and OBI from the header (CIAO's rules)."""
    if "OBS_ID" not in header:
        raise FluximageError(f"'The OBS_ID value is missing in {path}.'")
    obs_id = str(header["OBS_ID"]).strip()
    if obs_id.lower() == "merged":
        raise FluximageError(f"The OBS_ID value is 'Merged' in {path}.")
    label, cycle = obs_id, None
    timedelb = header.get("TIMEDELB")
    if "CYCLE" in header and isinstance(timedelb, (int, float)) and timedelb > 0:
        value = str(header["CYCLE"]).strip().upper()
        if value in ("P", "S"):
            cycle = value
            label += "e1" if value == "P" else "e2"
        else:
            report(f"WARNING: ObsId {obs_id} has unrecognized CYCLE={header['CYCLE']}, "
                   "assuming not interleaved.")  # fmt: skip
    obi = None
    if "OBI_NUM" in header:
        raw = header["OBI_NUM"]
        value = _int_value(raw)
        if value is None:
            report(f"WARNING: ObsId {obs_id} has invalid obi={raw} (expected integer); ignoring.")
        elif value < 0:
            report(f"WARNING: ObsId {obs_id} has obi={value} which is < 0; ignoring.")
        else:
            obi = value
    numeric = _int_value(obs_id)
    if numeric is not None and numeric in MULTI_OBI_OBSIDS:
        if obi is None:
            raise FluximageError(
                f"For multi-OBI datasets like {obs_id} the obi argument must be set"
            )
        label += f"_{obi:03d}"
    return label, cycle, obi


def _sky_wcs(block: Block) -> SkyWcs:
    """The RA---TAN/DEC--TAN pair of column WCS keywords (the sky x, y columns)."""
    header = block.header
    names = [c.name for c in block.columns.values()]
    ctype = {i: str(header.get(f"TCTYP{i}", "")).upper() for i in range(1, len(names) + 1)}
    ra = [i for i, t in ctype.items() if t.startswith("RA") and t.endswith("TAN")]
    dec = [i for i, t in ctype.items() if t.startswith("DEC") and t.endswith("TAN")]
    if not ra or not dec:
        raise FluximageError(f"No WCS transform found in {block.path}")
    if len(ra) > 1:
        raise FluximageError(f"Multiple ({len(ra)}) WCS transforms found in {block.path}")
    ix, iy = ra[0], dec[0]
    try:
        crval = (float(header[f"TCRVL{ix}"]), float(header[f"TCRVL{iy}"]))
        crpix = (float(header[f"TCRPX{ix}"]), float(header[f"TCRPX{iy}"]))
        cdelt = (float(header[f"TCDLT{ix}"]), float(header[f"TCDLT{iy}"]))
    except (KeyError, ValueError):
        raise FluximageError(f"No WCS transform found in {block.path}") from None

    def limits(i: int) -> tuple[float, float] | None:
        lo, hi = header.get(f"TLMIN{i}"), header.get(f"TLMAX{i}")
        return (float(lo), float(hi)) if lo is not None and hi is not None else None

    return SkyWcs(
        x_column=names[ix - 1].lower(),
        y_column=names[iy - 1].lower(),
        crval=crval,
        crpix=crpix,
        cdelt=cdelt,
        ctype=(str(header[f"TCTYP{ix}"]), str(header[f"TCTYP{iy}"])),
        x_limits=limits(ix),
        y_limits=limits(iy),
    )


def _gtis(blocks: list[Block], instrument: str, path: str) -> tuple[dict, int | None]:
    gti_blocks = [b for b in blocks if b.name.upper().startswith("GTI") and b.is_table]
    if instrument == "ACIS":
        if not gti_blocks:
            raise FluximageError(f"No block starting with GTI found in {path}")
        if "CCD_ID" not in gti_blocks[0].header:
            raise FluximageError(f"No CCD_ID keyword found in {gti_blocks[0].name} block of {path}")
    gtis: dict[int | None, np.ndarray] = {}
    for b in gti_blocks:
        if not (b.has_column("start") and b.has_column("stop")):
            continue
        cols = read_columns(b, ["start", "stop"])
        chip = _int_value(b.header.get("CCD_ID")) if instrument == "ACIS" else None
        if chip in gtis:
            continue
        gtis[chip] = np.column_stack([cols["start"], cols["stop"]]).astype(float)
    aimpoint = _int_value(gti_blocks[0].header.get("CCD_ID")) if instrument == "ACIS" else None
    return gtis, aimpoint


def read_observation(
    path: str,
    block: str | None,
    filter_text: str,
    report: Reporter,
    blocks: list[Block] | None = None,
) -> Observation:
    """Read and check the event file's header (errors in CIAO's order and words);
    ``blocks``: the file's blocks if they were already listed."""
    shown = display_path(path)
    blocks = list_blocks(path) if blocks is None else blocks
    events = select_block(blocks, block)
    if not events.is_table:
        raise FluximageError(f"{shown} is an image, not a table!")
    header = events.header
    for key in REQUIRED_KEYWORDS:
        if key not in header:
            raise FluximageError(f"File {shown} is missing the {key} keyword!")
    instrument = str(header["INSTRUME"]).strip().upper()
    if instrument not in ("ACIS", "HRC"):
        raise FluximageError(f"Unsupported INSTRUME={header['INSTRUME']} in {shown}.")
    label, cycle, obi = obsid_label(header, shown, report)
    gtis, aimpoint = _gtis(blocks, instrument, shown)
    sky = _sky_wcs(events)
    if events.nrows == 0:
        raise FluximageError(f"There are no events in {shown}")
    return Observation(
        path=shown,
        block=block,
        filter_text=filter_text,
        header=header,
        instrument=instrument,
        detnam=str(header["DETNAM"]).strip(),
        grating=str(header["GRATING"]).strip(),
        obs_id=str(header["OBS_ID"]).strip(),
        obsid_label=label,
        cycle=cycle,
        obi=obi,
        tstart=float(header["TSTART"]),
        tstop=float(header["TSTOP"]),
        nrows=events.nrows,
        aimpoint_chip=aimpoint,
        gtis=gtis,
        sky=sky,
        events=events,
    )
