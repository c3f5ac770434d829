"""What every dataset reader yields: `Example`s grouped in `Split`s, and `DatasetError`."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from keras_airn.errors import KerasAirnError


class DatasetError(KerasAirnError):
    """A dataset description is inconsistent (unknown split or label, no audio, bad row)."""


def csv_text(path: str) -> str:
    """The text of a UTF-8 CSV file (a byte-order mark, as Excel writes, is dropped).

    Raises:
        DatasetError: the file is not UTF-8 text, naming the line.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); save the CSV as "
                           f"UTF-8 (Excel: 'CSV UTF-8').") from None


@dataclasses.dataclass(frozen=True)
class Example:
    """One labelled clip: a file, or the segment [start, stop) samples of it (stop -1: to end)."""

    path: str
    label: int
    start: int = 0
    stop: int = -1


@dataclasses.dataclass
class Split:
    """Examples of one split with the label names their indices refer to."""

    examples: list[Example]
    label_names: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


def label_indices(labels: Sequence[str], label_names: Sequence[str], source: str) -> list[int]:
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DatasetError(
            f"{source}: {len(unknown)} label(s) not in the label map: {unknown[:10]}"
            + (" ..." if len(unknown) > 10 else "")
        )
    return [index[label] for label in labels]

