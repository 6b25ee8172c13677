"""Where parameter files live (``PFILES``), user copies, locking, atomic writes.

``PFILES`` (or ``PDIRS``, ``UPARM``; the first that is set) is
``user1:user2;sys1:sys2``: writable user directories before the ``;``,
read-only system directories after it.  Without a ``;`` the directories are
both.  Unset, the user directory is ``~/cxcds_param4`` and the system
directory is this package's ``param/``, which is also always searched last so
that our own tools are found when ``PFILES`` is a CIAO setting.

The first use of a tool copies its system file into the first user directory.
A user copy older than the system file is renamed aside to
``<tool>_YYYYMMDD.HH:MM:SS.par`` with a warning, as CIAO does.  Every write
holds a lock (a hidden ``.<file>.lock`` beside the file) and goes through a
temporary file and a rename, so concurrent ``pset`` or ``fluximage`` processes
never leave a truncated or mixed file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ParamError

__all__ = [
    "DEFAULT_USER_DIR",
    "ENV_VARS",
    "SearchPath",
    "atomic_write",
    "filename_for",
    "find_in",
    "is_explicit_path",
    "is_user_file",
    "locate",
    "locked",
    "not_found_message",
    "package_param_dir",
    "pfiles_semicolons",
    "search_path",
    "tool_name",
]


ENV_VARS = ("PDIRS", "PFILES", "UPARM")
DEFAULT_USER_DIR = "cxcds_param4"


def package_param_dir() -> Path:
    """The ``param/`` directory shipped with fluximage (installed or in a checkout)."""
    pkg = Path(__file__).resolve().parent.parent
    for cand in (pkg / "param", pkg.parent / "param"):
        if cand.is_dir():
            return cand
    return pkg / "param"


@dataclass(frozen=True)
class SearchPath:
    """User (writable) and system (read-only) parameter directories."""

    user: tuple[Path, ...]
    system: tuple[Path, ...]
    source: str  # the variable it came from, or "default"

    @property
    def all_dirs(self) -> list[Path]:
        seen: list[Path] = []
        for d in (*self.user, *self.system):
            if d not in seen:
                seen.append(d)
        return seen


def _split_dirs(text: str) -> tuple[Path, ...]:
    return tuple(Path(os.path.expanduser(d)) for d in text.split(":") if d.strip())


def search_path(environ: os._Environ | dict | None = None) -> SearchPath:
    """The parameter search path from the environment."""
    env = os.environ if environ is None else environ
    extra = package_param_dir()
    for var in ENV_VARS:
        value = env.get(var)
        if value is None or value.strip() == "":
            continue
        if ";" in value:
            user_text, _, sys_text = value.partition(";")
            user, system = _split_dirs(user_text), _split_dirs(sys_text.replace(";", ":"))
        else:
            user = system = _split_dirs(value)
        if extra not in system:
            system = (*system, extra)
        return SearchPath(user, system, var)
    home = env.get("HOME") or os.path.expanduser("~")
    user = (Path(home) / DEFAULT_USER_DIR,) if home and home != "~" else ()
    return SearchPath(user, (extra,), "default")


def pfiles_semicolons(environ: os._Environ | dict | None = None) -> str | None:
    """CIAO's check of ``PFILES`` (exactly one ``;``); the error text, or None."""
    env = os.environ if environ is None else environ
    value = env.get("PFILES")
    if value is None:
        return None
    n = value.count(";")
    if n != 1:
        return f"Expected the PFILES environment variable to contain 1 ';' character, but found {n}"
    return None


def filename_for(tool: str) -> str:
    return tool if tool.endswith(".par") else tool + ".par"


def tool_name(tool_or_path: str) -> str:
    return Path(tool_or_path).name.removesuffix(".par")


def is_explicit_path(tool: str) -> bool:
    """``./my.par``, ``/a/b/tool.par``: a file rather than a tool name."""
    return "/" in tool or tool.endswith(".par")


def find_in(dirs: tuple[Path, ...] | list[Path], tool: str) -> Path | None:
    name = filename_for(tool)
    for d in dirs:
        p = d / name
        if p.is_file():
            return p
    return None


def not_found_message(tool: str, sp: SearchPath) -> str:
    dirs = "\n".join(f"  {d}" for d in sp.all_dirs)
    return f"Unable to open parameter file for {tool_name(tool)}. Looked in:\n{dirs}"


# --------------------------------------------------------------------------
# locking and atomic replacement


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``path`` (a hidden lock file beside it)."""
    lock_path = path.parent / f".{path.name}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ParamError(f"unable to lock parameter file {path}: {exc.strerror}") from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.lockf(fd, fcntl.LOCK_UN)
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------
# finding the file a tool uses


def _writable_dir(d: Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(d, os.W_OK)


def _stale_name(user_copy: Path) -> Path:
    stamp = time.strftime("%Y%m%d.%H:%M:%S")
    return user_copy.with_name(f"{tool_name(user_copy.name)}_{stamp}.par")


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def locate(tool: str, sp: SearchPath | None = None, *, writable: bool = True) -> Path:
    """The parameter file ``tool`` uses.

    With ``writable`` (the default, CIAO's ``rw``) the file is the user copy,
    made from the system file on first use and replaced when older than the
    system file.  Without it (``r``), the user copy if there is one, else the
    system file; nothing is written.  When no user directory can be written the
    system file is returned (read-only use).
    """
    if is_explicit_path(tool):
        p = Path(tool)
        if p.is_file():
            return p
        raise ParamError(f"Unable to open parameter file {tool}.")
    sp = search_path() if sp is None else sp
    user_copy = find_in(sp.user, tool)
    system_copy = find_in([d for d in sp.system if d not in sp.user], tool)
    if user_copy is None and system_copy is None:
        # PFILES without ';': the directories are both user and system
        system_copy = find_in(sp.system, tool)
    if user_copy is None and system_copy is None:
        raise ParamError(not_found_message(tool, sp))
    if not writable:
        return user_copy or system_copy  # type: ignore[return-value]
    if system_copy is None:
        return user_copy  # type: ignore[return-value]
    if user_copy is not None and not _is_stale(user_copy, system_copy):
        return user_copy
    target_dir = user_copy.parent if user_copy is not None else None
    if target_dir is None:
        target_dir = next((d for d in sp.user if _writable_dir(d)), None)
    if target_dir is None:
        return user_copy or system_copy
    return _refresh_user_copy(target_dir / filename_for(tool), system_copy)


def _is_stale(user_copy: Path, system_copy: Path) -> bool:
    """Whether the user copy is older than the system file, or gone: another process may
    have just renamed it aside and not yet written the new copy (the caller then waits
    for that process's lock instead of reading a file that is not there)."""
    try:
        user_mtime = user_copy.stat().st_mtime
    except OSError:
        return True
    try:
        return user_mtime < system_copy.stat().st_mtime
    except OSError:
        return False


def _refresh_user_copy(user_copy: Path, system_copy: Path) -> Path:
    """Copy the system file to ``user_copy``, renaming a stale copy aside."""
    try:
        with locked(user_copy):
            if user_copy.is_file():
                if not _is_stale(user_copy, system_copy):
                    return user_copy  # another process refreshed it meanwhile
                aside = _stale_name(user_copy)
                os.replace(user_copy, aside)
                _warn(
                    f"Warning:  found possibly out of date user parameter file, renamed to {aside}"
                )
            atomic_write(
                user_copy, system_copy.read_text(encoding="utf-8", errors="surrogateescape")
            )
    except (OSError, ParamError) as exc:
        if user_copy.is_file():
            return user_copy
        _warn(f"Warning: unable to copy {system_copy} to {user_copy.parent}: {exc}")
        return system_copy
    return user_copy


def is_user_file(path: Path, sp: SearchPath | None = None) -> bool:
    """True when ``path`` may be written (not one of the system copies)."""
    sp = search_path() if sp is None else sp
    system_only = [d for d in sp.system if d not in sp.user]
    return path.parent.resolve() not in {d.resolve() for d in system_only if d.exists()}
