"""Where faultcheck may write because a file said so: inside the project of the spec that named the path.

The project root is the nearest folder above the spec holding pyproject.toml, else the spec's own folder.
A path a spec names (counterexample) must resolve, symlinks followed, strictly inside it. Paths typed on
the command line (--out, --junit, -o, --checkpoint-dir) are the user's choice and are not checked here.
Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path


class PathError(ValueError):
    """A path named by a file that resolves outside its project (one line: the file, the field, both paths)."""


def write_root(spec_path: str | os.PathLike) -> Path:
    """The folder a spec's paths must stay inside: the nearest folder above it with a pyproject.toml,
    else the spec's own folder (resolved, symlinks followed)."""
    folder = Path(spec_path).resolve().parent
    for p in [folder, *folder.parents]:
        if (p / "pyproject.toml").is_file():
            return p
    return folder


def inside(path: str | os.PathLike, root: str | os.PathLike, *, where: str, field: str,
           shown: str | None = None) -> Path:
    """`path` resolved (symlinks followed, `..` taken); a `PathError` naming `where`, `field` and the path
    as the file wrote it (`shown`) unless it lies strictly inside `root`."""
    top = Path(root).resolve()
    name = shown if shown is not None else str(path)
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise PathError(f"{where}: {field}: {name!r} cannot be resolved: {e}") from None
    if resolved == top:
        raise PathError(f"{where}: {field}: {name!r} names the project root {top} itself, not a file in it")
    if not resolved.is_relative_to(top):
        raise PathError(f"{where}: {field}: {name!r} resolves to {resolved}, outside the project root {top} (the "
                        "nearest folder above the spec with a pyproject.toml, else the spec's folder)")
    return resolved


__all__ = ["PathError", "inside", "write_root"]
