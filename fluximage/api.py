"""The Python entry point: ``fluximage.run(infile, outroot, **params)``.

Same checks as the command line, starting from the installed defaults; the
user's parameter files (PFILES) are neither read nor written.
"""

from __future__ import annotations

from pathlib import Path

from . import pipeline
from .messages import FluximageError, Reporter
from .parameters import Options, read_parameters
from .paramio import ParamError, from_file, package_param_dir, python_to_text


def run(
    infile: str | Path,
    outroot: str | Path,
    *,
    background_file: str | None = None,
    **params: object,
) -> object:
    """Run fluximage; parameters by their full names with Python values.

    ``binsize=None`` means INDEF, booleans may be ``True``/``False``, ``bands``
    may be a list.  Raises :class:`FluximageError` for bad input.  The returned
    :class:`pipeline.Result` holds the files written and every image made, in
    memory, including the intermediates that ``cleanup=yes`` does not write.
    ``background_file`` is the command line's ``--background=FILE`` (HRC-I).
    """
    ps = from_file(package_param_dir() / "fluximage.par")
    for name, value in {"infile": infile, "outroot": outroot, **params}.items():
        if name not in ps.names:
            raise FluximageError(f"{name} is not a fluximage parameter")
        try:
            ps.set(name, python_to_text(ps.param(name), value))
        except ParamError as exc:
            raise FluximageError(str(exc)) from None
    report = Reporter()
    params_checked = read_parameters(ps, Options(background_file=background_file), report)
    return pipeline.run(params_checked, report, keep_in_memory=True)
