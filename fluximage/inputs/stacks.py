"""CIAO stacks: several values in one parameter.

A stack is a comma- and/or space-separated list, or ``@file`` naming a text
file with entries on its lines (``#`` lines and blank lines skipped; lines may
themselves be lists or ``@`` files).  Relative names read from ``@file`` are
taken relative to that file's directory unless it is given as ``@-file``.
Commas and spaces inside ``[...]`` or ``(...)`` belong to the entry, so DM
filters stay attached to their file: ``evt.fits[ccd_id=0,1,2] a.fits``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..messages import FluximageError

__all__ = ["MAX_DEPTH", "expand_stack", "split_list"]


MAX_DEPTH = 10


def split_list(text: str) -> list[str]:
    """Split on commas and blanks that are outside brackets and parentheses."""
    items: list[str] = []
    buf: list[str] = []
    depth = 0
    for c in text:
        if c in "[(":
            depth += 1
        elif c in "])" and depth > 0:
            depth -= 1
        if depth == 0 and (c == "," or c.isspace()):
            if buf:
                items.append("".join(buf))
                buf = []
            continue
        buf.append(c)
    if buf:
        items.append("".join(buf))
    return items


def expand_stack(text: str, *, _depth: int = 0) -> list[str]:
    """The entries of a stack, in order; ``@file`` read recursively."""
    if _depth > MAX_DEPTH:
        raise FluximageError(f"Stack files nested too deeply at {text}")
    out: list[str] = []
    for item in split_list(text):
        if not item.startswith("@") or item.startswith("@@"):
            out.append(item)
            continue
        relative_to_list = not item.startswith("@-")
        name = item[2:] if item.startswith("@-") else item[1:]
        path = Path(name)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            raise FluximageError(f"Unable to open stack file {name}") from None
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            for entry in expand_stack(line, _depth=_depth + 1):
                if relative_to_list and not entry.startswith("/") and path.parent != Path(""):
                    entry = os.path.join(str(path.parent), entry)
                out.append(entry)
    return out
