"""HISTORY records of the steps that made each product, as CIAO's tools leave them.

In CIAO every tool fluximage runs adds its own ``TOOL :``/``PARM :`` block to the file
it writes, and a file made from others inherits their blocks: a flux image carries
the dmcopy that binned the counts, the dmimgthresh that clipped them and the dmimgcalc
that divided them, then fluximage's own block (docs/outputs.md#the-history-records).  We run no
CIAO tool, so the
records describe the equivalent step with the parameter values CIAO's fluximage would
have passed (docs/architecture.md; file names as the products' names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .fitswrite import ascii_text
from .stages.asphist import resolution_xy
from .stages.instmap import detsubsys
from .stages.mkinstmap import pixel_grid

if TYPE_CHECKING:
    from .inputs.bands import Band
    from .pipeline import Prepared

HISTORY_WIDTH = 64  # "PARM  :" + 64 characters fit the 72 of a HISTORY card

__all__ = ["Step", "Steps", "history_lines"]


@dataclass(frozen=True)
class Step:
    """One tool run: its name and its parameters, as text."""

    tool: str
    parameters: tuple[tuple[str, str], ...]


def step(tool: str, **parameters: object) -> Step:
    return Step(tool, tuple((name, str(value)) for name, value in parameters.items()))


def history_lines(tool: str, parameters, stamp: str) -> list[str]:
    """CIAO's ``TOOL  :``/``PARM  :``/``CONT  :`` records of one tool run (non-ASCII
    characters of paths as ``\\xNN`` of their UTF-8 bytes)."""
    lines = [f"TOOL  :{tool}  {stamp}"]
    for name, value in parameters:
        text = ascii_text(f"{name}={value}")
        first, rest = text[:HISTORY_WIDTH], text[HISTORY_WIDTH:]
        lines.append(f"PARM  :{first}")
        while rest:
            lines.append(f"CONT  :{rest[:HISTORY_WIDTH]}")
            rest = rest[HISTORY_WIDTH:]
    return lines


class Steps:
    """The chain of steps behind each product of a run (a list of :class:`Step`)."""

    def __init__(self, prepared: Prepared) -> None:
        inputs = prepared.inputs
        self.inputs, self.prepared = inputs, prepared
        self.names = inputs.names
        self.params = inputs.params
        self.clobber = "yes" if self.params.clobber else "no"
        self.asol = ",".join(a.path for a in inputs.asol)
        self.threshold = self.params.threshold_on
        # the intermediates may be gone (cleanup=yes): their settings are made again
        grid = prepared.grid
        self.detector = inputs.obs.detector
        self.pixelgrid = pixel_grid(self.detector, inputs.output_binsize(grid)).text
        self.res_xy = resolution_xy(grid.pixel_arcsec)

    # ---- counts -----------------------------------------------------------------

    def counts(self, band: Band) -> list[Step]:
        """PB.img: binned by dmcopy; for HRC-I, then the particle background subtracted."""
        obs, grid = self.inputs.obs, self.prepared.grid
        grating = "[tg_m=0,Null]" if obs.instrument == "ACIS" and obs.grating != "NONE" else ""
        out = self.names.counts(band.label)
        binned = f"{obs.spec}{grating}[bin {grid.text}]{band.filter}[opt type=i4]"
        steps = [step("dmcopy", infile=binned, outfile=out, clobber=self.clobber)]
        bgnd = self.prepared.background
        if bgnd is not None:
            steps.append(step(
                "dmimgcalc",
                infile=f"{self.names.unsubtracted(band.label)},"
                       f"{self.names.particle_background(band.label)}",
                infile2="", outfile=out, operation=f"imgout=img1-({bgnd.scale.value!r}*img2)",
                clobber="yes",
            ))  # fmt: skip
        return steps

    def thresh_counts(self, band: Band) -> list[Step]:
        return [*self.counts(band), self._thresh(self.names.counts(band.label),
                                                 self.names.thresh_counts(band.label),
                                                 self.names.expmap(band.label))]  # fmt: skip

    def _thresh(self, infile: str, outfile: str, expfile: str) -> Step:
        return step("dmimgthresh", infile=infile, outfile=outfile, expfile=expfile,
                    cut=self.params.expmapthresh, value=0.0, clobber=self.clobber)  # fmt: skip

    # ---- per chip ---------------------------------------------------------------

    def asphist(self, chip: int) -> list[Step]:
        obs = self.inputs.obs
        return [step("asphist", infile=self.asol, outfile=self.names.asphist(chip),
                     evtfile=f"{obs.spec}[{obs.chip_column}={chip}]",
                     dtffile=self.inputs.dtf or "",
                     res_xy=self.res_xy,
                     clobber=self.clobber)]  # fmt: skip

    def instmap(self, chip: int, band: Band) -> list[Step]:
        obs, units = self.inputs.obs, self.params.units
        mask = self.inputs.mask or "NONE"
        if obs.instrument == "HRC" and self.inputs.mask:
            mask = f"{self.inputs.mask}[MASK{chip}]"
        return [step("mkinstmap", outfile=self.names.instmap(chip, band.label),
                     spectrumfile=band.weights_file or "NONE",
                     monoenergy=band.instmap_energy, pixelgrid=self.pixelgrid,
                     obsfile=obs.path, detsubsys=detsubsys(self.detector, chip, units),
                     grating=obs.grating,
                     maskfile=mask, mirror="HRMA;area=1" if units == "time" else "HRMA",
                     dafile="NONE" if units == "time" else "CALDB",
                     clobber=self.clobber)]  # fmt: skip

    def chip_expmap(self, chip: int, band: Band) -> list[Step]:
        return [*self.instmap(chip, band), step(
            "mkexpmap", asphistfile=f"{self.names.asphist(chip)}[asphist]",
            outfile=self.names.chip_expmap(chip, band.label),
            instmapfile=self.names.instmap(chip, band.label),
            xygrid=self.prepared.grid.text,
            normalize="yes" if self.params.units == "area" else "no", useavgaspect="no",
            clobber=self.clobber,
        )]  # fmt: skip

    # ---- per band ---------------------------------------------------------------

    def expmap(self, band: Band) -> list[Step]:
        """PB.expmap: one chip's map copied, or the chips' maps summed by dmimgcalc."""
        chips, b = self.inputs.chips, band.label
        out = self.names.expmap(b)
        first = self.chip_expmap(chips[0], band)
        if len(chips) == 1:
            return [*first, step("dmcopy", infile=self.names.chip_expmap(chips[0], b),
                                 outfile=out, clobber=self.clobber)]  # fmt: skip
        stack = ",".join(self.names.chip_expmap(c, b) for c in chips)
        total = "+".join(f"img{i + 1}" for i in range(len(chips)))
        return [*first, step("dmimgcalc", infile=stack, infile2="",
                             outfile=f"{out}[EXPMAP]", operation=f"imgout={total}",
                             clobber=self.clobber)]  # fmt: skip

    def thresh_expmap(self, band: Band) -> list[Step]:
        b = band.label
        return [*self.expmap(band),
                self._thresh(self.names.expmap(b), self.names.thresh_expmap(b), "")]  # fmt: skip

    def _image_pair(self, band: Band) -> tuple[list[Step], str, str]:
        b = band.label
        if self.threshold:
            return self.thresh_counts(band), self.names.thresh_counts(b), (
                self.names.thresh_expmap(b))  # fmt: skip
        return self.counts(band), self.names.counts(b), self.names.expmap(b)

    def flux(self, band: Band) -> list[Step]:
        counts, image, expmap = self._image_pair(band)
        return [*counts, step("dmimgcalc", infile=image, infile2=expmap,
                              outfile=f"{self.names.flux(band.label)}[PFLUX_IMAGE]",
                              operation="div", weight=1, weight2=1,
                              clobber=self.clobber)]  # fmt: skip

    def psfmap(self, band: Band) -> list[Step]:
        counts, image, expmap = self._image_pair(band)
        out = self.names.psfmap(band.label, self.threshold)
        energy = "INDEF" if band.weights_file else band.instmap_energy
        return [*counts, step("mkpsfmap", infile=f"{image}[sky=MASK({expmap})]",
                              outfile=f"{out}[PSFMAP]", energy=energy,
                              spectrum=band.weights_file or "", ecf=self.params.psfecf,
                              clobber="yes")]  # fmt: skip

    # ---- the rest ---------------------------------------------------------------

    def fov(self) -> list[Step]:
        obs = self.inputs.obs
        chips = ",".join(str(c) for c in self.inputs.chips)
        return [step("skyfov", infile=f"{obs.spec}[{obs.chip_column}={chips}]",
                     outfile=self.names.fov, aspect=self.asol,
                     mskfile=self.inputs.mask or "NONE", kernel="FITS",
                     clobber="yes")]  # fmt: skip

    def background_events(self) -> list[Step]:
        source = self.inputs.background
        assert source is not None
        return [step("reproject_events", infile=source.spec,
                     outfile=self.names.hrci_background_events, aspect=self.asol,
                     match=self.inputs.obs.path, random=self.params.random,
                     clobber="yes")]  # fmt: skip

    def unsubtracted(self, band: Band) -> list[Step]:
        """PB_unsubtracted.img: the binning step of PB.img, under its own name."""
        binning = dict(self.counts(band)[0].parameters)
        binning["outfile"] = self.names.unsubtracted(band.label)
        return [Step("dmcopy", tuple(binning.items()))]

    def particle_background(self, band: Band) -> list[Step]:
        grid = self.prepared.grid
        return [*self.background_events(), step(
            "dmcopy",
            infile=f"{self.names.hrci_background_events}[bin {grid.text}]{band.filter}"
                   "[opt type=i4]",
            outfile=self.names.particle_background(band.label), clobber="yes",
        )]  # fmt: skip
