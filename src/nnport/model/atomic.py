"""Atomic writes: temporary files beside the output named for their process, renamed on success,
created with the umask's permissions, and swept on the next run once their process is gone."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

# Every temporary name starts ".nnport-", then "<tag>-<host>-<pid>-<random>". The host and pid
# say whose it is: a sweep removes only temporaries of this host whose process has ended, so it
# never touches the temporary of a run still going (here or on another machine sharing the
# folder).
PREFIX = ".nnport-"


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:32] or "host"


def temp_name(tag: str) -> str:
    """A fresh temporary name for this process: ``.nnport-<tag>-<host>-<pid>-<random>``
    (``tag``: lower-case letters)."""
    return f"{PREFIX}{tag}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}"


_NAME = re.compile(r"\.nnport-[a-z]+-(?P<host>\w+)-(?P<pid>\d+)-[0-9a-f]{8}(\..*)?", re.DOTALL)


def _owner_alive(name: str) -> bool:
    """False only for a temporary of this host whose process no longer exists."""
    found = _NAME.fullmatch(name)
    if found is None or found["host"] != _host():
        return True  # another host's, or not named by nnport: not ours to judge
    pid = int(found["pid"])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process, or no such pid
        return True
    return True


def sweep_stale(folder: Path) -> list[Path]:
    """Remove temporaries in ``folder`` left by nnport runs that were killed; return them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX) or _owner_alive(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        logger.info("removed %s, left by an interrupted nnport run", path)
        removed.append(path)
    return removed


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` less the process umask: what a plain ``open(path, "w")`` would create."""
    mask = _umask()
    return mode & ~mask


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError):  # Linux: read it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_dir(parent: Path, tag: str) -> Path:
    """A new temporary folder in ``parent`` (after sweeping stale ones there)."""
    sweep_stale(parent)
    path = parent / temp_name(tag)
    path.mkdir(mode=0o700)
    return path


@contextlib.contextmanager
def atomic_path(path: Path, *, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` only on success.

    The file gets ``mode``, by default what the umask gives a new file (0644 under umask 022),
    like the other files a run writes.
    """
    path = Path(path)
    sweep_stale(path.parent)
    tmp = path.parent / f"{temp_name('file')}.{path.name[:64]}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, umask_mode() if mode is None else mode)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
