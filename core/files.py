"""Durable, private file writes shared by the stores (vault, sample sets, warehouse)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the file's own fsync does not cover it).
    Best effort: some filesystems cannot open or sync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


PRIVATE_UMASK = 0o077  # files the product creates: owner only (0600 files, 0700 folders)


def private_umask() -> None:
    """Call once at a process's start (the CLI, the app's server): every runtime file it
    creates — including the ones a library creates, such as DuckDB's write-ahead log — is
    then readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def make_private(*paths: Path) -> None:
    """chmod 0600 the files that exist among ``paths`` (for files a library created).
    Best effort: a file on a read-only mount stays as it is (the 0700 home still guards it)."""
    for p in paths:
        try:
            os.chmod(p, 0o600)
        except OSError:
            continue
