"""Every product's HDU is made here: headers, WCS, block names (written by :mod:`.transaction`).

Images carry CIAO's layout: the celestial TAN WCS of the event file's sky
columns, the physical (sky pixel) WCS both as ``LTM``/``LTV`` and as the
``P`` alternate WCS, and the event header's keywords less those that only
describe a table.  Combined images merge their inputs' headers
(:mod:`.header_merge`).
"""

from __future__ import annotations

import re

import numpy as np
from astropy.io import fits

from ._version import __version__
from .fitswrite import Cards, ImageFile, TableFile, table_hdu
from .geometry.grid import Grid
from .header_merge import merge_headers
from .inputs.bands import Band
from .inputs.observation import Observation

__all__ = [
    "CONTENT",
    "EXPMAP_BUNIT",
    "OBSERVATION_TIME",
    "TABLE_ONLY",
    "add_keywords",
    "asphist_hdu",
    "background_events_hdu",
    "background_image_header",
    "combined_expmap_header",
    "counts_hdu",
    "counts_header",
    "describes_observation",
    "expmap_hdu",
    "expmap_header",
    "flux_hdu",
    "fov_hdu",
    "instmap_hdu",
    "observation_cards",
    "psfmap_hdu",
    "sky_image",
    "sky_image_header",
    "stamp",
    "subtracted_counts_header",
    "wcs_keywords",
]


#: Keywords that describe a table (its columns, subspace, structure), not the observation.
TABLE_ONLY = re.compile(
    r"^(T[A-Z]+\d+|TFIELDS|THEAP|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTNAME|EXTVER|"
    r"HDUNAME|HDUCLAS[12]|DS[A-Z]+\d+|MTYPE\d+|MFORM\d+|CHECKSUM|DATASUM|EXTEND|SIMPLE)$"
)


#: CONTENT of each image product (the event file's CONTENT='EVT2' is not carried over).
CONTENT = {"EVENTS_IMAGE": "IMAGE", "EXPMAP": "EXPMAP", "INSTMAP": "INSTMAP",
           "PFLUX_IMAGE": "FLUX", "PSFMAP": "PSFMAP"}  # fmt: skip


def describes_observation(keyword: str) -> bool:
    """Whether an event-header keyword is copied to products (COMMENT/HISTORY are)."""
    return keyword in ("", "COMMENT", "HISTORY") or not TABLE_ONLY.match(keyword)


def observation_cards(header: fits.Header) -> Cards:
    """An event header less its table-only keywords."""
    return Cards.of(header, describes_observation)


def wcs_keywords(obs: Observation, grid: Grid) -> Cards:
    """Celestial TAN WCS, physical P WCS and LTM/LTV for images on ``grid``."""
    sky = obs.sky
    h = Cards()
    for i, axis, crpix, crval, cdelt, ctype in (
        (1, grid.x, sky.crpix[0], sky.crval[0], sky.cdelt[0], sky.ctype[0]),
        (2, grid.y, sky.crpix[1], sky.crval[1], sky.cdelt[1], sky.ctype[1]),
    ):
        h[f"CTYPE{i}"] = (ctype, f"Axis type for dim {i} (sky)")
        h[f"CRVAL{i}"] = (crval, "Sky coord of reference pixel (deg)")
        h[f"CRPIX{i}"] = ((crpix - axis.lo) / axis.step + 0.5, "Reference pixel")
        h[f"CDELT{i}"] = (cdelt * axis.step, "Pixel size (deg)")
        h[f"CUNIT{i}"] = ("deg", "Axis units")
    h["EQUINOX"] = (float(obs.header.get("EQUINOX", 2000.0)), "Equinox of celestial coords")
    h["RADESYS"] = (str(obs.header.get("RADESYS", "ICRS")), "Reference frame")
    h["WCSNAMEP"] = ("PHYSICAL", "Physical (sky pixel) coordinates")
    for i, axis, name in ((1, grid.x, obs.sky.x_column), (2, grid.y, obs.sky.y_column)):
        h[f"WCSTY{i}P"] = ("PHYSICAL", "")
        h[f"CTYPE{i}P"] = (name, "Physical axis")
        h[f"CRVAL{i}P"] = (axis.lo, "Physical coord of the image edge")
        h[f"CRPIX{i}P"] = (0.5, "Image edge")
        h[f"CDELT{i}P"] = (axis.step, "Image pixel size (sky pixels)")
        h[f"CUNIT{i}P"] = ("pixel", "")
    for i, axis in ((1, grid.x), (2, grid.y)):
        h[f"LTV{i}"] = (0.5 - axis.lo / axis.step, "image = LTM * physical + LTV")
    h["LTM1_1"] = (1.0 / grid.x.step, "")
    h["LTM1_2"] = (0.0, "")
    h["LTM2_1"] = (0.0, "")
    h["LTM2_2"] = (1.0 / grid.y.step, "")
    return h


def stamp(header: fits.Header | Cards, calibration: str | None) -> None:
    """Record the creator and the calibration a product was made with."""
    header["CREATOR"] = (f"fluximage {__version__}", "tool that created this output")
    if calibration:
        header["CALIB"] = (calibration, "calibration used (CALDB or built-in)")


def sky_image_header(
    obs: Observation, grid: Grid, hduname: str, calibration: str | None
) -> Cards:
    """An image on the output grid: observation keywords, WCS, block name, CONTENT, stamp."""
    h = observation_cards(obs.header)
    h.extend(wcs_keywords(obs, grid), update=True)
    h["HDUNAME"] = (hduname, "Block name")
    h["CONTENT"] = (CONTENT[hduname], "What data is stored")
    stamp(h, calibration)
    return h


def sky_image(
    obs: Observation, grid: Grid, data: np.ndarray, hduname: str, calibration: str | None
) -> ImageFile:
    """An image on the output grid with :func:`sky_image_header`'s keywords."""
    return ImageFile(sky_image_header(obs, grid, hduname, calibration), data)


def add_keywords(header: Cards, extra: fits.Header | None) -> None:
    """Set every card of ``extra`` (e.g. the HRC-I background keywords) on ``header``."""
    for card in (extra or fits.Header()).cards:
        header[card.keyword] = (card.value, card.comment)


def counts_header(
    obs: Observation,
    grid: Grid,
    band: Band,
    calibration: str | None = None,
    extra: fits.Header | None = None,
) -> Cards:
    """The header of one band's counts image, as CIAO's dmcopy binning makes it.

    ``extra``: keywords added last (BEVTFILE, BKGSCALE, ...).
    """
    h = sky_image_header(obs, grid, "EVENTS_IMAGE", calibration)
    h.add_comment(f"Adding keywords for band={band.label}")
    for key, (value, comment) in band.header_keywords().items():
        h[key] = (value, comment)
    add_keywords(h, extra)
    return h


def counts_hdu(
    obs: Observation,
    grid: Grid,
    band: Band,
    counts: np.ndarray,
    calibration: str | None = None,
    extra: fits.Header | None = None,
    header: Cards | None = None,
) -> ImageFile:
    """The counts image of one band (``header``: made by :func:`counts_header` if None).

    Integer counts are written as int32; a background-subtracted image (float) as
    float32.
    """
    kind = np.int32 if np.issubdtype(counts.dtype, np.integer) else np.float32
    header = counts_header(obs, grid, band, calibration, extra) if header is None else header
    return ImageFile(header.copy(), counts.astype(kind, copy=False))


def background_image_header(
    header: fits.Header, obs: Observation, grid: Grid, band: Band,
    calibration: str | None = None,
) -> Cards:  # fmt: skip
    """The header of the HRC-I particle background of one band binned on the grid.

    Its keywords are those of the tailored background events (``header``), as dmcopy
    binning of PHRC-I_bkg.fits gives them.
    """
    h = observation_cards(header)
    h.extend(wcs_keywords(obs, grid), update=True)
    h["HDUNAME"] = ("EVENTS_IMAGE", "Block name")
    h["CONTENT"] = (CONTENT["EVENTS_IMAGE"], "What data is stored")
    for key, (value, comment) in band.header_keywords().items():
        h[key] = (value, comment)
    stamp(h, calibration)
    return h


#: Keywords of the observation restored on the background-subtracted image after the
#: merge (CIAO restores the first three; the time range is the observation's too).
OBSERVATION_TIME = ("ONTIME", "LIVETIME", "EXPOSURE", "TSTART", "TSTOP", "DATE-OBS", "DATE-END")


def subtracted_counts_header(
    unsubtracted: Cards, background: Cards, extra: fits.Header | None
) -> Cards:
    """PB.img after the HRC-I background is subtracted: dmimgcalc's merge of the two
    images' headers, the observation's exposure and time range, then ``extra``."""
    h = merge_headers([unsubtracted, background])
    for key in OBSERVATION_TIME:
        if key in unsubtracted:
            h[key] = (unsubtracted[key], unsubtracted.comment(key))
    add_keywords(h, extra)
    return h


def _tform(values: np.ndarray) -> str:
    """A TFORM for a column array (``nX`` for bit columns)."""
    repeat = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
    kind = values.dtype
    if kind.kind == "b":
        return f"{repeat}X" if values.ndim > 1 else "L"
    if kind.kind in "SU":
        return f"{kind.itemsize // (4 if kind.kind == 'U' else 1)}A"
    codes = {"u1": "B", "i1": "I", "i2": "I", "u2": "J", "i4": "J", "u4": "K", "i8": "K",
             "f4": "E", "f8": "D"}  # fmt: skip
    code = codes.get(f"{kind.kind}{kind.itemsize}", "D")
    return f"{repeat}{code}" if repeat > 1 else code


def background_events_hdu(
    header: fits.Header,
    names: tuple[str, ...],
    columns: dict[str, np.ndarray],
    obs: Observation,
    calibration: str | None = None,
) -> fits.BinTableHDU:
    """PHRC-I_bkg.fits: the reprojected background events (EVENTS block).

    The x, y columns carry the observation's sky WCS (reproject_events match=<evt>).
    """
    cols = []
    for name in names:
        values = np.asarray(columns[name.lower()])
        if name.lower() in ("detx", "dety", "x", "y"):
            values = values.astype(np.float32)
        cols.append(fits.Column(name=name, format=_tform(values), array=values))
    hdu = table_hdu(cols, "EVENTS")
    h = hdu.header
    for card in header.cards:
        if describes_observation(card.keyword):
            h.append(card)
    h["HDUNAME"] = ("EVENTS", "Block name")
    sky = obs.sky
    lower = [n.lower() for n in names]
    for column, i in ((sky.x_column, 0), (sky.y_column, 1)):
        if column in lower:
            n = lower.index(column) + 1
            h[f"TCTYP{n}"], h[f"TCRVL{n}"] = sky.ctype[i], sky.crval[i]
            h[f"TCRPX{n}"], h[f"TCDLT{n}"] = sky.crpix[i], sky.cdelt[i]
    stamp(h, calibration)
    return hdu


def fov_hdu(obs: Observation, fovs: list, calibration: str | None = None) -> TableFile:
    """The observation FOV as a CIAO region file: one closed polygon per chip.

    Polygons shorter than the longest are padded with their first vertex, as
    skyfov does (readers cut at the last vertex equal to the first).
    """
    n = max(len(f.x) for f in fovs)

    def padded(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, np.full(n - len(values), values[0])])

    x = np.array([padded(f.x) for f in fovs])
    y = np.array([padded(f.y) for f in fovs])
    rows = len(fovs)
    cols = [
        fits.Column(name="X", format=f"{n}D", unit="pixel", array=x),
        fits.Column(name="Y", format=f"{n}D", unit="pixel", array=y),
        fits.Column(name="SHAPE", format="16A", array=np.array(["Polygon"] * rows)),
        fits.Column(name="R", format="2D", unit="pixel", array=np.full((rows, 2), np.nan)),
        fits.Column(name="ROTANG", format="2D", unit="deg", array=np.full((rows, 2), np.nan)),
        fits.Column(name="COMPONENT", format="1I", array=np.arange(1, rows + 1, dtype=np.int16)),
        fits.Column(name="CCD_ID", format="1I", array=np.array([f.chip for f in fovs], np.int16)),
    ]
    hdu = TableFile.of(cols, "FOV")
    h = hdu.header
    h.extend(observation_cards(obs.header))
    h["HDUNAME"] = ("FOV", "Block name")
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"] = "ASC", "REGION", "FOV"
    h["CONTENT"] = ("FOV", "CXC Content key")
    h["MTYPE1"], h["MFORM1"] = "POS", "X,Y"
    # the RA,DEC descriptor over X,Y (their column WCS below), as skyfov writes it: CIAO's
    # region filters and merge_obs/flux_obs read the polygons in RA/Dec through it
    h["MTYPE2"] = ("EQPOS", "DM Keyword: Descriptor name.")
    h["MFORM2"] = ("RA,DEC", "[deg]")
    stamp(h, calibration)
    sky = obs.sky
    for i, (ctype, crval, crpix, cdelt) in enumerate(
        zip(sky.ctype, sky.crval, sky.crpix, sky.cdelt, strict=True), start=1
    ):
        h[f"TCTYP{i}"], h[f"TCRVL{i}"], h[f"TCRPX{i}"], h[f"TCDLT{i}"] = ctype, crval, crpix, cdelt
        h[f"TCUNI{i}"] = "deg"
    return hdu


def asphist_hdu(obs: Observation, hist, calibration: str | None = None) -> TableFile:
    """An ASPHIST block: one row per occupied bin (offsets arcsec, duration s)."""
    cols = [
        fits.Column(name="X_OFFSET", format="D", unit="arcsec", array=hist.x_offset),
        fits.Column(name="Y_OFFSET", format="D", unit="arcsec", array=hist.y_offset),
        fits.Column(name="ROLL_OFFSET", format="D", unit="arcsec", array=hist.roll_offset),
        fits.Column(name="DURATION", format="D", unit="s", array=hist.duration),
        fits.Column(name="RA", format="D", unit="deg", array=hist.ra),
        fits.Column(name="DEC", format="D", unit="deg", array=hist.dec),
        fits.Column(name="ROLL", format="D", unit="deg", array=hist.roll),
        fits.Column(name="DY", format="D", unit="mm", array=hist.dy),
        fits.Column(name="DZ", format="D", unit="mm", array=hist.dz),
        fits.Column(name="DTHETA", format="D", unit="deg", array=hist.dtheta),
    ]
    hdu = TableFile.of(cols, "ASPHIST")
    h = hdu.header
    h.extend(observation_cards(obs.header))
    total = hist.total_duration
    weights = hist.duration / total if total > 0 else hist.duration
    h["HDUNAME"] = ("ASPHIST", "Block name")
    h["CONTENT"] = ("ASPHIST", "Aspect histogram")
    h["HDUCLAS1"] = ("ASPHIST", "")
    h[obs.chip_column.upper()] = (hist.chip, "Chip of this histogram")
    h["RA_REF"], h["DEC_REF"], h["ROLL_REF"] = hist.reference  # offsets are from here
    h["RES_XY"] = (hist.res_xy, "[arcsec] offset bin size")
    h["RES_ROLL"] = (hist.res_roll, "[arcsec] roll bin size")
    h["MAX_BIN"] = (hist.max_bin, "largest number of bins allowed")
    h["DURATION"] = (total, "[s] total live time")
    h["DY_AVG"] = (float(np.sum(weights * hist.dy)), "[mm] mean dy")
    h["DZ_AVG"] = (float(np.sum(weights * hist.dz)), "[mm] mean dz")
    h["DTH_AVG"] = (float(np.sum(weights * hist.dtheta)), "[deg] mean dtheta")
    stamp(h, calibration)
    return hdu


def instmap_hdu(
    obs: Observation,
    chip: int,
    band: Band,
    pixels,
    data: np.ndarray,
    units: str,
    detsubsys: str,
    calibration: str,
) -> ImageFile:
    """An instrument map in chip coordinates (cm² counts/photon; 0/1 for units=time)."""
    hdu = ImageFile(observation_cards(obs.header), data.astype(np.float32, copy=False))
    h = hdu.header
    h["HDUNAME"] = ("INSTMAP", "Block name")
    h["CONTENT"] = (CONTENT["INSTMAP"], "What data is stored")
    h["BUNIT"] = ("" if units == "time" else "cm**2", "counts/photon")
    h[obs.chip_column.upper()] = (chip, "Chip of this map")
    h["DETSUBSY"] = (detsubsys, "Detector subsystem (mkinstmap detsubsys)")
    h["MIRROR"] = ("HRMA;area=1" if units == "time" else "HRMA", "mkinstmap mirror")
    h["PIXGRID"] = (pixels.text, "mkinstmap pixelgrid (chip pixels)")
    if band.weights_file is None:
        h["ENERGY"] = (band.instmap_energy, "[keV] monochromatic energy")
    _band_keywords(h, band)
    h["GRATING"] = (obs.grating, "Grating")
    for i in (1, 2):  # physical = chip coordinates
        h[f"WCSTY{i}P"], h[f"CTYPE{i}P"] = "PHYSICAL", ("chipx", "chipy")[i - 1]
        h[f"CRPIX{i}P"], h[f"CRVAL{i}P"], h[f"CDELT{i}P"] = 0.5, 0.5, float(pixels.bin)
        h[f"LTV{i}"] = 0.5 - 0.5 / pixels.bin
    h["LTM1_1"] = h["LTM2_2"] = 1.0 / pixels.bin
    stamp(h, calibration)
    return hdu


EXPMAP_BUNIT = {"default": "cm**2 s", "area": "cm**2", "time": "s"}


def _band_keywords(h: Cards, band: Band) -> None:
    if band.weights_file is not None:
        # a long path goes on CONTINUE cards; a comment would be truncated with a warning
        path = band.weights_file
        h["SPECTRUM"] = path if len(path) > 40 else (path, "spectral weights file")
        h["WGTFILE"] = path if len(path) > 40 else (path, "spectral weights file")
        if band.weights_range_kev is not None:
            h["ENERG_LO"] = (band.weights_range_kev[0], "[keV] weights file range")
            h["ENERG_HI"] = (band.weights_range_kev[1], "[keV] weights file range")
    else:
        h["SPECTRUM"] = ("NONE", "spectral weights file")


def expmap_header(
    obs: Observation,
    grid: Grid,
    band: Band,
    units: str,
    calibration: str | None,
    chip: int | None = None,
) -> Cards:
    """The header of an exposure map on the output grid (one chip's, or ``chip`` None)."""
    h = sky_image_header(obs, grid, "EXPMAP", calibration)
    h["BUNIT"] = (EXPMAP_BUNIT[units], "exposure map units")
    if chip is not None:
        h[obs.chip_column.upper()] = (chip, "Chip of this map")
    if band.weights_file is None:
        h["ENERGY"] = (band.instmap_energy, "[keV] instrument-map energy")
    _band_keywords(h, band)
    h["GRATING"] = (obs.grating, "Grating")
    return h


def combined_expmap_header(chip_headers: list[Cards], obs: Observation) -> Cards:
    """The per-band exposure map: one chip's map as it is (dmcopy), several chips'
    headers merged (dmimgcalc), with DETNAM and BUNIT restored as fluximage does."""
    if len(chip_headers) == 1:
        return chip_headers[0].copy()
    h = merge_headers(chip_headers)
    if "DETNAM" in obs.header:
        h["DETNAM"] = (str(obs.header["DETNAM"]), obs.header.comments["DETNAM"])
    h["BUNIT"] = (chip_headers[0]["BUNIT"], "exposure map units")
    return h


def expmap_hdu(header: Cards, data: np.ndarray) -> ImageFile:
    """An exposure map (float64) under a copy of ``header`` (:func:`expmap_header`)."""
    return ImageFile(header.copy(), np.asarray(data, dtype=np.float64))


def flux_hdu(
    counts: Cards, expmap: Cards, band: Band, data: np.ndarray, bunit: str
) -> ImageFile:
    """The exposure-corrected image (block PFLUX_IMAGE): dmimgcalc's merge of the counts
    image's and the exposure map's headers, BUNIT counts/exposure and the band's keys."""
    h = merge_headers([counts, expmap])
    h["HDUNAME"] = ("PFLUX_IMAGE", "Block name")
    h["CONTENT"] = (CONTENT["PFLUX_IMAGE"], "What data is stored")
    h["BUNIT"] = (bunit, "counts / exposure")
    for key, (value, comment) in band.header_keywords().items():
        h[key] = (value, comment)
    _band_keywords(h, band)
    return ImageFile(h, np.asarray(data, dtype=np.float64))


def psfmap_hdu(
    obs: Observation, grid: Grid, band: Band, data: np.ndarray, ecf: float, source: str,
    calibration: str | None,
) -> ImageFile:  # fmt: skip
    """The PSF-size map (block PSFMAP): arcsec enclosing ``ecf``, NaN outside the exposure."""
    hdu = sky_image(obs, grid, np.asarray(data, dtype=np.float32), "PSFMAP", calibration)
    h = hdu.header
    h["BUNIT"] = ("arcsec", "radius enclosing ECF of a point source")
    h["ECF"] = (float(ecf), "enclosed counts fraction")
    h["PSFTABLE"] = (source, "PSF-size table")
    for key, (value, comment) in band.header_keywords().items():
        h[key] = (value, comment)
    if band.weights_file is None:
        h["ENERGY"] = (band.instmap_energy, "[keV] energy of the PSF size")
    _band_keywords(h, band)
    return hdu
