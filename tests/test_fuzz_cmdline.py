"""Property tests (hypothesis) of the command line and the ``.par`` line format.

- ``fluximage.cli.main`` on arbitrary argument lists: exit status 0 or 1, one
  error line, never a traceback or an "Unexpected failure" (an unhandled bug);
- ``cmdline.parse`` against an independent model of CIAO's syntax (names by
  unique prefix, ``name+``/``name-``, positionals in file order, ``@@file``);
- ``format_line``/``parse_line`` (and whole files) round-trip; line ends
  (``\\n``, ``\\r``) and NUL are refused in values and fields.

The tests at the end pin bugs these properties found (all fixed).
"""

from __future__ import annotations

import io
import re
import shutil
import sys
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fluximage import cli
from fluximage.paramio import (
    Comment,
    ParamError,
    Parameter,
    ParFile,
    check_value,
    cmdline,
    format_line,
    package_param_dir,
    parse_line,
    parse_text,
    read_parfile,
)
from fluximage.paramio.parfile import FIELDS

SYSTEM_PAR = package_param_dir() / "fluximage.par"
PARFILE = read_parfile(SYSTEM_PAR)
NAMES = PARFILE.names
BOOLEANS = [p.name for p in PARFILE.parameters if p.base_type == "b"]
ERROR_PREFIX = "# fluximage (0.1.0): ERROR "
DEBUG_SWITCHES = ("--debug", "--tracebackdebug")
# refused in parameter values (check_value) and in .par fields (format_line)
LINE_ENDS = "\n\r"
# str.splitlines() also ends a line at these, but a .par file does not: values may hold them
OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
CMDLINE_ERROR = "There was a problem with the command-line parameter settings."

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --------------------------------------------------------------------------
# strategies

PREFIXES = sorted({n[:k] for n in NAMES for k in range(1, len(n) + 1)})

param_names = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(PREFIXES),
    st.sampled_from(PREFIXES).map(str.upper),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    st.text(max_size=6),  # whatever comes before a "=" (may be no name at all)
)

SPECIAL = [
    *"[](){}<>\"'`,=;:@+-\\/ \t\n\r$#|*?~%.!^&", *OTHER_BREAKS,
    "é", "π", "日本", "\u200b", "\x00",
    "\udcff", "\udc80",  # bytes that were not UTF-8, as Python puts them in sys.argv
]  # fmt: skip
special_text = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(max_size=3)), max_size=8).map(
    "".join
)

VALUES = [
    "", " ", "INDEF", "indef", "yes", "no", "+", "-", "y", "t", "0", "1", "-1", "5", "6",
    "0.5", "1.0", "1e400", "-1e400", "nan", "inf", "1_000", "0x10", "  4  ", "1e-320",
    "default", "AREA", "time", "particle", "none", "csc", "broad", "0.5:7:2.3",
    "soft,medium", "[pi=300:500]", "2%", ":", "${HOME}", "$HOME", "${NOPE_NOT_SET}",
    "/", ".", "..", "~", "/nonexistent/dir", "evt2.fits[ccd_id=7]", 'a "b" c', "it's",
    ")infile", ")outroot", ")binsize", ")mode", ")nope", ")", "))", ")fluximage.verbose",
    ")fluximage.nope", ")nosuchtool.x", ")../x.y", ")/etc.x", "ql", "h", "q", "hl", "a",
]  # fmt: skip

values = st.one_of(
    st.sampled_from(VALUES),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(NAMES).map(lambda n: ")" + n),
    special_text,
    st.text(max_size=20),
)

SWITCHES = [
    "--paramdebug", "--regtestonly", "--background=bg.fits", "--background", "--bogus",
    "--", "-", "-h", "--help", "--version", "-x",
]  # fmt: skip
PARFILE_ARGS = ["good.par", "bad.par", "missing.par", "", "./good.par", "fluximage", "."]

arguments = st.one_of(
    st.text(max_size=25),
    st.builds(lambda n, v: f"{n}={v}", param_names, values),
    st.builds(lambda n, s: n + s, param_names, st.sampled_from(["+", "-"])),
    st.builds(lambda n: n + "+", st.sampled_from(BOOLEANS)),
    st.one_of(st.sampled_from(PARFILE_ARGS), st.text(max_size=10)).map(lambda s: "@@" + s),
    special_text,
    values,
    st.just(""),
    st.sampled_from(SWITCHES),
)


def _usable(args: list[str]) -> bool:
    """No debug switch (a traceback is then wanted), and no text the checks look for."""
    return not any(
        a in DEBUG_SWITCHES or "Traceback" in a or "Unexpected failure" in a for a in args
    )


# mostly valid command lines reach fluximage's own checks (binsize, psfecf,
# nproc, tmpdir, redirects...) rather than stopping at the parameter layer
plausible_lists = st.builds(
    lambda head, named, tail: head + named + tail,
    st.sampled_from([[], ["evt2.fits"], ["evt2.fits", "out/"], ["@@good.par", "e.fits", "o"]]),
    st.lists(st.builds(lambda n, v: f"{n}={v}", st.sampled_from(NAMES), values), max_size=6),
    st.lists(arguments, max_size=2),
)
argument_lists = st.one_of(st.lists(arguments, max_size=10), plausible_lists).filter(_usable)


# --------------------------------------------------------------------------
# fluximage.cli.main on arbitrary arguments


@pytest.fixture
def fuzz_dirs(tmp_path, monkeypatch):
    """PFILES user dir under tmp_path, cwd = tmp_path (for @@file), stdin not a terminal."""
    user = tmp_path / "pfiles"
    user.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("PDIRS", "UPARM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PFILES", f"{user};{package_param_dir()}")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # never a terminal, even with -s
    return tmp_path, user


def _reset(tmp_path, user) -> None:
    """The same starting files for every example (runs learn values into them)."""
    shutil.copyfile(SYSTEM_PAR, user / "fluximage.par")
    shutil.copyfile(SYSTEM_PAR, tmp_path / "good.par")
    (tmp_path / "bad.par").write_text('infile,s,a,"unterminated\n', encoding="utf-8")
    (tmp_path / "missing.par").unlink(missing_ok=True)


def _check_run(args: list[str], status: object, out: str, err: str) -> None:
    shown = f"args={args!r}\nstdout={out!r}\nstderr={err!r}"
    assert status in (0, 1), shown
    assert "Traceback" not in out + err, shown
    assert "Unexpected failure" not in err, shown
    if status == 1:
        assert ERROR_PREFIX in err, shown


@FUZZ
@given(args=argument_lists)
@example(args=[])
@example(args=["evt2.fits", "out/"])
@example(args=["@@good.par", "evt2.fits", "out/", "clob+", "bin=4"])
@example(args=["infile=)infile", "out/"])
@example(args=["evt2.fits", "out/", "verbose=)binsize", "binsize=2.5"])
@example(args=["evt2.fits", "out/", "nproc=)random", "random=0"])
@example(args=["evt2.fits", "out/", "tmpdir=\x00"])
@example(args=["evt.fits", "out\\"])
@example(args=["evt\n.fits", "out/"])
@example(args=["evt\u2028.fits", "out\x0c", "clob+\n"])
@example(args=["\udcff.fits", "out/"])
@example(args=["mode=q"])
@example(args=["--help"])
def test_main_never_fails_unexpectedly(fuzz_dirs, capsys, args):
    tmp_path, user = fuzz_dirs
    _reset(tmp_path, user)
    capsys.readouterr()

    status = cli.main(list(args))
    out, err = capsys.readouterr()
    _check_run(args, status, out, err)

    # a second run reads whatever the first one learned
    again = cli.main(["mode=h"])
    out, err = capsys.readouterr()
    _check_run(["mode=h"], again, out, err)

    for par in (user / "fluximage.par", tmp_path / "good.par"):
        assert read_parfile(par).names == NAMES, f"{par} after {args!r}"


# --------------------------------------------------------------------------
# cmdline.parse against a model


def _model_resolve(given: str) -> str | None:
    """CIAO's rule: exact, else the one case-insensitive match, else the one prefix."""
    if given in NAMES:
        return given
    exact = [n for n in NAMES if n.lower() == given.lower()]
    if len(exact) == 1:
        return exact[0]
    matches = [n for n in NAMES if n.lower().startswith(given.lower())]
    return matches[0] if len(matches) == 1 else None


NAMED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)  # the value may hold "\n"
SWITCH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([+-])")  # "clob+\n" is a positional value


def _model(args: list[str]) -> list[tuple[str, str]] | None:
    """The assignments parse should return, or None when it should raise."""
    rest = list(args)
    if rest and rest[0].startswith("@@"):
        if rest[0] == "@@":
            return None
        rest = rest[1:]
    entries: list[tuple[str | None, str]] = []
    for arg in rest:
        if arg.startswith("@@"):
            return None
        if m := NAMED.fullmatch(arg):
            name = _model_resolve(m.group(1))
            if name is None:
                return None
            entries.append((name, m.group(2)))
        elif m := SWITCH.fullmatch(arg):
            name = _model_resolve(m.group(1))
            if name is None or name not in BOOLEANS:
                return None
            entries.append((name, "yes" if m.group(2) == "+" else "no"))
        else:
            entries.append((None, arg))
    taken = {n for n, _ in entries if n is not None}
    free = [n for n in NAMES if n not in taken]
    positional = [t for n, t in entries if n is None]
    if len(positional) > len(free):
        return None
    fill = iter(free)
    return [(n if n is not None else next(fill), t) for n, t in entries]


@settings(max_examples=300, deadline=None, database=None)
@given(args=st.lists(arguments, max_size=12))
@example(args=["evt2.fits", "out/", "bin=4", "clob+", "v=2"])  # v: verbose, the only v...
@example(args=["b=1"])  # ambiguous: bands, binsize, bkgparams, background, badpixfile
@example(args=["BINSIZE=2", "MODE=h"])
@example(args=["binsize+"])
@example(args=["@@", "x"])
@example(args=["x", "@@y.par"])
@example(args=[str(i) for i in range(23)])
@example(args=["clobber-\n"])
@example(args=["clobber+\n"])
@example(args=["evt2.fits", "clob+\n", "bin=4\n"])
def test_parse_matches_the_model(args):
    expected = _model(args)
    try:
        line = cmdline.parse(PARFILE, args, "fluximage")
    except ParamError as exc:
        assert expected is None, f"{args!r} raised {exc}, expected {expected!r}"
        assert str(exc)
        return
    # any other exception propagates and fails the test
    assert expected is not None, f"{args!r} parsed as {line!r}"
    assert all(name in NAMES for name, _ in line.assignments)
    assert list(line.assignments) == expected
    assert (line.parfile is not None) == bool(args and args[0].startswith("@@"))
    assert len(line.positional) <= len(NAMES)


# --------------------------------------------------------------------------
# .par lines round-trip

FIELD_SPECIALS = [*",\"' \t\\|#=()$", *OTHER_BREAKS, "é", "日", "\udcff"]


def field_texts() -> st.SearchStrategy[str]:
    """The text of one field: anything but a line end or a NUL (both refused)."""
    banned = LINE_ENDS + "\0"
    return st.text(
        alphabet=st.one_of(
            st.sampled_from([c for c in FIELD_SPECIALS if c not in banned]),
            st.characters(exclude_characters=banned),
        ),
        max_size=12,
    )


def _needs_quotes(text: str) -> bool:
    """What format_line must quote: commas, quotes, backslashes, edge blanks."""
    return any(c in text for c in ",\"'\\") or text != text.strip()


@st.composite
def parameters(draw) -> Parameter:
    """A Parameter as parse_line makes them: ``quoted`` holds every field that needs it."""
    text = field_texts()
    fields = {
        "name": draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,12}", fullmatch=True)),
        "type": draw(st.sampled_from(["b", "i", "r", "s", "f", "fr", "fw", "pset"])),
        "mode": draw(st.sampled_from(["a", "h", "q", "l", "hl", "ql", "al"])),
        "value": draw(text),
        "min": draw(st.one_of(text, st.sampled_from(["a|b|c", "0", "INDEF", ""]))),
        "max": draw(text),
        "prompt": draw(text),
    }
    chosen = draw(st.frozensets(st.sampled_from(FIELDS)))
    quoted = chosen | {f for f, t in fields.items() if _needs_quotes(t)}
    return Parameter(**fields, quoted=frozenset(quoted))


@FUZZ
@given(p=parameters())
@example(p=Parameter("binsize", "r", "h", "INDEF", "0", "", "Image binning factor", frozenset()))
@example(p=Parameter("x", "s", "ql", "say \"hi\", 'you'", "", "", "", frozenset({"value"})))
@example(p=Parameter("x", "s", "h", "a\\b", "", "", "\\", frozenset({"value", "prompt"})))
@example(p=Parameter("x", "s", "h", '\\"', "", "", "", frozenset({"value"})))
@example(p=Parameter("x", "f", "a", "out\\", "C:\\", "\\\\", "'\\'", frozenset(FIELDS[3:])))
@example(p=Parameter("x", "s", "h", "a\u2028b\x0c", "\x85", "", "\x1c", frozenset(FIELDS[3:])))
@example(p=Parameter("x", "s", "h", "", "", "", "", frozenset(FIELDS)))
def test_format_then_parse_round_trips(p):
    line = format_line(p)
    assert parse_line(line) == p
    assert parse_line(line + "\n") == p
    assert format_line(parse_line(line)) == line


@FUZZ
@given(p=parameters())
def test_quoting_is_only_ever_added(p):
    """Dropping recorded quotes from a parameter: they come back only where needed."""
    bare = Parameter(*(getattr(p, f) for f in FIELDS), quoted=frozenset())
    back = parse_line(format_line(bare))
    assert back.quoted == {f for f in FIELDS if _needs_quotes(getattr(p, f))}
    assert [getattr(back, f) for f in FIELDS] == [getattr(p, f) for f in FIELDS]


@FUZZ
@given(p=parameters(), where=st.sampled_from(FIELDS), data=st.data())
def test_format_line_refuses_a_line_end(p, where, data):
    text = getattr(p, where)
    at = data.draw(st.integers(min_value=0, max_value=len(text)), label="at")
    end = data.draw(st.sampled_from(["\n", "\r", "\r\n"]), label="end")
    with pytest.raises(ParamError, match="line break"):
        format_line(replace(p, **{where: text[:at] + end + text[at:]}))


comment_lines = st.one_of(
    st.just(""),
    st.sampled_from([" ", "\t", "  \t ", *OTHER_BREAKS]),
    st.builds(
        lambda pad, t: pad + "#" + t,
        st.sampled_from(["", " ", "\t", "\x0c"]),
        # a comment is the text of one line: no line end in it (nor a NUL)
        st.text(alphabet=st.characters(exclude_characters=LINE_ENDS + "\0"), max_size=20),
    ),
).map(Comment)

par_files = (
    st.lists(st.one_of(parameters(), comment_lines), max_size=8)
    .filter(
        lambda ls: (
            len({ln.name for ln in ls if isinstance(ln, Parameter)})
            == sum(isinstance(ln, Parameter) for ln in ls)
        )
    )
    .map(lambda ls: ParFile(tuple(ls)))
)


@FUZZ
@given(pf=par_files)
def test_whole_files_round_trip(pf):
    """Only "\\n" ends a line: the other str.splitlines() breaks stay in their field."""
    assert parse_text(pf.text()) == pf


@FUZZ
@given(pf=par_files, data=st.data())
def test_text_with_a_nul_is_not_a_parameter_file(pf, data):
    text = pf.text()
    at = data.draw(st.integers(min_value=0, max_value=len(text)), label="at")
    with pytest.raises(ParamError, match="not a text file"):
        parse_text(text[:at] + "\0" + text[at:])


value_texts = st.one_of(values, special_text, field_texts()).map(
    lambda t: "".join(c for c in t if c not in LINE_ENDS + "\0")
)


@FUZZ
@given(name=st.sampled_from(NAMES), text=value_texts)
@example(name="outroot", text="out\\")
@example(name="infile", text="evt\u2028.fits\x85")
@example(name="infile", text="\udcff.fits")
@example(name="psfecf", text="),")  # a redirect whose text needs quotes on a real parameter
def test_accepted_values_round_trip_through_a_file(name, text):
    """Whatever check_value accepts (no line end, no NUL) is stored and read back as is."""
    try:
        stored = check_value(PARFILE.get(name), text)
    except ParamError:
        return
    pf = PARFILE.with_values({name: stored})
    back = parse_text(pf.text())
    assert back == pf
    assert back.get(name).value == stored


@FUZZ
@given(name=st.sampled_from(NAMES), text=value_texts, data=st.data())
def test_check_value_refuses_a_line_end(name, text, data):
    at = data.draw(st.integers(min_value=0, max_value=len(text)), label="at")
    end = data.draw(st.sampled_from(["\n", "\r", "\r\n"]), label="end")
    message = f"{name}: a parameter value cannot contain a line break"
    with pytest.raises(ParamError, match=f"^{re.escape(message)}$"):
        check_value(PARFILE.get(name), text[:at] + end + text[at:])


# --------------------------------------------------------------------------
# bugs these properties found, now fixed


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('x,s,h,"a\\b"', "a\\b"),  # a backslash before anything else is itself
        ('x,s,h,"a\\\\b"', "a\\b"),
        ('x,s,h,"a\\"b"', 'a"b'),
        ("x,s,h,'a\\'b'", "a'b"),
        ("x,s,h,'a\\\"b'", 'a\\"b'),  # \" is not an escape inside '...'
        ('x,s,h,"out\\\\"', "out\\"),
        ('x,s,h,"\\\\\\""', '\\"'),
    ],
)
def test_backslashes_in_quoted_fields(line, value):
    assert parse_line(line).value == value


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("out\\", '"out\\\\"'),
        ("C:\\", '"C:\\\\"'),
        ("a\\\\", '"a\\\\\\\\"'),
        ("a\\b", '"a\\\\b"'),
        ('a"b', '"a\\"b"'),
        ("it's", '"it\'s"'),
    ],
)
def test_quoted_value_ending_in_backslash_round_trips(value, field):
    p = Parameter("outroot", "f", "a", value, "", "", "Root of output files", frozenset({"value"}))
    assert format_line(p) == f"outroot,f,a,{field},,,Root of output files"
    assert parse_line(format_line(p)) == p
    pf = PARFILE.with_values({"outroot": value})
    assert parse_text(pf.text()).get("outroot").value == value


@pytest.mark.parametrize("brk", list(OTHER_BREAKS))
def test_value_with_other_line_break_round_trips_through_a_file(tmp_path, brk):
    """\\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028, \\u2029: kept in values, in files too."""
    for value in (f"evt{brk}.fits", brk, f"evt.fits{brk}"):
        pf = PARFILE.with_values({"infile": value})
        assert parse_text(pf.text()) == pf
        par = tmp_path / "x.par"
        par.write_text(pf.text(), encoding="utf-8")
        assert read_parfile(par).get("infile").value == value


@pytest.mark.parametrize("value", ["evt\n.fits", "evt\r.fits", "evt\r\n.fits", "\n", "out\r"])
def test_value_with_line_end_is_refused(value):
    with pytest.raises(ParamError, match="^infile: a parameter value cannot contain a line break$"):
        check_value(PARFILE.get("infile"), value)
    with pytest.raises(ParamError, match="line break"):
        PARFILE.with_values({"infile": value}).text()
    p = PARFILE.get("infile").with_value(value)
    with pytest.raises(ParamError, match="line break"):
        format_line(p)


def test_a_file_with_a_nul_is_refused(tmp_path):
    par = tmp_path / "nul.par"
    text = PARFILE.with_values({"infile": "ab"}).text().replace('"ab"', '"a\0b"')
    par.write_text(text, encoding="utf-8")
    with pytest.raises(ParamError, match="is not a text file"):
        read_parfile(par)


def test_learned_backslash_leaves_the_parameter_file_readable(fuzz_dirs, capsys):
    _tmp, user = fuzz_dirs
    assert cli.main(["evt.fits", "out\\"]) == 1  # there is no evt.fits
    err = capsys.readouterr().err
    assert ERROR_PREFIX in err
    assert "Unexpected failure" not in err
    pf = read_parfile(user / "fluximage.par")
    assert pf.get("infile").value == "evt.fits"
    assert pf.get("outroot").value == "out\\"
    # and the next run reads it
    assert cli.main(["mode=h"]) in (0, 1)
    assert "Unexpected failure" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["evt\n.fits", "out/"],
        ["evt.fits", "out\r"],
        ["evt.fits", "out/", "tmpdir=/tmp\n"],
        ["evt.fits", "out/", "clob+\n"],  # a positional value (bands), not a switch
    ],
)
def test_line_end_in_an_argument_is_a_command_line_error(fuzz_dirs, capsys, args):
    _tmp, user = fuzz_dirs
    par = user / "fluximage.par"
    shutil.copyfile(SYSTEM_PAR, par)
    before = par.read_bytes()
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, err
    assert errors[0].startswith(ERROR_PREFIX + CMDLINE_ERROR), err
    assert errors[0].endswith(": a parameter value cannot contain a line break"), err
    assert par.read_bytes() == before  # nothing learned
    assert read_parfile(par) == PARFILE


def test_undecodable_argument_is_a_plain_error(fuzz_dirs, capsys):
    _tmp, user = fuzz_dirs
    status = cli.main(["\udcff.fits", "out/"])  # what `fluximage $'\xff.fits' out/` passes
    out, err = capsys.readouterr()
    assert status == 1
    assert "Unexpected failure" not in err
    assert "Traceback" not in out + err
    assert "\udcff" not in out + err  # the byte is shown as \xff
    assert "\\xff.fits" in err
    par = user / "fluximage.par"
    assert b"\xff.fits" in par.read_bytes()  # the byte itself is stored
    assert read_parfile(par).get("infile").value == "\udcff.fits"


def test_a_nul_is_refused_and_the_parameter_file_stays_readable(fuzz_dirs, capsys):
    _tmp, user = fuzz_dirs
    assert cli.main(["evt\0.fits", "out/"]) == 1
    err = capsys.readouterr().err
    assert "infile: a parameter value cannot contain a NUL character" in err
    read_parfile(user / "fluximage.par")
    with pytest.raises(ParamError, match="NUL"):
        check_value(PARFILE.get("infile"), "a\0b")
