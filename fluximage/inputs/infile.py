"""``infile``: a stack of event files or directories, resolved to exactly one file
(docs/inputs.md)."""

from __future__ import annotations

import glob
import os

from ..fitsio import Block, list_blocks, select_block
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


def _event_table_blocks(spec: str, report: Reporter) -> list[Block] | None:
    """The blocks of the file if ``spec`` opens as a table, else None, saying why not as
    CIAO does."""
    path, block, _ = split_filespec(spec)
    try:
        blocks = list_blocks(path)
        chosen = select_block(blocks, block)
    except FluximageError as exc:
        reason = str(exc).partition("\n")[2]
        if reason.startswith(("the file is truncated or corrupt", "the file is corrupt")):
            report(f"Skipping {spec} as it can not be opened ({reason}).")
        else:
            report(f"Skipping {spec} as it can not be opened.")
        return None
    if not chosen.is_table:
        report(f"Skipping {spec} as it is an image.")
        return None
    return blocks


def resolve_infile(infile: str, report: Reporter) -> tuple[str, list[Block] | None]:
    """The one event file (with any DM filters) that ``infile`` names, and its blocks when
    they were listed to check it (a file found in a directory is not checked here).

    Filters are checked by the caller when it parses them; a filter this
    implementation cannot handle is an error naming it, not a skipped entry.
    """
    matches: list[tuple[str, list[Block] | None]] = []
    for entry in expand_stack(infile):
        path = split_filespec(entry)[0]
        if entry == path and os.path.isdir(entry):
            found = _events_in_directory(entry)
            if not found:
                report(f"Skipping directory {entry} as no event files found in it.")
            for f in found:
                report(f"Found {f}")
            matches.extend((f, None) for f in found)
        elif (blocks := _event_table_blocks(entry, report)) is not None:
            matches.append((entry, blocks))
    if not matches:
        raise FluximageError(f"Unable to find any event files matching {infile}.")
    if len(matches) > 1:
        raise FluximageError(
            f"Found multiple matches to infile={infile}\n  "
            + " ".join(m for m, _ in matches)
            + "\n"
        )
    chosen, blocks = matches[0]
    path, block, filters = split_filespec(chosen)
    shown = display_path(path) + (f"[{block}]" if block else "") + filters
    if shown != infile:
        report(f"Using event file {shown}")
    return shown, blocks


__all__ = ["FilterError", "resolve_infile"]
