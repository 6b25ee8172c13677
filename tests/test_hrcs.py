"""HRC-S end to end: three plates on their full 4096 x 16456 mkinstmap grids, per-plate
maps combined; a simulated flat field comes out flat across the plates."""

from __future__ import annotations

import numpy as np

import fluximage
from fluximage.simulate import FlatField, Spectrum, simulate


def test_hrcs_flat_field_is_flat_across_plates(tmp_path):
    flux = 6e-5  # photon/cm²/s/arcmin² at 1.5 keV
    obs = simulate(tmp_path / "obs", "HRC-S", [FlatField(flux, Spectrum.monochromatic(1.5))],
                   exposure_s=10000, seed=3)  # fmt: skip
    assert obs.chips == (1, 2, 3)
    result = fluximage.run(str(obs.evt), str(tmp_path / "out") + "/", binsize=64,
                           bands="::1.5", expmapthresh="none", verbose=0)  # fmt: skip
    combined, counts = result.combined["all"], result.prepared.counts["all"]
    pixel_arcmin2 = (64 * 0.13175 / 60) ** 2
    for plate in (1, 2, 3):
        plate_map = result.expmaps[plate, "all"]
        inside = (plate_map > 0.5 * combined.max()) & (plate_map == combined)
        assert inside.sum() > 5000
        measured = counts[inside].sum() / plate_map[inside].sum()
        error = np.sqrt(counts[inside].sum()) / plate_map[inside].sum()
        assert abs(measured - flux * pixel_arcmin2) < 4 * error, plate
    assert sorted(c for c, _ in result.expmaps) == [1, 2, 3]
    assert all(
        m.pixels.nx == 4096 and m.pixels.ny == 16456 for m in result.prepared.instmaps.values()
    )
