"""Speed of the fast exposure map against the direct (reference) one, on the MARX sets.

    python benchmarks/bench_expmap.py [--repeat N] [--shared DIR]

ACIS-I: chip 3 on the automatic grid of all four I chips (bin 8, res_xy 1.968″), a
realistic instrument map (smooth gradient, bad columns, frame-store rows).  HRC-I:
bin 32 (instmap binned by 32).  Prints times, the speed ratio and the agreement.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from fluximage.geometry import Detector, load_geometry
from fluximage.geometry.grid import automatic_grid
from fluximage.inputs.aspect import read_aspect
from fluximage.inputs.dmfilter import parse_filter
from fluximage.inputs.observation import read_observation
from fluximage.messages import Reporter
from fluximage.stages.asphist import chip_histogram, max_bins, resolution_xy
from fluximage.stages.expmap import exposure_map, exposure_map_direct
from fluximage.stages.fov import field_of_view
from fluximage.stages.instmap import InstrumentMap
from fluximage.stages.mkinstmap import PixelGrid

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CASES = {"acisi": ([0, 1, 2, 3], 3, 8, 1), "hrci": ([0], 0, 32, 32)}


def test_map(chip: int, pixels: PixelGrid) -> InstrumentMap:
    """A smooth gradient with zeroed bad columns and rows (float32)."""
    cx, cy = pixels.centres()
    n = pixels.nx * pixels.bin
    data = 300.0 * (1.0 + 0.3 * cx / n - 0.2 * cy / n)
    for col in (0.29, 0.30, 0.68):
        data[:, int(col * pixels.nx)] = 0.0
    data[: max(1, 8 // pixels.bin)] = 0.0
    return InstrumentMap(chip, "broad", pixels, data.astype(np.float32), "")


def setup(name: str, shared: Path):
    chips, chip, binsize, map_bin = CASES[name]
    d = shared / f"marx-sim-{name}"
    obs = read_observation(str(d / f"marx_{name}_evt2.fits"), None, "", Reporter(verbose=0))
    det = Detector.from_header(load_geometry(), obs.header)
    aspect = read_aspect([str(d / f"marx_{name}_asol1.fits")])
    frame = obs.sky.frame
    res = resolution_xy(binsize * obs.arcsec_per_pixel)
    hist = chip_histogram(obs, chip, aspect, frame, res, max_bins([aspect], res), parse_filter(""))
    fovs = field_of_view(det, chips, None, aspect.aspect, frame, "convexhull")
    grid = automatic_grid(
        [f.x_range for f in fovs], [f.y_range for f in fovs], obs.sky.x_limits,
        obs.sky.y_limits, binsize, obs.arcsec_per_pixel, lambda: "no overlap",
    )  # fmt: skip
    n = 1024 if name == "acisi" else 16384
    pixels = PixelGrid(n // map_bin, n // map_bin, map_bin)
    return det, chip, test_map(chip, pixels), hist, grid, frame


def best_time(f, repeat: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--cases", nargs="*", default=["acisi"], choices=sorted(CASES))
    args = ap.parse_args(argv)
    for name in args.cases:
        det, chip, instmap, hist, grid, frame = setup(name, args.shared)
        call = (det, chip, instmap, hist, grid, frame, False)
        fast_s, fast = best_time(lambda: exposure_map(*call), args.repeat)  # noqa: B023
        direct_s, direct = best_time(lambda: exposure_map_direct(*call), 1)  # noqa: B023
        top = direct.max()
        print(
            f"{name} chip {chip}: grid {grid.x.n}x{grid.y.n} ({grid.text}), {len(hist)} bins, "
            f"map {instmap.pixels.nx}x{instmap.pixels.ny} (bin {instmap.pixels.bin})\n"
            f"  fast {fast_s:.3f} s, direct {direct_s:.2f} s, ratio {direct_s / fast_s:.0f}x; "
            f"max |fast - direct| / max = {np.abs(fast - direct).max() / top:.1e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
