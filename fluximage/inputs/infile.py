"""``infile``: a stack of event files or directories, resolved to exactly one file (§2.1)."""

from __future__ import annotations

import glob
import os

from ..fitsio import list_blocks, select_block
from ..messages import FluximageError, Reporter
from .dmfilter import FilterError, split_filespec
from .observation import display_path
from .stacks import expand_stack

#: Where a directory is searched for ``*evt*`` files, in order; the first with a match wins.
EVENT_SUBDIRS = ("repro", "primary", "")


def _events_in_directory(directory: str) -> list[str]:
    for sub in EVENT_SUBDIRS:
        where = os.path.join(directory, sub) if sub else directory
        found = sorted(p for p in glob.glob(os.path.join(where, "*evt*")) if os.path.isfile(p))
        if found:
            return found
    return []


def _is_event_table(spec: str, report: Reporter) -> bool:
    """Can this entry be opened as a table?  Says why not, as CIAO does."""
    path, block, _ = split_filespec(spec)
    try:
        chosen = select_block(list_blocks(path), block)
    except FluximageError:
        report(f"Skipping {spec} as it can not be opened.")
        return False
    if not chosen.is_table:
        report(f"Skipping {spec} as it is an image.")
        return False
    return True


def resolve_infile(infile: str, report: Reporter) -> str:
    """The one event file (with any DM filters) that ``infile`` names.

    Filters are checked by the caller when it parses them; a filter this
    implementation cannot handle is an error naming it, not a skipped entry.
    """
    matches: list[str] = []
    for entry in expand_stack(infile):
        path = split_filespec(entry)[0]
        if entry == path and os.path.isdir(entry):
            found = _events_in_directory(entry)
            if not found:
                report(f"Skipping directory {entry} as no event files found in it.")
            for f in found:
                report(f"Found {f}")
            matches.extend(found)
        elif _is_event_table(entry, report):
            matches.append(entry)
    if not matches:
        raise FluximageError(f"Unable to find any event files matching {infile}.")
    if len(matches) > 1:
        raise FluximageError(
            f"Found multiple matches to infile={infile}\n  " + " ".join(matches) + "\n"
        )
    chosen = matches[0]
    path, block, filters = split_filespec(chosen)
    shown = display_path(path) + (f"[{block}]" if block else "") + filters
    if shown != infile:
        report(f"Using event file {shown}")
    return shown


__all__ = ["FilterError", "resolve_infile"]
