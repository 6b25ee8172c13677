"""The end of a run: which files are kept, their HISTORY record, the list on screen (§4.3, §9)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from astropy.io import fits

from ._version import __version__
from .fitswrite import ascii_text, utc_now
from .parameters import FluximageParameters
from .products import (
    EXPMAP_BUNIT,
    Transaction,
    asphist_hdu,
    background_events_hdu,
    background_image_hdu,
    counts_hdu,
    expmap_hdu,
    flux_hdu,
    fov_hdu,
    instmap_hdu,
    psfmap_hdu,
)
from .stages.divide import flux_bunit

if TYPE_CHECKING:
    from .pipeline import Result
    from .stages.background import Subtraction

HISTORY_WIDTH = 64  # "PARM  :" + 64 characters fit the 72 of a HISTORY card


def history_cards(params: FluximageParameters, instrument: str = "") -> list[str]:
    """The parameters used, as CIAO's ``TOOL :``/``PARM :`` HISTORY records (non-ASCII
    characters of paths as ``\\xNN`` of their UTF-8 bytes)."""
    stamp = utc_now()
    lines = [f"TOOL  :fluximage  {stamp}"]
    for name, value in params.history_values(instrument).items():
        text = ascii_text(f"{name}={value}")
        first, rest = text[:HISTORY_WIDTH], text[HISTORY_WIDTH:]
        lines.append(f"PARM  :{first}")
        while rest:
            lines.append(f"CONT  :{rest[:HISTORY_WIDTH]}")
            rest = rest[HISTORY_WIDTH:]
    return lines


def add_history(header: fits.Header, params: FluximageParameters, instrument: str = "") -> None:
    header.add_comment(f"fluximage version {__version__}")
    for line in history_cards(params, instrument):
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
    "clipped counts image", "binned counts image", "particle background events file",
    "unsubtracted background counts image", "particle background counts image",
    "aspect histogram", "instrument map", "observation FOV", "clipped exposure map",
    "PSF map", "exposure map", "exposure-corrected image",
]  # fmt: skip


def ordered(files: FileList, cleanup: bool) -> FileList:
    order = ORDER_CLEANUP if cleanup else ORDER_ALL
    out = FileList()
    for label in order:
        for path in files.blocks.get(label, []):
            out.add(label, path)
    return out


def write_products(result: Result, products: Transaction) -> FileList:
    """Write what the cleanup rules keep (§4.2–4.3); every kept file gets the HISTORY record."""
    prepared = result.prepared
    inputs = prepared.inputs
    params, obs, names, grid = inputs.params, inputs.obs, inputs.names, prepared.grid
    cal, units, keep_all = prepared.calibration.source, params.units, not params.cleanup
    files = FileList()

    def put(label: str, path: str, hdu) -> None:
        add_history(hdu.header, params, obs.instrument)
        products.write(path, hdu)
        files.add(label, path)

    threshold_on = params.threshold_on
    bgnd = prepared.background
    extra = bgnd.keywords if bgnd is not None else None
    for band in inputs.bands:
        b = band.label
        if threshold_on:
            counts = result.thresholded[b][0]
            put(
                "clipped counts image",
                names.thresh_counts(b),
                counts_hdu(obs, grid, band, counts, cal, extra),
            )
        if keep_all or not threshold_on:
            put(
                "binned counts image",
                names.counts(b),
                counts_hdu(obs, grid, band, prepared.counts[b], cal, extra),
            )
    if keep_all and bgnd is not None:
        _background_files(bgnd, inputs, grid, cal, put)
    if keep_all:
        for chip in inputs.chips:
            put(
                "aspect histogram",
                names.asphist(chip),
                asphist_hdu(obs, prepared.asphists[chip], cal),
            )
        for (chip, b), m in prepared.instmaps.items():
            band = next(x for x in inputs.bands if x.label == b)
            hdu = instmap_hdu(obs, chip, band, m.pixels, m.data, units, m.detsubsys, cal)
            put("instrument map", names.instmap(chip, b), hdu)
    put("observation FOV", names.fov, fov_hdu(obs, prepared.fov, cal))
    for band in inputs.bands:
        b = band.label
        if threshold_on:
            put("clipped exposure map", names.thresh_expmap(b),
                expmap_hdu(obs, grid, band, result.thresholded[b][1], units, cal))  # fmt: skip
    for band in inputs.bands:
        if band.label in result.psfmaps:
            hdu = psfmap_hdu(obs, grid, band, result.psfmaps[band.label], params.psfecf,
                             result.psf_source, cal)  # fmt: skip
            put("PSF map", names.psfmap(band.label, threshold_on), hdu)
    if keep_all:
        for (chip, b), m in result.expmaps.items():
            band = next(x for x in inputs.bands if x.label == b)
            put(
                "exposure map",
                names.chip_expmap(chip, b),
                expmap_hdu(obs, grid, band, m, units, cal, chip),
            )
    for band in inputs.bands:
        b = band.label
        if keep_all or not threshold_on:
            put(
                "exposure map",
                names.expmap(b),
                expmap_hdu(obs, grid, band, result.combined[b], units, cal),
            )
    for band in inputs.bands:
        bunit = flux_bunit("", EXPMAP_BUNIT[units])
        put("exposure-corrected image", names.flux(band.label),
            flux_hdu(obs, grid, band, result.flux[band.label], bunit, cal, extra))  # fmt: skip
    return ordered(files, params.cleanup)


def _background_files(bgnd: Subtraction, inputs, grid, cal, put) -> None:
    """The HRC-I intermediates (cleanup=no): PHRC-I_bkg.fits, PB_unsubtracted.img and
    PB_particle_bgnd.img."""
    obs, names, events = inputs.obs, inputs.names, bgnd.reprojected
    if events.columns is not None:
        hdu = background_events_hdu(events.header, events.names, events.columns, obs, cal)
        put("particle background events file", names.hrci_background_events, hdu)
    for band in inputs.bands:
        b = band.label
        put("unsubtracted background counts image", names.unsubtracted(b),
            counts_hdu(obs, grid, band, bgnd.unsubtracted[b], cal))  # fmt: skip
    for band in inputs.bands:
        hdu = background_image_hdu(events.header, obs, grid, band, events.images[band.label], cal)
        put("particle background counts image", names.particle_background(band.label), hdu)
