"""Concurrent use of one parameter file by many processes.

Every write of a user ``.par`` copy holds a lock and goes through a temporary
file and a rename (``fluximage.paramio.pfiles``).  These tests start real
processes at once on one PFILES directory and check that readers never see a
truncated or mixed file, that no update of one parameter undoes another, and
that nothing is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fluximage.paramio import ParamError, package_param_dir, read_parfile

from factory import write_observation

SYSTEM_PAR = package_param_dir() / "fluximage.par"
DEFAULTS = read_parfile(SYSTEM_PAR)
NAMES = DEFAULTS.names

N_PROCS = 16
N_CALLS = 20
N_RUNS = 8
TIMEOUT = 60  # seconds; a hung lock fails the test instead of the whole session

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork"), reason="the parameter file lock (fcntl) is POSIX only"
)

# Each driver process makes N_CALLS separate ``pset`` calls (pset_main is the
# console script's body: load, apply, save under the lock, every time).
PSET_DRIVER = textwrap.dedent(
    """
    import sys
    from fluximage.paramio.tools import pset_main

    p, n = int(sys.argv[1]), int(sys.argv[2])
    status = 0
    for i in range(n):
        value = p * 100 + i
        args = ["fluximage", f"binsize={value}", f"verbose={(p + i) % 6}"]
        # a third parameter per half: concurrent writers of *other* parameters
        # must not undo these (save re-reads the file under the lock)
        args.append(f"random={value}" if p % 2 == 0 else f"nproc={value}")
        status = pset_main(args) or status
    sys.exit(status)
    """
)

# Other p-commands in loops, to mix readers, writers and punlearn.
MIXED_DRIVER = textwrap.dedent(
    """
    import contextlib, io, sys
    from fluximage.paramio.tools import pget_main, plist_main, pdump_main, punlearn_main, pset_main

    kind, p, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    status = 0
    for i in range(n):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            if kind == "pset":
                clob = "yes" if i % 2 else "no"
                rc = pset_main(["fluximage", f"binsize={p * 100 + i}", f"clob={clob}"])
            elif kind == "punlearn":
                rc = punlearn_main(["fluximage"])
            elif kind == "pget":
                rc = pget_main(["fluximage", "binsize", "verbose", "infile", "mode"])
                if rc == 0 and len(out.getvalue().splitlines()) != 4:
                    rc = 3
            elif kind == "plist":
                rc = plist_main(["fluximage"])
            else:
                rc = pdump_main(["fluximage"])
                if rc == 0 and out.getvalue().count("\\n") != 22:
                    rc = 4
        status = rc or status
    sys.exit(status)
    """
)


def _env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A process environment whose PFILES user dir is under ``tmp_path``."""
    home = tmp_path / "home"  # may already exist (conftest's isolated HOME)
    user = tmp_path / "pfiles"
    home.mkdir(exist_ok=True)
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PDIRS", "PFILES", "UPARM")}
    env.update(HOME=str(home), PFILES=f"{user};{package_param_dir()}", NO_COLOR="1")
    return env, user


def _driver(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _start(cmds: list[list[str]], env: dict[str, str], cwd: Path) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cmd in cmds
    ]


def _poll_reads(procs: list[subprocess.Popen], par: Path) -> int:
    """Parse ``par`` over and over until every process has ended.

    Once the file exists it must never be missing, and every read must parse
    with all the parameters in their order.  Returns the number of reads.
    """
    reads = 0
    seen = False
    deadline = time.monotonic() + TIMEOUT
    while any(p.poll() is None for p in procs):
        if time.monotonic() > deadline:
            for p in procs:
                p.kill()
            pytest.fail("processes did not finish (a lock held for ever?)")
        if not seen:
            if not par.exists():
                continue  # not made yet by the first process to run
            seen = True  # from now on it must always be there (replaced, never removed)
        try:
            pf = read_parfile(par)
        except ParamError as exc:
            pytest.fail(f"read {reads + 1} of {par} failed while writers ran: {exc}")
        reads += 1
        assert pf.names == NAMES, f"read {reads}: parameters {pf.names}"
    return reads


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    results = []
    for p in procs:
        out, err = p.communicate(timeout=TIMEOUT)
        results.append((p.returncode, out, err))
    return results


def _leftovers(user: Path) -> list[str]:
    """Files other than the user copy and its lock file."""
    return sorted(set(os.listdir(user)) - {"fluximage.par", ".fluximage.par.lock"})


def _unchanged_except(par: Path, changed: set[str]) -> None:
    """Every parameter line other than ``changed`` is exactly the default line."""
    pf = read_parfile(par)
    assert pf.names == NAMES
    assert len(pf.parameters) == 22
    for got, default in zip(pf.parameters, DEFAULTS.parameters, strict=True):
        if got.name not in changed:
            assert got == default, got.name


def test_many_pset_processes_share_one_parameter_file(tmp_path):
    env, user = _env(tmp_path)
    par = user / "fluximage.par"
    driver = _driver(tmp_path, "pset_driver.py", PSET_DRIVER)
    cmds = [[sys.executable, str(driver), str(p), str(N_CALLS)] for p in range(N_PROCS)]
    procs = _start(cmds, env, tmp_path)  # all at once; the first ones also race to copy
    reads = _poll_reads(procs, par)
    results = _finish(procs)

    for p, (rc, out, err) in enumerate(results):
        assert rc == 0, f"process {p}: exit {rc}\n{out}{err}"
        assert err == "", f"process {p}: {err}"
    assert reads > 0

    pf = read_parfile(par)
    text = par.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 22
    _unchanged_except(par, {"binsize", "verbose", "random", "nproc"})

    # The last write of a parameter is the last call of some process, since the
    # calls of one process are made one after another.
    last = {p * 100 + N_CALLS - 1 for p in range(N_PROCS)}
    binsize = int(pf.get("binsize").value)
    assert binsize in last
    # binsize and verbose were written together by one call: they still belong together
    p = binsize // 100
    assert pf.get("verbose").value == str((p + N_CALLS - 1) % 6)
    # neither half undid the other half's parameter (no lost update)
    assert int(pf.get("random").value) in {v for v in last if (v // 100) % 2 == 0}
    assert int(pf.get("nproc").value) in {v for v in last if (v // 100) % 2 == 1}

    assert not list(user.glob(".fluximage.par.*.tmp")), "temporary files left behind"
    assert _leftovers(user) == []


def test_concurrent_fluximage_runs_learn_infile_and_outroot(tmp_path):
    env, user = _env(tmp_path)
    par = user / "fluximage.par"
    for k in range(N_RUNS):  # each run its own observation, so each learns its own infile
        write_observation(tmp_path / f"obs{k}")
        (tmp_path / f"obs{k}" / "acis_evt2.fits").rename(tmp_path / f"obs{k}" / f"evt{k}.fits")
    cmds = [
        [sys.executable, "-m", "fluximage", f"obs{k}/evt{k}.fits", f"out{k}/"]
        for k in range(N_RUNS)
    ]
    procs = _start(cmds, env, tmp_path)
    _poll_reads(procs, par)
    results = _finish(procs)

    for k, (rc, out, err) in enumerate(results):
        assert rc == 0, f"run {k}: exit {rc}\n{out}{err}"
        assert "Traceback" not in err + out and err == ""
        assert f"Aspect solution obs{k}/pcad_asol1.fits found." in out
        assert "Running fluximage" in out  # the banner (verbose=1)
        assert f"     out{k}/broad_flux.img" in out
        assert (tmp_path / f"out{k}" / "broad_flux.img").is_file()
        assert not list((tmp_path / f"out{k}").glob(".*.tmp"))

    pf = read_parfile(par)
    infile, outroot = pf.get("infile").value, pf.get("outroot").value
    assert infile in {f"obs{k}/evt{k}.fits" for k in range(N_RUNS)}
    # both were learned by one run's close, under one lock
    assert outroot == f"out{infile.split('/')[0][3:]}/"
    assert pf.get("mode").value == "ql"
    _unchanged_except(par, {"infile", "outroot"})
    assert not list(user.glob(".fluximage.par.*.tmp"))
    assert _leftovers(user) == []


def test_mixed_p_commands_and_punlearn(tmp_path):
    env, user = _env(tmp_path)
    par = user / "fluximage.par"
    driver = _driver(tmp_path, "mixed_driver.py", MIXED_DRIVER)
    kinds = ["pset", "pset", "pset", "punlearn", "pget", "pget", "plist", "pdump"]
    cmds = [[sys.executable, str(driver), kind, str(p), "15"] for p, kind in enumerate(kinds)]
    procs = _start(cmds, env, tmp_path)
    _poll_reads(procs, par)
    results = _finish(procs)

    for kind, (rc, _out, err) in zip(kinds, results, strict=True):
        assert rc == 0, f"{kind}: exit {rc}\n{err}"
        assert "Traceback" not in err
    pf = read_parfile(par)
    assert pf.names == NAMES
    binsize = pf.get("binsize").value
    assert binsize == "INDEF" or int(binsize) in {p * 100 + i for p in range(3) for i in range(15)}
    assert pf.get("clobber").value in ("yes", "no")
    _unchanged_except(par, {"binsize", "clobber"})
    assert _leftovers(user) == []


def test_stale_user_copy_is_renamed_aside_once(tmp_path):
    """Processes that all find an old user copy: one renames it, all read the new one."""
    env, user = _env(tmp_path)
    par = user / "fluximage.par"
    par.write_text(DEFAULTS.with_values({"binsize": "7"}).text(), encoding="utf-8")
    old = SYSTEM_PAR.stat().st_mtime - 86400
    os.utime(par, (old, old))

    code = "from fluximage.paramio.tools import pget_main; raise SystemExit(pget_main())"
    cmds = [[sys.executable, "-c", code, "fluximage", "binsize"] for _ in range(N_RUNS)]
    procs = _start(cmds, env, tmp_path)
    results = _finish(procs)

    for rc, out, err in results:
        assert rc == 0, err
        assert out == "INDEF\n"  # the refreshed copy, never the stale one
    warnings = [err for _, _, err in results if "out of date" in err]
    assert len(warnings) == 1, [err for _, _, err in results]
    aside = sorted(user.glob("fluximage_*.par"))
    assert len(aside) == 1
    assert read_parfile(aside[0]).get("binsize").value == "7"
    assert read_parfile(par).text() == DEFAULTS.text()
    assert not list(user.glob(".fluximage.par.*.tmp"))
