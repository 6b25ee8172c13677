"""Header merging of combined images (CIAO ≥ 4.14 fluximage lookup rules; issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.io import fits

from fluximage import cli
from fluximage.fitswrite import Cards
from fluximage.header_merge import SKIPPED, merge_headers

SAMPLE = Path(cli.__file__).parent / "sample"


def cards(**keywords) -> Cards:
    h = Cards()
    for key, value in keywords.items():
        h[key.replace("_DASH_", "-")] = value
    return h


def merged(*headers: Cards) -> dict:
    out = merge_headers(list(headers))
    return {key: out[key] for key in out.keywords() if key not in ("COMMENT", "HISTORY")}


def test_equal_values_are_kept_and_order_is_first_appearance():
    a = cards(OBJECT="M87", ENERGY=2.3, NOTE="x")
    b = cards(ENERGY=2.3, OBJECT="M87", EXTRA=1)
    assert list(merged(a, b).items()) == [("OBJECT", "M87"), ("ENERGY", 2.3), ("NOTE", "x"),
                                          ("EXTRA", 1)]  # fmt: skip


def test_skip_rule_drops_the_ancillary_files_and_obi_num():
    a = cards(ASOLFILE="pcad_asol1.fits", BPIXFILE="b.fits", MASKFILE="m.fits",
              AIMPFILE="aimp.fits", OBI_NUM=0, DTFFILE="d.fits", KEEP=1)  # fmt: skip
    assert merged(a, a) == {"KEEP": 1}
    assert {"ASOLFILE", "BPIXFILE", "MASKFILE", "AIMPFILE", "OBI_NUM", "DTFFILE"} <= SKIPPED


def test_merge_force_rule_treats_a_missing_value_as_the_default():
    assert merged(cards(OBJECT="A"), cards(OBJECT="B"))["OBJECT"] == "Merged"
    assert merged(cards(OBJECT="A"), cards(OBJECT="A"))["OBJECT"] == "A"
    # missing counts as 'Unknown', which differs from 'A'
    assert merged(cards(OBJECT="A"), cards(X=1))["OBJECT"] == "Merged"
    assert merged(cards(MISSION="AXAF"), cards(X=1))["MISSION"] == "AXAF"


def test_warn_omit_keeps_the_first_within_tolerance_only():
    assert merged(cards(RA_NOM=10.0), cards(RA_NOM=10.0002))["RA_NOM"] == 10.0
    assert "RA_NOM" not in merged(cards(RA_NOM=10.0), cards(RA_NOM=10.0004))
    assert merged(cards(ROLL_PNT=45.0), cards(ROLL_PNT=45.9))["ROLL_PNT"] == 45.0
    assert "SIM_Z" not in merged(cards(SIM_Z=-190.0), cards(SIM_Z=-190.2))
    assert "ROLL_NOM" not in merged(cards(ROLL_NOM=45.0), cards(X=1))  # missing in one


def test_prefer_first_max_and_fail_rules():
    assert merged(cards(RADESYS="FK5"), cards(RADESYS="ICRS"))["RADESYS"] == "ICRS"
    assert merged(cards(RADESYS="FK5"), cards(RADESYS="FK5"))["RADESYS"] == "FK5"
    assert merged(cards(CREATOR="a"), cards(CREATOR="b"))["CREATOR"] == "a"
    assert merged(cards(HDUNAME="EVENTS_IMAGE"), cards(HDUNAME="EXPMAP"))["HDUNAME"] == (
        "EVENTS_IMAGE")  # fmt: skip
    assert merged(cards(TIMEDEL=3.2), cards(TIMEDEL=0.4))["TIMEDEL"] == 3.2
    assert merged(cards(MJDREF=50814.0), cards(MJDREF=50814.0))["MJDREF"] == 50814.0
    assert "MJDREF" not in merged(cards(MJDREF=50814.0), cards(MJDREF=1.0))


def test_unlisted_keywords_that_differ():
    out = merged(cards(DETNAM="ACIS-0", CCD_ID=0), cards(DETNAM="ACIS-1", CCD_ID=1))
    assert out == {"DETNAM": "Merged"}


def test_time_range_spans_the_inputs_with_its_dates():
    early = cards(TSTART=100.0, TSTOP=200.0, DATE_DASH_OBS="A", DATE_DASH_END="B", DATE="now")
    late = cards(TSTART=150.0, TSTOP=300.0, DATE_DASH_OBS="C", DATE_DASH_END="D", DATE="then")
    out = merged(late, early)
    assert (out["TSTART"], out["TSTOP"], out["DATE-OBS"], out["DATE-END"]) == (100.0, 300.0,
                                                                              "A", "D")  # fmt: skip
    assert "DATE" not in out  # made anew on writing


def test_exposure_adds_up_over_observations_not_over_images_of_one():
    one = cards(OBS_ID="1", TSTART=0.0, TSTOP=10.0, EXPOSURE=9.0, LIVTIME7=8.0)
    same = merged(one, one)
    assert (same["EXPOSURE"], same["LIVTIME7"]) == (9.0, 8.0)
    other = cards(OBS_ID="2", TSTART=20.0, TSTOP=30.0, EXPOSURE=5.0, LIVTIME7=4.0)
    out = merged(one, other)
    assert (out["EXPOSURE"], out["LIVTIME7"]) == (14.0, 12.0)


def test_commentary_is_the_first_headers():
    a = cards(X=1)
    a.add_history("first")
    b = cards(X=1)
    b.add_history("second")
    out = merge_headers([a, b]).header()
    assert list(out["HISTORY"]) == ["first"]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The packaged 4-chip ACIS-I sample at binsize 32, every product kept."""
    out = tmp_path_factory.mktemp("merge") / "out"
    evt = SAMPLE / "acisf90001_000N001_evt2.fits.gz"
    assert cli.main([str(evt), f"{out}/", "bands=broad", "binsize=32", "cleanup=no"]) == 0
    return evt, out


def test_combined_products_drop_the_skipped_keywords(sample_run):
    evt, out = sample_run
    event = fits.getheader(evt, "EVENTS")
    dropped = {"ASOLFILE", "BPIXFILE", "MASKFILE", "OBI_NUM"}
    assert dropped <= set(event)
    for name in ("broad.expmap", "broad_thresh.expmap", "broad_flux.img"):
        h = fits.getheader(out / name)
        assert not dropped & set(h), name
        assert h["DETNAM"] == event["DETNAM"], name  # restored after the merge, as CIAO does
        assert "CCD_ID" not in h, name
        for key in ("EXPOSURE", "ONTIME", "LIVETIME", "TSTART", "TSTOP", "DATE-OBS", "OBS_ID"):
            assert h[key] == event[key], (name, key)  # one observation: nothing added up
    # the images that are copies (dmcopy/dmimgthresh) keep them
    for name in ("broad.img", "broad_thresh.img", "0_broad.expmap", "3_broad.instmap"):
        h = fits.getheader(out / name)
        assert h["ASOLFILE"] == event["ASOLFILE"], name


def test_every_image_says_what_it_holds(sample_run):
    _, out = sample_run
    content = {"broad.img": "IMAGE", "broad_thresh.img": "IMAGE", "broad.expmap": "EXPMAP",
               "2_broad.expmap": "EXPMAP", "2_broad.instmap": "INSTMAP",
               "broad_flux.img": "FLUX", "2.asphist": "ASPHIST", "90001.fov": "FOV"}  # fmt: skip
    for name, value in content.items():
        with fits.open(out / name) as hdul:
            assert hdul[-1].header["CONTENT"] == value, name
    flux = fits.getheader(out / "broad_flux.img")
    assert (flux["HDUNAME"], flux["BUNIT"], flux["ENERGY"]) == ("PFLUX_IMAGE", "cm**-2 s**-1", 2.3)


WEIGHTS = "# ENERG_LO = 0.5\n# ENERG_HI = 2.5\n0.75 0.2\n1.25 0.3\n1.75 0.3\n2.25 0.2\n"


def _check_weights_products(out: Path, label: str, weights: str) -> None:
    for name in (f"{label}.expmap", f"{label}_thresh.expmap", f"{label}_flux.img"):
        h = fits.getheader(out / name)
        assert "ENERGY" not in h, name  # no monochromatic energy is used
        assert (h["WGTFILE"], h["ENERG_LO"], h["ENERG_HI"]) == (weights, 0.5, 2.5), name


def test_weights_band_products_name_the_file_and_its_range(obs):
    (obs / "w.txt").write_text(WEIGHTS)
    assert cli.main(["obs/acis_evt2.fits", "out/", "bands=w.txt", "binsize=32",
                     "cleanup=no"]) == 0  # fmt: skip
    _check_weights_products(obs / "out", "band1", "w.txt")
    counts = fits.getheader(obs / "out" / "band1.img")
    assert (counts["ENERGYLO"], counts["ENERGYHI"]) == (0.5, 2.5)


def test_hrc_weights_band_records_the_files_range(tmp_path, monkeypatch):
    from fluximage.simulate import FlatField, simulate

    sim = simulate(tmp_path / "obs", instrument="HRC-I", sources=[FlatField(3e-5)],
                   exposure_s=300, seed=5, truth_samples=500)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    Path("w.txt").write_text(WEIGHTS)
    assert cli.main([str(sim.evt), "out/", "bands=w.txt", "binsize=64", "cleanup=no"]) == 0
    _check_weights_products(tmp_path / "out", "band1", "w.txt")
    counts = fits.getheader(tmp_path / "out" / "band1.img")
    assert not {"ENERGYLO", "ENERGYHI", "PILO", "PIHI"} & set(counts)  # HRC: no filter at all



def _tools(path: Path, hdu: int = 0) -> list[str]:
    from fluximage.inputs.hrc_background import history_commands

    return [tool for tool, _ in history_commands(fits.getheader(path, hdu))]


def test_history_records_the_steps_behind_each_product(sample_run):
    """Each product carries the records of the CIAO steps that made it, then fluximage's
    own, once (§9.2): the flux image the binning, clipping and division."""
    _, out = sample_run
    expected = {
        "broad.img": ["dmcopy"],
        "broad_thresh.img": ["dmcopy", "dmimgthresh"],
        "2_broad.instmap": ["mkinstmap"],
        "2_broad.expmap": ["mkinstmap", "mkexpmap"],
        "broad.expmap": ["mkinstmap", "mkexpmap", "dmimgcalc"],
        "broad_thresh.expmap": ["mkinstmap", "mkexpmap", "dmimgcalc", "dmimgthresh"],
        "broad_flux.img": ["dmcopy", "dmimgthresh", "dmimgcalc"],
    }
    for name, tools in expected.items():
        assert _tools(out / name) == [*tools, "fluximage"], name
    assert _tools(out / "2.asphist", 1) == ["asphist", "fluximage"]
    assert _tools(out / "90001.fov", 1) == ["skyfov", "fluximage"]
    from fluximage.inputs.hrc_background import history_commands

    commands = dict(history_commands(fits.getheader(out / "broad_flux.img")))
    assert commands["dmimgcalc"] == (
        f"dmimgcalc infile={out}/broad_thresh.img infile2={out}/broad_thresh.expmap "
        f"outfile={out}/broad_flux.img[PFLUX_IMAGE] operation=div weight=1 weight2=1 "
        "clobber=no")  # fmt: skip
    assert "[energy=500.0:7000.0][opt type=i4]" in commands["dmcopy"]
    expmap = dict(history_commands(fits.getheader(out / "broad.expmap")))
    assert "operation=imgout=img1+img2+img3+img4" in expmap["dmimgcalc"]
