"""The Python entry point: ``fluximage.run(infile, outroot, **params)``.

Same checks as the command line, starting from the installed defaults; the
user's parameter files (PFILES) are neither read nor written.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from pathlib import Path

from . import pipeline
from .messages import FluximageError, Reporter
from .parameters import Options, read_parameters
from .paramio import ParamError, from_file, package_param_dir, python_to_text

__all__ = ["LIST_PARAMETERS", "check_python_type", "run", "run_texts"]



def run(
    infile: str | Path,
    outroot: str | Path,
    *,
    background_file: str | None = None,
    **params: object,
) -> pipeline.Result:
    """Run fluximage on one event file, as the command line does.

    Parameters
    ----------
    infile : str or path-like
        The event file, with a Data Model filter if wanted
        (``"evt2.fits[ccd_id=7]"``), or a directory holding one (``primary/``,
        ``repro/``), as for the command line.
    outroot : str or path-like
        Where the products go: a directory ending in ``/``, a prefix, or ``"."``.
    background_file : str, optional
        The command line's ``--background=FILE``: the HRC-I particle-background
        events to subtract instead of the CALDB's.
    **params
        Any other fluximage parameter by its full name, with a Python value:
        ``bands="csc"`` or ``bands=["broad", "soft"]``, ``binsize=4`` (``None`` is
        INDEF), ``cleanup=False``, ``psfecf=0.9`` ...  The installed defaults are
        used for the rest; the user's ``pset`` values (PFILES) are neither read nor
        written.

    Returns
    -------
    Result
        The files written (``result.files.paths``) and every image made, in memory,
        including the intermediates that ``cleanup=yes`` does not write: see
        :class:`fluximage.pipeline.Result`.

    Raises
    ------
    FluximageError
        For bad input, with the message the command line prints.

    Examples
    --------
    >>> import fluximage
    >>> result = fluximage.run("evt2.fits", "out/", bands="broad", binsize=8)  # doctest: +SKIP
    >>> result.flux["broad"].shape  # doctest: +SKIP
    (263, 262)
    """
    ps = from_file(package_param_dir() / "fluximage.par")
    texts = {}
    for name, value in {"infile": infile, "outroot": outroot, **params}.items():
        if name not in ps.names:
            raise FluximageError(f"{name} is not a fluximage parameter")
        check_python_type(name, ps.param(name).base_type, value)
        texts[name] = python_to_text(ps.param(name), value)
    options = Options(background_file=background_file)
    return run_texts(texts, Reporter(), options, keep_in_memory=True)


#: Parameters that take a list (a CIAO stack) as well as one string.
LIST_PARAMETERS = ("bands", "asolfile")


def check_python_type(name: str, base_type: str, value: object) -> None:
    """Refuse a Python value of the wrong kind for a parameter (a list for outroot would
    otherwise become the text 'a,b'): booleans for ``b``, numbers for ``i``/``r``, strings
    or paths for the others (lists of them for :data:`LIST_PARAMETERS`); text and ``None``
    (INDEF or empty) always, as on the command line."""
    if value is None or isinstance(value, str):
        return
    if base_type == "b":
        ok, expected = isinstance(value, bool), "True, False or a string"
    elif base_type in ("i", "r"):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        expected = "a number, None (INDEF) or a string"
    else:
        listed = name in LIST_PARAMETERS and isinstance(value, (list, tuple)) and bool(value)
        items = value if listed else [value]
        ok = all(isinstance(v, (str, os.PathLike)) for v in items)
        expected = "a string or a path"
        if name in LIST_PARAMETERS:
            expected += " (or a list of them)"
    if not ok:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise FluximageError(f"{name} must be {expected}, not {type(value).__name__}: {shown}")


def run_texts(
    texts: Mapping[str, str],
    report: Reporter,
    options: Options | None = None,
    keep_in_memory: bool = False,
) -> pipeline.Result:
    """Run with parameter values as parameter-file text (``infile`` and ``outroot``
    included), starting from the installed defaults, messages to ``report``."""
    ps = from_file(package_param_dir() / "fluximage.par")
    try:
        for name, text in texts.items():
            ps.set(name, text)
    except ParamError as exc:
        raise FluximageError(str(exc)) from None
    checked = read_parameters(ps, options or Options(), report)
    return pipeline.run(checked, report, keep_in_memory)
