"""Small FITS files written by the tests: event lists, aspect solutions, bpix, masks,
CALDB indexes and HRC-I background files; and a reporter that keeps its lines.

Not a simulator (that is ``fluximage.simulate``): just enough structure to
drive the input checks, with any keyword changed or removed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from fluximage.calib import index_path, to_mjd
from fluximage.geometry.caldb_geometry import load_geometry
from fluximage.geometry.pixlib import chip_to_tdet
from fluximage.messages import Reporter

DROP = object()  # pass as a keyword value to remove that keyword
#: The event file of :func:`write_observation` in ./obs (the ``obs`` fixture's).
EVT = "obs/acis_evt2.fits"


def run_cli(capsys, *args: str, evt: str = EVT, outroot: str = "out/") -> tuple[int, str, str]:
    """``fluximage evt outroot args...`` in this process: (status, stdout, stderr)."""
    from fluximage import cli

    status = cli.main([evt, outroot, *args])
    out, err = capsys.readouterr()
    return status, out, err


def _apply(header: fits.Header, changes: dict) -> None:
    for key, value in changes.items():
        if value is DROP:
            header.remove(key, ignore_missing=True)
        else:
            header[key] = value


def event_columns(
    n: int, chips: list[int], instrument: str, seed: int = 1
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    chip = np.asarray(chips)[rng.integers(0, len(chips), n)]
    return {
        "time": np.sort(rng.uniform(1e8, 1e8 + 1000, n)),
        "ccd_id" if instrument == "ACIS" else "chip_id": chip.astype(np.int16),
        "chipx": rng.integers(1, 1025, n).astype(np.int16),
        "chipy": rng.integers(1, 1025, n).astype(np.int16),
        "x": rng.uniform(3500, 4500, n).astype(np.float32),
        "y": rng.uniform(3500, 4500, n).astype(np.float32),
        "energy": rng.uniform(300, 9000, n).astype(np.float32),
        "pi": rng.integers(1, 1024, n).astype(np.int32),
        "status": np.zeros((n, 32), dtype=bool),
    }


def write_events(
    path: Path,
    *,
    n: int = 200,
    chips: list[int] | None = None,
    instrument: str = "ACIS",
    header: dict | None = None,
    gti_chips: list[int] | None = None,
    wcs: bool = True,
    seed: int = 1,
    extra: dict[str, tuple[str, np.ndarray]] | None = None,
    columns: dict[str, np.ndarray] | None = None,
) -> Path:
    """An event file with an EVENTS table and GTI blocks (one per chip for ACIS).

    ``columns`` replaces generated columns; ``extra`` adds ``name: (TFORM, values)``.
    """
    chips = ([7] if instrument == "ACIS" else [0]) if chips is None else chips
    cols = event_columns(n, chips, instrument, seed)
    cols.update(columns or {})
    formats = {"time": "D", "ccd_id": "I", "chip_id": "I", "chipx": "I", "chipy": "I",
               "x": "E", "y": "E", "energy": "E", "pi": "J", "status": "32X"}  # fmt: skip
    for name, (form, values) in (extra or {}).items():
        cols[name], formats[name] = values, form
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format=formats[k], array=v) for k, v in cols.items()], name="EVENTS"
    )
    h = table.header
    names = list(cols)
    ix, iy = names.index("x") + 1, names.index("y") + 1
    if wcs:
        for i, ctype, crval, cdelt in (
            (ix, "RA---TAN", 266.4, -0.000136667),
            (iy, "DEC--TAN", -29.0, 0.000136667),
        ):
            h[f"TCTYP{i}"], h[f"TCRVL{i}"], h[f"TCRPX{i}"], h[f"TCDLT{i}"] = (
                ctype,
                crval,
                4096.5,
                cdelt,
            )
    for i in (ix, iy):
        h[f"TLMIN{i}"], h[f"TLMAX{i}"] = 0.5, 8192.5
    detnam = {"ACIS": "ACIS-" + "".join(str(c) for c in chips), "HRC": "HRC-I"}[instrument]
    base = {
        "INSTRUME": instrument, "DETNAM": detnam, "GRATING": "NONE", "OBS_ID": "1843",
        "TSTART": 1e8, "TSTOP": 1e8 + 1000, "MJDREF": 50814.0, "TIMEZERO": 0.0,
        "DATE-OBS": "2001-01-01T00:00:00", "EXPOSURE": 950.0, "LIVETIME": 950.0,
        "ONTIME": 1000.0, "DTCOR": 0.95, "CONTENT": "EVT2", "HDUCLAS1": "EVENTS",
        "ASOLFILE": "pcad_asol1.fits", "BPIXFILE": "acis_bpix1.fits", "MASKFILE": "acis_msk1.fits",
    }  # fmt: skip
    if instrument == "HRC":
        base["DTFFILE"] = "hrc_dtf1.fits"
    _apply(h, base)
    _apply(h, header or {})
    hdus = [fits.PrimaryHDU(), table]
    gti_chips = (chips if instrument == "ACIS" else [None]) if gti_chips is None else gti_chips
    for chip in gti_chips:
        gti = fits.BinTableHDU.from_columns(
            [fits.Column(name="START", format="D", array=[1e8]),
             fits.Column(name="STOP", format="D", array=[1e8 + 1000])],
            name="GTI",
        )  # fmt: skip
        if chip is not None:
            gti.header["CCD_ID"] = chip
        hdus.append(gti)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def write_asol(path: Path, *, content: str = "ASPSOL", header: dict | None = None,
               columns: tuple[str, ...] = ("time", "ra", "dec", "roll", "dy", "dz", "dtheta"),
               tstart: float = 1e8) -> Path:  # fmt: skip
    n = 20
    t = np.linspace(tstart, tstart + 1000, n)
    values = {
        "time": t,
        "ra": np.full(n, 266.4),
        "dec": np.full(n, -29.0),
        "roll": np.full(n, 88.0),
    }
    cols = [fits.Column(name=c, format="D", array=values.get(c, np.zeros(n))) for c in columns]
    table = fits.BinTableHDU.from_columns(cols, name="ASPSOL")
    _apply(table.header, {"CONTENT": content, "OBS_ID": "1843", "MJDREF": 50814.0,
                          "TIMEZERO": 0.0, "TSTART": tstart, "TSTOP": tstart + 1000})  # fmt: skip
    _apply(table.header, header or {})
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path, overwrite=True)
    return path


def write_chip_table(
    path: Path,
    kind: str,
    chips: list[int],
    header: dict | None = None,
    window: tuple[tuple[int, int], tuple[int, int]] = ((2, 1023), (2, 1023)),
) -> Path:
    """A bad-pixel (kind='BADPIX') or mask (kind='MASK') file in the real layout, one block
    per chip: a mask's active window, or one bad pixel at chip (100, 100)."""
    hdus: list = [fits.PrimaryHDU()]
    (x0, x1), (y0, y1) = window
    for chip in chips:
        if kind == "MASK":
            cols = [fits.Column(name="SHAPE", format="16A", array=["rectangle"]),
                    fits.Column(name="COMPONENT", format="1I", array=[1]),
                    fits.Column(name="CHIPX", format="2I", array=[[x0, x1]]),
                    fits.Column(name="CHIPY", format="2I", array=[[y0, y1]]),
                    fits.Column(name="SAMP_CYC", format="1I", array=[1])]  # fmt: skip
        else:
            status = np.zeros((1, 32), dtype=bool)
            status[0, 31] = True
            cols = [fits.Column(name="SHAPE", format="16A", array=["rectangle"]),
                    fits.Column(name="COMPONENT", format="1I", array=[1]),
                    fits.Column(name="CHIPX", format="2I", array=[[100, 100]]),
                    fits.Column(name="CHIPY", format="2I", array=[[100, 100]]),
                    fits.Column(name="STATUS", format="32X", array=status)]  # fmt: skip
        t = fits.BinTableHDU.from_columns(cols, name=kind)
        _apply(t.header, {"CCD_ID": chip, "OBS_ID": "1843", "CONTENT": kind})
        _apply(t.header, header or {})
        hdus.append(t)
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def write_observation(directory: Path, **events_kw) -> Path:
    """An event file with its asol, bpix and mask files beside it (as in primary/)."""
    directory.mkdir(parents=True, exist_ok=True)
    evt = write_events(directory / "acis_evt2.fits", **events_kw)
    write_asol(directory / "pcad_asol1.fits")
    write_chip_table(directory / "acis_bpix1.fits", "BADPIX", [7])
    write_chip_table(directory / "acis_msk1.fits", "MASK", [7])
    return evt


class Log(Reporter):
    """A reporter that keeps the lines it is given (verbose 1)."""

    def __init__(self):
        super().__init__(verbose=1)
        self.lines: list[str] = []

    def __call__(self, message: str = "", level: int = 1) -> None:
        if self.verbose >= level:
            self.lines.append(message)


# ---- CALDB indexes and HRC-I background files ----------------------------------------

_COLUMNS = [  # name, TFORM as in the real acis/hrc indexes
    ("TELESCOP", "10A"), ("INSTRUME", "10A"), ("DETNAM", "10A"), ("CAL_DEV", "20A"),
    ("CAL_DIR", "70A"), ("CAL_FILE", "40A"), ("CAL_CNAM", "20A"), ("CAL_CBD", "630A"),
    ("CAL_XNO", "I"), ("CAL_QUAL", "I"), ("CAL_DATE", "10A"), ("GRATING", "4A"),
    ("GRATTYPE", "3A"), ("CAL_DESC", "70A"), ("CAL_VSD", "10A"), ("CAL_VST", "8A"),
    ("REF_TIME", "D"), ("CAL_VED", "10A"), ("CAL_VET", "8A"), ("END_TIME", "D"),
    ("FIDELITY", "D"),
]  # fmt: skip


def caldb_row(file, *, cnam="QE", vsd="2000-01-01", vst="00:00:00", ved="", vet="", qual=0,
         cbd=(), xno=1, date="2020-01-01", inst="ACIS", det="NONE", fid=0.0, sub="acis/qe",
         grating="NONE"):  # fmt: skip
    ref = to_mjd(f"{vsd}T{vst}")
    end = to_mjd(f"{ved}T{vet or '00:00:00'}") if ved else 0.0
    cells = [c.ljust(70) for c in cbd] + ["NONE".ljust(70)] * (9 - len(cbd))
    return {
        "TELESCOP": "CHANDRA", "INSTRUME": inst, "DETNAM": det, "CAL_DEV": "ONLINE",
        "CAL_DIR": f"data/chandra/{sub}", "CAL_FILE": file, "CAL_CNAM": cnam,
        "CAL_CBD": "".join(cells), "CAL_XNO": xno, "CAL_QUAL": qual, "CAL_DATE": date,
        "GRATING": grating, "GRATTYPE": "", "CAL_DESC": "test", "CAL_VSD": vsd,
        "CAL_VST": vst, "REF_TIME": round(ref, 7), "CAL_VED": ved, "CAL_VET": vet,
        "END_TIME": round(end, 7), "FIDELITY": fid,
    }  # fmt: skip


def write_caldb_index(root: Path, instrument: str, rows: list[dict], *, install=True) -> Path:
    """A caldb.indx like CXC's (the CAL_CBD TFORM is patched to ``630A70``)."""
    path = index_path(root, instrument)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [
        fits.Column(name, format=form, array=np.array([r[name] for r in rows]))
        for name, form in _COLUMNS
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="CIF")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    raw = path.read_bytes()
    n = [c[0] for c in _COLUMNS].index("CAL_CBD") + 1
    old = f"TFORM{n:<3d}= '630A    '".encode()
    assert raw.count(old) == 1
    path.write_bytes(raw.replace(old, f"TFORM{n:<3d}= '630A70  '".encode()))
    if install:
        for r in rows:
            f = root / r["CAL_DIR"] / r["CAL_FILE"]
            f.parent.mkdir(parents=True, exist_ok=True)
            f.touch()
    return path



def write_background(
    path: Path,
    n: int = 2000,
    *,
    exposure: float = 40000.0,
    seed: int = 7,
    flagged: int = 0,
    pi: tuple[int, int] = (0, 256),
    chip_range: tuple[int, int] = (1, 16384),
    header: dict | None = None,
) -> Path:
    """A background events file; the first ``flagged`` events have status bit 0 set."""
    rng = np.random.default_rng(seed)
    chipx = rng.integers(*chip_range, n, endpoint=True).astype(np.int16)
    chipy = rng.integers(*chip_range, n, endpoint=True).astype(np.int16)
    tdetx, tdety = chip_to_tdet(load_geometry().instrument("HRC-I"), 0, chipx, chipy)
    status = np.zeros((n, 32), dtype=bool)
    status[:flagged, 31] = True
    cols = [
        fits.Column(name="chip_id", format="I", array=np.zeros(n, np.int16)),
        fits.Column(name="chipx", format="I", array=chipx),
        fits.Column(name="chipy", format="I", array=chipy),
        fits.Column(name="tdetx", format="J", array=np.rint(tdetx).astype(np.int32)),
        fits.Column(name="tdety", format="J", array=np.rint(tdety).astype(np.int32)),
        fits.Column(name="pha", format="I", array=rng.integers(0, 256, n).astype(np.int16)),
        fits.Column(name="pi", format="I", array=rng.integers(*pi, n).astype(np.int16)),
        fits.Column(name="status", format="32X", array=status),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    h = hdu.header
    for key, value in {
        "TELESCOP": "CHANDRA", "INSTRUME": "HRC", "DETNAM": "HRC-I", "CONTENT": "EVT1",
        "HDUCLAS1": "EVENTS", "EXPOSURE": exposure, "ONTIME": exposure, "LIVETIME": exposure,
        "OBJECT": "STOWED", "OBS_ID": "60000", "OBI_NUM": 3,
    }.items():  # fmt: skip
        h[key] = value
    for key, value in (header or {}).items():
        if value is DROP:
            h.remove(key, ignore_missing=True)
        else:
            h[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def background_caldb(root: Path, date: str = "2012-01-01", install: bool = True) -> Path:
    """A CALDB with one hrc BKGRND dataset; returns where its file belongs."""
    name = f"hrciD{date}bkgrndN0002.fits"
    row = caldb_row(name, cnam="BKGRND", vsd=date, inst="HRC", det="HRC-I", sub="hrc/bkgrnd")
    write_caldb_index(root, "hrc", [row], install=False)
    path = root / "data/chandra/hrc/bkgrnd" / name
    if install:
        write_background(path)
    return path
