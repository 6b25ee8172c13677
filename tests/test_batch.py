"""fluximage-batch: entries, skip rule, failures, summary, progress, local and Dask backends."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluximage import batch
from fluximage.batch import BatchSummary, progress_line, run_batch, summary_table
from fluximage.batch_entries import make_entries, normalize_params, read_list
from fluximage.batch_run import MANIFEST, EntryResult
from fluximage.messages import FluximageError

from factory import write_observation

OBSIDS = ["1001", "1002", "1003", "1004", "1005", "1006"]
BROKEN = "1004"
PRODUCTS = ["1843.fov", "broad_flux.img", "broad_thresh.expmap", "broad_thresh.img"]


def _observations(root: Path) -> Path:
    """Six ObsId directories (one with a corrupt event file) and a list file naming them."""
    for k, obsid in enumerate(OBSIDS):
        write_observation(root / "data" / obsid / "primary", chips=[7], n=400, seed=k + 1)
    (root / "data" / BROKEN / "primary" / "acis_evt2.fits").write_bytes(b"not a FITS file\n" * 200)
    listing = root / "data" / "obs.lis"
    lines = ["# six ObsIds", "", *OBSIDS[:3], "   ", "# the rest", *OBSIDS[3:]]
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return listing


@pytest.fixture
def six(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return _observations(tmp_path)


def _script(name: str) -> list[str]:
    exe = Path(sys.executable).with_name(name)
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", f"fluximage.{name[10:]}"]


def _mtimes(outdir: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(outdir.rglob("*.img"))}


def _statuses(summary: BatchSummary) -> dict[str, str]:
    return {r.name: r.status for r in summary.results}


# --------------------------------------------------------------------------
# the command, end to end


def test_cli_batch_failure_summary_and_skip(six, tmp_path, capsys):
    proc = subprocess.run(
        [*_script("fluximage-batch"), str(six), "out", "bin=4", "--jobs=2"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stderr
    assert "[1/6]" not in proc.stderr and "Traceback" not in proc.stderr  # piped: no progress
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["entry", "ObsId", "status", "time", "(s)", "products", "error"]
    rows = {line.split()[0]: line.split() for line in lines[1:7]}
    assert list(rows) == OBSIDS  # list order, whatever order they finished in
    for obsid in OBSIDS:
        if obsid == BROKEN:
            assert rows[obsid][1:3] == ["-", "failed"] and rows[obsid][4] == "0"
            assert "acis_evt2.fits" in " ".join(rows[obsid][5:])
        else:
            assert rows[obsid][1:3] == ["1843", "ok"] and rows[obsid][4] == "4"
            assert sorted(os.listdir(f"out/{obsid}")) == sorted(
                [*PRODUCTS, MANIFEST, "fluximage.log"]
            )
    assert lines[7] == "6 entries: 5 ok, 1 failed, 0 skipped"
    assert not [p for p in Path("out").rglob("*") if p.name.endswith(".tmp")]
    # the broken entry keeps its log, which ends with the error
    assert "\nERROR Unable to open" in Path(f"out/{BROKEN}/fluximage.log").read_text()
    manifest = json.loads(Path("out/1001", MANIFEST).read_text())
    assert manifest["obsid"] == "1843" and sorted(manifest["products"]) == PRODUCTS
    assert manifest["parameters"]["binsize"] == "4.0"
    assert manifest["infile"] == str(tmp_path / "data" / "1001")

    # again: the five are skipped (untouched), the broken one fails again
    before = _mtimes(Path("out"))
    assert batch.main([str(six), "out", "binsize=4"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "6 entries: 0 ok, 1 failed, 5 skipped"
    assert _mtimes(Path("out")) == before

    # repaired: only that one runs, and the exit status is 0
    write_observation(tmp_path / "data" / BROKEN / "primary", chips=[7], n=400, seed=9)
    assert batch.main([str(six), "out", "binsize=4"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "6 entries: 1 ok, 0 failed, 5 skipped"
    assert _mtimes(Path("out")).items() >= before.items()


def test_skip_rule_parameters_products_and_clobber(six):
    entries = read_list(six)
    good = [e for e in entries if not e.endswith(BROKEN)][:2]
    first = run_batch(good, "out", {"binsize": 4}, n_jobs=1)
    assert [r.status for r in first.results] == ["ok", "ok"]
    assert first.ok and first.count("ok") == 2

    # verbose and parallel do not change the products: still skipped
    again = run_batch(good, "out", {"binsize": 4.0, "verbose": 0, "parallel": True}, n_jobs=1)
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    assert again.results[0].products == first.results[0].products

    # another binsize is another run, which meets fluximage's own clobber check
    other = run_batch(good, "out", {"binsize": 8}, n_jobs=1)
    assert [r.status for r in other.results] == ["failed", "failed"]
    assert "exists and clobber=no" in other.results[0].error and not other.ok

    # a product gone: that entry runs again (and fluximage refuses the leftovers)
    os.remove(Path(first.results[1].products[0]))
    partial = run_batch(good, "out", {"binsize": 4}, n_jobs=1)
    assert _statuses(partial) == {"1001": "skipped", "1002": "failed"}

    # clobber: everything runs, with clobber=yes
    forced = run_batch(good, "out", {"binsize": 8}, clobber=True, n_jobs=1)
    assert [r.status for r in forced.results] == ["ok", "ok"]
    assert fits.getheader("out/1002/broad_flux.img")["CDELT1P"] == 8
    assert json.loads(Path("out/1002", MANIFEST).read_text())["parameters"]["binsize"] == "8.0"
    assert run_batch(good, "out", {"bin": 8, "clob": "no"}, n_jobs=1).count("skipped") == 2


def test_progress_callback_and_terminal_display(six, monkeypatch, capsys):
    entries = read_list(six)[:2]
    calls = []
    run_batch(entries, "out", {}, n_jobs=1, progress=lambda r, d, t: calls.append((r.name, d, t)))
    assert sorted(c[0] for c in calls) == ["1001", "1002"]
    assert [(d, t) for _, d, t in calls] == [(1, 2), (2, 2)]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    listing = Path("two.lis")
    listing.write_text("\n".join(entries) + "\n")
    assert batch.main([str(listing), "out"]) == 0
    shown = err.getvalue().splitlines()
    assert sorted(shown) == ["[1/2] 1001 skipped 0.0 s", "[2/2] 1002 skipped 0.0 s"]


def test_dask_local_cluster_gives_identical_products(six):
    distributed = pytest.importorskip("distributed")
    entries = read_list(six)
    local = run_batch(entries, "local", {"binsize": 4, "bands": "soft,hard"}, n_jobs=1)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        seen = []
        remote = run_batch(
            entries,
            "dask",
            {"binsize": 4, "bands": "soft,hard"},
            scheduler=cluster,
            progress=lambda r, d, t: seen.append(d),
        )
        assert seen == [1, 2, 3, 4, 5, 6]
        # the command with --scheduler=ADDRESS, on the same cluster: all skipped
        assert batch.main([str(six), "dask", "binsize=4", "bands=soft,hard",
                           f"--scheduler={cluster.scheduler_address}"]) == 1  # fmt: skip
    assert _statuses(local) == _statuses(remote)
    assert _statuses(remote) == {o: "failed" if o == BROKEN else "ok" for o in OBSIDS}
    n = 0
    for a, b in zip(local.results, remote.results, strict=True):
        assert [Path(p).name for p in a.products] == [Path(p).name for p in b.products]
        for pa, pb in zip(a.products, b.products, strict=True):
            if pa.endswith(".fov"):
                continue
            da, db = fits.getdata(pa), fits.getdata(pb)
            assert da.shape == db.shape and np.array_equal(da, db, equal_nan=True)
            n += 1
    assert n == 5 * 6  # soft and hard: clipped counts, clipped exposure map, flux


def test_backend_failure_reports_unfinished_entries(six, monkeypatch):
    def dies(task):
        raise RuntimeError("worker killed\n(signal 9)")

    monkeypatch.setattr(batch, "run_entry", dies)  # n_jobs=1 runs in this process
    summary = run_batch(read_list(six)[:3], "out", {}, n_jobs=1)
    assert [r.status for r in summary.results] == ["failed"] * 3
    assert summary.results[2].error == "not finished: RuntimeError: worker killed (signal 9)"


def test_dask_missing_is_a_clear_error(six, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with pytest.raises(FluximageError, match=r"pip install 'fluximage\[dask\]'"):
        run_batch(read_list(six)[:1], "out", {}, backend="dask")


# --------------------------------------------------------------------------
# entries, parameters, arguments, summary


def test_read_list_and_entry_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "a.lis").write_text(
        "# comment\n\n  1843  \nobs/acisf01843N003_evt2.fits.gz[ccd_id=7]\n/abs/x/evt2.fits\n"
    )
    entries = read_list("lists/a.lis")
    assert entries == [
        str(tmp_path / "lists" / "1843"),
        str(tmp_path / "lists" / "obs" / "acisf01843N003_evt2.fits.gz") + "[ccd_id=7]",
        "/abs/x/evt2.fits",
    ]
    (tmp_path / "lists" / "1843").mkdir()
    names = [e.name for e in make_entries(entries)]
    assert names == ["1843", "acisf01843N003_evt2", "evt2"]
    # same file names in different directories: the parent directory tells them apart
    dup = make_entries(["a/evt2.fits", "b/evt2.fits", "b/evt2.fits", "c/other.fits"])
    assert [e.name for e in dup] == ["a_evt2", "b_evt2", "b_evt2_2", "other"]
    assert dup[0].infile == str(tmp_path / "a" / "evt2.fits")
    with pytest.raises(FluximageError, match="Unable to read the list file"):
        read_list("missing.lis")


def test_normalize_params(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("grid.img").write_bytes(b"")
    got = normalize_params(
        {"bin": 4, "clob": True, "xygrid": "grid.img", "bands": ["soft", "hard"]}
    )
    assert got == {"binsize": "4", "clobber": "yes", "xygrid": str(tmp_path / "grid.img"),
                   "bands": "soft,hard"}  # fmt: skip
    assert normalize_params({"xygrid": "3500:4500:#100,3500:4500:#100"})["xygrid"].startswith(
        "3500"
    )
    with pytest.raises(FluximageError, match="set per entry"):
        normalize_params({"outroot": "x/"})
    with pytest.raises(FluximageError, match="not a parameter of fluximage"):
        normalize_params({"nosuch": 1})
    with pytest.raises(FluximageError, match="units"):
        normalize_params({"units": "furlongs"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["only.lis"], "expected LIST and OUTDIR, got 1"),
        (["a.lis", "out", "--jobs=two"], "--jobs must be an integer"),
        (["a.lis", "out", "--scheduler"], "--scheduler needs a value"),
        (["a.lis", "out", "--fast"], "Unknown option --fast"),
        (["missing.lis", "out"], "Unable to read the list file missing.lis"),
        (["a.lis", "out", "binsize=-x"], "binsize"),
    ],
)
def test_command_errors(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if "a.lis" in argv:
        Path("a.lis").write_text("1843\n")
    assert batch.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("# fluximage-batch (0.1.0): ERROR ") and message in err
    assert not Path("out").exists()


def test_empty_list_and_help(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("empty.lis").write_text("# nothing\n\n")
    assert batch.main(["empty.lis", "out"]) == 1
    assert "no entries in empty.lis" in capsys.readouterr().err
    assert batch.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage: fluximage-batch LIST OUTDIR")


def test_summary_table_and_progress_line():
    results = [
        EntryResult(0, "1843", "/d/1843", "ok", 12.34, ("a", "b", "c"), "1843"),
        EntryResult(1, "evt2", "/d/evt2.fits", "failed", 0.04, (), "", "File x exists"),
        EntryResult(2, "942", "/d/942", "skipped", 0.0, ("a",), "942"),
    ]
    assert summary_table(results).splitlines() == [
        "entry  ObsId  status   time (s)  products  error",
        "1843   1843   ok           12.3         3",
        "evt2   -      failed        0.0         0  File x exists",
        "942    942    skipped       0.0         1",
        "3 entries: 1 ok, 1 failed, 1 skipped",
    ]
    assert progress_line(results[0], 3, 6) == "[3/6] 1843 ok 12.3 s"


def test_common_grid_for_every_entry(six):
    grid = "3600.5:4400.5:#100,3700.5:4300.5:#75"
    summary = run_batch(read_list(six)[:3], "out", {"xygrid": grid, "binsize": 2}, n_jobs=1)
    assert [r.status for r in summary.results] == ["ok"] * 3
    for r in summary.results:
        flux = next(p for p in r.products if p.endswith("broad_flux.img"))
        h = fits.getheader(flux)
        assert (h["NAXIS1"], h["NAXIS2"]) == (100, 75)
        assert (h["CRVAL1P"], h["CRVAL2P"], h["CDELT1P"]) == (3600.5, 3700.5, 8.0)


def test_dask_backend_from_a_script_on_stdin(tmp_path):
    """`python - <<EOF ... run_batch(..., backend="dask")`: the local workers are not
    asked to re-run a '<stdin>' main (every entry failed with 'No such file')."""
    import subprocess
    import sys

    pytest.importorskip("distributed")
    write_observation(tmp_path / "obs", chips=[7], n=1500)
    script = (
        "from fluximage.batch import run_batch\n"
        "s = run_batch(['obs/acis_evt2.fits'], 'out', {'binsize': '32', 'verbose': '0'},\n"
        "              backend='dask', n_jobs=1)\n"
        "print([r.status for r in s.results])\n"
    )
    run = subprocess.run([sys.executable, "-"], input=script, text=True, cwd=tmp_path,
                         capture_output=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "['ok']"
    assert len(list((tmp_path / "out").glob("*/broad_flux.img"))) == 1
