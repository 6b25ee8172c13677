"""The end of a run: which files are kept, their HISTORY record, the list on screen (§4.3, §9)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from astropy.io import fits

from . import __version__
from .parameters import FluximageParameters

HISTORY_WIDTH = 70


def history_cards(params: FluximageParameters) -> list[str]:
    """The parameters used, as CIAO's ``TOOL :``/``PARM :`` HISTORY records."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    lines = [f"TOOL  :fluximage  {stamp}"]
    for name, value in params.history_values().items():
        text = f"{name}={value}"
        first, rest = text[:HISTORY_WIDTH], text[HISTORY_WIDTH:]
        lines.append(f"PARM  :{first}")
        while rest:
            lines.append(f"CONT  :{rest[:HISTORY_WIDTH]}")
            rest = rest[HISTORY_WIDTH:]
    return lines


def add_history(header: fits.Header, params: FluximageParameters) -> None:
    header.add_comment(f"fluximage version {__version__}")
    for line in history_cards(params):
        header.add_history(line)


@dataclass
class FileList:
    """Created files under CIAO's labels, in the order they are listed."""

    blocks: dict[str, list[str]] = field(default_factory=dict)

    def add(self, label: str, path: str) -> None:
        self.blocks.setdefault(label, []).append(path)

    def lines(self) -> list[str]:
        out = ["The following files were created:", ""]
        for label, files in self.blocks.items():
            out.append(f" The {label}s are:" if len(files) > 1 else f" The {label} is:")
            out.extend(f"     {f}" for f in files)
            out.append("")
        return out

    @property
    def paths(self) -> list[str]:
        return [f for files in self.blocks.values() for f in files]


#: Listing order (§9.3): cleanup=yes shows the finals; cleanup=no every product.
ORDER_CLEANUP = [
    "clipped counts image", "binned counts image", "observation FOV", "clipped exposure map",
    "exposure map", "PSF map", "exposure-corrected image",
]  # fmt: skip
ORDER_ALL = [
    "clipped counts image", "binned counts image", "aspect histogram", "instrument map",
    "observation FOV", "clipped exposure map", "PSF map", "exposure map",
    "exposure-corrected image",
]  # fmt: skip


def ordered(files: FileList, cleanup: bool) -> FileList:
    order = ORDER_CLEANUP if cleanup else ORDER_ALL
    out = FileList()
    for label in order:
        for path in files.blocks.get(label, []):
            out.add(label, path)
    return out
