"""The benchmark suite (issue 9): whole runs on simulated observations, one process each.

    python benchmarks/suite.py                   # every case; prints a table
    python benchmarks/suite.py --cases acisi-bin8,hrci-bin32
    python benchmarks/suite.py --large           # also the 1e8-event file (~6 GB on disk)
    python benchmarks/suite.py --repeat 3        # each case 3 times: the median run

The 1e7-event case (``acisi-1e7``) and the 1e8-event one repeat the ACIS-I event list
10 and 100 times in one file: the run's fixed cost (instrument and exposure maps) stays,
the event I/O grows, which shows how the ratio to the I/O floor falls with size.

The observations are made once by ``fluximage.simulate`` (fixed seeds) and cached in
``benchmarks/data/`` (or ``--data``).  Each case runs the command-line pipeline in a fresh
Python process and reports its wall time, peak resident memory, the time of each stage
(from the task graph), and the I/O floor measured in the same process right after the
run: reading the events and binning one counts image on the same grid.  The suite also
times the fast exposure map against the direct reference on one chip.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data"
ACIS_I_6 = (0, 1, 2, 3, 6, 7)


@dataclass(frozen=True)
class Observation:
    name: str
    instrument: str
    chips: tuple[int, ...]
    flat_flux: float  # photon/cm²/s/arcmin², 0.5-7 keV flat spectrum
    exposure_s: float


OBSERVATIONS = {
    # about 1e6 events on ACIS-I0-3 + S2, S3
    "acisi": Observation("acisi", "ACIS-I", ACIS_I_6, 4.9e-4, 20000.0),
    "aciss": Observation("aciss", "ACIS-S", (4, 5, 6, 7, 8, 9), 1.0e-4, 20000.0),
    "hrci": Observation("hrci", "HRC-I", (0,), 2.0e-4, 20000.0),
    "hrcs": Observation("hrcs", "HRC-S", (1, 2, 3), 6.0e-5, 10000.0),
}

#: case -> (observation, fluximage parameters, DM filter on the infile)
CASES = {
    "acisi-bin8": ("acisi", ["bands=csc,broad", "binsize=8"], ""),
    "acisi-bin2": ("acisi", ["bands=csc,broad", "binsize=2"], ""),
    "acisi-bin1-2048": ("acisi", ["bands=broad", "binsize=1"], "[x=3072.5:5120.5,y=3072.5:5120.5]"),
    "aciss-6chips": ("aciss", ["bands=broad", "binsize=8"], ""),
    "hrci-bin32": ("hrci", ["bands=wide", "binsize=32"], ""),
    "hrci-bin8": ("hrci", ["bands=wide", "binsize=8"], ""),
    # issue 24's cases: small bins over the whole field, where the exposure maps dominate
    "hrci-bin4": ("hrci", ["bands=wide", "binsize=4"], ""),
    "acisi-bin1": ("acisi", ["bands=csc,broad", "binsize=1"], ""),
    # three 4096 x 16456 instrument maps whatever the binsize: the instrument-map stage
    "hrcs-bin64": ("hrcs", ["bands=wide", "binsize=64"], ""),
}
CASES["acisi-1e7"] = ("acisi", ["bands=broad", "binsize=8"], "")
CASES["acisi-bin8-gz"] = ("acisi", ["bands=csc,broad", "binsize=8"], "")
GZIPPED = {"acisi-bin8-gz"}  # cases run on a gzip-compressed copy of the event file
LARGE_CASE = "acisi-1e8"
REPEATED = {"acisi-1e7": 10, LARGE_CASE: 100}  # case -> copies of the ACIS-I event list


def event_file(data: Path, name: str) -> Path:
    """The cached simulated observation (made on first use)."""
    from fluximage.simulate import FlatField, Spectrum, simulate

    obs = OBSERVATIONS[name]
    directory = data / name
    marker = directory / "done.json"
    if not marker.exists():
        made = simulate(
            directory, obs.instrument, [FlatField(obs.flat_flux, Spectrum.flat(0.5, 7.0))],
            exposure_s=obs.exposure_s, chips=list(obs.chips), seed=2026,
        )  # fmt: skip
        marker.write_text(json.dumps({"events": made.n_events, "evt": str(made.evt)}))
    return Path(json.loads(marker.read_text())["evt"])


def link_ancillary_files(source: Path, directory: Path) -> None:
    """Links in ``directory`` to the files beside the event file (asol, bpix, mask)."""
    for extra in source.parent.iterdir():
        if extra != source and not extra.name.endswith(".json"):
            link = directory / extra.name
            if not link.exists():
                link.symlink_to(extra)


def large_event_file(data: Path, case: str) -> Path:
    """The ACIS-I event list repeated (REPEATED[case] times) in one file (100 times: 1e8
    events, ~5.7 GB); the other blocks (GTIs) are copied byte for byte."""
    from astropy.io import fits

    copies = REPEATED[case]
    source = event_file(data, "acisi")
    target = data / case / source.name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with fits.open(source) as hdul:
        events, after = hdul.fileinfo(1), hdul.fileinfo(2)["hdrLoc"]
        header = hdul[1].header.copy()
        row_bytes, rows = header["NAXIS1"], header["NAXIS2"]
    header["NAXIS2"] = rows * copies
    raw = source.read_bytes()
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as out:
        out.write(raw[: events["hdrLoc"]])
        out.write(header.tostring().encode("ascii"))
        table = raw[events["datLoc"] : events["datLoc"] + row_bytes * rows]
        for _ in range(copies):
            out.write(table)
        out.write(b"\0" * (-(len(table) * copies) % 2880))
        out.write(raw[after:])
    link_ancillary_files(source, target.parent)
    partial.rename(target)
    return target


def gzipped_event_file(data: Path, case: str) -> Path:
    """A .gz copy of the observation's event file (as the Chandra archive ships them),
    beside links to its aspect solution, bad pixels and mask."""
    import gzip
    import shutil

    source = event_file(data, CASES[case][0])
    target = data / case / (source.name + ".gz")
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with open(source, "rb") as src, gzip.open(partial, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    link_ancillary_files(source, target.parent)
    partial.rename(target)
    return target


# ---- one case, in its own process -------------------------------------------------------


def stage_of(task: str) -> str:
    return task.split("-")[0]


def run_case(case: str, data: Path) -> dict:
    """Run the pipeline as the command line does (intermediates released); then the I/O
    floor in the same process."""
    import resource

    from fluximage.api import run_texts
    from fluximage.messages import Reporter

    name, params, dm = CASES.get(case, ("acisi", ["bands=broad"], ""))
    if case in REPEATED:
        evt = large_event_file(data, case)
    elif case in GZIPPED:
        evt = gzipped_event_file(data, case)
    else:
        evt = event_file(data, name)
    texts = dict(p.split("=", 1) for p in params)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_texts({**texts, "infile": f"{evt}{dm}", "outroot": f"{tmp}/out/",
                            "verbose": "0"}, Reporter(verbose=0))  # fmt: skip
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        floor = io_floor(f"{evt}{dm}", params)
    stages: dict[str, float] = {}
    for task, seconds in result.timings.items():
        stages[stage_of(task)] = stages.get(stage_of(task), 0.0) + seconds
    return {"case": case, "wall_s": wall, "peak_mb": peak_mb, "io_floor_s": floor,
            "stages_s": stages}  # fmt: skip


def io_floor(infile: str, params: list[str]) -> float:
    """Seconds to read the events and bin one counts image on the run's grid."""
    from fluximage.inputs.events import EventSource, band_events
    from fluximage.inputs.resolve import resolve_inputs
    from fluximage.messages import Reporter
    from fluximage.parameters import read_parameters
    from fluximage.paramio import open_params
    from fluximage.pipeline import plan
    from fluximage.stages.binning import counts_images

    with tempfile.TemporaryDirectory() as tmp:
        ps = open_params("fluximage", [infile, f"{tmp}/o/", *params, "mode=h", "verbose=0"],
                         interactive=False)  # fmt: skip
        report = Reporter(verbose=0)
        inputs = resolve_inputs(read_parameters(ps, report=report), report)
        grid = plan(inputs, report).grid
        # from the file, not from memory (the run's column cache, a .gz file's kept bytes)
        obs = replace(inputs.obs, events=replace(inputs.obs.events, data=None))
        events = EventSource(obs, inputs.events.filter)
        start = time.perf_counter()
        counts_images(band_events(events, inputs.bands[:1]), grid, inputs.bands[:1])
        return time.perf_counter() - start


def expmap_ratio(data: Path) -> dict:
    """Fast vs direct exposure map on ACIS-I3 of the 1e6-event observation: the speed at
    bin 8 (the whole chip), and at bin 2, where the smooth-region shortcut is used, the
    largest difference on a 160² corner of the grid (the direct path over the whole
    chip would take minutes)."""
    import numpy as np

    import fluximage
    from fluximage.geometry.grid import Grid, axis_from_bins
    from fluximage.geometry.pixlib import chip_to_sky
    from fluximage.stages.expmap import exposure_map, exposure_map_direct, mean_aspect

    out = {}
    for binsize in (8, 2):
        with tempfile.TemporaryDirectory() as tmp:
            result = fluximage.run(str(event_file(data, "acisi")), f"{tmp}/", bands="broad",
                                   binsize=binsize, verbose=0)  # fmt: skip
        p = result.prepared
        frame = p.inputs.obs.sky.frame
        args = (p.detector, 3, p.instmaps[3, "broad"], p.asphists[3])
        start = time.perf_counter()
        fast = exposure_map(*args, p.grid, frame, False)
        fast_s = time.perf_counter() - start
        grid, window = p.grid, (slice(None), slice(None))
        if binsize == 2:  # 160² pixels around the chip's (1, 1) corner
            sx, sy = chip_to_sky(p.detector, 3, 0.5, 0.5, mean_aspect(p.asphists[3]), frame)
            i0 = int(np.searchsorted(grid.x.centres(), float(np.ravel(sx)[0]))) - 80
            j0 = int(np.searchsorted(grid.y.centres(), float(np.ravel(sy)[0]))) - 80
            window = (slice(j0, j0 + 160), slice(i0, i0 + 160))
            step = grid.x.step
            grid = Grid(axis_from_bins(grid.x.lo + i0 * step, grid.x.lo + (i0 + 160) * step, 160),
                        axis_from_bins(grid.y.lo + j0 * step, grid.y.lo + (j0 + 160) * step, 160),
                        grid.pixel_arcsec)  # fmt: skip
        start = time.perf_counter()
        direct = exposure_map_direct(*args, grid, frame, False)
        direct_s = time.perf_counter() - start
        difference = np.abs(fast[window] - direct).max() / direct.max()
        out[binsize] = {"fast_s": fast_s, "direct_s": direct_s, "max_difference": float(difference),
                        "aspect_bins": len(p.asphists[3].duration)}  # fmt: skip
    return out


def startup_s(runs: int = 3) -> float:
    """Median seconds of a fresh interpreter importing the command line (what each
    ``fluximage`` command pays before its run starts)."""
    code = (
        "import time; t = time.perf_counter(); import fluximage.cli; print(time.perf_counter() - t)"
    )
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(runs)]  # fmt: skip
    return statistics.median(times)


# ---- the table ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--large", action="store_true", help="also the 1e8-event case")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each case (own processes); the median is shown")  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case
    parser.add_argument("--expmap", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run_case(args.one, args.data)))
        return 0
    if args.expmap:
        print(json.dumps(expmap_ratio(args.data)))
        return 0
    cases = [c for c in args.cases.split(",") if c] + ([LARGE_CASE] if args.large else [])
    for name in sorted({CASES[c][0] for c in cases if c in CASES}):
        event_file(args.data, name)  # simulate outside the timed processes
    for case in cases:
        if case in REPEATED:
            large_event_file(args.data, case)
        if case in GZIPPED:
            gzipped_event_file(args.data, case)
    print(f"{'case':18} {'wall s':>7} {'peak MB':>8} {'floor s':>8} {'x floor':>7}  stages (s)")
    for case in cases:
        runs = []
        for _ in range(args.repeat):
            command = [sys.executable, __file__, "--one", case, "--data", str(args.data)]
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"{case:18} FAILED: {out.stderr.strip().splitlines()[-1:]}")
                break
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if len(runs) < args.repeat:
            continue
        r = sorted(runs, key=lambda run: run["wall_s"])[len(runs) // 2]  # the median run
        floor = statistics.median(run["io_floor_s"] for run in runs)
        peak = max(run["peak_mb"] for run in runs)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["stages_s"].items(),
                                                            key=lambda kv: -kv[1]))  # fmt: skip
        print(f"{case:18} {r['wall_s']:7.2f} {peak:8.0f} {floor:8.2f} "
              f"{r['wall_s'] / floor:7.1f}  {stages}")  # fmt: skip
    print(f"\ncommand-line start-up (a fresh 'import fluximage.cli', not in wall): "
          f"{startup_s():.2f} s")  # fmt: skip
    out = subprocess.run([sys.executable, __file__, "--expmap", "--data", str(args.data)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    e = json.loads(out.stdout.strip().splitlines()[-1])
    b8, b2 = e["8"], e["2"]
    print(f"\nexposure map, ACIS-I3 bin 8 ({b8['aspect_bins']} aspect bins): fast "
          f"{b8['fast_s']:.3f} s, direct {b8['direct_s']:.2f} s, ratio "
          f"{b8['direct_s'] / b8['fast_s']:.0f}x, max difference {b8['max_difference']:.1e} "
          f"of the maximum")  # fmt: skip
    print(
        f"exposure map, ACIS-I3 bin 2 ({b2['aspect_bins']} aspect bins, smooth-region "
        f"shortcut): whole chip fast {b2['fast_s']:.2f} s; on a 160² corner direct "
        f"{b2['direct_s']:.1f} s, max difference {b2['max_difference']:.1e} of the maximum"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
