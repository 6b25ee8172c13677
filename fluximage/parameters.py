"""fluximage's parameters, read and checked in CIAO's order
(docs/architecture.md#parameters-and-inputs).

The parameter layer has already checked types, ranges and enumerations; here
come fluximage's own rules that need no input file: empty ``infile`` or
``bands``, ``binsize`` > 0, ``psfecf`` in (0, 1], ``nproc`` ≠ 0, ``tmpdir``.
Rules that need the event file (bands against the instrument, the grid,
ancillary files) belong to the input stage.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from .messages import FluximageError, Reporter
from .paramio import ParamSet, expand_env

__all__ = [
    "HISTORY_PARAMETERS",
    "FluximageParameters",
    "Options",
    "check_bands",
    "check_binsize",
    "check_infile",
    "check_nproc",
    "check_psfecf",
    "check_without_files",
    "read_parameters",
    "resolve_tmpdir",
]


#: Parameters recorded in the HISTORY block (all but ``random`` and ``mode``, as CIAO).
HISTORY_PARAMETERS = (
    "infile", "outroot", "bands", "xygrid", "binsize", "asolfile", "badpixfile",
    "maskfile", "dtffile", "units", "expmapthresh", "background", "bkgparams",
    "psfecf", "random", "parallel", "nproc", "tmpdir", "cleanup", "clobber", "verbose",
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    """Script switches given before parameter parsing (``--debug`` ...)."""

    debug: bool = False
    background_file: str | None = None  # developer override of the HRC-I background
    quicklook: bool = False  # --quicklook: a PNG beside each flux image after the run


@dataclass(frozen=True)
class FluximageParameters:
    """Every fluximage parameter, typed.  ``None`` stands for ``INDEF``."""

    infile: str
    outroot: str
    bands: str
    xygrid: str
    binsize: float | None  # sky pixels; None: 8 for ACIS, 32 for HRC; None too when xygrid is set
    asolfile: str
    badpixfile: str
    maskfile: str
    dtffile: str
    units: str  # default | area | time
    expmapthresh: str
    background: str  # default | time | particle | none
    bkgparams: str
    psfecf: float | None  # enclosed-counts fraction, or None for no PSF map
    random: int
    parallel: bool
    nproc: int | None  # None: all CPUs (or parallel=no)
    tmpdir: str  # as stored (e.g. ${ASCDS_WORK_PATH}); see resolve_tmpdir
    cleanup: bool
    clobber: bool
    verbose: int
    options: Options = Options()

    @property
    def threshold_on(self) -> bool:
        """False when expmapthresh is "", none, 0, 0% or ":" (docs/parameters/expmapthresh.md)."""
        return self.expmapthresh.strip().lower() not in ("", "none", "0", "0%", ":")

    def workers(self, cpus: int | None = None) -> int:
        """Number of worker processes (docs/architecture.md#tasks-and-parallelism): nproc, capped,
        negative counts back."""
        if cpus is None:
            cpus = os.cpu_count() or 1
        if not self.parallel:
            return 1
        if self.nproc is None:
            return cpus
        if self.nproc > 0:
            return min(self.nproc, cpus)
        return max(cpus + self.nproc, 1)

    def history_values(self, instrument: str = "") -> dict[str, str]:
        """The values CIAO records in the HISTORY block, as parameter-file text
        (docs/outputs.md#the-history-records):
        binsize INDEF when xygrid is set, nproc INDEF when parallel=no, dtffile "" for ACIS;
        ``random`` with the value used (CIAO always records its default 0: a bug)."""
        out = {}
        for name in HISTORY_PARAMETERS:
            value = getattr(self, name)
            if (name == "binsize" and self.xygrid.strip()) or (
                name == "nproc" and not self.parallel
            ):
                value = None
            elif name == "dtffile" and instrument == "ACIS":
                value = ""
            elif name == "outroot" and value == "":
                value = "."  # outroot=. is kept as "" (the current directory, no prefix)
            if isinstance(value, bool):
                out[name] = "yes" if value else "no"
            elif value is None:
                out[name] = "INDEF"
            elif isinstance(value, float):
                out[name] = _number(value)  # binsize=16 as 16, as the parameter file holds it
            else:
                out[name] = str(value)
        return out


def _text(ps: ParamSet, name: str) -> str:
    value = ps.get(name)
    return "" if value is None else str(value)


def read_parameters(
    ps: ParamSet, options: Options = Options(), report: Reporter | None = None
) -> FluximageParameters:
    """Typed parameter values; the banner is printed once ``verbose`` is known.

    fluximage's own rules are separate functions (``check_*``) because CIAO
    applies them in its reading order, between checks of the input files.
    """
    verbose = ps.get("verbose")
    verbose = 1 if verbose is None else int(verbose)
    if report is not None:
        report.verbose = verbose
        report.banner()
    outroot = _text(ps, "outroot").strip()
    xygrid = _text(ps, "xygrid").strip()
    parallel = bool(ps.get("parallel"))
    return FluximageParameters(
        infile=_text(ps, "infile").strip(),
        outroot="" if outroot == "." else outroot,
        bands=_text(ps, "bands").strip(),
        xygrid=xygrid,
        binsize=None if xygrid else ps.get("binsize"),
        asolfile=_text(ps, "asolfile").strip(),
        badpixfile=_text(ps, "badpixfile").strip(),
        maskfile=_text(ps, "maskfile").strip(),
        dtffile=_text(ps, "dtffile").strip(),
        units=_text(ps, "units"),
        expmapthresh=_text(ps, "expmapthresh").strip(),
        background=_text(ps, "background"),
        bkgparams=_text(ps, "bkgparams").strip(),
        psfecf=ps.get("psfecf"),
        random=int(ps.get("random") or 0),
        parallel=parallel,
        nproc=ps.get("nproc") if parallel else None,
        tmpdir=ps.stored("tmpdir"),
        cleanup=bool(ps.get("cleanup")),
        clobber=bool(ps.get("clobber")),
        verbose=verbose,
        options=options,
    )


def _number(value: float) -> str:
    """A number as CIAO's messages show it (integral values without '.0')."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def check_infile(p: FluximageParameters) -> None:
    if p.infile == "":
        raise FluximageError("The infile parameter is empty.")


def check_bands(p: FluximageParameters) -> None:
    if p.bands == "":
        raise FluximageError("The bands parameter can not be empty.")


def check_binsize(p: FluximageParameters) -> None:
    # CIAO reads binsize and psfecf as doubles (pgetd) and echoes them so: binsize=0.0
    if p.binsize is not None and not p.binsize > 0:
        raise FluximageError(
            f"binsize={float(p.binsize)} is not valid, it must be a number greater than zero."
        )


def check_psfecf(p: FluximageParameters) -> None:
    if p.psfecf is not None and not 0 < p.psfecf <= 1:
        raise FluximageError(f"psfecf={float(p.psfecf)} is not valid, it must be > 0 and <= 1")


def check_nproc(p: FluximageParameters) -> None:
    if p.nproc == 0:
        raise FluximageError("nproc argument can not be 0")


def check_without_files(p: FluximageParameters) -> str:
    """Every rule that needs no input file, in CIAO's order; returns the tmpdir."""
    check_infile(p)
    check_bands(p)
    check_binsize(p)
    check_psfecf(p)
    check_nproc(p)
    return resolve_tmpdir(p.tmpdir)


def resolve_tmpdir(stored: str) -> str:
    """tmpdir as an absolute directory, created when it does not exist.

    ``${ASCDS_WORK_PATH}`` is CIAO's default; where that variable is not set
    (no CIAO installed) the system temporary directory stands in for it.
    """
    env = {"ASCDS_WORK_PATH": tempfile.gettempdir(), **os.environ}
    text = expand_env(stored, env).strip()
    path = os.path.abspath(text or ".")
    if os.path.exists(path) and not os.path.isdir(path):
        raise FluximageError(f"The temporary directory {path} is not actually a directory!")
    if not os.path.exists(path):  # the ahelp says it is created (CIAO refuses it instead)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise FluximageError(
                f"Unable to create the temporary directory {path}: {exc.strerror}"
            ) from None
    return path
