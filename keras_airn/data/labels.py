"""Label files: the class names a model's outputs refer to, index = class id.

The project writes one format, a JSON list (`labels.json`). It reads that, a JSON
{name: index} map, and a text file with one name per line (`labels.txt`, the format inside
TFLite audio-classifier metadata).
"""

from __future__ import annotations

import collections
import json
import os
from typing import Sequence

from keras_airn import files
from keras_airn.errors import KerasAirnError

LABELS_FILE = "labels.json"


class LabelError(KerasAirnError):
    """A label list is unusable (blank or multi-line names, duplicates, wrong count)."""


def validate_labels(names: Sequence[str], source: str = "labels") -> list[str]:
    """Checks that every name is a non-blank, single-line string and that names are unique.

    Args:
        names: class names.
        source: where they came from, for the error message.

    Returns:
        The names as a list.
    """
    if isinstance(names, (str, bytes)):
        raise LabelError(f"{source}: a list of class names is needed, got the single string {names!r}.")
    names = list(names)
    if not names:
        raise LabelError(f"{source}: no labels.")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise LabelError(f"{source}: label {index} is empty or not a string ({name!r}).")
        if "\n" in name or "\r" in name:
            raise LabelError(f"{source}: label {index} ({name!r}) contains a line break.")
    duplicates = sorted(name for name, count in collections.Counter(names).items() if count > 1)
    if duplicates:
        raise LabelError(f"{source}: duplicate labels {duplicates[:10]}.")
    return names


def save_labels(names: Sequence[str], path: str) -> None:
    """Writes label names as a JSON list, atomically."""
    files.write_json(path, validate_labels(names, path))


def load_labels(path: str, num_classes: int | None = None) -> list[str]:
    """Reads `labels.json` (a list or a {name: index} map) or a `labels.txt` (one per line).

    Args:
        path: the label file.
        num_classes: when given, the number of labels the model needs.

    Returns:
        The label names, index = class id.
    """
    if not os.path.isfile(path):
        raise LabelError(f"{path}: label file not found.")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise LabelError(f"{path}: not valid JSON ({error}).") from error
        if isinstance(data, dict):
            by_index = {int(index): name for name, index in data.items()}
            if sorted(by_index) != list(range(len(by_index))):
                raise LabelError(f"{path}: label indices must be 0..{len(by_index) - 1}.")
            data = [by_index[i] for i in range(len(by_index))]
        if not isinstance(data, list):
            raise LabelError(f"{path}: expected a JSON list of label names.")
        names = data
    else:
        names = text.splitlines()
        while names and not names[-1].strip():
            names.pop()
    names = validate_labels(names, path)
    if num_classes is not None and len(names) != num_classes:
        raise LabelError(f"{path} has {len(names)} labels; the model has {num_classes} outputs.")
    return names


def placeholder_labels(num_classes: int) -> list[str]:
    """The names a classifier gets when no label names are known: class_0, class_1, ..."""
    return [f"class_{i}" for i in range(num_classes)]
