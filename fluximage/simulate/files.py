"""FITS files of a synthetic observation, in the layouts of Chandra archive products.

evt2 (EVENTS + GTI blocks), asol1 (ASPSOL), bpix1 (one BADPIX block per chip), msk1
(one MASK block per chip) and, for HRC, dtf1 (time, dtf).  Headers carry the keywords
real files carry where they make sense for a simulation (``DATACLAS='SIMULATED'``).
Files are byte-for-byte reproducible: no creation time is written and a gzipped file
has a zero gzip timestamp.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from astropy.io import fits

from .._version import __version__
from ..geometry.pixlib import Detector, SkyFrame
from .instrument import MJDREF, BadRegion, ObservationPlan, date_text

__all__ = [
    "CREATOR",
    "Card",
    "asol_hdu",
    "bpix_hdus",
    "dtf_hdu",
    "events_hdu",
    "evt_header_cards",
    "gti_hdus",
    "mask_hdus",
    "observation_cards",
    "primary_hdu",
    "time_cards",
    "write_hdus",
]


CREATOR = f"fluximage-simulate {__version__}"
Card = tuple[str, object, str]


def write_hdus(path: Path, hdus: list, compress: bool) -> Path:
    """Write an HDU list; ``compress`` gzips it (``path`` then ends in .gz)."""
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    data = buffer.getvalue()
    if compress:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return path


def _put(header: fits.Header, cards: Iterable[Card]) -> None:
    for key, value, comment in cards:
        header[key] = (value, comment)


def time_cards(plan: ObservationPlan, tstart: float | None = None, tstop: float | None = None):
    t0 = plan.tstart if tstart is None else tstart
    t1 = plan.tstop if tstop is None else tstop
    return [
        ("DATE", date_text(plan.tstop), "File date (= DATE-END, reproducible)"),
        ("MJD-OBS", MJDREF + t0 / 86400.0, "[d] Modified Julian date of observation"),
        ("DATE-OBS", date_text(plan.tstart), "Observation start date"),
        ("DATE-END", date_text(plan.tstop), "Observation end date"),
        ("TIMESYS", "TT", "Time system"),
        ("MJDREF", MJDREF, "[d] MJD zero point for times"),
        ("TIMEZERO", 0.0, "[s] Clock correction"),
        ("TIMEUNIT", "s", "Time unit"),
        ("TIMEREF", "LOCAL", "Time reference (barycenter/local)"),
        ("TASSIGN", "SATELLITE", "Time assigned by clock"),
        ("CLOCKAPP", True, "default"),
        ("TIMVERSN", "ASC-FITS-2", "Timing system definition"),
        ("TSTART", t0, "[s] Observation start time (MET)"),
        ("TSTOP", t1, "[s] Observation end time (MET)"),
        ("OBS_MODE", "POINTING", "Observation mode"),
        ("TIMEPIXR", 0.5, "default"),
        ("DATACLAS", "SIMULATED", "Made by fluximage-simulate, not observed"),
        ("RADESYS", "ICRS", "default"),
    ]


def observation_cards(plan: ObservationPlan, pointing: tuple[float, float, float]) -> list[Card]:
    """Mission, instrument, SIM position, pointing and identification keywords."""
    setup = plan.setup
    return [
        ("MISSION", "AXAF", "Mission"),
        ("TELESCOP", "CHANDRA", "Telescope"),
        ("INSTRUME", setup.instrume, "Instrument"),
        ("DETNAM", plan.detnam, "Detector"),
        ("GRATING", "NONE", "Grating"),
        ("SIM_X", plan.sim[0], "[mm] SIM focus pos"),
        ("SIM_Y", plan.sim[1], "[mm] SIM orthogonal axis pos"),
        ("SIM_Z", plan.sim[2], "[mm] SIM translation stage pos"),
        ("DEFOCUS", 0.0, "[mm] SIM defocus"),
        ("FOC_LEN", 10070.0, "[mm] HRMA focal length"),
        ("RA_PNT", pointing[0], "[deg] Pointing RA"),
        ("DEC_PNT", pointing[1], "[deg] Pointing Dec"),
        ("ROLL_PNT", pointing[2], "[deg] Pointing Roll"),
        ("RA_TARG", plan.ra_nom, "[deg] Observer's specified target RA"),
        ("DEC_TARG", plan.dec_nom, "[deg] Observer's specified target Dec"),
        ("RA_NOM", plan.ra_nom, "[deg] Nominal RA"),
        ("DEC_NOM", plan.dec_nom, "[deg] Nominal Dec"),
        ("ROLL_NOM", plan.roll_nom, "[deg] Nominal Roll"),
        ("OBJECT", plan.object, "Source name"),
        ("TITLE", "Synthetic observation", "Proposal title"),
        ("OBSERVER", "fluximage-simulate", "Principal investigator"),
        ("OBS_ID", str(plan.obsid), "Observation id"),
        ("OBI_NUM", 0, "Obi number"),
        ("SEQ_NUM", f"{900000 + plan.obsid % 100000:06d}", "Sequence number"),
        ("ORIGIN", "fluximage", "Source of FITS file"),
        ("CREATOR", CREATOR, "tool that created this output"),
    ]


def _readout_cards(plan: ObservationPlan) -> list[Card]:
    if not plan.setup.is_acis:
        return [("DATAMODE", "NEXT_IN_LINE", "Data mode")]
    return [
        ("READMODE", "TIMED", "Read mode"),
        ("DATAMODE", "FAINT", "Data mode"),
        ("FP_TEMP", 153.45, "[K] Focal Plane Temperature"),
        ("CYCLE", "P", "events from which exps? Prim/Second/Both"),
        ("EXPTIME", plan.exptime, "[s] Frame exposure time"),
        ("TIMEDELA", plan.timedel, "Inferred duration of primary exposure (s)"),
        ("TIMEDELB", 0.0, "Inferred duration of secondary exp. (s)"),
        ("DTYCYCLE", 0, "Number of secondary exposures per primary"),
        ("FIRSTROW", plan.firstrow, "Index of first row of CCD (sub)array readout"),
        ("NROWS", plan.nrows, "Number of rows in (sub)array readout"),
    ]


def evt_header_cards(
    plan: ObservationPlan, pointing, names: dict[str, str], dtcor: float
) -> list[Card]:
    """The EVENTS block keywords (no column keywords): enough to pick the calibration."""
    setup = plan.setup
    live = plan.ontime * dtcor
    cards: list[Card] = [
        ("HDUNAME", "EVENTS", "ASCDM block name"),
        ("CONTENT", "EVT2", "What data product"),
        ("HDUCLASS", "OGIP", ""),
        ("HDUCLAS1", "EVENTS", ""),
        ("HDUCLAS2", "ACCEPTED", ""),
        ("HDUVERS", "1.0.0", ""),
        *time_cards(plan),
        *observation_cards(plan, pointing),
        *_readout_cards(plan),
        *([("TIMEDEL", plan.timedel, "[s] timedel Lev1")] if setup.is_acis else []),
        ("ACSYS1", f"CHIP:{_chip_sys(setup.detector)}", "reference for chip coord system"),
        ("ACSYS2", f"TDET:{_tdet_sys(setup.detector)}", "reference for tiled detector system"),
        ("ACSYS3", f"DET:{_fp_sys(setup.detector)}", "reference for focal plane coord system"),
        ("ACSYS4", f"SKY:{_fp_sys(setup.detector)}", "reference for sky coord system"),
        ("ASOLFILE", names["asol1"], "Aspect solution"),
        ("BPIXFILE", names["bpix1"], "Bad pixel file"),
        ("MASKFILE", names["msk1"], "Mask file"),
    ]
    if not setup.is_acis:
        cards.append(("DTFFILE", names["dtf1"], "Dead time factor file"))
    cards += [
        ("AIMPFILE", "telD1999-07-23aimptsN0002.fits", ""),
        ("GEOMFILE", "telD1999-07-23geomN0007.fits", ""),
        ("SKYFILE", "telD1999-07-23skyN0002.fits", ""),
        ("TDETFILE", "telD1999-07-23tdetN0001.fits", ""),
        ("DY_AVG", plan.offsets[0], "[mm] Mean DY during observation"),
        ("DZ_AVG", plan.offsets[1], "[mm] Mean DZ during observation"),
        ("DTH_AVG", plan.offsets[2], "[deg] Mean DTHETA during observation"),
        ("ONTIME", plan.ontime, "[s] Sum of GTIs"),
        ("LIVETIME", live, "[s] Livetime"),
        ("EXPOSURE", live, "[s] Exposure time"),
        ("DTCOR", dtcor, "Dead time correction"),
    ]
    if setup.is_acis:
        for chip in plan.gti_order():
            cards += [
                (f"ONTIME{chip}", plan.ontime, "[s] Sum of GTIs"),
                (f"LIVTIME{chip}", live, "[s] Livetime"),
                (f"EXPOSUR{chip}", live, "[s] Exposure time"),
            ]
    return cards


def _chip_sys(detector: str) -> str:
    return "AXAF-ACIS-1.0" if detector == "ACIS" else "AXAF-HRC-1.1"


def _tdet_sys(detector: str) -> str:
    return {"ACIS": "ACIS-2.2", "HRC-I": "HRC-2.4I", "HRC-S": "HRC-2.7S"}[detector]


def _fp_sys(detector: str) -> str:
    return {"ACIS": "ASC-FP-1.1", "HRC-I": "ASC-FP-2.1", "HRC-S": "ASC-FP-2.3"}[detector]


# ---- evt2 ----------------------------------------------------------------------------


def _event_layout(plan: ObservationPlan, det: Detector):
    """(name, TFORM, unit, (TLMIN, TLMAX)) of each EVENTS column, in archive order."""
    inst = det.instrument
    nx = max(c.size[0] for c in inst.chips)
    ny = max(c.size[1] for c in inst.chips)
    tx, ty = inst.tdet_size
    fp_hi = 2 * det.fp.origin[0]
    acis = plan.setup.is_acis
    tdet_form = "1I" if max(tx, ty) < 32768 else "1J"
    chips = inst.chip_ids
    cols = [("time", "1D", "s", None)]
    if acis:
        cols += [("expno", "1J", "", (0, 2**31 - 1)), ("ccd_id", "1I", "", (0, 9)),
                 ("node_id", "1I", "", (0, 3))]  # fmt: skip
    else:
        cols += [("chip_id", "1I", "", (min(chips), max(chips)))]
    cols += [
        ("chipx", "1I", "pixel", (1, nx)),
        ("chipy", "1I", "pixel", (1, ny)),
        ("tdetx", tdet_form, "pixel", (1, tx)),
        ("tdety", tdet_form, "pixel", (1, ty)),
        ("detx", "1E", "pixel", (0.5, fp_hi - 0.5)),
        ("dety", "1E", "pixel", (0.5, fp_hi - 0.5)),
        ("x", "1E", "pixel", (0.5, fp_hi - 0.5)),
        ("y", "1E", "pixel", (0.5, fp_hi - 0.5)),
    ]
    if acis:
        cols += [("energy", "1E", "eV", (0.0, 1.0e6)), ("pi", "1J", "chan", (1, 1024)),
                 ("fltgrade", "1I", "", (0, 255)), ("grade", "1I", "", (0, 7))]  # fmt: skip
    else:
        cols += [("pha", "1I", "adu", (0, 255)), ("pi", "1I", "chan", (0, 255))]
    cols.append(("status", "32X", "", None))
    return cols


def events_hdu(
    plan: ObservationPlan, det: Detector, sky: SkyFrame, cards: list[Card], events: dict
) -> fits.BinTableHDU:
    """The EVENTS block: columns, their ranges and the sky/det WCS."""
    layout = _event_layout(plan, det)
    n = len(events["time"])
    columns = []
    for name, form, unit, _ in layout:
        if name == "status":
            data = np.zeros((n, 32), dtype=bool)
        elif name in ("ccd_id", "chip_id"):
            data = events["chip"]
        else:
            data = events[name]
        columns.append(fits.Column(name=name, format=form, unit=unit or None, array=data))
    hdu = fits.BinTableHDU.from_columns(columns, name="EVENTS")
    h = hdu.header
    _put(h, cards)
    index = {name: i + 1 for i, (name, *_) in enumerate(layout)}
    for name, _, _, limits in layout:
        if limits is not None:
            h[f"TLMIN{index[name]}"], h[f"TLMAX{index[name]}"] = limits
    scale = det.fp.scale / 3600.0
    pixel_mm = det.instrument.pixel_size[0]
    for name, ctype, crval, crpix, cdelt, unit in (
        ("chipx", "CPCX", 0.0, 0.5, pixel_mm, "mm"),
        ("chipy", "CPCY", 0.0, 0.5, pixel_mm, "mm"),
        ("detx", "LONG-TAN", 0.0, det.fp.origin[0], scale, "deg"),
        ("dety", "NPOL-TAN", 0.0, det.fp.origin[1], scale, "deg"),
        ("x", "RA---TAN", sky.ra_nom, sky.crpix[0], sky.cdelt[0], "deg"),
        ("y", "DEC--TAN", sky.dec_nom, sky.crpix[1], sky.cdelt[1], "deg"),
    ):
        i = index[name]
        _put(h, [(f"TCTYP{i}", ctype, ""), (f"TCRVL{i}", crval, ""), (f"TCRPX{i}", crpix, ""),
                 (f"TCDLT{i}", cdelt, ""), (f"TCUNI{i}", unit, "")])  # fmt: skip
    for k, (mtype, mform) in enumerate(
        (("chip", "chipx,chipy"), ("tdet", "tdetx,tdety"), ("det", "detx,dety"), ("sky", "x,y")),
        start=1,
    ):
        _put(h, [(f"MTYPE{k}", mtype, "DM Keyword: Descriptor name."), (f"MFORM{k}", mform, "")])
    return hdu


def gti_hdus(plan: ObservationPlan, pointing) -> list[fits.BinTableHDU]:
    """One GTI block per ACIS chip (CCD_ID, aimpoint chip first); one for HRC."""
    chips = plan.gti_order() if plan.setup.is_acis else [None]
    out = []
    for k, chip in enumerate(chips, start=1):
        hdu = fits.BinTableHDU.from_columns(
            [fits.Column(name="START", format="1D", unit="s", array=[plan.tstart]),
             fits.Column(name="STOP", format="1D", unit="s", array=[plan.tstop])],
            name="GTI",
        )  # fmt: skip
        h = hdu.header
        h["EXTVER"] = k
        h["HDUNAME"] = f"GTI{chip}" if chip is not None else "GTI"
        _put(h, [("MISSION", "AXAF", "Mission"), ("TELESCOP", "CHANDRA", "Telescope"),
                 ("INSTRUME", plan.setup.instrume, "Instrument"),
                 ("MJDREF", MJDREF, "[d] MJD zero point for times"),
                 ("TSTART", plan.tstart, "[s] Observation start time (MET)"),
                 ("TSTOP", plan.tstop, "[s] Observation end time (MET)"),
                 ("TIMESYS", "TT", "Time system"), ("TIMEUNIT", "s", "Time unit")])  # fmt: skip
        if chip is not None:
            h["CCD_ID"] = (chip, "CCD for this table")
        out.append(hdu)
    return out


def primary_hdu(plan: ObservationPlan, content: str) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    _put(hdu.header, [("HDUNAME", "PRIMARY", ""), ("CONTENT", content, ""),
                      *time_cards(plan), *observation_cards(plan, (plan.ra_nom, plan.dec_nom,
                                                                  plan.roll_nom))])  # fmt: skip
    return hdu


# ---- asol1, bpix1, msk1, dtf1 ------------------------------------------------------------


def asol_hdu(plan: ObservationPlan, time: np.ndarray, aspect, pointing) -> fits.BinTableHDU:
    """The ASPSOL block: time, ra, dec, roll, dy, dz, dtheta; CONTENT='ASPSOL'."""
    cols = [fits.Column(name="time", format="1D", unit="s", array=time)]
    for name, form, unit in (
        ("ra", "1D", "deg"),
        ("dec", "1D", "deg"),
        ("roll", "1D", "deg"),
        ("dy", "1E", "mm"),
        ("dz", "1E", "mm"),
        ("dtheta", "1E", "deg"),
    ):
        cols.append(
            fits.Column(
                name=name,
                format=form,
                unit=unit,
                array=np.broadcast_to(getattr(aspect, name), time.shape),
            )
        )
    hdu = fits.BinTableHDU.from_columns(cols, name="ASPSOL")
    amp = plan.dither_arcsec / 3600.0
    _put(hdu.header, [
        ("HDUNAME", "ASPSOL", "ASCDM block name"),
        ("CONTENT", "ASPSOL", ""),
        ("HDUCLASS", "ASC", ""), ("HDUCLAS1", "TEMPORALDATA", ""), ("HDUCLAS2", "ASPSOL", ""),
        ("DTASPSOL", plan.aspect_step_s, "[s] Nominal record delta-time"),
        ("ASPTYPE", "KALMAN", "Solution method"),
        ("PITCHAMP", amp, "[deg] dither pitch amplitude"),
        ("YAWAMP", amp, "[deg] dither yaw amplitude"),
        ("PITCHPER", plan.dither_periods_s[1], "[s] dither pitch period"),
        ("YAWPER", plan.dither_periods_s[0], "[s] dither yaw period"),
        *time_cards(plan, float(time[0]), float(time[-1])),
        ("TIMEDEL", plan.aspect_step_s, "[s]"),
        *observation_cards(plan, pointing),
    ])  # fmt: skip
    hdu.header["INSTRUME"] = ("PCAD", "Aspect Camera")
    hdu.header["DETNAM"] = ("", "Detector")
    return hdu


def _chip_key(plan: ObservationPlan) -> str:
    return "CCD_ID" if plan.setup.is_acis else "CHIP_ID"


def _region_block(plan, name: str, chip: int, k: int, columns, extra: list[Card], pointing):
    hdu = fits.BinTableHDU.from_columns(columns, name=name)
    h = hdu.header
    h["EXTVER"] = k
    _put(h, [("HDUNAME", f"{name}{chip}", "ASCDM block name"), ("CONTENT", name if name ==
             "BADPIX" else "MSK", ""), ("HDUCLASS", "ASC", ""), ("HDUCLAS1", "REGION", ""),
             ("HDUCLAS2", name, ""), ("MTYPE1", "CHIP", ""), ("MFORM1", "CHIPX,CHIPY", ""),
             *time_cards(plan), *observation_cards(plan, pointing), *_readout_cards(plan),
             (_chip_key(plan), chip, "chip"), *extra])  # fmt: skip
    return hdu


def bpix_hdus(plan: ObservationPlan, regions: list[BadRegion], pointing) -> list:
    """One BADPIX block per chip: SHAPE, COMPONENT, CHIPX(2), CHIPY(2), TIME, TIME_STOP,
    STATUS (32X, element 0 = bit 31)."""
    out = []
    for k, chip in enumerate(sorted(plan.chips), start=1):
        rows = [r for r in regions if r.chip == chip]
        status = np.zeros((len(rows), 32), dtype=bool)
        for i, r in enumerate(rows):
            status[i, 31 - r.bit] = True
        n = len(rows)
        cols = [
            fits.Column(name="SHAPE", format="16A", array=["rectangle"] * n),
            fits.Column(name="COMPONENT", format="1I", array=np.arange(1, n + 1)),
            fits.Column(name="CHIPX", format="2I", unit="pixel",
                        array=np.array([r.chipx for r in rows]).reshape(n, 2)),
            fits.Column(name="CHIPY", format="2I", unit="pixel",
                        array=np.array([r.chipy for r in rows]).reshape(n, 2)),
            fits.Column(name="TIME", format="1D", unit="s", array=np.full(n, plan.tstart)),
            fits.Column(name="TIME_STOP", format="1D", unit="s", array=np.full(n, plan.tstop)),
            fits.Column(name="STATUS", format="32X", array=status),
        ]  # fmt: skip
        out.append(_region_block(plan, "BADPIX", chip, k, cols, [], pointing))
    return out


def mask_hdus(plan: ObservationPlan, windows: dict, sizes: dict, pointing) -> list:
    """One MASK block per chip: the active window (SAMP_CYC 1), and for ACIS the whole
    chip (SAMP_CYC 0) less the window, as archive msk1 files list them."""
    out = []
    for k, chip in enumerate(sorted(plan.chips), start=1):
        w = windows[chip]
        nx, ny = sizes[chip]
        if plan.setup.is_acis:
            shapes = ["rectangle", "rectangle", "!rectangle"]
            comp, cx = [1, 2, 2], [w.chipx, (1, nx), w.chipx]
            cy, samp = [w.chipy, (1, ny), w.chipy], [1, 0, 1]
        else:
            shapes, comp, cx, cy, samp = ["rectangle"], [1], [w.chipx], [w.chipy], [1]
        cols = [
            fits.Column(name="SHAPE", format="16A", array=shapes),
            fits.Column(name="COMPONENT", format="1I", array=comp),
            fits.Column(name="CHIPX", format="2I", unit="pixel", array=np.array(cx)),
            fits.Column(name="CHIPY", format="2I", unit="pixel", array=np.array(cy)),
            fits.Column(name="SAMP_CYC", format="1I", array=samp),
        ]
        if plan.setup.is_acis:
            cols += [
                fits.Column(name="PHAMIN", format="1I", array=[39] * len(shapes)),
                fits.Column(name="PHAMAX", format="1I", array=[4095] * len(shapes)),
            ]
        extra: list[Card] = []
        if plan.setup.is_acis:
            extra = [("LASTROW", plan.firstrow + plan.nrows - 1, "last row of subarray")]
        out.append(_region_block(plan, "MASK", chip, k, cols, extra, pointing))
    return out


def dtf_hdu(plan: ObservationPlan, time: np.ndarray, dtf: np.ndarray, dtcor: float, pointing):
    """The HRC dead-time factors: TIME, DTF, DTF_ERR; DTCOR is their mean over the GTI."""
    cols = [
        fits.Column(name="TIME", format="1D", unit="s", array=time),
        fits.Column(name="DTF", format="1E", array=dtf),
        fits.Column(name="DTF_ERR", format="1E", array=np.full(len(time), 1e-3)),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="DTF")
    _put(hdu.header, [("HDUNAME", "DTF", ""), ("CONTENT", "DTF", ""),
                      ("HDUCLASS", "ASC", ""), ("HDUCLAS1", "TEMPORALDATA", ""),
                      *time_cards(plan), *observation_cards(plan, pointing),
                      ("DTCOR", dtcor, "Dead time correction (mean DTF)")])  # fmt: skip
    return hdu
