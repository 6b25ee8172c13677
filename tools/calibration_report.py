#!/usr/bin/env python
"""The accuracy tables of ``docs/calibration.md``: the built-in calibration against every CIAO
ARF in the shared data, and a per-chip closed loop on the shared MARX simulations.

Usage::

    python tools/calibration_report.py [--shared DIR] [--arfs] [--marx]

Prints Markdown tables (both parts without options).  ``--shared`` is the shared data directory
(default ``../shared/data`` next to the repository).  The case list :data:`ARF_CASES` and the
helpers are also used by ``tests/test_builtin_calibration.py``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "data"

#: file → (CCD, source θ ′, time MET or None for TSTART, contamination applied, dead area applied,
#: what it is).  θ: offset of the source from the tangent point (ciao-arfs/README.md §2, or
#: from the mkarf sourcepixelx/y for the onaxis refs; < 1.3′, so V ≥ 0.99).
ARF_CASES = {
    "ciao-arfs/source.arf": (3, 0.32, None, False, False,
        "ObsID 1730, I3, 2000-07, CIAO 2.2: HISTORY names no contam file and mkarf had no dafile"),
    "ciao-arfs/arf.fits": (7, 0.64, None, True, False,
        "ObsID 1618, S3, 2001-05, CIAO 3.0, contam N0000; S3 is BI (no dead area)"),
    "ciao-arfs/9774.arf": (7, 1.25, None, True, True,
        "ObsID 9774, S3, 2007-12, CIAO 4.3, axeffa N0008, QE N0006, contam N0006, dafile=CALDB"),
    "ciao-arfs/obs1.arf": (7, 0.08, None, True, True,
        "ObsID 6903, S3, 2006-04, CIAO 4.2, axeffa N0008, QE N0006, contam N0005, dafile=CALDB"),
    "ciao-arfs/bubble.arf": (7, 0.67, None, True, False,
        "ObsID 3098, S3, 2002-05, CIAO 3.3, axeffa N0007, QE N0005, contam N0004"),
    "ciao-arfs/quiet_0934.arf": (7, 0.57, None, True, False,
        "ObsID 2561, S3, 2002-09, CIAO 3.1, axeffa N0006, QE N0005, contam N0003, arfmunge'd"),
    "onaxis-effarea-refs/acisi_aimpt_cy07.arf": (3, 0.31, 264038464.184, True, False,
        "cycle-7 I3 aimpoint ARF, CIAO 3.2, ARDLIB TIME=264038464.18 (2006-05), contam N0004,"
        " no dafile"),
    "onaxis-effarea-refs/aciss_aimpt_cy07.arf": (7, 0.61, 264038464.184, True, False,
        "cycle-7 S3 aimpoint ARF, CIAO 3.2, ARDLIB TIME=264038464.18 (2006-05), contam N0004"),
    "onaxis-effarea-refs/acisi_aimpoint_arf.fits": (3, 0.3, None, False, False,
        "ObsID 1422, I3, 1999-10, CIAO 1.1: QE N0002, axeffa N0004, no contam, no dafile"),
}  # fmt: skip

#: ARFs weighted over a region (mkwarf) or at an unknown place: a sanity bound only.
WEIGHTED_ARFS = {
    "ciao-arfs/q1127_src1.warf": (7, "ObsID 5708, S3, 2005-04, CIAO 3.3"),
    "ciao-arfs/qso.warf": (3, "ObsID 4274, ACIS-012367, 2003-07, CIAO 4.1"),
    "ciao-arfs/12845.warf": (7, "ObsID 12845, ACIS-23678, 2011-01, CIAO 4.3"),
    "ciao-arfs/arf2278.fits": (0, "ObsID 2278, I0, 2001-07, 5.1' off axis, non-CALDB QEU"),
    "caldb-real/acisi_obs15173_2013_mkwarf.arf": (3, "ObsID 15173, ACIS-I, 2013-08, CIAO 4.8"),
    "caldb-real/aciss_obs1669_2001_mkwarf.arf": (7, "ObsID 1669, ACIS-S, 2001-01, CIAO 4.8"),
}
HRC_I_ARF = ("ciao-arfs/hrcf24564_000N030_r0001_arf3.fits.gz", 5.9099, 43.116,
             "ObsID 24564, HRC-I, 2021-09, CSC 2.1, QE N0013")  # fmt: skip
ENERGIES = (0.5, 0.7, 1.0, 1.5, 2.3, 4.0, 6.0, 8.0)


def arf_bin(path: Path, energy: float) -> tuple[float, float, float]:
    """(bin-centre energy, SPECRESP, TSTART) of the ARF bin holding ``energy``."""
    with fits.open(path) as hdul:
        data, header = hdul["SPECRESP"].data, hdul["SPECRESP"].header
        i = np.flatnonzero((data["ENERG_LO"] <= energy) & (energy < data["ENERG_HI"]))[0]
        centre = 0.5 * float(data["ENERG_LO"][i] + data["ENERG_HI"][i])
        return centre, float(data["SPECRESP"][i]), float(header["TSTART"])


def aimpoint(cal, ccd: int) -> tuple[float, float]:
    """The built-in aimpoint pixel (chipx, chipy) of CCD 3 or 7."""
    for chip, x, y in cal.contam.aimpoint.values():
        if chip == ccd:
            return x, y
    raise KeyError(ccd)


def instmap_value(cal, ccd, energy, theta, time_met, contam=True, dead=True) -> float:
    """The instrument-map value at the aimpoint pixel of CCD 3 or 7 (cm²); ARFs record no
    azimuth, so V is averaged over the table's 12 azimuths (as the tables were made)."""
    x, y = aimpoint(cal, ccd)
    e = np.array([energy])
    phis = np.arange(0.0, 360.0, 30.0)
    value = cal.mirror_area(e)[0] * np.mean(cal.vignetting(energy, np.full(12, theta), phis))
    value *= cal.detector_qe("ACIS", ccd, e, time_met)[0]
    value *= cal.qe_uniformity("ACIS", ccd, energy, np.array(x), np.array(y))
    if contam:
        value *= cal.contamination(ccd, energy, np.array(x), np.array(y), time_met)
    if dead:
        value *= 1 - cal.dead_area(ccd, np.array(y), 3.2)
    return float(value)


def arf_tables(shared: Path) -> list[str]:
    """Markdown: built-in / ARF per file and energy."""
    from fluximage.calib.builtin import builtin_calibration

    cal = builtin_calibration()
    head = "| ARF | what | " + " | ".join(f"{e:g} keV" for e in ENERGIES) + " |"
    lines = [head, "|" + "---|" * (len(ENERGIES) + 2)]
    for name, (ccd, theta, time_met, contam, dead, what) in ARF_CASES.items():
        cells = []
        for energy in ENERGIES:
            centre, specresp, tstart = arf_bin(shared / name, energy)
            when = tstart if time_met is None else time_met
            if specresp <= 0:
                cells.append("–")
                continue
            model = instmap_value(cal, ccd, centre, theta, when, contam, dead)
            cells.append(f"{model / specresp:.3f}")
        lines.append(f"| {Path(name).name} | {what} | " + " | ".join(cells) + " |")
    path, theta, phi, what = HRC_I_ARF
    cells = []
    for energy in ENERGIES:
        centre, specresp, tstart = arf_bin(shared / path, energy)
        e = np.array([centre])
        model = cal.mirror_area(e)[0] * cal.vignetting(centre, np.array(theta), np.array(phi))
        model *= cal.detector_qe("HRC-I", 0, e, tstart)[0]
        cells.append(f"{float(model) / specresp:.3f}")
    lines.append(f"| {Path(path).name} | {what} | " + " | ".join(cells) + " |")
    lines += ["", "Weighted ARFs (a region, not a point: a sanity bound, built-in aimpoint "
              "area / ARF):", "", "| ARF | what | 1.5 keV | 4 keV |", "|---|---|---|---|"]
    for name, (ccd, what) in WEIGHTED_ARFS.items():
        cells = []
        for energy in (1.5, 4.0):
            centre, specresp, tstart = arf_bin(shared / name, energy)
            model = instmap_value(cal, ccd if ccd in (3, 7) else 3, centre, 0.0, tstart)
            cells.append(f"{model / specresp:.3f}")
        lines.append(f"| {Path(name).name} | {what} | " + " | ".join(cells) + " |")
    return lines


# ---- the MARX closed loop ---------------------------------------------------------------

#: set → (aimpoint chip, disk radius ″, disk flux ph/cm²/s over 0.3-8 keV, sky pixel ″,
#: other point sources (RA, Dec)) from shared/data/README.md.
MARX_SETS = {
    "acisi": (720.0, 0.006, 0.492, ((187.3279, 2.0824),)),
    "aciss": (900.0, 0.004, 0.492, ()),
    "hrci": (1000.0, 0.02, 0.13175, ()),
}
MARX_BANDS = {"acisi": "1.3:1.7:1.5,3.6:4.4:4,6.0:6.8:6.4",
              "aciss": "1.3:1.7:1.5,3.6:4.4:4,6.0:6.8:6.4"}  # fmt: skip
MARX_SPECTRUM_KEV = (0.3, 8.0)  # flat in photon flux


def marx_closed_loop(shared: Path) -> list[str]:
    """Markdown: per chip and band, the disk's recovered surface brightness ÷ the truth."""
    import fluximage
    from fluximage.geometry import radec_to_sky

    lines = ["| set | band (keV) | chip | counts | recovered / truth | ± (Poisson) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, (radius, flux, pixel, others) in MARX_SETS.items():
        d = shared / f"marx-sim-{name}"
        evt = d / f"marx_{name}_evt2.fits"
        header = fits.getheader(evt, 1)
        with tempfile.TemporaryDirectory() as tmp:
            if name == "hrci":
                weights = Path(tmp) / "flat.dat"
                energies = np.arange(0.35, 8.0, 0.1)
                weights.write_text("".join(f"{e:.3f} {1 / energies.size:.8g}\n"
                                           for e in energies))  # fmt: skip
                bands, binsize = str(weights), 32
            else:
                bands, binsize = MARX_BANDS[name], 8
            result = fluximage.run(str(evt), tmp + "/", asolfile=str(d / f"marx_{name}_asol1.fits"),
                                   bands=bands, binsize=binsize, verbose=0,
                                   expmapthresh="none")  # fmt: skip
        frame = result.prepared.inputs.obs.sky.frame
        x, y = result.prepared.grid.centres()
        x0, y0 = radec_to_sky(frame, header["RA_NOM"], header["DEC_NOM"])
        inside = np.hypot(x - x0, y - y0) * pixel < 0.9 * radius
        for ra, dec in ((header["RA_NOM"], header["DEC_NOM"]), *others):
            px, py = radec_to_sky(frame, ra, dec)
            inside &= np.hypot(x - px, y - py) * pixel > 30
        brightness = flux / (np.pi * (radius / 60.0) ** 2)  # ph/cm²/s/arcmin², 0.3-8 keV
        pixel_arcmin2 = (binsize * pixel / 60.0) ** 2
        for band in result.prepared.inputs.bands:
            lo, hi = (band.lo_kev, band.hi_kev) if name != "hrci" else MARX_SPECTRUM_KEV
            truth = brightness * (hi - lo) / (MARX_SPECTRUM_KEV[1] - MARX_SPECTRUM_KEV[0])
            counts = result.prepared.counts[band.label].astype(float)
            chips = sorted(c for c, b in result.expmaps if b == band.label)
            stack = np.array([result.expmaps[c, band.label] for c in chips])
            owner = np.array(chips)[np.argmax(stack, axis=0)]
            total = result.combined[band.label]
            for chip in chips:
                use = inside & (owner == chip) & (total > 0.5 * total.max())
                n = counts[use].sum()
                if n < 50:
                    continue
                recovered = n / total[use].sum() / pixel_arcmin2
                label = f"{lo:g}-{hi:g}" if name != "hrci" else "0.3-8 (all)"
                lines.append(f"| {name} | {label} | {chip} | {int(n)} | "
                             f"{recovered / truth:.3f} | {1 / np.sqrt(n):.3f} |")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--arfs", action="store_true", help="only the ARF table")
    parser.add_argument("--marx", action="store_true", help="only the MARX closed loop")
    args = parser.parse_args(argv)
    both = not (args.arfs or args.marx)
    if args.arfs or both:
        print("\n".join(arf_tables(args.shared)), end="\n\n")
    if args.marx or both:
        print("\n".join(marx_closed_loop(args.shared)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
