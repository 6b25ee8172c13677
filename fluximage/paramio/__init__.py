"""Our own paramio: CIAO/IRAF parameter files, PFILES and the p-commands.

Python API in the spirit of CIAO's ``paramio`` module::

    pf = paramopen("fluximage", "rw", ["fluximage", "evt2.fits", "out/"])
    pgetd(pf, "binsize")        # None when INDEF
    pset(pf, "verbose", "2")
    paramgetpath(pf)
    paramclose(pf)               # learned values written back
    punlearn("fluximage")

The object API is :class:`ParamSet` (``get``, ``set``, ``save``, ``close``).
"""

from __future__ import annotations

from pathlib import Path

from .cmdline import CommandLine, parse, resolve_name
from .errors import CommandLineError, ParamError
from .parfile import Comment, Parameter, ParFile, format_line, parse_line, parse_text, read_parfile
from .pfiles import SearchPath, locate, package_param_dir, search_path
from .session import ParamSet, from_file, load, open_params
from .tools import plist_text, punlearn
from .values import INDEF, check_value, expand_env, python_to_text, typed_value

__all__ = [
    "INDEF",
    "CommandLine",
    "CommandLineError",
    "Comment",
    "ParFile",
    "ParamError",
    "ParamSet",
    "Parameter",
    "SearchPath",
    "check_value",
    "expand_env",
    "format_line",
    "from_file",
    "load",
    "locate",
    "open_params",
    "package_param_dir",
    "paramclose",
    "paramgetpath",
    "paramopen",
    "parse",
    "parse_line",
    "parse_text",
    "pget",
    "pgetb",
    "pgetd",
    "pgeti",
    "pgetstr",
    "plist_text",
    "pset",
    "punlearn",
    "python_to_text",
    "read_parfile",
    "resolve_name",
    "search_path",
    "typed_value",
]


def paramopen(filename: str, mode: str = "rw", argv: list[str] | None = None) -> ParamSet:
    """Open a tool's parameters (``filename`` = tool name or path to a ``.par``).

    ``argv`` is ``[toolname, arg1, ...]`` as in CIAO; ``mode`` letters:
    ``w`` writable (learned values saved on close), ``H`` never prompt.
    """
    args = list(argv[1:]) if argv else []
    if Path(filename).suffix == ".par" or "/" in filename:
        args = [f"@@{filename}", *args]
    return open_params(
        Path(filename).name.removesuffix(".par"),
        args,
        prompt="H" not in mode,
        writable="w" in mode,
    )


def pget(pf: ParamSet, name: str) -> str:
    """The value as text (expanded, redirects followed)."""
    return pf.get_text(name)


def pgetstr(pf: ParamSet, name: str) -> str:
    return pf.get_text(name)


def pgetb(pf: ParamSet, name: str) -> bool:
    value = pf.get(name)
    if not isinstance(value, bool):
        raise ParamError(f"parameter {name} is not a boolean")
    return value


def pgeti(pf: ParamSet, name: str) -> int | None:
    value = pf.get(name)
    if value is not None and not isinstance(value, int):
        raise ParamError(f"parameter {name} is not an integer")
    return value


def pgetd(pf: ParamSet, name: str) -> float | None:
    value = pf.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(f"parameter {name} is not a number")
    return float(value)


def pset(pf: ParamSet, name: str, value: object) -> None:
    """Set a value (text or Python value); saved with :func:`paramclose` if learned."""
    pf.set(name, python_to_text(pf.param(name), value))


def paramgetpath(pf: ParamSet) -> str:
    return str(pf.path)


def paramclose(pf: ParamSet) -> None:
    pf.close()
