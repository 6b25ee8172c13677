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


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(total: int, out, clock=None, **kw) -> Progress:
    return Progress(total, out, enabled=True, clock=clock or Clock(), tick_seconds=0, **kw)


def test_redraws_one_line_on_a_terminal():
    out = Terminal()
    p = progress(40, out)
    p.advance("asphist-chip0")
    p.advance("emap-chip3-broad")
    assert out.getvalue() == "\r[ 1/40 0:00] asphist-chip0\r[ 2/40 0:00] emap-chip3-broad"
    assert p.done == 2


def test_the_running_steps_are_shown_with_the_time_and_the_part_done():
    out, clock = Terminal(), Clock()
    p = progress(9, out, clock)
    clock.now = 61.0
    p.started("emap-chip3")
    assert p.text() == "[0/9 1:01] emap-chip3"
    p.started("emap-chip2")
    clock.now = 71.0  # emap-chip3 has run 10 s, and is a quarter done: 30 s left
    p.fraction("emap-chip3", 0.25)
    p.fraction("emap-chip2", 0.5)
    assert p.text() == "[0/9 1:11] emap-chip3 25%, emap-chip2 50% · about 0:30 left"
    p.advance("emap-chip3")
    assert p.text() == "[1/9 1:11] emap-chip2 50% · about 0:10 left"
    p.advance("emap-chip2")
    assert p.text() == "[2/9 1:11] emap-chip2"  # none running: the last one finished
    p.fraction("gone", 0.5)  # a step that is not running is ignored
    assert out.getvalue().startswith("\r[0/9 1:01] emap-chip3")


def test_no_estimate_too_early():
    clock = Clock()
    p = progress(2, Terminal(), clock)
    p.started("emap-chip0")
    clock.now = 1.0
    p.fraction("emap-chip0", 0.5)
    assert p.text() == "[0/2 0:01] emap-chip0 50%"  # under 2 s of running
    clock.now = 5.0
    p.fraction("emap-chip0", 0.01)
    assert p.text() == "[0/2 0:05] emap-chip0 1%"  # under 2 % done


def test_the_clock_moves_while_a_step_runs():
    """A ticker redraws the line every tick_seconds while steps run."""
    import time

    out, clock = Terminal(), Clock()
    p = Progress(3, out, enabled=True, clock=clock, tick_seconds=0.02)
    p.started("emap-chip7")
    clock.now = 125.0
    deadline = time.monotonic() + 5
    while "2:05" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    p.close()
    assert "\r[0/3 2:05] emap-chip7" in out.getvalue()


def test_a_shorter_line_covers_the_longer_one():
    out = Terminal()
    p = progress(3, out)
    p.advance("combine-broad")
    p.advance("fov")
    assert out.getvalue() == "\r[1/3 0:00] combine-broad\r[2/3 0:00] fov          "


def test_close_clears_the_line_and_stops_drawing():
    out = Terminal()
    p = progress(2, out)
    p.advance("evtbin")
    p.close()
    assert out.getvalue() == "\r[1/2 0:00] evtbin\r" + " " * len("[1/2 0:00] evtbin") + "\r"
    p.advance("fov")
    p.close()
    assert out.getvalue().endswith(" \r")  # nothing more written
    assert p.done == 2


def test_nothing_when_piped():
    out = io.StringIO()  # not a terminal
    p = Progress(5, out, enabled=True)
    for name in ("a", "b", "c"):
        p.started(name)
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
    p = progress(2, out)
    p.advance("a")
    p.clear()
    p.clear()  # nothing on screen: writes nothing
    p.advance("b")
    assert out.getvalue() == "\r[1/2 0:00] a\r" + " " * 12 + "\r\r[2/2 0:00] b"


def test_line_is_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    out = Terminal()
    progress(100, out).advance("emap-chip3-0.5-7.0-and-more")
    assert out.getvalue() == "\r[  1/100 0:00] emap"  # 19 characters: one column spare
    assert len(out.getvalue()) == 20


def test_count_never_passes_the_total():
    out = Terminal()
    p = progress(1, out)
    p.advance("a")
    p.advance("b")
    assert p.done == 1 and out.getvalue().endswith("[1/1 0:00] b")


def test_threads_count_every_step():
    out = Terminal()
    p = progress(400, out)

    def work(k: int) -> None:
        for i in range(100):
            p.started(f"t{k}-{i}")
            p.advance(f"t{k}-{i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.done == 400
    assert "[400/400 0:00] t" in out.getvalue()


def test_is_terminal_tolerates_odd_streams():
    closed = io.StringIO()
    closed.close()
    assert not is_terminal(closed)
    assert not is_terminal(object())  # type: ignore[arg-type]
    assert is_terminal(Terminal())


def test_suspended_erases_then_redraws():
    out = Terminal()
    p = progress(4, out)
    p.advance("imap-chip0")
    with p.suspended():
        out.write("Creating 4 exposure maps for obsid 1843\n")
    assert out.getvalue() == (
        "\r[1/4 0:00] imap-chip0\r" + " " * 21 + "\r"
        "Creating 4 exposure maps for obsid 1843\n"
        "\r[1/4 0:00] imap-chip0"
    )


def test_advance_is_the_task_graph_callback():
    from fluximage.tasks import TaskGraph

    graph = TaskGraph()
    graph.add("a", lambda _: 1)
    graph.add("b", lambda r: r["a"] + 1, after=["a"])
    graph.add("c", lambda r: r["b"] + 1, after=["b"])
    out = Terminal()
    p = progress(len(graph.tasks), out)
    assert graph.run(1, on_done=p.advance, on_start=p.started)["c"] == 3
    p.close()
    assert out.getvalue() == (
        "\r[0/3 0:00] a\r[1/3 0:00] a\r[1/3 0:00] b\r[2/3 0:00] b\r[2/3 0:00] c"
        "\r[3/3 0:00] c\r" + " " * 12 + "\r"
    )


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
        assert "\r[" in text and "/9 0:0" in text  # 9 tasks for one chip and one band
        assert "emap-chip7" in text  # the running step is shown
        assert "\n The exposure-corrected image is:" in text
    else:
        assert "\r" not in text
