"""HRC-I particle background: which file, which method, which status filter
(docs/parameters/background.md).

Only for DETNAM exactly ``HRC-I`` and ``background`` other than ``none``.  The
file is the CALDB dataset ``BKGRND`` of the ``hrc`` index that matches the event
header (DETNAM, GRATING, DATE-OBS), as hrc_bkgrnd_lookup finds it; the
developer switch ``--background=FILE`` (a DM filter allowed) replaces the lookup.
The status filter applied to the background is the event file's: its STATFILT
keyword, else the ``[status=...]`` of the first dmcopy recorded in its HISTORY.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..calib.caldb import CaldbError, index_path, read_index, select_rows
from ..fitsio import Block, iter_rows, open_block, read_columns
from ..messages import FluximageError, Reporter
from .dmfilter import parse_filter, split_filespec
from .observation import Observation

__all__ = [
    "DEFAULT_BKGPARAMS",
    "METHODS",
    "SKIP",
    "BackgroundEvents",
    "BackgroundSource",
    "caldb_background",
    "check_bkgparams",
    "history_commands",
    "open_background_events",
    "report_status_filter",
    "resolve_background",
    "status_filter",
]


#: background parameter -> scaling method (BKGMETH)
METHODS = {"default": "time", "time": "time", "particle": "particle"}
DEFAULT_BKGPARAMS = "[pi=300:500]"
SKIP = "so skipping background subtraction."


@dataclass(frozen=True)
class BackgroundSource:
    """The background events file to use and how to scale it."""

    path: str  # the file as found (recorded as BEVTFILE)
    block: str | None  # block named in an override, else None (the first table)
    filter_text: str  # DM filter of an override ('' for the CALDB file)
    method: str  # "time" (EXPOSURE ratio) or "particle" (event-count ratio)
    bkgparams: str  # the particle-count filter ('' = every event)

    @property
    def spec(self) -> str:
        """The file with its block and filter, as given."""
        block = f"[{self.block}]" if self.block else ""
        return f"{self.path}{block}{self.filter_text}"


def check_bkgparams(method: str, bkgparams: str) -> None:
    """For method particle bkgparams must be empty or one ``[..]`` DM filter."""
    if method != "particle":
        return
    text = bkgparams.strip()
    if text == "":
        return
    if not (text.startswith("[") and text.endswith("]")):
        raise FluximageError(
            f"Invalid bkgparams filter, expected empty string or [..] but sent {bkgparams}"
        )
    parse_filter(text, context=f"bkgparams={bkgparams}")


def _installed(path: Path) -> Path | None:
    if path.is_file():
        return path
    gz = Path(f"{path}.gz")
    return gz if gz.is_file() else None


def caldb_background(
    header: fits.Header | Mapping, environ: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """The CALDB HRC-I background events file for an event header.

    Returns ``("found", path)``, ``("not installed", path)`` when the index names a
    file that is not there (the background package is optional), or ``("none", None)``
    without ``$CALDB``, without an hrc index, or unless exactly one dataset matches.
    """
    env = os.environ if environ is None else environ
    root = env.get("CALDB", "").strip()
    date = str(header.get("DATE-OBS", "")).strip()
    if not root or not date:
        return "none", None
    try:
        index = read_index(index_path(root, "hrc"))
        rows = select_rows(
            index, "HRC", "BKGRND", date=date,
            detnam=str(header.get("DETNAM", "")).strip() or None,
            grating=str(header.get("GRATING", "")).strip() or None,
        )  # fmt: skip
    except CaldbError:
        return "none", None
    if len(rows) != 1:
        return "none", None
    path = rows[0].path(root)
    found = _installed(path)
    return ("found", str(found)) if found else ("not installed", str(path))


def resolve_background(
    method_param: str,
    bkgparams: str,
    override: str | None,
    obs: Observation,
    report: Reporter,
    environ: Mapping[str, str] | None = None,
) -> BackgroundSource | None:
    """The background to subtract, with CIAO's messages; None when there is none.

    ``method_param`` is the ``background`` parameter, ``override`` the value of
    ``--background=FILE`` (None without it).
    """
    method_param = method_param.strip().lower()
    if method_param == "none" or obs.instrument != "HRC" or obs.detnam != "HRC-I":
        return None
    method = METHODS[method_param]
    check_bkgparams(method, bkgparams)
    params = bkgparams.strip() if method == "particle" else ""
    evt = obs.path
    if override is not None:
        path, block, text = split_filespec(override)
        parse_filter(text, base_dir=os.getcwd(), context=override)
        if path.lower() == "none":
            report(f"WARNING: No HRC-I background file for {evt}, {SKIP}")
            return None
        found = _installed(Path(path))
        if found is None:  # asked for by name: an error, not a run without it
            raise FluximageError(f"Unable to find the background file {override}")
        report(f"Background file for {evt} found: {override}")
        shown = path if found == Path(path) else str(found)
        return BackgroundSource(shown, block, text, method, params)
    status, path = caldb_background(obs.header, environ)
    if status == "none":
        report(f"No HRC-I background file for {evt}, {SKIP}")
        return None
    if status == "not installed":
        report(f"The background for {evt} is not in the CALDB, {SKIP}")
        return None
    report(f"Background file for {evt} found: {path}")
    return BackgroundSource(str(path), None, "", method, params)


# ---- the status filter ------------------------------------------------------------------

_RECORD = re.compile(r"^\s*(TOOL|PARM|CONT|STCK)\s*:(.*)$")
_SEQUENCE = re.compile(r"\s*ASC\d{5}\s*$")  # the record counter CIAO puts in columns 73-80


def history_commands(header: fits.Header) -> list[tuple[str, str]]:
    """(tool, command line) of every CIAO tool recorded in the HISTORY cards, in order.

    CIAO writes one ``TOOL :<name> <date>`` record per tool, then one ``PARM :`` record
    per parameter, long ones carried on in ``CONT :`` records.
    """
    commands: list[tuple[str, list[str]]] = []
    for card in header.cards:
        if card.keyword != "HISTORY":
            continue
        m = _RECORD.match(_SEQUENCE.sub("", str(card.value)))
        if not m:
            continue
        kind, text = m.group(1), m.group(2)
        if kind == "TOOL":
            words = text.split()
            commands.append((words[0] if words else "", []))
        elif commands and kind == "PARM":
            commands[-1][1].append(text.strip())
        elif commands and commands[-1][1] and kind == "CONT":
            commands[-1][1][-1] += text.strip()
    return [(tool, " ".join([tool, *parms])) for tool, parms in commands]


def status_filter(header: fits.Header) -> tuple[str, str | None]:
    """The ``[status=...]`` filter of the event file, and the problem when there is none.

    STATFILT (a bit pattern, or a whole ``[status=...]``) comes first; otherwise the last
    dmcopy of the HISTORY that has one, from ``[status=`` to the next ``]``.  CIAO takes
    the first dmcopy record, which for data re-filtered by patch_hrc_ssc (a later dmcopy
    with a new status pattern) is the superseded filter (``docs/differences.md``).  The
    problem is ``"no"`` (nothing found) or ``"illegal"`` (no closing bracket); the filter
    is then ``""``.
    """
    if "STATFILT" in header:
        value = str(header["STATFILT"]).strip()
        return (value if value.startswith("[") else f"[status={value}]"), None
    dmcopy = [command for tool, command in history_commands(header)
              if tool == "dmcopy" and "[status=" in command]  # fmt: skip
    if not dmcopy:
        return "", "no"
    start = dmcopy[-1].find("[status=")
    end = dmcopy[-1].find("]", start)
    if end < 0:
        return "", "illegal"
    return dmcopy[-1][start : end + 1], None


def report_status_filter(header: fits.Header, evt: str, label: str, report: Reporter) -> str:
    """:func:`status_filter` with CIAO's warning and ``Background filter`` line."""
    text, problem = status_filter(header)
    if problem is not None:
        report(
            f"WARNING: {problem} STATUS filter found in {evt} so unable to filter "
            f"background for obsid {label}!"
        )
    else:
        report(f"Background filter (obsid {label}): {text}")
    return text


# ---- the background events file -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BackgroundEvents:
    """The background events file of a :class:`BackgroundSource`, opened: its header and
    columns; the rows are read a chunk at a time by :meth:`chunks`."""

    block: Block

    @property
    def header(self) -> fits.Header:
        return self.block.header

    @property
    def column_names(self) -> tuple[str, ...]:
        """The columns as the file names them, in order."""
        return tuple(c.name for c in self.block.columns.values())

    @property
    def columns(self) -> tuple[str, ...]:
        """Lower-case column names, in order."""
        return tuple(self.block.columns)

    @property
    def nulls(self) -> dict[str, int]:
        """TNULL of integer columns (for ``Null`` in filters)."""
        return {k: int(c.tnull) for k, c in self.block.columns.items() if c.tnull is not None}

    def chunks(self, columns: list[str], chunk_rows: int) -> Iterator[dict[str, np.ndarray]]:
        """``{lower-case name: values}`` of successive chunks of rows."""
        return iter_rows(self.block, columns, chunk_rows)

    def read(self, columns: list[str]) -> dict[str, np.ndarray]:
        return read_columns(self.block, columns)


def open_background_events(source: BackgroundSource) -> BackgroundEvents:
    """The background file's events table (its block as named in an override)."""
    block = open_block(source.path, source.block)
    if not block.is_table:
        raise FluximageError(f"{source.path} is an image, not a table!")
    return BackgroundEvents(block)
