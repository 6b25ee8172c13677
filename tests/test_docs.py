"""The documentation agrees with the code: parameter pages, links, pictures, commands, output."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from fluximage import cli, sample
from fluximage.paramio import cmdline, from_file, package_param_dir, read_parfile

from conftest import REPO

DOCS = REPO / "docs"
README = REPO / "README.md"
PAGES = DOCS / "parameters"
SAMPLE_COMMAND = 'fluximage "$(fluximage-simulate --sample)" out/'
PARFILE = read_parfile(package_param_dir() / "fluximage.par")
PARAMS = {p.name: p for p in PARFILE.parameters}
MAX_PNG_BYTES = 150_000


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def without_code(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        base = slug(line.lstrip("#"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    found = []
    for line in without_code(path.read_text()):
        found += re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", line)
    return found


def table_row(text: str, key: str) -> str:
    m = re.search(rf"^\| {key} \| (.*) \|$", text, flags=re.M)
    assert m, f"no '{key}' row"
    return m.group(1)


# ---- one page per parameter -------------------------------------------------------


def test_every_parameter_has_a_page_and_no_page_is_extra():
    assert sorted(p.stem for p in PAGES.glob("*.md")) == sorted(PARAMS)
    assert len(PARAMS) == 22


@pytest.mark.parametrize("name", list(PARAMS))
def test_page_matches_the_parameter_file(name):
    par = PARAMS[name]
    text = (PAGES / f"{name}.md").read_text()
    assert text.startswith(f"# {name}\n")
    default = re.match(r"`([^`]*)`", table_row(text, "Default"))
    assert default, "the Default row must start with the value in backticks"
    assert ("" if default.group(1) == '""' else default.group(1)) == par.value
    assert table_row(text, "Type").startswith(f"`{par.type}` (")
    assert table_row(text, "Mode").startswith(f"`{par.mode}` (")
    prompt = table_row(text, "Prompt")
    assert prompt == (par.prompt or "(none)")
    allowed = table_row(text, "Allowed")
    for option in par.enumeration or []:
        assert f"`{option}`" in allowed
    for section in ("## Description", "## Examples", "## See also"):
        assert section in text
    # the examples are command lines that set this parameter
    assert name in page_assignments(PAGES / f"{name}.md")


def page_assignments(path: Path) -> set[str]:
    """The parameters set by the page's ``fluximage`` examples (positional ones too)."""
    names = set()
    for page, args in documented_commands():
        if page == path:
            line = cmdline.parse(PARFILE, cli.split_switches(args)[1], "fluximage")
            names |= {name for name, _ in line.assignments}
    return names


def test_parameter_index_links_every_page_in_file_order():
    index = (DOCS / "parameters.md").read_text()
    listed = re.findall(r"^\| \[(\w+)\]\(parameters/(\w+)\.md\) \|", index, flags=re.M)
    assert [a for a, _ in listed] == [b for _, b in listed] == list(PARAMS)
    overview = (DOCS / "index.md").read_text()
    assert re.findall(r"\]\(parameters/(\w+)\.md\)", overview) == list(PARAMS)


def test_index_lists_every_page():
    overview = (DOCS / "index.md").read_text()
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"]({page.name})" in overview, page.name


# ---- links and pictures -----------------------------------------------------------


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_links_resolve(path):
    for target in links(path):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        assert dest.exists(), f"{path.name}: broken link {target}"
        if anchor:
            assert anchor in anchors(dest), f"{path.name}: no heading #{anchor} in {dest.name}"


def test_pictures_exist_are_small_and_are_used():
    used = set()
    for path in markdown_files():
        for target in links(path):
            if target.endswith(".png"):
                used.add((path.parent / target).resolve())
    pictures = set(p.resolve() for p in (DOCS / "images").glob("*.png"))
    assert len(pictures) >= 3
    assert pictures == used
    for png in pictures:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size < MAX_PNG_BYTES, png.name


# ---- commands ---------------------------------------------------------------------


def documented_commands() -> list[tuple[Path, list[str]]]:
    """Every ``fluximage ...`` line of a shell block, as arguments (sample path filled in)."""
    found = []
    for path in markdown_files():
        for block in code_blocks(path.read_text()):
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if not line.startswith("fluximage ") and line != "fluximage":
                    continue
                if "[name=value" in line:  # the synopsis, not a command
                    continue
                line = line.replace("$(fluximage-simulate --sample)", str(sample.path()))
                found.append((path, shlex.split(line, comments=True)[1:]))
    return found


def test_documented_command_lines_are_valid():
    commands = documented_commands()
    assert len(commands) > 60
    for path, args in commands:
        if args in (["--help"], ["--version"]):
            continue
        options, rest = cli.split_switches(args)
        ps = from_file(package_param_dir() / "fluximage.par")
        try:
            ps.apply(cmdline.parse(ps.parfile, rest, "fluximage"))
        except Exception as exc:  # report which example is wrong
            pytest.fail(f"{path.name}: fluximage {shlex.join(args)}: {exc}")
        assert options.debug is False


def test_readme_runs_the_documented_sample_command():
    readme = README.read_text()
    example = (DOCS / "example.md").read_text()
    quick = readme[readme.index("## Quick start") : readme.index("## Run")]
    assert f"{SAMPLE_COMMAND}\n" in quick
    assert f"{SAMPLE_COMMAND} bands=csc\n" in example
    assert SAMPLE_COMMAND in (REPO / "fluximage" / "sample" / "__init__.py").read_text()
    assert "](docs/example.md)" in readme and "](docs/index.md)" in readme


def test_readme_test_command_is_the_ci_one():
    readme = README.read_text()
    section = readme[readme.index("## Test") :]
    assert '```sh\npip install ".[test]"\npython3 -m pytest -n 2 -q\n```' in section


def test_help_text_and_docs_name_the_same_switches():
    options = set(re.findall(r"^  (--[a-z]+)", cli.HELP, flags=re.M))
    assert options == {"--quicklook", "--debug", "--background", "--doc", "--help", "--version"}
    text = (DOCS / "parameters.md").read_text()
    for switch in ("--quicklook", "--debug", "--background", "--doc", "--help"):
        assert switch in text


# ---- the worked example's screen output is real ------------------------------------


def _normalise(text: str) -> str:
    text = re.sub(r"\S*fluximage/sample/", "…/fluximage/sample/", text)
    text = re.sub(
        r"Running tasks in (serial|parallel with \d+ processors)\.", "Running tasks.", text
    )
    return text.strip()


def test_example_screen_output_is_what_the_command_prints(tmp_path, monkeypatch, capsys):
    example = (DOCS / "example.md").read_text()
    shown = next(b for b in code_blocks(example) if b.startswith("Running fluximage\n"))
    monkeypatch.chdir(tmp_path)
    assert cli.main([str(sample.path()), "out/", "bands=csc", "parallel=no"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    # "Using event file" appears only when the package and the current directory share a
    # parent directory (the path is then shown relative), so it depends on the install
    out = "".join(line for line in out.splitlines(True) if not line.startswith("Using event file"))
    assert _normalise(out) == _normalise(shown)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [f"{b}{s}" for b in ("soft", "medium", "hard")
         for s in ("_thresh.img", "_thresh.expmap", "_flux.img")] + ["90001.fov"]
    )  # fmt: skip


def test_api_page_examples_run_as_written(tmp_path, monkeypatch):
    """Every ``>>>`` example of docs/api.md, run by doctest in a fresh directory."""
    import doctest

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CALDB", raising=False)
    failures, tried = doctest.testfile(str(DOCS / "api.md"), module_relative=False,
                                       optionflags=doctest.ELLIPSIS, verbose=False)  # fmt: skip
    assert tried > 10 and failures == 0
