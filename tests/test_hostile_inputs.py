"""Inputs that used to give a silent wrong product or a late failure (issue 20): each is now
one ERROR line (or one WARNING with the numbers), exit 1, nothing written, checked before
the heavy work where it can be."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fluximage import cli

from factory import EVT, write_observation
from factory import run_cli as _run


def _error(err: str) -> str:
    (line,) = [x for x in err.splitlines() if x.strip()]
    prefix = "# fluximage (0.1.0): ERROR "
    assert line.startswith(prefix), err
    return line[len(prefix) :]


def _refused_before_computing(status, out, err, message):
    assert status == 1
    assert _error(err) == message
    assert "Creating" not in out  # no aspect histogram, instrument or exposure map was made
    assert not os.path.exists("out") or os.listdir("out") == []


# ---- expmapthresh ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("150%", "expmapthresh=150% would remove every pixel: the lower limit 150% is above the "
                 "maximum of the exposure map"),
        ("50%:10%", "expmapthresh=50%:10% would remove every pixel: the lower limit 50% is above "
                    "the upper limit 10%"),
        ("abc", "Invalid expmapthresh=abc: not a number or percentage"),
        ("5%:x", "Invalid expmapthresh=5%:x: not a number or percentage"),
        ("nan", "Invalid expmapthresh=nan: not a number or percentage"),
        ("inf", "expmapthresh=inf would remove every pixel: the lower limit inf is above the "
                "maximum of the exposure map"),
    ],
)  # fmt: skip
def test_expmapthresh_that_cannot_work_is_refused_before_computing(obs, capsys, value, message):
    _refused_before_computing(*_run(capsys, f"expmapthresh={value}"), message)


def test_expmapthresh_above_the_maximum_is_refused_not_written_as_zeros(obs, capsys):
    status, _, err = _run(capsys, "expmapthresh=1e15")
    assert status == 1
    text = _error(err)
    assert text.startswith("expmapthresh=1e15 removes every pixel of the broad exposure map "
                           "(its maximum is ")  # fmt: skip
    assert float(text.rsplit(" ", 1)[1].rstrip(")")) > 1e5
    assert not os.path.exists("out") or os.listdir("out") == []
    # a cut at the maximum itself keeps the brightest pixels: a product
    status, _, err = _run(capsys, "expmapthresh=100%", "clobber=yes")
    assert status == 0, err


# ---- bands and columns -------------------------------------------------------------------


def test_reversed_band_limits_are_refused(obs, capsys):
    _refused_before_computing(*_run(capsys, "bands=7:0.5:2"),
                              "Invalid band 7:0.5:2: the lower energy 7.0 keV must be below the "
                              "upper energy 0.5 keV")  # fmt: skip


def test_grating_data_without_tg_m_fail_before_computing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[7], n=500, header={"GRATING": "HETG"})
    _refused_before_computing(*_run(capsys),
                              f"Column tg_m not found in {EVT}")  # fmt: skip


def test_grating_data_with_tg_m_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    n = 500
    order = np.where(np.arange(n) % 2 == 0, 0, 1).astype(np.int16)
    write_observation(tmp_path / "obs", chips=[7], n=n, header={"GRATING": "HETG"},
                      extra={"tg_m": ("I", order)})  # fmt: skip
    status, _, err = _run(capsys, "binsize=16")
    assert status == 0, err


# ---- aspect solutions that do not cover the good time --------------------------------------


def _asol(tmp_path, tstart=1e8, rows=None):
    """The factory's aspect solution (20 rows over 1000 s from ``tstart``), cut to ``rows``."""
    from astropy.io import fits

    from factory import write_asol

    path = write_asol(tmp_path / "obs" / "pcad_asol1.fits", tstart=tstart)
    if rows is not None:
        with fits.open(path, mode="update") as hdul:
            hdul[1].data = hdul[1].data[:rows]
    return path


GRID = "xygrid=3600.5:4400.5:#100,3600.5:4400.5:#100"


def test_aspect_covering_part_of_the_good_time_is_reported_with_the_numbers(obs, capsys):
    _asol(obs, tstart=1e8 + 600)  # rows 52.6 s apart: covers 1e8 + 573.7 ... 1e8 + 1000
    status, out, err = _run(capsys, "binsize=16")
    assert status == 0, err
    assert ("WARNING: the aspect solution covers 426.3 s of the 1000.0 s of good time of "
            "ccd_id=7 (42.6 %); the exposure map counts only that time, the counts image all "
            "of it") in out.splitlines()  # fmt: skip


@pytest.mark.parametrize(("tstart", "rows", "covered"), [(1e8 + 5000, None, "0.0"),
                                                          (1e8, 1, "0.1")])  # fmt: skip
def test_aspect_covering_almost_nothing_is_refused(obs, capsys, tstart, rows, covered):
    """An aspect solution outside the GTI, or of a single row, with an explicit xygrid (the
    automatic grid refuses the first with CIAO's 'no spatial overlap' message)."""
    _asol(obs, tstart=tstart, rows=rows)
    _refused_before_computing(*_run(capsys, GRID),
                              f"The aspect solution (obs/pcad_asol1.fits) covers {covered} s of "
                              "the 1000.0 s of good time of ccd_id=7: too little for an exposure "
                              "map")  # fmt: skip


def test_aspect_outside_the_gti_with_the_automatic_grid_is_ciaos_message(obs, capsys):
    _asol(obs, tstart=1e8 + 5000)
    status, _, err = _run(capsys)
    assert status == 1
    assert _error(err).startswith("There is no spatial overlap between data")


def test_a_time_filter_moves_the_time_keywords_of_the_products(tmp_path, monkeypatch, capsys):
    """[time=...] keeps half of the 1000 s GTI: TSTART/TSTOP move in, ONTIME, LIVETIME and
    EXPOSURE (and the chip's ONTIME7/LIVTIME7/EXPOSUR7) halve, as the exposure map does."""
    from astropy.io import fits

    monkeypatch.chdir(tmp_path)
    keys = {"ONTIME": 1000.0, "LIVETIME": 980.0, "EXPOSURE": 980.0, "ONTIME7": 1000.0,
            "LIVTIME7": 980.0, "EXPOSUR7": 980.0, "DTCOR": 0.98}  # fmt: skip
    write_observation(tmp_path / "obs", chips=[7], n=3000, header=keys)
    whole = cli.main([EVT, "whole/", "binsize=16"])
    part = cli.main([f"{EVT}[time=100000200:100000700]", "part/", "binsize=16"])
    assert whole == part == 0, capsys.readouterr().err
    h = fits.getheader("part/broad_flux.img")
    assert (h["TSTART"], h["TSTOP"]) == (1e8 + 200, 1e8 + 700)
    for key, value in keys.items():
        if key != "DTCOR":
            assert h[key] == pytest.approx(value / 2, rel=1e-12), key
    assert fits.getheader("whole/broad_flux.img")["EXPOSURE"] == 980.0
    ratio = fits.getdata("part/broad_thresh.expmap").max() / fits.getdata(
        "whole/broad_thresh.expmap").max()
    assert ratio == pytest.approx(0.5, rel=0.06)  # aspect rows 52.6 s apart


# ---- the Python API checks the kinds of its values -------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outroot": ["a", "b"]}, "outroot must be a string or a path, not list: ['a', 'b']"),
        ({"binsize": [1]}, "binsize must be a number, None (INDEF) or a string, not list: [1]"),
        ({"clobber": 1}, "clobber must be True, False or a string, not int: 1"),
        ({"bands": ["soft", 3]},
         "bands must be a string or a path (or a list of them), not list: ['soft', 3]"),
        ({"infile": {"a": 1}}, "infile must be a string or a path, not dict: {'a': 1}"),
    ],
)  # fmt: skip
def test_api_refuses_values_of_the_wrong_kind(obs, kwargs, message):
    import fluximage
    from fluximage.messages import FluximageError

    args = {"infile": EVT, "outroot": "out/", **kwargs}
    with pytest.raises(FluximageError) as exc:
        fluximage.run(args.pop("infile"), args.pop("outroot"), **args)
    assert str(exc.value) == message
    assert not os.path.exists("out") and not any(p.startswith("a,b") for p in os.listdir("."))


def test_api_accepts_paths_lists_and_numpy_numbers(obs):
    import fluximage

    r = fluximage.run(obs / EVT, obs / "out", bands=["broad"], binsize=np.float64(16),
                      clobber=True, verbose=0)  # fmt: skip
    assert r.files is not None and os.path.exists("out_broad_flux.img")


def test_badpixfile_caldb_without_a_caldb_is_refused(obs, capsys, monkeypatch):
    monkeypatch.delenv("CALDB", raising=False)
    _refused_before_computing(*_run(capsys, "badpixfile=CALDB"),
                              "badpixfile=CALDB asks for the CALDB bad-pixel file, but the "
                              "built-in calibration has none; set $CALDB to a Chandra CALDB, give "
                              "the observation's bpix1 file, or set badpixfile=NONE")  # fmt: skip


# ---- absurd grids ----------------------------------------------------------------------------


def test_a_grid_that_cannot_fit_in_memory_is_refused_before_allocating(obs, capsys):
    status, out, err = _run(capsys, "xygrid=1:1000001:#1000000,1:1000001:#1000000")
    assert status == 1
    text = _error(err)
    assert text.startswith("The output grid has 1000000 by 1000000 pixels of 1 sky pixels and "
                           "needs about 3.73e+04 GB of memory for 1 band, more than this "
                           "machine has (")  # fmt: skip
    assert text.endswith(" GB); use a larger binsize or a smaller xygrid.")
    assert "Creating" not in out


@pytest.mark.parametrize("binsize", ["1e-6", "1e-300"])
def test_tiny_binsize_is_refused_with_the_field_size(obs, capsys, binsize):
    status, out, err = _run(capsys, f"binsize={binsize}")
    assert status == 1 and "Creating" not in out
    assert _error(err).startswith(f"binsize={float(binsize):g} makes the field of {EVT} (8192 "
                                  "by 8192 sky pixels) an image of ")  # fmt: skip


def test_a_small_binsize_with_a_sky_filter_is_not_refused(tmp_path, monkeypatch, capsys):
    """binsize=0.2 over the sample's whole 8192² field would need ~60 GB; within a 100²
    sky filter it is a 500² image."""
    import shutil

    from fluximage.sample import path as sample_path

    monkeypatch.chdir(tmp_path)
    for f in sample_path().parent.glob("*.fits*"):
        shutil.copy(f, tmp_path)
    evt = sample_path().name
    assert _run(capsys, "binsize=0.2", evt=evt)[0] == 1
    status, _, err = _run(capsys, "binsize=0.2", evt=f"{evt}[x=4000:4100,y=4000:4100]")
    assert status == 0, err


def test_huge_binsize_names_the_field(obs, capsys):
    """pset accepts binsize=1e308 (as CIAO's does); the run says why no image can be made
    instead of 'no spatial overlap'."""
    _refused_before_computing(*_run(capsys, "binsize=1e308"),
                              f"binsize=1e+308 is larger than the whole field of {EVT} (8192 sky "
                              "pixels across)")  # fmt: skip


# ---- what messages quote from input files ------------------------------------------------------


def test_control_characters_from_input_files_are_escaped(obs, capsys):
    """A weights file whose text would retitle the terminal (OSC) and clear the screen."""
    with open("w.txt", "w") as fh:
        fh.write("1.0 1\n2.0 x\x1b]0;HACKED\x07\x1b[2J\n")
    status, _, err = _run(capsys, "bands=w.txt")
    assert status == 1 and "\x1b" not in err and "\x07" not in err
    assert _error(err) == ("Spectral weights file w.txt line 2: expected two numbers (energy "
                           "weight), found '2.0 x\\x1b]0;HACKED\\x07\\x1b[2J'")  # fmt: skip


def test_a_corrupt_parameter_file_cannot_drive_the_terminal(user_dir, capsys):
    from fluximage.paramio.tools import pget_main, plist_main, pset_main

    assert pset_main(["fluximage", "outroot=a"]) == 0
    par = user_dir / "fluximage.par"
    par.write_text(par.read_text().replace('"a"', '"a\x1b]0;HACKED\x07\x1b[2Jb"'))
    capsys.readouterr()
    assert plist_main(["fluximage"]) == 0
    assert pget_main(["fluximage", "outroot"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "a\\x1b]0;HACKED\\x07\\x1b[2Jb" in out


def test_events_without_a_finite_position_are_counted_once_and_dropped(tmp_path, monkeypatch,
                                                                       capsys):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    from factory import event_columns

    cols = event_columns(3000, [7], "ACIS")
    cols["x"][:7] = np.nan
    cols["y"][7:10] = np.inf
    write_observation(tmp_path / "obs", chips=[7], n=3000, columns=cols)
    status, out, err = _run(capsys, "binsize=16")
    assert status == 0 and err == ""  # no numpy RuntimeWarning
    assert out.count("WARNING: 10 events of obs/acis_evt2.fits have no finite sky position "
                     "(x, y) and are not counted") == 1  # fmt: skip


def test_non_ascii_paths_are_written_escaped_in_the_headers(tmp_path, monkeypatch, capsys):
    """Paths with non-ASCII characters: the run succeeds and HISTORY/SPECTRUM hold the
    UTF-8 bytes as \\xNN (FITS headers are ASCII)."""
    from astropy.io import fits

    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "ünï", chips=[7], n=2000)
    (tmp_path / "ünï" / "wé.txt").write_text("1.0 0.5\n2.0 0.5\n")
    status = cli.main(["ünï/acis_evt2.fits", "ünï/öut/", "bands=ünï/wé.txt", "binsize=16",
                       "cleanup=no"])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    flux = fits.getheader("ünï/öut/band1_flux.img")
    history = [str(h) for h in flux["HISTORY"]]
    assert "PARM  :infile=\\xc3\\xbcn\\xc3\\xaf/acis_evt2.fits" in history
    expmap = fits.getheader("ünï/öut/band1_thresh.expmap")
    assert expmap["SPECTRUM"] == "\\xc3\\xbcn\\xc3\\xaf/w\\xc3\\xa9.txt"
    for name in os.listdir("ünï/öut"):  # every product, tables too, opens and verifies
        with fits.open(f"ünï/öut/{name}") as hdul:
            hdul.verify("exception")


# ---- output names and the final renames ---------------------------------------------------------


def test_an_output_name_too_long_for_the_file_system_is_refused_first(obs, capsys):
    root = "o/" + "x" * 300
    status, out, err = _run(capsys, outroot=root)
    assert status == 1 and "Creating" not in out
    assert _error(err) == (f"The output file name {'x' * 300}_7.asphist is too long for the "
                           "file system (310 characters; at most 237 here).")  # fmt: skip
    assert not os.path.exists("o")  # the directory this run made is removed again


def test_a_directory_where_a_product_goes_is_refused_before_computing(obs, capsys):
    os.makedirs("out/broad_flux.img")
    status, out, err = _run(capsys, "clobber=yes")
    assert status == 1 and "Creating" not in out
    assert _error(err) == "Unable to write out/broad_flux.img: a directory of that name exists."
    assert os.listdir("out") == ["broad_flux.img"]


def test_the_final_renames_are_all_or_nothing(tmp_path, monkeypatch):
    """A rename that fails half-way: the products already moved are removed and the files
    they replaced come back, unchanged."""
    from fluximage.fitswrite import Cards, ImageFile
    from fluximage.transaction import Transaction

    (tmp_path / "w").mkdir()
    monkeypatch.chdir(tmp_path / "w")
    for name in ("a.img", "b.img"):
        with open(name, "w") as fh:
            fh.write(f"old {name}")
    t = Transaction()
    for name in ("a.img", "b.img", "c.img"):
        t.write(name, ImageFile(Cards(), np.zeros((2, 2), np.float32)))
    real = os.replace
    calls = []

    def failing(src, dst):
        calls.append((src, dst))
        if dst == "c.img":
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        t.commit()
    monkeypatch.setattr(os, "replace", real)
    assert sorted(p for p in os.listdir(".") if not p.startswith(".")) == ["a.img", "b.img"]
    for name in ("a.img", "b.img"):
        with open(name) as fh:
            assert fh.read() == f"old {name}"
    t.rollback()
    assert sorted(os.listdir(".")) == ["a.img", "b.img"]  # no temporary file left


# ---- files astropy tolerates but cfitsio (and so CIAO) refuses -------------------------------------


def _corrupt(src: str, dst: str, old: bytes, new: bytes, after: bytes = b"") -> None:
    with open(src, "rb") as fh:
        data = fh.read()
    at = data.index(old, data.index(after) if after else 0)
    with open(dst, "wb") as fh:
        fh.write(data[:at] + new.ljust(80) + data[at + 80 :])


@pytest.mark.parametrize(
    ("old", "new", "after", "reason"),
    [
        (b"BITPIX  =", b"BITPIX  =                    7", b"",
         "the file is corrupt: HDU 1 (PRIMARY) has BITPIX=7 (FITS allows 8, 16, 32, 64, -32, "
         "-64)"),
        (b"INSTRUME=", b"INSTRUME= 'ACIS  ## unterminated", b"",
         "the file is corrupt: HDU 2 (EVENTS) has an unparsable header card: INSTRUME= 'ACIS  "
         "## unterminated"),
        (b"NAXIS2  =", b"NAXIS2  =                 3040", b"EXTNAME = 'EVENTS",
         "the file is truncated or corrupt: HDU 3 (GTI) declares 48640 bytes of data "
         "(NAXIS1=16, NAXIS2=3040) ending at byte 164160, but the file has 118080 bytes"),
    ],
)  # fmt: skip
def test_corrupt_event_files_say_what_and_where(obs, capsys, old, new, after, reason):
    _corrupt(EVT, "obs/bad.fits", old, new, after)
    status, out, err = _run(capsys, evt="obs/bad.fits")
    assert status == 1
    assert f"Skipping obs/bad.fits as it can not be opened ({reason})." in out.splitlines()
    assert _error(err) == "Unable to find any event files matching obs/bad.fits."


@pytest.mark.parametrize(("name", "message"), [
    ("badpixfile", f"No BADPIX block found in bad pixel file {EVT}"),
    ("maskfile", f"No MASK block found in mask file {EVT}"),
])  # fmt: skip
def test_ancillary_files_without_their_blocks_are_refused_before_computing(obs, capsys, name,
                                                                           message):  # fmt: skip
    _refused_before_computing(*_run(capsys, f"{name}={EVT}"), message)


@pytest.mark.parametrize(("change", "message"), [
    ("empty", "Aspect solution obs/pcad_asol1.fits has no rows"),
    ("dec", "Aspect solution obs/pcad_asol1.fits has DEC=95 in row 1, outside -90 to 90"),
])  # fmt: skip
def test_aspect_solutions_that_cannot_be_right_are_refused(obs, capsys, change, message):
    from astropy.io import fits

    with fits.open("obs/pcad_asol1.fits", mode="update") as hdul:
        if change == "empty":
            hdul[1].data = hdul[1].data[:0]
        else:
            hdul[1].data["dec"][:] = 95.0
    _refused_before_computing(*_run(capsys), message)
