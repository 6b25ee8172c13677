"""Whole fluximage runs on a small synthetic observation: products, names, cleanup, errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluximage import cli
from fluximage.messages import FluximageError

from factory import EVT
from factory import run_cli as _run


def test_default_run_products_and_listing(obs, capsys):
    status, out, err = _run(capsys)
    assert status == 0, err
    assert sorted(os.listdir("out")) == [
        "1843.fov",
        "broad_flux.img",
        "broad_thresh.expmap",
        "broad_thresh.img",
    ]
    tail = out[out.index("The following files were created:") :].splitlines()
    assert tail == [
        "The following files were created:", "",
        " The clipped counts image is:", "     out/broad_thresh.img", "",
        " The observation FOV is:", "     out/1843.fov", "",
        " The clipped exposure map is:", "     out/broad_thresh.expmap", "",
        " The exposure-corrected image is:", "     out/broad_flux.img", "",
    ]  # fmt: skip
    counts = fits.getdata("out/broad_thresh.img")
    expmap = fits.getdata("out/broad_thresh.expmap")
    flux = fits.getdata("out/broad_flux.img")
    assert counts.shape == expmap.shape == flux.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(expmap > 0, counts / expmap, 0.0)
    assert np.array_equal(flux, expected)
    assert expmap.max() > 0 and (expmap[expmap > 0] >= 0.015 * expmap.max()).all()
    h = fits.getheader("out/broad_flux.img")
    assert h["HDUNAME"] == "PFLUX_IMAGE" and h["BUNIT"] == "cm**-2 s**-1"
    assert fits.getheader("out/broad_thresh.expmap")["BUNIT"] == "cm**2 s"
    assert "fluximage version 0.1.0" in str(h["COMMENT"])
    history = "\n".join(str(c) for c in h["HISTORY"])
    assert "TOOL  :fluximage" in history and "PARM  :bands=default" in history
    assert (
        "Creating exposure map for obsid 1843" in out
        and "Exposure-correcting image for obsid 1843" in out
    )


def test_cleanup_no_keeps_every_intermediate(obs, capsys):
    status, _, err = _run(capsys, "cleanup=no", "bands=soft,hard")
    assert status == 0, err
    expected = {"1843.fov", "7.asphist", "7_soft.instmap", "7_hard.instmap", "7_soft.expmap", "7_hard.expmap",
                "soft.img", "hard.img", "soft_thresh.img", "hard_thresh.img", "soft.expmap", "hard.expmap",
                "soft_thresh.expmap", "hard_thresh.expmap", "soft_flux.img", "hard_flux.img"}  # fmt: skip
    assert set(os.listdir("out")) == expected
    # a single chip: the band's exposure map equals the chip's
    assert np.array_equal(fits.getdata("out/soft.expmap"), fits.getdata("out/7_soft.expmap"))


def test_no_threshold_keeps_the_plain_pair(obs, capsys):
    status, _, err = _run(capsys, "expmapthresh=none")
    assert status == 0, err
    assert sorted(os.listdir("out")) == ["1843.fov", "broad.expmap", "broad.img", "broad_flux.img"]


@pytest.mark.parametrize(("units", "expmap_bunit", "flux_bunit"), [
    ("area", "cm**2", "cm**-2"), ("time", "s", "s**-1"), ("default", "cm**2 s", "cm**-2 s**-1"),
])  # fmt: skip
def test_units(obs, capsys, units, expmap_bunit, flux_bunit):
    status, _, err = _run(capsys, f"units={units}", "expmapthresh=none")
    assert status == 0, err
    assert fits.getheader("out/broad.expmap")["BUNIT"] == expmap_bunit
    assert fits.getheader("out/broad_flux.img")["BUNIT"] == flux_bunit
    if units == "time":  # a 0/1 instrument map: the exposure map is at most the live time
        live = 1000 * 0.95
        assert fits.getdata("out/broad.expmap").max() == pytest.approx(live, rel=1e-6)


def test_parallel_and_serial_give_identical_products(obs, capsys):
    assert _run(capsys, "bands=csc", "parallel=no")[0] == 0
    serial = {f: fits.getdata(f"out/{f}") for f in os.listdir("out") if f != "1843.fov"}
    assert _run(capsys, "bands=csc", "parallel=yes", "nproc=2", "clobber=yes")[0] == 0
    for name, data in serial.items():
        assert np.array_equal(fits.getdata(f"out/{name}"), data), name


def test_clobber_and_nothing_left_behind(obs, capsys, monkeypatch):
    assert _run(capsys)[0] == 0
    status, _, err = _run(capsys)
    assert status == 1 and "exists and clobber=no." in err
    before = {f: os.path.getmtime(f"out/{f}") for f in os.listdir("out")}

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("fluximage.pipeline.write_products", interrupted)
    status, _, err = _run(capsys, "clobber=yes")
    assert status == 1 and "Keyboard interrupt" in err
    assert {f: os.path.getmtime(f"out/{f}") for f in os.listdir("out")} == before  # untouched
    assert not [f for f in os.listdir("out") if f.endswith(".tmp")]


def test_failure_while_writing_leaves_no_partial_product(obs, capsys, monkeypatch):
    from fluximage import transaction as products

    calls = {"n": 0}
    real = products.Transaction.write

    def failing(self, path, hdus):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, path, hdus)

    monkeypatch.setattr(products.Transaction, "write", failing)
    status, _, err = _run(capsys)
    assert status == 1 and "disk full" in err
    assert not os.path.exists("out")  # the directory the run made is removed again


def test_python_api_returns_the_products(obs):
    import fluximage

    result = fluximage.run(EVT, "api/", bands="soft", verbose=0)
    assert result.files.paths == [
        "api/soft_thresh.img",
        "api/1843.fov",
        "api/soft_thresh.expmap",
        "api/soft_flux.img",
    ]
    assert result.flux["soft"].shape == result.prepared.grid.shape
    with pytest.raises(FluximageError, match="exists and clobber=no"):
        fluximage.run(EVT, "api/", bands="soft", verbose=0)


def test_verbose_2_echoes_each_step(obs, capsys):
    status, out, err = _run(capsys, "verbose=2")
    assert status == 0, err
    for tool in ("binning", "asphist", "skyfov", "mkinstmap", "mkexpmap"):
        assert f">> Running {tool}\n>>   args: " in out
    assert "Calibration: built-in (" in out
    assert _run(capsys, "verbose=1", "clobber=yes")[1].count(">> Running") == 0


def _pipeline_run(keep_in_memory, **params):
    """pipeline.run as the command line calls it (keep_in_memory=False) or the API (True)."""
    from fluximage import pipeline
    from fluximage.messages import Reporter
    from fluximage.parameters import Options, read_parameters
    from fluximage.paramio import from_file, package_param_dir, python_to_text

    ps = from_file(package_param_dir() / "fluximage.par")
    for name, value in {"infile": EVT, "verbose": 0, **params}.items():
        ps.set(name, python_to_text(ps.param(name), value))
    report = Reporter(verbose=0)
    return pipeline.run(read_parameters(ps, Options(), report), report, keep_in_memory)


def test_intermediates_are_released_unless_written_or_asked_for(obs):
    """cleanup=yes on the command line: aspect histograms, instrument maps, per-chip and
    unclipped maps are dropped once used; cleanup=no keeps (and writes) them; the API keeps
    everything.  The products are the same either way."""
    lean = _pipeline_run(False, outroot="lean/", bands="csc")
    assert lean.prepared.asphists == {} and lean.prepared.instmaps == {}
    assert lean.expmaps == {} and lean.combined == {} and lean.prepared.counts == {}
    assert sorted(lean.flux) == ["hard", "medium", "soft"]
    assert {
        "inputs",
        "plan",
        "write",
        "evtbin",
        "fov",
        "asphist-chip7",
        "imap-chip7",
        "emap-chip7",
        "divide-hard",
    } <= set(lean.timings)
    assert all(seconds >= 0 for seconds in lean.timings.values())
    full = _pipeline_run(False, outroot="full/", bands="csc", cleanup=False)
    assert sorted(full.prepared.asphists) == [7] and len(full.prepared.instmaps) == 3
    assert len(full.expmaps) == 3 and len(full.combined) == 3
    api = _pipeline_run(True, outroot="api/", bands="csc")
    assert len(api.prepared.instmaps) == 3 and len(api.expmaps) == 3
    for band in lean.flux:
        assert np.array_equal(lean.flux[band], full.flux[band])
        assert np.array_equal(lean.flux[band], api.flux[band])
        assert np.array_equal(fits.getdata(f"lean/{band}_flux.img"), lean.flux[band])


def test_parallel_run_prints_each_step_message_once(obs, capsys):
    status, out, err = _run(capsys, "bands=csc", "parallel=yes", "nproc=2")
    assert status == 0, err
    for line in (
        "Creating aspect histogram for obsid 1843",
        "Creating 3 instrument maps for obsid 1843",
        "Creating 3 exposure maps for obsid 1843",
        "Thresholding data for obsid 1843",
        "Exposure-correcting 3 images for obsid 1843",
    ):
        assert out.count(line + "\n") == 1, line
    assert (
        out.index("Creating 3 exposure maps")
        < out.index("Thresholding data")
        < out.index("Exposure-correcting")
    )


def test_products_do_not_share_header_cards(obs, capsys):
    """Each product's keywords are its own: the FOV's CONTENT does not leak into the images
    written after it, and the event header is untouched."""
    assert _run(capsys, "expmapthresh=none")[0] == 0
    assert fits.getheader("out/1843.fov", 1)["CONTENT"] == "FOV"
    for name in ("broad.img", "broad.expmap", "broad_flux.img"):
        assert fits.getheader(f"out/{name}")["CONTENT"] != "FOV", name
    assert fits.getheader(EVT, 1)["CONTENT"] == "EVT2"


def test_products_follow_the_umask(obs, capsys):
    old = os.umask(0o022)
    try:
        assert _run(capsys)[0] == 0
    finally:
        os.umask(old)
    assert all(os.stat(f"out/{n}").st_mode & 0o777 == 0o644 for n in os.listdir("out"))


def test_long_history_values_continue_on_cont_records(obs):
    """A long parameter value is split over PARM/CONT records that each fit one HISTORY card."""
    from fluximage.outputs import history_cards
    from fluximage.parameters import read_parameters
    from fluximage.paramio import open_params

    params = read_parameters(
        open_params("fluximage", [EVT, "out/", "mode=h", "tmpdir=" + "/t" * 50], interactive=False)
    )
    cards = history_cards(params)
    assert all(len(c) <= 72 for c in cards)
    tmp = next(i for i, c in enumerate(cards) if c.startswith("PARM  :tmpdir="))
    assert cards[tmp + 1].startswith("CONT  :")
    assert (cards[tmp][7:] + cards[tmp + 1][7:]).startswith("tmpdir=" + "/t" * 28)
    header = fits.Header()
    for c in cards:
        header.add_history(c)
    assert [str(v) for v in header["HISTORY"]] == cards  # no card split by astropy


def test_history_records_what_ciao_records(obs, capsys):
    """§9.2: binsize INDEF with an xygrid, nproc INDEF with parallel=no, dtffile "" for ACIS."""
    grid = "3500.5:4500.5:#125,3500.5:4500.5:#125"
    assert _run(capsys, f"xygrid={grid}", "parallel=no", "nproc=2", "dtffile=x.fits")[0] == 0
    history = [str(c) for c in fits.getheader("out/broad_flux.img")["HISTORY"]]
    assert "PARM  :binsize=INDEF" in history and "PARM  :nproc=INDEF" in history
    assert "PARM  :dtffile=" in history and "PARM  :parallel=no" in history


def test_history_records_the_values_as_typed(obs, capsys):
    """binsize=16 as 16 (not 16.0), outroot=. as '.', and random with the value used (CIAO
    records its default 0 whatever was given: listed in docs/differences.md)."""
    status, _, err = _run(capsys, "binsize=16", "random=5", outroot=".")
    assert status == 0, err
    history = [str(h) for h in fits.getheader("broad_flux.img")["HISTORY"]]
    parms = [h[len("PARM  :"):] for h in history if h.startswith("PARM  :")]
    assert "binsize=16" in parms and "outroot=." in parms and "random=5" in parms
    names = [p.split("=")[0] for p in parms]
    assert names.index("psfecf") + 1 == names.index("random") == names.index("parallel") - 1


def test_cleanup_no_lists_files_band_by_band_as_ciao(tmp_path, capsys):
    """CIAO's list: instrument maps band by band, and each band's chip exposure maps
    followed by its combined map (get_output_filenames in ciao_contrib)."""
    out = tmp_path / "o"
    evt = Path(cli.__file__).parent / "sample" / "acisf90001_000N001_evt2.fits.gz"
    assert cli.main([f"{evt}[ccd_id=0:1]", f"{out}/", "bands=soft,hard", "binsize=64",
                     "cleanup=no"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()

    def block(label: str) -> list[str]:
        at = lines.index(f" The {label}s are:")
        files = []
        for line in lines[at + 1 :]:
            if not line.strip():
                return files
            files.append(line.strip().rsplit("/", 1)[-1])
        return files

    assert block("instrument map") == ["0_soft.instmap", "1_soft.instmap", "0_hard.instmap",
                                       "1_hard.instmap"]  # fmt: skip
    assert block("exposure map") == ["0_soft.expmap", "1_soft.expmap", "soft.expmap",
                                     "0_hard.expmap", "1_hard.expmap", "hard.expmap"]  # fmt: skip


def test_outroot_directories_are_made_with_their_parents(obs, capsys):
    status, _, err = _run(capsys, "bands=broad", "binsize=32", outroot="x/y/z/")
    assert status == 0, err
    assert os.path.isfile("x/y/z/broad_flux.img")


def test_a_failed_run_removes_the_directories_it_made(obs, capsys):
    # no event on ccd 3: found after the directories are made
    status, _, err = _run(capsys, "bands=broad", "binsize=32", evt=f"{EVT}[ccd_id=3]",
                          outroot="p/q/r/")  # fmt: skip
    assert status == 1 and "There are no events in" in err and not os.path.exists("p")


def test_one_band_per_run_into_one_outroot_shares_the_fov(obs, capsys):
    """The ahelp's example 5: a run per band with clobber=no; CIAO stops at the second
    run on the FOV, which does not depend on the band."""
    for band in ("soft", "medium", "hard"):
        status, _, err = _run(capsys, f"bands={band}", "binsize=32", "clobber=no")
        assert status == 0, (band, err)
    assert sorted(f for f in os.listdir("out") if f.endswith("_flux.img")) == [
        "hard_flux.img", "medium_flux.img", "soft_flux.img"]  # fmt: skip
    # a file of that name that is not this observation's FOV is still protected
    fov = next(f for f in os.listdir("out") if f.endswith(".fov"))
    with fits.open(f"out/{fov}", mode="update") as hdul:
        hdul["FOV"].header["OBS_ID"] = "99999"
    status, _, err = _run(capsys, "bands=broad", "binsize=32", "clobber=no")
    assert status == 1 and f"File out/{fov} exists and clobber=no." in err


def test_a_wrong_caldb_is_not_called_unset(obs, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CALDB", str(tmp_path / "nocaldb"))
    status, out, _ = _run(capsys, "bands=broad", "binsize=32")
    assert status == 0
    assert f"WARNING: CALDB={tmp_path / 'nocaldb'} holds no Chandra CALDB index; using the " \
           "built-in calibration." in out  # fmt: skip
    assert "Using the built-in calibration." in out and "is not set" not in out


def test_images_over_500_mb_are_announced(obs, capsys):
    """A sky filter keeps the events small, the xygrid makes 8000 x 8000 pixels (512 MB an
    image): the warning comes with the grid, before the images are made."""
    from fluximage.geometry.grid import user_grid
    from fluximage.preflight import large_image_warning

    grid = user_grid("0.5:8000.5:#8000,0.5:8000.5:#8000", 0.492, lambda m: None)
    warning = large_image_warning(grid, 2)
    assert warning == ("WARNING: the output images have 8000 by 8000 pixels: each exposure map "
                       "and flux image takes 512 MB (about 2.6 GB of files for 2 bands); a "
                       "larger binsize makes them smaller.")  # fmt: skip
    small = user_grid("0.5:4000.5:#4000,0.5:4000.5:#4000", 0.492, lambda m: None)
    assert large_image_warning(small, 1) is None
