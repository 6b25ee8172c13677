"""infile resolution: stacks, directories, exactly one file, messages (§2.1)."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits

from fluximage.fitsio import list_blocks
from fluximage.inputs.infile import resolve_infile
from fluximage.messages import FluximageError

from factory import Log, write_events


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _resolve(text):
    log = Log()
    return resolve_infile(text, log)[0], log.lines


def test_plain_file_and_filters(here):
    write_events(here / "evt2.fits")
    assert _resolve("evt2.fits") == ("evt2.fits", [])
    assert _resolve("evt2.fits[ccd_id=7]") == ("evt2.fits[ccd_id=7]", [])
    assert _resolve("./evt2.fits") == ("evt2.fits", ["Using event file evt2.fits"])
    assert _resolve(str(here / "evt2.fits"))[0] == "evt2.fits"
    assert _resolve("evt2.fits[EVENTS][energy=500:2000]")[0] == "evt2.fits[EVENTS][energy=500:2000]"


def test_gzipped_event_file(here):
    write_events(here / "evt2.fits")
    with open(here / "evt2.fits", "rb") as src, gzip.open(here / "e.fits.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert _resolve("e.fits.gz") == ("e.fits.gz", [])


def test_directory_search_order(here):
    obs = here / "1843"
    for sub in ("repro", "primary", ""):
        (obs / sub).mkdir(parents=True, exist_ok=True)
    write_events(obs / "primary" / "acisf01843_evt2.fits")
    write_events(obs / "acisf01843_evt1.fits")
    # primary/ comes before the directory itself
    assert _resolve("1843") == (
        "1843/primary/acisf01843_evt2.fits",
        [
            "Found 1843/primary/acisf01843_evt2.fits",
            "Using event file 1843/primary/acisf01843_evt2.fits",
        ],
    )
    write_events(obs / "repro" / "acisf01843_repro_evt2.fits")
    assert _resolve("1843")[0] == "1843/repro/acisf01843_repro_evt2.fits"
    assert _resolve("./1843")[1][0] == "Found ./1843/repro/acisf01843_repro_evt2.fits"


def test_directory_with_two_event_files(here):
    (here / "d").mkdir()
    write_events(here / "d" / "a_evt1.fits")
    write_events(here / "d" / "a_evt2.fits")
    with pytest.raises(FluximageError) as err:
        _resolve("d")
    assert str(err.value) == "Found multiple matches to infile=d\n  d/a_evt1.fits d/a_evt2.fits\n"


def test_nothing_found(here):
    (here / "empty").mkdir()
    log = Log()
    with pytest.raises(FluximageError, match=r"^Unable to find any event files matching empty\.$"):
        resolve_infile("empty", log)
    assert log.lines == ["Skipping directory empty as no event files found in it."]
    with pytest.raises(
        FluximageError, match="^Unable to find any event files matching nope.fits.$"
    ):
        resolve_infile("nope.fits", Log())


def test_images_and_unreadable_entries_are_skipped(here):
    fits.PrimaryHDU(np.zeros((3, 3))).writeto(here / "img.fits")
    (here / "notfits.txt").write_text("hello")
    write_events(here / "evt2.fits")
    log = Log()
    spec, blocks = resolve_infile("img.fits,notfits.txt,evt2.fits", log)
    assert spec == "evt2.fits"
    assert [b.name for b in blocks] == [b.name for b in list_blocks(here / "evt2.fits")]
    assert log.lines == [
        "Skipping img.fits as it is an image.",
        "Skipping notfits.txt as it can not be opened.",
        "Using event file evt2.fits",
    ]


def test_stacks_with_several_files(here):
    write_events(here / "e1.fits")
    write_events(here / "e2.fits")
    with pytest.raises(
        FluximageError, match=r"Found multiple matches to infile=e1.fits e2.fits\n  e1.fits e2.fits"
    ):
        _resolve("e1.fits e2.fits")
    (here / "sub").mkdir()
    (here / "sub" / "list.lis").write_text("# events\n../e2.fits\n")
    assert _resolve("@sub/list.lis") == ("e2.fits", ["Using event file e2.fits"])
