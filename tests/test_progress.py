"""The progress status line: drawn on a terminal only, redrawn in place, cleared at the end."""

from __future__ import annotations

import io
import threading

import pytest

from fluximage.progress import Progress, is_terminal


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")


def test_redraws_one_line_on_a_terminal():
    out = Terminal()
    p = Progress(40, out, enabled=True)
    p.advance("asphist-chip0")
    p.advance("emap-chip3-broad")
    assert out.getvalue() == "\r[ 1/40] asphist-chip0\r[ 2/40] emap-chip3-broad"
    assert p.done == 2


def test_a_shorter_line_covers_the_longer_one():
    out = Terminal()
    p = Progress(3, out, enabled=True)
    p.advance("combine-broad")
    p.advance("fov")
    assert out.getvalue() == "\r[1/3] combine-broad\r[2/3] fov          "


def test_close_clears_the_line_and_stops_drawing():
    out = Terminal()
    p = Progress(2, out, enabled=True)
    p.advance("evtbin")
    p.close()
    assert out.getvalue() == "\r[1/2] evtbin\r" + " " * len("[1/2] evtbin") + "\r"
    p.advance("fov")
    p.close()
    assert out.getvalue().endswith(" \r")  # nothing more written
    assert p.done == 2


def test_nothing_when_piped():
    out = io.StringIO()  # not a terminal
    p = Progress(5, out, enabled=True)
    for name in ("a", "b", "c"):
        p.advance(name)
    p.close()
    assert out.getvalue() == ""
    assert p.done == 3 and not p.active


def test_nothing_when_disabled_on_a_terminal():
    out = Terminal()
    with Progress(5, out, enabled=False) as p:
        p.advance("a")
    assert out.getvalue() == ""


def test_clear_then_redraw():
    out = Terminal()
    p = Progress(2, out, enabled=True)
    p.advance("a")
    p.clear()
    p.clear()  # nothing on screen: writes nothing
    p.advance("b")
    assert out.getvalue() == "\r[1/2] a\r" + " " * 7 + "\r\r[2/2] b"


def test_line_is_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    out = Terminal()
    Progress(100, out, enabled=True).advance("emap-chip3-0.5-7.0-and-more")
    assert out.getvalue() == "\r[  1/100] emap-chip"  # 19 characters: one column spare
    assert len(out.getvalue()) == 20


def test_count_never_passes_the_total():
    out = Terminal()
    p = Progress(1, out, enabled=True)
    p.advance("a")
    p.advance("b")
    assert p.done == 1 and out.getvalue().endswith("[1/1] b")


def test_threads_count_every_step():
    out = Terminal()
    p = Progress(400, out, enabled=True)

    def work(k: int) -> None:
        for i in range(100):
            p.advance(f"t{k}-{i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.done == 400
    assert out.getvalue().count("\r") == 400
    assert "[400/400] t" in out.getvalue()


def test_is_terminal_tolerates_odd_streams():
    closed = io.StringIO()
    closed.close()
    assert not is_terminal(closed)
    assert not is_terminal(object())  # type: ignore[arg-type]
    assert is_terminal(Terminal())


def test_suspended_erases_then_redraws():
    out = Terminal()
    p = Progress(4, out, enabled=True)
    p.advance("imap-chip0")
    with p.suspended():
        out.write("Creating 4 exposure maps for obsid 1843\n")
    assert out.getvalue() == (
        "\r[1/4] imap-chip0\r" + " " * 16 + "\r"
        "Creating 4 exposure maps for obsid 1843\n"
        "\r[1/4] imap-chip0"
    )


def test_advance_is_the_task_graph_callback():
    from fluximage.tasks import TaskGraph

    graph = TaskGraph()
    graph.add("a", lambda _: 1)
    graph.add("b", lambda r: r["a"] + 1, after=["a"])
    graph.add("c", lambda r: r["b"] + 1, after=["b"])
    out = Terminal()
    p = Progress(len(graph.tasks), out, enabled=True)
    assert graph.run(1, on_done=p.advance)["c"] == 3
    p.close()
    assert out.getvalue() == "\r[1/3] a\r[2/3] b\r[3/3] c\r" + " " * 7 + "\r"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_a_run_shows_progress_only_on_a_terminal(tmp_path, monkeypatch, terminal):
    """The whole pipeline: on a terminal a [k/N] line is redrawn as tasks finish and erased
    before each message; piped, the output has no progress at all."""
    from fluximage import pipeline
    from fluximage.messages import Reporter
    from fluximage.parameters import Options, read_parameters
    from fluximage.paramio import from_file, package_param_dir

    from factory import write_observation

    monkeypatch.chdir(tmp_path)
    write_observation(tmp_path / "obs", chips=[7], n=500)
    ps = from_file(package_param_dir() / "fluximage.par")
    ps.set("infile", "obs/acis_evt2.fits")
    ps.set("outroot", "out/")
    stream = _Terminal() if terminal else io.StringIO()
    report = Reporter(verbose=1, stream=stream)
    pipeline.run(read_parameters(ps, Options(), report), report)
    text = stream.getvalue()
    assert "Creating exposure map for obsid 1843" in text
    if terminal:
        assert "\r[" in text and "/9] " in text  # 9 tasks for one chip and one band
        assert "\n The exposure-corrected image is:" in text
    else:
        assert "\r" not in text
