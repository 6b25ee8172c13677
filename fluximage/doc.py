"""``fluximage --doc [NAME]``: the documentation installed with the package, as CIAO's
``ahelp`` gives a tool's help at the prompt.

The pages are the Markdown files of ``docs/`` (installed as ``fluximage/docs/``):
no name gives the index, a parameter's name its page (``--doc binsize``), and any
other page by its name (``--doc outputs``, ``--doc differences``).
"""

from __future__ import annotations

from pathlib import Path

from .messages import FluximageError

__all__ = ["docs_dir", "page_names", "page_text"]


def docs_dir() -> Path:
    """The installed ``docs`` directory (in a checkout, the repository's ``docs/``)."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "docs", package.parent / "docs"):
        if (candidate / "index.md").is_file():
            return candidate
    return package / "docs"


def page_names() -> list[str]:
    """Every page: the parameters' names, then the other pages'."""
    root = docs_dir()
    parameters = sorted(p.stem for p in (root / "parameters").glob("*.md"))
    pages = sorted(p.stem for p in root.glob("*.md") if p.stem not in parameters)
    return [*parameters, *pages]


def page_text(name: str | None = None) -> str:
    """The text of a page: the index for None, else a parameter's or a page's."""
    root = docs_dir()
    if not (root / "index.md").is_file():
        raise FluximageError(f"The documentation is not installed (looked in {root}).")
    if not name:
        return (root / "index.md").read_text(encoding="utf-8")
    key = name.strip().lower().removesuffix(".md")
    for path in (root / "parameters" / f"{key}.md", root / f"{key}.md"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FluximageError(
        f"No documentation page {name!r}; the pages are: {', '.join(page_names())}"
    )
