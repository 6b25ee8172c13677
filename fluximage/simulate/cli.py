"""``fluximage-simulate``: write a synthetic Chandra observation from the command line.

    fluximage-simulate OUTDIR --instrument ACIS-I --exposure 20000 \\
        --point 187.25,2.05,1e-3 --point 187.3,2.1,5e-4,0.5:7 --flat 2e-6 --seed 1
    fluximage-simulate --sample     # the bundled sample's event file

Source energies: ``E`` (keV, one line), ``LO:HI`` (flat in keV) or the path of a
two-column (energy keV, weight) file.  Bad input ends with one ``ERROR`` line and
exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..paramio.values import printable
from .core import DEFAULT_DATE, DEFAULT_OBSID, DEFAULT_POINTING, simulate
from .sources import DiskSource, FlatField, PointSource, Spectrum

__all__ = ["PROG", "UsageError", "build_sources", "main", "make_parser", "parse_spectrum", "run"]


PROG = "fluximage-simulate"


class UsageError(Exception):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 1 (argparse would print usage, exit 2)
        raise UsageError(message)


def parse_spectrum(text: str | None) -> Spectrum:
    """``E``, ``LO:HI`` or a weights file; the default is 1.5 keV."""
    if text is None or text.strip() == "":
        return Spectrum.monochromatic(1.5)
    text = text.strip()
    path = Path(text)
    if path.is_file():
        try:
            rows = np.loadtxt(path, comments="#", ndmin=2)
        except ValueError as err:
            raise UsageError(f"cannot read spectrum file {text}: {err}") from None
        if rows.shape[1] < 2:
            raise UsageError(f"spectrum file {text} needs two columns (energy keV, weight)")
        return Spectrum.tabulated(rows[:, 0], rows[:, 1])
    try:
        if ":" in text:
            lo, hi = (float(v) for v in text.split(":"))
            return Spectrum.flat(lo, hi)
        return Spectrum.monochromatic(float(text))
    except ValueError as err:
        raise UsageError(
            f"energy '{text}' is not E (keV), LO:HI (keV) or a spectrum file ({err})"
        ) from None


def _numbers(option: str, text: str, n_min: int, n_max: int) -> tuple[list[float], str | None]:
    fields = [f.strip() for f in text.split(",")]
    if not n_min <= len(fields) <= n_max:
        raise UsageError(f"{option} {text}: expected {n_min} to {n_max} comma-separated values")
    n_numbers = n_max - 1  # the last field is the energy
    values = []
    for f in fields[:n_numbers]:
        try:
            values.append(float(f))
        except ValueError:
            raise UsageError(f"{option} {text}: '{f}' is not a number") from None
    energy = fields[n_numbers] if len(fields) > n_numbers else None
    return values, energy


def build_sources(args: argparse.Namespace) -> list:
    sources: list = []
    psf = 0.0 if args.no_psf else None
    for text in args.point:
        (ra, dec, flux), energy = _numbers("--point", text, 3, 4)
        sources.append(PointSource(ra, dec, flux, parse_spectrum(energy), psf_sigma_arcsec=psf))
    for text in args.disk:
        (ra, dec, radius, flux), energy = _numbers("--disk", text, 4, 5)
        sources.append(DiskSource(ra, dec, radius, flux, parse_spectrum(energy)))
    for text in args.flat:
        (flux,), energy = _numbers("--flat", text, 1, 2)
        sources.append(FlatField(flux, parse_spectrum(energy)))
    return sources


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Write a synthetic Chandra observation for fluximage.")
    p.add_argument("outdir", nargs="?", help="directory for the evt2, asol1, bpix1, msk1 files")
    p.add_argument(
        "--sample",
        action="store_true",
        help="print the path of the bundled sample event file and exit",
    )
    p.add_argument("--instrument", default="ACIS-I", help="ACIS-I, ACIS-S, HRC-I or HRC-S")
    p.add_argument("--exposure", type=float, default=20000.0, help="good time, s")
    p.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="RA,DEC,FLUX[,ENERGY]",
        help="point source: deg, deg, photon/cm²/s",
    )
    p.add_argument(
        "--disk",
        action="append",
        default=[],
        metavar="RA,DEC,RADIUS,FLUX[,ENERGY]",
        help="uniform disk: deg, deg, arcsec, total photon/cm²/s",
    )
    p.add_argument(
        "--flat",
        action="append",
        default=[],
        metavar="FLUX[,ENERGY]",
        help="flat field over the whole field: photon/cm²/s/arcmin²",
    )
    p.add_argument("--no-psf", action="store_true", help="point sources without PSF blur")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ra", type=float, default=DEFAULT_POINTING[0], help="RA_NOM, deg")
    p.add_argument("--dec", type=float, default=DEFAULT_POINTING[1], help="DEC_NOM, deg")
    p.add_argument("--roll", type=float, default=DEFAULT_POINTING[2], help="ROLL_NOM, deg")
    p.add_argument("--chips", help="comma-separated chip ids (default: the instrument's)")
    p.add_argument("--subarray", choices=["1/2", "1/4", "1/8"], help="ACIS subarray")
    p.add_argument("--dither", type=float, help="dither amplitude, arcsec")
    p.add_argument("--date-obs", default=DEFAULT_DATE)
    p.add_argument("--obsid", type=int, default=DEFAULT_OBSID)
    p.add_argument("--object", default="SIMULATED FIELD")
    p.add_argument("--aspect-step", type=float, default=2.05, help="asol sample step, s")
    p.add_argument("--gzip", action="store_true", help="write .fits.gz files")
    return p  # fmt: skip


def run(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.sample:
        from ..sample import path

        print(path())
        return 0
    if not args.outdir:
        raise UsageError("give an output directory (or --sample)")
    chips = None
    if args.chips:
        try:
            chips = [int(c) for c in args.chips.split(",")]
        except ValueError:
            raise UsageError(f"--chips {args.chips}: expected integers like 0,1,2,3") from None
    sources = build_sources(args)
    if not sources:
        raise UsageError("give at least one --point, --disk or --flat source")
    obs = simulate(
        args.outdir, instrument=args.instrument, sources=sources, exposure_s=args.exposure,
        seed=args.seed, ra_nom=args.ra, dec_nom=args.dec, roll_nom=args.roll, chips=chips,
        subarray=args.subarray, dither_arcsec=args.dither, date_obs=args.date_obs,
        obsid=args.obsid, object_name=args.object, aspect_step_s=args.aspect_step,
        compress=args.gzip,
    )  # fmt: skip
    for line in obs.lines():
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: 0 on success, 1 with one ERROR line on bad input."""
    try:
        return run(argv)
    except (UsageError, ValueError, OSError) as err:
        print(printable(f"# {PROG}: ERROR {err}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"# {PROG}: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
