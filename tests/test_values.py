"""Value checks, typed values, environment expansion, redirects."""

from __future__ import annotations

import pytest

from fluximage.paramio import ParamError, check_value, expand_env, parse_line, typed_value
from fluximage.paramio.session import ParamSet
from fluximage.paramio.values import python_to_text

REAL = parse_line('binsize,r,h,INDEF,0,,"Image binning factor"')
INT = parse_line('verbose,i,h,1,0,5,"Verbosity level"')
BOOL = parse_line("clobber,b,h,no,,,")
ENUM = parse_line("units,s,h,default,default|area|time,,")
STR = parse_line('tmpdir,s,h,"${ASCDS_WORK_PATH}",,,')
INT_ENUM = parse_line("level,i,h,1,1|2|4,,")


@pytest.mark.parametrize(
    ("param", "text", "stored"),
    [
        (REAL, "8", "8"),
        (REAL, " 2.35 ", "2.35"),
        (REAL, "0", "0"),
        (REAL, "indef", "INDEF"),
        (REAL, "", "INDEF"),
        (REAL, "1e1", "1e1"),
        (INT, "5", "5"),
        (INT, "+3", "3"),
        (INT, "INDEF", "INDEF"),
        (BOOL, "yes", "yes"),
        (BOOL, "Y", "yes"),
        (BOOL, "true", "yes"),
        (BOOL, "NO", "no"),
        (BOOL, "0", "no"),
        (ENUM, "area", "area"),
        (ENUM, "TIME", "time"),
        (STR, "a b, c", "a b, c"),
        (STR, ")other", ")other"),
        (INT_ENUM, "4", "4"),
    ],
)
def test_check_value_accepts(param, text, stored):
    assert check_value(param, text) == stored


@pytest.mark.parametrize(
    ("param", "text", "message"),
    [
        (REAL, "-1", "binsize=-1 is below the minimum value of 0"),
        (REAL, "abc", "binsize=abc is not a real number"),
        (REAL, "nan", "not a finite number"),
        (REAL, "inf", "not a finite number"),
        (INT, "6", "verbose=6 is above the maximum value of 5"),
        (INT, "-1", "below the minimum"),
        (INT, "1.5", "verbose=1.5 is not an integer"),
        (BOOL, "maybe", "clobber=maybe is not a valid boolean"),
        (ENUM, "areas", "units=areas is not one of default|area|time"),
        (INT_ENUM, "3", "is not one of 1|2|4"),
    ],
)
def test_check_value_refuses(param, text, message):
    with pytest.raises(ParamError, match=message.replace("|", r"\|")):
        check_value(param, text)


def test_typed_values():
    assert typed_value(REAL, "INDEF") is None
    assert typed_value(REAL, "2.35") == pytest.approx(2.35)
    assert typed_value(INT, "4") == 4 and isinstance(typed_value(INT, "4"), int)
    assert typed_value(BOOL, "yes") is True
    assert typed_value(BOOL, "no") is False


def test_expand_env(monkeypatch):
    monkeypatch.setenv("FOO", "/data")
    monkeypatch.delenv("NOPE", raising=False)
    assert expand_env("${FOO}/x") == "/data/x"
    assert expand_env("$FOO/x") == "/data/x"
    assert expand_env("${NOPE}/x") == "${NOPE}/x"
    assert expand_env("a$") == "a$"
    assert expand_env("${FOO}", {"FOO": "other"}) == "other"
    assert typed_value(STR, "${FOO}") == "/data"


def test_python_values_to_text():
    assert python_to_text(BOOL, True) == "yes"
    assert python_to_text(REAL, None) == "INDEF"
    assert python_to_text(STR, None) == ""
    assert python_to_text(REAL, 2.35) == "2.35"
    assert python_to_text(STR, ["soft", "hard"]) == "soft,hard"


def _set(text: str) -> ParamSet:
    from pathlib import Path

    from fluximage.paramio import parse_text

    return ParamSet("t", Path("t.par"), parse_text(text))


def test_redirects_within_a_file():
    ps = _set('a,s,h,"x",,,\nb,s,h,")a",,,\nc,s,h,")b",,,\n')
    assert ps.get("b") == "x"
    assert ps.get("c") == "x"
    assert ps.stored("c") == ")b"


def test_redirect_loop_and_unknown_target():
    ps = _set('a,s,h,")b",,,\nb,s,h,")a",,,\nc,s,h,")zzz",,,\n')
    with pytest.raises(ParamError, match="redirect loop"):
        ps.get("a")
    with pytest.raises(ParamError, match="unknown parameter zzz"):
        ps.get("c")


def test_redirect_to_another_tool(tmp_path, monkeypatch):
    (tmp_path / "other.par").write_text('val,r,h,2.5,,,\nmode,s,h,"ql",,,\n')
    monkeypatch.setenv("PFILES", f"{tmp_path};{tmp_path}")
    ps = _set('x,r,h,")other.val",,,\n')
    assert ps.get("x") == 2.5
