"""What a batch runs: the list of entries, their output names, the shared parameters.

A list file holds one event file (DM filters allowed) or ObsId directory per
line; blank lines and ``#`` comments are skipped and relative names are taken
relative to the list file's directory, as for a CIAO ``@file`` stack.  Each
entry gets its own output directory, named after the ObsId directory or the
event file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .inputs.dmfilter import FilterError, split_filespec
from .messages import FluximageError
from .paramio import INDEF, ParamError, check_value, from_file, package_param_dir, python_to_text

__all__ = [
    "PATH_PARAMS",
    "PER_ENTRY",
    "RUN_ONLY",
    "Entry",
    "is_assignment",
    "make_entries",
    "normalize_params",
    "parse_assignments",
    "product_params",
    "read_list",
]


#: Parameters that belong to each entry, not to the batch.
PER_ENTRY = ("infile", "outroot")
#: Parameters that do not change the products (ignored when deciding to skip).
RUN_ONLY = ("clobber", "verbose", "parallel", "nproc", "tmpdir", "mode")
#: Parameters naming files or directories: relative names are made absolute.
PATH_PARAMS = ("xygrid", "asolfile", "badpixfile", "maskfile", "dtffile", "tmpdir")

_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.DOTALL)
_SWITCH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([+-])\Z")
_EVENT_SUFFIXES = (".fits.gz", ".fits", ".fit", ".gz")


@dataclass(frozen=True)
class Entry:
    """One observation of the batch."""

    spec: str  # as given (a list line or an API argument)
    infile: str  # absolute path, DM filters kept
    name: str  # the output sub-directory


def read_list(path: str | Path) -> list[str]:
    """Entries of a list file, relative names resolved against the file's directory."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FluximageError(f"Unable to read the list file {path}: {exc}") from None
    base = path.parent
    out = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        out.append(_absolute(text, base))
    return out


def _absolute(spec: str, base: Path) -> str:
    """``spec`` with its file part made absolute (filters kept as written)."""
    text = spec.strip()
    try:
        path = os.path.expanduser(split_filespec(text)[0])
    except FilterError as exc:
        raise FluximageError(str(exc)) from None
    full = path if os.path.isabs(path) else os.path.abspath(base / path)
    filters = text[text.index("[") :] if "[" in text else ""
    return full + filters


def _base_name(infile: str) -> str:
    path = split_filespec(infile)[0].rstrip("/")
    name = os.path.basename(path) or "entry"
    if os.path.isdir(path):
        return name
    lower = name.lower()
    for suffix in _EVENT_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def make_entries(specs: Iterable[str | Path], base: str | Path | None = None) -> list[Entry]:
    """Entries with absolute infiles and distinct output names.

    An ObsId directory is named after itself (``1843/`` → ``1843``), an event
    file after its name less ``.fits``/``.gz``.  Names given to more than one
    entry are prefixed with the parent directory (``obs1_acis_evt2``) and, if
    still shared, numbered in list order (``_2``, ``_3``...).
    """
    root = Path.cwd() if base is None else Path(base)
    infiles = [_absolute(str(s), root) for s in specs]
    names = [_base_name(f) for f in infiles]
    counts = {n: names.count(n) for n in names}
    for i, name in enumerate(names):
        if counts[name] > 1:
            parent = os.path.basename(os.path.dirname(split_filespec(infiles[i])[0].rstrip("/")))
            names[i] = f"{parent}_{name}" if parent else name
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name}_{seen[name]}"
    return [
        Entry(str(s), f, n) for s, f, n in zip([str(s) for s in specs], infiles, names, strict=True)
    ]


# --------------------------------------------------------------------------
# parameters shared by every entry


def normalize_params(params: Mapping[str, object], cwd: str | Path | None = None) -> dict[str, str]:
    """Checked parameter text by full name (abbreviations allowed, as on a command line).

    Values are Python values as for :func:`fluximage.run` or text as on the
    command line; existing relative paths of file parameters are made
    absolute so that workers in other directories (Dask) find them.
    """
    defaults = from_file(package_param_dir() / "fluximage.par")
    root = Path.cwd() if cwd is None else Path(cwd)
    out: dict[str, str] = {}
    for given, value in params.items():
        try:
            name = defaults.resolve_name(given)
            param = defaults.param(name)
            text = check_value(param, python_to_text(param, value))
        except ParamError as exc:
            raise FluximageError(str(exc)) from None
        if name in PER_ENTRY:
            raise FluximageError(f"{name} is set per entry by fluximage-batch; leave it out")
        if name in PATH_PARAMS and text.strip() and (root / text.strip()).exists():
            text = str((root / text.strip()).resolve())
        out[name] = text
    return out


def product_params(params: Mapping[str, str]) -> dict[str, str]:
    """The parameters that decide the products, defaults filled in (for the skip rule)."""
    defaults = from_file(package_param_dir() / "fluximage.par")
    out = {}
    for n in defaults.names:
        if n in PER_ENTRY or n in RUN_ONLY:
            continue
        text = params.get(n, defaults.values[n])
        if defaults.param(n).base_type == "r" and text != INDEF and not text.startswith(")"):
            text = repr(float(text))  # 4, 4.0 and 4e0 are one binsize
        out[n] = text
    return out


def is_assignment(arg: str) -> bool:
    """``name=value``, ``name+`` or ``name-`` (a parameter, not a file name)."""
    return bool(_ASSIGN.match(arg) or _SWITCH.match(arg))


def parse_assignments(args: Sequence[str]) -> dict[str, str]:
    """``name=value``, ``name+`` and ``name-`` arguments as text by the name given."""
    out: dict[str, str] = {}
    for arg in args:
        m = _ASSIGN.match(arg)
        if m:
            out[m.group(1)] = m.group(2)
            continue
        m = _SWITCH.match(arg)
        if m:
            out[m.group(1)] = "yes" if m.group(2) == "+" else "no"
            continue
        raise FluximageError(f"'{arg}' is not a name=value parameter setting")
    return out
