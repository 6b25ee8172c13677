"""The .par format: parsing, formatting, round trips, malformed lines."""

from __future__ import annotations

import pytest

from fluximage.paramio import ParamError, format_line, parse_line, parse_text, read_parfile
from fluximage.paramio.parfile import Comment, Parameter


def test_every_line_of_fluximage_par_round_trips(system_par):
    text = system_par.read_text()
    lines = text.splitlines()
    assert len(lines) == 22
    for line in lines:
        assert format_line(parse_line(line)) == line
    assert parse_text(text).text() == text


def test_fluximage_par_fields(system_par):
    pf = read_parfile(system_par)
    assert pf.names[:3] == ["infile", "outroot", "bands"]
    assert pf.names[-1] == "mode"
    binsize = pf.get("binsize")
    assert (binsize.type, binsize.mode, binsize.value, binsize.min, binsize.max) == (
        "r", "h", "INDEF", "0", "",
    )  # fmt: skip
    assert pf.get("units").enumeration == ["default", "area", "time"]
    assert pf.get("background").enumeration == ["default", "time", "particle", "none"]
    assert pf.get("verbose").min == "0" and pf.get("verbose").max == "5"
    assert pf.get("bands").prompt.startswith("Energy bands, comma-separated list")
    assert pf.get("tmpdir").value == "${ASCDS_WORK_PATH}"
    assert pf.get("mode").prompt == ""


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        # quoted commas in the value and the prompt
        ('a,s,h,"x,y,z",,,"one, two"', ("a", "s", "h", "x,y,z", "", "", "one, two")),
        # empty fields everywhere
        ("b,s,h,,,,", ("b", "s", "h", "", "", "", "")),
        # missing trailing fields
        ("c,i,h,3", ("c", "i", "h", "3", "", "", "")),
        # redirect values
        ("d,s,h,)infile,,,", ("d", "s", "h", ")infile", "", "", "")),
        ('e,r,h,")dmcopy.verbose",,,"x"', ("e", "r", "h", ")dmcopy.verbose", "", "", "x")),
        # environment variables are stored unexpanded
        ('f,f,h,"${HOME}/x",,,"p"', ("f", "f", "h", "${HOME}/x", "", "", "p")),
        ("g,s,h,$HOME,,,", ("g", "s", "h", "$HOME", "", "", "")),
        # single quotes and an escaped double quote
        ("h,s,h,'a b',,,'say \"hi\"'", ("h", "s", "h", "a b", "", "", 'say "hi"')),
        ('i,s,h,"q\\"q",,,', ("i", "s", "h", 'q"q', "", "", "")),
        # enumeration in the min field, numeric ranges
        ("j,s,h,b,a|b|c,,", ("j", "s", "h", "b", "a|b|c", "", "")),
        ("k,r,h,0.5,-1,1e3,", ("k", "r", "h", "0.5", "-1", "1e3", "")),
        # combined modes
        ("l,b,ql,yes,,,", ("l", "b", "ql", "yes", "", "", "")),
        # blanks around fields
        ('m , s , h , "v" , , , "p"', ("m", "s", "h", "v", "", "", "p")),
    ],
)
def test_tricky_lines(line, fields):
    p = parse_line(line)
    assert isinstance(p, Parameter)
    assert (p.name, p.type, p.mode, p.value, p.min, p.max, p.prompt) == fields
    again = parse_line(format_line(p))
    assert again == p


@pytest.mark.parametrize(
    "line",
    [
        'a,s,h,"x,y,z",,,"one, two"',
        "b,s,h,,,,",
        'e,r,h,")dmcopy.verbose",,,"x"',
        'f,f,h,"${HOME}/x",,,"p"',
        "j,s,h,b,a|b|c,,",
    ],
)
def test_canonical_lines_are_written_back_unchanged(line):
    assert format_line(parse_line(line)) == line


def test_comments_and_blank_lines_are_kept():
    text = '# a comment\n\nx,s,h,"v",,,"p"\n   # indented\n'
    pf = parse_text(text)
    assert isinstance(pf.lines[0], Comment) and isinstance(pf.lines[1], Comment)
    assert pf.names == ["x"]
    assert pf.text() == text


def test_new_values_are_quoted_for_strings_only():
    pf = parse_text('s,s,h,"a",,,\nn,i,h,1,,,\nb,b,h,no,,,\n')
    out = pf.with_values({"s": "x, y", "n": "7", "b": "yes"}).text()
    assert out == 's,s,h,"x, y",,,\nn,i,h,7,,,\nb,b,h,yes,,,\n'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('a,s,h,"unterminated,,,', "unterminated quote"),
        ('a,s,h,"x"y,,,', "after a closing quote"),
        ("a,z,h,1,,,", "bad type"),
        ("a,s,x,1,,,", "bad mode"),
        ("a,s,,1,,,", "bad mode"),
        ("1a,s,h,1,,,", "bad parameter name"),
        ("a,s,h,1,,,,extra", "too many fields"),
        ("a,s,h,1,,,\na,i,h,2,,,", "defined more than once"),
    ],
)
def test_malformed_files_are_refused(text, fragment):
    with pytest.raises(ParamError, match=fragment):
        parse_text(text)


def test_read_parfile_names_the_file(tmp_path):
    bad = tmp_path / "bad.par"
    bad.write_text('x,s,h,"open\n')
    with pytest.raises(ParamError, match=str(bad)):
        read_parfile(bad)
    binary = tmp_path / "bin.par"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ParamError, match="not a text file"):
        read_parfile(binary)
    with pytest.raises(ParamError, match="unable to read"):
        read_parfile(tmp_path / "missing.par")


def test_fluximage_par_is_the_behaviour_docs_file(system_par):
    """Line for line the file of §1.1 of the behaviour document (when it is at hand)."""
    from conftest import SHARED

    doc = SHARED / "docs" / "fluximage-behaviour.md"
    if not doc.is_file():
        pytest.skip("../shared/docs is absent")
    text = doc.read_text()
    start = text.index("### 1.1")
    block = text[start:].split("```")[1].strip("\n")
    assert system_par.read_text() == block + "\n"
