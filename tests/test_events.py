"""EventSource: filtered event chunks, counts and chips against numpy on astropy columns."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits

from fluximage.inputs.dmfilter import parse_filter
from fluximage.inputs.events import EventSource
from fluximage.inputs.observation import read_observation
from fluximage.messages import FluximageError, Reporter

from conftest import SHARED_DATA
from factory import write_events

NEVENTS = 1_500
CHIPS = [0, 3, 6, 7]
CHUNKS = (1, 7, 1000, 10**6)
COLUMNS = ["time", "ccd_id", "x", "y", "energy", "pi", "status"]

EVT_28229 = SHARED_DATA / "acis-28229-sgra-partial" / "acisf28229_repro_evt2.fits"


def _select(ev: dict[str, np.ndarray], text: str) -> np.ndarray:
    """The rows a filter selects, computed independently of dmfilter."""
    e = ev["energy"].astype(np.float64)
    chip = ev["ccd_id"]
    x, y = ev["x"].astype(np.float64), ev["y"].astype(np.float64)
    n = len(chip)
    return {
        "": np.ones(n, dtype=bool),
        "[ccd_id=7]": chip == 7,
        "[energy=500:2000]": (e >= 500) & (e <= 2000),
        "[ccd_id=6,7][energy>1000]": ((chip == 6) | (chip == 7)) & (e > 1000),
        "[sky=circle(4000,4000,200)]": (x - 4000) ** 2 + (y - 4000) ** 2 <= 200**2,
        "[energy=500:7000]": (e >= 500) & (e <= 7000),
        "[ccd_id=3:6]": (chip >= 3) & (chip <= 6),
        "[energy>100000]": np.zeros(n, dtype=bool),
    }[text]


FILTERS = [
    "",
    "[ccd_id=7]",
    "[energy=500:2000]",
    "[ccd_id=6,7][energy>1000]",
    "[sky=circle(4000,4000,200)]",
]


@pytest.fixture(scope="module")
def event_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "evt2.fits"
    write_events(path, n=NEVENTS, chips=CHIPS, seed=7)
    return path


@pytest.fixture(scope="module")
def columns(event_file) -> dict[str, np.ndarray]:
    data = fits.getdata(event_file, "EVENTS")
    return {c: np.asarray(data[c]) for c in COLUMNS}


def _source(path, text: str) -> EventSource:
    obs = read_observation(str(path), None, text, Reporter(verbose=0))
    return EventSource(obs, parse_filter(text))


def _collect(source: EventSource, columns, chunk_rows, extra=()):
    chunks = list(source.iter_chunks(columns, extra, chunk_rows))
    assert len(chunks) == -(-source.obs.nrows // chunk_rows)  # one per chunk read, even empty
    for chunk in chunks:
        assert list(chunk) == [c.lower() for c in columns]
        lengths = {len(v) for v in chunk.values()}
        assert len(lengths) == 1
    return {c.lower(): np.concatenate([ch[c.lower()] for ch in chunks]) for c in columns}


def test_factory_file_is_varied(columns):
    """The selections below are neither empty nor everything."""
    for text in FILTERS[1:]:
        sel = _select(columns, text)
        assert 0 < sel.sum() < NEVENTS, text
    assert set(np.unique(columns["ccd_id"])) == set(CHIPS)


@pytest.mark.parametrize("chunk_rows", CHUNKS)
@pytest.mark.parametrize("text", FILTERS)
def test_iter_chunks_selects_rows(event_file, columns, text, chunk_rows):
    source = _source(event_file, text)
    got = _collect(source, COLUMNS, chunk_rows)
    sel = _select(columns, text)
    for c in COLUMNS:
        assert np.array_equal(got[c], columns[c][sel]), c  # same rows, in file order


@pytest.mark.parametrize("chunk_rows", CHUNKS)
@pytest.mark.parametrize("text", FILTERS)
def test_extra_filter_is_anded(event_file, columns, text, chunk_rows):
    source = _source(event_file, text)
    band = parse_filter("[energy=500:7000]")
    got = _collect(source, ["time", "energy"], chunk_rows, extra=[band])
    sel = _select(columns, text) & _select(columns, "[energy=500:7000]")
    assert np.array_equal(got["time"], columns["time"][sel])
    assert np.array_equal(got["energy"], columns["energy"][sel])
    assert source.count([band], chunk_rows) == sel.sum()
    assert source.chips([band], chunk_rows) == sorted(set(columns["ccd_id"][sel].tolist()))


def test_several_extra_filters(event_file, columns):
    source = _source(event_file, "[energy=500:2000]")
    extra = [parse_filter("[energy=500:7000]"), parse_filter("[ccd_id=3:6]")]
    sel = (
        _select(columns, "[energy=500:2000]")
        & _select(columns, "[energy=500:7000]")
        & _select(columns, "[ccd_id=3:6]")
    )
    got = _collect(source, ["ccd_id"], 100, extra)
    assert np.array_equal(got["ccd_id"], columns["ccd_id"][sel])
    assert source.chips(extra) == [3, 6]
    assert source.count(extra) == sel.sum()


@pytest.mark.parametrize("chunk_rows", [1, 1000])
@pytest.mark.parametrize("text", FILTERS)
def test_count_and_chips(event_file, columns, text, chunk_rows):
    source = _source(event_file, text)
    sel = _select(columns, text)
    assert source.count(chunk_rows=chunk_rows) == sel.sum()
    assert source.count() == sel.sum()
    chips = source.chips(chunk_rows=chunk_rows)
    assert chips == sorted(set(columns["ccd_id"][sel].tolist()))
    assert all(type(c) is int for c in chips)


def test_filter_columns_not_requested(event_file, columns):
    """Columns used only by the filter are read, but not returned."""
    source = _source(event_file, "[sky=circle(4000,4000,200)][energy>1000]")
    chunks = list(source.iter_chunks(["TIME"], chunk_rows=500))
    assert all(list(c) == ["time"] for c in chunks)
    sel = _select(columns, "[sky=circle(4000,4000,200)]") & (columns["energy"] > 1000)
    assert np.array_equal(np.concatenate([c["time"] for c in chunks]), columns["time"][sel])


def test_nothing_selected(event_file):
    source = _source(event_file, "[energy>100000]")
    assert source.chips() == []
    assert source.chips(chunk_rows=7) == []
    assert source.count() == 0
    got = _collect(source, ["energy", "status"], 1000)
    assert got["energy"].shape == (0,) and got["status"].shape == (0, 32)
    # an extra filter that excludes everything the user filter kept
    source = _source(event_file, "[ccd_id=7]")
    assert source.chips([parse_filter("[ccd_id=6]")]) == []


@pytest.mark.parametrize("text", ["[foo=1]", "[ccd_id=7][pha=10:20]"])
def test_filter_on_missing_column(event_file, text):
    source = _source(event_file, text)
    missing = "foo" if "foo" in text else "pha"
    for call in (
        lambda: list(source.iter_chunks(["time"])),
        source.count,
        source.chips,
    ):
        with pytest.raises(FluximageError, match=missing):
            call()


def test_extra_filter_on_missing_column(event_file):
    source = _source(event_file, "")
    with pytest.raises(FluximageError, match="detx"):
        source.count([parse_filter("[detx=1:100]")])


def test_requested_column_missing(event_file):
    source = _source(event_file, "")
    with pytest.raises(FluximageError, match=r"Column expno not found in .*evt2\.fits"):
        list(source.iter_chunks(["time", "expno"]))


def test_gzipped_event_file(event_file, columns, tmp_path, monkeypatch):
    gz = tmp_path / "evt2.fits.gz"
    with open(event_file, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    monkeypatch.chdir(tmp_path)
    text = "[ccd_id=6,7][energy>1000]"
    source = _source("evt2.fits.gz", text)
    sel = _select(columns, text)
    got = _collect(source, COLUMNS, 7)
    for c in COLUMNS:
        assert np.array_equal(got[c], columns[c][sel]), c
    assert source.chips() == [6, 7]
    assert source.count() == sel.sum()


def test_hrc_chip_column(tmp_path):
    path = write_events(tmp_path / "hrc.fits", n=300, chips=[0, 2], instrument="HRC")
    data = fits.getdata(path, "EVENTS")
    source = _source(path, "[chip_id=2]")
    assert source.obs.chip_column == "chip_id"
    assert source.chips() == [2]
    assert source.count() == int((data["chip_id"] == 2).sum())
    assert _source(path, "").chips() == [0, 2]


def test_nulls(tmp_path):
    """TNULL of integer columns is passed to the filter (``Null`` selects it)."""
    path = write_events(tmp_path / "evt.fits", n=400, chips=[7])
    with fits.open(path, mode="update") as hdul:
        events = hdul["EVENTS"]
        pi = events.data["pi"]
        pi[::4] = 0
        index = events.columns.names.index("pi") + 1
        events.header[f"TNULL{index}"] = 0
        nulls = int((pi == 0).sum())
    source = _source(path, "[pi=Null]")
    assert source.nulls == {"pi": 0}
    assert source.count() == nulls
    assert _source(path, "").nulls == {"pi": 0}


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def real():
    if not EVT_28229.exists():
        pytest.skip(f"{EVT_28229} not available (../shared/data)")
    data = fits.getdata(EVT_28229, "EVENTS")
    return {c: np.asarray(data[c]) for c in ("ccd_id", "energy", "time")}


def test_real_chips(real):
    assert _source(EVT_28229, "").chips() == [6, 7]
    assert _source(EVT_28229, "[ccd_id=7]").chips() == [7]
    assert _source(EVT_28229, "[ccd_id=6]").chips(chunk_rows=5000) == [6]


def test_real_band_count(real):
    e = real["energy"].astype(np.float64)
    expected = int(((e >= 500) & (e <= 7000)).sum())
    assert 0 < expected < len(e)
    assert _source(EVT_28229, "[energy=500:7000]").count() == expected
    assert _source(EVT_28229, "[energy=500:7000]").count(chunk_rows=4096) == expected
    band = parse_filter("[energy=500:7000]")
    assert _source(EVT_28229, "").count([band]) == expected
    on7 = (real["ccd_id"] == 7) & (e >= 500) & (e <= 7000)
    assert _source(EVT_28229, "[ccd_id=7]").count([band], chunk_rows=3000) == on7.sum()


def test_real_rows_in_file_order(real):
    source = _source(EVT_28229, "[ccd_id=7][energy=500:7000]")
    got = _collect(source, ["time", "energy"], 4096)
    sel = (real["ccd_id"] == 7) & (real["energy"] >= 500) & (real["energy"] <= 7000)
    assert np.array_equal(got["time"], real["time"][sel])
    assert np.array_equal(got["energy"], real["energy"][sel])


def test_real_nulls(real):
    assert _source(EVT_28229, "").nulls == {
        "tdetx": 9999,
        "tdety": 9999,
        "pha": 0,
        "pha_ro": 0,
        "pi": 0,
    }


@pytest.mark.parametrize("chunk_rows", [7, 1000, 10**6])
@pytest.mark.parametrize("text", FILTERS)
def test_preloaded_columns_give_the_same_chunks(event_file, columns, text, chunk_rows):
    """Columns read once into memory (within the budget) are cut into the same chunks as
    the file; a column outside the cache, or a budget too small, reads the file."""
    source = _source(event_file, text)
    cached = source.preloaded(["ccd_id", "x", "y", "energy"])
    assert cached.cache is not None and source.cache is None
    assert set(cached.cache) >= {"ccd_id", "x", "y", "energy"} | set(source.filter.columns)
    assert all(len(v) == NEVENTS and not v.flags.writeable for v in cached.cache.values())
    band = parse_filter("[energy=500:7000]")
    for wanted in (["x", "y", "energy"], ["time", "x"]):  # time is not cached: read
        got = _collect(cached, wanted, chunk_rows, extra=[band])
        expect = _collect(source, wanted, chunk_rows, extra=[band])
        for c in wanted:
            assert np.array_equal(got[c], expect[c]) and got[c].dtype == expect[c].dtype
    assert cached.chips(chunk_rows=chunk_rows) == source.chips(chunk_rows=chunk_rows)
    assert cached.count([band], chunk_rows) == _select(columns, text).__and__(
        _select(columns, "[energy=500:7000]")).sum()  # fmt: skip
    small = source.preloaded(["ccd_id", "x", "y"], budget_bytes=NEVENTS * 9)  # needs 10 B/row
    assert small.cache is None
    assert source.preloaded(["nosuchcolumn"]).cache is None


def test_counted_columns():
    from fluximage.inputs.bands import parse_bands
    from fluximage.inputs.events import counted_columns

    class Obs:
        instrument, grating, chip_column = "ACIS", "HETG", "ccd_id"

        class sky:
            x_column, y_column = "x", "y"

    bands = parse_bands("soft,broad", "ACIS")
    assert counted_columns(Obs, bands) == ["ccd_id", "x", "y", "energy", "tg_m"]
    Obs.grating = "NONE"
    assert counted_columns(Obs, bands) == ["ccd_id", "x", "y", "energy"]
