"""Make the pictures of docs/example.md from the bundled sample observation.

    python3 tools/make_doc_images.py [IMAGEDIR]      # default: docs/images

Runs ``fluximage "$(fluximage-simulate --sample)" out/ bands=csc`` in a temporary
directory (with its own PFILES, so the user's parameter files are not touched),
prints the screen output to paste into the page, and draws with
:mod:`fluximage.quicklook`:

- ``sample_hard_counts.png``  the clipped counts image of the hard band
- ``sample_hard_expmap.png``  its exposure map (linear scale)
- ``sample_hard_flux.png``    the flux image, as ``--quicklook`` draws it
- ``sample_soft_flux.png``    the soft-band flux image
- ``sparse_field_flux.png``   a sparse field with one bright source, made by the commands
  of docs/outputs.md (SPARSE_FIELD below) with ``--quicklook``

Each PNG must stay below 150 KB (the script fails otherwise).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fluximage import sample
from fluximage.quicklook import write_quicklook

REPO = Path(__file__).resolve().parent.parent
MAX_BYTES = 150_000
BAND = "hard"


def run_example(workdir: Path) -> str:
    """The documented command, run in ``workdir``; returns what it printed."""
    env = dict(os.environ, PFILES=f"{workdir / 'pfiles'};")
    env.pop("CALDB", None)  # the page shows a run with the built-in calibration
    (workdir / "pfiles").mkdir()
    command = [sys.executable, "-m", "fluximage", str(sample.path()), "out/", "bands=csc"]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"fluximage failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def draw(out: Path, imagedir: Path) -> list[Path]:
    """The four pictures; returns their paths."""
    imagedir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (f"{BAND}_thresh.img", "counts", "asinh", "Clipped counts image, hard band (2–7 keV)"),
        (f"{BAND}_thresh.expmap", "exposure  [cm**2 s]", "linear",
         "Clipped exposure map, hard band (3.8 keV)"),
        (f"{BAND}_flux.img", None, "asinh", None),
        ("soft_flux.img", None, "asinh", None),
    ]  # fmt: skip
    names = ["counts", "expmap", "flux", "flux"]
    written = []
    for (name, label, stretch, heading), kind in zip(jobs, names, strict=True):
        band = name.split("_")[0]
        target = imagedir / f"sample_{band}_{kind}.png"
        write_quicklook(out / name, str(target), heading=heading, bar_label=label, stretch=stretch)
        size = target.stat().st_size
        if size >= MAX_BYTES:
            raise SystemExit(f"{target} is {size} bytes (limit {MAX_BYTES})")
        written.append(target)
    return written


#: The commands of docs/outputs.md's quick-look picture, run as written.
SPARSE_FIELD = [
    "fluximage-simulate --instrument ACIS-S --chips 7 --exposure 20000 --flat 2e-6 "
    "--point 187.2789,2.0534,6e-4 --seed 4 --object 'Sparse field' sim",
    "fluximage sim/acisf90001_000N001_evt2.fits out/ bands=broad binsize=4 --quicklook",
]


def sparse_field(workdir: Path, imagedir: Path) -> Path:
    """The quick-look PNG of the sparse field, made by :data:`SPARSE_FIELD`."""
    env = dict(os.environ, PFILES=f"{workdir / 'pfiles'};")
    env.pop("CALDB", None)
    (workdir / "pfiles").mkdir(exist_ok=True)
    for command in SPARSE_FIELD:
        done = subprocess.run(command, shell=True, cwd=workdir, env=env, capture_output=True,
                              text=True)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{command} failed:\n{done.stdout}{done.stderr}")
    target = imagedir / "sparse_field_flux.png"
    target.write_bytes((workdir / "out" / "broad_flux.png").read_bytes())
    if target.stat().st_size >= MAX_BYTES:
        raise SystemExit(f"{target} is {target.stat().st_size} bytes (limit {MAX_BYTES})")
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    imagedir = Path(args[0]) if args else REPO / "docs" / "images"
    with tempfile.TemporaryDirectory() as tmp:
        screen = run_example(Path(tmp))
        print(screen, end="")
        for path in draw(Path(tmp) / "out", imagedir):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
    with tempfile.TemporaryDirectory() as tmp:
        path = sparse_field(Path(tmp), imagedir)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
