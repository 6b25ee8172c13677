#!/usr/bin/env python
"""Regenerate the built-in calibration tables in ``fluximage/calib/data/``.

Usage::

    python tools/make_builtin_calibration.py [--shared DIR] [--out DIR] [--report]

``--shared`` is the shared data directory (default ``../shared/data`` next to the repository)
holding the public inputs named below; ``--report`` prints the checks made on the way.
Every output file names its sources in its header (CSV ``#`` lines; the ``.npz`` file has a
``source`` entry).  Inputs (all public):

- ``marx-data/caldb/acisD1997-04-17qeN0006.fits``: MARX's copy of the current CALDB ACIS QE.
- ``marx-data/caldb/acisD1999-08-13contamN0007_marx.fits``: CALDB contamination N0007 (MARX
  copy; FXY blocked to 16×16 (I) / 8×8 (S) pixels).
- ``marx-data/hrc/mcp_qe_{i.v2.2,s.v3}.dat``, ``uvis_{i,s2,s34}.v4.dat``: HRC MCP QE and UV/ion
  shield transmission (MARX ``bdat`` binary tables).
- ``marx-data/caldb/{hetg,letg}D1996-11-01greffpr001N0007.fits``: grating efficiencies per
  HRMA shell; ``marx-data/hrma/ideal.rdb`` and ``iridium.dat``: shell radii and Ir optical
  constants, used only to weight the HETG shells.
- ``ciao-arfs/obs1.arf``, ``ciao-arfs/9774.arf`` (sherpa-test-data): CIAO ARFs made with the
  current HRMA area (axeffa N0008) and QE (N0006), ACIS-S3 near the aimpoint.
- ``onaxis-effarea-refs/chandra_{acis-i,acis-s,hrc-i}_.area`` (PIMMS 4.8f, cycle 20) and
  ``ciao-arfs/hrcf24564_000N030_r0001_arf3.fits.gz`` (CSC 2.1 HRC-I ARF, 2021).
- ``caldb-real/hrmaD1996-12-20vignetN0003.fits``: the real CALDB HRMA vignetting (the only
  VIGNET file in CALDB 4.12's index), extension 1 (SHELL 1111, all shells): kept whole.
- Numbers transcribed from ``shared/docs/exposure-algorithms.md``: §6.1 HRMA area columns A/B,
  §3.3 PIMMS-derived aimpoint transmissions (cycle 18).
"""

from __future__ import annotations

import argparse
import datetime as dt
import struct
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.optimize import curve_fit

from fluximage.calib.builtin_tables import (
    date_from_met,
    dead_fraction,
    interp_log_energy,
    met_from_date,
)
from fluximage.calib.caldb_readers import read_vignetting
from fluximage.calib.vignetting import VignettingTable
from fluximage.geometry import Detector, builtin_geometry, det_to_chip

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "fluximage" / "calib" / "data"
GENERATOR = "tools/make_builtin_calibration.py"
DOC = "shared/docs/exposure-algorithms.md"

# ---- numbers transcribed from the exposure-algorithms document ------------------------------

#: §6.1 column B: MARX 5.5.3 on-axis ray trace (cm²), used below 0.5 keV.
MARX_AREA_LOW = ((0.1, 928.0), (0.2, 803.0), (0.28, 750.0), (0.3, 738.0), (0.4, 743.0),
                 (0.5, 736.0), (0.6, 744.0))  # fmt: skip
#: §6.1 column A (ARF of ObsID 1730 ÷ QE): the mirror the §3.3 transmissions were divided by.
COLUMN_A = ((0.4, 791.0), (0.5, 785.0), (0.6, 785.0), (0.8, 778.0), (1.0, 782.0), (1.2, 786.0),
            (1.5, 787.0), (1.8, 767.0), (2.0, 709.0), (2.1, 369.0), (2.2, 337.0), (2.3, 384.0),
            (2.5, 396.0), (3.0, 403.0), (3.5, 410.0), (4.0, 404.0), (4.5, 383.0),
            (5.0, 345.0))  # fmt: skip
#: §3.3: aimpoint transmissions = PIMMS area ÷ (column A × QE); (E, I cy18, I cy20, S cy18, S cy20).
PIMMS_TRANSMISSION = (
    (0.5, 0.065, 0.014, 0.069, 0.008), (0.7, 0.11, 0.008, 0.12, 0.031),
    (0.8, 0.24, 0.038, 0.25, 0.094), (1.0, 0.43, 0.155, 0.45, 0.26),
    (1.2, 0.58, 0.30, 0.60, 0.43), (1.5, 0.71, 0.50, 0.74, 0.62),
)  # fmt: skip
#: Dates taken for the PIMMS cycles (middle of the cycle's year) and the HRC-I ARF.
CYCLE18_DATE = "2017-07-01"
CYCLE20_DATE = "2019-07-01"
#: The CXC's cycle-21 ACIS-I aimpoint ARF (acisi_aimpt_cy21.arf: mkarf, CIAO 4.10, CALDB
#: contamination N0012, ARDLIB TIME = 705888069 = 2020-05-15, I3, dafile=CALDB), SPECRESP
#: (cm²) of the bins at these energies (keV), read from the copy in the public GitHub repository
#: XtraAstronomy/Pumpkin (Chandra_acis/acisi_aimpt_cy21.arf, commit d8e279d6); ±1-3 %.  The
#: CXC found the N0010 model behind the PIMMS cycle-20 curve too absorbing on ACIS-I from
#: early 2018 (CIAO "why" page on contamination N0011), so for ACIS-I this replaces cycle 20.
CYCLE21_DATE = "2020-05-15"
CYCLE21_ACIS_I = ((0.5016, 4.74), (0.5131, 6.16), (0.7081, 10.9), (0.9948, 132.0),
                  (1.4995, 407.5))  # fmt: skip

# ---- readers ---------------------------------------------------------------------------------


def read_bdat(path: Path) -> tuple[str, np.ndarray]:
    """(comment, rows × columns) of a MARX ``bdat`` file.

    Layout: 32-byte header (magic, type ``E`` = float32, rows, columns, comment length, all
    big-endian), the comment text, then the rows' values interleaved, big-endian float32."""
    raw = path.read_bytes()
    if raw[4:5] != b"E":
        raise ValueError(f"{path}: not a float bdat table")
    nrows, ncols, ncomment = struct.unpack(">iii", raw[5:17])
    comment = raw[32 : 32 + ncomment].decode("ascii", "replace")
    data = np.frombuffer(raw[32 + ncomment :], ">f4", count=nrows * ncols)
    return comment, data.reshape(nrows, ncols).astype(float)


def read_arf(path: Path) -> tuple[np.ndarray, np.ndarray, fits.Header]:
    """(bin-centre energies keV, SPECRESP cm², header) of an ARF."""
    with fits.open(path) as hdul:
        data, header = hdul["SPECRESP"].data, hdul["SPECRESP"].header
        centre = 0.5 * (data["ENERG_LO"] + data["ENERG_HI"]).astype(float)
        return centre, data["SPECRESP"].astype(float), header.copy()


def read_acis_qe(shared: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """CCD_ID → (energies keV, QE) of the CALDB QE N0006 (MARX copy), negatives set to 0."""
    out = {}
    with fits.open(shared / "marx-data/caldb/acisD1997-04-17qeN0006.fits") as hdul:
        for hdu in hdul[1:]:
            ccd = int(hdu.header.get("CCD_ID", hdu.header["EXTVER"] - 1))
            out[ccd] = (hdu.data["ENERGY"].astype(float), np.clip(hdu.data["QE"], 0, 1.0))
    return out


def read_contam_n0007(shared: Path) -> dict[int, dict[str, np.ndarray]]:
    """CCD_ID → one-layer N0007 contamination model (energy, mu, time, tau0, tau1, fxy, block)."""
    out = {}
    with fits.open(shared / "marx-data/caldb/acisD1999-08-13contamN0007_marx.fits") as hdul:
        for hdu in hdul[1:]:
            if len(hdu.data) != 1:
                raise ValueError("expected one contaminant layer per CCD")
            row, ne, nt = hdu.data[0], int(hdu.data[0]["n_energy"]), int(hdu.data[0]["n_time"])
            out[int(hdu.header["CCD_ID"])] = {
                "energy": row["energy"][:ne].astype(float), "mu": row["mu"][:ne].astype(float),
                "time": row["time"][:nt].astype(float), "tau0": row["tau0"][:nt].astype(float),
                "tau1": row["tau1"][:nt].astype(float), "fxy": np.asarray(row["fxy"], float),
                "block": int(hdu.header["FXYBLK"]),
            }  # fmt: skip
    return out


def read_pimms(shared: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(shared / f"onaxis-effarea-refs/chandra_{name}_.area")
    return data[:, 0], data[:, 1]


# ---- generic helpers -------------------------------------------------------------------------


def thin_knots(x: np.ndarray, y: np.ndarray, rel_tol, abs_tol, log_x: bool = False) -> np.ndarray:
    """Indices of a subset of samples whose linear interpolation (in x or log x) reproduces every
    sample of every column of ``y`` (n or n × m) within ``rel_tol·|y| + abs_tol`` (greedy);
    the tolerances may be arrays (one value per sample)."""
    u = np.log(x) if log_x else np.asarray(x, float)
    y2 = np.asarray(y, float).reshape(len(u), -1)
    rel = np.broadcast_to(np.asarray(rel_tol, float), u.shape)[:, None]
    tol = rel * np.abs(y2) + np.broadcast_to(np.asarray(abs_tol, float), u.shape)[:, None]
    keep, start = [0], 0
    while start < len(u) - 1:
        end = start + 1
        while end + 1 < len(u):
            cand = end + 1
            inner = slice(start + 1, cand)
            w = ((u[inner] - u[start]) / (u[cand] - u[start]))[:, None]
            if np.any(np.abs(y2[start] * (1 - w) + y2[cand] * w - y2[inner]) > tol[inner]):
                break
            end = cand
        keep.append(end)
        start = end
    return np.array(keep)


def fxy_lookup(model: dict[str, np.ndarray], chipx: float, chipy: float) -> float:
    """N0007 f(x, y) at a chip pixel (nearest block; the map is indexed [y, x])."""
    fxy, block = model["fxy"], model["block"]
    ix = int(np.clip((chipx - 0.5) // block, 0, fxy.shape[1] - 1))
    iy = int(np.clip((chipy - 0.5) // block, 0, fxy.shape[0] - 1))
    return float(fxy[iy, ix])


def n0007_transmission(model, energy, time_met, chipx, chipy) -> np.ndarray:
    tau = np.interp(time_met, model["time"], model["tau0"]) + np.interp(
        time_met, model["time"], model["tau1"]
    ) * fxy_lookup(model, chipx, chipy)
    return np.exp(-np.interp(energy, model["energy"], model["mu"]) * tau)


def aimpoint_pixels() -> dict[str, tuple[int, float, float]]:
    """Chip pixels of the optical axis at the default SIM positions AI2 (I3) and AS1 (S3)."""
    geometry = builtin_geometry()
    out = {}
    for array, aim, ccd in (("I", "AI2", 3), ("S", "AS1", 7)):
        det = Detector.create(geometry, "ACIS", sim=dict(geometry.aimpoints)[aim])
        x, y, on = det_to_chip(det, ccd, *det.fp.origin)
        assert on
        out[array] = (ccd, round(float(x), 1), round(float(y), 1))
    return out


def write_csv(path: Path, header: list[str], columns: dict[str, np.ndarray], fmt: str) -> None:
    """A ``#`` header, a ``# columns:`` line and rows (``fmt`` for values; MET with 10 digits)."""
    lines = [f"# {line}".rstrip() for line in header]
    lines.append("# columns: " + ",".join(columns))
    formats = ["{:.10g}" if name == "time_met" else fmt for name in columns]
    stacked = np.column_stack([np.asarray(c, float) for c in columns.values()])
    lines += [",".join(f.format(v) for f, v in zip(formats, row, strict=True)) for row in stacked]
    path.write_text("\n".join(lines) + "\n")


VIGNET_FILE = "caldb-real/hrmaD1996-12-20vignetN0003.fits"


def read_vignet(shared: Path) -> VignettingTable:
    """The real CALDB VIGNET file, extension 1 (SHELL 1111), as the CALDB path reads it."""
    return read_vignetting(shared / VIGNET_FILE, 1)


# ---- HRMA on-axis area --------------------------------------------------------------------------

#: ARFs made with the current CALDB HRMA area (axeffa N0008) and ACIS QE (N0006), source θ (′).
MIRROR_ARFS = (("ciao-arfs/obs1.arf", 0.08), ("ciao-arfs/9774.arf", 1.25))


def build_mirror_area(shared: Path, qe, contam, aim, vignet) -> tuple[np.ndarray, np.ndarray]:
    """On-axis area = mean over MIRROR_ARFS of ARF ÷ (V · QE · T_contam N0007) above 0.5 keV,
    MARX ray trace (§6.1 B, scaled to join) below; thinned to 0.2 % (log-E interpolation)."""
    ccd, x, y = aim["S"]
    energy, areas = None, []
    for name, theta in MIRROR_ARFS:
        e, specresp, header = read_arf(shared / name)
        if energy is not None and not np.allclose(e, energy):
            raise ValueError("the mirror ARFs must share one energy grid")
        energy = e
        vig = vignet.azimuth_mean(e, theta)  # the ARF's azimuth is not recorded
        trans = n0007_transmission(contam[ccd], e, float(header["TSTART"]), x, y)
        areas.append(specresp / (np.interp(e, *qe[ccd]) * trans * vig))
    area = np.mean(areas, axis=0)
    marx_e, marx_a = np.array(MARX_AREA_LOW).T
    join = (energy >= 0.5) & (energy <= 0.6)
    scale = area[join].mean() / np.interp(energy[join], marx_e, marx_a).mean()
    low = marx_e < 0.5
    e_all = np.concatenate([marx_e[low], energy[energy >= 0.5]])
    a_all = np.concatenate([marx_a[low] * scale, area[energy >= 0.5]])
    keep = thin_knots(e_all, a_all, rel_tol=0.002, abs_tol=0.05, log_x=True)
    return e_all[keep], a_all[keep]


def write_mirror_area(out: Path, energy, area) -> None:
    arfs = [f"  {n} (source {t}' off axis)" for n, t in MIRROR_ARFS]
    write_csv(out / "hrma_area.csv", [
        "Chandra HRMA on-axis effective area (cm2), built-in calibration of fluximage.",
        "Source: CIAO mkarf ARFs made with CALDB axeffa N0008 + ACIS QE N0006 (ACIS-S3),",
        *arfs,
        "(sherpa/sherpa-test-data), divided by vignetting (CALDB VIGNET N0003, azimuth mean),",
        "ACIS-S3 QE N0006 and",
        "the CALDB contamination N0007 at the ARF date; mean of the two. Below 0.5 keV: MARX",
        f"5.5.3 on-axis ray trace ({DOC} 6.1 column B),",
        "scaled to join at 0.5-0.6 keV. Knots thinned so that log-energy interpolation is within",
        "0.2 % of the 0.01-keV curve.",
        f"Generated by {GENERATOR}.",
    ], {"energy_kev": energy, "area_cm2": area}, "{:.5g}")  # fmt: skip


def write_vignetting(out: Path, vignet: VignettingTable) -> None:
    """The whole VIGNET table (float32, as in the file), and where it came from."""
    source = (
        f"HRMA vignetting VIGNET[phi, theta, energy] (fraction of the on-axis area). Source: "
        f"CALDB {Path(VIGNET_FILE).name} extension 1 (AXAF_VIGNET1, SHELL 1111, all "
        "shells), kept whole: energies at the ENERG_LO/HI centres (keV), THETA (arcmin), "
        f"PHI (deg, XMA_POL). Generated by {GENERATOR}."
    )
    np.savez_compressed(
        out / "hrma_vignetting.npz",
        energy_kev=vignet.energy_kev.astype(np.float32),
        theta_arcmin=vignet.theta_arcmin.astype(np.float32),
        phi_deg=vignet.phi_deg.astype(np.float32),
        vignet=vignet.factor.astype(np.float32),
        source=np.array(source),
    )


# ---- ACIS QE ---------------------------------------------------------------------------------


def _qe_tolerance(energy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(relative, absolute) QE tolerance per row: 0.5 % in 0.5-8 keV, 1 % in 0.3-0.5 keV (steep,
    many rows), 3 % + 2e-4 outside 0.3-8 keV."""
    inside = (energy >= 0.3) & (energy <= 8.0)
    rel = np.where(inside, np.where(energy >= 0.5, 0.005, 0.01), 0.03)
    return rel, np.where(inside, 1e-6, 2e-4)


def build_acis_qe(qe) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-CCD subsets of the QE file's rows reproducing it (linear in E) within tolerance."""
    out = {}
    for ccd, (e, q) in qe.items():
        keep = thin_knots(e, q, *_qe_tolerance(e))
        out[ccd] = (e[keep], q[keep])
    return out


def write_acis_qe(out: Path, knots) -> None:
    ccds = np.concatenate([np.full(len(e), ccd) for ccd, (e, _) in sorted(knots.items())])
    energy = np.concatenate([e for _, (e, _) in sorted(knots.items())])
    values = np.concatenate([q for _, (_, q) in sorted(knots.items())])
    lines = [
        "ACIS quantum efficiency (incl. the optical blocking filter) per CCD_ID.",
        "Source: CALDB acisD1997-04-17qeN0006.fits (the current ACIS QE), MARX's copy",
        "(Chandra-MARX/marx marx/data/caldb). Each CCD's rows are a subset of the file's rows",
        "chosen so that linear interpolation reproduces every row within 0.5 % in 0.5-8 keV,",
        "1 % in 0.3-0.5 keV and 3 % (+2e-4) outside 0.3-8 keV.",
        f"Generated by {GENERATOR}.",
        "columns: ccd_id,energy_kev,qe",
    ]
    text = [f"# {line}" for line in lines]
    text += [f"{int(c)},{e:.6g},{q:.5g}" for c, e, q in zip(ccds, energy, values, strict=True)]
    (out / "acis_qe.csv").write_text("\n".join(text) + "\n")


# ---- HRC QE ----------------------------------------------------------------------------------

#: The real CALDB HRC QE files (QE column incl. the UV/ion shield): HRC-I N0008 (the last
#: HRC-I QE without time dependence, 2010); HRC-S N0010, one REGIONID per plate: plates 1 and
#: 3 under the thin wing sections (UVIS_HRCS4, UVIS_HRCS3), plate 2 under the thin centre
#: section (UVIS_HRCS2); the thick strips are not modelled.
HRC_QE_FILES = (("hrc_i", "caldb-real/hrciD1999-07-22qeN0008.fits", 1, None),
                ("hrc_s1", "caldb-real/hrcsD1999-07-22qeN0010.fits", 1, 102),
                ("hrc_s2", "caldb-real/hrcsD1999-07-22qeN0010.fits", 2, 204),
                ("hrc_s3", "caldb-real/hrcsD1999-07-22qeN0010.fits", 3, 302))  # fmt: skip
HRC_I_ARF = "ciao-arfs/hrcf24564_000N030_r0001_arf3.fits.gz"
#: Energy knots (keV) of the smooth static factor HRC-I QE = N0008 × S(E), S = PIMMS ÷
#: (mirror × N0008), the median over ±10 % around each knot.
STATIC_KNOTS = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0,
                8.0, 10.0)  # fmt: skip
#: The two regimes of the HRC-I decline (keV): the CALDB scales the QE below 626 eV to the HZ 43
#: rates (CXC HRC-I QE v11 page, 2018); above ~0.7 keV the decline is grey (v12 page, 2020).
HRC_I_SOFT_BAND, HRC_I_HARD_BAND = (0.2, 0.6), (0.8, 4.0)


def _decimal_year(year: float) -> float:
    """Chandra MET (s) of a decimal year."""
    whole = int(year)
    start, end = met_from_date(f"{whole}-01-01"), met_from_date(f"{whole + 1}-01-01")
    return start + (year - whole) * (end - start)


def read_hrc_qe(path: Path, ext: int, region: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(energy keV, QE) of one AXAF_QE extension (the row of ``region`` when given)."""
    with fits.open(path) as hdul:
        data = hdul[ext].data
        row = 0 if region is None else int(np.flatnonzero(data["REGIONID"] == region)[0])
        if data["ENERGY"].ndim > 1:
            energy, qe = data["ENERGY"][row], data["QE"][row]
        else:
            energy, qe = data["ENERGY"], data["QE"]
    energy, qe = np.asarray(energy, float).ravel(), np.asarray(qe, float).ravel()
    order = np.argsort(energy)
    return energy[order], qe[order]


def hrc_static_factor(shared: Path, mirror) -> tuple[np.ndarray, np.ndarray]:
    """S(E) at STATIC_KNOTS: PIMMS 4.8f HRC-I area ÷ (mirror × N0008), median within ±10 %."""
    e, area = read_pimms(shared, "hrc-i")
    qe_e, qe = read_hrc_qe(shared / HRC_QE_FILES[0][1], 1, None)
    ratio = area / (interp_log_energy(e, *mirror) * np.interp(e, qe_e, qe))
    knots = np.array(STATIC_KNOTS)
    values = [float(np.median(ratio[(e >= 0.9 * k) & (e <= 1.1 * k)])) for k in knots]
    return knots, np.array(values)


def build_hrc_qe(shared: Path, mirror) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The files' QE on the union of their energies (0.06-10 keV), HRC-I × S(E), thinned."""
    curves = {name: read_hrc_qe(shared / f, ext, region)
              for name, f, ext, region in HRC_QE_FILES}  # fmt: skip
    grid = np.unique(np.concatenate([e for e, _ in curves.values()]))
    grid = grid[(grid >= 0.06) & (grid <= 10.0)]
    values = {name: np.interp(grid, e, q) for name, (e, q) in curves.items()}
    values["hrc_i"] = values["hrc_i"] * np.interp(grid, *hrc_static_factor(shared, mirror))
    keep = thin_knots(grid, np.column_stack(list(values.values())), rel_tol=0.004, abs_tol=1e-5)
    return grid[keep], {k: v[keep] for k, v in values.items()}


def write_hrc_qe(out: Path, energy, values) -> None:
    write_csv(out / "hrc_qe.csv", [
        "HRC QE (incl. the UV/ion shield) at launch; the decline in time is hrc_*_qe_time.csv.",
        "Sources: CALDB hrciD1999-07-22qeN0008 (HRC-I) x S(E), S = PIMMS 4.8f HRC-I area /",
        "(built-in mirror x N0008) smoothed (median within +-10 % of knots 0.1-10 keV; 0.977 at",
        "1 keV): the launch-era level of the calibration CIAO uses now, which renormalised the",
        "HRC-I QE after N0008; CALDB hrcsD1999-07-22qeN0010 (HRC-S): plate 1 REGIONID 102",
        "(UVIS_HRCS4), plate 2 REGIONID 204 (UVIS_HRCS2), plate 3 REGIONID 302 (UVIS_HRCS3).",
        "Knots chosen so that linear interpolation is within 0.4 % (+1e-5) of the product.",
        f"Generated by {GENERATOR}.",
    ], {"energy_kev": energy, **values}, "{:.5g}")  # fmt: skip


#: HRC-I QE relative to launch, (decimal year, soft, hard), before the 2021 ARF. Soft (E ≤
#: 0.626 keV): LETG+HRC-I HZ 43 zeroth-order rates, CXC "HRC-I QE vN0011" page (Kashyap &
#: Ratzlaff 2018, table 1), normalised to their 2002-2010 mean 3.865 ct/s (flat within ±2 %
#: before 2011); early 2021 (before the 2021-02-16 high-voltage raise): the 16 % HZ 43 loss of
#: the CXC memo "QE loss attributable to gain drop on HRC" (Kashyap, Nov 2021).  Hard (E ≥
#: 0.7 keV): flat to 2016, then the grey 1.5 %/yr of the CXC "HRC-I QE v12" page (June 2020).
HRC_I_DECLINE = ((1999.55, 1.0, 1.0), (2011.20, 1.0, 1.0), (2012.29, 0.962, 1.0),
                 (2014.32, 0.942, 1.0), (2016.01, 0.927, 1.0), (2017.88, 0.863, 0.972),
                 (2021.126, 0.840, 0.923))  # fmt: skip
#: The HRC-I and HRC-S voltages were raised one step on 2023-09-20 "to restore the QE to
#: levels of c.2020" (Chandra POG, ch. 7): back to the 2021 ARF's level.
HRC_I_HV_STEP_2023 = 2023.72
#: the last node: after it the QE is held
HRC_I_LAST = 2026.0


def build_hrc_i_decline(shared: Path, mirror, vignet, energy, qe) -> list[tuple]:
    """(time MET, soft, hard) nodes of the HRC-I QE relative to launch (hrc_qe.csv).

    The published nodes above; on 2021-02-16 a step to the level of the CSC 2.1 ARF of ObsID
    24564 (2021-09-09, made with CALDB hrciD2021-02-16qeN0013), held to the ARF's date: the
    median over HRC_I_SOFT_BAND / HRC_I_HARD_BAND of ARF ÷ (mirror × V(θ, φ) × QE at
    launch), with θ, φ of the source from the ARF header.  Then the 2016-2021 rates of both
    regimes to the 2023-09-20 voltage step, back to the ARF's level, and the same rates again
    to HRC_I_LAST.
    """
    from fluximage.geometry.pixlib import AspectSamples, SkyFrame, off_axis_angles, sky_to_det

    e, area, header = read_arf(shared / HRC_I_ARF)
    det = Detector.create(builtin_geometry(), "HRC-I")
    frame = SkyFrame.for_system(det.fp, header["RA_NOM"], header["DEC_NOM"])
    aspect = AspectSamples(header["RA_PNT"], header["DEC_PNT"], header["ROLL_PNT"])
    x, y = (float(v.split("=")[1]) for v in _history_values(header, ("sourcepixelx",
                                                                     "sourcepixely")))
    theta, phi = off_axis_angles(det.fp, *sky_to_det(det.fp, x, y, aspect, frame))
    v = np.array([vignet(float(energy_kev), theta, phi) for energy_kev in e])
    ratio = area / (interp_log_energy(e, *mirror) * np.interp(e, energy, qe) * v)
    levels = [float(np.median(ratio[(e >= lo) & (e <= hi)]))
              for lo, hi in (HRC_I_SOFT_BAND, HRC_I_HARD_BAND)]  # fmt: skip
    arf_year = 2021.0 + (met_from_date(header["DATE-OBS"][:10]) - _decimal_year(2021.0)) / (
        _decimal_year(2022.0) - _decimal_year(2021.0))
    nodes = [(y, s, h) for y, s, h in HRC_I_DECLINE]
    (y0, s0, h0), (y1, s1, h1) = nodes[4], nodes[-1]  # 2016.0 and early 2021
    rates = ((s1 - s0) / (y1 - y0), (h1 - h0) / (y1 - y0))
    nodes.append((y1, *levels))  # the 2021-02-16 raise
    nodes.append((arf_year, *levels))
    dt = HRC_I_HV_STEP_2023 - arf_year
    nodes.append((HRC_I_HV_STEP_2023, *(v + r * dt for v, r in zip(levels, rates, strict=True))))
    nodes.append((HRC_I_HV_STEP_2023, *levels))
    dt = HRC_I_LAST - HRC_I_HV_STEP_2023
    nodes.append((HRC_I_LAST, *(v + r * dt for v, r in zip(levels, rates, strict=True))))
    return [(_decimal_year(y), s, h) for y, s, h in nodes]


def _history_values(header: fits.Header, keys: tuple[str, ...]) -> list[str]:
    """``key=value`` entries of the HISTORY cards (mkarf's parameters), in ``keys`` order."""
    text = " ".join(str(v) for v in header.get("HISTORY", []))
    found = []
    for key in keys:
        i = text.index(f"{key}=")
        found.append(text[i:].split()[0])
    return found


#: HRC-S QE relative to N0010 (time MET computed from decimal years), soft (E ≤ 0.207 keV,
#: λ ≥ 60 Å) and hard (E ≥ 0.62 keV, λ ≤ 20 Å), derived from published corrections:
#: ~0.5 %/yr before 2012 about 2008.5 (CIAO "why" page on the HRC-S QEU N0006, 2011); the
#: 2012-03-29 voltage raise × (1.04344 + 9.40064e-5 λ/Å) (HRC-S QE N0012 correction); after it
#: −2.39 %/yr soft (HZ 43, HRC-S QE N0015 ECR) and −0.34 %/yr net hard (same ECR); the
#: 2021-05-14 voltage raise × 1.106 (HRC-S QE N0016); −9.5 % soft from 2021.9 to 2023.5 (HZ 43
#: zeroth order, CALDB 4.10.7 notes); the 2023-09-20 step back to the 2021.9 level (POG).
HRC_S_DECLINE = ((1999.55, 1.045, 1.045), (2012.24, 0.981, 0.981), (2012.24, 1.030, 1.025),
                 (2021.37, 0.805, 0.993), (2021.37, 0.890, 1.098), (2021.9, 0.879, 1.096),
                 (2023.5, 0.796, 1.091), (2023.72, 0.787, 1.090), (2023.72, 0.879, 1.096),
                 (2026.0, 0.828, 1.088))  # fmt: skip


def write_hrc_declines(out: Path, hrc_i_nodes) -> None:
    write_csv(out / "hrc_i_qe_time.csv", [
        "HRC-I QE relative to launch (hrc_qe.csv column hrc_i): 'soft' applies at E <= 0.626",
        "keV, 'hard' at E >= 0.7 keV, linear in energy between; linear in time between the rows",
        "(a repeated time is a step), the first row before them, the last after.",
        "Sources: HZ 43 zeroth-order rates (CXC HRC-I QE vN0011 page, 2018) for soft to 2017.9;",
        "the 16 % HZ 43 loss of early 2021 (CXC memo 'QE loss attributable to gain drop on",
        "HRC', 2021); grey -1.5 %/yr after 2016 for hard (CXC HRC-I QE v12 page, 2020); from",
        "the 2021-02-16 voltage raise the level of the CSC 2.1 ARF hrcf24564_000N030_r0001_arf3",
        "(2021-09-09, CALDB QE N0013), ARF / (mirror x V(theta, phi) x QE at launch), median",
        "0.2-0.6 keV (soft) and 0.8-4 keV (hard); then the 2016-2021 rates, back to that level",
        "at the 2023-09-20 voltage raise (Chandra POG ch. 7), and the same rates to 2026.",
        f"Generated by {GENERATOR}.",
    ], {"time_met": [t for t, _, _ in hrc_i_nodes], "soft": [s for _, s, _ in hrc_i_nodes],
        "hard": [h for _, _, h in hrc_i_nodes]}, "{:.6g}")  # fmt: skip
    write_csv(out / "hrc_s_qe_time.csv", [
        "HRC-S QE relative to CALDB hrcsD1999-07-22qeN0010 (hrc_qe.csv hrc_s1..3): 'soft' at",
        "E <= 0.207 keV (60 A), 'hard' at E >= 0.62 keV (20 A), linear in energy between; in",
        "time as hrc_i_qe_time.csv.",
        "Sources: derived from published corrections (uncertain: +-3 % before 2012, +-5 %",
        "2012-2020, +-10 % after): ~0.5 %/yr before 2012 (CIAO why page on the",
        "HRC-S QEU N0006, normalised at 2008.5); the 2012-03-29 voltage raise, x (1.04344 +",
        "9.40064e-5 lambda/A) (HRC-S QE N0012); -2.39 %/yr soft and -0.34 %/yr net hard after",
        "it (HZ 43 and Mkn 421, HRC-S QE N0015 ECR); the 2021-05-14 raise x 1.106 (HRC-S QE",
        "N0016); -9.5 % soft 2021.9-2023.5 (HZ 43, CALDB 4.10.7 notes); back to the 2021.9",
        "level at the 2023-09-20 raise (Chandra POG ch. 7).",
        f"Generated by {GENERATOR}.",
    ], {"time_met": [_decimal_year(y) for y, _, _ in HRC_S_DECLINE],
        "soft": [s for _, s, _ in HRC_S_DECLINE], "hard": [h for _, _, h in HRC_S_DECLINE]},
        "{:.6g}")  # fmt: skip


# ---- zeroth order ----------------------------------------------------------------------------

FOCAL_LENGTH_MM = 10070.0
HETG_SHELLS = ("p1", "p3", "p4", "p6")  # extensions 1-4 of the greff file: SHELL 1000 ... 0001


def shell_weights(shared: Path, energy: np.ndarray) -> np.ndarray:
    """Relative on-axis area of HRMA shells 1, 3, 4, 6 (rows) at ``energy``: entrance annulus of
    the paraboloid × Fresnel reflectivity of Ir squared at the mean grazing angle ρ/(4F)."""
    lines = [ln.split("\t") for ln in (shared / "marx-data/hrma/ideal.rdb").read_text().splitlines()
             if ln and not ln.startswith("#")]  # fmt: skip
    names, rows = lines[0], {ln[0]: ln for ln in lines[2:]}
    ir = read_bdat(shared / "marx-data/hrma/iridium.dat")[1]  # energy keV, beta, delta
    beta, delta = (np.interp(energy, ir[:, 0], ir[:, i]) for i in (1, 2))
    weights = []
    for shell in HETG_SHELLS:
        rho_f, rho_a = (float(rows[shell][names.index(k)]) for k in ("rho_f", "rho_a"))
        graze = 0.5 * (rho_f + rho_a) / (4 * FOCAL_LENGTH_MM)
        q = np.sqrt((1 - delta + 1j * beta) ** 2 - np.cos(graze) ** 2)
        refl = np.abs((np.sin(graze) - q) / (np.sin(graze) + q)) ** 2
        weights.append(np.pi * (rho_f**2 - rho_a**2) * refl**2)
    return np.array(weights)


def build_zeroth_order(shared: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Shell-weighted zeroth-order efficiency of HETG and LETG on a common thinned grid."""
    effs = {}
    for grating in ("hetg", "letg"):
        path = shared / f"marx-data/caldb/{grating}D1996-11-01greffpr001N0007.fits"
        with fits.open(path) as hdul:
            effs[grating] = [(h.data["ENERGY"].astype(float),
                              h.data["EFF"][:, h.data["EFF"].shape[1] // 2].astype(float))
                             for h in hdul[1:5]]  # fmt: skip
    grid = np.unique(np.concatenate([e for shells in effs.values() for e, _ in shells]))
    weights = shell_weights(shared, grid)
    values = {}
    for grating, shells in effs.items():
        zeroth = np.array([np.interp(grid, e, v) for e, v in shells])
        values[grating] = (weights * zeroth).sum(0) / weights.sum(0)
    keep = thin_knots(grid, np.column_stack(list(values.values())), rel_tol=0.003, abs_tol=1e-5)
    return grid[keep], {k: v[keep] for k, v in values.items()}


def write_zeroth_order(out: Path, energy, values) -> None:
    write_csv(out / "zeroth_order.csv", [
        "Zeroth-order efficiency of the transmission gratings (HRMA-shell weighted).",
        "Source: CALDB hetgD1996-11-01greffpr001N0007.fits and letgD1996-11-01greffpr001N0007",
        "(MARX copies), order 0 of each shell (HETG: MEG on shells 1, 3; HEG on 4, 6); weights =",
        "paraboloid entrance annulus x Fresnel reflectivity of Ir (MARX iridium.dat optical",
        "constants) squared at the mean grazing angle rho/(4F) (MARX hrma/ideal.rdb radii).",
        f"Generated by {GENERATOR}.",
    ], {"energy_kev": energy, **values}, "{:.5g}")  # fmt: skip


# ---- contamination ---------------------------------------------------------------------------

FI_DEAD_AREA_PER_S = 0.006508  # CALDB dead_area N0001, FI chips (exposure-algorithms §3.4)
ACIS_FRAME_TIME_S = 3.2
I_CHIPS, S_CHIPS = (0, 1, 2, 3), (4, 5, 6, 7, 8, 9)
#: Energy ranges (keV) not used to fit the high-energy tail of the late optical depth: the
#: Ir M edges, where the PIMMS mirror and ours are sampled differently.
EDGE_GAPS = ((1.95, 2.65), (2.85, 2.95), (3.1, 3.25))


def _same(arrays, what: str) -> np.ndarray:
    first = arrays[0]
    if any(a.shape != first.shape or not np.allclose(a, first) for a in arrays[1:]):
        raise ValueError(f"N0007: {what} differs between CCDs")
    return first


def n0007_arrays(contam) -> dict[str, np.ndarray]:
    """The N0007 model in compact form: μ and τ0 are the same for every CCD, τ1 for each array,
    f(x, y) one 64×64 map per I chip and one 128-row profile for all S chips."""
    out = {
        "energy_kev": _same([contam[c]["energy"] for c in range(10)], "energy"),
        "mu": _same([contam[c]["mu"] for c in range(10)], "mu"),
        "time_met": _same([contam[c]["time"] for c in range(10)], "time"),
        "tau0": _same([contam[c]["tau0"] for c in range(10)], "tau0"),
        "tau1_i": _same([contam[c]["tau1"] for c in I_CHIPS], "tau1 (I)"),
        "tau1_s": _same([contam[c]["tau1"] for c in S_CHIPS], "tau1 (S)"),
        "block_i": np.array(_same([np.array(contam[c]["block"]) for c in I_CHIPS], "block")),
        "block_s": np.array(_same([np.array(contam[c]["block"]) for c in S_CHIPS], "block")),
    }
    profile = _same([contam[c]["fxy"] for c in S_CHIPS], "f(x, y) (S)")
    if not np.allclose(profile, profile[:, :1]):
        raise ValueError("N0007: the S-array f(x, y) depends on chipx")
    out["fxy_s"] = profile[:, 0].astype(np.float32)
    for c in I_CHIPS:
        out[f"fxy_ccd{c}"] = contam[c]["fxy"].astype(np.float16)
    return out


def _tail(energy, a, b):
    return a * energy ** (-b)


def late_optical_depth(shared: Path, qe, contam, mirror, aim, array: str, report: list[str]):
    """Excess optical depth at the aimpoint beyond N0007 frozen at its last time, at cycles 18
    and 20: Δτ20 from the PIMMS 4.8f curve (÷ mirror × QE × (1 − dead) × T_N0007), with a
    fitted normalisation N and power-law tail above 1.5 keV; cycle 18 = cycle 20 × the ratio of
    the §3.3 table's optical depths (0.5-1.5 keV, constant outside)."""
    ccd, x, y = aim[array]
    model = contam[ccd]
    t_end = float(model["time"][-1])
    dead = float(dead_fraction(FI_DEAD_AREA_PER_S, y, ACIS_FRAME_TIME_S)) if ccd in I_CHIPS else 0
    e, area = read_pimms(shared, "acis-i" if array == "I" else "acis-s")
    base = interp_log_energy(e, *mirror) * np.interp(e, *qe[ccd]) * (1 - dead)
    ratio = area / base / n0007_transmission(model, e, t_end, x, y)
    fit = (e >= 1.5) & (e <= 8.0)
    for lo, hi in EDGE_GAPS:
        fit &= (e < lo) | (e > hi)
    (log_norm, a, b), _ = curve_fit(lambda en, n, a, b: n - _tail(en, a, b), e[fit],
                                    np.log(ratio[fit]), p0=(0.0, 1.0, 2.5))  # fmt: skip
    norm = float(np.exp(log_norm))
    with np.errstate(divide="ignore"):
        dtau = -np.log(ratio / norm)
    dtau = np.where(e >= 1.5, _tail(e, a, b), dtau)
    # below 0.25 keV (areas < 1e-3 cm²) follow the N0007 μ(E) shape from the first good point
    first = np.argmax((e >= 0.25) & (area > 1e-3))
    mu = np.interp(e, model["energy"], model["mu"])
    dtau[:first] = dtau[first] * mu[:first] / mu[first]
    dtau20 = np.clip(dtau, 0.0, None)
    # cycle 18: the §3.3 table's optical depths relative to its cycle-20 column
    table = np.array(PIMMS_TRANSMISSION)
    cols = (1, 2) if array == "I" else (3, 4)
    en = table[:, 0]
    col_a = np.interp(en, *np.array(COLUMN_A).T)
    conv = col_a / interp_log_energy(en, *mirror) / (1 - dead) / norm
    conv /= n0007_transmission(model, en, t_end, x, y)
    tau18, tau20 = (-np.log(table[:, c] * conv) for c in cols)
    scale = np.interp(np.log(e), np.log(en), tau18 / tau20)
    dtau18 = dtau20 * scale
    report.append(
        f"late contamination ACIS-{array}: aimpoint CCD {ccd} ({x}, {y}), dead {dead:.4f},"
        f" PIMMS normalisation {norm:.4f}, tail {a:.3f}·E^-{b:.2f}"
    )
    report.append(
        f"  cycle18/cycle20 optical depth ratio at {en.tolist()} keV: "
        + " ".join(f"{v:.3f}" for v in tau18 / tau20)
    )
    second, second_date = dtau20, CYCLE20_DATE
    if array == "I":  # the cycle-21 ARF instead: Δτ20 scaled to its optical depths
        en21, area21 = np.array(CYCLE21_ACIS_I).T
        base21 = interp_log_energy(en21, *mirror) * np.interp(en21, *qe[ccd]) * (1 - dead)
        tau21 = -np.log(area21 / base21 / norm / n0007_transmission(model, en21, t_end, x, y))
        at20 = np.interp(np.log(en21), np.log(e), dtau20)
        scale21 = np.interp(np.log(e), np.log(en21), tau21 / at20)
        second, second_date = dtau20 * scale21, CYCLE21_DATE
        report.append(
            "  cycle-21 ARF / cycle-20 PIMMS optical depth at "
            + " ".join(f"{en:.3f}: {v:.3f}" for en, v in zip(en21, tau21 / at20, strict=True))
        )
    keep = thin_knots(e, np.column_stack([dtau18, second]), rel_tol=0.01, abs_tol=0.003)
    times = np.array([t_end, met_from_date(CYCLE18_DATE), met_from_date(second_date)])
    return times, e[keep], np.array([dtau18[keep], second[keep]]), norm


def build_contamination(shared, qe, contam, mirror, aim, report) -> dict[str, np.ndarray]:
    out = n0007_arrays(contam)
    energies, depths, times = {}, {}, {}
    for array in ("I", "S"):
        times[array], energies[array], depths[array], _ = late_optical_depth(
            shared, qe, contam, mirror, aim, array, report
        )
    grid = np.unique(np.concatenate(list(energies.values())))
    out["late_energy_kev"] = grid
    for array in ("I", "S"):
        out[f"late_dtau_{array.lower()}"] = np.array(
            [np.interp(np.log(grid), np.log(energies[array]), d) for d in depths[array]]
        )
        out[f"aimpoint_{array.lower()}"] = np.array(aim[array], float)
        out[f"late_time_met_{array.lower()}"] = times[array]
    out["source"] = np.array(CONTAM_SOURCE)
    return out


CONTAM_SOURCE = f"""ACIS contamination of the fluximage built-in calibration.
N0007 part (energy_kev, mu, time_met, tau0, tau1_i, tau1_s, fxy_ccd0..3 [y, x] in blocks of
block_i pixels, fxy_s = S-array f by CHIPY block of block_s pixels): CALDB
acisD1999-08-13contamN0007.fits, MARX copy acisD1999-08-13contamN0007_marx.fits
(Chandra-MARX/marx); one layer, T = exp(-mu(E) [tau0(t) + tau1(t) f(x, y)]).
Late part (late_energy_kev; late_dtau_i/s rows = cycle 18 and the second epoch;
late_time_met_i/s = end of N0007, cycle 18 ({CYCLE18_DATE}), second epoch; aimpoint_i/s = CCD,
chipx, chipy of the optical axis at the default SIM): extra aimpoint optical depth beyond
N0007 frozen at its last time. Second epoch, ACIS-S: the PIMMS 4.8f cycle-20 area
({CYCLE20_DATE}) divided by (built-in mirror x QE N0006 x (1 - dead area) x N0007
transmission); ACIS-I: that optical depth scaled to the CXC cycle-21 ACIS-I aimpoint ARF
({CYCLE21_DATE}, contamination N0012; XtraAstronomy/Pumpkin Chandra_acis/acisi_aimpt_cy21.arf)
at 0.50-1.50 keV. Cycle 18: the cycle-20 depth times the ratio of the PIMMS 4.8a
transmissions tabulated in {DOC} 3.3. After the second epoch the depth grows at the cycle-18
rate (the rapid pre-2016 accumulation the CXC found resumed, CIAO why page on contamination
N0013). Generated by {GENERATOR}."""


# ---- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true", help="print the checks")
    args = parser.parse_args(argv)
    shared, out = args.shared, args.out
    out.mkdir(parents=True, exist_ok=True)
    report = [f"generated {dt.date.today().isoformat()} from {shared}"]

    qe = read_acis_qe(shared)
    contam = read_contam_n0007(shared)
    aim = aimpoint_pixels()
    vignet = read_vignet(shared)
    mirror = build_mirror_area(shared, qe, contam, aim, vignet)
    write_mirror_area(out, *mirror)
    write_vignetting(out, vignet)
    write_acis_qe(out, build_acis_qe(qe))
    hrc_energy, hrc_qe = build_hrc_qe(shared, mirror)
    write_hrc_qe(out, hrc_energy, hrc_qe)
    decline = build_hrc_i_decline(shared, mirror, vignet, hrc_energy, hrc_qe["hrc_i"])
    write_hrc_declines(out, decline)
    report.append("HRC-I relative QE (date, soft, hard): " + ", ".join(
        f"{date_from_met(t):%Y-%m-%d} {s:.3f} {h:.3f}" for t, s, h in decline))
    write_zeroth_order(out, *build_zeroth_order(shared))
    np.savez_compressed(
        out / "acis_contamination.npz",
        **build_contamination(shared, qe, contam, mirror, aim, report),
    )
    report += [f"{p.name}: {p.stat().st_size} bytes" for p in sorted(out.iterdir())]
    if args.report:
        print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
