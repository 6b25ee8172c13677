"""Shell loops just work: concurrent fluximage commands on one PFILES and one output tree.

``for o in obs*; do fluximage $o runs/$o binsize=... & done`` starts processes
that all read and learn one user parameter file, all try to create the same
new output directory and all write temporary products beside each other.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from fluximage.inputs import names
from fluximage.inputs.resolve import remove_if_empty
from fluximage.paramio import package_param_dir, read_parfile
from fluximage.transaction import Transaction

from factory import write_observation

N_RUNS = 8
TIMEOUT = 120

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork"), reason="the parameter file lock (fcntl) is POSIX only"
)


def _command() -> list[str]:
    """The installed console script, else ``python -m fluximage``."""
    exe = Path(sys.executable).with_name("fluximage")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "fluximage"]


def _settings(k: int) -> tuple[int, list[str]]:
    """Each run its own binsize and bands, so each learns and uses its own values."""
    return 4 + k % 3, (["broad"] if k % 2 else ["soft", "hard"])


def test_eight_concurrent_commands_share_pfiles_and_output_tree(tmp_path):
    user = tmp_path / "pfiles"
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PDIRS", "PFILES", "UPARM")}
    env.update(PFILES=f"{user};{package_param_dir()}", HOME=str(tmp_path / "home"), NO_COLOR="1")
    for k in range(N_RUNS):
        write_observation(tmp_path / f"obs{k}", chips=[7], n=300, seed=k + 1)
    cmds = []
    for k in range(N_RUNS):
        binsize, bands = _settings(k)
        # every outroot is in runs/, which does not exist yet: all race to make it
        args = [f"obs{k}", f"runs/r{k}", f"binsize={binsize}", f"bands={','.join(bands)}"]
        cmds.append([*_command(), *args, f"verbose={1 + k % 2}", f"clobber={'yes' if k % 2 else 'no'}"])  # fmt: skip
    procs = [
        subprocess.Popen(cmd, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd in cmds
    ]  # fmt: skip
    results = [(*p.communicate(timeout=TIMEOUT), p.returncode) for p in procs]

    expected: set[str] = set()
    for k, (out, err, rc) in enumerate(results):
        assert rc == 0, f"run {k}: exit {rc}\n{out}{err}"
        assert err == "" and "Traceback" not in out
        binsize, bands = _settings(k)
        files = [f"r{k}_1843.fov"]
        for b in bands:
            files += [f"r{k}_{b}_thresh.img", f"r{k}_{b}_thresh.expmap", f"r{k}_{b}_flux.img"]
        expected |= set(files)
        for f in files:
            assert f"     runs/{f}" in out, f
            if not f.endswith(".fov"):  # the products were made with this run's binsize
                assert fits.getheader(tmp_path / "runs" / f)["CDELT1P"] == binsize
    assert set(os.listdir(tmp_path / "runs")) == expected  # nothing else: no temporary file

    pars = sorted(user.glob("*.par"))
    assert [p.name for p in pars] == ["fluximage.par"]  # no stale copy renamed aside
    defaults = read_parfile(package_param_dir() / "fluximage.par")
    for par in pars:
        pf = read_parfile(par)
        assert pf.names == defaults.names
        infile, outroot = pf.get("infile").value, pf.get("outroot").value
        k = int(infile.removeprefix("obs"))
        assert outroot == f"runs/r{k}"  # the pair learned by one run, under one lock
        for p, d in zip(pf.parameters, defaults.parameters, strict=True):
            if p.name not in ("infile", "outroot"):  # hidden parameters are not learned
                assert p == d, p.name
    assert set(os.listdir(user)) == {"fluximage.par", ".fluximage.par.lock"}


def test_output_directory_made_by_another_run_meanwhile(tmp_path, monkeypatch):
    """The directory appears between the check and the mkdir: used, and not ours to remove."""
    monkeypatch.chdir(tmp_path)
    real_mkdir = os.mkdir

    def racing_mkdir(path, *args, **kw):
        real_mkdir(path, *args, **kw)  # the other process wins
        raise FileExistsError(17, "File exists", path)

    monkeypatch.setattr(names.os, "mkdir", racing_mkdir)
    assert names.prepare_output_directory("shared/run1_") is None
    assert Path("shared").is_dir()


def test_failed_run_does_not_remove_a_directory_written_meanwhile(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "run2_broad_flux.img").write_bytes(b"")  # another run's product
    real_listdir = os.listdir
    # this run looked while the directory was still empty
    monkeypatch.setattr(os, "listdir", lambda p: [] if Path(p) == shared else real_listdir(p))
    remove_if_empty(str(shared))  # rmdir fails (not empty): no error, nothing removed
    assert (shared / "run2_broad_flux.img").is_file()


def test_products_written_after_a_failed_run_removed_the_directory(tmp_path):
    """Run B found ``shared/`` made by run A; A failed and removed it before B wrote."""
    shared = tmp_path / "shared"
    shared.mkdir()
    products = Transaction()
    shared.rmdir()  # run A's clean-up, while B was computing
    products.write(str(shared / "b_broad_flux.img"), fits.PrimaryHDU())
    assert products.commit() == [str(shared / "b_broad_flux.img")]
    assert os.listdir(shared) == ["b_broad_flux.img"]
