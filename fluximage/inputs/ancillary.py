"""Aspect solutions, bad-pixel, mask and DTF files (docs/inputs.md).

A file named in a header keyword is looked for, relative to the event file's
directory, in ``. repro/ primary/ secondary/ ../repro/ ../primary/
../secondary/``; the plain name or the name + ``.gz`` counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..fitsio import Block, list_blocks, select_block
from ..messages import FluximageError, Reporter
from .observation import Observation, display_path
from .stacks import expand_stack

__all__ = [
    "ASPECT_COLUMNS",
    "ASPECT_CONTENTS",
    "SEARCH_DIRS",
    "AspectFile",
    "BadPixels",
    "check_aspect_file",
    "check_same_obsid",
    "find_ancillary",
    "resolve_asol",
    "resolve_badpix",
    "resolve_optional",
    "with_gz",
]


SEARCH_DIRS = (".", "repro", "primary", "secondary", "../repro", "../primary", "../secondary")
ASPECT_CONTENTS = ("ASPSOL", "ASPSOLOBI", "ASPSOL3")
ASPECT_COLUMNS = ("time", "ra", "dec", "roll")


def _exists(path: str) -> bool:
    return os.path.isfile(path) or os.path.isfile(path + ".gz")


def find_ancillary(name: str, evt_dir: str) -> str | None:
    """The path of ``name`` in the standard places, or None.  ``.gz`` versions count."""
    name = name.strip()
    if os.path.isabs(name):
        return name if _exists(name) else None
    for sub in SEARCH_DIRS:
        cand = os.path.normpath(os.path.join(evt_dir, sub, name))
        if _exists(cand):
            return display_path(cand)
    return None


def with_gz(path: str) -> str:
    """``path``, or ``path.gz`` when only that exists."""
    return path if os.path.isfile(path) or not os.path.isfile(path + ".gz") else path + ".gz"


def _block(path: str) -> Block:
    return select_block(list_blocks(with_gz(path)))


# ---- aspect solutions ---------------------------------------------------


@dataclass(frozen=True)
class AspectFile:
    path: str
    content: str
    mjd: float


def _mjd(block: Block, path: str) -> float:
    h = block.header
    for key in ("MJD-OBS", "MJD_OBS"):
        if key in h:
            return float(h[key])
    for key in ("MJDREF", "TSTART"):
        if key not in h:
            raise FluximageError(f"Unable to find keyword {key} in {path}")
    return float(h["MJDREF"]) + (float(h.get("TIMEZERO", 0.0)) + float(h["TSTART"])) / 86400.0


def check_aspect_file(path: str) -> AspectFile:
    """CONTENT must be an aspect solution (not a histogram) with time, ra, dec, roll.

    Errors name the file by its absolute path, as CIAO's do.
    """
    block = _block(path)
    where = os.path.normpath(os.path.abspath(with_gz(path)))
    if "CONTENT" not in block.header:
        raise FluximageError(f"The file {where} is missing the CONTENT keyword.")
    content = str(block.header["CONTENT"]).strip().upper()
    if content not in ASPECT_CONTENTS:
        raise FluximageError(
            f"Aspect solutions have CONTENT=ASPSOL or ASPSOLOBI, but found {content} in\n{where}"
        )
    missing = [c for c in ASPECT_COLUMNS if not block.has_column(c)]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise FluximageError(f"Missing aspect {noun} {', '.join(missing)} in {where}")
    return AspectFile(path, content, _mjd(block, where))


def resolve_asol(param: str, obs: Observation, report: Reporter) -> tuple[AspectFile, ...]:
    """The aspect solutions, validated and in time order."""
    if param.upper() == "NONE":
        raise FluximageError("asolfile can not be NONE.")
    if param == "":
        if "ASOLFILE" not in obs.header:
            raise FluximageError(f"Event file {obs.path} has no ASOLFILE keyword.")
        value = str(obs.header["ASOLFILE"]).strip()
        found = [find_ancillary(n, obs.directory) for n in expand_stack(value)]
        if not found or any(f is None for f in found):
            raise FluximageError(f"ASOLFILE={value} from {obs.path} not found.")
        paths = [f for f in found if f is not None]
    else:
        paths = []
        for name in expand_stack(param):
            if not _exists(name):
                raise FluximageError(f"Unable to find aspect solution file: {name}")
            paths.append(name)
    files = [check_aspect_file(p) for p in paths]
    contents = sorted({f.content for f in files})
    if len(contents) > 1:
        listing = "\n".join(f.path for f in files)
        raise FluximageError(
            f"Multiple types of aspect solution found: {' '.join(contents)}\n{listing}"
        )
    files = sorted(files, key=lambda f: f.mjd)
    if param == "":
        for f in files:  # in time order, as CIAO lists them
            report(f"Aspect solution {f.path} found.")
    return tuple(files)


# ---- bad pixels, mask, dtf ----------------------------------------------


@dataclass(frozen=True)
class BadPixels:
    """Which bad pixels to apply: a file, the CALDB's, or none."""

    source: str  # "file", "caldb" or "none"
    path: str | None = None


def resolve_badpix(param: str, obs: Observation, report: Reporter) -> BadPixels:
    low = param.lower()
    if low == "caldb":
        report("CalDB bad-pixel file is being used.")
        return BadPixels("caldb")
    if low == "none":
        report("No bad-pixel file is being used.")
        return BadPixels("none")
    if param:
        if not _exists(param):
            raise FluximageError(f"Unable to find bad pixel file={param} (or .gz version)")
        report(f"Bad-pixel file {param}")
        return BadPixels("file", with_gz(param))
    if "BPIXFILE" not in obs.header:
        # CIAO crashes here; the intended behaviour is the CALDB fallback
        report(f"WARNING - BPIXFILE keyword not found in {obs.path}. Using CALDB version instead.")
        return BadPixels("caldb")
    value = str(obs.header["BPIXFILE"]).strip()
    if value == "NONE":
        report(
            f"WARNING - BPIXFILE set to NONE in {obs.path}. "
            "The exposure map will be too high for bad pixels and columns."
        )
        return BadPixels("none")
    found = find_ancillary(value, obs.directory)
    if found is None:
        report(f"WARNING - BPIXFILE={value} not found for {obs.path}. Using CALDB version instead.")
        return BadPixels("caldb")
    found = with_gz(found)  # ardlib does not look for .gz itself, so CIAO names it
    report(f"Bad-pixel file {found} found.")
    return BadPixels("file", found)


_NOTES = {
    "MASKFILE": " Invalid data may be used.",
    "DTFFILE": "Exposure duration weighting will not be applied.",  # CIAO glues it on; see below
}
_LABELS = {"MASKFILE": ("maskfile", "Mask", "mask"), "DTFFILE": ("dtffile", "Dtf", "dtf")}


def resolve_optional(key: str, param: str, obs: Observation, report: Reporter) -> str | None:
    """MASKFILE or DTFFILE: the file to use, or None."""
    pname, title, word = _LABELS[key]
    # CIAO omits the space before the DTF note (docs/differences.md); we add it
    note = " " + _NOTES[key].lstrip()
    if param.lower() == "none":
        report(f"WARNING - {pname} parameter set to NONE.{note}")
        return None
    if param:
        if not _exists(param):
            raise FluximageError(f"Unable to find {word} file: {param}")
        return with_gz(param)
    if key not in obs.header:
        report(f"WARNING - {key} keyword not found in {obs.path}.{note}")
        return None
    value = str(obs.header[key]).strip()
    if value == "NONE":
        report(f"WARNING - {key} set to NONE in {obs.path}.{note}")
        return None
    found = find_ancillary(value, obs.directory)
    if found is None:
        report(f"WARNING - {key}={value} not found for {obs.path}.{note}")
        return None
    report(f"{title} file {found} found.")
    return with_gz(found)


def _obsid_key(header, path: str) -> tuple[str, str | None, object]:
    if "OBS_ID" not in header:
        raise FluximageError(f"OBS_ID keyword is missing from '{path}'")
    cycle = str(header.get("CYCLE", "")).strip().upper() or None
    if cycle is not None and cycle not in ("P", "S"):
        raise FluximageError(f"Invalid CYCLE={header['CYCLE']} keyword in '{path}'.")
    return str(header["OBS_ID"]).strip(), cycle, header.get("OBI_NUM")


def check_same_obsid(kind: str, path: str, obs: Observation) -> None:
    """The bad-pixel or mask file must belong to the observation."""
    theirs = _obsid_key(_block(path).header, path)
    if obs.cycle is None:
        same = theirs[0] == obs.obs_id
    else:  # interleaved: ObsID, cycle and OBI must all agree
        same = theirs == (obs.obs_id, obs.cycle, obs.header.get("OBI_NUM"))
    if not same:
        raise FluximageError(
            f"The ObsID of the {kind} and event files do not match: "
            f"{_label(theirs[0], theirs[1], obs)} vs {_label(obs.obs_id, obs.cycle, obs)}"
        )


def _label(obs_id: str, cycle: str | None, obs: Observation) -> str:
    """ObsID with e1/e2 when the observation is interleaved (so the two sides differ)."""
    if obs.cycle is None or cycle is None:
        return obs_id
    return obs_id + ("e1" if cycle == "P" else "e2")
