"""fluximage's parameters, read and checked in CIAO's order (behaviour doc §1.7).

The parameter layer has already checked types, ranges and enumerations; here
come fluximage's own rules that need no input file: empty ``infile`` or
``bands``, ``binsize`` > 0, ``psfecf`` in (0, 1], ``nproc`` ≠ 0, ``tmpdir``.
Rules that need the event file (bands against the instrument, the grid,
ancillary files) belong to the input stage.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, fields

from .messages import FluximageError, Reporter
from .paramio import ParamSet, expand_env

#: Parameters recorded in the HISTORY block (all but ``random`` and ``mode``, as CIAO).
HISTORY_PARAMETERS = (
    "infile", "outroot", "bands", "xygrid", "binsize", "asolfile", "badpixfile",
    "maskfile", "dtffile", "units", "expmapthresh", "background", "bkgparams",
    "psfecf", "parallel", "nproc", "tmpdir", "cleanup", "clobber", "verbose",
)  # fmt: skip


@dataclass(frozen=True)
class Options:
    """Script switches given before parameter parsing (``--debug`` ...)."""

    debug: bool = False
    background_file: str | None = None  # developer override of the HRC-I background


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
    tmpdir: str  # absolute path of an existing directory
    cleanup: bool
    clobber: bool
    verbose: int
    options: Options = Options()

    @property
    def threshold_on(self) -> bool:
        """False when expmapthresh is "", none, 0, 0% or ":" (behaviour doc §7.1)."""
        return self.expmapthresh.strip().lower() not in ("", "none", "0", "0%", ":")

    def workers(self, cpus: int | None = None) -> int:
        """Number of worker processes (§10): nproc, capped, negative counts back."""
        if cpus is None:
            cpus = os.cpu_count() or 1
        if not self.parallel:
            return 1
        if self.nproc is None:
            return cpus
        if self.nproc > 0:
            return min(self.nproc, cpus)
        return max(cpus + self.nproc, 1)

    def history_values(self) -> dict[str, str]:
        """The values CIAO records in the HISTORY block, as parameter-file text."""
        out = {}
        for name in HISTORY_PARAMETERS:
            value = getattr(self, name)
            if isinstance(value, bool):
                out[name] = "yes" if value else "no"
            elif value is None:
                out[name] = "INDEF"
            else:
                out[name] = str(value)
        return out


def _text(ps: ParamSet, name: str) -> str:
    value = ps.get(name)
    return "" if value is None else str(value)


def _number_text(ps: ParamSet, name: str) -> str:
    return ps.stored(name).strip()


def read_parameters(
    ps: ParamSet, options: Options = Options(), report: Reporter | None = None
) -> FluximageParameters:
    """Check fluximage's parameters in CIAO's order; the banner after ``verbose``."""
    verbose = ps.get("verbose")
    verbose = 1 if verbose is None else int(verbose)
    if report is not None:
        report.verbose = verbose
        report.banner()

    infile = _text(ps, "infile").strip()
    if infile == "":
        raise FluximageError("The infile parameter is empty.")
    outroot = _text(ps, "outroot").strip()
    if outroot == ".":
        outroot = ""
    bands = _text(ps, "bands").strip()
    if bands == "":
        raise FluximageError("The bands parameter can not be empty.")

    xygrid = _text(ps, "xygrid").strip()
    binsize: float | None = None
    if xygrid == "":
        binsize = ps.get("binsize")
        if binsize is not None and not binsize > 0:
            raise FluximageError(
                f"binsize={_number_text(ps, 'binsize')} is not valid, "
                "it must be a number greater than zero."
            )

    psfecf = ps.get("psfecf")
    if psfecf is not None and not 0 < psfecf <= 1:
        raise FluximageError(
            f"psfecf={_number_text(ps, 'psfecf')} is not valid, it must be > 0 and <= 1"
        )
    parallel = bool(ps.get("parallel"))
    nproc = ps.get("nproc") if parallel else None
    if nproc == 0:
        raise FluximageError("nproc argument can not be 0")

    return FluximageParameters(
        infile=infile,
        outroot=outroot,
        bands=bands,
        xygrid=xygrid,
        binsize=binsize,
        asolfile=_text(ps, "asolfile").strip(),
        badpixfile=_text(ps, "badpixfile").strip(),
        maskfile=_text(ps, "maskfile").strip(),
        dtffile=_text(ps, "dtffile").strip(),
        units=_text(ps, "units"),
        expmapthresh=_text(ps, "expmapthresh").strip(),
        background=_text(ps, "background"),
        bkgparams=_text(ps, "bkgparams").strip(),
        psfecf=psfecf,
        random=int(ps.get("random") or 0),
        parallel=parallel,
        nproc=nproc,
        tmpdir=resolve_tmpdir(ps.stored("tmpdir")),
        cleanup=bool(ps.get("cleanup")),
        clobber=bool(ps.get("clobber")),
        verbose=verbose,
        options=options,
    )


def resolve_tmpdir(stored: str) -> str:
    """tmpdir as an absolute existing directory.

    ``${ASCDS_WORK_PATH}`` is CIAO's default; where that variable is not set
    (no CIAO installed) the system temporary directory stands in for it.
    """
    env = {"ASCDS_WORK_PATH": tempfile.gettempdir(), **os.environ}
    text = expand_env(stored, env).strip()
    path = os.path.abspath(text or ".")
    if not os.path.exists(path):
        raise FluximageError(f"The temporary directory {path} does not exist!")
    if not os.path.isdir(path):
        raise FluximageError(f"The temporary directory {path} is not actually a directory!")
    return path


PARAMETER_NAMES = tuple(f.name for f in fields(FluximageParameters) if f.name != "options")
