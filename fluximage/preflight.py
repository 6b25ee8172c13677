"""Checks made when the grid, the aspect solution and the calibration are known, before any
map is computed: memory of the output grid, aspect coverage of the good time, CALDB bad
pixels; and the instrument-map energies the calibration's caveats depend on."""

from __future__ import annotations

from .calib.interface import Calibration
from .geometry.grid import Grid
from .inputs.aspect import AspectSolution
from .inputs.resolve import Inputs
from .memory import IMAGE_BYTES_PER_PIXEL_BAND, physical_memory
from .messages import FluximageError, Reporter
from .stages.asphist import aspect_coverage, chip_gti

__all__ = [
    "CHIP_SPAN_SKY_PIXELS",
    "COVERAGE_REFUSE",
    "COVERAGE_WARN",
    "band_energies",
    "check_aspect_coverage",
    "check_caldb_bad_pixels",
    "check_grid_memory",
    "grid_memory_needed",
]


#: Sky pixels a chip spans, dither included (ACIS 1024 × 0.492″ chips; HRC-I 16384 and HRC-S
#: 16456 pixels of 0.13175″, sky pixels of the same size).
CHIP_SPAN_SKY_PIXELS = {"ACIS": 1100.0, "HRC-I": 16700.0, "HRC-S": 16700.0}


def grid_memory_needed(grid: Grid, n_bands: int, n_chips: int, detector: str) -> int:
    """Bytes the images on the output grid take: per band the counts image, the combined
    and thresholded maps and the flux image (about 40 bytes a pixel), and each chip's
    exposure map over its footprint (8 bytes a pixel)."""
    pixels = grid.x.n * grid.y.n
    span = CHIP_SPAN_SKY_PIXELS["ACIS" if detector.startswith("ACIS") else detector]
    footprint = min(pixels, (1.5 * span / min(grid.x.step, grid.y.step)) ** 2)
    return int(n_bands * (IMAGE_BYTES_PER_PIXEL_BAND * pixels + 8 * n_chips * footprint))


def check_grid_memory(grid: Grid, n_bands: int, n_chips: int, detector: str) -> None:
    """Refuse, before anything is allocated, images that cannot fit in this machine."""
    need, have = grid_memory_needed(grid, n_bands, n_chips, detector), physical_memory()
    if have is not None and need > 0.8 * have:
        raise FluximageError(
            f"The output grid has {grid.x.n} by {grid.y.n} pixels of {grid.x.step:g} sky "
            f"pixels and needs about {need / 2**30:.3g} GB of memory for "
            f"{n_bands} band{'s' if n_bands > 1 else ''}, "
            f"more than this machine has ({have / 2**30:.0f} GB); use a larger binsize or a "
            "smaller xygrid."
        )


#: An output file larger than this gets a warning with its size (MB).
LARGE_IMAGE_MB = 500.0


def large_image_warning(grid: Grid, n_bands: int) -> str | None:
    """The warning for images of more than :data:`LARGE_IMAGE_MB` each (an exposure or flux
    image: 8 bytes a pixel), with the sizes, before they are made."""
    each = grid.x.n * grid.y.n * 8 / 1e6
    if each <= LARGE_IMAGE_MB:
        return None
    return (f"WARNING: the output images have {grid.x.n} by {grid.y.n} pixels: each exposure "
            f"map and flux image takes {each:.0f} MB (about {each * 2.5 * n_bands / 1e3:.1f} GB "
            f"of files for {n_bands} band{'s' if n_bands > 1 else ''}); a larger binsize "
            "makes them smaller.")  # fmt: skip


def check_caldb_bad_pixels(inputs: Inputs, calibration: Calibration) -> None:
    """badpixfile=CALDB asked for explicitly: a calibration without the file would apply no
    bad pixels at all (CIAO fails without a CALDB)."""
    if inputs.params.badpixfile.lower() != "caldb":
        return
    detector = inputs.obs.detector
    if calibration.bad_pixel_file(detector, inputs.obs.tstart) is None:
        where = ("the built-in calibration has none" if not calibration.source.startswith("CALDB")
                 else f"the {calibration.source} has none for {detector}")  # fmt: skip
        raise FluximageError(
            f"badpixfile=CALDB asks for the CALDB bad-pixel file, but {where}; set $CALDB to "
            "a Chandra CALDB, give the observation's bpix1 file, or set badpixfile=NONE"
        )


#: Below this fraction of a chip's good time covered by the aspect solution, no exposure map
#: is made; below COVERAGE_WARN, the shortfall is reported with the numbers.
COVERAGE_REFUSE, COVERAGE_WARN = 0.01, 0.99


def check_aspect_coverage(inputs: Inputs, aspect: AspectSolution, report: Reporter) -> None:
    """asphist gives exposure only to the good time the aspect solution covers, while the
    counts come from all of it: refuse when almost nothing is covered, warn when part is."""
    obs = inputs.obs
    asols = ",".join(a.path for a in inputs.asol)
    for chip in inputs.chips:
        covered, good = aspect_coverage(aspect.time, chip_gti(obs, chip, inputs.events.filter))
        if good <= 0:
            continue
        where = f"the {good:.1f} s of good time of {obs.chip_column}={chip}"
        if covered < COVERAGE_REFUSE * good:
            raise FluximageError(
                f"The aspect solution ({asols}) covers {covered:.1f} s of {where}: "
                "too little for an exposure map"
            )
        if covered < COVERAGE_WARN * good:
            report(
                f"WARNING: the aspect solution covers {covered:.1f} s of {where} "
                f"({100 * covered / good:.1f} %); the exposure map counts only that time, "
                "the counts image all of it"
            )


def band_energies(bands, units: str) -> list[float]:
    """The energies (keV) the instrument maps are made at (none for units=time)."""
    if units == "time":
        return []
    out = []
    for band in bands:
        if band.weights_file is None:
            out.append(band.instmap_energy)
        else:
            weights = band.weights
            out.extend(float(e) for e, w in zip(weights.energy_kev, weights.weight, strict=True)
                       if w > 0)  # fmt: skip
    return out
