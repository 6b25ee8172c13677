"""The end of a run: which files are kept, their HISTORY record, the list on screen
(docs/parameters/cleanup.md, docs/outputs.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from astropy.io import fits

from ._version import __version__
from .fitswrite import Cards, ImageFile, utc_now
from .parameters import FluximageParameters
from .products import (
    EXPMAP_BUNIT,
    asphist_hdu,
    background_events_hdu,
    background_image_header,
    combined_expmap_header,
    counts_hdu,
    counts_header,
    expmap_hdu,
    expmap_header,
    flux_hdu,
    fov_hdu,
    instmap_hdu,
    psfmap_hdu,
    subtracted_counts_header,
)
from .provenance import Step, Steps, history_lines
from .stages.divide import flux_bunit
from .transaction import Transaction

if TYPE_CHECKING:
    from .pipeline import Result
    from .stages.background import Subtraction

__all__ = [
    "ORDER_ALL",
    "ORDER_CLEANUP",
    "FileList",
    "ImageHeaders",
    "add_history",
    "history_cards",
    "ordered",
    "write_products",
]


def history_cards(
    params: FluximageParameters, instrument: str = "", stamp: str | None = None
) -> list[str]:
    """The parameters used, as CIAO's ``TOOL :``/``PARM :`` HISTORY records."""
    return history_lines("fluximage", params.history_values(instrument).items(),
                         stamp or utc_now())  # fmt: skip


def add_history(
    header: fits.Header | Cards,
    params: FluximageParameters,
    instrument: str = "",
    steps: Sequence[Step] = (),
) -> None:
    """The records of the ``steps`` that made the file, then fluximage's
    (docs/outputs.md#the-history-records)."""
    stamp = utc_now()
    for s in steps:
        for line in history_lines(s.tool, s.parameters, stamp):
            header.add_history(line)
    header.add_comment(f"fluximage version {__version__}")
    for line in history_cards(params, instrument, stamp):
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


#: Listing order (docs/outputs.md#the-list-on-screen): cleanup=yes shows the finals; cleanup=no
# every product.
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
    """Write what the cleanup rules keep (docs/outputs.md); every kept file gets the HISTORY
    records of the steps that made it and fluximage's own."""
    prepared = result.prepared
    inputs = prepared.inputs
    params, obs, names, grid = inputs.params, inputs.obs, inputs.names, prepared.grid
    cal, units, keep_all = prepared.calibration.source, params.units, not params.cleanup
    files = FileList()
    headers = _image_headers(result)
    steps = Steps(prepared)

    def put(label: str, path: str, hdu, made_by: Sequence[Step]) -> None:
        add_history(hdu.header, params, obs.instrument, made_by)
        products.write(path, hdu)
        files.add(label, path)

    threshold_on = params.threshold_on
    bgnd = prepared.background
    for band in inputs.bands:
        b = band.label
        if threshold_on:
            hdu = counts_hdu(obs, grid, band, result.thresholded[b][0], header=headers.counts[b])
            put("clipped counts image", names.thresh_counts(b), hdu, steps.thresh_counts(band))
        if keep_all or not threshold_on:
            hdu = counts_hdu(obs, grid, band, prepared.counts[b], header=headers.counts[b])
            put("binned counts image", names.counts(b), hdu, steps.counts(band))
    if keep_all and bgnd is not None:
        _background_files(bgnd, inputs, grid, cal, put, steps)
    if keep_all:
        for chip in inputs.chips:
            hdu = asphist_hdu(obs, prepared.asphists[chip], cal)
            put("aspect histogram", names.asphist(chip), hdu, steps.asphist(chip))
        for band in inputs.bands:  # band by band, as CIAO lists them
            for chip in inputs.chips:
                m = prepared.instmaps[chip, band.label]
                hdu = instmap_hdu(obs, chip, band, m.pixels, m.data, units, m.detsubsys, cal)
                put("instrument map", names.instmap(chip, band.label), hdu,
                    steps.instmap(chip, band))  # fmt: skip
    put("observation FOV", names.fov, fov_hdu(obs, prepared.fov, cal), steps.fov())
    for band in inputs.bands:
        b = band.label
        if threshold_on:
            hdu = expmap_hdu(headers.expmap[b], result.thresholded[b][1])
            put("clipped exposure map", names.thresh_expmap(b), hdu, steps.thresh_expmap(band))
    for band in inputs.bands:
        if band.label in result.psfmaps:
            hdu = psfmap_hdu(obs, grid, band, result.psfmaps[band.label], params.psfecf,
                             result.psf_source, cal)  # fmt: skip
            put("PSF map", names.psfmap(band.label, threshold_on), hdu, steps.psfmap(band))
    for band in inputs.bands:  # each band's chip maps, then its combined map
        b = band.label
        if keep_all:
            for chip in inputs.chips:
                hdu = expmap_hdu(headers.chip_expmap[chip, b], result.expmaps[chip, b])
                put("exposure map", names.chip_expmap(chip, b), hdu, steps.chip_expmap(chip, band))
        if keep_all or not threshold_on:
            hdu = expmap_hdu(headers.expmap[b], result.combined[b])
            put("exposure map", names.expmap(b), hdu, steps.expmap(band))
    for band in inputs.bands:
        b = band.label
        bunit = flux_bunit("", EXPMAP_BUNIT[units])
        hdu = flux_hdu(headers.counts[b], headers.expmap[b], band, result.flux[b], bunit)
        put("exposure-corrected image", names.flux(b), hdu, steps.flux(band))
    return ordered(files, params.cleanup)


@dataclass
class ImageHeaders:
    """The headers of the image products, by band label (per-chip maps by (chip, label)).

    Thresholding keeps a header as it is (dmimgthresh copies it); combining images
    merges their headers (:mod:`.header_merge`): the per-chip exposure maps into the
    band's map, the counts and exposure map into the flux image, and for HRC-I the
    unsubtracted counts and the particle background into the subtracted counts.
    """

    counts: dict[str, Cards]
    chip_expmap: dict[tuple[int, str], Cards]
    expmap: dict[str, Cards]


def _image_headers(result: Result) -> ImageHeaders:
    prepared = result.prepared
    inputs = prepared.inputs
    obs, grid, units = inputs.obs, prepared.grid, inputs.params.units
    cal, bgnd = prepared.calibration.source, prepared.background
    counts, chip_expmap, expmap = {}, {}, {}
    for band in inputs.bands:
        b = band.label
        if bgnd is None:
            counts[b] = counts_header(obs, grid, band, cal)
        else:
            events = bgnd.reprojected
            counts[b] = subtracted_counts_header(
                counts_header(obs, grid, band, cal),
                background_image_header(events.header, obs, grid, band, cal),
                bgnd.keywords,
            )
        for chip in inputs.chips:
            chip_expmap[chip, b] = expmap_header(obs, grid, band, units, cal, chip)
        expmap[b] = combined_expmap_header([chip_expmap[c, b] for c in inputs.chips], obs)
    return ImageHeaders(counts, chip_expmap, expmap)


def _background_files(bgnd: Subtraction, inputs, grid, cal, put, steps: Steps) -> None:
    """The HRC-I intermediates (cleanup=no): PHRC-I_bkg.fits, PB_unsubtracted.img and
    PB_particle_bgnd.img."""
    obs, names, events = inputs.obs, inputs.names, bgnd.reprojected
    if events.columns is not None:
        hdu = background_events_hdu(events.header, events.names, events.columns, obs, cal)
        put("particle background events file", names.hrci_background_events, hdu,
            steps.background_events())  # fmt: skip
    for band in inputs.bands:
        b = band.label
        hdu = counts_hdu(obs, grid, band, bgnd.unsubtracted[b], cal)
        put("unsubtracted background counts image", names.unsubtracted(b), hdu,
            steps.unsubtracted(band))  # fmt: skip
    for band in inputs.bands:
        header = background_image_header(events.header, obs, grid, band, cal)
        hdu = ImageFile(header, events.images[band.label].astype("int32", copy=False))
        put("particle background counts image", names.particle_background(band.label), hdu,
            steps.particle_background(band))  # fmt: skip
