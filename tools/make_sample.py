"""Make the bundled sample observation in fluximage/sample/ (deterministic).

    python3 tools/make_sample.py [OUTDIR]

ACIS-I, 15 ks (2012), gzipped: five point sources 0.5′-7.9′ off axis on the four
I chips, a faint extended disk (r = 75″) and a faint flat field, all with a photon
spectrum flat over 0.5-7 keV in 0.25-keV bins (``SPECTRUM``).  Running it again writes
the same bytes.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

from fluximage.simulate import (
    DiskSource,
    FlatField,
    PointSource,
    Spectrum,
    chip_radec,
    simulate,
)

RA, DEC, ROLL = 187.25, 2.05, 45.0
SPECTRUM = Spectrum.flat(0.5, 7.0, step_kev=0.25)


def _at(chip: int, chipx: float, chipy: float) -> tuple[float, float]:
    return chip_radec("ACIS-I", chip, chipx, chipy, RA, DEC, ROLL)


SOURCES = [
    PointSource(*_at(3, 940, 960), 6e-4, SPECTRUM),  # 0.5′ off axis, I3
    PointSource(*_at(3, 400, 500), 3e-4, SPECTRUM),  # 6.3′, I3
    PointSource(*_at(0, 300, 700), 3e-4, SPECTRUM),  # 7.1′, I0
    PointSource(*_at(1, 600, 300), 4e-4, SPECTRUM),  # 7.9′, I1
    PointSource(*_at(2, 800, 800), 5e-4, SPECTRUM),  # 6.6′, I2
    DiskSource(*_at(2, 400, 350), 75.0, 1.5e-3, SPECTRUM),
    FlatField(1.5e-6, SPECTRUM),
]


def make(directory: Path):
    """Write the sample into ``directory``; returns the SimulatedObservation."""
    return simulate(
        directory,
        instrument="ACIS-I",
        sources=SOURCES,
        exposure_s=15000.0,
        seed=20240607,
        ra_nom=RA,
        dec_nom=DEC,
        roll_nom=ROLL,
        date_obs="2012-06-15T00:00:00",
        obsid=90001,
        object_name="FLUXIMAGE SAMPLE",
        aspect_step_s=8.2,
        compress=True,
    )


def main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parent.parent / "fluximage" / "sample"
    directory = Path(argv[0]) if argv else default
    obs = make(directory)
    # fluximage 0.1.0 finds msk1.fits.gz but then opens the name without .gz (see
    # inputs/ancillary.py resolve_optional), so the sample's small mask file is not gzipped
    plain = obs.mask.with_suffix("")
    plain.write_bytes(gzip.decompress(obs.mask.read_bytes()))
    obs.mask.unlink()
    for line in obs.lines():
        print(line.replace(obs.mask.name, plain.name))
    total = sum(p.stat().st_size for p in directory.glob("*.fits*"))
    print(f"total size {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
