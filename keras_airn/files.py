"""Atomic file writes: a file appears under its final name whole, or not at all."""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Calls `write(temporary_path)` beside `path`, then renames the result to `path`.

    A crash at any moment leaves either the old file or the new one, never a half-written one,
    and no temporary file. The file gets the usual permissions (0666 less the umask), not
    `mkstemp`'s 0600.

    Args:
        path: the final file name.
        write: writes the whole content to the path it is given.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1] or ".tmp"  # keras.save insists on the .keras suffix
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".partial-", suffix=suffix)
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically."""

    def write(target):
        with open(target, "wb") as stream:
            stream.write(data)

    write_atomically(path, write)


def _finite(value):
    """`value` with every NaN or infinite float as None: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def json_text(value) -> str:
    """`value` as indented JSON (NaN and infinities as null), as `write_json` writes it."""
    return json.dumps(_finite(value), indent=1, allow_nan=False)


def write_json(path: str, value) -> None:
    """Writes `value` as indented JSON to `path` atomically (NaN and infinities as null)."""
    write_bytes(path, (json_text(value) + "\n").encode())


def save_model(model, path: str) -> None:
    """`model.save(path)` atomically (a `.keras` archive)."""
    write_atomically(path, model.save)
